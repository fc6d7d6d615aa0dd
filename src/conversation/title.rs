//! A conversation's title, generated after its first complete reply when nobody has named
//! it: a short call to the org's title model (else the conversation's), admitted, reserved
//! and metered as every model call is, run after the reply's `message.completed` has gone
//! out. The title is saved only if the conversation still has no name (one set by hand
//! meanwhile wins), then sent to the reply's readers as `event: title` (`{title}`).

use serde::{Deserialize, Serialize};

use worker::{AbortController, Env};

use crate::gateway::{self, Admitted};
use crate::providers::{Block, ChatRequest, Message, Role};

/// The longest title kept, in characters (a conversation's title may be 200).
pub const MAX_TITLE_CHARS: usize = 80;
/// The most of the first message the title model is shown.
const MAX_PROMPT_CHARS: usize = 2_000;
/// Enough for a handful of words (and a reasoning model's preamble, cut off).
const MAX_TITLE_TOKENS: u32 = 32;
const INSTRUCTIONS: &str = "Write a title of at most six words for a conversation that begins \
with the user's message below. Answer with the title alone: no quotes, no punctuation at the end.";

/// What the Worker admitted for naming the conversation (sent only while it has no name).
#[derive(Clone, Serialize, Deserialize)]
pub struct TitleCommand {
    pub call: Admitted,
}

/// The title from a model's answer: its first line with any quotes, heading marks or a
/// `Title:` label taken off, at most `MAX_TITLE_CHARS` (cut at a word); `None` if nothing is left.
pub fn clean(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.trim_start_matches('#').trim();
    let line = line
        .strip_prefix("Title:")
        .or_else(|| line.strip_prefix("title:"))
        .unwrap_or(line)
        .trim();
    let line = line
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '`' | '“' | '”'))
        .trim();
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    if line.is_empty() {
        return None;
    }
    if line.chars().count() <= MAX_TITLE_CHARS {
        return Some(line);
    }
    let cut: String = line.chars().take(MAX_TITLE_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > MAX_TITLE_CHARS / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    Some(format!("{}…", cut.trim_end()))
}

/// Asks the title model for a title of the conversation that opens with `first_message`,
/// and bills the call. `None` when it fails or says nothing usable (the conversation keeps
/// its name, and the next complete reply tries again).
pub async fn generate(env: &Env, cmd: &TitleCommand, first_message: &str) -> Option<String> {
    let shown: String = first_message.chars().take(MAX_PROMPT_CHARS).collect();
    if shown.trim().is_empty() {
        return None;
    }
    let mut request = ChatRequest {
        model: cmd.call.model.model().to_string(),
        system: Some(INSTRUCTIONS.into()),
        messages: vec![Message {
            role: Role::User,
            content: vec![Block::Text(shown)],
        }],
        max_tokens: Some(MAX_TITLE_TOKENS),
        stream: true,
        ..Default::default()
    };
    let meter = match gateway::prepare(env, &cmd.call, &mut request).await {
        Ok(m) => m,
        Err(e) => {
            log("title call refused", &e.to_string());
            return None;
        }
    };
    let controller = AbortController::default();
    let source = match cmd.call.open(&request, &controller.signal()).await {
        Ok(s) => s,
        Err(e) => {
            log("title call failed", &e.to_string());
            meter.release(env).await;
            return None;
        }
    };
    let (mut text, mut usage) = (String::new(), None);
    let outcome = source
        .run(|chunk| {
            text.push_str(&chunk.text);
            if chunk.usage.is_some() {
                usage = chunk.usage;
            }
            true
        })
        .await;
    if let Err(e) = &outcome {
        log("title stream failed", &e.message);
    }
    let complete = outcome.is_ok();
    let used = meter.usage(usage, &text, complete);
    meter.record(env, used).await;
    if complete {
        clean(&text)
    } else {
        None
    }
}

/// Generates the title and saves it if the conversation still has no name: the title saved.
pub async fn name(
    env: &Env,
    conversation_id: &str,
    cmd: &TitleCommand,
    first_message: &str,
) -> Option<String> {
    let title = generate(env, cmd, first_message).await?;
    let saved = match env.d1("DB") {
        Ok(db) => {
            crate::store::conversations::set_generated_title(&db, conversation_id, &title).await
        }
        Err(e) => Err(crate::error::ApiError::internal(format!("D1 binding: {e}"))),
    };
    match saved {
        Ok(true) => Some(title),
        Ok(false) => None,
        Err(e) => {
            log("saving a title failed", &e.to_string());
            None
        }
    }
}

fn log(error: &str, context: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({"error": error, "context": context})
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_answer_becomes_a_short_plain_title() {
        for (answer, want) in [
            ("Trip to Lisbon", Some("Trip to Lisbon")),
            ("\n\n\"Trip to Lisbon\"\nmore", Some("Trip to Lisbon")),
            ("# Title: **Trip to Lisbon**", Some("Trip to Lisbon")),
            (
                "You said: hello\n\nThis reply comes",
                Some("You said: hello"),
            ),
            ("   \n  ", None),
            ("\"\"", None),
        ] {
            assert_eq!(clean(answer).as_deref(), want, "{answer:?}");
        }
        let long = "word ".repeat(40);
        let t = clean(&long).unwrap();
        assert!(t.chars().count() <= MAX_TITLE_CHARS + 1, "{t}");
        assert!(t.ends_with("word…"), "{t}");
    }
}
