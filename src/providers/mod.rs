//! The provider layer: one neutral request/response model, one file per
//! upstream (`openai`, `anthropic`, `gemini`, `demo`), one SSE codec.
//!
//! Pure on purpose: no I/O and nothing from `worker`, so all of it runs in
//! native unit tests. The worker glue sends the `HttpRequestSpec` built here,
//! then feeds the response body through `sse::SseDecoder` and a `StreamMapper`
//! (or `parse_completion`), and failed responses through `map_error_response`.

pub mod anthropic;
pub mod demo;
pub mod gemini;
pub mod model;
pub mod openai;
pub mod signature;
pub mod sse;

pub use model::*;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// Anthropic requires `max_tokens`; this is sent when the client gave none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Provider error messages are cut to this many characters.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Gemini,
    Demo,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [Self::OpenAi, Self::Anthropic, Self::Gemini, Self::Demo];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => openai::NAME,
            Self::Anthropic => anthropic::NAME,
            Self::Gemini => gemini::NAME,
            Self::Demo => demo::NAME,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to a model, whatever the ingress format and the provider.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// The model part only, e.g. "gpt-4o-mini".
    pub model: String,
    /// System and developer instructions, joined.
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<ReasoningRequest>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub user: Option<String>,
    /// OpenAI only: the log probability of each output token, and of this many alternatives.
    pub logprobs: bool,
    pub top_logprobs: Option<u32>,
    pub stream: bool,
    /// OpenAI only: fields copied verbatim into the body ("messages" replaces
    /// the built ones, for tool messages and non-text parts).
    pub passthrough: serde_json::Map<String, serde_json::Value>,
}

/// An upstream call, always a POST.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequestSpec {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub fn build_request(
    kind: ProviderKind,
    base_url: &str,
    api_key: &str,
    req: &ChatRequest,
) -> HttpRequestSpec {
    let base = base_url.trim_end_matches('/');
    match kind {
        ProviderKind::OpenAi => openai::build_request(base, api_key, req),
        ProviderKind::Anthropic => anthropic::build_request(base, api_key, req),
        ProviderKind::Gemini => gemini::build_request(base, api_key, req),
        ProviderKind::Demo => demo::build_request(base, req),
    }
}

/// A request a provider cannot carry out as asked: refused with a 400 naming the parameter,
/// never silently dropped. `param` uses Chat Completions' names (`tools[0].strict`,
/// `logprobs`, `messages[2].content[1]`); an ingress with other names translates them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub param: String,
    pub message: String,
}

impl Unsupported {
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
        }
    }
}

/// Whether `kind` can carry out `req`, checked before anything is reserved or sent;
/// `build_request` may then assume it can.
pub fn validate(kind: ProviderKind, req: &ChatRequest) -> Result<(), Unsupported> {
    match kind {
        ProviderKind::OpenAi => openai::validate(req),
        ProviderKind::Anthropic => anthropic::validate(req),
        ProviderKind::Gemini => gemini::validate(req),
        ProviderKind::Demo => demo::validate(req),
    }
}

/// Whether `kind` takes this image or document by URL; where it does not, the Worker
/// fetches it first (under the outbound rule, with a size cap and a timeout) and sends the
/// bytes (`Media::Base64`).
pub fn takes_url(kind: ProviderKind, block: &Block) -> bool {
    match kind {
        ProviderKind::OpenAi => openai::takes_url(block),
        ProviderKind::Anthropic => anthropic::takes_url(block),
        ProviderKind::Gemini => gemini::takes_url(block),
        ProviderKind::Demo => true,
    }
}

/// Content-Type first, then the provider's own headers.
fn json_headers<const N: usize>(extra: [(&str, String); N]) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    headers.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    headers
}

/// Serialising our own request structs cannot fail (string keys only, and
/// serde_json writes non-finite floats as null), so no error path is needed.
fn to_json<T: Serialize>(body: &T) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    /// The upstream HTTP status; 0 when the error came inside a stream.
    pub status: u16,
    /// Short and safe to show: never the raw payload, never a key.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum UpstreamErrorKind {
    BadRequest,
    /// The provider rejected the key we sent.
    Unauthorized,
    /// Usually an unknown model.
    NotFound,
    RateLimited {
        retry_after: Option<u64>,
    },
    Overloaded,
    Server,
    /// The upstream answered something we cannot read.
    Protocol,
}

impl UpstreamError {
    pub fn new(kind: UpstreamErrorKind, status: u16, message: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            message: message.into(),
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(UpstreamErrorKind::Protocol, 0, message)
    }

    /// What chatgate answers. The caller's request or the configured key is
    /// at fault for the 400s; only an upstream that misbehaves is a 5xx.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            UpstreamErrorKind::BadRequest | UpstreamErrorKind::Unauthorized => 400,
            UpstreamErrorKind::NotFound => 404,
            UpstreamErrorKind::RateLimited { .. } => 429,
            UpstreamErrorKind::Server | UpstreamErrorKind::Protocol => 502,
            UpstreamErrorKind::Overloaded => 503,
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self.kind {
            UpstreamErrorKind::RateLimited { retry_after } => retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UpstreamError {}

/// What a provider file reads out of an error payload.
#[derive(Debug, Default)]
struct ErrorDetail {
    message: Option<String>,
    /// From the provider's error type / status string.
    kind: Option<UpstreamErrorKind>,
    retry_after: Option<u64>,
}

/// The one place where upstream failures become `UpstreamError`s.
pub fn map_error_response(
    kind: ProviderKind,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> UpstreamError {
    let detail = error_detail(kind, body);
    let retry_after = retry_after
        .and_then(parse_retry_after)
        .or(detail.retry_after);
    let by_status = match status {
        401 | 403 => UpstreamErrorKind::Unauthorized,
        404 => UpstreamErrorKind::NotFound,
        429 => UpstreamErrorKind::RateLimited { retry_after },
        503 | 529 => UpstreamErrorKind::Overloaded,
        400..=499 => UpstreamErrorKind::BadRequest,
        _ => UpstreamErrorKind::Server,
    };
    // The status decides; the provider's error type only sharpens the two
    // catch-alls (Gemini says "bad key" with a 400, Anthropic "overloaded" with a 500).
    let kind_final = match (by_status, detail.kind) {
        (
            UpstreamErrorKind::BadRequest | UpstreamErrorKind::Server,
            Some(UpstreamErrorKind::RateLimited { .. }),
        ) => UpstreamErrorKind::RateLimited { retry_after },
        (UpstreamErrorKind::BadRequest | UpstreamErrorKind::Server, Some(refined)) => refined,
        (by_status, _) => by_status,
    };
    let fallback = format!("{kind} answered HTTP {status}");
    UpstreamError::new(
        kind_final,
        status,
        safe_message(kind, detail.message, fallback),
    )
}

fn error_detail(kind: ProviderKind, body: &[u8]) -> ErrorDetail {
    match kind {
        ProviderKind::OpenAi => openai::error_detail(body),
        ProviderKind::Anthropic => anthropic::error_detail(body),
        ProviderKind::Gemini => gemini::error_detail(body),
        ProviderKind::Demo => ErrorDetail::default(),
    }
}

/// An error frame inside a 200 stream.
fn stream_error(kind: ProviderKind, data: &str) -> UpstreamError {
    let detail = error_detail(kind, data.as_bytes());
    let fallback = format!("{kind} reported an error mid-stream");
    UpstreamError::new(
        detail.kind.unwrap_or(UpstreamErrorKind::Server),
        0,
        safe_message(kind, detail.message, fallback),
    )
}

/// Seconds; fractional values round up. HTTP-dates are not worth a date parser here.
fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    value.parse::<u64>().ok().or_else(|| {
        let secs = value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)?;
        Some(secs.ceil() as u64)
    })
}

fn safe_message(kind: ProviderKind, message: Option<String>, fallback: String) -> String {
    let cleaned = message.map(|m| sanitize(&m)).filter(|m| !m.is_empty());
    match cleaned {
        Some(m) => format!("{kind}: {m}"),
        None => fallback,
    }
}

/// Masks anything key-like, flattens control characters and whitespace,
/// and cuts to `MAX_ERROR_MESSAGE_CHARS` (after masking, so a cut cannot
/// leave half a key unrecognised).
fn sanitize(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut run = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
            run.push(ch);
            continue;
        }
        masked.push_str(&mask_run(&run));
        run.clear();
        masked.push(if ch.is_control() { ' ' } else { ch });
    }
    masked.push_str(&mask_run(&run));
    let collapsed = masked.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

/// `run` is a maximal run of [A-Za-z0-9_-].
fn mask_run(run: &str) -> String {
    for prefix in ["sk-", "AIza"] {
        if run.starts_with(prefix) && run.len() >= prefix.len() + 8 {
            return format!("{prefix}[redacted]");
        }
    }
    let random_looking = run.split(['-', '_']).any(|part| {
        let has_digit = part.bytes().any(|b| b.is_ascii_digit());
        let has_alpha = part.bytes().any(|b| b.is_ascii_alphabetic());
        part.len() >= 32 || (part.len() >= 24 && has_digit && has_alpha)
    });
    if random_looking {
        "[redacted]".to_owned()
    } else {
        run.to_owned()
    }
}

/// Maps one provider's decoded stream events to neutral chunks.
pub trait StreamMapper {
    fn on_event(&mut self, ev: &sse::SseEvent) -> Result<Vec<Chunk>, UpstreamError>;
    /// Called when the upstream body ends: Ok when a proper terminal was seen
    /// ([DONE] / message_stop / a finishReason), a Protocol error otherwise.
    fn finish(&mut self) -> Result<(), UpstreamError>;
}

pub fn stream_mapper(kind: ProviderKind) -> Box<dyn StreamMapper> {
    match kind {
        ProviderKind::OpenAi => Box::<openai::OpenAiStream>::default(),
        ProviderKind::Anthropic => Box::<anthropic::AnthropicStream>::default(),
        ProviderKind::Gemini => Box::<gemini::GeminiStream>::default(),
        ProviderKind::Demo => Box::<demo::DemoStream>::default(),
    }
}

/// Non-streaming response bodies.
pub fn parse_completion(kind: ProviderKind, body: &[u8]) -> Result<Completion, UpstreamError> {
    match kind {
        ProviderKind::OpenAi => openai::parse_completion(body),
        ProviderKind::Anthropic => anthropic::parse_completion(body),
        ProviderKind::Gemini => gemini::parse_completion(body),
        ProviderKind::Demo => demo::parse_completion(body),
    }
}

/// The payload is never echoed: it may be large, and it is not ours to show.
fn parse_json<T: DeserializeOwned>(kind: ProviderKind, bytes: &[u8]) -> Result<T, UpstreamError> {
    serde_json::from_slice(bytes).map_err(|_| {
        UpstreamError::protocol(format!("{kind} sent data that is not the expected JSON"))
    })
}

fn ended_early(kind: ProviderKind) -> UpstreamError {
    UpstreamError::protocol(format!("{kind} stream ended early"))
}

/// A rough token count (characters / 4, rounded up) for budgets and estimates.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// What providers charge for each message beyond its text (its role and separators):
/// OpenAI documents 3, Anthropic and Gemini are close; the upper end is taken.
pub const TOKENS_PER_MESSAGE: u64 = 4;
/// Charged once per request (the reply's priming).
pub const TOKENS_PER_REQUEST: u64 = 3;

/// A prompt's estimated tokens, for budgets: each message's text (a system prompt is one
/// message) plus the per-message and per-request overhead providers add.
pub fn estimate_prompt_tokens<S: AsRef<str>>(messages: impl IntoIterator<Item = S>) -> u64 {
    TOKENS_PER_REQUEST
        + messages
            .into_iter()
            .map(|m| estimate_tokens(m.as_ref()) + TOKENS_PER_MESSAGE)
            .sum::<u64>()
}

impl ChatRequest {
    /// The estimated tokens of this request's prompt: the system prompt and every message.
    pub fn prompt_estimate(&self) -> u64 {
        estimate_prompt_tokens(
            self.system
                .iter()
                .cloned()
                .chain(self.messages.iter().map(Message::prompt_text)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Decodes a fixture fed in the given pieces and maps it.
    fn replay(
        kind: ProviderKind,
        pieces: &[&[u8]],
    ) -> (Vec<sse::SseEvent>, Result<Vec<Chunk>, UpstreamError>) {
        let mut dec = sse::SseDecoder::new();
        let mut events = Vec::new();
        for p in pieces {
            events.extend(dec.feed(p).unwrap());
        }
        events.extend(dec.finish().unwrap());
        let mut mapper = stream_mapper(kind);
        let mut chunks = Vec::new();
        for ev in &events {
            match mapper.on_event(ev) {
                Ok(c) => chunks.extend(c),
                Err(e) => return (events, Err(e)),
            }
        }
        let done = mapper.finish().map(|()| chunks);
        (events, done)
    }

    pub(crate) fn replay_whole(
        kind: ProviderKind,
        fixture: &str,
    ) -> Result<Vec<Chunk>, UpstreamError> {
        replay(kind, &[fixture.as_bytes()]).1
    }

    const FIXTURES: &[(ProviderKind, &str, &str)] = &[
        (
            ProviderKind::OpenAi,
            "openai_stream",
            include_str!("../../tests/fixtures/sse/openai_stream.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_tool_calls",
            include_str!("../../tests/fixtures/sse/openai_tool_calls.sse"),
        ),
        // Sources in openai.rs's tests.
        (
            ProviderKind::OpenAi,
            "openai_parallel_tool_calls",
            include_str!("../../tests/fixtures/sse/openai_parallel_tool_calls.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_refusal",
            include_str!("../../tests/fixtures/sse/openai_refusal.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_logprobs",
            include_str!("../../tests/fixtures/sse/openai_logprobs.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_refusal_logprobs",
            include_str!("../../tests/fixtures/sse/openai_refusal_logprobs.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_usage_details",
            include_str!("../../tests/fixtures/sse/openai_usage_details.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_stream",
            include_str!("../../tests/fixtures/sse/anthropic_stream.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_error",
            include_str!("../../tests/fixtures/sse/anthropic_error.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_tool_use",
            include_str!("../../tests/fixtures/sse/anthropic_tool_use.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_thinking",
            include_str!("../../tests/fixtures/sse/anthropic_thinking.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_refusal",
            include_str!("../../tests/fixtures/sse/anthropic_refusal.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_stream",
            include_str!("../../tests/fixtures/sse/gemini_stream.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_function_calls",
            include_str!("../../tests/fixtures/sse/gemini_function_calls.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_thinking",
            include_str!("../../tests/fixtures/sse/gemini_thinking.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_json",
            include_str!("../../tests/fixtures/sse/gemini_json.sse"),
        ),
    ];

    #[test]
    fn every_fixture_maps_the_same_whatever_the_network_split() {
        for (kind, name, fixture) in FIXTURES {
            let bytes = fixture.as_bytes();
            let whole = replay(*kind, &[bytes]);
            assert!(!whole.0.is_empty(), "{name}: no events");
            for i in 0..=bytes.len() {
                let (a, b) = bytes.split_at(i);
                assert_eq!(replay(*kind, &[a, b]), whole, "{name} split at byte {i}");
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(replay(*kind, &singles), whole, "{name} byte by byte");
        }
    }

    #[test]
    fn every_fixture_cut_short_is_an_early_end_or_an_error() {
        for (kind, name, fixture) in FIXTURES {
            // Keep only the first half of the events.
            let mut dec = sse::SseDecoder::new();
            let events = dec.feed(fixture.as_bytes()).unwrap();
            let mut mapper = stream_mapper(*kind);
            let half = events.len() / 2;
            for ev in &events[..half] {
                mapper.on_event(ev).unwrap();
            }
            let err = mapper.finish().unwrap_err();
            assert_eq!(err.kind, UpstreamErrorKind::Protocol, "{name}");
            assert!(
                err.message.contains("ended early"),
                "{name}: {}",
                err.message
            );
        }
    }

    #[test]
    #[rustfmt::skip]
    fn error_responses_map_to_kinds_and_statuses() {
        use ProviderKind::{Anthropic, Gemini, OpenAi};
        use UpstreamErrorKind::*;
        // provider, upstream status, retry-after header, body, kind, chatgate status
        type Case<'a> = (ProviderKind, u16, Option<&'a str>, &'a str, UpstreamErrorKind, u16);
        let cases: &[Case] = &[
            (OpenAi, 401, None, r#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnop1234.","type":"invalid_request_error","code":"invalid_api_key"}}"#, Unauthorized, 400),
            (OpenAi, 404, None, r#"{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#, NotFound, 404),
            (OpenAi, 429, Some("20"), r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#, RateLimited { retry_after: Some(20) }, 429),
            (OpenAi, 500, None, "<html>oops</html>", Server, 502),
            (Anthropic, 529, None, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, Overloaded, 503),
            (Anthropic, 500, None, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, Overloaded, 503),
            (Anthropic, 413, None, r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#, BadRequest, 400),
            (Gemini, 400, None, r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#, Unauthorized, 400),
            (Gemini, 429, None, r#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"31.5s"}]}}]"#, RateLimited { retry_after: Some(32) }, 429),
            (Gemini, 503, None, r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#, Overloaded, 503),
        ];
        for (provider, status, retry, body, kind, http) in cases {
            let err = map_error_response(*provider, *status, *retry, body.as_bytes());
            assert_eq!(&err.kind, kind, "{provider} {status} {body}");
            assert_eq!(err.http_status(), *http, "{provider} {status}");
            assert_eq!(err.status, *status);
            assert!(err.message.starts_with(provider.as_str()), "{}", err.message);
        }
    }

    #[test]
    fn error_messages_are_extracted_masked_and_truncated() {
        let err = map_error_response(ProviderKind::OpenAi, 401, None, br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnop1234. You can find your API key at https://platform.openai.com/account/api-keys."}}"#);
        assert!(!err.message.contains("abcdefghijklmnop"), "{}", err.message);
        assert!(
            err.message
                .starts_with("openai: Incorrect API key provided: sk-[redacted]."),
            "{}",
            err.message
        );

        let gemini_key = "AIzaSyD-1234567890abcdefghijklmnopqrstu";
        let cg_key = "cg_4fQ9zLm2Xr8TbN1vKs7YwPq3HdJc6Ue0aB5hG2";
        let body = format!(r#"{{"error":{{"message":"bad {gemini_key} and {cg_key}\n\tend"}}}}"#);
        let err = map_error_response(ProviderKind::Gemini, 400, None, body.as_bytes());
        assert_eq!(err.message, "gemini: bad AIza[redacted] and [redacted] end");

        let long = "word ".repeat(200);
        let body =
            format!(r#"{{"type":"error","error":{{"type":"api_error","message":"{long}"}}}}"#);
        let err = map_error_response(ProviderKind::Anthropic, 500, None, body.as_bytes());
        assert!(err.message.chars().count() <= "anthropic: ".len() + MAX_ERROR_MESSAGE_CHARS + 1);
        assert!(err.message.ends_with('…'));

        let err = map_error_response(
            ProviderKind::Anthropic,
            502,
            None,
            b"<html>Bad gateway</html>",
        );
        assert_eq!(err.message, "anthropic answered HTTP 502");
        // Ordinary words and model names survive.
        assert_eq!(
            sanitize("model claude-3-5-sonnet-20241022 max_tokens"),
            "model claude-3-5-sonnet-20241022 max_tokens"
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_fractions_only() {
        assert_eq!(parse_retry_after(" 7 "), Some(7));
        assert_eq!(parse_retry_after("1.2"), Some(2));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn provider_kinds_round_trip_and_base_urls_lose_their_trailing_slash() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ProviderKind::parse("OpenAI"), None);
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        for kind in [
            ProviderKind::OpenAi,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
        ] {
            let spec = build_request(kind, "https://api.example.com/", "secret-key", &req);
            assert!(!spec.url.contains("//v"), "{}", spec.url);
            assert!(!spec.url.contains("secret-key"), "{}", spec.url);
            assert!(
                spec.headers
                    .contains(&("Content-Type".into(), "application/json".into())),
                "{kind}"
            );
            assert!(
                spec.headers.iter().any(|(_, v)| v.contains("secret-key")),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_prompt_estimate_counts_each_message_and_the_request_overhead() {
        assert_eq!(estimate_prompt_tokens([""; 0]), 3);
        // "go": 1 token of text, 4 for the message, 3 for the request.
        assert_eq!(estimate_prompt_tokens(["go"]), 8);
        let req = ChatRequest {
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("hello there"),
                Message::assistant("hi"),
                Message::user("go"),
            ],
            ..Default::default()
        };
        // 3 + 3 + 1 + 1 of text, 4 messages of 4, and 3.
        assert_eq!(req.prompt_estimate(), 8 + 16 + 3);
    }

    #[test]
    fn token_estimates_round_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé🙂"), 2);
    }
}
