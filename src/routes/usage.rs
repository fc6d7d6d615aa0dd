//! `GET /api/orgs/{org}/usage`: an org's metered usage, for its admins and owners.
//!
//! `?from=&to=` are `YYYY-MM-DD` (midnight UTC) or RFC 3339 times; `from` is inclusive,
//! `to` exclusive; by default the current UTC month so far. `?group_by=day|user|model`
//! (default `day`). The answer is a list page, `{"items": [{key, requests, prompt_tokens,
//! completion_tokens, cost_micros}], "next_cursor": null}`: every group in one page (at most
//! 1000, ordered by key), so `next_cursor` is always null. Keys: `YYYY-MM-DD`, a user id
//! (`deleted` once the user is gone) or a `provider/model`.

use worker::Response;

use crate::auth::guard::Principal;
use crate::error::{ApiError, ApiResult};
use crate::http::{ok, Ctx, Page};
use crate::limits::next_month_start_ms;
use crate::routes::orgs::scope;
use crate::store::orgs::Role;
use crate::store::usage::{self, GroupBy};
use crate::util::parse_date_or_time;

/// The start of the UTC month of `now`.
fn month_start_ms(now: i64) -> i64 {
    let first = format!("{}-01", crate::util::month_of(now));
    parse_date_or_time(&first).unwrap_or(now)
}

/// The period asked for: `[from, to)`, defaulting to this month.
pub(crate) fn period(from: Option<&str>, to: Option<&str>, now: i64) -> ApiResult<(i64, i64)> {
    let instant = |name: &str, raw: &str| {
        parse_date_or_time(raw.trim()).ok_or_else(|| {
            ApiError::validation(format!("{name} must be YYYY-MM-DD or an RFC 3339 time"))
        })
    };
    let from = match from {
        Some(raw) => instant("from", raw)?,
        None => month_start_ms(now),
    };
    let to = match to {
        Some(raw) => instant("to", raw)?,
        None => next_month_start_ms(now),
    };
    if from >= to {
        return Err(ApiError::validation("from must be before to"));
    }
    Ok((from, to))
}

fn group_by(raw: Option<&str>) -> ApiResult<GroupBy> {
    GroupBy::parse(raw.unwrap_or("day"))
        .ok_or_else(|| ApiError::validation("group_by must be day, user or model"))
}

pub async fn get(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let group = group_by(ctx.query_param("group_by").as_deref())?;
    let (from, to) = period(
        ctx.query_param("from").as_deref(),
        ctx.query_param("to").as_deref(),
        ctx.now,
    )?;
    let items = usage::aggregate(&ctx.db()?, &scope.org_id, from, to, group).await?;
    ok(&Page {
        items,
        next_cursor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{parse_rfc3339, rfc3339};

    const NOW: i64 = 1_767_323_045_678; // 2026-01-02T03:04:05.678Z

    #[test]
    fn the_period_defaults_to_the_current_month() {
        let (from, to) = period(None, None, NOW).unwrap();
        assert_eq!(rfc3339(from), "2026-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(to), "2026-02-01T00:00:00.000Z");
    }

    #[test]
    fn the_period_accepts_dates_and_times_and_refuses_the_rest() {
        let (from, to) =
            period(Some("2025-12-01"), Some("2025-12-02T12:00:00+02:00"), NOW).unwrap();
        assert_eq!(from, parse_rfc3339("2025-12-01T00:00:00Z").unwrap());
        assert_eq!(to, parse_rfc3339("2025-12-02T10:00:00Z").unwrap());
        for (from, to) in [
            (Some("yesterday"), None),
            (None, Some("2026/01/05")),
            (Some("2026-01-05"), Some("2026-01-05")),
            (Some("2026-01-06"), Some("2026-01-05")),
        ] {
            assert!(period(from, to, NOW).is_err(), "{from:?} {to:?}");
        }
    }

    #[test]
    fn group_by_knows_three_groupings() {
        assert!(group_by(None).unwrap() == GroupBy::Day);
        assert!(group_by(Some("model")).unwrap() == GroupBy::Model);
        assert!(group_by(Some("key")).is_err());
    }
}
