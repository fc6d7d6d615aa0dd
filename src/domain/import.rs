//! What `POST /api/imports` accepts, read into conversations chatgate can hold: chatgate's own
//! export of a conversation (`format: "chatgate.conversation"`, one or a list), or ChatGPT's
//! `conversations.json` (a list of conversations, each a `mapping` tree of nodes
//! `{id, message: {author: {role}, content: {content_type, parts}}, parent, children}` and its
//! `current_node`). Everything left out is reported, with the reason and a count.
//!
//! A ChatGPT tree is imported whole (`chosen_nodes`): every node with text, each under its
//! nearest kept ancestor, and the conversation left at `current_node` as ChatGPT left it.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::util::parse_rfc3339;

/// The most bytes an import may have (its JSON body).
pub const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;
/// The most conversations one import takes (each is a D1 row and a Durable Object write).
pub const MAX_IMPORT_CONVERSATIONS: usize = 100;
/// The format name of chatgate's own export of a conversation.
pub const CHATGATE_FORMAT: &str = "chatgate.conversation";

const MAX_TITLE_CHARS: usize = 200;
const MAX_SYSTEM_PROMPT_CHARS: usize = 20_000;
const MAX_MESSAGE_CHARS: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMessage {
    pub key: String,
    pub parent_key: Option<String>,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ParsedConversation {
    pub title: String,
    pub model: Option<String>,
    pub system_prompt: String,
    pub messages: Vec<ParsedMessage>,
    /// In a tree, the message the conversation was left at.
    pub current_key: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The conversation's title, when the reason is about one.
    pub conversation: Option<String>,
    pub reason: String,
}

#[derive(Debug)]
pub struct Parsed {
    pub conversations: Vec<ParsedConversation>,
    pub skipped: Vec<Skipped>,
}

/// Reasons counted within one conversation, reported once each.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, reason: impl Into<String>) {
        *self.0.entry(reason.into()).or_default() += 1;
    }
    fn report(self, title: &str, out: &mut Vec<Skipped>) {
        for (reason, n) in self.0 {
            out.push(Skipped {
                conversation: Some(title.to_string()),
                reason: format!("{reason} ({n})"),
            });
        }
    }
}

fn clean_title(raw: Option<&str>) -> String {
    let t: String = raw
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect();
    if t.trim().is_empty() {
        "Imported conversation".into()
    } else {
        t.trim().to_string()
    }
}

/// Reads an import body: `Err` when it is neither format (a 400).
pub fn parse(body: &[u8]) -> Result<Parsed, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let items: Vec<&Value> = match &value {
        Value::Object(_) if is_chatgate(&value) => vec![&value],
        Value::Array(list) if !list.is_empty() => list.iter().collect(),
        Value::Array(_) => return Err("the list of conversations is empty".into()),
        _ => return Err(neither()),
    };
    let chatgpt = if items.iter().all(|v| is_chatgate(v)) {
        false
    } else if items
        .iter()
        .all(|v| v.get("mapping").is_some_and(Value::is_object))
    {
        true
    } else {
        return Err(neither());
    };
    let mut out = Parsed {
        conversations: Vec::new(),
        skipped: Vec::new(),
    };
    if items.len() > MAX_IMPORT_CONVERSATIONS {
        out.skipped.push(Skipped {
            conversation: None,
            reason: format!(
                "{} conversations past the {MAX_IMPORT_CONVERSATIONS} one import takes: import them in another request",
                items.len() - MAX_IMPORT_CONVERSATIONS
            ),
        });
    }
    for item in items.into_iter().take(MAX_IMPORT_CONVERSATIONS) {
        let read = if chatgpt {
            from_chatgpt(item, &mut out.skipped)
        } else {
            from_chatgate(item, &mut out.skipped)
        };
        match read {
            Some(c) if !c.messages.is_empty() => out.conversations.push(c),
            Some(c) => out.skipped.push(Skipped {
                conversation: Some(c.title),
                reason: "no message with text to import".into(),
            }),
            None => {}
        }
    }
    Ok(out)
}

fn neither() -> String {
    format!(
        "the body is neither chatgate's export of a conversation (`format: {CHATGATE_FORMAT}`) \
         nor ChatGPT's conversations.json (a list of conversations with a `mapping`)"
    )
}

fn is_chatgate(v: &Value) -> bool {
    v.get("format").and_then(Value::as_str) == Some(CHATGATE_FORMAT)
}

/// A message's text, or why it has none to import.
fn checked_text(text: String, tally: &mut Tally) -> Option<String> {
    if text.trim().is_empty() {
        tally.add("empty messages");
        None
    } else if text.chars().count() > MAX_MESSAGE_CHARS {
        tally.add(format!("messages over {MAX_MESSAGE_CHARS} characters"));
        None
    } else {
        Some(text)
    }
}

fn from_chatgate(item: &Value, skipped: &mut Vec<Skipped>) -> Option<ParsedConversation> {
    let conv = item.get("conversation").cloned().unwrap_or(Value::Null);
    let title = clean_title(conv.get("title").and_then(Value::as_str));
    let mut tally = Tally::default();
    let mut system_prompt = conv
        .get("system_prompt")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if system_prompt.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
        tally.add(format!(
            "a system prompt over {MAX_SYSTEM_PROMPT_CHARS} characters"
        ));
        system_prompt.clear();
    }
    let Some(list) = item.get("messages").and_then(Value::as_array) else {
        skipped.push(Skipped {
            conversation: Some(title),
            reason: "no `messages` list".into(),
        });
        return None;
    };
    let mut messages: Vec<ParsedMessage> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            tally.add(format!("messages with role `{}`", short(role)));
            continue;
        }
        let status = m
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("complete");
        if !matches!(status, "complete" | "aborted") {
            tally.add(format!("replies that had {}", short(status)));
            continue;
        }
        let Some(content) = m.get("content").and_then(Value::as_str) else {
            tally.add("messages without text content");
            continue;
        };
        let Some(content) = checked_text(content.to_string(), &mut tally) else {
            continue;
        };
        messages.push(ParsedMessage {
            key: format!("{i}"),
            parent_key: messages.last().map(|p| p.key.clone()),
            role: role.to_string(),
            content,
            model: m.get("model").and_then(Value::as_str).map(str::to_string),
            created_at: m
                .get("created_at")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339),
        });
    }
    tally.report(&title, skipped);
    Some(ParsedConversation {
        title,
        model: conv
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        system_prompt,
        current_key: messages.last().map(|m| m.key.clone()),
        messages,
    })
}

fn short(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

/// The nodes of a ChatGPT tree that are imported, parents before children: the whole tree,
/// or, when no node is a root (a damaged export), the path that leads to `current_node`.
fn chosen_nodes<'a>(
    mapping: &'a Map<String, Value>,
    current_node: Option<&'a str>,
) -> Vec<&'a str> {
    let all = whole_tree(mapping);
    if all.is_empty() {
        path_to(mapping, current_node)
    } else {
        all
    }
}

/// Whether `id` hangs from `ancestor` by a line without forks: every node from `ancestor` down
/// to `id`'s parent has exactly one child. Such a message only continues the one before it.
fn sole_line(mapping: &Map<String, Value>, ancestor: &str, id: &str) -> bool {
    let only_child = |n: &str| {
        mapping
            .get(n)
            .and_then(|n| n.get("children"))
            .and_then(Value::as_array)
            .is_some_and(|c| c.len() == 1)
    };
    let mut at = parent_of(mapping, id);
    for _ in 0..=mapping.len() {
        match at {
            Some(p) if !only_child(p) => return false,
            Some(p) if p == ancestor => return true,
            Some(p) => at = parent_of(mapping, p),
            None => return false,
        }
    }
    false
}

fn parent_of<'a>(mapping: &'a Map<String, Value>, id: &str) -> Option<&'a str> {
    mapping
        .get(id)
        .and_then(|n| n.get("parent"))
        .and_then(Value::as_str)
        .filter(|p| mapping.contains_key(*p))
}

/// The path from the root to `current_node` (else to the newest leaf along last children).
fn path_to<'a>(mapping: &'a Map<String, Value>, current_node: Option<&'a str>) -> Vec<&'a str> {
    let start = match current_node.filter(|c| mapping.contains_key(*c)) {
        Some(c) => Some(c),
        None => {
            // Down from a root, along each node's last child.
            let mut at = mapping
                .keys()
                .map(String::as_str)
                .find(|id| parent_of(mapping, id).is_none());
            let mut steps = 0;
            while let Some(next) = at
                .and_then(|id| mapping.get(id))
                .and_then(|n| n.get("children"))
                .and_then(Value::as_array)
                .and_then(|c| c.last())
                .and_then(Value::as_str)
                .filter(|c| mapping.contains_key(*c))
            {
                steps += 1;
                if steps > mapping.len() {
                    break;
                }
                at = Some(next);
            }
            at
        }
    };
    let mut path = Vec::new();
    let mut seen = HashSet::new();
    let mut at = start;
    while let Some(id) = at {
        if !seen.insert(id) {
            break; // a cycle: stop where it closes
        }
        path.push(id);
        at = parent_of(mapping, id);
    }
    path.reverse();
    path
}

/// Every node reachable from the roots, parents before children (children in their order).
fn whole_tree(mapping: &Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<&str> = mapping
        .keys()
        .map(String::as_str)
        .filter(|id| parent_of(mapping, id).is_none())
        .collect();
    stack.reverse();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        out.push(id);
        if let Some(children) = mapping
            .get(id)
            .and_then(|n| n.get("children"))
            .and_then(Value::as_array)
        {
            for c in children.iter().rev().filter_map(Value::as_str) {
                if mapping.contains_key(c) {
                    stack.push(c);
                }
            }
        }
    }
    out
}

/// The text of a ChatGPT message, or None (with the reason counted).
fn chatgpt_text(message: &Value, tally: &mut Tally) -> Option<String> {
    let content = message.get("content").cloned().unwrap_or(Value::Null);
    let kind = content
        .get("content_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind != "text" && kind != "multimodal_text" {
        tally.add(format!("messages of content type `{}`", short(kind)));
        return None;
    }
    let mut texts = Vec::new();
    for part in content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match part {
            Value::String(s) => texts.push(s.as_str()),
            other => {
                let what = other
                    .get("content_type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                tally.add(format!("non-text parts (`{}`)", short(what)));
            }
        }
    }
    checked_text(texts.join("\n"), tally)
}

fn from_chatgpt(item: &Value, skipped: &mut Vec<Skipped>) -> Option<ParsedConversation> {
    let title = clean_title(item.get("title").and_then(Value::as_str));
    let mapping = item.get("mapping").and_then(Value::as_object)?;
    let current = item.get("current_node").and_then(Value::as_str);
    let mut tally = Tally::default();
    // Each kept node's key; a node left out hands its children to its nearest kept ancestor.
    let mut kept: HashMap<&str, String> = HashMap::new();
    // Where each key's message is in `messages`.
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut messages: Vec<ParsedMessage> = Vec::new();
    for id in chosen_nodes(mapping, current) {
        let Some(message) = mapping
            .get(id)
            .and_then(|n| n.get("message"))
            .filter(|m| m.is_object())
        else {
            continue; // the root holds no message
        };
        let role = message
            .get("author")
            .and_then(|a| a.get("role"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if role != "user" && role != "assistant" {
            tally.add(format!("{} messages", short(role)));
            continue;
        }
        let Some(content) = chatgpt_text(message, &mut tally) else {
            continue;
        };
        let mut up = parent_of(mapping, id);
        let mut guard = 0;
        let parent = loop {
            match up {
                Some(p) if kept.contains_key(p) => break Some(p),
                Some(p) if guard <= mapping.len() => {
                    guard += 1;
                    up = parent_of(mapping, p);
                }
                _ => break None,
            }
        };
        let parent_key = parent.and_then(|p| kept.get(p).cloned());
        let model = message
            .get("metadata")
            .and_then(|m| m.get("model_slug"))
            .and_then(Value::as_str)
            .filter(|_| role == "assistant")
            .map(str::to_string);
        let created_at = message
            .get("create_time")
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite() && *t > 0.0 && *t < 1e11)
            .map(|t| (t * 1000.0) as i64);
        // A message of the same role that only continues the one it follows (a reply in
        // several pieces, a tool call between them) joins it: histories alternate.
        if let Some((p, key)) = parent.zip(parent_key.as_ref()) {
            let before = &mut messages[at[key]];
            if before.role == role
                && sole_line(mapping, p, id)
                && before.content.chars().count() + content.chars().count() + 2 <= MAX_MESSAGE_CHARS
            {
                before.content.push_str("\n\n");
                before.content.push_str(&content);
                kept.insert(id, key.clone());
                continue;
            }
        }
        kept.insert(id, id.to_string());
        at.insert(id.to_string(), messages.len());
        messages.push(ParsedMessage {
            key: id.to_string(),
            parent_key,
            role: role.to_string(),
            content,
            model,
            created_at,
        });
    }
    tally.report(&title, skipped);
    let current_key = current.and_then(|c| kept.get(c).cloned());
    Some(ParsedConversation {
        title,
        model: None,
        system_prompt: String::new(),
        current_key: current_key.or_else(|| messages.last().map(|m| m.key.clone())),
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/chatgpt_conversations_branched.json");

    fn texts(c: &ParsedConversation) -> Vec<(&str, &str)> {
        c.messages
            .iter()
            .map(|m| (m.role.as_str(), m.content.as_str()))
            .collect()
    }

    #[test]
    fn a_chatgpt_export_imports_its_whole_tree_left_where_the_user_was_and_reports_the_rest() {
        let parsed = parse(FIXTURE.as_bytes()).unwrap();
        assert_eq!(parsed.conversations.len(), 1, "{:?}", parsed.skipped);
        let c = &parsed.conversations[0];
        assert_eq!(c.title, "Branching soup");
        assert_eq!(
            texts(c),
            [
                ("user", "How do I make a soup?"),
                ("assistant", "Boil water, add vegetables."),
                ("user", "Make it a sweet one."),
                ("assistant", "Add sugar."),
                ("user", "Make it a spicy one, please."),
                ("assistant", "Add chili.\n\nAnd ginger."),
            ]
        );
        assert_eq!(c.messages[1].model.as_deref(), Some("gpt-4o"));
        assert_eq!(c.messages[0].created_at, Some(1_700_000_001_000));
        let parents: Vec<Option<&str>> =
            c.messages.iter().map(|m| m.parent_key.as_deref()).collect();
        assert_eq!(
            parents,
            [
                None,
                Some("u1"),
                Some("a1"),
                Some("u2a"),
                Some("a1"),
                Some("u2b")
            ],
            "both edits of the second question hang from the first reply"
        );
        assert_eq!(
            c.current_key.as_deref(),
            Some("a2b1"),
            "left at current_node, which joined the reply it continues"
        );
        let reasons: Vec<&str> = parsed.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons.contains(&"system messages (1)"), "{reasons:?}");
        assert!(
            reasons.contains(&"non-text parts (`image_asset_pointer`) (1)"),
            "{reasons:?}"
        );
        assert!(reasons.contains(&"tool messages (1)"), "{reasons:?}");
        assert!(
            reasons.contains(&"no message with text to import"),
            "the image-only conversation: {reasons:?}"
        );
    }

    #[test]
    fn the_whole_tree_keeps_every_branch_with_its_parent() {
        let value: Value = serde_json::from_str(FIXTURE).unwrap();
        let mapping = value[0]["mapping"].as_object().unwrap();
        let all = chosen_nodes(mapping, Some("a2b2"));
        assert_eq!(all.len(), mapping.len());
        for (i, id) in all.iter().enumerate() {
            if let Some(p) = parent_of(mapping, id) {
                assert!(all[..i].contains(&p), "{p} before {id}");
            }
        }
        assert!(
            all.contains(&"u2a") && all.contains(&"a2a"),
            "the other branch too"
        );
    }

    #[test]
    fn a_message_of_the_same_role_after_a_fork_stays_its_own_branch() {
        let node = |id: &str, parent: Option<&str>, children: &[&str], role: &str, text: &str| {
            serde_json::json!({"id": id, "parent": parent, "children": children,
                "message": {"author": {"role": role}, "content": {"content_type": "text", "parts": [text]}}})
        };
        let body = serde_json::json!([{
            "title": "forks", "current_node": "b2",
            "mapping": {
                "u": node("u", None, &["a"], "user", "q"),
                "a": node("a", Some("u"), &["b1", "b2"], "assistant", "one"),
                "b1": node("b1", Some("a"), &[], "assistant", "two"),
                "b2": node("b2", Some("a"), &[], "assistant", "three"),
            }
        }]);
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        let c = &parsed.conversations[0];
        assert_eq!(
            texts(c),
            [
                ("user", "q"),
                ("assistant", "one"),
                ("assistant", "two"),
                ("assistant", "three")
            ]
        );
        assert_eq!(c.current_key.as_deref(), Some("b2"));
    }

    #[test]
    fn a_chatgate_export_imports_its_written_messages() {
        let body = serde_json::json!({
            "format": CHATGATE_FORMAT, "version": 1,
            "conversation": {"title": "Mine\u{7}", "model": "demo/echo", "system_prompt": "be brief"},
            "messages": [
                {"role": "user", "content": "hi", "status": "complete", "created_at": "2026-01-02T03:04:05.000Z"},
                {"role": "assistant", "content": "", "status": "failed"},
                {"role": "assistant", "content": "hello", "model": "demo/echo", "status": "complete"},
                {"role": "system", "content": "x"}
            ]
        });
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        let c = &parsed.conversations[0];
        assert_eq!(c.title, "Mine");
        assert_eq!(c.system_prompt, "be brief");
        assert_eq!(texts(c), [("user", "hi"), ("assistant", "hello")]);
        assert_eq!(c.messages[1].parent_key.as_deref(), Some("0"));
        assert_eq!(parsed.skipped.len(), 2, "{:?}", parsed.skipped);
    }

    #[test]
    fn something_that_is_neither_format_is_refused() {
        for body in [
            "",
            "nope",
            "{}",
            "[]",
            "[1, 2]",
            r#"{"format": "other"}"#,
            r#"[{"mapping": {}}, {"format": "chatgate.conversation"}]"#,
            r#""a string""#,
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn cycles_and_dangling_parents_do_not_loop() {
        let body = serde_json::json!([{
            "title": "loop", "current_node": "a",
            "mapping": {
                "a": {"id": "a", "parent": "b", "children": ["b"], "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["one"]}}},
                "b": {"id": "b", "parent": "a", "children": ["a"], "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["two"]}}}
            }
        }]);
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.conversations[0].messages.len(), 2);
        let value: Value = body;
        let mapping = value[0]["mapping"].as_object().unwrap();
        assert!(whole_tree(mapping).is_empty(), "no root: nothing reachable");
    }
}
