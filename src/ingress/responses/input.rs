//! The input: `input` items (or a string) to neutral turns and the system prompt, recording
//! where each block came from (`Origins`) so a provider's refusal names the client's own
//! parameter.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::fields::{invalid, object, only_fields, opt_str, present, req_str, shown, Parsed};
use super::{ENCRYPTED_REDACTED, ENCRYPTED_SIGNATURE};
use crate::error::ApiError;
use crate::ingress::chat_completions::MAX_MESSAGES;
use crate::ingress::wire::{is_base64, media_url, split_signature};
use crate::providers::{Block, Media, Message, Reasoning, Role, ToolCall, ToolResult};

/// Hosted tools and their items: OpenAI runs them server-side; chatgate does not.
#[rustfmt::skip]
const BUILT_IN_ITEMS: &[&str] = &[
    "file_search_call", "computer_call", "computer_call_output", "web_search_call",
    "image_generation_call", "code_interpreter_call", "local_shell_call", "local_shell_call_output",
    "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_list_tools",
    "mcp_approval_request", "mcp_approval_response", "mcp_call", "custom_tool_call",
    "custom_tool_call_output", "tool_search_call", "tool_search_output", "additional_tools",
    "compaction", "compaction_trigger", "program", "program_output", "configuration_update",
];

/// Where each block of the neutral messages came from in the client's `input`, so a
/// provider's refusal (in Chat Completions' names and neutral positions, see
/// `providers::Unsupported`) names the client's own parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins {
    /// Per neutral message: the item it starts at, and each block's origin.
    messages: Vec<(String, Vec<BlockOrigin>)>,
    /// Which parameter asked for logprobs: `include` or `top_logprobs`.
    logprobs_from: &'static str,
    /// Which parameter the neutral `user` came from: `user` or `safety_identifier`.
    user_from: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockOrigin {
    at: String,
    kind: BlockKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    Part,
    Call,
    /// A `function_call_output`: its content is `output`.
    Result,
}

impl Origins {
    /// Which parameters asked for logprobs (`include` or `top_logprobs`) and gave the end
    /// user (`user` or `safety_identifier`).
    pub(super) fn with_sources(self, logprobs_from: &'static str, user_from: &'static str) -> Self {
        Origins {
            logprobs_from,
            user_from,
            ..self
        }
    }

    /// `err` with its parameter renamed from the neutral (Chat Completions) names to this
    /// format's: `messages[k].content[j]` to the input item or part it came from,
    /// `tools[i].function.parameters` to `tools[i].parameters`, `response_format` to
    /// `text.format`, `max_tokens` to `max_output_tokens`…
    pub fn rename(&self, err: ApiError) -> ApiError {
        let ApiError::InvalidParam { param, detail } = err else {
            return err;
        };
        match self.client_param(&param) {
            Some(renamed) => ApiError::InvalidParam {
                detail: detail.replacen(&param, &renamed, 1),
                param: renamed,
            },
            None => ApiError::InvalidParam { param, detail },
        }
    }

    fn client_param(&self, param: &str) -> Option<String> {
        if let Some(rest) = param.strip_prefix("messages[") {
            return self.input_param(rest);
        }
        if let Some(rest) = param.strip_prefix("tools[") {
            let (i, tail) = rest.split_once(']')?;
            let tail = tail.strip_prefix(".function").unwrap_or(tail);
            return Some(format!("tools[{i}]{tail}"));
        }
        if let Some(rest) = param.strip_prefix("response_format") {
            let rest = rest.strip_prefix(".json_schema").unwrap_or(rest);
            return Some(format!("text.format{rest}"));
        }
        let renamed = match param {
            "tool_choice.function.name" => "tool_choice.name",
            "max_tokens" | "max_completion_tokens" => "max_output_tokens",
            "reasoning_effort" | "thinking" | "thinking.budget_tokens" | "thinking.type" => {
                "reasoning.effort"
            }
            "verbosity" => "text.verbosity",
            "logprobs" => self.logprobs_from,
            "user" => self.user_from,
            _ => return None,
        };
        Some(renamed.to_owned())
    }

    /// `messages[` already taken off.
    fn input_param(&self, rest: &str) -> Option<String> {
        let (k, rest) = rest.split_once(']')?;
        let (message, blocks) = self.messages.get(k.parse::<usize>().ok()?)?;
        if let Some(inner) = rest.strip_prefix(".content[") {
            let (j, tail) = inner.split_once(']')?;
            let block = blocks.get(j.parse::<usize>().ok()?)?;
            let tail = match (block.kind, tail.strip_prefix(".content[")) {
                (BlockKind::Result, Some(inner)) => format!(".output[{inner}"),
                _ => tail.to_owned(),
            };
            return Some(format!("{}{tail}", block.at));
        }
        if let Some(inner) = rest.strip_prefix(".tool_calls[") {
            // The n-th tool call of the message: `.function.arguments` is the item's own.
            let (n, tail) = inner.split_once(']')?;
            let call = blocks
                .iter()
                .filter(|b| b.kind == BlockKind::Call)
                .nth(n.parse::<usize>().ok()?)?;
            let tail = tail.strip_prefix(".function").unwrap_or(tail);
            return Some(format!("{}{tail}", call.at));
        }
        Some(format!("{message}{rest}"))
    }
}

pub(super) struct ParsedInput {
    /// The system and developer messages' text, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub origins: Origins,
}

/// Builds the neutral turns as the items are read. An assistant's items (its messages,
/// function calls and reasoning) that follow one another make one assistant turn, as one
/// Chat Completions message holds text and tool calls; function call outputs that follow
/// one another make one user turn.
#[derive(Default)]
struct Turns {
    messages: Vec<Message>,
    origins: Vec<(String, Vec<BlockOrigin>)>,
    /// The last turn holds tool results only, so a next output joins it.
    open_results: bool,
}

impl Turns {
    fn push(&mut self, role: Role, at: &str, blocks: Vec<(Block, BlockOrigin)>) {
        let joins = match role {
            Role::Assistant => self.messages.last().is_some_and(|m| m.role == role),
            Role::User => {
                self.open_results
                    && blocks
                        .iter()
                        .all(|(b, _)| matches!(b, Block::ToolResult(_)))
            }
        };
        let (content, from): (Vec<Block>, Vec<BlockOrigin>) = blocks.into_iter().unzip();
        self.open_results =
            role == Role::User && content.iter().all(|b| matches!(b, Block::ToolResult(_)));
        if let (true, Some(m), Some((_, origins))) =
            (joins, self.messages.last_mut(), self.origins.last_mut())
        {
            m.content.extend(content);
            origins.extend(from);
            return;
        }
        self.messages.push(Message { role, content });
        self.origins.push((at.to_owned(), from));
    }
}

pub(super) fn parse_input(value: Option<&Value>) -> Parsed<ParsedInput> {
    let items = match value {
        Some(Value::String(s)) => {
            return Ok(ParsedInput {
                system: Vec::new(),
                messages: vec![Message::user(s.clone())],
                origins: Origins {
                    messages: vec![("input".into(), vec![part_origin("input".into())])],
                    ..Origins::default()
                },
            })
        }
        Some(Value::Array(items)) => items,
        Some(_) => return invalid("input", "must be a string or an array of items"),
        None => return invalid("input", "is required"),
    };
    if items.is_empty() {
        return invalid("input", "must contain at least one item");
    }
    if items.len() > MAX_MESSAGES {
        return invalid("input", format!("may contain at most {MAX_MESSAGES} items"));
    }
    let mut system = Vec::new();
    let mut turns = Turns::default();
    // Each call's function name by id: Gemini's functionResponse names the function.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let it = object(item, &at)?;
        let kind = match opt_str(it, "type", &at)? {
            Some(kind) => kind,
            // EasyInputMessage: a message may leave its type out.
            None if it.contains_key("role") => "message",
            None => return invalid(format!("{at}.type"), "is required"),
        };
        match kind {
            "message" => match message(it, &at)? {
                Item::System(text) => system.push(text),
                Item::Turn(role, blocks) => turns.push(role, &at, blocks),
            },
            "function_call" => {
                let call = function_call(it, &at)?;
                call_names.insert(call.id.clone(), call.name.clone());
                let origin = BlockOrigin {
                    at: at.clone(),
                    kind: BlockKind::Call,
                };
                turns.push(Role::Assistant, &at, vec![(Block::ToolCall(call), origin)]);
            }
            "function_call_output" => {
                let mut result = function_call_output(it, &at)?;
                if result.name.is_none() {
                    result.name = call_names.get(&result.call_id).cloned();
                }
                let origin = BlockOrigin {
                    at: at.clone(),
                    kind: BlockKind::Result,
                };
                turns.push(Role::User, &at, vec![(Block::ToolResult(result), origin)]);
            }
            "reasoning" => {
                if let Some(r) = reasoning(it, &at)? {
                    let origin = BlockOrigin {
                        at: at.clone(),
                        kind: BlockKind::Part,
                    };
                    turns.push(Role::Assistant, &at, vec![(Block::Reasoning(r), origin)]);
                }
            }
            "item_reference" => {
                return invalid(
                    format!("{at}.type"),
                    "item_reference is not supported: chatgate is stateless and keeps no \
                     items; send the item itself",
                )
            }
            other if BUILT_IN_ITEMS.contains(&other) => {
                return invalid(
                    format!("{at}.type"),
                    format!(
                        "{other} is not supported: it belongs to a tool OpenAI runs itself, \
                         and chatgate relays function tools only"
                    ),
                )
            }
            _ => {
                return invalid(
                    format!("{at}.type"),
                    "must be message, function_call, function_call_output or reasoning",
                )
            }
        }
    }
    if turns.messages.is_empty() {
        return invalid(
            "input",
            "must include at least one item other than system and developer messages",
        );
    }
    Ok(ParsedInput {
        system,
        messages: turns.messages,
        origins: Origins {
            messages: turns.origins,
            ..Origins::default()
        },
    })
}

enum Item {
    System(String),
    Turn(Role, Vec<(Block, BlockOrigin)>),
}

fn part_origin(at: String) -> BlockOrigin {
    BlockOrigin {
        at,
        kind: BlockKind::Part,
    }
}

/// A message item: `EasyInputMessage`, an input message, or an earlier output message.
fn message(m: &Map<String, Value>, at: &str) -> Parsed<Item> {
    only_fields(m, &["type", "role", "content", "id", "status", "phase"], at)?;
    item_echo(m, at)?;
    let role = req_str(m, "role", at)?;
    if !matches!(role, "user" | "assistant" | "system" | "developer") {
        return bad_role(at);
    }
    let content_at = format!("{at}.content");
    let parts = match present(m, "content") {
        Some(Value::String(s)) => {
            let text = Block::Text(s.clone());
            return Ok(match role {
                "system" | "developer" => Item::System(s.clone()),
                "user" => Item::Turn(Role::User, vec![(text, part_origin(content_at))]),
                "assistant" => Item::Turn(Role::Assistant, vec![(text, part_origin(content_at))]),
                _ => return bad_role(at),
            });
        }
        Some(Value::Array(parts)) => parts,
        Some(_) => return invalid(content_at, "must be a string or an array of content parts"),
        None => return invalid(content_at, "is required"),
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let pat = format!("{content_at}[{j}]");
        let p = object(part, &pat)?;
        let kind = req_str(p, "type", &pat)?;
        let block = match (role, kind) {
            (_, "input_text") | ("assistant", "output_text") => text_part(p, &pat)?,
            ("assistant", "refusal") => {
                only_fields(p, &["type", "refusal"], &pat)?;
                Block::Refusal(req_str(p, "refusal", &pat)?.to_owned())
            }
            ("user", "input_image") => image_part(p, &pat)?,
            ("user", "input_file") => file_part(p, &pat)?,
            ("user", "input_audio") => {
                return invalid(
                    format!("{pat}.type"),
                    "input_audio is not supported by chatgate",
                )
            }
            ("user", other) => {
                return invalid(
                    format!("{pat}.type"),
                    format!(
                        "must be input_text, input_image or input_file, not {}",
                        shown(other)
                    ),
                )
            }
            ("assistant", other) => {
                return invalid(
                    format!("{pat}.type"),
                    format!("must be output_text or refusal, not {}", shown(other)),
                )
            }
            ("system" | "developer", other) => {
                return invalid(
                    format!("{pat}.type"),
                    format!(
                        "must be input_text: {role} messages take text only, not {}",
                        shown(other)
                    ),
                )
            }
            _ => return bad_role(at),
        };
        blocks.push((block, part_origin(pat)));
    }
    Ok(match role {
        "system" | "developer" => Item::System(
            blocks
                .into_iter()
                .filter_map(|(b, _)| match b {
                    Block::Text(t) => Some(t),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        "user" => Item::Turn(Role::User, blocks),
        _ => Item::Turn(Role::Assistant, blocks),
    })
}

/// What an earlier reply's item carries back besides its content — its `id`, `status` and
/// (a message's) `phase` — checked and not relayed.
fn item_echo(it: &Map<String, Value>, at: &str) -> Parsed<()> {
    opt_str(it, "id", at)?;
    match opt_str(it, "status", at)? {
        None | Some("in_progress" | "completed" | "incomplete") => {}
        Some(_) => {
            return invalid(
                format!("{at}.status"),
                "must be in_progress, completed or incomplete",
            )
        }
    }
    match opt_str(it, "phase", at)? {
        None | Some("commentary" | "final_answer") => Ok(()),
        Some(_) => invalid(format!("{at}.phase"), "must be commentary or final_answer"),
    }
}

fn bad_role<T>(at: &str) -> Parsed<T> {
    invalid(
        format!("{at}.role"),
        "must be one of user, assistant, system, developer",
    )
}

/// `input_text`, or an earlier reply's `output_text` (its annotations and logprobs are the
/// reply's own, not sent back to a model).
fn text_part(p: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(p, &["type", "text", "annotations", "logprobs"], at)?;
    for key in ["annotations", "logprobs"] {
        if present(p, key).is_some_and(|v| !v.is_array()) {
            return invalid(format!("{at}.{key}"), "must be an array");
        }
    }
    Ok(Block::Text(req_str(p, "text", at)?.to_owned()))
}

/// A `detail` other than `auto`: no provider but OpenAI has it, and the neutral model does
/// not carry it.
fn auto_detail(p: &Map<String, Value>, at: &str, levels: &str) -> Parsed<()> {
    match opt_str(p, "detail", at)? {
        None | Some("auto") => Ok(()),
        Some(other) if levels.split(", ").any(|l| l == other) => invalid(
            format!("{at}.detail"),
            "is not supported by chatgate: only auto (the default) is relayed",
        ),
        Some(_) => invalid(format!("{at}.detail"), format!("must be auto, {levels}")),
    }
}

fn no_file_id(p: &Map<String, Value>, at: &str, instead: &str) -> Parsed<()> {
    match opt_str(p, "file_id", at)? {
        Some(_) => invalid(
            format!("{at}.file_id"),
            format!("is not supported: chatgate has no file store; send {instead}"),
        ),
        None => Ok(()),
    }
}

fn image_part(p: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(p, &["type", "image_url", "file_id", "detail"], at)?;
    no_file_id(p, at, "image_url (an https URL or a base64 data: URL)")?;
    auto_detail(p, at, "low, high, original")?;
    let uat = format!("{at}.image_url");
    let media = media_url(req_str(p, "image_url", at)?).or_else(|p| invalid(&uat, p))?;
    if media.media_type().is_some_and(|t| !t.starts_with("image/")) {
        return invalid(uat, "must be an image (a data URL of an image/* type)");
    }
    Ok(Block::Image(media))
}

fn file_part(p: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(
        p,
        &[
            "type",
            "file_data",
            "file_url",
            "file_id",
            "filename",
            "detail",
        ],
        at,
    )?;
    no_file_id(p, at, "file_data (base64) or file_url")?;
    auto_detail(p, at, "low, high")?;
    let name = opt_str(p, "filename", at)?.map(str::to_owned);
    let media = match (opt_str(p, "file_data", at)?, opt_str(p, "file_url", at)?) {
        (Some(_), Some(_)) => {
            return invalid(
                format!("{at}.file_url"),
                "cannot be given with file_data: send one",
            )
        }
        (Some(data), None) => {
            let dat = format!("{at}.file_data");
            if data.starts_with("data:") {
                media_url(data).or_else(|p| invalid(&dat, p))?
            } else if is_base64(data) {
                // OpenAI's guide sends PDFs as data URLs; bare base64 is read as one.
                Media::Base64 {
                    media_type: "application/pdf".into(),
                    data: data.to_owned(),
                }
            } else {
                return invalid(dat, "must be base64 or a data: URL");
            }
        }
        (None, Some(url)) => {
            match media_url(url).or_else(|p| invalid(format!("{at}.file_url"), p))? {
                Media::Url(url) => Media::Url(url),
                Media::Base64 { .. } => {
                    return invalid(
                        format!("{at}.file_url"),
                        "must be an https URL (send bytes in file_data)",
                    )
                }
            }
        }
        (None, None) => {
            return invalid(
                format!("{at}.file_data"),
                "is required (or file_url): chatgate has no file store",
            )
        }
    };
    Ok(Block::Document { media, name })
}

/// The fields a function call or its output may carry besides its own: an earlier reply's
/// `id` and `status`, and OpenAI's programmatic callers and namespaces, which chatgate does
/// not have (only their defaults pass).
fn call_extras(c: &Map<String, Value>, at: &str) -> Parsed<()> {
    if let Some(ns) = opt_str(c, "namespace", at)? {
        return invalid(
            format!("{at}.namespace"),
            format!(
                "{} is not supported: chatgate has no tool namespaces",
                shown(ns)
            ),
        );
    }
    match present(c, "caller") {
        None => Ok(()),
        Some(v) if v.get("type").and_then(Value::as_str) == Some("direct") => Ok(()),
        Some(_) => invalid(
            format!("{at}.caller"),
            "is not supported: only direct calls are relayed",
        ),
    }
}

fn function_call(c: &Map<String, Value>, at: &str) -> Parsed<ToolCall> {
    only_fields(
        c,
        &[
            "type",
            "call_id",
            "name",
            "arguments",
            "id",
            "status",
            "namespace",
            "caller",
        ],
        at,
    )?;
    call_extras(c, at)?;
    item_echo(c, at)?;
    let (id, signature) = split_signature(req_str(c, "call_id", at)?);
    Ok(ToolCall {
        id: id.to_owned(),
        name: req_str(c, "name", at)?.to_owned(),
        arguments: req_str(c, "arguments", at)?.to_owned(),
        signature: signature.map(str::to_owned),
    })
}

fn function_call_output(c: &Map<String, Value>, at: &str) -> Parsed<ToolResult> {
    only_fields(
        c,
        &[
            "type",
            "call_id",
            "output",
            "id",
            "status",
            "name",
            "namespace",
            "caller",
        ],
        at,
    )?;
    call_extras(c, at)?;
    item_echo(c, at)?;
    let call_id = split_signature(req_str(c, "call_id", at)?).0.to_owned();
    let oat = format!("{at}.output");
    let content = match present(c, "output") {
        Some(Value::String(s)) => vec![Block::Text(s.clone())],
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let pat = format!("{oat}[{j}]");
                let p = object(part, &pat)?;
                blocks.push(match req_str(p, "type", &pat)? {
                    "input_text" => text_part(p, &pat)?,
                    "input_image" => image_part(p, &pat)?,
                    "input_file" => file_part(p, &pat)?,
                    other => {
                        return invalid(
                            format!("{pat}.type"),
                            format!(
                                "must be input_text, input_image or input_file, not {}",
                                shown(other)
                            ),
                        )
                    }
                });
            }
            blocks
        }
        Some(_) => return invalid(oat, "must be a string or an array of content parts"),
        None => return invalid(oat, "is required"),
    };
    Ok(ToolResult {
        call_id,
        name: opt_str(c, "name", at)?.map(str::to_owned),
        content,
        is_error: false,
    })
}

/// A reasoning item sent back: its summary (else its reasoning text) is the text, and
/// `encrypted_content` what chatgate wrote there (see the module docs). `None` for an item
/// that carries nothing.
fn reasoning(r: &Map<String, Value>, at: &str) -> Parsed<Option<Reasoning>> {
    only_fields(
        r,
        &[
            "type",
            "id",
            "summary",
            "content",
            "encrypted_content",
            "status",
        ],
        at,
    )?;
    item_echo(r, at)?;
    let texts = |key: &str, kind: &str| -> Parsed<Vec<String>> {
        let kat = format!("{at}.{key}");
        let parts = match present(r, key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(parts)) => parts,
            Some(_) => return invalid(kat, "must be an array"),
        };
        let mut out = Vec::with_capacity(parts.len());
        for (j, part) in parts.iter().enumerate() {
            let pat = format!("{kat}[{j}]");
            let p = object(part, &pat)?;
            only_fields(p, &["type", "text"], &pat)?;
            if req_str(p, "type", &pat)? != kind {
                return invalid(format!("{pat}.type"), format!("must be {kind}"));
            }
            out.push(req_str(p, "text", &pat)?.to_owned());
        }
        Ok(out)
    };
    if present(r, "summary").is_none() {
        return invalid(format!("{at}.summary"), "is required");
    }
    let summary = texts("summary", "summary_text")?;
    let content = texts("content", "reasoning_text")?;
    let text = if summary.is_empty() { content } else { summary }.join("\n\n");
    let mut block = Reasoning {
        text,
        ..Reasoning::default()
    };
    if let Some(encrypted) = opt_str(r, "encrypted_content", at)? {
        if let Some(sig) = encrypted.strip_prefix(ENCRYPTED_SIGNATURE) {
            block.signature = Some(sig.to_owned());
        } else if let Some(data) = encrypted.strip_prefix(ENCRYPTED_REDACTED) {
            block.redacted = Some(data.to_owned());
        } else {
            return invalid(
                format!("{at}.encrypted_content"),
                "is not reasoning chatgate returned: OpenAI's own encrypted reasoning cannot \
                 be relayed to any model (chatgate reaches OpenAI through Chat Completions); \
                 leave it out",
            );
        }
    }
    let empty = block.text.is_empty() && block.signature.is_none() && block.redacted.is_none();
    Ok((!empty).then_some(block))
}
