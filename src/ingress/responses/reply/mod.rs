//! The reply: neutral completions rendered as the Responses API's response object, and
//! neutral chunks as its semantic stream events.

use serde_json::{json, Map, Value};

use super::{ENCRYPTED_REDACTED, ENCRYPTED_SIGNATURE};
use crate::gateway::Render;
use crate::ingress::wire::client_call_id;
use crate::providers::{
    Block, Chunk, Completion, FinishReason, Reasoning, ReasoningDelta, ToolCall, ToolCallDelta,
    UpstreamError, UpstreamErrorKind, Usage,
};

fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_prompt_tokens, "cache_write_tokens": u.cache_write_tokens},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total(),
    })
}

/// How a reply ended: `completed`, or `incomplete` with OpenAI's reason.
fn ending(finish: Option<&FinishReason>) -> Option<&'static str> {
    match finish {
        Some(FinishReason::Length) => Some("max_output_tokens"),
        Some(FinishReason::ContentFilter) => Some("content_filter"),
        _ => None,
    }
}

/// A reasoning block's signature or redacted data, as `encrypted_content`.
fn encrypted(r: &Reasoning) -> Option<String> {
    match (&r.redacted, &r.signature) {
        (Some(data), _) => Some(format!("{ENCRYPTED_REDACTED}{data}")),
        (None, Some(sig)) => Some(format!("{ENCRYPTED_SIGNATURE}{sig}")),
        (None, None) => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text { text: String, logprobs: Vec<Value> },
    Refusal(String),
}

impl Part {
    fn json(&self) -> Value {
        match self {
            Part::Text { text, logprobs } => {
                json!({"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs})
            }
            Part::Refusal(r) => json!({"type": "refusal", "refusal": r}),
        }
    }

    fn empty_json(&self) -> Value {
        match self {
            Part::Text { .. } => {
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
            }
            Part::Refusal(_) => json!({"type": "refusal", "refusal": ""}),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Reasoning(Reasoning),
    Message(Vec<Part>),
    Call(ToolCall),
}

/// One item of `output`.
#[derive(Clone, Debug, PartialEq)]
struct Item {
    id: String,
    status: &'static str,
    kind: Kind,
}

impl Item {
    fn json(&self) -> Value {
        let (id, status) = (&self.id, self.status);
        match &self.kind {
            Kind::Reasoning(r) => {
                let summary: Vec<Value> = if r.text.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "summary_text", "text": r.text})]
                };
                let mut item =
                    json!({"id": id, "type": "reasoning", "status": status, "summary": summary});
                if let Some(e) = encrypted(r) {
                    item["encrypted_content"] = e.into();
                }
                item
            }
            Kind::Message(parts) => json!({
                "id": id, "type": "message", "role": "assistant", "status": status,
                "content": parts.iter().map(Part::json).collect::<Vec<_>>(),
            }),
            Kind::Call(c) => json!({
                "id": id, "type": "function_call", "status": status, "call_id": client_call_id(c),
                "name": c.name, "arguments": c.arguments,
            }),
        }
    }

    /// As `response.output_item.added` shows it: nothing generated yet.
    fn added_json(&self) -> Value {
        let mut item = Item {
            status: "in_progress",
            ..self.clone()
        };
        match &mut item.kind {
            Kind::Reasoning(r) => *r = Reasoning::default(),
            Kind::Message(parts) => parts.clear(),
            Kind::Call(c) => c.arguments.clear(),
        }
        item.json()
    }
}

/// A reply in this format, written by the pipeline (`gateway::respond`): the response object
/// of a reply not streamed, or the events of a streamed one.
pub struct Reply {
    id: String,
    created_at: u64,
    model: String,
    settings: Map<String, Value>,
    /// The stream so far.
    seq: u64,
    started: bool,
    ended: bool,
    items: Vec<Item>,
    /// The item receiving deltas, by position in `items`.
    open: Option<usize>,
    /// Neutral reasoning and tool-call indexes, and the item each became.
    reasoning_at: Vec<(u32, usize)>,
    calls_at: Vec<(u32, usize)>,
    /// Tool calls that began while another call was streaming: announced, whole, when it
    /// ends, so every item's events stay together.
    pending: Vec<(u32, ToolCall)>,
    finish: Option<FinishReason>,
}

impl Reply {
    /// `id` is `resp_…`; `settings` are the request's, as `parse_request` gives them.
    pub fn new(id: String, created_at: u64, model: &str, settings: Map<String, Value>) -> Self {
        Reply {
            id,
            created_at,
            model: model.to_owned(),
            settings,
            seq: 0,
            started: false,
            ended: false,
            items: Vec::new(),
            open: None,
            reasoning_at: Vec::new(),
            calls_at: Vec::new(),
            pending: Vec::new(),
            finish: None,
        }
    }

    /// Item ids share the response's: `msg_<response>_<n>`, `fc_…`, `rs_…`.
    fn add(&mut self, kind: Kind) -> usize {
        let prefix = match kind {
            Kind::Reasoning(_) => "rs",
            Kind::Message(_) => "msg",
            Kind::Call(_) => "fc",
        };
        let base = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        let n = self.items.len();
        self.items.push(Item {
            id: format!("{prefix}_{base}_{n}"),
            status: "in_progress",
            kind,
        });
        n
    }

    /// The response object. `completed_at` is set for a completed response.
    fn response(
        &self,
        status: &str,
        usage: Option<Usage>,
        incomplete: Option<&str>,
        error: Option<Value>,
    ) -> Value {
        let mut r = self.settings.clone();
        let completed_at = (status == "completed")
            .then(|| (crate::util::now_ms() / 1000).max(self.created_at as i64));
        for (key, value) in [
            ("id", Value::from(self.id.clone())),
            ("object", "response".into()),
            ("created_at", self.created_at.into()),
            ("completed_at", completed_at.into()),
            ("status", status.into()),
            ("model", self.model.clone().into()),
            (
                "output",
                self.items.iter().map(Item::json).collect::<Vec<_>>().into(),
            ),
            ("usage", usage.map_or(Value::Null, usage_json)),
            (
                "incomplete_details",
                incomplete.map_or(Value::Null, |reason| json!({"reason": reason})),
            ),
            ("error", error.unwrap_or(Value::Null)),
            ("previous_response_id", Value::Null),
            ("store", false.into()),
            ("background", false.into()),
            ("truncation", "disabled".into()),
            ("max_tool_calls", Value::Null),
        ] {
            r.insert(key.into(), value);
        }
        Value::Object(r)
    }

    /// The output items of a whole reply: reasoning items, messages (text and refusals next
    /// to each other make one), function calls, in the order the model gave them.
    fn fill(&mut self, c: &Completion) {
        for block in &c.content {
            match block {
                Block::Reasoning(r) => drop(self.add(Kind::Reasoning(r.clone()))),
                Block::ToolCall(call) => drop(self.add(Kind::Call(call.clone()))),
                Block::Text(t) => self.push_part(Part::Text {
                    text: t.clone(),
                    logprobs: Vec::new(),
                }),
                Block::Refusal(r) => self.push_part(Part::Refusal(r.clone())),
                // A reply holds none of these.
                Block::Image(_) | Block::Document { .. } | Block::ToolResult(_) => {}
            }
        }
        for item in &mut self.items {
            item.status = "completed";
        }
        if let Some(entries) = &c.logprobs {
            self.spread_logprobs(entries);
        }
    }

    fn push_part(&mut self, part: Part) {
        if let Some(Item {
            kind: Kind::Message(parts),
            ..
        }) = self.items.last_mut()
        {
            parts.push(part);
            return;
        }
        self.add(Kind::Message(vec![part]));
    }

    /// A whole reply's logprobs, each text part given the entries whose tokens spell it.
    fn spread_logprobs(&mut self, entries: &[Value]) {
        let mut parts: Vec<(&str, &mut Vec<Value>)> = self
            .items
            .iter_mut()
            .filter_map(|i| match &mut i.kind {
                Kind::Message(parts) => Some(parts),
                _ => None,
            })
            .flatten()
            .filter_map(|p| match p {
                Part::Text { text, logprobs } => Some((text.as_str(), logprobs)),
                Part::Refusal(_) => None,
            })
            .collect();
        let last = parts.len().saturating_sub(1);
        let mut rest = entries.iter();
        for (n, (text, logprobs)) in parts.iter_mut().enumerate() {
            let mut spelled = 0;
            while spelled < text.len() || n == last {
                let Some(entry) = rest.next() else { break };
                spelled += entry["token"].as_str().map_or(0, str::len);
                logprobs.push(entry.clone());
            }
        }
    }

    // --- The stream ---------------------------------------------------------------------

    /// One event: its type and sequence number added to `body`.
    fn event(&mut self, kind: &str, body: Value, out: &mut Vec<String>) {
        let mut body = match body {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        body.insert("type".into(), kind.into());
        body.insert("sequence_number".into(), self.seq.into());
        self.seq += 1;
        out.push(format!("event: {kind}\ndata: {}\n\n", Value::Object(body)));
    }

    fn start(&mut self, out: &mut Vec<String>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.response("in_progress", None, None, None);
        self.event("response.created", json!({"response": response}), out);
        let response = self.response("in_progress", None, None, None);
        self.event("response.in_progress", json!({"response": response}), out);
    }

    fn announce(&mut self, kind: Kind, out: &mut Vec<String>) -> usize {
        let at = self.add(kind);
        let item = self.items[at].added_json();
        self.event(
            "response.output_item.added",
            json!({"output_index": at, "item": item}),
            out,
        );
        at
    }

    fn on_chunk(&mut self, c: &Chunk) -> Vec<String> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        // In the order `Completion::push` folds them, so the stream and the fold agree.
        if let Some(r) = &c.reasoning {
            self.on_reasoning(r, &mut out);
        }
        let entries: Vec<Value> = match c.logprobs.as_ref().and_then(|l| l.get("content")) {
            Some(Value::Array(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        if !c.text.is_empty() {
            self.on_text(&c.text, entries, &mut out);
        } else if let Some(Part::Text { logprobs, .. }) = self.open_part() {
            logprobs.extend(entries);
        }
        if !c.refusal.is_empty() {
            self.on_refusal(&c.refusal, &mut out);
        }
        for d in &c.tool_calls {
            self.on_call(d, &mut out);
        }
        if let Some(reason) = &c.finish_reason {
            self.finish = Some(reason.clone());
        }
        out
    }

    /// The last part of the open message, if a message is open.
    fn open_part(&mut self) -> Option<&mut Part> {
        match &mut self.items.get_mut(self.open?)?.kind {
            Kind::Message(parts) => parts.last_mut(),
            _ => None,
        }
    }

    fn on_reasoning(&mut self, d: &ReasoningDelta, out: &mut Vec<String>) {
        let at = match self.reasoning_at.iter().find(|(i, _)| *i == d.index) {
            Some(&(_, at)) => at,
            None => {
                self.close(false, out);
                let at = self.announce(Kind::Reasoning(Reasoning::default()), out);
                self.reasoning_at.push((d.index, at));
                self.open = Some(at);
                at
            }
        };
        let streaming = self.open == Some(at);
        let Kind::Reasoning(r) = &mut self.items[at].kind else {
            return;
        };
        let first_text = r.text.is_empty() && !d.text.is_empty();
        r.text.push_str(&d.text);
        if let Some(s) = &d.signature {
            r.signature.get_or_insert_with(String::new).push_str(s);
        }
        if let Some(data) = &d.redacted {
            r.redacted.get_or_insert_with(String::new).push_str(data);
        }
        // A fragment of a block already done (never seen from a provider) is in the final
        // response only.
        if !streaming || d.text.is_empty() {
            return;
        }
        let item_id = self.items[at].id.clone();
        if first_text {
            self.event(
                "response.reasoning_summary_part.added",
                json!({"item_id": item_id, "output_index": at, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
                out,
            );
        }
        self.event(
            "response.reasoning_summary_text.delta",
            json!({"item_id": item_id, "output_index": at, "summary_index": 0, "delta": d.text}),
            out,
        );
    }

    /// The open message, opening one (and a part of `part`'s kind in it) when needed.
    fn message_part(&mut self, part: Part, out: &mut Vec<String>) -> (usize, usize) {
        let at = match self.open {
            Some(at) if matches!(self.items[at].kind, Kind::Message(_)) => at,
            _ => {
                self.close(false, out);
                let at = self.announce(Kind::Message(Vec::new()), out);
                self.open = Some(at);
                at
            }
        };
        let Kind::Message(parts) = &self.items[at].kind else {
            return (at, 0);
        };
        let same = matches!(
            (parts.last(), &part),
            (Some(Part::Text { .. }), Part::Text { .. })
                | (Some(Part::Refusal(_)), Part::Refusal(_))
        );
        if same {
            return (at, parts.len() - 1);
        }
        if !parts.is_empty() {
            self.close_part(at, out);
        }
        let item_id = self.items[at].id.clone();
        let Kind::Message(parts) = &mut self.items[at].kind else {
            return (at, 0);
        };
        let content_index = parts.len();
        let empty = part.empty_json();
        parts.push(part);
        self.event(
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": at, "content_index": content_index, "part": empty}),
            out,
        );
        (at, content_index)
    }

    fn on_text(&mut self, text: &str, entries: Vec<Value>, out: &mut Vec<String>) {
        let empty = Part::Text {
            text: String::new(),
            logprobs: Vec::new(),
        };
        let (at, content_index) = self.message_part(empty, out);
        if let Some(Part::Text {
            text: whole,
            logprobs,
        }) = self.open_part()
        {
            whole.push_str(text);
            logprobs.extend(entries.iter().cloned());
        }
        let item_id = self.items[at].id.clone();
        self.event(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": at, "content_index": content_index,
                   "delta": text, "logprobs": entries}),
            out,
        );
    }

    fn on_refusal(&mut self, refusal: &str, out: &mut Vec<String>) {
        let (at, content_index) = self.message_part(Part::Refusal(String::new()), out);
        if let Some(Part::Refusal(whole)) = self.open_part() {
            whole.push_str(refusal);
        }
        let item_id = self.items[at].id.clone();
        self.event(
            "response.refusal.delta",
            json!({"item_id": item_id, "output_index": at, "content_index": content_index,
                   "delta": refusal}),
            out,
        );
    }

    fn on_call(&mut self, d: &ToolCallDelta, out: &mut Vec<String>) {
        let merge = |c: &mut ToolCall| {
            c.arguments.push_str(&d.arguments);
            if c.id.is_empty() {
                c.id = d.id.clone().unwrap_or_default();
            }
            if c.name.is_empty() {
                c.name = d.name.clone().unwrap_or_default();
            }
            if d.signature.is_some() && c.signature.is_none() {
                c.signature.clone_from(&d.signature);
            }
        };
        if let Some(&(_, at)) = self.calls_at.iter().find(|(i, _)| *i == d.index) {
            if let Kind::Call(c) = &mut self.items[at].kind {
                merge(c);
            }
            if self.open == Some(at) && !d.arguments.is_empty() {
                let item_id = self.items[at].id.clone();
                self.event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": item_id, "output_index": at, "delta": d.arguments}),
                    out,
                );
            }
            return;
        }
        if let Some((_, c)) = self.pending.iter_mut().find(|(i, _)| *i == d.index) {
            merge(c);
            return;
        }
        let mut call = ToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
            signature: None,
        };
        merge(&mut call);
        let calling = self
            .open
            .is_some_and(|at| matches!(self.items[at].kind, Kind::Call(_)));
        if calling {
            self.pending.push((d.index, call));
            return;
        }
        self.close(false, out);
        let at = self.start_call(d.index, call, out);
        self.open = Some(at);
    }

    /// Announces a call, with the arguments it has so far as its first delta.
    fn start_call(&mut self, index: u32, call: ToolCall, out: &mut Vec<String>) -> usize {
        let arguments = call.arguments.clone();
        let at = self.announce(Kind::Call(call), out);
        self.calls_at.push((index, at));
        if !arguments.is_empty() {
            let item_id = self.items[at].id.clone();
            self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": at, "delta": arguments}),
                out,
            );
        }
        at
    }

    /// The closing events of the open message's last part.
    fn close_part(&mut self, at: usize, out: &mut Vec<String>) {
        let item_id = self.items[at].id.clone();
        let Kind::Message(parts) = &self.items[at].kind else {
            return;
        };
        let Some(part) = parts.last().cloned() else {
            return;
        };
        let content_index = parts.len() - 1;
        let ids = json!({"item_id": item_id, "output_index": at, "content_index": content_index});
        let (kind, mut done) = match &part {
            Part::Text { text, logprobs } => (
                "response.output_text.done",
                json!({"text": text, "logprobs": logprobs}),
            ),
            Part::Refusal(r) => ("response.refusal.done", json!({"refusal": r})),
        };
        let mut with_part = ids.clone();
        if let (Value::Object(d), Value::Object(i)) = (&mut done, ids) {
            d.extend(i);
        }
        self.event(kind, done, out);
        with_part["part"] = part.json();
        self.event("response.content_part.done", with_part, out);
    }

    /// Ends the open item, then announces and ends the calls that waited for it. With
    /// `cut`, the last of them ends `incomplete` (the reply stopped inside it).
    fn close(&mut self, cut: bool, out: &mut Vec<String>) {
        let pending = std::mem::take(&mut self.pending);
        if let Some(at) = self.open.take() {
            self.end_item(at, cut && pending.is_empty(), out);
        }
        let last = pending.len().saturating_sub(1);
        for (n, (index, call)) in pending.into_iter().enumerate() {
            let at = self.start_call(index, call, out);
            self.end_item(at, cut && n == last, out);
        }
    }

    fn end_item(&mut self, at: usize, cut: bool, out: &mut Vec<String>) {
        let item_id = self.items[at].id.clone();
        match self.items[at].kind.clone() {
            Kind::Reasoning(r) if !r.text.is_empty() => {
                let ids = json!({"item_id": item_id, "output_index": at, "summary_index": 0});
                let mut done = ids.clone();
                done["text"] = r.text.clone().into();
                self.event("response.reasoning_summary_text.done", done, out);
                let mut done = ids;
                done["part"] = json!({"type": "summary_text", "text": r.text});
                self.event("response.reasoning_summary_part.done", done, out);
            }
            Kind::Reasoning(_) => {}
            Kind::Message(_) => self.close_part(at, out),
            Kind::Call(c) => self.event(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": at, "name": c.name, "arguments": c.arguments}),
                out,
            ),
        }
        self.items[at].status = if cut { "incomplete" } else { "completed" };
        let item = self.items[at].json();
        self.event(
            "response.output_item.done",
            json!({"output_index": at, "item": item}),
            out,
        );
    }

    fn on_end(&mut self, usage: Usage) -> Vec<String> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.ended = true;
        let incomplete = ending(self.finish.as_ref());
        self.close(incomplete.is_some(), &mut out);
        let (kind, status) = match incomplete {
            Some(_) => ("response.incomplete", "incomplete"),
            None => ("response.completed", "completed"),
        };
        let response = self.response(status, Some(usage), incomplete, None);
        self.event(kind, json!({"response": response}), &mut out);
        out
    }

    /// `error`, then `response.failed` with what was generated so far (the item cut short,
    /// and any call still waiting, `incomplete`).
    fn on_fail(&mut self, e: &UpstreamError) -> Vec<String> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.ended = true;
        if let Some(at) = self.open.take() {
            self.items[at].status = "incomplete";
        }
        for (_, call) in std::mem::take(&mut self.pending) {
            let at = self.add(Kind::Call(call));
            self.items[at].status = "incomplete";
        }
        let code = match e.kind {
            UpstreamErrorKind::RateLimited { .. } => "rate_limit_exceeded",
            _ => "server_error",
        };
        self.event(
            "error",
            json!({"code": code, "message": e.message, "param": null}),
            &mut out,
        );
        let error = json!({"code": code, "message": e.message});
        let response = self.response("failed", None, None, Some(error));
        self.event("response.failed", json!({"response": response}), &mut out);
        out
    }
}

impl Render for Reply {
    fn completion(&mut self, c: &Completion) -> Value {
        self.items.clear();
        self.fill(c);
        let incomplete = ending(c.finish_reason.as_ref());
        if let (Some(_), Some(last)) = (incomplete, self.items.last_mut()) {
            last.status = "incomplete";
        }
        let status = if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        };
        self.response(status, Some(c.usage), incomplete, None)
    }

    fn chunk(&mut self, c: &Chunk) -> Vec<String> {
        self.on_chunk(c)
    }

    fn end(&mut self, usage: Usage) -> Vec<String> {
        self.on_end(usage)
    }

    fn fail(&mut self, e: &UpstreamError) -> Vec<String> {
        self.on_fail(e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::ingress::responses::parse_request;
    use crate::providers::{demo, sse::SseDecoder, stream_mapper, ProviderKind};

    fn reply() -> Reply {
        let settings = parse_request(br#"{"model": "demo/echo", "input": "hi"}"#)
            .unwrap()
            .settings;
        Reply::new("resp_ABC".into(), 1_700_000_000, "demo/echo", settings)
    }

    /// `(type, data)` of each frame, checking its framing and its sequence number.
    fn events(frames: &[String]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (n, f) in frames.iter().enumerate() {
            let (head, data) = f
                .strip_suffix("\n\n")
                .and_then(|f| f.split_once('\n'))
                .unwrap_or_else(|| panic!("frame {f:?}"));
            let kind = head.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], kind, "{f}");
            assert_eq!(data["sequence_number"], n, "{f}");
            out.push((kind.to_owned(), data));
        }
        out
    }

    fn kinds(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn stream(chunks: &[Chunk], usage: Usage) -> Vec<(String, Value)> {
        let mut r = reply();
        let mut frames: Vec<String> = chunks.iter().flat_map(|c| r.chunk(c)).collect();
        frames.extend(r.end(usage));
        assert!(r.end(usage).is_empty(), "end is idempotent");
        events(&frames)
    }

    fn reasoning(index: u32, text: &str, signature: Option<&str>) -> Chunk {
        Chunk {
            reasoning: Some(ReasoningDelta {
                index,
                text: text.into(),
                signature: signature.map(Into::into),
                redacted: None,
            }),
            ..Chunk::default()
        }
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

    fn finish(reason: FinishReason) -> Chunk {
        Chunk {
            finish_reason: Some(reason),
            ..Chunk::default()
        }
    }

    /// Checks what OpenAI's SDKs rely on (openai-python's `ResponseStreamState`): created
    /// first; items added at consecutive output indexes and done once, never interleaved;
    /// every delta about the open item and part; the final response's output is what the
    /// items' done events said. Returns the final response.
    fn well_formed(events: &[(String, Value)]) -> Value {
        assert_eq!(
            kinds(&events[..2]),
            ["response.created", "response.in_progress"]
        );
        let id = &events[0].1["response"]["id"];
        let mut done_items: Vec<Value> = Vec::new();
        let mut open: Option<(u64, String)> = None;
        for (kind, e) in &events[2..] {
            match kind.as_str() {
                "response.output_item.added" => {
                    assert!(open.is_none(), "an item added while another is open: {e}");
                    assert_eq!(e["output_index"], done_items.len(), "{e}");
                    assert_eq!(e["item"]["status"], "in_progress", "{e}");
                    open = Some((
                        e["output_index"].as_u64().unwrap(),
                        e["item"]["id"].as_str().unwrap().into(),
                    ));
                }
                "response.output_item.done" => {
                    let (at, item_id) = open.take().expect("done without added");
                    assert_eq!(
                        (
                            e["output_index"].as_u64().unwrap(),
                            e["item"]["id"].as_str().unwrap()
                        ),
                        (at, item_id.as_str())
                    );
                    done_items.push(e["item"].clone());
                }
                "response.completed" | "response.incomplete" | "response.failed" => {
                    assert!(
                        open.is_none() || kind == "response.failed",
                        "{kind} with an item open"
                    );
                    assert_eq!(&e["response"]["id"], id);
                    let output = e["response"]["output"].as_array().unwrap();
                    if kind != "response.failed" {
                        assert_eq!(
                            output, &done_items,
                            "the final output is what the done events said"
                        );
                    }
                    return e["response"].clone();
                }
                "error" => {}
                _ => {
                    let (at, item_id) = open
                        .as_ref()
                        .unwrap_or_else(|| panic!("{kind} outside an item"));
                    assert_eq!(
                        (
                            e["output_index"].as_u64().unwrap(),
                            e["item_id"].as_str().unwrap()
                        ),
                        (*at, item_id.as_str()),
                        "{e}"
                    );
                }
            }
        }
        panic!("no terminal event");
    }

    #[test]
    fn a_streamed_text_reply_sends_openais_events_in_openais_order() {
        let ev = stream(
            &[
                Chunk::text("Hel"),
                Chunk::text("lo"),
                finish(FinishReason::Stop),
            ],
            Usage::new(3, 2),
        );
        assert_eq!(
            kinds(&ev),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let created = &ev[0].1["response"];
        assert_eq!(
            (
                &created["status"],
                &created["output"],
                &created["usage"],
                &created["store"]
            ),
            (
                &json!("in_progress"),
                &json!([]),
                &Value::Null,
                &json!(false)
            )
        );
        assert_eq!(
            ev[2].1["item"],
            json!({"id": "msg_ABC_0", "type": "message", "role": "assistant", "status": "in_progress", "content": []})
        );
        assert_eq!(
            ev[3].1["part"],
            json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        );
        assert_eq!(
            (
                &ev[4].1["delta"],
                &ev[4].1["item_id"],
                &ev[4].1["content_index"],
                &ev[4].1["logprobs"]
            ),
            (&json!("Hel"), &json!("msg_ABC_0"), &json!(0), &json!([]))
        );
        assert_eq!(ev[6].1["text"], "Hello");
        assert_eq!(ev[7].1["part"]["text"], "Hello");
        let done = &ev[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert!(done["completed_at"].as_u64().unwrap() >= 1_700_000_000);
        assert_eq!(
            done["output"],
            json!([{"id": "msg_ABC_0", "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]}])
        );
        assert_eq!(
            done["usage"],
            json!({"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                   "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5})
        );
        well_formed(&ev);
    }

    #[test]
    fn streamed_reasoning_then_text_then_a_call_each_make_one_well_formed_item() {
        let ev = stream(
            &[
                reasoning(0, "Let me ", None),
                reasoning(0, "think.", None),
                reasoning(0, "", Some("sig-1")),
                Chunk::text("Calling."),
                call(0, Some("call_a"), Some("weather"), ""),
                call(0, None, None, "{\"city\":"),
                call(0, None, None, "\"Paris\"}"),
                finish(FinishReason::ToolCalls),
            ],
            Usage::new(10, 20),
        );
        assert_eq!(
            kinds(&ev)[2..],
            [
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(
            ev[2].1["item"],
            json!({"id": "rs_ABC_0", "type": "reasoning", "status": "in_progress", "summary": []})
        );
        assert_eq!(
            ev[3].1,
            json!({"type": "response.reasoning_summary_part.added", "sequence_number": 3, "item_id": "rs_ABC_0",
                   "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
        );
        assert_eq!(
            ev[8].1["item"],
            json!({"id": "rs_ABC_0", "type": "reasoning", "status": "completed",
                   "summary": [{"type": "summary_text", "text": "Let me think."}],
                   "encrypted_content": "chatgate:signature:sig-1"})
        );
        assert_eq!(
            ev[15].1["item"],
            json!({"id": "fc_ABC_2", "type": "function_call", "status": "in_progress", "call_id": "call_a",
                   "name": "weather", "arguments": ""})
        );
        assert_eq!(
            ev[18].1,
            json!({"type": "response.function_call_arguments.done", "sequence_number": 18, "item_id": "fc_ABC_2",
                   "output_index": 2, "name": "weather", "arguments": "{\"city\":\"Paris\"}"})
        );
        let done = well_formed(&ev);
        assert_eq!(
            done["status"], "completed",
            "a tool call ends a response as completed"
        );
    }

    #[test]
    fn parallel_calls_that_interleave_are_sent_whole_one_after_the_other() {
        let ev = stream(
            &[
                call(0, Some("call_a"), Some("weather"), "{\"ci"),
                call(1, Some("call_b"), Some("time"), "{\"tz"),
                call(0, None, None, "ty\":1}"),
                call(1, None, None, "\":2}"),
                call(2, Some("call_c"), Some("date"), "{}"),
            ],
            Usage::new(1, 1),
        );
        let done = well_formed(&ev);
        let calls: Vec<(&str, &str)> = done["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["call_id"].as_str().unwrap(),
                    i["arguments"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("call_a", "{\"city\":1}"),
                ("call_b", "{\"tz\":2}"),
                ("call_c", "{}")
            ]
        );
        let deltas: Vec<(u64, &str)> = ev
            .iter()
            .filter(|(k, _)| k == "response.function_call_arguments.delta")
            .map(|(_, e)| {
                (
                    e["output_index"].as_u64().unwrap(),
                    e["delta"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            deltas,
            [(0, "{\"ci"), (0, "ty\":1}"), (1, "{\"tz\":2}"), (2, "{}")],
            "the first call streams; the others wait and come whole"
        );
    }

    #[test]
    fn refusals_signatures_on_calls_and_a_cut_reply_are_rendered_as_openai_does() {
        let ev = stream(
            &[
                Chunk::text("Well"),
                Chunk {
                    refusal: "I can't.".into(),
                    ..Chunk::default()
                },
                Chunk {
                    tool_calls: vec![ToolCallDelta {
                        index: 0,
                        id: Some("call_g".into()),
                        name: Some("f".into()),
                        arguments: "{}".into(),
                        signature: Some("gsig".into()),
                    }],
                    ..Chunk::default()
                },
                finish(FinishReason::Length),
            ],
            Usage::new(1, 1),
        );
        let k = kinds(&ev);
        assert_eq!(
            k[2..12],
            [
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.content_part.added",
                "response.refusal.delta",
                "response.refusal.done",
                "response.content_part.done",
                "response.output_item.done",
            ]
        );
        assert_eq!(ev[7].1["part"], json!({"type": "refusal", "refusal": ""}));
        assert_eq!(ev[8].1["content_index"], 1);
        let done = well_formed(&ev);
        assert_eq!(k.last(), Some(&"response.incomplete"));
        assert_eq!(
            (
                &done["status"],
                &done["incomplete_details"],
                &done["completed_at"]
            ),
            (
                &json!("incomplete"),
                &json!({"reason": "max_output_tokens"}),
                &Value::Null
            )
        );
        let output = done["output"].as_array().unwrap();
        assert_eq!(output[0]["status"], "completed");
        assert_eq!(
            output[1],
            json!({"id": "fc_ABC_1", "type": "function_call", "status": "incomplete",
                   "call_id": "call_g__thought__gsig", "name": "f", "arguments": "{}"}),
            "the item cut short is incomplete; a Gemini signature rides in the call id"
        );
    }

    #[test]
    fn a_failure_mid_stream_is_an_error_event_then_response_failed() {
        let mut r = reply();
        let mut frames = r.chunk(&Chunk::text("Hi"));
        frames.extend(r.chunk(&call(0, Some("c1"), Some("f"), "{")));
        frames.extend(r.chunk(&call(1, Some("c2"), Some("g"), "{}")));
        let e = UpstreamError::new(
            UpstreamErrorKind::RateLimited { retry_after: None },
            0,
            "anthropic: slow down",
        );
        frames.extend(r.fail(&e));
        assert!(
            r.end(Usage::default()).is_empty() && r.fail(&e).is_empty(),
            "the stream has ended"
        );
        let ev = events(&frames);
        let n = ev.len();
        assert_eq!(kinds(&ev)[n - 2..], ["error", "response.failed"]);
        assert_eq!(
            ev[n - 2].1,
            json!({"type": "error", "sequence_number": n - 2, "code": "rate_limit_exceeded",
                   "message": "anthropic: slow down", "param": null})
        );
        let failed = well_formed(&ev);
        assert_eq!(failed["status"], "failed");
        assert_eq!(
            failed["error"],
            json!({"code": "rate_limit_exceeded", "message": "anthropic: slow down"})
        );
        let statuses: Vec<&str> = failed["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["completed", "incomplete", "incomplete"],
            "what came so far, the rest cut short"
        );
    }

    #[test]
    fn an_empty_reply_still_opens_and_completes_its_response() {
        let ev = stream(&[], Usage::new(4, 0));
        assert_eq!(
            kinds(&ev),
            [
                "response.created",
                "response.in_progress",
                "response.completed"
            ]
        );
        assert_eq!(ev[2].1["response"]["output"], json!([]));
    }

    #[test]
    fn a_completion_renders_every_block_with_the_settings_and_usage_details() {
        let c = Completion {
            content: vec![
                Block::Reasoning(Reasoning {
                    text: "Think.".into(),
                    signature: Some("sig".into()),
                    redacted: None,
                }),
                Block::Reasoning(Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some("opaque".into()),
                }),
                Block::Text("Hi".into()),
                Block::Refusal("No.".into()),
                Block::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "w".into(),
                    arguments: "{}".into(),
                    signature: Some("gsig".into()),
                }),
                Block::Text("After.".into()),
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
        let body = reply().completion(&c);
        assert_eq!(
            body["output"],
            json!([
                {"id": "rs_ABC_0", "type": "reasoning", "status": "completed",
                 "summary": [{"type": "summary_text", "text": "Think."}], "encrypted_content": "chatgate:signature:sig"},
                {"id": "rs_ABC_1", "type": "reasoning", "status": "completed", "summary": [],
                 "encrypted_content": "chatgate:redacted:opaque"},
                {"id": "msg_ABC_2", "type": "message", "role": "assistant", "status": "completed", "content": [
                    {"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []},
                    {"type": "refusal", "refusal": "No."}]},
                {"id": "fc_ABC_3", "type": "function_call", "status": "completed", "call_id": "c1__thought__gsig",
                 "name": "w", "arguments": "{}"},
                {"id": "msg_ABC_4", "type": "message", "role": "assistant", "status": "completed", "content": [
                    {"type": "output_text", "text": "After.", "annotations": [], "logprobs": []}]},
            ])
        );
        assert_eq!(
            body["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 3},
                   "output_tokens": 6, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 16})
        );
        // Every field openai-python's `Response` requires, and the spec's required ones.
        for field in [
            "id",
            "object",
            "created_at",
            "status",
            "error",
            "incomplete_details",
            "instructions",
            "model",
            "tools",
            "output",
            "parallel_tool_calls",
            "metadata",
            "tool_choice",
            "temperature",
            "top_p",
        ] {
            assert!(body.get(field).is_some(), "{field} missing");
        }
        assert_eq!(
            (
                &body["id"],
                &body["object"],
                &body["created_at"],
                &body["status"],
                &body["model"]
            ),
            (
                &json!("resp_ABC"),
                &json!("response"),
                &json!(1_700_000_000),
                &json!("completed"),
                &json!("demo/echo")
            )
        );
        assert_eq!(
            (
                &body["store"],
                &body["previous_response_id"],
                &body["tool_choice"],
                &body["text"],
                &body["metadata"]
            ),
            (
                &json!(false),
                &Value::Null,
                &json!("auto"),
                &json!({"format": {"type": "text"}}),
                &json!({})
            )
        );
        assert!(
            body.get("output_text").is_none(),
            "the SDKs compute output_text themselves"
        );
    }

    #[test]
    fn a_whole_reply_cut_by_a_filter_is_incomplete_and_its_logprobs_follow_its_text() {
        let entry = |t: &str| json!({"token": t, "logprob": -0.5, "bytes": t.as_bytes(), "top_logprobs": []});
        let c = Completion {
            content: vec![
                Block::Text("Hi there".into()),
                Block::ToolCall(ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    signature: None,
                }),
                Block::Text("Bye".into()),
            ],
            usage: Usage::new(1, 3),
            finish_reason: Some(FinishReason::ContentFilter),
            logprobs: Some(vec![entry("Hi"), entry(" there"), entry("By"), entry("e")]),
        };
        let body = reply().completion(&c);
        assert_eq!(
            (&body["status"], &body["incomplete_details"]),
            (&json!("incomplete"), &json!({"reason": "content_filter"}))
        );
        let out = body["output"].as_array().unwrap();
        assert_eq!(
            (&out[0]["status"], &out[2]["status"]),
            (&json!("completed"), &json!("incomplete"))
        );
        assert_eq!(
            out[0]["content"][0]["logprobs"],
            json!([entry("Hi"), entry(" there")])
        );
        assert_eq!(
            out[2]["content"][0]["logprobs"],
            json!([entry("By"), entry("e")])
        );
    }

    fn fixture_chunks(kind: ProviderKind, fixture: &str) -> (Vec<Chunk>, Option<UpstreamError>) {
        let mut dec = SseDecoder::new();
        let mut mapper = stream_mapper(kind);
        let mut chunks = Vec::new();
        let events = dec
            .feed(fixture.as_bytes())
            .unwrap()
            .into_iter()
            .chain(dec.finish().unwrap());
        for ev in events {
            match mapper.on_event(&ev) {
                Ok(c) => chunks.extend(c),
                Err(e) => return (chunks, Some(e)),
            }
        }
        (chunks, mapper.finish().err())
    }

    /// Streamed or not, a reply reads the same: the streamed response's final output is the
    /// output of the completion the same chunks fold into.
    fn stream_matches_completion(name: &str, chunks: &[Chunk], failure: Option<UpstreamError>) {
        let mut folded = Completion::default();
        chunks.iter().for_each(|c| folded.push(c));
        let mut r = reply();
        let mut frames: Vec<String> = chunks.iter().flat_map(|c| r.chunk(c)).collect();
        match &failure {
            Some(e) => frames.extend(r.fail(e)),
            None => frames.extend(r.end(folded.usage)),
        }
        let streamed = well_formed(&events(&frames));
        if failure.is_some() {
            assert_eq!(streamed["status"], "failed", "{name}");
            return;
        }
        let whole = reply().completion(&folded);
        for field in ["output", "usage", "status", "incomplete_details"] {
            assert_eq!(streamed[field], whole[field], "{name}: {field}");
        }
    }

    #[test]
    fn every_provider_fixture_streams_to_the_response_its_completion_renders() {
        let fixtures = [
            (
                ProviderKind::OpenAi,
                "openai_stream",
                include_str!("../../../../tests/fixtures/sse/openai_stream.sse"),
            ),
            (
                ProviderKind::OpenAi,
                "openai_tool_calls",
                include_str!("../../../../tests/fixtures/sse/openai_tool_calls.sse"),
            ),
            (
                ProviderKind::OpenAi,
                "openai_parallel_tool_calls",
                include_str!("../../../../tests/fixtures/sse/openai_parallel_tool_calls.sse"),
            ),
            (
                ProviderKind::OpenAi,
                "openai_refusal",
                include_str!("../../../../tests/fixtures/sse/openai_refusal.sse"),
            ),
            (
                ProviderKind::OpenAi,
                "openai_logprobs",
                include_str!("../../../../tests/fixtures/sse/openai_logprobs.sse"),
            ),
            (
                ProviderKind::OpenAi,
                "openai_refusal_logprobs",
                include_str!("../../../../tests/fixtures/sse/openai_refusal_logprobs.sse"),
            ),
            (
                ProviderKind::OpenAi,
                "openai_usage_details",
                include_str!("../../../../tests/fixtures/sse/openai_usage_details.sse"),
            ),
            (
                ProviderKind::Anthropic,
                "anthropic_stream",
                include_str!("../../../../tests/fixtures/sse/anthropic_stream.sse"),
            ),
            (
                ProviderKind::Anthropic,
                "anthropic_error",
                include_str!("../../../../tests/fixtures/sse/anthropic_error.sse"),
            ),
            (
                ProviderKind::Anthropic,
                "anthropic_tool_use",
                include_str!("../../../../tests/fixtures/sse/anthropic_tool_use.sse"),
            ),
            (
                ProviderKind::Anthropic,
                "anthropic_thinking",
                include_str!("../../../../tests/fixtures/sse/anthropic_thinking.sse"),
            ),
            (
                ProviderKind::Anthropic,
                "anthropic_refusal",
                include_str!("../../../../tests/fixtures/sse/anthropic_refusal.sse"),
            ),
            (
                ProviderKind::Gemini,
                "gemini_stream",
                include_str!("../../../../tests/fixtures/sse/gemini_stream.sse"),
            ),
            (
                ProviderKind::Gemini,
                "gemini_function_calls",
                include_str!("../../../../tests/fixtures/sse/gemini_function_calls.sse"),
            ),
            (
                ProviderKind::Gemini,
                "gemini_thinking",
                include_str!("../../../../tests/fixtures/sse/gemini_thinking.sse"),
            ),
            (
                ProviderKind::Gemini,
                "gemini_json",
                include_str!("../../../../tests/fixtures/sse/gemini_json.sse"),
            ),
        ];
        for (kind, name, fixture) in fixtures {
            let (chunks, failure) = fixture_chunks(kind, fixture);
            assert!(
                !chunks.is_empty() || failure.is_some(),
                "{name}: nothing mapped"
            );
            stream_matches_completion(name, &chunks, failure);
        }
    }

    #[test]
    fn every_demo_feature_streams_to_the_response_its_completion_renders() {
        let tools = json!([{"type": "function", "name": "weather", "strict": null,
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
        for body in [
            json!({"model": "demo/echo", "input": "Hello there"}),
            json!({"model": "demo/echo", "input": "Weather?", "tools": tools}),
            json!({"model": "demo/echo", "input": "Think", "reasoning": {"effort": "low", "summary": "auto"}, "tools": tools}),
            json!({"model": "demo/echo", "input": "JSON", "text": {"format": {"type": "json_schema", "name": "a",
                   "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}}),
            json!({"model": "demo/echo", "input": "Scores", "top_logprobs": 2}),
        ] {
            let req = parse_request(body.to_string().as_bytes()).unwrap().chat;
            let chunks = demo::chunks(&req);
            stream_matches_completion(&body.to_string(), &chunks, None);
            let whole = reply().completion(&demo::completion(&req));
            assert_eq!(whole["status"], "completed", "{body}");
        }
    }
}
