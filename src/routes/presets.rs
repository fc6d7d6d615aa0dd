//! Presets: a model, a system prompt and model settings to start or set up a conversation
//! with. A user's own (theirs alone), or an org's shared (`org_id`): its members read them,
//! its admins and owners write them (a member is told 403, anyone else 404).

use serde::Deserialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::error::{ApiError, ApiResult};
use crate::http::{created, no_content, ok, Ctx, Page, BODY_LIMIT};
use crate::routes::conversations::{check_model_settings, MAX_SYSTEM_PROMPT_CHARS};
use crate::store::orgs::{self, Role};
use crate::store::presets::{self, PresetRow, MAX_PRESETS};
use crate::util::new_id;

const MAX_NAME_CHARS: usize = 100;

/// A field that may be `null`: `Some(None)`, told apart from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetIn {
    name: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    #[serde(default, deserialize_with = "present")]
    temperature: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    max_tokens: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    reasoning_effort: Option<Option<String>>,
    /// Only when creating: an org's shared preset.
    org_id: Option<String>,
}

impl PresetIn {
    fn apply(self, p: &mut PresetRow) -> ApiResult<()> {
        if let Some(name) = self.name {
            let name = name.trim();
            if name.is_empty()
                || name.chars().count() > MAX_NAME_CHARS
                || name.chars().any(char::is_control)
            {
                return Err(ApiError::param(
                    "name",
                    format!("name must be 1 to {MAX_NAME_CHARS} printable characters"),
                ));
            }
            p.name = name.to_string();
        }
        if let Some(m) = self.model {
            p.model = m;
        }
        if let Some(sp) = self.system_prompt {
            if sp.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
                return Err(ApiError::param(
                    "system_prompt",
                    format!("system_prompt is longer than {MAX_SYSTEM_PROMPT_CHARS} characters"),
                ));
            }
            p.system_prompt = sp;
        }
        if let Some(t) = self.temperature {
            p.temperature = t;
        }
        if let Some(m) = self.max_tokens {
            p.max_tokens = m.map(i64::from);
        }
        if let Some(e) = self.reasoning_effort {
            p.reasoning_effort = e;
        }
        Ok(())
    }
}

/// Checks a preset whole: its model (for an org's, one the org enables) and its settings for
/// that model's provider.
async fn check(ctx: &Ctx, p: &PresetRow) -> ApiResult<()> {
    if p.name.is_empty() {
        return Err(ApiError::param("name", "name is required"));
    }
    match &p.org_id {
        Some(org) => {
            let settings = orgs::settings(&ctx.db()?, org).await?;
            settings
                .permit(&p.model)
                .map_err(|e| ApiError::param("model", e))?;
        }
        None => {
            crate::domain::ModelId::parse(&p.model)
                .map_err(|e| ApiError::param("model", e.to_string()))?;
        }
    }
    check_model_settings(
        &p.model,
        p.temperature,
        p.max_tokens,
        p.reasoning_effort.as_deref(),
    )
}

/// A preset the caller may read, and whether they may write it: 404 for anyone else's.
async fn readable(ctx: &Ctx, who: &Principal, id: &str) -> ApiResult<(PresetRow, bool)> {
    let p = presets::get(&ctx.db()?, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match (&p.user_id, &p.org_id) {
        (Some(owner), _) if *owner == who.user_id => Ok((p, true)),
        (_, Some(org)) => {
            let scope = crate::auth::sso::scope(&ctx.db()?, org, who).await?;
            let writes = scope.role >= Role::Admin;
            Ok((p, writes))
        }
        _ => Err(ApiError::NotFound),
    }
}

/// `?org_id=`: also that org's shared presets (404 if the caller is not a member).
pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let org = ctx.query_param("org_id");
    if let Some(o) = &org {
        crate::auth::sso::scope(&ctx.db()?, o, &who).await?;
    }
    let rows = presets::list(&ctx.db()?, &who.user_id, org.as_deref()).await?;
    let items = rows.iter().map(PresetRow::view).collect();
    ok(&Page {
        items,
        next_cursor: None,
    })
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let mut body: PresetIn = ctx.json(BODY_LIMIT).await?;
    let org_id = body.org_id.take();
    if let Some(org) = &org_id {
        crate::auth::sso::scope(&ctx.db()?, org, &who)
            .await?
            .require(Role::Admin)?;
    }
    let mut p = PresetRow {
        id: new_id("pst"),
        user_id: org_id.is_none().then(|| who.user_id.clone()),
        org_id,
        name: String::new(),
        model: String::new(),
        system_prompt: String::new(),
        temperature: None,
        max_tokens: None,
        reasoning_effort: None,
        created_at: ctx.now,
    };
    if body.model.is_none() {
        return Err(ApiError::param("model", "model is required"));
    }
    body.apply(&mut p)?;
    check(&ctx, &p).await?;
    if !presets::insert(&ctx.db()?, &p).await? {
        return Err(ApiError::Conflict(format!(
            "there are already {MAX_PRESETS} presets here: delete one first"
        )));
    }
    created(&p.view())
}

pub async fn update(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: PresetIn = ctx.json(BODY_LIMIT).await?;
    if body.org_id.is_some() {
        return Err(ApiError::param(
            "org_id",
            "a preset's owner cannot change: create a new one",
        ));
    }
    let (mut p, writes) = readable(&ctx, &who, ctx.param(0)).await?;
    if !writes {
        return Err(ApiError::Forbidden(
            "only the organization's admins and owners change its presets",
        ));
    }
    body.apply(&mut p)?;
    check(&ctx, &p).await?;
    presets::update(&ctx.db()?, &p).await?;
    ok(&p.view())
}

pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let (p, writes) = readable(&ctx, &who, ctx.param(0)).await?;
    if !writes {
        return Err(ApiError::Forbidden(
            "only the organization's admins and owners delete its presets",
        ));
    }
    presets::delete(&ctx.db()?, &p.id).await?;
    no_content()
}
