//! An email address, normalised: trimmed and lowercased, so lookups match case-insensitively.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("email is required".into());
        }
        if s.chars().count() > 254 {
            return Err("email is longer than 254 characters".into());
        }
        let (local, domain) = s.rsplit_once('@').ok_or("email must contain @")?;
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let valid_domain = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !valid_local || !valid_domain {
            return Err("email is not a valid address".into());
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_refused() {
        for (case, raw) in [
            ("empty", ""),
            ("no at", "ada.example.com"),
            ("no domain dot", "ada@example"),
            ("space", "a da@example.com"),
            ("double dot", "a..b@example.com"),
            ("empty label", "ada@example..com"),
            ("leading hyphen", "ada@-example.com"),
            ("angle brackets", "<ada>@example.com"),
        ] {
            assert!(
                Email::parse(raw).is_err(),
                "{case}: {raw:?} should be refused"
            );
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
