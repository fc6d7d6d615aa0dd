//! GitHub's OAuth 2.0 (an OAuth App or a GitHub App's user authorization), which is not OpenID
//! Connect: the code becomes an access token at `{oauth}/login/oauth/access_token`, the
//! account is `GET {api}/user` (its numeric `id` is the subject) and the address is the
//! primary one of `GET {api}/user/emails`, with GitHub's `verified` flag. The access token is
//! used for those two calls and dropped.

use serde::Deserialize;
use serde_json::Value;

use super::fetch::{self, Body};
use super::flow::{Account, Failure};
use super::{Endpoints, Provider};
use crate::domain::outbound::AllowedHosts;

/// The account and its addresses (the primary one may be private).
pub const SCOPES: &str = "read:user user:email";

#[derive(Deserialize)]
struct User {
    id: Value,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
pub struct EmailEntry {
    pub email: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub verified: bool,
}

/// The primary address and whether GitHub verified it.
pub fn primary_email(emails: &[EmailEntry]) -> Option<(String, bool)> {
    emails
        .iter()
        .find(|e| e.primary)
        .map(|e| (e.email.clone(), e.verified))
}

/// GitHub's user id, a number (or a string of digits, as some GitHub Enterprise proxies send).
fn subject_of(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

pub async fn finish(
    provider: &Provider,
    allowed: &AllowedHosts,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> Result<Account, Failure> {
    let Endpoints::Github { oauth_url, api_url } = &provider.endpoints else {
        return Err(Failure::Provider("not GitHub".into()));
    };
    let form = [
        ("client_id", provider.client_id.as_str()),
        ("client_secret", provider.client_secret()),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let answer = fetch::send(
        worker::Method::Post,
        &format!("{oauth_url}/login/oauth/access_token"),
        &[],
        Body::Form(&form),
        allowed,
    )
    .await
    .map_err(Failure::Provider)?;
    // GitHub answers a refused code with 200 and an `error` field.
    let token = match answer.body["access_token"].as_str() {
        Some(t) if (200..300).contains(&answer.status) && !t.is_empty() => t.to_string(),
        _ => {
            let error = answer.body["error"].as_str().unwrap_or("no error code");
            return Err(Failure::Exchange(format!(
                "GitHub's token endpoint answered {} ({})",
                answer.status,
                error.chars().take(64).collect::<String>()
            )));
        }
    };
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("accept", "application/vnd.github+json"),
        ("x-github-api-version", "2022-11-28"),
    ];
    let user: User = serde_json::from_value(
        fetch::get_json(&format!("{api_url}/user"), &headers, allowed)
            .await
            .map_err(Failure::Provider)?,
    )
    .map_err(|e| Failure::Provider(format!("GitHub's /user is not usable: {e}")))?;
    let subject = subject_of(&user.id)
        .ok_or_else(|| Failure::Provider("GitHub's /user has no numeric id".into()))?;
    let emails: Vec<EmailEntry> = serde_json::from_value(
        fetch::get_json(&format!("{api_url}/user/emails"), &headers, allowed)
            .await
            .map_err(Failure::Provider)?,
    )
    .map_err(|e| Failure::Provider(format!("GitHub's /user/emails is not usable: {e}")))?;
    let (email, email_verified) = match primary_email(&emails) {
        Some((e, v)) => (Some(e), v),
        None => (None, false),
    };
    Ok(Account {
        subject,
        email,
        email_verified,
        name: user.name.filter(|n| !n.trim().is_empty()).or(user.login),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(v: serde_json::Value) -> Vec<EmailEntry> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_primary_address_is_taken_with_its_verified_flag() {
        let e = entries(serde_json::json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "ada@example.com", "primary": true, "verified": true, "visibility": "private"},
        ]));
        assert_eq!(primary_email(&e), Some(("ada@example.com".into(), true)));
        let e = entries(serde_json::json!([
            {"email": "ada@example.com", "primary": true, "verified": false},
            {"email": "other@example.com", "primary": false, "verified": true},
        ]));
        assert_eq!(
            primary_email(&e),
            Some(("ada@example.com".into(), false)),
            "an unverified primary address is not replaced by another verified one"
        );
        assert_eq!(primary_email(&[]), None);
    }

    #[test]
    fn the_subject_is_githubs_numeric_id() {
        assert_eq!(
            subject_of(&serde_json::json!(583231)).as_deref(),
            Some("583231")
        );
        assert_eq!(
            subject_of(&serde_json::json!("583231")).as_deref(),
            Some("583231")
        );
        assert_eq!(subject_of(&serde_json::json!("octocat")), None);
        assert_eq!(subject_of(&serde_json::json!(-1)), None);
    }
}
