//! Access tokens: HS256 JWTs, 15 minutes, with a type claim no other token of ours carries.
//! The verifier pins the algorithm (the key type), the issuer and the audience.

use jwt_simple::prelude::*;
use jwt_simple::JWTError;

pub const ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// The `typ` claim of an access token; LiveKit and other tokens never carry it.
pub const ACCESS_TOKEN_TYPE: &str = "chatgate.access";

#[derive(Serialize, Deserialize, Debug, Clone)]
struct AccessClaims {
    sid: String,
    typ: String,
}

pub struct AccessToken {
    pub user_id: String,
    pub session_id: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

pub struct TokenKeys {
    key: HS256Key,
    issuer: String,
    audience: String,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        TokenKeys {
            key: HS256Key::from_bytes(secret),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Signs an access token issued at `now_secs` (the platform clock, passed in so that
    /// signing does not depend on which clock jwt-simple would pick in wasm).
    pub fn issue(&self, user_id: &str, session_id: &str, now_secs: u64) -> Result<String, String> {
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
        self.key
            .authenticate(claims)
            .map_err(|e| format!("signing failed: {e}"))
    }

    pub fn verify(&self, token: &str, now_secs: u64) -> Result<AccessToken, TokenError> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&[&self.issuer])),
            allowed_audiences: Some(HashSet::from_strings(&[&self.audience])),
            time_tolerance: Some(Duration::from_secs(0)),
            artificial_time: Some(Duration::from_secs(now_secs)),
            max_token_length: Some(4096),
            ..Default::default()
        };
        let claims = self
            .key
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
        Ok(AccessToken {
            user_id,
            session_id: claims.custom.sid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64url;

    const NOW: u64 = 1_800_000_000;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            b"0123456789abcdef0123456789abcdef",
            "chatgate",
            "chatgate-api",
        )
    }

    #[test]
    fn a_fresh_token_verifies_with_its_claims() {
        let t = keys().issue("usr_1", "ses_1", NOW).unwrap();
        let v = keys().verify(&t, NOW + 60).unwrap();
        assert_eq!(
            (v.user_id.as_str(), v.session_id.as_str()),
            ("usr_1", "ses_1")
        );
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let t = keys().issue("usr_1", "ses_1", NOW).unwrap();
        assert_eq!(
            keys().verify(&t, NOW + ACCESS_TOKEN_TTL_SECS + 1).err(),
            Some(TokenError::Expired)
        );
    }

    #[test]
    fn wrong_audience_issuer_or_key_are_invalid() {
        let t = keys().issue("usr_1", "ses_1", NOW).unwrap();
        let other_aud = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "chatgate", "other");
        assert_eq!(other_aud.verify(&t, NOW).err(), Some(TokenError::Invalid));
        let other_iss = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "evil", "chatgate-api");
        assert_eq!(other_iss.verify(&t, NOW).err(), Some(TokenError::Invalid));
        let other_key = TokenKeys::new(
            b"another key, 32 bytes long......",
            "chatgate",
            "chatgate-api",
        );
        assert_eq!(other_key.verify(&t, NOW).err(), Some(TokenError::Invalid));
    }

    #[test]
    fn alg_none_in_any_casing_and_tampering_are_invalid() {
        let t = keys().issue("usr_1", "ses_1", NOW).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
            for forged in [
                format!("{header}.{}.", parts[1]),
                format!("{header}.{}.{}", parts[1], parts[2]),
            ] {
                assert_eq!(
                    keys().verify(&forged, NOW).err(),
                    Some(TokenError::Invalid),
                    "{alg}"
                );
            }
        }
        let payload = String::from_utf8(crate::crypto::b64url_decode(parts[1]).unwrap()).unwrap();
        let tampered = b64url(payload.replace("usr_1", "usr_2").as_bytes());
        let forged = format!("{}.{}.{}", parts[0], tampered, parts[2]);
        assert_eq!(keys().verify(&forged, NOW).err(), Some(TokenError::Invalid));
    }

    #[test]
    fn a_token_without_our_type_claim_is_invalid() {
        let key = HS256Key::from_bytes(b"0123456789abcdef0123456789abcdef");
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
        let t = key.authenticate(claims).unwrap();
        assert_eq!(keys().verify(&t, NOW).err(), Some(TokenError::Invalid));
    }
}
