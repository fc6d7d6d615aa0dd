#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::super::{
    stream_mapper, Effort, Message, Reasoning, ReasoningRequest, Tool, ToolCall, ToolResult,
};
use super::*;

fn req(text: &str) -> ChatRequest {
    ChatRequest {
        model: MODEL.into(),
        system: Some("Be nice.".into()),
        messages: vec![
            Message::user("first"),
            Message::assistant("ok"),
            Message::user(text),
        ],
        ..Default::default()
    }
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Weather of a city".into()),
        parameters: json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "hourly": {"type": "boolean"},
                "optional": {"type": "string"}
            },
            "required": ["city", "days", "unit", "hourly"]
        }),
        strict: None,
    }
}

fn time_tool() -> Tool {
    Tool {
        name: "get_time".into(),
        description: None,
        parameters: json!({"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}),
        strict: Some(true),
    }
}

fn with_tools(tools: Vec<Tool>, tool_choice: Option<ToolChoice>) -> ChatRequest {
    ChatRequest {
        tools,
        tool_choice,
        ..req("Weather in Paris?")
    }
}

fn tool_result_turn(is_error: bool) -> Message {
    Message {
        role: Role::User,
        content: vec![Block::ToolResult(ToolResult {
            call_id: "call_demo_3".into(),
            name: Some("get_weather".into()),
            content: vec![Block::Text("sunny, 21C".into())],
            is_error,
        })],
    }
}

fn png() -> Media {
    Media::Base64 {
        media_type: "image/png".into(),
        data: "iVBORw0KGgo=".into(),
    }
}

#[test]
fn the_reply_echoes_the_last_user_message_verbatim_and_tokens_join_exactly() {
    let text = "<script>alert(1)</script> **bold**\n  `code`  ";
    let tokens = reply_tokens(&req(text));
    let reply: String = tokens.concat();
    assert!(
        reply.starts_with(&format!("You said: {text}\n\n")),
        "{reply}"
    );
    assert!(reply.ends_with(ABOUT));
    // Each token is a word followed by its whitespace.
    assert_eq!(
        tokens[..3],
        ["You ", "said: ", "<script>alert(1)</script> "]
    );
    assert!(
        (30..=60).contains(&reply_tokens(&req("hello")).len()),
        "{}",
        reply_tokens(&req("hello")).len()
    );
}

#[test]
fn the_reply_is_deterministic_and_handles_no_user_message() {
    assert_eq!(reply_tokens(&req("x")), reply_tokens(&req("x")));
    let empty = ChatRequest::default();
    assert!(reply_tokens(&empty).concat().starts_with("Hello!"));
    assert_eq!(usage(&empty, &[]).prompt_tokens, 1);
}

#[test]
fn usage_estimates_the_prompt_and_counts_the_tokens() {
    let r = req("hello");
    let tokens = reply_tokens(&r);
    // "Be nice." + "first" + "ok" + "hello" = 20 chars
    assert_eq!(usage(&r, &tokens), Usage::new(5, tokens.len() as u64));
    let c = completion(&r);
    assert_eq!(c.text(), tokens.concat());
    assert_eq!(c.usage, Usage::new(5, tokens.len() as u64));
    assert_eq!(c.finish_reason, Some(FinishReason::Stop));
    assert_eq!(c.logprobs, None);
}

#[test]
fn max_tokens_cuts_the_reply_with_the_length_finish_reason() {
    let r = ChatRequest {
        max_tokens: Some(3),
        ..req("hello")
    };
    let c = completion(&r);
    assert_eq!(c.text(), "You said: hello\n\n");
    assert_eq!(c.usage.completion_tokens, 3);
    assert_eq!(c.finish_reason, Some(FinishReason::Length));
    let roomy = ChatRequest {
        max_tokens: Some(1000),
        ..req("hello")
    };
    assert_eq!(completion(&roomy).finish_reason, Some(FinishReason::Stop));
}

#[test]
fn given_tools_it_calls_the_first_with_arguments_from_its_schema() {
    let c = completion(&with_tools(vec![weather_tool(), time_tool()], None));
    assert_eq!(
        c.content,
        vec![Block::ToolCall(ToolCall {
            id: "call_demo_3".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"demo","days":1,"hourly":true,"unit":"celsius"}"#.into(),
            signature: None,
        })]
    );
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    // One completion token per streamed piece of the arguments.
    let pieces = completion(&with_tools(vec![weather_tool()], None))
        .tool_calls()
        .next()
        .unwrap()
        .arguments
        .chars()
        .count()
        .div_ceil(JSON_PIECE_CHARS);
    assert_eq!(c.usage.completion_tokens, pieces as u64);
    // The same with tool_choice auto or required.
    for choice in [ToolChoice::Auto, ToolChoice::Required] {
        let again = completion(&with_tools(vec![weather_tool()], Some(choice)));
        assert_eq!(again.content, c.content);
    }
}

#[test]
fn a_forced_tool_is_the_one_called_and_tool_choice_none_answers_in_text() {
    let c = completion(&with_tools(
        vec![weather_tool(), time_tool()],
        Some(ToolChoice::Named("get_time".into())),
    ));
    let call = c.tool_calls().next().unwrap();
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("get_time", r#"{"zone":"demo"}"#)
    );
    let c = completion(&with_tools(vec![weather_tool()], Some(ToolChoice::None)));
    assert_eq!(c.tool_calls().count(), 0);
    assert!(c.text().starts_with("You said: Weather in Paris?"));
    assert_eq!(c.finish_reason, Some(FinishReason::Stop));
}

#[test]
fn a_tool_result_last_is_quoted_instead_of_calling_again() {
    let mut r = with_tools(vec![weather_tool()], Some(ToolChoice::Required));
    r.messages.push(Message {
        role: Role::Assistant,
        content: vec![Block::ToolCall(ToolCall {
            id: "call_demo_3".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
            signature: None,
        })],
    });
    r.messages.push(tool_result_turn(false));
    let c = completion(&r);
    assert_eq!(c.tool_calls().count(), 0);
    assert_eq!(c.text(), "Tool get_weather returned: sunny, 21C");
    assert_eq!(c.finish_reason, Some(FinishReason::Stop));

    r.messages.pop();
    let mut failed = tool_result_turn(true);
    failed.content.push(Block::Text("Try again?".into()));
    r.messages.push(failed);
    assert_eq!(
        completion(&r).text(),
        "Tool get_weather failed: sunny, 21C\nYou said: Try again?"
    );
}

#[test]
fn json_object_output_echoes_the_last_user_text_as_json() {
    let r = ChatRequest {
        response_format: Some(ResponseFormat::JsonObject),
        ..req("say \"hi\"\n")
    };
    let c = completion(&r);
    let value: Value = serde_json::from_str(&c.text()).unwrap();
    assert_eq!(value, json!({"echo": "say \"hi\"\n"}));
    // Streamed in pieces of eight characters.
    assert!(chunks(&r)
        .iter()
        .all(|ch| ch.text.chars().count() <= JSON_PIECE_CHARS));
}

#[test]
fn json_schema_output_is_a_value_generated_from_the_schema() {
    let r = ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "report".into(),
            description: None,
            schema: json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "score": {"type": "number"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "author": {"$ref": "#/$defs/person"},
                    "kind": {"const": "weekly"},
                    "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
                    "status": {"type": ["null", "boolean"]}
                },
                "required": ["title", "score", "tags", "author", "kind", "note", "status"],
                "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}}
            }),
            strict: Some(true),
        }),
        ..req("weekly report")
    };
    let value: Value = serde_json::from_str(&completion(&r).text()).unwrap();
    assert_eq!(
        value,
        json!({"title": "demo", "score": 1, "tags": [], "author": {"name": "demo"},
               "kind": "weekly", "note": "demo", "status": true})
    );
}

#[test]
fn schema_examples_survive_odd_and_cyclic_schemas() {
    assert_eq!(example(&json!({"enum": [3, 4]})), json!(3));
    assert_eq!(example(&json!({"type": "null"})), Value::Null);
    assert_eq!(example(&json!(true)), Value::Null);
    assert_eq!(
        example(&json!({"type": "OBJECT", "required": ["a"]})),
        json!({"a": null})
    );
    let cyclic = json!({"$ref": "#"});
    assert_eq!(example(&cyclic), Value::Null);
    let nested =
        json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
    assert!(example(&nested).is_object());
    // Parameters that are not an object schema still give object arguments.
    let r = with_tools(
        vec![Tool {
            name: "ping".into(),
            description: None,
            parameters: Value::Null,
            strict: None,
        }],
        None,
    );
    assert_eq!(completion(&r).tool_calls().next().unwrap().arguments, "{}");
}

#[test]
fn reasoning_asked_for_comes_first_signed_and_counted() {
    let r = ChatRequest {
        reasoning: Some(ReasoningRequest {
            effort: Some(Effort::Low),
            ..Default::default()
        }),
        ..req("why is the sky blue")
    };
    let all = chunks(&r);
    assert!(all[0].reasoning.is_some() && all[0].text.is_empty());
    let c = completion(&r);
    let thinking = "Thinking about: why is the sky blue";
    assert_eq!(
        c.content[0],
        Block::Reasoning(Reasoning {
            text: thinking.into(),
            signature: Some(reasoning_signature(thinking)),
            redacted: None,
        })
    );
    assert!(matches!(&c.content[1], Block::Text(t) if t.starts_with("You said: why")));
    assert_eq!(reasoning_signature(thinking), reasoning_signature(thinking));
    assert_ne!(
        reasoning_signature(thinking),
        reasoning_signature("Thinking about: x")
    );
    // 7 words of reasoning, counted in the completion as well.
    let answer = reply_tokens(&r).len() as u64;
    assert_eq!(c.usage.reasoning_tokens, 7);
    assert_eq!(c.usage.completion_tokens, answer + 7);
    assert_eq!(
        completion(&req("why is the sky blue"))
            .usage
            .reasoning_tokens,
        0
    );
}

#[test]
fn images_and_documents_of_the_last_turn_are_named() {
    let turn = |content| ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content,
        }],
        ..Default::default()
    };
    let c = completion(&turn(vec![
        Block::Text("What is this?".into()),
        Block::Image(png()),
    ]));
    assert!(
        c.text()
            .starts_with("You said: What is this?\n\nYou sent 1 image (image/png).\n\n"),
        "{}",
        c.text()
    );
    let c = completion(&turn(vec![
        Block::Image(png()),
        Block::Image(Media::Url("https://example.com/cat.jpg".into())),
        Block::Document {
            media: Media::Base64 {
                media_type: "application/pdf".into(),
                data: "JVBERi0=".into(),
            },
            name: Some("a.pdf".into()),
        },
    ]));
    assert!(
        c.text().starts_with(
            "You sent 2 images (image/png, https://example.com/cat.jpg) and 1 document (application/pdf).\n\n"
        ),
        "{}",
        c.text()
    );
}

#[test]
fn logprobs_asked_for_score_each_text_token_deterministically() {
    let r = ChatRequest {
        logprobs: true,
        top_logprobs: Some(2),
        ..req("hello")
    };
    let all = chunks(&r);
    assert_eq!(
        all[0].logprobs,
        Some(json!({"content": [{
            "token": "You ", "logprob": -0.125, "bytes": [89, 111, 117, 32],
            "top_logprobs": [
                {"token": "You ", "logprob": -0.125, "bytes": [89, 111, 117, 32]},
                {"token": "alt1", "logprob": -1.125, "bytes": [97, 108, 116, 49]}
            ]
        }]}))
    );
    let c = completion(&r);
    let entries = c.logprobs.unwrap();
    assert_eq!(entries.len(), reply_tokens(&r).len());
    let scores: Vec<f64> = entries[..5]
        .iter()
        .map(|e| e["logprob"].as_f64().unwrap())
        .collect();
    assert_eq!(scores, [-0.125, -0.25, -0.375, -0.5, -0.125]);
    // No logprobs for tool calls.
    let call = ChatRequest {
        logprobs: true,
        ..with_tools(vec![weather_tool()], None)
    };
    assert_eq!(completion(&call).logprobs, None);
}

#[test]
fn max_tokens_cuts_tool_call_arguments_too() {
    let r = ChatRequest {
        max_tokens: Some(2),
        ..with_tools(vec![weather_tool()], None)
    };
    let c = completion(&r);
    assert_eq!(
        c.tool_calls().next().unwrap().arguments,
        r#"{"city":"demo",""#
    );
    assert_eq!(c.finish_reason, Some(FinishReason::Length));
    assert_eq!(c.usage.completion_tokens, 2);
}

#[test]
fn encoded_chunks_go_through_the_decoder_and_mapper_unchanged() {
    let rich = ChatRequest {
        reasoning: Some(ReasoningRequest::default()),
        logprobs: true,
        ..req("héllo 🙂")
    };
    let call = ChatRequest {
        reasoning: Some(ReasoningRequest::default()),
        ..with_tools(vec![weather_tool()], None)
    };
    for r in [req("héllo 🙂"), rich, call] {
        let expected = chunks(&r);
        let wire: String = expected.iter().map(encode_chunk).collect();
        let mut dec = sse::SseDecoder::new();
        let mut mapper = stream_mapper(KIND);
        let mut got = Vec::new();
        for ev in dec.feed(wire.as_bytes()).unwrap() {
            got.extend(mapper.on_event(&ev).unwrap());
        }
        assert!(mapper.finish().is_ok());
        assert_eq!(got, expected);
    }
    let c = parse_completion(br#"{"text":"hi","finish_reason":"stop","usage":{"prompt_tokens":1,"completion_tokens":1}}"#).unwrap();
    assert_eq!(c.text(), "hi");
    let c = parse_completion(br#"{"refusal":"no","finish_reason":"refusal"}"#).unwrap();
    assert_eq!(c.refusal(), Some("no"));
    assert_eq!(c.finish_reason, Some(FinishReason::Refusal));
}
