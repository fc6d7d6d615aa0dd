//! OpenAI's Chat Completions wire format (`POST /v1/chat/completions`): the whole request
//! becomes a neutral `ChatRequest` for any provider, and neutral completions and chunks are
//! rendered back the way OpenAI sends them, so OpenAI's own SDKs work against every model.
//!
//! What the provider cannot do is its `validate()`'s to refuse, by parameter: this file
//! only refuses what is malformed, and what chatgate itself does not carry (audio, files by
//! id, the legacy `functions`).
//!
//! Decisions, where OpenAI's format and the neutral model differ:
//! - `system` and `developer` messages are joined, in order, into the one system prompt,
//!   wherever they stand (as LiteLLM does: Anthropic and Gemini have no other place for them).
//! - `tool` messages become `ToolResult` blocks of a user turn; consecutive ones share it.
//! - Reasoning sent back on an assistant message is read as LiteLLM writes it:
//!   `thinking_blocks` (`thinking` with its `signature`, or `redacted_thinking` with its
//!   `data`), else `reasoning_content` (text without a signature).
//! - Reasoning is asked for by `reasoning_effort`, or LiteLLM's (Anthropic-shaped) extension
//!   `thinking: {"type": "enabled", "budget_tokens": N}`; both may be given.
//! - Gemini's thought signature on a tool call rides in the call's id (`<id>__thought__<sig>`,
//!   LiteLLM's convention), so any client that echoes ids sends it back.
//! - `image_url.detail` other than `auto` is refused: no provider but OpenAI has it and the
//!   neutral model does not carry it. A message's `name` is accepted and not relayed.

mod reply;
mod request;

pub use reply::{
    api_error_body, completion_body, error_body, upstream_error_frame, ChunkWriter, Reply,
};
pub use request::{
    parse_request, CompletionRequest, Origins, MAX_MESSAGES, MAX_STOP_SEQUENCES, MAX_TOOLS,
};
