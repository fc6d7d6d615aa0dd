//! Share links: a read-only snapshot of a conversation up to a message, readable by anyone who
//! has its unguessable id (`GET /api/shares/{id}`, no account), revocable by its owner.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::conversation::protocol::{MessageView, ABORTED, COMPLETE};
use crate::email::public_origin;
use crate::error::{ApiError, ApiResult};
use crate::http::{
    created, decode_cursor, encode_cursor, no_content, page_limit, Ctx, Page, BODY_LIMIT,
};
use crate::routes::conversations::owned;
use crate::store::shares;

/// The most a snapshot may weigh (its JSON): within a D1 row, and a page a browser renders.
pub const MAX_SNAPSHOT_BYTES: usize = 1024 * 1024;
/// The most messages a snapshot may hold.
pub const MAX_SNAPSHOT_MESSAGES: usize = 5_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateShare {
    up_to_message_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct SharedMessage {
    role: String,
    content: String,
    model: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    title: String,
    messages: Vec<SharedMessage>,
    created_at: String,
}

/// The messages a snapshot shows, up to and including `up_to` (else all): the user's and the
/// replies that were written (complete, or stopped with text), text only (no attachments).
fn shown(history: Vec<MessageView>, up_to: Option<&str>) -> ApiResult<Vec<SharedMessage>> {
    let end = match up_to {
        Some(id) => {
            history.iter().position(|m| m.id == id).ok_or_else(|| {
                ApiError::param(
                    "up_to_message_id",
                    "up_to_message_id is not a message of this conversation",
                )
            })? + 1
        }
        None => history.len(),
    };
    Ok(history
        .into_iter()
        .take(end)
        .filter(|m| match m.role.as_str() {
            "user" => !m.content.is_empty(),
            "assistant" => (m.status == COMPLETE || m.status == ABORTED) && !m.content.is_empty(),
            _ => false,
        })
        .map(|m| SharedMessage {
            role: m.role,
            content: m.content,
            model: m.model,
        })
        .collect())
}

/// 128 random bits and more: an id no one guesses.
fn new_share_id() -> ApiResult<String> {
    let bytes = crate::crypto::random_bytes(18).map_err(ApiError::internal)?;
    Ok(format!("shr_{}", crate::crypto::b64url(&bytes)))
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: CreateShare = ctx.json_opt(BODY_LIMIT).await?.unwrap_or_default();
    let (conv, _) = owned(&ctx, &who).await?;
    let (history, _) = crate::history::read(&ctx, &conv.id, MAX_SNAPSHOT_MESSAGES).await?;
    let messages = shown(history, body.up_to_message_id.as_deref())?;
    if messages.is_empty() {
        return Err(ApiError::validation(
            "the conversation has no message to share yet",
        ));
    }
    let snapshot = serde_json::to_string(&Snapshot {
        title: conv.title.clone(),
        messages,
        created_at: crate::util::rfc3339(ctx.now),
    })?;
    if snapshot.len() > MAX_SNAPSHOT_BYTES {
        return Err(ApiError::param(
            "up_to_message_id",
            "the conversation up to there is over 1 MiB of text: share it up to an earlier message",
        ));
    }
    let id = new_share_id()?;
    let count = serde_json::from_str::<Snapshot>(&snapshot)?.messages.len();
    shares::insert(
        &ctx.db()?,
        &shares::NewShare {
            id: &id,
            user_id: &who.user_id,
            conversation_id: &conv.id,
            up_to_message_id: body.up_to_message_id.as_deref(),
            title: &conv.title,
            message_count: count,
            snapshot: &snapshot,
            now: ctx.now,
        },
    )
    .await?;
    created(&serde_json::json!({ "id": id, "url": shares::url(&public_origin(&ctx), &id) }))
}

/// Public: the snapshot, or 404 (revoked, deleted, never made). Never indexed by search
/// engines, never cached by a shared cache.
pub async fn read(ctx: Ctx) -> ApiResult<Response> {
    let snapshot = shares::snapshot(&ctx.db()?, ctx.param(0))
        .await?
        .ok_or(ApiError::NotFound)?;
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("x-robots-tag", "noindex, nofollow")?;
    headers.set("cache-control", "no-store")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(Response::ok(snapshot)?.with_headers(headers))
}

pub async fn mine(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let after = ctx
        .query_param("cursor")
        .map(|c| decode_cursor(&c))
        .transpose()?;
    let rows = shares::list(&ctx.db()?, &who.user_id, after, limit + 1).await?;
    let next_cursor = (rows.len() > limit)
        .then(|| {
            rows.get(limit - 1)
                .map(|r| encode_cursor(r.created_at, &r.id))
        })
        .flatten();
    let origin = public_origin(&ctx);
    let items = rows.iter().take(limit).map(|r| r.view(&origin)).collect();
    crate::http::ok(&Page { items, next_cursor })
}

/// Revokes a link: its owner only (anyone else: 404, as for a link that does not exist).
pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    if !shares::delete(&ctx.db()?, ctx.param(0), &who.user_id).await? {
        return Err(ApiError::NotFound);
    }
    no_content()
}
