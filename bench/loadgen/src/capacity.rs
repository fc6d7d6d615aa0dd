//! Section 3: concurrent streams held, with workerd memory and CPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Target;
use crate::procs;
use crate::report::Row;
use crate::servers::workerd_rss;
use crate::stats::{self, ms, summarize};
use crate::stream::{Live, Sample};
use crate::{both, errors_note, values, Bench, R};

/// One step of the capacity test.
#[derive(Clone, Copy)]
pub(crate) struct CapStep<'a> {
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

impl Bench {
    pub(crate) fn workerd_rss(&self) -> (u64, u64) {
        self.group.map_or((0, 0), workerd_rss)
    }

    pub(crate) async fn capacity(&mut self) -> R<()> {
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

    /// Runs one capacity step, adds its row; whether it passed.
    pub(crate) async fn cap_step(&mut self, c: CapStep<'_>) -> bool {
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
    pub(crate) fn capacity_row(
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
}
