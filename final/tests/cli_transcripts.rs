//! The terminal sessions of the book's page on `minidocker`, the engine's
//! own command line (`book/src/cli.md`), recorded from real runs in the
//! root shell of `common::session`, with a `minidockerd` of its own in `$d`
//! and `minidocker`, found beside it in the build directory, pointed at it
//! with `DOCKER_HOST`.
//!
//! - `cli-doctor.txt`: `minidocker doctor` before the daemon and after it,
//!   and a `minidocker` copied away from its siblings;
//! - `cli-format.txt`: `ps`, `images`, `--format` tables and templates,
//!   `inspect -f`, and the same bytes as the docker CLI's `inspect`;
//! - `cli-exit-codes.txt`: the command's own code, 127, 126 and 125 when it
//!   could not run, a verb that does what it can and exits 1, no daemon;
//! - `cli-signals.txt`: a signal sent to the CLI reaches the container, and
//!   with `--sig-proxy=false` it does not;
//! - `cli-save-load.txt`: `save`, `load`, and the load's request as it went
//!   over the socket, in HTTP/1.1 chunks.
//!
//! Compared with `book/src/transcripts/cli-*.txt`: with the placeholders
//! of `common::session`, docker's for its relative times, Go's times and
//! image sizes, and in doctor's output for the two lines that depend on
//! the machine: the cgroup version with its controllers (v1 here, v2 on
//! the VM), and the socket group (there once `scripts/provision.sh` has
//! run). Besides the daemon's line, the sessions wait for socat's
//! "listening on" and a container's "ready" (inotify on the file); socat,
//! its PID in `$d/socat.pid`, goes with the session as the daemon does.

mod common;

use common::session::{
    AND_STATUS, DOCKER_OUTPUT, Layout, Page, Session, pid_in, pidfd, wait_exit, wait_for_text,
};

static CLI_PAGE: Page = Page {
    tools: &[(
        "socat",
        "-V",
        "a session records a request on the socket with it (sudo apt-get install socat)",
    )],
    pids_in_every_output: false,
    rules: &[DOCKER_OUTPUT, DOCTOR],
};

/// What `minidocker doctor` says that depends on the machine.
const DOCTOR: &[(&str, &str)] = &[
    // v1 (cgroupfs, a hierarchy per controller) or v2 at /sys/fs/cgroup,
    // and the controllers the machine has.
    (
        r"(?m)^(✔ cgroups: )v[12]\b.*?(, cgroupfs driver, controllers ).*$",
        "${1}<v1 or v2>${2}<the machine's>",
    ),
    // ✔ once scripts/provision.sh made the group.
    (
        r"(?m)^[✔✘] socket group: .*$",
        "<✔ or ✘> socket group: <whether the group minidocker exists>",
    ),
];

/// `minidocker doctor`: a line per thing the engine needs, before the
/// daemon runs and once it answers; then a `minidocker` copied away from
/// its siblings, to see a ✘ with its fix and the exit status it gives.
#[test]
fn privileged_transcript_cli_doctor() {
    let mut s = Session::new(&CLI_PAGE);
    s.make_dir(true);
    s.ok("export DOCKER_HOST=unix://$d/d.sock");
    // Its status says whether every line is ✔: the socket group's is not
    // on every machine, so the status is not recorded here.
    let (out, _) = s.record("minidocker doctor", Layout::Text);
    assert!(
        out.lines()
            .all(|l| l.starts_with("✔ ") || l.starts_with("✘ ")),
        "{out}"
    );
    for thing in [
        "root",
        "namespaces",
        "overlayfs",
        "cgroups",
        "seccomp",
        "pidfd",
        "minirunc",
        "minishim",
        "minidocker-init",
        "busybox-static",
    ] {
        assert!(
            out.contains(&format!("✔ {thing}: ")),
            "{thing} should pass on a machine that runs the tests:\n{out}"
        );
    }
    assert!(out.contains("✔ daemon: not running yet"), "{out}");
    s.start_daemon(true);
    let out = s.ok("minidocker doctor | tail -1");
    assert!(
        out.starts_with("✔ daemon: minidockerd answers at unix://"),
        "{out}"
    );
    s.ok("cp \"$(command -v minidocker)\" $d/");
    let out = s.ok(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin $d/minidocker doctor | grep -E 'minirunc|minishim'; echo \"exit ${PIPESTATUS[0]}\"",
    );
    assert!(
        out.starts_with("✘ minirunc: not beside minidocker nor on PATH")
            && out.contains("✘ minishim: ")
            && out.ends_with("exit 1\n"),
        "{out}"
    );
    s.check("cli-doctor.txt");
}

/// docker's tables and `--format`, on rows shaped like docker's formatter
/// context; `inspect -f`; and `inspect` byte for byte as the docker CLI.
#[test]
fn privileged_transcript_cli_format() {
    let mut s = Session::with_daemon(&CLI_PAGE);
    let id = s.ok("minidocker run -d --name web --label tier=front busybox sleep 1000");
    assert_eq!(id.trim().len(), 64, "{id}");
    s.ok("minidocker create --name idle busybox true");
    let listed = s.table("minidocker ps");
    assert!(
        listed.starts_with("CONTAINER ID") && listed.contains(" Up ") && !listed.contains("idle"),
        "{listed}"
    );
    let listed = s.table(r"minidocker ps -a --format 'table {{.Names}}\t{{.Status}}\t{{.Labels}}'");
    assert!(
        listed.starts_with("NAMES ") && listed.contains("Created") && listed.contains("tier=front"),
        "{listed}"
    );
    let json = s.ok("minidocker ps --format '{{json .}}' | jq .");
    assert!(json.contains("\"Names\": \"web\""), "{json}");
    let images = s.table("minidocker images");
    assert!(
        images.contains("busybox") && images.contains("hello"),
        "{images}"
    );
    assert_eq!(
        s.ok(r#"minidocker inspect -f '{{.State.Status}} {{json .Config.Cmd}} {{index .Config.Labels "tier"}}' web"#),
        "running [\"sleep\",\"1000\"] front\n"
    );
    let out = s.ok(
        "minidocker inspect -f '{{.Name}}: {{range .Config.Cmd}}[{{.}}] {{end}}{{if .State.Running}}running since {{.State.StartedAt}}{{else}}{{.State.Status}}{{end}}' web idle",
    );
    assert!(
        out.starts_with("/web: [sleep] [1000] running since ")
            && out.ends_with("/idle: [true] created\n"),
        "{out}"
    );
    assert_eq!(
        s.ok("diff <(docker inspect web idle) <(minidocker inspect web idle) && echo same"),
        "same\n"
    );
    assert_eq!(s.ok("minidocker rm -f web idle"), "web\nidle\n");
    s.check("cli-format.txt");
}

/// The exit codes: the command's own; 127, 126, 125 when it could not run;
/// 1 for a verb that failed after doing what it could; 1 with no daemon.
#[test]
fn privileged_transcript_cli_exit_codes() {
    let mut s = Session::with_daemon(&CLI_PAGE);
    assert_eq!(
        s.ok(&format!(
            "minidocker run --rm busybox sh -c 'exit 3'; {AND_STATUS}"
        )),
        "exit 3\n"
    );
    let out = s.ok(&format!("minidocker run --rm busybox nosuch; {AND_STATUS}"));
    assert!(
        out.contains("executable file not found") && out.ends_with("exit 127\n"),
        "{out}"
    );
    let out = s.ok(&format!("minidocker run --rm busybox /etc; {AND_STATUS}"));
    assert!(
        out.contains("is a directory") && out.ends_with("exit 126\n"),
        "{out}"
    );
    let out = s.ok(&format!(
        "minidocker run --rm --memory lots busybox true; {AND_STATUS}"
    ));
    assert!(
        out.contains("--memory") && out.ends_with("exit 125\n"),
        "{out}"
    );
    let out = s.ok(&format!(
        "minidocker run -it --rm busybox true; {AND_STATUS}"
    ));
    assert!(
        out.contains("not a TTY") && out.ends_with("exit 125\n"),
        "{out}"
    );
    assert_eq!(
        s.ok("echo hello | minidocker run -i --rm busybox tr a-z A-Z"),
        "HELLO\n"
    );
    s.ok("minidocker create --name idle busybox true");
    assert_eq!(
        s.ok(&format!("minidocker rm idle nosuch; {AND_STATUS}")),
        "idle\nError response from daemon: No such container: nosuch\nexit 1\n"
    );
    let out = s.ok(&format!(
        "minidocker -H unix:///nonexistent.sock ps; {AND_STATUS}"
    ));
    assert!(
        out.contains("Is the daemon running?") && out.ends_with("exit 1\n"),
        "{out}"
    );
    s.check("cli-exit-codes.txt");
}

/// Without a terminal, a signal sent to the CLI is sent on to the
/// container (`--sig-proxy`, on by default); with `--sig-proxy=false` the
/// CLI dies of it, and the container runs on.
#[test]
fn privileged_transcript_cli_signals() {
    let mut s = Session::with_daemon(&CLI_PAGE);
    let script = r#"sh -c 'trap "echo got TERM; exit 3" TERM; echo ready; sleep 1000 & wait'"#;
    s.ok(&format!(
        "minidocker run --rm --name proxied busybox {script} >proxied.out &"
    ));
    // "ready" is on its way through the CLI: it watches for signals by then.
    wait_for_text(&s.scratch_file("proxied.out"), "ready\n");
    assert_eq!(
        s.ok(&format!("kill -TERM $!; wait $!; {AND_STATUS}")),
        "exit 3\n"
    );
    assert_eq!(s.ok("cat proxied.out"), "ready\ngot TERM\n");
    s.ok(&format!(
        "minidocker run --rm --name unproxied --sig-proxy=false busybox {script} >unproxied.out &"
    ));
    wait_for_text(&s.scratch_file("unproxied.out"), "ready\n");
    // 128 + 15: the CLI was killed by the signal.
    assert_eq!(
        s.ok(&format!("kill -TERM $!; wait $!; {AND_STATUS}")),
        "exit 143\n"
    );
    assert_eq!(s.ok("cat unproxied.out"), "ready\n");
    assert_eq!(
        s.ok("minidocker ps --format '{{.Names}}: {{.State}}'"),
        "unproxied: running\n"
    );
    assert_eq!(s.ok("minidocker stop unproxied"), "unproxied\n");
    s.check("cli-signals.txt");
}

/// `save` to a file, `load` from stdin; the load's request recorded on its
/// way to the daemon by socat: a head with `Transfer-Encoding: chunked`,
/// 64 KiB chunks, and the zero-size chunk that ends the body.
#[test]
fn privileged_transcript_cli_save_load() {
    let mut s = Session::with_daemon(&CLI_PAGE);
    assert_eq!(s.ok("minidocker save -o hello.tar hello"), "");
    let listed = s.ok("tar -tf hello.tar");
    assert!(
        listed.contains("manifest.json") && listed.contains("blobs/sha256/"),
        "{listed}"
    );
    let out = s.ok("minidocker rmi hello");
    assert!(out.starts_with("Untagged: hello:latest\n"), "{out}");
    s.ok("(socat -d -d -r $d/wire UNIX-LISTEN:$d/spy.sock,fork UNIX-CONNECT:$d/d.sock 2>$d/socat.log & echo $! >$d/socat.pid)");
    wait_for_text(&s.dir().join("socat.log"), "listening on");
    assert_eq!(
        s.ok("minidocker -H unix://$d/spy.sock load < hello.tar"),
        "Loaded image: hello:latest\n"
    );
    let head = s.ok(r"sed -n '/^POST/,/^10000/p' $d/wire | tr -d '\r'");
    assert!(
        head.contains("Transfer-Encoding: chunked\n\n10000\n"),
        "{head}"
    );
    // The body's end: the last chunk's CRLF, then a chunk of size 0.
    let end = s.ok("tail -c 7 $d/wire | od -An -c");
    assert_eq!(
        end.split_whitespace().collect::<Vec<_>>(),
        [r"\r", r"\n", "0", r"\r", r"\n", r"\r", r"\n"]
    );
    let socat = pidfd(pid_in(s.dir(), "socat.pid").expect("socat's PID"));
    s.ok("kill $(cat $d/socat.pid)");
    wait_exit(&socat, "socat, sent SIGTERM,");
    s.hidden("rm $d/socat.pid");
    assert_eq!(
        s.ok("minidocker run --rm hello | grep Hello"),
        "Hello from minidocker!\n"
    );
    s.check("cli-save-load.txt");
}
