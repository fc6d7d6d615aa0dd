#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::providers::ProviderKind;
use serde_json::json;

fn parse(v: Value) -> Parsed<MessagesRequest> {
    parse_request(v.to_string().as_bytes())
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

#[test]
fn every_block_and_option_of_a_request_becomes_the_neutral_request() {
    let r = parse(json!({
        "model": "gemini/gemini-2.5-flash",
        "max_tokens": 2048,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Answer in French."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "a.pdf"},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Notes"}, "title": "Memo"}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Hmm.", "signature": "sig-1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "call_0__thought__gsig", "name": "look", "input": {"q": "cat"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_0__thought__gsig", "content": [
                    {"type": "text", "text": "a cat"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                ], "is_error": true, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "And now?"}
            ]},
            {"role": "system", "content": "Be kind."}
        ],
        "tools": [{"name": "look", "description": "Looks", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                   "cache_control": {"type": "ephemeral"}, "strict": true, "eager_input_streaming": true}],
        "tool_choice": {"type": "tool", "name": "look", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "output_config": {"effort": "medium", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        "temperature": 1, "top_p": 0.95, "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"}, "stream": true, "service_tier": "auto",
        "top_k": null, "cache_control": {"type": "ephemeral"}
    }))
    .unwrap();
    assert_eq!(r.model.as_str(), "gemini/gemini-2.5-flash");
    assert_eq!(r.client_model, "gemini/gemini-2.5-flash");
    let c = &r.chat;
    assert_eq!(c.model, "gemini-2.5-flash");
    assert_eq!(
        c.system.as_deref(),
        Some("Be brief.\n\nAnswer in French.\n\nBe kind.")
    );
    let png = Media::Base64 {
        media_type: "image/png".into(),
        data: PNG.into(),
    };
    assert_eq!(c.messages.len(), 3);
    assert_eq!(
        c.messages[0],
        Message {
            role: Role::User,
            content: vec![
                Block::Text("What is in these?".into()),
                Block::Image(png.clone()),
                Block::Image(Media::Url("https://example.com/cat.jpg".into())),
                Block::Document {
                    media: Media::Base64 {
                        media_type: "application/pdf".into(),
                        data: "JVBERi0=".into()
                    },
                    name: Some("a.pdf".into())
                },
                Block::Text("Memo\n\nNotes".into()),
            ]
        }
    );
    assert_eq!(
        c.messages[1].content,
        vec![
            Block::Reasoning(Reasoning {
                text: "Hmm.".into(),
                signature: Some("sig-1".into()),
                redacted: None
            }),
            Block::Reasoning(Reasoning {
                redacted: Some("opaque".into()),
                ..Reasoning::default()
            }),
            Block::Text("Let me look.".into()),
            Block::ToolCall(ToolCall {
                id: "call_0".into(),
                name: "look".into(),
                arguments: "{\"q\":\"cat\"}".into(),
                signature: Some("gsig".into())
            }),
        ]
    );
    assert_eq!(
        c.messages[2].content,
        vec![
            Block::ToolResult(ToolResult {
                call_id: "call_0".into(),
                name: Some("look".into()),
                content: vec![Block::Text("a cat".into()), Block::Image(png)],
                is_error: true
            }),
            Block::Text("And now?".into()),
        ]
    );
    assert_eq!(
        c.tools,
        vec![Tool {
            name: "look".into(),
            description: Some("Looks".into()),
            parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
            strict: Some(true)
        }]
    );
    assert_eq!(c.tool_choice, Some(ToolChoice::Named("look".into())));
    assert_eq!(c.parallel_tool_calls, Some(false));
    assert_eq!(
        c.reasoning,
        Some(ReasoningRequest {
            effort: Some(Effort::Medium),
            budget_tokens: Some(1024),
            include: true
        })
    );
    assert_eq!(
        c.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "output".into(),
            description: None,
            schema: json!({"type": "object"}),
            strict: None
        })
    );
    assert_eq!(
        (c.max_tokens, c.temperature, c.top_p),
        (Some(2048), Some(1.0), Some(0.95))
    );
    assert_eq!(c.stop, vec!["END".to_owned()]);
    assert_eq!(c.user.as_deref(), Some("user-42"));
    assert!(c.stream && c.passthrough.is_empty() && c.seed.is_none() && !c.logprobs);
}

#[test]
fn a_bare_model_name_is_an_anthropic_model_and_a_prefixed_one_is_used_as_it_is() {
    for (name, want, provider) in [
        (
            "claude-sonnet-4-5",
            "anthropic/claude-sonnet-4-5",
            ProviderKind::Anthropic,
        ),
        (
            "claude-haiku-4-5-20251001",
            "anthropic/claude-haiku-4-5-20251001",
            ProviderKind::Anthropic,
        ),
        (
            "anthropic/claude-opus-4-6",
            "anthropic/claude-opus-4-6",
            ProviderKind::Anthropic,
        ),
        (
            "openai/gpt-4o-mini",
            "openai/gpt-4o-mini",
            ProviderKind::OpenAi,
        ),
        (
            "gemini/gemini-2.5-flash",
            "gemini/gemini-2.5-flash",
            ProviderKind::Gemini,
        ),
        ("demo/echo", "demo/echo", ProviderKind::Demo),
    ] {
        let r = parse(json!({"model": name, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})).unwrap();
        assert_eq!(
            (r.model.as_str(), r.model.provider()),
            (want, provider),
            "{name}"
        );
        assert_eq!(
            r.client_model, name,
            "the reply names the model as the client did"
        );
    }
    let err = parse(json!({"model": "mistral/large", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})).unwrap_err();
    assert_eq!(err.param_name(), Some("model"));
    assert!(
        err.detail().contains("unknown provider"),
        "{}",
        err.detail()
    );
}

#[test]
fn what_claude_code_sends_is_accepted() {
    // The shape of a Claude Code turn: system blocks with cache_control (the first one
    // its billing header), tools with cache_control, thinking, context_management,
    // metadata.user_id, a tool round trip, and the hints it adds.
    let r = parse(json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "temperature": 1,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.37; cc_entrypoint=cli;"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>…</system-reminder>"},
                                         {"type": "text", "text": "list the files", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should run ls.", "signature": "EqQB"},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls", "description": "List files"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "README.md\nsrc", "is_error": false}]}
        ],
        "tools": [{"name": "Bash", "description": "Runs a command", "input_schema": {
            "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"],
            "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"},
            "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "user_8c1e_account__session_5a7c1d2e-1b2c-4d5e-8f90-a1b2c3d4e5f6"}
    }))
    .unwrap();
    assert_eq!(r.model.as_str(), "anthropic/claude-sonnet-4-5-20250929");
    assert_eq!(r.chat.tools.len(), 1);
    assert_eq!(r.chat.reasoning.unwrap().budget_tokens, Some(31999));
    let adaptive = parse(json!({"model": "claude-opus-4-6", "max_tokens": 64000,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}}]}}))
    .unwrap();
    assert_eq!(
        adaptive.chat.reasoning,
        Some(ReasoningRequest {
            effort: Some(Effort::High),
            budget_tokens: None,
            include: true
        })
    );
}

#[test]
fn thinking_types_and_effort_become_the_reasoning_request() {
    let with = |extra: Value| {
        let mut body = json!({"model": "demo/echo", "max_tokens": 4096, "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        parse(body).map(|r| r.chat.reasoning)
    };
    let rr = |effort, budget_tokens, include| {
        Some(ReasoningRequest {
            effort,
            budget_tokens,
            include,
        })
    };
    assert_eq!(with(json!({})).unwrap(), None);
    assert_eq!(
        with(json!({"thinking": {"type": "disabled"}})).unwrap(),
        None
    );
    assert_eq!(
        with(json!({"thinking": {"type": "adaptive", "display": "omitted"}})).unwrap(),
        rr(None, None, false)
    );
    assert_eq!(
        with(
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000, "display": "summarized"}})
        )
        .unwrap(),
        rr(None, Some(2000), true)
    );
    assert_eq!(
        with(json!({"output_config": {"effort": "low"}})).unwrap(),
        rr(Some(Effort::Low), None, true)
    );
    let err = with(json!({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}}))
        .unwrap_err();
    assert_eq!(err.param_name(), Some("output_config.effort"));
}

#[test]
fn a_tool_choice_and_the_deprecated_output_format_map() {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    for (choice, want, parallel) in [
        (json!({"type": "auto"}), ToolChoice::Auto, None),
        (
            json!({"type": "auto", "disable_parallel_tool_use": false}),
            ToolChoice::Auto,
            None,
        ),
        (
            json!({"type": "any", "disable_parallel_tool_use": true}),
            ToolChoice::Required,
            Some(false),
        ),
        (json!({"type": "none"}), ToolChoice::None, None),
    ] {
        let r = parse(json!({"model": "demo/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                             "tools": tools, "tool_choice": choice})).unwrap();
        assert_eq!(
            (r.chat.tool_choice, r.chat.parallel_tool_calls),
            (Some(want), parallel),
            "{choice}"
        );
    }
    let r = parse(json!({"model": "demo/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                         "output_format": {"type": "json_schema", "schema": {"type": "object"}}})).unwrap();
    assert!(matches!(
        r.chat.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
    let err = r
        .origins
        .rename(ApiError::param("response_format", "not here"));
    assert_eq!(err.param_name(), Some("output_format"));
}

#[test]
#[rustfmt::skip]
fn invalid_requests_are_refused_naming_the_field_as_anthropic_does() {
    let m = r#""model": "claude-sonnet-4-5", "max_tokens": 100"#;
    let hi = r#""messages": [{"role": "user", "content": "x"}]"#;
    let block = |b: &str| format!(r#"{m}, "messages": [{{"role": "user", "content": [{b}]}}]"#);
    let said = |b: &str| format!(r#"{m}, "messages": [{{"role": "user", "content": "x"}}, {{"role": "assistant", "content": [{b}]}}]"#);
    let tool = r#""tools": [{"name": "f", "input_schema": {"type": "object"}}]"#;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("unknown field", format!(r#"{m}, {hi}, "temprature": 1"#), "Extra inputs are not permitted", "temprature"),
        ("missing model", format!(r#""max_tokens": 5, {hi}"#), "Field required", "model"),
        ("missing max_tokens", format!(r#""model": "demo/echo", {hi}"#), "Field required", "max_tokens"),
        ("zero max_tokens", format!(r#""model": "demo/echo", "max_tokens": 0, {hi}"#), "positive integer", "max_tokens"),
        ("missing messages", m.to_owned(), "Field required", "messages"),
        ("empty messages", format!(r#"{m}, "messages": []"#), "at least one message", "messages"),
        ("only system", format!(r#"{m}, "messages": [{{"role": "system", "content": "x"}}]"#), "at least one user or assistant", "messages"),
        ("bad role", format!(r#"{m}, "messages": [{{"role": "tool", "content": "x"}}]"#), "Input should be 'user'", "messages.0.role"),
        ("message field", format!(r#"{m}, "messages": [{{"role": "user", "content": "x", "name": "a"}}]"#), "Extra inputs", "messages.0.name"),
        ("no content", format!(r#"{m}, "messages": [{{"role": "user"}}]"#), "Field required", "messages.0.content"),
        ("unknown block", block(r#"{"type": "video"}"#), "must be text, image, document or tool_result", "messages.0.content.0.type"),
        ("text without text", block(r#"{"type": "text"}"#), "Field required", "messages.0.content.0.text"),
        ("block field", block(r#"{"type": "text", "text": "a", "foo": 1}"#), "Extra inputs", "messages.0.content.0.foo"),
        ("bad cache_control", block(r#"{"type": "text", "text": "a", "cache_control": {"type": "forever"}}"#), "'ephemeral'", "messages.0.content.0.cache_control.type"),
        ("citations", block(r#"{"type": "text", "text": "a", "citations": [{"type": "char_location"}]}"#), "citations are not supported", "messages.0.content.0.citations"),
        ("image by file", block(r#"{"type": "image", "source": {"type": "file", "file_id": "f"}}"#), "no file store", "messages.0.content.0.source.type"),
        ("image not base64", block(r#"{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "@@"}}"#), "must be base64", "messages.0.content.0.source.data"),
        ("image not an image", block(r#"{"type": "image", "source": {"type": "base64", "media_type": "text/html", "data": "PGI+"}}"#), "image/* type", "messages.0.content.0.source.media_type"),
        ("image url scheme", block(r#"{"type": "image", "source": {"type": "url", "url": "file:///etc/passwd"}}"#), "https URL", "messages.0.content.0.source.url"),
        ("document context", block(r#"{"type": "document", "source": {"type": "url", "url": "https://x.com/a.pdf"}, "context": "c"}"#), "not supported", "messages.0.content.0.context"),
        ("document citations", block(r#"{"type": "document", "source": {"type": "url", "url": "https://x.com/a.pdf"}, "citations": {"enabled": true}}"#), "citations are not supported", "messages.0.content.0.citations.enabled"),
        ("content source", block(r#"{"type": "document", "source": {"type": "content", "content": "x"}}"#), "not supported", "messages.0.content.0.source.type"),
        ("search result", block(r#"{"type": "search_result", "source": "s", "title": "t", "content": []}"#), "not supported by chatgate", "messages.0.content.0.type"),
        ("tool_use from the user", block(r#"{"type": "tool_use", "id": "t", "name": "f", "input": {}}"#), "belong to assistant turns", "messages.0.content.0.type"),
        ("tool_result from the assistant", said(r#"{"type": "tool_result", "tool_use_id": "t"}"#), "belong to user turns", "messages.1.content.0.type"),
        ("tool_use input not an object", said(r#"{"type": "tool_use", "id": "t", "name": "f", "input": "x"}"#), "Input should be an object", "messages.1.content.0.input"),
        ("thinking without signature", said(r#"{"type": "thinking", "thinking": "t"}"#), "Field required", "messages.1.content.0.signature"),
        ("server tool block", said(r#"{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}"#), "not supported by chatgate", "messages.1.content.0.type"),
        ("tool result content", block(r#"{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "search_result"}]}"#), "must be text, image or document", "messages.0.content.0.content.0.type"),
        ("server tool", format!(r#"{m}, {hi}, "tools": [{{"type": "web_search_20250305", "name": "web_search"}}]"#), "server tool", "tools.0.type"),
        ("tool without schema", format!(r#"{m}, {hi}, "tools": [{{"name": "f"}}]"#), "Field required", "tools.0.input_schema"),
        ("bad tool name", format!(r#"{m}, {hi}, "tools": [{{"name": "a b", "input_schema": {{}}}}]"#), "1 to 128", "tools.0.name"),
        ("duplicate tool", format!(r#"{m}, {hi}, "tools": [{{"name": "f", "input_schema": {{}}}}, {{"name": "f", "input_schema": {{}}}}]"#), "repeats", "tools.1.name"),
        ("deferred tool", format!(r#"{m}, {hi}, "tools": [{{"name": "f", "input_schema": {{}}, "defer_loading": true}}]"#), "deferred tools", "tools.0.defer_loading"),
        ("input examples", format!(r#"{m}, {hi}, "tools": [{{"name": "f", "input_schema": {{}}, "input_examples": [{{}}]}}]"#), "not supported", "tools.0.input_examples"),
        ("tool_choice naming no tool", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "tool", "name": "g"}}"#), "names no tool", "tool_choice.name"),
        ("tool_choice any without tools", format!(r#"{m}, {hi}, "tool_choice": {{"type": "any"}}"#), "requires tools", "tool_choice"),
        ("tool_choice type", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "required"}}"#), "Input should be 'auto'", "tool_choice.type"),
        ("none with parallel", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "none", "disable_parallel_tool_use": true}}"#), "Extra inputs", "tool_choice.disable_parallel_tool_use"),
        ("thinking type", format!(r#"{m}, {hi}, "thinking": {{"type": "on"}}"#), "Input should be 'enabled'", "thinking.type"),
        ("thinking budget", format!(r#"{m}, {hi}, "thinking": {{"type": "enabled"}}"#), "positive integer", "thinking.budget_tokens"),
        ("effort max", format!(r#"{m}, {hi}, "output_config": {{"effort": "max"}}"#), "use low, medium or high", "output_config.effort"),
        ("format type", format!(r#"{m}, {hi}, "output_config": {{"format": {{"type": "json_object"}}}}"#), "'json_schema'", "output_config.format.type"),
        ("both formats", format!(r#"{m}, {hi}, "output_config": {{"format": {{"type": "json_schema", "schema": {{}}}}}}, "output_format": {{"type": "json_schema", "schema": {{}}}}"#), "give one of them", "output_format"),
        ("top_k", format!(r#"{m}, {hi}, "top_k": 5"#), "no provider-neutral counterpart", "top_k"),
        ("temperature", format!(r#"{m}, {hi}, "temperature": 1.5"#), "from 0 to 1", "temperature"),
        ("stop sequence", format!(r#"{m}, {hi}, "stop_sequences": [1]"#), "valid string", "stop_sequences.0"),
        ("metadata field", format!(r#"{m}, {hi}, "metadata": {{"session": "s"}}"#), "Extra inputs", "metadata.session"),
        ("long user id", format!(r#"{m}, {hi}, "metadata": {{"user_id": "{}"}}"#, "u".repeat(257)), "at most 256", "metadata.user_id"),
        ("string stream", format!(r#"{m}, {hi}, "stream": "yes""#), "valid boolean", "stream"),
        ("fast", format!(r#"{m}, {hi}, "speed": "fast""#), "fast mode", "speed"),
        ("service tier", format!(r#"{m}, {hi}, "service_tier": "priority""#), "'auto' or 'standard_only'", "service_tier"),
        ("container", format!(r#"{m}, {hi}, "container": "c""#), "containers", "container"),
        ("mcp servers", format!(r#"{m}, {hi}, "mcp_servers": [{{"type": "url"}}]"#), "MCP servers", "mcp_servers"),
        ("tool-clearing edit", format!(r#"{m}, {hi}, "context_management": {{"edits": [{{"type": "clear_tool_uses_20250919"}}]}}"#), "only clear_thinking", "context_management.edits.0.type"),
        ("context field", format!(r#"{m}, {hi}, "context_management": {{"enabled": true}}"#), "Extra inputs", "context_management.enabled"),
    ];
    for (case, fields, message, param) in cases {
        let err = parse_request(format!("{{{fields}}}").as_bytes()).err().unwrap_or_else(|| panic!("{case}: accepted"));
        assert!(err.detail().contains(message), "{case}: got {:?}", err.detail());
        assert!(err.detail().starts_with(&format!("{param}: ")), "{case}: got {:?}", err.detail());
        assert_eq!(err.param_name(), Some(param), "{case}");
        assert_eq!(err.status(), 400, "{case}");
    }
    let err = parse_request(b"{not json").unwrap_err();
    assert_eq!(err.detail(), "the request body must be a JSON object");
}

#[test]
fn a_providers_refusal_is_renamed_to_the_clients_own_fields() {
    let r = parse(json!({"model": "gemini/gemini-2.5-flash", "max_tokens": 100, "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {"type": "url", "url": "https://x.com/a.png"}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}, {"type": "tool_use", "id": "c", "name": "f", "input": {}},
                                          {"type": "tool_use", "id": "d", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c", "content": "r1"},
                                     {"type": "tool_result", "tool_use_id": "d", "content": [{"type": "text", "text": "r2"}, {"type": "text", "text": "r3"}]}]},
        {"role": "user", "content": "plain"}
    ], "tools": [{"name": "f", "input_schema": {"type": "object"}}], "stop_sequences": ["x"]}))
    .unwrap();
    for (neutral, client) in [
        ("messages[0].content[1]", "messages.1.content.1"),
        ("messages[1]", "messages.2"),
        (
            "messages[1].content[2].arguments",
            "messages.2.content.2.input",
        ),
        (
            "messages[1].tool_calls[1].function.arguments",
            "messages.2.content.2.input",
        ),
        (
            "messages[2].content[0].content[0]",
            "messages.3.content.0.content",
        ),
        (
            "messages[2].content[1].content[1]",
            "messages.3.content.1.content.1",
        ),
        ("messages[3].content[0]", "messages.4.content"),
        ("messages[9].content[0]", "messages.9.content.0"),
        ("tools[0].function.parameters", "tools.0.input_schema"),
        ("tools[0].strict", "tools.0.strict"),
        ("response_format", "output_config.format"),
        (
            "parallel_tool_calls",
            "tool_choice.disable_parallel_tool_use",
        ),
        ("stop", "stop_sequences"),
        ("user", "metadata.user_id"),
        ("reasoning_effort", "output_config.effort"),
        ("thinking.budget_tokens", "thinking.budget_tokens"),
        ("max_tokens", "max_tokens"),
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
    assert_eq!(r.origins.rename(ApiError::NotFound).status(), 404);
}

#[test]
fn count_tokens_takes_the_request_without_max_tokens_and_counts_tools_too() {
    let body = json!({"model": "claude-sonnet-4-5", "system": "You are terse.",
                      "messages": [{"role": "user", "content": "Hello, world"}]});
    let r = parse_count_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(r.chat.max_tokens, None);
    let plain = estimate_input_tokens(&r.chat);
    assert_eq!(plain, r.chat.prompt_estimate());
    let mut with_tools = body.clone();
    with_tools["tools"] = json!([{"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let r = parse_count_request(with_tools.to_string().as_bytes()).unwrap();
    assert!(estimate_input_tokens(&r.chat) > plain + 10);
    assert!(
        parse_request(body.to_string().as_bytes()).is_err(),
        "create needs max_tokens"
    );
}
