//! The request body, from the neutral model.
//!
//! Anthropic wants alternating turns with non-empty content: empty (or blank) text blocks
//! are dropped, turns left empty are skipped, and neighbouring turns of one role are joined
//! block by block (Anthropic would join them itself). In a user turn the tool results come
//! first, as Anthropic requires of the turn that answers tool calls. In an assistant turn
//! the blocks keep their order, thinking included: Anthropic needs the last turn's thinking
//! back, unmodified, when tools are in play. Reasoning without an Anthropic signature (from
//! another provider, or a summary) cannot be sent back and is left out; Anthropic does not
//! read earlier turns' thinking as context anyway. A refusal the assistant gave is its text.

use super::{max_tokens, Json, Thinking, API_VERSION};
use crate::providers::{
    json_headers, to_json, Block, ChatRequest, HttpRequestSpec, Media, ResponseFormat, Role,
    ToolChoice,
};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Content<'a>,
}

/// A turn of a single text block goes as a string, Anthropic's shorthand for it.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Blocks(Vec<Part<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: Source<'a>,
    },
    Document {
        source: Source<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Json,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<Part<'a>>,
        #[serde(skip_serializing_if = "is_false")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireToolChoice<'a> {
    Auto {
        #[serde(skip_serializing_if = "is_false")]
        disable_parallel_tool_use: bool,
    },
    Any {
        #[serde(skip_serializing_if = "is_false")]
        disable_parallel_tool_use: bool,
    },
    Tool {
        name: &'a str,
        #[serde(skip_serializing_if = "is_false")]
        disable_parallel_tool_use: bool,
    },
    None,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireThinking {
    Enabled {
        budget_tokens: u32,
    },
    Adaptive {
        #[serde(skip_serializing_if = "Option::is_none")]
        display: Option<&'static str>,
    },
}

#[derive(Serialize)]
struct OutputConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<Format>,
}

#[derive(Serialize)]
struct Format {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: Value,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub(in crate::providers) fn build_request(
    base: &str,
    api_key: &str,
    req: &ChatRequest,
) -> HttpRequestSpec {
    let thinking = Thinking::of(req);
    let effort = match thinking {
        Thinking::Adaptive {
            effort: Some(e), ..
        } => Some(super::effort_level(e)),
        _ => None,
    };
    let format = match &req.response_format {
        Some(ResponseFormat::JsonSchema {
            schema,
            description,
            ..
        }) => Some(Format {
            kind: "json_schema",
            schema: described(schema, description.as_deref()),
        }),
        _ => None,
    };
    let output_config =
        (effort.is_some() || format.is_some()).then_some(OutputConfig { effort, format });
    let body = Request {
        model: &req.model,
        max_tokens: max_tokens(req),
        system: req.system.as_deref().filter(|s| !s.trim().is_empty()),
        messages: messages(req),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: &req.stop,
        stream: req.stream,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
        tools: req
            .tools
            .iter()
            .map(|t| Tool {
                name: &t.name,
                description: t.description.as_deref(),
                input_schema: input_schema(&t.parameters),
                strict: t.strict.filter(|s| *s),
            })
            .collect(),
        tool_choice: tool_choice(req),
        thinking: match thinking {
            Thinking::Off => None,
            Thinking::Manual { budget, .. } => Some(WireThinking::Enabled {
                budget_tokens: budget,
            }),
            Thinking::Adaptive { summarized, .. } => Some(WireThinking::Adaptive {
                display: summarized.then_some("summarized"),
            }),
        },
        output_config,
    };
    HttpRequestSpec {
        url: format!("{base}/v1/messages"),
        headers: json_headers([
            ("x-api-key", api_key.to_owned()),
            ("anthropic-version", API_VERSION.to_owned()),
        ]),
        body: to_json(&body),
    }
}

/// The schema, with the format's description at its root when it has none of its own.
fn described(schema: &Value, description: Option<&str>) -> Value {
    let mut schema = schema.clone();
    if let (Value::Object(root), Some(d)) = (&mut schema, description) {
        root.entry("description")
            .or_insert_with(|| Value::String(d.to_owned()));
    }
    schema
}

/// A tool without parameters (no schema, or `{}`) takes an empty object.
fn input_schema(parameters: &Value) -> Value {
    match parameters {
        Value::Null => serde_json::json!({"type": "object", "properties": {}}),
        Value::Object(o) if o.is_empty() => serde_json::json!({"type": "object", "properties": {}}),
        schema => schema.clone(),
    }
}

/// Only with tools to choose from. `parallel_tool_calls: false` is Anthropic's
/// `disable_parallel_tool_use` on the choice (`none` calls nothing, so it has none).
fn tool_choice(req: &ChatRequest) -> Option<WireToolChoice<'_>> {
    if req.tools.is_empty() {
        return None;
    }
    let single = req.parallel_tool_calls == Some(false);
    let choice = match &req.tool_choice {
        None if !single => return None,
        None | Some(ToolChoice::Auto) => WireToolChoice::Auto {
            disable_parallel_tool_use: single,
        },
        Some(ToolChoice::Required) => WireToolChoice::Any {
            disable_parallel_tool_use: single,
        },
        Some(ToolChoice::Named(name)) => WireToolChoice::Tool {
            name,
            disable_parallel_tool_use: single,
        },
        Some(ToolChoice::None) => WireToolChoice::None,
    };
    Some(choice)
}

fn messages(req: &ChatRequest) -> Vec<Message<'_>> {
    let mut turns: Vec<(Role, Vec<Part<'_>>)> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let parts: Vec<Part<'_>> = m.content.iter().filter_map(part).collect();
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, blocks)) if *role == m.role => blocks.extend(parts),
            _ => turns.push((m.role, parts)),
        }
    }
    turns
        .into_iter()
        .map(|(role, mut parts)| {
            // A stable sort: the results keep their order, and so does the rest.
            parts.sort_by_key(|p| !matches!(p, Part::ToolResult { .. }));
            let content = match parts.as_slice() {
                [Part::Text { text }] => Content::Text(text),
                _ => Content::Blocks(parts),
            };
            Message {
                role: match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                content,
            }
        })
        .collect()
}

fn text(t: &str) -> Option<Part<'_>> {
    (!t.trim().is_empty()).then_some(Part::Text { text: t })
}

fn source(media: &Media) -> Source<'_> {
    match media {
        Media::Url(url) => Source::Url { url },
        Media::Base64 { media_type, data } => Source::Base64 { media_type, data },
    }
}

/// Text, images and documents: what a tool result holds as well as a user turn.
fn media_part(block: &Block) -> Option<Part<'_>> {
    match block {
        Block::Text(t) => text(t),
        Block::Image(media) => Some(Part::Image {
            source: source(media),
        }),
        Block::Document { media, name } => Some(Part::Document {
            source: source(media),
            title: name.as_deref(),
        }),
        _ => None,
    }
}

fn part(block: &Block) -> Option<Part<'_>> {
    match block {
        Block::Text(_) | Block::Image(_) | Block::Document { .. } => media_part(block),
        Block::Refusal(t) => text(t),
        Block::ToolCall(c) => Some(Part::ToolUse {
            id: &c.id,
            name: &c.name,
            input: super::arguments(&c.arguments).unwrap_or_else(Json::empty_object),
        }),
        Block::ToolResult(r) => Some(Part::ToolResult {
            tool_use_id: &r.call_id,
            content: r.content.iter().filter_map(media_part).collect(),
            is_error: r.is_error,
        }),
        Block::Reasoning(r) => match (&r.redacted, &r.signature) {
            (Some(data), _) => Some(Part::RedactedThinking { data }),
            (None, Some(signature)) if !signature.is_empty() => Some(Part::Thinking {
                thinking: &r.text,
                signature,
            }),
            _ => None,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::model::Reasoning;
    use crate::providers::{
        Block, Effort, Media, Message, ReasoningRequest, ResponseFormat, Tool, ToolCall,
        ToolChoice, ToolResult,
    };
    use serde_json::{json, Value};

    fn body(req: &ChatRequest) -> Value {
        serde_json::from_str(&build_request("https://api.anthropic.com", "k", req).body).unwrap()
    }

    fn turn(role: Role, content: Vec<Block>) -> Message {
        Message { role, content }
    }

    fn call(id: &str, name: &str, arguments: &str) -> Block {
        Block::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        })
    }

    fn result(call_id: &str, text: &str, is_error: bool) -> Block {
        Block::ToolResult(ToolResult {
            call_id: call_id.into(),
            name: None,
            content: vec![Block::Text(text.into())],
            is_error,
        })
    }

    fn weather_tool() -> Tool {
        Tool {
            name: "get_weather".into(),
            description: Some("Get the current weather in a given location".into()),
            parameters: json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
            strict: None,
        }
    }

    #[test]
    fn build_request_puts_system_on_top_and_always_sends_max_tokens() {
        let req = ChatRequest {
            model: "claude-3-5-haiku-latest".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("Hi"),
                Message::assistant(""), // a failed reply with no text
                Message::user("Still there?"),
                Message::assistant("Yes"),
            ],
            stop: vec!["END".into()],
            user: Some("u1".into()),
            stream: true,
            ..Default::default()
        };
        let spec = build_request("https://api.anthropic.com", "sk-ant-test", &req);
        assert_eq!(spec.url, "https://api.anthropic.com/v1/messages");
        assert!(spec
            .headers
            .contains(&("x-api-key".into(), "sk-ant-test".into())));
        assert!(spec
            .headers
            .contains(&("anthropic-version".into(), "2023-06-01".into())));
        assert!(!spec.headers.iter().any(|(k, _)| k == "anthropic-beta"));
        let sent: Value = serde_json::from_str(&spec.body).unwrap();
        // Two user turns in a row are one turn to Anthropic: their blocks are joined.
        assert_eq!(
            sent,
            json!({
                "model": "claude-3-5-haiku-latest", "max_tokens": 4096, "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "Hi"}, {"type": "text", "text": "Still there?"}
                    ]},
                    {"role": "assistant", "content": "Yes"}
                ],
                "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u1"}
            })
        );
        let small = ChatRequest {
            max_tokens: Some(10),
            temperature: Some(0.2),
            top_p: Some(0.9),
            ..req
        };
        let sent = body(&small);
        assert_eq!(
            (&sent["max_tokens"], &sent["temperature"], &sent["top_p"]),
            (&json!(10), &json!(0.2), &json!(0.9))
        );
    }

    #[test]
    fn a_tool_round_trip_goes_out_as_tool_use_then_tool_results_first() {
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message::user("What's the weather in Paris and in Rome?"),
                turn(
                    Role::Assistant,
                    vec![
                        Block::Reasoning(Reasoning {
                            text: "Two cities, two calls.".into(),
                            signature: Some("sig-1".into()),
                            redacted: None,
                        }),
                        Block::Reasoning(Reasoning {
                            redacted: Some("opaque==".into()),
                            ..Reasoning::default()
                        }),
                        Block::Text("Let me check.".into()),
                        call(
                            "toolu_1",
                            "get_weather",
                            r#"{"location": "Paris", "unit": "c"}"#,
                        ),
                        call("toolu_2", "get_weather", r#"{"location":"Rome"}"#),
                    ],
                ),
                // Text before the results, as a client may order them: results go first.
                turn(
                    Role::User,
                    vec![
                        Block::Text("Quick, please.".into()),
                        result("toolu_1", "20°C", false),
                    ],
                ),
                turn(Role::User, vec![result("toolu_2", "no data", true)]),
            ],
            tools: vec![weather_tool()],
            ..Default::default()
        };
        assert_eq!(
            body(&req),
            json!({
                "model": "claude-sonnet-4-5", "max_tokens": 4096, "stream": false,
                "messages": [
                    {"role": "user", "content": "What's the weather in Paris and in Rome?"},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "Two cities, two calls.", "signature": "sig-1"},
                        {"type": "redacted_thinking", "data": "opaque=="},
                        {"type": "text", "text": "Let me check."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                         "input": {"location": "Paris", "unit": "c"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "get_weather",
                         "input": {"location": "Rome"}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1",
                         "content": [{"type": "text", "text": "20°C"}]},
                        {"type": "tool_result", "tool_use_id": "toolu_2",
                         "content": [{"type": "text", "text": "no data"}], "is_error": true},
                        {"type": "text", "text": "Quick, please."}
                    ]}
                ],
                "tools": [{
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                                     "required": ["location"]}
                }]
            })
        );
        // The arguments keep the model's key order on the wire.
        let raw = build_request("b", "k", &req).body;
        assert!(
            raw.contains(r#""input":{"location":"Paris","unit":"c"}"#),
            "{raw}"
        );
    }

    #[test]
    fn images_and_documents_go_as_base64_or_url_sources() {
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![turn(
                Role::User,
                vec![
                    Block::Text("Compare these.".into()),
                    Block::Image(Media::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    }),
                    Block::Image(Media::Url("https://example.com/cat.jpg".into())),
                    Block::Document {
                        media: Media::Base64 {
                            media_type: "application/pdf".into(),
                            data: "JVBERi0xLjQ=".into(),
                        },
                        name: Some("report.pdf".into()),
                    },
                    Block::Document {
                        media: Media::Url("https://example.com/paper.pdf".into()),
                        name: None,
                    },
                    Block::ToolResult(ToolResult {
                        call_id: "toolu_9".into(),
                        name: Some("screenshot".into()),
                        content: vec![
                            Block::Text(" ".into()),
                            Block::Image(Media::Url("https://example.com/shot.png".into())),
                        ],
                        is_error: false,
                    }),
                ],
            )],
            ..Default::default()
        };
        assert_eq!(
            body(&req)["messages"],
            json!([{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/shot.png"}}
                ]},
                {"type": "text", "text": "Compare these."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
                 "title": "report.pdf"},
                {"type": "document", "source": {"type": "url", "url": "https://example.com/paper.pdf"}}
            ]}])
        );
    }

    #[test]
    fn blocks_anthropic_cannot_take_back_are_left_out_or_become_text() {
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message::user("Hi"),
                turn(
                    Role::Assistant,
                    vec![
                        // Another provider's reasoning has no Anthropic signature to send.
                        Block::Reasoning(Reasoning {
                            text: "a summary".into(),
                            ..Reasoning::default()
                        }),
                        Block::Text("  ".into()),
                        Block::Refusal("I can't help with that.".into()),
                        // A call without arguments.
                        call("toolu_3", "clock", ""),
                    ],
                ),
                turn(
                    Role::User,
                    vec![Block::ToolResult(ToolResult {
                        call_id: "toolu_3".into(),
                        name: None,
                        content: Vec::new(),
                        is_error: false,
                    })],
                ),
            ],
            ..Default::default()
        };
        assert_eq!(
            body(&req)["messages"],
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "I can't help with that."},
                    {"type": "tool_use", "id": "toolu_3", "name": "clock", "input": {}}
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_3"}]}
            ])
        );
    }

    #[test]
    fn tools_and_tool_choice_map_to_anthropics_names() {
        let tools = vec![
            Tool {
                strict: Some(true),
                ..weather_tool()
            },
            Tool {
                name: "clock".into(),
                description: None,
                parameters: Value::Null,
                strict: Some(false),
            },
        ];
        let req = |choice: Option<ToolChoice>, parallel: Option<bool>| ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![Message::user("hi")],
            tools: tools.clone(),
            tool_choice: choice,
            parallel_tool_calls: parallel,
            ..Default::default()
        };
        assert_eq!(
            body(&req(None, None))["tools"],
            json!([
                {"name": "get_weather", "description": "Get the current weather in a given location",
                 "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                                  "required": ["location"]},
                 "strict": true},
                {"name": "clock", "input_schema": {"type": "object", "properties": {}}}
            ])
        );
        let named = || Some(ToolChoice::Named("clock".into()));
        for (choice, parallel, expected) in [
            (None, None, Value::Null),
            (None, Some(true), Value::Null),
            (
                None,
                Some(false),
                json!({"type": "auto", "disable_parallel_tool_use": true}),
            ),
            (Some(ToolChoice::Auto), None, json!({"type": "auto"})),
            (Some(ToolChoice::Required), None, json!({"type": "any"})),
            (
                Some(ToolChoice::Required),
                Some(false),
                json!({"type": "any", "disable_parallel_tool_use": true}),
            ),
            (named(), None, json!({"type": "tool", "name": "clock"})),
            (
                named(),
                Some(false),
                json!({"type": "tool", "name": "clock", "disable_parallel_tool_use": true}),
            ),
            (Some(ToolChoice::None), Some(false), json!({"type": "none"})),
        ] {
            let label = format!("{choice:?} {parallel:?}");
            assert_eq!(
                body(&req(choice, parallel))["tool_choice"],
                expected,
                "{label}"
            );
        }
        // Without tools there is nothing to choose from.
        let none = ChatRequest {
            tools: Vec::new(),
            ..req(Some(ToolChoice::None), Some(false))
        };
        let b = body(&none);
        assert!(
            b.get("tools").is_none() && b.get("tool_choice").is_none(),
            "{b}"
        );
    }

    fn reasoning(model: &str, effort: Option<Effort>, budget: Option<u32>) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            messages: vec![Message::user("Prove it.")],
            reasoning: Some(ReasoningRequest {
                effort,
                budget_tokens: budget,
                include: true,
            }),
            ..Default::default()
        }
    }

    fn thinking_of(req: &ChatRequest) -> (Value, Value, Value) {
        let b = body(req);
        (
            b["thinking"].clone(),
            b["max_tokens"].clone(),
            b.get("output_config").cloned().unwrap_or(Value::Null),
        )
    }

    #[test]
    fn reasoning_is_a_thinking_budget_up_to_claude_4_5_and_adaptive_thinking_after() {
        // Claude 4.5 and earlier take only a budget: the effort's, with room for the answer.
        assert_eq!(
            thinking_of(&reasoning("claude-sonnet-4-5", Some(Effort::High), None)),
            (
                json!({"type": "enabled", "budget_tokens": 8192}),
                json!(4096 + 8192),
                Value::Null
            )
        );
        assert_eq!(
            thinking_of(&reasoning("claude-3-7-sonnet-20250219", None, None)),
            (
                json!({"type": "enabled", "budget_tokens": 4096}),
                json!(4096 + 4096),
                Value::Null
            )
        );
        // The client's max_tokens is a cap: an effort's budget shrinks to fit under it.
        let capped = ChatRequest {
            max_tokens: Some(3000),
            ..reasoning("claude-sonnet-4-20250514", Some(Effort::High), None)
        };
        assert_eq!(
            thinking_of(&capped),
            (
                json!({"type": "enabled", "budget_tokens": 2999}),
                json!(3000),
                Value::Null
            )
        );
        // A budget the client gave goes as given, on any model.
        let budget = ChatRequest {
            max_tokens: Some(5000),
            ..reasoning("claude-opus-4-7", Some(Effort::Low), Some(2000))
        };
        assert_eq!(
            thinking_of(&budget),
            (
                json!({"type": "enabled", "budget_tokens": 2000}),
                json!(5000),
                Value::Null
            )
        );
        // Claude 4.6 and later (and names this file cannot date): adaptive thinking, the
        // effort in output_config, the thinking summarized because it was asked for.
        assert_eq!(
            thinking_of(&reasoning("claude-opus-4-6", Some(Effort::Low), None)),
            (
                json!({"type": "adaptive", "display": "summarized"}),
                json!(4096 + 2048),
                json!({"effort": "low"})
            )
        );
        let minimal = ChatRequest {
            reasoning: Some(ReasoningRequest {
                effort: Some(Effort::Minimal),
                budget_tokens: None,
                include: false,
            }),
            ..reasoning("claude-sonnet-5", None, None)
        };
        assert_eq!(
            thinking_of(&minimal),
            (
                json!({"type": "adaptive"}),
                json!(4096 + 1024),
                json!({"effort": "low"})
            )
        );
        assert_eq!(
            thinking_of(&reasoning("claude-mythos-preview", None, None)),
            (
                json!({"type": "adaptive", "display": "summarized"}),
                json!(4096 + 8192),
                Value::Null
            )
        );
        assert_eq!(
            max_tokens(&reasoning("claude-opus-4-6", Some(Effort::Low), None)),
            4096 + 2048
        );
    }

    #[test]
    fn a_json_schema_response_format_is_anthropics_structured_output() {
        let schema = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"], "additionalProperties": false
        });
        let req = ChatRequest {
            model: "claude-opus-4-6".into(),
            messages: vec![Message::user("Ada, 36.")],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "person".into(),
                description: Some("A person.".into()),
                schema: schema.clone(),
                strict: Some(true),
            }),
            ..reasoning("claude-opus-4-6", Some(Effort::Medium), None)
        };
        let mut described = schema.clone();
        described["description"] = json!("A person.");
        assert_eq!(
            body(&req)["output_config"],
            json!({"effort": "medium", "format": {"type": "json_schema", "schema": described}})
        );
        // A schema's own description is kept; text output asks for nothing.
        let own = json!({"type": "object", "description": "Mine.", "properties": {}, "additionalProperties": false});
        let req = ChatRequest {
            reasoning: None,
            response_format: Some(ResponseFormat::JsonSchema {
                name: "x".into(),
                description: Some("Theirs.".into()),
                schema: own.clone(),
                strict: None,
            }),
            ..req
        };
        assert_eq!(
            body(&req)["output_config"],
            json!({"format": {"type": "json_schema", "schema": own}})
        );
        let text = ChatRequest {
            response_format: Some(ResponseFormat::Text),
            ..req
        };
        assert!(body(&text).get("output_config").is_none());
    }
}
