//! Section 8: the edge, simulated (issue 14, item 4). A second chatgate server on the same
//! build, with `BENCH_STORAGE_DELAY_MS` (src/store/delay.rs): every D1 query, KV operation
//! and Durable Object request waits as if the storage were far away (by default D1's primary
//! 60 ms, KV 5 ms, a Durable Object 15 ms). Its own account, API key and conversations; the
//! chat route and `/v1/chat/completions` interleaved with the mock direct. The rows give the
//! added time to first token that such a user sees, and the storage waits in it, read from
//! the `Server-Timing` phases before the provider (each phase waits for what it reads at
//! once, so a phase of at least half the shortest delay is one sequential wait).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::report::{verdict, Row};
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream::Sample;
use crate::targets::Target;
use crate::{both, errors_note, values, Bench, Session, R};

/// The simulated distances: `d1=60,kv=5,do=15` unless `BENCH_EDGE_DELAYS` says otherwise.
fn delays() -> String {
    std::env::var("BENCH_EDGE_DELAYS").unwrap_or_else(|_| "d1=60,kv=5,do=15".into())
}

fn delay_of(delays: &str, name: &str) -> Option<f64> {
    delays.split(',').find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        (n.trim() == name).then(|| v.trim().parse().ok())?
    })
}

/// What the main server's fields hold while the edge server stands in for it.
struct Saved {
    base: String,
    inner: Option<String>,
    group: Option<i32>,
    server: Option<crate::procs::Proc>,
    state_dir: PathBuf,
    session: Session,
    key: Option<String>,
    convs: Vec<String>,
    email: String,
    v1_missing: Option<String>,
    extra_env: Vec<(String, String)>,
}

impl Bench {
    fn swap_out(&mut self, state_dir: PathBuf, extra_env: Vec<(String, String)>) -> Saved {
        let email = format!("edge-{}", self.email);
        Saved {
            base: std::mem::take(&mut self.base),
            inner: self.inner.take(),
            group: self.group.take(),
            server: self.server.take(),
            state_dir: std::mem::replace(&mut self.state_dir, state_dir),
            session: std::mem::replace(
                &mut self.session,
                Session {
                    token: String::new(),
                    refresh: String::new(),
                    at: std::time::Instant::now(),
                },
            ),
            key: self.key.take(),
            convs: std::mem::take(&mut self.convs),
            email: std::mem::replace(&mut self.email, email),
            v1_missing: self.v1_missing.take(),
            extra_env: std::mem::replace(&mut self.extra_env, extra_env),
        }
    }

    async fn swap_back(&mut self, saved: Saved) {
        if let Some(p) = self.server.take() {
            p.stop().await;
        }
        self.base = saved.base;
        self.inner = saved.inner;
        self.group = saved.group;
        self.server = saved.server;
        self.state_dir = saved.state_dir;
        self.session = saved.session;
        self.key = saved.key;
        self.convs = saved.convs;
        self.email = saved.email;
        self.v1_missing = saved.v1_missing;
        self.extra_env = saved.extra_env;
    }

    pub(crate) async fn edge(&mut self) -> R<()> {
        let delays = delays();
        let state_dir = self.opts.work.join(format!("{}-edge", self.run_id));
        std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
        let extra = vec![
            ("BENCH_STORAGE_DELAY_MS".to_string(), delays.clone()),
            // The delay is refused anywhere but on a development server.
            ("DEV_MAILBOX".to_string(), "on".to_string()),
        ];
        let saved = self.swap_out(state_dir, extra);
        let measured = self.edge_measure(&delays).await;
        self.swap_back(saved).await;
        let (samples, rounds) = measured?;
        self.edge_rows(&delays, &samples, rounds);
        Ok(())
    }

    async fn edge_measure(&mut self, delays: &str) -> R<(HashMap<Target, Vec<Sample>>, usize)> {
        self.log(&format!(
            "edge: starting a second server with storage delayed {delays}"
        ));
        let port = crate::procs::free_port()?;
        self.start_server(port).await?;
        self.register().await?;
        self.setup_v1().await;
        if let Some(why) = &self.v1_missing {
            return Err(format!("edge: /v1 with an API key: {why}"));
        }
        self.convs = self.create_conversations(8, "openai/gpt-4o-mini").await?;
        self.warm(&self.convs.clone()).await?;
        let tokens = self.plan.lat_tokens;
        let model = format!("mock-tokens-{tokens}-delay-0");
        let rounds = self.plan.lat_rounds_c1;
        let limit = Duration::from_secs(60);
        let targets = [Target::Direct, Target::Chat, Target::V1];
        for &t in &targets {
            for w in 0..3 {
                self.batch(t, &model, tokens, &self.convs, w, 1, limit, None)
                    .await;
            }
        }
        let mut samples: HashMap<Target, Vec<Sample>> = HashMap::new();
        for round in 0..rounds {
            for &t in &targets {
                let s = self
                    .batch(t, &model, tokens, &self.convs, round, 1, limit, None)
                    .await;
                samples.entry(t).or_default().extend(s);
            }
        }
        Ok((samples, rounds))
    }

    fn edge_rows(&mut self, delays: &str, samples: &HashMap<Target, Vec<Sample>>, rounds: usize) {
        let empty = Vec::new();
        let get = |t: Target| samples.get(&t).unwrap_or(&empty);
        let ttft = |t: Target| summarize(&values(get(t), |s| s.ttft_ms));
        let d1 = delay_of(delays, "d1").unwrap_or(0.0);
        let shortest = ["d1", "kv", "do"]
            .iter()
            .filter_map(|n| delay_of(delays, n))
            .filter(|&d| d > 0.0)
            .fold(f64::INFINITY, f64::min);
        let base = ttft(Target::Direct);
        for (t, provider_phase) in [(Target::V1, "upstream"), (Target::Chat, "reply")] {
            let s = get(t);
            let x = ttft(t);
            let (median, p99) = both(x);
            let (phases, waits) = waits_before(s, provider_phase, shortest / 2.0);
            let limit = d1 + 10.0;
            let mut row = Row {
                section: "8".into(),
                measurement: format!("edge (simulated): TTFT, {}", t.name()),
                setup: format!(
                    "storage delayed {delays} (BENCH_STORAGE_DELAY_MS); {} tok @ 0 ms/tok, concurrency 1, {rounds} rounds",
                    self.plan.lat_tokens
                ),
                n: s.len().to_string(),
                median,
                p99,
                baseline: base.map_or(String::new(), |b| {
                    format!("mock direct: {} / {}", ms(b.median), ms(b.p99))
                }),
                target: format!("added ≤ one D1 wait + 10 ms = {}", ms_signed(limit)),
                notes: format!(
                    "sequential storage waits before the provider (Server-Timing phases of ≥ {}): {waits}; phases, median: {phases}{}{}",
                    ms(shortest / 2.0),
                    if t == Target::Chat {
                        " (`reply` holds the conversation's Durable Object, the budget reservation it makes when the org has a budget, and the provider's first token)"
                    } else {
                        ""
                    },
                    match errors_note(s) {
                        e if e.is_empty() => String::new(),
                        e => format!("; {e}"),
                    }
                ),
                ..Row::default()
            };
            if let (Some(x), Some(b)) = (x, base) {
                let added = x.median - b.median;
                row.ratio = ratio(x.median, b.median);
                row.added = format!("{} / {}", ms_signed(added), ms_signed(x.p99 - b.p99));
                row.verdict = verdict(added - limit, ms, "over", "under");
            }
            self.rows.push(row);
        }
    }
}

/// The median of each `Server-Timing` phase before `last` (`auth 0 → admit 61 ms`), and
/// how many of them are sequential waits (median ≥ `wait`).
fn waits_before(samples: &[Sample], last: &str, wait: f64) -> (String, usize) {
    let mut order: Vec<String> = Vec::new();
    let mut by_phase: HashMap<String, Vec<f64>> = HashMap::new();
    for s in samples.iter().filter(|s| s.ok()) {
        for (name, d) in s.phases.iter().take_while(|(n, _)| n != last) {
            if !order.contains(name) {
                order.push(name.clone());
            }
            by_phase.entry(name.clone()).or_default().push(*d);
        }
    }
    let medians: Vec<(String, f64)> = order
        .iter()
        .filter_map(|n| Some((n.clone(), summarize(by_phase.get(n)?)?.median)))
        .collect();
    let waits = medians.iter().filter(|(_, m)| *m >= wait).count();
    let text = medians
        .iter()
        .map(|(n, m)| format!("{n} {m:.0}"))
        .collect::<Vec<_>>()
        .join(" → ");
    (format!("{text} ms (then {last})"), waits)
}
