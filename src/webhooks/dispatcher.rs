//! The `Dispatcher` Durable Object: a queue of webhook deliveries in SQLite, worked by the
//! object's alarm. One object per org (`org:<id>`) and 16 for provisioning.
//!
//! Each delivery is a row with its body fixed when queued; each attempt is a row under it.
//! The alarm takes the deliveries that are due, leases them (so an attempt cut off by an
//! eviction is retried, not lost), POSTs them signed, records the outcome, and sets the
//! alarm again for the next due delivery. Alarms are durable: a retry survives restarts.
//! Finished deliveries are kept 30 days, then deleted by the same alarm.

use std::time::Duration;

use futures::future::{join_all, select, Either};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, AbortController, DurableObject, Env, Fetch, Headers, Method, Request,
    RequestInit, RequestRedirect, Response, SqlStorage, SqlStorageValue, State,
};

use super::{next_attempt_at, signature_header, Enqueue};
use crate::config::Config;
use crate::domain::outbound;
use crate::error::{ApiError, ApiResult};
use crate::http::{decode_cursor, encode_cursor, json_response, parse_json, Page};
use crate::util::{now_ms, rfc3339, JS_MAX_SAFE};

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS deliveries (
        id              TEXT PRIMARY KEY,
        target          TEXT NOT NULL,
        event_id        TEXT NOT NULL,
        event           TEXT NOT NULL,
        body            TEXT NOT NULL,
        status          TEXT NOT NULL,      -- pending, delivered, failed
        created_at      INTEGER NOT NULL,
        next_attempt_at INTEGER,            -- while pending (or leased to an attempt)
        delivered_at    INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries(created_at, id)",
    "CREATE TABLE IF NOT EXISTS attempts (
        delivery_id TEXT NOT NULL,
        n           INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        status_code INTEGER,
        error       TEXT,
        duration_ms INTEGER NOT NULL,
        PRIMARY KEY (delivery_id, n)
    )",
];

/// How long one attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a delivery is reserved for an attempt in progress: longer than the timeout, so
/// only an attempt that never finished (the object was evicted) lets it be taken again.
const LEASE_MS: i64 = 60_000;
/// Deliveries per alarm run, and at once (a Worker has six outgoing connections).
const BATCH: i64 = 25;
const PARALLEL: usize = 5;
/// What an attempt records when the outbound rule refuses its URL, and when no HTTP answer
/// came back: never the runtime's own words.
const REFUSED: &str = "refused by policy: the URL is not an allowed outbound target";
const CONNECTION_FAILED: &str = "connection failed";
/// How long finished deliveries stay listed.
const RETENTION_MS: i64 = 30 * 24 * 3_600_000;

#[durable_object(alarm)]
pub struct Dispatcher {
    state: State,
    env: Env,
    sql: SqlStorage,
}

impl DurableObject for Dispatcher {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in SCHEMA {
            if let Err(e) = sql.exec(statement, None) {
                worker::console_error!("dispatcher schema: {e}");
            }
        }
        Dispatcher { state, env, sql }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match (req.method(), req.path().as_str()) {
            (Method::Post, "/enqueue") => match req.bytes().await {
                Ok(body) => self.enqueue(&body).await,
                Err(e) => Err(ApiError::internal(e)),
            },
            (Method::Get, "/deliveries") => self.page(&req),
            (Method::Delete, "/") => self.wipe().await,
            _ => Err(ApiError::NotFound),
        };
        Ok(result.unwrap_or_else(|e| crate::http::problem(&e)))
    }

    async fn alarm(&self) -> worker::Result<Response> {
        if let Err(e) = self.deliver_due().await {
            worker::console_error!(
                "{}",
                serde_json::json!({"error": "webhook_alarm", "context": e.to_string()})
            );
        }
        self.prune();
        self.schedule_next().await?;
        Response::empty()
    }
}

#[derive(Deserialize)]
struct Due {
    id: String,
    target: String,
    event_id: String,
    body: String,
    created_at: i64,
    failures: i64,
}

/// How one attempt went.
struct Outcome {
    at: i64,
    status_code: Option<u16>,
    error: Option<String>,
    duration_ms: i64,
    /// No endpoint to deliver to any more: no point in retrying.
    terminal: bool,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    fn error(at: i64, message: impl Into<String>, terminal: bool) -> Outcome {
        Outcome {
            at,
            status_code: None,
            error: Some(message.into()),
            duration_ms: 0,
            terminal,
        }
    }
}

fn v(x: impl Into<SqlStorageValue>) -> SqlStorageValue {
    x.into()
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    crate::crypto::fill_random(&mut b);
    u16::from_le_bytes(b) as f64 / 65_536.0
}

impl Dispatcher {
    async fn enqueue(&self, body: &[u8]) -> ApiResult<Response> {
        let cmd: Enqueue = parse_json(body)?;
        // Idempotent on the delivery id, should the Worker's call be retried.
        self.sql.exec(
            "INSERT OR IGNORE INTO deliveries (id, target, event_id, event, body, status, created_at, next_attempt_at)
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            vec![
                v(cmd.delivery_id),
                v(cmd.target),
                v(cmd.event_id),
                v(cmd.event),
                v(cmd.body),
                v(cmd.created_at),
                v(now_ms()),
            ],
        )?;
        // Due now: the alarm runs as soon as this returns (or after the run in progress).
        self.state
            .storage()
            .set_alarm(Duration::from_millis(0))
            .await?;
        Ok(Response::builder().with_status(202).empty())
    }

    /// Attempts every due delivery (up to a batch), a few at a time.
    async fn deliver_due(&self) -> ApiResult<()> {
        let now = now_ms();
        let due: Vec<Due> = self
            .sql
            .exec(
                "SELECT id, target, event_id, body, created_at,
                   (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) AS failures
                 FROM deliveries d WHERE status = 'pending' AND next_attempt_at <= ?
                 ORDER BY next_attempt_at LIMIT ?",
                vec![v(now), v(BATCH)],
            )?
            .to_array()?;
        if due.is_empty() {
            return Ok(());
        }
        for d in &due {
            self.sql.exec(
                "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?",
                vec![v(now + LEASE_MS), v(d.id.as_str())],
            )?;
        }
        let cfg = Config::get(&self.env)?;
        for chunk in due.chunks(PARALLEL) {
            let outcomes = join_all(chunk.iter().map(|d| self.attempt(d, &cfg))).await;
            for (d, outcome) in chunk.iter().zip(outcomes) {
                self.record(d, &outcome, cfg.webhook_retry_base_ms)?;
            }
        }
        Ok(())
    }

    /// Where a target's deliveries go and the secret they are signed with, read at each
    /// attempt, so a changed URL or secret applies to retries too.
    async fn endpoint(&self, target: &str, cfg: &Config) -> ApiResult<Option<(String, String)>> {
        if target == "provisioning" {
            return Ok(cfg
                .provisioning
                .as_ref()
                .map(|p| (p.url.clone(), p.secret.clone())));
        }
        let org_id = target
            .strip_prefix("org:")
            .ok_or_else(|| ApiError::internal(format!("unknown webhook target {target}")))?;
        let db = self
            .env
            .d1("DB")
            .map_err(|e| ApiError::internal(format!("D1 binding: {e}")))?;
        crate::store::webhooks::target(&db, cfg, org_id).await
    }

    async fn attempt(&self, d: &Due, cfg: &Config) -> Outcome {
        let at = now_ms();
        let (url, secret) = match self.endpoint(&d.target, cfg).await {
            Ok(Some(endpoint)) => endpoint,
            Ok(None) => return Outcome::error(at, "no endpoint is configured", true),
            Err(e) => {
                worker::console_error!(
                    "webhook endpoint {}: {}",
                    d.target,
                    e.log_context().unwrap_or(e.code())
                );
                return Outcome::error(at, "the endpoint could not be loaded", false);
            }
        };
        // The rule again, at every attempt: it may have changed since the URL was stored, or
        // the URL may predate it. Refused attempts are retried (a corrected URL or rule still
        // delivers) and say only that the rule refused them.
        let url = match outbound::check(&url, &cfg.webhook_insecure_hosts) {
            Ok(url) => url,
            Err(e) => {
                worker::console_log!(
                    "{}",
                    serde_json::json!({"webhook": d.target, "refused": e.to_string()})
                );
                return Outcome::error(at, REFUSED, false);
            }
        };
        let signature = signature_header(secret.as_bytes(), at / 1000, &d.body);
        let request = (|| {
            let headers = Headers::new();
            headers.set("content-type", "application/json")?;
            headers.set("user-agent", "chatgate-webhooks/1")?;
            headers.set("chatgate-event-id", &d.event_id)?;
            headers.set("chatgate-signature", &signature)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual)
                .with_body(Some(d.body.clone().into()));
            Request::new_with_init(url.as_str(), &init)
        })();
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                worker::console_error!("webhook request {}: {e}", d.target);
                return Outcome::error(at, "the request could not be built", false);
            }
        };
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let sent = fetch.send_with_signal(&signal);
        let timeout = worker::Delay::from(ATTEMPT_TIMEOUT);
        // The runtime's error text is for the log only: it tells a refused connection from an
        // unreachable host or a TLS failure, which would turn the delivery list into a probe.
        let (status_code, error) = match select(Box::pin(sent), timeout).await {
            Either::Left((Ok(resp), _)) => (Some(resp.status_code()), None),
            Either::Left((Err(e), _)) => {
                worker::console_log!(
                    "{}",
                    serde_json::json!({"webhook": d.target, "connection_failed": e.to_string()})
                );
                (None, Some(CONNECTION_FAILED.to_string()))
            }
            Either::Right(_) => {
                controller.abort();
                (
                    None,
                    Some(format!("timed out after {} s", ATTEMPT_TIMEOUT.as_secs())),
                )
            }
        };
        Outcome {
            at,
            status_code,
            error,
            duration_ms: (now_ms() - at).max(0),
            terminal: false,
        }
    }

    /// Stores an attempt and moves its delivery on: delivered, retried later, or failed.
    fn record(&self, d: &Due, o: &Outcome, base_ms: u64) -> ApiResult<()> {
        let failures = d.failures.max(0) as u32 + 1;
        self.sql.exec(
            "INSERT INTO attempts (delivery_id, n, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                v(d.id.as_str()),
                v(failures as i64),
                v(o.at),
                o.status_code.map(|s| v(s as i64)).unwrap_or(SqlStorageValue::Null),
                o.error.as_deref().map(v).unwrap_or(SqlStorageValue::Null),
                v(o.duration_ms),
            ],
        )?;
        let now = now_ms();
        if o.delivered() {
            self.sql.exec(
                "UPDATE deliveries SET status = 'delivered', delivered_at = ?, next_attempt_at = NULL WHERE id = ?",
                vec![v(now), v(d.id.as_str())],
            )?;
            return Ok(());
        }
        let next = if o.terminal {
            None
        } else {
            next_attempt_at(d.created_at, now, failures, base_ms, jitter())
        };
        match next {
            Some(at) => self.sql.exec(
                "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?",
                vec![v(at), v(d.id.as_str())],
            )?,
            None => self.sql.exec(
                "UPDATE deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = ?",
                vec![v(d.id.as_str())],
            )?,
        };
        Ok(())
    }

    /// Deletes every delivery and attempt, and the alarm: the org is being deleted.
    async fn wipe(&self) -> ApiResult<Response> {
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        for statement in SCHEMA {
            let _ = self.sql.exec(statement, None);
        }
        Ok(Response::builder().with_status(204).empty())
    }

    /// Deletes finished deliveries past retention.
    fn prune(&self) {
        let before = now_ms() - RETENTION_MS;
        for sql in [
            "DELETE FROM attempts WHERE delivery_id IN
               (SELECT id FROM deliveries WHERE status <> 'pending' AND created_at < ?)",
            "DELETE FROM deliveries WHERE status <> 'pending' AND created_at < ?",
        ] {
            if let Err(e) = self.sql.exec(sql, vec![v(before)]) {
                worker::console_error!("dispatcher prune: {e}");
            }
        }
    }

    /// Sets the alarm for the next due delivery, or for when the oldest finished one is to
    /// be deleted; none when the queue is empty.
    async fn schedule_next(&self) -> worker::Result<()> {
        #[derive(Deserialize)]
        struct Next {
            due: Option<i64>,
            oldest: Option<i64>,
        }
        let next: Vec<Next> = self
            .sql
            .exec(
                "SELECT (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending') AS due,
                        (SELECT MIN(created_at) FROM deliveries WHERE status <> 'pending') AS oldest",
                None,
            )?
            .to_array()?;
        let Some(next) = next.into_iter().next() else {
            return Ok(());
        };
        let wake = match (next.due, next.oldest.map(|t| t + RETENTION_MS + 1)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Ok(()),
        };
        let offset = (wake - now_ms()).max(0) as u64;
        self.state
            .storage()
            .set_alarm(Duration::from_millis(offset))
            .await
    }

    /// Deliveries newest first, each with its attempts.
    fn page(&self, req: &Request) -> ApiResult<Response> {
        let url = req.url()?;
        let mut limit = 20i64;
        let mut before = (JS_MAX_SAFE, String::new());
        for (k, val) in url.query_pairs() {
            match k.as_ref() {
                "limit" => {
                    limit = val
                        .parse::<i64>()
                        .ok()
                        .filter(|l| (1..=100).contains(l))
                        .ok_or_else(|| ApiError::validation("limit must be from 1 to 100"))?
                }
                "cursor" => before = decode_cursor(&val)?,
                _ => {}
            }
        }
        let rows: Vec<DeliveryRow> = self
            .sql
            .exec(
                "SELECT id, event, event_id, status, created_at, delivered_at, next_attempt_at
                 FROM deliveries WHERE created_at < ? OR (created_at = ? AND id < ?)
                 ORDER BY created_at DESC, id DESC LIMIT ?",
                vec![v(before.0), v(before.0), v(before.1.as_str()), v(limit + 1)],
            )?
            .to_array()?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::new();
        for row in rows.iter().take(limit as usize) {
            let attempts: Vec<AttemptRow> = self
                .sql
                .exec(
                    "SELECT at, status_code, error, duration_ms FROM attempts WHERE delivery_id = ? ORDER BY n",
                    vec![v(row.id.as_str())],
                )?
                .to_array()?;
            items.push(row.view(attempts));
        }
        let next_cursor = if more {
            items
                .last()
                .map(|d: &DeliveryView| encode_cursor(d.created_ms, &d.id))
        } else {
            None
        };
        json_response(200, &Page { items, next_cursor })
    }
}

#[derive(Deserialize)]
struct DeliveryRow {
    id: String,
    event: String,
    event_id: String,
    status: String,
    created_at: i64,
    delivered_at: Option<i64>,
    next_attempt_at: Option<i64>,
}

#[derive(Deserialize)]
struct AttemptRow {
    at: i64,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

#[derive(Serialize)]
struct AttemptView {
    at: String,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

#[derive(Serialize)]
struct DeliveryView {
    id: String,
    event: String,
    event_id: String,
    status: String,
    attempts: Vec<AttemptView>,
    created_at: String,
    delivered_at: Option<String>,
    next_attempt_at: Option<String>,
    #[serde(skip)]
    created_ms: i64,
}

impl DeliveryRow {
    fn view(&self, attempts: Vec<AttemptRow>) -> DeliveryView {
        DeliveryView {
            id: self.id.clone(),
            event: self.event.clone(),
            event_id: self.event_id.clone(),
            status: self.status.clone(),
            attempts: attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: rfc3339(a.at),
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
            created_at: rfc3339(self.created_at),
            delivered_at: self.delivered_at.map(rfc3339),
            next_attempt_at: (self.status == "pending")
                .then_some(self.next_attempt_at)
                .flatten()
                .map(rfc3339),
            created_ms: self.created_at,
        }
    }
}
