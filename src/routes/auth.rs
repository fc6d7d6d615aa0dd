//! Registration, login, refresh-token rotation and logout.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::cookie::{
    clear_refresh_cookie, is_foreign_origin, set_refresh_cookie, REFRESH_COOKIE,
};
use crate::auth::guard::{self, Principal};
use crate::auth::password;
use crate::auth::tokens::ACCESS_TOKEN_TTL_SECS;
use crate::crypto::{b64url, hmac_sha256, random_token, sha256_hex};
use crate::domain::{DisplayName, Email, Password};
use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, no_content, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::{self, sessions, throttle, users};
use crate::util::new_id;
use crate::webhooks::{self, EventType};

/// Where the refresh token goes: an HttpOnly cookie (default) or the JSON body.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    #[default]
    Cookie,
    Body,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    name: String,
    #[serde(default)]
    refresh_token_in: Delivery,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    refresh_token_in: Delivery,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Option<String>,
    refresh_token_in: Option<Delivery>,
}

/// A freshly issued pair of tokens.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
    /// Seconds until the session's absolute end (the cookie's max-age).
    pub session_ttl_secs: i64,
}

#[derive(Serialize)]
struct TokenBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a users::UserView>,
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The response that hands a client its tokens, with the refresh token where it asked.
pub fn token_response(
    status: u16,
    user: Option<&users::UserView>,
    issued: &Issued,
    delivery: Delivery,
) -> ApiResult<Response> {
    let body = TokenBody {
        user,
        access_token: &issued.access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
        refresh_token: (delivery == Delivery::Body).then_some(issued.refresh_token.as_str()),
    };
    let mut resp = json_response(status, &body)?;
    if delivery == Delivery::Cookie {
        resp.headers_mut().append(
            "set-cookie",
            &set_refresh_cookie(&issued.refresh_token, issued.session_ttl_secs),
        )?;
    }
    Ok(resp)
}

/// Creates a session for `user_id` (with `extra` statements in the same transaction).
pub async fn start_session(
    ctx: &Ctx,
    user_id: &str,
    mut extra: Vec<worker::D1PreparedStatement>,
) -> ApiResult<Issued> {
    let db = ctx.db()?;
    let session_id = new_id("ses");
    let refresh_token = random_token().map_err(ApiError::internal)?;
    let refresh_hash = sha256_hex(refresh_token.as_bytes());
    let new = sessions::NewSession {
        id: &session_id,
        user_id,
        user_agent: &ctx.user_agent,
        ip: &ctx.ip,
        now: ctx.now,
    };
    extra.extend(sessions::create(&db, &new, &refresh_hash)?);
    store::batch(&db, extra).await.map_err(|e| {
        if store::is_unique_violation(&e) {
            ApiError::Conflict("an account with this email already exists".into())
        } else {
            e
        }
    })?;
    let ttl = sessions::ABSOLUTE_LIFETIME_MS / 1000;
    sessions::remember_refresh(&ctx.kv()?, &refresh_hash, &session_id, ttl as u64).await;
    let access_token = guard::issue_access_token(ctx, user_id, &session_id, ctx.now).await?;
    Ok(Issued {
        access_token,
        refresh_token,
        session_id,
        session_ttl_secs: ttl,
    })
}

pub async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: RegisterBody = ctx.json(AUTH_BODY_LIMIT).await?;
    let email = Email::parse(&body.email).map_err(ApiError::Validation)?;
    let name = DisplayName::parse(&body.name, "name").map_err(ApiError::Validation)?;
    let password = Password::parse(body.password).map_err(ApiError::Validation)?;
    let db = ctx.db()?;
    let cfg = ctx.cfg.clone();
    // Counted before anything is looked up or hashed: parallel registrations stop at the limit.
    throttle::admit(
        &db,
        &format!("register:ip:{}", ctx.ip),
        cfg.registrations_per_address_per_hour,
        3600,
        ctx.now,
    )
    .await?;
    crate::auth::registration::admit(&db, &cfg.registration, &email, ctx.now).await?;
    if users::find_by_email(&db, &email).await?.is_some() {
        return Err(ApiError::Conflict(
            "an account with this email already exists".into(),
        ));
    }
    let user = users::UserRow {
        id: new_id("usr"),
        email: email.as_typed().to_string(),
        email_key: email.key().to_string(),
        name: name.as_str().to_string(),
        password_hash: password::hash(password.expose()).map_err(ApiError::internal)?,
        created_at: ctx.now,
        email_verified_at: None,
        disabled_at: None,
    };
    let mut statements = vec![users::insert(&db, &user)?];
    // The verification link is stored with the account and mailed once it exists.
    let (verification, message) = crate::routes::email::verification(&ctx, &user)?;
    statements.extend(store::orgs::create(
        &db,
        &new_id("org"),
        &format!("{}'s workspace", user.name),
        true,
        &user.id,
        ctx.now,
    )?);
    statements.extend(verification);
    let issued = start_session(&ctx, &user.id, statements).await?;
    crate::email::send_later(&ctx, message);
    let view = user.view();
    webhooks::provision(
        &ctx,
        EventType::UserRegistered,
        &user.id,
        serde_json::json!({
            "id": view.id, "email": view.email, "name": view.name, "created_at": view.created_at,
        }),
    )
    .await;
    token_response(201, Some(&user.view()), &issued, body.refresh_token_in)
}

/// The throttle of failed password checks against one account (login and confirmations).
pub fn account_throttle_key(email_key: &str) -> String {
    format!("login:acct:{}", sha256_hex(email_key.as_bytes()))
}

pub async fn login(mut ctx: Ctx) -> ApiResult<Response> {
    let body: LoginBody = ctx.json(AUTH_BODY_LIMIT).await?;
    let email = Email::parse(&body.email).map_err(|_| ApiError::InvalidCredentials)?;
    let db = ctx.db()?;
    let cfg = ctx.cfg.clone();
    let window = cfg.login_failure_window_secs;
    // Both counts are taken before the password is checked, so parallel guesses stop at the
    // limit; a success takes them back.
    let account_key = account_throttle_key(email.key());
    let account = throttle::admit(
        &db,
        &account_key,
        cfg.login_failures_per_account,
        window,
        ctx.now,
    )
    .await?;
    let address = throttle::admit(
        &db,
        &format!("login:ip:{}", ctx.ip),
        cfg.login_failures_per_address,
        window,
        ctx.now,
    )
    .await;
    let address = match address {
        Ok(a) => a,
        Err(e) => {
            throttle::refund(&db, &account).await?;
            return Err(e);
        }
    };

    let user = users::find_by_email(&db, &email).await?;
    // An unknown email, and an account without a password (made through a sign-in provider),
    // cost one argon2 verification too, so timing does not tell.
    let has_password = user.as_ref().is_some_and(|u| !u.password_hash.is_empty());
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .filter(|_| has_password)
        .unwrap_or(password::DUMMY_HASH);
    let too_long = body.password.chars().count() > crate::domain::password::MAX_CHARS;
    let verified = !too_long && password::verify(&body.password, stored) && has_password;
    let attempted = user.as_ref().map(|u| u.id.clone());
    let Some(user) = user.filter(|_| verified) else {
        let reason = match (&attempted, has_password) {
            (None, _) => "unknown_account",
            (Some(_), false) => "no_password",
            (Some(_), true) => "wrong_password",
        };
        audit::record(
            &ctx,
            Entry::new(Action::LoginFailed)
                .on(&attempted)
                .details(serde_json::json!({"reason": reason})),
        )
        .await;
        return Err(ApiError::InvalidCredentials);
    };
    throttle::reset(&db, &account_key).await?;
    throttle::refund(&db, &address).await?;
    users::rekey(&db, &user, &email).await?;

    let mut extra = Vec::new();
    if password::needs_rehash(&user.password_hash) {
        let rehashed = password::hash(&body.password).map_err(ApiError::internal)?;
        extra.push(users::set_password_hash(&db, &user.id, &rehashed, ctx.now)?);
    }
    // With two-factor authentication on, a ticket for the second step instead of a session.
    let sign_in = crate::routes::mfa::after_first_factor(&ctx, &user, "password", extra).await?;
    if let crate::routes::mfa::SignIn::Session(issued) = &sign_in {
        audit::record(
            &ctx,
            Entry::new(Action::LoginSucceeded).by(&user.id).details(
                serde_json::json!({"method": "password", "session_id": issued.session_id}),
            ),
        )
        .await;
    }
    crate::routes::mfa::sign_in_response(&sign_in, &user, body.refresh_token_in)
}

/// The refresh token of a request: from the body, else from the cookie (origin-checked).
/// Returns the token and whether it came in the body.
async fn presented_refresh_token(ctx: &mut Ctx) -> ApiResult<(Option<String>, RefreshBody)> {
    let body: RefreshBody = ctx.json_opt(AUTH_BODY_LIMIT).await?.unwrap_or_default();
    refresh_token_of(ctx, body)
}

/// The refresh token of a request whose (optional) body is read: the body's, else the cookie's.
fn refresh_token_of(ctx: &Ctx, body: RefreshBody) -> ApiResult<(Option<String>, RefreshBody)> {
    if let Some(t) = body.refresh_token.clone() {
        return Ok((Some(t), body));
    }
    let Some(cookie) = ctx.cookie(REFRESH_COOKIE).filter(|c| !c.is_empty()) else {
        return Ok((None, body));
    };
    let url = ctx.req.url()?;
    if is_foreign_origin(ctx.header("origin").as_deref(), &url) {
        return Err(ApiError::Forbidden(
            "cross-origin requests cannot use the refresh cookie",
        ));
    }
    Ok((Some(cookie), body))
}

pub async fn refresh(mut ctx: Ctx) -> ApiResult<Response> {
    let (token, body) = presented_refresh_token(&mut ctx).await?;
    let token = token.ok_or(ApiError::Unauthorized("a refresh token is required"))?;
    // A token that came in the body goes back in the body unless the client says otherwise.
    let delivery = body
        .refresh_token_in
        .unwrap_or(if body.refresh_token.is_some() {
            Delivery::Body
        } else {
            Delivery::Cookie
        });
    let db = ctx.db()?;
    let old_hash = sha256_hex(token.as_bytes());
    let new_token = successor_of(&ctx.cfg.jwt_secret, &token);
    let new_hash = sha256_hex(new_token.as_bytes());
    match sessions::rotate(&db, &old_hash, &new_hash, ctx.now, None).await? {
        sessions::Rotation::Rotated {
            session_id,
            user_id,
            expires_at,
            rotated_at,
        } => {
            let kv = ctx.kv()?;
            let ttl = ((expires_at - ctx.now) / 1000).max(1);
            sessions::forget_refresh(&kv, &old_hash).await;
            sessions::remember_refresh(&kv, &new_hash, &session_id, ttl as u64).await;
            let access_token =
                guard::issue_access_token(&ctx, &user_id, &session_id, rotated_at).await?;
            let issued = Issued {
                access_token,
                refresh_token: new_token,
                session_id,
                session_ttl_secs: ttl,
            };
            token_response(200, None, &issued, delivery)
        }
        sessions::Rotation::Reused {
            user_id,
            session_id,
        } => {
            audit::record(
                &ctx,
                Entry::new(Action::RefreshReuseDetected)
                    .on(&user_id)
                    .details(serde_json::json!({"session_id": session_id})),
            )
            .await;
            Err(ApiError::Unauthorized(
                "this refresh token was already used; the session has been revoked",
            ))
        }
        sessions::Rotation::Invalid => {
            Err(ApiError::Unauthorized("the refresh token is not valid"))
        }
        sessions::Rotation::Disabled => Err(ApiError::AccountDisabled),
    }
}

/// The one successor of a refresh token: a MAC of it under a key derived from the service's
/// secret. Deriving it (rather than drawing it at random) is what lets a presentation within
/// the grace window get the same successor without storing any token in clear; it is as
/// unguessable as the token itself to anyone who does not hold that token.
pub(crate) fn successor_of(secret: &[u8], token: &str) -> String {
    let key = hmac_sha256(secret, b"chatgate refresh-token successor v1");
    b64url(&hmac_sha256(&key, token.as_bytes()))
}

/// Revokes the current session: the one of the bearer access token, else of the refresh token.
pub async fn logout(mut ctx: Ctx) -> ApiResult<Response> {
    // The body is read (and refused when bad) even when a bearer token decides the session.
    let body: RefreshBody = ctx.json_opt(AUTH_BODY_LIMIT).await?.unwrap_or_default();
    let db = ctx.db()?;
    // The bearer access token names the session; when it is missing or no longer valid
    // (expired, say), the refresh token does.
    let bearer = match guard::bearer(&ctx) {
        Some(_) => {
            Some(guard::authenticate(&ctx, crate::routes::Access::User, guard::Check::Before).await)
        }
        None => None,
    };
    let (session_id, user_id) = match bearer {
        Some(Ok(who)) => match who.session_id {
            Some(sid) => (sid, who.user_id),
            None => return Err(ApiError::Unauthorized("no session to log out of")),
        },
        bearer_failure => {
            let (token, _) = refresh_token_of(&ctx, body)?;
            let Some(token) = token else {
                return Err(match bearer_failure {
                    Some(Err(e)) => e,
                    _ => ApiError::Unauthorized("no session to log out of"),
                });
            };
            let hash = sha256_hex(token.as_bytes());
            let found = sessions::session_of_refresh(&db, &ctx.kv()?, &hash)
                .await?
                .ok_or(ApiError::Unauthorized("the refresh token is not valid"))?;
            sessions::forget_refresh(&ctx.kv()?, &hash).await;
            found
        }
    };
    sessions::revoke(&db, &session_id, &user_id, ctx.now).await?;
    audit::record(
        &ctx,
        Entry::new(Action::SessionRevoked)
            .by(&user_id)
            .details(serde_json::json!({"session_id": session_id, "reason": "logout"})),
    )
    .await;
    let mut resp = no_content()?;
    resp.headers_mut()
        .append("set-cookie", &clear_refresh_cookie())?;
    Ok(resp)
}

pub async fn logout_all(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    store::batch(
        &db,
        vec![sessions::revoke_all(&db, &who.user_id, None, ctx.now)?],
    )
    .await?;
    audit::record(
        &ctx,
        Entry::new(Action::SessionRevoked)
            .by(&who.user_id)
            .details(serde_json::json!({"all": true, "reason": "logout_all"})),
    )
    .await;
    let mut resp = no_content()?;
    resp.headers_mut()
        .append("set-cookie", &clear_refresh_cookie())?;
    Ok(resp)
}

#[derive(Serialize)]
struct SignUpPolicy<'a> {
    registration: crate::domain::registration::Mode,
    registration_domains: &'a [String],
    require_verified_email: bool,
    dev_mailbox: bool,
}

/// How this server lets people in, for sign-up pages: the registration policy, whether chat
/// needs a verified address, and whether the dev mailbox is on.
pub async fn policy(ctx: Ctx) -> ApiResult<Response> {
    let cfg = &ctx.cfg;
    crate::http::ok(&SignUpPolicy {
        registration: cfg.registration.mode,
        registration_domains: &cfg.registration.domains,
        require_verified_email: cfg.require_verified_email,
        dev_mailbox: cfg.mail.dev_mailbox,
    })
}
