//! OpenAI Chat Completions (also any server that speaks it, via the base URL).
//!
//! The neutral model maps onto Chat Completions almost one to one. What does not:
//! - A user turn's `ToolResult` blocks become `tool` messages, sent before the rest of the
//!   turn (a `tool` message must follow the assistant's `tool_calls` directly).
//! - A tool result's `is_error` has no field in OpenAI's `tool` message; its text goes as
//!   it is (as the OpenAI Agents SDK and the Vercel AI SDK send errors to OpenAI).
//! - `Reasoning` blocks of assistant turns are not sent. Chat Completions has no field for
//!   them: OpenAI keeps its own reasoning server-side and never returns it here (encrypted
//!   reasoning items exist only in the Responses API), so an OpenAI conversation has none to
//!   lose; reasoning another provider wrote, signed for that provider, is of no use to
//!   OpenAI, which reads the answer and tool calls it led to.
//! - A reasoning token budget without an effort level goes as the nearest level (see
//!   `reasoning_effort`).

use super::{
    ended_early, json_headers, parse_json, sse::SseEvent, stream_error, to_json, Block,
    ChatRequest, Chunk, Completion, Effort, ErrorDetail, FinishReason, HttpRequestSpec, Media,
    ProviderKind, ReasoningRequest, ResponseFormat, Role, StreamMapper, ToolCall, ToolCallDelta,
    ToolChoice, Unsupported, UpstreamError, UpstreamErrorKind, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

pub const NAME: &str = "openai";

const KIND: ProviderKind = ProviderKind::OpenAi;

/// Fields this file always sets itself; a passthrough entry never overrides them.
/// (The fields the neutral model carries as options, `tools` to `top_logprobs`, are set
/// from it when it has them and only then shadow a passthrough entry.)
///
/// "messages" is the exception kept while the Chat Completions ingress still sends the
/// client's raw messages for OpenAI: they replace the built ones.
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
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
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    extra: BTreeMap<&'a str, &'a Value>,
}

impl Request<'_> {
    /// Whether the body already has `key` from the neutral model's options, which then
    /// win over a passthrough entry of the same name (JSON must not repeat a key).
    fn sets(&self, key: &str) -> bool {
        match key {
            "tools" => !self.tools.is_empty(),
            "tool_choice" => self.tool_choice.is_some(),
            "parallel_tool_calls" => self.parallel_tool_calls.is_some(),
            "response_format" => self.response_format.is_some(),
            "reasoning_effort" => self.reasoning_effort.is_some(),
            "seed" => self.seed.is_some(),
            "logprobs" => self.logprobs.is_some(),
            "top_logprobs" => self.top_logprobs.is_some(),
            _ => false,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Messages<'a> {
    Built(Vec<Message<'a>>),
    Raw(&'a Value),
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum Message<'a> {
    System {
        content: &'a str,
    },
    User {
        content: Content<'a>,
    },
    Assistant {
        /// Chat Completions needs `content` unless there are tool calls (or a refusal).
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<Content<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        refusal: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<OutgoingToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: Content<'a>,
    },
}

/// A lone text goes as a string, the form every server speaking Chat Completions takes.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<Part<'a>>),
}

impl<'a> Content<'a> {
    fn of(parts: Vec<Part<'a>>) -> Self {
        match parts.as_slice() {
            [] => Content::Text(""),
            [Part::Text { text }] => Content::Text(text),
            _ => Content::Parts(parts),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
    File { file: FilePart<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: MediaRef<'a>,
}

/// OpenAI refuses `file_data` without a `filename`.
#[derive(Serialize)]
struct FilePart<'a> {
    filename: Cow<'a, str>,
    file_data: MediaRef<'a>,
}

/// A URL as it is, or base64 bytes as a `data:` URL, written straight into the body
/// (no copy of the bytes on the way).
#[derive(Clone, Copy)]
struct MediaRef<'a>(&'a Media);

impl fmt::Display for MediaRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Media::Url(url) => f.write_str(url),
            Media::Base64 { media_type, data } => write!(f, "data:{media_type};base64,{data}"),
        }
    }
}

impl Serialize for MediaRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Serialize)]
struct OutgoingToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutgoingFunction<'a>,
}

#[derive(Serialize)]
struct OutgoingFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionDefinition<'a>,
}

#[derive(Serialize)]
struct FunctionDefinition<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: NamedFunction<'a>,
    },
}

#[derive(Serialize)]
struct NamedFunction<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchema<'a> },
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// What OpenAI cannot carry of `req` (see `super::validate`). `param` names the neutral
/// message and block: `messages[i]` is `req.messages[i]` (the system prompt is not
/// counted), `content[j]` its `j`th block.
pub(super) fn validate(req: &ChatRequest) -> Result<(), Unsupported> {
    for (i, message) in req.messages.iter().enumerate() {
        for (j, block) in message.content.iter().enumerate() {
            let param = || format!("messages[{i}].content[{j}]");
            match (message.role, block) {
                (Role::User, Block::ToolResult(result))
                    if result.content.iter().any(|b| !matches!(b, Block::Text(_))) =>
                {
                    return Err(Unsupported::new(
                        param(),
                        "OpenAI tool messages take text only: a tool result with an \
                         image or a document cannot be sent to an openai/* model",
                    ));
                }
                (Role::Assistant, Block::Image(_) | Block::Document { .. }) => {
                    return Err(Unsupported::new(
                        param(),
                        "OpenAI assistant messages take text, refusals and tool calls only, \
                         not images or documents",
                    ));
                }
                (Role::User, Block::ToolCall(_) | Block::Reasoning(_) | Block::Refusal(_))
                | (Role::Assistant, Block::ToolResult(_)) => {
                    return Err(Unsupported::new(
                        param(),
                        "this kind of content cannot be sent in this role's turn",
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Images go by URL; a document does not: Chat Completions' `file` part takes the bytes
/// (`file_data`) or an uploaded file's id, never a URL, so the Worker fetches it first.
pub(super) fn takes_url(block: &Block) -> bool {
    !matches!(block, Block::Document { .. })
}

/// The effort level to send. A token budget alone (from a client that speaks Anthropic's or
/// Gemini's terms) becomes the level whose budget, in `Effort::budget_tokens`, is nearest,
/// so effort -> budget -> effort comes back unchanged: below 1536 minimal, below 3072 low,
/// below 6144 medium, else high.
fn reasoning_effort(reasoning: &ReasoningRequest) -> Option<&'static str> {
    let effort = reasoning.effort.or_else(|| {
        reasoning.budget_tokens.map(|budget| match budget {
            0..1536 => Effort::Minimal,
            1536..3072 => Effort::Low,
            3072..6144 => Effort::Medium,
            _ => Effort::High,
        })
    })?;
    Some(effort.as_str())
}

pub(super) fn build_request(base: &str, api_key: &str, req: &ChatRequest) -> HttpRequestSpec {
    let messages = match req.passthrough.get("messages") {
        Some(raw) => Messages::Raw(raw),
        None => Messages::Built(messages(req)),
    };
    let mut body = Request {
        model: &req.model,
        messages,
        tools: req
            .tools
            .iter()
            .map(|t| WireTool {
                kind: "function",
                function: FunctionDefinition {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: &t.parameters,
                    strict: t.strict,
                },
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => WireToolChoice::Mode("auto"),
            ToolChoice::None => WireToolChoice::Mode("none"),
            ToolChoice::Required => WireToolChoice::Mode("required"),
            ToolChoice::Named(name) => WireToolChoice::Named {
                kind: "function",
                function: NamedFunction { name },
            },
        }),
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.response_format.as_ref().map(|f| match f {
            ResponseFormat::Text => WireResponseFormat::Text,
            ResponseFormat::JsonObject => WireResponseFormat::JsonObject,
            ResponseFormat::JsonSchema {
                name,
                description,
                schema,
                strict,
            } => WireResponseFormat::JsonSchema {
                json_schema: JsonSchema {
                    name,
                    description: description.as_deref(),
                    schema,
                    strict: *strict,
                },
            },
        }),
        reasoning_effort: req.reasoning.as_ref().and_then(reasoning_effort),
        max_completion_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        seed: req.seed,
        user: req.user.as_deref(),
        logprobs: req.logprobs.then_some(true),
        top_logprobs: req.top_logprobs,
        stream: req.stream,
        // Usage is needed for budgets, so it is always asked for.
        stream_options: req.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        extra: BTreeMap::new(),
    };
    let extra = req
        .passthrough
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()) && !body.sets(k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    body.extra = extra;
    HttpRequestSpec {
        url: format!("{base}/chat/completions"),
        headers: json_headers([("Authorization", format!("Bearer {api_key}"))]),
        body: to_json(&body),
    }
}

fn messages(req: &ChatRequest) -> Vec<Message<'_>> {
    let mut out = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        out.push(Message::System { content: system });
    }
    for m in &req.messages {
        match m.role {
            Role::User => push_user_turn(&mut out, &m.content),
            Role::Assistant => out.push(assistant_message(&m.content)),
        }
    }
    out
}

/// Tool results first, as `tool` messages, then the rest of the turn as one user message.
fn push_user_turn<'a>(out: &mut Vec<Message<'a>>, blocks: &'a [Block]) {
    let mut parts = Vec::new();
    let mut has_results = false;
    for block in blocks {
        match block {
            Block::ToolResult(result) => {
                has_results = true;
                out.push(Message::Tool {
                    tool_call_id: &result.call_id,
                    content: Content::of(result.content.iter().filter_map(text_part).collect()),
                });
            }
            other => parts.extend(user_part(other)),
        }
    }
    if !parts.is_empty() || !has_results {
        out.push(Message::User {
            content: Content::of(parts),
        });
    }
}

fn text_part(block: &Block) -> Option<Part<'_>> {
    match block {
        Block::Text(text) => Some(Part::Text { text }),
        _ => None,
    }
}

fn user_part(block: &Block) -> Option<Part<'_>> {
    match block {
        Block::Text(text) => Some(Part::Text { text }),
        Block::Image(media) => Some(Part::ImageUrl {
            image_url: ImageUrl {
                url: MediaRef(media),
            },
        }),
        // A document by URL does not get here: `takes_url` has the Worker fetch it first.
        // Were it to, OpenAI would refuse the URL as file data with a 400, naming it.
        Block::Document { media, name } => Some(Part::File {
            file: FilePart {
                filename: match name {
                    Some(name) => Cow::Borrowed(name.as_str()),
                    None => Cow::Owned(default_filename(media.media_type())),
                },
                file_data: MediaRef(media),
            },
        }),
        // Refused by `validate` in a user turn.
        Block::ToolCall(_) | Block::ToolResult(_) | Block::Reasoning(_) | Block::Refusal(_) => None,
    }
}

/// "document.pdf" for a PDF: a name OpenAI needs and the client did not give.
fn default_filename(media_type: Option<&str>) -> String {
    let extension = match media_type {
        Some("application/pdf") | None => "pdf",
        Some("text/plain") => "txt",
        Some(other) => other.rsplit('/').next().unwrap_or("bin"),
    };
    format!("document.{extension}")
}

fn assistant_message(blocks: &[Block]) -> Message<'_> {
    let mut parts = Vec::new();
    let mut refusals: Vec<&str> = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text(text) => parts.push(Part::Text { text }),
            Block::Refusal(refusal) => refusals.push(refusal),
            Block::ToolCall(call) => tool_calls.push(OutgoingToolCall {
                id: &call.id,
                kind: "function",
                function: OutgoingFunction {
                    name: &call.name,
                    arguments: &call.arguments,
                },
            }),
            // Reasoning: see the module comment. Images, documents, tool results: refused
            // by `validate` in an assistant turn.
            Block::Reasoning(_)
            | Block::Image(_)
            | Block::Document { .. }
            | Block::ToolResult(_) => {}
        }
    }
    let refusal = match refusals.as_slice() {
        [] => None,
        [one] => Some(Cow::Borrowed(*one)),
        many => Some(Cow::Owned(many.concat())),
    };
    let content = if parts.is_empty() && (refusal.is_some() || !tool_calls.is_empty()) {
        None
    } else {
        Some(Content::of(parts))
    };
    Message::Assistant {
        content,
        refusal,
        tool_calls,
    }
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
    logprobs: Option<ChoiceLogprobs>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    refusal: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCall>,
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

/// `content` holds the answer's token entries; `refusal` (a refusal's) has no neutral field.
#[derive(Deserialize)]
struct ChoiceLogprobs {
    #[serde(default, deserialize_with = "null_as_empty")]
    content: Vec<Value>,
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
    /// Relayed verbatim: `{"content": [...], "refusal": [...]}`, either possibly null.
    #[serde(default)]
    logprobs: Value,
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

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Every count may be absent or null (other servers speaking Chat Completions omit the
/// details; OpenAI sends them with zeros).
#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptTokensDetails>,
    completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionTokensDetails {
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    /// OpenAI's counts are the neutral model's: `prompt_tokens` includes the cached (and
    /// cache-written) ones, `completion_tokens` the reasoning ones.
    fn from(u: WireUsage) -> Self {
        let prompt = u.prompt_tokens_details;
        let completion = u.completion_tokens_details;
        Usage {
            prompt_tokens: u.prompt_tokens.unwrap_or_default(),
            completion_tokens: u.completion_tokens.unwrap_or_default(),
            cached_prompt_tokens: prompt
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or_default(),
            cache_write_tokens: prompt
                .and_then(|d| d.cache_write_tokens)
                .unwrap_or_default(),
            reasoning_tokens: completion
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or_default(),
        }
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

/// OpenAI ends a refusal with "stop", its text in `refusal`; the neutral model calls that
/// a refusal (what Anthropic's `stop_reason` says), and `FinishReason::as_openai` turns it
/// back into "stop" for Chat Completions clients.
fn finish_reason(s: &str, refused: bool) -> FinishReason {
    match s {
        "stop" if refused => FinishReason::Refusal,
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
    let refusal = refusal.filter(|r| !r.is_empty());
    let finish_reason = choice
        .finish_reason
        .as_deref()
        .map(|r| finish_reason(r, refusal.is_some()));
    let mut blocks = Vec::new();
    if let Some(text) = content.filter(|t| !t.is_empty()) {
        blocks.push(Block::Text(text));
    }
    if let Some(refusal) = refusal {
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
        finish_reason,
        logprobs: choice.logprobs.map(|l| l.content),
    })
}

/// `[DONE]` ends the stream; a finish_reason already means the reply is
/// whole (only the usage chunk can still be missing), so it counts too.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    terminal: bool,
    /// A refusal delta was seen: the "stop" that follows ends a refusal.
    refused: bool,
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
            self.refused |= !chunk.refusal.is_empty();
            chunk.finish_reason = choice
                .finish_reason
                .as_deref()
                .map(|r| finish_reason(r, self.refused));
            chunk.logprobs = Some(choice.logprobs).filter(|l| !l.is_null());
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
    use super::super::{tests::replay_whole, Message as Turn, Reasoning, Tool, ToolResult};
    use super::*;
    use serde_json::json;

    fn body(spec: &HttpRequestSpec) -> Value {
        serde_json::from_str(&spec.body).unwrap()
    }

    fn built(req: &ChatRequest) -> Value {
        body(&build_request("https://api.openai.com/v1", "k", req))
    }

    fn fold(fixture: &str) -> (Vec<Chunk>, Completion) {
        let chunks = replay_whole(KIND, fixture).unwrap();
        let mut c = Completion::default();
        chunks.iter().for_each(|ch| c.push(ch));
        (chunks, c)
    }

    fn png() -> Media {
        Media::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        }
    }

    fn pdf() -> Media {
        Media::Base64 {
            media_type: "application/pdf".into(),
            data: "JVBERi0xLjQ=".into(),
        }
    }

    fn call(id: &str, name: &str, arguments: &str) -> Block {
        Block::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        })
    }

    fn result(call_id: &str, content: Vec<Block>) -> Block {
        Block::ToolResult(ToolResult {
            call_id: call_id.into(),
            name: Some("get_weather".into()),
            content,
            is_error: false,
        })
    }

    fn user(content: Vec<Block>) -> Turn {
        Turn {
            role: Role::User,
            content,
        }
    }

    fn assistant(content: Vec<Block>) -> Turn {
        Turn {
            role: Role::Assistant,
            content,
        }
    }

    #[test]
    fn build_request_sends_bearer_auth_system_first_and_asks_for_usage() {
        let req = ChatRequest {
            model: "gpt-4o-mini".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Turn::user("Hi"),
                Turn::assistant("Hello"),
                Turn::user("Again"),
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
            json!({
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
    fn every_kind_of_block_becomes_its_chat_completions_message_or_part() {
        let req = ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![
                user(vec![
                    Block::Text("Compare these.".into()),
                    Block::Image(Media::Url("https://example.com/cat.jpg".into())),
                    Block::Image(png()),
                    Block::Document {
                        media: pdf(),
                        name: Some("report.pdf".into()),
                    },
                    Block::Document {
                        media: pdf(),
                        name: None,
                    },
                ]),
                assistant(vec![
                    Block::Reasoning(Reasoning {
                        text: "They differ.".into(),
                        signature: Some("sig".into()),
                        redacted: None,
                    }),
                    Block::Text("Let me check the weather.".into()),
                    call("call_1", "get_weather", r#"{"city":"Paris"}"#),
                    call("call_2", "get_weather", r#"{"city":"Rome"}"#),
                ]),
                user(vec![
                    result("call_1", vec![Block::Text("sunny".into())]),
                    result(
                        "call_2",
                        vec![Block::Text("rain".into()), Block::Text(", 12C".into())],
                    ),
                    Block::Text("And tomorrow?".into()),
                ]),
                assistant(vec![Block::Refusal("I can't forecast that far.".into())]),
                user(vec![result("call_3", vec![])]),
            ],
            ..Default::default()
        };
        assert_eq!(
            built(&req)["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "Compare these."},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
                    {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}}
                ]},
                {"role": "assistant", "content": "Let me check the weather.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": [
                    {"type": "text", "text": "rain"}, {"type": "text", "text": ", 12C"}
                ]},
                {"role": "user", "content": "And tomorrow?"},
                {"role": "assistant", "refusal": "I can't forecast that far."},
                {"role": "tool", "tool_call_id": "call_3", "content": ""}
            ])
        );
    }

    #[test]
    fn tool_results_go_before_the_text_of_their_turn_and_a_bare_call_has_no_content() {
        let req = ChatRequest {
            messages: vec![
                assistant(vec![call("c", "f", "{}")]),
                user(vec![
                    Block::Text("Here:".into()),
                    result("c", vec![Block::Text("42".into())]),
                ]),
                // Reasoning alone (another provider's) leaves an empty assistant turn.
                assistant(vec![Block::Reasoning(Reasoning::default())]),
            ],
            ..Default::default()
        };
        assert_eq!(
            built(&req)["messages"],
            json!([
                {"role": "assistant", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "c", "content": "42"},
                {"role": "user", "content": "Here:"},
                {"role": "assistant", "content": ""}
            ])
        );
    }

    #[test]
    fn every_option_maps_to_its_chat_completions_field() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false});
        let req = ChatRequest {
            model: "o4-mini".into(),
            messages: vec![Turn::user("Weather?")],
            tools: vec![
                Tool {
                    name: "get_weather".into(),
                    description: Some("Current weather".into()),
                    parameters: schema.clone(),
                    strict: Some(true),
                },
                Tool {
                    name: "now".into(),
                    description: None,
                    parameters: Value::Null,
                    strict: None,
                },
            ],
            tool_choice: Some(ToolChoice::Named("get_weather".into())),
            parallel_tool_calls: Some(false),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "weather".into(),
                description: Some("A report".into()),
                schema: schema.clone(),
                strict: Some(true),
            }),
            reasoning: Some(ReasoningRequest {
                effort: Some(Effort::High),
                budget_tokens: Some(1024),
                include: true,
            }),
            max_tokens: Some(500),
            top_p: Some(0.9),
            seed: Some(-7),
            logprobs: true,
            top_logprobs: Some(3),
            stream: true,
            ..Default::default()
        };
        assert_eq!(
            built(&req),
            json!({
                "model": "o4-mini",
                "messages": [{"role": "user", "content": "Weather?"}],
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": schema, "strict": true}},
                    {"type": "function", "function": {"name": "now"}}
                ],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "parallel_tool_calls": false,
                "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "description": "A report", "schema": schema, "strict": true}},
                "reasoning_effort": "high",
                "max_completion_tokens": 500,
                "top_p": 0.9,
                "seed": -7,
                "logprobs": true,
                "top_logprobs": 3,
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn tool_choices_and_response_formats_map_to_their_openai_values() {
        let cases = [
            (Some(ToolChoice::Auto), None, json!("auto"), Value::Null),
            (Some(ToolChoice::None), None, json!("none"), Value::Null),
            (
                Some(ToolChoice::Required),
                Some(ResponseFormat::Text),
                json!("required"),
                json!({"type": "text"}),
            ),
            (
                None,
                Some(ResponseFormat::JsonObject),
                Value::Null,
                json!({"type": "json_object"}),
            ),
        ];
        for (choice, format, want_choice, want_format) in cases {
            let req = ChatRequest {
                tool_choice: choice,
                response_format: format,
                ..Default::default()
            };
            let b = built(&req);
            assert_eq!(b.get("tool_choice").unwrap_or(&Value::Null), &want_choice);
            assert_eq!(
                b.get("response_format").unwrap_or(&Value::Null),
                &want_format
            );
        }
    }

    #[test]
    fn a_reasoning_budget_alone_becomes_the_nearest_effort_level() {
        let effort = |effort: Option<Effort>, budget: Option<u32>| {
            let req = ChatRequest {
                reasoning: Some(ReasoningRequest {
                    effort,
                    budget_tokens: budget,
                    include: false,
                }),
                ..Default::default()
            };
            built(&req).get("reasoning_effort").cloned()
        };
        for (budget, want) in [
            (0, "minimal"),
            (1024, "minimal"),
            (1535, "minimal"),
            (1536, "low"),
            (2048, "low"),
            (3072, "medium"),
            (4096, "medium"),
            (6144, "high"),
            (8192, "high"),
            (32_000, "high"),
        ] {
            assert_eq!(effort(None, Some(budget)), Some(json!(want)), "{budget}");
        }
        // Every level's own budget comes back as that level.
        for level in [Effort::Minimal, Effort::Low, Effort::Medium, Effort::High] {
            assert_eq!(
                effort(None, Some(level.budget_tokens())),
                Some(json!(level.as_str()))
            );
            assert_eq!(
                effort(Some(level), Some(99_999)),
                Some(json!(level.as_str()))
            );
        }
        // Reasoning asked for with neither: OpenAI's own default applies.
        assert_eq!(effort(None, None), None);
    }

    #[test]
    fn passthrough_fields_are_copied_and_raw_messages_replace_the_built_ones() {
        let raw = json!([{"role": "tool", "tool_call_id": "c1", "content": "42"}]);
        let mut passthrough = serde_json::Map::new();
        passthrough.insert("messages".into(), raw.clone());
        passthrough.insert("tools".into(), json!([{"type": "function"}]));
        passthrough.insert("seed".into(), json!(7));
        passthrough.insert("model".into(), json!("evil"));
        let req = ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![Turn::user("x")],
            passthrough,
            ..Default::default()
        };
        let b = built(&req);
        assert_eq!(b["messages"], raw);
        assert_eq!(b["seed"], 7);
        assert_eq!(b["tools"][0]["type"], "function");
        assert_eq!(b["model"], "gpt-4o");
        assert_eq!(b["stream"], false);
        assert!(b.get("stream_options").is_none());
    }

    #[test]
    fn options_from_the_neutral_model_win_over_passthrough_entries_of_the_same_name() {
        let mut passthrough = serde_json::Map::new();
        for (key, value) in [
            (
                "tools",
                json!([{"type": "function", "function": {"name": "old"}}]),
            ),
            ("tool_choice", json!("none")),
            ("parallel_tool_calls", json!(true)),
            ("response_format", json!({"type": "text"})),
            ("reasoning_effort", json!("low")),
            ("seed", json!(1)),
            ("logprobs", json!(false)),
            ("top_logprobs", json!(1)),
            ("frequency_penalty", json!(0.5)),
        ] {
            passthrough.insert(key.into(), value);
        }
        let req = ChatRequest {
            tools: vec![Tool {
                name: "new".into(),
                description: None,
                parameters: json!({"type": "object"}),
                strict: None,
            }],
            tool_choice: Some(ToolChoice::Required),
            parallel_tool_calls: Some(false),
            response_format: Some(ResponseFormat::JsonObject),
            reasoning: Some(ReasoningRequest {
                effort: Some(Effort::Medium),
                ..Default::default()
            }),
            seed: Some(2),
            logprobs: true,
            top_logprobs: Some(2),
            passthrough,
            ..Default::default()
        };
        let spec = build_request("https://api.openai.com/v1", "k", &req);
        // No key twice in the body.
        for key in ["tools", "tool_choice", "seed", "logprobs", "top_logprobs"] {
            assert_eq!(
                spec.body.matches(&format!("\"{key}\":")).count(),
                1,
                "{key}"
            );
        }
        let b = body(&spec);
        assert_eq!(b["tools"][0]["function"]["name"], "new");
        assert_eq!(b["tool_choice"], "required");
        assert_eq!(b["parallel_tool_calls"], false);
        assert_eq!(b["response_format"], json!({"type": "json_object"}));
        assert_eq!(b["reasoning_effort"], "medium");
        assert_eq!(b["seed"], 2);
        assert_eq!(b["logprobs"], true);
        assert_eq!(b["top_logprobs"], 2);
        // What the model does not carry still passes through.
        assert_eq!(b["frequency_penalty"], 0.5);
    }

    #[test]
    fn validate_refuses_what_openai_messages_cannot_carry_by_parameter() {
        let refused = |messages: Vec<Turn>| {
            validate(&ChatRequest {
                messages,
                ..Default::default()
            })
            .unwrap_err()
        };
        let err = refused(vec![
            Turn::user("hi"),
            assistant(vec![call("c", "screenshot", "{}")]),
            user(vec![result(
                "c",
                vec![Block::Text("here".into()), Block::Image(png())],
            )]),
        ]);
        assert_eq!(err.param, "messages[2].content[0]");
        assert!(err.message.contains("text only"), "{}", err.message);

        let err = refused(vec![assistant(vec![
            Block::Text("a chart:".into()),
            Block::Image(png()),
        ])]);
        assert_eq!(err.param, "messages[0].content[1]");

        assert_eq!(
            refused(vec![user(vec![call("c", "f", "{}")])]).param,
            "messages[0].content[0]"
        );
        assert_eq!(
            refused(vec![assistant(vec![result("c", vec![])])]).param,
            "messages[0].content[0]"
        );
    }

    #[test]
    fn validate_accepts_reasoning_history_documents_by_url_budgets_and_every_option() {
        let req = ChatRequest {
            messages: vec![
                user(vec![
                    Block::Document {
                        media: Media::Url("https://example.com/a.pdf".into()),
                        name: None,
                    },
                    Block::Image(Media::Url("https://example.com/a.png".into())),
                ]),
                assistant(vec![
                    Block::Reasoning(Reasoning {
                        text: "hmm".into(),
                        signature: Some("s".into()),
                        redacted: None,
                    }),
                    Block::Refusal("no".into()),
                ]),
            ],
            tools: vec![Tool {
                name: "f".into(),
                description: None,
                parameters: json!({}),
                strict: Some(true),
            }],
            reasoning: Some(ReasoningRequest {
                budget_tokens: Some(2000),
                ..Default::default()
            }),
            logprobs: true,
            top_logprobs: Some(5),
            ..Default::default()
        };
        assert_eq!(validate(&req), Ok(()));
    }

    #[test]
    fn images_go_by_url_and_documents_are_fetched_first() {
        let url = || Media::Url("https://example.com/x".into());
        assert!(takes_url(&Block::Image(url())));
        assert!(!takes_url(&Block::Document {
            media: url(),
            name: None
        }));
    }

    #[test]
    fn the_recorded_stream_maps_to_text_finish_and_usage() {
        let (chunks, c) = fold(include_str!("../../tests/fixtures/sse/openai_stream.sse"));
        assert_eq!(c.text(), "Hello! Ça va? 🙂 How can I help you today?");
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(c.usage, Usage::new(19, 13));
        // Usage arrives once, in its own chunk after the finish reason.
        assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1);
        assert!(chunks.last().unwrap().usage.is_some());
    }

    #[test]
    fn the_recorded_tool_call_stream_keeps_the_deltas_verbatim() {
        let (_, c) = fold(include_str!(
            "../../tests/fixtures/sse/openai_tool_calls.sse"
        ));
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        let calls: Vec<_> = c.tool_calls().collect();
        assert_eq!(calls[0].id, "call_Fz0ccR5bGcRUqJ9vBhXlHzEe");
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, r#"{"location":"Paris, France"}"#);
        assert_eq!(c.usage.completion_tokens, 17);
    }

    // Fixtures recorded from the API by openai-python's tests (v. 2026-08, files under
    // .inline-snapshot/external/, Apache-2.0), kept byte for byte:
    // - openai_parallel_tool_calls.sse: f82268f2fefd…, test_parse_multiple_pydantic_tools
    // - openai_refusal.sse: 173417d55340…, test_parse_pydantic_model_refusal
    // - openai_logprobs.sse: 83b060bae42e…, test_content_logprobs_events
    // - openai_refusal_logprobs.sse: 569c877e6942…, test_refusal_logprobs_events
    // openai_usage_details.sse is written in their format (no recording has non-zero
    // details): the usage of OpenAI's prompt caching guide (2006 prompt tokens, 1920 of them
    // cached, 300 completion tokens) with 256 of the completion tokens reasoning, in the
    // API reference's `usage` shape.

    #[test]
    fn a_recorded_stream_of_parallel_tool_calls_gives_both_calls_in_order() {
        let (_, c) = fold(include_str!(
            "../../tests/fixtures/sse/openai_parallel_tool_calls.sse"
        ));
        assert_eq!(
            c.content,
            vec![
                call(
                    "call_JMW1whyEaYG438VE1OIflxA2",
                    "GetWeatherArgs",
                    r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#
                ),
                call(
                    "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                    "get_stock_price",
                    r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#
                ),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.usage, Usage::new(149, 60));
    }

    #[test]
    fn a_recorded_refusal_stream_is_a_refusal_block_ending_in_a_refusal() {
        let (chunks, c) = fold(include_str!("../../tests/fixtures/sse/openai_refusal.sse"));
        assert_eq!(
            c.content,
            vec![Block::Refusal(
                "I'm sorry, I can't assist with that request.".into()
            )]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
        assert_eq!(c.finish_reason.as_ref().unwrap().as_openai(), "stop");
        assert!(chunks.iter().all(|ch| ch.text.is_empty()));
        assert_eq!(c.logprobs, None);
    }

    #[test]
    fn a_recorded_logprobs_stream_relays_each_chunks_logprobs_verbatim() {
        let (chunks, c) = fold(include_str!("../../tests/fixtures/sse/openai_logprobs.sse"));
        assert_eq!(c.text(), "Foo!");
        let with_text: Vec<_> = chunks.iter().filter(|ch| !ch.text.is_empty()).collect();
        assert_eq!(
            with_text[0].logprobs,
            Some(
                json!({"content": [{"token": "Foo", "logprob": -0.0025094282, "bytes": [70, 111, 111], "top_logprobs": []}], "refusal": null})
            )
        );
        assert_eq!(
            c.logprobs,
            Some(vec![
                json!({"token": "Foo", "logprob": -0.0025094282, "bytes": [70, 111, 111], "top_logprobs": []}),
                json!({"token": "!", "logprob": -0.26638845, "bytes": [33], "top_logprobs": []}),
            ])
        );
    }

    #[test]
    fn a_recorded_refusal_with_logprobs_keeps_them_under_refusal() {
        let (chunks, c) = fold(include_str!(
            "../../tests/fixtures/sse/openai_refusal_logprobs.sse"
        ));
        assert_eq!(
            c.refusal(),
            Some("I'm very sorry, but I can't assist with that.")
        );
        let refusal_logprobs: usize = chunks
            .iter()
            .filter_map(|ch| ch.logprobs.as_ref()?["refusal"].as_array().map(Vec::len))
            .sum();
        assert_eq!(refusal_logprobs, 11);
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
    }

    #[test]
    fn a_stream_with_usage_details_reports_cached_and_reasoning_tokens() {
        let (_, c) = fold(include_str!(
            "../../tests/fixtures/sse/openai_usage_details.sse"
        ));
        assert_eq!(c.text(), "The answer is 42.");
        assert_eq!(
            c.usage,
            Usage {
                prompt_tokens: 2006,
                completion_tokens: 300,
                cached_prompt_tokens: 1920,
                cache_write_tokens: 0,
                reasoning_tokens: 256,
            }
        );
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
        assert_eq!(c.logprobs, None);
        assert_eq!(
            parse_completion(b"[]").unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }

    #[test]
    fn a_recorded_reply_with_parallel_tool_calls_parses_to_both_calls() {
        // openai-python tests/lib/chat/test_completions.py, test_parse_multiple_pydantic_tools.
        let body = br#"{"id": "chatcmpl-ABfvyvfNWKcl7Ohqos4UFrmMs1v4C", "object": "chat.completion", "created": 1727346166, "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_fdNz3vOBKYgOIpMdWotB9MjY", "type": "function", "function": {"name": "GetWeatherArgs", "arguments": "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}"}}, {"id": "call_h1DWI1POMJLb0KwIyQHWXD4p", "type": "function", "function": {"name": "get_stock_price", "arguments": "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}"}}], "refusal": null}, "logprobs": null, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 149, "completion_tokens": 60, "total_tokens": 209, "completion_tokens_details": {"reasoning_tokens": 0}}, "system_fingerprint": "fp_b40fb1c6fb"}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![
                call(
                    "call_fdNz3vOBKYgOIpMdWotB9MjY",
                    "GetWeatherArgs",
                    r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#
                ),
                call(
                    "call_h1DWI1POMJLb0KwIyQHWXD4p",
                    "get_stock_price",
                    r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#
                ),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.usage, Usage::new(149, 60));
    }

    #[test]
    fn a_recorded_refusal_reply_parses_to_a_refusal() {
        // openai-python tests/lib/chat/test_completions.py, test_parse_pydantic_model_refusal.
        let body = br#"{"id": "chatcmpl-ABfvwoKVWPQj2UPlAcAKM7s40GsRx", "object": "chat.completion", "created": 1727346164, "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "I'm very sorry, but I can't assist with that."}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 79, "completion_tokens": 12, "total_tokens": 91, "completion_tokens_details": {"reasoning_tokens": 0}}, "system_fingerprint": "fp_5050236cbd"}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![Block::Refusal(
                "I'm very sorry, but I can't assist with that.".into()
            )]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
    }

    #[test]
    fn a_reply_with_logprobs_and_usage_details_keeps_both() {
        // The API reference's logprobs example, with the prompt caching guide's usage.
        let body = br#"{"id": "chatcmpl-123", "object": "chat.completion", "created": 1702685778, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I assist you today?"},
                "logprobs": {"content": [
                    {"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111], "top_logprobs": [
                        {"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111]},
                        {"token": "Hi", "logprob": -1.3190403, "bytes": [72, 105]}]},
                    {"token": "!", "logprob": -0.02380986, "bytes": [33], "top_logprobs": []}]},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 64, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": null}}}"#;
        let c = parse_completion(body).unwrap();
        let logprobs = c.logprobs.unwrap();
        assert_eq!(logprobs.len(), 2);
        assert_eq!(logprobs[0]["top_logprobs"][1]["token"], "Hi");
        assert_eq!(
            c.usage,
            Usage {
                prompt_tokens: 2006,
                completion_tokens: 300,
                cached_prompt_tokens: 1920,
                cache_write_tokens: 64,
                reasoning_tokens: 128,
            }
        );
        // Null counts are zero, not an error (other servers speaking Chat Completions).
        let sparse = br#"{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":null,"prompt_tokens_details":null}}"#;
        assert_eq!(parse_completion(sparse).unwrap().usage, Usage::new(1, 0));
    }
}
