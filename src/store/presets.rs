//! Presets: a model, a system prompt and model settings, a user's own or an org's shared.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, first, n, opt_n, opt_s, run, s};
use crate::error::ApiResult;
use crate::util::rfc3339;

/// The most presets one user, or one org, keeps.
pub const MAX_PRESETS: i64 = 100;

#[derive(Deserialize, Clone)]
pub struct PresetRow {
    pub id: String,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub name: String,
    pub model: String,
    pub system_prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub reasoning_effort: Option<String>,
    pub created_at: i64,
}

#[derive(Serialize)]
pub struct PresetView {
    pub id: String,
    /// Set for an org's shared preset; null for the caller's own.
    pub org_id: Option<String>,
    pub name: String,
    pub model: String,
    pub system_prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub reasoning_effort: Option<String>,
    pub created_at: String,
}

impl PresetRow {
    pub fn view(&self) -> PresetView {
        PresetView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            name: self.name.clone(),
            model: self.model.clone(),
            system_prompt: self.system_prompt.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            reasoning_effort: self.reasoning_effort.clone(),
            created_at: rfc3339(self.created_at),
        }
    }
}

const COLUMNS: &str = "id, user_id, org_id, name, model, system_prompt, temperature, max_tokens, \
     reasoning_effort, created_at";

fn opt_f(v: Option<f64>) -> worker::wasm_bindgen::JsValue {
    v.map_or(
        worker::wasm_bindgen::JsValue::NULL,
        worker::wasm_bindgen::JsValue::from_f64,
    )
}

/// Adds a preset unless its owner already has `MAX_PRESETS` (counted in the same statement):
/// false then.
pub async fn insert(db: &D1Database, p: &PresetRow) -> ApiResult<bool> {
    let added = run(
        db,
        "INSERT INTO presets (id, user_id, org_id, name, model, system_prompt, temperature, max_tokens,
                              reasoning_effort, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
         WHERE (SELECT COUNT(*) FROM presets WHERE user_id IS ?2 AND org_id IS ?3) < ?11",
        &[
            s(&p.id),
            opt_s(p.user_id.as_deref()),
            opt_s(p.org_id.as_deref()),
            s(&p.name),
            s(&p.model),
            s(&p.system_prompt),
            opt_f(p.temperature),
            opt_n(p.max_tokens),
            opt_s(p.reasoning_effort.as_deref()),
            n(p.created_at),
            n(MAX_PRESETS),
        ],
    )
    .await?;
    Ok(added > 0)
}

/// The user's own presets, and with `org_id` that org's shared ones (the caller checked the
/// membership), oldest first.
pub async fn list(
    db: &D1Database,
    user_id: &str,
    org_id: Option<&str>,
) -> ApiResult<Vec<PresetRow>> {
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM presets WHERE user_id = ?1 OR (?2 IS NOT NULL AND org_id = ?2)
             ORDER BY org_id IS NOT NULL, created_at, id LIMIT ?3"
        ),
        &[s(user_id), opt_s(org_id), n(2 * MAX_PRESETS)],
    )
    .await
}

pub async fn get(db: &D1Database, id: &str) -> ApiResult<Option<PresetRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM presets WHERE id = ?1"),
        &[s(id)],
    )
    .await
}

pub async fn update(db: &D1Database, p: &PresetRow) -> ApiResult<()> {
    run(
        db,
        "UPDATE presets SET name = ?2, model = ?3, system_prompt = ?4, temperature = ?5, max_tokens = ?6,
                            reasoning_effort = ?7 WHERE id = ?1",
        &[
            s(&p.id),
            s(&p.name),
            s(&p.model),
            s(&p.system_prompt),
            opt_f(p.temperature),
            opt_n(p.max_tokens),
            opt_s(p.reasoning_effort.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &D1Database, id: &str) -> ApiResult<()> {
    run(db, "DELETE FROM presets WHERE id = ?1", &[s(id)]).await?;
    Ok(())
}
