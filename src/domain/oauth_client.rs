//! The validated parts of an OAuth client an organization registers with chatgate as its
//! OpenID Provider: redirect URIs, the client's type and the scopes it may ask for.

use serde::{Deserialize, Serialize};

/// Every scope chatgate grants, in the order the discovery document lists them.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "org", "offline_access"];
/// The scopes a client gets when its registration names none.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];
/// At most this many redirect URIs (and as many post-logout ones) per client.
pub const MAX_REDIRECT_URIS: usize = 10;
pub const MAX_URI_LEN: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Holds a secret (a server): authenticates at the token endpoint; PKCE is optional.
    Confidential,
    /// Holds no secret (a browser or native app): PKCE S256 is required.
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<ClientType> {
        match s {
            "confidential" => Some(ClientType::Confidential),
            "public" => Some(ClientType::Public),
            _ => None,
        }
    }
}

/// A redirect URI as registered (and later compared, character for character): an absolute
/// `https` URL, or `http` to a loopback host (`localhost`, `127.0.0.1`, `[::1]`) for a client
/// in development; no fragment, no credentials.
pub fn redirect_uri(raw: &str, field: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!(
            "{field}: `{}` {why}",
            raw.chars().take(80).collect::<String>()
        )
    };
    if raw.is_empty() || raw.len() > MAX_URI_LEN {
        return Err(format!("{field}: 1 to {MAX_URI_LEN} characters"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("has spaces or control characters"));
    }
    let url = worker::Url::parse(raw).map_err(|_| bad("is not an absolute URL"))?;
    let host = url.host_str().unwrap_or("");
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if loopback => {}
        "http" => return Err(bad("must be https (http only for localhost or 127.0.0.1)")),
        _ => return Err(bad("must be an https URL")),
    }
    if url.fragment().is_some() || raw.contains('#') {
        return Err(bad("must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(raw.to_string())
}

/// A list of redirect URIs: each valid, no duplicates, at most `MAX_REDIRECT_URIS`, and at
/// least one unless `may_be_empty`.
pub fn redirect_uris(
    raw: &[String],
    field: &str,
    may_be_empty: bool,
) -> Result<Vec<String>, String> {
    if raw.is_empty() && !may_be_empty {
        return Err(format!("{field}: at least one is required"));
    }
    if raw.len() > MAX_REDIRECT_URIS {
        return Err(format!("{field}: at most {MAX_REDIRECT_URIS}"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, uri) in raw.iter().enumerate() {
        let uri = redirect_uri(uri, &format!("{field}[{i}]"))?;
        if out.contains(&uri) {
            return Err(format!("{field}[{i}]: listed twice"));
        }
        out.push(uri);
    }
    Ok(out)
}

/// The scopes a client may ask for: known ones, `openid` among them, no duplicates; in the
/// order of `SCOPES`.
pub fn client_scopes(raw: Option<&[String]>) -> Result<Vec<&'static str>, String> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_SCOPES.to_vec());
    };
    for s in raw {
        if !SCOPES.contains(&s.as_str()) {
            return Err(format!(
                "scopes: `{}` is not one of {}",
                s.chars().take(40).collect::<String>(),
                SCOPES.join(", ")
            ));
        }
    }
    if !raw.iter().any(|s| s == "openid") {
        return Err("scopes: `openid` is required".into());
    }
    let scopes: Vec<&'static str> = SCOPES
        .iter()
        .copied()
        .filter(|s| raw.iter().any(|r| r == s))
        .collect();
    if scopes.len() != raw.len() {
        return Err("scopes: a scope is listed twice".into());
    }
    Ok(scopes)
}

/// Why a requested `scope` parameter is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ScopeError {
    /// A scope chatgate does not grant, or the client may not ask for.
    NotAllowed(String),
    /// No `openid`: chatgate is an OpenID Provider only.
    NoOpenId,
}

/// A request's `scope` (space-separated, RFC 6749 3.3) against what the client may ask for:
/// the scopes in the order of `SCOPES`, duplicates dropped.
pub fn requested_scopes(raw: &str, allowed: &[String]) -> Result<Vec<&'static str>, ScopeError> {
    let asked: Vec<&str> = raw.split(' ').filter(|s| !s.is_empty()).collect();
    for s in &asked {
        if !SCOPES.contains(s) || !allowed.iter().any(|a| a == s) {
            return Err(ScopeError::NotAllowed(s.chars().take(40).collect()));
        }
    }
    if !asked.contains(&"openid") {
        return Err(ScopeError::NoOpenId);
    }
    Ok(SCOPES
        .iter()
        .copied()
        .filter(|s| asked.contains(s))
        .collect())
}

/// Whether the space-separated `granted` covers every scope of `asked`.
pub fn covers(granted: &str, asked: &[&str]) -> bool {
    asked.iter().all(|a| granted.split(' ').any(|g| g == *a))
}

/// A PKCE S256 `code_challenge`: base64url of a SHA-256, 43 characters (RFC 7636 4.2).
pub fn is_s256_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A `code_verifier` of RFC 7636 4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn is_code_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragments_or_credentials() {
        for ok in [
            "https://chat.example.com/oauth/openid/callback",
            "https://app.example.com:8443/cb?tenant=a",
            "http://localhost:3080/oauth/openid/callback",
            "http://127.0.0.1:9000/cb",
            "http://[::1]:9000/cb",
        ] {
            assert_eq!(redirect_uri(ok, "u").as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "/relative/cb",
            "http://chat.example.com/cb",
            "http://10.0.0.1/cb",
            "javascript:alert(1)",
            "com.example.app:/cb",
            "https://example.com/cb#frag",
            "https://user:pw@example.com/cb",
            "https://example.com/c b",
            "ftp://example.com/cb",
        ] {
            assert!(redirect_uri(bad, "u").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_list_of_redirect_uris_has_one_to_ten_distinct_entries() {
        let one = vec!["https://a.example/cb".to_string()];
        assert!(redirect_uris(&one, "redirect_uris", false).is_ok());
        assert!(redirect_uris(&[], "redirect_uris", false).is_err());
        assert!(redirect_uris(&[], "post_logout_redirect_uris", true).is_ok());
        assert!(redirect_uris(&[one[0].clone(), one[0].clone()], "r", false).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        assert!(redirect_uris(&many, "r", false).is_err());
    }

    #[test]
    fn client_scopes_are_known_include_openid_and_default_to_openid_profile_email() {
        assert_eq!(client_scopes(None).unwrap(), DEFAULT_SCOPES.to_vec());
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            client_scopes(Some(&s(&["org", "openid"]))).unwrap(),
            vec!["openid", "org"]
        );
        assert!(client_scopes(Some(&s(&["profile"]))).is_err());
        assert!(client_scopes(Some(&s(&["openid", "admin"]))).is_err());
        assert!(client_scopes(Some(&s(&["openid", "openid"]))).is_err());
    }

    #[test]
    fn a_requested_scope_must_be_allowed_and_include_openid() {
        let allowed: Vec<String> = ["openid", "email"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            requested_scopes("email  openid openid", &allowed),
            Ok(vec!["openid", "email"])
        );
        assert_eq!(
            requested_scopes("openid profile", &allowed),
            Err(ScopeError::NotAllowed("profile".into()))
        );
        assert_eq!(
            requested_scopes("email", &allowed),
            Err(ScopeError::NoOpenId)
        );
        assert!(covers("openid email", &["email"]));
        assert!(!covers("openid email", &["openid", "org"]));
    }

    #[test]
    fn pkce_values_have_rfc_7636s_shapes() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
        assert!(is_code_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!is_code_verifier("short"));
        assert!(!is_code_verifier(&"a".repeat(129)));
    }
}
