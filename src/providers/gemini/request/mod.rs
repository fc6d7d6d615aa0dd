//! The `generateContent` body built from the neutral request (see the module docs for the
//! mapping and its decisions).

use super::{find_call_name, is_generated_id, parse_arguments};
use crate::providers::{
    json_headers, to_json, Block, ChatRequest, Effort, HttpRequestSpec, Media, Message,
    ReasoningRequest, ResponseFormat, Role, ToolChoice, ToolResult,
};
use serde::Serialize;
use serde_json::{json, Value};

/// Google's documented signature for a function call Gemini did not sign itself (history
/// from another model, or from a client that cannot keep signatures): it skips the check
/// Gemini 3 makes on the first `functionCall` of each step of the current turn.
pub(super) const UNSIGNED_CALL_SIGNATURE: &str = "skip_thought_signature_validator";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tools<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig<'a>>,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<Part<'a>>,
}

/// One part; exactly one of text, inlineData, fileData, functionCall, functionResponse is
/// set, with a thought flag and a signature where the model gave them.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Part<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    thought: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<InlineData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'a str>,
}

impl<'a> Part<'a> {
    fn text(text: &'a str) -> Self {
        Self {
            text: Some(text),
            ..Self::default()
        }
    }

    /// A signature whose part is not in the turn any more (or never had content).
    fn signature(signature: &'a str) -> Self {
        Self {
            text: Some(""),
            thought_signature: Some(signature),
            ..Self::default()
        }
    }

    fn media(media: &'a Media) -> Self {
        match media {
            Media::Base64 { media_type, data } => Self {
                inline_data: Some(InlineData {
                    mime_type: media_type,
                    data,
                }),
                ..Self::default()
            },
            // A Files API URI (see `takes_url`): Gemini knows the file's type.
            Media::Url(uri) => Self {
                file_data: Some(FileData { file_uri: uri }),
                ..Self::default()
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    file_uri: &'a str,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    name: &'a str,
    args: Value,
}

#[derive(Serialize)]
struct FunctionResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    name: &'a str,
    response: Value,
    /// Images and documents of the result (Gemini's multimodal function responses).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<FunctionResponsePart<'a>>,
}

/// `inlineData`; a URL only if one was left unfetched, for Gemini to refuse out loud.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionResponsePart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<InlineData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData<'a>>,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: [Part<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tools<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    /// Full JSON Schema (`parameters` takes only Google's OpenAPI subset).
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'a Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingConfig<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_function_names: Vec<&'a str>,
}

#[derive(Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    /// Full JSON Schema (`responseSchema` takes only Google's OpenAPI subset).
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

#[derive(PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    include_thoughts: bool,
}

pub(in crate::providers) fn build_request(
    base: &str,
    api_key: &str,
    req: &ChatRequest,
) -> HttpRequestSpec {
    let config = GenerationConfig {
        max_output_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: &req.stop,
        seed: req.seed,
        response_mime_type: match req.response_format {
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }) => {
                Some("application/json")
            }
            Some(ResponseFormat::Text) | None => None,
        },
        response_json_schema: match &req.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema),
            _ => None,
        },
        response_logprobs: req.logprobs.then_some(true),
        logprobs: req.top_logprobs.filter(|_| req.logprobs),
        thinking_config: req
            .reasoning
            .as_ref()
            .and_then(|r| thinking_config(&req.model, r)),
    };
    let body = Request {
        contents: contents(req),
        system_instruction: req.system.as_deref().filter(|s| !s.is_empty()).map(|text| {
            SystemInstruction {
                parts: [Part::text(text)],
            }
        }),
        tools: tools(req),
        tool_config: tool_config(req),
        generation_config: (config != GenerationConfig::default()).then_some(config),
    };
    let method = if req.stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    HttpRequestSpec {
        url: format!(
            "{base}/v1beta/models/{}:{method}",
            encode_segment(&req.model)
        ),
        headers: json_headers([("x-goog-api-key", api_key.to_owned())]),
        body: to_json(&body),
    }
}

/// The model sits in the URL path: anything but [A-Za-z0-9._-] is
/// percent-encoded, so a model name cannot add path segments or a query.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Each message's parts; neighbouring messages of one role become one content (Gemini
/// wants turns to alternate), and a message left with no part is dropped (Gemini refuses
/// empty contents and empty text parts).
fn contents(req: &ChatRequest) -> Vec<Content<'_>> {
    let mut contents: Vec<Content> = Vec::with_capacity(req.messages.len());
    for (i, message) in req.messages.iter().enumerate() {
        let parts = parts(req, i, message);
        if parts.is_empty() {
            continue;
        }
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(Content { role, parts }),
        }
    }
    sign_current_turn(&mut contents);
    contents
}

fn parts<'a>(req: &'a ChatRequest, i: usize, message: &'a Message) -> Vec<Part<'a>> {
    let mut parts = Vec::with_capacity(message.content.len());
    // A signature that came on a part of its own (a text part's, or one that ended a
    // stream) rides on the part that follows it, as it came.
    let mut pending: Option<&str> = None;
    for block in &message.content {
        let part = match block {
            Block::Text(text) | Block::Refusal(text) if text.is_empty() => continue,
            Block::Text(text) | Block::Refusal(text) => Part::text(text),
            Block::Image(media) | Block::Document { media, .. } => Part::media(media),
            Block::ToolCall(call) => Part {
                function_call: Some(FunctionCall {
                    id: Some(call.id.as_str()).filter(|id| !is_generated_id(id)),
                    name: &call.name,
                    args: parse_arguments(&call.arguments).unwrap_or_else(|| json!({})),
                }),
                thought_signature: call.signature.as_deref(),
                ..Part::default()
            },
            Block::ToolResult(result) => Part {
                function_response: Some(function_response(req, i, result)),
                ..Part::default()
            },
            Block::Reasoning(r) if r.text.is_empty() => {
                // Anthropic's redacted thinking means nothing to Gemini.
                if let Some(signature) = r.signature.as_deref() {
                    if let Some(earlier) = pending.replace(signature) {
                        parts.push(Part::signature(earlier));
                    }
                }
                continue;
            }
            Block::Reasoning(r) => Part {
                text: Some(&r.text),
                thought: true,
                thought_signature: r.signature.as_deref(),
                ..Part::default()
            },
        };
        let mut part = part;
        if let Some(signature) = pending.take() {
            if part.thought_signature.is_none() {
                part.thought_signature = Some(signature);
            } else {
                parts.push(Part::signature(signature));
            }
        }
        parts.push(part);
    }
    if let Some(signature) = pending {
        parts.push(Part::signature(signature));
    }
    parts
}

/// `response` is the result's JSON object when its text is one (Gemini reads the whole
/// object as the output), else `{"output": text}`; an error is `{"error": ...}` (the keys
/// Google documents for `FunctionResponse.response`).
fn function_response<'a>(
    req: &'a ChatRequest,
    i: usize,
    result: &'a ToolResult,
) -> FunctionResponse<'a> {
    let mut text = String::new();
    let mut parts = Vec::new();
    for block in &result.content {
        match block {
            Block::Text(t) => text.push_str(t),
            Block::Image(media) | Block::Document { media, .. } => {
                let Part {
                    inline_data,
                    file_data,
                    ..
                } = Part::media(media);
                parts.push(FunctionResponsePart {
                    inline_data,
                    file_data,
                });
            }
            // Not part of a tool's answer.
            _ => {}
        }
    }
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        _ => Value::String(text),
    };
    let response = match (result.is_error, value) {
        (false, object @ Value::Object(_)) => object,
        (false, text) => json!({ "output": text }),
        (true, error) => json!({ "error": error }),
    };
    FunctionResponse {
        id: Some(result.call_id.as_str()).filter(|id| !is_generated_id(id)),
        name: result
            .name
            .as_deref()
            .or_else(|| find_call_name(req, i, &result.call_id))
            .unwrap_or_default(),
        response,
        parts,
    }
}

/// Gemini 3 refuses a request whose current turn (the model steps since the last user
/// content that is not only function responses) has a step whose first function call
/// carries no signature. A client that could not keep the signature, or history from
/// another model, gets Google's documented placeholder there instead of a 400.
fn sign_current_turn(contents: &mut [Content]) {
    let start = contents
        .iter()
        .rposition(|c| c.role == "user" && c.parts.iter().any(|p| p.function_response.is_none()))
        .map_or(0, |i| i + 1);
    for content in contents[start..].iter_mut().filter(|c| c.role == "model") {
        if let Some(first) = content.parts.iter_mut().find(|p| p.function_call.is_some()) {
            first
                .thought_signature
                .get_or_insert(UNSIGNED_CALL_SIGNATURE);
        }
    }
}

fn tools(req: &ChatRequest) -> Vec<Tools<'_>> {
    if req.tools.is_empty() {
        return Vec::new();
    }
    let function_declarations = req
        .tools
        .iter()
        .map(|tool| FunctionDeclaration {
            name: &tool.name,
            description: tool.description.as_deref(),
            // "For a function with no parameters, this can be left unset."
            parameters_json_schema: Some(&tool.parameters).filter(|p| match p {
                Value::Null => false,
                Value::Object(o) => !o.is_empty(),
                _ => true,
            }),
        })
        .collect();
    vec![Tools {
        function_declarations,
    }]
}

/// AUTO / NONE / ANY, ANY with one allowed name for a named tool. A strict tool makes
/// AUTO into VALIDATED: Gemini then checks function calls against their schema with
/// constrained decoding, as ANY always does.
fn tool_config(req: &ChatRequest) -> Option<ToolConfig<'_>> {
    if req.tools.is_empty() {
        return None;
    }
    let strict = req.tools.iter().any(|t| t.strict == Some(true));
    let (mode, allowed_function_names) = match &req.tool_choice {
        Some(ToolChoice::None) => ("NONE", Vec::new()),
        Some(ToolChoice::Required) => ("ANY", Vec::new()),
        Some(ToolChoice::Named(name)) => ("ANY", vec![name.as_str()]),
        Some(ToolChoice::Auto) | None if strict => ("VALIDATED", Vec::new()),
        Some(ToolChoice::Auto) => ("AUTO", Vec::new()),
        None => return None,
    };
    Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    })
}

/// A token budget where one is given; for an effort alone, Gemini 3's `thinkingLevel`
/// on a model named `gemini-3…` or later (Gemini 2.5 refuses levels), else the effort's
/// budget (which Gemini 3 still accepts), so an alias like `gemini-flash-latest` works
/// whatever it points at.
fn thinking_config(model: &str, r: &ReasoningRequest) -> Option<ThinkingConfig> {
    let (thinking_budget, thinking_level) = match (r.budget_tokens, r.effort) {
        (Some(budget), _) => (Some(budget), None),
        (None, Some(effort)) if generation(model).is_some_and(|g| g >= 3) => {
            (None, Some(level(effort)))
        }
        (None, Some(effort)) => (Some(effort.budget_tokens()), None),
        (None, None) => (None, None),
    };
    let config = ThinkingConfig {
        thinking_budget,
        thinking_level,
        include_thoughts: r.include,
    };
    (config.thinking_budget.is_some() || config.thinking_level.is_some() || r.include)
        .then_some(config)
}

fn level(effort: Effort) -> &'static str {
    match effort {
        Effort::Minimal => "MINIMAL",
        Effort::Low => "LOW",
        Effort::Medium => "MEDIUM",
        Effort::High => "HIGH",
    }
}

/// The major version of a `gemini-<major>…` model name.
fn generation(model: &str) -> Option<u32> {
    let rest = model.strip_prefix("gemini-")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

#[cfg(test)]
mod tests;
