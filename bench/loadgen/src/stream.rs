//! One streamed request, timed: time to the response headers (TTFB), to the first SSE data
//! frame carrying a token (TTFT: text, or a piece of a tool call's arguments), to the end of
//! the body (whole stream), and the gaps between token frames. A frame's time is when its
//! closing blank line arrived.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The stream formats the benchmark reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// chatgate's reply stream: `event: delta` frames, ended by `event: message.completed`.
    Chat,
    /// OpenAI chat-completion chunks: `data: {...}` with `choices[0].delta.content` or a piece
    /// of `choices[0].delta.tool_calls[].function.arguments`, ended by `data: [DONE]`.
    OpenAi,
    /// Anthropic Messages events: `content_block_delta` with a `text_delta` or an
    /// `input_json_delta`, ended by `message_stop`.
    Anthropic,
    /// OpenAI Responses events: `response.output_text.delta` or
    /// `response.function_call_arguments.delta`, ended by `response.completed`.
    Responses,
}

#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Why the request did not count, if it did not.
    pub error: Option<String>,
    pub ttfb_ms: f64,
    pub ttft_ms: Option<f64>,
    pub total_ms: f64,
    /// Gaps between consecutive token frames.
    pub gaps_ms: Vec<f64>,
    /// Frames carrying a token (text, or a piece of tool-call arguments).
    pub text_frames: usize,
    /// chatgate's `x-request-id`, which names the request in the Worker's log line.
    pub request_id: Option<String>,
    /// chatgate's `Server-Timing`: each phase of the handler and its milliseconds, in order.
    pub phases: Vec<(String, f64)>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Streams open right now (headers received, body not finished) and the most seen at once.
#[derive(Default)]
pub struct Live {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Live {
    fn open(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
    }
    fn close(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

enum Frame {
    Text,
    Done,
    Error(String),
    Other,
}

fn classify(frame: &str, wire: Wire) -> Frame {
    let event = frame
        .lines()
        .find_map(|l| l.strip_prefix("event:"))
        .map(str::trim);
    let data = || {
        frame
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
    };
    let json = || data().find_map(|d| serde_json::from_str::<Value>(d).ok());
    let non_empty = |v: &Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty())
    };
    let error = || Frame::Error(frame.chars().take(300).collect());
    match wire {
        Wire::Chat => match event {
            Some("delta") => Frame::Text,
            Some("message.completed") => Frame::Done,
            Some("error") => error(),
            _ => Frame::Other,
        },
        Wire::OpenAi => {
            let mut kind = Frame::Other;
            for data in data() {
                if data == "[DONE]" {
                    return Frame::Done;
                }
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if v.get("error").is_some() {
                    return Frame::Error(data.chars().take(300).collect());
                }
                let text = non_empty(&v, "/choices/0/delta/content");
                let arguments = v
                    .pointer("/choices/0/delta/tool_calls")
                    .and_then(Value::as_array)
                    .is_some_and(|calls| calls.iter().any(|c| non_empty(c, "/function/arguments")));
                if text || arguments {
                    kind = Frame::Text;
                }
            }
            kind
        }
        Wire::Anthropic => match event {
            Some("content_block_delta") => {
                let token = json().is_some_and(|v| {
                    non_empty(&v, "/delta/text") || non_empty(&v, "/delta/partial_json")
                });
                if token {
                    Frame::Text
                } else {
                    Frame::Other
                }
            }
            Some("message_stop") => Frame::Done,
            Some("error") => error(),
            _ => Frame::Other,
        },
        Wire::Responses => match event {
            Some("response.output_text.delta" | "response.function_call_arguments.delta") => {
                if json().is_some_and(|v| non_empty(&v, "/delta")) {
                    Frame::Text
                } else {
                    Frame::Other
                }
            }
            Some("response.completed") => Frame::Done,
            Some("response.failed" | "response.incomplete" | "error") => error(),
            _ => Frame::Other,
        },
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends the request and reads its stream to the end (or `limit`). `expect` is the number of
/// text frames a complete reply has, when known.
pub async fn measure(
    request: reqwest::RequestBuilder,
    wire: Wire,
    expect: Option<usize>,
    live: Option<&Live>,
    limit: Duration,
) -> Sample {
    let start = Instant::now();
    let mut sample = Sample::default();
    let mut opened = false;
    let outcome = tokio::time::timeout(
        limit,
        read(request, wire, start, &mut sample, live, &mut opened),
    )
    .await;
    if opened {
        if let Some(live) = live {
            live.close();
        }
    }
    sample.total_ms = millis(start.elapsed());
    let error = match outcome {
        Err(_) => Some(format!("timed out after {} s", limit.as_secs())),
        Ok(Err(e)) => Some(e),
        Ok(Ok(false)) => Some("stream ended without its final event".into()),
        Ok(Ok(true)) => match expect {
            Some(n) if n != sample.text_frames => {
                Some(format!("{} text frames, expected {n}", sample.text_frames))
            }
            _ => None,
        },
    };
    sample.error = error;
    sample
}

/// `Ok(true)` when the stream ended with its final event.
async fn read(
    request: reqwest::RequestBuilder,
    wire: Wire,
    start: Instant,
    sample: &mut Sample,
    live: Option<&Live>,
    opened: &mut bool,
) -> Result<bool, String> {
    let mut resp = request.send().await.map_err(|e| format!("send: {e}"))?;
    sample.ttfb_ms = millis(start.elapsed());
    sample.request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    sample.phases = resp
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .map(server_timing)
        .unwrap_or_default();
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!(
            "HTTP {}: {}",
            status.as_u16(),
            body.chars().take(200).collect::<String>()
        ));
    }
    if let Some(live) = live {
        live.open();
        *opened = true;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut last_text: Option<Instant> = None;
    let mut done = false;
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("body: {e}"))? {
        let now = Instant::now();
        buf.extend(chunk.iter().filter(|&&b| b != b'\r'));
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buf.drain(..end + 2).collect();
            match classify(&String::from_utf8_lossy(&frame), wire) {
                Frame::Text => {
                    sample.text_frames += 1;
                    match last_text {
                        None => sample.ttft_ms = Some(millis(now - start)),
                        Some(prev) => sample.gaps_ms.push(millis(now - prev)),
                    }
                    last_text = Some(now);
                }
                Frame::Done => done = true,
                Frame::Error(e) => return Err(format!("error event: {e}")),
                Frame::Other => {}
            }
        }
    }
    Ok(done)
}

/// `auth;dur=2, conversation;dur=3` → `[("auth", 2.0), ("conversation", 3.0)]`.
pub fn server_timing(header: &str) -> Vec<(String, f64)> {
    header
        .split(',')
        .filter_map(|metric| {
            let mut parts = metric.split(';').map(str::trim);
            let name = parts.next().filter(|n| !n.is_empty())?;
            let dur = parts.find_map(|p| p.strip_prefix("dur="))?.parse().ok()?;
            Some((name.to_string(), dur))
        })
        .collect()
}

/// A plain request read to the end: its latency in ms and status, or why it failed.
pub async fn timed(request: reqwest::RequestBuilder) -> Result<(f64, u16, String), String> {
    let start = Instant::now();
    let resp = request.send().await.map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| format!("body: {e}"))?;
    Ok((millis(start.elapsed()), status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_told_apart() {
        assert!(matches!(
            classify(
                "id: 5\nevent: delta\ndata: {\"text\":\"a\"}\n\n",
                Wire::Chat
            ),
            Frame::Text
        ));
        assert!(matches!(
            classify("event: message.completed\ndata: {}\n\n", Wire::Chat),
            Frame::Done
        ));
        assert!(matches!(
            classify(
                "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
                Wire::OpenAi
            ),
            Frame::Other
        ));
        assert!(matches!(
            classify(
                "data: {\"choices\":[{\"delta\":{\"content\":\"tok0 \"}}]}\n\n",
                Wire::OpenAi
            ),
            Frame::Text
        ));
        assert!(matches!(
            classify("data: [DONE]\n\n", Wire::OpenAi),
            Frame::Done
        ));
    }

    #[test]
    fn server_timing_phases_keep_their_order() {
        assert_eq!(
            server_timing("auth;dur=4, rate-limit;dur=3,key;desc=\"x\";dur=5.5, bad"),
            vec![
                ("auth".to_string(), 4.0),
                ("rate-limit".to_string(), 3.0),
                ("key".to_string(), 5.5)
            ]
        );
    }

    #[test]
    fn tool_call_argument_pieces_are_tokens_and_their_headers_are_not() {
        let start = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n";
        let piece = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\"}}]}}]}\n\n";
        assert!(matches!(classify(start, Wire::OpenAi), Frame::Other));
        assert!(matches!(classify(piece, Wire::OpenAi), Frame::Text));
    }

    #[test]
    fn anthropic_and_responses_events_are_told_apart() {
        let text = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok0 \"}}\n\n";
        let json = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n";
        assert!(matches!(classify(text, Wire::Anthropic), Frame::Text));
        assert!(matches!(classify(json, Wire::Anthropic), Frame::Other));
        assert!(matches!(
            classify(
                "event: ping\ndata: {\"type\":\"ping\"}\n\n",
                Wire::Anthropic
            ),
            Frame::Other
        ));
        assert!(matches!(
            classify(
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                Wire::Anthropic
            ),
            Frame::Done
        ));
        assert!(matches!(
            classify(
                "event: error\ndata: {\"type\":\"error\"}\n\n",
                Wire::Anthropic
            ),
            Frame::Error(_)
        ));
        let delta = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"tok0 \"}\n\n";
        assert!(matches!(classify(delta, Wire::Responses), Frame::Text));
        assert!(matches!(
            classify("event: response.created\ndata: {}\n\n", Wire::Responses),
            Frame::Other
        ));
        assert!(matches!(
            classify("event: response.completed\ndata: {}\n\n", Wire::Responses),
            Frame::Done
        ));
        assert!(matches!(
            classify("event: response.failed\ndata: {}\n\n", Wire::Responses),
            Frame::Error(_)
        ));
    }
}
