//! Small helpers with no I/O: clock, ids, time formatting.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> i64 {
    worker::js_sys::Date::now() as i64
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`): the
/// "no bound" of a query parameter that crosses into the runtime.
pub const JS_MAX_SAFE: i64 = (1 << 53) - 1;

pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// RFC 3339 UTC with millisecond precision, e.g. `2026-01-02T03:04:05.678Z`.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (any offset) into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A JSON number that is an integer: `5` or `5.0` (JSON Schema's `integer`, which the OpenAPI
/// document promises), within ±2^53 for a float; `5.5` is not.
pub fn json_integer(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
            .map(|f| f as i64)
    })
}

/// serde `deserialize_with` for an optional integer field that takes `5.0` as `5`.
pub fn de_opt_integer<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    json_integer(&n)
        .and_then(|i| T::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected an integer in range, found {n}")))
}

/// Parses `YYYY-MM-DD` or an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_date_or_time(s: &str) -> Option<i64> {
    if let Some(ms) = parse_rfc3339(s) {
        return Some(ms);
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The UTC day (`YYYY-MM-DD`) of a timestamp.
pub fn day_of(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The UTC month (`YYYY-MM`) of a timestamp.
pub fn month_of(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m")
        .to_string()
}

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new opaque id: a type prefix and 26 Crockford base32 characters (48 bits of
/// milliseconds then 80 random bits), so ids sort by creation time.
pub fn new_id(prefix: &str) -> String {
    let mut random = [0u8; 10];
    crate::crypto::fill_random(&mut random);
    let mut value: u128 = (now_ms() as u128 & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= (*b as u128) << (72 - 8 * i);
    }
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        out.push(CROCKFORD[((value >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// Whether a string looks like an id of ours (cheap check before any lookup).
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.len() == prefix.len() + 27
        && s.starts_with(prefix)
        && s.as_bytes().get(prefix.len()) == Some(&b'_')
        && s[prefix.len() + 1..]
            .bytes()
            .all(|b| CROCKFORD.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_are_unique() {
        let a = new_id("usr");
        let b = new_id("usr");
        assert_ne!(a, b);
        assert!(is_id("usr", &a), "{a}");
        assert!(!is_id("org", &a));
        assert!(!is_id("usr", "usr_../../etc"));
    }

    #[test]
    fn times_round_trip_through_rfc3339() {
        let ms = 1_767_323_045_678;
        let s = rfc3339(ms);
        assert_eq!(s, "2026-01-02T03:04:05.678Z");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        assert_eq!(day_of(ms), "2026-01-02");
        assert_eq!(month_of(ms), "2026-01");
        assert_eq!(parse_date_or_time("2026-01-02"), Some(1_767_312_000_000));
        assert_eq!(parse_date_or_time("yesterday"), None);
    }
}
