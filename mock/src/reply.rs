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
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::sleep;

/// The one key every provider rejects, so tests can exercise an invalid key.
pub(crate) const BAD_KEY: &str = "sk-bad";

/// A typo such as `tokens-99999999999` must not exhaust memory.
const MAX_TOKENS: usize = 100_000;

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
}

impl Directives {
    /// Directives are `-`-separated parts anywhere in the name; anything else is
    /// ignored, so real model names (`gpt-4o-mini`) simply echo.
    pub(crate) fn parse(model: &str) -> Self {
        let parts: Vec<&str> = model.split('-').collect();
        let mut directives = Self::default();
        for (i, part) in parts.iter().enumerate() {
            let number = parts.get(i + 1).and_then(|n| n.parse::<u64>().ok());
            match (*part, number) {
                ("tokens", Some(n)) => directives.tokens = Some((n as usize).min(MAX_TOKENS)),
                ("delay", Some(ms)) => directives.delay = Duration::from_millis(ms),
                ("ttfb", Some(ms)) => directives.ttfb = Duration::from_millis(ms),
                ("cut", Some(k)) => directives.cut = Some(k as usize),
                ("status", Some(code)) => {
                    directives.status = u16::try_from(code)
                        .ok()
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .filter(|s| s.is_client_error() || s.is_server_error());
                }
                ("system", _) if i > 0 && parts[i - 1] == "echo" => directives.echo_system = true,
                ("count", _) => directives.count = true,
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
}

#[derive(Debug)]
pub(crate) struct Turn {
    pub from_user: bool,
    pub text: String,
}

/// The deterministic answer to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub tokens: Vec<String>,
    pub prompt_tokens: usize,
    /// The reply was cut to the request's output limit.
    pub truncated: bool,
}

impl Reply {
    /// Precedence when several apply: `tokens-N`, then `echo-system`, then `count`,
    /// then the default echo of the last user message.
    pub(crate) fn plan(directives: &Directives, prompt: &Prompt) -> Self {
        let mut tokens = if let Some(n) = directives.tokens {
            (0..n).map(|i| format!("tok{i} ")).collect()
        } else if directives.echo_system {
            pieces(&prompt.system)
        } else if directives.count {
            pieces(&format!("{} messages", prompt.turns.len()))
        } else {
            let last_user = prompt.turns.iter().rev().find(|t| t.from_user);
            let words = last_user
                .map(|t| t.text.split_whitespace())
                .into_iter()
                .flatten();
            std::iter::once("Echo: ".to_owned())
                .chain(words.map(|w| format!("{w} ")))
                .collect()
        };
        let truncated = prompt.max_tokens.is_some_and(|max| tokens.len() > max);
        tokens.truncate(prompt.max_tokens.unwrap_or(usize::MAX));
        let prompt_tokens =
            words(&prompt.system) + prompt.turns.iter().map(|t| words(&t.text)).sum::<usize>();
        Self {
            tokens,
            prompt_tokens,
            truncated,
        }
    }

    pub(crate) fn text(&self) -> String {
        self.tokens.concat()
    }

    pub(crate) fn completion_tokens(&self) -> usize {
        self.tokens.len()
    }
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
    let emitted = directives
        .cut
        .map_or(reply.tokens.len(), |k| k.min(reply.tokens.len()));
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

/// The frames of a streamed reply: `head` at once, one frame per token (each
/// after `delay-MS`), then `tail` — unless `cut-K` drops the connection first.
pub(crate) struct Script {
    pub head: Vec<String>,
    pub tokens: Vec<String>,
    pub tail: Vec<String>,
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

async fn play(
    tx: &mpsc::Sender<Frame>,
    script: Script,
    delay: Duration,
    cut: Option<usize>,
) -> Result<(), mpsc::error::SendError<Frame>> {
    for frame in script.head {
        tx.send(Ok(frame.into())).await?;
    }
    for frame in script.tokens.into_iter().take(cut.unwrap_or(usize::MAX)) {
        sleep(delay).await;
        tx.send(Ok(frame.into())).await?;
    }
    if cut.is_some() {
        // Let hyper flush what was sent, then fail the body: hyper then drops the
        // connection without the terminating chunk, as a crashed upstream would.
        sleep(Duration::from_millis(20)).await;
        return tx.send(Err(io::Error::other("mock: cut"))).await;
    }
    for frame in script.tail {
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
        ] {
            assert_eq!(Directives::parse(model), Directives::default(), "{model}");
        }
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
                Turn {
                    from_user: true,
                    text: "first".into(),
                },
                Turn {
                    from_user: false,
                    text: "ok then".into(),
                },
                Turn {
                    from_user: true,
                    text: "hello  there\nworld".into(),
                },
            ],
            max_tokens: None,
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
