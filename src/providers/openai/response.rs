//! Chat Completions replies and streams, read into the neutral model.

use super::super::{
    ended_early, parse_json, sse::SseEvent, stream_error, Block, Chunk, Completion, FinishReason,
    StreamMapper, ToolCall, ToolCallDelta, UpstreamError, Usage,
};
use super::KIND;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
    finish_reason: Option<String>,
    logprobs: Option<ChoiceLogprobs>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    refusal: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// `content` holds the answer's token entries; `refusal` (a refusal's) has no neutral field.
#[derive(Deserialize)]
struct ChoiceLogprobs {
    #[serde(default, deserialize_with = "null_as_empty")]
    content: Vec<Value>,
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    usage: Option<WireUsage>,
    /// Set (not null) when the provider reports a failure mid-stream.
    #[serde(default)]
    error: Value,
}

#[derive(Deserialize)]
struct StreamChoice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
    /// Relayed verbatim: `{"content": [...], "refusal": [...]}`, either possibly null.
    #[serde(default)]
    logprobs: Value,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCallDelta>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

impl From<WireToolCallDelta> for ToolCallDelta {
    fn from(d: WireToolCallDelta) -> Self {
        let (name, arguments) = d
            .function
            .map(|f| (f.name, f.arguments.unwrap_or_default()))
            .unwrap_or_default();
        ToolCallDelta {
            index: d.index,
            id: d.id,
            name,
            arguments,
            signature: None,
        }
    }
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Every count may be absent or null (other servers speaking Chat Completions omit the
/// details; OpenAI sends them with zeros).
#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptTokensDetails>,
    completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionTokensDetails {
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    /// OpenAI's counts are the neutral model's: `prompt_tokens` includes the cached (and
    /// cache-written) ones, `completion_tokens` the reasoning ones.
    fn from(u: WireUsage) -> Self {
        let prompt = u.prompt_tokens_details;
        let completion = u.completion_tokens_details;
        Usage {
            prompt_tokens: u.prompt_tokens.unwrap_or_default(),
            completion_tokens: u.completion_tokens.unwrap_or_default(),
            cached_prompt_tokens: prompt
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or_default(),
            cache_write_tokens: prompt
                .and_then(|d| d.cache_write_tokens)
                .unwrap_or_default(),
            reasoning_tokens: completion
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or_default(),
        }
    }
}

/// OpenAI ends a refusal with "stop", its text in `refusal`; the neutral model calls that
/// a refusal (what Anthropic's `stop_reason` says), and `FinishReason::as_openai` turns it
/// back into "stop" for Chat Completions clients.
fn finish_reason(s: &str, refused: bool) -> FinishReason {
    match s {
        "stop" if refused => FinishReason::Refusal,
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(in crate::providers) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    let body: Body = parse_json(KIND, body)?;
    let usage = body.usage.map(Usage::from).unwrap_or_default();
    let choice = body
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| UpstreamError::protocol("openai returned no choices"))?;
    let ResponseMessage {
        content,
        refusal,
        tool_calls,
    } = choice.message;
    let refusal = refusal.filter(|r| !r.is_empty());
    let finish_reason = choice
        .finish_reason
        .as_deref()
        .map(|r| finish_reason(r, refusal.is_some()));
    let mut blocks = Vec::new();
    if let Some(text) = content.filter(|t| !t.is_empty()) {
        blocks.push(Block::Text(text));
    }
    if let Some(refusal) = refusal {
        blocks.push(Block::Refusal(refusal));
    }
    blocks.extend(tool_calls.into_iter().map(|c| {
        Block::ToolCall(ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
            signature: None,
        })
    }));
    Ok(Completion {
        content: blocks,
        usage,
        finish_reason,
        logprobs: choice.logprobs.map(|l| l.content),
    })
}

/// `[DONE]` ends the stream; a finish_reason already means the reply is
/// whole (only the usage chunk can still be missing), so it counts too.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    terminal: bool,
    /// A refusal delta was seen: the "stop" that follows ends a refusal.
    refused: bool,
}

impl StreamMapper for OpenAiStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.terminal = true;
            return Ok(Vec::new());
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        // Parsed once, straight into its shape (this runs for every token); only a chunk that
        // does not fit is read again, to say why.
        let parsed: StreamChunk = match serde_json::from_slice(data.as_bytes()) {
            Ok(parsed) => parsed,
            Err(_) => {
                let value: Value = parse_json(KIND, data.as_bytes())?;
                if value.get("error").is_some_and(|e| !e.is_null()) {
                    return Err(stream_error(KIND, data));
                }
                return Err(UpstreamError::protocol(
                    "openai sent a chunk of an unexpected shape",
                ));
            }
        };
        if !parsed.error.is_null() {
            return Err(stream_error(KIND, data));
        }
        let mut chunk = Chunk {
            usage: parsed.usage.map(Usage::from),
            ..Chunk::default()
        };
        if let Some(choice) = parsed.choices.into_iter().next() {
            if let Some(delta) = choice.delta {
                chunk.text = delta.content.unwrap_or_default();
                chunk.refusal = delta.refusal.unwrap_or_default();
                chunk.tool_calls = delta.tool_calls.into_iter().map(Into::into).collect();
            }
            self.refused |= !chunk.refusal.is_empty();
            chunk.finish_reason = choice
                .finish_reason
                .as_deref()
                .map(|r| finish_reason(r, self.refused));
            chunk.logprobs = Some(choice.logprobs).filter(|l| !l.is_null());
        }
        self.terminal |= chunk.finish_reason.is_some();
        Ok(if chunk.is_empty() {
            Vec::new()
        } else {
            vec![chunk]
        })
    }

    fn finish(&mut self) -> Result<(), UpstreamError> {
        if self.terminal {
            Ok(())
        } else {
            Err(ended_early(KIND))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::super::{tests::replay_whole, UpstreamErrorKind};
    use super::*;
    use serde_json::json;

    fn fold(fixture: &str) -> (Vec<Chunk>, Completion) {
        let chunks = replay_whole(KIND, fixture).unwrap();
        let mut c = Completion::default();
        chunks.iter().for_each(|ch| c.push(ch));
        (chunks, c)
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
    fn the_recorded_stream_maps_to_text_finish_and_usage() {
        let (chunks, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_stream.sse"
        ));
        assert_eq!(c.text(), "Hello! Ça va? 🙂 How can I help you today?");
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(c.usage, Usage::new(19, 13));
        // Usage arrives once, in its own chunk after the finish reason.
        assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1);
        assert!(chunks.last().unwrap().usage.is_some());
    }

    #[test]
    fn the_recorded_tool_call_stream_keeps_the_deltas_verbatim() {
        let (_, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_tool_calls.sse"
        ));
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        let calls: Vec<_> = c.tool_calls().collect();
        assert_eq!(calls[0].id, "call_Fz0ccR5bGcRUqJ9vBhXlHzEe");
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, r#"{"location":"Paris, France"}"#);
        assert_eq!(c.usage.completion_tokens, 17);
    }

    // Fixtures recorded from the API by openai-python's tests (v. 2026-08, files under
    // .inline-snapshot/external/, Apache-2.0), kept byte for byte:
    // - openai_parallel_tool_calls.sse: f82268f2fefd…, test_parse_multiple_pydantic_tools
    // - openai_refusal.sse: 173417d55340…, test_parse_pydantic_model_refusal
    // - openai_logprobs.sse: 83b060bae42e…, test_content_logprobs_events
    // - openai_refusal_logprobs.sse: 569c877e6942…, test_refusal_logprobs_events
    // openai_usage_details.sse is written in their format (no recording has non-zero
    // details): the usage of OpenAI's prompt caching guide (2006 prompt tokens, 1920 of them
    // cached, 300 completion tokens) with 256 of the completion tokens reasoning, in the
    // API reference's `usage` shape.

    #[test]
    fn a_recorded_stream_of_parallel_tool_calls_gives_both_calls_in_order() {
        let (_, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_parallel_tool_calls.sse"
        ));
        assert_eq!(
            c.content,
            vec![
                call(
                    "call_JMW1whyEaYG438VE1OIflxA2",
                    "GetWeatherArgs",
                    r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#
                ),
                call(
                    "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                    "get_stock_price",
                    r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#
                ),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.usage, Usage::new(149, 60));
    }

    #[test]
    fn a_recorded_refusal_stream_is_a_refusal_block_ending_in_a_refusal() {
        let (chunks, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_refusal.sse"
        ));
        assert_eq!(
            c.content,
            vec![Block::Refusal(
                "I'm sorry, I can't assist with that request.".into()
            )]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
        assert_eq!(c.finish_reason.as_ref().unwrap().as_openai(), "stop");
        assert!(chunks.iter().all(|ch| ch.text.is_empty()));
        assert_eq!(c.logprobs, None);
    }

    #[test]
    fn a_recorded_logprobs_stream_relays_each_chunks_logprobs_verbatim() {
        let (chunks, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_logprobs.sse"
        ));
        assert_eq!(c.text(), "Foo!");
        let with_text: Vec<_> = chunks.iter().filter(|ch| !ch.text.is_empty()).collect();
        assert_eq!(
            with_text[0].logprobs,
            Some(
                json!({"content": [{"token": "Foo", "logprob": -0.0025094282, "bytes": [70, 111, 111], "top_logprobs": []}], "refusal": null})
            )
        );
        assert_eq!(
            c.logprobs,
            Some(vec![
                json!({"token": "Foo", "logprob": -0.0025094282, "bytes": [70, 111, 111], "top_logprobs": []}),
                json!({"token": "!", "logprob": -0.26638845, "bytes": [33], "top_logprobs": []}),
            ])
        );
    }

    #[test]
    fn a_recorded_refusal_with_logprobs_keeps_them_under_refusal() {
        let (chunks, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_refusal_logprobs.sse"
        ));
        assert_eq!(
            c.refusal(),
            Some("I'm very sorry, but I can't assist with that.")
        );
        let refusal_logprobs: usize = chunks
            .iter()
            .filter_map(|ch| ch.logprobs.as_ref()?["refusal"].as_array().map(Vec::len))
            .sum();
        assert_eq!(refusal_logprobs, 11);
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
    }

    #[test]
    fn a_stream_with_usage_details_reports_cached_and_reasoning_tokens() {
        let (_, c) = fold(include_str!(
            "../../../tests/fixtures/sse/openai_usage_details.sse"
        ));
        assert_eq!(c.text(), "The answer is 42.");
        assert_eq!(
            c.usage,
            Usage {
                prompt_tokens: 2006,
                completion_tokens: 300,
                cached_prompt_tokens: 1920,
                cache_write_tokens: 0,
                reasoning_tokens: 256,
            }
        );
    }

    #[test]
    fn stream_errors_unknown_fields_and_bad_json() {
        let ev = |data: &str| SseEvent {
            data: data.into(),
            ..Default::default()
        };
        let mut m = OpenAiStream::default();
        assert_eq!(
            m.on_event(&ev(
                r#"{"choices":[{"delta":{"content":"a","new_thing":1}}],"mystery":true}"#
            ))
            .unwrap()
            .len(),
            1
        );
        let err = m
            .on_event(&ev(
                r#"{"error":{"message":"The server had an error","type":"server_error"}}"#,
            ))
            .unwrap_err();
        assert_eq!(
            (&err.kind, err.status, err.http_status()),
            (&UpstreamErrorKind::Server, 0, 502)
        );
        assert_eq!(
            m.on_event(&ev("{not json")).unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
        assert!(m.finish().is_err());
    }

    #[test]
    fn non_streaming_bodies_parse() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(c.text(), "Hi there");
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(c.usage, Usage::new(5, 2));
        assert_eq!(c.tool_calls().count(), 0);
        assert_eq!(c.logprobs, None);
        assert_eq!(
            parse_completion(b"[]").unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }

    #[test]
    fn a_recorded_reply_with_parallel_tool_calls_parses_to_both_calls() {
        // openai-python tests/lib/chat/test_completions.py, test_parse_multiple_pydantic_tools.
        let body = br#"{"id": "chatcmpl-ABfvyvfNWKcl7Ohqos4UFrmMs1v4C", "object": "chat.completion", "created": 1727346166, "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_fdNz3vOBKYgOIpMdWotB9MjY", "type": "function", "function": {"name": "GetWeatherArgs", "arguments": "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}"}}, {"id": "call_h1DWI1POMJLb0KwIyQHWXD4p", "type": "function", "function": {"name": "get_stock_price", "arguments": "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}"}}], "refusal": null}, "logprobs": null, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 149, "completion_tokens": 60, "total_tokens": 209, "completion_tokens_details": {"reasoning_tokens": 0}}, "system_fingerprint": "fp_b40fb1c6fb"}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![
                call(
                    "call_fdNz3vOBKYgOIpMdWotB9MjY",
                    "GetWeatherArgs",
                    r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#
                ),
                call(
                    "call_h1DWI1POMJLb0KwIyQHWXD4p",
                    "get_stock_price",
                    r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#
                ),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.usage, Usage::new(149, 60));
    }

    #[test]
    fn a_recorded_refusal_reply_parses_to_a_refusal() {
        // openai-python tests/lib/chat/test_completions.py, test_parse_pydantic_model_refusal.
        let body = br#"{"id": "chatcmpl-ABfvwoKVWPQj2UPlAcAKM7s40GsRx", "object": "chat.completion", "created": 1727346164, "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "I'm very sorry, but I can't assist with that."}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 79, "completion_tokens": 12, "total_tokens": 91, "completion_tokens_details": {"reasoning_tokens": 0}}, "system_fingerprint": "fp_5050236cbd"}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(
            c.content,
            vec![Block::Refusal(
                "I'm very sorry, but I can't assist with that.".into()
            )]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
    }

    #[test]
    fn a_reply_with_logprobs_and_usage_details_keeps_both() {
        // The API reference's logprobs example, with the prompt caching guide's usage.
        let body = br#"{"id": "chatcmpl-123", "object": "chat.completion", "created": 1702685778, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I assist you today?"},
                "logprobs": {"content": [
                    {"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111], "top_logprobs": [
                        {"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111]},
                        {"token": "Hi", "logprob": -1.3190403, "bytes": [72, 105]}]},
                    {"token": "!", "logprob": -0.02380986, "bytes": [33], "top_logprobs": []}]},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 64, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": null}}}"#;
        let c = parse_completion(body).unwrap();
        let logprobs = c.logprobs.unwrap();
        assert_eq!(logprobs.len(), 2);
        assert_eq!(logprobs[0]["top_logprobs"][1]["token"], "Hi");
        assert_eq!(
            c.usage,
            Usage {
                prompt_tokens: 2006,
                completion_tokens: 300,
                cached_prompt_tokens: 1920,
                cache_write_tokens: 64,
                reasoning_tokens: 128,
            }
        );
        // Null counts are zero, not an error (other servers speaking Chat Completions).
        let sparse = br#"{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":null,"prompt_tokens_details":null}}"#;
        assert_eq!(parse_completion(sparse).unwrap().usage, Usage::new(1, 0));
    }
}
