//! chatgate's signing keys: ES256 key pairs that sign access tokens, published as a JWKS
//! (`GET /.well-known/jwks.json`) so that anyone can verify a token without a secret.
//!
//! A key's life, from its row's `created_at` (T):
//! - from T it is published (so a verifier's JWKS cache has it before it signs);
//! - from T + `PUBLISH_AHEAD_MS` it signs (the newest key so published signs; while no key is,
//!   the oldest does, so the very first key signs at once);
//! - it stops signing when a newer key starts, and is deleted `RETIRED_KEPT_MS` after that,
//!   when every token it signed has expired; a token it signed is then refused.
//!
//! The scheduled upkeep adds a new key once the newest is `ROTATE_AFTER_MS` old (so a key
//! signs for about 30 days) and deletes superseded keys; `rotate` is also the operator's
//! "rotate now". The first key is made on first need.
//!
//! Each isolate keeps the keys in memory (the hot path never waits on storage): it reads them
//! again after `CACHE_TTL_MS`, or when a token names a kid it lacks, at most once per
//! `UNKNOWN_KID_RELOAD_MS` (so made-up kids cannot cause a read per request).

use std::cell::RefCell;
use std::rc::Rc;

use jwt_simple::prelude::*;
use serde::Serialize;
use worker::D1Database;

use crate::auth::tokens::ACCESS_TOKEN_TTL_SECS;
use crate::config::Config;
use crate::crypto::{b64url, b64url_decode};
use crate::error::{ApiError, ApiResult};
use crate::store::signing_keys::{self, KeyRow};

const MINUTE_MS: i64 = 60 * 1000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// A key signs for about this long before the next one takes over.
pub const ROTATE_AFTER_MS: i64 = 30 * DAY_MS;
/// A new key is published this long before it signs: longer than a verifier may cache the
/// JWKS (`JWKS_MAX_AGE_SECS`) plus how long an isolate keeps its keys (`CACHE_TTL_MS`).
pub const PUBLISH_AHEAD_MS: i64 = 60 * MINUTE_MS;
/// A key stops verifying this long after it stopped signing: longer than an access token
/// lives, plus how long an isolate may keep signing with it from a stale list.
pub const RETIRED_KEPT_MS: i64 = ACCESS_TOKEN_TTL_SECS as i64 * 1000 + 15 * MINUTE_MS;
/// How long an isolate keeps the keys it read.
pub const CACHE_TTL_MS: i64 = 5 * MINUTE_MS;
/// An unknown kid makes an isolate read the keys again at most this often.
pub const UNKNOWN_KID_RELOAD_MS: i64 = 30 * 1000;
/// `Cache-Control: max-age` of the JWKS.
pub const JWKS_MAX_AGE_SECS: i64 = 600;

// A verifier caching the JWKS (and an isolate its list) has the next key before it signs.
const _: () = assert!(JWKS_MAX_AGE_SECS * 1000 + CACHE_TTL_MS < PUBLISH_AHEAD_MS);
const _: () = assert!(UNKNOWN_KID_RELOAD_MS < CACHE_TTL_MS);

/// One key as the isolate keeps it.
struct Key {
    kid: String,
    created_at: i64,
    public: ES256PublicKey,
    x: String,
    y: String,
    sealed: (i64, String),
    /// The private key, once opened (only the signing key ever is).
    pair: Option<Rc<ES256KeyPair>>,
}

#[derive(Default)]
struct Cache {
    keys: Vec<Key>,
    loaded_at: Option<i64>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// A key of the JWKS.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// Which of keys created at `created` (oldest first) signs at `now`: its index.
pub fn signer_index(created: &[i64], now: i64) -> Option<usize> {
    created
        .iter()
        .rposition(|&t| t <= now - PUBLISH_AHEAD_MS)
        .or(if created.is_empty() { None } else { Some(0) })
}

/// The cutoff of `store::signing_keys::delete_superseded` at `now`: a key is deleted once a
/// newer key created at or before it has signed for `RETIRED_KEPT_MS`.
pub fn superseded_cutoff(now: i64) -> i64 {
    now - PUBLISH_AHEAD_MS - RETIRED_KEPT_MS
}

/// A new key pair and its row (the private scalar sealed under the master key).
fn generate(cfg: &Config, now: i64) -> ApiResult<KeyRow> {
    let mut id = [0u8; 16];
    crate::crypto::fill_random(&mut id);
    let kid = b64url(&id);
    let pair = ES256KeyPair::generate();
    let public = ECDSAP256PublicKeyLike::public_key(&pair.public_key()).to_bytes_uncompressed();
    let private = b64url(&pair.to_bytes());
    let (version, sealed) = cfg.seal(private.as_bytes(), &aad(&kid))?;
    Ok(KeyRow {
        kid,
        public_key: b64url(&public),
        private_key_version: version,
        private_key_sealed: sealed,
        created_at: now,
    })
}

fn aad(kid: &str) -> Vec<u8> {
    format!("signing_key:{kid}").into_bytes()
}

fn key_of(row: KeyRow) -> ApiResult<Key> {
    let bad = || ApiError::internal(format!("signing key {} is malformed", row.kid));
    let point = b64url_decode(&row.public_key).ok_or_else(bad)?;
    if point.len() != 65 || point[0] != 4 {
        return Err(bad());
    }
    let public = ES256PublicKey::from_bytes(&point)
        .map_err(|_| bad())?
        .with_key_id(&row.kid);
    Ok(Key {
        x: b64url(&point[1..33]),
        y: b64url(&point[33..65]),
        public,
        created_at: row.created_at,
        sealed: (row.private_key_version, row.private_key_sealed),
        kid: row.kid,
        pair: None,
    })
}

/// Reads the keys into this isolate's cache (keeping private keys already opened).
async fn load(db: &D1Database, now: i64) -> ApiResult<()> {
    let rows = signing_keys::list(db).await?;
    let mut keys = rows
        .into_iter()
        .map(key_of)
        .collect::<ApiResult<Vec<_>>>()?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        for key in keys.iter_mut() {
            if let Some(old) = c.keys.iter_mut().find(|k| k.kid == key.kid) {
                key.pair = old.pair.take();
            }
        }
        c.keys = keys;
        c.loaded_at = Some(now);
    });
    Ok(())
}

fn stale(now: i64, after_ms: i64) -> bool {
    CACHE.with(|c| {
        c.borrow()
            .loaded_at
            .is_none_or(|at| now - at >= after_ms || now < at)
    })
}

/// Forgets the keys this isolate holds (after a rotation, so it reads them again).
pub fn forget() {
    CACHE.with(|c| *c.borrow_mut() = Cache::default());
}

/// The key that signs access tokens at `now`, with its kid; the first key is made here.
pub async fn signing_key(db: &D1Database, cfg: &Config, now: i64) -> ApiResult<Rc<ES256KeyPair>> {
    if stale(now, CACHE_TTL_MS) {
        load(db, now).await?;
    }
    if CACHE.with(|c| c.borrow().keys.is_empty()) {
        // Two isolates racing here store one key between them; both then sign with it.
        signing_keys::insert_unless_newer_than(db, &generate(cfg, now)?, i64::MIN).await?;
        load(db, now).await?;
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let created: Vec<i64> = c.keys.iter().map(|k| k.created_at).collect();
        let i = signer_index(&created, now).ok_or_else(|| ApiError::internal("no signing key"))?;
        let key = &mut c.keys[i];
        if let Some(pair) = &key.pair {
            return Ok(pair.clone());
        }
        let (version, sealed) = &key.sealed;
        let (private, _) = cfg.open(*version, sealed, &aad(&key.kid))?;
        let bytes = b64url_decode(&private)
            .ok_or_else(|| ApiError::internal("sealed signing key is not base64url"))?;
        let pair = ES256KeyPair::from_bytes(&bytes)
            .map_err(|_| ApiError::internal("sealed signing key is malformed"))?
            .with_key_id(&key.kid);
        let pair = Rc::new(pair);
        key.pair = Some(pair.clone());
        Ok(pair)
    })
}

/// The public key named `kid`, if it is one of ours that still verifies.
pub async fn verifying_key(
    db: &D1Database,
    kid: &str,
    now: i64,
) -> ApiResult<Option<ES256PublicKey>> {
    let find = || {
        CACHE.with(|c| {
            c.borrow()
                .keys
                .iter()
                .find(|k| k.kid == kid)
                .map(|k| k.public.clone())
        })
    };
    if stale(now, CACHE_TTL_MS) {
        load(db, now).await?;
    }
    match find() {
        Some(key) => Ok(Some(key)),
        None if stale(now, UNKNOWN_KID_RELOAD_MS) => {
            load(db, now).await?;
            Ok(find())
        }
        None => Ok(None),
    }
}

/// Whether this isolate's fresh key list has `kid` (no storage read: a stale list says no).
pub fn holds(kid: &str, now: i64) -> bool {
    !stale(now, CACHE_TTL_MS) && CACHE.with(|c| c.borrow().keys.iter().any(|k| k.kid == kid))
}

/// The JWKS: every published key (the signing one, the one before it while its tokens live,
/// and the next one once it is published).
pub async fn jwks(db: &D1Database, now: i64) -> ApiResult<Vec<Jwk>> {
    if stale(now, CACHE_TTL_MS) {
        load(db, now).await?;
    }
    Ok(CACHE.with(|c| {
        c.borrow()
            .keys
            .iter()
            .map(|k| Jwk {
                kty: "EC",
                crv: "P-256",
                x: k.x.clone(),
                y: k.y.clone(),
                kid: k.kid.clone(),
                alg: "ES256",
                use_: "sig",
            })
            .collect()
    }))
}

/// What a rotation did.
#[derive(Debug, Default, PartialEq)]
pub struct Rotation {
    /// The kid of the key it published (it signs `PUBLISH_AHEAD_MS` later).
    pub published: Option<String>,
    /// How many superseded keys it deleted.
    pub deleted: usize,
}

/// Publishes a new key if the newest is at least `rotate_after_ms` old (the schedule passes
/// `ROTATE_AFTER_MS`; the operator's "rotate now" 0), and deletes the keys whose tokens have
/// all expired.
pub async fn rotate(
    db: &D1Database,
    cfg: &Config,
    now: i64,
    rotate_after_ms: i64,
) -> ApiResult<Rotation> {
    let deleted = signing_keys::delete_superseded(db, superseded_cutoff(now)).await?;
    let key = generate(cfg, now)?;
    let published = signing_keys::insert_unless_newer_than(db, &key, now - rotate_after_ms)
        .await?
        .then_some(key.kid);
    forget();
    Ok(Rotation { published, deleted })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    #[test]
    fn the_first_key_signs_at_once_and_a_new_key_only_once_published_long_enough() {
        assert_eq!(signer_index(&[], T), None);
        assert_eq!(signer_index(&[T], T), Some(0));
        // A second key published a minute later waits its turn, then takes over.
        let keys = [T, T + MINUTE_MS];
        assert_eq!(signer_index(&keys, T + 2 * MINUTE_MS), Some(0));
        assert_eq!(signer_index(&keys, T + PUBLISH_AHEAD_MS), Some(0));
        assert_eq!(
            signer_index(&keys, T + MINUTE_MS + PUBLISH_AHEAD_MS),
            Some(1)
        );
        // Rotated on schedule: the old key signs until the new one has been out an hour.
        let keys = [T, T + ROTATE_AFTER_MS];
        assert_eq!(
            signer_index(&keys, T + ROTATE_AFTER_MS + MINUTE_MS),
            Some(0)
        );
        assert_eq!(
            signer_index(&keys, T + ROTATE_AFTER_MS + PUBLISH_AHEAD_MS),
            Some(1)
        );
    }

    #[test]
    fn a_key_is_kept_until_every_token_it_signed_has_expired() {
        // The old key signs until the new one's publication plus PUBLISH_AHEAD_MS; its last
        // token expires ACCESS_TOKEN_TTL_SECS after that, plus an isolate's stale list.
        let new_key = T + ROTATE_AFTER_MS;
        let last_signature = new_key + PUBLISH_AHEAD_MS + CACHE_TTL_MS;
        let last_expiry = last_signature + ACCESS_TOKEN_TTL_SECS as i64 * 1000;
        // At that moment the new key is not yet past the deletion cutoff…
        assert!(new_key > superseded_cutoff(last_expiry));
        // …and it is once RETIRED_KEPT_MS have passed since the new key began to sign.
        assert!(new_key <= superseded_cutoff(new_key + PUBLISH_AHEAD_MS + RETIRED_KEPT_MS));
    }

    #[test]
    fn a_stored_key_comes_back_with_its_jwk_coordinates() {
        let pair = ES256KeyPair::generate();
        let point = ECDSAP256PublicKeyLike::public_key(&pair.public_key()).to_bytes_uncompressed();
        let key = key_of(KeyRow {
            kid: "k1".into(),
            public_key: b64url(&point),
            private_key_version: 1,
            private_key_sealed: String::new(),
            created_at: T,
        })
        .unwrap();
        assert_eq!(b64url_decode(&key.x).unwrap(), &point[1..33]);
        assert_eq!(b64url_decode(&key.y).unwrap(), &point[33..65]);
        let bad = KeyRow {
            kid: "k2".into(),
            public_key: b64url(&point[..33]),
            private_key_version: 1,
            private_key_sealed: String::new(),
            created_at: T,
        };
        assert!(key_of(bad).is_err());
    }
}
