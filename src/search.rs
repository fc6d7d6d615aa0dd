//! Feeding the search index (`store::search`) from a conversation's Durable Object, which
//! has the messages and the env: when a reply finishes, the user message it answers and, if
//! it completed, the reply are indexed. Off the reply's path: the D1 write runs after it.

use serde::Deserialize;
use worker::{Env, SqlStorage, State};

use crate::conversation::protocol::{COMPLETE, STREAMING};

#[derive(Deserialize)]
struct Indexed {
    id: String,
    role: String,
    content: String,
    status: String,
}

/// The reply `assistant_id` and the user message it answers (the one just before it).
fn reply_and_question(sql: &SqlStorage, assistant_id: &str) -> Vec<Indexed> {
    sql.exec(
        "SELECT id, role, content, status FROM messages
         WHERE id = ?1 OR id = (SELECT parent_id FROM messages WHERE id = ?1) ORDER BY seq",
        vec![assistant_id.into()],
    )
    .and_then(|c| c.to_array())
    .unwrap_or_default()
}

/// Indexes what a finished reply adds to its conversation: the question, and the answer if
/// it completed. A failure is logged: the conversation is whole without its index entry.
pub fn reply_finished(
    state: &State,
    env: &Env,
    sql: &SqlStorage,
    conversation_id: &str,
    assistant_id: &str,
) {
    let rows: Vec<(String, String)> = reply_and_question(sql, assistant_id)
        .into_iter()
        .filter(|m| match m.role.as_str() {
            "user" => m.status != STREAMING,
            "assistant" => m.id == assistant_id && m.status == COMPLETE,
            _ => false,
        })
        .map(|m| (m.id, m.content))
        .collect();
    if rows.is_empty() {
        return;
    }
    let (env, conversation_id) = (env.clone(), conversation_id.to_string());
    state.wait_until(async move {
        let messages: Vec<(&str, &str)> = rows
            .iter()
            .map(|(id, text)| (id.as_str(), text.as_str()))
            .collect();
        let indexed = match env.d1("DB") {
            Ok(db) => crate::store::search::index(&db, &conversation_id, &messages).await,
            Err(e) => Err(crate::error::ApiError::internal(format!("D1 binding: {e}"))),
        };
        if let Err(e) = indexed {
            worker::console_error!(
                "{}",
                serde_json::json!({"error": "search indexing failed", "context": e.to_string()})
            );
        }
    });
}
