//! One error type for every failure, turned into `application/problem+json` in one place.

use serde_json::json;

/// Everything a request can fail with. Expected failures carry what the client needs to
/// know; unexpected ones carry context for the log and show the client nothing of it.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// 400: the request is well-formed JSON but its content is not acceptable.
    Validation(String),
    /// 400: as `Validation`, naming the offending parameter (`messages[2].content[1]`,
    /// `tools[0].strict`), which both error shapes carry as `param`.
    InvalidParam { param: String, detail: String },
    /// 400: the body is not JSON at all.
    MalformedJson(String),
    /// 401: wrong email or password (one answer for both).
    InvalidCredentials,
    /// 401: no usable credential.
    Unauthorized(&'static str),
    /// 401: a valid access token past its expiry.
    TokenExpired,
    /// 403
    Forbidden(&'static str),
    /// 403: the org has switched this feature off (`settings.features.<name>: false`).
    FeatureDisabled(&'static str),
    /// 403: the action needs a verified email address (saying which action).
    EmailUnverified(&'static str),
    /// 403: the registration policy does not let this address open an account (saying why).
    RegistrationClosed(String),
    /// 403: the org requires its members to sign in through this provider (its id), and the
    /// caller's session was not.
    SsoRequired(String),
    /// 403: the action needs two-factor authentication on the caller's account (saying which).
    MfaRequired(&'static str),
    /// 403: the action needs a recent sign-in (saying which).
    ReauthenticationRequired(&'static str),
    /// 403: a service admin has disabled the account (sign-in, refresh, its API keys).
    AccountDisabled,
    /// 401: a two-factor code (TOTP or recovery code) or a passkey's answer that is wrong,
    /// expired or used already.
    InvalidCode(&'static str),
    /// 404: also what a resource the caller may not see looks like.
    NotFound,
    /// 405, with the methods the path does allow.
    MethodNotAllowed(String),
    /// 409
    Conflict(String),
    /// 413, with the limit in bytes.
    PayloadTooLarge(usize),
    /// 415
    UnsupportedMediaType,
    /// 415: an uploaded file of a type the service does not take (saying which it takes).
    UnsupportedFile(String),
    /// 413: the org's stored files would pass its quota (saying which).
    QuotaExceeded(String),
    /// 429, with the seconds to wait.
    RateLimited(u64),
    /// 429: the org's monthly token budget is spent.
    BudgetExceeded(u64),
    /// 400: no provider key is configured for the model's provider.
    NoProviderKey(&'static str),
    /// 404: the provider does not know the model (or the key may not use it).
    ModelNotFound(String),
    /// The upstream provider refused or failed; status is what we answer.
    Upstream {
        status: u16,
        detail: String,
        retry_after: Option<u64>,
    },
    /// 503: a dependency (D1, KV, a feature's configuration) is not available.
    Unavailable(String),
    /// 500: a real server fault; the context is logged, never shown.
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn validation(detail: impl Into<String>) -> Self {
        ApiError::Validation(detail.into())
    }

    /// A validation failure about one parameter; the detail should start with its name.
    pub fn param(param: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::InvalidParam {
            param: param.into(),
            detail: detail.into(),
        }
    }

    /// The parameter a validation failure is about, when known.
    pub fn param_name(&self) -> Option<&str> {
        match self {
            ApiError::InvalidParam { param, .. } => Some(param),
            _ => None,
        }
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        ApiError::Internal(context.to_string())
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_)
            | ApiError::InvalidParam { .. }
            | ApiError::MalformedJson(_)
            | ApiError::NoProviderKey(_) => 400,
            ApiError::InvalidCredentials
            | ApiError::Unauthorized(_)
            | ApiError::TokenExpired
            | ApiError::InvalidCode(_) => 401,
            ApiError::Forbidden(_)
            | ApiError::FeatureDisabled(_)
            | ApiError::EmailUnverified(_)
            | ApiError::RegistrationClosed(_)
            | ApiError::SsoRequired(_)
            | ApiError::MfaRequired(_)
            | ApiError::ReauthenticationRequired(_)
            | ApiError::AccountDisabled => 403,
            ApiError::NotFound | ApiError::ModelNotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge(_) | ApiError::QuotaExceeded(_) => 413,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedFile(_) => 415,
            ApiError::RateLimited(_) | ApiError::BudgetExceeded(_) => 429,
            ApiError::Upstream { status, .. } => *status,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The stable snake_case code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_)
            | ApiError::InvalidParam { .. }
            | ApiError::MalformedJson(_) => "validation_failed",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::TokenExpired => "token_expired",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::FeatureDisabled(_) => "feature_disabled",
            ApiError::EmailUnverified(_) => "email_unverified",
            ApiError::RegistrationClosed(_) => "registration_closed",
            ApiError::SsoRequired(_) => "sso_required",
            ApiError::MfaRequired(_) => "mfa_required",
            ApiError::ReauthenticationRequired(_) => "reauthentication_required",
            ApiError::AccountDisabled => "account_disabled",
            ApiError::InvalidCode(_) => "invalid_code",
            ApiError::NotFound => "not_found",
            ApiError::ModelNotFound(_) => "model_not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType | ApiError::UnsupportedFile(_) => {
                "unsupported_media_type"
            }
            ApiError::QuotaExceeded(_) => "quota_exceeded",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::BudgetExceeded(_) => "budget_exceeded",
            ApiError::NoProviderKey(_) => "no_provider_key",
            ApiError::Upstream { .. } => "upstream_error",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) | ApiError::InvalidParam { .. } => "Invalid request",
            ApiError::MalformedJson(_) => "Malformed JSON",
            ApiError::InvalidCredentials => "Invalid credentials",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::TokenExpired => "Token expired",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::FeatureDisabled(_) => "Feature disabled",
            ApiError::EmailUnverified(_) => "Email not verified",
            ApiError::RegistrationClosed(_) => "Registration closed",
            ApiError::SsoRequired(_) => "Sign-in with the organization's provider required",
            ApiError::MfaRequired(_) => "Two-factor authentication required",
            ApiError::ReauthenticationRequired(_) => "Sign in again",
            ApiError::AccountDisabled => "Account disabled",
            ApiError::InvalidCode(_) => "Invalid code",
            ApiError::NotFound => "Not found",
            ApiError::ModelNotFound(_) => "Model not found",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType | ApiError::UnsupportedFile(_) => {
                "Unsupported media type"
            }
            ApiError::QuotaExceeded(_) => "Quota exceeded",
            ApiError::RateLimited(_) => "Too many requests",
            ApiError::BudgetExceeded(_) => "Budget exceeded",
            ApiError::NoProviderKey(_) => "No provider key",
            ApiError::Upstream { .. } => "Upstream error",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// What the client reads. Never includes internal context.
    pub fn detail(&self) -> String {
        match self {
            ApiError::Validation(d)
            | ApiError::InvalidParam { detail: d, .. }
            | ApiError::ModelNotFound(d)
            | ApiError::Conflict(d)
            | ApiError::RegistrationClosed(d)
            | ApiError::UnsupportedFile(d)
            | ApiError::QuotaExceeded(d)
            | ApiError::Unavailable(d) => d.clone(),
            ApiError::MalformedJson(d) => format!("the request body is not valid JSON: {d}"),
            ApiError::InvalidCredentials => "the email or password is incorrect".into(),
            ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::EmailUnverified(d)
            | ApiError::MfaRequired(d)
            | ApiError::ReauthenticationRequired(d)
            | ApiError::InvalidCode(d) => (*d).into(),
            ApiError::TokenExpired => "the access token has expired; refresh it".into(),
            ApiError::AccountDisabled => {
                "this account has been disabled by the service's operator".into()
            }
            ApiError::SsoRequired(p) => format!(
                "this organization requires its members to sign in with its provider `{p}`: \
                 sign in with it (GET /api/auth/oauth/{p}/start) to reach the organization"
            ),
            ApiError::FeatureDisabled(f) => format!(
                "the organization has switched this feature off (settings.features.{f} is false)"
            ),
            ApiError::NotFound => "the resource does not exist".into(),
            ApiError::MethodNotAllowed(allow) => format!("this path allows: {allow}"),
            ApiError::PayloadTooLarge(limit) => {
                format!("the request body is larger than this route's limit of {limit} bytes")
            }
            ApiError::UnsupportedMediaType => "the request body must be application/json".into(),
            ApiError::RateLimited(s) => format!("too many requests; retry in {s} seconds"),
            ApiError::BudgetExceeded(_) => {
                "the organization's monthly token budget is exhausted".into()
            }
            ApiError::NoProviderKey(p) => format!(
                "no API key is configured for provider {p}: add one under /api/provider-keys"
            ),
            ApiError::Upstream { detail, .. } => detail.clone(),
            ApiError::Internal(_) => "an unexpected error occurred".into(),
        }
    }

    /// Seconds for a `retry-after` header, when the client should wait.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited(s) | ApiError::BudgetExceeded(s) => Some(*s),
            ApiError::Upstream { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn problem_json(&self) -> serde_json::Value {
        let code = self.code();
        let mut problem = json!({
            "type": format!("urn:chatgate:problem:{code}"),
            "title": self.title(),
            "status": self.status(),
            "detail": self.detail(),
            "code": code,
        });
        if let (Some(param), Some(obj)) = (self.param_name(), problem.as_object_mut()) {
            obj.insert("param".into(), param.into());
        }
        if let (ApiError::SsoRequired(provider), Some(obj)) = (self, problem.as_object_mut()) {
            obj.insert("provider".into(), provider.as_str().into());
        }
        problem
    }

    /// What goes to the log: the internal context for server faults, the code otherwise.
    pub fn log_context(&self) -> Option<&str> {
        match self {
            ApiError::Internal(c) => Some(c),
            ApiError::Unavailable(c) => Some(c),
            _ => None,
        }
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(format!("runtime: {e}"))
    }
}

impl From<worker::KvError> for ApiError {
    fn from(e: worker::KvError) -> Self {
        ApiError::Internal(format!("kv: {e}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Internal(format!("json: {e}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_context() {
        let e = ApiError::internal("D1: SELECT * FROM users failed: secret");
        let body = e.problem_json().to_string();
        assert!(!body.contains("SELECT"), "{body}");
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn every_problem_has_the_five_fields() {
        for e in [
            ApiError::NotFound,
            ApiError::RateLimited(3),
            ApiError::UnsupportedMediaType,
        ] {
            let p = e.problem_json();
            for field in ["type", "title", "status", "detail", "code"] {
                assert!(p.get(field).is_some(), "{field} missing in {p}");
            }
            assert!(p.get("param").is_none(), "{p}");
        }
    }

    #[test]
    fn a_validation_failure_about_a_parameter_names_it() {
        let e = ApiError::param("tools[0].strict", "tools[0].strict is not supported");
        let p = e.problem_json();
        assert_eq!(p["param"], "tools[0].strict");
        assert_eq!(
            (p["status"].as_u64(), p["code"].as_str()),
            (Some(400), Some("validation_failed"))
        );
    }

    #[test]
    fn an_unknown_model_upstream_is_a_404_model_not_found() {
        let e = ApiError::ModelNotFound("openai: The model `gpt-9` does not exist".into());
        assert_eq!((e.status(), e.code()), (404, "model_not_found"));
    }
}
