//! chatgate: an edge-native authentication and AI-chat gateway on Cloudflare Workers.

use worker::{event, Context, Env, Request, Response};

pub mod app;
pub mod auth;
pub mod config;
pub mod conversation;
pub mod crypto;
pub mod domain;
pub mod durable;
pub mod email;
pub mod error;
pub mod gateway;
pub mod http;
pub mod ingress;
pub mod limits;
pub mod openapi;
pub mod pricing;
pub mod providers;
pub mod routes;
pub mod store;
pub mod upstream;
pub mod util;
pub mod webhooks;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    app::handle(req, env, ctx).await
}
