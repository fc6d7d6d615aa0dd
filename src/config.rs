//! The service's configuration, read once per isolate from vars and secrets.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::domain::outbound::AllowedHosts;
use crate::domain::registration::Policy;
use crate::email::{MailConfig, MailVars};
use crate::error::ApiError;
use crate::providers::ProviderKind;

pub struct Config {
    pub jwt_secret: Vec<u8>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// Provider-key encryption keys by version; the first one encrypts.
    pub encryption_keys: Vec<(u32, [u8; 32])>,
    pub openai_base_url: String,
    pub anthropic_base_url: String,
    pub gemini_base_url: String,
    pub openai_api_key: Option<String>,
    pub anthropic_api_key: Option<String>,
    pub gemini_api_key: Option<String>,
    pub livekit: Option<LiveKit>,
    /// Where `user.registered` / `user.deleted` go, signed, when another system mirrors users.
    pub provisioning: Option<Provisioning>,
    /// The first retry delay of a webhook delivery; later ones grow from it.
    pub webhook_retry_base_ms: u64,
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub login_failure_window_secs: u32,
    pub registrations_per_address_per_hour: u32,
    pub api_key_rpm: u32,
    /// Whether the service's own provider keys serve anyone (`SERVICE_KEYS=all`) or no one
    /// (`none`: only the users' and orgs' own keys work).
    pub service_keys: bool,
    /// The monthly token budget of an org without a lower one of its own
    /// (`DEFAULT_MONTHLY_TOKEN_LIMIT`; none by default).
    pub default_monthly_token_limit: Option<u64>,
    /// Chat requests per minute per user with an access token (`USER_RATE_LIMIT_RPM`; 0: none).
    pub user_rpm: Option<u32>,
    pub history_char_budget: usize,
    pub demo_token_delay_ms: u32,
    pub frame_ancestors: String,
    /// Caps on what accumulates (409 `conflict` past them): organizations a user owns
    /// besides their personal one, API keys of a user in one org, pending invitations of an org.
    pub max_orgs_per_user: u32,
    pub max_api_keys_per_user_per_org: u32,
    pub max_pending_invitations_per_org: u32,
    // --- Files (POST /api/files) ---
    /// The largest file one upload may be (`FILE_MAX_BYTES`, 413 past it), and what all the
    /// files of one org may weigh together (`ORG_FILE_QUOTA_BYTES`, 413 past it).
    pub file_max_bytes: u64,
    pub org_file_quota_bytes: u64,
    /// Hosts webhooks may reach over plain http, and even when internal: for local
    /// development and tests only (`WEBHOOK_ALLOW_INSECURE_HOSTS`, `host[:port]`, comma-separated).
    pub webhook_insecure_hosts: AllowedHosts,
    /// Whether `CF-Connecting-IP` is the client's address: only when the Worker runs behind
    /// Cloudflare, which sets it. Anywhere else a client can set it to anything.
    pub trust_cf_connecting_ip: bool,
    // --- Mail, verified addresses and the registration policy ---
    /// How mail is sent and from whom (`EMAIL_PROVIDER`, `EMAIL_FROM`, `RESEND_API_KEY`,
    /// `RESEND_API_URL`), the dev mailbox (`DEV_MAILBOX`), the origin of links (`PUBLIC_URL`).
    pub mail: MailConfig,
    /// `REQUIRE_VERIFIED_EMAIL`: model calls (chat, /v1) of a user whose address is not
    /// verified are refused (403 `email_unverified`), with an access token or an API key.
    pub require_verified_email: bool,
    /// Who may open an account (`ALLOW_REGISTRATION`, `REGISTRATION_DOMAINS`).
    pub registration: Policy,
    /// Mails of one kind to one account per hour: verification resends, address changes,
    /// password-reset requests (`EMAILS_PER_ACCOUNT_PER_HOUR`).
    pub emails_per_account_per_hour: u32,
    /// Password-reset requests per client address per hour
    /// (`PASSWORD_RESETS_PER_ADDRESS_PER_HOUR`).
    pub password_resets_per_address_per_hour: u32,
    // --- Sign-in through OAuth 2.0 / OpenID Connect providers ---
    /// The providers people may sign in with (`GOOGLE_*`, `MICROSOFT_*`, `GITHUB_*`,
    /// `OIDC_PROVIDERS` and `OIDC_<ID>_*`, `OIDC_ALLOW_INSECURE_HOSTS`; see `auth::oidc`).
    pub sign_in: crate::auth::oidc::Providers,
    // --- Two-factor authentication and passkeys ---
    /// The passkeys' relying party (`WEBAUTHN_RP_ID`, `WEBAUTHN_ORIGINS`): unset, the host name
    /// and the origin of each request.
    pub webauthn: crate::auth::webauthn::Settings,
    // --- The operator's console ---
    /// The addresses of the service admins (`ADMIN_EMAILS`, comma-separated), as their keys
    /// (`Email::key`): an account is a service admin while its verified address has one.
    pub admin_emails: Vec<String>,
    // --- Benchmarks ---
    /// `BENCH_STORAGE_DELAY_MS` (`store::delay`): simulated distance to D1, KV and the Durable
    /// Objects, for the benchmark's `edge` section; only on a development server (`DEV_MAILBOX=on`).
    pub storage_delay: crate::store::delay::Delays,
}

pub struct LiveKit {
    pub url: String,
    pub api_key: String,
    pub api_secret: String,
}

pub struct Provisioning {
    pub url: String,
    pub secret: String,
}

thread_local! {
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

fn string(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|s| !s.trim().is_empty())
}

fn number<T: std::str::FromStr>(env: &Env, name: &str, default: T) -> T {
    string(env, name)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Parses `SERVICE_KEYS`: `all` (the default) or `none`.
pub fn parse_service_keys(value: Option<&str>) -> Result<bool, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("all") => Ok(true),
        Some("none") => Ok(false),
        Some(_) => Err("SERVICE_KEYS must be `all` or `none`".into()),
    }
}

/// Parses `DEFAULT_MONTHLY_TOKEN_LIMIT`: a positive number of tokens, or `none` (the default).
pub fn parse_token_limit(value: Option<&str>) -> Result<Option<u64>, String> {
    match value.map(str::trim) {
        None | Some("none") => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(
                "DEFAULT_MONTHLY_TOKEN_LIMIT must be a positive number of tokens or `none`".into(),
            ),
        },
    }
}

/// Parses `ENCRYPTION_KEYS`: comma-separated `version:base64(32 bytes)`.
pub fn parse_encryption_keys(s: &str) -> Result<Vec<(u32, [u8; 32])>, String> {
    let mut keys = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (version, b64) = part
            .split_once(':')
            .ok_or("each entry must be version:base64key")?;
        let version: u32 = version
            .trim()
            .parse()
            .map_err(|_| "the version must be a number")?;
        let bytes = crate::crypto::b64_decode(b64).ok_or("the key must be base64")?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| "the key must be 32 bytes")?;
        if keys.iter().any(|(v, _)| *v == version) {
            return Err(format!("version {version} appears twice"));
        }
        keys.push((version, key));
    }
    if keys.is_empty() {
        return Err("no key".into());
    }
    Ok(keys)
}

/// Parses `ADMIN_EMAILS`: comma-separated addresses, kept as their keys (`Email::key`), so
/// an account matches by the same rule that makes two spellings one account. Unset or empty:
/// no one. An entry that is not an address is an error, not skipped.
pub fn parse_admin_emails(value: Option<&str>) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    for entry in value.unwrap_or("").split(',').map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let email = crate::domain::Email::parse(entry)
            .map_err(|e| format!("ADMIN_EMAILS: `{entry}`: {e}"))?;
        if !keys.iter().any(|k| k == email.key()) {
            keys.push(email.key().to_string());
        }
    }
    Ok(keys)
}

/// An on/off var: `true` or `false` (any case); anything else is an error, not a guess.
pub fn parse_switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("must be true or false, not `{}`", s.trim())),
    }
}

/// The mail settings, `REQUIRE_VERIFIED_EMAIL` and the registration policy.
fn mail_and_sign_up(env: &Env) -> Result<(MailConfig, bool, Policy), ApiError> {
    let var = |name| string(env, name);
    let (provider, from, key, url, dev, public) = (
        var("EMAIL_PROVIDER"),
        var("EMAIL_FROM"),
        var("RESEND_API_KEY"),
        var("RESEND_API_URL"),
        var("DEV_MAILBOX"),
        var("PUBLIC_URL"),
    );
    let mail = MailConfig::parse(&MailVars {
        provider: provider.as_deref(),
        from: from.as_deref(),
        resend_api_key: key.as_deref(),
        resend_api_url: url.as_deref(),
        dev_mailbox: dev.as_deref(),
        public_url: public.as_deref(),
    })
    .map_err(ApiError::Unavailable)?;
    let require_verified_email = var("REQUIRE_VERIFIED_EMAIL")
        .map_or(Ok(false), |v| parse_switch(&v))
        .map_err(|e| ApiError::Unavailable(format!("REQUIRE_VERIFIED_EMAIL {e}")))?;
    if require_verified_email && !mail.delivers() {
        return Err(ApiError::Unavailable(
            "REQUIRE_VERIFIED_EMAIL=true needs mail that reaches people (EMAIL_PROVIDER, or \
             DEV_MAILBOX=on): no one could verify their address"
                .into(),
        ));
    }
    let registration = Policy::parse(
        var("ALLOW_REGISTRATION").as_deref(),
        var("REGISTRATION_DOMAINS").as_deref(),
    )
    .map_err(ApiError::Unavailable)?;
    Ok((mail, require_verified_email, registration))
}

/// `BENCH_STORAGE_DELAY_MS`: off when unset; refused unless the server is a development one
/// (`DEV_MAILBOX=on`), so a deployed Worker never waits on purpose.
pub fn storage_delay(
    value: Option<&str>,
    dev_server: bool,
) -> Result<crate::store::delay::Delays, String> {
    let delays = crate::store::delay::parse(value.unwrap_or(""))
        .map_err(|e| format!("BENCH_STORAGE_DELAY_MS is invalid: {e}"))?;
    if !delays.is_off() && !dev_server {
        return Err(
            "BENCH_STORAGE_DELAY_MS is for benchmarks on a development server \
                    (DEV_MAILBOX=on) only"
                .into(),
        );
    }
    Ok(delays)
}

impl Config {
    /// The configuration of this isolate, read on first use.
    pub fn get(env: &Env) -> Result<Rc<Config>, ApiError> {
        if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
            return Ok(c);
        }
        let config = Rc::new(Self::from_env(env)?);
        crate::store::delay::set(config.storage_delay);
        CONFIG.with(|c| *c.borrow_mut() = Some(config.clone()));
        Ok(config)
    }

    fn from_env(env: &Env) -> Result<Config, ApiError> {
        let jwt_secret = string(env, "JWT_SECRET")
            .ok_or_else(|| ApiError::Unavailable("JWT_SECRET is not configured".into()))?;
        if jwt_secret.len() < 32 {
            return Err(ApiError::Unavailable(
                "JWT_SECRET must be at least 32 characters".into(),
            ));
        }
        let encryption_keys = string(env, "ENCRYPTION_KEYS")
            .ok_or_else(|| ApiError::Unavailable("ENCRYPTION_KEYS is not configured".into()))
            .and_then(|s| {
                parse_encryption_keys(&s)
                    .map_err(|e| ApiError::Unavailable(format!("ENCRYPTION_KEYS is invalid: {e}")))
            })?;
        let livekit = match (
            string(env, "LIVEKIT_URL"),
            string(env, "LIVEKIT_API_KEY"),
            string(env, "LIVEKIT_API_SECRET"),
        ) {
            (Some(url), Some(api_key), Some(api_secret)) => Some(LiveKit {
                url,
                api_key,
                api_secret,
            }),
            _ => None,
        };
        let provisioning = match (
            string(env, "PROVISIONING_WEBHOOK_URL"),
            string(env, "PROVISIONING_WEBHOOK_SECRET"),
        ) {
            (Some(url), Some(secret)) => Some(Provisioning { url, secret }),
            _ => None,
        };
        let unavailable = ApiError::Unavailable;
        let service_keys =
            parse_service_keys(string(env, "SERVICE_KEYS").as_deref()).map_err(unavailable)?;
        let default_monthly_token_limit =
            parse_token_limit(string(env, "DEFAULT_MONTHLY_TOKEN_LIMIT").as_deref())
                .map_err(unavailable)?;
        let webhook_insecure_hosts =
            AllowedHosts::parse(&string(env, "WEBHOOK_ALLOW_INSECURE_HOSTS").unwrap_or_default())
                .map_err(|e| {
                ApiError::Unavailable(format!("WEBHOOK_ALLOW_INSECURE_HOSTS is invalid: {e}"))
            })?;
        let trust_cf_connecting_ip = string(env, "TRUST_CF_CONNECTING_IP")
            .map_or(Ok(false), |v| parse_switch(&v))
            .map_err(|e| ApiError::Unavailable(format!("TRUST_CF_CONNECTING_IP {e}")))?;
        let (mail, require_verified_email, registration) = mail_and_sign_up(env)?;
        let webauthn = crate::auth::webauthn::Settings::parse(
            string(env, "WEBAUTHN_RP_ID").as_deref(),
            string(env, "WEBAUTHN_ORIGINS").as_deref(),
        )
        .map_err(ApiError::Unavailable)?;
        let storage_delay = storage_delay(
            string(env, "BENCH_STORAGE_DELAY_MS").as_deref(),
            mail.dev_mailbox,
        )
        .map_err(ApiError::Unavailable)?;
        Ok(Config {
            jwt_secret: jwt_secret.into_bytes(),
            jwt_issuer: string(env, "JWT_ISSUER").unwrap_or_else(|| "chatgate".into()),
            jwt_audience: string(env, "JWT_AUDIENCE").unwrap_or_else(|| "chatgate-api".into()),
            encryption_keys,
            openai_base_url: string(env, "OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            anthropic_base_url: string(env, "ANTHROPIC_BASE_URL")
                .unwrap_or_else(|| "https://api.anthropic.com".into()),
            gemini_base_url: string(env, "GEMINI_BASE_URL")
                .unwrap_or_else(|| "https://generativelanguage.googleapis.com".into()),
            openai_api_key: string(env, "OPENAI_API_KEY"),
            anthropic_api_key: string(env, "ANTHROPIC_API_KEY"),
            gemini_api_key: string(env, "GEMINI_API_KEY"),
            livekit,
            provisioning,
            webhook_retry_base_ms: number(env, "WEBHOOK_RETRY_BASE_MS", 10_000u64).max(1),
            login_failures_per_account: number(env, "LOGIN_FAILURES_PER_ACCOUNT", 10),
            login_failures_per_address: number(env, "LOGIN_FAILURES_PER_ADDRESS", 100),
            login_failure_window_secs: number(env, "LOGIN_FAILURE_WINDOW_SECONDS", 900),
            registrations_per_address_per_hour: number(
                env,
                "REGISTRATIONS_PER_ADDRESS_PER_HOUR",
                50,
            ),
            api_key_rpm: number(env, "API_KEY_RATE_LIMIT_RPM", 600),
            service_keys,
            default_monthly_token_limit,
            user_rpm: Some(number(env, "USER_RATE_LIMIT_RPM", 60u32)).filter(|&rpm| rpm > 0),
            history_char_budget: number(env, "HISTORY_CHAR_BUDGET", 48_000),
            demo_token_delay_ms: number(env, "DEMO_TOKEN_DELAY_MS", 40),
            frame_ancestors: string(env, "FRAME_ANCESTORS").unwrap_or_else(|| "'self'".into()),
            max_orgs_per_user: number(env, "MAX_ORGS_PER_USER", 20),
            max_api_keys_per_user_per_org: number(env, "MAX_API_KEYS_PER_USER_PER_ORG", 50),
            max_pending_invitations_per_org: number(env, "MAX_PENDING_INVITATIONS_PER_ORG", 100),
            file_max_bytes: number(env, "FILE_MAX_BYTES", 20 * 1024 * 1024u64),
            org_file_quota_bytes: number(env, "ORG_FILE_QUOTA_BYTES", 1024 * 1024 * 1024u64),
            webhook_insecure_hosts,
            trust_cf_connecting_ip,
            mail,
            require_verified_email,
            registration,
            emails_per_account_per_hour: number(env, "EMAILS_PER_ACCOUNT_PER_HOUR", 5),
            password_resets_per_address_per_hour: number(
                env,
                "PASSWORD_RESETS_PER_ADDRESS_PER_HOUR",
                20,
            ),
            sign_in: crate::auth::oidc::Providers::parse(&|name| {
                string(env, name).map(|v| v.trim().to_string())
            })
            .map_err(ApiError::Unavailable)?,
            webauthn,
            admin_emails: parse_admin_emails(string(env, "ADMIN_EMAILS").as_deref())
                .map_err(ApiError::Unavailable)?,
            storage_delay,
        })
    }

    /// Whether `user` is a service admin: their address is verified and its key is one of
    /// `ADMIN_EMAILS`. Held by no API key (the console takes sessions only) and never granted
    /// through the API.
    pub fn is_service_admin(&self, user: &crate::store::users::UserRow) -> bool {
        user.is_verified()
            && user.disabled_at.is_none()
            && self.admin_emails.contains(&user.email_key)
    }

    /// Seals a secret under the current master key: its version and base64(nonce ||
    /// ciphertext || tag). `aad` names the owner, so the value opens nowhere else.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<(i64, String), ApiError> {
        let (version, master) = self
            .encryption_keys
            .first()
            .ok_or_else(|| ApiError::internal("no encryption key"))?;
        let sealed = crate::crypto::seal(master, plaintext, aad).map_err(ApiError::internal)?;
        Ok((*version as i64, crate::crypto::b64(&sealed)))
    }

    /// Opens what `seal` produced under master key `version`. The flag says it was sealed
    /// under an older key, so the caller re-seals it (rotation completes as values are used).
    pub fn open(
        &self,
        version: i64,
        sealed_b64: &str,
        aad: &[u8],
    ) -> Result<(String, bool), ApiError> {
        let master = self
            .encryption_keys
            .iter()
            .find(|(v, _)| *v as i64 == version)
            .map(|(_, k)| k)
            .ok_or_else(|| {
                ApiError::internal(format!("sealed with unknown key version {version}"))
            })?;
        let sealed = crate::crypto::b64_decode(sealed_b64)
            .ok_or_else(|| ApiError::internal("sealed value is not base64"))?;
        let plain = crate::crypto::open(master, &sealed, aad)
            .ok_or_else(|| ApiError::internal("sealed value does not open under its owner"))?;
        let text = String::from_utf8(plain)
            .map_err(|_| ApiError::internal("sealed value is not UTF-8"))?;
        let stale = self
            .encryption_keys
            .first()
            .is_some_and(|(v, _)| *v as i64 != version);
        Ok((text, stale))
    }

    pub fn base_url(&self, provider: ProviderKind) -> &str {
        match provider {
            ProviderKind::OpenAi => &self.openai_base_url,
            ProviderKind::Anthropic => &self.anthropic_base_url,
            ProviderKind::Gemini => &self.gemini_base_url,
            ProviderKind::Demo => "",
        }
    }

    /// The service's own key for a provider, the last resort after user and org keys;
    /// none for anyone with `SERVICE_KEYS=none`.
    pub fn service_key(&self, provider: ProviderKind) -> Option<&str> {
        if !self.service_keys {
            return None;
        }
        match provider {
            ProviderKind::OpenAi => self.openai_api_key.as_deref(),
            ProviderKind::Anthropic => self.anthropic_api_key.as_deref(),
            ProviderKind::Gemini => self.gemini_api_key.as_deref(),
            ProviderKind::Demo => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_keys_parse_with_versions() {
        let k = crate::crypto::b64(&[1u8; 32]);
        let keys = parse_encryption_keys(&format!("2:{k}, 1:{k}")).unwrap();
        assert_eq!(keys.iter().map(|(v, _)| *v).collect::<Vec<_>>(), vec![2, 1]);
        assert!(parse_encryption_keys("1:short").is_err());
        assert!(parse_encryption_keys(&format!("1:{k},1:{k}")).is_err());
        assert!(parse_encryption_keys("").is_err());
    }

    #[test]
    fn a_storage_delay_is_refused_outside_a_development_server() {
        assert!(storage_delay(None, false).unwrap().is_off());
        assert!(storage_delay(Some("d1=0"), false).unwrap().is_off());
        assert!(storage_delay(Some("d1=60,kv=5,do=15"), false).is_err());
        assert_eq!(storage_delay(Some("d1=60"), true).unwrap().d1, 60);
        assert!(storage_delay(Some("d1=soon"), true).is_err());
    }

    #[test]
    fn service_keys_and_the_default_budget_parse_strictly() {
        assert_eq!(parse_service_keys(None), Ok(true));
        assert_eq!(parse_service_keys(Some("all")), Ok(true));
        assert_eq!(parse_service_keys(Some(" None ")), Ok(false));
        assert!(parse_service_keys(Some("some")).is_err());
        assert_eq!(parse_token_limit(None), Ok(None));
        assert_eq!(parse_token_limit(Some("none")), Ok(None));
        assert_eq!(parse_token_limit(Some(" 250000 ")), Ok(Some(250_000)));
        for bad in ["0", "-5", "lots", "1e6"] {
            assert!(parse_token_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn admin_emails_are_kept_as_the_keys_accounts_are_known_by() {
        assert_eq!(parse_admin_emails(None), Ok(vec![]));
        assert_eq!(parse_admin_emails(Some(" , ")), Ok(vec![]));
        assert_eq!(
            parse_admin_emails(Some(
                " Ops@Example.COM, \u{ff4b}ate@b\u{fc}cher.example ,ops@example.com"
            )),
            Ok(vec![
                "ops@example.com".to_string(),
                "kate@xn--bcher-kva.example".to_string()
            ])
        );
        assert!(parse_admin_emails(Some("ops@example.com, not an address")).is_err());
    }

    #[test]
    fn switches_are_true_or_false_and_nothing_else() {
        assert_eq!(parse_switch(" TRUE "), Ok(true));
        assert_eq!(parse_switch("false"), Ok(false));
        assert!(parse_switch("yes").is_err());
        assert!(parse_switch("1").is_err());
    }
}
