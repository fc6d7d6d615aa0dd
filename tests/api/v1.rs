//! `/v1/chat/completions` across providers: every feature of the request reaches the
//! pipeline for every model (the provider decides what it can do), refusals name their
//! parameter, and errors come in OpenAI's shape.

use chatgate::providers::{takes_url, Block, Media, ProviderKind};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, SseReader, TestApp, User};

const MODELS: [&str; 4] = ["demo/echo", "openai/mock", "anthropic/mock", "gemini/mock"];

async fn complete(app: &TestApp, user: &User, body: &Value) -> reqwest::Response {
    app.post("/v1/chat/completions", Some(&user.token), body)
        .await
}

/// Asserts an error in OpenAI's shape; returns its `error` object.
async fn assert_openai_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let body: Value = resp.json().await.unwrap();
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "{field} missing in {body}");
    }
    error
}

/// A whole agent loop's second request: tools, the call, its result, an image and a
/// structured-output format.
fn agent_turn(model: &str, stream: bool) -> Value {
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    json!({
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is the weather where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather",
            "schema": {"type": "object", "properties": {"summary": {"type": "string"}}}}}
    })
}

#[tokio::test]
async fn tools_tool_results_images_and_response_format_reach_every_provider() {
    let app = spawn_app().await;
    let user = app.register("v1-features").await;
    for model in MODELS {
        for stream in [false, true] {
            let resp = complete(&app, &user, &agent_turn(model, stream)).await;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            // Each provider decides for itself what it can do: a refusal names its parameter.
            match status {
                200 if stream => {
                    assert!(text.ends_with("data: [DONE]\n\n"), "{model}: {text}");
                }
                200 => {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(body["object"], "chat.completion", "{model}");
                    assert!(
                        body["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
                        "{model}"
                    );
                }
                400 => {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    assert!(body["error"]["param"].is_string(), "{model}: {body}");
                    assert!(
                        !body["error"]["message"]
                            .as_str()
                            .unwrap()
                            .contains("only supported for openai"),
                        "{model}: {body}"
                    );
                }
                _ => panic!("{model} stream={stream}: {status} {text}"),
            }
        }
    }
}

#[tokio::test]
async fn demo_echo_takes_every_feature_of_the_request() {
    let app = spawn_app().await;
    let user = app.register("v1-demo").await;
    let resp = complete(&app, &user, &agent_turn("demo/echo", false)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["model"], "demo/echo");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    let usage = &body["usage"];
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"], 0,
        "{usage}"
    );
    assert_eq!(
        usage["completion_tokens_details"]["reasoning_tokens"], 0,
        "{usage}"
    );
}

#[tokio::test]
async fn an_invalid_request_names_its_param_in_openai_shape() {
    let app = spawn_app().await;
    let user = app.register("v1-param").await;
    for (body, param) in [
        (
            json!({"model": "anthropic/mock", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hi"}, {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}]}]}),
            "messages[0].content[1].type",
        ),
        (
            json!({"model": "gemini/mock", "messages": [{"role": "user", "content": "hi"}],
                   "tools": [{"type": "web_search_preview"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": 1}),
            "presence_penalty",
        ),
        (
            json!({"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}], "temprature": 1}),
            "temprature",
        ),
    ] {
        let error =
            assert_openai_error(complete(&app, &user, &body).await, 400, "validation_failed").await;
        assert_eq!(error["param"], param, "{error}");
        assert_eq!(error["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn a_model_the_provider_does_not_know_is_a_404_model_not_found_in_both_shapes() {
    let app = spawn_app().await;
    let user = app.register("v1-404").await;
    for stream in [false, true] {
        let body = json!({"model": "openai/status-404", "stream": stream,
                          "messages": [{"role": "user", "content": "hi"}]});
        let error =
            assert_openai_error(complete(&app, &user, &body).await, 404, "model_not_found").await;
        assert_eq!(error["type"], "invalid_request_error");
        assert!(
            error["message"].as_str().unwrap().starts_with("openai"),
            "{error}"
        );
    }
    // The chat route: the same, as problem+json.
    let conv = app.conversation(&user, "gemini/status-404").await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "go"}))
        .await;
    assert_problem(resp, 404, "model_not_found").await;
}

#[tokio::test]
async fn a_validation_failure_on_the_chat_route_names_its_param() {
    let app = spawn_app().await;
    let user = app.register("chat-param").await;
    let conv = app.conversation(&user, "demo/echo").await;
    let resp = app
        .send_message(
            &user.token,
            &conv,
            &json!({"content": "go", "model": "nope/x"}),
        )
        .await;
    let body = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(body["param"], "model", "{body}");
}

#[tokio::test]
async fn a_remote_image_at_an_internal_address_is_never_fetched_for_a_provider_that_needs_its_bytes(
) {
    let app = spawn_app().await;
    let user = app.register("v1-media").await;
    let url = "http://127.0.0.1/x.png";
    let fetched_by_chatgate =
        !takes_url(ProviderKind::Gemini, &Block::Image(Media::Url(url.into())));
    for stream in [false, true] {
        let body = json!({"model": "gemini/mock", "stream": stream, "messages": [
            {"role": "system", "content": "Look."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": url}}]}]});
        let resp = complete(&app, &user, &body).await;
        if fetched_by_chatgate {
            let error = assert_openai_error(resp, 400, "validation_failed").await;
            assert_eq!(error["param"], "messages[1].content[1]", "{error}");
            assert!(
                error["message"].as_str().unwrap().contains("internal"),
                "{error}"
            );
        } else {
            // Gemini takes the URL itself: it is passed on, not fetched here.
            assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        }
    }
}

/// A reasoning turn of `model` (non-streaming): the assistant message, with its thinking
/// blocks, as an OpenAI client keeps it for the next request.
async fn reasoning_turn(app: &TestApp, user: &User, model: &str) -> Value {
    let resp = complete(
        app,
        user,
        &json!({"model": model, "reasoning_effort": "low", "max_tokens": 4000,
                "messages": [{"role": "user", "content": "Think it over"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200, "{model}");
    let body: Value = resp.json().await.unwrap();
    let message = body["choices"][0]["message"].clone();
    let blocks = message["thinking_blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        blocks
            .iter()
            .any(|b| b["signature"].as_str().is_some_and(|s| !s.is_empty())),
        "{model} signs its reasoning: {message}"
    );
    message
}

#[tokio::test]
async fn a_reasoning_signature_goes_back_to_its_own_provider_and_never_to_another() {
    let app = spawn_app().await;
    let user = app.register("v1-signatures").await;
    let next_turn = |model: &str, assistant: &Value| {
        json!({"model": model, "reasoning_effort": "low", "max_tokens": 4000, "messages": [
            {"role": "user", "content": "Think it over"},
            assistant,
            {"role": "user", "content": "And now?"}
        ]})
    };
    let claude = reasoning_turn(&app, &user, "anthropic/mock").await;
    let gemini = reasoning_turn(&app, &user, "gemini/mock").await;
    // Anthropic checks the signatures it gets back (the mock as the real API does): its own
    // must arrive intact, and Gemini's must not arrive at all.
    for (case, assistant) in [("its own", &claude), ("gemini's", &gemini)] {
        let resp = complete(&app, &user, &next_turn("anthropic/mock", assistant)).await;
        let status = resp.status();
        assert_eq!(
            status,
            200,
            "anthropic given {case} reasoning: {}",
            resp.text().await.unwrap()
        );
    }
    let resp = complete(&app, &user, &next_turn("gemini/mock", &claude)).await;
    assert_eq!(resp.status(), 200, "gemini given anthropic's reasoning");
}

/// A client that leaves a stream stops the provider's reply (the Worker notices when its next
/// frame is refused), and the key is billed what was streamed until then: before, the reply
/// ran to its end upstream, paid for by nobody's request.
#[tokio::test]
async fn a_stream_the_client_leaves_stops_upstream_and_is_billed_what_was_streamed() {
    let app = spawn_app().await;
    let user = app.register("v1-leave").await;
    let model = "openai/mock-tokens-100-delay-30";
    let resp = complete(
        &app,
        &user,
        &json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut reader = SseReader::new(resp);
    for _ in 0..3 {
        reader.next_event().await.expect("a frame");
    }
    drop(reader);
    let row = crate::chat::usage_of(&app, &user, &user.personal_org, model, 1).await;
    let completion = row["completion_tokens"].as_u64().unwrap();
    assert!(
        (3..60).contains(&completion),
        "billed {completion} of the 100 tokens: {row}"
    );
}
