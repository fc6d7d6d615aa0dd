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
