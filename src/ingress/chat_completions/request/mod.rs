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

mod content;
use content::parse_messages;
pub use content::Origins;

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

#[cfg(test)]
mod tests;
