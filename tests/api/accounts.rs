//! Accounts and sessions: registration, login, tokens, rotation, revocation, deletion.

use std::time::{Duration, Instant};

use ct_codecs::{Base64UrlSafeNoPadding, Decoder, Encoder};
use jwt_simple::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, d1, server, spawn_app, JWT_SECRET};
use crate::signing_keys::{kid_of, private_key};

/// A token like an access token, with the given claims, signed by the shared test server's
/// signing key named `kid` (so only the claims differ from a genuine one).
fn claims_for(
    kid: &str,
    user_id: &str,
    session: &str,
    typ: &str,
    aud: &str,
    iss: &str,
    valid_for: i64,
) -> String {
    let key = private_key(&server().state_dir, kid);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    #[derive(Serialize, Deserialize)]
    struct Custom {
        sid: String,
        typ: String,
    }
    let mut claims = Claims::with_custom_claims(
        Custom {
            sid: session.into(),
            typ: typ.into(),
        },
        jwt_simple::prelude::Duration::from_secs(60),
    )
    .with_issuer(iss)
    .with_audience(aud)
    .with_subject(user_id);
    claims.issued_at = Some(jwt_simple::prelude::Duration::from_secs(
        (now - 3600) as u64,
    ));
    claims.invalid_before = claims.issued_at;
    claims.expires_at = Some(jwt_simple::prelude::Duration::from_secs(
        (now + valid_for) as u64,
    ));
    key.sign(claims).unwrap()
}

fn b64(s: &str) -> String {
    Base64UrlSafeNoPadding::encode_to_string(s).unwrap()
}

fn b64_decode(s: &str) -> Vec<u8> {
    Base64UrlSafeNoPadding::decode_to_vec(s, None).unwrap()
}

fn session_of(token: &str) -> (String, String) {
    let payload = token.split('.').nth(1).unwrap();
    let v: Value = serde_json::from_slice(&b64_decode(payload)).unwrap();
    (
        v["sub"].as_str().unwrap().into(),
        v["sid"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn registration_returns_the_user_a_token_and_a_personal_org() {
    let app = spawn_app().await;
    let email = app.unique_email("reg");
    let resp = app
        .post("/api/auth/register", None, &json!({"email": format!("  {}  ", email.to_uppercase()), "password": "a fine long password", "name": "Reg"}))
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["user"]["email"],
        email.to_uppercase(),
        "the email is trimmed and shown as typed"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(
        body.get("refresh_token").is_none(),
        "the refresh token is in the cookie by default"
    );
    assert!(cookie.starts_with("chatgate_refresh="));
    let me: Value = app
        .get("/api/me", body["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(me["orgs"][0]["role"], "owner");
    assert_eq!(
        app.login(&email, "a fine long password").await.status(),
        200,
        "logging in with the address in another case"
    );
}

#[tokio::test]
async fn spellings_of_one_address_in_other_unicode_forms_are_one_account() {
    let app = spawn_app().await;
    let password = "a fine long password";
    let register = |email: String| {
        let app = &app;
        async move {
            app.post(
                "/api/auth/register",
                None,
                &json!({"email": email, "password": password, "name": "Kate"}),
            )
            .await
        }
    };
    // k and ä, plainly; then a fullwidth k (U+FF4B) and a decomposed ä (a + U+0308).
    let plain = app.unique_email("k\u{e4}te");
    let fullwidth = plain.replacen('k', "\u{ff4b}", 1);
    let decomposed = plain.replacen('\u{e4}', "a\u{308}", 1);
    let resp = register(plain.clone()).await;
    assert_eq!(resp.status(), 201);
    for (case, spelling) in [
        ("fullwidth k", &fullwidth),
        ("decomposed \u{e4}", &decomposed),
    ] {
        let resp = register(spelling.clone()).await;
        assert_problem(resp, 409, "conflict").await;
        let resp = app.login(spelling, password).await;
        assert_eq!(resp.status(), 200, "{case}: logs in to the one account");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["user"]["email"],
            plain.as_str(),
            "{case}: shown as typed at registration"
        );
    }

    // A Unicode domain and its ASCII (punycode) form are one address too.
    let local = app.unique_email("ida").replace("@example.com", "");
    let resp = register(format!("{local}@b\u{fc}cher.example")).await;
    assert_eq!(resp.status(), 201);
    let resp = register(format!("{local}@xn--bcher-kva.example")).await;
    assert_problem(resp, 409, "conflict").await;
}

#[tokio::test]
async fn registration_refuses_bad_input_with_400_and_a_taken_email_with_409() {
    let app = spawn_app().await;
    let taken = app.register("taken").await;
    let long = "x".repeat(257);
    let cases = [
        (
            "short password",
            json!({"email": app.unique_email("v"), "password": "short", "name": "V"}),
            400,
            "validation_failed",
        ),
        (
            "long password",
            json!({"email": app.unique_email("v"), "password": long, "name": "V"}),
            400,
            "validation_failed",
        ),
        (
            "common password",
            json!({"email": app.unique_email("v"), "password": "qwertyuiop", "name": "V"}),
            400,
            "validation_failed",
        ),
        (
            "bad email",
            json!({"email": "not-an-email", "password": "a fine long password", "name": "V"}),
            400,
            "validation_failed",
        ),
        (
            "empty name",
            json!({"email": app.unique_email("v"), "password": "a fine long password", "name": " "}),
            400,
            "validation_failed",
        ),
        (
            "missing name",
            json!({"email": app.unique_email("v"), "password": "a fine long password"}),
            400,
            "validation_failed",
        ),
        (
            "taken email in other case",
            json!({"email": taken.email.to_uppercase(), "password": "a fine long password", "name": "V"}),
            409,
            "conflict",
        ),
    ];
    for (case, body, status, code) in cases {
        let resp = app.post("/api/auth/register", None, &body).await;
        assert_eq!(resp.status().as_u16(), status, "{case}");
        assert_problem(resp, status, code).await;
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_email_give_identical_answers() {
    let app = spawn_app().await;
    let user = app.register("enum").await;
    let wrong = app.login(&user.email, "not the password at all").await;
    let unknown = app
        .login(&app.unique_email("nobody"), "not the password at all")
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let (a, b): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a["code"], "invalid_credentials");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_take_similar_time() {
    let app = spawn_app().await;
    let user = app.register("timing").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        app.login(&user.email, &format!("wrong password {i}")).await;
        known.push(t.elapsed());
        let t = Instant::now();
        app.login(&app.unique_email("ghost"), &format!("wrong password {i}"))
            .await;
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[2].as_secs_f64(), unknown[2].as_secs_f64());
    // Both run one argon2id verification (~100+ ms); without the dummy hash an unknown
    // email would answer in a few ms. A factor of three tolerates a busy machine.
    assert!(
        u > k / 3.0 && u < k * 3.0,
        "known {k:.3}s vs unknown {u:.3}s"
    );
}

#[tokio::test]
async fn forged_expired_or_misdirected_tokens_are_all_401() {
    let app = spawn_app().await;
    let user = app.register("forge").await;
    let (sub, sid) = session_of(&user.token);
    let kid = kid_of(&user.token);
    let parts: Vec<&str> = user.token.split('.').collect();
    let payload = String::from_utf8(b64_decode(parts[1])).unwrap();
    let mut cases: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        cases.push((format!("alg {alg}"), format!("{header}.{}.", parts[1])));
    }
    let other = payload.replace(&sub, "usr_00000000000000000000000000");
    cases.push((
        "tampered payload".into(),
        format!("{}.{}.{}", parts[0], b64(&other), parts[2]),
    ));
    cases.push((
        "expired".into(),
        claims_for(
            &kid,
            &sub,
            &sid,
            "chatgate.access",
            "chatgate-api",
            "chatgate",
            -10,
        ),
    ));
    cases.push((
        "wrong audience".into(),
        claims_for(
            &kid,
            &sub,
            &sid,
            "chatgate.access",
            "someone-else",
            "chatgate",
            600,
        ),
    ));
    cases.push((
        "wrong issuer".into(),
        claims_for(
            &kid,
            &sub,
            &sid,
            "chatgate.access",
            "chatgate-api",
            "evil",
            600,
        ),
    ));
    cases.push((
        "another token type".into(),
        claims_for(&kid, &sub, &sid, "refresh", "chatgate-api", "chatgate", 600),
    ));
    // The transition: an HS256 token under the old shared secret, with good claims.
    cases.push(("HS256 with JWT_SECRET".into(), {
        let mut claims = Claims::with_custom_claims(
            json!({"sid": sid, "typ": "chatgate.access"}),
            jwt_simple::prelude::Duration::from_secs(600),
        )
        .with_issuer("chatgate")
        .with_audience("chatgate-api")
        .with_subject(&sub);
        claims.issued_at = Some(jwt_simple::prelude::Clock::now_since_epoch());
        HS256Key::from_bytes(JWT_SECRET.as_bytes())
            .authenticate(claims)
            .unwrap()
    }));
    cases.push(("HS512".into(), {
        let key = HS512Key::from_bytes(JWT_SECRET.as_bytes());
        key.authenticate(
            Claims::create(jwt_simple::prelude::Duration::from_secs(600)).with_subject(&sub),
        )
        .unwrap()
    }));
    cases.push(("a refresh token".into(), user.refresh.clone()));
    cases.push((
        "an API key".into(),
        chatgate::store::keys::generate().unwrap(),
    ));
    cases.push(("garbage".into(), "abc.def.ghi".into()));
    for (case, token) in cases {
        let resp = app.get("/api/me", Some(&token)).await;
        assert_eq!(resp.status(), 401, "{case}");
    }
    // The expired case says so, so clients know to refresh.
    let expired = claims_for(
        &kid,
        &sub,
        &sid,
        "chatgate.access",
        "chatgate-api",
        "chatgate",
        -10,
    );
    assert_problem(
        app.get("/api/me", Some(&expired)).await,
        401,
        "token_expired",
    )
    .await;
    // A token in the query string is never read.
    let resp = app
        .get(&format!("/api/me?access_token={}", user.token), None)
        .await;
    assert_problem(resp, 401, "unauthorized").await;
    // And the genuine one still works.
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 200);
}

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.post(
        "/api/auth/refresh",
        None,
        &json!({"refresh_token": token, "refresh_token_in": "body"}),
    )
    .await
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.register("rotate").await;
    let resp = refresh(&app, &user.refresh).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let new_refresh = body["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, user.refresh);
    assert_eq!(
        app.get("/api/me", body["access_token"].as_str())
            .await
            .status(),
        200
    );
    assert_eq!(refresh(&app, new_refresh).await.status(), 200);
}

#[tokio::test]
async fn replaying_a_rotated_refresh_token_revokes_the_family_while_other_sessions_keep_working() {
    let app = spawn_app().await;
    let user = app.register("replay").await;
    let other: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .unwrap();
    let rotated: Value = refresh(&app, &user.refresh).await.json().await.unwrap();
    let new_access = rotated["access_token"].as_str().unwrap().to_string();
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_string();

    // After the grace window (10 s), presenting the rotated token again is a replay.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_problem(refresh(&app, &user.refresh).await, 401, "unauthorized").await;

    assert_eq!(
        refresh(&app, &new_refresh).await.status(),
        401,
        "the newest token of the family is dead too"
    );
    assert_eq!(
        app.get("/api/me", Some(&new_access)).await.status(),
        401,
        "and its access tokens"
    );
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 401);
    assert_eq!(
        app.get("/api/me", other["access_token"].as_str())
            .await
            .status(),
        200,
        "the other session lives"
    );
    assert_eq!(
        refresh(&app, other["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn ten_parallel_refreshes_of_one_token_all_get_its_one_successor() {
    let app = spawn_app().await;
    let user = app.register("parallel").await;
    let results = futures::future::join_all((0..10).map(|_| refresh(&app, &user.refresh))).await;
    let mut pairs = Vec::new();
    for r in results {
        assert_eq!(r.status(), 200, "no tab is logged out");
        let body: Value = r.json().await.unwrap();
        pairs.push((body["access_token"].clone(), body["refresh_token"].clone()));
    }
    pairs.dedup();
    assert_eq!(pairs.len(), 1, "exactly one successor pair: {pairs:?}");
    let (access, next) = &pairs[0];
    assert_eq!(app.get("/api/me", access.as_str()).await.status(), 200);
    assert_eq!(
        refresh(&app, next.as_str().unwrap()).await.status(),
        200,
        "and it rotates on"
    );
}

#[tokio::test]
async fn a_rotated_token_presented_again_within_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let user = app.register("grace").await;
    let first: Value = refresh(&app, &user.refresh).await.json().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resp = refresh(&app, &user.refresh).await;
    assert_eq!(
        resp.status(),
        200,
        "a retry two seconds later is not a replay"
    );
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(
        app.get("/api/me", Some(&user.token)).await.status(),
        200,
        "the session was not revoked"
    );
    let next = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status(), 200, "the successor rotates on");
}

#[tokio::test]
async fn logout_with_a_bearer_token_still_refuses_a_bad_body_and_keeps_the_session() {
    // Found by the fuzzer: with a valid bearer token the body was never read, so a body with
    // unknown fields (or no JSON at all) logged the caller out instead of being refused.
    let app = spawn_app().await;
    let user = app.register("logout-body").await;
    let resp = app
        .post(
            "/api/auth/logout",
            Some(&user.token),
            &json!({"refresh_token": "x", "everywhere": true}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    let resp = app
        .request(Method::POST, "/api/auth/logout", Some(&user.token))
        .header("content-type", "text/plain")
        .body("bye")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
    assert_eq!(
        app.get("/api/me", Some(&user.token)).await.status(),
        200,
        "a refused logout leaves the session alone"
    );
}

#[tokio::test]
async fn logout_revocation_logout_all_and_password_change_stop_access_tokens_at_once() {
    let app = spawn_app().await;

    // logout: the current session only
    let user = app.register("logout").await;
    let second: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .unwrap();
    let resp = app
        .post("/api/auth/logout", Some(&user.token), &json!({}))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 401);
    assert_eq!(
        refresh(&app, &user.refresh).await.status(),
        401,
        "its refresh token too"
    );
    assert_eq!(
        app.get("/api/me", second["access_token"].as_str())
            .await
            .status(),
        200
    );

    // revoking one session from another
    let user = app.register("revoke").await;
    let other: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .unwrap();
    let (_, other_sid) = session_of(other["access_token"].as_str().unwrap());
    let sessions: Value = app
        .get("/api/sessions", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    for field in [
        "id",
        "created_at",
        "last_used_at",
        "user_agent",
        "ip",
        "current",
    ] {
        assert!(items[0].get(field).is_some(), "{field}");
    }
    assert_eq!(
        app.delete(&format!("/api/sessions/{other_sid}"), Some(&user.token))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get("/api/me", other["access_token"].as_str())
            .await
            .status(),
        401
    );
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 200);
    assert_eq!(
        app.delete(&format!("/api/sessions/{other_sid}"), Some(&user.token))
            .await
            .status(),
        404
    );

    // logout-all
    let user = app.register("all").await;
    let other: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.post("/api/auth/logout-all", Some(&user.token), &json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 401);
    assert_eq!(
        app.get("/api/me", other["access_token"].as_str())
            .await
            .status(),
        401
    );

    // password change: other sessions end, this one stays
    let user = app.register("pwchange").await;
    let other: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .unwrap();
    let resp = app
        .post(
            "/api/me/password",
            Some(&user.token),
            &json!({"current_password": user.password, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        app.get("/api/me", other["access_token"].as_str())
            .await
            .status(),
        401
    );
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 200);
    assert_eq!(app.login(&user.email, &user.password).await.status(), 401);
    assert_eq!(
        app.login(&user.email, "a brand new passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_wrong_current_password_does_not_change_the_password() {
    let app = spawn_app().await;
    let user = app.register("pwwrong").await;
    let resp = app
        .post(
            "/api/me/password",
            Some(&user.token),
            &json!({"current_password": "wrong guess", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_problem(resp, 401, "invalid_credentials").await;
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
}

#[tokio::test]
async fn the_cookie_has_its_flags_and_a_foreign_origin_gets_403() {
    let app = spawn_app().await;
    let email = app.unique_email("cookie");
    let resp = app
        .post(
            "/api/auth/register",
            None,
            &json!({"email": email, "password": "a fine long password", "name": "C"}),
        )
        .await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();

    let foreign = app
        .request(Method::POST, "/api/auth/refresh", None)
        .header("cookie", &pair)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_problem(foreign, 403, "forbidden").await;
    let foreign_logout = app
        .request(Method::POST, "/api/auth/logout", None)
        .header("cookie", &pair)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_logout.status(), 403);

    let same = app
        .request(Method::POST, "/api/auth/refresh", None)
        .header("cookie", &pair)
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    let rotated = same.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_ne!(
        rotated.split(';').next().unwrap(),
        pair,
        "a new cookie replaces the old one"
    );
    let body: Value = same.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());

    let out = app
        .request(Method::POST, "/api/auth/logout", None)
        .header("cookie", rotated.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

#[tokio::test]
async fn twelve_wrong_passwords_end_in_429_and_rotating_x_forwarded_for_does_not_help() {
    let app = spawn_app().await;
    let user = app.register("throttle").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let resp = app
            .request(Method::POST, "/api/auth/login", None)
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": user.email, "password": format!("wrong {i}")}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert!(
                resp.headers().get("retry-after").is_some(),
                "429 carries retry-after"
            );
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    // Even the right password waits out the window: the account is being guessed at.
    let resp = app.login(&user.email, &user.password).await;
    assert_problem(resp, 429, "rate_limited").await;
}

#[tokio::test]
async fn forty_parallel_wrong_passwords_are_checked_only_up_to_the_limit() {
    let app = spawn_app().await;
    let user = app.register("parallel-guess").await;
    let guesses = (0..40).map(|i| {
        let (app, email) = (&app, &user.email);
        async move {
            app.login(email, &format!("wrong {i}"))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (10, 30), "{statuses:?}");
}

#[tokio::test]
async fn parallel_registrations_from_one_address_stop_exactly_at_the_limit() {
    let app = spawn_app().await;
    let register = |i: usize| {
        let body = json!({"email": app.unique_email(&format!("flood{i}")), "password": "a fine long password", "name": "Flood"});
        let app = &app;
        async move {
            app.post("/api/auth/register", None, &body)
                .await
                .status()
                .as_u16()
        }
    };
    // REGISTRATIONS_PER_ADDRESS_PER_HOUR is 50 and this test's address has used none of it:
    // 44 in small groups (the local runtime drops requests in bursts of a hundred), then 12
    // at once for the last 6 places.
    for group in 0..11 {
        let statuses = futures::future::join_all((0..4).map(|i| register(group * 4 + i))).await;
        assert_eq!(statuses, [201; 4]);
    }
    let statuses = futures::future::join_all((44..56).map(register)).await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((created, refused), (6, 6), "{statuses:?}");
}

#[tokio::test]
async fn parallel_wrong_current_passwords_are_throttled_like_logins() {
    let app = spawn_app().await;
    let user = app.register("parallel-confirm").await;
    let attempts = (0..15).map(|i| {
        let body = json!({"current_password": format!("wrong {i}"), "new_password": "a brand new passphrase"});
        let app = &app;
        let token = user.token.clone();
        async move {
            app.post_delivered("/api/me/password", Some(&token), &body)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (10, 5), "{statuses:?}");
    // The account is being guessed at: the right password waits out the window too.
    assert_problem(
        app.login(&user.email, &user.password).await,
        429,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn a_one_megabyte_password_is_refused_quickly_with_4xx() {
    let app = spawn_app().await;
    let user = app.register("hugepw").await;
    let t = Instant::now();
    let resp = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": user.email, "password": "p".repeat(1024 * 1024)}),
        )
        .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn me_can_be_renamed_but_no_other_field_changes() {
    let app = spawn_app().await;
    let user = app.register("rename").await;
    let resp = app
        .send_json(
            Method::PATCH,
            "/api/me",
            Some(&user.token),
            &json!({"name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["name"], "Ada Lovelace");
    for body in [
        json!({"email": "x@example.com"}),
        json!({"name": "A", "id": "usr_x"}),
        json!({"role": "owner"}),
    ] {
        let resp = app
            .send_json(Method::PATCH, "/api/me", Some(&user.token), &body)
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
}

#[tokio::test]
async fn deleting_the_account_removes_its_sessions_and_sole_orgs_and_frees_the_email() {
    let app = spawn_app().await;
    let user = app.register("delete").await;
    let conv = app.conversation(&user, "demo/echo").await;
    let sse = app
        .chat(&user.token, &conv, &json!({"content": "remember me"}))
        .await;
    assert_eq!(sse.status, 200);

    let wrong = app
        .request(Method::DELETE, "/api/me", Some(&user.token))
        .json(&json!({"password": "nope nope"}))
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401, "invalid_credentials").await;

    let resp = app
        .request(Method::DELETE, "/api/me", Some(&user.token))
        .json(&json!({"password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 401);
    assert_eq!(refresh(&app, &user.refresh).await.status(), 401);
    assert_eq!(app.login(&user.email, &user.password).await.status(), 401);

    let again = app.post("/api/auth/register", None, &json!({"email": user.email, "password": "another good password", "name": "Again", "refresh_token_in": "body"})).await;
    assert_eq!(again.status(), 201, "the email is free again");
    let body: Value = again.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let me: Value = app.get("/api/me", Some(token)).await.json().await.unwrap();
    assert_ne!(
        me["orgs"][0]["id"], user.personal_org,
        "the old personal org is gone"
    );
    let convs: Value = app
        .get("/api/conversations", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(convs["items"], json!([]));
}

#[tokio::test]
async fn logout_with_an_expired_access_token_falls_back_to_the_refresh_cookie() {
    let app = spawn_app().await;
    let email = app.unique_email("expiredlogout");
    let resp = app
        .post(
            "/api/auth/register",
            None,
            &json!({"email": email, "password": "a fine long password", "name": "E"}),
        )
        .await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let pair = cookie.split(';').next().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    let (sub, sid) = session_of(body["access_token"].as_str().unwrap());
    let kid = kid_of(body["access_token"].as_str().unwrap());
    let expired = claims_for(
        &kid,
        &sub,
        &sid,
        "chatgate.access",
        "chatgate-api",
        "chatgate",
        -10,
    );

    let out = app
        .request(Method::POST, "/api/auth/logout", Some(&expired))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let again = app
        .request(Method::POST, "/api/auth/refresh", None)
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401, "the cookie's session is over");
    // Without any refresh token, the expired bearer's own error stands.
    let alone = app
        .request(Method::POST, "/api/auth/logout", Some(&expired))
        .send()
        .await
        .unwrap();
    assert_problem(alone, 401, "token_expired").await;
}

/// The Worker's argon2id (the `argon2` crate compiled to WebAssembly, as `scripts/build.sh`
/// builds it) makes the hash a native build makes: the hash stored at registration verifies
/// with the native crate, and a wrong password does not. (Stored hashes must stay verifiable
/// across builds, whatever the target features or optimisations.)
#[tokio::test]
async fn a_password_hash_made_in_the_worker_verifies_with_native_argon2() {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    let app = spawn_app().await;
    let user = app.register_unverified("argon2").await;
    let stored = d1(
        "",
        &format!("SELECT password_hash FROM users WHERE id = '{}'", user.id),
    );
    let phc = stored.first().expect("the user's stored hash");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let parsed = PasswordHash::new(phc).unwrap();
    let native = argon2::Argon2::default();
    assert!(native
        .verify_password(user.password.as_bytes(), &parsed)
        .is_ok());
    assert!(native
        .verify_password(b"not the password", &parsed)
        .is_err());
}
