//! `GenerateContentResponse`s, whole or one per SSE event, mapped to neutral chunks. A
//! whole response goes through the same mapper and is folded, so both read the same.

use super::{error_detail, finish_reason, generated_id, KIND};
use crate::providers::{
    ended_early, parse_json, sse::SseEvent, stream_error, Chunk, Completion, FinishReason,
    ReasoningDelta, StreamMapper, ToolCallDelta, UpstreamError, Usage,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    /// An error in a 200 stream.
    error: Option<Value>,
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
    logprobs_result: Option<LogprobsResult>,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<ResponsePart>,
}

/// Parts of other kinds (code execution, images) carry no text and are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponsePart {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    thought_signature: Option<String>,
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    #[serde(default)]
    name: String,
    args: Option<CompactJson>,
}

/// A JSON value written back compactly as it is read, its keys in the order the model
/// wrote them (serde_json's `Value` would sort them).
struct CompactJson(String);

impl<'de> Deserialize<'de> for CompactJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut out = String::new();
        Writer {
            out: &mut out,
            comma: false,
        }
        .deserialize(deserializer)?;
        Ok(CompactJson(out))
    }
}

/// Writes one value to `out`, after a comma when it is not the first of its container.
struct Writer<'a> {
    out: &'a mut String,
    comma: bool,
}

impl<'de> DeserializeSeed<'de> for Writer<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.comma {
            self.out.push(',');
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Writer<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.out.push_str(&Value::from(v).to_string());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out.push_str(&Value::from(v).to_string());
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push('[');
        let mut comma = false;
        while let Some(()) = seq.next_element_seed(Writer {
            out: &mut *self.out,
            comma,
        })? {
            comma = true;
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push('{');
        let mut comma = false;
        while let Some(()) = map.next_key_seed(Writer {
            out: &mut *self.out,
            comma,
        })? {
            self.out.push(':');
            map.next_value_seed(Writer {
                out: &mut *self.out,
                comma: false,
            })?;
            comma = true;
        }
        self.out.push('}');
        Ok(())
    }
}

/// Thinking tokens are billed as output, and OpenAI and Anthropic count theirs in the
/// completion too, so they are added to the candidates'. Proto3 JSON leaves zeros out.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    /// Input too: what server-side tools read (chatgate declares none, but it is billed).
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl From<UsageMetadata> for Usage {
    fn from(u: UsageMetadata) -> Self {
        Usage {
            prompt_tokens: u.prompt_token_count + u.tool_use_prompt_token_count,
            completion_tokens: u.candidates_token_count + u.thoughts_token_count,
            cached_prompt_tokens: u.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: u.thoughts_token_count,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogprobsResult {
    #[serde(default)]
    top_candidates: Vec<TopCandidates>,
    #[serde(default)]
    chosen_candidates: Vec<LogprobCandidate>,
}

#[derive(Deserialize)]
struct TopCandidates {
    #[serde(default)]
    candidates: Vec<LogprobCandidate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogprobCandidate {
    #[serde(default)]
    token: String,
    #[serde(default)]
    log_probability: f64,
}

/// OpenAI's `{"content": [{token, logprob, bytes, top_logprobs}]}`: step i's chosen token
/// with step i's top candidates.
fn openai_logprobs(result: LogprobsResult) -> Option<Value> {
    let entry = |c: &LogprobCandidate| json!({"token": c.token, "logprob": c.log_probability, "bytes": c.token.as_bytes()});
    let content: Vec<Value> = result
        .chosen_candidates
        .iter()
        .enumerate()
        .map(|(i, chosen)| {
            let top: Vec<Value> = result
                .top_candidates
                .get(i)
                .map(|t| t.candidates.iter().map(entry).collect())
                .unwrap_or_default();
            let mut e = entry(chosen);
            e["top_logprobs"] = Value::Array(top);
            e
        })
        .collect();
    (!content.is_empty()).then(|| json!({ "content": content }))
}

/// Where a reply is in its parts, across the events of a stream: reasoning blocks and
/// tool calls are numbered in order, as `Completion::push` folds them.
#[derive(Debug, Default)]
struct Parts {
    reasoning_blocks: u32,
    /// The reasoning block thought parts still add to: until a part of another kind, or
    /// the signature that ends it.
    open_reasoning: Option<u32>,
    tool_calls: u32,
}

impl Parts {
    fn new_reasoning(&mut self) -> u32 {
        self.reasoning_blocks += 1;
        self.reasoning_blocks - 1
    }

    /// One part as chunks, in order: a thought as reasoning; a function call, whole, as
    /// one tool call; text as text, its signature (if any) first, as a reasoning block of
    /// its own that a request puts back on that text.
    fn map(&mut self, part: ResponsePart, out: &mut Vec<Chunk>) {
        let signature = part.thought_signature.filter(|s| !s.is_empty());
        if let Some(call) = part.function_call {
            self.open_reasoning = None;
            let index = self.tool_calls;
            self.tool_calls += 1;
            out.push(Chunk {
                tool_calls: vec![ToolCallDelta {
                    index,
                    id: Some(
                        call.id
                            .filter(|id| !id.is_empty())
                            .unwrap_or_else(|| generated_id(index)),
                    ),
                    name: Some(call.name),
                    arguments: call.args.map_or_else(|| "{}".to_owned(), |a| a.0),
                    signature,
                }],
                ..Chunk::default()
            });
            return;
        }
        let text = part.text.unwrap_or_default();
        if part.thought {
            if text.is_empty() && signature.is_none() {
                return;
            }
            let index = match self.open_reasoning {
                Some(index) => index,
                None => self.new_reasoning(),
            };
            // A signature ends the thought it signs.
            self.open_reasoning = signature.is_none().then_some(index);
            out.push(Chunk {
                reasoning: Some(ReasoningDelta {
                    index,
                    text,
                    signature,
                    redacted: None,
                }),
                ..Chunk::default()
            });
            return;
        }
        self.open_reasoning = None;
        // The signature in a chunk of its own, so no reader can put it after the text.
        if let Some(signature) = signature {
            out.push(Chunk {
                reasoning: Some(ReasoningDelta {
                    index: self.new_reasoning(),
                    text: String::new(),
                    signature: Some(signature),
                    redacted: None,
                }),
                ..Chunk::default()
            });
        }
        if !text.is_empty() {
            out.push(Chunk::text(text));
        }
    }
}

/// What one response says beyond its parts.
struct Tail {
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    logprobs: Option<Value>,
}

fn map_response(parts: &mut Parts, r: Response, out: &mut Vec<Chunk>) -> Tail {
    let usage = r.usage_metadata.map(Usage::from);
    // A blocked prompt has no candidate at all, only the feedback.
    let blocked = r
        .prompt_feedback
        .and_then(|f| f.block_reason)
        .map(|_| FinishReason::ContentFilter);
    let Some(candidate) = r.candidates.into_iter().next() else {
        return Tail {
            finish_reason: blocked,
            usage,
            logprobs: None,
        };
    };
    for part in candidate.content.into_iter().flat_map(|c| c.parts) {
        parts.map(part, out);
    }
    let finish = candidate.finish_reason.as_deref().map(|reason| {
        match finish_reason(reason) {
            // Gemini ends a reply of function calls with STOP.
            FinishReason::Stop if parts.tool_calls > 0 => FinishReason::ToolCalls,
            other => other,
        }
    });
    Tail {
        finish_reason: finish.or(blocked),
        usage,
        logprobs: candidate.logprobs_result.and_then(openai_logprobs),
    }
}

pub(in crate::providers) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    if error_detail(body).message.is_some() {
        return Err(stream_error(KIND, &String::from_utf8_lossy(body)));
    }
    let response: Response = parse_json(KIND, body)?;
    let mut chunks = Vec::new();
    let tail = map_response(&mut Parts::default(), response, &mut chunks);
    let mut completion = Completion::default();
    for chunk in &chunks {
        completion.push(chunk);
    }
    completion.push(&Chunk {
        finish_reason: tail.finish_reason,
        usage: tail.usage,
        logprobs: tail.logprobs,
        ..Chunk::default()
    });
    Ok(completion)
}

/// Every event repeats the usage so far; it is reported with the finish
/// reason, and again only if a later event changes it.
#[derive(Debug, Default)]
pub struct GeminiStream {
    parts: Parts,
    usage: Option<Usage>,
    reported: Option<Usage>,
    done: bool,
}

impl StreamMapper for GeminiStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        if ev.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        // Read straight from the text: a `Value` would sort the arguments' keys.
        let response: Response = parse_json(KIND, ev.data.as_bytes())?;
        if response.error.as_ref().is_some_and(|e| !e.is_null()) {
            return Err(stream_error(KIND, &ev.data));
        }
        let mut chunks = Vec::new();
        let tail = map_response(&mut self.parts, response, &mut chunks);
        self.usage = tail.usage.or(self.usage);
        self.done |= tail.finish_reason.is_some();
        let mut end = Chunk {
            finish_reason: tail.finish_reason,
            logprobs: tail.logprobs,
            ..Chunk::default()
        };
        if self.done && self.usage != self.reported {
            end.usage = self.usage;
            self.reported = self.usage;
        }
        if !end.is_empty() {
            // On the event's last chunk, or alone.
            match chunks.last_mut() {
                Some(last) => {
                    last.finish_reason = end.finish_reason;
                    last.usage = end.usage;
                    last.logprobs = end.logprobs;
                }
                None => chunks.push(end),
            }
        }
        Ok(chunks)
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
    use crate::providers::{tests::replay_whole, Block, Reasoning, ToolCall, UpstreamErrorKind};

    fn fold(chunks: &[Chunk]) -> Completion {
        let mut c = Completion::default();
        for chunk in chunks {
            c.push(chunk);
        }
        c
    }

    fn event(data: &str) -> SseEvent {
        SseEvent {
            data: data.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_recorded_stream_maps_text_finish_and_usage_with_thoughts() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/gemini_stream.sse"),
        )
        .unwrap();
        let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            text,
            "Voici une réponse courte 🙂, avec des accents : é, à, ç.\nEt une deuxième ligne."
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            last.usage,
            Some(Usage {
                reasoning_tokens: 52,
                ..Usage::new(11, 24 + 52)
            })
        );
        assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1);
    }

    #[test]
    fn streamed_parallel_function_calls_keep_their_order_signature_and_finish_as_tool_calls() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/gemini_function_calls.sse"),
        )
        .unwrap();
        let deltas: Vec<&ToolCallDelta> = chunks.iter().flat_map(|c| &c.tool_calls).collect();
        assert_eq!(deltas.len(), 2, "each call comes whole, once");
        let c = fold(&chunks);
        assert_eq!(
            c.content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "**Checking both cities**\nThe user wants the temperature in Paris and London, so I will call the tool twice.".into(),
                    signature: None,
                    redacted: None,
                }),
                Block::ToolCall(ToolCall {
                    id: "call_0".into(),
                    name: "get_current_temperature".into(),
                    arguments: r#"{"location":"Paris"}"#.into(),
                    signature: Some("CiQBcsjafE2Yb6uZz1ci/q3z3Lgc5cPjAcONNmbYNZ4nHiNcV8cKagFyyNp8".into()),
                }),
                Block::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_current_temperature".into(),
                    arguments: r#"{"location":"London"}"#.into(),
                    signature: None,
                }),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            c.usage,
            Usage {
                reasoning_tokens: 97,
                ..Usage::new(74, 36 + 97)
            }
        );
    }

    #[test]
    fn a_streamed_thinking_reply_puts_thoughts_first_and_keeps_the_closing_signature() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/gemini_thinking.sse"),
        )
        .unwrap();
        let c = fold(&chunks);
        assert_eq!(c.content.len(), 3, "{:?}", c.content);
        let Block::Reasoning(thought) = &c.content[0] else {
            panic!("{:?}", c.content)
        };
        assert!(thought.text.starts_with("**Defining the scattering**"));
        assert_eq!(thought.signature, None);
        assert!(c.text().starts_with("The sky looks blue because"));
        assert!(c.text().ends_with("scattered much more."));
        assert_eq!(
            c.content[2],
            Block::Reasoning(Reasoning {
                text: String::new(),
                signature: Some("EuYBCuMBAcu98PCc1QvD3X5o5qHFRxQ3hV8XUb2b5kYc".into()),
                redacted: None,
            })
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            c.usage,
            Usage {
                cached_prompt_tokens: 4,
                reasoning_tokens: 121,
                ..Usage::new(9, 58 + 121)
            }
        );
    }

    #[test]
    fn a_streamed_json_reply_is_its_text() {
        let chunks = replay_whole(
            KIND,
            include_str!("../../../tests/fixtures/sse/gemini_json.sse"),
        )
        .unwrap();
        let c = fold(&chunks);
        let recipes: Value = serde_json::from_str(&c.text()).unwrap();
        assert_eq!(recipes[0]["recipeName"], "Chocolate Chip Cookies");
        assert_eq!(recipes.as_array().map(Vec::len), Some(3));
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn a_signature_on_text_becomes_a_reasoning_block_before_that_text() {
        let body = r#"{"candidates":[{"content":{"parts":[
            {"text":"Summary of thoughts","thought":true},
            {"text":"The answer.","thoughtSignature":"sig-1"},
            {"functionCall":{"id":"fc_9","name":"f","args":{"b":[1,2],"a":"x"}},"thoughtSignature":"sig-2"},
            {"functionCall":{"name":"g"}}
        ],"role":"model"},"finishReason":"STOP"}]}"#;
        let mut chunks = Vec::new();
        let response: Response = serde_json::from_str(body).unwrap();
        map_response(&mut Parts::default(), response, &mut chunks);
        let kinds: Vec<(bool, &str)> = chunks
            .iter()
            .take(3)
            .map(|c| (c.reasoning.is_some(), c.text.as_str()))
            .collect();
        assert_eq!(kinds, [(true, ""), (true, ""), (false, "The answer.")]);
        let c = parse_completion(body.as_bytes()).unwrap();
        assert_eq!(
            c.content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "Summary of thoughts".into(),
                    ..Reasoning::default()
                }),
                Block::Reasoning(Reasoning {
                    signature: Some("sig-1".into()),
                    ..Reasoning::default()
                }),
                Block::Text("The answer.".into()),
                Block::ToolCall(ToolCall {
                    id: "fc_9".into(),
                    name: "f".into(),
                    arguments: r#"{"b":[1,2],"a":"x"}"#.into(),
                    signature: Some("sig-2".into()),
                }),
                Block::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "g".into(),
                    arguments: "{}".into(),
                    signature: None,
                }),
            ]
        );
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn a_signature_only_thought_part_signs_the_thought_before_it() {
        let mut m = GeminiStream::default();
        let mut chunks = Vec::new();
        for data in [
            r#"{"candidates":[{"content":{"parts":[{"text":"Let me ","thought":true}],"role":"model"}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"think.","thought":true}],"role":"model"}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"","thought":true,"thoughtSignature":"sig-t"}],"role":"model"}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"Another thought","thought":true}],"role":"model"}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}]}"#,
        ] {
            chunks.extend(m.on_event(&event(data)).unwrap());
        }
        assert_eq!(
            fold(&chunks).content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "Let me think.".into(),
                    signature: Some("sig-t".into()),
                    redacted: None,
                }),
                Block::Reasoning(Reasoning {
                    text: "Another thought".into(),
                    ..Reasoning::default()
                }),
                Block::Text("Hi".into()),
            ]
        );
    }

    #[test]
    fn streamed_arguments_keep_the_key_order_the_model_wrote() {
        let mut m = GeminiStream::default();
        let chunks = m
            .on_event(&event(
                r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"z":1.5,"a":{"y":null,"b":[true,"\u00e9\""]},"m":-2}}}],"role":"model"},"finishReason":"STOP"}]}"#,
            ))
            .unwrap();
        assert_eq!(
            chunks[0].tool_calls[0].arguments,
            r#"{"z":1.5,"a":{"y":null,"b":[true,"é\""]},"m":-2}"#
        );
    }

    #[test]
    fn logprobs_come_back_in_openai_shape() {
        let body = r#"{"candidates":[{"content":{"parts":[{"text":"Hi there"}],"role":"model"},"finishReason":"STOP",
            "logprobsResult":{"topCandidates":[{"candidates":[{"token":"Hi","logProbability":-0.1},{"token":"Hello","logProbability":-2.5}]},{"candidates":[{"token":" there"}]}],
            "chosenCandidates":[{"token":"Hi","logProbability":-0.1},{"token":" there"}]},"avgLogprobs":-0.05}]}"#;
        let c = parse_completion(body.as_bytes()).unwrap();
        assert_eq!(
            c.logprobs,
            Some(vec![
                json!({"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Hello", "logprob": -2.5, "bytes": [72, 101, 108, 108, 111]}
                ]}),
                json!({"token": " there", "logprob": 0.0, "bytes": [32, 116, 104, 101, 114, 101], "top_logprobs": [
                    {"token": " there", "logprob": 0.0, "bytes": [32, 116, 104, 101, 114, 101]}
                ]}),
            ])
        );
    }

    #[test]
    fn finish_reasons_and_blocked_prompts_map() {
        assert_eq!(finish_reason("MAX_TOKENS"), FinishReason::Length);
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(finish_reason(r), FinishReason::ContentFilter, "{r}");
        }
        assert_eq!(finish_reason("OTHER"), FinishReason::Other("other".into()));
        assert_eq!(
            finish_reason("MALFORMED_FUNCTION_CALL"),
            FinishReason::Other("malformed_function_call".into())
        );
        let mut m = GeminiStream::default();
        let chunks = m.on_event(&event(r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}"#)).unwrap();
        assert_eq!(chunks[0].finish_reason, Some(FinishReason::ContentFilter));
        assert_eq!(chunks[0].usage, Some(Usage::new(5, 0)));
        assert!(m.finish().is_ok());
    }

    #[test]
    fn stream_errors_unknown_fields_and_bad_json() {
        let mut m = GeminiStream::default();
        let odd = r#"{"candidates":[{"content":{"parts":[{"text":"a"},{"executableCode":{"code":"1"}}],"role":"model"},"groundingMetadata":{}}],"newField":1}"#;
        assert_eq!(m.on_event(&event(odd)).unwrap()[0].text, "a");
        let err = m.on_event(&event(r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#)).unwrap_err();
        assert_eq!((err.kind, err.status), (UpstreamErrorKind::Overloaded, 0));
        assert_eq!(
            m.on_event(&event("[1,")).unwrap_err().kind,
            UpstreamErrorKind::Protocol
        );
    }

    #[test]
    fn non_streaming_bodies_parse() {
        let body = r#"{"candidates":[{"content":{"parts":[{"text":"thinking...","thought":true},{"text":"Hi "},{"text":"there"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6,"cachedContentTokenCount":1,"thoughtsTokenCount":3},"modelVersion":"gemini-2.0-flash"}"#;
        let c = parse_completion(body.as_bytes()).unwrap();
        assert_eq!(c.text(), "Hi there");
        assert_eq!(
            c.content[0],
            Block::Reasoning(Reasoning {
                text: "thinking...".into(),
                ..Reasoning::default()
            })
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        assert_eq!(
            c.usage,
            Usage {
                cached_prompt_tokens: 1,
                reasoning_tokens: 3,
                ..Usage::new(4, 5)
            }
        );
        let empty =
            parse_completion(br#"{"candidates":[{"finishReason":"SAFETY","index":0}]}"#).unwrap();
        assert!(empty.content.is_empty());
        assert_eq!(empty.finish_reason, Some(FinishReason::ContentFilter));
    }
}
