//! OpenAI Chat Completions wire format for chatgate's `/v1/chat/completions`:
//! the request becomes a neutral `ChatRequest` for any provider, and
//! neutral completions/chunks are rendered back the way OpenAI sends them,
//! so OpenAI's own SDKs work against any model.

use crate::domain::model_id::ModelId;
use crate::providers::{
    ChatRequest, Chunk, Completion, Message, ProviderKind, UpstreamError, UpstreamErrorKind, Usage,
};
use serde_json::{json, Map, Value};
use std::fmt;

pub const MAX_MESSAGES: usize = 1000;
pub const MAX_STOP_SEQUENCES: usize = 4;

#[derive(Clone, Debug)]
pub struct CompatRequest {
    pub model: ModelId,
    pub chat: ChatRequest,
    pub stream: bool,
    /// `stream_options.include_usage`: send the final usage chunk.
    pub include_usage: bool,
    pub max_tokens: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompatError {
    pub message: String,
    /// The offending parameter, OpenAI style ("temperature", "messages[2].role").
    pub param: Option<String>,
}

impl fmt::Display for CompatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompatError {}

/// Read and translated by chatgate itself.
#[rustfmt::skip]
const HANDLED: &[&str] = &[
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "stop", "n", "user",
];
/// Features only OpenAI has: for another provider they would silently not
/// happen, so they are refused there (null or false counts as absent).
#[rustfmt::skip]
const OPENAI_ONLY: &[&str] = &[
    "tools", "tool_choice", "response_format", "logprobs", "modalities", "prediction",
    "web_search_options",
];
/// In OpenAI's schema, but their output (a legacy `function_call` delta,
/// audio) is not relayed by chatgate: refused rather than silently lost.
const UNSUPPORTED: &[&str] = &["functions", "function_call", "audio"];
/// Tuning knobs: passed to OpenAI verbatim, dropped for the other providers.
#[rustfmt::skip]
const OPENAI_TUNING: &[&str] = &[
    "frequency_penalty", "presence_penalty", "logit_bias", "seed", "metadata", "store",
    "service_tier", "parallel_tool_calls", "top_logprobs", "reasoning_effort", "verbosity",
    "prompt_cache_key", "safety_identifier",
];
#[rustfmt::skip]
const MESSAGE_FIELDS: &[&str] = &[
    "role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "audio",
];

pub fn parse_request(body: &[u8]) -> Result<CompatRequest, CompatError> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        let message = "the request body must be a JSON object".to_owned();
        return Err(CompatError {
            message,
            param: None,
        });
    };
    let known = |k: &str| {
        [HANDLED, OPENAI_ONLY, OPENAI_TUNING, UNSUPPORTED]
            .iter()
            .any(|set| set.contains(&k))
    };
    if let Some(key) = obj.keys().find(|k| !known(k)) {
        let key: String = key.chars().take(64).collect();
        let message = format!("unrecognized request argument supplied: {key}");
        return Err(CompatError {
            message,
            param: Some(key),
        });
    }
    if let Some(key) = UNSUPPORTED.iter().find(|k| present(&obj, k).is_some()) {
        // `functions` is the legacy form of `tools`, which is supported.
        return invalid(key, "is not supported by chatgate");
    }
    let model = match present(&obj, "model") {
        Some(Value::String(s)) => ModelId::parse(s).map_err(|e| CompatError {
            message: e.to_string(),
            param: Some("model".into()),
        })?,
        Some(_) => return invalid("model", "must be a string"),
        None => return invalid("model", "is required"),
    };
    let openai = model.provider() == ProviderKind::OpenAi;
    let parsed = parse_messages(present(&obj, "messages"), openai)?;

    let stream = opt_bool(&obj, "stream")?.unwrap_or(false);
    let include_usage = parse_stream_options(present(&obj, "stream_options"))?;
    let max_tokens = opt_tokens(&obj, "max_completion_tokens")?.or(opt_tokens(&obj, "max_tokens")?);
    let temperature = opt_number(&obj, "temperature", 2.0)?;
    let top_p = opt_number(&obj, "top_p", 1.0)?;
    let stop = parse_stop(present(&obj, "stop"))?;
    if present(&obj, "n").is_some_and(|n| integer(n) != Some(1)) {
        return invalid("n", "must be 1: chatgate returns a single choice");
    }
    let user = match present(&obj, "user") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return invalid("user", "must be a string"),
        None => None,
    };

    let mut passthrough = Map::new();
    for (key, value) in obj.iter().filter(|(_, v)| !v.is_null()) {
        let only = OPENAI_ONLY.contains(&key.as_str());
        if openai && (only || OPENAI_TUNING.contains(&key.as_str())) {
            passthrough.insert(key.clone(), value.clone());
        } else if only && *value != Value::Bool(false) {
            return invalid(key, "is only supported for openai/* models");
        }
    }
    if let (true, Some(raw)) = (openai && parsed.raw_needed, obj.get("messages")) {
        passthrough.insert("messages".into(), raw.clone());
    }

    let chat = ChatRequest {
        model: model.model().to_owned(),
        system: parsed.system,
        messages: parsed.messages,
        max_tokens,
        temperature,
        top_p,
        stop,
        user,
        stream,
        passthrough,
        ..ChatRequest::default()
    };
    Ok(CompatRequest {
        model,
        chat,
        stream,
        include_usage,
        max_tokens,
    })
}

/// An error about `param`; the message starts with it, as OpenAI's do.
fn invalid<T>(param: impl fmt::Display, problem: impl fmt::Display) -> Result<T, CompatError> {
    let message = format!("{param} {problem}");
    Err(CompatError {
        message,
        param: Some(param.to_string()),
    })
}

/// Many SDKs send explicit nulls for unset options: null means absent.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, CompatError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => invalid(key, "must be a boolean"),
    }
}

/// An integer, written `5` or `5.0` (JSON Schema's `integer`).
fn integer(v: &Value) -> Option<i64> {
    v.as_number().and_then(crate::util::json_integer)
}

fn opt_tokens(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, CompatError> {
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    match integer(v).and_then(|n| u32::try_from(n).ok()) {
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => invalid(key, "must be a positive integer"),
    }
}

fn opt_number(obj: &Map<String, Value>, key: &str, max: f64) -> Result<Option<f64>, CompatError> {
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if (0.0..=max).contains(&x) => Ok(Some(x)),
        _ => invalid(key, format!("must be a number between 0 and {max}")),
    }
}

fn parse_stream_options(value: Option<&Value>) -> Result<bool, CompatError> {
    let Some(value) = value else { return Ok(false) };
    let Value::Object(opts) = value else {
        return invalid("stream_options", "must be an object");
    };
    for (key, v) in opts {
        let key: String = key.chars().take(64).collect();
        match (key.as_str(), v) {
            ("include_usage" | "include_obfuscation", Value::Bool(_) | Value::Null) => {}
            ("include_usage" | "include_obfuscation", _) => {
                return invalid(format!("stream_options.{key}"), "must be a boolean")
            }
            _ => {
                return invalid(
                    format!("stream_options.{key}"),
                    "is not a recognized stream option",
                )
            }
        }
    }
    Ok(opts.get("include_usage") == Some(&Value::Bool(true)))
}

fn parse_stop(value: Option<&Value>) -> Result<Vec<String>, CompatError> {
    let problem = format!("must be a string or an array of up to {MAX_STOP_SEQUENCES} strings");
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if items.len() <= MAX_STOP_SEQUENCES => {
            match items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
            {
                Some(stop) => Ok(stop),
                None => invalid("stop", problem),
            }
        }
        Some(_) => invalid("stop", problem),
    }
}

struct ParsedMessages {
    system: Option<String>,
    messages: Vec<Message>,
    /// Something only OpenAI's raw format can carry (tool turns, images,
    /// names, a system message mid-conversation): send the array verbatim.
    raw_needed: bool,
}

fn parse_messages(value: Option<&Value>, openai: bool) -> Result<ParsedMessages, CompatError> {
    let items = match value {
        Some(Value::Array(items)) => items,
        Some(_) => return invalid("messages", "must be an array"),
        None => return invalid("messages", "is required"),
    };
    if items.is_empty() {
        return invalid("messages", "must contain at least one message");
    }
    if items.len() > MAX_MESSAGES {
        return invalid(
            "messages",
            format!("may contain at most {MAX_MESSAGES} messages"),
        );
    }
    let mut system = Vec::new();
    let mut messages = Vec::new();
    let mut raw_needed = false;
    for (i, item) in items.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Value::Object(m) = item else {
            return invalid(at, "must be an object");
        };
        if let Some(key) = m.keys().find(|k| !MESSAGE_FIELDS.contains(&k.as_str())) {
            let key: String = key.chars().take(64).collect();
            return invalid(format!("{at}.{key}"), "is not a recognized message field");
        }
        raw_needed |= m
            .iter()
            .any(|(k, v)| !matches!(k.as_str(), "role" | "content") && !v.is_null());
        let has_calls = present(m, "tool_calls")
            .or(present(m, "function_call"))
            .is_some();
        let role = match present(m, "role") {
            Some(Value::String(role)) => role.as_str(),
            _ => return invalid(format!("{at}.role"), "is required"),
        };
        let content = || match present(m, "content") {
            Some(v) => content_text(v, &format!("{at}.content"), openai),
            None if role == "assistant" && has_calls => Ok((String::new(), false)),
            None => invalid(format!("{at}.content"), "is required"),
        };
        let (text, non_text) = match role {
            "system" | "developer" | "user" | "assistant" => content()?,
            "tool" | "function" if openai => (String::new(), true),
            "tool" | "function" => {
                return invalid(
                    format!("{at}.role"),
                    format!("{role} is only supported for openai/* models"),
                )
            }
            _ => {
                return invalid(
                    format!("{at}.role"),
                    "must be one of system, developer, user, assistant, tool",
                )
            }
        };
        raw_needed |= non_text;
        match role {
            "system" | "developer" => {
                raw_needed |= !messages.is_empty();
                system.push(text);
            }
            "user" => messages.push(Message::user(text)),
            "assistant" if has_calls && !openai => {
                return invalid(
                    format!("{at}.tool_calls"),
                    "are only supported for openai/* models",
                )
            }
            "assistant" => messages.push(Message::assistant(text)),
            _ => {}
        }
    }
    if messages.is_empty() && !raw_needed {
        return invalid(
            "messages",
            "must include at least one user or assistant message",
        );
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok(ParsedMessages {
        system,
        messages,
        raw_needed,
    })
}

/// A string, or text parts joined by newlines. Other part types (images,
/// audio, files) only OpenAI takes, in the raw messages: the bool says one was seen.
fn content_text(value: &Value, param: &str, openai: bool) -> Result<(String, bool), CompatError> {
    let parts = match value {
        Value::String(s) => return Ok((s.clone(), false)),
        Value::Array(parts) => parts,
        _ => return invalid(param, "must be a string or an array of content parts"),
    };
    let mut texts = Vec::with_capacity(parts.len());
    let mut non_text = false;
    for (j, part) in parts.iter().enumerate() {
        match (part.get("type").and_then(Value::as_str), part.get("text")) {
            (Some("text"), Some(Value::String(text))) => texts.push(text.as_str()),
            (Some("text"), _) => return invalid(format!("{param}[{j}].text"), "must be a string"),
            (Some(_), _) if openai => non_text = true,
            (Some(kind), _) => {
                let kind: String = kind.chars().take(32).collect();
                let problem = format!("{kind} is only supported for openai/* models");
                return invalid(format!("{param}[{j}].type"), problem);
            }
            (None, _) => return invalid(format!("{param}[{j}].type"), "is required"),
        }
    }
    Ok((texts.join("\n"), non_text))
}

/// The text one raw OpenAI message carries, for the prompt estimate: its content (a string,
/// or its text parts) and its tool calls' JSON. Images, audio and files are not text and are
/// left out.
pub fn message_text(message: &Value) -> String {
    let mut text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    for calls in ["tool_calls", "function_call"] {
        if let Some(v) = message.get(calls).filter(|v| !v.is_null()) {
            text.push_str(&v.to_string());
        }
    }
    text
}

fn usage_json(u: Usage) -> Value {
    json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total()})
}

pub fn completion_body(id: &str, created: u64, model: &str, c: &Completion) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    // OpenAI sends null content for a reply that is only tool calls (or a refusal).
    let text = c.text();
    let calls: Vec<Value> = c
        .tool_calls()
        .map(|t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}))
        .collect();
    let content = if text.is_empty() && (!calls.is_empty() || c.refusal().is_some()) {
        Value::Null
    } else {
        text.into()
    };
    message.insert("content".into(), content);
    message.insert(
        "refusal".into(),
        c.refusal().map_or(Value::Null, Into::into),
    );
    if !calls.is_empty() {
        message.insert("tool_calls".into(), calls.into());
    }
    let finish_reason = c.finish_reason.as_ref().map_or("stop", |r| r.as_openai());
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": usage_json(c.usage),
    })
}

/// Renders neutral chunks as OpenAI `chat.completion.chunk` SSE frames.
#[derive(Clone, Debug)]
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    role_sent: bool,
    finish_sent: bool,
    usage: Option<Usage>,
    done: bool,
}

impl ChunkWriter {
    pub fn new(id: &str, created: u64, model: &str, include_usage: bool) -> Self {
        Self {
            id: id.to_owned(),
            created,
            model: model.to_owned(),
            include_usage,
            role_sent: false,
            finish_sent: false,
            usage: None,
            done: false,
        }
    }

    /// Complete frames for one chunk (possibly none). Usage is held back
    /// for the final usage chunk.
    pub fn on_chunk(&mut self, c: &Chunk) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        self.usage = c.usage.or(self.usage);
        let mut frames = Vec::new();
        if !c.text.is_empty() || !c.tool_calls.is_empty() || !c.refusal.is_empty() {
            let mut delta = self.delta();
            if !c.text.is_empty() {
                delta.insert("content".into(), c.text.clone().into());
            }
            if !c.refusal.is_empty() {
                delta.insert("refusal".into(), c.refusal.clone().into());
            }
            if !c.tool_calls.is_empty() {
                let calls: Vec<Value> = c
                    .tool_calls
                    .iter()
                    .map(|d| {
                        let mut call = Map::new();
                        call.insert("index".into(), d.index.into());
                        if let Some(id) = &d.id {
                            call.insert("id".into(), id.clone().into());
                            call.insert("type".into(), "function".into());
                        }
                        let mut function = Map::new();
                        if let Some(name) = &d.name {
                            function.insert("name".into(), name.clone().into());
                        }
                        function.insert("arguments".into(), d.arguments.clone().into());
                        call.insert("function".into(), function.into());
                        call.into()
                    })
                    .collect();
                delta.insert("tool_calls".into(), calls.into());
            }
            frames.push(self.frame(delta, None));
        }
        if let Some(reason) = &c.finish_reason {
            frames.extend(self.finish_frame(reason.as_openai()));
        }
        frames
    }

    /// The finish frame if none was sent yet, the usage chunk when it was
    /// asked for (the last usage seen; zeros if none came, so a caller
    /// without upstream usage should pass an estimate in a last chunk),
    /// then `[DONE]`.
    pub fn finish(&mut self) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut frames: Vec<String> = self.finish_frame("stop").into_iter().collect();
        if self.include_usage {
            let mut body = self.envelope();
            body.insert("choices".into(), json!([]));
            body.insert("usage".into(), usage_json(self.usage.unwrap_or_default()));
            frames.push(data_frame(&Value::Object(body)));
        }
        frames.push("data: [DONE]\n\n".to_owned());
        frames
    }

    /// The first frame of the reply carries the role.
    fn delta(&mut self) -> Map<String, Value> {
        let mut delta = Map::new();
        if !self.role_sent {
            self.role_sent = true;
            delta.insert("role".into(), "assistant".into());
        }
        delta
    }

    fn finish_frame(&mut self, reason: &str) -> Option<String> {
        if self.finish_sent {
            return None;
        }
        self.finish_sent = true;
        let delta = self.delta();
        Some(self.frame(delta, Some(reason)))
    }

    fn envelope(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("id".into(), self.id.clone().into());
        body.insert("object".into(), "chat.completion.chunk".into());
        body.insert("created".into(), self.created.into());
        body.insert("model".into(), self.model.clone().into());
        body
    }

    fn frame(&self, delta: Map<String, Value>, finish_reason: Option<&str>) -> String {
        let mut body = self.envelope();
        let choice =
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason});
        body.insert("choices".into(), json!([choice]));
        // OpenAI marks every chunk but the last with a null usage when usage was asked for.
        if self.include_usage {
            body.insert("usage".into(), Value::Null);
        }
        data_frame(&Value::Object(body))
    }
}

/// Compact JSON has no raw newlines, so one `data:` line is a whole frame.
fn data_frame(body: &Value) -> String {
    format!("data: {body}\n\n")
}

/// `{"error":{"message","type","param","code"}}`, OpenAI's error shape.
pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The same error as a stream frame, for failures after the 200 went out.
pub fn error_frame(message: &str, kind: &str, code: Option<&str>) -> String {
    data_frame(&error_body(message, kind, code))
}

/// An upstream failure in OpenAI's vocabulary; pair it with `e.http_status()`.
pub fn upstream_error_body(e: &UpstreamError) -> Value {
    let (kind, code) = match e.kind {
        UpstreamErrorKind::BadRequest => ("invalid_request_error", "upstream_bad_request"),
        UpstreamErrorKind::Unauthorized => ("invalid_request_error", "upstream_unauthorized"),
        UpstreamErrorKind::NotFound => ("invalid_request_error", "model_not_found"),
        UpstreamErrorKind::RateLimited { .. } => ("rate_limit_error", "rate_limited"),
        UpstreamErrorKind::Overloaded => ("api_error", "upstream_overloaded"),
        UpstreamErrorKind::Server | UpstreamErrorKind::Protocol => ("api_error", "upstream_error"),
    };
    error_body(&e.message, kind, Some(code))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{sse::SseDecoder, stream_mapper, FinishReason};
    use crate::providers::{Block, Role, ToolCall};

    fn parse(v: Value) -> Result<CompatRequest, CompatError> {
        parse_request(v.to_string().as_bytes())
    }

    #[test]
    fn a_raw_message_is_estimated_from_its_text_and_tool_calls_not_its_images() {
        let image = json!({"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", "A".repeat(5000))}},
        ]});
        assert_eq!(message_text(&image), "what is this?");
        let call = json!({"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
        assert!(message_text(&call).contains("\"name\":\"f\""));
        let tool = json!({"role": "tool", "tool_call_id": "c1", "content": "42 degrees"});
        assert_eq!(message_text(&tool), "42 degrees");
    }

    fn user(text: &str) -> Value {
        json!([{"role": "user", "content": text}])
    }

    #[test]
    fn a_full_request_translates_to_a_neutral_chat_request() {
        let r = parse(json!({
            "model": "anthropic/claude-3-5-haiku-latest",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hello", "name": "bot"},
                {"role": "user", "content": "Again"}
            ],
            "stream": true, "stream_options": {"include_usage": true},
            "max_tokens": 100, "temperature": 0.5, "top_p": 1, "stop": "END", "n": 1, "user": "u1",
            "frequency_penalty": 0.5, "seed": 3, "logprobs": false, "tools": null
        }))
        .unwrap();
        assert_eq!(r.model.as_str(), "anthropic/claude-3-5-haiku-latest");
        assert!(r.stream && r.include_usage && r.chat.stream);
        assert_eq!((r.max_tokens, r.chat.max_tokens), (Some(100), Some(100)));
        let c = &r.chat;
        assert_eq!(c.model, "claude-3-5-haiku-latest");
        assert_eq!(c.system.as_deref(), Some("Be brief.\n\nUse French."));
        let turns: Vec<(Role, String)> = c.messages.iter().map(|m| (m.role, m.text())).collect();
        assert_eq!(
            turns,
            vec![
                (Role::User, "Hi\nthere".to_owned()),
                (Role::Assistant, "Hello".to_owned()),
                (Role::User, "Again".to_owned())
            ]
        );
        assert_eq!(
            (c.temperature, c.top_p, c.stop.clone(), c.user.as_deref()),
            (Some(0.5), Some(1.0), vec!["END".to_owned()], Some("u1"))
        );
        assert!(
            c.passthrough.is_empty(),
            "tuning fields are dropped for anthropic"
        );
    }

    #[test]
    fn token_counts_and_n_may_be_written_as_integral_floats() {
        // JSON Schema's `integer` includes 100.0 (found by the fuzzer); 100.5 is still refused.
        let r = parse(
            json!({"model": "demo/echo", "messages": user("Hi"), "max_tokens": 100.0,
                             "max_completion_tokens": 50.0, "n": 1.0}),
        )
        .unwrap();
        assert_eq!(r.max_tokens, Some(50));
        let bad = parse(json!({"model": "demo/echo", "messages": user("Hi"), "max_tokens": 100.5}));
        assert_eq!(bad.unwrap_err().param.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn openai_requests_pass_tools_and_raw_messages_through() {
        let messages = json!([
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
        ]);
        let r = parse(json!({
            "model": "openai/gpt-4o", "messages": messages.clone(), "max_completion_tokens": 50, "max_tokens": 10,
            "tools": [{"type": "function", "function": {"name": "w"}}], "tool_choice": "auto", "seed": 1, "store": null
        }))
        .unwrap();
        let p = &r.chat.passthrough;
        assert_eq!(p.get("messages"), Some(&messages));
        assert_eq!(p.get("tool_choice"), Some(&json!("auto")));
        assert_eq!(p.get("seed"), Some(&json!(1)));
        assert!(p.get("tools").is_some() && p.get("store").is_none());
        assert_eq!(r.max_tokens, Some(50), "max_completion_tokens wins");
        assert_eq!(r.chat.messages[0].text(), "Weather?");
        assert!(!r.stream && !r.include_usage);
        // Plain text messages are rebuilt, not passed raw.
        let plain = parse(json!({"model": "openai/gpt-4o", "messages": user("hi")})).unwrap();
        assert!(plain.chat.passthrough.is_empty());
    }

    #[test]
    #[rustfmt::skip]
    fn invalid_requests_are_refused_with_a_message_and_param() {
        let gpt = r#""model": "openai/gpt-4o""#;
        let hi = r#""messages": [{"role": "user", "content": "x"}]"#;
        let many = format!(r#""messages": [{}]"#, vec![r#"{"role": "user", "content": "x"}"#; 1001].join(","));
        let claude = r#""model": "anthropic/claude-3-5-haiku-latest""#;
        let gemini = r#""model": "gemini/gemini-2.5-flash""#;
        let cases: Vec<(&str, String, &str, Option<&str>)> = vec![
            ("unknown field", format!(r#"{gpt}, {hi}, "temprature": 1"#), "unrecognized request argument supplied: temprature", Some("temprature")),
            ("missing model", hi.to_owned(), "model is required", Some("model")),
            ("model without provider", format!(r#""model": "gpt-4o", {hi}"#), "provider/model", Some("model")),
            ("unknown provider", format!(r#""model": "mistral/large", {hi}"#), "unknown provider", Some("model")),
            ("demo other model", format!(r#""model": "demo/other", {hi}"#), "only has demo/echo", Some("model")),
            ("missing messages", gpt.to_owned(), "messages is required", Some("messages")),
            ("empty messages", format!(r#"{gpt}, "messages": []"#), "at least one message", Some("messages")),
            ("too many messages", format!("{gpt}, {many}"), "at most 1000", Some("messages")),
            ("only a system message", format!(r#"{gemini}, "messages": [{{"role": "system", "content": "x"}}]"#), "at least one user or assistant", Some("messages")),
            ("bad role", format!(r#"{gpt}, "messages": [{{"role": "robot", "content": "x"}}]"#), "must be one of", Some("messages[0].role")),
            ("unknown message field", format!(r#"{gpt}, "messages": [{{"role": "user", "content": "x", "foo": 1}}]"#), "is not a recognized message field", Some("messages[0].foo")),
            ("missing content", format!(r#"{gpt}, "messages": [{{"role": "user"}}]"#), "content is required", Some("messages[0].content")),
            ("text part without text", format!(r#"{gpt}, "messages": [{{"role": "user", "content": [{{"type": "text"}}]}}]"#), "must be a string", Some("messages[0].content[0].text")),
            ("tool role elsewhere", format!(r#"{claude}, "messages": [{{"role": "tool", "content": "x", "tool_call_id": "c"}}]"#), "only supported for openai", Some("messages[0].role")),
            ("tool calls elsewhere", format!(r#"{gemini}, "messages": [{{"role": "assistant", "content": null, "tool_calls": []}}]"#), "only supported for openai", Some("messages[0].tool_calls")),
            ("image elsewhere", r#""model": "demo/echo", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]"#.to_owned(), "image_url is only supported", Some("messages[0].content[0].type")),
            ("legacy functions", format!(r#"{gpt}, {hi}, "functions": []"#), "not supported by chatgate", Some("functions")),
            ("tools elsewhere", format!(r#"{claude}, {hi}, "tools": []"#), "tools is only supported for openai", Some("tools")),
            ("temperature too high", format!(r#"{gpt}, {hi}, "temperature": 2.5"#), "between 0 and 2", Some("temperature")),
            ("negative top_p", format!(r#"{gpt}, {hi}, "top_p": -0.1"#), "between 0 and 1", Some("top_p")),
            ("five stops", format!(r#"{gpt}, {hi}, "stop": ["a", "b", "c", "d", "e"]"#), "up to 4", Some("stop")),
            ("n of 2", format!(r#"{gpt}, {hi}, "n": 2"#), "n must be 1", Some("n")),
            ("zero max_tokens", format!(r#"{gpt}, {hi}, "max_tokens": 0"#), "positive integer", Some("max_tokens")),
            ("string stream", format!(r#"{gpt}, {hi}, "stream": "yes""#), "stream must be a boolean", Some("stream")),
            ("unknown stream option", format!(r#"{gpt}, {hi}, "stream_options": {{"foo": true}}"#), "is not a recognized stream option", Some("stream_options.foo")),
        ];
        for (case, fields, message, param) in cases {
            let err = parse_request(format!("{{{fields}}}").as_bytes()).err().unwrap_or_else(|| unreachable!("{case}: accepted"));
            assert!(err.message.contains(message), "{case}: got {:?}", err.message);
            assert_eq!(err.param.as_deref(), param, "{case}");
        }
        let err = parse_request(b"{not json").unwrap_err();
        assert_eq!((err.message.as_str(), err.param), ("the request body must be a JSON object", None));
        assert!(parse_request(b"[]").is_err());
    }

    fn anthropic_chunks() -> Vec<Chunk> {
        let mut dec = SseDecoder::new();
        let mut mapper = stream_mapper(ProviderKind::Anthropic);
        let mut chunks = Vec::new();
        let fixture = include_str!("../tests/fixtures/sse/anthropic_stream.sse");
        for ev in dec
            .feed(fixture.as_bytes())
            .unwrap()
            .into_iter()
            .chain(dec.finish().unwrap())
        {
            chunks.extend(mapper.on_event(&ev).unwrap());
        }
        mapper.finish().unwrap();
        chunks
    }

    fn render(include_usage: bool) -> Vec<String> {
        let mut w = ChunkWriter::new(
            "chatcmpl-1",
            1700000000,
            "anthropic/claude-3-5-haiku-latest",
            include_usage,
        );
        let mut frames: Vec<String> = anthropic_chunks()
            .iter()
            .flat_map(|c| w.on_chunk(c))
            .collect();
        frames.extend(w.finish());
        assert!(w.finish().is_empty(), "finish is idempotent");
        frames
    }

    fn payloads(frames: &[String]) -> Vec<Value> {
        frames
            .iter()
            .take_while(|f| f.as_str() != "data: [DONE]\n\n")
            .map(|f| {
                serde_json::from_str(
                    f.strip_prefix("data: ")
                        .unwrap()
                        .strip_suffix("\n\n")
                        .unwrap(),
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_streamed_anthropic_reply_renders_as_openai_chunks_with_usage_when_asked() {
        let frames = render(true);
        assert_eq!(frames.last().unwrap(), "data: [DONE]\n\n");
        assert!(frames.iter().all(|f| f.starts_with("data: ")
            && f.ends_with("\n\n")
            && f.matches('\n').count() == 2));
        let bodies = payloads(&frames);
        assert_eq!(bodies.len(), frames.len() - 1);
        assert_eq!(bodies[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(bodies[1..]
            .iter()
            .all(|b| b["choices"][0]["delta"].get("role").is_none()));
        let text: String = bodies
            .iter()
            .filter_map(|b| b["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(
            text,
            "Bonjour ! Voilà une réponse courte 🙂 — rien de plus."
        );
        let (usage_chunk, rest) = bodies.split_last().unwrap();
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(
            usage_chunk["usage"],
            json!({"prompt_tokens": 25, "completion_tokens": 21, "total_tokens": 46})
        );
        assert!(rest.iter().all(|b| b["object"] == "chat.completion.chunk"
            && b["id"] == "chatcmpl-1"
            && b["usage"].is_null()));
        let finishes: Vec<&Value> = rest
            .iter()
            .map(|b| &b["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, vec![&json!("stop")]);
        assert!(rest.last().unwrap()["choices"][0]["finish_reason"] == "stop");
    }

    #[test]
    fn without_include_usage_there_is_no_usage_chunk() {
        let frames = render(false);
        assert_eq!(frames.last().unwrap(), "data: [DONE]\n\n");
        let bodies = payloads(&frames);
        assert!(bodies
            .iter()
            .all(|b| b.get("usage").is_none() && b["choices"].as_array().unwrap().len() == 1));
        assert_eq!(
            bodies.last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
    }

    #[test]
    fn finish_supplies_a_finish_reason_and_role_for_an_empty_reply() {
        let mut w = ChunkWriter::new("c", 1, "demo/echo", true);
        let frames = w.finish();
        assert_eq!(frames.len(), 3);
        let bodies = payloads(&frames);
        assert_eq!(
            bodies[0]["choices"][0]["delta"],
            json!({"role": "assistant"})
        );
        assert_eq!(bodies[0]["choices"][0]["finish_reason"], "stop");
        assert_eq!(bodies[1]["usage"]["total_tokens"], 0);
    }

    #[test]
    fn completions_and_errors_render_in_openai_shape() {
        let c = Completion {
            content: vec![Block::Text("Hi".into())],
            usage: Usage::new(3, 1),
            finish_reason: Some(FinishReason::Length),
            logprobs: None,
        };
        let body = completion_body("chatcmpl-9", 42, "gemini/gemini-2.5-flash", &c);
        assert_eq!(
            body,
            json!({
                "id": "chatcmpl-9", "object": "chat.completion", "created": 42, "model": "gemini/gemini-2.5-flash",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null}, "logprobs": null, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
            })
        );
        let tools = Completion {
            content: vec![Block::ToolCall(ToolCall {
                id: "c1".into(),
                name: "w".into(),
                arguments: "{}".into(),
                signature: None,
            })],
            finish_reason: Some(FinishReason::ToolCalls),
            ..Default::default()
        };
        let body = completion_body("x", 1, "openai/gpt-4o", &tools);
        assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(body["choices"][0]["message"]["tool_calls"][0]["id"], "c1");
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

        assert_eq!(
            error_body("bad", "invalid_request_error", Some("validation_failed")),
            json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": "validation_failed"}})
        );
        let e = UpstreamError::new(
            UpstreamErrorKind::RateLimited {
                retry_after: Some(3),
            },
            429,
            "openai: slow down",
        );
        assert_eq!(upstream_error_body(&e)["error"]["type"], "rate_limit_error");
        assert_eq!(
            error_frame("m", "api_error", None),
            format!("data: {}\n\n", error_body("m", "api_error", None))
        );
    }
}
