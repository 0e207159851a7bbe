//! Shell-word processing: what Docker does to the words of ADD, ARG, COPY,
//! ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR before it
//! uses them (moby/buildkit `frontend/dockerfile/shell/lex.go`, the
//! "Environment replacement" section of the Dockerfile reference).
//!
//! One pass over the word does three things, like a shell but without word
//! splitting, globbing or command substitution:
//! - quotes: `'…'` is literal; in `"…"` only `$` is special, and the escape
//!   character escapes `"`, `$` and itself (before anything else it stays);
//! - the escape character outside quotes makes the next character literal;
//! - `$NAME`, `${NAME}` and `${NAME<op>word}` are replaced, with
//!   `-`/`:-` (default), `+`/`:+` (alternate), `?`/`:?` (error if unset),
//!   `#`/`##`, `%`/`%%` (trim a shell pattern from the front/back) and
//!   `/`/`//` (replace one/all matches). With `:`, an empty value counts as
//!   unset. An unset variable is the empty string.
//!
//! RUN, CMD and ENTRYPOINT are not processed: their shell does it.

/// Expands `word` against `lookup`, removing quotes and escapes.
///
/// `escape` is the Dockerfile's escape character ([`super::Dockerfile::escape`]).
/// Errors (`missing '}' in "${FOO"`) name the whole word.
pub fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    Lexer::new(word, escape, Mode::Expand(lookup))
        .word(None, false)
        .map_err(|error| format!("{} in {word:?}", error.message))
}

/// `text` as a word that [`expand`] turns back into exactly `text`: every
/// character [`expand`] would interpret (`$`, quotes, the escape character)
/// is escaped.
pub fn escape_literal(text: &str, escape: char) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c, escape);
    }
    out
}

/// A lexing error, at a byte offset in the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub at: usize,
    pub message: String,
}

/// Removes the quotes of `word` but expands nothing: the result, given to
/// [`expand`], gives what `word` would. Characters the quotes made literal
/// come out escaped (`'$HOME'` → `\$HOME`, `"it's"` → `it\'s`); variable
/// references come out whole, braced when a quote or escape followed them
/// (`"$HOME"/bin` → `${HOME}/bin`).
pub fn unquote(word: &str, escape: char) -> Result<String, LexError> {
    Lexer::new(word, escape, Mode::Unquote).word(None, false)
}

fn push_escaped(out: &mut String, c: char, escape: char) {
    if matches!(c, '$' | '\'' | '"') || c == escape {
        out.push(escape);
    }
    out.push(c);
}

enum Mode<'a> {
    /// Produce the final text.
    Expand(&'a dyn Fn(&str) -> Option<String>),
    /// Produce text for a later [`expand`]: see [`unquote`].
    Unquote,
}

/// How deep `${…}` may nest inside the words of `${…}`.
const MAX_NESTING: usize = 64;

struct Lexer<'a> {
    source: &'a str,
    /// `${…}` currently open.
    depth: usize,
    chars: Vec<(usize, char)>,
    pos: usize,
    escape: char,
    mode: Mode<'a>,
}

impl<'a> Lexer<'a> {
    fn new(source: &'a str, escape: char, mode: Mode<'a>) -> Lexer<'a> {
        Lexer {
            source,
            depth: 0,
            chars: source.char_indices().collect(),
            pos: 0,
            escape,
            mode,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Byte offset of the next character.
    fn offset(&self) -> usize {
        self.chars
            .get(self.pos)
            .map_or(self.source.len(), |&(at, _)| at)
    }

    fn error(at: usize, message: impl Into<String>) -> LexError {
        LexError {
            at,
            message: message.into(),
        }
    }

    fn literal(&self, out: &mut String, c: char) {
        match self.mode {
            Mode::Expand(_) => out.push(c),
            Mode::Unquote => push_escaped(out, c, self.escape),
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        match self.mode {
            Mode::Expand(lookup) => lookup(name),
            Mode::Unquote => None,
        }
    }

    /// A word up to `stop` (consumed) or the end (`processStopOn`).
    /// `raw_escapes` keeps escape characters in the output, for the
    /// patterns of `#`, `%` and `/`, which read escapes themselves.
    fn word(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<String, LexError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                '\'' => self.single_quote(&mut out)?,
                '"' => self.double_quote(&mut out, raw_escapes)?,
                _ => {
                    self.pos += 1;
                    if c != self.escape {
                        self.literal(&mut out, c);
                        continue;
                    }
                    if raw_escapes {
                        out.push(c);
                    }
                    // The escape character makes the next one literal; at
                    // the very end of the word it is dropped.
                    match self.next() {
                        Some(escaped) => self.literal(&mut out, escaped),
                        None => break,
                    }
                }
            }
        }
        match stop {
            // Only nested words have a stop; `dollar` reports the missing `}`.
            Some(stop) => Err(Self::error(
                self.offset(),
                format!("unexpected end of statement while looking for matching {stop}"),
            )),
            None => Ok(out),
        }
    }

    fn single_quote(&mut self, out: &mut String) -> Result<(), LexError> {
        let start = self.offset();
        self.pos += 1;
        // sh: single quotes keep every character literal; there is no way to
        // escape a single quote inside them.
        loop {
            match self.next() {
                None => {
                    return Err(Self::error(
                        start,
                        "unexpected end of statement while looking for matching single-quote",
                    ));
                }
                Some('\'') => return Ok(()),
                Some(c) => self.literal(out, c),
            }
        }
    }

    fn double_quote(&mut self, out: &mut String, raw_escapes: bool) -> Result<(), LexError> {
        let start = self.offset();
        self.pos += 1;
        loop {
            match self.peek() {
                None => {
                    return Err(Self::error(
                        start,
                        "unexpected end of statement while looking for matching double-quote",
                    ));
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(c) => {
                    self.pos += 1;
                    if c != self.escape {
                        self.literal(out, c);
                        continue;
                    }
                    if raw_escapes {
                        out.push(c);
                    }
                    // sh: inside double quotes the escape only escapes `"`,
                    // `$` and itself; before anything else it is literal.
                    match self.peek() {
                        None => {}
                        Some(next) if next == '"' || next == '$' || next == self.escape => {
                            self.pos += 1;
                            self.literal(out, next);
                        }
                        Some(_) => self.literal(out, c),
                    }
                }
            }
        }
    }

    /// A name after `$`: letters, digits and `_`; or a run of digits
    /// (`$1`); or one of the shell's special parameters (`$@`, `$$`, …).
    /// Docker looks all of them up; only a name of length zero makes the `$`
    /// literal.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphabetic() || c.is_numeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// `$…` at the current position (`processDollar`).
    fn dollar(&mut self) -> Result<String, LexError> {
        let start = self.offset();
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(match self.mode {
                // `$` before anything that cannot start a name is literal.
                Mode::Expand(_) if name.is_empty() => "$".to_string(),
                Mode::Expand(lookup) => lookup(&name).unwrap_or_default(),
                Mode::Unquote if name.is_empty() => format!("{}$", self.escape),
                // A quote or escape next will be gone once unquoted, and
                // what follows it could extend the name: brace it then.
                Mode::Unquote => match self.peek() {
                    Some(c) if c == '\'' || c == '"' || c == self.escape => format!("${{{name}}}"),
                    _ => self.source[start..self.offset()].to_string(),
                },
            });
        }
        self.pos += 1;
        // `${A:-${B:-…}}` recurses once per level: bound it, so that no
        // input can exhaust the stack.
        if self.depth == MAX_NESTING {
            return Err(Self::error(start, "variable references nested too deeply"));
        }
        self.depth += 1;
        let braced = self.braced(start);
        self.depth -= 1;
        braced
    }

    /// `${…}` after the `{`; `start` is the offset of the `$`.
    fn braced(&mut self, start: usize) -> Result<String, LexError> {
        let missing = || Self::error(start, "missing '}'");
        match self.peek() {
            None => return Err(missing()),
            Some('{' | '}' | ':') => return Err(Self::error(start, "bad substitution")),
            Some(_) => {}
        }
        let name = self.name();
        let value = match self.next() {
            None => return Err(missing()),
            Some('}') => self.lookup(&name).unwrap_or_default(),
            Some(first @ (':' | '+' | '-' | '?' | '#' | '%')) => {
                let colon = first == ':';
                let op = if colon {
                    self.next().ok_or_else(missing)?
                } else {
                    first
                };
                let word = self
                    .word(Some('}'), op == '#' || op == '%')
                    .map_err(|error| {
                        if self.peek().is_none() {
                            missing()
                        } else {
                            error
                        }
                    })?;
                self.modify(start, &name, colon, op, word)?
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pattern = self.word(Some('/'), true).map_err(|error| {
                    if self.peek().is_none() {
                        Self::error(start, "missing '/' in ${}")
                    } else {
                        error
                    }
                })?;
                let replacement = self.word(Some('}'), true).map_err(|error| {
                    if self.peek().is_none() {
                        missing()
                    } else {
                        error
                    }
                })?;
                match self.mode {
                    Mode::Expand(lookup) => {
                        let value = lookup(&name).unwrap_or_default();
                        let pattern = Pattern::compile(&pattern).map_err(|error| {
                            Self::error(
                                start,
                                format!("invalid pattern ({pattern}) in substitution: {error}"),
                            )
                        })?;
                        pattern.replace(&value, &replacement, all)
                    }
                    Mode::Unquote => String::new(),
                }
            }
            Some(other) => {
                return Err(Self::error(
                    start,
                    format!("unsupported modifier ({other}) in substitution"),
                ));
            }
        };
        Ok(match self.mode {
            Mode::Expand(_) => value,
            // The whole `${…}`, as written: it means the same anywhere.
            Mode::Unquote => self.source[start..self.offset()].to_string(),
        })
    }

    /// `${name<op>word}`, with `colon` for the `:` forms.
    fn modify(
        &self,
        start: usize,
        name: &str,
        colon: bool,
        op: char,
        word: String,
    ) -> Result<String, LexError> {
        let Mode::Expand(lookup) = self.mode else {
            return Ok(String::new());
        };
        let value = lookup(name);
        // With `:`, set-but-empty counts as unset.
        let unset = match &value {
            None => true,
            Some(value) => colon && value.is_empty(),
        };
        match op {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' if unset => {
                let message = match (&value, word.is_empty()) {
                    (_, false) => word,
                    (None, true) => "is not allowed to be unset".to_string(),
                    (Some(_), true) => "is not allowed to be empty".to_string(),
                };
                Err(Self::error(start, format!("{name}: {message}")))
            }
            '?' => Ok(value.unwrap_or_default()),
            '#' | '%' => {
                // `##` and `%%` remove the longest match, `#` and `%` the shortest.
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let compiled = Pattern::compile(pattern).map_err(|error| {
                    Self::error(
                        start,
                        format!("invalid pattern ({pattern}) in substitution: {error}"),
                    )
                })?;
                let value = value.unwrap_or_default();
                Ok(if op == '#' {
                    compiled.trim_prefix(&value, longest)
                } else {
                    compiled.trim_suffix(&value, longest)
                })
            }
            other => {
                let colon = if colon { ":" } else { "" };
                Err(Self::error(
                    start,
                    format!("unsupported modifier ({colon}{other}) in substitution"),
                ))
            }
        }
    }
}

/// A shell pattern in `${…#pattern}` and friends: `*` any string, `?` any
/// character, `\` makes the next of `*?\` literal (BuildKit's
/// `convertShellPatternToRegex`: no bracket expressions; like its regexp,
/// neither `*` nor `?` matches a newline).
#[derive(Debug)]
struct Pattern(Vec<Glob>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Glob {
    Literal(char),
    AnyChar,
    AnyString,
}

impl Pattern {
    fn compile(pattern: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Glob::AnyString,
                '?' => Glob::AnyChar,
                '\\' => match chars.peek() {
                    // `}` and `/` are escaped to get them into `${…}`; the
                    // escape is not part of the pattern.
                    Some('}' | '/') => continue,
                    Some(&next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        Glob::Literal(next)
                    }
                    Some(&next) => return Err(format!("invalid escape '\\{next}'")),
                    None => return Err("invalid escape at the end".to_string()),
                },
                other => Glob::Literal(other),
            });
        }
        Ok(Pattern(tokens))
    }

    /// Whether the whole of `text` matches.
    fn matches(&self, text: &[char]) -> bool {
        // reachable[i]: the tokens so far can match text[..i].
        let mut reachable = vec![false; text.len() + 1];
        reachable[0] = true;
        for token in &self.0 {
            let mut next = vec![false; text.len() + 1];
            for i in (0..=text.len()).filter(|&i| reachable[i]) {
                match token {
                    Glob::Literal(c) => {
                        if text.get(i) == Some(c) {
                            next[i + 1] = true;
                        }
                    }
                    Glob::AnyChar => {
                        if text.get(i).is_some_and(|&c| c != '\n') {
                            next[i + 1] = true;
                        }
                    }
                    Glob::AnyString => {}
                }
            }
            if *token == Glob::AnyString {
                // One pass: any position after a reachable one, with no
                // newline between.
                let mut open = false;
                for j in 0..=text.len() {
                    open |= reachable[j];
                    next[j] = open;
                    if text.get(j) == Some(&'\n') {
                        open = false;
                    }
                }
            }
            reachable = next;
        }
        reachable[text.len()]
    }

    fn trim_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut ends: Vec<usize> = (0..=chars.len()).collect();
        if longest {
            ends.reverse();
        }
        match ends.into_iter().find(|&end| self.matches(&chars[..end])) {
            Some(end) => chars[end..].iter().collect(),
            None => value.to_string(),
        }
    }

    fn trim_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut starts: Vec<usize> = (0..=chars.len()).rev().collect();
        if longest {
            starts.reverse();
        }
        match starts
            .into_iter()
            .find(|&start| self.matches(&chars[start..]))
        {
            Some(start) => chars[..start].iter().collect(),
            None => value.to_string(),
        }
    }

    /// Replaces the leftmost match (longest at that position), or every
    /// non-overlapping one. An empty match right after a match is skipped,
    /// as Go's `ReplaceAllString` does.
    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut last_end = None;
        let mut replaced = false;
        while i <= chars.len() {
            let found = if replaced && !all {
                None
            } else {
                (i..=chars.len())
                    .rev()
                    .find(|&end| self.matches(&chars[i..end]))
                    .filter(|&end| end > i || last_end != Some(i))
            };
            if let Some(end) = found {
                out.push_str(replacement);
                replaced = true;
                last_end = Some(end);
                if end > i {
                    i = end;
                    continue;
                }
            }
            if let Some(&c) = chars.get(i) {
                out.push(c);
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "NAME" => Some("world".to_string()),
            "EMPTY" => Some(String::new()),
            "PATH_" => Some("/usr/local/bin:/usr/bin".to_string()),
            "FILE" => Some("archive.tar.gz".to_string()),
            _ => None,
        }
    }

    fn x(word: &str) -> String {
        expand(word, '\\', &env).unwrap()
    }

    fn err(word: &str) -> String {
        expand(word, '\\', &env).unwrap_err()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(x("hello $NAME"), "hello world");
        assert_eq!(x("${NAME}s"), "worlds");
        assert_eq!(x("$NAMEs"), "");
        assert_eq!(x("$UNSET."), ".");
        assert_eq!(x("a$NAME/b"), "aworld/b");
    }

    #[test]
    fn defaults_and_alternates() {
        assert_eq!(x("${UNSET:-fallback}"), "fallback");
        assert_eq!(x("${EMPTY:-fallback}"), "fallback");
        assert_eq!(x("${EMPTY-fallback}"), "");
        assert_eq!(x("${NAME:-fallback}"), "world");
        assert_eq!(x("${NAME:+alt}"), "alt");
        assert_eq!(x("${EMPTY:+alt}"), "");
        assert_eq!(x("${EMPTY+alt}"), "alt");
        assert_eq!(x("${UNSET:+alt}"), "");
        // The word may hold variables and quotes of its own.
        assert_eq!(x("${UNSET:-$NAME and ${NAME}}"), "world and world");
        assert_eq!(x("${UNSET:-\"a }\"}"), "a }");
    }

    #[test]
    fn required_variables() {
        assert_eq!(x("${NAME:?}"), "world");
        assert_eq!(
            err("${UNSET?}"),
            "UNSET: is not allowed to be unset in \"${UNSET?}\""
        );
        assert_eq!(
            err("${EMPTY:?}"),
            "EMPTY: is not allowed to be empty in \"${EMPTY:?}\""
        );
        assert_eq!(
            err("${UNSET:?set it}"),
            "UNSET: set it in \"${UNSET:?set it}\""
        );
    }

    #[test]
    fn escapes_make_dollar_literal() {
        assert_eq!(x("\\$NAME"), "$NAME");
        assert_eq!(x("\\${NAME}"), "${NAME}");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("c:\\\\dir"), "c:\\dir");
        // With the backtick escape, a backslash is an ordinary character.
        assert_eq!(
            expand("c:\\dir `$NAME", '`', &env).unwrap(),
            "c:\\dir $NAME"
        );
    }

    #[test]
    fn dollar_before_a_non_name_is_literal() {
        assert_eq!(x("$"), "$");
        assert_eq!(x("100$ /x$."), "100$ /x$.");
        // Digits and special parameters are names to Docker (and unset).
        assert_eq!(x("a$1b"), "ab");
        assert_eq!(x("a$@b"), "ab");
    }

    #[test]
    fn quotes() {
        assert_eq!(x("'$NAME'"), "$NAME");
        assert_eq!(x("\"$NAME\""), "world");
        assert_eq!(x("\"a b\"c'd e'"), "a bcd e");
        assert_eq!(x("\"say \\\"hi\\\" \\$NAME \\n\""), "say \"hi\" $NAME \\n");
        assert_eq!(x("'it''s'"), "its");
        assert_eq!(x("\"it's\""), "it's");
    }

    #[test]
    fn pattern_trimming_and_replacement() {
        assert_eq!(x("${FILE#*.}"), "tar.gz");
        assert_eq!(x("${FILE##*.}"), "gz");
        assert_eq!(x("${FILE%.*}"), "archive.tar");
        assert_eq!(x("${FILE%%.*}"), "archive");
        assert_eq!(x("${FILE#nomatch}"), "archive.tar.gz");
        assert_eq!(x("${PATH_/bin/sbin}"), "/usr/local/sbin:/usr/bin");
        assert_eq!(x("${PATH_//bin/sbin}"), "/usr/local/sbin:/usr/sbin");
        assert_eq!(x("${FILE/a?c/X}"), "Xhive.tar.gz");
        assert_eq!(x("${NAME//o/0}"), "w0rld");
    }

    #[test]
    fn errors() {
        assert_eq!(err("${FOO"), "missing '}' in \"${FOO\"");
        assert_eq!(err("${FOO:-x"), "missing '}' in \"${FOO:-x\"");
        assert_eq!(err("${"), "missing '}' in \"${\"");
        assert_eq!(err("${}"), "bad substitution in \"${}\"");
        assert_eq!(err("${:-x}"), "bad substitution in \"${:-x}\"");
        assert_eq!(
            err("${A B}"),
            "unsupported modifier ( ) in substitution in \"${A B}\""
        );
        assert_eq!(
            err("${A:x}"),
            "unsupported modifier (:x) in substitution in \"${A:x}\""
        );
        assert_eq!(
            err("'abc"),
            "unexpected end of statement while looking for matching single-quote in \"'abc\""
        );
        assert_eq!(
            err("a\"bc"),
            "unexpected end of statement while looking for matching double-quote in \"a\\\"bc\""
        );
    }

    #[test]
    fn unquote_keeps_meaning() {
        let cases = [
            "plain",
            "\"hello world\"",
            "'$NAME'",
            "\"$NAME\"x",
            "'a'\"$\"'NAME'",
            "\"${UNSET:-\"x y\"}\"",
            "\"say \\\"hi\\\"\"",
            "'it'\\''s'",
            "a\\ b",
            "\"\\q\"",
            "$NAME$EMPTY'$'",
            "$NAME\\x",
            "\"$NAME\"x $1a $@b",
            "$NAME`x",
        ];
        for case in cases {
            let unquoted = unquote(case, '\\').unwrap();
            assert_eq!(x(&unquoted), x(case), "{case} → {unquoted}");
        }
        assert_eq!(unquote("\"hello world\"", '\\').unwrap(), "hello world");
        assert_eq!(unquote("'$HOME'", '\\').unwrap(), "\\$HOME");
        assert_eq!(unquote("\"$HOME\"/bin", '\\').unwrap(), "${HOME}/bin");
        assert_eq!(unquote("$HOME/bin", '\\').unwrap(), "$HOME/bin");
        assert_eq!(unquote("$A\\b", '\\').unwrap(), "${A}b");
        assert_eq!(unquote("'a b'", '`').unwrap(), "a b");
        assert_eq!(
            unquote("\"abc", '\\').unwrap_err(),
            LexError {
                at: 0,
                message: "unexpected end of statement while looking for matching double-quote"
                    .to_string()
            }
        );
        assert_eq!(unquote("ab${C", '\\').unwrap_err().at, 2);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}x{}", "${A:-".repeat(64), "}".repeat(64));
        assert_eq!(x(&deep), "x");
        let deeper = format!("{}x{}", "${A:-".repeat(100_000), "}".repeat(100_000));
        assert!(err(&deeper).starts_with("variable references nested too deeply"));
        assert!(unquote(&deeper, '\\').is_err());
    }

    #[test]
    fn escape_literal_round_trips() {
        for text in ["a $b 'c' \"d\" \\e", "plain", "${X:-y}"] {
            assert_eq!(x(&escape_literal(text, '\\')), text);
            assert_eq!(expand(&escape_literal(text, '`'), '`', &env).unwrap(), text);
        }
    }
}
