//! Gemini: `POST /v1beta/models/{model}:generateContent` and
//! `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{self, Directives, Prompt, Reply, Script, Turn};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest {
    contents: Vec<Content>,
    // Google's JSON mapping accepts snake_case field names too.
    #[serde(alias = "system_instruction")]
    system_instruction: Option<Content>,
    #[serde(alias = "generation_config")]
    generation_config: Option<GenerationConfig>,
}

#[derive(Deserialize)]
struct Content {
    role: Option<String>,
    #[serde(default)]
    parts: Vec<Part>,
}

/// Only text parts matter to the mock; other part kinds have no `text`.
#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    #[serde(alias = "max_output_tokens")]
    max_output_tokens: Option<usize>,
}

impl Content {
    fn text(&self) -> String {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect();
        texts.join("\n")
    }
}

impl GenerateRequest {
    fn prompt(&self) -> Prompt {
        Prompt {
            system: self
                .system_instruction
                .as_ref()
                .map(Content::text)
                .unwrap_or_default(),
            // A content without a role is the user's, as in single-turn requests.
            turns: self
                .contents
                .iter()
                .map(|c| Turn {
                    from_user: c.role.as_deref() != Some("model"),
                    text: c.text(),
                })
                .collect(),
            max_tokens: self
                .generation_config
                .as_ref()
                .and_then(|g| g.max_output_tokens),
        }
    }
}

/// One route for both methods: the method follows a colon inside the last path
/// segment, which the router cannot split, so it is parsed here.
pub(crate) async fn generate(
    Path(target): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    authorize(&headers).map_err(|message| error(StatusCode::UNAUTHORIZED, message))?;
    let (model, stream) = match target.rsplit_once(':') {
        Some((model, "generateContent")) => (model, false),
        Some((model, "streamGenerateContent")) => (model, true),
        _ => {
            return Err(error(
                StatusCode::NOT_FOUND,
                &format!("unknown method: models/{target}"),
            ))
        }
    };
    // Without alt=sse Gemini streams one JSON array instead; the mock speaks only SSE.
    if stream
        && !query
            .unwrap_or_default()
            .split('&')
            .any(|pair| pair == "alt=sse")
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "mock: streamGenerateContent supports only alt=sse",
        ));
    }
    let request: GenerateRequest = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid JSON payload received. {e}"),
        )
    })?;
    if request.contents.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified",
        ));
    }
    let directives = Directives::parse(model);
    reply::gate(&directives, error).await?;
    let reply = Reply::plan(&directives, &request.prompt());
    let finish_reason = if reply.truncated {
        "MAX_TOKENS"
    } else {
        "STOP"
    };
    let usage = |emitted: usize| {
        json!({
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": emitted,
            "totalTokenCount": reply.prompt_tokens + emitted,
        })
    };
    let response = |text: &str, finish: Option<&str>, emitted: usize| {
        let mut candidate =
            json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        json!({"candidates": [candidate], "usageMetadata": usage(emitted), "modelVersion": model})
    };

    if !stream {
        if !reply::generate(&directives, &reply).await {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: connection cut",
            ));
        }
        return Ok(Json(response(
            &reply.text(),
            Some(finish_reason),
            reply.completion_tokens(),
        ))
        .into_response());
    }

    // Usage is cumulative on every frame. The finish reason comes on a frame of
    // its own with empty text, as Gemini sometimes sends it, so `cut-K` can
    // always drop the stream before it.
    let script = Script {
        head: Vec::new(),
        tokens: reply
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| data(&response(t, None, i + 1)))
            .collect(),
        tail: vec![data(&response(
            "",
            Some(finish_reason),
            reply.completion_tokens(),
        ))],
    };
    Ok(reply::stream(script, &directives))
}

/// Gemini ends each SSE event with CRLF line breaks, unlike OpenAI and Anthropic;
/// an SSE parser that only splits on "\n\n" fails against the real API too.
fn data(frame: &Value) -> String {
    format!("data: {frame}\r\n\r\n")
}

/// The 401 message for a missing or rejected key.
fn authorize(headers: &HeaderMap) -> Result<(), &'static str> {
    match headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None | Some("") => Err("mock: the x-goog-api-key header is required"),
        Some(reply::BAD_KEY) => Err("API key not valid. Please pass a valid API key."),
        Some(_) => Ok(()),
    }
}

/// Google's error shape: `{"error": {"code", "message", "status"}}`.
fn error(status: StatusCode, message: &str) -> Response {
    let name = match status.as_u16() {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500.. => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    };
    reply::error_response(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "status": name}}),
    )
}
