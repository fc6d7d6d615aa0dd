//! Invitations to join an org: a 256-bit token shown once and stored as SHA-256 only, bound
//! to one normalised email, valid for seven days, used at most once.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::orgs::{OrgScope, Role};
use super::{all, first, n, run, s, stmt};
use crate::crypto::{random_token, sha256_hex};
use crate::domain::Email;
use crate::error::{ApiError, ApiResult};
use crate::util::{new_id, rfc3339};

pub const TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// `random_token` is 32 bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

/// Whether a presented token could be one of ours, so garbage is refused before any lookup.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

#[derive(Deserialize, Clone, Debug)]
pub struct InvitationRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A pending invitation as admins see it (never the token).
#[derive(Serialize)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

impl InvitationRow {
    pub fn view(&self) -> InvitationView {
        InvitationView {
            id: self.id.clone(),
            email: self.email.clone(),
            role: self.role.clone(),
            invited_by: self.invited_by.clone(),
            created_at: rfc3339(self.created_at),
            expires_at: rfc3339(self.expires_at),
        }
    }

    /// Whether the invitation was made out to this (normalised) email.
    pub fn is_for(&self, email: &str) -> bool {
        self.email == email
    }

    /// Not accepted, not revoked, not expired.
    pub fn is_usable(&self, now: i64) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

const COLUMNS: &str =
    "id, org_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at";

/// What the inviter gets back, once.
#[derive(Serialize)]
pub struct Issued {
    pub id: String,
    pub token: String,
    pub expires_at: String,
}

/// An invitation keeps only the authority its inviter still has: it holds while the inviter
/// is a member who could grant its role today (admins invite members and admins, owners
/// anyone; `OrgScope::may_invite`). Part of every query that lists, counts or accepts
/// invitations (the table unaliased), so demoting or removing an inviter voids what they
/// sent beyond their new role, at once and with no sweep.
const INVITER_MAY_GRANT: &str = "EXISTS (SELECT 1 FROM memberships im
    WHERE im.org_id = invitations.org_id AND im.user_id = invitations.invited_by
      AND (im.role = 'owner' OR (im.role = 'admin' AND invitations.role <> 'owner')))";

/// Pending: not accepted, not revoked, not expired at `?{now}`, and still backed by its inviter.
fn pending_sql(now: u8) -> String {
    format!(
        "accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?{now} AND {INVITER_MAY_GRANT}"
    )
}

/// Invites `email` with `role` (the caller has checked the role rules), unless the org
/// already has `cap` pending invitations: `None` then. An earlier pending invitation of the
/// same email to the same org is revoked (the newest one is the one sent), so it does not
/// count. The count and the insert are one statement inside one transaction, so concurrent
/// invitations never pass the cap.
pub async fn create(
    db: &D1Database,
    scope: &OrgScope,
    email: &Email,
    role: Role,
    now: i64,
    cap: u32,
) -> ApiResult<Option<Issued>> {
    let token = random_token().map_err(ApiError::internal)?;
    let id = new_id("inv");
    let expires_at = now + TTL_MS;
    let results = super::batch(
        db,
        vec![
            stmt(
                db,
                &format!(
                    "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
                     WHERE (SELECT COUNT(*) FROM invitations
                            WHERE org_id = ?2 AND email <> ?3 AND {}) < ?9",
                    pending_sql(7)
                ),
                &[
                    s(&id),
                    s(&scope.org_id),
                    s(email.key()),
                    s(role.as_str()),
                    s(&hash(&token)),
                    s(&scope.user_id),
                    n(now),
                    n(expires_at),
                    n(cap as i64),
                ],
            )?,
            stmt(
                db,
                "UPDATE invitations SET revoked_at = ?3
                 WHERE org_id = ?1 AND email = ?2 AND id <> ?4
                   AND accepted_at IS NULL AND revoked_at IS NULL
                   AND EXISTS (SELECT 1 FROM invitations sent WHERE sent.id = ?4)",
                &[s(&scope.org_id), s(email.key()), n(now), s(&id)],
            )?,
        ],
    )
    .await?;
    if results.first().map(super::changes).unwrap_or(0) == 0 {
        return Ok(None);
    }
    Ok(Some(Issued {
        id,
        token,
        expires_at: rfc3339(expires_at),
    }))
}

/// A page of the org's pending invitations (those that can still be accepted), oldest first.
pub async fn pending(
    db: &D1Database,
    scope: &OrgScope,
    now: i64,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<InvitationRow>> {
    let (at, id) = after.unwrap_or((-1, String::new()));
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM invitations
             WHERE org_id = ?1 AND {}
               AND (created_at > ?3 OR (created_at = ?3 AND id > ?4))
             ORDER BY created_at, id LIMIT ?5",
            pending_sql(2)
        ),
        &[s(&scope.org_id), n(now), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// Revokes a pending invitation of the scope's org; `false` when there is none by that id.
pub async fn revoke(db: &D1Database, scope: &OrgScope, id: &str, now: i64) -> ApiResult<bool> {
    let changed = run(
        db,
        "UPDATE invitations SET revoked_at = ?3
         WHERE id = ?1 AND org_id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
        &[s(id), s(&scope.org_id), n(now)],
    )
    .await?;
    Ok(changed > 0)
}

#[derive(Deserialize)]
struct Found {
    found: i64,
}

/// Whether some organization has a pending invitation for this (normalised) email: what an
/// invite-only server asks before it lets the address open an account.
pub async fn is_pending_for(db: &D1Database, email_key: &str, now: i64) -> ApiResult<bool> {
    let row: Option<Found> = first(
        db,
        &format!(
            "SELECT EXISTS (SELECT 1 FROM invitations WHERE email = ?1 AND {}) AS found",
            pending_sql(2)
        ),
        &[s(email_key), n(now)],
    )
    .await?;
    Ok(row.is_some_and(|r| r.found != 0))
}

/// The invitation a token stands for (in any state), if the token is one of ours.
pub async fn find_by_token(db: &D1Database, token: &str) -> ApiResult<Option<InvitationRow>> {
    if !is_well_formed(token) {
        return Ok(None);
    }
    first(
        db,
        &format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = ?1"),
        &[s(&hash(token))],
    )
    .await
}

/// Makes the user a member with the invitation's role and marks it used, in one
/// transaction whose conditions repeat the checks, so a token cannot be used twice even by
/// concurrent requests. 404 when it is no longer usable (including when its inviter can no
/// longer grant its role); 409 when they are already a member.
pub async fn accept(
    db: &D1Database,
    inv: &InvitationRow,
    user_id: &str,
    email: &str,
    now: i64,
) -> ApiResult<()> {
    let usable = format!("id = ?1 AND email = ?3 AND {}", pending_sql(4));
    let args = [s(&inv.id), s(user_id), s(email), n(now)];
    let result = super::batch(
        db,
        vec![
            stmt(
                db,
                &format!(
                    "INSERT INTO memberships (org_id, user_id, role, joined_at)
                     SELECT org_id, ?2, role, ?4 FROM invitations WHERE {usable}"
                ),
                &args,
            )?,
            stmt(
                db,
                &format!("UPDATE invitations SET accepted_at = ?4 WHERE {usable}"),
                &args,
            )?,
        ],
    )
    .await;
    match result {
        Ok(results) if results.first().map(super::changes).unwrap_or(0) == 1 => Ok(()),
        Ok(_) => Err(ApiError::NotFound),
        Err(e) if super::is_unique_violation(&e) => Err(ApiError::Conflict(
            "you are already a member of this organization".into(),
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> InvitationRow {
        InvitationRow {
            id: "inv_1".into(),
            org_id: "org_1".into(),
            email: "bob@example.com".into(),
            role: "member".into(),
            invited_by: Some("usr_a".into()),
            created_at: 1_000,
            expires_at: 1_000 + TTL_MS,
            accepted_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn issued_tokens_are_well_formed_and_hashed() {
        let t = random_token().unwrap();
        assert!(is_well_formed(&t), "{t}");
        assert_eq!(hash(&t).len(), 64);
        assert_ne!(hash(&t), t);
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        let t = random_token().unwrap();
        for (case, bad) in [
            ("empty", String::new()),
            ("one short", t[1..].to_string()),
            ("one long", format!("{t}A")),
            ("padding", format!("{}=", &t[1..])),
            ("space", format!(" {}", &t[1..])),
            ("sql", format!("' OR 1=1 --{}", &t[11..])),
            (
                "an API key",
                "cg_0123456789012345678901234567890123456789abcdef".into(),
            ),
        ] {
            assert!(!is_well_formed(&bad), "{case}: {bad:?}");
        }
    }

    #[test]
    fn an_invitation_is_for_its_email_only() {
        let inv = row();
        assert!(inv.is_for("bob@example.com"));
        assert!(!inv.is_for("eve@example.com"));
        assert!(
            !inv.is_for("Bob@example.com"),
            "emails are compared normalised"
        );
    }

    #[test]
    fn an_invitation_is_usable_once_within_seven_days() {
        let inv = row();
        for (case, inv, now, usable) in [
            ("fresh", inv.clone(), 2_000, true),
            (
                "a moment before expiry",
                inv.clone(),
                inv.expires_at - 1,
                true,
            ),
            ("at expiry", inv.clone(), inv.expires_at, false),
            (
                "accepted",
                InvitationRow {
                    accepted_at: Some(3_000),
                    ..inv.clone()
                },
                4_000,
                false,
            ),
            (
                "revoked",
                InvitationRow {
                    revoked_at: Some(3_000),
                    ..inv.clone()
                },
                4_000,
                false,
            ),
        ] {
            assert_eq!(inv.is_usable(now), usable, "{case}");
        }
        assert_eq!(TTL_MS, 604_800_000);
    }
}
