//! What the Worker and a conversation's Durable Object say to each other, and the message
//! shape the API shows.

use serde::{Deserialize, Serialize};

use crate::gateway::Admitted;
use crate::providers::Usage;

/// Everything the Durable Object needs to run one reply, admitted by the Worker, which
/// holds the bindings for keys and settings (the provider key travels only here).
#[derive(Clone, Serialize, Deserialize)]
pub struct SendCommand {
    pub conversation_id: String,
    pub content: String,
    pub system: Option<String>,
    pub history_char_budget: usize,
    pub max_tokens: Option<u32>,
    /// The call the pipeline admitted: model, who pays (and the org's monthly budget, which
    /// the object reserves from once the history, and so the prompt, is known), provider key.
    pub call: Admitted,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct MessageView {
    pub id: String,
    pub seq: i64,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub status: String,
    pub usage: Option<Usage>,
    pub created_at: String,
}

/// Message statuses.
pub const COMPLETE: &str = "complete";
pub const STREAMING: &str = "streaming";
pub const ABORTED: &str = "aborted";
pub const FAILED: &str = "failed";
