//! Issued API keys: shown once at creation, then only their prefix. A key acts as its
//! creator inside one org, and only while the creator still belongs to it.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::domain::DisplayName;
use crate::error::{ApiError, ApiResult};
use crate::http::{created, no_content, ok, page_limit, Ctx, BODY_LIMIT};
use crate::routes::audit;
use crate::routes::orgs::{cursor, page, scope};
use crate::store::audit::{key_facts, Action, Entry};
use crate::store::keys;
use crate::store::orgs::Role;
use crate::util::{new_id, parse_rfc3339, rfc3339};
use crate::webhooks::{self, EventType};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    org_id: String,
    expires_at: Option<String>,
    scopes: Option<Vec<String>>,
}

/// The key in clear: this response is the only place it ever appears.
#[derive(Serialize)]
struct CreatedKey {
    id: String,
    name: String,
    key: String,
    prefix: String,
    org_id: String,
    created_at: String,
    expires_at: Option<String>,
    scopes: Vec<String>,
}

/// An expiry: RFC 3339, in the future.
fn expiry(raw: Option<&str>, now: i64) -> ApiResult<Option<i64>> {
    let Some(raw) = raw else { return Ok(None) };
    let at = parse_rfc3339(raw)
        .ok_or_else(|| ApiError::validation("expires_at must be an RFC 3339 time"))?;
    if at <= now {
        return Err(ApiError::validation("expires_at must be in the future"));
    }
    Ok(Some(at))
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: CreateKey = ctx.json(BODY_LIMIT).await?;
    let name = DisplayName::parse(&body.name, "name").map_err(ApiError::Validation)?;
    let expires_at = expiry(body.expires_at.as_deref(), ctx.now)?;
    let scopes = keys::parse_scopes(body.scopes.as_deref()).map_err(ApiError::Validation)?;
    let db = ctx.db()?;
    let scope = crate::auth::sso::scope(&db, &body.org_id, &who).await?;
    let key = keys::generate().map_err(ApiError::internal)?;
    let id = new_id("key");
    let new = keys::NewKey {
        id: &id,
        name: name.as_str(),
        key: &key,
        scopes: &scopes,
        created_at: ctx.now,
        expires_at,
    };
    let cap = ctx.cfg.max_api_keys_per_user_per_org;
    if !keys::insert(&db, &scope, &new, cap).await? {
        return Err(ApiError::Conflict(format!(
            "you already have {cap} API keys in this organization, the most allowed: delete one first"
        )));
    }
    let facts = serde_json::json!({
        "key_id": id, "name": name.as_str(), "prefix": keys::display_prefix(&key),
        "user_id": who.user_id, "scopes": scopes,
    });
    audit::record(
        &ctx,
        Entry::new(Action::KeyCreated)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(facts.clone()),
    )
    .await;
    webhooks::emit(&ctx, &scope.org_id, EventType::KeyCreated, facts).await;
    created(&CreatedKey {
        prefix: keys::display_prefix(&key),
        id,
        name: name.as_str().to_string(),
        key,
        org_id: scope.org_id,
        created_at: rfc3339(ctx.now),
        expires_at: expires_at.map(rfc3339),
        scopes,
    })
}

pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let rows = keys::of_user(&ctx.db()?, &who.user_id, cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.created_at, &r.id),
        |r| r.view(false),
    ))
}

/// Deletes one of the caller's keys, or any key of an org where the caller is an admin or
/// owner. It stops working at once: every use looks the key up in D1.
pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    // What the audit log and the webhook say about the key, read while it still exists.
    let key = key_facts(&ctx.db()?, ctx.param(0)).await?;
    if !keys::delete(&ctx.db()?, ctx.param(0), &who.user_id).await? {
        return Err(ApiError::NotFound);
    }
    // What this isolate read of it goes too (the next use would look it up anyway).
    crate::auth::guard::forget_keys(None, Some(ctx.param(0)));
    if let Some(k) = key {
        let facts = serde_json::json!({
            "key_id": ctx.param(0), "name": k.name, "prefix": k.prefix,
            "user_id": k.user_id, "revoked_by": who.user_id,
        });
        audit::record(
            &ctx,
            Entry::new(Action::KeyRevoked)
                .by(&who.user_id)
                .on(&k.user_id)
                .in_org(&k.org_id)
                .details(facts.clone()),
        )
        .await;
        webhooks::emit(&ctx, &k.org_id, EventType::KeyRevoked, facts).await;
    }
    no_content()
}

pub async fn list_org(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let limit = page_limit(&ctx)?;
    let rows = keys::in_org(&ctx.db()?, &scope, cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.created_at, &r.id),
        |r| r.view(true),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_must_be_a_future_rfc3339_time() {
        let now = 1_767_323_045_678; // 2026-01-02T03:04:05.678Z
        assert_eq!(expiry(None, now).unwrap(), None);
        assert_eq!(
            expiry(Some("2026-01-03T00:00:00Z"), now).unwrap(),
            Some(1_767_398_400_000)
        );
        assert_eq!(
            expiry(Some("2026-01-03T01:00:00+01:00"), now).unwrap(),
            Some(1_767_398_400_000)
        );
        for bad in [
            "2026-01-01T00:00:00Z",
            "2026-01-02T03:04:05.678Z",
            "tomorrow",
            "2026-01-03",
            "",
        ] {
            assert!(expiry(Some(bad), now).is_err(), "{bad}");
        }
    }
}
