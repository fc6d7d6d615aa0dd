//! The API as the bench uses it: the account, conversations, the API key, and the request
//! each target gets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::stream::{self, Live, Sample, Wire};
use crate::targets::{self, Target};
use crate::{field, Bench, Session, R};
use crate::{BENCH_IP, LITELLM_KEY, MOCK_KEY, PASSWORD, PROMPT};

impl Bench {
    pub(crate) fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cf-connecting-ip", BENCH_IP)
            .timeout(Duration::from_secs(60))
    }

    pub(crate) async fn json_ok(&self, req: reqwest::RequestBuilder, what: &str) -> R<Value> {
        let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{what}: {e}: {text}"))
    }

    pub(crate) async fn register(&mut self) -> R<()> {
        let v = self
            .json_ok(
                self.http
                    .post(format!("{}/api/auth/register", self.base))
                    .header("cf-connecting-ip", "10.77.1.1")
                    .json(
                        &json!({"email": self.email, "password": PASSWORD, "name": "Bench",
                                  "refresh_token_in": "body"}),
                    ),
                "register",
            )
            .await?;
        self.session = Session {
            token: field(&v, "access_token")?,
            refresh: field(&v, "refresh_token")?,
            at: Instant::now(),
        };
        Ok(())
    }

    /// Access tokens last 15 minutes: refresh well before.
    pub(crate) async fn fresh_token(&mut self) -> R<()> {
        if self.session.at.elapsed() < Duration::from_secs(6 * 60) {
            return Ok(());
        }
        let v = self
            .json_ok(
                self.api(reqwest::Method::POST, "/api/auth/refresh")
                    .json(&json!({"refresh_token": self.session.refresh})),
                "refresh",
            )
            .await?;
        self.session = Session {
            token: field(&v, "access_token")?,
            refresh: field(&v, "refresh_token")?,
            at: Instant::now(),
        };
        Ok(())
    }

    pub(crate) async fn create_conversations(&self, n: usize, model: &str) -> R<Vec<String>> {
        let mut out = Vec::with_capacity(n);
        // A few at a time: this is set-up, not the thing measured.
        for start in (0..n).step_by(16) {
            let futures = (start..n.min(start + 16)).map(|i| {
                let req = self
                    .api(reqwest::Method::POST, "/api/conversations")
                    .bearer_auth(&self.session.token)
                    .json(&json!({"model": model, "title": format!("bench {i}")}));
                self.json_ok(req, "create conversation")
            });
            for v in futures::future::join_all(futures).await {
                out.push(field(&v?, "id")?);
            }
        }
        Ok(out)
    }

    /// One short reply in each conversation, so its Durable Object exists and is warm.
    pub(crate) async fn warm(&self, convs: &[String]) -> R<()> {
        for chunk in convs.chunks(16) {
            let samples = futures::future::join_all(chunk.iter().map(|c| {
                stream::measure(
                    self.request(Target::Chat, "mock-tokens-2-delay-0", c),
                    Wire::Chat,
                    Some(2),
                    None,
                    Duration::from_secs(60),
                )
            }))
            .await;
            if let Some(e) = samples.iter().find_map(|s| s.error.clone()) {
                return Err(format!("warming conversations: {e}"));
            }
        }
        Ok(())
    }

    pub(crate) async fn setup_v1(&mut self) {
        let me = self
            .json_ok(
                self.api(reqwest::Method::GET, "/api/me")
                    .bearer_auth(&self.session.token),
                "GET /api/me",
            )
            .await;
        let org = me.ok().and_then(|v| {
            v.pointer("/orgs/0/id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let Some(org) = org else {
            self.v1_missing = Some("n/a (no personal org in GET /api/me)".into());
            return;
        };
        let resp = self
            .api(reqwest::Method::POST, "/api/keys")
            .bearer_auth(&self.session.token)
            .json(&json!({"name": "bench", "org_id": org}))
            .send()
            .await;
        let key = match resp {
            Ok(r) if r.status() == 404 || r.status() == 405 => {
                self.v1_missing = Some("n/a (route missing: POST /api/keys)".into());
                return;
            }
            Ok(r) => {
                let status = r.status();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                match v.get("key").and_then(Value::as_str) {
                    Some(k) => k.to_string(),
                    None => {
                        self.v1_missing = Some(format!("n/a (POST /api/keys: HTTP {status} {v})"));
                        return;
                    }
                }
            }
            Err(e) => {
                self.v1_missing = Some(format!("n/a (POST /api/keys: {e})"));
                return;
            }
        };
        let probe = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&key)
            .json(&json!({"model": "openai/mock-tokens-1-delay-0",
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await;
        match probe {
            Ok(r) if r.status() == 200 => self.key = Some(key),
            Ok(r) if r.status() == 404 || r.status() == 405 => {
                self.v1_missing = Some("n/a (route missing: POST /v1/chat/completions)".into());
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                self.v1_missing = Some(format!(
                    "n/a (/v1/chat/completions answered HTTP {status}: {})",
                    body.chars().take(120).collect::<String>()
                ));
            }
            Err(e) => self.v1_missing = Some(format!("n/a (/v1/chat/completions: {e})")),
        }
    }

    /// Probes the tool-call, Messages and Responses rows through chatgate, and takes the
    /// requests chatgate sent upstream for them from the mock's record (`GET /__mock/requests`):
    /// sent straight to the mock, they are those rows' baselines.
    pub(crate) async fn setup_ingress(&mut self) {
        if self.key.is_none() {
            return;
        }
        let probes = [
            (Target::V1Tools, "/v1/chat/completions"),
            (Target::Messages, "/v1/messages"),
            (Target::Responses, ""),
        ];
        for (t, upstream_path) in probes {
            let s = stream::measure(
                self.request(t, "mock-tokens-5-delay-0", ""),
                t.wire(),
                Some(t.expect(5)),
                None,
                Duration::from_secs(30),
            )
            .await;
            if let Some(e) = s.error {
                self.ingress_missing
                    .push(format!("{}: n/a (probe failed: {e})", t.name()));
                continue;
            }
            if t == Target::Responses {
                // Its upstream request is the one /v1/chat/completions sends: same baseline.
                self.responses_ok = true;
                continue;
            }
            match self.last_upstream_request(upstream_path).await {
                Some((body, _)) if t == Target::V1Tools => self.tools_upstream = Some(body),
                Some(recorded) => self.anthropic_upstream = Some(recorded),
                None => self.ingress_missing.push(format!(
                    "{}: n/a (the mock recorded no upstream request at {upstream_path})",
                    t.name()
                )),
            }
        }
    }

    /// The newest request the mock recorded at `path`: its body and the headers worth sending
    /// again (the provider's key and version headers, not the connection's).
    async fn last_upstream_request(&self, path: &str) -> Option<(Value, Vec<(String, String)>)> {
        let all: Value = self
            .http
            .get(format!("{}/__mock/requests", self.mock))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let last = all
            .as_array()?
            .iter()
            .rev()
            .find(|r| r.get("path").and_then(Value::as_str) == Some(path))?;
        let headers = last
            .get("headers")?
            .as_array()?
            .iter()
            .filter_map(|h| {
                let (name, value) = (h.get(0)?.as_str()?, h.get(1)?.as_str()?);
                let keep = name.starts_with("anthropic-") || name == "x-api-key";
                keep.then(|| (name.to_string(), value.to_string()))
            })
            .collect();
        Some((last.get("body")?.clone(), headers))
    }

    /// The request each target gets for a mock model such as `mock-tokens-20-delay-0`
    /// (tool-call targets turn `tokens-N` into `tools-N/5`, see `Target::model`). `conv` is
    /// the chat route's conversation, or floor C's Durable Object.
    pub(crate) fn request(&self, t: Target, model: &str, conv: &str) -> reqwest::RequestBuilder {
        let model = t.model(model);
        let model = model.as_str();
        let messages = json!([{"role": "user", "content": PROMPT}]);
        let compat =
            json!({"model": format!("openai/{model}"), "messages": messages, "stream": true});
        // What chatgate sends the mock for a text reply.
        let upstream = json!({"model": model, "messages": messages, "stream": true,
                              "stream_options": {"include_usage": true}});
        let floor = |t: Target| {
            self.floors
                .iter()
                .find(|f| f.target == t)
                .map_or(String::new(), |f| f.base.clone())
        };
        match t {
            Target::Direct => self
                .http
                .post(format!("{}/v1/chat/completions", self.mock))
                .bearer_auth(MOCK_KEY)
                .json(&upstream),
            Target::Chat | Target::ChatInner => {
                let base = match (t, &self.inner) {
                    (Target::ChatInner, Some(inner)) => inner,
                    _ => &self.base,
                };
                self.http
                    .post(format!("{base}/api/conversations/{conv}/messages"))
                    .bearer_auth(&self.session.token)
                    .header("cf-connecting-ip", BENCH_IP)
                    .json(&json!({"content": PROMPT, "model": format!("openai/{model}")}))
            }
            Target::V1 => self
                .http
                .post(format!("{}/v1/chat/completions", self.base))
                .bearer_auth(self.key.as_deref().unwrap_or(""))
                .json(&compat),
            Target::LiteLlm => self
                .http
                .post(format!(
                    "{}/v1/chat/completions",
                    self.litellm.as_deref().unwrap_or("")
                ))
                .bearer_auth(LITELLM_KEY)
                .json(&compat),
            // The same request as the mock's, to a Worker that passes it on.
            Target::FloorA | Target::FloorB | Target::FloorE => self
                .http
                .post(format!("{}/v1/chat/completions", floor(t)))
                .bearer_auth(MOCK_KEY)
                .json(&upstream),
            Target::FloorC => self
                .http
                .post(format!("{}/c/{conv}", floor(t)))
                .json(&json!({"content": PROMPT, "model": model})),
            Target::V1Tools => {
                let mut body = compat;
                body["tools"] = json!([targets::tool()]);
                self.http
                    .post(format!("{}/v1/chat/completions", self.base))
                    .bearer_auth(self.key.as_deref().unwrap_or(""))
                    .json(&body)
            }
            Target::DirectTools => {
                let mut body = self.tools_upstream.clone().unwrap_or(Value::Null);
                body["model"] = json!(model);
                self.http
                    .post(format!("{}/v1/chat/completions", self.mock))
                    .bearer_auth(MOCK_KEY)
                    .json(&body)
            }
            Target::Messages => self
                .http
                .post(format!("{}/v1/messages", self.base))
                .header("x-api-key", self.key.as_deref().unwrap_or(""))
                .header("anthropic-version", "2023-06-01")
                .json(
                    &json!({"model": format!("anthropic/{model}"), "max_tokens": 1024,
                              "messages": messages, "stream": true}),
                ),
            Target::DirectAnthropic => {
                let (mut body, headers) = self
                    .anthropic_upstream
                    .clone()
                    .unwrap_or((Value::Null, Vec::new()));
                body["model"] = json!(model);
                let mut req = self.http.post(format!("{}/v1/messages", self.mock));
                for (name, value) in headers {
                    req = req.header(name, value);
                }
                req.json(&body)
            }
            Target::Responses => self
                .http
                .post(format!("{}/v1/responses", self.base))
                .bearer_auth(self.key.as_deref().unwrap_or(""))
                .json(&json!({"model": format!("openai/{model}"), "input": PROMPT,
                              "stream": true, "store": false})),
        }
    }

    /// Every target that is there, in the order a round sends them.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let mut t = vec![Target::Direct, Target::Chat];
        if self.inner.is_some() {
            t.push(Target::ChatInner);
        }
        if self.key.is_some() {
            t.push(Target::V1);
        }
        if self.litellm.is_some() {
            t.push(Target::LiteLlm);
        }
        t.extend(self.floors.iter().map(|f| f.target));
        if self.tools_upstream.is_some() {
            t.extend([Target::DirectTools, Target::V1Tools]);
        }
        if self.anthropic_upstream.is_some() {
            t.extend([Target::DirectAnthropic, Target::Messages]);
        }
        if self.responses_ok {
            t.push(Target::Responses);
        }
        t
    }

    /// `conc` requests of one target at once, each on its own task.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn batch(
        &self,
        t: Target,
        model: &str,
        expect: usize,
        convs: &[String],
        offset: usize,
        conc: usize,
        limit: Duration,
        live: Option<Arc<Live>>,
    ) -> Vec<Sample> {
        let mut tasks = Vec::with_capacity(conc);
        for i in 0..conc {
            let conv = convs
                .get((offset + i) % convs.len().max(1))
                .cloned()
                .unwrap_or_default();
            let req = self.request(t, model, &conv);
            let live = live.clone();
            let expect = t.expect(expect);
            tasks.push(tokio::spawn(async move {
                stream::measure(req, t.wire(), Some(expect), live.as_deref(), limit).await
            }));
        }
        let mut out = Vec::with_capacity(conc);
        for task in tasks {
            out.push(task.await.unwrap_or_else(|e| Sample {
                error: Some(format!("task: {e}")),
                ..Sample::default()
            }));
        }
        out
    }
}
