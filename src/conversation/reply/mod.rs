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
use serde_json::json;
use worker::{AbortController, Env, Request, Response, SqlStorageValue};

use super::attachments::{self, AttachmentView};
use super::protocol::*;
use super::thoughts::{self, Thought};
use super::title::{self, TitleCommand};
use super::tree::{self, Branch};
use super::{MessageRow, Shared, MESSAGE_COLUMNS};
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::gateway::{self, Meter};
use crate::providers::{
    Block, ChatRequest, Chunk, Effort, Media, Message, ProviderKind, ReasoningRequest, Role,
    UpstreamError, Usage,
};
use crate::sse::SseSink;
use crate::upstream::{self, sse_response, ReplySource};
use crate::util::{new_id, now_ms};
use serde::Serialize;

/// How often the text of a streaming reply is written to SQLite. Readers get the text from
/// memory while it streams; the writes only bound what an eviction or a crash can lose, and
/// each one costs a transaction, so a fast stream is written in batches of many deltas.
const FLUSH_INTERVAL_MS: i64 = 1000;

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

/// Bills a reply: the pipeline's meter (usage row, then the reservation settled), and the
/// conversation's last activity.
async fn record(env: &Env, meter: Meter, conversation_id: &str, usage: Usage) {
    meter.record(env, usage).await;
    let touched = match env.d1("DB") {
        Ok(db) => crate::store::conversations::touch(&db, conversation_id, now_ms()).await,
        Err(e) => Err(ApiError::internal(format!("D1 binding: {e}"))),
    };
    if let Err(e) = touched {
        worker::console_error!(
            "{}",
            json!({"error": "touch failed", "context": e.to_string()})
        );
    }
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

/// The history sent upstream: the new user message, then the messages of its branch (from
/// `from`, the message it follows, up to the root) newest first until the character budget
/// (`IMAGE_HISTORY_CHARS` per image) or `MAX_HISTORY_IMAGE_BYTES` would be passed (oldest
/// dropped first), in chronological order. A user message carries its images; a reply
/// written by a model of `kind`'s provider carries its reasoning blocks with their
/// signatures, which only that provider can read (another's are left out, and not counted).
fn history(
    shared: &Shared,
    new_message: Message,
    new_image_bytes: u64,
    budget: usize,
    kind: ProviderKind,
    from: Option<String>,
) -> ApiResult<Vec<Message>> {
    let cost = |text: usize, images: usize| text + images * IMAGE_HISTORY_CHARS;
    let new_images = new_message
        .content
        .iter()
        .filter(|b| matches!(b, Block::Image(_)))
        .count();
    let mut used = cost(new_message.text().chars().count(), new_images);
    let mut image_bytes = new_image_bytes;
    // Read up the branch a page at a time, only as far as the budget reaches: a long
    // conversation costs what its recent messages cost.
    const PAGE: i64 = 64;
    let mut picked: Vec<(MessageRow, Vec<AttachmentView>, Vec<Thought>)> = Vec::new();
    let mut next = from;
    'pages: while let Some(start) = next.take() {
        let rows = tree::ancestors(&shared.sql, &start, PAGE)?;
        if rows.len() as i64 == PAGE {
            next = rows.last().and_then(|r| r.parent_id.clone());
        }
        for r in rows {
            let answered = r.role == "assistant"
                && (r.status == COMPLETE || r.status == ABORTED)
                && !r.content.is_empty();
            if r.role != "user" && !answered {
                continue;
            }
            let images = attachments::parse(r.attachments.as_deref());
            let same_provider = r
                .model
                .as_deref()
                .and_then(|m| ModelId::parse(m).ok())
                .is_some_and(|m| m.provider() == kind);
            let thoughts = if r.role == "assistant" && same_provider {
                thoughts::parse(r.reasoning.as_deref())
            } else {
                Vec::new()
            };
            used += cost(
                r.content.chars().count()
                    + thoughts
                        .iter()
                        .map(|t| t.text.chars().count())
                        .sum::<usize>(),
                0,
            ) + super::files::history_chars(&images);
            image_bytes += images.iter().map(|i| i.size).sum::<u64>();
            if used > budget || image_bytes > MAX_HISTORY_IMAGE_BYTES {
                break 'pages;
            }
            picked.push((r, images, thoughts));
        }
    }
    let mut messages = vec![new_message];
    for (r, images, thoughts) in picked {
        messages.push(if r.role == "assistant" {
            Message {
                role: Role::Assistant,
                content: thoughts::blocks(&r.content, &thoughts),
            }
        } else {
            stored_user_message(shared, &r.id, r.content, images)?
        });
    }
    messages.reverse();
    // Providers want the conversation to open with the user.
    while messages.first().is_some_and(|m| m.role == Role::Assistant) {
        messages.remove(0);
    }
    Ok(messages)
}

/// A stored user message as the provider is sent it: its text, then its images.
fn stored_user_message(
    shared: &Shared,
    id: &str,
    text: String,
    images: Vec<AttachmentView>,
) -> ApiResult<Message> {
    let mut content = Vec::with_capacity(images.len() + 1);
    if !text.is_empty() {
        content.push(Block::Text(text));
    }
    for (i, view) in images.into_iter().enumerate() {
        if let Some(file_id) = &view.file_id {
            content.push(super::files::placeholder(file_id, view.name.as_deref()));
        } else if let Some(data) = attachments::load(&shared.sql, id, i)? {
            content.push(Block::Image(Media::Base64 {
                media_type: view.media_type,
                data,
            }));
        }
    }
    Ok(Message {
        role: Role::User,
        content,
    })
}

/// What a reply adds to the tree, so that one which never starts can take it back.
struct Added {
    /// The new user message (none when a reply is regenerated).
    user_id: Option<String>,
    assistant_id: String,
    /// The leaf before the reply moved it to its own message.
    prev_leaf: Option<String>,
}

/// Where a send's messages go: the message the user message follows, and the user message
/// answered when it already exists (a regeneration).
fn placement(
    shared: &Shared,
    branch: &Branch,
    leaf: &Option<String>,
) -> ApiResult<(Option<String>, Option<MessageRow>)> {
    match branch {
        Branch::Leaf => Ok((leaf.clone(), None)),
        Branch::Under(None) => Ok((None, None)),
        Branch::Under(Some(id)) => {
            let parent = message(shared, id)?.ok_or_else(|| {
                ApiError::param(
                    "parent_id",
                    "parent_id names no message of this conversation",
                )
            })?;
            if parent.role != "assistant" {
                return Err(ApiError::param(
                    "parent_id",
                    "parent_id must name an assistant reply (or be null for a first message)",
                ));
            }
            Ok((Some(parent.id), None))
        }
        Branch::Regenerate(id) => {
            let reply = message(shared, id)?.ok_or(ApiError::NotFound)?;
            if reply.role != "assistant" {
                return Err(ApiError::validation(
                    "only an assistant reply can be regenerated",
                ));
            }
            let asked = match reply.parent_id.as_deref() {
                Some(p) => message(shared, p)?.filter(|m| m.role == "user"),
                None => None,
            }
            .ok_or_else(|| ApiError::validation("this reply answers no user message"))?;
            Ok((asked.parent_id.clone(), Some(asked)))
        }
    }
}

/// The chat route's name for a parameter a provider refused, named in neutral positions: in
/// the new message (the last, `last`), its text is `content` and its images `attachments[k]`;
/// an earlier message means the history cannot go to this model (`model`); a reasoning
/// limit is about `reasoning_effort`.
fn chat_param(param: &str, last: usize, text_first: bool) -> String {
    if param.starts_with("reasoning") || param.starts_with("thinking") {
        return "reasoning_effort".into();
    }
    let Some(rest) = param.strip_prefix("messages[") else {
        return param.into();
    };
    let Some((index, rest)) = rest.split_once(']') else {
        return param.into();
    };
    if index.parse::<usize>().ok() != Some(last) {
        return "model".into();
    }
    let block = rest
        .strip_prefix(".content[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(j, _)| j.parse::<usize>().ok());
    match block {
        Some(0) if text_first => "content".into(),
        Some(j) => format!("attachments[{}]", j - usize::from(text_first)),
        None => "content".into(),
    }
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

/// Sends a frame to the sender and every reader still listening; readers that went away
/// are dropped (the reply goes on without them).
fn send(shared: &Shared, sender: &mut Option<SseSink>, f: &str) {
    if sender.as_ref().is_some_and(|s| !s.send(f)) {
        *sender = None;
    }
    if let Some(live) = shared.live.borrow_mut().as_mut() {
        live.subscribers
            .retain(|s| s.unbounded_send(f.to_string()).is_ok());
    }
}

async fn pump(
    shared: Rc<Shared>,
    source: ReplySource,
    assistant_id: String,
    ready: oneshot::Sender<Result<(), UpstreamError>>,
    sink: SseSink,
) {
    let mut streaming = Streaming {
        shared: &shared,
        assistant_id: &assistant_id,
        ready: Some(ready),
        finish_reason: None,
        sink: Some(sink),
    };
    let outcome = source.run(|chunk| streaming.on_chunk(&chunk)).await;
    let Streaming {
        ready,
        finish_reason,
        sink,
        ..
    } = streaming;
    // Ended before the first token: the sender answers with an HTTP error instead (for a
    // stop, the sender tells why once `ready` is dropped unanswered).
    if let Some(r) = ready {
        match outcome {
            Err(e) => {
                let _ = r.send(Err(e));
                return;
            }
            Ok(()) if stopped(&shared, &assistant_id).is_some() => return,
            Ok(()) => {
                if let Some(live) = shared.live.borrow_mut().as_mut() {
                    live.started = true;
                }
                let _ = r.send(Ok(()));
            }
        }
    }
    finish(&shared, &assistant_id, outcome, finish_reason, sink).await;
}

/// A reply being pumped: each chunk is applied to the reply in flight, saved at most once
/// a second, and sent to every reader.
struct Streaming<'a> {
    shared: &'a Shared,
    assistant_id: &'a str,
    /// Told once the first token is out (or why none came).
    ready: Option<oneshot::Sender<Result<(), UpstreamError>>>,
    finish_reason: Option<String>,
    /// The sender's stream, until the sender goes away.
    sink: Option<SseSink>,
}

impl Streaming<'_> {
    /// Applies a chunk; false once the reply is no longer the one in flight (aborted, or its
    /// conversation deleted).
    fn on_chunk(&mut self, chunk: &Chunk) -> bool {
        let (shared, assistant_id) = (self.shared, self.assistant_id);
        if let Some(r) = &chunk.finish_reason {
            self.finish_reason = Some(r.as_str().to_string());
        }
        let (frames, flush) = {
            let mut live = shared.live.borrow_mut();
            let Some(live) = live
                .as_mut()
                .filter(|l| l.message_id == assistant_id && !l.aborted)
            else {
                return false;
            };
            if chunk.usage.is_some() {
                live.usage = chunk.usage;
            }
            // Reasoning first: a chunk's reasoning comes before its text.
            let mut frames = Vec::new();
            if let Some(d) = &chunk.reasoning {
                let at = live.content.len();
                thoughts::apply(&mut live.thoughts, d, at);
                if !d.text.is_empty() {
                    frames.push(frame(live.log_len(), "reasoning", &Text { text: &d.text }));
                }
            }
            if !chunk.text.is_empty() {
                live.content.push_str(&chunk.text);
                frames.push(frame(live.log_len(), "delta", &Text { text: &chunk.text }));
            }
            if frames.is_empty() {
                return true;
            }
            let now = now_ms();
            let flush = now - live.last_flush >= FLUSH_INTERVAL_MS;
            if flush {
                live.last_flush = now;
            }
            live.started = true;
            let flush = flush.then(|| (live.content.clone(), thoughts::to_json(&live.thoughts)));
            (frames, flush)
        };
        if let Some((text, reasoning)) = flush {
            let _ = sql_exec(
                shared,
                "UPDATE messages SET content = ?, reasoning = ?, updated_at = ? WHERE id = ?",
                vec![
                    text.into(),
                    reasoning.map_or(SqlStorageValue::Null, SqlStorageValue::from),
                    now_ms().into(),
                    assistant_id.into(),
                ],
            );
        }
        for f in &frames {
            send(shared, &mut self.sink, f);
        }
        // The response goes out with its first delta already queued, so headers and the
        // first token leave together.
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(()));
        }
        true
    }
}

/// Stores the reply's final state, tells every reader, records usage and settles the
/// reservation.
async fn finish(
    shared: &Rc<Shared>,
    assistant_id: &str,
    outcome: Result<(), UpstreamError>,
    finish_reason: Option<String>,
    mut sender: Option<SseSink>,
) {
    let (content, reasoning, log_len, aborted, usage) = match shared.live.borrow().as_ref() {
        Some(l) if l.message_id == assistant_id => {
            let complete = outcome.is_ok() && !l.aborted;
            let usage = l.meter.usage(l.usage, &l.received(), complete);
            let reasoning = thoughts::to_json(&l.thoughts);
            (l.content.clone(), reasoning, l.log_len(), l.aborted, usage)
        }
        _ => return,
    };
    let status = match (&outcome, aborted) {
        (_, true) => ABORTED,
        (Ok(()), false) => COMPLETE,
        (Err(_), false) => FAILED,
    };
    let now = now_ms();
    let _ = sql_exec(
        shared,
        "UPDATE messages SET content = ?, reasoning = ?, status = ?, prompt_tokens = ?, completion_tokens = ?, finish_reason = ?, error_code = ?, updated_at = ? WHERE id = ?",
        vec![
            content.as_str().into(),
            reasoning.map_or(SqlStorageValue::Null, SqlStorageValue::from),
            status.into(),
            (usage.prompt_tokens as i64).into(),
            (usage.completion_tokens as i64).into(),
            finish_reason.map(SqlStorageValue::from).unwrap_or(SqlStorageValue::Null),
            outcome.as_ref().err().map(|_| SqlStorageValue::from("upstream_error")).unwrap_or(SqlStorageValue::Null),
            now.into(),
            assistant_id.into(),
        ],
    );
    let end_id = log_len + 1;
    let final_frame = match (&outcome, aborted) {
        (Err(e), false) => frame(
            end_id,
            "error",
            &json!({ "code": "upstream_error", "message": e.message }),
        ),
        _ => {
            let view = tree::view(&shared.sql, assistant_id).ok().flatten();
            frame(
                end_id,
                "message.completed",
                &json!({ "message": view, "usage": usage }),
            )
        }
    };
    send(shared, &mut sender, &final_frame);
    let Some(mut live) = shared.live.borrow_mut().take() else {
        return;
    };
    crate::search::reply_finished(
        &shared.state,
        &shared.env,
        &shared.sql,
        &live.conversation_id,
        assistant_id,
    );
    // The conversation is free from here; its readers stay until it is named (if it is to
    // be), then dropping them closes their streams.
    let readers = std::mem::take(&mut live.subscribers);
    let naming = live.title.take().filter(|_| status == COMPLETE);
    record(&shared.env, live.meter, &live.conversation_id, usage).await;
    if let Some((cmd, first)) = naming {
        if let Some(t) = title::name(&shared.env, &live.conversation_id, &cmd, &first).await {
            let f = frame(end_id + 1, "title", &json!({ "title": t }));
            if let Some(s) = &sender {
                s.send(&f);
            }
            for r in &readers {
                let _ = r.unbounded_send(f.clone());
            }
        }
    }
}

/// Bills a reply the conversation's deletion cut off (`live` taken out by the wipe) as an
/// aborted one: what it had streamed. One that had not started is left to its send, which
/// releases the reservation and answers 409.
pub fn end_deleted(shared: &Shared, live: Live) {
    if !live.started {
        return;
    }
    let usage = live.meter.usage(live.usage, &live.received(), false);
    let env = shared.env.clone();
    shared.state.wait_until(async move {
        record(&env, live.meter, &live.conversation_id, usage).await;
    });
}

/// Stops the reply in flight (if any); what was generated is kept as `aborted`.
pub fn abort(shared: &Shared) {
    if let Some(live) = shared.live.borrow_mut().as_mut() {
        live.aborted = true;
        if let Some(c) = live.abort.take() {
            c.abort();
        }
    }
}

/// Replays a reply after `Last-Event-ID`, then follows it live until it ends.
pub fn resume(shared: &Shared, req: &Request) -> ApiResult<Response> {
    let url = req.url()?;
    let mut message_id = String::new();
    let mut after: Option<String> = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "message_id" => message_id = v.into_owned(),
            "after" => after = Some(v.into_owned()),
            _ => {}
        }
    }
    let row = message(shared, &message_id)?
        .filter(|m| m.role == "assistant")
        .ok_or(ApiError::NotFound)?;
    let (tx, rx) = mpsc::unbounded();
    let mut live_guard = shared.live.borrow_mut();
    let live = live_guard.as_mut().filter(|l| l.message_id == message_id);
    let (content, thoughts) = match &live {
        Some(l) => (l.content.clone(), l.thoughts.clone()),
        None => (
            row.content.clone(),
            thoughts::parse(row.reasoning.as_deref()),
        ),
    };
    let after = match after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::validation("Last-Event-ID must be an event id of this stream")
        })?,
    };
    let rest = thoughts::rest_after(&content, &thoughts, after)
        .ok_or_else(|| ApiError::validation("Last-Event-ID is not an event id of this reply"))?;
    for (id, segment) in rest {
        let event = if segment.reasoning {
            "reasoning"
        } else {
            "delta"
        };
        let _ = tx.unbounded_send(frame(id, event, &Text { text: segment.text }));
    }
    let log_len = content.len() + thoughts::text_len(&thoughts);
    match live {
        Some(live) => live.subscribers.push(tx),
        None if after <= log_len => {
            let end = log_len + 1;
            let f = if row.status == FAILED {
                frame(
                    end,
                    "error",
                    &json!({ "code": "upstream_error", "message": "the provider failed before the reply was complete" }),
                )
            } else {
                frame(
                    end,
                    "message.completed",
                    &json!({ "message": row.view(), "usage": row.view().usage }),
                )
            };
            let _ = tx.unbounded_send(f);
        }
        None => {}
    }
    drop(live_guard);
    sse_response(rx)
}

#[cfg(test)]
mod tests {
    use super::chat_param;

    #[test]
    fn a_refused_position_gets_the_chat_routes_name() {
        for (neutral, text_first, want) in [
            ("messages[3].content[0]", true, "content"),
            ("messages[3].content[1]", true, "attachments[0]"),
            ("messages[3].content[2]", true, "attachments[1]"),
            ("messages[3].content[0]", false, "attachments[0]"),
            ("messages[3]", true, "content"),
            ("messages[1].content[1]", true, "model"),
            ("thinking.budget_tokens", true, "reasoning_effort"),
            ("reasoning_effort", false, "reasoning_effort"),
            ("max_tokens", true, "max_tokens"),
        ] {
            assert_eq!(chat_param(neutral, 3, text_first), want, "{neutral}");
        }
    }
}
