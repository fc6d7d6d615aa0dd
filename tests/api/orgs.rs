//! Organizations: roles, members, invitations, and the walls between tenants.

use futures::future::join_all;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};

/// A new org owned by `owner`; returns its id.
pub async fn create_org(app: &TestApp, owner: &User, name: &str) -> String {
    let resp = app
        .post("/api/orgs", Some(&owner.token), &json!({"name": name}))
        .await;
    assert_eq!(resp.status(), 201, "create org {name}");
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// Invites `email` to `org` with `role` (as `by`): the invitation with its token.
pub async fn invite(app: &TestApp, by: &User, org: &str, email: &str, role: &str) -> Invitation {
    let resp = app
        .post(
            &format!("/api/orgs/{org}/invitations"),
            Some(&by.token),
            &json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(resp.status(), 201, "invite {email} as {role}");
    let body: Value = resp.json().await.unwrap();
    Invitation {
        id: body["id"].as_str().unwrap().into(),
        token: body["token"].as_str().unwrap().into(),
        body,
    }
}

pub struct Invitation {
    pub id: String,
    pub token: String,
    pub body: Value,
}

/// `user` joins `org` with `role`, invited by `owner`.
pub async fn join(app: &TestApp, owner: &User, org: &str, user: &User, role: &str) {
    let inv = invite(app, owner, org, &user.email, role).await;
    let resp = app
        .post(
            "/api/invitations/accept",
            Some(&user.token),
            &json!({"token": inv.token}),
        )
        .await;
    assert_eq!(resp.status(), 200, "{} accepts", user.email);
}

/// Replaces `org`'s feature flags (as `by`, an admin), leaving the other settings at their
/// defaults.
pub async fn set_features(app: &TestApp, by: &User, org: &str, features: Value) {
    let resp = patch(
        app,
        &format!("/api/orgs/{org}"),
        &by.token,
        &json!({"settings": {"features": features}}),
    )
    .await;
    assert_eq!(resp.status(), 200, "set features {features}");
}

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.send_json(Method::PATCH, path, Some(token), body).await
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

#[tokio::test]
async fn creating_an_org_makes_the_caller_its_owner_and_lists_it_with_the_personal_org() {
    let app = spawn_app().await;
    let user = app.register("orgmaker").await;
    let resp = app
        .post("/api/orgs", Some(&user.token), &json!({"name": "  Acme  "}))
        .await;
    assert_eq!(resp.status(), 201);
    let org = json_of(resp).await;
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["role"], "owner");
    assert_eq!(org["settings"]["enabled_models"], json!([]));
    assert_eq!(org["settings"]["monthly_token_limit"], Value::Null);
    let id = org["id"].as_str().unwrap();

    let one = json_of(app.get(&format!("/api/orgs/{id}"), Some(&user.token)).await).await;
    assert_eq!(one, org);

    let list = json_of(app.get("/api/orgs", Some(&user.token)).await).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(
        items[0]["id"],
        user.personal_org.as_str(),
        "the personal org comes first"
    );
    assert_eq!(items[1], json!({"id": id, "name": "Acme", "role": "owner"}));
    assert_eq!(list["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_org_list_pages_with_limit_and_cursor() {
    let app = spawn_app().await;
    let user = app.register("pager").await;
    let a = create_org(&app, &user, "A").await;
    let b = create_org(&app, &user, "B").await;
    let mut seen = Vec::new();
    let mut path = "/api/orgs?limit=2".to_string();
    loop {
        let page = json_of(app.get(&path, Some(&user.token)).await).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/orgs?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![user.personal_org.clone(), a, b]);
    for bad in [
        "/api/orgs?limit=0",
        "/api/orgs?limit=101",
        "/api/orgs?cursor=nonsense!",
    ] {
        assert_problem(
            app.get(bad, Some(&user.token)).await,
            400,
            "validation_failed",
        )
        .await;
    }
}

#[tokio::test]
async fn org_names_and_settings_are_validated_and_settings_are_replaced_whole() {
    let app = spawn_app().await;
    let owner = app.register("settings").await;
    let org = create_org(&app, &owner, "Settings Inc").await;
    let path = format!("/api/orgs/{org}");

    let settings = json!({
        "enabled_models": ["demo/echo", "openai/gpt-4o-mini"],
        "monthly_token_limit": 50000,
        "custom_instructions": "Answer in French.",
        "features": {"embed": true}
    });
    let resp = patch(
        &app,
        &path,
        &owner.token,
        &json!({"name": "Renamed", "settings": settings}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["name"], "Renamed");
    assert_eq!(body["settings"]["monthly_token_limit"], 50000);
    assert_eq!(body["settings"]["features"]["embed"], true);

    // A settings object replaces the previous one: what it leaves out is back to the default.
    let body = json_of(
        patch(
            &app,
            &path,
            &owner.token,
            &json!({"settings": {"custom_instructions": "Be brief."}}),
        )
        .await,
    )
    .await;
    assert_eq!(body["name"], "Renamed", "the name is untouched");
    assert_eq!(body["settings"]["custom_instructions"], "Be brief.");
    assert_eq!(body["settings"]["monthly_token_limit"], Value::Null);
    assert_eq!(body["settings"]["enabled_models"], json!([]));

    for (case, bad) in [
        ("empty name", json!({"name": "  "})),
        ("long name", json!({"name": "x".repeat(101)})),
        ("unknown field", json!({"owner": "me"})),
        (
            "unknown settings field",
            json!({"settings": {"colour": "blue"}}),
        ),
        (
            "unknown provider",
            json!({"settings": {"enabled_models": ["acme/x"]}}),
        ),
        (
            "negative limit",
            json!({"settings": {"monthly_token_limit": -1}}),
        ),
        (
            "string limit",
            json!({"settings": {"monthly_token_limit": "lots"}}),
        ),
        (
            "unknown feature",
            json!({"settings": {"features": {"teleport": true}}}),
        ),
        (
            "long instructions",
            json!({"settings": {"custom_instructions": "x".repeat(8001)}}),
        ),
    ] {
        let resp = patch(&app, &path, &owner.token, &bad).await;
        assert_eq!(resp.status(), 400, "{case}");
        assert_problem(resp, 400, "validation_failed").await;
    }
    let after = json_of(app.get(&path, Some(&owner.token)).await).await;
    assert_eq!(
        after["settings"]["custom_instructions"], "Be brief.",
        "refused changes change nothing"
    );
}

#[tokio::test]
async fn members_admins_and_owners_each_get_exactly_their_powers() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let admin = app.register("admin").await;
    let member = app.register("member").await;
    let outsider = app.register("outsider").await;
    let org = create_org(&app, &owner, "Roles Ltd").await;
    join(&app, &owner, &org, &admin, "admin").await;
    join(&app, &owner, &org, &member, "member").await;

    let o = format!("/api/orgs/{org}");
    let members = json_of(app.get(&format!("{o}/members"), Some(&member.token)).await).await;
    let roles: Vec<(String, String)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (owner.id.clone(), "owner".into()),
            (admin.id.clone(), "admin".into()),
            (member.id.clone(), "member".into())
        ],
        "every member sees the member list"
    );
    let first = &members["items"][0];
    assert_eq!(first["email"], owner.email.as_str());
    assert!(
        first["name"].is_string() && first["joined_at"].is_string(),
        "{first}"
    );

    let (m_path, a_path, o_path) = (
        format!("{o}/members/{}", member.id),
        format!("{o}/members/{}", admin.id),
        format!("{o}/members/{}", owner.id),
    );
    // (who, method, path, body, expected status, what the case is)
    let cases: Vec<(&User, Method, String, Value, u16, &str)> = vec![
        (
            &member,
            Method::GET,
            o.clone(),
            json!(null),
            200,
            "a member reads the org",
        ),
        (
            &member,
            Method::PATCH,
            o.clone(),
            json!({"name": "Mine"}),
            403,
            "a member cannot rename",
        ),
        (
            &member,
            Method::PATCH,
            o.clone(),
            json!({"settings": {}}),
            403,
            "a member cannot change settings",
        ),
        (
            &member,
            Method::POST,
            format!("{o}/invitations"),
            json!({"email": "x@example.com", "role": "member"}),
            403,
            "a member cannot invite",
        ),
        (
            &member,
            Method::GET,
            format!("{o}/invitations"),
            json!(null),
            403,
            "a member cannot list invitations",
        ),
        (
            &member,
            Method::GET,
            format!("{o}/keys"),
            json!(null),
            403,
            "a member cannot list the org's keys",
        ),
        (
            &member,
            Method::PATCH,
            a_path.clone(),
            json!({"role": "member"}),
            403,
            "a member cannot change roles",
        ),
        (
            &member,
            Method::PATCH,
            m_path.clone(),
            json!({"role": "admin"}),
            403,
            "a member cannot promote themself",
        ),
        (
            &member,
            Method::DELETE,
            a_path.clone(),
            json!(null),
            403,
            "a member cannot remove others",
        ),
        (
            &member,
            Method::DELETE,
            o.clone(),
            json!(null),
            403,
            "a member cannot delete the org",
        ),
        (
            &admin,
            Method::PATCH,
            o.clone(),
            json!({"name": "Roles Ltd (admin)"}),
            200,
            "an admin renames",
        ),
        (
            &admin,
            Method::POST,
            format!("{o}/invitations"),
            json!({"email": outsider.email, "role": "owner"}),
            403,
            "an admin cannot invite an owner",
        ),
        (
            &admin,
            Method::POST,
            format!("{o}/invitations"),
            json!({"email": outsider.email, "role": "admin"}),
            201,
            "an admin invites an admin",
        ),
        (
            &admin,
            Method::GET,
            format!("{o}/invitations"),
            json!(null),
            200,
            "an admin lists invitations",
        ),
        (
            &admin,
            Method::PATCH,
            o_path.clone(),
            json!({"role": "member"}),
            403,
            "an admin cannot demote an owner",
        ),
        (
            &admin,
            Method::PATCH,
            m_path.clone(),
            json!({"role": "owner"}),
            403,
            "an admin cannot grant owner",
        ),
        (
            &admin,
            Method::PATCH,
            a_path.clone(),
            json!({"role": "owner"}),
            403,
            "an admin cannot make themself owner",
        ),
        (
            &admin,
            Method::DELETE,
            o_path.clone(),
            json!(null),
            403,
            "an admin cannot remove an owner",
        ),
        (
            &admin,
            Method::DELETE,
            o.clone(),
            json!(null),
            403,
            "an admin cannot delete the org",
        ),
        (
            &admin,
            Method::PATCH,
            m_path.clone(),
            json!({"role": "admin"}),
            200,
            "an admin promotes a member to admin",
        ),
        (
            &admin,
            Method::PATCH,
            m_path.clone(),
            json!({"role": "member"}),
            200,
            "an admin demotes an admin",
        ),
        (
            &admin,
            Method::PATCH,
            m_path.clone(),
            json!({"role": "boss"}),
            400,
            "an unknown role is 400",
        ),
        (
            &owner,
            Method::PATCH,
            o_path.clone(),
            json!({"role": "admin"}),
            409,
            "the last owner cannot be demoted",
        ),
        (
            &owner,
            Method::DELETE,
            o_path.clone(),
            json!(null),
            409,
            "the last owner cannot leave",
        ),
        (
            &owner,
            Method::PATCH,
            format!("{o}/members/usr_nobody"),
            json!({"role": "admin"}),
            404,
            "a non-member's role is 404",
        ),
        (
            &owner,
            Method::PATCH,
            a_path.clone(),
            json!({"role": "owner"}),
            200,
            "an owner grants owner",
        ),
        (
            &owner,
            Method::PATCH,
            o_path.clone(),
            json!({"role": "admin"}),
            200,
            "an owner who is not the last can step down",
        ),
        (
            &owner,
            Method::PATCH,
            o_path.clone(),
            json!({"role": "owner"}),
            403,
            "an ex-owner cannot take owner back",
        ),
        (
            &admin,
            Method::PATCH,
            a_path.clone(),
            json!({"role": "member"}),
            409,
            "now the last owner, the former admin cannot step down",
        ),
    ];
    for (who, method, path, body, want, case) in cases {
        let req = app.request(method.clone(), &path, Some(&who.token));
        let req = if body.is_null() { req } else { req.json(&body) };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, want, "{case}: {method} {path} -> {text}");
        if want == 403 {
            assert!(text.contains("\"code\":\"forbidden\""), "{case}: {text}");
        }
        if want == 409 {
            assert!(text.contains("\"code\":\"conflict\""), "{case}: {text}");
        }
    }
    let me = json_of(app.get(&o, Some(&admin.token)).await).await;
    assert_eq!(me["role"], "owner");
}

#[tokio::test]
async fn role_changes_and_removals_take_effect_on_the_next_request() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let helper = app.register("helper").await;
    let org = create_org(&app, &owner, "Immediate").await;
    join(&app, &owner, &org, &helper, "admin").await;
    let invitations = format!("/api/orgs/{org}/invitations");
    assert_eq!(
        app.get(&invitations, Some(&helper.token)).await.status(),
        200
    );

    let member_path = format!("/api/orgs/{org}/members/{}", helper.id);
    let resp = patch(&app, &member_path, &owner.token, &json!({"role": "member"})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["role"], "member");
    assert_problem(
        app.get(&invitations, Some(&helper.token)).await,
        403,
        "forbidden",
    )
    .await;

    assert_eq!(
        app.delete(&member_path, Some(&owner.token)).await.status(),
        204
    );
    assert_problem(
        app.get(&format!("/api/orgs/{org}"), Some(&helper.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&invitations, Some(&helper.token)).await,
        404,
        "not_found",
    )
    .await;
    let mine = json_of(app.get("/api/orgs", Some(&helper.token)).await).await;
    assert!(!mine.to_string().contains(&org), "{mine}");
}

#[tokio::test]
async fn a_member_can_leave_but_a_personal_org_cannot_be_deleted() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let leaver = app.register("leaver").await;
    let org = create_org(&app, &owner, "Leaving").await;
    join(&app, &owner, &org, &leaver, "member").await;
    assert_eq!(
        app.delete(
            &format!("/api/orgs/{org}/members/{}", leaver.id),
            Some(&leaver.token)
        )
        .await
        .status(),
        204
    );
    assert_problem(
        app.get(&format!("/api/orgs/{org}"), Some(&leaver.token))
            .await,
        404,
        "not_found",
    )
    .await;

    let resp = app
        .delete(
            &format!("/api/orgs/{}", owner.personal_org),
            Some(&owner.token),
        )
        .await;
    assert_problem(resp, 409, "conflict").await;
    assert_eq!(
        app.get(
            &format!("/api/orgs/{}", owner.personal_org),
            Some(&owner.token)
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn an_invitation_is_accepted_only_by_its_email_and_only_once() {
    let app = spawn_app().await;
    let owner = app.register("inviter").await;
    let invitee = app.register("invitee").await;
    let stranger = app.register("stranger").await;
    let org = create_org(&app, &owner, "Invites").await;

    // The email is normalised: an invitation typed in capitals still matches.
    let inv = invite(&app, &owner, &org, &invitee.email.to_uppercase(), "admin").await;
    assert_eq!(inv.token.len(), 43, "a 256-bit token");
    let expires = inv.body["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() >= 20, "{expires}");

    let listed = json_of(
        app.get(&format!("/api/orgs/{org}/invitations"), Some(&owner.token))
            .await,
    )
    .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], inv.id.as_str());
    assert_eq!(items[0]["email"], invitee.email.as_str());
    assert_eq!(items[0]["role"], "admin");
    assert!(
        !listed.to_string().contains(&inv.token),
        "the token is shown once only"
    );

    let accept = |user: &User, token: &str| {
        let (u, t) = (user.token.clone(), token.to_string());
        let app = &app;
        async move {
            app.post("/api/invitations/accept", Some(&u), &json!({"token": t}))
                .await
        }
    };
    // Someone else holding the token gets exactly what a made-up token gets.
    let wrong = assert_problem(accept(&stranger, &inv.token).await, 404, "not_found").await;
    let made_up = assert_problem(accept(&stranger, &"A".repeat(43)).await, 404, "not_found").await;
    assert_eq!(wrong, made_up);
    assert_problem(accept(&stranger, "not a token").await, 404, "not_found").await;
    assert_problem(
        app.get(&format!("/api/orgs/{org}"), Some(&stranger.token))
            .await,
        404,
        "not_found",
    )
    .await;

    let resp = accept(&invitee, &inv.token).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        json_of(resp).await,
        json!({"org": {"id": org, "name": "Invites", "role": "admin"}})
    );
    assert_problem(accept(&invitee, &inv.token).await, 409, "conflict").await;

    // Used once: after leaving, the same token does not bring them back.
    assert_eq!(
        app.delete(
            &format!("/api/orgs/{org}/members/{}", invitee.id),
            Some(&invitee.token)
        )
        .await
        .status(),
        204
    );
    assert_problem(accept(&invitee, &inv.token).await, 404, "not_found").await;
    let pending = json_of(
        app.get(&format!("/api/orgs/{org}/invitations"), Some(&owner.token))
            .await,
    )
    .await;
    assert_eq!(
        pending["items"],
        json!([]),
        "an accepted invitation is no longer pending"
    );
}

#[tokio::test]
async fn a_revoked_or_replaced_invitation_cannot_be_accepted() {
    let app = spawn_app().await;
    let owner = app.register("revoker").await;
    let invitee = app.register("revoked").await;
    let org = create_org(&app, &owner, "Revocations").await;
    let first = invite(&app, &owner, &org, &invitee.email, "member").await;
    let second = invite(&app, &owner, &org, &invitee.email, "member").await;
    let accept = |token: String| {
        let (app, user) = (&app, invitee.token.clone());
        async move {
            app.post(
                "/api/invitations/accept",
                Some(&user),
                &json!({"token": token}),
            )
            .await
        }
    };
    assert_problem(accept(first.token.clone()).await, 404, "not_found").await;

    let path = format!("/api/orgs/{org}/invitations/{}", second.id);
    assert_eq!(app.delete(&path, Some(&owner.token)).await.status(), 204);
    assert_problem(
        app.delete(&path, Some(&owner.token)).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(accept(second.token.clone()).await, 404, "not_found").await;

    let third = invite(&app, &owner, &org, &invitee.email, "member").await;
    assert_eq!(accept(third.token).await.status(), 200);
}

#[tokio::test]
async fn invitations_are_validated_and_members_cannot_be_invited_again() {
    let app = spawn_app().await;
    let owner = app.register("validator").await;
    let org = create_org(&app, &owner, "Validation").await;
    let path = format!("/api/orgs/{org}/invitations");
    for (case, body, status) in [
        (
            "bad email",
            json!({"email": "not-an-email", "role": "member"}),
            400,
        ),
        (
            "bad role",
            json!({"email": "a@example.com", "role": "king"}),
            400,
        ),
        (
            "unknown field",
            json!({"email": "a@example.com", "role": "member", "note": "hi"}),
            400,
        ),
        ("missing email", json!({"role": "member"}), 400),
        (
            "already a member",
            json!({"email": owner.email, "role": "member"}),
            409,
        ),
    ] {
        let resp = app.post(&path, Some(&owner.token), &body).await;
        assert_eq!(resp.status().as_u16(), status, "{case}");
    }
    let resp = app
        .post(
            "/api/invitations/accept",
            Some(&owner.token),
            &json!({"token": "x", "org": org}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
}

#[tokio::test]
async fn another_users_org_is_404_on_every_org_route() {
    let app = spawn_app().await;
    let owner = app.register("tenant-a").await;
    let other = app.register("tenant-b").await;
    let org = create_org(&app, &owner, "Tenant A").await;
    let inv = invite(&app, &owner, &org, "someone@example.com", "member").await;
    let o = format!("/api/orgs/{org}");
    let mut cases: Vec<(Method, String, Value)> = vec![
        (Method::GET, o.clone(), json!(null)),
        (Method::PATCH, o.clone(), json!({"name": "Mine now"})),
        (Method::DELETE, o.clone(), json!(null)),
        (Method::GET, format!("{o}/members"), json!(null)),
        (
            Method::PATCH,
            format!("{o}/members/{}", owner.id),
            json!({"role": "member"}),
        ),
        (
            Method::DELETE,
            format!("{o}/members/{}", owner.id),
            json!(null),
        ),
        (Method::GET, format!("{o}/invitations"), json!(null)),
        (
            Method::POST,
            format!("{o}/invitations"),
            json!({"email": other.email, "role": "owner"}),
        ),
        (
            Method::DELETE,
            format!("{o}/invitations/{}", inv.id),
            json!(null),
        ),
        (Method::GET, format!("{o}/keys"), json!(null)),
        (
            Method::POST,
            "/api/keys".into(),
            json!({"name": "k", "org_id": org}),
        ),
        (
            Method::PUT,
            "/api/provider-keys/openai".into(),
            json!({"api_key": "sk-intruder-0123456789abcdef", "org_id": org}),
        ),
        (
            Method::DELETE,
            format!("/api/provider-keys/openai?org_id={org}"),
            json!(null),
        ),
        (
            Method::POST,
            "/api/conversations".into(),
            json!({"org_id": org}),
        ),
    ];
    // The usage report is another issue's route: checked only once it exists.
    let usage = format!("{o}/usage");
    if app.get(&usage, Some(&owner.token)).await.status() != 404 {
        cases.push((Method::GET, usage, json!(null)));
    }
    for (method, path, body) in cases {
        let req = app.request(method.clone(), &path, Some(&other.token));
        let req = if body.is_null() { req } else { req.json(&body) };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert_problem(resp, 404, "not_found").await;
    }
    // And nothing changed.
    let still = json_of(app.get(&o, Some(&owner.token)).await).await;
    assert_eq!(still["name"], "Tenant A");
    let pending = json_of(
        app.get(&format!("{o}/invitations"), Some(&owner.token))
            .await,
    )
    .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_an_org_removes_everything_in_it() {
    let app = spawn_app().await;
    let owner = app.register("deleter").await;
    let member = app.register("deleted-member").await;
    let invitee = app.register("late-invitee").await;
    let org = create_org(&app, &owner, "Doomed").await;
    join(&app, &owner, &org, &member, "member").await;
    let pending = invite(&app, &owner, &org, &invitee.email, "member").await;

    let key = json_of(
        app.post(
            "/api/keys",
            Some(&member.token),
            &json!({"name": "ci", "org_id": org, "scopes": ["conversations"]}),
        )
        .await,
    )
    .await;
    let key = key["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/conversations", Some(&key)).await.status(),
        200
    );

    let conv = json_of(
        app.post(
            "/api/conversations",
            Some(&owner.token),
            &json!({"org_id": org, "model": "demo/echo"}),
        )
        .await,
    )
    .await;
    let conv = conv["id"].as_str().unwrap().to_string();
    let sse = app
        .chat(&owner.token, &conv, &json!({"content": "remember me"}))
        .await;
    assert_eq!(sse.status, 200);
    let resp = app
        .send_json(
            Method::PUT,
            "/api/provider-keys/anthropic",
            Some(&owner.token),
            &json!({"api_key": "sk-ant-org-key-0123456789abcdef", "org_id": org}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    assert_eq!(
        app.delete(&format!("/api/orgs/{org}"), Some(&owner.token))
            .await
            .status(),
        204
    );

    assert_problem(
        app.get(&format!("/api/orgs/{org}"), Some(&owner.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/orgs/{org}"), Some(&member.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/conversations/{conv}"), Some(&owner.token))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/conversations", Some(&key)).await,
        401,
        "unauthorized",
    )
    .await;
    let accept = app
        .post(
            "/api/invitations/accept",
            Some(&invitee.token),
            &json!({"token": pending.token}),
        )
        .await;
    assert_problem(accept, 404, "not_found").await;
    for user in [&owner, &member] {
        let orgs = json_of(app.get("/api/orgs", Some(&user.token)).await).await;
        assert!(!orgs.to_string().contains(&org), "{orgs}");
        let keys = json_of(app.get("/api/keys", Some(&user.token)).await).await;
        assert!(!keys.to_string().contains(&org), "{keys}");
        let provider_keys = json_of(app.get("/api/provider-keys", Some(&user.token)).await).await;
        assert!(!provider_keys.to_string().contains(&org), "{provider_keys}");
    }
    assert_problem(
        app.delete(&format!("/api/orgs/{org}"), Some(&owner.token))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_invitation_loses_the_authority_its_inviter_has_lost() {
    let app = spawn_app().await;
    let owner = app.register("auth-owner").await;
    let bob = app.register("auth-bob").await;
    let co_owner = app.register("auth-co").await;
    let mallory = app.register("auth-mallory").await;
    let carol = app.register("auth-carol").await;
    let dave = app.register("auth-dave").await;
    let erin = app.register("auth-erin").await;
    let org = create_org(&app, &owner, "Authority").await;
    join(&app, &owner, &org, &bob, "admin").await;
    join(&app, &owner, &org, &co_owner, "owner").await;
    let accept = |user: &User, token: &str| {
        let (u, t) = (user.token.clone(), token.to_string());
        let app = &app;
        async move {
            app.post("/api/invitations/accept", Some(&u), &json!({"token": t}))
                .await
        }
    };

    // Bob (admin) invites Mallory as admin, then is demoted: his invitation no longer
    // carries an admin's authority.
    let to_mallory = invite(&app, &bob, &org, &mallory.email, "admin").await;
    let bob_path = format!("/api/orgs/{org}/members/{}", bob.id);
    let resp = patch(&app, &bob_path, &owner.token, &json!({"role": "member"})).await;
    assert_eq!(resp.status(), 200);
    assert_problem(accept(&mallory, &to_mallory.token).await, 404, "not_found").await;
    assert_problem(
        app.get(&format!("/api/orgs/{org}"), Some(&mallory.token))
            .await,
        404,
        "not_found",
    )
    .await;

    // A co-owner invites Carol as owner and Dave as admin, then becomes an admin: the
    // owner invitation is void, the admin one still stands.
    let to_carol = invite(&app, &co_owner, &org, &carol.email, "owner").await;
    let to_dave = invite(&app, &co_owner, &org, &dave.email, "admin").await;
    let co_path = format!("/api/orgs/{org}/members/{}", co_owner.id);
    let resp = patch(&app, &co_path, &owner.token, &json!({"role": "admin"})).await;
    assert_eq!(resp.status(), 200);
    assert_problem(accept(&carol, &to_carol.token).await, 404, "not_found").await;
    let pending = json_of(
        app.get(&format!("/api/orgs/{org}/invitations"), Some(&owner.token))
            .await,
    )
    .await;
    let ids: Vec<&str> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![to_dave.id.as_str()],
        "only invitations that can still be accepted are pending"
    );
    let resp = accept(&dave, &to_dave.token).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["org"]["role"], "admin");

    // An admin who invites and is then removed leaves nothing acceptable behind.
    let to_erin = invite(&app, &co_owner, &org, &erin.email, "member").await;
    assert_eq!(app.delete(&co_path, Some(&owner.token)).await.status(), 204);
    assert_problem(accept(&erin, &to_erin.token).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_former_member_no_longer_sees_their_conversations_in_the_org() {
    let app = spawn_app().await;
    let owner = app.register("conv-owner").await;
    let leaver = app.register("conv-leaver").await;
    let removed = app.register("conv-removed").await;
    let org = create_org(&app, &owner, "Confidential").await;
    for (user, who_ends_it) in [(&leaver, &leaver), (&removed, &owner)] {
        join(&app, &owner, &org, user, "member").await;
        let created = json_of(
            app.post(
                "/api/conversations",
                Some(&user.token),
                &json!({"org_id": org, "title": "Launch plans", "system_prompt": "The launch is on Friday"}),
            )
            .await,
        )
        .await;
        let conv = created["id"].as_str().unwrap().to_string();
        let sse = app
            .chat(
                &user.token,
                &conv,
                &json!({"content": "the secret numbers"}),
            )
            .await;
        assert_eq!(sse.status, 200);
        let mine = app.conversation(user, "demo/echo").await; // in their personal org

        assert_eq!(
            app.delete(
                &format!("/api/orgs/{org}/members/{}", user.id),
                Some(&who_ends_it.token)
            )
            .await
            .status(),
            204
        );

        let listed = app
            .get(
                &format!("/api/conversations?org_id={org}"),
                Some(&user.token),
            )
            .await;
        assert_problem(listed, 404, "not_found").await;
        let all = json_of(app.get("/api/conversations", Some(&user.token)).await).await;
        let text = all.to_string();
        assert!(
            !text.contains(&conv) && !text.contains("Launch plans") && !text.contains("Friday"),
            "{all}"
        );
        assert!(
            text.contains(&mine),
            "their own org's conversations stay: {all}"
        );
        for path in [
            format!("/api/conversations/{conv}"),
            format!("/api/conversations/{conv}/messages"),
        ] {
            assert_problem(app.get(&path, Some(&user.token)).await, 404, "not_found").await;
        }
    }

    // Hidden, not deleted: invited back, the leaver finds them again.
    join(&app, &owner, &org, &leaver, "member").await;
    let listed = json_of(
        app.get(
            &format!("/api/conversations?org_id={org}"),
            Some(&leaver.token),
        )
        .await,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
}

/// The default caps (`MAX_ORGS_PER_USER`, `MAX_PENDING_INVITATIONS_PER_ORG`).
const MAX_ORGS_PER_USER: usize = 20;
const MAX_PENDING_INVITATIONS_PER_ORG: usize = 100;

#[tokio::test]
async fn a_user_owns_at_most_twenty_organizations_even_when_creating_them_at_once() {
    let app = spawn_app().await;
    let user = app.register("org-cap").await;
    let attempts = MAX_ORGS_PER_USER + 5;
    let answers = join_all((0..attempts).map(|i| {
        let app = &app;
        let token = user.token.clone();
        async move {
            app.post(
                "/api/orgs",
                Some(&token),
                &json!({"name": format!("Org {i}")}),
            )
            .await
        }
    }))
    .await;
    let mut created = Vec::new();
    let mut refused = 0;
    for resp in answers {
        match resp.status().as_u16() {
            201 => created.push(json_of(resp).await["id"].as_str().unwrap().to_string()),
            _ => {
                let body = assert_problem(resp, 409, "conflict").await;
                assert!(
                    body["detail"].as_str().unwrap().contains("20"),
                    "the detail names the cap: {body}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(created.len(), MAX_ORGS_PER_USER);
    assert_eq!(refused, attempts - MAX_ORGS_PER_USER);
    let mine = json_of(app.get("/api/orgs?limit=100", Some(&user.token)).await).await;
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        MAX_ORGS_PER_USER + 1,
        "the personal organization does not count: {mine}"
    );

    // Deleting one makes room for one.
    assert_eq!(
        app.delete(&format!("/api/orgs/{}", created[0]), Some(&user.token))
            .await
            .status(),
        204
    );
    create_org(&app, &user, "One more").await;
    let resp = app
        .post("/api/orgs", Some(&user.token), &json!({"name": "Too many"}))
        .await;
    assert_problem(resp, 409, "conflict").await;
}

#[tokio::test]
async fn an_org_has_at_most_a_hundred_pending_invitations_even_when_sent_at_once() {
    let app = spawn_app().await;
    let owner = app.register("inv-cap").await;
    let org = create_org(&app, &owner, "Popular").await;
    let path = format!("/api/orgs/{org}/invitations");
    let send = |email: String| {
        let (app, path, token) = (&app, &path, owner.token.clone());
        async move {
            let resp = app
                .post(
                    path,
                    Some(&token),
                    &json!({"email": email, "role": "member"}),
                )
                .await;
            (email, resp)
        }
    };
    // Up to near the cap a few at a time, then a burst across it all at once.
    let below = MAX_PENDING_INVITATIONS_PER_ORG - 10;
    let filled: Vec<_> = futures::stream::iter((0..below).map(|_| send(app.unique_email("guest"))))
        .buffer_unordered(8)
        .collect()
        .await;
    let mut ids = Vec::new();
    let mut invited = Vec::new();
    for (email, resp) in filled {
        assert_eq!(resp.status(), 201, "below the cap");
        ids.push(json_of(resp).await["id"].as_str().unwrap().to_string());
        invited.push(email);
    }
    let burst = join_all((0..20).map(|_| send(app.unique_email("rush")))).await;
    let mut refused = Vec::new();
    for (email, resp) in burst {
        if resp.status() == 201 {
            invited.push(email);
        } else {
            let body = assert_problem(resp, 409, "conflict").await;
            assert!(
                body["detail"].as_str().unwrap().contains("100"),
                "the detail names the cap: {body}"
            );
            refused.push(email);
        }
    }
    assert_eq!(invited.len(), MAX_PENDING_INVITATIONS_PER_ORG);
    assert_eq!(refused.len(), 10);
    let mut listed = 0;
    let mut cursor = String::new();
    loop {
        let page = json_of(
            app.get(&format!("{path}?limit=100{cursor}"), Some(&owner.token))
                .await,
        )
        .await;
        listed += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(listed, MAX_PENDING_INVITATIONS_PER_ORG);

    // Sending an invited address a new invitation replaces the old one: no more pending.
    let (_, resp) = send(invited[0].clone()).await;
    assert_eq!(resp.status(), 201, "a replacement fits under the cap");
    // Revoking one makes room for one.
    assert_eq!(
        app.delete(&format!("{path}/{}", ids[1]), Some(&owner.token))
            .await
            .status(),
        204
    );
    let (_, resp) = send(refused[0].clone()).await;
    assert_eq!(resp.status(), 201);
    let (_, resp) = send(refused[1].clone()).await;
    assert_problem(resp, 409, "conflict").await;
}
