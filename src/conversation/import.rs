//! An imported history written into a new conversation's object (`POST /api/imports`): the
//! Worker's call and the object's side, in one place. The object takes it only while it holds
//! no message, so an import never mixes with a conversation's own history.
//!
//! Each message is stored with its parent (`ImportedMessage::parent_id`, filled by the
//! importer), and the current branch ends at the leaf the import names (else the last one).

use serde::{Deserialize, Serialize};
use worker::{Env, Method, Response, SqlStorageValue};

use super::Shared;
use crate::error::{ApiError, ApiResult};

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ImportedMessage {
    pub id: String,
    /// The message this one answers or follows (None for the first).
    pub parent_id: Option<String>,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub created_at: i64,
}

#[derive(Serialize)]
struct ImportCommand<'a> {
    messages: &'a [ImportedMessage],
    /// The message the conversation is left at (one of `messages`).
    leaf_id: Option<&'a str>,
}

/// The Worker's side: writes `messages` (parents before children) into the conversation's
/// object, its current branch ending at `leaf_id`.
pub async fn write(
    env: &Env,
    conversation_id: &str,
    messages: &[ImportedMessage],
    leaf_id: Option<&str>,
) -> ApiResult<()> {
    let body = serde_json::to_string(&ImportCommand { messages, leaf_id })?;
    let req = crate::durable::request(Method::Post, "conversation", "/import", Some(body))?;
    let resp = crate::durable::fetch(env, "CONVERSATIONS", conversation_id, req).await?;
    if resp.status_code() != 204 {
        return Err(ApiError::internal(format!(
            "importing into {conversation_id} answered {}",
            resp.status_code()
        )));
    }
    Ok(())
}

/// The object's side: the messages as complete ones, numbered from 1; 409 if it has any.
pub fn handle(shared: &Shared, body: &[u8]) -> ApiResult<Response> {
    #[derive(Deserialize)]
    struct Command {
        messages: Vec<ImportedMessage>,
        leaf_id: Option<String>,
    }
    let cmd: Command = crate::http::parse_json(body)?;
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let count: Vec<Count> = shared
        .sql
        .exec("SELECT COUNT(*) AS n FROM messages", None)?
        .to_array()?;
    if count.first().is_some_and(|c| c.n > 0) {
        return Err(ApiError::Conflict(
            "the conversation already has messages".into(),
        ));
    }
    // No await in between: the object's storage commits these writes together.
    for (i, m) in cmd.messages.iter().enumerate() {
        shared
            .sql
            .exec(
                "INSERT INTO messages (seq, id, role, content, model, status, created_at, updated_at, parent_id)
                 VALUES (?, ?, ?, ?, ?, 'complete', ?, ?, ?)",
                vec![
                    (i as i64 + 1).into(),
                    m.id.as_str().into(),
                    m.role.as_str().into(),
                    m.content.as_str().into(),
                    m.model
                        .as_deref()
                        .map_or(SqlStorageValue::Null, SqlStorageValue::from),
                    m.created_at.into(),
                    m.created_at.into(),
                    m.parent_id
                        .as_deref()
                        .map_or(SqlStorageValue::Null, SqlStorageValue::from),
                ],
            )
            .map_err(|e| ApiError::internal(format!("DO SQL: {e}")))?;
    }
    let leaf = cmd
        .leaf_id
        .as_deref()
        .filter(|l| cmd.messages.iter().any(|m| m.id == *l))
        .or(cmd.messages.last().map(|m| m.id.as_str()));
    super::tree::set_leaf(&shared.sql, leaf)?;
    Ok(Response::builder().with_status(204).empty())
}
