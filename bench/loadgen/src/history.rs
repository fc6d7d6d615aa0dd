//! Section 5: the newest page of a 10,000-message conversation, and a send in it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::procs;
use crate::report::{verdict, Row};
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream::{self, Wire};
use crate::{both, Bench, R};

impl Bench {
    /// One chat send read to the end; its whole time in ms.
    pub(crate) async fn send_once(&self, conv: &str, i: usize) -> R<f64> {
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

    pub(crate) async fn history(&mut self) -> R<()> {
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
            .arg((total / 10).to_string())
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
                "GET /api/conversations/{{id}}/messages?limit=100 in a conversation of {total} messages, a tree with {} branches (edits left behind)",
                total / 10
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
            verdict: pg.map_or("✗ no pages".into(), |p| {
                verdict(p.median - 20.0, ms, "over", "under")
            }),
            notes: format!(
                "{items} items ({bytes} B), newest seq {seq}; first page after the restart (cold Durable Object) {}; GET /api (no storage) {}",
                ms(cold.0),
                fl.map_or("—".into(), |f| format!("{} / {}", ms(f.median), ms(f.p99)))
            ),
            ..Row::default()
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
}
