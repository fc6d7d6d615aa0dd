//! What the operator's console (`routes::admin`) reads and changes across the whole service:
//! every account and organization, service-wide usage and the whole audit log. Only reached
//! behind the service-admin check.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::audit::AuditRow;
use super::usage::UsageRow;
use super::{all, batch, first, n, opt_s, run, s, sessions, stmt};
use crate::error::{ApiError, ApiResult};
use crate::util::{rfc3339, JS_MAX_SAFE};

// ---------------------------------------------------------------------------------------
// Accounts

/// An account as the console lists it.
#[derive(Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_key: String,
    pub name: String,
    pub created_at: i64,
    pub email_verified_at: Option<i64>,
    pub disabled_at: Option<i64>,
}

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
    pub email_verified: bool,
    /// When a service admin disabled the account; null while it is enabled.
    pub disabled_at: Option<String>,
}

impl UserRow {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            created_at: rfc3339(self.created_at),
            email_verified: self.email_verified_at.is_some(),
            disabled_at: self.disabled_at.map(rfc3339),
        }
    }
}

const USER_COLUMNS: &str = "id, email, email_key, name, created_at, email_verified_at, disabled_at";

/// Newest first, after the cursor (?2, ?3).
const NEWER_FIRST: &str = "(created_at < ?2 OR (created_at = ?2 AND id < ?3))";

/// What a search matches: an exact id, or part of an address or a name (`needle`, already
/// lower-cased; an address is matched by its key).
pub struct Search<'a> {
    pub id: &'a str,
    pub needle: &'a str,
}

/// A page of accounts, newest first; all of them without a search.
pub async fn users(
    db: &D1Database,
    search: Option<&Search<'_>>,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<UserRow>> {
    let (at, id) = cursor.unwrap_or((JS_MAX_SAFE, String::new()));
    all(
        db,
        &format!(
            "SELECT {USER_COLUMNS} FROM users
             WHERE {NEWER_FIRST}
               AND (?1 IS NULL OR id = ?1 OR instr(email_key, ?5) > 0 OR instr(lower(name), ?5) > 0)
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        ),
        &[
            opt_s(search.map(|q| q.id)),
            n(at),
            s(&id),
            n(limit as i64),
            s(search.map_or("", |q| q.needle)),
        ],
    )
    .await
}

pub async fn user(db: &D1Database, id: &str) -> ApiResult<UserRow> {
    let row: Option<UserRow> = first(
        db,
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        &[s(id)],
    )
    .await?;
    row.ok_or(ApiError::NotFound)
}

/// Disables the account and revokes all its sessions in one transaction: its access tokens
/// fail at their next request (the guard checks the session), its refresh tokens are void,
/// and its API keys are refused while it stays disabled (`keys::authenticate`). Disabling a
/// disabled account keeps the first time.
pub async fn disable(db: &D1Database, user_id: &str, now: i64) -> ApiResult<()> {
    batch(
        db,
        vec![
            stmt(
                db,
                "UPDATE users SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
                &[s(user_id), n(now)],
            )?,
            sessions::revoke_all(db, user_id, None, now)?,
        ],
    )
    .await?;
    Ok(())
}

/// Lets the account sign in again; its API keys work again.
pub async fn enable(db: &D1Database, user_id: &str) -> ApiResult<()> {
    run(
        db,
        "UPDATE users SET disabled_at = NULL WHERE id = ?1",
        &[s(user_id)],
    )
    .await?;
    Ok(())
}

/// The account's model usage between two instants, by model, across its orgs.
pub async fn usage_of_user(
    db: &D1Database,
    user_id: &str,
    from: i64,
    to: i64,
) -> ApiResult<Vec<UsageRow>> {
    all(
        db,
        "SELECT model AS key, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
                SUM(completion_tokens) AS completion_tokens, SUM(cost_micros) AS cost_micros
         FROM usage_events WHERE user_id = ?1 AND created_at >= ?2 AND created_at < ?3
         GROUP BY key ORDER BY key LIMIT 1000",
        &[s(user_id), n(from), n(to)],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Organizations

#[derive(Deserialize)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub personal: i64,
    pub settings: String,
    pub created_at: i64,
    pub service_keys: i64,
    pub members: i64,
}

#[derive(Serialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub personal: bool,
    pub created_at: String,
    pub members: i64,
    /// Whether the service's own provider keys serve the org (after its members' and its own).
    pub service_keys: bool,
    pub settings: crate::domain::settings::OrgSettings,
}

impl OrgRow {
    pub fn view(&self) -> OrgView {
        OrgView {
            id: self.id.clone(),
            name: self.name.clone(),
            personal: self.personal == 1,
            created_at: rfc3339(self.created_at),
            members: self.members,
            service_keys: self.service_keys != 0,
            settings: crate::domain::settings::OrgSettings::from_stored(&self.settings),
        }
    }
}

const ORG_COLUMNS: &str = "id, name, personal, settings, created_at, service_keys,
    (SELECT COUNT(*) FROM memberships m WHERE m.org_id = orgs.id) AS members";

/// A page of organizations, newest first; all of them without a search (which matches an
/// exact id or part of the name).
pub async fn orgs(
    db: &D1Database,
    search: Option<&Search<'_>>,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<OrgRow>> {
    let (at, id) = cursor.unwrap_or((JS_MAX_SAFE, String::new()));
    all(
        db,
        &format!(
            "SELECT {ORG_COLUMNS} FROM orgs
             WHERE {NEWER_FIRST} AND (?1 IS NULL OR id = ?1 OR instr(lower(name), ?5) > 0)
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        ),
        &[
            opt_s(search.map(|q| q.id)),
            n(at),
            s(&id),
            n(limit as i64),
            s(search.map_or("", |q| q.needle)),
        ],
    )
    .await
}

pub async fn org(db: &D1Database, id: &str) -> ApiResult<OrgRow> {
    let row: Option<OrgRow> = first(
        db,
        &format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?1"),
        &[s(id)],
    )
    .await?;
    row.ok_or(ApiError::NotFound)
}

/// Sets (or, with `None`, lifts) the org's `settings.monthly_token_limit` (validated by the
/// caller), leaving the rest of its settings as they are at that moment: the limiter reads
/// it from there as it reads an org admin's change.
pub async fn set_budget(db: &D1Database, org_id: &str, limit: Option<i64>) -> ApiResult<()> {
    let value = limit.map_or_else(|| "null".to_string(), |l| l.to_string());
    run(
        db,
        "UPDATE orgs SET settings = json_set(CASE WHEN json_valid(settings) THEN settings ELSE '{}' END,
                                            '$.monthly_token_limit', json(?2))
         WHERE id = ?1",
        &[s(org_id), s(&value)],
    )
    .await?;
    Ok(())
}

/// Whether the service's provider keys serve the org (`provider_keys::Candidates`).
pub async fn set_service_keys(db: &D1Database, org_id: &str, on: bool) -> ApiResult<()> {
    run(
        db,
        "UPDATE orgs SET service_keys = ?2 WHERE id = ?1",
        &[s(org_id), n(i64::from(on))],
    )
    .await?;
    super::provider_keys::forget_read();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Usage and the audit log

/// How service-wide usage is grouped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GroupBy {
    Day,
    Org,
    Model,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "day" => Some(GroupBy::Day),
            "org" => Some(GroupBy::Org),
            "model" => Some(GroupBy::Model),
            _ => None,
        }
    }

    fn column(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Org => "org_id",
            GroupBy::Model => "model",
        }
    }
}

/// A row of the service's usage; grouped by org, it also carries the org's name (null once
/// the org is deleted).
#[derive(Deserialize, Serialize)]
pub struct ServiceUsageRow {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: i64,
}

/// Usage of the whole service between two instants (`from` inclusive, `to` exclusive).
pub async fn usage(
    db: &D1Database,
    from: i64,
    to: i64,
    group: GroupBy,
) -> ApiResult<Vec<ServiceUsageRow>> {
    let col = group.column();
    let name = match group {
        GroupBy::Org => "(SELECT o.name FROM orgs o WHERE o.id = usage_events.org_id)",
        GroupBy::Day | GroupBy::Model => "NULL",
    };
    all(
        db,
        &format!(
            "SELECT {col} AS key, {name} AS name, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
                    SUM(completion_tokens) AS completion_tokens, SUM(cost_micros) AS cost_micros
             FROM usage_events WHERE created_at >= ?1 AND created_at < ?2
             GROUP BY key ORDER BY key LIMIT 1000"
        ),
        &[n(from), n(to)],
    )
    .await
}

/// Which events of the audit log to read; every part optional.
#[derive(Default)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub org: Option<String>,
    /// `[from, to)` in epoch milliseconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A page of the whole audit log, newest first.
pub async fn audit(
    db: &D1Database,
    filter: &AuditFilter,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<AuditRow>> {
    let (at, id) = cursor.unwrap_or((JS_MAX_SAFE, String::new()));
    all(
        db,
        "SELECT id, created_at, type, actor_id, subject_id, org_id, ip, user_agent, details
         FROM audit_events
         WHERE (created_at < ?1 OR (created_at = ?1 AND id < ?2))
           AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR actor_id = ?5)
           AND (?6 IS NULL OR org_id = ?6)
           AND created_at >= ?7 AND created_at < ?8
         ORDER BY created_at DESC, id DESC LIMIT ?3",
        &[
            n(at),
            s(&id),
            n(limit as i64),
            opt_s(filter.kind.as_deref()),
            opt_s(filter.actor.as_deref()),
            opt_s(filter.org.as_deref()),
            n(filter.from.unwrap_or(0)),
            n(filter.to.unwrap_or(JS_MAX_SAFE)),
        ],
    )
    .await
}
