//! chatgate as an OpenID Provider: an org's OAuth clients, the consent decision, the token,
//! userinfo and revocation endpoints, and what must be refused (a wrong redirect URI, a code
//! used twice or with another verifier, forged tokens, a client of another org, a revoked
//! consent, a member who left).

use jwt_simple::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp, User};
use crate::orgs::{create_org, join};
use crate::signing_keys::{header_of, kid_of};

const CALLBACK: &str = "https://rp.example.com/oauth/openid/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A client registered in `org` by `admin`: (client_id, secret).
async fn register_client(
    app: &TestApp,
    admin: &User,
    org: &str,
    body: Value,
) -> (String, Option<String>) {
    let resp = app
        .post(
            &format!("/api/orgs/{org}/oauth-clients"),
            Some(&admin.token),
            &body,
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let c: Value = resp.json().await.unwrap();
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().map(str::to_string),
    )
}

async fn confidential(app: &TestApp, admin: &User, org: &str, scopes: &[&str]) -> (String, String) {
    let (id, secret) = register_client(
        app,
        admin,
        org,
        json!({"name": "Rp", "redirect_uris": [CALLBACK], "type": "confidential",
               "scopes": scopes, "post_logout_redirect_uris": ["https://rp.example.com/bye"]}),
    )
    .await;
    (id, secret.expect("a confidential client has a secret"))
}

/// The consent decision: the answer's JSON (status 200 asserted).
async fn authorize(app: &TestApp, token: Option<&str>, body: Value) -> Value {
    let resp = app.post("/api/oauth/authorize", token, &body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

fn query_of(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn q(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A code for `user`, allowing the client (the consent screen, then Allow).
async fn code_for(app: &TestApp, user: &User, client_id: &str, scope: &str, pkce: bool) -> String {
    let mut body = json!({
        "client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code",
        "scope": scope, "state": "st-1", "nonce": "n-1", "decision": "allow",
    });
    if pkce {
        body["code_challenge"] = json!(CHALLENGE);
        body["code_challenge_method"] = json!("S256");
    }
    let answer = authorize(app, Some(&user.token), body).await;
    let to = answer["redirect_to"].as_str().expect("a redirect");
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(q(to, "state").as_deref(), Some("st-1"));
    q(to, "code").expect("a code")
}

async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut r = app.request(Method::POST, "/oauth/token", None).form(form);
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    r.send().await.unwrap()
}

async fn oauth_error(resp: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(resp.status(), status);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}

async fn exchange(
    app: &TestApp,
    client: &(String, String),
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token(app, &form, Some((&client.0, &client.1))).await
}

/// The claims of a JWT verified with the server's JWKS, as a relying party would.
async fn verified(app: &TestApp, jwt: &str) -> JWTClaims<serde_json::Map<String, Value>> {
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let kid = kid_of(jwt);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is published");
    let mut point = vec![4u8];
    point.extend(chatgate::crypto::b64url_decode(jwk["x"].as_str().unwrap()).unwrap());
    point.extend(chatgate::crypto::b64url_decode(jwk["y"].as_str().unwrap()).unwrap());
    ES256PublicKey::from_bytes(&point)
        .unwrap()
        .verify_token::<serde_json::Map<String, Value>>(jwt, None)
        .expect("verifies with the JWKS")
}

/// An ID token for `user` from a client of their personal workspace (for the key rotation
/// test of `signing_keys`): the token and the client's id.
pub async fn id_token_for(app: &TestApp, user: &User) -> (String, String) {
    let client = confidential(app, user, &user.personal_org, &["openid", "email"]).await;
    let code = code_for(app, user, &client.0, "openid email", false).await;
    let resp = exchange(app, &client, &code, None).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    (tokens["id_token"].as_str().unwrap().to_string(), client.0)
}

/// Whether chatgate still takes `id_token` as an ID token of its own (a logout hint).
pub async fn hint_accepted(app: &TestApp, id_token: &str) -> bool {
    let resp = app
        .post(
            "/api/oauth/logout",
            None,
            &json!({"id_token_hint": id_token}),
        )
        .await;
    resp.status() == 200
}

#[tokio::test]
async fn org_admins_register_list_and_delete_clients_and_the_secret_is_shown_once() {
    let app = spawn_app().await;
    let owner = app.register("op-owner").await;
    let member = app.register("op-member").await;
    let org = create_org(&app, &owner, "Op org").await;
    join(&app, &owner, &org, &member, "member").await;

    let resp = app
        .post(
            &format!("/api/orgs/{org}/oauth-clients"),
            Some(&owner.token),
            &json!({"name": "LibreChat", "redirect_uris": [CALLBACK, "http://localhost:3080/oauth/openid/callback"],
                    "type": "confidential", "scopes": ["openid", "email", "org"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap();
    assert!(created["client_secret"].as_str().unwrap().len() >= 40);
    assert_eq!(created["scopes"], json!(["openid", "email", "org"]));
    assert_eq!(created["any_user"], false);

    let list: Value = app
        .get(
            &format!("/api/orgs/{org}/oauth-clients"),
            Some(&owner.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["client_id"], id);
    assert!(list["items"][0].get("client_secret").is_none(), "{list}");

    // A public client has no secret; members may not register or list.
    let (_, secret) = register_client(
        &app,
        &owner,
        &org,
        json!({"name": "Spa", "redirect_uris": ["http://127.0.0.1:9000/cb"], "type": "public"}),
    )
    .await;
    assert_eq!(secret, None);
    assert_problem(
        app.get(
            &format!("/api/orgs/{org}/oauth-clients"),
            Some(&member.token),
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    // Redirect URIs must be https (http only to a loopback host), without fragments.
    for bad in [
        "http://rp.example.com/cb",
        "https://rp.example.com/cb#x",
        "/cb",
        "javascript:alert(1)",
    ] {
        let resp = app
            .post(
                &format!("/api/orgs/{org}/oauth-clients"),
                Some(&owner.token),
                &json!({"name": "Bad", "redirect_uris": [bad], "type": "public"}),
            )
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    let resp = app
        .post(
            &format!("/api/orgs/{org}/oauth-clients"),
            Some(&owner.token),
            &json!({"name": "Bad", "redirect_uris": [CALLBACK], "type": "public", "scopes": ["email"]}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;

    let resp = app
        .delete(
            &format!("/api/orgs/{org}/oauth-clients/{id}"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .delete(
            &format!("/api/orgs/{org}/oauth-clients/{id}"),
            Some(&owner.token),
        )
        .await;
    assert_problem(resp, 404, "not_found").await;

    let audit: Value = app
        .get(&format!("/api/orgs/{org}/audit"), Some(&owner.token))
        .await
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"oauth_client.created") && types.contains(&"oauth_client.deleted"),
        "{types:?}"
    );
}

#[tokio::test]
async fn the_code_flow_gives_tokens_that_verify_from_the_jwks_and_userinfo_with_the_org_claim() {
    let app = spawn_app().await;
    let owner = app.register("op-flow").await;
    let org = create_org(&app, &owner, "Flow org").await;
    let client = confidential(
        &app,
        &owner,
        &org,
        &["openid", "profile", "email", "org", "offline_access"],
    )
    .await;

    let discovery: Value = app
        .get("/.well-known/openid-configuration", None)
        .await
        .json()
        .await
        .unwrap();
    let issuer = discovery["issuer"].as_str().unwrap().to_string();
    assert_eq!(issuer, app.base);
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );

    // The first time, the consent screen; Allow gives a code bound to the redirect URI.
    let ask = authorize(
        &app,
        Some(&owner.token),
        json!({"client_id": client.0, "redirect_uri": CALLBACK, "response_type": "code",
               "scope": "openid profile email org offline_access", "state": "s"}),
    )
    .await;
    assert_eq!(ask["consent"]["client"]["name"], "Rp");
    assert_eq!(ask["consent"]["org"]["name"], "Flow org");
    let code = code_for(
        &app,
        &owner,
        &client.0,
        "openid profile email org offline_access",
        true,
    )
    .await;

    let resp = exchange(&app, &client, &code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    // A relying party in a browser on another origin may call the token and userinfo endpoints.
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let preflight = app
        .request(Method::OPTIONS, "/oauth/userinfo", None)
        .header("origin", "https://spa.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "authorization"
    );
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(header_of(id_token)["alg"], "ES256");
    let claims = verified(&app, id_token).await;
    assert_eq!(claims.issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(claims.subject.as_deref(), Some(owner.id.as_str()));
    assert_eq!(claims.nonce.as_deref(), Some("n-1"));
    assert_eq!(claims.audiences.unwrap().into_string().unwrap(), client.0);
    assert_eq!(claims.custom["email"], owner.email.as_str());
    assert_eq!(claims.custom["organization"]["id"], org.as_str());
    assert_eq!(claims.custom["organization"]["role"], "owner");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        claims.custom["at_hash"],
        chatgate::auth::openid::at_hash(access).as_str()
    );
    assert!(claims.custom["auth_time"].as_u64().is_some());

    // The client's access token reads userinfo, and is no session token of chatgate's.
    let info: Value = app
        .get("/oauth/userinfo", Some(access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], owner.id.as_str());
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["organization"]["name"], "Flow org");
    assert_eq!(info["organization"]["features"]["webhooks"], true);
    assert_problem(app.get("/api/me", Some(access)).await, 401, "unauthorized").await;
    // …and chatgate's own access token is no client access token.
    let resp = app.get("/oauth/userinfo", Some(&owner.token)).await;
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    oauth_error(resp, 401, "invalid_token").await;

    // A second authorization skips the screen: consent is remembered.
    let again = authorize(
        &app,
        Some(&owner.token),
        json!({"client_id": client.0, "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid email"}),
    )
    .await;
    assert!(
        again["redirect_to"].as_str().unwrap().contains("code="),
        "{again}"
    );

    // Refresh rotates; the old token presented again (past the grace window) revokes the grant.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let resp = token(&app, &form, Some((&client.0, &client.1))).await;
    assert_eq!(resp.status(), 200);
    let next: Value = resp.json().await.unwrap();
    let next_refresh = next["refresh_token"].as_str().unwrap();
    assert_ne!(next_refresh, refresh);
    assert!(verified(&app, next["id_token"].as_str().unwrap())
        .await
        .nonce
        .is_none());
    crate::helpers::d1_at(
        &crate::helpers::server().state_dir,
        &format!(
            "UPDATE refresh_tokens SET used_at = used_at - 60000 WHERE token_hash = '{}'",
            chatgate::crypto::sha256_hex(refresh.as_bytes())
        ),
        "",
    );
    oauth_error(
        token(&app, &form, Some((&client.0, &client.1))).await,
        400,
        "invalid_grant",
    )
    .await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", next_refresh),
    ];
    oauth_error(
        token(&app, &form, Some((&client.0, &client.1))).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        app.get(
            "/oauth/userinfo",
            Some(next["access_token"].as_str().unwrap()),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;

    // A client's refresh token is no session refresh token of chatgate's, and the reverse.
    let resp = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": next_refresh}),
        )
        .await;
    assert_problem(resp, 401, "unauthorized").await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", owner.refresh.as_str()),
    ];
    oauth_error(
        token(&app, &form, Some((&client.0, &client.1))).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_bad_client_or_redirect_uri_is_400_and_never_redirects_other_errors_redirect() {
    let app = spawn_app().await;
    let owner = app.register("op-redir").await;
    let org = create_org(&app, &owner, "Redirect org").await;
    let client = confidential(&app, &owner, &org, &["openid", "email"]).await;
    let base = json!({"client_id": client.0, "redirect_uri": CALLBACK, "response_type": "code",
                      "scope": "openid", "state": "xyz"});

    for (field, value) in [
        (
            "redirect_uri",
            "https://rp.example.com/oauth/openid/callback/",
        ),
        ("redirect_uri", "https://evil.example.com/cb"),
        ("client_id", "cgc_nope"),
    ] {
        let mut body = base.clone();
        body[field] = json!(value);
        let resp = app
            .post("/api/oauth/authorize", Some(&owner.token), &body)
            .await;
        let problem = assert_problem(resp, 400, "validation_failed").await;
        assert!(problem.get("redirect_to").is_none());
    }
    // Fields over the lengths the OpenAPI document states are 400 too, for a good client.
    for (field, len) in [("state", 2049), ("nonce", 513), ("scope", 201)] {
        let mut body = base.clone();
        body[field] = json!("s".repeat(len));
        let resp = app
            .post("/api/oauth/authorize", Some(&owner.token), &body)
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    let resp = app
        .post(
            "/api/oauth/logout",
            None,
            &json!({"state": "s".repeat(2049)}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    for (field, value, error) in [
        ("scope", "openid org", "invalid_scope"),
        ("scope", "email", "invalid_scope"),
        ("response_type", "token", "unsupported_response_type"),
        ("code_challenge_method", "plain", "invalid_request"),
        ("prompt", "none login", "invalid_request"),
        ("decision", "deny", "access_denied"),
    ] {
        let mut body = base.clone();
        body[field] = json!(value);
        if field == "code_challenge_method" {
            body["code_challenge"] = json!(CHALLENGE);
        }
        let answer = authorize(&app, Some(&owner.token), body).await;
        let to = answer["redirect_to"].as_str().unwrap();
        assert!(to.starts_with(CALLBACK), "{to}");
        assert_eq!(q(to, "error").as_deref(), Some(error), "{field}={value}");
        assert_eq!(q(to, "state").as_deref(), Some("xyz"));
    }
    // prompt=none: signed out, or without consent yet, goes straight back.
    let mut none = base.clone();
    none["prompt"] = json!("none");
    let answer = authorize(&app, None, none.clone()).await;
    assert_eq!(
        q(answer["redirect_to"].as_str().unwrap(), "error").as_deref(),
        Some("login_required")
    );
    let answer = authorize(&app, Some(&owner.token), none).await;
    assert_eq!(
        q(answer["redirect_to"].as_str().unwrap(), "error").as_deref(),
        Some("consent_required")
    );
    // Without prompt=none, signed out is 401 (the page signs in first).
    assert_eq!(
        app.post("/api/oauth/authorize", None, &base).await.status(),
        401
    );

    // A public client must use PKCE.
    let (public, _) = register_client(
        &app,
        &owner,
        &org,
        json!({"name": "Spa", "redirect_uris": [CALLBACK], "type": "public"}),
    )
    .await;
    let mut body = base.clone();
    body["client_id"] = json!(public);
    let answer = authorize(&app, Some(&owner.token), body).await;
    assert_eq!(
        q(answer["redirect_to"].as_str().unwrap(), "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn a_code_works_once_with_its_redirect_uri_and_verifier_and_its_reuse_revokes_its_tokens() {
    let app = spawn_app().await;
    let owner = app.register("op-code").await;
    let org = create_org(&app, &owner, "Code org").await;
    let client = confidential(&app, &owner, &org, &["openid", "email"]).await;

    // Another verifier than the challenge's: refused, and the code is spent.
    let code = code_for(&app, &owner, &client.0, "openid email", true).await;
    let other = "x".repeat(43);
    oauth_error(
        exchange(&app, &client, &code, Some(&other)).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        exchange(&app, &client, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;
    // Without the verifier, with another redirect URI.
    let code = code_for(&app, &owner, &client.0, "openid email", true).await;
    oauth_error(
        exchange(&app, &client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
    let code = code_for(&app, &owner, &client.0, "openid email", false).await;
    let resp = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example.com/other"),
        ],
        Some((&client.0, &client.1)),
    )
    .await;
    oauth_error(resp, 400, "invalid_grant").await;

    // Used twice: the second is refused and the first's tokens stop working.
    let code = code_for(&app, &owner, &client.0, "openid email", false).await;
    let resp = exchange(&app, &client, &code, None).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/oauth/userinfo", Some(access)).await.status(), 200);
    oauth_error(
        exchange(&app, &client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        app.get("/oauth/userinfo", Some(access)).await,
        401,
        "invalid_token",
    )
    .await;

    // Wrong secret, unknown client, both authentication methods at once.
    let code = code_for(&app, &owner, &client.0, "openid email", false).await;
    let resp = exchange(&app, &(client.0.clone(), "wrong".into()), &code, None).await;
    assert!(resp.headers().contains_key("www-authenticate"));
    oauth_error(resp, 401, "invalid_client").await;
    let resp = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &client.0),
            ("client_secret", &client.1),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status(), 200, "client_secret_post works");
    let resp = token(
        &app,
        &[("grant_type", "password")],
        Some((&client.0, &client.1)),
    )
    .await;
    oauth_error(resp, 400, "unsupported_grant_type").await;
    let resp = app
        .request(Method::POST, "/oauth/token", None)
        .basic_auth(&client.0, Some(&client.1))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_public_client_exchanges_with_its_verifier_alone_and_a_code_is_bound_to_its_client() {
    let app = spawn_app().await;
    let owner = app.register("op-public").await;
    let org = create_org(&app, &owner, "Public org").await;
    let (public, _) = register_client(
        &app,
        &owner,
        &org,
        json!({"name": "Spa", "redirect_uris": [CALLBACK], "type": "public"}),
    )
    .await;
    let code = code_for(&app, &owner, &public, "openid", true).await;
    let form = |code: &str, verifier: &str| {
        vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), CALLBACK.to_string()),
            ("client_id".to_string(), public.clone()),
            ("code_verifier".to_string(), verifier.to_string()),
        ]
    };
    let send = |f: Vec<(String, String)>| {
        app.request(Method::POST, "/oauth/token", None)
            .form(&f)
            .send()
    };
    // A secret a public client does not have is refused; the code is not spent by it.
    let mut with_secret = form(&code, VERIFIER);
    with_secret.push(("client_secret".into(), "anything".into()));
    oauth_error(send(with_secret).await.unwrap(), 401, "invalid_client").await;
    let resp = send(form(&code, VERIFIER)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );

    // A code issued to one client is refused to another (of another org too), and spent.
    let other_owner = app.register("op-public-other").await;
    let other_org = create_org(&app, &other_owner, "Other org").await;
    let other = confidential(&app, &other_owner, &other_org, &["openid"]).await;
    let code = code_for(&app, &owner, &public, "openid", true).await;
    oauth_error(
        exchange(&app, &other, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        send(form(&code, VERIFIER)).await.unwrap(),
        400,
        "invalid_grant",
    )
    .await;
    // Another org's admin cannot see or delete the client.
    let resp = app
        .delete(
            &format!("/api/orgs/{other_org}/oauth-clients/{public}"),
            Some(&other_owner.token),
        )
        .await;
    assert_problem(resp, 404, "not_found").await;
    let code = code_for(&app, &owner, &public, "openid", true).await;
    assert_eq!(send(form(&code, VERIFIER)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn max_age_and_prompt_login_want_a_recent_sign_in_and_auth_time_is_when_it_was() {
    let app = spawn_app().await;
    let owner = app.register("op-maxage").await;
    let org = create_org(&app, &owner, "Max age org").await;
    let client = confidential(&app, &owner, &org, &["openid"]).await;
    // Allowed once (consent is remembered); then the session was signed in to an hour ago.
    code_for(&app, &owner, &client.0, "openid", false).await;
    let session_of = |token: &str| {
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&chatgate::crypto::b64url_decode(payload).unwrap()).unwrap();
        claims["sid"].as_str().unwrap().to_string()
    };
    let sid = session_of(&owner.token);
    let rows = crate::helpers::d1_at(
        &crate::helpers::server().state_dir,
        &format!("UPDATE sessions SET created_at = created_at - 3600000 WHERE id = '{sid}'"),
        &format!("SELECT created_at FROM sessions WHERE id = '{sid}'"),
    );
    let signed_in: u64 = rows[0][0].parse::<f64>().unwrap() as u64 / 1000;
    // The ID token's auth_time is that sign-in, not the code's time.
    let code2 = code_for(&app, &owner, &client.0, "openid", false).await;
    let tokens: Value = exchange(&app, &client, &code2, None)
        .await
        .json()
        .await
        .unwrap();
    let claims = verified(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims.custom["auth_time"].as_u64(), Some(signed_in));

    let base = json!({"client_id": client.0, "redirect_uri": CALLBACK, "response_type": "code",
                      "scope": "openid", "state": "m"});
    for (field, value) in [
        ("max_age", json!("1800")),
        ("max_age", json!(60)),
        ("prompt", json!("login")),
    ] {
        let mut body = base.clone();
        body[field] = value.clone();
        let answer = authorize(&app, Some(&owner.token), body.clone()).await;
        assert_eq!(answer, json!({"login_required": true}), "{field}={value}");
        body["prompt"] = json!("none");
        if field == "prompt" {
            continue;
        }
        let answer = authorize(&app, Some(&owner.token), body).await;
        assert_eq!(
            q(answer["redirect_to"].as_str().unwrap(), "error").as_deref(),
            Some("login_required")
        );
    }
    // A max_age the sign-in is within: the code at once (consent is remembered).
    let mut body = base.clone();
    body["max_age"] = json!(7200);
    let answer = authorize(&app, Some(&owner.token), body).await;
    assert!(
        answer["redirect_to"].as_str().unwrap().contains("code="),
        "{answer}"
    );
    // A fresh sign-in satisfies prompt=login.
    let fresh: Value = app
        .login(&owner.email, &owner.password)
        .await
        .json()
        .await
        .unwrap();
    let mut body = base.clone();
    body["prompt"] = json!("login");
    let answer = authorize(&app, Some(fresh["access_token"].as_str().unwrap()), body).await;
    assert!(
        answer["redirect_to"].as_str().unwrap().contains("code="),
        "{answer}"
    );
}

#[tokio::test]
async fn forged_tokens_alg_none_and_hs256_with_the_public_key_are_refused_by_userinfo() {
    let app = spawn_app().await;
    let owner = app.register("op-forge").await;
    let org = create_org(&app, &owner, "Forge org").await;
    let client = confidential(&app, &owner, &org, &["openid", "email"]).await;
    let code = code_for(&app, &owner, &client.0, "openid email", false).await;
    let tokens: Value = exchange(&app, &client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    let kid = kid_of(access);
    let b64 = |v: &Value| chatgate::crypto::b64url(v.to_string().as_bytes());
    // alg none, in the casings libraries have accepted.
    for alg in ["none", "None", "NONE"] {
        let forged = format!("{}.{}.", b64(&json!({"alg": alg, "kid": kid})), parts[1]);
        oauth_error(
            app.get("/oauth/userinfo", Some(&forged)).await,
            401,
            "invalid_token",
        )
        .await;
    }
    // HS256 keyed with the published public key (the JWKS point, as bytes and as PEM).
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let mut point = vec![4u8];
    point.extend(chatgate::crypto::b64url_decode(jwk["x"].as_str().unwrap()).unwrap());
    point.extend(chatgate::crypto::b64url_decode(jwk["y"].as_str().unwrap()).unwrap());
    let public = ES256PublicKey::from_bytes(&point).unwrap();
    let payload: Value =
        serde_json::from_slice(&chatgate::crypto::b64url_decode(parts[1]).unwrap()).unwrap();
    for secret in [point.clone(), public.to_pem().unwrap().into_bytes()] {
        let signing_input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "kid": kid, "typ": "JWT"})),
            b64(&payload)
        );
        let mac = chatgate::crypto::hmac_sha256(&secret, signing_input.as_bytes());
        let forged = format!("{signing_input}.{}", chatgate::crypto::b64url(&mac));
        oauth_error(
            app.get("/oauth/userinfo", Some(&forged)).await,
            401,
            "invalid_token",
        )
        .await;
    }
    // An ID token is no access token either.
    let id_token = tokens["id_token"].as_str().unwrap();
    oauth_error(
        app.get("/oauth/userinfo", Some(id_token)).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(app.get("/oauth/userinfo", Some(access)).await.status(), 200);
}

#[tokio::test]
async fn only_members_of_the_clients_org_authorize_it_unless_it_is_for_any_user() {
    let app = spawn_app().await;
    let owner = app.register("op-own").await;
    let outsider = app.register("op-out").await;
    let org = create_org(&app, &owner, "Members org").await;
    let client = confidential(&app, &owner, &org, &["openid", "email"]).await;
    let body = json!({"client_id": client.0, "redirect_uri": CALLBACK, "response_type": "code",
                      "scope": "openid", "decision": "allow"});
    let resp = app
        .post("/api/oauth/authorize", Some(&outsider.token), &body)
        .await;
    let problem = assert_problem(resp, 403, "forbidden").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("members"),
        "{problem}"
    );

    let (any, secret) = register_client(
        &app,
        &owner,
        &org,
        json!({"name": "Open", "redirect_uris": [CALLBACK], "type": "confidential", "any_user": true}),
    )
    .await;
    let code = code_for(&app, &outsider, &any, "openid", false).await;
    let resp = exchange(&app, &(any, secret.unwrap()), &code, None).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_revoked_consent_or_a_member_who_left_ends_the_clients_tokens() {
    let app = spawn_app().await;
    let owner = app.register("op-rev-own").await;
    let member = app.register("op-rev-mem").await;
    let org = create_org(&app, &owner, "Revocation org").await;
    join(&app, &owner, &org, &member, "member").await;
    let client = confidential(&app, &owner, &org, &["openid", "email", "offline_access"]).await;

    // The member's connected apps list the client; revoking ends its tokens.
    let code = code_for(
        &app,
        &member,
        &client.0,
        "openid email offline_access",
        false,
    )
    .await;
    let tokens: Value = exchange(&app, &client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let grants: Value = app
        .get("/api/me/oauth-grants", Some(&member.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(grants["items"][0]["client_id"], client.0.as_str());
    assert_eq!(grants["items"][0]["org_name"], "Revocation org");
    let resp = app
        .delete(
            &format!("/api/me/oauth-grants/{}", client.0),
            Some(&member.token),
        )
        .await;
    assert_eq!(resp.status(), 204);
    oauth_error(
        app.get(
            "/oauth/userinfo",
            Some(tokens["access_token"].as_str().unwrap()),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    oauth_error(
        token(&app, &form, Some((&client.0, &client.1))).await,
        400,
        "invalid_grant",
    )
    .await;
    // The next authorization asks again.
    let ask = authorize(
        &app,
        Some(&member.token),
        json!({"client_id": client.0, "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid"}),
    )
    .await;
    assert!(ask.get("consent").is_some(), "{ask}");

    // A member removed from the org: userinfo refuses and the refresh token stops.
    let code = code_for(
        &app,
        &member,
        &client.0,
        "openid email offline_access",
        false,
    )
    .await;
    let tokens: Value = exchange(&app, &client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let resp = app
        .delete(
            &format!("/api/orgs/{org}/members/{}", member.id),
            Some(&owner.token),
        )
        .await;
    assert_eq!(resp.status(), 204);
    oauth_error(
        app.get(
            "/oauth/userinfo",
            Some(tokens["access_token"].as_str().unwrap()),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    oauth_error(
        token(&app, &form, Some((&client.0, &client.1))).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn revocation_ends_the_grant_and_logout_returns_only_to_a_registered_uri() {
    let app = spawn_app().await;
    let owner = app.register("op-logout").await;
    let org = create_org(&app, &owner, "Logout org").await;
    let client = confidential(&app, &owner, &org, &["openid", "email", "offline_access"]).await;
    let code = code_for(&app, &owner, &client.0, "openid offline_access", false).await;
    let tokens: Value = exchange(&app, &client, &code, None)
        .await
        .json()
        .await
        .unwrap();

    let resp = app
        .request(Method::POST, "/oauth/revoke", None)
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    oauth_error(
        app.get(
            "/oauth/userinfo",
            Some(tokens["access_token"].as_str().unwrap()),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    // An unknown token is answered the same.
    let resp = app
        .request(Method::POST, "/oauth/revoke", None)
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", "nothing-of-ours")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let id_token = tokens["id_token"].as_str().unwrap();
    let answer: Value = app
        .post(
            "/api/oauth/logout",
            None,
            &json!({"id_token_hint": id_token, "post_logout_redirect_uri": "https://rp.example.com/bye", "state": "s1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["redirect_to"], "https://rp.example.com/bye?state=s1");
    assert_eq!(answer["client_name"], "Rp");
    let resp = app
        .post(
            "/api/oauth/logout",
            None,
            &json!({"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example.com/bye"}),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    // A forged hint (signed with another key under our kid) is refused.
    let forged = ES256KeyPair::generate()
        .with_key_id(&kid_of(id_token))
        .sign(Claims::create(Duration::from_mins(5)).with_audience(&client.0))
        .unwrap();
    let resp = app
        .post("/api/oauth/logout", None, &json!({"id_token_hint": forged}))
        .await;
    assert_problem(resp, 400, "validation_failed").await;
}
