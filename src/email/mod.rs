//! Mail: messages rendered from templates (`templates`), delivered after the response by the
//! configured provider: Cloudflare's `send_email` binding (`cloudflare`), Resend's HTTP API
//! (`resend`), or none. With `DEV_MAILBOX=on` every message is also kept in D1 for the dev
//! mailbox (`GET /api/dev/mailbox`, the web client's `/dev/mailbox`), so local development
//! needs no provider.
//!
//! Links in mail are absolute: `PUBLIC_URL` when set, else the origin the request came to,
//! with the token in `?token=`. A token is in the mail only, never in a log line.

pub mod cloudflare;
pub mod resend;
pub mod templates;

use worker::Env;

pub use templates::Template;

use crate::config::Config;
use crate::domain::Email;
use crate::http::Ctx;

/// A rendered message to one recipient. Its `Debug` leaves the body out: it holds the link.
#[derive(Clone)]
pub struct Message {
    /// Ours: the dev mailbox's id, the provider's idempotency key.
    pub id: String,
    pub template: Template,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("template", &self.template)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// How mail leaves the Worker (`EMAIL_PROVIDER`). Its `Debug` leaves the API key out.
#[derive(Clone, PartialEq, Eq)]
pub enum Provider {
    /// Nothing is sent (the dev mailbox may still keep it).
    None,
    /// Cloudflare Email Service through the `send_email` binding named `EMAIL`.
    Cloudflare,
    /// Resend's REST API (`POST {api_url}/emails`) with `RESEND_API_KEY`.
    Resend { api_url: String, api_key: String },
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::None => f.write_str("None"),
            Provider::Cloudflare => f.write_str("Cloudflare"),
            Provider::Resend { api_url, .. } => f
                .debug_struct("Resend")
                .field("api_url", api_url)
                .finish_non_exhaustive(),
        }
    }
}

/// Who mail comes from (`EMAIL_FROM`: `address` or `Name <address>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    pub name: Option<String>,
    pub address: String,
}

impl Sender {
    pub fn parse(raw: &str) -> Result<Sender, String> {
        let raw = raw.trim();
        let (name, address) = match raw.strip_suffix('>').and_then(|r| r.rsplit_once('<')) {
            Some((name, address)) => (Some(name.trim().trim_matches('"').trim()), address),
            None => (None, raw),
        };
        if raw.chars().any(char::is_control) {
            return Err("EMAIL_FROM must be one line".into());
        }
        Email::parse(address).map_err(|e| format!("EMAIL_FROM: {e}"))?;
        Ok(Sender {
            name: name.filter(|n| !n.is_empty()).map(str::to_string),
            address: address.trim().to_string(),
        })
    }

    /// `Name <address>`, or the address alone.
    pub fn header(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} <{}>", self.address),
            None => self.address.clone(),
        }
    }
}

/// Mail settings, read with the rest of the configuration.
#[derive(Clone, Debug)]
pub struct MailConfig {
    pub provider: Provider,
    pub from: Sender,
    /// `DEV_MAILBOX=on`: every message is also kept for the dev mailbox (never in production).
    pub dev_mailbox: bool,
    /// `PUBLIC_URL`: the origin links in mail point to; `None`: the request's origin.
    pub public_url: Option<String>,
}

/// The raw variables `MailConfig::parse` reads.
#[derive(Default)]
pub struct MailVars<'a> {
    pub provider: Option<&'a str>,
    pub from: Option<&'a str>,
    pub resend_api_key: Option<&'a str>,
    pub resend_api_url: Option<&'a str>,
    pub dev_mailbox: Option<&'a str>,
    pub public_url: Option<&'a str>,
}

pub const RESEND_API_URL: &str = "https://api.resend.com";
/// The sender of a server that only keeps mail in the dev mailbox.
const DEV_FROM: &str = "chatgate <noreply@chatgate.localhost>";

impl MailConfig {
    pub fn parse(v: &MailVars) -> Result<MailConfig, String> {
        let dev_mailbox = match v
            .dev_mailbox
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => return Err(format!("DEV_MAILBOX must be on or off, not `{other}`")),
        };
        let provider = match v.provider.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("none") => Provider::None,
            Some("cloudflare") => Provider::Cloudflare,
            Some("resend") => Provider::Resend {
                api_url: v
                    .resend_api_url
                    .unwrap_or(RESEND_API_URL)
                    .trim()
                    .trim_end_matches('/')
                    .to_string(),
                api_key: v
                    .resend_api_key
                    .map(str::trim)
                    .ok_or("EMAIL_PROVIDER=resend needs the secret RESEND_API_KEY")?
                    .to_string(),
            },
            Some(other) => {
                return Err(format!(
                    "EMAIL_PROVIDER must be none, cloudflare or resend, not `{other}`"
                ))
            }
        };
        let from = match (v.from, &provider) {
            (Some(from), _) => Sender::parse(from)?,
            (None, Provider::None) => Sender::parse(DEV_FROM)?,
            (None, _) => return Err("EMAIL_PROVIDER needs EMAIL_FROM, the sender address".into()),
        };
        let public_url = v.public_url.map(parse_public_url).transpose()?;
        Ok(MailConfig {
            provider,
            from,
            dev_mailbox,
            public_url,
        })
    }

    /// Whether mail reaches anyone: a provider, or the dev mailbox.
    pub fn delivers(&self) -> bool {
        self.dev_mailbox || self.provider != Provider::None
    }
}

/// `PUBLIC_URL`: an http(s) origin (a trailing `/` is dropped; no path, query or fragment).
fn parse_public_url(raw: &str) -> Result<String, String> {
    let bad =
        || format!("PUBLIC_URL must be an origin such as https://chat.example.com, not `{raw}`");
    let url = worker::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

/// The origin links in mail point to: `PUBLIC_URL`, else the one this request came to.
pub fn public_origin(ctx: &Ctx) -> String {
    if let Some(url) = &ctx.cfg.mail.public_url {
        return url.clone();
    }
    ctx.req
        .url()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// An absolute link to a page of the web client carrying `token`.
pub fn link(origin: &str, path: &str, token: &str) -> String {
    format!("{origin}{path}?token={token}")
}

/// Delivers `message` after the response (the client never waits on a provider, and a
/// failure never fails the request: it is logged, without the message).
pub fn send_later(ctx: &Ctx, message: Message) {
    let (env, cfg, request_id) = (ctx.env.clone(), ctx.cfg.clone(), ctx.request_id.clone());
    ctx.spawn(async move { deliver_logged(&env, &cfg, &request_id, &message).await });
}

/// `deliver`, with a failure logged (never the recipient's link or the message body).
pub async fn deliver_logged(env: &Env, cfg: &Config, request_id: &str, message: &Message) {
    if let Err(e) = deliver(env, cfg, message).await {
        worker::console_error!(
            "{}",
            serde_json::json!({
                "request_id": request_id,
                "error": "email_not_sent",
                "template": message.template.name(),
                "message_id": message.id,
                "context": e,
            })
        );
    }
}

/// Keeps `message` in the dev mailbox (when on) and sends it through the provider.
pub async fn deliver(env: &Env, cfg: &Config, message: &Message) -> Result<(), String> {
    let mail = &cfg.mail;
    if mail.dev_mailbox {
        let db = env.d1("DB").map_err(|e| format!("D1 binding: {e}"))?;
        crate::store::dev_mailbox::insert(&db, message, crate::util::now_ms())
            .await
            .map_err(|e| e.log_context().unwrap_or(e.code()).to_string())?;
    }
    match &mail.provider {
        Provider::None if mail.dev_mailbox => Ok(()),
        Provider::None => Err("EMAIL_PROVIDER is none: the message was not sent".into()),
        Provider::Cloudflare => cloudflare::send(env, &mail.from, message).await,
        Provider::Resend { api_url, api_key } => {
            resend::send(
                api_url,
                api_key,
                &mail.from,
                message,
                &cfg.webhook_insecure_hosts,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(provider: Option<&'a str>, from: Option<&'a str>) -> MailVars<'a> {
        MailVars {
            provider,
            from,
            ..Default::default()
        }
    }

    #[test]
    fn the_provider_needs_what_it_uses() {
        let none = MailConfig::parse(&MailVars::default()).unwrap();
        assert_eq!(none.provider, Provider::None);
        assert!(!none.dev_mailbox && !none.delivers());
        assert!(MailConfig::parse(&vars(Some("cloudflare"), None))
            .unwrap_err()
            .contains("EMAIL_FROM"));
        let cf = MailConfig::parse(&vars(Some("Cloudflare"), Some("noreply@chat.example.com")));
        assert_eq!(cf.unwrap().provider, Provider::Cloudflare);
        let resend = vars(Some("resend"), Some("chatgate <noreply@chat.example.com>"));
        assert!(MailConfig::parse(&resend)
            .unwrap_err()
            .contains("RESEND_API_KEY"));
        let resend = MailConfig::parse(&MailVars {
            resend_api_key: Some("re_123"),
            resend_api_url: Some("https://api.resend.com/"),
            ..resend
        })
        .unwrap();
        assert_eq!(
            resend.provider,
            Provider::Resend {
                api_url: "https://api.resend.com".into(),
                api_key: "re_123".into()
            }
        );
        assert_eq!(resend.from.header(), "chatgate <noreply@chat.example.com>");
        assert!(!format!("{resend:?}").contains("re_123"), "no key in Debug");
        assert!(MailConfig::parse(&vars(Some("smtp"), None)).is_err());
    }

    #[test]
    fn the_dev_mailbox_is_on_or_off() {
        for (v, want) in [
            (None, Some(false)),
            (Some("on"), Some(true)),
            (Some(" OFF "), Some(false)),
            (Some("yes"), None),
        ] {
            let got = MailConfig::parse(&MailVars {
                dev_mailbox: v,
                ..Default::default()
            });
            assert_eq!(got.ok().map(|c| c.dev_mailbox), want, "{v:?}");
        }
    }

    #[test]
    fn the_public_url_is_an_origin() {
        let parse = |u: &str| {
            MailConfig::parse(&MailVars {
                public_url: Some(u),
                ..Default::default()
            })
            .map(|c| c.public_url)
        };
        assert_eq!(
            parse("https://chat.example.com/"),
            Ok(Some("https://chat.example.com".into()))
        );
        assert_eq!(
            parse("http://127.0.0.1:8787"),
            Ok(Some("http://127.0.0.1:8787".into()))
        );
        for bad in [
            "chat.example.com",
            "https://chat.example.com/app",
            "ftp://x.example",
            "https://a.example/?x=1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn senders_are_an_address_with_an_optional_name() {
        let s = Sender::parse(" \"chatgate\" <noreply@chat.example.com> ").unwrap();
        assert_eq!(
            (s.name.as_deref(), s.address.as_str()),
            (Some("chatgate"), "noreply@chat.example.com")
        );
        assert_eq!(
            Sender::parse("noreply@chat.example.com").unwrap().name,
            None
        );
        assert!(Sender::parse("not an address").is_err());
        assert!(Sender::parse("a <x@y.example>\r\nBcc: z@y.example").is_err());
    }

    #[test]
    fn links_are_absolute_and_carry_the_token_in_the_query() {
        assert_eq!(
            link("https://chat.example.com", "/verify-email", "abc-_1"),
            "https://chat.example.com/verify-email?token=abc-_1"
        );
    }
}
