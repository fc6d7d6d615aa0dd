//! Organizations, their members and invitations. Every org route starts from the caller's
//! access (`auth::sso::scope`: membership, the org's sign-in provider and two-factor rules):
//! outsiders get 404, members without the role get 403.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::domain::settings::OrgSettings;
use crate::domain::{DisplayName, Email};
use crate::error::{ApiError, ApiResult};
use crate::http::{
    created, decode_cursor, encode_cursor, no_content, ok, page_limit, Ctx, Page, BODY_LIMIT,
};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::orgs::{self, OrgScope, Role};
use crate::store::wipes::{self, Wipe};
use crate::store::{conversations, invitations, mfa, users};
use crate::util::new_id;
use crate::webhooks::{self, EventType};

/// `?cursor=` of a list endpoint, decoded.
pub(crate) fn cursor(ctx: &Ctx) -> ApiResult<Option<(i64, String)>> {
    ctx.query_param("cursor")
        .map(|c| decode_cursor(&c))
        .transpose()
}

/// A page from rows fetched with `limit + 1`: the extra row only says there is more.
pub(crate) fn page<R, V: Serialize>(
    rows: Vec<R>,
    limit: usize,
    sort_key: impl Fn(&R) -> (i64, &str),
    view: impl Fn(&R) -> V,
) -> Page<V> {
    let next_cursor = if rows.len() > limit {
        rows.get(limit.saturating_sub(1)).map(|r| {
            let (key, id) = sort_key(r);
            encode_cursor(key, id)
        })
    } else {
        None
    };
    Page {
        items: rows.iter().take(limit).map(view).collect(),
        next_cursor,
    }
}

/// The caller's membership of the org named by the first path parameter.
pub(crate) async fn scope(ctx: &Ctx, who: &Principal) -> ApiResult<OrgScope> {
    crate::auth::sso::scope(&ctx.db()?, ctx.param(0), who).await
}

fn role(raw: &str) -> ApiResult<Role> {
    Role::parse(raw).ok_or_else(|| ApiError::validation("role must be owner, admin or member"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    name: String,
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: CreateOrg = ctx.json(BODY_LIMIT).await?;
    let name = DisplayName::parse(&body.name, "name").map_err(ApiError::Validation)?;
    let db = ctx.db()?;
    let id = new_id("org");
    let cap = ctx.cfg.max_orgs_per_user;
    if !orgs::create_capped(&db, &id, name.as_str(), &who.user_id, ctx.now, cap).await? {
        return Err(ApiError::Conflict(format!(
            "you already own {cap} organizations, the most allowed: delete one first"
        )));
    }
    let scope = orgs::membership(&db, &id, &who.user_id).await?;
    created(&orgs::get(&db, &scope).await?.view(scope.role))
}

#[derive(Serialize)]
struct MyOrg {
    id: String,
    name: String,
    role: String,
}

pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let rows = orgs::page_of_user(&ctx.db()?, &who.user_id, cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.joined_at, &r.id),
        |r| MyOrg {
            id: r.id.clone(),
            name: r.name.clone(),
            role: r.role.clone(),
        },
    ))
}

pub async fn get(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    ok(&orgs::get(&ctx.db()?, &scope).await?.view(scope.role))
}

/// `settings`, when present, replaces the org's settings as a whole (omitted fields take
/// their defaults), so what is stored is always one validated object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateOrg {
    name: Option<String>,
    settings: Option<OrgSettings>,
}

pub async fn update(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: UpdateOrg = ctx.json(BODY_LIMIT).await?;
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let name = body
        .name
        .as_deref()
        .map(|n| DisplayName::parse(n, "name"))
        .transpose()
        .map_err(ApiError::Validation)?;
    if let Some(settings) = &body.settings {
        // Requiring 2FA without having it would lock the admin out at once.
        if settings.require_2fa && !mfa::is_on(&ctx.db()?, &who.user_id).await? {
            return Err(ApiError::MfaRequired(
                "turn on two-factor authentication for your own account before requiring it of \
                 the organization's members",
            ));
        }
        settings
            .validate()
            .and_then(|()| {
                let cfg = &ctx.cfg;
                settings.within_service_limits(cfg.api_key_rpm, cfg.default_monthly_token_limit)
            })
            .map_err(|e| ApiError::validation(format!("settings: {e}")))?;
        crate::auth::sso::check_setting(&ctx.db()?, &ctx.cfg.sign_in, &who, settings).await?;
    }
    let db = ctx.db()?;
    orgs::update(
        &db,
        &scope,
        name.as_ref().map(DisplayName::as_str),
        body.settings.as_ref(),
    )
    .await?;
    crate::gateway::forget_org(&scope.org_id);
    let changed = serde_json::json!({"name": name.is_some(), "settings": body.settings.is_some()});
    audit::record(
        &ctx,
        Entry::new(Action::OrgSettingsChanged)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(changed),
    )
    .await;
    ok(&orgs::get(&db, &scope).await?.view(scope.role))
}

/// Deletes the org with everything in it. A personal org goes only with its account.
pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Owner)?;
    let db = ctx.db()?;
    if orgs::get(&db, &scope).await?.is_personal() {
        return Err(ApiError::Conflict(
            "a personal organization is deleted only with its account (DELETE /api/me)".into(),
        ));
    }
    // Its uploaded files first (R2 and their rows): a failure leaves the org intact, to try
    // again. Then the rows go with their objects queued for wiping (`crate::wipes`), and as
    // many objects are wiped as one request may: its webhook queue (deliveries hold its
    // events' data), its limiter (budget months, API-key request windows), its conversations.
    crate::store::files::purge(&ctx.env, crate::store::files::Of::Org(&scope.org_id)).await?;
    let ids = conversations::ids_in_org(&db, &scope.org_id).await?;
    orgs::delete(&db, &scope, ctx.now).await?;
    let queued: Vec<Wipe> = std::iter::once(Wipe::new(wipes::ORG, &scope.org_id))
        .chain(ids.iter().map(|id| Wipe::new(wipes::CONVERSATION, id)))
        .collect();
    crate::wipes::after_deletion(&ctx.env, &db, &queued).await;
    no_content()
}

pub async fn members(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    let limit = page_limit(&ctx)?;
    let rows = orgs::members(&ctx.db()?, &scope, cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.joined_at, &r.user_id),
        orgs::MemberRow::view,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRole {
    role: String,
}

pub async fn set_member_role(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: SetRole = ctx.json(BODY_LIMIT).await?;
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let new = role(&body.role)?;
    let db = ctx.db()?;
    let target = ctx.param(1);
    let current = orgs::member_role(&db, &scope, target).await?;
    scope.may_set_role(current, new)?;
    orgs::set_role(&db, &scope, target, new).await?;
    let change = serde_json::json!({
        "user_id": target, "role": new, "previous_role": current, "changed_by": who.user_id,
    });
    audit::record(
        &ctx,
        Entry::new(Action::MemberRoleChanged)
            .by(&who.user_id)
            .on(target)
            .in_org(&scope.org_id)
            .details(change.clone()),
    )
    .await;
    webhooks::emit(&ctx, &scope.org_id, EventType::MemberRoleChanged, change).await;
    ok(&orgs::member(&db, &scope, target).await?.view())
}

pub async fn remove_member(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let target = ctx.param(1);
    // A member may leave an org that requires 2FA they do not have; nothing else.
    let scope = if target == who.user_id {
        orgs::membership(&db, ctx.param(0), &who.user_id).await?
    } else {
        scope(&ctx, &who).await?
    };
    let current = orgs::member_role(&db, &scope, target).await?;
    scope.may_remove(target, current)?;
    orgs::remove_member(&db, &scope, target).await?;
    let removal =
        serde_json::json!({"user_id": target, "role": current, "removed_by": who.user_id});
    audit::record(
        &ctx,
        Entry::new(Action::MemberRemoved)
            .by(&who.user_id)
            .on(target)
            .in_org(&scope.org_id)
            .details(removal.clone()),
    )
    .await;
    webhooks::emit(&ctx, &scope.org_id, EventType::MemberRemoved, removal).await;
    no_content()
}

// ---------------------------------------------------------------------------------------
// Invitations

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invite {
    email: String,
    /// `member` when omitted.
    role: Option<String>,
}

pub async fn invite(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Invite = ctx.json(BODY_LIMIT).await?;
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let email = Email::parse(&body.email).map_err(ApiError::Validation)?;
    let role = role(body.role.as_deref().unwrap_or("member"))?;
    scope.may_invite(role)?;
    let db = ctx.db()?;
    if let Some(user) = users::find_by_email(&db, &email).await? {
        if orgs::is_member(&db, &scope, &user.id).await? {
            return Err(ApiError::Conflict(format!(
                "{email} is already a member of this organization"
            )));
        }
    }
    let cap = ctx.cfg.max_pending_invitations_per_org;
    match invitations::create(&db, &scope, &email, role, ctx.now, cap).await? {
        Some(issued) => created(&issued),
        None => Err(ApiError::Conflict(format!(
            "this organization already has {cap} pending invitations, the most allowed: revoke one first"
        ))),
    }
}

pub async fn list_invitations(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let limit = page_limit(&ctx)?;
    let rows = invitations::pending(&ctx.db()?, &scope, ctx.now, cursor(&ctx)?, limit + 1).await?;
    ok(&page(
        rows,
        limit,
        |r| (r.created_at, &r.id),
        invitations::InvitationRow::view,
    ))
}

pub async fn revoke_invitation(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    if !invitations::revoke(&ctx.db()?, &scope, ctx.param(1), ctx.now).await? {
        return Err(ApiError::NotFound);
    }
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    token: String,
}

#[derive(Serialize)]
struct Joined {
    org: MyOrg,
}

/// Joins the org of an invitation made out to the caller's email. Every token that is not
/// a usable invitation for this caller is the same 404, so a stranger holding someone
/// else's token learns nothing from it.
pub async fn accept_invitation(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Accept = ctx.json(BODY_LIMIT).await?;
    let db = ctx.db()?;
    let user = users::find(&db, &who.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    let inv = invitations::find_by_token(&db, body.token.trim())
        .await?
        .ok_or(ApiError::NotFound)?;
    if !inv.is_for(&user.email_key) {
        return Err(ApiError::NotFound);
    }
    if orgs::membership(&db, &inv.org_id, &user.id).await.is_ok() {
        return Err(ApiError::Conflict(
            "you are already a member of this organization".into(),
        ));
    }
    if !inv.is_usable(ctx.now) {
        return Err(ApiError::NotFound);
    }
    // The invitation names an address: only someone who proved they own it may use it.
    if !user.is_verified() {
        return Err(ApiError::EmailUnverified(
            "verify your email address before accepting an invitation: open the link sent to it",
        ));
    }
    invitations::accept(&db, &inv, &user.id, &user.email_key, ctx.now).await?;
    // Joining an org that requires 2FA is allowed without it; acting in it is not.
    let scope = orgs::membership(&db, &inv.org_id, &user.id).await?;
    let joined = serde_json::json!({
        "user_id": user.id, "email": user.email, "role": scope.role,
        "invitation_id": inv.id, "invited_by": inv.invited_by,
    });
    audit::record(
        &ctx,
        Entry::new(Action::MemberAdded)
            .by(&user.id)
            .in_org(&scope.org_id)
            .details(joined.clone()),
    )
    .await;
    webhooks::emit(&ctx, &scope.org_id, EventType::MemberJoined, joined).await;
    let org = orgs::get(&db, &scope).await?;
    ok(&Joined {
        org: MyOrg {
            id: org.id,
            name: org.name,
            role: scope.role.as_str().to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_says_whether_there_is_more() {
        let rows: Vec<(i64, String)> = (1..=3).map(|i| (i, format!("id{i}"))).collect();
        let full = page(rows.clone(), 2, |r| (r.0, &r.1), |r| r.1.clone());
        assert_eq!(full.items, vec!["id1", "id2"]);
        assert_eq!(
            decode_cursor(full.next_cursor.as_deref().unwrap()).unwrap(),
            (2, "id2".to_string())
        );
        let last = page(rows, 3, |r| (r.0, &r.1), |r| r.1.clone());
        assert_eq!(last.items.len(), 3);
        assert!(last.next_cursor.is_none());
    }
}
