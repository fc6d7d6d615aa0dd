//! The audit log: security events are recorded with who, where from and what, and each
//! person sees only their own (and admins their org's).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// Every event of a page walk of `path` (newest first), following `next_cursor`.
async fn all_events(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=100&cursor={c}"),
            None => format!("{path}?limit=100"),
        };
        let resp = app.get(&url, Some(token)).await;
        assert_eq!(resp.status(), 200, "GET {url}");
        let page = json_of(resp).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn my_events(app: &TestApp, user: &User) -> Vec<Value> {
    all_events(app, &user.token, "/api/me/audit").await
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn account_security_events_are_recorded_for_their_user() {
    let app = spawn_app().await;
    let user = app.register("audit").await;

    // login.failed (wrong password), then login.succeeded.
    let resp = app.login(&user.email, "not the password at all").await;
    assert_eq!(resp.status(), 401);
    let resp = app.login(&user.email, &user.password).await;
    assert_eq!(resp.status(), 200);
    let login = json_of(resp).await;

    // refresh.reuse_detected: the same refresh token again, after the 10 s grace window.
    let first = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(first.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
    let again = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(again.status(), 401);

    // session.revoked: a session ended from the list, and a logout.
    let other = json_of(app.login(&user.email, &user.password).await).await;
    let other_token = other["access_token"].as_str().unwrap();
    let sessions = json_of(app.get("/api/sessions", Some(&user.token)).await).await;
    let other_session = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = app
        .delete(&format!("/api/sessions/{other_session}"), Some(&user.token))
        .await;
    assert_eq!(resp.status(), 204);
    let third = json_of(app.login(&user.email, &user.password).await).await;
    let resp = app
        .post(
            "/api/auth/logout",
            third["access_token"].as_str(),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    // password.changed
    let new_password = format!("{} but new", user.password);
    let resp = app
        .post(
            "/api/me/password",
            Some(&user.token),
            &json!({"current_password": user.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    let events = my_events(&app, &user).await;
    let failed = of_type(&events, "login.failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert!(failed[0]["actor_id"].is_null(), "nobody signed in did it");
    assert_eq!(failed[0]["subject_id"], user.id.as_str());
    assert_eq!(failed[0]["ip"], app.ip.as_str(), "the address is recorded");
    assert_eq!(failed[0]["details"]["reason"], "wrong_password");
    assert_eq!(of_type(&events, "login.succeeded").len(), 3);
    let reuse = of_type(&events, "refresh.reuse_detected");
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0]["subject_id"], user.id.as_str());
    let revoked = of_type(&events, "session.revoked");
    assert_eq!(revoked.len(), 2, "{revoked:#?}");
    assert!(revoked
        .iter()
        .any(|e| e["details"]["session_id"] == other_session.as_str()));
    let changed = of_type(&events, "password.changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["actor_id"], user.id.as_str());
    for e in &events {
        for field in ["id", "type", "created_at", "details"] {
            assert!(!e[field].is_null(), "{field} in {e}");
        }
        assert!(e["created_at"].as_str().unwrap().ends_with('Z'));
    }
    // Newest first.
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    // Never a secret: no password, refresh or access token anywhere in the log.
    let text = serde_json::to_string(&events).unwrap();
    for secret in [
        user.password.as_str(),
        new_password.as_str(),
        login["refresh_token"].as_str().unwrap(),
        other_token,
        "not the password at all",
    ] {
        assert!(!text.contains(secret), "a secret is in the audit log");
    }
}

#[tokio::test]
async fn a_user_sees_none_of_another_users_events() {
    let app = spawn_app().await;
    let a = app.register("audit-a").await;
    let b = app.register("audit-b").await;
    assert_eq!(app.login(&a.email, "wrong wrong wrong").await.status(), 401);
    assert_eq!(app.login(&a.email, &a.password).await.status(), 200);
    let b_events = my_events(&app, &b).await;
    assert!(
        b_events
            .iter()
            .all(|e| e["actor_id"] == b.id.as_str() || e["subject_id"] == b.id.as_str()),
        "{b_events:#?}"
    );
    assert!(!serde_json::to_string(&b_events).unwrap().contains(&a.id));
    assert!(!my_events(&app, &a).await.is_empty());
    // Another user's org audit is invisible (404), exactly as if it did not exist.
    let resp = app
        .get(
            &format!("/api/orgs/{}/audit", a.personal_org),
            Some(&b.token),
        )
        .await;
    assert_problem(resp, 404, "not_found").await;
    assert_problem(app.get("/api/me/audit", None).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_org_audit_is_for_admins_and_shows_org_events() {
    let app = spawn_app().await;
    let owner = app.register("audit-own").await;
    let admin = app.register("audit-adm").await;
    let member = app.register("audit-mem").await;
    let org = crate::orgs::create_org(&app, &owner, "Audited").await;
    crate::orgs::join(&app, &owner, &org, &admin, "admin").await;
    crate::orgs::join(&app, &owner, &org, &member, "member").await;

    // An org setting changed: the webhook endpoint.
    let resp = app
        .send_json(
            Method::PUT,
            &format!("/api/orgs/{org}/webhooks"),
            Some(&admin.token),
            &json!({"url": "https://hooks.example.com/x", "secret": "whsec_audit_0123456789", "events": ["key.created"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);

    let path = format!("/api/orgs/{org}/audit");
    assert_problem(app.get(&path, Some(&member.token)).await, 403, "forbidden").await;
    for who in [&owner, &admin] {
        let events = all_events(&app, &who.token, &path).await;
        let changed = of_type(&events, "org.settings_changed");
        assert_eq!(changed.len(), 1, "{events:#?}");
        assert_eq!(changed[0]["actor_id"], admin.id.as_str());
        assert_eq!(changed[0]["org_id"], org.as_str());
        assert!(
            !changed[0].to_string().contains("whsec_audit"),
            "no secret: {}",
            changed[0]
        );
        assert!(events.iter().all(|e| e["org_id"] == org.as_str()));
    }
    // The org's events are not the personal orgs'.
    let personal = all_events(
        &app,
        &owner.token,
        &format!("/api/orgs/{}/audit", owner.personal_org),
    )
    .await;
    assert!(of_type(&personal, "org.settings_changed").is_empty());
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_without_repeats() {
    let app = spawn_app().await;
    let user = app.register("audit-page").await;
    for _ in 0..5 {
        assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    }
    let everything = my_events(&app, &user).await;
    assert!(everything.len() >= 5);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/me/audit?limit=2&cursor={c}"),
            None => "/api/me/audit?limit=2".to_string(),
        };
        let page = json_of(app.get(&url, Some(&user.token)).await).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|e| e["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let all_ids: Vec<Value> = everything.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, all_ids);
    for bad in ["?limit=0", "?limit=101", "?cursor=%%%"] {
        let resp = app
            .get(&format!("/api/me/audit{bad}"), Some(&user.token))
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
}

#[tokio::test]
async fn org_and_key_events_are_recorded_for_the_org_and_the_people_involved() {
    let app = spawn_app().await;
    let owner = app.register("audit-o").await;
    let member = app.register("audit-m").await;
    let outsider = app.register("audit-x").await;
    let org = crate::orgs::create_org(&app, &owner, "Audit Trail").await;
    crate::orgs::join(&app, &owner, &org, &member, "member").await;
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{org}/members/{}", member.id),
            Some(&owner.token),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let key = json_of(
        app.post(
            "/api/keys",
            Some(&member.token),
            &json!({"name": "ci", "org_id": org}),
        )
        .await,
    )
    .await;
    let key_id = key["id"].as_str().unwrap();
    let secret_key = key["key"].as_str().unwrap();
    let resp = app
        .delete(&format!("/api/keys/{key_id}"), Some(&owner.token))
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{org}"),
            Some(&owner.token),
            &json!({"settings": {"custom_instructions": "Be brief."}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .delete(
            &format!("/api/orgs/{org}/members/{}", member.id),
            Some(&owner.token),
        )
        .await;
    assert_eq!(resp.status(), 204);

    let org_events = all_events(&app, &owner.token, &format!("/api/orgs/{org}/audit")).await;
    for (kind, actor, subject) in [
        ("member.added", &member, None),
        ("member.role_changed", &owner, Some(&member)),
        ("key.created", &member, None),
        ("key.revoked", &owner, Some(&member)),
        ("org.settings_changed", &owner, None),
        ("member.removed", &owner, Some(&member)),
    ] {
        let found = of_type(&org_events, kind);
        assert_eq!(found.len(), 1, "{kind} in {org_events:#?}");
        let e = found[0];
        assert_eq!(e["actor_id"], actor.id.as_str(), "{kind}");
        if let Some(s) = subject {
            assert_eq!(e["subject_id"], s.id.as_str(), "{kind}");
        }
        assert_eq!(e["org_id"], org.as_str());
    }
    let role = of_type(&org_events, "member.role_changed")[0];
    assert_eq!(role["details"]["role"], "admin");
    assert_eq!(role["details"]["previous_role"], "member");
    let created = of_type(&org_events, "key.created")[0];
    assert_eq!(created["details"]["key_id"], key_id);
    let text = serde_json::to_string(&org_events).unwrap();
    assert!(!text.contains(secret_key), "never the key itself");

    // The member sees what they did and what was done to them; not where the owner was.
    let mine = my_events(&app, &member).await;
    for kind in [
        "member.added",
        "member.role_changed",
        "key.created",
        "key.revoked",
        "member.removed",
    ] {
        assert_eq!(of_type(&mine, kind).len(), 1, "{kind} in {mine:#?}");
    }
    assert!(of_type(&mine, "org.settings_changed").is_empty());
    let by_owner = of_type(&mine, "member.removed")[0];
    assert!(by_owner["ip"].is_null() && by_owner["user_agent"].is_null());
    let by_me = of_type(&mine, "key.created")[0];
    assert_eq!(by_me["ip"], app.ip.as_str());
    // Removed, they can no longer read the org's log; an outsider never could.
    for who in [&member, &outsider] {
        let resp = app
            .get(&format!("/api/orgs/{org}/audit"), Some(&who.token))
            .await;
        assert_problem(resp, 404, "not_found").await;
    }
    assert!(!serde_json::to_string(&my_events(&app, &outsider).await)
        .unwrap()
        .contains(&org));
}
