//! `demo/echo`: the built-in model. No key, no network, deterministic, so
//! the service works out of the box and tests know the reply in advance.
//!
//! It takes every feature and answers each the same way every time:
//! - tools given (and `tool_choice` not `none`) and no tool result in the last user
//!   turn: a call of the forced tool, or the first one, with arguments generated from
//!   its JSON schema (`example`);
//! - a tool result in the last user turn: the results quoted;
//! - `response_format` `json_object`: `{"echo": "<last user text>"}`; `json_schema`: a
//!   value generated from the schema, as JSON text;
//! - otherwise the last user message echoed, with the images and documents it carried
//!   named ("You sent 1 image (image/png).").
//!
//! Reasoning asked for: a reasoning block first ("Thinking about: …", always shown, as
//! Anthropic shows its thinking) with a signature bound to its text, and its tokens
//! counted as reasoning tokens. Logprobs asked for: an entry per text token, scoring
//! -0.125, -0.25, -0.375, -0.5 in turn, with `top_logprobs` alternatives (the token
//! itself, then `alt1`, `alt2`… each one lower), as the mock upstream scores them.
//!
//! The worker paces `chunks()` itself. The wire format below (one
//! `data: {"text"|"reasoning"|"tool_calls"|…}` frame per chunk) exists so the
//! demo can also go through the same decoder + mapper path as the others.

use super::{
    ended_early, estimate_tokens, json_headers, parse_json, sse, sse::SseEvent, to_json, Block,
    ChatRequest, Chunk, Completion, FinishReason, HttpRequestSpec, Media, Message as Turn,
    ProviderKind, ReasoningDelta, ResponseFormat, Role, StreamMapper, ToolCallDelta, ToolChoice,
    UpstreamError, Usage,
};
use crate::crypto::{b64, sha256};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub const NAME: &str = "demo";
/// The one demo model.
pub const MODEL: &str = "echo";

const KIND: ProviderKind = ProviderKind::Demo;

const ABOUT: &str =
    "This reply comes from demo/echo, the built-in model of chatgate. It needs no API key \
and answers the same way every time, so you can try conversations, streaming and usage accounting \
before connecting OpenAI, Anthropic or Gemini.";

/// JSON (a structured reply, tool arguments) streams in pieces of this many characters.
const JSON_PIECE_CHARS: usize = 8;
/// Deeper than any schema a client sends; stops a `$ref` cycle.
const MAX_SCHEMA_DEPTH: usize = 32;

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    system: Option<&'a str>,
    messages: Vec<Message>,
}

#[derive(Serialize)]
struct Message {
    role: Role,
    content: String,
}

/// The demo model takes every feature (see `super::validate`).
pub(super) fn validate(_req: &ChatRequest) -> Result<(), super::Unsupported> {
    Ok(())
}

/// Never sent anywhere: the demo is served in-process. It exists so
/// `build_request` is total over `ProviderKind`.
pub(super) fn build_request(base: &str, req: &ChatRequest) -> HttpRequestSpec {
    let body = Request {
        model: &req.model,
        system: req.system.as_deref(),
        messages: req
            .messages
            .iter()
            .map(|m| Message {
                role: m.role,
                content: m.text(),
            })
            .collect(),
    };
    HttpRequestSpec {
        url: format!("{base}/demo/{MODEL}"),
        headers: json_headers([]),
        body: to_json(&body),
    }
}

/// What the demo answers, before it is cut into chunks.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Text, in the pieces it streams as.
    Text(Vec<String>),
    Call {
        id: String,
        name: String,
        /// The arguments' JSON text, in pieces.
        arguments: Vec<String>,
    },
}

impl Answer {
    fn pieces(&self) -> &[String] {
        match self {
            Answer::Text(pieces)
            | Answer::Call {
                arguments: pieces, ..
            } => pieces,
        }
    }
}

fn last_user(req: &ChatRequest) -> Option<&Turn> {
    req.messages.iter().rev().find(|m| m.role == Role::User)
}

fn answer(req: &ChatRequest) -> Answer {
    let last = last_user(req);
    let has_result =
        last.is_some_and(|m| m.content.iter().any(|b| matches!(b, Block::ToolResult(_))));
    // The forced tool (called even if it was not among the tools), else the first one.
    let tool = match &req.tool_choice {
        _ if req.tools.is_empty() => None,
        Some(ToolChoice::None) => None,
        Some(ToolChoice::Named(name)) => Some((
            name.as_str(),
            req.tools
                .iter()
                .find(|t| t.name == *name)
                .map_or(&Value::Null, |t| &t.parameters),
        )),
        _ => req.tools.first().map(|t| (t.name.as_str(), &t.parameters)),
    };
    if let (Some((name, schema)), false) = (tool, has_result) {
        let arguments = match example(schema) {
            object @ Value::Object(_) => object,
            _ => json!({}),
        };
        return Answer::Call {
            // Distinct across the turns of one conversation, the same on every run.
            id: format!("call_demo_{}", req.messages.len()),
            name: name.to_owned(),
            arguments: json_pieces(&arguments.to_string()),
        };
    }
    let text = last.map(Turn::text).unwrap_or_default();
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            return Answer::Text(json_pieces(&json!({ "echo": text }).to_string()))
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            return Answer::Text(json_pieces(&example(schema).to_string()))
        }
        Some(ResponseFormat::Text) | None => {}
    }
    let reply = match last {
        Some(m) if has_result => quote_results(m),
        Some(m) => echo(m),
        None => format!("Hello!\n\n{ABOUT}"),
    };
    Answer::Text(split_words(&reply))
}

fn quote_results(turn: &Turn) -> String {
    let mut lines: Vec<String> = turn
        .content
        .iter()
        .filter_map(|b| match b {
            Block::ToolResult(r) => {
                let tool = r.name.as_deref().unwrap_or(&r.call_id);
                let verb = if r.is_error { "failed" } else { "returned" };
                let text = Turn {
                    role: Role::User,
                    content: r.content.clone(),
                }
                .prompt_text();
                Some(format!("Tool {tool} {verb}: {text}"))
            }
            _ => None,
        })
        .collect();
    let text = turn.text();
    if !text.is_empty() {
        lines.push(format!("You said: {text}"));
    }
    lines.join("\n")
}

/// "You said: …", the media of the turn named, then what the demo is.
fn echo(turn: &Turn) -> String {
    let text = turn.text();
    let media = describe_media(&turn.content);
    let mut reply = String::new();
    if !text.is_empty() || media.is_none() {
        reply.push_str(&format!("You said: {text}\n\n"));
    }
    if let Some(media) = media {
        reply.push_str(&format!("{media}\n\n"));
    }
    reply.push_str(ABOUT);
    reply
}

/// "You sent 2 images (image/png, https://…/cat.jpg) and 1 document (application/pdf)."
fn describe_media(blocks: &[Block]) -> Option<String> {
    let describe = |media: &Media| match media {
        Media::Url(url) => url.clone(),
        Media::Base64 { media_type, .. } => media_type.clone(),
    };
    let mut images = Vec::new();
    let mut documents = Vec::new();
    for block in blocks {
        match block {
            Block::Image(media) => images.push(describe(media)),
            Block::Document { media, .. } => documents.push(describe(media)),
            _ => {}
        }
    }
    let group = |items: &[String], noun: &str| {
        let plural = if items.len() == 1 { "" } else { "s" };
        format!("{} {noun}{plural} ({})", items.len(), items.join(", "))
    };
    let groups: Vec<String> = [(&images, "image"), (&documents, "document")]
        .into_iter()
        .filter(|(items, _)| !items.is_empty())
        .map(|(items, noun)| group(items, noun))
        .collect();
    (!groups.is_empty()).then(|| format!("You sent {}.", groups.join(" and ")))
}

/// The reply split into word tokens, each keeping its trailing whitespace,
/// so that joined they give the reply exactly. The user's text is echoed
/// verbatim (markup included: the web client must sanitise it).
pub fn reply_tokens(req: &ChatRequest) -> Vec<String> {
    match answer(req) {
        Answer::Text(pieces) => pieces,
        Answer::Call { .. } => Vec::new(),
    }
}

fn split_words(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut in_space = false;
    for ch in text.chars() {
        let space = ch.is_whitespace();
        // A new token starts where a word follows whitespace.
        match tokens.last_mut() {
            Some(last) if space || !in_space => last.push(ch),
            _ => tokens.push(ch.to_string()),
        }
        in_space = space;
    }
    tokens
}

fn json_pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(JSON_PIECE_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

/// A value valid against `schema`, the same every time:
///
/// | schema | value |
/// |---|---|
/// | `const` / `enum` | the constant / the first value |
/// | `anyOf` / `oneOf` | the first alternative that is not `null` |
/// | `$ref` (`#/$defs/…`, `#/definitions/…`) | the referenced schema's |
/// | `string` | `"demo"` |
/// | `number` / `integer` | `1` |
/// | `boolean` | `true` |
/// | `array` | `[]` |
/// | `object` (or `properties` without a type) | its `required` properties |
/// | `null`, or nothing known | `null` |
///
/// A type list (`["string", "null"]`) counts as its first non-null type.
pub fn example(schema: &Value) -> Value {
    generate(schema, schema, 0)
}

fn generate(schema: &Value, root: &Value, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::Null;
    };
    if depth > MAX_SCHEMA_DEPTH {
        return Value::Null;
    }
    if let Some(target) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        return generate(target, root, depth + 1);
    }
    if let Some(constant) = s.get("const") {
        return constant.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = s.get(key).and_then(Value::as_array) {
            let chosen = alternatives
                .iter()
                .find(|a| type_name(a).as_deref() != Some("null"))
                .or(alternatives.first());
            if let Some(chosen) = chosen {
                return generate(chosen, root, depth + 1);
            }
        }
    }
    let kind =
        type_name(schema).or_else(|| s.contains_key("properties").then(|| "object".to_owned()));
    match kind.as_deref() {
        Some("string") => json!("demo"),
        Some("number" | "integer") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => {
            let properties = s.get("properties").and_then(Value::as_object);
            let object: Map<String, Value> = s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| {
                    let value = properties
                        .and_then(|p| p.get(name))
                        .map_or(Value::Null, |p| generate(p, root, depth + 1));
                    (name.to_owned(), value)
                })
                .collect();
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

fn type_name(schema: &Value) -> Option<String> {
    match schema.get("type")? {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .find(|t| t != "null")
            .or_else(|| Some("null".to_owned())),
        _ => None,
    }
}

/// The reasoning block's signature: bound to its text, the same on every run.
pub fn reasoning_signature(text: &str) -> String {
    b64(&sha256(format!("chatgate-demo:{text}").as_bytes()))
}

/// The `i`th text token's logprobs entry, with `top` alternatives.
fn logprob_entry(i: usize, token: &str, top: u32) -> Value {
    let logprob = -0.125 * ((i % 4) + 1) as f64;
    let alternatives: Vec<Value> = (0..top)
        .map(|k| {
            let alt = if k == 0 {
                token.to_owned()
            } else {
                format!("alt{k}")
            };
            json!({"token": alt, "logprob": logprob - f64::from(k), "bytes": alt.as_bytes()})
        })
        .collect();
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes(), "top_logprobs": alternatives})
}

pub fn usage(req: &ChatRequest, tokens: &[String]) -> Usage {
    let chars: String = req
        .system
        .iter()
        .cloned()
        .chain(req.messages.iter().map(|m| m.prompt_text()))
        .collect();
    Usage::new(estimate_tokens(&chars).max(1), tokens.len() as u64)
}

/// The stream, ready to pace: the reasoning (when asked for) word by word and its
/// signature, then one chunk per token of the answer, the last chunk carrying the
/// finish reason and usage. `max_tokens` cuts the answer short, like a real provider's
/// completion cap, with the "length" finish reason.
pub fn chunks(req: &ChatRequest) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut reasoning_tokens = 0;
    if req.reasoning.is_some() {
        let about = last_user(req).map(Turn::prompt_text).unwrap_or_default();
        let thinking = format!("Thinking about: {about}");
        let words = split_words(&thinking);
        reasoning_tokens = words.len() as u64;
        let reasoning = |text: String, signature: Option<String>| Chunk {
            reasoning: Some(ReasoningDelta {
                index: 0,
                text,
                signature,
                redacted: None,
            }),
            ..Chunk::default()
        };
        chunks.extend(words.into_iter().map(|w| reasoning(w, None)));
        chunks.push(reasoning(
            String::new(),
            Some(reasoning_signature(&thinking)),
        ));
    }

    let mut answer = answer(req);
    let cap = req.max_tokens.map_or(usize::MAX, |m| m as usize);
    let truncated = answer.pieces().len() > cap;
    match &mut answer {
        Answer::Text(pieces)
        | Answer::Call {
            arguments: pieces, ..
        } => pieces.truncate(cap),
    }
    let finish_reason = match (&answer, truncated) {
        (_, true) => FinishReason::Length,
        (Answer::Call { .. }, false) => FinishReason::ToolCalls,
        (Answer::Text(_), false) => FinishReason::Stop,
    };
    let mut usage = usage(req, answer.pieces());
    usage.completion_tokens += reasoning_tokens;
    usage.reasoning_tokens = reasoning_tokens;

    match answer {
        Answer::Text(pieces) => {
            let top = req.top_logprobs.unwrap_or(0);
            chunks.extend(pieces.into_iter().enumerate().map(|(i, text)| {
                Chunk {
                    logprobs: req
                        .logprobs
                        .then(|| json!({"content": [logprob_entry(i, &text, top)]})),
                    text,
                    ..Chunk::default()
                }
            }));
        }
        Answer::Call {
            id,
            name,
            arguments,
        } => {
            let call = |id, name, arguments| Chunk {
                tool_calls: vec![ToolCallDelta {
                    index: 0,
                    id,
                    name,
                    arguments,
                    signature: None,
                }],
                ..Chunk::default()
            };
            chunks.push(call(Some(id), Some(name), String::new()));
            chunks.extend(arguments.into_iter().map(|a| call(None, None, a)));
        }
    }
    chunks.push(Chunk {
        usage: Some(usage),
        finish_reason: Some(finish_reason),
        ..Chunk::default()
    });
    chunks
}

pub fn completion(req: &ChatRequest) -> Completion {
    let mut c = Completion::default();
    chunks(req).iter().for_each(|ch| c.push(ch));
    c
}

/// One chunk on the demo's wire: every field of `Chunk`, empty ones left out.
#[derive(Serialize, Deserialize, Default)]
struct Frame {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reasoning: Option<FrameReasoning>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<FrameToolCall>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    refusal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logprobs: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct FrameReasoning {
    index: u32,
    #[serde(default)]
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redacted: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct FrameToolCall {
    index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    arguments: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

impl Frame {
    fn of(c: &Chunk) -> Self {
        Frame {
            text: c.text.clone(),
            reasoning: c.reasoning.as_ref().map(|r| FrameReasoning {
                index: r.index,
                text: r.text.clone(),
                signature: r.signature.clone(),
                redacted: r.redacted.clone(),
            }),
            tool_calls: c
                .tool_calls
                .iter()
                .map(|d| FrameToolCall {
                    index: d.index,
                    id: d.id.clone(),
                    name: d.name.clone(),
                    arguments: d.arguments.clone(),
                    signature: d.signature.clone(),
                })
                .collect(),
            refusal: c.refusal.clone(),
            finish_reason: c.finish_reason.as_ref().map(|r| r.as_str().to_owned()),
            usage: c.usage,
            logprobs: c.logprobs.clone(),
        }
    }

    fn into_chunk(self) -> Chunk {
        let finish_reason = self.finish_reason.map(|r| match r.as_str() {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            "tool_calls" => FinishReason::ToolCalls,
            "refusal" => FinishReason::Refusal,
            _ => FinishReason::Other(r),
        });
        Chunk {
            text: self.text,
            reasoning: self.reasoning.map(|r| ReasoningDelta {
                index: r.index,
                text: r.text,
                signature: r.signature,
                redacted: r.redacted,
            }),
            tool_calls: self
                .tool_calls
                .into_iter()
                .map(|d| ToolCallDelta {
                    index: d.index,
                    id: d.id,
                    name: d.name,
                    arguments: d.arguments,
                    signature: d.signature,
                })
                .collect(),
            refusal: self.refusal,
            usage: self.usage,
            finish_reason,
            logprobs: self.logprobs,
        }
    }
}

/// One chunk in the demo wire format, as a complete SSE frame.
pub fn encode_chunk(c: &Chunk) -> String {
    sse::encode_event(None, None, &to_json(&Frame::of(c)))
}

pub(super) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    let mut c = Completion::default();
    c.push(&parse_json::<Frame>(KIND, body)?.into_chunk());
    Ok(c)
}

#[derive(Debug, Default)]
pub struct DemoStream {
    done: bool,
}

impl StreamMapper for DemoStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        let chunk = parse_json::<Frame>(KIND, ev.data.as_bytes())?.into_chunk();
        self.done |= chunk.finish_reason.is_some();
        Ok(if chunk.is_empty() {
            Vec::new()
        } else {
            vec![chunk]
        })
    }

    fn finish(&mut self) -> Result<(), UpstreamError> {
        if self.done {
            Ok(())
        } else {
            Err(ended_early(KIND))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::{
        stream_mapper, Effort, Message, Reasoning, ReasoningRequest, Tool, ToolCall, ToolResult,
    };
    use super::*;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: MODEL.into(),
            system: Some("Be nice.".into()),
            messages: vec![
                Message::user("first"),
                Message::assistant("ok"),
                Message::user(text),
            ],
            ..Default::default()
        }
    }

    fn weather_tool() -> Tool {
        Tool {
            name: "get_weather".into(),
            description: Some("Weather of a city".into()),
            parameters: json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "hourly": {"type": "boolean"},
                    "optional": {"type": "string"}
                },
                "required": ["city", "days", "unit", "hourly"]
            }),
            strict: None,
        }
    }

    fn time_tool() -> Tool {
        Tool {
            name: "get_time".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}),
            strict: Some(true),
        }
    }

    fn with_tools(tools: Vec<Tool>, tool_choice: Option<ToolChoice>) -> ChatRequest {
        ChatRequest {
            tools,
            tool_choice,
            ..req("Weather in Paris?")
        }
    }

    fn tool_result_turn(is_error: bool) -> Message {
        Message {
            role: Role::User,
            content: vec![Block::ToolResult(ToolResult {
                call_id: "call_demo_3".into(),
                name: Some("get_weather".into()),
                content: vec![Block::Text("sunny, 21C".into())],
                is_error,
            })],
        }
    }

    fn png() -> Media {
        Media::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        }
    }

    #[test]
    fn the_reply_echoes_the_last_user_message_verbatim_and_tokens_join_exactly() {
        let text = "<script>alert(1)</script> **bold**\n  `code`  ";
        let tokens = reply_tokens(&req(text));
        let reply: String = tokens.concat();
        assert!(
            reply.starts_with(&format!("You said: {text}\n\n")),
            "{reply}"
        );
        assert!(reply.ends_with(ABOUT));
        // Each token is a word followed by its whitespace.
        assert_eq!(
            tokens[..3],
            ["You ", "said: ", "<script>alert(1)</script> "]
        );
        assert!(
            (30..=60).contains(&reply_tokens(&req("hello")).len()),
            "{}",
            reply_tokens(&req("hello")).len()
        );
    }

    #[test]
    fn the_reply_is_deterministic_and_handles_no_user_message() {
        assert_eq!(reply_tokens(&req("x")), reply_tokens(&req("x")));
        let empty = ChatRequest::default();
        assert!(reply_tokens(&empty).concat().starts_with("Hello!"));
        assert_eq!(usage(&empty, &[]).prompt_tokens, 1);
    }

    #[test]
    fn usage_estimates_the_prompt_and_counts_the_tokens() {
        let r = req("hello");
        let tokens = reply_tokens(&r);
        // "Be nice." + "first" + "ok" + "hello" = 20 chars
        assert_eq!(usage(&r, &tokens), Usage::new(5, tokens.len() as u64));
        let c = completion(&r);
        assert_eq!(c.text(), tokens.concat());
        assert_eq!(c.usage, Usage::new(5, tokens.len() as u64));
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(c.logprobs, None);
    }

    #[test]
    fn max_tokens_cuts_the_reply_with_the_length_finish_reason() {
        let r = ChatRequest {
            max_tokens: Some(3),
            ..req("hello")
        };
        let c = completion(&r);
        assert_eq!(c.text(), "You said: hello\n\n");
        assert_eq!(c.usage.completion_tokens, 3);
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        let roomy = ChatRequest {
            max_tokens: Some(1000),
            ..req("hello")
        };
        assert_eq!(completion(&roomy).finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn given_tools_it_calls_the_first_with_arguments_from_its_schema() {
        let c = completion(&with_tools(vec![weather_tool(), time_tool()], None));
        assert_eq!(
            c.content,
            vec![Block::ToolCall(ToolCall {
                id: "call_demo_3".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"demo","days":1,"hourly":true,"unit":"celsius"}"#.into(),
                signature: None,
            })]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        // One completion token per streamed piece of the arguments.
        let pieces = completion(&with_tools(vec![weather_tool()], None))
            .tool_calls()
            .next()
            .unwrap()
            .arguments
            .chars()
            .count()
            .div_ceil(JSON_PIECE_CHARS);
        assert_eq!(c.usage.completion_tokens, pieces as u64);
        // The same with tool_choice auto or required.
        for choice in [ToolChoice::Auto, ToolChoice::Required] {
            let again = completion(&with_tools(vec![weather_tool()], Some(choice)));
            assert_eq!(again.content, c.content);
        }
    }

    #[test]
    fn a_forced_tool_is_the_one_called_and_tool_choice_none_answers_in_text() {
        let c = completion(&with_tools(
            vec![weather_tool(), time_tool()],
            Some(ToolChoice::Named("get_time".into())),
        ));
        let call = c.tool_calls().next().unwrap();
        assert_eq!(
            (call.name.as_str(), call.arguments.as_str()),
            ("get_time", r#"{"zone":"demo"}"#)
        );
        let c = completion(&with_tools(vec![weather_tool()], Some(ToolChoice::None)));
        assert_eq!(c.tool_calls().count(), 0);
        assert!(c.text().starts_with("You said: Weather in Paris?"));
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn a_tool_result_last_is_quoted_instead_of_calling_again() {
        let mut r = with_tools(vec![weather_tool()], Some(ToolChoice::Required));
        r.messages.push(Message {
            role: Role::Assistant,
            content: vec![Block::ToolCall(ToolCall {
                id: "call_demo_3".into(),
                name: "get_weather".into(),
                arguments: "{}".into(),
                signature: None,
            })],
        });
        r.messages.push(tool_result_turn(false));
        let c = completion(&r);
        assert_eq!(c.tool_calls().count(), 0);
        assert_eq!(c.text(), "Tool get_weather returned: sunny, 21C");
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));

        r.messages.pop();
        let mut failed = tool_result_turn(true);
        failed.content.push(Block::Text("Try again?".into()));
        r.messages.push(failed);
        assert_eq!(
            completion(&r).text(),
            "Tool get_weather failed: sunny, 21C\nYou said: Try again?"
        );
    }

    #[test]
    fn json_object_output_echoes_the_last_user_text_as_json() {
        let r = ChatRequest {
            response_format: Some(ResponseFormat::JsonObject),
            ..req("say \"hi\"\n")
        };
        let c = completion(&r);
        let value: Value = serde_json::from_str(&c.text()).unwrap();
        assert_eq!(value, json!({"echo": "say \"hi\"\n"}));
        // Streamed in pieces of eight characters.
        assert!(chunks(&r)
            .iter()
            .all(|ch| ch.text.chars().count() <= JSON_PIECE_CHARS));
    }

    #[test]
    fn json_schema_output_is_a_value_generated_from_the_schema() {
        let r = ChatRequest {
            response_format: Some(ResponseFormat::JsonSchema {
                name: "report".into(),
                description: None,
                schema: json!({
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "score": {"type": "number"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "author": {"$ref": "#/$defs/person"},
                        "kind": {"const": "weekly"},
                        "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
                        "status": {"type": ["null", "boolean"]}
                    },
                    "required": ["title", "score", "tags", "author", "kind", "note", "status"],
                    "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}}
                }),
                strict: Some(true),
            }),
            ..req("weekly report")
        };
        let value: Value = serde_json::from_str(&completion(&r).text()).unwrap();
        assert_eq!(
            value,
            json!({"title": "demo", "score": 1, "tags": [], "author": {"name": "demo"},
                   "kind": "weekly", "note": "demo", "status": true})
        );
    }

    #[test]
    fn schema_examples_survive_odd_and_cyclic_schemas() {
        assert_eq!(example(&json!({"enum": [3, 4]})), json!(3));
        assert_eq!(example(&json!({"type": "null"})), Value::Null);
        assert_eq!(example(&json!(true)), Value::Null);
        assert_eq!(
            example(&json!({"type": "OBJECT", "required": ["a"]})),
            json!({"a": null})
        );
        let cyclic = json!({"$ref": "#"});
        assert_eq!(example(&cyclic), Value::Null);
        let nested =
            json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
        assert!(example(&nested).is_object());
        // Parameters that are not an object schema still give object arguments.
        let r = with_tools(
            vec![Tool {
                name: "ping".into(),
                description: None,
                parameters: Value::Null,
                strict: None,
            }],
            None,
        );
        assert_eq!(completion(&r).tool_calls().next().unwrap().arguments, "{}");
    }

    #[test]
    fn reasoning_asked_for_comes_first_signed_and_counted() {
        let r = ChatRequest {
            reasoning: Some(ReasoningRequest {
                effort: Some(Effort::Low),
                ..Default::default()
            }),
            ..req("why is the sky blue")
        };
        let all = chunks(&r);
        assert!(all[0].reasoning.is_some() && all[0].text.is_empty());
        let c = completion(&r);
        let thinking = "Thinking about: why is the sky blue";
        assert_eq!(
            c.content[0],
            Block::Reasoning(Reasoning {
                text: thinking.into(),
                signature: Some(reasoning_signature(thinking)),
                redacted: None,
            })
        );
        assert!(matches!(&c.content[1], Block::Text(t) if t.starts_with("You said: why")));
        assert_eq!(reasoning_signature(thinking), reasoning_signature(thinking));
        assert_ne!(
            reasoning_signature(thinking),
            reasoning_signature("Thinking about: x")
        );
        // 7 words of reasoning, counted in the completion as well.
        let answer = reply_tokens(&r).len() as u64;
        assert_eq!(c.usage.reasoning_tokens, 7);
        assert_eq!(c.usage.completion_tokens, answer + 7);
        assert_eq!(
            completion(&req("why is the sky blue"))
                .usage
                .reasoning_tokens,
            0
        );
    }

    #[test]
    fn images_and_documents_of_the_last_turn_are_named() {
        let turn = |content| ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content,
            }],
            ..Default::default()
        };
        let c = completion(&turn(vec![
            Block::Text("What is this?".into()),
            Block::Image(png()),
        ]));
        assert!(
            c.text()
                .starts_with("You said: What is this?\n\nYou sent 1 image (image/png).\n\n"),
            "{}",
            c.text()
        );
        let c = completion(&turn(vec![
            Block::Image(png()),
            Block::Image(Media::Url("https://example.com/cat.jpg".into())),
            Block::Document {
                media: Media::Base64 {
                    media_type: "application/pdf".into(),
                    data: "JVBERi0=".into(),
                },
                name: Some("a.pdf".into()),
            },
        ]));
        assert!(
            c.text().starts_with(
                "You sent 2 images (image/png, https://example.com/cat.jpg) and 1 document (application/pdf).\n\n"
            ),
            "{}",
            c.text()
        );
    }

    #[test]
    fn logprobs_asked_for_score_each_text_token_deterministically() {
        let r = ChatRequest {
            logprobs: true,
            top_logprobs: Some(2),
            ..req("hello")
        };
        let all = chunks(&r);
        assert_eq!(
            all[0].logprobs,
            Some(json!({"content": [{
                "token": "You ", "logprob": -0.125, "bytes": [89, 111, 117, 32],
                "top_logprobs": [
                    {"token": "You ", "logprob": -0.125, "bytes": [89, 111, 117, 32]},
                    {"token": "alt1", "logprob": -1.125, "bytes": [97, 108, 116, 49]}
                ]
            }]}))
        );
        let c = completion(&r);
        let entries = c.logprobs.unwrap();
        assert_eq!(entries.len(), reply_tokens(&r).len());
        let scores: Vec<f64> = entries[..5]
            .iter()
            .map(|e| e["logprob"].as_f64().unwrap())
            .collect();
        assert_eq!(scores, [-0.125, -0.25, -0.375, -0.5, -0.125]);
        // No logprobs for tool calls.
        let call = ChatRequest {
            logprobs: true,
            ..with_tools(vec![weather_tool()], None)
        };
        assert_eq!(completion(&call).logprobs, None);
    }

    #[test]
    fn max_tokens_cuts_tool_call_arguments_too() {
        let r = ChatRequest {
            max_tokens: Some(2),
            ..with_tools(vec![weather_tool()], None)
        };
        let c = completion(&r);
        assert_eq!(
            c.tool_calls().next().unwrap().arguments,
            r#"{"city":"demo",""#
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(c.usage.completion_tokens, 2);
    }

    #[test]
    fn encoded_chunks_go_through_the_decoder_and_mapper_unchanged() {
        let rich = ChatRequest {
            reasoning: Some(ReasoningRequest::default()),
            logprobs: true,
            ..req("héllo 🙂")
        };
        let call = ChatRequest {
            reasoning: Some(ReasoningRequest::default()),
            ..with_tools(vec![weather_tool()], None)
        };
        for r in [req("héllo 🙂"), rich, call] {
            let expected = chunks(&r);
            let wire: String = expected.iter().map(encode_chunk).collect();
            let mut dec = sse::SseDecoder::new();
            let mut mapper = stream_mapper(KIND);
            let mut got = Vec::new();
            for ev in dec.feed(wire.as_bytes()).unwrap() {
                got.extend(mapper.on_event(&ev).unwrap());
            }
            assert!(mapper.finish().is_ok());
            assert_eq!(got, expected);
        }
        let c = parse_completion(br#"{"text":"hi","finish_reason":"stop","usage":{"prompt_tokens":1,"completion_tokens":1}}"#).unwrap();
        assert_eq!(c.text(), "hi");
        let c = parse_completion(br#"{"refusal":"no","finish_reason":"refusal"}"#).unwrap();
        assert_eq!(c.refusal(), Some("no"));
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
    }
}
