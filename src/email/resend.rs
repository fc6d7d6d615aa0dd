//! Resend's REST API: `POST {RESEND_API_URL}/emails` with `Authorization: Bearer
//! RESEND_API_KEY`, a JSON body `{from, to: [..], subject, text, html}`, and our message id as
//! the `Idempotency-Key` (a retried request is sent once). The URL is held to the rule of every
//! outbound request (`domain::outbound::check`): https to a public host, unless the operator
//! lists the host in `WEBHOOK_ALLOW_INSECURE_HOSTS` (the tests' local receiver).

use std::time::Duration;

use futures::future::{select, Either};
use serde_json::{json, Value};
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Url};

use super::{Message, Sender};
use crate::domain::outbound::{self, AllowedHosts};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the message goes, if the outbound rule allows it.
pub fn endpoint(api_url: &str, allowed: &AllowedHosts) -> Result<Url, String> {
    outbound::check(&format!("{api_url}/emails"), allowed)
        .map_err(|e| format!("RESEND_API_URL is refused by the outbound rule: the URL {e}"))
}

/// The request body Resend's `POST /emails` takes.
pub fn body(from: &Sender, message: &Message) -> Value {
    json!({
        "from": from.header(),
        "to": [message.to],
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
    })
}

pub async fn send(
    api_url: &str,
    api_key: &str,
    from: &Sender,
    message: &Message,
    allowed: &AllowedHosts,
) -> Result<(), String> {
    let url = endpoint(api_url, allowed)?;
    let request = (|| {
        let headers = Headers::new();
        headers.set("authorization", &format!("Bearer {api_key}"))?;
        headers.set("content-type", "application/json")?;
        // Resend refuses requests without a user agent.
        headers.set("user-agent", "chatgate-mail/1")?;
        headers.set("idempotency-key", &message.id)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(body(from, message).to_string().into()));
        Request::new_with_init(url.as_str(), &init)
    })()
    .map_err(|e| format!("the request could not be built: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sent = fetch.send_with_signal(&signal);
    let outcome = match select(Box::pin(sent), worker::Delay::from(TIMEOUT)).await {
        Either::Left((Ok(resp), _)) if (200..300).contains(&resp.status_code()) => Ok(()),
        Either::Left((Ok(resp), _)) => Err(format!("Resend answered {}", resp.status_code())),
        Either::Left((Err(e), _)) => Err(format!("Resend could not be reached: {e}")),
        Either::Right(_) => {
            controller.abort();
            Err(format!(
                "Resend did not answer within {} s",
                TIMEOUT.as_secs()
            ))
        }
    };
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Template;

    #[test]
    fn the_body_is_what_resend_takes() {
        let from = Sender::parse("chatgate <noreply@chat.example.com>").unwrap();
        let m = Template::ResetPassword
            .render(
                "ada@example.com",
                &[
                    ("name", "Ada"),
                    ("email", "ada@example.com"),
                    ("link", "https://x.example/r?token=t"),
                ],
            )
            .unwrap();
        let b = body(&from, &m);
        assert_eq!(b["from"], "chatgate <noreply@chat.example.com>");
        assert_eq!(b["to"], json!(["ada@example.com"]));
        assert_eq!(b["subject"], "Reset your password");
        assert!(b["text"].as_str().unwrap().contains("?token=t"));
        assert!(b["html"].as_str().unwrap().contains("<a href="));
    }

    #[test]
    fn the_api_url_is_held_to_the_outbound_rule() {
        let none = AllowedHosts::parse("").unwrap();
        assert_eq!(
            endpoint("https://api.resend.com", &none).unwrap().as_str(),
            "https://api.resend.com/emails"
        );
        for refused in [
            "http://api.resend.com",
            "https://127.0.0.1:9",
            "https://metadata.internal",
            "http://[::1]:80",
        ] {
            assert!(endpoint(refused, &none).is_err(), "{refused}");
        }
        let dev = AllowedHosts::parse("127.0.0.1").unwrap();
        assert!(endpoint("http://127.0.0.1:9999/hook", &dev).is_ok());
    }
}
