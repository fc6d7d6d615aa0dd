//! Reaching a Durable Object from the Worker: its stub by name, and an internal request.

use worker::{Env, Method, Request, RequestInit, Response, Stub};

use crate::error::{ApiError, ApiResult};

/// The stub of the object `name` in the namespace bound as `binding`.
pub fn stub(env: &Env, binding: &str, name: &str) -> ApiResult<Stub> {
    let ns = env
        .durable_object(binding)
        .map_err(|e| ApiError::internal(format!("{binding} binding: {e}")))?;
    Ok(ns.id_from_name(name)?.get_stub()?)
}

/// An internal request for an object (the host only names it in logs).
pub fn request(
    method: Method,
    host: &str,
    path: &str,
    body: Option<String>,
) -> worker::Result<Request> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    Request::new_with_init(&format!("https://{host}{path}"), &init)
}

/// Sends `req` to the object `name` of `binding` (after `store::delay`'s simulated distance,
/// when the benchmark sets one): every request from the Worker to an object goes here.
pub async fn fetch(env: &Env, binding: &str, name: &str, req: Request) -> ApiResult<Response> {
    let stub = stub(env, binding, name)?;
    crate::store::delay::durable_object().await;
    Ok(stub.fetch_with_request(req).await?)
}
