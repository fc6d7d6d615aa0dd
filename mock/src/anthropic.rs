//! Anthropic Messages: `POST /v1/messages`.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{self, Directives, Prompt, Reply, Script, Turn};

#[derive(Deserialize)]
struct MessagesRequest {
    model: String,
    messages: Vec<Message>,
    /// Required by Anthropic; optional here so its absence gets Anthropic's own message.
    max_tokens: Option<usize>,
    /// A string or an array of text blocks.
    #[serde(default)]
    system: Value,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

impl MessagesRequest {
    fn prompt(&self) -> Prompt {
        Prompt {
            system: reply::text_of(&self.system),
            turns: self
                .messages
                .iter()
                .map(|m| Turn {
                    from_user: m.role == "user",
                    text: reply::text_of(&m.content),
                })
                .collect(),
            max_tokens: self.max_tokens,
        }
    }
}

pub(crate) async fn messages(headers: HeaderMap, body: Bytes) -> Result<Response, Response> {
    authorize(&headers).map_err(|message| error(StatusCode::UNAUTHORIZED, message))?;
    if headers.get("anthropic-version").is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        ));
    }
    let request: MessagesRequest = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("invalid request body: {e}"),
        )
    })?;
    if request.max_tokens.is_none() {
        return Err(error(StatusCode::BAD_REQUEST, "max_tokens: Field required"));
    }
    let directives = Directives::parse(&request.model);
    reply::gate(&directives, error).await?;
    let reply = Reply::plan(&directives, &request.prompt());
    let id = format!("msg_mock{}", reply::next_id());
    let stop_reason = if reply.truncated {
        "max_tokens"
    } else {
        "end_turn"
    };

    if !request.stream {
        if !reply::generate(&directives, &reply).await {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: connection cut",
            ));
        }
        return Ok(Json(json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [{"type": "text", "text": reply.text()}],
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens()},
        }))
        .into_response());
    }

    let message = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": 1},
    });
    let script = Script {
        head: vec![
            event("message_start", json!({"type": "message_start", "message": message})),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event("ping", json!({"type": "ping"})),
        ],
        tokens: reply
            .tokens
            .iter()
            .map(|t| {
                let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}});
                event("content_block_delta", delta)
            })
            .collect(),
        tail: vec![
            event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            event(
                "message_delta",
                json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                    "usage": {"output_tokens": reply.completion_tokens()},
                }),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ],
    };
    Ok(reply::stream(script, &directives))
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The 401 message for a missing or rejected key.
fn authorize(headers: &HeaderMap) -> Result<(), &'static str> {
    match headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None | Some("") => Err("x-api-key header is required"),
        Some(reply::BAD_KEY) => Err("invalid x-api-key"),
        Some(_) => Ok(()),
    }
}

/// Anthropic's error shape: `{"type": "error", "error": {"type", "message"}}`.
fn error(status: StatusCode, message: &str) -> Response {
    let kind = match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    };
    reply::error_response(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}
