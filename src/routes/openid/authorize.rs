//! The consent decision of the web client's authorization page (`POST /api/oauth/authorize`).

use serde::Deserialize;
use worker::Response;

use super::{FRESH_SIGN_IN_MS, MAX_NONCE_LEN, MAX_STATE_LEN};
use crate::auth::guard::{self, Principal};
use crate::crypto::{random_token, sha256_hex};
use crate::domain::oauth_client::{covers, is_s256_challenge, requested_scopes, SCOPES};
use crate::error::{ApiError, ApiResult};
use crate::http::{ok, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::oauth::{self, ClientRow, CodeRow, CODE_TTL_MS};
use crate::store::sessions;

// --- The consent decision (POST /api/oauth/authorize) -------------------------------------

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Decision {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    client_id: String,
    redirect_uri: String,
    response_type: Option<String>,
    response_mode: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    /// Seconds, as the query string has it (a string) or as a number.
    max_age: Option<serde_json::Value>,
    decision: Option<Decision>,
}

#[derive(Default, Debug, PartialEq)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

/// `prompt` (Core 3.1.2.1): space-separated `none`, `login`, `consent`, `select_account`
/// (which chatgate, with one account per browser, takes as nothing); `none` alone.
fn parse_prompt(raw: Option<&str>) -> Result<Prompt, &'static str> {
    let mut p = Prompt::default();
    let values: Vec<&str> = raw
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
        .collect();
    for v in &values {
        match *v {
            "none" => p.none = true,
            "login" => p.login = true,
            "consent" => p.consent = true,
            "select_account" => {}
            _ => return Err("prompt: unknown value"),
        }
    }
    if p.none && values.len() > 1 {
        return Err("prompt: `none` cannot be combined with other values");
    }
    Ok(p)
}

fn parse_max_age(raw: Option<&serde_json::Value>) -> Result<Option<i64>, &'static str> {
    let bad = "max_age must be a non-negative integer (seconds)";
    match raw {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_i64().filter(|v| *v >= 0).map(Some).ok_or(bad),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s))
            if s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i64>().map(Some).map_err(|_| bad)
        }
        _ => Err(bad),
    }
}

/// Whether a sign-in at `auth_time` is too old for `max_age` seconds (`prompt=login` is 0);
/// any sign-in within `FRESH_SIGN_IN_MS` is fresh enough.
fn too_old(auth_time: i64, max_age_secs: Option<i64>, now: i64) -> bool {
    match max_age_secs {
        None => false,
        Some(secs) => now - auth_time > secs.saturating_mul(1000).max(FRESH_SIGN_IN_MS),
    }
}

/// `uri` with `pairs` added to its query.
pub(super) fn with_params(uri: &str, pairs: &[(&str, &str)]) -> ApiResult<String> {
    let mut url = worker::Url::parse(uri)
        .map_err(|_| ApiError::internal("a registered redirect URI does not parse"))?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(url.to_string())
}

/// The answer that sends the browser back to the client with an error (RFC 6749 4.1.2.1).
fn redirect_error(
    uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> ApiResult<Response> {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    ok(&serde_json::json!({ "redirect_to": with_params(uri, &pairs)? }))
}

/// 400 when `value` is longer than `max` bytes (the limits the OpenAPI document states).
pub(super) fn at_most(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    if value.is_some_and(|v| v.len() > max) {
        return Err(ApiError::param(
            field,
            format!("{field}: at most {max} characters"),
        ));
    }
    Ok(())
}

pub async fn authorize(mut ctx: Ctx) -> ApiResult<Response> {
    let body: AuthorizeBody = ctx.json(AUTH_BODY_LIMIT).await?;
    for (field, value, max) in [
        ("client_id", Some(body.client_id.as_str()), 200),
        ("redirect_uri", Some(body.redirect_uri.as_str()), 2048),
        ("response_type", body.response_type.as_deref(), 100),
        ("response_mode", body.response_mode.as_deref(), 100),
        ("scope", body.scope.as_deref(), 200),
        ("state", body.state.as_deref(), MAX_STATE_LEN),
        ("nonce", body.nonce.as_deref(), MAX_NONCE_LEN),
        ("code_challenge", body.code_challenge.as_deref(), 128),
        (
            "code_challenge_method",
            body.code_challenge_method.as_deref(),
            20,
        ),
        ("prompt", body.prompt.as_deref(), 100),
    ] {
        at_most(field, value, max)?;
    }
    let db = ctx.db()?;
    // Until the client and its redirect URI are known good, nothing redirects (4.1.2.1).
    let client = oauth::client(&db, &body.client_id)
        .await?
        .ok_or_else(|| ApiError::param("client_id", "client_id: no such OAuth client"))?;
    if !client.redirect_uris().contains(&body.redirect_uri) {
        return Err(ApiError::param(
            "redirect_uri",
            "redirect_uri: not one the client registered (they are compared exactly)",
        ));
    }
    let uri = body.redirect_uri.as_str();
    let state = body.state.as_deref().filter(|s| !s.is_empty());
    let fail = |error: &str, description: &str| redirect_error(uri, error, description, state);

    if body.response_type.as_deref() != Some("code") {
        return fail(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        );
    }
    if body.response_mode.as_deref().is_some_and(|m| m != "query") {
        return fail("invalid_request", "only response_mode=query is supported");
    }
    let scopes = match requested_scopes(body.scope.as_deref().unwrap_or(""), &client.scopes()) {
        Ok(s) => s,
        Err(oauth_scope_error) => {
            let why = match oauth_scope_error {
                crate::domain::oauth_client::ScopeError::NoOpenId => {
                    "the scope must include openid".to_string()
                }
                crate::domain::oauth_client::ScopeError::NotAllowed(s) => {
                    format!("the client may not ask for the scope `{s}`")
                }
            };
            return fail("invalid_scope", &why);
        }
    };
    let nonce = body.nonce.as_deref().filter(|n| !n.is_empty());
    let challenge =
        match (
            body.code_challenge.as_deref().filter(|c| !c.is_empty()),
            body.code_challenge_method
                .as_deref()
                .filter(|m| !m.is_empty()),
        ) {
            (None, None) if client.is_public() => return fail(
                "invalid_request",
                "a public client must use PKCE (code_challenge with code_challenge_method=S256)",
            ),
            (None, None) => None,
            (Some(c), Some("S256")) if is_s256_challenge(c) => Some(c.to_string()),
            (Some(_), Some("S256")) => {
                return fail("invalid_request", "code_challenge is not an S256 challenge")
            }
            _ => {
                return fail(
                    "invalid_request",
                    "code_challenge_method must be S256, with a code_challenge",
                )
            }
        };
    let prompt = match parse_prompt(body.prompt.as_deref()) {
        Ok(p) => p,
        Err(why) => return fail("invalid_request", why),
    };
    let max_age = match parse_max_age(body.max_age.as_ref()) {
        Ok(m) => m,
        Err(why) => return fail("invalid_request", why),
    };

    // Who: the page's access token. Without one, `prompt=none` goes back at once.
    let who = match guard::bearer(&ctx) {
        Some(_) => match guard::authenticate(&ctx, guard::Access::User, guard::Check::Before).await
        {
            Ok(p) => Some(p),
            Err(_) if prompt.none => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let Some(who) = who else {
        if prompt.none {
            return fail("login_required", "the user is not signed in");
        }
        return Err(ApiError::Unauthorized("sign in to authorize this app"));
    };
    let session_id = who.session_id.clone().unwrap_or_default();
    let auth_time = sessions::signed_in_at(&db, &session_id, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the session has ended"))?;
    let max_age = if prompt.login { Some(0) } else { max_age };
    if too_old(auth_time, max_age, ctx.now) {
        if prompt.none {
            return fail("login_required", "the sign-in is older than max_age");
        }
        return ok(&serde_json::json!({ "login_required": true }));
    }
    may_authorize(&db, &client, &who).await?;

    let granted = oauth::consent(&db, &who.user_id, &client.id).await?;
    let covered = granted.as_deref().is_some_and(|g| covers(g, &scopes)) && !prompt.consent;
    match body.decision {
        Some(Decision::Deny) => return fail("access_denied", "the user denied the request"),
        Some(Decision::Allow) => {
            if !covered {
                let mut all: Vec<&str> = scopes.clone();
                if let Some(g) = &granted {
                    all.extend(g.split(' '));
                }
                let all: Vec<&str> = SCOPES.iter().copied().filter(|s| all.contains(s)).collect();
                oauth::grant_consent(&db, &who.user_id, &client.id, &all.join(" "), ctx.now)
                    .await?;
                audit::record(
                    &ctx,
                    Entry::new(Action::OAuthConsentGranted)
                        .by(&who.user_id)
                        .in_org(&client.org_id)
                        .details(serde_json::json!({"client_id": client.id, "scopes": all})),
                )
                .await;
            }
        }
        None if covered => {}
        None if prompt.none => {
            return fail("consent_required", "the user has not allowed this app yet")
        }
        None => {
            let org = oauth::org_claim(&db, &client.org_id, &who.user_id).await?;
            return ok(&serde_json::json!({
                "consent": {
                    "client": {"client_id": client.id, "name": client.name},
                    "org": org.map(|o| serde_json::json!({"id": o.id, "name": o.name})),
                    "scopes": scopes,
                    "previously_granted": granted.map(|g| g.split(' ').map(str::to_string).collect::<Vec<_>>()),
                }
            }));
        }
    }

    let code = random_token().map_err(ApiError::internal)?;
    oauth::insert_code(
        &db,
        &CodeRow {
            code_hash: sha256_hex(code.as_bytes()),
            client_id: client.id.clone(),
            user_id: who.user_id.clone(),
            redirect_uri: uri.to_string(),
            scope: scopes.join(" "),
            nonce: nonce.map(str::to_string),
            code_challenge: challenge,
            auth_time,
            expires_at: ctx.now + CODE_TTL_MS,
        },
        ctx.now,
    )
    .await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    ok(&serde_json::json!({ "redirect_to": with_params(uri, &pairs)? }))
}

/// 403 unless the user may authorize the client: a member of its org (under the org's rules
/// for sign-in provider and two-factor authentication), or anyone for an `any_user` client.
async fn may_authorize(
    db: &worker::D1Database,
    client: &ClientRow,
    who: &Principal,
) -> ApiResult<()> {
    match crate::auth::sso::scope(db, &client.org_id, who).await {
        Ok(_) => Ok(()),
        Err(ApiError::NotFound) if client.any_user != 0 => Ok(()),
        Err(ApiError::NotFound) => Err(ApiError::Forbidden(
            "only members of the organization that registered this app may sign in to it",
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_values_are_none_alone_or_login_and_consent() {
        assert_eq!(parse_prompt(None), Ok(Prompt::default()));
        assert_eq!(
            parse_prompt(Some("login consent")),
            Ok(Prompt {
                none: false,
                login: true,
                consent: true
            })
        );
        assert_eq!(parse_prompt(Some("none")).map(|p| p.none), Ok(true));
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("sideways")).is_err());
        assert_eq!(parse_prompt(Some("select_account")), Ok(Prompt::default()));
    }

    #[test]
    fn max_age_is_a_non_negative_integer_as_a_string_or_a_number() {
        assert_eq!(
            parse_max_age(Some(&serde_json::json!("300"))),
            Ok(Some(300))
        );
        assert_eq!(parse_max_age(Some(&serde_json::json!(0))), Ok(Some(0)));
        assert_eq!(parse_max_age(Some(&serde_json::json!(""))), Ok(None));
        assert_eq!(parse_max_age(None), Ok(None));
        for bad in [
            serde_json::json!("-1"),
            serde_json::json!(-5),
            serde_json::json!("1e3"),
            serde_json::json!(true),
        ] {
            assert!(parse_max_age(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sign_in_is_too_old_past_max_age_but_never_within_the_fresh_window() {
        let now = 10_000_000_000;
        assert!(!too_old(now - 3_600_000, None, now));
        assert!(too_old(now - 3_600_000, Some(1800), now));
        assert!(!too_old(now - 1_000_000, Some(1800), now));
        // prompt=login (0) and small values: a sign-in within FRESH_SIGN_IN_MS will do.
        assert!(!too_old(now - 60_000, Some(0), now));
        assert!(too_old(now - FRESH_SIGN_IN_MS - 1, Some(0), now));
    }

    #[test]
    fn redirect_parameters_are_added_to_the_registered_query() {
        assert_eq!(
            with_params(
                "https://a.example/cb?tenant=x",
                &[("code", "c 1"), ("state", "s&t")]
            )
            .unwrap(),
            "https://a.example/cb?tenant=x&code=c+1&state=s%26t"
        );
        assert_eq!(
            with_params(
                "http://localhost:3080/oauth/openid/callback",
                &[("error", "access_denied")]
            )
            .unwrap(),
            "http://localhost:3080/oauth/openid/callback?error=access_denied"
        );
    }
}
