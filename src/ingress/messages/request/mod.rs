//! The request: Anthropic Messages JSON to a neutral `ChatRequest`.

use std::collections::HashMap;
use std::fmt::Display;

use serde_json::{Map, Value};

use crate::domain::model_id::{ModelId, ModelIdError};
use crate::error::ApiError;
use crate::ingress::wire::{integer, is_base64, positive, present, shown, split_signature};
use crate::providers::{
    estimate_tokens, Block, ChatRequest, Effort, Media, Message, Reasoning, ReasoningRequest,
    ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};

mod content;
use content::parse_messages;
pub use content::Origins;

/// Anthropic's own limit.
pub const MAX_MESSAGES: usize = 100_000;
pub const MAX_TOOLS: usize = 512;
pub const MAX_STOP_SEQUENCES: usize = 64;
/// Anthropic's limit of `metadata.user_id`.
pub const MAX_USER_ID_CHARS: usize = 256;
/// The name a JSON-schema output format gets: Anthropic's has none, some providers need one.
pub const OUTPUT_FORMAT_NAME: &str = "output";

/// A parsed request: the model, the neutral request, and what only this format needs.
#[derive(Clone, Debug)]
pub struct MessagesRequest {
    pub model: ModelId,
    /// The model as the client named it, for the reply.
    pub client_model: String,
    pub chat: ChatRequest,
    /// Where each neutral position came from, to name a provider's refusal in this format.
    pub origins: Origins,
}

/// Top-level fields chatgate reads (some only to refuse or to check; see the module docs).
#[rustfmt::skip]
const FIELDS: &[&str] = &[
    "model", "max_tokens", "messages", "system", "stream", "temperature", "top_p", "top_k",
    "stop_sequences", "metadata", "tools", "tool_choice", "thinking", "output_config",
    "output_format", "service_tier", "context_management", "cache_control", "container",
    "inference_geo", "speed", "diagnostics", "mcp_servers",
];

/// Anthropic's block types that chatgate does not carry (server tools' blocks, search
/// results, files in a container, tool references).
#[rustfmt::skip]
const UNSUPPORTED_BLOCKS: &[&str] = &[
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
    "tool_search_tool_result", "mcp_tool_use", "mcp_tool_result", "search_result",
    "container_upload", "tool_reference",
];

type Parsed<T> = Result<T, ApiError>;

/// An error about `param`, in Anthropic's way of naming it: `messages.1.content.0: …`.
fn invalid<T>(param: impl Display, problem: impl Display) -> Parsed<T> {
    let param = param.to_string();
    Err(ApiError::param(
        param.clone(),
        format!("{param}: {problem}"),
    ))
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Parsed<&'a Map<String, Value>> {
    v.as_object()
        .map_or_else(|| invalid(at, "Input should be an object"), Ok)
}

/// Fails on the first field of `obj` not in `fields`, as Anthropic does.
fn only_fields(obj: &Map<String, Value>, fields: &[&str], at: &str) -> Parsed<()> {
    match obj.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(k) => invalid(join(at, &shown(k)), "Extra inputs are not permitted"),
        None => Ok(()),
    }
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Parsed<Option<&'a str>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => invalid(join(at, key), "Input should be a valid string"),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Parsed<&'a str> {
    opt_str(obj, key, at)?.map_or_else(|| invalid(join(at, key), "Field required"), Ok)
}

fn opt_bool(obj: &Map<String, Value>, key: &str, at: &str) -> Parsed<Option<bool>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => invalid(join(at, key), "Input should be a valid boolean"),
    }
}

fn opt_number(obj: &Map<String, Value>, key: &str) -> Parsed<Option<f64>> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
            _ => invalid(key, "must be a number from 0 to 1"),
        },
    }
}

/// `cache_control` where Anthropic takes one: checked, then not relayed (module docs).
fn cache_control(obj: &Map<String, Value>, at: &str) -> Parsed<()> {
    let Some(v) = present(obj, "cache_control") else {
        return Ok(());
    };
    let at = join(at, "cache_control");
    let c = object(v, &at)?;
    only_fields(c, &["type", "ttl"], &at)?;
    if required_str(c, "type", &at)? != "ephemeral" {
        return invalid(join(&at, "type"), "Input should be 'ephemeral'");
    }
    match opt_str(c, "ttl", &at)? {
        None | Some("5m" | "1h") => Ok(()),
        Some(_) => invalid(join(&at, "ttl"), "Input should be '5m' or '1h'"),
    }
}

/// The model a client named: `provider/model` as it is; a bare name (`claude-sonnet-4-5`, as
/// Claude Code and Anthropic's SDK examples send) is an Anthropic model.
pub fn resolve_model(name: &str) -> Result<ModelId, ModelIdError> {
    if name.contains('/') {
        ModelId::parse(name)
    } else {
        ModelId::parse(&format!("anthropic/{name}"))
    }
}

pub fn parse_request(body: &[u8]) -> Parsed<MessagesRequest> {
    parse(body, true)
}

/// A `count_tokens` request: the same fields, `max_tokens` optional.
pub fn parse_count_request(body: &[u8]) -> Parsed<MessagesRequest> {
    parse(body, false)
}

fn parse(body: &[u8], create: bool) -> Parsed<MessagesRequest> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::validation(
            "the request body must be a JSON object",
        ));
    };
    only_fields(&obj, FIELDS, "")?;
    let client_model = required_str(&obj, "model", "")?.to_owned();
    let model = resolve_model(&client_model)
        .map_err(|e| ApiError::param("model", format!("model: {e}")))?;
    let max_tokens = match present(&obj, "max_tokens") {
        Some(v) => match positive(v) {
            Some(n) => Some(n),
            None => {
                return invalid(
                    "max_tokens",
                    "must be a positive integer (chatgate does not pre-warm caches with 0)",
                )
            }
        },
        None if create => return invalid("max_tokens", "Field required"),
        None => None,
    };
    refuse_what_is_not_carried(&obj)?;
    let turns = parse_messages(present(&obj, "messages"))?;
    let mut system = match present(&obj, "system") {
        None => Vec::new(),
        Some(v) => vec![system_text(v, "system")?],
    };
    system.extend(turns.system);
    let system = system.join("\n\n");
    let tools = parse_tools(present(&obj, "tools"))?;
    let (tool_choice, parallel_tool_calls) =
        parse_tool_choice(present(&obj, "tool_choice"), &tools)?;
    let (effort, format) = parse_output_config(present(&obj, "output_config"))?;
    let (response_format, format_at) = match (format, present(&obj, "output_format")) {
        (Some(_), Some(_)) => {
            return invalid(
                "output_format",
                "is the deprecated form of output_config.format: give one of them",
            )
        }
        (Some(f), None) => (Some(f), "output_config.format"),
        (None, Some(v)) => (
            Some(json_schema_format(v, "output_format")?),
            "output_format",
        ),
        (None, None) => (None, "output_config.format"),
    };
    let stop = match present(&obj, "stop_sequences") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.len() <= MAX_STOP_SEQUENCES => {
            let mut stop = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => stop.push(s.clone()),
                    _ => {
                        return invalid(
                            format!("stop_sequences.{i}"),
                            "Input should be a valid string",
                        )
                    }
                }
            }
            stop
        }
        Some(_) => {
            return invalid(
                "stop_sequences",
                format!("must be an array of up to {MAX_STOP_SEQUENCES} strings"),
            )
        }
    };
    let chat = ChatRequest {
        model: model.model().to_owned(),
        system: (!system.is_empty()).then_some(system),
        messages: turns.messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        reasoning: parse_reasoning(present(&obj, "thinking"), effort)?,
        max_tokens,
        temperature: opt_number(&obj, "temperature")?,
        top_p: opt_number(&obj, "top_p")?,
        stop,
        seed: None,
        user: parse_metadata(present(&obj, "metadata"))?,
        logprobs: false,
        top_logprobs: None,
        stream: opt_bool(&obj, "stream", "")?.unwrap_or(false),
        passthrough: Map::new(),
    };
    Ok(MessagesRequest {
        model,
        client_model,
        chat,
        origins: Origins {
            messages: turns.origins,
            format_at,
        },
    })
}

/// The top-level fields that are checked, then accepted as hints or refused by name.
fn refuse_what_is_not_carried(obj: &Map<String, Value>) -> Parsed<()> {
    if let Some(v) = present(obj, "top_k") {
        return match integer(v) {
            Some(n) if n >= 0 => invalid(
                "top_k",
                "is not supported by chatgate: no provider-neutral counterpart (leave it out)",
            ),
            _ => invalid("top_k", "must be a non-negative integer"),
        };
    }
    for (key, why) in [
        (
            "container",
            "code execution containers are not supported by chatgate",
        ),
        (
            "inference_geo",
            "is not supported by chatgate: where a provider runs the model is its own",
        ),
    ] {
        match present(obj, key) {
            None => {}
            Some(Value::String(_)) => return invalid(key, why),
            Some(_) => return invalid(key, "Input should be a valid string"),
        }
    }
    match present(obj, "mcp_servers") {
        None => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Array(_)) => {
            return invalid(
                "mcp_servers",
                "MCP servers are not supported by chatgate: declare their tools as custom tools",
            )
        }
        Some(_) => return invalid("mcp_servers", "Input should be a valid array"),
    }
    match opt_str(obj, "speed", "")? {
        None | Some("standard") => {}
        Some("fast") => {
            return invalid(
                "speed",
                "fast mode is not supported by chatgate: leave it out or use standard",
            )
        }
        Some(_) => return invalid("speed", "Input should be 'standard' or 'fast'"),
    }
    match opt_str(obj, "service_tier", "")? {
        None | Some("auto" | "standard_only") => {}
        Some(_) => return invalid("service_tier", "Input should be 'auto' or 'standard_only'"),
    }
    if let Some(v) = present(obj, "diagnostics") {
        let d = object(v, "diagnostics")?;
        only_fields(d, &["previous_message_id"], "diagnostics")?;
        opt_str(d, "previous_message_id", "diagnostics")?;
    }
    cache_control(obj, "")?;
    if let Some(v) = present(obj, "context_management") {
        parse_context_management(v)?;
    }
    Ok(())
}

/// Claude Code's `context_management`: clearing earlier turns' thinking changes nothing any
/// provider here reads, so it is accepted; other edits would change the prompt and are refused.
fn parse_context_management(v: &Value) -> Parsed<()> {
    let at = "context_management";
    let cm = object(v, at)?;
    only_fields(cm, &["edits"], at)?;
    let Some(edits) = present(cm, "edits") else {
        return Ok(());
    };
    let Value::Array(edits) = edits else {
        return invalid("context_management.edits", "Input should be a valid array");
    };
    for (i, edit) in edits.iter().enumerate() {
        let eat = format!("context_management.edits.{i}");
        let e = object(edit, &eat)?;
        let kind = required_str(e, "type", &eat)?;
        if !kind.starts_with("clear_thinking_") {
            return invalid(
                join(&eat, "type"),
                format!(
                    "{} is not supported by chatgate: only clear_thinking edits are accepted \
                     (they change nothing here)",
                    shown(kind)
                ),
            );
        }
        only_fields(e, &["type", "keep"], &eat)?;
    }
    Ok(())
}

fn parse_metadata(value: Option<&Value>) -> Parsed<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    let m = object(v, "metadata")?;
    only_fields(m, &["user_id"], "metadata")?;
    match opt_str(m, "user_id", "metadata")? {
        Some(id) if id.chars().count() > MAX_USER_ID_CHARS => invalid(
            "metadata.user_id",
            format!("must be at most {MAX_USER_ID_CHARS} characters"),
        ),
        id => Ok(id.map(str::to_owned)),
    }
}

/// `system` (or a `system` message's content): a string, or text blocks joined by blank lines.
fn system_text(v: &Value, at: &str) -> Parsed<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                let bat = format!("{at}.{j}");
                let b = object(b, &bat)?;
                match required_str(b, "type", &bat)? {
                    "text" => texts.push(text_block(b, &bat)?),
                    other => {
                        return invalid(
                            join(&bat, "type"),
                            format!("must be text here, not {}", shown(other)),
                        )
                    }
                }
            }
            Ok(texts.join("\n\n"))
        }
        _ => invalid(at, "must be a string or an array of text blocks"),
    }
}

/// A text block's text. Its `citations` (only ever from Anthropic's own search tools) are
/// not carried.
fn text_block(b: &Map<String, Value>, at: &str) -> Parsed<String> {
    only_fields(b, &["type", "text", "cache_control", "citations"], at)?;
    cache_control(b, at)?;
    match present(b, "citations") {
        None => {}
        Some(Value::Array(c)) if c.is_empty() => {}
        Some(_) => {
            return invalid(
                join(at, "citations"),
                "citations are not supported by chatgate: send the text alone",
            )
        }
    }
    Ok(required_str(b, "text", at)?.to_owned())
}

fn valid_tool_name(n: &str) -> bool {
    (1..=128).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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
        let at = format!("tools.{i}");
        let t = object(item, &at)?;
        match opt_str(t, "type", &at)? {
            None | Some("custom") => {}
            Some(other) => {
                return invalid(
                    join(&at, "type"),
                    format!(
                    "{} is a server tool: chatgate relays custom tools only (name, input_schema)",
                    shown(other)
                ),
                )
            }
        }
        #[rustfmt::skip]
        only_fields(t, &["type", "name", "description", "input_schema", "cache_control", "strict",
                         "defer_loading", "eager_input_streaming", "input_examples", "allowed_callers"], &at)?;
        cache_control(t, &at)?;
        let name = required_str(t, "name", &at)?;
        if !valid_tool_name(name) {
            return invalid(
                join(&at, "name"),
                "must be 1 to 128 characters of a-z, A-Z, 0-9, _ and -",
            );
        }
        if tools.iter().any(|t| t.name == name) {
            return invalid(join(&at, "name"), format!("repeats the tool name {name}"));
        }
        let parameters = match present(t, "input_schema") {
            Some(s @ Value::Object(_)) => s.clone(),
            Some(_) => return invalid(join(&at, "input_schema"), "must be a JSON Schema object"),
            None => return invalid(join(&at, "input_schema"), "Field required"),
        };
        if opt_bool(t, "defer_loading", &at)? == Some(true) {
            return invalid(
                join(&at, "defer_loading"),
                "deferred tools are not supported by chatgate (they need Anthropic's tool search)",
            );
        }
        opt_bool(t, "eager_input_streaming", &at)?;
        match present(t, "input_examples") {
            None => {}
            Some(Value::Array(e)) if e.is_empty() => {}
            Some(_) => {
                return invalid(
                    join(&at, "input_examples"),
                    "is not supported by chatgate: put examples in the description",
                )
            }
        }
        match present(t, "allowed_callers") {
            None => {}
            Some(v) if *v == serde_json::json!(["direct"]) => {}
            Some(_) => {
                return invalid(
                    join(&at, "allowed_callers"),
                    "only [\"direct\"] is supported by chatgate",
                )
            }
        }
        tools.push(Tool {
            name: name.to_owned(),
            description: opt_str(t, "description", &at)?.map(str::to_owned),
            parameters,
            strict: opt_bool(t, "strict", &at)?,
        });
    }
    Ok(tools)
}

/// The tool choice, and `parallel_tool_calls: false` when parallel use is disabled.
fn parse_tool_choice(
    value: Option<&Value>,
    tools: &[Tool],
) -> Parsed<(Option<ToolChoice>, Option<bool>)> {
    let Some(v) = value else {
        return Ok((None, None));
    };
    let at = "tool_choice";
    let c = object(v, at)?;
    let kind = required_str(c, "type", at)?;
    let fields: &[&str] = match kind {
        "auto" | "any" => &["type", "disable_parallel_tool_use"],
        "tool" => &["type", "name", "disable_parallel_tool_use"],
        "none" => &["type"],
        _ => {
            return invalid(
                "tool_choice.type",
                "Input should be 'auto', 'any', 'tool' or 'none'",
            )
        }
    };
    only_fields(c, fields, at)?;
    let choice = match kind {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        _ => {
            let name = required_str(c, "name", at)?;
            if !tools.iter().any(|t| t.name == name) {
                return invalid(
                    "tool_choice.name",
                    format!("names no tool in tools: {}", shown(name)),
                );
            }
            ToolChoice::Named(name.to_owned())
        }
    };
    if matches!(choice, ToolChoice::Required) && tools.is_empty() {
        return invalid("tool_choice", "requires tools");
    }
    let parallel = match opt_bool(c, "disable_parallel_tool_use", at)? {
        Some(true) => Some(false),
        _ => None,
    };
    Ok((Some(choice), parallel))
}

/// `{type: "json_schema", schema}`: `output_config.format`, or the deprecated `output_format`.
fn json_schema_format(v: &Value, at: &str) -> Parsed<ResponseFormat> {
    let f = object(v, at)?;
    only_fields(f, &["type", "schema"], at)?;
    if required_str(f, "type", at)? != "json_schema" {
        return invalid(join(at, "type"), "Input should be 'json_schema'");
    }
    let schema = match present(f, "schema") {
        Some(s @ Value::Object(_)) => s.clone(),
        Some(_) => return invalid(join(at, "schema"), "must be a JSON Schema object"),
        None => return invalid(join(at, "schema"), "Field required"),
    };
    Ok(ResponseFormat::JsonSchema {
        name: OUTPUT_FORMAT_NAME.to_owned(),
        description: None,
        schema,
        strict: None,
    })
}

fn parse_output_config(value: Option<&Value>) -> Parsed<(Option<Effort>, Option<ResponseFormat>)> {
    let Some(v) = value else {
        return Ok((None, None));
    };
    let at = "output_config";
    let o = object(v, at)?;
    only_fields(o, &["effort", "format"], at)?;
    let effort = match opt_str(o, "effort", at)? {
        None => None,
        Some(e @ ("low" | "medium" | "high")) => Effort::parse(e),
        Some("xhigh" | "max") => {
            return invalid(
                "output_config.effort",
                "xhigh and max are not supported by chatgate (not every provider has them): \
                 use low, medium or high",
            )
        }
        Some(_) => {
            return invalid(
                "output_config.effort",
                "Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
            )
        }
    };
    let format = match present(o, "format") {
        None => None,
        Some(f) => Some(json_schema_format(f, "output_config.format")?),
    };
    Ok((effort, format))
}

/// `thinking` with the effort of `output_config`: the neutral reasoning request.
fn parse_reasoning(
    thinking: Option<&Value>,
    effort: Option<Effort>,
) -> Parsed<Option<ReasoningRequest>> {
    let request = |budget_tokens, include| ReasoningRequest {
        effort,
        budget_tokens,
        include,
    };
    let Some(v) = thinking else {
        return Ok(effort.map(|_| request(None, true)));
    };
    let at = "thinking";
    let t = object(v, at)?;
    let include = match opt_str(t, "display", at)? {
        None | Some("summarized") => true,
        Some("omitted") => false,
        Some(_) => {
            return invalid(
                "thinking.display",
                "Input should be 'summarized' or 'omitted'",
            )
        }
    };
    match required_str(t, "type", at)? {
        "enabled" => {
            only_fields(t, &["type", "budget_tokens", "display"], at)?;
            match present(t, "budget_tokens").and_then(positive) {
                Some(budget) => Ok(Some(request(Some(budget), include))),
                None => invalid("thinking.budget_tokens", "must be a positive integer"),
            }
        }
        "adaptive" => {
            only_fields(t, &["type", "display"], at)?;
            Ok(Some(request(None, include)))
        }
        "disabled" => {
            only_fields(t, &["type"], at)?;
            if effort.is_some() {
                return invalid(
                    "output_config.effort",
                    "asks for reasoning while thinking is disabled",
                );
            }
            Ok(None)
        }
        _ => invalid(
            "thinking.type",
            "Input should be 'enabled', 'adaptive' or 'disabled'",
        ),
    }
}

/// `count_tokens`: chatgate's prompt estimate (`ChatRequest::prompt_estimate`) plus the
/// tools' definitions as text. Images and documents are not counted.
pub fn estimate_input_tokens(req: &ChatRequest) -> u64 {
    req.prompt_estimate()
        + req
            .tools
            .iter()
            .map(|t| {
                estimate_tokens(&t.name)
                    + t.description.as_deref().map_or(0, estimate_tokens)
                    + estimate_tokens(&t.parameters.to_string())
            })
            .sum::<u64>()
}

#[cfg(test)]
mod tests;
