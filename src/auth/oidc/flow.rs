//! One sign-in with a provider: the authorization request (authorization code with PKCE S256,
//! `state`, and `nonce` for OpenID providers), then the code exchanged for the account.
//!
//! The `state` is 256 random bits; the server keeps only its SHA-256, with the provider's id,
//! the browser's binding (a cookie) and where to return. The PKCE verifier and the nonce are
//! derived from the state under a key derived from `JWT_SECRET`, so they need no storage and
//! are unguessable to anyone without that key.

use super::discovery::{self, ClientAuth};
use super::fetch::{self, Body};
use super::id_token::{self, Expected, Fault};
use super::{github, Endpoints, Provider};
use crate::crypto::{b64, b64url, hmac_sha256, sha256};
use crate::domain::outbound::AllowedHosts;

/// The account a provider vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The provider's stable id of the account.
    pub subject: String,
    pub email: Option<String>,
    /// The provider says the address is its user's (`email_verified`; GitHub's verified flag).
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a sign-in failed; `reason()` is the code the audit log and the sign-in page get.
#[derive(Debug)]
pub enum Failure {
    /// The provider could not be reached or answered nonsense (logged, not shown).
    Provider(String),
    /// The provider refused the code (expired, used, or not for this client and verifier).
    Exchange(String),
    /// The authorization response names another issuer (`iss`, RFC 9207): a mix-up.
    IssuerMismatch,
    IdToken(Fault),
}

impl Failure {
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Provider(_) => "provider_unavailable",
            Failure::Exchange(_) => "code_exchange_failed",
            Failure::IssuerMismatch => "issuer_mismatch",
            Failure::IdToken(f) => f.reason(),
        }
    }

    /// What the log line may say (never a code or a token).
    pub fn context(&self) -> String {
        match self {
            Failure::Provider(c) | Failure::Exchange(c) => c.clone(),
            Failure::IdToken(f) => format!("{f:?}"),
            Failure::IssuerMismatch => "the authorization response came from another issuer".into(),
        }
    }
}

/// The secrets of one sign-in, derived from its state.
pub struct Secrets {
    pub verifier: String,
    pub nonce: String,
}

impl Secrets {
    pub fn of(service_secret: &[u8], state: &str) -> Secrets {
        let key = hmac_sha256(service_secret, b"chatgate oauth flow v1");
        Secrets {
            verifier: b64url(&hmac_sha256(&key, format!("pkce:{state}").as_bytes())),
            nonce: b64url(&hmac_sha256(&key, format!("nonce:{state}").as_bytes())),
        }
    }

    /// The PKCE challenge: base64url(SHA-256(verifier)) (RFC 7636, S256).
    pub fn challenge(&self) -> String {
        b64url(&sha256(self.verifier.as_bytes()))
    }
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
    let mut url = worker::Url::parse(base).map_err(|_| format!("`{base}` is not a URL"))?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.to_string())
}

/// Where the browser goes to sign in with the provider.
pub async fn authorization_url(
    kv: &worker::KvStore,
    provider: &Provider,
    allowed: &AllowedHosts,
    redirect_uri: &str,
    state: &str,
    secrets: &Secrets,
    now: i64,
) -> Result<String, Failure> {
    let challenge = secrets.challenge();
    match &provider.endpoints {
        Endpoints::Oidc { scopes, .. } => {
            let meta = discovery::metadata(kv, provider, allowed, now)
                .await
                .map_err(Failure::Provider)?;
            // The browser is sent there: it must be an https URL like every other we call.
            crate::domain::outbound::check(&meta.authorization_endpoint, allowed)
                .map_err(|e| Failure::Provider(format!("the authorization endpoint {e}")))?;
            with_query(
                &meta.authorization_endpoint,
                &[
                    ("response_type", "code"),
                    ("client_id", &provider.client_id),
                    ("redirect_uri", redirect_uri),
                    ("scope", scopes),
                    ("state", state),
                    ("nonce", &secrets.nonce),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .map_err(Failure::Provider)
        }
        Endpoints::Github { oauth_url, .. } => with_query(
            &format!("{oauth_url}/login/oauth/authorize"),
            &[
                ("client_id", &provider.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", github::SCOPES),
                ("state", state),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("allow_signup", "true"),
            ],
        )
        .map_err(Failure::Provider),
    }
}

/// `Authorization: Basic` of a client (RFC 6749 2.3.1: each part form-encoded first).
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    let enc =
        |s: &str| worker::url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        b64(format!("{}:{}", enc(client_id), enc(secret)).as_bytes())
    )
}

/// What came back to the callback: the code, and the issuer when the provider names it.
pub struct Response<'a> {
    pub code: &'a str,
    /// `iss` of the authorization response (RFC 9207), when the provider sends it.
    pub iss: Option<&'a str>,
}

/// Exchanges the code at the provider and returns the account it vouches for.
pub async fn finish(
    kv: &worker::KvStore,
    provider: &Provider,
    allowed: &AllowedHosts,
    redirect_uri: &str,
    response: &Response<'_>,
    secrets: &Secrets,
    now: i64,
) -> Result<Account, Failure> {
    let code = response.code;
    let Endpoints::Oidc { .. } = &provider.endpoints else {
        return github::finish(provider, allowed, redirect_uri, code, &secrets.verifier).await;
    };
    let meta = discovery::metadata(kv, provider, allowed, now)
        .await
        .map_err(Failure::Provider)?;
    // RFC 9207: an authorization response that names its issuer must name this one (a
    // response from another provider, replayed here, is a mix-up). Microsoft's multi-tenant
    // issuer is a template; its tokens are held to their tenant below.
    let Endpoints::Oidc { issuer_rule, .. } = &provider.endpoints else {
        return Err(Failure::Provider("not an OpenID provider".into()));
    };
    if let Some(iss) = response.iss {
        if *issuer_rule != super::IssuerRule::MicrosoftTenant && iss != meta.issuer {
            return Err(Failure::IssuerMismatch);
        }
    }
    let auth = meta.client_auth().map_err(Failure::Provider)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", secrets.verifier.as_str()),
    ];
    let basic;
    let mut headers = Vec::new();
    match auth {
        ClientAuth::Basic => {
            basic = basic_auth(&provider.client_id, provider.client_secret());
            headers.push(("authorization", basic.as_str()));
        }
        ClientAuth::Post => {
            form.push(("client_id", &provider.client_id));
            form.push(("client_secret", provider.client_secret()));
        }
    }
    let answer = fetch::send(
        worker::Method::Post,
        &meta.token_endpoint,
        &headers,
        Body::Form(&form),
        allowed,
    )
    .await
    .map_err(Failure::Provider)?;
    if !(200..300).contains(&answer.status) {
        // The provider's `error` code says why (invalid_grant…); its description may echo input.
        let error = answer.body["error"].as_str().unwrap_or("no error code");
        return Err(Failure::Exchange(format!(
            "the token endpoint answered {} ({})",
            answer.status,
            error.chars().take(64).collect::<String>()
        )));
    }
    let id_token = answer.body["id_token"]
        .as_str()
        .ok_or_else(|| Failure::Exchange("the token endpoint sent no id_token".into()))?;
    let want = Expected {
        issuer: &meta.issuer,
        rule: issuer_rule,
        client_id: &provider.client_id,
        nonce: &secrets.nonce,
        now_secs: (now / 1000) as u64,
    };
    let jwks = discovery::keys(kv, provider, &meta, allowed, now, false)
        .await
        .map_err(Failure::Provider)?;
    let verified = match id_token::verify(id_token, &jwks, &want) {
        // The provider may have rotated its keys since they were cached: fetch them once more.
        Err(Fault::UnknownKey) => {
            let jwks = discovery::keys(kv, provider, &meta, allowed, now, true)
                .await
                .map_err(Failure::Provider)?;
            id_token::verify(id_token, &jwks, &want)
        }
        other => other,
    }
    .map_err(Failure::IdToken)?;
    Ok(Account {
        subject: verified.subject,
        email: verified.email,
        email_verified: verified.email_verified,
        name: verified.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        let s = Secrets {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            nonce: String::new(),
        };
        assert_eq!(s.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn secrets_are_derived_per_state_and_per_service() {
        let a = Secrets::of(b"service secret one", "state-1");
        let b = Secrets::of(b"service secret one", "state-2");
        let c = Secrets::of(b"service secret two", "state-1");
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.verifier, c.verifier);
        assert_ne!(a.verifier, a.nonce);
        // RFC 7636: a verifier is 43 to 128 characters of the unreserved set.
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(a.nonce, Secrets::of(b"service secret one", "state-1").nonce);
    }

    #[test]
    fn basic_auth_encodes_each_part_first() {
        assert_eq!(
            basic_auth("client id", "s:cret"),
            format!("Basic {}", b64(b"client+id:s%3Acret"))
        );
    }
}
