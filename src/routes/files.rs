//! Files for chat: `POST /api/files` (the bytes as the body), `GET` and `DELETE
//! /api/files/{id}`. The bytes stream into R2 as they arrive; their type is read from them
//! (`domain::file`), never taken from the client.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::{stream, StreamExt};
use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader};
use worker::{FixedLengthStream, HttpMetadata, Response};

use crate::auth::guard::Principal;
use crate::conversation::files::FileRef;
use crate::domain::file::{self, TextCheck, SNIFF_BYTES, TEXT_TYPE};
use crate::domain::settings::Feature;
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{created, no_content, Ctx};
use crate::store::files::{self, FileRow, Of};
use crate::store::orgs;
use crate::util::new_id;

/// The most uploaded files one message may carry.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// What the served bytes may do if a browser opens them: nothing (no scripts, no subresources,
/// a sandboxed document).
pub const SERVED_CSP: &str = "default-src 'none'; sandbox";

/// Why a streamed upload stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    NotText,
    Unreadable,
}

fn not_text() -> ApiError {
    ApiError::UnsupportedFile(
        "the file is not an image (PNG, JPEG, GIF, WebP), a PDF or UTF-8 text".into(),
    )
}

pub async fn upload(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let org_id = gateway::acting_org(&db, &who, ctx.query_param("org_id").as_deref()).await?;
    ctx.timing.set_org(&org_id);
    let settings = orgs::settings(&db, &org_id).await?;
    orgs::require_2fa_of(&db, &settings, &who.user_id).await?;
    if !settings.enabled(Feature::FileUpload) {
        return Err(ApiError::FeatureDisabled(Feature::FileUpload.as_str()));
    }
    let name =
        file::name(ctx.query_param("name").as_deref()).map_err(|e| ApiError::param("name", e))?;
    let max = ctx.cfg.file_max_bytes;
    let size: u64 = ctx
        .header("content-length")
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::validation("content-length is required: the file's size in bytes")
        })?;
    if size > max {
        return Err(ApiError::PayloadTooLarge(
            usize::try_from(max).unwrap_or(usize::MAX),
        ));
    }
    if size == 0 {
        return Err(ApiError::validation("the file is empty"));
    }
    // The first bytes decide the type, before anything is reserved or stored.
    let raw = ctx
        .req
        .inner()
        .body()
        .ok_or_else(|| ApiError::validation("the file is empty"))?;
    let head = read_head(
        &raw,
        SNIFF_BYTES.min(usize::try_from(size).unwrap_or(SNIFF_BYTES)),
    )
    .await
    .map_err(|e| ApiError::validation(format!("could not read the body: {e}")))?;
    if head.len() as u64 > size {
        return Err(ApiError::validation(
            "the body is longer than its content-length",
        ));
    }
    let media_type = file::sniff(&head, head.len() as u64 == size).ok_or_else(not_text)?;
    let id = new_id("file");
    let row = FileRow {
        r2_key: format!("orgs/{org_id}/files/{id}"),
        id,
        owner_id: who.user_id.clone(),
        org_id,
        conversation_id: None,
        name,
        media_type: media_type.into(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        created_at: ctx.now,
    };
    if !files::reserve(&db, &row, ctx.cfg.org_file_quota_bytes, ctx.now).await? {
        return Err(ApiError::QuotaExceeded(format!(
            "the organization's files would pass its quota of {} bytes: delete some first",
            ctx.cfg.org_file_quota_bytes
        )));
    }
    ctx.timing.mark("reserve");
    let metadata = HttpMetadata {
        content_type: Some(row.media_type.clone()),
        ..Default::default()
    };
    if media_type != TEXT_TYPE {
        // An image or a PDF: the rest of the body goes to R2 by the runtime's own pipe.
        let put = put_piped(
            &files::bucket(&ctx.env)?,
            &row.r2_key,
            metadata,
            raw,
            head,
            size,
        )
        .await;
        return finish_upload(&ctx, &db, &row, put.err().map(|e| {
            ApiError::validation(format!(
                "the body did not match its content-length of {size} bytes, or could not be read ({e})"
            ))
        }))
        .await;
    }
    let body = worker::ByteStream::from(raw);
    // The head, then the rest as it arrives; text is checked on the way (a failed check ends
    // the stream in an error, so R2 keeps nothing).
    let stop = Rc::new(Cell::new(None));
    let check = Rc::new(RefCell::new(
        (media_type == TEXT_TYPE).then(TextCheck::default),
    ));
    if let Some(c) = check.borrow_mut().as_mut() {
        c.feed(&head);
    }
    let (seen, checking) = (stop.clone(), check.clone());
    let rest = body.map(move |chunk| {
        let chunk = chunk.inspect_err(|_| seen.set(Some(Stop::Unreadable)))?;
        if let Some(c) = checking.borrow_mut().as_mut() {
            if !c.feed(&chunk) {
                seen.set(Some(Stop::NotText));
                return Err(worker::Error::RustError("not text".into()));
            }
        }
        Ok(chunk)
    });
    // Text must end on a whole character.
    let seen = stop.clone();
    let end = stream::once(async move {
        if check.borrow().as_ref().is_some_and(|c| !c.finish()) {
            seen.set(Some(Stop::NotText));
            return Err(worker::Error::RustError("not text".into()));
        }
        Ok(Vec::new())
    });
    let bytes = stream::once(async move { Ok(head) })
        .chain(rest)
        .chain(end)
        .filter(|c| futures::future::ready(c.as_ref().map_or(true, |c| !c.is_empty())));
    let put = files::bucket(&ctx.env)?
        .put(&row.r2_key, FixedLengthStream::wrap(bytes, size))
        .http_metadata(metadata)
        .execute()
        .await;
    let failed = put.err().map(|e| match stop.get() {
        Some(Stop::NotText) => not_text(),
        Some(Stop::Unreadable) | None => ApiError::validation(format!(
            "the body did not match its content-length of {size} bytes, or could not be read ({e})"
        )),
    });
    finish_upload(&ctx, &db, &row, failed).await
}

/// After the put: the reservation dropped if it failed, else the file made ready (201).
async fn finish_upload(
    ctx: &Ctx,
    db: &worker::D1Database,
    row: &FileRow,
    failed: Option<ApiError>,
) -> ApiResult<Response> {
    if let Some(e) = failed {
        files::unreserve(db, &row.id).await?;
        return Err(e);
    }
    ctx.timing.mark("store");
    if !files::mark_ready(db, &row.id).await? {
        // Its org or owner went while it uploaded: so do its bytes.
        let _ = files::bucket(&ctx.env)?.delete(&row.r2_key).await;
        return Err(ApiError::NotFound);
    }
    created(&row.view())
}

fn js_error(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "the stream failed".into())
}

/// At least `want` first bytes of `body` (fewer if it ends first), read with a reader that
/// is released after, so the rest can be read on by another.
async fn read_head(body: &ReadableStream, want: usize) -> Result<Vec<u8>, String> {
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut head = Vec::new();
    let result = async {
        while head.len() < want {
            let chunk = JsFuture::from(reader.read()).await.map_err(js_error)?;
            let done = js_sys::Reflect::get(&chunk, &"done".into()).map_err(js_error)?;
            if done.as_bool().unwrap_or(true) {
                break;
            }
            let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_error)?;
            head.extend_from_slice(&js_sys::Uint8Array::new(&value).to_vec());
        }
        Ok::<(), String>(())
    }
    .await;
    reader.release_lock();
    result.map(|()| head)
}

/// Puts `head` then the rest of `body` into R2 under `key`, exactly `size` bytes: the rest
/// goes through the runtime's own pipe (a `FixedLengthStream`, which fails on any other
/// length), never through the wasm.
async fn put_piped(
    bucket: &worker::Bucket,
    key: &str,
    metadata: HttpMetadata,
    body: ReadableStream,
    head: Vec<u8>,
    size: u64,
) -> Result<(), String> {
    let fixed = worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(size))
        .map_err(js_error)?;
    let (readable, writable) = (fixed.readable(), fixed.writable());
    let writer = writable.get_writer().map_err(js_error)?;
    let put = bucket
        .put(key, worker::Data::ReadableStream(readable))
        .http_metadata(metadata)
        .execute();
    // The put reads as the head, then the pipe, write: both run at once.
    let feed = async {
        let head = js_sys::Uint8Array::from(head.as_slice());
        JsFuture::from(writer.write_with_chunk(&head))
            .await
            .map_err(js_error)?;
        writer.release_lock();
        JsFuture::from(body.pipe_to(&writable))
            .await
            .map(|_| ())
            .map_err(js_error)
    };
    let (put, fed) = futures::join!(put, feed);
    put.map_err(|e| e.to_string())?;
    fed
}

fn key_org(who: &Principal) -> Option<&str> {
    who.api_key.as_ref().map(|k| k.org_id.as_str())
}

/// The bytes, to the owner and to those who can read a conversation the file was sent in.
pub async fn get(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let row = files::readable(&db, ctx.param(0), &who.user_id, key_org(&who))
        .await?
        .ok_or(ApiError::NotFound)?;
    serve(&ctx, &row, "private, max-age=3600").await
}

/// A file's bytes from R2, as a download a browser cannot run, cached as `cache_control` says.
pub async fn serve(ctx: &Ctx, row: &FileRow, cache_control: &str) -> ApiResult<Response> {
    let object = files::bucket(&ctx.env)?
        .get(&row.r2_key)
        .execute()
        .await
        .map_err(|e| ApiError::internal(format!("R2 get: {e}")))?
        .ok_or(ApiError::NotFound)?;
    // Handed to the runtime as it is: the bytes do not pass through the wasm.
    let body = object.body().ok_or(ApiError::NotFound)?.response_body()?;
    let content_type = match row.media_type.as_str() {
        TEXT_TYPE => "text/plain; charset=utf-8",
        other => other,
    };
    let mut resp = Response::from_body(body)?;
    let headers = resp.headers_mut();
    headers.set("content-type", content_type)?;
    headers.set("content-length", &row.size.to_string())?;
    headers.set("content-disposition", &file::content_disposition(&row.name))?;
    headers.set("content-security-policy", SERVED_CSP)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("cache-control", cache_control)?;
    Ok(resp)
}

/// Deletes the caller's own file (its bytes, then its row).
pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let row = files::owned(&db, ctx.param(0), &who.user_id, key_org(&who))
        .await?
        .ok_or(ApiError::NotFound)?;
    files::purge(&ctx.env, Of::File(&row.id)).await?;
    no_content()
}

/// The uploaded files a send names (`attachments[i]`), tied to its conversation: each must
/// be the caller's own, of the conversation's org, and not sent in another conversation;
/// the org must have `features.file_upload` on (403).
pub async fn attach(
    ctx: &Ctx,
    who: &Principal,
    conv: &crate::store::conversations::ConversationRow,
    settings: &crate::domain::settings::OrgSettings,
    ids: &[(usize, String)],
) -> ApiResult<Vec<FileRef>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if !settings.enabled(Feature::FileUpload) {
        return Err(ApiError::FeatureDisabled(Feature::FileUpload.as_str()));
    }
    let db = ctx.db()?;
    let mut refs = Vec::with_capacity(ids.len());
    for (i, id) in ids {
        let row = files::attach(&db, id, &who.user_id, &conv.org_id, &conv.id)
            .await?
            .ok_or_else(|| {
                let param = format!("attachments[{i}]");
                ApiError::param(
                    &param,
                    format!(
                        "{param}: no file of yours with this id in the conversation's \
                         organization, or it was sent in another conversation (upload it again)"
                    ),
                )
            })?;
        refs.push(FileRef {
            id: row.id,
            name: row.name,
            media_type: row.media_type,
            size: u64::try_from(row.size).unwrap_or(0),
        });
    }
    Ok(refs)
}
