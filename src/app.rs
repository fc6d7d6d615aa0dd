//! The request pipeline: request id, routing, authentication, the handler, error mapping,
//! common headers, and one structured log line per request.

use std::rc::Rc;

use worker::{Context, Env, Headers, Request, Response};

use crate::auth::guard;
use crate::config::Config;
use crate::error::ApiError;
pub use crate::http::problem;
use crate::http::{Ctx, Timing};
use crate::routes::{self, Handler, Match};
use crate::util::{new_id, now_ms};

pub async fn handle(req: Request, env: Env, wait: Context) -> worker::Result<Response> {
    let started = now_ms();
    let request_id = new_id("req");
    // The method as the client sent it: `req.method()` reads every method the `worker` crate
    // does not know (QUERY, PROPFIND…) as GET.
    let method = req.inner().method();
    let path = req.path();

    if !routes::is_api_path(&path) {
        let resp = match routes::web_client_method(&method) {
            Ok(()) => serve_asset(req, &env).await.unwrap_or_else(|e| problem(&e)),
            Err(e) => problem(&e),
        };
        return finish(resp, &request_id, None, &env);
    }

    let timing = Rc::new(Timing::new(started));
    let (route_name, result) = match routes::find(&method, &path) {
        Match::NotFound => ("-", Err(ApiError::NotFound)),
        Match::WrongMethod(allow) => ("-", Err(ApiError::MethodNotAllowed(allow))),
        Match::Found(route, params) => (
            route.pattern,
            dispatch(route, params, req, &env, wait, &request_id, timing.clone()).await,
        ),
    };
    let (resp, failure) = match result {
        Ok(resp) => (resp, None),
        Err(e) => {
            let failure = e.log_context().map(|c| (e.code(), c.to_string()));
            (crate::ingress::error_response(&path, &e), failure)
        }
    };
    let request = RequestFacts {
        request_id: &request_id,
        route: route_name,
        status: resp.status_code(),
        duration_ms: now_ms() - started,
        org: timing.org(),
    };
    if let Some((code, context)) = failure {
        worker::console_error!(
            "{}",
            request.log_line(serde_json::json!({"error": code, "context": context}))
        );
    }
    worker::console_log!(
        "{}",
        request.log_line(serde_json::json!({"method": method, "phases": timing.to_json()}))
    );
    finish(resp, &request_id, Some(&timing), &env)
}

/// What every log line of a request carries (ids only: never a secret).
struct RequestFacts<'a> {
    request_id: &'a str,
    route: &'a str,
    status: u16,
    duration_ms: i64,
    /// The org it acted in, when the pipeline or the handler knows it (`Timing::set_org`).
    org: Option<String>,
}

impl RequestFacts<'_> {
    /// A JSON log line: these facts and `more` (an object).
    fn log_line(&self, more: serde_json::Value) -> serde_json::Value {
        let mut line = serde_json::json!({
            "request_id": self.request_id,
            "route": self.route,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "org": self.org,
        });
        if let (Some(line), serde_json::Value::Object(more)) = (line.as_object_mut(), more) {
            line.extend(more);
        }
        line
    }
}

async fn dispatch(
    route: &'static routes::Route,
    params: Vec<String>,
    req: Request,
    env: &Env,
    wait: Context,
    request_id: &str,
    timing: Rc<Timing>,
) -> Result<Response, ApiError> {
    let cfg = Config::get(env)?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let ip = client_address(
        cfg.trust_cf_connecting_ip,
        header("cf-connecting-ip").as_deref(),
    );
    let user_agent = header("user-agent").unwrap_or_default();
    let ctx = Ctx {
        req,
        env: env.clone(),
        cfg,
        request_id: request_id.to_string(),
        params,
        ip,
        user_agent,
        now: timing.start(),
        wait: Some(Rc::new(wait)),
        timing,
    };
    // The org an org's route names (the handler checks the caller's membership: the line's
    // status says whether it passed).
    if route.pattern.starts_with("/api/orgs/{org}") {
        ctx.timing.set_org(ctx.param(0));
    }
    match &route.handler {
        Handler::Public(f) => f(ctx).await,
        Handler::Authed(access, f) => {
            // A model call looks its credential up alongside its own reads, and counts an
            // API key's rate with its budget (`guard::check_of`).
            let check = guard::check_of(route.method, route.pattern);
            let who = guard::authenticate(&ctx, *access, check).await?;
            ctx.timing.mark("auth");
            if let Some(key) = &who.api_key {
                ctx.timing.set_org(&key.org_id);
                if check == guard::Check::Before {
                    let rpm =
                        crate::limits::key_rpm(key.settings.rate_limit_rpm, ctx.cfg.api_key_rpm);
                    crate::limits::client::admit_key(&ctx.env, &key.org_id, &key.key_id, rpm)
                        .await?;
                    ctx.timing.mark("rate-limit");
                }
            }
            let pending = who.clone();
            let result = f(ctx, who).await;
            // The route confirmed the credential before its provider request; nothing leaves,
            // not even a refusal, unless it passed (a no-op once it has).
            pending.confirmed().await?;
            result
        }
    }
}

/// What per-address limits, sessions and the audit log know a client by, when the runtime
/// gives no address of its own.
pub const UNKNOWN_ADDRESS: &str = "unknown";

/// The client's address. Behind Cloudflare (`TRUST_CF_CONNECTING_IP=true`) that is
/// `CF-Connecting-IP`, which Cloudflare sets and a client cannot. Anywhere else (`wrangler
/// dev`, a self-hosted workerd) the header is whatever the client sent, and the runtime gives
/// the Worker no socket address (`wrangler dev` fills the header in from the socket only when
/// the client left it out), so every client is `unknown`: per-address limits then count all
/// clients together. `X-Forwarded-For` is never read.
pub fn client_address(trust_cf_connecting_ip: bool, cf_connecting_ip: Option<&str>) -> String {
    cf_connecting_ip
        .filter(|_| trust_cf_connecting_ip)
        .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
        .map_or_else(|| UNKNOWN_ADDRESS.to_string(), |ip| ip.to_string())
}

/// Copies the response with the headers every response carries. (Responses from fetch and
/// from Durable Objects have immutable headers, so they are rebuilt rather than edited.)
/// Common headers; `api` (with the request's timing) for API routes, `None` for the web client.
fn finish(
    resp: Response,
    request_id: &str,
    api: Option<&Timing>,
    env: &Env,
) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in resp.headers().entries() {
        headers.append(&name, &value)?;
    }
    headers.set("x-request-id", request_id)?;
    // Where Anthropic's clients read it (`_request_id`, in their errors too).
    headers.set("request-id", request_id)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    if let Some(timing) = api {
        if !headers.has("cache-control")? {
            headers.set("cache-control", "no-store")?;
        }
        let phases = timing.header_value();
        if !phases.is_empty() {
            headers.set("server-timing", &phases)?;
        }
    } else {
        let frame_ancestors = Config::get(env)
            .map(|c| c.frame_ancestors.clone())
            .unwrap_or_else(|_| "'self'".into());
        headers.set(
            "content-security-policy",
            &format!(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                 form-action 'self'; frame-ancestors {frame_ancestors}"
            ),
        )?;
        headers.set(
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        )?;
        headers.set("cross-origin-opener-policy", "same-origin")?;
    }
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}

/// The web client: static assets, with the single-page app's index for unknown pages.
async fn serve_asset(req: Request, env: &Env) -> Result<Response, ApiError> {
    let assets = env
        .assets("ASSETS")
        .map_err(|e| ApiError::internal(format!("assets binding: {e}")))?;
    Ok(assets.fetch_request(req).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_s_log_lines_both_carry_its_id_route_status_duration_and_org() {
        let facts = RequestFacts {
            request_id: "req_1",
            route: "/api/orgs/{org}/usage",
            status: 503,
            duration_ms: 12,
            org: Some("org_1".into()),
        };
        for (more, key) in [
            (
                serde_json::json!({"error": "service_unavailable", "context": "D1 …"}),
                "error",
            ),
            (serde_json::json!({"method": "GET", "phases": {}}), "method"),
        ] {
            let line = facts.log_line(more);
            assert_eq!(
                (
                    &line["request_id"],
                    &line["route"],
                    &line["status"],
                    &line["duration_ms"],
                    &line["org"]
                ),
                (
                    &serde_json::json!("req_1"),
                    &serde_json::json!("/api/orgs/{org}/usage"),
                    &serde_json::json!(503),
                    &serde_json::json!(12),
                    &serde_json::json!("org_1")
                ),
                "{line}"
            );
            assert!(line.get(key).is_some(), "{line}");
        }
    }

    #[test]
    fn cf_connecting_ip_is_the_address_only_when_cloudflare_is_trusted_to_set_it() {
        for (trust, header, want) in [
            (true, Some("203.0.113.7"), "203.0.113.7"),
            (true, Some(" 2001:db8::1 "), "2001:db8::1"),
            (true, Some("2001:DB8:0::1"), "2001:db8::1"),
            (true, None, UNKNOWN_ADDRESS),
            (true, Some("not an address"), UNKNOWN_ADDRESS),
            (true, Some("203.0.113.7, 10.0.0.1"), UNKNOWN_ADDRESS),
            (false, Some("203.0.113.7"), UNKNOWN_ADDRESS),
            (false, Some("127.0.0.1"), UNKNOWN_ADDRESS),
            (false, None, UNKNOWN_ADDRESS),
        ] {
            assert_eq!(
                client_address(trust, header),
                want,
                "trust {trust}, header {header:?}"
            );
        }
    }
}
