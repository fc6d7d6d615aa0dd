//! Branches: edits and regenerations make the messages a tree; the history sent upstream is
//! the branch being answered; the current branch can be switched and pages back with each
//! message's place among its siblings.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, mock, own_state_dir, spawn_app, OwnServer, TestApp, User};

const MODEL: &str = "openai/gpt-4o-mini";

/// The texts of the messages of the last request that reached the mock with `marker` in
/// its newest message, oldest first (the system prompt left out).
fn sent_history(marker: &str) -> Vec<String> {
    sent(marker).1
}

/// The model and the message texts of the last request with `marker` in its newest message.
fn sent(marker: &str) -> (String, Vec<String>) {
    let text = |m: &Value| match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    let request = mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r.body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .is_some_and(|m| text(m).contains(marker))
        })
        .unwrap_or_else(|| panic!("no request with {marker} reached the mock"));
    let texts = request.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(text)
        .collect();
    (
        request.body["model"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        texts,
    )
}

/// Sends `content` (under `parent` when given: an id or null) and returns the new user
/// message and the completed reply.
async fn send(
    app: &TestApp,
    user: &User,
    conv: &str,
    content: &str,
    parent: Option<Value>,
) -> (Value, Value) {
    let mut body = json!({ "content": content });
    if let Some(p) = parent {
        body["parent_id"] = p;
    }
    let sse = app.chat(&user.token, conv, &body).await;
    assert_eq!(sse.status, 200, "{content}: {:?}", sse.events);
    ends(&sse.events)
}

fn ends(events: &[(String, String, Value)]) -> (Value, Value) {
    let created = events
        .iter()
        .find(|e| e.1 == "message.created")
        .expect("message.created");
    let done = events
        .iter()
        .find(|e| e.1 == "message.completed")
        .expect("message.completed");
    (created.2["user_message"].clone(), done.2["message"].clone())
}

async fn regenerate(
    app: &TestApp,
    user: &User,
    conv: &str,
    reply: &Value,
    body: Value,
) -> (Value, Value) {
    let resp = app
        .post(
            &format!(
                "/api/conversations/{conv}/messages/{}/regenerate",
                reply["id"].as_str().unwrap()
            ),
            Some(&user.token),
            &body,
        )
        .await;
    assert_eq!(resp.status(), 200);
    ends(&crate::helpers::parse_sse(&resp.text().await.unwrap()))
}

/// The current branch, newest first.
async fn branch(app: &TestApp, user: &User, conv: &str) -> Vec<Value> {
    let page: Value = app
        .get(
            &format!("/api/conversations/{conv}/messages?limit=100"),
            Some(&user.token),
        )
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

fn contents(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

async fn switch(app: &TestApp, user: &User, conv: &str, message: &Value) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/conversations/{conv}/leaf"),
        Some(&user.token),
    )
    .json(&json!({ "message_id": message["id"] }))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn edits_and_regenerations_send_their_own_branch_upstream_and_switching_shows_it() {
    let app = spawn_app().await;
    let user = app.register("branches").await;
    let conv = app.conversation(&user, MODEL).await;
    let tag = format!("b{}", app.n);
    let one = format!("{tag} one");
    let two = format!("{tag} two");
    let (u1, a1) = send(&app, &user, &conv, &one, None).await;
    let (u2, a2) = send(&app, &user, &conv, &two, None).await;
    assert_eq!(
        u2["parent_id"], a1["id"],
        "a send continues the current branch"
    );
    assert_eq!(a2["parent_id"], u2["id"]);
    let a1_text = a1["content"].as_str().unwrap().to_string();
    let a2_text = a2["content"].as_str().unwrap().to_string();

    // An edit of the second message: a sibling of it, under the first reply.
    let edited = format!("{tag} two edited");
    let (u2e, a2e) = send(&app, &user, &conv, &edited, Some(a1["id"].clone())).await;
    assert_eq!(
        sent_history(&edited),
        vec![one.clone(), a1_text.clone(), edited.clone()],
        "the edit's history leaves the message it replaces out"
    );
    assert_eq!(
        (u2e["sibling_count"].as_u64(), u2e["sibling_index"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        u2e["previous_sibling_id"], u2["id"],
        "message.created places the edit"
    );
    let items = branch(&app, &user, &conv).await;
    assert_eq!(
        contents(&items),
        vec![a2e["content"].as_str().unwrap(), &edited, &a1_text, &one],
        "the current branch is the edit's"
    );
    let places: Vec<(u64, u64)> = items
        .iter()
        .map(|m| {
            (
                m["sibling_count"].as_u64().unwrap(),
                m["sibling_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(places, vec![(1, 0), (2, 1), (1, 0), (1, 0)]);
    assert_eq!(items[1]["previous_sibling_id"], u2["id"]);
    assert_eq!(items[1]["next_sibling_id"], Value::Null);

    // Regenerating the first reply, with another model: only the first message goes up.
    let (asked, a1r) = regenerate(
        &app,
        &user,
        &conv,
        &a1,
        json!({"model": "openai/gpt-4.1-mini"}),
    )
    .await;
    assert_eq!(
        asked["id"], u1["id"],
        "message.created names the message answered again"
    );
    assert_eq!(a1r["parent_id"], u1["id"]);
    assert_eq!(a1r["model"], "openai/gpt-4.1-mini");
    assert_eq!(
        (a1r["sibling_count"].as_u64(), a1r["sibling_index"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(sent(&one), ("gpt-4.1-mini".to_string(), vec![one.clone()]));
    assert_eq!(
        branch(&app, &user, &conv).await.len(),
        2,
        "the new reply is the leaf"
    );

    // Sending now continues the regenerated reply's branch.
    let three = format!("{tag} three");
    let a1r_text = a1r["content"].as_str().unwrap().to_string();
    send(&app, &user, &conv, &three, None).await;
    assert_eq!(
        sent_history(&three),
        vec![one.clone(), a1r_text, three.clone()]
    );

    // Switching to the first reply shows the newest branch below it: the edit's.
    let resp = switch(&app, &user, &conv, &a1).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["leaf_id"], a2e["id"]);
    assert_eq!(contents(&branch(&app, &user, &conv).await)[1], edited);

    // Switching to the original second message brings its reply back; a send continues it.
    switch(&app, &user, &conv, &u2).await;
    let items = branch(&app, &user, &conv).await;
    assert_eq!(
        contents(&items),
        vec![a2_text.clone(), two.clone(), a1_text.clone(), one.clone()]
    );
    assert_eq!(items[1]["sibling_index"], 0);
    assert_eq!(
        items[1]["next_sibling_id"], u2e["id"],
        "the arrows lead to the edit"
    );
    assert_eq!(items[1]["previous_sibling_id"], Value::Null);
    let four = format!("{tag} four");
    send(&app, &user, &conv, &four, None).await;
    assert_eq!(
        sent_history(&four),
        vec![one.clone(), a1_text, two, a2_text, four]
    );

    // Editing the first message (parent null) starts again from nothing.
    let root = format!("{tag} root");
    let (u_root, _) = send(&app, &user, &conv, &root, Some(Value::Null)).await;
    assert_eq!(u_root["parent_id"], Value::Null);
    assert_eq!(sent_history(&root), vec![root.clone()]);
    let items = branch(&app, &user, &conv).await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            items[1]["sibling_count"].as_u64(),
            items[1]["sibling_index"].as_u64()
        ),
        (Some(2), Some(1))
    );

    // Pages follow the branch: one message at a time, then the end.
    switch(&app, &user, &conv, &u2e).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/conversations/{conv}/messages?limit=1&cursor={c}"),
            None => format!("/api/conversations/{conv}/messages?limit=1"),
        };
        let page: Value = app
            .get(&path, Some(&user.token))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(contents(page["items"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[1], edited);
    assert_eq!(seen[3], one);
}

#[tokio::test]
async fn a_parent_or_message_that_does_not_fit_the_tree_is_refused() {
    let app = spawn_app().await;
    let user = app.register("branchbad").await;
    let conv = app.conversation(&user, "demo/echo").await;
    let other = app.conversation(&user, "demo/echo").await;
    let (u1, a1) = send(&app, &user, &conv, "hello", None).await;
    let (_, elsewhere) = send(&app, &user, &other, "elsewhere", None).await;

    for (parent, why) in [
        (json!("msg_nothing"), "no such message"),
        (elsewhere["id"].clone(), "another conversation's reply"),
        (u1["id"].clone(), "a user message"),
        (json!(42), "not a string"),
    ] {
        let resp = app
            .send_message(
                &user.token,
                &conv,
                &json!({"content": "x", "parent_id": parent}),
            )
            .await;
        let body = assert_problem(resp, 400, "validation_failed").await;
        if why != "not a string" {
            assert_eq!(body["param"], "parent_id", "{why}: {body}");
        }
    }
    let regen = |id: &Value| {
        format!(
            "/api/conversations/{conv}/messages/{}/regenerate",
            id.as_str().unwrap()
        )
    };
    assert_problem(
        app.post(&regen(&json!("msg_nothing")), Some(&user.token), &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(&regen(&elsewhere["id"]), Some(&user.token), &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(&regen(&u1["id"]), Some(&user.token), &json!({}))
            .await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post(
            &regen(&a1["id"]),
            Some(&user.token),
            &json!({"temperature": 1}),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        switch(&app, &user, &conv, &elsewhere).await,
        400,
        "validation_failed",
    )
    .await;

    let stranger = app.register("branchstranger").await;
    assert_problem(
        app.post(&regen(&a1["id"]), Some(&stranger.token), &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(switch(&app, &stranger, &conv, &a1).await, 404, "not_found").await;
    // Nothing refused changed the branch.
    assert_eq!(branch(&app, &user, &conv).await.len(), 2);
}

#[tokio::test]
async fn a_regeneration_while_a_reply_streams_is_a_conflict() {
    let app = spawn_app().await;
    let user = app.register("branchbusy").await;
    let conv = app.conversation(&user, MODEL).await;
    let (_, a1) = send(&app, &user, &conv, "first", None).await;
    let slow = app
        .send_message(
            &user.token,
            &conv,
            &json!({"content": "second", "model": "openai/mock-tokens-40-delay-25"}),
        )
        .await;
    let mut reader = crate::helpers::SseReader::new(slow);
    reader.next_event().await.unwrap();
    let path = format!(
        "/api/conversations/{conv}/messages/{}/regenerate",
        a1["id"].as_str().unwrap()
    );
    assert_problem(
        app.post(&path, Some(&user.token), &json!({})).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(switch(&app, &user, &conv, &a1).await, 409, "conflict").await;
    assert_eq!(reader.rest().await.last().unwrap().1, "message.completed");
}

#[tokio::test]
async fn a_conversation_from_before_branches_becomes_a_single_branch() {
    let state = own_state_dir("legacy-tree");
    let own = OwnServer::spawn(&state, &[]).await;
    let mut app = spawn_app().await;
    app.base = own.base.clone();
    let user = app.register("legacy").await;
    let conv = app.conversation(&user, "demo/echo").await;
    for text in ["one", "two", "three"] {
        send(&app, &user, &conv, text, None).await;
    }
    own.shut_down().await;
    // The object's storage as it was before branches: no parent links, no leaf.
    let script = format!(
        r#"
import glob, sqlite3
for path in glob.glob("{dir}/v3/do/*-Conversation/*.sqlite"):
    db = sqlite3.connect(path)
    try:
        if db.execute("SELECT name FROM __miniflare_do_name").fetchone()[0] != "{conv}":
            continue
    except sqlite3.Error:
        continue
    db.execute("DROP INDEX messages_by_parent")
    db.execute("ALTER TABLE messages DROP COLUMN parent_id")
    db.execute("DROP TABLE tree_state")
    db.commit()
    print("done")
"#,
        dir = state.display()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "done",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let own = OwnServer::spawn(&state, &[]).await;
    app.base = own.base.clone();
    let items = branch(&app, &user, &conv).await;
    assert_eq!(items.len(), 6, "{items:?}");
    for pair in items.windows(2) {
        assert_eq!(
            pair[0]["parent_id"], pair[1]["id"],
            "each message follows the one before"
        );
        assert_eq!(pair[0]["sibling_count"], 1);
    }
    assert_eq!(items[5]["parent_id"], Value::Null);
    assert_eq!(items[5]["content"], "one");
    let (u4, _) = send(&app, &user, &conv, "four", None).await;
    assert_eq!(
        u4["parent_id"], items[0]["id"],
        "a send continues the old line"
    );
    let (edit, _) = send(
        &app,
        &user,
        &conv,
        "two again",
        Some(items[4]["id"].clone()),
    )
    .await;
    assert_eq!(
        (
            edit["sibling_count"].as_u64(),
            edit["sibling_index"].as_u64()
        ),
        (Some(2), Some(1))
    );
    own.shut_down().await;
}
