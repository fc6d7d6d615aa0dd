//! Voice sessions: one row per participant of a LiveKit room chatgate issued the token for,
//! written from LiveKit's webhooks (`routes::voice`). Every write is idempotent, so a replayed
//! or reordered event never counts twice: a participant is its (room sid, participant sid).

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, first, n, run, s};
use crate::error::ApiResult;
use crate::util::{new_id, rfc3339, JS_MAX_SAFE};

/// A participant who joined a room.
pub struct Joined<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    pub room: &'a str,
    pub room_sid: &'a str,
    pub participant_sid: &'a str,
    pub started_at: i64,
}

/// Records a join; nothing when that participant is already recorded (a replay, or its
/// `participant_left` came first).
pub async fn joined(db: &D1Database, j: &Joined<'_>) -> ApiResult<()> {
    run(
        db,
        "INSERT INTO voice_sessions (id, org_id, user_id, room, room_sid, participant_sid, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (room_sid, participant_sid) DO NOTHING",
        &[
            s(&new_id("vs")),
            s(j.org_id),
            s(j.user_id),
            s(j.room),
            s(j.room_sid),
            s(j.participant_sid),
            n(j.started_at),
        ],
    )
    .await?;
    Ok(())
}

/// Records a leave at `ended_at` (never before the start): closes the participant's session,
/// or records it whole when its join never arrived. A session already closed stays as it is.
pub async fn left(db: &D1Database, j: &Joined<'_>, ended_at: i64) -> ApiResult<()> {
    run(
        db,
        "INSERT INTO voice_sessions (id, org_id, user_id, room, room_sid, participant_sid, started_at, ended_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, MAX(?7, ?8))
         ON CONFLICT (room_sid, participant_sid) DO UPDATE
           SET ended_at = MAX(started_at, excluded.ended_at) WHERE ended_at IS NULL",
        &[
            s(&new_id("vs")),
            s(j.org_id),
            s(j.user_id),
            s(j.room),
            s(j.room_sid),
            s(j.participant_sid),
            n(j.started_at),
            n(ended_at),
        ],
    )
    .await?;
    Ok(())
}

/// Closes the participant's session if it is open (whoever they are now).
pub async fn close(
    db: &D1Database,
    room_sid: &str,
    participant_sid: &str,
    ended_at: i64,
) -> ApiResult<usize> {
    run(
        db,
        "UPDATE voice_sessions SET ended_at = MAX(started_at, ?3)
         WHERE room_sid = ?1 AND participant_sid = ?2 AND ended_at IS NULL",
        &[s(room_sid), s(participant_sid), n(ended_at)],
    )
    .await
}

/// Closes every session still open in the room (`room_finished`).
pub async fn room_finished(db: &D1Database, room_sid: &str, ended_at: i64) -> ApiResult<usize> {
    run(
        db,
        "UPDATE voice_sessions SET ended_at = MAX(started_at, ?2)
         WHERE room_sid = ?1 AND ended_at IS NULL",
        &[s(room_sid), n(ended_at)],
    )
    .await
}

/// Whether the user exists and is a member of the org: a participant chatgate issued a token to.
pub async fn is_member(db: &D1Database, org_id: &str, user_id: &str) -> ApiResult<bool> {
    #[derive(Deserialize)]
    struct One {
        #[allow(dead_code)]
        one: i64,
    }
    let found: Option<One> = first(
        db,
        "SELECT 1 AS one FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        &[s(org_id), s(user_id)],
    )
    .await?;
    Ok(found.is_some())
}

#[derive(Deserialize)]
pub struct VoiceSessionRow {
    pub id: String,
    pub org_id: String,
    pub user_id: Option<String>,
    pub room: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Serialize)]
pub struct VoiceSessionView {
    pub id: String,
    pub org_id: String,
    pub user_id: Option<String>,
    pub room: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Whole seconds from start to end; null while the participant is in the room.
    pub duration_seconds: Option<i64>,
}

impl VoiceSessionRow {
    pub fn view(&self) -> VoiceSessionView {
        VoiceSessionView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            user_id: self.user_id.clone(),
            room: self.room.clone(),
            started_at: rfc3339(self.started_at),
            ended_at: self.ended_at.map(rfc3339),
            duration_seconds: self
                .ended_at
                .map(|end| (end - self.started_at).max(0) / 1000),
        }
    }
}

const COLUMNS: &str = "id, org_id, user_id, room, started_at, ended_at";

/// A page of the user's sessions, newest first; `org_id` narrows it.
pub async fn of_user(
    db: &D1Database,
    user_id: &str,
    org_id: Option<&str>,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<VoiceSessionRow>> {
    let (at, id) = cursor.unwrap_or((JS_MAX_SAFE, String::new()));
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM voice_sessions
             WHERE user_id = ?1 AND (?2 IS NULL OR org_id = ?2)
               AND (started_at < ?3 OR (started_at = ?3 AND (?4 = '' OR id < ?4)))
             ORDER BY started_at DESC, id DESC LIMIT ?5"
        ),
        &[
            s(user_id),
            super::opt_s(org_id),
            n(at),
            s(&id),
            n(limit as i64),
        ],
    )
    .await
}

/// The org's sessions, newest first, at most `limit` (the export).
pub async fn of_org(
    db: &D1Database,
    org_id: &str,
    limit: usize,
) -> ApiResult<Vec<VoiceSessionRow>> {
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM voice_sessions WHERE org_id = ?1
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        ),
        &[s(org_id), n(limit as i64)],
    )
    .await
}
