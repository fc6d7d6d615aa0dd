//! The request body, from the neutral model.

use super::API_VERSION;
use crate::providers::{
    json_headers, to_json, ChatRequest, HttpRequestSpec, Role, DEFAULT_MAX_TOKENS,
};
use serde::Serialize;

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
}

/// Owned content: neighbouring turns of one role are joined (see below).
#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

pub(in crate::providers) fn build_request(
    base: &str,
    api_key: &str,
    req: &ChatRequest,
) -> HttpRequestSpec {
    // Anthropic refuses empty text blocks, and two turns of one role in a row
    // are one turn to it anyway: drop the empty ones and join the neighbours.
    let mut turns: Vec<(Role, String)> = Vec::with_capacity(req.messages.len());
    for m in req.messages.iter() {
        let text = m.text();
        if text.trim().is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, content)) if *role == m.role => {
                content.push_str("\n\n");
                content.push_str(&text);
            }
            _ => turns.push((m.role, text)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| Message {
            role: match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content,
        })
        .collect();
    let body = Request {
        model: &req.model,
        max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        system: req.system.as_deref().filter(|s| !s.trim().is_empty()),
        messages,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: &req.stop,
        stream: req.stream,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
    };
    HttpRequestSpec {
        url: format!("{base}/v1/messages"),
        headers: json_headers([
            ("x-api-key", api_key.to_owned()),
            ("anthropic-version", API_VERSION.to_owned()),
        ]),
        body: to_json(&body),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::Message;
    use serde_json::{json, Value};

    #[test]
    fn build_request_puts_system_on_top_and_always_sends_max_tokens() {
        let req = ChatRequest {
            model: "claude-3-5-haiku-latest".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("Hi"),
                Message::assistant(""), // a failed reply with no text
                Message::user("Still there?"),
                Message::assistant("Yes"),
            ],
            stop: vec!["END".into()],
            user: Some("u1".into()),
            stream: true,
            ..Default::default()
        };
        let spec = build_request("https://api.anthropic.com", "sk-ant-test", &req);
        assert_eq!(spec.url, "https://api.anthropic.com/v1/messages");
        assert!(spec
            .headers
            .contains(&("x-api-key".into(), "sk-ant-test".into())));
        assert!(spec
            .headers
            .contains(&("anthropic-version".into(), "2023-06-01".into())));
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-haiku-latest", "max_tokens": 4096, "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": "Hi\n\nStill there?"},
                    {"role": "assistant", "content": "Yes"}
                ],
                "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u1"}
            })
        );
        let small = ChatRequest {
            max_tokens: Some(10),
            temperature: Some(0.2),
            ..req
        };
        let body: Value = serde_json::from_str(&build_request("b", "k", &small).body).unwrap();
        assert_eq!(
            (body["max_tokens"].clone(), body["temperature"].clone()),
            (json!(10), json!(0.2))
        );
    }
}
