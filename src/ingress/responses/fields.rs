//! Reading the request's JSON: fields by name, each failure a 400 naming the parameter
//! (`input[2].content[0].image_url`) with a message that starts with it, as OpenAI's do.

pub(super) use crate::ingress::wire::{integer, present, shown};
use serde_json::{Map, Value};

use crate::error::ApiError;

pub(super) type Parsed<T> = Result<T, ApiError>;

/// An error about `param`; the message starts with it, as OpenAI's do.
pub(super) fn invalid<T>(
    param: impl std::fmt::Display,
    problem: impl std::fmt::Display,
) -> Parsed<T> {
    Err(ApiError::param(
        param.to_string(),
        format!("{param} {problem}"),
    ))
}

pub(super) fn object<'a>(v: &'a Value, at: &str) -> Parsed<&'a Map<String, Value>> {
    v.as_object()
        .map_or_else(|| invalid(at, "must be an object"), Ok)
}

/// Fails on the first non-null field of `obj` not in `fields`.
pub(super) fn only_fields(obj: &Map<String, Value>, fields: &[&str], at: &str) -> Parsed<()> {
    match obj
        .iter()
        .find(|(k, v)| !fields.contains(&k.as_str()) && !v.is_null())
    {
        Some((k, _)) => invalid(format!("{at}.{}", shown(k)), "is not a recognized field"),
        None => Ok(()),
    }
}

pub(super) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Parsed<Option<&'a str>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => invalid(field(at, key), "must be a string"),
    }
}

pub(super) fn req_str<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Parsed<&'a str> {
    opt_str(obj, key, at)?.map_or_else(|| invalid(field(at, key), "is required"), Ok)
}

pub(super) fn opt_bool(obj: &Map<String, Value>, key: &str, at: &str) -> Parsed<Option<bool>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => invalid(field(at, key), "must be a boolean"),
    }
}

/// `at.key`, or `key` at the top level.
pub(super) fn field(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}
