//! What the scheduled upkeep (`crate::upkeep`) deletes: one rule per kind of row that outlives
//! its use, each a DELETE of at most `batch` rows that ended at or before a cutoff. A table
//! with expiring rows joins the upkeep with one more entry in `RULES`.

use worker::D1Database;

use super::{n, run};
use crate::error::ApiResult;

/// One kind of row past its life.
pub struct Rule {
    /// Its name in the upkeep's log line.
    pub what: &'static str,
    /// How long a row is kept after it ends: the statement's cutoff is `now - keep_ms`.
    pub keep_ms: i64,
    /// Deletes at most `?2` rows that ended at or before `?1`, through an index.
    pub sql: &'static str,
    /// Rows per statement.
    pub batch: i64,
}

const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How long a session that ended (its lifetime is over, or it was revoked) and its refresh
/// tokens are kept: the account's audit events outlive it, but its row (address, user agent)
/// and refresh-token records help to look into a recent incident. A session that ended by
/// idleness goes when its lifetime ends, at most 30 days after sign-in (the indexes say why).
pub const SESSION_GRACE_MS: i64 = 7 * DAY_MS;
/// How long an invitation is kept after it expires. An accepted or revoked one goes then too:
/// it expires at most 7 days after it was sent, and the audit log keeps who joined through it.
pub const INVITATION_RETENTION_MS: i64 = 30 * DAY_MS;

/// Rows per DELETE: a few milliseconds of D1's time, so requests are never held up behind it.
const BATCH: i64 = 1000;

/// In order: a session goes only once its refresh tokens are gone, so the tokens come first.
pub const RULES: &[Rule] = &[
    // A session's refresh tokens (one per rotation) are kept while it lives, to detect reuse.
    Rule {
        what: "refresh_tokens",
        keep_ms: SESSION_GRACE_MS,
        sql: "DELETE FROM refresh_tokens WHERE token_hash IN
                (SELECT token_hash FROM refresh_tokens WHERE session_id IN
                   (SELECT id FROM sessions WHERE expires_at <= ?1 OR revoked_at <= ?1)
                 LIMIT ?2)",
        batch: BATCH,
    },
    // Only sessions without tokens left, so no delete cascades into an unbounded number.
    Rule {
        what: "sessions",
        keep_ms: SESSION_GRACE_MS,
        sql: "DELETE FROM sessions WHERE id IN
                (SELECT s.id FROM sessions s WHERE (s.expires_at <= ?1 OR s.revoked_at <= ?1)
                   AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)
                 LIMIT ?2)",
        batch: BATCH,
    },
    Rule {
        what: "embed_tickets",
        keep_ms: HOUR_MS,
        sql: "DELETE FROM embed_tickets WHERE ticket_hash IN
                (SELECT ticket_hash FROM embed_tickets WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    Rule {
        what: "invitations",
        keep_ms: INVITATION_RETENTION_MS,
        sql: "DELETE FROM invitations WHERE id IN
                (SELECT id FROM invitations WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    // Verification, address-change and reset links: a used or expired link is refused the
    // same way as an unknown one, so nothing needs them past their expiry.
    Rule {
        what: "email_tokens",
        keep_ms: 0,
        sql: "DELETE FROM email_tokens WHERE token_hash IN
                (SELECT token_hash FROM email_tokens WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    // Sign-ins in progress: an identity provider's state, the ticket between the two steps
    // and passkey challenges. Issuing the last two also deletes a batch (they are asked for
    // without an account), which keeps them small under a flood; this takes the rest.
    Rule {
        what: "oauth_flows",
        keep_ms: 0,
        sql: "DELETE FROM oauth_flows WHERE state_hash IN
                (SELECT state_hash FROM oauth_flows WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    Rule {
        what: "mfa_tickets",
        keep_ms: 0,
        sql: "DELETE FROM mfa_tickets WHERE token_hash IN
                (SELECT token_hash FROM mfa_tickets WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    Rule {
        what: "webauthn_challenges",
        keep_ms: 0,
        sql: "DELETE FROM webauthn_challenges WHERE challenge_hash IN
                (SELECT challenge_hash FROM webauthn_challenges WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    // Counting an attempt also deletes a batch (store::throttle::admit), which keeps the table
    // at the live windows under a flood; this takes what the last attempts left behind.
    Rule {
        what: "throttle",
        keep_ms: 0,
        sql: "DELETE FROM throttle WHERE key IN
                (SELECT key FROM throttle WHERE expires_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
    Rule {
        what: "audit_events",
        keep_ms: super::audit::RETENTION_MS,
        sql: "DELETE FROM audit_events WHERE id IN
                (SELECT id FROM audit_events WHERE created_at <= ?1 LIMIT ?2)",
        batch: BATCH,
    },
];

/// Runs one statement of `rule` at `now`: how many rows it deleted.
pub async fn sweep(db: &D1Database, rule: &Rule, now: i64) -> ApiResult<usize> {
    run(db, rule.sql, &[n(now - rule.keep_ms), n(rule.batch)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_a_bounded_delete_by_cutoff_with_a_distinct_name() {
        for (i, rule) in RULES.iter().enumerate() {
            assert!(rule.sql.starts_with("DELETE FROM "), "{}", rule.what);
            assert!(
                rule.sql.contains("LIMIT ?2") && rule.sql.contains("<= ?1"),
                "{}",
                rule.what
            );
            assert!(rule.batch > 0 && rule.keep_ms >= 0, "{}", rule.what);
            assert!(
                RULES[i + 1..].iter().all(|r| r.what != rule.what),
                "{} twice",
                rule.what
            );
        }
    }

    #[test]
    fn refresh_tokens_are_swept_before_their_sessions() {
        let at = |what| RULES.iter().position(|r| r.what == what);
        assert!(at("refresh_tokens") < at("sessions") && at("sessions").is_some());
    }
}
