//! A mock LLM upstream speaking OpenAI, Anthropic and Gemini on one port, for
//! chatgate's integration tests (in-process) and for manual runs and benchmarks
//! (the `chatgate-mock` binary).
//!
//! Endpoints: `POST /v1/chat/completions` (OpenAI), `POST /v1/messages`
//! (Anthropic), `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` (Gemini), each with its provider's
//! streaming events and error shape. Every request is recorded, readable through
//! [`MockServer::requests`] or `GET /__mock/requests` (`DELETE` clears it);
//! bodies up to 64 MiB are recorded whole, larger ones are recorded with a
//! `null` body and answered 413 in the provider's error shape.
//!
//! The reply is deterministic: by default `"Echo: "` then each word of the last
//! user message with a trailing space, one token each. Directives are
//! `-`-separated parts anywhere in the model name, e.g. `mock-tokens-20-delay-50-cut-5`:
//!
//! | directive | effect |
//! |---|---|
//! | `tokens-N` | reply `tok0 ` … `tok{N-1} ` instead of the echo |
//! | `delay-MS` | wait MS ms before each token (text, thinking, or tool-argument piece) |
//! | `ttfb-MS` | wait MS ms before the response headers |
//! | `cut-K` | drop the connection after K tokens (thinking and tool-argument pieces count), before any terminal event; non-streaming: 500 |
//! | `status-N` | answer status N (400–599) at once in the provider's error shape; 429 adds `retry-after: 7` |
//! | `echo-system` | reply with the system prompt's text exactly as received |
//! | `count` | reply `"<n> messages"`, n counting the non-system messages |
//! | `describe` | reply `Saw …`, listing every image and document in the request (see below) |
//! | `tools-N` | make N parallel tool calls (1–16) instead of one, when a call is made |
//! | `refuse` | refuse, in the provider's refusal shape |
//! | `cached-N` | report N more prompt tokens, read from the provider's cache |
//! | `cache-write-N` | report N more prompt tokens, written to the cache |
//! | `unknown` | the provider's 404 for an unknown model; so does a model name starting with `missing` |
//! | `ids` | Gemini function calls carry an `id` (`fc_mock…`); without it they have none |
//!
//! Usage counts whitespace-separated words of the system text, every message's
//! text and every tool result's text as prompt tokens, and emitted tokens as
//! completion tokens. A request's `max_tokens` (or provider equivalent)
//! truncates a text reply with the provider's "length" finish reason. A missing
//! key or the key `sk-bad` is a 401 for every provider.
//!
//! # What decides the reply
//!
//! In this order, the first that applies: `refuse`; `tokens-N`, `echo-system`,
//! `count`, `describe`; **tool results** when the last message carries them;
//! **tool calls** when tools are declared, the last message is the user's own and
//! the tool choice allows a call; **JSON** when JSON or structured output was
//! asked for; the echo. Reasoning adds thinking before any of them but a refusal.
//!
//! ## Tool calls
//!
//! Accepted declarations: OpenAI `tools[]` of `{"type": "function", "function":
//! {"name", "parameters"}}`; Anthropic `tools[]` of `{"name", "input_schema"}`
//! (server tools without `input_schema` are never called); Gemini
//! `tools[].functionDeclarations[]` of `{"name", "parameters" | "parametersJsonSchema"}`.
//! The mock calls the first declared tool, or the first allowed one:
//!
//! | | calls any tool | must call one of these | must not call |
//! |---|---|---|---|
//! | OpenAI `tool_choice` | absent, `"auto"`, `"required"` | `{"type": "function", "function": {"name"}}`, `{"type": "allowed_tools", "allowed_tools": {"tools": [...]}}` | `"none"` |
//! | Anthropic `tool_choice` | absent, `{"type": "auto"}`, `{"type": "any"}` | `{"type": "tool", "name"}` | `{"type": "none"}` |
//! | Gemini `toolConfig.functionCallingConfig.mode` | absent, `AUTO`, `VALIDATED`, `ANY` | `ANY` with `allowedFunctionNames` | `NONE` |
//!
//! With `tools-N` it makes N calls, taking the candidate tools in turn (one tool
//! is called N times, each call with its own id); OpenAI `parallel_tool_calls:
//! false` and Anthropic `disable_parallel_tool_use: true` keep it to one. The
//! arguments are generated from the parameters' schema: every `required`
//! property, `string` → `"x"`, `number`/`integer` → `1` (kept within
//! `minimum`/`maximum`), `boolean` → `true`, `enum` → its first value, `const` →
//! it, `object` → recursively, `array` → `minItems` items (so `[]`), `anyOf`/`oneOf`
//! → the first non-null alternative, `$ref` into `$defs`; Gemini's upper-case
//! types are understood. Streams send the arguments' compact JSON in pieces of
//! at most 8 characters, each piece a token.
//!
//! - OpenAI: `message: {"role": "assistant", "content": null, "tool_calls":
//!   [{"id": "call_mock…", "type": "function", "function": {"name", "arguments":
//!   "<json>"}}], "refusal": null}`, `finish_reason: "tool_calls"`. Stream: the
//!   role chunk `{"role": "assistant", "content": null, "refusal": null}`, then per
//!   call `{"tool_calls": [{"index", "id", "type": "function", "function": {"name",
//!   "arguments": ""}}]}` followed by `{"tool_calls": [{"index", "function":
//!   {"arguments": "<piece>"}}]}` chunks, then `finish_reason: "tool_calls"`.
//! - Anthropic: `content: [{"type": "tool_use", "id": "toolu_mock…", "name",
//!   "input": {…}}]`, `stop_reason: "tool_use"`. Stream: per call
//!   `content_block_start` with `{"type": "tool_use", "id", "name", "input": {}}`,
//!   an `input_json_delta` with `partial_json: ""`, one per piece, then
//!   `content_block_stop`; `message_delta` has `stop_reason: "tool_use"`.
//! - Gemini: `parts: [{"functionCall": {"name", "args": {…}}}]` (plus `"id"` with
//!   `ids`), `finishReason: "STOP"`. Stream: each call whole in its own frame,
//!   then the usual finish frame (`parts: [{"text": ""}]`, `finishReason: "STOP"`).
//!
//! ## Tool results
//!
//! When the last message (or run of OpenAI `tool` messages) carries tool results
//! — OpenAI `{"role": "tool", "tool_call_id", "content"}`, Anthropic `tool_result`
//! blocks (`content` a string or text blocks), Gemini `functionResponse` parts —
//! the reply is one line per result, in order: `Tool <name> said: <result>`. The
//! name comes from the earlier call with that id (OpenAI, Anthropic; the id
//! itself when no call matches) or from `functionResponse.name` (Gemini). The
//! result is the text as received; for Gemini, the string under `output` when
//! `response` is `{"output": "<text>"}` (the key Google documents), else the
//! compact JSON of `response` (keys sorted).
//!
//! Calls and results must pair up as each provider requires, else its 400:
//!
//! - OpenAI (`invalid_request_error`, `code: null`): a `tool` message after no
//!   assistant `tool_calls` — ``Invalid parameter: messages with role 'tool' must
//!   be a response to a preceeding message with 'tool_calls'.`` (`param:
//!   "messages.[<i>].role"`); a `tool_call_id` not among them — ``Invalid
//!   parameter: 'tool_call_id' of '<id>' not found in 'tool_calls' of previous
//!   message.``; calls not all answered by the `tool` messages right after — ``An
//!   assistant message with 'tool_calls' must be followed by tool messages
//!   responding to each 'tool_call_id'. The following tool_call_ids did not have
//!   response messages: <ids>``.
//! - Anthropic (`invalid_request_error`): ``messages.<i>.content.<j>: unexpected
//!   `tool_use_id` found in `tool_result` blocks: <id>. Each `tool_result` block
//!   must have a corresponding `tool_use` block in the previous message.``, and
//!   ``messages.<i>: `tool_use` ids were found without `tool_result` blocks
//!   immediately after: <ids>. Each `tool_use` block must have a corresponding
//!   `tool_result` block in the next message.`` (a `tool_use` in the last
//!   message is allowed).
//! - Gemini (`INVALID_ARGUMENT`): `Please ensure that function response turn
//!   comes immediately after a function call turn.`, and `Please ensure that the
//!   number of function response parts is equal to the number of function call
//!   parts of the function call turn.` (a call turn that ends the contents is allowed).
//!
//! ## Images and documents (`describe`)
//!
//! Read from every message: OpenAI `image_url` parts (`url` a URL or a
//! `data:<mime>;base64,` URL) and `file` parts (`file_data` a data URL or bare
//! base64, or a `file_id`); Anthropic `image` and `document` blocks, also inside
//! `tool_result` content, with `base64`, `url`, `text` or `file` sources; Gemini
//! `inlineData` and `fileData` parts (snake_case too), whose kind follows the MIME
//! type. The reply groups them by kind in order of first appearance, e.g.
//! `Saw 2 images (image/png, 70 bytes; https://example.com/cat.jpg) and 1 document
//! (application/pdf, 9 bytes)`: base64 data as `<mime>, <decoded length> bytes`
//! (`invalid base64` when it does not decode), URLs as the URL (prefixed by the
//! MIME type where the request gave one), file ids as `file <id>`; `Saw nothing`
//! when there are none.
//!
//! ## JSON and structured output
//!
//! Asked for by OpenAI `response_format` `{"type": "json_object"}` or `{"type":
//! "json_schema", "json_schema": {"name", "schema", "strict"}}`; Anthropic
//! `output_config: {"format": {"type": "json_schema", "schema"}}` or the deprecated
//! beta `output_format` (which needs `anthropic-beta:
//! structured-outputs-2025-11-13`, else a 400); Gemini `generationConfig.
//! responseMimeType: "application/json"` with `responseJsonSchema` or
//! `responseSchema`. The reply text is the schema's generated value (as for tool
//! arguments) as compact JSON, or `{"echo":"<last user text>"}` without a schema,
//! streamed in 8-character pieces.
//!
//! ## Reasoning and thinking
//!
//! The thinking text is `Thinking about: <last user message's words>`, one token
//! per word; its signature is [`thinking_signature`] of that text.
//!
//! - OpenAI `reasoning_effort` (any value but `"none"`): no reasoning text is
//!   sent, streamed or not; `usage.completion_tokens` includes the thinking's
//!   tokens and `usage.completion_tokens_details` is `{"reasoning_tokens",
//!   "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}`.
//! - Anthropic `thinking: {"type": "enabled", "budget_tokens"}` or `{"type":
//!   "adaptive"}`: content starts with `{"type": "thinking", "thinking",
//!   "signature"}`. Stream: `content_block_start` `{"type": "thinking", "thinking":
//!   "", "signature": ""}`, `thinking_delta`s, one `signature_delta`,
//!   `content_block_stop`, then the text or tool-use blocks at the next indexes.
//!   `usage.output_tokens` includes the thinking, `usage.output_tokens_details` is
//!   `{"thinking_tokens"}`. 400s (`invalid_request_error`): `budget_tokens` under
//!   1024, or not under `max_tokens` (unless an `interleaved-thinking-*` beta is
//!   sent); thinking with `tool_choice` `any`/`tool`; an assistant `thinking`
//!   block whose `signature` is missing (`messages.<i>.content.<j>.thinking.signature:
//!   Field required`) or is not [`thinking_signature`] of its `thinking`
//!   (``messages.<i>.content.<j>: Invalid `signature` in `thinking` block``).
//! - Gemini `generationConfig.thinkingConfig` (`thinkingBudget` other than 0, or
//!   `thinkingLevel`): `thoughtSignature` on the first text part or the first
//!   `functionCall` part; with `includeThoughts: true` a `{"text", "thought": true}`
//!   part first (streamed as one thought part per token). `usageMetadata.
//!   thoughtsTokenCount` counts the thinking; `totalTokenCount` = prompt +
//!   candidates + thoughts. Signatures sent back are not checked.
//!
//! ## Usage details
//!
//! `cached-N` and `cache-write-N` add N prompt tokens each. OpenAI: `prompt_tokens`
//! includes them, `prompt_tokens_details: {"cached_tokens", "audio_tokens": 0}`
//! (plus `"cache_write_tokens"` with `cache-write-N`), also on the final stream
//! chunk with `stream_options.include_usage`. Anthropic: `input_tokens` excludes
//! them, `cache_read_input_tokens`, `cache_creation_input_tokens` and
//! `cache_creation: {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens": 0}`,
//! in the message and in `message_start` (`message_delta` carries only
//! `output_tokens`). Gemini: `promptTokenCount` includes them,
//! `cachedContentTokenCount` on every frame. Detail fields appear only when
//! asked for, so plain replies keep their three counts alone.
//!
//! ## Refusals (`refuse`)
//!
//! - OpenAI: `message: {"role": "assistant", "content": null, "refusal": "I'm sorry,
//!   but I can't help with that."}`, `finish_reason: "stop"`; streamed as
//!   `{"refusal": "<token>"}` deltas after a `{"role": "assistant", "content": null,
//!   "refusal": null}` chunk.
//! - Anthropic: `content: [{"type": "text", "text": ""}]`, `stop_reason: "refusal"`,
//!   `stop_details: {"type": "refusal", "category": null, "explanation"}`,
//!   `output_tokens: 0`; the stream opens and closes an empty text block.
//! - Gemini: a candidate with no `content`, `finishReason: "SAFETY"` and
//!   `safetyRatings: [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
//!   "probability": "HIGH", "blocked": true}]`; streamed as that one frame.
//!
//! ## Logprobs
//!
//! OpenAI `logprobs: true` (with `top_logprobs: K`): `choices[].logprobs:
//! {"content": [{"token", "logprob", "bytes", "top_logprobs": [K entries]}],
//! "refusal": null}`, one entry per text token (per chunk when streaming). The
//! `i`th token scores -0.125, -0.25, -0.375, -0.5, repeating; its first
//! alternative is itself, the `k`th is `alt<k>` scoring `k` less. Gemini
//! `responseLogprobs: true` (with `logprobs: K`): `logprobsResult:
//! {"chosenCandidates", "topCandidates", "logProbabilitySum"}` and `avgLogprobs`
//! on the candidate, with the same values.
//!
//! ## Unknown models (`unknown`, `missing…`)
//!
//! OpenAI 404 ``{"error": {"message": "The model `<m>` does not exist or you do not
//! have access to it.", "type": "invalid_request_error", "param": null, "code":
//! "model_not_found"}}``; Anthropic 404 `{"type": "error", "error": {"type":
//! "not_found_error", "message": "model: <m>"}}`; Gemini 404 `{"error": {"code": 404,
//! "message": "models/<m> is not found for API version v1beta, or is not supported
//! for generateContent. Call ListModels to see the list of available models and
//! their supported methods.", "status": "NOT_FOUND"}}`.

mod anthropic;
mod gemini;
mod openai;
mod reply;
mod schema;

pub use reply::thinking_signature;

use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::oneshot;

/// The recorder buffers whole bodies up to this size: above every provider's own
/// limit for a request with images (Anthropic's is 32 MB), so a large base64
/// image is recorded whole. Larger bodies are a 413 in the provider's shape.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request as the mock received it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The path with its query string, e.g. `/v1beta/models/m:streamGenerateContent?alt=sse`.
    pub path: String,
    /// Header names are lowercase; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `Null` when the body is empty or not JSON.
    pub body: serde_json::Value,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<RecordedRequest>>>;

fn lock(log: &Log) -> MutexGuard<'_, Vec<RecordedRequest>> {
    // A panic elsewhere cannot leave a Vec half-pushed: the data is still good.
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running mock upstream; it stops when dropped.
pub struct MockServer {
    port: u16,
    log: Log,
    _shutdown: oneshot::Sender<()>,
}

impl MockServer {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start() -> io::Result<MockServer> {
        Self::start_on(0).await
    }

    /// Serves on 127.0.0.1:`port` (0 for a free one). Returns once the port is
    /// bound, so requests can be sent at once.
    pub async fn start_on(port: u16) -> io::Result<MockServer> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        // The server gets its own runtime on its own thread, so it outlives the
        // caller's runtime: one mock can serve tests that each run their own
        // #[tokio::test] runtime, and a blocked caller cannot stall it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let log = Log::default();
        let app = router(log.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name(format!("chatgate-mock-{port}")).spawn(move || {
            runtime.block_on(async move {
                // Like a real provider's edge, each write leaves at once: without TCP_NODELAY
                // Nagle holds a stream's small second write until the first is ACKed, which a
                // client that delays its ACKs turns into a 40 ms stall before the first token.
                let serve = async {
                    let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    axum::serve(listener, app).await
                };
                tokio::select! {
                    result = serve => if let Err(e) = result { eprintln!("chatgate-mock on port {port} stopped: {e}") },
                    // Dropping the sender (the MockServer) ends the runtime and every connection.
                    _ = stopped => {}
                }
            });
        })?;
        Ok(MockServer {
            port,
            log,
            _shutdown: shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far (except `/__mock/…`), in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub fn clear(&self) {
        lock(&self.log).clear();
    }
}

fn router(log: Log) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1beta/models/{target}", post(gemini::generate))
        .route(
            "/__mock/requests",
            get(list_requests).delete(clear_requests),
        )
        .layer(middleware::from_fn_with_state(log.clone(), record))
        // The recorder has already bounded the body.
        .layer(DefaultBodyLimit::disable())
        .with_state(log)
}

/// Records each request before it is handled, so a test sees it even when the
/// handler is still streaming or the request was rejected.
async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/__mock/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let recorded = |body| RecordedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        lock(&log).push(recorded(serde_json::Value::Null));
        return too_large(parts.uri.path());
    };
    lock(&log).push(recorded(
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A body over [`MAX_BODY`] (or one that failed mid-way), in the error shape of
/// the provider its path belongs to.
fn too_large(path: &str) -> Response {
    let error = if path.starts_with("/v1/messages") {
        anthropic::error
    } else if path.starts_with("/v1beta/") {
        gemini::error
    } else {
        openai::error
    };
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "mock: request body over 64 MiB or unreadable",
    )
}

async fn list_requests(State(log): State<Log>) -> Json<Vec<RecordedRequest>> {
    Json(lock(&log).clone())
}

async fn clear_requests(State(log): State<Log>) -> StatusCode {
    lock(&log).clear();
    StatusCode::NO_CONTENT
}
