//! Integration tests: the built Worker under `wrangler dev`, a mock upstream, HTTP only.
//! Run with `make test` (which builds first), or `cargo test --test api` after a build.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

mod accounts;
mod admin;
mod audit;
mod branches;
mod chat;
mod chat_media;
mod conversation_settings;
mod data;
mod email;
mod federation;
mod files;
mod helpers;
mod imports;
mod keys;
mod logs;
mod matrix;
mod messages;
mod mfa;
mod oauth;
mod oidc_provider;
mod orgs;
mod passkeys;
mod presets;
mod responses;
mod search;
mod service;
mod shares;
mod signing_keys;
mod titles;
mod upkeep;
mod v1;
mod waits;
