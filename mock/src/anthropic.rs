//! Anthropic Messages: `POST /v1/messages`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{
    self, Directives, Format, Kind, Media, Prompt, Reply, Script, Source, Tool, ToolChoice,
    ToolResult, Turn,
};

/// The beta that the deprecated top-level `output_format` needs.
const STRUCTURED_OUTPUTS_BETA: &str = "structured-outputs-2025-11-13";

/// The smallest `thinking.budget_tokens` Anthropic accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

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
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    output_config: Option<Value>,
    output_format: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

impl MessagesRequest {
    fn prompt(&self) -> Prompt {
        // A tool_result names only the tool_use it answers: the name comes from that block.
        let mut called: HashMap<&str, &str> = HashMap::new();
        let mut turns = Vec::new();
        for m in &self.messages {
            let mut turn = Turn::text(m.role == "user", reply::text_of(&m.content));
            for block in m.content.as_array().into_iter().flatten() {
                match block["type"].as_str() {
                    Some("tool_use") => {
                        if let (Some(id), Some(name)) =
                            (block["id"].as_str(), block["name"].as_str())
                        {
                            called.insert(id, name);
                        }
                    }
                    Some("tool_result") => {
                        let id = block["tool_use_id"].as_str().unwrap_or_default();
                        turn.results.push(ToolResult {
                            tool: called.get(id).unwrap_or(&id).to_string(),
                            output: reply::text_of(&block["content"]),
                        });
                        turn.media.extend(
                            block["content"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(media),
                        );
                    }
                    _ => turn.media.extend(media(block)),
                }
            }
            turns.push(turn);
        }
        let tool_choice = self.tool_choice.as_ref();
        let format = self
            .output_config
            .as_ref()
            .and_then(|c| c.get("format"))
            .or(self.output_format.as_ref())
            .filter(|f| f["type"] == "json_schema")
            .map(|f| Format::Schema(f["schema"].clone()));
        Prompt {
            system: reply::text_of(&self.system),
            turns,
            max_tokens: self.max_tokens,
            // Server tools (web search…) have a `type` and no `input_schema`: the mock never calls them.
            tools: self
                .tools
                .iter()
                .flatten()
                .filter(|t| t.get("input_schema").is_some())
                .filter_map(|t| {
                    Some(Tool {
                        name: t["name"].as_str()?.to_owned(),
                        parameters: t["input_schema"].clone(),
                    })
                })
                .collect(),
            tool_choice: match tool_choice.and_then(|c| c["type"].as_str()) {
                Some("none") => ToolChoice::None,
                Some("any") => ToolChoice::Only(Vec::new()),
                Some("tool") => match tool_choice.and_then(|c| c["name"].as_str()) {
                    Some(name) => ToolChoice::Only(vec![name.to_owned()]),
                    None => ToolChoice::Auto,
                },
                _ => ToolChoice::Auto,
            },
            single_call: tool_choice.is_some_and(|c| c["disable_parallel_tool_use"] == true),
            format,
            thinking: self.thinking_enabled(),
        }
    }

    fn thinking_enabled(&self) -> bool {
        self.thinking
            .as_ref()
            .is_some_and(|t| matches!(t["type"].as_str(), Some("enabled" | "adaptive")))
    }

    /// The checks Anthropic makes that a translator can get wrong: thinking's
    /// budget and tool choice, the beta that `output_format` needs, and the
    /// signatures of thinking blocks sent back.
    fn validate(&self, headers: &HeaderMap) -> Result<(), String> {
        if let Some(thinking) = self.thinking.as_ref().filter(|t| t["type"] == "enabled") {
            let budget = thinking["budget_tokens"].as_u64();
            if budget.is_none_or(|b| b < MIN_THINKING_BUDGET) {
                return Err(format!(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
                ));
            }
            let max_tokens = self.max_tokens.unwrap_or_default() as u64;
            let interleaved = beta(headers).any(|b| b.starts_with("interleaved-thinking-"));
            if budget.is_some_and(|b| b >= max_tokens) && !interleaved {
                return Err("`max_tokens` must be greater than `thinking.budget_tokens`".to_owned());
            }
        }
        if self.thinking_enabled()
            && matches!(
                self.tool_choice.as_ref().and_then(|c| c["type"].as_str()),
                Some("any" | "tool")
            )
        {
            return Err("Thinking may not be enabled when tool_choice forces tool use.".to_owned());
        }
        if self.output_format.is_some() && !beta(headers).any(|b| b == STRUCTURED_OUTPUTS_BETA) {
            return Err("output_format: Extra inputs are not permitted".to_owned());
        }
        self.validate_tool_pairs()?;
        for (i, m) in self.messages.iter().enumerate() {
            let blocks = m.content.as_array().into_iter().flatten().enumerate();
            for (j, block) in
                blocks.filter(|(_, b)| m.role == "assistant" && b["type"] == "thinking")
            {
                let thinking = block["thinking"].as_str().unwrap_or_default();
                match block["signature"].as_str() {
                    None => {
                        return Err(format!(
                            "messages.{i}.content.{j}.thinking.signature: Field required"
                        ))
                    }
                    Some(signature) if signature != reply::thinking_signature(thinking) => {
                        return Err(format!(
                            "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl MessagesRequest {
    /// Every `tool_result` answers a `tool_use` of the message before it, and
    /// every `tool_use` is answered in the message after it (unless it ends the
    /// conversation).
    fn validate_tool_pairs(&self) -> Result<(), String> {
        let blocks = |m: &Message, kind: &str, id: &str| -> Vec<(usize, String)> {
            let all = m.content.as_array().into_iter().flatten().enumerate();
            all.filter(|(_, b)| b["type"] == kind)
                .map(|(j, b)| (j, b[id].as_str().unwrap_or_default().to_owned()))
                .collect()
        };
        for (i, m) in self.messages.iter().enumerate() {
            let called: Vec<String> = match i.checked_sub(1).map(|p| &self.messages[p]) {
                Some(previous) => blocks(previous, "tool_use", "id")
                    .into_iter()
                    .map(|(_, id)| id)
                    .collect(),
                None => Vec::new(),
            };
            for (j, id) in blocks(m, "tool_result", "tool_use_id") {
                if !called.contains(&id) {
                    return Err(format!("messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
                }
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            let Some(next) = self.messages.get(i + 1) else {
                break;
            };
            let answered: Vec<String> = blocks(next, "tool_result", "tool_use_id")
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            let missing: Vec<String> = blocks(m, "tool_use", "id")
                .into_iter()
                .map(|(_, id)| id)
                .filter(|id| !answered.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(format!("messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", missing.join(", ")));
            }
        }
        Ok(())
    }
}

/// The comma-separated values of every `anthropic-beta` header.
fn beta(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// An `image` or `document` block: `base64`, `url`, `text` (plain-text documents) or `file` sources.
fn media(block: &Value) -> Option<Media> {
    let kind = match block["type"].as_str()? {
        "image" => "image",
        "document" => "document",
        _ => return None,
    };
    let source = &block["source"];
    let mime = source["media_type"].as_str().map(str::to_owned);
    Some(match source["type"].as_str()? {
        "base64" => Media::base64(kind, mime, source["data"].as_str()?),
        "text" => Media {
            kind,
            mime,
            source: Source::Bytes(Some(source["data"].as_str()?.len())),
        },
        "url" => Media::url(kind, source["url"].as_str()?),
        "file" => Media {
            kind,
            mime,
            source: Source::File(source["file_id"].as_str()?.to_owned()),
        },
        _ => return None,
    })
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
    request
        .validate(&headers)
        .map_err(|message| error(StatusCode::BAD_REQUEST, &message))?;
    let directives = Directives::parse(&request.model);
    reply::gate(&directives, error).await?;
    if directives.unknown {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("model: {}", request.model),
        ));
    }
    let reply = Reply::plan(&directives, &request.prompt());
    let id = format!("msg_mock{}", reply::next_id());
    let stop_reason = match reply.kind {
        Kind::Calls(_) => "tool_use",
        Kind::Refusal => "refusal",
        Kind::Text if reply.truncated => "max_tokens",
        Kind::Text => "end_turn",
    };
    // Anthropic carries no refusal text: a refusal is an empty text block and its stop reason.
    let output_tokens = match reply.kind {
        Kind::Refusal => 0,
        _ => reply.completion_tokens(),
    } + reply.reasoning_tokens();
    let calls: Vec<(String, &reply::Call)> = match &reply.kind {
        Kind::Calls(calls) => calls
            .iter()
            .map(|c| (format!("toolu_mock{}", reply::next_id()), c))
            .collect(),
        _ => Vec::new(),
    };
    let stop_details = matches!(reply.kind, Kind::Refusal).then(
        || json!({"type": "refusal", "category": null, "explanation": "mock: refuse requested"}),
    );

    if !request.stream {
        if !reply::generate(&directives, &reply).await {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: connection cut",
            ));
        }
        let mut content = Vec::new();
        if let Some(signature) = reply.signature() {
            content.push(json!({"type": "thinking", "thinking": reply.thinking_text(), "signature": signature}));
        }
        match &reply.kind {
            Kind::Text => content.push(json!({"type": "text", "text": reply.text()})),
            Kind::Refusal => content.push(json!({"type": "text", "text": ""})),
            Kind::Calls(_) => content.extend(calls.iter().map(|(id, call)| {
                json!({"type": "tool_use", "id": id, "name": call.name, "input": call.arguments})
            })),
        }
        let mut usage =
            json!({"input_tokens": reply.uncached_prompt_tokens(), "output_tokens": output_tokens});
        add_cache_usage(&mut usage, &reply);
        if reply.reasoning_tokens() > 0 {
            usage["output_tokens_details"] = json!({"thinking_tokens": reply.reasoning_tokens()});
        }
        let mut message = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": usage,
        });
        if let Some(details) = &stop_details {
            message["stop_details"] = details.clone();
        }
        return Ok(Json(message).into_response());
    }

    let mut start_usage =
        json!({"input_tokens": reply.uncached_prompt_tokens(), "output_tokens": 1});
    add_cache_usage(&mut start_usage, &reply);
    let message = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
        "usage": start_usage,
    });
    let mut script = Script::default();
    script.frame(event(
        "message_start",
        json!({"type": "message_start", "message": message}),
    ));
    let mut blocks = Blocks::default();
    if let Some(signature) = reply.signature() {
        blocks.start(
            &mut script,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        );
        for t in &reply.thinking {
            script.token(blocks.delta(json!({"type": "thinking_delta", "thinking": t})));
        }
        script.frame(blocks.delta(json!({"type": "signature_delta", "signature": signature})));
        blocks.stop(&mut script);
    }
    match &reply.kind {
        Kind::Text | Kind::Refusal => {
            blocks.start(&mut script, json!({"type": "text", "text": ""}));
            if matches!(reply.kind, Kind::Text) {
                for t in &reply.tokens {
                    script.token(blocks.delta(json!({"type": "text_delta", "text": t})));
                }
            }
            blocks.stop(&mut script);
        }
        Kind::Calls(_) => {
            for (call_id, call) in &calls {
                blocks.start(
                    &mut script,
                    json!({"type": "tool_use", "id": call_id, "name": call.name, "input": {}}),
                );
                script.frame(blocks.delta(json!({"type": "input_json_delta", "partial_json": ""})));
                for piece in call.fragments() {
                    script.token(
                        blocks.delta(json!({"type": "input_json_delta", "partial_json": piece})),
                    );
                }
                blocks.stop(&mut script);
            }
        }
    }
    let mut delta = json!({"stop_reason": stop_reason, "stop_sequence": null});
    if let Some(details) = stop_details {
        delta["stop_details"] = details;
    }
    script.frame(event(
        "message_delta",
        json!({"type": "message_delta", "delta": delta, "usage": {"output_tokens": output_tokens}}),
    ));
    script.frame(event("message_stop", json!({"type": "message_stop"})));
    Ok(reply::stream(script, &directives))
}

/// Numbers content blocks as they open; a `ping` follows the first, as Anthropic sends it.
#[derive(Default)]
struct Blocks {
    next: usize,
}

impl Blocks {
    fn start(&mut self, script: &mut Script, block: Value) {
        script.frame(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": self.next, "content_block": block}),
        ));
        if self.next == 0 {
            script.frame(event("ping", json!({"type": "ping"})));
        }
    }

    fn delta(&self, delta: Value) -> String {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": self.next, "delta": delta}),
        )
    }

    fn stop(&mut self, script: &mut Script) {
        script.frame(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": self.next}),
        ));
        self.next += 1;
    }
}

/// `cache_creation_input_tokens`, `cache_read_input_tokens` and the `cache_creation`
/// breakdown, only when `cached-N` or `cache-write-N` asked for them.
fn add_cache_usage(usage: &mut Value, reply: &Reply) {
    if reply.cached_tokens + reply.cache_write_tokens > 0 {
        usage["cache_creation_input_tokens"] = json!(reply.cache_write_tokens);
        usage["cache_read_input_tokens"] = json!(reply.cached_tokens);
        usage["cache_creation"] = json!({
            "ephemeral_5m_input_tokens": reply.cache_write_tokens,
            "ephemeral_1h_input_tokens": 0,
        });
    }
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
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
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
