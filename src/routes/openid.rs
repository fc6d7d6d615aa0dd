//! chatgate as an OpenID Provider: discovery, the consent decision of the web client's
//! authorization page, the token, userinfo and revocation endpoints, RP-initiated logout, and
//! the user's list of connected apps. The authorization code flow only (OpenID Connect Core
//! 3.1; RFC 6749 4.1, RFC 7636 PKCE, RFC 7009 revocation, OpenID Connect RP-Initiated Logout).
//!
//! `sub` is the user's id (the same for every client). The pages `/oauth/authorize` and
//! `/oauth/logout` are the web client's (it signs the user in first); they call
//! `POST /api/oauth/authorize` and `POST /api/oauth/logout` here.

use serde::Deserialize;
use worker::Response;

use crate::auth::guard::{self, Principal};
use crate::auth::openid::{self, AccessGrant, IdToken, TOKEN_TTL_SECS};
use crate::auth::signing;
use crate::auth::tokens::{self, TokenError};
use crate::crypto::{b64_decode, b64url, ct_eq, random_token, sha256, sha256_hex};
use crate::domain::oauth_client::{
    covers, is_code_verifier, is_s256_challenge, requested_scopes, SCOPES,
};
use crate::domain::settings::{Feature, OrgSettings};
use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, no_content, ok, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::oauth::{self, ClientRow, Code, CodeRow, NewGrant, CODE_TTL_MS};
use crate::store::{sessions, users};
use crate::util::new_id;

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
fn with_params(uri: &str, pairs: &[(&str, &str)]) -> ApiResult<String> {
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
fn at_most(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
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
        Some(_) => match guard::authenticate(&ctx, guard::Access::User, false).await {
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

// --- The token endpoint's errors (RFC 6749 5.2) -------------------------------------------

/// An OAuth error response: `{error, error_description}` as JSON, never problem+json.
struct OAuthError {
    status: u16,
    error: &'static str,
    description: String,
    /// `WWW-Authenticate` to send (a failed Basic authentication, a bad bearer token).
    challenge: Option<String>,
}

fn oauth_error(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: 400,
        error,
        description: description.into(),
        challenge: None,
    }
}

impl OAuthError {
    fn respond(self) -> ApiResult<Response> {
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

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
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

// --- POST /oauth/token --------------------------------------------------------------------

pub async fn token(mut ctx: Ctx) -> ApiResult<Response> {
    let params = match form(&mut ctx).await? {
        Ok(p) => p,
        Err(e) => return e.respond(),
    };
    let client = match authenticate_client(&ctx, &params).await? {
        Ok(c) => c,
        Err(e) => return e.respond(),
    };
    let result = match param(&params, "grant_type") {
        Some("authorization_code") => exchange_code(&ctx, &client, &params).await?,
        Some("refresh_token") => refresh(&ctx, &client, &params).await?,
        Some(_) => Err(oauth_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )),
        None => Err(oauth_error("invalid_request", "grant_type is required")),
    };
    match result {
        Ok(body) => {
            let mut resp = ok(&body)?;
            resp.headers_mut().set("pragma", "no-cache")?;
            any_origin(resp)
        }
        Err(e) => e.respond(),
    }
}

type Grant = ApiResult<Result<serde_json::Value, OAuthError>>;

async fn exchange_code(ctx: &Ctx, client: &ClientRow, params: &[(String, String)]) -> Grant {
    let (Some(code), Some(redirect_uri)) = (param(params, "code"), param(params, "redirect_uri"))
    else {
        return Ok(Err(oauth_error(
            "invalid_request",
            "code and redirect_uri are required",
        )));
    };
    let db = ctx.db()?;
    let code_hash = sha256_hex(code.as_bytes());
    let code = match oauth::use_code(&db, &code_hash, ctx.now).await? {
        Code::Fresh(c) => c,
        Code::Reused { session_id } => {
            // A code presented twice was stolen or replayed: what it gave is revoked (4.1.2).
            if let Some(sid) = session_id {
                oauth::revoke_grant(&db, &sid, &client.id, ctx.now).await?;
            }
            return Ok(Err(oauth_error(
                "invalid_grant",
                "the code was used already; the tokens it gave are revoked",
            )));
        }
        Code::Invalid => {
            return Ok(Err(oauth_error(
                "invalid_grant",
                "the code is not valid or has expired",
            )))
        }
    };
    if code.client_id != client.id {
        return Ok(Err(oauth_error(
            "invalid_grant",
            "the code was issued to another client",
        )));
    }
    if code.redirect_uri != redirect_uri {
        return Ok(Err(oauth_error(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        )));
    }
    let verifier = param(params, "code_verifier");
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            if !is_code_verifier(v)
                || !ct_eq(
                    b64url(&sha256(v.as_bytes())).as_bytes(),
                    challenge.as_bytes(),
                )
            {
                return Ok(Err(oauth_error(
                    "invalid_grant",
                    "the code_verifier does not match",
                )));
            }
        }
        (Some(_), None) => {
            return Ok(Err(oauth_error(
                "invalid_grant",
                "code_verifier is required (PKCE)",
            )))
        }
        (None, Some(_)) => {
            return Ok(Err(oauth_error(
                "invalid_grant",
                "the authorization request had no code_challenge",
            )))
        }
        (None, None) => {}
    }
    if let Err(e) = still_allowed(&db, client, &code.user_id).await? {
        return Ok(Err(e));
    }
    let session_id = new_id("ses");
    let refresh = if code.scope.split(' ').any(|s| s == "offline_access") {
        Some(random_token().map_err(ApiError::internal)?)
    } else {
        None
    };
    let grant = NewGrant {
        session_id: &session_id,
        user_id: &code.user_id,
        client_id: &client.id,
        scope: &code.scope,
        auth_time: code.auth_time,
        user_agent: &ctx.user_agent,
        ip: &ctx.ip,
        now: ctx.now,
    };
    let refresh_hash = refresh.as_ref().map(|r| sha256_hex(r.as_bytes()));
    crate::store::batch(
        &db,
        oauth::create_grant(&db, &grant, refresh_hash.as_deref(), &code_hash)?,
    )
    .await?;
    let grant = oauth::GrantRow {
        session_id,
        user_id: code.user_id.clone(),
        client_id: client.id.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
    };
    let body = tokens_for(ctx, client, &grant, code.nonce.as_deref(), refresh, ctx.now).await?;
    audit::record(
        ctx,
        Entry::new(Action::OAuthTokensIssued)
            .by(&code.user_id)
            .in_org(&client.org_id)
            .details(serde_json::json!({
                "client_id": client.id, "scope": code.scope, "session_id": grant.session_id,
            })),
    )
    .await;
    Ok(Ok(body))
}

/// `Err` (invalid_grant) when the user may no longer use the client: their account is
/// disabled or gone, or they left the client's org (unless it is for any user).
async fn still_allowed(
    db: &worker::D1Database,
    client: &ClientRow,
    user_id: &str,
) -> ApiResult<Result<(), OAuthError>> {
    let user = users::find(db, user_id).await?;
    if user.as_ref().is_none_or(|u| u.disabled_at.is_some()) {
        return Ok(Err(oauth_error("invalid_grant", "the account is disabled")));
    }
    if client.any_user == 0 && oauth::role_in(db, &client.org_id, user_id).await?.is_none() {
        return Ok(Err(oauth_error(
            "invalid_grant",
            "the user is no longer a member of the client's organization",
        )));
    }
    Ok(Ok(()))
}

async fn refresh(ctx: &Ctx, client: &ClientRow, params: &[(String, String)]) -> Grant {
    let Some(token) = param(params, "refresh_token") else {
        return Ok(Err(oauth_error(
            "invalid_request",
            "refresh_token is required",
        )));
    };
    let db = ctx.db()?;
    let old_hash = sha256_hex(token.as_bytes());
    let next = crate::routes::auth::successor_of(&ctx.cfg.jwt_secret, token);
    let next_hash = sha256_hex(next.as_bytes());
    let (session_id, rotated_at) =
        match sessions::rotate(&db, &old_hash, &next_hash, ctx.now, Some(&client.id)).await? {
            sessions::Rotation::Rotated {
                session_id,
                rotated_at,
                ..
            } => (session_id, rotated_at),
            sessions::Rotation::Reused {
                user_id,
                session_id,
            } => {
                audit::record(
                    ctx,
                    Entry::new(Action::RefreshReuseDetected)
                        .on(&user_id)
                        .in_org(&client.org_id)
                        .details(
                            serde_json::json!({"session_id": session_id, "client_id": client.id}),
                        ),
                )
                .await;
                return Ok(Err(oauth_error(
                    "invalid_grant",
                    "this refresh token was already used; the grant has been revoked",
                )));
            }
            sessions::Rotation::Invalid | sessions::Rotation::Disabled => {
                return Ok(Err(oauth_error(
                    "invalid_grant",
                    "the refresh token is not valid",
                )))
            }
        };
    let Some(mut grant) = oauth::live_grant(&db, &session_id, &client.id, ctx.now).await? else {
        return Ok(Err(oauth_error("invalid_grant", "the grant has ended")));
    };
    if let Err(e) = still_allowed(&db, client, &grant.user_id).await? {
        oauth::revoke_grant(&db, &session_id, &client.id, ctx.now).await?;
        return Ok(Err(e));
    }
    if let Some(asked) = param(params, "scope") {
        let asked: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
        if !covers(&grant.scope, &asked) {
            return Ok(Err(oauth_error(
                "invalid_scope",
                "the scope exceeds the grant's",
            )));
        }
        grant.scope = SCOPES
            .iter()
            .copied()
            .filter(|s| asked.contains(s))
            .collect::<Vec<_>>()
            .join(" ");
    }
    // Issued at the rotation's time: a retry within the grace window gets the same tokens.
    Ok(Ok(tokens_for(
        ctx,
        client,
        &grant,
        None,
        Some(next),
        rotated_at,
    )
    .await?))
}

/// The token response: an access token, an ID token when `openid` was granted, and the
/// refresh token when there is one.
async fn tokens_for(
    ctx: &Ctx,
    client: &ClientRow,
    grant: &oauth::GrantRow,
    nonce: Option<&str>,
    refresh_token: Option<String>,
    issued_at_ms: i64,
) -> ApiResult<serde_json::Value> {
    let db = ctx.db()?;
    let key = signing::signing_key(&db, &ctx.cfg, ctx.now).await?;
    let iss = issuer(ctx);
    let now_secs = issued_at_ms as u64 / 1000;
    let access_token = openid::issue_access(
        &key,
        &AccessGrant {
            issuer: &iss,
            user_id: &grant.user_id,
            client_id: &client.id,
            session_id: &grant.session_id,
            scope: &grant.scope,
        },
        now_secs,
    )
    .map_err(ApiError::internal)?;
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "scope": grant.scope,
    });
    if grant.scope.split(' ').any(|s| s == "openid") {
        let claims = user_claims(&db, client, &grant.user_id, &grant.scope).await?;
        let id_token = openid::issue_id_token(
            &key,
            &IdToken {
                issuer: &iss,
                user_id: &grant.user_id,
                client_id: &client.id,
                nonce,
                auth_time: grant.auth_time as u64 / 1000,
                access_token: &access_token,
                claims: &claims,
            },
            now_secs,
        )
        .map_err(ApiError::internal)?;
        body["id_token"] = serde_json::json!(id_token);
    }
    if let Some(r) = refresh_token {
        body["refresh_token"] = serde_json::json!(r);
    }
    Ok(body)
}

/// The claims `scope` allows about the user (not `sub`): `email` and `email_verified`
/// (email), `name` (profile), `organization` (org: the client's org as the user sees it).
async fn user_claims(
    db: &worker::D1Database,
    client: &ClientRow,
    user_id: &str,
    scope: &str,
) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    let mut claims = serde_json::Map::new();
    let user = users::find(db, user_id).await?.ok_or(ApiError::NotFound)?;
    if has("email") {
        claims.insert("email".into(), serde_json::json!(user.email));
        claims.insert(
            "email_verified".into(),
            serde_json::json!(user.is_verified()),
        );
    }
    if has("profile") {
        claims.insert("name".into(), serde_json::json!(user.name));
    }
    if has("org") {
        if let Some(org) = oauth::org_claim(db, &client.org_id, user_id).await? {
            claims.insert("organization".into(), organization_claim(&org));
        }
    }
    Ok(claims)
}

/// The `organization` claim: what a chat app needs to set itself up for the tenant.
fn organization_claim(org: &oauth::OrgClaimRow) -> serde_json::Value {
    let settings = OrgSettings::from_stored(&org.settings);
    let features: serde_json::Map<String, serde_json::Value> = Feature::ALL
        .iter()
        .map(|f| {
            (
                f.as_str().to_string(),
                serde_json::json!(settings.enabled(*f)),
            )
        })
        .collect();
    serde_json::json!({
        "id": org.id,
        "name": org.name,
        "role": org.role,
        "enabled_models": settings.enabled_models,
        "monthly_token_limit": settings.monthly_token_limit,
        "features": features,
    })
}

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
    let params = match form(&mut ctx).await? {
        Ok(p) => p,
        Err(e) => return e.respond(),
    };
    let client = match authenticate_client(&ctx, &params).await? {
        Ok(c) => c,
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

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
        assert_eq!(form_decode("cgc_123"), "cgc_123");
    }
}
