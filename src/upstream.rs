//! Calling a provider from the Worker: the HTTP request, its failure mapping, and the
//! stream of neutral chunks read from its body. Shared by chat replies and /v1.

use worker::web_sys::ReadableStream;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit, Response, ResponseBody};

use crate::error::{ApiError, ApiResult};
use crate::providers::signature::Tagger;
use crate::providers::sse::{SseDecoder, SseError, SseEvent};
use crate::providers::{
    self, ChatRequest, Chunk, ProviderKind, StreamMapper, UpstreamError, UpstreamErrorKind,
};
use crate::sse::{self, Pumped};

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

/// A provider's event stream, decoded into neutral chunks.
struct Decoding {
    decoder: SseDecoder,
    mapper: Box<dyn StreamMapper>,
}

impl Decoding {
    /// Decodes the next bytes, handing each non-empty chunk to `on_chunk`: false once it
    /// said stop.
    fn feed(
        &mut self,
        bytes: &[u8],
        on_chunk: &mut impl FnMut(Chunk) -> bool,
    ) -> Result<bool, UpstreamError> {
        let events = self.decoder.feed(bytes).map_err(unreadable)?;
        self.deliver(&events, on_chunk)
    }

    /// The end of the body: what it held last, then the check that the stream ended
    /// properly (with its terminal event).
    fn end(&mut self, on_chunk: &mut impl FnMut(Chunk) -> bool) -> Result<(), UpstreamError> {
        let events = self.decoder.finish().map_err(unreadable)?;
        if self.deliver(&events, on_chunk)? {
            self.mapper.finish()?;
        }
        Ok(())
    }

    fn deliver(
        &mut self,
        events: &[SseEvent],
        on_chunk: &mut impl FnMut(Chunk) -> bool,
    ) -> Result<bool, UpstreamError> {
        for ev in events {
            for chunk in self.mapper.on_event(ev)? {
                if !chunk.is_empty() && !on_chunk(chunk) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

fn unreadable(e: SseError) -> UpstreamError {
    UpstreamError::protocol(format!("unreadable stream: {e}"))
}

/// A streamed reply's chunks, with their signatures tagged by the provider that made them
/// (`providers::signature`).
pub struct ReplySource {
    from: From,
    tagger: Tagger,
}

/// Where the chunks come from: the built-in demo model, paced like a real one, or a
/// provider's event stream.
enum From {
    Demo {
        chunks: Vec<Chunk>,
        delay_ms: u32,
    },
    Upstream {
        body: ReadableStream,
        decoding: Decoding,
    },
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
                chunks: providers::demo::chunks(req),
                delay_ms: demo_delay_ms,
            },
            (kind, Some(key)) => {
                let resp = send(kind, base_url, key, req, Some(signal))
                    .await
                    .map_err(|e| api_error(&e))?;
                let ResponseBody::Stream(body) = resp.body() else {
                    let e = UpstreamError::protocol(format!("{kind} answered with no body"));
                    return Err(api_error(&e));
                };
                From::Upstream {
                    body: body.clone(),
                    decoding: Decoding {
                        decoder: SseDecoder::new(),
                        mapper: providers::stream_mapper(kind),
                    },
                }
            }
            (kind, None) => return Err(ApiError::NoProviderKey(kind.as_str())),
        };
        Ok(ReplySource {
            from,
            tagger: Tagger::new(kind),
        })
    }

    /// Hands each chunk to `on_chunk` as it comes, until the reply ends or `on_chunk` says
    /// stop (false): `Ok` then, an error when the stream breaks, is unreadable, or ends
    /// without its terminal event. A provider's body is read in JavaScript, one call into
    /// the wasm per network chunk (`sse::pump`); `on_chunk` runs within that call.
    pub async fn run(self, mut on_chunk: impl FnMut(Chunk) -> bool) -> Result<(), UpstreamError> {
        let ReplySource { from, mut tagger } = self;
        let mut tagged = move |mut chunk: Chunk| {
            tagger.chunk(&mut chunk);
            on_chunk(chunk)
        };
        match from {
            From::Demo { chunks, delay_ms } => {
                for chunk in chunks {
                    // Every piece the model "writes" (text, reasoning, tool arguments) is paced.
                    let written =
                        chunk.usage.is_none() && chunk.finish_reason.is_none() && !chunk.is_empty();
                    if written && delay_ms > 0 {
                        let pause = std::time::Duration::from_millis(u64::from(delay_ms));
                        worker::Delay::from(pause).await;
                    }
                    if !tagged(chunk) {
                        break;
                    }
                }
                Ok(())
            }
            From::Upstream { body, decoding } => {
                let (mut decoding, mut failed) = (decoding, None);
                let pumped = sse::pump(&body, |bytes| {
                    decoding.feed(bytes, &mut tagged).unwrap_or_else(|e| {
                        failed = Some(e);
                        false
                    })
                })
                .await;
                if let Some(e) = failed {
                    return Err(e);
                }
                match pumped {
                    Pumped::Ended => decoding.end(&mut tagged),
                    Pumped::Stopped => Ok(()),
                    Pumped::Broken => Err(UpstreamError::new(
                        UpstreamErrorKind::Server,
                        0,
                        "the connection to the provider was lost",
                    )),
                }
            }
        }
    }
}

pub use crate::sse::sse_response;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn openai() -> Decoding {
        Decoding {
            decoder: SseDecoder::new(),
            mapper: providers::stream_mapper(ProviderKind::OpenAi),
        }
    }

    fn delta(text: &str) -> String {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
        )
    }

    /// Feeds the body in the network pieces given; the texts received, and how it ended.
    fn run(pieces: &[&[u8]], stop_after: usize) -> (Vec<String>, Result<(), UpstreamError>) {
        let mut decoding = openai();
        let mut texts = Vec::new();
        let mut on_chunk = |c: Chunk| {
            texts.push(c.text);
            texts.len() < stop_after
        };
        for piece in pieces {
            match decoding.feed(piece, &mut on_chunk) {
                Ok(true) => {}
                Ok(false) => return (texts, Ok(())),
                Err(e) => return (texts, Err(e)),
            }
        }
        let end = decoding.end(&mut on_chunk);
        (texts, end)
    }

    #[test]
    fn chunks_come_out_whole_however_the_network_splits_the_body() {
        let body = format!("{}{}data: [DONE]\n\n", delta("Hel"), delta("lo"));
        let bytes = body.as_bytes();
        for at in 0..bytes.len() {
            let (head, tail) = bytes.split_at(at);
            let (texts, end) = run(&[head, tail], usize::MAX);
            assert_eq!(texts, ["Hel", "lo"], "split at {at}");
            assert!(end.is_ok(), "split at {at}");
        }
    }

    #[test]
    fn a_reader_that_says_stop_gets_nothing_more() {
        let body = format!("{}{}data: [DONE]\n\n", delta("a"), delta("b"));
        let (texts, end) = run(&[body.as_bytes()], 1);
        assert_eq!(texts, ["a"]);
        assert!(end.is_ok());
    }

    #[test]
    fn a_body_that_ends_without_its_terminal_event_is_an_error_after_its_last_chunk() {
        let (texts, end) = run(&[delta("cut").as_bytes()], usize::MAX);
        assert_eq!(texts, ["cut"]);
        assert!(end.is_err());
    }

    #[test]
    fn an_unreadable_event_is_a_protocol_error() {
        let (texts, end) = run(&[b"data: {not json\n\n"], usize::MAX);
        assert!(texts.is_empty());
        assert_eq!(end.unwrap_err().kind, UpstreamErrorKind::Protocol);
    }
}
