//! OpenAI Chat Completions (also any server that speaks it, via the base URL).

use super::{
    ended_early, json_headers, parse_json, sse::SseEvent, stream_error, to_json, Block,
    ChatRequest, Chunk, Completion, ErrorDetail, FinishReason, HttpRequestSpec, ProviderKind, Role,
    StreamMapper, ToolCall, ToolCallDelta, UpstreamError, UpstreamErrorKind, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const NAME: &str = "openai";

const KIND: ProviderKind = ProviderKind::OpenAi;

/// Fields this file sets itself; a passthrough entry never overrides them
/// (except "messages", which replaces the built ones on purpose).
const RESERVED: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "user",
    "n",
];

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: Messages<'a>,
    /// `max_tokens` is deprecated and refused by the reasoning models.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    extra: BTreeMap<&'a str, &'a Value>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Messages<'a> {
    Built(Vec<Message>),
    Raw(&'a Value),
}

#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// What this provider cannot do of `req` (see `super::validate`).
pub(super) fn validate(_req: &ChatRequest) -> Result<(), super::Unsupported> {
    Ok(())
}

/// Whether an image or document can go by URL (see `super::takes_url`).
pub(super) fn takes_url(_block: &super::Block) -> bool {
    true
}

pub(super) fn build_request(base: &str, api_key: &str, req: &ChatRequest) -> HttpRequestSpec {
    let messages = match req.passthrough.get("messages") {
        Some(raw) => Messages::Raw(raw),
        None => {
            let system = req.system.iter().map(|s| Message {
                role: "system",
                content: s.clone(),
            });
            let turns = req.messages.iter().map(|m| Message {
                role: match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                content: m.text(),
            });
            Messages::Built(system.chain(turns).collect())
        }
    };
    let body = Request {
        model: &req.model,
        messages,
        max_completion_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        user: req.user.as_deref(),
        stream: req.stream,
        // Usage is needed for budgets, so it is always asked for.
        stream_options: req.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        extra: req
            .passthrough
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v))
            .collect(),
    };
    HttpRequestSpec {
        url: format!("{base}/chat/completions"),
        headers: json_headers([("Authorization", format!("Bearer {api_key}"))]),
        body: to_json(&body),
    }
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StreamChoice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCallDelta>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

impl From<WireToolCallDelta> for ToolCallDelta {
    fn from(d: WireToolCallDelta) -> Self {
        let (name, arguments) = d
            .function
            .map(|f| (f.name, f.arguments.unwrap_or_default()))
            .unwrap_or_default();
        ToolCallDelta {
            index: d.index,
            id: d.id,
            name,
            arguments,
            signature: None,
        }
    }
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    refusal: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage::new(u.prompt_tokens, u.completion_tokens)
    }
}

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

fn finish_reason(s: &str) -> FinishReason {
    match s {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(super) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    let body: Body = parse_json(KIND, body)?;
    let usage = body.usage.map(Usage::from).unwrap_or_default();
    let choice = body
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| UpstreamError::protocol("openai returned no choices"))?;
    let ResponseMessage {
        content,
        refusal,
        tool_calls,
    } = choice.message;
    let mut blocks = Vec::new();
    if let Some(text) = content.filter(|t| !t.is_empty()) {
        blocks.push(Block::Text(text));
    }
    if let Some(refusal) = refusal.filter(|r| !r.is_empty()) {
        blocks.push(Block::Refusal(refusal));
    }
    blocks.extend(tool_calls.into_iter().map(|c| {
        Block::ToolCall(ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
            signature: None,
        })
    }));
    Ok(Completion {
        content: blocks,
        usage,
        finish_reason: choice.finish_reason.as_deref().map(finish_reason),
        logprobs: None,
    })
}

/// `[DONE]` ends the stream; a finish_reason already means the reply is
/// whole (only the usage chunk can still be missing), so it counts too.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    terminal: bool,
}

impl StreamMapper for OpenAiStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.terminal = true;
            return Ok(Vec::new());
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let value: Value = parse_json(KIND, data.as_bytes())?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(stream_error(KIND, data));
        }
        let parsed: StreamChunk = serde_json::from_value(value)
            .map_err(|_| UpstreamError::protocol("openai sent a chunk of an unexpected shape"))?;
        let mut chunk = Chunk {
            usage: parsed.usage.map(Usage::from),
            ..Chunk::default()
        };
        if let Some(choice) = parsed.choices.into_iter().next() {
            if let Some(delta) = choice.delta {
                chunk.text = delta.content.unwrap_or_default();
                chunk.refusal = delta.refusal.unwrap_or_default();
                chunk.tool_calls = delta.tool_calls.into_iter().map(Into::into).collect();
            }
            chunk.finish_reason = choice.finish_reason.as_deref().map(finish_reason);
        }
        self.terminal |= chunk.finish_reason.is_some();
        Ok(if chunk.is_empty() {
            Vec::new()
        } else {
            vec![chunk]
        })
    }

    fn finish(&mut self) -> Result<(), UpstreamError> {
        if self.terminal {
            Ok(())
        } else {
            Err(ended_early(KIND))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::{tests::replay_whole, Message};
    use super::*;

    fn body(spec: &HttpRequestSpec) -> Value {
        serde_json::from_str(&spec.body).unwrap()
    }

    #[test]
    fn build_request_sends_bearer_auth_system_first_and_asks_for_usage() {
        let req = ChatRequest {
            model: "gpt-4o-mini".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Again"),
            ],
            max_tokens: Some(50),
            temperature: Some(0.5),
            stop: vec!["END".into()],
            user: Some("u1".into()),
            stream: true,
            ..Default::default()
        };
        let spec = build_request("https://api.openai.com/v1", "sk-test", &req);
        assert_eq!(spec.url, "https://api.openai.com/v1/chat/completions");
        assert!(spec
            .headers
            .contains(&("Authorization".into(), "Bearer sk-test".into())));
        assert_eq!(
            body(&spec),
            serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Again"}
                ],
                "max_completion_tokens": 50, "temperature": 0.5, "stop": ["END"], "user": "u1",
                "stream": true, "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn passthrough_fields_are_copied_and_raw_messages_replace_the_built_ones() {
        let raw = serde_json::json!([{"role": "tool", "tool_call_id": "c1", "content": "42"}]);
        let mut passthrough = serde_json::Map::new();
        passthrough.insert("messages".into(), raw.clone());
        passthrough.insert("tools".into(), serde_json::json!([{"type": "function"}]));
        passthrough.insert("seed".into(), serde_json::json!(7));
        passthrough.insert("model".into(), serde_json::json!("evil"));
        let req = ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![Message::user("x")],
            passthrough,
            ..Default::default()
        };
        let b = body(&build_request("https://api.openai.com/v1", "k", &req));
        assert_eq!(b["messages"], raw);
        assert_eq!(b["seed"], 7);
        assert_eq!(b["tools"][0]["type"], "function");
        assert_eq!(b["model"], "gpt-4o");
        assert_eq!(b["stream"], false);
        assert!(b.get("stream_options").is_none());
    }

    #[test]
    fn the_recorded_stream_maps_to_text_finish_and_usage() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../tests/fixtures/sse/openai_stream.sse"),
        )
        .unwrap();
        let mut c = Completion::default();
        chunks.iter().for_each(|ch| c.push(ch));
        assert_eq!(c.text(), "Hello! Ça va? 🙂 How can I help you today?");
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(c.usage, Usage::new(19, 13));
        // Usage arrives once, in its own chunk after the finish reason.
        assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1);
        assert!(chunks.last().unwrap().usage.is_some());
    }

    #[test]
    fn the_recorded_tool_call_stream_keeps_the_deltas_verbatim() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../tests/fixtures/sse/openai_tool_calls.sse"),
        )
        .unwrap();
        let mut c = Completion::default();
        chunks.iter().for_each(|ch| c.push(ch));
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        let calls: Vec<_> = c.tool_calls().collect();
        assert_eq!(calls[0].id, "call_Fz0ccR5bGcRUqJ9vBhXlHzEe");
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, r#"{"location":"Paris, France"}"#);
        assert_eq!(c.usage.completion_tokens, 17);
    }

    #[test]
    fn stream_errors_unknown_fields_and_bad_json() {
        let ev = |data: &str| SseEvent {
            data: data.into(),
            ..Default::default()
        };
        let mut m = OpenAiStream::default();
        assert_eq!(
            m.on_event(&ev(
                r#"{"choices":[{"delta":{"content":"a","new_thing":1}}],"mystery":true}"#
            ))
            .unwrap()
            .len(),
            1
        );
        let err = m
            .on_event(&ev(
                r#"{"error":{"message":"The server had an error","type":"server_error"}}"#,
            ))
            .unwrap_err();
        assert_eq!(
            (&err.kind, err.status, err.http_status()),
            (&UpstreamErrorKind::Server, 0, 502)
        );
        assert_eq!(
            m.on_event(&ev("{not json")).unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
        assert!(m.finish().is_err());
    }

    #[test]
    fn non_streaming_bodies_parse() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(c.text(), "Hi there");
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(c.usage, Usage::new(5, 2));
        assert_eq!(c.tool_calls().count(), 0);
        assert_eq!(
            parse_completion(b"[]").unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }
}
