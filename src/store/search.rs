//! The full-text index of conversations (migration 0015): SQLite FTS5 in D1, over
//! `search_entries` (a conversation's title, `message_id` '', and its messages' text).
//!
//! Titles are indexed by triggers on `conversations`; messages by `index` when they complete.
//! Entries go with their conversation (ON DELETE CASCADE), so no deletion path has to
//! remember the index.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, batch, n, opt_s, s, stmt};
use crate::domain::search_query::SearchQuery;
use crate::error::ApiResult;

/// Where a snippet's highlighted match starts and ends (STX and ETX: control characters,
/// which are taken out of the text that is indexed, so the text never holds them).
pub const MARK_START: char = '\u{2}';
pub const MARK_END: char = '\u{3}';
/// About how many words a snippet has.
const SNIPPET_WORDS: u32 = 12;

/// The text of a message as indexed: control characters (the snippet markers among them)
/// become spaces.
fn indexable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// How much text one indexing statement carries (D1 takes up to 2 MB per value).
const INDEX_CHUNK_BYTES: usize = 900 * 1024;

/// Indexes (or re-indexes) messages of a conversation: `(message_id, text)`, in one statement
/// per ~900 KiB of text (an import's long conversation stays a few queries). A conversation
/// that is gone by now indexes nothing.
pub async fn index(
    db: &D1Database,
    conversation_id: &str,
    messages: &[(&str, &str)],
) -> ApiResult<()> {
    let mut chunks: Vec<Vec<(String, String)>> = Vec::new();
    let mut size = 0;
    for (id, text) in messages {
        if id.is_empty() || text.trim().is_empty() {
            continue;
        }
        let text = indexable(text);
        if chunks.is_empty() || size + text.len() > INDEX_CHUNK_BYTES {
            chunks.push(Vec::new());
            size = 0;
        }
        size += text.len();
        if let Some(chunk) = chunks.last_mut() {
            chunk.push((id.to_string(), text));
        }
    }
    let statements = chunks
        .iter()
        .map(|chunk| {
            let rows = serde_json::to_string(chunk)?;
            stmt(
                db,
                "INSERT INTO search_entries (conversation_id, message_id, owner, body)
                 SELECT c.id, j.value ->> 0, hex(c.user_id), j.value ->> 1
                 FROM conversations c, json_each(?2) j WHERE c.id = ?1
                 ON CONFLICT (conversation_id, message_id) DO UPDATE SET body = excluded.body",
                &[s(conversation_id), s(&rows)],
            )
        })
        .collect::<ApiResult<Vec<_>>>()?;
    if !statements.is_empty() {
        batch(db, statements).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct HitRow {
    pub entry: i64,
    pub conversation_id: String,
    pub message_id: String,
    pub title: String,
    pub snippet: String,
}

#[derive(Serialize)]
pub struct HitView {
    pub conversation_id: String,
    /// None for a match in the title.
    pub message_id: Option<String>,
    pub title: String,
    pub snippet: String,
}

impl HitRow {
    pub fn view(&self) -> HitView {
        HitView {
            conversation_id: self.conversation_id.clone(),
            message_id: (!self.message_id.is_empty()).then(|| self.message_id.clone()),
            title: self.title.clone(),
            snippet: self.snippet.clone(),
        }
    }
}

/// SQLite's `hex()` of a text: the owner token of a user's entries.
fn owner_token(user_id: &str) -> String {
    user_id.bytes().map(|b| format!("{b:02X}")).collect()
}

/// A page of the user's matches, newest entry first, before entry `before`: only in
/// conversations the user owns, in orgs they still belong to (checked now, not when indexed),
/// of `org_id` if given, and for a session only in orgs it may reach (`auth::sso`).
pub async fn search(
    db: &D1Database,
    user_id: &str,
    query: &SearchQuery,
    org_id: Option<&str>,
    session_id: Option<&str>,
    before: i64,
    limit: usize,
) -> ApiResult<Vec<HitRow>> {
    let expression = format!(
        "owner : \"{}\" AND body : ({})",
        owner_token(user_id),
        query.expression()
    );
    all(
        db,
        &format!(
            "SELECT e.id AS entry, e.conversation_id, e.message_id, c.title,
                    snippet(search_index, 0, char(2), char(3), '…', {SNIPPET_WORDS}) AS snippet
             FROM search_index
             JOIN search_entries e ON e.id = search_index.rowid
             JOIN conversations c ON c.id = e.conversation_id
             WHERE search_index MATCH ?1 AND search_index.rowid < ?2
               AND c.user_id = ?3 AND (?4 IS NULL OR c.org_id = ?4)
               AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.org_id AND m.user_id = c.user_id)
               AND (?5 IS NULL OR {})
             ORDER BY search_index.rowid DESC LIMIT ?6",
            super::identities::sso_allows_sql("c.org_id", "?5")
        ),
        &[
            s(&expression),
            n(before),
            s(user_id),
            opt_s(org_id),
            opt_s(session_id),
            n(limit as i64),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_token_is_sqlites_hex_of_the_id() {
        assert_eq!(owner_token("usr_a1"), "7573725F6131");
    }

    #[test]
    fn indexed_text_holds_no_snippet_marker() {
        let text = indexable("a\u{2}b\u{3}c\nd");
        assert!(!text.contains(MARK_START) && !text.contains(MARK_END));
        assert_eq!(text, "a b c d");
    }
}
