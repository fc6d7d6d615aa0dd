//! The request guard: turns a bearer credential into a principal, or a 401.

use crate::auth::signing;
use crate::auth::tokens::{self, AccessToken, TokenError, TokenKeys};
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;
use crate::store;

/// Which credentials a route accepts (each route of the table declares one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// An access token (a person's session).
    User,
    /// An access token or an issued API key.
    UserOrKey,
}

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    /// The session of an access token; `None` for an API key.
    pub session_id: Option<String>,
    /// Set when the caller authenticated with an issued API key.
    pub api_key: Option<store::keys::KeyAuth>,
}

/// The bearer credential of a request. Never read from the query string.
pub fn bearer(ctx: &Ctx) -> Option<String> {
    let header = ctx.header("authorization")?;
    let (scheme, value) = header.trim().split_once(' ')?;
    let value = value.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !value.is_empty()).then(|| value.to_string())
}

pub fn token_keys(ctx: &Ctx) -> TokenKeys {
    TokenKeys::new(&ctx.cfg.jwt_issuer, &ctx.cfg.jwt_audience)
}

/// Signs an access token for `session_id`, issued at `now_ms`, with the current signing key.
pub async fn issue_access_token(
    ctx: &Ctx,
    user_id: &str,
    session_id: &str,
    now_ms: i64,
) -> ApiResult<String> {
    let key = signing::signing_key(&ctx.db()?, &ctx.cfg, ctx.now).await?;
    token_keys(ctx)
        .issue(&key, user_id, session_id, now_ms as u64 / 1000)
        .map_err(ApiError::internal)
}

/// Verifies an access token: ES256 under one of our published keys (its kid), else 401.
async fn verify_access_token(ctx: &Ctx, token: &str) -> ApiResult<AccessToken> {
    let now_secs = ctx.now as u64 / 1000;
    // Seen before, unexpired, and its key still ours: no signature check again.
    if let Some((verified, kid)) = tokens::remembered(token, now_secs) {
        if signing::holds(&kid, ctx.now) {
            return Ok(verified);
        }
    }
    let invalid = || ApiError::Unauthorized("the access token is not valid");
    let kid = tokens::key_id(token).map_err(|_| invalid())?;
    let key = signing::verifying_key(&ctx.db()?, &kid, ctx.now)
        .await?
        .ok_or_else(invalid)?;
    let verified = token_keys(ctx)
        .verify(&key, token, now_secs)
        .map_err(|e| match e {
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Invalid => ApiError::Unauthorized("the access token is not valid"),
        })?;
    tokens::remember(token, &kid, &verified, now_secs);
    Ok(verified)
}

/// The credential of a request: `Authorization: Bearer …`, else `x-api-key` (where
/// Anthropic's clients send their key). Either holds an API key or an access token.
pub fn credential(ctx: &Ctx) -> Option<String> {
    bearer(ctx).or_else(|| api_key_header(ctx.header("x-api-key").as_deref()))
}

fn api_key_header(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

pub async fn authenticate(ctx: &Ctx, access: Access) -> ApiResult<Principal> {
    let token = credential(ctx).ok_or(ApiError::Unauthorized(
        "a bearer token (or x-api-key) is required",
    ))?;
    if token.starts_with(crate::store::keys::KEY_PREFIX) {
        if access != Access::UserOrKey {
            return Err(ApiError::Unauthorized(
                "API keys cannot be used on this route",
            ));
        }
        let db = ctx.db()?;
        let key = store::keys::authenticate(&db, &token, ctx.now).await?;
        if let Some(scope) = required_scope(&ctx.req.path()) {
            if !key.has_scope(scope) {
                return Err(ApiError::Forbidden(missing_scope_detail(scope)));
            }
        }
        return Ok(Principal {
            user_id: key.user_id.clone(),
            session_id: None,
            api_key: Some(key),
        });
    }
    let claims = verify_access_token(ctx, &token).await?;
    // Revocation takes effect at once: the session must still be live in D1.
    let db = ctx.db()?;
    if !store::sessions::touch_if_live(&db, &claims.session_id, &claims.user_id, ctx.now).await? {
        return Err(ApiError::Unauthorized("the session has ended"));
    }
    Ok(Principal {
        user_id: claims.user_id,
        session_id: Some(claims.session_id),
        api_key: None,
    })
}

/// The scope an API key needs for a path: `conversations` for `/api/conversations…`, `chat`
/// for the OpenAI-compatible `/v1…`. Other routes that accept keys need no scope.
pub fn required_scope(path: &str) -> Option<&'static str> {
    let under = |root: &str| {
        path == root
            || path
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("/api/conversations") {
        Some("conversations")
    } else if under("/v1") {
        Some("chat")
    } else {
        None
    }
}

fn missing_scope_detail(scope: &str) -> &'static str {
    match scope {
        "conversations" => "this API key lacks the `conversations` scope",
        "chat" => "this API key lacks the `chat` scope",
        _ => "this API key lacks the scope this route needs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_x_api_key_header_is_a_credential_when_not_blank() {
        assert_eq!(api_key_header(Some(" cg_abc ")).as_deref(), Some("cg_abc"));
        assert_eq!(api_key_header(Some("  ")), None);
        assert_eq!(api_key_header(None), None);
    }

    #[test]
    fn each_key_route_needs_its_scope() {
        for (path, want) in [
            ("/api/conversations", Some("conversations")),
            ("/api/conversations/cnv_1/messages", Some("conversations")),
            ("/api/conversationsx", None),
            ("/v1/chat/completions", Some("chat")),
            ("/v1/models", Some("chat")),
            ("/v1", Some("chat")),
            ("/v10/models", None),
            ("/api/me", None),
        ] {
            assert_eq!(required_scope(path), want, "{path}");
        }
    }
}
