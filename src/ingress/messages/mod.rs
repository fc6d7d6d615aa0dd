//! Anthropic's Messages wire format (`POST /v1/messages`, `POST /v1/messages/count_tokens`):
//! the request becomes a neutral `ChatRequest` for any provider, and neutral completions and
//! chunks are rendered back as Anthropic sends them (its exact streaming grammar), so the
//! `anthropic` SDKs and Claude Code work against every model with `ANTHROPIC_BASE_URL`
//! pointed at chatgate. Errors come in Anthropic's shape (`api_error_body`), each naming the
//! field it is about the way Anthropic does (`messages.1.content.0.source: …`).
//!
//! What the provider cannot do is its `validate()`'s to refuse; `Origins` renames the
//! neutral position it names (`messages[1].content[0]`, `tools[0].function.parameters`) to
//! the client's own (`messages.1.content.0`, `tools.0.input_schema`). This file refuses
//! only what is malformed, and what chatgate itself does not carry.
//!
//! Decisions, where Anthropic's format and the neutral model differ:
//! - Model names: `provider/model` is used as it is (`openai/gpt-4o`, `demo/echo`); a bare
//!   name (`claude-sonnet-4-5`, as Claude Code and Anthropic's examples send) is
//!   `anthropic/<name>`. The reply's `model` is the name as the client sent it.
//! - `system` (a string or text blocks, joined by blank lines) and `system` messages are
//!   joined, in order, into the one system prompt, as on Chat Completions.
//! - Hints that change nothing in the reply are accepted and not relayed: `cache_control`
//!   (anywhere: chatgate sends no cache breakpoints, so a reply's cache counts are the
//!   provider's own automatic caching), `service_tier`, `diagnostics`, a tool's
//!   `eager_input_streaming`, the `anthropic-version` and `anthropic-beta` headers, and
//!   `context_management` edits of type `clear_thinking_*` (earlier turns' thinking is not
//!   read as context by any provider here). What would change the reply if dropped is
//!   refused by name: `top_k` (no neutral counterpart), server tools (`web_search`, `bash`…),
//!   `defer_loading`, `input_examples`, other `context_management` edits, citations,
//!   `speed: "fast"`, `inference_geo`, `container`, `mcp_servers`, effort `xhigh`/`max`,
//!   files by id, search results.
//! - `thinking` (`enabled` with its budget, `adaptive`, `disabled`) and `output_config.effort`
//!   are the neutral reasoning request; `display: "omitted"` asks for no reasoning text.
//!   `output_config.format` (or the deprecated `output_format`) is a JSON-schema response
//!   format (named `output`). `metadata.user_id` is the neutral `user`;
//!   `tool_choice.disable_parallel_tool_use: true` is `parallel_tool_calls: false`.
//! - A document with a `text` source is a text block of its data (its `title` first, on a
//!   line of its own): the neutral model's documents are bytes.
//! - A Gemini thought signature on a tool call rides in the `tool_use` id
//!   (`<id>__thought__<signature>`, as on Chat Completions): every client sends the id back,
//!   in the `tool_use` block and in its `tool_result`. A signature Gemini put on text comes
//!   as a `thinking` block with empty text, to be sent back as it came.
//! - A refusal (OpenAI's `refusal`, Gemini's blocked reply, Anthropic's) is
//!   `stop_reason: "refusal"` with its text in `stop_details.explanation`, as Anthropic sends
//!   it. `stop_sequence` is always null: no provider-neutral reply says which sequence
//!   matched (a stop on one reads as `end_turn`).
//! - A `tool_use` input sent back is read as a JSON value: its keys are re-serialized in
//!   sorted order (the same object). A non-streamed reply's `input` is sorted the same way;
//!   a streamed one's `input_json_delta`s are the model's text as it came.
//! - Usage: `input_tokens` excludes cache reads and writes, which have their own counts.
//!   `message_start` carries the first counts known (the provider's when its stream starts
//!   with them, else chatgate's prompt estimate); `message_delta` carries the final ones,
//!   which the SDKs take over those of `message_start`.

mod reply;
mod request;

pub use reply::{api_error_body, error_event, message_body, EventWriter, Reply};
pub use request::{
    estimate_input_tokens, parse_count_request, parse_request, resolve_model, MessagesRequest,
    Origins, MAX_MESSAGES, MAX_TOOLS,
};

/// Whether `path` is served in this format (its errors in Anthropic's shape).
pub fn serves(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}
