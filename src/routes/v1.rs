//! The OpenAI-compatible API, so OpenAI's own SDKs work against every configured model:
//! `POST /v1/chat/completions` (streamed or not, any provider) and `GET /v1/models`. The
//! route only translates the wire format (`ingress::chat_completions`); the call itself runs
//! through the pipeline (`gateway`). Errors on these paths are in OpenAI's shape
//! (`ingress::error_response`).
//!
//! The org a request acts in: an API key's own org; for an access token, the org named by
//! the `OpenAI-Organization` header (OpenAI clients send it for `organization=`), else the
//! caller's personal org.

use serde::Serialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::domain::model_id::DEMO_ECHO;
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{is_json_content_type, ok, Ctx};
use crate::ingress::chat_completions;
use crate::providers::ProviderKind;
use crate::store::{orgs, provider_keys};
use crate::util::new_id;

/// A model request may carry images and PDFs as base64: larger than other routes' bodies.
pub const MODEL_BODY_LIMIT: usize = 20 * 1024 * 1024;

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
    let body = ctx.body_bytes(MODEL_BODY_LIMIT).await?;
    let parsed = chat_completions::parse_request(&body)?;
    drop(body);
    let named = organization_header(&ctx);
    let mut req = parsed.chat;
    let (call, meter) =
        gateway::admit_and_prepare(&ctx, &who, named.as_deref(), &parsed.model, &mut req)
            .await
            .map_err(|e| parsed.origins.rename(e))?;
    let reply = chat_completions::Reply::new(
        new_id("chatcmpl"),
        (ctx.now / 1000).max(0) as u64,
        parsed.model.as_str(),
        parsed.include_usage,
    );
    gateway::respond(&ctx, call, meter, req, reply).await
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
    let db = ctx.db()?;
    let org_id = gateway::acting_org(&db, &who, organization_header(&ctx).as_deref()).await?;
    ctx.timing.set_org(&org_id);
    let settings = orgs::settings(&db, &org_id).await?;
    orgs::require_2fa_of(&db, &settings, &who.user_id).await?;
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
