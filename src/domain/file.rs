//! An uploaded file (`POST /api/files`): its type, read from its bytes and never taken from the
//! client's `content-type`, and its name. A file is one of
//! - an image every provider reads (PNG, JPEG, GIF, WebP: `attachment::sniff`) or a PDF
//!   (`%PDF-`), sent to a model as a content part;
//! - text (source code, Markdown, CSV…): valid UTF-8 with no NUL byte, from its first byte to
//!   its last (checked as it streams, `TextCheck`), sent to a model as text;
//! - anything else: refused (415).

use std::borrow::Cow;

use super::attachment;

/// How many first bytes are read before the type is decided.
pub const SNIFF_BYTES: usize = 512;
/// The longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The type every text file is stored and served as.
pub const TEXT_TYPE: &str = "text/plain";
pub const PDF_TYPE: &str = "application/pdf";

/// What a model is given a file as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Image,
    Document,
    Text,
}

impl FileKind {
    /// The kind of a stored media type (one `sniff` gave).
    pub fn of(media_type: &str) -> FileKind {
        if media_type.starts_with("image/") {
            FileKind::Image
        } else if media_type == PDF_TYPE {
            FileKind::Document
        } else {
            FileKind::Text
        }
    }

    /// Its name in a message's `attachments` listing.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Image => "image",
            FileKind::Document => "document",
            FileKind::Text => "text",
        }
    }
}

/// The media type of a file whose first bytes are `head` (`whole`: they are all of it), or
/// `None` when it is none of the accepted kinds. For text, only `head` is judged here: the
/// rest is checked as it streams (`TextCheck`).
pub fn sniff(head: &[u8], whole: bool) -> Option<&'static str> {
    if let Some(image) = attachment::sniff(head) {
        return Some(image);
    }
    if head.starts_with(b"%PDF-") {
        return Some(PDF_TYPE);
    }
    let mut check = TextCheck::default();
    (check.feed(head) && (!whole || check.finish())).then_some(TEXT_TYPE)
}

/// Whether a stream of bytes is text: valid UTF-8 (a character may be cut between two
/// chunks) with no NUL byte.
#[derive(Debug, Default)]
pub struct TextCheck {
    /// The first bytes of a character the last chunk ended inside (at most 3).
    carry: Vec<u8>,
}

impl TextCheck {
    /// Takes the next chunk: false once the bytes are not text.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if chunk.contains(&0) {
            return false;
        }
        let bytes: Cow<[u8]> = if self.carry.is_empty() {
            Cow::Borrowed(chunk)
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            Cow::Owned(joined)
        };
        match std::str::from_utf8(&bytes) {
            Ok(_) => true,
            // Cut inside a character: its start is kept for the next chunk.
            Err(e) if e.error_len().is_none() => {
                self.carry = bytes[e.valid_up_to()..].to_vec();
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the stream ended on a whole character.
    pub fn finish(&self) -> bool {
        self.carry.is_empty()
    }
}

/// A file's name from `?name=`: trimmed, at most `MAX_NAME_CHARS`, no control characters
/// or path separators; `file` when absent or blank.
pub fn name(raw: Option<&str>) -> Result<String, String> {
    let name = raw.unwrap_or("").trim();
    if name.is_empty() {
        return Ok("file".into());
    }
    if name.chars().count() > MAX_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(format!(
            "name must be at most {MAX_NAME_CHARS} characters, without control characters or slashes"
        ));
    }
    Ok(name.to_string())
}

/// A `content-disposition` value naming the file: an ASCII fallback and the UTF-8 name
/// (RFC 6266, RFC 8187), neither able to break out of its quoting.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_read_from_the_bytes_whatever_the_name() {
        for (bytes, whole, want) in [
            (&b"\x89PNG\r\n\x1a\n...."[..], true, Some("image/png")),
            (
                &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0][..],
                true,
                Some("image/jpeg"),
            ),
            (&b"GIF89a...."[..], true, Some("image/gif")),
            (&b"RIFF\x10\0\0\0WEBPVP8 "[..], true, Some("image/webp")),
            (&b"%PDF-1.7\n%\xe2\xe3"[..], true, Some(PDF_TYPE)),
            (&b"fn main() {}\n"[..], true, Some(TEXT_TYPE)),
            ("héllo, wörld".as_bytes(), true, Some(TEXT_TYPE)),
            // An ELF executable, a zip, a Windows executable, random bytes: refused.
            (&b"\x7fELF\x02\x01\x01\0\0\0"[..], true, None),
            (&b"PK\x03\x04\x14\0\0\0"[..], true, None),
            (&b"MZ\x90\0\x03\0\0\0"[..], true, None),
            (&[0xC3, 0x28, 0xA0, 0xA1][..], true, None),
            // Text with a NUL is not text.
            (&b"abc\0def"[..], true, None),
            // A head cut inside a character is text so far; the whole file cut there is not.
            (&[b'a', 0xC3][..], false, Some(TEXT_TYPE)),
            (&[b'a', 0xC3][..], true, None),
        ] {
            assert_eq!(sniff(bytes, whole), want, "{bytes:?}");
        }
    }

    #[test]
    fn text_is_checked_across_chunks() {
        let text = "naïve café — ok".as_bytes();
        for cut in 0..text.len() {
            let mut check = TextCheck::default();
            assert!(
                check.feed(&text[..cut]) && check.feed(&text[cut..]),
                "{cut}"
            );
            assert!(check.finish(), "{cut}");
        }
        let mut check = TextCheck::default();
        assert!(check.feed(b"fine so far"));
        assert!(!check.feed(b"then \xff"), "invalid UTF-8 later");
        let mut check = TextCheck::default();
        assert!(check.feed(b"fine"));
        assert!(!check.feed(b"a NUL \0 later"));
    }

    #[test]
    fn names_are_checked_and_quoted_safely() {
        assert_eq!(name(None).unwrap(), "file");
        assert_eq!(name(Some("  report.pdf ")).unwrap(), "report.pdf");
        assert!(name(Some("../etc/passwd")).is_err());
        assert!(name(Some("a\nb")).is_err());
        assert!(name(Some(&"x".repeat(256))).is_err());
        assert_eq!(
            content_disposition("résumé \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
    }
}
