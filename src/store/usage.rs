//! Usage metering: one row per reply or completion, aggregated per org by day, user or model.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, n, opt_s, run, s};
use crate::error::ApiResult;
use crate::providers::Usage;
use crate::util::{day_of, new_id};

pub struct UsageRecord<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    pub api_key_id: Option<&'a str>,
    pub model: &'a str,
    pub usage: Usage,
    pub now: i64,
}

pub async fn record(db: &D1Database, r: &UsageRecord<'_>) -> ApiResult<()> {
    let cost = crate::pricing::cost_micros(r.model, &r.usage);
    run(
        db,
        "INSERT INTO usage_events (id, org_id, user_id, api_key_id, model, day, prompt_tokens, completion_tokens, cost_micros, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &[
            s(&new_id("use")),
            s(r.org_id),
            s(r.user_id),
            opt_s(r.api_key_id),
            s(r.model),
            s(&day_of(r.now)),
            n(r.usage.prompt_tokens as i64),
            n(r.usage.completion_tokens as i64),
            n(cost as i64),
            n(r.now),
        ],
    )
    .await?;
    Ok(())
}

/// Tokens an org used from `first_day` (`YYYY-MM-DD`, UTC) on: the seed of its budget.
pub async fn tokens_since(db: &D1Database, org_id: &str, first_day: &str) -> ApiResult<u64> {
    #[derive(Deserialize)]
    struct Total {
        total: Option<i64>,
    }
    let row: Option<Total> = super::first(
        db,
        "SELECT SUM(prompt_tokens + completion_tokens) AS total FROM usage_events
         WHERE org_id = ?1 AND day >= ?2",
        &[s(org_id), s(first_day)],
    )
    .await?;
    Ok(row.and_then(|r| r.total).unwrap_or(0).max(0) as u64)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    User,
    Model,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "day" => Some(GroupBy::Day),
            "user" => Some(GroupBy::User),
            "model" => Some(GroupBy::Model),
            _ => None,
        }
    }

    fn column(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::User => "COALESCE(user_id, 'deleted')",
            GroupBy::Model => "model",
        }
    }
}

#[derive(Deserialize, Serialize)]
pub struct UsageRow {
    pub key: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: i64,
}

/// Usage of an org between two instants (`from` inclusive, `to` exclusive).
pub async fn aggregate(
    db: &D1Database,
    org_id: &str,
    from: i64,
    to: i64,
    group: GroupBy,
) -> ApiResult<Vec<UsageRow>> {
    let col = group.column();
    all(
        db,
        &format!(
            "SELECT {col} AS key, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
                    SUM(completion_tokens) AS completion_tokens, SUM(cost_micros) AS cost_micros
             FROM usage_events WHERE org_id = ?1 AND created_at >= ?2 AND created_at < ?3
             GROUP BY key ORDER BY key LIMIT 1000"
        ),
        &[s(org_id), n(from), n(to)],
    )
    .await
}
