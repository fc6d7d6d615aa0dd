//! The queue of Durable Objects to wipe (`object_wipes`, see `crate::wipes`): statements that
//! queue what a deletion leaves behind, put in the deletion's own batch, and the reads and
//! deletes of the queue itself.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use super::{all, n, run, s, stmt};
use crate::error::ApiResult;

/// What an entry names: a conversation's object, an org's objects (its limiter and its webhook
/// dispatcher), or a user's limiter.
pub const CONVERSATION: &str = "conversation";
pub const ORG: &str = "org";
pub const USER_LIMITER: &str = "user_limiter";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wipe {
    pub kind: String,
    pub name: String,
}

impl Wipe {
    pub fn new(kind: &str, name: &str) -> Self {
        Wipe {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

/// Queues the objects of what an account's deletion removes: its own conversations, the orgs
/// it alone owns (`orgs`, deleted in the same batch) with their conversations, and its limiter.
/// To be run in the deletion's batch, before the rows go.
pub fn queue_user(
    db: &D1Database,
    user_id: &str,
    orgs: &[String],
    now: i64,
) -> ApiResult<Vec<D1PreparedStatement>> {
    let orgs = serde_json::to_string(orgs)?;
    Ok(vec![
        stmt(
            db,
            "INSERT OR IGNORE INTO object_wipes (kind, name, queued_at)
             SELECT 'conversation', id, ?2 FROM conversations
             WHERE user_id = ?1 OR org_id IN (SELECT value FROM json_each(?3))",
            &[s(user_id), n(now), s(&orgs)],
        )?,
        stmt(
            db,
            "INSERT OR IGNORE INTO object_wipes (kind, name, queued_at)
             SELECT 'org', value, ?1 FROM json_each(?2)",
            &[n(now), s(&orgs)],
        )?,
        stmt(
            db,
            "INSERT OR IGNORE INTO object_wipes (kind, name, queued_at) VALUES ('user_limiter', ?1, ?2)",
            &[s(user_id), n(now)],
        )?,
    ])
}

/// Queues the objects of an org being deleted: its conversations and its own objects.
pub fn queue_org(db: &D1Database, org_id: &str, now: i64) -> ApiResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        stmt(
            db,
            "INSERT OR IGNORE INTO object_wipes (kind, name, queued_at)
             SELECT 'conversation', id, ?2 FROM conversations WHERE org_id = ?1",
            &[s(org_id), n(now)],
        )?,
        stmt(
            db,
            "INSERT OR IGNORE INTO object_wipes (kind, name, queued_at) VALUES ('org', ?1, ?2)",
            &[s(org_id), n(now)],
        )?,
    ])
}

/// The oldest `limit` queued wipes.
pub async fn due(db: &D1Database, limit: usize) -> ApiResult<Vec<Wipe>> {
    all(
        db,
        "SELECT kind, name FROM object_wipes ORDER BY queued_at, kind, name LIMIT ?1",
        &[n(limit as i64)],
    )
    .await
}

/// Takes wiped objects off the queue.
pub async fn done(db: &D1Database, wiped: &[Wipe]) -> ApiResult<usize> {
    if wiped.is_empty() {
        return Ok(0);
    }
    run(
        db,
        "DELETE FROM object_wipes WHERE (kind, name) IN
           (SELECT json_extract(value, '$.kind'), json_extract(value, '$.name') FROM json_each(?1))",
        &[s(&serde_json::to_string(wiped)?)],
    )
    .await
}
