//! Webhook endpoints, one per org. The signing secret is sealed with AES-256-GCM under the
//! current master key (as provider keys are), bound to its org, and never shown again.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{first, n, orgs, run, s};
use crate::config::Config;
use crate::domain::settings::Feature;
use crate::error::ApiResult;
use crate::util::rfc3339;

/// The associated data binding a sealed secret to its org.
fn aad(org_id: &str) -> String {
    format!("chatgate/webhook-secret/v1|{org_id}")
}

/// An endpoint to store (already validated).
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub events: &'a [String],
}

/// Creates or replaces the org's endpoint.
pub async fn put(
    db: &D1Database,
    cfg: &Config,
    org_id: &str,
    endpoint: &NewEndpoint<'_>,
    now: i64,
) -> ApiResult<()> {
    let (version, sealed) = cfg.seal(endpoint.secret.as_bytes(), aad(org_id).as_bytes())?;
    run(
        db,
        "INSERT INTO webhooks (org_id, url, events, key_version, sealed_secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT(org_id) DO UPDATE SET
           url = excluded.url, events = excluded.events, key_version = excluded.key_version,
           sealed_secret = excluded.sealed_secret, updated_at = excluded.updated_at",
        &[
            s(org_id),
            s(endpoint.url),
            s(&serde_json::to_string(endpoint.events)?),
            n(version),
            s(&sealed),
            n(now),
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &D1Database, org_id: &str) -> ApiResult<bool> {
    Ok(run(db, "DELETE FROM webhooks WHERE org_id = ?1", &[s(org_id)]).await? > 0)
}

#[derive(Deserialize)]
struct Row {
    url: String,
    events: String,
    key_version: i64,
    sealed_secret: String,
    created_at: i64,
    updated_at: i64,
}

/// An endpoint as admins see it: no secret.
#[derive(Serialize)]
pub struct EndpointView {
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The org's endpoint, while the org has webhooks on (off, it is kept but nothing is
/// delivered to it: pending retries fail as if it were removed).
async fn row(db: &D1Database, org_id: &str) -> ApiResult<Option<Row>> {
    first(
        db,
        &format!(
            "SELECT url, events, key_version, sealed_secret, created_at, updated_at FROM webhooks
             WHERE org_id = ?1 AND {}",
            orgs::feature_on_sql(Feature::Webhooks, "?1")
        ),
        &[s(org_id)],
    )
    .await
}

fn events_of(row: &Row) -> Vec<String> {
    serde_json::from_str(&row.events).unwrap_or_default()
}

pub async fn view(db: &D1Database, org_id: &str) -> ApiResult<Option<EndpointView>> {
    Ok(row(db, org_id).await?.map(|r| EndpointView {
        url: r.url.clone(),
        events: events_of(&r),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }))
}

/// Whether the org has an endpoint subscribed to `event` and webhooks on (checked before
/// anything is queued).
pub async fn subscribed(db: &D1Database, org_id: &str, event: &str) -> ApiResult<bool> {
    #[derive(Deserialize)]
    struct Events {
        events: String,
    }
    let row: Option<Events> = first(
        db,
        &format!(
            "SELECT events FROM webhooks WHERE org_id = ?1 AND {}",
            orgs::feature_on_sql(Feature::Webhooks, "?1")
        ),
        &[s(org_id)],
    )
    .await?;
    Ok(row.is_some_and(|r| {
        serde_json::from_str::<Vec<String>>(&r.events)
            .unwrap_or_default()
            .iter()
            .any(|e| e == event)
    }))
}

/// Where to deliver and the secret to sign with, opened; `None` when the org has no endpoint.
pub async fn target(
    db: &D1Database,
    cfg: &Config,
    org_id: &str,
) -> ApiResult<Option<(String, String)>> {
    let Some(r) = row(db, org_id).await? else {
        return Ok(None);
    };
    let (secret, stale) = cfg.open(r.key_version, &r.sealed_secret, aad(org_id).as_bytes())?;
    // Sealed under an older master key: re-seal under the current one, so rotation completes.
    if stale {
        let (version, resealed) = cfg.seal(secret.as_bytes(), aad(org_id).as_bytes())?;
        run(
            db,
            "UPDATE webhooks SET key_version = ?2, sealed_secret = ?3 WHERE org_id = ?1 AND key_version = ?4",
            &[s(org_id), n(version), s(&resealed), n(r.key_version)],
        )
        .await?;
    }
    Ok(Some((r.url, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{open, seal};

    #[test]
    fn a_secret_sealed_for_one_org_does_not_open_for_another() {
        let master = [3u8; 32];
        let sealed = seal(&master, b"whsec_abc", aad("org_a").as_bytes()).unwrap();
        assert_eq!(
            open(&master, &sealed, aad("org_a").as_bytes()).unwrap(),
            b"whsec_abc"
        );
        assert!(open(&master, &sealed, aad("org_b").as_bytes()).is_none());
    }
}
