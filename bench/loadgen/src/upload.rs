//! Section 9: an upload of a 10 MiB file to POST /api/files (typed from its first bytes, the
//! org's quota reserved in D1, streamed into R2), against floor D (bench/floor/d): a JS Worker
//! that puts the request's body into R2 as it is, under the same wrangler and workerd.

use crate::report::{verdict, Row};
use crate::stats::{ratio, summarize};
use crate::stream;
use crate::{both, Bench, R};

/// The file: a PDF's header, then filler (a PDF is streamed as it comes; text would also be
/// checked for UTF-8 on the way).
const UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Target (issue 16): an upload's throughput within 2× a plain R2 put's.
const MAX_RATIO: f64 = 2.0;

fn file() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.resize(UPLOAD_BYTES, b'0');
    bytes
}

fn mib_per_s(ms: f64) -> String {
    format!(
        "{:.1} MiB/s",
        (UPLOAD_BYTES as f64 / (1024.0 * 1024.0)) / (ms / 1000.0)
    )
}

impl Bench {
    pub(crate) async fn upload(&mut self) -> R<()> {
        self.fresh_token().await?;
        let state_dir = self.opts.work.join(format!("{}-floor-d", self.run_id));
        let (proc, floor, _) = self.spawn_floor_shape("d", &state_dir).await?;
        let result = self.upload_rounds(&floor).await;
        proc.stop().await;
        result
    }

    async fn upload_rounds(&mut self, floor: &str) -> R<()> {
        let body = file();
        let rounds = self.plan.upload_rounds;
        self.log(&format!(
            "upload: {rounds} rounds of a 10 MiB file, chatgate and floor D in turn"
        ));
        let (mut ours, mut plain) = (Vec::new(), Vec::new());
        // Round 0 warms both up and is not counted.
        for i in 0..=rounds {
            let up = stream::timed(
                self.api(reqwest::Method::POST, "/api/files?name=bench.pdf")
                    .bearer_auth(&self.session.token)
                    .header("content-type", "application/pdf")
                    .body(body.clone()),
            )
            .await?;
            if up.1 != 201 {
                return Err(format!("upload: HTTP {}: {}", up.1, up.2));
            }
            let put = stream::timed(
                self.http
                    .post(format!("{floor}/put"))
                    .header("content-type", "application/pdf")
                    .body(body.clone()),
            )
            .await?;
            if put.1 != 201 {
                return Err(format!("floor D: HTTP {}: {}", put.1, put.2));
            }
            // Within the org's quota whatever the rounds: each file goes once measured.
            if let Some(id) = serde_json::from_str::<serde_json::Value>(&up.2)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
            {
                let _ = self
                    .api(reqwest::Method::DELETE, &format!("/api/files/{id}"))
                    .bearer_auth(&self.session.token)
                    .send()
                    .await;
            }
            if i > 0 {
                ours.push(up.0);
                plain.push(put.0);
            }
        }
        let (o, p) = (summarize(&ours), summarize(&plain));
        let (median, p99) = both(o);
        self.rows.push(Row {
            section: "9".into(),
            measurement: "upload of a 10 MiB file (POST /api/files, streamed into R2)".into(),
            setup: "a PDF, sequential, interleaved with floor D".into(),
            n: ours.len().to_string(),
            median,
            p99,
            baseline: p.map_or(String::new(), |p| {
                format!(
                    "floor D (a JS Worker's plain R2 put of the body): {} / {}",
                    crate::stats::ms(p.median),
                    crate::stats::ms(p.p99)
                )
            }),
            ratio: o
                .zip(p)
                .map_or(String::new(), |(o, p)| ratio(o.median, p.median)),
            target: format!("throughput within {MAX_RATIO}× floor D's (time ≤ {MAX_RATIO}×)"),
            verdict: o.zip(p).map_or("✗ no uploads".into(), |(o, p)| {
                verdict(
                    o.median / p.median - MAX_RATIO,
                    |x| format!("{x:.2}×"),
                    "over",
                    "under",
                )
            }),
            notes: o.zip(p).map_or(String::new(), |(o, p)| {
                format!(
                    "throughput {} against floor D's {}",
                    mib_per_s(o.median),
                    mib_per_s(p.median)
                )
            }),
            ..Row::default()
        });
        Ok(())
    }
}
