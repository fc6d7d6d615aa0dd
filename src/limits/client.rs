//! The Worker's side of the `OrgLimiter` objects: reserve and settle budget, count API-key
//! requests. Every decision is the org's object's; a limiter that cannot answer refuses
//! (503) rather than letting spending through unchecked.

use serde::Serialize;
use worker::{Env, Method};

use super::{AdmitCommand, Decision, HitCommand, ReserveCommand, SettleCommand};
use crate::durable;
use crate::error::{ApiError, ApiResult};

async fn call<T: Serialize>(env: &Env, org_id: &str, path: &str, body: &T) -> ApiResult<Decision> {
    let unavailable = |e: String| ApiError::Unavailable(format!("usage limiter: {e}"));
    let req = durable::request(
        Method::Post,
        "limiter",
        path,
        Some(serde_json::to_string(body)?),
    )?;
    let mut resp = durable::fetch(env, "ORG_LIMITS", org_id, req)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if resp.status_code() != 200 {
        return Err(unavailable(format!("answered {}", resp.status_code())));
    }
    resp.json::<Decision>()
        .await
        .map_err(|e| unavailable(e.to_string()))
}

/// Deletes everything the limiter of `object` (an org id, or `user:<id>`) holds: its org or
/// user is being deleted.
pub async fn wipe(env: &Env, object: &str) -> ApiResult<()> {
    let req = durable::request(Method::Post, "limiter", "/wipe", None)?;
    let resp = durable::stub(env, "ORG_LIMITS", object)?
        .fetch_with_request(req)
        .await?;
    if resp.status_code() != 204 {
        return Err(ApiError::internal(format!(
            "wiping a limiter answered {}",
            resp.status_code()
        )));
    }
    Ok(())
}

/// The limiter object of a user's own request rate.
pub fn user_object(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// A budget reservation held for one reply, to be settled when it ends. An org without a
/// limit holds none (`id` is `None`): there is nothing to protect before the reply, and
/// settling still adds what it used to the month.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub org_id: String,
    pub id: Option<String>,
    /// The completion cap to send upstream: what the budget admitted, or without a budget
    /// the request's own `max_tokens`.
    pub cap: Option<u32>,
}

/// Reserves a request's prompt estimate plus the completion cap the budget admits for it
/// (its `max_tokens`, or the default, cut to what is left); 429 `budget_exceeded` (retry
/// after the month ends) when not even a useful reply fits. Without a limit nothing is
/// asked of the limiter (no round trip before the first token).
pub async fn reserve(
    env: &Env,
    org_id: &str,
    limit: Option<u64>,
    prompt: u64,
    max_tokens: Option<u32>,
) -> ApiResult<Reservation> {
    let Some(limit) = limit else {
        return Ok(Reservation {
            org_id: org_id.to_string(),
            id: None,
            cap: max_tokens,
        });
    };
    let cmd = ReserveCommand {
        org_id: org_id.to_string(),
        limit: Some(limit),
        prompt,
        wanted: super::wanted_cap(max_tokens),
    };
    reservation(org_id, call(env, org_id, "/reserve", &cmd).await?)
}

/// The reservation a limiter's decision on a `ReserveCommand` stands for.
fn reservation(org_id: &str, decision: Decision) -> ApiResult<Reservation> {
    match decision {
        Decision::Admitted {
            id: Some(id),
            cap: Some(cap),
        } => Ok(Reservation {
            org_id: org_id.to_string(),
            id: Some(id),
            cap: Some(cap),
        }),
        Decision::Admitted { .. } => Err(ApiError::internal("reservation without an id or cap")),
        Decision::Refused { retry_after } => Err(ApiError::BudgetExceeded(retry_after)),
        Decision::RateLimited { retry_after } => Err(ApiError::RateLimited(retry_after)),
    }
}

/// Counts one request of an API key against its rate and, when the org has a budget,
/// reserves for it (as `admit_key` then `reserve`), in one call to the org's object.
pub async fn admit_key_and_reserve(
    env: &Env,
    org_id: &str,
    key_id: &str,
    rpm: u32,
    limit: Option<u64>,
    prompt: u64,
    max_tokens: Option<u32>,
) -> ApiResult<Reservation> {
    let cmd = AdmitCommand {
        hit: HitCommand {
            key_id: key_id.to_string(),
            rpm,
        },
        reserve: limit.map(|limit| ReserveCommand {
            org_id: org_id.to_string(),
            limit: Some(limit),
            prompt,
            wanted: super::wanted_cap(max_tokens),
        }),
    };
    let decision = call(env, org_id, "/admit", &cmd).await?;
    match (&cmd.reserve, decision) {
        (_, Decision::RateLimited { retry_after }) => Err(ApiError::RateLimited(retry_after)),
        (Some(_), decision) => reservation(org_id, decision),
        (None, _) => Ok(Reservation {
            org_id: org_id.to_string(),
            id: None,
            cap: max_tokens,
        }),
    }
}

/// Replaces the reservation by what was used (0 releases it). Failures are logged: the
/// usage itself is already recorded in D1, and an unsettled reservation expires.
pub async fn settle(env: &Env, r: &Reservation, used: u64) {
    if r.id.is_none() && used == 0 {
        return;
    }
    let cmd = SettleCommand {
        id: r.id.clone(),
        used,
    };
    if let Err(e) = call(env, &r.org_id, "/settle", &cmd).await {
        worker::console_error!(
            "{}",
            serde_json::json!({"error": "reservation not settled", "org": r.org_id, "reservation": r.id, "context": e.to_string()})
        );
    }
}

/// Counts one request of an API key (`key_id`, of `org_id`) against its rate
/// (`super::key_rpm`); 429 `rate_limited` with the seconds until the window has room.
pub async fn admit_key(env: &Env, org_id: &str, key_id: &str, rpm: u32) -> ApiResult<()> {
    hit(env, org_id, key_id, rpm).await
}

/// Counts one chat request made with an access token against the user's
/// `USER_RATE_LIMIT_RPM` (none: not counted), in the user's own object, so it holds across
/// every org they act in.
pub async fn admit_user(env: &Env, user_id: &str, rpm: Option<u32>) -> ApiResult<()> {
    match rpm {
        Some(rpm) => hit(env, &user_object(user_id), user_id, rpm).await,
        None => Ok(()),
    }
}

async fn hit(env: &Env, object: &str, key_id: &str, rpm: u32) -> ApiResult<()> {
    let cmd = HitCommand {
        key_id: key_id.to_string(),
        rpm,
    };
    match call(env, object, "/hit", &cmd).await? {
        Decision::Admitted { .. } => Ok(()),
        Decision::Refused { retry_after } | Decision::RateLimited { retry_after } => {
            Err(ApiError::RateLimited(retry_after))
        }
    }
}
