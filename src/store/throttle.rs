//! Fixed-window counters in D1: atomic across isolates and locations.

use serde::Deserialize;
use worker::D1Database;

use super::{first, n, s};
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
struct Window {
    count: i64,
    window_start: i64,
}

/// 429 with the seconds left in the window when `key` has reached `limit`.
pub async fn check(
    db: &D1Database,
    key: &str,
    limit: u32,
    window_secs: u32,
    now: i64,
) -> ApiResult<()> {
    let w: Option<Window> = first(
        db,
        "SELECT count, window_start FROM throttle WHERE key = ?1",
        &[s(key)],
    )
    .await?;
    if let Some(w) = w {
        let window_end = w.window_start + window_secs as i64 * 1000;
        if window_end > now && w.count >= limit as i64 {
            return Err(ApiError::RateLimited(
                ((window_end - now) / 1000).max(1) as u64
            ));
        }
    }
    Ok(())
}

/// Counts one event against `key`, starting a new window when the last one is over.
pub async fn hit(db: &D1Database, key: &str, window_secs: u32, now: i64) -> ApiResult<i64> {
    let cutoff = now - window_secs as i64 * 1000;
    let w: Option<Window> = first(
        db,
        "INSERT INTO throttle (key, window_start, count) VALUES (?1, ?2, 1)
         ON CONFLICT(key) DO UPDATE SET
           count = CASE WHEN throttle.window_start <= ?3 THEN 1 ELSE throttle.count + 1 END,
           window_start = CASE WHEN throttle.window_start <= ?3 THEN ?2 ELSE throttle.window_start END
         RETURNING count, window_start",
        &[s(key), n(now), n(cutoff)],
    )
    .await?;
    Ok(w.map(|w| w.count).unwrap_or(1))
}

pub async fn reset(db: &D1Database, key: &str) -> ApiResult<()> {
    super::run(db, "DELETE FROM throttle WHERE key = ?1", &[s(key)]).await?;
    Ok(())
}
