//! Signed webhooks: org events to the org's endpoint, user events to the provisioning hook.
//!
//! A request only *queues* an event (one write in a `Dispatcher` Durable Object) and goes on;
//! the object's alarm does the HTTP POST and retries it with backoff until a 2xx, so a
//! slow or failing receiver never slows or fails the request, and a retry survives restarts.
//! Deliveries are at least once: receivers deduplicate on the event id.

pub mod dispatcher;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, Method, Response};

use crate::crypto::{hex, hmac_sha256, sha256};
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;
use crate::store;
use crate::util::{new_id, rfc3339};

/// Everything that can be delivered. The string forms are the payload's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    MemberJoined,
    MemberRemoved,
    MemberRoleChanged,
    KeyCreated,
    KeyRevoked,
    ConversationDeleted,
    /// Provisioning only.
    UserRegistered,
    /// Provisioning only.
    UserDeleted,
}

/// The events an org endpoint can subscribe to.
pub const ORG_EVENTS: [EventType; 6] = [
    EventType::MemberJoined,
    EventType::MemberRemoved,
    EventType::MemberRoleChanged,
    EventType::KeyCreated,
    EventType::KeyRevoked,
    EventType::ConversationDeleted,
];

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MemberJoined => "member.joined",
            EventType::MemberRemoved => "member.removed",
            EventType::MemberRoleChanged => "member.role_changed",
            EventType::KeyCreated => "key.created",
            EventType::KeyRevoked => "key.revoked",
            EventType::ConversationDeleted => "conversation.deleted",
            EventType::UserRegistered => "user.registered",
            EventType::UserDeleted => "user.deleted",
        }
    }

    /// An org event by name (provisioning events are not subscribable).
    pub fn parse_org_event(s: &str) -> Option<EventType> {
        ORG_EVENTS.into_iter().find(|e| e.as_str() == s)
    }
}

// ---------------------------------------------------------------------------------------
// The delivery contract: signature and retry schedule. Pure, so they are unit-tested.

/// The header value `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (Stripe's scheme:
/// the timestamp is signed with the body, so a captured delivery cannot be replayed later).
pub fn signature_header(secret: &[u8], t: i64, body: &str) -> String {
    let mut signed = Vec::with_capacity(body.len() + 12);
    signed.extend_from_slice(t.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body.as_bytes());
    format!("t={t},v1={}", hex(&hmac_sha256(secret, &signed)))
}

/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY_MS: u64 = 3_600_000;
/// A delivery is abandoned once its next attempt would fall past this age.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 3_600_000;
/// …or after this many attempts, whichever comes first.
pub const MAX_ATTEMPTS: u32 = 60;

/// The wait after the `failures`-th failed attempt: `base`, then ×3 each time (10 s, 30 s,
/// 1.5 min, 4.5 min… with the default base), capped at an hour, less up to 20% of random
/// jitter (`jitter` in [0, 1)) so that receivers coming back are not hit by a herd at once.
pub fn retry_delay_ms(failures: u32, base_ms: u64, jitter: f64) -> u64 {
    let growth = 3u64.saturating_pow(failures.saturating_sub(1).min(40));
    let full = base_ms.saturating_mul(growth).min(MAX_RETRY_DELAY_MS);
    let cut = (full as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as u64;
    (full - cut).max(1)
}

/// When to try again after a failure, or `None` to give up.
pub fn next_attempt_at(
    created_at: i64,
    now: i64,
    failures: u32,
    base_ms: u64,
    jitter: f64,
) -> Option<i64> {
    if failures >= MAX_ATTEMPTS {
        return None;
    }
    let next = now + retry_delay_ms(failures, base_ms, jitter) as i64;
    (next <= created_at + GIVE_UP_AFTER_MS).then_some(next)
}

// ---------------------------------------------------------------------------------------
// The Worker's side: queueing events and reading deliveries.

/// What the Worker sends a dispatcher to queue one delivery.
#[derive(Serialize, Deserialize, Debug)]
pub struct Enqueue {
    /// `org:<org id>` or `provisioning`: whose endpoint to deliver to (read at delivery time).
    pub target: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event: String,
    /// The exact JSON that is POSTed (and signed) on every attempt.
    pub body: String,
    pub created_at: i64,
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    org_id: Option<&'a str>,
    data: &'a Value,
}

/// One dispatcher per org: its deliveries are listed from there, and one org's failing
/// endpoint never holds up another's.
fn org_dispatcher(org_id: &str) -> String {
    format!("org:{org_id}")
}

/// Provisioning deliveries spread over 16 dispatchers by user, so a backlog (the receiver
/// down for hours) is retried in parallel; a user's events always go to the same one.
fn provisioning_dispatcher(user_id: &str) -> String {
    format!("provisioning:{}", sha256(user_id.as_bytes())[0] % 16)
}

async fn call(
    env: &Env,
    name: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> ApiResult<Response> {
    let req = crate::durable::request(method, "dispatcher", path, body)?;
    crate::durable::fetch(env, "DISPATCHER", name, req).await
}

async fn enqueue(
    ctx: &Ctx,
    dispatcher: &str,
    target: String,
    org_id: Option<&str>,
    event: EventType,
    data: &Value,
) -> ApiResult<()> {
    let event_id = new_id("evt");
    let body = serde_json::to_string(&Envelope {
        id: &event_id,
        kind: event.as_str(),
        created_at: rfc3339(ctx.now),
        org_id,
        data,
    })?;
    let cmd = Enqueue {
        target,
        delivery_id: new_id("whd"),
        event_id,
        event: event.as_str().into(),
        body,
        created_at: ctx.now,
    };
    let resp = call(
        &ctx.env,
        dispatcher,
        Method::Post,
        "/enqueue",
        Some(serde_json::to_string(&cmd)?),
    )
    .await?;
    if resp.status_code() != 202 {
        return Err(ApiError::internal(format!(
            "dispatcher {dispatcher} answered {} to enqueue",
            resp.status_code()
        )));
    }
    Ok(())
}

fn log_failure(ctx: &Ctx, event: EventType, e: &ApiError) {
    worker::console_error!(
        "{}",
        serde_json::json!({
            "request_id": ctx.request_id,
            "error": "webhook_enqueue_failed",
            "event": event.as_str(),
            "context": e.log_context().unwrap_or(e.code()),
        })
    );
}

/// Queues an org event for the org's endpoint, if it has one subscribed to it. Never fails
/// the request: a failure to queue is logged.
pub async fn emit(ctx: &Ctx, org_id: &str, event: EventType, data: Value) {
    let result = async {
        if !store::webhooks::subscribed(&ctx.db()?, org_id, event.as_str()).await? {
            return Ok(());
        }
        let target = org_dispatcher(org_id);
        enqueue(ctx, &target, target.clone(), Some(org_id), event, &data).await
    }
    .await;
    if let Err(e) = result {
        log_failure(ctx, event, &e);
    }
}

/// Queues a user event for the provisioning hook, when one is configured. Never fails the
/// request, and never waits for the receiver: the dispatcher's alarm delivers it.
pub async fn provision(ctx: &Ctx, event: EventType, user_id: &str, data: Value) {
    if ctx.cfg.provisioning.is_none() {
        return;
    }
    let dispatcher = provisioning_dispatcher(user_id);
    if let Err(e) = enqueue(ctx, &dispatcher, "provisioning".into(), None, event, &data).await {
        log_failure(ctx, event, &e);
    }
}

/// Deletes the org's queue (pending and finished deliveries, their attempts): the org is being
/// deleted.
pub async fn wipe_org(env: &Env, org_id: &str) -> ApiResult<()> {
    let resp = call(env, &org_dispatcher(org_id), Method::Delete, "/", None).await?;
    if resp.status_code() != 204 {
        return Err(ApiError::internal(format!(
            "wiping the dispatcher of {org_id} answered {}",
            resp.status_code()
        )));
    }
    Ok(())
}

/// A page of an org's deliveries, newest first, as its dispatcher lists them.
pub async fn deliveries(
    ctx: &Ctx,
    org_id: &str,
    limit: usize,
    cursor: Option<&str>,
) -> ApiResult<Response> {
    let path = match cursor {
        Some(c) => format!("/deliveries?limit={limit}&cursor={}", encode_query(c)),
        None => format!("/deliveries?limit={limit}"),
    };
    call(&ctx.env, &org_dispatcher(org_id), Method::Get, &path, None).await
}

fn encode_query(s: &str) -> String {
    worker::Url::parse_with_params("https://x/", [("v", s)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("v=").to_string()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let h = signature_header(b"whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            h,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn retries_back_off_three_times_longer_up_to_an_hour() {
        let delays: Vec<u64> = (1..=8).map(|n| retry_delay_ms(n, 10_000, 0.0)).collect();
        assert_eq!(
            delays,
            [10_000, 30_000, 90_000, 270_000, 810_000, 2_430_000, 3_600_000, 3_600_000]
        );
        assert_eq!(retry_delay_ms(200, 10_000, 0.0), MAX_RETRY_DELAY_MS);
        // Jitter only ever shortens, by at most a fifth.
        for n in 1..10 {
            let full = retry_delay_ms(n, 10_000, 0.0);
            let jittered = retry_delay_ms(n, 10_000, 0.999);
            assert!(jittered <= full && jittered >= full * 4 / 5, "{n}");
        }
    }

    #[test]
    fn a_delivery_is_abandoned_after_a_day() {
        let created = 1_000_000;
        assert!(next_attempt_at(created, created + 60_000, 3, 10_000, 0.0).is_some());
        let late = created + GIVE_UP_AFTER_MS - 1_000;
        assert_eq!(next_attempt_at(created, late, 20, 10_000, 0.0), None);
        assert_eq!(
            next_attempt_at(created, created, MAX_ATTEMPTS, 1, 0.0),
            None
        );
    }

    #[test]
    fn the_default_schedule_keeps_trying_for_most_of_a_day() {
        let (created, mut now, mut failures) = (0i64, 0i64, 0u32);
        loop {
            failures += 1;
            match next_attempt_at(created, now, failures, 10_000, 0.5) {
                Some(next) => now = next,
                None => break,
            }
        }
        assert!(now > 22 * 3_600_000, "last attempt after {now} ms");
        assert!(
            failures > 20 && failures <= MAX_ATTEMPTS,
            "{failures} attempts"
        );
    }

    #[test]
    fn only_org_events_are_subscribable() {
        for e in ORG_EVENTS {
            assert_eq!(EventType::parse_org_event(e.as_str()), Some(e));
        }
        assert_eq!(EventType::parse_org_event("user.registered"), None);
        assert_eq!(EventType::parse_org_event("member.*"), None);
    }

    #[test]
    fn a_users_provisioning_events_share_a_dispatcher() {
        assert_eq!(
            provisioning_dispatcher("usr_a"),
            provisioning_dispatcher("usr_a")
        );
        assert!(provisioning_dispatcher("usr_b").starts_with("provisioning:"));
    }
}
