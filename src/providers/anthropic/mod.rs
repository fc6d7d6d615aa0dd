//! Anthropic Messages API: `request` builds the body from the neutral model, `stream`
//! reads replies back (whole and streamed); what Anthropic cannot do is refused here, by
//! the Chat Completions name of the parameter.
//!
//! Decisions (each checked against Anthropic's docs and anthropic-sdk-python's types):
//! - Structured output uses Anthropic's own JSON outputs, generally available as
//!   `output_config.format` (`{type: "json_schema", schema}`, no beta header): the reply is
//!   the JSON as text, its stop reason `end_turn`, and it works with tools and thinking,
//!   which a forced tool would not. The format's description goes into the schema's root
//!   `description` when the schema has none; its name has no Anthropic counterpart (it only
//!   labels the format). `json_object` is refused: Anthropic has no JSON mode without a
//!   schema (its schemas need `additionalProperties: false`, so `{"type": "object"}` would
//!   only allow `{}`).
//! - Strict tools: Anthropic's `tools[].strict` is generally available, so `strict: true`
//!   is sent as is.
//! - Reasoning: a token budget the client gave goes as `thinking: {type: "enabled",
//!   budget_tokens}`. An effort alone goes as adaptive thinking (`{type: "adaptive"}` and
//!   `output_config.effort`, `minimal` read as `low`) to Claude 4.6 and later, which
//!   deprecate budgets (4.7 and later refuse them), and as the effort's budget
//!   (`Effort::budget_tokens`) to Claude 4.5 and earlier, which take nothing else; a model
//!   name that carries no version is taken to be newer. Anthropic needs a budget of at least
//!   1024 below `max_tokens`: without a `max_tokens`, chatgate sends the budget plus
//!   `DEFAULT_MAX_TOKENS` (the answer keeps its usual room); with one, an effort's budget
//!   shrinks to fit under it, and a client's budget that does not fit is refused by name.
//!   Asking for the reasoning text (`include`) sends adaptive thinking's `display:
//!   "summarized"`: the newest models omit the text otherwise (budgets always return it).
//!   Thinking's documented limits (temperature 1 only, `top_p` of 0.95 and up, no forced
//!   tool, no prefilled assistant turn) are refused by name rather than left to a 400.

mod request;
mod stream;

use super::{
    Block, ChatRequest, Effort, ErrorDetail, Media, ProviderKind, ResponseFormat, Role, ToolChoice,
    Unsupported, UpstreamErrorKind, DEFAULT_MAX_TOKENS,
};
use serde::Deserialize;

pub(in crate::providers) use request::build_request;
pub(in crate::providers) use stream::parse_completion;
pub use stream::AnthropicStream;

pub const NAME: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";

const KIND: ProviderKind = ProviderKind::Anthropic;

/// Anthropic's smallest `thinking.budget_tokens`.
const MIN_THINKING_BUDGET: u32 = 1024;
/// The image types Anthropic reads.
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];
/// The one document type Anthropic reads from bytes.
const PDF: &str = "application/pdf";

/// How a request's reasoning is asked of Anthropic (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Thinking {
    Off,
    /// `{type: "enabled", budget_tokens}`; `explicit` when the client gave the budget.
    Manual {
        budget: u32,
        explicit: bool,
    },
    /// `{type: "adaptive"}`, with `output_config.effort` when an effort was given.
    Adaptive {
        effort: Option<Effort>,
        summarized: bool,
    },
}

impl Thinking {
    fn of(req: &ChatRequest) -> Self {
        let Some(r) = req.reasoning else {
            return Thinking::Off;
        };
        if let Some(budget) = r.budget_tokens {
            return Thinking::Manual {
                budget,
                explicit: true,
            };
        }
        if takes_adaptive_thinking(&req.model) {
            return Thinking::Adaptive {
                effort: r.effort,
                summarized: r.include,
            };
        }
        let budget = r.effort.unwrap_or(Effort::Medium).budget_tokens();
        Thinking::Manual {
            budget: req
                .max_tokens
                .map_or(budget, |max| budget.min(max.saturating_sub(1))),
            explicit: false,
        }
    }

    /// The tokens the model may spend thinking, as room to add to a default `max_tokens`.
    fn room(self, req: &ChatRequest) -> u32 {
        match self {
            Thinking::Off => 0,
            Thinking::Manual { budget, .. } => budget,
            // Anthropic's default effort is high.
            Thinking::Adaptive { .. } => req
                .reasoning
                .and_then(|r| r.effort)
                .unwrap_or(Effort::High)
                .budget_tokens(),
        }
    }
}

/// `output_config.effort`: Anthropic's levels are low, medium, high (and xhigh, max).
fn effort_level(effort: Effort) -> &'static str {
    match effort {
        Effort::Minimal | Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High => "high",
    }
}

/// Whether `model` takes adaptive thinking: Claude 4.6 and later. Anthropic's model ids
/// carry the version as the first numbers between dashes (`claude-3-7-sonnet-20250219`,
/// `claude-sonnet-4-5`, `claude-opus-4-6`, `claude-sonnet-4-20250514`); a date is not a
/// minor version, and a name without a version is a newer model.
fn takes_adaptive_thinking(model: &str) -> bool {
    let mut numbers = model
        .split('-')
        .map(|part| {
            (part.len() <= 2)
                .then(|| part.parse::<u32>().ok())
                .flatten()
        })
        .skip_while(Option::is_none);
    let Some(Some(major)) = numbers.next() else {
        return true;
    };
    let minor = numbers.next().flatten().unwrap_or(0);
    (major, minor) >= (4, 6)
}

/// The `max_tokens` sent: the client's, or `DEFAULT_MAX_TOKENS` plus the room reasoning may
/// take. What a budget reservation for an Anthropic call should count on.
pub fn max_tokens(req: &ChatRequest) -> u32 {
    req.max_tokens
        .unwrap_or_else(|| DEFAULT_MAX_TOKENS.saturating_add(Thinking::of(req).room(req)))
}

/// What Anthropic cannot do of `req` (see `super::validate`), by the Chat Completions name of
/// the parameter. Message indexes are those of `req.messages`, block indexes those of a
/// message's content (an ingress whose names differ translates them).
pub(super) fn validate(req: &ChatRequest) -> Result<(), Unsupported> {
    let refuse = |param: &str, message: &str| Err(Unsupported::new(param, message));
    if req.seed.is_some() {
        return refuse(
            "seed",
            "Anthropic has no seed: its sampling cannot be made repeatable",
        );
    }
    if req.logprobs {
        return refuse("logprobs", "Anthropic does not return log probabilities");
    }
    if req.top_logprobs.is_some() {
        return refuse(
            "top_logprobs",
            "Anthropic does not return log probabilities",
        );
    }
    if let Some(key) = req.passthrough.keys().next() {
        return refuse(key, "this parameter has no Anthropic counterpart");
    }
    if req.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return refuse("temperature", "Anthropic takes a temperature from 0 to 1");
    }
    for (i, tool) in req.tools.iter().enumerate() {
        let object = match &tool.parameters {
            serde_json::Value::Null => true,
            serde_json::Value::Object(schema) => schema.get("type").is_none_or(|t| t == "object"),
            _ => false,
        };
        if !object {
            return refuse(
                &format!("tools[{i}].function.parameters"),
                "Anthropic takes a tool's parameters as a JSON Schema of type object",
            );
        }
    }
    if req.tools.is_empty()
        && matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Named(_))
        )
    {
        return refuse(
            "tool_choice",
            "a tool must be called, but no tools were given",
        );
    }
    if req.response_format == Some(ResponseFormat::JsonObject) {
        return refuse(
            "response_format",
            "Anthropic has no JSON mode without a schema: use a json_schema response format",
        );
    }
    for (i, m) in req.messages.iter().enumerate() {
        validate_turn(i, m.role, &m.content)?;
    }
    validate_thinking(req)?;
    let structured = matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. }));
    let last = req.messages.len().saturating_sub(1);
    if (structured || Thinking::of(req) != Thinking::Off)
        && req
            .messages
            .get(last)
            .is_some_and(|m| m.role == Role::Assistant)
    {
        return refuse(
            &format!("messages[{last}]"),
            "Anthropic cannot continue a prefilled assistant turn with reasoning or a JSON schema \
             response format",
        );
    }
    Ok(())
}

fn validate_turn(i: usize, role: Role, content: &[Block]) -> Result<(), Unsupported> {
    let mut calls = 0;
    for (j, block) in content.iter().enumerate() {
        let param = || format!("messages[{i}].content[{j}]");
        match (role, block) {
            (Role::User, Block::ToolCall(_) | Block::Reasoning(_) | Block::Refusal(_)) => {
                return Err(Unsupported::new(
                    param(),
                    "tool calls, reasoning and refusals belong to assistant turns",
                ));
            }
            (Role::Assistant, Block::ToolResult(_)) => {
                return Err(Unsupported::new(
                    param(),
                    "tool results belong to user turns",
                ));
            }
            (_, Block::ToolCall(call)) => {
                if arguments(&call.arguments).is_none() {
                    return Err(Unsupported::new(
                        format!("messages[{i}].tool_calls[{calls}].function.arguments"),
                        "Anthropic takes a tool call's arguments as a JSON object",
                    ));
                }
                calls += 1;
            }
            (_, Block::ToolResult(result)) => {
                for (k, inner) in result.content.iter().enumerate() {
                    if !matches!(
                        inner,
                        Block::Text(_) | Block::Image(_) | Block::Document { .. }
                    ) {
                        return Err(Unsupported::new(
                            format!("{}.content[{k}]", param()),
                            "a tool result holds text, images and documents",
                        ));
                    }
                    validate_media(inner)
                        .map_err(|m| Unsupported::new(format!("{}.content[{k}]", param()), m))?;
                }
            }
            _ => validate_media(block).map_err(|m| Unsupported::new(param(), m))?,
        }
    }
    Ok(())
}

/// Images of the four types Anthropic reads; documents as PDF bytes or by URL.
fn validate_media(block: &Block) -> Result<(), String> {
    match block {
        Block::Image(Media::Base64 { media_type, .. })
            if !IMAGE_TYPES.contains(&media_type.as_str()) =>
        {
            Err(format!(
                "Anthropic reads JPEG, PNG, GIF and WebP images, not {media_type}"
            ))
        }
        Block::Document {
            media: Media::Base64 { media_type, .. },
            ..
        } if media_type != PDF => Err(format!(
            "Anthropic reads PDF documents ({PDF}), not {media_type}"
        )),
        _ => Ok(()),
    }
}

/// Anthropic's documented limits of thinking: a budget of at least 1024 below `max_tokens`;
/// no temperature but 1, no `top_p` under 0.95, no forced tool use.
fn validate_thinking(req: &ChatRequest) -> Result<(), Unsupported> {
    let thinking = Thinking::of(req);
    if let Thinking::Manual { budget, explicit } = thinking {
        if budget < MIN_THINKING_BUDGET {
            return Err(if explicit {
                Unsupported::new(
                    "thinking.budget_tokens",
                    format!("Anthropic's smallest thinking budget is {MIN_THINKING_BUDGET} tokens"),
                )
            } else {
                Unsupported::new(
                    "max_tokens",
                    format!(
                        "with reasoning, Anthropic needs max_tokens above its smallest thinking \
                         budget, {MIN_THINKING_BUDGET} tokens"
                    ),
                )
            });
        }
        if req.max_tokens.is_some_and(|max| max <= budget) {
            return Err(Unsupported::new(
                "max_tokens",
                format!("Anthropic needs max_tokens above the thinking budget ({budget} tokens)"),
            ));
        }
    }
    if thinking == Thinking::Off {
        return Ok(());
    }
    if req.temperature.is_some_and(|t| t != 1.0) {
        return Err(Unsupported::new(
            "temperature",
            "with reasoning, Anthropic takes no temperature but 1",
        ));
    }
    if req.top_p.is_some_and(|p| p < 0.95) {
        return Err(Unsupported::new(
            "top_p",
            "with reasoning, Anthropic takes a top_p from 0.95 to 1",
        ));
    }
    if !req.tools.is_empty()
        && matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Named(_))
        )
    {
        return Err(Unsupported::new(
            "tool_choice",
            "with reasoning, Anthropic cannot be made to call a tool (use auto or none)",
        ));
    }
    Ok(())
}

/// Anthropic fetches images and PDFs from web URLs itself (`source: {type: "url"}`); any
/// other URL (a `data:` one, say) is for the Worker to turn into bytes.
pub(super) fn takes_url(block: &Block) -> bool {
    match block {
        Block::Image(Media::Url(url))
        | Block::Document {
            media: Media::Url(url),
            ..
        } => url.starts_with("https://") || url.starts_with("http://"),
        _ => true,
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

pub(super) fn error_detail(body: &[u8]) -> ErrorDetail {
    let Some(err) = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
    else {
        return ErrorDetail::default();
    };
    let kind = match err.kind.as_deref().unwrap_or_default() {
        "invalid_request_error" | "request_too_large" | "billing_error" => {
            Some(UpstreamErrorKind::BadRequest)
        }
        "authentication_error" | "permission_error" => Some(UpstreamErrorKind::Unauthorized),
        "not_found_error" => Some(UpstreamErrorKind::NotFound),
        "rate_limit_error" => Some(UpstreamErrorKind::RateLimited { retry_after: None }),
        "overloaded_error" => Some(UpstreamErrorKind::Overloaded),
        "api_error" | "timeout_error" => Some(UpstreamErrorKind::Server),
        _ => None,
    };
    ErrorDetail {
        message: err.message,
        kind,
        retry_after: None,
    }
}

/// A tool call's arguments as the object Anthropic's `input` is: blank is `{}` (a call
/// without arguments, as a stream with no `input_json_delta` text leaves it); anything but
/// a JSON object is `None`.
fn arguments(text: &str) -> Option<Json> {
    if text.trim().is_empty() {
        return Some(Json::empty_object());
    }
    serde_json::from_str::<Json>(text)
        .ok()
        .filter(|j| matches!(j, Json::Object(_)))
}

/// A JSON value that keeps object keys in the order they came: serde_json's `Map` sorts
/// them (its `preserve_order` feature is off), and a tool call's arguments should read, in
/// either direction, as the model wrote them. Serialized compactly.
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// `{}`, the input of a call without arguments.
    fn empty_object() -> Self {
        Json::Object(Vec::new())
    }

    fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(t) => s.serialize_str(t),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|i| seq.serialize_element(i))?;
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                entries
                    .iter()
                    .try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests;
