//! chatgate: an edge-native authentication and AI-chat gateway on Cloudflare Workers.

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

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
pub mod history;
pub mod http;
pub mod ingress;
pub mod limits;
pub mod openapi;
pub mod pricing;
pub mod providers;
pub mod routes;
pub mod search;
pub mod sse;
pub mod store;
pub mod upkeep;
pub mod upstream;
pub mod util;
pub mod webhooks;
pub mod wipes;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    app::handle(req, env, ctx).await
}

/// The Cron Trigger (wrangler.toml `[triggers]`): scheduled upkeep.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    upkeep::scheduled(&event, &env).await
}
