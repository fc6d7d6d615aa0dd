//! The reply: neutral completions and chunks rendered as Anthropic sends them, and errors in
//! Anthropic's shape.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::gateway::Render;
use crate::ingress::wire::THOUGHT_SEPARATOR;
use crate::providers::{
    Block, Chunk, Completion, FinishReason, Reasoning, ReasoningDelta, ToolCall, ToolCallDelta,
    UpstreamError, UpstreamErrorKind, Usage,
};

/// Anthropic's usage: `input_tokens` without the cache's reads and writes, which have their
/// own counts (the neutral prompt count includes them).
fn usage_json(u: Usage) -> Value {
    let mut usage = json!({
        "input_tokens": u.prompt_tokens.saturating_sub(u.cached_prompt_tokens + u.cache_write_tokens),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_prompt_tokens,
        "output_tokens": u.completion_tokens,
    });
    if u.reasoning_tokens > 0 {
        usage["output_tokens_details"] = json!({"thinking_tokens": u.reasoning_tokens});
    }
    usage
}

/// The id a client sees for a call: with its Gemini thought signature, when it has one.
fn client_call_id(id: &str, signature: Option<&str>) -> String {
    match signature {
        Some(sig) => format!("{id}{THOUGHT_SEPARATOR}{sig}"),
        None => id.to_owned(),
    }
}

/// A tool call's arguments as the object `input` is: blank is `{}` (a call without
/// arguments), and so is text that is not a JSON object (a call cut short by `max_tokens`).
fn input_json(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

fn thinking_json(r: &Reasoning) -> Value {
    match &r.redacted {
        Some(data) => json!({"type": "redacted_thinking", "data": data}),
        None => json!({"type": "thinking", "thinking": r.text,
                       "signature": r.signature.as_deref().unwrap_or("")}),
    }
}

/// The stop reason in Anthropic's words: a refusal (its text given or not) is `refusal`,
/// a content filter too; a reply that ended without a reason after tool calls is `tool_use`.
fn stop_reason(reason: Option<&FinishReason>, called: bool, refused: bool) -> &'static str {
    match reason {
        _ if refused => "refusal",
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::Refusal | FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Other(r)) if r == "pause_turn" => "pause_turn",
        Some(FinishReason::Stop | FinishReason::Other(_)) => "end_turn",
        None if called => "tool_use",
        None => "end_turn",
    }
}

/// Whether a reply ended as a refusal, and its explanation: `stop_details` when it did.
fn stop_details(reason: Option<&FinishReason>, refusal: Option<&str>) -> Option<Value> {
    let refused = refusal.is_some()
        || matches!(
            reason,
            Some(FinishReason::Refusal | FinishReason::ContentFilter)
        );
    refused.then(|| json!({"type": "refusal", "category": null, "explanation": refusal}))
}

/// A whole reply: `{id, type: "message", role, model, content, stop_reason, stop_sequence,
/// usage}`, with `stop_details` for a refusal.
pub fn message_body(id: &str, model: &str, c: &Completion) -> Value {
    let mut content = Vec::with_capacity(c.content.len());
    for block in &c.content {
        match block {
            Block::Text(text) => content.push(json!({"type": "text", "text": text})),
            Block::ToolCall(call) => content.push(tool_use_json(call)),
            Block::Reasoning(r) => content.push(thinking_json(r)),
            // The refusal's text is its `stop_details.explanation`; the rest are not reply blocks.
            Block::Refusal(_) | Block::Image(_) | Block::Document { .. } | Block::ToolResult(_) => {
            }
        }
    }
    let refusal = c.refusal();
    let called = c.tool_calls().next().is_some();
    let reason = c.finish_reason.as_ref();
    let mut body = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(reason, called, refusal.is_some()),
        "stop_sequence": null,
        "usage": usage_json(c.usage),
    });
    if let Some(details) = stop_details(reason, refusal) {
        body["stop_details"] = details;
    }
    body
}

fn tool_use_json(call: &ToolCall) -> Value {
    json!({"type": "tool_use", "id": client_call_id(&call.id, call.signature.as_deref()),
           "name": call.name, "input": input_json(&call.arguments)})
}

/// One SSE frame: `event:` then `data:` (compact JSON has no raw newline).
fn frame(data: &Value) -> String {
    let kind = data["type"].as_str().unwrap_or("error");
    format!("event: {kind}\ndata: {data}\n\n")
}

/// The block open in the stream (Anthropic's grammar has one at a time).
#[derive(Clone, Debug, PartialEq)]
enum Open {
    Text,
    /// The neutral reasoning block it renders, and its signature so far (sent whole, last).
    Thinking {
        reasoning: u32,
        signature: String,
    },
    /// The neutral tool call it renders.
    ToolUse(u32),
    /// Redacted thinking, which comes whole (started and ended at once).
    Redacted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    /// Streaming as the open block.
    Open,
    /// Held back while another call's block is open: its fragments so far.
    Pending,
    /// Its block has ended.
    Done,
}

/// A tool call of the reply, by its neutral index.
#[derive(Clone, Debug)]
struct Call {
    index: u32,
    id: String,
    name: String,
    signature: Option<String>,
    /// Fragments held back while the call is pending.
    arguments: String,
    state: CallState,
}

/// Renders neutral chunks as Anthropic's stream: `message_start`, `ping`, then each content
/// block in order (`content_block_start`, its deltas, `content_block_stop`, indexes counting
/// from 0), then `message_delta` (stop reason and usage) and `message_stop`.
///
/// A neutral stream may interleave fragments of several tool calls; Anthropic's grammar has
/// one open block at a time. The first call streams live; one that starts while another's
/// block is open is held back, in order of first appearance, and sent whole (one
/// `input_json_delta`) once the open block ends, which is when a block of another kind opens
/// or the reply ends: the blocks come in the order `Completion::push` folds them, and each
/// call's arguments whole. (No provider sends more of a call after text or reasoning that
/// followed it.)
#[derive(Clone, Debug)]
pub struct EventWriter {
    id: String,
    model: String,
    /// The prompt's estimated tokens, for `message_start` when the stream starts without usage.
    prompt_estimate: u64,
    started: bool,
    done: bool,
    /// Anthropic's index of the next block.
    next_index: u32,
    open: Option<Open>,
    calls: Vec<Call>,
    refusal: String,
    finish_reason: Option<FinishReason>,
}

impl EventWriter {
    pub fn new(id: &str, model: &str, prompt_estimate: u64) -> Self {
        EventWriter {
            id: id.to_owned(),
            model: model.to_owned(),
            prompt_estimate,
            started: false,
            done: false,
            next_index: 0,
            open: None,
            calls: Vec::new(),
            refusal: String::new(),
            finish_reason: None,
        }
    }

    /// Whole frames for one chunk (at least `message_start` and `ping` for the first one).
    pub fn on_chunk(&mut self, c: &Chunk) -> Vec<String> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.start(c.usage, &mut out);
        if let Some(r) = &c.reasoning {
            self.reasoning(r, &mut out);
        }
        if !c.text.is_empty() {
            if self.open != Some(Open::Text) {
                self.close(&mut out);
                self.begin(json!({"type": "text", "text": ""}), Open::Text, &mut out);
            }
            self.delta(json!({"type": "text_delta", "text": c.text}), &mut out);
        }
        self.refusal.push_str(&c.refusal);
        for d in &c.tool_calls {
            self.tool_call(d, &mut out);
        }
        if let Some(reason) = &c.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
        out
    }

    /// The closing frames: the open block ended, held-back calls sent, `message_delta` with
    /// the stop reason and `usage` (what the reply is billed), `message_stop`.
    pub fn finish(&mut self, usage: Usage) -> Vec<String> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.start(None, &mut out);
        self.close(&mut out);
        self.done = true;
        let refusal = (!self.refusal.is_empty()).then_some(self.refusal.as_str());
        let reason = self.finish_reason.as_ref();
        let mut delta = json!({
            "stop_reason": stop_reason(reason, !self.calls.is_empty(), refusal.is_some()),
            "stop_sequence": null,
        });
        if let Some(details) = stop_details(reason, refusal) {
            delta["stop_details"] = details;
        }
        out.push(frame(
            &json!({"type": "message_delta", "delta": delta, "usage": usage_json(usage)}),
        ));
        out.push(frame(&json!({"type": "message_stop"})));
        out
    }

    /// An upstream failure after the 200 went out: Anthropic's `error` event.
    pub fn fail(&mut self, e: &UpstreamError) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![error_event(e)]
    }

    /// `message_start` (the message without content, and the first usage known) and a `ping`.
    fn start(&mut self, usage: Option<Usage>, out: &mut Vec<String>) {
        if self.started {
            return;
        }
        self.started = true;
        let usage = usage.unwrap_or(Usage::new(self.prompt_estimate, 0));
        out.push(frame(&json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage_json(usage),
        }})));
        out.push(frame(&json!({"type": "ping"})));
    }

    fn reasoning(&mut self, r: &ReasoningDelta, out: &mut Vec<String>) {
        if let Some(data) = &r.redacted {
            // Redacted thinking comes whole, as Anthropic sends it.
            self.close(out);
            let block = json!({"type": "redacted_thinking", "data": data});
            self.begin(block, Open::Redacted, out);
            self.end_open(out);
            return;
        }
        let continues =
            matches!(&self.open, Some(Open::Thinking { reasoning, .. }) if *reasoning == r.index);
        if !continues {
            self.close(out);
            let open = Open::Thinking {
                reasoning: r.index,
                signature: String::new(),
            };
            let block = json!({"type": "thinking", "thinking": "", "signature": ""});
            self.begin(block, open, out);
        }
        if !r.text.is_empty() {
            self.delta(json!({"type": "thinking_delta", "thinking": r.text}), out);
        }
        if let (Some(sig), Some(Open::Thinking { signature, .. })) = (&r.signature, &mut self.open)
        {
            signature.push_str(sig);
        }
    }

    fn tool_call(&mut self, d: &ToolCallDelta, out: &mut Vec<String>) {
        let Some(k) = self.calls.iter().position(|c| c.index == d.index) else {
            let held = matches!(self.open, Some(Open::ToolUse(_)));
            if !held {
                self.close(out);
            }
            self.calls.push(Call {
                index: d.index,
                id: d.id.clone().unwrap_or_default(),
                name: d.name.clone().unwrap_or_default(),
                signature: d.signature.clone(),
                arguments: d.arguments.clone(),
                state: CallState::Pending,
            });
            // Held back until the open call's block ends; else streamed from here on.
            if !held {
                self.begin_call(self.calls.len() - 1, out);
            }
            return;
        };
        let call = &mut self.calls[k];
        match call.state {
            CallState::Open => {
                if !d.arguments.is_empty() {
                    let delta = json!({"type": "input_json_delta", "partial_json": d.arguments});
                    self.delta(delta, out);
                }
            }
            // A call whose block ended gets nothing more from any provider (see the type's docs).
            CallState::Pending | CallState::Done => {
                call.arguments.push_str(&d.arguments);
                if call.id.is_empty() {
                    call.id = d.id.clone().unwrap_or_default();
                }
                if call.name.is_empty() {
                    call.name = d.name.clone().unwrap_or_default();
                }
                if d.signature.is_some() {
                    call.signature.clone_from(&d.signature);
                }
            }
        }
    }

    /// Starts call `k`'s block (nothing else open), with the arguments it holds so far.
    fn begin_call(&mut self, k: usize, out: &mut Vec<String>) {
        let call = &mut self.calls[k];
        call.state = CallState::Open;
        let held = std::mem::take(&mut call.arguments);
        let block = json!({"type": "tool_use",
                           "id": client_call_id(&call.id, call.signature.as_deref()),
                           "name": call.name, "input": {}});
        let open = Open::ToolUse(call.index);
        self.begin(block, open, out);
        if !held.is_empty() {
            self.delta(
                json!({"type": "input_json_delta", "partial_json": held}),
                out,
            );
        }
    }

    /// Starts `block` at the next index; nothing may be open.
    fn begin(&mut self, block: Value, open: Open, out: &mut Vec<String>) {
        out.push(frame(
            &json!({"type": "content_block_start", "index": self.next_index,
                               "content_block": block}),
        ));
        self.open = Some(open);
    }

    fn delta(&self, delta: Value, out: &mut Vec<String>) {
        out.push(frame(
            &json!({"type": "content_block_delta", "index": self.next_index,
                               "delta": delta}),
        ));
    }

    /// Ends the open block (a thinking block with its signature), then sends each call held
    /// back, whole, in order.
    fn close(&mut self, out: &mut Vec<String>) {
        self.end_open(out);
        while let Some(k) = self
            .calls
            .iter()
            .position(|c| c.state == CallState::Pending)
        {
            self.begin_call(k, out);
            self.end_open(out);
        }
    }

    fn end_open(&mut self, out: &mut Vec<String>) {
        let Some(open) = self.open.take() else {
            return;
        };
        match open {
            Open::Thinking { signature, .. } if !signature.is_empty() => {
                self.delta(
                    json!({"type": "signature_delta", "signature": signature}),
                    out,
                );
            }
            Open::ToolUse(index) => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.index == index) {
                    call.state = CallState::Done;
                }
            }
            _ => {}
        }
        out.push(frame(
            &json!({"type": "content_block_stop", "index": self.next_index}),
        ));
        self.next_index += 1;
    }
}

/// A reply in this format, written by the pipeline (`gateway::respond`).
pub struct Reply {
    id: String,
    model: String,
    events: EventWriter,
}

impl Reply {
    /// `model` as the client named it; `prompt_estimate` for `message_start` (see `EventWriter`).
    pub fn new(id: String, model: &str, prompt_estimate: u64) -> Self {
        Reply {
            events: EventWriter::new(&id, model, prompt_estimate),
            id,
            model: model.to_owned(),
        }
    }
}

impl Render for Reply {
    fn completion(&mut self, c: &Completion) -> Value {
        message_body(&self.id, &self.model, c)
    }

    fn chunk(&mut self, c: &Chunk) -> Vec<String> {
        self.events.on_chunk(c)
    }

    fn end(&mut self, usage: Usage) -> Vec<String> {
        self.events.finish(usage)
    }

    fn fail(&mut self, e: &UpstreamError) -> Vec<String> {
        self.events.fail(e)
    }
}

/// Anthropic's error type for a status: what its SDKs and Claude Code switch on.
fn error_type(e: &ApiError) -> &'static str {
    match e {
        ApiError::Upstream {
            status: 503 | 529, ..
        } => "overloaded_error",
        e => match e.status() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            s if s >= 500 => "api_error",
            _ => "invalid_request_error",
        },
    }
}

/// `{"type": "error", "error": {"type", "message"}}`: any error of a request, in Anthropic's
/// shape. Anthropic's errors name the field in the message (`messages.0.content: …`), and so
/// do these.
pub fn api_error_body(e: &ApiError) -> Value {
    let detail = e.detail();
    let message = match e.param_name() {
        Some(param) if !detail.starts_with(param) => format!("{param}: {detail}"),
        _ => detail,
    };
    json!({"type": "error", "error": {"type": error_type(e), "message": message}})
}

/// An upstream failure after the 200 went out, as Anthropic's `error` event.
pub fn error_event(e: &UpstreamError) -> String {
    let kind = match e.kind {
        UpstreamErrorKind::BadRequest | UpstreamErrorKind::Unauthorized => "invalid_request_error",
        UpstreamErrorKind::NotFound => "not_found_error",
        UpstreamErrorKind::RateLimited { .. } => "rate_limit_error",
        UpstreamErrorKind::Overloaded => "overloaded_error",
        UpstreamErrorKind::Server | UpstreamErrorKind::Protocol => "api_error",
    };
    frame(&json!({"type": "error", "error": {"type": kind, "message": e.message}}))
}

#[cfg(test)]
mod tests;
