//! Search over the caller's own conversations: titles and message text (`store::search`).

use worker::Response;

use crate::auth::guard::Principal;
use crate::domain::search_query::SearchQuery;
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{decode_cursor, encode_cursor, ok, page_limit, Ctx, Page};
use crate::store::search;
use crate::util::JS_MAX_SAFE;

/// `GET /api/search?q=&org_id=&limit=&cursor=`: the newest matches first, each with a snippet
/// whose matches are marked by U+0002 … U+0003.
pub async fn search(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let query = SearchQuery::parse(&ctx.query_param("q").unwrap_or_default())
        .map_err(|e| ApiError::param("q", e))?;
    let limit = page_limit(&ctx)?;
    let before = match ctx.query_param("cursor") {
        Some(c) => decode_cursor(&c)?.0,
        None => JS_MAX_SAFE,
    };
    let db = ctx.db()?;
    // A named org must be one of the caller's (404 otherwise, as on every org route).
    let org = match ctx.query_param("org_id") {
        Some(named) => Some(gateway::acting_org(&db, &who, Some(&named)).await?),
        None => None,
    };
    let rows = search::search(
        &db,
        &who.user_id,
        &query,
        org.as_deref(),
        who.session_id.as_deref(),
        before,
        limit + 1,
    )
    .await?;
    let next_cursor = (rows.len() > limit)
        .then(|| rows.get(limit - 1).map(|r| encode_cursor(r.entry, "")))
        .flatten();
    let items = rows.iter().take(limit).map(search::HitRow::view).collect();
    ok(&Page { items, next_cursor })
}
