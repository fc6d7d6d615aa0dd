//! The API as the bench uses it: the account, conversations, the API key, and the request
//! each target gets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::stream::{self, Live, Sample, Wire};
use crate::{field, Bench, Session, R};
use crate::{BENCH_IP, LITELLM_KEY, MOCK_KEY, PASSWORD, PROMPT};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// The mock itself: the baseline.
    Direct,
    /// POST /api/conversations/{id}/messages with an access token (Durable Object, persisted).
    Chat,
    /// The same, sent to the workerd that runs the Worker, past wrangler dev's proxy.
    ChatInner,
    /// POST /v1/chat/completions with an issued API key.
    V1,
    /// LiteLLM's proxy in front of the same mock.
    LiteLlm,
}

impl Target {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Direct => "mock direct",
            Target::Chat => "chatgate chat route",
            Target::ChatInner => "chatgate chat route, past wrangler's proxy",
            Target::V1 => "chatgate /v1/chat/completions",
            Target::LiteLlm => "LiteLLM proxy /v1/chat/completions",
        }
    }
    pub(crate) fn wire(self) -> Wire {
        match self {
            Target::Chat | Target::ChatInner => Wire::Chat,
            _ => Wire::OpenAi,
        }
    }
}

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

    /// The request each target gets for a mock model such as `mock-tokens-20-delay-0`.
    pub(crate) fn request(&self, t: Target, model: &str, conv: &str) -> reqwest::RequestBuilder {
        let messages = json!([{"role": "user", "content": PROMPT}]);
        let compat =
            json!({"model": format!("openai/{model}"), "messages": messages, "stream": true});
        match t {
            Target::Direct => self
                .http
                .post(format!("{}/v1/chat/completions", self.mock))
                .bearer_auth(MOCK_KEY)
                // What chatgate sends upstream.
                .json(
                    &json!({"model": model, "messages": messages, "stream": true,
                              "stream_options": {"include_usage": true}}),
                ),
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
        }
    }

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
