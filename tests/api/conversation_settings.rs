//! A conversation's model settings (temperature, max_tokens, reasoning_effort): validated for
//! its model's provider, kept, and sent upstream with each reply.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, mock, spawn_app};

#[tokio::test]
async fn a_conversations_settings_are_checked_for_its_provider_and_go_upstream() {
    let app = spawn_app().await;
    let user = app.register("convsettings").await;
    for (body, param) in [
        (
            json!({"model": "openai/gpt-4o-mini", "temperature": 3}),
            "temperature",
        ),
        (
            json!({"model": "openai/gpt-4o-mini", "temperature": -0.5}),
            "temperature",
        ),
        (
            json!({"model": "anthropic/claude-x", "temperature": 1.5}),
            "temperature",
        ),
        (
            json!({"model": "openai/gpt-4o-mini", "max_tokens": 0}),
            "max_tokens",
        ),
        (
            json!({"model": "openai/gpt-4o-mini", "reasoning_effort": "extreme"}),
            "reasoning_effort",
        ),
    ] {
        let resp = app
            .post("/api/conversations", Some(&user.token), &body)
            .await;
        let problem = assert_problem(resp, 400, "validation_failed").await;
        assert_eq!(problem["param"], param, "{body}: {problem}");
    }
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({"model": "openai/gpt-4o-mini", "title": "Settings", "temperature": 1.5,
                    "max_tokens": 55, "reasoning_effort": "low"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let conv: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            &conv["temperature"],
            &conv["max_tokens"],
            &conv["reasoning_effort"]
        ),
        (&json!(1.5), &json!(55), &json!("low"))
    );
    let id = conv["id"].as_str().unwrap();
    let path = format!("/api/conversations/{id}");

    // A model its settings do not fit is refused, and nothing changes.
    let resp = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.token),
            &json!({"model": "anthropic/claude-x"}),
        )
        .await;
    let problem = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(problem["param"], "temperature");
    let kept: Value = app
        .get(&path, Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["model"], "openai/gpt-4o-mini");

    let marker = format!("settings{}", app.n);
    let sse = app
        .chat(&user.token, id, &json!({"content": marker.clone()}))
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    let sent = mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.body.to_string().contains(&marker))
        .expect("the reply reached the mock");
    assert_eq!(sent.body["temperature"], json!(1.5), "{}", sent.body);
    assert_eq!(
        sent.body["max_completion_tokens"],
        json!(55),
        "{}",
        sent.body
    );
    assert_eq!(sent.body["reasoning_effort"], json!("low"), "{}", sent.body);

    // null clears a setting; a send's own max_tokens wins over the conversation's.
    let resp = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.token),
            &json!({"temperature": null, "reasoning_effort": null}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let cleared: Value = resp.json().await.unwrap();
    assert_eq!(cleared["temperature"], Value::Null);
    assert_eq!(cleared["max_tokens"], 55);
    let again = format!("again{}", app.n);
    app.chat(
        &user.token,
        id,
        &json!({"content": again.clone(), "max_tokens": 12}),
    )
    .await;
    let sent = mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.body.to_string().contains(&again))
        .unwrap();
    assert_eq!(sent.body.get("temperature"), None, "{}", sent.body);
    assert_eq!(sent.body.get("reasoning_effort"), None, "{}", sent.body);
    assert_eq!(sent.body["max_completion_tokens"], json!(12));
}
