//! Share links: a read-only snapshot of a conversation up to a message, readable by anyone who
//! has its unguessable id (`GET /api/shares/{id}`, no account), revocable by its owner.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::conversation::client;
use crate::conversation::protocol::{MessageView, ABORTED, COMPLETE};
use crate::email::public_origin;
use crate::error::{ApiError, ApiResult};
use crate::http::{
    created, decode_cursor, encode_cursor, no_content, page_limit, Ctx, Page, BODY_LIMIT,
};
use crate::routes::conversations::owned;
use crate::routes::files::SERVED_CSP;
use crate::store::files;
use crate::store::shares::{self, AttachmentRef};

/// The most a snapshot may weigh (its JSON): within a D1 row, and a page a browser renders.
pub const MAX_SNAPSHOT_BYTES: usize = 1024 * 1024;
/// The most messages a snapshot may hold.
pub const MAX_SNAPSHOT_MESSAGES: usize = 5_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateShare {
    up_to_message_id: Option<String>,
    /// Whether the link shows the messages' attachments (images and files) too.
    #[serde(default)]
    include_attachments: bool,
}

#[derive(Serialize)]
struct SharedMessage {
    role: String,
    content: String,
    model: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<SharedAttachment>,
}

/// What a link shows of an attachment: never the file's own id, only its place in the link.
#[derive(Serialize)]
struct SharedAttachment {
    #[serde(rename = "type")]
    kind: String,
    media_type: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Its bytes, for anyone with the link (a path on this origin).
    url: String,
}

#[derive(Serialize)]
struct Snapshot {
    title: String,
    messages: Vec<SharedMessage>,
    created_at: String,
}

/// The messages a snapshot shows, up to and including `up_to` (else all): the user's and the
/// replies that were written (complete, or stopped with text); with `attachments_of` (the
/// link's id), each user message's attachments and where their bytes are, else text only.
fn shown(
    history: Vec<MessageView>,
    up_to: Option<&str>,
    attachments_of: Option<&str>,
) -> ApiResult<(Vec<SharedMessage>, Vec<AttachmentRef>)> {
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
    let mut places = Vec::new();
    let mut messages = Vec::new();
    for m in history.into_iter().take(end) {
        let mut attachments = Vec::new();
        if let Some(share_id) = attachments_of.filter(|_| m.role == "user") {
            for (message_index, a) in m.attachments.into_iter().enumerate() {
                attachments.push(SharedAttachment {
                    kind: a.kind,
                    media_type: a.media_type,
                    size: a.size,
                    name: a.name,
                    url: format!("/api/shares/{share_id}/attachments/{}", places.len()),
                });
                places.push(AttachmentRef {
                    message_id: m.id.clone(),
                    message_index,
                    file_id: a.file_id,
                });
            }
        }
        let kept = match m.role.as_str() {
            "user" => !m.content.is_empty() || !attachments.is_empty(),
            "assistant" => (m.status == COMPLETE || m.status == ABORTED) && !m.content.is_empty(),
            _ => false,
        };
        if kept {
            messages.push(SharedMessage {
                role: m.role,
                content: m.content,
                model: m.model,
                attachments,
            });
        }
    }
    Ok((messages, places))
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
    let id = new_share_id()?;
    let (messages, places) = shown(
        history,
        body.up_to_message_id.as_deref(),
        body.include_attachments.then_some(id.as_str()),
    )?;
    if messages.is_empty() {
        return Err(ApiError::validation(
            "the conversation has no message to share yet",
        ));
    }
    let count = messages.len();
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
    shares::insert(
        &ctx.db()?,
        &shares::NewShare {
            id: &id,
            attachments: &places,
            include_attachments: body.include_attachments,
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

/// Public: attachment `{idx}` of a live link that includes them, or 404.
pub async fn attachment(ctx: Ctx) -> ApiResult<Response> {
    let idx: i64 = ctx.param(1).parse().map_err(|_| ApiError::NotFound)?;
    let db = ctx.db()?;
    let (conversation_id, place) = shares::attachment(&db, ctx.param(0), idx)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut resp = match &place.file_id {
        Some(file_id) => {
            let row = files::sent_in(&db, file_id, &conversation_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            crate::routes::files::serve(&ctx, &row, "no-store").await?
        }
        None => {
            let kept = client::attachment(
                &ctx,
                &conversation_id,
                &place.message_id,
                place.message_index,
            )
            .await?;
            if kept.status_code() != 200 {
                return Err(ApiError::NotFound);
            }
            let content_type = kept.headers().get("content-type")?.unwrap_or_default();
            let mut resp = Response::from_body(kept.body().clone())?;
            let headers = resp.headers_mut();
            headers.set("content-type", &content_type)?;
            headers.set("content-security-policy", SERVED_CSP)?;
            headers.set("x-content-type-options", "nosniff")?;
            headers.set("cache-control", "no-store")?;
            resp
        }
    };
    let headers = resp.headers_mut();
    headers.set("x-robots-tag", "noindex, nofollow")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(resp)
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
