//! `POST /v1/responses`: OpenAI's Responses API, stateless, for every configured model. The
//! route only translates the wire format (`ingress::responses`); the call runs through the
//! pipeline (`gateway`) exactly as `/v1/chat/completions` does, so usage metering, budgets,
//! rate limits, API-key scopes and the org's enabled models apply the same way. Errors are
//! in OpenAI's shape (`ingress::error_response`).

use worker::Response;

use super::v1::MODEL_BODY_LIMIT;
use crate::auth::guard::Principal;
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{is_json_content_type, Ctx};
use crate::ingress::responses;
use crate::util::new_id;

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    if !ctx
        .header("content-type")
        .as_deref()
        .is_some_and(is_json_content_type)
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = ctx.body_bytes(MODEL_BODY_LIMIT).await?;
    let parsed = responses::parse_request(&body)?;
    drop(body);
    // The org named by `OpenAI-Organization`, as on `/v1/chat/completions`.
    let named = ctx
        .header("openai-organization")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let mut req = parsed.chat;
    let (call, meter) =
        gateway::admit_and_prepare(&ctx, &who, named.as_deref(), &parsed.model, &mut req)
            .await
            .map_err(|e| parsed.origins.rename(e))?;
    let reply = responses::Reply::new(
        new_id("resp"),
        (ctx.now / 1000).max(0) as u64,
        parsed.model.as_str(),
        parsed.settings,
    );
    gateway::respond(&ctx, call, meter, req, reply).await
}
