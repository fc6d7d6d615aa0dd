//! The pipeline every model call goes through, whatever wire format it came in (the chat
//! route's conversation, `/v1/chat/completions`, and the Messages and Responses formats):
//!
//! 1. **admit** (`admit`, or `acting_org` + `admit_user` + `Admitted::new` where the caller
//!    reads its org another way): the org the call acts in, the user's rate limit for an
//!    access token (an API key's rate and scope are checked before the handler), the org's
//!    enabled models, and the provider key (the user's, else the org's under
//!    `features.byok`, else the service's under `SERVICE_KEYS`);
//! 2. **prepare** (`prepare`): the provider's `validate()` (a 400 naming the parameter),
//!    remote media fetched where the provider cannot take a URL (`media`), then the budget
//!    reservation, whose completion cap becomes the request's `max_tokens`. Nothing is
//!    reserved for a request that is refused;
//! 3. **call** (`Admitted::open` for a stream, `Admitted::complete` otherwise);
//! 4. **meter** (`Meter::record`): one usage row, then the reservation settled with what
//!    was used (`Meter::release` when nothing was).
//!
//! Stateless ingress routes hand the rest to `respond` with their format's `Render`; the
//! conversation's Durable Object runs steps 2 to 4 itself, as it alone knows the history.

mod admission;
pub mod media;

pub use admission::{admit_and_prepare, forget_org};

use futures::channel::oneshot;
use serde::{Deserialize, Serialize};
use worker::{AbortController, AbortSignal, D1Database, Env, Response};

use crate::auth::guard::Principal;
use crate::config::Config;
use crate::domain::settings::OrgSettings;
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::http::{ok, Ctx};
use crate::limits::{self, client::Reservation};
use crate::providers::{
    self, demo, ChatRequest, Chunk, Completion, Message, ProviderKind, Role, UpstreamError, Usage,
};
use crate::store::{orgs, provider_keys, usage};
use crate::upstream::{self, ReplySource};
use crate::util::now_ms;

/// The org a request acts in: the one named (if the caller belongs to it), else the
/// caller's personal org; an API key is bound to its own org (naming another is a 404).
pub async fn acting_org(
    db: &D1Database,
    who: &Principal,
    named: Option<&str>,
) -> ApiResult<String> {
    if let Some(key) = &who.api_key {
        if named.is_some_and(|n| n != key.org_id) {
            return Err(ApiError::NotFound);
        }
        return Ok(key.org_id.clone());
    }
    match named {
        Some(org) => Ok(crate::auth::sso::scope(db, org, who).await?.org_id),
        None => orgs::personal_org(db, &who.user_id)
            .await?
            .ok_or(ApiError::NotFound),
    }
}

/// Counts a model call made with an access token against `USER_RATE_LIMIT_RPM`, in the
/// user's own limiter, so it holds across every org and route. (An API key's rate was
/// counted before the handler.) With `REQUIRE_VERIFIED_EMAIL`, a user whose address is not
/// verified is refused first, whatever the credential (an API key acts as its user).
pub async fn admit_user(ctx: &Ctx, who: &Principal) -> ApiResult<()> {
    if ctx.cfg.require_verified_email
        && !crate::store::users::is_verified(&ctx.db()?, &who.user_id).await?
    {
        return Err(unverified());
    }
    let rpm = who.api_key.is_none().then_some(ctx.cfg.user_rpm).flatten();
    limits::client::admit_user(&ctx.env, &who.user_id, rpm).await
}

/// Who a call is billed to, and the monthly budget it is held to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub org_id: String,
    pub user_id: String,
    /// The API key the call came with, for metering.
    pub api_key_id: Option<String>,
    /// `limits::monthly_limit` of the org's setting and the service's default.
    pub monthly_limit: Option<u64>,
}

impl Account {
    pub fn new(cfg: &Config, who: &Principal, org_id: &str, settings: &OrgSettings) -> Self {
        Account {
            org_id: org_id.to_owned(),
            user_id: who.user_id.clone(),
            api_key_id: who.api_key.as_ref().map(|k| k.key_id.clone()),
            monthly_limit: limits::monthly_limit(
                settings.monthly_token_limit,
                cfg.default_monthly_token_limit,
            ),
        }
    }
}

/// A call admitted to one model: who pays, and how to reach the provider. It travels to a
/// conversation's Durable Object inside the send, so it holds the provider key: never log
/// it (it has no `Debug` on purpose).
#[derive(Clone, Serialize, Deserialize)]
pub struct Admitted {
    pub model: ModelId,
    pub account: Account,
    /// `None` for the demo model, which needs none.
    pub provider_key: Option<String>,
    pub base_url: String,
    pub demo_delay_ms: u32,
}

impl Admitted {
    pub fn new(
        cfg: &Config,
        model: ModelId,
        account: Account,
        provider_key: Option<String>,
    ) -> Self {
        Admitted {
            base_url: cfg.base_url(model.provider()).to_owned(),
            demo_delay_ms: cfg.demo_token_delay_ms,
            model,
            account,
            provider_key,
        }
    }

    pub fn kind(&self) -> ProviderKind {
        self.model.provider()
    }

    /// Opens a streamed reply: for a provider, sends the request and fails (as an HTTP
    /// error) when the provider refuses it.
    pub async fn open(&self, req: &ChatRequest, signal: &AbortSignal) -> ApiResult<ReplySource> {
        ReplySource::open(
            self.kind(),
            &self.base_url,
            self.provider_key.as_deref(),
            req,
            self.demo_delay_ms,
            signal,
        )
        .await
    }

    /// A whole reply, not streamed.
    pub async fn complete(&self, req: &ChatRequest) -> ApiResult<Completion> {
        let kind = self.kind();
        let key = match (kind, self.provider_key.as_deref()) {
            (ProviderKind::Demo, _) => {
                let mut completion = demo::completion(req);
                providers::signature::tag_completion(kind, &mut completion);
                return Ok(completion);
            }
            (_, Some(key)) => key,
            (_, None) => return Err(ApiError::NoProviderKey(kind.as_str())),
        };
        let mut resp = upstream::send(kind, &self.base_url, key, req, None)
            .await
            .map_err(|e| upstream::api_error(&e))?;
        let body = resp.bytes().await.map_err(|e| ApiError::Upstream {
            status: 502,
            detail: format!("{kind}: the response could not be read: {e}"),
            retry_after: None,
        })?;
        let mut completion =
            providers::parse_completion(kind, &body).map_err(|e| upstream::api_error(&e))?;
        providers::signature::tag_completion(kind, &mut completion);
        Ok(completion)
    }
}

/// Admits a call of a stateless ingress route to `model`: the acting org (`named`, e.g.
/// `OpenAI-Organization`, else the key's or the personal one), the user's rate limit, the
/// org's enabled models, the provider key (and the org's settings, as read). Phases `org` and
/// `key` in Server-Timing.
pub async fn admit(
    ctx: &Ctx,
    who: &Principal,
    named: Option<&str>,
    model: &ModelId,
) -> ApiResult<(Admitted, OrgSettings)> {
    let db = ctx.db()?;
    let (org_id, admitted) = futures::join!(acting_org(&db, who, named), admit_user(ctx, who));
    let (org_id, ()) = (org_id?, admitted?);
    ctx.timing.set_org(&org_id);
    let settings = async {
        match &who.api_key {
            Some(key) if key.org_id == org_id => Ok(key.settings.clone()),
            _ => orgs::settings(&db, &org_id).await,
        }
    };
    let keys = provider_keys::candidates(&db, &who.user_id, &org_id);
    let (settings, keys) = futures::join!(settings, keys);
    let (settings, keys) = (settings?, keys?);
    orgs::require_2fa_of(&db, &settings, &who.user_id).await?;
    ctx.timing.mark("org");
    if !settings.allows(model) {
        return Err(not_enabled(model));
    }
    let provider_key = keys
        .resolve(
            &db,
            &ctx.cfg,
            &who.user_id,
            &org_id,
            model.provider(),
            ctx.now,
        )
        .await?;
    ctx.timing.mark("key");
    let account = Account::new(&ctx.cfg, who, &org_id, &settings);
    Ok((
        Admitted::new(&ctx.cfg, model.clone(), account, provider_key),
        settings,
    ))
}

pub(crate) fn unverified() -> ApiError {
    ApiError::EmailUnverified(
        "verify your email address to use the models: open the link sent to it, or ask \
         for a new one (POST /api/auth/verify-email/resend)",
    )
}

pub(crate) fn not_enabled(model: &ModelId) -> ApiError {
    ApiError::param(
        "model",
        format!("the model `{model}` is not enabled in this organization"),
    )
}

/// A provider's refusal, as the 400 naming the parameter (in neutral positions: an
/// ingress renames them to its own).
pub fn validate(kind: ProviderKind, req: &ChatRequest) -> ApiResult<()> {
    providers::validate(kind, req).map_err(|u| ApiError::param(u.param, u.message))
}

/// Makes `req` ready to send: each reasoning signature given back only to the provider that
/// issued it (`providers::signature`), validated for the provider, its remote media fetched where
/// the provider cannot take a URL, and the budget reserved, with `req.max_tokens` set to
/// the completion cap the budget admitted. A refused request has reserved nothing.
pub async fn prepare(env: &Env, call: &Admitted, req: &mut ChatRequest) -> ApiResult<Meter> {
    providers::signature::admit(call.kind(), req);
    validate(call.kind(), req)?;
    media::inline_remote(call.kind(), req).await?;
    let prompt_estimate = req.prompt_estimate();
    let reservation = limits::client::reserve(
        env,
        &call.account.org_id,
        call.account.monthly_limit,
        prompt_estimate,
        req.max_tokens,
    )
    .await?;
    req.max_tokens = reservation.cap;
    Ok(Meter {
        account: call.account.clone(),
        model: call.model.as_str().to_owned(),
        reservation,
        prompt_estimate,
    })
}

/// What a reply is billed: to whom, for which model, and the reservation it settles.
/// Whoever ends a reply takes the meter and records once.
#[derive(Clone, Debug)]
pub struct Meter {
    pub account: Account,
    /// `provider/model`.
    pub model: String,
    pub reservation: Reservation,
    pub prompt_estimate: u64,
}

impl Meter {
    /// A meter before its reservation (nothing reserved yet, nothing to release).
    pub fn unreserved(account: Account, model: &ModelId, prompt_estimate: u64) -> Self {
        Meter {
            reservation: Reservation {
                org_id: account.org_id.clone(),
                id: None,
                cap: None,
            },
            account,
            model: model.as_str().to_owned(),
            prompt_estimate,
        }
    }

    /// What the reply used: for a complete one, the provider's count; for one cut short
    /// (failed, aborted, client gone), the provider's prompt count (else the estimate) and
    /// the larger of its completion count and an estimate of what was received.
    pub fn usage(&self, seen: Option<Usage>, received: &str, complete: bool) -> Usage {
        match seen {
            Some(u) if complete => u,
            seen => {
                let seen = seen.unwrap_or_default();
                Usage {
                    prompt_tokens: match seen.prompt_tokens {
                        0 => self.prompt_estimate,
                        counted => counted,
                    },
                    completion_tokens: seen
                        .completion_tokens
                        .max(providers::estimate_tokens(received)),
                    ..seen
                }
            }
        }
    }

    /// Records the usage (one row per reply: org, user, API key, model, day), then settles
    /// the reservation with it: after the D1 row, so a month seeded from D1 in between never
    /// misses this reply. Failures are logged: an unsettled reservation expires.
    pub async fn record(self, env: &Env, used: Usage) {
        let recorded = match env.d1("DB") {
            Ok(db) => {
                let row = usage::UsageRecord {
                    org_id: &self.account.org_id,
                    user_id: &self.account.user_id,
                    api_key_id: self.account.api_key_id.as_deref(),
                    model: &self.model,
                    usage: used,
                    now: now_ms(),
                };
                usage::record(&db, &row).await
            }
            Err(e) => Err(ApiError::internal(format!("D1 binding: {e}"))),
        };
        if let Err(e) = recorded {
            worker::console_error!(
                "{}",
                serde_json::json!({"error": "usage not recorded", "context": e.to_string()})
            );
        }
        limits::client::settle(env, &self.reservation, used.total()).await;
    }

    /// Nothing was generated: the reservation is given back whole.
    pub async fn release(&self, env: &Env) {
        limits::client::settle(env, &self.reservation, 0).await;
    }
}

/// How a stateless ingress format writes a reply: the whole body, or SSE frames.
pub trait Render: 'static {
    /// The body of a reply that was not streamed.
    fn completion(&mut self, c: &Completion) -> serde_json::Value;
    /// Whole SSE frames for one chunk (possibly none).
    fn chunk(&mut self, c: &Chunk) -> Vec<String>;
    /// The closing frames of a stream that ended properly; `usage` is what is billed.
    fn end(&mut self, usage: Usage) -> Vec<String>;
    /// The frames telling of a failure after the 200 went out.
    fn fail(&mut self, e: &UpstreamError) -> Vec<String>;
}

/// Runs a prepared call to its end and answers it (step 3 and 4 for a stateless route).
/// The reply runs in a task kept alive past the response (`Ctx::spawn`), which meters it
/// however it ends: complete, upstream cut, or client gone. A stream's 200 is committed
/// only once the first chunk is in, so a provider that fails at once is a real HTTP error.
pub async fn respond<R: Render>(
    ctx: &Ctx,
    call: Admitted,
    meter: Meter,
    req: ChatRequest,
    render: R,
) -> ApiResult<Response> {
    let (answer, answered) = oneshot::channel();
    let env = ctx.env.clone();
    if req.stream {
        ctx.spawn(stream(env, call, meter, req, render, answer));
    } else {
        ctx.spawn(complete(env, call, meter, req, render, answer));
    }
    let answer = answered
        .await
        .map_err(|_| ApiError::internal("the completion task ended without an answer"))?;
    ctx.timing.mark("upstream");
    answer
}

type Answer = oneshot::Sender<ApiResult<Response>>;

async fn complete<R: Render>(
    env: Env,
    call: Admitted,
    meter: Meter,
    req: ChatRequest,
    mut render: R,
    answer: Answer,
) {
    match call.complete(&req).await {
        Ok(c) => {
            let _ = answer.send(ok(&render.completion(&c)));
            meter.record(&env, c.usage).await;
        }
        Err(e) => {
            meter.release(&env).await;
            let _ = answer.send(Err(e));
        }
    }
}

/// Everything received so far that counts as completion text.
fn received_text(reply: &Completion) -> String {
    Message {
        role: Role::Assistant,
        content: reply.content.clone(),
    }
    .prompt_text()
}

/// Streams a reply. A client that goes away stops the upstream; the usage so far is
/// recorded all the same.
async fn stream<R: Render>(
    env: Env,
    call: Admitted,
    meter: Meter,
    req: ChatRequest,
    render: R,
    answer: Answer,
) {
    let controller = AbortController::default();
    let source = match call.open(&req, &controller.signal()).await {
        Ok(s) => s,
        Err(e) => {
            meter.release(&env).await;
            let _ = answer.send(Err(e));
            return;
        }
    };
    let (resp, sink) = match crate::sse::sse_sink() {
        Ok(pair) => pair,
        Err(e) => {
            meter.release(&env).await;
            let _ = answer.send(Err(e));
            return;
        }
    };
    let mut relay = Relay {
        render,
        sink,
        pending: Some((answer, resp)),
        reply: Completion::default(),
        seen_usage: None,
        client_gone: false,
    };
    let outcome = source.run(|chunk| relay.on_chunk(&chunk)).await;
    let Relay {
        mut render,
        sink,
        pending,
        reply,
        seen_usage,
        client_gone,
    } = relay;
    if client_gone {
        controller.abort();
    }
    let pending = match (pending, &outcome) {
        (Some((answer, _)), Err(e)) => {
            // Failed before the first chunk: a real HTTP error, and nothing is billed.
            meter.release(&env).await;
            let _ = answer.send(Err(upstream::api_error(e)));
            return;
        }
        (pending, _) => pending,
    };
    let complete = outcome.is_ok() && !client_gone;
    let used = meter.usage(seen_usage, &received_text(&reply), complete);
    if !client_gone {
        let frames = match &outcome {
            Ok(()) => render.end(used),
            Err(e) => render.fail(e),
        };
        for f in frames {
            sink.send(&f);
        }
    }
    // An empty reply (no chunk at all) is answered here, with its closing frames queued.
    if let Some((answer, resp)) = pending {
        let _ = answer.send(Ok(resp));
    }
    // Closing the stream ends the response before the bookkeeping.
    sink.close();
    meter.record(&env, used).await;
}

/// A streamed reply on its way to the client: what was received so far, and the client's
/// stream, answered (the 200 committed) with the first chunk.
struct Relay<R> {
    render: R,
    sink: crate::sse::SseSink,
    pending: Option<(Answer, Response)>,
    reply: Completion,
    seen_usage: Option<Usage>,
    client_gone: bool,
}

impl<R: Render> Relay<R> {
    /// Sends a chunk on; false once the client has gone.
    fn on_chunk(&mut self, chunk: &Chunk) -> bool {
        self.reply.push(chunk);
        self.seen_usage = chunk.usage.or(self.seen_usage);
        let sink = &self.sink;
        self.client_gone = !self.render.chunk(chunk).iter().all(|f| sink.send(f));
        // The response goes out with its first frames already queued, so the headers and
        // the first token leave together rather than as two small writes. If the handler is
        // gone, the response went with it: a later send tells.
        if let Some((answer, resp)) = self.pending.take() {
            drop(answer.send(Ok(resp)));
        }
        !self.client_gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter() -> Meter {
        let account = Account {
            org_id: "org_1".into(),
            user_id: "usr_1".into(),
            api_key_id: None,
            monthly_limit: Some(1000),
        };
        Meter::unreserved(account, &ModelId::demo_echo(), 40)
    }

    #[test]
    fn a_complete_reply_is_billed_the_providers_count() {
        let seen = Usage {
            cached_prompt_tokens: 3,
            ..Usage::new(12, 7)
        };
        assert_eq!(
            meter().usage(Some(seen), "whatever was received", true),
            seen
        );
    }

    #[test]
    fn a_reply_cut_short_is_billed_at_least_what_was_received() {
        let m = meter();
        // Nothing counted: the prompt estimate, and the text received (12 chars: 3 tokens).
        assert_eq!(m.usage(None, "abcdabcdabcd", false), Usage::new(40, 3));
        // A provider's prompt count wins; its completion count wins when larger.
        assert_eq!(
            m.usage(Some(Usage::new(25, 9)), "abcd", false),
            Usage::new(25, 9)
        );
        // Complete but never counted (a provider without usage): estimated too.
        assert_eq!(m.usage(None, "abcd", true), Usage::new(40, 1));
        assert_eq!((m.reservation.id, m.reservation.cap), (None, None));
    }
}
