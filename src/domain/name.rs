//! A display name (of a person or an organization): 1 to 100 characters, no control characters.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str, field: &str) -> Result<DisplayName, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(format!("{field} is required"));
        }
        if s.chars().count() > 100 {
            return Err(format!("{field} is longer than 100 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("{field} contains control characters"));
        }
        Ok(DisplayName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(DisplayName::parse(" Ada ", "name").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ", "name").is_err());
        assert!(DisplayName::parse(&"x".repeat(101), "name").is_err());
        assert!(DisplayName::parse("a\u{0}b", "name").is_err());
        assert!(DisplayName::parse(&"é".repeat(100), "name").is_ok());
    }
}
