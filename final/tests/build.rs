//! `docker build` through the engine, with the real docker CLI (the classic
//! builder: `DOCKER_BUILDKIT=0`, as Debian has no buildx) and with
//! `minidocker build`: RUN in real containers, the cache, the same image
//! back on an unchanged rebuild, a failing RUN's exit code, the context's
//! odd shapes, and BuildKit's endpoints answering with the way around.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::{Daemon, require_root, stderr, stdout};

/// `docker build ARGS` in `context`, with the classic builder.
fn docker_build(d: &Daemon, context: &Path, args: &[&str]) -> Output {
    let mut command = d.docker_command(&[&["build"], args, &["."]].concat());
    command
        .current_dir(context)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("running docker build");
    common::wait_output(child, &format!("docker build {}", args.join(" ")), d)
}

fn built_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const APP: &str = "FROM busybox
WORKDIR /app
COPY deps.txt ./
RUN echo \"deps: $(cat deps.txt)\" > installed.txt
COPY src/ ./src/
RUN cat src/main.txt installed.txt > out.txt && echo compiled
CMD [\"cat\", \"/app/out.txt\"]
";

#[test]
fn privileged_docker_build_runs_caches_and_gives_the_same_image_back() {
    require_root();
    let d = Daemon::start();
    let context = tempfile::tempdir().unwrap();
    let ctx = context.path();
    write(ctx, "Dockerfile", APP);
    write(ctx, "deps.txt", "serde");
    write(ctx, "src/main.txt", "main v1");

    let first = built_ok(&docker_build(&d, ctx, &["-t", "app"]), "the first build");
    // RUN ran for real, in the image's filesystem, and its output streamed.
    assert!(
        first.contains("compiled") && first.contains("Successfully tagged app:latest"),
        "{first}"
    );
    assert_eq!(d.ok(&["run", "--rm", "app"]), "main v1deps: serde\n");
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "app"]);

    // Unchanged: every layer step from the cache, and the same image back.
    let again = built_ok(&docker_build(&d, ctx, &["-t", "app"]), "the rebuild");
    // WORKDIR (it makes /app), two COPYs, two RUNs and CMD.
    assert_eq!(again.matches("Using cache").count(), 6, "{again}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "app"]), id);
    let quiet = built_ok(&docker_build(&d, ctx, &["-q", "-t", "app"]), "build -q");
    assert_eq!(quiet, id, "-q prints the image ID alone");

    // A copied file changes: the steps before it hit, it and the rest run.
    write(ctx, "src/main.txt", "main v2");
    let changed = built_ok(
        &docker_build(&d, ctx, &["-t", "app"]),
        "the build after a change",
    );
    assert_eq!(changed.matches("Using cache").count(), 3, "{changed}");
    assert!(changed.contains("compiled"), "{changed}");
    assert_eq!(d.ok(&["run", "--rm", "app"]), "main v2deps: serde\n");

    // A failing RUN's container stays for inspection, as Docker's does:
    // exited with the command's code, its output in its log, its root the
    // step's own — `start` runs the command again there, and finds what
    // the first run wrote.
    write(
        ctx,
        "Dockerfile.kept",
        "FROM busybox\nRUN cat /note 2>/dev/null; echo left > /note; exit 3\n",
    );
    let kept = docker_build(&d, ctx, &["-f", "Dockerfile.kept"]);
    assert_eq!(kept.status.code(), Some(3), "{}", stderr(&kept));
    let id = d.ok(&["ps", "-aq", "--filter", "status=exited"]);
    assert_eq!(id.lines().count(), 1, "one container kept: {id}");
    let id = id.trim();
    assert!(
        stdout(&kept).contains(&format!("Running in {id}")),
        "{}",
        stdout(&kept)
    );
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]), "3\n");
    let again = d.docker(&["start", "-a", id]);
    assert_eq!(
        (again.status.code(), stdout(&again)),
        (Some(3), "left\n".into())
    );
    d.ok(&["rm", id]);

    // With --force-rm it goes too: no container or snapshot is left behind.
    write(
        ctx,
        "Dockerfile.fail",
        "FROM busybox\nRUN echo about to fail; exit 7\n",
    );
    let failed = docker_build(&d, ctx, &["-f", "Dockerfile.fail", "--force-rm"]);
    assert_eq!(
        failed.status.code(),
        Some(7),
        "{}{}",
        stdout(&failed),
        stderr(&failed)
    );
    assert!(
        stdout(&failed).contains("about to fail"),
        "{}",
        stdout(&failed)
    );
    assert!(
        stderr(&failed)
            .contains("'/bin/sh -c echo about to fail; exit 7' returned a non-zero code: 7"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        common::mounts_under(d.dir.path()).is_empty(),
        "mounts left: {:?}",
        common::mounts_under(d.dir.path())
    );

    // Multi-stage, ARG before FROM, build args.
    write(
        ctx,
        "Dockerfile.stages",
        "ARG BASE=busybox\nFROM $BASE AS make\nARG WHO=nobody\nRUN echo \"made for $WHO\" > /made.txt\n\
         FROM busybox\nCOPY --from=make /made.txt /\nCMD [\"cat\", \"/made.txt\"]\n",
    );
    built_ok(
        &docker_build(
            &d,
            ctx,
            &[
                "-f",
                "Dockerfile.stages",
                "--build-arg",
                "WHO=you",
                "-t",
                "staged",
            ],
        ),
        "the multi-stage build",
    );
    assert_eq!(d.ok(&["run", "--rm", "staged"]), "made for you\n");
    // --target stops at a stage; --label adds to the image's labels.
    built_ok(
        &docker_build(
            &d,
            ctx,
            &[
                "-f",
                "Dockerfile.stages",
                "--target",
                "make",
                "--label",
                "team=core",
                "-t",
                "made",
            ],
        ),
        "--target make",
    );
    assert_eq!(
        d.ok(&["run", "--rm", "made", "cat", "/made.txt"]),
        "made for nobody\n"
    );
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"team\"}}",
            "made"
        ]),
        "core\n"
    );
    let missing = docker_build(&d, ctx, &["-f", "Dockerfile.stages", "--target", "nosuch"]);
    assert!(
        !missing.status.success()
            && stderr(&missing).contains("failed to reach build target nosuch"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn privileged_minidocker_build_streams_the_context_and_honours_dockerignore() {
    require_root();
    let d = Daemon::start();
    let context = tempfile::tempdir().unwrap();
    let ctx = context.path();
    write(
        ctx,
        "Dockerfile",
        "FROM busybox\nCOPY . /ctx\nRUN ls -a /ctx | tr '\\n' ' '\n",
    );
    write(ctx, ".dockerignore", "target\n*.log\n!keep.log\n");
    write(ctx, "target/huge.o", "object");
    write(ctx, "debug.log", "noise");
    write(ctx, "keep.log", "kept");
    let run = |args: &[&str]| {
        let out = d.minidocker(args);
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let ctx_arg = ctx.to_str().unwrap();
    let (code, out, err) = run(&["build", "-t", "listed", ctx_arg]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(". .. .dockerignore Dockerfile keep.log \n"),
        "what the context held: {out}"
    );
    let (_, id, _) = run(&["build", "-q", "-t", "listed", ctx_arg]);
    assert_eq!(
        id.trim(),
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "listed"])
            .trim()
    );
    // A whiteout's name is an ordinary file in a context (in a layer it
    // would hide `notes`: so it is copied under another name).
    write(ctx, ".wh.notes", "not a whiteout");
    write(
        ctx,
        "Dockerfile.wh",
        "FROM busybox\nCOPY .wh.notes /notes-copy\n",
    );
    let (code, out, err) = run(&["build", "-f", "Dockerfile.wh", "-t", "wh", ctx_arg]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        d.ok(&["run", "--rm", "wh", "cat", "/notes-copy"]),
        "not a whiteout"
    );
    // --rm=false keeps a RUN's container though it succeeded; the failing
    // RUN's code is the build's, and --force-rm leaves no container.
    write(ctx, "Dockerfile.run", "FROM busybox\nRUN echo ran\n");
    let (code, out, err) = run(&["build", "--rm=false", "-f", "Dockerfile.run", ctx_arg]);
    assert_eq!(code, Some(0), "{out}{err}");
    let exited = || d.ok(&["ps", "-a", "--format", "{{.Status}} {{.Command}}"]);
    assert!(exited().starts_with("Exited (0)"), "{}", exited());
    write(ctx, "Dockerfile.fail", "FROM busybox\nRUN exit 7\n");
    let (code, _, err) = run(&["build", "--force-rm", "-f", "Dockerfile.fail", ctx_arg]);
    assert_eq!(code, Some(7), "{err}");
    assert_eq!(exited().lines().count(), 1, "{}", exited());
    let (code, _, err) = run(&["build", "/nonexistent"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent"), "{err}");
}

/// A tar of one file, as a build context.
fn one_file_tar(name: &str, contents: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, contents).unwrap();
    tar.into_inner().unwrap()
}

/// `POST /build?QUERY` with `context` as the body; the whole answer.
fn post_build(d: &Daemon, query: &str, context: &[u8]) -> String {
    let head = format!(
        "POST /v1.50/build?{query} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        context.len()
    );
    d.raw_request(&[head.as_bytes(), context].concat())
}

#[test]
fn privileged_odd_contexts_and_buildkit_endpoints() {
    require_root();
    let d = Daemon::start();
    // A context tar without its two end blocks (the CLI sends them so
    // when it rewrites the context), Dockerfile named in the query.
    let mut bytes = one_file_tar("Dockerfile.cut", b"FROM busybox\nRUN echo from a cut tar\n");
    bytes.truncate(bytes.len() - 1024);
    let answer = post_build(&d, "dockerfile=Dockerfile.cut&t=cut", &bytes);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("from a cut tar") && answer.contains("\"aux\""),
        "{answer}"
    );

    // Not a tar at all: one line, 400.
    let answer = post_build(&d, "", &[b'x'; 2000]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // A Dockerfile that is not there: the stream's error names -f.
    let answer = post_build(&d, "", &one_file_tar("file", b"x"));
    assert!(
        answer.contains("errorDetail") && answer.contains("Cannot locate specified Dockerfile"),
        "{answer}"
    );

    // BuildKit's endpoints (the CLI calls them where buildx is installed):
    // the answer says how to build anyway.
    for path in ["/session", "/grpc"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let answer = d.raw_request(request.as_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.contains("DOCKER_BUILDKIT=0"),
            "{path}: {answer}"
        );
    }
}
