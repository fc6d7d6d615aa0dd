//! The reply: neutral completions and chunks rendered as OpenAI sends them.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::gateway::Render;
use crate::ingress::wire::client_call_id;
use crate::providers::{
    Block, Chunk, Completion, Reasoning, ToolCall, UpstreamError, UpstreamErrorKind, Usage,
};

fn usage_json(u: Usage) -> Value {
    let mut usage = json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total(),
        "prompt_tokens_details": {"cached_tokens": u.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    });
    // Anthropic's cache writes, where LiteLLM puts them.
    if u.cache_write_tokens > 0 {
        usage["cache_creation_input_tokens"] = u.cache_write_tokens.into();
    }
    usage
}

/// LiteLLM's `thinking_blocks` entry for one reasoning block.
fn thinking_block(r: &Reasoning) -> Value {
    match &r.redacted {
        Some(data) => json!({"type": "redacted_thinking", "data": data}),
        None => {
            let mut b = json!({"type": "thinking", "thinking": r.text});
            if let Some(sig) = &r.signature {
                b["signature"] = sig.clone().into();
            }
            b
        }
    }
}

fn tool_call_json(c: &ToolCall) -> Value {
    json!({"id": client_call_id(c), "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
}

pub fn completion_body(id: &str, created: u64, model: &str, c: &Completion) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    let text = c.text();
    let calls: Vec<Value> = c.tool_calls().map(tool_call_json).collect();
    // OpenAI sends null content for a reply that is only tool calls (or a refusal).
    let content = if text.is_empty() && (!calls.is_empty() || c.refusal().is_some()) {
        Value::Null
    } else {
        text.into()
    };
    message.insert("content".into(), content);
    message.insert(
        "refusal".into(),
        c.refusal().map_or(Value::Null, Into::into),
    );
    if !calls.is_empty() {
        message.insert("tool_calls".into(), calls.into());
    }
    let reasoning: Vec<&Reasoning> = c
        .content
        .iter()
        .filter_map(|b| match b {
            Block::Reasoning(r) => Some(r),
            _ => None,
        })
        .collect();
    if !reasoning.is_empty() {
        let text: String = reasoning.iter().map(|r| r.text.as_str()).collect();
        message.insert("reasoning_content".into(), text.into());
        let blocks: Vec<Value> = reasoning.iter().map(|r| thinking_block(r)).collect();
        message.insert("thinking_blocks".into(), blocks.into());
    }
    let finish_reason = c.finish_reason.as_ref().map_or("stop", |r| r.as_openai());
    let logprobs = c.logprobs.as_ref().map_or(
        Value::Null,
        |entries| json!({"content": entries, "refusal": null}),
    );
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}],
        "usage": usage_json(c.usage),
    })
}

/// Renders neutral chunks as OpenAI `chat.completion.chunk` SSE frames.
#[derive(Clone, Debug)]
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    role_sent: bool,
    finish_sent: bool,
    done: bool,
    /// The tool calls (by index) whose id and name went out already.
    calls_started: Vec<u32>,
    /// Each reasoning block's text so far (by index), sent whole with its signature.
    reasoning: Vec<String>,
}

impl ChunkWriter {
    pub fn new(id: &str, created: u64, model: &str, include_usage: bool) -> Self {
        Self {
            id: id.to_owned(),
            created,
            model: model.to_owned(),
            include_usage,
            role_sent: false,
            finish_sent: false,
            done: false,
            calls_started: Vec::new(),
            reasoning: Vec::new(),
        }
    }

    /// Complete frames for one chunk (possibly none). Usage is held back for `finish`.
    pub fn on_chunk(&mut self, c: &Chunk) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        let mut frames = Vec::new();
        let mut delta = Delta::default();
        if let Some(r) = &c.reasoning {
            let i = r.index as usize;
            if self.reasoning.len() <= i {
                self.reasoning.resize(i + 1, String::new());
            }
            self.reasoning[i].push_str(&r.text);
            if !r.text.is_empty() {
                delta.reasoning_content = Some(&r.text);
            }
            if r.signature.is_some() || r.redacted.is_some() {
                let whole = Reasoning {
                    text: self.reasoning[i].clone(),
                    signature: r.signature.clone(),
                    redacted: r.redacted.clone(),
                };
                delta.thinking_blocks = Some(json!([thinking_block(&whole)]));
            }
        }
        if !c.text.is_empty() {
            delta.content = Some(&c.text);
        }
        if !c.refusal.is_empty() {
            delta.refusal = Some(&c.refusal);
        }
        if !c.tool_calls.is_empty() {
            let calls: Vec<Value> = c
                .tool_calls
                .iter()
                .map(|d| {
                    let mut call = Map::new();
                    call.insert("index".into(), d.index.into());
                    let mut function = Map::new();
                    if !self.calls_started.contains(&d.index) {
                        self.calls_started.push(d.index);
                        let id = ToolCall {
                            id: d.id.clone().unwrap_or_default(),
                            name: String::new(),
                            arguments: String::new(),
                            signature: d.signature.clone(),
                        };
                        call.insert("id".into(), client_call_id(&id).into());
                        call.insert("type".into(), "function".into());
                        function.insert("name".into(), d.name.clone().unwrap_or_default().into());
                    }
                    function.insert("arguments".into(), d.arguments.clone().into());
                    call.insert("function".into(), function.into());
                    call.into()
                })
                .collect();
            delta.tool_calls = Some(calls);
        }
        if !delta.is_empty() || c.logprobs.is_some() {
            frames.push(self.frame(delta, None, c.logprobs.as_ref()));
        }
        if let Some(reason) = &c.finish_reason {
            frames.extend(self.finish_frame(reason.as_openai()));
        }
        frames
    }

    /// The finish frame if none was sent yet, the usage chunk when it was asked for (with
    /// `usage`: what the reply is billed, the provider's count or chatgate's estimate),
    /// then `[DONE]`.
    pub fn finish(&mut self, usage: Usage) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut frames: Vec<String> = self.finish_frame("stop").into_iter().collect();
        if self.include_usage {
            frames.push(data_frame(&ChunkBody {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: &[],
                usage: Some(Some(usage_json(usage))),
            }));
        }
        frames.push("data: [DONE]\n\n".to_owned());
        frames
    }

    fn finish_frame(&mut self, reason: &str) -> Option<String> {
        if self.finish_sent {
            return None;
        }
        self.finish_sent = true;
        Some(self.frame(Delta::default(), Some(reason), None))
    }

    /// One frame; the first of the reply carries the role.
    fn frame(
        &mut self,
        mut delta: Delta<'_>,
        finish_reason: Option<&str>,
        logprobs: Option<&Value>,
    ) -> String {
        if !self.role_sent {
            self.role_sent = true;
            delta.role = Some("assistant");
        }
        data_frame(&ChunkBody {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: &[ChoiceDelta {
                index: 0,
                delta,
                logprobs,
                finish_reason,
            }],
            // OpenAI marks every chunk but the last with a null usage when usage was asked for.
            usage: self.include_usage.then_some(None),
        })
    }
}

/// A `chat.completion.chunk`, serialised from borrowed parts: no JSON tree is built for a
/// frame (the tool-call, thinking-block and log-probability parts, rare, still are).
#[derive(Serialize)]
struct ChunkBody<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChoiceDelta<'a>],
    /// Absent, `null` (`Some(None)`), or the usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Value>>,
}

#[derive(Serialize)]
struct ChoiceDelta<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<&'a Value>,
    finish_reason: Option<&'a str>,
}

#[derive(Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_blocks: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<Value>>,
}

impl Delta<'_> {
    fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.content.is_none()
            && self.reasoning_content.is_none()
            && self.thinking_blocks.is_none()
            && self.refusal.is_none()
            && self.tool_calls.is_none()
    }
}

/// A reply in this format, written by the pipeline (`gateway::respond`).
pub struct Reply {
    id: String,
    created: u64,
    model: String,
    chunks: ChunkWriter,
}

impl Reply {
    pub fn new(id: String, created: u64, model: &str, include_usage: bool) -> Self {
        Reply {
            chunks: ChunkWriter::new(&id, created, model, include_usage),
            id,
            created,
            model: model.to_owned(),
        }
    }
}

impl Render for Reply {
    fn completion(&mut self, c: &Completion) -> Value {
        completion_body(&self.id, self.created, &self.model, c)
    }

    fn chunk(&mut self, c: &Chunk) -> Vec<String> {
        self.chunks.on_chunk(c)
    }

    fn end(&mut self, usage: Usage) -> Vec<String> {
        self.chunks.finish(usage)
    }

    fn fail(&mut self, e: &UpstreamError) -> Vec<String> {
        vec![upstream_error_frame(e)]
    }
}

/// Compact JSON has no raw newlines, so one `data:` line is a whole frame.
fn data_frame(body: &impl Serialize) -> String {
    let mut frame = b"data: ".to_vec();
    // Serialising these bodies cannot fail: their maps have string keys.
    let _ = serde_json::to_writer(&mut frame, body);
    frame.extend_from_slice(b"\n\n");
    String::from_utf8(frame).unwrap_or_default()
}

/// `{"error":{"message","type","param","code"}}`, OpenAI's error shape.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// Any error of a request, in OpenAI's vocabulary, so its clients raise the matching
/// exception (`AuthenticationError`, `RateLimitError`, `NotFoundError`…).
pub fn api_error_body(e: &ApiError) -> Value {
    let (kind, code) = match e {
        ApiError::InvalidCredentials | ApiError::Unauthorized(_) => {
            ("authentication_error", "invalid_api_key")
        }
        ApiError::TokenExpired => ("authentication_error", "token_expired"),
        ApiError::RateLimited(_) => ("rate_limit_error", "rate_limit_exceeded"),
        ApiError::BudgetExceeded(_) => ("insufficient_quota", "insufficient_quota"),
        ApiError::Upstream { status: 429, .. } => ("rate_limit_error", "rate_limit_exceeded"),
        e if e.status() >= 500 => ("api_error", e.code()),
        e => ("invalid_request_error", e.code()),
    };
    error_body(&e.detail(), kind, e.param_name(), Some(code))
}

/// An upstream failure after the 200 went out, as a stream frame.
pub fn upstream_error_frame(e: &UpstreamError) -> String {
    let (kind, code) = match e.kind {
        UpstreamErrorKind::BadRequest => ("invalid_request_error", "upstream_bad_request"),
        UpstreamErrorKind::Unauthorized => ("invalid_request_error", "upstream_unauthorized"),
        UpstreamErrorKind::NotFound => ("invalid_request_error", "model_not_found"),
        UpstreamErrorKind::RateLimited { .. } => ("rate_limit_error", "rate_limited"),
        UpstreamErrorKind::Overloaded => ("api_error", "upstream_overloaded"),
        UpstreamErrorKind::Server | UpstreamErrorKind::Protocol => ("api_error", "upstream_error"),
    };
    data_frame(&error_body(&e.message, kind, None, Some(code)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{
        sse::SseDecoder, stream_mapper, FinishReason, ProviderKind, ReasoningDelta, ToolCallDelta,
    };

    fn anthropic_chunks() -> Vec<Chunk> {
        let mut dec = SseDecoder::new();
        let mut mapper = stream_mapper(ProviderKind::Anthropic);
        let mut chunks = Vec::new();
        let fixture = include_str!("../../../tests/fixtures/sse/anthropic_stream.sse");
        for ev in dec
            .feed(fixture.as_bytes())
            .unwrap()
            .into_iter()
            .chain(dec.finish().unwrap())
        {
            chunks.extend(mapper.on_event(&ev).unwrap());
        }
        mapper.finish().unwrap();
        chunks
    }

    fn usage_of(chunks: &[Chunk]) -> Usage {
        chunks
            .iter()
            .filter_map(|c| c.usage)
            .next_back()
            .unwrap_or_default()
    }

    fn render(chunks: &[Chunk], include_usage: bool) -> Vec<String> {
        let mut w = ChunkWriter::new(
            "chatcmpl-1",
            1700000000,
            "anthropic/claude-3-5-haiku-latest",
            include_usage,
        );
        let mut frames: Vec<String> = chunks.iter().flat_map(|c| w.on_chunk(c)).collect();
        frames.extend(w.finish(usage_of(chunks)));
        assert!(
            w.finish(Usage::default()).is_empty(),
            "finish is idempotent"
        );
        frames
    }

    fn payloads(frames: &[String]) -> Vec<Value> {
        frames
            .iter()
            .take_while(|f| f.as_str() != "data: [DONE]\n\n")
            .map(|f| {
                serde_json::from_str(
                    f.strip_prefix("data: ")
                        .unwrap()
                        .strip_suffix("\n\n")
                        .unwrap(),
                )
                .unwrap()
            })
            .collect()
    }

    fn deltas(bodies: &[Value]) -> Vec<&Value> {
        bodies
            .iter()
            .filter_map(|b| b["choices"].get(0))
            .map(|c| &c["delta"])
            .collect()
    }

    #[test]
    fn a_streamed_anthropic_reply_renders_as_openai_chunks_with_usage_when_asked() {
        let chunks = anthropic_chunks();
        let frames = render(&chunks, true);
        assert_eq!(frames.last().unwrap(), "data: [DONE]\n\n");
        assert!(frames.iter().all(|f| f.starts_with("data: ")
            && f.ends_with("\n\n")
            && f.matches('\n').count() == 2));
        let bodies = payloads(&frames);
        assert_eq!(bodies.len(), frames.len() - 1);
        assert_eq!(bodies[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(bodies[1..]
            .iter()
            .all(|b| b["choices"][0]["delta"].get("role").is_none()));
        let text: String = deltas(&bodies)
            .iter()
            .filter_map(|d| d["content"].as_str())
            .collect();
        assert_eq!(
            text,
            "Bonjour ! Voilà une réponse courte 🙂 — rien de plus."
        );
        let (usage_chunk, rest) = bodies.split_last().unwrap();
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(
            usage_chunk["usage"],
            json!({"prompt_tokens": 25, "completion_tokens": 21, "total_tokens": 46,
                   "prompt_tokens_details": {"cached_tokens": 8},
                   "completion_tokens_details": {"reasoning_tokens": 0},
                   "cache_creation_input_tokens": 3}),
            "the fixture's cache read (8) and write (3) are part of the prompt"
        );
        assert!(rest.iter().all(|b| b["object"] == "chat.completion.chunk"
            && b["id"] == "chatcmpl-1"
            && b["usage"].is_null()));
        let finishes: Vec<&Value> = rest
            .iter()
            .map(|b| &b["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, vec![&json!("stop")]);
    }

    #[test]
    fn without_include_usage_there_is_no_usage_chunk() {
        let bodies = payloads(&render(&anthropic_chunks(), false));
        assert!(bodies
            .iter()
            .all(|b| b.get("usage").is_none() && b["choices"].as_array().unwrap().len() == 1));
        assert_eq!(
            bodies.last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
    }

    #[test]
    fn finish_supplies_a_finish_reason_and_role_for_an_empty_reply() {
        let mut w = ChunkWriter::new("c", 1, "demo/echo", true);
        let frames = w.finish(Usage::new(5, 0));
        assert_eq!(frames.len(), 3);
        let bodies = payloads(&frames);
        assert_eq!(
            bodies[0]["choices"][0]["delta"],
            json!({"role": "assistant"})
        );
        assert_eq!(bodies[0]["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            bodies[1]["usage"]["total_tokens"], 5,
            "the billed usage is reported"
        );
    }

    fn call_delta(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Chunk {
        Chunk {
            tool_calls: vec![ToolCallDelta {
                index,
                id: id.map(Into::into),
                name: name.map(Into::into),
                arguments: args.into(),
                signature: None,
            }],
            ..Chunk::default()
        }
    }

    #[test]
    fn streamed_tool_calls_name_each_call_once_then_send_argument_fragments() {
        let chunks = vec![
            call_delta(0, Some("call_a"), Some("weather"), ""),
            call_delta(0, None, None, "{\"city\":"),
            // A provider repeating the id on a later fragment does not repeat it to the client.
            call_delta(0, Some("call_a"), Some("weather"), "\"Paris\"}"),
            Chunk {
                tool_calls: vec![ToolCallDelta {
                    index: 1,
                    id: Some("call_b".into()),
                    name: Some("time".into()),
                    arguments: "{}".into(),
                    signature: Some("sig==".into()),
                }],
                ..Chunk::default()
            },
            Chunk {
                finish_reason: Some(FinishReason::ToolCalls),
                ..Chunk::default()
            },
        ];
        let bodies = payloads(&render(&chunks, false));
        let calls: Vec<&Value> = deltas(&bodies)
            .iter()
            .filter_map(|d| d.get("tool_calls"))
            .collect();
        assert_eq!(
            calls,
            vec![
                &json!([{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}]),
                &json!([{"index": 0, "function": {"arguments": "{\"city\":"}}]),
                &json!([{"index": 0, "function": {"arguments": "\"Paris\"}"}}]),
                &json!([{"index": 1, "id": "call_b__thought__sig==", "type": "function", "function": {"name": "time", "arguments": "{}"}}]),
            ]
        );
        assert_eq!(
            bodies.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
    }

    #[test]
    fn streamed_reasoning_sends_its_text_then_the_whole_block_with_its_signature() {
        let reasoning =
            |text: &str, signature: Option<&str>, redacted: Option<&str>, index| Chunk {
                reasoning: Some(ReasoningDelta {
                    index,
                    text: text.into(),
                    signature: signature.map(Into::into),
                    redacted: redacted.map(Into::into),
                }),
                ..Chunk::default()
            };
        let chunks = vec![
            reasoning("Let me ", None, None, 0),
            reasoning("think.", None, None, 0),
            reasoning("", Some("sig-1"), None, 0),
            reasoning("", None, Some("opaque"), 1),
            Chunk::text("Done."),
            Chunk {
                refusal: "No.".into(),
                logprobs: Some(json!({"content": [{"token": "No", "logprob": -0.1}]})),
                ..Chunk::default()
            },
        ];
        let bodies = payloads(&render(&chunks, false));
        let d = deltas(&bodies);
        assert_eq!(
            d[0],
            &json!({"role": "assistant", "reasoning_content": "Let me "})
        );
        assert_eq!(d[1], &json!({"reasoning_content": "think."}));
        assert_eq!(
            d[2],
            &json!({"thinking_blocks": [{"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"}]})
        );
        assert_eq!(
            d[3],
            &json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]})
        );
        assert_eq!(d[4], &json!({"content": "Done."}));
        assert_eq!(d[5], &json!({"refusal": "No."}));
        assert_eq!(
            bodies[5]["choices"][0]["logprobs"]["content"][0]["token"],
            "No"
        );
    }

    #[test]
    fn a_completion_renders_every_block_and_the_usage_details() {
        let c = Completion {
            content: vec![
                Block::Reasoning(Reasoning {
                    text: "Think.".into(),
                    signature: Some("sig".into()),
                    redacted: None,
                }),
                Block::Text("Hi".into()),
                Block::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "w".into(),
                    arguments: "{}".into(),
                    signature: Some("gsig".into()),
                }),
            ],
            usage: Usage {
                cached_prompt_tokens: 2,
                cache_write_tokens: 3,
                reasoning_tokens: 4,
                ..Usage::new(10, 6)
            },
            finish_reason: Some(FinishReason::ToolCalls),
            logprobs: Some(vec![json!({"token": "Hi", "logprob": -0.5})]),
        };
        let body = completion_body("chatcmpl-9", 42, "gemini/gemini-2.5-flash", &c);
        assert_eq!(
            body,
            json!({
                "id": "chatcmpl-9", "object": "chat.completion", "created": 42, "model": "gemini/gemini-2.5-flash",
                "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "Hi", "refusal": null,
                    "tool_calls": [{"id": "c1__thought__gsig", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
                    "reasoning_content": "Think.",
                    "thinking_blocks": [{"type": "thinking", "thinking": "Think.", "signature": "sig"}]
                }, "logprobs": {"content": [{"token": "Hi", "logprob": -0.5}], "refusal": null}, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16,
                          "prompt_tokens_details": {"cached_tokens": 2},
                          "completion_tokens_details": {"reasoning_tokens": 4},
                          "cache_creation_input_tokens": 3}
            })
        );
        let refusal = Completion {
            content: vec![Block::Refusal("No.".into())],
            finish_reason: Some(FinishReason::Refusal),
            ..Completion::default()
        };
        let body = completion_body("x", 1, "anthropic/claude-haiku-4-5", &refusal);
        let message = &body["choices"][0]["message"];
        assert_eq!(
            (&message["content"], &message["refusal"]),
            (&Value::Null, &json!("No."))
        );
        assert!(message.get("reasoning_content").is_none() && message.get("tool_calls").is_none());
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn errors_render_in_openai_shape_with_their_param() {
        assert_eq!(
            api_error_body(&ApiError::param(
                "tools[0].strict",
                "tools[0].strict is not supported"
            )),
            json!({"error": {"message": "tools[0].strict is not supported", "type": "invalid_request_error",
                             "param": "tools[0].strict", "code": "validation_failed"}})
        );
        assert_eq!(
            api_error_body(&ApiError::ModelNotFound("openai: no such model".into()))["error"],
            json!({"message": "openai: no such model", "type": "invalid_request_error", "param": null, "code": "model_not_found"})
        );
        assert_eq!(
            api_error_body(&ApiError::RateLimited(3))["error"]["type"],
            "rate_limit_error"
        );
        let e = UpstreamError::new(
            UpstreamErrorKind::RateLimited {
                retry_after: Some(3),
            },
            429,
            "openai: slow down",
        );
        let frame = upstream_error_frame(&e);
        assert_eq!(
            frame,
            format!(
                "data: {}\n\n",
                error_body(
                    "openai: slow down",
                    "rate_limit_error",
                    None,
                    Some("rate_limited")
                )
            )
        );
    }
}
