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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{Reasoning, Tool, ToolCall};

    fn body(req: &ChatRequest) -> Value {
        serde_json::from_str(&build_request("https://g", "k", req).body).unwrap()
    }

    fn user(content: Vec<Block>) -> Message {
        Message {
            role: Role::User,
            content,
        }
    }

    fn assistant(content: Vec<Block>) -> Message {
        Message {
            role: Role::Assistant,
            content,
        }
    }

    fn call(id: &str, name: &str, arguments: &str, signature: Option<&str>) -> Block {
        Block::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: signature.map(Into::into),
        })
    }

    fn result(call_id: &str, name: Option<&str>, text: &str, is_error: bool) -> Block {
        Block::ToolResult(ToolResult {
            call_id: call_id.into(),
            name: name.map(Into::into),
            content: vec![Block::Text(text.into())],
            is_error,
        })
    }

    fn reasoning(text: &str, signature: Option<&str>) -> Block {
        Block::Reasoning(Reasoning {
            text: text.into(),
            signature: signature.map(Into::into),
            redacted: None,
        })
    }

    fn weather_tool() -> Tool {
        Tool {
            name: "get_current_temperature".into(),
            description: Some("Gets the current temperature for a given location.".into()),
            parameters: json!({
                "type": "object",
                "properties": {"location": {"type": "string", "description": "The city name, e.g. San Francisco"}},
                "required": ["location"]
            }),
            strict: None,
        }
    }

    #[test]
    fn build_request_uses_header_auth_model_roles_and_generation_config() {
        let req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("Hi"),
                Message::user("there"),
                Message::assistant("Hello"),
            ],
            max_tokens: Some(100),
            temperature: Some(0.7),
            top_p: Some(0.9),
            stop: vec!["END".into()],
            seed: Some(42),
            user: Some("ignored".into()),
            stream: true,
            ..Default::default()
        };
        let spec = build_request(
            "https://generativelanguage.googleapis.com",
            "AIza-test",
            &req,
        );
        assert_eq!(
            spec.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(spec
            .headers
            .contains(&("x-goog-api-key".into(), "AIza-test".into())));
        assert_eq!(
            body(&req),
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                    {"role": "model", "parts": [{"text": "Hello"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "generationConfig": {"maxOutputTokens": 100, "temperature": 0.7, "topP": 0.9, "stopSequences": ["END"], "seed": 42}
            })
        );
        let plain = ChatRequest {
            model: "a/../b?x".into(),
            messages: vec![Message::user("Hi")],
            ..Default::default()
        };
        let spec = build_request("https://g", "k", &plain);
        assert_eq!(
            spec.url,
            "https://g/v1beta/models/a%2F..%2Fb%3Fx:generateContent"
        );
        assert_eq!(
            body(&plain),
            json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
        );
    }

    /// The parallel-call example of Google's thought-signatures guide, sent back: the
    /// signature stays on the first call, results go in one user turn with their names.
    #[test]
    fn a_tool_call_round_trip_keeps_signatures_ids_and_names() {
        let req = ChatRequest {
            model: "gemini-3-pro-preview".into(),
            messages: vec![
                Message::user("Check the weather in Paris and London."),
                assistant(vec![
                    call(
                        "call_0",
                        "get_current_temperature",
                        r#"{"location": "Paris"}"#,
                        Some("<Signature_A>"),
                    ),
                    call(
                        "fc_7",
                        "get_current_temperature",
                        r#"{"location":"London"}"#,
                        None,
                    ),
                ]),
                user(vec![
                    result("call_0", None, r#"{"temperature": "15C"}"#, false),
                    result("fc_7", Some("get_current_temperature"), "12C", false),
                    result("fc_7", None, "timeout", true),
                ]),
            ],
            tools: vec![weather_tool()],
            ..Default::default()
        };
        assert_eq!(
            body(&req),
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Check the weather in Paris and London."}]},
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "get_current_temperature", "args": {"location": "Paris"}}, "thoughtSignature": "<Signature_A>"},
                        {"functionCall": {"id": "fc_7", "name": "get_current_temperature", "args": {"location": "London"}}}
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "get_current_temperature", "response": {"temperature": "15C"}}},
                        {"functionResponse": {"id": "fc_7", "name": "get_current_temperature", "response": {"output": "12C"}}},
                        {"functionResponse": {"id": "fc_7", "name": "get_current_temperature", "response": {"error": "timeout"}}}
                    ]}
                ],
                "tools": [{"functionDeclarations": [{
                    "name": "get_current_temperature",
                    "description": "Gets the current temperature for a given location.",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"location": {"type": "string", "description": "The city name, e.g. San Francisco"}},
                        "required": ["location"]
                    }
                }]}]
            })
        );
    }

    #[test]
    fn reasoning_goes_back_as_thought_parts_and_signatures_on_the_part_they_came_on() {
        let req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                Message::user("Why is the sky blue?"),
                assistant(vec![
                    reasoning("**Considering scattering**", None),
                    // A text part's signature, then the text it came on.
                    reasoning("", Some("sig-text")),
                    Block::Text("Rayleigh scattering.".into()),
                    // A stream's last, empty part carried this one.
                    reasoning("", Some("sig-end")),
                ]),
                Message::user("And sunsets?"),
                assistant(vec![
                    reasoning("Signed thought", Some("sig-thought")),
                    reasoning("", Some("sig-call")),
                    call("call_0", "lookup", "", None),
                    reasoning("", Some("sig-a")),
                    reasoning("", Some("sig-b")),
                    Block::Reasoning(Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some("anthropic-opaque".into()),
                    }),
                ]),
            ],
            ..Default::default()
        };
        assert_eq!(
            body(&req)["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Why is the sky blue?"}]},
                {"role": "model", "parts": [
                    {"text": "**Considering scattering**", "thought": true},
                    {"text": "Rayleigh scattering.", "thoughtSignature": "sig-text"},
                    {"text": "", "thoughtSignature": "sig-end"}
                ]},
                {"role": "user", "parts": [{"text": "And sunsets?"}]},
                {"role": "model", "parts": [
                    {"text": "Signed thought", "thought": true, "thoughtSignature": "sig-thought"},
                    {"functionCall": {"name": "lookup", "args": {}}, "thoughtSignature": "sig-call"},
                    {"text": "", "thoughtSignature": "sig-a"},
                    {"text": "", "thoughtSignature": "sig-b"}
                ]}
            ])
        );
    }

    #[test]
    fn unsigned_calls_of_the_current_turn_get_googles_placeholder_signature() {
        let req = ChatRequest {
            model: "gemini-3-flash-preview".into(),
            messages: vec![
                Message::user("Earlier turn"),
                assistant(vec![call("a", "f", "{}", None)]),
                user(vec![result("a", None, "1", false)]),
                Message::assistant("Done."),
                Message::user("Check flight AA100, book a taxi if delayed."),
                assistant(vec![
                    Block::Text("Checking.".into()),
                    call("b", "check_flight", r#"{"flight":"AA100"}"#, None),
                    call("c", "check_flight", r#"{"flight":"AA101"}"#, None),
                ]),
                user(vec![
                    result("b", None, "delayed", false),
                    result("c", None, "on time", false),
                ]),
                assistant(vec![call(
                    "d",
                    "book_taxi",
                    r#"{"time":"10 AM"}"#,
                    Some("<Signature_B>"),
                )]),
                user(vec![result("d", None, "booked", false)]),
            ],
            ..Default::default()
        };
        let contents = body(&req)["contents"].clone();
        // The earlier turn is not checked by Gemini and keeps what it had.
        assert_eq!(contents[1]["parts"][0].get("thoughtSignature"), None);
        assert_eq!(
            contents[5]["parts"],
            json!([
                {"text": "Checking."},
                {"functionCall": {"id": "b", "name": "check_flight", "args": {"flight": "AA100"}}, "thoughtSignature": UNSIGNED_CALL_SIGNATURE},
                {"functionCall": {"id": "c", "name": "check_flight", "args": {"flight": "AA101"}}}
            ])
        );
        assert_eq!(contents[7]["parts"][0]["thoughtSignature"], "<Signature_B>");
    }

    #[test]
    fn images_and_documents_go_inline_and_files_api_uris_as_file_data() {
        let png = Media::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        };
        let req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                user(vec![
                    Block::Text("What is in these?".into()),
                    Block::Image(png.clone()),
                    Block::Document {
                        media: Media::Base64 {
                            media_type: "application/pdf".into(),
                            data: "JVBERi0xLjQ=".into(),
                        },
                        name: Some("report.pdf".into()),
                    },
                    Block::Image(Media::Url(
                        "https://generativelanguage.googleapis.com/v1beta/files/abc-123".into(),
                    )),
                ]),
                assistant(vec![call("call_0", "snapshot", "{}", None)]),
                user(vec![Block::ToolResult(ToolResult {
                    call_id: "call_0".into(),
                    name: None,
                    content: vec![Block::Text("here".into()), Block::Image(png)],
                    is_error: false,
                })]),
            ],
            ..Default::default()
        };
        let contents = body(&req)["contents"].clone();
        assert_eq!(
            contents[0]["parts"],
            json!([
                {"text": "What is in these?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQ="}},
                {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc-123"}}
            ])
        );
        assert_eq!(
            contents[2]["parts"],
            json!([{"functionResponse": {
                "name": "snapshot",
                "response": {"output": "here"},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]
            }}])
        );
    }

    #[test]
    fn tool_choice_maps_to_function_calling_modes() {
        let with = |choice: Option<ToolChoice>, strict: Option<bool>| {
            let req = ChatRequest {
                model: "gemini-2.5-flash".into(),
                messages: vec![Message::user("hi")],
                tools: vec![Tool {
                    strict,
                    ..weather_tool()
                }],
                tool_choice: choice,
                ..Default::default()
            };
            body(&req).get("toolConfig").cloned()
        };
        let mode = |m: &str| Some(json!({"functionCallingConfig": {"mode": m}}));
        assert_eq!(with(None, None), None);
        assert_eq!(with(Some(ToolChoice::Auto), None), mode("AUTO"));
        assert_eq!(with(Some(ToolChoice::None), Some(true)), mode("NONE"));
        assert_eq!(with(Some(ToolChoice::Required), None), mode("ANY"));
        assert_eq!(with(None, Some(true)), mode("VALIDATED"));
        assert_eq!(with(Some(ToolChoice::Auto), Some(true)), mode("VALIDATED"));
        assert_eq!(
            with(
                Some(ToolChoice::Named("get_current_temperature".into())),
                Some(true)
            ),
            Some(
                json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_temperature"]}})
            )
        );
        // A tool without parameters leaves them unset.
        let req = ChatRequest {
            messages: vec![Message::user("hi")],
            tools: vec![Tool {
                name: "now".into(),
                description: None,
                parameters: json!({}),
                strict: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            body(&req)["tools"],
            json!([{"functionDeclarations": [{"name": "now"}]}])
        );
    }

    #[test]
    fn json_output_logprobs_and_thinking_map_to_generation_config() {
        let schema = json!({"type": "object", "properties": {"recipe_name": {"type": "string"}}, "required": ["recipe_name"]});
        let with = |f: &dyn Fn(&mut ChatRequest)| {
            let mut req = ChatRequest {
                model: "gemini-2.5-flash".into(),
                messages: vec![Message::user("hi")],
                ..Default::default()
            };
            f(&mut req);
            body(&req)["generationConfig"].clone()
        };
        assert_eq!(
            with(&|r| {
                r.response_format = Some(ResponseFormat::JsonSchema {
                    name: "recipe".into(),
                    description: None,
                    schema: schema.clone(),
                    strict: Some(true),
                })
            }),
            json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
        );
        assert_eq!(
            with(&|r| r.response_format = Some(ResponseFormat::JsonObject)),
            json!({"responseMimeType": "application/json"})
        );
        assert_eq!(
            with(&|r| r.response_format = Some(ResponseFormat::Text)),
            Value::Null
        );
        assert_eq!(
            with(&|r| {
                r.logprobs = true;
                r.top_logprobs = Some(3);
            }),
            json!({"responseLogprobs": true, "logprobs": 3})
        );
        let thinking = |model: &str, effort, budget_tokens, include| {
            with(&|r| {
                r.model = model.into();
                r.reasoning = Some(ReasoningRequest {
                    effort,
                    budget_tokens,
                    include,
                });
            })
        };
        assert_eq!(
            thinking("gemini-2.5-pro", Some(Effort::High), None, true),
            json!({"thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}})
        );
        assert_eq!(
            thinking("gemini-3-pro-preview", Some(Effort::Low), None, false),
            json!({"thinkingConfig": {"thinkingLevel": "LOW"}})
        );
        assert_eq!(
            thinking(
                "gemini-3-flash-preview",
                Some(Effort::Low),
                Some(500),
                false
            ),
            json!({"thinkingConfig": {"thinkingBudget": 500}})
        );
        assert_eq!(
            thinking("gemini-flash-latest", Some(Effort::Minimal), None, false),
            json!({"thinkingConfig": {"thinkingBudget": 1024}})
        );
        assert_eq!(
            thinking("gemini-2.5-flash", None, Some(0), false),
            json!({"thinkingConfig": {"thinkingBudget": 0}})
        );
        assert_eq!(
            thinking("gemini-2.5-flash", None, None, true),
            json!({"thinkingConfig": {"includeThoughts": true}})
        );
        assert_eq!(thinking("gemini-2.5-flash", None, None, false), Value::Null);
    }

    #[test]
    fn model_generations_are_read_from_the_name() {
        assert_eq!(generation("gemini-3-pro-preview"), Some(3));
        assert_eq!(generation("gemini-2.5-flash"), Some(2));
        assert_eq!(generation("gemini-10-ultra"), Some(10));
        assert_eq!(generation("gemini-flash-latest"), None);
        assert_eq!(generation("gemma-3-27b-it"), None);
    }
}
