//! A conversation's history as the API shows it (`GET …/messages`), oldest first, read page by
//! page from its Durable Object: what a share link snapshots and an export writes. It is the
//! current branch wherever the object's message pages follow one.

use serde::Deserialize;

use crate::conversation::client;
use crate::conversation::protocol::MessageView;
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;

/// Messages read per request to the object.
const PAGE: usize = 100;

#[derive(Deserialize)]
struct MessagePage {
    items: Vec<MessageView>,
    next_cursor: Option<String>,
}

/// Every message of the conversation, oldest first, stopping once `max_messages` are read
/// (then `true`: there were more, the oldest left out).
pub async fn read(
    ctx: &Ctx,
    conversation_id: &str,
    max_messages: usize,
) -> ApiResult<(Vec<MessageView>, bool)> {
    let mut all: Vec<MessageView> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut resp = client::messages(ctx, conversation_id, PAGE, cursor.as_deref()).await?;
        if resp.status_code() != 200 {
            return Err(ApiError::internal(format!(
                "the messages of {conversation_id} answered {}",
                resp.status_code()
            )));
        }
        let page: MessagePage = serde_json::from_slice(&resp.bytes().await?)?;
        all.extend(page.items);
        if all.len() >= max_messages {
            all.truncate(max_messages);
            all.reverse();
            return Ok((all, true));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    all.reverse();
    Ok((all, false))
}
