//! `text/event-stream` bodies, crossed between the runtime's streams and the wasm once per
//! network chunk: a provider's body is read by a small JavaScript loop that hands each chunk
//! to one synchronous Rust call (`pump`), and a response is written frame by frame into the
//! runtime's own stream (`sse_sink`), or fed by a channel of ready-made frames
//! (`sse_response`).
//!
//! The loop is in JavaScript because awaiting each read from Rust costs, per chunk, a
//! promise wrapped in a wasm future (two closures made and dropped), a wake of the futures
//! executor (a microtask) and a poll, where an `await` inside JavaScript costs none of that.
//! (Measured, it was a few percent of a frame's CPU: most of it is the runtime's own read
//! and write, bench/README.md.)

use futures::StreamExt;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen_futures;
use worker::{js_sys, web_sys, Headers, Response, ResponseBody};

use crate::error::{ApiError, ApiResult};

#[wasm_bindgen(inline_js = r#"
export async function pump(body, feed) {
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return true;
    if (!feed(value)) {
      reader.cancel().catch(() => {});
      return false;
    }
  }
}

export class Sink {
  constructor(writer) {
    this.writer = writer;
    this.gone = false;
    this.refused = () => { this.gone = true; };
  }
  send(bytes) {
    if (this.gone || this.writer.desiredSize === null) return false;
    try {
      this.writer.write(bytes.slice()).catch(this.refused);
      return true;
    } catch {
      this.gone = true;
      return false;
    }
  }
  close() {
    if (this.gone) return;
    this.gone = true;
    try {
      this.writer.close().catch(() => {});
    } catch {}
  }
}
"#)]
extern "C" {
    /// Reads `body` to its end, calling `feed` with each chunk; resolves to true at the end,
    /// false once `feed` answered false (the body is then cancelled), and rejects when the
    /// body breaks.
    #[wasm_bindgen(js_name = pump)]
    fn js_pump(
        body: &web_sys::ReadableStream,
        feed: &ScopedClosure<dyn FnMut(js_sys::Uint8Array) -> bool>,
    ) -> js_sys::Promise;

    /// The writing end of a response body: each `send` is one call, copies the bytes out of
    /// the wasm memory and queues them; a refused write (the client went away) makes every
    /// later `send` answer false. Neither throws: a write or close the runtime refuses at
    /// once (from another request's context, say) counts as the client gone.
    type Sink;

    #[wasm_bindgen(constructor)]
    fn new(writer: web_sys::WritableStreamDefaultWriter) -> Sink;

    #[wasm_bindgen(method)]
    fn send(this: &Sink, bytes: &[u8]) -> bool;

    #[wasm_bindgen(method)]
    fn close(this: &Sink);
}

#[wasm_bindgen]
extern "C" {
    /// workerd's native byte stream pair: what is written to `writable` is read from
    /// `readable`, with no JavaScript in between.
    #[wasm_bindgen(extends = web_sys::TransformStream)]
    type IdentityTransformStream;

    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<IdentityTransformStream, JsValue>;
}

/// How a body read by `pump` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Pumped {
    /// The body ended.
    Ended,
    /// `feed` said stop; the body was cancelled.
    Stopped,
    /// The body broke (the connection was lost).
    Broken,
}

/// Reads a byte stream to its end, handing each chunk to `feed` (true: go on). `feed` is
/// lent to the JavaScript loop for the length of the read only (a scoped closure, which
/// the runtime can no longer call once this returns or is dropped), so it may borrow.
pub async fn pump(body: &web_sys::ReadableStream, mut feed: impl FnMut(&[u8]) -> bool) -> Pumped {
    let mut buf = Vec::new();
    let mut each = |chunk: js_sys::Uint8Array| {
        buf.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut buf);
        feed(&buf)
    };
    let lent = ScopedClosure::borrow_mut(&mut each);
    let ended = wasm_bindgen_futures::JsFuture::from(js_pump(body, &lent)).await;
    match ended {
        Ok(v) if v.as_bool() == Some(true) => Pumped::Ended,
        Ok(_) => Pumped::Stopped,
        Err(_) => Pumped::Broken,
    }
}

/// The writing end of a `text/event-stream` response (`sse_sink`): the task that makes the
/// reply writes each frame into the runtime's own stream as it is ready. Unlike a response
/// fed by a Rust stream (`sse_response`), which the runtime pulls from (a promise and a wasm
/// future per frame), a write is one call. Only for a reply written within the request that
/// made it: workerd ties a native stream to its request. Dropping it ends the response.
pub struct SseSink(Sink);

impl SseSink {
    /// Queues a frame; false once the client has gone (a write was refused, or the stream
    /// is errored).
    pub fn send(&self, frame: &str) -> bool {
        self.0.send(frame.as_bytes())
    }

    /// Ends the response after what was queued (as dropping the sink does).
    pub fn close(self) {}
}

impl Drop for SseSink {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A `text/event-stream` response and the sink that writes its body.
pub fn sse_sink() -> ApiResult<(Response, SseSink)> {
    let pair = IdentityTransformStream::new().map_err(|e| ApiError::internal(format!("{e:?}")))?;
    let writer = pair
        .writable()
        .get_writer()
        .map_err(|e| ApiError::internal(format!("{e:?}")))?;
    let resp =
        Response::from_body(ResponseBody::Stream(pair.readable()))?.with_headers(sse_headers()?);
    Ok((resp, SseSink(Sink::new(writer))))
}

fn sse_headers() -> ApiResult<Headers> {
    let headers = Headers::new();
    headers.set("content-type", "text/event-stream; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-accel-buffering", "no")?;
    Ok(headers)
}

/// A `text/event-stream` response fed by a channel of ready-made SSE frames.
pub fn sse_response(rx: futures::channel::mpsc::UnboundedReceiver<String>) -> ApiResult<Response> {
    Ok(Response::from_stream(rx.map(Ok::<String, worker::Error>))?.with_headers(sse_headers()?))
}
