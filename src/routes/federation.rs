//! Federation: LiveKit access tokens for the caller, and embed tickets that let another
//! site open a chatgate session for its signed-in user.

use jwt_simple::prelude::*;
use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::settings::{Feature, OrgSettings};
use crate::domain::DisplayName;
use crate::error::{ApiError, ApiResult};
use crate::http::{created, ok, Ctx, AUTH_BODY_LIMIT, BODY_LIMIT};
use crate::routes::audit;
use crate::routes::auth::{start_session, token_response, Delivery};
use crate::store::audit::{Action, Entry};
use crate::store::orgs::{self, Role};
use crate::store::{embed, users};
use crate::util::rfc3339;

// ---------------------------------------------------------------------------------------
// LiveKit

/// How long a LiveKit token is valid.
pub const LIVEKIT_TOKEN_TTL_SECS: u64 = 6 * 3600;

/// A room name as the caller gives it: 1 to 128 of `A-Z a-z 0-9 _ - . :`.
fn room_name(raw: &str) -> ApiResult<&str> {
    let ok = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::validation(
            "room must be 1 to 128 characters of letters, digits, `_`, `-`, `.` and `:`",
        ))
    }
}

/// The LiveKit room of `room` in `org_id`: `<org id>:<room>`. Org ids (`org_` and 26
/// base32 characters) never contain `:`, so the first `:` always ends the org id: whatever
/// the room string holds (a `:`, another org's id or full room name), the result is a room
/// of `org_id`, and no two orgs ever share one.
fn livekit_room(org_id: &str, room: &str) -> String {
    format!("{org_id}:{room}")
}

/// LiveKit's claims beyond the registered ones (its grant names are camelCase).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct LiveKitClaims {
    name: String,
    video: VideoGrant,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct VideoGrant {
    room_join: bool,
    room: String,
    can_publish: bool,
    can_subscribe: bool,
    can_publish_data: bool,
    /// Moderation of that one room through LiveKit's server API (mute, remove participants,
    /// update metadata): for the org's owners and admins.
    room_admin: bool,
}

impl VideoGrant {
    /// What a member of the room's org with `role` may do there: every member joins,
    /// publishes, subscribes and sends data; owners and admins also moderate.
    fn for_role(room: &str, role: Role) -> VideoGrant {
        VideoGrant {
            room_join: true,
            room: room.into(),
            can_publish: true,
            can_subscribe: true,
            can_publish_data: true,
            room_admin: role >= Role::Admin,
        }
    }
}

/// A LiveKit access token: HS256 with the API secret, `iss` the API key, `sub` the
/// participant identity, the grant for one room, valid from `now_secs` for 6 h.
fn livekit_token(
    api_key: &str,
    api_secret: &str,
    identity: &str,
    name: &str,
    video: VideoGrant,
    now_secs: u64,
) -> Result<String, String> {
    let grant = LiveKitClaims {
        name: name.into(),
        video,
    };
    let mut claims = Claims::with_custom_claims(grant, Duration::from_secs(LIVEKIT_TOKEN_TTL_SECS))
        .with_issuer(api_key)
        .with_subject(identity)
        .with_jwt_id(random_token()?);
    // The platform clock, not whichever clock jwt-simple would find in wasm.
    let now = Duration::from_secs(now_secs);
    claims.issued_at = Some(now);
    claims.invalid_before = Some(now);
    claims.expires_at = Some(now + Duration::from_secs(LIVEKIT_TOKEN_TTL_SECS));
    HS256Key::from_bytes(api_secret.as_bytes())
        .authenticate(claims)
        .map_err(|e| format!("signing the LiveKit token failed: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveKitTokenRequest {
    room: String,
    /// The org whose room it is; the caller's personal org when absent.
    org_id: Option<String>,
    participant_name: Option<String>,
}

#[derive(Serialize)]
struct LiveKitTokenResponse<'a> {
    token: String,
    url: &'a str,
    /// The LiveKit room name (`<org id>:<room>`), as in the token's grant.
    room: String,
}

/// A token for a room of one of the caller's orgs, with the grants of their role there.
/// The org is decided (404, 403 `feature_disabled`) before the service's own LiveKit
/// configuration (503).
pub async fn livekit(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: LiveKitTokenRequest = ctx.json(BODY_LIMIT).await?;
    let room = room_name(&body.room)?;
    let participant_name = body
        .participant_name
        .map(|n| DisplayName::parse(&n, "participant_name").map_err(ApiError::Validation))
        .transpose()?;
    let db = ctx.db()?;
    let org_id = match body.org_id {
        Some(org_id) => org_id,
        None => orgs::personal_org(&db, &who.user_id)
            .await?
            .ok_or(ApiError::NotFound)?,
    };
    let scope = crate::auth::sso::scope(&db, &org_id, &who).await?;
    orgs::require_feature(&db, &scope.org_id, Feature::Livekit).await?;
    let cfg = ctx.cfg.clone();
    let lk = cfg
        .livekit
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("LiveKit is not configured on this service".into()))?;
    let name = match participant_name {
        Some(n) => n.as_str().to_string(),
        None => {
            users::find(&db, &who.user_id)
                .await?
                .ok_or(ApiError::Unauthorized("the account no longer exists"))?
                .name
        }
    };
    let room = livekit_room(&scope.org_id, room);
    let token = livekit_token(
        &lk.api_key,
        &lk.api_secret,
        &who.user_id,
        &name,
        VideoGrant::for_role(&room, scope.role),
        ctx.now as u64 / 1000,
    )
    .map_err(ApiError::internal)?;
    ok(&LiveKitTokenResponse {
        token,
        url: &lk.url,
        room,
    })
}

// ---------------------------------------------------------------------------------------
// Embed tickets

/// An embedding site's origin, as browsers send it in `Origin`: `https://host[:port]`, or
/// plain http for a local development host. No path, query, fragment or credentials.
fn embed_origin(raw: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::validation(
            "origin must be https://host[:port] (or http://localhost, 127.0.0.1 or [::1]), with no path",
        )
    };
    let url = worker::Url::parse(raw).map_err(|_| bad())?;
    let local = matches!(
        url.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    );
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
    let bare = url.path() == "/"
        && !raw.ends_with('/')
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !scheme_ok || !bare || raw.len() > 300 || url.host_str().is_none() {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketRequest {
    org_id: String,
    origin: String,
}

#[derive(Serialize)]
struct TicketResponse {
    ticket: String,
    expires_at: String,
}

/// Issues a ticket for the caller in one of their orgs, exchangeable once, within 60 s,
/// by a page of `origin`.
pub async fn create_ticket(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: TicketRequest = ctx.json(BODY_LIMIT).await?;
    let origin = embed_origin(&body.origin)?;
    let db = ctx.db()?;
    let scope = crate::auth::sso::scope(&db, &body.org_id, &who).await?;
    orgs::require_feature(&db, &scope.org_id, Feature::Embed).await?;
    let ticket = random_token().map_err(ApiError::internal)?;
    embed::create(
        &db,
        &embed::NewTicket {
            hash: &sha256_hex(ticket.as_bytes()),
            user_id: &who.user_id,
            org_id: &scope.org_id,
            origin: &origin,
            now: ctx.now,
        },
    )
    .await?;
    created(&TicketResponse {
        ticket,
        expires_at: rfc3339(ctx.now + embed::TICKET_TTL_MS),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeRequest {
    ticket: String,
}

const BAD_TICKET: &str = "the embed ticket is not valid, already used, or expired";

/// Exchanges a ticket for a session, once. Called cross-origin by the embedding page, so it
/// answers CORS for that page (no cookies are involved: the refresh token comes in the body,
/// since a cookie set here would be third-party to the embedding site and SameSite=Strict).
pub async fn exchange(mut ctx: Ctx) -> ApiResult<Response> {
    let origin = ctx.header("origin");
    let result = exchange_ticket(&mut ctx, origin.as_deref()).await;
    let mut resp = match result {
        Ok(resp) => resp,
        // The embedding page must be able to read why it was refused.
        Err(e) if e.status() < 500 => crate::http::problem(&e),
        Err(e) => return Err(e),
    };
    allow_origin(&mut resp, origin.as_deref())?;
    Ok(resp)
}

async fn exchange_ticket(ctx: &mut Ctx, origin: Option<&str>) -> ApiResult<Response> {
    let body: ExchangeRequest = ctx.json(AUTH_BODY_LIMIT).await?;
    if body.ticket.is_empty() || body.ticket.len() > 256 {
        return Err(ApiError::Unauthorized(BAD_TICKET));
    }
    let db = ctx.db()?;
    let ticket = embed::consume(&db, &sha256_hex(body.ticket.as_bytes()), ctx.now)
        .await?
        .ok_or(ApiError::Unauthorized(BAD_TICKET))?;
    // Checked after the ticket is spent: shown to the wrong site, it is burnt.
    if origin != Some(ticket.origin.as_str()) {
        return Err(ApiError::Unauthorized(
            "the embed ticket was issued for another origin",
        ));
    }
    if ticket.member != 1 {
        return Err(ApiError::Unauthorized(BAD_TICKET));
    }
    // Issued while embedding was on, exchanged after it was switched off: refused.
    let settings = OrgSettings::from_stored(ticket.org_settings.as_deref().unwrap_or("{}"));
    if !settings.enabled(Feature::Embed) {
        return Err(ApiError::FeatureDisabled(Feature::Embed.as_str()));
    }
    let user = users::find(&db, &ticket.user_id)
        .await?
        .ok_or(ApiError::Unauthorized(BAD_TICKET))?;
    user.ensure_enabled()?;
    let issued = start_session(ctx, &user.id, Vec::new()).await?;
    let how = serde_json::json!({
        "method": "embed_ticket", "origin": ticket.origin, "session_id": issued.session_id,
    });
    let entry = Entry::new(Action::LoginSucceeded)
        .by(&user.id)
        .in_org(&ticket.org_id);
    audit::record(ctx, entry.details(how)).await;
    token_response(200, Some(&user.view()), &issued, Delivery::Body)
}

/// `access-control-allow-origin` for the calling page. Safe for any origin: the route reads
/// no cookie or other ambient credential, only the ticket in the body.
fn allow_origin(resp: &mut Response, origin: Option<&str>) -> ApiResult<()> {
    let headers = resp.headers_mut();
    if let Some(o) = origin {
        headers.set("access-control-allow-origin", o)?;
    }
    headers.set("vary", "origin")?;
    Ok(())
}

/// The CORS preflight of the exchange (a JSON POST from another origin needs one).
pub async fn exchange_preflight(ctx: Ctx) -> ApiResult<Response> {
    let mut resp = Response::builder().with_status(204).empty();
    allow_origin(&mut resp, ctx.header("origin").as_deref())?;
    let headers = resp.headers_mut();
    headers.set("access-control-allow-methods", "POST")?;
    headers.set("access-control-allow-headers", "content-type")?;
    headers.set("access-control-max-age", "600")?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_bounded_and_plain() {
        for ok in ["a", "team-standup", "org_1:room.2", &"r".repeat(128)] {
            assert!(room_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "slash/room",
            "é",
            &"r".repeat(129),
            "a\u{0}",
        ] {
            assert!(room_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_room_string_cannot_reach_another_orgs_room() {
        let (ours, theirs) = (crate::util::new_id("org"), crate::util::new_id("org"));
        let target = livekit_room(&theirs, "standup");
        for room in [
            "standup".to_string(),
            target.clone(),
            format!("{theirs}:"),
            format!(":{target}"),
            theirs.clone(),
            ":".into(),
        ] {
            let mapped = livekit_room(&ours, &room);
            assert_ne!(mapped, target, "{room}");
            // The org id is always what comes before the first `:`.
            assert_eq!(mapped.split_once(':').unwrap().0, ours, "{room}");
        }
        assert!(!ours.contains(':') && !theirs.contains(':'));
    }

    #[test]
    fn owners_and_admins_moderate_the_room_and_every_member_publishes() {
        for (role, admin) in [
            (Role::Owner, true),
            (Role::Admin, true),
            (Role::Member, false),
        ] {
            let g = VideoGrant::for_role("org_1:r", role);
            assert_eq!(g.room_admin, admin, "{role:?}");
            assert!(g.room_join && g.can_publish && g.can_subscribe && g.can_publish_data);
            assert_eq!(g.room, "org_1:r");
        }
    }

    #[test]
    fn a_livekit_token_carries_the_identity_name_grant_and_six_hours() {
        let now = 1_800_000_000;
        let token = livekit_token(
            "APIkey",
            "secret-0123456789",
            "usr_1",
            "Ada",
            VideoGrant::for_role("org_1:standup", Role::Member),
            now,
        )
        .unwrap();
        let key = HS256Key::from_bytes(b"secret-0123456789");
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&["APIkey"])),
            artificial_time: Some(Duration::from_secs(now + 60)),
            ..Default::default()
        };
        let claims = key
            .verify_token::<LiveKitClaims>(&token, Some(options))
            .unwrap();
        assert_eq!(claims.subject.as_deref(), Some("usr_1"));
        assert_eq!(claims.custom.name, "Ada");
        assert_eq!(
            claims.custom.video,
            VideoGrant {
                room_join: true,
                room: "org_1:standup".into(),
                can_publish: true,
                can_subscribe: true,
                can_publish_data: true,
                room_admin: false,
            }
        );
        assert_eq!(
            claims.expires_at.unwrap().as_secs() - claims.invalid_before.unwrap().as_secs(),
            LIVEKIT_TOKEN_TTL_SECS
        );
        assert!(claims.jwt_id.is_some());
        let payload = token.split('.').nth(1).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&crate::crypto::b64url_decode(payload).unwrap()).unwrap();
        assert_eq!(raw["video"]["roomJoin"], true, "camelCase grants: {raw}");
        assert!(HS256Key::from_bytes(b"another secret")
            .verify_token::<LiveKitClaims>(&token, None)
            .is_err());
    }

    #[test]
    fn embed_origins_are_bare_https_or_local_http() {
        for (raw, want) in [
            ("https://app.example.com", "https://app.example.com"),
            (
                "https://App.Example.com:8443",
                "https://app.example.com:8443",
            ),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(embed_origin(raw).unwrap(), want, "{raw}");
        }
        for bad in [
            "http://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/embed",
            "https://app.example.com?x=1",
            "https://user:pw@app.example.com",
            "ftp://app.example.com",
            "app.example.com",
            "null",
            "",
        ] {
            assert!(embed_origin(bad).is_err(), "{bad}");
        }
    }
}
