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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{Block, Media, Message, Reasoning, Role, ToolCall, ToolResult};

    fn parse(v: Value) -> Parsed<ResponsesRequest> {
        parse_request(v.to_string().as_bytes())
    }

    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

    fn call(id: &str, name: &str, arguments: &str, signature: Option<&str>) -> Block {
        Block::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: signature.map(Into::into),
        })
    }

    #[test]
    fn a_string_input_is_one_user_message_and_the_settings_take_openais_defaults() {
        let r = parse(json!({"model": "demo/echo", "input": "Hello"})).unwrap();
        assert_eq!(r.model.as_str(), "demo/echo");
        assert_eq!(r.chat.model, "echo");
        assert_eq!(r.chat.messages, vec![Message::user("Hello")]);
        assert_eq!(r.chat.system, None);
        assert!(!r.chat.stream && !r.chat.logprobs && r.chat.passthrough.is_empty());
        assert_eq!(
            Value::Object(r.settings),
            json!({
                "instructions": null, "tools": [], "tool_choice": "auto", "parallel_tool_calls": true,
                "text": {"format": {"type": "text"}}, "reasoning": {"effort": null, "summary": null},
                "max_output_tokens": null, "temperature": null, "top_p": null, "top_logprobs": null,
                "user": null, "safety_identifier": null, "metadata": {},
                "service_tier": null, "prompt_cache_key": null, "prompt_cache_retention": null,
            })
        );
    }

    #[test]
    fn every_kind_of_item_translates_to_neutral_turns() {
        let r = parse(json!({
            "model": "anthropic/claude-haiku-4-5",
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Use French."},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "What is in these?"},
                    {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "auto"},
                    {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                    {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                    {"type": "input_file", "file_url": "https://example.com/b.pdf"}
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Look."}],
                 "encrypted_content": "chatgate:signature:sig-1"},
                {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "chatgate:redacted:opaque"},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                    {"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather",
                 "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call", "call_id": "call_2__thought__gsig", "name": "time", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"type": "function_call_output", "call_id": "call_2__thought__gsig", "output": [
                    {"type": "input_text", "text": "noon"},
                    {"type": "input_image", "image_url": "https://example.com/clock.png", "detail": "auto"}]},
                {"role": "system", "content": [{"type": "input_text", "text": "Mid-way."}]},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                {"role": "user", "content": "Again"}
            ]
        }))
        .unwrap();
        let c = &r.chat;
        assert_eq!(
            c.system.as_deref(),
            Some("Be brief.\n\nUse French.\n\nMid-way."),
            "instructions first, then every system and developer message in order"
        );
        let png = Media::Base64 {
            media_type: "image/png".into(),
            data: PNG.into(),
        };
        assert_eq!(
            c.messages,
            vec![
                Message {
                    role: Role::User,
                    content: vec![
                        Block::Text("What is in these?".into()),
                        Block::Image(png),
                        Block::Image(Media::Url("https://example.com/cat.jpg".into())),
                        Block::Document {
                            media: Media::Base64 {
                                media_type: "application/pdf".into(),
                                data: "JVBERi0=".into()
                            },
                            name: Some("a.pdf".into())
                        },
                        Block::Document {
                            media: Media::Url("https://example.com/b.pdf".into()),
                            name: None
                        },
                    ]
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        Block::Reasoning(Reasoning {
                            text: "Look.".into(),
                            signature: Some("sig-1".into()),
                            redacted: None
                        }),
                        Block::Reasoning(Reasoning {
                            text: String::new(),
                            signature: None,
                            redacted: Some("opaque".into())
                        }),
                        Block::Text("Checking.".into()),
                        call("call_1", "weather", "{\"city\":\"Paris\"}", None),
                        call("call_2", "time", "{}", Some("gsig")),
                    ]
                },
                Message {
                    role: Role::User,
                    content: vec![
                        Block::ToolResult(ToolResult {
                            call_id: "call_1".into(),
                            name: Some("weather".into()),
                            content: vec![Block::Text("18C".into())],
                            is_error: false
                        }),
                        Block::ToolResult(ToolResult {
                            call_id: "call_2".into(),
                            name: Some("time".into()),
                            content: vec![
                                Block::Text("noon".into()),
                                Block::Image(Media::Url("https://example.com/clock.png".into()))
                            ],
                            is_error: false
                        }),
                    ]
                },
                Message {
                    role: Role::Assistant,
                    content: vec![Block::Refusal("No.".into())]
                },
                Message::user("Again"),
            ]
        );
    }

    #[test]
    fn every_option_translates_and_is_repeated_in_the_settings() {
        let r = parse(json!({
            "model": "gemini/gemini-2.5-flash", "input": "hi", "stream": true,
            "stream_options": {"include_obfuscation": false}, "store": false,
            "tools": [
                {"type": "function", "name": "get_weather", "description": "Weather",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true},
                {"type": "function", "name": "now", "parameters": null, "strict": null}
            ],
            "tool_choice": {"type": "function", "name": "now"}, "parallel_tool_calls": false,
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"},
                                "strict": true, "description": "An answer"}, "verbosity": "medium"},
            "reasoning": {"effort": "low", "summary": "auto"},
            "max_output_tokens": 300, "temperature": 0.5, "top_p": 1, "top_logprobs": 2,
            "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
            "user": "u1", "metadata": {"trace": "abc"}, "truncation": "disabled", "background": false,
            "previous_response_id": null, "service_tier": "auto"
        }))
        .unwrap();
        let c = &r.chat;
        assert!(c.stream);
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
                description: Some("An answer".into()),
                schema: json!({"type": "object"}),
                strict: Some(true)
            })
        );
        assert_eq!(
            c.reasoning,
            Some(ReasoningRequest {
                effort: Some(Effort::Low),
                budget_tokens: None,
                include: true
            })
        );
        assert_eq!(
            (c.max_tokens, c.temperature, c.top_p, c.user.as_deref()),
            (Some(300), Some(0.5), Some(1.0), Some("u1"))
        );
        assert_eq!((c.logprobs, c.top_logprobs), (true, Some(2)));
        assert!(c.passthrough.is_empty(), "defaults reach no provider");
        let s = &r.settings;
        assert_eq!(
            s["tools"][1],
            json!({"type": "function", "name": "now", "description": null,
            "parameters": {"type": "object", "properties": {}}, "strict": null})
        );
        assert_eq!(s["tool_choice"], json!({"type": "function", "name": "now"}));
        assert_eq!(s["text"]["format"]["name"], "answer");
        assert_eq!(s["text"]["verbosity"], "medium");
        assert_eq!(s["reasoning"], json!({"effort": "low", "summary": "auto"}));
        assert_eq!(s["metadata"], json!({"trace": "abc"}));
        assert_eq!(
            (
                &s["max_output_tokens"],
                &s["parallel_tool_calls"],
                &s["top_logprobs"]
            ),
            (&json!(300), &json!(false), &json!(2))
        );

        for (choice, want) in [
            ("none", ToolChoice::None),
            ("auto", ToolChoice::Auto),
            ("required", ToolChoice::Required),
        ] {
            let r = parse(json!({"model": "demo/echo", "input": "hi", "tool_choice": choice,
                                 "tools": [{"type": "function", "name": "f", "parameters": null, "strict": null}]}))
            .unwrap();
            assert_eq!(r.chat.tool_choice, Some(want), "{choice}");
        }
        for (format, want) in [
            (json!({"type": "text"}), ResponseFormat::Text),
            (json!({"type": "json_object"}), ResponseFormat::JsonObject),
        ] {
            let r = parse(json!({"model": "demo/echo", "input": "hi", "text": {"format": format}}))
                .unwrap();
            assert_eq!(r.chat.response_format, Some(want));
        }
        let summary_only = parse(json!({"model": "demo/echo", "input": "hi",
                                        "reasoning": {"generate_summary": "concise"}}))
        .unwrap();
        assert_eq!(
            summary_only.chat.reasoning,
            Some(ReasoningRequest {
                effort: None,
                budget_tokens: None,
                include: true
            }),
            "asking for a summary asks for reasoning at the provider's default effort"
        );
        let effort_only =
            parse(json!({"model": "demo/echo", "input": "hi", "reasoning": {"effort": "high"}}))
                .unwrap();
        assert!(!effort_only.chat.reasoning.unwrap().include);
        let top_only =
            parse(json!({"model": "demo/echo", "input": "hi", "top_logprobs": 0})).unwrap();
        assert_eq!(
            (top_only.chat.logprobs, top_only.chat.top_logprobs),
            (true, Some(0))
        );
    }

    #[test]
    fn openai_only_settings_reach_openai_as_chat_completions_fields_and_others_only_at_their_default(
    ) {
        let tuning = json!({"service_tier": "flex", "prompt_cache_key": "k", "prompt_cache_retention": "24h",
                            "safety_identifier": "hashed-user", "text": {"verbosity": "low"},
                            "reasoning": {"effort": "xhigh"}});
        let mut body = json!({"model": "openai/gpt-5", "input": "hi"});
        for (k, v) in tuning.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = parse(body).unwrap();
        assert_eq!(
            Value::Object(r.chat.passthrough),
            json!({"service_tier": "flex", "prompt_cache_key": "k", "prompt_cache_retention": "24h",
                   "safety_identifier": "hashed-user", "verbosity": "low", "reasoning_effort": "xhigh"})
        );
        assert_eq!(
            (r.chat.reasoning, r.chat.user),
            (Some(ReasoningRequest::default()), None),
            "reasoning is asked for, at a level only the passthrough names"
        );
        let none = parse(
            json!({"model": "openai/gpt-5.1", "input": "hi", "reasoning": {"effort": "none"}}),
        )
        .unwrap();
        assert_eq!(
            Value::Object(none.chat.passthrough),
            json!({"reasoning_effort": "none"})
        );
        assert_eq!(none.chat.reasoning, None);

        for (key, value, param) in [
            ("service_tier", json!("flex"), "service_tier"),
            ("text", json!({"verbosity": "low"}), "text.verbosity"),
            ("reasoning", json!({"effort": "max"}), "reasoning.effort"),
        ] {
            let mut body = json!({"model": "anthropic/claude-haiku-4-5", "input": "hi"});
            body[key] = value;
            let err = parse(body).unwrap_err();
            assert_eq!(err.param_name(), Some(param), "{key}");
            assert!(err.detail().contains("openai/*"), "{key}: {}", err.detail());
        }
        let defaults = parse(json!({"model": "gemini/gemini-2.5-flash", "input": "hi", "service_tier": "default",
                                    "text": {"verbosity": "medium"}, "reasoning": {"effort": "none"}}))
        .unwrap();
        assert!(defaults.chat.passthrough.is_empty() && defaults.chat.reasoning.is_none());
        // Another provider's one end-user id: `user`, else `safety_identifier`.
        let safety = parse(
            json!({"model": "anthropic/claude-haiku-4-5", "input": "hi", "safety_identifier": "s"}),
        )
        .unwrap();
        assert_eq!(safety.chat.user.as_deref(), Some("s"));
        let both = parse(
            json!({"model": "anthropic/claude-haiku-4-5", "input": "hi", "user": "u", "safety_identifier": "s"}),
        );
        assert_eq!(both.unwrap_err().param_name(), Some("safety_identifier"));
    }

    #[test]
    #[rustfmt::skip]
    fn invalid_and_stateful_requests_are_refused_naming_the_param() {
        let m = r#""model": "demo/echo""#;
        let hi = r#""input": "hi""#;
        let item = |i: &str| format!(r#"{m}, "input": [{i}]"#);
        let part = |p: &str| item(&format!(r#"{{"role": "user", "content": [{p}]}}"#));
        let many = format!(r#"{m}, "input": [{}]"#, vec![r#"{"role": "user", "content": "x"}"#; 1001].join(","));
        let tool = r#""tools": [{"type": "function", "name": "f", "parameters": null, "strict": null}]"#;
        let cases: Vec<(&str, String, &str, &str)> = vec![
            ("unknown field", format!("{m}, {hi}, \"temprature\": 1"), "unrecognized request argument supplied: temprature", "temprature"),
            ("previous_response_id", format!(r#"{m}, {hi}, "previous_response_id": "resp_1""#), "stateless", "previous_response_id"),
            ("conversation", format!(r#"{m}, {hi}, "conversation": "conv_1""#), "stateless", "conversation"),
            ("store true", format!(r#"{m}, {hi}, "store": true"#), "stores no responses", "store"),
            ("background", format!(r#"{m}, {hi}, "background": true"#), "keeps no responses", "background"),
            ("truncation auto", format!(r#"{m}, {hi}, "truncation": "auto""#), "sends the input whole", "truncation"),
            ("prompt template", format!(r#"{m}, {hi}, "prompt": {{"id": "pmpt_1"}}"#), "prompt templates", "prompt"),
            ("max_tool_calls", format!(r#"{m}, {hi}, "max_tool_calls": 3"#), "built-in tools", "max_tool_calls"),
            ("missing model", hi.to_owned(), "model is required", "model"),
            ("model without provider", format!(r#""model": "gpt-4o", {hi}"#), "provider/model", "model"),
            ("missing input", m.to_owned(), "input is required", "input"),
            ("empty input", format!(r#"{m}, "input": []"#), "at least one item", "input"),
            ("too many items", many, "at most 1000", "input"),
            ("only instructions", item(r#"{"role": "system", "content": "x"}"#), "other than system", "input"),
            ("bad role", item(r#"{"role": "robot", "content": "x"}"#), "must be one of", "input[0].role"),
            ("bad role with parts", item(r#"{"role": "robot", "content": [{"type": "input_text", "text": "x"}]}"#), "must be one of", "input[0].role"),
            ("unknown message field", item(r#"{"role": "user", "content": "x", "foo": 1}"#), "is not a recognized field", "input[0].foo"),
            ("item id", item(r#"{"role": "user", "content": "x", "id": 5}"#), "must be a string", "input[0].id"),
            ("item status", item(r#"{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "status": "done"}"#), "must be in_progress", "input[0].status"),
            ("message phase", item(r#"{"role": "assistant", "content": "x", "phase": "draft"}"#), "commentary or final_answer", "input[0].phase"),
            ("item without type", item(r#"{"call_id": "c"}"#), "is required", "input[0].type"),
            ("item reference", item(r#"{"type": "item_reference", "id": "msg_1"}"#), "stateless", "input[0].type"),
            ("hosted tool item", item(r#"{"type": "web_search_call", "id": "ws_1", "status": "completed"}"#), "runs itself", "input[0].type"),
            ("unknown item", item(r#"{"type": "video"}"#), "must be message, function_call", "input[0].type"),
            ("missing content", item(r#"{"role": "user"}"#), "is required", "input[0].content"),
            ("text without text", part(r#"{"type": "input_text"}"#), "is required", "input[0].content[0].text"),
            ("audio", part(r#"{"type": "input_audio", "input_audio": {}}"#), "input_audio is not supported", "input[0].content[0].type"),
            ("output_text from the user", part(r#"{"type": "output_text", "text": "x"}"#), "must be input_text, input_image or input_file", "input[0].content[0].type"),
            ("image by file id", part(r#"{"type": "input_image", "file_id": "file-1", "detail": "auto"}"#), "no file store", "input[0].content[0].file_id"),
            ("image detail", part(r#"{"type": "input_image", "image_url": "https://x.com/a.png", "detail": "high"}"#), "only auto", "input[0].content[0].detail"),
            ("image without url", part(r#"{"type": "input_image", "detail": "auto"}"#), "is required", "input[0].content[0].image_url"),
            ("image scheme", part(r#"{"type": "input_image", "image_url": "file:///etc/passwd"}"#), "https URL or a base64 data: URL", "input[0].content[0].image_url"),
            ("image data not an image", part(r#"{"type": "input_image", "image_url": "data:text/html;base64,PGI+"}"#), "must be an image", "input[0].content[0].image_url"),
            ("file by id", part(r#"{"type": "input_file", "file_id": "file-1"}"#), "no file store", "input[0].content[0].file_id"),
            ("file without data", part(r#"{"type": "input_file", "filename": "a.pdf"}"#), "is required", "input[0].content[0].file_data"),
            ("file data not base64", part(r#"{"type": "input_file", "file_data": "%%%"}"#), "base64 or a data: URL", "input[0].content[0].file_data"),
            ("system image", item(r#"{"role": "system", "content": [{"type": "input_image", "image_url": "https://x.com/a.png"}]}"#), "take text only", "input[0].content[0].type"),
            ("assistant image", item(r#"{"role": "assistant", "content": [{"type": "input_image", "image_url": "https://x.com/a.png"}]}"#), "must be output_text or refusal", "input[0].content[0].type"),
            ("call without call_id", item(r#"{"type": "function_call", "name": "f", "arguments": "{}"}"#), "is required", "input[0].call_id"),
            ("call without arguments", item(r#"{"type": "function_call", "call_id": "c", "name": "f"}"#), "is required", "input[0].arguments"),
            ("call in a namespace", item(r#"{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "namespace": "ns"}"#), "namespaces", "input[0].namespace"),
            ("output without output", item(r#"{"type": "function_call_output", "call_id": "c"}"#), "is required", "input[0].output"),
            ("output part", item(r#"{"type": "function_call_output", "call_id": "c", "output": [{"type": "refusal", "refusal": "x"}]}"#), "must be input_text", "input[0].output[0].type"),
            ("reasoning without summary", item(r#"{"type": "reasoning", "id": "rs_1"}"#), "is required", "input[0].summary"),
            ("reasoning part", item(r#"{"type": "reasoning", "id": "rs_1", "summary": [{"type": "reasoning_text", "text": "x"}]}"#), "must be summary_text", "input[0].summary[0].type"),
            ("openai's encrypted reasoning", item(r#"{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABo-opaque"}"#), "not reasoning chatgate returned", "input[0].encrypted_content"),
            ("hosted tool", format!(r#"{m}, {hi}, "tools": [{{"type": "web_search"}}]"#), "function tools only", "tools[0].type"),
            ("tool without strict is fine, a bad name is not", format!(r#"{m}, {hi}, "tools": [{{"type": "function", "name": "a b"}}]"#), "must be 1 to 64", "tools[0].name"),
            ("duplicate tool", format!(r#"{m}, {hi}, "tools": [{{"type": "function", "name": "f"}}, {{"type": "function", "name": "f"}}]"#), "repeats", "tools[1].name"),
            ("tool search", format!(r#"{m}, {hi}, "tools": [{{"type": "function", "name": "f", "defer_loading": true}}]"#), "tool search", "tools[0].defer_loading"),
            ("tool_choice naming no tool", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "function", "name": "g"}}"#), "names no tool", "tool_choice.name"),
            ("tool_choice hosted", format!(r#"{m}, {hi}, {tool}, "tool_choice": {{"type": "web_search_preview"}}"#), "function tools only", "tool_choice.type"),
            ("tool_choice required without tools", format!(r#"{m}, {hi}, "tool_choice": "required""#), "requires tools", "tool_choice"),
            ("text format type", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "yaml"}}}}"#), "text, json_object or json_schema", "text.format.type"),
            ("schema without name", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "json_schema", "schema": {{}}}}}}"#), "must be 1 to 64", "text.format.name"),
            ("schema missing", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "json_schema", "name": "a"}}}}"#), "is required", "text.format.schema"),
            ("chat completions' format shape", format!(r#"{m}, {hi}, "text": {{"format": {{"type": "json_schema", "json_schema": {{"name": "a"}}}}}}"#), "is not a recognized field", "text.format.json_schema"),
            ("effort", format!(r#"{m}, {hi}, "reasoning": {{"effort": "huge"}}"#), "must be none, minimal", "reasoning.effort"),
            ("summary", format!(r#"{m}, {hi}, "reasoning": {{"summary": "long"}}"#), "auto, concise or detailed", "reasoning.summary"),
            ("include", format!(r#"{m}, {hi}, "include": ["file_search_call.results"]"#), "can include", "include[0]"),
            ("top_logprobs", format!(r#"{m}, {hi}, "top_logprobs": 21"#), "from 0 to 20", "top_logprobs"),
            ("max_output_tokens", format!(r#"{m}, {hi}, "max_output_tokens": 0"#), "positive integer", "max_output_tokens"),
            ("temperature", format!(r#"{m}, {hi}, "temperature": 2.5"#), "between 0 and 2", "temperature"),
            ("metadata value", format!(r#"{m}, {hi}, "metadata": {{"a": 1}}"#), "must be a string", "metadata.a"),
            ("stream", format!(r#"{m}, {hi}, "stream": "yes""#), "must be a boolean", "stream"),
            ("stream option", format!(r#"{m}, {hi}, "stream_options": {{"include_usage": true}}"#), "is not a recognized field", "stream_options.include_usage"),
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
    fn a_providers_refusal_is_renamed_to_the_clients_own_parameters() {
        let r = parse(json!({"model": "gemini/gemini-2.5-flash", "top_logprobs": 1, "safety_identifier": "s", "input": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                         {"type": "input_image", "image_url": "https://x.com/a.png"}]},
            {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "hm"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "[]"},
            {"type": "function_call_output", "call_id": "c1", "output": "r1"},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_text", "text": "r2"}, {"type": "input_image", "image_url": "https://x.com/b.png"}]},
            {"role": "user", "content": "go"}
        ]}))
        .unwrap();
        for (neutral, client) in [
            ("messages[0].content[1]", "input[1].content[1]"),
            ("messages[1].content[0]", "input[2]"),
            ("messages[1].content[2].arguments", "input[4].arguments"),
            (
                "messages[1].tool_calls[1].function.arguments",
                "input[4].arguments",
            ),
            ("messages[1]", "input[2]"),
            ("messages[2].content[1].content[1]", "input[6].output[1]"),
            ("messages[3].content[0]", "input[7].content"),
            ("messages[9].content[0]", "messages[9].content[0]"),
            ("tools[0].function.parameters", "tools[0].parameters"),
            ("tools[0].strict", "tools[0].strict"),
            ("tool_choice.function.name", "tool_choice.name"),
            ("response_format", "text.format"),
            ("response_format.json_schema.strict", "text.format.strict"),
            ("max_tokens", "max_output_tokens"),
            ("reasoning_effort", "reasoning.effort"),
            ("thinking.budget_tokens", "reasoning.effort"),
            ("logprobs", "top_logprobs"),
            ("user", "safety_identifier"),
            ("temperature", "temperature"),
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
        let included = parse(json!({"model": "demo/echo", "input": "hi", "include": ["message.output_text.logprobs"]})).unwrap();
        let e = included.origins.rename(ApiError::param("logprobs", "no"));
        assert_eq!(e.param_name(), Some("include"));
    }
}
