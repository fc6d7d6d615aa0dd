//! Two-factor codes: TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits, one step of clock
//! skew either way) through `totp-rs`, and the one-time recovery codes given at enrolment.
//!
//! A code is accepted once: `check` returns the time step it matched, and the store keeps the
//! last accepted step of each user (`store::mfa::accept_step`), refusing that step and every
//! earlier one.

use totp_rs::{Builder, Secret, Totp};

use crate::crypto::{random_bytes, sha256_hex};

/// Seconds in a step.
pub const STEP_SECS: u64 = 30;
/// Bytes of a new secret: 160 bits, the length RFC 4226 recommends for HMAC-SHA1.
pub const SECRET_BYTES: usize = 20;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// A user's TOTP secret. No `Debug`: it must never reach a log.
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> Result<Self, String> {
        Ok(TotpSecret(random_bytes(SECRET_BYTES)?))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: Option<&str>, account: &str) -> Result<Totp, String> {
        Builder::new()
            .with_secret(Secret::new(self.0.clone().into_boxed_slice()))
            .with_digits(6)
            .with_step_duration(STEP_SECS)
            .with_skew(1)
            .with_issuer(issuer.map(label))
            .with_account_name(label(account))
            .build()
            .map_err(|e| format!("TOTP parameters: {e}"))
    }

    /// The secret as an authenticator app takes it by hand: base32, no padding.
    pub fn base32(&self) -> String {
        Secret::new(self.0.clone().into_boxed_slice()).to_base32()
    }

    /// The `otpauth://totp/...` URI of a QR code, naming `issuer` and the user's `account`.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, String> {
        self.totp(Some(issuer), account)?
            .to_url()
            .map_err(|e| format!("otpauth URI: {e}"))
    }

    /// The step `code` matches at `unix_secs` (the current one or one either side), if any.
    /// Anything but six ASCII digits (spaces aside, as apps show them) matches nothing.
    pub fn check(&self, code: &str, unix_secs: u64) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        self.totp(None, "").ok()?.check(&code, unix_secs)
    }

    /// The code of `unix_secs` (for tests and the test vectors).
    pub fn code_at(&self, unix_secs: u64) -> Option<String> {
        Some(self.totp(None, "").ok()?.generate(unix_secs).to_string())
    }
}

/// An otpauth label part: neither issuer nor account name may hold a colon.
fn label(s: &str) -> String {
    s.replace(':', "_")
}

/// The alphabet of recovery codes: RFC 4648 base32 in lower case (no 0, 1, 8 or 9 to confuse
/// with o, l, b or g).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Ten new recovery codes, each 80 random bits written `xxxx-xxxx-xxxx-xxxx`.
pub fn new_recovery_codes() -> Result<Vec<String>, String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = random_bytes(16)?;
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[(b & 31) as usize] as char)
                .collect();
            Ok(chars
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-"))
        })
        .collect()
}

/// A recovery code as the user typed it, in its one stored form: lower case, without spaces or
/// dashes. `None` when it cannot be one of ours.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 16 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// How a recovery code is stored: SHA-256 of the user and the normalised code. 80 random bits
/// need no slow hash; the user id keeps one user's hash from matching another's.
pub fn recovery_code_hash(user_id: &str, normalized: &str) -> String {
    sha256_hex(format!("{user_id}:{normalized}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (secret "12345678901234567890"): the 8-digit codes, whose
    /// last six digits are the 6-digit codes of the same times.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(secret.code_at(time).unwrap(), &eight[2..], "T = {time}");
            assert_eq!(
                secret.check(&eight[2..], time),
                Some(time / 30),
                "T = {time}"
            );
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_no_further() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_000u64;
        let step = now / 30;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = (step as i64 + offset) as u64 * 30;
            let code = secret.code_at(at).unwrap();
            let got = secret.check(&code, now);
            if accepted {
                assert_eq!(got, Some(step.wrapping_add_signed(offset)), "{offset}");
            } else {
                // Another step's code may collide by chance (1 in a million); only a match on
                // that step would be wrong.
                assert_ne!(got, Some(step.wrapping_add_signed(offset)), "{offset}");
            }
        }
    }

    #[test]
    fn only_six_digits_are_a_code() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(
            secret.check("287 082", 59),
            Some(1),
            "spaces as apps show them"
        );
        for bad in ["", "28708", "2870820", "+87082", "28708a", "２８７０８２"] {
            assert_eq!(secret.check(bad, 59), None, "{bad:?}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_the_issuer_and_account_and_holds_the_secret() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = secret
            .otpauth_uri("chat.example.com", "ada@example.com")
            .unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/chat.example.com:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=chat.example.com"
        );
        // A colon would end the issuer part of the label early.
        let odd = secret.otpauth_uri("localhost", "a:b@example.com").unwrap();
        assert!(
            odd.starts_with("otpauth://totp/localhost:a_b%40example.com?"),
            "{odd}"
        );
    }

    #[test]
    fn recovery_codes_are_ten_distinct_80_bit_codes_read_in_any_spelling() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        let mut seen = std::collections::HashSet::new();
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.matches('-').count(), 3, "{code}");
            let n = normalize_recovery_code(code).unwrap();
            assert!(seen.insert(n.clone()), "distinct");
            let shouted = code.to_uppercase().replace('-', " ");
            assert_eq!(
                normalize_recovery_code(&shouted).as_deref(),
                Some(n.as_str())
            );
        }
        for bad in [
            "",
            "abcd-efgh",
            "abcd-efgh-ijkl-mno1",
            "abcd-efgh-ijkl-mnop-q",
        ] {
            assert_eq!(normalize_recovery_code(bad), None, "{bad}");
        }
        assert_ne!(
            recovery_code_hash("usr_a", "abcdefghijklmnop"),
            recovery_code_hash("usr_b", "abcdefghijklmnop")
        );
    }
}
