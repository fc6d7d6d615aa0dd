//! chatgate as an OpenID Provider: the OAuth clients organizations register, the consents
//! users give them, authorization codes, and the grants (a client's tokens for a user).
//!
//! A grant is a session of the user with `client_id` set (migration 0013): its refresh tokens
//! rotate through `store::sessions::rotate`, with the same reuse detection as a person's, and
//! a person's own session routes (refresh, logout, the session list) never see it.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use super::{all, batch, changes, first, n, opt_s, run, s, stmt};
use crate::error::ApiResult;
use crate::store::sessions::{ABSOLUTE_LIFETIME_MS, IDLE_TIMEOUT_MS};
use crate::util::rfc3339;

/// At most this many clients per organization.
pub const MAX_CLIENTS_PER_ORG: i64 = 50;
/// An authorization code lives this long (OAuth 2.0 Security BCP: short, single use).
pub const CODE_TTL_MS: i64 = 60 * 1000;

#[derive(Deserialize, Clone, Debug)]
pub struct ClientRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub scopes: String,
    pub any_user: i64,
    pub secret_hash: Option<String>,
    pub created_at: i64,
}

/// A client as its org's admins see it (never its secret).
#[derive(Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub org_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub scopes: Vec<String>,
    pub any_user: bool,
    pub created_at: String,
}

impl ClientRow {
    pub fn redirect_uris(&self) -> Vec<String> {
        serde_json::from_str(&self.redirect_uris).unwrap_or_default()
    }

    pub fn post_logout_redirect_uris(&self) -> Vec<String> {
        serde_json::from_str(&self.post_logout_redirect_uris).unwrap_or_default()
    }

    pub fn scopes(&self) -> Vec<String> {
        self.scopes.split(' ').map(str::to_string).collect()
    }

    pub fn is_public(&self) -> bool {
        self.kind == "public"
    }

    pub fn view(&self) -> ClientView {
        ClientView {
            client_id: self.id.clone(),
            org_id: self.org_id.clone(),
            name: self.name.clone(),
            redirect_uris: self.redirect_uris(),
            post_logout_redirect_uris: self.post_logout_redirect_uris(),
            kind: self.kind.clone(),
            scopes: self.scopes(),
            any_user: self.any_user != 0,
            created_at: rfc3339(self.created_at),
        }
    }
}

/// Registers a client unless its org has `MAX_CLIENTS_PER_ORG` (counted in the insert
/// itself, so parallel registrations stop at the cap): false when it has.
pub async fn create_capped(db: &D1Database, c: &ClientRow, created_by: &str) -> ApiResult<bool> {
    let changed = run(
        db,
        "INSERT INTO oauth_clients (id, org_id, name, redirect_uris, post_logout_redirect_uris, type,
                                    scopes, any_user, secret_hash, created_by, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
         WHERE (SELECT COUNT(*) FROM oauth_clients WHERE org_id = ?2) < ?12",
        &[
            s(&c.id),
            s(&c.org_id),
            s(&c.name),
            s(&c.redirect_uris),
            s(&c.post_logout_redirect_uris),
            s(&c.kind),
            s(&c.scopes),
            n(c.any_user),
            opt_s(c.secret_hash.as_deref()),
            s(created_by),
            n(c.created_at),
            n(MAX_CLIENTS_PER_ORG),
        ],
    )
    .await?;
    Ok(changed == 1)
}

const CLIENT_COLUMNS: &str = "id, org_id, name, redirect_uris, post_logout_redirect_uris, type, \
                              scopes, any_user, secret_hash, created_at";

/// An org's clients, oldest first (all of them: at most `MAX_CLIENTS_PER_ORG`).
pub async fn clients_of_org(db: &D1Database, org_id: &str) -> ApiResult<Vec<ClientRow>> {
    all(
        db,
        &format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE org_id = ?1 ORDER BY created_at, id"
        ),
        &[s(org_id)],
    )
    .await
}

pub async fn client(db: &D1Database, client_id: &str) -> ApiResult<Option<ClientRow>> {
    first(
        db,
        &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = ?1"),
        &[s(client_id)],
    )
    .await
}

/// Deletes an org's client and ends every grant it holds (its codes and consents go with
/// it): false when the org has no such client.
pub async fn delete_client(
    db: &D1Database,
    org_id: &str,
    client_id: &str,
    now: i64,
) -> ApiResult<bool> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                "UPDATE sessions SET revoked_at = ?3
                 WHERE client_id = ?1 AND revoked_at IS NULL
                   AND EXISTS (SELECT 1 FROM oauth_clients WHERE id = ?1 AND org_id = ?2)",
                &[s(client_id), s(org_id), n(now)],
            )?,
            stmt(
                db,
                "DELETE FROM oauth_clients WHERE id = ?1 AND org_id = ?2",
                &[s(client_id), s(org_id)],
            )?,
        ],
    )
    .await?;
    Ok(results.last().map(changes) == Some(1))
}

#[derive(Deserialize)]
struct RoleRow {
    role: Option<String>,
}

/// The user's role in the client's org, if they are a member.
pub async fn role_in(db: &D1Database, org_id: &str, user_id: &str) -> ApiResult<Option<String>> {
    let row: Option<RoleRow> = first(
        db,
        "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        &[s(org_id), s(user_id)],
    )
    .await?;
    Ok(row.and_then(|r| r.role))
}

/// What the `organization` claim says of the client's org to this user.
#[derive(Deserialize)]
pub struct OrgClaimRow {
    pub id: String,
    pub name: String,
    pub settings: String,
    pub role: Option<String>,
}

pub async fn org_claim(
    db: &D1Database,
    org_id: &str,
    user_id: &str,
) -> ApiResult<Option<OrgClaimRow>> {
    first(
        db,
        "SELECT o.id, o.name, o.settings, m.role FROM orgs o
         LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = ?2
         WHERE o.id = ?1",
        &[s(org_id), s(user_id)],
    )
    .await
}

// --- Consents ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct ScopesRow {
    scopes: String,
}

/// The scopes the user has allowed the client (space-separated), if any.
pub async fn consent(db: &D1Database, user_id: &str, client_id: &str) -> ApiResult<Option<String>> {
    let row: Option<ScopesRow> = first(
        db,
        "SELECT scopes FROM oauth_consents WHERE user_id = ?1 AND client_id = ?2",
        &[s(user_id), s(client_id)],
    )
    .await?;
    Ok(row.map(|r| r.scopes))
}

/// Records (or widens) the user's consent to the client.
pub async fn grant_consent(
    db: &D1Database,
    user_id: &str,
    client_id: &str,
    scopes: &str,
    now: i64,
) -> ApiResult<()> {
    run(
        db,
        "INSERT INTO oauth_consents (user_id, client_id, scopes, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = ?4",
        &[s(user_id), s(client_id), s(scopes), n(now)],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct ConsentRow {
    pub client_id: String,
    pub client_name: String,
    pub org_id: String,
    pub org_name: String,
    pub scopes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Serialize)]
pub struct ConsentView {
    pub client_id: String,
    pub client_name: String,
    pub org_id: String,
    pub org_name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ConsentRow {
    pub fn view(&self) -> ConsentView {
        ConsentView {
            client_id: self.client_id.clone(),
            client_name: self.client_name.clone(),
            org_id: self.org_id.clone(),
            org_name: self.org_name.clone(),
            scopes: self.scopes.split(' ').map(str::to_string).collect(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

/// The apps the user has allowed, most recently allowed first (at most 200).
pub async fn consents_of(db: &D1Database, user_id: &str) -> ApiResult<Vec<ConsentRow>> {
    all(
        db,
        "SELECT c.client_id, k.name AS client_name, k.org_id, o.name AS org_name, c.scopes,
                c.created_at, c.updated_at
         FROM oauth_consents c JOIN oauth_clients k ON k.id = c.client_id JOIN orgs o ON o.id = k.org_id
         WHERE c.user_id = ?1 ORDER BY c.updated_at DESC, c.client_id LIMIT 200",
        &[s(user_id)],
    )
    .await
}

/// Withdraws the user's consent to the client and ends every grant the client holds for
/// them: false when there was no consent.
pub async fn revoke_consent(
    db: &D1Database,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> ApiResult<bool> {
    let results = batch(
        db,
        vec![
            stmt(
                db,
                "UPDATE sessions SET revoked_at = ?3
                 WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
                &[s(user_id), s(client_id), n(now)],
            )?,
            stmt(
                db,
                "DELETE FROM oauth_consents WHERE user_id = ?1 AND client_id = ?2",
                &[s(user_id), s(client_id)],
            )?,
        ],
    )
    .await?;
    Ok(results.last().map(changes) == Some(1))
}

// --- Authorization codes ---------------------------------------------------------------

#[derive(Deserialize, Clone, Debug)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// How long a code is kept past its expiry: presented again within it, it still revokes
/// what it was exchanged for.
pub const CODE_KEPT_MS: i64 = 3600 * 1000;

/// Stores a new code, and deletes up to 100 codes past `CODE_KEPT_MS` (the scheduled upkeep
/// has no rule for them: issuing them keeps the table small).
pub async fn insert_code(db: &D1Database, c: &CodeRow, now: i64) -> ApiResult<()> {
    batch(
        db,
        vec![
            stmt(
                db,
                "DELETE FROM oauth_codes WHERE code_hash IN
                   (SELECT code_hash FROM oauth_codes WHERE expires_at <= ?1 LIMIT 100)",
                &[n(now - CODE_KEPT_MS)],
            )?,
            insert_code_stmt(db, c)?,
        ],
    )
    .await?;
    Ok(())
}

fn insert_code_stmt(db: &D1Database, c: &CodeRow) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope, nonce,
                                  code_challenge, auth_time, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            s(&c.code_hash),
            s(&c.client_id),
            s(&c.user_id),
            s(&c.redirect_uri),
            s(&c.scope),
            opt_s(c.nonce.as_deref()),
            opt_s(c.code_challenge.as_deref()),
            n(c.auth_time),
            n(c.expires_at),
        ],
    )
}

pub enum Code {
    /// Unused and unexpired: now used (by this request only).
    Fresh(CodeRow),
    /// Presented before: the grant it was exchanged for, if it was.
    Reused { session_id: Option<String> },
    /// Unknown or expired.
    Invalid,
}

#[derive(Deserialize)]
struct UsedRow {
    used_at: Option<i64>,
    session_id: Option<String>,
}

/// Uses a code: one UPDATE marks it used and returns it, so of two requests racing with the
/// same code exactly one gets it.
pub async fn use_code(db: &D1Database, code_hash: &str, now: i64) -> ApiResult<Code> {
    let fresh: Option<CodeRow> = first(
        db,
        "UPDATE oauth_codes SET used_at = ?2
         WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2
         RETURNING code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge,
                   auth_time, expires_at",
        &[s(code_hash), n(now)],
    )
    .await?;
    if let Some(code) = fresh {
        return Ok(Code::Fresh(code));
    }
    let used: Option<UsedRow> = first(
        db,
        "SELECT used_at, session_id FROM oauth_codes WHERE code_hash = ?1",
        &[s(code_hash)],
    )
    .await?;
    Ok(match used {
        Some(UsedRow {
            used_at: Some(_),
            session_id,
        }) => Code::Reused { session_id },
        _ => Code::Invalid,
    })
}

// --- Grants ------------------------------------------------------------------------------

pub struct NewGrant<'a> {
    pub session_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub auth_time: i64,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub now: i64,
}

/// The statements that start a grant (with its first refresh token, when it has one) for the
/// code `code_hash`, recording the grant on the code (a second presentation revokes it).
pub fn create_grant(
    db: &D1Database,
    g: &NewGrant,
    refresh_hash: Option<&str>,
    code_hash: &str,
) -> ApiResult<Vec<D1PreparedStatement>> {
    let ua: String = g.user_agent.chars().take(256).collect();
    let mut out = vec![
        stmt(
            db,
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,
                                   client_id, scope, auth_time)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                s(g.session_id),
                s(g.user_id),
                n(g.now),
                n(g.now + ABSOLUTE_LIFETIME_MS),
                s(&ua),
                s(g.ip),
                s(g.client_id),
                s(g.scope),
                n(g.auth_time),
            ],
        )?,
        stmt(
            db,
            "UPDATE oauth_codes SET session_id = ?2 WHERE code_hash = ?1",
            &[s(code_hash), s(g.session_id)],
        )?,
    ];
    if let Some(hash) = refresh_hash {
        out.push(stmt(
            db,
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
            &[s(hash), s(g.session_id), n(g.now)],
        )?);
    }
    Ok(out)
}

#[derive(Deserialize, Clone, Debug)]
pub struct GrantRow {
    pub session_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub auth_time: i64,
}

/// A live grant of `client_id` (not revoked, expired or idle, its account not disabled).
pub async fn live_grant(
    db: &D1Database,
    session_id: &str,
    client_id: &str,
    now: i64,
) -> ApiResult<Option<GrantRow>> {
    first(
        db,
        "SELECT s.id AS session_id, s.user_id, s.client_id, s.scope, s.auth_time FROM sessions s
         WHERE s.id = ?1 AND s.client_id = ?2 AND s.revoked_at IS NULL AND s.expires_at > ?3
           AND s.last_used_at > ?4
           AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL)",
        &[s(session_id), s(client_id), n(now), n(now - IDLE_TIMEOUT_MS)],
    )
    .await
}

#[derive(Deserialize)]
struct SessionIdRow {
    session_id: String,
}

/// The grant of `client_id` a refresh token (used or not) belongs to.
pub async fn grant_of_refresh(
    db: &D1Database,
    refresh_hash: &str,
    client_id: &str,
) -> ApiResult<Option<String>> {
    let row: Option<SessionIdRow> = first(
        db,
        "SELECT r.session_id FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
         WHERE r.token_hash = ?1 AND s.client_id = ?2",
        &[s(refresh_hash), s(client_id)],
    )
    .await?;
    Ok(row.map(|r| r.session_id))
}

/// Ends a grant of `client_id`.
pub async fn revoke_grant(
    db: &D1Database,
    session_id: &str,
    client_id: &str,
    now: i64,
) -> ApiResult<()> {
    run(
        db,
        "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
        &[s(session_id), s(client_id), n(now)],
    )
    .await?;
    Ok(())
}
