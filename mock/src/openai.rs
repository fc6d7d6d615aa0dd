//! OpenAI Chat Completions: `POST /v1/chat/completions`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{
    self, Directives, Format, Kind, Media, Prompt, Reply, Script, Tool, ToolChoice, ToolResult,
    Turn,
};

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    logprobs: Option<bool>,
    top_logprobs: Option<usize>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
    tool_calls: Option<Vec<Value>>,
    tool_call_id: Option<String>,
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
        // A tool message names only the call it answers: the name comes from that call.
        let mut called: HashMap<&str, &str> = HashMap::new();
        let mut turns = Vec::new();
        for m in self.messages.iter().filter(|m| !is_system(m)) {
            for call in m.tool_calls.iter().flatten() {
                if let (Some(id), Some(name)) =
                    (call["id"].as_str(), call["function"]["name"].as_str())
                {
                    called.insert(id, name);
                }
            }
            let mut turn = Turn::text(m.role == "user", reply::text_of(&m.content));
            if m.role == "tool" {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                turn.results.push(ToolResult {
                    tool: called.get(id).unwrap_or(&id).to_string(),
                    output: std::mem::take(&mut turn.text),
                });
            }
            turn.media = media(&m.content);
            turns.push(turn);
        }
        Prompt {
            system: system.join("\n"),
            turns,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            tools: self
                .tools
                .iter()
                .flatten()
                .filter(|t| t["type"] == "function")
                .filter_map(|t| {
                    Some(Tool {
                        name: t["function"]["name"].as_str()?.to_owned(),
                        parameters: t["function"]["parameters"].clone(),
                    })
                })
                .collect(),
            tool_choice: tool_choice(self.tool_choice.as_ref()),
            single_call: self.parallel_tool_calls == Some(false),
            format: self.response_format.as_ref().and_then(format),
            thinking: self
                .reasoning_effort
                .as_deref()
                .is_some_and(|effort| effort != "none"),
        }
    }
}

impl ChatRequest {
    /// OpenAI's pairing rules for tool calls, which a translator can break: every
    /// `tool` message answers a call of the assistant message before it, and every
    /// call is answered by the `tool` messages right after. `Err((message, param))`.
    fn validate(&self) -> Result<(), (String, Option<String>)> {
        let call_ids = |m: &Message| -> Vec<String> {
            m.tool_calls
                .iter()
                .flatten()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        };
        for (i, m) in self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == "tool")
        {
            let previous = self.messages[..i].iter().rev().find(|p| p.role != "tool");
            let calls = previous
                .filter(|p| p.role == "assistant")
                .map(call_ids)
                .filter(|ids| !ids.is_empty());
            let Some(calls) = calls else {
                return Err((
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".to_owned(),
                    Some(format!("messages.[{i}].role")),
                ));
            };
            let id = m.tool_call_id.as_deref().unwrap_or_default();
            if !calls.iter().any(|c| c == id) {
                return Err((
                    format!("Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."),
                    None,
                ));
            }
        }
        for (i, m) in self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == "assistant")
        {
            let answered: Vec<&str> = self.messages[i + 1..]
                .iter()
                .take_while(|n| n.role == "tool")
                .filter_map(|n| n.tool_call_id.as_deref())
                .collect();
            let missing: Vec<String> = call_ids(m)
                .into_iter()
                .filter(|id| !answered.contains(&id.as_str()))
                .collect();
            if !missing.is_empty() {
                return Err((
                    format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", missing.join(", ")),
                    None,
                ));
            }
        }
        Ok(())
    }
}

/// `"none"`, `"auto"`, `"required"`, `{"type": "function", "function": {"name"}}`,
/// or `{"type": "allowed_tools", "allowed_tools": {"mode", "tools"}}`.
fn tool_choice(choice: Option<&Value>) -> ToolChoice {
    let Some(choice) = choice else {
        return ToolChoice::Auto;
    };
    let names = |tools: &Value| -> Vec<String> {
        tools
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
            .collect()
    };
    match (choice.as_str(), choice["type"].as_str()) {
        (Some("none"), _) => ToolChoice::None,
        (Some("required"), _) => ToolChoice::Only(Vec::new()),
        (_, Some("function")) => match choice["function"]["name"].as_str() {
            Some(name) => ToolChoice::Only(vec![name.to_owned()]),
            None => ToolChoice::Auto,
        },
        (_, Some("allowed_tools")) => ToolChoice::Only(names(&choice["allowed_tools"]["tools"])),
        _ => ToolChoice::Auto,
    }
}

/// `{"type": "json_object"}` or `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`.
fn format(response_format: &Value) -> Option<Format> {
    match response_format["type"].as_str()? {
        "json_object" => Some(Format::Json),
        "json_schema" => Some(match response_format["json_schema"].get("schema") {
            Some(schema) => Format::Schema(schema.clone()),
            None => Format::Json,
        }),
        _ => None,
    }
}

/// `image_url` parts (a URL or a data URL) and `file` parts (`file_data` as a
/// data URL or bare base64, or a `file_id`).
fn media(content: &Value) -> Vec<Media> {
    let parts = content.as_array().into_iter().flatten();
    parts
        .filter_map(|part| match part["type"].as_str()? {
            "image_url" => Some(Media::url("image", part["image_url"]["url"].as_str()?)),
            "file" => {
                let file = &part["file"];
                if let Some(data) = file["file_data"].as_str() {
                    Some(match reply::data_url(data) {
                        Some(_) => Media::url("document", data),
                        None => {
                            let pdf = file["filename"]
                                .as_str()
                                .is_some_and(|f| f.ends_with(".pdf"));
                            Media::base64(
                                "document",
                                pdf.then(|| "application/pdf".to_owned()),
                                data,
                            )
                        }
                    })
                } else {
                    let id = file["file_id"].as_str()?;
                    Some(Media {
                        kind: "document",
                        mime: None,
                        source: reply::Source::File(id.to_owned()),
                    })
                }
            }
            _ => None,
        })
        .collect()
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
    request.validate().map_err(|(message, param)| {
        let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}});
        reply::error_response(StatusCode::BAD_REQUEST, body)
    })?;
    let directives = Directives::parse(&request.model);
    reply::gate(&directives, error).await?;
    if directives.unknown {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!(
                "The model `{}` does not exist or you do not have access to it.",
                request.model
            ),
        ));
    }
    let reply = Reply::plan(&directives, &request.prompt());
    let id = format!("chatcmpl-mock{}", reply::next_id());
    let finish_reason = match reply.kind {
        Kind::Calls(_) => "tool_calls",
        _ if reply.truncated => "length",
        _ => "stop",
    };
    let usage = usage(&reply);
    let top_logprobs = request
        .logprobs
        .unwrap_or(false)
        .then(|| request.top_logprobs.unwrap_or(0));
    let calls: Vec<(String, &reply::Call)> = match &reply.kind {
        Kind::Calls(calls) => calls
            .iter()
            .map(|c| (format!("call_mock{}", reply::next_id()), c))
            .collect(),
        _ => Vec::new(),
    };

    if !request.stream {
        if !reply::generate(&directives, &reply).await {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: connection cut",
            ));
        }
        let message = match &reply.kind {
            Kind::Text => json!({"role": "assistant", "content": reply.text(), "refusal": null}),
            Kind::Refusal => json!({"role": "assistant", "content": null, "refusal": reply.text()}),
            Kind::Calls(_) => {
                let tool_calls: Vec<Value> = calls
                    .iter()
                    .map(|(id, call)| {
                        json!({"id": id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json()}})
                    })
                    .collect();
                json!({"role": "assistant", "content": null, "tool_calls": tool_calls, "refusal": null})
            }
        };
        let logprobs = top_logprobs.map_or(Value::Null, |top| {
            let entries: Vec<Value> = reply
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| logprob_entry(t, i, top))
                .collect();
            choice_logprobs(&reply.kind, entries)
        });
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": reply::unix_now(),
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": logprobs,
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
        data(&chunk)
    };
    let choice = |delta: Value, logprobs: Value, finish: Option<&str>| {
        chunk(json!([{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]))
    };

    let mut script = Script::default();
    match &reply.kind {
        Kind::Text => {
            script.frame(choice(
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null,
                None,
            ));
            for (i, t) in reply.tokens.iter().enumerate() {
                let logprobs = top_logprobs.map_or(Value::Null, |top| {
                    choice_logprobs(&reply.kind, vec![logprob_entry(t, i, top)])
                });
                script.token(choice(json!({"content": t}), logprobs, None));
            }
        }
        Kind::Refusal => {
            script.frame(choice(
                json!({"role": "assistant", "content": null, "refusal": null}),
                Value::Null,
                None,
            ));
            for (i, t) in reply.tokens.iter().enumerate() {
                let logprobs = top_logprobs.map_or(Value::Null, |top| {
                    choice_logprobs(&reply.kind, vec![logprob_entry(t, i, top)])
                });
                script.token(choice(json!({"refusal": t}), logprobs, None));
            }
        }
        Kind::Calls(_) => {
            script.frame(choice(
                json!({"role": "assistant", "content": null, "refusal": null}),
                Value::Null,
                None,
            ));
            for (index, (call_id, call)) in calls.iter().enumerate() {
                let start = json!({"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}]});
                script.frame(choice(start, Value::Null, None));
                for piece in call.fragments() {
                    let delta =
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
                    script.token(choice(delta, Value::Null, None));
                }
            }
        }
    }
    script.frame(choice(json!({}), Value::Null, Some(finish_reason)));
    if include_usage {
        let mut last = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "system_fingerprint": null,
            "choices": [],
        });
        last["usage"] = usage;
        script.frame(data(&last));
    }
    script.frame("data: [DONE]\n\n".to_owned());
    Ok(reply::stream(script, &directives))
}

/// `usage`, with `prompt_tokens_details` only when `cached-N` or `cache-write-N`
/// asked for it and `completion_tokens_details` only when there was reasoning,
/// so plain replies keep the three counts alone.
fn usage(reply: &Reply) -> Value {
    let completion = reply.completion_tokens() + reply.reasoning_tokens();
    let mut usage = json!({
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.prompt_tokens + completion,
    });
    if reply.cached_tokens + reply.cache_write_tokens > 0 {
        usage["prompt_tokens_details"] =
            json!({"cached_tokens": reply.cached_tokens, "audio_tokens": 0});
        if reply.cache_write_tokens > 0 {
            usage["prompt_tokens_details"]["cache_write_tokens"] = json!(reply.cache_write_tokens);
        }
    }
    if reply.reasoning_tokens() > 0 {
        usage["completion_tokens_details"] = json!({
            "reasoning_tokens": reply.reasoning_tokens(),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        });
    }
    usage
}

/// A choice's `logprobs`: the entries under `content`, or under `refusal` for a refusal.
fn choice_logprobs(kind: &Kind, entries: Vec<Value>) -> Value {
    match kind {
        Kind::Refusal => json!({"content": null, "refusal": entries}),
        Kind::Text => json!({"content": entries, "refusal": null}),
        Kind::Calls(_) => json!({"content": null, "refusal": null}),
    }
}

/// One `ChatCompletionTokenLogprob`: the token first among its `top` alternatives,
/// the others `alt1`, `alt2`… each scoring one less.
fn logprob_entry(token: &str, i: usize, top: usize) -> Value {
    let bytes = |t: &str| t.as_bytes().to_vec();
    let alternatives: Vec<Value> = (0..top.min(20))
        .map(|k| {
            let alternative = if k == 0 {
                token.to_owned()
            } else {
                format!("alt{k}")
            };
            json!({"token": alternative, "logprob": reply::logprob(i, k), "bytes": bytes(&alternative)})
        })
        .collect();
    json!({"token": token, "logprob": reply::logprob(i, 0), "bytes": bytes(token), "top_logprobs": alternatives})
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
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
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
