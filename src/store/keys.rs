//! Issued API keys: `cg_` + 40 random base62 characters + a 6-character base62 CRC-32 of
//! them, so a mistyped or forged key is refused before any lookup. Stored as SHA-256 only.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::orgs::OrgScope;
use super::{all, first, n, run, s};
use crate::crypto::{random_bytes, sha256_hex};
use crate::domain::settings::OrgSettings;
use crate::error::{ApiError, ApiResult};
use crate::util::rfc3339;

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
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
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
    let Some(rest) = key.strip_prefix(KEY_PREFIX) else {
        return false;
    };
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
    /// The key's org's settings, read with the key (its rate limit and models are checked
    /// on every request).
    pub settings: OrgSettings,
}

#[derive(Deserialize)]
struct AuthRow {
    id: String,
    org_id: String,
    user_id: String,
    scopes: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    org_settings: String,
    owner_disabled: i64,
}

/// The key's identity, if it exists, has not expired, and its creator is still a member of
/// its org (a key stops working when its creator leaves); 403 `account_disabled` while a
/// service admin has the creator's account disabled (read in the same query).
/// With it, whether its `last_used_at` is due to be written (`touch`): the caller writes it
/// off the request's path.
pub async fn authenticate(db: &D1Database, key: &str, now: i64) -> ApiResult<(KeyAuth, bool)> {
    if !is_well_formed(key) {
        return Err(ApiError::Unauthorized("the API key is malformed"));
    }
    let row: Option<AuthRow> = first(
        db,
        "SELECT k.id, k.org_id, k.user_id, k.scopes, k.expires_at, k.last_used_at,
                o.settings AS org_settings, u.disabled_at IS NOT NULL AS owner_disabled
         FROM api_keys k
         JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.user_id
         JOIN orgs o ON o.id = k.org_id
         JOIN users u ON u.id = k.user_id
         WHERE k.key_hash = ?1",
        &[s(&hash(key))],
    )
    .await?;
    let row = row.ok_or(ApiError::Unauthorized("the API key is not valid"))?;
    if row.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::Unauthorized("the API key has expired"));
    }
    if row.owner_disabled != 0 {
        return Err(ApiError::AccountDisabled);
    }
    let touch_due = row.last_used_at.is_none_or(|t| now - t > 10_000);
    let scopes = serde_json::from_str(&row.scopes).unwrap_or_default();
    let key = KeyAuth {
        key_id: row.id,
        org_id: row.org_id,
        user_id: row.user_id,
        scopes,
        settings: OrgSettings::from_stored(&row.org_settings),
    };
    Ok((key, touch_due))
}

/// Records a use of the key (`last_used_at`, kept to within 10 s).
pub async fn touch(db: &D1Database, key_id: &str, now: i64) -> ApiResult<()> {
    run(
        db,
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        &[s(key_id), n(now)],
    )
    .await?;
    Ok(())
}

/// What a key may be used for: `chat` (the OpenAI-compatible `/v1` API) and
/// `conversations` (the `/api/conversations` routes).
pub const SCOPES: &[&str] = &["chat", "conversations"];
pub const DEFAULT_SCOPE: &str = "chat";

impl KeyAuth {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The requested scopes, checked and de-duplicated, in the order of `SCOPES`; `["chat"]`
/// when none are named.
pub fn parse_scopes(requested: Option<&[String]>) -> Result<Vec<String>, String> {
    let Some(requested) = requested else {
        return Ok(vec![DEFAULT_SCOPE.to_string()]);
    };
    if requested.is_empty() {
        return Err(format!(
            "scopes must name at least one of: {}",
            SCOPES.join(", ")
        ));
    }
    if let Some(bad) = requested.iter().find(|r| !SCOPES.contains(&r.as_str())) {
        let shown: String = bad.chars().take(32).collect();
        return Err(format!(
            "unknown scope `{shown}` (known: {})",
            SCOPES.join(", ")
        ));
    }
    Ok(SCOPES
        .iter()
        .filter(|s| requested.iter().any(|r| r == *s))
        .map(|s| s.to_string())
        .collect())
}

/// A key about to be stored: only its hash and display prefix are kept.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub key: &'a str,
    pub scopes: &'a [String],
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// The first characters of a key, kept to tell keys apart (`cg_AbCdEfGh`).
pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// Stores a key for the scope's user in the scope's org (the scope proves membership),
/// unless they already have `cap` keys there (expired ones count until deleted): `false`
/// then. The count and the insert are one statement, so concurrent creations never pass it.
pub async fn insert(
    db: &D1Database,
    scope: &OrgScope,
    k: &NewKey<'_>,
    cap: u32,
) -> ApiResult<bool> {
    let inserted = run(
        db,
        "INSERT INTO api_keys (id, org_id, user_id, name, prefix, key_hash, scopes, created_at, expires_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
         WHERE (SELECT COUNT(*) FROM api_keys WHERE org_id = ?2 AND user_id = ?3) < ?10",
        &[
            s(k.id),
            s(&scope.org_id),
            s(&scope.user_id),
            s(k.name),
            s(&display_prefix(k.key)),
            s(&hash(k.key)),
            s(&serde_json::to_string(k.scopes)?),
            n(k.created_at),
            super::opt_n(k.expires_at),
            n(cap as i64),
        ],
    )
    .await?;
    Ok(inserted == 1)
}

/// A key as stored, without its hash.
#[derive(Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A key as listed: never the key itself nor its hash.
#[derive(Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub org_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub scopes: Vec<String>,
}

impl KeyRow {
    /// `with_owner` adds `user_id` (for the org-wide listing).
    pub fn view(&self, with_owner: bool) -> KeyView {
        KeyView {
            id: self.id.clone(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            org_id: self.org_id.clone(),
            user_id: with_owner.then(|| self.user_id.clone()),
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
            last_used_at: self.last_used_at.map(rfc3339),
            scopes: serde_json::from_str(&self.scopes).unwrap_or_default(),
        }
    }
}

const LIST_COLUMNS: &str =
    "id, org_id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at";

/// Which keys a listing shows.
enum Owner<'a> {
    User(&'a str),
    Org(&'a str),
}

/// A page of keys, oldest first.
async fn page(
    db: &D1Database,
    owner: Owner<'_>,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<KeyRow>> {
    let (column, value) = match owner {
        Owner::User(id) => ("user_id", id),
        Owner::Org(id) => ("org_id", id),
    };
    let (at, id) = after.unwrap_or((-1, String::new()));
    all(
        db,
        &format!(
            "SELECT {LIST_COLUMNS} FROM api_keys WHERE {column} = ?1
               AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))
             ORDER BY created_at, id LIMIT ?4"
        ),
        &[s(value), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// A page of the user's own keys, oldest first.
pub async fn of_user(
    db: &D1Database,
    user_id: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<KeyRow>> {
    page(db, Owner::User(user_id), after, limit).await
}

/// A page of every key in the scope's org, oldest first.
pub async fn in_org(
    db: &D1Database,
    scope: &OrgScope,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<KeyRow>> {
    page(db, Owner::Org(&scope.org_id), after, limit).await
}

/// Deletes a key the user may delete: their own, or any key of an org where they are an
/// admin or owner (their role read in the same statement). `false` when there is none.
pub async fn delete(db: &D1Database, key_id: &str, user_id: &str) -> ApiResult<bool> {
    let changed = run(
        db,
        "DELETE FROM api_keys WHERE id = ?1 AND (user_id = ?2 OR org_id IN
           (SELECT org_id FROM memberships WHERE user_id = ?2 AND role IN ('admin', 'owner')))",
        &[s(key_id), s(user_id)],
    )
    .await?;
    Ok(changed > 0)
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

    #[test]
    fn scopes_default_to_chat_and_refuse_unknown_names() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_scopes(None).unwrap(), v(&["chat"]));
        assert_eq!(
            parse_scopes(Some(&v(&["conversations"]))).unwrap(),
            v(&["conversations"])
        );
        assert_eq!(
            parse_scopes(Some(&v(&["conversations", "chat", "chat"]))).unwrap(),
            v(&["chat", "conversations"])
        );
        for (case, bad) in [
            ("empty", v(&[])),
            ("unknown", v(&["admin"])),
            ("case", v(&["Chat"])),
            ("mixed", v(&["chat", "*"])),
        ] {
            assert!(parse_scopes(Some(&bad)).is_err(), "{case}");
        }
    }

    #[test]
    fn the_display_prefix_is_short_of_the_secret() {
        let k = generate().unwrap();
        let p = display_prefix(&k);
        assert_eq!(p.len(), DISPLAY_PREFIX_LEN);
        assert!(k.starts_with(&p) && p.starts_with("cg_"));
    }
}
