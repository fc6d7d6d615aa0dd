//! Sign-in through OAuth 2.0 / OpenID Connect providers configured by the operator: Google,
//! Microsoft and any OpenID provider by its issuer (discovery, ID tokens verified against the
//! provider's JWKS), and GitHub (OAuth 2.0 without OpenID: the account and its verified
//! addresses come from GitHub's API).
//!
//! Configuration, one group of variables per provider (secrets as wrangler secrets):
//! - `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`
//! - `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET`, `MICROSOFT_TENANT` (`common` by default;
//!   `organizations`, `consumers`, or a tenant's id or domain)
//! - `GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET`, and for GitHub Enterprise Server
//!   `GITHUB_OAUTH_URL` (`https://github.com`) and `GITHUB_API_URL` (`https://api.github.com`)
//! - `OIDC_PROVIDERS=acme,okta`, then for each id `OIDC_<ID>_ISSUER`, `OIDC_<ID>_CLIENT_ID`,
//!   `OIDC_<ID>_CLIENT_SECRET`, optionally `OIDC_<ID>_NAME` and `OIDC_<ID>_SCOPES`
//! - `OIDC_ALLOW_INSECURE_HOSTS`: hosts that may be reached over plain http and even when
//!   internal (a local test provider), as `WEBHOOK_ALLOW_INSECURE_HOSTS` for webhooks.

pub mod discovery;
pub mod fetch;
pub mod flow;
pub mod github;
pub mod id_token;

use serde::Serialize;

use crate::domain::outbound::{self, AllowedHosts};

/// What kind of provider, as `GET /api/auth/providers` names it (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Google,
    Microsoft,
    Github,
    /// Any OpenID provider, by its issuer.
    Oidc,
}

/// Which `iss` an ID token of the provider may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssuerRule {
    /// Exactly the issuer that discovery names (and the operator configured).
    Exact,
    /// Google's: `https://accounts.google.com`, or the same without the scheme, as Google
    /// documents its ID tokens may carry.
    Google,
    /// Microsoft's multi-tenant endpoints (`common`, `organizations`, `consumers`): discovery
    /// names `https://login.microsoftonline.com/{tenantid}/v2.0`, and a token's issuer is that
    /// with its own `tid` claim in place of `{tenantid}`.
    MicrosoftTenant,
}

#[derive(Clone, Debug)]
pub struct Provider {
    /// Lower-case letters, digits and `-`: the path segment of its routes.
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub client_id: String,
    client_secret: String,
    pub endpoints: Endpoints,
}

/// Where a provider lives.
#[derive(Clone, Debug)]
pub enum Endpoints {
    /// An OpenID provider: its issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    Oidc {
        issuer: String,
        discovery_url: String,
        issuer_rule: IssuerRule,
        scopes: String,
    },
    /// GitHub: `{oauth}/login/oauth/authorize`, `{oauth}/login/oauth/access_token`, `{api}/user`.
    Github { oauth_url: String, api_url: String },
}

impl Provider {
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// The URLs this provider's configuration names, each of which must pass the outbound rule.
    fn configured_urls(&self) -> Vec<&str> {
        match &self.endpoints {
            Endpoints::Oidc { discovery_url, .. } => vec![discovery_url],
            Endpoints::Github { oauth_url, api_url } => vec![oauth_url, api_url],
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

/// The providers of this server, in the order the sign-in page shows them.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    pub list: Vec<Provider>,
    /// `OIDC_ALLOW_INSECURE_HOSTS`.
    pub insecure_hosts: AllowedHosts,
}

#[derive(Serialize)]
pub struct ProviderView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub kind: Kind,
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const DEFAULT_SCOPES: &str = "openid email profile";
const BUILT_IN: [&str; 3] = ["google", "microsoft", "github"];

/// Whether `id` may name a provider: 1 to 32 lower-case letters, digits and `-`.
pub fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

fn discovery_url_of(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl Providers {
    /// Reads the providers from the variables `var` gives (trimmed, `None` when unset or empty).
    pub fn parse(var: &dyn Fn(&str) -> Option<String>) -> Result<Providers, String> {
        let insecure_hosts =
            AllowedHosts::parse(&var("OIDC_ALLOW_INSECURE_HOSTS").unwrap_or_default())
                .map_err(|e| format!("OIDC_ALLOW_INSECURE_HOSTS is invalid: {e}"))?;
        let mut list = Vec::new();
        let pair = |prefix: &str| -> Result<Option<(String, String)>, String> {
            let id = var(&format!("{prefix}_CLIENT_ID"));
            let secret = var(&format!("{prefix}_CLIENT_SECRET"));
            match (id, secret) {
                (None, None) => Ok(None),
                (Some(id), Some(secret)) => Ok(Some((id, secret))),
                _ => Err(format!(
                    "{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET must be set together"
                )),
            }
        };
        if let Some((client_id, client_secret)) = pair("GOOGLE")? {
            list.push(Provider {
                id: "google".into(),
                name: "Google".into(),
                kind: Kind::Google,
                client_id,
                client_secret,
                endpoints: Endpoints::Oidc {
                    issuer: GOOGLE_ISSUER.into(),
                    discovery_url: discovery_url_of(GOOGLE_ISSUER),
                    issuer_rule: IssuerRule::Google,
                    scopes: DEFAULT_SCOPES.into(),
                },
            });
        }
        if let Some((client_id, client_secret)) = pair("MICROSOFT")? {
            let tenant = var("MICROSOFT_TENANT").unwrap_or_else(|| "common".into());
            if tenant.is_empty()
                || !tenant
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err("MICROSOFT_TENANT must be common, organizations, consumers, or a tenant's id or domain".into());
            }
            let multi = ["common", "organizations", "consumers"]
                .contains(&tenant.to_ascii_lowercase().as_str());
            let issuer = format!("https://login.microsoftonline.com/{tenant}/v2.0");
            list.push(Provider {
                id: "microsoft".into(),
                name: "Microsoft".into(),
                kind: Kind::Microsoft,
                client_id,
                client_secret,
                endpoints: Endpoints::Oidc {
                    discovery_url: discovery_url_of(&issuer),
                    issuer,
                    issuer_rule: if multi {
                        IssuerRule::MicrosoftTenant
                    } else {
                        IssuerRule::Exact
                    },
                    scopes: DEFAULT_SCOPES.into(),
                },
            });
        }
        if let Some((client_id, client_secret)) = pair("GITHUB")? {
            let url = |name: &str, default: &str| {
                var(name)
                    .unwrap_or_else(|| default.into())
                    .trim_end_matches('/')
                    .to_string()
            };
            list.push(Provider {
                id: "github".into(),
                name: "GitHub".into(),
                kind: Kind::Github,
                client_id,
                client_secret,
                endpoints: Endpoints::Github {
                    oauth_url: url("GITHUB_OAUTH_URL", "https://github.com"),
                    api_url: url("GITHUB_API_URL", "https://api.github.com"),
                },
            });
        }
        for id in var("OIDC_PROVIDERS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if !valid_id(id) {
                return Err(format!(
                    "OIDC_PROVIDERS: `{id}` is not a provider id (lower-case letters, digits and -, at most 32)"
                ));
            }
            if BUILT_IN.contains(&id) || list.iter().any(|p: &Provider| p.id == id) {
                return Err(format!("OIDC_PROVIDERS: `{id}` is named twice (google, microsoft and github have their own variables)"));
            }
            let prefix = format!("OIDC_{}", id.to_ascii_uppercase().replace('-', "_"));
            let issuer = var(&format!("{prefix}_ISSUER"))
                .ok_or_else(|| format!("{prefix}_ISSUER is not set"))?;
            let (client_id, client_secret) = pair(&prefix)?.ok_or_else(|| {
                format!("{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET are not set")
            })?;
            let scopes = var(&format!("{prefix}_SCOPES")).unwrap_or_else(|| DEFAULT_SCOPES.into());
            if !scopes.split_whitespace().any(|s| s == "openid") {
                return Err(format!("{prefix}_SCOPES must include openid"));
            }
            list.push(Provider {
                id: id.to_string(),
                name: var(&format!("{prefix}_NAME")).unwrap_or_else(|| id.to_string()),
                kind: Kind::Oidc,
                client_id,
                client_secret,
                endpoints: Endpoints::Oidc {
                    discovery_url: discovery_url_of(&issuer),
                    issuer,
                    issuer_rule: IssuerRule::Exact,
                    scopes,
                },
            });
        }
        for p in &list {
            for url in p.configured_urls() {
                outbound::check(url, &insecure_hosts)
                    .map_err(|e| format!("the provider `{}`: the URL {url} {e}", p.id))?;
            }
        }
        Ok(Providers {
            list,
            insecure_hosts,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.id == id)
    }

    pub fn views(&self) -> Vec<ProviderView<'_>> {
        self.list
            .iter()
            .map(|p| ProviderView {
                id: &p.id,
                name: &p.name,
                kind: p.kind,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Providers, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Providers::parse(&|name| map.get(name).cloned())
    }

    #[test]
    fn no_variables_no_providers() {
        assert!(parse(&[]).unwrap().list.is_empty());
    }

    #[test]
    fn each_provider_reads_its_own_variables() {
        let p = parse(&[
            ("GOOGLE_CLIENT_ID", "g-id"),
            ("GOOGLE_CLIENT_SECRET", "g-secret"),
            ("MICROSOFT_CLIENT_ID", "m-id"),
            ("MICROSOFT_CLIENT_SECRET", "m-secret"),
            ("GITHUB_CLIENT_ID", "gh-id"),
            ("GITHUB_CLIENT_SECRET", "gh-secret"),
            ("OIDC_PROVIDERS", "acme, corp-sso"),
            ("OIDC_ACME_ISSUER", "https://id.acme.example.com"),
            ("OIDC_ACME_CLIENT_ID", "a-id"),
            ("OIDC_ACME_CLIENT_SECRET", "a-secret"),
            ("OIDC_ACME_NAME", "Acme SSO"),
            ("OIDC_CORP_SSO_ISSUER", "https://login.corp.example.org/"),
            ("OIDC_CORP_SSO_CLIENT_ID", "c-id"),
            ("OIDC_CORP_SSO_CLIENT_SECRET", "c-secret"),
        ])
        .unwrap();
        let ids: Vec<_> = p.list.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["google", "microsoft", "github", "acme", "corp-sso"]);
        assert_eq!(p.get("acme").unwrap().name, "Acme SSO");
        assert_eq!(p.get("corp-sso").unwrap().name, "corp-sso");
        match &p.get("corp-sso").unwrap().endpoints {
            Endpoints::Oidc { discovery_url, .. } => assert_eq!(
                discovery_url,
                "https://login.corp.example.org/.well-known/openid-configuration"
            ),
            other => panic!("{other:?}"),
        }
        match &p.get("microsoft").unwrap().endpoints {
            Endpoints::Oidc {
                issuer_rule,
                discovery_url,
                ..
            } => {
                assert_eq!(*issuer_rule, IssuerRule::MicrosoftTenant);
                assert!(discovery_url.starts_with("https://login.microsoftonline.com/common/v2.0/"));
            }
            other => panic!("{other:?}"),
        }
        let json = serde_json::to_value(p.views()).unwrap();
        assert_eq!(
            json[2],
            serde_json::json!({"id": "github", "name": "GitHub", "type": "github"})
        );
        assert_eq!(json[3]["type"], "oidc");
        // Secrets are never in what the providers route shows, nor in Debug output's view.
        assert!(!json.to_string().contains("secret"));
    }

    #[test]
    fn a_single_tenant_microsoft_issuer_is_exact() {
        let p = parse(&[
            ("MICROSOFT_CLIENT_ID", "m"),
            ("MICROSOFT_CLIENT_SECRET", "s"),
            ("MICROSOFT_TENANT", "contoso.onmicrosoft.com"),
        ])
        .unwrap();
        match &p.list[0].endpoints {
            Endpoints::Oidc { issuer_rule, .. } => assert_eq!(*issuer_rule, IssuerRule::Exact),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn half_configured_or_unsafe_providers_are_refused() {
        for (case, vars) in [
            ("id without secret", vec![("GOOGLE_CLIENT_ID", "x")]),
            ("secret without id", vec![("GITHUB_CLIENT_SECRET", "x")]),
            ("bad id", vec![("OIDC_PROVIDERS", "Acme")]),
            ("built-in id", vec![("OIDC_PROVIDERS", "google")]),
            (
                "no issuer",
                vec![
                    ("OIDC_PROVIDERS", "acme"),
                    ("OIDC_ACME_CLIENT_ID", "a"),
                    ("OIDC_ACME_CLIENT_SECRET", "b"),
                ],
            ),
            (
                "plain http issuer",
                vec![
                    ("OIDC_PROVIDERS", "acme"),
                    ("OIDC_ACME_ISSUER", "http://id.acme.example.com"),
                    ("OIDC_ACME_CLIENT_ID", "a"),
                    ("OIDC_ACME_CLIENT_SECRET", "b"),
                ],
            ),
            (
                "internal issuer",
                vec![
                    ("OIDC_PROVIDERS", "acme"),
                    ("OIDC_ACME_ISSUER", "https://10.0.0.5"),
                    ("OIDC_ACME_CLIENT_ID", "a"),
                    ("OIDC_ACME_CLIENT_SECRET", "b"),
                ],
            ),
            (
                "no openid scope",
                vec![
                    ("OIDC_PROVIDERS", "acme"),
                    ("OIDC_ACME_ISSUER", "https://id.acme.example.com"),
                    ("OIDC_ACME_CLIENT_ID", "a"),
                    ("OIDC_ACME_CLIENT_SECRET", "b"),
                    ("OIDC_ACME_SCOPES", "email profile"),
                ],
            ),
            (
                "bad tenant",
                vec![
                    ("MICROSOFT_CLIENT_ID", "a"),
                    ("MICROSOFT_CLIENT_SECRET", "b"),
                    ("MICROSOFT_TENANT", "a/b"),
                ],
            ),
        ] {
            assert!(parse(&vars).is_err(), "{case}");
        }
    }

    #[test]
    fn a_local_test_provider_needs_its_host_allowed() {
        let vars = vec![
            ("OIDC_PROVIDERS", "local"),
            ("OIDC_LOCAL_ISSUER", "http://127.0.0.1:9400"),
            ("OIDC_LOCAL_CLIENT_ID", "a"),
            ("OIDC_LOCAL_CLIENT_SECRET", "b"),
        ];
        assert!(parse(&vars).is_err());
        let mut allowed = vars.clone();
        allowed.push(("OIDC_ALLOW_INSECURE_HOSTS", "127.0.0.1"));
        assert_eq!(parse(&allowed).unwrap().list.len(), 1);
    }
}
