#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::super::super::{Message as Turn, Reasoning, Tool, ToolCall, ToolResult};
use super::*;
use serde_json::json;

fn body(spec: &HttpRequestSpec) -> Value {
    serde_json::from_str(&spec.body).unwrap()
}

fn built(req: &ChatRequest) -> Value {
    body(&build_request("https://api.openai.com/v1", "k", req))
}

fn png() -> Media {
    Media::Base64 {
        media_type: "image/png".into(),
        data: "iVBORw0KGgo=".into(),
    }
}

fn pdf() -> Media {
    Media::Base64 {
        media_type: "application/pdf".into(),
        data: "JVBERi0xLjQ=".into(),
    }
}

fn call(id: &str, name: &str, arguments: &str) -> Block {
    Block::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
        signature: None,
    })
}

fn result(call_id: &str, content: Vec<Block>) -> Block {
    Block::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: Some("get_weather".into()),
        content,
        is_error: false,
    })
}

fn user(content: Vec<Block>) -> Turn {
    Turn {
        role: Role::User,
        content,
    }
}

fn assistant(content: Vec<Block>) -> Turn {
    Turn {
        role: Role::Assistant,
        content,
    }
}

#[test]
fn build_request_sends_bearer_auth_system_first_and_asks_for_usage() {
    let req = ChatRequest {
        model: "gpt-4o-mini".into(),
        system: Some("Be brief.".into()),
        messages: vec![
            Turn::user("Hi"),
            Turn::assistant("Hello"),
            Turn::user("Again"),
        ],
        max_tokens: Some(50),
        temperature: Some(0.5),
        stop: vec!["END".into()],
        user: Some("u1".into()),
        stream: true,
        ..Default::default()
    };
    let spec = build_request("https://api.openai.com/v1", "sk-test", &req);
    assert_eq!(spec.url, "https://api.openai.com/v1/chat/completions");
    assert!(spec
        .headers
        .contains(&("Authorization".into(), "Bearer sk-test".into())));
    assert_eq!(
        body(&spec),
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Again"}
            ],
            "max_completion_tokens": 50, "temperature": 0.5, "stop": ["END"], "user": "u1",
            "stream": true, "stream_options": {"include_usage": true}
        })
    );
}

#[test]
fn every_kind_of_block_becomes_its_chat_completions_message_or_part() {
    let req = ChatRequest {
        model: "gpt-4o".into(),
        messages: vec![
            user(vec![
                Block::Text("Compare these.".into()),
                Block::Image(Media::Url("https://example.com/cat.jpg".into())),
                Block::Image(png()),
                Block::Document {
                    media: pdf(),
                    name: Some("report.pdf".into()),
                },
                Block::Document {
                    media: pdf(),
                    name: None,
                },
            ]),
            assistant(vec![
                Block::Reasoning(Reasoning {
                    text: "They differ.".into(),
                    signature: Some("sig".into()),
                    redacted: None,
                }),
                Block::Text("Let me check the weather.".into()),
                call("call_1", "get_weather", r#"{"city":"Paris"}"#),
                call("call_2", "get_weather", r#"{"city":"Rome"}"#),
            ]),
            user(vec![
                result("call_1", vec![Block::Text("sunny".into())]),
                result(
                    "call_2",
                    vec![Block::Text("rain".into()), Block::Text(", 12C".into())],
                ),
                Block::Text("And tomorrow?".into()),
            ]),
            assistant(vec![Block::Refusal("I can't forecast that far.".into())]),
            user(vec![result("call_3", vec![])]),
        ],
        ..Default::default()
    };
    assert_eq!(
        built(&req)["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "Compare these."},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
                {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}}
            ]},
            {"role": "assistant", "content": "Let me check the weather.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [
                {"type": "text", "text": "rain"}, {"type": "text", "text": ", 12C"}
            ]},
            {"role": "user", "content": "And tomorrow?"},
            {"role": "assistant", "refusal": "I can't forecast that far."},
            {"role": "tool", "tool_call_id": "call_3", "content": ""}
        ])
    );
}

#[test]
fn tool_results_go_before_the_text_of_their_turn_and_a_bare_call_has_no_content() {
    let req = ChatRequest {
        messages: vec![
            assistant(vec![call("c", "f", "{}")]),
            user(vec![
                Block::Text("Here:".into()),
                result("c", vec![Block::Text("42".into())]),
            ]),
            // Reasoning alone (another provider's) leaves an empty assistant turn.
            assistant(vec![Block::Reasoning(Reasoning::default())]),
        ],
        ..Default::default()
    };
    assert_eq!(
        built(&req)["messages"],
        json!([
            {"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "c", "content": "42"},
            {"role": "user", "content": "Here:"},
            {"role": "assistant", "content": ""}
        ])
    );
}

#[test]
fn every_option_maps_to_its_chat_completions_field() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false});
    let req = ChatRequest {
        model: "o4-mini".into(),
        messages: vec![Turn::user("Weather?")],
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather".into()),
                parameters: schema.clone(),
                strict: Some(true),
            },
            Tool {
                name: "now".into(),
                description: None,
                parameters: Value::Null,
                strict: None,
            },
        ],
        tool_choice: Some(ToolChoice::Named("get_weather".into())),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "weather".into(),
            description: Some("A report".into()),
            schema: schema.clone(),
            strict: Some(true),
        }),
        reasoning: Some(ReasoningRequest {
            effort: Some(Effort::High),
            budget_tokens: Some(1024),
            include: true,
        }),
        max_tokens: Some(500),
        top_p: Some(0.9),
        seed: Some(-7),
        logprobs: true,
        top_logprobs: Some(3),
        stream: true,
        ..Default::default()
    };
    assert_eq!(
        built(&req),
        json!({
            "model": "o4-mini",
            "messages": [{"role": "user", "content": "Weather?"}],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": schema, "strict": true}},
                {"type": "function", "function": {"name": "now"}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "description": "A report", "schema": schema, "strict": true}},
            "reasoning_effort": "high",
            "max_completion_tokens": 500,
            "top_p": 0.9,
            "seed": -7,
            "logprobs": true,
            "top_logprobs": 3,
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
}

#[test]
fn tool_choices_and_response_formats_map_to_their_openai_values() {
    let cases = [
        (Some(ToolChoice::Auto), None, json!("auto"), Value::Null),
        (Some(ToolChoice::None), None, json!("none"), Value::Null),
        (
            Some(ToolChoice::Required),
            Some(ResponseFormat::Text),
            json!("required"),
            json!({"type": "text"}),
        ),
        (
            None,
            Some(ResponseFormat::JsonObject),
            Value::Null,
            json!({"type": "json_object"}),
        ),
    ];
    for (choice, format, want_choice, want_format) in cases {
        let req = ChatRequest {
            tool_choice: choice,
            response_format: format,
            ..Default::default()
        };
        let b = built(&req);
        assert_eq!(b.get("tool_choice").unwrap_or(&Value::Null), &want_choice);
        assert_eq!(
            b.get("response_format").unwrap_or(&Value::Null),
            &want_format
        );
    }
}

#[test]
fn a_reasoning_budget_alone_becomes_the_nearest_effort_level() {
    let effort = |effort: Option<Effort>, budget: Option<u32>| {
        let req = ChatRequest {
            reasoning: Some(ReasoningRequest {
                effort,
                budget_tokens: budget,
                include: false,
            }),
            ..Default::default()
        };
        built(&req).get("reasoning_effort").cloned()
    };
    for (budget, want) in [
        (0, "minimal"),
        (1024, "minimal"),
        (1535, "minimal"),
        (1536, "low"),
        (2048, "low"),
        (3072, "medium"),
        (4096, "medium"),
        (6144, "high"),
        (8192, "high"),
        (32_000, "high"),
    ] {
        assert_eq!(effort(None, Some(budget)), Some(json!(want)), "{budget}");
    }
    // Every level's own budget comes back as that level.
    for level in [Effort::Minimal, Effort::Low, Effort::Medium, Effort::High] {
        assert_eq!(
            effort(None, Some(level.budget_tokens())),
            Some(json!(level.as_str()))
        );
        assert_eq!(
            effort(Some(level), Some(99_999)),
            Some(json!(level.as_str()))
        );
    }
    // Reasoning asked for with neither: OpenAI's own default applies.
    assert_eq!(effort(None, None), None);
}

#[test]
fn passthrough_fields_are_copied_and_raw_messages_replace_the_built_ones() {
    let raw = json!([{"role": "tool", "tool_call_id": "c1", "content": "42"}]);
    let mut passthrough = serde_json::Map::new();
    passthrough.insert("messages".into(), raw.clone());
    passthrough.insert("tools".into(), json!([{"type": "function"}]));
    passthrough.insert("seed".into(), json!(7));
    passthrough.insert("model".into(), json!("evil"));
    let req = ChatRequest {
        model: "gpt-4o".into(),
        messages: vec![Turn::user("x")],
        passthrough,
        ..Default::default()
    };
    let b = built(&req);
    assert_eq!(b["messages"], raw);
    assert_eq!(b["seed"], 7);
    assert_eq!(b["tools"][0]["type"], "function");
    assert_eq!(b["model"], "gpt-4o");
    assert_eq!(b["stream"], false);
    assert!(b.get("stream_options").is_none());
}

#[test]
fn options_from_the_neutral_model_win_over_passthrough_entries_of_the_same_name() {
    let mut passthrough = serde_json::Map::new();
    for (key, value) in [
        (
            "tools",
            json!([{"type": "function", "function": {"name": "old"}}]),
        ),
        ("tool_choice", json!("none")),
        ("parallel_tool_calls", json!(true)),
        ("response_format", json!({"type": "text"})),
        ("reasoning_effort", json!("low")),
        ("seed", json!(1)),
        ("logprobs", json!(false)),
        ("top_logprobs", json!(1)),
        ("frequency_penalty", json!(0.5)),
    ] {
        passthrough.insert(key.into(), value);
    }
    let req = ChatRequest {
        tools: vec![Tool {
            name: "new".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonObject),
        reasoning: Some(ReasoningRequest {
            effort: Some(Effort::Medium),
            ..Default::default()
        }),
        seed: Some(2),
        logprobs: true,
        top_logprobs: Some(2),
        passthrough,
        ..Default::default()
    };
    let spec = build_request("https://api.openai.com/v1", "k", &req);
    // No key twice in the body.
    for key in ["tools", "tool_choice", "seed", "logprobs", "top_logprobs"] {
        assert_eq!(
            spec.body.matches(&format!("\"{key}\":")).count(),
            1,
            "{key}"
        );
    }
    let b = body(&spec);
    assert_eq!(b["tools"][0]["function"]["name"], "new");
    assert_eq!(b["tool_choice"], "required");
    assert_eq!(b["parallel_tool_calls"], false);
    assert_eq!(b["response_format"], json!({"type": "json_object"}));
    assert_eq!(b["reasoning_effort"], "medium");
    assert_eq!(b["seed"], 2);
    assert_eq!(b["logprobs"], true);
    assert_eq!(b["top_logprobs"], 2);
    // What the model does not carry still passes through.
    assert_eq!(b["frequency_penalty"], 0.5);
}

#[test]
fn validate_refuses_what_openai_messages_cannot_carry_by_parameter() {
    let refused = |messages: Vec<Turn>| {
        validate(&ChatRequest {
            messages,
            ..Default::default()
        })
        .unwrap_err()
    };
    let err = refused(vec![
        Turn::user("hi"),
        assistant(vec![call("c", "screenshot", "{}")]),
        user(vec![result(
            "c",
            vec![Block::Text("here".into()), Block::Image(png())],
        )]),
    ]);
    assert_eq!(err.param, "messages[2].content[0]");
    assert!(err.message.contains("text only"), "{}", err.message);

    let err = refused(vec![assistant(vec![
        Block::Text("a chart:".into()),
        Block::Image(png()),
    ])]);
    assert_eq!(err.param, "messages[0].content[1]");

    assert_eq!(
        refused(vec![user(vec![call("c", "f", "{}")])]).param,
        "messages[0].content[0]"
    );
    assert_eq!(
        refused(vec![assistant(vec![result("c", vec![])])]).param,
        "messages[0].content[0]"
    );
}

#[test]
fn validate_accepts_reasoning_history_documents_by_url_budgets_and_every_option() {
    let req = ChatRequest {
        messages: vec![
            user(vec![
                Block::Document {
                    media: Media::Url("https://example.com/a.pdf".into()),
                    name: None,
                },
                Block::Image(Media::Url("https://example.com/a.png".into())),
            ]),
            assistant(vec![
                Block::Reasoning(Reasoning {
                    text: "hmm".into(),
                    signature: Some("s".into()),
                    redacted: None,
                }),
                Block::Refusal("no".into()),
            ]),
        ],
        tools: vec![Tool {
            name: "f".into(),
            description: None,
            parameters: json!({}),
            strict: Some(true),
        }],
        reasoning: Some(ReasoningRequest {
            budget_tokens: Some(2000),
            ..Default::default()
        }),
        logprobs: true,
        top_logprobs: Some(5),
        ..Default::default()
    };
    assert_eq!(validate(&req), Ok(()));
}

#[test]
fn images_go_by_url_and_documents_are_fetched_first() {
    let url = || Media::Url("https://example.com/x".into());
    assert!(takes_url(&Block::Image(url())));
    assert!(!takes_url(&Block::Document {
        media: url(),
        name: None
    }));
}
