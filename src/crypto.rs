//! Randomness, hashing, MACs and authenticated encryption, all behind small named functions.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ct_codecs::{Base64, Base64UrlSafeNoPadding, Decoder, Encoder, Hex};

/// Fills `buf` from the platform's CSPRNG (crypto.getRandomValues in the Worker).
/// A failure here means the platform is broken; the all-zero fallback is never used
/// for secrets because `random_token` checks for it.
pub fn fill_random(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        buf.fill(0);
    }
}

/// `n` random bytes, or an error if the platform's generator failed.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).map_err(|e| format!("random generator failed: {e}"))?;
    Ok(buf)
}

/// A random 256-bit token, base64url without padding (43 characters).
pub fn random_token() -> Result<String, String> {
    Ok(b64url(&random_bytes(32)?))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    hmac_sha256::Hash::hash(data)
}

/// SHA-256 as lowercase hex: how tokens and keys are stored (never in clear).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    hmac_sha256::HMAC::mac(data, key)
}

pub fn hex(data: &[u8]) -> String {
    Hex::encode_to_string(data).unwrap_or_default()
}

pub fn b64url(data: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(data).unwrap_or_default()
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    Base64UrlSafeNoPadding::decode_to_vec(s, None).ok()
}

pub fn b64(data: &[u8]) -> String {
    Base64::encode_to_string(data).unwrap_or_default()
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    Base64::decode_to_vec(s.trim(), None).ok()
}

/// Constant-time comparison, for secrets compared outside a hash lookup.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AES-256-GCM with a fresh random 96-bit nonce. Output: nonce || ciphertext+tag.
/// `aad` binds the ciphertext to its owner: opening it under another owner fails.
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| "bad key length".to_string())?;
    let nonce_bytes = random_bytes(12)?;
    let nonce = Nonce::from_slice(&nonce_bytes);
    let ct = cipher
        .encrypt(
            nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| "encryption failed".to_string())?;
    let mut out = nonce_bytes;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what `seal` produced; `None` when the key, the owner or the bytes differ.
pub fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    let (nonce, ct) = sealed.split_at(12);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_owner() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"sk-secret", b"user:usr_1:openai").unwrap();
        assert_eq!(
            open(&key, &sealed, b"user:usr_1:openai").unwrap(),
            b"sk-secret"
        );
        assert!(open(&key, &sealed, b"user:usr_2:openai").is_none());
        assert!(open(&[8u8; 32], &sealed, b"user:usr_1:openai").is_none());
        let again = seal(&key, b"sk-secret", b"user:usr_1:openai").unwrap();
        assert_ne!(sealed, again, "a fresh nonce per write");
    }

    #[test]
    fn known_sha256_and_hmac_values() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn random_tokens_are_256_bits() {
        let t = random_token().unwrap();
        assert_eq!(b64url_decode(&t).unwrap().len(), 32);
        assert_ne!(t, random_token().unwrap());
    }
}
