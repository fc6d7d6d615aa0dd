//! Access tokens: ES256 JWTs with a `kid` (chatgate's signing keys, `crate::auth::signing`,
//! published as a JWKS), 15 minutes, with a type claim no other token of ours carries.
//! The verifier pins the algorithm (the key type), the key id, the issuer and the audience:
//! any other algorithm (HS256, `none`) is refused.

use jwt_simple::prelude::*;
use jwt_simple::JWTError;

use crate::crypto::b64url;

pub const ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// The `typ` claim of an access token; LiveKit and other tokens never carry it.
pub const ACCESS_TOKEN_TYPE: &str = "chatgate.access";

#[derive(Serialize, Deserialize, Debug, Clone)]
struct AccessClaims {
    sid: String,
    typ: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AccessToken {
    pub user_id: String,
    pub session_id: String,
    /// Its `exp`, in seconds.
    pub expires_at: u64,
}

/// Verified access tokens this isolate has seen, by SHA-256 of the token, with their kid:
/// verifying an ES256 signature costs far more CPU than a hash, and a client sends the same
/// token for up to 15 minutes. An entry serves until the token's `exp`, and only while its
/// key is still one of ours (the caller checks the kid). At most `REMEMBERED_MAX` entries.
struct Remembered {
    kid: String,
    token: AccessToken,
}

const REMEMBERED_MAX: usize = 2048;

thread_local! {
    static REMEMBERED: std::cell::RefCell<std::collections::HashMap<[u8; 32], Remembered>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// A token verified before and not expired at `now_secs`: its claims and its kid.
pub fn remembered(token: &str, now_secs: u64) -> Option<(AccessToken, String)> {
    let hash = crate::crypto::sha256(token.as_bytes());
    REMEMBERED.with(|r| {
        r.borrow()
            .get(&hash)
            .filter(|e| now_secs < e.token.expires_at)
            .map(|e| (e.token.clone(), e.kid.clone()))
    })
}

/// Remembers a token just verified (its kid named the key that verified it).
pub fn remember(token: &str, kid: &str, verified: &AccessToken, now_secs: u64) {
    let hash = crate::crypto::sha256(token.as_bytes());
    REMEMBERED.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() >= REMEMBERED_MAX {
            r.retain(|_, e| now_secs < e.token.expires_at);
            if r.len() >= REMEMBERED_MAX {
                r.clear();
            }
        }
        r.insert(
            hash,
            Remembered {
                kid: kid.to_string(),
                token: verified.clone(),
            },
        );
    });
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

pub struct TokenKeys {
    issuer: String,
    audience: String,
}

/// The algorithm of every access token.
pub const ACCESS_TOKEN_ALG: &str = "ES256";

/// The `kid` of a token's header, if the token claims to be ES256 with one (read before the
/// signature is checked, only to pick the key).
pub fn key_id(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(TokenError::Invalid);
    }
    let meta = Token::decode_metadata(token).map_err(|_| TokenError::Invalid)?;
    if meta.algorithm() != ACCESS_TOKEN_ALG {
        return Err(TokenError::Invalid);
    }
    meta.key_id().map(str::to_owned).ok_or(TokenError::Invalid)
}

const MAX_TOKEN_LENGTH: usize = 4096;

/// Signs a JWT with ECDSA's deterministic nonces (RFC 6979), so the same claims always give
/// the same token: a refresh retried within its grace window must answer with the same access
/// token, as with HS256. (jwt-simple signs with random nonces.)
pub(crate) fn sign_deterministically(
    key: &ES256KeyPair,
    claims: &impl Serialize,
) -> Result<String, String> {
    use p256::ecdsa::signature::Signer;
    let kid = key
        .key_id()
        .as_deref()
        .ok_or("the signing key has no kid")?;
    let header = serde_json::json!({ "alg": ACCESS_TOKEN_ALG, "kid": kid, "typ": "JWT" });
    let payload = serde_json::to_vec(claims).map_err(|e| format!("claims: {e}"))?;
    let signed = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(&payload)
    );
    let signer = p256::ecdsa::SigningKey::from_slice(&key.to_bytes())
        .map_err(|_| "the signing key is malformed".to_string())?;
    let signature: p256::ecdsa::Signature = signer.sign(signed.as_bytes());
    Ok(format!("{signed}.{}", b64url(&signature.to_bytes())))
}

impl TokenKeys {
    pub fn new(issuer: &str, audience: &str) -> Self {
        TokenKeys {
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Signs an access token issued at `now_secs` (the platform clock, passed in so that
    /// signing does not depend on which clock jwt-simple would pick in wasm) with `key`,
    /// whose kid goes in the header.
    pub fn issue(
        &self,
        key: &ES256KeyPair,
        user_id: &str,
        session_id: &str,
        now_secs: u64,
    ) -> Result<String, String> {
        if key.key_id().is_none() {
            return Err("the signing key has no kid".into());
        }
        let mut claims = Claims::with_custom_claims(
            AccessClaims {
                sid: session_id.into(),
                typ: ACCESS_TOKEN_TYPE.into(),
            },
            Duration::from_secs(ACCESS_TOKEN_TTL_SECS),
        )
        .with_issuer(&self.issuer)
        .with_audience(&self.audience)
        .with_subject(user_id);
        let now = Duration::from_secs(now_secs);
        claims.issued_at = Some(now);
        claims.invalid_before = Some(now);
        claims.expires_at = Some(now + Duration::from_secs(ACCESS_TOKEN_TTL_SECS));
        sign_deterministically(key, &claims)
    }

    /// Verifies `token` with `key`, the public key its header's kid names.
    pub fn verify(
        &self,
        key: &ES256PublicKey,
        token: &str,
        now_secs: u64,
    ) -> Result<AccessToken, TokenError> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&[&self.issuer])),
            allowed_audiences: Some(HashSet::from_strings(&[&self.audience])),
            required_key_id: key.key_id().clone(),
            time_tolerance: Some(Duration::from_secs(0)),
            artificial_time: Some(Duration::from_secs(now_secs)),
            max_token_length: Some(MAX_TOKEN_LENGTH),
            ..Default::default()
        };
        let claims = key
            .verify_token::<AccessClaims>(token, Some(options))
            .map_err(|e| match e.downcast_ref::<JWTError>() {
                Some(JWTError::TokenHasExpired) => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        // Every claim we rely on must be there: a token without them is not ours.
        if claims.custom.typ != ACCESS_TOKEN_TYPE
            || claims.expires_at.is_none()
            || claims.issued_at.is_none()
        {
            return Err(TokenError::Invalid);
        }
        let user_id = claims.subject.ok_or(TokenError::Invalid)?;
        let expires_at = claims.expires_at.ok_or(TokenError::Invalid)?.as_secs();
        Ok(AccessToken {
            user_id,
            session_id: claims.custom.sid,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn keys() -> TokenKeys {
        TokenKeys::new("chatgate", "chatgate-api")
    }

    fn pair(kid: &str) -> ES256KeyPair {
        ES256KeyPair::generate().with_key_id(kid)
    }

    /// Issues a token with `key` and verifies it as the guard does: the key its kid names.
    fn verify_with(key: &ES256KeyPair, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        let kid = key_id(token)?;
        if Some(&kid) != key.key_id().as_ref() {
            return Err(TokenError::Invalid);
        }
        keys().verify(&key.public_key(), token, now)
    }

    #[test]
    fn a_fresh_token_is_es256_with_its_kid_and_verifies_with_its_claims() {
        let key = pair("k1");
        let t = keys().issue(&key, "usr_1", "ses_1", NOW).unwrap();
        let meta = Token::decode_metadata(&t).unwrap();
        assert_eq!((meta.algorithm(), meta.key_id()), ("ES256", Some("k1")));
        let v = verify_with(&key, &t, NOW + 60).unwrap();
        assert_eq!(
            (v.user_id.as_str(), v.session_id.as_str()),
            ("usr_1", "ses_1")
        );
    }

    #[test]
    fn the_same_claims_signed_twice_give_the_same_token() {
        // A refresh retried within its grace window answers with the same tokens.
        let key = pair("k1");
        assert_eq!(
            keys().issue(&key, "usr_1", "ses_1", NOW).unwrap(),
            keys().issue(&key, "usr_1", "ses_1", NOW).unwrap()
        );
    }

    #[test]
    fn a_remembered_token_serves_until_its_expiry_and_no_other_token_matches() {
        let key = pair("k1");
        let t = keys().issue(&key, "usr_r", "ses_r", NOW).unwrap();
        let v = verify_with(&key, &t, NOW).unwrap();
        assert_eq!(v.expires_at, NOW + ACCESS_TOKEN_TTL_SECS);
        assert_eq!(remembered(&t, NOW), None);
        remember(&t, "k1", &v, NOW);
        assert_eq!(remembered(&t, NOW + 1), Some((v.clone(), "k1".into())));
        assert_eq!(remembered(&t, NOW + ACCESS_TOKEN_TTL_SECS), None);
        let other = keys().issue(&key, "usr_r", "ses_r", NOW + 1).unwrap();
        assert_eq!(remembered(&other, NOW + 1), None);
        // Full: expired entries go first, and it never grows past its bound.
        for i in 0..REMEMBERED_MAX + 10 {
            remember(&format!("t{i}"), "k1", &v, NOW);
        }
        assert!(REMEMBERED.with(|r| r.borrow().len()) <= REMEMBERED_MAX);
    }

    #[test]
    fn a_key_without_a_kid_does_not_sign() {
        assert!(keys()
            .issue(&ES256KeyPair::generate(), "usr_1", "ses_1", NOW)
            .is_err());
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let key = pair("k1");
        let t = keys().issue(&key, "usr_1", "ses_1", NOW).unwrap();
        assert_eq!(
            verify_with(&key, &t, NOW + ACCESS_TOKEN_TTL_SECS + 1).err(),
            Some(TokenError::Expired)
        );
    }

    #[test]
    fn wrong_audience_issuer_key_or_kid_are_invalid() {
        let key = pair("k1");
        let t = keys().issue(&key, "usr_1", "ses_1", NOW).unwrap();
        let public = key.public_key();
        let other_aud = TokenKeys::new("chatgate", "other");
        assert_eq!(
            other_aud.verify(&public, &t, NOW).err(),
            Some(TokenError::Invalid)
        );
        let other_iss = TokenKeys::new("evil", "chatgate-api");
        assert_eq!(
            other_iss.verify(&public, &t, NOW).err(),
            Some(TokenError::Invalid)
        );
        let other_key = pair("k1").public_key();
        assert_eq!(
            keys().verify(&other_key, &t, NOW).err(),
            Some(TokenError::Invalid)
        );
        // The right key under another kid: the token names k1, not k2.
        let renamed = ES256PublicKey::from_bytes(&public.to_bytes())
            .unwrap()
            .with_key_id("k2");
        assert_eq!(
            keys().verify(&renamed, &t, NOW).err(),
            Some(TokenError::Invalid)
        );
    }

    #[test]
    fn alg_none_in_any_casing_and_tampering_are_invalid() {
        let key = pair("k1");
        let t = keys().issue(&key, "usr_1", "ses_1", NOW).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#).as_bytes());
            for forged in [
                format!("{header}.{}.", parts[1]),
                format!("{header}.{}.{}", parts[1], parts[2]),
            ] {
                assert_eq!(key_id(&forged).err(), Some(TokenError::Invalid), "{alg}");
                assert_eq!(
                    keys().verify(&key.public_key(), &forged, NOW).err(),
                    Some(TokenError::Invalid),
                    "{alg}"
                );
            }
        }
        let payload = String::from_utf8(crate::crypto::b64url_decode(parts[1]).unwrap()).unwrap();
        let tampered = b64url(payload.replace("usr_1", "usr_2").as_bytes());
        let forged = format!("{}.{}.{}", parts[0], tampered, parts[2]);
        assert_eq!(
            verify_with(&key, &forged, NOW).err(),
            Some(TokenError::Invalid)
        );
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_invalid() {
        let key = pair("k1");
        let public = key.public_key();
        for secret in [
            public.to_bytes(),
            ECDSAP256PublicKeyLike::public_key(&public).to_bytes_uncompressed(),
            public.to_pem().unwrap().into_bytes(),
        ] {
            let claims = Claims::with_custom_claims(
                AccessClaims {
                    sid: "ses_1".into(),
                    typ: ACCESS_TOKEN_TYPE.into(),
                },
                Duration::from_secs(60),
            )
            .with_issuer("chatgate")
            .with_audience("chatgate-api")
            .with_subject("usr_1");
            let mut claims = claims;
            claims.issued_at = Some(Duration::from_secs(NOW));
            claims.expires_at = Some(Duration::from_secs(NOW + 60));
            let forged = HS256Key::from_bytes(&secret)
                .with_key_id("k1")
                .authenticate(claims)
                .unwrap();
            assert_eq!(key_id(&forged).err(), Some(TokenError::Invalid));
            assert_eq!(
                keys().verify(&public, &forged, NOW).err(),
                Some(TokenError::Invalid)
            );
        }
    }

    #[test]
    fn a_token_without_our_type_claim_is_invalid() {
        let key = pair("k1");
        let claims = Claims::with_custom_claims(
            AccessClaims {
                sid: "ses_1".into(),
                typ: "refresh".into(),
            },
            Duration::from_secs(60),
        )
        .with_issuer("chatgate")
        .with_audience("chatgate-api")
        .with_subject("usr_1");
        let mut claims = claims;
        claims.issued_at = Some(Duration::from_secs(NOW));
        claims.expires_at = Some(Duration::from_secs(NOW + 60));
        let t = key.sign(claims).unwrap();
        assert_eq!(verify_with(&key, &t, NOW).err(), Some(TokenError::Invalid));
    }
}
