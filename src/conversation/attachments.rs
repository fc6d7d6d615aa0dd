//! The images sent with user messages, kept in the conversation's SQLite with the message:
//! what they are (`messages.attachments`, JSON, read with every page of messages) and their
//! base64 in `attachment_chunks`, cut in pieces of `CHUNK_CHARS` because a value of Durable
//! Object SQLite is at most 2 MB. Kept as base64: what every provider is sent, in every later
//! turn, without encoding it again.

use serde::{Deserialize, Serialize};
use worker::{SqlStorage, SqlStorageValue};

use crate::domain::attachment::ImageAttachment;
use crate::error::{ApiError, ApiResult};

/// Base64 characters per stored piece (a multiple of 4, well under the 2 MB a value may be).
pub const CHUNK_CHARS: usize = 1_000_000;
const _: () = assert!(CHUNK_CHARS.is_multiple_of(4) && CHUNK_CHARS < 2_000_000);

pub const TABLE: &str = "CREATE TABLE IF NOT EXISTS attachment_chunks (
    message_id TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    part       INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (message_id, idx, part)
)";

/// What the message listing shows of an attachment (its bytes are at
/// `GET …/messages/{message_id}/attachments/{index}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentView {
    /// `image` (inline, or an uploaded file), `document` or `text` (uploaded files).
    #[serde(rename = "type")]
    pub kind: String,
    pub media_type: String,
    pub size: u64,
    /// An uploaded file's id (its bytes at `GET /api/files/{id}`) and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl AttachmentView {
    pub fn of(a: &ImageAttachment) -> Self {
        AttachmentView {
            kind: "image".into(),
            media_type: a.media_type.clone(),
            size: a.size as u64,
            file_id: None,
            name: None,
        }
    }
}

/// The stored description (`None` without attachments).
pub fn to_json(views: &[AttachmentView]) -> Option<String> {
    (!views.is_empty())
        .then(|| serde_json::to_string(views).ok())
        .flatten()
}

/// The stored description read back.
pub fn parse(stored: Option<&str>) -> Vec<AttachmentView> {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

fn exec(sql: &SqlStorage, query: &str, args: Vec<SqlStorageValue>) -> ApiResult<()> {
    sql.exec(query, args)
        .map(|_| ())
        .map_err(|e| ApiError::internal(format!("DO SQL: {e}")))
}

/// Stores the base64 of a message's attachments, in order.
pub fn insert(sql: &SqlStorage, message_id: &str, data: &[&str]) -> ApiResult<()> {
    for (idx, b64) in data.iter().enumerate() {
        // Base64 is ASCII: any byte offset is a character boundary.
        for (part, piece) in b64.as_bytes().chunks(CHUNK_CHARS).enumerate() {
            let piece = std::str::from_utf8(piece).map_err(ApiError::internal)?;
            exec(
                sql,
                "INSERT INTO attachment_chunks (message_id, idx, part, data) VALUES (?, ?, ?, ?)",
                vec![
                    message_id.into(),
                    (idx as i64).into(),
                    (part as i64).into(),
                    piece.into(),
                ],
            )?;
        }
    }
    Ok(())
}

/// The base64 of a message's attachment `idx`, if stored.
pub fn load(sql: &SqlStorage, message_id: &str, idx: usize) -> ApiResult<Option<String>> {
    #[derive(Deserialize)]
    struct Piece {
        data: String,
    }
    let pieces: Vec<Piece> = sql
        .exec(
            "SELECT data FROM attachment_chunks WHERE message_id = ? AND idx = ? ORDER BY part",
            vec![message_id.into(), (idx as i64).into()],
        )?
        .to_array()?;
    if pieces.is_empty() {
        return Ok(None);
    }
    Ok(Some(pieces.into_iter().map(|p| p.data).collect()))
}

/// Forgets the attachments of these messages.
pub fn delete(sql: &SqlStorage, message_ids: &[&str]) -> ApiResult<()> {
    for id in message_ids {
        exec(
            sql,
            "DELETE FROM attachment_chunks WHERE message_id = ?",
            vec![(*id).into()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_description_round_trips_and_is_absent_without_attachments() {
        let views = vec![AttachmentView {
            kind: "image".into(),
            media_type: "image/png".into(),
            size: 70,
            file_id: None,
            name: None,
        }];
        let stored = to_json(&views).unwrap();
        assert_eq!(
            stored,
            r#"[{"type":"image","media_type":"image/png","size":70}]"#
        );
        assert_eq!(parse(Some(&stored)), views);
        assert_eq!(to_json(&[]), None);
        assert_eq!(parse(None), vec![]);
    }
}
