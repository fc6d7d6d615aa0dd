//! Server-sent events: one decoder for every upstream (WHATWG event-stream
//! rules) and the encoder for chatgate's own streams.
//!
//! The decoder buffers *bytes* until a line ends, so a UTF-8 sequence or a
//! CRLF split across network chunks decodes exactly as if it had arrived whole.

use std::fmt;

/// A single line longer than this is refused: an upstream must not be able to
/// make the worker buffer without bound.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The same guard for one event's joined `data` lines.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `None` when the frame had no `event:` field (the spec's "message").
    pub event: Option<String>,
    pub data: String,
    /// The last event id seen so far in the stream (it persists across
    /// events, as the spec's "last event ID buffer" does).
    pub id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseError {
    LineTooLong,
    EventTooLarge,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong => {
                write!(f, "event-stream line longer than {MAX_LINE_BYTES} bytes")
            }
            SseError::EventTooLarge => {
                write!(f, "event-stream event larger than {MAX_EVENT_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for SseError {}

#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the line in progress (no terminator yet).
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF at the start of the next one
    /// belongs to the same line end.
    after_cr: bool,
    /// The first line has been processed (the BOM can only precede it).
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        let mut rest = bytes;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some((b'\n', tail)) = rest.split_first() {
                rest = tail;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = rest.split_at(pos);
            self.push_bytes(head)?;
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out)?;
            rest = match tail.split_first() {
                Some((b'\r', after)) => match after.split_first() {
                    Some((b'\n', after_lf)) => after_lf,
                    Some(_) => after,
                    None => {
                        self.after_cr = true;
                        after
                    }
                },
                Some((_, after)) => after,
                None => tail,
            };
        }
        self.push_bytes(rest)?;
        Ok(out)
    }

    /// End of stream: a last line without terminator is processed, and an
    /// event not yet followed by a blank line is still delivered (upstreams
    /// that close right after their final `data:` line lose nothing).
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        self.after_cr = false;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out)?;
        }
        self.dispatch(&mut out);
        Ok(out)
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > MAX_LINE_BYTES {
            return Err(SseError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut bytes = raw;
        if !self.started {
            self.started = true;
            bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        }
        if bytes.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let line = String::from_utf8_lossy(bytes);
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(SseError::EventTooLarge);
                }
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            // The spec ignores an id containing NUL; an empty one clears it.
            "id" if !value.contains('\0') => {
                self.last_id = (!value.is_empty()).then(|| value.to_owned());
            }
            // `retry` only matters to a reconnecting browser; other fields are ignored.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take().filter(|e| !e.is_empty());
        if !self.has_data {
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the '\n' appended after the last data line
        out.push(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
        });
    }
}

/// One complete frame, ending in the blank line. Every line break in `data`
/// (LF, CRLF or CR) becomes a new `data:` line, so the decoder gives `data`
/// back unchanged; line breaks in `id`/`event` are dropped to keep the framing.
pub fn encode_event(id: Option<&str>, event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    for (name, value) in [("id", id), ("event", event)] {
        if let Some(value) = value {
            out.push_str(name);
            out.push_str(": ");
            out.extend(value.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')));
            out.push('\n');
        }
    }
    for line in data.replace("\r\n", "\n").split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(dec.feed(c).unwrap());
        }
        out.extend(dec.finish().unwrap());
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: None,
        }
    }

    /// Decoding must not depend on where the network splits the bytes.
    fn assert_split_invariant(input: &[u8], expected: &[SseEvent]) {
        assert_eq!(decode_all(&[input]), expected, "whole");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(decode_all(&[a, b]), expected, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_all(&bytes), expected, "byte by byte");
    }

    #[test]
    fn lf_crlf_and_cr_line_ends_are_equivalent() {
        let expected = vec![ev(Some("a"), "1"), ev(None, "2")];
        for input in [
            "event: a\ndata: 1\n\ndata: 2\n\n",
            "event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n",
            "event: a\rdata: 1\r\rdata: 2\r\r",
            "event: a\r\ndata: 1\n\rdata: 2\r\n\n",
        ] {
            assert_split_invariant(input.as_bytes(), &expected);
        }
    }

    #[test]
    fn comments_are_ignored_and_multi_line_data_is_joined() {
        let input =
            b": keep-alive\n\ndata: first\n: in between\ndata: second\ndata\ndata:third\n\n";
        assert_split_invariant(input, &[ev(None, "first\nsecond\n\nthird")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_stripped() {
        assert_split_invariant(
            b"data:  two\n\ndata:none\n\n",
            &[ev(None, " two"), ev(None, "none")],
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let input = b"event: lonely\n\nid: 7\n\nretry: 10\n\nevent: x\ndata:\n\n";
        let out = decode_all(&[input]);
        assert_eq!(
            out,
            vec![SseEvent {
                event: Some("x".into()),
                data: String::new(),
                id: Some("7".into())
            }]
        );
    }

    #[test]
    fn split_utf8_sequences_decode_correctly() {
        let input = "data: café 🙂 ok\n\n".as_bytes();
        assert_split_invariant(input, &[ev(None, "café 🙂 ok")]);
    }

    #[test]
    fn a_missing_final_blank_line_still_delivers_the_event() {
        assert_split_invariant(b"data: a\n\ndata: last", &[ev(None, "a"), ev(None, "last")]);
        assert_split_invariant(
            b"data: a\n\ndata: last\n",
            &[ev(None, "a"), ev(None, "last")],
        );
    }

    #[test]
    fn a_leading_bom_is_skipped_once() {
        let input = b"\xEF\xBB\xBFdata: x\n\n";
        assert_split_invariant(input, &[ev(None, "x")]);
        // A BOM later in the stream is content, not a marker.
        let out = decode_all(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]);
        assert_eq!(out, vec![ev(None, "a")]);
    }

    #[test]
    fn ids_persist_until_cleared() {
        let out = decode_all(&[b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]);
        let ids: Vec<_> = out.iter().map(|e| e.id.as_deref()).collect();
        assert_eq!(ids, vec![Some("1"), Some("1"), None]);
    }

    #[test]
    fn an_overlong_line_is_an_error() {
        let mut dec = SseDecoder::new();
        let big = vec![b'a'; MAX_LINE_BYTES];
        assert!(dec.feed(b"data: ").is_ok());
        assert_eq!(dec.feed(&big), Err(SseError::LineTooLong));
    }

    #[test]
    fn encoded_events_decode_to_the_same_event() {
        let frame = encode_event(Some("12"), Some("delta"), "line one\r\nline two\rthree\n");
        assert_eq!(
            frame,
            "id: 12\nevent: delta\ndata: line one\ndata: line two\ndata: three\ndata: \n\n"
        );
        let out = decode_all(&[frame.as_bytes()]);
        assert_eq!(
            out,
            vec![SseEvent {
                event: Some("delta".into()),
                data: "line one\nline two\nthree\n".into(),
                id: Some("12".into())
            }]
        );
        assert_eq!(
            encode_event(None, Some("a\nb"), ""),
            "event: ab\ndata: \n\n"
        );
    }
}
