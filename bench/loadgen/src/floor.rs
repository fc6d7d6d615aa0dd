//! The floor: minimal JS Workers of each shape (bench/floor: A a pass-through, B a relay that
//! re-serialises every frame, C a Worker → SQLite Durable Object relay, E floor B's work
//! read by a JS loop into the runtime's own stream), each served by its
//! own `wrangler dev` (bench/floor/serve.sh: the same wrangler and workerd as chatgate,
//! DevTools proxy off, fresh state) in front of the same mock. The sections send them the same
//! requests in the same rounds as chatgate, and every chatgate row shows its difference to the
//! floor of its shape.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::procs::{self, Proc};
use crate::report::Row;
use crate::targets::Target;
use crate::{Bench, MOCK_KEY, R};

pub(crate) struct Floor {
    pub(crate) target: Target,
    pub(crate) base: String,
    pub(crate) group: Option<i32>,
    pub(crate) proc: Option<Proc>,
    state_dir: PathBuf,
    /// Spawn → first 200 GET /health.
    startup: Duration,
}

const SHAPES: [(Target, &str); 4] = [
    (Target::FloorA, "a"),
    (Target::FloorB, "b"),
    (Target::FloorC, "c"),
    (Target::FloorE, "e"),
];

fn shape(t: Target) -> &'static str {
    SHAPES
        .iter()
        .find(|(s, _)| *s == t)
        .map_or("a", |(_, name)| name)
}

impl Bench {
    /// Starts the floor Workers, one after the other (so none starts on a machine busy
    /// starting another); one that does not start is left out, and said so.
    pub(crate) async fn start_floors(&mut self) {
        for (t, name) in SHAPES {
            let state_dir = self.opts.work.join(format!("{}-floor-{name}", self.run_id));
            match self.spawn_floor(t, &state_dir).await {
                Ok((proc, base, startup)) => {
                    self.log(&format!("{} answers at {base}", t.name()));
                    self.floors.push(Floor {
                        target: t,
                        base,
                        group: proc.group(),
                        proc: Some(proc),
                        state_dir,
                        startup,
                    });
                }
                Err(e) => self.note(format!(
                    "{}: not started, its rows are left out: {e}",
                    t.name()
                )),
            }
        }
    }

    async fn spawn_floor(
        &self,
        t: Target,
        state_dir: &std::path::Path,
    ) -> R<(Proc, String, Duration)> {
        self.spawn_floor_shape(shape(t), state_dir).await
    }

    /// Starts bench/floor/<name> (a–e); floor D, the upload section's, has no `Target`.
    pub(crate) async fn spawn_floor_shape(
        &self,
        name: &str,
        state_dir: &std::path::Path,
    ) -> R<(Proc, String, Duration)> {
        let port = procs::free_port()?;
        let envs = vec![
            ("PORT".into(), port.to_string()),
            ("STATE_DIR".into(), state_dir.to_string_lossy().into()),
            ("UPSTREAM".into(), self.mock.clone()),
            ("UPSTREAM_KEY".into(), MOCK_KEY.into()),
        ];
        let spawned = Instant::now();
        let proc = Proc::spawn(
            &self.opts.root,
            &format!("floor {}", name),
            "bash",
            &[
                self.opts
                    .serve_root
                    .join("bench/floor/serve.sh")
                    .to_string_lossy()
                    .into(),
                name.into(),
            ],
            &envs,
            &self.opts.work.join(format!("floor-{}-{port}.log", name)),
        )?;
        let base = format!("http://127.0.0.1:{port}");
        let url = format!("{base}/health");
        let limit = Duration::from_secs(120);
        let mut ready = None;
        while ready.is_none() && spawned.elapsed() < limit {
            let slice = (spawned.elapsed() + Duration::from_secs(2)).min(limit);
            ready = procs::wait_ok(&self.http, &url, spawned, slice).await;
            // Gone (a bad config, a missing file): no point waiting out the limit.
            if ready.is_none() && !proc.group().is_some_and(procs::group_alive) {
                break;
            }
        }
        match ready {
            Some((startup, _)) => Ok((proc, base, startup)),
            None => {
                let tail = proc.log_tail(6);
                proc.stop().await;
                Err(format!("wrangler dev did not answer /health: {tail}"))
            }
        }
    }

    /// The process group of the server a target runs in (for its CPU and memory).
    pub(crate) fn group_of(&self, t: Target) -> Option<i32> {
        if t.is_floor() {
            self.floors.iter().find(|f| f.target == t)?.group
        } else {
            self.group
        }
    }

    /// Waits for a floor to answer /health again; if it does not within 20 s, starts it again
    /// on the same state and says so (as `ensure_healthy` does for chatgate).
    pub(crate) async fn ensure_floor_healthy(&mut self, t: Target, after: &str) -> R<()> {
        let Some(i) = self.floors.iter().position(|f| f.target == t) else {
            return Ok(());
        };
        let url = format!("{}/health", self.floors[i].base);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.note(format!(
            "{}: wrangler dev stopped answering after {after}; restarted it on the same state",
            t.name()
        ));
        if let Some(p) = self.floors[i].proc.take() {
            p.stop().await;
        }
        let state_dir = self.floors[i].state_dir.clone();
        let (proc, base, _) = self.spawn_floor(t, &state_dir).await?;
        let floor = &mut self.floors[i];
        floor.group = proc.group();
        floor.base = base;
        floor.proc = Some(proc);
        self.restarts += 1;
        Ok(())
    }

    /// Section 6: how long each floor took to start, beside chatgate's start-up.
    pub(crate) fn floor_startup_rows(&mut self) {
        let rows: Vec<Row> = self
            .floors
            .iter()
            .map(|f| Row {
                section: "6".into(),
                measurement: format!("start-up: {}", f.target.name()),
                setup: "spawn bench/floor/serve.sh → first 200 GET /health (fresh state)".into(),
                median: format!("{:.2} s", f.startup.as_secs_f64()),
                notes:
                    "for comparison with chatgate's start-up (which also applies its D1 migrations)"
                        .into(),
                ..Row::default()
            })
            .collect();
        self.rows.extend(rows);
    }

    pub(crate) async fn stop_floors(&mut self) {
        let procs: Vec<Proc> = self
            .floors
            .iter_mut()
            .filter_map(|f| f.proc.take())
            .collect();
        for p in procs {
            let name = p.name.clone();
            p.stop().await;
            self.log(&format!("stopped {name}"));
        }
    }
}
