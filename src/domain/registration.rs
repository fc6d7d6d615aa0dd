//! Who may open an account (`ALLOW_REGISTRATION`, `REGISTRATION_DOMAINS`), as LibreChat's
//! operators set it: anyone, only an address with a pending invitation, or no one; and,
//! unless no one, only addresses at the listed domains when there is a list. Every sign-up
//! path asks the same question (`auth::registration::admit`).

use serde::Serialize;

use super::Email;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Anyone may sign up (`open`, the default).
    Open,
    /// Only an address that an organization has a pending invitation for (`invite-only`).
    InviteOnly,
    /// No new accounts (`closed`).
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Domains in their ASCII (IDNA) form, lower-case; empty: any domain.
    pub domains: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Mode::Open,
            domains: Vec::new(),
        }
    }
}

impl Policy {
    pub fn parse(mode: Option<&str>, domains: Option<&str>) -> Result<Policy, String> {
        let mode = match mode.map(|m| m.trim().to_ascii_lowercase()).as_deref() {
            None | Some("open") => Mode::Open,
            Some("invite-only") => Mode::InviteOnly,
            Some("closed") => Mode::Closed,
            Some(other) => {
                return Err(format!(
                    "ALLOW_REGISTRATION must be open, invite-only or closed, not `{other}`"
                ))
            }
        };
        let mut list = Vec::new();
        for raw in domains.unwrap_or("").split(',').map(str::trim) {
            if raw.is_empty() {
                continue;
            }
            // The domain as an address's key has it: through the same parser.
            let domain = Email::parse(&format!("x@{}", raw.trim_start_matches('@')))
                .map(|e| e.domain().to_string())
                .map_err(|_| format!("REGISTRATION_DOMAINS: `{raw}` is not a domain"))?;
            if !list.contains(&domain) {
                list.push(domain);
            }
        }
        Ok(Policy {
            mode,
            domains: list,
        })
    }

    /// Whether the answer depends on a pending invitation (so the caller looks one up).
    pub fn needs_invitation(&self) -> bool {
        self.mode == Mode::InviteOnly
    }

    /// Whether `email` may open an account; `invited`: an organization has a pending
    /// invitation for it. `Err` says why not, for the person signing up.
    pub fn admits(&self, email: &Email, invited: bool) -> Result<(), String> {
        match self.mode {
            Mode::Closed => return Err("this server does not accept new accounts".into()),
            Mode::InviteOnly if !invited => {
                return Err(
                    "this server accepts new accounts by invitation only: ask an \
                     organization's admin to invite your address, then sign up with it"
                        .into(),
                )
            }
            _ => {}
        }
        if !self.domains.is_empty() && !self.domains.iter().any(|d| d == email.domain()) {
            return Err(format!(
                "this server accepts new accounts only for addresses at {}",
                self.domains.join(", ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn modes_parse_strictly() {
        assert_eq!(Policy::parse(None, None).unwrap(), Policy::default());
        assert_eq!(
            Policy::parse(Some(" Invite-Only "), None).unwrap().mode,
            Mode::InviteOnly
        );
        assert_eq!(
            Policy::parse(Some("closed"), None).unwrap().mode,
            Mode::Closed
        );
        for bad in ["true", "false", "invite", ""] {
            assert!(Policy::parse(Some(bad), None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn domains_are_compared_as_address_keys_compare_them() {
        let p = Policy::parse(None, Some(" Example.COM, @bücher.example ,,example.com")).unwrap();
        assert_eq!(p.domains, vec!["example.com", "xn--bcher-kva.example"]);
        assert!(p.admits(&email("ada@EXAMPLE.com"), false).is_ok());
        assert!(p.admits(&email("ada@BÜCHER.example"), false).is_ok());
        let refused = p.admits(&email("ada@sub.example.com"), false).unwrap_err();
        assert!(
            refused.contains("example.com, xn--bcher-kva.example"),
            "{refused}"
        );
        assert!(p.admits(&email("ada@example.org"), false).is_err());
        assert!(Policy::parse(None, Some("not a domain!")).is_err());
    }

    #[test]
    fn invite_only_needs_an_invitation_and_closed_admits_no_one() {
        let invite_only = Policy::parse(Some("invite-only"), Some("example.com")).unwrap();
        assert!(invite_only.needs_invitation());
        assert!(invite_only.admits(&email("a@example.com"), false).is_err());
        assert!(invite_only.admits(&email("a@example.com"), true).is_ok());
        assert!(
            invite_only.admits(&email("a@example.org"), true).is_err(),
            "the domains still hold"
        );
        let closed = Policy::parse(Some("closed"), None).unwrap();
        assert!(!closed.needs_invitation());
        assert!(closed.admits(&email("a@example.com"), true).is_err());
        assert!(Policy::default()
            .admits(&email("a@anything.example"), false)
            .is_ok());
    }
}
