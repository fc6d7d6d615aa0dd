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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Parsed<CompletionRequest> {
        parse_request(v.to_string().as_bytes())
    }

    fn chat(model: &str, messages: Value) -> ChatRequest {
        parse(json!({"model": model, "messages": messages}))
            .unwrap()
            .chat
    }

    fn user(text: &str) -> Value {
        json!([{"role": "user", "content": text}])
    }

    #[test]
    fn a_full_request_translates_to_a_neutral_chat_request() {
        let r = parse(json!({
            "model": "anthropic/claude-3-5-haiku-latest",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}], "name": "ann"},
                {"role": "assistant", "content": "Hello", "name": "bot"},
                {"role": "system", "content": "Mid-conversation."},
                {"role": "user", "content": "Again"}
            ],
            "stream": true, "stream_options": {"include_usage": true},
            "max_tokens": 100, "temperature": 0.5, "top_p": 1, "stop": "END", "n": 1, "user": "u1",
            "seed": 7, "logprobs": true, "top_logprobs": 2, "frequency_penalty": 0, "tools": null
        }))
        .unwrap();
        assert_eq!(r.model.as_str(), "anthropic/claude-3-5-haiku-latest");
        assert!(r.include_usage && r.chat.stream);
        let c = &r.chat;
        assert_eq!(c.model, "claude-3-5-haiku-latest");
        assert_eq!(
            c.system.as_deref(),
            Some("Be brief.\n\nUse French.\n\nMid-conversation."),
            "every system and developer message joins the system prompt, in order"
        );
        assert_eq!(
            c.messages,
            vec![
                Message {
                    role: Role::User,
                    content: vec![Block::Text("Hi".into()), Block::Text("there".into())]
                },
                Message::assistant("Hello"),
                Message::user("Again"),
            ]
        );
        assert_eq!(
            (
                c.max_tokens,
                c.temperature,
                c.top_p,
                c.stop.clone(),
                c.user.as_deref()
            ),
            (
                Some(100),
                Some(0.5),
                Some(1.0),
                vec!["END".to_owned()],
                Some("u1")
            )
        );
        assert_eq!(
            (c.seed, c.logprobs, c.top_logprobs),
            (Some(7), true, Some(2))
        );
        assert!(
            c.passthrough.is_empty(),
            "a tuning field at its default is dropped"
        );
    }

    #[test]
    fn content_parts_become_text_image_and_document_blocks() {
        let png = "iVBORw0KGgo=";
        let c = chat(
            "gemini/gemini-2.5-flash",
            json!([{"role": "user", "content": [
                {"type": "text", "text": "What are these?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "auto"}},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}},
                {"type": "image_url", "image_url": "https://example.com/dog.jpg"},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
                {"type": "file", "file": {"file_data": "JVBERi0="}}
            ]}]),
        );
        let pdf = |name: Option<&str>| Block::Document {
            media: Media::Base64 {
                media_type: "application/pdf".into(),
                data: "JVBERi0=".into(),
            },
            name: name.map(Into::into),
        };
        assert_eq!(
            c.messages[0].content,
            vec![
                Block::Text("What are these?".into()),
                Block::Image(Media::Url("https://example.com/cat.png".into())),
                Block::Image(Media::Base64 {
                    media_type: "image/png".into(),
                    data: png.into()
                }),
                Block::Image(Media::Url("https://example.com/dog.jpg".into())),
                pdf(Some("a.pdf")),
                pdf(None),
            ]
        );
    }

    #[test]
    fn tool_calls_and_their_results_round_trip_with_names_and_signatures() {
        let c = chat(
            "gemini/gemini-2.5-flash",
            json!([
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a__thought__c2lnLTE=", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_a__thought__c2lnLTE=", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "21C"}]},
                {"role": "user", "content": "Thanks"}
            ]),
        );
        let call = |id: &str, city: &str, sig: Option<&str>| {
            Block::ToolCall(ToolCall {
                id: id.into(),
                name: "weather".into(),
                arguments: format!("{{\"city\":\"{city}\"}}"),
                signature: sig.map(Into::into),
            })
        };
        let result = |id: &str, text: &str| {
            Block::ToolResult(ToolResult {
                call_id: id.into(),
                name: Some("weather".into()),
                content: vec![Block::Text(text.into())],
                is_error: false,
            })
        };
        assert_eq!(
            c.messages,
            vec![
                Message::user("Weather in Paris and Rome?"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        call("call_a", "Paris", Some("c2lnLTE=")),
                        call("call_b", "Rome", None)
                    ]
                },
                Message {
                    role: Role::User,
                    content: vec![result("call_a", "18C"), result("call_b", "21C")]
                },
                Message::user("Thanks"),
            ],
            "consecutive tool messages share one user turn"
        );
    }

    #[test]
    fn reasoning_and_refusals_sent_back_become_their_blocks_in_provider_order() {
        let c = chat(
            "anthropic/claude-sonnet-4-5",
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello", "reasoning_content": "ignored when blocks are given",
                 "thinking_blocks": [
                    {"type": "thinking", "thinking": "Greet back.", "signature": "sig-1"},
                    {"type": "redacted_thinking", "data": "opaque"}
                 ],
                 "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "ok"},
                {"role": "assistant", "content": null, "refusal": "I can't help with that."},
                {"role": "user", "content": "Why?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Because."}], "reasoning_content": "Explain."}
            ]),
        );
        assert_eq!(
            c.messages[1].content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "Greet back.".into(),
                    signature: Some("sig-1".into()),
                    redacted: None
                }),
                Block::Reasoning(Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some("opaque".into())
                }),
                Block::Text("Hello".into()),
                Block::ToolCall(ToolCall {
                    id: "t1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    signature: None
                }),
            ]
        );
        assert_eq!(
            c.messages[3].content,
            vec![Block::Refusal("I can't help with that.".into())]
        );
        assert_eq!(
            c.messages[5].content,
            vec![
                Block::Reasoning(Reasoning {
                    text: "Explain.".into(),
                    ..Reasoning::default()
                }),
                Block::Text("Because.".into())
            ]
        );
    }

    #[test]
    fn request_options_translate_for_every_provider() {
        let r = parse(json!({
            "model": "demo/echo", "messages": user("hi"),
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
                {"type": "function", "function": {"name": "now"}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "now"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
            "reasoning_effort": "low",
            "thinking": {"type": "enabled", "budget_tokens": 2000}
        }))
        .unwrap();
        let c = &r.chat;
        assert_eq!(
            c.tools,
            vec![
                Tool {
                    name: "get_weather".into(),
                    description: Some("Weather".into()),
                    parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                    strict: Some(true)
                },
                Tool {
                    name: "now".into(),
                    description: None,
                    parameters: json!({"type": "object", "properties": {}}),
                    strict: None
                }
            ]
        );
        assert_eq!(c.tool_choice, Some(ToolChoice::Named("now".into())));
        assert_eq!(c.parallel_tool_calls, Some(false));
        assert_eq!(
            c.response_format,
            Some(ResponseFormat::JsonSchema {
                name: "answer".into(),
                description: None,
                schema: json!({"type": "object"}),
                strict: Some(true)
            })
        );
        assert_eq!(
            c.reasoning,
            Some(ReasoningRequest {
                effort: Some(Effort::Low),
                budget_tokens: Some(2000),
                include: true
            })
        );
        for (choice, want) in [
            ("none", ToolChoice::None),
            ("auto", ToolChoice::Auto),
            ("required", ToolChoice::Required),
        ] {
            let r = parse(
                json!({"model": "demo/echo", "messages": user("hi"), "tool_choice": choice,
                "tools": [{"type": "function", "function": {"name": "f"}}]}),
            )
            .unwrap();
            assert_eq!(r.chat.tool_choice, Some(want), "{choice}");
        }
        for (format, want) in [
            (json!({"type": "text"}), ResponseFormat::Text),
            (json!({"type": "json_object"}), ResponseFormat::JsonObject),
        ] {
            let r = parse(
                json!({"model": "demo/echo", "messages": user("hi"), "response_format": format}),
            )
            .unwrap();
            assert_eq!(r.chat.response_format, Some(want));
        }
        let off = parse(
            json!({"model": "demo/echo", "messages": user("hi"), "thinking": {"type": "disabled"}}),
        )
        .unwrap();
        assert_eq!(off.chat.reasoning, None);
    }

    #[test]
    fn openai_only_tuning_passes_to_openai_and_is_refused_elsewhere_unless_at_its_default() {
        let tuning = json!({"frequency_penalty": 0.5, "logit_bias": {"50256": -100}, "service_tier": "flex",
                            "metadata": {"a": "b"}, "store": true, "prediction": {"type": "content", "content": "x"},
                            "verbosity": "low", "prompt_cache_key": "k", "modalities": ["text"]});
        let hints = ["metadata", "prompt_cache_key"];
        let mut body = json!({"model": "openai/gpt-4o", "messages": user("hi")});
        for (k, v) in tuning.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = parse(body).unwrap();
        assert_eq!(Value::Object(r.chat.passthrough.clone()), tuning);
        assert!(!r.chat.passthrough.contains_key("messages"));
        for (k, v) in tuning
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "modalities")
        {
            let mut body = json!({"model": "anthropic/claude-haiku-4-5", "messages": user("hi")});
            body[k] = v.clone();
            if hints.contains(&k.as_str()) {
                let r = parse(body).unwrap();
                assert!(
                    r.chat.passthrough.is_empty(),
                    "{k}: a hint, not relayed elsewhere"
                );
                continue;
            }
            let err = parse(body).unwrap_err();
            assert_eq!(err.param_name(), Some(k.as_str()), "{k}");
            assert!(err.detail().contains("only supported for openai/*"), "{k}");
        }
        let defaults = json!({"model": "gemini/gemini-2.5-flash", "messages": user("hi"),
            "frequency_penalty": 0, "presence_penalty": 0.0, "logit_bias": {}, "service_tier": "auto",
            "metadata": {}, "store": false, "verbosity": "medium", "modalities": ["text"], "prediction": null});
        assert!(parse(defaults).unwrap().chat.passthrough.is_empty());
    }

    #[test]
    #[rustfmt::skip]
    fn invalid_requests_are_refused_naming_the_param() {
        let gpt = r#""model": "openai/gpt-4o""#;
        let hi = r#""messages": [{"role": "user", "content": "x"}]"#;
        let many = format!(r#""messages": [{}]"#, vec![r#"{"role": "user", "content": "x"}"#; 1001].join(","));
        let gemini = r#""model": "gemini/gemini-2.5-flash""#;
        let part = |p: &str| format!(r#"{gemini}, "messages": [{{"role": "user", "content": [{p}]}}]"#);
        let tools = r#""tools": [{"type": "function", "function": {"name": "f"}}]"#;
        let cases: Vec<(&str, String, &str, &str)> = vec![
            ("unknown field", format!(r#"{gpt}, {hi}, "temprature": 1"#), "unrecognized request argument supplied: temprature", "temprature"),
            ("missing model", hi.to_owned(), "model is required", "model"),
            ("model without provider", format!(r#""model": "gpt-4o", {hi}"#), "provider/model", "model"),
            ("unknown provider", format!(r#""model": "mistral/large", {hi}"#), "unknown provider", "model"),
            ("missing messages", gpt.to_owned(), "messages is required", "messages"),
            ("empty messages", format!(r#"{gpt}, "messages": []"#), "at least one message", "messages"),
            ("too many messages", format!("{gpt}, {many}"), "at most 1000", "messages"),
            ("only a system message", format!(r#"{gemini}, "messages": [{{"role": "system", "content": "x"}}]"#), "at least one user or assistant", "messages"),
            ("bad role", format!(r#"{gpt}, "messages": [{{"role": "robot", "content": "x"}}]"#), "must be one of", "messages[0].role"),
            ("legacy function role", format!(r#"{gpt}, "messages": [{{"role": "function", "content": "x", "name": "f"}}]"#), "use tool", "messages[0].role"),
            ("unknown message field", format!(r#"{gpt}, "messages": [{{"role": "user", "content": "x", "foo": 1}}]"#), "is not a recognized message field", "messages[0].foo"),
            ("tool_calls on a user", format!(r#"{gpt}, "messages": [{{"role": "user", "content": "x", "tool_calls": []}}]"#), "is not a field of a user message", "messages[0].tool_calls"),
            ("missing content", format!(r#"{gpt}, "messages": [{{"role": "user"}}]"#), "content is required", "messages[0].content"),
            ("empty assistant", format!(r#"{gpt}, "messages": [{{"role": "assistant", "content": null}}]"#), "unless tool_calls", "messages[0].content"),
            ("text part without text", part(r#"{"type": "text"}"#), "must be a string", "messages[0].content[0].text"),
            ("audio in", part(r#"{"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}"#), "input_audio is not supported", "messages[0].content[0].type"),
            ("unknown part", part(r#"{"type": "video"}"#), "must be text, image_url or file", "messages[0].content[0].type"),
            ("file by id", part(r#"{"type": "file", "file": {"file_id": "file-abc"}}"#), "no file store", "messages[0].content[0].file.file_id"),
            ("image detail", part(r#"{"type": "image_url", "image_url": {"url": "https://x.com/a.png", "detail": "high"}}"#), "only auto", "messages[0].content[0].image_url.detail"),
            ("image scheme", part(r#"{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}"#), "https URL or a base64 data: URL", "messages[0].content[0].image_url.url"),
            ("image data not base64", part(r#"{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}"#), "base64 data: URL", "messages[0].content[0].image_url.url"),
            ("image data not an image", part(r#"{"type": "image_url", "image_url": {"url": "data:text/html;base64,PGI+"}}"#), "must be an image", "messages[0].content[0].image_url.url"),
            ("tool result without id", format!(r#"{gpt}, "messages": [{{"role": "tool", "content": "x"}}]"#), "is required", "messages[0].tool_call_id"),
            ("tool call without name", format!(r#"{gpt}, "messages": [{{"role": "assistant", "tool_calls": [{{"id": "c", "type": "function", "function": {{}}}}]}}]"#), "is required", "messages[0].tool_calls[0].function.name"),
            ("bad thinking block", format!(r#"{gpt}, "messages": [{{"role": "assistant", "content": "x", "thinking_blocks": [{{"type": "thought"}}]}}]"#), "thinking or redacted_thinking", "messages[0].thinking_blocks[0].type"),
            ("legacy functions", format!(r#"{gpt}, {hi}, "functions": []"#), "use tools", "functions"),
            ("audio out", format!(r#"{gpt}, {hi}, "audio": {{"voice": "alloy"}}"#), "audio output", "audio"),
            ("audio modality", format!(r#"{gpt}, {hi}, "modalities": ["text", "audio"]"#), "does not relay audio", "modalities"),
            ("non-function tool", format!(r#"{gpt}, {hi}, "tools": [{{"type": "web_search"}}]"#), "function tools only", "tools[0].type"),
            ("bad tool name", format!(r#"{gpt}, {hi}, "tools": [{{"type": "function", "function": {{"name": "a b"}}}}]"#), "must be 1 to 64", "tools[0].function.name"),
            ("duplicate tool", format!(r#"{gpt}, {hi}, "tools": [{{"type": "function", "function": {{"name": "f"}}}}, {{"type": "function", "function": {{"name": "f"}}}}]"#), "repeats", "tools[1].function.name"),
            ("tool parameters not an object", format!(r#"{gpt}, {hi}, "tools": [{{"type": "function", "function": {{"name": "f", "parameters": []}}}}]"#), "JSON Schema object", "tools[0].function.parameters"),
            ("tool_choice naming no tool", format!(r#"{gpt}, {hi}, {tools}, "tool_choice": {{"type": "function", "function": {{"name": "g"}}}}"#), "names no tool", "tool_choice.function.name"),
            ("tool_choice required without tools", format!(r#"{gpt}, {hi}, "tool_choice": "required""#), "requires tools", "tool_choice"),
            ("tool_choice word", format!(r#"{gpt}, {hi}, {tools}, "tool_choice": "any""#), "must be none, auto, required", "tool_choice"),
            ("response_format type", format!(r#"{gpt}, {hi}, "response_format": {{"type": "yaml"}}"#), "text, json_object or json_schema", "response_format.type"),
            ("json_schema without name", format!(r#"{gpt}, {hi}, "response_format": {{"type": "json_schema", "json_schema": {{"schema": {{}}}}}}"#), "must be 1 to 64", "response_format.json_schema.name"),
            ("reasoning_effort", format!(r#"{gpt}, {hi}, "reasoning_effort": "max""#), "minimal, low, medium or high", "reasoning_effort"),
            ("thinking budget", format!(r#"{gpt}, {hi}, "thinking": {{"type": "enabled"}}"#), "positive integer", "thinking.budget_tokens"),
            ("top_logprobs without logprobs", format!(r#"{gpt}, {hi}, "top_logprobs": 3"#), "requires logprobs", "top_logprobs"),
            ("top_logprobs too many", format!(r#"{gpt}, {hi}, "logprobs": true, "top_logprobs": 21"#), "from 0 to 20", "top_logprobs"),
            ("seed", format!(r#"{gpt}, {hi}, "seed": 1.5"#), "must be an integer", "seed"),
            ("temperature too high", format!(r#"{gpt}, {hi}, "temperature": 2.5"#), "between 0 and 2", "temperature"),
            ("negative top_p", format!(r#"{gpt}, {hi}, "top_p": -0.1"#), "between 0 and 1", "top_p"),
            ("five stops", format!(r#"{gpt}, {hi}, "stop": ["a", "b", "c", "d", "e"]"#), "up to 4", "stop"),
            ("n of 2", format!(r#"{gpt}, {hi}, "n": 2"#), "n must be 1", "n"),
            ("zero max_tokens", format!(r#"{gpt}, {hi}, "max_tokens": 0"#), "positive integer", "max_tokens"),
            ("string stream", format!(r#"{gpt}, {hi}, "stream": "yes""#), "stream must be a boolean", "stream"),
            ("unknown stream option", format!(r#"{gpt}, {hi}, "stream_options": {{"foo": true}}"#), "is not a recognized stream option", "stream_options.foo"),
        ];
        for (case, fields, message, param) in cases {
            let err = parse_request(format!("{{{fields}}}").as_bytes()).err().unwrap_or_else(|| panic!("{case}: accepted"));
            assert!(err.detail().contains(message), "{case}: got {:?}", err.detail());
            assert_eq!(err.param_name(), Some(param), "{case}");
            assert_eq!(err.status(), 400, "{case}");
        }
        let err = parse_request(b"{not json").unwrap_err();
        assert_eq!((err.detail().as_str(), err.param_name()), ("the request body must be a JSON object", None));
        assert!(parse_request(b"[]").is_err());
    }

    #[test]
    fn token_counts_and_n_may_be_written_as_integral_floats() {
        // JSON Schema's `integer` includes 100.0 (found by the fuzzer); 100.5 is still refused.
        let r = parse(
            json!({"model": "demo/echo", "messages": user("Hi"), "max_tokens": 100.0,
                             "max_completion_tokens": 50.0, "n": 1.0}),
        )
        .unwrap();
        assert_eq!(r.chat.max_tokens, Some(50), "max_completion_tokens wins");
        let bad = parse(json!({"model": "demo/echo", "messages": user("Hi"), "max_tokens": 100.5}));
        assert_eq!(bad.unwrap_err().param_name(), Some("max_tokens"));
    }

    #[test]
    fn a_providers_refusal_is_renamed_to_the_clients_own_positions() {
        let r = parse(json!({"model": "gemini/gemini-2.5-flash", "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x.com/a.png"}}]},
            {"role": "assistant", "content": "b", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "r1"},
            {"role": "tool", "tool_call_id": "c", "content": "r2"}
        ]}))
        .unwrap();
        for (neutral, client) in [
            ("messages[0].content[1]", "messages[1].content[1]"),
            (
                "messages[0].content[1].image_url",
                "messages[1].content[1].image_url",
            ),
            ("messages[1].content[1]", "messages[2].tool_calls[0]"),
            ("messages[1]", "messages[2]"),
            ("messages[2].content[1]", "messages[4]"),
            ("messages[9].content[0]", "messages[9].content[0]"),
            ("tools[0].strict", "tools[0].strict"),
        ] {
            let e = r.origins.rename(ApiError::param(
                neutral,
                format!("{neutral} is not supported"),
            ));
            assert_eq!(e.param_name(), Some(client), "{neutral}");
            assert_eq!(
                e.detail(),
                format!("{client} is not supported"),
                "{neutral}"
            );
        }
        let other = r.origins.rename(ApiError::NotFound);
        assert_eq!(other.status(), 404);
    }
}
