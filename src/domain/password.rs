//! A password acceptable for a new account: 8 to 256 characters of any Unicode, never
//! truncated, and not one of the 10,000 most common passwords.

use std::collections::HashSet;

const COMMON: &str = include_str!("../../data/common-passwords.txt");

thread_local! {
    // Only entries long enough to pass the length rule can ever match.
    static COMMON_SET: HashSet<&'static str> = COMMON
        .lines()
        .filter(|l| !l.starts_with('#') && l.chars().count() >= MIN_CHARS)
        .collect();
}

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 256;

pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Password, String> {
        let n = raw.chars().count();
        if n < MIN_CHARS {
            return Err(format!("password must be at least {MIN_CHARS} characters"));
        }
        if n > MAX_CHARS {
            return Err(format!("password must be at most {MAX_CHARS} characters"));
        }
        let lowered = raw.to_lowercase();
        if COMMON_SET.with(|set| set.contains(lowered.as_str())) {
            return Err("password is too common; choose another".into());
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

// Never print a password, not even in a debug log.
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_ten_thousand_entries() {
        assert_eq!(
            COMMON.lines().filter(|l| !l.starts_with('#')).count(),
            10_000
        );
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        assert!(Password::parse("short".into()).is_err());
        assert!(
            Password::parse("ééééééé".into()).is_err(),
            "7 characters, 14 bytes"
        );
        assert!(Password::parse("ééééééééx".into()).is_ok());
        assert!(Password::parse("x".repeat(257)).is_err());
        assert!(
            Password::parse("🙂".repeat(256)).is_ok(),
            "256 characters of 4 bytes"
        );
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for p in ["password", "12345678", "PASSWORD", "iloveyou", "baseball1"] {
            assert!(Password::parse(p.into()).is_err(), "{p} should be refused");
        }
        assert!(Password::parse("correct horse battery staple".into()).is_ok());
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let p = Password::parse("a perfectly fine secret".into()).unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }
}
