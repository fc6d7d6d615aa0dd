//! Usage metering: one row per reply or completion, aggregated per org by day, user or model,
//! with the org's voice sessions (`store::voice`) beside them.

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

    /// The same key for a voice session: the UTC day it started, its user, or `livekit/voice`
    /// in place of a model (so every grouping adds up to the same totals).
    fn voice_column(self) -> &'static str {
        match self {
            GroupBy::Day => "strftime('%Y-%m-%d', started_at / 1000, 'unixepoch')",
            GroupBy::User => "COALESCE(user_id, 'deleted')",
            GroupBy::Model => "'livekit/voice'",
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
    /// Voice sessions that started in the period and have ended, and their whole seconds.
    #[serde(default)]
    pub voice_sessions: i64,
    #[serde(default)]
    pub voice_seconds: i64,
}

#[derive(Deserialize)]
struct VoiceRow {
    key: String,
    sessions: i64,
    seconds: Option<i64>,
}

/// Adds voice rows to usage rows by key, keeping them ordered by key (at most `MAX_GROUPS`).
fn merge(mut rows: Vec<UsageRow>, voice: Vec<VoiceRow>) -> Vec<UsageRow> {
    for v in voice {
        let seconds = v.seconds.unwrap_or(0);
        match rows.binary_search_by(|r| r.key.as_str().cmp(&v.key)) {
            Ok(i) => {
                rows[i].voice_sessions = v.sessions;
                rows[i].voice_seconds = seconds;
            }
            Err(i) => rows.insert(
                i,
                UsageRow {
                    key: v.key,
                    requests: 0,
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    cost_micros: 0,
                    voice_sessions: v.sessions,
                    voice_seconds: seconds,
                },
            ),
        }
    }
    rows.truncate(MAX_GROUPS);
    rows
}

const MAX_GROUPS: usize = 1000;

/// Usage of an org between two instants (`from` inclusive, `to` exclusive): model calls by
/// when they were made, voice sessions by when they started (those still open count once
/// they end).
pub async fn aggregate(
    db: &D1Database,
    org_id: &str,
    from: i64,
    to: i64,
    group: GroupBy,
) -> ApiResult<Vec<UsageRow>> {
    let col = group.column();
    let rows = all(
        db,
        &format!(
            "SELECT {col} AS key, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
                    SUM(completion_tokens) AS completion_tokens, SUM(cost_micros) AS cost_micros
             FROM usage_events WHERE org_id = ?1 AND created_at >= ?2 AND created_at < ?3
             GROUP BY key ORDER BY key LIMIT {MAX_GROUPS}"
        ),
        &[s(org_id), n(from), n(to)],
    )
    .await?;
    let voice_col = group.voice_column();
    let voice = all(
        db,
        &format!(
            "SELECT {voice_col} AS key, COUNT(*) AS sessions,
                    SUM((ended_at - started_at) / 1000) AS seconds
             FROM voice_sessions WHERE org_id = ?1 AND started_at >= ?2 AND started_at < ?3
               AND ended_at IS NOT NULL
             GROUP BY key ORDER BY key LIMIT {MAX_GROUPS}"
        ),
        &[s(org_id), n(from), n(to)],
    )
    .await?;
    Ok(merge(rows, voice))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(key: &str, requests: i64) -> UsageRow {
        UsageRow {
            key: key.into(),
            requests,
            prompt_tokens: 1,
            completion_tokens: 2,
            cost_micros: 3,
            voice_sessions: 0,
            voice_seconds: 0,
        }
    }

    #[test]
    fn voice_rows_join_usage_rows_of_their_key_in_key_order() {
        let voice = |key: &str, sessions, seconds| VoiceRow {
            key: key.into(),
            sessions,
            seconds: Some(seconds),
        };
        let merged = merge(
            vec![usage("2026-01-02", 5), usage("2026-01-04", 1)],
            vec![
                voice("2026-01-01", 1, 60),
                voice("2026-01-02", 2, 90),
                voice("2026-01-05", 3, 30),
            ],
        );
        let got: Vec<_> = merged
            .iter()
            .map(|r| {
                (
                    r.key.as_str(),
                    r.requests,
                    r.voice_sessions,
                    r.voice_seconds,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-01-01", 0, 1, 60),
                ("2026-01-02", 5, 2, 90),
                ("2026-01-04", 1, 0, 0),
                ("2026-01-05", 0, 3, 30),
            ]
        );
    }
}

/// The org's usage by day, user and model, newest day first, at most `limit` rows (the export).
#[derive(Deserialize, Serialize)]
pub struct DailyUsage {
    pub day: String,
    /// `None` once the user is deleted.
    pub user_id: Option<String>,
    pub model: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: i64,
}

pub async fn daily(db: &D1Database, org_id: &str, limit: usize) -> ApiResult<Vec<DailyUsage>> {
    all(
        db,
        "SELECT day, user_id, model, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
                SUM(completion_tokens) AS completion_tokens, SUM(cost_micros) AS cost_micros
         FROM usage_events WHERE org_id = ?1
         GROUP BY day, user_id, model ORDER BY day DESC, user_id, model LIMIT ?2",
        &[s(org_id), n(limit as i64)],
    )
    .await
}
