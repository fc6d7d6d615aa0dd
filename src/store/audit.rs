//! The audit log: security events with who, where from, and what (never a secret).
//! Rows are kept 90 days; the scheduled upkeep deletes older ones (`store::upkeep`).

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, n, opt_s, run, s};
use crate::error::ApiResult;
use crate::util::{rfc3339, JS_MAX_SAFE};

/// How long audit events are kept.
pub const RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;

/// What happened. The string forms are the stable `type` values clients filter on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    RefreshReuseDetected,
    SessionRevoked,
    PasswordChanged,
    KeyCreated,
    KeyRevoked,
    MemberRoleChanged,
    MemberAdded,
    MemberRemoved,
    OrgSettingsChanged,
    EmailVerified,
    EmailChangeRequested,
    EmailChanged,
    PasswordResetRequested,
    PasswordReset,
    IdentityLinked,
    IdentityUnlinked,
    // Two-factor authentication and passkeys
    TwoFactorEnabled,
    TwoFactorDisabled,
    MfaFailed,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyRemoved,
    PasskeyCounterRegressed,
    // Data portability
    OrgExported,
    // The operator's console: a service admin acted (the actor) on an account or an org
    AdminUserDisabled,
    AdminUserEnabled,
    AdminUserDeleted,
    AdminOrgBudgetChanged,
    AdminOrgServiceKeysChanged,
    AdminSigningKeyRotated,
    // chatgate as an OpenID Provider
    OAuthClientCreated,
    OAuthClientDeleted,
    OAuthConsentGranted,
    OAuthConsentRevoked,
    OAuthTokensIssued,
}

impl Action {
    pub const ALL: [Action; 38] = [
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::RefreshReuseDetected,
        Action::SessionRevoked,
        Action::PasswordChanged,
        Action::KeyCreated,
        Action::KeyRevoked,
        Action::MemberRoleChanged,
        Action::MemberAdded,
        Action::MemberRemoved,
        Action::OrgSettingsChanged,
        Action::EmailVerified,
        Action::EmailChangeRequested,
        Action::EmailChanged,
        Action::PasswordResetRequested,
        Action::PasswordReset,
        Action::IdentityLinked,
        Action::IdentityUnlinked,
        Action::TwoFactorEnabled,
        Action::TwoFactorDisabled,
        Action::MfaFailed,
        Action::RecoveryCodeUsed,
        Action::PasskeyAdded,
        Action::PasskeyRenamed,
        Action::PasskeyRemoved,
        Action::PasskeyCounterRegressed,
        Action::OrgExported,
        Action::AdminUserDisabled,
        Action::AdminUserEnabled,
        Action::AdminUserDeleted,
        Action::AdminOrgBudgetChanged,
        Action::AdminOrgServiceKeysChanged,
        Action::AdminSigningKeyRotated,
        Action::OAuthClientCreated,
        Action::OAuthClientDeleted,
        Action::OAuthConsentGranted,
        Action::OAuthConsentRevoked,
        Action::OAuthTokensIssued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "login.succeeded",
            Action::LoginFailed => "login.failed",
            Action::RefreshReuseDetected => "refresh.reuse_detected",
            Action::SessionRevoked => "session.revoked",
            Action::PasswordChanged => "password.changed",
            Action::KeyCreated => "key.created",
            Action::KeyRevoked => "key.revoked",
            Action::MemberRoleChanged => "member.role_changed",
            Action::MemberAdded => "member.added",
            Action::MemberRemoved => "member.removed",
            Action::OrgSettingsChanged => "org.settings_changed",
            Action::EmailVerified => "email.verified",
            Action::EmailChangeRequested => "email.change_requested",
            Action::EmailChanged => "email.changed",
            Action::PasswordResetRequested => "password.reset_requested",
            Action::PasswordReset => "password.reset",
            Action::IdentityLinked => "identity.linked",
            Action::IdentityUnlinked => "identity.unlinked",
            Action::TwoFactorEnabled => "2fa.enabled",
            Action::TwoFactorDisabled => "2fa.disabled",
            Action::MfaFailed => "mfa.failed",
            Action::RecoveryCodeUsed => "mfa.recovery_code_used",
            Action::PasskeyAdded => "passkey.added",
            Action::PasskeyRenamed => "passkey.renamed",
            Action::PasskeyRemoved => "passkey.removed",
            Action::PasskeyCounterRegressed => "passkey.counter_regressed",
            Action::OrgExported => "org.exported",
            Action::AdminUserDisabled => "admin.user_disabled",
            Action::AdminUserEnabled => "admin.user_enabled",
            Action::AdminUserDeleted => "admin.user_deleted",
            Action::AdminOrgBudgetChanged => "admin.org_budget_changed",
            Action::AdminOrgServiceKeysChanged => "admin.org_service_keys_changed",
            Action::AdminSigningKeyRotated => "admin.signing_key_rotated",
            Action::OAuthClientCreated => "oauth_client.created",
            Action::OAuthClientDeleted => "oauth_client.deleted",
            Action::OAuthConsentGranted => "oauth_consent.granted",
            Action::OAuthConsentRevoked => "oauth_consent.revoked",
            Action::OAuthTokensIssued => "oauth_tokens.issued",
        }
    }
}

/// An event to record: built with `Entry::new(action).by(..).on(..).in_org(..).details(..)`.
#[derive(Clone, Debug)]
pub struct Entry {
    pub action: Action,
    /// The user who acted; `None` for an unauthenticated request (a failed login).
    pub actor: Option<String>,
    /// The user acted upon, when that is not the actor (a member whose role changed).
    pub subject: Option<String>,
    pub org: Option<String>,
    pub details: serde_json::Value,
}

impl Entry {
    pub fn new(action: Action) -> Self {
        Entry {
            action,
            actor: None,
            subject: None,
            org: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// The acting user (`None` leaves it unknown).
    pub fn by(mut self, user_id: impl IdRef) -> Self {
        self.actor = user_id.id();
        self
    }

    /// The user acted upon.
    pub fn on(mut self, user_id: impl IdRef) -> Self {
        self.subject = user_id.id();
        self
    }

    pub fn in_org(mut self, org_id: impl IdRef) -> Self {
        self.org = org_id.id();
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An id, or maybe one: what the `Entry` builder takes for users and orgs.
pub trait IdRef {
    fn id(self) -> Option<String>;
}

impl IdRef for &str {
    fn id(self) -> Option<String> {
        Some(self.to_string())
    }
}

impl IdRef for &String {
    fn id(self) -> Option<String> {
        Some(self.clone())
    }
}

impl IdRef for Option<&str> {
    fn id(self) -> Option<String> {
        self.map(str::to_string)
    }
}

impl IdRef for &Option<String> {
    fn id(self) -> Option<String> {
        self.clone()
    }
}

/// Where the request came from.
pub struct Origin<'a> {
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub now: i64,
}

/// Writes one event.
pub async fn insert(db: &D1Database, id: &str, entry: &Entry, from: &Origin<'_>) -> ApiResult<()> {
    // A user agent can be long; the log keeps enough to recognise it.
    let user_agent: String = from.user_agent.chars().take(512).collect();
    run(
        db,
        "INSERT INTO audit_events (id, created_at, type, actor_id, subject_id, org_id, ip, user_agent, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            s(id),
            n(from.now),
            s(entry.action.as_str()),
            opt_s(entry.actor.as_deref()),
            opt_s(entry.subject.as_deref()),
            opt_s(entry.org.as_deref()),
            s(from.ip),
            s(&user_agent),
            s(&entry.details.to_string()),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct AuditRow {
    pub id: String,
    pub created_at: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub org_id: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub details: String,
}

#[derive(Serialize)]
pub struct AuditView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub org_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

impl AuditRow {
    /// The event as shown; `show_origin` false hides where another person acted from.
    pub fn view(&self, show_origin: bool) -> AuditView {
        AuditView {
            id: self.id.clone(),
            kind: self.kind.clone(),
            created_at: rfc3339(self.created_at),
            actor_id: self.actor_id.clone(),
            subject_id: self.subject_id.clone(),
            org_id: self.org_id.clone(),
            ip: show_origin.then(|| self.ip.clone()),
            user_agent: show_origin.then(|| self.user_agent.clone()),
            details: serde_json::from_str(&self.details).unwrap_or_default(),
        }
    }
}

const COLUMNS: &str = "id, created_at, type, actor_id, subject_id, org_id, ip, user_agent, details";

/// Rows after the cursor (?2, ?3) in newest-first order.
const BEFORE: &str = "(created_at < ?2 OR (created_at = ?2 AND id < ?3))";

/// Newest first: the sort key of the last row seen, or "from the top".
fn before(cursor: Option<(i64, String)>) -> (i64, String) {
    cursor.unwrap_or((JS_MAX_SAFE, String::new()))
}

/// A page of the events a user acted in or was the subject of, newest first.
pub async fn of_user(
    db: &D1Database,
    user_id: &str,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<AuditRow>> {
    let (at, id) = before(cursor);
    // Two indexed halves rather than one OR, so each side walks its own index.
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM audit_events WHERE actor_id = ?1 AND {BEFORE}
             UNION
             SELECT {COLUMNS} FROM audit_events WHERE subject_id = ?1 AND {BEFORE}
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        ),
        &[s(user_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// A page of an org's events, newest first.
pub async fn of_org(
    db: &D1Database,
    org_id: &str,
    cursor: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<AuditRow>> {
    let (at, id) = before(cursor);
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM audit_events
             WHERE org_id = ?1 AND {BEFORE}
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        ),
        &[s(org_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// What the log and the org's webhook say about an API key: read before the key is deleted.
#[derive(Deserialize)]
pub struct KeyFacts {
    pub org_id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
}

pub async fn key_facts(db: &D1Database, key_id: &str) -> ApiResult<Option<KeyFacts>> {
    super::first(
        db,
        "SELECT org_id, user_id, name, prefix FROM api_keys WHERE id = ?1",
        &[s(key_id)],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_distinct_dotted_snake_case_with_digits() {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(
                name.split('.').count() == 2
                    && name.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '.'
                        || c == '_'),
                "{name}"
            );
            assert!(!names[i + 1..].contains(name), "{name} twice");
        }
    }

    #[test]
    fn another_persons_origin_is_hidden_on_request() {
        let row = AuditRow {
            id: "aud_1".into(),
            created_at: 0,
            kind: "member.role_changed".into(),
            actor_id: Some("usr_admin".into()),
            subject_id: Some("usr_me".into()),
            org_id: Some("org_1".into()),
            ip: "203.0.113.9".into(),
            user_agent: "curl/8".into(),
            details: r#"{"role":"admin"}"#.into(),
        };
        let hidden = serde_json::to_value(row.view(false)).unwrap();
        assert!(hidden["ip"].is_null() && hidden["user_agent"].is_null());
        assert_eq!(hidden["details"]["role"], "admin");
        assert_eq!(hidden["type"], "member.role_changed");
        let shown = serde_json::to_value(row.view(true)).unwrap();
        assert_eq!(shown["ip"], "203.0.113.9");
    }
}
