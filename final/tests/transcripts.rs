//! The terminal sessions the book's engine page (`book/src/engine.md`)
//! shows, recorded from real runs: a `minidockerd` started in the
//! background of a root shell, with its data root, exec root and socket in
//! a directory of its own (`d=$(mktemp -d)`), driven by the real `docker`
//! CLI; the daemon, the shim and the container as three processes; what the
//! daemon keeps on disk; the wait's head on the wire; a shim killed under a
//! running container, and the daemon killed and started again.
//!
//! Each test drives one long-lived `bash`, as the reader's root shell is:
//! variables carry from one command to the next. The session (`$ command`
//! and its output, stderr merged as a terminal shows it) gets placeholders
//! for what changes from run to run, and is compared with
//! `book/src/transcripts/engine-*.txt` (`UPDATE_TRANSCRIPTS=1 cargo test -p
//! minidocker --test transcripts` rewrites them):
//!
//! - `$d` for the daemon's directory, `…/target/debug` for the build
//!   directory (where `minidockerd` finds `minishim` and `minirunc`);
//! - the host PIDs of the processes the page talks about, by role:
//!   `<daemon>`, `<shim>`, `<init>` (the container's PID 1), `<sleep>`;
//!   the daemon's session (its shell's, which is 0 where the session's
//!   leader lives outside our PID namespace, as under CI) as `<sid>`;
//! - IDs, times and `/tmp` paths as every transcript shows them
//!   (`api::transcript::normalize`), docker's relative times as
//!   `<duration>`, image sizes as `<size>`.
//!
//! docker's tables and ps's are laid out again after the placeholders, as
//! the programs lay them out. The sessions wait on exact events, never on a
//! time: the daemon's "API listen on" line and a container's log line
//! (inotify on the file), a process's exit (a pidfd), `wait` for a job of
//! the shell. One thing announces itself to no one a shell could ask: a
//! forked process's `execve`; that one is a condition asked until it
//! holds. Everything a session starts goes with it, even when it fails:
//! the daemon, the containers, their mounts, the directory.

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

/// One session at a time: each starts a daemon and containers, and reads
/// `ps`; a machine busy with another session is slower than no wait allows
/// for, and the tables of one must not show the other's processes.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where cargo put `minidockerd`, and beside it `minishim` and `minirunc`.
fn target_dir() -> &'static Path {
    Path::new(MINIDOCKERD).parent().expect("a directory")
}

fn require_tools() {
    common::require_root();
    for name in ["minishim", "minirunc"] {
        let path = target_dir().join(name);
        assert!(
            path.is_file(),
            "{} is missing: build the workspace first (cargo build --workspace)",
            path.display()
        );
    }
    for (program, why) in [
        (
            "docker",
            "the sessions drive the daemon with the real CLI (sudo scripts/provision.sh --test)",
        ),
        (
            "jq",
            "the sessions read JSON with it (sudo apt-get install jq)",
        ),
        (
            "curl",
            "a session reads the wait's head with it (sudo apt-get install curl)",
        ),
    ] {
        let found = Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{program} is not installed: {why}");
    }
}

/// `minidockerd` in the background, its roots and socket in `$d`, its
/// stderr in `$d/LOG`, its PID in `$d/minidockerd.pid`. The parentheses:
/// the daemon is not a job of the reader's shell (which would report it
/// "Killed" at some later prompt), and its parent is PID 1, as a daemon's.
fn daemon_line(log: &str) -> String {
    format!(
        "(minidockerd --data-root $d/data --exec-root $d/run -H unix://$d/d.sock 2>$d/{log} & echo $! >$d/minidockerd.pid)"
    )
}

/// A command and what it printed, as recorded.
struct Entry {
    command: String,
    output: String,
    /// `ls`: lines sorted again once names are placeholders (a real ID
    /// sorts before or after `config.json` depending on its first digit).
    sorted: bool,
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
    /// (host PID, placeholder).
    pids: Vec<(String, &'static str)>,
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
        // Every signal at its default, as in a root shell in a terminal:
        // glibc's posix_spawn leaves signals 32 and 33 ignored in what the
        // test harness starts, and the daemon would inherit that.
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
            pids: Vec::new(),
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

    /// Runs `line` in the shell: its output (stdout and stderr) and status.
    fn execute(&mut self, line: &str) -> (String, i32) {
        self.commands += 1;
        api::transcript::run_in_shell(&mut self.input, &mut self.output, self.commands, line)
    }

    fn record(&mut self, line: &str, sorted: bool) -> (String, i32) {
        let (output, status) = self.execute(line);
        self.entries.push(Entry {
            command: line.to_string(),
            output: output.clone(),
            sorted,
        });
        (output, status)
    }

    /// Runs `line`, records it with its output; it must succeed.
    fn ok(&mut self, line: &str) -> String {
        let (out, status) = self.record(line, false);
        assert_eq!(status, 0, "{line} failed:\n{out}\n{}", self.daemon_log());
        out
    }

    /// Like [`Session::ok`], the output's lines shown sorted (see [`Entry`]).
    fn ok_sorted(&mut self, line: &str) -> String {
        let (out, status) = self.record(line, true);
        assert_eq!(status, 0, "{line} failed:\n{out}");
        out
    }

    /// Runs `line` and records it; it must exit with `code`.
    fn fails(&mut self, line: &str, code: i32) -> String {
        let (out, status) = self.record(line, false);
        assert_eq!(status, code, "{line}:\n{out}");
        out
    }

    /// Runs `line` without recording it; it must succeed.
    fn hidden(&mut self, line: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "(hidden) {line} failed:\n{out}");
        out
    }

    /// Shows host PID `pid` (a shell word, e.g. `$pid`) as `placeholder`.
    fn name_pid(&mut self, pid: &str, placeholder: &'static str) -> i32 {
        let value = self.hidden(&format!("echo {pid}")).trim().to_string();
        let number: i32 = value
            .parse()
            .unwrap_or_else(|_| panic!("{pid} is not a PID: {value:?}"));
        // 0 or 1 would stand for every such digit in the session.
        assert!(number > 1, "{pid} is {number}, not a process of ours");
        self.pids.push((value, placeholder));
        number
    }

    /// Makes `$d` and starts the daemon in it, shown as the reader types it
    /// or hidden (a session that starts where the first one left off).
    fn start_daemon(&mut self, shown: bool) {
        let step = |s: &mut Session, line: &str| {
            if shown {
                s.ok(line);
            } else {
                s.hidden(line);
            }
        };
        step(self, "d=$(mktemp -d)");
        let dir = self.hidden("echo $d").trim().to_string();
        assert!(dir.starts_with("/tmp/"), "{dir}");
        self.dir = Some(PathBuf::from(dir));
        // The CLI's own config, not root's ~/.docker.
        self.hidden("mkdir $d/docker-config && export DOCKER_CONFIG=$d/docker-config");
        step(self, &daemon_line("daemon.log"));
        let log = self.dir().join("daemon.log");
        wait_for_text(&log, "API listen on");
        self.name_pid("$(cat $d/minidockerd.pid)", "<daemon>");
        if shown {
            let log = self.ok("cat $d/daemon.log");
            assert!(log.contains("created the offline image busybox"), "{log}");
        }
        step(self, "export DOCKER_HOST=unix://$d/d.sock");
    }

    /// The daemon's log so far, for a failure message.
    fn daemon_log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("daemon.log")).ok())
            .map(|log| format!("daemon log:\n{log}"))
            .unwrap_or_default()
    }

    /// Waits (hidden) until the shell condition `condition` holds: for a
    /// state of the kernel no event the shell can wait on announces (a
    /// forked process's execve). Up to 30 s: a guard against a hang, not
    /// a time it takes.
    fn wait_until(&mut self, condition: &str) {
        let (out, status) = self.execute(&format!(
            "held=no; for _ in $(seq 300); do if {condition}; then held=yes; break; fi; sleep 0.1; done; [ $held = yes ]"
        ));
        assert_eq!(status, 0, "never happened: {condition}\n{out}");
    }

    /// The log file of container `name`, in the daemon's data root.
    fn container_log(&mut self, name: &str) -> PathBuf {
        let id = self
            .hidden(&format!("docker inspect -f '{{{{.Id}}}}' {name}"))
            .trim()
            .to_string();
        self.dir()
            .join("data/containers")
            .join(&id)
            .join(format!("{id}-json.log"))
    }

    /// `text` with the placeholders for what varies.
    fn normalize(&self, text: &str) -> String {
        let mut text = text.to_string();
        if let Some(dir) = &self.dir {
            text = text.replace(&dir.display().to_string(), "$d");
        }
        text = text.replace(&target_dir().display().to_string(), "…/target/debug");
        text = text.replace(&self.scratch.path().display().to_string(), ".");
        let mut text = api::transcript::normalize(&text);
        for (pid, placeholder) in &self.pids {
            text = api::transcript::replace(&text, &[(&format!(r"\b{pid}\b"), placeholder)]);
        }
        api::transcript::replace(
            &text,
            &[
                // docker's relative times (go-units' HumanDuration).
                (
                    r"Less than a second|About an? (minute|hour)|\b\d+ (second|minute|hour)s?\b",
                    "<duration>",
                ),
                // Image sizes: the host's busybox, the toolchain's hello.
                (r"\b\d+(\.\d+)?[kMG]?B\b", "<size>"),
                (r"minidocker/\d+\.\d+\.\d+", "minidocker/<version>"),
            ],
        )
    }

    /// The session so far, with placeholders, tables laid out again.
    fn show(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&format!("$ {}\n", entry.command));
            let first = entry.output.lines().next().unwrap_or_default();
            let shown = if first.starts_with("CONTAINER ID") || first.starts_with("REPOSITORY") {
                self.docker_table(&entry.output)
            } else if entry.command.starts_with("ps ") && first.trim_start().starts_with("PID") {
                self.ps_table(&entry.output)
            } else {
                let normalized = self.normalize(&entry.output);
                if entry.sorted {
                    let mut lines: Vec<&str> = normalized.lines().collect();
                    lines.sort();
                    lines.iter().map(|l| format!("{l}\n")).collect()
                } else {
                    normalized
                }
            };
            text.push_str(&shown);
        }
        text
    }

    /// A table of docker's (Go's tabwriter: each column as wide as its
    /// widest cell plus 3, and at least 10; the last one unpadded): cut at
    /// the header's column starts, each cell normalized, laid out again.
    fn docker_table(&self, output: &str) -> String {
        let lines: Vec<Vec<char>> = output.lines().map(|l| l.chars().collect()).collect();
        let header = &lines[0];
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

    /// A table of ps's (numbers right-aligned, one space apart, then the
    /// command, with `--forest`'s indentation): each cell normalized, the
    /// columns as wide as their widest cell.
    fn ps_table(&self, output: &str) -> String {
        let mut lines = output.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let numbers = header.len().saturating_sub(1);
        let mut rows: Vec<(Vec<String>, String)> = vec![(
            header[..numbers].iter().map(|h| h.to_string()).collect(),
            header.get(numbers).unwrap_or(&"").to_string(),
        )];
        for line in lines {
            let mut rest = line;
            let mut cells = Vec::new();
            for title in &header[..numbers] {
                rest = rest.trim_start();
                let end = rest.find(' ').unwrap_or(rest.len());
                let cell = self.normalize(&rest[..end]);
                // A session no process of the page leads: the shell's.
                let is_number = cell.bytes().all(|b| b.is_ascii_digit());
                cells.push(if *title == "SID" && is_number {
                    "<sid>".to_string()
                } else {
                    cell
                });
                rest = &rest[end..];
            }
            let command = rest.strip_prefix(' ').unwrap_or(rest);
            rows.push((cells, self.normalize(command)));
        }
        let widths: Vec<usize> = (0..numbers)
            .map(|k| {
                rows.iter()
                    .map(|(c, _)| c[k].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (cells, command) in &rows {
            let numbers: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:>width$}"))
                .collect();
            out.push_str(&format!("{} {command}\n", numbers.join(" ")));
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

/// Waits until the file at `path` holds `text`: a line printed by a daemon
/// or a container. Watched (inotify, on its directory) before each read, so
/// a write between the read and the wait is not missed.
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

/// A pidfd for process `pid`, opened before whatever ends it.
fn pidfd(pid: i32) -> PidFd {
    PidFd::open(pid).unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"))
}

fn wait_exit(process: &PidFd, what: &str) {
    assert!(
        process.wait_exit(HANG).unwrap(),
        "{what} did not exit within {HANG:?}"
    );
}

/// Whatever a session started goes with it, even after a failure: the
/// daemon (SIGTERM: it stops its containers), containers it could not
/// stop (their runtime ends them), mounts under `$d`, `$d` itself.
impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"exit\n");
        let _ = self.input.flush();
        let _ = self.shell.wait();
        let Some(dir) = self.dir.clone() else {
            return;
        };
        let daemon = std::fs::read_to_string(dir.join("minidockerd.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .and_then(|pid| PidFd::open(pid).ok().map(|fd| (pid, fd)));
        if let Some((pid, process)) = daemon {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if !process.wait_exit(Duration::from_secs(30)).unwrap_or(false) {
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

/// The daemon started by hand, the offline images, and `docker run`: a
/// line printed, a hostname and a loopback of its own, an exit code, a
/// command that is not there; `--rm` leaves nothing behind.
#[test]
fn privileged_transcript_engine_first_run() {
    let mut s = Session::new();
    s.start_daemon(true);
    let images = s.ok("docker images");
    assert!(
        images.contains("busybox") && images.contains("hello"),
        "{images}"
    );
    s.check("engine-start.txt");

    assert_eq!(s.ok("docker run --rm busybox echo hi"), "hi\n");
    let out = s.ok(
        r#"docker run --rm busybox sh -c 'echo "I am $(hostname), PID $$, with: $(ls /sys/class/net)"'"#,
    );
    assert!(out.ends_with(", PID 1, with: lo\n"), "{out}");
    assert_eq!(
        s.ok(&format!(
            "docker run --rm busybox sh -c 'exit 3'; {AND_STATUS}"
        )),
        "exit 3\n"
    );
    let out = s.ok(&format!("docker run --rm busybox nosuchcmd; {AND_STATUS}"));
    assert!(
        out.contains("executable file not found") && out.ends_with("exit 127\n"),
        "{out}"
    );
    let listed = s.ok("docker ps -a");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert_eq!(s.ok("ls $d/data/containers"), "");
    s.check("engine-run.txt");
}

/// A container in the background: ps, logs, exec, inspect; the processes
/// on the host; what the daemon keeps; stop and rm.
#[test]
fn privileged_transcript_engine_detached() {
    let mut s = Session::new();
    s.start_daemon(false);
    let id = s.ok(
        r#"docker run -d --name web busybox sh -c 'trap "echo got TERM; exit 0" TERM; echo started; sleep 1000 & wait'"#,
    );
    assert_eq!(id.trim().len(), 64, "{id}");
    // Its init forks the sleep after `docker run -d` has returned, and the
    // shim writes the line to the log when it has read it.
    s.wait_until(r#"pgrep -x -P "$(docker inspect -f '{{.State.Pid}}' web)" sleep >/dev/null"#);
    let log = s.container_log("web");
    wait_for_text(&log, "started");
    s.name_pid("$(docker inspect -f '{{.State.Pid}}' web)", "<init>");
    let listed = s.ok("docker ps");
    assert!(
        listed.contains(" Up ") && listed.contains("web"),
        "{listed}"
    );
    assert_eq!(s.ok("docker logs web"), "started\n");
    let ps = s.ok("docker exec web ps");
    assert!(ps.contains("sleep 1000"), "{ps}");
    let out = s.ok(r#"docker exec -e WHO=exec web sh -c 'echo "$WHO in $(hostname), in $PWD"'"#);
    assert!(
        out.starts_with("exec in ") && out.ends_with(", in /\n"),
        "{out}"
    );
    let inspect = s.ok(
        "docker inspect web | jq '.[0] | {Id, Name, Path, Args, State: .State | {Status, Pid, StartedAt}, LogPath, Runtime: .HostConfig.Runtime}'",
    );
    assert!(inspect.contains("\"running\""), "{inspect}");
    s.check("engine-detached.txt");

    s.ok("pid=$(docker inspect -f '{{.State.Pid}}' web); shim=$(ps -o ppid= -p $pid | tr -d ' ')");
    s.name_pid("$shim", "<shim>");
    s.name_pid("$(pgrep -P $pid)", "<sleep>");
    // Two commands: with --forest, ps lists the roots of its trees in PID
    // order, and PIDs wrap around.
    let daemon = s.ok("ps -o pid,ppid,sid,comm -p $(cat $d/minidockerd.pid)");
    assert!(daemon.contains("minidockerd"), "{daemon}");
    let forest = s.ok("ps --forest -o pid,ppid,sid,comm -p $shim,$pid,$(pgrep -P $pid)");
    assert!(
        forest.contains("minishim") && forest.contains("\\_ sh") && forest.contains("\\_ sleep"),
        "{forest}"
    );
    let args = s.ok(r"tr '\0' '\n' < /proc/$shim/cmdline");
    assert!(args.contains("--runtime-root"), "{args}");
    s.check("engine-processes.txt");

    s.ok("id=$(docker inspect -f '{{.Id}}' web); echo ${id:0:12}");
    let files = s.ok_sorted("ls $d/data/containers/$id");
    assert!(
        files.contains("container.json") && files.contains("config.json"),
        "{files}"
    );
    let record = s.ok("jq '{name, runtime, state}' $d/data/containers/$id/container.json");
    assert!(record.contains("\"running\""), "{record}");
    s.ok("jq -c '.process.args, .root, .hostname, .linux.cgroupsPath, [.linux.namespaces[] | select(.path)]' $d/data/containers/$id/config.json");
    let line = s.ok("cat $d/data/containers/$id/$id-json.log");
    assert!(line.contains("started"), "{line}");
    let mounted = s.ok("findmnt -n -o FSTYPE,TARGET $d/data/containers/$id/rootfs");
    assert!(mounted.starts_with("overlay"), "{mounted}");
    s.ok("ls $d/run $d/run/netns $d/run/shims/${id:0:12}");
    let netns = s.ok("findmnt -n -o FSTYPE,TARGET $d/run/netns/${id:0:12}");
    assert!(netns.starts_with("nsfs"), "{netns}");
    s.ok("jq -c . $d/run/shims/${id:0:12}/status.json");
    s.check("engine-data-root.txt");

    assert_eq!(s.ok("docker stop web"), "web\n");
    assert_eq!(s.ok("docker logs web"), "started\ngot TERM\n");
    let state = s.ok("docker inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}, pid {{.State.Pid}}' web");
    assert_eq!(state, "exited, exit code 0, pid 0\n");
    let listed = s.ok("docker ps -a");
    assert!(listed.contains("Exited (0)"), "{listed}");
    s.ok("ls $d/run/shims/${id:0:12}");
    assert_eq!(s.ok("docker rm web"), "web\n");
    assert_eq!(
        s.ok("ls $d/data/containers $d/run/netns $d/run/shims"),
        format!(
            "{d}/data/containers:\n\n{d}/run/netns:\n\n{d}/run/shims:\n",
            d = s.dir().display()
        )
    );
    s.check("engine-stop.txt");
}

/// The wait's head comes at once, its body when the condition holds: curl
/// shows the two apart.
#[test]
fn privileged_transcript_engine_wait() {
    let mut s = Session::new();
    s.start_daemon(false);
    s.ok("docker create --name later busybox sh -c 'exit 5'");
    s.ok("curl -s -N -D wait.head -o wait.body --unix-socket $d/d.sock -X POST 'http://docker/v1.50/containers/later/wait?condition=next-exit' &");
    // The head, as curl writes it when it arrives.
    let head = s.scratch.path().join("wait.head");
    wait_for_text(&head, "\r\n\r\n");
    let shown = s.ok(r"tr -d '\r' < wait.head");
    assert!(
        shown.starts_with("HTTP/1.1 200 OK\n") && shown.contains("Transfer-Encoding: chunked"),
        "{shown}"
    );
    s.fails("ls wait.body", 2);
    assert_eq!(s.ok("docker start later"), "later\n");
    assert_eq!(s.ok("wait; cat wait.body"), "{\"StatusCode\":5}\n");
    s.ok("docker rm later");
    s.check("engine-wait.txt");
}

/// A shim SIGKILLed under its running container, then the daemon: the
/// container lives on without either; the daemon, started again, finds its
/// containers in its data root and their shims in its exec root.
#[test]
fn privileged_transcript_engine_break() {
    let mut s = Session::new();
    s.start_daemon(false);
    s.ok("docker run -d --name victim busybox sleep 1000");
    s.wait_until(r#"[ "$(tr '\0' ' ' < /proc/$(docker inspect -f '{{.State.Pid}}' victim)/cmdline)" = 'sleep 1000 ' ]"#);
    s.ok(
        "pid=$(docker inspect -f '{{.State.Pid}}' victim); shim=$(ps -o ppid= -p $pid | tr -d ' ')",
    );
    s.name_pid("$pid", "<init>");
    let shim_pid = s.name_pid("$shim", "<shim>");
    // Opened before `ps` below shows the shim with this PID.
    let shim = pidfd(shim_pid);
    s.ok("ps --forest -o pid,ppid,sid,comm -p $shim,$pid");
    s.ok("kill -9 $shim");
    wait_exit(&shim, "the shim, SIGKILLed,");
    // The daemon's monitor thread notices when its connection ends, and
    // has the runtime end the container: `docker wait` returns then.
    assert_eq!(s.ok("docker wait victim"), "137\n");
    let said = s.ok("grep 'is gone' $d/daemon.log");
    assert!(said.contains("ending the container"), "{said}");
    let listed = s.ok("docker ps -a");
    assert!(
        listed.contains("Exited (137)") && listed.contains("victim"),
        "{listed}"
    );
    assert_eq!(
        s.ok("docker inspect -f '{{.State.Error}}' victim"),
        "its shim died while it ran: the runtime ended it\n"
    );
    // The runtime has forgotten it: its state and cgroup are gone.
    let forgotten = s.fails(
        "minirunc --root $d/run/runtime/minirunc state $(docker inspect -f '{{.Id}}' victim)",
        1,
    );
    assert!(forgotten.contains("does not exist"), "{forgotten}");
    assert_eq!(s.ok("docker rm victim"), "victim\n");
    s.check("engine-shim-killed.txt");

    for (name, code) in [("survivor", 7), ("early", 8)] {
        s.ok(&format!(
            r#"docker run -d --name {name} busybox sh -c 'trap "echo got TERM; exit {code}" TERM; echo started; sleep 1000 & wait'"#
        ));
        let log = s.container_log(name);
        wait_for_text(&log, "started");
    }
    s.ok("pid=$(docker inspect -f '{{.State.Pid}}' survivor); shim=$(ps -o ppid= -p $pid | tr -d ' ')");
    s.name_pid("$pid", "<init>");
    s.name_pid("$shim", "<shim>");
    s.ok("early=$(docker inspect -f '{{.Id}}' early)");
    let early_short = s.hidden("echo ${early:0:12}").trim().to_string();
    let early_status = s
        .dir()
        .join("run/shims")
        .join(early_short)
        .join("status.json");
    let daemon = pidfd(s.name_pid("$(cat $d/minidockerd.pid)", "<daemon>"));
    s.ok("kill -9 $(cat $d/minidockerd.pid)");
    wait_exit(&daemon, "the daemon, SIGKILLed,");
    let refused = s.fails("docker ps", 1);
    assert!(
        refused.contains("Cannot connect to the Docker daemon"),
        "{refused}"
    );
    let alive = s.ok("ps --forest -o pid,ppid,sid,comm -p $shim,$pid");
    assert_eq!(alive.lines().count(), 3, "{alive}");
    // One container ends while no daemon runs: its shim is all there is.
    s.ok("kill -TERM $(jq .pid $d/run/shims/${early:0:12}/status.json)");
    // The shim replaces its status file once it has reaped the container.
    wait_for_text(&early_status, "\"exited\"");
    let status =
        s.ok("jq -c '{status, exit_code, finished_at}' $d/run/shims/${early:0:12}/status.json");
    assert!(status.contains("\"exit_code\":8"), "{status}");
    s.ok(&daemon_line("daemon2.log"));
    wait_for_text(&s.dir().join("daemon2.log"), "API listen on");
    s.name_pid("$(cat $d/minidockerd.pid)", "<daemon>");
    let listed = s.ok("docker ps -a");
    assert!(
        listed.contains("Exited (8)") && listed.contains(" Up "),
        "{listed}"
    );
    assert_eq!(s.ok("docker logs early"), "started\ngot TERM\n");
    let state = s.ok("docker inspect -f '{{.State.Status}} {{.State.Pid}}' survivor; echo $pid");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines.len(), 2, "{state}");
    assert_eq!(lines[0], format!("running {}", lines[1]), "{state}");
    assert_eq!(s.ok("docker stop survivor"), "survivor\n");
    assert_eq!(s.ok("docker logs survivor"), "started\ngot TERM\n");
    assert_eq!(
        s.ok("docker inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}' survivor"),
        "exited, exit code 7\n"
    );
    assert_eq!(s.ok("docker rm early survivor"), "early\nsurvivor\n");
    s.check("engine-daemon-killed.txt");
}
