//! What the Worker and a conversation's Durable Object say to each other, and the message
//! shape the API shows.

use serde::{Deserialize, Serialize};

use super::attachments::AttachmentView;
pub use super::tree::Branch;
use crate::domain::attachment::ImageAttachment;
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
    /// The conversation's temperature (`None`: the provider's default).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Images sent with the message (validated by the Worker).
    #[serde(default)]
    pub attachments: Vec<ImageAttachment>,
    /// Uploaded files sent with the message (checked by the Worker), after the images.
    #[serde(default)]
    pub files: Vec<super::files::FileRef>,
    /// `low`, `medium` or `high`: reasoning asked of the model for this reply.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// The call the pipeline admitted: model, who pays (and the org's monthly budget, which
    /// the object reserves from once the history, and so the prompt, is known), provider key.
    pub call: Admitted,
    /// Where the new messages go in the conversation's tree.
    #[serde(default)]
    pub branch: Branch,
    /// The call that names the conversation once this reply completes (it has no name yet).
    #[serde(default)]
    pub title: Option<super::title::TitleCommand>,
}

/// `PUT …/leaf`: the branch through this message becomes the current one.
#[derive(Serialize, Deserialize)]
pub struct LeafCommand {
    pub message_id: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct MessageView {
    pub id: String,
    pub seq: i64,
    pub role: String,
    pub content: String,
    /// The images of a user message (their bytes at `…/attachments/{index}`).
    pub attachments: Vec<AttachmentView>,
    /// The reasoning an assistant reply streamed, as text (its signatures stay server-side).
    pub reasoning: Option<String>,
    pub model: Option<String>,
    pub status: String,
    pub usage: Option<Usage>,
    pub created_at: String,
    /// The message this one follows (`None`: a first message).
    pub parent_id: Option<String>,
    /// How many messages share this one's parent (itself included), and its place among
    /// them in order of creation, from 0.
    pub sibling_count: u64,
    pub sibling_index: u64,
    /// The siblings just before and after it (to switch to them with `PUT …/leaf`).
    pub previous_sibling_id: Option<String>,
    pub next_sibling_id: Option<String>,
}

/// Message statuses.
pub const COMPLETE: &str = "complete";
pub const STREAMING: &str = "streaming";
pub const ABORTED: &str = "aborted";
pub const FAILED: &str = "failed";
