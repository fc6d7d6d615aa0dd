//! Google Gemini API (generativelanguage.googleapis.com), `alt=sse` streaming.

use super::{
    ended_early, json_headers, parse_json, sse::SseEvent, stream_error, to_json, ChatRequest,
    Chunk, Completion, ErrorDetail, FinishReason, HttpRequestSpec, ProviderKind, Role,
    StreamMapper, UpstreamError, UpstreamErrorKind, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const NAME: &str = "gemini";

const KIND: ProviderKind = ProviderKind::Gemini;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig<'a>>,
}

#[derive(Serialize)]
struct Content {
    role: &'static str,
    parts: Vec<Part>,
}

#[derive(Serialize)]
struct Part {
    text: String,
}

#[derive(Serialize)]
struct SystemInstruction {
    parts: [Part; 1],
}

#[derive(Serialize)]
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
    // Neighbouring turns of one role become parts of one content; empty
    // turns (a failed reply) are dropped, Gemini refuses empty parts.
    let mut contents: Vec<Content> = Vec::with_capacity(req.messages.len());
    for m in req.messages.iter() {
        let text = m.text();
        if text.is_empty() {
            continue;
        }
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.push(Part { text }),
            _ => contents.push(Content {
                role,
                parts: vec![Part { text }],
            }),
        }
    }
    let config = GenerationConfig {
        max_output_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: &req.stop,
    };
    let has_config = config.max_output_tokens.is_some()
        || config.temperature.is_some()
        || config.top_p.is_some()
        || !config.stop_sequences.is_empty();
    let body = Request {
        contents,
        system_instruction: req.system.as_deref().filter(|s| !s.is_empty()).map(|text| {
            SystemInstruction {
                parts: [Part {
                    text: text.to_owned(),
                }],
            }
        }),
        generation_config: has_config.then_some(config),
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<UsageMetadata>,
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<ResponsePart>,
}

#[derive(Deserialize)]
struct ResponsePart {
    text: Option<String>,
    /// Thought summaries (when asked for) are not part of the reply.
    #[serde(default)]
    thought: bool,
}

/// Thinking tokens are billed as output, and OpenAI and Anthropic count
/// theirs in the completion too, so they are added to the candidates.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

/// What one response object (a stream event or a whole body) says.
struct Mapped {
    text: String,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
}

fn map_response(r: Response) -> Mapped {
    let usage = r.usage_metadata.map(|u| {
        Usage::new(
            u.prompt_token_count,
            u.candidates_token_count + u.thoughts_token_count,
        )
    });
    // A blocked prompt has no candidate at all, only the feedback.
    let blocked = r
        .prompt_feedback
        .and_then(|f| f.block_reason)
        .map(|_| FinishReason::ContentFilter);
    let Some(candidate) = r.candidates.into_iter().next() else {
        return Mapped {
            text: String::new(),
            finish_reason: blocked,
            usage,
        };
    };
    let text = candidate
        .content
        .map(|c| {
            c.parts
                .into_iter()
                .filter(|p| !p.thought)
                .filter_map(|p| p.text)
                .collect()
        })
        .unwrap_or_default();
    Mapped {
        text,
        finish_reason: candidate
            .finish_reason
            .as_deref()
            .map(finish_reason)
            .or(blocked),
        usage,
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(Deserialize)]
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
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

pub(super) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    if error_detail(body).message.is_some() {
        return Err(stream_error(KIND, &String::from_utf8_lossy(body)));
    }
    let mapped = map_response(parse_json(KIND, body)?);
    Ok(Completion {
        content: vec![super::Block::Text(mapped.text)],
        usage: mapped.usage.unwrap_or_default(),
        finish_reason: mapped.finish_reason,
        logprobs: None,
    })
}

/// Every event repeats the usage so far; it is reported with the finish
/// reason, and again only if a later event changes it.
#[derive(Debug, Default)]
pub struct GeminiStream {
    usage: Option<Usage>,
    reported: Option<Usage>,
    done: bool,
}

impl StreamMapper for GeminiStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        if ev.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let value: Value = parse_json(KIND, ev.data.as_bytes())?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(stream_error(KIND, &ev.data));
        }
        let response: Response = serde_json::from_value(value)
            .map_err(|_| UpstreamError::protocol("gemini sent an event of an unexpected shape"))?;
        let mapped = map_response(response);
        self.usage = mapped.usage.or(self.usage);
        self.done |= mapped.finish_reason.is_some();
        let mut chunk = Chunk {
            text: mapped.text,
            finish_reason: mapped.finish_reason,
            ..Chunk::default()
        };
        if self.done && self.usage != self.reported {
            chunk.usage = self.usage;
            self.reported = self.usage;
        }
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
    use super::super::{tests::replay_whole, Message};
    use super::*;
    use serde_json::json;

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
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                    {"role": "model", "parts": [{"text": "Hello"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "generationConfig": {"maxOutputTokens": 100, "temperature": 0.7, "topP": 0.9, "stopSequences": ["END"]}
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
            serde_json::from_str::<Value>(&spec.body).unwrap(),
            json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
        );
    }

    #[test]
    fn the_recorded_stream_maps_text_finish_and_usage_with_thoughts() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../tests/fixtures/sse/gemini_stream.sse"),
        )
        .unwrap();
        let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            text,
            "Voici une réponse courte 🙂, avec des accents : é, à, ç.\nEt une deuxième ligne."
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        assert_eq!(last.usage, Some(Usage::new(11, 24 + 52)));
        assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1);
    }

    #[test]
    fn finish_reasons_and_blocked_prompts_map() {
        assert_eq!(finish_reason("MAX_TOKENS"), FinishReason::Length);
        for r in ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT"] {
            assert_eq!(finish_reason(r), FinishReason::ContentFilter, "{r}");
        }
        assert_eq!(finish_reason("OTHER"), FinishReason::Other("other".into()));
        let ev = SseEvent {
            data: r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}"#.into(),
            ..Default::default()
        };
        let mut m = GeminiStream::default();
        let chunks = m.on_event(&ev).unwrap();
        assert_eq!(chunks[0].finish_reason, Some(FinishReason::ContentFilter));
        assert_eq!(chunks[0].usage, Some(Usage::new(5, 0)));
        assert!(m.finish().is_ok());
    }

    #[test]
    fn stream_errors_unknown_fields_and_bad_json() {
        let ev = |data: &str| SseEvent {
            data: data.into(),
            ..Default::default()
        };
        let mut m = GeminiStream::default();
        let odd = r#"{"candidates":[{"content":{"parts":[{"text":"a"},{"functionCall":{"name":"f"}}],"role":"model"},"groundingMetadata":{}}],"newField":1}"#;
        assert_eq!(m.on_event(&ev(odd)).unwrap()[0].text, "a");
        let err = m.on_event(&ev(r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#)).unwrap_err();
        assert_eq!((err.kind, err.status), (UpstreamErrorKind::Overloaded, 0));
        assert_eq!(
            m.on_event(&ev("[1,")).unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }

    #[test]
    fn non_streaming_bodies_parse() {
        let body = r#"{"candidates":[{"content":{"parts":[{"text":"thinking...","thought":true},{"text":"Hi "},{"text":"there"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"modelVersion":"gemini-2.0-flash"}"#;
        let c = parse_completion(body.as_bytes()).unwrap();
        assert_eq!(c.text(), "Hi there");
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(c.usage, Usage::new(4, 2));
    }
}
