//! Bridges to other systems: embed tickets, signed webhooks with retries, the provisioning
//! hook, LiveKit tokens. Webhook receivers are tiny HTTP servers started by the tests.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, server, spawn_app, OwnServer, TestApp, User};

/// The provisioning hook's secret in the shared test server (helpers.rs).
pub const PROVISIONING_SECRET: &str = "provisioning-secret-for-the-tests";
const ORIGIN: &str = "https://app.example.com";

// ---------------------------------------------------------------------------------------
// A webhook receiver: std only, one thread per connection, HTTP/1.1 with `connection: close`.

/// One request as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Behaviour {
    /// Statuses to answer, in order; 200 once they run out.
    script: VecDeque<u16>,
    /// A body containing the marker is answered only after the pause.
    slow: Option<(String, Duration)>,
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Receiver {
    /// A receiver that answers `script` in order, then 200.
    pub fn start(script: &[u16]) -> Receiver {
        Receiver::start_on(0, script)
    }

    /// The same, on a given port (0: any free one).
    pub fn start_on(port: u16, script: &[u16]) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour {
            script: script.iter().copied().collect(),
            slow: None,
        }));
        let (r, b) = (received.clone(), behaviour.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, b) = (r.clone(), b.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &r, &b);
                });
            }
        });
        Receiver {
            url,
            received,
            behaviour,
        }
    }

    /// Answers requests whose body contains `marker` only after `pause`.
    pub fn slow_for(&self, marker: &str, pause: Duration) {
        self.behaviour.lock().unwrap().slow = Some((marker.to_string(), pause));
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `pick` finds at least `n` requests; returns them.
    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
        pick: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got: Vec<Received> = self.received().into_iter().filter(|r| pick(r)).collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    behaviour: &Mutex<Behaviour>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?; // request line
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().unwrap_or(0), 0);
        reader.read_exact(&mut body)?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let body = String::from_utf8_lossy(&body).to_string();
    let (status, pause) = {
        let mut b = behaviour.lock().unwrap();
        let pause = b
            .slow
            .as_ref()
            .filter(|(marker, _)| body.contains(marker.as_str()))
            .map(|(_, p)| *p);
        (b.script.pop_front().unwrap_or(200), pause)
    };
    received.lock().unwrap().push(Received {
        headers,
        body,
        status,
    });
    if let Some(p) = pause {
        std::thread::sleep(p);
    }
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    )?;
    out.flush()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac_hex(secret: &str, data: &str) -> String {
    use ct_codecs::{Encoder, Hex};
    let mac = hmac_sha256::HMAC::mac(data.as_bytes(), secret.as_bytes());
    Hex::encode_to_string(mac).unwrap()
}

/// Checks `chatgate-signature: t=<unix>,v1=<hex>` as a receiver would: the HMAC of
/// "<t>.<body>" under the secret, and a timestamp within five minutes.
pub fn assert_signed(r: &Received, secret: &str) {
    let header = r
        .headers
        .get("chatgate-signature")
        .expect("chatgate-signature");
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let t = t.expect("t=");
    let v1 = v1.expect("v1=");
    assert_eq!(
        hmac_hex(secret, &format!("{t}.{}", r.body)),
        v1,
        "signature of {header}"
    );
    assert!(
        (unix_now() - t.parse::<i64>().unwrap()).abs() < 300,
        "fresh timestamp in {header}"
    );
    assert!(
        hmac_hex("another secret entirely", &format!("{t}.{}", r.body)) != v1,
        "the secret matters"
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["chatgate-event-id"], r.json()["id"]);
}

// ---------------------------------------------------------------------------------------
// Helpers

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

async fn put_webhook(
    app: &TestApp,
    user: &User,
    org: &str,
    url: &str,
    secret: &str,
    events: &[&str],
) -> reqwest::Response {
    app.send_json(
        Method::PUT,
        &format!("/api/orgs/{org}/webhooks"),
        Some(&user.token),
        &json!({"url": url, "secret": secret, "events": events}),
    )
    .await
}

/// Creates and deletes a conversation of `user` in their personal org: one
/// `conversation.deleted` event. Returns the conversation id.
async fn delete_a_conversation(app: &TestApp, user: &User) -> String {
    let id = app.conversation(user, "demo/echo").await;
    let resp = app
        .delete(&format!("/api/conversations/{id}"), Some(&user.token))
        .await;
    assert_eq!(resp.status(), 204);
    id
}

async fn deliveries(app: &TestApp, user: &User, org: &str) -> Vec<Value> {
    let resp = app
        .get(
            &format!("/api/orgs/{org}/webhooks/deliveries"),
            Some(&user.token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    json_of(resp).await["items"].as_array().unwrap().clone()
}

/// Polls the deliveries until `done` holds of them (or times out); returns the last read.
async fn deliveries_until(
    app: &TestApp,
    user: &User,
    org: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let items = deliveries(app, user, org).await;
        if done(&items) || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ticket(app: &TestApp, user: &User, org: &str, origin: &str) -> Value {
    let resp = app
        .post(
            "/api/embed/tickets",
            Some(&user.token),
            &json!({"org_id": org, "origin": origin}),
        )
        .await;
    assert_eq!(resp.status(), 201, "ticket for {origin}");
    json_of(resp).await
}

async fn exchange(app: &TestApp, ticket: &str, origin: Option<&str>) -> reqwest::Response {
    let mut req = app
        .request(Method::POST, "/api/embed/exchange", None)
        .json(&json!({"ticket": ticket}));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Embed tickets

#[tokio::test]
async fn an_embed_ticket_opens_a_session_exactly_once_and_only_for_its_origin() {
    let app = spawn_app().await;
    let user = app.register("embed").await;
    let t = ticket(&app, &user, &user.personal_org, ORIGIN).await;
    let secret = t["ticket"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit ticket: {t}");
    let expires = epoch_secs(t["expires_at"].as_str().unwrap());
    assert!((expires - unix_now() - 60).abs() <= 5, "60 s to live: {t}");

    // The CORS preflight of the embedding page's JSON POST.
    let pre = app
        .request(Method::OPTIONS, "/api/embed/exchange", None)
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], ORIGIN);
    assert!(pre.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let resp = exchange(&app, secret, Some(ORIGIN)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "no third-party cookie"
    );
    let session = json_of(resp).await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["user"]["id"], user.id.as_str());
    assert!(session["expires_in"].as_u64().unwrap() > 0);
    let access = session["access_token"].as_str().unwrap();
    let me = app.get("/api/me", Some(access)).await;
    assert_eq!(me.status(), 200, "the embed session works");
    assert_eq!(json_of(me).await["id"], user.id.as_str());
    // Its refresh token (in the body) rotates like any other.
    let refreshed = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": session["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);

    // A second exchange of the same ticket: 401, even from the right origin.
    let again = exchange(&app, secret, Some(ORIGIN)).await;
    assert_eq!(again.headers()["access-control-allow-origin"], ORIGIN);
    assert_problem(again, 401, "unauthorized").await;

    // Another origin (or none) is refused, and the ticket is spent by the attempt.
    let t2 = ticket(&app, &user, &user.personal_org, ORIGIN).await;
    let t2 = t2["ticket"].as_str().unwrap();
    for other in [
        Some("https://evil.example.com"),
        Some("http://app.example.com"),
        None,
    ] {
        assert_problem(exchange(&app, t2, other).await, 401, "unauthorized").await;
    }
    assert_problem(exchange(&app, t2, Some(ORIGIN)).await, 401, "unauthorized").await;

    // Unknown tickets are 401 too.
    assert_problem(
        exchange(&app, "not-a-ticket", Some(ORIGIN)).await,
        401,
        "unauthorized",
    )
    .await;
}

/// Seconds since the epoch of an RFC 3339 time.
fn epoch_secs(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

#[tokio::test]
async fn an_embed_ticket_cannot_be_exchanged_after_sixty_seconds() {
    let app = spawn_app().await;
    let user = app.register("embed-late").await;
    let t = ticket(&app, &user, &user.personal_org, "http://localhost:3000").await;
    // Real time: the Worker's clock decides, and it cannot be moved from here.
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_problem(
        exchange(
            &app,
            t["ticket"].as_str().unwrap(),
            Some("http://localhost:3000"),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn embed_tickets_are_only_for_members_and_valid_origins() {
    let app = spawn_app().await;
    let user = app.register("embed-v").await;
    let other = app.register("embed-o").await;
    let resp = app
        .post(
            "/api/embed/tickets",
            Some(&other.token),
            &json!({"org_id": user.personal_org, "origin": ORIGIN}),
        )
        .await;
    assert_problem(resp, 404, "not_found").await;
    for (origin, why) in [
        ("http://app.example.com", "plain http to a remote host"),
        ("https://app.example.com/embed", "a path"),
        ("https://app.example.com/", "a trailing slash"),
        ("app.example.com", "no scheme"),
        ("*", "a wildcard"),
    ] {
        let resp = app
            .post(
                "/api/embed/tickets",
                Some(&user.token),
                &json!({"org_id": user.personal_org, "origin": origin}),
            )
            .await;
        assert_eq!(resp.status(), 400, "{why}: {origin}");
    }
    let resp = app
        .post(
            "/api/embed/tickets",
            None,
            &json!({"org_id": user.personal_org, "origin": ORIGIN}),
        )
        .await;
    assert_problem(resp, 401, "unauthorized").await;
}

// ---------------------------------------------------------------------------------------
// Webhooks

#[tokio::test]
async fn an_org_webhook_receives_signed_deliveries_of_its_events() {
    let app = spawn_app().await;
    let user = app.register("hook").await;
    let org = user.personal_org.clone();
    let receiver = Receiver::start(&[]);
    let secret = "whsec_0123456789abcdef0123";
    let resp = put_webhook(
        &app,
        &user,
        &org,
        &receiver.url,
        secret,
        &["conversation.deleted"],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let view = json_of(resp).await;
    assert_eq!(view["url"], receiver.url.as_str());
    assert_eq!(view["events"], json!(["conversation.deleted"]));
    assert!(
        !view.to_string().contains(secret),
        "the secret is never shown: {view}"
    );
    let got = json_of(
        app.get(&format!("/api/orgs/{org}/webhooks"), Some(&user.token))
            .await,
    )
    .await;
    assert_eq!(got["url"], receiver.url.as_str());
    assert!(!got.to_string().contains(secret));

    let conversation = delete_a_conversation(&app, &user).await;
    let got = receiver
        .wait_for(1, Duration::from_secs(20), |_| true)
        .await;
    assert_eq!(got.len(), 1, "one delivery");
    let delivery = &got[0];
    assert_signed(delivery, secret);
    let body = delivery.json();
    assert_eq!(body["type"], "conversation.deleted");
    assert_eq!(body["org_id"], org.as_str());
    assert_eq!(body["data"]["conversation_id"], conversation.as_str());
    assert_eq!(body["data"]["user_id"], user.id.as_str());
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));

    let items = deliveries_until(&app, &user, &org, |d| {
        d.first().is_some_and(|x| x["status"] == "delivered")
    })
    .await;
    assert_eq!(items.len(), 1, "{items:?}");
    let d = &items[0];
    assert_eq!(d["event"], "conversation.deleted");
    assert_eq!(d["event_id"], body["id"]);
    assert_eq!(d["status"], "delivered");
    assert!(d["delivered_at"].is_string());
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert!(attempts[0]["error"].is_null());
    assert!(attempts[0]["duration_ms"].is_u64());

    // Events the endpoint did not subscribe to are not delivered.
    let resp = put_webhook(&app, &user, &org, &receiver.url, secret, &["key.created"]).await;
    assert_eq!(resp.status(), 200);
    delete_a_conversation(&app, &user).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "nothing more was sent");
}

#[tokio::test]
async fn membership_and_key_events_are_delivered_to_the_orgs_endpoint() {
    let app = spawn_app().await;
    let owner = app.register("hook-org").await;
    let member = app.register("hook-joiner").await;
    let org = crate::orgs::create_org(&app, &owner, "Webhooked").await;
    let receiver = Receiver::start(&[]);
    let secret = "whsec_org_events_0123456789";
    let all = [
        "member.joined",
        "member.removed",
        "member.role_changed",
        "key.created",
        "key.revoked",
        "conversation.deleted",
    ];
    let resp = put_webhook(&app, &owner, &org, &receiver.url, secret, &all).await;
    assert_eq!(resp.status(), 200);

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
    let key_id = key["id"].as_str().unwrap().to_string();
    let resp = app
        .delete(&format!("/api/keys/{key_id}"), Some(&member.token))
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .delete(
            &format!("/api/orgs/{org}/members/{}", member.id),
            Some(&owner.token),
        )
        .await;
    assert_eq!(resp.status(), 204);

    let got = receiver
        .wait_for(5, Duration::from_secs(30), |_| true)
        .await;
    let by_type = |t: &str| -> Value {
        got.iter()
            .map(Received::json)
            .find(|e| e["type"] == t)
            .unwrap_or_else(|| panic!("{t} not delivered: {got:#?}"))
    };
    for r in &got {
        assert_signed(r, secret);
        assert_eq!(r.json()["org_id"], org.as_str());
    }
    let joined = by_type("member.joined");
    assert_eq!(joined["data"]["user_id"], member.id.as_str());
    assert_eq!(joined["data"]["role"], "member");
    let role = by_type("member.role_changed");
    assert_eq!(role["data"]["role"], "admin");
    assert_eq!(role["data"]["previous_role"], "member");
    let created = by_type("key.created");
    assert_eq!(created["data"]["key_id"], key_id.as_str());
    assert!(
        !got.iter()
            .any(|r| r.body.contains(key["key"].as_str().unwrap())),
        "never the key itself"
    );
    assert_eq!(by_type("key.revoked")["data"]["key_id"], key_id.as_str());
    assert_eq!(
        by_type("member.removed")["data"]["user_id"],
        member.id.as_str()
    );
    let ids: std::collections::HashSet<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), got.len(), "one event id per event");
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_once_after_retries_with_every_attempt_listed() {
    let app = spawn_app().await;
    let user = app.register("hook-retry").await;
    let org = user.personal_org.clone();
    let receiver = Receiver::start(&[500, 503]);
    let secret = "whsec_retry_0123456789abcdef";
    let resp = put_webhook(
        &app,
        &user,
        &org,
        &receiver.url,
        secret,
        &["conversation.deleted"],
    )
    .await;
    assert_eq!(resp.status(), 200);
    delete_a_conversation(&app, &user).await;

    let got = receiver
        .wait_for(3, Duration::from_secs(30), |_| true)
        .await;
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    let event_id = got[0].json()["id"].clone();
    for r in &got {
        assert_signed(r, secret);
        assert_eq!(r.json()["id"], event_id, "the same event each time");
        assert_eq!(r.body, got[0].body, "the same body each time");
    }

    let items = deliveries_until(&app, &user, &org, |d| {
        d.first().is_some_and(|x| x["status"] == "delivered")
    })
    .await;
    assert_eq!(items.len(), 1);
    let codes: Vec<Value> = items[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(503), json!(200)], "{}", items[0]);
    // Delivered means done: no fourth request, however long we wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 3);
    let delivered: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(delivered.len(), 1, "received exactly once");
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_with_the_error_recorded() {
    let app = spawn_app().await;
    let user = app.register("hook-down").await;
    let org = user.personal_org.clone();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let resp = put_webhook(
        &app,
        &user,
        &org,
        &format!("http://127.0.0.1:{port}/hook"),
        "whsec_down_0123456789abcdef",
        &["conversation.deleted"],
    )
    .await;
    assert_eq!(resp.status(), 200);
    delete_a_conversation(&app, &user).await;
    let items = deliveries_until(&app, &user, &org, |d| {
        d.first()
            .is_some_and(|x| x["attempts"].as_array().unwrap().len() >= 2)
    })
    .await;
    let d = &items[0];
    assert_eq!(d["status"], "pending", "still retrying: {d}");
    assert!(d["next_attempt_at"].is_string(), "{d}");
    for a in d["attempts"].as_array().unwrap() {
        assert!(a["status_code"].is_null(), "{a}");
        // Never the runtime's words, which tell a closed port from a filtered one.
        assert_eq!(a["error"], "connection failed", "{a}");
    }
    // Removing the endpoint ends the retries.
    let resp = app
        .delete(&format!("/api/orgs/{org}/webhooks"), Some(&user.token))
        .await;
    assert_eq!(resp.status(), 204);
    let items = deliveries_until(&app, &user, &org, |d| {
        d.first().is_some_and(|x| x["status"] == "failed")
    })
    .await;
    assert_eq!(items[0]["status"], "failed", "{}", items[0]);
}

#[tokio::test]
async fn webhook_urls_to_internal_or_local_hosts_are_refused_in_every_spelling() {
    let app = spawn_app().await;
    let user = app.register("hook-ssrf").await;
    let org = user.personal_org.clone();
    let secret = "whsec_ssrf_0123456789abcdef";
    let path = format!("/api/orgs/{org}/webhooks");
    // The test server lists 127.0.0.1, its receivers' host, in WEBHOOK_ALLOW_INSECURE_HOSTS;
    // every other internal address and local name stays refused, however it is written.
    for url in [
        "http://127.0.0.2:9/hook",
        "https://127.2/",
        "https://0x7f000002/",
        "https://2130706434/",
        "https://0177.0.0.2/",
        "https://%31%32%37.0.0.2/",
        "http://localhost:9/hook",
        "https://localhost/",
        "https://LOCALHOST./",
        "https://api.localhost/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[64:ff9b::a00:1]/",
        "https://[2002:a9fe:a9fe::]/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://2852039166/",
        "https://10.0.0.1/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://printer.local/",
        "https://router.home.arpa/",
        "https://intranet/",
        "https://hooks.example.com@127.0.0.2/",
        "http://hooks.example.com/",
        "gopher://hooks.example.com/",
    ] {
        let resp = put_webhook(&app, &user, &org, url, secret, &["key.created"]).await;
        assert_eq!(resp.status(), 400, "{url} was accepted");
        let body = assert_problem(resp, 400, "validation_failed").await;
        assert!(
            body["detail"].as_str().unwrap().starts_with("url "),
            "{url}: {body}"
        );
    }
    assert_problem(app.get(&path, Some(&user.token)).await, 404, "not_found").await;

    // A listed host is allowed over http in any spelling, kept in canonical form; a public
    // https host always is.
    for (url, kept) in [
        ("http://0x7f000001:9/hook", "http://127.0.0.1:9/hook"),
        (
            "https://HOOKS.example.com:443/chatgate",
            "https://hooks.example.com/chatgate",
        ),
    ] {
        let resp = put_webhook(&app, &user, &org, url, secret, &["key.created"]).await;
        assert_eq!(resp.status(), 200, "{url}");
        assert_eq!(json_of(resp).await["url"], kept);
    }
}

/// What a delivery's attempts record when the rule refuses its URL.
const REFUSED: &str = "refused by policy: the URL is not an allowed outbound target";

#[tokio::test]
async fn a_stored_webhook_url_the_rule_no_longer_allows_is_not_called() {
    let state = crate::helpers::own_state_dir("rule");
    let first = OwnServer::spawn(&state, &RESTART_VARS).await;
    let mut app = spawn_app().await;
    app.base = first.base.clone();
    let user = app.register("rule").await;
    let org = user.personal_org.clone();
    let receiver = Receiver::start(&[]);
    let secret = "whsec_rule_0123456789abcdef";
    let resp = put_webhook(
        &app,
        &user,
        &org,
        &receiver.url,
        secret,
        &["conversation.deleted"],
    )
    .await;
    assert_eq!(resp.status(), 200);
    first.shut_down().await;

    // The operator takes 127.0.0.1 off WEBHOOK_ALLOW_INSECURE_HOSTS: the stored URL is
    // checked again at delivery.
    let second = OwnServer::spawn(&state, &[("WEBHOOK_RETRY_BASE_MS", "1000")]).await;
    app.base = second.base.clone();
    delete_a_conversation(&app, &user).await;
    let items = deliveries_until(&app, &user, &org, |d| {
        d.first()
            .is_some_and(|x| x["attempts"].as_array().unwrap().len() >= 2)
    })
    .await;
    second.shut_down().await;
    let _ = std::fs::remove_dir_all(&state);
    assert!(receiver.received().is_empty(), "the receiver was called");
    let d = &items[0];
    // Still pending: a corrected URL (or rule) delivers it.
    assert_eq!(d["status"], "pending", "{d}");
    let attempts = d["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{d}");
    for a in attempts {
        assert!(a["status_code"].is_null(), "{a}");
        assert_eq!(a["error"], REFUSED, "{a}");
    }
}

#[tokio::test]
async fn webhook_settings_are_validated_and_for_admins_only() {
    let app = spawn_app().await;
    let owner = app.register("hook-own").await;
    let member = app.register("hook-mem").await;
    let outsider = app.register("hook-out").await;
    let org = crate::orgs::create_org(&app, &owner, "Hooks Inc").await;
    crate::orgs::join(&app, &owner, &org, &member, "member").await;
    let url = "https://hooks.example.com/chatgate";
    let secret = "whsec_0123456789abcdef";

    let path = format!("/api/orgs/{org}/webhooks");
    assert_problem(app.get(&path, Some(&owner.token)).await, 404, "not_found").await;
    for (user, status) in [(&member, 403), (&outsider, 404)] {
        let resp = put_webhook(&app, user, &org, url, secret, &["member.joined"]).await;
        assert_eq!(resp.status().as_u16(), status, "PUT by {}", user.email);
        assert_eq!(
            app.get(&path, Some(&user.token)).await.status().as_u16(),
            status
        );
        assert_eq!(
            app.get(&format!("{path}/deliveries"), Some(&user.token))
                .await
                .status()
                .as_u16(),
            status
        );
    }
    for (body, why) in [
        (
            json!({"url": "http://hooks.example.com/", "secret": secret, "events": ["member.joined"]}),
            "plain http to a remote host",
        ),
        (
            json!({"url": "not a url", "secret": secret, "events": ["member.joined"]}),
            "not a URL",
        ),
        (
            json!({"url": url, "secret": "short", "events": ["member.joined"]}),
            "a short secret",
        ),
        (
            json!({"url": url, "secret": "s".repeat(257), "events": ["member.joined"]}),
            "a long secret",
        ),
        (
            json!({"url": url, "secret": secret, "events": []}),
            "no events",
        ),
        (
            json!({"url": url, "secret": secret, "events": ["user.registered"]}),
            "a provisioning event",
        ),
        (
            json!({"url": url, "secret": secret, "events": ["nope"]}),
            "an unknown event",
        ),
        (json!({"url": url, "secret": secret}), "no events field"),
        (
            json!({"url": url, "secret": secret, "events": ["key.created"], "active": true}),
            "an unknown field",
        ),
    ] {
        let resp = app
            .send_json(Method::PUT, &path, Some(&owner.token), &body)
            .await;
        assert_eq!(resp.status(), 400, "{why}");
    }
    let resp = put_webhook(
        &app,
        &owner,
        &org,
        url,
        secret,
        &["member.joined", "key.revoked"],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let items = deliveries(&app, &owner, &org).await;
    assert!(items.is_empty());
    let resp = app.delete(&path, Some(&member.token)).await;
    assert_problem(resp, 403, "forbidden").await;
    assert_eq!(app.delete(&path, Some(&owner.token)).await.status(), 204);
    assert_problem(app.get(&path, Some(&owner.token)).await, 404, "not_found").await;
    assert_problem(
        app.delete(&path, Some(&owner.token)).await,
        404,
        "not_found",
    )
    .await;
}

/// The restarted servers: retries a second apart, receivers on 127.0.0.1 over http.
const RESTART_VARS: [(&str, &str); 2] = [
    ("WEBHOOK_RETRY_BASE_MS", "1000"),
    ("WEBHOOK_ALLOW_INSECURE_HOSTS", "127.0.0.1"),
];

#[tokio::test]
async fn a_pending_delivery_survives_a_restart_of_the_server() {
    let state = std::env::temp_dir().join(format!(
        "chatgate-restart-{}-{}",
        std::process::id(),
        unix_now()
    ));
    std::fs::create_dir_all(&state).unwrap();
    let first = OwnServer::spawn(&state, &RESTART_VARS).await;
    let mut app = spawn_app().await;
    app.base = first.base.clone();
    let user = app.register("restart").await;
    let org = user.personal_org.clone();
    // Nothing listens there yet: every attempt fails until the receiver comes up.
    let hook_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "whsec_restart_0123456789ab";
    let url = format!("http://127.0.0.1:{hook_port}/hook");
    let resp = put_webhook(&app, &user, &org, &url, secret, &["conversation.deleted"]).await;
    assert_eq!(resp.status(), 200);
    delete_a_conversation(&app, &user).await;
    let items = deliveries_until(&app, &user, &org, |d| {
        d.first()
            .is_some_and(|x| !x["attempts"].as_array().unwrap().is_empty())
    })
    .await;
    assert_eq!(items[0]["status"], "pending", "{}", items[0]);
    first.shut_down().await;

    let receiver = Receiver::start_on(hook_port, &[]);
    let second = OwnServer::spawn(&state, &RESTART_VARS).await;
    // No request reaches the new server: its alarm alone delivers the event.
    let got = receiver
        .wait_for(1, Duration::from_secs(30), |_| true)
        .await;
    assert_eq!(got.len(), 1, "delivered after the restart");
    assert_signed(&got[0], secret);
    assert_eq!(got[0].json()["type"], "conversation.deleted");
    app.base = second.base.clone();
    let items = deliveries_until(&app, &user, &org, |d| {
        d.first().is_some_and(|x| x["status"] == "delivered")
    })
    .await;
    let attempts = items[0]["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{}", items[0]);
    assert_eq!(attempts.last().unwrap()["status_code"], 200);
    second.shut_down().await;
    let _ = std::fs::remove_dir_all(&state);
}

// ---------------------------------------------------------------------------------------
// Provisioning

#[tokio::test]
async fn the_provisioning_hook_hears_of_registrations_without_slowing_them() {
    let app = spawn_app().await;
    let hook = &server().provisioning;
    let email = app.unique_email("prov");
    // The receiver takes 6 s to answer this user's delivery; registration must not wait.
    hook.slow_for(&email, Duration::from_secs(6));
    let password = format!("pw for {email} is long enough");
    let started = Instant::now();
    let resp = app
        .post(
            "/api/auth/register",
            None,
            &json!({"email": email, "password": password, "name": "Prov", "refresh_token_in": "body"}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(resp.status(), 201);
    let body = json_of(resp).await;
    let user_id = body["user"]["id"].as_str().unwrap().to_string();
    assert!(took < Duration::from_secs(4), "registration took {took:?}");

    let for_user = |r: &Received| r.json()["data"]["id"] == user_id.as_str();
    let got = hook.wait_for(1, Duration::from_secs(20), for_user).await;
    assert_eq!(got.len(), 1, "one user.registered delivery");
    assert_signed(&got[0], PROVISIONING_SECRET);
    let event = got[0].json();
    assert_eq!(event["type"], "user.registered");
    assert_eq!(event["org_id"], Value::Null);
    assert_eq!(event["data"]["email"], email.as_str());
    assert_eq!(event["data"]["name"], "Prov");
    assert!(
        !got[0].body.contains(&password),
        "no password in the payload"
    );

    // Deleting the account tells the hook too.
    let token = body["access_token"].as_str().unwrap();
    let resp = app
        .request(Method::DELETE, "/api/me", Some(token))
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let deleted = hook
        .wait_for(1, Duration::from_secs(20), |r| {
            for_user(r) && r.json()["type"] == "user.deleted"
        })
        .await;
    assert_eq!(deleted.len(), 1, "one user.deleted delivery");
    assert_signed(&deleted[0], PROVISIONING_SECRET);
    assert_eq!(deleted[0].json()["data"]["email"], email.as_str());
}

// ---------------------------------------------------------------------------------------
// LiveKit (verified with LiveKit's own SDK in tests/python/test_livekit.py)

#[tokio::test]
async fn a_livekit_token_needs_livekit_configured_and_a_session() {
    let app = spawn_app().await;
    let user = app.register("lk").await;
    // The shared test server runs without LiveKit settings.
    let resp = app
        .post(
            "/api/livekit/token",
            Some(&user.token),
            &json!({"room": "standup"}),
        )
        .await;
    assert_problem(resp, 503, "service_unavailable").await;
    let resp = app
        .post("/api/livekit/token", None, &json!({"room": "standup"}))
        .await;
    assert_problem(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_livekit_token_is_only_for_an_org_of_the_caller_with_livekit_on() {
    let app = spawn_app().await;
    let user = app.register("lk-scope").await;
    let other = app.register("lk-other").await;
    // Another user's organization looks like none at all.
    let resp = app
        .post(
            "/api/livekit/token",
            Some(&other.token),
            &json!({"room": "standup", "org_id": user.personal_org}),
        )
        .await;
    assert_problem(resp, 404, "not_found").await;
    // An organization that turned LiveKit off refuses before the service's configuration
    // is looked at (the shared test server has none: 503 otherwise).
    crate::orgs::set_features(&app, &user, &user.personal_org, json!({"livekit": false})).await;
    for body in [
        json!({"room": "standup", "org_id": user.personal_org}),
        json!({"room": "standup"}),
    ] {
        let resp = app
            .post("/api/livekit/token", Some(&user.token), &body)
            .await;
        assert_problem(resp, 403, "feature_disabled").await;
    }
}

// ---------------------------------------------------------------------------------------
// Feature flags: embed and webhooks

#[tokio::test]
async fn an_org_with_embed_off_issues_no_ticket_and_honours_none_issued_before() {
    let app = spawn_app().await;
    let user = app.register("embed-off").await;
    let org = user.personal_org.clone();
    let earlier = ticket(&app, &user, &org, ORIGIN).await;
    crate::orgs::set_features(&app, &user, &org, json!({"embed": false, "livekit": true})).await;

    let resp = app
        .post(
            "/api/embed/tickets",
            Some(&user.token),
            &json!({"org_id": org, "origin": ORIGIN}),
        )
        .await;
    assert_problem(resp, 403, "feature_disabled").await;
    let resp = exchange(&app, earlier["ticket"].as_str().unwrap(), Some(ORIGIN)).await;
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        ORIGIN,
        "the embedding page can read why"
    );
    assert_problem(resp, 403, "feature_disabled").await;

    // Switched back on (an absent flag means on), tickets work again.
    crate::orgs::set_features(&app, &user, &org, json!({})).await;
    let fresh = ticket(&app, &user, &org, ORIGIN).await;
    let resp = exchange(&app, fresh["ticket"].as_str().unwrap(), Some(ORIGIN)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn an_org_with_webhooks_off_refuses_its_webhook_routes_and_delivers_nothing() {
    let app = spawn_app().await;
    let user = app.register("hook-off").await;
    let org = user.personal_org.clone();
    let receiver = Receiver::start(&[]);
    let secret = "whsec_0123456789abcdef0123";
    let resp = put_webhook(
        &app,
        &user,
        &org,
        &receiver.url,
        secret,
        &["conversation.deleted"],
    )
    .await;
    assert_eq!(resp.status(), 200);
    crate::orgs::set_features(&app, &user, &org, json!({"webhooks": false})).await;

    let path = format!("/api/orgs/{org}/webhooks");
    assert_problem(
        app.get(&path, Some(&user.token)).await,
        403,
        "feature_disabled",
    )
    .await;
    assert_problem(
        app.get(&format!("{path}/deliveries"), Some(&user.token))
            .await,
        403,
        "feature_disabled",
    )
    .await;
    assert_problem(
        put_webhook(&app, &user, &org, &receiver.url, secret, &["key.created"]).await,
        403,
        "feature_disabled",
    )
    .await;
    assert_problem(
        app.delete(&path, Some(&user.token)).await,
        403,
        "feature_disabled",
    )
    .await;

    // An event while the feature is off is not delivered, nor queued for later.
    delete_a_conversation(&app, &user).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 0, "nothing was sent");
    crate::orgs::set_features(&app, &user, &org, json!({"webhooks": true})).await;
    assert_eq!(deliveries(&app, &user, &org).await, Vec::<Value>::new());
    // The endpoint was kept, and delivers again.
    delete_a_conversation(&app, &user).await;
    let got = receiver
        .wait_for(1, Duration::from_secs(20), |_| true)
        .await;
    assert_eq!(got.len(), 1, "one delivery once switched back on");
}

#[tokio::test]
async fn an_embed_ticket_of_a_disabled_account_opens_no_session() {
    let app = spawn_app().await;
    let admin = crate::admin::operator(&app, 12).await;
    let user = app.register("embed-disabled").await;
    let t = ticket(&app, &user, &user.personal_org, ORIGIN).await;
    let resp = app
        .post(
            &format!("/api/admin/users/{}/disable", user.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = exchange(&app, t["ticket"].as_str().unwrap(), Some(ORIGIN)).await;
    assert_problem(resp, 403, "account_disabled").await;
}
