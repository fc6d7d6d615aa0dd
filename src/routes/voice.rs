//! Voice sessions from LiveKit's webhooks, and the caller's list of them.
//!
//! LiveKit signs each webhook as its server SDKs' `WebhookReceiver` checks it: the
//! `Authorization` header is a JWT (HS256 with the API secret, `iss` the API key, valid
//! 5 minutes) whose `sha256` claim is the base64 SHA-256 of the exact body; the body is the
//! `WebhookEvent` in protobuf's JSON form (camelCase fields, 64-bit numbers as strings),
//! content type `application/webhook+json`.
//!
//! A participant of a room chatgate issued the token for (`routes::federation`: the room is
//! `<org id>:<room>`, the identity the user id) becomes a voice session of that user and org:
//! `participant_joined` opens it, `participant_left` closes it, `room_finished` closes those
//! still open. Everything else — `room_started`, tracks, egress, rooms and participants
//! chatgate did not issue tokens for — is acknowledged and ignored. Writes are idempotent
//! (`store::voice`), so LiveKit's retries and replays never count twice.

use jwt_simple::prelude::*;
use serde::Deserialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::crypto::{b64_decode, ct_eq, sha256};
use crate::error::{ApiError, ApiResult};
use crate::http::{no_content, ok, page_limit, parse_json, Ctx};
use crate::routes::orgs::{cursor, page};
use crate::store::voice::{self, Joined};
use crate::util::is_id;

/// A webhook body, at most: LiveKit's events are a few kilobytes.
const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;
/// Clock drift tolerated on the token's `nbf` and `exp`.
const LEEWAY_SECS: u64 = 60;

#[derive(Serialize, Deserialize)]
struct WebhookClaims {
    #[serde(default)]
    sha256: Option<String>,
}

/// Why a webhook is refused.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// No token, a bad signature, another issuer, expired, or not yet valid.
    Token,
    /// The token is good but says another body.
    Body,
}

/// Checks a webhook's `Authorization` value against the body, as LiveKit's `WebhookReceiver`
/// does (a `Bearer ` prefix is tolerated).
pub fn verify(
    api_key: &str,
    api_secret: &str,
    authorization: Option<&str>,
    body: &[u8],
    now_secs: u64,
) -> Result<(), Refused> {
    let token = authorization.map(str::trim).ok_or(Refused::Token)?;
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(Refused::Token);
    }
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[api_key])),
        time_tolerance: Some(Duration::from_secs(LEEWAY_SECS)),
        artificial_time: Some(Duration::from_secs(now_secs)),
        max_token_length: Some(8 * 1024),
        ..Default::default()
    };
    let claims = HS256Key::from_bytes(api_secret.as_bytes())
        .verify_token::<WebhookClaims>(token, Some(options))
        .map_err(|_| Refused::Token)?;
    let said = claims
        .custom
        .sha256
        .as_deref()
        .and_then(b64_decode)
        .ok_or(Refused::Body)?;
    if ct_eq(&said, &sha256(body)) {
        Ok(())
    } else {
        Err(Refused::Body)
    }
}

/// A 64-bit number as protobuf's JSON writes it (a string), or as a plain number.
fn de_int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// What chatgate reads of LiveKit's `WebhookEvent` (unknown fields are ignored).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Event {
    event: String,
    room: Option<Room>,
    participant: Option<Participant>,
    /// Unix seconds.
    #[serde(deserialize_with = "de_int64")]
    created_at: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Room {
    sid: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Participant {
    sid: String,
    identity: String,
    #[serde(deserialize_with = "de_int64")]
    joined_at: Option<i64>,
    #[serde(deserialize_with = "de_int64")]
    joined_at_ms: Option<i64>,
}

/// The org of a room chatgate named (`<org id>:<room>`), if it is one.
fn org_of_room(room: &str) -> Option<&str> {
    room.split_once(':')
        .map(|(org, _)| org)
        .filter(|org| is_id("org", org))
}

/// `POST /api/livekit/webhook`: public, verified by LiveKit's signature (401 otherwise).
pub async fn webhook(mut ctx: Ctx) -> ApiResult<Response> {
    let cfg = ctx.cfg.clone();
    let lk = cfg
        .livekit
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("LiveKit is not configured on this service".into()))?;
    let body = ctx.body_bytes(WEBHOOK_BODY_LIMIT).await?;
    let authorization = ctx.header("authorization");
    let now_secs = (ctx.now / 1000).max(0) as u64;
    verify(
        &lk.api_key,
        &lk.api_secret,
        authorization.as_deref(),
        &body,
        now_secs,
    )
    .map_err(|e| match e {
        Refused::Token => {
            ApiError::Unauthorized("the webhook is not signed with this service's LiveKit key")
        }
        Refused::Body => ApiError::Unauthorized("the webhook's signature is for another body"),
    })?;
    let event: Event = parse_json(&body)?;
    let at = event.created_at.map(|s| s * 1000).unwrap_or(ctx.now);
    let Some(room) = event.room.as_ref() else {
        return no_content();
    };
    let Some(org_id) = org_of_room(&room.name) else {
        return no_content(); // not a room chatgate names
    };
    let room_sid = if room.sid.is_empty() {
        &room.name
    } else {
        &room.sid
    };
    let db = ctx.db()?;
    match event.event.as_str() {
        "participant_joined" | "participant_left" => {
            let Some(p) = event.participant.as_ref() else {
                return no_content();
            };
            if p.sid.is_empty() || !is_id("usr", &p.identity) {
                return no_content(); // not a participant chatgate issued a token to
            }
            if !voice::is_member(&db, org_id, &p.identity).await? {
                // Not a member (now): a session opened while they were still ends.
                if event.event == "participant_left" {
                    voice::close(&db, room_sid, &p.sid, at).await?;
                }
                return no_content();
            }
            let started_at = p
                .joined_at_ms
                .filter(|ms| *ms > 0)
                .or(p.joined_at.filter(|s| *s > 0).map(|s| s * 1000))
                .unwrap_or(at);
            let joined = Joined {
                org_id,
                user_id: &p.identity,
                room: &room.name,
                room_sid,
                participant_sid: &p.sid,
                started_at,
            };
            if event.event == "participant_joined" {
                voice::joined(&db, &joined).await?;
            } else {
                voice::left(&db, &joined, at).await?;
            }
        }
        "room_finished" => {
            voice::room_finished(&db, room_sid, at).await?;
        }
        _ => {}
    }
    no_content()
}

/// `GET /api/me/voice-sessions`: the caller's voice sessions, newest first (`?org_id=`).
pub async fn mine(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let org_id = ctx.query_param("org_id");
    let rows = voice::of_user(
        &ctx.db()?,
        &who.user_id,
        org_id.as_deref(),
        cursor(&ctx)?,
        limit + 1,
    )
    .await?;
    ok(&page(
        rows,
        limit,
        |r| (r.started_at, &r.id),
        voice::VoiceSessionRow::view,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64;

    const KEY: &str = "APIkey";
    const SECRET: &str = "secret-0123456789abcdef0123456789";
    const NOW: u64 = 1_767_323_045;

    fn token(key: &str, secret: &str, sha: Option<String>, nbf: u64, ttl: u64) -> String {
        let mut claims =
            Claims::with_custom_claims(WebhookClaims { sha256: sha }, Duration::from_secs(ttl))
                .with_issuer(key);
        claims.issued_at = None;
        claims.invalid_before = Some(Duration::from_secs(nbf));
        claims.expires_at = Some(Duration::from_secs(nbf + ttl));
        HS256Key::from_bytes(secret.as_bytes())
            .authenticate(claims)
            .unwrap()
    }

    #[test]
    fn a_webhook_signed_for_its_body_with_the_key_and_secret_passes() {
        let body = br#"{"event":"room_started"}"#;
        let t = token(KEY, SECRET, Some(b64(&sha256(body))), NOW, 300);
        assert_eq!(verify(KEY, SECRET, Some(&t), body, NOW), Ok(()));
        let bearer = format!("Bearer {t}");
        assert_eq!(verify(KEY, SECRET, Some(&bearer), body, NOW + 30), Ok(()));
    }

    #[test]
    fn another_body_secret_issuer_or_time_is_refused() {
        let body = br#"{"event":"room_started"}"#;
        let sha = || Some(b64(&sha256(body)));
        let good = token(KEY, SECRET, sha(), NOW, 300);
        assert_eq!(
            verify(
                KEY,
                SECRET,
                Some(&good),
                br#"{"event":"room_finished"}"#,
                NOW
            ),
            Err(Refused::Body)
        );
        assert_eq!(
            verify(
                KEY,
                SECRET,
                Some(&token(KEY, SECRET, None, NOW, 300)),
                body,
                NOW
            ),
            Err(Refused::Body)
        );
        for (t, now) in [
            (
                token(KEY, "another-secret-0123456789abcdef", sha(), NOW, 300),
                NOW,
            ),
            (token("APIother", SECRET, sha(), NOW, 300), NOW),
            (good.clone(), NOW + 300 + LEEWAY_SECS + 1),
            (good.clone(), NOW - LEEWAY_SECS - 1),
            ("not.a.jwt".into(), NOW),
            (String::new(), NOW),
        ] {
            assert_eq!(
                verify(KEY, SECRET, Some(&t), body, now),
                Err(Refused::Token),
                "{t}"
            );
        }
        assert_eq!(verify(KEY, SECRET, None, body, NOW), Err(Refused::Token));
    }

    #[test]
    fn events_read_protobufs_json_with_numbers_as_strings_or_numbers() {
        let e: Event = parse_json(
            br#"{"event":"participant_joined","id":"EV_1","createdAt":"1700000005",
                 "room":{"sid":"RM_1","name":"org_x:standup","creationTime":"1700000000"},
                 "participant":{"sid":"PA_1","identity":"usr_1","joinedAt":1700000001,
                                "joinedAtMs":"1700000001234","tracks":[]}}"#,
        )
        .unwrap();
        assert_eq!(e.created_at, Some(1_700_000_005));
        let p = e.participant.unwrap();
        assert_eq!(
            (p.joined_at, p.joined_at_ms),
            (Some(1_700_000_001), Some(1_700_000_001_234))
        );
        assert_eq!(e.room.unwrap().sid, "RM_1");
        let bare: Event = parse_json(br#"{"event":"room_started"}"#).unwrap();
        assert!(bare.room.is_none() && bare.created_at.is_none());
    }

    #[test]
    fn only_rooms_named_by_chatgate_have_an_org() {
        let org = crate::util::new_id("org");
        assert_eq!(org_of_room(&format!("{org}:standup")), Some(org.as_str()));
        assert_eq!(org_of_room(&format!("{org}:a:b")), Some(org.as_str()));
        for other in ["standup", "org_x:standup", ":standup", "usr_1:room"] {
            assert_eq!(org_of_room(other), None, "{other}");
        }
    }
}
