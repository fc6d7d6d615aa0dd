//! The request: Chat Completions' JSON to a neutral `ChatRequest`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::domain::model_id::ModelId;
use crate::error::ApiError;
use crate::ingress::wire::{
    integer, is_base64, media_url, positive, present, shown, split_signature,
};
use crate::providers::{
    Block, ChatRequest, Effort, Media, Message, ProviderKind, Reasoning, ReasoningRequest,
    ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};

pub const MAX_MESSAGES: usize = 1000;
pub const MAX_STOP_SEQUENCES: usize = 4;
pub const MAX_TOOLS: usize = 128;
pub const MAX_TOP_LOGPROBS: i64 = 20;

/// A parsed request: the model, the neutral request, and what only this format needs.
#[derive(Clone, Debug)]
pub struct CompletionRequest {
    pub model: ModelId,
    pub chat: ChatRequest,
    /// `stream_options.include_usage`: send the final usage chunk.
    pub include_usage: bool,
    /// Where each neutral block came from, to name a provider's refusal in this format.
    pub origins: Origins,
}

/// Read and translated by chatgate itself, for every provider.
#[rustfmt::skip]
const HANDLED: &[&str] = &[
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "stop", "n", "user", "seed", "logprobs", "top_logprobs", "tools",
    "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "thinking",
];
/// Tuning only OpenAI has: passed to OpenAI verbatim; for another provider refused unless
/// at its default (then it changes nothing). Null counts as absent everywhere.
#[rustfmt::skip]
const OPENAI_ONLY: &[&str] = &[
    "frequency_penalty", "presence_penalty", "logit_bias", "service_tier", "metadata", "store",
    "prediction", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
    "prompt_cache_retention", "modalities",
];
/// In OpenAI's schema, but chatgate does not carry them: audio output, and the legacy
/// functions (use `tools`).
const UNSUPPORTED: &[&str] = &["functions", "function_call", "audio"];
#[rustfmt::skip]
const MESSAGE_FIELDS: &[&str] = &[
    "role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "audio",
    "reasoning_content", "thinking_blocks",
];

/// Whether an OpenAI-only field's value is the one that changes nothing. Hints about
/// OpenAI's own caching, abuse monitoring and bookkeeping change nothing in a reply, so any
/// value of theirs does (Codex and other agents send `prompt_cache_key` to every model).
fn at_default(key: &str, v: &Value) -> bool {
    match key {
        "prompt_cache_key" | "prompt_cache_retention" | "safety_identifier" => true,
        "frequency_penalty" | "presence_penalty" => v.as_f64() == Some(0.0),
        "metadata" => true,
        "logit_bias" => v.as_object().is_some_and(Map::is_empty),
        "service_tier" => matches!(v.as_str(), Some("auto" | "default")),
        "store" => *v == Value::Bool(false),
        "verbosity" => v.as_str() == Some("medium"),
        "modalities" => *v == json!(["text"]),
        _ => false,
    }
}

type Parsed<T> = Result<T, ApiError>;

/// An error about `param`; the message starts with it, as OpenAI's do.
fn invalid<T>(param: impl std::fmt::Display, problem: impl std::fmt::Display) -> Parsed<T> {
    Err(ApiError::param(
        param.to_string(),
        format!("{param} {problem}"),
    ))
}

pub fn parse_request(body: &[u8]) -> Parsed<CompletionRequest> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::validation(
            "the request body must be a JSON object",
        ));
    };
    let known = |k: &str| {
        [HANDLED, OPENAI_ONLY, UNSUPPORTED]
            .iter()
            .any(|s| s.contains(&k))
    };
    if let Some(key) = obj.keys().find(|k| !known(k)) {
        let key = shown(key);
        return Err(ApiError::param(
            key.clone(),
            format!("unrecognized request argument supplied: {key}"),
        ));
    }
    if let Some(key) = UNSUPPORTED.iter().find(|k| present(&obj, k).is_some()) {
        let why = match *key {
            "audio" => "is not supported by chatgate (audio output is not relayed)",
            _ => "is not supported by chatgate: use tools and tool_choice",
        };
        return invalid(key, why);
    }
    let model = match present(&obj, "model") {
        Some(Value::String(s)) => {
            ModelId::parse(s).map_err(|e| ApiError::param("model", e.to_string()))?
        }
        Some(_) => return invalid("model", "must be a string"),
        None => return invalid("model", "is required"),
    };
    let openai = model.provider() == ProviderKind::OpenAi;
    let mut passthrough = Map::new();
    for key in OPENAI_ONLY {
        let Some(value) = present(&obj, key) else {
            continue;
        };
        if *key == "modalities" && *value != json!(["text"]) {
            return invalid(key, "may only be [\"text\"]: chatgate does not relay audio");
        }
        if openai {
            passthrough.insert((*key).to_owned(), value.clone());
        } else if !at_default(key, value) {
            return invalid(
                key,
                format!("is only supported for openai/* models, not {model}"),
            );
        }
    }
    let messages = parse_messages(present(&obj, "messages"))?;
    let tools = parse_tools(present(&obj, "tools"))?;
    let tool_choice = parse_tool_choice(present(&obj, "tool_choice"), &tools)?;
    let logprobs = opt_bool(&obj, "logprobs")?.unwrap_or(false);
    let top_logprobs = match present(&obj, "top_logprobs") {
        None => None,
        Some(v) => match integer(v) {
            Some(n) if (0..=MAX_TOP_LOGPROBS).contains(&n) && logprobs => Some(n as u32),
            Some(n) if (0..=MAX_TOP_LOGPROBS).contains(&n) => {
                return invalid("top_logprobs", "requires logprobs to be true")
            }
            _ => {
                return invalid(
                    "top_logprobs",
                    format!("must be an integer from 0 to {MAX_TOP_LOGPROBS}"),
                )
            }
        },
    };
    if present(&obj, "n").is_some_and(|n| integer(n) != Some(1)) {
        return invalid("n", "must be 1: chatgate returns a single choice");
    }
    let stream = opt_bool(&obj, "stream")?.unwrap_or(false);
    let chat = ChatRequest {
        model: model.model().to_owned(),
        system: messages.system,
        messages: messages.messages,
        tools,
        tool_choice,
        parallel_tool_calls: opt_bool(&obj, "parallel_tool_calls")?,
        response_format: parse_response_format(present(&obj, "response_format"))?,
        reasoning: parse_reasoning(present(&obj, "reasoning_effort"), present(&obj, "thinking"))?,
        max_tokens: opt_tokens(&obj, "max_completion_tokens")?.or(opt_tokens(&obj, "max_tokens")?),
        temperature: opt_number(&obj, "temperature", 2.0)?,
        top_p: opt_number(&obj, "top_p", 1.0)?,
        stop: parse_stop(present(&obj, "stop"))?,
        seed: match present(&obj, "seed") {
            None => None,
            Some(v) => Some(integer(v).map_or_else(|| invalid("seed", "must be an integer"), Ok)?),
        },
        user: match present(&obj, "user") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return invalid("user", "must be a string"),
            None => None,
        },
        logprobs,
        top_logprobs,
        stream,
        passthrough,
    };
    Ok(CompletionRequest {
        model,
        chat,
        include_usage: parse_stream_options(present(&obj, "stream_options"))?,
        origins: messages.origins,
    })
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Parsed<Option<bool>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => invalid(key, "must be a boolean"),
    }
}

fn opt_tokens(obj: &Map<String, Value>, key: &str) -> Parsed<Option<u32>> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => positive(v).map_or_else(
            || invalid(key, "must be a positive integer"),
            |n| Ok(Some(n)),
        ),
    }
}

fn opt_number(obj: &Map<String, Value>, key: &str, max: f64) -> Parsed<Option<f64>> {
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if (0.0..=max).contains(&x) => Ok(Some(x)),
        _ => invalid(key, format!("must be a number between 0 and {max}")),
    }
}

/// A JSON object's string field.
fn str_field<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Parsed<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => invalid(format!("{at}.{key}"), "must be a string"),
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Parsed<&'a Map<String, Value>> {
    v.as_object()
        .map_or_else(|| invalid(at, "must be an object"), Ok)
}

/// Fails on the first field of `obj` not in `fields`.
fn only_fields(obj: &Map<String, Value>, fields: &[&str], at: &str) -> Parsed<()> {
    match obj.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(k) => invalid(format!("{at}.{}", shown(k)), "is not a recognized field"),
        None => Ok(()),
    }
}

fn parse_stream_options(value: Option<&Value>) -> Parsed<bool> {
    let Some(value) = value else { return Ok(false) };
    let opts = object(value, "stream_options")?;
    for (key, v) in opts {
        let key = shown(key);
        match (key.as_str(), v) {
            ("include_usage" | "include_obfuscation", Value::Bool(_) | Value::Null) => {}
            ("include_usage" | "include_obfuscation", _) => {
                return invalid(format!("stream_options.{key}"), "must be a boolean")
            }
            _ => {
                return invalid(
                    format!("stream_options.{key}"),
                    "is not a recognized stream option",
                )
            }
        }
    }
    Ok(opts.get("include_usage") == Some(&Value::Bool(true)))
}

fn parse_stop(value: Option<&Value>) -> Parsed<Vec<String>> {
    let problem = format!("must be a string or an array of up to {MAX_STOP_SEQUENCES} strings");
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if items.len() <= MAX_STOP_SEQUENCES => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map_or_else(|| invalid("stop", &problem), Ok),
        Some(_) => invalid("stop", problem),
    }
}

fn parse_tools(value: Option<&Value>) -> Parsed<Vec<Tool>> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_TOOLS => items,
        Some(_) => {
            return invalid(
                "tools",
                format!("must be an array of up to {MAX_TOOLS} tools"),
            )
        }
    };
    let mut tools: Vec<Tool> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("tools[{i}]");
        let t = object(item, &at)?;
        only_fields(t, &["type", "function"], &at)?;
        match str_field(t, "type", &at)? {
            Some("function") => {}
            Some(other) => {
                let problem = format!(
                    "{} is not supported: chatgate relays function tools only",
                    shown(other)
                );
                return invalid(format!("{at}.type"), problem);
            }
            None => return invalid(format!("{at}.type"), "is required"),
        }
        let fat = format!("{at}.function");
        let f = object(t.get("function").unwrap_or(&Value::Null), &fat)?;
        only_fields(f, &["name", "description", "parameters", "strict"], &fat)?;
        let name = match str_field(f, "name", &fat)? {
            Some(n) if valid_tool_name(n) => n.to_owned(),
            _ => {
                return invalid(
                    format!("{fat}.name"),
                    "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
                )
            }
        };
        if tools.iter().any(|t| t.name == name) {
            return invalid(
                format!("{fat}.name"),
                format!("repeats the tool name {name}"),
            );
        }
        let parameters = match f.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => return invalid(format!("{fat}.parameters"), "must be a JSON Schema object"),
        };
        let strict = match f.get("strict") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return invalid(format!("{fat}.strict"), "must be a boolean"),
        };
        tools.push(Tool {
            name,
            description: str_field(f, "description", &fat)?.map(str::to_owned),
            parameters,
            strict,
        });
    }
    Ok(tools)
}

fn valid_tool_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_tool_choice(value: Option<&Value>, tools: &[Tool]) -> Parsed<Option<ToolChoice>> {
    let choice = match value {
        None => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            _ => {
                return invalid(
                    "tool_choice",
                    "must be none, auto, required or a function tool",
                )
            }
        },
        Some(Value::Object(o)) => {
            let name = match (o.get("type").and_then(Value::as_str), o.get("function")) {
                (Some("function"), Some(Value::Object(f))) => f.get("name").and_then(Value::as_str),
                (Some("function"), _) => None,
                _ => {
                    return invalid(
                        "tool_choice.type",
                        "must be function: chatgate relays function tools only",
                    )
                }
            };
            match name {
                Some(n) => ToolChoice::Named(n.to_owned()),
                None => return invalid("tool_choice.function.name", "is required"),
            }
        }
        Some(_) => return invalid("tool_choice", "must be a string or an object"),
    };
    match &choice {
        ToolChoice::Named(n) if !tools.iter().any(|t| &t.name == n) => invalid(
            "tool_choice.function.name",
            format!("names no tool in tools: {}", shown(n)),
        ),
        ToolChoice::Required | ToolChoice::Named(_) if tools.is_empty() => {
            invalid("tool_choice", "requires tools")
        }
        _ => Ok(Some(choice)),
    }
}

fn parse_response_format(value: Option<&Value>) -> Parsed<Option<ResponseFormat>> {
    let Some(value) = value else { return Ok(None) };
    let at = "response_format";
    let o = object(value, at)?;
    match str_field(o, "type", at)? {
        Some("text") => {
            only_fields(o, &["type"], at)?;
            Ok(Some(ResponseFormat::Text))
        }
        Some("json_object") => {
            only_fields(o, &["type"], at)?;
            Ok(Some(ResponseFormat::JsonObject))
        }
        Some("json_schema") => {
            only_fields(o, &["type", "json_schema"], at)?;
            let sat = "response_format.json_schema";
            let s = object(o.get("json_schema").unwrap_or(&Value::Null), sat)?;
            only_fields(s, &["name", "description", "schema", "strict"], sat)?;
            let name = match str_field(s, "name", sat)? {
                Some(n) if valid_tool_name(n) => n.to_owned(),
                _ => {
                    return invalid(
                        format!("{sat}.name"),
                        "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
                    )
                }
            };
            let schema = match s.get("schema") {
                None | Some(Value::Null) => json!({"type": "object"}),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => return invalid(format!("{sat}.schema"), "must be a JSON Schema object"),
            };
            let strict = match s.get("strict") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return invalid(format!("{sat}.strict"), "must be a boolean"),
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name,
                description: str_field(s, "description", sat)?.map(str::to_owned),
                schema,
                strict,
            }))
        }
        _ => invalid(
            "response_format.type",
            "must be text, json_object or json_schema",
        ),
    }
}

fn parse_reasoning(
    effort: Option<&Value>,
    thinking: Option<&Value>,
) -> Parsed<Option<ReasoningRequest>> {
    let effort = match effort {
        None => None,
        Some(v) => match v.as_str().and_then(Effort::parse) {
            Some(e) => Some(e),
            None => return invalid("reasoning_effort", "must be minimal, low, medium or high"),
        },
    };
    let budget_tokens = match thinking {
        None => None,
        Some(v) => {
            let o = object(v, "thinking")?;
            only_fields(o, &["type", "budget_tokens"], "thinking")?;
            match str_field(o, "type", "thinking")? {
                Some("enabled") => match o.get("budget_tokens").and_then(positive) {
                    Some(n) => Some(n),
                    None => return invalid("thinking.budget_tokens", "must be a positive integer"),
                },
                Some("disabled") if effort.is_some() => {
                    return invalid(
                        "thinking.type",
                        "is disabled while reasoning_effort asks for reasoning",
                    )
                }
                Some("disabled") => return Ok(None),
                _ => return invalid("thinking.type", "must be enabled or disabled"),
            }
        }
    };
    Ok(
        (effort.is_some() || budget_tokens.is_some()).then_some(ReasoningRequest {
            effort,
            budget_tokens,
            include: true,
        }),
    )
}

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

struct ParsedMessages {
    system: Option<String>,
    messages: Vec<Message>,
    origins: Origins,
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

fn parse_messages(value: Option<&Value>) -> Parsed<ParsedMessages> {
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

#[cfg(test)]
mod tests;
