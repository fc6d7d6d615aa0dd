//! A mock LLM upstream speaking OpenAI, Anthropic and Gemini on one port, for
//! chatgate's integration tests (in-process) and for manual runs and benchmarks
//! (the `chatgate-mock` binary).
//!
//! Endpoints: `POST /v1/chat/completions` (OpenAI), `POST /v1/messages`
//! (Anthropic), `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` (Gemini), each with its provider's
//! streaming events and error shape. Every request is recorded, readable through
//! [`MockServer::requests`] or `GET /__mock/requests` (`DELETE` clears it).
//!
//! The reply is deterministic: by default `"Echo: "` then each word of the last
//! user message with a trailing space, one token each. Directives are
//! `-`-separated parts anywhere in the model name, e.g. `mock-tokens-20-delay-50-cut-5`:
//!
//! | directive | effect |
//! |---|---|
//! | `tokens-N` | reply `tok0 ` … `tok{N-1} ` instead of the echo |
//! | `delay-MS` | wait MS ms before each token |
//! | `ttfb-MS` | wait MS ms before the response headers |
//! | `cut-K` | drop the connection after K tokens, before any terminal event; non-streaming: 500 |
//! | `status-N` | answer status N (400–599) at once in the provider's error shape; 429 adds `retry-after: 7` |
//! | `echo-system` | reply with the system prompt's text exactly as received |
//! | `count` | reply `"<n> messages"`, n counting the non-system messages |
//!
//! Usage counts whitespace-separated words of the system text and every message
//! as prompt tokens, and emitted tokens as completion tokens. A request's
//! `max_tokens` (or provider equivalent) truncates the reply with the provider's
//! "length" finish reason. A missing key or the key `sk-bad` is a 401 for every provider.

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
