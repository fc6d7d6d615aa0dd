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
mod tests;
