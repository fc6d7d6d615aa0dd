//! Two-factor authentication: enrolling TOTP, the second step of a sign-in (a code once, a
//! recovery code once), its throttles, turning it off, and organizations that require it.
//! Codes are computed here from the secret the server handed out (totp-rs, RFC 6238).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An authenticator app holding a secret: it hands out codes of successive 30-second steps,
/// starting one step back, so a test can use three codes (each accepted once) without waiting.
pub struct Authenticator {
    totp: totp_rs::Totp,
    next_step: u64,
}

impl Authenticator {
    /// Waits, if the current step is about to end, so the three codes stay within the
    /// server's window (its step, one either side) for the next 25 seconds.
    pub async fn new(secret_base32: &str) -> Self {
        let into_step = unix_now() % 30;
        if into_step > 4 {
            tokio::time::sleep(Duration::from_secs(30 - into_step)).await;
        }
        let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 secret");
        Authenticator {
            totp: totp_rs::Builder::new()
                .with_secret(secret)
                .build()
                .expect("an RFC 6238 secret"),
            next_step: unix_now() / 30 - 1,
        }
    }

    /// The code of the next step (at most one step ahead of now).
    pub fn code(&mut self) -> String {
        let step = self.next_step;
        assert!(
            step <= unix_now() / 30 + 1,
            "this test used more than three codes"
        );
        self.next_step += 1;
        self.totp.generate(step * 30).to_string()
    }

    /// A code of an earlier step than every code handed out (a replay of an old code).
    pub fn earlier_code(&self, steps_back: u64) -> String {
        self.totp
            .generate((self.next_step - 1 - steps_back) * 30)
            .to_string()
    }
}

/// Turns 2FA on for `user`: the authenticator (one code used) and the ten recovery codes.
pub async fn enable_2fa(app: &TestApp, user: &User) -> (Authenticator, Vec<String>) {
    let resp = app
        .post(
            "/api/me/2fa/totp",
            Some(&user.token),
            &json!({"password": user.password}),
        )
        .await;
    assert_eq!(resp.status(), 200, "enrol");
    let body = json_of(resp).await;
    let mut authenticator = Authenticator::new(body["secret"].as_str().unwrap()).await;
    let resp = app
        .post(
            "/api/me/2fa/totp/confirm",
            Some(&user.token),
            &json!({"code": authenticator.code()}),
        )
        .await;
    assert_eq!(resp.status(), 200, "confirm");
    let codes = json_of(resp).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (authenticator, codes)
}

/// Logs in with the password and returns the ticket of the second step.
pub async fn mfa_ticket(app: &TestApp, user: &User) -> String {
    let resp = app.login(&user.email, &user.password).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "no session yet: {body}");
    body["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/api/auth/login/mfa", None, &body).await
}

async fn events_of(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.get("/api/me/audit?limit=100", Some(token)).await;
    assert_eq!(resp.status(), 200);
    json_of(resp).await["items"].as_array().unwrap().clone()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn enrolment_gives_a_secret_that_is_on_only_once_a_code_from_it_is_confirmed() {
    let app = spawn_app().await;
    let user = app.register("totp-enrol").await;
    let wrong = app
        .post(
            "/api/me/2fa/totp",
            Some(&user.token),
            &json!({"password": "not the password"}),
        )
        .await;
    assert_problem(wrong, 401, "invalid_credentials").await;

    let resp = app
        .post(
            "/api/me/2fa/totp",
            Some(&user.token),
            &json!({"password": user.password}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/localhost:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=localhost"), "{uri}");

    let status = json_of(app.get("/api/me/2fa", Some(&user.token)).await).await;
    assert_eq!(
        (status["enabled"].clone(), status["pending"].clone()),
        (json!(false), json!(true))
    );
    // Not on yet: the password alone still signs in.
    let login = json_of(app.login(&user.email, &user.password).await).await;
    assert!(login["access_token"].is_string(), "{login}");

    let mut authenticator = Authenticator::new(secret).await;
    let bad = app
        .post(
            "/api/me/2fa/totp/confirm",
            Some(&user.token),
            &json!({"code": "000000"}),
        )
        .await;
    // (000000 is the right code one time in a million: not worth a flaky test.)
    assert_problem(bad, 401, "invalid_code").await;
    let resp = app
        .post(
            "/api/me/2fa/totp/confirm",
            Some(&user.token),
            &json!({"code": authenticator.code()}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let codes = json_of(resp).await["recovery_codes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);

    let status = json_of(app.get("/api/me/2fa", Some(&user.token)).await).await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);
    let again = app
        .post(
            "/api/me/2fa/totp/confirm",
            Some(&user.token),
            &json!({"code": authenticator.code()}),
        )
        .await;
    assert_problem(again, 409, "conflict").await;
    let enrol_again = app
        .post(
            "/api/me/2fa/totp",
            Some(&user.token),
            &json!({"password": user.password}),
        )
        .await;
    assert_problem(enrol_again, 409, "conflict").await;
    assert_eq!(
        of_type(&events_of(&app, &user.token).await, "2fa.enabled").len(),
        1
    );
}

#[tokio::test]
async fn with_2fa_on_the_password_alone_gives_a_ticket_and_a_code_signs_in_once() {
    let app = spawn_app().await;
    let user = app.register("totp-login").await;
    let (mut authenticator, _) = enable_2fa(&app, &user).await;

    let resp = app.login(&user.email, &user.password).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert!(
        body["access_token"].is_null() && body["user"].is_null(),
        "{body}"
    );
    let ticket = body["mfa_token"].as_str().unwrap().to_string();

    let code = authenticator.code();
    let resp = second_step(
        &app,
        json!({"mfa_token": ticket, "code": code, "refresh_token_in": "body"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let tokens = json_of(resp).await;
    assert_eq!(tokens["user"]["id"], user.id.as_str());
    assert!(tokens["refresh_token"].is_string());
    let me = app
        .get("/api/me", Some(tokens["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(me.status(), 200);

    // The ticket is spent.
    let reused = second_step(
        &app,
        json!({"mfa_token": ticket, "code": authenticator.code()}),
    )
    .await;
    assert_problem(reused, 401, "unauthorized").await;
    // The same code again, and an older one, with a new ticket: each code works once.
    let ticket = mfa_ticket(&app, &user).await;
    let replayed = second_step(&app, json!({"mfa_token": ticket, "code": code})).await;
    assert_problem(replayed, 401, "invalid_code").await;
    let older = second_step(
        &app,
        json!({"mfa_token": ticket, "code": authenticator.earlier_code(2)}),
    )
    .await;
    assert_problem(older, 401, "invalid_code").await;

    let events = events_of(&app, &user.token).await;
    let failures = of_type(&events, "mfa.failed");
    assert_eq!(failures.len(), 2, "{events:?}");
    assert_eq!(failures[0]["details"]["method"], "totp");
    let logins = of_type(&events, "login.succeeded");
    assert_eq!(logins[0]["details"]["method"], "password");
    assert_eq!(logins[0]["details"]["second_factor"], "totp");
    // No secret in the log: not the code, not the ticket.
    let log = serde_json::to_string(&events).unwrap();
    assert!(!log.contains(&code) && !log.contains(&ticket), "{log}");
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_in_any_spelling() {
    let app = spawn_app().await;
    let user = app.register("totp-recovery").await;
    let (_, codes) = enable_2fa(&app, &user).await;

    let ticket = mfa_ticket(&app, &user).await;
    let resp = second_step(
        &app,
        json!({"mfa_token": ticket, "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let token = json_of(resp).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let ticket = mfa_ticket(&app, &user).await;
    let again = second_step(
        &app,
        json!({"mfa_token": ticket, "recovery_code": codes[0]}),
    )
    .await;
    assert_problem(again, 401, "invalid_code").await;
    // Upper case with spaces for dashes: the same code.
    let typed = codes[1].to_uppercase().replace('-', " ");
    let resp = second_step(&app, json!({"mfa_token": ticket, "recovery_code": typed})).await;
    assert_eq!(resp.status(), 200);

    let status = json_of(app.get("/api/me/2fa", Some(&token)).await).await;
    assert_eq!(status["recovery_codes_left"], 8);
    let events = events_of(&app, &token).await;
    let used = of_type(&events, "mfa.recovery_code_used");
    assert_eq!(used.len(), 2);
    assert_eq!(used[0]["details"]["recovery_codes_left"], 8);
    let log = serde_json::to_string(&events).unwrap();
    assert!(!log.contains(&codes[0]), "no code in the log");
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_ticket_then_per_account_even_for_the_right_code() {
    let app = spawn_app().await;
    let user = app.register("totp-throttle").await;
    let (mut authenticator, _) = enable_2fa(&app, &user).await;

    let first = mfa_ticket(&app, &user).await;
    for i in 0..5 {
        let resp = second_step(&app, json!({"mfa_token": first, "code": "000000"})).await;
        assert_eq!(resp.status(), 401, "try {i}");
    }
    let sixth = second_step(
        &app,
        json!({"mfa_token": first, "code": authenticator.code()}),
    )
    .await;
    let body = assert_problem(sixth, 429, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap().contains("retry"), "{body}");

    // Five more on a new ticket reach the account's limit (10 in the window).
    let second = mfa_ticket(&app, &user).await;
    for i in 0..5 {
        let resp = second_step(
            &app,
            json!({"mfa_token": second, "recovery_code": "aaaa-bbbb-cccc-dddd"}),
        )
        .await;
        assert_eq!(resp.status(), 401, "try {i}");
    }
    let third = mfa_ticket(&app, &user).await;
    let resp = second_step(
        &app,
        json!({"mfa_token": third, "code": authenticator.code()}),
    )
    .await;
    assert!(resp.headers().get("retry-after").is_some());
    assert_problem(resp, 429, "rate_limited").await;
}

#[tokio::test]
async fn the_second_step_needs_a_live_ticket_and_exactly_one_proof() {
    let app = spawn_app().await;
    let user = app.register("totp-ticket").await;
    let (mut authenticator, codes) = enable_2fa(&app, &user).await;

    let unknown = second_step(&app, json!({"mfa_token": "x".repeat(43), "code": "123456"})).await;
    assert_problem(unknown, 401, "unauthorized").await;
    let ticket = mfa_ticket(&app, &user).await;
    for body in [
        json!({"mfa_token": ticket}),
        json!({"mfa_token": ticket, "code": "123456", "recovery_code": codes[0]}),
        json!({"mfa_token": ticket, "code": "123456", "extra": 1}),
    ] {
        assert_problem(second_step(&app, body).await, 400, "validation_failed").await;
    }
    // A ticket past its five minutes.
    crate::helpers::d1(
        &format!(
            "UPDATE mfa_tickets SET expires_at = 0 WHERE user_id = '{}'",
            user.id
        ),
        "",
    );
    let expired = second_step(
        &app,
        json!({"mfa_token": ticket, "code": authenticator.code()}),
    )
    .await;
    assert_problem(expired, 401, "unauthorized").await;
}

#[tokio::test]
async fn turning_2fa_off_needs_a_current_code_or_the_password() {
    let app = spawn_app().await;
    let user = app.register("totp-off").await;
    let (mut authenticator, _) = enable_2fa(&app, &user).await;
    let off = |body: Value| {
        let app = &app;
        let token = user.token.clone();
        async move {
            app.request(Method::DELETE, "/api/me/2fa/totp", Some(&token))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_problem(off(json!({})).await, 400, "validation_failed").await;
    assert_problem(
        off(json!({"code": "000000", "password": user.password})).await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        off(json!({"password": "wrong"})).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(off(json!({"code": "000000"})).await, 401, "invalid_code").await;
    assert_eq!(
        off(json!({"code": authenticator.code()})).await.status(),
        204
    );
    assert_problem(
        off(json!({"password": user.password})).await,
        404,
        "not_found",
    )
    .await;

    let login = json_of(app.login(&user.email, &user.password).await).await;
    assert!(
        login["access_token"].is_string(),
        "the password alone again: {login}"
    );
    let events = events_of(&app, &user.token).await;
    let disabled = of_type(&events, "2fa.disabled");
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["details"]["confirmed_with"], "code");

    // On again, and off with the password.
    let (_, _) = enable_2fa(&app, &user).await;
    assert_eq!(off(json!({"password": user.password})).await.status(), 204);
}

#[tokio::test]
async fn an_org_that_requires_2fa_lets_members_act_in_it_only_with_2fa_on() {
    let app = spawn_app().await;
    let owner = app.register("req2fa-owner").await;
    let member = app.register("req2fa-member").await;
    let org = json_of(
        app.post("/api/orgs", Some(&owner.token), &json!({"name": "Strict"}))
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let require = json!({"settings": {"require_2fa": true}});
    let path = format!("/api/orgs/{org}");

    // The owner must have it first, or would lock themself out.
    let resp = app
        .send_json(Method::PATCH, &path, Some(&owner.token), &require)
        .await;
    assert_problem(resp, 403, "mfa_required").await;
    enable_2fa(&app, &owner).await;
    let resp = app
        .send_json(Method::PATCH, &path, Some(&owner.token), &require)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["settings"]["require_2fa"], true);

    // A member without 2FA joins, and can do nothing in the org but leave.
    let invitation = json_of(
        app.post(
            &format!("{path}/invitations"),
            Some(&owner.token),
            &json!({"email": member.email}),
        )
        .await,
    )
    .await;
    let resp = app
        .post(
            "/api/invitations/accept",
            Some(&member.token),
            &json!({"token": invitation["token"]}),
        )
        .await;
    assert_eq!(resp.status(), 200, "joining needs no 2FA");
    assert_problem(
        app.get(&path, Some(&member.token)).await,
        403,
        "mfa_required",
    )
    .await;
    let conv = app
        .post(
            "/api/conversations",
            Some(&member.token),
            &json!({"org_id": org}),
        )
        .await;
    let body = assert_problem(conv, 403, "mfa_required").await;
    assert!(
        body["detail"].as_str().unwrap().contains("two-factor"),
        "{body}"
    );
    let chat = app
        .request(Method::POST, "/v1/chat/completions", Some(&member.token))
        .header("openai-organization", &org)
        .json(&json!({"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 403);
    // Their own workspace is theirs as before.
    assert_eq!(
        app.post("/api/conversations", Some(&member.token), &json!({}))
            .await
            .status(),
        201
    );

    // With 2FA on, the member acts in the org: a conversation, an API key.
    let (_, _) = enable_2fa(&app, &member).await;
    assert_eq!(app.get(&path, Some(&member.token)).await.status(), 200);
    let conv = json_of(
        app.post(
            "/api/conversations",
            Some(&member.token),
            &json!({"org_id": org}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = json_of(
        app.post(
            "/api/keys",
            Some(&member.token),
            &json!({"name": "ci", "org_id": org, "scopes": ["chat", "conversations"]}),
        )
        .await,
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let models = app.get("/v1/models", Some(&key)).await;
    assert_eq!(models.status(), 200);

    // 2FA off again: the conversation, the key and the org's routes are closed to them.
    let off = app
        .request(Method::DELETE, "/api/me/2fa/totp", Some(&member.token))
        .json(&json!({"password": member.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 204);
    assert_problem(
        app.get(&format!("/api/conversations/{conv}"), Some(&member.token))
            .await,
        403,
        "mfa_required",
    )
    .await;
    let chat = app
        .request(Method::POST, "/v1/chat/completions", Some(&key))
        .json(&json!({"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 403, "an API key acts as its user");
    let leave = app
        .delete(
            &format!("{path}/members/{}", member.id),
            Some(&member.token),
        )
        .await;
    assert_eq!(leave.status(), 204, "leaving needs no 2FA");
}

#[tokio::test]
async fn an_account_disabled_between_the_two_steps_gets_no_session() {
    let app = spawn_app().await;
    let admin = crate::admin::operator(&app, 10).await;
    let user = app.register("totp-disabled").await;
    let (_, codes) = enable_2fa(&app, &user).await;
    let ticket = mfa_ticket(&app, &user).await;
    let resp = app
        .post(
            &format!("/api/admin/users/{}/disable", user.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = second_step(
        &app,
        json!({"mfa_token": ticket, "recovery_code": codes[0]}),
    )
    .await;
    assert_problem(resp, 403, "account_disabled").await;
}
