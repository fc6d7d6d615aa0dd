//! Bring-your-own provider keys: a user's own, or (set by an admin) one for a whole org.
//! Sealed at rest; only ever shown masked.

use serde::Deserialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::domain::settings::Feature;
use crate::error::{ApiError, ApiResult};
use crate::http::{
    decode_cursor, encode_cursor, no_content, ok, page_limit, Ctx, Page, BODY_LIMIT,
};
use crate::providers::ProviderKind;
use crate::store::orgs::{self, Role};
use crate::store::provider_keys::{self, Owner};

pub const MIN_KEY_CHARS: usize = 20;
pub const MAX_KEY_CHARS: usize = 512;

/// The `{provider}` of the path: one that takes a key (the demo provider needs none).
fn provider(raw: &str) -> ApiResult<ProviderKind> {
    match ProviderKind::parse(raw) {
        Some(ProviderKind::Demo) | None => Err(ApiError::validation(
            "provider must be openai, anthropic or gemini",
        )),
        Some(p) => Ok(p),
    }
}

/// A provider key: 20 to 512 printable ASCII characters without whitespace (surrounding
/// whitespace from a paste is trimmed). The error never repeats the key.
fn api_key(raw: &str) -> ApiResult<&str> {
    let key = raw.trim();
    if !(MIN_KEY_CHARS..=MAX_KEY_CHARS).contains(&key.len())
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::validation(format!(
            "api_key must be {MIN_KEY_CHARS} to {MAX_KEY_CHARS} printable ASCII characters without spaces"
        )));
    }
    Ok(key)
}

/// Whose key a request means: the caller's, or with `org_id` the org's (admins only).
async fn owner_id(ctx: &Ctx, who: &Principal, org_id: Option<&str>) -> ApiResult<Option<String>> {
    let Some(org_id) = org_id else {
        return Ok(None);
    };
    let scope = crate::auth::sso::scope(&ctx.db()?, org_id, who).await?;
    scope.require(Role::Admin)?;
    Ok(Some(scope.org_id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutKey {
    api_key: String,
    org_id: Option<String>,
}

pub async fn put(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let provider = provider(ctx.param(0))?;
    let body: PutKey = ctx.json(BODY_LIMIT).await?;
    let key = api_key(&body.api_key)?;
    let org = owner_id(&ctx, &who, body.org_id.as_deref()).await?;
    // An org key would serve nothing while the org has bring-your-own keys off.
    if let Some(org_id) = &org {
        orgs::require_feature(&ctx.db()?, org_id, Feature::Byok).await?;
    }
    let owner = match &org {
        Some(org_id) => Owner::Org(org_id),
        None => Owner::User(&who.user_id),
    };
    provider_keys::put(&ctx.db()?, &ctx.cfg, owner, provider, key, ctx.now).await?;
    no_content()
}

/// The caller's keys and their orgs' keys, masked. The list is short (three providers per
/// owner), so it is paged in memory; the cursor is an offset.
pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let offset = match ctx.query_param("cursor") {
        Some(c) => usize::try_from(decode_cursor(&c)?.0)
            .map_err(|_| ApiError::validation("cursor is not valid"))?,
        None => 0,
    };
    let all = provider_keys::list_visible(&ctx.db()?, &who.user_id).await?;
    let end = offset.saturating_add(limit);
    let next_cursor = (all.len() > end).then(|| encode_cursor(end as i64, "pk"));
    let items = all.into_iter().skip(offset).take(limit).collect();
    ok(&Page { items, next_cursor })
}

pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let provider = provider(ctx.param(0))?;
    let org = owner_id(&ctx, &who, ctx.query_param("org_id").as_deref()).await?;
    let owner = match &org {
        Some(org_id) => Owner::Org(org_id),
        None => Owner::User(&who.user_id),
    };
    if !provider_keys::delete(&ctx.db()?, owner, provider).await? {
        return Err(ApiError::NotFound);
    }
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keyed_providers_take_a_key() {
        assert_eq!(provider("openai").unwrap(), ProviderKind::OpenAi);
        assert_eq!(provider("anthropic").unwrap(), ProviderKind::Anthropic);
        assert_eq!(provider("gemini").unwrap(), ProviderKind::Gemini);
        for bad in ["demo", "OpenAI", "acme", ""] {
            assert!(provider(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn provider_keys_are_bounded_printable_ascii() {
        assert_eq!(
            api_key("  sk-proj-0123456789abcdef\n").unwrap(),
            "sk-proj-0123456789abcdef"
        );
        assert!(api_key(&"k".repeat(512)).is_ok());
        for (case, bad) in [
            ("too short", "sk-123".to_string()),
            ("too long", "k".repeat(513)),
            ("inner space", "sk-proj 0123456789abcdef".into()),
            ("tab", "sk-proj\t0123456789abcdef".into()),
            ("non-ASCII", "sk-proj-0123456789abcdé".into()),
            ("control", "sk-proj-0123456789abc\u{7}".into()),
        ] {
            let err = api_key(&bad).map(str::to_string).unwrap_err();
            assert!(
                !err.detail().contains(bad.trim()),
                "{case}: the error repeats the key"
            );
        }
    }
}
