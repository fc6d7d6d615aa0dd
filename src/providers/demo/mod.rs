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
mod tests;
