//! Cloudflare Email Service: the `send_email` binding named `EMAIL` (wrangler.toml
//! `[[send_email]] name = "EMAIL"`), called with the structured message
//! (`env.EMAIL.send({from, to, subject, text, html})`, which workers-rs 0.8.7 types as
//! `SendEmail::send_with_builder`). Under `wrangler dev` the binding is simulated: miniflare
//! writes each message to a temporary file and logs its path.

use worker::email::{EmailAddress, SendEmailBuilder};
use worker::Env;

use super::{Message, Sender};

/// The binding's name in wrangler.toml.
pub const BINDING: &str = "EMAIL";

pub async fn send(env: &Env, from: &Sender, message: &Message) -> Result<(), String> {
    let binding = env
        .send_email(BINDING)
        .map_err(|e| format!("the send_email binding `{BINDING}` is missing: {e}"))?;
    let builder = match &from.name {
        Some(name) => SendEmailBuilder::builder_with_email_address_and_str(
            &EmailAddress::new(name, &from.address),
            &message.to,
            &message.subject,
        ),
        None => SendEmailBuilder::builder(&from.address, &message.to, &message.subject),
    }
    .text(&message.text)
    .html(&message.html)
    .build();
    binding
        .send_with_builder(&builder)
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "send_email refused the message: {}",
                String::from(e.message())
            )
        })
}
