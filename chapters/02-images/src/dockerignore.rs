//! `.dockerignore`: which files of the build context the builder never
//! sees, read as Docker reads it (moby/patternmatcher `ignorefile.ReadAll`
//! for the file, `patternmatcher.go` for matching; the rules are in the
//! Dockerfile reference, ".dockerignore file").
//!
//! - One pattern per line. A line starting with `#` (first column only) is
//!   a comment; blank lines are skipped; surrounding whitespace is trimmed.
//! - Patterns are cleaned like Go's `filepath.Clean` (`./a//b/` is `a/b`)
//!   and a leading `/` is dropped: every pattern is relative to the context.
//! - `*` is any run of characters except `/`, `?` one character except `/`,
//!   `[a-z]`/`[^a-z]` a class, `\` escapes the next character, and `**`
//!   any number of directories, zero included.
//! - A pattern matches a path if it matches the whole path or one of its
//!   parent directories: excluding `build` excludes `build/x/y`.
//! - `!pattern` is an exception that puts matching paths back. Lines are
//!   read top to bottom and the last one that matches decides.

use std::path::Path;

use anyhow::Context;

/// The patterns of a `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Cleaned, without the `!`.
    text: String,
    exception: bool,
    matcher: Matcher,
}

/// The four ways patternmatcher's `compile` matches a pattern; the first
/// three are shortcuts it takes when the pattern allows, and they differ
/// slightly from the general case (`**foo` matches `xfoo`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    /// No wildcard: the path is the pattern.
    Exact(String),
    /// `prefix**`, no other wildcard: the path starts with the prefix.
    Prefix(String),
    /// `**suffix`, no other wildcard: the path ends with the suffix, or is
    /// it without its leading `/`.
    Suffix(String),
    /// Anything else.
    Glob(Vec<Token>),
    /// A pattern that is not valid (kept by [`DockerIgnore::parse`]): never
    /// matches.
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any characters but `/`.
    Star,
    /// `**/` (or `**` inside a pattern): nothing, or anything ending in `/`.
    Dirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: ranges of characters, maybe negated. A negated class
    /// matches `/`, as Docker's regexp does.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl DockerIgnore {
    /// Reads `.dockerignore` text. An invalid pattern (`[a-`, a lone `!`)
    /// matches nothing here; [`DockerIgnore::parse_strict`] refuses it, as
    /// Docker does.
    pub fn parse(text: &str) -> DockerIgnore {
        DockerIgnore {
            patterns: lines(text)
                .map(|(_, line)| Pattern::new(&line).unwrap_or_else(|_| Pattern::never(&line)))
                .collect(),
        }
    }

    /// Reads `.dockerignore` text; an invalid pattern is an error naming
    /// its line: `.dockerignore:3: syntax error in pattern "[a-"`.
    pub fn parse_strict(text: &str) -> Result<DockerIgnore, String> {
        let patterns = lines(text)
            .map(|(number, line)| {
                Pattern::new(&line).map_err(|why| format!(".dockerignore:{number}: {why}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(DockerIgnore { patterns })
    }

    /// Reads `context/.dockerignore`; no file means nothing is excluded.
    pub fn load(context: &Path) -> anyhow::Result<DockerIgnore> {
        let path = context.join(".dockerignore");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerIgnore::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        DockerIgnore::parse_strict(&text)
            .map_err(|why| anyhow::anyhow!(why))
            .with_context(|| format!("in {}", path.display()))
    }

    /// Whether `relative_path` (`dir/file.txt`, relative to the context)
    /// is left out of the build context (patternmatcher's
    /// `MatchesOrParentMatches`).
    pub fn is_excluded(&self, relative_path: &str) -> bool {
        let path = clean(relative_path.trim_start_matches('/'));
        // Docker never excludes the context itself.
        if path == "." {
            return false;
        }
        // The parents: `a`, `a/b` for `a/b/c`.
        let parents: Vec<&str> = path
            .match_indices('/')
            .map(|(slash, _)| &path[..slash])
            .collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            let matches =
                pattern.matches(&path) || parents.iter().any(|parent| pattern.matches(parent));
            if matches {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether any pattern is an exception (`!…`). Without one, a walk can
    /// skip an excluded directory whole; with one, something below it may
    /// be put back, and the walk has to look inside.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|pattern| pattern.exception)
    }

    /// The patterns as Docker reads them: cleaned, `!` kept.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|pattern| {
                let bang = if pattern.exception { "!" } else { "" };
                format!("{bang}{}", pattern.text)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// The patterns of `text` with their 1-based line numbers
/// (`ignorefile.ReadAll`).
fn lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines().enumerate().filter_map(|(index, line)| {
        // Only a `#` in the first column makes a comment.
        if line.starts_with('#') {
            return None;
        }
        let line = line.trim();
        if line.is_empty() {
            return None;
        }
        let (bang, pattern) = match line.strip_prefix('!') {
            Some(rest) => ("!", rest.trim()),
            None => ("", line),
        };
        let pattern = if pattern.is_empty() {
            String::new()
        } else {
            let cleaned = clean(pattern);
            match cleaned.strip_prefix('/') {
                Some(relative) if !relative.is_empty() => relative.to_string(),
                _ => cleaned,
            }
        };
        Some((index + 1, format!("{bang}{pattern}")))
    })
}

/// Go's `filepath.Clean` on `/` paths: no empty or `.` components, `..`
/// removes the one before it (at the root, nothing), no trailing `/`; the
/// empty path is `.`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

impl Pattern {
    /// One line of the file, as returned by [`lines`] (`New`).
    fn new(line: &str) -> Result<Pattern, String> {
        let line = clean(line.trim());
        let (exception, text) = match line.strip_prefix('!') {
            Some("") => return Err("illegal exclusion pattern: \"!\"".to_string()),
            Some(rest) => (true, rest.to_string()),
            None => (false, line),
        };
        // Docker asks Go's filepath.Match for syntax errors first.
        validate(&text).map_err(|()| format!("syntax error in pattern {text:?}"))?;
        let matcher = compile(&text);
        Ok(Pattern {
            text,
            exception,
            matcher,
        })
    }

    fn never(line: &str) -> Pattern {
        let line = line.trim();
        let (exception, text) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        Pattern {
            text: text.to_string(),
            exception,
            matcher: Matcher::Never,
        }
    }

    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|bare| path == bare)
            }
            Matcher::Glob(tokens) => glob(tokens, &path.chars().collect::<Vec<_>>()),
            Matcher::Never => false,
        }
    }
}

/// Go's `filepath.Match` syntax check: `\` needs a character after it; a
/// class is `[`, maybe `^`, then one or more characters or ranges `a-z`
/// (`-` and `]` only escaped), then `]`.
fn validate(pattern: &str) -> Result<(), ()> {
    let mut chars = pattern.chars().peekable();
    // One class member: a character, `\` and a character, never `-` or `]`.
    let member = |chars: &mut std::iter::Peekable<std::str::Chars>| match chars.next() {
        None | Some('-' | ']') => Err(()),
        Some('\\') => chars.next().map(drop).ok_or(()),
        Some(_) => Ok(()),
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next().ok_or(())?;
            }
            '[' => {
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chars.peek() == Some(&']') {
                        chars.next();
                        break;
                    }
                    member(&mut chars)?;
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        member(&mut chars)?;
                    }
                    // A class must be closed.
                    chars.peek().ok_or(())?;
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// patternmatcher's `compile`: a valid pattern into tokens, noting when
/// one of its shortcuts applies.
fn compile(pattern: &str) -> Matcher {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is `**`: the slash goes with it.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    // `**` at the end matches everything, as in .gitignore.
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        tokens.push(Token::Rest);
                        kind = Kind::Glob;
                    }
                } else {
                    tokens.push(Token::Dirs);
                    kind = Kind::Glob;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                kind = Kind::Glob;
            }
            '?' => {
                tokens.push(Token::One);
                kind = Kind::Glob;
            }
            '\\' => {
                if let Some(&next) = chars.get(i) {
                    i += 1;
                    tokens.push(Token::Literal(next));
                    kind = Kind::Glob;
                } else {
                    tokens.push(Token::Literal('\\'));
                }
            }
            '[' => {
                let (class, end) = class(&chars, i);
                tokens.push(class);
                i = end;
                kind = Kind::Glob;
            }
            // A `]` outside a class is an ordinary character to the regexp.
            ']' => {
                tokens.push(Token::Literal(']'));
                kind = Kind::Glob;
            }
            other => tokens.push(Token::Literal(other)),
        }
        first = false;
    }
    match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Glob => Matcher::Glob(tokens),
    }
}

/// The class starting after the `[` at `chars[start - 1]`; returns it and
/// the index after its `]`. The pattern was validated.
fn class(chars: &[char], start: usize) -> (Token, usize) {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let member = |i: &mut usize| {
        let mut c = chars.get(*i).copied().unwrap_or(']');
        if c == '\\' {
            *i += 1;
            c = chars.get(*i).copied().unwrap_or('\\');
        }
        *i += 1;
        c
    };
    // The first member may be a `]`; after it, `]` closes the class.
    while i < chars.len() && (chars[i] != ']' || ranges.is_empty()) {
        let low = member(&mut i);
        let high = if chars.get(i) == Some(&'-') {
            i += 1;
            member(&mut i)
        } else {
            low
        };
        ranges.push((low, high));
    }
    (Token::Class { negated, ranges }, i + 1)
}

/// Whether `tokens` match all of `path`.
fn glob(tokens: &[Token], path: &[char]) -> bool {
    // reachable[i]: the tokens so far can match path[..i].
    let mut reachable = vec![false; path.len() + 1];
    reachable[0] = true;
    for token in tokens {
        let mut next = vec![false; path.len() + 1];
        match token {
            Token::Star | Token::Dirs | Token::Rest => {
                // `*` never crosses a `/`; `**` is Docker's regexp `(.*/)?`
                // or `.*`, and a regexp `.` is anything but a newline.
                let stop = if *token == Token::Star { '/' } else { '\n' };
                // One pass: `open` says a run from some reachable position
                // can extend to here.
                let mut open = false;
                for j in 0..=path.len() {
                    // A `**/` run ends right after a `/`.
                    let can_end = *token != Token::Dirs || (j > 0 && path[j - 1] == '/');
                    next[j] = reachable[j] || (open && can_end);
                    open |= reachable[j];
                    if path.get(j) == Some(&stop) {
                        open = false;
                    }
                }
            }
            single => {
                for i in (0..path.len()).filter(|&i| reachable[i]) {
                    next[i + 1] = matches_one(single, path[i]);
                }
            }
        }
        reachable = next;
    }
    reachable[path.len()]
}

/// Whether a one-character token matches `c`.
fn matches_one(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(literal) => c == *literal,
        Token::One => c != '/',
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
        }
        Token::Star | Token::Dirs | Token::Rest => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        DockerIgnore::parse_strict(patterns)
            .unwrap()
            .is_excluded(path)
    }

    #[test]
    fn reference_example_temp() {
        // The Dockerfile reference's example file.
        let file = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
        assert!(excluded(file, "somedir/temporary.txt"));
        assert!(excluded(file, "somedir/temp"));
        assert!(excluded(file, "somedir/temp/inside.txt"));
        assert!(excluded(file, "somedir/subdir/temporary.txt"));
        assert!(excluded(file, "tempa"));
        assert!(excluded(file, "tempb/x"));
        assert!(!excluded(file, "temporary.txt"));
        assert!(!excluded(file, "temp"));
        assert!(!excluded(file, "a/b/c/temp"));
        assert!(!excluded(file, "somedir/other.txt"));
    }

    #[test]
    fn double_star() {
        let file = "**/*.go";
        assert!(excluded(file, "main.go"));
        assert!(excluded(file, "cmd/app/main.go"));
        assert!(!excluded(file, "main.rs"));
        assert!(excluded("a/**/b", "a/b"));
        assert!(excluded("a/**/b", "a/x/y/b"));
        assert!(!excluded("a/**/b", "a/xb"));
        assert!(excluded("a/**", "a/x/y"));
        assert!(!excluded("a/**", "a"));
        assert!(excluded("**", "anything/at/all"));
        assert!(excluded("**/node_modules", "node_modules"));
        assert!(excluded("**/node_modules", "web/node_modules/x.js"));
        // The shortcuts: a suffix is matched as a plain string ending.
        assert!(excluded("**foo", "xfoo"));
    }

    #[test]
    fn exceptions_last_match_wins() {
        let file = "*.md\n!README.md\n";
        assert!(excluded(file, "CHANGELOG.md"));
        assert!(!excluded(file, "README.md"));
        assert!(!excluded(file, "main.rs"));
        // No markdown except README files other than README-secret.md.
        let file = "*.md\n!README*.md\nREADME-secret.md\n";
        assert!(excluded(file, "notes.md"));
        assert!(!excluded(file, "README-public.md"));
        assert!(excluded(file, "README-secret.md"));
        // The same lines reordered: every README is back.
        let file = "*.md\nREADME-secret.md\n!README*.md\n";
        assert!(!excluded(file, "README-secret.md"));
        assert!(!excluded(file, "README.md"));
        assert!(excluded(file, "notes.md"));
    }

    #[test]
    fn directories_exclude_their_contents() {
        let file = "build\n!build/keep.txt\n";
        assert!(excluded(file, "build"));
        assert!(excluded(file, "build/out/bin"));
        assert!(!excluded(file, "build/keep.txt"));
        assert!(!excluded(file, "builder"));
        assert!(DockerIgnore::parse(file).has_exceptions());
        // Matching is on the whole path from the context: `temp` is only
        // the top-level one.
        assert!(!excluded("temp", "a/temp"));
    }

    #[test]
    fn cleaning_and_comments() {
        let ignore = DockerIgnore::parse(
            "# comment\n  # not a comment\n\n/abs/path/\n./a//b/../c\n! /inverted\n",
        );
        assert_eq!(
            ignore.patterns(),
            ["# not a comment", "abs/path", "a/c", "!inverted"]
        );
        assert!(ignore.is_excluded("abs/path/x"));
        assert!(ignore.is_excluded("./a/c"));
        assert!(ignore.is_excluded("/abs/path"));
        assert!(!ignore.is_excluded("."));
        assert!(!ignore.is_excluded(""));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(excluded("file[0-9].txt", "file7.txt"));
        assert!(!excluded("file[0-9].txt", "filex.txt"));
        assert!(excluded("file[^0-9].txt", "filex.txt"));
        assert!(excluded("[ab]*", "apple"));
        assert!(excluded("\\*.txt", "*.txt"));
        assert!(!excluded("\\*.txt", "a.txt"));
        assert!(excluded("a?c", "abc"));
        assert!(excluded("a*/**/z", "abc/z"));
        assert!(excluded("a*/**/z", "a/b/c/z"));
        assert!(!excluded("a*/**/z", "ab/cz"));
        assert!(!excluded("a?c", "a/c"));
        assert!(excluded("*", "a/b"), "`*` matches the parent `a`");
    }

    #[test]
    fn invalid_patterns() {
        assert_eq!(
            DockerIgnore::parse_strict("ok\n[a-").unwrap_err(),
            ".dockerignore:2: syntax error in pattern \"[a-\""
        );
        assert_eq!(
            DockerIgnore::parse_strict("!\n").unwrap_err(),
            ".dockerignore:1: illegal exclusion pattern: \"!\""
        );
        for bad in ["a\\", "[]", "[a", "[-a]", "[a-]"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        for good in ["[a-z]", "[^a]", "[\\]]", "a\\*", "]"] {
            assert!(validate(good).is_ok(), "{good}");
        }
        // The lenient parse keeps going: the bad line matches nothing.
        let ignore = DockerIgnore::parse("[a-\nb");
        assert!(ignore.is_excluded("b"));
        assert!(!ignore.is_excluded("[a-"));
    }

    #[test]
    fn load_from_context() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DockerIgnore::load(dir.path()).unwrap().is_empty());
        std::fs::write(dir.path().join(".dockerignore"), "target\n*.log\n").unwrap();
        let ignore = DockerIgnore::load(dir.path()).unwrap();
        assert!(ignore.is_excluded("target/debug/app"));
        assert!(ignore.is_excluded("run.log"));
        assert!(!ignore.is_excluded("src/main.rs"));
        std::fs::write(dir.path().join(".dockerignore"), "[\n").unwrap();
        let error = DockerIgnore::load(dir.path()).unwrap_err();
        assert!(format!("{error:#}").contains(".dockerignore:1: syntax error in pattern \"[\""));
    }
}
