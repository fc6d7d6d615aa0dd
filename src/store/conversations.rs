//! The conversations index (owner, org, title, model, prompt, activity). Messages live in
//! the conversation's Durable Object; a conversation is only ever found through its owner.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::sessions::{self, Liveness};
use super::{all, first, n, run, s};
use crate::domain::settings::OrgSettings;
use crate::error::{ApiError, ApiResult};
use crate::util::{rfc3339, JS_MAX_SAFE};

#[derive(Deserialize, Clone)]
pub struct ConversationRow {
    pub id: String,
    pub user_id: String,
    pub org_id: String,
    pub title: String,
    pub model: String,
    pub system_prompt: String,
    pub created_at: i64,
    pub last_activity: i64,
    /// Who named it (`TITLE_*`).
    pub title_source: String,
    /// Model settings sent with each reply (`None`: the provider's default).
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub reasoning_effort: Option<String>,
}

/// Nobody has named the conversation: a title is generated after its first reply.
pub const TITLE_DEFAULT: &str = "default";
pub const TITLE_GENERATED: &str = "generated";
/// Named by hand: never overwritten.
pub const TITLE_USER: &str = "user";

#[derive(Serialize)]
pub struct ConversationView {
    pub id: String,
    pub org_id: String,
    pub title: String,
    pub model: String,
    pub system_prompt: String,
    pub created_at: String,
    pub last_activity_at: String,
    pub title_source: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub reasoning_effort: Option<String>,
}

impl ConversationRow {
    pub fn view(&self) -> ConversationView {
        ConversationView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            title: self.title.clone(),
            model: self.model.clone(),
            system_prompt: self.system_prompt.clone(),
            created_at: rfc3339(self.created_at),
            last_activity_at: rfc3339(self.last_activity),
            title_source: self.title_source.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            reasoning_effort: self.reasoning_effort.clone(),
        }
    }
}

const COLUMNS: &str =
    "id, user_id, org_id, title, model, system_prompt, created_at, last_activity, \
     title_source, temperature, max_tokens, reasoning_effort";

pub async fn insert(db: &D1Database, c: &ConversationRow) -> ApiResult<()> {
    run(
        db,
        "INSERT INTO conversations (id, user_id, org_id, title, model, system_prompt, created_at, last_activity,
                                    title_source, temperature, max_tokens, reasoning_effort)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11)",
        &[s(&c.id), s(&c.user_id), s(&c.org_id), s(&c.title), s(&c.model), s(&c.system_prompt), n(c.created_at),
          s(&c.title_source), opt_f(c.temperature), super::opt_n(c.max_tokens), super::opt_s(c.reasoning_effort.as_deref())],
    )
    .await?;
    Ok(())
}

/// The caller's conversation with its org's settings, or 404 (another user's looks exactly
/// like a missing one). The owner must also still belong to the conversation's org. One
/// query, since every chat request starts here; with `session` (its id, and now) it also
/// answers whether the caller's session is live (`sessions::live_sql`), when a row is found.
pub async fn get_owned(
    db: &D1Database,
    id: &str,
    user_id: &str,
    session: Option<(&str, i64)>,
) -> ApiResult<(ConversationRow, OrgSettings, Option<Liveness>)> {
    #[derive(Deserialize)]
    struct WithSettings {
        #[serde(flatten)]
        row: ConversationRow,
        org_settings: String,
        #[serde(default)]
        session_last_used: Option<i64>,
    }
    let mut sql = String::from(
        "SELECT c.id, c.user_id, c.org_id, c.title, c.model, c.system_prompt, c.created_at,
                c.last_activity, c.title_source, c.temperature, c.max_tokens, c.reasoning_effort,
                o.settings AS org_settings",
    );
    let mut args = vec![s(id), s(user_id)];
    if let Some((session_id, now)) = session {
        sql.push_str(&format!(", {} AS session_last_used", sessions::live_sql(3)));
        args.extend(sessions::live_params(session_id, user_id, now));
    }
    sql.push_str(
        " FROM conversations c JOIN orgs o ON o.id = c.org_id
         WHERE c.id = ?1 AND c.user_id = ?2
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.org_id AND m.user_id = c.user_id)",
    );
    let found: Option<WithSettings> = first(db, &sql, &args).await?;
    let found = found.ok_or(ApiError::NotFound)?;
    let live = session.map(|(_, now)| sessions::liveness(found.session_last_used, now));
    Ok((
        found.row,
        OrgSettings::from_stored(&found.org_settings),
        live,
    ))
}

/// A page of the user's conversations, newest activity first; `org_id` narrows it. Only
/// those in orgs the user still belongs to: a former member's stay hidden (not deleted); and
/// for a session, only those of orgs it may reach (`auth::sso`).
pub async fn list(
    db: &D1Database,
    user_id: &str,
    org_id: Option<&str>,
    session_id: Option<&str>,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<ConversationRow>> {
    let (cursor_at, cursor_id) = after.unwrap_or((JS_MAX_SAFE, String::new()));
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM conversations
             WHERE user_id = ?1 AND (?2 IS NULL OR org_id = ?2)
               AND EXISTS (SELECT 1 FROM memberships m
                           WHERE m.org_id = conversations.org_id AND m.user_id = conversations.user_id)
               AND (?6 IS NULL OR {})
               AND (last_activity < ?3 OR (last_activity = ?3 AND (?4 = '' OR id < ?4)))
             ORDER BY last_activity DESC, id DESC LIMIT ?5",
            super::identities::sso_allows_sql("conversations.org_id", "?6")
        ),
        &[
            s(user_id),
            super::opt_s(org_id),
            n(cursor_at),
            s(&cursor_id),
            n(limit as i64),
            super::opt_s(session_id),
        ],
    )
    .await
}

pub async fn update(db: &D1Database, c: &ConversationRow) -> ApiResult<()> {
    run(
        db,
        // The title only when named by hand: a model or prompt change leaves a title generated
        // meanwhile as it is.
        "UPDATE conversations SET model = ?3, system_prompt = ?4,
             temperature = ?6, max_tokens = ?7, reasoning_effort = ?8,
             title = CASE WHEN ?5 = 'user' THEN ?2 ELSE title END,
             title_source = CASE WHEN ?5 = 'user' THEN ?5 ELSE title_source END
         WHERE id = ?1",
        &[
            s(&c.id),
            s(&c.title),
            s(&c.model),
            s(&c.system_prompt),
            s(&c.title_source),
            opt_f(c.temperature),
            super::opt_n(c.max_tokens),
            super::opt_s(c.reasoning_effort.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

/// Gives a conversation nobody has named its generated title; false if someone named it
/// meanwhile (a title set by hand is never overwritten) or it is gone.
pub async fn set_generated_title(db: &D1Database, id: &str, title: &str) -> ApiResult<bool> {
    let changed = run(
        db,
        "UPDATE conversations SET title = ?2, title_source = ?3 WHERE id = ?1 AND title_source = ?4",
        &[s(id), s(title), s(TITLE_GENERATED), s(TITLE_DEFAULT)],
    )
    .await?;
    Ok(changed > 0)
}

fn opt_f(v: Option<f64>) -> worker::wasm_bindgen::JsValue {
    v.map_or(
        worker::wasm_bindgen::JsValue::NULL,
        worker::wasm_bindgen::JsValue::from_f64,
    )
}

pub async fn touch(db: &D1Database, id: &str, now: i64) -> ApiResult<()> {
    run(
        db,
        "UPDATE conversations SET last_activity = ?2 WHERE id = ?1 AND last_activity < ?2",
        &[s(id), n(now)],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &D1Database, id: &str) -> ApiResult<()> {
    run(db, "DELETE FROM conversations WHERE id = ?1", &[s(id)]).await?;
    Ok(())
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

/// Conversations that go when the user goes: their own, and every conversation in the
/// organizations they alone own (which are deleted with them).
pub async fn ids_deleted_with_user(
    db: &D1Database,
    user_id: &str,
    sole_owned_orgs: &[String],
) -> ApiResult<Vec<String>> {
    let mut ids: Vec<String> = all::<Id>(
        db,
        "SELECT id FROM conversations WHERE user_id = ?1",
        &[s(user_id)],
    )
    .await?
    .into_iter()
    .map(|r| r.id)
    .collect();
    for org in sole_owned_orgs {
        ids.extend(ids_in_org(db, org).await?);
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

pub async fn ids_in_org(db: &D1Database, org_id: &str) -> ApiResult<Vec<String>> {
    Ok(all::<Id>(
        db,
        "SELECT id FROM conversations WHERE org_id = ?1",
        &[s(org_id)],
    )
    .await?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// A page of the org's conversations, oldest first (the org's export), after the cursor
/// (`created_at`, id) of the last one seen.
pub async fn page_of_org(
    db: &D1Database,
    org_id: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<ConversationRow>> {
    let (at, id) = after.unwrap_or((-1, String::new()));
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM conversations
             WHERE org_id = ?1 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))
             ORDER BY created_at, id LIMIT ?4"
        ),
        &[s(org_id), n(at), s(&id), n(limit as i64)],
    )
    .await
}
