#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::providers::{Reasoning, Tool, ToolCall};

fn body(req: &ChatRequest) -> Value {
    serde_json::from_str(&build_request("https://g", "k", req).body).unwrap()
}

fn user(content: Vec<Block>) -> Message {
    Message {
        role: Role::User,
        content,
    }
}

fn assistant(content: Vec<Block>) -> Message {
    Message {
        role: Role::Assistant,
        content,
    }
}

fn call(id: &str, name: &str, arguments: &str, signature: Option<&str>) -> Block {
    Block::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
        signature: signature.map(Into::into),
    })
}

fn result(call_id: &str, name: Option<&str>, text: &str, is_error: bool) -> Block {
    Block::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: name.map(Into::into),
        content: vec![Block::Text(text.into())],
        is_error,
    })
}

fn reasoning(text: &str, signature: Option<&str>) -> Block {
    Block::Reasoning(Reasoning {
        text: text.into(),
        signature: signature.map(Into::into),
        redacted: None,
    })
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_current_temperature".into(),
        description: Some("Gets the current temperature for a given location.".into()),
        parameters: json!({
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city name, e.g. San Francisco"}},
            "required": ["location"]
        }),
        strict: None,
    }
}

#[test]
fn build_request_uses_header_auth_model_roles_and_generation_config() {
    let req = ChatRequest {
        model: "gemini-2.5-flash".into(),
        system: Some("Be brief.".into()),
        messages: vec![
            Message::user("Hi"),
            Message::user("there"),
            Message::assistant("Hello"),
        ],
        max_tokens: Some(100),
        temperature: Some(0.7),
        top_p: Some(0.9),
        stop: vec!["END".into()],
        seed: Some(42),
        user: Some("ignored".into()),
        stream: true,
        ..Default::default()
    };
    let spec = build_request(
        "https://generativelanguage.googleapis.com",
        "AIza-test",
        &req,
    );
    assert_eq!(
        spec.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert!(spec
        .headers
        .contains(&("x-goog-api-key".into(), "AIza-test".into())));
    assert_eq!(
        body(&req),
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                {"role": "model", "parts": [{"text": "Hello"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 100, "temperature": 0.7, "topP": 0.9, "stopSequences": ["END"], "seed": 42}
        })
    );
    let plain = ChatRequest {
        model: "a/../b?x".into(),
        messages: vec![Message::user("Hi")],
        ..Default::default()
    };
    let spec = build_request("https://g", "k", &plain);
    assert_eq!(
        spec.url,
        "https://g/v1beta/models/a%2F..%2Fb%3Fx:generateContent"
    );
    assert_eq!(
        body(&plain),
        json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
    );
}

/// The parallel-call example of Google's thought-signatures guide, sent back: the
/// signature stays on the first call, results go in one user turn with their names.
#[test]
fn a_tool_call_round_trip_keeps_signatures_ids_and_names() {
    let req = ChatRequest {
        model: "gemini-3-pro-preview".into(),
        messages: vec![
            Message::user("Check the weather in Paris and London."),
            assistant(vec![
                call(
                    "call_0",
                    "get_current_temperature",
                    r#"{"location": "Paris"}"#,
                    Some("<Signature_A>"),
                ),
                call(
                    "fc_7",
                    "get_current_temperature",
                    r#"{"location":"London"}"#,
                    None,
                ),
            ]),
            user(vec![
                result("call_0", None, r#"{"temperature": "15C"}"#, false),
                result("fc_7", Some("get_current_temperature"), "12C", false),
                result("fc_7", None, "timeout", true),
            ]),
        ],
        tools: vec![weather_tool()],
        ..Default::default()
    };
    assert_eq!(
        body(&req),
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Check the weather in Paris and London."}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_current_temperature", "args": {"location": "Paris"}}, "thoughtSignature": "<Signature_A>"},
                    {"functionCall": {"id": "fc_7", "name": "get_current_temperature", "args": {"location": "London"}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_current_temperature", "response": {"temperature": "15C"}}},
                    {"functionResponse": {"id": "fc_7", "name": "get_current_temperature", "response": {"output": "12C"}}},
                    {"functionResponse": {"id": "fc_7", "name": "get_current_temperature", "response": {"error": "timeout"}}}
                ]}
            ],
            "tools": [{"functionDeclarations": [{
                "name": "get_current_temperature",
                "description": "Gets the current temperature for a given location.",
                "parametersJsonSchema": {
                    "type": "object",
                    "properties": {"location": {"type": "string", "description": "The city name, e.g. San Francisco"}},
                    "required": ["location"]
                }
            }]}]
        })
    );
}

#[test]
fn reasoning_goes_back_as_thought_parts_and_signatures_on_the_part_they_came_on() {
    let req = ChatRequest {
        model: "gemini-2.5-flash".into(),
        messages: vec![
            Message::user("Why is the sky blue?"),
            assistant(vec![
                reasoning("**Considering scattering**", None),
                // A text part's signature, then the text it came on.
                reasoning("", Some("sig-text")),
                Block::Text("Rayleigh scattering.".into()),
                // A stream's last, empty part carried this one.
                reasoning("", Some("sig-end")),
            ]),
            Message::user("And sunsets?"),
            assistant(vec![
                reasoning("Signed thought", Some("sig-thought")),
                reasoning("", Some("sig-call")),
                call("call_0", "lookup", "", None),
                reasoning("", Some("sig-a")),
                reasoning("", Some("sig-b")),
                Block::Reasoning(Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some("anthropic-opaque".into()),
                }),
            ]),
        ],
        ..Default::default()
    };
    assert_eq!(
        body(&req)["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Why is the sky blue?"}]},
            {"role": "model", "parts": [
                {"text": "**Considering scattering**", "thought": true},
                {"text": "Rayleigh scattering.", "thoughtSignature": "sig-text"},
                {"text": "", "thoughtSignature": "sig-end"}
            ]},
            {"role": "user", "parts": [{"text": "And sunsets?"}]},
            {"role": "model", "parts": [
                {"text": "Signed thought", "thought": true, "thoughtSignature": "sig-thought"},
                {"functionCall": {"name": "lookup", "args": {}}, "thoughtSignature": "sig-call"},
                {"text": "", "thoughtSignature": "sig-a"},
                {"text": "", "thoughtSignature": "sig-b"}
            ]}
        ])
    );
}

#[test]
fn unsigned_calls_of_the_current_turn_get_googles_placeholder_signature() {
    let req = ChatRequest {
        model: "gemini-3-flash-preview".into(),
        messages: vec![
            Message::user("Earlier turn"),
            assistant(vec![call("a", "f", "{}", None)]),
            user(vec![result("a", None, "1", false)]),
            Message::assistant("Done."),
            Message::user("Check flight AA100, book a taxi if delayed."),
            assistant(vec![
                Block::Text("Checking.".into()),
                call("b", "check_flight", r#"{"flight":"AA100"}"#, None),
                call("c", "check_flight", r#"{"flight":"AA101"}"#, None),
            ]),
            user(vec![
                result("b", None, "delayed", false),
                result("c", None, "on time", false),
            ]),
            assistant(vec![call(
                "d",
                "book_taxi",
                r#"{"time":"10 AM"}"#,
                Some("<Signature_B>"),
            )]),
            user(vec![result("d", None, "booked", false)]),
        ],
        ..Default::default()
    };
    let contents = body(&req)["contents"].clone();
    // The earlier turn is not checked by Gemini and keeps what it had.
    assert_eq!(contents[1]["parts"][0].get("thoughtSignature"), None);
    assert_eq!(
        contents[5]["parts"],
        json!([
            {"text": "Checking."},
            {"functionCall": {"id": "b", "name": "check_flight", "args": {"flight": "AA100"}}, "thoughtSignature": UNSIGNED_CALL_SIGNATURE},
            {"functionCall": {"id": "c", "name": "check_flight", "args": {"flight": "AA101"}}}
        ])
    );
    assert_eq!(contents[7]["parts"][0]["thoughtSignature"], "<Signature_B>");
}

#[test]
fn images_and_documents_go_inline_and_files_api_uris_as_file_data() {
    let png = Media::Base64 {
        media_type: "image/png".into(),
        data: "iVBORw0KGgo=".into(),
    };
    let req = ChatRequest {
        model: "gemini-2.5-flash".into(),
        messages: vec![
            user(vec![
                Block::Text("What is in these?".into()),
                Block::Image(png.clone()),
                Block::Document {
                    media: Media::Base64 {
                        media_type: "application/pdf".into(),
                        data: "JVBERi0xLjQ=".into(),
                    },
                    name: Some("report.pdf".into()),
                },
                Block::Image(Media::Url(
                    "https://generativelanguage.googleapis.com/v1beta/files/abc-123".into(),
                )),
            ]),
            assistant(vec![call("call_0", "snapshot", "{}", None)]),
            user(vec![Block::ToolResult(ToolResult {
                call_id: "call_0".into(),
                name: None,
                content: vec![Block::Text("here".into()), Block::Image(png)],
                is_error: false,
            })]),
        ],
        ..Default::default()
    };
    let contents = body(&req)["contents"].clone();
    assert_eq!(
        contents[0]["parts"],
        json!([
            {"text": "What is in these?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQ="}},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc-123"}}
        ])
    );
    assert_eq!(
        contents[2]["parts"],
        json!([{"functionResponse": {
            "name": "snapshot",
            "response": {"output": "here"},
            "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]
        }}])
    );
}

#[test]
fn tool_choice_maps_to_function_calling_modes() {
    let with = |choice: Option<ToolChoice>, strict: Option<bool>| {
        let req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![Message::user("hi")],
            tools: vec![Tool {
                strict,
                ..weather_tool()
            }],
            tool_choice: choice,
            ..Default::default()
        };
        body(&req).get("toolConfig").cloned()
    };
    let mode = |m: &str| Some(json!({"functionCallingConfig": {"mode": m}}));
    assert_eq!(with(None, None), None);
    assert_eq!(with(Some(ToolChoice::Auto), None), mode("AUTO"));
    assert_eq!(with(Some(ToolChoice::None), Some(true)), mode("NONE"));
    assert_eq!(with(Some(ToolChoice::Required), None), mode("ANY"));
    assert_eq!(with(None, Some(true)), mode("VALIDATED"));
    assert_eq!(with(Some(ToolChoice::Auto), Some(true)), mode("VALIDATED"));
    assert_eq!(
        with(
            Some(ToolChoice::Named("get_current_temperature".into())),
            Some(true)
        ),
        Some(
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_temperature"]}})
        )
    );
    // A tool without parameters leaves them unset.
    let req = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: vec![Tool {
            name: "now".into(),
            description: None,
            parameters: json!({}),
            strict: None,
        }],
        ..Default::default()
    };
    assert_eq!(
        body(&req)["tools"],
        json!([{"functionDeclarations": [{"name": "now"}]}])
    );
}

#[test]
fn json_output_logprobs_and_thinking_map_to_generation_config() {
    let schema = json!({"type": "object", "properties": {"recipe_name": {"type": "string"}}, "required": ["recipe_name"]});
    let with = |f: &dyn Fn(&mut ChatRequest)| {
        let mut req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        f(&mut req);
        body(&req)["generationConfig"].clone()
    };
    assert_eq!(
        with(&|r| {
            r.response_format = Some(ResponseFormat::JsonSchema {
                name: "recipe".into(),
                description: None,
                schema: schema.clone(),
                strict: Some(true),
            })
        }),
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );
    assert_eq!(
        with(&|r| r.response_format = Some(ResponseFormat::JsonObject)),
        json!({"responseMimeType": "application/json"})
    );
    assert_eq!(
        with(&|r| r.response_format = Some(ResponseFormat::Text)),
        Value::Null
    );
    assert_eq!(
        with(&|r| {
            r.logprobs = true;
            r.top_logprobs = Some(3);
        }),
        json!({"responseLogprobs": true, "logprobs": 3})
    );
    let thinking = |model: &str, effort, budget_tokens, include| {
        with(&|r| {
            r.model = model.into();
            r.reasoning = Some(ReasoningRequest {
                effort,
                budget_tokens,
                include,
            });
        })
    };
    assert_eq!(
        thinking("gemini-2.5-pro", Some(Effort::High), None, true),
        json!({"thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}})
    );
    assert_eq!(
        thinking("gemini-3-pro-preview", Some(Effort::Low), None, false),
        json!({"thinkingConfig": {"thinkingLevel": "LOW"}})
    );
    assert_eq!(
        thinking(
            "gemini-3-flash-preview",
            Some(Effort::Low),
            Some(500),
            false
        ),
        json!({"thinkingConfig": {"thinkingBudget": 500}})
    );
    assert_eq!(
        thinking("gemini-flash-latest", Some(Effort::Minimal), None, false),
        json!({"thinkingConfig": {"thinkingBudget": 1024}})
    );
    assert_eq!(
        thinking("gemini-2.5-flash", None, Some(0), false),
        json!({"thinkingConfig": {"thinkingBudget": 0}})
    );
    assert_eq!(
        thinking("gemini-2.5-flash", None, None, true),
        json!({"thinkingConfig": {"includeThoughts": true}})
    );
    assert_eq!(thinking("gemini-2.5-flash", None, None, false), Value::Null);
}

#[test]
fn model_generations_are_read_from_the_name() {
    assert_eq!(generation("gemini-3-pro-preview"), Some(3));
    assert_eq!(generation("gemini-2.5-flash"), Some(2));
    assert_eq!(generation("gemini-10-ultra"), Some(10));
    assert_eq!(generation("gemini-flash-latest"), None);
    assert_eq!(generation("gemma-3-27b-it"), None);
}
