//! Section 1: added latency (TTFB, time to first token, whole stream) against the mock direct.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use serde_json::Value;

use crate::api::Target;
use crate::report::Row;
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream::Sample;
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

    /// The Worker's own log line per request (`duration_ms`, from the request's start to the
    /// response it returned), by route, from `from` bytes into the server's log.
    pub(crate) fn worker_durations(&self, from: u64) -> HashMap<String, Vec<f64>> {
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
    pub(crate) fn handler_rows(
        &mut self,
        setup: &str,
        samples: &HashMap<Target, Vec<Sample>>,
        from: u64,
    ) {
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
}
