//! Share links (migration 0015): a read-only snapshot of a conversation, stored when the link
//! is made. Rows go with their conversation and their owner (ON DELETE CASCADE).

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, batch, first, n, run, s, stmt};
use crate::error::ApiResult;
use crate::util::{rfc3339, JS_MAX_SAFE};

pub struct NewShare<'a> {
    pub id: &'a str,
    /// Where the bytes of each attachment the snapshot lists are, in its order (empty: the
    /// link shows none).
    pub attachments: &'a [AttachmentRef],
    pub include_attachments: bool,
    pub user_id: &'a str,
    pub conversation_id: &'a str,
    pub up_to_message_id: Option<&'a str>,
    pub title: &'a str,
    pub message_count: usize,
    pub snapshot: &'a str,
    pub now: i64,
}

/// Where an attachment of a share is: an image kept with `message_id` at `message_index`, or
/// the uploaded file `file_id` sent there.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct AttachmentRef {
    pub message_id: String,
    pub message_index: usize,
    pub file_id: Option<String>,
}

/// The link and its attachments' places, together.
pub async fn insert(db: &D1Database, share: &NewShare<'_>) -> ApiResult<()> {
    let link = stmt(
        db,
        "INSERT INTO shares (id, user_id, conversation_id, up_to_message_id, title, message_count, snapshot, created_at, include_attachments)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            s(share.id),
            s(share.user_id),
            s(share.conversation_id),
            super::opt_s(share.up_to_message_id),
            s(share.title),
            n(share.message_count as i64),
            s(share.snapshot),
            n(share.now),
            n(share.include_attachments as i64),
        ],
    )?;
    // One statement for them all, numbered from 0 in the snapshot's order.
    let places = stmt(
        db,
        "INSERT INTO share_attachments (share_id, idx, message_id, message_index, file_id)
         SELECT ?1, key, value ->> 'message_id', value ->> 'message_index', value ->> 'file_id'
         FROM json_each(?2)",
        &[s(share.id), s(&serde_json::to_string(share.attachments)?)],
    )?;
    batch(db, vec![link, places]).await?;
    Ok(())
}

/// A live link's attachment `idx` (see `snapshot` for live) and its conversation.
pub async fn attachment(
    db: &D1Database,
    id: &str,
    idx: i64,
) -> ApiResult<Option<(String, AttachmentRef)>> {
    #[derive(Deserialize)]
    struct Row {
        conversation_id: String,
        message_id: String,
        message_index: i64,
        file_id: Option<String>,
    }
    let row: Option<Row> = first(
        db,
        "SELECT s.conversation_id, a.message_id, a.message_index, a.file_id
         FROM share_attachments a JOIN shares s ON s.id = a.share_id
         JOIN conversations c ON c.id = s.conversation_id
         WHERE a.share_id = ?1 AND a.idx = ?2
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.org_id AND m.user_id = c.user_id)",
        &[s(id), n(idx)],
    )
    .await?;
    Ok(row.map(|r| {
        (
            r.conversation_id,
            AttachmentRef {
                message_id: r.message_id,
                message_index: usize::try_from(r.message_index).unwrap_or(usize::MAX),
                file_id: r.file_id,
            },
        )
    }))
}

#[derive(Deserialize)]
struct Snapshot {
    snapshot: String,
}

/// The snapshot of a live link: its conversation still exists and its owner still belongs to
/// the conversation's org (a conversation hidden from its owner is not public either).
pub async fn snapshot(db: &D1Database, id: &str) -> ApiResult<Option<String>> {
    let row: Option<Snapshot> = first(
        db,
        "SELECT s.snapshot FROM shares s JOIN conversations c ON c.id = s.conversation_id
         WHERE s.id = ?1
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.org_id AND m.user_id = c.user_id)",
        &[s(id)],
    )
    .await?;
    Ok(row.map(|r| r.snapshot))
}

#[derive(Deserialize)]
pub struct ShareRow {
    pub id: String,
    pub conversation_id: String,
    pub up_to_message_id: Option<String>,
    pub title: String,
    pub message_count: i64,
    pub created_at: i64,
    pub include_attachments: i64,
}

#[derive(Serialize)]
pub struct ShareView {
    pub id: String,
    pub url: String,
    pub conversation_id: String,
    pub up_to_message_id: Option<String>,
    pub title: String,
    pub message_count: i64,
    pub created_at: String,
    /// Whether the link shows the conversation's attachments.
    pub include_attachments: bool,
}

impl ShareRow {
    pub fn view(&self, origin: &str) -> ShareView {
        ShareView {
            id: self.id.clone(),
            url: url(origin, &self.id),
            conversation_id: self.conversation_id.clone(),
            up_to_message_id: self.up_to_message_id.clone(),
            title: self.title.clone(),
            message_count: self.message_count,
            created_at: rfc3339(self.created_at),
            include_attachments: self.include_attachments != 0,
        }
    }
}

/// The web client's page of a share link.
pub fn url(origin: &str, id: &str) -> String {
    format!("{origin}/s/{id}")
}

/// A page of the user's links, newest first, after the cursor (`created_at`, id).
pub async fn list(
    db: &D1Database,
    user_id: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<ShareRow>> {
    let (at, id) = after.unwrap_or((JS_MAX_SAFE, String::new()));
    all(
        db,
        "SELECT id, conversation_id, up_to_message_id, title, message_count, created_at, include_attachments FROM shares
         WHERE user_id = ?1 AND (created_at < ?2 OR (created_at = ?2 AND (?3 = '' OR id < ?3)))
         ORDER BY created_at DESC, id DESC LIMIT ?4",
        &[s(user_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// Revokes the user's link: whether there was one.
pub async fn delete(db: &D1Database, id: &str, user_id: &str) -> ApiResult<bool> {
    Ok(run(
        db,
        "DELETE FROM shares WHERE id = ?1 AND user_id = ?2",
        &[s(id), s(user_id)],
    )
    .await?
        > 0)
}
