//! Section 6: the Worker's size, start-up and restart.

use std::fs;
use std::time::Duration;

use crate::procs;
use crate::report::{verdict, Row};
use crate::stats::{self, ms};
use crate::stream::{self, Wire};
use crate::targets::Target;
use crate::{Bench, R};

impl Bench {
    pub(crate) fn size(&mut self) -> R<()> {
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
            verdict: verdict(gz as f64 - 1024.0 * 1024.0, stats::kib, "over", "under"),
            notes: format!(
                "raw {} ({raw} B), gzip {gz} B; build/index.js {}",
                stats::kib(raw as f64),
                stats::kib(js as f64)
            ),
            ..Row::default()
        });
        Ok(())
    }

    pub(crate) fn startup_row(&mut self) {
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
    pub(crate) async fn restart(&mut self) -> R<()> {
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
}
