//! The request: the Responses API's JSON to a neutral `ChatRequest`, plus the settings the
//! response object repeats.

use serde_json::{json, Map, Value};

use super::fields::{
    integer, invalid, object, only_fields, opt_bool, opt_str, present, req_str, shown, Parsed,
};
use super::input::{parse_input, Origins};
use crate::domain::model_id::ModelId;
use crate::error::ApiError;
use crate::ingress::chat_completions::MAX_TOOLS;
use crate::providers::{
    ChatRequest, Effort, ProviderKind, ReasoningRequest, ResponseFormat, Tool, ToolChoice,
};

/// The most `include` values and `metadata` pairs a request may carry (OpenAI's limits).
pub const MAX_INCLUDE: usize = 16;
pub const MAX_METADATA: usize = 16;
pub const MAX_TOP_LOGPROBS: i64 = 20;

/// A parsed request: the model, the neutral request, what the response object repeats, and
/// where each neutral block came from.
#[derive(Clone, Debug)]
pub struct ResponsesRequest {
    pub model: ModelId,
    pub chat: ChatRequest,
    /// The request's settings as the response object repeats them (`instructions`, `tools`,
    /// `tool_choice`, `text`, `reasoning`, `metadata`…), each with OpenAI's default when absent.
    pub settings: Map<String, Value>,
    pub origins: Origins,
}

/// Every top-level field of OpenAI's `CreateResponse`: read here, for every provider.
#[rustfmt::skip]
const FIELDS: &[&str] = &[
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
    "reasoning", "max_output_tokens", "temperature", "top_p", "top_logprobs", "user",
    "safety_identifier", "metadata", "stream", "stream_options", "store", "include",
    "previous_response_id", "conversation", "truncation", "background", "service_tier",
    "prompt_cache_key", "prompt_cache_retention", "max_tool_calls", "prompt",
    "context_management", "moderation", "prompt_cache_options",
];

/// Fields whose every non-null value asks for what chatgate, stateless and without
/// OpenAI's hosted features, cannot do; the reason is the error message.
#[rustfmt::skip]
const REFUSED: &[(&str, &str)] = &[
    ("previous_response_id", "is not supported: chatgate is stateless and keeps no responses; send the \
      whole conversation in input (the previous response's output items included)"),
    ("conversation", "is not supported: chatgate is stateless and keeps no conversations; send the \
      whole conversation in input"),
    ("prompt", "is not supported: chatgate keeps no prompt templates"),
    ("max_tool_calls", "is not supported: it limits built-in tools, which chatgate does not run"),
    ("context_management", "is not supported by chatgate"),
    ("moderation", "is not supported by chatgate"),
    ("prompt_cache_options", "is not supported by chatgate"),
];

/// The `include` values chatgate supports; the others ask for hosted-tool or stored data.
const INCLUDABLE: &[&str] = &[
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
];

fn opt_number(obj: &Map<String, Value>, key: &str, max: f64) -> Parsed<Option<f64>> {
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if (0.0..=max).contains(&x) => Ok(Some(x)),
        _ => invalid(key, format!("must be a number between 0 and {max}")),
    }
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether an OpenAI-only setting's value is the one that changes nothing.
type AtDefault = fn(&Value) -> bool;

/// OpenAI-only settings, named as in Chat Completions (which the OpenAI provider speaks):
/// passed to OpenAI as they are; another provider takes only the value that changes nothing.
const OPENAI_ONLY: &[(&str, AtDefault)] = &[
    ("service_tier", |v| {
        matches!(v.as_str(), Some("auto" | "default"))
    }),
    // Hints about OpenAI's own prompt cache change nothing in a reply (Codex sends them to
    // every model).
    ("prompt_cache_key", |_| true),
    ("prompt_cache_retention", |_| true),
];

pub fn parse_request(body: &[u8]) -> Parsed<ResponsesRequest> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::validation(
            "the request body must be a JSON object",
        ));
    };
    if let Some(key) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let key = shown(key);
        return Err(ApiError::param(
            key.clone(),
            format!("unrecognized request argument supplied: {key}"),
        ));
    }
    for (key, why) in REFUSED {
        if present(&obj, key).is_some() {
            return invalid(key, why);
        }
    }
    let model = match present(&obj, "model") {
        Some(Value::String(s)) => {
            ModelId::parse(s).map_err(|e| ApiError::param("model", e.to_string()))?
        }
        Some(_) => return invalid("model", "must be a string"),
        None => return invalid("model", "is required"),
    };
    let openai = model.provider() == ProviderKind::OpenAi;
    parse_stateless(&obj)?;
    let mut settings = Map::new();
    let mut passthrough = Map::new();
    for (key, at_default) in OPENAI_ONLY {
        let value = present(&obj, key);
        settings.insert((*key).into(), value.cloned().unwrap_or(Value::Null));
        match value {
            None => {}
            Some(v) if !v.is_string() => return invalid(key, "must be a string"),
            Some(v) if openai => drop(passthrough.insert((*key).into(), v.clone())),
            Some(v) if at_default(v) => {}
            Some(_) => {
                return invalid(
                    key,
                    format!("is only supported for openai/* models, not {model}"),
                )
            }
        }
    }

    let instructions = opt_str(&obj, "instructions", "")?;
    settings.insert("instructions".into(), instructions.into());
    let input = parse_input(present(&obj, "input"))?;
    let system: Vec<&str> = instructions
        .into_iter()
        .chain(input.system.iter().map(String::as_str))
        .filter(|s| !s.is_empty())
        .collect();

    let (tools, tools_echo) = parse_tools(present(&obj, "tools"))?;
    settings.insert("tools".into(), tools_echo.into());
    let tool_choice = parse_tool_choice(present(&obj, "tool_choice"), &tools)?;
    settings.insert(
        "tool_choice".into(),
        present(&obj, "tool_choice")
            .cloned()
            .unwrap_or_else(|| "auto".into()),
    );
    let parallel_tool_calls = opt_bool(&obj, "parallel_tool_calls", "")?;
    settings.insert(
        "parallel_tool_calls".into(),
        parallel_tool_calls.unwrap_or(true).into(),
    );

    let (response_format, text_echo) = parse_text(present(&obj, "text"), openai, &mut passthrough)?;
    settings.insert("text".into(), text_echo);
    let (reasoning, reasoning_echo) =
        parse_reasoning(present(&obj, "reasoning"), openai, &mut passthrough)?;
    settings.insert("reasoning".into(), reasoning_echo);

    let max_tokens = match present(&obj, "max_output_tokens") {
        None => None,
        Some(v) => match integer(v).and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => return invalid("max_output_tokens", "must be a positive integer"),
        },
    };
    settings.insert("max_output_tokens".into(), max_tokens.into());
    let temperature = opt_number(&obj, "temperature", 2.0)?;
    let top_p = opt_number(&obj, "top_p", 1.0)?;
    settings.insert("temperature".into(), temperature.into());
    settings.insert("top_p".into(), top_p.into());

    let include = parse_include(present(&obj, "include"))?;
    let top_logprobs = match present(&obj, "top_logprobs") {
        None => None,
        Some(v) => match integer(v) {
            Some(n) if (0..=MAX_TOP_LOGPROBS).contains(&n) => Some(n as u32),
            _ => {
                return invalid(
                    "top_logprobs",
                    format!("must be an integer from 0 to {MAX_TOP_LOGPROBS}"),
                )
            }
        },
    };
    settings.insert("top_logprobs".into(), top_logprobs.into());
    let logprobs_included = include.contains(&"message.output_text.logprobs");
    let logprobs_from = if logprobs_included {
        "include"
    } else {
        "top_logprobs"
    };

    let (user, user_from) = parse_user(&obj, openai, &mut passthrough, &mut settings)?;
    settings.insert(
        "metadata".into(),
        parse_metadata(present(&obj, "metadata"))?,
    );
    let stream = opt_bool(&obj, "stream", "")?.unwrap_or(false);
    parse_stream_options(present(&obj, "stream_options"))?;

    let chat = ChatRequest {
        model: model.model().to_owned(),
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: input.messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        reasoning,
        max_tokens,
        temperature,
        top_p,
        stop: Vec::new(),
        seed: None,
        user,
        logprobs: logprobs_included || top_logprobs.is_some(),
        top_logprobs,
        stream,
        passthrough,
    };
    Ok(ResponsesRequest {
        model,
        chat,
        settings,
        origins: input.origins.with_sources(logprobs_from, user_from),
    })
}

/// `store`, `background` and `truncation`: only the values a stateless gateway honours.
fn parse_stateless(obj: &Map<String, Value>) -> Parsed<()> {
    match present(obj, "store") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return invalid(
                "store",
                "true is not supported: chatgate is stateless and stores no responses; \
                 send store: false or leave it out",
            )
        }
        Some(_) => return invalid("store", "must be a boolean"),
    }
    match present(obj, "background") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return invalid(
                "background",
                "true is not supported: chatgate keeps no responses to poll",
            )
        }
        Some(_) => return invalid("background", "must be a boolean"),
    }
    match present(obj, "truncation").map(Value::as_str) {
        None | Some(Some("disabled")) => Ok(()),
        Some(Some("auto")) => invalid(
            "truncation",
            "auto is not supported: chatgate sends the input whole",
        ),
        Some(_) => invalid("truncation", "must be auto or disabled"),
    }
}

fn parse_include(value: Option<&Value>) -> Parsed<Vec<&str>> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_INCLUDE => items,
        Some(_) => {
            return invalid(
                "include",
                format!("must be an array of up to {MAX_INCLUDE} strings"),
            )
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(v) if INCLUDABLE.contains(&v) => out.push(v),
            Some(v) => {
                return invalid(
                    format!("include[{i}]"),
                    format!(
                        "{} is not supported: chatgate can include {}",
                        shown(v),
                        INCLUDABLE.join(" and ")
                    ),
                )
            }
            None => return invalid(format!("include[{i}]"), "must be a string"),
        }
    }
    Ok(out)
}

/// `user`, and `safety_identifier`: OpenAI gets both as they are; another provider has one
/// end-user id (Anthropic's `metadata.user_id`), given whichever of the two was sent.
fn parse_user(
    obj: &Map<String, Value>,
    openai: bool,
    passthrough: &mut Map<String, Value>,
    settings: &mut Map<String, Value>,
) -> Parsed<(Option<String>, &'static str)> {
    let user = opt_str(obj, "user", "")?;
    let safety = opt_str(obj, "safety_identifier", "")?;
    settings.insert("user".into(), user.into());
    settings.insert("safety_identifier".into(), safety.into());
    match (user, safety) {
        (_, Some(s)) if openai => {
            passthrough.insert("safety_identifier".into(), s.into());
            Ok((user.map(str::to_owned), "user"))
        }
        (Some(u), Some(s)) if u != s => invalid(
            "safety_identifier",
            "differs from user: models other than openai/* take one end-user id",
        ),
        (None, Some(s)) => Ok((Some(s.to_owned()), "safety_identifier")),
        (u, _) => Ok((u.map(str::to_owned), "user")),
    }
}

fn parse_metadata(value: Option<&Value>) -> Parsed<Value> {
    let Some(value) = value else {
        return Ok(json!({}));
    };
    let m = object(value, "metadata")?;
    if m.len() > MAX_METADATA {
        return invalid("metadata", format!("may have at most {MAX_METADATA} pairs"));
    }
    for (k, v) in m {
        if k.chars().count() > 64 {
            return invalid(
                format!("metadata.{}", shown(k)),
                "is a key longer than 64 characters",
            );
        }
        match v.as_str() {
            Some(s) if s.chars().count() <= 512 => {}
            _ => {
                return invalid(
                    format!("metadata.{}", shown(k)),
                    "must be a string of at most 512 characters",
                )
            }
        }
    }
    Ok(value.clone())
}

fn parse_stream_options(value: Option<&Value>) -> Parsed<()> {
    let Some(value) = value else { return Ok(()) };
    let opts = object(value, "stream_options")?;
    only_fields(opts, &["include_obfuscation"], "stream_options")?;
    opt_bool(opts, "include_obfuscation", "stream_options").map(drop)
}

/// Function tools (their echo in the response object), in OpenAI's flat shape.
fn parse_tools(value: Option<&Value>) -> Parsed<(Vec<Tool>, Vec<Value>)> {
    let items = match value {
        None => return Ok((Vec::new(), Vec::new())),
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
        match opt_str(t, "type", &at)? {
            Some("function") => {}
            Some(other) => {
                let problem = format!(
                    "{} is not supported: it is a tool OpenAI runs itself, and chatgate relays \
                     function tools only",
                    shown(other)
                );
                return invalid(format!("{at}.type"), problem);
            }
            None => return invalid(format!("{at}.type"), "is required"),
        }
        only_fields(
            t,
            &[
                "type",
                "name",
                "description",
                "parameters",
                "strict",
                "defer_loading",
            ],
            &at,
        )?;
        if opt_bool(t, "defer_loading", &at)? == Some(true) {
            return invalid(
                format!("{at}.defer_loading"),
                "true is not supported: chatgate has no tool search",
            );
        }
        let name = match opt_str(t, "name", &at)? {
            Some(n) if valid_name(n) => n.to_owned(),
            _ => {
                return invalid(
                    format!("{at}.name"),
                    "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
                )
            }
        };
        if tools.iter().any(|t| t.name == name) {
            return invalid(
                format!("{at}.name"),
                format!("repeats the tool name {name}"),
            );
        }
        let parameters = match present(t, "parameters") {
            None => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => return invalid(format!("{at}.parameters"), "must be a JSON Schema object"),
        };
        tools.push(Tool {
            name,
            description: opt_str(t, "description", &at)?.map(str::to_owned),
            parameters,
            strict: opt_bool(t, "strict", &at)?,
        });
    }
    let echo = tools
        .iter()
        .map(|t| {
            json!({"type": "function", "name": t.name, "description": t.description,
                   "parameters": t.parameters, "strict": t.strict})
        })
        .collect();
    Ok((tools, echo))
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
        Some(Value::Object(o)) => match opt_str(o, "type", "tool_choice")? {
            Some("function") => {
                only_fields(o, &["type", "name"], "tool_choice")?;
                ToolChoice::Named(req_str(o, "name", "tool_choice")?.to_owned())
            }
            _ => {
                return invalid(
                    "tool_choice.type",
                    "must be function: chatgate relays function tools only",
                )
            }
        },
        Some(_) => return invalid("tool_choice", "must be a string or an object"),
    };
    match &choice {
        ToolChoice::Named(n) if !tools.iter().any(|t| &t.name == n) => invalid(
            "tool_choice.name",
            format!("names no tool in tools: {}", shown(n)),
        ),
        ToolChoice::Required | ToolChoice::Named(_) if tools.is_empty() => {
            invalid("tool_choice", "requires tools")
        }
        _ => Ok(Some(choice)),
    }
}

/// `text`: the output format, and OpenAI's `verbosity`. Returns the format and the echo.
fn parse_text(
    value: Option<&Value>,
    openai: bool,
    passthrough: &mut Map<String, Value>,
) -> Parsed<(Option<ResponseFormat>, Value)> {
    let Some(value) = value else {
        return Ok((None, json!({"format": {"type": "text"}})));
    };
    let t = object(value, "text")?;
    only_fields(t, &["format", "verbosity"], "text")?;
    let mut echo = json!({"format": {"type": "text"}});
    match opt_str(t, "verbosity", "text")? {
        None => {}
        Some(v @ ("low" | "medium" | "high")) => {
            echo["verbosity"] = v.into();
            if openai {
                passthrough.insert("verbosity".into(), v.into());
            } else if v != "medium" {
                return invalid(
                    "text.verbosity",
                    "is only supported for openai/* models (unless medium)",
                );
            }
        }
        Some(_) => return invalid("text.verbosity", "must be low, medium or high"),
    }
    let Some(format) = present(t, "format") else {
        return Ok((None, echo));
    };
    let at = "text.format";
    let f = object(format, at)?;
    let parsed = match opt_str(f, "type", at)? {
        Some("text") => {
            only_fields(f, &["type"], at)?;
            ResponseFormat::Text
        }
        Some("json_object") => {
            only_fields(f, &["type"], at)?;
            ResponseFormat::JsonObject
        }
        Some("json_schema") => {
            only_fields(f, &["type", "name", "description", "schema", "strict"], at)?;
            let name = match opt_str(f, "name", at)? {
                Some(n) if valid_name(n) => n.to_owned(),
                _ => {
                    return invalid(
                        format!("{at}.name"),
                        "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
                    )
                }
            };
            let schema = match present(f, "schema") {
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => return invalid(format!("{at}.schema"), "must be a JSON Schema object"),
                None => return invalid(format!("{at}.schema"), "is required"),
            };
            ResponseFormat::JsonSchema {
                name,
                description: opt_str(f, "description", at)?.map(str::to_owned),
                schema,
                strict: opt_bool(f, "strict", at)?,
            }
        }
        _ => {
            return invalid(
                format!("{at}.type"),
                "must be text, json_object or json_schema",
            )
        }
    };
    echo["format"] = format.clone();
    Ok((Some(parsed), echo))
}

/// `reasoning`: `effort` (OpenAI's levels beyond the neutral four reach OpenAI as they are),
/// and `summary`, which asks for the reasoning's text where the provider can return it.
fn parse_reasoning(
    value: Option<&Value>,
    openai: bool,
    passthrough: &mut Map<String, Value>,
) -> Parsed<(Option<ReasoningRequest>, Value)> {
    let Some(value) = value else {
        return Ok((None, json!({"effort": null, "summary": null})));
    };
    let at = "reasoning";
    let r = object(value, at)?;
    only_fields(
        r,
        &["effort", "summary", "generate_summary", "context", "mode"],
        at,
    )?;
    match opt_str(r, "context", at)? {
        None | Some("auto") => {}
        Some(_) => {
            return invalid(
                "reasoning.context",
                "is not supported by chatgate (only auto)",
            )
        }
    }
    match opt_str(r, "mode", at)? {
        None | Some("standard") => {}
        Some(_) => {
            return invalid(
                "reasoning.mode",
                "is not supported by chatgate (only standard)",
            )
        }
    }
    let summary = match (
        opt_str(r, "summary", at)?,
        opt_str(r, "generate_summary", at)?,
    ) {
        (Some(s), _) => Some(("summary", s)),
        (None, Some(s)) => Some(("generate_summary", s)),
        (None, None) => None,
    };
    if let Some((key, s)) = summary {
        if !matches!(s, "auto" | "concise" | "detailed") {
            return invalid(
                format!("reasoning.{key}"),
                "must be auto, concise or detailed",
            );
        }
    }
    let raw_effort = opt_str(r, "effort", at)?;
    let effort = match raw_effort {
        None => None,
        Some("none") => {
            if openai {
                passthrough.insert("reasoning_effort".into(), "none".into());
            }
            let echo = json!({"effort": "none", "summary": summary.map(|s| s.1)});
            return Ok((None, echo));
        }
        Some(e @ ("xhigh" | "max")) => {
            if !openai {
                return invalid(
                    "reasoning.effort",
                    format!("{e} is only supported for openai/* models"),
                );
            }
            passthrough.insert("reasoning_effort".into(), e.into());
            None
        }
        Some(e) => match Effort::parse(e) {
            Some(effort) => Some(effort),
            None => {
                return invalid(
                    "reasoning.effort",
                    "must be none, minimal, low, medium, high, xhigh or max",
                )
            }
        },
    };
    let echo = json!({"effort": raw_effort, "summary": summary.map(|s| s.1)});
    let asked = raw_effort.is_some() || summary.is_some();
    let request = asked.then_some(ReasoningRequest {
        effort,
        budget_tokens: None,
        include: summary.is_some(),
    });
    Ok((request, echo))
}

#[cfg(test)]
mod tests;
