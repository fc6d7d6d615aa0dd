//! `ImageAttachment`: an image sent with a chat message, as base64. Once a value is one, its
//! bytes are known to be valid base64 of a PNG, JPEG, GIF or WebP image (read from the bytes,
//! not taken from the client's `media_type`) of at most `MAX_IMAGE_BYTES`.

use serde::{Deserialize, Serialize};

use crate::crypto::b64_decode;

/// At most this many images in one message.
pub const MAX_ATTACHMENTS: usize = 4;
/// Each image at most 3 MiB: 4 MiB as base64, within Anthropic's limit of 5 MiB of base64 per
/// image (the smallest of the providers'), so every provider that takes images takes it.
pub const MAX_IMAGE_BYTES: usize = 3 * 1024 * 1024;
/// The image types every provider reads.
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A validated image: its media type (from its bytes), decoded size, and the base64 as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageAttachment {
    pub media_type: String,
    pub size: usize,
    /// Standard base64, padded.
    pub data: String,
}

/// Why an attachment was refused, and the field of the attachment it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentError {
    /// `type`, `media_type` or `data`.
    pub field: &'static str,
    pub message: String,
}

impl AttachmentError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The image type the bytes start with, if one of `IMAGE_TYPES`.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl ImageAttachment {
    /// An attachment of `kind` (only `image` for now) with the media type the client claims:
    /// the data must decode, be at most `MAX_IMAGE_BYTES`, and be an image of that type. (The
    /// data is taken, not copied: it may be megabytes.)
    pub fn parse(kind: &str, media_type: &str, data: String) -> Result<Self, AttachmentError> {
        if kind != "image" {
            return Err(AttachmentError::new(
                "type",
                "the only attachment type is `image`",
            ));
        }
        let claimed = media_type.trim().to_ascii_lowercase();
        if !IMAGE_TYPES.contains(&claimed.as_str()) {
            return Err(AttachmentError::new(
                "media_type",
                format!("an image must be one of {}", IMAGE_TYPES.join(", ")),
            ));
        }
        // Checked before decoding: the base64 of MAX_IMAGE_BYTES is 4/3 as long.
        if data.len() / 4 * 3 > MAX_IMAGE_BYTES + 2 {
            return Err(AttachmentError::new(
                "data",
                format!(
                    "the image is about {}; an image may be at most {}",
                    mib(data.len() / 4 * 3),
                    mib(MAX_IMAGE_BYTES)
                ),
            ));
        }
        let bytes = b64_decode(&data)
            .ok_or_else(|| AttachmentError::new("data", "the data is not valid base64"))?;
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(AttachmentError::new(
                "data",
                format!(
                    "the image is {}; an image may be at most {}",
                    mib(bytes.len()),
                    mib(MAX_IMAGE_BYTES)
                ),
            ));
        }
        let actual = sniff(&bytes).ok_or_else(|| {
            AttachmentError::new("data", "the data is not a PNG, JPEG, GIF or WebP image")
        })?;
        if actual != claimed {
            return Err(AttachmentError::new(
                "media_type",
                format!("the data is {actual}, not {claimed}"),
            ));
        }
        Ok(Self {
            media_type: actual.to_owned(),
            size: bytes.len(),
            data: match data.trim() {
                trimmed if trimmed.len() == data.len() => data,
                trimmed => trimmed.to_owned(),
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::b64;

    /// A 1×1 PNG.
    pub const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

    #[test]
    fn each_image_type_is_read_from_its_bytes() {
        for (bytes, want) in [
            (&b"\x89PNG\r\n\x1a\n...."[..], Some("image/png")),
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0][..], Some("image/jpeg")),
            (&b"GIF89a...."[..], Some("image/gif")),
            (&b"GIF87a...."[..], Some("image/gif")),
            (&b"RIFF\x10\0\0\0WEBPVP8 "[..], Some("image/webp")),
            (&b"RIFF\x10\0\0\0WAVEfmt "[..], None),
            (&b"<svg xmlns="[..], None),
            (&b"%PDF-1.7"[..], None),
            (&b""[..], None),
        ] {
            assert_eq!(sniff(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn a_valid_image_is_accepted_with_its_decoded_size() {
        let a = ImageAttachment::parse("image", "image/png", PNG.into()).unwrap();
        assert_eq!(a.media_type, "image/png");
        assert_eq!(a.size, 70);
        assert_eq!(a.data, PNG);
        // The claimed type is compared without regard to case.
        assert!(ImageAttachment::parse("image", "IMAGE/PNG", PNG.into()).is_ok());
    }

    #[test]
    fn what_is_refused_names_the_field() {
        let gif = b64(b"GIF89a\x01\0\x01\0\0\0\0;");
        for (kind, media_type, data, field, says) in [
            ("file", "image/png", PNG, "type", "only attachment type"),
            (
                "image",
                "image/svg+xml",
                PNG,
                "media_type",
                "must be one of",
            ),
            (
                "image",
                "image/png",
                "not base64!",
                "data",
                "not valid base64",
            ),
            (
                "image",
                "image/png",
                &b64(b"plain text"),
                "data",
                "not a PNG",
            ),
            // A forged media type: the bytes are a GIF.
            (
                "image",
                "image/png",
                &gif,
                "media_type",
                "is image/gif, not image/png",
            ),
        ] {
            let e = ImageAttachment::parse(kind, media_type, data.into()).unwrap_err();
            assert_eq!(e.field, field, "{kind} {media_type}");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn an_image_over_the_cap_is_refused_and_one_at_the_cap_is_not() {
        let mut at_cap = b"\x89PNG\r\n\x1a\n".to_vec();
        at_cap.resize(MAX_IMAGE_BYTES, 0);
        let ok = ImageAttachment::parse("image", "image/png", b64(&at_cap)).unwrap();
        assert_eq!(ok.size, MAX_IMAGE_BYTES);
        at_cap.push(0);
        let e = ImageAttachment::parse("image", "image/png", b64(&at_cap)).unwrap_err();
        assert_eq!(e.field, "data");
        assert!(e.message.contains("at most 3.0 MiB"), "{}", e.message);
        // Far over: refused before decoding.
        let huge = "A".repeat(MAX_IMAGE_BYTES * 2);
        let e = ImageAttachment::parse("image", "image/png", huge).unwrap_err();
        assert!(e.message.contains("at most"), "{}", e.message);
    }
}
