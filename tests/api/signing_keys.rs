//! chatgate's signing keys: access tokens are ES256 with a `kid` of the JWKS published at
//! `/.well-known/jwks.json`, verifiable by anyone from it alone; any other algorithm is 401;
//! keys rotate on the schedule and a retired key verifies until its tokens have expired.

use std::path::Path;

use jwt_simple::prelude::*;
use serde_json::Value;

use crate::helpers::{
    assert_problem, d1_at, own_state_dir, spawn_app, OwnServer, TestApp, ENCRYPTION_KEY_B64,
};

const MINUTE: i64 = 60 * 1000;
const DAY: i64 = 24 * 60 * MINUTE;

fn b64url_decode(s: &str) -> Vec<u8> {
    chatgate::crypto::b64url_decode(s).expect("base64url")
}

/// A token's header.
pub fn header_of(token: &str) -> Value {
    serde_json::from_slice(&b64url_decode(token.split('.').next().unwrap())).unwrap()
}

/// The kid of a token's header.
pub fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("a kid").to_string()
}

/// The private key named `kid` of the server on `state_dir`, opened with the test master key
/// (to forge tokens that only differ from genuine ones where a test says).
pub fn private_key(state_dir: &Path, kid: &str) -> ES256KeyPair {
    let rows = d1_at(
        state_dir,
        "",
        &format!(
            "SELECT private_key_sealed FROM signing_keys WHERE kid = '{}'",
            kid.replace('\'', "")
        ),
    );
    let sealed = chatgate::crypto::b64_decode(&rows[0][0]).unwrap();
    let master: [u8; 32] = chatgate::crypto::b64_decode(ENCRYPTION_KEY_B64)
        .unwrap()
        .try_into()
        .unwrap();
    let aad = format!("signing_key:{kid}");
    let private = chatgate::crypto::open(&master, &sealed, aad.as_bytes()).expect("opens");
    let bytes = b64url_decode(std::str::from_utf8(&private).unwrap());
    ES256KeyPair::from_bytes(&bytes).unwrap().with_key_id(kid)
}

async fn jwks(app: &TestApp) -> Value {
    let resp = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

/// The public key of a JWK, as a third party would build it from the JWKS alone.
fn public_key(jwk: &Value) -> ES256PublicKey {
    let mut point = vec![4u8];
    point.extend(b64url_decode(jwk["x"].as_str().unwrap()));
    point.extend(b64url_decode(jwk["y"].as_str().unwrap()));
    ES256PublicKey::from_bytes(&point)
        .unwrap()
        .with_key_id(jwk["kid"].as_str().unwrap())
}

#[derive(Serialize, Deserialize)]
struct Access {
    sid: String,
    typ: String,
}

#[tokio::test]
async fn the_jwks_is_public_and_cacheable_and_verifies_an_access_token_alone() {
    let app = spawn_app().await;
    let user = app.register("jwks").await;
    let header = header_of(&user.token);
    assert_eq!(header["alg"], "ES256");
    let kid = kid_of(&user.token);

    let resp = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=600");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    let jwk = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's kid is in the JWKS")
        .clone();
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["use"]),
        (
            &Value::from("EC"),
            &Value::from("P-256"),
            &Value::from("ES256"),
            &Value::from("sig")
        )
    );
    assert!(jwk.get("d").is_none(), "no private part is published");

    // A third party verifies it with the JWKS alone: signature, issuer, audience, subject.
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&["chatgate"])),
        allowed_audiences: Some(HashSet::from_strings(&["chatgate-api"])),
        ..Default::default()
    };
    let claims = public_key(&jwk)
        .verify_token::<Access>(&user.token, Some(options))
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some(user.id.as_str()));
    assert_eq!(claims.custom.typ, "chatgate.access");
}

#[tokio::test]
async fn alg_none_and_hs256_keyed_with_the_public_key_are_401() {
    let app = spawn_app().await;
    let user = app.register("algconf").await;
    let kid = kid_of(&user.token);
    let body = jwks(&app).await;
    let jwk = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    let public = public_key(&jwk);
    let payload = user.token.split('.').nth(1).unwrap().to_string();
    let b64 = |s: &str| chatgate::crypto::b64url(s.as_bytes());

    let mut cases: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE"] {
        let header = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#));
        cases.push((format!("alg {alg}"), format!("{header}.{payload}.")));
    }
    // HS256 whose secret is the public key, in every form a confused verifier might use.
    for (form, secret) in [
        ("the JWK", serde_json::to_vec(&jwk).unwrap()),
        ("PEM", public.to_pem().unwrap().into_bytes()),
        ("SEC1 compressed", public.to_bytes()),
        ("SEC1 uncompressed", {
            let mut p = vec![4u8];
            p.extend(b64url_decode(jwk["x"].as_str().unwrap()));
            p.extend(b64url_decode(jwk["y"].as_str().unwrap()));
            p
        }),
    ] {
        let header = b64(&format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#));
        let signed = format!("{header}.{payload}");
        let tag = chatgate::crypto::hmac_sha256(&secret, signed.as_bytes());
        cases.push((
            format!("HS256 with {form}"),
            format!("{signed}.{}", chatgate::crypto::b64url(&tag)),
        ));
    }
    // An ES256 token naming a kid that is not ours, and one signed by a key of nobody's.
    let stranger = ES256KeyPair::generate().with_key_id(&kid);
    let claims: JWTClaims<Value> = serde_json::from_slice(&b64url_decode(&payload)).unwrap();
    cases.push((
        "ES256 by another key under our kid".into(),
        stranger.sign(claims).unwrap(),
    ));
    let header = b64(r#"{"alg":"ES256","typ":"JWT","kid":"no-such-kid"}"#);
    let rest: Vec<&str> = user.token.splitn(2, '.').collect();
    cases.push(("an unknown kid".into(), format!("{header}.{}", rest[1])));

    for (case, token) in cases {
        let resp = app.get("/api/me", Some(&token)).await;
        assert_eq!(resp.status(), 401, "{case}");
        assert_problem(resp, 401, "unauthorized").await;
    }
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 200);
}

/// Runs the scheduled handler as the Cron Trigger would.
async fn run_upkeep(app: &TestApp) {
    let resp = app
        .client
        .get(app.url("/__scheduled"))
        .query(&[("cron", "*/15 * * * *")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn refreshed(app: &TestApp, refresh: &mut String) -> String {
    let resp = app
        .post(
            "/api/auth/refresh",
            None,
            &serde_json::json!({"refresh_token": refresh, "refresh_token_in": "body"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    *refresh = body["refresh_token"].as_str().unwrap().to_string();
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_rotated_key_verifies_its_tokens_until_they_have_expired_then_not() {
    // A server of its own: deleting a key would end the other tests' tokens.
    let state = own_state_dir("keys");
    let own = OwnServer::spawn(&state, &[]).await;
    let mut app = spawn_app().await;
    app.base = own.base.clone();
    let mut user = app.register("rotation").await;
    let old_token = user.token.clone();
    let old_kid = kid_of(&old_token);
    // An ID token (chatgate as an OpenID Provider) signed by the same key.
    let (id_token, _) = crate::oidc_provider::id_token_for(&app, &user).await;
    assert_eq!(kid_of(&id_token), old_kid);
    let age = |kid: &str, by: i64| {
        d1_at(
            &state,
            &format!("UPDATE signing_keys SET created_at = created_at - {by} WHERE kid = '{kid}'"),
            "",
        );
    };

    // Nothing is due while the key is young.
    run_upkeep(&app).await;
    assert_eq!(kids(&jwks(&app).await), vec![old_kid.clone()]);

    // 31 days on, the run publishes a new key; the old one still signs (the new one waits an
    // hour, so that verifiers caching the JWKS have it first) and its tokens still verify.
    age(&old_kid, 31 * DAY);
    run_upkeep(&app).await;
    let published = kids(&jwks(&app).await);
    assert_eq!(published.len(), 2, "{published:?}");
    let new_kid = published.into_iter().find(|k| *k != old_kid).unwrap();
    assert_eq!(kid_of(&refreshed(&app, &mut user.refresh).await), old_kid);
    assert_eq!(app.get("/api/me", Some(&old_token)).await.status(), 200);

    // Once the new key has been out an hour, it signs; the old key's tokens still verify.
    age(&new_kid, 61 * MINUTE);
    run_upkeep(&app).await;
    let new_token = refreshed(&app, &mut user.refresh).await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert_eq!(header_of(&new_token)["alg"], "ES256");
    assert_eq!(app.get("/api/me", Some(&old_token)).await.status(), 200);
    assert_eq!(kids(&jwks(&app).await).len(), 2);
    // The old key's ID token still verifies from the JWKS, and chatgate still takes it.
    let old_jwk = jwks(&app).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .cloned()
        .unwrap();
    assert!(public_key(&old_jwk)
        .verify_token::<NoCustomClaims>(&id_token, None)
        .is_ok());
    assert!(crate::oidc_provider::hint_accepted(&app, &id_token).await);

    // When every token the old key signed has expired, it is gone and refused.
    age(&new_kid, 30 * MINUTE);
    run_upkeep(&app).await;
    assert_eq!(kids(&jwks(&app).await), vec![new_kid.clone()]);
    assert!(!crate::oidc_provider::hint_accepted(&app, &id_token).await);
    assert_problem(
        app.get("/api/me", Some(&old_token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(app.get("/api/me", Some(&new_token)).await.status(), 200);
    own.shut_down().await;
}

#[tokio::test]
async fn the_first_key_is_made_once_however_many_sign_ins_race_for_it() {
    let state = own_state_dir("firstkey");
    let own = OwnServer::spawn(&state, &[]).await;
    let mut app = spawn_app().await;
    app.base = own.base.clone();
    assert_eq!(
        jwks(&app).await["keys"],
        serde_json::json!([]),
        "no key before one is needed"
    );
    let users = futures::future::join_all((0..8).map(|i| {
        let app = &app;
        async move { app.register(&format!("race{i}")).await }
    }))
    .await;
    let mut used: Vec<String> = users.iter().map(|u| kid_of(&u.token)).collect();
    used.dedup();
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(kids(&jwks(&app).await), used);
    assert_eq!(
        d1_at(&state, "", "SELECT COUNT(*) FROM signing_keys"),
        vec![vec!["1".to_string()]]
    );
    own.shut_down().await;
}
