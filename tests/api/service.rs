//! The service's own routes and the conventions every route follows.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, own_state_dir, spawn_app, OwnServer};

#[tokio::test]
async fn health_queries_d1_and_kv_and_says_ok() {
    let app = spawn_app().await;
    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "checks": {"d1": "ok", "kv": "ok"}})
    );
}

#[tokio::test]
async fn api_names_the_service_and_its_version() {
    let app = spawn_app().await;
    let body: Value = app.get("/api", None).await.json().await.unwrap();
    assert_eq!(body["name"], "chatgate");
    assert!(body["version"].is_string());
}

#[tokio::test]
async fn openapi_document_is_served_as_openapi_3_1() {
    let app = spawn_app().await;
    let resp = app.get("/openapi.json", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(resp.headers()["cache-control"], "public, max-age=300");
    let served = resp.text().await.unwrap();
    // The build's copy is the repository's document, as generated.
    assert!(
        served == include_str!("../../src/openapi.json"),
        "the served document is not src/openapi.json: rebuild (scripts/build.sh)"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_nosniff() {
    let app = spawn_app().await;
    for path in ["/health", "/api/nowhere", "/api/me", "/"] {
        let resp = app.get(path, None).await;
        let id = resp
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            id.is_some_and(|i| i.starts_with("req_")),
            "{path}: x-request-id"
        );
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_are_404_problems_and_wrong_methods_405_with_allow() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/does-not-exist", None).await, 404, "not_found").await;
    // Under /v1 errors take OpenAI's shape, so OpenAI clients can read them.
    let resp = app.get("/v1/nothing", None).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    let resp = app
        .request(Method::PUT, "/api/auth/login", None)
        .send()
        .await
        .unwrap();
    let allow = resp.headers()["allow"].to_str().unwrap().to_string();
    assert_eq!(allow, "POST");
    assert_problem(resp, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_json_array_is_not_read_as_an_empty_object() {
    // Found by the fuzzer: serde reads a struct from an array, so `[null, null]` was a PATCH
    // (or a logout) with every optional field left out, answered 200 (204).
    let app = spawn_app().await;
    let user = app.register("array-body").await;
    let path = format!("/api/orgs/{}", user.personal_org);
    let resp = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.token),
            &json!([null, null]),
        )
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    let resp = app
        .post("/api/auth/logout", Some(&user.token), &json!([null, null]))
        .await;
    assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 200);
}

#[tokio::test]
async fn bad_bodies_get_the_right_4xx_problem() {
    let app = spawn_app().await;
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "malformed JSON",
            app.request(Method::POST, "/api/auth/login", None)
                .header("content-type", "application/json")
                .body("{\"email\":"),
            400,
            "validation_failed",
        ),
        (
            "wrong content type",
            app.request(Method::POST, "/api/auth/login", None)
                .header("content-type", "text/plain")
                .body("hello"),
            415,
            "unsupported_media_type",
        ),
        (
            "unknown field",
            app.request(Method::POST, "/api/auth/login", None)
                .json(&json!({"email": "a@example.com", "password": "x", "admin": true})),
            400,
            "validation_failed",
        ),
        (
            "auth body over 16 KiB",
            app.request(Method::POST, "/api/auth/register", None).json(
                &json!({"email": "a@example.com", "password": "x".repeat(17 * 1024), "name": "A"}),
            ),
            413,
            "payload_too_large",
        ),
        (
            "JSON that is not an object",
            app.request(Method::POST, "/api/auth/login", None)
                .json(&json!([1, 2, 3])),
            400,
            "validation_failed",
        ),
    ];
    for (case, req, status, code) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{case}");
        assert_problem(resp, status, code).await;
    }
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413_on_ordinary_routes() {
    let app = spawn_app().await;
    let user = app.register("big").await;
    let conv = app.conversation(&user, "demo/echo").await;
    // (A chat send takes images, so its own limit is larger: see chat_media.rs.)
    let resp = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/conversations/{conv}"),
            Some(&user.token),
            &json!({"system_prompt": "x".repeat(1024 * 1024 + 1)}),
        )
        .await;
    assert_problem(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn the_web_client_is_served_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let resp = app.get("/", None).await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("chatgate"), "the page names the service");
}

#[tokio::test]
async fn methods_no_route_has_are_405_and_never_served_as_get() {
    let app = spawn_app().await;
    let user = app.register("methods").await;
    for method in ["QUERY", "PROPFIND", "PURGE"] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        // API paths (with their own methods in `allow`), and the web client's pages and assets.
        for (path, allow) in [
            ("/api/me", "GET, PATCH, DELETE"),
            ("/health", "GET"),
            ("/", "GET, HEAD"),
            ("/login", "GET, HEAD"),
            ("/favicon.svg", "GET, HEAD"),
        ] {
            let resp = app
                .request(m.clone(), path, Some(&user.token))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 405, "{method} {path}");
            assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
            assert!(
                resp.headers().get("x-request-id").is_some(),
                "{method} {path}"
            );
            assert_problem(resp, 405, "method_not_allowed").await;
        }
        let resp = app
            .request(m.clone(), "/api/nowhere", Some(&user.token))
            .send()
            .await
            .unwrap();
        assert_problem(resp, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_known_method_on_a_path_without_it_is_405_with_the_paths_methods() {
    let app = spawn_app().await;
    let user = app.register("methods-405").await;
    let resp = app
        .request(Method::PUT, "/api/me", Some(&user.token))
        .send()
        .await
        .unwrap();
    let allow = resp.headers()["allow"].to_str().unwrap().to_string();
    assert!(allow.contains("GET") && allow.contains("PATCH"), "{allow}");
    assert!(!allow.contains("PUT"), "{allow}");
    assert_problem(resp, 405, "method_not_allowed").await;
    // The web client's pages answer GET and HEAD only.
    for (method, path) in [
        (Method::POST, "/login"),
        (Method::DELETE, "/"),
        (Method::PATCH, "/chat"),
    ] {
        let resp = app
            .request(method.clone(), path, None)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], "GET, HEAD", "{method} {path}");
        assert_problem(resp, 405, "method_not_allowed").await;
    }
    for method in [Method::GET, Method::HEAD] {
        let resp = app
            .request(method.clone(), "/login", None)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method} /login");
    }
}

/// The address sessions (and throttles, and the audit log) know a client by.
async fn session_address(app: &crate::helpers::TestApp, tag: &str) -> String {
    let user = app.register(tag).await;
    let sessions: Value = app
        .get("/api/sessions", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    sessions["items"][0]["ip"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn behind_cloudflare_the_client_address_is_cf_connecting_ip() {
    // The shared test server trusts the header, as a deployed Worker does.
    let app = spawn_app().await;
    assert_eq!(session_address(&app, "addr-cf").await, app.ip);
}

#[tokio::test]
async fn off_cloudflare_a_client_chosen_cf_connecting_ip_is_not_believed() {
    // Served as `make dev` serves: TRUST_CF_CONNECTING_IP is off.
    let state = own_state_dir("addr");
    let own = OwnServer::spawn(&state, &[]).await;
    let mut app = spawn_app().await;
    app.base = own.base.clone();
    let address = session_address(&app, "addr-dev").await;
    own.shut_down().await;
    let _ = std::fs::remove_dir_all(&state);
    assert_ne!(
        address, app.ip,
        "the client's own CF-Connecting-IP was believed"
    );
    assert_eq!(address, "unknown");
}
