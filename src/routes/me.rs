//! The signed-in user: profile, password, sessions, account deletion.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::cookie::clear_refresh_cookie;
use crate::auth::guard::Principal;
use crate::auth::password;
use crate::domain::{DisplayName, Password};
use crate::error::{ApiError, ApiResult};
use crate::http::{no_content, ok, Ctx, Page, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::routes::auth::account_throttle_key;
use crate::store::audit::{Action, Entry};
use crate::store::wipes::{self, Wipe};
use crate::store::{self, orgs, sessions, throttle, users};
use crate::webhooks::{self, EventType};

#[derive(Serialize)]
struct Me {
    #[serde(flatten)]
    user: users::UserView,
    orgs: Vec<orgs::UserOrg>,
    /// `true` for a service admin (`ADMIN_EMAILS`), who may open the operator's console;
    /// absent for everyone else.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    service_admin: bool,
}

async fn me_view(ctx: &Ctx, user_id: &str) -> ApiResult<Me> {
    let db = ctx.db()?;
    let user = users::find(&db, user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    Ok(Me {
        service_admin: ctx.cfg.is_service_admin(&user),
        user: user.view(),
        orgs: orgs::of_user(&db, user_id).await?,
    })
}

pub async fn get(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    ok(&me_view(&ctx, &who.user_id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    name: String,
}

pub async fn update(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: UpdateMe = ctx.json(AUTH_BODY_LIMIT).await?;
    let name = DisplayName::parse(&body.name, "name").map_err(ApiError::Validation)?;
    users::set_name(&ctx.db()?, &who.user_id, name.as_str(), ctx.now).await?;
    ok(&me_view(&ctx, &who.user_id).await?)
}

/// Checks the user's current password, counted against the account like a login: before
/// the check, and taken back when it was right.
pub(crate) async fn confirm_password(
    ctx: &Ctx,
    user: &users::UserRow,
    given: &str,
) -> ApiResult<()> {
    if user.password_hash.is_empty() {
        return Err(no_password());
    }
    let db = ctx.db()?;
    let cfg = &ctx.cfg;
    let attempt = throttle::admit(
        &db,
        &account_throttle_key(&user.email_key),
        cfg.login_failures_per_account,
        cfg.login_failure_window_secs,
        ctx.now,
    )
    .await?;
    let too_long = given.chars().count() > crate::domain::password::MAX_CHARS;
    if too_long || !password::verify(given, &user.password_hash) {
        return Err(ApiError::InvalidCredentials);
    }
    throttle::refund(&db, &attempt).await
}

/// What an account without a password (made through a sign-in provider) is told where a
/// password is asked for: a reset link by mail sets one.
fn no_password() -> ApiError {
    ApiError::Conflict(
        "this account has no password (it signs in with a provider): set one with the link \
         POST /api/auth/forgot-password sends to its address"
            .into(),
    )
}

/// How recent a sign-in must be to delete an account without a password.
const RECENT_SIGN_IN_MS: i64 = 10 * 60 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the password; every other session ends.
pub async fn change_password(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: ChangePassword = ctx.json(AUTH_BODY_LIMIT).await?;
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    confirm_password(&ctx, &user, &body.current_password).await?;
    let new_password = Password::parse(body.new_password).map_err(ApiError::Validation)?;
    let hash = password::hash(new_password.expose()).map_err(ApiError::internal)?;
    store::batch(
        &db,
        vec![
            users::set_password_hash(&db, &user.id, &hash, ctx.now)?,
            sessions::revoke_all(&db, &user.id, who.session_id.as_deref(), ctx.now)?,
        ],
    )
    .await?;
    audit::record(
        &ctx,
        Entry::new(Action::PasswordChanged)
            .by(&user.id)
            .details(serde_json::json!({"other_sessions_revoked": true})),
    )
    .await;
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteMe {
    /// Required for an account with a password; an account without one (made through a
    /// sign-in provider) confirms by a sign-in in the last 10 minutes instead.
    password: Option<String>,
}

/// Deletes the account and everything it owns.
pub async fn delete(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: DeleteMe = ctx.json(AUTH_BODY_LIMIT).await?;
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if user.password_hash.is_empty() {
        let session = match &who.session_id {
            Some(s) => crate::store::identities::session_sign_in(&db, s).await?,
            None => None,
        };
        if session.is_none_or(|s| ctx.now - s.created_at > RECENT_SIGN_IN_MS) {
            return Err(ApiError::Forbidden(
                "this account has no password: sign in again (within 10 minutes) to delete it",
            ));
        }
    } else {
        // A missing password is a wrong one (401), counted like any.
        confirm_password(&ctx, &user, body.password.as_deref().unwrap_or("")).await?;
    }
    delete_account(&ctx, &user).await?;
    let mut resp = no_content()?;
    resp.headers_mut()
        .append("set-cookie", &clear_refresh_cookie())?;
    Ok(resp)
}

/// Deletes an account and everything it owns: its rows and the organizations it alone owns, in
/// one transaction that queues their Durable Objects for wiping; then as many of those as one
/// request may (its limiter, those orgs' objects, the conversations' messages: `crate::wipes`,
/// the upkeep wipes the rest); then tells the provisioning hook. For `DELETE /api/me` and the
/// operator's console alike.
pub(crate) async fn delete_account(ctx: &Ctx, user: &users::UserRow) -> ApiResult<()> {
    let db = ctx.db()?;
    let orgs = users::sole_owned_orgs(&db, &user.id).await?;
    // Uploaded files first (R2 and their rows, a thousand per call): a failure leaves the
    // account intact, to try again.
    crate::store::files::purge(&ctx.env, crate::store::files::Of::Owner(&user.id)).await?;
    for org in &orgs {
        crate::store::files::purge(&ctx.env, crate::store::files::Of::Org(org)).await?;
    }
    let conversations =
        crate::store::conversations::ids_deleted_with_user(&db, &user.id, &orgs).await?;
    users::delete_everything(&db, &user.id, &orgs, ctx.now).await?;
    let queued: Vec<Wipe> = std::iter::once(Wipe::new(wipes::USER_LIMITER, &user.id))
        .chain(orgs.iter().map(|o| Wipe::new(wipes::ORG, o)))
        .chain(
            conversations
                .iter()
                .map(|c| Wipe::new(wipes::CONVERSATION, c)),
        )
        .collect();
    crate::wipes::after_deletion(&ctx.env, &db, &queued).await;
    webhooks::provision(
        ctx,
        EventType::UserDeleted,
        &user.id,
        serde_json::json!({"id": user.id, "email": user.email}),
    )
    .await;
    Ok(())
}

pub async fn list_sessions(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let rows = sessions::list_live(&ctx.db()?, &who.user_id, ctx.now).await?;
    let items = rows
        .iter()
        .map(|r| r.view(who.session_id.as_deref()))
        .collect();
    ok(&Page {
        items,
        next_cursor: None,
    })
}

pub async fn revoke_session(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let revoked = sessions::revoke(&ctx.db()?, ctx.param(0), &who.user_id, ctx.now).await?;
    if !revoked {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &ctx,
        Entry::new(Action::SessionRevoked)
            .by(&who.user_id)
            .details(serde_json::json!({"session_id": ctx.param(0), "reason": "revoked"})),
    )
    .await;
    no_content()
}
