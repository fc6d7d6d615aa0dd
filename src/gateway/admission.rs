//! Admitting a call of a stateless ingress route with as few storage waits before the
//! provider request as the credential allows (README, "Storage waits before the first
//! token"): what an isolate last read of an API key or of a user's personal org lets the call
//! start, while everything is read again alongside it, and the call is decided on what is
//! read now.

use crate::auth::guard::Principal;
use crate::domain::settings::OrgSettings;
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;
use crate::limits::{self, client::Reservation};
use crate::providers::{self, ChatRequest};
use crate::store::{orgs, provider_keys};

use super::{
    admit, admit_user, media, not_enabled, prepare, unverified, validate, Account, Admitted, Meter,
};

/// Steps 1 and 2 of a stateless ingress route (`admit`, then `prepare`), with as few storage
/// waits before the provider request as the credential allows. For an API key, one: its new
/// lookup (`auth::guard`: the key was let in on this isolate's earlier reading), its user's
/// verified address and its org's two-factor rule where they apply, the provider keys, and
/// the key's rate-limit hit with the budget reservation (one call to the org's limiter), all
/// at once. A refusal from any of them releases what was reserved, and the key as looked up
/// now decides: if its org's settings changed meanwhile, the checks that depend on them are
/// made again with the new ones (a second wait, that once). For an access token, the session
/// is looked up alongside `admit`, then the budget is reserved.
pub async fn admit_and_prepare(
    ctx: &Ctx,
    who: &Principal,
    named: Option<&str>,
    model: &ModelId,
    req: &mut ChatRequest,
) -> ApiResult<(Admitted, Meter)> {
    let Some(key) = who.api_key.clone() else {
        return admit_session_call(ctx, who, named, model, req).await;
    };
    if named.is_some_and(|n| n != key.org_id) {
        return Err(ApiError::NotFound);
    }
    let org_id = key.org_id.clone();
    ctx.timing.set_org(&org_id);
    if !key.settings.allows(model) {
        return Err(not_enabled(model));
    }
    let kind = model.provider();
    providers::signature::admit(kind, req);
    validate(kind, req)?;
    if !media::remote_items(kind, req).is_empty() {
        // Nothing is fetched for a credential whose lookup has not answered.
        who.confirmed().await?;
    }
    media::inline_remote(kind, req).await?;
    let prompt_estimate = req.prompt_estimate();
    let db = ctx.db()?;
    let rpm = limits::key_rpm(key.settings.rate_limit_rpm, ctx.cfg.api_key_rpm);
    let verified = async {
        if ctx.cfg.require_verified_email
            && !crate::store::users::is_verified(&db, &who.user_id).await?
        {
            return Err(unverified());
        }
        Ok(())
    };
    let (fresh, verified, two_fa, keys, reservation) = futures::join!(
        who.confirmed(),
        verified,
        orgs::require_2fa_of(&db, &key.settings, &who.user_id),
        provider_keys::candidates(&db, &who.user_id, &org_id),
        limits::client::admit_key_and_reserve(
            &ctx.env,
            &org_id,
            &key.key_id,
            rpm,
            monthly_limit(ctx, &key.settings),
            prompt_estimate,
            req.max_tokens,
        ),
    );
    ctx.timing.mark("admit");
    // The credential's refusal first (releasing what was reserved).
    let fresh = match fresh {
        Ok(fresh) => fresh,
        Err(e) => {
            if let Ok(r) = &reservation {
                limits::client::settle(&ctx.env, r, 0).await;
            }
            return Err(e);
        }
    };
    let (settings, reservation, keys) = match fresh {
        // The org's settings changed since this isolate read the key: what depended on them
        // is decided again with the new ones. A rate-limit refusal stands (the hit was
        // counted at the rate read before: README, "Storage waits before the first token").
        Some(now) if now.settings != key.settings => {
            match &reservation {
                Ok(r) => limits::client::settle(&ctx.env, r, 0).await,
                Err(e @ ApiError::RateLimited(_)) => return Err(e.clone()),
                Err(_) => {}
            }
            let settings = now.settings;
            let keys = verified.and(keys)?;
            let again =
                decide_again(ctx, who, model, &org_id, &settings, prompt_estimate, req).await?;
            (settings, again, keys)
        }
        _ => {
            let reservation = reservation?;
            match verified.and(two_fa).and(keys) {
                Ok(keys) => (key.settings.clone(), reservation, keys),
                Err(e) => {
                    limits::client::settle(&ctx.env, &reservation, 0).await;
                    return Err(e);
                }
            }
        }
    };
    let admitted = Admission {
        org_id: &org_id,
        settings: &settings,
        keys,
        reservation,
        prompt_estimate,
    };
    admitted.finish(ctx, who, model, req).await
}

/// What `admit_and_prepare` has decided, by either credential, before the provider key is
/// chosen.
struct Admission<'a> {
    org_id: &'a str,
    settings: &'a OrgSettings,
    keys: provider_keys::Candidates,
    reservation: Reservation,
    prompt_estimate: u64,
}

impl Admission<'_> {
    /// The provider key of the model (releasing the reservation if there is none), the
    /// completion cap the budget admitted, and the call with its meter.
    async fn finish(
        self,
        ctx: &Ctx,
        who: &Principal,
        model: &ModelId,
        req: &mut ChatRequest,
    ) -> ApiResult<(Admitted, Meter)> {
        let db = ctx.db()?;
        let provider_key = self
            .keys
            .resolve(
                &db,
                &ctx.cfg,
                &who.user_id,
                self.org_id,
                model.provider(),
                ctx.now,
            )
            .await;
        let provider_key = match provider_key {
            Ok(k) => k,
            Err(e) => {
                limits::client::settle(&ctx.env, &self.reservation, 0).await;
                return Err(e);
            }
        };
        req.max_tokens = self.reservation.cap;
        let account = Account::new(&ctx.cfg, who, self.org_id, self.settings);
        let meter = Meter {
            account: account.clone(),
            model: model.as_str().to_owned(),
            reservation: self.reservation,
            prompt_estimate: self.prompt_estimate,
        };
        Ok((
            Admitted::new(&ctx.cfg, model.clone(), account, provider_key),
            meter,
        ))
    }
}

/// How long this isolate lets a user's access-token calls start on what it last read of
/// their personal org (its id and settings), while it is read again: the call is decided on
/// what is read now (if it changed, the checks that depend on it are made again).
const ORG_HINT_TTL_MS: i64 = 10_000;

thread_local! {
    static ORG_HINTS: std::cell::RefCell<std::collections::HashMap<String, (String, OrgSettings, i64)>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn org_hint(user_id: &str, now: i64) -> Option<(String, OrgSettings)> {
    ORG_HINTS.with(|h| {
        let mut hints = h.borrow_mut();
        hints.retain(|_, (_, _, at)| now - *at < ORG_HINT_TTL_MS);
        hints.get(user_id).map(|(o, s, _)| (o.clone(), s.clone()))
    })
}

fn remember_org(user_id: &str, org_id: &str, settings: &OrgSettings, now: i64) {
    ORG_HINTS.with(|h| {
        h.borrow_mut().insert(
            user_id.to_owned(),
            (org_id.to_owned(), settings.clone(), now),
        )
    });
}

/// Forgets what this isolate read of `org_id`'s settings, with its API keys (the settings
/// changed): the org's next calls here start from the new ones at once (in other isolates,
/// at their next lookup).
pub fn forget_org(org_id: &str) {
    ORG_HINTS.with(|h| h.borrow_mut().retain(|_, (o, _, _)| o != org_id));
    crate::auth::guard::forget_keys(Some(org_id), None);
}

/// `admit_and_prepare` for an access token. In the user's personal org, once this isolate
/// has read it: one round (the session, the org and its settings read again, the provider
/// keys, the user's rate limit and the budget reservation at once). Otherwise the session is
/// looked up alongside `admit`, then the budget reserved.
async fn admit_session_call(
    ctx: &Ctx,
    who: &Principal,
    named: Option<&str>,
    model: &ModelId,
    req: &mut ChatRequest,
) -> ApiResult<(Admitted, Meter)> {
    let hint = match named {
        None => org_hint(&who.user_id, ctx.now).filter(|(_, s)| s.allows(model)),
        Some(_) => None,
    };
    let Some((org_id, settings)) = hint else {
        let (live, admitted) = futures::join!(who.confirmed(), admit(ctx, who, named, model));
        let (_, (call, settings)) = (live?, admitted?);
        if named.is_none() {
            remember_org(&who.user_id, &call.account.org_id, &settings, ctx.now);
        }
        let meter = prepare(&ctx.env, &call, req).await?;
        ctx.timing.mark("budget");
        return Ok((call, meter));
    };
    ctx.timing.set_org(&org_id);
    let kind = model.provider();
    providers::signature::admit(kind, req);
    validate(kind, req)?;
    if !media::remote_items(kind, req).is_empty() {
        who.confirmed().await?;
    }
    media::inline_remote(kind, req).await?;
    let prompt_estimate = req.prompt_estimate();
    let db = ctx.db()?;
    let (live, fresh, two_fa, keys, rate, reservation) = futures::join!(
        who.confirmed(),
        orgs::personal_org_settings(&db, &who.user_id),
        orgs::require_2fa_of(&db, &settings, &who.user_id),
        provider_keys::candidates(&db, &who.user_id, &org_id),
        admit_user(ctx, who),
        limits::client::reserve(
            &ctx.env,
            &org_id,
            monthly_limit(ctx, &settings),
            prompt_estimate,
            req.max_tokens,
        ),
    );
    ctx.timing.mark("admit");
    // The session's refusal first, then the rate limit's; whatever refuses, what was reserved
    // is released.
    let fresh = fresh.and_then(|now| now.ok_or(ApiError::NotFound));
    let (fresh_org, fresh_settings) = match live.and(rate).and(fresh) {
        Ok(now) => now,
        Err(e) => {
            if let Ok(r) = &reservation {
                limits::client::settle(&ctx.env, r, 0).await;
            }
            return Err(e);
        }
    };
    remember_org(&who.user_id, &fresh_org, &fresh_settings, ctx.now);
    let (settings, reservation, keys) = if (&fresh_org, &fresh_settings) == (&org_id, &settings) {
        // Decided on the settings as they are: the budget's refusal, then the rest.
        let reservation = reservation?;
        match two_fa.and(keys) {
            Ok(keys) => (settings, reservation, keys),
            Err(e) => {
                limits::client::settle(&ctx.env, &reservation, 0).await;
                return Err(e);
            }
        }
    } else {
        // The org's settings changed since this isolate read them: decided again with them.
        if let Ok(r) = &reservation {
            limits::client::settle(&ctx.env, r, 0).await;
        }
        let keys = if fresh_org == org_id {
            keys?
        } else {
            provider_keys::candidates(&db, &who.user_id, &fresh_org).await?
        };
        let again = decide_again(
            ctx,
            who,
            model,
            &fresh_org,
            &fresh_settings,
            prompt_estimate,
            req,
        )
        .await?;
        (fresh_settings, again, keys)
    };
    let admitted = Admission {
        org_id: &fresh_org,
        settings: &settings,
        keys,
        reservation,
        prompt_estimate,
    };
    admitted.finish(ctx, who, model, req).await
}

/// The org's monthly token budget, within the service's.
fn monthly_limit(ctx: &Ctx, settings: &OrgSettings) -> Option<u64> {
    limits::monthly_limit(
        settings.monthly_token_limit,
        ctx.cfg.default_monthly_token_limit,
    )
}

/// What depends on an org's settings, decided with the settings as read now (they changed
/// since this isolate read them): the model, the org's two-factor rule, the budget's
/// reservation.
async fn decide_again(
    ctx: &Ctx,
    who: &Principal,
    model: &ModelId,
    org_id: &str,
    settings: &OrgSettings,
    prompt_estimate: u64,
    req: &ChatRequest,
) -> ApiResult<Reservation> {
    if !settings.allows(model) {
        return Err(not_enabled(model));
    }
    orgs::require_2fa_of(&ctx.db()?, settings, &who.user_id).await?;
    limits::client::reserve(
        &ctx.env,
        org_id,
        monthly_limit(ctx, settings),
        prompt_estimate,
        req.max_tokens,
    )
    .await
}
