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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::super::{Message as Turn, Reasoning, Tool, ToolCall, ToolResult};
    use super::*;
    use serde_json::json;

    fn body(spec: &HttpRequestSpec) -> Value {
        serde_json::from_str(&spec.body).unwrap()
    }

    fn built(req: &ChatRequest) -> Value {
        body(&build_request("https://api.openai.com/v1", "k", req))
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
}
