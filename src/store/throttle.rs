//! Fixed-window counters in D1: atomic across isolates and locations.
//!
//! An attempt is counted before the work it guards (an argon2 hash, an account), in one
//! statement that also says whether it fits, so parallel attempts never get past the limit:
//! the 11th of 40 simultaneous wrong passwords is refused without being checked.

use serde::Deserialize;
use worker::D1Database;

use super::{batch, n, run, s, stmt};
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
struct Window {
    count: i64,
    window_start: i64,
}

/// An attempt that was counted, so that it can be taken back (`refund`).
pub struct Attempt {
    key: String,
    window_start: i64,
}

/// At most this many expired rows are deleted at a time.
const PRUNE_BATCH: i64 = 500;

/// Counts one attempt against `key` (a new window when the last one is over); 429 with the
/// seconds left in the window when the count goes past `limit`. The refused attempt is
/// counted too: a client that keeps trying does not shorten its wait.
pub async fn admit(
    db: &D1Database,
    key: &str,
    limit: u32,
    window_secs: u32,
    now: i64,
) -> ApiResult<Attempt> {
    let window_ms = window_secs as i64 * 1000;
    let results = batch(
        db,
        vec![
            stmt(
                db,
                "INSERT INTO throttle (key, window_start, count, expires_at) VALUES (?1, ?2, 1, ?2 + ?3)
                 ON CONFLICT(key) DO UPDATE SET
                   count = CASE WHEN throttle.expires_at <= ?2 THEN 1 ELSE throttle.count + 1 END,
                   window_start = CASE WHEN throttle.expires_at <= ?2 THEN ?2 ELSE throttle.window_start END,
                   expires_at = CASE WHEN throttle.expires_at <= ?2 THEN ?2 + ?3 ELSE throttle.expires_at END
                 RETURNING count, window_start",
                &[s(key), n(now), n(window_ms)],
            )?,
            // Every admission also deletes a bounded batch of windows that are over, so the
            // table holds about as many rows as there are live windows.
            stmt(
                db,
                "DELETE FROM throttle WHERE key IN
                   (SELECT key FROM throttle WHERE expires_at <= ?1 LIMIT ?2)",
                &[n(now), n(PRUNE_BATCH)],
            )?,
        ],
    )
    .await?;
    let w = results
        .first()
        .and_then(|r| r.results::<Window>().ok())
        .and_then(|rows| rows.into_iter().next())
        .ok_or_else(|| ApiError::internal("throttle upsert returned no row"))?;
    if w.count > limit as i64 {
        let left = w.window_start + window_ms - now;
        return Err(ApiError::RateLimited((left / 1000).max(1) as u64));
    }
    Ok(Attempt {
        key: key.to_string(),
        window_start: w.window_start,
    })
}

/// Takes back an attempt that turned out not to count (a login that succeeded), if its
/// window is still the current one.
pub async fn refund(db: &D1Database, attempt: &Attempt) -> ApiResult<()> {
    run(
        db,
        "UPDATE throttle SET count = count - 1 WHERE key = ?1 AND window_start = ?2 AND count > 0",
        &[s(&attempt.key), n(attempt.window_start)],
    )
    .await?;
    Ok(())
}

/// Forgets every attempt against `key`.
pub async fn reset(db: &D1Database, key: &str) -> ApiResult<()> {
    run(db, "DELETE FROM throttle WHERE key = ?1", &[s(key)]).await?;
    Ok(())
}
