//! Sign-in with OAuth 2.0 / OpenID Connect providers (`auth::oidc`): the providers list, the
//! browser's round trip (`start` → the provider → `callback`), and the linked identities.
//!
//! The callback signs in as the account linked to (provider, subject); else, when the provider
//! vouches that the address is its user's (`email_verified`, GitHub's verified primary
//! address), as the account with that address, linking it; else it opens a new account under
//! the registration policy. An address the provider does not vouch for never reaches an
//! existing account. Failures return the browser to the sign-in page with `?oauth_error=`.

use serde::Serialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::auth::oidc::flow::{self, Account, Secrets};
use crate::auth::oidc::Provider;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::{DisplayName, Email};
use crate::error::{ApiError, ApiResult};
use crate::http::{no_content, ok, Ctx};
use crate::routes::audit;
use crate::routes::mfa::{self, SignIn};
use crate::store::audit::{Action, Entry};
use crate::store::identities::{self, NewFlow, NewIdentity, Unlinked};
use crate::store::{self, sessions, throttle, users};
use crate::util::new_id;
use crate::webhooks::{self, EventType};

/// The cookie that binds a sign-in to the browser that started it (against a callback URL
/// planted in someone else's browser). `SameSite=Lax`: it must come back on the provider's
/// top-level redirect to the callback.
const BROWSER_COOKIE: &str = "chatgate_oauth";
const BROWSER_COOKIE_PATH: &str = "/api/auth/oauth";
/// Sign-ins started per client address per window.
const STARTS_PER_ADDRESS: u32 = 60;
const STARTS_WINDOW_SECS: u32 = 600;
/// Where the web client signs in, and shows `?oauth_error=`.
const SIGN_IN_PAGE: &str = "/login";
const DEFAULT_NEXT: &str = "/chat";

fn provider(ctx: &Ctx) -> ApiResult<&Provider> {
    ctx.cfg.sign_in.get(ctx.param(0)).ok_or(ApiError::NotFound)
}

pub async fn providers(ctx: Ctx) -> ApiResult<Response> {
    ok(&ctx.cfg.sign_in.views())
}

/// `next` as the web client reads it: a path of this origin (with its query), else the chat.
/// Resolving against the origin is the test: `//evil.example`, `/\evil.example` and
/// `/%09/evil.example`-style spellings leave the origin and fall back.
pub fn same_origin_path(origin: &str, next: Option<&str>) -> String {
    let Some(next) = next.filter(|n| !n.is_empty() && n.len() <= 1024) else {
        return DEFAULT_NEXT.into();
    };
    let Ok(base) = worker::Url::parse(origin) else {
        return DEFAULT_NEXT.into();
    };
    match base.join(next) {
        Ok(url) if url.origin() == base.origin() && url.path().starts_with('/') => {
            let mut path = url.path().to_string();
            if let Some(q) = url.query() {
                path.push('?');
                path.push_str(q);
            }
            if let Some(f) = url.fragment() {
                path.push('#');
                path.push_str(f);
            }
            path
        }
        _ => DEFAULT_NEXT.into(),
    }
}

fn callback_url(origin: &str, provider: &Provider) -> String {
    format!("{origin}/api/auth/oauth/{}/callback", provider.id)
}

fn redirect(location: &str) -> ApiResult<Response> {
    let mut resp = Response::empty()?.with_status(302);
    resp.headers_mut().set("location", location)?;
    Ok(resp)
}

/// Back to the sign-in page, saying why (a code, never a token or the provider's text).
fn fail_to(reason: &str) -> ApiResult<Response> {
    redirect(&format!("{SIGN_IN_PAGE}?oauth_error={reason}"))
}

/// A browser binding as the cookie holds it: 256 bits in base64url.
fn is_binding(v: &str) -> bool {
    v.len() == 43 && crate::crypto::b64url_decode(v).is_some_and(|b| b.len() == 32)
}

fn log_failure(ctx: &Ctx, provider: &str, reason: &str, context: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({
            "request_id": ctx.request_id, "error": "oauth_sign_in_failed",
            "provider": provider, "reason": reason, "context": context,
        })
    );
}

/// `GET /api/auth/oauth/{provider}/start?next=`: 302 to the provider.
pub async fn start(ctx: Ctx) -> ApiResult<Response> {
    let provider = provider(&ctx)?;
    let db = ctx.db()?;
    throttle::admit(
        &db,
        &format!("oauth:ip:{}", ctx.ip),
        STARTS_PER_ADDRESS,
        STARTS_WINDOW_SECS,
        ctx.now,
    )
    .await?;
    let origin = crate::email::public_origin(&ctx);
    let next = same_origin_path(&origin, ctx.query_param("next").as_deref());
    let state = random_token().map_err(ApiError::internal)?;
    // One binding per browser, kept while it is live: sign-ins in two tabs both come back.
    let binding = match ctx.cookie(BROWSER_COOKIE).filter(|c| is_binding(c)) {
        Some(b) => b,
        None => random_token().map_err(ApiError::internal)?,
    };
    let secrets = Secrets::of(&ctx.cfg.jwt_secret, &state);
    let allowed = &ctx.cfg.sign_in.insecure_hosts;
    let url = match flow::authorization_url(
        &ctx.kv()?,
        provider,
        allowed,
        &callback_url(&origin, provider),
        &state,
        &secrets,
        ctx.now,
    )
    .await
    {
        Ok(url) => url,
        Err(e) => {
            log_failure(&ctx, &provider.id, e.reason(), &e.context());
            return fail_to(e.reason());
        }
    };
    identities::start_flow(
        &db,
        &NewFlow {
            state_hash: &sha256_hex(state.as_bytes()),
            provider: &provider.id,
            browser_hash: &sha256_hex(binding.as_bytes()),
            next: &next,
            now: ctx.now,
        },
    )
    .await?;
    let mut resp = redirect(&url)?;
    resp.headers_mut().append(
        "set-cookie",
        &format!(
            "{BROWSER_COOKIE}={binding}; Path={BROWSER_COOKIE_PATH}; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
            identities::FLOW_LIFETIME_MS / 1000
        ),
    )?;
    Ok(resp)
}

/// Why a callback did not sign anyone in: `reason` goes to the audit log and the sign-in page.
struct Refusal {
    reason: &'static str,
    context: String,
    user: Option<String>,
}

impl Refusal {
    fn new(reason: &'static str, context: impl Into<String>) -> Self {
        Refusal {
            reason,
            context: context.into(),
            user: None,
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        let reason = match &e {
            ApiError::RegistrationClosed(_) => "registration_closed",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Conflict(_) => "account_exists",
            ApiError::AccountDisabled => "account_disabled",
            _ => "server_error",
        };
        Refusal::new(reason, e.log_context().unwrap_or(e.code()).to_string())
    }
}

/// `GET /api/auth/oauth/{provider}/callback`: signs in and 302s to the web client.
pub async fn callback(ctx: Ctx) -> ApiResult<Response> {
    let provider = provider(&ctx)?;
    match sign_in(&ctx, provider).await {
        Ok((SignIn::SecondFactor(step), _)) => redirect(&step.web_client_location()),
        Ok((SignIn::Session(issued), next)) => {
            let mut resp = redirect(&next)?;
            resp.headers_mut().append(
                "set-cookie",
                &crate::auth::cookie::set_refresh_cookie(
                    &issued.refresh_token,
                    issued.session_ttl_secs,
                ),
            )?;
            Ok(resp)
        }
        Err(refusal) => {
            audit::record(
                &ctx,
                Entry::new(Action::LoginFailed)
                    .on(&refusal.user)
                    .details(serde_json::json!({
                        "method": "oauth", "provider": provider.id, "reason": refusal.reason,
                    })),
            )
            .await;
            log_failure(&ctx, &provider.id, refusal.reason, &refusal.context);
            fail_to(refusal.reason)
        }
    }
}

async fn sign_in(ctx: &Ctx, provider: &Provider) -> Result<(SignIn, String), Refusal> {
    let db = ctx.db()?;
    let state = ctx.query_param("state").unwrap_or_default();
    if state.is_empty() || state.len() > 512 {
        return Err(Refusal::new("invalid_state", "no state"));
    }
    // The state is used up here, whatever follows: a callback is good once.
    let found = identities::take_flow(&db, &sha256_hex(state.as_bytes()), ctx.now).await?;
    let Some(found) = found.filter(|f| f.provider == provider.id) else {
        return Err(Refusal::new(
            "invalid_state",
            "unknown, used or expired state",
        ));
    };
    let binding = ctx.cookie(BROWSER_COOKIE).unwrap_or_default();
    if sha256_hex(binding.as_bytes()) != found.browser_hash {
        return Err(Refusal::new(
            "invalid_state",
            "the sign-in was started in another browser",
        ));
    }
    if let Some(error) = ctx.query_param("error") {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        let reason = if error == "access_denied" {
            "access_denied"
        } else {
            "provider_error"
        };
        return Err(Refusal::new(reason, format!("the provider said {error}")));
    }
    let code = ctx
        .query_param("code")
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| Refusal::new("invalid_request", "no code"))?;
    let origin = crate::email::public_origin(ctx);
    let iss = ctx.query_param("iss");
    let account = flow::finish(
        &ctx.kv()?,
        provider,
        &ctx.cfg.sign_in.insecure_hosts,
        &callback_url(&origin, provider),
        &flow::Response {
            code: &code,
            iss: iss.as_deref(),
        },
        &Secrets::of(&ctx.cfg.jwt_secret, &state),
        ctx.now,
    )
    .await
    .map_err(|e| Refusal::new(e.reason(), e.context()))?;
    let user = account_for(ctx, provider, &account).await?;
    let issued = first_factor_passed(ctx, &user, provider)
        .await
        .map_err(|e| Refusal {
            user: Some(user.id.clone()),
            ..Refusal::from(e)
        })?;
    Ok((issued, found.next))
}

/// The account a provider's account signs in as: the linked one, else the one with the
/// address the provider vouches for (linked now), else a new one.
async fn account_for(
    ctx: &Ctx,
    provider: &Provider,
    account: &Account,
) -> Result<users::UserRow, Refusal> {
    let db = ctx.db()?;
    let email_shown = account.email.clone().unwrap_or_default();
    if let Some(identity) = identities::find(&db, &provider.id, &account.subject).await? {
        store::batch(
            &db,
            vec![identities::touch(&db, &identity.id, &email_shown, ctx.now)?],
        )
        .await?;
        return users::find(&db, &identity.user_id)
            .await?
            .ok_or_else(|| Refusal::new("server_error", "the identity's account is gone"));
    }
    let raw_email = account
        .email
        .as_deref()
        .ok_or_else(|| Refusal::new("email_required", "the provider gave no address"))?;
    let email = Email::parse(raw_email)
        .map_err(|_| Refusal::new("email_required", "the provider's address is not one"))?;
    let identity_id = new_id("idn");
    let link = NewIdentity {
        id: &identity_id,
        user_id: "",
        provider: &provider.id,
        subject: &account.subject,
        email: email.as_typed(),
        now: ctx.now,
    };
    if let Some(user) = users::find_by_email(&db, &email).await? {
        if !account.email_verified {
            // Anyone can type any address at some providers: only a vouched-for one links.
            return Err(Refusal {
                user: Some(user.id.clone()),
                ..Refusal::new(
                    "account_exists",
                    "an account has this address and the provider did not verify it",
                )
            });
        }
        return link_existing(ctx, provider, user, link).await;
    }
    sign_up(ctx, provider, account, &email, link).await
}

/// Links the identity to the existing account with the (provider-verified) address. An account
/// whose address nobody had proven may hold a password set by someone else (who registered the
/// address first, waiting for its owner): the owner proves the address now, so that password is
/// removed and its sessions end.
async fn link_existing(
    ctx: &Ctx,
    provider: &Provider,
    user: users::UserRow,
    link: NewIdentity<'_>,
) -> Result<users::UserRow, Refusal> {
    let db = ctx.db()?;
    let unproven_password = !user.is_verified() && !user.password_hash.is_empty();
    let mut statements = vec![
        identities::insert(
            &db,
            &NewIdentity {
                user_id: &user.id,
                ..link
            },
        )?,
        users::mark_verified(&db, &user.id, &user.email_key, ctx.now)?,
    ];
    if unproven_password {
        statements.push(users::set_password_hash(&db, &user.id, "", ctx.now)?);
        statements.push(sessions::revoke_all(&db, &user.id, None, ctx.now)?);
    }
    store::batch(&db, statements).await.map_err(|e| {
        if store::is_unique_violation(&e) {
            Refusal::new("account_exists", "the identity was linked meanwhile")
        } else {
            e.into()
        }
    })?;
    audit::record(
        ctx,
        Entry::new(Action::IdentityLinked)
            .by(&user.id)
            .details(serde_json::json!({
                "provider": provider.id, "identity_id": link.id, "via": "verified_email",
                "unverified_password_removed": unproven_password,
            })),
    )
    .await;
    let user = users::find(&db, &user.id)
        .await?
        .ok_or_else(|| Refusal::new("server_error", "the account is gone"))?;
    Ok(user)
}

/// A new account for the provider's account, under the registration policy; it has no
/// password, and its address is verified when the provider vouches for it.
async fn sign_up(
    ctx: &Ctx,
    provider: &Provider,
    account: &Account,
    email: &Email,
    link: NewIdentity<'_>,
) -> Result<users::UserRow, Refusal> {
    let db = ctx.db()?;
    let cfg = &ctx.cfg;
    throttle::admit(
        &db,
        &format!("register:ip:{}", ctx.ip),
        cfg.registrations_per_address_per_hour,
        3600,
        ctx.now,
    )
    .await?;
    crate::auth::registration::admit(&db, &cfg.registration, email, ctx.now).await?;
    let name = account
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(&n.chars().take(100).collect::<String>(), "name").ok())
        .or_else(|| {
            DisplayName::parse(email.as_typed().split('@').next().unwrap_or(""), "name").ok()
        })
        .ok_or_else(|| Refusal::new("server_error", "no name"))?;
    let user = users::UserRow {
        id: new_id("usr"),
        email: email.as_typed().to_string(),
        email_key: email.key().to_string(),
        name: name.as_str().to_string(),
        password_hash: String::new(),
        created_at: ctx.now,
        email_verified_at: account.email_verified.then_some(ctx.now),
        disabled_at: None,
    };
    let mut statements = vec![users::insert(&db, &user)?];
    if account.email_verified {
        statements.push(users::mark_verified(
            &db,
            &user.id,
            &user.email_key,
            ctx.now,
        )?);
    }
    statements.extend(store::orgs::create(
        &db,
        &new_id("org"),
        &format!("{}'s workspace", user.name),
        true,
        &user.id,
        ctx.now,
    )?);
    statements.push(identities::insert(
        &db,
        &NewIdentity {
            user_id: &user.id,
            ..link
        },
    )?);
    // An address the provider does not vouch for is verified by mail, as after a sign-up.
    let mail = if account.email_verified {
        None
    } else {
        let (verification, message) = crate::routes::email::verification(ctx, &user)?;
        statements.extend(verification);
        Some(message)
    };
    store::batch(&db, statements).await.map_err(|e| {
        if store::is_unique_violation(&e) {
            Refusal::new("account_exists", "the account was made meanwhile")
        } else {
            e.into()
        }
    })?;
    if let Some(message) = mail {
        crate::email::send_later(ctx, message);
    }
    audit::record(
        ctx,
        Entry::new(Action::IdentityLinked)
            .by(&user.id)
            .details(serde_json::json!({
                "provider": provider.id, "identity_id": link.id, "via": "sign_up",
            })),
    )
    .await;
    let view = user.view();
    webhooks::provision(
        ctx,
        EventType::UserRegistered,
        &user.id,
        serde_json::json!({
            "id": view.id, "email": view.email, "name": view.name, "created_at": view.created_at,
        }),
    )
    .await;
    Ok(user)
}

/// The provider vouched for the user: the first factor is passed. The session, or the second
/// step when the account has two-factor authentication on, comes from the one door every
/// sign-in method goes through; the session records the provider (`sessions.idp`) for
/// organizations that require it.
async fn first_factor_passed(
    ctx: &Ctx,
    user: &users::UserRow,
    provider: &Provider,
) -> ApiResult<SignIn> {
    let sign_in =
        mfa::after_first_factor(ctx, user, &mfa::oauth_factor(&provider.id), vec![]).await?;
    if let SignIn::Session(issued) = &sign_in {
        audit::record(
            ctx,
            Entry::new(Action::LoginSucceeded)
                .by(&user.id)
                .details(serde_json::json!({
                    "method": "oauth", "provider": provider.id, "session_id": issued.session_id,
                })),
        )
        .await;
    }
    Ok(sign_in)
}

#[derive(Serialize)]
struct Identities {
    items: Vec<identities::IdentityView>,
    next_cursor: Option<String>,
    /// Whether the account also signs in with a password.
    password: bool,
}

/// `GET /api/me/identities`: the providers linked to the account, and whether it has a password.
pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    let rows = identities::of_user(&db, &who.user_id).await?;
    let providers = &ctx.cfg.sign_in;
    ok(&Identities {
        items: rows
            .iter()
            .map(|r| {
                let name = providers
                    .get(&r.provider)
                    .map_or(r.provider.as_str(), |p| &p.name);
                r.view(name)
            })
            .collect(),
        next_cursor: None,
        password: !user.password_hash.is_empty(),
    })
}

/// `DELETE /api/me/identities/{id}`: 204; 409 when it is the account's last way to sign in.
pub async fn unlink(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    match identities::unlink(&db, &who.user_id, ctx.param(0)).await? {
        Unlinked::NotFound => Err(ApiError::NotFound),
        Unlinked::LastMethod => Err(ApiError::Conflict(
            "this is the account's last way to sign in: set a password (POST \
             /api/auth/forgot-password sends a link) or link another provider first"
                .into(),
        )),
        Unlinked::Done(row) => {
            audit::record(
                &ctx,
                Entry::new(Action::IdentityUnlinked)
                    .by(&who.user_id)
                    .details(serde_json::json!({"provider": row.provider, "identity_id": row.id})),
            )
            .await;
            no_content()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_origin() {
        let o = "https://chat.example.com";
        for (next, want) in [
            (None, "/chat"),
            (Some(""), "/chat"),
            (Some("/settings/sign-in"), "/settings/sign-in"),
            (Some("/chat/cnv_1?x=1#m"), "/chat/cnv_1?x=1#m"),
            (Some("settings"), "/settings"),
            (Some("//evil.example/x"), "/chat"),
            (Some("/\\evil.example"), "/chat"),
            (Some("/\t/evil.example"), "/chat"),
            (Some("https://evil.example/"), "/chat"),
            (Some("javascript:alert(1)"), "/chat"),
            (Some("https://chat.example.com/orgs"), "/orgs"),
        ] {
            assert_eq!(same_origin_path(o, next), want, "{next:?}");
        }
    }

    #[test]
    fn a_binding_is_256_bits() {
        assert!(is_binding(&crate::crypto::random_token().unwrap()));
        assert!(!is_binding("short"));
        assert!(!is_binding(&"!".repeat(43)));
    }
}
