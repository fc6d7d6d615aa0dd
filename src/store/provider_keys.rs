//! Bring-your-own provider keys, sealed with AES-256-GCM under a versioned master key.
//! The owner and provider are the associated data: a ciphertext copied to another row
//! does not open.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::{all, n, orgs, run, s};
use crate::config::Config;
use crate::domain::settings::Feature;
use crate::error::{ApiError, ApiResult};
use crate::providers::ProviderKind;
use crate::util::{now_ms, rfc3339};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    User(&'a str),
    Org(&'a str),
}

impl Owner<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Owner::User(_) => "user",
            Owner::Org(_) => "org",
        }
    }

    fn id(&self) -> &str {
        match self {
            Owner::User(id) | Owner::Org(id) => id,
        }
    }
}

/// The associated data binding a sealed key to its row.
fn aad(owner: Owner, provider: ProviderKind) -> String {
    format!(
        "chatgate/provider-key/v1|{}|{}|{}",
        owner.kind(),
        owner.id(),
        provider.as_str()
    )
}

/// `sk-…abcd`: the first three characters and the last four, never more.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let head: String = chars
        .iter()
        .take(3.min(chars.len().saturating_sub(4)))
        .collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{head}…{tail}")
}

pub async fn put(
    db: &D1Database,
    cfg: &Config,
    owner: Owner<'_>,
    provider: ProviderKind,
    key: &str,
    now: i64,
) -> ApiResult<()> {
    let (version, sealed) = cfg.seal(key.as_bytes(), aad(owner, provider).as_bytes())?;
    run(
        db,
        "INSERT INTO provider_keys (owner_kind, owner_id, provider, key_version, sealed, hint, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(owner_kind, owner_id, provider) DO UPDATE SET
           key_version = excluded.key_version, sealed = excluded.sealed, hint = excluded.hint,
           updated_at = excluded.updated_at",
        &[s(owner.kind()), s(owner.id()), s(provider.as_str()), n(version), s(&sealed), s(&mask(key)), n(now)],
    )
    .await?;
    forget_read();
    Ok(())
}

pub async fn delete(db: &D1Database, owner: Owner<'_>, provider: ProviderKind) -> ApiResult<bool> {
    let changed = run(
        db,
        "DELETE FROM provider_keys WHERE owner_kind = ?1 AND owner_id = ?2 AND provider = ?3",
        &[s(owner.kind()), s(owner.id()), s(provider.as_str())],
    )
    .await?;
    forget_read();
    Ok(changed > 0)
}

#[derive(Deserialize)]
struct SealedRow {
    owner_kind: String,
    provider: String,
    key_version: i64,
    sealed: String,
}

/// Opens a sealed key of one owner, re-sealing it under the current master key when it was
/// sealed under an older one (so rotation completes as keys are used).
async fn unseal(
    db: &D1Database,
    cfg: &Config,
    owner: Owner<'_>,
    provider: ProviderKind,
    row: &SealedRow,
    now: i64,
) -> ApiResult<String> {
    let (key, stale) = cfg.open(
        row.key_version,
        &row.sealed,
        aad(owner, provider).as_bytes(),
    )?;
    if stale {
        put(db, cfg, owner, provider, &key, now).await?;
    }
    Ok(key)
}

/// The sealed keys that can serve a user in an org, for every provider: read before the
/// provider is known (alongside what decides it), and opened only when picked. When a service
/// admin has switched the service's keys off for the org (`orgs.service_keys`), the same
/// query adds one row of the kind `SERVICE_KEYS_OFF`, which holds no key.
#[derive(Clone)]
pub struct Candidates(Rc<[SealedRow]>);

const CANDIDATE_COLUMNS: &str =
    "SELECT owner_kind, provider, key_version, sealed FROM provider_keys";

/// The `owner_kind` of the row that says the service's keys do not serve the org.
const SERVICE_KEYS_OFF: &str = "service_keys_off";

/// That row, for the org whose id is the SQL expression `org_id`.
fn service_keys_off_sql(org_id: &str) -> String {
    format!(
        "UNION ALL SELECT '{SERVICE_KEYS_OFF}', '', 0, '' FROM orgs WHERE id = {org_id} AND service_keys = 0"
    )
}

/// How long this isolate serves the candidates it read (of a user in an org, or of a user's
/// conversation) without reading them again: a model call waits on no storage for them
/// (README, "Storage waits before the first token").
pub const CANDIDATES_TTL_MS: i64 = 10_000;

/// What the candidates were read for.
#[derive(Clone, PartialEq, Eq, Hash)]
enum For {
    Org {
        user_id: String,
        org_id: String,
    },
    Conversation {
        user_id: String,
        conversation_id: String,
    },
}

thread_local! {
    static READ: RefCell<HashMap<For, (Candidates, i64)>> = RefCell::new(HashMap::new());
    /// Counts `forget_read`s: a read that was under way across one is not kept.
    static FORGOTTEN: Cell<u64> = const { Cell::new(0) };
}

/// Forgets every candidate this isolate read: a provider key, an org's `features.byok` or its
/// `service_keys` changed, so this isolate's next calls read them again (other isolates,
/// within `CANDIDATES_TTL_MS`), and a read under way now is used once but not kept.
pub fn forget_read() {
    READ.with(|r| r.borrow_mut().clear());
    FORGOTTEN.with(|f| f.set(f.get() + 1));
}

/// The candidates as this isolate read them within `CANDIDATES_TTL_MS`, else as read now.
async fn read_through(db: &D1Database, what: For) -> ApiResult<Candidates> {
    let now = now_ms();
    let kept = READ.with(|r| {
        let mut read = r.borrow_mut();
        read.retain(|_, (_, at)| now - *at < CANDIDATES_TTL_MS);
        read.get(&what).map(|(c, _)| c.clone())
    });
    if let Some(candidates) = kept {
        return Ok(candidates);
    }
    let generation = FORGOTTEN.with(Cell::get);
    // The org: named, or the conversation's (none, and so no org keys, if it is not theirs).
    const CONVERSATION_ORG: &str =
        "(SELECT org_id FROM conversations WHERE id = ?2 AND user_id = ?1)";
    let (user_id, second, org) = match &what {
        For::Org { user_id, org_id } => (user_id, org_id, "?2"),
        For::Conversation {
            user_id,
            conversation_id,
        } => (user_id, conversation_id, CONVERSATION_ORG),
    };
    let rows: Vec<SealedRow> = all(
        db,
        &format!(
            "{CANDIDATE_COLUMNS}
             WHERE ((owner_kind = 'user' AND owner_id = ?1) OR (owner_kind = 'org' AND owner_id = {org}))
               AND {}
             {}",
            orgs::feature_on_sql(Feature::Byok, org),
            service_keys_off_sql(org)
        ),
        &[s(user_id), s(second)],
    )
    .await?;
    let candidates = Candidates(rows.into());
    if FORGOTTEN.with(Cell::get) == generation {
        READ.with(|r| r.borrow_mut().insert(what, (candidates.clone(), now_ms())));
    }
    Ok(candidates)
}

/// The user's own keys and those of `org_id`, when the org lets bring-your-own keys serve it
/// (`features.byok`; off, there are none and the service's keys serve). Decided in the
/// same query, so every caller gets the rule.
pub async fn candidates(db: &D1Database, user_id: &str, org_id: &str) -> ApiResult<Candidates> {
    let what = For::Org {
        user_id: user_id.to_owned(),
        org_id: org_id.to_owned(),
    };
    read_through(db, what).await
}

/// The user's own keys and those of the org of one of their conversations, under that org's
/// `features.byok` as `candidates`: read alongside the conversation itself.
pub async fn candidates_for_conversation(
    db: &D1Database,
    user_id: &str,
    conversation_id: &str,
) -> ApiResult<Candidates> {
    let what = For::Conversation {
        user_id: user_id.to_owned(),
        conversation_id: conversation_id.to_owned(),
    };
    read_through(db, what).await
}

impl Candidates {
    /// The key a request for `provider` uses: the user's, else the org's, else the
    /// service's (unless switched off for the org); none for the demo model, which needs none.
    pub async fn resolve(
        &self,
        db: &D1Database,
        cfg: &Config,
        user_id: &str,
        org_id: &str,
        provider: ProviderKind,
        now: i64,
    ) -> ApiResult<Option<String>> {
        if provider == ProviderKind::Demo {
            return Ok(None);
        }
        let of = |kind: &str| {
            self.0
                .iter()
                .find(|r| r.provider == provider.as_str() && r.owner_kind == kind)
        };
        if let Some(row) = of("user") {
            return unseal(db, cfg, Owner::User(user_id), provider, row, now)
                .await
                .map(Some);
        }
        if let Some(row) = of("org") {
            return unseal(db, cfg, Owner::Org(org_id), provider, row, now)
                .await
                .map(Some);
        }
        if self.0.iter().any(|r| r.owner_kind == SERVICE_KEYS_OFF) {
            return Err(ApiError::NoProviderKey(provider.as_str()));
        }
        cfg.service_key(provider)
            .map(|k| Some(k.to_string()))
            .ok_or(ApiError::NoProviderKey(provider.as_str()))
    }
}

#[derive(Deserialize)]
struct ListRow {
    owner_kind: String,
    owner_id: String,
    provider: String,
    hint: String,
    updated_at: i64,
}

#[derive(Serialize)]
pub struct ProviderKeyView {
    pub provider: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub masked: String,
    pub updated_at: String,
}

/// The user's own keys and those of the orgs they belong to, masked.
pub async fn list_visible(db: &D1Database, user_id: &str) -> ApiResult<Vec<ProviderKeyView>> {
    let rows: Vec<ListRow> = all(
        db,
        "SELECT owner_kind, owner_id, provider, hint, updated_at FROM provider_keys
         WHERE (owner_kind = 'user' AND owner_id = ?1)
            OR (owner_kind = 'org' AND owner_id IN (SELECT org_id FROM memberships WHERE user_id = ?1))
         ORDER BY owner_kind DESC, provider, owner_id",
        &[s(user_id)],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProviderKeyView {
            provider: r.provider,
            org_id: (r.owner_kind == "org").then(|| r.owner_id.clone()),
            scope: r.owner_kind,
            masked: r.hint,
            updated_at: rfc3339(r.updated_at),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{open, seal};

    #[test]
    fn masks_show_only_a_prefix_and_the_last_four() {
        assert_eq!(mask("sk-proj-abcdefghijklmnop1234"), "sk-…1234");
        assert_eq!(mask("AIzaSyABCDEFG9876"), "AIz…9876");
        assert_eq!(mask("abcd"), "…abcd");
        assert_eq!(mask("ab"), "…ab");
    }

    #[test]
    fn a_key_sealed_for_one_owner_does_not_open_for_another() {
        let master = [9u8; 32];
        let a = aad(Owner::User("usr_a"), ProviderKind::OpenAi);
        let sealed = seal(&master, b"sk-secret", a.as_bytes()).unwrap();
        assert_eq!(open(&master, &sealed, a.as_bytes()).unwrap(), b"sk-secret");
        for other in [
            aad(Owner::User("usr_b"), ProviderKind::OpenAi),
            aad(Owner::Org("usr_a"), ProviderKind::OpenAi),
            aad(Owner::User("usr_a"), ProviderKind::Anthropic),
        ] {
            assert!(
                open(&master, &sealed, other.as_bytes()).is_none(),
                "{other}"
            );
        }
    }
}
