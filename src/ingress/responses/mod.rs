//! OpenAI's Responses API (`POST /v1/responses`), stateless: the request becomes a neutral
//! `ChatRequest` for any provider, and the reply is rendered as OpenAI's response object or
//! its semantic stream events, so `client.responses.create(...)` of OpenAI's SDKs (streamed
//! or not, `responses.parse`, `responses.stream`) works against every model. Shapes follow
//! openai/openai-openapi's `CreateResponse`, `Response` and `ResponseStreamEvent`, checked
//! against openai-python's types.
//!
//! Statelessness:
//! - Nothing is stored. `store` may be absent or false (the response object always says
//!   `store: false`); `store: true` is refused (400, `param: "store"`) rather than accepted
//!   and not honoured. OpenAI's default is true, but its SDKs send `store` only when the
//!   caller sets it, so their defaults work as they are.
//! - `previous_response_id`, `conversation`, `prompt`, `background: true` and
//!   `item_reference` items need stored state: each is a 400 naming it. The whole
//!   conversation goes in `input`, earlier output items included (`input += response.output`).
//!
//! Input, and where it goes in the neutral model:
//! - `instructions`, then every `system` and `developer` message in order, wherever it
//!   stands, make the one system prompt (as in the Chat Completions ingress).
//! - User messages: `input_text`, `input_image` (`image_url`: an https or base64 data: URL),
//!   `input_file` (`file_data` as a data: URL or bare base64 PDF, with `filename`; or
//!   `file_url`). `file_id` is refused (no file store); `detail` other than `auto` is refused
//!   (the neutral model does not carry it, and no provider but OpenAI has it).
//! - An assistant's items that follow one another (messages of `output_text` and `refusal`
//!   parts, `function_call`s, `reasoning`) make one assistant turn; `function_call_output`s
//!   that follow one another make one user turn of tool results (text, or input_text /
//!   input_image / input_file parts), named after the call with that `call_id`.
//! - Function tools only (`{type: "function", name, description, parameters, strict}`);
//!   OpenAI's built-in tools and their items are refused by parameter. `tool_choice`
//!   `auto`, `none`, `required` or `{type: "function", name}`.
//! - `text.format` (`text`, `json_object`, `json_schema` with `name`, `schema`,
//!   `description`, `strict`) is the response format. `reasoning.effort` `minimal` to `high`
//!   is the neutral effort; `none` asks for no reasoning (and reaches openai/* models as
//!   `reasoning_effort: "none"`); `xhigh` and `max` reach openai/* models as they are and are
//!   refused for others. `reasoning.summary` (any of auto, concise, detailed) asks for the
//!   reasoning's text where the provider can return it (Gemini's thoughts, Anthropic's
//!   summarized thinking; OpenAI, reached through Chat Completions, returns none).
//! - `top_logprobs`, or `include: ["message.output_text.logprobs"]`, asks for logprobs.
//! - `user` is the end user; `safety_identifier` goes to OpenAI as it is, and to the other
//!   providers (which have one end-user id) when `user` is absent.
//! - `service_tier`, `prompt_cache_key`, `prompt_cache_retention` and `text.verbosity` reach
//!   openai/* models as their Chat Completions counterparts; other providers take only the
//!   value that changes nothing. `metadata` is only repeated in the response object (OpenAI
//!   stores it with the response; chatgate stores none and sends it to no provider).
//! - `stream_options.include_obfuscation` is accepted; chatgate never pads events.
//!
//! Reasoning and `encrypted_content`. A reasoning block becomes a `reasoning` item: its text
//! is the item's one `summary_text` part, and what a provider needs to continue the turn —
//! Anthropic's thinking signature, Gemini's thought signature, Anthropic's redacted thinking
//! — is its `encrypted_content`, as `chatgate:signature:<signature>` or
//! `chatgate:redacted:<data>`. It is sent whether or not `include` asks for
//! `reasoning.encrypted_content` (accepted, and then changes nothing): a stateless reply
//! that left it out could not be continued. A reasoning item sent back becomes the neutral
//! block again (summary text, else `reasoning_text` content). OpenAI's own encrypted
//! reasoning (from api.openai.com) cannot reach any model through chatgate and is refused by
//! its parameter. A Gemini thought signature on a function call rides in its `call_id`
//! (`<id>__thought__<signature>`, as in the Chat Completions ingress).
//!
//! The reply: reasoning items, messages (text and refusal parts next to each other make one
//! message), function calls, in the order the model gave them; `status` `completed`, or
//! `incomplete` with `incomplete_details.reason` `max_output_tokens` or `content_filter`
//! (the item cut short `incomplete` too). Usage: `input_tokens` (cached and cache-written
//! counts in `input_tokens_details`), `output_tokens` (reasoning in
//! `output_tokens_details`). The response object repeats the request's settings, each with
//! OpenAI's default when absent. `output_text` is not sent: it is the SDKs' own property.
//!
//! The stream: `response.created`, `response.in_progress`, then per item
//! `response.output_item.added`, its deltas (`response.content_part.added`,
//! `response.output_text.delta` / `.done`, `response.refusal.delta` / `.done`,
//! `response.content_part.done`; `response.reasoning_summary_part.added`,
//! `response.reasoning_summary_text.delta` / `.done`, `response.reasoning_summary_part.done`;
//! `response.function_call_arguments.delta` / `.done`) and `response.output_item.done`;
//! then `response.completed` (or `response.incomplete`) with the whole response. Every event
//! has its `sequence_number`, from 0. Items never interleave: a tool call that begins while
//! another is streaming waits and is sent whole after it. A provider failure after the
//! first event is an `error` event, then `response.failed` with what came so far.

mod fields;
mod input;
mod reply;
mod request;

pub use input::Origins;
pub use reply::Reply;
pub use request::{parse_request, ResponsesRequest};

/// `encrypted_content` of a reasoning item holding a signature (Anthropic's or Gemini's).
pub const ENCRYPTED_SIGNATURE: &str = "chatgate:signature:";
/// `encrypted_content` of a reasoning item holding Anthropic's redacted thinking.
pub const ENCRYPTED_REDACTED: &str = "chatgate:redacted:";
