//! The request context handed to every handler, and the helpers for bodies and responses.

use std::rc::Rc;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{D1Database, Env, Headers, KvStore, Request, Response};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};

/// Body limits: 1 MiB by default, 16 KiB on the auth routes.
pub const BODY_LIMIT: usize = 1024 * 1024;
pub const AUTH_BODY_LIMIT: usize = 16 * 1024;

pub struct Ctx {
    pub req: Request,
    pub env: Env,
    pub cfg: Rc<Config>,
    pub request_id: String,
    /// Path parameters, in the order of the route's pattern.
    pub params: Vec<String>,
    /// The client address (`app::client_address`): `CF-Connecting-IP` behind Cloudflare,
    /// else `unknown`; never `X-Forwarded-For`.
    pub ip: String,
    pub user_agent: String,
    pub now: i64,
    /// The fetch event's context, to keep work going after the response (`wait_until`):
    /// usage of a reply whose client went away is still recorded.
    pub wait: Option<Rc<worker::Context>>,
    /// Where the request's time went, for the log line and the `Server-Timing` header.
    pub timing: Rc<Timing>,
}

/// Starts tasks that outlive the response, as `Ctx::spawn` does.
#[derive(Clone)]
pub struct Spawner(Option<Rc<worker::Context>>);

impl Spawner {
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        match &self.0 {
            Some(w) => w.wait_until(task),
            None => worker::wasm_bindgen_futures::spawn_local(task),
        }
    }
}

/// Phases of one request, each timed from the end of the one before (`Server-Timing`).
/// The clock is the runtime's, which moves across I/O: a phase times its storage and
/// network round trips, not its CPU. Also the org the request acted in, once known, for the
/// log line.
#[derive(Debug, Default)]
pub struct Timing {
    start: i64,
    phases: std::cell::RefCell<Vec<(&'static str, i64)>>,
    org: std::cell::RefCell<Option<String>>,
}

impl Timing {
    pub fn new(start: i64) -> Self {
        Self {
            start,
            ..Default::default()
        }
    }

    /// The org the request acts in (an id: never a secret), for its log line.
    pub fn set_org(&self, org_id: &str) {
        *self.org.borrow_mut() = Some(org_id.to_string());
    }

    pub fn org(&self) -> Option<String> {
        self.org.borrow().clone()
    }

    pub fn start(&self) -> i64 {
        self.start
    }

    /// Ends the current phase under `name`.
    pub fn mark(&self, name: &'static str) {
        let now = crate::util::now_ms();
        let mut phases = self.phases.borrow_mut();
        let since = self.start + phases.iter().map(|(_, d)| d).sum::<i64>();
        phases.push((name, (now - since).max(0)));
    }

    /// `auth;dur=2, conversation;dur=3, …`: a `Server-Timing` value.
    pub fn header_value(&self) -> String {
        self.phases
            .borrow()
            .iter()
            .map(|(name, d)| format!("{name};dur={d}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The phases as a JSON object for the log line.
    pub fn to_json(&self) -> serde_json::Value {
        self.phases
            .borrow()
            .iter()
            .map(|(name, d)| (name.to_string(), serde_json::Value::from(*d)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

impl Ctx {
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.req.headers().get(name).ok().flatten()
    }

    pub fn db(&self) -> ApiResult<D1Database> {
        self.env
            .d1("DB")
            .map_err(|e| ApiError::internal(format!("D1 binding: {e}")))
    }

    pub fn kv(&self) -> ApiResult<KvStore> {
        self.env
            .kv("KV")
            .map_err(|e| ApiError::internal(format!("KV binding: {e}")))
    }

    /// The query string's pairs.
    pub fn query(&self) -> Vec<(String, String)> {
        self.req
            .url()
            .map(|u| {
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs `task` to completion even if the client goes away: under the fetch event's
    /// `wait_until` when there is one, else as a local task.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        self.spawner().spawn(task);
    }

    /// `spawn` for a task that starts where the context cannot go (in another task).
    pub fn spawner(&self) -> Spawner {
        Spawner(self.wait.clone())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.header("cookie")?;
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }

    /// The raw body, refused with 413 as soon as it passes `limit` bytes.
    pub async fn body_bytes(&mut self, limit: usize) -> ApiResult<Vec<u8>> {
        if let Some(len) = self
            .header("content-length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            if len > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
        }
        let Ok(mut stream) = self.req.stream() else {
            return Ok(Vec::new()); // no body at all
        };
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::validation(format!("could not read the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// A JSON body: 415 unless the content type is JSON, 413 over `limit`, 400 when malformed
    /// or when it has fields the route does not know.
    pub async fn json<T: DeserializeOwned>(&mut self, limit: usize) -> ApiResult<T> {
        match self.json_opt(limit).await? {
            Some(v) => Ok(v),
            None => Err(ApiError::validation("a JSON body is required")),
        }
    }

    /// Like `json`, but a request with no body at all is `None` (for optional bodies).
    pub async fn json_opt<T: DeserializeOwned>(&mut self, limit: usize) -> ApiResult<Option<T>> {
        let content_type = self.header("content-type");
        let body = self.body_bytes(limit).await?;
        if body.is_empty() && content_type.is_none() {
            return Ok(None);
        }
        if !content_type.as_deref().is_some_and(is_json_content_type) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&body).map(Some)
    }
}

pub fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body, telling malformed JSON apart from JSON of the wrong shape. Every body
/// is an object: serde would also read a struct from an array (`[null, null]` as `{}`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => ApiError::validation("the request body must be a JSON object"),
                Err(e) => ApiError::MalformedJson(strip_position(&e.to_string())),
            },
        );
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Validation(strip_position(&e.to_string())),
        _ => ApiError::MalformedJson(strip_position(&e.to_string())),
    })
}

/// serde_json appends " at line 1 column 20"; the client needs the message, not our parser's state.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub fn json_response<T: Serialize>(status: u16, value: &T) -> ApiResult<Response> {
    let body = serde_json::to_vec(value)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body))
}

/// An error as `application/problem+json` (with `allow` / `retry-after` when due): the
/// shape of every error outside the model-API ingress routes.
pub fn problem(e: &ApiError) -> Response {
    error_response(e, "application/problem+json", e.problem_json().to_string())
}

/// An error response: its status, `retry-after` and `allow` headers, and the given body
/// (an ingress format renders its own shape of the error).
pub fn error_response(e: &ApiError, content_type: &str, body: String) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", content_type);
    if let Some(secs) = e.retry_after() {
        let _ = headers.set("retry-after", &secs.to_string());
    }
    if let ApiError::MethodNotAllowed(allow) = e {
        let _ = headers.set("allow", allow);
    }
    Response::builder()
        .with_status(e.status())
        .with_headers(headers)
        .fixed(body.into_bytes())
}

pub fn ok<T: Serialize>(value: &T) -> ApiResult<Response> {
    json_response(200, value)
}

pub fn created<T: Serialize>(value: &T) -> ApiResult<Response> {
    json_response(201, value)
}

pub fn no_content() -> ApiResult<Response> {
    Ok(Response::builder().with_status(204).empty())
}

/// `?limit=` for list endpoints: default 20, 1 to 100.
pub fn page_limit(ctx: &Ctx) -> ApiResult<usize> {
    match ctx.query_param("limit") {
        None => Ok(20),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(
                "limit must be an integer from 1 to 100",
            )),
        },
    }
}

/// A list page as every list endpoint returns it.
#[derive(Serialize)]
pub struct Page<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Opaque cursors: base64url of "<number>|<id>", the sort key of the last item returned.
pub fn encode_cursor(key: i64, id: &str) -> String {
    crate::crypto::b64url(format!("{key}|{id}").as_bytes())
}

pub fn decode_cursor(s: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::validation("cursor is not valid");
    let raw = crate::crypto::b64url_decode(s).ok_or_else(bad)?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (key, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((key.parse().map_err(|_| bad())?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_is_timed_from_the_end_of_the_one_before() {
        let start = crate::util::now_ms() - 30;
        let timing = Timing::new(start);
        assert_eq!(timing.header_value(), "");
        timing.mark("auth");
        timing.mark("reply");
        let phases: Vec<(String, i64)> = timing
            .header_value()
            .split(", ")
            .map(|p| {
                let (name, dur) = p.split_once(";dur=").unwrap();
                (name.to_string(), dur.parse().unwrap())
            })
            .collect();
        assert_eq!(phases.len(), 2);
        assert_eq!(
            (phases[0].0.as_str(), phases[1].0.as_str()),
            ("auth", "reply")
        );
        // The first phase holds the 30 ms since the start; the second only what came after.
        assert!((30..1000).contains(&phases[0].1), "{phases:?}");
        assert!(phases[1].1 < 1000, "{phases:?}");
        assert_eq!(timing.to_json()["auth"], phases[0].1);
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
    }

    #[test]
    fn malformed_and_misshapen_json_are_told_apart() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":"),
            Err(ApiError::MalformedJson(_))
        ));
        match parse_json::<Body>(br#"{"name":"a","admin":true}"#) {
            Err(ApiError::Validation(m)) => assert!(m.contains("unknown field `admin`"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_json_but_not_an_object_is_refused() {
        // serde reads a struct from an array too: `[null, null]` was an empty PATCH.
        for body in [&br#"["a"]"#[..], b" [null]", b"\"a\"", b"null", b"1"] {
            match parse_json::<Body>(body) {
                Err(ApiError::Validation(m)) => assert!(m.contains("JSON object"), "{m}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(matches!(
            parse_json::<Body>(b"[1,"),
            Err(ApiError::MalformedJson(_))
        ));
        assert_eq!(parse_json::<Body>(b" {\"name\":\"a\"}").unwrap().name, "a");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/problem+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor(1234, "cnv_x");
        assert_eq!(decode_cursor(&c).unwrap(), (1234, "cnv_x".to_string()));
        assert!(decode_cursor("%%%").is_err());
        assert!(decode_cursor(&crate::crypto::b64url(b"nope")).is_err());
    }
}
