//! Anthropic Messages API: `request` builds the body from the neutral model, `stream`
//! reads replies back (whole and streamed); what Anthropic cannot do is refused here.

mod request;
mod stream;

use super::{ChatRequest, ErrorDetail, ProviderKind, UpstreamErrorKind};
use serde::Deserialize;

pub(in crate::providers) use request::build_request;
pub(in crate::providers) use stream::parse_completion;
pub use stream::AnthropicStream;

pub const NAME: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";

const KIND: ProviderKind = ProviderKind::Anthropic;

/// What this provider cannot do of `req` (see `super::validate`).
pub(super) fn validate(_req: &ChatRequest) -> Result<(), super::Unsupported> {
    Ok(())
}

/// Whether an image or document can go by URL (see `super::takes_url`).
pub(super) fn takes_url(_block: &super::Block) -> bool {
    true
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

pub(super) fn error_detail(body: &[u8]) -> ErrorDetail {
    let Some(err) = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
    else {
        return ErrorDetail::default();
    };
    let kind = match err.kind.as_deref().unwrap_or_default() {
        "invalid_request_error" | "request_too_large" | "billing_error" => {
            Some(UpstreamErrorKind::BadRequest)
        }
        "authentication_error" | "permission_error" => Some(UpstreamErrorKind::Unauthorized),
        "not_found_error" => Some(UpstreamErrorKind::NotFound),
        "rate_limit_error" => Some(UpstreamErrorKind::RateLimited { retry_after: None }),
        "overloaded_error" => Some(UpstreamErrorKind::Overloaded),
        "api_error" | "timeout_error" => Some(UpstreamErrorKind::Server),
        _ => None,
    };
    ErrorDetail {
        message: err.message,
        kind,
        retry_after: None,
    }
}

/// A JSON value that keeps object keys in the order they came: serde_json's `Map` sorts
/// them (its `preserve_order` feature is off), and a tool call's arguments should read, in
/// either direction, as the model wrote them. Serialized compactly.
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// `{}`, the input of a call without arguments.
    fn empty_object() -> Self {
        Json::Object(Vec::new())
    }

    fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(t) => s.serialize_str(t),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|i| seq.serialize_element(i))?;
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                entries
                    .iter()
                    .try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}
