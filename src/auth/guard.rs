//! The request guard: turns a bearer credential into a principal, or a 401.

use crate::auth::tokens::{TokenError, TokenKeys};
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;
use crate::routes::Access;
use crate::store;

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
    TokenKeys::new(&ctx.cfg.jwt_secret, &ctx.cfg.jwt_issuer, &ctx.cfg.jwt_audience)
}

pub async fn authenticate(ctx: &Ctx, access: Access) -> ApiResult<Principal> {
    let token = bearer(ctx).ok_or(ApiError::Unauthorized("a bearer token is required"))?;
    if token.starts_with(crate::store::keys::KEY_PREFIX) {
        if access != Access::UserOrKey {
            return Err(ApiError::Unauthorized("API keys cannot be used on this route"));
        }
        let db = ctx.db()?;
        let key = store::keys::authenticate(&db, &token, ctx.now).await?;
        return Ok(Principal { user_id: key.user_id.clone(), session_id: None, api_key: Some(key) });
    }
    let claims = token_keys(ctx).verify(&token, ctx.now as u64 / 1000).map_err(|e| match e {
        TokenError::Expired => ApiError::TokenExpired,
        TokenError::Invalid => ApiError::Unauthorized("the access token is not valid"),
    })?;
    // Revocation takes effect at once: the session must still be live in D1.
    let db = ctx.db()?;
    if !store::sessions::touch_if_live(&db, &claims.session_id, &claims.user_id, ctx.now).await? {
        return Err(ApiError::Unauthorized("the session has ended"));
    }
    Ok(Principal { user_id: claims.user_id, session_id: Some(claims.session_id), api_key: None })
}
