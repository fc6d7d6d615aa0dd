//! Search over the caller's own conversations (`GET /api/search`): titles and message text,
//! marked snippets, isolation across users and orgs, and an index that deletions clean.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, d1, spawn_app, TestApp, User};
use crate::orgs::{create_org, join};
use crate::upkeep::run_upkeep;

const START: char = '\u{2}';
const END: char = '\u{3}';

/// A word no other test writes.
fn word(app: &TestApp, what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{what}{}x{}x{nanos}", app.n, std::process::id())
}

async fn search(app: &TestApp, user: &User, query: &str) -> reqwest::Response {
    app.request(Method::GET, "/api/search", Some(&user.token))
        .query(&[("q", query)])
        .send()
        .await
        .unwrap()
}

/// The items of a search that must answer 200.
async fn hits(app: &TestApp, user: &User, query: &str) -> Vec<Value> {
    let resp = search(app, user, query).await;
    assert_eq!(resp.status(), 200, "search {query}");
    let body: Value = resp.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The items once there are `n` of them: a reply is indexed just after its stream ends.
async fn hits_once(app: &TestApp, user: &User, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..40 {
        let items = hits(app, user, query).await;
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hits(app, user, query).await
}

/// A conversation of `user` (in `org`, or their personal one) titled `title`, with one
/// exchange: `text`, echoed by demo/echo.
async fn conversation(
    app: &TestApp,
    user: &User,
    org: Option<&str>,
    title: &str,
    text: &str,
) -> String {
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({"model": "demo/echo", "org_id": org, "title": title}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sse = app
        .chat(&user.token, &id, &json!({ "content": text }))
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    id
}

/// How many index entries the conversations have (in D1, whatever the API shows).
fn entries_of(ids: &[&str]) -> usize {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    d1(
        "",
        &format!("SELECT COUNT(*) FROM search_entries WHERE conversation_id IN ({list})"),
    )[0]
    .parse()
    .unwrap()
}

#[tokio::test]
async fn a_user_finds_their_conversations_by_title_and_by_message_with_the_match_marked() {
    let app = spawn_app().await;
    let user = app.register("finder").await;
    let (title_word, text_word) = (word(&app, "zebra"), word(&app, "flamingo"));
    let id = conversation(
        &app,
        &user,
        None,
        &format!("Plans for {title_word}"),
        &format!("Tell me about the {text_word} and its migrations"),
    )
    .await;

    let by_title = hits(&app, &user, &title_word).await;
    assert_eq!(by_title.len(), 1, "{by_title:?}");
    assert_eq!(by_title[0]["conversation_id"], id.as_str());
    assert!(
        by_title[0]["message_id"].is_null(),
        "a title match has no message"
    );
    assert_eq!(
        by_title[0]["snippet"],
        format!("Plans for {START}{title_word}{END}")
    );

    // The question and demo/echo's reply (which repeats it), newest first.
    let by_text = hits_once(&app, &user, &text_word.to_uppercase(), 2).await;
    assert_eq!(by_text.len(), 2, "{by_text:?}");
    let messages: Value = app
        .get(
            &format!("/api/conversations/{id}/messages"),
            Some(&user.token),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(by_text[0]["message_id"], ids[0], "the reply first");
    assert_eq!(by_text[1]["message_id"], ids[1], "then the question");
    for hit in &by_text {
        assert_eq!(hit["conversation_id"], id.as_str());
        assert_eq!(hit["title"], format!("Plans for {title_word}"));
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(
            snippet.contains(&format!("{START}{text_word}{END}")),
            "{snippet:?}"
        );
    }

    // The last word may be the start of one; every word must appear.
    let prefix = &text_word[..text_word.len() - 3];
    assert_eq!(hits(&app, &user, &format!("the {prefix}")).await.len(), 2);
    assert!(hits(&app, &user, &format!("{text_word} {title_word}"))
        .await
        .is_empty());

    let other = app.register("other-finder").await;
    assert!(
        hits(&app, &other, &text_word).await.is_empty(),
        "another user's conversations are never found"
    );
    assert!(hits(&app, &other, &title_word).await.is_empty());
}

#[tokio::test]
async fn a_renamed_conversation_is_found_by_its_new_title_only() {
    let app = spawn_app().await;
    let user = app.register("renamer").await;
    let (old, new) = (word(&app, "oldtitle"), word(&app, "newtitle"));
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({ "title": old }),
        )
        .await;
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(hits(&app, &user, &old).await.len(), 1);
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/conversations/{id}"),
            Some(&user.token),
            &json!({ "title": new }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(hits(&app, &user, &old).await.is_empty());
    assert_eq!(hits(&app, &user, &new).await[0]["title"], new.as_str());
}

#[tokio::test]
async fn search_pages_with_a_cursor_and_narrows_to_an_org() {
    let app = spawn_app().await;
    let user = app.register("pager").await;
    let shared = word(&app, "pelican");
    let org = create_org(&app, &user, "Searchers").await;
    let mut made = Vec::new();
    for i in 0..3 {
        let resp = app
            .post(
                "/api/conversations",
                Some(&user.token),
                &json!({"title": format!("{shared} {i}"), "org_id": if i == 0 { Some(&org) } else { None }}),
            )
            .await;
        made.push(
            resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = app
            .request(Method::GET, "/api/search", Some(&user.token))
            .query(&[("q", shared.as_str()), ("limit", "2")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c.as_str())]);
        }
        let page: Value = req.send().await.unwrap().json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["conversation_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made, "newest first, each once");

    let in_org: Value = app
        .request(Method::GET, "/api/search", Some(&user.token))
        .query(&[("q", shared.as_str()), ("org_id", org.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(in_org["items"].as_array().unwrap().len(), 1, "{in_org}");
    assert_eq!(in_org["items"][0]["conversation_id"], made[2].as_str());
}

#[tokio::test]
async fn a_member_who_leaves_an_org_no_longer_finds_its_conversations() {
    let app = spawn_app().await;
    let owner = app.register("search-owner").await;
    let member = app.register("search-member").await;
    let org = create_org(&app, &owner, "Team search").await;
    join(&app, &owner, &org, &member, "member").await;
    let secret = word(&app, "okapi");
    conversation(
        &app,
        &member,
        Some(&org),
        "team notes",
        &format!("about {secret}"),
    )
    .await;
    assert_eq!(hits_once(&app, &member, &secret, 2).await.len(), 2);
    assert!(
        hits(&app, &owner, &secret).await.is_empty(),
        "an org's owner does not find a member's conversations"
    );

    let resp = app
        .delete(
            &format!("/api/orgs/{org}/members/{}", member.id),
            Some(&member.token),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(
        hits(&app, &member, &secret).await.is_empty(),
        "gone once they left"
    );
    let resp = app
        .request(Method::GET, "/api/search", Some(&member.token))
        .query(&[("q", secret.as_str()), ("org_id", org.as_str())])
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn deleting_a_conversation_an_account_an_org_or_by_retention_cleans_the_index() {
    let app = spawn_app().await;
    let user = app.register("cleaner").await;
    let gone = word(&app, "dodo");

    // The conversation.
    let one = conversation(&app, &user, None, "one", &format!("a {gone}")).await;
    assert_eq!(hits_once(&app, &user, &gone, 2).await.len(), 2);
    assert_eq!(
        app.delete(&format!("/api/conversations/{one}"), Some(&user.token))
            .await
            .status(),
        204
    );
    assert!(hits(&app, &user, &gone).await.is_empty());
    assert_eq!(entries_of(&[&one]), 0);

    // The org (and its members' conversations in it).
    let org = create_org(&app, &user, "Short-lived").await;
    let two = conversation(&app, &user, Some(&org), "two", &format!("b {gone}")).await;
    hits_once(&app, &user, &gone, 2).await;
    assert_eq!(entries_of(&[&two]), 3, "the title, the question, the reply");
    assert_eq!(
        app.delete(&format!("/api/orgs/{org}"), Some(&user.token))
            .await
            .status(),
        204
    );
    assert_eq!(entries_of(&[&two]), 0);

    // Retention.
    let three = conversation(&app, &user, None, "three", &format!("c {gone}")).await;
    hits_once(&app, &user, &gone, 2).await;
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{}", user.personal_org),
            Some(&user.token),
            &json!({"settings": {"conversation_retention_days": 30}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    d1(
        &format!("UPDATE conversations SET last_activity = 0 WHERE id = '{three}';"),
        "",
    );
    run_upkeep(&app).await;
    assert_eq!(entries_of(&[&three]), 0);

    // The account.
    let four = conversation(&app, &user, None, "four", &format!("d {gone}")).await;
    hits_once(&app, &user, &gone, 2).await;
    assert_eq!(entries_of(&[&four]), 3);
    let resp = app
        .request(Method::DELETE, "/api/me", Some(&user.token))
        .json(&json!({"password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(entries_of(&[&four]), 0);
}

#[tokio::test]
async fn query_syntax_is_read_literally_and_a_query_without_words_is_a_400() {
    let app = spawn_app().await;
    let user = app.register("literal").await;
    let w = word(&app, "quote");
    conversation(
        &app,
        &user,
        None,
        "syntax",
        &format!("say \"{w}\" (NEAR) OR body:x"),
    )
    .await;
    assert_eq!(hits_once(&app, &user, &w, 2).await.len(), 2);
    for q in [
        format!("\"{w}"),
        format!("{w}\""),
        format!("({w}"),
        format!("NEAR({w} x)"),
        format!("{w} OR"),
        format!("body:{w}"),
        format!("owner:{w}"),
        format!("{w}*"),
        format!("^{w}"),
        format!("-{w}"),
        "\"\" AND OR NOT".to_string(),
        "a:b:c (((".to_string(),
        "{owner body} : x".to_string(),
    ] {
        let resp = search(&app, &user, &q).await;
        assert_eq!(resp.status(), 200, "{q}: {}", resp.text().await.unwrap());
    }
    assert_eq!(
        hits(&app, &user, &format!("\"{w}\"")).await.len(),
        2,
        "quotes are literal"
    );
    assert!(
        hits(&app, &user, &format!("{w} OR zzzz")).await.is_empty(),
        "OR is a word"
    );
    for q in ["", "   ", "\"\"", "* ( ) :", &"a".repeat(201)] {
        let body = assert_problem(search(&app, &user, q).await, 400, "validation_failed").await;
        assert_eq!(body["param"], "q", "{q}");
    }
    let resp = app
        .request(Method::GET, "/api/search", Some(&user.token))
        .query(&[("q", "x"), ("cursor", "not a cursor")])
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(app.get("/api/search?q=x", None).await.status(), 401);
}
