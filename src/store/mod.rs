//! All D1 and KV access. Nothing else touches the bindings: handlers call named methods.

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

use crate::error::{ApiError, ApiResult};

pub mod admin;
pub mod audit;
pub mod conversations;
pub mod delay;
pub mod dev_mailbox;
pub mod email_tokens;
pub mod embed;
pub mod files;
pub mod identities;
pub mod invitations;
pub mod keys;
pub mod mfa;
pub mod oauth;
pub mod orgs;
pub mod passkeys;
pub mod presets;
pub mod provider_keys;
pub mod retention;
pub mod search;
pub mod sessions;
pub mod shares;
pub mod signing_keys;
pub mod throttle;
pub mod upkeep;
pub mod usage;
pub mod users;
pub mod voice;
pub mod webhooks;
pub mod wipes;

/// A text argument.
pub fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

/// An integer argument (D1 numbers are JS doubles: keep them under 2^53).
pub fn n(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub fn opt_s(v: Option<&str>) -> JsValue {
    v.map(JsValue::from_str).unwrap_or(JsValue::NULL)
}

pub fn opt_n(v: Option<i64>) -> JsValue {
    v.map(n).unwrap_or(JsValue::NULL)
}

fn context(sql: &str, e: impl std::fmt::Display) -> ApiError {
    let head: String = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
    ApiError::internal(format!("D1 `{head}…`: {e}"))
}

/// SQLite's answer when another connection holds the write lock: the statement did not run.
/// D1 serialises its writers, so this comes from local D1 when another process writes the
/// same file (the test harness does, to set rows up); a query that gets it runs again, at most
/// twice, 10 then 20 ms later. Nothing ran, so running it again is safe.
const BUSY: &str = "SQLITE_BUSY";
/// D1's answer to a query that failed inside it for a passing reason: local D1 says this when
/// its own SQLite file is busy (`SQLITE_BUSY_SNAPSHOT` in the runtime's log, not in the
/// message). A read that gets it runs again like a busy one: reading twice changes nothing. A
/// write does not, since it may have run.
const INTERNAL: &str = "internal error";

/// Whether a statement only reads (a `SELECT`; `first` also runs `UPDATE … RETURNING`).
fn reads(sql: &str) -> bool {
    let head = sql.trim_start();
    head.get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("select"))
}

#[cfg(test)]
mod retry_tests {
    use super::reads;

    #[test]
    fn only_a_select_is_read_again_after_an_internal_error() {
        assert!(reads("SELECT id FROM users"));
        assert!(reads("\n    select 1"));
        assert!(!reads(
            "UPDATE oauth_codes SET used = 1 RETURNING code_hash"
        ));
        assert!(!reads("WITH x AS (SELECT 1) DELETE FROM t"));
        assert!(!reads("DELETE FROM t"));
        assert!(!reads(""));
    }
}

/// Whether a failed query runs again.
#[derive(Clone, Copy, PartialEq)]
enum Retry {
    /// When SQLite was busy (the statement did not run).
    Busy,
    /// Also after D1's internal error, when the statement only reads (`reads`).
    Read,
}

async fn unless_busy<T, F, Fut>(sql: &str, retry: Retry, query: F) -> ApiResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = worker::Result<T>>,
{
    delay::d1().await;
    let mut wait_ms = 10;
    let passing = |e: &worker::Error| {
        let text = e.to_string();
        text.contains(BUSY) || (retry == Retry::Read && text.contains(INTERNAL) && reads(sql))
    };
    loop {
        match query().await {
            Err(e) if wait_ms <= 20 && passing(&e) => {
                worker::Delay::from(std::time::Duration::from_millis(wait_ms)).await;
                wait_ms *= 2;
            }
            result => return result.map_err(|e| context(sql, e)),
        }
    }
}

pub fn stmt(db: &D1Database, sql: &str, args: &[JsValue]) -> ApiResult<D1PreparedStatement> {
    db.prepare(sql).bind(args).map_err(|e| context(sql, e))
}

pub async fn all<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> ApiResult<Vec<T>> {
    let statement = stmt(db, sql, args)?;
    let result = unless_busy(sql, Retry::Read, || statement.all()).await?;
    if let Some(err) = result.error() {
        return Err(context(sql, err));
    }
    result.results::<T>().map_err(|e| context(sql, e))
}

pub async fn first<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> ApiResult<Option<T>> {
    let statement = stmt(db, sql, args)?;
    unless_busy(sql, Retry::Read, || statement.first::<T>(None)).await
}

/// Runs a statement and returns how many rows it changed.
pub async fn run(db: &D1Database, sql: &str, args: &[JsValue]) -> ApiResult<usize> {
    let statement = stmt(db, sql, args)?;
    let result = unless_busy(sql, Retry::Busy, || statement.run()).await?;
    Ok(changes(&result))
}

/// Runs statements in one transaction: all or none.
pub async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> ApiResult<Vec<D1Result>> {
    unless_busy("batch", Retry::Busy, || db.batch(statements.clone())).await
}

pub fn changes(result: &D1Result) -> usize {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

/// Whether a D1 error is a UNIQUE constraint violation (a conflict, not a fault).
pub fn is_unique_violation(e: &ApiError) -> bool {
    matches!(e, ApiError::Internal(m) if m.contains("UNIQUE constraint failed"))
}
