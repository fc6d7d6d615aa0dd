//! OpenAI Chat Completions (also any server that speaks it, via the base URL).
//!
//! The neutral model maps onto Chat Completions almost one to one. What does not:
//! - A user turn's `ToolResult` blocks become `tool` messages, sent before the rest of the
//!   turn (a `tool` message must follow the assistant's `tool_calls` directly).
//! - A tool result's `is_error` has no field in OpenAI's `tool` message; its text goes as
//!   it is (as the OpenAI Agents SDK and the Vercel AI SDK send errors to OpenAI).
//! - `Reasoning` blocks of assistant turns are not sent. Chat Completions has no field for
//!   them: OpenAI keeps its own reasoning server-side and never returns it here (encrypted
//!   reasoning items exist only in the Responses API), so an OpenAI conversation has none to
//!   lose; reasoning another provider wrote, signed for that provider, is of no use to
//!   OpenAI, which reads the answer and tool calls it led to.
//! - A reasoning token budget without an effort level goes as the nearest level (see
//!   `reasoning_effort`).
//!
//! `request` builds the body from the neutral model; `response` reads replies and streams.

mod request;
mod response;

pub(super) use request::{build_request, takes_url, validate};
pub(super) use response::parse_completion;
pub use response::OpenAiStream;

use super::{ErrorDetail, ProviderKind, UpstreamErrorKind};
use serde::Deserialize;
use serde_json::Value;

pub const NAME: &str = "openai";

const KIND: ProviderKind = ProviderKind::OpenAi;

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<Value>,
}

pub(super) fn error_detail(body: &[u8]) -> ErrorDetail {
    let Some(err) = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
    else {
        return ErrorDetail::default();
    };
    let code = err
        .code
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = match (err.kind.as_deref().unwrap_or_default(), code) {
        (_, "rate_limit_exceeded" | "insufficient_quota")
        | ("rate_limit_error" | "requests" | "tokens", _) => {
            Some(UpstreamErrorKind::RateLimited { retry_after: None })
        }
        (_, "invalid_api_key") | ("authentication_error" | "permission_error", _) => {
            Some(UpstreamErrorKind::Unauthorized)
        }
        (_, "model_not_found") => Some(UpstreamErrorKind::NotFound),
        ("invalid_request_error", _) => Some(UpstreamErrorKind::BadRequest),
        ("server_error", _) => Some(UpstreamErrorKind::Server),
        _ => None,
    };
    ErrorDetail {
        message: err.message,
        kind,
        retry_after: None,
    }
}
