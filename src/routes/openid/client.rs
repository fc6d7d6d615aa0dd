//! OAuth error responses, and the form body and client authentication of token and revocation.

use worker::Response;

use super::any_origin;
use crate::crypto::{b64_decode, ct_eq, sha256_hex};
use crate::error::ApiResult;
use crate::http::{json_response, Ctx, AUTH_BODY_LIMIT};
use crate::store::oauth::{self, ClientRow};

// --- The token endpoint's errors (RFC 6749 5.2) -------------------------------------------

/// An OAuth error response: `{error, error_description}` as JSON, never problem+json.
pub(super) struct OAuthError {
    pub(super) status: u16,
    pub(super) error: &'static str,
    pub(super) description: String,
    /// `WWW-Authenticate` to send (a failed Basic authentication, a bad bearer token).
    pub(super) challenge: Option<String>,
}

pub(super) fn oauth_error(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: 400,
        error,
        description: description.into(),
        challenge: None,
    }
}

impl OAuthError {
    pub(super) fn respond(self) -> ApiResult<Response> {
        let mut resp = json_response(
            self.status,
            &serde_json::json!({"error": self.error, "error_description": self.description}),
        )?;
        resp.headers_mut().set("pragma", "no-cache")?;
        if let Some(c) = self.challenge {
            resp.headers_mut().set("www-authenticate", &c)?;
        }
        any_origin(resp)
    }
}

/// A client's form request to the token or revocation endpoint: its parameters and the
/// client it authenticates as, or the OAuth error to answer with.
pub(super) async fn client_request(
    ctx: &mut Ctx,
) -> ApiResult<Result<(Vec<(String, String)>, ClientRow), OAuthError>> {
    let params = match form(ctx).await? {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    Ok(authenticate_client(ctx, &params)
        .await?
        .map(|c| (params, c)))
}

/// A form-encoded body (RFC 6749 3.2): its parameters, each at most once; empty ones are as
/// absent.
async fn form(ctx: &mut Ctx) -> ApiResult<Result<Vec<(String, String)>, OAuthError>> {
    let content_type = ctx.header("content-type").unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = ctx.body_bytes(AUTH_BODY_LIMIT).await?;
    if essence != "application/x-www-form-urlencoded" {
        return Ok(Err(oauth_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(&body) {
        if params.iter().any(|(have, _)| *have == k) {
            return Ok(Err(oauth_error(
                "invalid_request",
                format!(
                    "the parameter `{}` is repeated",
                    k.chars().take(40).collect::<String>()
                ),
            )));
        }
        if !v.is_empty() {
            params.push((k.into_owned(), v.into_owned()));
        }
    }
    Ok(Ok(params))
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The client of a token or revocation request, authenticated: `client_secret_basic`,
/// `client_secret_post`, or only its `client_id` for a public client (`none`).
async fn authenticate_client(
    ctx: &Ctx,
    params: &[(String, String)],
) -> ApiResult<Result<ClientRow, OAuthError>> {
    let basic = ctx.header("authorization").and_then(|h| {
        let (scheme, value) = h.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("basic")
            .then(|| value.trim().to_string())
    });
    let invalid = |why: &str, basic: bool| OAuthError {
        status: 401,
        error: "invalid_client",
        description: why.to_string(),
        challenge: basic.then(|| "Basic realm=\"chatgate\"".to_string()),
    };
    let (client_id, secret, used_basic) = match basic {
        Some(value) => {
            if param(params, "client_secret").is_some() {
                return Ok(Err(oauth_error(
                    "invalid_request",
                    "use one client authentication method, not two",
                )));
            }
            let decoded = b64_decode(&value)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    let (id, secret) = s.split_once(':')?;
                    Some((form_decode(id), form_decode(secret)))
                });
            let Some((id, secret)) = decoded else {
                return Ok(Err(invalid("the Basic credentials are malformed", true)));
            };
            if param(params, "client_id").is_some_and(|c| c != id) {
                return Ok(Err(oauth_error(
                    "invalid_request",
                    "client_id differs from the Basic credentials'",
                )));
            }
            (id, Some(secret), true)
        }
        None => {
            let Some(id) = param(params, "client_id") else {
                return Ok(Err(invalid("client authentication is required", false)));
            };
            (
                id.to_string(),
                param(params, "client_secret").map(str::to_string),
                false,
            )
        }
    };
    let Some(client) = oauth::client(&ctx.db()?, &client_id).await? else {
        return Ok(Err(invalid("unknown client", used_basic)));
    };
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) => {
            if !ct_eq(sha256_hex(secret.as_bytes()).as_bytes(), hash.as_bytes()) {
                return Ok(Err(invalid("the client secret is wrong", used_basic)));
            }
        }
        (Some(_), None) => {
            return Ok(Err(invalid(
                "this client must authenticate with its secret",
                used_basic,
            )))
        }
        (None, Some(_)) => return Ok(Err(invalid("a public client has no secret", used_basic))),
        (None, None) => {}
    }
    Ok(Ok(client))
}

/// A part of `client_id:client_secret` in Basic credentials, form-decoded (RFC 6749 2.3.1).
fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
        assert_eq!(form_decode("cgc_123"), "cgc_123");
    }
}
