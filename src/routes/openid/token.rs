//! The token endpoint (`POST /oauth/token`): the code exchange, the refresh, and the claims.

use worker::Response;

use super::client::{client_request, oauth_error, param, OAuthError};
use super::{any_origin, issuer};
use crate::auth::openid::{self, AccessGrant, IdToken, TOKEN_TTL_SECS};
use crate::auth::signing;
use crate::crypto::{b64url, ct_eq, random_token, sha256, sha256_hex};
use crate::domain::oauth_client::{covers, is_code_verifier, SCOPES};
use crate::domain::settings::{Feature, OrgSettings};
use crate::error::{ApiError, ApiResult};
use crate::http::{ok, Ctx};
use crate::routes::audit;
use crate::store::audit::{Action, Entry};
use crate::store::oauth::{self, ClientRow, Code, NewGrant};
use crate::store::{sessions, users};
use crate::util::new_id;

// --- POST /oauth/token --------------------------------------------------------------------

pub async fn token(mut ctx: Ctx) -> ApiResult<Response> {
    let (params, client) = match client_request(&mut ctx).await? {
        Ok(request) => request,
        Err(e) => return e.respond(),
    };
    let result = match param(&params, "grant_type") {
        Some("authorization_code") => exchange_code(&ctx, &client, &params).await?,
        Some("refresh_token") => refresh(&ctx, &client, &params).await?,
        Some(_) => Err(oauth_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )),
        None => Err(oauth_error("invalid_request", "grant_type is required")),
    };
    match result {
        Ok(body) => {
            let mut resp = ok(&body)?;
            resp.headers_mut().set("pragma", "no-cache")?;
            any_origin(resp)
        }
        Err(e) => e.respond(),
    }
}

type Grant = ApiResult<Result<serde_json::Value, OAuthError>>;

async fn exchange_code(ctx: &Ctx, client: &ClientRow, params: &[(String, String)]) -> Grant {
    let (Some(code), Some(redirect_uri)) = (param(params, "code"), param(params, "redirect_uri"))
    else {
        return Ok(Err(oauth_error(
            "invalid_request",
            "code and redirect_uri are required",
        )));
    };
    let db = ctx.db()?;
    let code_hash = sha256_hex(code.as_bytes());
    let code = match oauth::use_code(&db, &code_hash, ctx.now).await? {
        Code::Fresh(c) => c,
        Code::Reused { session_id } => {
            // A code presented twice was stolen or replayed: what it gave is revoked (4.1.2).
            if let Some(sid) = session_id {
                oauth::revoke_grant(&db, &sid, &client.id, ctx.now).await?;
            }
            return Ok(Err(oauth_error(
                "invalid_grant",
                "the code was used already; the tokens it gave are revoked",
            )));
        }
        Code::Invalid => {
            return Ok(Err(oauth_error(
                "invalid_grant",
                "the code is not valid or has expired",
            )))
        }
    };
    if code.client_id != client.id {
        return Ok(Err(oauth_error(
            "invalid_grant",
            "the code was issued to another client",
        )));
    }
    if code.redirect_uri != redirect_uri {
        return Ok(Err(oauth_error(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        )));
    }
    let verifier = param(params, "code_verifier");
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            if !is_code_verifier(v)
                || !ct_eq(
                    b64url(&sha256(v.as_bytes())).as_bytes(),
                    challenge.as_bytes(),
                )
            {
                return Ok(Err(oauth_error(
                    "invalid_grant",
                    "the code_verifier does not match",
                )));
            }
        }
        (Some(_), None) => {
            return Ok(Err(oauth_error(
                "invalid_grant",
                "code_verifier is required (PKCE)",
            )))
        }
        (None, Some(_)) => {
            return Ok(Err(oauth_error(
                "invalid_grant",
                "the authorization request had no code_challenge",
            )))
        }
        (None, None) => {}
    }
    if let Err(e) = still_allowed(&db, client, &code.user_id).await? {
        return Ok(Err(e));
    }
    let session_id = new_id("ses");
    let refresh = if code.scope.split(' ').any(|s| s == "offline_access") {
        Some(random_token().map_err(ApiError::internal)?)
    } else {
        None
    };
    let grant = NewGrant {
        session_id: &session_id,
        user_id: &code.user_id,
        client_id: &client.id,
        scope: &code.scope,
        auth_time: code.auth_time,
        user_agent: &ctx.user_agent,
        ip: &ctx.ip,
        now: ctx.now,
    };
    let refresh_hash = refresh.as_ref().map(|r| sha256_hex(r.as_bytes()));
    crate::store::batch(
        &db,
        oauth::create_grant(&db, &grant, refresh_hash.as_deref(), &code_hash)?,
    )
    .await?;
    let grant = oauth::GrantRow {
        session_id,
        user_id: code.user_id.clone(),
        client_id: client.id.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
    };
    let body = tokens_for(ctx, client, &grant, code.nonce.as_deref(), refresh, ctx.now).await?;
    audit::record(
        ctx,
        Entry::new(Action::OAuthTokensIssued)
            .by(&code.user_id)
            .in_org(&client.org_id)
            .details(serde_json::json!({
                "client_id": client.id, "scope": code.scope, "session_id": grant.session_id,
            })),
    )
    .await;
    Ok(Ok(body))
}

/// `Err` (invalid_grant) when the user may no longer use the client: their account is
/// disabled or gone, or they left the client's org (unless it is for any user).
pub(super) async fn still_allowed(
    db: &worker::D1Database,
    client: &ClientRow,
    user_id: &str,
) -> ApiResult<Result<(), OAuthError>> {
    let user = users::find(db, user_id).await?;
    if user.as_ref().is_none_or(|u| u.disabled_at.is_some()) {
        return Ok(Err(oauth_error("invalid_grant", "the account is disabled")));
    }
    if client.any_user == 0 && oauth::role_in(db, &client.org_id, user_id).await?.is_none() {
        return Ok(Err(oauth_error(
            "invalid_grant",
            "the user is no longer a member of the client's organization",
        )));
    }
    Ok(Ok(()))
}

async fn refresh(ctx: &Ctx, client: &ClientRow, params: &[(String, String)]) -> Grant {
    let Some(token) = param(params, "refresh_token") else {
        return Ok(Err(oauth_error(
            "invalid_request",
            "refresh_token is required",
        )));
    };
    let db = ctx.db()?;
    let old_hash = sha256_hex(token.as_bytes());
    let next = crate::routes::auth::successor_of(&ctx.cfg.jwt_secret, token);
    let next_hash = sha256_hex(next.as_bytes());
    let (session_id, rotated_at) =
        match sessions::rotate(&db, &old_hash, &next_hash, ctx.now, Some(&client.id)).await? {
            sessions::Rotation::Rotated {
                session_id,
                rotated_at,
                ..
            } => (session_id, rotated_at),
            sessions::Rotation::Reused {
                user_id,
                session_id,
            } => {
                audit::record(
                    ctx,
                    Entry::new(Action::RefreshReuseDetected)
                        .on(&user_id)
                        .in_org(&client.org_id)
                        .details(
                            serde_json::json!({"session_id": session_id, "client_id": client.id}),
                        ),
                )
                .await;
                return Ok(Err(oauth_error(
                    "invalid_grant",
                    "this refresh token was already used; the grant has been revoked",
                )));
            }
            sessions::Rotation::Invalid | sessions::Rotation::Disabled => {
                return Ok(Err(oauth_error(
                    "invalid_grant",
                    "the refresh token is not valid",
                )))
            }
        };
    let Some(mut grant) = oauth::live_grant(&db, &session_id, &client.id, ctx.now).await? else {
        return Ok(Err(oauth_error("invalid_grant", "the grant has ended")));
    };
    if let Err(e) = still_allowed(&db, client, &grant.user_id).await? {
        oauth::revoke_grant(&db, &session_id, &client.id, ctx.now).await?;
        return Ok(Err(e));
    }
    if let Some(asked) = param(params, "scope") {
        let asked: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
        if !covers(&grant.scope, &asked) {
            return Ok(Err(oauth_error(
                "invalid_scope",
                "the scope exceeds the grant's",
            )));
        }
        grant.scope = SCOPES
            .iter()
            .copied()
            .filter(|s| asked.contains(s))
            .collect::<Vec<_>>()
            .join(" ");
    }
    // Issued at the rotation's time: a retry within the grace window gets the same tokens.
    Ok(Ok(tokens_for(
        ctx,
        client,
        &grant,
        None,
        Some(next),
        rotated_at,
    )
    .await?))
}

/// The token response: an access token, an ID token when `openid` was granted, and the
/// refresh token when there is one.
async fn tokens_for(
    ctx: &Ctx,
    client: &ClientRow,
    grant: &oauth::GrantRow,
    nonce: Option<&str>,
    refresh_token: Option<String>,
    issued_at_ms: i64,
) -> ApiResult<serde_json::Value> {
    let db = ctx.db()?;
    let key = signing::signing_key(&db, &ctx.cfg, ctx.now).await?;
    let iss = issuer(ctx);
    let now_secs = issued_at_ms as u64 / 1000;
    let access_token = openid::issue_access(
        &key,
        &AccessGrant {
            issuer: &iss,
            user_id: &grant.user_id,
            client_id: &client.id,
            session_id: &grant.session_id,
            scope: &grant.scope,
        },
        now_secs,
    )
    .map_err(ApiError::internal)?;
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "scope": grant.scope,
    });
    if grant.scope.split(' ').any(|s| s == "openid") {
        let claims = user_claims(&db, client, &grant.user_id, &grant.scope).await?;
        let id_token = openid::issue_id_token(
            &key,
            &IdToken {
                issuer: &iss,
                user_id: &grant.user_id,
                client_id: &client.id,
                nonce,
                auth_time: grant.auth_time as u64 / 1000,
                access_token: &access_token,
                claims: &claims,
            },
            now_secs,
        )
        .map_err(ApiError::internal)?;
        body["id_token"] = serde_json::json!(id_token);
    }
    if let Some(r) = refresh_token {
        body["refresh_token"] = serde_json::json!(r);
    }
    Ok(body)
}

/// The claims `scope` allows about the user (not `sub`): `email` and `email_verified`
/// (email), `name` (profile), `organization` (org: the client's org as the user sees it).
pub(super) async fn user_claims(
    db: &worker::D1Database,
    client: &ClientRow,
    user_id: &str,
    scope: &str,
) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    let mut claims = serde_json::Map::new();
    let user = users::find(db, user_id).await?.ok_or(ApiError::NotFound)?;
    if has("email") {
        claims.insert("email".into(), serde_json::json!(user.email));
        claims.insert(
            "email_verified".into(),
            serde_json::json!(user.is_verified()),
        );
    }
    if has("profile") {
        claims.insert("name".into(), serde_json::json!(user.name));
    }
    if has("org") {
        if let Some(org) = oauth::org_claim(db, &client.org_id, user_id).await? {
            claims.insert("organization".into(), organization_claim(&org));
        }
    }
    Ok(claims)
}

/// The `organization` claim: what a chat app needs to set itself up for the tenant.
fn organization_claim(org: &oauth::OrgClaimRow) -> serde_json::Value {
    let settings = OrgSettings::from_stored(&org.settings);
    let features: serde_json::Map<String, serde_json::Value> = Feature::ALL
        .iter()
        .map(|f| {
            (
                f.as_str().to_string(),
                serde_json::json!(settings.enabled(*f)),
            )
        })
        .collect();
    serde_json::json!({
        "id": org.id,
        "name": org.name,
        "role": org.role,
        "enabled_models": settings.enabled_models,
        "monthly_token_limit": settings.monthly_token_limit,
        "features": features,
    })
}
