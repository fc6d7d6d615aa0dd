#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::providers::{sse::SseDecoder, stream_mapper, ProviderKind};

fn fixture_chunks(kind: ProviderKind, fixture: &str) -> Vec<Chunk> {
    let mut dec = SseDecoder::new();
    let mut mapper = stream_mapper(kind);
    let mut chunks = Vec::new();
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

fn fold(chunks: &[Chunk]) -> Completion {
    let mut c = Completion::default();
    chunks.iter().for_each(|ch| c.push(ch));
    c
}

/// Renders the chunks as the pipeline does: each chunk, then the end with the billed usage.
fn render(chunks: &[Chunk]) -> Vec<(String, Value)> {
    let mut w = EventWriter::new("msg_1", "anthropic/claude-sonnet-4-6", 9);
    let mut frames: Vec<String> = chunks.iter().flat_map(|c| w.on_chunk(c)).collect();
    frames.extend(w.finish(fold(chunks).usage));
    assert!(
        w.finish(Usage::default()).is_empty(),
        "finish is idempotent"
    );
    frames.iter().map(|f| parse_frame(f)).collect()
}

fn parse_frame(f: &str) -> (String, Value) {
    let (event, data) = f
        .strip_suffix("\n\n")
        .and_then(|f| f.split_once('\n'))
        .unwrap_or_else(|| panic!("not one frame: {f:?}"));
    let event = event.strip_prefix("event: ").unwrap().to_owned();
    let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["type"], event.as_str(), "event line repeats the type");
    (event, data)
}

/// Checks Anthropic's grammar and folds the events into the message, as the SDKs'
/// `accumulate_event` does.
fn accumulate(events: &[(String, Value)]) -> Value {
    assert_eq!(events[0].0, "message_start");
    assert_eq!(events[1].0, "ping", "a ping right after message_start");
    let mut message = events[0].1["message"].clone();
    assert_eq!(message["content"], json!([]));
    let mut open: Option<u64> = None;
    let mut next = 0;
    let mut json_bufs: Vec<String> = Vec::new();
    let (last, body) = events.split_last().unwrap();
    assert_eq!(last.0, "message_stop");
    for (event, data) in &body[2..] {
        match event.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "one block at a time: {events:?}");
                assert_eq!(data["index"], next, "indexes count up from 0");
                open = Some(next);
                next += 1;
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(data["content_block"].clone());
                json_bufs.push(String::new());
            }
            "content_block_delta" => {
                let i = data["index"].as_u64().unwrap();
                assert_eq!(Some(i), open, "a delta of the open block");
                let block = &mut message["content"][i as usize];
                let d = &data["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        let t = format!(
                            "{}{}",
                            block["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        );
                        block["text"] = t.into();
                    }
                    "thinking_delta" => {
                        let t = format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        );
                        block["thinking"] = t.into();
                    }
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        json_bufs[i as usize].push_str(d["partial_json"].as_str().unwrap());
                        block["input"] = serde_json::from_str(&json_bufs[i as usize])
                            .unwrap_or_else(|_| block["input"].clone());
                    }
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open, "stops the open block");
                open = None;
            }
            "message_delta" => {
                assert_eq!(open, None, "every block stopped before message_delta");
                for key in ["stop_reason", "stop_sequence", "stop_details"] {
                    if let Some(v) = data["delta"].get(key) {
                        message[key] = v.clone();
                    }
                }
                message["usage"] = data["usage"].clone();
            }
            other => panic!("unexpected {other} in {events:?}"),
        }
    }
    message
}

fn kinds(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(e, d)| match e.as_str() {
            "content_block_start" => {
                format!("start {}", d["content_block"]["type"].as_str().unwrap())
            }
            "content_block_delta" => d["delta"]["type"].as_str().unwrap().to_owned(),
            "content_block_stop" => "stop".to_owned(),
            other => other.to_owned(),
        })
        .collect()
}

/// The stream folds into the very message a non-streamed reply would be.
fn assert_stream_matches_body(chunks: &[Chunk]) -> Vec<(String, Value)> {
    let events = render(chunks);
    let streamed = accumulate(&events);
    let whole = message_body("msg_1", "anthropic/claude-sonnet-4-6", &fold(chunks));
    assert_eq!(streamed, whole);
    events
}

#[test]
fn anthropics_documented_thinking_stream_comes_back_block_for_block() {
    let chunks = fixture_chunks(
        ProviderKind::Anthropic,
        include_str!("../../../../tests/fixtures/sse/anthropic_thinking.sse"),
    );
    let events = assert_stream_matches_body(&chunks);
    assert_eq!(
        kinds(&events),
        [
            "message_start",
            "ping",
            "start thinking",
            "thinking_delta",
            "thinking_delta",
            "signature_delta",
            "stop",
            "start text",
            "text_delta",
            "stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[5].1["delta"]["signature"],
        "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."
    );
    assert_eq!(
        events[10].1["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
}

#[test]
fn anthropics_tool_use_stream_comes_back_with_its_input_json_deltas() {
    let fixture = include_str!("../../../../tests/fixtures/sse/anthropic_tool_use.sse");
    let chunks = fixture_chunks(ProviderKind::Anthropic, fixture);
    let events = assert_stream_matches_body(&chunks);
    let upstream: Vec<String> = fixture
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|d| d["delta"]["type"] == "input_json_delta" && d["delta"]["partial_json"] != "")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    let relayed: Vec<String> = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(relayed, upstream, "the argument fragments as they came");
    let message = accumulate(&events);
    assert_eq!(message["stop_reason"], "tool_use");
    assert!(message["content"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["type"] == "tool_use" && b["input"].is_object()));
}

#[test]
fn openai_parallel_tool_calls_become_one_block_each_in_order() {
    let chunks = fixture_chunks(
        ProviderKind::OpenAi,
        include_str!("../../../../tests/fixtures/sse/openai_parallel_tool_calls.sse"),
    );
    let events = assert_stream_matches_body(&chunks);
    let message = accumulate(&events);
    let calls: Vec<&Value> = message["content"].as_array().unwrap().iter().collect();
    assert!(
        calls.len() >= 2 && calls.iter().all(|b| b["type"] == "tool_use"),
        "{message}"
    );
    assert_eq!(message["stop_reason"], "tool_use");
}

fn call(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Chunk {
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
fn interleaved_tool_call_fragments_are_held_back_and_sent_whole_in_order() {
    let chunks = vec![
        Chunk::text("Checking."),
        call(0, Some("call_a"), Some("weather"), "{\"city\":"),
        call(1, Some("call_b"), Some("time"), "{\"tz\":"),
        call(0, None, None, "\"Paris\"}"),
        call(2, Some("call_c"), Some("news"), ""),
        call(1, None, None, "\"CET\"}"),
        Chunk {
            finish_reason: Some(FinishReason::ToolCalls),
            usage: Some(Usage::new(20, 11)),
            ..Chunk::default()
        },
    ];
    let events = assert_stream_matches_body(&chunks);
    assert_eq!(
        kinds(&events),
        [
            "message_start",
            "ping",
            "start text",
            "text_delta",
            "stop",
            "start tool_use",
            "input_json_delta",
            "input_json_delta",
            "stop",
            "start tool_use",
            "input_json_delta",
            "stop",
            "start tool_use",
            "stop",
            "message_delta",
            "message_stop"
        ]
    );
    let message = accumulate(&events);
    assert_eq!(message["content"][1]["input"], json!({"city": "Paris"}));
    assert_eq!(message["content"][2]["input"], json!({"tz": "CET"}));
    assert_eq!(
        message["content"][3],
        json!({"type": "tool_use", "id": "call_c", "name": "news", "input": {}})
    );
    assert_eq!(
        message["usage"],
        json!({"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 11})
    );
}

#[test]
fn reasoning_signatures_redacted_thinking_and_gemini_call_signatures_render() {
    let reasoning = |index, text: &str, signature: Option<&str>, redacted: Option<&str>| Chunk {
        reasoning: Some(ReasoningDelta {
            index,
            text: text.into(),
            signature: signature.map(Into::into),
            redacted: redacted.map(Into::into),
        }),
        ..Chunk::default()
    };
    let chunks = vec![
        reasoning(0, "Let me ", None, None),
        reasoning(0, "think.", None, None),
        // A signature in two pieces is sent whole, once, before the block stops.
        reasoning(0, "", Some("sig-"), None),
        reasoning(0, "", Some("1"), None),
        reasoning(1, "", None, Some("opaque")),
        // Gemini: a signature on text comes as a reasoning block of its own.
        reasoning(2, "", Some("gsig"), None),
        Chunk::text("Done."),
        Chunk {
            tool_calls: vec![ToolCallDelta {
                index: 0,
                id: Some("call_0".into()),
                name: Some("f".into()),
                arguments: "{}".into(),
                signature: Some("csig==".into()),
            }],
            ..Chunk::default()
        },
    ];
    let events = assert_stream_matches_body(&chunks);
    assert_eq!(
        kinds(&events)[2..14],
        [
            "start thinking",
            "thinking_delta",
            "thinking_delta",
            "signature_delta",
            "stop",
            "start redacted_thinking",
            "stop",
            "start thinking",
            "signature_delta",
            "stop",
            "start text",
            "text_delta"
        ]
    );
    let message = accumulate(&events);
    assert_eq!(
        message["content"],
        json!([
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "", "signature": "gsig"},
            {"type": "text", "text": "Done."},
            {"type": "tool_use", "id": "call_0__thought__csig==", "name": "f", "input": {}}
        ])
    );
    assert_eq!(
        message["stop_reason"], "tool_use",
        "calls made, no reason given"
    );
}

#[test]
fn an_empty_reply_still_has_the_whole_grammar() {
    let mut w = EventWriter::new("msg_2", "demo/echo", 7);
    let events: Vec<(String, Value)> = w
        .finish(Usage::new(7, 0))
        .iter()
        .map(|f| parse_frame(f))
        .collect();
    assert_eq!(
        kinds(&events),
        ["message_start", "ping", "message_delta", "message_stop"]
    );
    assert_eq!(
        events[0].1["message"],
        json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "demo/echo",
               "content": [], "stop_reason": null, "stop_sequence": null,
               "usage": {"input_tokens": 7, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0, "output_tokens": 0}})
    );
}

#[test]
fn message_start_carries_the_providers_first_usage_when_the_stream_starts_with_it() {
    let mut w = EventWriter::new("msg_3", "gemini/gemini-2.5-flash", 99);
    let first = Chunk {
        text: "Hi".into(),
        usage: Some(Usage {
            cached_prompt_tokens: 4,
            ..Usage::new(12, 1)
        }),
        ..Chunk::default()
    };
    let (_, start) = parse_frame(&w.on_chunk(&first)[0]);
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 1})
    );
}

#[test]
fn a_refusal_is_a_refusal_stop_with_its_explanation() {
    let chunks = fixture_chunks(
        ProviderKind::OpenAi,
        include_str!("../../../../tests/fixtures/sse/openai_refusal.sse"),
    );
    let events = assert_stream_matches_body(&chunks);
    let message = accumulate(&events);
    assert_eq!(message["stop_reason"], "refusal");
    assert_eq!(message["stop_details"]["type"], "refusal");
    assert!(
        message["stop_details"]["explanation"]
            .as_str()
            .unwrap()
            .len()
            > 5
    );
    let gemini_blocked = Completion {
        finish_reason: Some(FinishReason::ContentFilter),
        ..Completion::default()
    };
    let body = message_body("m", "gemini/x", &gemini_blocked);
    assert_eq!(
        (&body["stop_reason"], &body["stop_details"]),
        (
            &json!("refusal"),
            &json!({"type": "refusal", "category": null, "explanation": null})
        )
    );
}

#[test]
fn a_completion_renders_every_block_usage_details_and_stop_reason() {
    let c = Completion {
        content: vec![
            Block::Reasoning(Reasoning {
                text: "Think.".into(),
                signature: Some("sig".into()),
                redacted: None,
            }),
            Block::Text("Hi".into()),
            Block::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "w".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
                signature: None,
            }),
        ],
        usage: Usage {
            cached_prompt_tokens: 2,
            cache_write_tokens: 3,
            reasoning_tokens: 4,
            ..Usage::new(10, 6)
        },
        finish_reason: Some(FinishReason::ToolCalls),
        logprobs: None,
    };
    assert_eq!(
        message_body("msg_9", "claude-sonnet-4-5", &c),
        json!({
            "id": "msg_9", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "Think.", "signature": "sig"},
                {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 5, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 2,
                      "output_tokens": 6, "output_tokens_details": {"thinking_tokens": 4}}
        })
    );
    for (reason, want) in [
        (Some(FinishReason::Stop), "end_turn"),
        (None, "end_turn"),
        (Some(FinishReason::Length), "max_tokens"),
        (Some(FinishReason::Other("pause_turn".into())), "pause_turn"),
        (Some(FinishReason::Other("recitation".into())), "end_turn"),
    ] {
        let c = Completion {
            content: vec![Block::Text("x".into())],
            finish_reason: reason.clone(),
            ..Completion::default()
        };
        assert_eq!(
            message_body("m", "x", &c)["stop_reason"],
            want,
            "{reason:?}"
        );
    }
    // A call cut short by max_tokens has arguments that are not JSON: its input is {}.
    let cut = Completion {
        content: vec![Block::ToolCall(ToolCall {
            id: "t".into(),
            name: "w".into(),
            arguments: "{\"ci".into(),
            signature: None,
        })],
        finish_reason: Some(FinishReason::Length),
        ..Completion::default()
    };
    assert_eq!(
        message_body("m", "x", &cut)["content"][0]["input"],
        json!({})
    );
}

#[test]
fn errors_render_in_anthropics_shape_with_the_type_its_clients_switch_on() {
    for (e, kind, message) in [
        (
            ApiError::param("messages.0.content", "messages.0.content: Field required"),
            "invalid_request_error",
            "messages.0.content: Field required",
        ),
        (
            ApiError::param("tools.0.input_schema", "Anthropic takes an object"),
            "invalid_request_error",
            "tools.0.input_schema: Anthropic takes an object",
        ),
        (
            ApiError::Unauthorized("a bearer token (or x-api-key) is required"),
            "authentication_error",
            "a bearer token (or x-api-key) is required",
        ),
        (
            ApiError::Forbidden("this API key lacks the `chat` scope"),
            "permission_error",
            "this API key lacks the `chat` scope",
        ),
        (
            ApiError::ModelNotFound("anthropic: model: missing".into()),
            "not_found_error",
            "anthropic: model: missing",
        ),
        (
            ApiError::PayloadTooLarge(10),
            "request_too_large",
            "the request body is larger than this route's limit of 10 bytes",
        ),
        (
            ApiError::RateLimited(3),
            "rate_limit_error",
            "too many requests; retry in 3 seconds",
        ),
        (
            ApiError::BudgetExceeded(3),
            "rate_limit_error",
            "the organization's monthly token budget is exhausted",
        ),
        (
            ApiError::Upstream {
                status: 503,
                detail: "anthropic: Overloaded".into(),
                retry_after: None,
            },
            "overloaded_error",
            "anthropic: Overloaded",
        ),
        (
            ApiError::Upstream {
                status: 502,
                detail: "openai: boom".into(),
                retry_after: None,
            },
            "api_error",
            "openai: boom",
        ),
        (
            ApiError::internal("secret context"),
            "api_error",
            "an unexpected error occurred",
        ),
    ] {
        assert_eq!(
            api_error_body(&e),
            json!({"type": "error", "error": {"type": kind, "message": message}}),
            "{e:?}"
        );
    }
    let e = UpstreamError::new(UpstreamErrorKind::Overloaded, 0, "anthropic: Overloaded");
    assert_eq!(
        error_event(&e),
        "event: error\ndata: {\"error\":{\"message\":\"anthropic: Overloaded\",\"type\":\"overloaded_error\"},\"type\":\"error\"}\n\n"
    );
    let mut w = EventWriter::new("m", "x", 1);
    w.on_chunk(&Chunk::text("a"));
    assert_eq!(w.fail(&e), vec![error_event(&e)]);
    assert!(
        w.finish(Usage::default()).is_empty(),
        "nothing after the error"
    );
}
