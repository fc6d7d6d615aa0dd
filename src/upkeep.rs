//! Scheduled upkeep: the Worker's `scheduled` handler, run by the Cron Trigger in
//! wrangler.toml (`[triggers]`, every 15 minutes) and locally through wrangler's
//! scheduled-test route (`GET /__scheduled` on a server started by scripts/serve.sh).
//!
//! Each run deletes what is past its life, by the rules of `store::upkeep::RULES`, in bounded
//! work: a rule runs at most `statements_per_rule` statements of its batch size (4, fewer once
//! there are so many rules that a run would pass `MAX_STATEMENTS_PER_RUN`), and stops at the
//! first one that comes back short (nothing more is due). What is left goes on the next
//! run. One rule failing does not stop the others. Every run writes one log line with what
//! each rule deleted (counts only).
//!
//! Then conversation retention (`store::retention`): at most `RETENTION_BATCH` conversations
//! past their org's `conversation_retention_days`, each one's messages wiped from its Durable
//! Object and its uploaded files from R2 before its row goes (a wipe that fails keeps the row,
//! for the next run). Then the queued wipes of deleted accounts' and orgs' Durable Objects
//! (`crate::wipes`), at most `wipes::UPKEEP_CALLS` object calls. Then the signing keys (`crate::auth::signing::rotate`):
//! a new key once the newest is 30 days old, and superseded keys deleted once their tokens
//! have expired. A run makes at most `MAX_STATEMENTS_PER_RUN + RETENTION_STATEMENTS +
//! WIPE_STATEMENTS + 2` D1 statements (48) and `RETENTION_BATCH + wipes::UPKEEP_CALLS + 1`
//! object and R2 calls (46).

use std::future::Future;

use worker::{Env, ScheduledEvent};

use crate::auth::signing;
use crate::error::ApiError;
use crate::store::upkeep::{self, Rule};
use crate::util::{new_id, now_ms};

/// Statements per rule per run, at most: with a batch of 1000 rows, 4000 rows of each kind.
pub const MAX_STATEMENTS_PER_RULE: usize = 4;
/// The most D1 statements the rules of one run may make: with retention's and the signing
/// keys' (2 each), under the 50 queries a Worker invocation may make on the Workers Free plan
/// (1000 on Paid), so a run never meets that limit.
pub const MAX_STATEMENTS_PER_RUN: usize = 40;

/// Conversations deleted for retention per run, at most: one Durable Object call each, well
/// under the 50 subrequests of a Workers Free invocation (96 runs a day: 2,400 a day).
pub const RETENTION_BATCH: usize = 25;
/// D1 statements of the retention step: finding what is due, reading and deleting up to a
/// thousand of their uploaded files' rows, deleting the conversations.
pub const RETENTION_STATEMENTS: usize = 4;
/// D1 statements of the wipe step: reading the queue, taking the wiped off it.
pub const WIPE_STATEMENTS: usize = 2;
const _: () = assert!(RETENTION_BATCH + crate::wipes::UPKEEP_CALLS <= 50);

/// Statements per rule in a run of `rules` rules: as many as the run's budget allows, up to
/// `MAX_STATEMENTS_PER_RULE`, and at least one (`RULES` has fewer rules than the budget).
pub fn statements_per_rule(rules: usize) -> usize {
    (MAX_STATEMENTS_PER_RUN / rules.max(1)).clamp(1, MAX_STATEMENTS_PER_RULE)
}

/// What one rule did in a run.
#[derive(Debug, PartialEq)]
pub struct Swept {
    pub what: &'static str,
    pub deleted: usize,
    pub statements: usize,
    /// Its last statement deleted a full batch: more may be due (the next run goes on).
    pub more: bool,
    /// The error that stopped it, for the log (store errors name the statement, never values).
    pub error: Option<String>,
}

/// Runs every rule, one after another, with `sweep` running one statement of a rule.
pub async fn run_rules<F, Fut>(rules: &'static [Rule], mut sweep: F) -> Vec<Swept>
where
    F: FnMut(&'static Rule) -> Fut,
    Fut: Future<Output = Result<usize, ApiError>>,
{
    let mut report = Vec::with_capacity(rules.len());
    let per_rule = statements_per_rule(rules.len());
    for rule in rules {
        let mut swept = Swept {
            what: rule.what,
            deleted: 0,
            statements: 0,
            more: false,
            error: None,
        };
        while swept.statements < per_rule {
            swept.statements += 1;
            match sweep(rule).await {
                Ok(deleted) => {
                    swept.deleted += deleted;
                    swept.more = deleted as i64 >= rule.batch;
                    if !swept.more {
                        break;
                    }
                }
                Err(e) => {
                    swept.error = Some(e.log_context().unwrap_or(e.code()).to_string());
                    break;
                }
            }
        }
        report.push(swept);
    }
    report
}

/// The log line of a run: like a request's (an id, a route, a status, a duration), with the
/// counts of each rule.
pub fn log_line(cron: &str, report: &[Swept], duration_ms: i64) -> serde_json::Value {
    let failed = report.iter().any(|s| s.error.is_some());
    let deleted: serde_json::Map<_, _> = report
        .iter()
        .map(|s| (s.what.to_string(), s.deleted.into()))
        .collect();
    let errors: serde_json::Map<_, _> = report
        .iter()
        .filter_map(|s| Some((s.what.to_string(), s.error.clone()?.into())))
        .collect();
    serde_json::json!({
        "request_id": new_id("upk"),
        "route": "scheduled upkeep",
        "cron": cron,
        "status": if failed { "failed" } else { "ok" },
        "duration_ms": duration_ms,
        "deleted": deleted,
        "statements": report.iter().map(|s| s.statements).sum::<usize>(),
        "more": report.iter().filter(|s| s.more).map(|s| s.what).collect::<Vec<_>>(),
        "errors": errors,
    })
}

/// Deletes conversations past their org's retention at `now`, messages first.
async fn retention(env: &Env, db: &worker::D1Database, now: i64) -> Swept {
    let mut swept = Swept {
        what: "conversations_retention",
        deleted: 0,
        statements: 1,
        more: false,
        error: None,
    };
    let due = match crate::store::retention::due(db, now, RETENTION_BATCH).await {
        Ok(due) => due,
        Err(e) => {
            swept.error = Some(e.log_context().unwrap_or(e.code()).to_string());
            return swept;
        }
    };
    swept.more = due.len() >= RETENTION_BATCH;
    let mut wiped = Vec::with_capacity(due.len());
    for batch in due.chunks(5) {
        let results = futures::future::join_all(
            batch
                .iter()
                .map(|id| crate::conversation::client::wipe(env, id)),
        )
        .await;
        for (id, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => wiped.push(id.clone()),
                Err(e) => {
                    swept.error = Some(e.log_context().unwrap_or(e.code()).to_string());
                }
            }
        }
    }
    if wiped.is_empty() {
        return swept;
    }
    // Their uploaded files (R2 objects, then rows): a thousand at most per run; the
    // conversations stay due (their rows kept) until all of their files are gone.
    swept.statements += 2;
    let of = crate::store::files::Of::Conversations(&wiped);
    match crate::store::files::purge_some(env, of, 1).await {
        Ok(true) => {}
        Ok(false) => {
            swept.more = true;
            return swept;
        }
        Err(e) => {
            swept.error = Some(e.log_context().unwrap_or(e.code()).to_string());
            return swept;
        }
    }
    swept.statements += 1;
    match crate::store::retention::delete(db, &wiped, now).await {
        Ok(deleted) => swept.deleted = deleted,
        Err(e) => swept.error = Some(e.log_context().unwrap_or(e.code()).to_string()),
    }
    swept
}

/// Wipes the oldest queued objects of deleted accounts and orgs.
async fn wipes(env: &Env, db: &worker::D1Database) -> Swept {
    let mut swept = Swept {
        what: "object_wipes",
        deleted: 0,
        statements: 1,
        more: false,
        error: None,
    };
    // As many entries as calls: a pass takes those that fit (an org's are two calls).
    let due = match crate::store::wipes::due(db, crate::wipes::UPKEEP_CALLS).await {
        Ok(due) => due,
        Err(e) => {
            swept.error = Some(e.log_context().unwrap_or(e.code()).to_string());
            return swept;
        }
    };
    if due.is_empty() {
        return swept;
    }
    swept.statements += 1;
    let pass = crate::wipes::wipe(env, db, &due, crate::wipes::UPKEEP_CALLS).await;
    swept.deleted = pass.wiped;
    swept.more = pass.wiped < due.len() || due.len() >= crate::wipes::UPKEEP_CALLS;
    swept.error = pass
        .error
        .map(|e| e.log_context().unwrap_or(e.code()).to_string());
    swept
}

/// The scheduled handler: one run of every rule at the event's time.
pub async fn scheduled(event: &ScheduledEvent, env: &Env) {
    let started = now_ms();
    // The time the run is for (Cloudflare's schedule, or the test route's): a late run deletes
    // no more than it would have on time.
    let at = event.schedule();
    let now = if at.is_finite() && at > 0.0 {
        at as i64
    } else {
        started
    };
    let report = match env.d1("DB") {
        Ok(db) => {
            let mut report = run_rules(upkeep::RULES, |rule| upkeep::sweep(&db, rule, now)).await;
            report.push(retention(env, &db, now).await);
            report.push(wipes(env, &db).await);
            report
        }
        Err(e) => upkeep::RULES
            .iter()
            .map(|rule| Swept {
                what: rule.what,
                deleted: 0,
                statements: 0,
                more: false,
                error: Some(format!("D1 binding: {e}")),
            })
            .collect(),
    };
    let rotation = rotate_signing_keys(env, now).await;
    let mut line = log_line(&event.cron(), &report, now_ms() - started);
    line["signing_keys"] = match &rotation {
        Ok(r) => serde_json::json!({ "published": r.published, "deleted": r.deleted }),
        Err(e) => serde_json::json!({ "error": e.log_context().unwrap_or(e.code()) }),
    };
    if rotation.is_err() {
        line["status"] = "failed".into();
    }
    if report.iter().any(|s| s.error.is_some()) || rotation.is_err() {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// The scheduled rotation of the signing keys.
async fn rotate_signing_keys(env: &Env, now: i64) -> Result<signing::Rotation, ApiError> {
    let cfg = crate::config::Config::get(env)?;
    let db = env.d1("DB").map_err(ApiError::internal)?;
    signing::rotate(&db, &cfg, now, signing::ROTATE_AFTER_MS).await
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;

    static RULES: [Rule; 3] = [
        Rule {
            what: "first",
            keep_ms: 0,
            sql: "",
            batch: 10,
        },
        Rule {
            what: "second",
            keep_ms: 0,
            sql: "",
            batch: 10,
        },
        Rule {
            what: "third",
            keep_ms: 0,
            sql: "",
            batch: 10,
        },
    ];

    /// Runs the rules with each statement's outcome taken in turn from `outcomes`.
    async fn run(outcomes: Vec<(&'static str, Result<usize, ApiError>)>) -> Vec<Swept> {
        let outcomes = RefCell::new(VecDeque::from(outcomes));
        run_rules(&RULES, |rule| {
            let (what, outcome) = outcomes.borrow_mut().pop_front().expect("an outcome left");
            assert_eq!(what, rule.what, "statements run rule by rule, in order");
            async move { outcome }
        })
        .await
    }

    #[tokio::test]
    async fn a_rule_stops_at_its_first_short_batch() {
        let report = run(vec![
            ("first", Ok(10)),
            ("first", Ok(3)),
            ("second", Ok(0)),
            ("third", Ok(10)),
            ("third", Ok(9)),
        ])
        .await;
        assert_eq!(
            report
                .iter()
                .map(|s| (s.what, s.deleted, s.statements, s.more))
                .collect::<Vec<_>>(),
            [
                ("first", 13, 2, false),
                ("second", 0, 1, false),
                ("third", 19, 2, false)
            ]
        );
    }

    #[tokio::test]
    async fn a_rule_with_more_due_stops_at_its_statement_budget_and_says_so() {
        let mut outcomes: Vec<_> = (0..MAX_STATEMENTS_PER_RULE)
            .map(|_| ("first", Ok(10)))
            .collect();
        outcomes.extend([("second", Ok(1)), ("third", Ok(0))]);
        let report = run(outcomes).await;
        assert_eq!(report[0].deleted, 10 * MAX_STATEMENTS_PER_RULE);
        assert_eq!(report[0].statements, MAX_STATEMENTS_PER_RULE);
        assert!(report[0].more);
        let line = log_line("*/15 * * * *", &report, 5);
        assert_eq!(line["more"], serde_json::json!(["first"]));
        assert_eq!(line["deleted"]["second"], 1);
        assert_eq!(line["status"], "ok");
    }

    #[tokio::test]
    async fn a_failing_rule_is_logged_and_the_others_still_run() {
        let report = run(vec![
            ("first", Ok(10)),
            (
                "first",
                Err(ApiError::internal("D1 `DELETE FROM first…`: busy")),
            ),
            ("second", Ok(2)),
            ("third", Ok(0)),
        ])
        .await;
        assert_eq!(report[0].deleted, 10);
        assert_eq!(report[1].deleted, 2);
        let line = log_line("*/15 * * * *", &report, 5);
        assert_eq!(line["status"], "failed");
        assert_eq!(line["errors"]["first"], "D1 `DELETE FROM first…`: busy");
        assert_eq!(line["statements"], 4);
        assert!(line["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("upk")));
    }

    #[test]
    fn a_run_stays_within_its_statement_budget_however_many_rules_there_are() {
        assert!(upkeep::RULES.len() <= MAX_STATEMENTS_PER_RUN);
        // The Workers Free plan's 50 D1 queries per invocation, with the retention, wipe and
        // signing-key steps.
        assert!(
            upkeep::RULES.len() * statements_per_rule(upkeep::RULES.len())
                + RETENTION_STATEMENTS
                + WIPE_STATEMENTS
                + 2
                <= 50
        );
        assert_eq!(statements_per_rule(upkeep::RULES.len()), 4);
        for rules in 1..=MAX_STATEMENTS_PER_RUN {
            let per_rule = statements_per_rule(rules);
            assert!((1..=MAX_STATEMENTS_PER_RULE).contains(&per_rule), "{rules}");
            assert!(rules * per_rule <= MAX_STATEMENTS_PER_RUN, "{rules}");
        }
        assert_eq!(statements_per_rule(12), 3);
    }
}
