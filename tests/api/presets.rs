//! Presets: a user's own, and an org's shared ones (members read them, admins and owners
//! write them, outsiders never see them); their settings are checked like a conversation's.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};
use crate::orgs::{create_org, join};

async fn listed(app: &TestApp, user: &User, org: Option<&str>) -> Vec<String> {
    let path = match org {
        Some(o) => format!("/api/presets?org_id={o}"),
        None => "/api/presets".into(),
    };
    let page: Value = app
        .get(&path, Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_users_presets_are_theirs_and_an_orgs_are_read_by_members_and_written_by_admins() {
    let app = spawn_app().await;
    let owner = app.register("presetowner").await;
    let admin = app.register("presetadmin").await;
    let member = app.register("presetmember").await;
    let outsider = app.register("presetoutsider").await;
    let org = create_org(&app, &owner, "Preset org").await;
    join(&app, &owner, &org, &admin, "admin").await;
    join(&app, &owner, &org, &member, "member").await;

    let mine = app
        .post(
            "/api/presets",
            Some(&member.token),
            &json!({"name": "Terse", "model": "openai/gpt-4o-mini", "system_prompt": "Be terse.",
                    "temperature": 0.2, "max_tokens": 300, "reasoning_effort": "low"}),
        )
        .await;
    assert_eq!(mine.status(), 201);
    let mine: Value = mine.json().await.unwrap();
    assert_eq!(mine["org_id"], Value::Null);
    assert_eq!(
        (&mine["temperature"], &mine["max_tokens"]),
        (&json!(0.2), &json!(300))
    );
    let mine_path = format!("/api/presets/{}", mine["id"].as_str().unwrap());

    let shared = app
        .post(
            "/api/presets",
            Some(&admin.token),
            &json!({"name": "Team", "model": "demo/echo", "org_id": org}),
        )
        .await;
    assert_eq!(shared.status(), 201);
    let shared: Value = shared.json().await.unwrap();
    assert_eq!(shared["org_id"], json!(org));
    let shared_path = format!("/api/presets/{}", shared["id"].as_str().unwrap());

    // Reading: own ones always, the org's with org_id, for its members only.
    assert_eq!(listed(&app, &member, None).await, vec!["Terse"]);
    assert_eq!(
        listed(&app, &member, Some(&org)).await,
        vec!["Terse", "Team"]
    );
    assert_eq!(listed(&app, &owner, Some(&org)).await, vec!["Team"]);
    assert_eq!(listed(&app, &outsider, None).await, Vec::<String>::new());
    let resp = app
        .get(&format!("/api/presets?org_id={org}"), Some(&outsider.token))
        .await;
    assert_problem(resp, 404, "not_found").await;

    // Writing: a member may not create, change or delete the org's (403); an outsider sees
    // nothing (404), of the org's or of another user's.
    let resp = app
        .post(
            "/api/presets",
            Some(&member.token),
            &json!({"name": "X", "model": "demo/echo", "org_id": org}),
        )
        .await;
    assert_problem(resp, 403, "forbidden").await;
    let rename = json!({"name": "Renamed"});
    let resp = app
        .send_json(Method::PATCH, &shared_path, Some(&member.token), &rename)
        .await;
    assert_problem(resp, 403, "forbidden").await;
    assert_problem(
        app.delete(&shared_path, Some(&member.token)).await,
        403,
        "forbidden",
    )
    .await;
    for path in [&shared_path, &mine_path] {
        let resp = app
            .send_json(Method::PATCH, path, Some(&outsider.token), &rename)
            .await;
        assert_problem(resp, 404, "not_found").await;
        assert_problem(
            app.delete(path, Some(&outsider.token)).await,
            404,
            "not_found",
        )
        .await;
    }
    let resp = app
        .post(
            "/api/presets",
            Some(&outsider.token),
            &json!({"name": "X", "model": "demo/echo", "org_id": org}),
        )
        .await;
    assert_problem(resp, 404, "not_found").await;
    let resp = app
        .send_json(Method::PATCH, &mine_path, Some(&admin.token), &rename)
        .await;
    assert_problem(resp, 404, "not_found").await;

    // The admin changes the org's; the member their own; null clears a setting.
    let resp = app
        .send_json(Method::PATCH, &shared_path, Some(&admin.token), &rename)
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .send_json(
            Method::PATCH,
            &mine_path,
            Some(&member.token),
            &json!({"temperature": null}),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["temperature"], Value::Null);
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(
        listed(&app, &member, Some(&org)).await,
        vec!["Terse", "Renamed"]
    );
    assert_eq!(
        app.delete(&shared_path, Some(&owner.token)).await.status(),
        204
    );
    assert_eq!(
        app.delete(&mine_path, Some(&member.token)).await.status(),
        204
    );
    assert!(listed(&app, &member, Some(&org)).await.is_empty());
}

#[tokio::test]
async fn a_presets_model_and_settings_are_checked_for_its_provider() {
    let app = spawn_app().await;
    let user = app.register("presetcheck").await;
    for (body, param) in [
        (json!({"name": "A", "model": "gpt-4o"}), "model"),
        (json!({"name": "", "model": "demo/echo"}), "name"),
        (
            json!({"name": "A", "model": "anthropic/claude-x", "temperature": 1.5}),
            "temperature",
        ),
        (
            json!({"name": "A", "model": "openai/gpt-4o-mini", "max_tokens": 0}),
            "max_tokens",
        ),
        (
            json!({"name": "A", "model": "openai/gpt-4o-mini", "reasoning_effort": "max"}),
            "reasoning_effort",
        ),
    ] {
        let resp = app.post("/api/presets", Some(&user.token), &body).await;
        let problem = assert_problem(resp, 400, "validation_failed").await;
        assert_eq!(problem["param"], param, "{body}: {problem}");
    }
    let resp = app
        .post(
            "/api/presets",
            Some(&user.token),
            &json!({"name": "A", "model": "demo/echo", "extra": 1}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    // An org's preset must use a model the org enables.
    let org = create_org(&app, &user, "Narrow").await;
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/orgs/{org}"),
            Some(&user.token),
            &json!({"settings": {"enabled_models": ["demo/echo"]}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post(
            "/api/presets",
            Some(&user.token),
            &json!({"name": "A", "model": "openai/gpt-4o-mini", "org_id": org}),
        )
        .await;
    let problem = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(problem["param"], "model");
}
