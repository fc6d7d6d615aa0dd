//! Passkeys (WebAuthn credentials) and the challenges of their ceremonies. A challenge is kept
//! as its SHA-256 only, for one purpose, 5 minutes, and is used once (the `consume` that wins).

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, batch, first, n, opt_s, run, s, stmt};
use crate::error::{ApiError, ApiResult};
use crate::util::rfc3339;

/// Passkeys one user may have (409 past it).
pub const MAX_PER_USER: i64 = 20;

#[derive(Deserialize, Clone)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    pub public_key: String,
    pub algorithm: i64,
    pub sign_count: i64,
    pub backup_eligible: i64,
    pub backed_up: i64,
    pub transports: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey as the API shows it.
#[derive(Serialize)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Whether the passkey is synced (backed up) by its provider, as it last said.
    pub backed_up: bool,
}

impl PasskeyRow {
    pub fn view(&self) -> PasskeyView {
        PasskeyView {
            id: self.id.clone(),
            name: self.name.clone(),
            created_at: rfc3339(self.created_at),
            last_used_at: self.last_used_at.map(rfc3339),
            backed_up: self.backed_up != 0,
        }
    }

    /// The transports the browser reported at registration (hints for later ceremonies).
    pub fn transports(&self) -> Vec<String> {
        serde_json::from_str(&self.transports).unwrap_or_default()
    }
}

const COLUMNS: &str =
    "id, user_id, credential_id, public_key, algorithm, sign_count, backup_eligible, \
                       backed_up, transports, name, created_at, last_used_at";

/// A credential to store.
pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub credential_id: &'a str,
    pub public_key: &'a str,
    pub algorithm: i64,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub transports: &'a [String],
    pub aaguid: &'a str,
    pub name: &'a str,
    pub now: i64,
}

pub enum Inserted {
    Done,
    /// The user has `MAX_PER_USER` passkeys.
    Full,
    /// The credential is registered already (to this account or another).
    Duplicate,
}

/// Stores a passkey unless the user has `MAX_PER_USER` (counted in the same statement, so
/// simultaneous registrations never pass the cap) or the credential id is taken.
pub async fn insert(db: &D1Database, p: &NewPasskey<'_>) -> ApiResult<Inserted> {
    let result = run(
        db,
        "INSERT INTO passkeys (id, user_id, credential_id, public_key, algorithm, sign_count,
           backup_eligible, backed_up, transports, aaguid, name, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
         WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2) < ?13",
        &[
            s(p.id),
            s(p.user_id),
            s(p.credential_id),
            s(p.public_key),
            n(p.algorithm),
            n(i64::from(p.sign_count)),
            n(p.backup_eligible as i64),
            n(p.backed_up as i64),
            s(&serde_json::to_string(p.transports)?),
            s(p.aaguid),
            s(p.name),
            n(p.now),
            n(MAX_PER_USER),
        ],
    )
    .await;
    match result {
        Ok(1) => Ok(Inserted::Done),
        Ok(_) => Ok(Inserted::Full),
        Err(e) if super::is_unique_violation(&e) => Ok(Inserted::Duplicate),
        Err(e) => Err(e),
    }
}

/// A page of the user's passkeys, oldest first.
pub async fn list(
    db: &D1Database,
    user_id: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<PasskeyRow>> {
    let (at, id) = after.unwrap_or((-1, String::new()));
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM passkeys WHERE user_id = ?1 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))
             ORDER BY created_at, id LIMIT ?4"
        ),
        &[s(user_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// Every passkey of the user (at most `MAX_PER_USER`).
pub async fn of_user(db: &D1Database, user_id: &str) -> ApiResult<Vec<PasskeyRow>> {
    list(db, user_id, None, MAX_PER_USER as usize).await
}

/// The user's passkey `id`, or 404.
pub async fn get(db: &D1Database, user_id: &str, id: &str) -> ApiResult<PasskeyRow> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM passkeys WHERE id = ?1 AND user_id = ?2"),
        &[s(id), s(user_id)],
    )
    .await?
    .ok_or(ApiError::NotFound)
}

/// The passkey with this credential id (base64url), whoever's it is.
pub async fn by_credential_id(
    db: &D1Database,
    credential_id: &str,
) -> ApiResult<Option<PasskeyRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = ?1"),
        &[s(credential_id)],
    )
    .await
}

pub async fn rename(db: &D1Database, user_id: &str, id: &str, name: &str) -> ApiResult<()> {
    if run(
        db,
        "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2",
        &[s(id), s(user_id), s(name)],
    )
    .await?
        == 0
    {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// Removes one of the user's passkeys unless it is their last way to sign in (no password, no
/// linked identity, no other passkey): 409. The count and the delete are one statement, so two
/// concurrent removals cannot take the last two.
pub async fn delete(db: &D1Database, user_id: &str, id: &str) -> ApiResult<()> {
    let removed = run(
        db,
        "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2
           AND (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2) - 1
             + (SELECT COUNT(*) FROM users u WHERE u.id = ?2 AND u.password_hash <> '')
             + (SELECT COUNT(*) FROM user_identities i WHERE i.user_id = ?2) > 0",
        &[s(id), s(user_id)],
    )
    .await?;
    if removed == 1 {
        return Ok(());
    }
    match first::<serde_json::Value>(
        db,
        "SELECT 1 AS found FROM passkeys WHERE id = ?1 AND user_id = ?2",
        &[s(id), s(user_id)],
    )
    .await?
    {
        None => Err(ApiError::NotFound),
        Some(_) => Err(ApiError::Conflict(
            "this is the account's last way to sign in: set a password (POST \
             /api/auth/forgot-password sends a link) or add another passkey first"
                .into(),
        )),
    }
}

/// Records a verified use: the new signature count, only if the stored one is still the one
/// the assertion was checked against (a simultaneous use of a cloned authenticator loses).
pub async fn record_use(
    db: &D1Database,
    id: &str,
    checked_count: i64,
    new_count: u32,
    backed_up: bool,
    now: i64,
) -> ApiResult<bool> {
    let changed = run(
        db,
        "UPDATE passkeys SET sign_count = ?3, backed_up = ?4, last_used_at = ?5
         WHERE id = ?1 AND sign_count = ?2",
        &[
            s(id),
            n(checked_count),
            n(i64::from(new_count)),
            n(backed_up as i64),
            n(now),
        ],
    )
    .await?;
    Ok(changed == 1)
}

/// Whether the user has a passkey.
pub async fn has_any(db: &D1Database, user_id: &str) -> ApiResult<bool> {
    #[derive(Deserialize)]
    struct One {
        one: i64,
    }
    let row: Option<One> = first(
        db,
        "SELECT 1 AS one FROM passkeys WHERE user_id = ?1 LIMIT 1",
        &[s(user_id)],
    )
    .await?;
    Ok(row.is_some_and(|r| r.one == 1))
}

// ---------------------------------------------------------------------------------------
// Challenges

/// How long a challenge lasts (also the `timeout` the options give the browser).
pub const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey to the signed-in user.
    Register,
    /// Signing in with a passkey alone.
    SignIn,
    /// The second step of a sign-in (bound to its ticket).
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "sign_in",
            Purpose::SecondFactor => "second_factor",
        }
    }
}

/// Stores a challenge (its hash) for `purpose`, bound to `user_id` and `ticket_hash` when
/// given; also deletes a bounded batch of expired ones.
pub async fn issue_challenge(
    db: &D1Database,
    challenge_hash: &str,
    purpose: Purpose,
    user_id: Option<&str>,
    ticket_hash: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    batch(
        db,
        vec![
            stmt(
                db,
                "DELETE FROM webauthn_challenges WHERE challenge_hash IN
                   (SELECT challenge_hash FROM webauthn_challenges WHERE expires_at <= ?1 LIMIT 100)",
                &[n(now)],
            )?,
            stmt(
                db,
                "INSERT INTO webauthn_challenges (challenge_hash, purpose, user_id, ticket_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    s(challenge_hash),
                    s(purpose.as_str()),
                    opt_s(user_id),
                    opt_s(ticket_hash),
                    n(now),
                    n(now + CHALLENGE_TTL_MS),
                ],
            )?,
        ],
    )
    .await?;
    Ok(())
}

/// A challenge just used.
#[derive(Deserialize, Debug)]
pub struct Challenge {
    pub user_id: Option<String>,
    pub ticket_hash: Option<String>,
}

/// Uses the challenge with this hash if it is for `purpose`, unused and unexpired: in one
/// statement, so of two simultaneous uses exactly one wins. `None` for anything else.
pub async fn consume_challenge(
    db: &D1Database,
    challenge_hash: &str,
    purpose: Purpose,
    now: i64,
) -> ApiResult<Option<Challenge>> {
    let rows: Vec<Challenge> = all(
        db,
        "UPDATE webauthn_challenges SET used_at = ?3
         WHERE challenge_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
         RETURNING user_id, ticket_hash",
        &[s(challenge_hash), s(purpose.as_str()), n(now)],
    )
    .await?;
    Ok(rows.into_iter().next())
}
