//! Calling a provider from the Worker: the HTTP request, its failure mapping, and the
//! stream of neutral chunks read from its body. Shared by chat replies and /v1.

use std::collections::VecDeque;

use futures::StreamExt;
use worker::{AbortSignal, ByteStream, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::error::{ApiError, ApiResult};
use crate::providers::signature::Tagger;
use crate::providers::sse::SseDecoder;
use crate::providers::{
    self, ChatRequest, Chunk, ProviderKind, StreamMapper, UpstreamError, UpstreamErrorKind,
};

/// A provider's failure as chatgate answers it: an unknown model is a 404
/// `model_not_found` (as OpenAI answers it), the rest `upstream_error` with the status
/// `UpstreamError::http_status` gives.
pub fn api_error(e: &UpstreamError) -> ApiError {
    match e.kind {
        UpstreamErrorKind::NotFound => ApiError::ModelNotFound(e.message.clone()),
        _ => ApiError::Upstream {
            status: e.http_status(),
            detail: e.message.clone(),
            retry_after: e.retry_after(),
        },
    }
}

/// Sends the request; a non-2xx answer becomes an `UpstreamError` (with the provider's
/// own message, sanitised), a network failure a 502.
pub async fn send(
    kind: ProviderKind,
    base_url: &str,
    key: &str,
    req: &ChatRequest,
    signal: Option<&AbortSignal>,
) -> Result<Response, UpstreamError> {
    let spec = providers::build_request(kind, base_url, key, req);
    let unreachable = |e: worker::Error| {
        UpstreamError::new(
            UpstreamErrorKind::Server,
            0,
            format!("{kind} could not be reached: {e}"),
        )
    };
    let headers = Headers::new();
    for (k, v) in &spec.headers {
        headers.set(k, v).map_err(unreachable)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(spec.body.into()));
    let request = Request::new_with_init(&spec.url, &init).map_err(unreachable)?;
    let fetch = Fetch::Request(request);
    let mut resp = match signal {
        Some(s) => fetch.send_with_signal(s).await,
        None => fetch.send().await,
    }
    .map_err(unreachable)?;
    let status = resp.status_code();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let retry_after = resp.headers().get("retry-after").ok().flatten();
    let body = resp.bytes().await.unwrap_or_default();
    Err(providers::map_error_response(
        kind,
        status,
        retry_after.as_deref(),
        &body,
    ))
}

/// A provider's streaming body as neutral chunks.
pub struct ChunkStream {
    body: ByteStream,
    decoder: SseDecoder,
    mapper: Box<dyn StreamMapper>,
    queue: VecDeque<Chunk>,
    ended: bool,
}

impl ChunkStream {
    pub fn new(kind: ProviderKind, resp: &mut Response) -> ApiResult<ChunkStream> {
        Ok(ChunkStream {
            body: resp.stream()?,
            decoder: SseDecoder::new(),
            mapper: providers::stream_mapper(kind),
            queue: VecDeque::new(),
            ended: false,
        })
    }

    /// The next non-empty chunk; `Ok(None)` at a proper end; an error when the stream
    /// breaks, is unreadable, or ends without its terminal event.
    pub async fn next(&mut self) -> Result<Option<Chunk>, UpstreamError> {
        loop {
            if let Some(c) = self.queue.pop_front() {
                return Ok(Some(c));
            }
            if self.ended {
                return Ok(None);
            }
            let events = match self.body.next().await {
                Some(Ok(bytes)) => self.decoder.feed(&bytes),
                Some(Err(_)) => {
                    return Err(UpstreamError::new(
                        UpstreamErrorKind::Server,
                        0,
                        "the connection to the provider was lost",
                    ))
                }
                None => {
                    self.ended = true;
                    self.decoder.finish()
                }
            };
            let events =
                events.map_err(|e| UpstreamError::protocol(format!("unreadable stream: {e}")))?;
            for ev in &events {
                self.queue.extend(
                    self.mapper
                        .on_event(ev)?
                        .into_iter()
                        .filter(|c| !c.is_empty()),
                );
            }
            if self.ended && self.queue.is_empty() {
                self.mapper.finish()?;
            }
        }
    }
}

/// A streamed reply's chunks, with their signatures tagged by the provider that made them
/// (`providers::signature`).
pub struct ReplySource {
    from: From,
    tagger: Tagger,
}

/// Where the chunks come from: the built-in demo model, paced like a real one, or a
/// provider's stream.
enum From {
    Demo {
        chunks: VecDeque<Chunk>,
        delay_ms: u32,
    },
    Upstream(ChunkStream),
}

impl ReplySource {
    /// Opens the reply: for a provider, sends the request and fails (as an HTTP error)
    /// when the provider refuses it.
    pub async fn open(
        kind: ProviderKind,
        base_url: &str,
        key: Option<&str>,
        req: &ChatRequest,
        demo_delay_ms: u32,
        signal: &AbortSignal,
    ) -> ApiResult<ReplySource> {
        let from = match (kind, key) {
            (ProviderKind::Demo, _) => From::Demo {
                chunks: providers::demo::chunks(req).into(),
                delay_ms: demo_delay_ms,
            },
            (kind, Some(key)) => {
                let mut resp = send(kind, base_url, key, req, Some(signal))
                    .await
                    .map_err(|e| api_error(&e))?;
                From::Upstream(ChunkStream::new(kind, &mut resp)?)
            }
            (kind, None) => return Err(ApiError::NoProviderKey(kind.as_str())),
        };
        Ok(ReplySource {
            from,
            tagger: Tagger::new(kind),
        })
    }

    pub async fn next(&mut self) -> Result<Option<Chunk>, UpstreamError> {
        let mut next = match &mut self.from {
            From::Demo { chunks, delay_ms } => {
                let next = chunks.pop_front();
                // Every piece the model "writes" (text, reasoning, tool arguments) is paced.
                let written = next.as_ref().is_some_and(|c| {
                    c.usage.is_none() && c.finish_reason.is_none() && !c.is_empty()
                });
                if written && *delay_ms > 0 {
                    worker::Delay::from(std::time::Duration::from_millis(u64::from(*delay_ms)))
                        .await;
                }
                next
            }
            From::Upstream(stream) => stream.next().await?,
        };
        if let Some(chunk) = &mut next {
            self.tagger.chunk(chunk);
        }
        Ok(next)
    }
}

pub use crate::sse::sse_response;
