//! One reply: started by a send, pumped from the provider into SQLite and out to every
//! subscribed reader, resumable from any event id, abortable.
//!
//! Event ids: `message.created` is 0; a `delta` (answer text) or `reasoning` (reasoning
//! text) carries the byte length of the reply log once it is applied (`thoughts`: reasoning
//! and answer text in the order they came; without reasoning, the reply text); the final
//! event (`message.completed` or `error`) is that length + 1. So `Last-Event-ID: n` means
//! "I have the first n bytes", and a resumed reader is sent exactly the rest.

use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use serde::Serialize;
use serde_json::json;
use worker::{AbortController, Response, SqlStorageValue};

use super::attachments::{self, AttachmentView};
use super::protocol::*;
use super::thoughts::{self, Thought};
use super::title::TitleCommand;
use super::tree;
use super::{MessageRow, Shared, MESSAGE_COLUMNS};
use crate::error::{ApiError, ApiResult};
use crate::gateway::{self, Meter};
use crate::providers::{Block, ChatRequest, Effort, Media, Message, ReasoningRequest, Role, Usage};
use crate::upstream;
use crate::util::{new_id, now_ms};

mod prompt;
mod stream;

use prompt::{chat_param, history, placement, stored_user_message};
use stream::pump;
pub use stream::{abort, end_deleted, resume};

/// What an image costs of the history's character budget, whatever its size: about the
/// 1,500 tokens a provider counts for a large image.
pub const IMAGE_HISTORY_CHARS: usize = 6_000;
/// The images of one upstream request weigh at most this together (12 MiB, 16 MiB as base64:
/// within Gemini's 20 MB and Anthropic's 32 MB request limits, and a Worker's memory). Older
/// turns whose images would pass it are left out, as those past the character budget are; a
/// new message's images (at most 4 of 3 MiB) always fit.
pub const MAX_HISTORY_IMAGE_BYTES: u64 = 12 * 1024 * 1024;

/// The reply in flight.
pub struct Live {
    pub message_id: String,
    pub seq: i64,
    pub content: String,
    /// The reasoning streamed so far, with its signatures.
    pub thoughts: Vec<Thought>,
    subscribers: Vec<mpsc::UnboundedSender<String>>,
    abort: Option<AbortController>,
    aborted: bool,
    last_flush: i64,
    /// The first token has gone out (the send answered 200): from here on the reply is
    /// billed however it ends.
    started: bool,
    /// The provider's latest usage report.
    usage: Option<Usage>,
    /// Whoever ends a started reply (its pump, or the conversation's deletion) takes the
    /// `Live` out, and with it the meter: a reply is metered exactly once.
    meter: Meter,
    conversation_id: String,
    /// Naming the conversation after this reply, with the message it answers.
    title: Option<(TitleCommand, String)>,
}

/// One event of the reply log. `event` is one of this module's names and `data` compact
/// JSON, so neither holds a line break: the frame is written out directly.
fn frame(id: usize, event: &'static str, data: &impl Serialize) -> String {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    format!("id: {id}\nevent: {event}\ndata: {data}\n\n")
}

/// The data of a `delta` or `reasoning` event.
#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

impl Live {
    /// The byte length of the reply log: reasoning and answer text.
    fn log_len(&self) -> usize {
        self.content.len() + thoughts::text_len(&self.thoughts)
    }

    /// Everything received, as the completion text a cut-short reply is billed by.
    fn received(&self) -> String {
        let mut all = thoughts::text(&self.thoughts).unwrap_or_default();
        all.push_str(&self.content);
        all
    }
}

fn sql_exec(shared: &Shared, query: &str, args: Vec<SqlStorageValue>) -> ApiResult<()> {
    shared
        .sql
        .exec(query, args)
        .map(|_| ())
        .map_err(|e| ApiError::internal(format!("DO SQL: {e}")))
}

pub(super) fn message(shared: &Shared, id: &str) -> ApiResult<Option<MessageRow>> {
    let rows: Vec<MessageRow> = shared
        .sql
        .exec(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"),
            vec![id.into()],
        )?
        .to_array()?;
    Ok(rows.into_iter().next())
}

/// What a reply adds to the tree, so that one which never starts can take it back.
struct Added {
    /// The new user message (none when a reply is regenerated).
    user_id: Option<String>,
    assistant_id: String,
    /// The leaf before the reply moved it to its own message.
    prev_leaf: Option<String>,
}

/// Starts a reply: 409 while another streams. Reserves the reply's share of the org's
/// budget once the prompt is known, and sends the provider the completion cap that was
/// admitted. Waits for the provider's first chunk, so a provider that fails at once is a
/// real HTTP error (and nothing is stored); a reply aborted, or whose conversation is
/// deleted, before its first token is a 409.
pub async fn start(shared: Rc<Shared>, mut cmd: SendCommand) -> ApiResult<Response> {
    if shared.live.borrow().is_some() {
        return Err(ApiError::Conflict(
            "a reply is already streaming in this conversation".into(),
        ));
    }
    let model = cmd.call.model.clone();
    let reasoning = match cmd.reasoning_effort.as_deref() {
        None => None,
        Some(e) => Some(ReasoningRequest {
            effort: Some(Effort::parse(e).ok_or_else(|| {
                ApiError::param(
                    "reasoning_effort",
                    "reasoning_effort is low, medium or high",
                )
            })?),
            budget_tokens: None,
            include: true,
        }),
    };
    let now = now_ms();
    #[derive(serde::Deserialize)]
    struct Max {
        seq: Option<i64>,
    }
    let max: Vec<Max> = shared
        .sql
        .exec("SELECT MAX(seq) AS seq FROM messages", None)?
        .to_array()?;
    let next_seq = max.first().and_then(|m| m.seq).unwrap_or(0) + 1;
    let prev_leaf = tree::leaf(&shared.sql)?;
    let (parent, asked) = placement(&shared, &cmd.branch, &prev_leaf)?;
    let new_user = asked.is_none();
    // The images move into the request (they are large); the row keeps what they are.
    let images = std::mem::take(&mut cmd.attachments);
    let inline_images = images.len();
    let (user_msg, new_message, image_bytes, text_first) = match asked {
        // A regeneration answers the stored user message again, images and all.
        Some(row) => {
            let views = attachments::parse(row.attachments.as_deref());
            let bytes = views.iter().map(|v| v.size).sum();
            let text_first = !row.content.is_empty();
            let message = stored_user_message(&shared, &row.id, row.content.clone(), views)?;
            (row, message, bytes, text_first)
        }
        None => {
            let mut views: Vec<AttachmentView> = images.iter().map(AttachmentView::of).collect();
            views.extend(cmd.files.iter().map(super::files::FileRef::view));
            let bytes = views.iter().map(|v| v.size).sum();
            let text_first = !cmd.content.is_empty();
            let mut message = Message {
                role: Role::User,
                content: Vec::with_capacity(images.len() + 1),
            };
            if text_first {
                message.content.push(Block::Text(cmd.content.clone()));
            }
            message.content.extend(images.into_iter().map(|a| {
                Block::Image(Media::Base64 {
                    media_type: a.media_type,
                    data: a.data,
                })
            }));
            // Uploaded files stay in R2: placeholders until `files::resolve` reads them.
            message.content.extend(
                cmd.files
                    .iter()
                    .map(|f| super::files::placeholder(&f.id, Some(&f.name))),
            );
            let row = MessageRow {
                seq: next_seq,
                id: new_id("msg"),
                role: "user".into(),
                content: cmd.content.clone(),
                model: None,
                status: COMPLETE.into(),
                prompt_tokens: None,
                completion_tokens: None,
                created_at: now,
                attachments: attachments::to_json(&views),
                reasoning: None,
                parent_id: parent.clone(),
            };
            (row, message, bytes, text_first)
        }
    };
    let assistant_seq = if new_user { next_seq + 1 } else { next_seq };
    let assistant_id = new_id("msg");
    let added = Added {
        user_id: new_user.then(|| user_msg.id.clone()),
        assistant_id: assistant_id.clone(),
        prev_leaf,
    };
    let history_from = if new_user {
        parent.clone()
    } else {
        user_msg.parent_id.clone()
    };
    let mut request = ChatRequest {
        model: model.model().to_string(),
        system: cmd.system.clone(),
        messages: history(
            &shared,
            new_message,
            image_bytes,
            cmd.history_char_budget,
            model.provider(),
            history_from,
        )?,
        max_tokens: cmd.max_tokens,
        temperature: cmd.temperature,
        reasoning,
        stream: true,
        ..Default::default()
    };
    let prompt_estimate = request.prompt_estimate();
    // Claim the conversation before the first await, so a concurrent send sees it busy.
    let controller = AbortController::default();
    let signal = controller.signal();
    // The sender's own stream is written straight into the runtime's (by the pump, within
    // this request); readers that resume later are fed through channels (`send`).
    let (response, sink) = crate::sse::sse_sink()?;
    let mut user_view = user_msg.view();
    if new_user {
        let (place, previous) = tree::children(&shared.sql, parent.as_deref())?;
        (user_view.sibling_count, user_view.sibling_index) = (place + 1, place);
        user_view.previous_sibling_id = previous;
    } else if let Some(v) = tree::view(&shared.sql, &user_msg.id)? {
        user_view = v;
    }
    let created = json!({ "user_message": user_view, "assistant_message_id": assistant_id });
    sink.send(&frame(0, "message.created", &created));
    *shared.live.borrow_mut() = Some(Live {
        message_id: assistant_id.clone(),
        seq: assistant_seq,
        content: String::new(),
        thoughts: Vec::new(),
        subscribers: Vec::new(),
        abort: Some(controller),
        aborted: false,
        last_flush: now,
        started: false,
        usage: None,
        meter: Meter::unreserved(cmd.call.account.clone(), &model, prompt_estimate),
        conversation_id: cmd.conversation_id.clone(),
        title: cmd.title.take().map(|t| (t, user_msg.content.clone())),
    });
    // Validated for the provider, media inlined, budget reserved (the cap set).
    let prepared = match super::files::resolve(&shared.env, &mut request).await {
        Ok(()) => gateway::prepare(&shared.env, &cmd.call, &mut request).await,
        Err(e) => Err(e),
    };
    let meter = match prepared {
        Ok(m) => m,
        Err(e) => {
            rollback(&shared, &added);
            return Err(match e {
                ApiError::InvalidParam { param, detail } => ApiError::InvalidParam {
                    param: chat_param(&param, request.messages.len() - 1, text_first),
                    detail,
                },
                e => e,
            });
        }
    };
    if let Some(stop) = stopped(&shared, &assistant_id) {
        return Err(unstarted(&shared, &added, &meter, stop).await);
    }
    if let Some(live) = shared.live.borrow_mut().as_mut() {
        live.meter = meter.clone();
    }
    // The provider's request is sent before the rows are written: on Cloudflare a write
    // holds the object's later outgoing messages until it is durable (the output gate), and
    // the wait for the first token is what the user feels.
    let opened = cmd.call.open(&request, &signal);
    let insert = async {
        if new_user {
            sql_exec(
                &shared,
                "INSERT INTO messages (seq, id, role, content, model, status, created_at, updated_at, attachments, parent_id) VALUES (?, ?, 'user', ?, NULL, 'complete', ?, ?, ?, ?)",
                vec![
                    next_seq.into(),
                    user_msg.id.as_str().into(),
                    cmd.content.as_str().into(),
                    now.into(),
                    now.into(),
                    user_msg.attachments.as_deref().map_or(SqlStorageValue::Null, SqlStorageValue::from),
                    parent.as_deref().map_or(SqlStorageValue::Null, SqlStorageValue::from),
                ],
            )?;
            let data: Vec<&str> = request
                .messages
                .last()
                .into_iter()
                .flat_map(|m| &m.content)
                .filter_map(|b| match b {
                    Block::Image(Media::Base64 { data, .. }) => Some(data.as_str()),
                    _ => None,
                })
                // The inline images (an uploaded file's bytes stay in R2).
                .take(inline_images)
                .collect();
            attachments::insert(&shared.sql, &user_msg.id, &data)?;
        }
        sql_exec(
            &shared,
            "INSERT INTO messages (seq, id, role, content, model, status, created_at, updated_at, parent_id) VALUES (?, ?, 'assistant', '', ?, 'streaming', ?, ?, ?)",
            vec![assistant_seq.into(), assistant_id.as_str().into(), model.as_str().into(), now.into(), now.into(), user_msg.id.as_str().into()],
        )?;
        tree::set_leaf(&shared.sql, Some(&assistant_id))
    };
    let (opened, inserted) = futures::join!(opened, insert);
    let source = match (opened, inserted) {
        (Ok(s), Ok(())) => s,
        (Err(e), _) | (_, Err(e)) => {
            return Err(unstarted(&shared, &added, &meter, e).await);
        }
    };
    let (ready_tx, ready_rx) = oneshot::channel();
    shared.state.wait_until(pump(
        shared.clone(),
        source,
        assistant_id.clone(),
        ready_tx,
        sink,
    ));
    let failed = match ready_rx.await {
        Ok(Ok(())) => return Ok(response),
        Ok(Err(e)) => upstream::api_error(&e),
        // The pump lets go without a word when the reply was stopped.
        Err(_) => ApiError::internal("the reply task ended without a word"),
    };
    Err(unstarted(&shared, &added, &meter, failed).await)
}

/// Why a reply that has not begun must not: it was aborted, or its conversation deleted
/// (the reply in flight is gone, or another one's).
fn stopped(shared: &Shared, assistant_id: &str) -> Option<ApiError> {
    match shared.live.borrow().as_ref() {
        Some(l) if l.message_id == assistant_id => l
            .aborted
            .then(|| ApiError::Conflict("the reply was aborted before its first token".into())),
        _ => Some(ApiError::Conflict(
            "the conversation was deleted before the reply began".into(),
        )),
    }
}

/// Ends a reply that never sent a token: nothing of it is kept and its reservation is
/// released. A stop (abort or deletion) is what the sender is told, rather than the failure
/// it caused upstream.
async fn unstarted(shared: &Shared, added: &Added, meter: &Meter, error: ApiError) -> ApiError {
    let error = stopped(shared, &added.assistant_id).unwrap_or(error);
    rollback(shared, added);
    meter.release(&shared.env).await;
    error
}

/// Removes a reply's rows, and frees the conversation (and gives back its leaf) if the reply
/// in flight is still it.
fn rollback(shared: &Shared, added: &Added) {
    let ours = shared
        .live
        .borrow()
        .as_ref()
        .is_some_and(|l| l.message_id == added.assistant_id);
    if ours {
        abort(shared);
        shared.live.borrow_mut().take();
        let _ = tree::set_leaf(&shared.sql, added.prev_leaf.as_deref());
    }
    let _ = sql_exec(
        shared,
        "DELETE FROM messages WHERE id = ?",
        vec![added.assistant_id.as_str().into()],
    );
    if let Some(user_id) = &added.user_id {
        let _ = sql_exec(
            shared,
            "DELETE FROM messages WHERE id = ?",
            vec![user_id.as_str().into()],
        );
        let _ = attachments::delete(&shared.sql, &[user_id.as_str()]);
    }
}
