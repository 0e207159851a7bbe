//! `images::dockerfile::parse` on whole Dockerfiles: every instruction in
//! both its forms, directives, continuations, quoting, stages, and every
//! refusal with the line and column it names.

use images::dockerfile::{
    ArgDecl, Command, CopySpec, Dockerfile, HealthCheck, Instruction, InstructionKind, expand,
    parse,
};

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn kinds(file: &Dockerfile, stage: usize) -> Vec<InstructionKind> {
    file.stages[stage]
        .instructions
        .iter()
        .map(|instruction| instruction.kind.clone())
        .collect()
}

/// The error `source` gets, as displayed.
fn error(source: &str) -> String {
    parse(source).unwrap_err().to_string()
}

/// Expands `word` with no variables set.
fn expanded(file: &Dockerfile, word: &str) -> String {
    expand(word, file.escape, &|_| None).unwrap()
}

const EVERYTHING: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=alpine:3.20
FROM --platform=linux/amd64 ${BASE} AS Build
RUN apk add --no-cache make
RUN ["make", "all"]
CMD echo "hello"
CMD ["/app", "--serve"]
ENTRYPOINT /entry.sh
ENTRYPOINT ["/entry.sh", "-v"]
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
COPY a.txt b.txt /app/
COPY --from=tools --chown=1000:1000 --chmod=0755 --link ["my file", "/bin/"]
ADD https://example.com/x.tar.gz /tmp/
ADD --chown=app ["archive.tar", "/srv/"]
ENV A=1 B="two words" C='$literal'
ENV LEGACY value with   spaces
LABEL "com.example.vendor"="ACME Inc" version=1.0
ARG VERSION
ARG USER_ID=1000 GROUP=staff
WORKDIR /my dir
USER app:app
EXPOSE 80 443/tcp 53/udp 8000-8010
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/ || exit 1
ONBUILD RUN make test
MAINTAINER someone@example.com
FROM scratch
COPY --from=build /app /
HEALTHCHECK NONE
"#;

#[test]
fn every_instruction_in_both_forms() {
    let file = parse(EVERYTHING).unwrap();
    assert_eq!(file.escape, '\\');
    assert_eq!(
        file.global_args,
        [ArgDecl {
            name: "BASE".into(),
            default: Some("alpine:3.20".into())
        }]
    );
    assert_eq!(file.stages.len(), 2);
    let build = &file.stages[0];
    assert_eq!(build.base, "${BASE}");
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(build.line, 3);

    let expected = vec![
        InstructionKind::Run(Command::Shell("apk add --no-cache make".into())),
        InstructionKind::Run(Command::Exec(strings(&["make", "all"]))),
        InstructionKind::Cmd(Command::Shell("echo \"hello\"".into())),
        InstructionKind::Cmd(Command::Exec(strings(&["/app", "--serve"]))),
        InstructionKind::Entrypoint(Command::Shell("/entry.sh".into())),
        InstructionKind::Entrypoint(Command::Exec(strings(&["/entry.sh", "-v"]))),
        InstructionKind::Shell(strings(&["/bin/ash", "-eo", "pipefail", "-c"])),
        InstructionKind::Copy(CopySpec {
            sources: strings(&["a.txt", "b.txt"]),
            dest: "/app/".into(),
            from: None,
            chown: None,
            chmod: None,
        }),
        InstructionKind::Copy(CopySpec {
            sources: strings(&["my file"]),
            dest: "/bin/".into(),
            from: Some("tools".into()),
            chown: Some("1000:1000".into()),
            chmod: Some("0755".into()),
        }),
        InstructionKind::Add(CopySpec {
            sources: strings(&["https://example.com/x.tar.gz"]),
            dest: "/tmp/".into(),
            from: None,
            chown: None,
            chmod: None,
        }),
        InstructionKind::Add(CopySpec {
            sources: strings(&["archive.tar"]),
            dest: "/srv/".into(),
            from: None,
            chown: Some("app".into()),
            chmod: None,
        }),
        InstructionKind::Env(pairs(&[
            ("A", "1"),
            ("B", "two words"),
            ("C", "\\$literal"),
        ])),
        InstructionKind::Env(pairs(&[("LEGACY", "value with   spaces")])),
        InstructionKind::Label(pairs(&[
            ("com.example.vendor", "ACME Inc"),
            ("version", "1.0"),
        ])),
        InstructionKind::Arg(vec![ArgDecl {
            name: "VERSION".into(),
            default: None,
        }]),
        InstructionKind::Arg(vec![
            ArgDecl {
                name: "USER_ID".into(),
                default: Some("1000".into()),
            },
            ArgDecl {
                name: "GROUP".into(),
                default: Some("staff".into()),
            },
        ]),
        InstructionKind::Workdir("/my dir".into()),
        InstructionKind::User("app:app".into()),
        InstructionKind::Expose(strings(&["80", "443/tcp", "53/udp", "8000-8010"])),
        InstructionKind::Volume(strings(&["/data", "/logs"])),
        InstructionKind::Volume(strings(&["/cache", "/tmp"])),
        InstructionKind::StopSignal("SIGTERM".into()),
        InstructionKind::Healthcheck(Some(HealthCheck {
            command: Command::Shell("curl -f http://localhost/ || exit 1".into()),
            interval: 30_000_000_000,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 3,
        })),
        InstructionKind::Onbuild("RUN make test".into()),
        InstructionKind::Label(pairs(&[("maintainer", "someone@example.com")])),
    ];
    let actual = kinds(&file, 0);
    for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(actual, expected, "instruction {index} of stage 0");
    }
    assert_eq!(actual.len(), expected.len());

    // Lines and text follow the file.
    assert_eq!(
        build.instructions[0],
        Instruction {
            line: 4,
            text: "RUN apk add --no-cache make".into(),
            kind: expected[0].clone(),
        }
    );
    assert_eq!(build.instructions.last().unwrap().line, 28);

    let scratch = &file.stages[1];
    assert_eq!(
        (scratch.base.as_str(), scratch.name.as_ref()),
        ("scratch", None)
    );
    assert_eq!(scratch.line, 29);
    assert_eq!(
        kinds(&file, 1),
        [
            InstructionKind::Copy(CopySpec {
                sources: strings(&["/app"]),
                dest: "/".into(),
                from: Some("build".into()),
                chown: None,
                chmod: None,
            }),
            InstructionKind::Healthcheck(None),
        ]
    );
    assert_eq!(file.stage_index("build"), Some(0));
}

#[test]
fn instructions_are_case_insensitive() {
    let file = parse("from alpine as base\nrun echo hi\nCopy a b\nwOrKdIr /x").unwrap();
    assert_eq!(file.stages[0].name.as_deref(), Some("base"));
    assert_eq!(
        kinds(&file, 0)[0],
        InstructionKind::Run(Command::Shell("echo hi".into()))
    );
    assert_eq!(file.stages[0].instructions[1].text, "Copy a b");
    assert_eq!(kinds(&file, 0)[2], InstructionKind::Workdir("/x".into()));
}

#[test]
fn backtick_escape_for_windows_paths() {
    // With `# escape=``, a backslash is an ordinary character and the
    // backtick continues lines.
    let source = "# escape=`\n\
                  FROM mcr.microsoft.com/windows/servercore\n\
                  COPY testfile.txt c:\\\n\
                  RUN dir c:\\ `\n\
                  \x20   && echo done\n\
                  WORKDIR C:\\Program` Files\\app\n\
                  ENV DIR=\"C:\\temp `\"x`\"\"\n";
    let file = parse(source).unwrap();
    assert_eq!(file.escape, '`');
    let stage = &file.stages[0];
    assert_eq!(
        kinds(&file, 0)[0],
        InstructionKind::Copy(CopySpec {
            sources: strings(&["testfile.txt"]),
            dest: "c:\\".into(),
            from: None,
            chown: None,
            chmod: None,
        })
    );
    assert_eq!(
        kinds(&file, 0)[1],
        InstructionKind::Run(Command::Shell("dir c:\\     && echo done".into()))
    );
    assert_eq!(stage.instructions[1].text, "RUN dir c:\\ && echo done");
    assert_eq!(stage.instructions[1].line, 4);
    let InstructionKind::Workdir(dir) = &kinds(&file, 0)[2] else {
        panic!("not WORKDIR");
    };
    assert_eq!(expanded(&file, dir), "C:\\Program Files\\app");
    let InstructionKind::Env(env) = &kinds(&file, 0)[3] else {
        panic!("not ENV");
    };
    assert_eq!(expanded(&file, &env[0].1), "C:\\temp \"x\"");
}

#[test]
fn continuations_with_comments_inside() {
    let source = "FROM alpine\n\
                  RUN apk add \\\n\
                  # the compiler\n\
                  \x20     gcc \\\n\
                  \n\
                  \x20   # and make\n\
                  \x20     make\n\
                  RUN echo one \\\n\
                  two # a hash here is not a comment\n";
    let file = parse(source).unwrap();
    let stage = &file.stages[0];
    assert_eq!(
        stage.instructions[0].kind,
        InstructionKind::Run(Command::Shell("apk add       gcc       make".into()))
    );
    assert_eq!(stage.instructions[0].text, "RUN apk add gcc make");
    assert_eq!(stage.instructions[0].line, 2);
    assert_eq!(
        stage.instructions[1].kind,
        InstructionKind::Run(Command::Shell(
            "echo one two # a hash here is not a comment".into()
        ))
    );
    assert_eq!(stage.instructions[1].line, 8);
}

#[test]
fn json_continued_over_lines() {
    let source = "FROM a\nCMD [\"/bin/app\", \\\n     \"--port\", \\\n     \"80\"]\n";
    let file = parse(source).unwrap();
    assert_eq!(
        kinds(&file, 0)[0],
        InstructionKind::Cmd(Command::Exec(strings(&["/bin/app", "--port", "80"])))
    );
}

#[test]
fn quoting_in_env_and_label() {
    let source = r#"FROM a
ENV MSG="hello \"world\"" PATH_=$PATH:/opt/bin SINGLE='a "b" $c' ESC=a\ b MIX=x"y z"'w'
ENV EMPTY="" ALSO_EMPTY=
LABEL description="multi word" "quoted key"=v it\'s=ok
ENV KEY "quoted legacy value"
"#;
    let file = parse(source).unwrap();
    let env = |index: usize| match &kinds(&file, 0)[index] {
        InstructionKind::Env(pairs) | InstructionKind::Label(pairs) => pairs
            .iter()
            .map(|(key, value)| (expanded(&file, key), value.clone(), expanded(&file, value)))
            .collect::<Vec<_>>(),
        other => panic!("not ENV or LABEL: {other:?}"),
    };
    let s = |text: &str| text.to_string();
    assert_eq!(
        env(0),
        [
            (s("MSG"), s("hello \\\"world\\\""), s("hello \"world\"")),
            // Variables stay for the build to expand.
            (s("PATH_"), s("$PATH:/opt/bin"), s(":/opt/bin")),
            (s("SINGLE"), s("a \\\"b\\\" \\$c"), s("a \"b\" $c")),
            // The escape only kept the space in the word.
            (s("ESC"), s("a b"), s("a b")),
            (s("MIX"), s("xy zw"), s("xy zw")),
        ]
    );
    assert_eq!(
        env(1),
        [(s("EMPTY"), s(""), s("")), (s("ALSO_EMPTY"), s(""), s(""))]
    );
    assert_eq!(
        env(2),
        [
            (s("description"), s("multi word"), s("multi word")),
            (s("quoted key"), s("v"), s("v")),
            (s("it's"), s("ok"), s("ok")),
        ]
    );
    assert_eq!(
        env(3),
        [(s("KEY"), s("quoted legacy value"), s("quoted legacy value"))]
    );
}

#[test]
fn env_values_expand_with_build_variables() {
    let file = parse("FROM a\nENV P=\"${BASE:-/usr}/bin\" Q='${BASE}'\n").unwrap();
    let InstructionKind::Env(env) = &kinds(&file, 0)[0] else {
        panic!("not ENV");
    };
    let lookup = |name: &str| (name == "BASE").then(|| "/opt".to_string());
    assert_eq!(expand(&env[0].1, '\\', &lookup).unwrap(), "/opt/bin");
    assert_eq!(expand(&env[1].1, '\\', &lookup).unwrap(), "${BASE}");
}

#[test]
fn args_before_and_after_from() {
    let source = "ARG TAG=3.20\nARG REGISTRY\nFROM ${REGISTRY}alpine:$TAG\nARG TAG\nARG BUILD=\"debug mode\"\nRUN echo $TAG\n";
    let file = parse(source).unwrap();
    assert_eq!(
        file.global_args,
        [
            ArgDecl {
                name: "TAG".into(),
                default: Some("3.20".into())
            },
            ArgDecl {
                name: "REGISTRY".into(),
                default: None
            },
        ]
    );
    assert_eq!(file.stages[0].base, "${REGISTRY}alpine:$TAG");
    assert_eq!(
        kinds(&file, 0)[..2],
        [
            InstructionKind::Arg(vec![ArgDecl {
                name: "TAG".into(),
                default: None
            }]),
            InstructionKind::Arg(vec![ArgDecl {
                name: "BUILD".into(),
                default: Some("debug mode".into())
            }]),
        ]
    );
}

#[test]
fn multi_stage() {
    let source = "FROM golang:1.22 AS builder\n\
                  RUN go build -o /out/app .\n\
                  FROM alpine AS Test\n\
                  COPY --from=builder /out/app /usr/bin/\n\
                  FROM scratch\n\
                  COPY --from=0 /out/app /app\n\
                  COPY --from=test /etc/passwd /etc/\n\
                  ENTRYPOINT [\"/app\"]\n";
    let file = parse(source).unwrap();
    let names: Vec<_> = file.stages.iter().map(|stage| stage.name.clone()).collect();
    assert_eq!(names, [Some("builder".into()), Some("test".into()), None]);
    let lines: Vec<_> = file.stages.iter().map(|stage| stage.line).collect();
    assert_eq!(lines, [1, 3, 5]);
    assert_eq!(file.stages[2].instructions.len(), 3);
    assert_eq!(file.stage_index("Test"), Some(1));
    assert_eq!(file.stage_index("0"), Some(0));
}

#[test]
fn directives() {
    // Case-insensitive key, spaces around `=`.
    assert_eq!(parse("#  ESCAPE = `\nFROM a").unwrap().escape, '`');
    // Too late: after a comment, a blank line or an instruction.
    assert_eq!(parse("# hello\n# escape=`\nFROM a").unwrap().escape, '\\');
    assert_eq!(parse("\n# escape=`\nFROM a").unwrap().escape, '\\');
    assert_eq!(parse("FROM a\n# escape=`\n").unwrap().escape, '\\');
    // syntax is accepted and ignored, in either order.
    assert_eq!(
        parse("# syntax=docker/dockerfile:1.7\n# escape=`\nFROM a")
            .unwrap()
            .escape,
        '`'
    );
}

#[test]
fn refusals_name_line_and_column() {
    let cases = [
        // The file as a whole.
        ("", "Dockerfile: the Dockerfile has no instructions"),
        (
            "# just a comment\n\n",
            "Dockerfile: the Dockerfile has no instructions",
        ),
        (
            "ARG A=1\n",
            "Dockerfile: dockerfile contains no stages to build (no FROM instruction)",
        ),
        // Directives.
        (
            "# escape=|\nFROM a",
            "Dockerfile:1: invalid escape token '|' does not match ` or \\",
        ),
        (
            "# escape=`\n# escape=\\\nFROM a",
            "Dockerfile:2: only one escape parser directive can be used",
        ),
        // Instructions.
        (
            "FROM a\nCOPPY a b",
            "Dockerfile:2: unknown instruction COPPY",
        ),
        (
            "FROM a\n\nfrobnicate",
            "Dockerfile:3: unknown instruction FROBNICATE",
        ),
        (
            "RUN echo hi\nFROM a",
            "Dockerfile:1: no build stage in current context",
        ),
        (
            "ARG A\nENV B=1\nFROM a",
            "Dockerfile:2: no build stage in current context",
        ),
        // FROM.
        (
            "FROM",
            "Dockerfile:1: FROM requires either one or three arguments",
        ),
        (
            "FROM a b",
            "Dockerfile:1: FROM requires either one or three arguments",
        ),
        (
            "FROM a AS 2nd",
            "Dockerfile:1: invalid name for build stage: \"2nd\", name can't start with a number or contain symbols",
        ),
        (
            "FROM a AS x\nFROM b as X",
            "Dockerfile:2: duplicate stage name \"x\"",
        ),
        ("FROM --arch=arm a", "Dockerfile:1:6: unknown flag: arch"),
        // Missing arguments.
        (
            "FROM a\nCOPY",
            "Dockerfile:2: COPY requires at least two arguments",
        ),
        (
            "FROM a\nCOPY onlyone",
            "Dockerfile:2: COPY requires at least two arguments",
        ),
        (
            "FROM a\nADD [\"x\"]",
            "Dockerfile:2: ADD requires at least two arguments",
        ),
        (
            "FROM a\nWORKDIR",
            "Dockerfile:2: WORKDIR requires exactly one argument",
        ),
        (
            "FROM a\nUSER  ",
            "Dockerfile:2: USER requires exactly one argument",
        ),
        (
            "FROM a\nSTOPSIGNAL",
            "Dockerfile:2: STOPSIGNAL requires exactly one argument",
        ),
        (
            "FROM a\nRUN",
            "Dockerfile:2: RUN requires at least one argument",
        ),
        (
            "FROM a\nCMD",
            "Dockerfile:2: CMD requires at least one argument",
        ),
        (
            "FROM a\nENV",
            "Dockerfile:2: ENV requires at least one argument",
        ),
        (
            "FROM a\nENV ONLYKEY",
            "Dockerfile:2: ENV must have two arguments",
        ),
        (
            "FROM a\nLABEL",
            "Dockerfile:2: LABEL requires at least one argument",
        ),
        (
            "FROM a\nARG",
            "Dockerfile:2: ARG requires at least one argument",
        ),
        (
            "FROM a\nEXPOSE",
            "Dockerfile:2: EXPOSE requires at least one argument",
        ),
        (
            "FROM a\nVOLUME",
            "Dockerfile:2: VOLUME requires at least one argument",
        ),
        (
            "FROM a\nVOLUME [\"/a\", \"\"]",
            "Dockerfile:2: VOLUME specified can not be an empty string",
        ),
        (
            "FROM a\nMAINTAINER",
            "Dockerfile:2: MAINTAINER requires exactly one argument",
        ),
        (
            "FROM a\nONBUILD",
            "Dockerfile:2: ONBUILD requires at least one argument",
        ),
        (
            "FROM a\nSHELL",
            "Dockerfile:2: SHELL requires at least one argument",
        ),
        // Forms.
        (
            "FROM a\nSHELL /bin/bash -c",
            "Dockerfile:2: SHELL requires the arguments to be in JSON form",
        ),
        (
            "FROM a\nSHELL []",
            "Dockerfile:2: SHELL requires at least one argument",
        ),
        (
            "FROM a\nCMD [\"a\", 1]",
            "Dockerfile:2:5: when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (
            "FROM a\nENV A=1 B",
            "Dockerfile:2:9: Syntax error - can't find = in \"B\". Must be of the form: name=value",
        ),
        (
            "FROM a\nENV =x",
            "Dockerfile:2:5: ENV names can not be blank",
        ),
        (
            "FROM a\nENV A=\"unterminated",
            "Dockerfile:2:7: unexpected end of statement while looking for matching double-quote",
        ),
        (
            "FROM a\nLABEL a='x",
            "Dockerfile:2:9: unexpected end of statement while looking for matching single-quote",
        ),
        ("FROM a\nENV A=${B", "Dockerfile:2:7: missing '}'"),
        (
            "FROM a\nARG =x",
            "Dockerfile:2:5: ARG names can not be blank",
        ),
        (
            "FROM a\nARG my-var=1",
            "Dockerfile:2:5: invalid ARG name \"my-var\": use letters, digits and _, not starting with a digit",
        ),
        (
            "FROM a\nEXPOSE 80/http",
            "Dockerfile:2: invalid port \"80/http\" in EXPOSE: expected PORT[-PORT][/tcp|udp|sctp]",
        ),
        // Flags.
        (
            "FROM a\nCOPY --form=b x y",
            "Dockerfile:2:6: unknown flag: form",
        ),
        (
            "FROM a\nADD --from=b x y",
            "Dockerfile:2:5: unknown flag: from",
        ),
        ("FROM a\nCMD --help", "Dockerfile:2:5: unknown flag: help"),
        (
            "FROM a\nCOPY --from x y",
            "Dockerfile:2:6: missing a value on flag: from",
        ),
        (
            "FROM a\nCOPY --link=yes x y",
            "Dockerfile:2:6: expecting boolean value for flag link, not: yes",
        ),
        (
            "FROM a\nCOPY --from=a --from=b x y",
            "Dockerfile:2:15: duplicate flag specified: from",
        ),
        (
            "FROM a\nRUN --mount=type=cache,target=/root/.cache make",
            "Dockerfile:2:5: RUN --mount is a BuildKit feature (cache, secret and ssh mounts), not supported here",
        ),
        (
            "FROM a\nRUN --network=none make",
            "Dockerfile:2:5: RUN --network is a BuildKit feature, not supported here",
        ),
        (
            "FROM a\nRUN <<EOF\necho hi\nEOF",
            "Dockerfile:2:5: here-documents (<<EOF) are a BuildKit feature, not supported here",
        ),
        // HEALTHCHECK.
        (
            "FROM a\nHEALTHCHECK NONE now",
            "Dockerfile:2: HEALTHCHECK NONE takes no arguments",
        ),
        (
            "FROM a\nHEALTHCHECK CMD",
            "Dockerfile:2: Missing command after HEALTHCHECK CMD",
        ),
        (
            "FROM a\nHEALTHCHECK curl x",
            "Dockerfile:2: Unknown type \"curl\" in HEALTHCHECK (try CMD)",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=soon CMD x",
            "Dockerfile:2: time: invalid duration \"soon\"",
        ),
        // ONBUILD.
        (
            "FROM a\nONBUILD ONBUILD RUN x",
            "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        (
            "FROM a\nONBUILD FROM b",
            "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nONBUILD MAINTAINER me",
            "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nONBUILD COPPY a b",
            "Dockerfile:2: unknown instruction COPPY",
        ),
        (
            "FROM a\nONBUILD COPY --bad a b",
            "Dockerfile:2:14: unknown flag: bad",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(source), expected, "for {source:?}");
    }
}

#[test]
fn columns_point_into_continuation_lines() {
    // The error is on the third line, where the bad word is.
    let source = "FROM a\nENV A=1 \\\n    B=\"open \\\n    C=3\n";
    let error = parse(source).unwrap_err();
    assert_eq!((error.line, error.column), (3, Some(7)));
    assert_eq!(
        error.to_string(),
        "Dockerfile:3:7: unexpected end of statement while looking for matching double-quote"
    );
    // Indented first lines count their indentation.
    let error = parse("FROM a\n   COPY --nope x y").unwrap_err();
    assert_eq!(error.to_string(), "Dockerfile:2:9: unknown flag: nope");
}

#[test]
fn file_name_in_errors() {
    let error = parse("FROM a\nCOPPY x y")
        .unwrap_err()
        .with_file("app.Dockerfile");
    assert_eq!(
        error.to_string(),
        "app.Dockerfile:2: unknown instruction COPPY"
    );
    assert_eq!(error.file, "app.Dockerfile");
}

#[test]
fn command_argv() {
    let file =
        parse("FROM a\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo $HOME\nRUN [\"ls\", \"-l\"]\n")
            .unwrap();
    let kinds = kinds(&file, 0);
    let InstructionKind::Shell(shell) = &kinds[0] else {
        panic!("not SHELL");
    };
    let InstructionKind::Run(shell_form) = &kinds[1] else {
        panic!("not RUN");
    };
    let InstructionKind::Run(exec_form) = &kinds[2] else {
        panic!("not RUN");
    };
    assert_eq!(shell_form.argv(shell), ["/bin/bash", "-c", "echo $HOME"]);
    assert_eq!(exec_form.argv(shell), ["ls", "-l"]);
}

#[test]
fn crlf_files_parse_like_lf_files() {
    let lf = "FROM a\nRUN echo \\\n  hi\nENV A=\"b c\"\n";
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(parse(lf).unwrap(), parse(&crlf).unwrap());
}

#[test]
fn nothing_panics_on_odd_input() {
    let odd = [
        "\\",
        "`",
        "FROM a\nRUN \\",
        "FROM a\nENV A=\\",
        "FROM a\nENV \"",
        "FROM a\nENV A='",
        "FROM a\nCOPY --\"",
        "FROM a\nCOPY --from=\"x",
        "FROM a\nLABEL ${",
        "FROM a\nARG A=${B:-'",
        "FROM a\nHEALTHCHECK --interval=1.2.3s CMD x",
        "FROM a\nHEALTHCHECK --interval=µ CMD x",
        "FROM a\nEXPOSE 99999999999999999999",
        "FROM a\nRUN [",
        "FROM a\nRUN [\"\\ud800\"]",
        "\u{feff}",
        "FROM ä AS ü\nENV é=\"ø\\",
        "# escape=`\nFROM a\nENV A=`",
        "FROM a\nONBUILD ONBUILD",
        "FROM a\nONBUILD \\\n",
        "FROM a\n\u{0}\u{7f}",
    ];
    for source in odd {
        let _ = parse(source);
    }
}
