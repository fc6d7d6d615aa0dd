//! Anthropic's Messages API, so the `anthropic` SDKs and Claude Code work against every
//! configured model with `ANTHROPIC_BASE_URL` pointed at chatgate: `POST /v1/messages`
//! (streamed or not, any provider) and `POST /v1/messages/count_tokens`. The routes only
//! translate the wire format (`ingress::messages`); the call runs through the pipeline
//! (`gateway`), as `/v1/chat/completions` does. Errors on these paths are in Anthropic's
//! shape (`ingress::error_response`).
//!
//! The org a request acts in: an API key's own org; for an access token, the caller's
//! personal org (Anthropic's clients have no header naming one).

use serde_json::json;
use worker::Response;

use crate::auth::guard::Principal;
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{is_json_content_type, ok, Ctx};
use crate::ingress::messages;
use crate::routes::v1::MODEL_BODY_LIMIT;
use crate::util::new_id;

/// The JSON body of a model request.
async fn body(ctx: &mut Ctx) -> ApiResult<Vec<u8>> {
    if !ctx
        .header("content-type")
        .as_deref()
        .is_some_and(is_json_content_type)
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    ctx.body_bytes(MODEL_BODY_LIMIT).await
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body = body(&mut ctx).await?;
    let parsed = messages::parse_request(&body)?;
    drop(body);
    let mut req = parsed.chat;
    let (call, meter) = gateway::admit_and_prepare(&ctx, &who, None, &parsed.model, &mut req)
        .await
        .map_err(|e| parsed.origins.rename(e))?;
    let reply = messages::Reply::new(new_id("msg"), &parsed.client_model, meter.prompt_estimate);
    gateway::respond(&ctx, call, meter, req, reply).await
}

/// `{input_tokens}`: chatgate's estimate of the prompt (`messages::estimate_input_tokens`),
/// made without calling the provider, so nothing is metered.
pub async fn count_tokens(mut ctx: Ctx, _who: Principal) -> ApiResult<Response> {
    let body = body(&mut ctx).await?;
    let parsed = messages::parse_count_request(&body)?;
    ok(&json!({"input_tokens": messages::estimate_input_tokens(&parsed.chat)}))
}
