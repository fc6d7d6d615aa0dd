//! Credentials: access tokens, password hashes, refresh-token delivery, and the request guard.

pub mod cookie;
pub mod guard;
pub mod oidc;
pub mod openid;
pub mod password;
pub mod registration;
pub mod signing;
pub mod sso;
pub mod tokens;
pub mod totp;
pub mod webauthn;
