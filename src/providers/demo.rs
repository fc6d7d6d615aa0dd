//! `demo/echo`: the built-in model. No key, no network, deterministic, so
//! the service works out of the box and tests know the reply in advance.
//!
//! The worker paces `chunks()` itself. The wire format below (one
//! `data: {"text"|"finish_reason"|"usage"}` frame per chunk) exists so the
//! demo can also go through the same decoder + mapper path as the others.

use super::{
    ended_early, estimate_tokens, json_headers, parse_json, sse, sse::SseEvent, to_json,
    ChatRequest, Chunk, Completion, FinishReason, HttpRequestSpec, ProviderKind, Role,
    StreamMapper, UpstreamError, Usage,
};
use serde::{Deserialize, Serialize};

pub const NAME: &str = "demo";
/// The one demo model.
pub const MODEL: &str = "echo";

const KIND: ProviderKind = ProviderKind::Demo;

const ABOUT: &str =
    "This reply comes from demo/echo, the built-in model of chatgate. It needs no API key \
and answers the same way every time, so you can try conversations, streaming and usage accounting \
before connecting OpenAI, Anthropic or Gemini.";

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    system: Option<&'a str>,
    messages: Vec<Message>,
}

#[derive(Serialize)]
struct Message {
    role: Role,
    content: String,
}

/// The demo model takes every feature (see `super::validate`).
pub(super) fn validate(_req: &ChatRequest) -> Result<(), super::Unsupported> {
    Ok(())
}

/// Never sent anywhere: the demo is served in-process. It exists so
/// `build_request` is total over `ProviderKind`.
pub(super) fn build_request(base: &str, req: &ChatRequest) -> HttpRequestSpec {
    let body = Request {
        model: &req.model,
        system: req.system.as_deref(),
        messages: req
            .messages
            .iter()
            .map(|m| Message {
                role: m.role,
                content: m.text(),
            })
            .collect(),
    };
    HttpRequestSpec {
        url: format!("{base}/demo/{MODEL}"),
        headers: json_headers([]),
        body: to_json(&body),
    }
}

/// The reply split into word tokens, each keeping its trailing whitespace,
/// so that joined they give the reply exactly. The user's text is echoed
/// verbatim (markup included: the web client must sanitise it).
pub fn reply_tokens(req: &ChatRequest) -> Vec<String> {
    let last_user = req.messages.iter().rev().find(|m| m.role == Role::User);
    let reply = match last_user {
        Some(m) => format!("You said: {}\n\n{ABOUT}", m.text()),
        None => format!("Hello!\n\n{ABOUT}"),
    };
    split_words(&reply)
}

fn split_words(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut in_space = false;
    for ch in text.chars() {
        let space = ch.is_whitespace();
        // A new token starts where a word follows whitespace.
        match tokens.last_mut() {
            Some(last) if space || !in_space => last.push(ch),
            _ => tokens.push(ch.to_string()),
        }
        in_space = space;
    }
    tokens
}

pub fn usage(req: &ChatRequest, tokens: &[String]) -> Usage {
    let chars: String = req
        .system
        .iter()
        .cloned()
        .chain(req.messages.iter().map(|m| m.prompt_text()))
        .collect();
    Usage::new(estimate_tokens(&chars).max(1), tokens.len() as u64)
}

/// The stream, ready to pace: one chunk per token, the last one carrying
/// the finish reason and usage. `max_tokens` cuts it short, like a real
/// provider's completion cap, with the "length" finish reason.
pub fn chunks(req: &ChatRequest) -> Vec<Chunk> {
    let mut tokens = reply_tokens(req);
    let cap = req.max_tokens.map_or(usize::MAX, |m| m as usize);
    let finish_reason = if tokens.len() > cap {
        tokens.truncate(cap);
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    let usage = usage(req, &tokens);
    let mut chunks: Vec<Chunk> = tokens
        .into_iter()
        .map(|text| Chunk {
            text,
            ..Chunk::default()
        })
        .collect();
    chunks.push(Chunk {
        usage: Some(usage),
        finish_reason: Some(finish_reason),
        ..Chunk::default()
    });
    chunks
}

pub fn completion(req: &ChatRequest) -> Completion {
    let mut c = Completion::default();
    chunks(req).iter().for_each(|ch| c.push(ch));
    c
}

#[derive(Serialize, Deserialize, Default)]
struct Frame {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

impl Frame {
    fn into_chunk(self) -> Chunk {
        let finish_reason = self.finish_reason.map(|r| match r.as_str() {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            _ => FinishReason::Other(r),
        });
        Chunk {
            text: self.text,
            usage: self.usage,
            finish_reason,
            ..Chunk::default()
        }
    }
}

/// One chunk in the demo wire format, as a complete SSE frame.
pub fn encode_chunk(c: &Chunk) -> String {
    let frame = Frame {
        text: c.text.clone(),
        finish_reason: c.finish_reason.as_ref().map(|r| r.as_str().to_owned()),
        usage: c.usage,
    };
    sse::encode_event(None, None, &to_json(&frame))
}

pub(super) fn parse_completion(body: &[u8]) -> Result<Completion, UpstreamError> {
    let mut c = Completion::default();
    c.push(&parse_json::<Frame>(KIND, body)?.into_chunk());
    Ok(c)
}

#[derive(Debug, Default)]
pub struct DemoStream {
    done: bool,
}

impl StreamMapper for DemoStream {
    fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<Chunk>, UpstreamError> {
        let chunk = parse_json::<Frame>(KIND, ev.data.as_bytes())?.into_chunk();
        self.done |= chunk.finish_reason.is_some();
        Ok(if chunk.is_empty() {
            Vec::new()
        } else {
            vec![chunk]
        })
    }

    fn finish(&mut self) -> Result<(), UpstreamError> {
        if self.done {
            Ok(())
        } else {
            Err(ended_early(KIND))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::{stream_mapper, Message};
    use super::*;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: MODEL.into(),
            system: Some("Be nice.".into()),
            messages: vec![
                Message::user("first"),
                Message::assistant("ok"),
                Message::user(text),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_reply_echoes_the_last_user_message_verbatim_and_tokens_join_exactly() {
        let text = "<script>alert(1)</script> **bold**\n  `code`  ";
        let tokens = reply_tokens(&req(text));
        let reply: String = tokens.concat();
        assert!(
            reply.starts_with(&format!("You said: {text}\n\n")),
            "{reply}"
        );
        assert!(reply.ends_with(ABOUT));
        // Each token is a word followed by its whitespace.
        assert_eq!(
            tokens[..3],
            ["You ", "said: ", "<script>alert(1)</script> "]
        );
        assert!(
            (30..=60).contains(&reply_tokens(&req("hello")).len()),
            "{}",
            reply_tokens(&req("hello")).len()
        );
    }

    #[test]
    fn the_reply_is_deterministic_and_handles_no_user_message() {
        assert_eq!(reply_tokens(&req("x")), reply_tokens(&req("x")));
        let empty = ChatRequest::default();
        assert!(reply_tokens(&empty).concat().starts_with("Hello!"));
        assert_eq!(usage(&empty, &[]).prompt_tokens, 1);
    }

    #[test]
    fn usage_estimates_the_prompt_and_counts_the_tokens() {
        let r = req("hello");
        let tokens = reply_tokens(&r);
        // "Be nice." + "first" + "ok" + "hello" = 20 chars
        assert_eq!(usage(&r, &tokens), Usage::new(5, tokens.len() as u64));
        let c = completion(&r);
        assert_eq!(c.text(), tokens.concat());
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn max_tokens_cuts_the_reply_with_the_length_finish_reason() {
        let r = ChatRequest {
            max_tokens: Some(3),
            ..req("hello")
        };
        let c = completion(&r);
        assert_eq!(c.text(), "You said: hello\n\n");
        assert_eq!(c.usage.completion_tokens, 3);
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        let roomy = ChatRequest {
            max_tokens: Some(1000),
            ..req("hello")
        };
        assert_eq!(completion(&roomy).finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn encoded_chunks_go_through_the_decoder_and_mapper_unchanged() {
        let expected = chunks(&req("héllo 🙂"));
        let wire: String = expected.iter().map(encode_chunk).collect();
        let mut dec = sse::SseDecoder::new();
        let mut mapper = stream_mapper(KIND);
        let mut got = Vec::new();
        for ev in dec.feed(wire.as_bytes()).unwrap() {
            got.extend(mapper.on_event(&ev).unwrap());
        }
        assert!(mapper.finish().is_ok());
        assert_eq!(got, expected);
        let c = parse_completion(br#"{"text":"hi","finish_reason":"stop","usage":{"prompt_tokens":1,"completion_tokens":1}}"#).unwrap();
        assert_eq!(c.text(), "hi");
    }
}
