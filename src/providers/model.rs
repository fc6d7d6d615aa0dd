//! The provider-neutral model: what every ingress format (Chat Completions, Anthropic
//! Messages, Responses, the chat route) is translated into, and what every provider file
//! translates out of. It carries everything the three providers share: content parts
//! (text, images, documents), tool calls and their results, reasoning with the provider's
//! signature, refusals, structured output, and usage with its details.
//!
//! Ordered blocks, as Anthropic's Messages do: a turn is a role and a list of blocks, so the
//! order a provider needs (reasoning before the text and tool calls it led to, tool results
//! before any text of the same turn) survives every translation. OpenAI's `tool` messages
//! are user-side `ToolResult` blocks here; Gemini's `functionResponse` parts too.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// Where an image's or a document's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Media {
    /// A public `https` URL (or, for a provider that takes them, another URL form it accepts).
    Url(String),
    /// The bytes, base64 (standard alphabet, padded), with their media type.
    Base64 { media_type: String, data: String },
}

impl Media {
    /// The media type, when known without fetching.
    pub fn media_type(&self) -> Option<&str> {
        match self {
            Media::Url(_) => None,
            Media::Base64 { media_type, .. } => Some(media_type),
        }
    }
}

/// A call the model asked for. `arguments` is the JSON text of an object, exactly as the
/// model wrote it (a provider that gives an object has it serialized once, here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
    /// Gemini's `thoughtSignature` on the `functionCall` part, to be sent back with it.
    pub signature: Option<String>,
}

/// A tool's answer to a call, sent back in the next user turn.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// The called tool's name: Gemini's `functionResponse` needs it; the others do not.
    pub name: Option<String>,
    /// Text and images. (A JSON result is its text.)
    pub content: Vec<Block>,
    pub is_error: bool,
}

/// The model's reasoning, as a provider returns it, so the turn can be sent back intact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reasoning {
    /// The reasoning (or its summary) in text; empty for a redacted block.
    pub text: String,
    /// Anthropic's thinking `signature`, Gemini's `thoughtSignature`.
    pub signature: Option<String>,
    /// Anthropic's `redacted_thinking` data: opaque, sent back as it came.
    pub redacted: Option<String>,
}

/// One block of a turn.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Text(String),
    Image(Media),
    /// A PDF (or another document type a provider reads), with an optional file name.
    Document {
        media: Media,
        name: Option<String>,
    },
    /// Assistant turns only.
    ToolCall(ToolCall),
    /// User turns only.
    ToolResult(ToolResult),
    /// Assistant turns only.
    Reasoning(Reasoning),
    /// Assistant turns only: the model declined (OpenAI's `refusal`).
    Refusal(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![Block::Text(text.into())],
        }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![Block::Text(text.into())],
        }
    }

    /// The turn's text blocks, joined (what a text-only view or estimate reads).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for block in &self.content {
            if let Block::Text(t) = block {
                out.push_str(t);
            }
        }
        out
    }

    /// Everything in the turn that a provider reads as prompt text: text, tool-call names
    /// and arguments, tool results' text, reasoning. (Images and documents are not text.)
    pub fn prompt_text(&self) -> String {
        let mut out = String::new();
        for block in &self.content {
            push_prompt_text(&mut out, block);
        }
        out
    }
}

fn push_prompt_text(out: &mut String, block: &Block) {
    match block {
        Block::Text(t) | Block::Refusal(t) => out.push_str(t),
        Block::ToolCall(c) => {
            out.push_str(&c.name);
            out.push_str(&c.arguments);
        }
        Block::ToolResult(r) => r.content.iter().for_each(|b| push_prompt_text(out, b)),
        Block::Reasoning(r) => out.push_str(&r.text),
        Block::Image(_) | Block::Document { .. } => {}
    }
}

/// A function the model may call. `parameters` is a JSON Schema object.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: serde_json::Value,
    /// OpenAI's strict schema adherence; other providers refuse `Some(true)` by name.
    pub strict: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    Required,
    /// This tool must be called.
    Named(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: serde_json::Value,
        strict: Option<bool>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

impl Effort {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "minimal" => Self::Minimal,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// A thinking budget for providers that take tokens, not levels: the same steps
    /// LiteLLM and OpenRouter use (1024, 2048, 4096, 8192...).
    pub fn budget_tokens(self) -> u32 {
        match self {
            Self::Minimal => 1024,
            Self::Low => 2048,
            Self::Medium => 4096,
            Self::High => 8192,
        }
    }
}

/// How much the model should reason: a level, a token budget, or both (the budget wins
/// where a provider takes tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReasoningRequest {
    pub effort: Option<Effort>,
    pub budget_tokens: Option<u32>,
    /// Whether reasoning text (or its summary) should come back where the provider can
    /// return it. Gemini's `includeThoughts`; Anthropic always returns its thinking.
    pub include: bool,
}

/// Token counts of one reply. `prompt_tokens` includes cached ones, `completion_tokens`
/// includes reasoning ones, as OpenAI counts them (Anthropic's separate cache counts are
/// added into the prompt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_prompt_tokens: u64,
    /// Prompt tokens written to the provider's cache (Anthropic).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// Completion tokens spent reasoning.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            ..Self::default()
        }
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
    /// The model declined (Anthropic `refusal`).
    Refusal,
    /// The provider's own value, lower-cased (e.g. Gemini "other", Anthropic "pause_turn").
    Other(String),
}

impl FinishReason {
    /// OpenAI's vocabulary; a reason it does not have reads as "stop" so strict OpenAI
    /// clients still accept it (OpenAI itself ends a refusal with "stop", its text in
    /// `refusal`).
    pub fn as_openai(&self) -> &str {
        match self {
            Self::Stop | Self::Refusal | Self::Other(_) => "stop",
            Self::Length => "length",
            Self::ContentFilter => "content_filter",
            Self::ToolCalls => "tool_calls",
        }
    }

    /// For storage and logs: like `as_openai` but keeps the provider's own value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(s) => s,
            Self::Refusal => "refusal",
            other => other.as_openai(),
        }
    }
}

/// A fragment of a tool call in a stream. The first fragment of a call has its `id` and
/// `name`; later ones add to `arguments`. `index` tells calls of one reply apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
    pub signature: Option<String>,
}

/// A fragment of reasoning. `index` tells reasoning blocks of one reply apart; the
/// signature (and redacted data) usually comes last, alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReasoningDelta {
    pub index: u32,
    pub text: String,
    pub signature: Option<String>,
    pub redacted: Option<String>,
}

/// One piece of a reply, the same for every provider. Most carry one kind of delta.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chunk {
    pub text: String,
    pub reasoning: Option<ReasoningDelta>,
    pub tool_calls: Vec<ToolCallDelta>,
    pub refusal: String,
    /// Cumulative usage; when several chunks carry one, the last wins.
    pub usage: Option<Usage>,
    pub finish_reason: Option<FinishReason>,
    /// OpenAI's `logprobs` of this chunk's choice, verbatim (`{"content": [...]}`).
    pub logprobs: Option<serde_json::Value>,
}

impl Chunk {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
            && self.reasoning.is_none()
            && self.tool_calls.is_empty()
            && self.refusal.is_empty()
            && self.usage.is_none()
            && self.finish_reason.is_none()
            && self.logprobs.is_none()
    }
}

/// A whole reply: the blocks in the order they came, usage, finish reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    pub content: Vec<Block>,
    pub usage: Usage,
    pub finish_reason: Option<FinishReason>,
    /// OpenAI's `logprobs.content` entries, concatenated.
    pub logprobs: Option<Vec<serde_json::Value>>,
}

impl Completion {
    /// The reply's text blocks, joined.
    pub fn text(&self) -> String {
        Message {
            role: Role::Assistant,
            content: self.content.clone(),
        }
        .text()
    }

    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|b| match b {
            Block::ToolCall(c) => Some(c),
            _ => None,
        })
    }

    pub fn refusal(&self) -> Option<&str> {
        self.content.iter().find_map(|b| match b {
            Block::Refusal(r) => Some(r.as_str()),
            _ => None,
        })
    }

    /// Folds a streamed chunk in: text appended to the text block it continues, reasoning
    /// and tool-call fragments merged into their block by index, the last usage and finish
    /// reason kept.
    pub fn push(&mut self, chunk: &Chunk) {
        if let Some(r) = &chunk.reasoning {
            self.push_reasoning(r);
        }
        if !chunk.text.is_empty() {
            match self.content.last_mut() {
                Some(Block::Text(t)) => t.push_str(&chunk.text),
                _ => self.content.push(Block::Text(chunk.text.clone())),
            }
        }
        if !chunk.refusal.is_empty() {
            match self
                .content
                .iter_mut()
                .find(|b| matches!(b, Block::Refusal(_)))
            {
                Some(Block::Refusal(r)) => r.push_str(&chunk.refusal),
                _ => self.content.push(Block::Refusal(chunk.refusal.clone())),
            }
        }
        for d in &chunk.tool_calls {
            self.push_tool_call(d);
        }
        if let Some(usage) = chunk.usage {
            self.usage = usage;
        }
        if let Some(reason) = &chunk.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
        if let Some(serde_json::Value::Array(entries)) =
            chunk.logprobs.as_ref().and_then(|l| l.get("content"))
        {
            self.logprobs
                .get_or_insert_with(Vec::new)
                .extend(entries.iter().cloned());
        }
    }

    fn push_reasoning(&mut self, d: &ReasoningDelta) {
        // The index-th reasoning block of this reply, or a new one.
        let existing = self
            .content
            .iter_mut()
            .filter_map(|b| match b {
                Block::Reasoning(r) => Some(r),
                _ => None,
            })
            .nth(d.index as usize);
        let r = match existing {
            Some(r) => r,
            None => {
                self.content.push(Block::Reasoning(Reasoning::default()));
                match self.content.last_mut() {
                    Some(Block::Reasoning(r)) => r,
                    _ => return,
                }
            }
        };
        r.text.push_str(&d.text);
        if let Some(s) = &d.signature {
            r.signature.get_or_insert_with(String::new).push_str(s);
        }
        if let Some(data) = &d.redacted {
            r.redacted.get_or_insert_with(String::new).push_str(data);
        }
    }

    fn push_tool_call(&mut self, d: &ToolCallDelta) {
        let existing = self
            .content
            .iter_mut()
            .filter_map(|b| match b {
                Block::ToolCall(c) => Some(c),
                _ => None,
            })
            .nth(d.index as usize);
        match existing {
            Some(c) => {
                c.arguments.push_str(&d.arguments);
                if let Some(id) = &d.id {
                    c.id.clone_from(id);
                }
                if let Some(name) = &d.name {
                    c.name.clone_from(name);
                }
                if d.signature.is_some() {
                    c.signature.clone_from(&d.signature);
                }
            }
            None => self.content.push(Block::ToolCall(ToolCall {
                id: d.id.clone().unwrap_or_default(),
                name: d.name.clone().unwrap_or_default(),
                arguments: d.arguments.clone(),
                signature: d.signature.clone(),
            })),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_folds_into_ordered_blocks() {
        let mut c = Completion::default();
        let reasoning = |text: &str, signature: Option<&str>| Chunk {
            reasoning: Some(ReasoningDelta {
                index: 0,
                text: text.into(),
                signature: signature.map(Into::into),
                redacted: None,
            }),
            ..Chunk::default()
        };
        let call = |index, id: Option<&str>, name: Option<&str>, args: &str| Chunk {
            tool_calls: vec![ToolCallDelta {
                index,
                id: id.map(Into::into),
                name: name.map(Into::into),
                arguments: args.into(),
                signature: None,
            }],
            ..Chunk::default()
        };
        for chunk in [
            reasoning("Let me ", None),
            reasoning("think.", None),
            reasoning("", Some("sig-1")),
            Chunk::text("I will "),
            Chunk::text("look."),
            call(0, Some("call_a"), Some("weather"), ""),
            call(1, Some("call_b"), Some("time"), "{}"),
            call(0, None, None, "{\"city\":"),
            call(0, None, None, "\"Paris\"}"),
            Chunk {
                usage: Some(Usage {
                    cached_prompt_tokens: 2,
                    reasoning_tokens: 5,
                    ..Usage::new(10, 20)
                }),
                finish_reason: Some(FinishReason::ToolCalls),
                ..Chunk::default()
            },
        ] {
            c.push(&chunk);
        }
        assert_eq!(
            c.content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "Let me think.".into(),
                    signature: Some("sig-1".into()),
                    redacted: None
                }),
                Block::Text("I will look.".into()),
                Block::ToolCall(ToolCall {
                    id: "call_a".into(),
                    name: "weather".into(),
                    arguments: "{\"city\":\"Paris\"}".into(),
                    signature: None
                }),
                Block::ToolCall(ToolCall {
                    id: "call_b".into(),
                    name: "time".into(),
                    arguments: "{}".into(),
                    signature: None
                }),
            ]
        );
        assert_eq!(c.usage.reasoning_tokens, 5);
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.text(), "I will look.");
        assert_eq!(c.tool_calls().count(), 2);
    }

    #[test]
    fn text_after_a_tool_call_is_a_new_block() {
        let mut c = Completion::default();
        c.push(&Chunk::text("a"));
        c.push(&Chunk {
            tool_calls: vec![ToolCallDelta {
                index: 0,
                id: Some("t".into()),
                name: Some("f".into()),
                ..ToolCallDelta::default()
            }],
            ..Chunk::default()
        });
        c.push(&Chunk::text("b"));
        assert_eq!(c.content.len(), 3);
        assert_eq!(c.text(), "ab");
    }

    #[test]
    fn refusals_and_logprobs_accumulate() {
        let mut c = Completion::default();
        for part in ["I can't ", "help with that."] {
            c.push(&Chunk {
                refusal: part.into(),
                logprobs: Some(serde_json::json!({"content": [{"token": part}]})),
                ..Chunk::default()
            });
        }
        assert_eq!(c.refusal(), Some("I can't help with that."));
        assert_eq!(c.logprobs.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn prompt_text_reads_every_textual_block() {
        let m = Message {
            role: Role::User,
            content: vec![
                Block::Text("see ".into()),
                Block::Image(Media::Url("https://example.com/a.png".into())),
                Block::ToolResult(ToolResult {
                    call_id: "c".into(),
                    name: None,
                    content: vec![Block::Text("sunny".into())],
                    is_error: false,
                }),
            ],
        };
        assert_eq!(m.prompt_text(), "see sunny");
        assert_eq!(m.text(), "see ");
    }
}
