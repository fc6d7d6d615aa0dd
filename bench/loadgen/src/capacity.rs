//! Section 3: concurrent streams held, with workerd memory and CPU: the chat route, /v1 and
//! the floor Workers, step by step in the same rounds (each target leaves the ladder at
//! its first failed step).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::procs;
use crate::report::{verdict, Row};
use crate::servers::workerd_rss;
use crate::stats::{self, ms, summarize};
use crate::stream::{Live, Sample};
use crate::targets::Target;
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

/// What one step measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepResult {
    t: Target,
    n: usize,
    pass: bool,
    errors: usize,
    /// CPU seconds of the target's own workerd (the one that runs the Worker) per frame sent.
    cpu_per_frame_us: Option<f64>,
    /// RSS of the target's own workerd before the step and at its peak, bytes.
    rss: (u64, u64),
}

impl Bench {
    fn workerd_rss_of(&self, t: Target) -> (u64, u64) {
        self.group_of(t).map_or((0, 0), workerd_rss)
    }

    /// Waits until the server a target runs in answers (starting it again if it stopped).
    async fn ensure_target_healthy(&mut self, t: Target, after: &str) -> R<()> {
        if t.is_floor() {
            self.ensure_floor_healthy(t, after).await
        } else {
            self.ensure_healthy(after).await
        }
    }

    pub(crate) async fn capacity(&mut self) -> R<()> {
        self.fresh_token().await?;
        let (delay, tokens) = (self.plan.cap_delay, self.plan.cap_tokens);
        let steps = self.plan.cap_steps.clone();
        let max = steps.iter().copied().max().unwrap_or(0);
        let model = format!("mock-tokens-{tokens}-delay-{delay}");
        // Each chat stream needs its own conversation, each floor C stream its own Durable
        // Object; they are made (and warmed) step by step, as needed.
        let mut convs: Vec<String> = Vec::new();
        let mut relays: Vec<String> = Vec::new();
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

        let mut ladder = vec![Target::Chat];
        if self.key.is_some() {
            ladder.push(Target::V1);
        }
        ladder.extend(self.floors.iter().map(|f| f.target));
        let mut best: HashMap<Target, usize> = HashMap::new();
        let mut failed_at: HashMap<Target, usize> = HashMap::new();
        let mut below: HashMap<Target, String> = HashMap::new();
        let mut results: Vec<StepResult> = Vec::new();
        // Every step for every target still in (interleaved: the same machine for all), then,
        // for a target that failed the first step, smaller ones (halving) until one passes.
        let mut plan: Vec<(usize, Vec<Target>)> = Vec::new();
        for &n in &steps {
            plan.push((n, Vec::new()));
        }
        let first = steps.first().copied().unwrap_or(0);
        let mut i = 0;
        while i < plan.len() {
            let n = plan[i].0;
            let below_steps = i >= steps.len();
            let round: Vec<Target> = if below_steps {
                plan[i].1.clone()
            } else {
                ladder
                    .iter()
                    .copied()
                    .filter(|t| !failed_at.contains_key(t))
                    .collect()
            };
            i += 1;
            for t in round {
                self.ensure_target_healthy(t, "the previous capacity step")
                    .await?;
                self.fresh_token().await?;
                if t == Target::Chat && convs.len() < n {
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
                if t == Target::FloorC && relays.len() < n {
                    let more: Vec<String> =
                        (relays.len()..n).map(|i| format!("capacity-{i}")).collect();
                    self.warm_target(Target::FloorC, &more).await?;
                    relays.extend(more);
                }
                let step = CapStep {
                    t,
                    n,
                    model: &model,
                    tokens,
                    convs: if t == Target::FloorC { &relays } else { &convs },
                    limit,
                    allowed_gap,
                    setup: &setup,
                    baseline: &direct_gap_p99,
                };
                let r = self.cap_step(step).await;
                results.push(r);
                if below_steps {
                    // Below the steps asked for: the largest that passes.
                    if r.pass {
                        below.insert(t, format!("; below the steps, {n} passed"));
                        best.insert(t, n);
                        plan.iter_mut()
                            .skip(i)
                            .for_each(|p| p.1.retain(|&x| x != t));
                    } else {
                        below.insert(t, format!("; below the steps, {n} failed too"));
                    }
                    continue;
                }
                if r.pass {
                    best.insert(t, n);
                    continue;
                }
                failed_at.insert(t, n);
                // Where the chat route's limit is: the same step past wrangler dev's proxy.
                if t == Target::Chat && self.inner.is_some() {
                    self.ensure_healthy("the failed capacity step").await?;
                    let r = self
                        .cap_step(CapStep {
                            t: Target::ChatInner,
                            ..step
                        })
                        .await;
                    results.push(r);
                }
                if n == first {
                    let mut m = n / 2;
                    let mut k = steps.len();
                    while m >= 10 && k < steps.len() + 3 {
                        if plan.len() <= k {
                            plan.push((m, Vec::new()));
                        }
                        plan[k].1.push(t);
                        m /= 2;
                        k += 1;
                    }
                }
            }
        }
        self.ensure_healthy("the capacity test").await?;
        self.capacity_summary(&ladder, &steps, &best, &failed_at, &below, &results);
        Ok(())
    }

    /// One short reply from each of `names` (floor C's Durable Objects), so they exist and
    /// are warm, as the chat route's conversations are.
    async fn warm_target(&self, t: Target, names: &[String]) -> R<()> {
        for chunk in names.chunks(16) {
            let samples = self
                .batch(
                    t,
                    "mock-tokens-2-delay-0",
                    2,
                    chunk,
                    0,
                    chunk.len(),
                    Duration::from_secs(60),
                    None,
                )
                .await;
            if let Some(e) = samples.iter().find_map(|s| s.error.clone()) {
                return Err(format!("warming {}: {e}", t.name()));
            }
        }
        Ok(())
    }

    /// The rows issue 14's capacity and CPU targets are judged on.
    fn capacity_summary(
        &mut self,
        ladder: &[Target],
        steps: &[usize],
        best: &HashMap<Target, usize>,
        failed_at: &HashMap<Target, usize>,
        below: &HashMap<Target, String>,
        results: &[StepResult],
    ) {
        let floor_b = best.get(&Target::FloorB).copied();
        let have_b = ladder.contains(&Target::FloorB);
        for &t in ladder {
            let held = best.get(&t).copied().unwrap_or(0);
            let mut row = Row {
                section: "3".into(),
                measurement: format!("capacity: most concurrent streams held, {}", t.name()),
                setup: format!("steps {steps:?}, each target stops at its first failure"),
                median: held.to_string(),
                notes: match failed_at.get(&t) {
                    Some(n) => format!("failed at {n}{}", below.get(&t).map_or("", String::as_str)),
                    None => "every step passed".into(),
                },
                ..Row::default()
            };
            if let (Some(b), false) = (floor_b, t.is_floor()) {
                row.floor = format!("B: {:+}", held as i64 - b as i64);
            }
            if matches!(t, Target::Chat | Target::V1) {
                match floor_b.filter(|_| have_b) {
                    Some(b) => {
                        row.target = format!("≥ floor B's {b}, 0 errors");
                        row.verdict = verdict(
                            b as f64 - held as f64,
                            |x| format!("{x:.0} streams"),
                            "short",
                            "over",
                        );
                        if failed_at.get(&Target::FloorB).is_none() && held >= b {
                            row.notes.push_str(
                                "; floor B passed every step: the ladder's top bounds both",
                            );
                        }
                    }
                    None => row.target = "≥ floor B's (floor B n/a)".into(),
                }
            }
            self.rows.push(row);
        }

        // CPU and memory at the first step, where every target ran.
        let Some(&n) = steps.first() else {
            return;
        };
        let at = |t: Target| results.iter().find(|r| r.t == t && r.n == n).copied();
        let b_cpu = at(Target::FloorB).and_then(|r| r.cpu_per_frame_us);
        for &t in ladder {
            let Some(r) = at(t) else {
                continue;
            };
            let Some(cpu) = r.cpu_per_frame_us else {
                continue;
            };
            let mut row = Row {
                section: "3".into(),
                measurement: format!("workerd CPU per relayed frame, {}", t.name()),
                setup: format!(
                    "{n} concurrent streams (the first step); CPU of the workerd that runs the Worker ÷ frames sent"
                ),
                n: n.to_string(),
                median: format!("{cpu:.0} µs"),
                baseline: b_cpu.map_or(String::new(), |b| format!("floor B: {b:.0} µs")),
                ratio: b_cpu.map_or(String::new(), |b| format!("{:.2}×", cpu / b)),
                notes: if r.errors > 0 {
                    format!("{} of {n} streams failed: fewer frames than counted", r.errors)
                } else {
                    String::new()
                },
                ..Row::default()
            };
            if let (Some(b), false) = (b_cpu, t.is_floor()) {
                row.floor = format!("B: {:.2}×", cpu / b);
            }
            if matches!(t, Target::Chat | Target::V1) {
                match b_cpu {
                    Some(b) => {
                        row.target = format!("≤ 0.8× floor B's = {:.0} µs", 0.8 * b);
                        row.verdict =
                            verdict(cpu / b - 0.8, |x| format!("{x:.2}×"), "over", "under");
                    }
                    None => row.target = "≤ 0.8× floor B's (floor B n/a)".into(),
                }
            }
            self.rows.push(row);
        }
        for &t in ladder {
            let Some(r) = at(t) else {
                continue;
            };
            let (before, peak) = r.rss;
            let per_stream = |r: &StepResult| (r.rss.1 as f64 - r.rss.0 as f64) / n as f64;
            let mut row = Row {
                section: "3".into(),
                measurement: format!("workerd memory, {}", t.name()),
                setup: format!(
                    "{n} concurrent streams (the first step); peak RSS of the workerd that runs the Worker"
                ),
                n: n.to_string(),
                median: stats::kib(peak as f64),
                baseline: format!("before the step: {}", stats::kib(before as f64)),
                notes: format!("{} per stream", stats::kib(per_stream(&r))),
                ..Row::default()
            };
            if let Some(fl) = t.floor().and_then(at) {
                row.floor = format!(
                    "{}: {} peak, {} per stream",
                    fl.t.letter(),
                    signed_kib(peak as f64 - fl.rss.1 as f64),
                    signed_kib(per_stream(&r) - per_stream(&fl))
                );
            }
            self.rows.push(row);
        }
    }

    /// Runs one capacity step and adds its row.
    pub(crate) async fn cap_step(&mut self, c: CapStep<'_>) -> StepResult {
        self.log(&format!("capacity: {}, {} streams", c.t.name(), c.n));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let group = self.group_of(c.t);
        let before = self.workerd_rss_of(c.t);
        let peak_rss = Arc::new(std::sync::Mutex::new(before));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak_rss, stop) = (peak_rss.clone(), stop.clone());
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
        let cpu_before = group.map(procs::group_cpu);
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
        let frames = (c.n * c.tokens) as f64;
        let cpu_after = group.map(procs::group_cpu);
        let cpu_per_frame_us = cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b.0 - a.0) * 1e6 / frames);
        let cpu = cpu_before
            .zip(cpu_after)
            .map_or(String::new(), |(a, b)| {
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
        if c.t == Target::ChatInner {
            row.verdict = String::new();
            row.notes = format!(
                "diagnostic: the chat route's failing step again, past wrangler's proxy ({}). {}",
                if pass { "passes" } else { "fails too" },
                row.notes
            );
        }
        self.rows.push(row);
        StepResult {
            t: c.t,
            n: c.n,
            pass,
            errors: s.iter().filter(|s| !s.ok()).count(),
            cpu_per_frame_us,
            rss: (before.0, peak.0),
        }
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
                "✓ passed".into()
            } else {
                "✗ failed".into()
            },
            notes,
            ..Row::default()
        };
        (row, baseline, pass)
    }
}

/// `+1.2 MiB` / `-300 KiB`.
fn signed_kib(bytes: f64) -> String {
    let sign = if bytes < 0.0 { "-" } else { "+" };
    format!("{sign}{}", stats::kib(bytes.abs()))
}
