//! The request guard: turns a bearer credential into a principal, or a 401.
//!
//! On the model-call routes (`check_of`) the storage half of that check runs alongside
//! the work it guards rather than before it: an access token whose signature and expiry are
//! valid is let in at once while its session is looked up (logout and revocation), and an
//! API key this isolate has seen in the last `KEY_HINT_TTL_MS` is let in on what it was then
//! while it is looked up again (deletion, expiry, its creator leaving the org). The route
//! must `Principal::confirmed` before its provider request, and sends nothing until then;
//! `app::dispatch` confirms again before any response leaves.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};

use crate::auth::signing;
use crate::auth::tokens::{self, AccessToken, TokenError, TokenKeys};
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;
use crate::store;
use crate::store::sessions::Liveness;

/// Which credentials a route accepts (each route of the table declares one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// An access token (a person's session).
    User,
    /// An access token or an issued API key.
    UserOrKey,
}

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    /// The session of an access token; `None` for an API key.
    pub session_id: Option<String>,
    /// Set when the caller authenticated with an issued API key (on a deferred route, as
    /// this isolate last read it, until `confirmed`).
    pub api_key: Option<store::keys::KeyAuth>,
    /// The credential's lookup, still running or not yet claimed (`check_of`).
    pub pending: Option<Pending>,
}

/// The outcome of a credential lookup: for an API key, the key as read now.
type Lookup = ApiResult<Option<store::keys::KeyAuth>>;

/// A credential lookup, awaited where the route needs it (any number of times: it runs
/// once). An API key's starts at once; so does a session's on an `Check::Alongside` route.
/// On a `Check::InRoute` route the session's waits for the route to claim it
/// (`Principal::session_check`) and ask it in its own query; unclaimed, it runs by itself
/// when first awaited.
#[derive(Clone)]
pub struct Pending {
    outcome: Shared<oneshot::Receiver<Lookup>>,
    unclaimed: Rc<RefCell<Option<SessionCheck>>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    fn start(lookup: impl std::future::Future<Output = Lookup> + 'static) -> Self {
        let (tx, rx) = oneshot::channel();
        worker::wasm_bindgen_futures::spawn_local(async move {
            let _ = tx.send(lookup.await);
        });
        Pending {
            outcome: rx.shared(),
            unclaimed: Rc::default(),
        }
    }

    fn claimable(lookup: SessionLookup) -> Self {
        let (tx, rx) = oneshot::channel();
        Pending {
            outcome: rx.shared(),
            unclaimed: Rc::new(RefCell::new(Some(SessionCheck(Some((lookup, tx)))))),
        }
    }

    async fn outcome(&self) -> ApiResult<Option<store::keys::KeyAuth>> {
        // Not claimed by the route: dropping the check runs it by itself.
        drop(self.unclaimed.borrow_mut().take());
        match self.outcome.clone().await {
            Ok(lookup) => lookup,
            Err(_) => Err(ApiError::internal(
                "the credential check ended without an answer",
            )),
        }
    }
}

/// A session's lookup: live in D1 (logout and revocation take effect at once), its use
/// recorded when that is due.
struct SessionLookup {
    db: worker::D1Database,
    session_id: String,
    user_id: String,
    now: i64,
    uses: Uses,
}

impl SessionLookup {
    fn verdict(&self, liveness: Liveness) -> Lookup {
        match liveness {
            Liveness::Ended => Err(ApiError::Unauthorized("the session has ended")),
            Liveness::Live => Ok(None),
            Liveness::LiveTouchDue => {
                self.uses.session(self.session_id.clone(), self.now);
                Ok(None)
            }
        }
    }

    async fn run(self) -> Lookup {
        let liveness =
            store::sessions::is_live(&self.db, &self.session_id, &self.user_id, self.now).await?;
        self.verdict(liveness)
    }
}

/// A session's liveness check claimed by a route, which asks it in its own query
/// (`store::sessions::live_sql`) and `settle`s it with what that read: one query where there
/// were two. Dropped unsettled (the route failed first, or its query found no row), it runs
/// by itself, so the check is never skipped.
pub struct SessionCheck(Option<(SessionLookup, oneshot::Sender<Lookup>)>);

impl SessionCheck {
    /// The session's id and the request's time, the parameters of `live_params`.
    pub fn session(&self) -> Option<(&str, i64)> {
        self.0.as_ref().map(|(l, _)| (l.session_id.as_str(), l.now))
    }

    pub fn settle(mut self, liveness: Liveness) {
        if let Some((lookup, tx)) = self.0.take() {
            let _ = tx.send(lookup.verdict(liveness));
        }
    }
}

impl Drop for SessionCheck {
    fn drop(&mut self) {
        if let Some((lookup, tx)) = self.0.take() {
            worker::wasm_bindgen_futures::spawn_local(async move {
                let _ = tx.send(lookup.run().await);
            });
        }
    }
}

impl Principal {
    /// Waits for the credential's lookup, if it is still running: `Err` (401, or 403 for a
    /// key that lost its scope) when the session has ended or the key is gone. For an API
    /// key let in on this isolate's earlier reading, the key as read now.
    pub async fn confirmed(&self) -> ApiResult<Option<store::keys::KeyAuth>> {
        match &self.pending {
            Some(p) => p.outcome().await,
            None => Ok(None),
        }
    }

    /// The session's check, for the route to ask in its own query, on a `Check::InRoute`
    /// route with an access token; `None` anywhere else (or once claimed).
    pub fn session_check(&self) -> Option<SessionCheck> {
        self.pending.as_ref()?.unclaimed.borrow_mut().take()
    }
}

/// When a route's credential is looked up in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Before the route runs.
    Before,
    /// Alongside the route's own storage reads: the model calls, which confirm it before the
    /// provider request (`gateway::admit_and_prepare`) and count an API key's rate
    /// themselves, with the rest.
    Alongside,
    /// As `Alongside`, and a session's check is asked inside the route's own first query
    /// (`routes::conversations::answer`, through `Principal::session_check`).
    InRoute,
}

/// How a route's credential is checked (`Check`).
pub fn check_of(method: &str, pattern: &str) -> Check {
    match (method, pattern) {
        ("POST", "/v1/chat/completions" | "/v1/messages" | "/v1/responses") => Check::Alongside,
        (
            "POST",
            "/api/conversations/{id}/messages"
            | "/api/conversations/{id}/messages/{message_id}/regenerate",
        ) => Check::InRoute,
        _ => Check::Before,
    }
}

/// How long an API key read by this isolate may let a request start before its new lookup
/// answers (which it always must before the provider request). Only the org's settings read
/// with it (its rate limit, budget and models) can be that old when they are used.
pub const KEY_HINT_TTL_MS: i64 = 10_000;

thread_local! {
    /// API keys as this isolate last read them, by hash, with when.
    static KEY_HINTS: RefCell<HashMap<String, (store::keys::KeyAuth, i64)>> =
        RefCell::new(HashMap::new());
}

fn key_hint(hash: &str, now: i64) -> Option<store::keys::KeyAuth> {
    KEY_HINTS.with(|h| {
        let mut hints = h.borrow_mut();
        hints.retain(|_, (_, at)| now - *at < KEY_HINT_TTL_MS);
        hints.get(hash).map(|(k, _)| k.clone())
    })
}

fn remember_key(hash: String, key: &store::keys::KeyAuth, now: i64) {
    KEY_HINTS.with(|h| h.borrow_mut().insert(hash, (key.clone(), now)));
}

/// Forgets what this isolate read of the keys of `org_id` (its settings changed) or of the
/// key `key_id` (deleted): their next request reads them before it starts.
pub fn forget_keys(org_id: Option<&str>, key_id: Option<&str>) {
    KEY_HINTS.with(|h| {
        h.borrow_mut().retain(|_, (k, _)| {
            org_id.is_none_or(|o| k.org_id != o) && key_id.is_none_or(|id| k.key_id != id)
        })
    });
}

/// The bearer credential of a request. Never read from the query string.
pub fn bearer(ctx: &Ctx) -> Option<String> {
    let header = ctx.header("authorization")?;
    let (scheme, value) = header.trim().split_once(' ')?;
    let value = value.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !value.is_empty()).then(|| value.to_string())
}

pub fn token_keys(ctx: &Ctx) -> TokenKeys {
    TokenKeys::new(&ctx.cfg.jwt_issuer, &ctx.cfg.jwt_audience)
}

/// Signs an access token for `session_id`, issued at `now_ms`, with the current signing key.
pub async fn issue_access_token(
    ctx: &Ctx,
    user_id: &str,
    session_id: &str,
    now_ms: i64,
) -> ApiResult<String> {
    let key = signing::signing_key(&ctx.db()?, &ctx.cfg, ctx.now).await?;
    token_keys(ctx)
        .issue(&key, user_id, session_id, now_ms as u64 / 1000)
        .map_err(ApiError::internal)
}

/// Verifies an access token: ES256 under one of our published keys (its kid), else 401.
async fn verify_access_token(ctx: &Ctx, token: &str) -> ApiResult<AccessToken> {
    let now_secs = ctx.now as u64 / 1000;
    // Seen before, unexpired, and its key still ours: no signature check again.
    if let Some((verified, kid)) = tokens::remembered(token, now_secs) {
        if signing::holds(&kid, ctx.now) {
            return Ok(verified);
        }
    }
    let invalid = || ApiError::Unauthorized("the access token is not valid");
    let kid = tokens::key_id(token).map_err(|_| invalid())?;
    let key = signing::verifying_key(&ctx.db()?, &kid, ctx.now)
        .await?
        .ok_or_else(invalid)?;
    let verified = token_keys(ctx)
        .verify(&key, token, now_secs)
        .map_err(|e| match e {
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Invalid => ApiError::Unauthorized("the access token is not valid"),
        })?;
    tokens::remember(token, &kid, &verified, now_secs);
    Ok(verified)
}

/// The credential of a request: `Authorization: Bearer …`, else `x-api-key` (where
/// Anthropic's clients send their key). Either holds an API key or an access token.
pub fn credential(ctx: &Ctx) -> Option<String> {
    bearer(ctx).or_else(|| api_key_header(ctx.header("x-api-key").as_deref()))
}

fn api_key_header(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The caller, or a 401. Unless `Check::Before`, the storage half of the check may still be
/// running (or waiting to be claimed) in `Principal::pending`.
pub async fn authenticate(ctx: &Ctx, access: Access, check: Check) -> ApiResult<Principal> {
    let token = credential(ctx).ok_or(ApiError::Unauthorized(
        "a bearer token (or x-api-key) is required",
    ))?;
    if token.starts_with(crate::store::keys::KEY_PREFIX) {
        if access != Access::UserOrKey {
            return Err(ApiError::Unauthorized(
                "API keys cannot be used on this route",
            ));
        }
        let scope = required_scope(&ctx.req.path());
        let db = ctx.db()?;
        let hash = store::keys::hash(&token);
        let now = ctx.now;
        // A key this isolate read lately: let in on that, looked up again meanwhile.
        if let Some(hint) = key_hint(&hash, now).filter(|_| check != Check::Before) {
            check_scope(&hint, scope)?;
            let expected = (
                hint.key_id.clone(),
                hint.org_id.clone(),
                hint.user_id.clone(),
            );
            let uses = Uses::of(ctx);
            let pending = Pending::start(async move {
                let key = uses.key(store::keys::authenticate(&db, &token, now).await?, now);
                check_scope(&key, scope)?;
                if (&key.key_id, &key.org_id, &key.user_id)
                    != (&expected.0, &expected.1, &expected.2)
                {
                    return Err(ApiError::Unauthorized("the API key is not valid"));
                }
                remember_key(hash, &key, now);
                Ok(Some(key))
            });
            return Ok(Principal {
                user_id: hint.user_id.clone(),
                session_id: None,
                api_key: Some(hint),
                pending: Some(pending),
            });
        }
        let key = Uses::of(ctx).key(store::keys::authenticate(&db, &token, now).await?, now);
        check_scope(&key, scope)?;
        remember_key(hash, &key, now);
        return Ok(Principal {
            user_id: key.user_id.clone(),
            session_id: None,
            api_key: Some(key),
            pending: None,
        });
    }
    let claims = verify_access_token(ctx, &token).await?;
    // Revocation takes effect at once: the session must still be live in D1 (on a deferred
    // route, before the provider request and before any byte of the response).
    let lookup = SessionLookup {
        db: ctx.db()?,
        session_id: claims.session_id.clone(),
        user_id: claims.user_id.clone(),
        now: ctx.now,
        uses: Uses::of(ctx),
    };
    let pending = match check {
        Check::Before => {
            lookup.run().await?;
            None
        }
        Check::Alongside => Some(Pending::start(lookup.run())),
        Check::InRoute => Some(Pending::claimable(lookup)),
    };
    Ok(Principal {
        user_id: claims.user_id,
        session_id: Some(claims.session_id),
        api_key: None,
        pending,
    })
}

/// Records the uses of credentials (their `last_used_at`: what the key list shows and a
/// session's idle timeout counts from) after the response, off the request's path: a write
/// would otherwise wait for D1's primary before the call goes on.
struct Uses {
    env: worker::Env,
    spawner: crate::http::Spawner,
}

impl Uses {
    fn of(ctx: &Ctx) -> Self {
        Uses {
            env: ctx.env.clone(),
            spawner: ctx.spawner(),
        }
    }

    /// The key `authenticate` found, its use recorded if that is due.
    fn key(&self, (key, due): (store::keys::KeyAuth, bool), now: i64) -> store::keys::KeyAuth {
        if due {
            let key_id = key.key_id.clone();
            self.record(move |db| async move { store::keys::touch(&db, &key_id, now).await });
        }
        key
    }

    fn session(&self, session_id: String, now: i64) {
        self.record(move |db| async move { store::sessions::touch(&db, &session_id, now).await });
    }

    fn record<F>(&self, write: impl FnOnce(worker::D1Database) -> F + 'static)
    where
        F: std::future::Future<Output = ApiResult<()>>,
    {
        let env = self.env.clone();
        self.spawner.spawn(async move {
            let written = match env.d1("DB") {
                Ok(db) => write(db).await,
                Err(e) => Err(ApiError::internal(e)),
            };
            if let Err(e) = written {
                worker::console_error!(
                    "{}",
                    serde_json::json!({"error": "recording a credential's use failed", "context": e.to_string()})
                );
            }
        });
    }
}

fn check_scope(key: &store::keys::KeyAuth, scope: Option<&'static str>) -> ApiResult<()> {
    match scope {
        Some(scope) if !key.has_scope(scope) => {
            Err(ApiError::Forbidden(missing_scope_detail(scope)))
        }
        _ => Ok(()),
    }
}

/// The scope an API key needs for a path: `conversations` for `/api/conversations…`, `chat`
/// for the OpenAI-compatible `/v1…`. Other routes that accept keys need no scope.
pub fn required_scope(path: &str) -> Option<&'static str> {
    let under = |root: &str| {
        path == root
            || path
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("/api/conversations") {
        Some("conversations")
    } else if under("/v1") {
        Some("chat")
    } else {
        None
    }
}

fn missing_scope_detail(scope: &str) -> &'static str {
    match scope {
        "conversations" => "this API key lacks the `conversations` scope",
        "chat" => "this API key lacks the `chat` scope",
        _ => "this API key lacks the scope this route needs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_x_api_key_header_is_a_credential_when_not_blank() {
        assert_eq!(api_key_header(Some(" cg_abc ")).as_deref(), Some("cg_abc"));
        assert_eq!(api_key_header(Some("  ")), None);
        assert_eq!(api_key_header(None), None);
    }

    #[test]
    fn each_key_route_needs_its_scope() {
        for (path, want) in [
            ("/api/conversations", Some("conversations")),
            ("/api/conversations/cnv_1/messages", Some("conversations")),
            ("/api/conversationsx", None),
            ("/v1/chat/completions", Some("chat")),
            ("/v1/models", Some("chat")),
            ("/v1", Some("chat")),
            ("/v10/models", None),
            ("/api/me", None),
        ] {
            assert_eq!(required_scope(path), want, "{path}");
        }
    }
}
