//! chatgate's signing keys (`crate::auth::signing` decides which signs and when they go).

use serde::Deserialize;
use worker::D1Database;

use super::{all, n, run, s};
use crate::error::ApiResult;

#[derive(Deserialize, Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    /// base64url of the uncompressed SEC1 point (65 bytes).
    pub public_key: String,
    pub private_key_version: i64,
    pub private_key_sealed: String,
    pub created_at: i64,
}

/// Every stored key, oldest first.
pub async fn list(db: &D1Database) -> ApiResult<Vec<KeyRow>> {
    all(
        db,
        "SELECT kid, public_key, private_key_version, private_key_sealed, created_at
           FROM signing_keys ORDER BY created_at, kid",
        &[],
    )
    .await
}

/// Stores `key` unless a key created after `cutoff` exists (one statement, so two callers
/// racing add one key between them): whether it was stored.
pub async fn insert_unless_newer_than(
    db: &D1Database,
    key: &KeyRow,
    cutoff: i64,
) -> ApiResult<bool> {
    let changed = run(
        db,
        "INSERT INTO signing_keys
           (kid, public_key, private_key_version, private_key_sealed, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5
          WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > ?6)",
        &[
            s(&key.kid),
            s(&key.public_key),
            n(key.private_key_version),
            s(&key.private_key_sealed),
            n(key.created_at),
            n(cutoff),
        ],
    )
    .await?;
    Ok(changed == 1)
}

/// Deletes the keys superseded by a key created at or before `cutoff` (a newer key that has
/// been signing long enough for every token of theirs to have expired): how many.
pub async fn delete_superseded(db: &D1Database, cutoff: i64) -> ApiResult<usize> {
    run(
        db,
        "DELETE FROM signing_keys WHERE kid IN
           (SELECT k.kid FROM signing_keys k WHERE EXISTS
              (SELECT 1 FROM signing_keys n WHERE n.created_at > k.created_at
                 AND n.created_at <= ?1))",
        &[n(cutoff)],
    )
    .await
}
