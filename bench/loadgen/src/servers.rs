//! The servers under test: the mock, chatgate under `wrangler dev`, LiteLLM; starting them,
//! finding their processes, starting chatgate again when it stops answering.

use std::fs;
use std::time::{Duration, Instant};

use crate::procs::{self, Proc};
use crate::report::Row;
use crate::stats::{self};
use crate::{Bench, R};
use crate::{ENCRYPTION_KEY_B64, JWT_SECRET, LITELLM_KEY, MOCK_KEY};

/// Resident memory of the server's workerd processes: (the Worker's own, wrangler's proxy).
pub(crate) fn workerd_rss(group: i32) -> (u64, u64) {
    let mut inner = 0;
    let mut proxy = 0;
    for w in procs::workerds(group) {
        let r = procs::rss(w.pid).unwrap_or(0);
        if w.proxy {
            proxy += r;
        } else {
            inner += r;
        }
    }
    (inner, proxy)
}

impl Bench {
    pub(crate) async fn start_mock(&mut self) -> R<()> {
        let port = procs::free_port()?;
        let proc = Proc::spawn(
            &self.opts.root,
            "mock",
            &self.opts.mock_bin.to_string_lossy(),
            &["--port".into(), port.to_string()],
            &[],
            &self.opts.work.join("mock.log"),
        )?;
        self.mock = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                self.mock_proc = Some(proc);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("the mock did not start: {}", proc.log_tail(5)))
    }

    /// Starts scripts/serve.sh; returns (spawn → first 200 /health, that request's latency).
    pub(crate) async fn start_server(&mut self, port: u16) -> R<(Duration, Duration)> {
        let vars = self.opts.work.join("bench.vars");
        fs::write(
            &vars,
            format!("JWT_SECRET={JWT_SECRET}\nENCRYPTION_KEYS=1:{ENCRYPTION_KEY_B64}\n"),
        )
        .map_err(|e| e.to_string())?;
        let big = "1000000".to_string();
        let envs = vec![
            ("PORT".into(), port.to_string()),
            ("STATE_DIR".into(), self.state_dir.to_string_lossy().into()),
            ("VARS_FILE".into(), vars.to_string_lossy().into()),
            ("OPENAI_BASE_URL".into(), format!("{}/v1", self.mock)),
            ("ANTHROPIC_BASE_URL".into(), self.mock.clone()),
            ("GEMINI_BASE_URL".into(), self.mock.clone()),
            ("OPENAI_API_KEY".into(), MOCK_KEY.into()),
            ("ANTHROPIC_API_KEY".into(), MOCK_KEY.into()),
            ("GEMINI_API_KEY".into(), MOCK_KEY.into()),
            ("DEMO_TOKEN_DELAY_MS".into(), "0".into()),
            // wrangler's DevTools proxy relays every streamed chunk to node: on, it and not
            // the Worker is what runs out first (a bench of chatgate, not of DevTools).
            ("DEVTOOLS".into(), "off".into()),
            // The bench sends far more than a person would: lift the throttles.
            ("LOGIN_FAILURES_PER_ACCOUNT".into(), big.clone()),
            ("LOGIN_FAILURES_PER_ADDRESS".into(), big.clone()),
            ("REGISTRATIONS_PER_ADDRESS_PER_HOUR".into(), big.clone()),
            ("API_KEY_RATE_LIMIT_RPM".into(), big.clone()),
            ("USER_RATE_LIMIT_RPM".into(), big),
        ];
        let envs: Vec<(String, String)> = envs
            .into_iter()
            .chain(self.extra_env.iter().cloned())
            .collect();
        let spawned = Instant::now();
        let proc = Proc::spawn(
            &self.opts.root,
            "wrangler dev",
            "bash",
            &[self
                .opts
                .serve_root
                .join("scripts/serve.sh")
                .to_string_lossy()
                .into()],
            &envs,
            &self.opts.work.join(format!("wrangler-{port}.log")),
        )?;
        let base = format!("http://127.0.0.1:{port}");
        let ready = procs::wait_ok(
            &self.http,
            &format!("{base}/health"),
            spawned,
            Duration::from_secs(180),
        )
        .await;
        let Some(ready) = ready else {
            let tail = proc.log_tail(8);
            proc.stop().await;
            return Err(format!("wrangler dev did not become healthy: {tail}"));
        };
        self.base = base;
        self.group = proc.group();
        self.server = Some(proc);
        self.inner = self.find_inner().await;
        Ok(ready)
    }

    /// The address of the workerd that runs the Worker itself (wrangler dev puts a proxy,
    /// another workerd, in front of it).
    pub(crate) async fn find_inner(&self) -> Option<String> {
        let group = self.group?;
        for w in procs::workerds(group).into_iter().filter(|w| !w.proxy) {
            for port in procs::listening_ports(w.pid) {
                let url = format!("http://127.0.0.1:{port}/health");
                let ok = self
                    .http
                    .get(&url)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200);
                if let Some(r) = ok {
                    if r.text().await.unwrap_or_default().contains("\"status\"") {
                        return Some(format!("http://127.0.0.1:{port}"));
                    }
                }
            }
        }
        None
    }

    pub(crate) async fn start_litellm(&mut self) {
        let Some(bin) = self.opts.litellm.clone() else {
            self.litellm_note = format!("n/a: {}", self.opts.litellm_note);
            return;
        };
        let python = bin.with_file_name("python");
        self.litellm_version = std::process::Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let config = self.opts.work.join("litellm.yaml");
        let yaml = format!(
            "model_list:\n  - model_name: \"openai/*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: \"{}/v1\"\n      api_key: \"{MOCK_KEY}\"\nlitellm_settings:\n  drop_params: true\ngeneral_settings:\n  master_key: \"{LITELLM_KEY}\"\n",
            self.mock
        );
        if let Err(e) = fs::write(&config, yaml) {
            self.litellm_note = format!("n/a: cannot write its config: {e}");
            return;
        }
        let port = match procs::free_port() {
            Ok(p) => p,
            Err(e) => {
                self.litellm_note = format!("n/a: {e}");
                return;
            }
        };
        let spawned = Instant::now();
        let proc = Proc::spawn(
            &self.opts.root,
            "litellm",
            &bin.to_string_lossy(),
            &[
                "--config".into(),
                config.to_string_lossy().into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--num_workers".into(),
                "1".into(),
            ],
            &[
                // Offline: use the model cost map shipped in the package, fetch nothing.
                ("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into()),
                ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
            ],
            &self.opts.work.join("litellm.log"),
        );
        let proc = match proc {
            Ok(p) => p,
            Err(e) => {
                self.litellm_note = format!("n/a: {e}");
                return;
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        let ready = procs::wait_ok(
            &self.http,
            &format!("{base}/health/liveliness"),
            spawned,
            Duration::from_secs(180),
        )
        .await;
        match ready {
            Some((t, _)) => {
                self.litellm_startup = Some(t);
                self.litellm = Some(base);
                self.litellm_proc = Some(proc);
                self.litellm_note = format!(
                    "LiteLLM {} started in {:.1} s (1 uvicorn worker, wildcard `openai/*` → mock)",
                    self.litellm_version,
                    t.as_secs_f64()
                );
            }
            None => {
                self.litellm_note = format!(
                    "n/a: LiteLLM {} did not answer /health/liveliness within 180 s: {}",
                    self.litellm_version,
                    proc.log_tail(4)
                );
                proc.stop().await;
            }
        }
    }

    /// Waits for the server to answer /health again; if it does not within 20 s (wrangler
    /// dev can wedge under load), starts it again on the same state and says so.
    pub(crate) async fn ensure_healthy(&mut self, after: &str) -> R<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = self
                .http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let fds: Vec<String> = self
            .group
            .map(procs::workerds)
            .unwrap_or_default()
            .iter()
            .map(|w| {
                format!(
                    "{} workerd {} open files",
                    if w.proxy {
                        "wrangler's proxy"
                    } else {
                        "the Worker's"
                    },
                    procs::open_files(w.pid)
                )
            })
            .collect();
        self.note(format!(
            "wrangler dev stopped answering after {after} ({}); restarted it on the same state",
            fds.join(", ")
        ));
        if let Some(p) = self.server.take() {
            p.stop().await;
        }
        let port = procs::free_port()?;
        self.start_server(port).await?;
        self.restarts += 1;
        Ok(())
    }

    pub(crate) fn server_log_len(&self) -> u64 {
        self.server
            .as_ref()
            .and_then(|p| fs::metadata(&p.log).ok())
            .map_or(0, |m| m.len())
    }

    /// What wrangler dev wrote to its debug log (WRANGLER_LOG_PATH, under STATE_DIR/logs):
    /// every DevTools `Network.*` event of the Worker's fetches goes through it.
    pub(crate) fn wrangler_log_note(&mut self) {
        use std::io::BufRead;
        let mut bytes = 0u64;
        let mut events = 0u64;
        let mut data = 0u64;
        let logs = fs::read_dir(self.state_dir.join("logs"));
        for entry in logs.into_iter().flatten().flatten() {
            bytes += entry.metadata().map_or(0, |m| m.len());
            let Ok(f) = fs::File::open(entry.path()) else {
                continue;
            };
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                if line.contains("RUNTIME INCOMING MESSAGE") {
                    events += 1;
                }
                if line.contains("'Network.dataReceived'") {
                    data += 1;
                }
            }
        }
        self.note(format!(
            "wrangler dev's debug log (STATE_DIR/logs) grew to {} over the run: {events} DevTools events relayed by wrangler's inspector proxy, {data} of them `Network.dataReceived` (one per chunk of each fetch the Worker makes)",
            stats::kib(bytes as f64)
        ));
    }

    pub(crate) fn peer_row(&mut self) {
        self.rows.push(Row {
            section: "7".into(),
            measurement: "peer: LiteLLM proxy in front of the same mock".into(),
            setup: "`pip install 'litellm[proxy]'` into bench/.venv; same /v1/chat/completions requests".into(),
            notes: format!("{}; its rows are in sections 1 and 2", self.litellm_note),
            ..Row::default()
        });
    }
}
