#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::providers::{Block, Media, Message, Reasoning, Role, ToolCall, ToolResult};

fn parse(v: Value) -> Parsed<ResponsesRequest> {
    parse_request(v.to_string().as_bytes())
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

fn call(id: &str, name: &str, arguments: &str, signature: Option<&str>) -> Block {
    Block::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
        signature: signature.map(Into::into),
    })
}

#[test]
fn a_string_input_is_one_user_message_and_the_settings_take_openais_defaults() {
    let r = parse(json!({"model": "demo/echo", "input": "Hello"})).unwrap();
    assert_eq!(r.model.as_str(), "demo/echo");
    assert_eq!(r.chat.model, "echo");
    assert_eq!(r.chat.messages, vec![Message::user("Hello")]);
    assert_eq!(r.chat.system, None);
    assert!(!r.chat.stream && !r.chat.logprobs && r.chat.passthrough.is_empty());
    assert_eq!(
        Value::Object(r.settings),
        json!({
            "instructions": null, "tools": [], "tool_choice": "auto", "parallel_tool_calls": true,
            "text": {"format": {"type": "text"}}, "reasoning": {"effort": null, "summary": null},
            "max_output_tokens": null, "temperature": null, "top_p": null, "top_logprobs": null,
            "user": null, "safety_identifier": null, "metadata": {},
            "service_tier": null, "prompt_cache_key": null, "prompt_cache_retention": null,
        })
    );
}

#[test]
fn every_kind_of_item_translates_to_neutral_turns() {
    let r = parse(json!({
        "model": "anthropic/claude-haiku-4-5",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use French."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "auto"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                {"type": "input_file", "file_url": "https://example.com/b.pdf"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Look."}],
             "encrypted_content": "chatgate:signature:sig-1"},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "chatgate:redacted:opaque"},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                {"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather",
             "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
            {"type": "function_call", "call_id": "call_2__thought__gsig", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2__thought__gsig", "output": [
                {"type": "input_text", "text": "noon"},
                {"type": "input_image", "image_url": "https://example.com/clock.png", "detail": "auto"}]},
            {"role": "system", "content": [{"type": "input_text", "text": "Mid-way."}]},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
            {"role": "user", "content": "Again"}
        ]
    }))
    .unwrap();
    let c = &r.chat;
    assert_eq!(
        c.system.as_deref(),
        Some("Be brief.\n\nUse French.\n\nMid-way."),
        "instructions first, then every system and developer message in order"
    );
    let png = Media::Base64 {
        media_type: "image/png".into(),
        data: PNG.into(),
    };
    assert_eq!(
        c.messages,
        vec![
            Message {
                role: Role::User,
                content: vec![
                    Block::Text("What is in these?".into()),
                    Block::Image(png),
                    Block::Image(Media::Url("https://example.com/cat.jpg".into())),
                    Block::Document {
                        media: Media::Base64 {
                            media_type: "application/pdf".into(),
                            data: "JVBERi0=".into()
                        },
                        name: Some("a.pdf".into())
                    },
                    Block::Document {
                        media: Media::Url("https://example.com/b.pdf".into()),
                        name: None
                    },
                ]
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Block::Reasoning(Reasoning {
                        text: "Look.".into(),
                        signature: Some("sig-1".into()),
                        redacted: None
                    }),
                    Block::Reasoning(Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some("opaque".into())
                    }),
                    Block::Text("Checking.".into()),
                    call("call_1", "weather", "{\"city\":\"Paris\"}", None),
                    call("call_2", "time", "{}", Some("gsig")),
                ]
            },
            Message {
                role: Role::User,
                content: vec![
                    Block::ToolResult(ToolResult {
                        call_id: "call_1".into(),
                        name: Some("weather".into()),
                        content: vec![Block::Text("18C".into())],
                        is_error: false
                    }),
                    Block::ToolResult(ToolResult {
                        call_id: "call_2".into(),
                        name: Some("time".into()),
                        content: vec![
                            Block::Text("noon".into()),
                            Block::Image(Media::Url("https://example.com/clock.png".into()))
                        ],
                        is_error: false
                    }),
                ]
            },
            Message {
                role: Role::Assistant,
                content: vec![Block::Refusal("No.".into())]
            },
            Message::user("Again"),
        ]
    );
}

#[test]
fn every_option_translates_and_is_repeated_in_the_settings() {
    let r = parse(json!({
        "model": "gemini/gemini-2.5-flash", "input": "hi", "stream": true,
        "stream_options": {"include_obfuscation": false}, "store": false,
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Weather",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true},
            {"type": "function", "name": "now", "parameters": null, "strict": null}
        ],
        "tool_choice": {"type": "function", "name": "now"}, "parallel_tool_calls": false,
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"},
                            "strict": true, "description": "An answer"}, "verbosity": "medium"},
        "reasoning": {"effort": "low", "summary": "auto"},
        "max_output_tokens": 300, "temperature": 0.5, "top_p": 1, "top_logprobs": 2,
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
        "user": "u1", "metadata": {"trace": "abc"}, "truncation": "disabled", "background": false,
        "previous_response_id": null, "service_tier": "auto"
    }))
    .unwrap();
    let c = &r.chat;
    assert!(c.stream);
    assert_eq!(
        c.tools,
        vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Weather".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                strict: Some(true)
            },
            Tool {
                name: "now".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
                strict: None
            }
        ]
    );
    assert_eq!(c.tool_choice, Some(ToolChoice::Named("now".into())));
    assert_eq!(c.parallel_tool_calls, Some(false));
    assert_eq!(
        c.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            description: Some("An answer".into()),
            schema: json!({"type": "object"}),
            strict: Some(true)
        })
    );
    assert_eq!(
        c.reasoning,
        Some(ReasoningRequest {
            effort: Some(Effort::Low),
            budget_tokens: None,
            include: true
        })
    );
    assert_eq!(
        (c.max_tokens, c.temperature, c.top_p, c.user.as_deref()),
        (Some(300), Some(0.5), Some(1.0), Some("u1"))
    );
    assert_eq!((c.logprobs, c.top_logprobs), (true, Some(2)));
    assert!(c.passthrough.is_empty(), "defaults reach no provider");
    let s = &r.settings;
    assert_eq!(
        s["tools"][1],
        json!({"type": "function", "name": "now", "description": null,
        "parameters": {"type": "object", "properties": {}}, "strict": null})
    );
    assert_eq!(s["tool_choice"], json!({"type": "function", "name": "now"}));
    assert_eq!(s["text"]["format"]["name"], "answer");
    assert_eq!(s["text"]["verbosity"], "medium");
    assert_eq!(s["reasoning"], json!({"effort": "low", "summary": "auto"}));
    assert_eq!(s["metadata"], json!({"trace": "abc"}));
    assert_eq!(
        (
            &s["max_output_tokens"],
            &s["parallel_tool_calls"],
            &s["top_logprobs"]
        ),
        (&json!(300), &json!(false), &json!(2))
    );

    for (choice, want) in [
        ("none", ToolChoice::None),
        ("auto", ToolChoice::Auto),
        ("required", ToolChoice::Required),
    ] {
        let r = parse(json!({"model": "demo/echo", "input": "hi", "tool_choice": choice,
                             "tools": [{"type": "function", "name": "f", "parameters": null, "strict": null}]}))
        .unwrap();
        assert_eq!(r.chat.tool_choice, Some(want), "{choice}");
    }
    for (format, want) in [
        (json!({"type": "text"}), ResponseFormat::Text),
        (json!({"type": "json_object"}), ResponseFormat::JsonObject),
    ] {
        let r = parse(json!({"model": "demo/echo", "input": "hi", "text": {"format": format}}))
            .unwrap();
        assert_eq!(r.chat.response_format, Some(want));
    }
    let summary_only = parse(json!({"model": "demo/echo", "input": "hi",
                                    "reasoning": {"generate_summary": "concise"}}))
    .unwrap();
    assert_eq!(
        summary_only.chat.reasoning,
        Some(ReasoningRequest {
            effort: None,
            budget_tokens: None,
            include: true
        }),
        "asking for a summary asks for reasoning at the provider's default effort"
    );
    let effort_only =
        parse(json!({"model": "demo/echo", "input": "hi", "reasoning": {"effort": "high"}}))
            .unwrap();
    assert!(!effort_only.chat.reasoning.unwrap().include);
    let top_only = parse(json!({"model": "demo/echo", "input": "hi", "top_logprobs": 0})).unwrap();
    assert_eq!(
        (top_only.chat.logprobs, top_only.chat.top_logprobs),
        (true, Some(0))
    );
}

#[test]
fn openai_only_settings_reach_openai_as_chat_completions_fields_and_others_only_at_their_default() {
    let tuning = json!({"service_tier": "flex", "prompt_cache_key": "k", "prompt_cache_retention": "24h",
                        "safety_identifier": "hashed-user", "text": {"verbosity": "low"},
                        "reasoning": {"effort": "xhigh"}});
    let mut body = json!({"model": "openai/gpt-5", "input": "hi"});
    for (k, v) in tuning.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = parse(body).unwrap();
    assert_eq!(
        Value::Object(r.chat.passthrough),
        json!({"service_tier": "flex", "prompt_cache_key": "k", "prompt_cache_retention": "24h",
               "safety_identifier": "hashed-user", "verbosity": "low", "reasoning_effort": "xhigh"})
    );
    assert_eq!(
        (r.chat.reasoning, r.chat.user),
        (Some(ReasoningRequest::default()), None),
        "reasoning is asked for, at a level only the passthrough names"
    );
    let none =
        parse(json!({"model": "openai/gpt-5.1", "input": "hi", "reasoning": {"effort": "none"}}))
            .unwrap();
    assert_eq!(
        Value::Object(none.chat.passthrough),
        json!({"reasoning_effort": "none"})
    );
    assert_eq!(none.chat.reasoning, None);

    for (key, value, param) in [
        ("service_tier", json!("flex"), "service_tier"),
        ("text", json!({"verbosity": "low"}), "text.verbosity"),
        ("reasoning", json!({"effort": "max"}), "reasoning.effort"),
    ] {
        let mut body = json!({"model": "anthropic/claude-haiku-4-5", "input": "hi"});
        body[key] = value;
        let err = parse(body).unwrap_err();
        assert_eq!(err.param_name(), Some(param), "{key}");
        assert!(err.detail().contains("openai/*"), "{key}: {}", err.detail());
    }
    let defaults = parse(
        json!({"model": "gemini/gemini-2.5-flash", "input": "hi", "service_tier": "default",
                                "text": {"verbosity": "medium"}, "reasoning": {"effort": "none"}}),
    )
    .unwrap();
    assert!(defaults.chat.passthrough.is_empty() && defaults.chat.reasoning.is_none());
    // Another provider's one end-user id: `user`, else `safety_identifier`.
    let safety = parse(
        json!({"model": "anthropic/claude-haiku-4-5", "input": "hi", "safety_identifier": "s"}),
    )
    .unwrap();
    assert_eq!(safety.chat.user.as_deref(), Some("s"));
    let both = parse(
        json!({"model": "anthropic/claude-haiku-4-5", "input": "hi", "user": "u", "safety_identifier": "s"}),
    );
    assert_eq!(both.unwrap_err().param_name(), Some("safety_identifier"));
}

#[test]
#[rustfmt::skip]
fn invalid_and_stateful_requests_are_refused_naming_the_param() {
    let m = r#""model": "demo/echo""#;
    let hi = r#""input": "hi""#;
    let item = |i: &str| format!(r#"{m}, "input": [{i}]"#);
    let part = |p: &str| item(&format!(r#"{{"role": "user", "content": [{p}]}}"#));
    let many = format!(r#"{m}, "input": [{}]"#, vec![r#"{"role": "user", "content": "x"}"#; 1001].join(","));
    let tool = r#""tools": [{"type": "function", "name": "f", "parameters": null, "strict": null}]"#;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("unknown field", format!("{m}, {hi}, \"temprature\": 1"), "unrecognized request argument supplied: temprature", "temprature"),
        ("previous_response_id", format!(r#"{m}, {hi}, "previous_response_id": "resp_1""#), "stateless", "previous_response_id"),
        ("conversation", format!(r#"{m}, {hi}, "conversation": "conv_1""#), "stateless", "conversation"),
        ("store true", format!(r#"{m}, {hi}, "store": true"#), "stores no responses", "store"),
        ("background", format!(r#"{m}, {hi}, "background": true"#), "keeps no responses", "background"),
        ("truncation auto", format!(r#"{m}, {hi}, "truncation": "auto""#), "sends the input whole", "truncation"),
        ("prompt template", format!(r#"{m}, {hi}, "prompt": {{"id": "pmpt_1"}}"#), "prompt templates", "prompt"),
        ("max_tool_calls", format!(r#"{m}, {hi}, "max_tool_calls": 3"#), "built-in tools", "max_tool_calls"),
        ("missing model", hi.to_owned(), "model is required", "model"),
        ("model without provider", format!(r#""model": "gpt-4o", {hi}"#), "provider/model", "model"),
        ("missing input", m.to_owned(), "input is required", "input"),
        ("empty input", format!(r#"{m}, "input": []"#), "at least one item", "input"),
        ("too many items", many, "at most 1000", "input"),
        ("only instructions", item(r#"{"role": "system", "content": "x"}"#), "other than system", "input"),
        ("bad role", item(r#"{"role": "robot", "content": "x"}"#), "must be one of", "input[0].role"),
        ("bad role with parts", item(r#"{"role": "robot", "content": [{"type": "input_text", "text": "x"}]}"#), "must be one of", "input[0].role"),
        ("unknown message field", item(r#"{"role": "user", "content": "x", "foo": 1}"#), "is not a recognized field", "input[0].foo"),
        ("item id", item(r#"{"role": "user", "content": "x", "id": 5}"#), "must be a string", "input[0].id"),
        ("item status", item(r#"{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "status": "done"}"#), "must be in_progress", "input[0].status"),
        ("message phase", item(r#"{"role": "assistant", "content": "x", "phase": "draft"}"#), "commentary or final_answer", "input[0].phase"),
        ("item without type", item(r#"{"call_id": "c"}"#), "is required", "input[0].type"),
        ("item reference", item(r#"{"type": "item_reference", "id": "msg_1"}"#), "stateless", "input[0].type"),
        ("hosted tool item", item(r#"{"type": "web_search_call", "id": "ws_1", "status": "completed"}"#), "runs itself", "input[0].type"),
        ("unknown item", item(r#"{"type": "video"}"#), "must be message, function_call", "input[0].type"),
        ("missing content", item(r#"{"role": "user"}"#), "is required", "input[0].content"),
        ("text without text", part(r#"{"type": "input_text"}"#), "is required", "input[0].content[0].text"),
        ("audio", part(r#"{"type": "input_audio", "input_audio": {}}"#), "input_audio is not supported", "input[0].content[0].type"),
        ("output_text from the user", part(r#"{"type": "output_text", "text": "x"}"#), "must be input_text, input_image or input_file", "input[0].content[0].type"),
        ("image by file id", part(r#"{"type": "input_image", "file_id": "file-1", "detail": "auto"}"#), "no file store", "input[0].content[0].file_id"),
        ("image detail", part(r#"{"type": "input_image", "image_url": "https://x.com/a.png", "detail": "high"}"#), "only auto", "input[0].content[0].detail"),
        ("image without url", part(r#"{"type": "input_image", "detail": "auto"}"#), "is required", "input[0].content[0].image_url"),
        ("image scheme", part(r#"{"type": "input_image", "image_url": "file:///etc/passwd"}"#), "https URL or a base64 data: URL", "input[0].content[0].image_url"),
        ("image data not an image", part(r#"{"type": "input_image", "image_url": "data:text/html;base64,PGI+"}"#), "must be an image", "input[0].content[0].image_url"),
        ("file by id", part(r#"{"type": "input_file", "file_id": "file-1"}"#), "no file store", "input[0].content[0].file_id"),
        ("file without data", part(r#"{"type": "input_file", "filename": "a.pdf"}"#), "is required", "input[0].content[0].file_data"),
        ("file data not base64", part(r#"{"type": "input_file", "file_data": "%%%"}"#), "base64 or a data: URL", "input[0].content[0].file_data"),
        ("system image", item(r#"{"role": "system", "content": [{"type": "input_image", "image_url": "https://x.com/a.png"}]}"#), "take text only", "input[0].content[0].type"),
        ("assistant image", item(r#"{"role": "assistant", "content": [{"type": "input_image", "image_url": "https://x.com/a.png"}]}"#), "must be output_text or refusal", "input[0].content[0].type"),
        ("call without call_id", item(r#"{"type": "function_call", "name": "f", "arguments": "{}"}"#), "is required", "input[0].call_id"),
        ("call without arguments", item(r#"{"type": "function_call", "call_id": "c", "name": "f"}"#), "is required", "input[0].arguments"),
        ("call in a namespace", item(r#"{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "namespace": "ns"}"#), "namespaces", "input[0].namespace"),
        ("output without output", item(r#"{"type": "function_call_output", "call_id": "c"}"#), "is required", "input[0].output"),
        ("output part", item(r#"{"type": "function_call_output", "call_id": "c", "output": [{"type": "refusal", "refusal": "x"}]}"#), "must be input_text", "input[0].output[0].type"),
        ("reasoning without summary", item(r#"{"type": "reasoning", "id": "rs_1"}"#), "is required", "input[0].summary"),
        ("reasoning part", item(r#"{"type": "reasoning", "id": "rs_1", "summary": [{"type": "reasoning_text", "text": "x"}]}"#), "must be summary_text", "input[0].summary[0].type"),
        ("openai's encrypted reasoning", item(r#"{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABo-opaque"}"#), "not reasoning chatgate returned", "input[0].encrypted_content"),
        ("hosted tool", format!(r#"{m}, {hi}, "tools": [{{"type": "web_search"}}]"#), "function tools only", "tools[0].type"),
        ("tool without strict is fine, a bad name is not", format!(r#"{m}, {hi}, "tools": [{{"type": "function", "name": "a b"}}]"#), "must be 1 to 64", "tools[0].name"),
        ("duplicate tool", format!(r#"{m}, {hi}, "tools": [{{"type": "function", "name": "f"}}, {{"type": "function", "name": "f"}}]"#), "repeats", "tools[1].name"),
        ("tool search", format!(r#"{m}, {hi}, "tools": [{{"type": "function", "name": "f", "defer_loading": true}}]"#), "tool search", "tools[0].defer_loading"),
        ("tool_choice naming no tool", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "function", "name": "g"}}"#), "names no tool", "tool_choice.name"),
        ("tool_choice hosted", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "web_search_preview"}}"#), "function tools only", "tool_choice.type"),
        ("tool_choice required without tools", format!(r#"{m}, {hi}, "tool_choice": "required""#), "requires tools", "tool_choice"),
        ("text format type", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "yaml"}}}}"#), "text, json_object or json_schema", "text.format.type"),
        ("schema without name", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "json_schema", "schema": {{}}}}}}"#), "must be 1 to 64", "text.format.name"),
        ("schema missing", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "json_schema", "name": "a"}}}}"#), "is required", "text.format.schema"),
        ("chat completions' format shape", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "json_schema", "json_schema": {{"name": "a"}}}}}}"#), "is not a recognized field", "text.format.json_schema"),
        ("effort", format!(r#"{m}, {hi}, "reasoning": {{"effort": "huge"}}"#), "must be none, minimal", "reasoning.effort"),
        ("summary", format!(r#"{m}, {hi}, "reasoning": {{"summary": "long"}}"#), "auto, concise or detailed", "reasoning.summary"),
        ("include", format!(r#"{m}, {hi}, "include": ["file_search_call.results"]"#), "can include", "include[0]"),
        ("top_logprobs", format!(r#"{m}, {hi}, "top_logprobs": 21"#), "from 0 to 20", "top_logprobs"),
        ("max_output_tokens", format!(r#"{m}, {hi}, "max_output_tokens": 0"#), "positive integer", "max_output_tokens"),
        ("temperature", format!(r#"{m}, {hi}, "temperature": 2.5"#), "between 0 and 2", "temperature"),
        ("metadata value", format!(r#"{m}, {hi}, "metadata": {{"a": 1}}"#), "must be a string", "metadata.a"),
        ("stream", format!(r#"{m}, {hi}, "stream": "yes""#), "must be a boolean", "stream"),
        ("stream option", format!(r#"{m}, {hi}, "stream_options": {{"include_usage": true}}"#), "is not a recognized field", "stream_options.include_usage"),
    ];
    for (case, fields, message, param) in cases {
        let err = parse_request(format!("{{{fields}}}").as_bytes()).err().unwrap_or_else(|| panic!("{case}: accepted"));
        assert!(err.detail().contains(message), "{case}: got {:?}", err.detail());
        assert_eq!(err.param_name(), Some(param), "{case}");
        assert_eq!(err.status(), 400, "{case}");
    }
    let err = parse_request(b"{not json").unwrap_err();
    assert_eq!((err.detail().as_str(), err.param_name()), ("the request body must be a JSON object", None));
    assert!(parse_request(b"[]").is_err());
}

#[test]
fn a_providers_refusal_is_renamed_to_the_clients_own_parameters() {
    let r = parse(json!({"model": "gemini/gemini-2.5-flash", "top_logprobs": 1, "safety_identifier": "s", "input": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                     {"type": "input_image", "image_url": "https://x.com/a.png"}]},
        {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "hm"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "[]"},
        {"type": "function_call_output", "call_id": "c1", "output": "r1"},
        {"type": "function_call_output", "call_id": "c2", "output": [
            {"type": "input_text", "text": "r2"}, {"type": "input_image", "image_url": "https://x.com/b.png"}]},
        {"role": "user", "content": "go"}
    ]}))
    .unwrap();
    for (neutral, client) in [
        ("messages[0].content[1]", "input[1].content[1]"),
        ("messages[1].content[0]", "input[2]"),
        ("messages[1].content[2].arguments", "input[4].arguments"),
        (
            "messages[1].tool_calls[1].function.arguments",
            "input[4].arguments",
        ),
        ("messages[1]", "input[2]"),
        ("messages[2].content[1].content[1]", "input[6].output[1]"),
        ("messages[3].content[0]", "input[7].content"),
        ("messages[9].content[0]", "messages[9].content[0]"),
        ("tools[0].function.parameters", "tools[0].parameters"),
        ("tools[0].strict", "tools[0].strict"),
        ("tool_choice.function.name", "tool_choice.name"),
        ("response_format", "text.format"),
        ("response_format.json_schema.strict", "text.format.strict"),
        ("max_tokens", "max_output_tokens"),
        ("reasoning_effort", "reasoning.effort"),
        ("thinking.budget_tokens", "reasoning.effort"),
        ("logprobs", "top_logprobs"),
        ("user", "safety_identifier"),
        ("temperature", "temperature"),
    ] {
        let e = r.origins.rename(ApiError::param(
            neutral,
            format!("{neutral} is not supported"),
        ));
        assert_eq!(e.param_name(), Some(client), "{neutral}");
        assert_eq!(
            e.detail(),
            format!("{client} is not supported"),
            "{neutral}"
        );
    }
    let other = r.origins.rename(ApiError::NotFound);
    assert_eq!(other.status(), 404);
    let included = parse(
        json!({"model": "demo/echo", "input": "hi", "include": ["message.output_text.logprobs"]}),
    )
    .unwrap();
    let e = included.origins.rename(ApiError::param("logprobs", "no"));
    assert_eq!(e.param_name(), Some("include"));
}
