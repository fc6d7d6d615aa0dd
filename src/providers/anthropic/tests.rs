#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::providers::{Message, Reasoning, ReasoningRequest, Tool, ToolCall, ToolResult};
use serde_json::json;

fn tool(name: &str, parameters: serde_json::Value) -> Tool {
    Tool {
        name: name.into(),
        description: None,
        parameters,
        strict: Some(true),
    }
}

fn call(arguments: &str) -> Block {
    Block::ToolCall(ToolCall {
        id: "toolu_1".into(),
        name: "f".into(),
        arguments: arguments.into(),
        signature: None,
    })
}

fn turn(role: Role, content: Vec<Block>) -> Message {
    Message { role, content }
}

fn pdf(media_type: &str) -> Block {
    Block::Document {
        media: Media::Base64 {
            media_type: media_type.into(),
            data: "JVBERi0=".into(),
        },
        name: None,
    }
}

fn png(media_type: &str) -> Block {
    Block::Image(Media::Base64 {
        media_type: media_type.into(),
        data: "iVBORw0KGgo=".into(),
    })
}

/// Everything Anthropic can do, at once.
fn full() -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet-4-5".into(),
        system: Some("Be brief.".into()),
        messages: vec![
            turn(
                Role::User,
                vec![
                    Block::Text("Look:".into()),
                    png("image/webp"),
                    Block::Image(Media::Url("https://example.com/a.gif".into())),
                    pdf("application/pdf"),
                ],
            ),
            turn(
                Role::Assistant,
                vec![
                    Block::Reasoning(Reasoning {
                        text: "hm".into(),
                        signature: Some("sig".into()),
                        redacted: None,
                    }),
                    call(r#"{"q": [1, {"r": null}]}"#),
                    call(""),
                ],
            ),
            turn(
                Role::User,
                vec![Block::ToolResult(ToolResult {
                    call_id: "toolu_1".into(),
                    name: None,
                    content: vec![Block::Text("ok".into()), png("image/jpeg")],
                    is_error: true,
                })],
            ),
        ],
        tools: vec![
            tool("f", json!({"type": "object", "properties": {}})),
            tool("g", serde_json::Value::Null),
        ],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            description: None,
            schema: json!({"type": "object"}),
            strict: Some(true),
        }),
        reasoning: Some(ReasoningRequest {
            effort: Some(Effort::Low),
            budget_tokens: None,
            include: true,
        }),
        max_tokens: Some(4000),
        temperature: Some(1.0),
        top_p: Some(0.95),
        stop: vec!["END".into()],
        user: Some("u1".into()),
        stream: true,
        ..Default::default()
    }
}

fn refused(req: &ChatRequest) -> String {
    match validate(req) {
        Err(u) => {
            assert!(!u.message.is_empty());
            u.param
        }
        Ok(()) => panic!("accepted: {req:?}"),
    }
}

#[test]
fn a_request_using_everything_anthropic_can_do_is_accepted() {
    assert_eq!(validate(&full()), Ok(()));
    let plain = ChatRequest {
        model: "claude-opus-4-7".into(),
        messages: vec![Message::user("hi")],
        temperature: Some(0.3),
        ..Default::default()
    };
    assert_eq!(validate(&plain), Ok(()));
}

#[test]
fn what_anthropic_has_no_counterpart_for_is_refused_by_its_parameter() {
    let mut passthrough = serde_json::Map::new();
    passthrough.insert("frequency_penalty".into(), json!(0.5));
    let no_thinking = || ChatRequest {
        reasoning: None,
        ..full()
    };
    let cases: Vec<(ChatRequest, &str)> = vec![
        (
            ChatRequest {
                seed: Some(7),
                ..full()
            },
            "seed",
        ),
        (
            ChatRequest {
                logprobs: true,
                ..full()
            },
            "logprobs",
        ),
        (
            ChatRequest {
                top_logprobs: Some(2),
                ..full()
            },
            "top_logprobs",
        ),
        (
            ChatRequest {
                passthrough,
                ..full()
            },
            "frequency_penalty",
        ),
        (
            ChatRequest {
                response_format: Some(ResponseFormat::JsonObject),
                ..full()
            },
            "response_format",
        ),
        (
            ChatRequest {
                temperature: Some(1.5),
                ..no_thinking()
            },
            "temperature",
        ),
        (
            ChatRequest {
                tools: vec![tool("f", json!({"type": "string"}))],
                ..full()
            },
            "tools[0].function.parameters",
        ),
        (
            ChatRequest {
                tools: vec![tool("f", json!(null)), tool("g", json!([1]))],
                ..full()
            },
            "tools[1].function.parameters",
        ),
        (
            ChatRequest {
                tools: Vec::new(),
                tool_choice: Some(ToolChoice::Required),
                ..no_thinking()
            },
            "tool_choice",
        ),
    ];
    for (req, param) in cases {
        assert_eq!(refused(&req), param);
    }
}

#[test]
fn content_anthropic_cannot_read_is_refused_by_its_place_in_the_messages() {
    let with = |i: usize, content: Vec<Block>| {
        let mut req = full();
        req.messages[i].content = content;
        req
    };
    let cases: Vec<(ChatRequest, &str)> = vec![
        (with(0, vec![png("image/bmp")]), "messages[0].content[0]"),
        (
            with(0, vec![Block::Text("x".into()), pdf("text/plain")]),
            "messages[0].content[1]",
        ),
        (with(0, vec![call("{}")]), "messages[0].content[0]"),
        (
            with(0, vec![Block::Reasoning(Reasoning::default())]),
            "messages[0].content[0]",
        ),
        (
            with(1, vec![call("{}"), call("[1, 2]")]),
            "messages[1].tool_calls[1].function.arguments",
        ),
        (
            with(1, vec![call("{\"a\": ")]),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            with(
                1,
                vec![Block::ToolResult(ToolResult {
                    call_id: "t".into(),
                    name: None,
                    content: Vec::new(),
                    is_error: false,
                })],
            ),
            "messages[1].content[0]",
        ),
        (
            with(
                2,
                vec![Block::ToolResult(ToolResult {
                    call_id: "toolu_1".into(),
                    name: None,
                    content: vec![Block::Text("a".into()), call("{}")],
                    is_error: false,
                })],
            ),
            "messages[2].content[0].content[1]",
        ),
        (
            with(
                2,
                vec![Block::ToolResult(ToolResult {
                    call_id: "toolu_1".into(),
                    name: None,
                    content: vec![png("image/tiff")],
                    is_error: false,
                })],
            ),
            "messages[2].content[0].content[0]",
        ),
    ];
    for (req, param) in cases {
        assert_eq!(refused(&req), param);
    }
}

#[test]
fn thinking_is_refused_with_what_anthropic_documents_it_cannot_go_with() {
    let budget = |budget_tokens: u32| {
        Some(ReasoningRequest {
            effort: None,
            budget_tokens: Some(budget_tokens),
            include: false,
        })
    };
    let mut prefill = full();
    prefill.messages.push(Message::assistant("The answer is"));
    let cases: Vec<(ChatRequest, &str)> = vec![
        (
            ChatRequest {
                reasoning: budget(1000),
                max_tokens: None,
                ..full()
            },
            "thinking.budget_tokens",
        ),
        (
            ChatRequest {
                reasoning: budget(4000),
                max_tokens: Some(4000),
                ..full()
            },
            "max_tokens",
        ),
        // An effort's budget shrinks under max_tokens, but not below Anthropic's minimum.
        (
            ChatRequest {
                max_tokens: Some(1024),
                ..full()
            },
            "max_tokens",
        ),
        (
            ChatRequest {
                temperature: Some(0.7),
                ..full()
            },
            "temperature",
        ),
        (
            ChatRequest {
                top_p: Some(0.9),
                ..full()
            },
            "top_p",
        ),
        (
            ChatRequest {
                tool_choice: Some(ToolChoice::Required),
                ..full()
            },
            "tool_choice",
        ),
        (
            ChatRequest {
                tool_choice: Some(ToolChoice::Named("f".into())),
                ..full()
            },
            "tool_choice",
        ),
        (prefill.clone(), "messages[3]"),
        // Adaptive thinking (Claude 4.6 and later) has the same limits.
        (
            ChatRequest {
                model: "claude-opus-4-6".into(),
                temperature: Some(0.2),
                ..full()
            },
            "temperature",
        ),
        // Structured output cannot continue a prefilled turn either.
        (
            ChatRequest {
                reasoning: None,
                ..prefill.clone()
            },
            "messages[3]",
        ),
    ];
    for (req, param) in cases {
        assert_eq!(refused(&req), param);
    }
    // Within the limits: a budget below max_tokens, forced tools without thinking, a
    // prefill without thinking or structured output.
    assert_eq!(
        validate(&ChatRequest {
            reasoning: budget(1024),
            max_tokens: Some(1025),
            ..full()
        }),
        Ok(())
    );
    assert_eq!(
        validate(&ChatRequest {
            reasoning: budget(1024),
            max_tokens: None,
            ..full()
        }),
        Ok(())
    );
    assert_eq!(
        validate(&ChatRequest {
            max_tokens: Some(1025),
            ..full()
        }),
        Ok(())
    );
    let forced = ChatRequest {
        reasoning: None,
        tool_choice: Some(ToolChoice::Required),
        temperature: Some(0.2),
        ..full()
    };
    assert_eq!(validate(&forced), Ok(()));
    let plain_prefill = ChatRequest {
        reasoning: None,
        response_format: None,
        ..prefill
    };
    assert_eq!(validate(&plain_prefill), Ok(()));
}

#[test]
fn images_and_pdfs_go_by_url_when_it_is_a_web_url() {
    let url = |u: &str| Block::Image(Media::Url(u.into()));
    assert!(takes_url(&url("https://example.com/cat.png")));
    assert!(takes_url(&url("http://example.com/cat.png")));
    assert!(takes_url(&Block::Document {
        media: Media::Url("https://example.com/paper.pdf".into()),
        name: None,
    }));
    assert!(!takes_url(&url("data:image/png;base64,iVBORw0KGgo=")));
    assert!(!takes_url(&url("ftp://example.com/cat.png")));
}

#[test]
fn model_ids_tell_adaptive_thinking_models_apart() {
    for (model, adaptive) in [
        ("claude-3-5-haiku-latest", false),
        ("claude-3-7-sonnet-20250219", false),
        ("claude-sonnet-4-20250514", false),
        ("claude-opus-4-1-20250805", false),
        ("claude-sonnet-4-5", false),
        ("claude-haiku-4-5-20251001", false),
        ("claude-opus-4-6", true),
        ("claude-sonnet-4-6", true),
        ("claude-opus-4-7", true),
        ("claude-sonnet-5", true),
        ("claude-mythos-preview", true),
    ] {
        assert_eq!(takes_adaptive_thinking(model), adaptive, "{model}");
    }
}

#[test]
fn arguments_are_a_json_object_or_blank() {
    assert_eq!(arguments("  "), Some(Json::empty_object()));
    assert_eq!(
        arguments(r#"{"b": 1, "a": 2}"#).map(|j| j.to_text()),
        Some(r#"{"b":1,"a":2}"#.into())
    );
    assert_eq!(arguments("[]"), None);
    assert_eq!(arguments("\"x\""), None);
    assert_eq!(arguments("{"), None);
}
