//! From physical lines to instructions: parser directives, comments and
//! line continuations, read the way BuildKit's `parser.Parse` reads them
//! (moby/buildkit `frontend/dockerfile/parser/parser.go`).
//!
//! Nothing here knows what an instruction means; it only decides which
//! characters of the file make up each one, and remembers where they came
//! from so that later errors can point at a line and column.

use super::ParseError;

/// The escape character when no `# escape=` directive says otherwise.
pub const DEFAULT_ESCAPE: char = '\\';

/// The file cut into instructions.
#[derive(Debug)]
pub struct Lines {
    /// From the `# escape=` directive, or [`DEFAULT_ESCAPE`].
    pub escape: char,
    pub lines: Vec<LogicalLine>,
}

/// One instruction's text, its continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// 1-based line of the instruction's first line.
    pub start: usize,
    /// Joined as Docker joins: the escape character ending a line is
    /// dropped and the next line appended as it is, indentation included,
    /// with no separator. This is the text every argument is read from.
    pub text: String,
    /// The same for people: at each join the whitespace on both sides is
    /// collapsed to one space, and the ends are trimmed.
    pub display: String,
    /// Where each joined piece starts, in `text` and in the file.
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    offset: usize,
    line: usize,
    column: usize,
}

impl LogicalLine {
    /// The 1-based line and column in the file of the byte at `offset` in
    /// [`LogicalLine::text`].
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let Some(piece) = self
            .pieces
            .iter()
            .rev()
            .find(|piece| piece.offset <= offset)
        else {
            return (self.start, 1);
        };
        let chars = self
            .text
            .get(piece.offset..offset)
            .map_or(0, |between| between.chars().count());
        (piece.line, piece.column + chars)
    }

    /// An error about the whole instruction, at its first line.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.start, None, message)
    }

    /// An error about the character at `offset` in [`LogicalLine::text`].
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.locate(offset);
        ParseError::new(line, Some(column), message)
    }
}

/// Cuts `text` into instructions.
pub fn split(text: &str) -> Result<Lines, ParseError> {
    // Docker strips a UTF-8 byte-order mark from the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Lines end at '\n'; Docker trims every trailing '\r' and '\n' (CRLF files).
    let physical: Vec<&str> = text
        .split('\n')
        .map(|line| line.trim_end_matches(['\r', '\n']))
        .collect();
    let mut directives = Directives::default();
    let mut lines = Vec::new();
    let mut next = 0;
    while next < physical.len() {
        let number = next + 1;
        let raw = physical[next];
        next += 1;
        let trimmed = raw.trim_start();
        directives.read(trimmed, number)?;
        // A line whose first non-blank character is `#` is a comment, even
        // indented; a `#` anywhere else is part of the instruction.
        let content = if trimmed.starts_with('#') {
            ""
        } else {
            trimmed
        };
        let (piece, mut continues) = trim_continuation(content, directives.escape);
        if !continues && piece.is_empty() {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        let mut logical = Joiner::new(number, 1 + raw[..indent].chars().count(), piece);
        // Directives are over by now: this line was not one. Continuation
        // lines keep their indentation (Docker only trims the first line).
        while continues && next < physical.len() {
            let number = next + 1;
            let raw = physical[next];
            next += 1;
            // Docker drops comment lines inside a continued instruction, and
            // skips empty ones (with a warning that they will become errors).
            if raw.trim_start().starts_with('#') || raw.trim().is_empty() {
                continue;
            }
            let (piece, more) = trim_continuation(raw, directives.escape);
            logical.push(number, piece);
            continues = more;
        }
        lines.push(logical.finish());
    }
    Ok(Lines {
        escape: directives.escape,
        lines,
    })
}

/// Removes a line-continuation escape: the escape character as the last
/// character before trailing spaces and tabs, not itself escaped (BuildKit's
/// `([^\\])\\[ \t]*$|^\\[ \t]*$`). Returns the line and whether it continues.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape) {
        Some(before) if !before.ends_with(escape) => (before, true),
        _ => (line, false),
    }
}

/// Builds one [`LogicalLine`] from its pieces.
struct Joiner {
    start: usize,
    text: String,
    display: String,
    pieces: Vec<Piece>,
}

impl Joiner {
    fn new(line: usize, column: usize, piece: &str) -> Joiner {
        Joiner {
            start: line,
            text: piece.to_string(),
            display: piece.to_string(),
            pieces: vec![Piece {
                offset: 0,
                line,
                column,
            }],
        }
    }

    fn push(&mut self, line: usize, piece: &str) {
        self.pieces.push(Piece {
            offset: self.text.len(),
            line,
            column: 1,
        });
        self.text.push_str(piece);
        let spaced =
            self.display.ends_with(char::is_whitespace) || piece.starts_with(char::is_whitespace);
        if spaced && !self.display.is_empty() {
            self.display.truncate(self.display.trim_end().len());
            self.display.push(' ');
            self.display.push_str(piece.trim_start());
        } else {
            self.display.push_str(piece);
        }
    }

    fn finish(self) -> LogicalLine {
        LogicalLine {
            start: self.start,
            display: self.display.trim().to_string(),
            text: self.text,
            pieces: self.pieces,
        }
    }
}

/// Parser directives: `# key=value` comment lines at the very top of the
/// file. The first line that is not one (an instruction, a blank line, any
/// other comment) ends them; later they are ordinary comments.
struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
}

impl Default for Directives {
    fn default() -> Directives {
        Directives {
            escape: DEFAULT_ESCAPE,
            done: false,
            seen: Vec::new(),
        }
    }
}

impl Directives {
    /// Reads `line` (left-trimmed) as a possible directive.
    fn read(&mut self, line: &str, number: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        // `syntax` picks a BuildKit frontend image and `check` configures its
        // linter: accepted and ignored here. Any other key makes the line a
        // plain comment, and ends the directives.
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(ParseError::new(
                number,
                None,
                format!("only one {key} parser directive can be used"),
            ));
        }
        self.seen.push(key.clone());
        if key == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(ParseError::new(
                        number,
                        None,
                        format!("invalid escape token '{value}' does not match ` or \\"),
                    ));
                }
            };
        }
        Ok(())
    }
}

/// `# key = value` as BuildKit's `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
/// matches it: the key is ASCII letters and digits, the value is not empty.
fn directive(line: &str) -> Option<(&str, &str)> {
    // RE2's \s: tab, newline, form feed, carriage return, space.
    let space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let rest = line.strip_prefix('#')?.trim_start_matches(space);
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..]
        .trim_start_matches(space)
        .strip_prefix('=')?
        .trim_matches(space);
    (!value.is_empty()).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<String> {
        split(source)
            .unwrap()
            .lines
            .into_iter()
            .map(|line| line.text)
            .collect()
    }

    #[test]
    fn comments_and_blank_lines_vanish() {
        let source = "# a comment\n\nFROM a\n   # indented comment\nRUN b # not a comment\n";
        assert_eq!(texts(source), ["FROM a", "RUN b # not a comment"]);
    }

    #[test]
    fn continuation_joins_without_separator() {
        // Docker keeps the indentation of continuation lines and adds nothing.
        let lines = split("RUN a && \\\n    b\\\nc").unwrap().lines;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "RUN a &&     bc");
        assert_eq!(lines[0].display, "RUN a && bc");
        assert_eq!(lines[0].start, 1);
    }

    #[test]
    fn comments_and_empty_lines_inside_a_continuation_are_dropped() {
        let source = "RUN a \\\n# comment\n\n  # indented\n  b\nFROM x";
        assert_eq!(texts(source), ["RUN a   b", "FROM x"]);
    }

    #[test]
    fn trailing_whitespace_after_escape_still_continues() {
        assert_eq!(texts("RUN a \\  \t\nb"), ["RUN a b"]);
    }

    #[test]
    fn escaped_escape_does_not_continue() {
        assert_eq!(texts("RUN echo \\\\\nFROM x"), ["RUN echo \\\\", "FROM x"]);
    }

    #[test]
    fn continuation_at_end_of_file_ends_the_instruction() {
        assert_eq!(texts("RUN a \\"), ["RUN a "]);
    }

    #[test]
    fn crlf_and_bom_are_stripped() {
        assert_eq!(
            texts("\u{feff}FROM a\r\nRUN b \\\r\n c\r\n"),
            ["FROM a", "RUN b  c"]
        );
    }

    #[test]
    fn escape_directive_switches_to_backtick() {
        let lines = split("# escape=`\nRUN dir c:\\ `\n  /b").unwrap();
        assert_eq!(lines.escape, '`');
        assert_eq!(lines.lines[0].text, "RUN dir c:\\   /b");
    }

    #[test]
    fn directive_spelling() {
        assert_eq!(directive("# escape=`"), Some(("escape", "`")));
        assert_eq!(directive("#ESCAPE = \\  "), Some(("ESCAPE", "\\")));
        assert_eq!(
            directive("# syntax=docker/dockerfile:1"),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(directive("# escape="), None);
        assert_eq!(directive("# 1x=y"), None);
        assert_eq!(directive("# hello world"), None);
    }

    #[test]
    fn directives_only_at_the_top() {
        // After a blank line, an instruction or another comment, it is a comment.
        assert_eq!(split("\n# escape=`\nFROM a").unwrap().escape, '\\');
        assert_eq!(split("# hi\n# escape=`\nFROM a").unwrap().escape, '\\');
        assert_eq!(split("FROM a\n# escape=`").unwrap().escape, '\\');
        assert_eq!(
            split("# syntax=x\n  # escape=`\nFROM a").unwrap().escape,
            '`'
        );
    }

    #[test]
    fn bad_directives() {
        let error = split("# escape=x\nFROM a").unwrap_err();
        assert_eq!(error.line, 1);
        assert_eq!(
            error.message,
            "invalid escape token 'x' does not match ` or \\"
        );
        let error = split("# escape=`\n# escape=`\nFROM a").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(
            error.message,
            "only one escape parser directive can be used"
        );
    }

    #[test]
    fn locate_maps_offsets_back_to_the_file() {
        let lines = split("  RUN a \\\n   b \\\n# c\nd").unwrap().lines;
        let line = &lines[0];
        assert_eq!(line.text, "RUN a    b d");
        assert_eq!(line.locate(0), (1, 3));
        assert_eq!(line.locate(4), (1, 7));
        assert_eq!(line.locate(9), (2, 4));
        assert_eq!(line.locate(11), (4, 1));
    }

    #[test]
    fn a_lone_escape_line_starts_an_instruction() {
        let lines = split("\\\nFROM a").unwrap().lines;
        assert_eq!(lines[0].text, "FROM a");
        assert_eq!(lines[0].start, 1);
    }
}
