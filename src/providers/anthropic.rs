//! Anthropic Messages API.

use super::{
    ended_early, json_headers, parse_json, sse::SseEvent, stream_error, to_json, ChatRequest,
    Chunk, Completion, ErrorDetail, FinishReason, HttpRequestSpec, ProviderKind, Role,
    StreamMapper, UpstreamError, UpstreamErrorKind, Usage, DEFAULT_MAX_TOKENS,
};
use crate::providers::model;
use serde::{Deserialize, Serialize};

pub const NAME: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";

const KIND: ProviderKind = ProviderKind::Anthropic;

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
}

/// Owned content: neighbouring turns of one role are joined (see below).
#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
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
    // Anthropic refuses empty text blocks, and two turns of one role in a row
    // are one turn to it anyway: drop the empty ones and join the neighbours.
    let mut turns: Vec<(Role, String)> = Vec::with_capacity(req.messages.len());
    for m in req.messages.iter() {
        let text = m.text();
        if text.trim().is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, content)) if *role == m.role => {
                content.push_str("\n\n");
                content.push_str(&text);
            }
            _ => turns.push((m.role, text)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| Message {
            role: match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content,
        })
        .collect();
    let body = Request {
        model: &req.model,
        max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        system: req.system.as_deref().filter(|s| !s.trim().is_empty()),
        messages,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: &req.stop,
        stream: req.stream,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
    };
    HttpRequestSpec {
        url: format!("{base}/v1/messages"),
        headers: json_headers([
            ("x-api-key", api_key.to_owned()),
            ("anthropic-version", API_VERSION.to_owned()),
        ]),
        body: to_json(&body),
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        content_block: Block,
    },
    ContentBlockDelta {
        delta: BlockDelta,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error,
    /// ping, content_block_stop, and whatever Anthropic adds next.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    /// input_json_delta, thinking_delta, signature_delta, ...
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

/// Cache reads and writes are input too: they count toward the prompt.
#[derive(Clone, Copy, Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    fn prompt(&self) -> Option<u64> {
        let parts = [
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        ];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

pub(super) fn error_detail(body: &[u8]) -> ErrorDetail {
    let Some(err) = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
    else {
        return ErrorDetail::default();
    };
    let kind = match err.kind.as_deref().unwrap_or_default() {
        "invalid_request_error" | "request_too_large" | "billing_error" => {
            Some(UpstreamErrorKind::BadRequest)
        }
        "authentication_error" | "permission_error" => Some(UpstreamErrorKind::Unauthorized),
        "not_found_error" => Some(UpstreamErrorKind::NotFound),
        "rate_limit_error" => Some(UpstreamErrorKind::RateLimited { retry_after: None }),
        "overloaded_error" => Some(UpstreamErrorKind::Overloaded),
        "api_error" | "timeout_error" => Some(UpstreamErrorKind::Server),
        _ => None,
    };
    ErrorDetail {
        message: err.message,
        kind,
        retry_after: None,
    }
}

fn finish_reason(s: &str) -> FinishReason {
    match s {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(super) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    let body: Body = parse_json(KIND, body)?;
    let usage = body.usage.map_or_else(Usage::default, |u| {
        Usage::new(
            u.prompt().unwrap_or_default(),
            u.output_tokens.unwrap_or_default(),
        )
    });
    let text: String = body
        .content
        .into_iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text)
        .collect();
    Ok(Completion {
        content: vec![model::Block::Text(text)],
        usage,
        finish_reason: body.stop_reason.as_deref().map(finish_reason),
        logprobs: None,
    })
}

/// Input tokens come with message_start, output tokens with the (last)
/// message_delta; both are reported once, with the stop reason, at message_stop.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    usage: Usage,
    stop_reason: Option<FinishReason>,
    done: bool,
}

impl StreamMapper for AnthropicStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        // The `event:` line repeats the payload's `type`, except when the payload is unreadable.
        if ev.event.as_deref() == Some("error") {
            return Err(stream_error(KIND, &ev.data));
        }
        let text = match parse_json::<Event>(KIND, ev.data.as_bytes())? {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.usage.prompt_tokens = u.prompt().unwrap_or_default();
                    self.usage.completion_tokens = u.output_tokens.unwrap_or_default();
                }
                return Ok(Vec::new());
            }
            Event::ContentBlockStart { content_block } if content_block.kind == "text" => {
                content_block.text
            }
            Event::ContentBlockDelta {
                delta: BlockDelta::TextDelta { text },
            } => Some(text),
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(finish_reason(&reason));
                }
                if let Some(u) = usage {
                    // Newer API versions repeat the input count here, cumulatively.
                    self.usage.prompt_tokens = u.prompt().unwrap_or(self.usage.prompt_tokens);
                    self.usage.completion_tokens =
                        u.output_tokens.unwrap_or(self.usage.completion_tokens);
                }
                return Ok(Vec::new());
            }
            Event::MessageStop => {
                self.done = true;
                let finish_reason = Some(self.stop_reason.take().unwrap_or(FinishReason::Stop));
                return Ok(vec![Chunk {
                    usage: Some(self.usage),
                    finish_reason,
                    ..Chunk::default()
                }]);
            }
            Event::Error => return Err(stream_error(KIND, &ev.data)),
            Event::ContentBlockStart { .. } | Event::ContentBlockDelta { .. } | Event::Other => {
                None
            }
        };
        Ok(text
            .filter(|t| !t.is_empty())
            .map(|text| Chunk {
                text,
                ..Chunk::default()
            })
            .into_iter()
            .collect())
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
    use serde_json::{json, Value};

    #[test]
    fn build_request_puts_system_on_top_and_always_sends_max_tokens() {
        let req = ChatRequest {
            model: "claude-3-5-haiku-latest".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("Hi"),
                Message::assistant(""), // a failed reply with no text
                Message::user("Still there?"),
                Message::assistant("Yes"),
            ],
            stop: vec!["END".into()],
            user: Some("u1".into()),
            stream: true,
            ..Default::default()
        };
        let spec = build_request("https://api.anthropic.com", "sk-ant-test", &req);
        assert_eq!(spec.url, "https://api.anthropic.com/v1/messages");
        assert!(spec
            .headers
            .contains(&("x-api-key".into(), "sk-ant-test".into())));
        assert!(spec
            .headers
            .contains(&("anthropic-version".into(), "2023-06-01".into())));
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-haiku-latest", "max_tokens": 4096, "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": "Hi\n\nStill there?"},
                    {"role": "assistant", "content": "Yes"}
                ],
                "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u1"}
            })
        );
        let small = ChatRequest {
            max_tokens: Some(10),
            temperature: Some(0.2),
            ..req
        };
        let body: Value = serde_json::from_str(&build_request("b", "k", &small).body).unwrap();
        assert_eq!(
            (body["max_tokens"].clone(), body["temperature"].clone()),
            (json!(10), json!(0.2))
        );
    }

    #[test]
    fn the_recorded_stream_maps_to_text_then_one_usage_chunk() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../tests/fixtures/sse/anthropic_stream.sse"),
        )
        .unwrap();
        let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            text,
            "Bonjour ! Voilà une réponse courte 🙂 — rien de plus."
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.usage, Some(Usage::new(14 + 3 + 8, 21)));
        assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            chunks
                .iter()
                .filter(|c| c.usage.is_some() || c.finish_reason.is_some())
                .count(),
            1
        );
    }

    #[test]
    fn an_error_frame_mid_stream_is_an_upstream_error() {
        let err = replay_whole(
            KIND,
            include_str!("../../tests/fixtures/sse/anthropic_error.sse"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            UpstreamError::new(UpstreamErrorKind::Overloaded, 0, "anthropic: Overloaded")
        );
        assert_eq!(err.http_status(), 503);
        let ev = SseEvent {
            event: Some("error".into()),
            data: r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
                .into(),
            id: None,
        };
        let err = AnthropicStream::default().on_event(&ev).unwrap_err();
        assert_eq!(
            err.kind,
            UpstreamErrorKind::RateLimited { retry_after: None }
        );
    }

    #[test]
    fn unknown_events_and_blocks_are_ignored_but_bad_json_is_not() {
        let ev = |event: &str, data: &str| SseEvent {
            event: Some(event.into()),
            data: data.into(),
            id: None,
        };
        let mut m = AnthropicStream::default();
        assert!(m
            .on_event(&ev("brand_new", r#"{"type":"brand_new","x":1}"#))
            .unwrap()
            .is_empty());
        let thinking = r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#;
        assert!(m
            .on_event(&ev("content_block_delta", thinking))
            .unwrap()
            .is_empty());
        let tool = r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#;
        assert!(m
            .on_event(&ev("content_block_start", tool))
            .unwrap()
            .is_empty());
        assert_eq!(
            m.on_event(&ev("message_delta", "{oops")).unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }

    #[test]
    fn a_cumulative_message_delta_usage_replaces_the_start_counts() {
        let ev = |data: &str| SseEvent {
            data: data.into(),
            ..Default::default()
        };
        let mut m = AnthropicStream::default();
        let start =
            r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}"#;
        assert!(m.on_event(&ev(start)).unwrap().is_empty());
        let delta = r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":12,"cache_read_input_tokens":5,"output_tokens":30}}"#;
        assert!(m.on_event(&ev(delta)).unwrap().is_empty());
        let last = m.on_event(&ev(r#"{"type":"message_stop"}"#)).unwrap();
        assert_eq!(last[0].usage, Some(Usage::new(17, 30)));
        assert_eq!(last[0].finish_reason, Some(FinishReason::Length));
        assert!(m.finish().is_ok());
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(
            finish_reason("pause_turn"),
            FinishReason::Other("pause_turn".into())
        );
    }

    #[test]
    fn non_streaming_bodies_parse() {
        let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[{"type":"text","text":"Hi "},{"type":"tool_use","id":"t","name":"f","input":{}},{"type":"text","text":"there"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(c.text(), "Hi there");
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(c.usage, Usage::new(12, 3));
    }
}
