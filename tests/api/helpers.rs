//! `spawn_app()`: the built Worker under `wrangler dev` with fresh state and the mock upstream,
//! started once per test run and shared; each test gets its own client address and users.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use chatgate_mock::MockServer;
use reqwest::{Method, Response};
use serde_json::{json, Value};

pub const JWT_SECRET: &str = "integration-tests-jwt-secret-0123456789abcdef";
/// The service's own provider keys (OpenAI, Anthropic, Gemini) in the test server.
pub const SERVICE_KEYS: [&str; 3] = [
    "sk-service-openai-0123456789abcdef",
    "sk-ant-service-0123456789abcdef",
    "AIzaService0123456789abcdefgh",
];
pub const ENCRYPTION_KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub struct Server {
    pub base: String,
    pub mock: MockServer,
    pub state_dir: std::path::PathBuf,
    /// Receives the provisioning hook's deliveries (PROVISIONING_WEBHOOK_URL) for the whole run.
    pub provisioning: crate::federation::Receiver,
    /// The test identity providers (tests/support/idp.mjs) the server signs in with.
    pub idp: crate::oauth::Idp,
    _child: std::process::Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(1);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether the server that `log` is the output of is up at `base`: wrangler said it is ready
/// on that address (not merely that something answers there: a port picked free may be taken
/// by another server before this one binds it), and its `/health` answers.
fn serving(client: &reqwest::blocking::Client, log: &std::path::Path, base: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|out| out.contains(&format!("Ready on {base}")))
        && client
            .get(format!("{base}/health"))
            .send()
            .is_ok_and(|r| r.status() == 200)
}

fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start_server() -> Server {
    let root = repo_root();
    assert!(
        root.join("build/index.js").exists(),
        "build the Worker first: bash scripts/build.sh"
    );
    // The mock runs on its own thread and runtime, so it outlives any one test's runtime.
    let mock = std::thread::spawn(|| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(MockServer::start())
            .expect("mock upstream")
    })
    .join()
    .unwrap();
    let port = free_port();
    let state_dir =
        std::env::temp_dir().join(format!("chatgate-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&state_dir).unwrap();
    let vars = state_dir.join("test.vars");
    std::fs::write(
        &vars,
        format!("JWT_SECRET={JWT_SECRET}\nENCRYPTION_KEYS=1:{ENCRYPTION_KEY_B64}\n"),
    )
    .unwrap();
    let mock_base = mock.base_url();
    let provisioning = crate::federation::Receiver::start(&[]);
    let idp = crate::oauth::Idp::start(&state_dir);
    let log = std::fs::File::create(state_dir.join("wrangler.log")).unwrap();
    // Never waited for: the watchdog ends the server when this process exits.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new("bash")
        .arg(root.join("tests/support/watchdog.sh"))
        .arg("bash")
        .arg(root.join("scripts/serve.sh"))
        .current_dir(&root)
        .env("PORT", port.to_string())
        // wrangler's DevTools proxy relays every request's network events to node; under the
        // tests' bursts (96 requests at once) it drops connections ("Your worker restarted
        // mid-request"), which no deployed Worker sees.
        .env("DEVTOOLS", "off")
        .env("STATE_DIR", &state_dir)
        .env("VARS_FILE", &vars)
        .env("OPENAI_BASE_URL", format!("{mock_base}/v1"))
        .env("ANTHROPIC_BASE_URL", &mock_base)
        .env("GEMINI_BASE_URL", &mock_base)
        .env("DEMO_TOKEN_DELAY_MS", "15")
        .env("OPENAI_API_KEY", SERVICE_KEYS[0])
        .env("ANTHROPIC_API_KEY", SERVICE_KEYS[1])
        .env("GEMINI_API_KEY", SERVICE_KEYS[2])
        .env("WEBHOOK_RETRY_BASE_MS", "200")
        .env("PROVISIONING_WEBHOOK_URL", &provisioning.url)
        // The webhook receivers of the tests listen on 127.0.0.1, over plain http.
        .env("WEBHOOK_ALLOW_INSECURE_HOSTS", "127.0.0.1")
        // Each test sends its own CF-Connecting-IP (`TestApp::ip`), so throttles do not cross
        // tests: this server believes it, as a Worker behind Cloudflare does.
        .env("TRUST_CF_CONNECTING_IP", "true")
        // Mail stays on this machine: the tests read it at /api/dev/mailbox.
        .env("DEV_MAILBOX", "on")
        .env(
            "PROVISIONING_WEBHOOK_SECRET",
            crate::federation::PROVISIONING_SECRET,
        )
        // Sign-in with the test identity providers.
        .envs(idp.vars())
        // Service admins: addresses only tests/api/admin.rs registers.
        .env("ADMIN_EMAILS", crate::admin::ADMIN_EMAILS)
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start wrangler dev");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    for _ in 0..240 {
        if serving(&client, &state_dir.join("wrangler.log"), &base) {
            return Server {
                base,
                mock,
                state_dir,
                provisioning,
                idp,
                _child: child,
            };
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "wrangler dev did not become healthy; see {}",
        state_dir.join("wrangler.log").display()
    );
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// This test's client address (`CF-Connecting-IP`), so throttles do not cross tests.
    pub ip: String,
    pub n: u32,
}

pub fn server() -> &'static Server {
    SERVER.get_or_init(start_server)
}

pub async fn spawn_app() -> TestApp {
    let base = tokio::task::spawn_blocking(|| server().base.clone())
        .await
        .unwrap();
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    TestApp {
        base,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        ip: format!("10.{}.{}.{}", std::process::id() % 250, n / 250, n % 250),
        n,
    }
}

pub fn mock() -> &'static MockServer {
    &server().mock
}

/// A registered user with an access token and a refresh token (delivered in the body).
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
    pub refresh: String,
    pub personal_org: String,
}

pub struct Sse {
    pub status: u16,
    pub events: Vec<(String, String, Value)>, // (id, event, data)
}

impl Sse {
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter(|e| e.1 == "delta")
            .map(|e| e.2["text"].as_str().unwrap_or("").to_string())
            .collect()
    }
    pub fn last(&self) -> &(String, String, Value) {
        self.events.last().expect("at least one event")
    }
}

pub fn parse_sse(text: &str) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.into();
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.into();
            } else if let Some(v) = line.strip_prefix("data: ") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v);
            }
        }
        if !data.is_empty() {
            out.push((
                id,
                event,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            ));
        }
    }
    out
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .request(method, self.url(path))
            .header("cf-connecting-ip", &self.ip);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Response {
        self.request(method, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send_json(Method::POST, path, token, body).await
    }

    /// `post`, sent again (up to twice) when the local runtime dropped it before the Worker
    /// answered: a 503 that is not the Worker's problem document ("Your worker restarted
    /// mid-request", seen in bursts on a loaded machine; no deployed Worker sees it). For
    /// tests that count what the Worker decided.
    pub async fn post_delivered(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut tries = 0;
        loop {
            let resp = self.post(path, token, body).await;
            let from_worker = resp
                .headers()
                .get("content-type")
                .is_some_and(|c| c.as_bytes().starts_with(b"application/problem+json"));
            if resp.status() != 503 || from_worker || tries == 2 {
                return resp;
            }
            tries += 1;
        }
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token)
            .send()
            .await
            .unwrap()
    }

    pub fn unique_email(&self, tag: &str) -> String {
        format!(
            "{tag}-{}-{}@example.com",
            std::process::id(),
            self.n * 1000 + NEXT.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// A new user whose address is verified (through the link in the dev mailbox), as most
    /// tests want: an unverified address cannot accept invitations.
    pub async fn register(&self, tag: &str) -> User {
        let user = self.register_unverified(tag).await;
        self.verify_address(&user.email).await;
        user
    }

    /// A new user as registration leaves them: their address not verified yet.
    pub async fn register_unverified(&self, tag: &str) -> User {
        let email = self.unique_email(tag);
        let password = format!("pw for {email} is long enough");
        let resp = self
            .post(
                "/api/auth/register",
                None,
                &json!({"email": email, "password": password, "name": tag, "refresh_token_in": "body"}),
            )
            .await;
        assert_eq!(resp.status(), 201, "register {email}");
        let body: Value = resp.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap().to_string();
        let me: Value = self
            .get("/api/me", Some(&token))
            .await
            .json()
            .await
            .unwrap();
        User {
            id: body["user"]["id"].as_str().unwrap().into(),
            email,
            password,
            refresh: body["refresh_token"].as_str().unwrap().into(),
            personal_org: me["orgs"][0]["id"].as_str().unwrap().into(),
            token,
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": password, "refresh_token_in": "body"}),
        )
        .await
    }

    /// A new conversation of `user` with `model`. Named, so no title is generated after its
    /// first reply (tests/api/titles.rs has those): its streams end with the reply's end, and
    /// the mock sees only the reply's requests.
    pub async fn conversation(&self, user: &User, model: &str) -> String {
        let resp = self
            .post(
                "/api/conversations",
                Some(&user.token),
                &json!({"model": model, "title": "A test conversation"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    /// Sends a message and reads the whole reply stream.
    pub async fn chat(&self, token: &str, conversation: &str, body: &Value) -> Sse {
        let resp = self.send_message(token, conversation, body).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        Sse {
            status,
            events: if status == 200 {
                parse_sse(&text)
            } else {
                vec![(
                    String::new(),
                    "problem".into(),
                    serde_json::from_str(&text).unwrap_or(Value::Null),
                )]
            },
        }
    }
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status of {}", resp.url());
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(body.get(field).is_some(), "{field} missing in {body}");
    }
    body
}

/// Reads an SSE response event by event, as a client that may stop at any point.
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    pub fn new(resp: Response) -> Self {
        SseReader {
            stream: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    pub async fn next_event(&mut self) -> Option<(String, String, Value)> {
        use futures::StreamExt;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                if let Some(e) = parse_sse(&block).into_iter().next() {
                    return Some(e);
                }
                continue;
            }
            match tokio::time::timeout(Duration::from_secs(30), self.stream.next()).await {
                Ok(Some(Ok(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Reads to the end; returns every remaining event.
    pub async fn rest(&mut self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        while let Some(e) = self.next_event().await {
            out.push(e);
        }
        out
    }
}

impl TestApp {
    /// Sends a message to a conversation and returns the response (a stream, or a problem).
    pub async fn send_message(&self, token: &str, conversation: &str, body: &Value) -> Response {
        self.post(
            &format!("/api/conversations/{conversation}/messages"),
            Some(token),
            body,
        )
        .await
    }
}

/// A server of a test's own (not the shared one): scripts/serve.sh on `state_dir` with only
/// the given variables, as `make dev` serves (CF-Connecting-IP not trusted, no insecure
/// webhook hosts, the dev mailbox on) unless they say otherwise. It can be stopped and started
/// again on the same state.
pub struct OwnServer {
    pub base: String,
    child: std::process::Child,
}

impl OwnServer {
    pub fn start(state_dir: &std::path::Path, vars: &[(&str, &str)]) -> OwnServer {
        let root = repo_root();
        let vars_file = state_dir.join("test.vars");
        std::fs::write(
            &vars_file,
            format!("JWT_SECRET={JWT_SECRET}\nENCRYPTION_KEYS=1:{ENCRYPTION_KEY_B64}\n"),
        )
        .unwrap();
        let log_path = state_dir.join("wrangler.log");
        let client = reqwest::blocking::Client::new();
        // A port picked free can be taken before wrangler binds it: then start again on another.
        for _attempt in 0..3 {
            let port = free_port();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap();
            // Waited for in `stop`; if the test panics first, the watchdog ends it with the run.
            #[allow(clippy::zombie_processes)]
            let mut child = std::process::Command::new("bash")
                .arg(root.join("tests/support/watchdog.sh"))
                .arg("bash")
                .arg(root.join("scripts/serve.sh"))
                .current_dir(&root)
                .env("PORT", port.to_string())
                .env("STATE_DIR", state_dir)
                .env("VARS_FILE", &vars_file)
                .env("DEV_MAILBOX", "on")
                .envs(vars.iter().copied())
                .stdin(Stdio::piped())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let base = format!("http://127.0.0.1:{port}");
            for _ in 0..240 {
                if serving(&client, &log_path, &base) {
                    return OwnServer { base, child };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            drop(child.stdin.take());
            let _ = child.wait();
        }
        panic!("wrangler dev did not start; see {}", state_dir.display());
    }

    /// `start` from async code.
    pub async fn spawn(state_dir: &std::path::Path, vars: &[(&'static str, &'static str)]) -> Self {
        let (dir, vars) = (state_dir.to_path_buf(), vars.to_vec());
        tokio::task::spawn_blocking(move || OwnServer::start(&dir, &vars))
            .await
            .unwrap()
    }

    /// Ends the server (the watchdog stops its process group when stdin closes).
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }

    /// `stop` from async code.
    pub async fn shut_down(self) {
        tokio::task::spawn_blocking(move || self.stop())
            .await
            .unwrap();
    }
}

/// A fresh state directory for an `OwnServer`.
pub fn own_state_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "chatgate-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------
// Mail: the shared server keeps it in the dev mailbox (DEV_MAILBOX=on).

impl TestApp {
    /// The dev mailbox's messages to `to`, newest first.
    pub async fn mailbox(&self, to: &str) -> Vec<Value> {
        let resp = self
            .request(Method::GET, "/api/dev/mailbox", None)
            .query(&[("to", to)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "GET /api/dev/mailbox?to={to}");
        let body: Value = resp.json().await.unwrap();
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (mail goes out after the response) until `n` messages to `to` have a subject
    /// containing `subject`; returns those there are by then, newest first.
    pub async fn mails(&self, to: &str, subject: &str, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let got: Vec<Value> = self
                .mailbox(to)
                .await
                .into_iter()
                .filter(|m| m["subject"].as_str().unwrap_or("").contains(subject))
                .collect();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The newest message to `to` whose subject contains `subject` (waiting for it).
    pub async fn mail(&self, to: &str, subject: &str) -> Value {
        let got = self.mails(to, subject, 1).await;
        got.into_iter()
            .next()
            .unwrap_or_else(|| panic!("no mail to {to} about {subject:?}"))
    }

    /// Opens the newest verification link mailed to `email`.
    pub async fn verify_address(&self, email: &str) {
        let mail = self.mail(email, "Confirm your email address").await;
        let resp = self
            .post(
                "/api/auth/verify-email",
                None,
                &json!({"token": link_token(&mail, "/verify-email")}),
            )
            .await;
        assert_eq!(resp.status(), 204, "verify {email}");
    }
}

/// The token of the link to `page` in a mail's text (an absolute URL, `?token=`).
pub fn link_token(mail: &Value, page: &str) -> String {
    let text = mail["text"].as_str().expect("a text part");
    let at = text
        .find(&format!("{page}?token="))
        .unwrap_or_else(|| panic!("no link to {page} in {text}"));
    let start = at + page.len() + "?token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Runs a Python program (`python3 -c program args…`), over a server's local storage: its
/// JSON output (null when it prints nothing).
pub fn python<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Value {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs SQL on the local D1 file under `state_dir`: `script` (statements), then `query`,
/// whose columns come back as strings, row by row.
pub fn d1_at(state_dir: &std::path::Path, script: &str, query: &str) -> Vec<Vec<String>> {
    let program = r#"
import json, pathlib, sqlite3, sys
files = [p for p in pathlib.Path(sys.argv[1]).glob("v3/d1/*/*.sqlite") if p.name != "metadata.sqlite"]
assert len(files) == 1, files
db = sqlite3.connect(files[0], timeout=10)
db.executescript(sys.argv[2])
db.commit()
print(json.dumps([[str(c) for c in r] for r in db.execute(sys.argv[3])] if sys.argv[3] else []))
"#;
    let rows = python(
        program,
        &[state_dir.as_os_str(), script.as_ref(), query.as_ref()],
    );
    serde_json::from_value(rows).unwrap()
}

/// `d1_at` on the shared test server, the first column of each row.
pub fn d1(script: &str, query: &str) -> Vec<String> {
    d1_at(&server().state_dir, script, query)
        .into_iter()
        .map(|row| row.into_iter().next().unwrap_or_default())
        .collect()
}
