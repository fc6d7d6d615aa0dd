//! The price table: micro-dollars per million tokens, input and output, per model.
//! Unknown models cost zero (they are still metered in tokens).

use crate::providers::Usage;

/// (model, input µ$ per 1M tokens, output µ$ per 1M tokens). A model matches an entry
/// when it equals it or starts with it followed by '-' (dated snapshots).
const PRICES: &[(&str, u64, u64)] = &[
    ("openai/gpt-4o-mini", 150_000, 600_000),
    ("openai/gpt-4o", 2_500_000, 10_000_000),
    ("openai/gpt-4.1-mini", 400_000, 1_600_000),
    ("openai/gpt-4.1-nano", 100_000, 400_000),
    ("openai/gpt-4.1", 2_000_000, 8_000_000),
    ("openai/o4-mini", 1_100_000, 4_400_000),
    ("openai/gpt-5-mini", 250_000, 2_000_000),
    ("openai/gpt-5", 1_250_000, 10_000_000),
    ("anthropic/claude-3-5-haiku", 800_000, 4_000_000),
    ("anthropic/claude-haiku-4-5", 1_000_000, 5_000_000),
    ("anthropic/claude-sonnet-4", 3_000_000, 15_000_000),
    ("anthropic/claude-sonnet-4-5", 3_000_000, 15_000_000),
    ("anthropic/claude-opus-4", 15_000_000, 75_000_000),
    ("gemini/gemini-2.0-flash", 100_000, 400_000),
    ("gemini/gemini-2.5-flash", 300_000, 2_500_000),
    ("gemini/gemini-2.5-pro", 1_250_000, 10_000_000),
    ("demo/echo", 0, 0),
];

/// What `GET /v1/models` lists for an org that has not chosen its models: `demo/echo`,
/// and these for each provider with a key available to the caller (theirs, the org's or
/// the service's). Any other model of a known provider is still accepted and passed through.
pub const DEFAULT_MODELS: &[&str] = &[
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1",
    "openai/gpt-5-mini",
    "openai/gpt-5",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-3-5-haiku-latest",
    "gemini/gemini-2.5-flash",
    "gemini/gemini-2.5-pro",
    "gemini/gemini-2.0-flash",
];

fn rates(model: &str) -> Option<(u64, u64)> {
    // The longest matching entry wins, so "gpt-4o-mini" is not priced as "gpt-4o".
    PRICES
        .iter()
        .filter(|(name, _, _)| {
            model == *name
                || (model.starts_with(name) && model.as_bytes().get(name.len()) == Some(&b'-'))
        })
        .max_by_key(|(name, _, _)| name.len())
        .map(|(_, i, o)| (*i, *o))
}

/// The cost of a reply in micro-dollars (rounded up, so usage is never free by rounding).
pub fn cost_micros(model: &str, usage: &Usage) -> u64 {
    let Some((input, output)) = rates(model) else {
        return 0;
    };
    let total = usage.prompt_tokens as u128 * input as u128
        + usage.completion_tokens as u128 * output as u128;
    total.div_ceil(1_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(p: u64, c: u64) -> Usage {
        Usage::new(p, c)
    }

    #[test]
    fn known_models_are_priced_by_their_longest_entry() {
        assert_eq!(
            cost_micros("openai/gpt-4o-mini", &usage(1_000_000, 0)),
            150_000
        );
        assert_eq!(
            cost_micros("openai/gpt-4o", &usage(1_000_000, 1_000_000)),
            12_500_000
        );
        assert_eq!(
            cost_micros("openai/gpt-4o-2024-08-06", &usage(1_000_000, 0)),
            2_500_000
        );
        assert_eq!(
            cost_micros("anthropic/claude-sonnet-4-5-20250929", &usage(0, 1_000_000)),
            15_000_000
        );
    }

    #[test]
    fn every_default_model_is_a_valid_priced_model() {
        for m in DEFAULT_MODELS {
            let id = crate::domain::ModelId::parse(m).unwrap();
            assert_eq!(id.as_str(), *m);
            assert!(rates(m).is_some(), "{m} has no price");
        }
    }

    #[test]
    fn unknown_models_cost_nothing_and_small_usage_rounds_up() {
        assert_eq!(
            cost_micros("openai/some-future-model", &usage(1000, 1000)),
            0
        );
        assert_eq!(cost_micros("openai/gpt-4o-mini", &usage(1, 0)), 1);
        assert_eq!(cost_micros("openai/gpt-4omni", &usage(1_000_000, 0)), 0);
    }
}
