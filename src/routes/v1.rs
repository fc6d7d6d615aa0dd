//! The OpenAI-compatible API, so OpenAI's own SDKs work against every configured model:
//! `POST /v1/chat/completions` (streamed or not; Anthropic and Gemini translated both ways
//! by the provider layer) and `GET /v1/models`. Errors on these paths are rendered in
//! OpenAI's shape by the pipeline (`app::openai_error`).
//!
//! The org a request acts in: an API key's own org; for an access token, the org named by
//! the `OpenAI-Organization` header (OpenAI clients send it for `organization=`), else the
//! caller's personal org. A budget reservation is taken before any upstream call; the reply
//! then runs in a task kept alive past the response (`Ctx::spawn`), which records its usage
//! and settles the reservation however it ends: complete, upstream cut, or client gone.

use futures::channel::{mpsc, oneshot};
use serde::Serialize;
use worker::{AbortController, Env, Response};

use crate::auth::guard::Principal;
use crate::domain::model_id::DEMO_ECHO;
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::http::{is_json_content_type, ok, Ctx, BODY_LIMIT};
use crate::limits::{self, client::Reservation};
use crate::openai_compat::{self, ChunkWriter, CompatRequest};
use crate::providers::{
    self, demo, ChatRequest, Chunk, Completion, ProviderKind, UpstreamError, Usage,
};
use crate::routes::conversations::acting_org;
use crate::store::{orgs, provider_keys, usage};
use crate::upstream::{self, sse_response, ReplySource};
use crate::util::{new_id, now_ms};

/// The org named by `OpenAI-Organization`, if any.
fn organization_header(ctx: &Ctx) -> Option<String> {
    ctx.header("openai-organization")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub async fn chat_completions(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    if !ctx
        .header("content-type")
        .as_deref()
        .is_some_and(is_json_content_type)
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = ctx.body_bytes(BODY_LIMIT).await?;
    let mut req =
        openai_compat::parse_request(&body).map_err(|e| ApiError::Validation(e.message))?;
    // With an access token, the user's rate limit is counted meanwhile (an API key's was,
    // before the handler).
    let user_rpm = who.api_key.is_none().then_some(ctx.cfg.user_rpm).flatten();
    let named = organization_header(&ctx);
    let (org_id, admitted) = futures::join!(
        acting_org(&ctx, &who, named.as_deref()),
        limits::client::admit_user(&ctx.env, &who.user_id, user_rpm)
    );
    let (org_id, ()) = (org_id?, admitted?);
    let db = ctx.db()?;
    let settings = match &who.api_key {
        Some(key) if key.org_id == org_id => key.settings.clone(),
        _ => orgs::settings(&db, &org_id).await?,
    };
    ctx.timing.mark("org");
    if !settings.allows(&req.model) {
        return Err(ApiError::validation(format!(
            "the model `{}` is not enabled in this organization",
            req.model
        )));
    }
    let kind = req.model.provider();
    let prompt_estimate = prompt_estimate(&req.chat);
    let (key, reservation) = limits::client::key_and_reservation(
        &ctx,
        &who.user_id,
        &org_id,
        kind,
        limits::monthly_limit(
            settings.monthly_token_limit,
            ctx.cfg.default_monthly_token_limit,
        ),
        prompt_estimate,
        req.max_tokens,
    )
    .await?;
    // The provider is held to the completion cap the budget admitted.
    req.chat.max_tokens = reservation.cap;
    ctx.timing.mark("key-budget");
    let job = Job {
        kind,
        base_url: ctx.cfg.base_url(kind).to_string(),
        key,
        demo_delay_ms: ctx.cfg.demo_token_delay_ms,
        id: new_id("chatcmpl"),
        created: (ctx.now / 1000).max(0) as u64,
        meter: Meter {
            env: ctx.env.clone(),
            org_id,
            user_id: who.user_id.clone(),
            api_key_id: who.api_key.as_ref().map(|k| k.key_id.clone()),
            model: req.model.as_str().to_string(),
            reservation,
            prompt_estimate,
        },
        req,
    };
    let (answer, answered) = oneshot::channel();
    if job.req.stream {
        ctx.spawn(stream_reply(job, answer));
    } else {
        ctx.spawn(complete(job, answer));
    }
    let answer = answered
        .await
        .map_err(|_| ApiError::internal("the completion task ended without an answer"))?;
    ctx.timing.mark("upstream");
    answer
}

/// The prompt's estimated tokens. Messages that go upstream verbatim (tool turns, content
/// parts) are counted from what they carry as text: their content and tool calls.
fn prompt_estimate(chat: &ChatRequest) -> u64 {
    match chat.passthrough.get("messages") {
        Some(serde_json::Value::Array(raw)) => {
            providers::estimate_prompt_tokens(raw.iter().map(openai_compat::message_text))
        }
        _ => chat.prompt_estimate(),
    }
}

/// One completion, everything the task that runs it needs.
struct Job {
    kind: ProviderKind,
    base_url: String,
    key: Option<String>,
    demo_delay_ms: u32,
    id: String,
    created: u64,
    req: CompatRequest,
    meter: Meter,
}

/// Records what a reply used (per org, user, API key, model and day) and settles its
/// budget reservation with it.
struct Meter {
    env: Env,
    org_id: String,
    user_id: String,
    api_key_id: Option<String>,
    model: String,
    reservation: Reservation,
    prompt_estimate: u64,
}

impl Meter {
    async fn record(self, used: Usage) {
        let recorded = match self.env.d1("DB") {
            Ok(db) => {
                usage::record(
                    &db,
                    &usage::UsageRecord {
                        org_id: &self.org_id,
                        user_id: &self.user_id,
                        api_key_id: self.api_key_id.as_deref(),
                        model: &self.model,
                        usage: used,
                        now: now_ms(),
                    },
                )
                .await
            }
            Err(e) => Err(ApiError::internal(format!("D1 binding: {e}"))),
        };
        if let Err(e) = recorded {
            worker::console_error!(
                "{}",
                serde_json::json!({"error": "usage not recorded", "context": e.to_string()})
            );
        }
        // After the D1 record, so a month seeded from D1 in between never misses this reply.
        limits::client::settle(&self.env, &self.reservation, used.total()).await;
    }

    /// Nothing was generated: the reservation is given back whole.
    async fn release(self) {
        limits::client::settle(&self.env, &self.reservation, 0).await;
    }

    /// What an interrupted reply used: the provider's counts where it sent them, else an
    /// estimate of the prompt sent and the text received.
    fn interrupted(&self, seen: Option<Usage>, text: &str) -> Usage {
        let seen = seen.unwrap_or_default();
        Usage {
            prompt_tokens: if seen.prompt_tokens > 0 {
                seen.prompt_tokens
            } else {
                self.prompt_estimate
            },
            completion_tokens: seen.completion_tokens.max(providers::estimate_tokens(text)),
            ..seen
        }
    }
}

async fn complete(job: Job, answer: oneshot::Sender<ApiResult<Response>>) {
    let result = match (job.kind, job.key.as_deref()) {
        (ProviderKind::Demo, _) => Ok(demo::completion(&job.req.chat)),
        (kind, Some(key)) => upstream_completion(kind, &job.base_url, key, &job.req.chat).await,
        (kind, None) => Err(ApiError::NoProviderKey(kind.as_str())),
    };
    match result {
        Ok(c) => {
            let body =
                openai_compat::completion_body(&job.id, job.created, job.req.model.as_str(), &c);
            let _ = answer.send(ok(&body));
            job.meter.record(c.usage).await;
        }
        Err(e) => {
            job.meter.release().await;
            let _ = answer.send(Err(e));
        }
    }
}

async fn upstream_completion(
    kind: ProviderKind,
    base_url: &str,
    key: &str,
    chat: &ChatRequest,
) -> ApiResult<Completion> {
    let mut resp = upstream::send(kind, base_url, key, chat, None)
        .await
        .map_err(|e| upstream::api_error(&e))?;
    let body = resp.bytes().await.map_err(|e| ApiError::Upstream {
        status: 502,
        detail: format!("{kind}: the response could not be read: {e}"),
        retry_after: None,
    })?;
    providers::parse_completion(kind, &body).map_err(|e| upstream::api_error(&e))
}

/// Streams a reply as OpenAI chunks. The 200 is committed only once the first chunk is in,
/// so a provider that fails at once is a real HTTP error. A client that goes away stops the
/// upstream; the usage so far is recorded all the same.
async fn stream_reply(job: Job, answer: oneshot::Sender<ApiResult<Response>>) {
    let controller = AbortController::default();
    let signal = controller.signal();
    let opened = ReplySource::open(
        job.kind,
        &job.base_url,
        job.key.as_deref(),
        &job.req.chat,
        job.demo_delay_ms,
        &signal,
    );
    let mut source = match opened.await {
        Ok(s) => s,
        Err(e) => {
            job.meter.release().await;
            let _ = answer.send(Err(e));
            return;
        }
    };
    let first = match source.next().await {
        Ok(first) => first,
        Err(e) => {
            job.meter.release().await;
            let _ = answer.send(Err(upstream::api_error(&e)));
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded::<String>();
    // Answered once the first frames are queued (or at the end, for an empty reply).
    let mut pending = Some((answer, rx));
    let mut writer = ChunkWriter::new(
        &job.id,
        job.created,
        job.req.model.as_str(),
        job.req.include_usage,
    );
    let mut reply = Completion::default();
    let mut seen_usage: Option<Usage> = None;
    let mut client_gone = false;
    let mut next = first;
    let outcome: Result<(), UpstreamError> = loop {
        let Some(chunk) = next else { break Ok(()) };
        reply.push(&chunk);
        seen_usage = chunk.usage.or(seen_usage);
        client_gone = writer
            .on_chunk(&chunk)
            .into_iter()
            .any(|f| tx.unbounded_send(f).is_err());
        // The response goes out with its first frames already queued, so the headers and
        // the first token leave together rather than as two small writes.
        if let Some((answer, rx)) = pending.take() {
            match sse_response(rx) {
                // If the handler is gone, the receiver went with it: a later send tells.
                Ok(resp) => drop(answer.send(Ok(resp))),
                Err(e) => {
                    job.meter.release().await;
                    let _ = answer.send(Err(e));
                    return;
                }
            }
        }
        if client_gone {
            controller.abort();
            break Ok(());
        }
        next = match source.next().await {
            Ok(c) => c,
            Err(e) => break Err(e),
        };
    };
    drop(source);
    let used = match (&outcome, client_gone, seen_usage) {
        (Ok(()), false, Some(u)) => u,
        _ => job.meter.interrupted(seen_usage, &reply.text()),
    };
    if !client_gone {
        let frames = match &outcome {
            Ok(()) => {
                // The usage chunk needs numbers even when the provider sent none.
                let mut frames = Vec::new();
                if seen_usage.is_none() {
                    frames.extend(writer.on_chunk(&Chunk {
                        usage: Some(used),
                        ..Chunk::default()
                    }));
                }
                frames.extend(writer.finish());
                frames
            }
            Err(e) => vec![format!(
                "data: {}\n\n",
                openai_compat::upstream_error_body(e)
            )],
        };
        for f in frames {
            let _ = tx.unbounded_send(f);
        }
    }
    // An empty reply (no chunk at all) is answered here, with its closing frames queued.
    if let Some((answer, rx)) = pending.take() {
        let _ = answer.send(sse_response(rx));
    }
    // Closing the channel ends the response before the bookkeeping.
    drop(tx);
    job.meter.record(used).await;
}

#[derive(Serialize)]
struct ModelEntry {
    id: String,
    object: &'static str,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<ModelEntry>,
}

/// The org's enabled models; when it has not chosen, every model the service can serve
/// for this caller: `demo/echo`, plus the default list (`pricing::DEFAULT_MODELS`) of
/// each provider with a key available (the caller's, the org's or the service's).
pub async fn models(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let org_id = acting_org(&ctx, &who, organization_header(&ctx).as_deref()).await?;
    let db = ctx.db()?;
    let settings = orgs::settings(&db, &org_id).await?;
    let ids: Vec<String> = if settings.enabled_models.is_empty() {
        let keys = provider_keys::candidates(&db, &who.user_id, &org_id).await?;
        let mut ids = vec![DEMO_ECHO.to_string()];
        for kind in [
            ProviderKind::OpenAi,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
        ] {
            match keys
                .resolve(&db, &ctx.cfg, &who.user_id, &org_id, kind, ctx.now)
                .await
            {
                Ok(_) => ids.extend(
                    crate::pricing::DEFAULT_MODELS
                        .iter()
                        .filter(|m| m.starts_with(&format!("{kind}/")))
                        .map(|m| m.to_string()),
                ),
                Err(ApiError::NoProviderKey(_)) => {}
                Err(e) => return Err(e),
            }
        }
        ids
    } else {
        settings.enabled_models.clone()
    };
    let data = ids
        .iter()
        .filter_map(|m| ModelId::parse(m).ok())
        .map(|m| ModelEntry {
            id: m.as_str().to_string(),
            object: "model",
            owned_by: match m.provider() {
                ProviderKind::Demo => "chatgate",
                p => p.as_str(),
            },
        })
        .collect();
    ok(&ModelList {
        object: "list",
        data,
    })
}
