//! Requests to a provider: every URL through the outbound rule (`domain::outbound::check`,
//! with `OIDC_ALLOW_INSECURE_HOSTS`), redirects not followed, 10 seconds, and bodies read up to
//! 256 KiB. Errors say what failed, never with a token, code or secret in them.

use std::time::Duration;

use futures::future::{select, Either};
use futures::StreamExt;
use serde_json::Value;
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::domain::outbound::{self, AllowedHosts};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 256 * 1024;
/// Some providers (GitHub's API) refuse requests without a user agent.
const USER_AGENT: &str = "chatgate-sign-in/1";

/// A provider's answer: its status and its body as JSON (`Value::Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

pub enum Body<'a> {
    None,
    /// `application/x-www-form-urlencoded`.
    Form(&'a [(&'a str, &'a str)]),
}

/// Sends a request to `raw_url` if the outbound rule allows it.
pub async fn send(
    method: Method,
    raw_url: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
    allowed: &AllowedHosts,
) -> Result<Answer, String> {
    let url = outbound::check(raw_url, allowed).map_err(|e| format!("the provider's URL {e}"))?;
    let request = (|| {
        let h = Headers::new();
        h.set("accept", "application/json")?;
        h.set("user-agent", USER_AGENT)?;
        for (k, v) in headers {
            h.set(k, v)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method)
            .with_redirect(RequestRedirect::Manual);
        if let Body::Form(pairs) = body {
            h.set("content-type", "application/x-www-form-urlencoded")?;
            init.with_body(Some(form_encode(pairs).into()));
        }
        init.with_headers(h);
        Request::new_with_init(url.as_str(), &init)
    })()
    .map_err(|e| format!("the request could not be built: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let host = url.host_str().unwrap_or("").to_string();
    let exchange = async {
        let mut resp = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| format!("{host} could not be reached: {e}"))?;
        let status = resp.status_code();
        let mut bytes = Vec::new();
        if let Ok(mut stream) = resp.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("{host}: the answer broke off: {e}"))?;
                if bytes.len() + chunk.len() > MAX_BODY {
                    return Err(format!("{host}: the answer is over {MAX_BODY} bytes"));
                }
                bytes.extend_from_slice(&chunk);
            }
        }
        Ok(Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    };
    let outcome = match select(Box::pin(exchange), worker::Delay::from(TIMEOUT)).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => {
            controller.abort();
            Err(format!(
                "{host} did not answer within {} s",
                TIMEOUT.as_secs()
            ))
        }
    };
    outcome
}

/// GETs JSON; anything but a 2xx JSON answer is an error.
pub async fn get_json(
    url: &str,
    headers: &[(&str, &str)],
    allowed: &AllowedHosts,
) -> Result<Value, String> {
    let answer = send(Method::Get, url, headers, Body::None, allowed).await?;
    if !(200..300).contains(&answer.status) {
        return Err(format!("{} answered {}", host_of(url), answer.status));
    }
    if answer.body.is_null() {
        return Err(format!("{} did not answer JSON", host_of(url)));
    }
    Ok(answer.body)
}

fn host_of(url: &str) -> String {
    worker::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    worker::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded_as_html_forms_are() {
        assert_eq!(
            form_encode(&[("code", "a b&c"), ("redirect_uri", "http://x/cb?y=1")]),
            "code=a+b%26c&redirect_uri=http%3A%2F%2Fx%2Fcb%3Fy%3D1"
        );
    }
}
