//! What the three wire formats share: reading a client's JSON (null is absent, an integer
//! may be written `5.0`), base64 and `data:` URLs, and how a tool call's Gemini thought
//! signature rides in its id. Each format words its own errors; these only say what is wrong.

use serde_json::{Map, Value};

use crate::providers::{Media, ToolCall};

/// Between a tool call's id and its Gemini thought signature, in every wire format
/// (LiteLLM's convention): any client that echoes ids sends the signature back.
pub const THOUGHT_SEPARATOR: &str = "__thought__";

/// Many SDKs send explicit nulls for unset options: null means absent.
pub fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An integer, written `5` or `5.0` (JSON Schema's `integer`).
pub fn integer(v: &Value) -> Option<i64> {
    v.as_number().and_then(crate::util::json_integer)
}

/// An integer from 1 to 2^32 - 1 (a token count).
pub fn positive(v: &Value) -> Option<u32> {
    integer(v)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= 1)
}

/// A client-chosen name, cut for an error message.
pub fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Standard base64, padded, possibly empty: what every provider takes.
pub fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// An `https`/`http` URL, kept as a URL, or a base64 `data:` URL, decoded into its parts;
/// `Err` says what is wrong with it.
pub fn media_url(url: &str) -> Result<Media, &'static str> {
    const DATA_URL: &str = "must be a base64 data: URL (data:<type>;base64,...)";
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or("is not a valid data: URL")?;
        let media_type = meta
            .strip_suffix(";base64")
            .ok_or(DATA_URL)?
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media_type.is_empty() || !media_type.contains('/') || !is_base64(data) {
            return Err(DATA_URL);
        }
        return Ok(Media::Base64 {
            media_type,
            data: data.to_owned(),
        });
    }
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https" | "http") if url.len() <= 8192 => Ok(Media::Url(url.to_owned())),
        _ => Err("must be an https URL or a base64 data: URL"),
    }
}

/// An id as the client sends it back, and the thought signature it may carry.
pub fn split_signature(id: &str) -> (&str, Option<&str>) {
    match id.split_once(THOUGHT_SEPARATOR) {
        Some((id, sig)) if !sig.is_empty() => (id, Some(sig)),
        _ => (id, None),
    }
}

/// The id a client sees for a call: with its thought signature, when it has one.
pub fn client_call_id(call: &ToolCall) -> String {
    match &call.signature {
        Some(sig) => format!("{}{THOUGHT_SEPARATOR}{sig}", call.id),
        None => call.id.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_are_decoded_and_other_urls_kept() {
        assert_eq!(
            media_url("data:image/PNG;charset=x;base64,aGk="),
            Ok(Media::Base64 {
                media_type: "image/png".into(),
                data: "aGk=".into()
            })
        );
        assert_eq!(
            media_url("https://example.com/a.png"),
            Ok(Media::Url("https://example.com/a.png".into()))
        );
        for bad in [
            "data:image/png,aGk=",
            "data:;base64,aGk=",
            "data:image/png;base64,a",
            "ftp://x/y",
            "x",
        ] {
            assert!(media_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signature_rides_in_the_id_and_comes_back_off_it() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: Some("gemini:Ci".into()),
        };
        let id = client_call_id(&call);
        assert_eq!(id, "call_1__thought__gemini:Ci");
        assert_eq!(split_signature(&id), ("call_1", Some("gemini:Ci")));
        assert_eq!(split_signature("call_2"), ("call_2", None));
        assert_eq!(
            split_signature("call_3__thought__"),
            ("call_3__thought__", None)
        );
    }
}
