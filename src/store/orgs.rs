//! Organizations and memberships. Org data is reached through an `OrgScope`, which only
//! `membership` hands out: a caller who is not a member gets 404, as if the org did not exist.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use super::{all, first, n, run, s, stmt};
use crate::domain::settings::Feature;
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
            Err(ApiError::Forbidden(
                "your role in this organization does not allow this",
            ))
        }
    }
}

#[derive(Deserialize)]
struct RoleRow {
    role: String,
}

/// What a member without two-factor authentication is told in an org that requires it.
pub const MFA_FOR_ORG: &str = "this organization requires two-factor authentication: turn it on \
     for your account (Settings, Security; POST /api/me/2fa/totp) to act in it";

/// The caller's membership of an org, or 404, whatever the org's rules for acting in it (an
/// org route checks those through `auth::sso::scope`): for the org's creator, and for what a
/// member may do even where the rules keep them out (join, leave).
pub async fn membership(db: &D1Database, org_id: &str, user_id: &str) -> ApiResult<OrgScope> {
    let row: Option<RoleRow> = first(
        db,
        "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        &[s(org_id), s(user_id)],
    )
    .await?;
    let role = row
        .and_then(|r| Role::parse(&r.role))
        .ok_or(ApiError::NotFound)?;
    Ok(OrgScope {
        org_id: org_id.to_string(),
        user_id: user_id.to_string(),
        role,
    })
}

/// The scope of a service admin in any existing org (404 for none), with an owner's reach,
/// for what the operator's console reads through the org's own queries (its members). Only
/// `routes::admin`, behind the service-admin check, asks for it.
pub async fn operator_scope(db: &D1Database, org_id: &str, admin_id: &str) -> ApiResult<OrgScope> {
    let row: Option<RoleRow> = first(
        db,
        "SELECT 'owner' AS role FROM orgs WHERE id = ?1",
        &[s(org_id)],
    )
    .await?;
    row.ok_or(ApiError::NotFound)?;
    Ok(OrgScope {
        org_id: org_id.to_string(),
        user_id: admin_id.to_string(),
        role: Role::Owner,
    })
}

/// 403 `mfa_required` when `settings` (an org's) require two-factor authentication and the
/// user has none: for the routes that reach an org through something else than `membership`
/// (a conversation, an API key, the personal org).
pub async fn require_2fa_of(
    db: &D1Database,
    settings: &crate::domain::settings::OrgSettings,
    user_id: &str,
) -> ApiResult<()> {
    if settings.require_2fa && !super::mfa::is_on(db, user_id).await? {
        return Err(ApiError::MfaRequired(MFA_FOR_ORG));
    }
    Ok(())
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

/// Creates an org that `user_id` owns, unless they already own `cap` orgs (their personal
/// org aside): `false` then. The count and the insert are one statement inside one
/// transaction, so concurrent creations never pass the cap.
pub async fn create_capped(
    db: &D1Database,
    org_id: &str,
    name: &str,
    user_id: &str,
    now: i64,
    cap: u32,
) -> ApiResult<bool> {
    let results = super::batch(
        db,
        vec![
            stmt(
                db,
                "INSERT INTO orgs (id, name, personal, settings, created_at)
                 SELECT ?1, ?2, 0, '{}', ?3
                 WHERE (SELECT COUNT(*) FROM memberships m JOIN orgs o ON o.id = m.org_id
                        WHERE m.user_id = ?4 AND m.role = 'owner' AND o.personal = 0) < ?5",
                &[s(org_id), s(name), n(now), s(user_id), n(cap as i64)],
            )?,
            stmt(
                db,
                "INSERT INTO memberships (org_id, user_id, role, joined_at)
                 SELECT id, ?2, 'owner', ?3 FROM orgs WHERE id = ?1",
                &[s(org_id), s(user_id), n(now)],
            )?,
        ],
    )
    .await?;
    Ok(results.first().map(super::changes).unwrap_or(0) == 1)
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
    Ok(of_user(db, user_id)
        .await?
        .into_iter()
        .find(|o| o.personal == 1 && o.role == "owner")
        .map(|o| o.id))
}

#[derive(Deserialize)]
struct SettingsRow {
    settings: String,
}

/// The user's personal org and its settings, in one read.
pub async fn personal_org_settings(
    db: &D1Database,
    user_id: &str,
) -> ApiResult<Option<(String, crate::domain::settings::OrgSettings)>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        settings: String,
    }
    let row: Option<Row> = first(
        db,
        "SELECT o.id, o.settings FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = ?1 AND o.personal = 1 AND m.role = 'owner'
         ORDER BY o.name, o.id LIMIT 1",
        &[s(user_id)],
    )
    .await?;
    Ok(row.map(|r| {
        (
            r.id,
            crate::domain::settings::OrgSettings::from_stored(&r.settings),
        )
    }))
}

/// An org's settings (the defaults when it has none).
pub async fn settings(
    db: &D1Database,
    org_id: &str,
) -> ApiResult<crate::domain::settings::OrgSettings> {
    let row: Option<SettingsRow> =
        first(db, "SELECT settings FROM orgs WHERE id = ?1", &[s(org_id)]).await?;
    Ok(row
        .map(|r| crate::domain::settings::OrgSettings::from_stored(&r.settings))
        .unwrap_or_default())
}

/// 403 `feature_disabled` unless the org has `feature` on.
pub async fn require_feature(db: &D1Database, org_id: &str, feature: Feature) -> ApiResult<()> {
    if settings(db, org_id).await?.enabled(feature) {
        Ok(())
    } else {
        Err(ApiError::FeatureDisabled(feature.as_str()))
    }
}

/// The SQL condition "the org whose id is the expression `org_id` has `feature` on", for
/// queries that decide it in the same statement as their read (`OrgSettings::enabled` in
/// SQL: only a stored `false` turns a feature off; unreadable settings count as defaults).
pub fn feature_on_sql(feature: Feature, org_id: &str) -> String {
    format!(
        "COALESCE((SELECT CASE WHEN json_valid(ff.settings)
                   THEN json_extract(ff.settings, '$.features.{}') END
                   FROM orgs ff WHERE ff.id = {org_id}), 1) <> 0",
        feature.as_str()
    )
}

// ---------------------------------------------------------------------------------------
// Role rules. Pure functions of the actor's scope, so every handler asks the same question
// and the rules are unit-tested without D1.

impl OrgScope {
    /// Whether the caller may invite someone with `role`: admins invite members and
    /// admins; only owners invite owners.
    pub fn may_invite(&self, role: Role) -> ApiResult<()> {
        self.require(Role::Admin)?;
        if role == Role::Owner && self.role != Role::Owner {
            return Err(ApiError::Forbidden("only an owner can invite an owner"));
        }
        Ok(())
    }

    /// Whether the caller may move a member from `current` to `new`. Admins manage
    /// members and admins; granting or taking away `owner` is for owners. (That the last
    /// owner keeps the role is checked atomically in `set_role`.)
    pub fn may_set_role(&self, current: Role, new: Role) -> ApiResult<()> {
        self.require(Role::Admin)?;
        if (current == Role::Owner || new == Role::Owner) && self.role != Role::Owner {
            return Err(ApiError::Forbidden(
                "only an owner can grant or change the owner role",
            ));
        }
        Ok(())
    }

    /// Whether the caller may remove `target_user` (whose role is `target`): anyone may
    /// leave; admins remove members and admins; only owners remove owners.
    pub fn may_remove(&self, target_user: &str, target: Role) -> ApiResult<()> {
        if target_user == self.user_id {
            return Ok(());
        }
        self.require(Role::Admin)?;
        if target == Role::Owner && self.role != Role::Owner {
            return Err(ApiError::Forbidden("only an owner can remove an owner"));
        }
        Ok(())
    }
}

const LAST_OWNER: &str =
    "an organization must keep at least one owner: make someone else owner first";

// ---------------------------------------------------------------------------------------
// Organizations

/// An org as stored.
#[derive(Deserialize, Clone)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub personal: i64,
    pub settings: String,
}

/// An org as its members see it.
#[derive(Serialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub settings: crate::domain::settings::OrgSettings,
    pub role: Role,
}

impl OrgRow {
    pub fn is_personal(&self) -> bool {
        self.personal == 1
    }

    pub fn view(&self, role: Role) -> OrgView {
        OrgView {
            id: self.id.clone(),
            name: self.name.clone(),
            settings: crate::domain::settings::OrgSettings::from_stored(&self.settings),
            role,
        }
    }
}

/// The org the scope is for.
pub async fn get(db: &D1Database, scope: &OrgScope) -> ApiResult<OrgRow> {
    let row: Option<OrgRow> = first(
        db,
        "SELECT id, name, personal, settings FROM orgs WHERE id = ?1",
        &[s(&scope.org_id)],
    )
    .await?;
    row.ok_or(ApiError::NotFound)
}

/// When the org was created.
pub async fn created_at(db: &D1Database, org_id: &str) -> ApiResult<Option<i64>> {
    #[derive(Deserialize)]
    struct At {
        created_at: i64,
    }
    let row: Option<At> = first(
        db,
        "SELECT created_at FROM orgs WHERE id = ?1",
        &[s(org_id)],
    )
    .await?;
    Ok(row.map(|r| r.created_at))
}

/// Renames the org and/or replaces its settings (already validated).
pub async fn update(
    db: &D1Database,
    scope: &OrgScope,
    name: Option<&str>,
    settings: Option<&crate::domain::settings::OrgSettings>,
) -> ApiResult<()> {
    let settings = settings.map(serde_json::to_string).transpose()?;
    run(
        db,
        "UPDATE orgs SET name = COALESCE(?2, name), settings = COALESCE(?3, settings) WHERE id = ?1",
        &[s(&scope.org_id), super::opt_s(name), super::opt_s(settings.as_deref())],
    )
    .await?;
    // `features.byok` decides which provider keys serve the org.
    super::provider_keys::forget_read();
    Ok(())
}

/// Deletes the org and everything in it, in one transaction. The conversations' messages
/// (Durable Objects) must be wiped before, by the caller.
pub async fn delete(db: &D1Database, scope: &OrgScope, now: i64) -> ApiResult<()> {
    let org = s(&scope.org_id);
    let mut statements = super::wipes::queue_org(db, &scope.org_id, now)?;
    for sql in [
        "DELETE FROM provider_keys WHERE owner_kind = 'org' AND owner_id = ?1",
        "DELETE FROM api_keys WHERE org_id = ?1",
        "DELETE FROM invitations WHERE org_id = ?1",
        "DELETE FROM conversations WHERE org_id = ?1",
        "DELETE FROM usage_events WHERE org_id = ?1",
        "DELETE FROM voice_sessions WHERE org_id = ?1",
        "DELETE FROM audit_events WHERE org_id = ?1",
        "DELETE FROM memberships WHERE org_id = ?1",
        "DELETE FROM orgs WHERE id = ?1",
    ] {
        statements.push(stmt(db, sql, std::slice::from_ref(&org))?);
    }
    super::batch(db, statements).await?;
    Ok(())
}

/// One of the caller's orgs, for the paged listing.
#[derive(Deserialize)]
pub struct MyOrgRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub joined_at: i64,
}

/// A page of the user's orgs, in the order they joined them (the personal org first).
pub async fn page_of_user(
    db: &D1Database,
    user_id: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<MyOrgRow>> {
    let (at, id) = after.unwrap_or((-1, String::new()));
    all(
        db,
        "SELECT o.id, o.name, m.role, m.joined_at FROM memberships m JOIN orgs o ON o.id = m.org_id
         WHERE m.user_id = ?1 AND (m.joined_at > ?2 OR (m.joined_at = ?2 AND o.id > ?3))
         ORDER BY m.joined_at, o.id LIMIT ?4",
        &[s(user_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Members

#[derive(Deserialize)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined_at: i64,
}

#[derive(Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined_at: String,
}

impl MemberRow {
    pub fn view(&self) -> MemberView {
        MemberView {
            user_id: self.user_id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role.clone(),
            joined_at: crate::util::rfc3339(self.joined_at),
        }
    }
}

/// A page of the org's members, oldest first.
pub async fn members(
    db: &D1Database,
    scope: &OrgScope,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<MemberRow>> {
    let (at, id) = after.unwrap_or((-1, String::new()));
    all(
        db,
        "SELECT m.user_id, u.email, u.name, m.role, m.joined_at FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = ?1 AND (m.joined_at > ?2 OR (m.joined_at = ?2 AND m.user_id > ?3))
         ORDER BY m.joined_at, m.user_id LIMIT ?4",
        &[s(&scope.org_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}

/// One member of the scope's org, or 404.
pub async fn member(db: &D1Database, scope: &OrgScope, user_id: &str) -> ApiResult<MemberRow> {
    let row: Option<MemberRow> = first(
        db,
        "SELECT m.user_id, u.email, u.name, m.role, m.joined_at FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = ?1 AND m.user_id = ?2",
        &[s(&scope.org_id), s(user_id)],
    )
    .await?;
    row.ok_or(ApiError::NotFound)
}

/// The role of another member of the scope's org, or 404.
pub async fn member_role(db: &D1Database, scope: &OrgScope, user_id: &str) -> ApiResult<Role> {
    let row: Option<RoleRow> = first(
        db,
        "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        &[s(&scope.org_id), s(user_id)],
    )
    .await?;
    row.and_then(|r| Role::parse(&r.role))
        .ok_or(ApiError::NotFound)
}

/// Whether `user_id` belongs to the scope's org.
pub async fn is_member(db: &D1Database, scope: &OrgScope, user_id: &str) -> ApiResult<bool> {
    match member_role(db, scope, user_id).await {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The SQL condition that lets a change to member ?2 of org ?1 through only when it does
/// not leave the org without an owner. Checked in the same statement as the change, so two
/// owners demoting each other at once cannot both succeed.
const KEEPS_AN_OWNER: &str = "(role <> 'owner'
    OR (SELECT COUNT(*) FROM memberships o WHERE o.org_id = ?1 AND o.role = 'owner' AND o.user_id <> ?2) > 0)";

/// Changes a member's role; 409 when it would demote the last owner, 404 when they are
/// not a member.
pub async fn set_role(
    db: &D1Database,
    scope: &OrgScope,
    user_id: &str,
    role: Role,
) -> ApiResult<()> {
    let changed = run(
        db,
        &format!(
            "UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_id = ?2
             AND (?3 = 'owner' OR {KEEPS_AN_OWNER})"
        ),
        &[s(&scope.org_id), s(user_id), s(role.as_str())],
    )
    .await?;
    if changed == 0 {
        member_role(db, scope, user_id).await?; // 404 if they are gone
        return Err(ApiError::Conflict(LAST_OWNER.into()));
    }
    Ok(())
}

/// Removes a member, and with them their API keys for this org; 409 for the last owner.
pub async fn remove_member(db: &D1Database, scope: &OrgScope, user_id: &str) -> ApiResult<()> {
    let args = [s(&scope.org_id), s(user_id)];
    let results = super::batch(
        db,
        vec![
            stmt(db, &format!("DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2 AND {KEEPS_AN_OWNER}"), &args)?,
            // Only when the membership is gone (a refused removal keeps the keys).
            stmt(
                db,
                "DELETE FROM api_keys WHERE org_id = ?1 AND user_id = ?2
                 AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = ?1 AND m.user_id = ?2)",
                &args,
            )?,
        ],
    )
    .await?;
    if results.first().map(super::changes).unwrap_or(0) == 0 {
        member_role(db, scope, user_id).await?;
        return Err(ApiError::Conflict(LAST_OWNER.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_role(role: Role) -> OrgScope {
        OrgScope {
            org_id: "org_1".into(),
            user_id: "usr_actor".into(),
            role,
        }
    }

    fn outcome(r: ApiResult<()>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(ApiError::Forbidden(_)) => "403",
            Err(_) => "other",
        }
    }

    #[test]
    fn roles_are_ordered_owner_admin_member() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
        for r in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Owner"), None);
    }

    #[test]
    fn who_may_invite_whom() {
        use Role::*;
        for (actor, invited, want) in [
            (Owner, Owner, "ok"),
            (Owner, Admin, "ok"),
            (Owner, Member, "ok"),
            (Admin, Owner, "403"),
            (Admin, Admin, "ok"),
            (Admin, Member, "ok"),
            (Member, Member, "403"),
            (Member, Admin, "403"),
        ] {
            assert_eq!(
                outcome(as_role(actor).may_invite(invited)),
                want,
                "{actor:?} inviting {invited:?}"
            );
        }
    }

    #[test]
    fn who_may_change_whose_role() {
        use Role::*;
        for (actor, current, new, want) in [
            (Owner, Member, Owner, "ok"),
            (Owner, Owner, Admin, "ok"),
            (Owner, Admin, Member, "ok"),
            (Admin, Member, Admin, "ok"),
            (Admin, Admin, Member, "ok"),
            (Admin, Member, Owner, "403"),
            (Admin, Owner, Member, "403"),
            (Admin, Owner, Admin, "403"),
            (Member, Member, Admin, "403"),
            (Member, Admin, Member, "403"),
        ] {
            assert_eq!(
                outcome(as_role(actor).may_set_role(current, new)),
                want,
                "{actor:?} moving {current:?} to {new:?}"
            );
        }
    }

    #[test]
    fn who_may_remove_whom() {
        use Role::*;
        for (actor, target, is_self, want) in [
            (Member, Member, true, "ok"),
            (Admin, Admin, true, "ok"),
            (Owner, Owner, true, "ok"), // the last-owner rule is enforced by the store
            (Member, Member, false, "403"),
            (Admin, Member, false, "ok"),
            (Admin, Admin, false, "ok"),
            (Admin, Owner, false, "403"),
            (Owner, Owner, false, "ok"),
        ] {
            let scope = as_role(actor);
            let target_user = if is_self {
                scope.user_id.clone()
            } else {
                "usr_other".to_string()
            };
            assert_eq!(
                outcome(scope.may_remove(&target_user, target)),
                want,
                "{actor:?} removing {target:?} (self: {is_self})"
            );
        }
    }
}
