//! The operator's console (`/api/admin/*`): service admins are the verified accounts whose
//! address is in ADMIN_EMAILS (compared by its normalized form); every other caller gets 404
//! on every console route (401 without a credential). Disabling an account stops its sessions, refresh tokens, API keys and
//! sign-ins at once; every console action is audited with the admin as actor.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};

/// The shared server's ADMIN_EMAILS (tests/api/helpers.rs): addresses on a domain no other
/// test file registers, so no other test meets a service admin. Each test that needs an admin
/// takes its own `operator-<n>` (an address registers once per run). The last entries are
/// spelled unlike the addresses the tests register, to check the comparison normalizes.
pub const ADMIN_EMAILS: &str = "operator-1@console.example.org,operator-2@console.example.org,\
     operator-3@console.example.org,operator-4@console.example.org,operator-5@console.example.org,\
     operator-6@console.example.org,operator-7@console.example.org,operator-8@console.example.org,\
     operator-9@console.example.org,operator-10@console.example.org,operator-11@console.example.org,\
     operator-12@console.example.org,operator-13@console.example.org,operator-14@console.example.org,\
     \u{ff2f}\u{ff30}\u{ff25}\u{ff32}\u{ff21}\u{ff34}\u{ff2f}\u{ff32}-Spelled@Console.Example.ORG,\
     unverified-operator@console.example.org, target-operator@console.example.org";

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// Registers `email` (as typed) and, with `verify`, opens the link mailed to it.
async fn register_as(app: &TestApp, email: &str, verify: bool) -> User {
    let password = format!("pw for {email} is long enough");
    let resp = app
        .post(
            "/api/auth/register",
            None,
            &json!({"email": email, "password": password, "name": "Operator", "refresh_token_in": "body"}),
        )
        .await;
    assert_eq!(resp.status(), 201, "register {email}");
    let body = json_of(resp).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    if verify {
        app.verify_address(email).await;
    }
    let me = json_of(app.get("/api/me", Some(&token)).await).await;
    User {
        id: body["user"]["id"].as_str().unwrap().into(),
        email: email.into(),
        password,
        refresh: body["refresh_token"].as_str().unwrap().into(),
        personal_org: me["orgs"][0]["id"].as_str().unwrap().into(),
        token,
    }
}

/// The service admin `operator-<n>` (each test its own `n`).
pub async fn operator(app: &TestApp, n: u32) -> User {
    register_as(app, &format!("operator-{n}@console.example.org"), true).await
}

async fn get_ok(app: &TestApp, path: &str, token: &str) -> Value {
    let resp = app.get(path, Some(token)).await;
    assert_eq!(resp.status(), 200, "GET {path}");
    json_of(resp).await
}

/// GET `path` until `done` holds of its body (usage is recorded after the reply ends).
async fn eventually(
    app: &TestApp,
    path: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..100 {
        let body = get_ok(app, path, token).await;
        if done(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("GET {path} never got there");
}

async fn new_key(app: &TestApp, user: &User) -> String {
    let resp = app
        .post(
            "/api/keys",
            Some(&user.token),
            &json!({"name": "k", "org_id": user.personal_org, "scopes": ["chat"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    json_of(resp).await["key"].as_str().unwrap().to_string()
}

async fn complete(app: &TestApp, credential: &str, model: &str) -> reqwest::Response {
    app.post(
        "/v1/chat/completions",
        Some(credential),
        &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
}

/// The console's routes as the OpenAPI document lists them, with real ids filled in.
async fn console_routes(app: &TestApp, user_id: &str, org_id: &str) -> Vec<(Method, String)> {
    let doc = json_of(app.get("/openapi.json", None).await).await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/admin") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let path = path.replace("{id}", user_id).replace("{org}", org_id);
            routes.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path,
            ));
        }
    }
    assert!(routes.len() >= 11, "{routes:?}");
    routes
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app.request(method.clone(), path, token);
    if *method == Method::PATCH || *method == Method::POST {
        req = req.json(&json!({"service_keys": false}));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn every_console_route_is_a_404_to_anyone_who_is_not_a_service_admin() {
    let app = spawn_app().await;
    let admin = operator(&app, 1).await;
    let member = app.register("console-outsider").await;
    let unverified = register_as(&app, "unverified-operator@console.example.org", false).await;
    let admin_key = new_key(&app, &admin).await;
    let routes = console_routes(&app, &member.id, &member.personal_org).await;

    for (who, token) in [
        ("a member of the service", Some(member.token.as_str())),
        (
            "an unverified holder of an admin address",
            Some(unverified.token.as_str()),
        ),
        ("a service admin's API key", Some(admin_key.as_str())),
        ("a token that is not one", Some("not-a-token")),
    ] {
        for (method, path) in &routes {
            let resp = call(&app, method, path, token).await;
            let body = assert_problem(resp, 404, "not_found").await;
            assert_eq!(
                body["detail"], "the resource does not exist",
                "{who}: {method} {path}"
            );
        }
    }
    // Without a credential: 401, as on every authenticated route.
    for (method, path) in &routes {
        assert_problem(call(&app, method, path, None).await, 401, "unauthorized").await;
    }
    // None of it happened: the member's account and org are as they were.
    let me = get_ok(&app, "/api/me", &member.token).await;
    assert_eq!(me["id"], member.id.as_str());
    assert!(me.get("service_admin").is_none(), "{me}");
    let org = get_ok(
        &app,
        &format!("/api/admin/orgs/{}", member.personal_org),
        &admin.token,
    )
    .await;
    assert_eq!(org["service_keys"], true, "{org}");

    // The same paths answer a service admin (the ids are real).
    for (method, path) in routes.iter().filter(|(m, _)| *m == Method::GET) {
        let resp = call(&app, method, path, Some(&admin.token)).await;
        assert_eq!(resp.status(), 200, "{method} {path}");
    }
}

#[tokio::test]
async fn admin_emails_is_satisfied_only_by_a_verified_address_with_the_same_normalized_form() {
    let app = spawn_app().await;

    // The admin address, not verified yet: not an admin; once verified: an admin.
    let target = register_as(&app, "target-operator@console.example.org", false).await;
    assert_problem(
        app.get("/api/admin/users", Some(&target.token)).await,
        404,
        "not_found",
    )
    .await;
    assert!(get_ok(&app, "/api/me", &target.token)
        .await
        .get("service_admin")
        .is_none());
    app.verify_address(&target.email).await;
    get_ok(&app, "/api/admin/users", &target.token).await;
    assert_eq!(
        get_ok(&app, "/api/me", &target.token).await["service_admin"],
        true
    );

    // The entry is spelled in fullwidth capitals and mixed case: the account it names, in its
    // plain spelling, is the admin (it is the same address, and the same account).
    let spelled = register_as(&app, "operator-spelled@console.example.org", true).await;
    get_ok(&app, "/api/admin/users", &spelled.token).await;

    // Addresses that only look alike are other addresses: a Cyrillic `а`, a Latin-1 `ö` for
    // `o`, a plus tag, another subdomain. Verified, they are still no admins.
    for lookalike in [
        "t\u{430}rget-operator@console.example.org",
        "target-\u{f6}perator@console.example.org",
        "target-operator+x@console.example.org",
        "target-operator@www.console.example.org",
    ] {
        let user = register_as(&app, lookalike, true).await;
        assert_problem(
            app.get("/api/admin/users", Some(&user.token)).await,
            404,
            "not_found",
        )
        .await;
        assert!(
            get_ok(&app, "/api/me", &user.token)
                .await
                .get("service_admin")
                .is_none(),
            "{lookalike}"
        );
    }
}

#[tokio::test]
async fn a_service_admin_finds_users_by_email_or_id_and_sees_their_orgs_sessions_keys_and_usage() {
    let app = spawn_app().await;
    let admin = operator(&app, 2).await;
    let user = app.register("console-findme").await;
    let key = new_key(&app, &user).await;
    assert_eq!(complete(&app, &key, "demo/echo").await.status(), 200);

    // By part of the address, in another case; by the whole address; by id.
    let part = user.email.split('@').next().unwrap().to_uppercase();
    for q in [part.as_str(), user.email.as_str(), user.id.as_str()] {
        let found = get_ok(
            &app,
            &format!("/api/admin/users?q={}", urlencode(q)),
            &admin.token,
        )
        .await;
        let items = found["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "q={q}: {found}");
        assert_eq!(items[0]["id"], user.id.as_str());
        assert_eq!(items[0]["disabled_at"], Value::Null);
    }

    let detail = eventually(
        &app,
        &format!("/api/admin/users/{}", user.id),
        &admin.token,
        |d| d["usage"]["items"][0]["requests"] == 1,
    )
    .await;
    assert_eq!(detail["email"], user.email.as_str());
    assert_eq!(detail["service_admin"], false);
    assert_eq!(detail["orgs"][0]["id"], user.personal_org.as_str());
    assert_eq!(detail["sessions"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(detail["keys"][0]["prefix"], &key[..11]);
    assert_eq!(detail["usage"]["items"][0]["key"], "demo/echo", "{detail}");
    assert_eq!(detail["usage"]["items"][0]["requests"], 1);

    // Paging: newest first, the cursor goes on.
    let first = get_ok(&app, "/api/admin/users?limit=1", &admin.token).await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more than one account");
    let second = get_ok(
        &app,
        &format!("/api/admin/users?limit=1&cursor={cursor}"),
        &admin.token,
    )
    .await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);

    assert_problem(
        app.get("/api/admin/users/usr_nobody", Some(&admin.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/admin/users?limit=0", Some(&admin.token))
            .await,
        400,
        "validation_failed",
    )
    .await;
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", s)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_string()
}

/// The console's audit log, filtered by `query`.
async fn console_audit(app: &TestApp, admin: &User, query: &str) -> Vec<Value> {
    get_ok(
        app,
        &format!("/api/admin/audit?limit=100&{query}"),
        &admin.token,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_once_everywhere_and_let_back_in_when_enabled() {
    let app = spawn_app().await;
    let admin = operator(&app, 3).await;
    let user = app.register("console-disabled").await;
    let key = new_key(&app, &user).await;
    assert_eq!(complete(&app, &key, "demo/echo").await.status(), 200);
    get_ok(&app, "/api/me", &user.token).await;

    let resp = app
        .post(
            &format!("/api/admin/users/{}/disable", user.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let detail = json_of(resp).await;
    assert!(detail["disabled_at"].is_string(), "{detail}");
    assert_eq!(detail["sessions"], json!([]), "every session is revoked");

    // The open session's next request is refused; so is its refresh token, its API key, and
    // signing in again.
    assert_problem(
        app.get("/api/me", Some(&user.token)).await,
        401,
        "unauthorized",
    )
    .await;
    let refresh = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_problem(refresh, 403, "account_disabled").await;
    let resp = complete(&app, &key, "demo/echo").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(json_of(resp).await["error"]["code"], "account_disabled");
    assert_problem(
        app.request(Method::GET, "/api/conversations", Some(&key))
            .send()
            .await
            .unwrap(),
        403,
        "account_disabled",
    )
    .await;
    assert_problem(
        app.login(&user.email, &user.password).await,
        403,
        "account_disabled",
    )
    .await;
    // A wrong password says nothing about the account.
    assert_problem(
        app.login(&user.email, "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    // Disabling again changes nothing (and is not recorded twice).
    let again = app
        .post(
            &format!("/api/admin/users/{}/disable", user.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(json_of(again).await["disabled_at"], detail["disabled_at"]);

    let resp = app
        .post(
            &format!("/api/admin/users/{}/enable", user.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["disabled_at"], Value::Null);
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(login.status(), 200);
    let token = json_of(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    get_ok(&app, "/api/me", &token).await;
    assert_eq!(
        complete(&app, &key, "demo/echo").await.status(),
        200,
        "the key works again"
    );
    // The sessions that were open stay ended.
    assert_problem(
        app.get("/api/me", Some(&user.token)).await,
        401,
        "unauthorized",
    )
    .await;

    // Both actions are in the log, with the admin as actor and the user as subject.
    let events: Vec<Value> = console_audit(&app, &admin, &format!("actor={}", admin.id))
        .await
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("admin."))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["admin.user_enabled", "admin.user_disabled"],
        "{events:?}"
    );
    for e in &events {
        assert_eq!(e["actor_id"], admin.id.as_str());
        assert_eq!(e["subject_id"], user.id.as_str());
    }
    // The user sees them in their own log, without the admin's address.
    let mine = get_ok(&app, "/api/me/audit?limit=100", &token).await;
    let disabled = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "admin.user_disabled")
        .cloned()
        .expect("in the user's log");
    assert_eq!(disabled["ip"], Value::Null);
}

#[tokio::test]
async fn a_service_admin_cannot_disable_or_delete_their_own_account_from_the_console() {
    let app = spawn_app().await;
    let admin = operator(&app, 4).await;
    let disable = app
        .post(
            &format!("/api/admin/users/{}/disable", admin.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_problem(disable, 409, "conflict").await;
    let delete = app
        .delete(
            &format!("/api/admin/users/{}", admin.id),
            Some(&admin.token),
        )
        .await;
    assert_problem(delete, 409, "conflict").await;
    get_ok(&app, "/api/admin/users", &admin.token).await;
}

#[tokio::test]
async fn a_user_deleted_from_the_console_is_gone_with_what_they_alone_own() {
    let app = spawn_app().await;
    let admin = operator(&app, 5).await;
    let user = app.register("console-deleted").await;
    let conv = app.conversation(&user, "demo/echo").await;
    assert_eq!(
        app.chat(&user.token, &conv, &json!({"content": "hello"}))
            .await
            .status,
        200
    );
    let resp = app
        .delete(&format!("/api/admin/users/{}", user.id), Some(&admin.token))
        .await;
    assert_eq!(resp.status(), 204);
    assert_problem(
        app.login(&user.email, &user.password).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/admin/users/{}", user.id), Some(&admin.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/admin/orgs/{}", user.personal_org),
            Some(&admin.token),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let events = console_audit(&app, &admin, "type=admin.user_deleted").await;
    let event = events
        .iter()
        .find(|e| e["subject_id"] == user.id.as_str())
        .expect("recorded");
    assert_eq!(event["actor_id"], admin.id.as_str());
    assert_eq!(event["details"]["email"], user.email.as_str());
}

#[tokio::test]
async fn a_service_admin_sets_and_lifts_an_org_s_budget_as_the_limiter_sees_it() {
    let app = spawn_app().await;
    let admin = operator(&app, 6).await;
    let owner = app.register("console-budget").await;
    let org = owner.personal_org.clone();

    // Found by part of its name; its members.
    let found = get_ok(&app, "/api/admin/orgs?q=CONSOLE-BUDGET", &admin.token).await;
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == org.as_str()),
        "{found}"
    );
    let members = get_ok(
        &app,
        &format!("/api/admin/orgs/{org}/members"),
        &admin.token,
    )
    .await;
    assert_eq!(members["items"][0]["user_id"], owner.id.as_str());
    assert_eq!(members["items"][0]["role"], "owner");

    let patch = |body: Value| {
        let app = &app;
        let token = admin.token.clone();
        let org = org.clone();
        async move {
            app.send_json(
                Method::PATCH,
                &format!("/api/admin/orgs/{org}"),
                Some(&token),
                &body,
            )
            .await
        }
    };
    let resp = patch(json!({"monthly_token_limit": 1})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["settings"]["monthly_token_limit"], 1);
    // The org's own admins see it in their settings, and the limiter holds the org to it.
    let own = get_ok(&app, &format!("/api/orgs/{org}"), &owner.token).await;
    assert_eq!(own["settings"]["monthly_token_limit"], 1);
    let resp = complete(&app, &owner.token, "demo/echo").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(json_of(resp).await["error"]["code"], "insufficient_quota");

    let resp = patch(json!({"monthly_token_limit": null})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        json_of(resp).await["settings"]["monthly_token_limit"],
        Value::Null
    );
    assert_eq!(
        complete(&app, &owner.token, "demo/echo").await.status(),
        200
    );

    for bad in [
        json!({}),
        json!({"monthly_token_limit": 0}),
        json!({"monthly_token_limit": "lots"}),
        json!({"monthly_token_limit": 5, "name": "x"}),
        json!({"service_keys": "off"}),
    ] {
        let resp = patch(bad.clone()).await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    assert_problem(
        app.send_json(
            Method::PATCH,
            "/api/admin/orgs/org_nothing",
            Some(&admin.token),
            &json!({"monthly_token_limit": 5}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    let events = console_audit(
        &app,
        &admin,
        &format!("org={org}&type=admin.org_budget_changed"),
    )
    .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["details"]["monthly_token_limit"], Value::Null);
    assert_eq!(events[1]["details"]["monthly_token_limit"], 1);
    assert_eq!(events[1]["actor_id"], admin.id.as_str());
}

#[tokio::test]
async fn an_org_the_service_s_keys_no_longer_serve_uses_only_its_own_keys() {
    let app = spawn_app().await;
    let admin = operator(&app, 7).await;
    let owner = app.register("console-keys").await;
    let org = owner.personal_org.clone();
    assert_eq!(
        complete(&app, &owner.token, "openai/mock").await.status(),
        200
    );

    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/orgs/{org}"),
            Some(&admin.token),
            &json!({"service_keys": false}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["service_keys"], false);
    let resp = complete(&app, &owner.token, "openai/mock").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(resp).await["error"]["code"], "no_provider_key");
    // In a conversation too; the demo model needs no key.
    let conv = app.conversation(&owner, "openai/mock").await;
    let sse = app
        .chat(&owner.token, &conv, &json!({"content": "hi"}))
        .await;
    assert_eq!(sse.status, 400, "{:?}", sse.events);
    assert_eq!(
        complete(&app, &owner.token, "demo/echo").await.status(),
        200
    );
    let models = get_ok(&app, "/v1/models", &owner.token).await;
    assert!(
        !models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"].as_str().unwrap().starts_with("openai/")),
        "{models}"
    );

    // The org's owner cannot switch them back on through its settings.
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{org}"),
            Some(&owner.token),
            &json!({"settings": {"custom_instructions": "be brief"}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        complete(&app, &owner.token, "openai/mock").await.status(),
        400
    );
    // Its own key serves it.
    let resp = app
        .send_json(
            Method::PUT,
            "/api/provider-keys/openai",
            Some(&owner.token),
            &json!({"api_key": "sk-own-key-of-the-user-0123456789", "org_id": org}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        complete(&app, &owner.token, "openai/mock").await.status(),
        200
    );

    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/admin/orgs/{org}"),
            Some(&admin.token),
            &json!({"service_keys": true}),
        )
        .await;
    assert_eq!(json_of(resp).await["service_keys"], true);
    let events = console_audit(
        &app,
        &admin,
        &format!("org={org}&type=admin.org_service_keys_changed"),
    )
    .await;
    let switched: Vec<&Value> = events
        .iter()
        .map(|e| &e["details"]["service_keys"])
        .collect();
    assert_eq!(switched, [&json!(true), &json!(false)], "{events:?}");
}

#[tokio::test]
async fn service_wide_usage_is_grouped_by_day_org_and_model_and_the_audit_log_filters() {
    let app = spawn_app().await;
    let admin = operator(&app, 8).await;
    let user = app.register("console-usage").await;
    for _ in 0..2 {
        assert_eq!(complete(&app, &user.token, "demo/echo").await.status(), 200);
    }
    let org = user.personal_org.as_str();
    eventually(
        &app,
        "/api/admin/usage?group_by=org",
        &admin.token,
        |page| {
            page["items"].as_array().unwrap().iter().any(|r| {
                r["key"] == org && r["requests"] == 2 && r["name"] == "console-usage's workspace"
            })
        },
    )
    .await;
    let by_model = get_ok(&app, "/api/admin/usage?group_by=model", &admin.token).await;
    assert!(by_model["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["key"] == "demo/echo"));
    let by_day = get_ok(&app, "/api/admin/usage", &admin.token).await;
    let today = by_day["items"].as_array().unwrap().last().cloned().unwrap();
    assert!(today["key"].as_str().unwrap().len() == 10 && today["requests"].as_i64() >= Some(2));
    for bad in [
        "group_by=user",
        "from=yesterday",
        "from=2026-02-01&to=2026-01-01",
    ] {
        assert_problem(
            app.get(&format!("/api/admin/usage?{bad}"), Some(&admin.token))
                .await,
            400,
            "validation_failed",
        )
        .await;
    }

    // The whole log, filtered by type and actor; paged newest first.
    let logins = console_audit(
        &app,
        &admin,
        &format!("type=login.failed&actor={}", user.id),
    )
    .await;
    assert!(logins.is_empty());
    assert_eq!(
        app.login(&user.email, "wrong password here").await.status(),
        401
    );
    let failed = console_audit(&app, &admin, "type=login.failed&limit=100").await;
    assert!(
        failed.iter().any(|e| e["subject_id"] == user.id.as_str()),
        "{failed:?}"
    );
    assert!(failed.iter().all(|e| e["type"] == "login.failed"));
    let page = get_ok(&app, "/api/admin/audit?limit=1", &admin.token).await;
    assert!(page["next_cursor"].is_string());
    let future = console_audit(&app, &admin, "from=2999-01-01").await;
    assert!(future.is_empty());
    for bad in [
        "type=login.maybe",
        "actor=a%20b",
        "from=soon",
        "cursor=%25%25",
    ] {
        assert_problem(
            app.get(&format!("/api/admin/audit?{bad}"), Some(&admin.token))
                .await,
            400,
            "validation_failed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_service_admin_publishes_a_new_signing_key_which_the_jwks_shows_at_once() {
    let app = spawn_app().await;
    let admin = operator(&app, 14).await;
    let rotate = || async {
        let resp = app
            .post(
                "/api/admin/signing-keys/rotate",
                Some(&admin.token),
                &json!({}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        json_of(resp).await
    };
    let first = rotate().await;
    let kid = first["published"].as_str().expect("a new key").to_string();
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid),
        "{jwks}"
    );
    // The operator's own token still works: the new key signs only an hour later.
    assert_eq!(app.get("/api/me", Some(&admin.token)).await.status(), 200);
    let events = console_audit(&app, &admin, "type=admin.signing_key_rotated").await;
    assert!(
        events
            .iter()
            .any(|e| e["actor_id"] == admin.id && e["details"]["published"] == kid),
        "{events:?}"
    );
}
