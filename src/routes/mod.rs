//! The route table: every path the API serves, who may call it, and its handler.
//! A route is public only by being declared `Public` here; everything else needs a principal.

use std::future::Future;
use std::pin::Pin;

use worker::Response;

use crate::auth::guard::Principal;
use crate::error::{ApiError, ApiResult};
use crate::http::Ctx;

pub mod admin;
pub mod audit;
pub mod auth;
pub mod conversations;
pub mod email;
pub mod export;
pub mod federation;
pub mod files;
pub mod keys;
pub mod me;
pub mod messages;
pub mod mfa;
pub mod oauth;
pub mod oauth_clients;
pub mod openid;
pub mod orgs;
pub mod passkeys;
pub mod portability;
pub mod presets;
pub mod provider_keys;
pub mod responses;
pub mod search;
pub mod service;
pub mod shares;
pub mod usage;
pub mod v1;
pub mod voice;
pub mod webhooks;

pub type BoxFut = Pin<Box<dyn Future<Output = ApiResult<Response>>>>;

pub use crate::auth::guard::Access;

pub enum Handler {
    Public(fn(Ctx) -> BoxFut),
    Authed(Access, fn(Ctx, Principal) -> BoxFut),
}

pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub handler: Handler,
}

macro_rules! public {
    ($method:literal, $pattern:literal, $f:path) => {
        Route {
            method: $method,
            pattern: $pattern,
            handler: Handler::Public(|c| Box::pin($f(c))),
        }
    };
}
macro_rules! user {
    ($method:literal, $pattern:literal, $f:path) => {
        Route {
            method: $method,
            pattern: $pattern,
            handler: Handler::Authed(Access::User, |c, p| Box::pin($f(c, p))),
        }
    };
}
macro_rules! user_or_key {
    ($method:literal, $pattern:literal, $f:path) => {
        Route {
            method: $method,
            pattern: $pattern,
            handler: Handler::Authed(Access::UserOrKey, |c, p| Box::pin($f(c, p))),
        }
    };
}

/// A route of the operator's console: public to the pipeline, it lets only a service admin
/// through (`admin::gate`: 401 without a credential, 404 for everyone else).
macro_rules! service_admin {
    ($method:literal, $pattern:literal, $f:path) => {
        Route {
            method: $method,
            pattern: $pattern,
            handler: Handler::Public(|c| Box::pin(admin::gate(c, |c, o| Box::pin($f(c, o))))),
        }
    };
}

pub static ROUTES: &[Route] = &[
    public!("GET", "/health", service::health),
    public!("GET", "/api", service::info),
    public!("GET", "/openapi.json", service::openapi),
    public!("GET", "/.well-known/jwks.json", service::jwks),
    // chatgate as an OpenID Provider (the pages /oauth/authorize and /oauth/logout are the
    // web client's; POST /api/oauth/authorize authenticates itself: `prompt=none` answers a
    // signed-out caller with a redirect)
    public!(
        "GET",
        "/.well-known/openid-configuration",
        openid::configuration
    ),
    public!("POST", "/api/oauth/authorize", openid::authorize),
    public!("POST", "/api/oauth/logout", openid::logout),
    public!("POST", "/oauth/token", openid::token),
    public!("GET", "/oauth/userinfo", openid::userinfo),
    public!("OPTIONS", "/oauth/userinfo", openid::userinfo_preflight),
    public!("POST", "/oauth/revoke", openid::revoke),
    user!("GET", "/api/me/oauth-grants", openid::grants),
    user!(
        "DELETE",
        "/api/me/oauth-grants/{client_id}",
        openid::revoke_grant
    ),
    // Accounts and sessions
    public!("POST", "/api/auth/register", auth::register),
    public!("POST", "/api/auth/login", auth::login),
    public!("POST", "/api/auth/refresh", auth::refresh),
    public!("POST", "/api/auth/logout", auth::logout),
    user!("POST", "/api/auth/logout-all", auth::logout_all),
    // The mailbox: verified addresses, address changes, password resets; the sign-up policy
    public!("GET", "/api/auth/policy", auth::policy),
    public!("POST", "/api/auth/verify-email", email::verify),
    user!(
        "POST",
        "/api/auth/verify-email/resend",
        email::resend_verification
    ),
    public!("POST", "/api/auth/forgot-password", email::forgot_password),
    public!("POST", "/api/auth/reset-password", email::reset_password),
    user!("POST", "/api/me/email", email::change),
    public!("GET", "/api/dev/mailbox", email::mailbox),
    user!("GET", "/api/me", me::get),
    user!("PATCH", "/api/me", me::update),
    user!("DELETE", "/api/me", me::delete),
    user!("POST", "/api/me/password", me::change_password),
    user!("GET", "/api/sessions", me::list_sessions),
    // Sign-in with OAuth 2.0 / OpenID Connect providers
    public!("GET", "/api/auth/providers", oauth::providers),
    public!("GET", "/api/auth/oauth/{provider}/start", oauth::start),
    public!(
        "GET",
        "/api/auth/oauth/{provider}/callback",
        oauth::callback
    ),
    user!("GET", "/api/me/identities", oauth::list),
    user!("DELETE", "/api/me/identities/{id}", oauth::unlink),
    user!("DELETE", "/api/sessions/{id}", me::revoke_session),
    // Two-factor authentication and passkeys
    public!("POST", "/api/auth/login/mfa", mfa::login_mfa),
    user!("GET", "/api/me/2fa", mfa::status),
    user!("POST", "/api/me/2fa/totp", mfa::enrol),
    user!("DELETE", "/api/me/2fa/totp", mfa::disable),
    user!("POST", "/api/me/2fa/totp/confirm", mfa::confirm),
    user!(
        "POST",
        "/api/me/passkeys/options",
        passkeys::registration_options
    ),
    user!("POST", "/api/me/passkeys", passkeys::register),
    user!("GET", "/api/me/passkeys", passkeys::list),
    user!("PATCH", "/api/me/passkeys/{id}", passkeys::rename),
    user!("DELETE", "/api/me/passkeys/{id}", passkeys::delete),
    public!(
        "POST",
        "/api/auth/passkey/options",
        passkeys::sign_in_options
    ),
    public!("POST", "/api/auth/passkey", passkeys::sign_in),
    // Presets
    user!("GET", "/api/presets", presets::list),
    user!("POST", "/api/presets", presets::create),
    user!("PATCH", "/api/presets/{id}", presets::update),
    user!("DELETE", "/api/presets/{id}", presets::delete),
    // Conversations and chat
    user_or_key!("POST", "/api/conversations", conversations::create),
    user_or_key!("GET", "/api/conversations", conversations::list),
    user_or_key!("GET", "/api/conversations/{id}", conversations::get),
    user_or_key!("PATCH", "/api/conversations/{id}", conversations::update),
    user_or_key!("DELETE", "/api/conversations/{id}", conversations::delete),
    user_or_key!(
        "GET",
        "/api/conversations/{id}/messages",
        conversations::messages
    ),
    user_or_key!(
        "POST",
        "/api/conversations/{id}/messages",
        conversations::send
    ),
    user_or_key!(
        "GET",
        "/api/conversations/{id}/messages/{message_id}/stream",
        conversations::stream
    ),
    user_or_key!(
        "GET",
        "/api/conversations/{id}/messages/{message_id}/attachments/{index}",
        conversations::attachment
    ),
    user_or_key!(
        "POST",
        "/api/conversations/{id}/messages/{message_id}/regenerate",
        conversations::regenerate
    ),
    user_or_key!(
        "PUT",
        "/api/conversations/{id}/leaf",
        conversations::set_leaf
    ),
    user_or_key!(
        "POST",
        "/api/conversations/{id}/abort",
        conversations::abort
    ),
    // Files for chat (R2)
    user_or_key!("POST", "/api/files", files::upload),
    user_or_key!("GET", "/api/files/{id}", files::get),
    user_or_key!("DELETE", "/api/files/{id}", files::delete),
    // Search, share links, export and import (issue 16)
    user!("GET", "/api/search", search::search),
    user_or_key!("POST", "/api/conversations/{id}/shares", shares::create),
    public!("GET", "/api/shares/{id}", shares::read),
    public!(
        "GET",
        "/api/shares/{id}/attachments/{index}",
        shares::attachment
    ),
    user!("DELETE", "/api/shares/{id}", shares::delete),
    user!("GET", "/api/me/shares", shares::mine),
    user_or_key!("GET", "/api/conversations/{id}/export", portability::export),
    user!("POST", "/api/imports", portability::import),
    // Organizations
    user!("POST", "/api/orgs", orgs::create),
    user!("GET", "/api/orgs", orgs::list),
    user!("GET", "/api/orgs/{org}", orgs::get),
    user!("PATCH", "/api/orgs/{org}", orgs::update),
    user!("DELETE", "/api/orgs/{org}", orgs::delete),
    user!("GET", "/api/orgs/{org}/members", orgs::members),
    user!(
        "PATCH",
        "/api/orgs/{org}/members/{user}",
        orgs::set_member_role
    ),
    user!(
        "DELETE",
        "/api/orgs/{org}/members/{user}",
        orgs::remove_member
    ),
    user!("POST", "/api/orgs/{org}/invitations", orgs::invite),
    user!("GET", "/api/orgs/{org}/invitations", orgs::list_invitations),
    user!(
        "DELETE",
        "/api/orgs/{org}/invitations/{id}",
        orgs::revoke_invitation
    ),
    user!("POST", "/api/invitations/accept", orgs::accept_invitation),
    user!("GET", "/api/orgs/{org}/usage", usage::get),
    // chatgate as an OpenID Provider: an org's OAuth clients
    user!(
        "POST",
        "/api/orgs/{org}/oauth-clients",
        oauth_clients::create
    ),
    user!("GET", "/api/orgs/{org}/oauth-clients", oauth_clients::list),
    user!(
        "DELETE",
        "/api/orgs/{org}/oauth-clients/{client_id}",
        oauth_clients::delete
    ),
    user!("GET", "/api/orgs/{org}/export", export::org),
    // Federation
    user!("POST", "/api/livekit/token", federation::livekit),
    public!("POST", "/api/livekit/webhook", voice::webhook),
    user!("GET", "/api/me/voice-sessions", voice::mine),
    user!("POST", "/api/embed/tickets", federation::create_ticket),
    public!("POST", "/api/embed/exchange", federation::exchange),
    public!(
        "OPTIONS",
        "/api/embed/exchange",
        federation::exchange_preflight
    ),
    user!("GET", "/api/orgs/{org}/webhooks", webhooks::get),
    user!("PUT", "/api/orgs/{org}/webhooks", webhooks::put),
    user!("DELETE", "/api/orgs/{org}/webhooks", webhooks::delete),
    user!(
        "GET",
        "/api/orgs/{org}/webhooks/deliveries",
        webhooks::deliveries
    ),
    // Audit log
    user!("GET", "/api/me/audit", audit::mine),
    user!("GET", "/api/orgs/{org}/audit", audit::org),
    // Keys
    user!("POST", "/api/keys", keys::create),
    user!("GET", "/api/keys", keys::list),
    user!("DELETE", "/api/keys/{id}", keys::delete),
    user!("GET", "/api/orgs/{org}/keys", keys::list_org),
    user!("PUT", "/api/provider-keys/{provider}", provider_keys::put),
    user!("GET", "/api/provider-keys", provider_keys::list),
    user!(
        "DELETE",
        "/api/provider-keys/{provider}",
        provider_keys::delete
    ),
    // OpenAI-compatible API
    user_or_key!("POST", "/v1/chat/completions", v1::chat_completions),
    user_or_key!("POST", "/v1/responses", responses::create),
    user_or_key!("GET", "/v1/models", v1::models),
    // Anthropic Messages API
    user_or_key!("POST", "/v1/messages", messages::create),
    user_or_key!("POST", "/v1/messages/count_tokens", messages::count_tokens),
    // The operator's console (service admins only: 404 for everyone else)
    service_admin!("GET", "/api/admin/users", admin::users),
    service_admin!("GET", "/api/admin/users/{id}", admin::user),
    service_admin!("DELETE", "/api/admin/users/{id}", admin::delete_user),
    service_admin!("POST", "/api/admin/users/{id}/disable", admin::disable),
    service_admin!("POST", "/api/admin/users/{id}/enable", admin::enable),
    service_admin!("GET", "/api/admin/orgs", admin::orgs_list),
    service_admin!("GET", "/api/admin/orgs/{org}", admin::org),
    service_admin!("PATCH", "/api/admin/orgs/{org}", admin::update_org),
    service_admin!("GET", "/api/admin/orgs/{org}/members", admin::org_members),
    service_admin!("GET", "/api/admin/usage", admin::usage),
    service_admin!("GET", "/api/admin/audit", admin::audit_log),
    service_admin!(
        "POST",
        "/api/admin/signing-keys/rotate",
        admin::rotate_signing_key
    ),
];

pub enum Match<'r> {
    Found(&'r Route, Vec<String>),
    /// The path exists with other methods (for the `allow` header).
    WrongMethod(String),
    NotFound,
}

/// Whether `path` fits `pattern`, returning the `{param}` segments.
fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(h)) if w.starts_with('{') && w.ends_with('}') => {
                if h.is_empty() {
                    return None;
                }
                params.push(h.to_string());
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

/// `method` is the request's method exactly as sent: methods are case-sensitive, and the
/// runtime's own conversion (`worker::Method`) reads every method it does not know as GET.
///
/// A path that fits patterns with different numbers of parameters belongs to those with the
/// fewest: a literal segment beats a parameter (`/api/me/passkeys/options` is not the passkey
/// `options` of `/api/me/passkeys/{id}`).
pub fn find(method: &str, path: &str) -> Match<'static> {
    let fitting: Vec<(&'static Route, Vec<String>)> = ROUTES
        .iter()
        .filter_map(|r| match_pattern(r.pattern, path).map(|p| (r, p)))
        .collect();
    let fewest = fitting.iter().map(|(_, p)| p.len()).min().unwrap_or(0);
    let mut allowed: Vec<&str> = Vec::new();
    for (route, params) in fitting.into_iter().filter(|(_, p)| p.len() == fewest) {
        if route.method == method {
            return Match::Found(route, params);
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::WrongMethod(allowed.join(", "))
    }
}

/// The methods the web client's pages and assets answer.
pub const WEB_CLIENT_METHODS: [&str; 2] = ["GET", "HEAD"];

/// Whether the web client answers `method`: `Err` is the 405 to answer instead.
pub fn web_client_method(method: &str) -> Result<(), ApiError> {
    if WEB_CLIENT_METHODS.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(WEB_CLIENT_METHODS.join(", ")))
    }
}

/// The OpenID Provider's endpoints outside /api (its other pages are the web client's).
const OPENID_API_PATHS: [&str; 3] = ["/oauth/token", "/oauth/userinfo", "/oauth/revoke"];

/// Whether a path belongs to the API (everything else is the web client's static assets).
pub fn is_api_path(path: &str) -> bool {
    path == "/health"
        || path == "/openapi.json"
        || path == "/.well-known/jwks.json"
        || path == "/.well-known/openid-configuration"
        || OPENID_API_PATHS.contains(&path)
        || path == "/api"
        || path.starts_with("/api/")
        || path == "/v1"
        || path.starts_with("/v1/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_path_reaches_the_worker_not_the_web_client() {
        for route in ROUTES {
            let path = route.pattern.replace('{', "x").replace('}', "");
            assert!(is_api_path(&path), "{}", route.pattern);
        }
        assert!(!is_api_path("/.well-known/other"));
        // The OpenID Provider's pages are the web client's.
        assert!(!is_api_path("/oauth/authorize") && !is_api_path("/oauth/logout"));
    }

    #[test]
    fn paths_match_their_patterns_with_params() {
        assert_eq!(
            match_pattern("/api/sessions/{id}", "/api/sessions/ses_1"),
            Some(vec!["ses_1".into()])
        );
        assert_eq!(match_pattern("/api/sessions/{id}", "/api/sessions/"), None);
        assert_eq!(
            match_pattern("/api/sessions/{id}", "/api/sessions/a/b"),
            None
        );
        assert_eq!(match_pattern("/api/me", "/api/me"), Some(vec![]));
    }

    #[test]
    fn a_known_path_with_another_method_is_told_apart_from_an_unknown_path() {
        assert!(matches!(find("GET", "/health"), Match::Found(..)));
        match find("PUT", "/api/me") {
            Match::WrongMethod(allow) => assert!(allow.contains("GET") && allow.contains("PATCH")),
            _ => panic!("expected 405"),
        }
        assert!(matches!(find("GET", "/api/nothing-here"), Match::NotFound));
    }

    #[test]
    fn methods_no_route_has_are_405_and_never_read_as_get() {
        for method in ["QUERY", "PROPFIND", "PURGE", "TRACE", "get", "Get", ""] {
            match find(method, "/api/me") {
                Match::WrongMethod(allow) => assert_eq!(allow, "GET, PATCH, DELETE", "{method}"),
                _ => panic!("{method} /api/me: expected 405"),
            }
            assert!(
                matches!(find(method, "/api/nothing-here"), Match::NotFound),
                "{method}"
            );
            assert!(
                matches!(
                    web_client_method(method),
                    Err(ApiError::MethodNotAllowed(_))
                ),
                "{method} on a page"
            );
        }
        assert!(web_client_method("GET").is_ok() && web_client_method("HEAD").is_ok());
        match web_client_method("POST") {
            Err(ApiError::MethodNotAllowed(allow)) => assert_eq!(allow, "GET, HEAD"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_literal_segment_beats_a_parameter() {
        match find("POST", "/api/me/passkeys/options") {
            Match::Found(route, params) => {
                assert_eq!(route.pattern, "/api/me/passkeys/options");
                assert!(params.is_empty());
            }
            _ => panic!("expected the options route"),
        }
        match find("PATCH", "/api/me/passkeys/options") {
            Match::WrongMethod(allow) => assert_eq!(allow, "POST"),
            _ => panic!("expected 405: `options` is not a passkey id"),
        }
        assert!(matches!(
            find("PATCH", "/api/me/passkeys/pk_1"),
            Match::Found(r, _) if r.pattern == "/api/me/passkeys/{id}"
        ));
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} {}",
                    a.method,
                    a.pattern
                );
            }
        }
    }
}
