//! API keys (format, scopes, lifetime, who may see and delete them) and bring-your-own
//! provider keys (sealed, masked, used upstream, never stored in clear).

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, mock, server, spawn_app, TestApp, User, SERVICE_KEYS};
use crate::orgs::{create_org, join};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new API key of `user` in `org`: (the created body, the key in clear).
async fn new_key(app: &TestApp, user: &User, org: &str, scopes: &[&str]) -> (Value, String) {
    let resp = app
        .post(
            "/api/keys",
            Some(&user.token),
            &json!({"name": "test key", "org_id": org, "scopes": scopes}),
        )
        .await;
    assert_eq!(resp.status(), 201, "create key");
    let body: Value = resp.json().await.unwrap();
    let key = body["key"].as_str().unwrap().to_string();
    (body, key)
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// The CRC-32 checksum the key format ends with, so the test can forge a well-formed key.
fn checksum(body: &str) -> String {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in body.as_bytes() {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut v = !crc;
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| BASE62.contains(&b))
}

#[tokio::test]
async fn a_new_key_has_the_documented_format_and_is_shown_only_once() {
    let app = spawn_app().await;
    let user = app.register("keyformat").await;
    let resp = app
        .post(
            "/api/keys",
            Some(&user.token),
            &json!({"name": "laptop", "org_id": user.personal_org}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created = json_of(resp).await;
    let key = created["key"].as_str().unwrap();
    let body = key.strip_prefix("cg_").expect("cg_ prefix");
    assert!(body.len() >= 32 + 6 && is_base62(body), "{key}");
    let (random, sum) = body.split_at(body.len() - 6);
    assert_eq!(
        checksum(random),
        sum,
        "the last six characters are the checksum"
    );
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert!(
        created["prefix"].as_str().unwrap().len() < 16,
        "the prefix is not the secret"
    );
    assert_eq!(created["name"], "laptop");
    assert_eq!(created["org_id"], user.personal_org.as_str());
    assert_eq!(created["scopes"], json!(["chat"]), "scopes default to chat");
    assert_eq!(created["expires_at"], Value::Null);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let list = json_of(app.get("/api/keys", Some(&user.token)).await).await;
    let text = list.to_string();
    assert!(!text.contains(key), "the key never appears again");
    assert!(!text.contains(random), "not even its random part");
    let item = &list["items"][0];
    assert_eq!(item["id"], created["id"]);
    assert_eq!(item["prefix"], created["prefix"]);
    assert_eq!(item["last_used_at"], Value::Null);
    assert!(
        item.get("key").is_none() && item.get("key_hash").is_none(),
        "{item}"
    );
}

#[tokio::test]
async fn creating_a_key_validates_every_field() {
    let app = spawn_app().await;
    let user = app.register("keyvalidation").await;
    let other = app.register("keyvalidation-other").await;
    let org = user.personal_org.clone();
    for (case, body, status) in [
        ("missing name", json!({"org_id": org}), 400),
        ("empty name", json!({"name": " ", "org_id": org}), 400),
        ("missing org", json!({"name": "k"}), 400),
        (
            "past expiry",
            json!({"name": "k", "org_id": org, "expires_at": "2020-01-01T00:00:00Z"}),
            400,
        ),
        (
            "not a time",
            json!({"name": "k", "org_id": org, "expires_at": "next week"}),
            400,
        ),
        (
            "unknown scope",
            json!({"name": "k", "org_id": org, "scopes": ["admin"]}),
            400,
        ),
        (
            "no scopes",
            json!({"name": "k", "org_id": org, "scopes": []}),
            400,
        ),
        (
            "unknown field",
            json!({"name": "k", "org_id": org, "key": "cg_mine"}),
            400,
        ),
        (
            "someone else's org",
            json!({"name": "k", "org_id": other.personal_org}),
            404,
        ),
    ] {
        let resp = app.post("/api/keys", Some(&user.token), &body).await;
        assert_eq!(resp.status().as_u16(), status, "{case}");
    }
    let list = json_of(app.get("/api/keys", Some(&user.token)).await).await;
    assert_eq!(list["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_key_works_only_where_its_scopes_allow_and_records_its_last_use() {
    let app = spawn_app().await;
    let user = app.register("keyscopes").await;
    let (full, full_key) =
        new_key(&app, &user, &user.personal_org, &["chat", "conversations"]).await;
    let (_, chat_key) = new_key(&app, &user, &user.personal_org, &["chat"]).await;
    assert_eq!(full["scopes"], json!(["chat", "conversations"]));

    let resp = app.get("/api/conversations", Some(&full_key)).await;
    assert_eq!(resp.status(), 200);
    let conv = json_of(
        app.post(
            "/api/conversations",
            Some(&full_key),
            &json!({"model": "demo/echo", "title": "Via a key"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        conv["org_id"],
        user.personal_org.as_str(),
        "a key acts in its own org"
    );
    let sse = app
        .chat(
            &full_key,
            conv["id"].as_str().unwrap(),
            &json!({"content": "via a key"}),
        )
        .await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.last().1, "message.completed");

    assert_problem(
        app.get("/api/conversations", Some(&chat_key)).await,
        403,
        "forbidden",
    )
    .await;
    let path = format!("/api/conversations/{}", conv["id"].as_str().unwrap());
    assert_problem(app.get(&path, Some(&chat_key)).await, 403, "forbidden").await;

    // Keys are for the API, not for managing accounts, orgs or keys.
    for (method, path) in [
        (Method::GET, "/api/keys"),
        (Method::GET, "/api/me"),
        (Method::GET, "/api/orgs"),
    ] {
        let resp = app
            .request(method, path, Some(&full_key))
            .send()
            .await
            .unwrap();
        assert_problem(resp, 401, "unauthorized").await;
    }

    let list = json_of(app.get("/api/keys", Some(&user.token)).await).await;
    let used = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == full["id"])
        .unwrap();
    assert!(
        used["last_used_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{used}"
    );
}

#[tokio::test]
async fn a_mistyped_or_forged_key_is_401() {
    let app = spawn_app().await;
    let user = app.register("keytypo").await;
    let (_, key) = new_key(&app, &user, &user.personal_org, &["conversations"]).await;
    assert_eq!(
        app.get("/api/conversations", Some(&key)).await.status(),
        200
    );

    let mut typo: Vec<char> = key.chars().collect();
    typo[10] = if typo[10] == 'x' { 'y' } else { 'x' };
    let typo: String = typo.into_iter().collect();
    let forged_body = "A".repeat(40);
    let forged = format!("cg_{forged_body}{}", checksum(&forged_body));
    for (case, bad) in [
        ("one character changed", typo),
        ("truncated", key[..key.len() - 1].to_string()),
        ("extended", format!("{key}0")),
        ("other prefix", format!("sk_{}", &key[3..])),
        ("well-formed but never issued", forged),
        ("bare prefix", "cg_".to_string()),
    ] {
        let resp = app.get("/api/conversations", Some(&bad)).await;
        assert_eq!(resp.status(), 401, "{case}");
        assert_problem(resp, 401, "unauthorized").await;
    }
    // A key is never taken from the query string.
    let resp = app
        .get(&format!("/api/conversations?access_token={key}"), None)
        .await;
    assert_problem(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_deleted_key_stops_working_at_once() {
    let app = spawn_app().await;
    let user = app.register("keydelete").await;
    let other = app.register("keydelete-other").await;
    let (created, key) = new_key(&app, &user, &user.personal_org, &["conversations"]).await;
    let path = format!("/api/keys/{}", created["id"].as_str().unwrap());
    assert_eq!(
        app.get("/api/conversations", Some(&key)).await.status(),
        200
    );

    assert_problem(
        app.delete(&path, Some(&other.token)).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.get("/api/conversations", Some(&key)).await.status(),
        200,
        "a stranger cannot delete it"
    );

    assert_eq!(app.delete(&path, Some(&user.token)).await.status(), 204);
    assert_problem(
        app.get("/api/conversations", Some(&key)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(app.delete(&path, Some(&user.token)).await, 404, "not_found").await;
    let list = json_of(app.get("/api/keys", Some(&user.token)).await).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn an_expired_key_is_401() {
    let app = spawn_app().await;
    let user = app.register("keyexpiry").await;
    let (expires, expires_secs) = rfc3339_in(Duration::from_secs(3));
    let resp = app
        .post(
            "/api/keys",
            Some(&user.token),
            &json!({"name": "short", "org_id": user.personal_org, "expires_at": expires, "scopes": ["conversations"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created = json_of(resp).await;
    assert_eq!(
        created["expires_at"].as_str(),
        Some(expires.replace('Z', ".000Z").as_str())
    );
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.get("/api/conversations", Some(key)).await.status(), 200);
    // Wait until the expiry has passed (it was rounded up to the next whole second).
    let until =
        std::time::UNIX_EPOCH + Duration::from_secs(expires_secs) + Duration::from_millis(300);
    if let Ok(wait) = until.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let resp = app.get("/api/conversations", Some(key)).await;
    assert_problem(resp, 401, "unauthorized").await;
}

/// An RFC 3339 UTC time at least `after` from now (whole seconds, rounded up), and its
/// Unix seconds.
fn rfc3339_in(after: Duration) -> (String, u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + after.as_secs()
        + 1;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant), for a date without a date library.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        ),
        secs,
    )
}

#[tokio::test]
async fn a_key_stops_working_when_its_creator_leaves_the_org() {
    let app = spawn_app().await;
    let owner = app.register("keyorg-owner").await;
    let member = app.register("keyorg-member").await;
    let org = create_org(&app, &owner, "Key Org").await;
    join(&app, &owner, &org, &member, "member").await;
    let (created, key) = new_key(&app, &member, &org, &["conversations"]).await;
    let (owner_key_body, _) = new_key(&app, &owner, &org, &["chat"]).await;
    assert_eq!(
        app.get("/api/conversations", Some(&key)).await.status(),
        200
    );

    // The org's admins see every key, with whose it is; members do not.
    let listed = json_of(
        app.get(&format!("/api/orgs/{org}/keys"), Some(&owner.token))
            .await,
    )
    .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let members_key = items.iter().find(|k| k["id"] == created["id"]).unwrap();
    assert_eq!(members_key["user_id"], member.id.as_str());
    assert!(!listed.to_string().contains(&key));
    assert_problem(
        app.get(&format!("/api/orgs/{org}/keys"), Some(&member.token))
            .await,
        403,
        "forbidden",
    )
    .await;
    // A member cannot delete someone else's key.
    let owners_key_path = format!("/api/keys/{}", owner_key_body["id"].as_str().unwrap());
    assert_problem(
        app.delete(&owners_key_path, Some(&member.token)).await,
        404,
        "not_found",
    )
    .await;

    assert_eq!(
        app.delete(
            &format!("/api/orgs/{org}/members/{}", member.id),
            Some(&owner.token)
        )
        .await
        .status(),
        204
    );
    assert_problem(
        app.get("/api/conversations", Some(&key)).await,
        401,
        "unauthorized",
    )
    .await;
    let listed = json_of(
        app.get(&format!("/api/orgs/{org}/keys"), Some(&owner.token))
            .await,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn an_admin_can_delete_any_key_of_the_org() {
    let app = spawn_app().await;
    let owner = app.register("keyadmin-owner").await;
    let member = app.register("keyadmin-member").await;
    let org = create_org(&app, &owner, "Key Admin Org").await;
    join(&app, &owner, &org, &member, "member").await;
    let (created, key) = new_key(&app, &member, &org, &["conversations"]).await;
    let path = format!("/api/keys/{}", created["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, Some(&owner.token)).await.status(), 204);
    assert_problem(
        app.get("/api/conversations", Some(&key)).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn an_org_cannot_raise_its_keys_rate_limit_above_the_service_ceiling() {
    let app = spawn_app().await;
    let owner = app.register("rpm-ceiling").await;
    let org = create_org(&app, &owner, "Greedy Org").await;
    let path = format!("/api/orgs/{org}");
    let patch = |rpm: u64| {
        app.request(Method::PATCH, &path, Some(&owner.token))
            .json(&json!({"settings": {"rate_limit_rpm": rpm}}))
            .send()
    };
    // The test server runs with the default API_KEY_RATE_LIMIT_RPM, 600: an org may only lower it.
    let body = assert_problem(patch(601).await.unwrap(), 400, "validation_failed").await;
    assert!(
        body["detail"].as_str().unwrap().contains("600"),
        "the ceiling is named: {body}"
    );
    let org_now = json_of(
        app.get(&format!("/api/orgs/{org}"), Some(&owner.token))
            .await,
    )
    .await;
    assert_eq!(
        org_now["settings"]["rate_limit_rpm"],
        Value::Null,
        "unchanged"
    );
    let resp = patch(600).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["settings"]["rate_limit_rpm"], 600);
}

// ---------------------------------------------------------------------------------------
// Provider keys

async fn put_provider_key(
    app: &TestApp,
    user: &User,
    provider: &str,
    body: &Value,
) -> reqwest::Response {
    app.send_json(
        Method::PUT,
        &format!("/api/provider-keys/{provider}"),
        Some(&user.token),
        body,
    )
    .await
}

/// A provider key no other test uses, so the mock's shared log can be searched for it.
fn unique_provider_key(app: &TestApp, tag: &str) -> String {
    format!("sk-{tag}-{}-{}-0123456789wxyz", std::process::id(), app.n)
}

/// The key the mock upstream last saw for a request whose last user message is `marker`.
fn upstream_key_for(marker: &str) -> Option<String> {
    mock()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.body.to_string().contains(marker))
        .and_then(|r| r.header("authorization").map(str::to_string))
}

#[tokio::test]
async fn a_provider_key_round_trips_masked_and_is_sent_upstream() {
    let app = spawn_app().await;
    let user = app.register("byok").await;
    let secret = unique_provider_key(&app, "byok");
    let resp = put_provider_key(&app, &user, "openai", &json!({"api_key": secret})).await;
    assert_eq!(resp.status(), 204);

    let list = json_of(app.get("/api/provider-keys", Some(&user.token)).await).await;
    assert!(!list.to_string().contains(&secret), "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["provider"], "openai");
    assert_eq!(items[0]["scope"], "user");
    assert_eq!(items[0]["masked"], "sk-…wxyz");
    assert!(items[0]["updated_at"].as_str().unwrap().ends_with('Z'));

    let conv = app.conversation(&user, "openai/mock").await;
    let marker = format!("byok-marker-{}", app.n);
    let sse = app
        .chat(&user.token, &conv, &json!({"content": marker}))
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    assert_eq!(upstream_key_for(&marker), Some(format!("Bearer {secret}")));

    // Replaced, then deleted: the service's own key takes over.
    let replacement = unique_provider_key(&app, "byok2");
    assert_eq!(
        put_provider_key(&app, &user, "openai", &json!({"api_key": replacement}))
            .await
            .status(),
        204
    );
    let marker2 = format!("byok-marker2-{}", app.n);
    assert_eq!(
        app.chat(&user.token, &conv, &json!({"content": marker2}))
            .await
            .status,
        200
    );
    assert_eq!(
        upstream_key_for(&marker2),
        Some(format!("Bearer {replacement}"))
    );

    assert_eq!(
        app.delete("/api/provider-keys/openai", Some(&user.token))
            .await
            .status(),
        204
    );
    assert_problem(
        app.delete("/api/provider-keys/openai", Some(&user.token))
            .await,
        404,
        "not_found",
    )
    .await;
    let marker3 = format!("byok-marker3-{}", app.n);
    assert_eq!(
        app.chat(&user.token, &conv, &json!({"content": marker3}))
            .await
            .status,
        200
    );
    assert_eq!(
        upstream_key_for(&marker3),
        Some(format!("Bearer {}", SERVICE_KEYS[0]))
    );
    let list = json_of(app.get("/api/provider-keys", Some(&user.token)).await).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn an_org_provider_key_is_set_by_admins_and_serves_members_unless_they_have_their_own() {
    let app = spawn_app().await;
    let owner = app.register("orgbyok-owner").await;
    let member = app.register("orgbyok-member").await;
    let org = create_org(&app, &owner, "BYOK Org").await;
    join(&app, &owner, &org, &member, "member").await;
    let org_secret = unique_provider_key(&app, "org");

    let resp = put_provider_key(
        &app,
        &member,
        "openai",
        &json!({"api_key": org_secret, "org_id": org}),
    )
    .await;
    assert_problem(resp, 403, "forbidden").await;
    let resp = put_provider_key(
        &app,
        &owner,
        "openai",
        &json!({"api_key": org_secret, "org_id": org}),
    )
    .await;
    assert_eq!(resp.status(), 204);

    let seen = json_of(app.get("/api/provider-keys", Some(&member.token)).await).await;
    let item = &seen["items"][0];
    assert_eq!(
        (item["scope"].as_str(), item["org_id"].as_str()),
        (Some("org"), Some(org.as_str())),
        "{seen}"
    );
    assert_eq!(item["masked"], "sk-…wxyz");

    let conv = json_of(
        app.post(
            "/api/conversations",
            Some(&member.token),
            &json!({"org_id": org, "model": "openai/mock"}),
        )
        .await,
    )
    .await;
    let conv = conv["id"].as_str().unwrap().to_string();
    let marker = format!("orgbyok-marker-{}", app.n);
    assert_eq!(
        app.chat(&member.token, &conv, &json!({"content": marker}))
            .await
            .status,
        200
    );
    assert_eq!(
        upstream_key_for(&marker),
        Some(format!("Bearer {org_secret}"))
    );

    let own = unique_provider_key(&app, "own");
    assert_eq!(
        put_provider_key(&app, &member, "openai", &json!({"api_key": own}))
            .await
            .status(),
        204
    );
    let marker2 = format!("orgbyok-marker2-{}", app.n);
    assert_eq!(
        app.chat(&member.token, &conv, &json!({"content": marker2}))
            .await
            .status,
        200
    );
    assert_eq!(
        upstream_key_for(&marker2),
        Some(format!("Bearer {own}")),
        "the user's own key comes first"
    );

    let org_delete = format!("/api/provider-keys/openai?org_id={org}");
    assert_problem(
        app.delete(&org_delete, Some(&member.token)).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.delete(&org_delete, Some(&owner.token)).await.status(),
        204
    );
    assert_problem(
        app.delete(&org_delete, Some(&owner.token)).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn provider_key_input_is_validated() {
    let app = spawn_app().await;
    let user = app.register("byok-validation").await;
    for (case, provider, body) in [
        (
            "unknown provider",
            "acme",
            json!({"api_key": "sk-0123456789abcdefghij"}),
        ),
        (
            "the demo provider needs no key",
            "demo",
            json!({"api_key": "sk-0123456789abcdefghij"}),
        ),
        ("too short", "openai", json!({"api_key": "sk-short"})),
        ("too long", "openai", json!({"api_key": "k".repeat(513)})),
        (
            "inner whitespace",
            "openai",
            json!({"api_key": "sk-0123456789 abcdefghij"}),
        ),
        (
            "non-ASCII",
            "openai",
            json!({"api_key": "sk-0123456789abcdefghé"}),
        ),
        ("missing key", "openai", json!({})),
        (
            "unknown field",
            "openai",
            json!({"api_key": "sk-0123456789abcdefghij", "scope": "global"}),
        ),
    ] {
        let resp = put_provider_key(&app, &user, provider, &body).await;
        assert_eq!(resp.status(), 400, "{case}");
        let problem = assert_problem(resp, 400, "validation_failed").await;
        assert!(
            !problem.to_string().contains("0123456789 abcdefghij"),
            "{case}: the key is not echoed"
        );
    }
    let list = json_of(app.get("/api/provider-keys", Some(&user.token)).await).await;
    assert_eq!(list["items"], json!([]));
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn neither_an_api_key_nor_a_provider_key_is_stored_or_logged_in_clear() {
    let app = spawn_app().await;
    let user = app.register("at-rest").await;
    let (created, api_key) =
        new_key(&app, &user, &user.personal_org, &["chat", "conversations"]).await;
    assert_eq!(created["prefix"].as_str(), Some(&api_key[..11]));
    let provider_key = unique_provider_key(&app, "atrest");
    assert_eq!(
        put_provider_key(&app, &user, "openai", &json!({"api_key": provider_key}))
            .await
            .status(),
        204
    );
    let org = create_org(&app, &user, "At Rest").await;
    let org_key = unique_provider_key(&app, "atrest-org");
    let resp = put_provider_key(
        &app,
        &user,
        "gemini",
        &json!({"api_key": org_key, "org_id": org}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    // Use them, so whatever a use writes (last_used_at, the reply, usage) is on disk too.
    let conv = json_of(
        app.post(
            "/api/conversations",
            Some(&api_key),
            &json!({"model": "openai/mock"}),
        )
        .await,
    )
    .await;
    let sse = app
        .chat(
            &api_key,
            conv["id"].as_str().unwrap(),
            &json!({"content": "at rest"}),
        )
        .await;
    assert_eq!(sse.status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let state_dir = &server().state_dir;
    let mut files = Vec::new();
    files_under(state_dir, &mut files);
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("d1")),
        "the D1 files are there: {files:?}"
    );
    let (api_body, api_tail) = (&api_key[3..], &api_key[api_key.len() - 20..]);
    // The control: what is meant to be stored (the key's display prefix) is found, so the
    // scan does read the database.
    let prefix = &api_key[..11];
    assert!(
        files
            .iter()
            .any(|f| std::fs::read(f).is_ok_and(|b| contains(&b, prefix.as_bytes()))),
        "the key's prefix should be in D1"
    );
    for file in &files {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        for (what, needle) in [
            ("API key", api_key.as_str()),
            ("API key body", api_body),
            ("API key tail", api_tail),
            ("user provider key", provider_key.as_str()),
            ("org provider key", org_key.as_str()),
        ] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{what} in clear in {}",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn with_byok_off_neither_member_nor_org_provider_keys_serve_the_org() {
    let app = spawn_app().await;
    let owner = app.register("byok-off-owner").await;
    let member = app.register("byok-off-member").await;
    let org = create_org(&app, &owner, "Service keys only").await;
    join(&app, &owner, &org, &member, "member").await;
    let org_secret = unique_provider_key(&app, "byokoff-org");
    let own = unique_provider_key(&app, "byokoff-own");
    let resp = put_provider_key(
        &app,
        &owner,
        "openai",
        &json!({"api_key": org_secret, "org_id": org}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let resp = put_provider_key(&app, &member, "openai", &json!({"api_key": own})).await;
    assert_eq!(resp.status(), 204);
    crate::orgs::set_features(&app, &owner, &org, json!({"byok": false})).await;

    // A conversation in the org: the service's key, not the member's nor the org's.
    let conv = json_of(
        app.post(
            "/api/conversations",
            Some(&member.token),
            &json!({"org_id": org, "model": "openai/mock"}),
        )
        .await,
    )
    .await;
    let conv = conv["id"].as_str().unwrap().to_string();
    let marker = format!("byok-off-chat-{}", app.n);
    let sse = app
        .chat(&member.token, &conv, &json!({"content": marker}))
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    assert_eq!(
        upstream_key_for(&marker),
        Some(format!("Bearer {}", SERVICE_KEYS[0]))
    );

    // /v1 with an API key of the org: the same.
    let (_, key) = new_key(&app, &member, &org, &["chat"]).await;
    let marker = format!("byok-off-v1-{}", app.n);
    let resp = app
        .post(
            "/v1/chat/completions",
            Some(&key),
            &json!({"model": "openai/mock", "messages": [{"role": "user", "content": marker}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        upstream_key_for(&marker),
        Some(format!("Bearer {}", SERVICE_KEYS[0]))
    );

    // An admin cannot set an org key that would not be used...
    let resp = put_provider_key(
        &app,
        &owner,
        "openai",
        &json!({"api_key": org_secret, "org_id": org}),
    )
    .await;
    assert_problem(resp, 403, "feature_disabled").await;

    // ...while the member's own key still serves their personal organization.
    let personal = app.conversation(&member, "openai/mock").await;
    let marker = format!("byok-off-personal-{}", app.n);
    assert_eq!(
        app.chat(&member.token, &personal, &json!({"content": marker}))
            .await
            .status,
        200
    );
    assert_eq!(upstream_key_for(&marker), Some(format!("Bearer {own}")));

    // Switched back on, the member's key serves the org again.
    crate::orgs::set_features(&app, &owner, &org, json!({"byok": true})).await;
    let marker = format!("byok-on-again-{}", app.n);
    assert_eq!(
        app.chat(&member.token, &conv, &json!({"content": marker}))
            .await
            .status,
        200
    );
    assert_eq!(upstream_key_for(&marker), Some(format!("Bearer {own}")));
}

/// The default `MAX_API_KEYS_PER_USER_PER_ORG`.
const MAX_API_KEYS_PER_USER_PER_ORG: usize = 50;

#[tokio::test]
async fn a_user_has_at_most_fifty_api_keys_in_an_org_even_when_creating_them_at_once() {
    use futures::StreamExt;
    let app = spawn_app().await;
    let user = app.register("key-cap").await;
    let org = user.personal_org.clone();
    let create = |i: usize| {
        let (app, token, org) = (&app, user.token.clone(), org.clone());
        async move {
            app.post(
                "/api/keys",
                Some(&token),
                &json!({"name": format!("key {i}"), "org_id": org}),
            )
            .await
        }
    };
    // Up to near the cap a few at a time, then a burst across it all at once.
    let below = MAX_API_KEYS_PER_USER_PER_ORG - 10;
    let filled: Vec<_> = futures::stream::iter((0..below).map(create))
        .buffer_unordered(8)
        .collect()
        .await;
    let mut created = Vec::new();
    for resp in filled {
        assert_eq!(resp.status(), 201, "below the cap");
        created.push(json_of(resp).await["id"].as_str().unwrap().to_string());
    }
    let mut refused = 0;
    for resp in futures::future::join_all((below..below + 20).map(create)).await {
        if resp.status() == 201 {
            created.push(json_of(resp).await["id"].as_str().unwrap().to_string());
        } else {
            let body = assert_problem(resp, 409, "conflict").await;
            assert!(
                body["detail"].as_str().unwrap().contains("50"),
                "the detail names the cap: {body}"
            );
            refused += 1;
        }
    }
    assert_eq!(created.len(), MAX_API_KEYS_PER_USER_PER_ORG);
    assert_eq!(refused, 10);
    let listed = json_of(app.get("/api/keys?limit=100", Some(&user.token)).await).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        MAX_API_KEYS_PER_USER_PER_ORG
    );

    // The cap is per organization, and a deleted key makes room for one.
    let other = create_org(&app, &user, "Second home").await;
    new_key(&app, &user, &other, &["chat"]).await;
    assert_eq!(
        app.delete(&format!("/api/keys/{}", created[0]), Some(&user.token))
            .await
            .status(),
        204
    );
    new_key(&app, &user, &org, &["chat"]).await;
    let resp = app
        .post(
            "/api/keys",
            Some(&user.token),
            &json!({"name": "one too many", "org_id": org}),
        )
        .await;
    assert_problem(resp, 409, "conflict").await;
}
