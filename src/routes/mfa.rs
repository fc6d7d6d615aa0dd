//! Two-factor authentication: enrolling TOTP (with ten recovery codes), turning it off, and
//! the second step of a sign-in.
//!
//! `after_first_factor` is the one door every sign-in method goes through once the user has
//! proven who they are (a password; an OpenID provider): it starts the session, or, when the
//! account has two-factor authentication on, hands out a ticket (`mfa_token`: 5 minutes, one
//! use, stored as SHA-256) for `POST /api/auth/login/mfa`.

use serde::{Deserialize, Serialize};
use worker::{D1PreparedStatement, Response};

use crate::auth::guard::Principal;
use crate::auth::totp::{self, TotpSecret};
use crate::crypto::{random_token, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, no_content, ok, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::routes::auth::{start_session, token_response, Delivery, Issued};
use crate::routes::me::confirm_password;
use crate::store::audit::{Action, Entry};
use crate::store::{self, identities, mfa, passkeys, throttle, users};

/// Wrong codes one ticket may take before it is spent.
pub const TRIES_PER_TICKET: u32 = 5;

/// What a sign-in that passed its first factor comes to.
pub enum SignIn {
    /// No second factor is due: the session is started.
    Session(Issued),
    /// The account has two-factor authentication on: the client finishes at
    /// `POST /api/auth/login/mfa` with this ticket.
    SecondFactor(SecondStep),
}

/// The answer that asks for the second factor.
#[derive(Serialize)]
pub struct SecondStep {
    pub mfa_required: bool,
    /// The ticket: single use, for the second step only, `expires_in` seconds.
    pub mfa_token: String,
    /// What may be presented: `totp`, `recovery_code`, and `passkey` when the user has one.
    pub methods: Vec<&'static str>,
    pub expires_in: i64,
}

/// Signs in `user`, who has just proven who they are with `first_factor` (`password`, or the
/// name of another method, such as `oidc:<provider>`; it is recorded in the audit log): a
/// session when the account has no second factor (with `extra` statements in its transaction),
/// else a ticket for the second step (and `extra` is written at once). Every sign-in method
/// goes through here, so none of them skips the second factor. A JSON route answers with
/// `sign_in_response`; one that ends in a browser redirect sends the browser to the session's
/// page, or to `SecondStep::web_client_location` for the second step.
pub async fn after_first_factor(
    ctx: &Ctx,
    user: &users::UserRow,
    first_factor: &str,
    extra: Vec<D1PreparedStatement>,
) -> ApiResult<SignIn> {
    // Asked after the first factor, so only who proved the account learns it is disabled.
    user.ensure_enabled()?;
    let db = ctx.db()?;
    if !mfa::is_on(&db, &user.id).await? {
        return Ok(SignIn::Session(
            open_session(ctx, &user.id, first_factor, extra).await?,
        ));
    }
    if !extra.is_empty() {
        store::batch(&db, extra).await?;
    }
    let token = random_token().map_err(ApiError::internal)?;
    mfa::issue_ticket(
        &db,
        &sha256_hex(token.as_bytes()),
        &user.id,
        first_factor,
        ctx.now,
    )
    .await?;
    let mut methods = vec!["totp", "recovery_code"];
    if passkeys::has_any(&db, &user.id).await? {
        methods.push("passkey");
    }
    Ok(SignIn::SecondFactor(SecondStep {
        mfa_required: true,
        mfa_token: token,
        methods,
        expires_in: mfa::TICKET_TTL_MS / 1000,
    }))
}

/// The first factor of a sign-in through the identity provider `provider`.
pub fn oauth_factor(provider: &str) -> String {
    format!("oauth:{provider}")
}

/// Starts the session of a sign-in whose first factor was `first_factor`; one through an
/// identity provider records it (`sessions.idp`), for organizations that require it.
async fn open_session(
    ctx: &Ctx,
    user_id: &str,
    first_factor: &str,
    extra: Vec<D1PreparedStatement>,
) -> ApiResult<Issued> {
    let issued = start_session(ctx, user_id, extra).await?;
    if let Some(provider) = first_factor.strip_prefix("oauth:") {
        let db = ctx.db()?;
        let idp = identities::session_idp(&db, &issued.session_id, provider)?;
        store::batch(&db, vec![idp]).await?;
    }
    Ok(issued)
}

impl SecondStep {
    /// The web client's sign-in page with this ticket, for a method that ends in a browser
    /// redirect: the ticket rides in the fragment, which no server or log sees.
    pub fn web_client_location(&self) -> String {
        format!(
            "/login#mfa_token={}&methods={}",
            self.mfa_token,
            self.methods.join(",")
        )
    }
}

/// The response of a sign-in route: the tokens (as login gives them) or the second step.
pub fn sign_in_response(
    sign_in: &SignIn,
    user: &users::UserRow,
    delivery: Delivery,
) -> ApiResult<Response> {
    match sign_in {
        SignIn::Session(issued) => token_response(200, Some(&user.view()), issued, delivery),
        SignIn::SecondFactor(step) => json_response(200, step),
    }
}

/// Checks a TOTP code of the user's factor (`confirmed`: on, else pending enrolment) and uses
/// up its time step: each code is accepted once, and none older than one accepted.
async fn accept_code(ctx: &Ctx, user_id: &str, code: &str, confirmed: bool) -> ApiResult<bool> {
    let db = ctx.db()?;
    let Some(factor) = mfa::factor(&db, &ctx.cfg, user_id).await? else {
        return Ok(false);
    };
    if factor.confirmed != confirmed {
        return Ok(false);
    }
    let Some(step) = factor.secret.check(code, (ctx.now / 1000) as u64) else {
        return Ok(false);
    };
    mfa::accept_step(&db, user_id, step, confirmed).await
}

/// Counts a second-factor attempt against the account (`login_failures_per_account` in the
/// login window), before anything is checked.
async fn admit_account(ctx: &Ctx, user_id: &str) -> ApiResult<throttle::Attempt> {
    let cfg = &ctx.cfg;
    throttle::admit(
        &ctx.db()?,
        &account_key(user_id),
        cfg.login_failures_per_account,
        cfg.login_failure_window_secs,
        ctx.now,
    )
    .await
}

fn account_key(user_id: &str) -> String {
    format!("mfa:acct:{user_id}")
}

const WRONG_CODE: &str = "the code is not valid: it is wrong, expired or was used already";

async fn record_failure(ctx: &Ctx, user_id: &str, method: &str, stage: &str, reason: &str) {
    audit::record(
        ctx,
        Entry::new(Action::MfaFailed)
            .on(user_id)
            .details(serde_json::json!({"method": method, "stage": stage, "reason": reason})),
    )
    .await;
}

async fn user_of(ctx: &Ctx, who: &Principal) -> ApiResult<users::UserRow> {
    users::find(&ctx.db()?, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))
}

/// The name authenticator apps show for this service: the passkeys' relying party id when
/// set, else the host the request came to.
fn issuer(ctx: &Ctx) -> String {
    ctx.cfg
        .webauthn
        .rp_id
        .clone()
        .or_else(|| ctx.req.url().ok()?.host_str().map(str::to_string))
        .unwrap_or_else(|| "chatgate".into())
}

// ---------------------------------------------------------------------------------------
// Enrolment and status

#[derive(Serialize)]
struct Status {
    /// Whether two-factor authentication is on (a confirmed TOTP factor).
    enabled: bool,
    /// Whether an enrolment waits for its first code.
    pending: bool,
    recovery_codes_left: i64,
    passkeys: usize,
}

/// `GET /api/me/2fa`: what protects the account beyond its password.
pub async fn status(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let factor = mfa::factor(&db, &ctx.cfg, &who.user_id).await?;
    ok(&Status {
        enabled: factor.as_ref().is_some_and(|f| f.confirmed),
        pending: factor.as_ref().is_some_and(|f| !f.confirmed),
        recovery_codes_left: mfa::recovery_codes_left(&db, &who.user_id).await?,
        passkeys: passkeys::of_user(&db, &who.user_id).await?.len(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enrol {
    password: String,
}

#[derive(Serialize)]
struct Enrolment {
    secret: String,
    otpauth_uri: String,
}

/// `POST /api/me/2fa/totp`: a new secret, not active until a code from it is confirmed.
pub async fn enrol(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Enrol = ctx.json(AUTH_BODY_LIMIT).await?;
    let user = user_of(&ctx, &who).await?;
    confirm_password(&ctx, &user, &body.password).await?;
    let secret = TotpSecret::generate().map_err(ApiError::internal)?;
    let already_on = || {
        ApiError::Conflict(
            "two-factor authentication is on already: turn it off first to set up another \
             authenticator"
                .into(),
        )
    };
    if !mfa::start_enrolment(&ctx.db()?, &ctx.cfg, &user.id, &secret, ctx.now).await? {
        return Err(already_on());
    }
    ok(&Enrolment {
        secret: secret.base32(),
        otpauth_uri: secret
            .otpauth_uri(&issuer(&ctx), &user.email)
            .map_err(ApiError::internal)?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    code: String,
}

#[derive(Serialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// `POST /api/me/2fa/totp/confirm`: the first code of the new secret turns two-factor
/// authentication on; the ten recovery codes are shown this once.
pub async fn confirm(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Confirm = ctx.json(AUTH_BODY_LIMIT).await?;
    let db = ctx.db()?;
    match mfa::factor(&db, &ctx.cfg, &who.user_id).await? {
        None => {
            return Err(ApiError::Conflict(
                "no enrolment is waiting for a code: start one with POST /api/me/2fa/totp".into(),
            ))
        }
        Some(f) if f.confirmed => {
            return Err(ApiError::Conflict(
                "two-factor authentication is on already".into(),
            ))
        }
        Some(_) => {}
    }
    admit_account(&ctx, &who.user_id).await?;
    if !accept_code(&ctx, &who.user_id, &body.code, false).await? {
        return Err(ApiError::InvalidCode(WRONG_CODE));
    }
    throttle::reset(&db, &account_key(&who.user_id)).await?;
    let codes = totp::new_recovery_codes().map_err(ApiError::internal)?;
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| totp::normalize_recovery_code(c))
        .map(|c| totp::recovery_code_hash(&who.user_id, &c))
        .collect();
    if !mfa::confirm(&db, &who.user_id, &hashes, ctx.now).await? {
        return Err(ApiError::Conflict(
            "the enrolment changed meanwhile: start again".into(),
        ));
    }
    audit::record(
        &ctx,
        Entry::new(Action::TwoFactorEnabled)
            .by(&who.user_id)
            .details(serde_json::json!({"method": "totp", "recovery_codes": hashes.len()})),
    )
    .await;
    ok(&RecoveryCodes {
        recovery_codes: codes,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disable {
    code: Option<String>,
    password: Option<String>,
}

/// `DELETE /api/me/2fa/totp {code} | {password}`: turns two-factor authentication off (or
/// cancels a pending enrolment); its recovery codes go with it.
pub async fn disable(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Disable = ctx.json(AUTH_BODY_LIMIT).await?;
    let db = ctx.db()?;
    let user = user_of(&ctx, &who).await?;
    let factor = mfa::factor(&db, &ctx.cfg, &user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let with = match (&body.code, &body.password) {
        (Some(code), None) => {
            admit_account(&ctx, &user.id).await?;
            if !accept_code(&ctx, &user.id, code, factor.confirmed).await? {
                record_failure(&ctx, &user.id, "totp", "disable", "wrong_code").await;
                return Err(ApiError::InvalidCode(WRONG_CODE));
            }
            throttle::reset(&db, &account_key(&user.id)).await?;
            "code"
        }
        (None, Some(password)) => {
            confirm_password(&ctx, &user, password).await?;
            "password"
        }
        _ => {
            return Err(ApiError::validation(
                "send either `code` (a current code) or `password`",
            ))
        }
    };
    store::batch(&db, mfa::remove(&db, &user.id)?).await?;
    if factor.confirmed {
        audit::record(
            &ctx,
            Entry::new(Action::TwoFactorDisabled)
                .by(&user.id)
                .details(serde_json::json!({"method": "totp", "confirmed_with": with})),
        )
        .await;
    }
    no_content()
}

// ---------------------------------------------------------------------------------------
// The second step of a sign-in

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondFactor {
    mfa_token: String,
    code: Option<String>,
    recovery_code: Option<String>,
    /// A passkey's assertion (`PublicKeyCredential.toJSON()`), to options from
    /// `POST /api/auth/passkey/options {mfa_token}`.
    passkey: Option<crate::auth::webauthn::AssertionJson>,
    #[serde(default)]
    refresh_token_in: Delivery,
}

enum Proof {
    Code(String),
    RecoveryCode(String),
    Passkey(Box<crate::auth::webauthn::AssertionJson>),
}

impl Proof {
    fn method(&self) -> &'static str {
        match self {
            Proof::Code(_) => "totp",
            Proof::RecoveryCode(_) => "recovery_code",
            Proof::Passkey(_) => "passkey",
        }
    }
}

/// The largest body of the second step: a passkey's assertion fits in a few KiB.
const SECOND_FACTOR_BODY_LIMIT: usize = 32 * 1024;

/// `POST /api/auth/login/mfa`: the ticket and one second factor; 200 as login.
pub async fn login_mfa(mut ctx: Ctx) -> ApiResult<Response> {
    let body: SecondFactor = ctx.json(SECOND_FACTOR_BODY_LIMIT).await?;
    let proof = match (body.code, body.recovery_code, body.passkey) {
        (Some(c), None, None) => Proof::Code(c),
        (None, Some(c), None) => Proof::RecoveryCode(c),
        (None, None, Some(p)) => Proof::Passkey(Box::new(p)),
        _ => {
            return Err(ApiError::validation(
                "send the mfa_token with exactly one of `code`, `recovery_code` or `passkey`",
            ))
        }
    };
    let db = ctx.db()?;
    let cfg = ctx.cfg.clone();
    let window = cfg.login_failure_window_secs;
    // Counted before anything is looked up or checked: the client address (as logins are),
    // then the ticket and the account; a success takes them back.
    let address = throttle::admit(
        &db,
        &format!("login:ip:{}", ctx.ip),
        cfg.login_failures_per_address,
        window,
        ctx.now,
    )
    .await?;
    let ticket_hash = sha256_hex(body.mfa_token.as_bytes());
    let ticket =
        mfa::live_ticket(&db, &ticket_hash, ctx.now)
            .await?
            .ok_or(ApiError::Unauthorized(
                "the sign-in ticket is not valid: it expired or was used; sign in again",
            ))?;
    throttle::admit(
        &db,
        &format!("mfa:ticket:{ticket_hash}"),
        TRIES_PER_TICKET,
        (mfa::TICKET_TTL_MS / 1000) as u32,
        ctx.now,
    )
    .await?;
    admit_account(&ctx, &ticket.user_id).await?;

    let accepted = match &proof {
        Proof::Code(code) => {
            if accept_code(&ctx, &ticket.user_id, code, true).await? {
                Ok(())
            } else {
                Err("wrong_code")
            }
        }
        Proof::RecoveryCode(code) => match totp::normalize_recovery_code(code) {
            Some(c) => {
                let hash = totp::recovery_code_hash(&ticket.user_id, &c);
                if mfa::use_recovery_code(&db, &ticket.user_id, &hash, ctx.now).await? {
                    Ok(())
                } else {
                    Err("wrong_code")
                }
            }
            None => Err("wrong_code"),
        },
        Proof::Passkey(assertion) => {
            crate::routes::passkeys::second_factor(&ctx, &ticket, &ticket_hash, assertion).await?
        }
    };
    if let Err(reason) = accepted {
        record_failure(&ctx, &ticket.user_id, proof.method(), "sign_in", reason).await;
        return Err(match proof {
            Proof::Passkey(_) => ApiError::Unauthorized("the passkey could not be verified"),
            _ => ApiError::InvalidCode(WRONG_CODE),
        });
    }
    if !mfa::use_ticket(&db, &ticket_hash, ctx.now).await? {
        return Err(ApiError::Unauthorized(
            "the sign-in ticket is not valid: it expired or was used; sign in again",
        ));
    }
    throttle::reset(&db, &account_key(&ticket.user_id)).await?;
    throttle::refund(&db, &address).await?;
    let user = users::find(&db, &ticket.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    // Disabled between the two steps: no session.
    user.ensure_enabled()?;
    let issued = open_session(&ctx, &user.id, &ticket.first_factor, vec![]).await?;
    audit::record(
        &ctx,
        Entry::new(Action::LoginSucceeded)
            .by(&user.id)
            .details(serde_json::json!({
                "method": ticket.first_factor,
                "second_factor": proof.method(),
                "session_id": issued.session_id,
            })),
    )
    .await;
    if let Proof::RecoveryCode(_) = proof {
        let left = mfa::recovery_codes_left(&db, &user.id).await?;
        audit::record(
            &ctx,
            Entry::new(Action::RecoveryCodeUsed)
                .by(&user.id)
                .details(serde_json::json!({"recovery_codes_left": left})),
        )
        .await;
    }
    token_response(200, Some(&user.view()), &issued, body.refresh_token_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_hands_the_ticket_to_the_sign_in_page_in_the_fragment() {
        let step = SecondStep {
            mfa_required: true,
            mfa_token: "tkt_AbC-_9".into(),
            methods: vec!["totp", "recovery_code", "passkey"],
            expires_in: 300,
        };
        assert_eq!(
            step.web_client_location(),
            "/login#mfa_token=tkt_AbC-_9&methods=totp,recovery_code,passkey"
        );
    }
}
