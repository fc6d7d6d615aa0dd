//! The provider matrix: each feature of the model APIs, through `/v1/chat/completions`, for
//! OpenAI, Anthropic and Gemini (the mock upstream speaking each one's documented format),
//! streamed and not. A reply is read the way an OpenAI client reads it (a stream folded into
//! one message), so both modes are held to the same answer; where it matters, the request
//! the provider received is checked in its own wire format.

use serde_json::{json, Value};

use crate::helpers::{mock, parse_sse, spawn_app, TestApp, User};

const PROVIDERS: [&str; 3] = ["openai", "anthropic", "gemini"];

/// A reply as an OpenAI client ends up with it.
#[derive(Debug, Default)]
struct Reply {
    content: String,
    refusal: String,
    reasoning_content: String,
    /// (id, name, arguments)
    tool_calls: Vec<(String, String, String)>,
    thinking_blocks: Vec<Value>,
    finish_reason: String,
    usage: Value,
}

fn fold_stream(text: &str) -> Reply {
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let mut reply = Reply::default();
    for (_, _, data) in parse_sse(text) {
        if !data.is_object() {
            continue;
        }
        if !data["usage"].is_null() {
            reply.usage = data["usage"].clone();
        }
        let Some(choice) = data["choices"].get(0) else {
            continue;
        };
        let delta = &choice["delta"];
        reply.content += delta["content"].as_str().unwrap_or_default();
        reply.refusal += delta["refusal"].as_str().unwrap_or_default();
        reply.reasoning_content += delta["reasoning_content"].as_str().unwrap_or_default();
        if let Some(blocks) = delta["thinking_blocks"].as_array() {
            reply.thinking_blocks.extend(blocks.iter().cloned());
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap() as usize;
            if reply.tool_calls.len() <= index {
                reply.tool_calls.resize(index + 1, Default::default());
            }
            let entry = &mut reply.tool_calls[index];
            if let Some(id) = call["id"].as_str() {
                entry.0 = id.into();
            }
            if let Some(name) = call["function"]["name"].as_str() {
                entry.1 = name.into();
            }
            entry.2 += call["function"]["arguments"].as_str().unwrap_or_default();
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            reply.finish_reason = reason.into();
        }
    }
    reply
}

fn read_body(body: &Value) -> Reply {
    let choice = &body["choices"][0];
    let message = &choice["message"];
    Reply {
        content: message["content"].as_str().unwrap_or_default().into(),
        refusal: message["refusal"].as_str().unwrap_or_default().into(),
        reasoning_content: message["reasoning_content"]
            .as_str()
            .unwrap_or_default()
            .into(),
        tool_calls: message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().into(),
                    c["function"]["name"].as_str().unwrap().into(),
                    c["function"]["arguments"].as_str().unwrap().into(),
                )
            })
            .collect(),
        thinking_blocks: message["thinking_blocks"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        finish_reason: choice["finish_reason"].as_str().unwrap_or_default().into(),
        usage: body["usage"].clone(),
    }
}

/// Sends `body` for `model`, streamed or not, and reads the reply; a non-200 fails the test.
async fn ask(app: &TestApp, user: &User, model: &str, stream: bool, body: &Value) -> Reply {
    let mut body = body.clone();
    body["model"] = model.into();
    body["stream"] = stream.into();
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    let resp = app
        .post("/v1/chat/completions", Some(&user.token), &body)
        .await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{model} stream={stream}: {text}");
    if stream {
        fold_stream(&text)
    } else {
        read_body(&serde_json::from_str(&text).unwrap())
    }
}

/// The last request the mock received for a model name holding `tag`.
fn sent_upstream(tag: &str) -> Value {
    mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.contains(tag) || r.body["model"].as_str().is_some_and(|m| m.contains(tag)))
        .unwrap_or_else(|| panic!("nothing reached the mock for {tag}"))
        .body
}

/// Every provider, streamed and not, each with a model name of its own
/// (`<provider>/mock-<directives>-t<n>`) so the mock's record of it can be found:
/// (provider, model, stream).
fn cases(app: &TestApp, directives: &str) -> Vec<(&'static str, String, bool)> {
    let mut out = Vec::new();
    for provider in PROVIDERS {
        for stream in [false, true] {
            let tag = format!("t{}{}{}", app.n, &provider[..2], u8::from(stream));
            out.push((
                provider,
                format!("{provider}/mock-{directives}-{tag}"),
                stream,
            ));
        }
    }
    out
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "The weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

/// Where the tool's declaration is in each provider's own format.
fn declared_tool(provider: &str, body: &Value) -> String {
    let path = match provider {
        "openai" => "/tools/0/function/name",
        "anthropic" => "/tools/0/name",
        _ => "/tools/0/functionDeclarations/0/name",
    };
    body.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .into()
}

#[tokio::test]
async fn a_tool_call_comes_out_of_every_provider() {
    let app = spawn_app().await;
    let user = app.register("matrix-tools").await;
    let question = json!({"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": weather_tool()});
    for (provider, model, stream) in cases(&app, "tools") {
        let r = ask(&app, &user, &model, stream, &question).await;
        let case = format!("{model} stream={stream}");
        assert_eq!(r.finish_reason, "tool_calls", "{case}");
        assert_eq!(r.tool_calls.len(), 1, "{case}: {r:?}");
        let (id, name, args) = &r.tool_calls[0];
        assert!(!id.is_empty(), "{case}: a call has an id");
        assert_eq!(name, "get_weather", "{case}");
        let args: Value = serde_json::from_str(args).unwrap();
        assert_eq!(args, json!({"city": "x"}), "{case}: arguments arrive whole");
        let tag = model.rsplit('-').next().unwrap().to_string();
        assert_eq!(
            declared_tool(provider, &sent_upstream(&tag)),
            "get_weather",
            "{case}"
        );
    }
}

#[tokio::test]
async fn parallel_tool_calls_come_out_with_distinct_ids() {
    let app = spawn_app().await;
    let user = app.register("matrix-parallel").await;
    let question = json!({"messages": [{"role": "user", "content": "Weather in Paris and Rome?"}], "tools": weather_tool()});
    for (_, model, stream) in cases(&app, "tools-2") {
        let r = ask(&app, &user, &model, stream, &question).await;
        assert_eq!(r.tool_calls.len(), 2, "{model} stream={stream}: {r:?}");
        assert_ne!(r.tool_calls[0].0, r.tool_calls[1].0, "{model}");
        for (_, name, args) in &r.tool_calls {
            assert_eq!(name, "get_weather", "{model}");
            serde_json::from_str::<Value>(args).unwrap();
        }
    }
}

#[tokio::test]
async fn a_tool_result_goes_back_to_every_provider() {
    let app = spawn_app().await;
    let user = app.register("matrix-results").await;
    let turn = json!({
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}
        ],
        "tools": weather_tool()
    });
    for (_, model, stream) in cases(&app, "plain") {
        let r = ask(&app, &user, &model, stream, &turn).await;
        assert_eq!(
            r.content, "Tool get_weather said: 18C and sunny",
            "{model} stream={stream}"
        );
        assert_eq!(r.finish_reason, "stop", "{model}");
    }
}

#[tokio::test]
async fn an_image_reaches_every_provider_whole() {
    let app = spawn_app().await;
    let user = app.register("matrix-image").await;
    // A 1x1 PNG, 70 bytes.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    let question = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}
    ]}]});
    for (_, model, stream) in cases(&app, "describe") {
        let r = ask(&app, &user, &model, stream, &question).await;
        assert_eq!(
            r.content, "Saw 1 image (image/png, 70 bytes)",
            "{model} stream={stream}"
        );
    }
}

#[tokio::test]
async fn a_json_schema_reply_comes_from_every_provider() {
    let app = spawn_app().await;
    let user = app.register("matrix-json").await;
    let question = json!({
        "messages": [{"role": "user", "content": "Summarise the weather"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "strict": true,
            "schema": {"type": "object", "properties": {"summary": {"type": "string"}, "celsius": {"type": "integer"}},
                       "required": ["summary", "celsius"], "additionalProperties": false}}}
    });
    for (_, model, stream) in cases(&app, "plain") {
        let r = ask(&app, &user, &model, stream, &question).await;
        let value: Value = serde_json::from_str(&r.content)
            .unwrap_or_else(|e| panic!("{model} stream={stream}: not JSON ({e}): {}", r.content));
        assert!(
            value["summary"].is_string() && value["celsius"].is_i64(),
            "{model}: {value}"
        );
    }
}

#[tokio::test]
async fn usage_details_come_from_every_provider() {
    let app = spawn_app().await;
    let user = app.register("matrix-usage").await;
    let question = json!({"messages": [{"role": "user", "content": "Hello there"}]});
    for (_, model, stream) in cases(&app, "cached-5") {
        let r = ask(&app, &user, &model, stream, &question).await;
        let u = &r.usage;
        assert_eq!(
            u["prompt_tokens_details"]["cached_tokens"], 5,
            "{model} stream={stream}: {u}"
        );
        let (p, c, t) = (
            u["prompt_tokens"].as_u64().unwrap(),
            u["completion_tokens"].as_u64().unwrap(),
            u["total_tokens"].as_u64().unwrap(),
        );
        assert!(p >= 5 && c > 0 && t == p + c, "{model}: {u}");
    }
}

#[tokio::test]
async fn reasoning_comes_out_of_every_provider_and_a_reasoning_turn_goes_back() {
    let app = spawn_app().await;
    let user = app.register("matrix-reasoning").await;
    let question = json!({"messages": [{"role": "user", "content": "Think it over"}],
                          "reasoning_effort": "low", "max_tokens": 4000});
    for (provider, model, stream) in cases(&app, "plain") {
        let r = ask(&app, &user, &model, stream, &question).await;
        let case = format!("{model} stream={stream}");
        // Anthropic counts thinking apart only in a whole message, not in a stream's usage.
        let counted = !(provider == "anthropic" && stream);
        assert_eq!(
            r.usage["completion_tokens_details"]["reasoning_tokens"]
                .as_u64()
                .unwrap()
                > 0,
            counted,
            "{case}: {}",
            r.usage
        );
        if provider == "openai" {
            // OpenAI keeps its reasoning to itself in Chat Completions.
            assert!(r.thinking_blocks.is_empty(), "{case}");
            continue;
        }
        assert!(
            r.reasoning_content.contains("Think it over"),
            "{case}: {}",
            r.reasoning_content
        );
        let signed = r
            .thinking_blocks
            .iter()
            .filter_map(|b| b["signature"].as_str())
            .collect::<Vec<_>>();
        assert!(
            !signed.is_empty()
                && signed
                    .iter()
                    .all(|s| s.starts_with(&format!("{provider}:"))),
            "{case}: {:?}",
            r.thinking_blocks
        );
        // The provider checks the signature it gets back.
        let next = json!({"messages": [
        {"role": "user", "content": "Think it over"},
        {"role": "assistant", "content": r.content, "thinking_blocks": r.thinking_blocks},
        {"role": "user", "content": "And then?"}
    ], "reasoning_effort": "low", "max_tokens": 4000});
        ask(&app, &user, &model, stream, &next).await;
    }
}

#[tokio::test]
async fn a_refusal_comes_out_of_every_provider() {
    let app = spawn_app().await;
    let user = app.register("matrix-refusal").await;
    let question = json!({"messages": [{"role": "user", "content": "Something forbidden"}]});
    for (provider, model, stream) in cases(&app, "refuse") {
        let r = ask(&app, &user, &model, stream, &question).await;
        let case = format!("{model} stream={stream}: {r:?}");
        assert!(r.content.is_empty(), "{case}");
        if provider == "gemini" {
            // Gemini blocks with a safety finish reason and no text.
            assert_eq!(r.finish_reason, "content_filter", "{case}");
        } else {
            assert!(!r.refusal.is_empty(), "{case}");
            assert_eq!(r.finish_reason, "stop", "{case}");
        }
    }
}

#[tokio::test]
async fn what_a_provider_cannot_do_is_refused_by_name() {
    let app = spawn_app().await;
    let user = app.register("matrix-refused").await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    let hello = json!([{"role": "user", "content": "Hello"}]);
    let cases = [
        // Anthropic has no log probabilities and no seed.
        (
            "anthropic/mock",
            json!({"messages": hello, "logprobs": true}),
            "logprobs",
        ),
        (
            "anthropic/mock",
            json!({"messages": hello, "seed": 7}),
            "seed",
        ),
        // Gemini cannot be told to call one tool at a time.
        (
            "gemini/mock",
            json!({"messages": hello, "tools": weather_tool(), "parallel_tool_calls": false}),
            "parallel_tool_calls",
        ),
        // OpenAI's tool messages carry text only.
        (
            "openai/mock",
            json!({"messages": [
            {"role": "user", "content": "Look"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}]}
        ], "tools": weather_tool()}),
            "messages[2]",
        ),
    ];
    for (model, mut body, param) in cases {
        body["model"] = model.into();
        let resp = app
            .post("/v1/chat/completions", Some(&user.token), &body)
            .await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 400, "{model} {param}: {body}");
        let named = body["error"]["param"].as_str().unwrap_or_default();
        assert!(
            named.starts_with(param),
            "{model}: param {named:?}, expected {param}: {body}"
        );
    }
}
