//! Conversations and streaming chat, across every provider, through the mock upstream.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, mock, spawn_app, SseReader, TestApp, User, SERVICE_KEYS};

/// The upstream header that carries the key, and its expected value.
type KeyHeader = Option<(&'static str, String)>;

/// (model, how the key goes upstream, the reply expected for "hello there").
fn providers() -> Vec<(&'static str, KeyHeader, &'static str)> {
    vec![
        ("demo/echo", None, "You said: hello there"),
        (
            "openai/mock-a",
            Some(("authorization", format!("Bearer {}", SERVICE_KEYS[0]))),
            "Echo: hello there ",
        ),
        (
            "anthropic/mock-b",
            Some(("x-api-key", SERVICE_KEYS[1].to_string())),
            "Echo: hello there ",
        ),
        (
            "gemini/mock-c",
            Some(("x-goog-api-key", SERVICE_KEYS[2].to_string())),
            "Echo: hello there ",
        ),
    ]
}

async fn messages(app: &TestApp, user: &User, conv: &str, query: &str) -> Value {
    let resp = app
        .get(
            &format!("/api/conversations/{conv}/messages{query}"),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_reply_streams_and_is_stored_for_every_provider() {
    let app = spawn_app().await;
    let user = app.register("providers").await;
    for (model, key_header, expected) in providers() {
        let conv = app.conversation(&user, model).await;
        let sse = app
            .chat(&user.token, &conv, &json!({"content": "hello there"}))
            .await;
        assert_eq!(sse.status, 200, "{model}: {:?}", sse.events);
        let names: Vec<&str> = sse.events.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(names.first(), Some(&"message.created"), "{model}");
        assert_eq!(
            names.last(),
            Some(&"message.completed"),
            "{model}: {names:?}"
        );
        assert!(
            names.iter().filter(|n| **n == "delta").count() >= 2,
            "{model}: the reply arrives in pieces"
        );
        assert!(
            sse.text().starts_with(expected),
            "{model}: {:?}",
            sse.text()
        );
        // Event ids are the byte offsets of the text: strictly increasing.
        let ids: Vec<usize> = sse.events.iter().map(|e| e.0.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{model}: ids {ids:?}");
        let done = &sse.last().2;
        assert_eq!(done["message"]["status"], "complete");
        assert_eq!(done["message"]["content"], sse.text());
        assert!(
            done["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
            "{model}: {done}"
        );
        assert!(
            done["usage"]["completion_tokens"].as_u64().unwrap() > 0,
            "{model}: {done}"
        );

        let page = messages(&app, &user, &conv, "").await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{model}");
        assert_eq!(items[0]["role"], "assistant");
        assert_eq!(items[0]["content"], sse.text());
        assert_eq!(items[0]["model"], model);
        assert_eq!(items[1]["role"], "user");
        assert_eq!(items[1]["content"], "hello there");
        for field in [
            "id",
            "seq",
            "role",
            "content",
            "model",
            "status",
            "usage",
            "created_at",
        ] {
            assert!(items[0].get(field).is_some(), "{field}");
        }

        if let Some((header, value)) = key_header {
            let model_part = model.split('/').nth(1).unwrap();
            let sent = mock()
                .requests()
                .into_iter()
                .rev()
                .find(|r| r.path.contains(model_part) || r.body["model"] == model_part)
                .unwrap_or_else(|| panic!("{model}: nothing reached the mock"));
            assert_eq!(
                sent.header(header),
                Some(value.as_str()),
                "{model}: the key goes upstream"
            );
            assert!(sent.body.to_string().contains("hello there"), "{model}");
        }
    }
}

#[tokio::test]
async fn history_and_the_system_prompt_go_upstream_and_page_back_newest_first() {
    let app = spawn_app().await;
    let user = app.register("history").await;
    let conv = app.conversation(&user, "openai/count").await;
    for (i, expected) in [(1, "1 messages"), (2, "3 messages"), (3, "5 messages")] {
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": format!("message number {i}")}),
            )
            .await;
        assert_eq!(sse.text().trim(), expected, "round {i}");
    }
    // Paging: newest first by seq, with a cursor.
    let first = messages(&app, &user, &conv, "?limit=4").await;
    let seqs: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![6, 5, 4, 3]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = messages(&app, &user, &conv, &format!("?limit=4&cursor={cursor}")).await;
    let seqs: Vec<i64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 1]);
    assert!(second["next_cursor"].is_null());

    // The system prompt (with the org's custom instructions before it) is sent upstream.
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({"model": "anthropic/echo-system", "system_prompt": "Answer like a pirate."}),
        )
        .await;
    let conv: Value = resp.json().await.unwrap();
    let sse = app
        .chat(
            &user.token,
            conv["id"].as_str().unwrap(),
            &json!({"content": "hi"}),
        )
        .await;
    assert_eq!(sse.text(), "Answer like a pirate.");
}

#[tokio::test]
async fn conversations_list_newest_activity_first_and_can_be_renamed_and_deleted() {
    let app = spawn_app().await;
    let user = app.register("convs").await;
    // A few milliseconds apart, so their order does not hang on ids minted in the same one.
    let a = app.conversation(&user, "demo/echo").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b = app.conversation(&user, "demo/echo").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let c = app.conversation(&user, "demo/echo").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.chat(&user.token, &a, &json!({"content": "bump a"}))
        .await;
    let page: Value = app
        .get("/api/conversations?limit=2", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), c.as_str()]);
    let next: Value = app
        .get(
            &format!(
                "/api/conversations?limit=2&cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            Some(&user.token),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.as_str()]);

    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/conversations/{b}"),
            Some(&user.token),
            &json!({"title": "Renamed", "model": "openai/gpt-4o-mini"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let conv: Value = resp.json().await.unwrap();
    assert_eq!(
        (conv["title"].as_str(), conv["model"].as_str()),
        (Some("Renamed"), Some("openai/gpt-4o-mini"))
    );
    let bad = app
        .send_json(
            Method::PATCH,
            &format!("/api/conversations/{b}"),
            Some(&user.token),
            &json!({"model": "acme/x"}),
        )
        .await;
    assert_problem(bad, 400, "validation_failed").await;

    assert_eq!(
        app.delete(&format!("/api/conversations/{a}"), Some(&user.token))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/conversations/{a}"), Some(&user.token))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(
            &format!("/api/conversations/{a}/messages"),
            Some(&user.token)
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn another_user_gets_404_on_every_conversation_route() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let other = app.register("other").await;
    let conv = app.conversation(&owner, "demo/echo").await;
    let sse = app
        .chat(&owner.token, &conv, &json!({"content": "private"}))
        .await;
    let msg = sse.events[0].2["assistant_message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let routes = [
        (Method::GET, format!("/api/conversations/{conv}"), None),
        (
            Method::PATCH,
            format!("/api/conversations/{conv}"),
            Some(json!({"title": "mine now"})),
        ),
        (Method::DELETE, format!("/api/conversations/{conv}"), None),
        (
            Method::GET,
            format!("/api/conversations/{conv}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("/api/conversations/{conv}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            Method::GET,
            format!("/api/conversations/{conv}/messages/{msg}/stream"),
            None,
        ),
        (
            Method::POST,
            format!("/api/conversations/{conv}/abort"),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let mut req = app.request(method.clone(), &path, Some(&other.token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert_problem(resp, 404, "not_found").await;
    }
    // Still there for its owner.
    assert_eq!(
        messages(&app, &owner, &conv, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_reply_is_completed_and_stored_after_the_client_disconnects() {
    let app = spawn_app().await;
    let user = app.register("disconnect").await;
    let conv = app
        .conversation(&user, "openai/mock-tokens-30-delay-25")
        .await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "go"}))
        .await;
    let mut reader = SseReader::new(resp);
    for _ in 0..4 {
        reader.next_event().await.unwrap();
    }
    drop(reader); // the client goes away mid-reply
    let expected: String = (0..30).map(|i| format!("tok{i} ")).collect();
    for _ in 0..80 {
        let page = messages(&app, &user, &conv, "").await;
        if page["items"][0]["status"] == "complete" {
            assert_eq!(page["items"][0]["content"], expected);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the reply never completed after the disconnect");
}

#[tokio::test]
async fn resuming_from_last_event_id_gives_exactly_the_rest() {
    let app = spawn_app().await;
    let user = app.register("resume").await;
    let conv = app
        .conversation(&user, "gemini/mock-tokens-20-delay-40")
        .await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "go"}))
        .await;
    let mut reader = SseReader::new(resp);
    let created = reader.next_event().await.unwrap();
    let message_id = created.2["assistant_message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = String::new();
    let mut last_id = String::new();
    for _ in 0..3 {
        let (id, event, data) = reader.next_event().await.unwrap();
        assert_eq!(event, "delta");
        seen.push_str(data["text"].as_str().unwrap());
        last_id = id;
    }
    drop(reader);
    let resp = app
        .request(
            Method::GET,
            &format!("/api/conversations/{conv}/messages/{message_id}/stream"),
            Some(&user.token),
        )
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let rest = SseReader::new(resp).rest().await;
    let text: String = rest
        .iter()
        .filter(|e| e.1 == "delta")
        .map(|e| e.2["text"].as_str().unwrap().to_string())
        .collect();
    let expected: String = (0..20).map(|i| format!("tok{i} ")).collect();
    assert_eq!(format!("{seen}{text}"), expected);
    assert_eq!(rest.last().unwrap().1, "message.completed");

    // After the end, a resume from the start replays it all; a bogus id is a 400.
    let resp = app
        .get(
            &format!("/api/conversations/{conv}/messages/{message_id}/stream"),
            Some(&user.token),
        )
        .await;
    let all = SseReader::new(resp).rest().await;
    assert_eq!(all[0].2["text"], expected);
    let bad = app
        .request(
            Method::GET,
            &format!("/api/conversations/{conv}/messages/{message_id}/stream"),
            Some(&user.token),
        )
        .header("last-event-id", "9999999")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "validation_failed").await;
}

#[tokio::test]
async fn an_upstream_cut_mid_stream_ends_with_an_error_event_and_a_failed_message() {
    let app = spawn_app().await;
    let user = app.register("cut").await;
    let conv = app
        .conversation(&user, "anthropic/mock-tokens-10-cut-4")
        .await;
    let sse = app
        .chat(&user.token, &conv, &json!({"content": "go"}))
        .await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.text(), "tok0 tok1 tok2 tok3 ");
    let (_, event, data) = sse.last();
    assert_eq!(event, "error");
    assert_eq!(data["code"], "upstream_error");
    let page = messages(&app, &user, &conv, "").await;
    assert_eq!(page["items"][0]["status"], "failed");
    assert_eq!(page["items"][0]["content"], "tok0 tok1 tok2 tok3 ");
}

#[tokio::test]
async fn an_upstream_429_is_a_429_problem_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.register("u429").await;
    let conv = app.conversation(&user, "openai/status-429").await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "go"}))
        .await;
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_problem(resp, 429, "upstream_error").await;
    let page = messages(&app, &user, &conv, "").await;
    assert_eq!(page["items"], json!([]));
    // And the conversation is free for the next try.
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/conversations/{conv}"),
            Some(&user.token),
            &json!({"model": "demo/echo"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.chat(&user.token, &conv, &json!({"content": "again"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_model_the_upstream_does_not_know_is_a_404_model_not_found() {
    let app = spawn_app().await;
    let user = app.register("u404").await;
    let conv = app.conversation(&user, "openai/status-404").await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "go"}))
        .await;
    let body = assert_problem(resp, 404, "model_not_found").await;
    assert!(
        body["detail"].as_str().unwrap().contains("openai"),
        "{body}"
    );
}

#[tokio::test]
async fn a_second_send_while_a_reply_streams_is_409() {
    let app = spawn_app().await;
    let user = app.register("busy").await;
    let conv = app
        .conversation(&user, "openai/mock-tokens-40-delay-25")
        .await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "first"}))
        .await;
    let mut reader = SseReader::new(resp);
    reader.next_event().await.unwrap();
    let second = app
        .send_message(&user.token, &conv, &json!({"content": "second"}))
        .await;
    assert_problem(second, 409, "conflict").await;
    let rest = reader.rest().await;
    assert_eq!(rest.last().unwrap().1, "message.completed");
    assert_eq!(
        app.chat(&user.token, &conv, &json!({"content": "third"}))
            .await
            .status,
        200,
        "free again afterwards"
    );
}

#[tokio::test]
async fn abort_stops_the_reply_and_keeps_the_partial_text() {
    let app = spawn_app().await;
    let user = app.register("abort").await;
    let conv = app
        .conversation(&user, "openai/mock-tokens-200-delay-30")
        .await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "go"}))
        .await;
    let mut reader = SseReader::new(resp);
    reader.next_event().await.unwrap();
    reader.next_event().await.unwrap();
    reader.next_event().await.unwrap();
    let resp = app
        .post(
            &format!("/api/conversations/{conv}/abort"),
            Some(&user.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let rest = reader.rest().await;
    let (_, event, data) = rest.last().unwrap();
    assert_eq!(event, "message.completed");
    assert_eq!(data["message"]["status"], "aborted");
    let page = messages(&app, &user, &conv, "").await;
    let stored = page["items"][0]["content"].as_str().unwrap().to_string();
    assert_eq!(page["items"][0]["status"], "aborted");
    assert!(stored.starts_with("tok0 tok1 "), "{stored}");
    assert!(!stored.contains("tok199"), "it stopped early: {stored}");
}

#[tokio::test]
async fn an_unknown_provider_and_an_empty_message_are_400() {
    let app = spawn_app().await;
    let user = app.register("nokey").await;
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({"model": "acme/model"}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    let conv = app.conversation(&user, "demo/echo").await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "  "}))
        .await;
    assert_problem(resp, 400, "validation_failed").await;
}

#[tokio::test]
async fn a_send_reports_where_its_time_went_in_server_timing() {
    let app = spawn_app().await;
    let user = app.register("timing").await;
    let conv = app.conversation(&user, "demo/echo").await;
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "hi"}))
        .await;
    assert_eq!(resp.status(), 200);
    let timing = resp.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    let phases: Vec<&str> = timing
        .split(", ")
        .map(|p| {
            let (name, dur) = p.split_once(";dur=").expect(p);
            assert!(dur.parse::<u64>().is_ok(), "{timing}");
            name
        })
        .collect();
    assert_eq!(phases, ["auth", "conversation", "key", "reply"], "{timing}");
    resp.text().await.unwrap();
}

/// Sets the monthly token budget of `org` (the caller must be an admin of it).
async fn set_budget(app: &TestApp, user: &User, org: &str, limit: u64) {
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{org}"),
            Some(&user.token),
            &json!({"settings": {"monthly_token_limit": limit}}),
        )
        .await;
    assert_eq!(resp.status(), 200, "set the budget");
}

/// The org's usage row for `model`, once it has `requests` requests (usage is recorded after
/// the reply ends).
pub async fn usage_of(app: &TestApp, user: &User, org: &str, model: &str, requests: u64) -> Value {
    for _ in 0..100 {
        let page: Value = app
            .get(
                &format!("/api/orgs/{org}/usage?group_by=model"),
                Some(&user.token),
            )
            .await
            .json()
            .await
            .unwrap();
        let row = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == model && r["requests"] == requests)
            .cloned();
        if let Some(row) = row {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no usage row with {requests} request(s) for {model}");
}

#[tokio::test]
async fn deleting_a_conversation_mid_reply_meters_and_settles_what_was_streamed() {
    let app = spawn_app().await;
    let user = app.register("delete-mid").await;
    let org = user.personal_org.clone();
    // Room for the first reply's reservation (250 + its prompt) and little more: unless the
    // deleted reply settles it, the next send does not fit.
    set_budget(&app, &user, &org, 270).await;
    let model = "openai/mock-tokens-400-delay-30";
    let conv = app.conversation(&user, model).await;
    let resp = app
        .send_message(
            &user.token,
            &conv,
            &json!({"content": "go", "max_tokens": 250}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut reader = SseReader::new(resp);
    let mut streamed = String::new();
    reader.next_event().await.unwrap(); // message.created
    for _ in 0..3 {
        let (_, event, data) = reader.next_event().await.unwrap();
        assert_eq!(event, "delta");
        streamed.push_str(data["text"].as_str().unwrap());
    }
    let deleted = app
        .delete(&format!("/api/conversations/{conv}"), Some(&user.token))
        .await;
    assert_eq!(deleted.status(), 204);
    drop(reader);

    let row = usage_of(&app, &user, &org, model, 1).await;
    let completion = row["completion_tokens"].as_u64().unwrap();
    assert!(
        completion >= (streamed.len() as u64).div_ceil(4) && completion < 250,
        "what was streamed before the deletion is metered: {row}"
    );
    assert!(row["prompt_tokens"].as_u64().unwrap() > 0, "{row}");

    // The reservation was settled with that use (just after the usage row is written), so
    // the budget has room again.
    let next = app.conversation(&user, "demo/echo").await;
    for _ in 0..50 {
        let sse = app
            .chat(
                &user.token,
                &next,
                &json!({"content": "hi", "max_tokens": 20}),
            )
            .await;
        if sse.status == 200 {
            return;
        }
        assert_eq!(sse.status, 429, "{:?}", sse.events);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deleted reply's reservation was never settled");
}

#[tokio::test]
async fn aborting_or_deleting_while_the_first_token_is_pending_is_a_409_not_a_5xx() {
    let app = spawn_app().await;
    let user = app.register("early-stop").await;
    // ttfb: the provider has not answered yet; delay: its headers are in, its first token not.
    for model in [
        "openai/mock-ttfb-3000-tokens-3",
        "anthropic/mock-tokens-3-delay-3000",
    ] {
        for stop in ["abort", "delete"] {
            let case = format!("{model}, {stop}");
            let conv = app.conversation(&user, model).await;
            let stopper = async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                let path = format!("/api/conversations/{conv}");
                let resp = if stop == "abort" {
                    app.post(&format!("{path}/abort"), Some(&user.token), &json!({}))
                        .await
                } else {
                    app.delete(&path, Some(&user.token)).await
                };
                assert_eq!(resp.status(), 204, "{case}: the {stop} itself");
            };
            let go = json!({"content": "go"});
            let (sent, ()) = tokio::join!(app.send_message(&user.token, &conv, &go), stopper);
            let body = assert_problem(sent, 409, "conflict").await;
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.contains(if stop == "abort" {
                    "aborted"
                } else {
                    "deleted"
                }),
                "{case}: {body}"
            );
            if stop == "abort" {
                // Nothing was stored and the conversation is free for the next message.
                let page = messages(&app, &user, &conv, "").await;
                assert_eq!(page["items"], json!([]), "{case}");
                let sse = app
                    .chat(
                        &user.token,
                        &conv,
                        &json!({"content": "again", "model": "demo/echo"}),
                    )
                    .await;
                assert_eq!(sse.status, 200, "{case}: {:?}", sse.events);
            } else {
                let gone = app
                    .get(&format!("/api/conversations/{conv}"), Some(&user.token))
                    .await;
                assert_eq!(gone.status(), 404, "{case}");
            }
        }
    }
}

/// (model, where its request carries the completion cap).
fn capped_providers() -> [(&'static str, &'static str); 3] {
    [
        ("openai/mock-tokens-6000", "/max_completion_tokens"),
        ("anthropic/mock-tokens-6000", "/max_tokens"),
        (
            "gemini/mock-tokens-6000",
            "/generationConfig/maxOutputTokens",
        ),
    ]
}

#[tokio::test]
async fn every_upstream_request_carries_a_completion_cap_within_what_the_budget_has_left() {
    let app = spawn_app().await;
    for (model, cap_at) in capped_providers() {
        // Each provider in an org of its own, with a 1,000-token budget and nothing spent.
        let user = app.register("capped").await;
        set_budget(&app, &user, &user.personal_org, 1000).await;
        let tag = format!("cap{}", user.id.replace(['_', '-'], ""));
        let model = format!("{model}-{tag}");
        let last_sent = || {
            mock()
                .requests()
                .into_iter()
                .rev()
                .find(|r| {
                    r.path.contains(&tag)
                        || r.body["model"].as_str().is_some_and(|m| m.contains(&tag))
                })
                .unwrap_or_else(|| panic!("{model}: nothing reached the mock"))
        };
        // What the client asks for, when it is lower, is kept.
        let conv = app.conversation(&user, &model).await;
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "a little", "max_tokens": 20}),
            )
            .await;
        assert_eq!(sse.status, 200, "{model}: {:?}", sse.events);
        assert_eq!(
            last_sent().body.pointer(cap_at),
            Some(&json!(20)),
            "{model}"
        );
        let first = &sse.last().2["usage"];
        let spent =
            first["prompt_tokens"].as_u64().unwrap() + first["completion_tokens"].as_u64().unwrap();

        // Without max_tokens, the cap is what the budget has left after the prompt.
        let conv = app.conversation(&user, &model).await;
        let sse = app
            .chat(&user.token, &conv, &json!({"content": "write a lot"}))
            .await;
        assert_eq!(sse.status, 200, "{model}: {:?}", sse.events);
        let usage = &sse.last().2["usage"];
        let total =
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap();
        assert!(
            spent + total <= 1000,
            "{model}: the replies stayed within the budget: {spent} + {usage}"
        );
        let sent = last_sent();
        let cap = sent.body.pointer(cap_at).and_then(Value::as_u64);
        assert!(
            cap.is_some_and(|c| (16..=1000 - spent).contains(&c)),
            "{model}: the cap sent upstream is {cap:?}: {}",
            sent.body
        );
    }

    // The demo model is held to the cap too: 40 tokens leave it 32 after its prompt.
    let user = app.register("capped-demo").await;
    set_budget(&app, &user, &user.personal_org, 40).await;
    let conv = app.conversation(&user, "demo/echo").await;
    let sse = app
        .chat(&user.token, &conv, &json!({"content": "go"}))
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    let usage = &sse.last().2["usage"];
    let total =
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap();
    assert!(total <= 40, "demo/echo stayed within the budget: {usage}");
    // Spent: what is left is below a useful reply, so the next send is refused up front.
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": "more"}))
        .await;
    assert_problem(resp, 429, "budget_exceeded").await;
}
