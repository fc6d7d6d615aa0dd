//! The audit log: recording security events, and reading them (one's own, or an org's).

use worker::Response;

use crate::auth::guard::Principal;
use crate::error::ApiResult;
use crate::http::{decode_cursor, encode_cursor, ok, page_limit, Ctx, Page};
use crate::store::audit::{self, AuditRow, Entry, Origin};
use crate::store::orgs::Role;
use crate::util::new_id;

/// Records a security event with the request's address and user agent. Never fails the
/// request: an event that cannot be written is logged instead. (Events past the 90-day
/// retention are deleted by the scheduled upkeep.)
pub async fn record(ctx: &Ctx, entry: Entry) {
    let from = Origin {
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
        now: ctx.now,
    };
    let result = async { audit::insert(&ctx.db()?, &new_id("aud"), &entry, &from).await }.await;
    if let Err(e) = result {
        worker::console_error!(
            "{}",
            serde_json::json!({
                "request_id": ctx.request_id,
                "error": "audit_record_failed",
                "event": entry.action.as_str(),
                "context": e.log_context().unwrap_or(e.code()),
            })
        );
    }
}

fn cursor(ctx: &Ctx) -> ApiResult<Option<(i64, String)>> {
    ctx.query_param("cursor")
        .map(|c| decode_cursor(&c))
        .transpose()
}

/// A page from `limit + 1` rows (the extra one only says that there is more).
fn page(
    rows: Vec<AuditRow>,
    limit: usize,
    show_origin: impl Fn(&AuditRow) -> bool,
) -> Page<audit::AuditView> {
    let next_cursor = (rows.len() > limit)
        .then(|| {
            rows.get(limit - 1)
                .map(|r| encode_cursor(r.created_at, &r.id))
        })
        .flatten();
    Page {
        items: rows
            .iter()
            .take(limit)
            .map(|r| r.view(show_origin(r)))
            .collect(),
        next_cursor,
    }
}

/// The caller's own events: those they did, and those done to their account. Where someone
/// else acted (an admin changing their role), that person's address and user agent are
/// not shown; an unauthenticated attempt on the account (a failed login) shows its address.
pub async fn mine(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let rows = audit::of_user(&ctx.db()?, &who.user_id, cursor(&ctx)?, limit + 1).await?;
    let me = who.user_id.as_str();
    ok(&page(rows, limit, |r| {
        r.actor_id.as_deref().is_none_or(|a| a == me)
    }))
}

/// An org's events (admin+).
pub async fn org(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let scope = crate::auth::sso::scope(&db, ctx.param(0), &who).await?;
    scope.require(Role::Admin)?;
    let limit = page_limit(&ctx)?;
    let rows = audit::of_org(&db, &scope.org_id, cursor(&ctx)?, limit + 1).await?;
    ok(&page(rows, limit, |_| true))
}
