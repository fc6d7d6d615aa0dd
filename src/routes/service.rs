//! The service's own routes: health, identity, API document.

use serde_json::json;
use worker::Response;

use crate::error::{ApiError, ApiResult};
use crate::http::{json_response, ok, Ctx};

/// Really queries D1 and KV; 503 names the failing check.
pub async fn health(ctx: Ctx) -> ApiResult<Response> {
    let d1 = match ctx.db() {
        Ok(db) => crate::store::first::<serde_json::Value>(&db, "SELECT 1 AS one", &[])
            .await
            .is_ok(),
        Err(_) => false,
    };
    let kv = match ctx.kv() {
        Ok(kv) => {
            crate::store::delay::kv().await;
            kv.get("health:probe").text().await.is_ok()
        }
        Err(_) => false,
    };
    let word = |ok: bool| if ok { "ok" } else { "error" };
    let checks = json!({ "d1": word(d1), "kv": word(kv) });
    if d1 && kv {
        return ok(&json!({ "status": "ok", "checks": checks }));
    }
    let failing: Vec<&str> = [("d1", d1), ("kv", kv)]
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    let mut problem =
        ApiError::Unavailable(format!("failing: {}", failing.join(", "))).problem_json();
    problem["checks"] = checks;
    let mut resp = json_response(503, &problem)?;
    resp.headers_mut()
        .set("content-type", "application/problem+json")?;
    Ok(resp)
}

pub async fn info(_ctx: Ctx) -> ApiResult<Response> {
    ok(&json!({
        "name": "chatgate",
        "version": env!("CARGO_PKG_VERSION"),
        "openapi": "/openapi.json",
    }))
}

pub async fn openapi(ctx: Ctx) -> ApiResult<Response> {
    // The document (half a megabyte) is a static asset of the build (scripts/build-web.sh
    // copies src/openapi.json), not part of the wasm: no isolate holds it in its memory.
    let assets = ctx
        .env
        .assets("ASSETS")
        .map_err(|e| ApiError::internal(format!("assets binding: {e}")))?;
    let asset = assets
        .fetch("https://assets.invalid/openapi.json", None)
        .await?;
    if asset.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "the build has no openapi.json (assets answered {})",
            asset.status_code()
        )));
    }
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "public, max-age=300")?;
    let (_, body) = asset.into_parts();
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .body(body))
}

/// chatgate's public signing keys (RFC 7517), from which anyone verifies an access token.
pub async fn jwks(ctx: Ctx) -> ApiResult<Response> {
    let keys = crate::auth::signing::jwks(&ctx.db()?, ctx.now).await?;
    let body = serde_json::to_vec(&json!({ "keys": keys })).map_err(ApiError::internal)?;
    let mut resp = Response::builder().with_status(200).fixed(body);
    resp.headers_mut()
        .set("content-type", "application/json; charset=utf-8")?;
    resp.headers_mut().set(
        "cache-control",
        &format!(
            "public, max-age={}",
            crate::auth::signing::JWKS_MAX_AGE_SECS
        ),
    )?;
    Ok(resp)
}
