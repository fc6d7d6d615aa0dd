//! Embed tickets: single-use, short-lived, stored only as SHA-256, bound to a user, an org
//! and the origin that may exchange them.

use serde::Deserialize;
use worker::D1Database;

use super::{first, n, run, s};
use crate::error::ApiResult;

/// How long a ticket can be exchanged.
pub const TICKET_TTL_MS: i64 = 60_000;

pub struct NewTicket<'a> {
    pub hash: &'a str,
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub origin: &'a str,
    pub now: i64,
}

/// Stores a ticket. (The scheduled upkeep deletes tickets an hour after they expire.)
pub async fn create(db: &D1Database, t: &NewTicket<'_>) -> ApiResult<()> {
    run(
        db,
        "INSERT INTO embed_tickets (ticket_hash, user_id, org_id, origin, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            s(t.hash),
            s(t.user_id),
            s(t.org_id),
            s(t.origin),
            n(t.now),
            n(t.now + TICKET_TTL_MS),
        ],
    )
    .await?;
    Ok(())
}

/// What a consumed ticket was for.
#[derive(Deserialize, Debug)]
pub struct Consumed {
    pub user_id: String,
    pub org_id: String,
    pub origin: String,
    /// Whether the user still belongs to the org (0/1: D1 has no booleans).
    pub member: i64,
    /// The org's settings now (its `features.embed` decides whether the ticket still opens).
    pub org_settings: Option<String>,
}

/// Uses a ticket up, atomically: of any number of concurrent exchanges, exactly one gets
/// `Some`; a used, expired or unknown ticket is `None`. The origin is checked by the caller,
/// after the ticket is spent, so a ticket shown to the wrong site cannot be tried again.
pub async fn consume(db: &D1Database, hash: &str, now: i64) -> ApiResult<Option<Consumed>> {
    first(
        db,
        "UPDATE embed_tickets SET used_at = ?2
         WHERE ticket_hash = ?1 AND used_at IS NULL AND expires_at > ?2
         RETURNING user_id, org_id, origin,
           EXISTS (SELECT 1 FROM memberships m
                   WHERE m.org_id = embed_tickets.org_id AND m.user_id = embed_tickets.user_id) AS member,
           (SELECT o.settings FROM orgs o WHERE o.id = embed_tickets.org_id) AS org_settings",
        &[s(hash), n(now)],
    )
    .await
}
