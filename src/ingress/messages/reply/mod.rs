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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{sse::SseDecoder, stream_mapper, ProviderKind};

    fn fixture_chunks(kind: ProviderKind, fixture: &str) -> Vec<Chunk> {
        let mut dec = SseDecoder::new();
        let mut mapper = stream_mapper(kind);
        let mut chunks = Vec::new();
        for ev in dec
            .feed(fixture.as_bytes())
            .unwrap()
            .into_iter()
            .chain(dec.finish().unwrap())
        {
            chunks.extend(mapper.on_event(&ev).unwrap());
        }
        mapper.finish().unwrap();
        chunks
    }

    fn fold(chunks: &[Chunk]) -> Completion {
        let mut c = Completion::default();
        chunks.iter().for_each(|ch| c.push(ch));
        c
    }

    /// Renders the chunks as the pipeline does: each chunk, then the end with the billed usage.
    fn render(chunks: &[Chunk]) -> Vec<(String, Value)> {
        let mut w = EventWriter::new("msg_1", "anthropic/claude-sonnet-4-6", 9);
        let mut frames: Vec<String> = chunks.iter().flat_map(|c| w.on_chunk(c)).collect();
        frames.extend(w.finish(fold(chunks).usage));
        assert!(
            w.finish(Usage::default()).is_empty(),
            "finish is idempotent"
        );
        frames.iter().map(|f| parse_frame(f)).collect()
    }

    fn parse_frame(f: &str) -> (String, Value) {
        let (event, data) = f
            .strip_suffix("\n\n")
            .and_then(|f| f.split_once('\n'))
            .unwrap_or_else(|| panic!("not one frame: {f:?}"));
        let event = event.strip_prefix("event: ").unwrap().to_owned();
        let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["type"], event.as_str(), "event line repeats the type");
        (event, data)
    }

    /// Checks Anthropic's grammar and folds the events into the message, as the SDKs'
    /// `accumulate_event` does.
    fn accumulate(events: &[(String, Value)]) -> Value {
        assert_eq!(events[0].0, "message_start");
        assert_eq!(events[1].0, "ping", "a ping right after message_start");
        let mut message = events[0].1["message"].clone();
        assert_eq!(message["content"], json!([]));
        let mut open: Option<u64> = None;
        let mut next = 0;
        let mut json_bufs: Vec<String> = Vec::new();
        let (last, body) = events.split_last().unwrap();
        assert_eq!(last.0, "message_stop");
        for (event, data) in &body[2..] {
            match event.as_str() {
                "content_block_start" => {
                    assert_eq!(open, None, "one block at a time: {events:?}");
                    assert_eq!(data["index"], next, "indexes count up from 0");
                    open = Some(next);
                    next += 1;
                    message["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(data["content_block"].clone());
                    json_bufs.push(String::new());
                }
                "content_block_delta" => {
                    let i = data["index"].as_u64().unwrap();
                    assert_eq!(Some(i), open, "a delta of the open block");
                    let block = &mut message["content"][i as usize];
                    let d = &data["delta"];
                    match d["type"].as_str().unwrap() {
                        "text_delta" => {
                            let t = format!(
                                "{}{}",
                                block["text"].as_str().unwrap(),
                                d["text"].as_str().unwrap()
                            );
                            block["text"] = t.into();
                        }
                        "thinking_delta" => {
                            let t = format!(
                                "{}{}",
                                block["thinking"].as_str().unwrap(),
                                d["thinking"].as_str().unwrap()
                            );
                            block["thinking"] = t.into();
                        }
                        "signature_delta" => block["signature"] = d["signature"].clone(),
                        "input_json_delta" => {
                            json_bufs[i as usize].push_str(d["partial_json"].as_str().unwrap());
                            block["input"] = serde_json::from_str(&json_bufs[i as usize])
                                .unwrap_or_else(|_| block["input"].clone());
                        }
                        other => panic!("unknown delta {other}"),
                    }
                }
                "content_block_stop" => {
                    assert_eq!(data["index"].as_u64(), open, "stops the open block");
                    open = None;
                }
                "message_delta" => {
                    assert_eq!(open, None, "every block stopped before message_delta");
                    for key in ["stop_reason", "stop_sequence", "stop_details"] {
                        if let Some(v) = data["delta"].get(key) {
                            message[key] = v.clone();
                        }
                    }
                    message["usage"] = data["usage"].clone();
                }
                other => panic!("unexpected {other} in {events:?}"),
            }
        }
        message
    }

    fn kinds(events: &[(String, Value)]) -> Vec<String> {
        events
            .iter()
            .map(|(e, d)| match e.as_str() {
                "content_block_start" => {
                    format!("start {}", d["content_block"]["type"].as_str().unwrap())
                }
                "content_block_delta" => d["delta"]["type"].as_str().unwrap().to_owned(),
                "content_block_stop" => "stop".to_owned(),
                other => other.to_owned(),
            })
            .collect()
    }

    /// The stream folds into the very message a non-streamed reply would be.
    fn assert_stream_matches_body(chunks: &[Chunk]) -> Vec<(String, Value)> {
        let events = render(chunks);
        let streamed = accumulate(&events);
        let whole = message_body("msg_1", "anthropic/claude-sonnet-4-6", &fold(chunks));
        assert_eq!(streamed, whole);
        events
    }

    #[test]
    fn anthropics_documented_thinking_stream_comes_back_block_for_block() {
        let chunks = fixture_chunks(
            ProviderKind::Anthropic,
            include_str!("../../../../tests/fixtures/sse/anthropic_thinking.sse"),
        );
        let events = assert_stream_matches_body(&chunks);
        assert_eq!(
            kinds(&events),
            [
                "message_start",
                "ping",
                "start thinking",
                "thinking_delta",
                "thinking_delta",
                "signature_delta",
                "stop",
                "start text",
                "text_delta",
                "stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events[5].1["delta"]["signature"],
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."
        );
        assert_eq!(
            events[10].1["delta"],
            json!({"stop_reason": "end_turn", "stop_sequence": null})
        );
    }

    #[test]
    fn anthropics_tool_use_stream_comes_back_with_its_input_json_deltas() {
        let fixture = include_str!("../../../../tests/fixtures/sse/anthropic_tool_use.sse");
        let chunks = fixture_chunks(ProviderKind::Anthropic, fixture);
        let events = assert_stream_matches_body(&chunks);
        let upstream: Vec<String> = fixture
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str::<Value>(d).unwrap())
            .filter(|d| {
                d["delta"]["type"] == "input_json_delta" && d["delta"]["partial_json"] != ""
            })
            .map(|d| d["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        let relayed: Vec<String> = events
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(relayed, upstream, "the argument fragments as they came");
        let message = accumulate(&events);
        assert_eq!(message["stop_reason"], "tool_use");
        assert!(message["content"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "tool_use" && b["input"].is_object()));
    }

    #[test]
    fn openai_parallel_tool_calls_become_one_block_each_in_order() {
        let chunks = fixture_chunks(
            ProviderKind::OpenAi,
            include_str!("../../../../tests/fixtures/sse/openai_parallel_tool_calls.sse"),
        );
        let events = assert_stream_matches_body(&chunks);
        let message = accumulate(&events);
        let calls: Vec<&Value> = message["content"].as_array().unwrap().iter().collect();
        assert!(
            calls.len() >= 2 && calls.iter().all(|b| b["type"] == "tool_use"),
            "{message}"
        );
        assert_eq!(message["stop_reason"], "tool_use");
    }

    fn call(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Chunk {
        Chunk {
            tool_calls: vec![ToolCallDelta {
                index,
                id: id.map(Into::into),
                name: name.map(Into::into),
                arguments: args.into(),
                signature: None,
            }],
            ..Chunk::default()
        }
    }

    #[test]
    fn interleaved_tool_call_fragments_are_held_back_and_sent_whole_in_order() {
        let chunks = vec![
            Chunk::text("Checking."),
            call(0, Some("call_a"), Some("weather"), "{\"city\":"),
            call(1, Some("call_b"), Some("time"), "{\"tz\":"),
            call(0, None, None, "\"Paris\"}"),
            call(2, Some("call_c"), Some("news"), ""),
            call(1, None, None, "\"CET\"}"),
            Chunk {
                finish_reason: Some(FinishReason::ToolCalls),
                usage: Some(Usage::new(20, 11)),
                ..Chunk::default()
            },
        ];
        let events = assert_stream_matches_body(&chunks);
        assert_eq!(
            kinds(&events),
            [
                "message_start",
                "ping",
                "start text",
                "text_delta",
                "stop",
                "start tool_use",
                "input_json_delta",
                "input_json_delta",
                "stop",
                "start tool_use",
                "input_json_delta",
                "stop",
                "start tool_use",
                "stop",
                "message_delta",
                "message_stop"
            ]
        );
        let message = accumulate(&events);
        assert_eq!(message["content"][1]["input"], json!({"city": "Paris"}));
        assert_eq!(message["content"][2]["input"], json!({"tz": "CET"}));
        assert_eq!(
            message["content"][3],
            json!({"type": "tool_use", "id": "call_c", "name": "news", "input": {}})
        );
        assert_eq!(
            message["usage"],
            json!({"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 11})
        );
    }

    #[test]
    fn reasoning_signatures_redacted_thinking_and_gemini_call_signatures_render() {
        let reasoning =
            |index, text: &str, signature: Option<&str>, redacted: Option<&str>| Chunk {
                reasoning: Some(ReasoningDelta {
                    index,
                    text: text.into(),
                    signature: signature.map(Into::into),
                    redacted: redacted.map(Into::into),
                }),
                ..Chunk::default()
            };
        let chunks = vec![
            reasoning(0, "Let me ", None, None),
            reasoning(0, "think.", None, None),
            // A signature in two pieces is sent whole, once, before the block stops.
            reasoning(0, "", Some("sig-"), None),
            reasoning(0, "", Some("1"), None),
            reasoning(1, "", None, Some("opaque")),
            // Gemini: a signature on text comes as a reasoning block of its own.
            reasoning(2, "", Some("gsig"), None),
            Chunk::text("Done."),
            Chunk {
                tool_calls: vec![ToolCallDelta {
                    index: 0,
                    id: Some("call_0".into()),
                    name: Some("f".into()),
                    arguments: "{}".into(),
                    signature: Some("csig==".into()),
                }],
                ..Chunk::default()
            },
        ];
        let events = assert_stream_matches_body(&chunks);
        assert_eq!(
            kinds(&events)[2..14],
            [
                "start thinking",
                "thinking_delta",
                "thinking_delta",
                "signature_delta",
                "stop",
                "start redacted_thinking",
                "stop",
                "start thinking",
                "signature_delta",
                "stop",
                "start text",
                "text_delta"
            ]
        );
        let message = accumulate(&events);
        assert_eq!(
            message["content"],
            json!([
                {"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "thinking", "thinking": "", "signature": "gsig"},
                {"type": "text", "text": "Done."},
                {"type": "tool_use", "id": "call_0__thought__csig==", "name": "f", "input": {}}
            ])
        );
        assert_eq!(
            message["stop_reason"], "tool_use",
            "calls made, no reason given"
        );
    }

    #[test]
    fn an_empty_reply_still_has_the_whole_grammar() {
        let mut w = EventWriter::new("msg_2", "demo/echo", 7);
        let events: Vec<(String, Value)> = w
            .finish(Usage::new(7, 0))
            .iter()
            .map(|f| parse_frame(f))
            .collect();
        assert_eq!(
            kinds(&events),
            ["message_start", "ping", "message_delta", "message_stop"]
        );
        assert_eq!(
            events[0].1["message"],
            json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "demo/echo",
                   "content": [], "stop_reason": null, "stop_sequence": null,
                   "usage": {"input_tokens": 7, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 0, "output_tokens": 0}})
        );
    }

    #[test]
    fn message_start_carries_the_providers_first_usage_when_the_stream_starts_with_it() {
        let mut w = EventWriter::new("msg_3", "gemini/gemini-2.5-flash", 99);
        let first = Chunk {
            text: "Hi".into(),
            usage: Some(Usage {
                cached_prompt_tokens: 4,
                ..Usage::new(12, 1)
            }),
            ..Chunk::default()
        };
        let (_, start) = parse_frame(&w.on_chunk(&first)[0]);
        assert_eq!(
            start["message"]["usage"],
            json!({"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 1})
        );
    }

    #[test]
    fn a_refusal_is_a_refusal_stop_with_its_explanation() {
        let chunks = fixture_chunks(
            ProviderKind::OpenAi,
            include_str!("../../../../tests/fixtures/sse/openai_refusal.sse"),
        );
        let events = assert_stream_matches_body(&chunks);
        let message = accumulate(&events);
        assert_eq!(message["stop_reason"], "refusal");
        assert_eq!(message["stop_details"]["type"], "refusal");
        assert!(
            message["stop_details"]["explanation"]
                .as_str()
                .unwrap()
                .len()
                > 5
        );
        let gemini_blocked = Completion {
            finish_reason: Some(FinishReason::ContentFilter),
            ..Completion::default()
        };
        let body = message_body("m", "gemini/x", &gemini_blocked);
        assert_eq!(
            (&body["stop_reason"], &body["stop_details"]),
            (
                &json!("refusal"),
                &json!({"type": "refusal", "category": null, "explanation": null})
            )
        );
    }

    #[test]
    fn a_completion_renders_every_block_usage_details_and_stop_reason() {
        let c = Completion {
            content: vec![
                Block::Reasoning(Reasoning {
                    text: "Think.".into(),
                    signature: Some("sig".into()),
                    redacted: None,
                }),
                Block::Text("Hi".into()),
                Block::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "w".into(),
                    arguments: "{\"city\":\"Paris\"}".into(),
                    signature: None,
                }),
            ],
            usage: Usage {
                cached_prompt_tokens: 2,
                cache_write_tokens: 3,
                reasoning_tokens: 4,
                ..Usage::new(10, 6)
            },
            finish_reason: Some(FinishReason::ToolCalls),
            logprobs: None,
        };
        assert_eq!(
            message_body("msg_9", "claude-sonnet-4-5", &c),
            json!({
                "id": "msg_9", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [
                    {"type": "thinking", "thinking": "Think.", "signature": "sig"},
                    {"type": "text", "text": "Hi"},
                    {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 5, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 2,
                          "output_tokens": 6, "output_tokens_details": {"thinking_tokens": 4}}
            })
        );
        for (reason, want) in [
            (Some(FinishReason::Stop), "end_turn"),
            (None, "end_turn"),
            (Some(FinishReason::Length), "max_tokens"),
            (Some(FinishReason::Other("pause_turn".into())), "pause_turn"),
            (Some(FinishReason::Other("recitation".into())), "end_turn"),
        ] {
            let c = Completion {
                content: vec![Block::Text("x".into())],
                finish_reason: reason.clone(),
                ..Completion::default()
            };
            assert_eq!(
                message_body("m", "x", &c)["stop_reason"],
                want,
                "{reason:?}"
            );
        }
        // A call cut short by max_tokens has arguments that are not JSON: its input is {}.
        let cut = Completion {
            content: vec![Block::ToolCall(ToolCall {
                id: "t".into(),
                name: "w".into(),
                arguments: "{\"ci".into(),
                signature: None,
            })],
            finish_reason: Some(FinishReason::Length),
            ..Completion::default()
        };
        assert_eq!(
            message_body("m", "x", &cut)["content"][0]["input"],
            json!({})
        );
    }

    #[test]
    fn errors_render_in_anthropics_shape_with_the_type_its_clients_switch_on() {
        for (e, kind, message) in [
            (
                ApiError::param("messages.0.content", "messages.0.content: Field required"),
                "invalid_request_error",
                "messages.0.content: Field required",
            ),
            (
                ApiError::param("tools.0.input_schema", "Anthropic takes an object"),
                "invalid_request_error",
                "tools.0.input_schema: Anthropic takes an object",
            ),
            (
                ApiError::Unauthorized("a bearer token (or x-api-key) is required"),
                "authentication_error",
                "a bearer token (or x-api-key) is required",
            ),
            (
                ApiError::Forbidden("this API key lacks the `chat` scope"),
                "permission_error",
                "this API key lacks the `chat` scope",
            ),
            (
                ApiError::ModelNotFound("anthropic: model: missing".into()),
                "not_found_error",
                "anthropic: model: missing",
            ),
            (
                ApiError::PayloadTooLarge(10),
                "request_too_large",
                "the request body is larger than this route's limit of 10 bytes",
            ),
            (
                ApiError::RateLimited(3),
                "rate_limit_error",
                "too many requests; retry in 3 seconds",
            ),
            (
                ApiError::BudgetExceeded(3),
                "rate_limit_error",
                "the organization's monthly token budget is exhausted",
            ),
            (
                ApiError::Upstream {
                    status: 503,
                    detail: "anthropic: Overloaded".into(),
                    retry_after: None,
                },
                "overloaded_error",
                "anthropic: Overloaded",
            ),
            (
                ApiError::Upstream {
                    status: 502,
                    detail: "openai: boom".into(),
                    retry_after: None,
                },
                "api_error",
                "openai: boom",
            ),
            (
                ApiError::internal("secret context"),
                "api_error",
                "an unexpected error occurred",
            ),
        ] {
            assert_eq!(
                api_error_body(&e),
                json!({"type": "error", "error": {"type": kind, "message": message}}),
                "{e:?}"
            );
        }
        let e = UpstreamError::new(UpstreamErrorKind::Overloaded, 0, "anthropic: Overloaded");
        assert_eq!(
            error_event(&e),
            "event: error\ndata: {\"error\":{\"message\":\"anthropic: Overloaded\",\"type\":\"overloaded_error\"},\"type\":\"error\"}\n\n"
        );
        let mut w = EventWriter::new("m", "x", 1);
        w.on_chunk(&Chunk::text("a"));
        assert_eq!(w.fail(&e), vec![error_event(&e)]);
        assert!(
            w.finish(Usage::default()).is_empty(),
            "nothing after the error"
        );
    }
}
