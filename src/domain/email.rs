//! An email address: shown as the user typed it (trimmed), compared by its key.
//!
//! The key is what makes two spellings one account: Unicode NFKC (so a fullwidth `ｋ` is `k`
//! and a decomposed `a` + `◌̈` is `ä`), then lower-case, with the domain in its ASCII form
//! through IDNA (UTS #46), so `bücher.example` and `xn--bcher-kva.example` are the same.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    typed: String,
    key: String,
}

const MAX_CHARS: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let typed = raw.trim();
        if typed.is_empty() {
            return Err("email is required".into());
        }
        if typed.chars().count() > MAX_CHARS {
            return Err(format!("email is longer than {MAX_CHARS} characters"));
        }
        let folded: String = typed.nfkc().collect::<String>().to_lowercase();
        let (local, domain) = folded.rsplit_once('@').ok_or("email must contain @")?;
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !valid_local {
            return Err("email is not a valid address".into());
        }
        let domain = ascii_domain(domain).ok_or("email is not a valid address")?;
        let key = format!("{local}@{domain}");
        if key.len() > MAX_CHARS {
            return Err(format!("email is longer than {MAX_CHARS} characters"));
        }
        Ok(Email {
            typed: typed.to_string(),
            key,
        })
    }

    /// The address as typed: what the API shows and where mail goes.
    pub fn as_typed(&self) -> &str {
        &self.typed
    }

    /// The normalised form that identifies the address: uniqueness, lookups, invitations.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The domain, as in the key (ASCII, lower-case).
    pub fn domain(&self) -> &str {
        self.key.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// How addresses were stored before they had a key (trimmed, lower-cased), when that
    /// differs from the key: a row written then is found by it (and re-keyed).
    pub fn legacy_key(&self) -> Option<String> {
        Some(self.typed.to_lowercase()).filter(|old| *old != self.key)
    }
}

/// The domain in ASCII (IDNA, UTS #46 mapping), if it is a plausible mail domain:
/// at least two labels of letters, digits and inner hyphens (punycode included).
fn ascii_domain(domain: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii(domain).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let valid = ascii.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    valid.then_some(ascii)
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.typed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_shown_as_typed_and_keyed_lowercase() {
        let e = Email::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(e.as_typed(), "Ada@Example.COM");
        assert_eq!(e.key(), "ada@example.com");
        assert_eq!(e.legacy_key(), None);
    }

    #[test]
    fn spellings_of_one_address_share_one_key() {
        for (case, a, b) in [
            (
                "fullwidth letter",
                "\u{ff4b}ate@example.com",
                "kate@example.com",
            ),
            (
                "decomposed umlaut",
                "ka\u{0308}te@example.com",
                "k\u{e4}te@example.com",
            ),
            (
                "upper-case umlaut",
                "K\u{c4}TE@example.com",
                "k\u{e4}te@example.com",
            ),
            (
                "unicode domain",
                "ada@b\u{fc}cher.example",
                "ada@xn--bcher-kva.example",
            ),
            (
                "upper-case domain",
                "ada@B\u{dc}CHER.example",
                "ada@xn--bcher-kva.example",
            ),
            ("fullwidth dot", "ada@example\u{ff0e}com", "ada@example.com"),
        ] {
            let (a, b) = (Email::parse(a).unwrap(), Email::parse(b).unwrap());
            assert_eq!(a.key(), b.key(), "{case}");
        }
        assert_eq!(
            Email::parse("ada@b\u{fc}cher.example").unwrap().key(),
            "ada@xn--bcher-kva.example",
            "the key's domain is ASCII"
        );
    }

    #[test]
    fn the_legacy_key_is_the_old_lowercase_form_when_it_differs() {
        let e = Email::parse("Ada@B\u{fc}cher.example").unwrap();
        assert_eq!(e.legacy_key().as_deref(), Some("ada@b\u{fc}cher.example"));
    }

    #[test]
    fn invalid_emails_are_refused() {
        for (case, raw) in [
            ("empty", ""),
            ("blank", "   "),
            ("no at", "ada.example.com"),
            ("no domain dot", "ada@example"),
            ("space", "a da@example.com"),
            ("double dot", "a..b@example.com"),
            ("empty label", "ada@example..com"),
            ("leading hyphen", "ada@-example.com"),
            ("angle brackets", "<ada>@example.com"),
            ("underscore in domain", "ada@ex_ample.com"),
            ("invalid punycode", "ada@xn--a.example"),
        ] {
            assert!(
                Email::parse(raw).is_err(),
                "{case}: {raw:?} should be refused"
            );
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(250))).is_err());
    }
}
