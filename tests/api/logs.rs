//! The Worker's log (what Workers Logs keeps): one JSON line per request with its id, route,
//! status, duration and the org it acted in; never a credential.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{server, spawn_app};

/// The log line of the request `request_id` (written as the response goes out).
async fn log_line(request_id: &str) -> Value {
    let needle = format!(r#""request_id":"{request_id}""#);
    for _ in 0..50 {
        let log = std::fs::read_to_string(server().state_dir.join("wrangler.log")).unwrap();
        if let Some(line) = log
            .lines()
            .filter(|l| l.contains(&needle) && l.contains(r#""route":"#))
            .find_map(|l| serde_json::from_str::<Value>(&l[l.find('{')?..]).ok())
        {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no log line for {request_id}");
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn each_request_logs_its_id_route_status_duration_and_the_org_it_acted_in() {
    let app = spawn_app().await;
    let user = app.register("logs").await;
    let org = user.personal_org.clone();
    let created = app
        .post(
            "/api/keys",
            Some(&user.token),
            &json!({"name": "logs", "org_id": org, "scopes": ["chat"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let key = created.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let chat = json!({"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}]});

    let cases = [
        (
            "an org's route",
            app.get(&format!("/api/orgs/{org}/usage"), Some(&user.token))
                .await,
            "/api/orgs/{org}/usage",
            200,
            Some(&org),
        ),
        (
            "an API key (bound to its org)",
            app.get("/v1/models", Some(&key)).await,
            "/v1/models",
            200,
            Some(&org),
        ),
        (
            "a model call with an access token (the personal org)",
            app.post("/v1/chat/completions", Some(&user.token), &chat)
                .await,
            "/v1/chat/completions",
            200,
            Some(&org),
        ),
        (
            "a route outside any org",
            app.get("/api/me", Some(&user.token)).await,
            "/api/me",
            200,
            None,
        ),
        (
            "a refused request",
            app.get("/api/me", None).await,
            "/api/me",
            401,
            None,
        ),
    ];
    for (case, resp, route, status, want_org) in cases {
        assert_eq!(resp.status(), status, "{case}");
        let id = request_id(&resp);
        let line = log_line(&id).await;
        assert_eq!(line["route"], route, "{case}: {line}");
        assert_eq!(line["status"], status, "{case}: {line}");
        assert!(line["duration_ms"].is_u64(), "{case}: {line}");
        assert_eq!(
            line["org"].as_str(),
            want_org.map(String::as_str),
            "{case}: {line}"
        );
    }

    let log = std::fs::read_to_string(server().state_dir.join("wrangler.log")).unwrap();
    for (what, secret) in [
        ("access token", &user.token),
        ("refresh token", &user.refresh),
        ("API key", &key),
        ("password", &user.password),
    ] {
        assert!(!log.contains(secret.as_str()), "the {what} is in the log");
    }
}
