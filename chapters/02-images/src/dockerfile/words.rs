//! Cutting an instruction's arguments into words, the three ways Docker
//! does it (moby/buildkit `frontend/dockerfile/parser/line_parsers.go`):
//! - [`json_array`]: the exec form, `["a", "b"]`;
//! - [`whitespace`]: FROM, EXPOSE, and COPY/ADD/VOLUME when not JSON;
//! - [`shell_words`]: ENV, LABEL and ARG, where quotes keep spaces in a word.

use super::ParseError;
use super::expand::{LexError, unquote};
use super::line::LogicalLine;

/// A word and the byte offset where it starts in the instruction's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub at: usize,
}

/// Docker's whitespace between words: `[\t\v\f\r ]+`.
pub fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of whitespace (`parseStringsWhitespaceDelimited`).
pub fn whitespace(rest: &str) -> Vec<String> {
    rest.split(is_space)
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// The exec form (`parseJSON`): `Ok(None)` when `rest` is not a JSON array
/// (not starting with `[`, or not valid JSON, like `['a']` or `["a",]`):
/// the caller falls back to its other form, as Docker does. A valid array
/// holding anything but strings is an error.
pub fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(text) => Ok(text),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Words separated by whitespace outside quotes (`parseWords`). Quotes and
/// escape characters stay in the words: Docker removes them later, in its
/// shell-word processing (here [`unquote`]). An escape character outside
/// single quotes keeps the next character in the word, quote or space; at
/// the very end it is dropped.
pub fn shell_words(rest: &str, base: usize, escape: char) -> Vec<Word> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if word.is_empty() && quote.is_none() {
            if c.is_whitespace() {
                continue;
            }
            start = at;
        }
        match quote {
            None if c.is_whitespace() => {
                words.push(Word {
                    text: std::mem::take(&mut word),
                    at: base + start,
                });
                continue;
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(open) if c == open => quote = None,
            _ => {}
        }
        // Single quotes make the escape character ordinary.
        if c == escape && quote != Some('\'') {
            match chars.next() {
                Some((_, next)) => {
                    word.push(c);
                    word.push(next);
                }
                None if quote.is_some() => quote = None,
                None => {}
            }
            continue;
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(Word {
            text: word,
            at: base + start,
        });
    }
    words
}

/// `KEY=VALUE …` pairs of ENV and LABEL (`parseNameVal`), or the legacy
/// `KEY VALUE WITH SPACES` (one pair, chosen when the first word has no
/// `=`). Keys and values come back with their quotes removed but not
/// expanded: run them through [`super::expand`], which also turns the
/// escapes [`unquote`] leaves (`\$`) into the literal characters.
pub fn name_values(
    line: &LogicalLine,
    instruction: &str,
    rest: &str,
    base: usize,
    escape: char,
) -> Result<Vec<(String, String)>, ParseError> {
    let words = shell_words(rest, base, escape);
    let Some(first) = words.first() else {
        return Err(line.error(format!("{instruction} requires at least one argument")));
    };
    let unquoted = |text: &str, at: usize| {
        unquote(text, escape)
            .map_err(|LexError { at: inner, message }| line.error_at(at + inner, message))
    };
    if !first.text.contains('=') {
        // Legacy form: the key is the first run of non-space characters, the
        // value all the rest of the line, spaces included.
        let key_len = rest.find(is_space).unwrap_or(rest.len());
        let value = rest[key_len..].trim_start_matches(is_space);
        if value.is_empty() {
            return Err(line.error(format!("{instruction} must have two arguments")));
        }
        let value_at = base + rest.len() - value.len();
        let key = unquoted(&rest[..key_len], base)?;
        return Ok(vec![(key, unquoted(value, value_at)?)]);
    }
    let mut pairs = Vec::with_capacity(words.len());
    for word in &words {
        let Some((key, value)) = word.text.split_once('=') else {
            return Err(line.error_at(
                word.at,
                format!(
                    "Syntax error - can't find = in {:?}. Must be of the form: name=value",
                    word.text
                ),
            ));
        };
        let key = unquoted(key, word.at)?;
        if key.is_empty() {
            return Err(line.error_at(word.at, format!("{instruction} names can not be blank")));
        }
        let value = unquoted(value, word.at + word.text.len() - value.len())?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rest: &str, escape: char) -> Vec<String> {
        shell_words(rest, 0, escape)
            .into_iter()
            .map(|word| word.text)
            .collect()
    }

    #[test]
    fn shell_words_keep_quotes_and_escapes() {
        assert_eq!(texts("a  b\tc", '\\'), ["a", "b", "c"]);
        assert_eq!(
            texts("A=\"x y\" B='p q' C=z", '\\'),
            ["A=\"x y\"", "B='p q'", "C=z"]
        );
        assert_eq!(texts("A=a\\ b C=\\\"", '\\'), ["A=a\\ b", "C=\\\""]);
        assert_eq!(texts("A=\"a \\\" b\"", '\\'), ["A=\"a \\\" b\""]);
        // In single quotes the escape is an ordinary character.
        assert_eq!(texts("A='a\\' B=c", '\\'), ["A='a\\'", "B=c"]);
        // An escape at the very end is dropped.
        assert_eq!(texts("A=b\\", '\\'), ["A=b"]);
        assert_eq!(texts("A=b` c", '`'), ["A=b` c"]);
        assert_eq!(texts("", '\\'), Vec::<String>::new());
    }

    #[test]
    fn word_offsets() {
        let words = shell_words("  A=1   B='x y'", 10, '\\');
        assert_eq!(words[0].at, 12);
        assert_eq!(words[1].at, 18);
    }

    #[test]
    fn whitespace_split() {
        assert_eq!(whitespace("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(whitespace(""), Vec::<String>::new());
        // Quotes mean nothing here.
        assert_eq!(whitespace("\"a b\" c"), ["\"a", "b\"", "c"]);
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            json_array(r#" ["a b", "c"] "#),
            Ok(Some(vec!["a b".to_string(), "c".to_string()]))
        );
        assert_eq!(json_array("[]"), Ok(Some(vec![])));
        assert_eq!(json_array("echo [a]"), Ok(None));
        assert_eq!(json_array(r#"["a",]"#), Ok(None));
        assert_eq!(json_array("['a']"), Ok(None));
        assert_eq!(json_array(r#"["a"] b"#), Ok(None));
        assert!(json_array(r#"["a", 1]"#).is_err());
    }
}
