//! One Durable Object per conversation owns its message log (SQLite storage): ordered
//! sequence numbers, one reply at a time, the reply persisted as it streams and relayed to
//! every reader, whether or not the client that asked for it is still connected.

pub mod attachments;
pub mod client;
pub mod files;
pub mod import;
pub mod protocol;
mod reply;
pub mod thoughts;
pub mod title;
pub mod tree;

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, State};

use crate::error::{ApiError, ApiResult};
use crate::http::{decode_cursor, encode_cursor, json_response, parse_json, Page};
use crate::providers::Usage;
use crate::util::rfc3339;
use protocol::*;

const MESSAGES: &str = "CREATE TABLE IF NOT EXISTS messages (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    role              TEXT NOT NULL,
    content           TEXT NOT NULL,
    model             TEXT,
    status            TEXT NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    finish_reason     TEXT,
    error_code        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    attachments       TEXT,
    reasoning         TEXT,
    parent_id         TEXT
)";

/// Columns added to `messages` after objects were created without them, for those objects:
/// `attachments` (JSON: `[{type, media_type, size}]` of a user message's images) and
/// `reasoning` (JSON: an assistant reply's `thoughts::Thought`s). Rows from before have
/// neither (NULL): no images, no reasoning. `parent_id` (`tree`): rows from before form a
/// single path, linked when the column is added.
const ADDED_COLUMNS: [(&str, &str); 3] = [
    ("attachments", "TEXT"),
    ("reasoning", "TEXT"),
    ("parent_id", "TEXT"),
];

/// Creates the tables, or brings an older object's up to date.
fn migrate(sql: &SqlStorage) {
    let _ = sql.exec(MESSAGES, None);
    let _ = sql.exec(tree::STATE_TABLE, None);
    for (column, kind) in ADDED_COLUMNS {
        // Preparing a statement that names a missing column fails: then it is added.
        if sql
            .exec(&format!("SELECT {column} FROM messages LIMIT 0"), None)
            .is_err()
        {
            let added = sql.exec(
                &format!("ALTER TABLE messages ADD COLUMN {column} {kind}"),
                None,
            );
            if column == "parent_id" && added.is_ok() {
                tree::linearize(sql);
            }
        }
    }
    let _ = sql.exec(tree::PARENT_INDEX, None);
    let _ = sql.exec(attachments::TABLE, None);
}

#[durable_object]
pub struct Conversation {
    shared: Rc<Shared>,
}

/// State shared between request handlers and the task that pumps a reply.
pub struct Shared {
    pub state: State,
    pub env: Env,
    pub sql: SqlStorage,
    pub live: RefCell<Option<reply::Live>>,
}

impl DurableObject for Conversation {
    fn new(state: State, env: Env) -> Self {
        // Reads this isolate's settings (the benchmark's storage delay among them).
        let _ = crate::config::Config::get(&env);
        let sql = state.storage().sql();
        migrate(&sql);
        // A new instance has no reply in flight: one still marked streaming was cut off
        // by an eviction or a crash. Keep its text, mark it failed.
        let _ = sql.exec(
            "UPDATE messages SET status = 'failed', error_code = 'interrupted' WHERE status = 'streaming'",
            None,
        );
        Conversation {
            shared: Rc::new(Shared {
                state,
                env,
                sql,
                live: RefCell::new(None),
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        let method = req.method().to_string();
        let result = match (method.as_str(), path.as_str()) {
            ("POST", "/send") => match req.bytes().await {
                Ok(body) => match parse_json::<SendCommand>(&body) {
                    Ok(cmd) => reply::start(self.shared.clone(), cmd).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(ApiError::internal(e)),
            },
            ("POST", "/import") => match req.bytes().await {
                Ok(body) => import::handle(&self.shared, &body),
                Err(e) => Err(ApiError::internal(e)),
            },
            ("GET", "/messages") => self.page(&req),
            ("PUT", "/leaf") => match req.bytes().await {
                Ok(body) => match parse_json::<LeafCommand>(&body) {
                    Ok(cmd) => self.switch(&cmd.message_id),
                    Err(e) => Err(e),
                },
                Err(e) => Err(ApiError::internal(e)),
            },
            ("GET", "/attachment") => self.attachment(&req),
            ("GET", "/stream") => reply::resume(&self.shared, &req),
            ("POST", "/abort") => {
                reply::abort(&self.shared);
                Ok(Response::builder().with_status(204).empty())
            }
            ("DELETE", "/") => self.wipe().await,
            _ => Err(ApiError::NotFound),
        };
        Ok(result.unwrap_or_else(|e| crate::http::problem(&e)))
    }
}

#[derive(Deserialize)]
pub struct MessageRow {
    pub seq: i64,
    pub id: String,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub status: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub created_at: i64,
    pub attachments: Option<String>,
    pub reasoning: Option<String>,
    pub parent_id: Option<String>,
}

impl MessageRow {
    pub fn view(&self) -> MessageView {
        let usage = match (self.prompt_tokens, self.completion_tokens) {
            (Some(p), Some(c)) => Some(Usage::new(p.max(0) as u64, c.max(0) as u64)),
            _ => None,
        };
        MessageView {
            id: self.id.clone(),
            seq: self.seq,
            role: self.role.clone(),
            content: self.content.clone(),
            attachments: attachments::parse(self.attachments.as_deref()),
            reasoning: thoughts::text(&thoughts::parse(self.reasoning.as_deref())),
            model: self.model.clone(),
            status: self.status.clone(),
            usage,
            created_at: rfc3339(self.created_at),
            parent_id: self.parent_id.clone(),
            sibling_count: 1,
            sibling_index: 0,
            previous_sibling_id: None,
            next_sibling_id: None,
        }
    }
}

pub const MESSAGE_COLUMNS: &str = "seq, id, role, content, model, status, prompt_tokens, \
     completion_tokens, created_at, attachments, reasoning, parent_id";

impl Conversation {
    /// The current branch, newest first: from the leaf (or, after a cursor, from the parent
    /// of the message it names) up towards the root.
    fn page(&self, req: &Request) -> ApiResult<Response> {
        let url = req.url()?;
        let mut limit = 20i64;
        let mut after: Option<String> = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "limit" => {
                    limit = v
                        .parse()
                        .map_err(|_| ApiError::validation("limit is not a number"))?
                }
                "cursor" => after = Some(decode_cursor(&v)?.1),
                _ => {}
            }
        }
        let sql = &self.shared.sql;
        let start = match after {
            None => tree::leaf(sql)?,
            Some(id) => reply::message(&self.shared, &id)?.and_then(|m| m.parent_id),
        };
        let rows = match start {
            Some(start) => tree::path(sql, &start, limit + 1)?,
            None => Vec::new(),
        };
        let more = rows.len() as i64 > limit;
        let mut items: Vec<MessageView> = rows
            .iter()
            .take(limit as usize)
            .map(tree::PathRow::view)
            .collect();
        // The reply in flight: its freshest text is in memory, not yet flushed.
        if let Some(live) = self.shared.live.borrow().as_ref() {
            if let Some(m) = items.iter_mut().find(|m| m.id == live.message_id) {
                m.content = live.content.clone();
                m.reasoning = thoughts::text(&live.thoughts);
            }
        }
        let next_cursor = if more {
            items.last().map(|m| encode_cursor(m.seq, &m.id))
        } else {
            None
        };
        json_response(200, &Page { items, next_cursor })
    }

    /// Makes the branch through `message_id` the current one, down to its newest end: 409
    /// while a reply streams (its branch stays current until it ends).
    fn switch(&self, message_id: &str) -> ApiResult<Response> {
        if self.shared.live.borrow().is_some() {
            return Err(ApiError::Conflict(
                "a reply is streaming in this conversation".into(),
            ));
        }
        reply::message(&self.shared, message_id)?.ok_or_else(|| {
            ApiError::param(
                "message_id",
                "message_id names no message of this conversation",
            )
        })?;
        let leaf = tree::newest_end(&self.shared.sql, message_id)?;
        tree::set_leaf(&self.shared.sql, Some(&leaf))?;
        json_response(200, &serde_json::json!({ "leaf_id": leaf }))
    }

    /// The bytes of attachment `index` of message `message_id`, with its media type.
    fn attachment(&self, req: &Request) -> ApiResult<Response> {
        let url = req.url()?;
        let (mut message_id, mut index) = (String::new(), None);
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "message_id" => message_id = v.into_owned(),
                "index" => index = v.parse::<usize>().ok(),
                _ => {}
            }
        }
        let index = index.ok_or(ApiError::NotFound)?;
        let row = reply::message(&self.shared, &message_id)?.ok_or(ApiError::NotFound)?;
        let view = attachments::parse(row.attachments.as_deref())
            .into_iter()
            .nth(index)
            .ok_or(ApiError::NotFound)?;
        let data =
            attachments::load(&self.shared.sql, &message_id, index)?.ok_or(ApiError::NotFound)?;
        let bytes = crate::crypto::b64_decode(&data)
            .ok_or_else(|| ApiError::internal("a stored attachment is not base64"))?;
        let headers = worker::Headers::new();
        headers.set("content-type", &view.media_type)?;
        headers.set("cache-control", "private")?;
        headers.set("content-security-policy", "default-src 'none'; sandbox")?;
        Ok(Response::from_bytes(bytes)?.with_headers(headers))
    }

    /// Deletes every message: stops a reply in flight first, and bills what it streamed.
    async fn wipe(&self) -> ApiResult<Response> {
        reply::abort(&self.shared);
        let live = self.shared.live.borrow_mut().take();
        if let Some(live) = live {
            reply::end_deleted(&self.shared, live);
        }
        self.shared.state.storage().delete_all().await?;
        // The object stays usable (empty tables are all that is left).
        migrate(&self.shared.sql);
        Ok(Response::builder().with_status(204).empty())
    }
}
