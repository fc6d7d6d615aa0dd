//! All D1 and KV access. Nothing else touches the bindings: handlers call named methods.

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

use crate::error::{ApiError, ApiResult};

pub mod audit;
pub mod conversations;
pub mod delay;
pub mod dev_mailbox;
pub mod email_tokens;
pub mod embed;
pub mod identities;
pub mod invitations;
pub mod keys;
pub mod mfa;
pub mod orgs;
pub mod passkeys;
pub mod provider_keys;
pub mod sessions;
pub mod throttle;
pub mod upkeep;
pub mod usage;
pub mod users;
pub mod webhooks;

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

pub fn stmt(db: &D1Database, sql: &str, args: &[JsValue]) -> ApiResult<D1PreparedStatement> {
    db.prepare(sql).bind(args).map_err(|e| context(sql, e))
}

pub async fn all<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> ApiResult<Vec<T>> {
    let statement = stmt(db, sql, args)?;
    delay::d1().await;
    let result = statement.all().await.map_err(|e| context(sql, e))?;
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
    delay::d1().await;
    statement
        .first::<T>(None)
        .await
        .map_err(|e| context(sql, e))
}

/// Runs a statement and returns how many rows it changed.
pub async fn run(db: &D1Database, sql: &str, args: &[JsValue]) -> ApiResult<usize> {
    let statement = stmt(db, sql, args)?;
    delay::d1().await;
    let result = statement.run().await.map_err(|e| context(sql, e))?;
    Ok(changes(&result))
}

/// Runs statements in one transaction: all or none.
pub async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> ApiResult<Vec<D1Result>> {
    delay::d1().await;
    db.batch(statements).await.map_err(|e| context("batch", e))
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
