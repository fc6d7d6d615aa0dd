//! Section 2: relay fidelity, whole-stream time and frame gaps of a long stream.

use std::collections::HashMap;
use std::time::Duration;

use crate::report::{verdict, Row};
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream::{self, Sample};
use crate::targets::Target;
use crate::{both, errors_note, values, Bench, R};

impl Bench {
    pub(crate) async fn fidelity(&mut self) -> R<()> {
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
        // The text rows only: a tool-call stream has at most 16 calls of 5 pieces.
        let targets: Vec<Target> = self
            .targets()
            .into_iter()
            .filter(|t| {
                matches!(
                    t,
                    Target::Direct
                        | Target::Chat
                        | Target::ChatInner
                        | Target::V1
                        | Target::LiteLlm
                        | Target::FloorA
                        | Target::FloorB
                        | Target::FloorC
                        | Target::FloorE
                )
            })
            .collect();
        let limit = Duration::from_millis(tokens as u64 * delay * 3 + 60_000);
        let mut samples: HashMap<Target, Vec<Sample>> = HashMap::new();
        for round in 0..rounds {
            // One stream per target at the same moment: they share the machine's state.
            let mut tasks = Vec::new();
            for &t in &targets {
                // Floor C's Durable Object takes the chat stream's name: a separate server.
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
        let gaps_of = |t: Target| -> Vec<f64> {
            get(t)
                .iter()
                .filter(|s| s.ok())
                .flat_map(|s| s.gaps_ms.clone())
                .collect()
        };
        // Measured − direct, (median, p99): of the whole stream, and of the frame gaps.
        let added = |t: Target| {
            summarize(&values(get(t), |s| Some(s.total_ms)))
                .zip(base)
                .map(|(x, b)| (x.median - b.median, x.p99 - b.p99))
        };
        let added_gap = |t: Target| {
            summarize(&gaps_of(t))
                .zip(base_gap)
                .map(|(x, b)| (x.median - b.median, x.p99 - b.p99))
        };
        let vs_floor = |t: Target, f: &dyn Fn(Target) -> Option<(f64, f64)>| {
            let fl = t.floor()?;
            let (a, fa) = (f(t)?, f(fl)?);
            Some(format!(
                "{}: {} / {}",
                fl.letter(),
                ms_signed(a.0 - fa.0),
                ms_signed(a.1 - fa.1)
            ))
        };
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
                floor: vs_floor(t, &added).unwrap_or_default(),
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
                    row.verdict = verdict(r - 1.02, |x| format!("{x:.4}×"), "over", "under");
                }
                row.notes = format!("p99 ratio {:.4}×. {}", x.p99 / b.p99, row.notes);
            }
            rows.push(row);
            let gaps = gaps_of(t);
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
                floor: vs_floor(t, &added_gap).unwrap_or_default(),
                notes: format!("max gap {} (direct {})", ms(max), ms(base_max)),
                ..Row::default()
            });
        }
        self.rows.extend(rows);
        Ok(())
    }
}
