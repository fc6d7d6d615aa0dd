//! `text/event-stream` responses: fed by a channel of ready-made frames (`sse_response`), or
//! written frame by frame into the runtime's own stream (`sse_sink`).

use std::cell::Cell;
use std::rc::Rc;

use futures::StreamExt;
use wasm_bindgen::prelude::*;
use worker::{js_sys, web_sys, Headers, Response, ResponseBody};

use crate::error::{ApiError, ApiResult};

#[wasm_bindgen]
extern "C" {
    /// workerd's native byte stream pair: what is written to `writable` is read from
    /// `readable`, with no JavaScript in between.
    #[wasm_bindgen(extends = web_sys::TransformStream)]
    type IdentityTransformStream;

    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<IdentityTransformStream, JsValue>;
}

/// The writing end of a `text/event-stream` response (`sse_sink`): the task that makes the
/// reply writes each frame into the runtime's own stream as it is ready. Unlike a response
/// fed by a Rust stream (`sse_response`), which the runtime pulls from (a promise and a wasm
/// future per frame), a write is one call. Only for a reply written within the request that
/// made it: workerd ties a native stream to its request.
pub struct SseSink {
    writer: web_sys::WritableStreamDefaultWriter,
    /// Set when a write is refused: the client went away.
    gone: Rc<Cell<bool>>,
    /// Catches a write's refusal and sets `gone`, which the next `send` tells.
    refused: Closure<dyn FnMut(JsValue)>,
}

impl SseSink {
    /// Queues a frame; false once the client has gone (a write was refused, or the stream
    /// is errored).
    pub fn send(&self, frame: &str) -> bool {
        if self.gone.get() || !matches!(self.writer.desired_size(), Ok(Some(_))) {
            return false;
        }
        let bytes = js_sys::Uint8Array::from(frame.as_bytes());
        let _ = self.writer.write_with_chunk(&bytes).catch(&self.refused);
        true
    }

    /// Ends the response after what was queued.
    pub fn close(self) {
        let _ = self.writer.close().catch(&self.refused);
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
    let gone = Rc::new(Cell::new(false));
    let flag = gone.clone();
    let sink = SseSink {
        writer,
        gone,
        refused: Closure::new(move |_: JsValue| flag.set(true)),
    };
    Ok((resp, sink))
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
