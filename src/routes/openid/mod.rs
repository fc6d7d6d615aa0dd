//! chatgate as an OpenID Provider: discovery, the consent decision of the web client's
//! authorization page, the token, userinfo and revocation endpoints, RP-initiated logout, and
//! the user's list of connected apps. The authorization code flow only (OpenID Connect Core
//! 3.1; RFC 6749 4.1, RFC 7636 PKCE, RFC 7009 revocation, OpenID Connect RP-Initiated Logout).
//!
//! `sub` is the user's id (the same for every client). The pages `/oauth/authorize` and
//! `/oauth/logout` are the web client's (it signs the user in first); they call
//! `POST /api/oauth/authorize` and `POST /api/oauth/logout` here.

use worker::Response;

use crate::auth::tokens;
use crate::domain::oauth_client::SCOPES;
use crate::error::ApiResult;
use crate::http::{ok, Ctx};

mod authorize;
mod client;
mod grants;
mod token;

pub use authorize::authorize;
pub use grants::{grants, logout, revoke, revoke_grant, userinfo};
pub use token::token;

/// A sign-in counts as fresh (for `prompt=login` and a small `max_age`) this long: the time
/// to sign in and read the consent page.
pub const FRESH_SIGN_IN_MS: i64 = 10 * 60 * 1000;
const MAX_STATE_LEN: usize = 2048;
const MAX_NONCE_LEN: usize = 512;

/// The issuer: `PUBLIC_URL`, else the origin the request came to.
fn issuer(ctx: &Ctx) -> String {
    crate::email::public_origin(ctx)
}

/// Any origin may call the endpoints a relying party calls from a browser (discovery, token,
/// userinfo, revocation): they take no cookie, only what the request itself carries.
fn any_origin(mut resp: Response) -> ApiResult<Response> {
    resp.headers_mut().set("access-control-allow-origin", "*")?;
    Ok(resp)
}

/// The CORS preflight of `GET /oauth/userinfo` (its `Authorization` header needs one).
pub async fn userinfo_preflight(_ctx: Ctx) -> ApiResult<Response> {
    let mut resp = Response::builder().with_status(204).empty();
    let headers = resp.headers_mut();
    headers.set("access-control-allow-origin", "*")?;
    headers.set("access-control-allow-methods", "GET")?;
    headers.set("access-control-allow-headers", "authorization")?;
    headers.set("access-control-max-age", "600")?;
    Ok(resp)
}

// --- Discovery ---------------------------------------------------------------------------

pub async fn configuration(ctx: Ctx) -> ApiResult<Response> {
    let iss = issuer(&ctx);
    let mut resp = ok(&serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [tokens::ACCESS_TOKEN_ALG],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
                             "email", "email_verified", "name", "organization"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))?;
    resp.headers_mut()
        .set("cache-control", "public, max-age=600")?;
    any_origin(resp)
}
