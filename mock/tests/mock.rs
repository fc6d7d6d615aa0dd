//! The mock's contract, over real HTTP: each provider's shapes, the model-name
//! directives (run across all three providers), and request recording.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chatgate_mock::MockServer;
use futures::StreamExt;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
}

const PROVIDERS: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Gemini];

/// A chat request in provider-neutral terms; `turns` alternate user, assistant, user…
struct Chat<'a> {
    model: &'a str,
    system: Option<&'a str>,
    turns: &'a [&'a str],
    stream: bool,
}

impl<'a> Chat<'a> {
    fn new(model: &'a str) -> Self {
        Chat {
            model,
            system: None,
            turns: &["hello there"],
            stream: false,
        }
    }
    fn streaming(self) -> Self {
        Chat {
            stream: true,
            ..self
        }
    }
}

/// One parsed SSE event.
#[derive(Debug)]
struct Event {
    name: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

/// What a streamed reply delivered before it ended or was dropped.
struct Streamed {
    raw: String,
    events: Vec<Event>,
    /// The connection failed before the body ended.
    dropped: bool,
}

fn parse_sse(raw: &str) -> Vec<Event> {
    raw.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            Event {
                name: field("event: "),
                data: field("data: ").unwrap_or_default(),
            }
        })
        .collect()
}

impl Provider {
    fn request(
        self,
        server: &MockServer,
        key: Option<&str>,
        chat: &Chat,
    ) -> reqwest::RequestBuilder {
        let client = reqwest::Client::new();
        let role = |i: usize, assistant: &'static str| {
            if i.is_multiple_of(2) {
                "user"
            } else {
                assistant
            }
        };
        match self {
            Provider::OpenAi => {
                let mut messages: Vec<Value> = chat
                    .system
                    .map(|s| json!({"role": "system", "content": s}))
                    .into_iter()
                    .collect();
                messages.extend(
                    chat.turns
                        .iter()
                        .enumerate()
                        .map(|(i, t)| json!({"role": role(i, "assistant"), "content": t})),
                );
                let mut body =
                    json!({"model": chat.model, "messages": messages, "stream": chat.stream});
                if chat.stream {
                    body["stream_options"] = json!({"include_usage": true});
                }
                let request = client
                    .post(format!("{}/v1/chat/completions", server.base_url()))
                    .json(&body);
                match key {
                    Some(key) => request.bearer_auth(key),
                    None => request,
                }
            }
            Provider::Anthropic => {
                let messages: Vec<Value> = chat
                    .turns
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"role": role(i, "assistant"), "content": t}))
                    .collect();
                let mut body = json!({"model": chat.model, "max_tokens": 1024, "messages": messages, "stream": chat.stream});
                if let Some(system) = chat.system {
                    body["system"] = json!(system);
                }
                let request = client
                    .post(format!("{}/v1/messages", server.base_url()))
                    .header("anthropic-version", "2023-06-01")
                    .json(&body);
                match key {
                    Some(key) => request.header("x-api-key", key),
                    None => request,
                }
            }
            Provider::Gemini => {
                let contents: Vec<Value> = chat
                    .turns
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"role": role(i, "model"), "parts": [{"text": t}]}))
                    .collect();
                let mut body =
                    json!({"contents": contents, "generationConfig": {"temperature": 0.5}});
                if let Some(system) = chat.system {
                    body["systemInstruction"] = json!({"parts": [{"text": system}]});
                }
                let method = if chat.stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                };
                let request = client
                    .post(format!(
                        "{}/v1beta/models/{}:{method}",
                        server.base_url(),
                        chat.model
                    ))
                    .json(&body);
                match key {
                    Some(key) => request.header("x-goog-api-key", key),
                    None => request,
                }
            }
        }
    }

    /// The reply text of a non-streaming response.
    fn reply_text(self, body: &Value) -> String {
        let text = match self {
            Provider::OpenAi => &body["choices"][0]["message"]["content"],
            Provider::Anthropic => &body["content"][0]["text"],
            Provider::Gemini => &body["candidates"][0]["content"]["parts"][0]["text"],
        };
        text.as_str()
            .unwrap_or_else(|| panic!("{self:?}: no reply text in {body}"))
            .to_owned()
    }

    /// The concatenated text deltas of a stream.
    fn stream_text(self, events: &[Event]) -> String {
        let delta = |e: &Event| -> Option<String> {
            let v: Value = serde_json::from_str(&e.data).ok()?;
            let text = match self {
                Provider::OpenAi => &v["choices"][0]["delta"]["content"],
                Provider::Anthropic => &v["delta"]["text"],
                Provider::Gemini => &v["candidates"][0]["content"]["parts"][0]["text"],
            };
            text.as_str().map(str::to_owned)
        };
        events.iter().filter_map(delta).collect()
    }

    /// Whether the stream carried the provider's terminal event.
    fn stream_finished(self, streamed: &Streamed) -> bool {
        match self {
            Provider::OpenAi => streamed.events.last().is_some_and(|e| e.data == "[DONE]"),
            Provider::Anthropic => streamed
                .events
                .iter()
                .any(|e| e.name.as_deref() == Some("message_stop")),
            Provider::Gemini => streamed.raw.contains("finishReason"),
        }
    }

    /// The status name or error type that each provider's error shape carries.
    fn error_kind(self, body: &Value) -> String {
        let kind = match self {
            Provider::OpenAi => &body["error"]["type"],
            Provider::Anthropic => {
                assert_eq!(body["type"], "error", "{body}");
                &body["error"]["type"]
            }
            Provider::Gemini => &body["error"]["status"],
        };
        assert!(
            body["error"]["message"].is_string(),
            "{self:?}: error without message: {body}"
        );
        kind.as_str()
            .unwrap_or_else(|| panic!("{self:?}: malformed error {body}"))
            .to_owned()
    }
}

async fn send(provider: Provider, server: &MockServer, chat: &Chat<'_>) -> (u16, Value) {
    let response = provider
        .request(server, Some("sk-test"), chat)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn stream(provider: Provider, server: &MockServer, chat: &Chat<'_>) -> Streamed {
    let response = provider
        .request(server, Some("sk-test"), chat)
        .send()
        .await
        .unwrap();
    read_stream(provider, response).await
}

async fn read_stream(provider: Provider, response: reqwest::Response) -> Streamed {
    assert_eq!(response.status(), 200, "{provider:?}");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let (mut raw, mut dropped) = (String::new(), false);
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => raw.push_str(std::str::from_utf8(&bytes).unwrap()),
            Err(_) => {
                dropped = true;
                break;
            }
        }
    }
    Streamed {
        events: parse_sse(&raw),
        raw,
        dropped,
    }
}

#[tokio::test]
async fn openai_non_streaming_reply_is_a_chat_completion() {
    let server = MockServer::start().await.unwrap();
    let chat = Chat {
        system: Some("be brief"),
        ..Chat::new("gpt-4o-mini")
    };
    let (status, body) = send(Provider::OpenAi, &server, &chat).await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["choices"][0]["message"],
        json!({"role": "assistant", "content": "Echo: hello there ", "refusal": null})
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7})
    );
}

#[tokio::test]
async fn openai_stream_sends_role_then_content_then_finish_then_usage_then_done() {
    let server = MockServer::start().await.unwrap();
    let streamed = stream(
        Provider::OpenAi,
        &server,
        &Chat::new("mock-tokens-3").streaming(),
    )
    .await;
    let data: Vec<&str> = streamed.events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data.len(), 7, "{data:#?}");
    assert!(streamed.raw.starts_with("data: {") && streamed.raw.ends_with("data: [DONE]\n\n"));
    let chunks: Vec<Value> = streamed.events[..6].iter().map(Event::json).collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let contents: Vec<&Value> = chunks[1..4]
        .iter()
        .map(|c| &c["choices"][0]["delta"]["content"])
        .collect();
    assert_eq!(contents, ["tok0 ", "tok1 ", "tok2 "]);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert!(chunks[..5].iter().all(|c| c["usage"].is_null()));
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(
        chunks[5]["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})
    );
    assert_eq!(data[6], "[DONE]");
}

#[tokio::test]
async fn openai_stream_without_include_usage_sends_no_usage_chunk() {
    let server = MockServer::start().await.unwrap();
    let body = json!({"model": "mock-tokens-2", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .bearer_auth("sk-test")
        .json(&body)
        .send()
        .await
        .unwrap();
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(
        events.len(),
        5,
        "role, 2 tokens, finish, [DONE]: {events:#?}"
    );
    assert!(events[..4].iter().all(|e| e.json().get("usage").is_none()));
}

#[tokio::test]
async fn anthropic_non_streaming_reply_is_a_message() {
    let server = MockServer::start().await.unwrap();
    let chat = Chat {
        system: Some("be brief"),
        ..Chat::new("claude-3-5-haiku-latest")
    };
    let (status, body) = send(Provider::Anthropic, &server, &chat).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&body["type"], &body["role"], &body["model"]),
        (
            &json!("message"),
            &json!("assistant"),
            &json!("claude-3-5-haiku-latest")
        )
    );
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Echo: hello there "}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 4, "output_tokens": 3})
    );
}

#[tokio::test]
async fn anthropic_stream_follows_the_real_event_sequence() {
    let server = MockServer::start().await.unwrap();
    let streamed = stream(
        Provider::Anthropic,
        &server,
        &Chat::new("mock-tokens-2").streaming(),
    )
    .await;
    let names: Vec<&str> = streamed
        .events
        .iter()
        .map(|e| e.name.as_deref().unwrap())
        .collect();
    let expected = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ];
    assert_eq!(names, expected);
    for event in &streamed.events {
        assert_eq!(
            event.json()["type"],
            event.name.as_deref().unwrap(),
            "data.type matches the event name"
        );
    }
    let start = streamed.events[0].json();
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": 2, "output_tokens": 1})
    );
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(
        streamed.events[3].json()["delta"],
        json!({"type": "text_delta", "text": "tok0 "})
    );
    let delta = streamed.events[6].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn anthropic_requires_max_tokens_and_the_version_header() {
    let server = MockServer::start().await.unwrap();
    let url = format!("{}/v1/messages", server.base_url());
    let client = reqwest::Client::new();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let response = client
        .post(&url)
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"],
        json!({"type": "invalid_request_error", "message": "max_tokens: Field required"})
    );

    let body =
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let response = client
        .post(&url)
        .header("x-api-key", "k")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn gemini_generate_content_returns_a_candidate_with_usage() {
    let server = MockServer::start().await.unwrap();
    let chat = Chat {
        system: Some("be brief"),
        ..Chat::new("gemini-2.0-flash")
    };
    let (status, body) = send(Provider::Gemini, &server, &chat).await;
    assert_eq!(status, 200);
    let candidate = &body["candidates"][0];
    assert_eq!(
        candidate["content"],
        json!({"role": "model", "parts": [{"text": "Echo: hello there "}]})
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(
        body["usageMetadata"],
        json!({"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7})
    );
}

#[tokio::test]
async fn gemini_stream_frames_carry_cumulative_usage_and_end_with_stop() {
    let server = MockServer::start().await.unwrap();
    let streamed = stream(
        Provider::Gemini,
        &server,
        &Chat::new("mock-tokens-2").streaming(),
    )
    .await;
    assert!(
        streamed.raw.ends_with("\r\n\r\n"),
        "Gemini ends events with CRLF"
    );
    let frames: Vec<Value> = streamed.events.iter().map(Event::json).collect();
    assert_eq!(frames.len(), 3);
    let counts: Vec<&Value> = frames
        .iter()
        .map(|f| &f["usageMetadata"]["candidatesTokenCount"])
        .collect();
    assert_eq!(counts, [1, 2, 2]);
    assert!(frames[..2]
        .iter()
        .all(|f| f["candidates"][0].get("finishReason").is_none()));
    assert_eq!(frames[2]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        frames[2]["usageMetadata"],
        json!({"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4})
    );
    assert_eq!(Provider::Gemini.stream_text(&streamed.events), "tok0 tok1 ");
}

#[tokio::test]
async fn every_provider_rejects_a_missing_or_bad_key_with_a_401() {
    let server = MockServer::start().await.unwrap();
    for provider in PROVIDERS {
        for key in [None, Some("sk-bad")] {
            let response = provider
                .request(&server, key, &Chat::new("m"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{provider:?} with key {key:?}");
            let body: Value = response.json().await.unwrap();
            let kind = provider.error_kind(&body);
            let expected = [
                "invalid_request_error",
                "authentication_error",
                "UNAUTHENTICATED",
            ];
            assert!(expected.contains(&kind.as_str()), "{provider:?}: {body}");
        }
    }
}

#[tokio::test]
async fn every_provider_answers_malformed_json_with_its_own_400() {
    let server = MockServer::start().await.unwrap();
    for (provider, kind) in PROVIDERS.into_iter().zip([
        "invalid_request_error",
        "invalid_request_error",
        "INVALID_ARGUMENT",
    ]) {
        let response = provider
            .request(&server, Some("k"), &Chat::new("m"))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{provider:?}");
        assert_eq!(
            provider.error_kind(&response.json().await.unwrap()),
            kind,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn tokens_directive_replies_with_numbered_tokens_streamed_or_not() {
    let server = MockServer::start().await.unwrap();
    for provider in PROVIDERS {
        let (_, body) = send(provider, &server, &Chat::new("mock-tokens-4")).await;
        assert_eq!(
            provider.reply_text(&body),
            "tok0 tok1 tok2 tok3 ",
            "{provider:?}"
        );
        let streamed = stream(provider, &server, &Chat::new("mock-tokens-4").streaming()).await;
        assert_eq!(
            provider.stream_text(&streamed.events),
            "tok0 tok1 tok2 tok3 ",
            "{provider:?}"
        );
        assert!(
            provider.stream_finished(&streamed) && !streamed.dropped,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn cut_directive_drops_the_stream_after_k_tokens_without_a_terminal_event() {
    let server = MockServer::start().await.unwrap();
    for provider in PROVIDERS {
        let streamed = stream(
            provider,
            &server,
            &Chat::new("mock-tokens-10-cut-3").streaming(),
        )
        .await;
        assert!(streamed.dropped, "{provider:?}: the connection should fail");
        assert_eq!(
            provider.stream_text(&streamed.events),
            "tok0 tok1 tok2 ",
            "{provider:?}"
        );
        assert!(
            !provider.stream_finished(&streamed),
            "{provider:?}: no terminal event"
        );
    }
}

#[tokio::test]
async fn cut_directive_turns_a_non_streaming_reply_into_a_500() {
    let server = MockServer::start().await.unwrap();
    for (provider, kind) in PROVIDERS
        .into_iter()
        .zip(["server_error", "api_error", "INTERNAL"])
    {
        let (status, body) = send(provider, &server, &Chat::new("mock-cut-1")).await;
        assert_eq!(status, 500, "{provider:?}");
        assert_eq!(provider.error_kind(&body), kind, "{provider:?}");
    }
}

#[tokio::test]
async fn status_directive_answers_in_the_provider_shape_and_429_carries_retry_after() {
    let server = MockServer::start().await.unwrap();
    let cases = [
        (Provider::OpenAi, "status-429", 429, "requests"),
        (Provider::Anthropic, "status-429", 429, "rate_limit_error"),
        (Provider::Gemini, "status-429", 429, "RESOURCE_EXHAUSTED"),
        (Provider::OpenAi, "mock-status-500", 500, "server_error"),
        (
            Provider::Anthropic,
            "mock-status-529",
            529,
            "overloaded_error",
        ),
        (Provider::Gemini, "mock-status-404", 404, "NOT_FOUND"),
    ];
    for (provider, model, status, kind) in cases {
        let response = provider
            .request(&server, Some("k"), &Chat::new(model).streaming())
            .send()
            .await
            .unwrap();
        let case = format!("{provider:?} {model}");
        assert_eq!(response.status(), status, "{case}");
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            retry_after.as_deref(),
            (status == 429).then_some("7"),
            "{case}"
        );
        assert_eq!(
            provider.error_kind(&response.json().await.unwrap()),
            kind,
            "{case}"
        );
    }
}

#[tokio::test]
async fn echo_system_replies_with_the_system_prompt_as_received() {
    let server = MockServer::start().await.unwrap();
    let system = "You are terse.\nAnswer in French.";
    for provider in PROVIDERS {
        let chat = Chat {
            system: Some(system),
            ..Chat::new("mock-echo-system")
        };
        let (_, body) = send(provider, &server, &chat).await;
        assert_eq!(provider.reply_text(&body), system, "{provider:?}");
        let streamed = stream(provider, &server, &chat.streaming()).await;
        assert_eq!(
            provider.stream_text(&streamed.events),
            system,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn count_replies_with_the_number_of_messages_received() {
    let server = MockServer::start().await.unwrap();
    for provider in PROVIDERS {
        let chat = Chat {
            system: Some("sys"),
            turns: &["one", "two", "three"],
            ..Chat::new("mock-count")
        };
        let (_, body) = send(provider, &server, &chat).await;
        assert_eq!(
            provider.reply_text(&body),
            "3 messages",
            "{provider:?}: system messages are not counted"
        );
    }
}

#[tokio::test]
async fn the_default_reply_echoes_the_last_user_message_and_counts_prompt_words() {
    let server = MockServer::start().await.unwrap();
    let chat = Chat {
        system: Some("a b"),
        turns: &["first question", "an answer", "second  question\nhere"],
        ..Chat::new("gpt-4o")
    };
    let (_, body) = send(Provider::OpenAi, &server, &chat).await;
    assert_eq!(
        Provider::OpenAi.reply_text(&body),
        "Echo: second question here "
    );
    assert_eq!(body["usage"]["prompt_tokens"], 9);
    assert_eq!(body["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn max_tokens_truncates_the_reply_with_the_length_finish_reason() {
    let server = MockServer::start().await.unwrap();
    let (_, body) = send(Provider::OpenAi, &server, &Chat::new("mock-tokens-2000")).await;
    assert_eq!(
        body["usage"]["completion_tokens"], 2000,
        "no limit was sent"
    );

    let request = json!({"model": "mock-tokens-10", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]});
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", server.base_url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&request)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "tok0 tok1 tok2 ");
    assert_eq!(body["stop_reason"], "max_tokens");
}

#[tokio::test]
async fn delay_spaces_the_tokens_out_as_they_are_written() {
    let server = MockServer::start().await.unwrap();
    let started = Instant::now();
    let response = Provider::OpenAi
        .request(
            &server,
            Some("k"),
            &Chat::new("mock-tokens-4-delay-150").streaming(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "headers come at once"
    );
    let mut body = response.bytes_stream();
    let mut arrivals = Vec::new();
    while let Some(chunk) = body.next().await {
        if String::from_utf8_lossy(&chunk.unwrap()).contains(r#""content":"tok"#) {
            arrivals.push(started.elapsed());
        }
    }
    assert_eq!(
        arrivals.len(),
        4,
        "each token arrives in its own read: {arrivals:?}"
    );
    assert!(arrivals[0] >= Duration::from_millis(150), "{arrivals:?}");
    assert!(
        arrivals[3] - arrivals[0] >= Duration::from_millis(400),
        "{arrivals:?}"
    );
}

#[tokio::test]
async fn ttfb_delays_the_response_headers() {
    let server = MockServer::start().await.unwrap();
    for provider in PROVIDERS {
        let started = Instant::now();
        let response = provider
            .request(&server, Some("k"), &Chat::new("mock-ttfb-200").streaming())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn every_request_is_recorded_in_order_and_readable_over_http() {
    let server = MockServer::start().await.unwrap();
    let chat = Chat {
        system: Some("sys"),
        ..Chat::new("m")
    };
    for provider in PROVIDERS {
        send(provider, &server, &chat).await;
    }
    provider_request_without_key(&server).await;

    let recorded = server.requests();
    let paths: Vec<&str> = recorded.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1beta/models/m:generateContent",
            "/v1/chat/completions"
        ]
    );
    assert!(recorded.iter().all(|r| r.method == "POST"));
    assert_eq!(recorded[0].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded[1].header("x-api-key"), Some("sk-test"));
    assert_eq!(recorded[2].header("x-goog-api-key"), Some("sk-test"));
    assert_eq!(recorded[1].body["system"], "sys");
    assert_eq!(
        recorded[3].body,
        Value::Null,
        "a body that is not JSON is recorded as null"
    );

    let client = reqwest::Client::new();
    let url = format!("{}/__mock/requests", server.base_url());
    let listed: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(4),
        "the inspection endpoint does not record itself"
    );
    assert_eq!(listed[2]["path"], "/v1beta/models/m:generateContent");
    assert_eq!(listed[0]["body"]["messages"][0]["content"], "sys");
    assert!(listed[0]["headers"]
        .as_array()
        .unwrap()
        .contains(&json!(["authorization", "Bearer sk-test"])));

    assert_eq!(client.delete(&url).send().await.unwrap().status(), 204);
    assert!(server.requests().is_empty());
    send(Provider::OpenAi, &server, &chat).await;
    server.clear();
    assert!(server.requests().is_empty());
}

async fn provider_request_without_key(server: &MockServer) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .body("plain text")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// A mock shared between tests must keep serving after the runtime of the test
/// that started it is gone.
#[test]
fn the_server_outlives_the_runtime_that_started_it() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let server = runtime().block_on(MockServer::start()).unwrap();
    let (status, _) = runtime().block_on(send(Provider::Anthropic, &server, &Chat::new("m")));
    assert_eq!(status, 200);
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}", server.port())
    );
}

// ---------------------------------------------------------------------------
// Issue 17: tools, tool results, media, JSON output, thinking, usage details,
// refusals, logprobs and unknown models, in each provider's own wire format.
// ---------------------------------------------------------------------------

/// A 1×1 PNG: 70 bytes once decoded.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// `%PDF-1.4\n` — 9 bytes.
const PDF: &str = "JVBERi0xLjQK";

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"}
        },
        "required": ["city", "unit"]
    })
}

/// What [`weather_schema`] yields: required properties only, in key order.
fn weather_args() -> Value {
    json!({"city": "x", "unit": "celsius"})
}

fn time_schema() -> Value {
    json!({"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]})
}

/// A body with one user message, in the provider's shape; model and stream are
/// filled in by [`raw`].
fn ask(provider: Provider, text: &str) -> Value {
    match provider {
        Provider::OpenAi | Provider::Anthropic => {
            json!({"messages": [{"role": "user", "content": text}]})
        }
        Provider::Gemini => json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
    }
}

/// Declares `tools` (name, parameters) the provider's way.
fn with_tools(provider: Provider, mut body: Value, tools: &[(&str, Value)]) -> Value {
    body["tools"] = match provider {
        Provider::OpenAi => tools
            .iter()
            .map(|(name, schema)| json!({"type": "function", "function": {"name": name, "description": "d", "parameters": schema}}))
            .collect(),
        Provider::Anthropic => tools
            .iter()
            .map(|(name, schema)| json!({"name": name, "description": "d", "input_schema": schema}))
            .collect(),
        Provider::Gemini => {
            let declarations: Vec<Value> = tools
                .iter()
                .map(|(name, schema)| json!({"name": name, "description": "d", "parameters": schema}))
                .collect();
            json!([{"functionDeclarations": declarations}])
        }
    };
    body
}

/// A request whose body the test wrote, at the provider's URL with its auth;
/// `model` and `stream` go where the provider reads them, and an Anthropic
/// body without `max_tokens` gets 4096.
fn raw(
    provider: Provider,
    server: &MockServer,
    model: &str,
    mut body: Value,
    stream: bool,
) -> reqwest::RequestBuilder {
    let client = reqwest::Client::new();
    match provider {
        Provider::OpenAi => {
            body["model"] = json!(model);
            body["stream"] = json!(stream);
            client
                .post(format!("{}/v1/chat/completions", server.base_url()))
                .bearer_auth("sk-test")
                .json(&body)
        }
        Provider::Anthropic => {
            body["model"] = json!(model);
            body["stream"] = json!(stream);
            if body.get("max_tokens").is_none() {
                body["max_tokens"] = json!(4096);
            }
            client
                .post(format!("{}/v1/messages", server.base_url()))
                .header("x-api-key", "sk-test")
                .header("anthropic-version", "2023-06-01")
                .json(&body)
        }
        Provider::Gemini => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            client
                .post(format!(
                    "{}/v1beta/models/{model}:{method}",
                    server.base_url()
                ))
                .header("x-goog-api-key", "sk-test")
                .json(&body)
        }
    }
}

async fn send_raw(
    provider: Provider,
    server: &MockServer,
    model: &str,
    body: Value,
) -> (u16, Value) {
    let response = raw(provider, server, model, body, false)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn stream_raw(provider: Provider, server: &MockServer, model: &str, body: Value) -> Streamed {
    let response = raw(provider, server, model, body, true)
        .send()
        .await
        .unwrap();
    read_stream(provider, response).await
}

/// A tool call as a test sees it: id (empty when the provider sent none), name, arguments.
type SeenCall = (String, String, Value);

fn calls_of(provider: Provider, body: &Value) -> Vec<SeenCall> {
    match provider {
        Provider::OpenAi => body["choices"][0]["message"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let arguments = c["function"]["arguments"].as_str().unwrap();
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    serde_json::from_str(arguments).unwrap(),
                )
            })
            .collect(),
        Provider::Anthropic => body["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| {
                (
                    b["id"].as_str().unwrap().to_owned(),
                    b["name"].as_str().unwrap().to_owned(),
                    b["input"].clone(),
                )
            })
            .collect(),
        Provider::Gemini => body["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.get("functionCall"))
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or_default().to_owned(),
                    c["name"].as_str().unwrap().to_owned(),
                    c["args"].clone(),
                )
            })
            .collect(),
    }
}

/// The tool calls a stream carried, reassembled as a client would.
fn streamed_calls(provider: Provider, events: &[Event]) -> Vec<SeenCall> {
    let json: Vec<Value> = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(Event::json)
        .collect();
    match provider {
        Provider::OpenAi => {
            let mut calls: Vec<(String, String, String)> = Vec::new();
            for chunk in &json {
                for delta in chunk["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    let index = delta["index"].as_u64().unwrap() as usize;
                    if index == calls.len() {
                        calls.push(Default::default());
                    }
                    let call = &mut calls[index];
                    if let Some(id) = delta["id"].as_str() {
                        call.0 = id.to_owned();
                    }
                    if let Some(name) = delta["function"]["name"].as_str() {
                        call.1.push_str(name);
                    }
                    if let Some(arguments) = delta["function"]["arguments"].as_str() {
                        call.2.push_str(arguments);
                    }
                }
            }
            calls
                .into_iter()
                .map(|(id, name, args)| (id, name, serde_json::from_str(&args).unwrap()))
                .collect()
        }
        Provider::Anthropic => {
            let mut calls: Vec<(usize, String, String, String)> = Vec::new();
            for event in &json {
                if event["type"] == "content_block_start" && event["content_block"]["type"] == "tool_use" {
                    let block = &event["content_block"];
                    assert_eq!(block["input"], json!({}), "input streams as deltas");
                    calls.push((
                        event["index"].as_u64().unwrap() as usize,
                        block["id"].as_str().unwrap().to_owned(),
                        block["name"].as_str().unwrap().to_owned(),
                        String::new(),
                    ));
                }
                if event["delta"]["type"] == "input_json_delta" {
                    let index = event["index"].as_u64().unwrap() as usize;
                    let call = calls.iter_mut().find(|c| c.0 == index).unwrap();
                    call.3.push_str(event["delta"]["partial_json"].as_str().unwrap());
                }
            }
            calls
                .into_iter()
                .map(|(_, id, name, args)| (id, name, serde_json::from_str(&args).unwrap()))
                .collect()
        }
        Provider::Gemini => json
            .iter()
            .flat_map(|frame| {
                calls_of(
                    Provider::Gemini,
                    &json!({"candidates": [{"content": {"parts": frame["candidates"][0]["content"]["parts"].clone().as_array().cloned().unwrap_or_default()}}]}),
                )
            })
            .collect(),
    }
}

/// The reply text of a non-streaming response, all text parts joined (thoughts left out).
fn all_text(provider: Provider, body: &Value) -> String {
    match provider {
        Provider::OpenAi => body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Provider::Anthropic => body["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect(),
        Provider::Gemini => body["candidates"][0]["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["thought"] != true)
            .filter_map(|p| p["text"].as_str())
            .collect(),
    }
}

/// The concatenated text of a stream, every part of every frame (thoughts left out).
fn all_stream_text(provider: Provider, events: &[Event]) -> String {
    let frames = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(Event::json);
    match provider {
        Provider::Gemini => frames.map(|f| all_text(Provider::Gemini, &f)).collect(),
        _ => provider.stream_text(events),
    }
}

#[tokio::test]
async fn declared_tools_get_a_call_of_the_first_tool_with_arguments_from_its_schema() {
    let server = MockServer::start().await.unwrap();
    for provider in PROVIDERS {
        let body = with_tools(
            provider,
            ask(provider, "weather in Paris?"),
            &[
                ("get_weather", weather_schema()),
                ("get_time", time_schema()),
            ],
        );
        let (status, reply) = send_raw(provider, &server, "mock", body.clone()).await;
        assert_eq!(status, 200, "{provider:?}: {reply}");
        let calls = calls_of(provider, &reply);
        assert_eq!(calls.len(), 1, "{provider:?}: {reply}");
        assert_eq!(
            (calls[0].1.as_str(), &calls[0].2),
            ("get_weather", &weather_args()),
            "{provider:?}"
        );

        let streamed = stream_raw(provider, &server, "mock", body).await;
        assert!(
            provider.stream_finished(&streamed) && !streamed.dropped,
            "{provider:?}"
        );
        let calls = streamed_calls(provider, &streamed.events);
        assert_eq!(calls.len(), 1, "{provider:?}: {}", streamed.raw);
        assert_eq!(
            (calls[0].1.as_str(), &calls[0].2),
            ("get_weather", &weather_args()),
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn openai_tool_calls_have_call_ids_string_arguments_and_the_tool_calls_finish_reason() {
    let server = MockServer::start().await.unwrap();
    let body = with_tools(
        Provider::OpenAi,
        ask(Provider::OpenAi, "hi"),
        &[("get_weather", weather_schema())],
    );
    let (_, reply) = send_raw(Provider::OpenAi, &server, "gpt-4o", body.clone()).await;
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let message = &choice["message"];
    assert_eq!(
        (&message["role"], &message["content"], &message["refusal"]),
        (&json!("assistant"), &Value::Null, &Value::Null)
    );
    let call = &message["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
    assert_eq!(call["type"], "function");
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": r#"{"city":"x","unit":"celsius"}"#})
    );
    assert_eq!(
        reply["usage"]["completion_tokens"], 4,
        "30 argument characters in 8-character pieces"
    );

    let streamed = stream_raw(Provider::OpenAi, &server, "gpt-4o", body).await;
    let chunks: Vec<Value> = streamed
        .events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(Event::json)
        .collect();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(
        *deltas[0],
        json!({"role": "assistant", "content": null, "refusal": null})
    );
    let start = &deltas[1]["tool_calls"][0];
    assert_eq!(start["index"], 0);
    assert!(start["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(
        (&start["type"], &start["function"]),
        (
            &json!("function"),
            &json!({"name": "get_weather", "arguments": ""})
        )
    );
    let pieces: Vec<&str> = deltas[2..]
        .iter()
        .filter_map(|d| d["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        pieces,
        [r#"{"city":"#, r#""x","uni"#, r#"t":"cels"#, r#"ius"}"#]
    );
    assert!(deltas[2..6]
        .iter()
        .all(|d| d["tool_calls"][0].get("id").is_none() && d["tool_calls"][0]["index"] == 0));
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(streamed.events.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn anthropic_tool_use_streams_its_input_as_partial_json_deltas() {
    let server = MockServer::start().await.unwrap();
    let body = with_tools(
        Provider::Anthropic,
        ask(Provider::Anthropic, "hi"),
        &[("get_weather", weather_schema())],
    );
    let (_, reply) = send_raw(Provider::Anthropic, &server, "claude", body.clone()).await;
    assert_eq!(reply["stop_reason"], "tool_use");
    let block = &reply["content"][0];
    assert_eq!(reply["content"].as_array().unwrap().len(), 1);
    assert!(
        block["id"].as_str().unwrap().starts_with("toolu_"),
        "{block}"
    );
    assert_eq!(
        (&block["type"], &block["name"], &block["input"]),
        (&json!("tool_use"), &json!("get_weather"), &weather_args())
    );

    let streamed = stream_raw(Provider::Anthropic, &server, "claude", body).await;
    let names: Vec<&str> = streamed
        .events
        .iter()
        .map(|e| e.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let start = streamed.events[1].json();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["input"], json!({}));
    let partial: Vec<Value> = streamed.events[3..8]
        .iter()
        .map(|e| e.json()["delta"].clone())
        .collect();
    assert_eq!(
        partial[0],
        json!({"type": "input_json_delta", "partial_json": ""})
    );
    assert_eq!(
        partial[1],
        json!({"type": "input_json_delta", "partial_json": r#"{"city":"#})
    );
    let delta = streamed.events[9].json();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn gemini_function_calls_come_whole_with_object_args_and_no_id_unless_asked() {
    let server = MockServer::start().await.unwrap();
    let body = with_tools(
        Provider::Gemini,
        ask(Provider::Gemini, "hi"),
        &[("get_weather", weather_schema())],
    );
    let (_, reply) = send_raw(Provider::Gemini, &server, "gemini-2.5-flash", body.clone()).await;
    let candidate = &reply["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(
        candidate["content"],
        json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "x", "unit": "celsius"}}}]})
    );

    let streamed = stream_raw(Provider::Gemini, &server, "gemini-2.5-flash", body.clone()).await;
    let frames: Vec<Value> = streamed.events.iter().map(Event::json).collect();
    assert_eq!(
        frames.len(),
        2,
        "the call, then the finish: {}",
        streamed.raw
    );
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"city": "x", "unit": "celsius"}}}])
    );
    assert_eq!(frames[1]["candidates"][0]["finishReason"], "STOP");

    let (_, reply) = send_raw(Provider::Gemini, &server, "mock-ids", body).await;
    let id = reply["candidates"][0]["content"]["parts"][0]["functionCall"]["id"]
        .as_str()
        .unwrap();
    assert!(!id.is_empty());
}

#[tokio::test]
async fn tool_choice_forces_a_named_tool_or_forbids_calls_in_each_providers_terms() {
    let server = MockServer::start().await.unwrap();
    let tools = [
        ("get_weather", weather_schema()),
        ("get_time", time_schema()),
    ];
    let force: [(Provider, Value); 3] = [
        (
            Provider::OpenAi,
            json!({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}),
        ),
        (
            Provider::Anthropic,
            json!({"tool_choice": {"type": "tool", "name": "get_time"}}),
        ),
        (
            Provider::Gemini,
            json!({"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}}),
        ),
    ];
    let forbid: [(Provider, Value); 3] = [
        (Provider::OpenAi, json!({"tool_choice": "none"})),
        (
            Provider::Anthropic,
            json!({"tool_choice": {"type": "none"}}),
        ),
        (
            Provider::Gemini,
            json!({"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),
        ),
    ];
    for ((provider, forced), (_, forbidden)) in force.into_iter().zip(forbid) {
        let mut body = with_tools(provider, ask(provider, "what time?"), &tools);
        body.as_object_mut()
            .unwrap()
            .extend(forced.as_object().unwrap().clone());
        let (_, reply) = send_raw(provider, &server, "mock", body.clone()).await;
        let calls = calls_of(provider, &reply);
        assert_eq!(
            (calls[0].1.as_str(), &calls[0].2),
            ("get_time", &json!({"zone": "x"})),
            "{provider:?}"
        );
        let streamed = stream_raw(provider, &server, "mock", body).await;
        assert_eq!(
            streamed_calls(provider, &streamed.events)[0].1,
            "get_time",
            "{provider:?}"
        );

        let mut body = with_tools(provider, ask(provider, "what time?"), &tools);
        body.as_object_mut()
            .unwrap()
            .extend(forbidden.as_object().unwrap().clone());
        let (_, reply) = send_raw(provider, &server, "mock", body.clone()).await;
        assert!(
            calls_of(provider, &reply).is_empty(),
            "{provider:?}: {reply}"
        );
        assert_eq!(
            all_text(provider, &reply),
            "Echo: what time? ",
            "{provider:?}"
        );
        let streamed = stream_raw(provider, &server, "mock", body).await;
        assert_eq!(
            all_stream_text(provider, &streamed.events),
            "Echo: what time? ",
            "{provider:?}"
        );
    }

    // "required" / "any" / ANY without names: the first declared tool.
    for (provider, any) in [
        (Provider::OpenAi, json!({"tool_choice": "required"})),
        (Provider::Anthropic, json!({"tool_choice": {"type": "any"}})),
        (
            Provider::Gemini,
            json!({"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
        ),
    ] {
        let mut body = with_tools(provider, ask(provider, "x"), &tools);
        body.as_object_mut()
            .unwrap()
            .extend(any.as_object().unwrap().clone());
        let (_, reply) = send_raw(provider, &server, "mock", body).await;
        assert_eq!(
            calls_of(provider, &reply)[0].1,
            "get_weather",
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn tools_n_makes_parallel_calls_with_distinct_ids_unless_parallel_calls_are_disabled() {
    let server = MockServer::start().await.unwrap();
    let two = [
        ("get_weather", weather_schema()),
        ("get_time", time_schema()),
    ];
    for provider in PROVIDERS {
        let body = with_tools(provider, ask(provider, "both"), &two);
        let model = "mock-tools-2-ids";
        let (_, reply) = send_raw(provider, &server, model, body.clone()).await;
        let calls = calls_of(provider, &reply);
        let names: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_time"], "{provider:?}");
        assert_ne!(calls[0].0, calls[1].0, "{provider:?}: distinct ids");
        let streamed = stream_raw(provider, &server, model, body).await;
        let calls = streamed_calls(provider, &streamed.events);
        let names: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_time"], "{provider:?}");
        assert_eq!(calls[1].2, json!({"zone": "x"}), "{provider:?}");

        // One declared tool, called three times.
        let body = with_tools(
            provider,
            ask(provider, "thrice"),
            &[("get_time", time_schema())],
        );
        let (_, reply) = send_raw(provider, &server, "mock-tools-3", body).await;
        let calls = calls_of(provider, &reply);
        assert_eq!(calls.len(), 3, "{provider:?}");
        assert!(calls.iter().all(|c| c.1 == "get_time"), "{provider:?}");
    }

    for (provider, single) in [
        (Provider::OpenAi, json!({"parallel_tool_calls": false})),
        (
            Provider::Anthropic,
            json!({"tool_choice": {"type": "auto", "disable_parallel_tool_use": true}}),
        ),
    ] {
        let mut body = with_tools(provider, ask(provider, "both"), &two);
        body.as_object_mut()
            .unwrap()
            .extend(single.as_object().unwrap().clone());
        let (_, reply) = send_raw(provider, &server, "mock-tools-2", body).await;
        assert_eq!(calls_of(provider, &reply).len(), 1, "{provider:?}");
    }
}

/// A conversation in which the model called `get_weather` (id `call_1`) and the
/// tool answered `result`, in the provider's shape.
fn after_tool_call(provider: Provider, result: Value) -> Value {
    let body = match provider {
        Provider::OpenAi => json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": result},
        ]}),
        Provider::Anthropic => json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": result}]},
        ]}),
        Provider::Gemini => json!({"contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": result}}]},
        ]}),
    };
    with_tools(provider, body, &[("get_weather", weather_schema())])
}

#[tokio::test]
async fn a_tool_result_is_answered_with_the_tools_name_and_the_result_as_received() {
    let server = MockServer::start().await.unwrap();
    for (provider, result) in [
        (Provider::OpenAi, json!("sunny, 21°C")),
        (
            Provider::OpenAi,
            json!([{"type": "text", "text": "sunny, 21°C"}]),
        ),
        (Provider::Anthropic, json!("sunny, 21°C")),
        (
            Provider::Anthropic,
            json!([{"type": "text", "text": "sunny, 21°C"}]),
        ),
        (Provider::Gemini, json!({"output": "sunny, 21°C"})),
    ] {
        let body = after_tool_call(provider, result);
        let (_, reply) = send_raw(provider, &server, "mock", body.clone()).await;
        assert!(
            calls_of(provider, &reply).is_empty(),
            "{provider:?}: no new call after a result"
        );
        assert_eq!(
            all_text(provider, &reply),
            "Tool get_weather said: sunny, 21°C",
            "{provider:?}"
        );
        let streamed = stream_raw(provider, &server, "mock", body).await;
        assert_eq!(
            all_stream_text(provider, &streamed.events),
            "Tool get_weather said: sunny, 21°C",
            "{provider:?}"
        );
    }

    // Gemini's structured response arrives as compact JSON.
    let body = after_tool_call(Provider::Gemini, json!({"temp": 21, "sky": "clear"}));
    let (_, reply) = send_raw(Provider::Gemini, &server, "mock", body).await;
    assert_eq!(
        all_text(Provider::Gemini, &reply),
        r#"Tool get_weather said: {"sky":"clear","temp":21}"#
    );
}

#[tokio::test]
async fn tool_calls_and_results_that_do_not_pair_up_get_each_providers_400() {
    let server = MockServer::start().await.unwrap();
    let openai_error = |message: &str, param: Value| json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}});

    let mut wrong_id = after_tool_call(Provider::OpenAi, json!("42"));
    wrong_id["messages"][2]["tool_call_id"] = json!("call_elsewhere");
    let mut orphan = ask(Provider::OpenAi, "hi");
    orphan["messages"] = json!([{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_1", "content": "42"}]);
    let mut unanswered = after_tool_call(Provider::OpenAi, json!("42"));
    unanswered["messages"][2] = json!({"role": "user", "content": "well?"});
    let cases = [
        (wrong_id, openai_error("Invalid parameter: 'tool_call_id' of 'call_elsewhere' not found in 'tool_calls' of previous message.", Value::Null)),
        (orphan, openai_error("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", json!("messages.[1].role"))),
        (unanswered, openai_error("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_1", Value::Null)),
    ];
    for (body, expected) in cases {
        let (status, reply) = send_raw(Provider::OpenAi, &server, "mock", body).await;
        assert_eq!((status, reply), (400, expected));
    }

    let anthropic_error = |message: &str| json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}});
    let mut wrong_id = after_tool_call(Provider::Anthropic, json!("42"));
    wrong_id["messages"][2]["content"][0]["tool_use_id"] = json!("toolu_elsewhere");
    let mut unanswered = after_tool_call(Provider::Anthropic, json!("42"));
    unanswered["messages"][2] = json!({"role": "user", "content": "well?"});
    let cases = [
        (wrong_id, anthropic_error("messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_elsewhere. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")),
        (unanswered, anthropic_error("messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: call_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.")),
    ];
    for (body, expected) in cases {
        let (status, reply) = send_raw(Provider::Anthropic, &server, "mock", body).await;
        assert_eq!((status, reply), (400, expected));
    }

    let gemini_error = |message: &str| json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}});
    let mut short = after_tool_call(Provider::Gemini, json!({"output": "42"}));
    short["contents"][1]["parts"] = json!([{"functionCall": {"name": "get_weather", "args": {}}}, {"functionCall": {"name": "get_weather", "args": {}}}]);
    let mut orphan = after_tool_call(Provider::Gemini, json!({"output": "42"}));
    orphan["contents"][1] = json!({"role": "model", "parts": [{"text": "ok"}]});
    let cases = [
        (short, gemini_error("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")),
        (orphan, gemini_error("Please ensure that function response turn comes immediately after a function call turn.")),
    ];
    for (body, expected) in cases {
        let (status, reply) = send_raw(Provider::Gemini, &server, "mock", body).await;
        assert_eq!((status, reply), (400, expected));
    }
}

#[tokio::test]
async fn parallel_tool_results_are_answered_one_line_each_in_order() {
    let server = MockServer::start().await.unwrap();
    let openai = json!({"messages": [
        {"role": "user", "content": "both"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
    ]});
    let anthropic = json!({"messages": [
        {"role": "user", "content": "both"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "noon"}]},
    ]});
    let gemini = json!({"contents": [
        {"role": "user", "parts": [{"text": "both"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}, {"functionCall": {"name": "get_time", "args": {}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}}]},
    ]});
    for (provider, body) in [
        (Provider::OpenAi, openai),
        (Provider::Anthropic, anthropic),
        (Provider::Gemini, gemini),
    ] {
        let body = with_tools(
            provider,
            body,
            &[
                ("get_weather", weather_schema()),
                ("get_time", time_schema()),
            ],
        );
        let (_, reply) = send_raw(provider, &server, "mock", body).await;
        assert_eq!(
            all_text(provider, &reply),
            "Tool get_weather said: sunny\nTool get_time said: noon",
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn describe_reports_every_image_and_document_received_with_its_decoded_size() {
    let server = MockServer::start().await.unwrap();
    let openai = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}"), "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": format!("data:application/pdf;base64,{PDF}")}},
    ]}]});
    let anthropic = json!({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
        {"type": "text", "text": "what is this?"},
    ]}]});
    let gemini = json!({"contents": [{"role": "user", "parts": [
        {"text": "what is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
        {"inline_data": {"mime_type": "application/pdf", "data": PDF}},
    ]}]});
    let expected = [
        "Saw 2 images (image/png, 70 bytes; https://example.com/cat.jpg) and 1 document (application/pdf, 9 bytes)",
        "Saw 2 images (image/png, 70 bytes; https://example.com/cat.jpg) and 1 document (application/pdf, 9 bytes)",
        "Saw 2 images (image/png, 70 bytes; image/jpeg, https://example.com/cat.jpg) and 1 document (application/pdf, 9 bytes)",
    ];
    for ((provider, body), expected) in [
        (Provider::OpenAi, openai),
        (Provider::Anthropic, anthropic),
        (Provider::Gemini, gemini),
    ]
    .into_iter()
    .zip(expected)
    {
        let (_, reply) = send_raw(provider, &server, "mock-describe", body.clone()).await;
        assert_eq!(all_text(provider, &reply), expected, "{provider:?}");
        let streamed = stream_raw(provider, &server, "mock-describe", body).await;
        assert_eq!(
            all_stream_text(provider, &streamed.events),
            expected,
            "{provider:?}"
        );
    }

    // Without the directive the echo ignores media; with it, nothing and broken data say so.
    let (_, reply) = send_raw(
        Provider::Anthropic,
        &server,
        "mock",
        ask(Provider::Anthropic, "plain"),
    )
    .await;
    assert_eq!(all_text(Provider::Anthropic, &reply), "Echo: plain ");
    let (_, reply) = send_raw(
        Provider::Anthropic,
        &server,
        "mock-describe",
        ask(Provider::Anthropic, "plain"),
    )
    .await;
    assert_eq!(all_text(Provider::Anthropic, &reply), "Saw nothing");
    let broken = json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}}]}]});
    let (_, reply) = send_raw(Provider::Anthropic, &server, "mock-describe", broken).await;
    assert_eq!(
        all_text(Provider::Anthropic, &reply),
        "Saw 1 image (image/png, invalid base64)"
    );
}

#[tokio::test]
async fn a_large_base64_image_is_recorded_whole() {
    let server = MockServer::start().await.unwrap();
    // A 27 MiB photo is 36 MiB of base64: more than 32 MiB, which all three
    // providers' request limits allow for images.
    let data = "A".repeat(36 * 1024 * 1024);
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}]}]});
    let (status, reply) = send_raw(Provider::Anthropic, &server, "mock-describe", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        all_text(Provider::Anthropic, &reply),
        "Saw 1 image (image/png, 28311552 bytes)"
    );
    let recorded = &server.requests()[0].body;
    assert_eq!(
        recorded["messages"][0]["content"][0]["source"]["data"]
            .as_str()
            .map(str::len),
        Some(data.len())
    );
}

#[tokio::test]
async fn a_body_over_the_mocks_limit_is_a_413_in_the_providers_shape_and_still_recorded() {
    let server = MockServer::start().await.unwrap();
    let body = format!(r#"{{"pad": "{}"}}"#, "A".repeat(65 * 1024 * 1024));
    for (provider, kind) in PROVIDERS.into_iter().zip([
        "invalid_request_error",
        "request_too_large",
        "INVALID_ARGUMENT",
    ]) {
        let response = raw(provider, &server, "mock", json!({}), false)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{provider:?}");
        assert_eq!(
            provider.error_kind(&response.json().await.unwrap()),
            kind,
            "{provider:?}"
        );
    }
    let recorded = server.requests();
    assert_eq!(recorded.len(), 3, "rejected requests are recorded too");
    assert!(recorded.iter().all(|r| r.body.is_null()));
}

#[tokio::test]
async fn json_output_is_json_that_follows_the_requested_schema() {
    let server = MockServer::start().await.unwrap();
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["name", "age", "tags"],
        "additionalProperties": false
    });
    let gemini_schema = json!({
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}, "tags": {"type": "ARRAY", "items": {"type": "STRING"}}},
        "required": ["name", "age", "tags"]
    });
    let expected = json!({"name": "x", "age": 1, "tags": []});
    let cases = [
        (
            Provider::OpenAi,
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": true}}}),
        ),
        (
            Provider::Anthropic,
            json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}}),
        ),
        (
            Provider::Gemini,
            json!({"generationConfig": {"responseMimeType": "application/json", "responseSchema": gemini_schema}}),
        ),
        (
            Provider::Gemini,
            json!({"generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}}),
        ),
    ];
    for (provider, format) in cases {
        let mut body = ask(provider, "who?");
        body.as_object_mut()
            .unwrap()
            .extend(format.as_object().unwrap().clone());
        let (_, reply) = send_raw(provider, &server, "mock", body.clone()).await;
        let text = all_text(provider, &reply);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            expected,
            "{provider:?}: {text}"
        );
        let streamed = stream_raw(provider, &server, "mock", body).await;
        let text = all_stream_text(provider, &streamed.events);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            expected,
            "{provider:?}: {text}"
        );
    }

    // JSON mode without a schema echoes the last user message in an object.
    for (provider, format) in [
        (
            Provider::OpenAi,
            json!({"response_format": {"type": "json_object"}}),
        ),
        (
            Provider::Gemini,
            json!({"generationConfig": {"responseMimeType": "application/json"}}),
        ),
    ] {
        let mut body = ask(provider, "say \"hi\"");
        body.as_object_mut()
            .unwrap()
            .extend(format.as_object().unwrap().clone());
        let (_, reply) = send_raw(provider, &server, "mock", body).await;
        assert_eq!(
            all_text(provider, &reply),
            r#"{"echo":"say \"hi\""}"#,
            "{provider:?}"
        );
    }
}

#[tokio::test]
async fn anthropic_beta_output_format_needs_its_beta_header() {
    let server = MockServer::start().await.unwrap();
    let mut body = ask(Provider::Anthropic, "who?");
    body["output_format"] = json!({"type": "json_schema", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}});
    let (status, reply) = send_raw(Provider::Anthropic, &server, "mock", body.clone()).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["type"], "invalid_request_error");
    let response = raw(Provider::Anthropic, &server, "mock", body, false)
        .header("anthropic-beta", "structured-outputs-2025-11-13")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(all_text(Provider::Anthropic, &reply), r#"{"ok":true}"#);
}

#[tokio::test]
async fn openai_reasoning_is_counted_in_usage_and_never_streamed_as_text() {
    let server = MockServer::start().await.unwrap();
    let mut body = ask(Provider::OpenAi, "why is the sky blue");
    body["reasoning_effort"] = json!("low");
    let (_, reply) = send_raw(Provider::OpenAi, &server, "o4-mini", body.clone()).await;
    assert_eq!(
        all_text(Provider::OpenAi, &reply),
        "Echo: why is the sky blue "
    );
    // "Thinking about: why is the sky blue": 7 tokens of reasoning, 6 of answer.
    assert_eq!(
        reply["usage"],
        json!({
            "prompt_tokens": 5, "completion_tokens": 13, "total_tokens": 18,
            "completion_tokens_details": {"reasoning_tokens": 7, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        })
    );
    body["stream_options"] = json!({"include_usage": true});
    let streamed = stream_raw(Provider::OpenAi, &server, "o4-mini", body).await;
    assert!(
        !streamed.raw.contains("Thinking"),
        "no reasoning text on the wire"
    );
    assert_eq!(
        Provider::OpenAi.stream_text(&streamed.events),
        "Echo: why is the sky blue "
    );
    let usage = &streamed.events[streamed.events.len() - 2].json()["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 7);

    let mut none = ask(Provider::OpenAi, "x");
    none["reasoning_effort"] = json!("none");
    let (_, reply) = send_raw(Provider::OpenAi, &server, "gpt-5.1", none).await;
    assert!(reply["usage"].get("completion_tokens_details").is_none());
}

fn anthropic_thinking(text: &str) -> Value {
    let mut body = ask(Provider::Anthropic, text);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    body
}

#[tokio::test]
async fn anthropic_thinking_comes_first_with_a_signature_streamed_or_not() {
    let server = MockServer::start().await.unwrap();
    let body = anthropic_thinking("hello there");
    let signature = chatgate_mock::thinking_signature("Thinking about: hello there");
    let (status, reply) = send_raw(Provider::Anthropic, &server, "claude", body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["content"],
        json!([
            {"type": "thinking", "thinking": "Thinking about: hello there", "signature": signature},
            {"type": "text", "text": "Echo: hello there "}
        ])
    );
    assert_eq!(
        reply["usage"]["output_tokens"], 7,
        "3 answer + 4 thinking tokens"
    );
    assert_eq!(
        reply["usage"]["output_tokens_details"],
        json!({"thinking_tokens": 4})
    );

    let streamed = stream_raw(Provider::Anthropic, &server, "claude", body).await;
    let events: Vec<Value> = streamed.events.iter().map(Event::json).collect();
    let summary: Vec<String> = events
        .iter()
        .map(|e| {
            let detail = e["content_block"]["type"]
                .as_str()
                .or(e["delta"]["type"].as_str())
                .unwrap_or_default();
            format!(
                "{}{}{}",
                e["type"].as_str().unwrap(),
                if detail.is_empty() { "" } else { ":" },
                detail
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "message_start",
            "content_block_start:thinking",
            "ping",
            "content_block_delta:thinking_delta",
            "content_block_delta:thinking_delta",
            "content_block_delta:thinking_delta",
            "content_block_delta:thinking_delta",
            "content_block_delta:signature_delta",
            "content_block_stop",
            "content_block_start:text",
            "content_block_delta:text_delta",
            "content_block_delta:text_delta",
            "content_block_delta:text_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(
        events[1]["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    let thinking: String = events[3..7]
        .iter()
        .map(|e| e["delta"]["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thinking, "Thinking about: hello there");
    assert_eq!(events[7]["delta"]["signature"], signature);
    assert_eq!(
        (&events[8]["index"], &events[9]["index"]),
        (&json!(0), &json!(1))
    );
    assert_eq!(events[14]["usage"]["output_tokens"], 7);
}

#[tokio::test]
async fn anthropic_thinking_blocks_sent_back_must_carry_the_signature_the_mock_issued() {
    let server = MockServer::start().await.unwrap();
    let thinking = "Thinking about: hello there";
    let history = |block: Value| {
        let mut body = anthropic_thinking("and now?");
        body["messages"] = json!([
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": [block, {"type": "text", "text": "Echo: hello there "}]},
            {"role": "user", "content": "and now?"},
        ]);
        body
    };
    let signed = json!({"type": "thinking", "thinking": thinking, "signature": chatgate_mock::thinking_signature(thinking)});
    let (status, reply) = send_raw(Provider::Anthropic, &server, "claude", history(signed)).await;
    assert_eq!(status, 200, "{reply}");

    let cases = [
        (
            json!({"type": "thinking", "thinking": thinking, "signature": "forged"}),
            "messages.1.content.0: Invalid `signature` in `thinking` block",
        ),
        (
            json!({"type": "thinking", "thinking": "Edited thoughts", "signature": chatgate_mock::thinking_signature(thinking)}),
            "messages.1.content.0: Invalid `signature` in `thinking` block",
        ),
        (
            json!({"type": "thinking", "thinking": thinking}),
            "messages.1.content.0.thinking.signature: Field required",
        ),
    ];
    for (block, message) in cases {
        let (status, reply) =
            send_raw(Provider::Anthropic, &server, "claude", history(block)).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(
            reply,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        );
    }
}

#[tokio::test]
async fn anthropic_rejects_thinking_budgets_and_tool_choices_it_does_not_accept() {
    let server = MockServer::start().await.unwrap();
    let mut small = ask(Provider::Anthropic, "x");
    small["thinking"] = json!({"type": "enabled", "budget_tokens": 1000});
    let mut over = ask(Provider::Anthropic, "x");
    over["max_tokens"] = json!(2000);
    over["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
    let mut forced = with_tools(
        Provider::Anthropic,
        anthropic_thinking("x"),
        &[("get_time", time_schema())],
    );
    forced["tool_choice"] = json!({"type": "any"});
    for body in [small, over, forced] {
        let (status, reply) = send_raw(Provider::Anthropic, &server, "claude", body).await;
        assert_eq!(
            (status, &reply["error"]["type"]),
            (400, &json!("invalid_request_error")),
            "{reply}"
        );
    }
    // Adaptive thinking has no budget, and auto tool choice is fine with thinking.
    let mut adaptive = with_tools(
        Provider::Anthropic,
        ask(Provider::Anthropic, "x"),
        &[("get_time", time_schema())],
    );
    adaptive["thinking"] = json!({"type": "adaptive"});
    let (status, reply) = send_raw(Provider::Anthropic, &server, "claude", adaptive).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["content"][0]["type"], "thinking");
    assert_eq!(reply["content"][1]["type"], "tool_use");
}

#[tokio::test]
async fn gemini_thoughts_come_as_thought_parts_and_the_answer_carries_the_signature() {
    let server = MockServer::start().await.unwrap();
    let mut body = ask(Provider::Gemini, "hello there");
    body["generationConfig"] =
        json!({"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}});
    let signature = chatgate_mock::thinking_signature("Thinking about: hello there");
    let (_, reply) = send_raw(Provider::Gemini, &server, "gemini-2.5-flash", body.clone()).await;
    assert_eq!(
        reply["candidates"][0]["content"]["parts"],
        json!([
            {"text": "Thinking about: hello there", "thought": true},
            {"text": "Echo: hello there ", "thoughtSignature": signature}
        ])
    );
    assert_eq!(
        reply["usageMetadata"],
        json!({"promptTokenCount": 2, "candidatesTokenCount": 3, "thoughtsTokenCount": 4, "totalTokenCount": 9})
    );

    let streamed = stream_raw(Provider::Gemini, &server, "gemini-2.5-flash", body).await;
    let frames: Vec<Value> = streamed.events.iter().map(Event::json).collect();
    let parts: Vec<&Value> = frames
        .iter()
        .map(|f| &f["candidates"][0]["content"]["parts"][0])
        .collect();
    assert_eq!(frames.len(), 8, "4 thoughts, 3 text, finish");
    assert!(parts[..4].iter().all(|p| p["thought"] == true));
    let thoughts: String = parts[..4]
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(thoughts, "Thinking about: hello there");
    assert_eq!(
        *parts[4],
        json!({"text": "Echo: ", "thoughtSignature": signature})
    );
    assert!(parts[5..]
        .iter()
        .all(|p| p.get("thoughtSignature").is_none() && p.get("thought").is_none()));
    let thought_counts: Vec<&Value> = frames
        .iter()
        .map(|f| &f["usageMetadata"]["thoughtsTokenCount"])
        .collect();
    assert_eq!(thought_counts, [1, 2, 3, 4, 4, 4, 4, 4]);

    // Without includeThoughts the thoughts are counted, not shown; a zero budget turns them off.
    let mut hidden = ask(Provider::Gemini, "hello there");
    hidden["generationConfig"] = json!({"thinkingConfig": {"thinkingLevel": "low"}});
    let (_, reply) = send_raw(Provider::Gemini, &server, "gemini-3-flash", hidden).await;
    assert_eq!(
        reply["candidates"][0]["content"]["parts"],
        json!([{"text": "Echo: hello there ", "thoughtSignature": signature}])
    );
    assert_eq!(reply["usageMetadata"]["thoughtsTokenCount"], 4);
    let mut off = ask(Provider::Gemini, "hello there");
    off["generationConfig"] = json!({"thinkingConfig": {"thinkingBudget": 0}});
    let (_, reply) = send_raw(Provider::Gemini, &server, "gemini-2.5-flash", off).await;
    assert_eq!(
        reply["candidates"][0]["content"]["parts"],
        json!([{"text": "Echo: hello there "}])
    );
    assert!(reply["usageMetadata"].get("thoughtsTokenCount").is_none());
}

#[tokio::test]
async fn gemini_puts_the_thought_signature_on_the_first_function_call_only() {
    let server = MockServer::start().await.unwrap();
    let mut body = with_tools(
        Provider::Gemini,
        ask(Provider::Gemini, "both"),
        &[
            ("get_weather", weather_schema()),
            ("get_time", time_schema()),
        ],
    );
    body["generationConfig"] = json!({"thinkingConfig": {"thinkingLevel": "high"}});
    let signature = chatgate_mock::thinking_signature("Thinking about: both");
    let (_, reply) = send_raw(Provider::Gemini, &server, "mock-tools-2", body.clone()).await;
    let parts = &reply["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["thoughtSignature"], signature);
    assert!(parts[1].get("thoughtSignature").is_none());
    let streamed = stream_raw(Provider::Gemini, &server, "mock-tools-2", body).await;
    let first = streamed.events[0].json();
    assert_eq!(
        first["candidates"][0]["content"]["parts"][0]["thoughtSignature"],
        signature
    );
}

#[tokio::test]
async fn cached_and_cache_write_directives_report_cache_usage_where_each_provider_does() {
    let server = MockServer::start().await.unwrap();
    // "hello there": 2 words of prompt, plus 100 cached and 30 written tokens.
    let model = "mock-cached-100-cache-write-30";
    let mut openai = ask(Provider::OpenAi, "hello there");
    openai["stream_options"] = json!({"include_usage": true});
    let (_, reply) = send_raw(Provider::OpenAi, &server, model, openai.clone()).await;
    assert_eq!(
        reply["usage"],
        json!({"prompt_tokens": 132, "completion_tokens": 3, "total_tokens": 135,
               "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 0, "cache_write_tokens": 30}})
    );
    let streamed = stream_raw(Provider::OpenAi, &server, model, openai).await;
    let last = streamed.events[streamed.events.len() - 2].json();
    assert_eq!(last["usage"], reply["usage"]);

    let (_, reply) = send_raw(
        Provider::Anthropic,
        &server,
        model,
        ask(Provider::Anthropic, "hello there"),
    )
    .await;
    assert_eq!(
        reply["usage"],
        json!({"input_tokens": 2, "output_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 30,
               "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 0}})
    );
    let streamed = stream_raw(
        Provider::Anthropic,
        &server,
        model,
        ask(Provider::Anthropic, "hello there"),
    )
    .await;
    let start = streamed.events[0].json();
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": 2, "output_tokens": 1, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 30,
               "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 0}})
    );

    let (_, reply) = send_raw(
        Provider::Gemini,
        &server,
        "mock-cached-100",
        ask(Provider::Gemini, "hello there"),
    )
    .await;
    assert_eq!(
        reply["usageMetadata"],
        json!({"promptTokenCount": 102, "candidatesTokenCount": 3, "totalTokenCount": 105, "cachedContentTokenCount": 100})
    );
    let streamed = stream_raw(
        Provider::Gemini,
        &server,
        "mock-cached-100",
        ask(Provider::Gemini, "hello there"),
    )
    .await;
    assert!(streamed
        .events
        .iter()
        .all(|e| e.json()["usageMetadata"]["cachedContentTokenCount"] == 100));
}

#[tokio::test]
async fn refuse_answers_with_each_providers_refusal() {
    let server = MockServer::start().await.unwrap();
    let refusal = "I'm sorry, but I can't help with that.";

    let (_, reply) = send_raw(
        Provider::OpenAi,
        &server,
        "mock-refuse",
        ask(Provider::OpenAi, "x"),
    )
    .await;
    assert_eq!(
        reply["choices"][0]["message"],
        json!({"role": "assistant", "content": null, "refusal": refusal})
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    let streamed = stream_raw(
        Provider::OpenAi,
        &server,
        "mock-refuse",
        ask(Provider::OpenAi, "x"),
    )
    .await;
    let deltas: Vec<Value> = streamed
        .events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| e.json()["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas[0],
        json!({"role": "assistant", "content": null, "refusal": null})
    );
    let text: String = deltas
        .iter()
        .filter_map(|d| d["refusal"].as_str())
        .collect();
    assert_eq!(text, refusal);
    assert!(deltas
        .iter()
        .all(|d| d.get("content").is_none_or(Value::is_null)));

    let (_, reply) = send_raw(
        Provider::Anthropic,
        &server,
        "mock-refuse",
        ask(Provider::Anthropic, "x"),
    )
    .await;
    assert_eq!(reply["stop_reason"], "refusal");
    assert_eq!(reply["content"], json!([{"type": "text", "text": ""}]));
    assert_eq!(reply["stop_details"]["type"], "refusal");
    let streamed = stream_raw(
        Provider::Anthropic,
        &server,
        "mock-refuse",
        ask(Provider::Anthropic, "x"),
    )
    .await;
    let names: Vec<&str> = streamed
        .events
        .iter()
        .map(|e| e.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let delta = streamed.events[4].json();
    assert_eq!(delta["delta"]["stop_reason"], "refusal");
    assert_eq!(delta["usage"]["output_tokens"], 0);

    let (_, reply) = send_raw(
        Provider::Gemini,
        &server,
        "mock-refuse",
        ask(Provider::Gemini, "x"),
    )
    .await;
    let candidate = &reply["candidates"][0];
    assert_eq!(candidate["finishReason"], "SAFETY");
    assert!(candidate.get("content").is_none(), "{candidate}");
    assert_eq!(candidate["safetyRatings"][0]["blocked"], true);
    let streamed = stream_raw(
        Provider::Gemini,
        &server,
        "mock-refuse",
        ask(Provider::Gemini, "x"),
    )
    .await;
    assert_eq!(streamed.events.len(), 1);
    assert_eq!(
        streamed.events[0].json()["candidates"][0]["finishReason"],
        "SAFETY"
    );
}

#[tokio::test]
async fn openai_logprobs_give_one_entry_per_token_with_its_top_alternatives() {
    let server = MockServer::start().await.unwrap();
    let mut body = ask(Provider::OpenAi, "hi");
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(2);
    let (_, reply) = send_raw(Provider::OpenAi, &server, "gpt-4o", body.clone()).await;
    assert_eq!(
        reply["choices"][0]["logprobs"],
        json!({"refusal": null, "content": [
            {"token": "Echo: ", "logprob": -0.125, "bytes": [69, 99, 104, 111, 58, 32], "top_logprobs": [
                {"token": "Echo: ", "logprob": -0.125, "bytes": [69, 99, 104, 111, 58, 32]},
                {"token": "alt1", "logprob": -1.125, "bytes": [97, 108, 116, 49]}]},
            {"token": "hi ", "logprob": -0.25, "bytes": [104, 105, 32], "top_logprobs": [
                {"token": "hi ", "logprob": -0.25, "bytes": [104, 105, 32]},
                {"token": "alt1", "logprob": -1.25, "bytes": [97, 108, 116, 49]}]}
        ]})
    );
    let streamed = stream_raw(Provider::OpenAi, &server, "gpt-4o", body).await;
    let chunks: Vec<Value> = streamed
        .events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(Event::json)
        .collect();
    let entries: Vec<&Value> = chunks
        .iter()
        .filter(|c| !c["choices"][0]["logprobs"].is_null())
        .map(|c| &c["choices"][0]["logprobs"]["content"][0])
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(*entries[1], reply["choices"][0]["logprobs"]["content"][1]);

    let (_, reply) = send_raw(
        Provider::OpenAi,
        &server,
        "gpt-4o",
        ask(Provider::OpenAi, "hi"),
    )
    .await;
    assert!(reply["choices"][0]["logprobs"].is_null(), "not asked for");
}

#[tokio::test]
async fn gemini_logprobs_give_chosen_and_top_candidates() {
    let server = MockServer::start().await.unwrap();
    let mut body = ask(Provider::Gemini, "hi");
    body["generationConfig"] = json!({"responseLogprobs": true, "logprobs": 1});
    let (_, reply) = send_raw(Provider::Gemini, &server, "gemini-2.0-flash", body).await;
    let candidate = &reply["candidates"][0];
    assert_eq!(
        candidate["logprobsResult"],
        json!({
            "chosenCandidates": [{"token": "Echo: ", "logProbability": -0.125}, {"token": "hi ", "logProbability": -0.25}],
            "topCandidates": [{"candidates": [{"token": "Echo: ", "logProbability": -0.125}]}, {"candidates": [{"token": "hi ", "logProbability": -0.25}]}],
            "logProbabilitySum": -0.375
        })
    );
    assert_eq!(candidate["avgLogprobs"], -0.1875);
}

#[tokio::test]
async fn an_unknown_model_gets_each_providers_not_found_error() {
    let server = MockServer::start().await.unwrap();
    for model in ["mock-unknown", "missing-model"] {
        let expected = [
            json!({"error": {"message": format!("The model `{model}` does not exist or you do not have access to it."), "type": "invalid_request_error", "param": null, "code": "model_not_found"}}),
            json!({"type": "error", "error": {"type": "not_found_error", "message": format!("model: {model}")}}),
            json!({"error": {"code": 404, "message": format!("models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."), "status": "NOT_FOUND"}}),
        ];
        for (provider, expected) in PROVIDERS.into_iter().zip(expected) {
            let (status, reply) = send_raw(provider, &server, model, ask(provider, "x")).await;
            assert_eq!((status, &reply), (404, &expected), "{provider:?}");
            let response = raw(provider, &server, model, ask(provider, "x"), true)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 404, "{provider:?} streaming");
        }
    }
}

#[tokio::test]
async fn cut_counts_thinking_and_tool_argument_tokens_too() {
    let server = MockServer::start().await.unwrap();
    let streamed = stream_raw(
        Provider::Anthropic,
        &server,
        "mock-cut-2",
        anthropic_thinking("hello there"),
    )
    .await;
    assert!(streamed.dropped);
    let thinking: String = streamed
        .events
        .iter()
        .filter_map(|e| e.json()["delta"]["thinking"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(thinking, "Thinking about: ");
    assert!(!streamed.raw.contains("signature_delta"));

    let body = with_tools(
        Provider::OpenAi,
        ask(Provider::OpenAi, "x"),
        &[("get_weather", weather_schema())],
    );
    let streamed = stream_raw(Provider::OpenAi, &server, "mock-cut-1", body).await;
    assert!(streamed.dropped && !streamed.raw.contains("finish_reason\":\"tool_calls"));
    assert!(
        streamed.raw.contains(r#""arguments":"{\"city\":""#),
        "{}",
        streamed.raw
    );
}
