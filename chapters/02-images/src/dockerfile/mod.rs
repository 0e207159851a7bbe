//! Dockerfiles, read as Docker reads them (moby/buildkit
//! `frontend/dockerfile/parser` and `instructions`; the rules are those of
//! the Dockerfile reference, docs.docker.com/reference/dockerfile).
//!
//! Reading happens in layers, one module each:
//! - `line`: the file into instructions: parser directives (`# escape=`),
//!   comments, line continuations;
//! - `flags`: an instruction into keyword, `--flags` and arguments;
//! - `words`: arguments into words: JSON arrays, whitespace, quote-aware
//!   `KEY=VALUE` pairs;
//! - `instruction`, `stage`, `healthcheck`: what each instruction means;
//! - `expand`: the shell-word processing (quotes, escapes, `$VAR`) that
//!   the builder applies when it runs an instruction.
//!
//! Parsing expands nothing: FROM's image, COPY's paths, ENV's values all
//! come out as written, because their variables only have values during the
//! build (ARG and ENV, stage by stage). Quotes and escapes in those words
//! are left to [`expand`] too (`WORKDIR "/my dir"` is `/my dir` once
//! expanded), as Docker leaves them to its shell lexer. One exception: the
//! keys and values of ENV, LABEL and ARG come out with their quotes
//! removed, and what the quotes protected escaped, so that [`expand`] still
//! gives Docker's value (`ENV A='$x' B="a b"` gives `\$x` and `a b`, which
//! expand to `$x` and `a b`).

mod expand;
mod flags;
mod healthcheck;
mod instruction;
mod line;
mod stage;
mod words;

use std::fmt;

pub use expand::{escape_literal, expand};
pub use healthcheck::parse_duration;
pub use instruction::{check_port, is_variable_name};
pub use stage::is_stage_name;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// From the `# escape=` directive (`\` or `` ` ``), default `\`. The
    /// builder passes it to [`expand`].
    pub escape: char,
    /// ARGs before the first FROM: usable in FROM lines; a stage sees them
    /// only if it declares them again with a bare `ARG NAME`.
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

/// A build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// FROM's image word, unexpanded (may hold `$ARG`). `scratch` is just a
    /// name here.
    pub base: String,
    /// `AS name`, lowercased (Docker lowercases stage names).
    pub name: Option<String>,
    /// `--platform=…`, unexpanded.
    pub platform: Option<String>,
    /// 1-based line of the FROM.
    pub line: usize,
    pub instructions: Vec<Instruction>,
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// The instruction as written, for history and progress: continuation
    /// lines joined, the whitespace around each join collapsed to one
    /// space (`COPY a.txt /app/`).
    pub text: String,
    pub kind: InstructionKind,
}

/// `HEALTHCHECK [OPTIONS] CMD …`: the probe and its options, durations in
/// nanoseconds as the image config keeps them; 0 means Docker's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub command: Command,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

// ANCHOR: command
/// RUN, CMD, ENTRYPOINT and HEALTHCHECK commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form: the rest of the line as written, run by the SHELL.
    Shell(String),
    /// Exec form, a JSON array: run as is, no shell.
    Exec(Vec<String>),
}

impl Command {
    /// The process arguments: the exec form as is, the shell form appended
    /// to `shell` (`["/bin/sh", "-c"]` unless SHELL changed it).
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            Command::Exec(argv) => argv.clone(),
            Command::Shell(line) => {
                let mut argv = shell.to_vec();
                argv.push(line.clone());
                argv
            }
        }
    }
}
// ANCHOR_END: command

/// `ARG NAME` or `ARG NAME=default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// `[A-Za-z_][A-Za-z0-9_]*`.
    pub name: String,
    /// Quotes removed, unexpanded (see the module documentation).
    pub default: Option<String>,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// Unexpanded.
    pub sources: Vec<String>,
    /// Unexpanded.
    pub dest: String,
    /// `--from=stage-name|index|image` (COPY only).
    pub from: Option<String>,
    /// `--chown=user:group`.
    pub chown: Option<String>,
    /// `--chmod=0755`.
    pub chmod: Option<String>,
}

/// What an instruction does. Words are unexpanded: the builder runs the
/// ones Docker expands through [`expand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    /// SHELL, always a JSON array.
    Shell(Vec<String>),
    Copy(CopySpec),
    Add(CopySpec),
    /// `(key, value)` pairs; quotes removed, unexpanded.
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    /// Port words as written: `80`, `80/tcp`, `53/udp`, `8000-8010`.
    Expose(Vec<String>),
    /// `(key, value)` pairs; quotes removed, unexpanded. MAINTAINER (deprecated)
    /// becomes the label `maintainer`.
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    StopSignal(String),
    /// `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<HealthCheck>),
    /// The trigger, as written (`RUN make`). Stored in the image config; it
    /// runs only when another Dockerfile builds FROM this image, never here.
    Onbuild(String),
}

/// Why a Dockerfile was refused. Shown as
/// `Dockerfile:4: unknown instruction COPPY`, or with a column
/// `Dockerfile:4:12: …` when one character is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file name shown, `Dockerfile` unless set by [`ParseError::with_file`].
    pub file: String,
    /// 1-based; 0 when the error is about the whole file.
    pub line: usize,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, column: Option<usize>, message: impl Into<String>) -> ParseError {
        ParseError {
            file: "Dockerfile".to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// The same error, shown under another file name (`-f app.Dockerfile`).
    pub fn with_file(mut self, file: impl Into<String>) -> ParseError {
        self.file = file.into();
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (line, None) => write!(f, "{}:{line}: {}", self.file, self.message),
            (line, Some(column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

impl Dockerfile {
    /// The stage `reference` names in `COPY --from=` or `--target`: a stage
    /// name (compared lowercased, as Docker does) or a stage index. `None`
    /// means it is not a stage (for `--from`, then, an image).
    pub fn stage_index(&self, reference: &str) -> Option<usize> {
        if let Ok(index) = reference.parse::<usize>() {
            return (index < self.stages.len()).then_some(index);
        }
        let lowered = reference.to_lowercase();
        self.stages
            .iter()
            .position(|stage| stage.name.as_deref() == Some(lowered.as_str()))
    }
}

/// Parses a Dockerfile. Errors carry the line (and column when one
/// character is to blame) and Docker's wording where Docker has one.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let source = line::split(text)?;
    let escape = source.escape;
    if source.lines.is_empty() {
        return Err(ParseError::new(
            0,
            None,
            "the Dockerfile has no instructions",
        ));
    }
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for logical in &source.lines {
        let parts = flags::split(&logical.text, 0);
        if parts.keyword.eq_ignore_ascii_case("from") {
            let stage = stage::parse_from(logical, &parts)?;
            if let Some(name) = &stage.name {
                if stages.iter().any(|other| other.name.as_ref() == Some(name)) {
                    return Err(logical.error(format!("duplicate stage name {name:?}")));
                }
            }
            stages.push(stage);
            continue;
        }
        // Docker reports a bad instruction before a misplaced one.
        let kind = instruction::parse(logical, escape, &parts)?;
        match (stages.last_mut(), kind) {
            (Some(stage), kind) => stage.instructions.push(Instruction {
                line: logical.start,
                text: logical.display.clone(),
                kind,
            }),
            // ARGs before the first FROM are global: FROM lines may use them.
            (None, InstructionKind::Arg(args)) => global_args.extend(args),
            (None, _) => return Err(logical.error("no build stage in current context")),
        }
    }
    if stages.is_empty() {
        return Err(ParseError::new(
            0,
            None,
            "dockerfile contains no stages to build (no FROM instruction)",
        ));
    }
    Ok(Dockerfile {
        escape,
        global_args,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display() {
        assert_eq!(
            ParseError::new(4, None, "unknown instruction COPPY").to_string(),
            "Dockerfile:4: unknown instruction COPPY"
        );
        assert_eq!(
            ParseError::new(4, Some(12), "x")
                .with_file("app.Dockerfile")
                .to_string(),
            "app.Dockerfile:4:12: x"
        );
        assert_eq!(
            ParseError::new(0, None, "the Dockerfile has no instructions").to_string(),
            "Dockerfile: the Dockerfile has no instructions"
        );
    }

    #[test]
    fn argv() {
        let shell = ["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(
            Command::Shell("echo hi".into()).argv(&shell),
            ["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(Command::Exec(vec!["ls".into()]).argv(&shell), ["ls"]);
    }

    #[test]
    fn stages_and_global_args() {
        let file =
            parse("ARG V=1\nFROM a:$V AS Build\nRUN x\nFROM b\nCOPY --from=build /x /y").unwrap();
        assert_eq!(
            file.global_args,
            [ArgDecl {
                name: "V".into(),
                default: Some("1".into())
            }]
        );
        assert_eq!(file.stages.len(), 2);
        assert_eq!(file.stages[0].base, "a:$V");
        assert_eq!(file.stages[0].instructions[0].line, 3);
        assert_eq!(file.stage_index("BUILD"), Some(0));
        assert_eq!(file.stage_index("1"), Some(1));
        assert_eq!(file.stage_index("2"), None);
        assert_eq!(file.stage_index("alpine"), None);
    }

    #[test]
    fn file_level_errors() {
        let error = parse("# only a comment\n\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "Dockerfile: the Dockerfile has no instructions"
        );
        let error = parse("ARG A\n").unwrap_err();
        assert_eq!(error.line, 0);
        let error = parse("ARG A\nRUN x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "Dockerfile:2: no build stage in current context"
        );
        let error = parse("FROM a AS x\nFROM b AS X").unwrap_err();
        assert_eq!(
            error.to_string(),
            "Dockerfile:2: duplicate stage name \"x\""
        );
    }
}
