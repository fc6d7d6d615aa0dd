//! Titles: a conversation nobody named is named after its first complete reply, by the org's
//! title model or its own, once; the title comes as `event: title` after the reply's end, is
//! metered, and never replaces a title set by hand.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, mock, spawn_app, TestApp, User};

async fn conversation(app: &TestApp, user: &User, body: Value) -> Value {
    let resp = app
        .post("/api/conversations", Some(&user.token), &body)
        .await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn get(app: &TestApp, user: &User, id: &str) -> Value {
    app.get(&format!("/api/conversations/{id}"), Some(&user.token))
        .await
        .json()
        .await
        .unwrap()
}

fn titles(events: &[(String, String, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.1 == "title")
        .map(|e| e.2.clone())
        .collect()
}

/// The number of requests the org's usage shows for `model`, once it reaches `want`.
async fn requests_reach(app: &TestApp, user: &User, model: &str, want: u64) -> u64 {
    let mut seen = 0;
    for _ in 0..100 {
        let page: Value = app
            .get(
                &format!("/api/orgs/{}/usage?group_by=model", user.personal_org),
                Some(&user.token),
            )
            .await
            .json()
            .await
            .unwrap();
        seen = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == model)
            .and_then(|r| r["requests"].as_u64())
            .unwrap_or(0);
        if seen >= want {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test]
async fn an_unnamed_conversation_is_named_once_after_its_first_reply_and_the_call_is_metered() {
    let app = spawn_app().await;
    let user = app.register("titles").await;
    let conv = conversation(&app, &user, json!({"model": "demo/echo"})).await;
    let id = conv["id"].as_str().unwrap();
    assert_eq!(conv["title_source"], "default");

    let sse = app
        .chat(
            &user.token,
            id,
            &json!({"content": "Plan a trip to Lisbon"}),
        )
        .await;
    assert_eq!(sse.status, 200);
    let names: Vec<&str> = sse.events.iter().map(|e| e.1.as_str()).collect();
    let completed = names
        .iter()
        .position(|n| *n == "message.completed")
        .unwrap();
    assert_eq!(
        names[completed + 1..],
        ["title"],
        "the title follows the reply's end: {names:?}"
    );
    assert_eq!(
        titles(&sse.events),
        vec![json!({"title": "You said: Plan a trip to Lisbon"})],
        "demo/echo names it deterministically"
    );
    let stored = get(&app, &user, id).await;
    assert_eq!(stored["title"], "You said: Plan a trip to Lisbon");
    assert_eq!(stored["title_source"], "generated");
    assert_eq!(
        requests_reach(&app, &user, "demo/echo", 2).await,
        2,
        "the reply and the title call are both metered"
    );

    let again = app
        .chat(&user.token, id, &json!({"content": "And Porto?"}))
        .await;
    assert_eq!(again.status, 200);
    assert!(titles(&again.events).is_empty(), "named once");
    assert_eq!(
        get(&app, &user, id).await["title"],
        "You said: Plan a trip to Lisbon"
    );
    assert_eq!(requests_reach(&app, &user, "demo/echo", 3).await, 3);
}

#[tokio::test]
async fn the_orgs_title_model_names_conversations_and_must_be_a_valid_enabled_model() {
    let app = spawn_app().await;
    let user = app.register("titlemodel").await;
    let org = format!("/api/orgs/{}", user.personal_org);
    for bad in [json!("gpt-4o-mini"), json!(""), json!(7)] {
        let resp = app
            .send_json(
                Method::PATCH,
                &org,
                Some(&user.token),
                &json!({"settings": {"title_model": bad}}),
            )
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    let resp = app
        .send_json(
            Method::PATCH,
            &org,
            Some(&user.token),
            &json!({"settings": {"enabled_models": ["demo/echo"], "title_model": "openai/gpt-4o-mini"}}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    let resp = app
        .send_json(
            Method::PATCH,
            &org,
            Some(&user.token),
            &json!({"settings": {"title_model": "openai/gpt-4o-mini"}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["settings"]["title_model"], "openai/gpt-4o-mini");

    let conv = conversation(&app, &user, json!({"model": "demo/echo"})).await;
    let id = conv["id"].as_str().unwrap();
    let marker = format!("titlemodel{}", app.n);
    let sse = app
        .chat(
            &user.token,
            id,
            &json!({"content": format!("Name {marker} please")}),
        )
        .await;
    let title = titles(&sse.events);
    assert_eq!(title.len(), 1, "{:?}", sse.events);
    assert_eq!(
        title[0]["title"],
        format!("Echo: Name {marker} please"),
        "the mock's answer"
    );
    let asked = mock()
        .requests()
        .into_iter()
        .find(|r| r.body.to_string().contains(&marker))
        .expect("the title model was asked");
    assert_eq!(asked.body["model"], "gpt-4o-mini");
    assert!(asked.body.to_string().contains("title"), "{}", asked.body);
    assert_eq!(
        requests_reach(&app, &user, "openai/gpt-4o-mini", 1).await,
        1
    );
}

#[tokio::test]
async fn a_title_set_by_hand_is_never_overwritten() {
    let app = spawn_app().await;
    let user = app.register("titlehand").await;
    let named = conversation(&app, &user, json!({"model": "demo/echo", "title": "Mine"})).await;
    assert_eq!(named["title_source"], "user");
    let renamed = conversation(&app, &user, json!({"model": "demo/echo"})).await;
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/conversations/{}", renamed["id"].as_str().unwrap()),
            Some(&user.token),
            &json!({"title": "Renamed"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    for (conv, want) in [(&named, "Mine"), (&renamed, "Renamed")] {
        let id = conv["id"].as_str().unwrap();
        let sse = app
            .chat(&user.token, id, &json!({"content": "hello"}))
            .await;
        assert_eq!(sse.status, 200);
        assert!(titles(&sse.events).is_empty(), "{want}");
        let stored = get(&app, &user, id).await;
        assert_eq!(stored["title"], want);
        assert_eq!(stored["title_source"], "user");
    }
    // A model change keeps a generated title.
    let auto = conversation(&app, &user, json!({"model": "demo/echo"})).await;
    let id = auto["id"].as_str().unwrap();
    app.chat(&user.token, id, &json!({"content": "Generated here"}))
        .await;
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/conversations/{id}"),
            Some(&user.token),
            &json!({"model": "openai/gpt-4o-mini"}),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["title"], "You said: Generated here");
    assert_eq!(body["title_source"], "generated");
}
