//! Userinfo, revocation, RP-initiated logout, and the user's list of connected apps.

use serde::Deserialize;
use worker::Response;

use super::authorize::{at_most, with_params};
use super::client::{client_request, oauth_error, param, OAuthError};
use super::token::{still_allowed, user_claims};
use super::{any_origin, issuer, MAX_STATE_LEN};
use crate::auth::guard::{self, Principal};
use crate::auth::openid;
use crate::auth::signing;
use crate::auth::tokens::{self, TokenError};
use crate::crypto::sha256_hex;
use crate::error::{ApiError, ApiResult};
use crate::http::{no_content, ok, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::oauth::{self, ClientRow};

// --- GET /oauth/userinfo ------------------------------------------------------------------

fn bearer_error(description: &str) -> OAuthError {
    OAuthError {
        status: 401,
        error: "invalid_token",
        description: description.to_string(),
        challenge: Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{description}\""
        )),
    }
}

/// A client's access token from `Authorization: Bearer`, verified and its grant live.
async fn client_access(ctx: &Ctx) -> ApiResult<Result<(oauth::GrantRow, ClientRow), OAuthError>> {
    let Some(token) = guard::bearer(ctx) else {
        return Ok(Err(OAuthError {
            status: 401,
            error: "invalid_request",
            description: "a bearer access token is required".into(),
            challenge: Some("Bearer".into()),
        }));
    };
    let db = ctx.db()?;
    let Ok(kid) = tokens::key_id(&token) else {
        return Ok(Err(bearer_error("the access token is not valid")));
    };
    let Some(key) = signing::verifying_key(&db, &kid, ctx.now).await? else {
        return Ok(Err(bearer_error("the access token is not valid")));
    };
    let access = match openid::verify_access(&key, &issuer(ctx), &token, ctx.now as u64 / 1000) {
        Ok(a) => a,
        Err(TokenError::Expired) => return Ok(Err(bearer_error("the access token has expired"))),
        Err(TokenError::Invalid) => return Ok(Err(bearer_error("the access token is not valid"))),
    };
    let Some(grant) =
        oauth::live_grant(&db, &access.session_id, &access.client_id, ctx.now).await?
    else {
        return Ok(Err(bearer_error("the grant has been revoked")));
    };
    let Some(client) = oauth::client(&db, &access.client_id).await? else {
        return Ok(Err(bearer_error("the client has been deleted")));
    };
    if let Err(e) = still_allowed(&db, &client, &grant.user_id).await? {
        return Ok(Err(bearer_error(&e.description)));
    }
    Ok(Ok((
        oauth::GrantRow {
            scope: access.scope,
            ..grant
        },
        client,
    )))
}

pub async fn userinfo(ctx: Ctx) -> ApiResult<Response> {
    let (grant, client) = match client_access(&ctx).await? {
        Ok(g) => g,
        Err(e) => return e.respond(),
    };
    let mut claims = user_claims(&ctx.db()?, &client, &grant.user_id, &grant.scope).await?;
    claims.insert("sub".into(), serde_json::json!(grant.user_id));
    any_origin(ok(&serde_json::Value::Object(claims))?)
}

// --- POST /oauth/revoke (RFC 7009) --------------------------------------------------------

pub async fn revoke(mut ctx: Ctx) -> ApiResult<Response> {
    let (params, client) = match client_request(&mut ctx).await? {
        Ok(request) => request,
        Err(e) => return e.respond(),
    };
    let Some(token) = param(&params, "token") else {
        return oauth_error("invalid_request", "token is required").respond();
    };
    let db = ctx.db()?;
    // An access token (a JWT) or a refresh token: either ends the grant it belongs to, when
    // that grant is this client's. Anything else is answered the same (2.2).
    let grant = match tokens::key_id(token) {
        Ok(kid) => match signing::verifying_key(&db, &kid, ctx.now).await? {
            Some(key) => openid::verify_access(&key, &issuer(&ctx), token, ctx.now as u64 / 1000)
                .ok()
                .filter(|a| a.client_id == client.id)
                .map(|a| a.session_id),
            None => None,
        },
        Err(_) => oauth::grant_of_refresh(&db, &sha256_hex(token.as_bytes()), &client.id).await?,
    };
    if let Some(sid) = grant {
        oauth::revoke_grant(&db, &sid, &client.id, ctx.now).await?;
    }
    let mut resp = Response::builder().with_status(200).empty();
    resp.headers_mut().set("cache-control", "no-store")?;
    any_origin(resp)
}

// --- RP-initiated logout (POST /api/oauth/logout, for the page at /oauth/logout) ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// Checks an RP-initiated logout request: where to send the browser once the page has signed
/// the user out (`redirect_to`, null when nowhere), and the app's name for the page.
pub async fn logout(mut ctx: Ctx) -> ApiResult<Response> {
    let body: LogoutBody = ctx.json(AUTH_BODY_LIMIT).await?;
    for (field, value, max) in [
        ("id_token_hint", body.id_token_hint.as_deref(), 8192),
        ("client_id", body.client_id.as_deref(), 200),
        (
            "post_logout_redirect_uri",
            body.post_logout_redirect_uri.as_deref(),
            2048,
        ),
        ("state", body.state.as_deref(), MAX_STATE_LEN),
    ] {
        at_most(field, value, max)?;
    }
    let db = ctx.db()?;
    let empty = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
    let mut client_id = empty(&body.client_id);
    if let Some(hint) = empty(&body.id_token_hint) {
        let invalid = || {
            ApiError::param(
                "id_token_hint",
                "id_token_hint: not an ID token of this server",
            )
        };
        let kid = tokens::key_id(&hint).map_err(|_| invalid())?;
        let key = signing::verifying_key(&db, &kid, ctx.now)
            .await?
            .ok_or_else(invalid)?;
        let (_, audience) =
            openid::verify_id_token_hint(&key, &issuer(&ctx), &hint, ctx.now as u64 / 1000)
                .map_err(|_| invalid())?;
        if client_id.as_ref().is_some_and(|c| *c != audience) {
            return Err(ApiError::param(
                "client_id",
                "client_id differs from the id_token_hint's audience",
            ));
        }
        client_id = Some(audience);
    }
    let client = match &client_id {
        Some(id) => Some(
            oauth::client(&db, id)
                .await?
                .ok_or_else(|| ApiError::param("client_id", "client_id: no such OAuth client"))?,
        ),
        None => None,
    };
    let redirect_to = match empty(&body.post_logout_redirect_uri) {
        None => None,
        Some(uri) => {
            let Some(client) = &client else {
                return Err(ApiError::param(
                    "post_logout_redirect_uri",
                    "post_logout_redirect_uri needs id_token_hint or client_id to say whose it is",
                ));
            };
            if !client.post_logout_redirect_uris().contains(&uri) {
                return Err(ApiError::param(
                    "post_logout_redirect_uri",
                    "post_logout_redirect_uri: not one the client registered (compared exactly)",
                ));
            }
            let state = empty(&body.state);
            let pairs: Vec<(&str, &str)> = state.iter().map(|s| ("state", s.as_str())).collect();
            Some(with_params(&uri, &pairs)?)
        }
    };
    ok(&serde_json::json!({
        "redirect_to": redirect_to,
        "client_name": client.map(|c| c.name),
    }))
}

// --- Connected apps (GET/DELETE /api/me/oauth-grants) ---------------------------------------

pub async fn grants(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let rows = oauth::consents_of(&ctx.db()?, &who.user_id).await?;
    ok(&serde_json::json!({
        "items": rows.iter().map(oauth::ConsentRow::view).collect::<Vec<_>>(),
    }))
}

pub async fn revoke_grant(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let client_id = ctx.param(0).to_string();
    if !oauth::revoke_consent(&ctx.db()?, &who.user_id, &client_id, ctx.now).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &ctx,
        Entry::new(Action::OAuthConsentRevoked)
            .by(&who.user_id)
            .details(serde_json::json!({"client_id": client_id})),
    )
    .await;
    no_content()
}
