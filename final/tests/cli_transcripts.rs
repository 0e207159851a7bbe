//! The terminal sessions of the book's page on `minidocker`, the engine's
//! own command line (`book/src/cli.md`), recorded from real runs as
//! `transcripts.rs` records the engine page's: one long-lived root `bash`
//! per session, a `minidockerd` of its own in `d=$(mktemp -d)` (data root,
//! exec root and socket), and `minidocker`, found beside it in the build
//! directory, pointed at it with `DOCKER_HOST`.
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
//! Each session (`$ command` and its output, stderr merged as a terminal
//! shows it) gets placeholders for what changes from run to run, and is
//! compared with `book/src/transcripts/cli-*.txt` (`UPDATE_TRANSCRIPTS=1
//! cargo test -p minidocker --test cli_transcripts` rewrites them): `$d`,
//! `…/target` for the build directory; IDs, RFC 3339 times and `/tmp` paths
//! as every transcript shows them (`api::transcript::normalize`); docker's
//! relative times as `<duration>`, Go's default time format as `<time>`,
//! image sizes as `<size>` (a container's `0B` stays); and in doctor's
//! output the two lines that depend on the machine: the cgroup version with
//! its controllers (v1 here, v2 on the VM), and the socket group (there
//! once `scripts/provision.sh` has run). Tables are laid out again after
//! the placeholders, as docker's tabwriter lays them out.
//!
//! The sessions wait on exact events, never on a time: a line in a log
//! (inotify on the file: the daemon's "API listen on", socat's "listening
//! on", a container's "ready"), a job of the shell (`wait`), a process's
//! exit (a pidfd). Everything a session starts goes with it, even when it
//! fails: the daemon, its containers, their mounts, socat, the directory.

mod common;

use std::io::{BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{HANG, MINIDOCKERD};
use namespaces::pidfd::PidFd;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Shows the exit status of the command before it.
const AND_STATUS: &str = "echo \"exit $?\"";

/// `minidockerd` in the background, its roots and socket in `$d`, its
/// stderr in `$d/daemon.log`, its PID in `$d/minidockerd.pid`; its parent
/// is PID 1, as a daemon's (the engine page tells why).
const DAEMON: &str = "(minidockerd --data-root $d/data --exec-root $d/run -H unix://$d/d.sock 2>$d/daemon.log & echo $! >$d/minidockerd.pid)";

/// One session at a time: each starts a daemon and containers; a machine
/// busy with another session is slower than no wait allows for.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where cargo put `minidockerd`, and beside it `minidocker`, `minishim`
/// and `minirunc`.
fn target_dir() -> &'static Path {
    Path::new(MINIDOCKERD).parent().expect("a directory")
}

fn require_tools() {
    common::require_root();
    for name in ["minidocker", "minishim", "minirunc"] {
        let path = target_dir().join(name);
        assert!(
            path.is_file(),
            "{} is missing: build the workspace first (cargo build --workspace)",
            path.display()
        );
    }
    for (program, flag, why) in [
        (
            "docker",
            "--version",
            "a session compares minidocker's output with the real CLI's (sudo scripts/provision.sh --test)",
        ),
        (
            "jq",
            "--version",
            "a session reads JSON with it (sudo apt-get install jq)",
        ),
        (
            "socat",
            "-V",
            "a session records a request on the socket with it (sudo apt-get install socat)",
        ),
    ] {
        let found = Command::new(program)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{program} is not installed: {why}");
    }
}

/// How a command's output is shown once placeholders are in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Text,
    /// A table of docker's: laid out again (see [`Session::table_layout`]).
    Table,
}

/// A command and what it printed, as recorded.
struct Entry {
    command: String,
    output: String,
    layout: Layout,
}

/// A root shell with the build directory first on its PATH.
struct Session {
    shell: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// The shell's working directory.
    scratch: tempfile::TempDir,
    /// `$d`, once the shell has made it.
    dir: Option<PathBuf>,
    entries: Vec<Entry>,
    commands: usize,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Session {
    fn new() -> Session {
        require_tools();
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let scratch = tempfile::tempdir().unwrap();
        let mut command = Command::new("timeout");
        command
            .args([
                "--kill-after=5",
                "180",
                "bash",
                "--norc",
                "--noprofile",
                "-s",
            ])
            .current_dir(scratch.path())
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    target_dir().display()
                ),
            )
            .env("HOME", "/root")
            // Stable across hosts: C messages and sorting, times in UTC.
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // Every signal at its default, as in a root shell in a terminal
        // (the harness leaves some ignored, and the CLI would inherit that).
        // SAFETY: reset_signals makes raw system calls only, which is what
        // may run between fork and exec.
        let mut shell = unsafe {
            command.pre_exec(|| {
                namespaces::exec::reset_signals().map_err(|e| std::io::Error::other(e.to_string()))
            })
        }
        .spawn()
        .expect("starting bash");
        let input = shell.stdin.take().unwrap();
        let output = BufReader::new(shell.stdout.take().unwrap());
        let mut session = Session {
            shell,
            input,
            output,
            scratch,
            dir: None,
            entries: Vec::new(),
            commands: 0,
            _one_at_a_time: guard,
        };
        // The shell's own errors go where a terminal shows them: with the output.
        session.hidden("exec 2>&1");
        session
    }

    /// `$d`.
    fn dir(&self) -> &Path {
        self.dir.as_deref().expect("the daemon's directory is made")
    }

    /// A file in the shell's working directory.
    fn scratch_file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// Runs `line` in the shell: its output (stdout and stderr) and status.
    fn execute(&mut self, line: &str) -> (String, i32) {
        self.commands += 1;
        api::transcript::run_in_shell(&mut self.input, &mut self.output, self.commands, line)
    }

    /// Runs `line` and records it with its output, whatever its status.
    fn record(&mut self, line: &str, layout: Layout) -> (String, i32) {
        let (output, status) = self.execute(line);
        self.entries.push(Entry {
            command: line.to_string(),
            output: output.clone(),
            layout,
        });
        (output, status)
    }

    /// Runs `line`, records it with its output; it must succeed.
    fn ok(&mut self, line: &str) -> String {
        let (out, status) = self.record(line, Layout::Text);
        assert_eq!(status, 0, "{line} failed:\n{out}\n{}", self.daemon_log());
        out
    }

    /// Like [`Session::ok`], for a command that prints a table.
    fn table(&mut self, line: &str) -> String {
        let (out, status) = self.record(line, Layout::Table);
        assert_eq!(status, 0, "{line} failed:\n{out}\n{}", self.daemon_log());
        out
    }

    /// Runs `line` without recording it; it must succeed.
    fn hidden(&mut self, line: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "(hidden) {line} failed:\n{out}");
        out
    }

    /// `d=$(mktemp -d)`, shown or not; remembers the directory.
    fn make_dir(&mut self, shown: bool) {
        if shown {
            self.ok("d=$(mktemp -d)");
        } else {
            self.hidden("d=$(mktemp -d)");
        }
        let dir = self.hidden("echo $d").trim().to_string();
        assert!(dir.starts_with("/tmp/"), "{dir}");
        self.dir = Some(PathBuf::from(dir));
        // The docker CLI's own config, not root's ~/.docker.
        self.hidden("mkdir $d/docker-config && export DOCKER_CONFIG=$d/docker-config");
    }

    /// Starts the daemon (the command recorded or not), and waits for the
    /// line it prints once its socket listens.
    fn start_daemon(&mut self, shown: bool) {
        if shown {
            self.ok(DAEMON);
        } else {
            self.hidden(DAEMON);
        }
        wait_for_text(&self.dir().join("daemon.log"), "API listen on");
    }

    /// A session that begins where the doctor's left off: `$d`, a daemon
    /// in it, and `DOCKER_HOST` pointing at its socket, none of it shown.
    fn with_daemon() -> Session {
        let mut s = Session::new();
        s.make_dir(false);
        s.start_daemon(false);
        s.hidden("export DOCKER_HOST=unix://$d/d.sock");
        s
    }

    /// The daemon's log so far, for a failure message.
    fn daemon_log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("daemon.log")).ok())
            .map(|log| format!("daemon log:\n{log}"))
            .unwrap_or_default()
    }

    /// `text` with the placeholders for what varies.
    fn normalize(&self, text: &str) -> String {
        let mut text = text.to_string();
        if let Some(dir) = &self.dir {
            text = text.replace(&dir.display().to_string(), "$d");
        }
        // target/debug and target/static (doctor finds minidocker-init there).
        let target = target_dir().parent().expect("the target directory");
        text = text.replace(&target.display().to_string(), "…/target");
        text = text.replace(&self.scratch.path().display().to_string(), ".");
        let text = api::transcript::normalize(&text);
        api::transcript::replace(
            &text,
            &[
                // Go's default time format (ps's CreatedAt).
                (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", "<time>"),
                // docker's relative times (go-units' HumanDuration).
                (
                    r"Less than a second|About an? (minute|hour)|\b\d+ (second|minute|hour)s?\b",
                    "<duration>",
                ),
                // Image sizes (the host's busybox, the toolchain's hello);
                // a container's size without -s is always 0B, and stays.
                (r"\b[1-9][0-9]*(\.[0-9]+)?[kMG]?B\b", "<size>"),
                (
                    r"minidocker-client/\d+\.\d+\.\d+",
                    "minidocker-client/<version>",
                ),
                // doctor: v1 (cgroupfs, a hierarchy per controller) or v2
                // at /sys/fs/cgroup, and the controllers the machine has.
                (
                    r"(?m)^(✔ cgroups: )v[12]\b.*?(, cgroupfs driver, controllers ).*$",
                    "${1}<v1 or v2>${2}<the machine's>",
                ),
                // doctor: ✔ once scripts/provision.sh made the group.
                (
                    r"(?m)^[✔✘] socket group: .*$",
                    "<✔ or ✘> socket group: <whether the group minidocker exists>",
                ),
            ],
        )
    }

    /// The session so far, with placeholders, tables laid out again.
    fn show(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&format!("$ {}\n", entry.command));
            match entry.layout {
                Layout::Text => text.push_str(&self.normalize(&entry.output)),
                Layout::Table => text.push_str(&self.table_layout(&entry.output)),
            }
        }
        text
    }

    /// A table of docker's (Go's tabwriter as docker sets it up: each
    /// column as wide as its widest cell plus 3, and at least 10; the last
    /// one unpadded): cut at the header's column starts, each cell
    /// normalized, laid out again.
    fn table_layout(&self, output: &str) -> String {
        let lines: Vec<Vec<char>> = output.lines().map(|l| l.chars().collect()).collect();
        let Some(header) = lines.first() else {
            return String::new();
        };
        // A column starts after two spaces or more ("CONTAINER ID" has one).
        let mut starts = vec![0];
        let mut at = 0;
        while at < header.len() {
            if header[at] == ' ' {
                let run = at;
                while at < header.len() && header[at] == ' ' {
                    at += 1;
                }
                if at - run >= 2 && at < header.len() {
                    starts.push(at);
                }
            } else {
                at += 1;
            }
        }
        let rows: Vec<Vec<String>> = lines
            .iter()
            .map(|line| {
                (0..starts.len())
                    .map(|k| {
                        let begin = starts[k].min(line.len());
                        let end = starts.get(k + 1).map_or(line.len(), |&e| e.min(line.len()));
                        let cell: String = line[begin..end].iter().collect();
                        self.normalize(cell.trim_end())
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..starts.len())
            .map(|k| {
                let widest = rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0);
                (widest + 3).max(10)
            })
            .collect();
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (k, cell) in row.iter().enumerate() {
                if k + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}", width = widths[k]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Compares the session so far with `book/src/transcripts/NAME`, and
    /// starts the next transcript from here.
    fn check(&mut self, name: &str) {
        api::transcript::check(name, &self.show());
        self.entries.clear();
    }
}

/// Waits until the file at `path` holds `text`: a line printed by a daemon,
/// by socat or by a container. Watched (inotify, on its directory) before
/// each read, so a write between the read and the wait is not missed.
fn wait_for_text(path: &Path, text: &str) {
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).expect("inotify_init");
    let dir = path.parent().expect("a directory");
    inotify
        .add_watch(
            dir,
            AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CLOSE_WRITE,
        )
        .unwrap_or_else(|e| panic!("watching {}: {e}", dir.display()));
    let deadline = Instant::now() + HANG;
    loop {
        let content = std::fs::read(path).unwrap_or_default();
        if String::from_utf8_lossy(&content).contains(text) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{text:?} never appeared in {}; it holds:\n{}",
            path.display(),
            String::from_utf8_lossy(&content)
        );
        let timeout = nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::MAX);
        let mut fds = [nix::poll::PollFd::new(
            inotify.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if let Ok(n) = nix::poll::poll(&mut fds, timeout) {
            if n > 0 {
                let _ = inotify.read_events();
            }
        }
    }
}

/// The PID in `$d/NAME`, if the file is there.
fn pid_in(dir: &Path, name: &str) -> Option<i32> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
}

/// Whatever a session started goes with it, even after a failure: socat
/// (if its PID file is still there: the session removes it once socat has
/// gone), the daemon (SIGTERM: it stops its containers), containers it
/// could not stop (their runtime ends them), mounts under `$d`, `$d`.
impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"exit\n");
        let _ = self.input.flush();
        let _ = self.shell.wait();
        let Some(dir) = self.dir.clone() else {
            return;
        };
        for (file, patience) in [
            ("socat.pid", Duration::from_secs(5)),
            ("minidockerd.pid", Duration::from_secs(30)),
        ] {
            let Some(pid) = pid_in(&dir, file) else {
                continue;
            };
            let Ok(process) = PidFd::open(pid) else {
                continue;
            };
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if !process.wait_exit(patience).unwrap_or(false) {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = process.wait_exit(HANG);
            }
        }
        let runtime_root = dir.join("run/runtime/minirunc");
        if let Ok(entries) = std::fs::read_dir(&runtime_root) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with('#') {
                    continue; // the seccomp cache
                }
                let _ = Command::new(target_dir().join("minirunc"))
                    .arg("--root")
                    .arg(&runtime_root)
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .output();
            }
        }
        common::unmount_under(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `minidocker doctor`: a line per thing the engine needs, before the
/// daemon runs and once it answers; then a `minidocker` copied away from
/// its siblings, to see a ✘ with its fix and the exit status it gives.
#[test]
fn privileged_transcript_cli_doctor() {
    let mut s = Session::new();
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
    let mut s = Session::with_daemon();
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
    let mut s = Session::with_daemon();
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
    let mut s = Session::with_daemon();
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
    let mut s = Session::with_daemon();
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
    let socat_pid = pid_in(s.dir(), "socat.pid").expect("socat's PID");
    // Opened before the kill: then its exit is socat's, whatever the PID becomes.
    let socat = PidFd::open(socat_pid).expect("pidfd_open(socat)");
    s.ok("kill $(cat $d/socat.pid)");
    assert!(
        socat.wait_exit(HANG).unwrap(),
        "socat did not exit within {HANG:?} of SIGTERM"
    );
    s.hidden("rm $d/socat.pid");
    assert_eq!(
        s.ok("minidocker run --rm hello | grep Hello"),
        "Hello from minidocker!\n"
    );
    s.check("cli-save-load.txt");
}
