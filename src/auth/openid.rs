//! The tokens chatgate issues as an OpenID Provider (`routes::openid`), signed with the same
//! ES256 keys as its own access tokens (`auth::signing`, the JWKS) and verifiable from the JWKS:
//!
//! - ID tokens (OpenID Connect Core 2): `iss` the public base URL, `aud` the client id, `sub`
//!   the user id, `auth_time`, `nonce` (from the authorization request), `at_hash`, and the
//!   claims the granted scopes allow.
//! - Access tokens for clients: ES256 JWTs with `aud` the client id, `scope`, `sid` (the
//!   grant) and `typ: chatgate.client_access`. chatgate's own routes refuse them: those want
//!   `aud` = `JWT_AUDIENCE` and `typ: chatgate.access` (`auth::tokens`). Only
//!   `GET /oauth/userinfo` takes them, and checks the grant is still live.
//!
//! Both live `ACCESS_TOKEN_TTL_SECS`, so a rotated key verifies every token it signed until
//! that token expires (`signing::RETIRED_KEPT_MS`).

use jwt_simple::prelude::*;
use jwt_simple::JWTError;

use crate::auth::tokens::{sign_deterministically, TokenError, ACCESS_TOKEN_TTL_SECS};
use crate::crypto::{b64url, sha256};

/// The `typ` claim of a client's access token.
pub const CLIENT_ACCESS_TYPE: &str = "chatgate.client_access";
/// How long an ID token and a client's access token live.
pub const TOKEN_TTL_SECS: u64 = ACCESS_TOKEN_TTL_SECS;
const MAX_TOKEN_LENGTH: usize = 8192;

#[derive(Serialize, Deserialize, Debug, Clone)]
struct ClientAccessClaims {
    typ: String,
    sid: String,
    scope: String,
    client_id: String,
}

/// A client's access token, verified.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAccess {
    pub user_id: String,
    pub client_id: String,
    pub session_id: String,
    pub scope: String,
}

/// What an access token for a client says.
pub struct AccessGrant<'a> {
    pub issuer: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub session_id: &'a str,
    pub scope: &'a str,
}

/// Signs an access token for a client, issued at `now_secs`.
pub fn issue_access(key: &ES256KeyPair, g: &AccessGrant, now_secs: u64) -> Result<String, String> {
    let claims = serde_json::json!({
        "iss": g.issuer,
        "sub": g.user_id,
        "aud": g.client_id,
        "iat": now_secs,
        "nbf": now_secs,
        "exp": now_secs + TOKEN_TTL_SECS,
        "typ": CLIENT_ACCESS_TYPE,
        "sid": g.session_id,
        "scope": g.scope,
        "client_id": g.client_id,
    });
    sign_deterministically(key, &claims)
}

/// Verifies a client's access token with `key` (the one its kid names): ES256, our issuer,
/// unexpired, `typ` a client access token and `aud` its client.
pub fn verify_access(
    key: &ES256PublicKey,
    issuer: &str,
    token: &str,
    now_secs: u64,
) -> Result<ClientAccess, TokenError> {
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[issuer])),
        required_key_id: key.key_id().clone(),
        time_tolerance: Some(Duration::from_secs(0)),
        artificial_time: Some(Duration::from_secs(now_secs)),
        max_token_length: Some(MAX_TOKEN_LENGTH),
        ..Default::default()
    };
    let claims = key
        .verify_token::<ClientAccessClaims>(token, Some(options))
        .map_err(|e| match e.downcast_ref::<JWTError>() {
            Some(JWTError::TokenHasExpired) => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
    let audience = claims
        .audiences
        .and_then(|a| a.into_string().ok())
        .ok_or(TokenError::Invalid)?;
    if claims.custom.typ != CLIENT_ACCESS_TYPE
        || audience != claims.custom.client_id
        || claims.expires_at.is_none()
    {
        return Err(TokenError::Invalid);
    }
    Ok(ClientAccess {
        user_id: claims.subject.ok_or(TokenError::Invalid)?,
        client_id: claims.custom.client_id,
        session_id: claims.custom.sid,
        scope: claims.custom.scope,
    })
}

/// `at_hash`: base64url of the left half of the SHA-256 of the access token (Core 3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes())[..16])
}

/// What an ID token says beyond the standard claims.
pub struct IdToken<'a> {
    pub issuer: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    /// When the user signed in, in seconds.
    pub auth_time: u64,
    pub access_token: &'a str,
    /// The claims the granted scopes allow (`email`, `name`, `organization`…).
    pub claims: &'a serde_json::Map<String, serde_json::Value>,
}

/// Signs an ID token issued at `now_secs`.
pub fn issue_id_token(key: &ES256KeyPair, t: &IdToken, now_secs: u64) -> Result<String, String> {
    let mut claims = t.claims.clone();
    for (name, value) in [
        ("iss", serde_json::json!(t.issuer)),
        ("sub", serde_json::json!(t.user_id)),
        ("aud", serde_json::json!(t.client_id)),
        ("azp", serde_json::json!(t.client_id)),
        ("iat", serde_json::json!(now_secs)),
        ("exp", serde_json::json!(now_secs + TOKEN_TTL_SECS)),
        ("auth_time", serde_json::json!(t.auth_time)),
        ("at_hash", serde_json::json!(at_hash(t.access_token))),
    ] {
        claims.insert(name.into(), value);
    }
    if let Some(nonce) = t.nonce {
        claims.insert("nonce".into(), serde_json::json!(nonce));
    }
    sign_deterministically(key, &serde_json::Value::Object(claims))
}

/// An ID token as a logout request's `id_token_hint`: signed by one of our keys for our
/// issuer, expired or not. Its subject and client.
pub fn verify_id_token_hint(
    key: &ES256PublicKey,
    issuer: &str,
    token: &str,
    now_secs: u64,
) -> Result<(String, String), TokenError> {
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[issuer])),
        required_key_id: key.key_id().clone(),
        // An expired ID token still says who the user was: only its key must still be ours.
        time_tolerance: Some(Duration::from_days(365)),
        artificial_time: Some(Duration::from_secs(now_secs)),
        max_token_length: Some(MAX_TOKEN_LENGTH),
        ..Default::default()
    };
    let claims = key
        .verify_token::<serde_json::Map<String, serde_json::Value>>(token, Some(options))
        .map_err(|_| TokenError::Invalid)?;
    if claims.custom.contains_key("typ") {
        // An access token (ours or a client's) is not an ID token.
        return Err(TokenError::Invalid);
    }
    let audience = claims
        .audiences
        .and_then(|a| a.into_string().ok())
        .ok_or(TokenError::Invalid)?;
    Ok((claims.subject.ok_or(TokenError::Invalid)?, audience))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://chat.example.com";

    fn pair() -> ES256KeyPair {
        ES256KeyPair::generate().with_key_id("k1")
    }

    fn grant<'a>() -> AccessGrant<'a> {
        AccessGrant {
            issuer: ISS,
            user_id: "usr_1",
            client_id: "cgc_1",
            session_id: "ses_1",
            scope: "openid email",
        }
    }

    #[test]
    fn a_client_access_token_verifies_with_its_claims_and_not_as_chatgates_own() {
        let key = pair();
        let t = issue_access(&key, &grant(), NOW).unwrap();
        let v = verify_access(&key.public_key(), ISS, &t, NOW + 1).unwrap();
        assert_eq!(
            v,
            ClientAccess {
                user_id: "usr_1".into(),
                client_id: "cgc_1".into(),
                session_id: "ses_1".into(),
                scope: "openid email".into(),
            }
        );
        // chatgate's own verifier (any audience it could be configured with) refuses it.
        for audience in ["chatgate-api", "cgc_1"] {
            let own = crate::auth::tokens::TokenKeys::new(ISS, audience);
            assert!(
                own.verify(&key.public_key(), &t, NOW + 1).is_err(),
                "{audience}"
            );
        }
        assert_eq!(
            verify_access(&key.public_key(), ISS, &t, NOW + TOKEN_TTL_SECS + 1),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_access(&key.public_key(), "https://evil.example", &t, NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn chatgates_own_access_token_is_not_a_client_access_token() {
        let key = pair();
        let own = crate::auth::tokens::TokenKeys::new(ISS, "chatgate-api")
            .issue(&key, "usr_1", "ses_1", NOW)
            .unwrap();
        assert_eq!(
            verify_access(&key.public_key(), ISS, &own, NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn an_id_token_carries_the_standard_claims_and_at_hash() {
        let key = pair();
        let mut extra = serde_json::Map::new();
        extra.insert("email".into(), serde_json::json!("a@example.com"));
        let access = issue_access(&key, &grant(), NOW).unwrap();
        let t = issue_id_token(
            &key,
            &IdToken {
                issuer: ISS,
                user_id: "usr_1",
                client_id: "cgc_1",
                nonce: Some("n-1"),
                auth_time: NOW - 30,
                access_token: &access,
                claims: &extra,
            },
            NOW,
        )
        .unwrap();
        let claims = key
            .public_key()
            .verify_token::<serde_json::Map<String, serde_json::Value>>(
                &t,
                Some(VerificationOptions {
                    artificial_time: Some(Duration::from_secs(NOW)),
                    ..Default::default()
                }),
            )
            .unwrap();
        assert_eq!(claims.nonce.as_deref(), Some("n-1"));
        assert_eq!(claims.custom["auth_time"], NOW - 30);
        assert_eq!(claims.custom["email"], "a@example.com");
        assert_eq!(claims.custom["at_hash"], at_hash(&access).as_str());
        assert_eq!(
            verify_id_token_hint(&key.public_key(), ISS, &t, NOW + 86_400),
            Ok(("usr_1".into(), "cgc_1".into()))
        );
        // An access token is no ID token hint.
        assert!(verify_id_token_hint(&key.public_key(), ISS, &access, NOW).is_err());
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256_in_base64url() {
        // OpenID Connect Core, appendix A.3's access token and at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
