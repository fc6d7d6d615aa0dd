#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

fn parse(v: Value) -> Parsed<CompletionRequest> {
    parse_request(v.to_string().as_bytes())
}

fn chat(model: &str, messages: Value) -> ChatRequest {
    parse(json!({"model": model, "messages": messages}))
        .unwrap()
        .chat
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[test]
fn a_full_request_translates_to_a_neutral_chat_request() {
    let r = parse(json!({
        "model": "anthropic/claude-3-5-haiku-latest",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}], "name": "ann"},
            {"role": "assistant", "content": "Hello", "name": "bot"},
            {"role": "system", "content": "Mid-conversation."},
            {"role": "user", "content": "Again"}
        ],
        "stream": true, "stream_options": {"include_usage": true},
        "max_tokens": 100, "temperature": 0.5, "top_p": 1, "stop": "END", "n": 1, "user": "u1",
        "seed": 7, "logprobs": true, "top_logprobs": 2, "frequency_penalty": 0, "tools": null
    }))
    .unwrap();
    assert_eq!(r.model.as_str(), "anthropic/claude-3-5-haiku-latest");
    assert!(r.include_usage && r.chat.stream);
    let c = &r.chat;
    assert_eq!(c.model, "claude-3-5-haiku-latest");
    assert_eq!(
        c.system.as_deref(),
        Some("Be brief.\n\nUse French.\n\nMid-conversation."),
        "every system and developer message joins the system prompt, in order"
    );
    assert_eq!(
        c.messages,
        vec![
            Message {
                role: Role::User,
                content: vec![Block::Text("Hi".into()), Block::Text("there".into())]
            },
            Message::assistant("Hello"),
            Message::user("Again"),
        ]
    );
    assert_eq!(
        (
            c.max_tokens,
            c.temperature,
            c.top_p,
            c.stop.clone(),
            c.user.as_deref()
        ),
        (
            Some(100),
            Some(0.5),
            Some(1.0),
            vec!["END".to_owned()],
            Some("u1")
        )
    );
    assert_eq!(
        (c.seed, c.logprobs, c.top_logprobs),
        (Some(7), true, Some(2))
    );
    assert!(
        c.passthrough.is_empty(),
        "a tuning field at its default is dropped"
    );
}

#[test]
fn content_parts_become_text_image_and_document_blocks() {
    let png = "iVBORw0KGgo=";
    let c = chat(
        "gemini/gemini-2.5-flash",
        json!([{"role": "user", "content": [
            {"type": "text", "text": "What are these?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "auto"}},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}},
            {"type": "image_url", "image_url": "https://example.com/dog.jpg"},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "file", "file": {"file_data": "JVBERi0="}}
        ]}]),
    );
    let pdf = |name: Option<&str>| Block::Document {
        media: Media::Base64 {
            media_type: "application/pdf".into(),
            data: "JVBERi0=".into(),
        },
        name: name.map(Into::into),
    };
    assert_eq!(
        c.messages[0].content,
        vec![
            Block::Text("What are these?".into()),
            Block::Image(Media::Url("https://example.com/cat.png".into())),
            Block::Image(Media::Base64 {
                media_type: "image/png".into(),
                data: png.into()
            }),
            Block::Image(Media::Url("https://example.com/dog.jpg".into())),
            pdf(Some("a.pdf")),
            pdf(None),
        ]
    );
}

#[test]
fn tool_calls_and_their_results_round_trip_with_names_and_signatures() {
    let c = chat(
        "gemini/gemini-2.5-flash",
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a__thought__c2lnLTE=", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_a__thought__c2lnLTE=", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks"}
        ]),
    );
    let call = |id: &str, city: &str, sig: Option<&str>| {
        Block::ToolCall(ToolCall {
            id: id.into(),
            name: "weather".into(),
            arguments: format!("{{\"city\":\"{city}\"}}"),
            signature: sig.map(Into::into),
        })
    };
    let result = |id: &str, text: &str| {
        Block::ToolResult(ToolResult {
            call_id: id.into(),
            name: Some("weather".into()),
            content: vec![Block::Text(text.into())],
            is_error: false,
        })
    };
    assert_eq!(
        c.messages,
        vec![
            Message::user("Weather in Paris and Rome?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    call("call_a", "Paris", Some("c2lnLTE=")),
                    call("call_b", "Rome", None)
                ]
            },
            Message {
                role: Role::User,
                content: vec![result("call_a", "18C"), result("call_b", "21C")]
            },
            Message::user("Thanks"),
        ],
        "consecutive tool messages share one user turn"
    );
}

#[test]
fn reasoning_and_refusals_sent_back_become_their_blocks_in_provider_order() {
    let c = chat(
        "anthropic/claude-sonnet-4-5",
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "reasoning_content": "ignored when blocks are given",
             "thinking_blocks": [
                {"type": "thinking", "thinking": "Greet back.", "signature": "sig-1"},
                {"type": "redacted_thinking", "data": "opaque"}
             ],
             "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok"},
            {"role": "assistant", "content": null, "refusal": "I can't help with that."},
            {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Because."}], "reasoning_content": "Explain."}
        ]),
    );
    assert_eq!(
        c.messages[1].content,
        vec![
            Block::Reasoning(Reasoning {
                text: "Greet back.".into(),
                signature: Some("sig-1".into()),
                redacted: None
            }),
            Block::Reasoning(Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some("opaque".into())
            }),
            Block::Text("Hello".into()),
            Block::ToolCall(ToolCall {
                id: "t1".into(),
                name: "f".into(),
                arguments: "{}".into(),
                signature: None
            }),
        ]
    );
    assert_eq!(
        c.messages[3].content,
        vec![Block::Refusal("I can't help with that.".into())]
    );
    assert_eq!(
        c.messages[5].content,
        vec![
            Block::Reasoning(Reasoning {
                text: "Explain.".into(),
                ..Reasoning::default()
            }),
            Block::Text("Because.".into())
        ]
    );
}

#[test]
fn request_options_translate_for_every_provider() {
    let r = parse(json!({
        "model": "demo/echo", "messages": user("hi"),
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
            {"type": "function", "function": {"name": "now"}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "now"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
        "reasoning_effort": "low",
        "thinking": {"type": "enabled", "budget_tokens": 2000}
    }))
    .unwrap();
    let c = &r.chat;
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
            description: None,
            schema: json!({"type": "object"}),
            strict: Some(true)
        })
    );
    assert_eq!(
        c.reasoning,
        Some(ReasoningRequest {
            effort: Some(Effort::Low),
            budget_tokens: Some(2000),
            include: true
        })
    );
    for (choice, want) in [
        ("none", ToolChoice::None),
        ("auto", ToolChoice::Auto),
        ("required", ToolChoice::Required),
    ] {
        let r = parse(
            json!({"model": "demo/echo", "messages": user("hi"), "tool_choice": choice,
            "tools": [{"type": "function", "function": {"name": "f"}}]}),
        )
        .unwrap();
        assert_eq!(r.chat.tool_choice, Some(want), "{choice}");
    }
    for (format, want) in [
        (json!({"type": "text"}), ResponseFormat::Text),
        (json!({"type": "json_object"}), ResponseFormat::JsonObject),
    ] {
        let r =
            parse(json!({"model": "demo/echo", "messages": user("hi"), "response_format": format}))
                .unwrap();
        assert_eq!(r.chat.response_format, Some(want));
    }
    let off = parse(
        json!({"model": "demo/echo", "messages": user("hi"), "thinking": {"type": "disabled"}}),
    )
    .unwrap();
    assert_eq!(off.chat.reasoning, None);
}

#[test]
fn openai_only_tuning_passes_to_openai_and_is_refused_elsewhere_unless_at_its_default() {
    let tuning = json!({"frequency_penalty": 0.5, "logit_bias": {"50256": -100}, "service_tier": "flex",
                        "metadata": {"a": "b"}, "store": true, "prediction": {"type": "content", "content": "x"},
                        "verbosity": "low", "prompt_cache_key": "k", "modalities": ["text"]});
    let hints = ["metadata", "prompt_cache_key"];
    let mut body = json!({"model": "openai/gpt-4o", "messages": user("hi")});
    for (k, v) in tuning.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = parse(body).unwrap();
    assert_eq!(Value::Object(r.chat.passthrough.clone()), tuning);
    assert!(!r.chat.passthrough.contains_key("messages"));
    for (k, v) in tuning
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "modalities")
    {
        let mut body = json!({"model": "anthropic/claude-haiku-4-5", "messages": user("hi")});
        body[k] = v.clone();
        if hints.contains(&k.as_str()) {
            let r = parse(body).unwrap();
            assert!(
                r.chat.passthrough.is_empty(),
                "{k}: a hint, not relayed elsewhere"
            );
            continue;
        }
        let err = parse(body).unwrap_err();
        assert_eq!(err.param_name(), Some(k.as_str()), "{k}");
        assert!(err.detail().contains("only supported for openai/*"), "{k}");
    }
    let defaults = json!({"model": "gemini/gemini-2.5-flash", "messages": user("hi"),
        "frequency_penalty": 0, "presence_penalty": 0.0, "logit_bias": {}, "service_tier": "auto",
        "metadata": {}, "store": false, "verbosity": "medium", "modalities": ["text"], "prediction": null});
    assert!(parse(defaults).unwrap().chat.passthrough.is_empty());
}

#[test]
#[rustfmt::skip]
fn invalid_requests_are_refused_naming_the_param() {
    let gpt = r#""model": "openai/gpt-4o""#;
    let hi = r#""messages": [{"role": "user", "content": "x"}]"#;
    let many = format!(r#""messages": [{}]"#, vec![r#"{"role": "user", "content": "x"}"#; 1001].join(","));
    let gemini = r#""model": "gemini/gemini-2.5-flash""#;
    let part = |p: &str| format!(r#"{gemini}, "messages": [{{"role": "user", "content": [{p}]}}]"#);
    let tools = r#""tools": [{"type": "function", "function": {"name": "f"}}]"#;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("unknown field", format!(r#"{gpt}, {hi}, "temprature": 1"#), "unrecognized request argument supplied: temprature", "temprature"),
        ("missing model", hi.to_owned(), "model is required", "model"),
        ("model without provider", format!(r#""model": "gpt-4o", {hi}"#), "provider/model", "model"),
        ("unknown provider", format!(r#""model": "mistral/large", {hi}"#), "unknown provider", "model"),
        ("missing messages", gpt.to_owned(), "messages is required", "messages"),
        ("empty messages", format!(r#"{gpt}, "messages": []"#), "at least one message", "messages"),
        ("too many messages", format!("{gpt}, {many}"), "at most 1000", "messages"),
        ("only a system message", format!(r#"{gemini}, "messages": [{{"role": "system", "content": "x"}}]"#), "at least one user or assistant", "messages"),
        ("bad role", format!(r#"{gpt}, "messages": [{{"role": "robot", "content": "x"}}]"#), "must be one of", "messages[0].role"),
        ("legacy function role", format!(r#"{gpt}, "messages": [{{"role": "function", "content": "x", "name": "f"}}]"#), "use tool", "messages[0].role"),
        ("unknown message field", format!(r#"{gpt}, "messages": [{{"role": "user", "content": "x", "foo": 1}}]"#), "is not a recognized message field", "messages[0].foo"),
        ("tool_calls on a user", format!(r#"{gpt}, "messages": [{{"role": "user", "content": "x", "tool_calls": []}}]"#), "is not a field of a user message", "messages[0].tool_calls"),
        ("missing content", format!(r#"{gpt}, "messages": [{{"role": "user"}}]"#), "content is required", "messages[0].content"),
        ("empty assistant", format!(r#"{gpt}, "messages": [{{"role": "assistant", "content": null}}]"#), "unless tool_calls", "messages[0].content"),
        ("text part without text", part(r#"{"type": "text"}"#), "must be a string", "messages[0].content[0].text"),
        ("audio in", part(r#"{"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}"#), "input_audio is not supported", "messages[0].content[0].type"),
        ("unknown part", part(r#"{"type": "video"}"#), "must be text, image_url or file", "messages[0].content[0].type"),
        ("file by id", part(r#"{"type": "file", "file": {"file_id": "file-abc"}}"#), "no file store", "messages[0].content[0].file.file_id"),
        ("image detail", part(r#"{"type": "image_url", "image_url": {"url": "https://x.com/a.png", "detail": "high"}}"#), "only auto", "messages[0].content[0].image_url.detail"),
        ("image scheme", part(r#"{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}"#), "https URL or a base64 data: URL", "messages[0].content[0].image_url.url"),
        ("image data not base64", part(r#"{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}"#), "base64 data: URL", "messages[0].content[0].image_url.url"),
        ("image data not an image", part(r#"{"type": "image_url", "image_url": {"url": "data:text/html;base64,PGI+"}}"#), "must be an image", "messages[0].content[0].image_url.url"),
        ("tool result without id", format!(r#"{gpt}, "messages": [{{"role": "tool", "content": "x"}}]"#), "is required", "messages[0].tool_call_id"),
        ("tool call without name", format!(r#"{gpt}, "messages": [{{"role": "assistant", "tool_calls": [{{"id": "c", "type": "function", "function": {{}}}}]}}]"#), "is required", "messages[0].tool_calls[0].function.name"),
        ("bad thinking block", format!(r#"{gpt}, "messages": [{{"role": "assistant", "content": "x", "thinking_blocks": [{{"type": "thought"}}]}}]"#), "thinking or redacted_thinking", "messages[0].thinking_blocks[0].type"),
        ("legacy functions", format!(r#"{gpt}, {hi}, "functions": []"#), "use tools", "functions"),
        ("audio out", format!(r#"{gpt}, {hi}, "audio": {{"voice": "alloy"}}"#), "audio output", "audio"),
        ("audio modality", format!(r#"{gpt}, {hi}, "modalities": ["text", "audio"]"#), "does not relay audio", "modalities"),
        ("non-function tool", format!(r#"{gpt}, {hi}, "tools": [{{"type": "web_search"}}]"#), "function tools only", "tools[0].type"),
        ("bad tool name", format!(r#"{gpt}, {hi}, "tools": [{{"type": "function", "function": {{"name": "a b"}}}}]"#), "must be 1 to 64", "tools[0].function.name"),
        ("duplicate tool", format!(r#"{gpt}, {hi}, "tools": [{{"type": "function", "function": {{"name": "f"}}}}, {{"type": "function", "function": {{"name": "f"}}}}]"#), "repeats", "tools[1].function.name"),
        ("tool parameters not an object", format!(r#"{gpt}, {hi}, "tools": [{{"type": "function", "function": {{"name": "f", "parameters": []}}}}]"#), "JSON Schema object", "tools[0].function.parameters"),
        ("tool_choice naming no tool", format!(r#"{gpt}, {hi}, {tools}, "tool_choice": {{"type": "function", "function": {{"name": "g"}}}}"#), "names no tool", "tool_choice.function.name"),
        ("tool_choice required without tools", format!(r#"{gpt}, {hi}, "tool_choice": "required""#), "requires tools", "tool_choice"),
        ("tool_choice word", format!(r#"{gpt}, {hi}, {tools}, "tool_choice": "any""#), "must be none, auto, required", "tool_choice"),
        ("response_format type", format!(r#"{gpt}, {hi}, "response_format": {{"type": "yaml"}}"#), "text, json_object or json_schema", "response_format.type"),
        ("json_schema without name", format!(r#"{gpt}, {hi}, "response_format": {{"type": "json_schema", "json_schema": {{"schema": {{}}}}}}"#), "must be 1 to 64", "response_format.json_schema.name"),
        ("reasoning_effort", format!(r#"{gpt}, {hi}, "reasoning_effort": "max""#), "minimal, low, medium or high", "reasoning_effort"),
        ("thinking budget", format!(r#"{gpt}, {hi}, "thinking": {{"type": "enabled"}}"#), "positive integer", "thinking.budget_tokens"),
        ("top_logprobs without logprobs", format!(r#"{gpt}, {hi}, "top_logprobs": 3"#), "requires logprobs", "top_logprobs"),
        ("top_logprobs too many", format!(r#"{gpt}, {hi}, "logprobs": true, "top_logprobs": 21"#), "from 0 to 20", "top_logprobs"),
        ("seed", format!(r#"{gpt}, {hi}, "seed": 1.5"#), "must be an integer", "seed"),
        ("temperature too high", format!(r#"{gpt}, {hi}, "temperature": 2.5"#), "between 0 and 2", "temperature"),
        ("negative top_p", format!(r#"{gpt}, {hi}, "top_p": -0.1"#), "between 0 and 1", "top_p"),
        ("five stops", format!(r#"{gpt}, {hi}, "stop": ["a", "b", "c", "d", "e"]"#), "up to 4", "stop"),
        ("n of 2", format!(r#"{gpt}, {hi}, "n": 2"#), "n must be 1", "n"),
        ("zero max_tokens", format!(r#"{gpt}, {hi}, "max_tokens": 0"#), "positive integer", "max_tokens"),
        ("string stream", format!(r#"{gpt}, {hi}, "stream": "yes""#), "stream must be a boolean", "stream"),
        ("unknown stream option", format!(r#"{gpt}, {hi}, "stream_options": {{"foo": true}}"#), "is not a recognized stream option", "stream_options.foo"),
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
fn token_counts_and_n_may_be_written_as_integral_floats() {
    // JSON Schema's `integer` includes 100.0 (found by the fuzzer); 100.5 is still refused.
    let r = parse(
        json!({"model": "demo/echo", "messages": user("Hi"), "max_tokens": 100.0,
                         "max_completion_tokens": 50.0, "n": 1.0}),
    )
    .unwrap();
    assert_eq!(r.chat.max_tokens, Some(50), "max_completion_tokens wins");
    let bad = parse(json!({"model": "demo/echo", "messages": user("Hi"), "max_tokens": 100.5}));
    assert_eq!(bad.unwrap_err().param_name(), Some("max_tokens"));
}

#[test]
fn a_providers_refusal_is_renamed_to_the_clients_own_positions() {
    let r = parse(json!({"model": "gemini/gemini-2.5-flash", "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x.com/a.png"}}]},
        {"role": "assistant", "content": "b", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "r1"},
        {"role": "tool", "tool_call_id": "c", "content": "r2"}
    ]}))
    .unwrap();
    for (neutral, client) in [
        ("messages[0].content[1]", "messages[1].content[1]"),
        (
            "messages[0].content[1].image_url",
            "messages[1].content[1].image_url",
        ),
        ("messages[1].content[1]", "messages[2].tool_calls[0]"),
        ("messages[1]", "messages[2]"),
        ("messages[2].content[1]", "messages[4]"),
        ("messages[9].content[0]", "messages[9].content[0]"),
        ("tools[0].strict", "tools[0].strict"),
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
}
