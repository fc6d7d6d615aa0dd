//! `/v1/messages` (Anthropic's Messages API) across providers: replies and streams in
//! Anthropic's exact shapes for every model, tool use and thinking round trips, images and
//! documents, `x-api-key`, `count_tokens`, and errors in Anthropic's shape.

use chatgate_mock::thinking_signature;
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{mock, parse_sse, spawn_app, TestApp, User};

/// Every provider through the mock, and the demo model.
const MODELS: [&str; 4] = ["demo/echo", "openai/mock", "anthropic/mock", "gemini/mock"];
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// `%PDF-1.4\n`
const PDF: &str = "JVBERi0xLjQK";

async fn create(app: &TestApp, user: &User, body: &Value) -> Response {
    app.request(reqwest::Method::POST, "/v1/messages", Some(&user.token))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A whole reply, asserted 200 and in Anthropic's message shape.
async fn message(app: &TestApp, user: &User, body: &Value) -> Value {
    let resp = create(app, user, body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{body}: {text}");
    let m: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&m["type"], &m["role"]),
        (&json!("message"), &json!("assistant")),
        "{m}"
    );
    assert!(m["id"].as_str().unwrap().starts_with("msg_"), "{m}");
    for field in ["content", "stop_reason", "stop_sequence", "usage", "model"] {
        assert!(m.get(field).is_some(), "{field} missing in {m}");
    }
    for count in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        assert!(m["usage"][count].is_u64(), "{count} in {m}");
    }
    m
}

/// A streamed reply's events `(event, data)`, asserted 200 `text/event-stream`, each `event:`
/// line repeating its data's `type`.
async fn stream(app: &TestApp, user: &User, body: &Value) -> Vec<(String, Value)> {
    let mut body = body.clone();
    body["stream"] = json!(true);
    let resp = create(app, user, &body).await;
    let status = resp.status();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{body}: {text}");
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let events: Vec<(String, Value)> = parse_sse(&text)
        .into_iter()
        .map(|(_, e, d)| (e, d))
        .collect();
    for (event, data) in &events {
        assert_eq!(data["type"], event.as_str(), "{text}");
    }
    events
}

/// The events folded into the message, as Anthropic's SDKs do, checking the grammar on the
/// way: message_start and a ping first, one block open at a time with indexes from 0, every
/// block stopped before message_delta, message_stop last.
fn fold(events: &[(String, Value)]) -> Value {
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names[..2], ["message_start", "ping"], "{names:?}");
    assert_eq!(
        names[names.len() - 2..],
        ["message_delta", "message_stop"],
        "{names:?}"
    );
    let mut m = events[0].1["message"].clone();
    let mut open = None;
    let mut inputs: Vec<String> = Vec::new();
    for (event, data) in &events[2..events.len() - 1] {
        let index = data["index"].as_u64().map(|i| i as usize);
        match event.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "{names:?}");
                assert_eq!(index, Some(inputs.len()), "{names:?}");
                open = index;
                m["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(data["content_block"].clone());
                inputs.push(String::new());
            }
            "content_block_delta" => {
                assert_eq!(index, open, "{names:?}");
                let (i, d) = (index.unwrap(), &data["delta"]);
                let block = &mut m["content"][i];
                let append = |block: &mut Value, key: &str, more: &Value| {
                    block[key] =
                        format!("{}{}", block[key].as_str().unwrap(), more.as_str().unwrap())
                            .into();
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => append(block, "text", &d["text"]),
                    "thinking_delta" => append(block, "thinking", &d["thinking"]),
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        inputs[i].push_str(d["partial_json"].as_str().unwrap());
                        block["input"] =
                            serde_json::from_str(&inputs[i]).unwrap_or(block["input"].clone());
                    }
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                assert_eq!(index, open, "{names:?}");
                open = None;
            }
            "message_delta" => {
                assert_eq!(open, None, "{names:?}");
                m["stop_reason"] = data["delta"]["stop_reason"].clone();
                m["usage"] = data["usage"].clone();
            }
            other => panic!("unexpected {other}: {names:?}"),
        }
    }
    m
}

/// An error in Anthropic's shape, exactly `{"type": "error", "error": {"type", "message"}}`.
async fn assert_anthropic_error(resp: Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    assert!(
        resp.headers().contains_key("request-id"),
        "request-id header"
    );
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["error"].as_object().unwrap().len(), 2, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

fn hello(model: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "hello there"}]})
}

fn text_of(m: &Value) -> String {
    m["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "text")
        .map(|b| b["text"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_message_is_answered_in_anthropics_shape_for_every_model() {
    let app = spawn_app().await;
    let user = app.register("msg-text").await;
    for model in MODELS {
        let m = message(&app, &user, &hello(model)).await;
        assert_eq!(m["model"], model, "the model as the request named it");
        assert_eq!(m["stop_reason"], "end_turn", "{m}");
        assert_eq!(m["stop_sequence"], Value::Null);
        if model == "demo/echo" {
            assert!(text_of(&m).starts_with("You said: hello there"), "{m}");
        } else {
            assert_eq!(
                m["content"],
                json!([{"type": "text", "text": "Echo: hello there "}]),
                "{model}"
            );
            // The mock counts the prompt's words and the reply's tokens.
            assert_eq!(
                m["usage"],
                json!({"input_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 3}),
                "{model}"
            );
        }
    }
    // A bare model name, as Claude Code and Anthropic's examples send, is an Anthropic model.
    let m = message(&app, &user, &hello("mock-bare-name")).await;
    assert_eq!(m["model"], "mock-bare-name");
    assert_eq!(text_of(&m), "Echo: hello there ");
    let sent = mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.body["model"] == "mock-bare-name")
        .expect("the bare name went to Anthropic");
    assert_eq!(sent.path, "/v1/messages");
}

#[tokio::test]
async fn a_streamed_message_follows_anthropics_event_grammar_exactly() {
    let app = spawn_app().await;
    let user = app.register("msg-stream").await;
    for model in ["openai/mock", "anthropic/mock", "gemini/mock"] {
        let events = stream(&app, &user, &hello(model)).await;
        let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ],
            "{model}: token by token, in one text block"
        );
        let start = &events[0].1["message"];
        assert_eq!(
            (&start["content"], &start["stop_reason"], &start["model"]),
            (&json!([]), &Value::Null, &json!(model))
        );
        assert_eq!(
            events[2].1,
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        );
        assert_eq!(
            events[3].1["delta"],
            json!({"type": "text_delta", "text": "Echo: "})
        );
        assert_eq!(
            events[6].1,
            json!({"type": "content_block_stop", "index": 0})
        );
        assert_eq!(
            events[7].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"input_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 3}}),
            "{model}"
        );
        assert_eq!(events[8].1, json!({"type": "message_stop"}));
        // The stream and the whole reply are the same message.
        let whole = message(&app, &user, &hello(model)).await;
        let streamed = fold(&events);
        assert_eq!(
            (&streamed["content"], &streamed["usage"]),
            (&whole["content"], &whole["usage"]),
            "{model}"
        );
    }
    let demo = fold(&stream(&app, &user, &hello("demo/echo")).await);
    assert!(
        text_of(&demo).starts_with("You said: hello there"),
        "{demo}"
    );
}

fn weather_tools() -> Value {
    json!([{"name": "get_weather", "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[tokio::test]
async fn a_tool_use_round_trip_works_on_every_model_streamed_or_not() {
    let app = spawn_app().await;
    let user = app.register("msg-tools").await;
    for model in MODELS {
        for streamed in [false, true] {
            let ask = json!({"model": model, "max_tokens": 512, "tools": weather_tools(),
                             "messages": [{"role": "user", "content": "What is the weather in Paris?"}]});
            let reply = if streamed {
                fold(&stream(&app, &user, &ask).await)
            } else {
                message(&app, &user, &ask).await
            };
            assert_eq!(reply["stop_reason"], "tool_use", "{model}: {reply}");
            let call = reply["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "tool_use")
                .unwrap_or_else(|| panic!("{model}: no tool_use in {reply}"))
                .clone();
            assert_eq!(call["name"], "get_weather");
            assert!(call["input"]["city"].is_string(), "{model}: {call}");
            let id = call["id"].as_str().unwrap();
            // The assistant turn goes back as it came, with the tool's result.
            let answer = json!({"model": model, "max_tokens": 512, "tools": weather_tools(), "messages": [
                {"role": "user", "content": "What is the weather in Paris?"},
                {"role": "assistant", "content": reply["content"]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "18C and sunny"}]}
            ]});
            let done = message(&app, &user, &answer).await;
            let want = if model == "demo/echo" {
                "Tool get_weather returned: 18C and sunny"
            } else {
                "Tool get_weather said: 18C and sunny"
            };
            assert!(
                text_of(&done).starts_with(want),
                "{model} streamed={streamed}: {done}"
            );
            assert_eq!(done["stop_reason"], "end_turn");
        }
    }
}

#[tokio::test]
async fn parallel_tool_calls_come_as_one_tool_use_block_each() {
    let app = spawn_app().await;
    let user = app.register("msg-parallel").await;
    for model in [
        "openai/mock-tools-3",
        "anthropic/mock-tools-3",
        "gemini/mock-tools-3",
    ] {
        let ask = json!({"model": model, "max_tokens": 512, "tools": weather_tools(),
                         "messages": [{"role": "user", "content": "Weather in three cities?"}]});
        let whole = message(&app, &user, &ask).await;
        let streamed = fold(&stream(&app, &user, &ask).await);
        for m in [&whole, &streamed] {
            let calls: Vec<&Value> = m["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .collect();
            assert_eq!(calls.len(), 3, "{model}: {m}");
            assert!(
                calls.iter().all(|c| c["input"] == json!({"city": "x"})),
                "{model}: {m}"
            );
        }
        let ids = |m: &Value| -> Vec<Value> {
            m["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].clone())
                .collect()
        };
        assert_eq!(ids(&whole).len(), ids(&streamed).len());
    }
    // disable_parallel_tool_use keeps it to one call where the provider has the switch.
    let one = message(&app, &user, &json!({"model": "anthropic/mock-tools-3", "max_tokens": 512,
        "tools": weather_tools(), "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [{"role": "user", "content": "Weather?"}]})).await;
    assert_eq!(one["content"].as_array().unwrap().len(), 1, "{one}");
}

#[tokio::test]
async fn images_and_documents_reach_every_provider() {
    let app = spawn_app().await;
    let user = app.register("msg-media").await;
    let content = json!([
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}, "title": "a.pdf"}
    ]);
    for model in [
        "openai/mock-describe",
        "anthropic/mock-describe",
        "gemini/mock-describe",
    ] {
        let m = message(
            &app,
            &user,
            &json!({"model": model, "max_tokens": 256,
            "messages": [{"role": "user", "content": content}]}),
        )
        .await;
        assert_eq!(
            text_of(&m),
            "Saw 1 image (image/png, 70 bytes) and 1 document (application/pdf, 9 bytes)",
            "{model}"
        );
    }
    let demo = message(
        &app,
        &user,
        &json!({"model": "demo/echo", "max_tokens": 256,
        "messages": [{"role": "user", "content": content}]}),
    )
    .await;
    assert!(text_of(&demo).contains("1 image (image/png)"), "{demo}");
}

#[tokio::test]
async fn thinking_round_trips_with_its_signature_on_anthropic_models() {
    let app = spawn_app().await;
    let user = app.register("msg-thinking").await;
    let model = "anthropic/mock-think";
    let question = "Why is the sky blue?";
    let ask = json!({"model": model, "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 1024},
                     "tools": weather_tools(), "messages": [{"role": "user", "content": question}]});
    for streamed in [false, true] {
        let reply = if streamed {
            let events = stream(&app, &user, &ask).await;
            let deltas: Vec<&str> = events
                .iter()
                .filter_map(|(_, d)| d["delta"]["type"].as_str())
                .filter(|t| *t == "signature_delta")
                .collect();
            assert_eq!(deltas.len(), 1, "one signature_delta, whole");
            fold(&events)
        } else {
            message(&app, &user, &ask).await
        };
        let thinking = &reply["content"][0];
        let text = "Thinking about: Why is the sky blue?";
        assert_eq!(
            thinking,
            &json!({"type": "thinking", "thinking": text,
                    "signature": format!("anthropic:{}", thinking_signature(text))}),
            "{reply}"
        );
        assert_eq!(reply["content"][1]["type"], "tool_use", "{reply}");
        // Sent back with the tool's result, the signature is checked upstream (the mock does).
        let turn = |content: &Value| {
            json!({"model": model, "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 1024},
                   "tools": weather_tools(), "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": reply["content"][1]["id"], "content": "sunny"}]}]})
        };
        let done = message(&app, &user, &turn(&reply["content"])).await;
        assert!(
            text_of(&done).contains("Tool get_weather said: sunny"),
            "{done}"
        );
        let mut tampered = reply["content"].clone();
        tampered[0]["signature"] = json!("forged");
        let message = assert_anthropic_error(
            create(&app, &user, &turn(&tampered)).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(message.contains("signature"), "{message}");
    }
}

#[tokio::test]
async fn errors_come_in_anthropics_shape() {
    let app = spawn_app().await;
    let user = app.register("msg-errors").await;
    // No credentials.
    let resp = app
        .request(reqwest::Method::POST, "/v1/messages", None)
        .json(&hello("demo/echo"))
        .send()
        .await
        .unwrap();
    assert_anthropic_error(resp, 401, "authentication_error").await;
    // A model the provider does not know, streamed or not, is a 404 not_found_error.
    for model in [
        "anthropic/missing-model",
        "openai/status-404",
        "gemini/unknown",
    ] {
        for stream in [false, true] {
            let mut body = hello(model);
            body["stream"] = json!(stream);
            let message =
                assert_anthropic_error(create(&app, &user, &body).await, 404, "not_found_error")
                    .await;
            assert!(
                message.starts_with(model.split('/').next().unwrap()),
                "{message}"
            );
        }
    }
    // The request's own mistakes name the field, as Anthropic's do.
    for (body, message) in [
        (
            json!({"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "demo/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "temprature": 1}),
            "temprature: Extra inputs are not permitted",
        ),
        (
            json!({"model": "demo/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "top_k": 5}),
            "top_k: is not supported by chatgate",
        ),
        (
            json!({"model": "demo/echo", "max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                "messages": [{"role": "user", "content": "hi"}]}),
            "tools.0.type: web_search_20250305 is a server tool",
        ),
        // A provider's refusal, renamed to the field the client sent.
        (
            json!({"model": "gemini/mock", "max_tokens": 5, "tools": weather_tools(),
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
                "messages": [{"role": "user", "content": "hi"}]}),
            "tool_choice.disable_parallel_tool_use: ",
        ),
        (
            json!({"model": "anthropic/mock", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "document", "source": {"type": "base64", "media_type": "text/html", "data": "PGI+"}}]}]}),
            "messages.0.content.1: Anthropic reads PDF documents",
        ),
        (
            json!({"model": "nope/x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
            "model: unknown provider",
        ),
    ] {
        let got = assert_anthropic_error(
            create(&app, &user, &body).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(got.starts_with(message), "{got}");
    }
    // An upstream rate limit keeps its retry-after.
    let resp = create(&app, &user, &hello("openai/status-429")).await;
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_anthropic_error(resp, 429, "rate_limit_error").await;
    // A failure mid-stream is Anthropic's error event.
    let events = stream(
        &app,
        &user,
        &json!({"model": "anthropic/mock-tokens-5-cut-2", "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error", "{events:?}");
    assert_eq!(data["error"]["type"], "api_error", "{data}");
}

#[tokio::test]
async fn an_api_key_in_x_api_key_authenticates_as_anthropics_clients_send_it() {
    let app = spawn_app().await;
    let user = app.register("msg-xkey").await;
    let key = |scopes: Value| {
        let app = &app;
        let user = &user;
        async move {
            let resp = app
                .post(
                    "/api/keys",
                    Some(&user.token),
                    &json!({"name": "claude code", "org_id": user.personal_org, "scopes": scopes}),
                )
                .await;
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["key"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let send = |credential: String, path: &'static str, body: Value| {
        let app = &app;
        async move {
            app.request(reqwest::Method::POST, path, None)
                .header("x-api-key", credential)
                .header("anthropic-version", "2023-06-01")
                .header(
                    "anthropic-beta",
                    "claude-code-20250219,interleaved-thinking-2025-05-14",
                )
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let chat = key(json!(["chat"])).await;
    let resp = send(chat.clone(), "/v1/messages", hello("anthropic/mock")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let count = send(chat, "/v1/messages/count_tokens", hello("anthropic/mock")).await;
    assert_eq!(count.status(), 200);
    // An access token works there too, as it does in Authorization.
    assert_eq!(
        send(user.token.clone(), "/v1/messages", hello("demo/echo"))
            .await
            .status(),
        200
    );
    let other = key(json!(["conversations"])).await;
    let message = assert_anthropic_error(
        send(other, "/v1/messages", hello("demo/echo")).await,
        403,
        "permission_error",
    )
    .await;
    assert!(message.contains("chat"), "{message}");
    assert_anthropic_error(
        send("cg_not_a_key".into(), "/v1/messages", hello("demo/echo")).await,
        401,
        "authentication_error",
    )
    .await;
}

#[tokio::test]
async fn count_tokens_estimates_the_prompt_with_its_tools() {
    let app = spawn_app().await;
    let user = app.register("msg-count").await;
    let count = |body: Value| {
        let app = &app;
        let user = &user;
        async move {
            app.post("/v1/messages/count_tokens", Some(&user.token), &body)
                .await
        }
    };
    let plain = json!({"model": "claude-sonnet-4-5", "system": "Be brief.",
                       "messages": [{"role": "user", "content": "Hello, world"}]});
    let resp = count(plain.clone()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let base = body["input_tokens"].as_u64().unwrap();
    assert!(base > 0);
    let mut with_tools = plain.clone();
    with_tools["tools"] = weather_tools();
    let more: Value = count(with_tools).await.json().await.unwrap();
    assert!(more["input_tokens"].as_u64().unwrap() > base, "{more}");
    let mut bad = plain;
    bad["top_k"] = json!(3);
    assert_anthropic_error(count(bad).await, 400, "invalid_request_error").await;
}

#[tokio::test]
async fn a_claude_code_turn_is_accepted_and_relayed_without_its_hints() {
    let app = spawn_app().await;
    let user = app.register("msg-claude-code").await;
    let body = json!({
        "model": "mock-claude-code", "max_tokens": 32000, "stream": true, "temperature": 1,
        "system": [{"type": "text", "text": "You are Claude Code."},
                   {"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "list files", "cache_control": {"type": "ephemeral"}}]}],
        "tools": [{"name": "Bash", "description": "Runs a command", "cache_control": {"type": "ephemeral"},
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "user_abc_account__session_123"}
    });
    let reply = fold(&stream(&app, &user, &body).await);
    assert_eq!(reply["content"][0]["type"], "thinking", "{reply}");
    assert_eq!(reply["stop_reason"], "tool_use", "{reply}");
    let sent = mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.body["model"] == "mock-claude-code")
        .expect("relayed to Anthropic");
    assert_eq!(sent.body["system"], "You are Claude Code.\n\nBe careful.");
    assert_eq!(
        sent.body["metadata"],
        json!({"user_id": "user_abc_account__session_123"})
    );
    assert_eq!(
        sent.body["thinking"],
        json!({"type": "enabled", "budget_tokens": 31999})
    );
    assert!(
        sent.body.get("context_management").is_none() && sent.body.get("cache_control").is_none()
    );
    assert!(
        !sent.body.to_string().contains("cache_control"),
        "{}",
        sent.body
    );
}

#[tokio::test]
async fn a_message_is_metered_like_a_chat_completion() {
    let app = spawn_app().await;
    let user = app.register("msg-usage").await;
    message(&app, &user, &hello("openai/mock")).await;
    let mut rows = Value::Null;
    for _ in 0..50 {
        let resp = app
            .get(
                &format!("/api/orgs/{}/usage?group_by=model", user.personal_org),
                Some(&user.token),
            )
            .await;
        rows = resp.json().await.unwrap();
        if rows["items"].as_array().is_some_and(|i| !i.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "openai/mock")
        .unwrap_or_else(|| panic!("no usage row: {rows}"));
    assert_eq!(
        (
            row["prompt_tokens"].as_u64(),
            row["completion_tokens"].as_u64()
        ),
        (Some(2), Some(3)),
        "{row}"
    );
}

#[tokio::test]
async fn a_refusal_ends_with_the_refusal_stop_reason_on_every_provider() {
    let app = spawn_app().await;
    let user = app.register("msg-refusal").await;
    for model in [
        "openai/mock-refuse",
        "anthropic/mock-refuse",
        "gemini/mock-refuse",
    ] {
        let whole = message(&app, &user, &hello(model)).await;
        let streamed = fold(&stream(&app, &user, &hello(model)).await);
        for m in [&whole, &streamed] {
            assert_eq!(m["stop_reason"], "refusal", "{model}: {m}");
            assert_eq!(text_of(m), "", "{model}: the refusal is not reply text");
        }
        let details = &whole["stop_details"];
        assert_eq!(
            (&details["type"], &details["category"]),
            (&json!("refusal"), &Value::Null),
            "{model}"
        );
        // OpenAI and Anthropic say why; a Gemini reply blocked for safety does not.
        assert_eq!(
            details["explanation"].is_string(),
            !model.starts_with("gemini"),
            "{model}: {details}"
        );
    }
}
