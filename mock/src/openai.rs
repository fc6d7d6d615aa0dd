//! OpenAI Chat Completions: `POST /v1/chat/completions`.

use axum::body::Bytes;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{self, Directives, Prompt, Reply, Script, Turn};

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

impl ChatRequest {
    fn prompt(&self) -> Prompt {
        let is_system = |m: &&Message| matches!(m.role.as_str(), "system" | "developer");
        let system: Vec<String> = self
            .messages
            .iter()
            .filter(is_system)
            .map(|m| reply::text_of(&m.content))
            .collect();
        let turns = self.messages.iter().filter(|m| !is_system(m));
        Prompt {
            system: system.join("\n"),
            turns: turns
                .map(|m| Turn {
                    from_user: m.role == "user",
                    text: reply::text_of(&m.content),
                })
                .collect(),
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
        }
    }
}

pub(crate) async fn chat_completions(
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    authorize(&headers).map_err(|message| error(StatusCode::UNAUTHORIZED, message))?;
    let request: ChatRequest = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("We could not parse the JSON body of your request: {e}"),
        )
    })?;
    let directives = Directives::parse(&request.model);
    reply::gate(&directives, error).await?;
    let reply = Reply::plan(&directives, &request.prompt());
    let id = format!("chatcmpl-mock{}", reply::next_id());
    let finish_reason = if reply.truncated { "length" } else { "stop" };
    let usage = json!({
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens(),
        "total_tokens": reply.prompt_tokens + reply.completion_tokens(),
    });

    if !request.stream {
        if !reply::generate(&directives, &reply).await {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: connection cut",
            ));
        }
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": reply::unix_now(),
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.text(), "refusal": null},
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
            "usage": usage,
            "system_fingerprint": null,
        }))
        .into_response());
    }

    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    let created = reply::unix_now();
    let chunk = |choices: Value| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "system_fingerprint": null,
            "choices": choices,
        });
        // With include_usage, OpenAI puts `"usage": null` on every chunk but the last.
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let choice = |delta: Value, finish: Option<&str>| {
        chunk(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]))
    };

    let mut tail = vec![data(&choice(json!({}), Some(finish_reason)))];
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage;
        tail.push(data(&last));
    }
    tail.push("data: [DONE]\n\n".to_owned());
    let script = Script {
        head: vec![data(&choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ))],
        tokens: reply
            .tokens
            .iter()
            .map(|t| data(&choice(json!({"content": t}), None)))
            .collect(),
        tail,
    };
    Ok(reply::stream(script, &directives))
}

fn data(chunk: &Value) -> String {
    format!("data: {chunk}\n\n")
}

/// The 401 message for a missing or rejected key.
fn authorize(headers: &HeaderMap) -> Result<(), &'static str> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match key.map(str::trim).filter(|k| !k.is_empty()) {
        None => Err("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."),
        Some(reply::BAD_KEY) => Err("Incorrect API key provided: sk-bad."),
        Some(_) => Ok(()),
    }
}

/// OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`.
fn error(status: StatusCode, message: &str) -> Response {
    let (kind, code) = match status.as_u16() {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("requests", Some("rate_limit_exceeded")),
        500.. => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    reply::error_response(status, body)
}
