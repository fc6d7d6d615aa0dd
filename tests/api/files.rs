//! Files for chat (`POST /api/files`, R2): typed by their bytes, capped per file and per org
//! (exactly, under concurrency), readable by their owner and those who can read the
//! conversation they were sent in, sent to each provider as its own content part, and gone
//! with their conversation, account or org.

use chatgate::crypto::{b64, b64_decode};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, d1, mock, own_state_dir, python, server, spawn_app, OwnServer, TestApp, User,
};
use crate::orgs::{create_org, join, set_features};

/// A 1×1 PNG (70 bytes).
pub const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    b64_decode(PNG).unwrap()
}

/// A small PDF (the header is what matters to chatgate and to the mock).
pub fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {tag}\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n").into_bytes()
}

async fn upload_as(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.request(Method::POST, &format!("/api/files{query}"), Some(token))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Uploads and expects 201: the file's description.
pub async fn upload(app: &TestApp, user: &User, name: &str, bytes: Vec<u8>) -> Value {
    let resp = upload_as(
        app,
        &user.token,
        &format!("?name={name}"),
        "application/octet-stream",
        bytes,
    )
    .await;
    assert_eq!(resp.status(), 201, "upload {name}");
    resp.json().await.unwrap()
}

fn id(file: &Value) -> String {
    file["id"].as_str().unwrap().to_owned()
}

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

/// The R2 keys the shared server's local bucket holds.
fn r2_keys() -> Vec<String> {
    let program = r#"
import json, pathlib, sqlite3, sys
keys = []
for p in pathlib.Path(sys.argv[1]).glob("v3/r2/**/*.sqlite"):
    db = sqlite3.connect(p, timeout=10)
    try:
        keys += [r[0] for r in db.execute("SELECT key FROM _mf_objects")]
    except sqlite3.Error:
        pass
print(json.dumps(keys))
"#;
    serde_json::from_value(python(program, &[&server().state_dir])).unwrap()
}

/// The R2 keys of these files, from their rows (before they are deleted).
fn keys_of(ids: &[String]) -> Vec<String> {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    d1(
        "",
        &format!("SELECT r2_key FROM files WHERE id IN ({list})"),
    )
}

fn assert_gone(ids: &[String], keys: &[String]) {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        d1(
            "",
            &format!("SELECT COUNT(*) FROM files WHERE id IN ({list})")
        ),
        vec!["0"],
        "rows gone"
    );
    let left = r2_keys();
    for k in keys {
        assert!(!left.contains(k), "{k} is still in R2");
    }
}

#[tokio::test]
async fn an_upload_is_typed_by_its_bytes_and_served_back_to_its_owner_alone() {
    let app = spawn_app().await;
    let owner = app.register("files-owner").await;
    let outsider = app.register("files-outsider").await;

    // A PNG labelled text/plain is stored (and served) as the PNG it is.
    let resp = upload_as(&app, &owner.token, "?name=pic.txt", "text/plain", png()).await;
    assert_eq!(resp.status(), 201);
    let file: Value = resp.json().await.unwrap();
    assert_eq!(file["media_type"], "image/png");
    assert_eq!(file["size"], 70);
    assert_eq!(file["name"], "pic.txt");
    let path = format!("/api/files/{}", id(&file));
    let resp = app.get(&path, Some(&owner.token)).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"pic.txt\""));
    assert_eq!(resp.bytes().await.unwrap().to_vec(), png());

    // Text and code, PDFs; an executable or unknown binary is refused.
    let text = upload(&app, &owner, "main.rs", b"fn main() {}\n".to_vec()).await;
    assert_eq!(text["media_type"], "text/plain");
    let resp = app
        .get(&format!("/api/files/{}", id(&text)), Some(&owner.token))
        .await;
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let doc = upload(&app, &owner, "a.pdf", pdf("a")).await;
    assert_eq!(doc["media_type"], "application/pdf");
    // Past its first chunk a PDF is piped into R2 by the runtime: every byte arrives.
    let big: Vec<u8> = [
        pdf("big"),
        (0..3_000_000u32).map(|i| (i % 251) as u8).collect(),
    ]
    .concat();
    let stored = upload(&app, &owner, "big.pdf", big.clone()).await;
    assert_eq!(stored["size"], big.len());
    let resp = app
        .get(&format!("/api/files/{}", id(&stored)), Some(&owner.token))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.bytes().await.unwrap().to_vec() == big,
        "the bytes come back whole"
    );
    for (bytes, what) in [
        (
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
            "an ELF executable",
        ),
        (b"MZ\x90\0\x03\0\0\0\x04\0".to_vec(), "a Windows executable"),
        (
            "text, then a NUL \0 byte".as_bytes().to_vec(),
            "text with a NUL",
        ),
        // Valid UTF-8 for its first 512 bytes, then not: refused as it streams.
        (
            [vec![b'a'; 600], vec![0xff, 0xfe]].concat(),
            "text gone bad later",
        ),
    ] {
        let resp = upload_as(&app, &owner.token, "?name=x", "text/plain", bytes).await;
        assert_problem(resp, 415, "unsupported_media_type").await;
        let _ = what;
    }
    let resp = upload_as(&app, &owner.token, "", "text/plain", Vec::new()).await;
    assert_problem(resp, 400, "validation_failed").await;
    let resp = upload_as(&app, &owner.token, "?name=a%2Fb", "text/plain", png()).await;
    assert_problem(resp, 400, "validation_failed").await;

    // Someone else: as if it did not exist, to read or delete.
    assert_eq!(app.get(&path, Some(&outsider.token)).await.status(), 404);
    assert_eq!(app.delete(&path, Some(&outsider.token)).await.status(), 404);
    assert_eq!(app.get(&path, None).await.status(), 401);

    // Deleted: gone from R2 too.
    let keys = keys_of(&[id(&file)]);
    assert_eq!(keys.len(), 1);
    assert!(r2_keys().contains(&keys[0]));
    assert_eq!(app.delete(&path, Some(&owner.token)).await.status(), 204);
    assert_eq!(app.get(&path, Some(&owner.token)).await.status(), 404);
    assert_gone(&[id(&file)], &keys);
}

#[tokio::test]
async fn a_pdf_sent_with_a_message_reaches_each_provider_as_a_document() {
    let app = spawn_app().await;
    let user = app.register("files-pdf").await;
    let tag = tag(&user);
    for (provider, part) in [
        ("openai", r#""type":"file""#),
        ("anthropic", r#""type":"document""#),
        ("gemini", r#""mimeType":"application/pdf""#),
    ] {
        let bytes = pdf(provider);
        let file = upload(&app, &user, "report.pdf", bytes.clone()).await;
        let size = bytes.len();
        let model = format!("{provider}/mock-describe-{tag}");
        let conv = app.conversation(&user, &model).await;
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "summarise this", "attachments": [id(&file)]}),
            )
            .await;
        assert_eq!(sse.status, 200, "{provider}: {:?}", sse.events);
        assert!(
            sse.text()
                .contains(&format!("1 document (application/pdf, {size} bytes)")),
            "{provider}: {}",
            sse.text()
        );
        let sent = last_sent(&format!("describe-{tag}")).body.to_string();
        assert!(
            sent.contains(&b64(&bytes)),
            "{provider}: the bytes go upstream"
        );
        assert!(
            sent.contains(part),
            "{provider}: as a document part: {sent}"
        );
        let listed = json!([{"type": "document", "media_type": "application/pdf",
            "size": size, "file_id": id(&file), "name": "report.pdf"}]);
        assert_eq!(sse.events[0].2["user_message"]["attachments"], listed);

        // The next turn sends it again, with the history.
        let sse = app
            .chat(&user.token, &conv, &json!({"content": "and again?"}))
            .await;
        assert_eq!(sse.status, 200);
        let sent = last_sent(&format!("describe-{tag}")).body.to_string();
        assert!(sent.contains(&b64(&bytes)), "{provider}: in the history");
    }

    // A text file goes as text; an image as an image.
    let code = upload(
        &app,
        &user,
        "main.rs",
        b"fn main() { println!(\"hi\"); }".to_vec(),
    )
    .await;
    let image = upload(&app, &user, "pic.png", png()).await;
    let model = format!("openai/mock-describe-{tag}");
    let conv = app.conversation(&user, &model).await;
    let sse = app
        .chat(
            &user.token,
            &conv,
            &json!({"content": "", "attachments": [id(&code), id(&image)]}),
        )
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    assert!(
        sse.text().contains("Saw 1 image (image/png, 70 bytes)"),
        "{}",
        sse.text()
    );
    let sent = last_sent(&format!("describe-{tag}")).body.to_string();
    assert!(sent.contains("The attached file main.rs:"), "{sent}");
    assert!(sent.contains(PNG));

    // A file goes with one conversation: another one is told to upload it again.
    let other = app.conversation(&user, &model).await;
    let resp = app
        .send_message(
            &user.token,
            &other,
            &json!({"content": "x", "attachments": [id(&code)]}),
        )
        .await;
    let body = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(body["param"], "attachments[0]");
    let resp = app
        .send_message(
            &user.token,
            &other,
            &json!({"content": "x", "attachments": ["file_nope"]}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
}

#[tokio::test]
async fn a_file_is_readable_by_who_can_read_its_conversation_and_goes_with_it() {
    let app = spawn_app().await;
    let owner = app.register("files-convowner").await;
    let member = app.register("files-member").await;
    let outsider = app.register("files-out").await;
    let org = create_org(&app, &owner, "files team").await;
    join(&app, &owner, &org, &member, "member").await;

    let file = upload_as(
        &app,
        &owner.token,
        &format!("?name=a.pdf&org_id={org}"),
        "application/pdf",
        pdf("team"),
    )
    .await;
    assert_eq!(file.status(), 201);
    let file: Value = file.json().await.unwrap();
    let path = format!("/api/files/{}", id(&file));
    let resp = app
        .post(
            "/api/conversations",
            Some(&owner.token),
            &json!({"org_id": org, "model": "demo/echo"}),
        )
        .await;
    let conv = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sse = app
        .chat(
            &owner.token,
            &conv,
            &json!({"content": "here", "attachments": [id(&file)]}),
        )
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    assert!(
        sse.text().contains("1 document (application/pdf)"),
        "{}",
        sse.text()
    );

    // The conversation's reader (its owner, a member) reads it; a member of the org who
    // cannot read the conversation does not, nor does an outsider.
    assert_eq!(app.get(&path, Some(&owner.token)).await.status(), 200);
    assert_eq!(app.get(&path, Some(&member.token)).await.status(), 404);
    assert_eq!(app.get(&path, Some(&outsider.token)).await.status(), 404);
    // Nor can anyone else send it.
    let theirs = app.conversation(&member, "demo/echo").await;
    let resp = app
        .send_message(
            &member.token,
            &theirs,
            &json!({"content": "x", "attachments": [id(&file)]}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;

    // The conversation deleted: the file goes, from R2 too.
    let keys = keys_of(&[id(&file)]);
    let resp = app
        .delete(&format!("/api/conversations/{conv}"), Some(&owner.token))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get(&path, Some(&owner.token)).await.status(), 404);
    assert_gone(&[id(&file)], &keys);
}

#[tokio::test]
async fn deleting_an_org_or_an_account_deletes_their_files() {
    let app = spawn_app().await;
    let owner = app.register("files-orgdel").await;
    let org = create_org(&app, &owner, "short-lived").await;
    let in_org = upload_as(&app, &owner.token, &format!("?org_id={org}"), "x", png()).await;
    let in_org: Value = in_org.json().await.unwrap();
    let personal = upload(&app, &owner, "mine.txt", b"mine".to_vec()).await;
    let keys = keys_of(&[id(&in_org)]);
    let resp = app
        .delete(&format!("/api/orgs/{org}"), Some(&owner.token))
        .await;
    assert_eq!(resp.status(), 204);
    assert_gone(&[id(&in_org)], &keys);
    assert_eq!(
        app.get(&format!("/api/files/{}", id(&personal)), Some(&owner.token))
            .await
            .status(),
        200,
        "the personal org's file stays"
    );

    let keys = keys_of(&[id(&personal)]);
    let resp = app
        .send_json(
            Method::DELETE,
            "/api/me",
            Some(&owner.token),
            &json!({"password": owner.password}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_gone(&[id(&personal)], &keys);
}

#[tokio::test]
async fn with_file_upload_off_an_org_takes_no_files() {
    let app = spawn_app().await;
    let owner = app.register("files-off").await;
    let org = create_org(&app, &owner, "no files").await;
    let file = upload_as(&app, &owner.token, &format!("?org_id={org}"), "x", png()).await;
    let file: Value = file.json().await.unwrap();
    let resp = app
        .post(
            "/api/conversations",
            Some(&owner.token),
            &json!({"org_id": org, "model": "demo/echo"}),
        )
        .await;
    let conv = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    set_features(&app, &owner, &org, json!({"file_upload": false})).await;
    let resp = upload_as(&app, &owner.token, &format!("?org_id={org}"), "x", png()).await;
    assert_problem(resp, 403, "feature_disabled").await;
    let resp = app
        .send_message(
            &owner.token,
            &conv,
            &json!({"content": "x", "attachments": [id(&file)]}),
        )
        .await;
    assert_problem(resp, 403, "feature_disabled").await;
    // Inline images are not uploads: they still go.
    let sse = app
        .chat(
            &owner.token,
            &conv,
            &json!({"content": "x", "attachments": [{"type": "image", "media_type": "image/png", "data": PNG}]}),
        )
        .await;
    assert_eq!(sse.status, 200);
}

#[tokio::test]
async fn a_file_over_the_cap_is_refused_and_an_orgs_quota_holds_under_concurrent_uploads() {
    let state = own_state_dir("files-quota");
    let own = OwnServer::spawn(
        &state,
        &[("FILE_MAX_BYTES", "1000"), ("ORG_FILE_QUOTA_BYTES", "5000")],
    )
    .await;
    let mut app = spawn_app().await;
    app.base = own.base.clone();
    let user = app.register("files-quota").await;
    let text = |n: usize| vec![b'x'; n];

    let resp = upload_as(&app, &user.token, "", "text/plain", text(1001)).await;
    assert_problem(resp, 413, "payload_too_large").await;
    upload(&app, &user, "first", text(1000)).await;

    // Twelve at once, room for four: exactly four get in.
    let uploads = (0..12).map(|_| upload_as(&app, &user.token, "", "text/plain", text(1000)));
    let statuses: Vec<u16> = join_all(uploads)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 413).count(),
        8,
        "{statuses:?}"
    );
    let resp = upload_as(&app, &user.token, "", "text/plain", text(1)).await;
    let body = assert_problem(resp, 413, "quota_exceeded").await;
    assert!(body["detail"].as_str().unwrap().contains("5000"), "{body}");
    own.shut_down().await;
}

#[tokio::test]
async fn a_text_file_in_the_history_counts_its_characters_against_the_budget() {
    let app = spawn_app().await;
    let user = app.register("files-budget").await;
    let tag = tag(&user);
    let conv = app
        .conversation(&user, &format!("openai/mock-describe-{tag}"))
        .await;
    // Two turns with a 30,000-character file each: with the third, they would pass the
    // history's 48,000 characters (HISTORY_CHAR_BUDGET), so the older one is left out.
    for (name, fill) in [("a.txt", "A"), ("b.txt", "B")] {
        let file = upload(&app, &user, name, fill.repeat(30_000).into_bytes()).await;
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": name, "attachments": [id(&file)]}),
            )
            .await;
        assert_eq!(sse.status, 200, "{:?}", sse.events);
    }
    let sse = app
        .chat(&user.token, &conv, &json!({"content": "third"}))
        .await;
    assert_eq!(sse.status, 200);
    let sent = last_sent(&format!("describe-{tag}")).body.to_string();
    assert!(sent.contains(&"B".repeat(30_000)), "the newer file goes");
    assert!(
        !sent.contains(&"A".repeat(1_000)),
        "the older one is left out"
    );
}
