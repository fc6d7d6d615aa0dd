//! Gemini: `POST /v1beta/models/{model}:generateContent` and
//! `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{
    self, Directives, Format, Kind, Media, Prompt, Reply, Script, Source, Tool, ToolChoice,
    ToolResult, Turn,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest {
    contents: Vec<Content>,
    // Google's JSON mapping accepts snake_case field names too.
    #[serde(alias = "system_instruction")]
    system_instruction: Option<Content>,
    #[serde(alias = "generation_config")]
    generation_config: Option<Value>,
    tools: Option<Vec<Value>>,
    #[serde(alias = "tool_config")]
    tool_config: Option<Value>,
}

#[derive(Deserialize)]
struct Content {
    role: Option<String>,
    #[serde(default)]
    parts: Vec<Value>,
}

/// A field by its camelCase name or, as Google's JSON mapping also accepts, its snake_case one.
fn field<'a>(object: &'a Value, camel: &str) -> Option<&'a Value> {
    object.get(camel).or_else(|| {
        let snake: String = camel
            .chars()
            .flat_map(|c| {
                let lower = c.to_ascii_lowercase();
                if c.is_ascii_uppercase() {
                    vec!['_', lower]
                } else {
                    vec![c]
                }
            })
            .collect();
        object.get(snake)
    })
}

fn str_field<'a>(object: &'a Value, camel: &str) -> Option<&'a str> {
    field(object, camel)?.as_str()
}

impl Content {
    /// The text parts, without thought summaries.
    fn text(&self) -> String {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p["thought"] != true)
            .filter_map(|p| p["text"].as_str())
            .collect();
        texts.join("\n")
    }

    fn turn(&self) -> Turn {
        let mut turn = Turn::text(self.role.as_deref() != Some("model"), self.text());
        for part in &self.parts {
            if let Some(response) = field(part, "functionResponse") {
                turn.results.push(ToolResult {
                    tool: response["name"].as_str().unwrap_or_default().to_owned(),
                    output: output(&response["response"]),
                });
            } else if let Some(blob) = field(part, "inlineData") {
                if let Some(mime) = str_field(blob, "mimeType") {
                    let data = blob["data"].as_str().unwrap_or_default();
                    turn.media.push(Media::base64(
                        Media::kind_of(mime),
                        Some(mime.to_owned()),
                        data,
                    ));
                }
            } else if let Some(file) = field(part, "fileData") {
                if let Some(uri) = str_field(file, "fileUri") {
                    let mime = str_field(file, "mimeType");
                    turn.media.push(Media {
                        kind: mime.map_or("document", Media::kind_of),
                        mime: mime.map(str::to_owned),
                        source: Source::Url(uri.to_owned()),
                    });
                }
            }
        }
        turn
    }
}

/// A function response's output as text: Google documents the `output` key for the
/// output (and `error` for an error); a string output is its text, anything else
/// (another shape, an error) the compact JSON.
fn output(response: &Value) -> String {
    match response.as_object() {
        Some(object) if object.len() == 1 => match object.get("output") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => response.to_string(),
        },
        _ => response.to_string(),
    }
}

impl GenerateRequest {
    /// A turn of function responses follows a turn of function calls, one
    /// response for each call.
    fn validate(&self) -> Result<(), &'static str> {
        let count =
            |c: &Content, kind: &str| c.parts.iter().filter(|p| field(p, kind).is_some()).count();
        for (i, content) in self.contents.iter().enumerate() {
            let responses = count(content, "functionResponse");
            let calls = i
                .checked_sub(1)
                .map_or(0, |p| count(&self.contents[p], "functionCall"));
            if responses > 0 && calls == 0 {
                return Err("Please ensure that function response turn comes immediately after a function call turn.");
            }
            if calls > 0 && responses != calls {
                return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.");
            }
        }
        Ok(())
    }

    fn config(&self, camel: &str) -> Option<&Value> {
        field(self.generation_config.as_ref()?, camel)
    }

    fn thinking(&self) -> Option<&Value> {
        self.config("thinkingConfig")
            .filter(|t| field(t, "thinkingBudget").and_then(Value::as_i64) != Some(0))
    }

    fn include_thoughts(&self) -> bool {
        self.thinking()
            .and_then(|t| field(t, "includeThoughts"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `responseLogprobs: true` asks for logprobs; `logprobs: N` for N alternatives.
    fn logprobs(&self) -> Option<usize> {
        let wanted = self.config("responseLogprobs").and_then(Value::as_bool) == Some(true);
        wanted.then(|| {
            self.config("logprobs")
                .and_then(Value::as_u64)
                .map_or(0, |n| n as usize)
        })
    }

    fn prompt(&self) -> Prompt {
        let calling = self
            .tool_config
            .as_ref()
            .and_then(|c| field(c, "functionCallingConfig"));
        let mode = calling.and_then(|c| c["mode"].as_str()).unwrap_or("AUTO");
        let allowed: Vec<String> = calling
            .and_then(|c| field(c, "allowedFunctionNames"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        let json =
            self.config("responseMimeType").and_then(Value::as_str) == Some("application/json");
        let schema = self
            .config("responseJsonSchema")
            .or_else(|| self.config("responseSchema"));
        Prompt {
            system: self
                .system_instruction
                .as_ref()
                .map(Content::text)
                .unwrap_or_default(),
            // A content without a role is the user's, as in single-turn requests.
            turns: self.contents.iter().map(Content::turn).collect(),
            max_tokens: self
                .config("maxOutputTokens")
                .and_then(Value::as_u64)
                .map(|n| n as usize),
            tools: self
                .tools
                .iter()
                .flatten()
                .filter_map(|t| field(t, "functionDeclarations")?.as_array())
                .flatten()
                .filter_map(|f| {
                    Some(Tool {
                        name: f["name"].as_str()?.to_owned(),
                        parameters: field(f, "parametersJsonSchema")
                            .or_else(|| f.get("parameters"))
                            .cloned()
                            .unwrap_or_default(),
                    })
                })
                .collect(),
            tool_choice: match mode.to_ascii_uppercase().as_str() {
                "NONE" => ToolChoice::None,
                "ANY" => ToolChoice::Only(allowed),
                _ => ToolChoice::Auto,
            },
            single_call: false,
            format: json.then(|| schema.map_or(Format::Json, |s| Format::Schema(s.clone()))),
            thinking: self.thinking().is_some(),
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
    request
        .validate()
        .map_err(|message| error(StatusCode::BAD_REQUEST, message))?;
    let directives = Directives::parse(model);
    reply::gate(&directives, error).await?;
    if directives.unknown {
        let method = if stream {
            "streamGenerateContent"
        } else {
            "generateContent"
        };
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."),
        ));
    }
    let reply = Reply::plan(&directives, &request.prompt());
    let finish_reason = match reply.kind {
        Kind::Refusal => "SAFETY",
        Kind::Text if reply.truncated => "MAX_TOKENS",
        _ => "STOP",
    };
    let thoughts = request.include_thoughts();
    let logprobs = request.logprobs();
    let signature = reply.signature();
    // Gemini carries no refusal text: a blocked candidate has no content at all.
    let visible = match reply.kind {
        Kind::Refusal => 0,
        _ => reply.completion_tokens(),
    };
    let usage = |candidates: usize, thinking: usize| {
        let mut usage = json!({
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": candidates,
            "totalTokenCount": reply.prompt_tokens + candidates + thinking,
        });
        if reply.cached_tokens > 0 {
            usage["cachedContentTokenCount"] = json!(reply.cached_tokens);
        }
        if reply.reasoning_tokens() > 0 {
            usage["thoughtsTokenCount"] = json!(thinking);
        }
        usage
    };
    let candidate = |parts: Vec<Value>, finish: Option<&str>| {
        let mut candidate = if parts.is_empty() {
            json!({"index": 0})
        } else {
            json!({"content": {"role": "model", "parts": parts}, "index": 0})
        };
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
            if finish == "SAFETY" {
                candidate["safetyRatings"] = json!([{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]);
            }
        }
        candidate
    };
    let response = |candidate: Value, usage: Value| json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model});
    let calls: Vec<Value> = match &reply.kind {
        Kind::Calls(calls) => calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let mut function_call = json!({"name": call.name, "args": call.arguments});
                if directives.call_ids {
                    function_call["id"] = json!(format!("fc_mock{}", reply::next_id()));
                }
                let mut part = json!({"functionCall": function_call});
                if let (0, Some(signature)) = (i, &signature) {
                    part["thoughtSignature"] = json!(signature);
                }
                part
            })
            .collect(),
        _ => Vec::new(),
    };
    let text_part = |text: &str, first: bool| {
        let mut part = json!({"text": text});
        if let (true, Some(signature)) = (first, &signature) {
            part["thoughtSignature"] = json!(signature);
        }
        part
    };

    if !stream {
        if !reply::generate(&directives, &reply).await {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: connection cut",
            ));
        }
        let mut parts = Vec::new();
        if thoughts && !reply.thinking.is_empty() {
            parts.push(json!({"text": reply.thinking_text(), "thought": true}));
        }
        match &reply.kind {
            Kind::Text => parts.push(text_part(&reply.text(), true)),
            Kind::Calls(_) => parts.extend(calls),
            Kind::Refusal => {}
        }
        let mut candidate = candidate(parts, Some(finish_reason));
        if let (Some(top), Kind::Text) = (logprobs, &reply.kind) {
            add_logprobs(&mut candidate, reply.tokens.iter().enumerate(), top);
        }
        return Ok(Json(response(
            candidate,
            usage(visible, reply.reasoning_tokens()),
        ))
        .into_response());
    }

    // Usage is cumulative on every frame. The finish reason comes on a frame of
    // its own with empty text, as Gemini sometimes sends it, so `cut-K` can
    // always drop the stream before it. Thoughts are counted as they stream; when
    // they are not shown, their whole count is on the first frame.
    let mut script = Script::default();
    let mut thought = if thoughts {
        0
    } else {
        reply.reasoning_tokens()
    };
    if thoughts {
        for t in &reply.thinking {
            thought += 1;
            let frame = candidate(vec![json!({"text": t, "thought": true})], None);
            script.token(data(&response(frame, usage(0, thought))));
        }
    }
    match &reply.kind {
        Kind::Text => {
            for (i, t) in reply.tokens.iter().enumerate() {
                let mut frame = candidate(vec![text_part(t, i == 0)], None);
                if let Some(top) = logprobs {
                    add_logprobs(&mut frame, std::iter::once((i, t)), top);
                }
                script.token(data(&response(frame, usage(i + 1, thought))));
            }
        }
        // Gemini streams each function call whole, never its arguments in pieces.
        Kind::Calls(calls_made) => {
            let mut emitted = 0;
            for (part, call) in calls.into_iter().zip(calls_made) {
                emitted += call.fragments().len();
                script.token(data(&response(
                    candidate(vec![part], None),
                    usage(emitted, thought),
                )));
            }
        }
        Kind::Refusal => {}
    }
    let last = match reply.kind {
        Kind::Refusal => candidate(Vec::new(), Some(finish_reason)),
        _ => candidate(vec![json!({"text": ""})], Some(finish_reason)),
    };
    script.frame(data(&response(last, usage(visible, thought))));
    Ok(reply::stream(script, &directives))
}

/// `logprobsResult` (`topCandidates`, `chosenCandidates`) and `avgLogprobs` for these tokens.
fn add_logprobs<'a>(
    candidate: &mut Value,
    tokens: impl Iterator<Item = (usize, &'a String)>,
    top: usize,
) {
    let (mut chosen, mut tops, mut sum) = (Vec::new(), Vec::new(), 0.0);
    for (i, token) in tokens {
        sum += reply::logprob(i, 0);
        chosen.push(json!({"token": token, "logProbability": reply::logprob(i, 0)}));
        let candidates: Vec<Value> = (0..top)
            .map(|k| {
                let alternative = if k == 0 {
                    token.clone()
                } else {
                    format!("alt{k}")
                };
                json!({"token": alternative, "logProbability": reply::logprob(i, k)})
            })
            .collect();
        tops.push(json!({"candidates": candidates}));
    }
    let count = chosen.len().max(1) as f64;
    candidate["logprobsResult"] =
        json!({"topCandidates": tops, "chosenCandidates": chosen, "logProbabilitySum": sum});
    candidate["avgLogprobs"] = json!(sum / count);
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
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
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
