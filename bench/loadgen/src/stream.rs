//! One streamed request, timed: time to the response headers (TTFB), to the first SSE data
//! frame carrying text (TTFT), to the end of the body (whole stream), and the gaps between
//! text frames. A frame's time is when its closing blank line arrived.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The two stream formats the benchmark reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// chatgate's reply stream: `event: delta` frames, ended by `event: message.completed`.
    Chat,
    /// OpenAI chat-completion chunks: `data: {...}` with `choices[0].delta.content`, ended by
    /// `data: [DONE]`.
    OpenAi,
}

#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Why the request did not count, if it did not.
    pub error: Option<String>,
    pub ttfb_ms: f64,
    pub ttft_ms: Option<f64>,
    pub total_ms: f64,
    /// Gaps between consecutive text frames.
    pub gaps_ms: Vec<f64>,
    pub text_frames: usize,
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
    match wire {
        Wire::Chat => {
            let event = frame
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(str::trim);
            match event {
                Some("delta") => Frame::Text,
                Some("message.completed") => Frame::Done,
                Some("error") => Frame::Error(frame.chars().take(300).collect()),
                _ => Frame::Other,
            }
        }
        Wire::OpenAi => {
            let mut kind = Frame::Other;
            for data in frame.lines().filter_map(|l| l.strip_prefix("data:")) {
                let data = data.trim();
                if data == "[DONE]" {
                    return Frame::Done;
                }
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if v.get("error").is_some() {
                    return Frame::Error(data.chars().take(300).collect());
                }
                let text = v
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty());
                if text {
                    kind = Frame::Text;
                }
            }
            kind
        }
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
}
