//! The dev mailbox (`DEV_MAILBOX=on` only): every message as it would have been sent, newest
//! first, the last 500 kept.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, batch, n, s, stmt};
use crate::domain::Email;
use crate::email::Message;
use crate::error::ApiResult;
use crate::util::rfc3339;

const KEEP: i64 = 500;

pub async fn insert(db: &D1Database, m: &Message, now: i64) -> ApiResult<()> {
    let to_key = Email::parse(&m.to)
        .map(|e| e.key().to_string())
        .unwrap_or_else(|_| m.to.to_lowercase());
    batch(
        db,
        vec![
            stmt(
                db,
                "INSERT INTO dev_mailbox (id, to_email, to_key, subject, text, html, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &[
                    s(&m.id),
                    s(&m.to),
                    s(&to_key),
                    s(&m.subject),
                    s(&m.text),
                    s(&m.html),
                    n(now),
                ],
            )?,
            stmt(
                db,
                "DELETE FROM dev_mailbox WHERE id NOT IN
                   (SELECT id FROM dev_mailbox ORDER BY created_at DESC, id DESC LIMIT ?1)",
                &[n(KEEP)],
            )?,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Row {
    id: String,
    to_email: String,
    subject: String,
    text: String,
    html: String,
    created_at: i64,
}

#[derive(Serialize)]
pub struct MailView {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: String,
}

/// The newest `limit` messages, to `to` (an address's key) when given.
pub async fn list(db: &D1Database, to: Option<&Email>, limit: usize) -> ApiResult<Vec<MailView>> {
    let rows: Vec<Row> = match to {
        Some(to) => {
            all(
                db,
                "SELECT id, to_email, subject, text, html, created_at FROM dev_mailbox
                 WHERE to_key = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
                &[s(to.key()), n(limit as i64)],
            )
            .await?
        }
        None => {
            all(
                db,
                "SELECT id, to_email, subject, text, html, created_at FROM dev_mailbox
                 ORDER BY created_at DESC, id DESC LIMIT ?1",
                &[n(limit as i64)],
            )
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| MailView {
            id: r.id,
            to: r.to_email,
            subject: r.subject,
            text: r.text,
            html: r.html,
            created_at: rfc3339(r.created_at),
        })
        .collect())
}
