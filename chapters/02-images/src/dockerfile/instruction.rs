//! What each instruction's arguments mean, as BuildKit reads them
//! (moby/buildkit `frontend/dockerfile/instructions/parse.go`; the
//! dispatch table in `parser/parser.go` says which word rules apply).
//! Error messages are Docker's where it has one.

use super::expand::{escape_literal, unquote};
use super::flags::{self, FlagKind, Parts};
use super::healthcheck;
use super::line::LogicalLine;
use super::words::{self, Word};
use super::{ArgDecl, Command, CopySpec, InstructionKind, ParseError};

/// Parses one instruction other than FROM (which starts a stage and is
/// read by `stage::parse_from`).
pub fn parse(
    line: &LogicalLine,
    escape: char,
    parts: &Parts,
) -> Result<InstructionKind, ParseError> {
    let name = parts.keyword.to_ascii_uppercase();
    let no_flags = || flags::check(line, &name, &parts.flags, &[]);
    let rest = parts.args;
    Ok(match name.as_str() {
        "RUN" => {
            no_flags()?;
            let command = command(line, &name, parts)?;
            if let Command::Shell(_) = command {
                refuse_heredocs(line, escape, rest, parts.args_at)?;
            }
            InstructionKind::Run(command)
        }
        "CMD" => {
            no_flags()?;
            InstructionKind::Cmd(command(line, &name, parts)?)
        }
        "ENTRYPOINT" => {
            no_flags()?;
            InstructionKind::Entrypoint(command(line, &name, parts)?)
        }
        "SHELL" => {
            no_flags()?;
            match command(line, &name, parts)? {
                Command::Exec(shell) if shell.is_empty() => {
                    return Err(line.error("SHELL requires at least one argument"));
                }
                Command::Exec(shell) => InstructionKind::Shell(shell),
                Command::Shell(_) => {
                    return Err(line.error("SHELL requires the arguments to be in JSON form"));
                }
            }
        }
        "COPY" => InstructionKind::Copy(copy_spec(line, escape, &name, parts)?),
        "ADD" => InstructionKind::Add(copy_spec(line, escape, &name, parts)?),
        "ENV" | "LABEL" => {
            no_flags()?;
            let pairs = words::name_values(line, &name, rest, parts.args_at, escape)?;
            if name == "ENV" {
                InstructionKind::Env(pairs)
            } else {
                InstructionKind::Label(pairs)
            }
        }
        "ARG" => {
            no_flags()?;
            InstructionKind::Arg(args(line, escape, parts)?)
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" => {
            no_flags()?;
            // The whole rest of the line is the one argument (`parseString`):
            // `WORKDIR /my dir` is the directory "/my dir".
            if rest.is_empty() {
                return Err(line.error(format!("{name} requires exactly one argument")));
            }
            let value = rest.to_string();
            match name.as_str() {
                "WORKDIR" => InstructionKind::Workdir(value),
                "USER" => InstructionKind::User(value),
                _ => InstructionKind::StopSignal(value),
            }
        }
        "EXPOSE" => {
            no_flags()?;
            let ports = words::whitespace(rest);
            if ports.is_empty() {
                return Err(line.error("EXPOSE requires at least one argument"));
            }
            // Words with variables or quotes are checked once expanded.
            let literal = |port: &&String| !port.contains(['$', '\'', '"', escape]);
            for port in ports.iter().filter(literal) {
                check_port(port).map_err(|message| line.error(message))?;
            }
            InstructionKind::Expose(ports)
        }
        "VOLUME" => {
            no_flags()?;
            let volumes = list(line, rest)?;
            if volumes.is_empty() {
                return Err(line.error("VOLUME requires at least one argument"));
            }
            if volumes.iter().any(|volume| volume.trim().is_empty()) {
                return Err(line.error("VOLUME specified can not be an empty string"));
            }
            InstructionKind::Volume(volumes.iter().map(|v| v.trim().to_string()).collect())
        }
        "MAINTAINER" => {
            no_flags()?;
            if rest.is_empty() {
                return Err(line.error("MAINTAINER requires exactly one argument"));
            }
            // Deprecated. Docker stores it in the image's `author` field; here
            // it becomes the label that replaces it. Docker does not expand
            // it: escaped, so that expanding the label keeps it as written.
            InstructionKind::Label(vec![(
                "maintainer".to_string(),
                escape_literal(rest, escape),
            )])
        }
        "HEALTHCHECK" => InstructionKind::Healthcheck(healthcheck::parse(line, parts)?),
        "ONBUILD" => {
            no_flags()?;
            InstructionKind::Onbuild(onbuild(line, escape, parts)?)
        }
        // FROM never gets here: it starts a stage (see `stage.rs`), and
        // ONBUILD refuses it as a trigger.
        _ => return Err(line.error(format!("unknown instruction {name}"))),
    })
}

/// RUN, CMD, ENTRYPOINT, SHELL (`parseMaybeJSON`): a JSON array of strings
/// is the exec form, anything else the shell form, the rest of the line as
/// written.
fn command(line: &LogicalLine, name: &str, parts: &Parts) -> Result<Command, ParseError> {
    let rest = parts.args;
    if rest.is_empty() {
        return Err(line.error(format!("{name} requires at least one argument")));
    }
    match words::json_array(rest).map_err(|message| line.error_at(parts.args_at, message))? {
        Some(argv) => Ok(Command::Exec(argv)),
        None => Ok(Command::Shell(rest.to_string())),
    }
}

/// COPY and ADD: flags, then a JSON array or whitespace-separated words
/// (`parseMaybeJSONToList`); the last word is the destination.
fn copy_spec(
    line: &LogicalLine,
    escape: char,
    name: &str,
    parts: &Parts,
) -> Result<CopySpec, ParseError> {
    // `--link` (BuildKit's independent-layer copy) changes how the layer is
    // made, not what it holds: accepted and ignored.
    let accepted: &[(&str, FlagKind)] = if name == "COPY" {
        &[
            ("from", FlagKind::Value),
            ("chown", FlagKind::Value),
            ("chmod", FlagKind::Value),
            ("link", FlagKind::Switch),
        ]
    } else {
        &[
            ("chown", FlagKind::Value),
            ("chmod", FlagKind::Value),
            ("link", FlagKind::Switch),
        ]
    };
    let flags = flags::check(line, name, &parts.flags, accepted)?;
    let mut args = match words::json_array(parts.args)
        .map_err(|message| line.error_at(parts.args_at, message))?
    {
        Some(args) => args,
        None => {
            refuse_heredocs(line, escape, parts.args, parts.args_at)?;
            words::whitespace(parts.args)
        }
    };
    if args.len() < 2 {
        return Err(line.error(format!("{name} requires at least two arguments")));
    }
    let dest = args.pop().unwrap_or_default();
    Ok(CopySpec {
        sources: args,
        dest,
        from: flags::value(&flags, "from"),
        chown: flags::value(&flags, "chown"),
        chmod: flags::value(&flags, "chmod"),
    })
}

/// VOLUME's words: a JSON array, or whitespace-separated.
fn list(line: &LogicalLine, rest: &str) -> Result<Vec<String>, ParseError> {
    Ok(words::json_array(rest)
        .map_err(|message| line.error(message))?
        .unwrap_or_else(|| words::whitespace(rest)))
}

/// `ARG NAME`, `ARG NAME=default`, several per line (`parseNameOrNameVal`).
fn args(line: &LogicalLine, escape: char, parts: &Parts) -> Result<Vec<ArgDecl>, ParseError> {
    let words = words::shell_words(parts.args, parts.args_at, escape);
    if words.is_empty() {
        return Err(line.error("ARG requires at least one argument"));
    }
    let mut decls = Vec::with_capacity(words.len());
    for Word { text, at } in &words {
        let (name, default) = match text.split_once('=') {
            Some((name, value)) => {
                let value_at = at + text.len() - value.len();
                let value = unquote(value, escape)
                    .map_err(|error| line.error_at(value_at + error.at, error.message))?;
                (name, Some(value))
            }
            None => (text.as_str(), None),
        };
        if name.is_empty() {
            return Err(line.error_at(*at, "ARG names can not be blank"));
        }
        // Docker accepts any name here, but only these can ever be
        // referenced as $NAME: refuse the rest early.
        if !is_variable_name(name) {
            return Err(line.error_at(
                *at,
                format!(
                    "invalid ARG name {name:?}: use letters, digits and _, not starting with a digit"
                ),
            ));
        }
        decls.push(ArgDecl {
            name: name.to_string(),
            default,
        });
    }
    Ok(decls)
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An EXPOSE word without variables: `PORT[-PORT][/PROTOCOL]`, protocol
/// tcp, udp or sctp (Docker's `nat.ParsePortSpecs`, as used by EXPOSE).
pub fn check_port(word: &str) -> Result<(), String> {
    let invalid =
        || format!("invalid port {word:?} in EXPOSE: expected PORT[-PORT][/tcp|udp|sctp]");
    let (range, protocol) = match word.split_once('/') {
        Some((range, protocol)) => (range, Some(protocol)),
        None => (word, None),
    };
    let known = |protocol: &str| {
        matches!(
            protocol.to_ascii_lowercase().as_str(),
            "tcp" | "udp" | "sctp"
        )
    };
    if !protocol.is_none_or(known) {
        return Err(invalid());
    }
    let port = |text: &str| text.parse::<u16>().map_err(|_| invalid());
    match range.split_once('-') {
        Some((low, high)) if port(low)? <= port(high)? => Ok(()),
        Some(_) => Err(invalid()),
        None => port(range).map(drop),
    }
}

/// BuildKit reads `<<EOF` in RUN, COPY and ADD as a here-document whose
/// body follows on the next lines (`parser_heredoc.go`: a word matching
/// `^(\d*)<<(-?)([^<]*)$`). Without this check those body lines would be
/// read as instructions: say plainly it is not supported.
fn refuse_heredocs(
    line: &LogicalLine,
    escape: char,
    rest: &str,
    base: usize,
) -> Result<(), ParseError> {
    for word in words::shell_words(rest, base, escape) {
        let text = word.text.trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(name) = text.strip_prefix("<<") else {
            continue;
        };
        let name = name.strip_prefix('-').unwrap_or(name);
        if !name.is_empty() && !name.contains('<') {
            return Err(line.error_at(
                word.at,
                format!(
                    "here-documents ({}) are a BuildKit feature, not supported here",
                    word.text
                ),
            ));
        }
    }
    Ok(())
}

/// `ONBUILD INSTRUCTION …`: the trigger is checked as an instruction of its
/// own and kept as text. It is stored in the image config, and only runs
/// when another Dockerfile builds `FROM` this image.
fn onbuild(line: &LogicalLine, escape: char, parts: &Parts) -> Result<String, ParseError> {
    if parts.args.is_empty() {
        return Err(line.error("ONBUILD requires at least one argument"));
    }
    let trigger = flags::split(parts.args, parts.args_at);
    match trigger.keyword.to_ascii_uppercase().as_str() {
        "ONBUILD" => {
            return Err(line.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
        }
        keyword @ ("FROM" | "MAINTAINER") => {
            return Err(line.error(format!("{keyword} isn't allowed as an ONBUILD trigger")));
        }
        // Docker checks the trigger only when a child image is built;
        // checking it now reports a typo where it was made.
        _ => {
            parse(line, escape, &trigger)?;
        }
    }
    Ok(parts.args.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(source: &str) -> Result<InstructionKind, ParseError> {
        let lines = super::super::line::split(source).unwrap();
        let line = &lines.lines[0];
        parse(line, lines.escape, &flags::split(&line.text, 0))
    }

    fn message(source: &str) -> String {
        kind(source).unwrap_err().message
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            kind(r#"RUN ["echo", "hi"]"#).unwrap(),
            InstructionKind::Run(Command::Exec(vec!["echo".into(), "hi".into()]))
        );
        assert_eq!(
            kind("run echo   hi").unwrap(),
            InstructionKind::Run(Command::Shell("echo   hi".into()))
        );
        // Not valid JSON: the shell form, as Docker does.
        assert_eq!(
            kind("CMD ['a']").unwrap(),
            InstructionKind::Cmd(Command::Shell("['a']".into()))
        );
        assert_eq!(
            kind("ENTRYPOINT []").unwrap(),
            InstructionKind::Entrypoint(Command::Exec(vec![]))
        );
    }

    #[test]
    fn copy_forms() {
        assert_eq!(
            kind(r#"COPY ["a b", "c"]"#).unwrap(),
            InstructionKind::Copy(CopySpec {
                sources: vec!["a b".into()],
                dest: "c".into(),
                from: None,
                chown: None,
                chmod: None,
            })
        );
        let InstructionKind::Add(spec) = kind("ADD --chmod=644 --link a b /d/").unwrap() else {
            panic!("not ADD");
        };
        assert_eq!(spec.sources, ["a", "b"]);
        assert_eq!(spec.dest, "/d/");
        assert_eq!(spec.chmod.as_deref(), Some("644"));
        assert_eq!(message("ADD --from=x a b"), "unknown flag: from");
    }

    #[test]
    fn ports() {
        for good in ["80", "80/tcp", "53/UDP", "8000-8010", "9/sctp"] {
            assert_eq!(check_port(good), Ok(()), "{good}");
        }
        for bad in ["http", "80/xyz", "70000", "90-80", "-1", ""] {
            assert!(check_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heredocs_are_refused() {
        assert_eq!(
            message("RUN cat <<EOF"),
            "here-documents (<<EOF) are a BuildKit feature, not supported here"
        );
        assert!(message("COPY <<-EOT /x").starts_with("here-documents (<<-EOT)"));
        // Quoted, or not a whole word: not a here-document.
        assert!(kind("RUN echo \"a <<EOF\"").is_ok());
        assert!(kind("RUN echo a<<b").is_ok());
        assert!(kind(r#"RUN ["cat", "<<EOF"]"#).is_ok());
    }

    #[test]
    fn variable_names() {
        assert!(is_variable_name("_a1"));
        assert!(is_variable_name("HTTP_PROXY"));
        assert!(!is_variable_name("1a"));
        assert!(!is_variable_name("a-b"));
        assert!(!is_variable_name(""));
    }
}
