//! A search query as the full-text index reads it: the user's words, each taken literally.
//!
//! FTS5 has a query language (`AND`, `NEAR(...)`, `col:`, `^`, `*`, quotes): a user's
//! `"` or `(` would make a query it cannot parse, or one that means something else. So every
//! word becomes a quoted FTS5 string (its own `"` doubled), which the index reads as plain
//! words; the words must all appear, and the last one, once it has `MIN_PREFIX_CHARS` letters
//! or digits, may be the start of a word (so a query typed so far finds what it is leading to).
//! A shorter last word is matched whole: a 1- or 2-character prefix would merge the doclists of
//! every term it starts (about 100 ms over 100,000 messages), and the index keeps prefixes of 3.

/// The most characters a query may have.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words a query may have.
pub const MAX_QUERY_WORDS: usize = 16;
/// The letters or digits a last word needs to be read as the start of a word (migration
/// 0015 indexes prefixes of this length).
pub const MIN_PREFIX_CHARS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(String);

impl SearchQuery {
    /// The query for `raw`, or why there is none.
    pub fn parse(raw: &str) -> Result<SearchQuery, String> {
        let raw = raw.trim();
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(format!("q is longer than {MAX_QUERY_CHARS} characters"));
        }
        // A word without a letter or a digit has nothing the index holds.
        let words: Vec<&str> = raw
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .collect();
        if words.is_empty() {
            return Err("q must have a word to search for".into());
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(format!("q has more than {MAX_QUERY_WORDS} words"));
        }
        let last = words.len() - 1;
        let expr = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let quoted = format!("\"{}\"", w.replace('"', "\"\""));
                if i == last
                    && w.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_PREFIX_CHARS
                {
                    quoted + "*"
                } else {
                    quoted
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(SearchQuery(expr))
    }

    /// The FTS5 expression: the words, quoted, all required.
    pub fn expression(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_the_last_one_is_a_prefix() {
        assert_eq!(
            SearchQuery::parse("  hello   wor ").unwrap().expression(),
            "\"hello\" \"wor\"*"
        );
    }

    #[test]
    fn the_query_language_is_read_as_plain_words() {
        for (raw, want) in [
            ("a\"b", "\"a\"\"b\""),
            ("NEAR(x y)", "\"NEAR(x\" \"y)\""),
            (
                "body:secret OR owner:x",
                "\"body:secret\" \"OR\" \"owner:x\"*",
            ),
            ("^start -x +y", "\"^start\" \"-x\" \"+y\""),
            ("ab", "\"ab\""),
            ("a\"bc", "\"a\"\"bc\"*"),
            ("*", "impossible"),
        ] {
            match SearchQuery::parse(raw) {
                Ok(q) => assert_eq!(q.expression(), want, "{raw}"),
                Err(_) => assert_eq!(raw, "*", "{raw} was refused"),
            }
        }
    }

    #[test]
    fn a_query_without_words_too_long_or_with_too_many_words_is_refused() {
        for raw in ["", "   ", "\"\"", "( ) * : -", "\u{1}\u{2}"] {
            assert!(SearchQuery::parse(raw).is_err(), "{raw:?}");
        }
        assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
        let many = vec!["w"; MAX_QUERY_WORDS + 1].join(" ");
        assert!(SearchQuery::parse(&many).is_err());
    }
}
