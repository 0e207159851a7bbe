//! An instruction's keyword, its `--flags` and the rest of its arguments
//! (moby/buildkit `frontend/dockerfile/parser/split_command.go` and
//! `instructions/bflag.go`).
//!
//! Docker takes the words starting with `--` at the front of *every*
//! instruction as flags, before it knows which instruction it is: this is
//! why `CMD --help` is refused as an unknown flag.

use super::ParseError;
use super::line::LogicalLine;
use super::words::is_space;

/// An instruction cut into keyword, flags and arguments. Offsets are bytes
/// in the [`LogicalLine::text`] the parts came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    /// As written: `copy`, `COPY`, `Copy`.
    pub keyword: &'a str,
    pub flags: Vec<RawFlag>,
    /// The arguments after the flags, trimmed.
    pub args: &'a str,
    pub args_at: usize,
}

/// A flag as written, quotes and backslashes processed: `--from=build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFlag {
    pub text: String,
    pub at: usize,
}

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--name=value`.
    Value,
    /// `--name`, `--name=true`, `--name=false`.
    Switch,
}

/// Cuts `text` (found at `base` in the logical line) into keyword, flags
/// and arguments (`splitCommand`).
pub fn split(text: &str, base: usize) -> Parts<'_> {
    let trimmed = text.trim_start();
    let base = base + text.len() - trimmed.len();
    let trimmed = trimmed.trim_end();
    let keyword_len = trimmed.find(is_space).unwrap_or(trimmed.len());
    let keyword = &trimmed[..keyword_len];
    let after = trimmed[keyword_len..].trim_start_matches(is_space);
    let after_at = base + trimmed.len() - after.len();
    let (flags, args_offset) = extract(after, after_at);
    let args = after[args_offset..].trim();
    let args_at = after_at
        + args_offset
        + (after[args_offset..].len() - after[args_offset..].trim_start().len());
    Parts {
        keyword,
        flags,
        args,
        args_at,
    }
}

/// Reads the leading `--flag` words of `line` (`extractBuilderFlags`):
/// quotes group, a backslash escapes (always a backslash, whatever the
/// escape directive), and `--` alone ends the flags. Returns the flags and
/// the offset in `line` where the arguments start.
fn extract(line: &str, base: usize) -> (Vec<RawFlag>, usize) {
    let mut flags = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        // Between words: stop at the first word not starting with `--`.
        let Some(&(start, c)) = chars.peek() else {
            return (flags, line.len());
        };
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if !line[start..].starts_with("--") {
            return (flags, start);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        let mut end = line.len();
        while let Some((at, c)) = chars.next() {
            match quote {
                Some(open) if c == open => quote = None,
                None if c.is_whitespace() => {
                    end = at;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                _ if c == '\\' => {
                    // A backslash at the very end is dropped.
                    if let Some((_, next)) = chars.next() {
                        word.push(next);
                    }
                }
                _ => word.push(c),
            }
        }
        if word == "--" {
            return (flags, end.min(line.len()));
        }
        if blank_ok || !word.is_empty() {
            flags.push(RawFlag {
                text: word,
                at: base + start,
            });
        }
    }
}

/// Checks `flags` against what `instruction` accepts (`BFlags.Parse`) and
/// returns `(name, value)` pairs: a switch given bare is `"true"`.
pub fn check(
    line: &LogicalLine,
    instruction: &str,
    flags: &[RawFlag],
    accepted: &[(&str, FlagKind)],
) -> Result<Vec<(String, String)>, ParseError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for flag in flags {
        let Some(body) = flag.text.strip_prefix("--") else {
            return Err(line.error_at(flag.at, format!("arg should start with -- : {}", flag.text)));
        };
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        if let Some(feature) = buildkit_only(instruction, name) {
            return Err(line.error_at(
                flag.at,
                format!("{instruction} --{name} is {feature}, not supported here"),
            ));
        }
        let Some(&(_, kind)) = accepted.iter().find(|(known, _)| *known == name) else {
            return Err(line.error_at(flag.at, format!("unknown flag: {name}")));
        };
        if seen.iter().any(|(known, _)| known == name) {
            return Err(line.error_at(flag.at, format!("duplicate flag specified: {name}")));
        }
        let value = match (kind, value) {
            (FlagKind::Value, Some(value)) => value.to_string(),
            (FlagKind::Value, None) => {
                return Err(line.error_at(flag.at, format!("missing a value on flag: {name}")));
            }
            (FlagKind::Switch, None) => "true".to_string(),
            (FlagKind::Switch, Some(value)) => match value.to_ascii_lowercase().as_str() {
                "true" => "true".to_string(),
                "false" => "false".to_string(),
                _ => {
                    return Err(line.error_at(
                        flag.at,
                        format!("expecting boolean value for flag {name}, not: {value}"),
                    ));
                }
            },
        };
        seen.push((name.to_string(), value));
    }
    Ok(seen)
}

/// Flags that only BuildKit has: worth a clearer word than "unknown flag".
fn buildkit_only(instruction: &str, flag: &str) -> Option<&'static str> {
    match (instruction, flag) {
        ("RUN", "mount") => Some("a BuildKit feature (cache, secret and ssh mounts)"),
        ("RUN", "network" | "security" | "device") => Some("a BuildKit feature"),
        ("COPY", "parents" | "exclude") => Some("a BuildKit feature"),
        ("ADD", "checksum" | "keep-git-dir" | "exclude" | "unpack") => Some("a BuildKit feature"),
        _ => None,
    }
}

/// The value of flag `name` in the result of [`check`]: `None` when absent
/// or empty (`--from=` means no `--from` to Docker).
pub fn value(flags: &[(String, String)], name: &str) -> Option<String> {
    flags
        .iter()
        .find(|(known, _)| known == name)
        .map(|(_, value)| value.clone())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag_texts<'a>(parts: &'a Parts) -> Vec<&'a str> {
        parts.flags.iter().map(|flag| flag.text.as_str()).collect()
    }

    #[test]
    fn keyword_flags_and_args() {
        let parts = split("COPY --from=build --chown=1:1 a b", 0);
        assert_eq!(parts.keyword, "COPY");
        assert_eq!(flag_texts(&parts), ["--from=build", "--chown=1:1"]);
        assert_eq!(parts.args, "a b");
        assert_eq!(parts.args_at, 30);
        assert_eq!(parts.flags[1].at, 18);
    }

    #[test]
    fn no_args() {
        let parts = split("WORKDIR   ", 0);
        assert_eq!(parts.keyword, "WORKDIR");
        assert_eq!(parts.args, "");
        let parts = split("COPY --link", 0);
        assert_eq!(flag_texts(&parts), ["--link"]);
        assert_eq!(parts.args, "");
    }

    #[test]
    fn quotes_and_backslashes_in_flags() {
        let parts = split(r#"COPY --chown="a b":c --chmod=\'7 x y"#, 0);
        assert_eq!(flag_texts(&parts), ["--chown=a b:c", "--chmod='7"]);
        assert_eq!(parts.args, "x y");
    }

    #[test]
    fn double_dash_ends_flags() {
        let parts = split("RUN -- --not-a-flag", 0);
        assert!(parts.flags.is_empty());
        assert_eq!(parts.args, "--not-a-flag");
        // A single dash is an argument.
        let parts = split("RUN -x", 0);
        assert_eq!(parts.args, "-x");
    }

    #[test]
    fn checking() {
        let source = super::super::line::split("COPY --link --from=a --chown=x b c").unwrap();
        let line = &source.lines[0];
        let parts = split(&line.text, 0);
        let accepted = [
            ("from", FlagKind::Value),
            ("chown", FlagKind::Value),
            ("link", FlagKind::Switch),
        ];
        let flags = check(line, "COPY", &parts.flags, &accepted).unwrap();
        assert_eq!(value(&flags, "from").as_deref(), Some("a"));
        assert_eq!(value(&flags, "link").as_deref(), Some("true"));
        assert_eq!(value(&flags, "chmod"), None);
        let error = check(line, "COPY", &parts.flags, &accepted[..2]).unwrap_err();
        assert_eq!((error.line, error.column), (1, Some(6)));
        assert_eq!(error.message, "unknown flag: link");
    }
}
