//! An organization's OAuth clients: the apps that sign its members in with chatgate as their
//! OpenID Provider (`routes::openid`). Admins and owners register, list and delete them; the
//! secret of a confidential client is shown once, at registration, and stored hashed.

use serde::{Deserialize, Serialize};
use worker::Response;

use crate::auth::guard::Principal;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::oauth_client::{self, ClientType};
use crate::domain::DisplayName;
use crate::error::{ApiError, ApiResult};
use crate::http::{created, no_content, ok, Ctx, BODY_LIMIT};
use crate::routes::audit;
use crate::routes::orgs::scope;
use crate::store::audit::{Action, Entry};
use crate::store::oauth::{self, ClientRow, ClientView, MAX_CLIENTS_PER_ORG};
use crate::store::orgs::Role;
use crate::util::new_id;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    any_user: bool,
}

#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    client: ClientView,
    /// Shown once; `None` for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: NewClient = ctx.json(BODY_LIMIT).await?;
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let name = DisplayName::parse(&body.name, "name").map_err(ApiError::Validation)?;
    let kind = ClientType::parse(&body.kind)
        .ok_or_else(|| ApiError::param("type", "type must be confidential or public"))?;
    let redirect_uris = oauth_client::redirect_uris(&body.redirect_uris, "redirect_uris", false)
        .map_err(|e| ApiError::param("redirect_uris", e))?;
    let logout_uris = oauth_client::redirect_uris(
        &body.post_logout_redirect_uris,
        "post_logout_redirect_uris",
        true,
    )
    .map_err(|e| ApiError::param("post_logout_redirect_uris", e))?;
    let scopes = oauth_client::client_scopes(body.scopes.as_deref())
        .map_err(|e| ApiError::param("scopes", e))?;
    let secret = match kind {
        ClientType::Confidential => Some(random_token().map_err(ApiError::internal)?),
        ClientType::Public => None,
    };
    let row = ClientRow {
        id: new_id("cgc"),
        org_id: scope.org_id.clone(),
        name: name.as_str().to_string(),
        redirect_uris: serde_json::to_string(&redirect_uris)?,
        post_logout_redirect_uris: serde_json::to_string(&logout_uris)?,
        kind: kind.as_str().to_string(),
        scopes: scopes.join(" "),
        any_user: i64::from(body.any_user),
        secret_hash: secret.as_ref().map(|s| sha256_hex(s.as_bytes())),
        created_at: ctx.now,
    };
    if !oauth::create_capped(&ctx.db()?, &row, &who.user_id).await? {
        return Err(ApiError::Conflict(format!(
            "this organization has {MAX_CLIENTS_PER_ORG} OAuth clients, the most allowed: delete one first"
        )));
    }
    audit::record(
        &ctx,
        Entry::new(Action::OAuthClientCreated)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(serde_json::json!({
                "client_id": row.id, "name": row.name, "type": row.kind, "any_user": body.any_user,
            })),
    )
    .await;
    created(&Created {
        client: row.view(),
        client_secret: secret,
    })
}

#[derive(Serialize)]
struct List {
    items: Vec<ClientView>,
}

pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let rows = oauth::clients_of_org(&ctx.db()?, &scope.org_id).await?;
    ok(&List {
        items: rows.iter().map(ClientRow::view).collect(),
    })
}

pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Admin)?;
    let client_id = ctx.param(1).to_string();
    if !oauth::delete_client(&ctx.db()?, &scope.org_id, &client_id, ctx.now).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &ctx,
        Entry::new(Action::OAuthClientDeleted)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(serde_json::json!({ "client_id": client_id })),
    )
    .await;
    no_content()
}
