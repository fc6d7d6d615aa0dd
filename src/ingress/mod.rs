//! The wire formats clients speak to the model API, each translated to and from the
//! neutral model (`providers::model`) that the pipeline (`gateway`) runs: one file per
//! format. Pure translation: no storage, no provider calls.

pub mod chat_completions;
pub mod messages;
pub mod responses;
pub mod wire;

use worker::Response;

use crate::error::ApiError;
use crate::http::{error_response as respond, problem};

/// An error in the shape the client of `path` expects: Anthropic's under `/v1/messages`,
/// OpenAI's elsewhere under `/v1`, `application/problem+json` everywhere else.
pub fn error_response(path: &str, e: &ApiError) -> Response {
    if messages::serves(path) {
        let body = messages::api_error_body(e).to_string();
        respond(e, "application/json; charset=utf-8", body)
    } else if path == "/v1" || path.starts_with("/v1/") {
        let body = chat_completions::api_error_body(e).to_string();
        respond(e, "application/json; charset=utf-8", body)
    } else {
        problem(e)
    }
}
