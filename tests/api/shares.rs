//! Share links: a snapshot anyone with the link reads without an account, revocable, dead with
//! its conversation.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};
use crate::orgs::{create_org, join};

/// A conversation of `user` (in `org` if given) with one exchange per text, echoed by demo/echo.
async fn conversation(app: &TestApp, user: &User, org: Option<&str>, texts: &[&str]) -> String {
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({"model": "demo/echo", "title": "Shared plans", "org_id": org}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for text in texts {
        let sse = app
            .chat(&user.token, &id, &json!({ "content": text }))
            .await;
        assert_eq!(sse.status, 200, "{:?}", sse.events);
    }
    id
}

async fn share(app: &TestApp, user: &User, conversation: &str, body: Value) -> reqwest::Response {
    app.post(
        &format!("/api/conversations/{conversation}/shares"),
        Some(&user.token),
        &body,
    )
    .await
}

/// Makes a link; its id.
async fn shared(app: &TestApp, user: &User, conversation: &str) -> String {
    let resp = share(app, user, conversation, json!({})).await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn read(app: &TestApp, id: &str) -> reqwest::Response {
    // No credential at all: a stranger's browser.
    app.get(&format!("/api/shares/{id}"), None).await
}

#[tokio::test]
async fn a_share_link_is_readable_without_an_account_and_never_shows_later_messages() {
    let app = spawn_app().await;
    let user = app.register("sharer").await;
    let conv = conversation(&app, &user, None, &["first question"]).await;
    let resp = share(&app, &user, &conv, json!({})).await;
    assert_eq!(resp.status(), 201);
    let made: Value = resp.json().await.unwrap();
    let id = made["id"].as_str().unwrap();
    let token = id.strip_prefix("shr_").unwrap();
    assert!(token.len() >= 22, "at least 128 random bits: {id}");
    assert!(
        made["url"].as_str().unwrap().ends_with(&format!("/s/{id}")),
        "{made}"
    );

    let resp = read(&app, id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-robots-tag"], "noindex, nofollow");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let snap: Value = resp.json().await.unwrap();
    assert_eq!(snap["title"], "Shared plans");
    let messages = snap["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{snap}");
    assert_eq!(
        messages[0],
        json!({"role": "user", "content": "first question", "model": null})
    );
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["model"], "demo/echo");
    assert!(messages[1]["content"]
        .as_str()
        .unwrap()
        .contains("first question"));

    let sse = app
        .chat(&user.token, &conv, &json!({"content": "a later secret"}))
        .await;
    assert_eq!(sse.status, 200);
    let again = read(&app, id).await.text().await.unwrap();
    assert!(!again.contains("later secret"), "a snapshot: {again}");
}

#[tokio::test]
async fn a_share_up_to_a_message_ends_there_and_an_unknown_message_is_a_400() {
    let app = spawn_app().await;
    let user = app.register("sharer-upto").await;
    let conv = conversation(&app, &user, None, &["one", "two"]).await;
    let history: Value = app
        .get(
            &format!("/api/conversations/{conv}/messages"),
            Some(&user.token),
        )
        .await
        .json()
        .await
        .unwrap();
    // Newest first: the second reply, "two", the first reply, "one".
    let first_reply = history["items"][2]["id"].as_str().unwrap();
    let resp = share(
        &app,
        &user,
        &conv,
        json!({ "up_to_message_id": first_reply }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let snap: Value = read(&app, &id).await.json().await.unwrap();
    let roles: Vec<&str> = snap["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert!(!snap.to_string().contains("two"), "{snap}");

    let body = assert_problem(
        share(&app, &user, &conv, json!({"up_to_message_id": "msg_nope"})).await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(body["param"], "up_to_message_id");
    assert_problem(
        share(&app, &user, &conv, json!({"up_to": "x"})).await,
        400,
        "validation_failed",
    )
    .await;
    let empty = app.conversation(&user, "demo/echo").await;
    assert_problem(
        share(&app, &user, &empty, json!({})).await,
        400,
        "validation_failed",
    )
    .await;
    let stranger = app.register("not-the-owner").await;
    assert_problem(
        share(&app, &stranger, &conv, json!({})).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_revoked_link_is_404_and_only_its_owner_can_revoke_it() {
    let app = spawn_app().await;
    let user = app.register("revoker").await;
    let other = app.register("other-revoker").await;
    let conv = conversation(&app, &user, None, &["hello"]).await;
    let id = shared(&app, &user, &conv).await;

    let mine: Value = app
        .get("/api/me/shares", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["id"], id.as_str(), "{mine}");
    assert_eq!(mine["items"][0]["conversation_id"], conv.as_str());
    assert_eq!(mine["items"][0]["message_count"], 2);
    let theirs: Value = app
        .get("/api/me/shares", Some(&other.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]));

    assert_problem(
        app.delete(&format!("/api/shares/{id}"), Some(&other.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(read(&app, &id).await.status(), 200, "still live");
    assert_eq!(
        app.delete(&format!("/api/shares/{id}"), Some(&user.token))
            .await
            .status(),
        204
    );
    assert_problem(read(&app, &id).await, 404, "not_found").await;
    assert_eq!(
        app.delete(&format!("/api/shares/{id}"), Some(&user.token))
            .await
            .status(),
        404
    );
    assert_eq!(app.delete("/api/shares/x", None).await.status(), 401);
    assert_problem(read(&app, "shr_unknown").await, 404, "not_found").await;
}

#[tokio::test]
async fn deleting_the_conversation_or_leaving_its_org_kills_its_links() {
    let app = spawn_app().await;
    let user = app.register("deleter").await;
    let conv = conversation(&app, &user, None, &["hello"]).await;
    let (a, b) = (
        shared(&app, &user, &conv).await,
        shared(&app, &user, &conv).await,
    );
    assert_eq!(
        app.delete(&format!("/api/conversations/{conv}"), Some(&user.token))
            .await
            .status(),
        204
    );
    for id in [&a, &b] {
        assert_problem(read(&app, id).await, 404, "not_found").await;
    }
    let mine: Value = app
        .get("/api/me/shares", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"], json!([]));

    let owner = app.register("org-owner").await;
    let org = create_org(&app, &owner, "Sharing team").await;
    join(&app, &owner, &org, &user, "member").await;
    let in_org = conversation(&app, &user, Some(&org), &["team talk"]).await;
    let id = shared(&app, &user, &in_org).await;
    assert_eq!(read(&app, &id).await.status(), 200);
    let resp = app
        .delete(
            &format!("/api/orgs/{org}/members/{}", user.id),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_problem(read(&app, &id).await, 404, "not_found").await;
}

/// A conversation whose first message carries an inline image and an uploaded PDF.
async fn with_attachments(app: &TestApp, user: &User) -> (String, Vec<u8>) {
    let id = conversation(app, user, None, &[]).await;
    let pdf = crate::files::pdf("shared");
    let file = crate::files::upload(app, user, "plan.pdf", pdf.clone()).await;
    let sse = app
        .chat(
            &user.token,
            &id,
            &json!({"content": "see these", "attachments": [
                {"type": "image", "media_type": "image/png", "data": crate::files::PNG},
                file["id"],
            ]}),
        )
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    (id, pdf)
}

#[tokio::test]
async fn a_share_shows_attachments_only_when_its_owner_includes_them() {
    let app = spawn_app().await;
    let user = app.register("attach-sharer").await;
    let (conv, pdf) = with_attachments(&app, &user).await;

    // Without them: the text only, and no way to the bytes.
    let plain = shared(&app, &user, &conv).await;
    let snap: Value = read(&app, &plain).await.json().await.unwrap();
    assert_eq!(snap["messages"][0]["content"], "see these");
    assert!(snap["messages"][0].get("attachments").is_none(), "{snap}");
    let resp = app
        .get(&format!("/api/shares/{plain}/attachments/0"), None)
        .await;
    assert_eq!(resp.status(), 404);

    // With them: each listed, readable by a stranger, bytes as sent.
    let resp = share(&app, &user, &conv, json!({"include_attachments": true})).await;
    assert_eq!(resp.status(), 201);
    let with = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let snap: Value = read(&app, &with).await.json().await.unwrap();
    let listed = snap["messages"][0]["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{snap}");
    assert_eq!(listed[0]["type"], "image");
    assert_eq!(listed[1]["name"], "plan.pdf");
    assert!(
        listed.iter().all(|a| a.get("file_id").is_none()),
        "a file's own id stays private: {snap}"
    );
    let mut bodies = Vec::new();
    for a in listed {
        let url = a["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("/api/shares/{with}/attachments/")));
        let resp = app.get(url, None).await;
        assert_eq!(resp.status(), 200, "{url}");
        assert_eq!(
            resp.headers()["content-type"],
            a["media_type"].as_str().unwrap()
        );
        assert_eq!(resp.headers()["x-robots-tag"], "noindex, nofollow");
        bodies.push(resp.bytes().await.unwrap().to_vec());
    }
    assert_eq!(
        bodies[0],
        chatgate::crypto::b64_decode(crate::files::PNG).unwrap()
    );
    assert_eq!(bodies[1], pdf);
    let mine: Value = app
        .get("/api/me/shares", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    let flags: Vec<&Value> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["include_attachments"])
        .collect();
    assert_eq!(flags, [&json!(true), &json!(false)], "{mine}");

    // An index the share does not have, and a revoked share: 404.
    for path in [
        format!("/api/shares/{with}/attachments/2"),
        format!("/api/shares/{with}/attachments/x"),
    ] {
        assert_eq!(app.get(&path, None).await.status(), 404, "{path}");
    }
    let resp = app
        .delete(&format!("/api/shares/{with}"), Some(&user.token))
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .get(&format!("/api/shares/{with}/attachments/1"), None)
        .await;
    assert_eq!(resp.status(), 404);
}
