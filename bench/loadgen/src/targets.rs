//! What the bench sends requests to: the mock (the baselines), chatgate's routes, LiteLLM, and
//! the minimal JS Workers of bench/floor; each one's stream format, baseline and floor.

use serde_json::{json, Value};

use crate::stream::Wire;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// The mock itself: the baseline of every OpenAI-upstream target.
    Direct,
    /// POST /api/conversations/{id}/messages with an access token (Durable Object, persisted).
    Chat,
    /// The same, sent to the workerd that runs the Worker, past wrangler dev's proxy.
    ChatInner,
    /// POST /v1/chat/completions with an issued API key.
    V1,
    /// LiteLLM's proxy in front of the same mock.
    LiteLlm,
    /// bench/floor/a: `return fetch(upstream)`.
    FloorA,
    /// bench/floor/b: every SSE frame parsed and re-serialised.
    FloorB,
    /// bench/floor/e: floor B's work, read by a JavaScript loop and written into the
    /// runtime's own stream (chatgate's way since `sse::pump`), not piped through a JS
    /// TransformStream.
    FloorE,
    /// bench/floor/c: Worker → SQLite Durable Object that relays, saving once a second.
    FloorC,
    /// The mock, sent the tool-call request chatgate sends it (recorded by the mock).
    DirectTools,
    /// POST /v1/chat/completions with tools: the mock's `tools-N`, N parallel calls.
    V1Tools,
    /// The mock's Anthropic /v1/messages, sent the request chatgate sends it (recorded).
    DirectAnthropic,
    /// POST /v1/messages (Anthropic's Messages API) with `x-api-key`, model `anthropic/mock…`.
    Messages,
    /// POST /v1/responses (OpenAI's Responses API, stateless), model `openai/mock…`.
    Responses,
}

/// The tool the tool-call rows declare. The mock's arguments for it,
/// `{"city":"x","days":1,"unit":"celsius"}`, are 38 characters: 5 pieces of at most 8.
pub(crate) const TOOL_PIECES: usize = 5;

pub(crate) fn tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "days", "unit"]
        }
    }})
}

impl Target {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Direct => "mock direct",
            Target::Chat => "chatgate chat route",
            Target::ChatInner => "chatgate chat route, past wrangler's proxy",
            Target::V1 => "chatgate /v1/chat/completions",
            Target::LiteLlm => "LiteLLM proxy /v1/chat/completions",
            Target::FloorA => "floor A: JS pass-through",
            Target::FloorB => "floor B: JS, each frame re-serialised",
            Target::FloorE => "floor E: floor B's work, read in a JS loop into a native stream",
            Target::FloorC => "floor C: JS Worker → SQLite Durable Object",
            Target::DirectTools => "mock direct, tool calls",
            Target::V1Tools => "chatgate /v1/chat/completions, tool calls",
            Target::DirectAnthropic => "mock direct, Anthropic /v1/messages",
            Target::Messages => "chatgate /v1/messages (Anthropic ingress)",
            Target::Responses => "chatgate /v1/responses",
        }
    }

    /// The short name used in the floor column.
    pub(crate) fn letter(self) -> &'static str {
        match self {
            Target::FloorA => "A",
            Target::FloorB => "B",
            Target::FloorE => "E",
            Target::FloorC => "C",
            _ => "?",
        }
    }

    pub(crate) fn wire(self) -> Wire {
        match self {
            Target::Chat | Target::ChatInner | Target::FloorC => Wire::Chat,
            Target::DirectAnthropic | Target::Messages => Wire::Anthropic,
            Target::Responses => Wire::Responses,
            _ => Wire::OpenAi,
        }
    }

    /// The mock straight, sent what this target sends it upstream: what "added" is against.
    pub(crate) fn baseline(self) -> Target {
        match self {
            Target::V1Tools | Target::DirectTools => Target::DirectTools,
            Target::Messages | Target::DirectAnthropic => Target::DirectAnthropic,
            _ => Target::Direct,
        }
    }

    pub(crate) fn is_baseline(self) -> bool {
        self.baseline() == self
    }

    pub(crate) fn is_floor(self) -> bool {
        matches!(
            self,
            Target::FloorA | Target::FloorB | Target::FloorC | Target::FloorE
        )
    }

    /// The minimal Worker of the same shape: /v1 routes ↔ B, the chat route ↔ C.
    pub(crate) fn floor(self) -> Option<Target> {
        match self {
            Target::V1 | Target::V1Tools | Target::Messages | Target::Responses => {
                Some(Target::FloorB)
            }
            Target::Chat => Some(Target::FloorC),
            _ => None,
        }
    }

    /// A tool-call target's model: `tokens-N` becomes `tools-N/5` (1–16 calls of 5 pieces).
    pub(crate) fn model(self, model: &str) -> String {
        if !matches!(self, Target::V1Tools | Target::DirectTools) {
            return model.to_string();
        }
        model
            .split('-')
            .scan(false, |after_tokens, part| {
                let out = if *after_tokens {
                    let n: usize = part.parse().unwrap_or(TOOL_PIECES);
                    (n / TOOL_PIECES).clamp(1, 16).to_string()
                } else if part == "tokens" {
                    "tools".to_string()
                } else {
                    part.to_string()
                };
                *after_tokens = part == "tokens";
                Some(out)
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Token frames in a complete reply of `tokens` tokens.
    pub(crate) fn expect(self, tokens: usize) -> usize {
        match self {
            Target::V1Tools | Target::DirectTools => {
                (tokens / TOOL_PIECES).clamp(1, 16) * TOOL_PIECES
            }
            _ => tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_targets_ask_for_a_fifth_as_many_calls_as_tokens() {
        assert_eq!(
            Target::V1Tools.model("mock-tokens-20-delay-0"),
            "mock-tools-4-delay-0"
        );
        assert_eq!(Target::V1Tools.expect(20), 20);
        assert_eq!(
            Target::DirectTools.model("mock-tokens-2-delay-0"),
            "mock-tools-1-delay-0"
        );
        assert_eq!(Target::DirectTools.expect(2), 5);
        assert_eq!(
            Target::V1.model("mock-tokens-20-delay-0"),
            "mock-tokens-20-delay-0"
        );
    }
}
