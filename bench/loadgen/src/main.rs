//! `loadgen`: chatgate's benchmark, run by `make bench` (bench/run.sh builds everything first).
//!
//! Starts the mock upstream, the built Worker under `wrangler dev` (fresh state, its own vars)
//! and, when installed, LiteLLM's proxy in front of the same mock; then measures every figure
//! beside its baseline in the same run and prints one table, also written to bench/results.md
//! with the machine's description. Every loop is bounded in count and time; every address is
//! on 127.0.0.1. Not a test: nothing here runs in CI.

mod procs;
mod report;
mod stats;
mod stream;

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use procs::Proc;
use report::Row;
use stats::{ms, ms_signed, ratio, summarize, Summary};
use stream::{Live, Sample, Wire};

pub type R<T> = Result<T, String>;

const PROMPT: &str = "Hello from the chatgate benchmark, please answer.";
/// The service's OpenAI key in the bench server, and the key LiteLLM and direct requests use.
const MOCK_KEY: &str = "sk-bench-mock-0123456789abcdef";
const LITELLM_KEY: &str = "sk-litellm-bench-0123456789";
const PASSWORD: &str = "bench correct horse battery staple";
const JWT_SECRET: &str = "bench-jwt-secret-0123456789abcdef0123456789abcdef";
const ENCRYPTION_KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The client address (`CF-Connecting-IP`) of the bench user's requests.
const BENCH_IP: &str = "10.77.0.1";
/// OWASP's argon2id parameters, as in src/auth/password.rs.
const ARGON2_M_KIB: u32 = 19_456;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

struct Opts {
    root: PathBuf,
    /// Where scripts/serve.sh and build/ are taken from: a snapshot of the tree (bench/run.sh).
    serve_root: PathBuf,
    out: PathBuf,
    work: PathBuf,
    mock_bin: PathBuf,
    litellm: Option<PathBuf>,
    litellm_note: String,
    quick: bool,
    only: Option<Vec<String>>,
}

fn parse_opts() -> R<Opts> {
    let mut args = std::env::args().skip(1);
    let mut root = PathBuf::from(".");
    let mut serve_root = None;
    let mut out = None;
    let mut work = None;
    let mut mock_bin = None;
    let mut litellm = None;
    let mut litellm_note = String::new();
    let mut quick = false;
    let mut only = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--root" => root = PathBuf::from(value()?),
            "--serve-root" => serve_root = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--work" => work = Some(PathBuf::from(value()?)),
            "--mock-bin" => mock_bin = Some(PathBuf::from(value()?)),
            "--litellm" => {
                let v = value()?;
                litellm = (v != "none").then(|| PathBuf::from(v));
            }
            "--litellm-note" => litellm_note = value()?,
            "--quick" => quick = true,
            "--only" => only = Some(value()?.split(',').map(str::to_string).collect()),
            "-h" | "--help" => {
                return Err(
                    "usage: loadgen --root DIR [--out FILE] [--work DIR] [--mock-bin PATH] \
                            [--litellm PATH|none] [--litellm-note TEXT] [--quick] \
                            [--only latency,fidelity,capacity,login,history,size]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let root = root.canonicalize().map_err(|e| format!("--root: {e}"))?;
    let serve_root = match serve_root {
        Some(s) => s.canonicalize().map_err(|e| format!("--serve-root: {e}"))?,
        None => root.clone(),
    };
    let work = work.unwrap_or_else(|| root.join("bench/.work"));
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let work = work.canonicalize().map_err(|e| format!("--work: {e}"))?;
    Ok(Opts {
        out: out.unwrap_or_else(|| root.join("bench/results.md")),
        work,
        serve_root,
        mock_bin: mock_bin.unwrap_or_else(|| root.join("target/bench/release/chatgate-mock")),
        root,
        litellm,
        litellm_note,
        quick,
        only,
    })
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How much of everything: modest, so the whole run fits in minutes on 2 cores.
struct Plan {
    lat_tokens: usize,
    lat_rounds_c1: usize,
    lat_rounds_c50: usize,
    fid_tokens: usize,
    fid_delay: u64,
    fid_rounds: usize,
    cap_steps: Vec<usize>,
    cap_delay: u64,
    cap_tokens: usize,
    login_rounds: usize,
    native_rounds: usize,
    hist_sends: usize,
    hist_total: usize,
    hist_late_sends: usize,
    hist_rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let steps = std::env::var("BENCH_CAP_STEPS")
            .ok()
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| {
                if quick {
                    vec![100, 250]
                } else {
                    vec![100, 250, 500, 750, 1000]
                }
            });
        Plan {
            lat_tokens: env_num("BENCH_LAT_TOKENS", 20),
            lat_rounds_c1: env_num("BENCH_LAT_ROUNDS_C1", if quick { 8 } else { 20 }),
            lat_rounds_c50: env_num("BENCH_LAT_ROUNDS_C50", if quick { 2 } else { 3 }),
            fid_tokens: env_num("BENCH_FID_TOKENS", if quick { 128 } else { 512 }),
            fid_delay: 20,
            fid_rounds: env_num("BENCH_FID_ROUNDS", if quick { 2 } else { 3 }),
            cap_steps: steps,
            cap_delay: env_num("BENCH_CAP_DELAY_MS", 50),
            cap_tokens: env_num("BENCH_CAP_TOKENS", if quick { 100 } else { 200 }),
            login_rounds: env_num("BENCH_LOGIN_ROUNDS", if quick { 6 } else { 20 }),
            native_rounds: env_num("BENCH_NATIVE_ROUNDS", if quick { 5 } else { 20 }),
            hist_sends: env_num("BENCH_HISTORY_SENDS", if quick { 50 } else { 250 }),
            hist_total: env_num("BENCH_HISTORY_MESSAGES", 10_000),
            hist_late_sends: env_num("BENCH_HISTORY_LATE_SENDS", if quick { 10 } else { 30 }),
            hist_rounds: env_num("BENCH_HISTORY_ROUNDS", if quick { 20 } else { 60 }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    /// The mock itself: the baseline.
    Direct,
    /// POST /api/conversations/{id}/messages with an access token (Durable Object, persisted).
    Chat,
    /// The same, sent to the workerd that runs the Worker, past wrangler dev's proxy.
    ChatInner,
    /// POST /v1/chat/completions with an issued API key.
    V1,
    /// LiteLLM's proxy in front of the same mock.
    LiteLlm,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Direct => "mock direct",
            Target::Chat => "chatgate chat route",
            Target::ChatInner => "chatgate chat route, past wrangler's proxy",
            Target::V1 => "chatgate /v1/chat/completions",
            Target::LiteLlm => "LiteLLM proxy /v1/chat/completions",
        }
    }
    fn wire(self) -> Wire {
        match self {
            Target::Chat | Target::ChatInner => Wire::Chat,
            _ => Wire::OpenAi,
        }
    }
}

struct Session {
    token: String,
    refresh: String,
    at: Instant,
}

struct Bench {
    opts: Opts,
    plan: Plan,
    http: reqwest::Client,
    started: Instant,
    mock: String,
    mock_proc: Option<Proc>,
    server: Option<Proc>,
    base: String,
    inner: Option<String>,
    group: Option<i32>,
    state_dir: PathBuf,
    litellm: Option<String>,
    litellm_proc: Option<Proc>,
    litellm_note: String,
    litellm_version: String,
    litellm_startup: Option<Duration>,
    startup: Option<(Duration, Duration)>,
    /// Restart on existing state: (→ first 200 /health, that request, the first page after).
    restart: Option<(Duration, Duration, f64)>,
    /// Servers started again because they stopped answering.
    restarts: usize,
    email: String,
    session: Session,
    key: Option<String>,
    v1_missing: Option<String>,
    /// Conversations for the latency runs (one reply per conversation at a time).
    convs: Vec<String>,
    rows: Vec<Row>,
    notes: Vec<String>,
}

fn client() -> R<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .connect_timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("http client: {e}"))
}

fn log(started: Instant, msg: &str) {
    eprintln!("[bench {:>6.1}s] {msg}", started.elapsed().as_secs_f64());
}

fn field(v: &Value, name: &str) -> R<String> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("no `{name}` in {v}"))
}

/// Resident memory of the server's workerd processes: (the Worker's own, wrangler's proxy).
fn workerd_rss(group: i32) -> (u64, u64) {
    let mut inner = 0;
    let mut proxy = 0;
    for w in procs::workerds(group) {
        let r = procs::rss(w.pid).unwrap_or(0);
        if w.proxy {
            proxy += r;
        } else {
            inner += r;
        }
    }
    (inner, proxy)
}

/// One step of the capacity test.
#[derive(Clone, Copy)]
struct CapStep<'a> {
    t: Target,
    n: usize,
    model: &'a str,
    tokens: usize,
    convs: &'a [String],
    limit: Duration,
    allowed_gap: f64,
    setup: &'a str,
    baseline: &'a str,
}

/// A named figure of one request.
type Metric = (&'static str, fn(&Sample) -> Option<f64>);

fn values(samples: &[Sample], metric: fn(&Sample) -> Option<f64>) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.ok())
        .filter_map(metric)
        .collect()
}

fn errors_note(samples: &[Sample]) -> String {
    let errors: Vec<&String> = samples.iter().filter_map(|s| s.error.as_ref()).collect();
    match errors.first() {
        None => String::new(),
        Some(first) => format!(
            "{} of {} failed, e.g. {}",
            errors.len(),
            samples.len(),
            first.chars().take(160).collect::<String>()
        ),
    }
}

fn both(s: Option<Summary>) -> (String, String) {
    s.map_or((String::new(), String::new()), |s| {
        (ms(s.median), ms(s.p99))
    })
}

impl Bench {
    fn section(&self, name: &str) -> bool {
        self.opts
            .only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == name))
    }

    fn log(&self, msg: &str) {
        log(self.started, msg);
    }

    fn note(&mut self, msg: String) {
        self.log(&msg);
        self.notes.push(msg);
    }

    // ---- processes ---------------------------------------------------------------------

    async fn start_mock(&mut self) -> R<()> {
        let port = procs::free_port()?;
        let proc = Proc::spawn(
            &self.opts.root,
            "mock",
            &self.opts.mock_bin.to_string_lossy(),
            &["--port".into(), port.to_string()],
            &[],
            &self.opts.work.join("mock.log"),
        )?;
        self.mock = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                self.mock_proc = Some(proc);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("the mock did not start: {}", proc.log_tail(5)))
    }

    /// Starts scripts/serve.sh; returns (spawn → first 200 /health, that request's latency).
    async fn start_server(&mut self, port: u16) -> R<(Duration, Duration)> {
        let vars = self.opts.work.join("bench.vars");
        fs::write(
            &vars,
            format!("JWT_SECRET={JWT_SECRET}\nENCRYPTION_KEYS=1:{ENCRYPTION_KEY_B64}\n"),
        )
        .map_err(|e| e.to_string())?;
        let big = "1000000".to_string();
        let envs = vec![
            ("PORT".into(), port.to_string()),
            ("STATE_DIR".into(), self.state_dir.to_string_lossy().into()),
            ("VARS_FILE".into(), vars.to_string_lossy().into()),
            ("OPENAI_BASE_URL".into(), format!("{}/v1", self.mock)),
            ("ANTHROPIC_BASE_URL".into(), self.mock.clone()),
            ("GEMINI_BASE_URL".into(), self.mock.clone()),
            ("OPENAI_API_KEY".into(), MOCK_KEY.into()),
            ("ANTHROPIC_API_KEY".into(), MOCK_KEY.into()),
            ("GEMINI_API_KEY".into(), MOCK_KEY.into()),
            ("DEMO_TOKEN_DELAY_MS".into(), "0".into()),
            // wrangler's DevTools proxy relays every streamed chunk to node: on, it and not
            // the Worker is what runs out first (a bench of chatgate, not of DevTools).
            ("DEVTOOLS".into(), "off".into()),
            // The bench sends far more than a person would: lift the throttles.
            ("LOGIN_FAILURES_PER_ACCOUNT".into(), big.clone()),
            ("LOGIN_FAILURES_PER_ADDRESS".into(), big.clone()),
            ("REGISTRATIONS_PER_ADDRESS_PER_HOUR".into(), big.clone()),
            ("API_KEY_RATE_LIMIT_RPM".into(), big.clone()),
            ("USER_RATE_LIMIT_RPM".into(), big),
        ];
        let spawned = Instant::now();
        let proc = Proc::spawn(
            &self.opts.root,
            "wrangler dev",
            "bash",
            &[self
                .opts
                .serve_root
                .join("scripts/serve.sh")
                .to_string_lossy()
                .into()],
            &envs,
            &self.opts.work.join(format!("wrangler-{port}.log")),
        )?;
        let base = format!("http://127.0.0.1:{port}");
        let ready = procs::wait_ok(
            &self.http,
            &format!("{base}/health"),
            spawned,
            Duration::from_secs(180),
        )
        .await;
        let Some(ready) = ready else {
            let tail = proc.log_tail(8);
            proc.stop().await;
            return Err(format!("wrangler dev did not become healthy: {tail}"));
        };
        self.base = base;
        self.group = proc.group();
        self.server = Some(proc);
        self.inner = self.find_inner().await;
        Ok(ready)
    }

    /// The address of the workerd that runs the Worker itself (wrangler dev puts a proxy,
    /// another workerd, in front of it).
    async fn find_inner(&self) -> Option<String> {
        let group = self.group?;
        for w in procs::workerds(group).into_iter().filter(|w| !w.proxy) {
            for port in procs::listening_ports(w.pid) {
                let url = format!("http://127.0.0.1:{port}/health");
                let ok = self
                    .http
                    .get(&url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200);
                if let Some(r) = ok {
                    if r.text().await.unwrap_or_default().contains("\"status\"") {
                        return Some(format!("http://127.0.0.1:{port}"));
                    }
                }
            }
        }
        None
    }

    async fn start_litellm(&mut self) {
        let Some(bin) = self.opts.litellm.clone() else {
            self.litellm_note = format!("n/a: {}", self.opts.litellm_note);
            return;
        };
        let python = bin.with_file_name("python");
        self.litellm_version = std::process::Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let config = self.opts.work.join("litellm.yaml");
        let yaml = format!(
            "model_list:\n  - model_name: \"openai/*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: \"{}/v1\"\n      api_key: \"{MOCK_KEY}\"\nlitellm_settings:\n  drop_params: true\ngeneral_settings:\n  master_key: \"{LITELLM_KEY}\"\n",
            self.mock
        );
        if let Err(e) = fs::write(&config, yaml) {
            self.litellm_note = format!("n/a: cannot write its config: {e}");
            return;
        }
        let port = match procs::free_port() {
            Ok(p) => p,
            Err(e) => {
                self.litellm_note = format!("n/a: {e}");
                return;
            }
        };
        let spawned = Instant::now();
        let proc = Proc::spawn(
            &self.opts.root,
            "litellm",
            &bin.to_string_lossy(),
            &[
                "--config".into(),
                config.to_string_lossy().into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--num_workers".into(),
                "1".into(),
            ],
            &[
                // Offline: use the model cost map shipped in the package, fetch nothing.
                ("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into()),
                ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
            ],
            &self.opts.work.join("litellm.log"),
        );
        let proc = match proc {
            Ok(p) => p,
            Err(e) => {
                self.litellm_note = format!("n/a: {e}");
                return;
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        let ready = procs::wait_ok(
            &self.http,
            &format!("{base}/health/liveliness"),
            spawned,
            Duration::from_secs(180),
        )
        .await;
        match ready {
            Some((t, _)) => {
                self.litellm_startup = Some(t);
                self.litellm = Some(base);
                self.litellm_proc = Some(proc);
                self.litellm_note = format!(
                    "LiteLLM {} started in {:.1} s (1 uvicorn worker, wildcard `openai/*` → mock)",
                    self.litellm_version,
                    t.as_secs_f64()
                );
            }
            None => {
                self.litellm_note = format!(
                    "n/a: LiteLLM {} did not answer /health/liveliness within 180 s: {}",
                    self.litellm_version,
                    proc.log_tail(4)
                );
                proc.stop().await;
            }
        }
    }

    // ---- the API ------------------------------------------------------------------------

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cf-connecting-ip", BENCH_IP)
            .timeout(Duration::from_secs(60))
    }

    async fn json_ok(&self, req: reqwest::RequestBuilder, what: &str) -> R<Value> {
        let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{what}: {e}: {text}"))
    }

    async fn register(&mut self) -> R<()> {
        let v = self
            .json_ok(
                self.http
                    .post(format!("{}/api/auth/register", self.base))
                    .header("cf-connecting-ip", "10.77.1.1")
                    .json(
                        &json!({"email": self.email, "password": PASSWORD, "name": "Bench",
                                  "refresh_token_in": "body"}),
                    ),
                "register",
            )
            .await?;
        self.session = Session {
            token: field(&v, "access_token")?,
            refresh: field(&v, "refresh_token")?,
            at: Instant::now(),
        };
        Ok(())
    }

    /// Access tokens last 15 minutes: refresh well before.
    async fn fresh_token(&mut self) -> R<()> {
        if self.session.at.elapsed() < Duration::from_secs(6 * 60) {
            return Ok(());
        }
        let v = self
            .json_ok(
                self.api(reqwest::Method::POST, "/api/auth/refresh")
                    .json(&json!({"refresh_token": self.session.refresh})),
                "refresh",
            )
            .await?;
        self.session = Session {
            token: field(&v, "access_token")?,
            refresh: field(&v, "refresh_token")?,
            at: Instant::now(),
        };
        Ok(())
    }

    async fn create_conversations(&self, n: usize, model: &str) -> R<Vec<String>> {
        let mut out = Vec::with_capacity(n);
        // A few at a time: this is set-up, not the thing measured.
        for start in (0..n).step_by(16) {
            let futures = (start..n.min(start + 16)).map(|i| {
                let req = self
                    .api(reqwest::Method::POST, "/api/conversations")
                    .bearer_auth(&self.session.token)
                    .json(&json!({"model": model, "title": format!("bench {i}")}));
                self.json_ok(req, "create conversation")
            });
            for v in futures::future::join_all(futures).await {
                out.push(field(&v?, "id")?);
            }
        }
        Ok(out)
    }

    /// One short reply in each conversation, so its Durable Object exists and is warm.
    async fn warm(&self, convs: &[String]) -> R<()> {
        for chunk in convs.chunks(16) {
            let samples = futures::future::join_all(chunk.iter().map(|c| {
                stream::measure(
                    self.request(Target::Chat, "mock-tokens-2-delay-0", c),
                    Wire::Chat,
                    Some(2),
                    None,
                    Duration::from_secs(60),
                )
            }))
            .await;
            if let Some(e) = samples.iter().find_map(|s| s.error.clone()) {
                return Err(format!("warming conversations: {e}"));
            }
        }
        Ok(())
    }

    async fn setup_v1(&mut self) {
        let me = self
            .json_ok(
                self.api(reqwest::Method::GET, "/api/me")
                    .bearer_auth(&self.session.token),
                "GET /api/me",
            )
            .await;
        let org = me.ok().and_then(|v| {
            v.pointer("/orgs/0/id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let Some(org) = org else {
            self.v1_missing = Some("n/a (no personal org in GET /api/me)".into());
            return;
        };
        let resp = self
            .api(reqwest::Method::POST, "/api/keys")
            .bearer_auth(&self.session.token)
            .json(&json!({"name": "bench", "org_id": org}))
            .send()
            .await;
        let key = match resp {
            Ok(r) if r.status() == 404 || r.status() == 405 => {
                self.v1_missing = Some("n/a (route missing: POST /api/keys)".into());
                return;
            }
            Ok(r) => {
                let status = r.status();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                match v.get("key").and_then(Value::as_str) {
                    Some(k) => k.to_string(),
                    None => {
                        self.v1_missing = Some(format!("n/a (POST /api/keys: HTTP {status} {v})"));
                        return;
                    }
                }
            }
            Err(e) => {
                self.v1_missing = Some(format!("n/a (POST /api/keys: {e})"));
                return;
            }
        };
        let probe = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&key)
            .json(&json!({"model": "openai/mock-tokens-1-delay-0",
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await;
        match probe {
            Ok(r) if r.status() == 200 => self.key = Some(key),
            Ok(r) if r.status() == 404 || r.status() == 405 => {
                self.v1_missing = Some("n/a (route missing: POST /v1/chat/completions)".into());
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                self.v1_missing = Some(format!(
                    "n/a (/v1/chat/completions answered HTTP {status}: {})",
                    body.chars().take(120).collect::<String>()
                ));
            }
            Err(e) => self.v1_missing = Some(format!("n/a (/v1/chat/completions: {e})")),
        }
    }

    /// The request each target gets for a mock model such as `mock-tokens-20-delay-0`.
    fn request(&self, t: Target, model: &str, conv: &str) -> reqwest::RequestBuilder {
        let messages = json!([{"role": "user", "content": PROMPT}]);
        let compat =
            json!({"model": format!("openai/{model}"), "messages": messages, "stream": true});
        match t {
            Target::Direct => self
                .http
                .post(format!("{}/v1/chat/completions", self.mock))
                .bearer_auth(MOCK_KEY)
                // What chatgate sends upstream.
                .json(
                    &json!({"model": model, "messages": messages, "stream": true,
                              "stream_options": {"include_usage": true}}),
                ),
            Target::Chat | Target::ChatInner => {
                let base = match (t, &self.inner) {
                    (Target::ChatInner, Some(inner)) => inner,
                    _ => &self.base,
                };
                self.http
                    .post(format!("{base}/api/conversations/{conv}/messages"))
                    .bearer_auth(&self.session.token)
                    .header("cf-connecting-ip", BENCH_IP)
                    .json(&json!({"content": PROMPT, "model": format!("openai/{model}")}))
            }
            Target::V1 => self
                .http
                .post(format!("{}/v1/chat/completions", self.base))
                .bearer_auth(self.key.as_deref().unwrap_or(""))
                .json(&compat),
            Target::LiteLlm => self
                .http
                .post(format!(
                    "{}/v1/chat/completions",
                    self.litellm.as_deref().unwrap_or("")
                ))
                .bearer_auth(LITELLM_KEY)
                .json(&compat),
        }
    }

    fn targets(&self) -> Vec<Target> {
        let mut t = vec![Target::Direct, Target::Chat];
        if self.inner.is_some() {
            t.push(Target::ChatInner);
        }
        if self.key.is_some() {
            t.push(Target::V1);
        }
        if self.litellm.is_some() {
            t.push(Target::LiteLlm);
        }
        t
    }

    /// `conc` requests of one target at once, each on its own task.
    #[allow(clippy::too_many_arguments)]
    async fn batch(
        &self,
        t: Target,
        model: &str,
        expect: usize,
        convs: &[String],
        offset: usize,
        conc: usize,
        limit: Duration,
        live: Option<Arc<Live>>,
    ) -> Vec<Sample> {
        let mut tasks = Vec::with_capacity(conc);
        for i in 0..conc {
            let conv = convs
                .get((offset + i) % convs.len().max(1))
                .cloned()
                .unwrap_or_default();
            let req = self.request(t, model, &conv);
            let live = live.clone();
            tasks.push(tokio::spawn(async move {
                stream::measure(req, t.wire(), Some(expect), live.as_deref(), limit).await
            }));
        }
        let mut out = Vec::with_capacity(conc);
        for task in tasks {
            out.push(task.await.unwrap_or_else(|e| Sample {
                error: Some(format!("task: {e}")),
                ..Sample::default()
            }));
        }
        out
    }

    // ---- 1. added latency ---------------------------------------------------------------

    async fn latency(&mut self) -> R<()> {
        self.fresh_token().await?;
        let tokens = self.plan.lat_tokens;
        let targets = self.targets();
        for (delay, conc) in [(0u64, 1usize), (20, 1), (0, 50), (20, 50)] {
            self.fresh_token().await?;
            let model = format!("mock-tokens-{tokens}-delay-{delay}");
            let rounds = if conc == 1 {
                self.plan.lat_rounds_c1
            } else {
                self.plan.lat_rounds_c50
            };
            let limit = Duration::from_secs(60);
            self.log(&format!(
                "latency: {tokens} tokens @ {delay} ms, concurrency {conc}, {rounds} rounds"
            ));
            // Warm-up (discarded): connections open, code paths hot.
            for &t in &targets {
                let warm = if conc == 1 { 3 } else { 1 };
                for w in 0..warm {
                    self.batch(t, &model, tokens, &self.convs, w, conc, limit, None)
                        .await;
                }
            }
            let log_from = self.server_log_len();
            let mut samples: HashMap<Target, Vec<Sample>> = HashMap::new();
            for round in 0..rounds {
                // Interleaved, so that every target sees the same machine.
                for &t in &targets {
                    let s = self
                        .batch(
                            t,
                            &model,
                            tokens,
                            &self.convs,
                            round * conc,
                            conc,
                            limit,
                            None,
                        )
                        .await;
                    samples.entry(t).or_default().extend(s);
                }
            }
            let setup = format!("{tokens} tok @ {delay} ms/tok, concurrency {conc}");
            self.latency_rows(&setup, &samples, &targets, conc);
            if conc == 1 {
                self.handler_rows(&setup, &samples, log_from);
            }
        }
        if let Some(why) = self.v1_missing.clone() {
            self.rows.push(Row {
                section: "1".into(),
                measurement: "TTFB / TTFT / whole stream: chatgate /v1/chat/completions + API key"
                    .into(),
                setup: "all four set-ups".into(),
                notes: why,
                ..Row::default()
            });
        }
        Ok(())
    }

    fn latency_rows(
        &mut self,
        setup: &str,
        samples: &HashMap<Target, Vec<Sample>>,
        targets: &[Target],
        conc: usize,
    ) {
        let empty = Vec::new();
        let get = |t: Target| samples.get(&t).unwrap_or(&empty);
        let metrics: [Metric; 3] = [
            ("TTFB", |s| Some(s.ttfb_ms)),
            ("TTFT", |s| s.ttft_ms),
            ("whole stream", |s| Some(s.total_ms)),
        ];
        let direct = get(Target::Direct);
        for (metric, f) in metrics {
            let base = summarize(&values(direct, f));
            let peer_added = summarize(&values(get(Target::LiteLlm), f))
                .zip(base)
                .map(|(p, b)| p.median - b.median);
            for &t in targets.iter().filter(|&&t| t != Target::Direct) {
                let s = get(t);
                let sum = summarize(&values(s, f));
                let (median, p99) = both(sum);
                let mut row = Row {
                    section: "1".into(),
                    measurement: format!("{metric}: {}", t.name()),
                    setup: setup.into(),
                    n: s.len().to_string(),
                    median,
                    p99,
                    baseline: base.map_or(String::new(), |b| {
                        format!("mock direct: {} / {}", ms(b.median), ms(b.p99))
                    }),
                    notes: errors_note(s),
                    ..Row::default()
                };
                if let (Some(x), Some(b)) = (sum, base) {
                    row.ratio = ratio(x.median, b.median);
                    row.added = format!(
                        "{} / {}",
                        ms_signed(x.median - b.median),
                        ms_signed(x.p99 - b.p99)
                    );
                    let judged =
                        metric == "TTFT" && conc == 1 && matches!(t, Target::Chat | Target::V1);
                    if judged {
                        let (am, ap) = (x.median - b.median, x.p99 - b.p99);
                        let mut ok = am <= 3.0 && ap <= 10.0;
                        row.target = "added ≤ 3 ms median, ≤ 10 ms p99".into();
                        match peer_added {
                            Some(peer) => {
                                ok = ok && am < peer;
                                row.target
                                    .push_str(&format!(", < LiteLLM's {}", ms_signed(peer)));
                            }
                            None => row.target.push_str(", < peer's (peer n/a)"),
                        }
                        row.verdict = if ok { "✓" } else { "✗" }.into();
                    }
                }
                if t == Target::ChatInner {
                    row.notes = format!(
                        "diagnostic: same requests sent to the Worker's own workerd, past wrangler dev's proxy workerd. Over this client's keep-alive connections that path has shown a ≈40 ms stall (the delayed-ACK timer) that curl does not see: read the in-Worker handler rows for the proxy's share. {}",
                        row.notes
                    );
                }
                self.rows.push(row);
            }
        }
    }

    fn server_log_len(&self) -> u64 {
        self.server
            .as_ref()
            .and_then(|p| fs::metadata(&p.log).ok())
            .map_or(0, |m| m.len())
    }

    /// The Worker's own log line per request (`duration_ms`, from the request's start to the
    /// response it returned), by route, from `from` bytes into the server's log.
    fn worker_durations(&self, from: u64) -> HashMap<String, Vec<f64>> {
        use std::io::{BufRead, Seek};
        let mut out: HashMap<String, Vec<f64>> = HashMap::new();
        let Some(path) = self.server.as_ref().map(|p| p.log.clone()) else {
            return out;
        };
        let Ok(mut f) = fs::File::open(path) else {
            return out;
        };
        if f.seek(std::io::SeekFrom::Start(from)).is_err() {
            return out;
        }
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            if !line.starts_with('{') || !line.contains("\"duration_ms\"") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let (Some(route), Some(d)) = (
                v.get("route").and_then(Value::as_str),
                v.get("duration_ms").and_then(Value::as_f64),
            ) {
                out.entry(route.to_string()).or_default().push(d);
            }
        }
        out
    }

    /// How much of the TTFB the Worker's handler accounts for, at concurrency 1.
    fn handler_rows(&mut self, setup: &str, samples: &HashMap<Target, Vec<Sample>>, from: u64) {
        let durations = self.worker_durations(from);
        for (route, t) in [
            ("/api/conversations/{id}/messages", Target::Chat),
            ("/v1/chat/completions", Target::V1),
        ] {
            let (Some(d), Some(s)) = (durations.get(route), samples.get(&t)) else {
                continue;
            };
            let (h, c) = (summarize(d), summarize(&values(s, |s| Some(s.ttfb_ms))));
            let (median, p99) = both(h);
            self.rows.push(Row {
                section: "1".into(),
                measurement: format!("in-Worker handler time ({route}): its own log line's duration_ms"),
                setup: format!("{setup}; request start → the handler returns its response"),
                n: d.len().to_string(),
                median,
                p99,
                baseline: c.map_or(String::new(), |c| {
                    format!("client TTFB ({}): {} / {}", t.name(), ms(c.median), ms(c.p99))
                }),
                ratio: h.zip(c).map_or(String::new(), |(h, c)| ratio(h.median, c.median)),
                notes: h.zip(c).map_or(String::new(), |(h, c)| format!(
                    "diagnostic: {} of the median TTFB is spent outside the handler (wrangler's proxy, the runtime, sockets){}",
                    ms(c.median - h.median),
                    if t == Target::Chat { "; includes requests sent past the proxy (same route)" } else { "" }
                )),
                ..Row::default()
            });
        }
    }

    // ---- 2. relay fidelity --------------------------------------------------------------

    async fn fidelity(&mut self) -> R<()> {
        self.fresh_token().await?;
        let (tokens, delay, rounds) = (
            self.plan.fid_tokens,
            self.plan.fid_delay,
            self.plan.fid_rounds,
        );
        let model = format!("mock-tokens-{tokens}-delay-{delay}");
        self.log(&format!(
            "fidelity: {tokens} tokens @ {delay} ms, {rounds} rounds, all targets side by side"
        ));
        let convs = self
            .create_conversations(2 * rounds, "openai/gpt-4o-mini")
            .await?;
        self.warm(&convs).await?;
        let targets = self.targets();
        let limit = Duration::from_millis(tokens as u64 * delay * 3 + 60_000);
        let mut samples: HashMap<Target, Vec<Sample>> = HashMap::new();
        for round in 0..rounds {
            // One stream per target at the same moment: they share the machine's state.
            let mut tasks = Vec::new();
            for &t in &targets {
                let conv = match t {
                    Target::ChatInner => convs.get(2 * round + 1),
                    _ => convs.get(2 * round),
                }
                .cloned()
                .unwrap_or_default();
                let req = self.request(t, &model, &conv);
                tasks.push((
                    t,
                    tokio::spawn(async move {
                        stream::measure(req, t.wire(), Some(tokens), None, limit).await
                    }),
                ));
            }
            for (t, task) in tasks {
                let s = task.await.unwrap_or_else(|e| Sample {
                    error: Some(e.to_string()),
                    ..Sample::default()
                });
                samples.entry(t).or_default().push(s);
            }
        }
        let empty = Vec::new();
        let get = |t: Target| samples.get(&t).unwrap_or(&empty);
        let direct = get(Target::Direct);
        let base = summarize(&values(direct, |s| Some(s.total_ms)));
        let base_gaps: Vec<f64> = direct
            .iter()
            .filter(|s| s.ok())
            .flat_map(|s| s.gaps_ms.clone())
            .collect();
        let base_gap = summarize(&base_gaps);
        let setup = format!("{tokens} tok @ {delay} ms/tok, 1 stream per target at once");
        let mut rows = Vec::new();
        for &t in targets.iter().filter(|&&t| t != Target::Direct) {
            let s = get(t);
            let sum = summarize(&values(s, |s| Some(s.total_ms)));
            let (median, p99) = both(sum);
            let mut row = Row {
                section: "2".into(),
                measurement: format!("whole stream ÷ direct: {}", t.name()),
                setup: setup.clone(),
                n: s.len().to_string(),
                median,
                p99,
                baseline: base.map_or(String::new(), |b| {
                    format!("mock direct: {} / {}", ms(b.median), ms(b.p99))
                }),
                notes: errors_note(s),
                ..Row::default()
            };
            if let (Some(x), Some(b)) = (sum, base) {
                let r = x.median / b.median;
                row.ratio = format!("{r:.4}×");
                row.added = format!(
                    "{} / {}",
                    ms_signed(x.median - b.median),
                    ms_signed(x.p99 - b.p99)
                );
                if matches!(t, Target::Chat | Target::V1) {
                    row.target = "≤ 1.02×".into();
                    row.verdict = if r <= 1.02 { "✓" } else { "✗" }.into();
                }
                row.notes = format!("p99 ratio {:.4}×. {}", x.p99 / b.p99, row.notes);
            }
            rows.push(row);
            let gaps: Vec<f64> = s
                .iter()
                .filter(|s| s.ok())
                .flat_map(|s| s.gaps_ms.clone())
                .collect();
            let g = summarize(&gaps);
            let (median, p99) = both(g);
            let max = gaps.iter().copied().fold(0.0, f64::max);
            let base_max = base_gaps.iter().copied().fold(0.0, f64::max);
            rows.push(Row {
                section: "2".into(),
                measurement: format!("frame inter-arrival: {}", t.name()),
                setup: setup.clone(),
                n: gaps.len().to_string(),
                median,
                p99,
                baseline: base_gap.map_or(String::new(), |b| {
                    format!("mock direct: {} / {}", ms(b.median), ms(b.p99))
                }),
                ratio: g
                    .zip(base_gap)
                    .map_or(String::new(), |(x, b)| ratio(x.median, b.median)),
                added: g.zip(base_gap).map_or(String::new(), |(x, b)| {
                    format!(
                        "{} / {}",
                        ms_signed(x.median - b.median),
                        ms_signed(x.p99 - b.p99)
                    )
                }),
                notes: format!("max gap {} (direct {})", ms(max), ms(base_max)),
                ..Row::default()
            });
        }
        self.rows.extend(rows);
        Ok(())
    }

    // ---- 3. capacity --------------------------------------------------------------------

    fn workerd_rss(&self) -> (u64, u64) {
        self.group.map_or((0, 0), workerd_rss)
    }

    async fn capacity(&mut self) -> R<()> {
        self.fresh_token().await?;
        let (delay, tokens) = (self.plan.cap_delay, self.plan.cap_tokens);
        let steps = self.plan.cap_steps.clone();
        let max = steps.iter().copied().max().unwrap_or(0);
        let model = format!("mock-tokens-{tokens}-delay-{delay}");
        // Each stream needs its own conversation; they are made step by step, as needed.
        let mut convs: Vec<String> = Vec::new();
        // A step that has not ended well after its streams should have is a failed step.
        let limit = Duration::from_millis(tokens as u64 * delay + 15_000);
        let allowed_gap = 10.0 * delay as f64;
        let setup = format!(
            "{tokens} tok @ {delay} ms/tok (a stream lasts {:.0} s); pass = 0 errors, no gap > {allowed_gap:.0} ms, all held at once",
            tokens as f64 * delay as f64 / 1000.0
        );

        // The baseline: the same streams straight from the mock, at the largest step.
        self.log(&format!("capacity: mock direct, {max} streams"));
        let live = Arc::new(Live::default());
        let s = self
            .batch(
                Target::Direct,
                &model,
                tokens,
                &convs,
                0,
                max,
                limit,
                Some(live.clone()),
            )
            .await;
        let direct_row = self.capacity_row(
            Target::Direct,
            max,
            &s,
            live.peak(),
            allowed_gap,
            &setup,
            None,
        );
        let direct_gap_p99 = direct_row.1;
        self.rows.push(direct_row.0);

        let mut best = 0;
        let mut failed_at = None;
        let mut below = String::new();
        let mut n_steps: Vec<usize> = steps.clone();
        let mut i = 0;
        while let Some(&n) = n_steps.get(i) {
            i += 1;
            self.ensure_healthy("the previous capacity step").await?;
            self.fresh_token().await?;
            if convs.len() < n {
                self.log(&format!(
                    "capacity: creating and warming {} more conversations",
                    n - convs.len()
                ));
                let more = self
                    .create_conversations(n - convs.len(), "openai/gpt-4o-mini")
                    .await?;
                self.warm(&more).await?;
                convs.extend(more);
            }
            let step = CapStep {
                t: Target::Chat,
                n,
                model: &model,
                tokens,
                convs: &convs,
                limit,
                allowed_gap,
                setup: &setup,
                baseline: &direct_gap_p99,
            };
            let passed = self.cap_step(step).await;
            if failed_at.is_some() {
                // Below the steps asked for: the largest that passes.
                if passed {
                    below = format!("; below the steps, {n} passed");
                    break;
                }
                below = format!("; below the steps, {n} failed too");
                continue;
            }
            if passed {
                best = n;
                continue;
            }
            failed_at = Some(n);
            // Where the limit is: the same step past wrangler dev's proxy, and on the route
            // without a Durable Object.
            for (t, there) in [
                (Target::ChatInner, self.inner.is_some()),
                (Target::V1, self.key.is_some()),
            ] {
                if there {
                    self.ensure_healthy("the failed capacity step").await?;
                    self.cap_step(CapStep { t, ..step }).await;
                }
            }
            // When even the first step fails, look below it (halving) for what does pass.
            n_steps = if best == 0 {
                let mut lower = Vec::new();
                let mut m = n / 2;
                while m >= 10 && lower.len() < 3 {
                    lower.push(m);
                    m /= 2;
                }
                lower
            } else {
                Vec::new()
            };
            i = 0;
        }
        self.ensure_healthy("the capacity test").await?;
        self.rows.push(Row {
            section: "3".into(),
            measurement: "capacity: most concurrent streams held, chat route".into(),
            setup: format!("steps {steps:?}, stop at the first failure"),
            median: best.to_string(),
            target: "≥ 500".into(),
            verdict: if best >= 500 { "✓" } else { "✗" }.into(),
            notes: match failed_at {
                Some(n) => format!("failed at {n}{below}"),
                None => "every step passed".into(),
            },
            ..Row::default()
        });
        Ok(())
    }

    /// Waits for the server to answer /health again; if it does not within 20 s (wrangler
    /// dev can wedge under load), starts it again on the same state and says so.
    async fn ensure_healthy(&mut self, after: &str) -> R<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = self
                .http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let fds: Vec<String> = self
            .group
            .map(procs::workerds)
            .unwrap_or_default()
            .iter()
            .map(|w| {
                format!(
                    "{} workerd {} open files",
                    if w.proxy {
                        "wrangler's proxy"
                    } else {
                        "the Worker's"
                    },
                    procs::open_files(w.pid)
                )
            })
            .collect();
        self.note(format!(
            "wrangler dev stopped answering after {after} ({}); restarted it on the same state",
            fds.join(", ")
        ));
        if let Some(p) = self.server.take() {
            p.stop().await;
        }
        let port = procs::free_port()?;
        self.start_server(port).await?;
        self.restarts += 1;
        Ok(())
    }

    /// Runs one capacity step, adds its row; whether it passed.
    async fn cap_step(&mut self, c: CapStep<'_>) -> bool {
        self.log(&format!("capacity: {}, {} streams", c.t.name(), c.n));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = self.workerd_rss();
        let peak_rss = Arc::new(std::sync::Mutex::new(before));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak_rss, stop, group) = (peak_rss.clone(), stop.clone(), self.group);
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(g) = group {
                        let (inner, proxy) = workerd_rss(g);
                        if let Ok(mut p) = peak_rss.lock() {
                            p.0 = p.0.max(inner);
                            p.1 = p.1.max(proxy);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let cpu_before = self.group.map(procs::group_cpu);
        let wall = Instant::now();
        let live = Arc::new(Live::default());
        let s = self
            .batch(
                c.t,
                c.model,
                c.tokens,
                c.convs,
                0,
                c.n,
                c.limit,
                Some(live.clone()),
            )
            .await;
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu_before
            .zip(self.group.map(procs::group_cpu))
            .map_or(String::new(), |(a, b)| {
                let frames = (c.n * c.tokens) as f64;
                format!(
                    "; CPU over the step's {wall:.1} s: Worker's workerd {:.1} s ({:.0} µs per frame), proxy workerd {:.1} s, wrangler/node {:.1} s",
                    b.0 - a.0,
                    (b.0 - a.0) * 1e6 / frames,
                    b.1 - a.1,
                    b.2 - a.2
                )
            });
        stop.store(true, Ordering::SeqCst);
        let _ = sampler.await;
        let peak = peak_rss.lock().map(|p| *p).unwrap_or(before);
        let per_stream = |a: u64, b: u64| (b as f64 - a as f64) / 1024.0 / c.n as f64;
        let mem = format!(
            "RSS of the Worker's workerd {} → {} ({:.0} KiB per stream), of wrangler's proxy workerd {} → {} ({:.0} KiB per stream)",
            stats::kib(before.0 as f64),
            stats::kib(peak.0 as f64),
            per_stream(before.0, peak.0),
            stats::kib(before.1 as f64),
            stats::kib(peak.1 as f64),
            per_stream(before.1, peak.1),
        ) + &cpu;
        let (row, _, pass) =
            self.capacity_row(c.t, c.n, &s, live.peak(), c.allowed_gap, c.setup, Some(mem));
        let mut row = Row {
            baseline: c.baseline.to_string(),
            ..row
        };
        if c.t != Target::Chat {
            row.target = String::new();
            row.verdict = String::new();
            row.notes = format!(
                "diagnostic: the failing step again on this target ({}). {}",
                if pass { "passes" } else { "fails too" },
                row.notes
            );
        }
        self.rows.push(row);
        pass
    }

    /// The row of one capacity step, the baseline text for others, and whether it passed.
    #[allow(clippy::too_many_arguments)]
    fn capacity_row(
        &self,
        t: Target,
        n: usize,
        samples: &[Sample],
        held: usize,
        allowed_gap: f64,
        setup: &str,
        mem: Option<String>,
    ) -> (Row, String, bool) {
        let errors = samples.iter().filter(|s| !s.ok()).count();
        let gaps: Vec<f64> = samples
            .iter()
            .filter(|s| s.ok())
            .flat_map(|s| s.gaps_ms.clone())
            .collect();
        let max_gap = gaps.iter().copied().fold(0.0, f64::max);
        let ttft = summarize(&values(samples, |s| s.ttft_ms));
        let g = summarize(&gaps);
        let pass = errors == 0 && max_gap <= allowed_gap && held >= n;
        let (median, p99) = both(g);
        let baseline = g.map_or(String::new(), |g| {
            format!("mock direct ×{n}: {} / {}", ms(g.median), ms(g.p99))
        });
        let mut notes = format!(
            "errors {errors}; max frame gap {}; held at once {held}/{n}; TTFT median/p99 {}",
            ms(max_gap),
            ttft.map_or("—".into(), |t| format!(
                "{} / {}",
                ms(t.median),
                ms(t.p99)
            ))
        );
        if errors > 0 {
            notes.push_str(&format!("; {}", errors_note(samples)));
        }
        if let Some(m) = mem {
            notes.push_str(&format!("; {m}"));
        }
        let row = Row {
            section: "3".into(),
            measurement: format!("{n} concurrent streams, frame inter-arrival: {}", t.name()),
            setup: setup.into(),
            n: n.to_string(),
            median,
            p99,
            verdict: if t == Target::Direct {
                String::new()
            } else if pass {
                "✓".into()
            } else {
                "✗".into()
            },
            target: if t == Target::Direct {
                String::new()
            } else {
                "pass".into()
            },
            notes,
            ..Row::default()
        };
        (row, baseline, pass)
    }

    // ---- 4. login -----------------------------------------------------------------------

    fn native_argon2(&self) -> R<Vec<f64>> {
        use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
        use argon2::{Algorithm, Argon2, Params, Version};
        let params =
            Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).map_err(|e| e.to_string())?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"bench-salt-16byt").map_err(|e| e.to_string())?;
        let phc = hasher
            .hash_password(PASSWORD.as_bytes(), &salt)
            .map_err(|e| e.to_string())?
            .to_string();
        let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        // The Worker verifies with Argon2::default() and the parameters in the PHC string.
        for i in 0..=self.plan.native_rounds {
            let start = Instant::now();
            let ok = Argon2::default()
                .verify_password(b"a wrong password", &parsed)
                .is_ok();
            let t = start.elapsed().as_secs_f64() * 1000.0;
            if ok {
                return Err("a wrong password verified".into());
            }
            if i > 0 {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn login(&mut self) -> R<()> {
        self.fresh_token().await?;
        self.log("login: native argon2id, then the Worker's login");
        let native = self.native_argon2()?;
        let long = "x".repeat(300);
        let mut me = Vec::new();
        let mut wrong = Vec::new();
        let mut too_long = Vec::new();
        let mut good = Vec::new();
        for i in 0..=self.plan.login_rounds {
            let login = |password: &str, body_token: bool| {
                let mut body = json!({"email": self.email, "password": password});
                if body_token {
                    body["refresh_token_in"] = json!("body");
                }
                self.api(reqwest::Method::POST, "/api/auth/login")
                    .json(&body)
            };
            let r_me = stream::timed(
                self.api(reqwest::Method::GET, "/api/me")
                    .bearer_auth(&self.session.token),
            )
            .await?;
            let r_long = stream::timed(login(&long, false)).await?;
            let r_wrong = stream::timed(login("a wrong password", false)).await?;
            let r_good = stream::timed(login(PASSWORD, true)).await?;
            for (what, r, want) in [
                ("GET /api/me", &r_me, 200),
                ("login, long password", &r_long, 401),
                ("login, wrong password", &r_wrong, 401),
                ("login", &r_good, 200),
            ] {
                if r.1 != want {
                    return Err(format!("{what}: HTTP {} (wanted {want}): {}", r.1, r.2));
                }
            }
            if i == 0 {
                continue; // warm-up
            }
            me.push(r_me.0);
            too_long.push(r_long.0);
            wrong.push(r_wrong.0);
            good.push(r_good.0);
        }
        let n = self.plan.login_rounds.to_string();
        let nat = summarize(&native);
        let (w, l, g, m) = (
            summarize(&wrong),
            summarize(&too_long),
            summarize(&good),
            summarize(&me),
        );
        let setup = format!("m={ARGON2_M_KIB} KiB, t={ARGON2_T}, p={ARGON2_P}");
        let (nmed, np99) = both(nat);
        self.rows.push(Row {
            section: "4".into(),
            measurement: "argon2id verify, native Rust (`argon2` 0.5, this binary)".into(),
            setup: format!("{setup}; release, opt-level 3"),
            n: native.len().to_string(),
            median: nmed,
            p99: np99,
            ..Row::default()
        });
        // Paired: the two logins of a round were sent one after the other.
        let diffs: Vec<f64> = wrong.iter().zip(&too_long).map(|(w, l)| w - l).collect();
        if let (Some(w), Some(l), Some(nat), Some(d)) = (w, l, nat, summarize(&diffs)) {
            let (med, p99) = (d.median, d.p99);
            let r = med / nat.median;
            self.rows.push(Row {
                section: "4".into(),
                measurement: "argon2id verify inside the Worker".into(),
                setup: format!("{setup}; per round: login with a wrong password − login with a 300-char password (same route, same D1 work, no hash)"),
                n: n.clone(),
                median: ms(med),
                p99: ms(p99),
                baseline: format!("native: {} / {}", ms(nat.median), ms(nat.p99)),
                ratio: format!("{r:.2}×"),
                target: "≤ 2× native".into(),
                verdict: if r <= 2.0 { "✓" } else { "✗" }.into(),
                notes: format!(
                    "wrong password {} / {}; 300-char password {} / {}",
                    ms(w.median), ms(w.p99), ms(l.median), ms(l.p99)
                ),
                ..Row::default()
            });
        }
        for (what, s) in [
            ("login (correct password: argon2id + new session)", g),
            ("login, wrong password (401)", w),
        ] {
            let (median, p99) = both(s);
            self.rows.push(Row {
                section: "4".into(),
                measurement: what.into(),
                setup: "POST /api/auth/login, sequential".into(),
                n: n.clone(),
                median,
                p99,
                baseline: m.map_or(String::new(), |m| {
                    format!("GET /api/me: {} / {}", ms(m.median), ms(m.p99))
                }),
                ratio: s
                    .zip(m)
                    .map_or(String::new(), |(s, m)| ratio(s.median, m.median)),
                added: s.zip(m).map_or(String::new(), |(s, m)| {
                    format!(
                        "{} / {}",
                        ms_signed(s.median - m.median),
                        ms_signed(s.p99 - m.p99)
                    )
                }),
                ..Row::default()
            });
        }
        Ok(())
    }

    // ---- 5. history ---------------------------------------------------------------------

    /// One chat send read to the end; its whole time in ms.
    async fn send_once(&self, conv: &str, i: usize) -> R<f64> {
        let req = self
            .api(
                reqwest::Method::POST,
                &format!("/api/conversations/{conv}/messages"),
            )
            .bearer_auth(&self.session.token)
            .json(&json!({"content": format!(
                "Message {i} of the history benchmark: a question of ordinary length for a chat."
            )}));
        let s = stream::measure(req, Wire::Chat, None, None, Duration::from_secs(60)).await;
        match s.error {
            Some(e) => Err(format!("send {i}: {e}")),
            None => Ok(s.total_ms),
        }
    }

    async fn history(&mut self) -> R<()> {
        self.fresh_token().await?;
        let (sends, total) = (self.plan.hist_sends, self.plan.hist_total);
        let conv = self
            .create_conversations(1, "demo/echo")
            .await?
            .pop()
            .ok_or("no conversation")?;
        self.log(&format!(
            "history: {sends} sends through the API (demo/echo, 0 ms tokens)"
        ));
        let built = Instant::now();
        let mut early = Vec::with_capacity(sends);
        for i in 0..sends {
            early.push(self.send_once(&conv, i).await?);
        }
        let api_s = built.elapsed().as_secs_f64();

        // The rest of the 10,000 straight into the Durable Object's SQLite file, server stopped.
        self.log(&format!(
            "history: stopping wrangler dev, extending the conversation to {total} messages"
        ));
        if let Some(p) = self.server.take() {
            p.stop().await;
        }
        let seeded = std::process::Command::new("python3")
            .arg(self.opts.root.join("bench/seed_history.py"))
            .arg(&self.state_dir)
            .arg(&conv)
            .arg(total.to_string())
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        let seed_note = String::from_utf8_lossy(&seeded.stdout).trim().to_string();
        let seed_err = String::from_utf8_lossy(&seeded.stderr).trim().to_string();
        self.log("history: restarting wrangler dev on the same state");
        let port = procs::free_port()?;
        let restarted = self.start_server(port).await;
        let (ready, first) = restarted?;
        if !seeded.status.success() {
            return Err(format!("seeding the history failed: {seed_err}"));
        }
        let path = format!("/api/conversations/{conv}/messages?limit=100");
        let cold = stream::timed(
            self.api(reqwest::Method::GET, &path)
                .bearer_auth(&self.session.token),
        )
        .await?;
        self.restart = Some((ready, first, cold.0));

        let mut page = Vec::new();
        let mut health = Vec::new();
        let mut floor = Vec::new();
        let mut newest = None;
        for i in 0..=self.plan.hist_rounds {
            let h = stream::timed(self.api(reqwest::Method::GET, "/health")).await?;
            let p = stream::timed(
                self.api(reqwest::Method::GET, &path)
                    .bearer_auth(&self.session.token),
            )
            .await?;
            let f = stream::timed(self.api(reqwest::Method::GET, "/api")).await?;
            if p.1 != 200 || h.1 != 200 {
                return Err(format!("history page: HTTP {} / health {}", p.1, h.1));
            }
            if i == 0 {
                let v: Value = serde_json::from_str(&p.2).map_err(|e| e.to_string())?;
                let items = v.get("items").and_then(Value::as_array);
                newest = items
                    .and_then(|a| Some((a.len(), a.first()?.get("seq")?.as_i64()?, p.2.len())));
                continue;
            }
            health.push(h.0);
            page.push(p.0);
            floor.push(f.0);
        }
        let (items, seq, bytes) = newest.unwrap_or((0, 0, 0));
        let (pg, hs, fl) = (summarize(&page), summarize(&health), summarize(&floor));
        let (median, p99) = both(pg);
        self.rows.push(Row {
            section: "5".into(),
            measurement: "history: newest page of 100 messages".into(),
            setup: format!(
                "GET /api/conversations/{{id}}/messages?limit=100 in a conversation of {total} messages"
            ),
            n: page.len().to_string(),
            median,
            p99,
            baseline: hs.map_or(String::new(), |h| {
                format!("GET /health: {} / {}", ms(h.median), ms(h.p99))
            }),
            ratio: pg
                .zip(hs)
                .map_or(String::new(), |(p, h)| ratio(p.median, h.median)),
            added: pg.zip(hs).map_or(String::new(), |(p, h)| {
                format!(
                    "{} / {}",
                    ms_signed(p.median - h.median),
                    ms_signed(p.p99 - h.p99)
                )
            }),
            target: "median ≤ 20 ms".into(),
            verdict: pg
                .map_or("✗", |p| if p.median <= 20.0 { "✓" } else { "✗" })
                .into(),
            notes: format!(
                "{items} items ({bytes} B), newest seq {seq}; first page after the restart (cold Durable Object) {}; GET /api (no storage) {}",
                ms(cold.0),
                fl.map_or("—".into(), |f| format!("{} / {}", ms(f.median), ms(f.p99)))
            ),
        });

        // A send in the long conversation: its history query reads up to 1,000 rows.
        let mut late = Vec::new();
        for i in 0..self.plan.hist_late_sends {
            late.push(self.send_once(&conv, sends + i).await?);
        }
        let first = summarize(&early[..early.len().min(100)]);
        let (l, (median, p99)) = (summarize(&late), both(summarize(&late)));
        self.rows.push(Row {
            section: "5".into(),
            measurement: "chat send, whole reply (demo/echo, 0 ms tokens), in the 10,000-message conversation".into(),
            setup: "sequential sends, after the history pages".into(),
            n: late.len().to_string(),
            median,
            p99,
            baseline: first.map_or(String::new(), |f| {
                format!("the first 100 sends (empty conversation): {} / {}", ms(f.median), ms(f.p99))
            }),
            ratio: l
                .zip(first)
                .map_or(String::new(), |(l, f)| ratio(l.median, f.median)),
            added: l.zip(first).map_or(String::new(), |(l, f)| {
                format!("{} / {}", ms_signed(l.median - f.median), ms_signed(l.p99 - f.p99))
            }),
            notes: format!(
                "{sends} sends through the API took {api_s:.0} s ({} per send), the rest was written into the Durable Object's SQLite file with the server stopped (bench/seed_history.py: {seed_note})",
                ms(api_s * 1000.0 / sends.max(1) as f64)
            ),
            ..Row::default()
        });
        Ok(())
    }

    // ---- 6. size and start-up -----------------------------------------------------------

    fn size(&mut self) -> R<()> {
        let wasm = self.opts.serve_root.join("build/index_bg.wasm");
        let raw = fs::metadata(&wasm)
            .map_err(|e| format!("{}: {e}", wasm.display()))?
            .len();
        let gz = std::process::Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&wasm)
            .output()
            .map_err(|e| format!("gzip: {e}"))?
            .stdout
            .len() as u64;
        let js = fs::metadata(self.opts.serve_root.join("build/index.js"))
            .map(|m| m.len())
            .unwrap_or(0);
        self.rows.push(Row {
            section: "6".into(),
            measurement: "Worker size: build/index_bg.wasm, gzip -9".into(),
            setup: "release, opt-level \"s\", LTO, no wasm-opt (scripts/build.sh)".into(),
            median: stats::kib(gz as f64),
            target: "≤ 1 MiB".into(),
            verdict: if gz <= 1024 * 1024 { "✓" } else { "✗" }.into(),
            notes: format!(
                "raw {} ({raw} B), gzip {gz} B; build/index.js {}",
                stats::kib(raw as f64),
                stats::kib(js as f64)
            ),
            ..Row::default()
        });
        Ok(())
    }

    fn startup_row(&mut self) {
        let Some((ready, first)) = self.startup else {
            return;
        };
        self.rows.push(Row {
            section: "6".into(),
            measurement: "start-up: spawn scripts/serve.sh → first 200 GET /health".into(),
            setup:
                "fresh STATE_DIR (includes `wrangler d1 migrations apply`, a separate wrangler run)"
                    .into(),
            median: format!("{:.2} s", ready.as_secs_f64()),
            baseline: self.litellm_startup.map_or(String::new(), |t| {
                format!("LiteLLM proxy start-up: {:.2} s", t.as_secs_f64())
            }),
            ratio: self.litellm_startup.map_or(String::new(), |t| {
                format!("{:.2}×", ready.as_secs_f64() / t.as_secs_f64())
            }),
            notes: format!(
                "the first 200 /health took {}",
                ms(first.as_secs_f64() * 1000.0)
            ),
            ..Row::default()
        });
    }

    /// Start-up on existing state: taken by the history section (which restarts the server
    /// to extend its conversation), else by a plain restart here.
    async fn restart(&mut self) -> R<()> {
        let (ready, first, cold, what) = match self.restart {
            Some((ready, first, cold)) => (
                ready,
                first,
                cold,
                "first history page after it (cold Durable Object, 10,000 messages)",
            ),
            None => {
                self.log("size: restarting wrangler dev on the same state");
                if let Some(p) = self.server.take() {
                    p.stop().await;
                }
                let port = procs::free_port()?;
                let (ready, first) = self.start_server(port).await?;
                let conv = self.convs.first().cloned().unwrap_or_default();
                let cold = stream::measure(
                    self.request(Target::Chat, "mock-tokens-5-delay-0", &conv),
                    Wire::Chat,
                    Some(5),
                    None,
                    Duration::from_secs(60),
                )
                .await;
                (
                    ready,
                    first,
                    cold.ttft_ms.unwrap_or(0.0),
                    "first chat send after it (cold Durable Object), TTFT",
                )
            }
        };
        self.rows.push(Row {
            section: "6".into(),
            measurement: "restart: spawn scripts/serve.sh → first 200 GET /health".into(),
            setup: "the run's STATE_DIR (all its users, conversations and messages)".into(),
            median: format!("{:.2} s", ready.as_secs_f64()),
            notes: format!(
                "the first 200 /health took {}; {what} {}",
                ms(first.as_secs_f64() * 1000.0),
                ms(cold)
            ),
            ..Row::default()
        });
        Ok(())
    }

    /// What wrangler dev wrote to its debug log (WRANGLER_LOG_PATH, under STATE_DIR/logs):
    /// every DevTools `Network.*` event of the Worker's fetches goes through it.
    fn wrangler_log_note(&mut self) {
        use std::io::BufRead;
        let mut bytes = 0u64;
        let mut events = 0u64;
        let mut data = 0u64;
        let logs = fs::read_dir(self.state_dir.join("logs"));
        for entry in logs.into_iter().flatten().flatten() {
            bytes += entry.metadata().map_or(0, |m| m.len());
            let Ok(f) = fs::File::open(entry.path()) else {
                continue;
            };
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                if line.contains("RUNTIME INCOMING MESSAGE") {
                    events += 1;
                }
                if line.contains("'Network.dataReceived'") {
                    data += 1;
                }
            }
        }
        self.note(format!(
            "wrangler dev's debug log (STATE_DIR/logs) grew to {} over the run: {events} DevTools events relayed by wrangler's inspector proxy, {data} of them `Network.dataReceived` (one per chunk of each fetch the Worker makes)",
            stats::kib(bytes as f64)
        ));
    }

    fn peer_row(&mut self) {
        self.rows.push(Row {
            section: "7".into(),
            measurement: "peer: LiteLLM proxy in front of the same mock".into(),
            setup: "`pip install 'litellm[proxy]'` into bench/.venv; same /v1/chat/completions requests".into(),
            notes: format!("{}; its rows are in sections 1 and 2", self.litellm_note),
            ..Row::default()
        });
    }

    fn write(&self, elapsed: Duration, load_before: &str) -> R<String> {
        let machine = report::machine(&self.opts.root, &self.litellm_version);
        let mut md = String::new();
        md.push_str("# chatgate benchmarks\n\n");
        md.push_str("Written by `make bench` (bench/run.sh → bench/loadgen). Rerun it rather than editing by hand.\n\n");
        md.push_str("## Machine\n\n| | |\n|---|---|\n");
        for (k, v) in &machine {
            md.push_str(&format!("| {k} | {v} |\n"));
        }
        md.push_str(&format!(
            "| load average (1/5/15 min) before / after | {load_before} / {} |\n",
            report::loadavg()
        ));
        md.push_str(&format!(
            "| wrangler dev restarted because it stopped answering | {} time(s) |\n",
            self.restarts
        ));
        md.push_str(&format!(
            "| bench duration (loadgen) | {:.0} s{} |\n\n",
            elapsed.as_secs_f64(),
            if self.opts.quick { " (--quick)" } else { "" }
        ));
        md.push_str("## Results\n\n");
        let mut rows = self.rows.clone();
        rows.sort_by_key(|r| r.section.parse::<u32>().unwrap_or(9));
        md.push_str(&report::table(&rows));
        md.push_str("\n## Method\n\n");
        for line in METHOD {
            md.push_str(&format!("- {line}\n"));
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes from this run\n\n");
            for n in &self.notes {
                md.push_str(&format!("- {n}\n"));
            }
        }
        fs::write(&self.opts.out, &md).map_err(|e| format!("{}: {e}", self.opts.out.display()))?;
        Ok(md)
    }
}

const METHOD: &[&str] = &[
    "Everything runs on this machine over 127.0.0.1: the mock upstream (`chatgate-mock`, release), the release Worker under `wrangler dev` (scripts/serve.sh, fresh STATE_DIR, DEMO_TOKEN_DELAY_MS=0, throttles lifted; served from a snapshot of the build in bench/.work/tree, so an edit of src/ or a rebuild during the run cannot make wrangler reload the Worker), LiteLLM's proxy, and this load generator (tokio + reqwest, HTTP/1.1 keep-alive). Each server runs under tests/support/watchdog.sh.",
    "TTFB = request sent → response headers. TTFT = → the first SSE data frame carrying text (`event: delta` on the chat route; a chunk with non-empty `choices[0].delta.content` for OpenAI streams). Whole stream = → end of body. A frame's time is when its closing blank line arrived.",
    "Baseline = the same request sent straight to the mock in the same run. Added = measured − baseline, for the median and for the p99 separately; ratio = measured median ÷ baseline median. Quantiles are nearest-rank over all requests of all rounds; failed requests are left out of the quantiles and counted in the notes.",
    "Section 1: the targets are interleaved request by request (concurrency 1) or batch by batch (concurrency 50: 50 requests at once, all completed before the next target's batch), after a discarded warm-up. The chat route uses a pool of 50 warmed conversations (one reply per conversation at a time), so history stays short.",
    "Section 1 also times the chat route sent to the workerd that runs the Worker, past the workerd proxy that wrangler dev puts in front of it: the difference is what that local-only hop costs (it does not exist on Cloudflare).",
    "On the chat route the Worker answers only once the provider's first token is there (so a provider that fails at once is an HTTP error), so its TTFB includes the first token's delay; the mock sends its headers at once.",
    "Section 2: in each round one stream per target starts at the same moment, so they share the machine's state; ratio = median whole-stream time ÷ the direct median.",
    "Section 3: all streams of a step start at once on the chat route, each in its own warmed conversation, and a step ends at most 15 s after its streams should have; when a step fails, the same step runs on the chat route past wrangler's proxy and on /v1 (diagnostics), and if it was the first step, smaller ones (halving) find what does pass. wrangler dev can stop answering under this load: the server is then started again on the same state (noted below); a step passes with no failed request, no gap between text frames over 10 token intervals and all streams open at the same time (headers received, body not finished). Memory: VmRSS of the workerd processes of the server before the step and at the peak (sampled every 200 ms).",
    "Section 4: the Worker's argon2id time is, round by round, a login with a wrong password minus the login with a 300-character password sent just before it, which the Worker rejects before hashing but after the same D1 reads and throttle writes. Native: `argon2` 0.5 verify in this binary, same parameters.",
    "Section 5: the conversation starts with sends through the API (demo/echo, 0 ms tokens, sequential: one reply per conversation at a time); then, with the server stopped, bench/seed_history.py repeats those rows in the conversation's Durable Object SQLite file up to 10,000 messages (through the API it would take about 10 minutes here), and the server is started again (that restart is section 6's). Each page request is read to the end; GET /health (one D1 query, one KV read) is the baseline, GET /api (no storage) the floor.",
    "CPU per process (section 3 notes) comes from /proc/<pid>/stat of the server's process group: the Worker's workerd, wrangler's proxy workerd (which also hosts wrangler's inspector proxy), and node (wrangler itself).",
    "Numbers from a shared 2-core machine are noisy: read ratios and added times, not absolute figures, and compare runs on the same machine only.",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> R<()> {
    let opts = parse_opts()?;
    let plan = Plan::new(opts.quick);
    let started = Instant::now();
    let load_before = report::loadavg();
    let run_id = format!(
        "run-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    fs::create_dir_all(&opts.work).map_err(|e| e.to_string())?;
    let state_dir = opts.work.join(&run_id);
    fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
    let mut b = Bench {
        http: client()?,
        plan,
        started,
        mock: String::new(),
        mock_proc: None,
        server: None,
        base: String::new(),
        inner: None,
        group: None,
        state_dir,
        litellm: None,
        litellm_proc: None,
        litellm_note: String::new(),
        litellm_version: "not installed".into(),
        litellm_startup: None,
        startup: None,
        restart: None,
        restarts: 0,
        email: format!("bench-{run_id}@example.com"),
        session: Session {
            token: String::new(),
            refresh: String::new(),
            at: Instant::now(),
        },
        key: None,
        v1_missing: None,
        convs: Vec::new(),
        rows: Vec::new(),
        notes: Vec::new(),
        opts,
    };
    b.log("starting the mock upstream");
    b.start_mock().await?;
    b.log("starting wrangler dev");
    let port = procs::free_port()?;
    b.startup = Some(b.start_server(port).await?);
    match &b.inner {
        Some(inner) => b.log(&format!("the Worker's own workerd answers at {inner}")),
        None => b.note(
            "could not find the Worker's own workerd: the past-the-proxy rows are left out".into(),
        ),
    }
    b.log("starting LiteLLM");
    b.start_litellm().await;
    b.log(&b.litellm_note.clone());
    b.register().await?;
    b.setup_v1().await;
    if let Some(why) = b.v1_missing.clone() {
        b.note(format!("/v1/chat/completions with an API key: {why}"));
    }
    b.convs = b.create_conversations(50, "openai/gpt-4o-mini").await?;
    b.warm(&b.convs.clone()).await?;

    // Capacity last: it is the one that can wedge wrangler dev.
    for name in ["latency", "fidelity", "login", "history", "capacity"] {
        if !b.section(name) {
            continue;
        }
        let t = Instant::now();
        let result = match name {
            "latency" => b.latency().await,
            "fidelity" => b.fidelity().await,
            "capacity" => b.capacity().await,
            "login" => b.login().await,
            _ => b.history().await,
        };
        if let Err(e) = result {
            b.note(format!("section {name} failed: {e}"));
            b.rows.push(Row {
                section: name.into(),
                measurement: format!("{name}: failed"),
                notes: e,
                ..Row::default()
            });
        }
        b.log(&format!(
            "{name} done in {:.0} s",
            t.elapsed().as_secs_f64()
        ));
    }
    if b.section("size") {
        if let Err(e) = b.size() {
            b.note(format!("size: {e}"));
        }
        b.startup_row();
        if let Err(e) = b.restart().await {
            b.note(format!("restart: {e}"));
        }
    }
    b.peer_row();
    b.wrangler_log_note();
    let elapsed = started.elapsed();
    let md = b.write(elapsed, &load_before)?;
    println!("{md}");
    b.log(&format!("wrote {}", b.opts.out.display()));
    for p in [b.litellm_proc.take(), b.server.take(), b.mock_proc.take()]
        .into_iter()
        .flatten()
    {
        let name = p.name.clone();
        p.stop().await;
        log(started, &format!("stopped {name}"));
    }
    Ok(())
}
