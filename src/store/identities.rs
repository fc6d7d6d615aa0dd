//! Sign-in through providers: the provider accounts linked to users (`user_identities`), the
//! sign-ins in progress (`oauth_flows`), and the provider a session was established through.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use super::{all, first, n, run, s, stmt};
use crate::error::{ApiError, ApiResult};
use crate::util::rfc3339;

/// How long a sign-in may take between leaving for the provider and coming back.
pub const FLOW_LIFETIME_MS: i64 = 10 * 60 * 1000;

#[derive(Deserialize, Clone, Debug)]
pub struct IdentityRow {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub email: String,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// An identity as `GET /api/me/identities` shows it (the subject stays on the server).
#[derive(Serialize)]
pub struct IdentityView {
    pub id: String,
    pub provider: String,
    pub provider_name: String,
    pub email: String,
    pub created_at: String,
    pub last_used_at: String,
}

impl IdentityRow {
    pub fn view(&self, provider_name: &str) -> IdentityView {
        IdentityView {
            id: self.id.clone(),
            provider: self.provider.clone(),
            provider_name: provider_name.to_string(),
            email: self.email.clone(),
            created_at: rfc3339(self.created_at),
            last_used_at: rfc3339(self.last_used_at),
        }
    }
}

const COLUMNS: &str = "id, user_id, provider, subject, email, created_at, last_used_at";

/// The identity that (provider, subject) signs in as.
pub async fn find(
    db: &D1Database,
    provider: &str,
    subject: &str,
) -> ApiResult<Option<IdentityRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM user_identities WHERE provider = ?1 AND subject = ?2"),
        &[s(provider), s(subject)],
    )
    .await
}

pub async fn of_user(db: &D1Database, user_id: &str) -> ApiResult<Vec<IdentityRow>> {
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM user_identities WHERE user_id = ?1 ORDER BY created_at, id LIMIT 100"
        ),
        &[s(user_id)],
    )
    .await
}

pub struct NewIdentity<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub provider: &'a str,
    pub subject: &'a str,
    pub email: &'a str,
    pub now: i64,
}

pub fn insert(db: &D1Database, i: &NewIdentity) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "INSERT INTO user_identities (id, user_id, provider, subject, email, created_at, last_used_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        &[
            s(i.id),
            s(i.user_id),
            s(i.provider),
            s(i.subject),
            s(i.email),
            n(i.now),
        ],
    )
}

/// A returning identity: when it was last used, and the address the provider gives now.
pub fn touch(db: &D1Database, id: &str, email: &str, now: i64) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE user_identities SET last_used_at = ?2, email = ?3 WHERE id = ?1",
        &[s(id), n(now), s(email)],
    )
}

pub enum Unlinked {
    Done(IdentityRow),
    /// It is the account's last way to sign in.
    LastMethod,
    NotFound,
}

/// The SQL count of the ways `?2` (a user id) can sign in besides identities: a password and
/// passkeys.
const OTHER_METHODS: &str =
    "((SELECT COUNT(*) FROM users u WHERE u.id = ?2 AND u.password_hash <> '')
      + (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = ?2))";

/// Removes one of the user's identities unless it is their last way to sign in. The count and
/// the delete are one statement, so two concurrent unlinks cannot remove the last two.
pub async fn unlink(db: &D1Database, user_id: &str, id: &str) -> ApiResult<Unlinked> {
    let row: Option<IdentityRow> = first(
        db,
        &format!("SELECT {COLUMNS} FROM user_identities WHERE id = ?1 AND user_id = ?2"),
        &[s(id), s(user_id)],
    )
    .await?;
    let Some(row) = row else {
        return Ok(Unlinked::NotFound);
    };
    let removed = run(
        db,
        &format!(
            "DELETE FROM user_identities WHERE id = ?1 AND user_id = ?2
               AND (SELECT COUNT(*) FROM user_identities WHERE user_id = ?2) - 1 + {OTHER_METHODS} > 0"
        ),
        &[s(id), s(user_id)],
    )
    .await?;
    Ok(if removed == 1 {
        Unlinked::Done(row)
    } else {
        Unlinked::LastMethod
    })
}

/// Marks the session as established through `provider`.
pub fn session_idp(
    db: &D1Database,
    session_id: &str,
    provider: &str,
) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE sessions SET idp = ?2 WHERE id = ?1",
        &[s(session_id), s(provider)],
    )
}

#[derive(Deserialize)]
pub struct SessionSignIn {
    pub idp: Option<String>,
    pub created_at: i64,
}

/// How and when a session was signed in.
pub async fn session_sign_in(
    db: &D1Database,
    session_id: &str,
) -> ApiResult<Option<SessionSignIn>> {
    first(
        db,
        "SELECT idp, created_at FROM sessions WHERE id = ?1",
        &[s(session_id)],
    )
    .await
}

pub struct NewFlow<'a> {
    pub state_hash: &'a str,
    pub provider: &'a str,
    pub browser_hash: &'a str,
    pub next: &'a str,
    pub now: i64,
}

/// Stores a sign-in in progress (expired ones are deleted by the upkeep, store::upkeep).
pub async fn start_flow(db: &D1Database, f: &NewFlow<'_>) -> ApiResult<()> {
    super::batch(
        db,
        vec![
            stmt(
                db,
                "INSERT INTO oauth_flows (state_hash, provider, browser_hash, next, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    s(f.state_hash),
                    s(f.provider),
                    s(f.browser_hash),
                    s(f.next),
                    n(f.now),
                    n(f.now + FLOW_LIFETIME_MS),
                ],
            )?,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize, Debug)]
pub struct FlowRow {
    pub provider: String,
    pub browser_hash: String,
    pub next: String,
}

/// Takes the sign-in that `state_hash` names, if it is live: deleted in the same statement,
/// so of two callbacks with one state only one gets it.
pub async fn take_flow(db: &D1Database, state_hash: &str, now: i64) -> ApiResult<Option<FlowRow>> {
    let rows: Vec<FlowRow> = all(
        db,
        "DELETE FROM oauth_flows WHERE state_hash = ?1 AND expires_at > ?2
         RETURNING provider, browser_hash, next",
        &[s(state_hash), n(now)],
    )
    .await
    .map_err(|e| ApiError::internal(format!("oauth flow: {e}")))?;
    Ok(rows.into_iter().next())
}

/// What a provider published (its discovery document, its JWKS), cached in KV under `key`
/// for `ttl_secs`: a cache only, so a failure to read or write just means fetching again.
pub async fn cached_document(kv: &worker::KvStore, key: &str) -> Option<String> {
    super::delay::kv().await;
    kv.get(&format!("oidc:{key}")).text().await.ok().flatten()
}

pub async fn cache_document(kv: &worker::KvStore, key: &str, value: &str, ttl_secs: u64) {
    super::delay::kv().await;
    if let Ok(put) = kv.put(&format!("oidc:{key}"), value) {
        let _ = put.expiration_ttl(ttl_secs.max(60)).execute().await;
    }
}

/// A member's role in an org, the provider the org requires its members to sign in through
/// (`settings.sso` with `required`), the provider the session was signed in through, and
/// whether the org's two-factor rule (`settings.require_2fa`) lets the member act in it.
#[derive(Deserialize)]
pub struct OrgAccess {
    pub role: String,
    pub required_idp: Option<String>,
    pub session_idp: Option<String>,
    /// 1 unless the org requires two-factor authentication and the member has none.
    pub mfa_allows: i64,
}

/// `OrgAccess` of `user_id` in `org_id` for `session_id`; `None` for a non-member. One query:
/// it replaces the plain membership lookup on every org-scoped request.
pub async fn org_access(
    db: &D1Database,
    org_id: &str,
    user_id: &str,
    session_id: Option<&str>,
) -> ApiResult<Option<OrgAccess>> {
    first(
        db,
        &format!(
            "SELECT m.role,
               CASE WHEN json_valid(o.settings) AND json_extract(o.settings, '$.sso.required') = 1
                    THEN json_extract(o.settings, '$.sso.provider') END AS required_idp,
               (SELECT se.idp FROM sessions se WHERE se.id = ?3 AND se.user_id = ?2) AS session_idp,
               CASE WHEN json_valid(o.settings) AND json_extract(o.settings, '$.require_2fa') = 1
                    THEN {} ELSE 1 END AS mfa_allows
             FROM memberships m JOIN orgs o ON o.id = m.org_id
             WHERE m.org_id = ?1 AND m.user_id = ?2",
            super::mfa::is_on_sql("m.user_id")
        ),
        &[s(org_id), s(user_id), super::opt_s(session_id)],
    )
    .await
}

/// The SQL condition "the session `session_param` may see the org whose id is `org_expr`":
/// the org requires no provider, or the session was signed in through it. For listings that
/// leave out what the session may not reach.
pub fn sso_allows_sql(org_expr: &str, session_param: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM orgs so WHERE so.id = {org_expr} AND json_valid(so.settings)
           AND json_extract(so.settings, '$.sso.required') = 1
           AND json_extract(so.settings, '$.sso.provider') IS NOT
               (SELECT se.idp FROM sessions se WHERE se.id = {session_param}))"
    )
}
