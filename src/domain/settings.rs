//! An organization's settings, validated as a whole.

use serde::{Deserialize, Serialize};

use crate::domain::ModelId;

pub const MAX_CUSTOM_INSTRUCTIONS_CHARS: usize = 8_000;
pub const MAX_ENABLED_MODELS: usize = 100;
/// The longest `conversation_retention_days` an org may set: ten years.
pub const MAX_CONVERSATION_RETENTION_DAYS: i64 = 3650;
/// Feature flags an org may set; anything else is refused.
pub const KNOWN_FEATURES: &[&str] = &["embed", "webhooks", "livekit", "byok", "file_upload"];

/// What each flag of `features` gates. An absent flag means on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Embed tickets: issuing them, and exchanging those issued before it was switched off.
    Embed,
    /// The org's webhook routes, and deliveries to its endpoint.
    Webhooks,
    /// LiveKit tokens for the org's rooms.
    Livekit,
    /// Bring-your-own provider keys (members' own and the org's) serving the org's requests;
    /// off, only the service's keys do.
    Byok,
    /// Uploading files (`POST /api/files`) and sending them with messages.
    FileUpload,
}

impl Feature {
    pub const ALL: [Feature; 5] = [
        Feature::Embed,
        Feature::Webhooks,
        Feature::Livekit,
        Feature::Byok,
        Feature::FileUpload,
    ];

    /// Its name under `features` (one of `KNOWN_FEATURES`).
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Embed => "embed",
            Feature::Webhooks => "webhooks",
            Feature::Livekit => "livekit",
            Feature::Byok => "byok",
            Feature::FileUpload => "file_upload",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    /// `provider/model` names; empty means every configured model.
    #[serde(default)]
    pub enabled_models: Vec<String>,
    #[serde(default, deserialize_with = "crate::util::de_opt_integer")]
    pub monthly_token_limit: Option<i64>,
    #[serde(default)]
    pub custom_instructions: String,
    #[serde(default)]
    pub features: serde_json::Map<String, serde_json::Value>,
    /// Requests per minute per API key; `None` means the service default.
    #[serde(default, deserialize_with = "crate::util::de_opt_integer")]
    pub rate_limit_rpm: Option<i64>,
    /// The sign-in provider of the org (`{provider, required}`): with `required`, members reach
    /// the org only from a session signed in through it (`auth::sso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<Sso>,
    /// Members act in the org only with two-factor authentication on (403 `mfa_required`
    /// otherwise): its routes, its conversations, model calls and API keys in it.
    #[serde(default)]
    pub require_2fa: bool,
    /// Conversations whose last activity is older than this many days are deleted, messages
    /// and all, by the scheduled upkeep (`store::retention`); `None` keeps them.
    #[serde(default, deserialize_with = "crate::util::de_opt_integer")]
    pub conversation_retention_days: Option<i64>,
    /// The model that names conversations after their first reply (`conversation::title`);
    /// `None`: each conversation's own model.
    #[serde(default)]
    pub title_model: Option<String>,
}

/// An org's own sign-in provider, one the operator configured (`GET /api/auth/providers`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sso {
    pub provider: String,
    #[serde(default)]
    pub required: bool,
}

impl OrgSettings {
    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.enabled_models.len() > MAX_ENABLED_MODELS {
            return Err(format!(
                "enabled_models has more than {MAX_ENABLED_MODELS} entries"
            ));
        }
        for m in &self.enabled_models {
            ModelId::parse(m).map_err(|e| {
                format!(
                    "enabled_models: `{}`: {e}",
                    m.chars().take(64).collect::<String>()
                )
            })?;
        }
        if let Some(limit) = self.monthly_token_limit {
            if limit <= 0 || limit > 1_000_000_000_000 {
                return Err(
                    "monthly_token_limit must be a positive integer (up to 10^12) or null".into(),
                );
            }
        }
        if self.custom_instructions.chars().count() > MAX_CUSTOM_INSTRUCTIONS_CHARS {
            return Err(format!(
                "custom_instructions is longer than {MAX_CUSTOM_INSTRUCTIONS_CHARS} characters"
            ));
        }
        for (name, value) in &self.features {
            if !KNOWN_FEATURES.contains(&name.as_str()) {
                return Err(format!(
                    "features: unknown flag `{}` (known: {})",
                    name.chars().take(64).collect::<String>(),
                    KNOWN_FEATURES.join(", ")
                ));
            }
            if !value.is_boolean() {
                return Err(format!("features.{name} must be true or false"));
            }
        }
        if let Some(rpm) = self.rate_limit_rpm {
            if !(1..=100_000).contains(&rpm) {
                return Err("rate_limit_rpm must be from 1 to 100000, or null".into());
            }
        }
        if let Some(m) = &self.title_model {
            let shown = || m.chars().take(64).collect::<String>();
            let model =
                ModelId::parse(m).map_err(|e| format!("title_model: `{}`: {e}", shown()))?;
            if !self.allows(&model) {
                return Err(format!(
                    "title_model: `{}` is not one of enabled_models",
                    shown()
                ));
            }
        }
        if let Some(days) = self.conversation_retention_days {
            if !(1..=MAX_CONVERSATION_RETENTION_DAYS).contains(&days) {
                return Err(format!(
                    "conversation_retention_days must be from 1 to {MAX_CONVERSATION_RETENTION_DAYS}, or null"
                ));
            }
        }
        if let Some(sso) = &self.sso {
            if !crate::auth::oidc::valid_id(&sso.provider) {
                return Err("sso.provider must be the id of a sign-in provider".into());
            }
        }
        Ok(())
    }

    /// Whether the org has `feature` on: unless its flag is `false`.
    pub fn enabled(&self, feature: Feature) -> bool {
        self.features
            .get(feature.as_str())
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true)
    }

    /// Checks the limits against the service's ceilings: an org may lower
    /// `API_KEY_RATE_LIMIT_RPM` and `DEFAULT_MONTHLY_TOKEN_LIMIT`, never raise them.
    pub fn within_service_limits(
        &self,
        max_rpm: u32,
        max_monthly_tokens: Option<u64>,
    ) -> Result<(), String> {
        if self
            .rate_limit_rpm
            .is_some_and(|rpm| rpm > i64::from(max_rpm))
        {
            return Err(format!(
                "rate_limit_rpm may only lower the service's limit of {max_rpm} requests per minute"
            ));
        }
        if let (Some(limit), Some(max)) = (self.monthly_token_limit, max_monthly_tokens) {
            if u64::try_from(limit).map_or(true, |l| l > max) {
                return Err(format!(
                    "monthly_token_limit may only lower the service's budget of {max} tokens a month"
                ));
            }
        }
        Ok(())
    }

    /// The provider the org requires its members to sign in through, if it does.
    pub fn required_provider(&self) -> Option<&str> {
        self.sso
            .as_ref()
            .filter(|s| s.required)
            .map(|s| s.provider.as_str())
    }

    /// Whether the org lets its members use `model`.
    pub fn allows(&self, model: &ModelId) -> bool {
        self.enabled_models.is_empty() || self.enabled_models.iter().any(|m| m == model.as_str())
    }

    /// `raw` as a model the org lets its members use.
    pub fn permit(&self, raw: &str) -> Result<ModelId, String> {
        let model = ModelId::parse(raw).map_err(|e| format!("model: {e}"))?;
        if !self.allows(&model) {
            return Err(format!("model {model} is not enabled in this organization"));
        }
        Ok(model)
    }

    /// Reads stored settings; anything unreadable falls back to the defaults.
    pub fn from_stored(json: &str) -> OrgSettings {
        serde_json::from_str(json).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<OrgSettings, String> {
        let s: OrgSettings = serde_json::from_value(v).map_err(|e| e.to_string())?;
        s.validate().map(|_| s)
    }

    #[test]
    fn valid_settings_pass() {
        let s = parse(serde_json::json!({
            "enabled_models": ["openai/gpt-4o-mini", "demo/echo"],
            "monthly_token_limit": 100000,
            "custom_instructions": "Be brief.",
            "features": {"embed": true},
            "rate_limit_rpm": 60
        }))
        .unwrap();
        assert!(s.allows(&ModelId::parse("demo/echo").unwrap()));
        assert!(!s.allows(&ModelId::parse("anthropic/claude-sonnet-4-5").unwrap()));
        assert!(OrgSettings::default().allows(&ModelId::parse("gemini/x").unwrap()));
    }

    #[test]
    fn conversation_retention_is_a_number_of_days_or_null() {
        for ok in [
            json_days(1),
            json_days(30),
            json_days(3650),
            serde_json::json!({"conversation_retention_days": null}),
        ] {
            assert!(parse(ok.clone()).is_ok(), "{ok}");
        }
        assert_eq!(
            parse(json_days(30)).unwrap().conversation_retention_days,
            Some(30)
        );
        assert_eq!(OrgSettings::default().conversation_retention_days, None);
        for bad in [
            json_days(0),
            json_days(-1),
            json_days(3651),
            serde_json::json!({"conversation_retention_days": 1.5}),
            serde_json::json!({"conversation_retention_days": "30"}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }

    fn json_days(days: i64) -> serde_json::Value {
        serde_json::json!({ "conversation_retention_days": days })
    }

    #[test]
    fn a_feature_is_on_unless_its_flag_is_false() {
        assert_eq!(
            Feature::ALL.map(Feature::as_str).as_slice(),
            KNOWN_FEATURES,
            "every known flag gates something"
        );
        for f in Feature::ALL {
            assert!(OrgSettings::default().enabled(f), "{f:?} absent");
        }
        let s = parse(serde_json::json!({"features": {"embed": false, "byok": true}})).unwrap();
        assert!(!s.enabled(Feature::Embed));
        assert!(s.enabled(Feature::Byok));
        assert!(s.enabled(Feature::Webhooks));
    }

    #[test]
    fn limits_may_lower_the_service_ceilings_but_not_raise_them() {
        let with = |rpm: Option<i64>, tokens: Option<i64>| OrgSettings {
            rate_limit_rpm: rpm,
            monthly_token_limit: tokens,
            ..Default::default()
        };
        assert!(with(None, None)
            .within_service_limits(600, Some(1000))
            .is_ok());
        assert!(with(Some(600), Some(1000))
            .within_service_limits(600, Some(1000))
            .is_ok());
        let err = with(Some(601), None)
            .within_service_limits(600, None)
            .unwrap_err();
        assert!(err.contains("600"), "{err}");
        let err = with(None, Some(1001))
            .within_service_limits(600, Some(1000))
            .unwrap_err();
        assert!(err.contains("1000"), "{err}");
        assert!(with(None, Some(10_000_000))
            .within_service_limits(600, None)
            .is_ok());
    }

    #[test]
    fn integers_may_be_written_as_integral_floats() {
        // JSON Schema's `integer` (the OpenAPI document's) includes 5.0; a client that writes
        // every number as a float is not refused for it. Found by the fuzzer.
        let s = parse(
            serde_json::json!({"monthly_token_limit": 17179869184.0, "rate_limit_rpm": 60.0}),
        )
        .unwrap();
        assert_eq!(
            (s.monthly_token_limit, s.rate_limit_rpm),
            (Some(17179869184), Some(60))
        );
        assert!(parse(serde_json::json!({"rate_limit_rpm": 60.5})).is_err());
        assert!(parse(serde_json::json!({"monthly_token_limit": 1e300})).is_err());
    }

    #[test]
    fn each_invalid_field_is_refused() {
        for (case, v) in [
            (
                "unknown provider",
                serde_json::json!({"enabled_models": ["acme/x"]}),
            ),
            (
                "no provider",
                serde_json::json!({"enabled_models": ["gpt-4o"]}),
            ),
            ("zero limit", serde_json::json!({"monthly_token_limit": 0})),
            (
                "negative limit",
                serde_json::json!({"monthly_token_limit": -5}),
            ),
            (
                "long instructions",
                serde_json::json!({"custom_instructions": "x".repeat(8001)}),
            ),
            (
                "unknown feature",
                serde_json::json!({"features": {"teleport": true}}),
            ),
            (
                "non-boolean feature",
                serde_json::json!({"features": {"embed": "yes"}}),
            ),
            ("zero rpm", serde_json::json!({"rate_limit_rpm": 0})),
            (
                "title model without a provider",
                serde_json::json!({"title_model": "gpt-4o-mini"}),
            ),
            (
                "title model not enabled",
                serde_json::json!({"enabled_models": ["demo/echo"], "title_model": "openai/gpt-4o-mini"}),
            ),
            ("unknown field", serde_json::json!({"colour": "blue"})),
        ] {
            assert!(parse(v).is_err(), "{case} should be refused");
        }
    }
}
