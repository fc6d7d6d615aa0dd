//! The chat route's images and reasoning, across providers, through the mock upstream: an
//! image sent with a message reaches the model (and again with the history), is listed with
//! the message and served back; a reply's reasoning streams as its own events, is kept with
//! the reply, and its signature goes back to the provider that wrote it, and to no other.

use chatgate::crypto::{b64, b64_decode};
use chatgate::domain::attachment::MAX_IMAGE_BYTES;
use chatgate_mock::thinking_signature;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, mock, spawn_app, TestApp, User};

/// A 1×1 PNG (70 bytes).
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

fn png() -> Value {
    json!({"type": "image", "media_type": "image/png", "data": PNG})
}

/// A tag unique to this user, for finding its requests among the mock's.
fn tag(user: &User) -> String {
    format!("t{}", user.id.replace(['_', '-'], ""))
}

/// The last request the mock received for a model whose name holds `tag`.
fn last_sent(tag: &str) -> chatgate_mock::RecordedRequest {
    mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.contains(tag) || r.body["model"].as_str().is_some_and(|m| m.contains(tag)))
        .unwrap_or_else(|| panic!("nothing with {tag} reached the mock"))
}

fn events<'a>(sse: &'a crate::helpers::Sse, name: &str) -> Vec<&'a Value> {
    sse.events
        .iter()
        .filter(|e| e.1 == name)
        .map(|e| &e.2)
        .collect()
}

fn reasoning_text(sse: &crate::helpers::Sse) -> String {
    events(sse, "reasoning")
        .iter()
        .map(|d| d["text"].as_str().unwrap())
        .collect()
}

async fn messages(app: &TestApp, user: &User, conv: &str) -> Vec<Value> {
    let resp = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_image_sent_with_a_message_reaches_every_provider_and_is_served_back() {
    let app = spawn_app().await;
    let user = app.register("images").await;
    let tag = tag(&user);
    for (model, expected) in [
        ("demo/echo".to_owned(), "You sent 1 image (image/png)."),
        (
            format!("openai/mock-describe-{tag}"),
            "Saw 1 image (image/png, 70 bytes)",
        ),
        (
            format!("anthropic/mock-describe-{tag}"),
            "Saw 1 image (image/png, 70 bytes)",
        ),
        (
            format!("gemini/mock-describe-{tag}"),
            "Saw 1 image (image/png, 70 bytes)",
        ),
    ] {
        let conv = app.conversation(&user, &model).await;
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "what is in this picture?", "attachments": [png()]}),
            )
            .await;
        assert_eq!(sse.status, 200, "{model}: {:?}", sse.events);
        let listed = json!([{"type": "image", "media_type": "image/png", "size": 70}]);
        let created = &sse.events[0].2;
        assert_eq!(created["user_message"]["attachments"], listed, "{model}");
        assert!(sse.text().contains(expected), "{model}: {}", sse.text());
        if !model.starts_with("demo/") {
            let sent = last_sent(&format!("describe-{tag}"));
            assert!(
                sent.body.to_string().contains(PNG),
                "{model}: the image goes upstream: {}",
                sent.body
            );
        }

        // Listed with the message, small; the bytes from their own route.
        let items = messages(&app, &user, &conv).await;
        let (reply, sent) = (&items[0], &items[1]);
        assert_eq!(sent["attachments"], listed, "{model}");
        assert_eq!(reply["attachments"], json!([]), "{model}");
        assert!(!sent.to_string().contains(PNG), "the listing has no bytes");
        let at = |message: &Value, i: usize| {
            format!(
                "/api/conversations/{conv}/messages/{}/attachments/{i}",
                message["id"].as_str().unwrap()
            )
        };
        let resp = app.get(&at(sent, 0), Some(&user.token)).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(resp.headers()["content-type"], "image/png");
        assert_eq!(resp.headers()["cache-control"], "private");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), b64_decode(PNG).unwrap().as_slice());
        for missing in [at(sent, 1), at(reply, 0), at(sent, 0).replace("/0", "/x")] {
            let resp = app.get(&missing, Some(&user.token)).await;
            assert_problem(resp, 404, "not_found").await;
        }
    }
}

#[tokio::test]
async fn an_images_bytes_are_the_conversations_owners_alone_and_go_with_it() {
    let app = spawn_app().await;
    let owner = app.register("img-owner").await;
    let other = app.register("img-other").await;
    let conv = app.conversation(&owner, "demo/echo").await;
    let sse = app
        .chat(
            &owner.token,
            &conv,
            &json!({"content": "", "attachments": [png()]}),
        )
        .await;
    assert_eq!(sse.status, 200, "a message may be an image alone");
    assert!(sse.text().starts_with("You sent 1 image (image/png)."));
    let id = sse.events[0].2["user_message"]["id"].as_str().unwrap();
    let path = format!("/api/conversations/{conv}/messages/{id}/attachments/0");
    assert_eq!(app.get(&path, Some(&owner.token)).await.status(), 200);
    assert_problem(app.get(&path, Some(&other.token)).await, 404, "not_found").await;
    assert_eq!(app.get(&path, None).await.status(), 401);

    assert_eq!(
        app.delete(&format!("/api/conversations/{conv}"), Some(&owner.token))
            .await
            .status(),
        204
    );
    assert_problem(app.get(&path, Some(&owner.token)).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_next_turn_sends_the_image_again_with_the_history() {
    let app = spawn_app().await;
    let user = app.register("img-history").await;
    let tag = tag(&user);
    for provider in ["anthropic", "gemini", "openai"] {
        let conv = app
            .conversation(&user, &format!("{provider}/mock-describe-{tag}"))
            .await;
        let first = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "look", "attachments": [png(), png()]}),
            )
            .await;
        assert_eq!(first.status, 200, "{provider}: {:?}", first.events);
        let second = app
            .chat(&user.token, &conv, &json!({"content": "and now?"}))
            .await;
        assert_eq!(second.status, 200, "{provider}: {:?}", second.events);
        assert!(
            second
                .text()
                .contains("Saw 2 images (image/png, 70 bytes; image/png, 70 bytes)"),
            "{provider}: {}",
            second.text()
        );
        let body = last_sent(&format!("describe-{tag}")).body.to_string();
        assert_eq!(body.matches(PNG).count(), 2, "{provider}: {body}");
        assert!(body.contains("and now?"), "{provider}");
    }
}

#[tokio::test]
async fn a_forged_or_malformed_attachment_is_refused_by_name_and_nothing_is_kept() {
    let app = spawn_app().await;
    let user = app.register("img-forged").await;
    let conv = app.conversation(&user, "demo/echo").await;
    let gif = b64(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    let image = |media_type: &str, data: &str| json!({"type": "image", "media_type": media_type, "data": data});
    for (attachments, param) in [
        // The bytes are a GIF, whatever the client says.
        (
            json!([image("image/png", &gif)]),
            "attachments[0].media_type",
        ),
        (
            json!([png(), image("image/svg+xml", PNG)]),
            "attachments[1].media_type",
        ),
        (
            json!([image("image/png", "not base64 at all")]),
            "attachments[0].data",
        ),
        (
            json!([image("image/png", &b64(b"just some text"))]),
            "attachments[0].data",
        ),
        (
            json!([{"type": "file", "media_type": "image/png", "data": PNG}]),
            "attachments[0].type",
        ),
        (json!([png(), png(), png(), png(), png()]), "attachments"),
    ] {
        let resp = app
            .send_message(
                &user.token,
                &conv,
                &json!({"content": "hi", "attachments": attachments}),
            )
            .await;
        let body = assert_problem(resp, 400, "validation_failed").await;
        assert_eq!(body["param"], param, "{body}");
    }
    let resp = app
        .send_message(
            &user.token,
            &conv,
            &json!({"content": " ", "attachments": []}),
        )
        .await;
    let body = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(body["param"], "content");
    assert!(messages(&app, &user, &conv).await.is_empty());
}

#[tokio::test]
async fn images_up_to_the_cap_are_kept_whole_and_larger_ones_are_refused() {
    let app = spawn_app().await;
    let user = app.register("img-cap").await;
    let conv = app.conversation(&user, "demo/echo").await;
    // A PNG signature padded to exactly the cap: stored in several pieces, served back whole.
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.extend((0..MAX_IMAGE_BYTES - 8).map(|i| (i % 251) as u8));
    let at_cap = json!({"type": "image", "media_type": "image/png", "data": b64(&big)});
    let sse = app
        .chat(
            &user.token,
            &conv,
            &json!({"content": "four big ones", "attachments": [at_cap, at_cap, at_cap, at_cap]}),
        )
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events.first());
    assert!(sse.text().contains("You sent 4 images"), "{}", sse.text());
    let id = sse.events[0].2["user_message"]["id"].as_str().unwrap();
    let resp = app
        .get(
            &format!("/api/conversations/{conv}/messages/{id}/attachments/3"),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().as_ref() == big.as_slice());

    // One byte more is refused by name; a body past the route's limit is 413.
    big.push(0);
    let over = json!({"type": "image", "media_type": "image/png", "data": b64(&big)});
    let resp = app
        .send_message(
            &user.token,
            &conv,
            &json!({"content": "too big", "attachments": [over]}),
        )
        .await;
    let body = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(body["param"], "attachments[0].data");
    assert!(body["detail"].as_str().unwrap().contains("at most 3.0 MiB"));
    let padding = "x".repeat(18 * 1024 * 1024);
    let resp = app
        .send_message(&user.token, &conv, &json!({"content": padding}))
        .await;
    assert_problem(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn reasoning_streams_as_its_own_events_and_is_kept_with_the_reply() {
    let app = spawn_app().await;
    let user = app.register("reasoning").await;
    let tag = tag(&user);
    for model in [
        "demo/echo".to_owned(),
        format!("anthropic/mock-{tag}"),
        format!("gemini/mock-{tag}"),
    ] {
        let conv = app.conversation(&user, &model).await;
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "hello there", "reasoning_effort": "low"}),
            )
            .await;
        assert_eq!(sse.status, 200, "{model}: {:?}", sse.events);
        let thinking = reasoning_text(&sse);
        assert_eq!(thinking, "Thinking about: hello there", "{model}");
        // Reasoning first, then the answer; ids count the bytes of both.
        let names: Vec<&str> = sse.events.iter().map(|e| e.1.as_str()).collect();
        let first_delta = names.iter().position(|n| *n == "delta").unwrap();
        let last_reasoning = names.iter().rposition(|n| *n == "reasoning").unwrap();
        assert!(last_reasoning < first_delta, "{model}: {names:?}");
        let ids: Vec<usize> = sse.events.iter().map(|e| e.0.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{model}: {ids:?}");
        assert_eq!(
            *ids.last().unwrap(),
            thinking.len() + sse.text().len() + 1,
            "{model}"
        );
        let done = &sse.last().2["message"];
        assert_eq!(done["reasoning"], thinking, "{model}");
        assert_eq!(done["content"], sse.text(), "{model}");

        let items = messages(&app, &user, &conv).await;
        assert_eq!(items[0]["reasoning"], thinking, "{model}");
        assert!(items[1]["reasoning"].is_null());
        // The signature stays on the server.
        let listing = serde_json::to_string(&items).unwrap();
        assert!(!listing.contains("signature"), "{listing}");
        assert!(!listing.contains(&thinking_signature(&thinking)));

        // A reader coming back mid-reasoning gets exactly the rest, reasoning then text.
        let reply = items[0]["id"].as_str().unwrap();
        let resp = app
            .request(
                reqwest::Method::GET,
                &format!("/api/conversations/{conv}/messages/{reply}/stream"),
                Some(&user.token),
            )
            .header("last-event-id", "9")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let rest = crate::helpers::parse_sse(&resp.text().await.unwrap());
        assert_eq!(rest[0].1, "reasoning");
        assert_eq!(rest[0].2["text"], &thinking[9..]);
        assert_eq!(rest[1].1, "delta");
        assert_eq!(rest[1].2["text"], sse.text());
        assert_eq!(rest[2].1, "message.completed");
    }
}

#[tokio::test]
async fn a_reasoning_effort_is_asked_of_the_provider_and_checked() {
    let app = spawn_app().await;
    let user = app.register("effort").await;
    let tag = tag(&user);
    for (provider, pointer, want) in [
        ("openai", "/reasoning_effort", json!("high")),
        ("anthropic", "/output_config/effort", json!("high")),
        (
            "gemini",
            "/generationConfig/thinkingConfig/includeThoughts",
            json!(true),
        ),
    ] {
        let model = format!("{provider}/mock-effort{provider}-{tag}");
        let conv = app.conversation(&user, &model).await;
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "think", "reasoning_effort": "high"}),
            )
            .await;
        assert_eq!(sse.status, 200, "{model}: {:?}", sse.events);
        let sent = last_sent(&format!("effort{provider}-{tag}"));
        assert_eq!(
            sent.body.pointer(pointer),
            Some(&want),
            "{model}: {}",
            sent.body
        );
        // Without the option, nothing is asked.
        app.chat(&user.token, &conv, &json!({"content": "plain"}))
            .await;
        let sent = last_sent(&format!("effort{provider}-{tag}"));
        assert_eq!(sent.body.pointer(pointer), None, "{model}: {}", sent.body);
    }
    let conv = app.conversation(&user, "demo/echo").await;
    let resp = app
        .send_message(
            &user.token,
            &conv,
            &json!({"content": "hi", "reasoning_effort": "extreme"}),
        )
        .await;
    let body = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(body["param"], "reasoning_effort");
}

#[tokio::test]
async fn the_signature_goes_back_to_the_provider_that_wrote_it_and_to_no_other() {
    let app = spawn_app().await;
    let user = app.register("signature").await;
    let tag = tag(&user);
    let model = format!("anthropic/mock-{tag}");
    let conv = app.conversation(&user, &model).await;
    let ask = json!({"content": "hello there", "reasoning_effort": "low"});
    let first = app.chat(&user.token, &conv, &ask).await;
    assert_eq!(first.status, 200, "{:?}", first.events);
    // The mock answers 400 to thinking sent back without its signature, or with a wrong one.
    let second = app
        .chat(
            &user.token,
            &conv,
            &json!({"content": "and again", "reasoning_effort": "low"}),
        )
        .await;
    assert_eq!(second.status, 200, "{:?}", second.events);
    let sent = last_sent(&tag);
    let thinking = "Thinking about: hello there";
    assert_eq!(
        sent.body["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": thinking, "signature": thinking_signature(thinking)}),
        "{}",
        sent.body
    );

    // A conversation whose reasoning came from demo/echo, moved to Anthropic: demo's
    // signature means nothing there, and is not sent.
    let other = format!("anthropic/mock-moved-{tag}");
    let conv = app.conversation(&user, "demo/echo").await;
    let first = app.chat(&user.token, &conv, &ask).await;
    assert_eq!(first.status, 200);
    assert_eq!(reasoning_text(&first), thinking);
    let resp = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/conversations/{conv}"),
            Some(&user.token),
            &json!({"model": other}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let second = app
        .chat(
            &user.token,
            &conv,
            &json!({"content": "and again", "reasoning_effort": "low"}),
        )
        .await;
    assert_eq!(second.status, 200, "{:?}", second.events);
    let sent = last_sent(&format!("moved-{tag}"));
    assert_eq!(sent.body["messages"].as_array().unwrap().len(), 3);
    assert!(
        !sent.body["messages"].to_string().contains("\"thinking\""),
        "{}",
        sent.body
    );
    assert_eq!(reasoning_text(&second), "Thinking about: and again");
}
