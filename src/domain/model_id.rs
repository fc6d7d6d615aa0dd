//! `ModelId`: a validated "provider/model" name. Once a value is a
//! `ModelId`, its provider is known and its model part is safe to put in a
//! request (Gemini puts it in the URL path).

use crate::providers::ProviderKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

pub const MAX_MODEL_CHARS: usize = 128;
pub const DEMO_ECHO: &str = "demo/echo";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelId {
    raw: String,
    provider: ProviderKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelIdError {
    /// No '/' at all, e.g. "gpt-4o".
    MissingProvider,
    UnknownProvider(String),
    EmptyModel,
    TooLong,
    InvalidCharacter(char),
    /// An empty, "." or ".." segment in a model containing '/'.
    InvalidSegment,
    UnknownDemoModel,
}

impl fmt::Display for ModelIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingProvider => {
                f.write_str("model must be named provider/model, e.g. openai/gpt-4o-mini")
            }
            Self::UnknownProvider(p) => {
                let shown: String = p.chars().take(32).collect();
                write!(
                    f,
                    "unknown provider `{shown}`: use openai, anthropic, gemini or demo"
                )
            }
            Self::EmptyModel => f.write_str("the model part after the provider is empty"),
            Self::TooLong => write!(
                f,
                "the model part is longer than {MAX_MODEL_CHARS} characters"
            ),
            Self::InvalidCharacter(c) => {
                write!(f, "the model name contains an invalid character {c:?}")
            }
            Self::InvalidSegment => {
                f.write_str("the model name has an empty, '.' or '..' path segment")
            }
            Self::UnknownDemoModel => write!(f, "the demo provider only has {DEMO_ECHO}"),
        }
    }
}

impl std::error::Error for ModelIdError {}

impl ModelId {
    pub fn parse(s: &str) -> Result<Self, ModelIdError> {
        let (provider, model) = s.split_once('/').ok_or(ModelIdError::MissingProvider)?;
        let provider = ProviderKind::parse(provider)
            .ok_or_else(|| ModelIdError::UnknownProvider(provider.to_owned()))?;
        if model.is_empty() {
            return Err(ModelIdError::EmptyModel);
        }
        if model.chars().count() > MAX_MODEL_CHARS {
            return Err(ModelIdError::TooLong);
        }
        if let Some(c) = model
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._:@/-".contains(*c)))
        {
            return Err(ModelIdError::InvalidCharacter(c));
        }
        // '/' is allowed for names like "meta-llama/llama-3" behind an
        // OpenAI-compatible base URL, but never as a way to walk paths.
        if model.contains('/') && model.split('/').any(|seg| matches!(seg, "" | "." | "..")) {
            return Err(ModelIdError::InvalidSegment);
        }
        if provider == ProviderKind::Demo && s != DEMO_ECHO {
            return Err(ModelIdError::UnknownDemoModel);
        }
        Ok(Self {
            raw: s.to_owned(),
            provider,
        })
    }

    pub fn demo_echo() -> Self {
        Self {
            raw: DEMO_ECHO.to_owned(),
            provider: ProviderKind::Demo,
        }
    }

    pub fn provider(&self) -> ProviderKind {
        self.provider
    }

    /// The part after the first '/', as the provider knows it.
    pub fn model(&self) -> &str {
        self.raw.split_once('/').map_or("", |(_, model)| model)
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for ModelId {
    type Err = ModelIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ModelId {
    type Error = ModelIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl AsRef<str> for ModelId {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl Serialize for ModelId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for ModelId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_parse_into_provider_and_model() {
        let cases = [
            ("openai/gpt-4o-mini", ProviderKind::OpenAi, "gpt-4o-mini"),
            (
                "openai/ft:gpt-4o-mini-2024-07-18:acme::9XyZ",
                ProviderKind::OpenAi,
                "ft:gpt-4o-mini-2024-07-18:acme::9XyZ",
            ),
            (
                "openai/meta-llama/llama-3.1-8b",
                ProviderKind::OpenAi,
                "meta-llama/llama-3.1-8b",
            ),
            (
                "anthropic/claude-3-5-haiku-20241022",
                ProviderKind::Anthropic,
                "claude-3-5-haiku-20241022",
            ),
            (
                "anthropic/claude-sonnet-4@20250514",
                ProviderKind::Anthropic,
                "claude-sonnet-4@20250514",
            ),
            (
                "gemini/gemini-2.5-flash",
                ProviderKind::Gemini,
                "gemini-2.5-flash",
            ),
            ("demo/echo", ProviderKind::Demo, "echo"),
        ];
        for (input, provider, model) in cases {
            let id = ModelId::parse(input).unwrap_or_else(|e| unreachable!("{input}: {e}"));
            assert_eq!(
                (id.provider(), id.model(), id.as_str()),
                (provider, model, input),
                "{input}"
            );
            assert_eq!(id.to_string(), input);
        }
        assert_eq!(ModelId::demo_echo(), ModelId::parse("demo/echo").unwrap());
        assert_eq!(
            ModelId::parse(&format!("openai/{}", "a".repeat(128))).map(|m| m.model().len()),
            Ok(128)
        );
    }

    #[test]
    fn invalid_names_are_rejected_with_a_reason() {
        let long = format!("openai/{}", "a".repeat(129));
        let cases: [(&str, ModelIdError); 12] = [
            ("gpt-4o", ModelIdError::MissingProvider),
            ("", ModelIdError::MissingProvider),
            (
                "mistral/large",
                ModelIdError::UnknownProvider("mistral".into()),
            ),
            (
                "OpenAI/gpt-4o",
                ModelIdError::UnknownProvider("OpenAI".into()),
            ),
            ("/gpt-4o", ModelIdError::UnknownProvider(String::new())),
            ("openai/", ModelIdError::EmptyModel),
            (&long, ModelIdError::TooLong),
            ("openai/gpt 4o", ModelIdError::InvalidCharacter(' ')),
            ("openai/gpt-4o\n", ModelIdError::InvalidCharacter('\n')),
            ("gemini/gemini?key=x", ModelIdError::InvalidCharacter('?')),
            ("gemini/../files", ModelIdError::InvalidSegment),
            ("demo/other", ModelIdError::UnknownDemoModel),
        ];
        for (input, expected) in cases {
            assert_eq!(ModelId::parse(input), Err(expected), "{input:?}");
        }
        assert_eq!(
            ModelId::parse("openai/a//b"),
            Err(ModelIdError::InvalidSegment)
        );
        assert_eq!(
            ModelId::parse("openai/é"),
            Err(ModelIdError::InvalidCharacter('é'))
        );
    }

    #[test]
    fn serde_uses_the_plain_string_and_validates() {
        let id: ModelId = serde_json::from_str(r#""anthropic/claude-3-5-haiku-latest""#).unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""anthropic/claude-3-5-haiku-latest""#
        );
        let err = serde_json::from_str::<ModelId>(r#""nope""#).unwrap_err();
        assert!(err.to_string().contains("provider/model"), "{err}");
    }
}
