//! Reasoning signatures carry the name of the provider that issued them.
//!
//! Anthropic signs its thinking blocks and Gemini its thoughts; each wants its own signatures
//! back on the next turn and refuses anyone else's (Anthropic: "Invalid `signature` in
//! `thinking` block"). A client may switch models mid-conversation, and the wire formats it
//! speaks have no field for who signed what. So every signature leaves chatgate as
//! `<provider>:<signature>` (signatures are base64: they never hold a `:`), and on the way
//! back in, a signature is given to the provider that issued it and taken off any other's
//! reasoning. One whose prefix names no provider (a client that talked to the provider
//! directly) is passed on as it is.

use std::collections::HashSet;

use super::{Block, ChatRequest, Chunk, Completion, ProviderKind};

fn tagged(kind: ProviderKind, signature: &str) -> String {
    format!("{kind}:{signature}")
}

/// Whose a signature is, and the provider's own part of it.
fn split(signature: &str) -> Option<(ProviderKind, &str)> {
    let (name, rest) = signature.split_once(':')?;
    Some((ProviderKind::parse(name)?, rest))
}

/// The signature to send to `kind`: its own, untagged; none for another provider's.
fn admitted(kind: ProviderKind, signature: Option<String>) -> Option<String> {
    let signature = signature?;
    match split(&signature) {
        Some((issuer, own)) if issuer == kind => Some(own.to_owned()),
        Some(_) => None,
        None => Some(signature),
    }
}

/// Readies the signatures of a request for `kind`. Reasoning that is only another
/// provider's opaque data (redacted thinking) is dropped with it; reasoning with text keeps
/// its text.
pub fn admit(kind: ProviderKind, req: &mut ChatRequest) {
    for message in &mut req.messages {
        message.content.retain_mut(|block| match block {
            Block::Reasoning(r) => {
                let foreign = r
                    .signature
                    .as_deref()
                    .and_then(split)
                    .is_some_and(|(k, _)| k != kind);
                r.signature = admitted(kind, r.signature.take());
                !(foreign && r.text.is_empty())
            }
            Block::ToolCall(c) => {
                c.signature = admitted(kind, c.signature.take());
                true
            }
            _ => true,
        });
    }
}

/// Tags the signatures of one provider's reply stream. A signature may come in pieces:
/// only the first piece of each block is tagged.
#[derive(Debug)]
pub struct Tagger {
    kind: ProviderKind,
    reasoning: HashSet<u32>,
    calls: HashSet<u32>,
}

impl Tagger {
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            reasoning: HashSet::new(),
            calls: HashSet::new(),
        }
    }

    pub fn chunk(&mut self, chunk: &mut Chunk) {
        if let Some(r) = &mut chunk.reasoning {
            if let Some(s) = r.signature.as_mut().filter(|s| !s.is_empty()) {
                if self.reasoning.insert(r.index) {
                    *s = tagged(self.kind, s);
                }
            }
        }
        for call in &mut chunk.tool_calls {
            if let Some(s) = call.signature.as_mut().filter(|s| !s.is_empty()) {
                if self.calls.insert(call.index) {
                    *s = tagged(self.kind, s);
                }
            }
        }
    }
}

/// Tags the signatures of a whole reply.
pub fn tag_completion(kind: ProviderKind, c: &mut Completion) {
    for block in &mut c.content {
        let signature = match block {
            Block::Reasoning(r) => &mut r.signature,
            Block::ToolCall(call) => &mut call.signature,
            _ => continue,
        };
        if let Some(s) = signature.as_mut().filter(|s| !s.is_empty()) {
            *s = tagged(kind, s);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::providers::{Message, Reasoning, ReasoningDelta, Role, ToolCall, ToolCallDelta};

    fn reasoning(text: &str, signature: Option<&str>, redacted: Option<&str>) -> Block {
        Block::Reasoning(Reasoning {
            text: text.into(),
            signature: signature.map(Into::into),
            redacted: redacted.map(Into::into),
        })
    }

    fn call(signature: Option<&str>) -> Block {
        Block::ToolCall(ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: signature.map(Into::into),
        })
    }

    #[test]
    fn a_reply_stream_tags_each_signature_once() {
        let mut t = Tagger::new(ProviderKind::Anthropic);
        let mut pieces = Vec::new();
        for piece in ["Eq", "Ab"] {
            let mut c = Chunk {
                reasoning: Some(ReasoningDelta {
                    index: 0,
                    signature: Some(piece.into()),
                    ..ReasoningDelta::default()
                }),
                tool_calls: vec![ToolCallDelta {
                    index: 1,
                    signature: Some(piece.into()),
                    ..ToolCallDelta::default()
                }],
                ..Chunk::default()
            };
            t.chunk(&mut c);
            pieces.push(c);
        }
        let mut whole = Completion::default();
        pieces.iter().for_each(|c| whole.push(c));
        match &whole.content[0] {
            Block::Reasoning(r) => assert_eq!(r.signature.as_deref(), Some("anthropic:EqAb")),
            other => panic!("{other:?}"),
        }
        assert_eq!(pieces[1].tool_calls[0].signature.as_deref(), Some("Ab"));
        assert_eq!(
            pieces[0].tool_calls[0].signature.as_deref(),
            Some("anthropic:Eq")
        );
    }

    #[test]
    fn a_signature_goes_back_only_to_the_provider_that_issued_it() {
        let mut req = ChatRequest {
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![
                    reasoning("mine", Some("anthropic:EqMine"), None),
                    reasoning("theirs", Some("gemini:CiTheirs"), None),
                    reasoning("", Some("gemini:CiOnly"), None),
                    reasoning("", Some("openai:x"), Some("opaque")),
                    reasoning("direct", Some("EqDirect"), None),
                    call(Some("gemini:CiCall")),
                    Block::Text("answer".into()),
                ],
            }],
            ..ChatRequest::default()
        };
        admit(ProviderKind::Anthropic, &mut req);
        assert_eq!(
            req.messages[0].content,
            vec![
                reasoning("mine", Some("EqMine"), None),
                reasoning("theirs", None, None),
                reasoning("direct", Some("EqDirect"), None),
                call(None),
                Block::Text("answer".into()),
            ]
        );
    }

    #[test]
    fn a_whole_reply_is_tagged_too() {
        let mut c = Completion {
            content: vec![
                reasoning("t", Some("CiSig"), None),
                call(Some("CiCall")),
                call(None),
            ],
            ..Completion::default()
        };
        tag_completion(ProviderKind::Gemini, &mut c);
        assert_eq!(
            c.content,
            vec![
                reasoning("t", Some("gemini:CiSig"), None),
                call(Some("gemini:CiCall")),
                call(None)
            ]
        );
    }
}
