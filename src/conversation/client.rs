//! The Worker's side of the conversation Durable Objects.

use worker::{Env, Method, Response};

use super::protocol::SendCommand;
use crate::durable;
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;

async fn call(
    env: &Env,
    conversation_id: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> ApiResult<Response> {
    let req = durable::request(method, "conversation", path, body)?;
    durable::fetch(env, "CONVERSATIONS", conversation_id, req).await
}

pub async fn send(ctx: &Ctx, cmd: &SendCommand) -> ApiResult<Response> {
    call(
        &ctx.env,
        &cmd.conversation_id,
        Method::Post,
        "/send",
        Some(serde_json::to_string(cmd)?),
    )
    .await
}

pub async fn messages(
    ctx: &Ctx,
    conversation_id: &str,
    limit: usize,
    cursor: Option<&str>,
) -> ApiResult<Response> {
    let mut path = format!("/messages?limit={limit}");
    if let Some(c) = cursor {
        path.push_str("&cursor=");
        path.push_str(&encode_query(c));
    }
    call(&ctx.env, conversation_id, Method::Get, &path, None).await
}

pub async fn stream(
    ctx: &Ctx,
    conversation_id: &str,
    message_id: &str,
    after: Option<&str>,
) -> ApiResult<Response> {
    let mut path = format!("/stream?message_id={}", encode_query(message_id));
    if let Some(a) = after {
        path.push_str("&after=");
        path.push_str(&encode_query(a));
    }
    call(&ctx.env, conversation_id, Method::Get, &path, None).await
}

/// An attachment's bytes (the object answers 404 for a message or index it does not have).
pub async fn attachment(
    ctx: &Ctx,
    conversation_id: &str,
    message_id: &str,
    index: usize,
) -> ApiResult<Response> {
    let path = format!(
        "/attachment?message_id={}&index={index}",
        encode_query(message_id)
    );
    call(&ctx.env, conversation_id, Method::Get, &path, None).await
}

/// Switches the conversation's current branch (`PUT …/leaf`).
pub async fn set_leaf(ctx: &Ctx, conversation_id: &str, message_id: &str) -> ApiResult<Response> {
    let body = serde_json::to_string(&super::protocol::LeafCommand {
        message_id: message_id.to_string(),
    })?;
    call(&ctx.env, conversation_id, Method::Put, "/leaf", Some(body)).await
}

pub async fn abort(ctx: &Ctx, conversation_id: &str) -> ApiResult<()> {
    call(&ctx.env, conversation_id, Method::Post, "/abort", None).await?;
    Ok(())
}

/// Deletes a conversation's messages (its Durable Object storage).
pub async fn wipe(env: &Env, conversation_id: &str) -> ApiResult<()> {
    let resp = call(env, conversation_id, Method::Delete, "/", None).await?;
    if resp.status_code() != 204 {
        return Err(ApiError::internal(format!(
            "wiping {conversation_id} answered {}",
            resp.status_code()
        )));
    }
    Ok(())
}

fn encode_query(s: &str) -> String {
    worker::Url::parse_with_params("https://x/", [("v", s)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("v=").to_string()))
        .unwrap_or_default()
}
