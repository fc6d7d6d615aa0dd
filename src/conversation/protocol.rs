//! What the Worker and a conversation's Durable Object say to each other, and the message
//! shape the API shows.

use serde::{Deserialize, Serialize};

use crate::providers::Usage;

/// Everything the Durable Object needs to run one reply; resolved by the Worker, which
/// holds the bindings for keys and settings. The provider key travels only here.
#[derive(Clone, Serialize, Deserialize)]
pub struct SendCommand {
    pub conversation_id: String,
    pub user_id: String,
    pub org_id: String,
    pub content: String,
    /// `provider/model`.
    pub model: String,
    pub system: Option<String>,
    pub provider_key: Option<String>,
    pub base_url: String,
    pub history_char_budget: usize,
    pub demo_token_delay_ms: u32,
    pub max_tokens: Option<u32>,
    /// The org's monthly token budget (`limits::monthly_limit`): the object reserves the
    /// reply's share of it once the history, and so the prompt, is known.
    #[serde(default)]
    pub monthly_token_limit: Option<u64>,
    /// The API key the send came with, for metering.
    #[serde(default)]
    pub api_key_id: Option<String>,
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
