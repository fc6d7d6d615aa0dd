//! Conversation retention: an org's `settings.conversation_retention_days` (null keeps them)
//! makes the scheduled upkeep (`crate::upkeep`) delete its conversations whose last activity is
//! older than that, their messages (Durable Object storage) first.

use serde::Deserialize;
use worker::D1Database;

use super::{all, n, run, s};
use crate::error::ApiResult;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The conversations past their org's retention at `?1`: through the orgs that set one (a
/// scan of the orgs table) and each one's conversations by last activity (an index).
const DUE: &str = "SELECT c.id FROM orgs o
     JOIN conversations c ON c.org_id = o.id
     WHERE CASE WHEN json_valid(o.settings)
                THEN typeof(json_extract(o.settings, '$.conversation_retention_days')) = 'integer'
                ELSE 0 END
       AND c.last_activity <= ?1 - json_extract(o.settings, '$.conversation_retention_days') * ?2";

/// At most `limit` conversations past their org's retention at `now`.
pub async fn due(db: &D1Database, now: i64, limit: usize) -> ApiResult<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Vec<Id> = all(
        db,
        &format!("{DUE} LIMIT ?3"),
        &[n(now), n(DAY_MS), n(limit as i64)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Deletes the rows of `ids` that are still past their retention at `now` (one written to
/// since `due` stays, with the messages it has now): how many went.
pub async fn delete(db: &D1Database, ids: &[String], now: i64) -> ApiResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    run(
        db,
        &format!(
            "DELETE FROM conversations WHERE id IN (SELECT value FROM json_each(?3))
               AND id IN ({DUE})"
        ),
        &[n(now), n(DAY_MS), s(&serde_json::to_string(ids)?)],
    )
    .await
}
