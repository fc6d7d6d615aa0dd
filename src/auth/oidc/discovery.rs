//! An OpenID provider's metadata (`/.well-known/openid-configuration`) and its signing keys
//! (`jwks_uri`), each cached in the isolate and in KV for an hour. The keys are fetched again,
//! once, when an ID token names a key the cached set does not have (the provider rotated).

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::id_token::Jwks;
use super::{fetch, IssuerRule, Provider};
use crate::domain::outbound::AllowedHosts;
use crate::store::identities;

/// How long metadata and keys are kept before they are fetched again.
const CACHE_SECS: u64 = 3600;

/// What chatgate uses of a provider's metadata (OpenID Connect Discovery 1.0, section 3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Absent means `client_secret_basic`, the specification's default.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749, 2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl Metadata {
    /// Checks the document against the provider's configuration: its issuer must be the one
    /// configured (a trailing `/` aside), or for Microsoft's multi-tenant endpoints the
    /// `{tenantid}` template; PKCE with S256 must not be ruled out.
    pub fn check(&self, configured_issuer: &str, rule: &IssuerRule) -> Result<(), String> {
        let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
        let issuer_ok = match rule {
            IssuerRule::Exact | IssuerRule::Google => same(&self.issuer, configured_issuer),
            IssuerRule::MicrosoftTenant => {
                self.issuer
                    .starts_with("https://login.microsoftonline.com/")
                    && self.issuer.contains("{tenantid}")
            }
        };
        if !issuer_ok {
            return Err(format!(
                "the discovery document names the issuer `{}`, not the configured `{configured_issuer}`",
                self.issuer
            ));
        }
        if let Some(methods) = &self.code_challenge_methods_supported {
            if !methods.iter().any(|m| m == "S256") {
                return Err("the provider does not support PKCE with S256".into());
            }
        }
        self.client_auth().map(|_| ())
    }

    /// `client_secret_basic` when the provider takes it (or says nothing), else `client_secret_post`.
    pub fn client_auth(&self) -> Result<ClientAuth, String> {
        match &self.token_endpoint_auth_methods_supported {
            None => Ok(ClientAuth::Basic),
            Some(m) if m.iter().any(|m| m == "client_secret_basic") => Ok(ClientAuth::Basic),
            Some(m) if m.iter().any(|m| m == "client_secret_post") => Ok(ClientAuth::Post),
            Some(_) => Err(
                "the provider's token endpoint takes neither client_secret_basic nor client_secret_post"
                    .into(),
            ),
        }
    }
}

thread_local! {
    /// Per provider: (what, fetched at ms, the raw JSON).
    static CACHE: RefCell<HashMap<String, (i64, String)>> = RefCell::new(HashMap::new());
}

fn from_isolate(key: &str, now: i64) -> Option<String> {
    CACHE.with(|c| {
        c.borrow()
            .get(key)
            .filter(|(at, _)| now - at < CACHE_SECS as i64 * 1000)
            .map(|(_, v)| v.clone())
    })
}

fn keep(key: &str, now: i64, value: &str) {
    CACHE.with(|c| {
        c.borrow_mut()
            .insert(key.to_string(), (now, value.to_string()))
    });
}

/// A cached document, else fetched from `url` and cached (`fresh` skips the caches).
async fn document(
    kv: &worker::KvStore,
    key: &str,
    url: &str,
    allowed: &AllowedHosts,
    now: i64,
    fresh: bool,
) -> Result<String, String> {
    if !fresh {
        if let Some(v) = from_isolate(key, now) {
            return Ok(v);
        }
        if let Some(v) = identities::cached_document(kv, key).await {
            keep(key, now, &v);
            return Ok(v);
        }
    }
    let value = fetch::get_json(url, &[], allowed).await?.to_string();
    keep(key, now, &value);
    identities::cache_document(kv, key, &value, CACHE_SECS).await;
    Ok(value)
}

/// The provider's metadata, checked against its configuration.
pub async fn metadata(
    kv: &worker::KvStore,
    provider: &Provider,
    allowed: &AllowedHosts,
    now: i64,
) -> Result<Metadata, String> {
    let super::Endpoints::Oidc {
        issuer,
        discovery_url,
        issuer_rule,
        ..
    } = &provider.endpoints
    else {
        return Err("not an OpenID provider".into());
    };
    let key = format!(
        "meta:{}:{}",
        provider.id,
        crate::crypto::sha256_hex(discovery_url.as_bytes())
    );
    let raw = document(kv, &key, discovery_url, allowed, now, false).await?;
    let meta: Metadata = serde_json::from_str(&raw)
        .map_err(|e| format!("the discovery document is not usable: {e}"))?;
    meta.check(issuer, issuer_rule)?;
    Ok(meta)
}

/// The provider's signing keys; `fresh` fetches them again (an unknown `kid`).
pub async fn keys(
    kv: &worker::KvStore,
    provider: &Provider,
    meta: &Metadata,
    allowed: &AllowedHosts,
    now: i64,
    fresh: bool,
) -> Result<Jwks, String> {
    let key = format!(
        "jwks:{}:{}",
        provider.id,
        crate::crypto::sha256_hex(meta.jwks_uri.as_bytes())
    );
    let raw = document(kv, &key, &meta.jwks_uri, allowed, now, fresh).await?;
    Jwks::parse(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(issuer: &str, auth: Option<&[&str]>) -> Metadata {
        Metadata {
            issuer: issuer.into(),
            authorization_endpoint: format!("{issuer}/authorize"),
            token_endpoint: format!("{issuer}/token"),
            jwks_uri: format!("{issuer}/jwks"),
            token_endpoint_auth_methods_supported: auth
                .map(|m| m.iter().map(|s| s.to_string()).collect()),
            code_challenge_methods_supported: None,
        }
    }

    #[test]
    fn the_discovered_issuer_must_be_the_configured_one() {
        let m = meta("https://id.acme.example.com", None);
        assert!(m
            .check("https://id.acme.example.com/", &IssuerRule::Exact)
            .is_ok());
        assert!(m
            .check("https://id.evil.example.com", &IssuerRule::Exact)
            .is_err());
        let ms = meta("https://login.microsoftonline.com/{tenantid}/v2.0", None);
        assert!(ms
            .check(
                "https://login.microsoftonline.com/common/v2.0",
                &IssuerRule::MicrosoftTenant
            )
            .is_ok());
        assert!(m
            .check(
                "https://login.microsoftonline.com/common/v2.0",
                &IssuerRule::MicrosoftTenant
            )
            .is_err());
    }

    #[test]
    fn client_authentication_follows_what_the_provider_supports() {
        assert_eq!(
            meta("https://a.example.com", None).client_auth(),
            Ok(ClientAuth::Basic)
        );
        assert_eq!(
            meta(
                "https://a.example.com",
                Some(&["client_secret_post", "client_secret_basic"])
            )
            .client_auth(),
            Ok(ClientAuth::Basic)
        );
        assert_eq!(
            meta(
                "https://a.example.com",
                Some(&["private_key_jwt", "client_secret_post"])
            )
            .client_auth(),
            Ok(ClientAuth::Post)
        );
        assert!(meta("https://a.example.com", Some(&["private_key_jwt"]))
            .client_auth()
            .is_err());
    }

    #[test]
    fn a_provider_without_s256_is_refused() {
        let mut m = meta("https://a.example.com", None);
        m.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert!(m
            .check("https://a.example.com", &IssuerRule::Exact)
            .is_err());
    }
}
