//! An org's webhook endpoint (admin+) and its deliveries.

use serde::Deserialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::domain::outbound::{self, AllowedHosts};
use crate::domain::settings::Feature;
use crate::error::{ApiError, ApiResult};
use crate::http::{decode_cursor, no_content, ok, page_limit, Ctx, BODY_LIMIT};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::orgs::{self, OrgScope, Role};
use crate::store::webhooks::{self, NewEndpoint};
use crate::webhooks::{self as delivery, EventType, ORG_EVENTS};

pub const MIN_SECRET_CHARS: usize = 16;
pub const MAX_SECRET_CHARS: usize = 256;
pub const MAX_URL_CHARS: usize = 2048;

/// The caller's admin scope of the org in the first path parameter (404 to outsiders,
/// 403 to members, 403 `feature_disabled` while the org has webhooks off).
async fn admin_scope(ctx: &Ctx, who: &Principal) -> ApiResult<OrgScope> {
    let db = ctx.db()?;
    let scope = crate::auth::sso::scope(&db, ctx.param(0), who).await?;
    scope.require(Role::Admin)?;
    orgs::require_feature(&db, &scope.org_id, Feature::Webhooks).await?;
    Ok(scope)
}

/// A delivery URL: one the outbound rule allows (`domain::outbound`: https to a public host,
/// plain http only to a host the operator lists), with no fragment. Kept in canonical form.
fn endpoint_url(raw: &str, allowed: &AllowedHosts) -> ApiResult<String> {
    let bad = |why: &dyn std::fmt::Display| ApiError::validation(format!("url {why}"));
    if raw.len() > MAX_URL_CHARS {
        return Err(bad(&"is too long"));
    }
    let url = outbound::check(raw, allowed).map_err(|e| bad(&e))?;
    if url.fragment().is_some() {
        return Err(bad(&"must not have a fragment"));
    }
    Ok(url.to_string())
}

fn signing_secret(raw: &str) -> ApiResult<&str> {
    let chars = raw.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars) || raw.chars().any(char::is_control)
    {
        return Err(ApiError::validation(format!(
            "secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} printable characters"
        )));
    }
    Ok(raw)
}

/// The subscribed events: known org events, at least one, duplicates dropped.
fn event_list(raw: &[String]) -> ApiResult<Vec<String>> {
    let mut events: Vec<String> = Vec::new();
    for name in raw {
        let event = EventType::parse_org_event(name).ok_or_else(|| {
            ApiError::validation(format!(
                "events: unknown event `{}` (known: {})",
                name.chars().take(64).collect::<String>(),
                ORG_EVENTS.map(EventType::as_str).join(", ")
            ))
        })?;
        if !events.iter().any(|e| e == event.as_str()) {
            events.push(event.as_str().to_string());
        }
    }
    if events.is_empty() {
        return Err(ApiError::validation("events must name at least one event"));
    }
    Ok(events)
}

pub async fn get(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = admin_scope(&ctx, &who).await?;
    let view = webhooks::view(&ctx.db()?, &scope.org_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    ok(&view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutWebhook {
    url: String,
    secret: String,
    events: Vec<String>,
}

pub async fn put(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = admin_scope(&ctx, &who).await?;
    let body: PutWebhook = ctx.json(BODY_LIMIT).await?;
    let url = endpoint_url(&body.url, &ctx.cfg.webhook_insecure_hosts)?;
    let secret = signing_secret(&body.secret)?;
    let events = event_list(&body.events)?;
    let db = ctx.db()?;
    webhooks::put(
        &db,
        &ctx.cfg,
        &scope.org_id,
        &NewEndpoint {
            url: &url,
            secret,
            events: &events,
        },
        ctx.now,
    )
    .await?;
    audit::record(
        &ctx,
        Entry::new(Action::OrgSettingsChanged)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(serde_json::json!({"webhook": "set", "url": url, "events": events})),
    )
    .await;
    let view = webhooks::view(&db, &scope.org_id)
        .await?
        .ok_or_else(|| ApiError::internal("the webhook just stored is missing"))?;
    ok(&view)
}

pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = admin_scope(&ctx, &who).await?;
    if !webhooks::delete(&ctx.db()?, &scope.org_id).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &ctx,
        Entry::new(Action::OrgSettingsChanged)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(serde_json::json!({"webhook": "deleted"})),
    )
    .await;
    no_content()
}

pub async fn deliveries(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = admin_scope(&ctx, &who).await?;
    let limit = page_limit(&ctx)?;
    let cursor = ctx.query_param("cursor");
    if let Some(c) = &cursor {
        decode_cursor(c)?;
    }
    delivery::deliveries(&ctx, &scope.org_id, limit, cursor.as_deref()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_follow_the_outbound_rule() {
        let none = AllowedHosts::default();
        let local = AllowedHosts::parse("127.0.0.1").unwrap();
        for (raw, allowed, want) in [
            (
                "https://hooks.example.com/chatgate",
                &none,
                Some("https://hooks.example.com/chatgate"),
            ),
            (
                "https://Hooks.Example.com:8443/x?y=1",
                &none,
                Some("https://hooks.example.com:8443/x?y=1"),
            ),
            (
                "http://127.1:9000/hook",
                &local,
                Some("http://127.0.0.1:9000/hook"),
            ),
            ("http://127.0.0.1:9000/hook", &none, None),
            ("https://127.0.0.1:9000/hook", &none, None),
            ("http://localhost/hook", &none, None),
            ("https://[::1]:9000/", &none, None),
            ("https://169.254.169.254/", &none, None),
            ("https://metadata.google.internal/", &none, None),
            ("http://hooks.example.com/", &none, None),
            ("ftp://hooks.example.com/", &none, None),
            ("https://user:pw@hooks.example.com/", &none, None),
            ("https://hooks.example.com/#frag", &none, None),
            ("/relative", &none, None),
            ("", &none, None),
        ] {
            assert_eq!(endpoint_url(raw, allowed).ok().as_deref(), want, "{raw}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(endpoint_url(&long, &none).is_err());
    }

    #[test]
    fn secrets_are_sixteen_to_256_characters() {
        assert!(signing_secret(&"s".repeat(15)).is_err());
        assert!(signing_secret(&"s".repeat(16)).is_ok());
        assert!(signing_secret(&"s".repeat(256)).is_ok());
        assert!(signing_secret(&"s".repeat(257)).is_err());
        assert!(signing_secret("sixteen chars\nxx").is_err());
    }

    #[test]
    fn events_must_be_known_org_events() {
        let list = |v: &[&str]| event_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            list(&["key.created", "member.joined", "key.created"]).unwrap(),
            ["key.created", "member.joined"]
        );
        assert!(list(&[]).is_err());
        assert!(list(&["user.registered"]).is_err());
        assert!(list(&["key.*"]).is_err());
    }
}
