//! What the mock answers, whichever provider was asked: the directives read from
//! the model name, the prompt reduced to what the reply depends on, the
//! deterministic reply, and the paced SSE writer all three providers share.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::sleep;

use crate::schema;

/// The one key every provider rejects, so tests can exercise an invalid key.
pub(crate) const BAD_KEY: &str = "sk-bad";

/// A typo such as `tokens-99999999999` must not exhaust memory.
const MAX_TOKENS: usize = 100_000;

/// The most parallel tool calls `tools-N` asks for.
const MAX_CALLS: usize = 16;

/// The longest piece of a JSON text (tool arguments, structured output) in one streamed token.
const FRAGMENT_CHARS: usize = 8;

/// What `refuse` makes the model say where the provider carries refusal text (OpenAI).
pub(crate) const REFUSAL: &str = "I'm sorry, but I can't help with that.";

/// Behaviour a test picks through the model name, e.g. `mock-tokens-20-delay-50-cut-5`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Directives {
    pub tokens: Option<usize>,
    pub delay: Duration,
    pub ttfb: Duration,
    pub cut: Option<usize>,
    pub status: Option<StatusCode>,
    pub echo_system: bool,
    pub count: bool,
    /// `tools-N`: how many tool calls to make at once.
    pub calls: Option<usize>,
    pub refuse: bool,
    pub describe: bool,
    /// `cached-N`: prompt tokens reported as read from the provider's cache.
    pub cached: usize,
    /// `cache-write-N`: prompt tokens reported as written to the cache (Anthropic).
    pub cache_write: usize,
    /// `unknown`, or a model name starting with `missing`: the provider's 404.
    pub unknown: bool,
    /// `ids`: Gemini function calls carry an `id`.
    pub call_ids: bool,
}

impl Directives {
    /// Directives are `-`-separated parts anywhere in the name; anything else is
    /// ignored, so real model names (`gpt-4o-mini`) simply echo.
    pub(crate) fn parse(model: &str) -> Self {
        let parts: Vec<&str> = model.split('-').collect();
        let mut directives = Self {
            unknown: model.starts_with("missing"),
            ..Self::default()
        };
        for (i, part) in parts.iter().enumerate() {
            let number = parts.get(i + 1).and_then(|n| n.parse::<u64>().ok());
            let after = |word: &str| i > 0 && parts[i - 1] == word;
            let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            match (*part, number) {
                ("tokens", Some(n)) => directives.tokens = Some(count(n).min(MAX_TOKENS)),
                ("delay", Some(ms)) => directives.delay = Duration::from_millis(ms),
                ("ttfb", Some(ms)) => directives.ttfb = Duration::from_millis(ms),
                ("cut", Some(k)) => directives.cut = Some(count(k)),
                ("status", Some(code)) => {
                    directives.status = u16::try_from(code)
                        .ok()
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .filter(|s| s.is_client_error() || s.is_server_error());
                }
                ("system", _) if after("echo") => directives.echo_system = true,
                ("count", _) => directives.count = true,
                ("tools", Some(n)) => directives.calls = Some(count(n).clamp(1, MAX_CALLS)),
                ("refuse", _) => directives.refuse = true,
                ("describe", _) => directives.describe = true,
                ("cached", Some(n)) => directives.cached = count(n).min(u32::MAX as usize),
                ("write", Some(n)) if after("cache") => {
                    directives.cache_write = count(n).min(u32::MAX as usize);
                }
                ("unknown", _) => directives.unknown = true,
                ("ids", _) => directives.call_ids = true,
                _ => {}
            }
        }
        directives
    }
}

/// A request reduced to what the reply depends on, whichever provider it came in as.
#[derive(Debug, Default)]
pub(crate) struct Prompt {
    /// Every system text, joined by newlines; empty when there is none.
    pub system: String,
    /// The conversation without system messages.
    pub turns: Vec<Turn>,
    /// The request's output limit (`max_tokens` and its provider equivalents).
    pub max_tokens: Option<usize>,
    /// The functions the request declares, in order.
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    /// Parallel tool calls were disabled (OpenAI `parallel_tool_calls: false`,
    /// Anthropic `disable_parallel_tool_use: true`).
    pub single_call: bool,
    /// JSON or structured output was asked for.
    pub format: Option<Format>,
    /// Reasoning was asked for (OpenAI `reasoning_effort`, Anthropic `thinking`,
    /// Gemini `thinkingConfig`).
    pub thinking: bool,
}

/// One message of the conversation.
#[derive(Debug, Default)]
pub(crate) struct Turn {
    pub from_user: bool,
    /// The message's text parts, joined by newlines.
    pub text: String,
    /// Images and documents, in order.
    pub media: Vec<Media>,
    /// Tool results the message carries.
    pub results: Vec<ToolResult>,
}

impl Turn {
    pub(crate) fn text(from_user: bool, text: String) -> Self {
        Turn {
            from_user,
            text,
            ..Turn::default()
        }
    }
}

/// A declared function: its name and its parameters' schema (`Null` when it has none).
#[derive(Debug)]
pub(crate) struct Tool {
    pub name: String,
    pub parameters: Value,
}

#[derive(Debug, Default, PartialEq)]
pub(crate) enum ToolChoice {
    /// The model may call any declared tool (the mock always does).
    #[default]
    Auto,
    /// The model must not call a tool.
    None,
    /// The model must call one of these (every declared tool when empty).
    Only(Vec<String>),
}

#[derive(Debug)]
pub(crate) enum Format {
    /// Any JSON object.
    Json,
    /// JSON that validates against this schema.
    Schema(Value),
}

/// The result of one tool call, as it came back.
#[derive(Debug)]
pub(crate) struct ToolResult {
    /// The called tool's name, found from the call it answers; its call id when not found.
    pub tool: String,
    /// The result's text, or its JSON when it is structured.
    pub output: String,
}

/// An image or document part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Media {
    /// `image`, `document`, `audio` or `video`.
    pub kind: &'static str,
    pub mime: Option<String>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// Inline data: its decoded length, or `None` when it was not valid base64.
    Bytes(Option<usize>),
    Url(String),
    /// A provider-side file id.
    File(String),
}

impl Media {
    /// Inline base64 data.
    pub(crate) fn base64(kind: &'static str, mime: Option<String>, data: &str) -> Self {
        Media {
            kind,
            mime,
            source: Source::Bytes(decoded_len(data)),
        }
    }

    /// A `data:<mime>;base64,<data>` URL becomes inline data; any other URL stays a URL.
    pub(crate) fn url(kind: &'static str, url: &str) -> Self {
        match data_url(url) {
            Some((mime, data)) => Media::base64(kind, Some(mime.to_owned()), data),
            None => Media {
                kind,
                mime: None,
                source: Source::Url(url.to_owned()),
            },
        }
    }

    /// The kind a MIME type names: `image/*` images, `audio/*`, `video/*`, and documents.
    pub(crate) fn kind_of(mime: &str) -> &'static str {
        match mime.split('/').next() {
            Some("image") => "image",
            Some("audio") => "audio",
            Some("video") => "video",
            _ => "document",
        }
    }

    fn describe(&self) -> String {
        let mime = self.mime.as_deref();
        match (&self.source, mime) {
            (Source::Bytes(Some(n)), _) => {
                format!("{}, {n} bytes", mime.unwrap_or("application/octet-stream"))
            }
            (Source::Bytes(None), _) => {
                format!(
                    "{}, invalid base64",
                    mime.unwrap_or("application/octet-stream")
                )
            }
            (Source::Url(url), Some(mime)) => format!("{mime}, {url}"),
            (Source::Url(url), None) => url.clone(),
            (Source::File(id), Some(mime)) => format!("{mime}, file {id}"),
            (Source::File(id), None) => format!("file {id}"),
        }
    }
}

/// `(mime, data)` of a base64 data URL.
pub(crate) fn data_url(url: &str) -> Option<(&str, &str)> {
    let (mime, data) = url.strip_prefix("data:")?.split_once(";base64,")?;
    Some((mime, data))
}

/// The length of base64 data once decoded, padded or not, standard or URL-safe alphabet.
fn decoded_len(data: &str) -> Option<usize> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [
        GeneralPurpose::new(&alphabet::STANDARD, config),
        GeneralPurpose::new(&alphabet::URL_SAFE, config),
    ]
    .iter()
    .find_map(|engine| engine.decode(data.trim()).ok())
    .map(|bytes| bytes.len())
}

/// The signature the mock puts on thinking it emits (Anthropic `signature`, Gemini
/// `thoughtSignature`): base64 of SHA-256 over `chatgate-mock:` and the thinking
/// text, so a test can compute the value it expects to see sent back.
pub fn thinking_signature(thinking: &str) -> String {
    let digest = Sha256::digest(format!("chatgate-mock:{thinking}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The deterministic answer to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub kind: Kind,
    /// The visible text (or, for a refusal, the refusal text), one entry per token.
    pub tokens: Vec<String>,
    /// The thinking text, one entry per token; empty when no reasoning was asked for.
    pub thinking: Vec<String>,
    /// Every prompt token, cached and cache-written ones included.
    pub prompt_tokens: usize,
    pub cached_tokens: usize,
    pub cache_write_tokens: usize,
    /// The reply was cut to the request's output limit.
    pub truncated: bool,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Text,
    Refusal,
    Calls(Vec<Call>),
}

/// One tool call the mock makes.
#[derive(Debug)]
pub(crate) struct Call {
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

impl Call {
    /// The arguments as the compact JSON text OpenAI sends.
    pub(crate) fn arguments_json(&self) -> String {
        self.arguments.to_string()
    }

    /// The arguments' JSON text in the pieces a stream sends it in.
    pub(crate) fn fragments(&self) -> Vec<String> {
        fragments(&self.arguments_json())
    }
}

impl Reply {
    /// Precedence when several apply: `refuse`; the text directives `tokens-N`,
    /// `echo-system`, `count`, `describe`; tool results (when the last message
    /// carries them); tool calls (when tools are declared and the last message is
    /// the user's); JSON output; the default echo of the last user message.
    pub(crate) fn plan(directives: &Directives, prompt: &Prompt) -> Self {
        let last_user = prompt
            .turns
            .iter()
            .rev()
            .find(|t| t.from_user && t.results.is_empty())
            .map_or("", |t| t.text.as_str());
        let results: Vec<&ToolResult> = prompt
            .turns
            .iter()
            .rev()
            .take_while(|t| !t.results.is_empty())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .flat_map(|t| &t.results)
            .collect();
        let mut kind = Kind::Text;
        let mut tokens = if directives.refuse {
            kind = Kind::Refusal;
            pieces(REFUSAL)
        } else if let Some(n) = directives.tokens {
            (0..n).map(|i| format!("tok{i} ")).collect()
        } else if directives.echo_system {
            pieces(&prompt.system)
        } else if directives.count {
            pieces(&format!("{} messages", prompt.turns.len()))
        } else if directives.describe {
            pieces(&describe(prompt.turns.iter().flat_map(|t| &t.media)))
        } else if !results.is_empty() {
            let lines: Vec<String> = results
                .iter()
                .map(|r| format!("Tool {} said: {}", r.tool, r.output))
                .collect();
            pieces(&lines.join("\n"))
        } else if let Some(calls) = prompt.calls(directives) {
            kind = Kind::Calls(calls);
            Vec::new()
        } else if let Some(format) = &prompt.format {
            let json = match format {
                Format::Json => json!({"echo": last_user}),
                Format::Schema(schema) => schema::example(schema),
            };
            fragments(&json.to_string())
        } else {
            std::iter::once("Echo: ".to_owned())
                .chain(last_user.split_whitespace().map(|w| format!("{w} ")))
                .collect()
        };
        let truncated = prompt.max_tokens.is_some_and(|max| tokens.len() > max);
        tokens.truncate(prompt.max_tokens.unwrap_or(usize::MAX));
        let thinking = if prompt.thinking && !directives.refuse {
            let topic: Vec<&str> = last_user.split_whitespace().collect();
            pieces(&format!("Thinking about: {}", topic.join(" ")))
        } else {
            Vec::new()
        };
        let cached_tokens = directives.cached;
        let cache_write_tokens = directives.cache_write;
        let prompt_tokens = words(&prompt.system)
            + prompt
                .turns
                .iter()
                .map(|t| words(&t.text) + t.results.iter().map(|r| words(&r.output)).sum::<usize>())
                .sum::<usize>()
            + cached_tokens
            + cache_write_tokens;
        Self {
            kind,
            tokens,
            thinking,
            prompt_tokens,
            cached_tokens,
            cache_write_tokens,
            truncated,
        }
    }

    pub(crate) fn text(&self) -> String {
        self.tokens.concat()
    }

    pub(crate) fn thinking_text(&self) -> String {
        self.thinking.concat()
    }

    /// The signature of this reply's thinking, `None` without thinking.
    pub(crate) fn signature(&self) -> Option<String> {
        (!self.thinking.is_empty()).then(|| thinking_signature(&self.thinking_text()))
    }

    /// Visible output tokens: the text's tokens, or the pieces of every tool
    /// call's arguments. Reasoning tokens are not included.
    pub(crate) fn completion_tokens(&self) -> usize {
        match &self.kind {
            Kind::Calls(calls) => calls.iter().map(|c| c.fragments().len()).sum(),
            Kind::Text | Kind::Refusal => self.tokens.len(),
        }
    }

    pub(crate) fn reasoning_tokens(&self) -> usize {
        self.thinking.len()
    }

    /// The prompt tokens neither read from nor written to the cache.
    pub(crate) fn uncached_prompt_tokens(&self) -> usize {
        self.prompt_tokens - self.cached_tokens - self.cache_write_tokens
    }
}

impl Prompt {
    /// The calls to make: only when tools are declared, the last message is the
    /// user's own (not a tool result) and the tool choice allows a call. The first
    /// declared (or allowed) tool, or with `tools-N` the first N taken in turn.
    fn calls(&self, directives: &Directives) -> Option<Vec<Call>> {
        let last = self.turns.last()?;
        if self.tools.is_empty() || !last.from_user || !last.results.is_empty() {
            return None;
        }
        let names: Vec<&str> = match &self.tool_choice {
            ToolChoice::None => return None,
            ToolChoice::Only(names) if !names.is_empty() => {
                names.iter().map(String::as_str).collect()
            }
            _ => self.tools.iter().map(|t| t.name.as_str()).collect(),
        };
        let count = if self.single_call {
            1
        } else {
            directives.calls.unwrap_or(1)
        };
        let calls = (0..count).map(|i| {
            let name = names[i % names.len()];
            let parameters = self
                .tools
                .iter()
                .find(|t| t.name == name)
                .map_or(&Value::Null, |t| &t.parameters);
            Call {
                name: name.to_owned(),
                arguments: schema::example_object(parameters),
            }
        });
        Some(calls.collect())
    }
}

/// `Saw 1 image (image/png, 68 bytes) and 2 documents (application/pdf, 9 bytes; https://…)`:
/// every image and document received, grouped by kind in order of first appearance.
fn describe<'a>(media: impl Iterator<Item = &'a Media>) -> String {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for m in media {
        match groups.iter_mut().find(|(kind, _)| *kind == m.kind) {
            Some((_, items)) => items.push(m.describe()),
            None => groups.push((m.kind, vec![m.describe()])),
        }
    }
    if groups.is_empty() {
        return "Saw nothing".to_owned();
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(kind, items)| {
            let plural = if items.len() == 1 { "" } else { "s" };
            format!("{} {kind}{plural} ({})", items.len(), items.join("; "))
        })
        .collect();
    format!("Saw {}", parts.join(" and "))
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Splits text into tokens that each end after a run of whitespace, so the
/// tokens concatenate back to exactly the original text.
fn pieces(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if !c.is_whitespace() && current.ends_with(char::is_whitespace) {
            tokens.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Splits a JSON text into pieces of at most [`FRAGMENT_CHARS`] characters, as
/// providers stream tool arguments and structured output: not at token or value
/// boundaries, so only the concatenation parses.
pub(crate) fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(FRAGMENT_CHARS)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

/// The log probability the mock gives the `i`th token of a reply: -0.125, -0.25,
/// -0.375, -0.5, then again (exact in binary, so tests can compare them). The
/// `k`th alternative at a position scores `k` less.
pub(crate) fn logprob(i: usize, k: usize) -> f64 {
    -0.125 * ((i % 4) + 1) as f64 - k as f64
}

/// The text of a message's content: a plain string, or the `text` of each part
/// of a content array (OpenAI parts, Anthropic blocks), joined by newlines.
pub(crate) fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text")?.as_str())
                .collect();
            texts.join("\n")
        }
        _ => String::new(),
    }
}

/// Applies `ttfb-MS`, then `status-N`: every response from here on is delayed,
/// and a requested status answers at once in the provider's error shape.
pub(crate) async fn gate(
    directives: &Directives,
    error: fn(StatusCode, &str) -> Response,
) -> Result<(), Response> {
    sleep(directives.ttfb).await;
    match directives.status {
        Some(status) => Err(error(
            status,
            &format!("mock: status-{} requested", status.as_u16()),
        )),
        None => Ok(()),
    }
}

/// A non-streaming reply takes as long as its stream would have; `false` when
/// `cut-K` asked for the connection to fail, which a non-streaming caller sees as a 500.
pub(crate) async fn generate(directives: &Directives, reply: &Reply) -> bool {
    let tokens = reply.thinking.len() + reply.completion_tokens();
    let emitted = directives.cut.map_or(tokens, |k| k.min(tokens));
    sleep(
        directives
            .delay
            .saturating_mul(u32::try_from(emitted).unwrap_or(u32::MAX)),
    )
    .await;
    directives.cut.is_none()
}

/// An error body in the provider's shape; a 429 carries `retry-after` as real
/// providers send it.
pub(crate) fn error_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("7"));
    }
    response
}

/// The frames of a streamed reply, in order. Token frames (text, thinking, tool
/// argument pieces) each wait `delay-MS` first and count towards `cut-K`; the
/// other frames (starts, stops, signatures, finish) go out at once.
#[derive(Default)]
pub(crate) struct Script {
    frames: Vec<(String, bool)>,
}

impl Script {
    /// A frame sent at once.
    pub(crate) fn frame(&mut self, frame: String) {
        self.frames.push((frame, false));
    }

    /// A token's frame: paced by `delay-MS`, counted by `cut-K`.
    pub(crate) fn token(&mut self, frame: String) {
        self.frames.push((frame, true));
    }
}

/// Streams the script through a channel so every frame is written and flushed
/// on its own, with real gaps between them.
pub(crate) fn stream(script: Script, directives: &Directives) -> Response {
    let (tx, rx) = mpsc::channel(1);
    let (delay, cut) = (directives.delay, directives.cut);
    tokio::spawn(async move {
        // A failed send only means the client hung up: nothing left to do.
        let _ = play(&tx, script, delay, cut).await;
    });
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    let headers = [
        (CONTENT_TYPE, "text/event-stream; charset=utf-8"),
        (CACHE_CONTROL, "no-cache"),
    ];
    (headers, Body::from_stream(frames)).into_response()
}

type Frame = io::Result<Bytes>;

/// With `cut-K` the connection drops before the (K+1)th token frame, or before
/// the frames after the last token (the finish and terminal events) when there
/// are K tokens or fewer: a client never sees the stream end cleanly.
async fn play(
    tx: &mpsc::Sender<Frame>,
    script: Script,
    delay: Duration,
    cut: Option<usize>,
) -> Result<(), mpsc::error::SendError<Frame>> {
    let last_token = script.frames.iter().rposition(|(_, token)| *token);
    let mut sent = 0;
    for (i, (frame, token)) in script.frames.into_iter().enumerate() {
        let terminal = last_token.is_none_or(|last| i > last);
        if cut.is_some_and(|k| (token && sent == k) || terminal) {
            // Let hyper flush what was sent, then fail the body: hyper then drops the
            // connection without the terminating chunk, as a crashed upstream would.
            sleep(Duration::from_millis(20)).await;
            return tx.send(Err(io::Error::other("mock: cut"))).await;
        }
        if token {
            sleep(delay).await;
            sent += 1;
        }
        tx.send(Ok(frame.into())).await?;
    }
    Ok(())
}

/// Ids that are unique within the process, for `chatcmpl-…`, `msg_…` and friends.
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_read_from_anywhere_in_the_model_name() {
        let d = Directives::parse(
            "mock-tokens-20-delay-50-cut-5-ttfb-100-echo-system-count-status-429",
        );
        assert_eq!(d.tokens, Some(20));
        assert_eq!(d.delay, Duration::from_millis(50));
        assert_eq!(d.ttfb, Duration::from_millis(100));
        assert_eq!(d.cut, Some(5));
        assert_eq!(d.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert!(d.echo_system && d.count);
    }

    #[test]
    fn real_model_names_and_malformed_directives_carry_no_directive() {
        for model in [
            "gpt-4o-mini",
            "claude-3-5-haiku-latest",
            "gemini-2.0-flash",
            "mock-tokens-x",
            "status-200",
            "system-echo",
            "tokens",
            "gemini-2.5-flash-thinking",
            "mock-tools",
            "mock-cached",
            "write-5",
            "not-missing",
        ] {
            assert_eq!(Directives::parse(model), Directives::default(), "{model}");
        }
    }

    #[test]
    fn feature_directives_are_read_too() {
        let d =
            Directives::parse("mock-tools-2-refuse-describe-cached-100-cache-write-30-unknown-ids");
        assert_eq!(d.calls, Some(2));
        assert_eq!((d.cached, d.cache_write), (100, 30));
        assert!(d.refuse && d.describe && d.unknown && d.call_ids);
        assert_eq!(Directives::parse("mock-tools-0").calls, Some(1));
        assert_eq!(Directives::parse("mock-tools-999").calls, Some(MAX_CALLS));
        assert!(Directives::parse("missing-model").unknown);
    }

    #[test]
    fn fragments_concatenate_back_to_the_json_text() {
        let text = r#"{"city":"Zürich","n":1}"#;
        let pieces = fragments(text);
        assert!(pieces.iter().all(|p| p.chars().count() <= FRAGMENT_CHARS));
        assert_eq!(pieces.concat(), text);
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn thinking_signatures_are_deterministic_and_bound_to_the_text() {
        let signature = thinking_signature("Thinking about: x");
        assert_eq!(signature, thinking_signature("Thinking about: x"));
        assert_ne!(signature, thinking_signature("Thinking about: y"));
        assert_eq!(signature.len(), 44, "base64 of 32 bytes");
    }

    #[test]
    fn pieces_concatenate_back_to_the_original_text() {
        let text = "You are\n  terse. Be kind ";
        let tokens = pieces(text);
        assert_eq!(tokens, ["You ", "are\n  ", "terse. ", "Be ", "kind "]);
        assert_eq!(tokens.concat(), text);
        assert!(pieces("").is_empty());
    }

    #[test]
    fn the_default_reply_echoes_the_last_user_message_and_honours_max_tokens() {
        let prompt = Prompt {
            system: "be brief".into(),
            turns: vec![
                Turn::text(true, "first".into()),
                Turn::text(false, "ok then".into()),
                Turn::text(true, "hello  there\nworld".into()),
            ],
            ..Prompt::default()
        };
        let reply = Reply::plan(&Directives::default(), &prompt);
        assert_eq!(reply.text(), "Echo: hello there world ");
        assert_eq!(
            (
                reply.prompt_tokens,
                reply.completion_tokens(),
                reply.truncated
            ),
            (8, 4, false)
        );

        let limited = Reply::plan(
            &Directives::default(),
            &Prompt {
                max_tokens: Some(2),
                ..prompt
            },
        );
        assert_eq!(
            (limited.text().as_str(), limited.truncated),
            ("Echo: hello ", true)
        );
    }
}
