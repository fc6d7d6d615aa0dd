//! The messages of a conversation form a tree: each message has a parent (`parent_id`;
//! NULL for a first message), an edit is a new user message beside the one it replaces, a
//! regeneration a new reply beside the old one. The conversation remembers its current leaf;
//! the current branch is the path from the root down to it.
//!
//! Every read walks parent links (an indexed lookup a step) from a known message, so the
//! newest page of a branch costs the same in a tree of thousands of messages as in a line.

use serde::{Deserialize, Serialize};
use worker::{SqlStorage, SqlStorageValue};

use super::protocol::MessageView;
use super::{MessageRow, MESSAGE_COLUMNS};
use crate::error::{ApiError, ApiResult};

pub const STATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS tree_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)";
/// Children of a message in order of creation: siblings counted, the newest child found.
pub const PARENT_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS messages_by_parent ON messages (parent_id, seq)";

/// Where a send puts its messages.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Branch {
    /// A new user message under the current leaf, and its reply.
    #[default]
    Leaf,
    /// A new user message under this message (an edit: a sibling of the message it replaces),
    /// or, with `None`, a new first message.
    Under(Option<String>),
    /// A new reply beside this assistant reply (to the same user message).
    Regenerate(String),
}

/// Gives an object written before branches its single path: each message's parent is the
/// one before it (by `seq`), the newest message the leaf. Run once, when `parent_id` is added.
pub fn linearize(sql: &SqlStorage) {
    let _ = sql.exec(
        "UPDATE messages SET parent_id = (SELECT p.id FROM messages p WHERE p.seq < messages.seq
                                          ORDER BY p.seq DESC LIMIT 1)",
        None,
    );
    let _ = sql.exec(
        "INSERT OR REPLACE INTO tree_state (key, value)
         SELECT 'leaf', id FROM messages ORDER BY seq DESC LIMIT 1",
        None,
    );
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

#[derive(Deserialize)]
struct Id {
    id: Option<String>,
}

/// The end of the current branch (`None`: the conversation is empty).
pub fn leaf(sql: &SqlStorage) -> ApiResult<Option<String>> {
    let rows: Vec<Value> = sql
        .exec("SELECT value FROM tree_state WHERE key = 'leaf'", None)?
        .to_array()?;
    Ok(rows.into_iter().next().map(|r| r.value))
}

pub fn set_leaf(sql: &SqlStorage, id: Option<&str>) -> ApiResult<()> {
    match id {
        Some(id) => sql.exec(
            "INSERT OR REPLACE INTO tree_state (key, value) VALUES ('leaf', ?)",
            vec![id.into()],
        )?,
        None => sql.exec("DELETE FROM tree_state WHERE key = 'leaf'", None)?,
    };
    Ok(())
}

/// The deepest message reached from `id` by always taking the newest child: where the
/// branch through `id` ends (switching to a message shows the replies that follow it).
pub fn newest_end(sql: &SqlStorage, id: &str) -> ApiResult<String> {
    let rows: Vec<Id> = sql
        .exec(
            "WITH RECURSIVE down(id, depth) AS (
                 SELECT ?, 0
                 UNION ALL
                 SELECT (SELECT c.id FROM messages c WHERE c.parent_id = down.id
                         ORDER BY c.seq DESC LIMIT 1), depth + 1
                 FROM down WHERE down.id IS NOT NULL)
             SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1",
            vec![id.into()],
        )?
        .to_array()?;
    rows.into_iter()
        .next()
        .and_then(|r| r.id)
        .ok_or_else(|| ApiError::internal("a branch walk found no message"))
}

/// `MESSAGE_COLUMNS` of the table aliased `m`.
fn columns_of_m() -> String {
    MESSAGE_COLUMNS
        .split(',')
        .map(|c| format!("m.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A message with where it sits among its siblings.
#[derive(Deserialize)]
pub struct PathRow {
    #[serde(flatten)]
    pub row: MessageRow,
    pub sibling_count: i64,
    pub sibling_index: i64,
    pub previous_sibling_id: Option<String>,
    pub next_sibling_id: Option<String>,
}

impl PathRow {
    pub fn view(&self) -> MessageView {
        let mut v = self.row.view();
        v.sibling_count = self.sibling_count.max(1) as u64;
        v.sibling_index = self.sibling_index.max(0) as u64;
        v.previous_sibling_id = self.previous_sibling_id.clone();
        v.next_sibling_id = self.next_sibling_id.clone();
        v
    }
}

/// Walks up from `?1` to at most `?2` messages: the CTE `up(id, depth)`.
const UP: &str = "WITH RECURSIVE up(id, depth) AS (
         SELECT ?, 0
         UNION ALL
         SELECT m.parent_id, up.depth + 1 FROM up JOIN messages m ON m.id = up.id
         WHERE m.parent_id IS NOT NULL AND up.depth + 1 < ?)";

/// `from` and up to `limit - 1` of its ancestors, nearest first, with their places among
/// their siblings.
pub fn path(sql: &SqlStorage, from: &str, limit: i64) -> ApiResult<Vec<PathRow>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let query = format!(
        "{UP}
         SELECT {},
             (SELECT COUNT(*) FROM messages s WHERE s.parent_id IS m.parent_id) AS sibling_count,
             (SELECT COUNT(*) FROM messages s WHERE s.parent_id IS m.parent_id AND s.seq < m.seq)
                 AS sibling_index,
             (SELECT s.id FROM messages s WHERE s.parent_id IS m.parent_id AND s.seq < m.seq
              ORDER BY s.seq DESC LIMIT 1) AS previous_sibling_id,
             (SELECT s.id FROM messages s WHERE s.parent_id IS m.parent_id AND s.seq > m.seq
              ORDER BY s.seq LIMIT 1) AS next_sibling_id
         FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth",
        columns_of_m()
    );
    Ok(sql
        .exec(&query, vec![from.into(), SqlStorageValue::from(limit)])?
        .to_array()?)
}

/// `from` and up to `limit - 1` of its ancestors, nearest first.
pub fn ancestors(sql: &SqlStorage, from: &str, limit: i64) -> ApiResult<Vec<MessageRow>> {
    let query = format!(
        "{UP} SELECT {} FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth",
        columns_of_m()
    );
    Ok(sql
        .exec(&query, vec![from.into(), SqlStorageValue::from(limit)])?
        .to_array()?)
}

/// A message's view with its place among its siblings.
pub fn view(sql: &SqlStorage, id: &str) -> ApiResult<Option<MessageView>> {
    Ok(path(sql, id, 1)?.first().map(PathRow::view))
}

/// How many children `parent` has (`None`: how many first messages there are), and the
/// newest: the place of a message about to be added under it, and its previous sibling.
pub fn children(sql: &SqlStorage, parent: Option<&str>) -> ApiResult<(u64, Option<String>)> {
    #[derive(Deserialize)]
    struct Count {
        n: i64,
        newest: Option<String>,
    }
    let parent = parent.map_or(SqlStorageValue::Null, SqlStorageValue::from);
    let rows: Vec<Count> = sql
        .exec(
            "SELECT COUNT(*) AS n, (SELECT id FROM messages WHERE parent_id IS ?1
                                    ORDER BY seq DESC LIMIT 1) AS newest
             FROM messages WHERE parent_id IS ?1",
            vec![parent],
        )?
        .to_array()?;
    Ok(rows
        .into_iter()
        .next()
        .map_or((0, None), |c| (c.n.max(0) as u64, c.newest)))
}
