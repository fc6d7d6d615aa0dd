//! Organizations and memberships. Org data is reached through an `OrgScope`, which only
//! `membership` hands out: a caller who is not a member gets 404, as if the org did not exist.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use super::{all, first, n, s, stmt};
use crate::error::{ApiError, ApiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member = 0,
    Admin = 1,
    Owner = 2,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Proof that `user_id` belongs to `org_id` with `role`, checked against D1 on this request.
#[derive(Clone, Debug)]
pub struct OrgScope {
    pub org_id: String,
    pub user_id: String,
    pub role: Role,
}

impl OrgScope {
    /// 404 (not 403) for members without the role, so nothing leaks to outsiders; members
    /// who can see the org but lack the role get 403.
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden("your role in this organization does not allow this"))
        }
    }
}

#[derive(Deserialize)]
struct RoleRow {
    role: String,
}

/// The caller's membership of an org, or 404.
pub async fn membership(db: &D1Database, org_id: &str, user_id: &str) -> ApiResult<OrgScope> {
    let row: Option<RoleRow> = first(
        db,
        "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        &[s(org_id), s(user_id)],
    )
    .await?;
    let role = row.and_then(|r| Role::parse(&r.role)).ok_or(ApiError::NotFound)?;
    Ok(OrgScope { org_id: org_id.to_string(), user_id: user_id.to_string(), role })
}

/// The statements that create an org with `user_id` as its owner.
pub fn create(
    db: &D1Database,
    org_id: &str,
    name: &str,
    personal: bool,
    user_id: &str,
    now: i64,
) -> ApiResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        stmt(
            db,
            "INSERT INTO orgs (id, name, personal, settings, created_at) VALUES (?1, ?2, ?3, '{}', ?4)",
            &[s(org_id), s(name), n(personal as i64), n(now)],
        )?,
        stmt(
            db,
            "INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?1, ?2, 'owner', ?3)",
            &[s(org_id), s(user_id), n(now)],
        )?,
    ])
}

#[derive(Deserialize, Serialize, Clone)]
pub struct UserOrg {
    pub id: String,
    pub name: String,
    pub role: String,
    #[serde(skip_serializing)]
    pub personal: i64,
}

/// The orgs a user belongs to, personal first, then by name.
pub async fn of_user(db: &D1Database, user_id: &str) -> ApiResult<Vec<UserOrg>> {
    all(
        db,
        "SELECT o.id, o.name, m.role, o.personal FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = ?1 ORDER BY o.personal DESC, o.name, o.id",
        &[s(user_id)],
    )
    .await
}

/// The user's personal org (created with the account).
pub async fn personal_org(db: &D1Database, user_id: &str) -> ApiResult<Option<String>> {
    Ok(of_user(db, user_id).await?.into_iter().find(|o| o.personal == 1 && o.role == "owner").map(|o| o.id))
}

#[derive(Deserialize)]
struct SettingsRow {
    settings: String,
}

/// An org's settings (the defaults when it has none).
pub async fn settings(db: &D1Database, org_id: &str) -> ApiResult<crate::domain::settings::OrgSettings> {
    let row: Option<SettingsRow> = first(db, "SELECT settings FROM orgs WHERE id = ?1", &[s(org_id)]).await?;
    Ok(row.map(|r| crate::domain::settings::OrgSettings::from_stored(&r.settings)).unwrap_or_default())
}
