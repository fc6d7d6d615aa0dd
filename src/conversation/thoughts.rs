//! A reply's reasoning, as the conversation keeps it: the provider's reasoning blocks in
//! order, each with its signature (kept server-side, so the next turn can send it back to the
//! same provider) and the point of the reply's text where it began.
//!
//! The reply stream is one log of bytes: reasoning text and answer text in the order they
//! came. An event's id is the log's byte length once the event is applied (`delta` and
//! `reasoning` alike), so a resumed reader is sent exactly the rest, whatever its kind.
//! Providers finish a reasoning block before the text it leads to, so a block's text never
//! grows once text followed it, and the log can be rebuilt from the stored reply: its text,
//! and each block at its offset.

use serde::{Deserialize, Serialize};

use crate::providers::{Block, Reasoning, ReasoningDelta};

/// One reasoning block of a reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thought {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
    /// The byte length of the reply's text when the block began.
    pub at: usize,
}

/// Folds a reasoning delta in, as `Completion::push` does: into the `index`-th block, or a
/// new one beginning at `text_len`.
pub fn apply(thoughts: &mut Vec<Thought>, d: &ReasoningDelta, text_len: usize) {
    let mut i = d.index as usize;
    if i >= thoughts.len() {
        i = thoughts.len();
        thoughts.push(Thought {
            at: text_len,
            ..Thought::default()
        });
    }
    let Some(t) = thoughts.get_mut(i) else {
        return;
    };
    t.text.push_str(&d.text);
    if let Some(s) = &d.signature {
        t.signature.get_or_insert_with(String::new).push_str(s);
    }
    if let Some(r) = &d.redacted {
        t.redacted.get_or_insert_with(String::new).push_str(r);
    }
}

/// The reasoning text shown (every block's text, as it streamed).
pub fn text(thoughts: &[Thought]) -> Option<String> {
    let all: String = thoughts.iter().map(|t| t.text.as_str()).collect();
    (!all.is_empty()).then_some(all)
}

pub fn text_len(thoughts: &[Thought]) -> usize {
    thoughts.iter().map(|t| t.text.len()).sum()
}

/// The stored form (`None` for a reply without reasoning).
pub fn to_json(thoughts: &[Thought]) -> Option<String> {
    (!thoughts.is_empty())
        .then(|| serde_json::to_string(thoughts).ok())
        .flatten()
}

/// The stored form read back (unreadable or absent: none).
pub fn parse(stored: Option<&str>) -> Vec<Thought> {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// One run of the reply log: reasoning or answer text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub reasoning: bool,
    pub text: &'a str,
}

/// The reply log in order: the text between blocks, and each block's text where it began.
pub fn segments<'a>(content: &'a str, thoughts: &'a [Thought]) -> Vec<Segment<'a>> {
    let mut out = Vec::new();
    let mut pos = 0;
    for t in thoughts {
        let at = t.at.clamp(pos, content.len());
        let at = if content.is_char_boundary(at) {
            at
        } else {
            pos
        };
        if at > pos {
            out.push(Segment {
                reasoning: false,
                text: &content[pos..at],
            });
            pos = at;
        }
        if !t.text.is_empty() {
            out.push(Segment {
                reasoning: true,
                text: &t.text,
            });
        }
    }
    if pos < content.len() {
        out.push(Segment {
            reasoning: false,
            text: &content[pos..],
        });
    }
    out
}

/// What a reader who has the first `after` bytes of the log is still to get: for each
/// segment's rest, the event id after it (the log length), its kind and text. `None` when
/// `after` is not an event id of this log (past its end + 1, or inside a character).
pub fn rest_after<'a>(
    content: &'a str,
    thoughts: &'a [Thought],
    after: usize,
) -> Option<Vec<(usize, Segment<'a>)>> {
    let mut out = Vec::new();
    let mut start = 0;
    for s in segments(content, thoughts) {
        let end = start + s.text.len();
        if end > after {
            let from = after.saturating_sub(start);
            if !s.text.is_char_boundary(from) {
                return None;
            }
            out.push((
                end,
                Segment {
                    reasoning: s.reasoning,
                    text: &s.text[from..],
                },
            ));
        }
        start = end;
    }
    (after <= start + 1).then_some(out)
}

/// The reply as the blocks of an assistant turn sent back to the provider that wrote it:
/// its reasoning blocks (with their signatures) where they began, and its text.
pub fn blocks(content: &str, thoughts: &[Thought]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pos = 0;
    for t in thoughts {
        let at = t.at.clamp(pos, content.len());
        if at > pos && content.is_char_boundary(at) {
            out.push(Block::Text(content[pos..at].to_owned()));
            pos = at;
        }
        if !t.text.is_empty() || t.signature.is_some() || t.redacted.is_some() {
            out.push(Block::Reasoning(Reasoning {
                text: t.text.clone(),
                signature: t.signature.clone(),
                redacted: t.redacted.clone(),
            }));
        }
    }
    if pos < content.len() {
        out.push(Block::Text(content[pos..].to_owned()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn delta(index: u32, text: &str, signature: Option<&str>) -> ReasoningDelta {
        ReasoningDelta {
            index,
            text: text.into(),
            signature: signature.map(Into::into),
            redacted: None,
        }
    }

    /// Reasoning "Let me think." signed, then "Hello", then a second signed block, then "!".
    fn reply() -> (String, Vec<Thought>) {
        let mut content = String::new();
        let mut thoughts = Vec::new();
        apply(&mut thoughts, &delta(0, "Let me ", None), content.len());
        apply(&mut thoughts, &delta(0, "think.", None), content.len());
        apply(&mut thoughts, &delta(0, "", Some("sig-1")), content.len());
        content.push_str("Hello");
        apply(
            &mut thoughts,
            &delta(1, "Again.", Some("sig-2")),
            content.len(),
        );
        content.push('!');
        (content, thoughts)
    }

    #[test]
    fn deltas_fold_into_blocks_with_their_signature_and_start() {
        let (_, thoughts) = reply();
        assert_eq!(
            thoughts,
            vec![
                Thought {
                    text: "Let me think.".into(),
                    signature: Some("sig-1".into()),
                    redacted: None,
                    at: 0
                },
                Thought {
                    text: "Again.".into(),
                    signature: Some("sig-2".into()),
                    redacted: None,
                    at: 5
                },
            ]
        );
        assert_eq!(text(&thoughts).as_deref(), Some("Let me think.Again."));
        assert_eq!(text_len(&thoughts), 19);
        assert_eq!(parse(to_json(&thoughts).as_deref()), thoughts);
        assert_eq!(to_json(&[]), None);
        assert_eq!(parse(Some("not json")), vec![]);
    }

    #[test]
    fn the_log_interleaves_reasoning_and_text_as_they_came() {
        let (content, thoughts) = reply();
        let kinds: Vec<(bool, &str)> = segments(&content, &thoughts)
            .iter()
            .map(|s| (s.reasoning, s.text))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (true, "Let me think."),
                (false, "Hello"),
                (true, "Again."),
                (false, "!")
            ]
        );
    }

    #[test]
    fn a_resumed_reader_gets_exactly_the_rest_of_the_log() {
        let (content, thoughts) = reply();
        let total = 13 + 5 + 6 + 1;
        let rest = |after| {
            rest_after(&content, &thoughts, after).map(|r| {
                r.iter()
                    .map(|(id, s)| (*id, s.reasoning, s.text.to_owned()))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(rest(0).unwrap().len(), 4);
        assert_eq!(
            rest(7).unwrap(),
            vec![
                (13, true, "think.".to_owned()),
                (18, false, "Hello".to_owned()),
                (24, true, "Again.".to_owned()),
                (25, false, "!".to_owned())
            ]
        );
        assert_eq!(rest(18).unwrap()[0], (24, true, "Again.".to_owned()));
        assert_eq!(rest(total).unwrap(), vec![]);
        assert_eq!(rest(total + 1).unwrap(), vec![]);
        assert_eq!(rest(total + 2), None);
        // Inside a character of the text.
        let thoughts = vec![Thought {
            text: "é".into(),
            at: 0,
            ..Thought::default()
        }];
        assert_eq!(rest_after("ok", &thoughts, 1), None);
        assert!(rest_after("ok", &thoughts, 2).is_some());
    }

    #[test]
    fn without_reasoning_the_log_is_the_text() {
        assert_eq!(
            rest_after("héllo", &[], 3).unwrap(),
            vec![(
                6,
                Segment {
                    reasoning: false,
                    text: "llo"
                }
            )]
        );
        assert_eq!(rest_after("héllo", &[], 2), None);
    }

    #[test]
    fn blocks_put_each_signed_block_back_where_it_began() {
        let (content, mut thoughts) = reply();
        // A signature alone (Gemini's on a text part) is kept, as a block with no text.
        thoughts.push(Thought {
            signature: Some("sig-3".into()),
            at: 6,
            ..Thought::default()
        });
        let reasoning = |text: &str, sig: &str| {
            Block::Reasoning(Reasoning {
                text: text.into(),
                signature: Some(sig.into()),
                redacted: None,
            })
        };
        assert_eq!(
            blocks(&content, &thoughts),
            vec![
                reasoning("Let me think.", "sig-1"),
                Block::Text("Hello".into()),
                reasoning("Again.", "sig-2"),
                Block::Text("!".into()),
                reasoning("", "sig-3"),
            ]
        );
        assert_eq!(blocks("plain", &[]), vec![Block::Text("plain".into())]);
    }
}
