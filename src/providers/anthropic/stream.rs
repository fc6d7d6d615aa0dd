//! Replies: a whole message body, and the event stream.

use super::KIND;
use crate::providers::{
    ended_early, model, parse_json, sse::SseEvent, stream_error, Chunk, Completion, FinishReason,
    StreamMapper, UpstreamError, Usage,
};
use serde::Deserialize;

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

fn finish_reason(s: &str) -> FinishReason {
    match s {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(in crate::providers) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
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
    use super::*;
    use crate::providers::{tests::replay_whole, UpstreamErrorKind};

    #[test]
    fn the_recorded_stream_maps_to_text_then_one_usage_chunk() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/anthropic_stream.sse"),
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
            include_str!("../../../tests/fixtures/sse/anthropic_error.sse"),
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
