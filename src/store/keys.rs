//! Issued API keys: `cg_` + 40 random base62 characters + a 6-character base62 CRC-32 of
//! them, so a mistyped or forged key is refused before any lookup. Stored as SHA-256 only.

use serde::Deserialize;
use worker::D1Database;

use super::{first, n, run, s};
use crate::crypto::{random_bytes, sha256_hex};
use crate::error::{ApiError, ApiResult};

pub const KEY_PREFIX: &str = "cg_";
const BODY_LEN: usize = 40;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// How many characters of a key are kept for display (`cg_AbCdEfGh`).
pub const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn checksum(body: &str) -> String {
    let mut v = crc32(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A new key in clear: shown once, then only its hash is kept.
pub fn generate() -> Result<String, String> {
    // Rejection sampling keeps every base62 character equally likely.
    let mut body = String::with_capacity(BODY_LEN);
    while body.len() < BODY_LEN {
        for b in random_bytes(64)? {
            if (b as usize) < 62 * 4 && body.len() < BODY_LEN {
                body.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    let sum = checksum(&body);
    Ok(format!("{KEY_PREFIX}{body}{sum}"))
}

/// Whether a string is a well-formed key with a correct checksum.
pub fn is_well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(KEY_PREFIX) else { return false };
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (body, sum) = rest.split_at(BODY_LEN);
    checksum(body) == sum
}

pub fn hash(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// What an authenticated API key stands for.
#[derive(Clone, Debug)]
pub struct KeyAuth {
    pub key_id: String,
    pub org_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct AuthRow {
    id: String,
    org_id: String,
    user_id: String,
    scopes: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

/// The key's identity, if it exists, has not expired, and its creator is still a member of
/// its org (a key stops working when its creator leaves).
pub async fn authenticate(db: &D1Database, key: &str, now: i64) -> ApiResult<KeyAuth> {
    if !is_well_formed(key) {
        return Err(ApiError::Unauthorized("the API key is malformed"));
    }
    let row: Option<AuthRow> = first(
        db,
        "SELECT k.id, k.org_id, k.user_id, k.scopes, k.expires_at, k.last_used_at FROM api_keys k
         JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.user_id
         WHERE k.key_hash = ?1",
        &[s(&hash(key))],
    )
    .await?;
    let row = row.ok_or(ApiError::Unauthorized("the API key is not valid"))?;
    if row.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::Unauthorized("the API key has expired"));
    }
    if row.last_used_at.is_none_or(|t| now - t > 10_000) {
        run(db, "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", &[s(&row.id), n(now)]).await?;
    }
    let scopes = serde_json::from_str(&row.scopes).unwrap_or_default();
    Ok(KeyAuth { key_id: row.id, org_id: row.org_id, user_id: row.user_id, scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_unique() {
        let k = generate().unwrap();
        assert!(k.starts_with("cg_"));
        assert_eq!(k.len(), 3 + 40 + 6);
        assert!(is_well_formed(&k), "{k}");
        assert_ne!(k, generate().unwrap());
    }

    #[test]
    fn a_mistyped_key_fails_its_checksum() {
        let k = generate().unwrap();
        let mut chars: Vec<char> = k.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!is_well_formed(&typo));
        assert!(!is_well_formed(&k[..k.len() - 1]));
        assert!(!is_well_formed(&format!("sk_{}", &k[3..])));
        assert!(!is_well_formed("cg_"));
    }

    #[test]
    fn crc32_matches_the_standard() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
