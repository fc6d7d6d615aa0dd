//! Users.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use super::{all, first, n, run, s, stmt};
use crate::domain::Email;
use crate::error::ApiResult;
use crate::util::rfc3339;

#[derive(Deserialize, Clone)]
pub struct UserRow {
    pub id: String,
    /// As the user typed it.
    pub email: String,
    /// The normalised form that identifies it (`Email::key`).
    pub email_key: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: i64,
    /// When a link sent to the address was opened; `None`: not verified.
    pub email_verified_at: Option<i64>,
    /// When a service admin disabled the account; `None`: it is not disabled.
    #[serde(default)]
    pub disabled_at: Option<i64>,
}

/// A user as the API shows it.
#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
    pub email_verified: bool,
}

impl UserRow {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            created_at: rfc3339(self.created_at),
            email_verified: self.is_verified(),
        }
    }

    pub fn is_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }

    /// 403 `account_disabled` when a service admin has disabled the account: every way in
    /// (sign-in methods, refresh, the second step, password reset) asks this.
    pub fn ensure_enabled(&self) -> ApiResult<()> {
        match self.disabled_at {
            Some(_) => Err(crate::error::ApiError::AccountDisabled),
            None => Ok(()),
        }
    }
}

const COLUMNS: &str =
    "id, email, email_key, name, password_hash, created_at, email_verified_at, disabled_at";

pub async fn find(db: &D1Database, id: &str) -> ApiResult<Option<UserRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        &[s(id)],
    )
    .await
}

/// The user with this address, whatever its spelling; also a row stored before addresses had
/// keys, under its older (lower-cased) form (`rekey` brings it up to date).
pub async fn find_by_email(db: &D1Database, email: &Email) -> ApiResult<Option<UserRow>> {
    let legacy = email.legacy_key();
    first(
        db,
        &format!(
            "SELECT {COLUMNS} FROM users WHERE email_key IN (?1, ?2) ORDER BY email_key = ?1 DESC LIMIT 1"
        ),
        &[s(email.key()), s(legacy.as_deref().unwrap_or(email.key()))],
    )
    .await
}

/// Stores the current key of a row found by its legacy key.
pub async fn rekey(db: &D1Database, user: &UserRow, email: &Email) -> ApiResult<()> {
    if user.email_key != email.key() {
        run(
            db,
            "UPDATE users SET email_key = ?2 WHERE id = ?1",
            &[s(&user.id), s(email.key())],
        )
        .await?;
    }
    Ok(())
}

pub fn insert(db: &D1Database, u: &UserRow) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "INSERT INTO users (id, email, email_key, name, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        &[
            s(&u.id),
            s(&u.email),
            s(&u.email_key),
            s(&u.name),
            s(&u.password_hash),
            n(u.created_at),
        ],
    )
}

pub async fn set_name(db: &D1Database, id: &str, name: &str, now: i64) -> ApiResult<()> {
    run(
        db,
        "UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1",
        &[s(id), s(name), n(now)],
    )
    .await?;
    Ok(())
}

pub fn set_password_hash(
    db: &D1Database,
    id: &str,
    hash: &str,
    now: i64,
) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        &[s(id), s(hash), n(now)],
    )
}

/// Marks the address verified, if it is still the account's (`email_key`): a link sent to an
/// address the account has since left proves nothing. Verifying twice keeps the first time.
pub fn mark_verified(
    db: &D1Database,
    id: &str,
    email_key: &str,
    now: i64,
) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?3)
         WHERE id = ?1 AND email_key = ?2",
        &[s(id), s(email_key), n(now)],
    )
}

/// Makes `email` (just proven by a link sent to it) the account's address, verified.
pub fn change_email(
    db: &D1Database,
    id: &str,
    email: &str,
    email_key: &str,
    now: i64,
) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE users SET email = ?2, email_key = ?3, email_verified_at = ?4, updated_at = ?4
         WHERE id = ?1",
        &[s(id), s(email), s(email_key), n(now)],
    )
}

#[derive(Deserialize)]
struct Verified {
    verified: i64,
}

/// Whether the user's address is verified (false for an unknown user).
pub async fn is_verified(db: &D1Database, id: &str) -> ApiResult<bool> {
    let row: Option<Verified> = first(
        db,
        "SELECT email_verified_at IS NOT NULL AS verified FROM users WHERE id = ?1",
        &[s(id)],
    )
    .await?;
    Ok(row.is_some_and(|r| r.verified != 0))
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

/// Everything the user owns, deleted in one transaction: organizations where they are the
/// only owner (with all their contents and audit log), their own rows (sessions, keys,
/// memberships, conversations, passkeys… by cascade), their provider keys, their account's
/// audit events; usage and voice sessions they caused in other organizations stay for billing
/// but no longer point at them, and those organizations' audit logs keep the events with the
/// user as `deleted`. `sole_owned` are the orgs that go with them (`sole_owned_orgs`). The
/// Durable Objects of all this are queued for wiping in the same transaction (`crate::wipes`).
pub async fn delete_everything(
    db: &D1Database,
    user_id: &str,
    sole_owned: &[String],
    now: i64,
) -> ApiResult<()> {
    let mut statements = super::wipes::queue_user(db, user_id, sole_owned, now)?;
    for org in sole_owned {
        for sql in [
            "DELETE FROM provider_keys WHERE owner_kind = 'org' AND owner_id = ?1",
            "DELETE FROM audit_events WHERE org_id = ?1",
            "DELETE FROM orgs WHERE id = ?1",
        ] {
            statements.push(stmt(db, sql, &[s(org)])?);
        }
    }
    // The account's own events go; in the orgs that stay, their log keeps what happened with
    // the user's id and address replaced by `deleted` (actor, subject and details), and no
    // address or user agent of the person. Then invitations made out to their address.
    for sql in [
        "DELETE FROM audit_events WHERE org_id IS NULL AND (actor_id = ?1 OR subject_id = ?1)",
        "UPDATE audit_events
           SET details = replace(replace(details, ?1, 'deleted'),
                                 (SELECT email FROM users WHERE id = ?1), 'deleted')
         WHERE (org_id IN (SELECT org_id FROM memberships WHERE user_id = ?1)
                OR actor_id = ?1 OR subject_id = ?1)
           AND (instr(details, ?1) > 0
                OR instr(details, (SELECT email FROM users WHERE id = ?1)) > 0)",
        "UPDATE audit_events SET actor_id = 'deleted', ip = '', user_agent = '' WHERE actor_id = ?1",
        "UPDATE audit_events SET subject_id = 'deleted' WHERE subject_id = ?1",
        "DELETE FROM invitations WHERE email = (SELECT email FROM users WHERE id = ?1)",
        // Throttle windows named after the account (mail and second-factor counts).
        "DELETE FROM throttle WHERE instr(key, ?1) > 0",
    ] {
        statements.push(stmt(db, sql, &[s(user_id)])?);
    }
    statements.push(stmt(
        db,
        "DELETE FROM provider_keys WHERE owner_kind = 'user' AND owner_id = ?1",
        &[s(user_id)],
    )?);
    statements.push(stmt(
        db,
        "UPDATE usage_events SET user_id = NULL WHERE user_id = ?1",
        &[s(user_id)],
    )?);
    statements.push(stmt(db, "DELETE FROM users WHERE id = ?1", &[s(user_id)])?);
    super::batch(db, statements).await?;
    Ok(())
}

/// Organizations in which the user is the one and only owner.
pub async fn sole_owned_orgs(db: &D1Database, user_id: &str) -> ApiResult<Vec<String>> {
    let rows: Vec<Id> = all(
        db,
        "SELECT m.org_id AS id FROM memberships m
         WHERE m.user_id = ?1 AND m.role = 'owner'
           AND (SELECT COUNT(*) FROM memberships o WHERE o.org_id = m.org_id AND o.role = 'owner') = 1",
        &[s(user_id)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
