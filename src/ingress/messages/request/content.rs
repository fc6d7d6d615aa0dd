//! The request's messages: their content blocks (text, images, documents, tool calls and
//! results) to neutral messages, with where each came from (`Origins`).

use super::*;

/// Where each neutral message and block came from in the client's request, so a provider's
/// refusal (in neutral positions: `messages[k].content[j]`, Chat Completions' names for the
/// rest) names the client's own field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins {
    pub(super) messages: Vec<MessageOrigin>,
    /// Where the response format was given: `output_config.format` or `output_format`.
    pub(super) format_at: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MessageOrigin {
    at: String,
    blocks: Vec<BlockOrigin>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockOrigin {
    at: String,
    /// A tool call (counted for `tool_calls[c]`).
    call: bool,
    /// A tool result whose content was a string (its one block is `.content`).
    text_content: bool,
}

impl Origins {
    /// `err` with its parameter renamed from neutral positions to the client's.
    pub fn rename(&self, err: ApiError) -> ApiError {
        let ApiError::InvalidParam { param, detail } = err else {
            return err;
        };
        let renamed = self.client_param(&param);
        ApiError::InvalidParam {
            detail: detail.replacen(&param, &renamed, 1),
            param: renamed,
        }
    }

    fn client_param(&self, param: &str) -> String {
        if let Some(p) = self.message_param(param) {
            return p;
        }
        match param {
            "response_format" => return self.format_at.to_owned(),
            "parallel_tool_calls" => return "tool_choice.disable_parallel_tool_use".into(),
            "stop" => return "stop_sequences".into(),
            "user" => return "metadata.user_id".into(),
            "reasoning_effort" => return "output_config.effort".into(),
            _ => {}
        }
        if let Some(rest) = param.strip_prefix("tools[") {
            if let Some((i, tail)) = rest.split_once(']') {
                let tail = match tail {
                    ".function.parameters" => ".input_schema".to_owned(),
                    t => dotted(t.strip_prefix(".function").unwrap_or(t)),
                };
                return format!("tools.{i}{tail}");
            }
        }
        dotted(param)
    }

    fn message_param(&self, param: &str) -> Option<String> {
        let rest = param.strip_prefix("messages[")?;
        let (k, rest) = rest.split_once(']')?;
        let message = self.messages.get(k.parse::<usize>().ok()?)?;
        if rest.is_empty() {
            return Some(message.at.clone());
        }
        if let Some(inner) = rest.strip_prefix(".content[") {
            let (j, tail) = inner.split_once(']')?;
            let block = message.blocks.get(j.parse::<usize>().ok()?)?;
            return Some(block_param(block, tail));
        }
        if let Some(inner) = rest.strip_prefix(".tool_calls[") {
            let (c, tail) = inner.split_once(']')?;
            let block = message
                .blocks
                .iter()
                .filter(|b| b.call)
                .nth(c.parse::<usize>().ok()?)?;
            let tail = tail.strip_prefix(".function").unwrap_or(tail);
            return Some(block_param(block, tail));
        }
        Some(format!("{}{}", message.at, dotted(rest)))
    }
}

/// A block's position with what follows it in a neutral param: a tool call's `arguments`
/// are its `input`; a tool result's `content[m]` its own.
fn block_param(block: &BlockOrigin, tail: &str) -> String {
    if tail == ".arguments" {
        return format!("{}.input", block.at);
    }
    if let Some(inner) = tail.strip_prefix(".content[") {
        if let Some((m, rest)) = inner.split_once(']') {
            let content = if block.text_content {
                format!("{}.content", block.at)
            } else {
                format!("{}.content.{m}", block.at)
            };
            return format!("{content}{}", dotted(rest));
        }
    }
    format!("{}{}", block.at, dotted(tail))
}

/// `a[1].b[2]` as Anthropic writes it: `a.1.b.2`.
fn dotted(param: &str) -> String {
    param.replace('[', ".").replace(']', "")
}

pub(super) struct Turns {
    pub(super) system: Vec<String>,
    pub(super) messages: Vec<Message>,
    pub(super) origins: Vec<MessageOrigin>,
}

pub(super) fn parse_messages(value: Option<&Value>) -> Parsed<Turns> {
    let items = match value {
        Some(Value::Array(items)) => items,
        Some(_) => return invalid("messages", "Input should be a valid array"),
        None => return invalid("messages", "Field required"),
    };
    if items.is_empty() {
        return invalid("messages", "must contain at least one message");
    }
    if items.len() > MAX_MESSAGES {
        return invalid(
            "messages",
            format!("may contain at most {MAX_MESSAGES} messages"),
        );
    }
    let mut turns = Turns {
        system: Vec::new(),
        messages: Vec::new(),
        origins: Vec::new(),
    };
    // Each call's tool name by id: Gemini's functionResponse names the function.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("messages.{i}");
        let m = object(item, &at)?;
        only_fields(m, &["role", "content"], &at)?;
        let role = required_str(m, "role", &at)?;
        let content_at = join(&at, "content");
        let Some(content) = present(m, "content") else {
            return invalid(content_at, "Field required");
        };
        let (role, blocks) = match role {
            "system" => {
                turns.system.push(system_text(content, &content_at)?);
                continue;
            }
            "user" => (
                Role::User,
                content_blocks(content, &content_at, Role::User, &mut call_names)?,
            ),
            "assistant" => (
                Role::Assistant,
                content_blocks(content, &content_at, Role::Assistant, &mut call_names)?,
            ),
            _ => {
                return invalid(
                    join(&at, "role"),
                    "Input should be 'user', 'assistant' or 'system'",
                )
            }
        };
        let (content, origins): (Vec<Block>, Vec<BlockOrigin>) = blocks.into_iter().unzip();
        turns.messages.push(Message { role, content });
        turns.origins.push(MessageOrigin {
            at,
            blocks: origins,
        });
    }
    if turns.messages.is_empty() {
        return invalid(
            "messages",
            "must include at least one user or assistant message",
        );
    }
    Ok(turns)
}

fn origin(at: &str) -> BlockOrigin {
    BlockOrigin {
        at: at.to_owned(),
        call: false,
        text_content: false,
    }
}

/// A turn's content: a string (one text block) or blocks, each checked for the role.
fn content_blocks(
    content: &Value,
    at: &str,
    role: Role,
    call_names: &mut HashMap<String, String>,
) -> Parsed<Vec<(Block, BlockOrigin)>> {
    let items = match content {
        Value::String(s) => return Ok(vec![(Block::Text(s.clone()), origin(at))]),
        Value::Array(items) => items,
        _ => return invalid(at, "must be a string or an array of content blocks"),
    };
    let mut blocks = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let bat = format!("{at}.{j}");
        let b = object(item, &bat)?;
        let kind = required_str(b, "type", &bat)?;
        let block = match (role, kind) {
            (_, "text") => (Block::Text(text_block(b, &bat)?), origin(&bat)),
            (Role::User, "image") => (image_block(b, &bat)?, origin(&bat)),
            (Role::User, "document") => (document_block(b, &bat)?, origin(&bat)),
            (Role::User, "tool_result") => tool_result_block(b, &bat, call_names)?,
            (Role::Assistant, "tool_use") => {
                let call = tool_use_block(b, &bat)?;
                call_names.insert(call.id.clone(), call.name.clone());
                let origin = BlockOrigin {
                    call: true,
                    ..origin(&bat)
                };
                (Block::ToolCall(call), origin)
            }
            (Role::Assistant, "thinking") => {
                only_fields(b, &["type", "thinking", "signature", "cache_control"], &bat)?;
                cache_control(b, &bat)?;
                let reasoning = Reasoning {
                    text: required_str(b, "thinking", &bat)?.to_owned(),
                    signature: Some(required_str(b, "signature", &bat)?)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    redacted: None,
                };
                (Block::Reasoning(reasoning), origin(&bat))
            }
            (Role::Assistant, "redacted_thinking") => {
                only_fields(b, &["type", "data", "cache_control"], &bat)?;
                cache_control(b, &bat)?;
                let reasoning = Reasoning {
                    redacted: Some(required_str(b, "data", &bat)?.to_owned()),
                    ..Reasoning::default()
                };
                (Block::Reasoning(reasoning), origin(&bat))
            }
            (Role::User, "tool_use" | "thinking" | "redacted_thinking") => {
                return invalid(
                    join(&bat, "type"),
                    format!("{kind} blocks belong to assistant turns"),
                )
            }
            (Role::Assistant, "image" | "document" | "tool_result") => {
                return invalid(
                    join(&bat, "type"),
                    format!("{kind} blocks belong to user turns"),
                )
            }
            (_, kind) if UNSUPPORTED_BLOCKS.contains(&kind) => {
                return invalid(
                    join(&bat, "type"),
                    format!("{kind} blocks are not supported by chatgate"),
                )
            }
            (Role::User, kind) => {
                return invalid(
                    join(&bat, "type"),
                    format!(
                        "must be text, image, document or tool_result, not {}",
                        shown(kind)
                    ),
                )
            }
            (Role::Assistant, kind) => {
                return invalid(
                    join(&bat, "type"),
                    format!(
                        "must be text, tool_use, thinking or redacted_thinking, not {}",
                        shown(kind)
                    ),
                )
            }
        };
        blocks.push(block);
    }
    Ok(blocks)
}

/// A `source` of `base64` or `url`; `file` (by id) is refused: chatgate has no file store.
fn media_source(s: &Map<String, Value>, at: &str, image: bool) -> Parsed<Media> {
    match required_str(s, "type", at)? {
        "base64" => {
            only_fields(s, &["type", "media_type", "data"], at)?;
            let media_type = required_str(s, "media_type", at)?.to_owned();
            let wanted = if image { "image/" } else { "" };
            if !media_type.starts_with(wanted) || !media_type.contains('/') {
                let what = if image {
                    "an image/* type"
                } else {
                    "a media type"
                };
                return invalid(join(at, "media_type"), format!("must be {what}"));
            }
            let data = required_str(s, "data", at)?;
            if !is_base64(data) {
                return invalid(
                    join(at, "data"),
                    "must be base64 (standard alphabet, padded)",
                );
            }
            Ok(Media::Base64 {
                media_type,
                data: data.to_owned(),
            })
        }
        "url" => {
            only_fields(s, &["type", "url"], at)?;
            let url = required_str(s, "url", at)?;
            let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
            match scheme.as_deref() {
                Some("https" | "http") if url.len() <= 8192 => Ok(Media::Url(url.to_owned())),
                _ => invalid(join(at, "url"), "must be an https URL"),
            }
        }
        "file" => invalid(
            join(at, "type"),
            "file is not supported: chatgate has no file store; send base64 or a URL",
        ),
        _ if image => invalid(join(at, "type"), "must be base64 or url"),
        _ => invalid(join(at, "type"), "must be base64, url or text"),
    }
}

fn image_block(b: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(b, &["type", "source", "cache_control"], at)?;
    cache_control(b, at)?;
    let sat = join(at, "source");
    let source = object(present(b, "source").unwrap_or(&Value::Null), &sat)?;
    Ok(Block::Image(media_source(source, &sat, true)?))
}

/// A PDF (or other bytes) as a document; a `text` source as a text block (module docs).
fn document_block(b: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(
        b,
        &[
            "type",
            "source",
            "title",
            "context",
            "citations",
            "cache_control",
        ],
        at,
    )?;
    cache_control(b, at)?;
    if present(b, "context").is_some() {
        return invalid(
            join(at, "context"),
            "is not supported by chatgate: put it in a text block",
        );
    }
    if let Some(c) = present(b, "citations") {
        let cat = join(at, "citations");
        let c = object(c, &cat)?;
        only_fields(c, &["enabled"], &cat)?;
        if opt_bool(c, "enabled", &cat)? == Some(true) {
            return invalid(
                join(&cat, "enabled"),
                "citations are not supported by chatgate",
            );
        }
    }
    let title = opt_str(b, "title", at)?;
    let sat = join(at, "source");
    let source = object(present(b, "source").unwrap_or(&Value::Null), &sat)?;
    match required_str(source, "type", &sat)? {
        "text" => {
            only_fields(source, &["type", "media_type", "data"], &sat)?;
            if required_str(source, "media_type", &sat)? != "text/plain" {
                return invalid(join(&sat, "media_type"), "Input should be 'text/plain'");
            }
            let data = required_str(source, "data", &sat)?;
            Ok(Block::Text(match title {
                Some(title) => format!("{title}\n\n{data}"),
                None => data.to_owned(),
            }))
        }
        "content" => invalid(
            join(&sat, "type"),
            "content is not supported by chatgate: send its blocks in the message",
        ),
        _ => Ok(Block::Document {
            media: media_source(source, &sat, false)?,
            name: title.map(str::to_owned),
        }),
    }
}

fn tool_use_block(b: &Map<String, Value>, at: &str) -> Parsed<ToolCall> {
    only_fields(
        b,
        &["type", "id", "name", "input", "cache_control", "caller"],
        at,
    )?;
    cache_control(b, at)?;
    if let Some(c) = present(b, "caller") {
        let cat = join(at, "caller");
        let c = object(c, &cat)?;
        only_fields(c, &["type"], &cat)?;
        if required_str(c, "type", &cat)? != "direct" {
            return invalid(
                join(&cat, "type"),
                "only direct calls are supported by chatgate",
            );
        }
    }
    let (id, signature) = split_signature(required_str(b, "id", at)?);
    let name = required_str(b, "name", at)?;
    let arguments = match present(b, "input") {
        Some(input @ Value::Object(_)) => input.to_string(),
        Some(_) => return invalid(join(at, "input"), "Input should be an object"),
        None => return invalid(join(at, "input"), "Field required"),
    };
    Ok(ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments,
        signature: signature.map(str::to_owned),
    })
}

fn tool_result_block(
    b: &Map<String, Value>,
    at: &str,
    call_names: &HashMap<String, String>,
) -> Parsed<(Block, BlockOrigin)> {
    only_fields(
        b,
        &[
            "type",
            "tool_use_id",
            "content",
            "is_error",
            "cache_control",
        ],
        at,
    )?;
    cache_control(b, at)?;
    let (call_id, _) = split_signature(required_str(b, "tool_use_id", at)?);
    let cat = join(at, "content");
    let (content, text_content) = match present(b, "content") {
        None => (Vec::new(), false),
        Some(Value::String(s)) => (vec![Block::Text(s.clone())], true),
        Some(Value::Array(items)) => {
            let mut content = Vec::with_capacity(items.len());
            for (m, item) in items.iter().enumerate() {
                let iat = format!("{cat}.{m}");
                let i = object(item, &iat)?;
                let block = match required_str(i, "type", &iat)? {
                    "text" => Block::Text(text_block(i, &iat)?),
                    "image" => image_block(i, &iat)?,
                    "document" => document_block(i, &iat)?,
                    other => {
                        return invalid(
                            join(&iat, "type"),
                            format!("must be text, image or document, not {}", shown(other)),
                        )
                    }
                };
                content.push(block);
            }
            (content, false)
        }
        Some(_) => return invalid(cat, "must be a string or an array of content blocks"),
    };
    let result = ToolResult {
        name: call_names.get(call_id).cloned(),
        call_id: call_id.to_owned(),
        content,
        is_error: opt_bool(b, "is_error", at)?.unwrap_or(false),
    };
    let origin = BlockOrigin {
        text_content,
        ..origin(at)
    };
    Ok((Block::ToolResult(result), origin))
}
