//! Data portability and retention: an org's export, conversations deleted past the org's
//! retention, and deletions that leave nothing behind (every D1 table and the conversations'
//! Durable Objects, read from the test server's local storage).

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, d1, python, server, spawn_app, TestApp, User};
use crate::orgs::{create_org, join};
use crate::upkeep::run_upkeep;

const DAY: i64 = 24 * 3600 * 1000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every cell of every table of every SQLite file of `kind` (`d1` or `do`) holding one of
/// `needles`, as `[file kind, table, column, needle]`; the tables of D1, SQLite and the local
/// simulator (miniflare records each object's name) aside,
/// and the operator's provisioning feed (webhook deliveries with the target `provisioning`,
/// which tell the operator's system of `user.deleted`, id and address included).
fn cells_holding(kind: &str, needles: &[&str]) -> Vec<Value> {
    let program = r#"
import json, pathlib, sqlite3, sys
root, arg = pathlib.Path(sys.argv[1]), json.loads(sys.argv[2])
found = []
for path in sorted((root / "v3" / arg["kind"]).rglob("*.sqlite")):
    if path.name == "metadata.sqlite":
        continue
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        if table.startswith(("sqlite_", "_cf_", "d1_", "__miniflare")):
            continue
        cursor = db.execute(f'SELECT * FROM "{table}"')
        columns = [c[0] for c in cursor.description]
        for row in cursor:
            if table == "deliveries" and dict(zip(columns, row)).get("target") == "provisioning":
                continue
            for column, value in zip(columns, row):
                for needle in arg["needles"]:
                    if isinstance(value, str) and needle in value:
                        found.append([arg["kind"], table, column, needle])
print(json.dumps(found))
"#;
    let arg = json!({"kind": kind, "needles": needles}).to_string();
    python(program, &[server().state_dir.as_os_str(), arg.as_ref()])
        .as_array()
        .unwrap()
        .clone()
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// A conversation of `user` in `org` with one exchange whose text holds `marker`.
async fn conversation_with(app: &TestApp, user: &User, org: &str, marker: &str) -> String {
    let resp = app
        .post(
            "/api/conversations",
            Some(&user.token),
            &json!({"model": "demo/echo", "org_id": org, "title": "kept?"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = json_of(resp).await["id"].as_str().unwrap().to_string();
    let sse = app
        .chat(
            &user.token,
            &id,
            &json!({"content": format!("remember {marker}")}),
        )
        .await;
    assert_eq!(sse.status, 200, "{:?}", sse.events);
    id
}

async fn set_settings(app: &TestApp, user: &User, org: &str, settings: Value) {
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{org}"),
            Some(&user.token),
            &json!({ "settings": settings }),
        )
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

fn marker(app: &TestApp, what: &str) -> String {
    format!("marker-{what}-{}-{}", app.n, now_ms())
}

// ---------------------------------------------------------------------------------------
// Retention

#[tokio::test]
async fn the_upkeep_deletes_conversations_past_their_orgs_retention_with_their_messages() {
    let app = spawn_app().await;
    let user = app.register("retention").await;
    let other = app.register("retention-other").await;
    let org = &user.personal_org;
    let (old, recent, elsewhere) = (
        marker(&app, "old"),
        marker(&app, "recent"),
        marker(&app, "elsewhere"),
    );
    let due = conversation_with(&app, &user, org, &old).await;
    let kept = conversation_with(&app, &user, org, &recent).await;
    let no_policy = conversation_with(&app, &other, &other.personal_org, &elsewhere).await;
    set_settings(&app, &user, org, json!({"conversation_retention_days": 30})).await;
    let now = now_ms();
    d1(
        &format!(
            "UPDATE conversations SET last_activity = {a} WHERE id = '{due}';
             UPDATE conversations SET last_activity = {b} WHERE id = '{kept}';
             UPDATE conversations SET last_activity = {c} WHERE id = '{no_policy}';",
            a = now - 31 * DAY,
            b = now - 29 * DAY,
            c = now - 400 * DAY,
        ),
        "",
    );
    assert_eq!(
        cells_holding("do", &[&old]).len(),
        2,
        "the old conversation's messages are in its Durable Object (the question and the echo)"
    );

    run_upkeep(&app).await;

    assert_eq!(
        app.get(&format!("/api/conversations/{due}"), Some(&user.token))
            .await
            .status(),
        404,
        "a conversation idle for 31 days goes in an org that keeps them 30"
    );
    assert!(
        cells_holding("do", &[&old]).is_empty(),
        "and its messages with it"
    );
    for (who, id, text) in [(&user, &kept, &recent), (&other, &no_policy, &elsewhere)] {
        assert_eq!(
            app.get(&format!("/api/conversations/{id}"), Some(&who.token))
                .await
                .status(),
            200,
            "kept: idle 29 days, or in an org without retention"
        );
        assert_eq!(cells_holding("do", &[text]).len(), 2, "{text}");
    }
}

#[tokio::test]
async fn conversation_retention_is_a_number_of_days_from_1_to_3650_or_null() {
    let app = spawn_app().await;
    let user = app.register("retention-values").await;
    let org = &user.personal_org;
    for bad in [json!(0), json!(3651), json!(-5), json!(2.5), json!("30")] {
        let resp = app
            .send_json(
                Method::PATCH,
                &format!("/api/orgs/{org}"),
                Some(&user.token),
                &json!({"settings": {"conversation_retention_days": bad}}),
            )
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    set_settings(
        &app,
        &user,
        org,
        json!({"conversation_retention_days": 3650}),
    )
    .await;
    let got = json_of(
        app.get(&format!("/api/orgs/{org}"), Some(&user.token))
            .await,
    )
    .await;
    assert_eq!(got["settings"]["conversation_retention_days"], 3650);
    set_settings(&app, &user, org, json!({})).await;
    let got = json_of(
        app.get(&format!("/api/orgs/{org}"), Some(&user.token))
            .await,
    )
    .await;
    assert_eq!(got["settings"]["conversation_retention_days"], Value::Null);
}

// ---------------------------------------------------------------------------------------
// Export

#[tokio::test]
async fn an_owner_exports_the_orgs_data_as_a_file_and_no_one_else_can() {
    let app = spawn_app().await;
    let owner = app.register("export-owner").await;
    let admin = app.register("export-admin").await;
    let outsider = app.register("export-outsider").await;
    let org = create_org(&app, &owner, "Exported").await;
    join(&app, &owner, &org, &admin, "admin").await;
    let (mine, theirs) = (marker(&app, "owner"), marker(&app, "admin"));
    let a = conversation_with(&app, &owner, &org, &mine).await;
    let b = conversation_with(&app, &admin, &org, &theirs).await;
    set_settings(
        &app,
        &owner,
        &org,
        json!({"conversation_retention_days": 90}),
    )
    .await;

    let resp = app
        .get(&format!("/api/orgs/{org}/export"), Some(&owner.token))
        .await;
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"chatgate-{org}-"))
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let file = json_of(resp).await;
    assert_eq!(file["format"], "chatgate.org-export");
    assert_eq!(file["version"], 1);
    assert_eq!(file["org"]["id"], org.as_str());
    assert_eq!(file["org"]["name"], "Exported");
    assert_eq!(file["org"]["settings"]["conversation_retention_days"], 90);
    let members: Vec<&str> = file["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(members, [owner.id.as_str(), admin.id.as_str()]);
    let usage = file["usage"].as_array().unwrap();
    assert_eq!(
        usage
            .iter()
            .map(|u| u["requests"].as_i64().unwrap())
            .sum::<i64>(),
        2,
        "{usage:?}"
    );
    let audit_types: Vec<&str> = file["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        audit_types.contains(&"member.added") && audit_types.contains(&"org.settings_changed"),
        "{audit_types:?}"
    );
    let conversations = file["conversations"].as_array().unwrap();
    assert_eq!(
        conversations
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [a.as_str(), b.as_str()],
        "every member's conversations, oldest first"
    );
    for (c, (text, user)) in conversations
        .iter()
        .zip([(&mine, &owner), (&theirs, &admin)])
    {
        assert_eq!(c["user_id"], user.id.as_str());
        let messages = c["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{c}");
        assert_eq!(messages[0]["role"], "user");
        assert_eq!(messages[0]["content"], format!("remember {text}"));
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(c["messages_truncated"], false);
    }
    assert_eq!(file["next_cursor"], Value::Null);
    assert_eq!(file["truncated"]["audit"], false);

    // The export is itself in the org's audit log.
    let log = json_of(
        app.get(&format!("/api/orgs/{org}/audit"), Some(&owner.token))
            .await,
    )
    .await;
    assert_eq!(log["items"][0]["type"], "org.exported");
    assert_eq!(log["items"][0]["actor_id"], owner.id.as_str());

    assert_problem(
        app.get(&format!("/api/orgs/{org}/export"), Some(&admin.token))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/orgs/{org}/export"), Some(&outsider.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/orgs/{org}/export"), None).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn an_export_pages_through_conversations_with_its_cursor() {
    let app = spawn_app().await;
    let owner = app.register("export-pages").await;
    let org = &owner.personal_org;
    let mut made = Vec::new();
    for _ in 0..27 {
        let resp = app
            .post(
                "/api/conversations",
                Some(&owner.token),
                &json!({"model": "demo/echo"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        made.push(json_of(resp).await["id"].as_str().unwrap().to_string());
    }
    let first = json_of(
        app.get(&format!("/api/orgs/{org}/export"), Some(&owner.token))
            .await,
    )
    .await;
    assert_eq!(first["conversations"].as_array().unwrap().len(), 25);
    let cursor = first["next_cursor"].as_str().expect("more conversations");
    let second = json_of(
        app.get(
            &format!("/api/orgs/{org}/export?cursor={cursor}"),
            Some(&owner.token),
        )
        .await,
    )
    .await;
    assert!(
        second.get("members").is_none(),
        "later files hold conversations only"
    );
    assert_eq!(second["next_cursor"], Value::Null);
    let seen: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|f| f["conversations"].as_array().unwrap().clone())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, made);
    assert_problem(
        app.get(
            &format!("/api/orgs/{org}/export?cursor=%%%"),
            Some(&owner.token),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Complete deletion

/// A Worker invocation makes at most 50 subrequests on Workers Free, and wiping a Durable
/// Object is one: an account with more conversations than that is still deleted at once, with
/// at most 30 object calls in the request (its limiter, its personal org's limiter and webhook
/// queue, 27 conversations), and the scheduled upkeep wipes the rest.
#[tokio::test]
async fn an_account_with_more_conversations_than_one_request_may_wipe_is_deleted_and_the_upkeep_wipes_the_rest(
) {
    let app = spawn_app().await;
    let user = app.register("many-conversations").await;
    let markers: Vec<String> = (0..36).map(|i| marker(&app, &format!("many{i}"))).collect();
    for m in &markers {
        conversation_with(&app, &user, &user.personal_org, m).await;
    }
    let needles: Vec<&str> = markers.iter().map(String::as_str).collect();
    assert_eq!(cells_holding("do", &needles).len(), 72, "two messages each");

    let resp = app
        .send_json(
            Method::DELETE,
            "/api/me",
            Some(&user.token),
            &json!({"password": user.password}),
        )
        .await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    assert_eq!(
        cells_holding("d1", &[&user.id, &user.personal_org]),
        Vec::<Value>::new(),
        "the account is gone from D1 at once"
    );
    assert_eq!(
        cells_holding("do", &needles).len() / 2,
        9,
        "27 of the 36 conversations wiped by the deleting request"
    );

    // Other tests' deletions share the queue: a few runs at most.
    for _ in 0..5 {
        if cells_holding("do", &needles).is_empty() {
            break;
        }
        run_upkeep(&app).await;
    }
    assert_eq!(
        cells_holding("do", &needles),
        Vec::<Value>::new(),
        "the upkeep wiped the rest"
    );
}

#[tokio::test]
async fn deleting_an_org_and_then_an_account_leaves_nothing_of_them_in_any_table_or_durable_object()
{
    let app = spawn_app().await;
    let user = app.register("erase").await;
    let member = app.register("erase-member").await;
    let neighbour = app.register("erase-neighbour").await;
    let team = create_org(&app, &user, "Erased team").await;
    let kept_org = create_org(&app, &user, "Erased with the account").await;
    let theirs = create_org(&app, &neighbour, "Neighbour's").await;
    // The team's webhook endpoint: its queue (a Durable Object) holds the events' data.
    let receiver = crate::federation::Receiver::start(&[]);
    let resp = app
        .send_json(
            Method::PUT,
            &format!("/api/orgs/{team}/webhooks"),
            Some(&user.token),
            &json!({"url": receiver.url, "secret": "erase-webhook-secret-0123456789",
                    "events": ["member.joined", "key.created", "conversation.deleted"]}),
        )
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    join(&app, &user, &team, &member, "member").await;
    join(&app, &neighbour, &theirs, &user, "admin").await;
    crate::orgs::invite(&app, &user, &team, "someone@example.com", "member").await;
    crate::orgs::invite(&app, &user, &kept_org, "other@example.com", "member").await;

    // Everything a user has: more sessions, keys, provider keys, 2FA, a passkey, mail links,
    // an embed ticket, conversations in every org, voice sessions, settings changes.
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    for org in [&user.personal_org, &team, &theirs] {
        let resp = app
            .post(
                "/api/keys",
                Some(&user.token),
                &json!({"name": "k", "org_id": org}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let resp = app
        .send_json(
            Method::PUT,
            "/api/provider-keys/openai",
            Some(&user.token),
            &json!({"api_key": "sk-erase-0123456789abcdef0123"}),
        )
        .await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let resp = app
        .send_json(
            Method::PUT,
            "/api/provider-keys/anthropic",
            Some(&user.token),
            &json!({"api_key": "sk-ant-erase-0123456789abcdef", "org_id": kept_org}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let mut authenticator = crate::passkeys::SoftAuthenticator::p256();
    crate::passkeys::add_passkey(&app, &user, &mut authenticator, "laptop").await;
    crate::mfa::enable_2fa(&app, &user).await;
    let resp = app
        .post(
            "/api/auth/forgot-password",
            None,
            &json!({"email": user.email}),
        )
        .await;
    assert!(resp.status().is_success());
    let resp = app
        .post(
            "/api/embed/tickets",
            Some(&user.token),
            &json!({"org_id": team, "origin": "https://embed.example"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    set_settings(
        &app,
        &user,
        &team,
        json!({"conversation_retention_days": 7}),
    )
    .await;
    let markers: Vec<String> = ["personal", "team", "kept", "theirs", "member-in-team"]
        .iter()
        .map(|w| marker(&app, w))
        .collect();
    conversation_with(&app, &user, &user.personal_org, &markers[0]).await;
    conversation_with(&app, &user, &team, &markers[1]).await;
    conversation_with(&app, &user, &kept_org, &markers[2]).await;
    conversation_with(&app, &user, &theirs, &markers[3]).await;
    conversation_with(&app, &member, &team, &markers[4]).await;
    let neighbours_own = marker(&app, "neighbour");
    conversation_with(&app, &neighbour, &theirs, &neighbours_own).await;
    let now = now_ms();
    let uid = &user.id;
    d1(
        &format!(
            "INSERT INTO voice_sessions (id, org_id, user_id, room, room_sid, participant_sid, started_at, ended_at) VALUES
               ('vs_erase{n}a', '{team}', '{uid}', '{team}:standup', 'RM_e{n}', 'PA_e{n}a', {now} - 60000, {now}),
               ('vs_erase{n}b', '{theirs}', '{uid}', '{theirs}:standup', 'RM_e{n}b', 'PA_e{n}b', {now} - 60000, {now});",
            n = app.n
        ),
        "",
    );

    let ids = [
        user.id.as_str(),
        user.personal_org.as_str(),
        team.as_str(),
        kept_org.as_str(),
    ];
    let before = cells_holding("d1", &ids);
    for table in [
        "sessions",
        "api_keys",
        "provider_keys",
        "passkeys",
        "totp_factors",
        "recovery_codes",
        "email_tokens",
        "embed_tickets",
        "memberships",
        "invitations",
        "conversations",
        "usage_events",
        "voice_sessions",
        "audit_events",
    ] {
        assert!(
            before.iter().any(|c| c[1] == table),
            "the test puts a row in {table}"
        );
    }
    let markers: Vec<&str> = markers.iter().map(String::as_str).collect();
    assert_eq!(cells_holding("do", &markers).len(), 10, "two messages each");
    let in_objects = cells_holding("do", &ids);
    for table in ["deliveries", "hits"] {
        assert!(
            in_objects.iter().any(|c| c[1] == table),
            "the test leaves the user or the team in the {table} of a Durable Object: {in_objects:?}"
        );
    }

    // The team first: the org and everything in it.
    assert_eq!(
        app.delete(&format!("/api/orgs/{team}"), Some(&user.token))
            .await
            .status(),
        204
    );
    assert_eq!(
        cells_holding("d1", &[&team]),
        Vec::<Value>::new(),
        "nothing of the deleted org in any table"
    );
    assert_eq!(
        cells_holding("do", &[markers[1], markers[4], &team]),
        Vec::<Value>::new(),
        "nor in any Durable Object: its conversations' messages, its webhook queue"
    );

    // Then the account, with the org it alone owns and its personal org.
    let resp = app
        .send_json(
            Method::DELETE,
            "/api/me",
            Some(&user.token),
            &json!({"password": user.password}),
        )
        .await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let left: Vec<Value> = cells_holding("d1", &ids)
        .into_iter()
        .chain(cells_holding("d1", &[&user.email]))
        // The dev mailbox keeps copies of sent mail for development (DEV_MAILBOX=on); it is
        // off in production.
        .filter(|c| c[1] != "dev_mailbox")
        .collect();
    assert_eq!(
        left,
        Vec::<Value>::new(),
        "nothing of the account in any table"
    );
    assert_eq!(
        cells_holding("do", &markers)
            .into_iter()
            .chain(cells_holding("do", &ids))
            .collect::<Vec<_>>(),
        Vec::<Value>::new(),
        "nor in any Durable Object: its conversations' messages, its request windows"
    );

    // What belongs to others stays: the neighbour's org, its conversation, and its audit log
    // of what the user did there, with the actor gone.
    assert_eq!(cells_holding("do", &[&neighbours_own]).len(), 2);
    let log = json_of(
        app.get(&format!("/api/orgs/{theirs}/audit"), Some(&neighbour.token))
            .await,
    )
    .await;
    let created_key = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "key.created")
        .expect("the key the user created there");
    assert_eq!(created_key["actor_id"], "deleted");
    assert!(created_key["ip"] == "" || created_key["ip"].is_null());
    let usage = json_of(
        app.get(
            &format!("/api/orgs/{theirs}/usage?group_by=user"),
            Some(&neighbour.token),
        )
        .await,
    )
    .await;
    let deleted = usage["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "deleted")
        .expect("the user's usage there, as a deleted user's");
    assert_eq!(deleted["requests"], 1);
    assert_eq!(deleted["voice_seconds"], 60);
}
