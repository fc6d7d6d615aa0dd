//! A conversation exported (JSON or Markdown), and conversations imported: chatgate's own
//! export, or ChatGPT's `conversations.json` (`domain::import` reads both).

use serde_json::json;
use worker::Response;

use crate::auth::guard::Principal;
use crate::conversation::import::{self as object_import, ImportedMessage};
use crate::conversation::protocol::MessageView;
use crate::domain::import::{self, Skipped, CHATGATE_FORMAT, MAX_IMPORT_BYTES};
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{created, Ctx};
use crate::routes::conversations::{default_model, owned};
use crate::store::{conversations, orgs, search};
use crate::util::{new_id, rfc3339};

/// The most messages an export holds (the newest).
pub const MAX_EXPORT_MESSAGES: usize = 10_000;

fn attachment(body: String, content_type: &str, filename: &str) -> ApiResult<Response> {
    let headers = worker::Headers::new();
    headers.set("content-type", content_type)?;
    headers.set(
        "content-disposition",
        &format!("attachment; filename=\"{filename}\""),
    )?;
    headers.set("cache-control", "private, no-store")?;
    Ok(Response::ok(body)?.with_headers(headers))
}

fn markdown(
    conv: &conversations::ConversationRow,
    messages: &[MessageView],
    truncated: bool,
    now: i64,
) -> String {
    let mut out = format!(
        "# {}\n\n_Exported from chatgate on {}",
        conv.title,
        rfc3339(now)
    );
    if truncated {
        out.push_str(&format!("; the newest {MAX_EXPORT_MESSAGES} messages"));
    }
    out.push_str("._\n");
    if !conv.system_prompt.trim().is_empty() {
        out.push_str(&format!("\n## System prompt\n\n{}\n", conv.system_prompt));
    }
    for m in messages {
        let who = match (m.role.as_str(), &m.model) {
            ("user", _) => "User".to_string(),
            (_, Some(model)) => format!("Assistant ({model})"),
            _ => "Assistant".to_string(),
        };
        out.push_str(&format!("\n## {who}\n\n"));
        if !m.attachments.is_empty() {
            out.push_str(&format!(
                "_{} image(s) not included._\n\n",
                m.attachments.len()
            ));
        }
        out.push_str(&m.content);
        out.push('\n');
    }
    out
}

/// `GET /api/conversations/{id}/export?format=json|markdown`: a download of the conversation.
pub async fn export(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let format = ctx.query_param("format").unwrap_or_else(|| "json".into());
    if format != "json" && format != "markdown" {
        return Err(ApiError::param("format", "format is json or markdown"));
    }
    let (conv, _) = owned(&ctx, &who).await?;
    let (messages, truncated) = crate::history::read(&ctx, &conv.id, MAX_EXPORT_MESSAGES).await?;
    if format == "markdown" {
        let body = markdown(&conv, &messages, truncated, ctx.now);
        return attachment(
            body,
            "text/markdown; charset=utf-8",
            &format!("chatgate-{}.md", conv.id),
        );
    }
    let body = json!({
        "format": CHATGATE_FORMAT,
        "version": 1,
        "exported_at": rfc3339(ctx.now),
        "conversation": conv.view(),
        "messages": messages,
        "messages_truncated": truncated,
    });
    attachment(
        serde_json::to_string_pretty(&body)?,
        "application/json; charset=utf-8",
        &format!("chatgate-{}.json", conv.id),
    )
}

/// `POST /api/imports?org_id=`: each conversation of the body becomes a new conversation of
/// the caller (in `org_id`, else their personal org), its messages complete and searchable.
pub async fn import(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let db = ctx.db()?;
    let org_id = gateway::acting_org(&db, &who, ctx.query_param("org_id").as_deref()).await?;
    let settings = orgs::settings(&db, &org_id).await?;
    orgs::require_2fa_of(&db, &settings, &who.user_id).await?;
    if !ctx
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = ctx.body_bytes(MAX_IMPORT_BYTES).await?;
    let parsed = import::parse(&body).map_err(ApiError::validation)?;
    let mut skipped: Vec<Skipped> = parsed.skipped;
    let mut imported = Vec::new();
    for c in parsed.conversations {
        let model = match c.model.as_deref().and_then(|m| settings.permit(m).ok()) {
            Some(m) => m,
            None => default_model(&settings)?,
        };
        let row = conversations::ConversationRow {
            id: new_id("cnv"),
            user_id: who.user_id.clone(),
            org_id: org_id.clone(),
            title: c.title.clone(),
            model: model.as_str().to_string(),
            system_prompt: c.system_prompt.clone(),
            created_at: ctx.now,
            last_activity: ctx.now,
            // The title came with it: never replaced by a generated one.
            title_source: conversations::TITLE_USER.into(),
            temperature: None,
            max_tokens: None,
            reasoning_effort: None,
        };
        // New ids for the messages; parents follow them.
        let ids: std::collections::HashMap<&str, String> = c
            .messages
            .iter()
            .map(|m| (m.key.as_str(), new_id("msg")))
            .collect();
        let messages: Vec<ImportedMessage> = c
            .messages
            .iter()
            .map(|m| ImportedMessage {
                id: ids[m.key.as_str()].clone(),
                parent_id: m.parent_key.as_deref().and_then(|p| ids.get(p).cloned()),
                role: m.role.clone(),
                content: m.content.clone(),
                model: m.model.clone(),
                created_at: m.created_at.unwrap_or(ctx.now),
            })
            .collect();
        conversations::insert(&db, &row).await?;
        let leaf = c.current_key.as_deref().and_then(|k| ids.get(k));
        if let Err(e) =
            object_import::write(&ctx.env, &row.id, &messages, leaf.map(String::as_str)).await
        {
            worker::console_error!(
                "{}",
                json!({"error": "import failed", "conversation_id": row.id, "context": e.to_string()})
            );
            conversations::delete(&db, &row.id).await?;
            skipped.push(Skipped {
                conversation: Some(c.title),
                reason: "its messages could not be written: try again".into(),
            });
            continue;
        }
        let texts: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m.id.as_str(), m.content.as_str()))
            .collect();
        search::index(&db, &row.id, &texts).await?;
        imported.push(json!({"id": row.id, "title": row.title, "messages": messages.len()}));
    }
    created(&json!({
        "imported": imported.len(),
        "conversations": imported,
        "skipped": skipped,
    }))
}
