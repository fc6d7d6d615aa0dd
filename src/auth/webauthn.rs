//! Passkeys: the relying party's checks of WebAuthn Level 3 — a registration (§7.1) and an
//! authentication assertion (§7.2). Pure functions over the bytes a browser sends: the
//! challenges and the stored credentials are the store's (`store::passkeys`).
//!
//! CBOR and COSE keys are read with `coset` (and its `ciborium`); signatures are checked with
//! RustCrypto's `p256` (ES256) and `rsa` (RS256, PKCS#1 v1.5 with SHA-256) and with
//! `ed25519-compact` (EdDSA over Ed25519). Attestation is neither asked for (`attestation:
//! "none"`) nor evaluated: whatever statement comes, the key is trusted as much as a
//! self-asserted one, which is what a passkey is.

use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};
use coset::{AsCborValue, CoseKey, KeyType, Label};
use serde::Deserialize;

use crate::crypto::{b64url_decode, sha256};

/// COSE algorithms: ECDSA P-256 with SHA-256, EdDSA (Ed25519) under its old and new names,
/// RSASSA-PKCS1-v1_5 with SHA-256.
pub const ES256: i64 = -7;
pub const EDDSA: i64 = -8;
pub const ED25519: i64 = -19;
pub const RS256: i64 = -257;
/// In the order the creation options offer them.
pub const ALGORITHMS: [i64; 4] = [ES256, ED25519, EDDSA, RS256];
/// The longest credential id the specification allows.
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;
/// RSA keys shorter than this are refused.
const MIN_RSA_BITS: usize = 2048;

/// Why a credential or an assertion was refused: for the audit log and the problem's detail.
/// It never holds a secret (nor a challenge).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not WebAuthn's shape: bad base64url, JSON, CBOR or authenticator data.
    Malformed(String),
    /// `clientDataJSON.type` is not the ceremony's.
    WrongCeremony,
    /// `clientDataJSON.origin` is not one of the configured origins.
    WrongOrigin(String),
    /// Made inside a cross-origin frame.
    CrossOrigin,
    /// The authenticator data is for another relying party id.
    WrongRpId,
    /// The user was not present (flag UP).
    UserNotPresent,
    /// User verification (PIN, biometrics) was required and not done (flag UV).
    UserNotVerified,
    /// The backup flags contradict each other or the credential's registration.
    BackupFlags,
    /// A key type or algorithm this server does not take.
    UnsupportedKey(String),
    /// The signature does not verify under the credential's key.
    BadSignature,
    /// The signature counter did not move forward: the authenticator may have been cloned.
    CounterRegressed { stored: u32, presented: u32 },
}

impl Refusal {
    /// A stable snake_case name (audit details).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::WrongCeremony => "wrong_ceremony",
            Refusal::WrongOrigin(_) => "wrong_origin",
            Refusal::CrossOrigin => "cross_origin",
            Refusal::WrongRpId => "wrong_rp_id",
            Refusal::UserNotPresent => "user_not_present",
            Refusal::UserNotVerified => "user_not_verified",
            Refusal::BackupFlags => "backup_flags",
            Refusal::UnsupportedKey(_) => "unsupported_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::CounterRegressed { .. } => "counter_regressed",
        }
    }

    /// What the client is told.
    pub fn detail(&self) -> String {
        match self {
            Refusal::Malformed(what) => format!("the credential is malformed: {what}"),
            Refusal::WrongCeremony => "the credential was made for another ceremony".into(),
            Refusal::WrongOrigin(origin) => format!(
                "the credential was made on {}, which is not an origin of this service",
                origin.chars().take(200).collect::<String>()
            ),
            Refusal::CrossOrigin => "the credential was made inside a cross-origin frame".into(),
            Refusal::WrongRpId => "the credential is for another site (relying party id)".into(),
            Refusal::UserNotPresent => {
                "the authenticator did not confirm the user's presence".into()
            }
            Refusal::UserNotVerified => {
                "the authenticator did not verify the user (PIN or biometrics), which signing in \
                 with a passkey alone needs"
                    .into()
            }
            Refusal::BackupFlags => "the authenticator's backup flags are not consistent".into(),
            Refusal::UnsupportedKey(what) => {
                format!("the key is not supported ({what}): use ES256, Ed25519 or RS256")
            }
            Refusal::BadSignature => "the signature does not verify".into(),
            Refusal::CounterRegressed { .. } => {
                "the authenticator's signature counter went backwards: it may have been cloned"
                    .into()
            }
        }
    }
}

fn malformed(what: impl Into<String>) -> Refusal {
    Refusal::Malformed(what.into())
}

/// Base64url with or without padding, as clients write it.
pub fn decode_field(name: &str, value: &str) -> Result<Vec<u8>, Refusal> {
    b64url_decode(value.trim_end_matches('='))
        .ok_or_else(|| malformed(format!("{name} is not base64url")))
}

// ---------------------------------------------------------------------------------------
// What the browser sends: `PublicKeyCredential.toJSON()` (WebAuthn L3 §5.1), base64url fields.
// Fields this server does not read (`clientExtensionResults`, `authenticatorAttachment`…) are
// allowed: they are the browser's.

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationJson {
    pub id: String,
    #[serde(default)]
    pub raw_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub response: AttestationResponseJson,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub attestation_object: String,
    #[serde(default)]
    pub transports: Option<Vec<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AssertionJson {
    pub id: String,
    #[serde(default)]
    pub raw_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub response: AssertionResponseJson,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub authenticator_data: String,
    pub signature: String,
    #[serde(default)]
    pub user_handle: Option<String>,
}

/// The credential id of a credential: `rawId` (or `id`, which must agree with it).
fn credential_id(kind: &str, id: &str, raw_id: Option<&str>) -> Result<Vec<u8>, Refusal> {
    if kind != "public-key" {
        return Err(malformed("type must be public-key"));
    }
    let from_id = decode_field("id", id)?;
    if let Some(raw) = raw_id {
        if decode_field("rawId", raw)? != from_id {
            return Err(malformed("id and rawId differ"));
        }
    }
    if from_id.is_empty() || from_id.len() > MAX_CREDENTIAL_ID_BYTES {
        return Err(malformed(
            "the credential id is empty or longer than 1023 bytes",
        ));
    }
    Ok(from_id)
}

/// A registration's decoded parts.
pub struct Registration {
    pub credential_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
    pub transports: Vec<String>,
}

impl RegistrationJson {
    pub fn decode(&self) -> Result<Registration, Refusal> {
        let transports = self
            .response
            .transports
            .iter()
            .flatten()
            .filter(|t| t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .take(8)
            .cloned()
            .collect();
        Ok(Registration {
            credential_id: credential_id(&self.kind, &self.id, self.raw_id.as_deref())?,
            client_data_json: decode_field("clientDataJSON", &self.response.client_data_json)?,
            attestation_object: decode_field(
                "attestationObject",
                &self.response.attestation_object,
            )?,
            transports,
        })
    }
}

/// An assertion's decoded parts.
pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
}

impl AssertionJson {
    pub fn decode(&self) -> Result<Assertion, Refusal> {
        Ok(Assertion {
            credential_id: credential_id(&self.kind, &self.id, self.raw_id.as_deref())?,
            client_data_json: decode_field("clientDataJSON", &self.response.client_data_json)?,
            authenticator_data: decode_field(
                "authenticatorData",
                &self.response.authenticator_data,
            )?,
            signature: decode_field("signature", &self.response.signature)?,
            user_handle: match self.response.user_handle.as_deref() {
                None | Some("") => None,
                Some(h) => Some(decode_field("userHandle", h)?),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------
// The relying party

/// This service as a relying party: its id (a domain) and the origins its pages are on.
pub struct RelyingParty<'a> {
    pub id: &'a str,
    pub origins: &'a [String],
}

/// Whether `s` can be a relying party id: a domain name (`localhost` included), not an IP
/// address, without scheme, port or path. Browsers refuse IP addresses as RP ids.
pub fn is_valid_rp_id(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    !s.is_empty()
        && s.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // The last label of a domain is not all digits (that is an IPv4 address).
        && labels
            .last()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `s` is an origin as browsers write it in client data: `scheme://host[:port]`
/// (http or https), lower case, no default port, path or trailing slash.
pub fn is_valid_origin(s: &str) -> bool {
    worker::Url::parse(s).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == s
    })
}

/// The operator's settings: `WEBAUTHN_RP_ID` and `WEBAUTHN_ORIGINS` (comma-separated). Each
/// one left empty is taken from the request: its host name, its origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub rp_id: Option<String>,
    pub origins: Vec<String>,
}

impl Settings {
    pub fn parse(rp_id: Option<&str>, origins: Option<&str>) -> Result<Settings, String> {
        let rp_id = rp_id.map(str::trim).filter(|s| !s.is_empty());
        if let Some(id) = rp_id {
            if !is_valid_rp_id(id) {
                return Err(format!(
                    "WEBAUTHN_RP_ID must be a domain name (no scheme, port or IP address), not `{id}`"
                ));
            }
        }
        let origins: Vec<String> = origins
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = origins.iter().find(|o| !is_valid_origin(o)) {
            return Err(format!(
                "WEBAUTHN_ORIGINS holds `{bad}`, which is not an origin (scheme://host[:port], \
                 lower case, no path)"
            ));
        }
        Ok(Settings {
            rp_id: rp_id.map(str::to_ascii_lowercase),
            origins,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Client data (§5.8.1)

/// `clientDataJSON`, read.
pub struct ClientData {
    /// The challenge it signs: what the store looks up (by hash).
    pub challenge: Vec<u8>,
    pub origin: String,
    cross_origin: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientDataJson {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
}

impl ClientData {
    /// Reads `clientDataJSON` of a `webauthn.create` or `webauthn.get` ceremony.
    pub fn parse(json: &[u8], ceremony: &str) -> Result<ClientData, Refusal> {
        let c: ClientDataJson = serde_json::from_slice(json)
            .map_err(|_| malformed("clientDataJSON is not the client data of a ceremony"))?;
        if c.kind != ceremony {
            return Err(Refusal::WrongCeremony);
        }
        Ok(ClientData {
            challenge: decode_field("clientDataJSON.challenge", &c.challenge)?,
            origin: c.origin,
            cross_origin: c.cross_origin.unwrap_or(false),
        })
    }

    /// §7.1 steps 9-10, §7.2 steps 13-14: one of the relying party's origins, not framed.
    fn check_origin(&self, rp: &RelyingParty) -> Result<(), Refusal> {
        if !rp.origins.contains(&self.origin) {
            return Err(Refusal::WrongOrigin(self.origin.clone()));
        }
        if self.cross_origin {
            return Err(Refusal::CrossOrigin);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Authenticator data (§6.1)

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;
const ED: u8 = 0x80;

pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
}

/// The credential a registration carries (§6.5.1).
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub id: Vec<u8>,
    /// The credential public key as the authenticator encoded it (a COSE_Key).
    pub public_key: Vec<u8>,
}

/// Reads one CBOR item from the front of `bytes`; returns it and how many bytes it took.
fn cbor_item(bytes: &[u8]) -> Result<(Value, usize), Refusal> {
    let mut rest = bytes;
    let value: Value = coset::cbor::de::from_reader(&mut rest)
        .map_err(|_| malformed("the authenticator data holds bad CBOR"))?;
    Ok((value, bytes.len() - rest.len()))
}

impl AuthenticatorData {
    pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData, Refusal> {
        let short = || malformed("the authenticator data is too short");
        let rp_id_hash: [u8; 32] = bytes
            .get(..32)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?;
        let flags = *bytes.get(32).ok_or_else(short)?;
        let count: [u8; 4] = bytes
            .get(33..37)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?;
        let mut at = 37;
        let attested = if flags & AT != 0 {
            let aaguid: [u8; 16] = bytes
                .get(at..at + 16)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?;
            let len_bytes = bytes.get(at + 16..at + 18).ok_or_else(short)?;
            let len = u16::from_be_bytes([len_bytes[0], len_bytes[1]]) as usize;
            at += 18;
            if len == 0 || len > MAX_CREDENTIAL_ID_BYTES {
                return Err(malformed(
                    "the credential id is empty or longer than 1023 bytes",
                ));
            }
            let id = bytes.get(at..at + len).ok_or_else(short)?.to_vec();
            at += len;
            let (_, key_len) = cbor_item(bytes.get(at..).ok_or_else(short)?)?;
            let public_key = bytes[at..at + key_len].to_vec();
            at += key_len;
            Some(AttestedCredential {
                aaguid,
                id,
                public_key,
            })
        } else {
            None
        };
        if flags & ED != 0 {
            let (extensions, len) = cbor_item(bytes.get(at..).ok_or_else(short)?)?;
            if !matches!(extensions, Value::Map(_)) {
                return Err(malformed("the extensions are not a map"));
            }
            at += len;
        }
        if at != bytes.len() {
            return Err(malformed("the authenticator data has trailing bytes"));
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count: u32::from_be_bytes(count),
            attested,
        })
    }

    pub fn user_present(&self) -> bool {
        self.flags & UP != 0
    }

    pub fn user_verified(&self) -> bool {
        self.flags & UV != 0
    }

    pub fn backup_eligible(&self) -> bool {
        self.flags & BE != 0
    }

    pub fn backed_up(&self) -> bool {
        self.flags & BS != 0
    }

    /// The checks every ceremony makes of its authenticator data: the relying party, the
    /// user's presence (and verification when required), backup flags that make sense.
    fn check(&self, rp: &RelyingParty, require_uv: bool) -> Result<(), Refusal> {
        if !crate::crypto::ct_eq(&self.rp_id_hash, &sha256(rp.id.as_bytes())) {
            return Err(Refusal::WrongRpId);
        }
        if !self.user_present() {
            return Err(Refusal::UserNotPresent);
        }
        if require_uv && !self.user_verified() {
            return Err(Refusal::UserNotVerified);
        }
        if self.backed_up() && !self.backup_eligible() {
            return Err(Refusal::BackupFlags);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Credential public keys (COSE, RFC 9052/9053) and their signatures

enum Verifier {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_compact::PublicKey),
    Rsa(rsa::pkcs1v15::VerifyingKey<sha2::Sha256>),
}

/// A credential's public key, ready to check signatures.
pub struct CredentialKey {
    pub algorithm: i64,
    verifier: Verifier,
}

fn param(key: &CoseKey, label: i64) -> Option<&Value> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

fn bytes_param<'a>(key: &'a CoseKey, label: i64, name: &str) -> Result<&'a [u8], Refusal> {
    match param(key, label) {
        Some(Value::Bytes(b)) => Ok(b),
        _ => Err(Refusal::UnsupportedKey(format!("no {name}"))),
    }
}

fn int_param(key: &CoseKey, label: i64) -> Option<i128> {
    match param(key, label) {
        Some(Value::Integer(i)) => Some(i128::from(*i)),
        _ => None,
    }
}

impl CredentialKey {
    /// Reads a COSE_Key of a supported kind: EC2 on P-256 with ES256, OKP on Ed25519 with
    /// EdDSA, RSA (2048 bits or more) with RS256. The key must name its algorithm.
    pub fn from_cose(bytes: &[u8]) -> Result<CredentialKey, Refusal> {
        let (value, len) = cbor_item(bytes)?;
        if len != bytes.len() {
            return Err(malformed("the public key has trailing bytes"));
        }
        let key = CoseKey::from_cbor_value(value)
            .map_err(|_| malformed("the public key is not a COSE key"))?;
        let algorithm = match &key.alg {
            Some(coset::Algorithm::Assigned(a)) => a.to_i64(),
            _ => return Err(Refusal::UnsupportedKey("the key names no algorithm".into())),
        };
        let unsupported = || Refusal::UnsupportedKey(format!("algorithm {algorithm}"));
        let verifier = match (&key.kty, algorithm) {
            (KeyType::Assigned(iana::KeyType::EC2), ES256) => {
                if int_param(&key, iana::Ec2KeyParameter::Crv.to_i64())
                    != Some(iana::EllipticCurve::P_256.to_i64().into())
                {
                    return Err(Refusal::UnsupportedKey(
                        "ES256 on a curve other than P-256".into(),
                    ));
                }
                let x = bytes_param(&key, iana::Ec2KeyParameter::X.to_i64(), "x")?;
                let y = bytes_param(&key, iana::Ec2KeyParameter::Y.to_i64(), "y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(Refusal::UnsupportedKey(
                        "a P-256 point of the wrong size".into(),
                    ));
                }
                let point = [&[0x04][..], x, y].concat();
                Verifier::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|_| Refusal::UnsupportedKey("not a point on P-256".into()))?,
                )
            }
            (KeyType::Assigned(iana::KeyType::OKP), EDDSA | ED25519) => {
                if int_param(&key, iana::OkpKeyParameter::Crv.to_i64())
                    != Some(iana::EllipticCurve::Ed25519.to_i64().into())
                {
                    return Err(Refusal::UnsupportedKey(
                        "EdDSA on a curve other than Ed25519".into(),
                    ));
                }
                let x = bytes_param(&key, iana::OkpKeyParameter::X.to_i64(), "x")?;
                Verifier::Ed25519(
                    ed25519_compact::PublicKey::from_slice(x)
                        .map_err(|_| Refusal::UnsupportedKey("not an Ed25519 key".into()))?,
                )
            }
            (KeyType::Assigned(iana::KeyType::RSA), RS256) => {
                let n = bytes_param(&key, iana::RsaKeyParameter::N.to_i64(), "n")?;
                let e = bytes_param(&key, iana::RsaKeyParameter::E.to_i64(), "e")?;
                let public = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(n),
                    rsa::BigUint::from_bytes_be(e),
                )
                .map_err(|_| Refusal::UnsupportedKey("not a usable RSA key".into()))?;
                if rsa::traits::PublicKeyParts::n(&public).bits() < MIN_RSA_BITS {
                    return Err(Refusal::UnsupportedKey("an RSA key under 2048 bits".into()));
                }
                Verifier::Rsa(rsa::pkcs1v15::VerifyingKey::new(public))
            }
            _ => return Err(unsupported()),
        };
        Ok(CredentialKey {
            algorithm,
            verifier,
        })
    }

    /// Checks `signature` over `message` (the authenticator data followed by the SHA-256 of
    /// the client data).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Refusal> {
        use rsa::signature::Verifier as _;
        let ok = match &self.verifier {
            Verifier::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Verifier::Ed25519(key) => ed25519_compact::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Verifier::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::BadSignature)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The two ceremonies

/// A credential to store after a registration.
pub struct NewCredential {
    pub id: Vec<u8>,
    /// The COSE_Key, as the authenticator encoded it.
    pub public_key: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub backup_eligible: bool,
    pub backed_up: bool,
}

/// §7.1 from step 8, for client data (`webauthn.create`) whose challenge the caller has
/// matched with one it issued: the origin, the attestation object's authenticator data (relying
/// party, presence, verification when `require_uv`), a supported key; the credential id must
/// be the one the client reported. The attestation statement is not evaluated (see above).
pub fn register(
    client: &ClientData,
    registration: &Registration,
    rp: &RelyingParty,
    require_uv: bool,
) -> Result<NewCredential, Refusal> {
    client.check_origin(rp)?;
    let (object, len) = cbor_item(&registration.attestation_object)
        .map_err(|_| malformed("attestationObject is not CBOR"))?;
    if len != registration.attestation_object.len() {
        return Err(malformed("attestationObject has trailing bytes"));
    }
    let Value::Map(entries) = object else {
        return Err(malformed("attestationObject is not a map"));
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    };
    if !matches!(field("fmt"), Some(Value::Text(_)))
        || !matches!(field("attStmt"), Some(Value::Map(_)))
    {
        return Err(malformed("attestationObject lacks fmt or attStmt"));
    }
    let Some(Value::Bytes(auth_data)) = field("authData") else {
        return Err(malformed("attestationObject lacks authData"));
    };
    let data = AuthenticatorData::parse(auth_data)?;
    data.check(rp, require_uv)?;
    let attested = data
        .attested
        .as_ref()
        .ok_or_else(|| malformed("the authenticator data holds no credential"))?;
    if attested.id != registration.credential_id {
        return Err(malformed(
            "the credential id is not the one the client reported",
        ));
    }
    let key = CredentialKey::from_cose(&attested.public_key)?;
    Ok(NewCredential {
        id: attested.id.clone(),
        public_key: attested.public_key.clone(),
        algorithm: key.algorithm,
        sign_count: data.sign_count,
        aaguid: attested.aaguid,
        backup_eligible: data.backup_eligible(),
        backed_up: data.backed_up(),
    })
}

/// A stored credential, as an assertion is checked against it.
pub struct StoredCredential<'a> {
    pub public_key: &'a [u8],
    pub sign_count: u32,
    pub backup_eligible: bool,
}

/// What a verified assertion says.
#[derive(Debug)]
pub struct Asserted {
    pub sign_count: u32,
    pub backed_up: bool,
    pub user_verified: bool,
}

/// §7.2 from step 13, for client data (`webauthn.get`) whose challenge the caller has matched:
/// the origin, the authenticator data (relying party, presence, verification when
/// `require_uv`, backup eligibility unchanged since registration), the signature under the
/// stored key, and a signature counter that moved forward (`next_sign_count`).
pub fn authenticate(
    client: &ClientData,
    assertion: &Assertion,
    stored: &StoredCredential,
    rp: &RelyingParty,
    require_uv: bool,
) -> Result<Asserted, Refusal> {
    client.check_origin(rp)?;
    let data = AuthenticatorData::parse(&assertion.authenticator_data)?;
    if data.attested.is_some() {
        return Err(malformed("an assertion carries no new credential"));
    }
    data.check(rp, require_uv)?;
    if data.backup_eligible() != stored.backup_eligible {
        return Err(Refusal::BackupFlags);
    }
    let key = CredentialKey::from_cose(stored.public_key)?;
    let message = [
        &assertion.authenticator_data[..],
        &sha256(&assertion.client_data_json),
    ]
    .concat();
    key.verify(&message, &assertion.signature)?;
    next_sign_count(stored.sign_count, data.sign_count)?;
    Ok(Asserted {
        sign_count: data.sign_count,
        backed_up: data.backed_up(),
        user_verified: data.user_verified(),
    })
}

/// §7.2 step 22: an authenticator that counts signatures must count up; one that does not
/// (zero both times, as synced passkeys do) is fine. Anything else suggests a cloned
/// authenticator and is refused.
pub fn next_sign_count(stored: u32, presented: u32) -> Result<(), Refusal> {
    if presented > stored || (presented == 0 && stored == 0) {
        Ok(())
    } else {
        Err(Refusal::CounterRegressed { stored, presented })
    }
}

#[cfg(test)]
mod tests;
