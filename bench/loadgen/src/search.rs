//! Section "search": `GET /api/search` for an account of 1,000 conversations and 100,000
//! messages (issue 16: median ≤ 50 ms), seeded straight into D1 (bench/seed_search.py).

use serde_json::Value;

use crate::procs;
use crate::report::{verdict, Row};
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream;
use crate::{both, Bench, R};

/// What is searched: a word in almost every message, a rare one, and two words the last of
/// which is typed so far (a prefix).
const QUERIES: [(&str, &str); 3] = [
    ("a word in almost every message", "w1"),
    ("a word in 0.3 % of the messages", "w4321"),
    ("two words, the last a 3-letter prefix", "w2 w12"),
];

impl Bench {
    pub(crate) async fn search(&mut self) -> R<()> {
        self.fresh_token().await?;
        let (conversations, per) = (
            self.plan.search_conversations,
            self.plan.search_messages_per,
        );
        let me: Value = self
            .api(reqwest::Method::GET, "/api/me")
            .bearer_auth(&self.session.token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let user = me["id"].as_str().ok_or("no user id")?.to_string();
        let org = me["orgs"][0]["id"].as_str().ok_or("no org")?.to_string();
        self.log(&format!(
            "search: stopping wrangler dev, seeding {conversations} conversations of {per} messages into D1"
        ));
        if let Some(p) = self.server.take() {
            p.stop().await;
        }
        let seeded = std::process::Command::new("python3")
            .arg(self.opts.root.join("bench/seed_search.py"))
            .arg(&self.state_dir)
            .arg(&user)
            .arg(&org)
            .arg(conversations.to_string())
            .arg(per.to_string())
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        let seed_note = String::from_utf8_lossy(&seeded.stdout).trim().to_string();
        let seed_err = String::from_utf8_lossy(&seeded.stderr).trim().to_string();
        self.log("search: restarting wrangler dev on the same state");
        let port = procs::free_port()?;
        self.start_server(port).await?;
        if !seeded.status.success() {
            return Err(format!("seeding the search index failed: {seed_err}"));
        }
        self.fresh_token().await?;
        for (what, q) in QUERIES {
            let path = format!("/api/search?q={}&limit=20", q.replace(' ', "+"));
            let mut times = Vec::new();
            let mut health = Vec::new();
            let mut found = 0;
            for i in 0..=self.plan.search_rounds {
                let h = stream::timed(self.api(reqwest::Method::GET, "/health")).await?;
                let s = stream::timed(
                    self.api(reqwest::Method::GET, &path)
                        .bearer_auth(&self.session.token),
                )
                .await?;
                if s.1 != 200 {
                    return Err(format!("search {q}: HTTP {}: {}", s.1, s.2));
                }
                if i == 0 {
                    let v: Value = serde_json::from_str(&s.2).map_err(|e| e.to_string())?;
                    found = v["items"].as_array().map_or(0, Vec::len);
                    continue;
                }
                times.push(s.0);
                health.push(h.0);
            }
            let (st, hs) = (summarize(&times), summarize(&health));
            let (median, p99) = both(st);
            self.rows.push(Row {
                section: "search".into(),
                measurement: format!("search: {what}"),
                setup: format!(
                    "GET /api/search?q={q}&limit=20, an account of {conversations} conversations and {} messages",
                    conversations * per
                ),
                n: times.len().to_string(),
                median,
                p99,
                baseline: hs.map_or(String::new(), |h| {
                    format!("GET /health: {} / {}", ms(h.median), ms(h.p99))
                }),
                ratio: st
                    .zip(hs)
                    .map_or(String::new(), |(s, h)| ratio(s.median, h.median)),
                added: st.zip(hs).map_or(String::new(), |(s, h)| {
                    format!("{} / {}", ms_signed(s.median - h.median), ms_signed(s.p99 - h.p99))
                }),
                target: "median ≤ 50 ms".into(),
                verdict: st.map_or("✗ no answers".into(), |s| {
                    verdict(s.median - 50.0, ms, "over", "under")
                }),
                notes: format!("{found} items on the page; seeded by bench/seed_search.py: {seed_note}"),
                ..Row::default()
            });
        }
        Ok(())
    }
}
