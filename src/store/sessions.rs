//! Sessions and their refresh tokens. D1 is the authority; KV maps a refresh token's hash
//! to its session for quick lookups (eventually consistent, so never the deciding store).

use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, KvStore};

use super::{all, batch, first, n, run, s, stmt};
use crate::error::ApiResult;
use crate::util::rfc3339;

pub const ABSOLUTE_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;
pub const IDLE_TIMEOUT_MS: i64 = 7 * 24 * 3600 * 1000;
/// `last_used_at` is written at most this often by ordinary requests.
const TOUCH_INTERVAL_MS: i64 = 60 * 1000;

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub now: i64,
}

/// The statements that create a session with its first refresh token.
pub fn create(
    db: &D1Database,
    sess: &NewSession,
    refresh_hash: &str,
) -> ApiResult<Vec<D1PreparedStatement>> {
    let ua: String = sess.user_agent.chars().take(256).collect();
    Ok(vec![
        stmt(
            db,
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
            &[s(sess.id), s(sess.user_id), n(sess.now), n(sess.now + ABSOLUTE_LIFETIME_MS), s(&ua), s(sess.ip)],
        )?,
        stmt(
            db,
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
            &[s(refresh_hash), s(sess.id), n(sess.now)],
        )?,
    ])
}

pub async fn remember_refresh(kv: &KvStore, refresh_hash: &str, session_id: &str, ttl_secs: u64) {
    // A cache only: a failed write just means the next lookup goes to D1.
    super::delay::kv().await;
    if let Ok(put) = kv.put(&format!("rt:{refresh_hash}"), session_id) {
        let _ = put.expiration_ttl(ttl_secs.max(60)).execute().await;
    }
}

pub async fn forget_refresh(kv: &KvStore, refresh_hash: &str) {
    super::delay::kv().await;
    let _ = kv.delete(&format!("rt:{refresh_hash}")).await;
}

/// A session's `last_used_at` if it is live, else `NULL`: a scalar subquery with its four
/// parameters from `?{first}` on (`live_params`), so a route's own query can ask it too
/// (`auth::guard::SessionCheck`) and one query answers both.
pub fn live_sql(first: u8) -> String {
    let (session, user, now, idle) = (first, first + 1, first + 2, first + 3);
    format!(
        "(SELECT ls.last_used_at FROM sessions ls
          WHERE ls.id = ?{session} AND ls.user_id = ?{user} AND ls.revoked_at IS NULL
            AND ls.expires_at > ?{now} AND ls.last_used_at > ?{idle}
            AND NOT EXISTS (SELECT 1 FROM users lu WHERE lu.id = ?{user} AND lu.disabled_at IS NOT NULL))"
    )
}

/// The parameters of `live_sql`, in its order.
pub fn live_params(session_id: &str, user_id: &str, now: i64) -> [JsValue; 4] {
    [s(session_id), s(user_id), n(now), n(now - IDLE_TIMEOUT_MS)]
}

/// What a session's `last_used_at` as `live_sql` read it (`None`: not live) means at `now`.
pub fn liveness(last_used_at: Option<i64>, now: i64) -> Liveness {
    match last_used_at {
        None => Liveness::Ended,
        Some(at) if now - at > TOUCH_INTERVAL_MS => Liveness::LiveTouchDue,
        Some(_) => Liveness::Live,
    }
}

/// Whether the session is live for this user (and the account not disabled: its sessions are
/// revoked when it is, and this also refuses one started while it was being disabled), and
/// whether its `last_used_at` is due to be written.
pub async fn is_live(
    db: &D1Database,
    session_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<Liveness> {
    #[derive(Deserialize)]
    struct Row {
        last_used_at: Option<i64>,
    }
    let row: Option<Row> = first(
        db,
        &format!("SELECT {} AS last_used_at", live_sql(1)),
        &live_params(session_id, user_id, now),
    )
    .await?;
    Ok(liveness(row.and_then(|r| r.last_used_at), now))
}

/// What `is_live` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Ended,
    Live,
    /// Live, and its `last_used_at` is due to be written (`touch`), off the request's path.
    LiveTouchDue,
}

/// Records a use of the session (`last_used_at`, kept to within a minute): what its idle
/// timeout counts from.
pub async fn touch(db: &D1Database, session_id: &str, now: i64) -> ApiResult<()> {
    run(
        db,
        "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1",
        &[s(session_id), n(now)],
    )
    .await?;
    Ok(())
}

/// How long after a refresh token is rotated a presentation of it still gets its successor
/// (two tabs refreshing at once, a retry after a lost response) instead of revoking the session.
pub const REUSE_GRACE_MS: i64 = 10 * 1000;

pub enum Rotation {
    /// The successor is in force: just now, or by a rotation within the grace window.
    Rotated {
        session_id: String,
        user_id: String,
        expires_at: i64,
        /// When the token was rotated: the successor's access token is issued at that time,
        /// so every presentation within the grace window gets the same pair.
        rotated_at: i64,
    },
    /// The token was rotated before the grace window: its whole session has now been revoked.
    Reused { user_id: String, session_id: String },
    /// Unknown token, or its session is over.
    Invalid,
    /// The token's account is disabled (its sessions were revoked with it): nothing issued.
    Disabled,
}

#[derive(Deserialize)]
struct PresentedRow {
    session_id: String,
    user_id: String,
    expires_at: i64,
    used_at: Option<i64>,
    live: i64,
    successor: i64,
    disabled: i64,
}

/// Exchanges a refresh token for its successor (`next_hash`, which the caller derives from
/// the token, so that there is exactly one), in one transaction. Every presentation up to
/// `REUSE_GRACE_MS` after the first rotation gets that same successor; a presentation after
/// that revokes the session (the token family) and everything issued for it.
///
/// `client_id` says whose tokens these are: `None` a person's own session, `Some` an OAuth
/// client's grant (`store::oauth`); a token of the other kind is `Invalid`, and stays unused.
pub async fn rotate(
    db: &D1Database,
    old_hash: &str,
    next_hash: &str,
    now: i64,
    client_id: Option<&str>,
) -> ApiResult<Rotation> {
    let idle_cutoff = now - IDLE_TIMEOUT_MS;
    let results = batch(
        db,
        vec![
            stmt(
                db,
                "INSERT OR IGNORE INTO refresh_tokens (token_hash, session_id, created_at)
                 SELECT ?2, r.session_id, ?3 FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
                 WHERE r.token_hash = ?1 AND r.used_at IS NULL AND s.revoked_at IS NULL
                   AND s.expires_at > ?3 AND s.last_used_at > ?4 AND s.client_id IS ?5
                   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL)",
                &[s(old_hash), s(next_hash), n(now), n(idle_cutoff), super::opt_s(client_id)],
            )?,
            stmt(
                db,
                "UPDATE refresh_tokens SET used_at = ?3
                 WHERE token_hash = ?1 AND used_at IS NULL
                   AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?2)",
                &[s(old_hash), s(next_hash), n(now)],
            )?,
            stmt(
                db,
                "UPDATE sessions SET last_used_at = ?2
                 WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1)",
                &[s(next_hash), n(now)],
            )?,
            stmt(
                db,
                "SELECT r.session_id, s.user_id, s.expires_at, r.used_at,
                   (s.revoked_at IS NULL AND s.expires_at > ?3 AND s.last_used_at > ?4) AS live,
                   EXISTS (SELECT 1 FROM refresh_tokens n
                           WHERE n.token_hash = ?2 AND n.session_id = r.session_id) AS successor,
                   EXISTS (SELECT 1 FROM users u
                           WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL) AS disabled
                 FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
                 WHERE r.token_hash = ?1 AND s.client_id IS ?5",
                &[s(old_hash), s(next_hash), n(now), n(idle_cutoff), super::opt_s(client_id)],
            )?,
        ],
    )
    .await?;
    let row = match results.last() {
        Some(r) => r
            .results::<PresentedRow>()
            .map_err(|e| crate::error::ApiError::internal(format!("D1 rotate: {e}")))?
            .into_iter()
            .next(),
        None => None,
    };
    let Some(t) = row else {
        return Ok(Rotation::Invalid);
    };
    if t.disabled != 0 {
        return Ok(Rotation::Disabled);
    }
    let Some(used_at) = t.used_at else {
        return Ok(Rotation::Invalid);
    };
    if now - used_at <= REUSE_GRACE_MS && t.successor == 1 {
        return Ok(if t.live == 1 {
            Rotation::Rotated {
                session_id: t.session_id,
                user_id: t.user_id,
                expires_at: t.expires_at,
                rotated_at: used_at,
            }
        } else {
            Rotation::Invalid
        });
    }
    revoke(db, &t.session_id, &t.user_id, now).await?;
    Ok(Rotation::Reused {
        user_id: t.user_id,
        session_id: t.session_id,
    })
}

/// The live session an unused refresh token belongs to. KV answers which session it is
/// without a scan; D1 confirms that the token is unused and the session live.
pub async fn session_of_refresh(
    db: &D1Database,
    kv: &KvStore,
    refresh_hash: &str,
) -> ApiResult<Option<(String, String)>> {
    #[derive(Deserialize)]
    struct Row {
        session_id: String,
        user_id: String,
    }
    super::delay::kv().await;
    let cached = kv
        .get(&format!("rt:{refresh_hash}"))
        .text()
        .await
        .ok()
        .flatten();
    let row: Option<Row> = first(
        db,
        "SELECT r.session_id, s.user_id FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
         WHERE r.token_hash = ?1 AND r.used_at IS NULL AND s.revoked_at IS NULL
           AND s.client_id IS NULL AND (?2 IS NULL OR r.session_id = ?2)",
        &[s(refresh_hash), super::opt_s(cached.as_deref())],
    )
    .await?;
    Ok(row.map(|r| (r.session_id, r.user_id)))
}

/// Revokes one session of a user; false when there was no such live session.
pub async fn revoke(db: &D1Database, session_id: &str, user_id: &str, now: i64) -> ApiResult<bool> {
    let changed = run(
        db,
        "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        &[s(session_id), s(user_id), n(now)],
    )
    .await?;
    Ok(changed == 1)
}

/// Revokes every session of a user, except `keep` when given.
pub fn revoke_all(
    db: &D1Database,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?2",
        &[s(user_id), super::opt_s(keep), n(now)],
    )
}

#[derive(Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: String,
    pub ip: String,
}

#[derive(Serialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: String,
    pub ip: String,
    pub current: bool,
}

/// The user's live sessions, most recently used first.
pub async fn list_live(db: &D1Database, user_id: &str, now: i64) -> ApiResult<Vec<SessionRow>> {
    all(
        db,
        "SELECT id, created_at, last_used_at, user_agent, ip FROM sessions
         WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 AND last_used_at > ?3
           AND client_id IS NULL
         ORDER BY last_used_at DESC, id DESC LIMIT 200",
        &[s(user_id), n(now), n(now - IDLE_TIMEOUT_MS)],
    )
    .await
}

impl SessionRow {
    pub fn view(&self, current: Option<&str>) -> SessionView {
        SessionView {
            id: self.id.clone(),
            created_at: rfc3339(self.created_at),
            last_used_at: rfc3339(self.last_used_at),
            user_agent: self.user_agent.clone(),
            ip: self.ip.clone(),
            current: current == Some(self.id.as_str()),
        }
    }
}

#[derive(Deserialize)]
struct SignedIn {
    created_at: i64,
}

/// When the user signed in to start this session: refreshes keep it, so it says how recently
/// they proved who they are.
pub async fn signed_in_at(
    db: &D1Database,
    session_id: &str,
    user_id: &str,
) -> ApiResult<Option<i64>> {
    let row: Option<SignedIn> = super::first(
        db,
        "SELECT created_at FROM sessions WHERE id = ?1 AND user_id = ?2",
        &[s(session_id), s(user_id)],
    )
    .await?;
    Ok(row.map(|r| r.created_at))
}
