//! Export of a conversation (JSON, Markdown) and import of chatgate's own export and of
//! ChatGPT's conversations.json.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};

const CHATGPT: &str = include_str!("../fixtures/chatgpt_conversations_branched.json");

async fn import(app: &TestApp, user: &User, body: &str) -> reqwest::Response {
    app.request(Method::POST, "/api/imports", Some(&user.token))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The newest page of a conversation's current branch, newest first.
async fn page(app: &TestApp, user: &User, id: &str) -> Value {
    app.get(
        &format!("/api/conversations/{id}/messages?limit=100"),
        Some(&user.token),
    )
    .await
    .json()
    .await
    .unwrap()
}

/// `(role, content)` of a conversation's messages, oldest first.
async fn history(app: &TestApp, user: &User, id: &str) -> Vec<(String, String)> {
    let page = page(app, user, id).await;
    let mut items: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    items.reverse();
    items
}

#[tokio::test]
async fn a_branched_chatgpt_export_imports_its_tree_at_the_branch_last_seen_and_reports_what_it_skipped(
) {
    let app = spawn_app().await;
    let user = app.register("importer").await;
    let resp = import(&app, &user, CHATGPT).await;
    assert_eq!(resp.status(), 201);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["imported"], 1, "{report}");
    let id = report["conversations"][0]["id"].as_str().unwrap();
    let reasons: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    for want in [
        "system messages (1)",
        "tool messages (1)",
        "non-text parts (`image_asset_pointer`) (1)",
        "no message with text to import",
    ] {
        assert!(reasons.contains(&want), "{want} in {reasons:?}");
    }

    let conv: Value = app
        .get(&format!("/api/conversations/{id}"), Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conv["title"], "Branching soup");
    assert_eq!(
        history(&app, &user, id).await,
        [
            ("user".into(), "How do I make a soup?".into()),
            ("assistant".into(), "Boil water, add vegetables.".into()),
            ("user".into(), "Make it a spicy one, please.".into()),
            ("assistant".into(), "Add chili.\n\nAnd ginger.".into()),
        ]
    );
    // The other edit of the second question is there too, one arrow away.
    let page = page(&app, &user, id).await;
    let spicy = &page["items"][1];
    assert_eq!(spicy["content"], "Make it a spicy one, please.");
    assert_eq!(spicy["sibling_count"], 2, "{page}");
    let sweet = spicy["previous_sibling_id"].as_str().unwrap();
    let resp = app
        .request(
            Method::PUT,
            &format!("/api/conversations/{id}/leaf"),
            Some(&user.token),
        )
        .json(&json!({ "message_id": sweet }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        history(&app, &user, id).await,
        [
            ("user".into(), "How do I make a soup?".into()),
            ("assistant".into(), "Boil water, add vegetables.".into()),
            ("user".into(), "Make it a sweet one.".into()),
            ("assistant".into(), "Add sugar.".into()),
        ],
        "the newest reply under the other edit"
    );
    assert_eq!(report["conversations"][0]["messages"], 6);

    // Searchable at once, and the conversation goes on as any other.
    let found: Value = app
        .request(Method::GET, "/api/search", Some(&user.token))
        .query(&[("q", "ginger")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["conversation_id"], id, "{found}");
    let sse = app
        .chat(&user.token, id, &json!({"content": "more?"}))
        .await;
    assert_eq!(sse.status, 200);
    assert_eq!(history(&app, &user, id).await.len(), 6);
}

#[tokio::test]
async fn an_export_downloads_as_json_or_markdown_and_the_json_imports_back() {
    let app = spawn_app().await;
    let user = app.register("exporter").await;
    let id = app.conversation(&user, "demo/echo").await;
    let sse = app
        .chat(&user.token, &id, &json!({"content": "export **me**"}))
        .await;
    assert_eq!(sse.status, 200);

    let resp = app
        .get(
            &format!("/api/conversations/{id}/export"),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"chatgate-{id}.json\"")
    );
    let exported = resp.text().await.unwrap();
    let doc: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(doc["format"], "chatgate.conversation");
    assert_eq!(doc["conversation"]["id"], id.as_str());
    assert_eq!(doc["messages"][0]["content"], "export **me**");
    assert_eq!(doc["messages"].as_array().unwrap().len(), 2);

    let resp = app
        .get(
            &format!("/api/conversations/{id}/export?format=markdown"),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".md\""));
    let md = resp.text().await.unwrap();
    assert!(md.contains("## User\n\nexport **me**\n"), "{md}");
    assert!(md.contains("## Assistant (demo/echo)"), "{md}");

    let resp = import(&app, &user, &exported).await;
    assert_eq!(resp.status(), 201);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["skipped"], json!([]));
    let copy = report["conversations"][0]["id"].as_str().unwrap();
    assert_ne!(copy, id);
    assert_eq!(
        history(&app, &user, copy).await,
        history(&app, &user, &id).await
    );

    let other = app.register("not-exporter").await;
    assert_problem(
        app.get(
            &format!("/api/conversations/{id}/export"),
            Some(&other.token),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/conversations/{id}/export?format=xml"),
            Some(&user.token),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn an_import_that_is_neither_format_is_a_400_and_one_over_the_cap_a_413() {
    let app = spawn_app().await;
    let user = app.register("bad-importer").await;
    for body in [
        "not json",
        "{}",
        "[]",
        "[1]",
        r#"{"format": "chatgate.conversation"}"#,
        r#"[{"title": "x"}]"#,
    ] {
        let resp = import(&app, &user, body).await;
        if body == r#"{"format": "chatgate.conversation"}"# {
            // Recognised, but nothing in it: imported nothing, said why.
            assert_eq!(resp.status(), 201, "{body}");
            let report: Value = resp.json().await.unwrap();
            assert_eq!(report["imported"], 0);
            assert_eq!(report["skipped"][0]["reason"], "no `messages` list");
            continue;
        }
        assert_problem(resp, 400, "validation_failed").await;
    }
    let huge = format!("[\"{}\"]", "a".repeat(8 * 1024 * 1024));
    assert_problem(import(&app, &user, &huge).await, 413, "payload_too_large").await;
    let resp = app
        .request(Method::POST, "/api/imports", Some(&user.token))
        .header("content-type", "text/plain")
        .body(CHATGPT)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
    let list: Value = app
        .get("/api/conversations", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"],
        json!([]),
        "nothing imported by a refused body"
    );
}
