//! The operator's console: `/api/admin/*`, for the service admins the operator names in
//! `ADMIN_EMAILS` (their verified address; `Config::is_service_admin`), never granted through
//! the API.
//!
//! Every route goes through `gate` (the route table's `service_admin!`): only a session
//! (never an API key) of a service admin passes. A request without a credential is 401, and
//! an expired access token 401 `token_expired`, as on every authenticated route (clients sign
//! in or refresh); any other caller gets 404, as for a path that does not exist, so no one
//! learns from the console whether an account or a key is an admin's. Every change is
//! recorded in the audit log with the admin as its actor.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::{self, Access};
use crate::domain::settings::OrgSettings;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult};
use crate::http::{no_content, ok, page_limit, Ctx, Page, BODY_LIMIT};
use crate::routes::orgs::{cursor, page};
use crate::routes::usage::period;
use crate::routes::{audit, BoxFut};
use crate::store::admin::{self as console, AuditFilter, GroupBy, Search};
use crate::store::audit::{Action, Entry};
use crate::store::{keys, orgs, sessions, users};
use crate::util::parse_date_or_time;

/// A service admin, signed in with a session.
pub struct Operator {
    pub user_id: String,
}

/// A console handler, called only for a service admin.
pub type Handler = fn(Ctx, Operator) -> BoxFut;

/// Lets a service admin through to `f`; 401 without a credential or with an expired access
/// token, 404 for every other caller (an API key, a token that is not valid, an ended session,
/// an account that is not a service admin).
pub async fn gate(ctx: Ctx, f: Handler) -> ApiResult<Response> {
    let operator = operator(&ctx).await?;
    f(ctx, operator).await
}

async fn operator(ctx: &Ctx) -> ApiResult<Operator> {
    if guard::credential(ctx).is_none() {
        return Err(ApiError::Unauthorized("a bearer token is required"));
    }
    let who = match guard::authenticate(ctx, Access::User, guard::Check::Before).await {
        Ok(who) => who,
        Err(ApiError::TokenExpired) => return Err(ApiError::TokenExpired),
        Err(ApiError::Unauthorized(_) | ApiError::InvalidCredentials) => {
            return Err(ApiError::NotFound)
        }
        Err(e) => return Err(e),
    };
    let user = users::find(&ctx.db()?, &who.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !ctx.cfg.is_service_admin(&user) {
        return Err(ApiError::NotFound);
    }
    Ok(Operator { user_id: user.id })
}

/// `?q=`: an exact id, or part of an address (matched by its normalized key) or a name.
fn search_text(ctx: &Ctx) -> ApiResult<Option<(String, String)>> {
    let Some(q) = ctx.query_param("q") else {
        return Ok(None);
    };
    let q = q.trim();
    if q.is_empty() {
        return Ok(None);
    }
    if q.chars().count() > 254 {
        return Err(ApiError::param("q", "q is longer than 254 characters"));
    }
    let needle = Email::parse(q).map_or_else(|_| q.to_lowercase(), |e| e.key().to_string());
    Ok(Some((q.to_string(), needle)))
}

fn user_page(rows: Vec<console::UserRow>, limit: usize) -> Page<console::UserView> {
    page(
        rows,
        limit,
        |r| (r.created_at, &r.id),
        console::UserRow::view,
    )
}

// ---------------------------------------------------------------------------------------
// Accounts

/// `GET /api/admin/users?q=`: accounts, newest first.
pub async fn users(ctx: Ctx, _: Operator) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let q = search_text(&ctx)?;
    let search = q.as_ref().map(|(id, needle)| Search { id, needle });
    let rows = console::users(&ctx.db()?, search.as_ref(), cursor(&ctx)?, limit + 1).await?;
    ok(&user_page(rows, limit))
}

#[derive(Serialize)]
struct Usage {
    from: String,
    to: String,
    items: Vec<crate::store::usage::UsageRow>,
}

#[derive(Serialize)]
struct UserDetail {
    #[serde(flatten)]
    user: console::UserView,
    service_admin: bool,
    orgs: Vec<orgs::UserOrg>,
    sessions: Vec<sessions::SessionView>,
    keys: Vec<keys::KeyView>,
    /// This month's model calls (UTC), by model.
    usage: Usage,
}

async fn detail(ctx: &Ctx, user_id: &str) -> ApiResult<UserDetail> {
    let db = ctx.db()?;
    let row = console::user(&db, user_id).await?;
    let full = users::find(&db, user_id).await?.ok_or(ApiError::NotFound)?;
    let (from, to) = period(None, None, ctx.now)?;
    Ok(UserDetail {
        user: row.view(),
        service_admin: ctx.cfg.is_service_admin(&full),
        orgs: orgs::of_user(&db, user_id).await?,
        sessions: sessions::list_live(&db, user_id, ctx.now)
            .await?
            .iter()
            .map(|s| s.view(None))
            .collect(),
        keys: keys::of_user(&db, user_id, None, 100)
            .await?
            .iter()
            .map(|k| k.view(false))
            .collect(),
        usage: Usage {
            from: crate::util::rfc3339(from),
            to: crate::util::rfc3339(to),
            items: console::usage_of_user(&db, user_id, from, to).await?,
        },
    })
}

/// `GET /api/admin/users/{id}`: the account with its orgs, live sessions, API keys and this
/// month's usage.
pub async fn user(ctx: Ctx, _: Operator) -> ApiResult<Response> {
    ok(&detail(&ctx, ctx.param(0)).await?)
}

fn not_yourself(op: &Operator, user_id: &str, what: &'static str) -> ApiResult<()> {
    if op.user_id == user_id {
        return Err(ApiError::Conflict(format!(
            "you cannot {what} your own account from the console: another service admin can"
        )));
    }
    Ok(())
}

/// `POST /api/admin/users/{id}/disable`: the account's sessions end at once (their next
/// request is 401), its refresh tokens and API keys are refused (403 `account_disabled`), and
/// no sign-in method lets it in until it is enabled again.
pub async fn disable(ctx: Ctx, op: Operator) -> ApiResult<Response> {
    let user_id = ctx.param(0).to_string();
    not_yourself(&op, &user_id, "disable")?;
    let db = ctx.db()?;
    let before = console::user(&db, &user_id).await?;
    console::disable(&db, &user_id, ctx.now).await?;
    if before.disabled_at.is_none() {
        audit::record(
            &ctx,
            Entry::new(Action::AdminUserDisabled)
                .by(&op.user_id)
                .on(&user_id)
                .details(serde_json::json!({"email": before.email, "sessions_revoked": "all"})),
        )
        .await;
    }
    ok(&detail(&ctx, &user_id).await?)
}

/// `POST /api/admin/users/{id}/enable`: the account may sign in again; its API keys work again.
pub async fn enable(ctx: Ctx, op: Operator) -> ApiResult<Response> {
    let user_id = ctx.param(0).to_string();
    let db = ctx.db()?;
    let before = console::user(&db, &user_id).await?;
    console::enable(&db, &user_id).await?;
    if before.disabled_at.is_some() {
        audit::record(
            &ctx,
            Entry::new(Action::AdminUserEnabled)
                .by(&op.user_id)
                .on(&user_id)
                .details(serde_json::json!({"email": before.email})),
        )
        .await;
    }
    ok(&detail(&ctx, &user_id).await?)
}

/// `DELETE /api/admin/users/{id}`: deletes the account as `DELETE /api/me` does.
pub async fn delete_user(ctx: Ctx, op: Operator) -> ApiResult<Response> {
    let user_id = ctx.param(0).to_string();
    not_yourself(&op, &user_id, "delete")?;
    let user = users::find(&ctx.db()?, &user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    crate::routes::me::delete_account(&ctx, &user).await?;
    audit::record(
        &ctx,
        Entry::new(Action::AdminUserDeleted)
            .by(&op.user_id)
            .on(&user_id)
            .details(serde_json::json!({"email": user.email})),
    )
    .await;
    no_content()
}

// ---------------------------------------------------------------------------------------
// Organizations

/// `GET /api/admin/orgs?q=`: organizations, newest first.
pub async fn orgs_list(ctx: Ctx, _: Operator) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let q = search_text(&ctx)?;
    let search = q.as_ref().map(|(id, needle)| Search { id, needle });
    let rows = console::orgs(&ctx.db()?, search.as_ref(), cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.created_at, &r.id),
        console::OrgRow::view,
    ))
}

/// `GET /api/admin/orgs/{org}`: the org, its settings and whether the service's keys serve it.
pub async fn org(ctx: Ctx, _: Operator) -> ApiResult<Response> {
    ok(&console::org(&ctx.db()?, ctx.param(0)).await?.view())
}

/// `GET /api/admin/orgs/{org}/members`: its members, oldest first.
pub async fn org_members(ctx: Ctx, op: Operator) -> ApiResult<Response> {
    let db = ctx.db()?;
    let scope = orgs::operator_scope(&db, ctx.param(0), &op.user_id).await?;
    let limit = page_limit(&ctx)?;
    let rows = orgs::members(&db, &scope, cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.joined_at, &r.user_id),
        orgs::MemberRow::view,
    ))
}

/// `null` (lift the budget) told apart from an absent field (leave it).
fn present<'de, D>(d: D) -> Result<Option<Option<i64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    crate::util::de_opt_integer(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgChange {
    /// The org's monthly token budget; `null` lifts it.
    #[serde(default, deserialize_with = "present")]
    monthly_token_limit: Option<Option<i64>>,
    /// Whether the service's provider keys serve the org.
    service_keys: Option<bool>,
}

/// `PATCH /api/admin/orgs/{org} {monthly_token_limit?, service_keys?}`: sets or lifts the
/// org's budget (its `settings.monthly_token_limit`, under the same rules as when its admins
/// set it), and whether the service's provider keys serve it.
pub async fn update_org(mut ctx: Ctx, op: Operator) -> ApiResult<Response> {
    let change: OrgChange = ctx.json(BODY_LIMIT).await?;
    if change.monthly_token_limit.is_none() && change.service_keys.is_none() {
        return Err(ApiError::validation(
            "send monthly_token_limit (a number of tokens, or null to lift it) or service_keys",
        ));
    }
    if let Some(limit) = change.monthly_token_limit {
        let settings = OrgSettings {
            monthly_token_limit: limit,
            ..OrgSettings::default()
        };
        settings
            .validate()
            .and_then(|()| {
                settings
                    .within_service_limits(ctx.cfg.api_key_rpm, ctx.cfg.default_monthly_token_limit)
            })
            .map_err(|e| ApiError::param("monthly_token_limit", e))?;
    }
    let db = ctx.db()?;
    let org_id = ctx.param(0).to_string();
    let before = console::org(&db, &org_id).await?;
    if let Some(limit) = change.monthly_token_limit {
        console::set_budget(&db, &org_id, limit).await?;
        crate::gateway::forget_org(&org_id);
        audit::record(
            &ctx,
            Entry::new(Action::AdminOrgBudgetChanged)
                .by(&op.user_id)
                .in_org(&org_id)
                .details(serde_json::json!({
                    "monthly_token_limit": limit,
                    "was": before.view().settings.monthly_token_limit,
                })),
        )
        .await;
    }
    if let Some(on) = change.service_keys {
        console::set_service_keys(&db, &org_id, on).await?;
        audit::record(
            &ctx,
            Entry::new(Action::AdminOrgServiceKeysChanged)
                .by(&op.user_id)
                .in_org(&org_id)
                .details(serde_json::json!({"service_keys": on, "was": before.service_keys != 0})),
        )
        .await;
    }
    ok(&console::org(&db, &org_id).await?.view())
}

// ---------------------------------------------------------------------------------------
// Usage and the audit log

/// `GET /api/admin/usage?from=&to=&group_by=day|org|model`: the whole service's usage, as
/// an org's (`GET /api/orgs/{org}/usage`) is.
pub async fn usage(ctx: Ctx, _: Operator) -> ApiResult<Response> {
    let group = GroupBy::parse(ctx.query_param("group_by").as_deref().unwrap_or("day"))
        .ok_or_else(|| ApiError::param("group_by", "group_by must be day, org or model"))?;
    let (from, to) = period(
        ctx.query_param("from").as_deref(),
        ctx.query_param("to").as_deref(),
        ctx.now,
    )?;
    let items = console::usage(&ctx.db()?, from, to, group).await?;
    ok(&Page {
        items,
        next_cursor: None,
    })
}

/// An instant of `?from=` / `?to=`.
fn instant(ctx: &Ctx, name: &'static str) -> ApiResult<Option<i64>> {
    ctx.query_param(name)
        .map(|raw| {
            parse_date_or_time(raw.trim()).ok_or_else(|| {
                ApiError::param(
                    name,
                    format!("{name} must be YYYY-MM-DD or an RFC 3339 time"),
                )
            })
        })
        .transpose()
}

/// An id of `?actor=` / `?org=`.
fn id_param(ctx: &Ctx, name: &'static str) -> ApiResult<Option<String>> {
    match ctx.query_param(name).map(|v| v.trim().to_string()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Err(ApiError::param(name, format!("{name} must be an id")))
        }
        other => Ok(other),
    }
}

/// `GET /api/admin/audit?type=&actor=&org=&from=&to=`: the whole audit log, newest first.
pub async fn audit_log(ctx: Ctx, _: Operator) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let kind = match ctx.query_param("type").map(|t| t.trim().to_string()) {
        Some(t) if t.is_empty() => None,
        Some(t) => Some(
            Action::ALL
                .iter()
                .find(|a| a.as_str() == t)
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| ApiError::param("type", "type must be an event type of the log"))?,
        ),
        None => None,
    };
    let filter = AuditFilter {
        kind,
        actor: id_param(&ctx, "actor")?,
        org: id_param(&ctx, "org")?,
        from: instant(&ctx, "from")?,
        to: instant(&ctx, "to")?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from >= to {
            return Err(ApiError::validation("from must be before to"));
        }
    }
    let rows = console::audit(&ctx.db()?, &filter, cursor(&ctx)?, limit + 1).await?;
    let next_cursor = (rows.len() > limit)
        .then(|| {
            rows.get(limit - 1)
                .map(|r| crate::http::encode_cursor(r.created_at, &r.id))
        })
        .flatten();
    ok(&Page {
        items: rows.iter().take(limit).map(|r| r.view(true)).collect(),
        next_cursor,
    })
}

// ---------------------------------------------------------------------------------------
// Signing keys

/// `POST /api/admin/signing-keys/rotate`: publishes a new signing key now (it signs
/// `signing::PUBLISH_AHEAD_MS` later, whatever the age of the keys before it); deletes the
/// keys whose tokens have all expired.
pub async fn rotate_signing_key(ctx: Ctx, op: Operator) -> ApiResult<Response> {
    let rotation = crate::auth::signing::rotate(&ctx.db()?, &ctx.cfg, ctx.now, 0).await?;
    audit::record(
        &ctx,
        Entry::new(Action::AdminSigningKeyRotated)
            .by(&op.user_id)
            .details(serde_json::json!({
                "published": rotation.published, "deleted": rotation.deleted,
            })),
    )
    .await;
    ok(&serde_json::json!({"published": rotation.published, "deleted": rotation.deleted}))
}
