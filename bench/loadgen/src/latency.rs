//! Section 1: added latency (TTFB, time to first token, whole stream) against the mock direct.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use serde_json::Value;

use crate::report::verdict;
use crate::report::Row;
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream::Sample;
use crate::targets::Target;
use crate::{both, errors_note, values, Bench, Metric, R};

impl Bench {
    pub(crate) async fn latency(&mut self) -> R<()> {
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

    pub(crate) fn latency_rows(
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
        for (metric, f) in metrics {
            let sum = |t: Target| summarize(&values(get(t), f));
            // Measured − the target's own baseline: (median, p99).
            let added = |t: Target| {
                sum(t)
                    .zip(sum(t.baseline()))
                    .map(|(x, b)| (x.median - b.median, x.p99 - b.p99))
            };
            let peer = added(Target::LiteLlm).map(|a| a.0);
            let v1 = added(Target::V1).map(|a| a.0);
            for &t in targets.iter().filter(|t| !t.is_baseline()) {
                let s = get(t);
                let x = sum(t);
                let b = sum(t.baseline());
                let (median, p99) = both(x);
                let mut row = Row {
                    section: "1".into(),
                    measurement: format!("{metric}: {}", t.name()),
                    setup: setup.into(),
                    n: s.len().to_string(),
                    median,
                    p99,
                    baseline: b.map_or(String::new(), |b| {
                        format!("{}: {} / {}", t.baseline().name(), ms(b.median), ms(b.p99))
                    }),
                    notes: errors_note(s),
                    ..Row::default()
                };
                if let (Some(x), Some(b)) = (x, b) {
                    row.ratio = ratio(x.median, b.median);
                    row.added = format!(
                        "{} / {}",
                        ms_signed(x.median - b.median),
                        ms_signed(x.p99 - b.p99)
                    );
                }
                let floor = t.floor().and_then(|fl| Some((fl, added(fl)?)));
                if let (Some(a), Some((fl, fa))) = (added(t), floor) {
                    row.floor = format!(
                        "{}: {} / {}",
                        fl.letter(),
                        ms_signed(a.0 - fa.0),
                        ms_signed(a.1 - fa.1)
                    );
                }
                if metric == "TTFT" && conc == 1 {
                    if let Some(a) = added(t) {
                        judge_ttft(&mut row, t, a.0, floor.map(|(fl, fa)| (fl, fa.0)), peer, v1);
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

    /// The Worker's own log line per request (`duration_ms`, from the request's start to the
    /// response it returned), by request id, from `from` bytes into the server's log.
    pub(crate) fn worker_durations(&self, from: u64) -> HashMap<String, f64> {
        use std::io::{BufRead, Seek};
        let mut out = HashMap::new();
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
            if let (Some(id), Some(d)) = (
                v.get("request_id").and_then(Value::as_str),
                v.get("duration_ms").and_then(Value::as_f64),
            ) {
                out.insert(id.to_string(), d);
            }
        }
        out
    }

    /// How much of the TTFB the Worker's handler accounts for, at concurrency 1, and where
    /// its time goes (the `Server-Timing` phases).
    pub(crate) fn handler_rows(
        &mut self,
        setup: &str,
        samples: &HashMap<Target, Vec<Sample>>,
        from: u64,
    ) {
        let durations = self.worker_durations(from);
        for t in [
            Target::Chat,
            Target::V1,
            Target::V1Tools,
            Target::Messages,
            Target::Responses,
        ] {
            let Some(s) = samples.get(&t) else {
                continue;
            };
            let d: Vec<f64> = s
                .iter()
                .filter(|s| s.ok())
                .filter_map(|s| durations.get(s.request_id.as_deref()?).copied())
                .collect();
            let (h, c) = (summarize(&d), summarize(&values(s, |s| Some(s.ttfb_ms))));
            let (median, p99) = both(h);
            let mut notes = h.zip(c).map_or(String::new(), |(h, c)| {
                format!(
                    "{} of the median TTFB is spent outside the handler (wrangler's proxy, the runtime, sockets)",
                    ms(c.median - h.median)
                )
            });
            let phases = phase_medians(s);
            if !phases.is_empty() {
                notes.push_str(&format!("; Server-Timing phases, median: {phases}"));
            }
            self.rows.push(Row {
                section: "1".into(),
                measurement: format!("in-Worker handler time: {}", t.name()),
                setup: format!(
                    "{setup}; its log line's duration_ms: request start → the handler returns its response"
                ),
                n: d.len().to_string(),
                median,
                p99,
                baseline: c.map_or(String::new(), |c| {
                    format!("client TTFB: {} / {}", ms(c.median), ms(c.p99))
                }),
                ratio: h
                    .zip(c)
                    .map_or(String::new(), |(h, c)| ratio(h.median, c.median)),
                notes: format!("diagnostic: {notes}"),
                ..Row::default()
            });
        }
    }
}

/// `auth 4 → rate-limit 3 → …` (ms, the median of each phase over the successful requests,
/// in the order the Worker reported them).
fn phase_medians(samples: &[Sample]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut by_phase: HashMap<String, Vec<f64>> = HashMap::new();
    for s in samples.iter().filter(|s| s.ok()) {
        for (name, d) in &s.phases {
            if !order.contains(name) {
                order.push(name.clone());
            }
            by_phase.entry(name.clone()).or_default().push(*d);
        }
    }
    order
        .iter()
        .filter_map(|name| {
            let m = summarize(by_phase.get(name)?)?.median;
            Some(format!("{name} {m:.0}"))
        })
        .collect::<Vec<_>>()
        .join(" → ")
        + if order.is_empty() { "" } else { " ms" }
}

/// The time-to-first-token targets, judged on the median added time at concurrency 1:
/// issue 14's (the chat route and /v1 within 2 ms of the floor of their shape, and below
/// LiteLLM) and issue 17's (every other ingress within 1 ms of /v1/chat/completions).
fn judge_ttft(
    row: &mut Row,
    t: Target,
    added: f64,
    floor: Option<(Target, f64)>,
    peer: Option<f64>,
    v1: Option<f64>,
) {
    match t {
        Target::Chat | Target::V1 => {
            let Some((fl, fa)) = floor else {
                row.target = "within 2 ms of its floor (floor n/a)".into();
                return;
            };
            let limit = fa + 2.0;
            let mut excess = added - limit;
            row.target = format!(
                "added ≤ floor {}'s {} + 2 ms = {}",
                fl.letter(),
                ms_signed(fa),
                ms_signed(limit)
            );
            match peer {
                Some(peer) => {
                    excess = excess.max(added - peer);
                    row.target
                        .push_str(&format!(", and < LiteLLM's {}", ms_signed(peer)));
                }
                None => row.target.push_str(", and < LiteLLM's (n/a)"),
            }
            row.verdict = verdict(excess, ms, "over", "under");
        }
        Target::V1Tools | Target::Messages | Target::Responses => match v1 {
            Some(v1) => {
                row.target = format!(
                    "added ≤ /v1/chat/completions' {} + 1 ms = {}",
                    ms_signed(v1),
                    ms_signed(v1 + 1.0)
                );
                row.verdict = verdict(added - (v1 + 1.0), ms, "over", "under");
            }
            None => row.target = "within 1 ms of /v1/chat/completions (n/a)".into(),
        },
        _ => {}
    }
}
