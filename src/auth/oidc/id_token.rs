//! ID tokens (OpenID Connect Core 1.0, 3.1.3.7): the signature against the provider's JWKS
//! (RS256/384/512, PS256/384/512, ES256, ES384; anything else, `none` and HMAC included, is
//! refused), then `iss`, `aud`, `azp`, `exp`, `iat` and `nonce`. The JOSE work is jwt-simple's
//! (pure Rust, the same crate that signs the access tokens).

use jwt_simple::prelude::*;
use jwt_simple::JWTError;
use serde::Deserialize;
use serde_json::Value;

use super::IssuerRule;
use crate::crypto::b64url_decode;

/// Clock skew tolerated between the provider and the Worker.
const LEEWAY_SECS: u64 = 60;
/// An ID token is used right after it is issued: one older than this is refused.
const MAX_AGE_SECS: u64 = 10 * 60;

/// One key of a JWK Set (RFC 7517), as published; converted when a token names it.
#[derive(Clone, Debug, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    pub fn parse(raw: &str) -> Result<Jwks, String> {
        serde_json::from_str(raw).map_err(|e| format!("the provider's JWKS is not usable: {e}"))
    }
}

/// Why an ID token was refused: `reason()` goes to the audit log and the sign-in page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No key of the set fits the token's `kid` and algorithm (fetch the set again, once).
    UnknownKey,
    Malformed,
    UnsupportedAlgorithm,
    Signature,
    Expired,
    /// `iat` in the future, or too long ago; `nbf` in the future.
    IssuedAt,
    Issuer,
    Audience,
    AuthorizedParty,
    Nonce,
    /// A claim the sign-in needs is missing (`sub`, `exp`, `iat`; `tid` for Microsoft).
    MissingClaim(&'static str),
}

impl Fault {
    pub fn reason(&self) -> &'static str {
        match self {
            Fault::UnknownKey => "id_token_unknown_key",
            Fault::Malformed => "id_token_malformed",
            Fault::UnsupportedAlgorithm => "id_token_algorithm",
            Fault::Signature => "id_token_signature",
            Fault::Expired => "id_token_expired",
            Fault::IssuedAt => "id_token_issued_at",
            Fault::Issuer => "id_token_issuer",
            Fault::Audience => "id_token_audience",
            Fault::AuthorizedParty => "id_token_azp",
            Fault::Nonce => "id_token_nonce",
            Fault::MissingClaim(_) => "id_token_claims",
        }
    }
}

/// What the token must say.
pub struct Expected<'a> {
    /// The issuer of the provider's discovery document.
    pub issuer: &'a str,
    pub rule: &'a IssuerRule,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now_secs: u64,
}

/// Who signed in, as the verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `sub` (for Microsoft's multi-tenant endpoints, `tid/sub`: a subject is unique within
    /// its issuer, and there each tenant is one).
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct OidcClaims {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    /// Microsoft's optional "email domain owner verified" claim.
    #[serde(default)]
    xms_edov: Option<Value>,
}

/// `true`, or the string `"true"` (some providers send booleans as strings).
fn truthy(v: &Option<Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn options(now_secs: u64) -> VerificationOptions {
    VerificationOptions {
        time_tolerance: Some(Duration::from_secs(LEEWAY_SECS)),
        max_validity: Some(Duration::from_secs(MAX_AGE_SECS)),
        artificial_time: Some(Duration::from_secs(now_secs)),
        max_token_length: Some(16 * 1024),
        ..Default::default()
    }
}

fn fault_of(e: &jwt_simple::Error) -> Fault {
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::InvalidSignature) => Fault::Signature,
        Some(JWTError::TokenHasExpired) => Fault::Expired,
        Some(JWTError::ClockDrift | JWTError::TokenIsTooOld | JWTError::TokenNotValidYet) => {
            Fault::IssuedAt
        }
        _ => Fault::Malformed,
    }
}

fn b64(field: &Option<String>) -> Result<Vec<u8>, Fault> {
    field
        .as_deref()
        .and_then(b64url_decode)
        .ok_or(Fault::Malformed)
}

/// Verifies the signature of `token` with one JWK; `Fault::Signature` when it does not match.
fn verify_with(
    jwk: &Jwk,
    alg: &str,
    token: &str,
    now_secs: u64,
) -> Result<JWTClaims<OidcClaims>, Fault> {
    let o = || Some(options(now_secs));
    let rsa = || -> Result<(Vec<u8>, Vec<u8>), Fault> { Ok((b64(&jwk.n)?, b64(&jwk.e)?)) };
    let ec = |len: usize| -> Result<Vec<u8>, Fault> {
        let (x, y) = (b64(&jwk.x)?, b64(&jwk.y)?);
        if x.len() != len || y.len() != len {
            return Err(Fault::Malformed);
        }
        Ok([&[4u8][..], &x, &y].concat())
    };
    let bad_key = |_| Fault::Malformed;
    let result = match alg {
        "RS256" => {
            let (n, e) = rsa()?;
            RS256PublicKey::from_components(&n, &e)
                .map_err(bad_key)?
                .verify_token(token, o())
        }
        "RS384" => {
            let (n, e) = rsa()?;
            RS384PublicKey::from_components(&n, &e)
                .map_err(bad_key)?
                .verify_token(token, o())
        }
        "RS512" => {
            let (n, e) = rsa()?;
            RS512PublicKey::from_components(&n, &e)
                .map_err(bad_key)?
                .verify_token(token, o())
        }
        "PS256" => {
            let (n, e) = rsa()?;
            PS256PublicKey::from_components(&n, &e)
                .map_err(bad_key)?
                .verify_token(token, o())
        }
        "PS384" => {
            let (n, e) = rsa()?;
            PS384PublicKey::from_components(&n, &e)
                .map_err(bad_key)?
                .verify_token(token, o())
        }
        "PS512" => {
            let (n, e) = rsa()?;
            PS512PublicKey::from_components(&n, &e)
                .map_err(bad_key)?
                .verify_token(token, o())
        }
        "ES256" => ES256PublicKey::from_bytes(&ec(32)?)
            .map_err(bad_key)?
            .verify_token(token, o()),
        "ES384" => ES384PublicKey::from_bytes(&ec(48)?)
            .map_err(bad_key)?
            .verify_token(token, o()),
        _ => return Err(Fault::UnsupportedAlgorithm),
    };
    result.map_err(|e| fault_of(&e))
}

/// Whether a JWK may verify a token signed with `alg`.
fn fits(jwk: &Jwk, alg: &str) -> bool {
    let kty = match alg {
        "ES256" | "ES384" => "EC",
        _ => "RSA",
    };
    let crv_ok = match alg {
        "ES256" => jwk.crv.as_deref() == Some("P-256"),
        "ES384" => jwk.crv.as_deref() == Some("P-384"),
        _ => true,
    };
    jwk.kty == kty
        && crv_ok
        && jwk.use_.as_deref().is_none_or(|u| u == "sig")
        && jwk.alg.as_deref().is_none_or(|a| a == alg)
}

const ALGORITHMS: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

/// Verifies an ID token against the provider's keys and what the sign-in expects.
pub fn verify(token: &str, jwks: &Jwks, want: &Expected) -> Result<Verified, Fault> {
    let meta = Token::decode_metadata(token).map_err(|_| Fault::Malformed)?;
    let alg = meta.algorithm();
    if !ALGORITHMS.contains(&alg) {
        return Err(Fault::UnsupportedAlgorithm);
    }
    let kid = meta.key_id();
    let candidates: Vec<&Jwk> = jwks
        .keys
        .iter()
        .filter(|k| fits(k, alg) && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
        .collect();
    if candidates.is_empty() {
        return Err(Fault::UnknownKey);
    }
    let mut verdict = Err(Fault::Signature);
    for jwk in candidates {
        verdict = verify_with(jwk, alg, token, want.now_secs);
        if !matches!(verdict, Err(Fault::Signature | Fault::Malformed)) {
            break;
        }
    }
    let claims = verdict?;
    check_claims(claims, want)
}

fn check_claims(claims: JWTClaims<OidcClaims>, want: &Expected) -> Result<Verified, Fault> {
    if claims.expires_at.is_none() {
        return Err(Fault::MissingClaim("exp"));
    }
    if claims.issued_at.is_none() {
        return Err(Fault::MissingClaim("iat"));
    }
    let sub = claims
        .subject
        .clone()
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or(Fault::MissingClaim("sub"))?;
    let iss = claims.issuer.as_deref().ok_or(Fault::Issuer)?;
    let custom = &claims.custom;
    let subject = match want.rule {
        IssuerRule::Exact => {
            if iss != want.issuer {
                return Err(Fault::Issuer);
            }
            sub
        }
        IssuerRule::Google => {
            if iss != "https://accounts.google.com" && iss != "accounts.google.com" {
                return Err(Fault::Issuer);
            }
            sub
        }
        IssuerRule::MicrosoftTenant => {
            let tid = custom
                .tid
                .as_deref()
                .filter(|t| {
                    !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .ok_or(Fault::MissingClaim("tid"))?;
            if iss != want.issuer.replace("{tenantid}", tid) {
                return Err(Fault::Issuer);
            }
            format!("{tid}/{sub}")
        }
    };
    let audiences = claims
        .audiences
        .clone()
        .map(|a| a.into_set())
        .unwrap_or_default();
    if !audiences.contains(want.client_id) {
        return Err(Fault::Audience);
    }
    // Several audiences: `azp` must name this client; when present it must anyway.
    if audiences.len() > 1 && custom.azp.is_none() {
        return Err(Fault::AuthorizedParty);
    }
    if custom
        .azp
        .as_deref()
        .is_some_and(|azp| azp != want.client_id)
    {
        return Err(Fault::AuthorizedParty);
    }
    if claims.nonce.as_deref() != Some(want.nonce) {
        return Err(Fault::Nonce);
    }
    let microsoft = iss.starts_with("https://login.microsoftonline.com/");
    let email_verified = truthy(&custom.email_verified) || (microsoft && truthy(&custom.xms_edov));
    Ok(Verified {
        subject,
        email: custom.email.clone().filter(|e| !e.is_empty()),
        email_verified,
        name: custom
            .name
            .clone()
            .or_else(|| custom.preferred_username.clone())
            .filter(|n| !n.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64url;

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "https://id.example.com";
    const CLIENT: &str = "chatgate-client";
    const NONCE: &str = "n-0S6_WzA2Mj";

    fn rsa() -> RS256KeyPair {
        RS256KeyPair::from_pem(include_str!("testdata/rsa-test-key.pem"))
            .unwrap()
            .with_key_id("rsa-1")
    }

    fn rsa_jwk(kp: &RS256KeyPair, kid: &str) -> serde_json::Value {
        let c = kp.public_key().to_components();
        serde_json::json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64url(&c.n), "e": b64url(&c.e)})
    }

    fn ec_jwk(kp: &ES256KeyPair, kid: &str) -> serde_json::Value {
        let raw = kp.public_key().public_key().to_bytes_uncompressed();
        serde_json::json!({"kty": "EC", "kid": kid, "crv": "P-256",
            "x": b64url(&raw[1..33]), "y": b64url(&raw[33..65])})
    }

    fn jwks(keys: Vec<serde_json::Value>) -> Jwks {
        Jwks::parse(&serde_json::json!({ "keys": keys }).to_string()).unwrap()
    }

    fn claims(extra: serde_json::Value) -> JWTClaims<serde_json::Value> {
        let mut c = Claims::with_custom_claims(extra, Duration::from_secs(300))
            .with_issuer(ISSUER)
            .with_audience(CLIENT)
            .with_subject("user-42")
            .with_nonce(NONCE);
        c.issued_at = Some(Duration::from_secs(NOW - 5));
        c.invalid_before = None;
        c.expires_at = Some(Duration::from_secs(NOW + 300));
        c
    }

    fn want() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            rule: &IssuerRule::Exact,
            client_id: CLIENT,
            nonce: NONCE,
            now_secs: NOW,
        }
    }

    fn email_claims() -> serde_json::Value {
        serde_json::json!({"email": "ada@example.com", "email_verified": true, "name": "Ada"})
    }

    #[test]
    fn a_good_rs256_token_gives_the_subject_and_verified_email() {
        let kp = rsa();
        let t = kp.sign(claims(email_claims())).unwrap();
        let v = verify(&t, &jwks(vec![rsa_jwk(&kp, "rsa-1")]), &want()).unwrap();
        assert_eq!(v.subject, "user-42");
        assert_eq!(v.email.as_deref(), Some("ada@example.com"));
        assert!(v.email_verified);
        assert_eq!(v.name.as_deref(), Some("Ada"));
    }

    #[test]
    fn a_good_es256_token_verifies_too() {
        let kp = ES256KeyPair::generate().with_key_id("ec-1");
        let t = kp
            .sign(claims(
                serde_json::json!({"email": "a@example.com", "email_verified": "true"}),
            ))
            .unwrap();
        let v = verify(&t, &jwks(vec![ec_jwk(&kp, "ec-1")]), &want()).unwrap();
        assert!(v.email_verified, "\"true\" as a string counts");
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let published = ES256KeyPair::generate().with_key_id("k");
        let forger = ES256KeyPair::generate().with_key_id("k");
        let t = forger.sign(claims(email_claims())).unwrap();
        assert_eq!(
            verify(&t, &jwks(vec![ec_jwk(&published, "k")]), &want()),
            Err(Fault::Signature)
        );
    }

    #[test]
    fn a_key_id_the_set_does_not_have_asks_for_the_set_again() {
        let kp = ES256KeyPair::generate().with_key_id("new");
        let t = kp.sign(claims(email_claims())).unwrap();
        assert_eq!(
            verify(&t, &jwks(vec![ec_jwk(&kp, "old")]), &want()),
            Err(Fault::UnknownKey)
        );
    }

    #[test]
    fn a_tampered_payload_fails_the_signature() {
        let kp = rsa();
        let t = kp.sign(claims(email_claims())).unwrap();
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let forged =
            claims(serde_json::json!({"email": "mallory@example.com", "email_verified": true}));
        parts[1] = b64url(serde_json::to_string(&forged).unwrap().as_bytes());
        let t = parts.join(".");
        assert_eq!(
            verify(&t, &jwks(vec![rsa_jwk(&kp, "rsa-1")]), &want()),
            Err(Fault::Signature)
        );
    }

    #[test]
    fn none_and_hmac_tokens_are_refused_whatever_they_say() {
        let kp = rsa();
        let set = jwks(vec![rsa_jwk(&kp, "rsa-1")]);
        let body = b64url(
            serde_json::to_string(&claims(email_claims()))
                .unwrap()
                .as_bytes(),
        );
        let none = format!("{}.{body}.", b64url(br#"{"alg":"none","kid":"rsa-1"}"#));
        assert_eq!(
            verify(&none, &set, &want()),
            Err(Fault::UnsupportedAlgorithm)
        );
        // HS256 keyed with the public modulus: the classic algorithm confusion.
        let key = HS256Key::from_bytes(&kp.public_key().to_components().n).with_key_id("rsa-1");
        let hs = key.authenticate(claims(email_claims())).unwrap();
        assert_eq!(verify(&hs, &set, &want()), Err(Fault::UnsupportedAlgorithm));
    }

    #[test]
    fn each_wrong_claim_is_refused_with_its_reason() {
        let kp = ES256KeyPair::generate().with_key_id("k");
        let set = jwks(vec![ec_jwk(&kp, "k")]);
        let sign = |c: JWTClaims<serde_json::Value>| kp.sign(c).unwrap();
        let cases: Vec<(&str, String, Fault)> = vec![
            (
                "expired",
                {
                    let mut c = claims(email_claims());
                    c.issued_at = Some(Duration::from_secs(NOW - 400));
                    c.expires_at = Some(Duration::from_secs(NOW - 100));
                    sign(c)
                },
                Fault::Expired,
            ),
            (
                "issued in the future",
                {
                    let mut c = claims(email_claims());
                    c.issued_at = Some(Duration::from_secs(NOW + 600));
                    c.expires_at = Some(Duration::from_secs(NOW + 900));
                    sign(c)
                },
                Fault::IssuedAt,
            ),
            (
                "issued long ago",
                {
                    let mut c = claims(email_claims());
                    c.issued_at = Some(Duration::from_secs(NOW - 3600));
                    c.expires_at = Some(Duration::from_secs(NOW + 3600));
                    sign(c)
                },
                Fault::IssuedAt,
            ),
            (
                "no exp",
                {
                    let mut c = claims(email_claims());
                    c.expires_at = None;
                    sign(c)
                },
                Fault::MissingClaim("exp"),
            ),
            (
                "another issuer",
                sign(claims(email_claims()).with_issuer("https://evil.example.com")),
                Fault::Issuer,
            ),
            (
                "another audience",
                sign(claims(email_claims()).with_audience("someone-else")),
                Fault::Audience,
            ),
            (
                "another nonce",
                sign(claims(email_claims()).with_nonce("replayed")),
                Fault::Nonce,
            ),
            (
                "no nonce",
                {
                    let mut c = claims(email_claims());
                    c.nonce = None;
                    sign(c)
                },
                Fault::Nonce,
            ),
            (
                "several audiences without azp",
                sign(claims(email_claims()).with_audiences(HashSet::from([CLIENT, "other"]))),
                Fault::AuthorizedParty,
            ),
            (
                "azp of another client",
                sign(claims(serde_json::json!({"azp": "other"}))),
                Fault::AuthorizedParty,
            ),
        ];
        for (case, token, fault) in cases {
            assert_eq!(verify(&token, &set, &want()), Err(fault), "{case}");
        }
        let ok = sign(
            claims(serde_json::json!({"azp": CLIENT}))
                .with_audiences(HashSet::from([CLIENT, "other"])),
        );
        assert!(verify(&ok, &set, &want()).is_ok(), "azp names this client");
    }

    #[test]
    fn an_unverified_or_missing_email_is_reported_as_such() {
        let kp = ES256KeyPair::generate().with_key_id("k");
        let set = jwks(vec![ec_jwk(&kp, "k")]);
        let t = kp
            .sign(claims(
                serde_json::json!({"email": "a@example.com", "email_verified": false}),
            ))
            .unwrap();
        assert!(!verify(&t, &set, &want()).unwrap().email_verified);
        let t = kp.sign(claims(serde_json::json!({}))).unwrap();
        let v = verify(&t, &set, &want()).unwrap();
        assert_eq!((v.email, v.email_verified), (None, false));
    }

    #[test]
    fn google_tokens_may_name_the_issuer_without_its_scheme() {
        let kp = ES256KeyPair::generate().with_key_id("k");
        let set = jwks(vec![ec_jwk(&kp, "k")]);
        let mut w = want();
        w.rule = &IssuerRule::Google;
        for iss in ["https://accounts.google.com", "accounts.google.com"] {
            let t = kp.sign(claims(email_claims()).with_issuer(iss)).unwrap();
            assert!(verify(&t, &set, &w).is_ok(), "{iss}");
        }
        let t = kp.sign(claims(email_claims())).unwrap();
        assert_eq!(verify(&t, &set, &w), Err(Fault::Issuer));
    }

    #[test]
    fn microsoft_multi_tenant_issuers_follow_the_tokens_tenant() {
        let kp = ES256KeyPair::generate().with_key_id("k");
        let set = jwks(vec![ec_jwk(&kp, "k")]);
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let w = Expected {
            issuer: template,
            rule: &IssuerRule::MicrosoftTenant,
            ..want()
        };
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let iss = format!("https://login.microsoftonline.com/{tid}/v2.0");
        let t = kp
            .sign(
                claims(
                    serde_json::json!({"tid": tid, "email": "a@contoso.example", "xms_edov": true}),
                )
                .with_issuer(&iss),
            )
            .unwrap();
        let v = verify(&t, &set, &w).unwrap();
        assert_eq!(v.subject, format!("{tid}/user-42"));
        assert!(v.email_verified, "xms_edov: the tenant owns the domain");
        // Another tenant's issuer with this tenant's id: refused.
        let t = kp
            .sign(claims(serde_json::json!({"tid": "other-tenant"})).with_issuer(&iss))
            .unwrap();
        assert_eq!(verify(&t, &set, &w), Err(Fault::Issuer));
        let t = kp
            .sign(claims(serde_json::json!({})).with_issuer(&iss))
            .unwrap();
        assert_eq!(verify(&t, &set, &w), Err(Fault::MissingClaim("tid")));
        // xms_edov means nothing outside Microsoft.
        let t = kp
            .sign(claims(
                serde_json::json!({"email": "a@example.com", "xms_edov": true}),
            ))
            .unwrap();
        assert!(!verify(&t, &set, &want()).unwrap().email_verified);
    }

    #[test]
    fn keys_for_encryption_or_another_algorithm_are_not_used() {
        let kp = ES256KeyPair::generate().with_key_id("k");
        let t = kp.sign(claims(email_claims())).unwrap();
        let mut enc = ec_jwk(&kp, "k");
        enc["use"] = "enc".into();
        assert_eq!(
            verify(&t, &jwks(vec![enc]), &want()),
            Err(Fault::UnknownKey)
        );
        let mut other = ec_jwk(&kp, "k");
        other["alg"] = "ES384".into();
        assert_eq!(
            verify(&t, &jwks(vec![other]), &want()),
            Err(Fault::UnknownKey)
        );
    }
}
