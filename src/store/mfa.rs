//! Two-factor authentication: each user's TOTP factor (the seed sealed under the master key),
//! their one-time recovery codes (hashed), and the tickets between the two steps of a sign-in
//! (hashed, 5 minutes, used once).

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

use super::{all, batch, changes, first, n, run, s, stmt};
use crate::auth::totp::TotpSecret;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};

/// The associated data binding a sealed seed to its user.
fn aad(user_id: &str) -> String {
    format!("totp:{user_id}")
}

#[derive(Deserialize)]
struct FactorRow {
    key_version: i64,
    sealed_secret: String,
    confirmed_at: Option<i64>,
}

/// A user's TOTP factor, opened.
pub struct Factor {
    pub secret: TotpSecret,
    pub confirmed: bool,
}

/// Stores a new, unconfirmed factor for the user (replacing an unconfirmed one); `false` when
/// the user has a confirmed one already, which stays as it is.
pub async fn start_enrolment(
    db: &D1Database,
    cfg: &Config,
    user_id: &str,
    secret: &TotpSecret,
    now: i64,
) -> ApiResult<bool> {
    let (version, sealed) = seal_seed(cfg, user_id, secret.as_bytes())?;
    let changed = run(
        db,
        "INSERT INTO totp_factors (user_id, key_version, sealed_secret, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(user_id) DO UPDATE SET key_version = excluded.key_version,
           sealed_secret = excluded.sealed_secret, created_at = excluded.created_at, last_step = NULL
         WHERE totp_factors.confirmed_at IS NULL",
        &[s(user_id), n(version), s(&sealed), n(now)],
    )
    .await?;
    Ok(changed == 1)
}

/// The user's factor (confirmed or not), opened; re-sealed under the current master key when an
/// older one sealed it.
pub async fn factor(db: &D1Database, cfg: &Config, user_id: &str) -> ApiResult<Option<Factor>> {
    let Some(row): Option<FactorRow> = first(
        db,
        "SELECT key_version, sealed_secret, confirmed_at FROM totp_factors WHERE user_id = ?1",
        &[s(user_id)],
    )
    .await?
    else {
        return Ok(None);
    };
    let seed = open_seed(cfg, user_id, row.key_version, &row.sealed_secret)?;
    if cfg
        .encryption_keys
        .first()
        .is_some_and(|(v, _)| i64::from(*v) != row.key_version)
    {
        let (version, resealed) = seal_seed(cfg, user_id, &seed)?;
        run(
            db,
            "UPDATE totp_factors SET key_version = ?2, sealed_secret = ?3 WHERE user_id = ?1 AND key_version = ?4",
            &[s(user_id), n(version), s(&resealed), n(row.key_version)],
        )
        .await?;
    }
    Ok(Some(Factor {
        secret: TotpSecret::from_bytes(seed),
        confirmed: row.confirmed_at.is_some(),
    }))
}

/// Seals a seed under the current master key, as its base64url form (`Config::open` returns
/// text).
fn seal_seed(cfg: &Config, user_id: &str, seed: &[u8]) -> ApiResult<(i64, String)> {
    let text = crate::crypto::b64url(seed);
    cfg.seal(text.as_bytes(), aad(user_id).as_bytes())
}

/// The seed's bytes.
fn open_seed(cfg: &Config, user_id: &str, version: i64, sealed: &str) -> ApiResult<Vec<u8>> {
    let (text, _) = cfg.open(version, sealed, aad(user_id).as_bytes())?;
    crate::crypto::b64url_decode(&text)
        .ok_or_else(|| ApiError::internal("a TOTP seed is not base64url"))
}

/// Whether the user has two-factor authentication on (a confirmed TOTP factor).
pub async fn is_on(db: &D1Database, user_id: &str) -> ApiResult<bool> {
    #[derive(Deserialize)]
    struct Enabled {
        enabled: i64,
    }
    let row: Option<Enabled> = first(
        db,
        "SELECT 1 AS enabled FROM totp_factors WHERE user_id = ?1 AND confirmed_at IS NOT NULL",
        &[s(user_id)],
    )
    .await?;
    Ok(row.is_some_and(|r| r.enabled == 1))
}

/// The SQL condition "the user whose id is the expression `user_id` has 2FA on", for queries
/// that decide it with their read.
pub fn is_on_sql(user_id: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = {user_id} AND tf.confirmed_at IS NOT NULL)"
    )
}

/// Accepts a code of time step `step` for the user: in one statement, only if no code of this
/// step or a later one was accepted before (each code works once, and never after a newer one).
/// `confirmed`: whether the factor must be on (sign-in, disabling) or still pending (enrolment).
pub async fn accept_step(
    db: &D1Database,
    user_id: &str,
    step: u64,
    confirmed: bool,
) -> ApiResult<bool> {
    let state = if confirmed {
        "confirmed_at IS NOT NULL"
    } else {
        "confirmed_at IS NULL"
    };
    let changed = run(
        db,
        &format!(
            "UPDATE totp_factors SET last_step = ?2
             WHERE user_id = ?1 AND {state} AND (last_step IS NULL OR last_step < ?2)"
        ),
        &[s(user_id), n(step as i64)],
    )
    .await?;
    Ok(changed == 1)
}

/// Turns the pending factor on, with `recovery_hashes` as the user's only recovery codes, in
/// one transaction; `false` if there was no pending factor (confirmed meanwhile, or disabled).
pub async fn confirm(
    db: &D1Database,
    user_id: &str,
    recovery_hashes: &[String],
    now: i64,
) -> ApiResult<bool> {
    let mut statements = vec![stmt(
        db,
        "UPDATE totp_factors SET confirmed_at = ?2 WHERE user_id = ?1 AND confirmed_at IS NULL",
        &[s(user_id), n(now)],
    )?];
    statements.push(stmt(
        db,
        "DELETE FROM recovery_codes WHERE user_id = ?1",
        &[s(user_id)],
    )?);
    for hash in recovery_hashes {
        // Only with the factor just confirmed: a lost race leaves the codes as they were.
        statements.push(stmt(
            db,
            "INSERT INTO recovery_codes (user_id, code_hash, created_at)
             SELECT ?1, ?2, ?3 WHERE EXISTS
               (SELECT 1 FROM totp_factors WHERE user_id = ?1 AND confirmed_at = ?3)",
            &[s(user_id), s(hash), n(now)],
        )?);
    }
    let results = batch(db, statements).await?;
    Ok(results.first().map(changes) == Some(1))
}

/// Removes the user's factor and recovery codes: statements for the caller's transaction.
pub fn remove(db: &D1Database, user_id: &str) -> ApiResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        stmt(
            db,
            "DELETE FROM totp_factors WHERE user_id = ?1",
            &[s(user_id)],
        )?,
        stmt(
            db,
            "DELETE FROM recovery_codes WHERE user_id = ?1",
            &[s(user_id)],
        )?,
    ])
}

/// Uses a recovery code of the user, if it is one of theirs and unused: in one statement, so
/// of two simultaneous uses exactly one wins.
pub async fn use_recovery_code(
    db: &D1Database,
    user_id: &str,
    code_hash: &str,
    now: i64,
) -> ApiResult<bool> {
    let changed = run(
        db,
        "UPDATE recovery_codes SET used_at = ?3
         WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL
           AND EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ?1 AND confirmed_at IS NOT NULL)",
        &[s(user_id), s(code_hash), n(now)],
    )
    .await?;
    Ok(changed == 1)
}

/// How many unused recovery codes the user has left.
pub async fn recovery_codes_left(db: &D1Database, user_id: &str) -> ApiResult<i64> {
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let rows: Vec<Count> = all(
        db,
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
        &[s(user_id)],
    )
    .await?;
    Ok(rows.first().map_or(0, |r| r.n))
}

// ---------------------------------------------------------------------------------------
// Tickets between the two steps of a sign-in

/// How long a ticket lasts.
pub const TICKET_TTL_MS: i64 = 5 * 60 * 1000;

/// Stores a ticket (its hash) for the user; also deletes a bounded batch of expired ones.
pub async fn issue_ticket(
    db: &D1Database,
    token_hash: &str,
    user_id: &str,
    first_factor: &str,
    now: i64,
) -> ApiResult<()> {
    batch(
        db,
        vec![
            stmt(
                db,
                "DELETE FROM mfa_tickets WHERE token_hash IN
                   (SELECT token_hash FROM mfa_tickets WHERE expires_at <= ?1 LIMIT 100)",
                &[n(now)],
            )?,
            stmt(
                db,
                "INSERT INTO mfa_tickets (token_hash, user_id, first_factor, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    s(token_hash),
                    s(user_id),
                    s(first_factor),
                    n(now),
                    n(now + TICKET_TTL_MS),
                ],
            )?,
        ],
    )
    .await?;
    Ok(())
}

/// A ticket that can still be used.
#[derive(Deserialize, Clone, Debug)]
pub struct Ticket {
    pub user_id: String,
    pub first_factor: String,
}

/// The live (unused, unexpired) ticket with this hash.
pub async fn live_ticket(db: &D1Database, token_hash: &str, now: i64) -> ApiResult<Option<Ticket>> {
    first(
        db,
        "SELECT user_id, first_factor FROM mfa_tickets
         WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        &[s(token_hash), n(now)],
    )
    .await
}

/// Uses the ticket: in one statement, so it signs in once.
pub async fn use_ticket(db: &D1Database, token_hash: &str, now: i64) -> ApiResult<bool> {
    let changed = run(
        db,
        "UPDATE mfa_tickets SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        &[s(token_hash), n(now)],
    )
    .await?;
    Ok(changed == 1)
}
