#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::ingress::responses::parse_request;
use crate::providers::{demo, sse::SseDecoder, stream_mapper, ProviderKind};

fn reply() -> Reply {
    let settings = parse_request(br#"{"model": "demo/echo", "input": "hi"}"#)
        .unwrap()
        .settings;
    Reply::new("resp_ABC".into(), 1_700_000_000, "demo/echo", settings)
}

/// `(type, data)` of each frame, checking its framing and its sequence number.
fn events(frames: &[String]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (n, f) in frames.iter().enumerate() {
        let (head, data) = f
            .strip_suffix("\n\n")
            .and_then(|f| f.split_once('\n'))
            .unwrap_or_else(|| panic!("frame {f:?}"));
        let kind = head.strip_prefix("event: ").unwrap();
        let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["type"], kind, "{f}");
        assert_eq!(data["sequence_number"], n, "{f}");
        out.push((kind.to_owned(), data));
    }
    out
}

fn kinds(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

fn stream(chunks: &[Chunk], usage: Usage) -> Vec<(String, Value)> {
    let mut r = reply();
    let mut frames: Vec<String> = chunks.iter().flat_map(|c| r.chunk(c)).collect();
    frames.extend(r.end(usage));
    assert!(r.end(usage).is_empty(), "end is idempotent");
    events(&frames)
}

fn reasoning(index: u32, text: &str, signature: Option<&str>) -> Chunk {
    Chunk {
        reasoning: Some(ReasoningDelta {
            index,
            text: text.into(),
            signature: signature.map(Into::into),
            redacted: None,
        }),
        ..Chunk::default()
    }
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

fn finish(reason: FinishReason) -> Chunk {
    Chunk {
        finish_reason: Some(reason),
        ..Chunk::default()
    }
}

/// Checks what OpenAI's SDKs rely on (openai-python's `ResponseStreamState`): created
/// first; items added at consecutive output indexes and done once, never interleaved;
/// every delta about the open item and part; the final response's output is what the
/// items' done events said. Returns the final response.
fn well_formed(events: &[(String, Value)]) -> Value {
    assert_eq!(
        kinds(&events[..2]),
        ["response.created", "response.in_progress"]
    );
    let id = &events[0].1["response"]["id"];
    let mut done_items: Vec<Value> = Vec::new();
    let mut open: Option<(u64, String)> = None;
    for (kind, e) in &events[2..] {
        match kind.as_str() {
            "response.output_item.added" => {
                assert!(open.is_none(), "an item added while another is open: {e}");
                assert_eq!(e["output_index"], done_items.len(), "{e}");
                assert_eq!(e["item"]["status"], "in_progress", "{e}");
                open = Some((
                    e["output_index"].as_u64().unwrap(),
                    e["item"]["id"].as_str().unwrap().into(),
                ));
            }
            "response.output_item.done" => {
                let (at, item_id) = open.take().expect("done without added");
                assert_eq!(
                    (
                        e["output_index"].as_u64().unwrap(),
                        e["item"]["id"].as_str().unwrap()
                    ),
                    (at, item_id.as_str())
                );
                done_items.push(e["item"].clone());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                assert!(
                    open.is_none() || kind == "response.failed",
                    "{kind} with an item open"
                );
                assert_eq!(&e["response"]["id"], id);
                let output = e["response"]["output"].as_array().unwrap();
                if kind != "response.failed" {
                    assert_eq!(
                        output, &done_items,
                        "the final output is what the done events said"
                    );
                }
                return e["response"].clone();
            }
            "error" => {}
            _ => {
                let (at, item_id) = open
                    .as_ref()
                    .unwrap_or_else(|| panic!("{kind} outside an item"));
                assert_eq!(
                    (
                        e["output_index"].as_u64().unwrap(),
                        e["item_id"].as_str().unwrap()
                    ),
                    (*at, item_id.as_str()),
                    "{e}"
                );
            }
        }
    }
    panic!("no terminal event");
}

#[test]
fn a_streamed_text_reply_sends_openais_events_in_openais_order() {
    let ev = stream(
        &[
            Chunk::text("Hel"),
            Chunk::text("lo"),
            finish(FinishReason::Stop),
        ],
        Usage::new(3, 2),
    );
    assert_eq!(
        kinds(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let created = &ev[0].1["response"];
    assert_eq!(
        (
            &created["status"],
            &created["output"],
            &created["usage"],
            &created["store"]
        ),
        (
            &json!("in_progress"),
            &json!([]),
            &Value::Null,
            &json!(false)
        )
    );
    assert_eq!(
        ev[2].1["item"],
        json!({"id": "msg_ABC_0", "type": "message", "role": "assistant", "status": "in_progress", "content": []})
    );
    assert_eq!(
        ev[3].1["part"],
        json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
    );
    assert_eq!(
        (
            &ev[4].1["delta"],
            &ev[4].1["item_id"],
            &ev[4].1["content_index"],
            &ev[4].1["logprobs"]
        ),
        (&json!("Hel"), &json!("msg_ABC_0"), &json!(0), &json!([]))
    );
    assert_eq!(ev[6].1["text"], "Hello");
    assert_eq!(ev[7].1["part"]["text"], "Hello");
    let done = &ev[9].1["response"];
    assert_eq!(done["status"], "completed");
    assert!(done["completed_at"].as_u64().unwrap() >= 1_700_000_000);
    assert_eq!(
        done["output"],
        json!([{"id": "msg_ABC_0", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]}])
    );
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
               "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5})
    );
    well_formed(&ev);
}

#[test]
fn streamed_reasoning_then_text_then_a_call_each_make_one_well_formed_item() {
    let ev = stream(
        &[
            reasoning(0, "Let me ", None),
            reasoning(0, "think.", None),
            reasoning(0, "", Some("sig-1")),
            Chunk::text("Calling."),
            call(0, Some("call_a"), Some("weather"), ""),
            call(0, None, None, "{\"city\":"),
            call(0, None, None, "\"Paris\"}"),
            finish(FinishReason::ToolCalls),
        ],
        Usage::new(10, 20),
    );
    assert_eq!(
        kinds(&ev)[2..],
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        ev[2].1["item"],
        json!({"id": "rs_ABC_0", "type": "reasoning", "status": "in_progress", "summary": []})
    );
    assert_eq!(
        ev[3].1,
        json!({"type": "response.reasoning_summary_part.added", "sequence_number": 3, "item_id": "rs_ABC_0",
               "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
    );
    assert_eq!(
        ev[8].1["item"],
        json!({"id": "rs_ABC_0", "type": "reasoning", "status": "completed",
               "summary": [{"type": "summary_text", "text": "Let me think."}],
               "encrypted_content": "chatgate:signature:sig-1"})
    );
    assert_eq!(
        ev[15].1["item"],
        json!({"id": "fc_ABC_2", "type": "function_call", "status": "in_progress", "call_id": "call_a",
               "name": "weather", "arguments": ""})
    );
    assert_eq!(
        ev[18].1,
        json!({"type": "response.function_call_arguments.done", "sequence_number": 18, "item_id": "fc_ABC_2",
               "output_index": 2, "name": "weather", "arguments": "{\"city\":\"Paris\"}"})
    );
    let done = well_formed(&ev);
    assert_eq!(
        done["status"], "completed",
        "a tool call ends a response as completed"
    );
}

#[test]
fn parallel_calls_that_interleave_are_sent_whole_one_after_the_other() {
    let ev = stream(
        &[
            call(0, Some("call_a"), Some("weather"), "{\"ci"),
            call(1, Some("call_b"), Some("time"), "{\"tz"),
            call(0, None, None, "ty\":1}"),
            call(1, None, None, "\":2}"),
            call(2, Some("call_c"), Some("date"), "{}"),
        ],
        Usage::new(1, 1),
    );
    let done = well_formed(&ev);
    let calls: Vec<(&str, &str)> = done["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["call_id"].as_str().unwrap(),
                i["arguments"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("call_a", "{\"city\":1}"),
            ("call_b", "{\"tz\":2}"),
            ("call_c", "{}")
        ]
    );
    let deltas: Vec<(u64, &str)> = ev
        .iter()
        .filter(|(k, _)| k == "response.function_call_arguments.delta")
        .map(|(_, e)| {
            (
                e["output_index"].as_u64().unwrap(),
                e["delta"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        deltas,
        [(0, "{\"ci"), (0, "ty\":1}"), (1, "{\"tz\":2}"), (2, "{}")],
        "the first call streams; the others wait and come whole"
    );
}

#[test]
fn refusals_signatures_on_calls_and_a_cut_reply_are_rendered_as_openai_does() {
    let ev = stream(
        &[
            Chunk::text("Well"),
            Chunk {
                refusal: "I can't.".into(),
                ..Chunk::default()
            },
            Chunk {
                tool_calls: vec![ToolCallDelta {
                    index: 0,
                    id: Some("call_g".into()),
                    name: Some("f".into()),
                    arguments: "{}".into(),
                    signature: Some("gsig".into()),
                }],
                ..Chunk::default()
            },
            finish(FinishReason::Length),
        ],
        Usage::new(1, 1),
    );
    let k = kinds(&ev);
    assert_eq!(
        k[2..12],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
        ]
    );
    assert_eq!(ev[7].1["part"], json!({"type": "refusal", "refusal": ""}));
    assert_eq!(ev[8].1["content_index"], 1);
    let done = well_formed(&ev);
    assert_eq!(k.last(), Some(&"response.incomplete"));
    assert_eq!(
        (
            &done["status"],
            &done["incomplete_details"],
            &done["completed_at"]
        ),
        (
            &json!("incomplete"),
            &json!({"reason": "max_output_tokens"}),
            &Value::Null
        )
    );
    let output = done["output"].as_array().unwrap();
    assert_eq!(output[0]["status"], "completed");
    assert_eq!(
        output[1],
        json!({"id": "fc_ABC_1", "type": "function_call", "status": "incomplete",
               "call_id": "call_g__thought__gsig", "name": "f", "arguments": "{}"}),
        "the item cut short is incomplete; a Gemini signature rides in the call id"
    );
}

#[test]
fn a_failure_mid_stream_is_an_error_event_then_response_failed() {
    let mut r = reply();
    let mut frames = r.chunk(&Chunk::text("Hi"));
    frames.extend(r.chunk(&call(0, Some("c1"), Some("f"), "{")));
    frames.extend(r.chunk(&call(1, Some("c2"), Some("g"), "{}")));
    let e = UpstreamError::new(
        UpstreamErrorKind::RateLimited { retry_after: None },
        0,
        "anthropic: slow down",
    );
    frames.extend(r.fail(&e));
    assert!(
        r.end(Usage::default()).is_empty() && r.fail(&e).is_empty(),
        "the stream has ended"
    );
    let ev = events(&frames);
    let n = ev.len();
    assert_eq!(kinds(&ev)[n - 2..], ["error", "response.failed"]);
    assert_eq!(
        ev[n - 2].1,
        json!({"type": "error", "sequence_number": n - 2, "code": "rate_limit_exceeded",
               "message": "anthropic: slow down", "param": null})
    );
    let failed = well_formed(&ev);
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code": "rate_limit_exceeded", "message": "anthropic: slow down"})
    );
    let statuses: Vec<&str> = failed["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["completed", "incomplete", "incomplete"],
        "what came so far, the rest cut short"
    );
}

#[test]
fn an_empty_reply_still_opens_and_completes_its_response() {
    let ev = stream(&[], Usage::new(4, 0));
    assert_eq!(
        kinds(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
    assert_eq!(ev[2].1["response"]["output"], json!([]));
}

#[test]
fn a_completion_renders_every_block_with_the_settings_and_usage_details() {
    let c = Completion {
        content: vec![
            Block::Reasoning(Reasoning {
                text: "Think.".into(),
                signature: Some("sig".into()),
                redacted: None,
            }),
            Block::Reasoning(Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            }),
            Block::Text("Hi".into()),
            Block::Refusal("No.".into()),
            Block::ToolCall(ToolCall {
                id: "c1".into(),
                name: "w".into(),
                arguments: "{}".into(),
                signature: Some("gsig".into()),
            }),
            Block::Text("After.".into()),
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
    let body = reply().completion(&c);
    assert_eq!(
        body["output"],
        json!([
            {"id": "rs_ABC_0", "type": "reasoning", "status": "completed",
             "summary": [{"type": "summary_text", "text": "Think."}], "encrypted_content": "chatgate:signature:sig"},
            {"id": "rs_ABC_1", "type": "reasoning", "status": "completed", "summary": [],
             "encrypted_content": "chatgate:redacted:opaque"},
            {"id": "msg_ABC_2", "type": "message", "role": "assistant", "status": "completed", "content": [
                {"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "No."}]},
            {"id": "fc_ABC_3", "type": "function_call", "status": "completed", "call_id": "c1__thought__gsig",
             "name": "w", "arguments": "{}"},
            {"id": "msg_ABC_4", "type": "message", "role": "assistant", "status": "completed", "content": [
                {"type": "output_text", "text": "After.", "annotations": [], "logprobs": []}]},
        ])
    );
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 3},
               "output_tokens": 6, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 16})
    );
    // Every field openai-python's `Response` requires, and the spec's required ones.
    for field in [
        "id",
        "object",
        "created_at",
        "status",
        "error",
        "incomplete_details",
        "instructions",
        "model",
        "tools",
        "output",
        "parallel_tool_calls",
        "metadata",
        "tool_choice",
        "temperature",
        "top_p",
    ] {
        assert!(body.get(field).is_some(), "{field} missing");
    }
    assert_eq!(
        (
            &body["id"],
            &body["object"],
            &body["created_at"],
            &body["status"],
            &body["model"]
        ),
        (
            &json!("resp_ABC"),
            &json!("response"),
            &json!(1_700_000_000),
            &json!("completed"),
            &json!("demo/echo")
        )
    );
    assert_eq!(
        (
            &body["store"],
            &body["previous_response_id"],
            &body["tool_choice"],
            &body["text"],
            &body["metadata"]
        ),
        (
            &json!(false),
            &Value::Null,
            &json!("auto"),
            &json!({"format": {"type": "text"}}),
            &json!({})
        )
    );
    assert!(
        body.get("output_text").is_none(),
        "the SDKs compute output_text themselves"
    );
}

#[test]
fn a_whole_reply_cut_by_a_filter_is_incomplete_and_its_logprobs_follow_its_text() {
    let entry =
        |t: &str| json!({"token": t, "logprob": -0.5, "bytes": t.as_bytes(), "top_logprobs": []});
    let c = Completion {
        content: vec![
            Block::Text("Hi there".into()),
            Block::ToolCall(ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: "{}".into(),
                signature: None,
            }),
            Block::Text("Bye".into()),
        ],
        usage: Usage::new(1, 3),
        finish_reason: Some(FinishReason::ContentFilter),
        logprobs: Some(vec![entry("Hi"), entry(" there"), entry("By"), entry("e")]),
    };
    let body = reply().completion(&c);
    assert_eq!(
        (&body["status"], &body["incomplete_details"]),
        (&json!("incomplete"), &json!({"reason": "content_filter"}))
    );
    let out = body["output"].as_array().unwrap();
    assert_eq!(
        (&out[0]["status"], &out[2]["status"]),
        (&json!("completed"), &json!("incomplete"))
    );
    assert_eq!(
        out[0]["content"][0]["logprobs"],
        json!([entry("Hi"), entry(" there")])
    );
    assert_eq!(
        out[2]["content"][0]["logprobs"],
        json!([entry("By"), entry("e")])
    );
}

fn fixture_chunks(kind: ProviderKind, fixture: &str) -> (Vec<Chunk>, Option<UpstreamError>) {
    let mut dec = SseDecoder::new();
    let mut mapper = stream_mapper(kind);
    let mut chunks = Vec::new();
    let events = dec
        .feed(fixture.as_bytes())
        .unwrap()
        .into_iter()
        .chain(dec.finish().unwrap());
    for ev in events {
        match mapper.on_event(&ev) {
            Ok(c) => chunks.extend(c),
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, mapper.finish().err())
}

/// Streamed or not, a reply reads the same: the streamed response's final output is the
/// output of the completion the same chunks fold into.
fn stream_matches_completion(name: &str, chunks: &[Chunk], failure: Option<UpstreamError>) {
    let mut folded = Completion::default();
    chunks.iter().for_each(|c| folded.push(c));
    let mut r = reply();
    let mut frames: Vec<String> = chunks.iter().flat_map(|c| r.chunk(c)).collect();
    match &failure {
        Some(e) => frames.extend(r.fail(e)),
        None => frames.extend(r.end(folded.usage)),
    }
    let streamed = well_formed(&events(&frames));
    if failure.is_some() {
        assert_eq!(streamed["status"], "failed", "{name}");
        return;
    }
    let whole = reply().completion(&folded);
    for field in ["output", "usage", "status", "incomplete_details"] {
        assert_eq!(streamed[field], whole[field], "{name}: {field}");
    }
}

#[test]
fn every_provider_fixture_streams_to_the_response_its_completion_renders() {
    let fixtures = [
        (
            ProviderKind::OpenAi,
            "openai_stream",
            include_str!("../../../../tests/fixtures/sse/openai_stream.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_tool_calls",
            include_str!("../../../../tests/fixtures/sse/openai_tool_calls.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_parallel_tool_calls",
            include_str!("../../../../tests/fixtures/sse/openai_parallel_tool_calls.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_refusal",
            include_str!("../../../../tests/fixtures/sse/openai_refusal.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_logprobs",
            include_str!("../../../../tests/fixtures/sse/openai_logprobs.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_refusal_logprobs",
            include_str!("../../../../tests/fixtures/sse/openai_refusal_logprobs.sse"),
        ),
        (
            ProviderKind::OpenAi,
            "openai_usage_details",
            include_str!("../../../../tests/fixtures/sse/openai_usage_details.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_stream",
            include_str!("../../../../tests/fixtures/sse/anthropic_stream.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_error",
            include_str!("../../../../tests/fixtures/sse/anthropic_error.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_tool_use",
            include_str!("../../../../tests/fixtures/sse/anthropic_tool_use.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_thinking",
            include_str!("../../../../tests/fixtures/sse/anthropic_thinking.sse"),
        ),
        (
            ProviderKind::Anthropic,
            "anthropic_refusal",
            include_str!("../../../../tests/fixtures/sse/anthropic_refusal.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_stream",
            include_str!("../../../../tests/fixtures/sse/gemini_stream.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_function_calls",
            include_str!("../../../../tests/fixtures/sse/gemini_function_calls.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_thinking",
            include_str!("../../../../tests/fixtures/sse/gemini_thinking.sse"),
        ),
        (
            ProviderKind::Gemini,
            "gemini_json",
            include_str!("../../../../tests/fixtures/sse/gemini_json.sse"),
        ),
    ];
    for (kind, name, fixture) in fixtures {
        let (chunks, failure) = fixture_chunks(kind, fixture);
        assert!(
            !chunks.is_empty() || failure.is_some(),
            "{name}: nothing mapped"
        );
        stream_matches_completion(name, &chunks, failure);
    }
}

#[test]
fn every_demo_feature_streams_to_the_response_its_completion_renders() {
    let tools = json!([{"type": "function", "name": "weather", "strict": null,
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    for body in [
        json!({"model": "demo/echo", "input": "Hello there"}),
        json!({"model": "demo/echo", "input": "Weather?", "tools": tools}),
        json!({"model": "demo/echo", "input": "Think", "reasoning": {"effort": "low", "summary": "auto"}, "tools": tools}),
        json!({"model": "demo/echo", "input": "JSON", "text": {"format": {"type": "json_schema", "name": "a",
               "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}}),
        json!({"model": "demo/echo", "input": "Scores", "top_logprobs": 2}),
    ] {
        let req = parse_request(body.to_string().as_bytes()).unwrap().chat;
        let chunks = demo::chunks(&req);
        stream_matches_completion(&body.to_string(), &chunks, None);
        let whole = reply().completion(&demo::completion(&req));
        assert_eq!(whole["status"], "completed", "{body}");
    }
}
