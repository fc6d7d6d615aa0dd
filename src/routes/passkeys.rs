//! Passkeys (WebAuthn): adding one to the account (creation options, then the attestation),
//! listing, renaming and removing them; signing in with one alone (a discoverable credential,
//! or one of an email's), and as the second factor of a sign-in (`routes::mfa`).
//!
//! The relying party is `WEBAUTHN_RP_ID` at the origins `WEBAUTHN_ORIGINS`; unset, the host
//! name and the origin of the request. Every challenge is single-use, 5 minutes, stored as
//! SHA-256, bound to its purpose (and its user, and the sign-in ticket of a second step).

use serde::Deserialize;
use serde_json::json;
use worker::Response;

use crate::auth::guard::Principal;
use crate::auth::webauthn::{self, AssertionJson, ClientData, Refusal, RegistrationJson};
use crate::crypto::{b64url, hex, hmac_sha256, random_bytes, sha256_hex};
use crate::domain::{DisplayName, Email};
use crate::error::{ApiError, ApiResult};
use crate::http::{created, decode_cursor, no_content, ok, page_limit, Ctx, AUTH_BODY_LIMIT};
use crate::routes::audit;
use crate::routes::auth::{start_session, token_response, Delivery};
use crate::store::audit::{Action, Entry};
use crate::store::passkeys::{self, Inserted, PasskeyRow, Purpose};
use crate::store::{mfa, sessions, throttle, users};
use crate::util::new_id;

/// A registration's body: an attestation can carry certificates (a few KiB each).
const REGISTER_BODY_LIMIT: usize = 64 * 1024;

/// The relying party of this request: its id and the origins its pages are on.
struct Rp {
    id: String,
    origins: Vec<String>,
}

impl Rp {
    fn as_ref(&self) -> webauthn::RelyingParty<'_> {
        webauthn::RelyingParty {
            id: &self.id,
            origins: &self.origins,
        }
    }
}

fn relying_party(ctx: &Ctx) -> ApiResult<Rp> {
    let url = ctx.req.url()?;
    let settings = &ctx.cfg.webauthn;
    let id = match &settings.rp_id {
        Some(id) => id.clone(),
        None => url.host_str().unwrap_or_default().to_ascii_lowercase(),
    };
    if !webauthn::is_valid_rp_id(&id) {
        return Err(ApiError::Unavailable(
            "passkeys need the service to be reached by a domain name, not an IP address: \
             set WEBAUTHN_RP_ID (and WEBAUTHN_ORIGINS)"
                .into(),
        ));
    }
    let origins = if settings.origins.is_empty() {
        vec![url.origin().ascii_serialization()]
    } else {
        settings.origins.clone()
    };
    Ok(Rp { id, origins })
}

/// A fresh challenge: its base64url for the options, after its hash is stored for `purpose`.
async fn new_challenge(
    ctx: &Ctx,
    purpose: Purpose,
    user_id: Option<&str>,
    ticket_hash: Option<&str>,
) -> ApiResult<String> {
    let challenge = random_bytes(32).map_err(ApiError::internal)?;
    passkeys::issue_challenge(
        &ctx.db()?,
        &sha256_hex(&challenge),
        purpose,
        user_id,
        ticket_hash,
        ctx.now,
    )
    .await?;
    Ok(b64url(&challenge))
}

fn descriptor(p: &PasskeyRow) -> serde_json::Value {
    json!({"type": "public-key", "id": p.credential_id, "transports": p.transports()})
}

/// A refused credential of the signed-in user's registration: 400 naming `credential`.
fn bad_credential(refusal: &Refusal) -> ApiError {
    ApiError::param("credential", format!("credential: {}", refusal.detail()))
}

const STALE_CHALLENGE: &str =
    "credential: its challenge is unknown, used or expired: ask for new options";

// ---------------------------------------------------------------------------------------
// Registration and management (signed in)

/// How recent a sign-in must be to add a passkey: a passkey signs in alone, second factor
/// included, so adding one is for someone who has just proven who they are, not for whoever
/// holds an old session's tokens.
pub const FRESH_SIGN_IN_MS: i64 = 15 * 60 * 1000;

async fn require_fresh_sign_in(ctx: &Ctx, who: &Principal) -> ApiResult<()> {
    let signed_in = match &who.session_id {
        Some(sid) => sessions::signed_in_at(&ctx.db()?, sid, &who.user_id).await?,
        None => None,
    };
    if signed_in.is_some_and(|at| ctx.now - at <= FRESH_SIGN_IN_MS) {
        return Ok(());
    }
    Err(ApiError::ReauthenticationRequired(
        "adding a passkey needs a sign-in from the last 15 minutes: sign in again, then add it",
    ))
}

/// `POST /api/me/passkeys/options`: `PublicKeyCredentialCreationOptions` (JSON form) for
/// `navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(…)})`.
pub async fn registration_options(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let rp = relying_party(&ctx)?;
    require_fresh_sign_in(&ctx, &who).await?;
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    let existing = passkeys::of_user(&db, &user.id).await?;
    let challenge = new_challenge(&ctx, Purpose::Register, Some(&user.id), None).await?;
    ok(&json!({
        "rp": {"id": rp.id, "name": "chatgate"},
        // The user handle: the account id, which says nothing about the person.
        "user": {"id": b64url(user.id.as_bytes()), "name": user.email, "displayName": user.name},
        "challenge": challenge,
        "pubKeyCredParams": webauthn::ALGORITHMS
            .iter()
            .map(|alg| json!({"type": "public-key", "alg": alg}))
            .collect::<Vec<_>>(),
        "timeout": passkeys::CHALLENGE_TTL_MS,
        "excludeCredentials": existing.iter().map(descriptor).collect::<Vec<_>>(),
        "authenticatorSelection": {
            "residentKey": "preferred",
            "requireResidentKey": false,
            "userVerification": "preferred",
        },
        "attestation": "none",
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    credential: RegistrationJson,
    name: Option<String>,
}

/// `POST /api/me/passkeys {credential, name?}`: stores the passkey of an attestation made
/// for options of this user; 201 `{id, name, created_at, …}`.
pub async fn register(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Register = ctx.json(REGISTER_BODY_LIMIT).await?;
    let name = DisplayName::parse(body.name.as_deref().unwrap_or("Passkey"), "name")
        .map_err(ApiError::Validation)?;
    let rp = relying_party(&ctx)?;
    require_fresh_sign_in(&ctx, &who).await?;
    let registration = body.credential.decode().map_err(|r| bad_credential(&r))?;
    let client = ClientData::parse(&registration.client_data_json, "webauthn.create")
        .map_err(|r| bad_credential(&r))?;
    let db = ctx.db()?;
    let challenge = passkeys::consume_challenge(
        &db,
        &sha256_hex(&client.challenge),
        Purpose::Register,
        ctx.now,
    )
    .await?
    .filter(|c| c.user_id.as_deref() == Some(who.user_id.as_str()))
    .ok_or_else(|| ApiError::param("credential", STALE_CHALLENGE))?;
    drop(challenge);
    let credential = webauthn::register(&client, &registration, &rp.as_ref(), false)
        .map_err(|r| bad_credential(&r))?;
    let id = new_id("pk");
    let inserted = passkeys::insert(
        &db,
        &passkeys::NewPasskey {
            id: &id,
            user_id: &who.user_id,
            credential_id: &b64url(&credential.id),
            public_key: &b64url(&credential.public_key),
            algorithm: credential.algorithm,
            sign_count: credential.sign_count,
            backup_eligible: credential.backup_eligible,
            backed_up: credential.backed_up,
            transports: &registration.transports,
            aaguid: &hex(&credential.aaguid),
            name: name.as_str(),
            now: ctx.now,
        },
    )
    .await?;
    match inserted {
        Inserted::Done => {}
        Inserted::Full => {
            return Err(ApiError::Conflict(format!(
                "you have {} passkeys, the most allowed: remove one first",
                passkeys::MAX_PER_USER
            )))
        }
        Inserted::Duplicate => {
            return Err(ApiError::Conflict(
                "this passkey is registered already".into(),
            ))
        }
    }
    let row = passkeys::get(&db, &who.user_id, &id).await?;
    audit::record(
        &ctx,
        Entry::new(Action::PasskeyAdded)
            .by(&who.user_id)
            .details(json!({
                "passkey_id": id, "name": row.name, "algorithm": credential.algorithm,
                "backed_up": credential.backed_up,
            })),
    )
    .await;
    created(&row.view())
}

/// `GET /api/me/passkeys`: the user's passkeys, oldest first.
pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let after = ctx
        .query_param("cursor")
        .map(|c| decode_cursor(&c))
        .transpose()?;
    let rows = passkeys::list(&ctx.db()?, &who.user_id, after, limit + 1).await?;
    ok(&crate::routes::orgs::page(
        rows,
        limit,
        |r| (r.created_at, &r.id),
        PasskeyRow::view,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// `PATCH /api/me/passkeys/{id} {name}`.
pub async fn rename(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Rename = ctx.json(AUTH_BODY_LIMIT).await?;
    let name = DisplayName::parse(&body.name, "name").map_err(ApiError::Validation)?;
    let db = ctx.db()?;
    let before = passkeys::get(&db, &who.user_id, ctx.param(0)).await?;
    passkeys::rename(&db, &who.user_id, &before.id, name.as_str()).await?;
    audit::record(
        &ctx,
        Entry::new(Action::PasskeyRenamed).by(&who.user_id).details(
            json!({"passkey_id": before.id, "name": name.as_str(), "previous_name": before.name}),
        ),
    )
    .await;
    ok(&passkeys::get(&db, &who.user_id, &before.id).await?.view())
}

/// `DELETE /api/me/passkeys/{id}`.
pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let row = passkeys::get(&db, &who.user_id, ctx.param(0)).await?;
    passkeys::delete(&db, &who.user_id, &row.id).await?;
    audit::record(
        &ctx,
        Entry::new(Action::PasskeyRemoved)
            .by(&who.user_id)
            .details(json!({"passkey_id": row.id, "name": row.name})),
    )
    .await;
    no_content()
}

// ---------------------------------------------------------------------------------------
// Signing in

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignInOptions {
    email: Option<String>,
    mfa_token: Option<String>,
}

/// A stand-in credential id for an address without passkeys, the same at every request, so
/// the options do not tell whether the address has an account (WebAuthn §14.6.2).
fn decoy_credential(secret: &[u8], email_key: &str) -> serde_json::Value {
    let key = hmac_sha256(secret, b"chatgate passkey decoy v1");
    let id = hmac_sha256(&key, email_key.as_bytes());
    json!({"type": "public-key", "id": b64url(&id[..16]), "transports": ["internal", "hybrid"]})
}

/// `POST /api/auth/passkey/options {email?} | {mfa_token}`: request options for
/// `navigator.credentials.get`. No body or `{}`: any discoverable passkey of this site;
/// `{email}`: that account's passkeys; `{mfa_token}`: the passkeys of the sign-in waiting for
/// its second factor. Counted per client address.
pub async fn sign_in_options(mut ctx: Ctx) -> ApiResult<Response> {
    let body: SignInOptions = ctx.json_opt(AUTH_BODY_LIMIT).await?.unwrap_or_default();
    let rp = relying_party(&ctx)?;
    let db = ctx.db()?;
    let cfg = ctx.cfg.clone();
    throttle::admit(
        &db,
        &format!("passkey-options:ip:{}", ctx.ip),
        cfg.login_failures_per_address,
        cfg.login_failure_window_secs,
        ctx.now,
    )
    .await?;
    let (allow, challenge, user_verification) = match (body.email, body.mfa_token) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "send `email` or `mfa_token`, not both",
            ))
        }
        (None, Some(token)) => {
            let ticket_hash = sha256_hex(token.as_bytes());
            let ticket = mfa::live_ticket(&db, &ticket_hash, ctx.now).await?.ok_or(
                ApiError::Unauthorized(
                    "the sign-in ticket is not valid: it expired or was used; sign in again",
                ),
            )?;
            let allow: Vec<_> = passkeys::of_user(&db, &ticket.user_id)
                .await?
                .iter()
                .map(descriptor)
                .collect();
            let challenge = new_challenge(
                &ctx,
                Purpose::SecondFactor,
                Some(&ticket.user_id),
                Some(&ticket_hash),
            )
            .await?;
            // The password was the first factor: presence is enough for the second.
            (allow, challenge, "preferred")
        }
        (Some(email), None) => {
            let email = Email::parse(&email).map_err(ApiError::Validation)?;
            let user = users::find_by_email(&db, &email).await?;
            let own = match &user {
                Some(u) => passkeys::of_user(&db, &u.id).await?,
                None => vec![],
            };
            let (allow, bound) = if own.is_empty() {
                (vec![decoy_credential(&cfg.jwt_secret, email.key())], None)
            } else {
                (
                    own.iter().map(descriptor).collect(),
                    user.as_ref().map(|u| u.id.as_str()),
                )
            };
            let challenge = new_challenge(&ctx, Purpose::SignIn, bound, None).await?;
            (allow, challenge, "required")
        }
        (None, None) => (
            vec![],
            new_challenge(&ctx, Purpose::SignIn, None, None).await?,
            "required",
        ),
    };
    ok(&json!({
        "challenge": challenge,
        "timeout": passkeys::CHALLENGE_TTL_MS,
        "rpId": rp.id,
        "allowCredentials": allow,
        "userVerification": user_verification,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    credential: AssertionJson,
    #[serde(default)]
    refresh_token_in: Delivery,
}

const NOT_VERIFIED: &str = "the passkey could not be verified";

/// Why an assertion was refused, and whose passkey it named (when it named one).
pub(crate) struct Failure {
    pub reason: &'static str,
    pub user_id: Option<String>,
}

fn failed(reason: &'static str) -> Failure {
    Failure {
        reason,
        user_id: None,
    }
}

/// Checks an assertion made for a challenge of `purpose` against the stored passkey it names:
/// the challenge is used up first (whatever follows), the passkey must be the challenge's
/// user's when it has one, the signature counter must move forward (refused and audited
/// otherwise). Returns the passkey, or why it was refused.
async fn verify_assertion(
    ctx: &Ctx,
    assertion: &AssertionJson,
    purpose: Purpose,
    ticket_hash: Option<&str>,
    require_uv: bool,
) -> ApiResult<Result<PasskeyRow, Failure>> {
    let rp = relying_party(ctx)?;
    let db = ctx.db()?;
    let Ok(assertion) = assertion.decode() else {
        return Ok(Err(failed("malformed")));
    };
    let client = match ClientData::parse(&assertion.client_data_json, "webauthn.get") {
        Ok(c) => c,
        Err(r) => return Ok(Err(failed(r.reason()))),
    };
    let Some(challenge) =
        passkeys::consume_challenge(&db, &sha256_hex(&client.challenge), purpose, ctx.now).await?
    else {
        return Ok(Err(failed("unknown_challenge")));
    };
    if challenge.ticket_hash.as_deref() != ticket_hash {
        return Ok(Err(failed("unknown_challenge")));
    }
    let Some(passkey) = passkeys::by_credential_id(&db, &b64url(&assertion.credential_id)).await?
    else {
        return Ok(Err(failed("unknown_credential")));
    };
    let refused = |reason| {
        Ok(Err(Failure {
            reason,
            user_id: Some(passkey.user_id.clone()),
        }))
    };
    if challenge
        .user_id
        .as_deref()
        .is_some_and(|u| u != passkey.user_id)
        || assertion
            .user_handle
            .as_deref()
            .is_some_and(|h| h != passkey.user_id.as_bytes())
    {
        return refused("another_users_credential");
    }
    let public_key = crate::crypto::b64url_decode(&passkey.public_key)
        .ok_or_else(|| ApiError::internal("a stored passkey key is not base64url"))?;
    let stored = webauthn::StoredCredential {
        public_key: &public_key,
        sign_count: u32::try_from(passkey.sign_count).unwrap_or(u32::MAX),
        backup_eligible: passkey.backup_eligible != 0,
    };
    let asserted =
        match webauthn::authenticate(&client, &assertion, &stored, &rp.as_ref(), require_uv) {
            Ok(a) => a,
            Err(Refusal::CounterRegressed { stored, presented }) => {
                counter_regressed(ctx, &passkey, i64::from(stored), i64::from(presented)).await;
                return refused("counter_regressed");
            }
            Err(r) => return refused(r.reason()),
        };
    if !passkeys::record_use(
        &db,
        &passkey.id,
        passkey.sign_count,
        asserted.sign_count,
        asserted.backed_up,
        ctx.now,
    )
    .await?
    {
        // Another use of the same passkey moved its counter meanwhile.
        counter_regressed(
            ctx,
            &passkey,
            passkey.sign_count,
            i64::from(asserted.sign_count),
        )
        .await;
        return refused("counter_regressed");
    }
    Ok(Ok(passkey))
}

async fn counter_regressed(ctx: &Ctx, passkey: &PasskeyRow, stored: i64, presented: i64) {
    audit::record(
        ctx,
        Entry::new(Action::PasskeyCounterRegressed)
            .on(&passkey.user_id)
            .details(json!({
                "passkey_id": passkey.id, "stored_count": stored, "presented_count": presented,
            })),
    )
    .await;
}

/// `POST /api/auth/passkey {credential}`: signs in with a passkey alone (the authenticator
/// must verify the user: PIN or biometrics); 200 as login. Counted per client address like a
/// login.
pub async fn sign_in(mut ctx: Ctx) -> ApiResult<Response> {
    let body: SignIn = ctx.json(AUTH_BODY_LIMIT).await?;
    let db = ctx.db()?;
    let cfg = ctx.cfg.clone();
    let address = throttle::admit(
        &db,
        &format!("login:ip:{}", ctx.ip),
        cfg.login_failures_per_address,
        cfg.login_failure_window_secs,
        ctx.now,
    )
    .await?;
    let passkey =
        match verify_assertion(&ctx, &body.credential, Purpose::SignIn, None, true).await? {
            Ok(p) => p,
            Err(failure) => {
                audit::record(
                    &ctx,
                    Entry::new(Action::LoginFailed)
                        .on(&failure.user_id)
                        .details(json!({"method": "passkey", "reason": failure.reason})),
                )
                .await;
                return Err(ApiError::Unauthorized(NOT_VERIFIED));
            }
        };
    throttle::refund(&db, &address).await?;
    let user = users::find(&db, &passkey.user_id)
        .await?
        .ok_or(ApiError::Unauthorized(NOT_VERIFIED))?;
    user.ensure_enabled()?;
    let issued = start_session(&ctx, &user.id, vec![]).await?;
    audit::record(
        &ctx,
        Entry::new(Action::LoginSucceeded)
            .by(&user.id)
            .details(json!({
                "method": "passkey", "passkey_id": passkey.id, "session_id": issued.session_id,
            })),
    )
    .await;
    token_response(200, Some(&user.view()), &issued, body.refresh_token_in)
}

/// The passkey of a sign-in's second step: an assertion for a challenge of that ticket, by a
/// passkey of the ticket's user (presence is enough: the first factor was the password).
pub(crate) async fn second_factor(
    ctx: &Ctx,
    ticket: &mfa::Ticket,
    ticket_hash: &str,
    assertion: &AssertionJson,
) -> ApiResult<Result<(), &'static str>> {
    Ok(verify_assertion(
        ctx,
        assertion,
        Purpose::SecondFactor,
        Some(ticket_hash),
        false,
    )
    .await?
    .map_err(|f| f.reason)
    .and_then(|p| {
        if p.user_id == ticket.user_id {
            Ok(())
        } else {
            Err("another_users_credential")
        }
    }))
}
