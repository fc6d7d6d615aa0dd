//! Replies: a whole message body, and the event stream, into neutral blocks and chunks.
//!
//! A reply's content blocks map in order: `text` to text, `tool_use` to a tool call (its
//! `input` object as compact JSON text, keys in the model's order), `thinking` to signed
//! reasoning, `redacted_thinking` to redacted reasoning. Server tool blocks (web search…)
//! and block types Anthropic adds later are skipped: chatgate never asks for them. A refusal
//! keeps whatever text came before it and adds Anthropic's `stop_details.explanation`, when
//! there is one, as the refusal's text.

use super::{Json, KIND};
use crate::providers::{
    ended_early, parse_json, sse::SseEvent, stream_error, Block, Chunk, Completion, FinishReason,
    Reasoning, ReasoningDelta, StreamMapper, ToolCall, ToolCallDelta, UpstreamError, Usage,
};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: u32,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error,
    /// ping, and whatever Anthropic adds next.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<WireUsage>,
}

/// A content block, whole (a body) or as it starts (a stream).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Json,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// server_tool_use, web_search_tool_result, ... and new block types.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    /// citations_delta, and whatever Anthropic adds next.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
    stop_details: Option<StopDetails>,
}

#[derive(Deserialize)]
struct StopDetails {
    explanation: Option<String>,
}

/// Token counts as Anthropic reports them. In a stream the `message_delta` counts are
/// cumulative and may repeat only some fields, so the fields are merged one by one.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
struct OutputDetails {
    thinking_tokens: Option<u64>,
}

impl WireUsage {
    fn merge(&mut self, newer: &WireUsage) {
        let thinking = |u: &WireUsage| u.output_tokens_details.and_then(|d| d.thinking_tokens);
        self.output_tokens_details = thinking(newer).or(thinking(self)).map(|t| OutputDetails {
            thinking_tokens: Some(t),
        });
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
    }

    /// Cache reads and writes are prompt tokens too (`input_tokens` counts only the rest);
    /// thinking tokens are inside `output_tokens`.
    fn neutral(&self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or_default();
        let written = self.cache_creation_input_tokens.unwrap_or_default();
        Usage {
            prompt_tokens: self.input_tokens.unwrap_or_default() + cached + written,
            completion_tokens: self.output_tokens.unwrap_or_default(),
            cached_prompt_tokens: cached,
            cache_write_tokens: written,
            reasoning_tokens: self
                .output_tokens_details
                .and_then(|d| d.thinking_tokens)
                .unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    stop_details: Option<StopDetails>,
    usage: Option<WireUsage>,
}

pub(super) fn finish_reason(s: &str) -> FinishReason {
    match s {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::Refusal,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// A refusal's explanation, when the reply is one and Anthropic gave it.
fn refusal(stop_reason: Option<&str>, details: Option<StopDetails>) -> Option<String> {
    (stop_reason == Some("refusal"))
        .then_some(details?.explanation?)
        .filter(|e| !e.is_empty())
}

pub(in crate::providers) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    let body: Body = parse_json(KIND, body)?;
    let mut content: Vec<Block> = body
        .content
        .into_iter()
        .filter_map(|block| match block {
            WireBlock::Text { text } => (!text.is_empty()).then_some(Block::Text(text)),
            WireBlock::ToolUse { id, name, input } => Some(Block::ToolCall(ToolCall {
                id,
                name,
                arguments: input.to_text(),
                signature: None,
            })),
            WireBlock::Thinking {
                thinking,
                signature,
            } => Some(Block::Reasoning(Reasoning {
                text: thinking,
                signature: (!signature.is_empty()).then_some(signature),
                redacted: None,
            })),
            WireBlock::RedactedThinking { data } => Some(Block::Reasoning(Reasoning {
                redacted: Some(data),
                ..Reasoning::default()
            })),
            WireBlock::Other => None,
        })
        .collect();
    content.extend(refusal(body.stop_reason.as_deref(), body.stop_details).map(Block::Refusal));
    Ok(Completion {
        content,
        usage: body.usage.map(|u| u.neutral()).unwrap_or_default(),
        finish_reason: body.stop_reason.as_deref().map(finish_reason),
        logprobs: None,
    })
}

/// What an open content block of the stream is, by Anthropic's block index.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Text,
    /// The reply's n-th tool call; whether any argument text came yet.
    Call {
        index: u32,
        has_arguments: bool,
    },
    /// The reply's n-th reasoning block (thinking or redacted).
    Reasoning(u32),
    Skipped,
}

/// Maps Anthropic's content blocks to the reply's own numbering: tool calls and reasoning
/// blocks each count from 0 in the neutral chunks, whatever their block index. Input tokens
/// come with message_start, output tokens with the (last) message_delta; both are reported
/// once, with the stop reason, at message_stop.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    slots: HashMap<u32, Slot>,
    calls: u32,
    reasonings: u32,
    usage: WireUsage,
    stop_reason: Option<FinishReason>,
    done: bool,
}

impl AnthropicStream {
    fn start(&mut self, index: u32, block: WireBlock) -> Option<Chunk> {
        let (slot, chunk) = match block {
            WireBlock::Text { text } => (Slot::Text, (!text.is_empty()).then(|| Chunk::text(text))),
            WireBlock::ToolUse { id, name, input } => {
                // The input arrives in deltas; a non-empty one at the start would be whole.
                let arguments = match &input {
                    Json::Object(entries) if !entries.is_empty() => input.to_text(),
                    _ => String::new(),
                };
                let slot = Slot::Call {
                    index: self.calls,
                    has_arguments: !arguments.is_empty(),
                };
                let chunk = call_chunk(ToolCallDelta {
                    index: self.calls,
                    id: Some(id),
                    name: Some(name),
                    arguments,
                    signature: None,
                });
                self.calls += 1;
                (slot, Some(chunk))
            }
            WireBlock::Thinking {
                thinking,
                signature,
            } => {
                let index = self.next_reasoning();
                let delta = ReasoningDelta {
                    index,
                    text: thinking,
                    signature: (!signature.is_empty()).then_some(signature),
                    redacted: None,
                };
                let chunk = (!delta.text.is_empty() || delta.signature.is_some())
                    .then(|| reasoning_chunk(delta));
                (Slot::Reasoning(index), chunk)
            }
            WireBlock::RedactedThinking { data } => {
                let index = self.next_reasoning();
                let chunk = reasoning_chunk(ReasoningDelta {
                    index,
                    redacted: Some(data),
                    ..ReasoningDelta::default()
                });
                (Slot::Reasoning(index), Some(chunk))
            }
            WireBlock::Other => (Slot::Skipped, None),
        };
        self.slots.insert(index, slot);
        chunk
    }

    fn next_reasoning(&mut self) -> u32 {
        self.reasonings += 1;
        self.reasonings - 1
    }

    fn delta(&mut self, index: u32, delta: BlockDelta) -> Option<Chunk> {
        let slot = self.slots.get_mut(&index);
        match (delta, slot) {
            (BlockDelta::TextDelta { text }, Some(Slot::Text)) if !text.is_empty() => {
                Some(Chunk::text(text))
            }
            (
                BlockDelta::InputJsonDelta { partial_json },
                Some(Slot::Call {
                    index,
                    has_arguments,
                }),
            ) if !partial_json.is_empty() => {
                *has_arguments = true;
                Some(call_chunk(ToolCallDelta {
                    index: *index,
                    arguments: partial_json,
                    ..ToolCallDelta::default()
                }))
            }
            (BlockDelta::ThinkingDelta { thinking }, Some(Slot::Reasoning(index)))
                if !thinking.is_empty() =>
            {
                Some(reasoning_chunk(ReasoningDelta {
                    index: *index,
                    text: thinking,
                    ..ReasoningDelta::default()
                }))
            }
            (BlockDelta::SignatureDelta { signature }, Some(Slot::Reasoning(index))) => {
                Some(reasoning_chunk(ReasoningDelta {
                    index: *index,
                    signature: Some(signature),
                    ..ReasoningDelta::default()
                }))
            }
            _ => None,
        }
    }

    /// A call that got no argument text has `{}`, as its whole `input` would read.
    fn stop(&mut self, index: u32) -> Option<Chunk> {
        match self.slots.remove(&index)? {
            Slot::Call {
                index,
                has_arguments: false,
            } => Some(call_chunk(ToolCallDelta {
                index,
                arguments: Json::empty_object().to_text(),
                ..ToolCallDelta::default()
            })),
            _ => None,
        }
    }
}

fn call_chunk(delta: ToolCallDelta) -> Chunk {
    Chunk {
        tool_calls: vec![delta],
        ..Chunk::default()
    }
}

fn reasoning_chunk(delta: ReasoningDelta) -> Chunk {
    Chunk {
        reasoning: Some(delta),
        ..Chunk::default()
    }
}

impl StreamMapper for AnthropicStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        // The `event:` line repeats the payload's `type`, except when the payload is unreadable.
        if ev.event.as_deref() == Some("error") {
            return Err(stream_error(KIND, &ev.data));
        }
        let chunk = match parse_json::<Event>(KIND, ev.data.as_bytes())? {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.usage.merge(&u);
                }
                None
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => self.start(index, content_block),
            Event::ContentBlockDelta { index, delta } => self.delta(index, delta),
            Event::ContentBlockStop { index } => self.stop(index),
            Event::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.usage.merge(&u);
                }
                let explanation = refusal(delta.stop_reason.as_deref(), delta.stop_details);
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(finish_reason(&reason));
                }
                explanation.map(|refusal| Chunk {
                    refusal,
                    ..Chunk::default()
                })
            }
            Event::MessageStop => {
                self.done = true;
                Some(Chunk {
                    usage: Some(self.usage.neutral()),
                    finish_reason: Some(self.stop_reason.take().unwrap_or(FinishReason::Stop)),
                    ..Chunk::default()
                })
            }
            Event::Error => return Err(stream_error(KIND, &ev.data)),
            Event::Other => None,
        };
        Ok(chunk.into_iter().collect())
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
    use crate::providers::{
        tests::replay_whole, Block, Reasoning, ReasoningDelta, ToolCall, ToolCallDelta,
        UpstreamErrorKind,
    };

    fn fold(chunks: &[Chunk]) -> Completion {
        let mut c = Completion::default();
        chunks.iter().for_each(|chunk| c.push(chunk));
        c
    }

    fn event(data: &str) -> SseEvent {
        let kind = serde_json::from_str::<serde_json::Value>(data).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_owned();
        SseEvent {
            event: Some(kind),
            data: data.into(),
            id: None,
        }
    }

    /// Feeds events one by one and returns every chunk.
    fn map(events: &[&str]) -> Vec<Chunk> {
        let mut m = AnthropicStream::default();
        let mut chunks = Vec::new();
        for data in events {
            chunks.extend(m.on_event(&event(data)).unwrap());
        }
        m.finish().unwrap();
        chunks
    }

    fn call(id: &str, name: &str, arguments: &str) -> Block {
        Block::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        })
    }

    #[test]
    fn the_recorded_stream_maps_to_text_then_one_usage_chunk_with_cache_details() {
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
        // Cache reads and writes are prompt tokens too, and are told apart.
        let usage = Usage {
            cached_prompt_tokens: 8,
            cache_write_tokens: 3,
            ..Usage::new(14 + 3 + 8, 21)
        };
        assert_eq!(last.usage, Some(usage));
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
    fn the_documented_tool_use_stream_is_text_then_one_call_with_its_arguments_whole() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/anthropic_tool_use.sse"),
        )
        .unwrap();
        // The call is Anthropic's content block 1, but the reply's first call: index 0.
        let deltas: Vec<&ToolCallDelta> = chunks.iter().flat_map(|c| &c.tool_calls).collect();
        assert!(deltas.iter().all(|d| d.index == 0), "{deltas:?}");
        assert_eq!(
            deltas[0].id.as_deref(),
            Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6")
        );
        assert_eq!(deltas[0].name.as_deref(), Some("get_weather"));
        assert!(deltas[1..]
            .iter()
            .all(|d| d.id.is_none() && d.name.is_none()));
        let reply = fold(&chunks);
        assert_eq!(
            reply.content,
            vec![
                Block::Text("Okay, let's check the weather for San Francisco, CA:".into()),
                call(
                    "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "get_weather",
                    r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#
                ),
            ]
        );
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(reply.usage, Usage::new(472, 89));
    }

    #[test]
    fn the_documented_thinking_stream_is_a_signed_reasoning_block_then_text() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/anthropic_thinking.sse"),
        )
        .unwrap();
        let reply = fold(&chunks);
        assert_eq!(
            reply.content,
            vec![
                Block::Reasoning(Reasoning {
                    text:
                        "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n\
                           1071 = 2 × 462 + 147\n462 = 3 × 147 + 21\n147 = 7 × 21 + 0\n\n\
                           So GCD(1071, 462) = 21"
                            .into(),
                    signature: Some(
                        "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...".into()
                    ),
                    redacted: None,
                }),
                Block::Text("The greatest common divisor of 1071 and 462 is **21**.".into()),
            ]
        );
        // The signature comes alone, after the text of its block.
        let signed: Vec<&ReasoningDelta> = chunks
            .iter()
            .filter_map(|c| c.reasoning.as_ref())
            .filter(|r| r.signature.is_some())
            .collect();
        assert_eq!(signed.len(), 1);
        assert!(signed[0].text.is_empty());
        assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
        assert_eq!(reply.usage, Usage::default());
    }

    #[test]
    fn a_streamed_refusal_keeps_its_text_and_ends_as_a_refusal_with_the_explanation() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/anthropic_refusal.sse"),
        )
        .unwrap();
        let reply = fold(&chunks);
        assert_eq!(
            reply.content,
            vec![
                Block::Text("Hello..".into()),
                Block::Refusal(
                    "This request was declined because it could enable cyber harm.".into()
                ),
            ]
        );
        assert_eq!(reply.finish_reason, Some(FinishReason::Refusal));
        assert_eq!(reply.usage, Usage::new(12, 3));
    }

    #[test]
    fn call_and_reasoning_indexes_count_the_replys_own_calls_and_reasoning_blocks() {
        let chunks = map(&[
            r#"{"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two calls."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-a"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"opaque=="}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_a","name":"clock","input":{}}}"#,
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_stop","index":3}"#,
            r#"{"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"toolu_b","name":"weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}"#,
            r#"{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
            r#"{"type":"content_block_stop","index":4}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40,"output_tokens_details":{"thinking_tokens":25}}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let tool_indexes: Vec<u32> = chunks
            .iter()
            .flat_map(|c| &c.tool_calls)
            .map(|d| d.index)
            .collect();
        assert!(tool_indexes.contains(&1) && tool_indexes.iter().all(|i| *i <= 1));
        let reply = fold(&chunks);
        assert_eq!(
            reply.content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "Two calls.".into(),
                    signature: Some("sig-a".into()),
                    redacted: None,
                }),
                Block::Reasoning(Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some("opaque==".into()),
                }),
                // A call without arguments still has a JSON object for them.
                call("toolu_a", "clock", "{}"),
                call("toolu_b", "weather", r#"{"city": "Paris"}"#),
            ]
        );
        assert_eq!(
            reply.usage,
            Usage {
                reasoning_tokens: 25,
                ..Usage::new(9, 40)
            }
        );
    }

    #[test]
    fn a_cumulative_message_delta_usage_replaces_the_start_counts() {
        let chunks = map(&[
            r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":4,"output_tokens":1}}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":12,"cache_read_input_tokens":5,"output_tokens":30}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let last = chunks.last().unwrap();
        // The write count the delta did not repeat is kept.
        let usage = Usage {
            cached_prompt_tokens: 5,
            cache_write_tokens: 4,
            ..Usage::new(12 + 5 + 4, 30)
        };
        assert_eq!(last.usage, Some(usage));
        assert_eq!(last.finish_reason, Some(FinishReason::Length));
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
    fn unknown_events_blocks_and_deltas_are_ignored_but_bad_json_is_not() {
        let mut m = AnthropicStream::default();
        for data in [
            r#"{"type":"brand_new","x":1}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"brand_new_block","x":{}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"brand_new_delta","x":1}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"ping"}"#,
        ] {
            assert_eq!(m.on_event(&event(data)).unwrap(), Vec::new(), "{data}");
        }
        let bad = SseEvent {
            event: Some("message_delta".into()),
            data: "{oops".into(),
            id: None,
        };
        assert_eq!(
            m.on_event(&bad).unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(
            finish_reason("model_context_window_exceeded"),
            FinishReason::Length
        );
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("refusal"), FinishReason::Refusal);
        assert_eq!(
            finish_reason("pause_turn"),
            FinishReason::Other("pause_turn".into())
        );
    }

    #[test]
    fn a_whole_body_keeps_its_blocks_in_order_and_call_arguments_in_key_order() {
        let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[{"type":"text","text":"Hi "},{"type":"tool_use","id":"t","name":"f","input":{"b":1,"a":{"y":[1,2.5,"x",null,true,-3],"x":{}}}},{"type":"text","text":"there"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![
                Block::Text("Hi ".into()),
                call(
                    "t",
                    "f",
                    r#"{"b":1,"a":{"y":[1,2.5,"x",null,true,-3],"x":{}}}"#
                ),
                Block::Text("there".into()),
            ]
        );
        assert_eq!(c.text(), "Hi there");
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(c.usage, Usage::new(12, 3));
    }

    #[test]
    fn the_documented_thinking_and_tool_use_body_maps_block_for_block() {
        // Anthropic's extended-thinking docs ("Passing thinking blocks with tool results"),
        // with a redacted block and a server tool block added.
        let body = br#"{"content":[{"type":"thinking","thinking":"The user wants to know the current weather in Paris. I have access to a function `get_weather`...","signature":"BDaL4VrbR2Oj0hO4XpJxT28J5TILnCrrUXoKiiNBZW9P+nr8XSj1zuZzAl4egiCCpQNvfyUuFFJP5CncdYZEQPPmLxYsNrcs...."},{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"x"}},{"type":"text","text":"I can help you get the current weather information for Paris. Let me check that for you"},{"type":"tool_use","id":"toolu_01CswdEQBMshySk6Y9DFKrfq","name":"get_weather","input":{"location":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":50,"cache_read_input_tokens":20,"output_tokens":80,"output_tokens_details":{"thinking_tokens":60}}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "The user wants to know the current weather in Paris. I have access to a function `get_weather`...".into(),
                    signature: Some("BDaL4VrbR2Oj0hO4XpJxT28J5TILnCrrUXoKiiNBZW9P+nr8XSj1zuZzAl4egiCCpQNvfyUuFFJP5CncdYZEQPPmLxYsNrcs....".into()),
                    redacted: None,
                }),
                Block::Reasoning(Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some("EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP".into()),
                }),
                Block::Text("I can help you get the current weather information for Paris. Let me check that for you".into()),
                call("toolu_01CswdEQBMshySk6Y9DFKrfq", "get_weather", r#"{"location":"Paris"}"#),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            c.usage,
            Usage {
                cached_prompt_tokens: 20,
                reasoning_tokens: 60,
                ..Usage::new(70, 80)
            }
        );
    }

    #[test]
    fn the_documented_refusal_body_is_its_text_then_the_explanation() {
        let body = br#"{"role":"assistant","content":[{"type":"text","text":"Hello.."}],"stop_reason":"refusal","stop_details":{"type":"refusal","category":"cyber","explanation":"This request was declined because it could enable cyber harm."}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![
                Block::Text("Hello..".into()),
                Block::Refusal(
                    "This request was declined because it could enable cyber harm.".into()
                ),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
        // Without an explanation (or with an empty text block) nothing is invented.
        let body = br#"{"content":[{"type":"text","text":""}],"stop_reason":"refusal","stop_details":{"type":"refusal","category":null,"explanation":null}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(c.content, Vec::new());
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
    }
}
