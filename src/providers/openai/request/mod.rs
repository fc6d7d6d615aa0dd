//! The Chat Completions request, built from the neutral model.

use super::super::{
    json_headers, to_json, Block, ChatRequest, Effort, HttpRequestSpec, Media, ReasoningRequest,
    ResponseFormat, Role, ToolChoice, Unsupported,
};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

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

/// What OpenAI cannot carry of `req` (see `providers::validate`). `param` names the neutral
/// message and block: `messages[i]` is `req.messages[i]` (the system prompt is not
/// counted), `content[j]` its `j`th block.
pub(in crate::providers) fn validate(req: &ChatRequest) -> Result<(), Unsupported> {
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
pub(in crate::providers) fn takes_url(block: &Block) -> bool {
    !matches!(block, Block::Document { .. })
}

/// The effort level to send. A token budget alone (from a client that speaks Anthropic's or
/// Gemini's terms) becomes the level whose budget, in `Effort::budget_tokens`, is nearest,
/// so effort -> budget -> effort comes back unchanged: below 1536 minimal, below 3072 low,
/// below 6144 medium, else high. (A model without "minimal", such as o3, answers that with
/// a 400 naming `reasoning_effort`, relayed as it is.)
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

pub(in crate::providers) fn build_request(
    base: &str,
    api_key: &str,
    req: &ChatRequest,
) -> HttpRequestSpec {
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
            // Reasoning: see the comment of `providers::openai`. Images, documents, tool results: refused
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

#[cfg(test)]
mod tests;
