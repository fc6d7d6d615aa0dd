//! The provider's request, built from the stored conversation: the history sent upstream,
//! where a send's messages go, and the chat route's names for what a provider refused.

use super::{message, IMAGE_HISTORY_CHARS, MAX_HISTORY_IMAGE_BYTES};
use crate::conversation::attachments::{self, AttachmentView};
use crate::conversation::protocol::{ABORTED, COMPLETE};
use crate::conversation::thoughts::{self, Thought};
use crate::conversation::tree::{self, Branch};
use crate::conversation::{files, MessageRow, Shared};
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::providers::{Block, Media, Message, ProviderKind, Role};

/// The history sent upstream: the new user message, then the messages of its branch (from
/// `from`, the message it follows, up to the root) newest first until the character budget
/// (`IMAGE_HISTORY_CHARS` per image) or `MAX_HISTORY_IMAGE_BYTES` would be passed (oldest
/// dropped first), in chronological order. A user message carries its images; a reply
/// written by a model of `kind`'s provider carries its reasoning blocks with their
/// signatures, which only that provider can read (another's are left out, and not counted).
pub(super) fn history(
    shared: &Shared,
    new_message: Message,
    new_image_bytes: u64,
    budget: usize,
    kind: ProviderKind,
    from: Option<String>,
) -> ApiResult<Vec<Message>> {
    let cost = |text: usize, images: usize| text + images * IMAGE_HISTORY_CHARS;
    let new_images = new_message
        .content
        .iter()
        .filter(|b| matches!(b, Block::Image(_)))
        .count();
    let mut used = cost(new_message.text().chars().count(), new_images);
    let mut image_bytes = new_image_bytes;
    // Read up the branch a page at a time, only as far as the budget reaches: a long
    // conversation costs what its recent messages cost.
    const PAGE: i64 = 64;
    let mut picked: Vec<(MessageRow, Vec<AttachmentView>, Vec<Thought>)> = Vec::new();
    let mut next = from;
    'pages: while let Some(start) = next.take() {
        let rows = tree::ancestors(&shared.sql, &start, PAGE)?;
        if rows.len() as i64 == PAGE {
            next = rows.last().and_then(|r| r.parent_id.clone());
        }
        for r in rows {
            let answered = r.role == "assistant"
                && (r.status == COMPLETE || r.status == ABORTED)
                && !r.content.is_empty();
            if r.role != "user" && !answered {
                continue;
            }
            let images = attachments::parse(r.attachments.as_deref());
            let same_provider = r
                .model
                .as_deref()
                .and_then(|m| ModelId::parse(m).ok())
                .is_some_and(|m| m.provider() == kind);
            let thoughts = if r.role == "assistant" && same_provider {
                thoughts::parse(r.reasoning.as_deref())
            } else {
                Vec::new()
            };
            used += cost(
                r.content.chars().count()
                    + thoughts
                        .iter()
                        .map(|t| t.text.chars().count())
                        .sum::<usize>(),
                0,
            ) + files::history_chars(&images);
            image_bytes += images.iter().map(|i| i.size).sum::<u64>();
            if used > budget || image_bytes > MAX_HISTORY_IMAGE_BYTES {
                break 'pages;
            }
            picked.push((r, images, thoughts));
        }
    }
    let mut messages = vec![new_message];
    for (r, images, thoughts) in picked {
        messages.push(if r.role == "assistant" {
            Message {
                role: Role::Assistant,
                content: thoughts::blocks(&r.content, &thoughts),
            }
        } else {
            stored_user_message(shared, &r.id, r.content, images)?
        });
    }
    messages.reverse();
    // Providers want the conversation to open with the user.
    while messages.first().is_some_and(|m| m.role == Role::Assistant) {
        messages.remove(0);
    }
    Ok(messages)
}

/// A stored user message as the provider is sent it: its text, then its images.
pub(super) fn stored_user_message(
    shared: &Shared,
    id: &str,
    text: String,
    images: Vec<AttachmentView>,
) -> ApiResult<Message> {
    let mut content = Vec::with_capacity(images.len() + 1);
    if !text.is_empty() {
        content.push(Block::Text(text));
    }
    for (i, view) in images.into_iter().enumerate() {
        if let Some(file_id) = &view.file_id {
            content.push(files::placeholder(file_id, view.name.as_deref()));
        } else if let Some(data) = attachments::load(&shared.sql, id, i)? {
            content.push(Block::Image(Media::Base64 {
                media_type: view.media_type,
                data,
            }));
        }
    }
    Ok(Message {
        role: Role::User,
        content,
    })
}

/// Where a send's messages go: the message the user message follows, and the user message
/// answered when it already exists (a regeneration).
pub(super) fn placement(
    shared: &Shared,
    branch: &Branch,
    leaf: &Option<String>,
) -> ApiResult<(Option<String>, Option<MessageRow>)> {
    match branch {
        Branch::Leaf => Ok((leaf.clone(), None)),
        Branch::Under(None) => Ok((None, None)),
        Branch::Under(Some(id)) => {
            let parent = message(shared, id)?.ok_or_else(|| {
                ApiError::param(
                    "parent_id",
                    "parent_id names no message of this conversation",
                )
            })?;
            if parent.role != "assistant" {
                return Err(ApiError::param(
                    "parent_id",
                    "parent_id must name an assistant reply (or be null for a first message)",
                ));
            }
            Ok((Some(parent.id), None))
        }
        Branch::Regenerate(id) => {
            let reply = message(shared, id)?.ok_or(ApiError::NotFound)?;
            if reply.role != "assistant" {
                return Err(ApiError::validation(
                    "only an assistant reply can be regenerated",
                ));
            }
            let asked = match reply.parent_id.as_deref() {
                Some(p) => message(shared, p)?.filter(|m| m.role == "user"),
                None => None,
            }
            .ok_or_else(|| ApiError::validation("this reply answers no user message"))?;
            Ok((asked.parent_id.clone(), Some(asked)))
        }
    }
}

/// The chat route's name for a parameter a provider refused, named in neutral positions: in
/// the new message (the last, `last`), its text is `content` and its images `attachments[k]`;
/// an earlier message means the history cannot go to this model (`model`); a reasoning
/// limit is about `reasoning_effort`.
pub(super) fn chat_param(param: &str, last: usize, text_first: bool) -> String {
    if param.starts_with("reasoning") || param.starts_with("thinking") {
        return "reasoning_effort".into();
    }
    let Some(rest) = param.strip_prefix("messages[") else {
        return param.into();
    };
    let Some((index, rest)) = rest.split_once(']') else {
        return param.into();
    };
    if index.parse::<usize>().ok() != Some(last) {
        return "model".into();
    }
    let block = rest
        .strip_prefix(".content[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(j, _)| j.parse::<usize>().ok());
    match block {
        Some(0) if text_first => "content".into(),
        Some(j) => format!("attachments[{}]", j - usize::from(text_first)),
        None => "content".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::chat_param;

    #[test]
    fn a_refused_position_gets_the_chat_routes_name() {
        for (neutral, text_first, want) in [
            ("messages[3].content[0]", true, "content"),
            ("messages[3].content[1]", true, "attachments[0]"),
            ("messages[3].content[2]", true, "attachments[1]"),
            ("messages[3].content[0]", false, "attachments[0]"),
            ("messages[3]", true, "content"),
            ("messages[1].content[1]", true, "model"),
            ("thinking.budget_tokens", true, "reasoning_effort"),
            ("reasoning_effort", false, "reasoning_effort"),
            ("max_tokens", true, "max_tokens"),
        ] {
            assert_eq!(chat_param(neutral, 3, text_first), want, "{neutral}");
        }
    }
}
