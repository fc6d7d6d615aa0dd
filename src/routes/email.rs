//! What goes through the mailbox: verifying the address, changing it, resetting a forgotten
//! password, and the dev mailbox. Every link is a single-use token stored as SHA-256
//! (`store::email_tokens`); the mail goes out after the response (`email::send_later`).

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::auth::password;
use crate::crypto::sha256_hex;
use crate::domain::{Email, Password};
use crate::email::{self, Template};
use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, no_content, ok, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::routes::auth::account_throttle_key;
use crate::store::audit::{Action, Entry};
use crate::store::email_tokens::{self, Purpose};
use crate::store::{self, dev_mailbox, sessions, throttle, users};

/// The web client's pages the links open.
const VERIFY_PAGE: &str = "/verify-email";
const RESET_PAGE: &str = "/reset-password";

#[derive(Serialize)]
struct Accepted<'a> {
    detail: &'a str,
}

fn accepted(detail: &str) -> ApiResult<Response> {
    json_response(202, &Accepted { detail })
}

/// A link that was used, has expired, is unknown or is for something else: one answer.
fn bad_link() -> ApiError {
    ApiError::param(
        "token",
        "token: this link is not valid: it was used already, has expired, or is not one of ours",
    )
}

/// Counts one mail of `kind` to the account, before it is sent (429 past the hourly limit).
async fn count_mail(ctx: &Ctx, kind: &str, account: &str) -> ApiResult<throttle::Attempt> {
    throttle::admit(
        &ctx.db()?,
        &format!("mail:{kind}:{account}"),
        ctx.cfg.emails_per_account_per_hour,
        3600,
        ctx.now,
    )
    .await
}

/// A verification link for the user's address: the statements that store it (with the
/// caller's), and the message to send once they are written.
pub fn verification(
    ctx: &Ctx,
    user: &users::UserRow,
) -> ApiResult<(Vec<worker::D1PreparedStatement>, email::Message)> {
    let db = ctx.db()?;
    let token = email_tokens::new_token()?;
    let mut statements = vec![email_tokens::revoke_unused(
        &db,
        &user.id,
        Purpose::VerifyEmail,
        ctx.now,
    )?];
    statements.extend(email_tokens::insert(
        &db,
        &token.hash,
        &user.id,
        Purpose::VerifyEmail,
        // The key the account has stored: what `users::mark_verified` compares.
        email_tokens::Recipient {
            email: &user.email,
            key: &user.email_key,
        },
        ctx.now,
    )?);
    let link = email::link(&email::public_origin(ctx), VERIFY_PAGE, &token.token);
    let message = Template::VerifyEmail
        .render(
            &user.email,
            &[
                ("name", &user.name),
                ("email", &user.email),
                ("link", &link),
            ],
        )
        .map_err(ApiError::internal)?;
    Ok((statements, message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// Opens a verification link: the account's address is verified, or (for a link sent to a
/// new address) becomes the account's address. Signed in or not: the link is the proof.
pub async fn verify(mut ctx: Ctx) -> ApiResult<Response> {
    let body: TokenBody = ctx.json(AUTH_BODY_LIMIT).await?;
    let db = ctx.db()?;
    let used = email_tokens::consume(
        &db,
        body.token.trim(),
        &[Purpose::VerifyEmail, Purpose::ChangeEmail],
        ctx.now,
    )
    .await?
    .ok_or_else(bad_link)?;
    let user = users::find(&db, &used.user_id)
        .await?
        .ok_or_else(bad_link)?;
    match used.purpose {
        Purpose::ChangeEmail => {
            let changed = store::batch(
                &db,
                vec![
                    users::change_email(&db, &user.id, &used.email, &used.email_key, ctx.now)?,
                    // Links to the old address, and other pending changes, are void now.
                    email_tokens::revoke_unused(&db, &user.id, Purpose::ChangeEmail, ctx.now)?,
                    email_tokens::revoke_unused(&db, &user.id, Purpose::VerifyEmail, ctx.now)?,
                    email_tokens::revoke_unused(&db, &user.id, Purpose::ResetPassword, ctx.now)?,
                ],
            )
            .await;
            match changed {
                Err(e) if store::is_unique_violation(&e) => {
                    return Err(ApiError::Conflict(
                        "another account uses this address now".into(),
                    ))
                }
                other => other?,
            };
            audit::record(
                &ctx,
                Entry::new(Action::EmailChanged).by(&user.id).details(
                    serde_json::json!({"previous_email": user.email, "email": used.email}),
                ),
            )
            .await;
        }
        _ => {
            let marked = store::batch(
                &db,
                vec![users::mark_verified(
                    &db,
                    &user.id,
                    &used.email_key,
                    ctx.now,
                )?],
            )
            .await?;
            if marked.first().map(store::changes) != Some(1) {
                // The account has left that address since the link was sent.
                return Err(bad_link());
            }
            audit::record(
                &ctx,
                Entry::new(Action::EmailVerified)
                    .by(&user.id)
                    .details(serde_json::json!({"email": used.email})),
            )
            .await;
        }
    }
    no_content()
}

/// Sends a new verification link to the signed-in user's address (the older ones stop
/// working). Counted per account before it is sent.
pub async fn resend_verification(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    if user.is_verified() {
        return Err(ApiError::Conflict(
            "this address is verified already".into(),
        ));
    }
    count_mail(&ctx, "verify", &user.id).await?;
    let (statements, message) = verification(&ctx, &user)?;
    store::batch(&db, statements).await?;
    email::send_later(&ctx, message);
    accepted("a new verification link is on its way to your address")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeEmail {
    email: String,
    password: String,
}

/// Asks to move the account to another address: a link goes to the new address (which
/// replaces the old one only when it is opened), and a notice to the old one.
pub async fn change(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: ChangeEmail = ctx.json(AUTH_BODY_LIMIT).await?;
    let new = Email::parse(&body.email).map_err(|e| ApiError::param("email", e))?;
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    crate::routes::me::confirm_password(&ctx, &user, &body.password).await?;
    if new.key() == user.email_key {
        return Err(ApiError::param(
            "email",
            "email: this is the account's address already",
        ));
    }
    if users::find_by_email(&db, &new).await?.is_some() {
        return Err(ApiError::Conflict(
            "an account with this email already exists".into(),
        ));
    }
    count_mail(&ctx, "change", &user.id).await?;
    let token = email_tokens::new_token()?;
    let mut statements = vec![email_tokens::revoke_unused(
        &db,
        &user.id,
        Purpose::ChangeEmail,
        ctx.now,
    )?];
    statements.extend(email_tokens::insert(
        &db,
        &token.hash,
        &user.id,
        Purpose::ChangeEmail,
        (&new).into(),
        ctx.now,
    )?);
    store::batch(&db, statements).await?;
    let link = email::link(&email::public_origin(&ctx), VERIFY_PAGE, &token.token);
    let confirm = Template::ChangeEmail.render(
        new.as_typed(),
        &[
            ("name", &user.name),
            ("email", new.as_typed()),
            ("link", &link),
        ],
    );
    let notice = Template::EmailChangeNotice.render(
        &user.email,
        &[
            ("name", &user.name),
            ("email", &user.email),
            ("new_email", new.as_typed()),
        ],
    );
    email::send_later(&ctx, confirm.map_err(ApiError::internal)?);
    email::send_later(&ctx, notice.map_err(ApiError::internal)?);
    audit::record(
        &ctx,
        Entry::new(Action::EmailChangeRequested)
            .by(&user.id)
            .details(serde_json::json!({"email": user.email, "new_email": new.as_typed()})),
    )
    .await;
    accepted("a confirmation link is on its way to the new address")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Forgot {
    email: String,
}

const FORGOT_ANSWER: &str =
    "if an account uses this address, a link to reset its password is on its way to it";

/// Starts a password reset. The answer, and the work done before it, are the same whether
/// or not an account uses the address: two counts (per client address, per address asked
/// for), a token drawn and hashed. Whether there is an account, the link, the mail and the
/// audit event all happen after the response.
pub async fn forgot_password(mut ctx: Ctx) -> ApiResult<Response> {
    let body: Forgot = ctx.json(AUTH_BODY_LIMIT).await?;
    let address = Email::parse(&body.email).map_err(|e| ApiError::param("email", e))?;
    let db = ctx.db()?;
    let cfg = ctx.cfg.clone();
    let by_ip = throttle::admit(
        &db,
        &format!("reset:ip:{}", ctx.ip),
        cfg.password_resets_per_address_per_hour,
        3600,
        ctx.now,
    )
    .await?;
    if let Err(e) = count_mail(&ctx, "reset", &sha256_hex(address.key().as_bytes())).await {
        throttle::refund(&db, &by_ip).await?;
        return Err(e);
    }
    let token = email_tokens::new_token()?;
    let link = email::link(&email::public_origin(&ctx), RESET_PAGE, &token.token);
    let wait = ctx.wait.clone();
    let task = async move {
        if let Err(e) = send_reset(&ctx, &address, &token.hash, &link).await {
            worker::console_error!(
                "{}",
                serde_json::json!({
                    "request_id": ctx.request_id,
                    "error": "password_reset_failed",
                    "context": e.log_context().unwrap_or(e.code()),
                })
            );
        }
    };
    match wait {
        Some(w) => w.wait_until(task),
        None => worker::wasm_bindgen_futures::spawn_local(task),
    }
    accepted(FORGOT_ANSWER)
}

/// After the response: the reset link of the account at `address`, if there is one.
async fn send_reset(ctx: &Ctx, address: &Email, token_hash: &str, link: &str) -> ApiResult<()> {
    let db = ctx.db()?;
    let Some(user) = users::find_by_email(&db, address).await? else {
        return Ok(());
    };
    // The link goes to the address the account has, as it is stored.
    let to = email_tokens::Recipient {
        email: &user.email,
        key: &user.email_key,
    };
    store::batch(
        &db,
        email_tokens::insert(
            &db,
            token_hash,
            &user.id,
            Purpose::ResetPassword,
            to,
            ctx.now,
        )?,
    )
    .await?;
    let message = Template::ResetPassword
        .render(
            &user.email,
            &[("name", &user.name), ("email", &user.email), ("link", link)],
        )
        .map_err(ApiError::internal)?;
    email::deliver_logged(&ctx.env, &ctx.cfg, &ctx.request_id, &message).await;
    audit::record(ctx, Entry::new(Action::PasswordResetRequested).on(&user.id)).await;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reset {
    token: String,
    new_password: String,
}

/// Sets a new password with a reset link: every session of the account ends, and every
/// other reset link with them. The link also proves the address, which becomes verified.
pub async fn reset_password(mut ctx: Ctx) -> ApiResult<Response> {
    let body: Reset = ctx.json(AUTH_BODY_LIMIT).await?;
    // Checked before the link is used, so a refused password leaves the link working.
    let new_password =
        Password::parse(body.new_password).map_err(|e| ApiError::param("new_password", e))?;
    let db = ctx.db()?;
    let used = email_tokens::consume(&db, body.token.trim(), &[Purpose::ResetPassword], ctx.now)
        .await?
        .ok_or_else(bad_link)?;
    let user = users::find(&db, &used.user_id)
        .await?
        .ok_or_else(bad_link)?;
    user.ensure_enabled()?;
    let hash = password::hash(new_password.expose()).map_err(ApiError::internal)?;
    store::batch(
        &db,
        vec![
            users::set_password_hash(&db, &user.id, &hash, ctx.now)?,
            sessions::revoke_all(&db, &user.id, None, ctx.now)?,
            email_tokens::revoke_unused(&db, &user.id, Purpose::ResetPassword, ctx.now)?,
            users::mark_verified(&db, &user.id, &used.email_key, ctx.now)?,
        ],
    )
    .await?;
    // Locked out by wrong guesses? The new password works at once.
    throttle::reset(&db, &account_throttle_key(&user.email_key)).await?;
    audit::record(
        &ctx,
        Entry::new(Action::PasswordReset)
            .by(&user.id)
            .details(serde_json::json!({"sessions_revoked": "all"})),
    )
    .await;
    no_content()
}

#[derive(Serialize)]
struct Mailbox {
    items: Vec<dev_mailbox::MailView>,
}

/// The dev mailbox: the newest 50 messages (to `?to=` when given). 404 unless `DEV_MAILBOX=on`.
pub async fn mailbox(ctx: Ctx) -> ApiResult<Response> {
    if !ctx.cfg.mail.dev_mailbox {
        return Err(ApiError::NotFound);
    }
    let to = ctx
        .query_param("to")
        .map(|t| Email::parse(&t).map_err(|e| ApiError::param("to", format!("to: {e}"))))
        .transpose()?;
    let items = dev_mailbox::list(&ctx.db()?, to.as_ref(), 50).await?;
    ok(&Mailbox { items })
}
