//! `/v1/responses` across providers: the Responses API, stateless, for `demo/echo` and the
//! mock's OpenAI, Anthropic and Gemini models — text, streams in OpenAI's event order, a
//! function-call round trip, parallel calls, images and files, structured output, reasoning
//! that continues intact, refusals and cut replies, and errors naming the client's parameter.

use std::time::Duration;

use chatgate_mock::thinking_signature;
use serde_json::{json, Value};

use crate::helpers::{mock, parse_sse, spawn_app, TestApp, User};

const PROVIDERS: [&str; 3] = ["openai", "anthropic", "gemini"];
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// `demo/echo` and each provider's mock model, with `directives` in the mock's name.
fn models(directives: &str) -> Vec<String> {
    let mut out = vec!["demo/echo".to_owned()];
    out.extend(PROVIDERS.iter().map(|p| format!("{p}/mock{directives}")));
    out
}

async fn create(app: &TestApp, user: &User, body: &Value) -> reqwest::Response {
    app.post("/v1/responses", Some(&user.token), body).await
}

/// A response object, asserting a 200.
async fn respond(app: &TestApp, user: &User, body: &Value) -> Value {
    let resp = create(app, user, body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{body}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A streamed response's events `(type, data)`, asserting a 200 event stream whose events are
/// numbered 0, 1, 2… and typed as their `event:` line says.
async fn stream(app: &TestApp, user: &User, body: &Value) -> Vec<(String, Value)> {
    let mut body = body.clone();
    body["stream"] = true.into();
    let resp = create(app, user, &body).await;
    let status = resp.status();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{body}: {text}");
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let events: Vec<(String, Value)> = parse_sse(&text)
        .into_iter()
        .map(|(_, event, data)| (event, data))
        .collect();
    for (n, (event, data)) in events.iter().enumerate() {
        assert_eq!(&data["type"], event, "{text}");
        assert_eq!(data["sequence_number"], n, "{text}");
    }
    events
}

/// The final response of a stream (`response.completed`, `.incomplete` or `.failed`), after
/// checking that items come one at a time: every event between an item's `added` and `done`
/// is about that item, and the final output is what the `done` events said.
fn final_response(events: &[(String, Value)]) -> Value {
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds[..2],
        ["response.created", "response.in_progress"],
        "{kinds:?}"
    );
    let mut done = Vec::new();
    let mut open: Option<&Value> = None;
    for (kind, e) in &events[2..] {
        match kind.as_str() {
            "response.output_item.added" => {
                assert!(open.is_none(), "items interleave: {kinds:?}");
                assert_eq!(e["output_index"], done.len());
                open = Some(&e["item"]["id"]);
            }
            "response.output_item.done" => {
                assert_eq!(Some(&e["item"]["id"]), open.take(), "{kinds:?}");
                done.push(e["item"].clone());
            }
            "response.completed" | "response.incomplete" => {
                assert_eq!(e["response"]["output"], Value::Array(done), "{kinds:?}");
                return e["response"].clone();
            }
            "response.failed" => return e["response"].clone(),
            "error" => {}
            _ => assert_eq!(Some(&e["item_id"]), open, "{kind} outside its item"),
        }
    }
    panic!("no final event: {kinds:?}");
}

/// The event types, consecutive deltas of one kind counted once.
fn shape(events: &[(String, Value)]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for (kind, _) in events {
        if kind.ends_with(".delta") && out.last() == Some(&kind.as_str()) {
            continue;
        }
        out.push(kind);
    }
    out
}

/// The text of a response's messages.
fn text_of(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|p| p["text"].as_str())
        .collect()
}

fn items<'a>(response: &'a Value, kind: &str) -> Vec<&'a Value> {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == kind)
        .collect()
}

/// Asserts an error in OpenAI's shape; returns its `error` object.
async fn openai_error(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let body: Value = resp.json().await.unwrap();
    for field in ["message", "type", "param", "code"] {
        assert!(
            body["error"].get(field).is_some(),
            "{field} missing in {body}"
        );
    }
    body["error"].clone()
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather of a city", "strict": null,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[tokio::test]
async fn a_text_input_gets_a_response_object_from_every_model() {
    let app = spawn_app().await;
    let user = app.register("resp-text").await;
    for model in models("") {
        let body = json!({"model": model, "input": "hello there", "instructions": "Be brief.",
                          "metadata": {"trace": "t1"}});
        let r = respond(&app, &user, &body).await;
        assert!(r["id"].as_str().unwrap().starts_with("resp_"), "{r}");
        assert_eq!(
            (&r["object"], &r["status"], &r["model"], &r["store"]),
            (
                &json!("response"),
                &json!("completed"),
                &json!(model),
                &json!(false)
            ),
            "{r}"
        );
        assert_eq!(
            (
                &r["instructions"],
                &r["metadata"],
                &r["previous_response_id"]
            ),
            (&json!("Be brief."), &json!({"trace": "t1"}), &Value::Null)
        );
        let messages = items(&r, "message");
        assert_eq!(messages.len(), 1, "{r}");
        assert_eq!(
            (&messages[0]["role"], &messages[0]["status"]),
            (&json!("assistant"), &json!("completed"))
        );
        let text = text_of(&r);
        let want = if model == "demo/echo" {
            "You said: hello there"
        } else {
            "Echo: hello there "
        };
        assert!(text.starts_with(want), "{model}: {text}");
        let usage = &r["usage"];
        assert!(usage["input_tokens"].as_u64().unwrap() > 0, "{usage}");
        assert!(usage["output_tokens"].as_u64().unwrap() > 0, "{usage}");
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
            )
        );
        assert_eq!(
            (
                &usage["input_tokens_details"]["cached_tokens"],
                &usage["output_tokens_details"]["reasoning_tokens"]
            ),
            (&json!(0), &json!(0))
        );
    }
}

#[tokio::test]
async fn a_streamed_response_sends_openais_events_in_order_on_every_model() {
    let app = spawn_app().await;
    let user = app.register("resp-stream").await;
    for model in models("") {
        let body = json!({"model": model, "input": "hello there"});
        let events = stream(&app, &user, &body).await;
        assert_eq!(
            shape(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ],
            "{model}"
        );
        let deltas: Vec<&str> = events
            .iter()
            .filter(|(k, _)| k == "response.output_text.delta")
            .map(|(_, e)| e["delta"].as_str().unwrap())
            .collect();
        assert!(
            deltas.len() >= 3,
            "{model}: relayed piece by piece, not buffered"
        );
        let done = final_response(&events);
        assert_eq!(deltas.concat(), text_of(&done), "{model}");
        let whole = respond(&app, &user, &body).await;
        assert_eq!(
            text_of(&whole),
            text_of(&done),
            "{model}: streamed or not, the same reply"
        );
        assert_eq!(
            done["usage"]["output_tokens"], whole["usage"]["output_tokens"],
            "{model}"
        );
        assert_eq!(events[0].1["response"]["status"], "in_progress");
        assert_eq!(events[0].1["response"]["output"], json!([]));
    }
}

#[tokio::test]
async fn a_function_call_round_trip_works_on_every_model_streamed_or_not() {
    let app = spawn_app().await;
    let user = app.register("resp-tools").await;
    let question = json!({"role": "user", "content": "What is the weather in Paris?"});
    for model in models("") {
        for streamed in [false, true] {
            let body = json!({"model": model, "input": [question], "tools": weather_tool()});
            let first = if streamed {
                final_response(&stream(&app, &user, &body).await)
            } else {
                respond(&app, &user, &body).await
            };
            let calls = items(&first, "function_call");
            assert_eq!(calls.len(), 1, "{model}: {first}");
            let call = calls[0];
            assert_eq!(call["name"], "get_weather");
            assert_eq!(call["status"], "completed");
            assert!(call["id"].as_str().unwrap().starts_with("fc_"), "{call}");
            let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert!(args["city"].is_string(), "{model}: {args}");
            // The next turn: everything so far, the call's output appended.
            let mut input = vec![question.clone()];
            input.extend(first["output"].as_array().unwrap().iter().cloned());
            input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18C and sunny"}));
            let body = json!({"model": model, "input": input, "tools": weather_tool()});
            let second = if streamed {
                final_response(&stream(&app, &user, &body).await)
            } else {
                respond(&app, &user, &body).await
            };
            let text = text_of(&second);
            let want = if model == "demo/echo" {
                "Tool get_weather returned: 18C and sunny"
            } else {
                "Tool get_weather said: 18C and sunny"
            };
            assert!(
                text.starts_with(want),
                "{model} streamed={streamed}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn parallel_calls_are_separate_items_one_after_the_other() {
    let app = spawn_app().await;
    let user = app.register("resp-parallel").await;
    for model in PROVIDERS.map(|p| format!("{p}/mock-tools-3")) {
        let body =
            json!({"model": model, "input": "Weather in three cities?", "tools": weather_tool()});
        let whole = respond(&app, &user, &body).await;
        let streamed = final_response(&stream(&app, &user, &body).await);
        for r in [&whole, &streamed] {
            let calls = items(r, "function_call");
            let mut ids: Vec<&str> = calls
                .iter()
                .map(|c| c["call_id"].as_str().unwrap())
                .collect();
            assert_eq!(ids.len(), 3, "{model}: {r}");
            ids.dedup();
            assert_eq!(ids.len(), 3, "{model}: distinct call ids");
            assert!(
                calls.iter().all(|c| c["arguments"] == "{\"city\":\"x\"}"),
                "{model}: {r}"
            );
        }
    }
}

#[tokio::test]
async fn images_and_files_reach_every_provider() {
    let app = spawn_app().await;
    let user = app.register("resp-media").await;
    let pdf = "JVBERi0xLjQK";
    for model in models("-describe") {
        let body = json!({"model": model, "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "What are these?"},
            {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "auto"},
            {"type": "input_file", "filename": "a.pdf", "file_data": format!("data:application/pdf;base64,{pdf}")}
        ]}]});
        let text = text_of(&respond(&app, &user, &body).await);
        let want = if model == "demo/echo" {
            "You sent 1 image (image/png) and 1 document (application/pdf)."
        } else {
            "Saw 1 image (image/png, 70 bytes) and 1 document (application/pdf, 9 bytes)"
        };
        assert!(text.contains(want), "{model}: {text}");
    }
}

#[tokio::test]
async fn a_json_schema_text_format_answers_json_on_every_model() {
    let app = spawn_app().await;
    let user = app.register("resp-json").await;
    let format = json!({"type": "json_schema", "name": "weather", "strict": true,
        "schema": {"type": "object", "properties": {"summary": {"type": "string"}},
                   "required": ["summary"], "additionalProperties": false}});
    for model in models("") {
        let body =
            json!({"model": model, "input": "Weather in Paris?", "text": {"format": format}});
        let r = respond(&app, &user, &body).await;
        assert_eq!(r["text"]["format"], format, "the format is repeated");
        let answer: Value =
            serde_json::from_str(&text_of(&r)).unwrap_or_else(|e| panic!("{model}: {e}: {r}"));
        assert!(answer["summary"].is_string(), "{model}: {answer}");
    }
}

#[tokio::test]
async fn reasoning_comes_back_as_items_whose_signature_continues_the_turn() {
    let app = spawn_app().await;
    let user = app.register("resp-reasoning").await;
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    for model in ["anthropic/mock-reason", "gemini/mock-reason", "demo/echo"] {
        for streamed in [false, true] {
            let body = json!({"model": model, "input": [question], "tools": weather_tool(),
                              "reasoning": {"effort": "low", "summary": "auto"},
                              "include": ["reasoning.encrypted_content"]});
            let first = if streamed {
                final_response(&stream(&app, &user, &body).await)
            } else {
                respond(&app, &user, &body).await
            };
            assert_eq!(
                first["reasoning"],
                json!({"effort": "low", "summary": "auto"})
            );
            let reasoning = items(&first, "reasoning");
            assert!(!reasoning.is_empty(), "{model}: {first}");
            let summary = reasoning[0]["summary"][0]["text"]
                .as_str()
                .unwrap_or_default();
            assert!(summary.starts_with("Thinking about"), "{model}: {first}");
            let call = items(&first, "function_call")[0].clone();
            let signed = reasoning.iter().any(|r| {
                r["encrypted_content"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("chatgate:signature:"))
            }) || call["call_id"].as_str().unwrap().contains("__thought__");
            assert!(signed, "{model}: the signature travels back: {first}");
            if model.starts_with("anthropic") {
                let sig = thinking_signature(summary);
                assert_eq!(
                    reasoning[0]["encrypted_content"],
                    format!("chatgate:signature:anthropic:{sig}")
                );
            }
            let mut input = vec![question.clone()];
            input.extend(first["output"].as_array().unwrap().iter().cloned());
            input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}));
            let body = json!({"model": model, "input": input, "tools": weather_tool(),
                              "reasoning": {"effort": "low", "summary": "auto"}});
            let second = respond(&app, &user, &body).await;
            assert!(text_of(&second).contains("18C"), "{model}: {second}");
            if model.starts_with("anthropic") {
                // Anthropic checks the signature against the text: altered, it is refused.
                let mut altered = input.clone();
                altered[1]["summary"][0]["text"] = "Something else".into();
                let body = json!({"model": model, "input": altered, "tools": weather_tool(),
                                  "reasoning": {"effort": "low"}});
                let error = openai_error(create(&app, &user, &body).await, 400).await;
                assert!(
                    error["message"].as_str().unwrap().contains("signature"),
                    "{error}"
                );
            }
        }
    }
    // OpenAI counts its reasoning; Chat Completions returns no text of it.
    let r = respond(
        &app,
        &user,
        &json!({"model": "openai/mock", "input": "Think", "reasoning": {"effort": "low"}}),
    )
    .await;
    assert!(
        r["usage"]["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0,
        "{r}"
    );
    assert!(items(&r, "reasoning").is_empty());
}

#[tokio::test]
async fn a_gemini_thought_signature_on_a_call_rides_in_its_call_id_and_goes_back_upstream() {
    let app = spawn_app().await;
    let user = app.register("resp-gemini-sig").await;
    let model = "gemini/mock-reason-sigcheck";
    let question = json!({"role": "user", "content": "Weather in Rome?"});
    let body = json!({"model": model, "input": [question], "tools": weather_tool(), "reasoning": {"effort": "low"}});
    let first = respond(&app, &user, &body).await;
    let call = items(&first, "function_call")[0].clone();
    let (_, sig) = call["call_id"]
        .as_str()
        .unwrap()
        .split_once("__thought__")
        .expect("a signed call id");
    let mut input = vec![question];
    input.extend(first["output"].as_array().unwrap().iter().cloned());
    input
        .push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "20C"}));
    respond(
        &app,
        &user,
        &json!({"model": model, "input": input, "tools": weather_tool()}),
    )
    .await;
    let sent = mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.contains(model.trim_start_matches("gemini/")))
        .unwrap();
    let parts = &sent.body["contents"][1]["parts"];
    let signed = parts
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p.get("functionCall").is_some())
        .unwrap();
    // Handed out tagged with its provider, it goes upstream as Gemini issued it.
    assert_eq!(
        signed["thoughtSignature"].as_str(),
        sig.strip_prefix("gemini:"),
        "{parts}"
    );
}

#[tokio::test]
async fn a_refusal_and_a_reply_cut_short_are_rendered_as_openai_does() {
    let app = spawn_app().await;
    let user = app.register("resp-refusal").await;
    let r = respond(
        &app,
        &user,
        &json!({"model": "openai/mock-refuse", "input": "Do harm"}),
    )
    .await;
    let content = &items(&r, "message")[0]["content"][0];
    assert_eq!(content["type"], "refusal", "{r}");
    assert!(
        content["refusal"]
            .as_str()
            .unwrap()
            .starts_with("I'm sorry"),
        "{r}"
    );
    let events = stream(
        &app,
        &user,
        &json!({"model": "openai/mock-refuse", "input": "Do harm"}),
    )
    .await;
    assert!(shape(&events).contains(&"response.refusal.delta"));
    let contents = |r: &Value| -> Vec<Value> {
        items(r, "message")
            .iter()
            .map(|i| i["content"].clone())
            .collect()
    };
    assert_eq!(
        contents(&final_response(&events)),
        contents(&r),
        "streamed or not, the same refusal"
    );

    for model in models("") {
        let body =
            json!({"model": model, "input": "one two three four five six", "max_output_tokens": 2});
        let whole = respond(&app, &user, &body).await;
        assert_eq!(
            (
                &whole["status"],
                &whole["incomplete_details"],
                &whole["max_output_tokens"]
            ),
            (
                &json!("incomplete"),
                &json!({"reason": "max_output_tokens"}),
                &json!(2)
            ),
            "{model}: {whole}"
        );
        assert_eq!(
            items(&whole, "message")[0]["status"],
            "incomplete",
            "{model}"
        );
        let events = stream(&app, &user, &body).await;
        assert_eq!(events.last().unwrap().0, "response.incomplete", "{model}");
        assert_eq!(
            final_response(&events)["incomplete_details"]["reason"],
            "max_output_tokens"
        );
    }
}

#[tokio::test]
async fn a_provider_failing_mid_stream_ends_with_an_error_event_and_response_failed() {
    let app = spawn_app().await;
    let user = app.register("resp-cut").await;
    for provider in PROVIDERS {
        let body = json!({"model": format!("{provider}/mock-tokens-20-cut-3"), "input": "hi"});
        let events = stream(&app, &user, &body).await;
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds[kinds.len() - 2..],
            ["error", "response.failed"],
            "{provider}: {kinds:?}"
        );
        let failed = final_response(&events);
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"]["code"], "server_error", "{failed}");
        assert!(
            text_of(&failed).starts_with("tok0 "),
            "what came so far is kept: {failed}"
        );
    }
}

#[tokio::test]
async fn stateful_and_unsupported_parameters_are_refused_by_name_in_openai_shape() {
    let app = spawn_app().await;
    let user = app.register("resp-refused").await;
    for (body, param) in [
        (
            json!({"model": "demo/echo", "input": "hi", "previous_response_id": "resp_123"}),
            "previous_response_id",
        ),
        (
            json!({"model": "demo/echo", "input": "hi", "store": true}),
            "store",
        ),
        (
            json!({"model": "demo/echo", "input": "hi", "background": true}),
            "background",
        ),
        (
            json!({"model": "demo/echo", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "gemini/mock", "input": "hi", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "anthropic/mock", "input": [{"role": "user", "content": [
            {"type": "input_image", "file_id": "file-abc", "detail": "auto"}]}]}),
            "input[0].content[0].file_id",
        ),
        (
            json!({"model": "anthropic/mock", "input": [{"type": "reasoning", "id": "rs_1", "summary": [],
            "encrypted_content": "gAAAAABopaque"}, {"role": "user", "content": "hi"}]}),
            "input[0].encrypted_content",
        ),
        (
            json!({"model": "demo/echo", "input": "hi", "temprature": 1}),
            "temprature",
        ),
    ] {
        let error = openai_error(create(&app, &user, &body).await, 400).await;
        assert_eq!(
            (&error["param"], &error["type"], &error["code"]),
            (
                &json!(param),
                &json!("invalid_request_error"),
                &json!("validation_failed")
            ),
            "{error}"
        );
        assert!(
            error["message"].as_str().unwrap().contains(param),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_providers_refusal_names_the_clients_own_parameter() {
    let app = spawn_app().await;
    let user = app.register("resp-provider-param").await;
    let call = |args: &str| json!({"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": args});
    let output = json!({"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")}]});
    for (body, param) in [
        (
            json!({"model": "anthropic/mock", "input": "hi", "top_logprobs": 2}),
            "top_logprobs",
        ),
        (
            json!({"model": "anthropic/mock", "input": "hi", "include": ["message.output_text.logprobs"]}),
            "include",
        ),
        (
            json!({"model": "anthropic/mock", "input": "hi", "text": {"format": {"type": "json_object"}}}),
            "text.format",
        ),
        (
            json!({"model": "gemini/mock", "input": "hi", "tools": weather_tool(), "parallel_tool_calls": false}),
            "parallel_tool_calls",
        ),
        (
            json!({"model": "anthropic/mock", "input": [{"role": "user", "content": "hi"}, call("[1]")]}),
            "input[1].arguments",
        ),
        (
            json!({"model": "openai/mock", "input": [{"role": "user", "content": "hi"}, call("{}"), output]}),
            "input[2]",
        ),
        (
            json!({"model": "anthropic/mock", "input": "hi", "tools": weather_tool(), "reasoning": {"effort": "low"},
                "tool_choice": "required"}),
            "tool_choice",
        ),
    ] {
        let error = openai_error(create(&app, &user, &body).await, 400).await;
        assert_eq!(error["param"], param, "{body}: {error}");
        assert_eq!(error["code"], "validation_failed", "{error}");
    }
    // OpenAI takes no document by URL: chatgate fetches it, never from an internal address.
    let body = json!({"model": "openai/mock", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "Read this"},
        {"type": "input_file", "file_url": "https://127.0.0.1/report.pdf"}]}]});
    let error = openai_error(create(&app, &user, &body).await, 400).await;
    assert_eq!(error["param"], "input[0].content[1]", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("internal"),
        "{error}"
    );
    for stream in [false, true] {
        let body = json!({"model": "openai/status-404", "input": "hi", "stream": stream});
        let error = openai_error(create(&app, &user, &body).await, 404).await;
        assert_eq!(error["code"], "model_not_found", "{error}");
    }
}

/// The org's usage row for `model` once it counts `requests` requests (recorded after the reply).
async fn usage_of(app: &TestApp, user: &User, model: &str, requests: u64) -> Value {
    let path = format!("/api/orgs/{}/usage?group_by=model", user.personal_org);
    for _ in 0..100 {
        let page: Value = app
            .get(&path, Some(&user.token))
            .await
            .json()
            .await
            .unwrap();
        if let Some(row) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == model && r["requests"] == requests)
        {
            return row.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no usage row with {requests} request(s) for {model}");
}

#[tokio::test]
async fn responses_are_metered_and_need_an_api_key_with_the_chat_scope() {
    let app = spawn_app().await;
    let user = app.register("resp-meter").await;
    let model = "anthropic/mock-meter";
    let whole = respond(
        &app,
        &user,
        &json!({"model": model, "input": "count these words"}),
    )
    .await;
    let streamed = final_response(
        &stream(
            &app,
            &user,
            &json!({"model": model, "input": "count these words"}),
        )
        .await,
    );
    let row = usage_of(&app, &user, model, 2).await;
    let billed = |r: &Value| r["usage"]["total_tokens"].as_u64().unwrap();
    let recorded =
        row["prompt_tokens"].as_u64().unwrap() + row["completion_tokens"].as_u64().unwrap();
    assert_eq!(recorded, billed(&whole) + billed(&streamed), "{row}");

    for (scopes, status) in [(json!(["conversations"]), 403), (json!(["chat"]), 200)] {
        let created: Value = app
            .post(
                "/api/keys",
                Some(&user.token),
                &json!({"name": "k", "org_id": user.personal_org, "scopes": scopes}),
            )
            .await
            .json()
            .await
            .unwrap();
        let key = created["key"].as_str().unwrap();
        let resp = app
            .post(
                "/v1/responses",
                Some(key),
                &json!({"model": "demo/echo", "input": "hi"}),
            )
            .await;
        assert_eq!(resp.status().as_u16(), status, "{scopes}");
    }
}
