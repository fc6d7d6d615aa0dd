//! `GET /api/orgs/{org}/export`: an org's data as a JSON file, for its owners.
//!
//! The first file (no `cursor`) holds the org, its settings, members, pending invitations,
//! usage by day, user and model, voice sessions and audit log, and the first conversations
//! with their messages; when there are more conversations, `next_cursor` names the next file
//! (`?cursor=`), which holds only conversations. Bounds, each said in `truncated` when met:
//! `MAX_ROWS` rows of each table section (newest first); `CONVERSATIONS_PER_FILE`
//! conversations per file (one Durable Object call each) and fewer once their messages pass
//! `MESSAGE_BYTES_PER_FILE`; `MAX_MESSAGES` messages per conversation (its newest, with
//! `messages_truncated`). Attachments are listed (type, size), not included.

use serde::Serialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::conversation::client;
use crate::error::{ApiError, ApiResult};
use crate::http::{encode_cursor, Ctx};
use crate::routes::audit;
use crate::routes::orgs::{cursor, scope};
use crate::store::audit::{Action, Entry};
use crate::store::orgs::{self, Role};
use crate::store::{conversations, invitations, usage, voice};
use crate::util::{day_of, rfc3339};

/// Rows of each table section, at most (members, invitations, usage, voice, audit).
pub const MAX_ROWS: usize = 10_000;
/// Conversations per file, at most: one Durable Object call each.
pub const CONVERSATIONS_PER_FILE: usize = 25;
/// Messages per conversation, at most (the newest).
pub const MAX_MESSAGES: usize = 1000;
/// Once the conversations of a file hold this much message text, the rest go in the next.
pub const MESSAGE_BYTES_PER_FILE: usize = 16 * 1024 * 1024;

pub const FORMAT: &str = "chatgate.org-export";
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct ExportedConversation {
    #[serde(flatten)]
    conversation: conversations::ConversationView,
    user_id: String,
    /// Oldest first.
    messages: Vec<serde_json::Value>,
    messages_truncated: bool,
}

#[derive(Serialize, Default)]
struct Truncated {
    members: bool,
    invitations: bool,
    usage: bool,
    voice_sessions: bool,
    audit: bool,
}

#[derive(Serialize)]
struct Everything {
    org: serde_json::Value,
    members: Vec<orgs::MemberView>,
    invitations: Vec<invitations::InvitationView>,
    usage: Vec<usage::DailyUsage>,
    voice_sessions: Vec<voice::VoiceSessionView>,
    audit: Vec<crate::store::audit::AuditView>,
    truncated: Truncated,
}

#[derive(Serialize)]
struct File {
    format: &'static str,
    version: u32,
    org_id: String,
    exported_at: String,
    /// Only in the first file.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    everything: Option<Everything>,
    conversations: Vec<ExportedConversation>,
    /// The next file's `?cursor=`: more conversations.
    next_cursor: Option<String>,
}

/// `rows` cut to `MAX_ROWS`, and whether they were.
fn bounded<T>(mut rows: Vec<T>) -> (Vec<T>, bool) {
    let cut = rows.len() > MAX_ROWS;
    rows.truncate(MAX_ROWS);
    (rows, cut)
}

async fn everything(ctx: &Ctx, scope: &orgs::OrgScope) -> ApiResult<Everything> {
    let db = ctx.db()?;
    let org = orgs::get(&db, scope).await?;
    let created_at = orgs::created_at(&db, &scope.org_id).await?;
    let (members, members_cut) = bounded(orgs::members(&db, scope, None, MAX_ROWS + 1).await?);
    let (invites, invites_cut) =
        bounded(invitations::pending(&db, scope, ctx.now, None, MAX_ROWS + 1).await?);
    let (usage, usage_cut) = bounded(usage::daily(&db, &scope.org_id, MAX_ROWS + 1).await?);
    let (voice, voice_cut) = bounded(voice::of_org(&db, &scope.org_id, MAX_ROWS + 1).await?);
    let (audit, audit_cut) =
        bounded(crate::store::audit::of_org(&db, &scope.org_id, None, MAX_ROWS + 1).await?);
    Ok(Everything {
        org: serde_json::json!({
            "id": org.id,
            "name": org.name,
            "personal": org.is_personal(),
            "created_at": created_at.map(rfc3339),
            "settings": crate::domain::settings::OrgSettings::from_stored(&org.settings),
        }),
        members: members.iter().map(orgs::MemberRow::view).collect(),
        invitations: invites
            .iter()
            .map(invitations::InvitationRow::view)
            .collect(),
        usage,
        voice_sessions: voice.iter().map(voice::VoiceSessionRow::view).collect(),
        audit: audit.iter().map(|r| r.view(true)).collect(),
        truncated: Truncated {
            members: members_cut,
            invitations: invites_cut,
            usage: usage_cut,
            voice_sessions: voice_cut,
            audit: audit_cut,
        },
    })
}

/// A conversation's newest `MAX_MESSAGES` messages, oldest first, and whether there are more.
async fn messages(ctx: &Ctx, id: &str) -> ApiResult<(Vec<serde_json::Value>, bool)> {
    let mut resp = client::messages(ctx, id, MAX_MESSAGES, None).await?;
    if resp.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "reading the messages of {id} answered {}",
            resp.status_code()
        )));
    }
    let page: serde_json::Value = resp.json().await?;
    let mut items = match page.get("items") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    items.reverse();
    let more = page.get("next_cursor").is_some_and(|c| !c.is_null());
    Ok((items, more))
}

pub async fn org(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let scope = scope(&ctx, &who).await?;
    scope.require(Role::Owner)?;
    let after = cursor(&ctx)?;
    let first_file = after.is_none();
    let db = ctx.db()?;
    let rows =
        conversations::page_of_org(&db, &scope.org_id, after, CONVERSATIONS_PER_FILE + 1).await?;
    let everything = if first_file {
        Some(everything(&ctx, &scope).await?)
    } else {
        None
    };
    let mut exported = Vec::new();
    let mut bytes = 0usize;
    let mut next_cursor = None;
    for (i, row) in rows.iter().enumerate() {
        let full = i == CONVERSATIONS_PER_FILE || (i > 0 && bytes >= MESSAGE_BYTES_PER_FILE);
        if full {
            next_cursor = rows
                .get(i - 1)
                .map(|prev| encode_cursor(prev.created_at, &prev.id));
            break;
        }
        let (messages, messages_truncated) = messages(&ctx, &row.id).await?;
        bytes += messages.iter().map(|m| m.to_string().len()).sum::<usize>();
        exported.push(ExportedConversation {
            conversation: row.view(),
            user_id: row.user_id.clone(),
            messages,
            messages_truncated,
        });
    }
    let file = File {
        format: FORMAT,
        version: VERSION,
        org_id: scope.org_id.clone(),
        exported_at: rfc3339(ctx.now),
        everything,
        conversations: exported,
        next_cursor,
    };
    audit::record(
        &ctx,
        Entry::new(Action::OrgExported)
            .by(&who.user_id)
            .in_org(&scope.org_id)
            .details(serde_json::json!({
                "conversations": file.conversations.len(),
                "first_file": first_file,
            })),
    )
    .await;
    let body = serde_json::to_vec(&file)?;
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set(
        "content-disposition",
        &format!(
            "attachment; filename=\"chatgate-{}-{}.json\"",
            scope.org_id,
            day_of(ctx.now)
        ),
    )?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(body))
}
