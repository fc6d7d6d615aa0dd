//! `loadgen`: chatgate's benchmark, run by `make bench` (bench/run.sh builds everything first).
//!
//! Starts the mock upstream, the built Worker under `wrangler dev` (fresh state, its own vars)
//! and, when installed, LiteLLM's proxy in front of the same mock; then measures every figure
//! beside its baseline in the same run and prints one table, also written to bench/results.md
//! with the machine's description. Every loop is bounded in count and time; every address is
//! on 127.0.0.1. Not a test: nothing here runs in CI.

mod api;
mod capacity;
mod edge;
mod fidelity;
mod floor;
mod history;
mod latency;
mod login;
mod procs;
mod report;
mod search;
mod servers;
mod size;
mod stats;
mod stream;
mod targets;
mod upload;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use procs::Proc;
use report::Row;
use stats::{ms, Summary};
use stream::Sample;

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
                            [--only latency,fidelity,capacity,login,history,edge,upload,search,size]"
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
    upload_rounds: usize,
    search_conversations: usize,
    search_messages_per: usize,
    search_rounds: usize,
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
            upload_rounds: env_num("BENCH_UPLOAD_ROUNDS", if quick { 3 } else { 10 }),
            search_conversations: env_num("BENCH_SEARCH_CONVERSATIONS", 1_000),
            search_messages_per: env_num("BENCH_SEARCH_MESSAGES_PER", 100),
            search_rounds: env_num("BENCH_SEARCH_ROUNDS", if quick { 10 } else { 30 }),
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
    /// `run-<unix time>`: names this run's state directories under `opts.work`.
    run_id: String,
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
    /// The minimal JS Workers that started (bench/floor).
    floors: Vec<floor::Floor>,
    /// What chatgate sent the mock for a tool-call request (the tool-call rows' baseline).
    tools_upstream: Option<Value>,
    /// What chatgate sent the mock's Anthropic endpoint for /v1/messages, and its headers.
    anthropic_upstream: Option<(Value, Vec<(String, String)>)>,
    /// /v1/responses answered its probe.
    responses_ok: bool,
    /// Why an ingress row is missing.
    ingress_missing: Vec<String>,
    /// Variables the next `start_server` adds (the edge section's storage delay).
    extra_env: Vec<(String, String)>,
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

    fn write(&self, elapsed: Duration, load: &Load) -> R<String> {
        let machine = report::machine(&self.opts.root, &self.litellm_version);
        let mut md = String::new();
        md.push_str("# chatgate benchmarks\n\n");
        md.push_str("Written by `make bench` (bench/run.sh → bench/loadgen). Rerun it rather than editing by hand.\n\n");
        md.push_str("## Machine\n\n| | |\n|---|---|\n");
        for (k, v) in &machine {
            md.push_str(&format!("| {k} | {v} |\n"));
        }
        md.push_str(&format!(
            "| load average (1/5/15 min) before / after | {} / {} |\n",
            load.before,
            report::loadavg()
        ));
        md.push_str(&format!(
            "| load average (1 min) during the run, every 10 s: min / median / max | {} |\n",
            load.during()
        ));
        md.push_str(&format!(
            "| CPU busy during the run, all processes (this bench's included) | {} |\n",
            load.busy()
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
        md.push_str("\n## Targets\n\n");
        md.push_str(&report::targets(&rows));
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
    "Everything runs on this machine over 127.0.0.1: the mock upstream (`chatgate-mock`, release), the release Worker under `wrangler dev` (scripts/serve.sh, fresh STATE_DIR, DEMO_TOKEN_DELAY_MS=0, throttles lifted; served from a snapshot of the build in bench/.work/tree, so an edit of src/ or a rebuild during the run cannot make wrangler reload the Worker), the four floor Workers (A, B, C, E) (bench/floor, each under its own `wrangler dev` with the same settings), LiteLLM's proxy, and this load generator (tokio + reqwest, HTTP/1.1 keep-alive). Each server runs under tests/support/watchdog.sh.",
    "TTFB = request sent → response headers. TTFT = → the first SSE frame carrying a token: `event: delta` on the chat route (and floor C); a chunk with non-empty `choices[0].delta.content`, or a non-empty piece of `tool_calls[].function.arguments`, for OpenAI streams; a `content_block_delta` with text or a non-empty `partial_json` for /v1/messages; a non-empty `response.output_text.delta` for /v1/responses. Whole stream = → end of body (the stream's final event must be there). A frame's time is when its closing blank line arrived.",
    "Baseline = the same request sent straight to the mock in the same run: for the tool-call and /v1/messages rows, the very request chatgate sent the mock for them (taken from the mock's record at start-up, its model set per row). Added = measured − baseline, for the median and for the p99 separately; ratio = measured median ÷ baseline median. Quantiles are nearest-rank over all requests of all rounds; failed requests are left out of the quantiles and counted in the notes.",
    "The floor (bench/floor): minimal JS Workers under the same wrangler and workerd, in front of the same mock. A: `return fetch(upstream)`. B: the same, each SSE frame parsed (JSON.parse) and re-serialised (JSON.stringify). C: the Worker hands the request to a SQLite Durable Object, which sends the upstream request, writes the user's and an empty assistant row, relays the text as `event: delta` frames and saves it once a second and at the end. E (a diagnostic): B's work, read by a JS loop and written into the runtime's own stream (IdentityTransformStream) as chatgate relays, where B pipes through a JS TransformStream. They get the same requests as the mock direct (C: the chat route's body), interleaved in the same rounds. \"vs floor\" = this row's added time − the floor's added time (each against its own baseline), median and p99; /v1 routes are compared with B, the chat route with C.",
    "Section 1: the targets are interleaved request by request (concurrency 1) or batch by batch (concurrency 50: 50 requests at once, all completed before the next target's batch), after a discarded warm-up. The chat route uses a pool of 50 warmed conversations (one reply per conversation at a time), so history stays short; floor C uses Durable Objects of the same names. The tool-call rows send /v1/chat/completions one function tool and the model `mock-tools-N`, N = tokens ÷ 5 parallel calls whose arguments stream in 5 pieces each (as many token frames as the text rows); /v1/messages sends `anthropic/mock…` with `x-api-key`; /v1/responses sends `openai/mock…` with `store: false`.",
    "Section 1 targets, judged on medians at concurrency 1: added TTFT of /v1/chat/completions within 2 ms of floor B's and of the chat route within 2 ms of floor C's, both below LiteLLM's (issue 14); added TTFT of the tool-call, /v1/messages and /v1/responses rows within 1 ms of /v1/chat/completions' (issue 17). The distance is how far the median is from meeting the target.",
    "Section 1 also times the chat route sent to the workerd that runs the Worker, past the workerd proxy that wrangler dev puts in front of it: the difference is what that local-only hop costs (it does not exist on Cloudflare). The in-Worker handler rows join each request to the Worker's own log line by `x-request-id` (its `duration_ms`), and give the median of each `Server-Timing` phase the responses carried.",
    "On the chat route the Worker answers only once the provider's first token is there (so a provider that fails at once is an HTTP error), so its TTFB includes the first token's delay; the mock sends its headers at once.",
    "Section 2: in each round one stream per target starts at the same moment, so they share the machine's state; ratio = median whole-stream time ÷ the direct median.",
    "Section 3: every step runs for every target in turn (the chat route, /v1, floors A, B, C and E: the same machine for all), all streams of a step at once, each chat stream in its own warmed conversation and each floor C stream in its own warmed Durable Object; a step ends at most 15 s after its streams should have. A target leaves the ladder at its first failed step; a target that fails the first step tries smaller ones (halving, up to 3) to find what passes; when the chat route fails a step, the same step runs past wrangler's proxy (diagnostic). wrangler dev can stop answering under this load: the server is then started again on the same state (noted below). A step passes with no failed request, no gap between token frames over 10 token intervals and all streams open at the same time (headers received, body not finished). Memory: VmRSS of the workerd processes before the step and at the peak (sampled every 200 ms); the chat route and /v1 share one workerd whose wasm memory never shrinks, so the later steps start from the high-water mark of the earlier ones. CPU per frame: CPU time of the workerd that runs the Worker over the step ÷ (streams × tokens). Targets (issue 14): the chat route and /v1 hold at least as many streams as floor B with zero errors; their CPU per frame at the first step at most 0.8× floor B's.",
    "Section 4: the Worker's argon2id time is, round by round, a login with a wrong password minus the login with a 300-character password sent just before it, which the Worker rejects before hashing but after the same D1 reads and throttle writes. Native: `argon2` 0.5 verify in this binary, same parameters. Target (issue 14): at most 1.5× native.",
    "Section 5: the conversation starts with sends through the API (demo/echo, 0 ms tokens, sequential: one reply per conversation at a time); then, with the server stopped, bench/seed_history.py repeats those rows in the conversation's Durable Object SQLite file up to 10,000 messages, a tree with 1,000 branches (an edit and its reply left beside every fourth pair of the current branch) (through the API it would take about 10 minutes here), and the server is started again (that restart is section 6's). Each page request is read to the end; GET /health (one D1 query, one KV read) is the baseline, GET /api (no storage) the floor.",
    "CPU per process (section 3 notes) comes from /proc/<pid>/stat of the server's process group: the Worker's workerd, wrangler's proxy workerd (which also hosts wrangler's inspector proxy), and node (wrangler itself).",
    "Section 8 (the edge, simulated): a second chatgate server on the same build with `BENCH_STORAGE_DELAY_MS` (default `d1=60,kv=5,do=15`, `BENCH_EDGE_DELAYS` to change it): each D1 query, KV operation and Durable Object request waits that long before it is sent, as for a user far from the database (src/store/delay.rs). Its own account, API key and 8 warmed conversations; the chat route and /v1/chat/completions interleaved with the mock direct, concurrency 1, 20 tokens at 0 ms. Added TTFT = the median minus the direct median; the sequential storage waits are the `Server-Timing` phases before the provider whose median is at least half the shortest delay. Target (issue 14): added TTFT at most one D1 wait + 10 ms.",
    "Section 9: POST /api/files with a 10 MiB PDF (typed from its first bytes, the org's quota reserved in D1, streamed into the local R2 bucket), sequential, interleaved round by round with floor D (bench/floor/d: a JS Worker that puts the request's body into R2 as it is, same wrangler and workerd) after a discarded warm-up round; each file is deleted once measured. Target (issue 16): throughput within 2× floor D's.",
    "Numbers from a shared 2-core machine are noisy: read ratios and added times, not absolute figures, and compare runs on the same machine only.",
];

/// How busy the shared machine was: other engineers build on it while the bench runs.
struct Load {
    before: String,
    ticks: Option<(u64, u64)>,
    samples: std::sync::Arc<std::sync::Mutex<Vec<f64>>>,
}

impl Load {
    fn start() -> Load {
        let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = samples.clone();
        tokio::spawn(async move {
            loop {
                if let (Some(l), Ok(mut s)) = (report::load1(), sink.lock()) {
                    s.push(l);
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
        Load {
            before: report::loadavg(),
            ticks: report::cpu_ticks(),
            samples,
        }
    }

    fn during(&self) -> String {
        let s = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        match (
            stats::quantile(&s, 0.0),
            stats::quantile(&s, 0.5),
            stats::quantile(&s, 1.0),
        ) {
            (Some(a), Some(m), Some(b)) => {
                format!("{a:.2} / {m:.2} / {b:.2} ({} samples)", s.len())
            }
            _ => "unknown".into(),
        }
    }

    fn busy(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.ticks.zip(report::cpu_ticks()) {
            Some(((b0, a0), (b1, a1))) if a1 > a0 => format!(
                "{:.0}% of {cores} cores",
                (b1 - b0) as f64 * 100.0 / (a1 - a0) as f64
            ),
            _ => "unknown".into(),
        }
    }
}

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
    let load = Load::start();
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
        run_id: run_id.clone(),
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
        floors: Vec::new(),
        tools_upstream: None,
        anthropic_upstream: None,
        responses_ok: false,
        ingress_missing: Vec::new(),
        extra_env: Vec::new(),
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
    if ["latency", "fidelity", "capacity"]
        .iter()
        .any(|s| b.section(s))
    {
        b.log("starting the floor Workers (bench/floor)");
        b.start_floors().await;
    }
    b.register().await?;
    b.setup_v1().await;
    if let Some(why) = b.v1_missing.clone() {
        b.note(format!("/v1/chat/completions with an API key: {why}"));
    }
    b.setup_ingress().await;
    for why in b.ingress_missing.clone() {
        b.note(why);
    }
    b.convs = b.create_conversations(50, "openai/gpt-4o-mini").await?;
    b.warm(&b.convs.clone()).await?;

    // Capacity last: it is the one that can wedge wrangler dev.
    for name in [
        "latency", "fidelity", "login", "history", "edge", "upload", "search", "capacity",
    ] {
        if !b.section(name) {
            continue;
        }
        let t = Instant::now();
        let result = match name {
            "latency" => b.latency().await,
            "fidelity" => b.fidelity().await,
            "capacity" => b.capacity().await,
            "login" => b.login().await,
            "edge" => b.edge().await,
            "upload" => b.upload().await,
            "search" => b.search().await,
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
        b.floor_startup_rows();
        if let Err(e) = b.restart().await {
            b.note(format!("restart: {e}"));
        }
    }
    b.peer_row();
    b.wrangler_log_note();
    let elapsed = started.elapsed();
    let md = b.write(elapsed, &load)?;
    println!("{md}");
    b.log(&format!("wrote {}", b.opts.out.display()));
    b.stop_floors().await;
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
