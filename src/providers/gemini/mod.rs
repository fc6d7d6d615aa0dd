//! Google Gemini API (generativelanguage.googleapis.com): `generateContent`, and
//! `streamGenerateContent?alt=sse` where each event is a whole `GenerateContentResponse`.
//!
//! Request (`request.rs`), from the neutral model:
//! - `system` → `systemInstruction`; turns → `contents` with roles `user` / `model`,
//!   neighbouring turns of one role joined, empty text parts and empty turns dropped.
//! - Text (and a past refusal's text) → `text`; an image or document in base64 →
//!   `inlineData {mimeType, data}` (a document's file name has no place in the Gemini API);
//!   a Files API URI → `fileData {fileUri}` (Gemini knows the file's type). Every other URL
//!   is fetched by the Worker and sent inline (`takes_url`): Gemini's own fetching of
//!   external URLs needs a MIME type a URL does not carry, and the Worker's fetch keeps
//!   one size cap and one outbound rule for every provider.
//! - Tool call → `functionCall {id?, name, args}` (`args` the parsed arguments object) with
//!   the call's `thoughtSignature`; an id chatgate made up (`call_<n>`, when Gemini gave
//!   none) is not sent back. Tool result → `functionResponse {id?, name, response}` in a
//!   `user` turn: the name from the result, else from the call with that id earlier in the
//!   conversation; `response` the result's JSON object when its text is one, else
//!   `{"output": text}`, `{"error": …}` for an error (the keys Google documents); its
//!   images and documents go in `functionResponse.parts` as `inlineData` (Gemini's
//!   multimodal function responses).
//! - Reasoning → a `thought: true` text part with its signature. A reasoning block with a
//!   signature and no text (how a signature on a text or function-call part comes back,
//!   see below) puts the signature back on the part that follows it in its turn, or on an
//!   empty text part when nothing follows — the part it came on, as Google asks. Anthropic's
//!   redacted thinking means nothing to Gemini and is left out.
//! - In the current turn (Google's term: the model steps since the last user content that
//!   is not only function responses), a step whose first function call has no signature
//!   (history from another model, or a client that cannot keep one) gets Google's
//!   documented placeholder, `skip_thought_signature_validator`, where Gemini 3 would
//!   otherwise refuse the request.
//! - Tools → `tools[{functionDeclarations: [{name, description, parametersJsonSchema}]}]`
//!   (full JSON Schema; `parameters` takes only an OpenAPI subset). `tool_choice` → `toolConfig.
//!   functionCallingConfig.mode` AUTO / NONE / ANY, ANY + `allowedFunctionNames` for a
//!   named tool; a strict tool turns AUTO into VALIDATED (calls checked against their
//!   schema by constrained decoding, as ANY always does), so `strict` is honoured.
//! - `response_format` → `responseMimeType: application/json`, with `responseJsonSchema`
//!   (full JSON Schema) for a schema, whose name has no place in Gemini.
//! - `reasoning` → `thinkingConfig`: `thinkingBudget` from the budget; an effort alone is
//!   `thinkingLevel` on `gemini-3…` and later models, else its budget; `includeThoughts`.
//! - max_tokens, temperature, top_p, stop, seed → `generationConfig`; `logprobs` /
//!   `top_logprobs` → `responseLogprobs` / `logprobs`. `user` is only a hint and Gemini
//!   has no field for it: it is not sent.
//!
//! Response (`stream.rs`): `candidates[0].content.parts` in order: a `thought` part →
//! reasoning; text → text, its `thoughtSignature` first as a reasoning block with no text;
//! `functionCall` → a tool call (arguments the compact JSON of `args`, id Gemini's or
//! `call_<n>`), whole in one delta. STOP is `tool_calls` when the reply made calls.
//! `logprobsResult` → OpenAI's logprobs shape.

mod request;
mod stream;

pub(super) use request::build_request;
pub(super) use stream::{parse_completion, GeminiStream};

use super::{Block, ChatRequest, ErrorDetail, FinishReason, Media, ProviderKind, Role, ToolChoice};
use super::{Unsupported, UpstreamErrorKind};
use serde_json::Value;

pub const NAME: &str = "gemini";

const KIND: ProviderKind = ProviderKind::Gemini;

/// What this provider cannot do of `req` (see `super::validate`). Params are the
/// neutral model's: `messages[i].content[j]` is block j of message i.
pub(super) fn validate(req: &ChatRequest) -> Result<(), Unsupported> {
    if let Some(key) = req.passthrough.keys().next() {
        return Err(Unsupported::new(
            key.as_str(),
            "is only supported for openai/* models",
        ));
    }
    for (i, message) in req.messages.iter().enumerate() {
        for (j, block) in message.content.iter().enumerate() {
            let param = || format!("messages[{i}].content[{j}]");
            match block {
                Block::ToolCall(call) if parse_arguments(&call.arguments).is_none() => {
                    return Err(Unsupported::new(
                        format!("{}.arguments", param()),
                        "must be a JSON object: Gemini takes a function call's arguments as one",
                    ));
                }
                Block::ToolResult(result) => {
                    if result.name.is_none() && find_call_name(req, i, &result.call_id).is_none() {
                        return Err(Unsupported::new(
                            param(),
                            format!(
                                "answers a tool call `{}` that is not in the conversation: Gemini needs the called function's name",
                                result.call_id
                            ),
                        ));
                    }
                    // Other URLs are fetched and sent inline, as everywhere (`takes_url`).
                    if result.content.iter().any(takes_url) {
                        return Err(Unsupported::new(
                            param(),
                            "has a Gemini file by URI: Gemini takes images and documents in a tool result only inline (base64)",
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let named_tool_missing = match &req.tool_choice {
        Some(ToolChoice::Required) => req.tools.is_empty(),
        Some(ToolChoice::Named(name)) => !req.tools.iter().any(|t| &t.name == name),
        _ => false,
    };
    if named_tool_missing {
        return Err(Unsupported::new(
            "tool_choice",
            "asks for a tool call, but no such tool is declared in tools",
        ));
    }
    // Gemini has no switch for one call at a time.
    let calls_possible = !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None);
    if req.parallel_tool_calls == Some(false) && calls_possible {
        return Err(Unsupported::new(
            "parallel_tool_calls",
            "false is not supported by Gemini models, which may call several tools at once",
        ));
    }
    if req.top_logprobs.is_some() && !req.logprobs {
        return Err(Unsupported::new("top_logprobs", "needs logprobs: true"));
    }
    if req.seed.is_some_and(|s| i32::try_from(s).is_err()) {
        return Err(Unsupported::new(
            "seed",
            "must fit in 32 bits (a signed integer) for Gemini models",
        ));
    }
    Ok(())
}

/// Whether an image or document can go by URL (see `super::takes_url`): only a Gemini
/// Files API URI, which chatgate could not fetch without the key anyway.
pub(super) fn takes_url(block: &Block) -> bool {
    match block {
        Block::Image(Media::Url(url))
        | Block::Document {
            media: Media::Url(url),
            ..
        } => is_files_api_uri(url),
        _ => false,
    }
}

/// `https://generativelanguage.googleapis.com/<version>/files/<name>`, as the Files API
/// returns a file's `uri`.
fn is_files_api_uri(url: &str) -> bool {
    let Some(path) = url.strip_prefix("https://generativelanguage.googleapis.com/") else {
        return false;
    };
    let Some((version, name)) = path.split_once("/files/") else {
        return false;
    };
    matches!(version, "v1beta" | "v1" | "v1alpha")
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A tool call's arguments as the object Gemini takes; no arguments at all is `{}`.
fn parse_arguments(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
}

/// The name of the call `call_id` answered: the nearest such call before message `before`.
fn find_call_name<'a>(req: &'a ChatRequest, before: usize, call_id: &str) -> Option<&'a str> {
    req.messages[..before.min(req.messages.len())]
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.content.iter().rev())
        .find_map(|b| match b {
            Block::ToolCall(c) if c.id == call_id => Some(c.name.as_str()),
            _ => None,
        })
}

/// The id given to the n-th call of a reply when Gemini gives none.
fn generated_id(index: u32) -> String {
    format!("call_{index}")
}

fn is_generated_id(id: &str) -> bool {
    id.strip_prefix("call_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(serde::Deserialize)]
struct WireError {
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

pub(super) fn error_detail(body: &[u8]) -> ErrorDetail {
    // Some Gemini errors come wrapped in a one-element array.
    let parsed = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(mut items)) if !items.is_empty() => {
            serde_json::from_value::<ErrorBody>(items.swap_remove(0))
        }
        Ok(value) => serde_json::from_value::<ErrorBody>(value),
        Err(e) => Err(e),
    };
    let Some(err) = parsed.ok().and_then(|b| b.error) else {
        return ErrorDetail::default();
    };
    let detail = |key: &str| {
        err.details
            .iter()
            .find_map(|d| d.get(key).and_then(Value::as_str))
    };
    let retry_after = detail("retryDelay")
        .and_then(|d| d.strip_suffix('s'))
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64);
    let kind = match (detail("reason"), err.status.as_deref().unwrap_or_default()) {
        (Some("API_KEY_INVALID"), _) | (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") => {
            Some(UpstreamErrorKind::Unauthorized)
        }
        (_, "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE") => {
            Some(UpstreamErrorKind::BadRequest)
        }
        (_, "NOT_FOUND") => Some(UpstreamErrorKind::NotFound),
        (_, "RESOURCE_EXHAUSTED") => Some(UpstreamErrorKind::RateLimited { retry_after }),
        (_, "UNAVAILABLE") => Some(UpstreamErrorKind::Overloaded),
        (_, "INTERNAL" | "DEADLINE_EXCEEDED" | "UNKNOWN") => Some(UpstreamErrorKind::Server),
        _ => None,
    };
    ErrorDetail {
        message: err.message,
        kind,
        retry_after,
    }
}

fn finish_reason(s: &str) -> FinishReason {
    match s {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{Message, Tool, ToolCall, ToolResult};
    use serde_json::json;

    fn refused(req: &ChatRequest) -> String {
        validate(req).unwrap_err().param
    }

    fn call(id: &str, arguments: &str) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![Block::ToolCall(ToolCall {
                id: id.into(),
                name: "f".into(),
                arguments: arguments.into(),
                signature: None,
            })],
        }
    }

    fn answer(call_id: &str, content: Vec<Block>) -> Message {
        Message {
            role: Role::User,
            content: vec![
                Block::Text("see".into()),
                Block::ToolResult(ToolResult {
                    call_id: call_id.into(),
                    name: None,
                    content,
                    is_error: false,
                }),
            ],
        }
    }

    fn tool() -> Tool {
        Tool {
            name: "f".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: Some(true),
        }
    }

    #[test]
    fn what_gemini_can_do_passes_validation() {
        let req = ChatRequest {
            messages: vec![
                Message::user("go"),
                call("call_0", r#"{"a": 1}"#),
                answer("call_0", vec![Block::Text("ok".into())]),
                call("x", "  "),
                // An ordinary URL is fetched and sent inline before the request is built.
                answer(
                    "x",
                    vec![Block::Image(Media::Url("https://example.com/a.png".into()))],
                ),
            ],
            tools: vec![tool()],
            tool_choice: Some(ToolChoice::Named("f".into())),
            parallel_tool_calls: Some(true),
            logprobs: true,
            top_logprobs: Some(5),
            seed: Some(-7),
            ..Default::default()
        };
        assert_eq!(validate(&req), Ok(()));
        // Without tools to call, one call at a time holds trivially.
        let req = ChatRequest {
            parallel_tool_calls: Some(false),
            ..ChatRequest::default()
        };
        assert_eq!(validate(&req), Ok(()));
    }

    #[test]
    fn what_gemini_cannot_do_is_refused_by_parameter() {
        let base = || ChatRequest {
            messages: vec![Message::user("go")],
            tools: vec![tool()],
            ..Default::default()
        };
        let mut req = base();
        req.messages.push(call("c", "[1, 2]"));
        assert_eq!(refused(&req), "messages[1].content[0].arguments");
        req.messages[1] = call("c", "{\"a\":");
        assert_eq!(refused(&req), "messages[1].content[0].arguments");

        let mut req = base();
        req.messages.push(call("c", "{}"));
        req.messages.push(answer("other", vec![]));
        let err = validate(&req).unwrap_err();
        assert_eq!(err.param, "messages[2].content[1]");
        assert!(err.message.contains("`other`"), "{}", err.message);
        // The call must come before its result.
        let mut req = base();
        req.messages = vec![answer("c", vec![]), call("c", "{}")];
        assert_eq!(refused(&req), "messages[0].content[1]");

        let mut req = base();
        req.messages.push(call("c", "{}"));
        req.messages.push(answer(
            "c",
            vec![Block::Image(Media::Url(
                "https://generativelanguage.googleapis.com/v1beta/files/x".into(),
            ))],
        ));
        assert_eq!(refused(&req), "messages[2].content[1]");

        let mut req = base();
        req.parallel_tool_calls = Some(false);
        assert_eq!(refused(&req), "parallel_tool_calls");
        req.tool_choice = Some(ToolChoice::None);
        assert_eq!(validate(&req), Ok(()));

        let mut req = base();
        req.tool_choice = Some(ToolChoice::Named("g".into()));
        assert_eq!(refused(&req), "tool_choice");
        req.tools.clear();
        req.tool_choice = Some(ToolChoice::Required);
        assert_eq!(refused(&req), "tool_choice");

        let mut req = base();
        req.top_logprobs = Some(2);
        assert_eq!(refused(&req), "top_logprobs");

        let mut req = base();
        req.seed = Some(1 << 40);
        assert_eq!(refused(&req), "seed");

        let mut req = base();
        req.passthrough.insert("logit_bias".into(), json!({}));
        assert_eq!(refused(&req), "logit_bias");
    }

    #[test]
    fn only_files_api_uris_go_by_url() {
        let image = |url: &str| Block::Image(Media::Url(url.into()));
        for url in [
            "https://generativelanguage.googleapis.com/v1beta/files/abc-123",
            "https://generativelanguage.googleapis.com/v1/files/x",
        ] {
            assert!(takes_url(&image(url)), "{url}");
        }
        for url in [
            "https://example.com/cat.png",
            "gs://bucket/cat.png",
            "https://generativelanguage.googleapis.com/v1beta/files/",
            "https://generativelanguage.googleapis.com/v1beta/files/a/b",
            "https://generativelanguage.googleapis.com/v1beta/files/a?key=x",
            "https://generativelanguage.googleapis.com.evil.com/v1beta/files/a",
            "http://generativelanguage.googleapis.com/v1beta/files/a",
        ] {
            assert!(!takes_url(&image(url)), "{url}");
        }
        assert!(takes_url(&Block::Document {
            media: Media::Url("https://generativelanguage.googleapis.com/v1beta/files/doc".into()),
            name: None,
        }));
        assert!(!takes_url(&Block::Text("https://example.com".into())));
    }

    #[test]
    fn generated_ids_are_recognised() {
        assert_eq!(generated_id(3), "call_3");
        assert!(is_generated_id("call_12"));
        for id in ["call_", "call_abc123", "fc_1", "toolu_01"] {
            assert!(!is_generated_id(id), "{id}");
        }
    }
}
