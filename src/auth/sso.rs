//! Organizations that require their members to sign in through their own provider
//! (`settings.sso: {provider, required: true}`): a member reaches such an org (its routes, its
//! conversations, `/v1` acting in it) only from a session signed in through that provider;
//! from any other session the org's resources answer 403 `sso_required`. The rule is about
//! sessions: API keys, which act only in their own org, are not sessions and are not held to
//! it (an admin revokes them, `GET /api/orgs/{org}/keys`).

use worker::D1Database;

use crate::auth::guard::Principal;
use crate::domain::settings::OrgSettings;
use crate::error::{ApiError, ApiResult};
use crate::store::identities;
use crate::store::orgs::{OrgScope, Role};

/// The caller's membership of `org_id` (404 for an outsider); 403 `sso_required` when the org
/// requires a provider the caller's session was not signed in through, and 403 `mfa_required`
/// when it requires two-factor authentication and the caller has none (`store::orgs::membership`,
/// which checks only the latter, is for a caller who has just created the org).
pub async fn scope(db: &D1Database, org_id: &str, who: &Principal) -> ApiResult<OrgScope> {
    let access = identities::org_access(db, org_id, &who.user_id, who.session_id.as_deref())
        .await?
        .ok_or(ApiError::NotFound)?;
    let role = Role::parse(&access.role).ok_or(ApiError::NotFound)?;
    if let Some(required) = access.required_idp {
        if who.session_id.is_some() && access.session_idp.as_deref() != Some(required.as_str()) {
            return Err(ApiError::SsoRequired(required));
        }
    }
    if access.mfa_allows == 0 {
        return Err(ApiError::MfaRequired(crate::store::orgs::MFA_FOR_ORG));
    }
    Ok(OrgScope {
        org_id: org_id.to_string(),
        user_id: who.user_id.clone(),
        role,
    })
}

/// 403 `sso_required` when an org with these settings requires a provider the caller's
/// session was not signed in through (for requests that found the org through something it
/// holds, a conversation).
pub async fn require(db: &D1Database, who: &Principal, settings: &OrgSettings) -> ApiResult<()> {
    let (Some(required), Some(session)) = (settings.required_provider(), &who.session_id) else {
        return Ok(());
    };
    let signed_in = identities::session_sign_in(db, session).await?;
    if signed_in.and_then(|s| s.idp).as_deref() == Some(required) {
        Ok(())
    } else {
        Err(ApiError::SsoRequired(required.to_string()))
    }
}

/// Checks new org settings' `sso` against this server and the admin setting it: the provider
/// must be configured, and requiring it takes a session signed in through it (else the admin
/// would lock themselves out of the org at once).
pub async fn check_setting(
    db: &D1Database,
    providers: &crate::auth::oidc::Providers,
    who: &Principal,
    settings: &OrgSettings,
) -> ApiResult<()> {
    let Some(sso) = &settings.sso else {
        return Ok(());
    };
    if providers.get(&sso.provider).is_none() {
        return Err(ApiError::param(
            "settings.sso.provider",
            format!(
                "settings.sso.provider: `{}` is not a sign-in provider of this server (GET /api/auth/providers)",
                sso.provider.chars().take(32).collect::<String>()
            ),
        ));
    }
    if sso.required {
        let session = match &who.session_id {
            Some(s) => identities::session_sign_in(db, s).await?,
            None => None,
        };
        if session.and_then(|s| s.idp).as_deref() != Some(sso.provider.as_str()) {
            return Err(ApiError::Conflict(format!(
                "sign in with `{}` before requiring it: this session was not, and would lose the organization",
                sso.provider
            )));
        }
    }
    Ok(())
}
