//! Uploaded files (`POST /api/files`) sent with a user message: the message keeps what they
//! are (`attachments`, with their `file_id`), never their bytes, which stay in R2. Building a
//! request, each one is a placeholder block (`placeholder`) that `resolve` replaces by its
//! content read from R2 just before the request is validated and sent: an image as an image
//! part, a PDF as a document part (each provider's own: OpenAI's `file`, Anthropic's
//! `document`, Gemini's `inlineData`), a text file as text. A file deleted since is named as
//! such in the text instead.

use ct_codecs::{Base64, Encoder};
use serde::{Deserialize, Serialize};
use worker::Env;

use super::attachments::AttachmentView;
use crate::domain::file::FileKind;
use crate::error::{ApiError, ApiResult};
use crate::providers::{Block, ChatRequest, Media};

/// How a placeholder names its file.
const SCHEME: &str = "chatgate-file:";
/// The most characters of one text file a model is sent (the rest is cut, and it says so).
pub const TEXT_FILE_MAX_CHARS: usize = 100_000;

/// A file sent with a message, as the Worker checked it (the caller's own, of the
/// conversation's org, ready).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    pub name: String,
    pub media_type: String,
    pub size: u64,
}

impl FileRef {
    pub fn view(&self) -> AttachmentView {
        AttachmentView {
            kind: FileKind::of(&self.media_type).as_str().into(),
            media_type: self.media_type.clone(),
            size: self.size,
            file_id: Some(self.id.clone()),
            name: Some(self.name.clone()),
        }
    }
}

/// What a message's attachments cost of the history's character budget: an image or a PDF
/// `IMAGE_HISTORY_CHARS` whatever its size (as an inline image), a text file the characters it
/// is sent as (its size in bytes, at most `TEXT_FILE_MAX_CHARS`: an upper bound).
pub fn history_chars(views: &[AttachmentView]) -> usize {
    views
        .iter()
        .map(|v| match (&v.file_id, FileKind::of(&v.media_type)) {
            (Some(_), FileKind::Text) => {
                usize::try_from(v.size).map_or(TEXT_FILE_MAX_CHARS, |s| s.min(TEXT_FILE_MAX_CHARS))
            }
            _ => super::reply::IMAGE_HISTORY_CHARS,
        })
        .sum()
}

/// The block standing for a file until `resolve`.
pub fn placeholder(file_id: &str, name: Option<&str>) -> Block {
    Block::Document {
        media: Media::Url(format!("{SCHEME}{file_id}")),
        name: name.map(str::to_owned),
    }
}

fn placeholder_id(block: &Block) -> Option<&str> {
    match block {
        Block::Document {
            media: Media::Url(url),
            ..
        } => url.strip_prefix(SCHEME),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Stored {
    id: String,
    name: String,
    media_type: String,
    r2_key: String,
}

/// Replaces every placeholder of `req` by its file's content.
pub async fn resolve(env: &Env, req: &mut ChatRequest) -> ApiResult<()> {
    let ids: Vec<String> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(placeholder_id)
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let db = env
        .d1("DB")
        .map_err(|e| ApiError::internal(format!("D1 binding: {e}")))?;
    let stored: Vec<Stored> = crate::store::all(
        &db,
        "SELECT id, name, media_type, r2_key FROM files
         WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'ready'",
        &[crate::store::s(&serde_json::to_string(&ids)?)],
    )
    .await?;
    let bucket = crate::store::files::bucket(env)?;
    for message in &mut req.messages {
        for block in &mut message.content {
            let Some(id) = placeholder_id(block).map(str::to_owned) else {
                continue;
            };
            let Some(file) = stored.iter().find(|f| f.id == id) else {
                let name = match block {
                    Block::Document { name: Some(n), .. } => n.clone(),
                    _ => id.clone(),
                };
                *block = Block::Text(format!("[The attached file {name} has been deleted.]"));
                continue;
            };
            let object = bucket
                .get(&file.r2_key)
                .execute()
                .await
                .map_err(|e| ApiError::internal(format!("R2 get: {e}")))?;
            let bytes = match object.as_ref().and_then(|o| o.body()) {
                Some(body) => Some(body.bytes().await?),
                None => None,
            };
            let Some(bytes) = bytes else {
                *block = Block::Text(format!(
                    "[The attached file {} has been deleted.]",
                    file.name
                ));
                continue;
            };
            *block = content(file, bytes)?;
        }
    }
    Ok(())
}

/// A file's block: an image, a document, or its text (cut to `TEXT_FILE_MAX_CHARS`).
fn content(file: &Stored, bytes: Vec<u8>) -> ApiResult<Block> {
    let base64 = |bytes: &[u8]| {
        Base64::encode_to_string(bytes).map_err(|e| ApiError::internal(format!("base64: {e}")))
    };
    Ok(match FileKind::of(&file.media_type) {
        FileKind::Image => Block::Image(Media::Base64 {
            media_type: file.media_type.clone(),
            data: base64(&bytes)?,
        }),
        FileKind::Document => Block::Document {
            media: Media::Base64 {
                media_type: file.media_type.clone(),
                data: base64(&bytes)?,
            },
            name: Some(file.name.clone()),
        },
        FileKind::Text => Block::Text(text_part(&file.name, &String::from_utf8_lossy(&bytes))),
    })
}

/// A text file as the model reads it: its name, then its text (cut, saying so, past
/// `TEXT_FILE_MAX_CHARS`).
pub fn text_part(name: &str, text: &str) -> String {
    match text.char_indices().nth(TEXT_FILE_MAX_CHARS) {
        None => format!("The attached file {name}:\n\n{text}"),
        Some((cut, _)) => format!(
            "The attached file {name} (its first {TEXT_FILE_MAX_CHARS} characters):\n\n{}",
            &text[..cut]
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_names_its_file_and_nothing_else_is_one() {
        let p = placeholder("file_1", Some("a.pdf"));
        assert_eq!(placeholder_id(&p), Some("file_1"));
        let url = Block::Document {
            media: Media::Url("https://example.com/a.pdf".into()),
            name: None,
        };
        assert_eq!(placeholder_id(&url), None);
        assert_eq!(placeholder_id(&Block::Text(SCHEME.into())), None);
    }

    #[test]
    fn a_text_file_costs_the_history_its_characters_and_the_others_what_an_image_does() {
        let file = |media_type: &str, size: u64| {
            FileRef {
                id: "file_1".into(),
                name: "x".into(),
                media_type: media_type.into(),
                size,
            }
            .view()
        };
        let image = super::super::reply::IMAGE_HISTORY_CHARS;
        assert_eq!(history_chars(&[]), 0);
        assert_eq!(history_chars(&[file("text/plain", 30_000)]), 30_000);
        assert_eq!(
            history_chars(&[file("text/plain", 10_000_000)]),
            TEXT_FILE_MAX_CHARS
        );
        assert_eq!(
            history_chars(&[file("application/pdf", 10_000_000), file("image/png", 70)]),
            2 * image
        );
    }

    #[test]
    fn a_long_text_file_is_cut_and_says_so() {
        assert_eq!(
            text_part("a.rs", "fn main() {}"),
            "The attached file a.rs:\n\nfn main() {}"
        );
        let long = "é".repeat(TEXT_FILE_MAX_CHARS + 5);
        let part = text_part("b.txt", &long);
        assert!(part.starts_with("The attached file b.txt (its first 100000 characters):"));
        assert_eq!(part.matches('é').count(), TEXT_FILE_MAX_CHARS);
    }

    #[test]
    fn each_kind_becomes_its_block() {
        let file = |media_type: &str| Stored {
            id: "file_1".into(),
            name: "x".into(),
            media_type: media_type.into(),
            r2_key: "k".into(),
        };
        assert!(matches!(
            content(&file("image/png"), b"\x89PNG".to_vec()).unwrap(),
            Block::Image(Media::Base64 { .. })
        ));
        match content(&file("application/pdf"), b"%PDF-1.4".to_vec()).unwrap() {
            Block::Document {
                media: Media::Base64 { media_type, data },
                name,
            } => {
                assert_eq!(media_type, "application/pdf");
                assert_eq!(data, "JVBERi0xLjQ=");
                assert_eq!(name.as_deref(), Some("x"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            content(&file("text/plain"), b"hi".to_vec()).unwrap(),
            Block::Text("The attached file x:\n\nhi".into())
        );
    }
}
