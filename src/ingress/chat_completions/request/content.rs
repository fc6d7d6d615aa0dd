//! The request's messages: each role's content (text, images, files, tool calls and
//! results) to neutral messages, with where each block came from (`Origins`).

use super::*;

/// Where each block of the neutral messages came from in the client's `messages`, so a
/// provider's refusal (`messages[k].content[j]`, neutral positions) names the client's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(Vec<(String, Vec<String>)>);

impl Origins {
    /// `err` with its parameter renamed from neutral positions to the client's.
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
        let rest = param.strip_prefix("messages[")?;
        let (k, rest) = rest.split_once(']')?;
        let (message, blocks) = self.0.get(k.parse::<usize>().ok()?)?;
        if let Some(inner) = rest.strip_prefix(".content[") {
            let (j, tail) = inner.split_once(']')?;
            let block = blocks.get(j.parse::<usize>().ok()?)?;
            return Some(format!("{block}{tail}"));
        }
        Some(format!("{message}{rest}"))
    }
}

pub(super) struct ParsedMessages {
    pub(super) system: Option<String>,
    pub(super) messages: Vec<Message>,
    pub(super) origins: Origins,
}

/// Builds the neutral turns as the client's messages are read, recording origins.
#[derive(Default)]
struct Turns {
    messages: Vec<Message>,
    origins: Vec<(String, Vec<String>)>,
    /// The last turn holds tool results only, so a next `tool` message joins it.
    open_tool_turn: bool,
}

impl Turns {
    fn push(&mut self, role: Role, at: &str, blocks: Vec<(Block, String)>) {
        let (content, from): (Vec<Block>, Vec<String>) = blocks.into_iter().unzip();
        self.messages.push(Message { role, content });
        self.origins.push((at.to_owned(), from));
        self.open_tool_turn = false;
    }

    fn push_tool_result(&mut self, at: &str, result: ToolResult) {
        if self.open_tool_turn {
            if let (Some(m), Some((_, from))) = (self.messages.last_mut(), self.origins.last_mut())
            {
                m.content.push(Block::ToolResult(result));
                from.push(at.to_owned());
                return;
            }
        }
        self.push(
            Role::User,
            at,
            vec![(Block::ToolResult(result), at.to_owned())],
        );
        self.open_tool_turn = true;
    }
}

pub(super) fn parse_messages(value: Option<&Value>) -> Parsed<ParsedMessages> {
    let items = match value {
        Some(Value::Array(items)) => items,
        Some(_) => return invalid("messages", "must be an array"),
        None => return invalid("messages", "is required"),
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
    let mut system = Vec::new();
    let mut turns = Turns::default();
    // Each call's tool name by id: Gemini's functionResponse names the function.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("messages[{i}]");
        let m = object(item, &at)?;
        if let Some(key) = m.keys().find(|k| !MESSAGE_FIELDS.contains(&k.as_str())) {
            return invalid(
                format!("{at}.{}", shown(key)),
                "is not a recognized message field",
            );
        }
        for key in ["function_call", "audio"] {
            if present(m, key).is_some() {
                return invalid(format!("{at}.{key}"), "is not supported by chatgate");
            }
        }
        let role = match present(m, "role") {
            Some(Value::String(role)) => role.as_str(),
            _ => return invalid(format!("{at}.role"), "is required"),
        };
        let allowed: &[&str] = match role {
            "system" | "developer" => &["role", "content", "name"],
            "user" => &["role", "content", "name"],
            "assistant" => &[
                "role",
                "content",
                "name",
                "tool_calls",
                "refusal",
                "reasoning_content",
                "thinking_blocks",
            ],
            "tool" => &["role", "content", "tool_call_id"],
            "function" => {
                return invalid(
                    format!("{at}.role"),
                    "function is not supported by chatgate: use tool",
                )
            }
            _ => {
                return invalid(
                    format!("{at}.role"),
                    "must be one of system, developer, user, assistant, tool",
                )
            }
        };
        if let Some(key) = m
            .keys()
            .find(|k| !allowed.contains(&k.as_str()) && !m[*k].is_null())
        {
            return invalid(
                format!("{at}.{key}"),
                format!("is not a field of a {role} message"),
            );
        }
        let content_at = format!("{at}.content");
        match role {
            "system" | "developer" => {
                system.push(text_content(present(m, "content"), &content_at)?)
            }
            "user" => {
                let blocks = user_content(present(m, "content"), &content_at)?;
                turns.push(Role::User, &at, blocks);
            }
            "assistant" => {
                let blocks = assistant_blocks(m, &at, &mut call_names)?;
                turns.push(Role::Assistant, &at, blocks);
            }
            _ => {
                let call_id = match str_field(m, "tool_call_id", &at)? {
                    Some(id) => split_signature(id).0.to_owned(),
                    None => return invalid(format!("{at}.tool_call_id"), "is required"),
                };
                let text = text_content(present(m, "content"), &content_at)?;
                turns.push_tool_result(
                    &at,
                    ToolResult {
                        name: call_names.get(&call_id).cloned(),
                        call_id,
                        content: vec![Block::Text(text)],
                        is_error: false,
                    },
                );
            }
        }
    }
    if turns.messages.is_empty() {
        return invalid(
            "messages",
            "must include at least one user or assistant message",
        );
    }
    Ok(ParsedMessages {
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: turns.messages,
        origins: Origins(turns.origins),
    })
}

/// A string, or text parts joined by newlines.
fn text_content(value: Option<&Value>, at: &str) -> Parsed<String> {
    let parts = match value {
        Some(Value::String(s)) => return Ok(s.clone()),
        Some(Value::Array(parts)) => parts,
        Some(_) => return invalid(at, "must be a string or an array of text parts"),
        None => return invalid(at, "is required"),
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let pat = format!("{at}[{j}]");
        let p = object(part, &pat)?;
        match str_field(p, "type", &pat)? {
            Some("text") => texts.push(text_part(p, &pat)?),
            Some(other) => {
                return invalid(
                    format!("{pat}.type"),
                    format!("must be text here, not {}", shown(other)),
                )
            }
            None => return invalid(format!("{pat}.type"), "is required"),
        }
    }
    Ok(texts.join("\n"))
}

fn text_part<'a>(p: &'a Map<String, Value>, at: &str) -> Parsed<&'a str> {
    only_fields(p, &["type", "text"], at)?;
    str_field(p, "text", at)?.map_or_else(|| invalid(format!("{at}.text"), "must be a string"), Ok)
}

/// A user message's content: text, images, files.
fn user_content(value: Option<&Value>, at: &str) -> Parsed<Vec<(Block, String)>> {
    let parts = match value {
        Some(Value::String(s)) => return Ok(vec![(Block::Text(s.clone()), at.to_owned())]),
        Some(Value::Array(parts)) => parts,
        Some(_) => return invalid(at, "must be a string or an array of content parts"),
        None => return invalid(at, "is required"),
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let pat = format!("{at}[{j}]");
        let p = object(part, &pat)?;
        let block = match str_field(p, "type", &pat)? {
            Some("text") => Block::Text(text_part(p, &pat)?.to_owned()),
            Some("image_url") => image_part(p, &pat)?,
            Some("file") => file_part(p, &pat)?,
            Some("input_audio") => {
                return invalid(
                    format!("{pat}.type"),
                    "input_audio is not supported by chatgate",
                )
            }
            Some(other) => {
                return invalid(
                    format!("{pat}.type"),
                    format!("must be text, image_url or file, not {}", shown(other)),
                )
            }
            None => return invalid(format!("{pat}.type"), "is required"),
        };
        blocks.push((block, pat));
    }
    Ok(blocks)
}

fn image_part(p: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(p, &["type", "image_url"], at)?;
    let iat = format!("{at}.image_url");
    // The object form is OpenAI's; a bare string is accepted as LiteLLM does.
    let url = match p.get("image_url") {
        Some(Value::String(url)) => url.as_str(),
        Some(Value::Object(o)) => {
            only_fields(o, &["url", "detail"], &iat)?;
            match str_field(o, "detail", &iat)? {
                None | Some("auto") => {}
                Some("low" | "high") => {
                    return invalid(
                        format!("{iat}.detail"),
                        "is not supported by chatgate: only auto (the default) is relayed",
                    )
                }
                Some(_) => return invalid(format!("{iat}.detail"), "must be auto, low or high"),
            }
            str_field(o, "url", &iat)?
                .map_or_else(|| invalid(format!("{iat}.url"), "is required"), Ok)?
        }
        _ => return invalid(&iat, "must be an object with a url"),
    };
    let uat = format!("{iat}.url");
    let media = media_url(url).or_else(|p| invalid(&uat, p))?;
    if media.media_type().is_some_and(|t| !t.starts_with("image/")) {
        return invalid(uat, "must be an image (a data URL of an image/* type)");
    }
    Ok(Block::Image(media))
}

fn file_part(p: &Map<String, Value>, at: &str) -> Parsed<Block> {
    only_fields(p, &["type", "file"], at)?;
    let fat = format!("{at}.file");
    let f = object(p.get("file").unwrap_or(&Value::Null), &fat)?;
    only_fields(f, &["file_data", "file_id", "filename"], &fat)?;
    if str_field(f, "file_id", &fat)?.is_some() {
        return invalid(
            format!("{fat}.file_id"),
            "is not supported: chatgate has no file store; send file_data (base64)",
        );
    }
    let name = str_field(f, "filename", &fat)?.map(str::to_owned);
    let dat = format!("{fat}.file_data");
    let Some(data) = str_field(f, "file_data", &fat)? else {
        return invalid(dat, "is required");
    };
    let media = if data.starts_with("data:") {
        media_url(data).or_else(|p| invalid(&dat, p))?
    } else if is_base64(data) {
        // OpenAI's SDKs document plain base64 too; its files are PDFs.
        Media::Base64 {
            media_type: "application/pdf".into(),
            data: data.to_owned(),
        }
    } else {
        return invalid(dat, "must be base64 or a data: URL");
    };
    Ok(Block::Document { media, name })
}

/// An assistant message's blocks, in the order providers need: reasoning, text, refusal,
/// tool calls.
fn assistant_blocks(
    m: &Map<String, Value>,
    at: &str,
    call_names: &mut HashMap<String, String>,
) -> Parsed<Vec<(Block, String)>> {
    let mut blocks = Vec::new();
    if let Some(thinking) = present(m, "thinking_blocks") {
        let tat = format!("{at}.thinking_blocks");
        let Value::Array(items) = thinking else {
            return invalid(tat, "must be an array");
        };
        for (j, item) in items.iter().enumerate() {
            let bat = format!("{tat}[{j}]");
            let b = object(item, &bat)?;
            let reasoning = match str_field(b, "type", &bat)? {
                Some("thinking") => {
                    only_fields(b, &["type", "thinking", "signature", "cache_control"], &bat)?;
                    Reasoning {
                        text: str_field(b, "thinking", &bat)?.unwrap_or("").to_owned(),
                        signature: str_field(b, "signature", &bat)?.map(str::to_owned),
                        redacted: None,
                    }
                }
                Some("redacted_thinking") => {
                    only_fields(b, &["type", "data", "cache_control"], &bat)?;
                    let Some(data) = str_field(b, "data", &bat)? else {
                        return invalid(format!("{bat}.data"), "is required");
                    };
                    Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some(data.to_owned()),
                    }
                }
                _ => {
                    return invalid(
                        format!("{bat}.type"),
                        "must be thinking or redacted_thinking",
                    )
                }
            };
            blocks.push((Block::Reasoning(reasoning), bat));
        }
    } else if let Some(text) = str_field(m, "reasoning_content", at)? {
        if !text.is_empty() {
            let block = Block::Reasoning(Reasoning {
                text: text.to_owned(),
                ..Reasoning::default()
            });
            blocks.push((block, format!("{at}.reasoning_content")));
        }
    }
    let content_at = format!("{at}.content");
    match present(m, "content") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => blocks.push((Block::Text(s.clone()), content_at.clone())),
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let pat = format!("{content_at}[{j}]");
                let p = object(part, &pat)?;
                let block = match str_field(p, "type", &pat)? {
                    Some("text") => Block::Text(text_part(p, &pat)?.to_owned()),
                    Some("refusal") => {
                        only_fields(p, &["type", "refusal"], &pat)?;
                        let r = str_field(p, "refusal", &pat)?;
                        Block::Refusal(
                            r.map_or_else(
                                || invalid(format!("{pat}.refusal"), "must be a string"),
                                Ok,
                            )?
                            .to_owned(),
                        )
                    }
                    _ => return invalid(format!("{pat}.type"), "must be text or refusal"),
                };
                blocks.push((block, pat));
            }
        }
        Some(_) => return invalid(content_at, "must be a string, an array of parts, or null"),
    }
    if let Some(r) = str_field(m, "refusal", at)? {
        blocks.push((Block::Refusal(r.to_owned()), format!("{at}.refusal")));
    }
    if let Some(calls) = present(m, "tool_calls") {
        let cat = format!("{at}.tool_calls");
        let Value::Array(items) = calls else {
            return invalid(cat, "must be an array");
        };
        for (j, item) in items.iter().enumerate() {
            let tat = format!("{cat}[{j}]");
            let c = object(item, &tat)?;
            only_fields(c, &["id", "type", "function"], &tat)?;
            if str_field(c, "type", &tat)?.is_some_and(|t| t != "function") {
                return invalid(format!("{tat}.type"), "must be function");
            }
            let Some(raw_id) = str_field(c, "id", &tat)? else {
                return invalid(format!("{tat}.id"), "is required");
            };
            let fat = format!("{tat}.function");
            let f = object(c.get("function").unwrap_or(&Value::Null), &fat)?;
            only_fields(f, &["name", "arguments"], &fat)?;
            let Some(name) = str_field(f, "name", &fat)? else {
                return invalid(format!("{fat}.name"), "is required");
            };
            let arguments = str_field(f, "arguments", &fat)?.unwrap_or("{}");
            let (id, signature) = split_signature(raw_id);
            call_names.insert(id.to_owned(), name.to_owned());
            let call = ToolCall {
                id: id.to_owned(),
                name: name.to_owned(),
                arguments: arguments.to_owned(),
                signature: signature.map(str::to_owned),
            };
            blocks.push((Block::ToolCall(call), tat));
        }
    }
    if blocks.is_empty() && present(m, "content").is_none() {
        return invalid(
            content_at,
            "is required unless tool_calls or refusal is given",
        );
    }
    Ok(blocks)
}
