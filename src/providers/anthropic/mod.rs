//! Anthropic Messages API: `request` builds the body from the neutral model, `stream`
//! reads replies back (whole and streamed); what Anthropic cannot do is refused here.

mod request;
mod stream;

use super::{ChatRequest, ErrorDetail, ProviderKind, UpstreamErrorKind};
use serde::Deserialize;

pub(in crate::providers) use request::build_request;
pub(in crate::providers) use stream::parse_completion;
pub use stream::AnthropicStream;

pub const NAME: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";

const KIND: ProviderKind = ProviderKind::Anthropic;

/// What this provider cannot do of `req` (see `super::validate`).
pub(super) fn validate(_req: &ChatRequest) -> Result<(), super::Unsupported> {
    Ok(())
}

/// Whether an image or document can go by URL (see `super::takes_url`).
pub(super) fn takes_url(_block: &super::Block) -> bool {
    true
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

pub(super) fn error_detail(body: &[u8]) -> ErrorDetail {
    let Some(err) = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
    else {
        return ErrorDetail::default();
    };
    let kind = match err.kind.as_deref().unwrap_or_default() {
        "invalid_request_error" | "request_too_large" | "billing_error" => {
            Some(UpstreamErrorKind::BadRequest)
        }
        "authentication_error" | "permission_error" => Some(UpstreamErrorKind::Unauthorized),
        "not_found_error" => Some(UpstreamErrorKind::NotFound),
        "rate_limit_error" => Some(UpstreamErrorKind::RateLimited { retry_after: None }),
        "overloaded_error" => Some(UpstreamErrorKind::Overloaded),
        "api_error" | "timeout_error" => Some(UpstreamErrorKind::Server),
        _ => None,
    };
    ErrorDetail {
        message: err.message,
        kind,
        retry_after: None,
    }
}
