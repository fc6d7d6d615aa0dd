//! Budgets and rate limits, held by one place per organization: the `OrgLimiter` Durable
//! Object (SQLite storage), reached by the org id. One object serialises every decision
//! for its org, so concurrent requests cannot both take the last of a budget or a window.
//!
//! Budget: a request is admitted only when its whole reservation fits in what the month
//! has left (the limit minus spent and outstanding reservations): its prompt estimate plus
//! a completion cap, which is what it asked for (`max_tokens`, or `DEFAULT_MAX_TOKENS`) cut
//! to what is left after the prompt. That cap goes upstream with the request, so a reply
//! cannot use more than was reserved, and concurrent requests together never pass the
//! limit beyond the error of the prompt estimates. A cap below a useful reply
//! (`MIN_COMPLETION_TOKENS`) is refused instead. When the reply ends the reservation is
//! settled with what was really used (0 to release it). The month's spent total lives in
//! the object's SQLite (it survives restarts) and is seeded from D1's `usage_events` on the
//! month's first reservation. An org without a limit reserves nothing (no round trip before
//! the first token); its replies' use is still added to a month the object already holds,
//! and is in D1 for one it seeds later, so a limit set mid-month starts from the month's
//! true total.
//!
//! Rate limit: a sliding log of admitted requests per API key over the last 60 s; a key is
//! admitted while fewer than `rpm` of its requests fall in the window. Access tokens are
//! counted the same way per user, in an object of this class named `user:<id>`.

pub mod client;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, State};

use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, parse_json};
use crate::providers::DEFAULT_MAX_TOKENS;
use crate::util::{month_of, new_id, now_ms, JS_MAX_SAFE};

/// A reservation nobody settled (its Worker died) stops counting after this long.
pub const RESERVATION_TTL_MS: i64 = 60 * 60 * 1000;
/// The rate-limit window.
pub const WINDOW_MS: i64 = 60_000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS months (month TEXT PRIMARY KEY, spent INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, amount INTEGER NOT NULL, created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hits (key_id TEXT NOT NULL, at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hits_by_key ON hits(key_id, at)",
    "CREATE INDEX IF NOT EXISTS hits_by_time ON hits(at)",
];

// ---------------------------------------------------------------------------------------
// The arithmetic, pure so that it is unit-tested natively.

/// The smallest completion cap worth calling a provider for.
pub const MIN_COMPLETION_TOKENS: u32 = 16;

/// The completion cap a request is admitted with: the cap it wants, cut to what the budget
/// leaves after the committed tokens (spent + outstanding) and its own prompt estimate.
/// `None` (refused) when that is below a useful reply: `MIN_COMPLETION_TOKENS`, or the
/// wanted cap if it is smaller. Without a limit, the wanted cap.
pub fn admitted_cap(limit: Option<u64>, committed: u64, prompt: u64, wanted: u32) -> Option<u32> {
    let wanted = wanted.max(1);
    let Some(limit) = limit else {
        return Some(wanted);
    };
    let left = limit.saturating_sub(committed).saturating_sub(prompt);
    let cap = u32::try_from(left).unwrap_or(u32::MAX).min(wanted);
    (cap >= wanted.min(MIN_COMPLETION_TOKENS)).then_some(cap)
}

/// The cap a request wants: its `max_tokens`, or the default one.
pub fn wanted_cap(max_tokens: Option<u32>) -> u32 {
    max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)
}

/// The budget an org is held to: its own `monthly_token_limit`, never above the service's
/// default (`DEFAULT_MONTHLY_TOKEN_LIMIT`), which is also the budget of an org without one.
pub fn monthly_limit(own: Option<i64>, service_default: Option<u64>) -> Option<u64> {
    let own = own.map(|l| l.max(0) as u64);
    match (own, service_default) {
        (Some(own), Some(default)) => Some(own.min(default)),
        (own, default) => own.or(default),
    }
}

/// Requests per minute for an API key: its org's `rate_limit_rpm`, never above the
/// service's `API_KEY_RATE_LIMIT_RPM`, which is also the rate of an org without one.
pub fn key_rpm(own: Option<i64>, service: u32) -> u32 {
    let service = service.max(1);
    own.map_or(service, |r| r.clamp(1, i64::from(service)) as u32)
}

/// Milliseconds of the start of the UTC month after the one containing `now_ms`.
pub fn next_month_start_ms(now_ms: i64) -> i64 {
    use chrono::{Datelike, TimeZone, Utc};
    let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else {
        return now_ms;
    };
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map_or(now_ms, |t| t.timestamp_millis())
}

/// `retry-after` for an exhausted budget: whole seconds to the next month (UTC), at least 1.
pub fn seconds_to_next_month(now_ms: i64) -> u64 {
    ceil_secs(next_month_start_ms(now_ms) - now_ms)
}

/// The first day (`YYYY-MM-01`) of the month of `now_ms`, for the D1 seed.
pub fn month_first_day(now_ms: i64) -> String {
    format!("{}-01", month_of(now_ms))
}

fn ceil_secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}

/// The sliding-window decision for one key: `Ok` when admitted, else the seconds until
/// the oldest request in the window leaves it. `in_window` counts admitted requests with
/// `at > now - WINDOW_MS`; `oldest` is the earliest of them.
pub fn window_admits(rpm: u32, in_window: u64, oldest: Option<i64>, now: i64) -> Result<(), u64> {
    if in_window < u64::from(rpm) {
        return Ok(());
    }
    Err(ceil_secs(
        oldest.map_or(WINDOW_MS, |at| at + WINDOW_MS - now),
    ))
}

// ---------------------------------------------------------------------------------------
// The Worker ↔ object protocol.

#[derive(Serialize, Deserialize)]
pub struct ReserveCommand {
    pub org_id: String,
    pub limit: Option<u64>,
    /// The prompt's estimated tokens.
    pub prompt: u64,
    /// The completion cap the request wants (`wanted_cap`).
    pub wanted: u32,
}

#[derive(Serialize, Deserialize)]
pub struct SettleCommand {
    /// `None` for a reply of an org without a limit: its use is only added to the month.
    pub id: Option<String>,
    /// Tokens really used; 0 releases the reservation.
    pub used: u64,
}

#[derive(Serialize, Deserialize)]
pub struct HitCommand {
    pub key_id: String,
    pub rpm: u32,
}

/// A request's rate-limit hit and its budget reservation, decided together by the org's
/// object in one call (one wait before the provider rather than two): the hit first (a
/// refused hit reserves nothing), then the reservation.
#[derive(Serialize, Deserialize)]
pub struct AdmitCommand {
    pub hit: HitCommand,
    pub reserve: Option<ReserveCommand>,
}

/// The answer to a reserve, a hit or an admit.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    Admitted {
        id: Option<String>,
        /// A reservation's completion cap, to send upstream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<u32>,
    },
    /// Over budget (a reserve), or over the rate (a hit).
    Refused { retry_after: u64 },
    /// An admit whose hit was over the rate (nothing reserved).
    RateLimited { retry_after: u64 },
}

// ---------------------------------------------------------------------------------------
// The object.

#[durable_object]
pub struct OrgLimiter {
    state: State,
    env: Env,
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct Spent {
    spent: i64,
}

#[derive(Deserialize)]
struct Total {
    total: Option<i64>,
}

#[derive(Deserialize)]
struct Window {
    n: i64,
    oldest: Option<i64>,
}

impl DurableObject for OrgLimiter {
    fn new(state: State, env: Env) -> Self {
        // Reads this isolate's settings (the benchmark's storage delay among them).
        let _ = crate::config::Config::get(&env);
        let sql = state.storage().sql();
        for statement in SCHEMA {
            let _ = sql.exec(statement, None);
        }
        OrgLimiter { state, env, sql }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        let body = req.bytes().await.unwrap_or_default();
        let result = match path.as_str() {
            "/reserve" => match parse_json::<ReserveCommand>(&body) {
                Ok(cmd) => self.reserve(cmd).await,
                Err(e) => Err(e),
            },
            "/settle" => parse_json::<SettleCommand>(&body).and_then(|cmd| self.settle(cmd)),
            "/hit" => parse_json::<HitCommand>(&body).and_then(|cmd| self.hit(cmd)),
            // Its org or user was deleted: nothing of theirs stays.
            "/wipe" => {
                return Ok(match self.state.storage().delete_all().await {
                    Ok(()) => {
                        for statement in SCHEMA {
                            let _ = self.sql.exec(statement, None);
                        }
                        Response::builder().with_status(204).empty()
                    }
                    Err(e) => crate::http::problem(&ApiError::internal(e)),
                });
            }
            "/admit" => match parse_json::<AdmitCommand>(&body) {
                Ok(cmd) => self.admit(cmd).await,
                Err(e) => Err(e),
            },
            _ => Err(ApiError::NotFound),
        };
        Ok(result
            .and_then(|d| json_response(200, &d))
            .unwrap_or_else(|e| crate::http::problem(&e)))
    }
}

impl OrgLimiter {
    fn exec(&self, query: &str, args: Vec<worker::SqlStorageValue>) -> ApiResult<()> {
        self.sql
            .exec(query, args)
            .map(|_| ())
            .map_err(|e| ApiError::internal(format!("limiter SQL: {e}")))
    }

    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<worker::SqlStorageValue>,
    ) -> ApiResult<Vec<T>> {
        self.sql
            .exec(query, args)
            .and_then(|c| c.to_array())
            .map_err(|e| ApiError::internal(format!("limiter SQL: {e}")))
    }

    fn spent(&self, month: &str) -> ApiResult<Option<u64>> {
        let rows: Vec<Spent> = self.rows(
            "SELECT spent FROM months WHERE month = ?",
            vec![month.into()],
        )?;
        Ok(rows.first().map(|r| r.spent.max(0) as u64))
    }

    async fn reserve(&self, cmd: ReserveCommand) -> ApiResult<Decision> {
        let now = now_ms();
        let month = month_of(now);
        if self.spent(&month)?.is_none() {
            // First reservation of the month: start from what D1 already holds. Others may
            // run while this awaits; the first insert wins and every later step is sync.
            let db = self
                .env
                .d1("DB")
                .map_err(|e| ApiError::internal(format!("D1 binding: {e}")))?;
            let seed =
                crate::store::usage::tokens_since(&db, &cmd.org_id, &month_first_day(now)).await?;
            self.exec(
                "INSERT OR IGNORE INTO months (month, spent) VALUES (?, ?)",
                vec![month.as_str().into(), (seed as i64).into()],
            )?;
            self.exec(
                "DELETE FROM months WHERE month < ?",
                vec![month.as_str().into()],
            )?;
        }
        // From here to the insert nothing awaits: the check and the reservation are atomic.
        self.exec(
            "DELETE FROM reservations WHERE created_at < ?",
            vec![(now - RESERVATION_TTL_MS).into()],
        )?;
        let spent = self.spent(&month)?.unwrap_or(0);
        let outstanding: Vec<Total> =
            self.rows("SELECT SUM(amount) AS total FROM reservations", vec![])?;
        let outstanding = outstanding
            .first()
            .and_then(|t| t.total)
            .unwrap_or(0)
            .max(0) as u64;
        let committed = spent.saturating_add(outstanding);
        let Some(cap) = admitted_cap(cmd.limit, committed, cmd.prompt, cmd.wanted) else {
            return Ok(Decision::Refused {
                retry_after: seconds_to_next_month(now),
            });
        };
        let id = new_id("rsv");
        let amount = cmd.prompt.saturating_add(u64::from(cap));
        self.exec(
            "INSERT INTO reservations (id, amount, created_at) VALUES (?, ?, ?)",
            vec![
                id.as_str().into(),
                (amount.min(JS_MAX_SAFE as u64) as i64).into(),
                now.into(),
            ],
        )?;
        Ok(Decision::Admitted {
            id: Some(id),
            cap: Some(cap),
        })
    }

    /// Drops the reservation and adds what was used to this month. A month that was not
    /// seeded yet gets it from D1, where the usage was recorded before this settle.
    fn settle(&self, cmd: SettleCommand) -> ApiResult<Decision> {
        if let Some(id) = &cmd.id {
            self.exec(
                "DELETE FROM reservations WHERE id = ?",
                vec![id.as_str().into()],
            )?;
        }
        if cmd.used > 0 {
            self.exec(
                "UPDATE months SET spent = spent + ? WHERE month = ?",
                vec![
                    (cmd.used.min(JS_MAX_SAFE as u64) as i64).into(),
                    month_of(now_ms()).into(),
                ],
            )?;
        }
        Ok(Decision::Admitted {
            id: None,
            cap: None,
        })
    }

    /// The hit, then (if it was admitted) the reservation: each atomic as on its own.
    async fn admit(&self, cmd: AdmitCommand) -> ApiResult<Decision> {
        if let Decision::Refused { retry_after } = self.hit(cmd.hit)? {
            return Ok(Decision::RateLimited { retry_after });
        }
        match cmd.reserve {
            Some(reserve) => self.reserve(reserve).await,
            None => Ok(Decision::Admitted {
                id: None,
                cap: None,
            }),
        }
    }

    fn hit(&self, cmd: HitCommand) -> ApiResult<Decision> {
        let now = now_ms();
        let since = now - WINDOW_MS;
        self.exec("DELETE FROM hits WHERE at <= ?", vec![since.into()])?;
        let window: Vec<Window> = self.rows(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM hits WHERE key_id = ? AND at > ?",
            vec![cmd.key_id.as_str().into(), since.into()],
        )?;
        let (n, oldest) = window
            .first()
            .map_or((0, None), |w| (w.n.max(0) as u64, w.oldest));
        if let Err(retry_after) = window_admits(cmd.rpm, n, oldest, now) {
            return Ok(Decision::Refused { retry_after });
        }
        self.exec(
            "INSERT INTO hits (key_id, at) VALUES (?, ?)",
            vec![cmd.key_id.as_str().into(), now.into()],
        )?;
        Ok(Decision::Admitted {
            id: None,
            cap: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_31_23_59_59: i64 = 1_769_903_999_000; // 2026-01-31T23:59:59Z

    #[test]
    fn a_request_is_admitted_with_the_cap_it_wants_cut_to_what_the_budget_leaves() {
        // limit, committed, prompt, wanted, cap
        for (limit, committed, prompt, wanted, want) in [
            (None, u64::MAX, 10, 4096, Some(4096)),
            (Some(1000), 0, 10, 4096, Some(990)),
            (Some(1000), 0, 10, 20, Some(20)),
            (Some(1000), 900, 10, 4096, Some(90)),
            (Some(1000), 974, 10, 4096, Some(16)),
            (Some(1000), 975, 10, 4096, None),
            (Some(1000), 985, 10, 5, Some(5)),
            (Some(1000), 986, 10, 5, None),
            (Some(1000), 1000, 0, 1, None),
            (Some(100), 150, 0, 4096, None),
            (Some(100), u64::MAX, 1, 1, None),
            (Some(u64::MAX), 0, 0, 7, Some(7)),
        ] {
            assert_eq!(
                admitted_cap(limit, committed, prompt, wanted),
                want,
                "limit {limit:?} committed {committed} prompt {prompt} wanted {wanted}"
            );
        }
        assert_eq!(wanted_cap(None), DEFAULT_MAX_TOKENS);
        assert_eq!(wanted_cap(Some(9)), 9);
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        // 24 requests at once, each a prompt of 8 wanting 10, against 100; none settled yet.
        let mut outstanding = 0;
        let mut admitted = 0;
        for _ in 0..24 {
            if let Some(cap) = admitted_cap(Some(100), outstanding, 8, 10) {
                outstanding += 8 + u64::from(cap);
                admitted += 1;
            }
        }
        assert_eq!(admitted, 5);
        assert!(outstanding <= 100, "{outstanding}");
        // Without a max_tokens, the first takes what is left and the others wait for it.
        let first = admitted_cap(Some(100), 0, 8, wanted_cap(None));
        assert_eq!(first, Some(92));
        assert_eq!(admitted_cap(Some(100), 100, 8, wanted_cap(None)), None);
    }

    #[test]
    fn an_org_limit_only_lowers_the_service_ceiling() {
        assert_eq!(monthly_limit(None, None), None);
        assert_eq!(monthly_limit(Some(500), None), Some(500));
        assert_eq!(monthly_limit(None, Some(300)), Some(300));
        assert_eq!(monthly_limit(Some(100), Some(300)), Some(100));
        assert_eq!(monthly_limit(Some(1_000_000), Some(300)), Some(300));
        assert_eq!(key_rpm(None, 600), 600);
        assert_eq!(key_rpm(Some(5), 600), 5);
        assert_eq!(key_rpm(Some(100_000), 600), 600);
        assert_eq!(key_rpm(Some(0), 600), 1);
        assert_eq!(key_rpm(Some(9), 0), 1);
    }

    #[test]
    fn an_exhausted_budget_waits_for_the_next_utc_month() {
        assert_eq!(seconds_to_next_month(JAN_31_23_59_59), 1);
        assert_eq!(
            next_month_start_ms(JAN_31_23_59_59),
            1_769_904_000_000 // 2026-02-01
        );
        let dec_15 = 1_765_800_000_000; // 2025-12-15T12:00:00Z
        assert_eq!(next_month_start_ms(dec_15), 1_767_225_600_000); // 2026-01-01
        assert_eq!(seconds_to_next_month(dec_15), 1_425_600);
        assert_eq!(month_first_day(dec_15), "2025-12-01");
    }

    #[test]
    fn the_window_admits_rpm_requests_then_says_when_the_oldest_leaves() {
        let now = 1_000_000;
        assert_eq!(window_admits(5, 0, None, now), Ok(()));
        assert_eq!(window_admits(5, 4, Some(now - 1000), now), Ok(()));
        assert_eq!(window_admits(5, 5, Some(now - 1000), now), Err(59));
        assert_eq!(window_admits(5, 5, Some(now - 59_999), now), Err(1));
        assert_eq!(window_admits(5, 5, Some(now - 30_500), now), Err(30));
        assert_eq!(window_admits(1, 1, None, now), Err(60));
    }
}
