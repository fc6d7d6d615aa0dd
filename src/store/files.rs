//! Uploaded files: their rows in D1 (`files`, migration 0016) and their bytes in the `FILES`
//! R2 bucket.
//!
//! An upload reserves its row first, with the size it declared, in one statement that also
//! counts the org's files against its quota: concurrent uploads never pass it together. The
//! bytes go to R2 after; the row turns `ready` once they are there, or goes if they never get
//! there. A `pending` row older than `PENDING_TTL_MS` (an upload cut off by a crash) no
//! longer counts.

use serde::{Deserialize, Serialize};
use worker::{Bucket, D1Database, Env};

use super::{all, first, n, run, s};
use crate::error::{ApiError, ApiResult};

pub const BUCKET: &str = "FILES";
/// How long a reservation holds quota without its bytes.
pub const PENDING_TTL_MS: i64 = 15 * 60 * 1000;
/// R2 deletes at most this many keys in one call.
const DELETE_BATCH: i64 = 1000;

pub fn bucket(env: &Env) -> ApiResult<Bucket> {
    env.bucket(BUCKET)
        .map_err(|e| ApiError::internal(format!("R2 binding: {e}")))
}

#[derive(Clone, Debug, Deserialize)]
pub struct FileRow {
    pub id: String,
    pub owner_id: String,
    pub org_id: String,
    pub conversation_id: Option<String>,
    pub name: String,
    pub media_type: String,
    pub size: i64,
    pub r2_key: String,
    pub created_at: i64,
}

/// What the API shows of a file.
#[derive(Clone, Debug, Serialize)]
pub struct FileView {
    pub id: String,
    pub name: String,
    pub media_type: String,
    pub size: i64,
}

impl FileRow {
    pub fn view(&self) -> FileView {
        FileView {
            id: self.id.clone(),
            name: self.name.clone(),
            media_type: self.media_type.clone(),
            size: self.size,
        }
    }
}

const COLUMNS: &str =
    "f.id, f.owner_id, f.org_id, f.conversation_id, f.name, f.media_type, f.size, f.r2_key, f.created_at";

/// Reserves `row` (pending) if the org's files, with it, stay within `quota` bytes: false
/// when they would not. One statement: SQLite runs it alone, so the count it reads is the
/// count it writes against.
pub async fn reserve(db: &D1Database, row: &FileRow, quota: u64, now: i64) -> ApiResult<bool> {
    let inserted = run(
        db,
        "INSERT INTO files (id, owner_id, org_id, conversation_id, name, media_type, size, r2_key, status, created_at)
         SELECT ?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, 'pending', ?8
         WHERE (SELECT COALESCE(SUM(size), 0) FROM files
                WHERE org_id = ?3 AND (status = 'ready' OR created_at > ?9)) + ?6 <= ?10",
        &[
            s(&row.id),
            s(&row.owner_id),
            s(&row.org_id),
            s(&row.name),
            s(&row.media_type),
            n(row.size),
            s(&row.r2_key),
            n(now),
            n(now - PENDING_TTL_MS),
            n(i64::try_from(quota).unwrap_or(i64::MAX).min(crate::util::JS_MAX_SAFE)),
        ],
    )
    .await?;
    Ok(inserted == 1)
}

/// The reservation's bytes are in R2: false if the row went meanwhile (its org or owner
/// was deleted), and then the bytes must go too.
pub async fn mark_ready(db: &D1Database, id: &str) -> ApiResult<bool> {
    Ok(run(
        db,
        "UPDATE files SET status = 'ready' WHERE id = ?1 AND status = 'pending'",
        &[s(id)],
    )
    .await?
        == 1)
}

/// Drops a reservation whose bytes never reached R2.
pub async fn unreserve(db: &D1Database, id: &str) -> ApiResult<()> {
    run(
        db,
        "DELETE FROM files WHERE id = ?1 AND status = 'pending'",
        &[s(id)],
    )
    .await?;
    Ok(())
}

/// The file, if `user_id` may read it: its owner, or one who can read a conversation it was
/// sent in (a member of that conversation's org whose conversation it is). An API key reads
/// only files of its own org (`key_org`).
pub async fn readable(
    db: &D1Database,
    id: &str,
    user_id: &str,
    key_org: Option<&str>,
) -> ApiResult<Option<FileRow>> {
    first(
        db,
        &format!(
            "SELECT {COLUMNS} FROM files f
             WHERE f.id = ?1 AND f.status = 'ready' AND (?3 IS NULL OR f.org_id = ?3)
               AND (f.owner_id = ?2 OR EXISTS (
                     SELECT 1 FROM conversations c
                     JOIN memberships m ON m.org_id = c.org_id AND m.user_id = ?2
                     WHERE c.id = f.conversation_id AND c.user_id = ?2))"
        ),
        &[s(id), s(user_id), super::opt_s(key_org)],
    )
    .await
}

/// The file, if it was sent in `conversation_id` (what that conversation's share links show).
pub async fn sent_in(
    db: &D1Database,
    id: &str,
    conversation_id: &str,
) -> ApiResult<Option<FileRow>> {
    first(
        db,
        &format!(
            "SELECT {COLUMNS} FROM files f
             WHERE f.id = ?1 AND f.status = 'ready' AND f.conversation_id = ?2"
        ),
        &[s(id), s(conversation_id)],
    )
    .await
}

/// The file, if `user_id` owns it (and an API key's org holds it).
pub async fn owned(
    db: &D1Database,
    id: &str,
    user_id: &str,
    key_org: Option<&str>,
) -> ApiResult<Option<FileRow>> {
    first(
        db,
        &format!(
            "SELECT {COLUMNS} FROM files f
             WHERE f.id = ?1 AND f.status = 'ready' AND f.owner_id = ?2
               AND (?3 IS NULL OR f.org_id = ?3)"
        ),
        &[s(id), s(user_id), super::opt_s(key_org)],
    )
    .await
}

/// Ties the owner's file to a conversation of the same org it is sent in: false when it is
/// not theirs, not ready, of another org, or already sent in another conversation.
pub async fn attach(
    db: &D1Database,
    id: &str,
    user_id: &str,
    org_id: &str,
    conversation_id: &str,
) -> ApiResult<Option<FileRow>> {
    let changed = run(
        db,
        "UPDATE files SET conversation_id = ?4
         WHERE id = ?1 AND owner_id = ?2 AND org_id = ?3 AND status = 'ready'
           AND (conversation_id IS NULL OR conversation_id = ?4)",
        &[s(id), s(user_id), s(org_id), s(conversation_id)],
    )
    .await?;
    if changed == 0 {
        return Ok(None);
    }
    first(
        db,
        &format!("SELECT {COLUMNS} FROM files f WHERE f.id = ?1"),
        &[s(id)],
    )
    .await
}

/// Whose files `purge` deletes.
#[derive(Clone, Copy, Debug)]
pub enum Of<'a> {
    Conversation(&'a str),
    /// Several at once (one read for all).
    Conversations(&'a [String]),
    Owner(&'a str),
    Org(&'a str),
    File(&'a str),
}

impl Of<'_> {
    fn condition(&self) -> ApiResult<(&'static str, String)> {
        Ok(match self {
            Of::Conversation(id) => ("conversation_id = ?1", id.to_string()),
            Of::Conversations(ids) => (
                "conversation_id IN (SELECT value FROM json_each(?1))",
                serde_json::to_string(ids)?,
            ),
            Of::Owner(id) => ("owner_id = ?1", id.to_string()),
            Of::Org(id) => ("org_id = ?1", id.to_string()),
            Of::File(id) => ("id = ?1", id.to_string()),
        })
    }
}

/// Deletes the files `of` (pending ones too): their R2 objects first, then their rows, a
/// thousand at a time (three subrequests per thousand files: a read, one R2 call, a delete),
/// so a failure leaves rows that name what is left and the deletion can be retried.
pub async fn purge(env: &Env, of: Of<'_>) -> ApiResult<()> {
    while !purge_some(env, of, 1).await? {}
    Ok(())
}

/// `purge` for at most `rounds` thousands of files: whether they are all gone.
pub async fn purge_some(env: &Env, of: Of<'_>, rounds: usize) -> ApiResult<bool> {
    #[derive(Deserialize)]
    struct Key {
        id: String,
        r2_key: String,
    }
    let db = env
        .d1("DB")
        .map_err(|e| ApiError::internal(format!("D1 binding: {e}")))?;
    let (condition, arg) = of.condition()?;
    for _ in 0..rounds {
        let keys: Vec<Key> = all(
            &db,
            &format!("SELECT id, r2_key FROM files WHERE {condition} LIMIT ?2"),
            &[s(&arg), n(DELETE_BATCH)],
        )
        .await?;
        if keys.is_empty() {
            return Ok(true);
        }
        bucket(env)?
            .delete_multiple(keys.iter().map(|k| k.r2_key.as_str()).collect())
            .await
            .map_err(|e| ApiError::internal(format!("R2 delete: {e}")))?;
        let ids = serde_json::to_string(&keys.iter().map(|k| &k.id).collect::<Vec<_>>())?;
        run(
            &db,
            "DELETE FROM files WHERE id IN (SELECT value FROM json_each(?1))",
            &[s(&ids)],
        )
        .await?;
        if (keys.len() as i64) < DELETE_BATCH {
            return Ok(true);
        }
    }
    Ok(false)
}
