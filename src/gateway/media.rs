//! Remote images and documents a provider cannot fetch itself (`providers::takes_url` is
//! false): chatgate fetches them and sends the bytes (`Media::Base64`) instead.
//!
//! Every URL passes the outbound rule (`domain::outbound::check`, with no exception: `https`
//! only, never an internal or local address, by any spelling), at each redirect too
//! (followed by hand, at most `MAX_REDIRECTS`). A fetch has `FETCH_TIMEOUT` for the whole
//! download; the bytes of all fetched items of one request may total `MAX_MEDIA_BYTES`; the
//! answer's content type must be one every provider reads (an image: PNG, JPEG, GIF, WebP;
//! a document: PDF). Anything else is a 400 naming the block's parameter.

use std::time::Duration;

use ct_codecs::{Base64, Encoder};
use futures::future::{select, Either};
use futures::StreamExt;
use worker::url::Url;
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::domain::outbound::{self, AllowedHosts};
use crate::error::{ApiError, ApiResult};
use crate::providers::{takes_url, Block, ChatRequest, Media, ProviderKind};

/// What all fetched items of one request may weigh together (20 MiB: Anthropic's and
/// OpenAI's per-image limit, and Gemini's inline request limit).
pub const MAX_MEDIA_BYTES: usize = 20 * 1024 * 1024;
/// For each item, from the request to its last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_REDIRECTS: usize = 3;

pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
pub const DOCUMENT_TYPES: [&str; 1] = ["application/pdf"];

/// A remote item to fetch: where it is in the request, and what it must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// `messages[k].content[j]` (or `…content[j].content[m]` inside a tool result).
    pub param: String,
    pub url: String,
    pub document: bool,
}

/// The URL items of `req` that `kind` cannot take by URL, in order.
pub fn remote_items(kind: ProviderKind, req: &ChatRequest) -> Vec<Remote> {
    remote_where(req, &|b| !takes_url(kind, b))
}

fn remote_where(req: &ChatRequest, fetch: &dyn Fn(&Block) -> bool) -> Vec<Remote> {
    let mut out = Vec::new();
    for (k, m) in req.messages.iter().enumerate() {
        collect(fetch, &m.content, &format!("messages[{k}]"), &mut out);
    }
    out
}

fn collect(fetch: &dyn Fn(&Block) -> bool, blocks: &[Block], at: &str, out: &mut Vec<Remote>) {
    for (j, block) in blocks.iter().enumerate() {
        let param = format!("{at}.content[{j}]");
        match block {
            Block::Image(Media::Url(url))
            | Block::Document {
                media: Media::Url(url),
                ..
            } if fetch(block) => {
                out.push(Remote {
                    param,
                    url: url.clone(),
                    document: matches!(block, Block::Document { .. }),
                });
            }
            Block::ToolResult(r) => collect(fetch, &r.content, &param, out),
            _ => {}
        }
    }
}

/// Replaces each URL item `kind` cannot take by its bytes, fetched under the rules above.
pub async fn inline_remote(kind: ProviderKind, req: &mut ChatRequest) -> ApiResult<()> {
    let items = remote_items(kind, req);
    if items.is_empty() {
        return Ok(());
    }
    // Each URL is checked before anything is fetched: a request naming an internal address
    // makes no outbound request at all.
    for item in &items {
        checked_url(&item.url, &item.param)?;
    }
    let mut left = MAX_MEDIA_BYTES;
    for item in items {
        let (media_type, bytes) = fetch(&item, left).await?;
        left -= bytes.len();
        let data = Base64::encode_to_string(&bytes)
            .map_err(|e| ApiError::internal(format!("base64: {e}")))?;
        replace(req, &item, Media::Base64 { media_type, data });
    }
    Ok(())
}

/// The URL if the Worker may fetch it: the outbound rule with no exception (so `https`).
pub fn checked_url(url: &str, param: &str) -> ApiResult<Url> {
    outbound::check(url, &AllowedHosts::default())
        .map_err(|refused| ApiError::param(param, format!("{param} url {refused}")))
}

/// The media type to send for an answer's `content-type`, if the item may be one.
pub fn accepted_type(content_type: Option<&str>, document: bool) -> Option<String> {
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    let allowed: &[&str] = if document {
        &DOCUMENT_TYPES
    } else {
        &IMAGE_TYPES
    };
    allowed.contains(&essence.as_str()).then_some(essence)
}

fn replace(req: &mut ChatRequest, item: &Remote, media: Media) {
    // The param was built from these positions: messages[k] then content[j] steps.
    let mut steps = item
        .param
        .split('[')
        .skip(1)
        .filter_map(|s| s.split(']').next()?.parse::<usize>().ok());
    let Some(block) = steps
        .next()
        .and_then(|k| req.messages.get_mut(k))
        .and_then(|m| {
            let mut blocks = &mut m.content;
            let mut j = steps.next()?;
            for next in steps {
                match blocks.get_mut(j)? {
                    Block::ToolResult(r) => blocks = &mut r.content,
                    _ => return None,
                }
                j = next;
            }
            blocks.get_mut(j)
        })
    else {
        return;
    };
    match block {
        Block::Image(m) | Block::Document { media: m, .. } => *m = media,
        _ => {}
    }
}

/// Fetches one item, following redirects under the rule, within `left` bytes.
async fn fetch(item: &Remote, left: usize) -> ApiResult<(String, Vec<u8>)> {
    let param = item.param.as_str();
    let fail = |why: String| ApiError::param(param, format!("{param} could not be fetched: {why}"));
    let controller = AbortController::default();
    let signal = controller.signal();
    let download = async {
        let mut url = checked_url(&item.url, param)?;
        for _ in 0..=MAX_REDIRECTS {
            let headers = Headers::new();
            let accept = if item.document {
                "application/pdf"
            } else {
                "image/*"
            };
            headers.set("accept", accept)?;
            headers.set("user-agent", "chatgate-media/1")?;
            let mut init = RequestInit::new();
            init.with_method(Method::Get)
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual);
            let request = Request::new_with_init(url.as_str(), &init)?;
            let mut resp = Fetch::Request(request)
                .send_with_signal(&signal)
                .await
                .map_err(|_| fail("the host could not be reached".into()))?;
            let status = resp.status_code();
            if (300..400).contains(&status) {
                let location = resp.headers().get("location").ok().flatten();
                let next = location
                    .and_then(|l| url.join(&l).ok())
                    .ok_or_else(|| fail(format!("HTTP {status} without a usable location")))?;
                url = checked_url(next.as_str(), param)?;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(fail(format!("HTTP {status}")));
            }
            let content_type = resp.headers().get("content-type").ok().flatten();
            let Some(media_type) = accepted_type(content_type.as_deref(), item.document) else {
                let wanted = if item.document {
                    "a PDF"
                } else {
                    "a PNG, JPEG, GIF or WebP image"
                };
                return Err(ApiError::param(
                    param,
                    format!(
                        "{param} is not {wanted} (content-type {})",
                        content_type.unwrap_or_default()
                    ),
                ));
            };
            let too_large = || {
                ApiError::param(
                    param,
                    format!(
                        "{param} is larger than the {MAX_MEDIA_BYTES} bytes a request may fetch"
                    ),
                )
            };
            let declared = resp
                .headers()
                .get("content-length")
                .ok()
                .flatten()
                .and_then(|l| l.parse::<usize>().ok());
            if declared.is_some_and(|n| n > left) {
                return Err(too_large());
            }
            let mut body = resp.stream()?;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|_| fail("the connection was lost".into()))?;
                if bytes.len() + chunk.len() > left {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok((media_type, bytes));
        }
        Err(fail(format!("more than {MAX_REDIRECTS} redirects")))
    };
    let timeout = worker::Delay::from(FETCH_TIMEOUT);
    // Bound, not returned at once: the tail expression's temporaries would outlive the
    // locals the download borrows.
    let result = match select(Box::pin(download), timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(fail(format!(
                "no answer within {} s",
                FETCH_TIMEOUT.as_secs()
            )))
        }
    };
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{Message, Role, ToolResult};

    #[test]
    fn internal_plain_and_local_urls_are_refused_naming_the_block() {
        for (url, why) in [
            ("http://127.0.0.1/x.png", "internal"),
            ("https://127.0.0.1/x.png", "internal"),
            ("https://[::1]/x.png", "internal"),
            ("https://0x7f000001/x.png", "internal"),
            ("https://169.254.169.254/latest", "internal"),
            ("https://metadata.google.internal/x", "public host"),
            ("https://localhost/x.png", "public host"),
            ("http://example.com/x.png", "https"),
            ("ftp://example.com/x.png", "https"),
            ("https://user:pw@example.com/x.png", "credentials"),
        ] {
            let err = checked_url(url, "messages[1].content[0]").unwrap_err();
            assert_eq!(err.param_name(), Some("messages[1].content[0]"), "{url}");
            assert_eq!(err.status(), 400, "{url}");
            assert!(err.detail().contains(why), "{url}: {}", err.detail());
            assert!(
                err.detail().starts_with("messages[1].content[0] url "),
                "{url}"
            );
        }
        assert!(checked_url("https://upload.wikimedia.org/a.png", "p").is_ok());
    }

    #[test]
    fn only_the_types_every_provider_reads_are_accepted() {
        for (ct, document, want) in [
            (Some("image/png"), false, Some("image/png")),
            (
                Some("IMAGE/JPEG; charset=binary"),
                false,
                Some("image/jpeg"),
            ),
            (Some("image/webp"), false, Some("image/webp")),
            (Some("image/svg+xml"), false, None),
            (Some("text/html"), false, None),
            (Some("application/pdf"), false, None),
            (Some("application/pdf"), true, Some("application/pdf")),
            (Some("image/png"), true, None),
            (None, false, None),
        ] {
            assert_eq!(
                accepted_type(ct, document).as_deref(),
                want,
                "{ct:?} document={document}"
            );
        }
    }

    #[test]
    fn remote_items_are_those_the_provider_cannot_take_and_are_replaced_in_place() {
        let url = "https://example.com/a.png";
        let mut req = ChatRequest {
            messages: vec![
                Message::user("hi"),
                Message {
                    role: Role::User,
                    content: vec![
                        Block::Text("see".into()),
                        Block::Image(Media::Url(url.into())),
                        Block::ToolResult(ToolResult {
                            call_id: "c".into(),
                            name: None,
                            content: vec![Block::Image(Media::Url(url.into()))],
                            is_error: false,
                        }),
                    ],
                },
            ],
            ..ChatRequest::default()
        };
        // The demo takes URLs (it never fetches anything).
        assert!(remote_items(ProviderKind::Demo, &req).is_empty());
        let every = |_: &Block| true;
        let items = remote_where(&req, &every);
        let params: Vec<&str> = items.iter().map(|i| i.param.as_str()).collect();
        assert_eq!(
            params,
            [
                "messages[1].content[1]",
                "messages[1].content[2].content[0]"
            ]
        );
        for item in &items {
            let media = Media::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into(),
            };
            replace(&mut req, item, media);
        }
        assert!(remote_where(&req, &every).is_empty());
    }

    #[test]
    fn replace_follows_the_positions_of_the_param() {
        let mut req = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![
                    Block::Text("x".into()),
                    Block::ToolResult(ToolResult {
                        call_id: "c".into(),
                        name: None,
                        content: vec![
                            Block::Text("y".into()),
                            Block::Document {
                                media: Media::Url("https://example.com/a.pdf".into()),
                                name: Some("a.pdf".into()),
                            },
                        ],
                        is_error: false,
                    }),
                ],
            }],
            ..ChatRequest::default()
        };
        let item = Remote {
            param: "messages[0].content[1].content[1]".into(),
            url: "https://example.com/a.pdf".into(),
            document: true,
        };
        let media = Media::Base64 {
            media_type: "application/pdf".into(),
            data: "JVBE".into(),
        };
        replace(&mut req, &item, media.clone());
        let Block::ToolResult(r) = &req.messages[0].content[1] else {
            panic!()
        };
        assert_eq!(
            r.content[1],
            Block::Document {
                media,
                name: Some("a.pdf".into())
            }
        );
    }
}
