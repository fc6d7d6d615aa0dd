//! The reply relayed and persisted: pumped from the provider into SQLite and out to every
//! reader, ended (completed, failed, aborted or cut off by a deletion), resumed.

use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use serde_json::json;
use worker::{Env, Request, Response, SqlStorageValue};

use super::{frame, message, sql_exec, stopped, Live, Text};
use crate::conversation::protocol::{ABORTED, COMPLETE, FAILED};
use crate::conversation::thoughts;
use crate::conversation::title;
use crate::conversation::tree;
use crate::conversation::Shared;
use crate::error::{ApiError, ApiResult};
use crate::gateway::Meter;
use crate::providers::{Chunk, UpstreamError, Usage};
use crate::sse::SseSink;
use crate::upstream::{sse_response, ReplySource};
use crate::util::now_ms;

/// How often the text of a streaming reply is written to SQLite. Readers get the text from
/// memory while it streams; the writes only bound what an eviction or a crash can lose, and
/// each one costs a transaction, so a fast stream is written in batches of many deltas.
const FLUSH_INTERVAL_MS: i64 = 1000;

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

pub(super) async fn pump(
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
