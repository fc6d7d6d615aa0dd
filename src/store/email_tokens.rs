//! Links sent by mail: a 256-bit token in the link, only its SHA-256 here; each is for one
//! purpose and one address, expires, and is used at most once (the one `consume` that wins).

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

use super::{all, n, s, stmt};
use crate::crypto::random_token;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the account's address (sign-up, resend): 24 h.
    VerifyEmail,
    /// Proves a new address and makes it the account's: 24 h.
    ChangeEmail,
    /// Sets a new password: 30 min.
    ResetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ChangeEmail => "change_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    fn parse(s: &str) -> Option<Purpose> {
        [
            Purpose::VerifyEmail,
            Purpose::ChangeEmail,
            Purpose::ResetPassword,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    pub fn ttl_ms(self) -> i64 {
        match self {
            Purpose::VerifyEmail | Purpose::ChangeEmail => 24 * 3600 * 1000,
            Purpose::ResetPassword => 30 * 60 * 1000,
        }
    }
}

/// A new token and the hash that is stored.
pub struct Token {
    pub token: String,
    pub hash: String,
}

pub fn new_token() -> ApiResult<Token> {
    let token = random_token().map_err(ApiError::internal)?;
    let hash = hash(&token);
    Ok(Token { token, hash })
}

pub fn hash(token: &str) -> String {
    crate::crypto::sha256_hex(token.as_bytes())
}

/// Where a link goes: the address as typed, and the key it proves (`Email::key`, or the key
/// an account has stored).
pub struct Recipient<'a> {
    pub email: &'a str,
    pub key: &'a str,
}

impl<'a> From<&'a Email> for Recipient<'a> {
    fn from(e: &'a Email) -> Self {
        Recipient {
            email: e.as_typed(),
            key: e.key(),
        }
    }
}

/// Stores a link for `purpose` to `to` (expiring at `now` + its lifetime). (The scheduled
/// upkeep deletes expired links.)
pub fn insert(
    db: &D1Database,
    token_hash: &str,
    user_id: &str,
    purpose: Purpose,
    to: Recipient,
    now: i64,
) -> ApiResult<Vec<D1PreparedStatement>> {
    Ok(vec![stmt(
            db,
            "INSERT INTO email_tokens (token_hash, user_id, purpose, email, email_key, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                s(token_hash),
                s(user_id),
                s(purpose.as_str()),
                s(to.email),
                s(to.key),
                n(now),
                n(now + purpose.ttl_ms()),
            ],
        )?,
    ])
}

/// Ends every unused link of the user for `purpose` (a newer one replaces them, or what they
/// were for is done).
pub fn revoke_unused(
    db: &D1Database,
    user_id: &str,
    purpose: Purpose,
    now: i64,
) -> ApiResult<D1PreparedStatement> {
    stmt(
        db,
        "UPDATE email_tokens SET used_at = ?3 WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
        &[s(user_id), s(purpose.as_str()), n(now)],
    )
}

#[derive(Deserialize)]
struct UsedRow {
    user_id: String,
    purpose: String,
    email: String,
    email_key: String,
}

/// A link that was just used.
#[derive(Debug)]
pub struct Used {
    pub user_id: String,
    pub purpose: Purpose,
    /// The address it went to, as typed, and its key.
    pub email: String,
    pub email_key: String,
}

/// Uses the link of `token` if it is one of `purposes`, unused and unexpired: in one
/// statement, so of two simultaneous uses exactly one wins. `None` for anything else (used,
/// expired, unknown, another purpose, not even token-shaped).
pub async fn consume(
    db: &D1Database,
    token: &str,
    purposes: &[Purpose],
    now: i64,
) -> ApiResult<Option<Used>> {
    if !super::invitations::is_well_formed(token) {
        return Ok(None);
    }
    let [first, second] = match purposes {
        [one] => [*one, *one],
        [a, b] => [*a, *b],
        _ => return Err(ApiError::internal("consume takes one or two purposes")),
    };
    let rows: Vec<UsedRow> = all(
        db,
        "UPDATE email_tokens SET used_at = ?2
         WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 AND purpose IN (?3, ?4)
         RETURNING user_id, purpose, email, email_key",
        &[
            s(&hash(token)),
            n(now),
            s(first.as_str()),
            s(second.as_str()),
        ],
    )
    .await?;
    Ok(rows.into_iter().next().and_then(|r| {
        Some(Used {
            purpose: Purpose::parse(&r.purpose)?,
            user_id: r.user_id,
            email: r.email,
            email_key: r.email_key,
        })
    }))
}
