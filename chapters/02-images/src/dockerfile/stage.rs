//! `FROM [--platform=…] image [AS name]`: the start of a build stage
//! (moby/buildkit `instructions/parse.go` `parseFrom`,
//! `parseBuildStageName`).

use super::flags::{self, FlagKind, Parts};
use super::line::LogicalLine;
use super::words;
use super::{ParseError, Stage};

/// Reads a FROM line into an empty [`Stage`].
pub fn parse_from(line: &LogicalLine, parts: &Parts) -> Result<Stage, ParseError> {
    // FROM's words are split on whitespace only: no quotes, no escapes.
    let args = words::whitespace(parts.args);
    let (base, name) = match args.as_slice() {
        [base] => (base, None),
        [base, r#as, name] if r#as.eq_ignore_ascii_case("as") => {
            // Docker lowercases stage names, then insists on this shape.
            let lowered = name.to_lowercase();
            if !is_stage_name(&lowered) {
                return Err(line.error(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                )));
            }
            (base, Some(lowered))
        }
        _ => return Err(line.error("FROM requires either one or three arguments")),
    };
    let flags = flags::check(line, "FROM", &parts.flags, &[("platform", FlagKind::Value)])?;
    Ok(Stage {
        base: base.clone(),
        name,
        platform: flags::value(&flags, "platform"),
        line: line.start,
        instructions: Vec::new(),
    })
}

/// `^[a-z][a-z0-9-_\.]*$`.
pub fn is_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(source: &str) -> Result<Stage, ParseError> {
        let lines = super::super::line::split(source).unwrap();
        let line = &lines.lines[0];
        parse_from(line, &flags::split(&line.text, 0))
    }

    #[test]
    fn forms() {
        let stage = from("FROM --platform=$BUILDPLATFORM golang:1.22 As Build-Env").unwrap();
        assert_eq!(stage.base, "golang:1.22");
        assert_eq!(stage.name.as_deref(), Some("build-env"));
        assert_eq!(stage.platform.as_deref(), Some("$BUILDPLATFORM"));
        let stage = from("from scratch").unwrap();
        assert_eq!((stage.base.as_str(), stage.name), ("scratch", None));
    }

    #[test]
    fn errors() {
        let message = |source| from(source).unwrap_err().message;
        assert_eq!(
            message("FROM"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            message("FROM a b"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            message("FROM a to b"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            message("FROM a AS b c"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            message("FROM a AS 1st"),
            "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
        );
        assert_eq!(message("FROM --arch=x a"), "unknown flag: arch");
    }

    #[test]
    fn stage_names() {
        assert!(is_stage_name("build"));
        assert!(is_stage_name("b1.2_x-y"));
        assert!(!is_stage_name("1b"));
        assert!(!is_stage_name("b$"));
        assert!(!is_stage_name(""));
    }
}
