//! The sessions of the book's last page, "docker run, step by step"
//! (`book/src/docker-run.md`): ONE `docker run -it --rm busybox sh`,
//! followed through every layer while it runs.
//!
//! Two terminals, as the reader has them. The container's terminal is a
//! real pseudo-terminal: an interactive `bash` on its slave side (a session
//! of its own, the terminal its controlling one), where the `docker` CLI
//! runs in raw mode as it does for anybody, and the test reads the master
//! side as a terminal emulator would, rendering carriage returns and
//! erasures (busybox's `sh` redraws its prompt when the window's size
//! arrives). The other terminal is a root shell on pipes, as in
//! `tests/transcripts.rs`: each hop's commands are typed there while the
//! container runs, with their output.
//!
//! Every wait is on an exact event: a prompt or a line on the terminal, a
//! line in the daemon's log (inotify), a process's exit (a pidfd). The
//! sessions get placeholders for what changes from run to run (`$d`, IDs,
//! times, the host PIDs by role, namespace inodes by whose they are) and
//! are compared with `book/src/transcripts/step-*.txt`
//! (`UPDATE_TRANSCRIPTS=1 cargo test -p minidocker --test step_by_step`
//! rewrites them). Everything the test starts goes with it, even when it
//! fails: the terminal (its hangup ends the CLI), the daemon, the
//! containers, their mounts, the directory.

mod common;

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{HANG, MINIDOCKERD};
use namespaces::pidfd::PidFd;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// The container's terminal: 24 rows of 80 columns, the size the CLI
/// sends the daemon in its resize.
const ROWS: u16 = 24;
const COLUMNS: u16 = 80;

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
    for (program, flag, why) in [
        (
            "docker",
            "--version",
            "the real CLI (sudo scripts/provision.sh --test)",
        ),
        ("jq", "--version", "reads JSON (sudo apt-get install jq)"),
        (
            "socat",
            "-V",
            "talks to the shim's socket (sudo apt-get install socat)",
        ),
        (
            "ss",
            "-V",
            "lists the sockets (sudo apt-get install iproute2)",
        ),
        ("findmnt", "--version", "shows the mounts (util-linux)"),
        ("nsenter", "--version", "enters a namespace (util-linux)"),
    ] {
        let found = Command::new(program)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{program} is not installed: {why}");
    }
}

/// Whether this machine has the unified hierarchy (cgroup v2) only.
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// What varies from run to run, and what the page shows instead.
#[derive(Default)]
struct Placeholders {
    /// `$d`, once the shell has made it.
    dir: Option<PathBuf>,
    /// The root shell's working directory, shown as `.`.
    scratch: PathBuf,
    /// Exact texts learned during the session (an image's digest, a
    /// snapshot's name), replaced before the generic rules.
    literals: Vec<(String, &'static str)>,
    /// (host PID, role).
    pids: Vec<(String, &'static str)>,
    /// The inode numbers of the root shell's namespaces.
    host_namespaces: Vec<String>,
}

impl Placeholders {
    /// `text` with placeholders; host PIDs by role only where `pids` (a
    /// small PID, as under a PID namespace of CI's, would otherwise stand
    /// for a count or a limit).
    fn apply(&self, text: &str, pids: bool) -> String {
        let mut text = text.to_string();
        if let Some(dir) = &self.dir {
            text = text.replace(&dir.display().to_string(), "$d");
        }
        text = text.replace(&target_dir().display().to_string(), "…/target/debug");
        text = text.replace(&self.scratch.display().to_string(), ".");
        for (literal, placeholder) in &self.literals {
            text = text.replace(literal, placeholder);
        }
        text = self.namespaces(&text);
        // Clock ticks since boot (minirunc's state.json), before any PID.
        let text = api::transcript::replace(
            &text,
            &[(r#""start_time": \d+"#, r#""start_time": <ticks>"#)],
        );
        let mut text = api::transcript::normalize(&text);
        if pids {
            for (pid, placeholder) in &self.pids {
                text = api::transcript::replace(&text, &[(&format!(r"\b{pid}\b"), placeholder)]);
            }
        }
        api::transcript::replace(
            &text,
            &[
                // The host's busybox-static, whichever version it is.
                (
                    r"BusyBox v\S+ \([^)]*\) built-in shell",
                    "BusyBox <version> built-in shell",
                ),
            ],
        )
    }

    /// `TYPE:[INODE]`, as `readlink /proc/PID/ns/TYPE` prints it: the
    /// inode as `<host>` if it is one of the root shell's namespaces, else
    /// `<container>`.
    fn namespaces(&self, text: &str) -> String {
        const TYPES: [&str; 7] = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(":[") {
            let (before, after) = rest.split_at(at + 2);
            out.push_str(before);
            let named = TYPES.iter().any(|t| before.ends_with(&format!("{t}:[")));
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if named && digits > 0 && after[digits..].starts_with(']') {
                let whose = if self.host_namespaces.iter().any(|n| n == &after[..digits]) {
                    "<host>"
                } else {
                    "<container>"
                };
                out.push_str(whose);
                rest = &after[digits..];
            } else {
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }
}

/// How a recorded command's output is shown.
#[derive(Clone, Copy, PartialEq)]
enum Shown {
    Plain,
    /// With host PIDs by role.
    Pids,
    /// A `ps` table (PIDs by role, then laid out again).
    Ps,
}

struct Entry {
    command: String,
    output: String,
    shown: Shown,
}

/// The reader's root shell: a `bash` on pipes, the build directory first
/// on its PATH.
struct Session {
    shell: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    scratch: tempfile::TempDir,
    names: Placeholders,
    entries: Vec<Entry>,
    commands: usize,
}

/// The environment both terminals start with: C messages, UTC times, the
/// build directory on PATH.
fn base_env(command: &mut Command) {
    command
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                target_dir().display()
            ),
        )
        .env("HOME", "/root")
        .env("LC_ALL", "C")
        .env("TZ", "UTC");
}

impl Session {
    fn new() -> Session {
        require_tools();
        let scratch = tempfile::tempdir().unwrap();
        let mut command = Command::new("timeout");
        command
            .args([
                "--kill-after=5",
                "300",
                "bash",
                "--norc",
                "--noprofile",
                "-s",
            ])
            .current_dir(scratch.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        base_env(&mut command);
        // Every signal at its default, as in a root shell in a terminal
        // (the test harness leaves signals 32 and 33 ignored).
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
        let names = Placeholders {
            scratch: scratch.path().to_path_buf(),
            ..Placeholders::default()
        };
        let mut session = Session {
            shell,
            input,
            output,
            scratch,
            names,
            entries: Vec::new(),
            commands: 0,
        };
        session.hidden("exec 2>&1");
        let namespaces = session.hidden("for ns in /proc/$$/ns/*; do stat -L -c %i $ns; done");
        session.names.host_namespaces = namespaces.lines().map(str::to_string).collect();
        session
    }

    fn dir(&self) -> &Path {
        self.names
            .dir
            .as_deref()
            .expect("the daemon's directory is made")
    }

    fn execute(&mut self, line: &str) -> (String, i32) {
        self.commands += 1;
        api::transcript::run_in_shell(&mut self.input, &mut self.output, self.commands, line)
    }

    /// Runs `line`, records it with its output; it must exit with `code`.
    fn record(&mut self, line: &str, shown: Shown, code: i32) -> String {
        let (output, status) = self.execute(line);
        assert_eq!(status, code, "{line}:\n{output}\n{}", self.daemon_log());
        self.entries.push(Entry {
            command: line.to_string(),
            output: output.clone(),
            shown,
        });
        output
    }

    fn ok(&mut self, line: &str) -> String {
        self.record(line, Shown::Plain, 0)
    }

    fn ok_pids(&mut self, line: &str) -> String {
        self.record(line, Shown::Pids, 0)
    }

    fn ps(&mut self, line: &str) -> String {
        self.record(line, Shown::Ps, 0)
    }

    fn hidden(&mut self, line: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "(hidden) {line} failed:\n{out}");
        out
    }

    /// Shows host PID `pid` (a shell word, e.g. `$pid`) as `role`.
    fn name_pid(&mut self, pid: &str, role: &'static str) -> i32 {
        let value = self.hidden(&format!("echo {pid}")).trim().to_string();
        let number: i32 = value
            .parse()
            .unwrap_or_else(|_| panic!("{pid} is not a PID: {value:?}"));
        // 0 or 1 would stand for every such digit in the session.
        assert!(number > 1, "{pid} is {number}, not a process of ours");
        self.names.pids.push((value, role));
        number
    }

    /// Shows `literal` (the output of shell command `command`) as `placeholder`.
    fn name_text(&mut self, command: &str, placeholder: &'static str) -> String {
        let value = self.hidden(command).trim().to_string();
        assert!(
            value.len() >= 12,
            "{command}: {value:?} is too short to stand for anything"
        );
        self.names.literals.push((value.clone(), placeholder));
        value
    }

    fn daemon_log(&self) -> String {
        self.names
            .dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("daemon.log")).ok())
            .map(|log| format!("daemon log:\n{log}"))
            .unwrap_or_default()
    }

    /// Waits (hidden) until the shell condition `condition` holds: for a
    /// state of the kernel that no event announces (a connection's far end
    /// closed). Up to 30 s: a guard against a hang, not a time it takes.
    fn wait_until(&mut self, condition: &str) {
        let (out, status) = self.execute(&format!(
            "held=no; for _ in $(seq 300); do if {condition}; then held=yes; break; fi; sleep 0.1; done; [ $held = yes ]"
        ));
        assert_eq!(status, 0, "never happened: {condition}\n{out}");
    }

    /// The session since the last check, with placeholders.
    fn show(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&format!("$ {}\n", self.names.apply(&entry.command, false)));
            let output = self.names.apply(&entry.output, entry.shown != Shown::Plain);
            if entry.shown == Shown::Ps {
                text.push_str(&ps_table(&output));
            } else {
                text.push_str(&output);
            }
        }
        text
    }

    fn check(&mut self, name: &str) {
        api::transcript::check(name, &self.show());
        self.entries.clear();
    }
}

/// A `ps` table laid out again once its PIDs are placeholders: numbers
/// right-aligned, as wide as the widest cell, one space apart, then the
/// command with `--forest`'s indentation. A number left in the SID column
/// is the session of the reader's shell: `<sid>` (0 where that session's
/// leader is outside the PID namespace, as under CI).
fn ps_table(output: &str) -> String {
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
        for name in &header[..numbers] {
            rest = rest.trim_start();
            let end = rest.find(' ').unwrap_or(rest.len());
            let cell = &rest[..end];
            let is_number = cell.bytes().all(|b| b.is_ascii_digit());
            cells.push(if *name == "SID" && is_number {
                "<sid>".to_string()
            } else {
                cell.to_string()
            });
            rest = &rest[end..];
        }
        rows.push((cells, rest.strip_prefix(' ').unwrap_or(rest).to_string()));
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

/// Whatever the session started goes with it, even after a failure: the
/// daemon (SIGTERM: it stops its containers), containers it could not
/// stop (their runtime ends them), mounts under `$d`, `$d` itself.
impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"exit\n");
        let _ = self.input.flush();
        let _ = self.shell.wait();
        let Some(dir) = self.names.dir.clone() else {
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
        for runtime in ["minirunc", "logged"] {
            let root = dir.join("run/runtime").join(runtime);
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with('#') {
                    continue; // the seccomp cache
                }
                let _ = Command::new(target_dir().join("minirunc"))
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .output();
            }
        }
        common::unmount_under(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// What the terminal's master side has read so far, and whether the
/// slave side has been closed by every process that had it.
struct Screen {
    state: Mutex<(Vec<u8>, bool)>,
    changed: Condvar,
}

/// The container's terminal: an interactive `bash` on a pseudo-terminal,
/// with the environment the root shell's `$d` needs.
struct Terminal {
    master: Option<File>,
    bash: Child,
    screen: Arc<Screen>,
    /// Where in the bytes read the next awaited event may start.
    seen: usize,
    /// The first rendered line of the next transcript.
    line_mark: usize,
}

impl Terminal {
    fn open(session: &Session) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: ROWS,
            ws_col: COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        // Neither end may leak into a process that is not the terminal's:
        // the daemon holding the master would keep the terminal from ever
        // hanging up.
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .expect("FD_CLOEXEC");
        }
        let slave: OwnedFd = pty.slave;
        let mut command = Command::new("bash");
        command
            .args(["--norc", "--noprofile", "--noediting", "-i"])
            .current_dir(session.scratch.path())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        base_env(&mut command);
        command
            .env("TERM", "xterm")
            .env("PS1", "$ ")
            .env("HISTFILE", session.scratch.path().join("terminal-history"))
            .env("d", session.dir())
            .env("DOCKER_CONFIG", session.dir().join("docker-config"));
        // SAFETY: raw system calls only, between fork and exec.
        let bash = unsafe {
            command.pre_exec(|| {
                namespaces::exec::reset_signals()
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                // A session of its own, with the terminal as its controlling
                // one: job control, and the hangup when the terminal closes.
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
        .spawn()
        .expect("starting bash on a pseudo-terminal");
        // The slave's copies went with the Command: only bash (and what
        // it starts) holds it, so the master reads EIO when they are gone.
        drop(command);
        let master = File::from(pty.master);
        let screen = Arc::new(Screen {
            state: Mutex::new((Vec::new(), false)),
            changed: Condvar::new(),
        });
        let mut reader = master.try_clone().expect("dup of the master");
        let shared = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            loop {
                let read = reader.read(&mut buffer);
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                match read {
                    Ok(n) if n > 0 => state.0.extend_from_slice(&buffer[..n]),
                    // EIO: no process has the slave open any more.
                    _ => state.1 = true,
                }
                let ended = state.1;
                drop(state);
                shared.changed.notify_all();
                if ended {
                    return;
                }
            }
        });
        Terminal {
            master: Some(master),
            bash,
            screen,
            seen: 0,
            line_mark: 0,
        }
    }

    /// Waits until `text` appears after the last event waited for.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + HANG;
        let mut state = self.screen.state.lock().unwrap();
        loop {
            let bytes = &state.0[self.seen.min(state.0.len())..];
            if let Some(at) = bytes.windows(text.len()).position(|w| w == text.as_bytes()) {
                self.seen += at + text.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && !state.1,
                "{text:?} never appeared on the terminal; it shows:\n{}",
                render(&state.0).join("\n")
            );
            state = self.screen.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Types `line` and Enter, and waits for the prompt that follows its
    /// output: the line's echo, the newline of the Enter key (a redrawn
    /// prompt has none), then `prompt`.
    fn command(&mut self, line: &str, prompt: &str) {
        let master = self.master.as_mut().expect("the terminal is open");
        master
            .write_all(format!("{line}\n").as_bytes())
            .expect("typing on the terminal");
        self.wait_for(line);
        self.wait_for("\n");
        self.wait_for(prompt);
    }

    /// The terminal's lines since the last check, with placeholders, and
    /// with the line the cursor is on (a prompt) if `with_prompt`.
    fn check(&mut self, name: &str, names: &Placeholders, with_prompt: bool) {
        let lines = render(&self.screen.state.lock().unwrap().0);
        let last = lines.len() - 1;
        let end = if with_prompt { last + 1 } else { last };
        let mut text = String::new();
        for line in &lines[self.line_mark..end] {
            text.push_str(&names.apply(line, false));
            text.push('\n');
        }
        api::transcript::check(name, &text);
        self.line_mark = last;
    }
}

/// A hangup, as when the terminal's window is closed: SIGHUP to bash,
/// which sends it on to its jobs (a CLI still running in it) and exits.
/// (Closing the master would not do: the reader thread holds a copy.)
impl Drop for Terminal {
    fn drop(&mut self) {
        let pid = self.bash.id() as i32;
        let bash = PidFd::open(pid);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGHUP,
        );
        drop(self.master.take());
        let ended = bash
            .map(|fd| fd.wait_exit(HANG).unwrap_or(false))
            .unwrap_or(false);
        if !ended {
            let _ = self.bash.kill();
        }
        let _ = self.bash.wait();
    }
}

/// The lines a terminal shows for `bytes`: carriage returns go back to the
/// start of the line, erasures (`ESC [ J`, `ESC [ K`) cut it at the cursor,
/// other escape sequences (busybox asks the cursor's position) change
/// nothing on the screen.
fn render(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let mut column = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let line = lines.last_mut().expect("a line");
        match c {
            '\x1b' => {
                if chars.next() == Some('[') {
                    // Parameters, then a final byte from @ to ~.
                    let last = chars.by_ref().find(|c| ('@'..='~').contains(c));
                    if matches!(last, Some('J' | 'K')) {
                        line.truncate(column);
                    }
                }
            }
            '\r' => column = 0,
            '\n' => {
                lines.push(Vec::new());
                column = 0;
            }
            '\x08' => column = column.saturating_sub(1),
            c if c.is_control() => {}
            c => {
                while line.len() < column {
                    line.push(' ');
                }
                if column < line.len() {
                    line[column] = c;
                } else {
                    line.push(c);
                }
                column += 1;
            }
        }
    }
    lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_string())
        .collect()
}

/// Waits until the file at `path` holds `text` at least `count` times: a
/// line of the daemon's log. Watched (inotify, on its directory) before
/// each read, so a write between the read and the wait is not missed.
fn wait_for_text(path: &Path, text: &str, count: usize) {
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).expect("inotify_init");
    let dir = path.parent().expect("a directory");
    inotify
        .add_watch(
            dir,
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_CLOSE_WRITE,
        )
        .unwrap_or_else(|e| panic!("watching {}: {e}", dir.display()));
    let deadline = Instant::now() + HANG;
    loop {
        let content =
            String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if content.matches(text).count() >= count {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{text:?} never appeared {count} time(s) in {}; it holds:\n{content}",
            path.display(),
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

/// One `docker run -it --rm busybox sh`, hop by hop, while it runs; then
/// its end, and a second run with every call of the runtime written down.
#[test]
fn privileged_docker_run_step_by_step() {
    let mut s = Session::new();

    // A daemon of its own, with -D, and a second runtime: minirunc behind
    // a wrapper that writes down its command lines (used at the end).
    s.ok("d=$(mktemp -d)");
    let dir = s.hidden("echo $d").trim().to_string();
    assert!(dir.starts_with("/tmp/"), "{dir}");
    s.names.dir = Some(PathBuf::from(&dir));
    // The CLI's own config, not root's ~/.docker.
    s.hidden("mkdir $d/docker-config && export DOCKER_CONFIG=$d/docker-config");
    s.ok(r#"printf '#!/bin/sh\necho "$*" >> %s/calls.log\nexec %s "$@"\n' $d "$(command -v minirunc)" > $d/minirunc-logged"#);
    s.ok("chmod +x $d/minirunc-logged");
    s.ok("(minidockerd -D --add-runtime logged=$d/minirunc-logged --data-root $d/data --exec-root $d/run -H unix://$d/d.sock 2>$d/daemon.log & echo $! >$d/minidockerd.pid)");
    let log = s.dir().join("daemon.log");
    wait_for_text(&log, "API listen on", 1);
    s.name_pid("$(cat $d/minidockerd.pid)", "<daemon>");
    s.ok("export DOCKER_HOST=unix://$d/d.sock");
    s.check("step-0-daemon.txt");

    // The container's terminal.
    let mut t = Terminal::open(&s);
    t.wait_for("$ ");
    t.command("export DOCKER_HOST=unix://$d/d.sock", "$ ");
    t.command("docker run -it --rm busybox sh", "/ # ");
    // The CLI sends the window's size once the start is answered; the
    // shell redraws its prompt when it gets it (SIGWINCH).
    wait_for_text(&log, &format!("/resize?h={ROWS}&w={COLUMNS} 200 "), 1);
    t.check("step-0-run.txt", &s.names, true);

    // Hop 1: the HTTP exchange, from the daemon's debug log.
    let exchange = s.ok("grep -E '^c[0-9]+ (> [A-Z]+ |< HTTP/)' $d/daemon.log");
    for expected in [
        "> HEAD /_ping",
        "< HTTP/1.1 201 Created",
        "< HTTP/1.1 101 UPGRADED",
        "/wait?condition=removed",
        "< HTTP/1.1 204 No Content",
        &format!("/resize?h={ROWS}&w={COLUMNS}"),
    ] {
        assert!(exchange.contains(expected), "{expected}:\n{exchange}");
    }
    let tty = s.ok(r#"grep -o '"Tty":[a-z]*,"OpenStdin":[a-z]*,"StdinOnce":[a-z]*' $d/daemon.log"#);
    assert_eq!(tty, "\"Tty\":true,\"OpenStdin\":true,\"StdinOnce\":true\n");
    let raw = s.ok("grep 'Content-Type: application/vnd' $d/daemon.log");
    assert!(raw.contains("raw-stream"), "{raw}");
    s.check("step-1-http.txt");

    // Hop 2: the image in the store, the container's snapshot.
    let ids = s.ok_pids(
        "id=$(docker ps -q --no-trunc); pid=$(docker inspect -f '{{.State.Pid}}' $id); echo ${id:0:12} $pid",
    );
    assert_eq!(ids.split_whitespace().count(), 2, "{ids}");
    s.name_pid("$pid", "<init>");
    s.name_text(
        "docker image inspect -f '{{.Id}}' busybox | cut -d: -f2",
        "<busybox-id>",
    );
    s.name_text(
        "docker image inspect -f '{{index .RootFS.Layers 0}}' busybox | cut -d: -f2",
        "<busybox-layer>",
    );
    s.name_text("ls $d/data/snapshots", "<snapshot>");
    s.name_text(
        "findmnt -n -o OPTIONS $d/data/containers/$id/rootfs | tr , '\\n' | sed -n 's|^lowerdir=l/||p'",
        "<link>",
    );
    s.ok("docker image inspect -f '{{.Id}} {{.RootFS.Layers}}' busybox");
    s.ok("ls $d/data");
    let mounted = s.ok("findmnt -n -o FSTYPE,TARGET $d/data/containers/$id/rootfs");
    assert!(mounted.starts_with("overlay"), "{mounted}");
    let dirs = s.ok("findmnt -n -o OPTIONS $d/data/containers/$id/rootfs | tr , '\\n' | grep dir=");
    assert_eq!(dirs.lines().count(), 3, "{dirs}");
    s.ok("layer=$(docker image inspect -f '{{index .RootFS.Layers 0}}' busybox); cat $d/data/layers/${layer#sha256:}/link; echo");
    s.ok("find $d/data/snapshots | sort");
    let root = s.ok("findmnt --task $pid -n -o FSTYPE,TARGET /");
    assert_eq!(
        root.split_whitespace().collect::<Vec<_>>(),
        ["overlay", "/"]
    );
    s.check("step-2-snapshot.txt");

    // Hop 3: config.json, in the container's directory (its bundle).
    s.ok("cfg=$d/data/containers/$id/config.json");
    let process = s.ok("jq -c '.process.args, .process.terminal, .process.env' $cfg");
    assert!(process.starts_with("[\"sh\"]\ntrue\n"), "{process}");
    s.ok("jq -c '[.linux.namespaces[].type], .linux.cgroupsPath' $cfg");
    s.ok("jq -c '.linux.namespaces[] | select(.path)' $cfg");
    s.ok("jq -c '.mounts | length, map(.destination)' $cfg");
    s.check("step-3-config.txt");

    // Hop 4: the shim, its socket, its status file; the processes.
    let started = s.ok("grep -o 'debug: starting .*' $d/daemon.log");
    assert!(started.contains("\"--tty\" \"--stdin\""), "{started}");
    s.ok("shim=$(ps -o ppid= -p $pid | tr -d ' ')");
    let shim_pid = s.name_pid("$shim", "<shim>");
    // Opened while it runs: its exit is awaited at the end.
    let shim = PidFd::open(shim_pid).expect("pidfd_open of the shim");
    let daemon = s.ps("ps -o pid,ppid,sid,comm -p $(cat $d/minidockerd.pid)");
    assert!(daemon.contains("minidockerd"), "{daemon}");
    let forest = s.ps("ps --forest -o pid,ppid,sid,comm -p $shim,$pid");
    assert!(
        forest.contains("minishim") && forest.contains("\\_ sh"),
        "{forest}"
    );
    s.ok("readlink /proc/$pid/fd/0");
    let held = s.ok("readlink /proc/$shim/fd/* | grep -e ptmx -e json.log | sort -u");
    assert!(held.contains("/dev/pts/ptmx"), "{held}");
    s.ok("ls -F $d/run/shims/${id:0:12}");
    let status = s.ok_pids("jq -c . $d/run/shims/${id:0:12}/status.json");
    assert!(status.contains("\"running\""), "{status}");
    let listening =
        s.ok(r#"ss -xlpH src "$d/*" | awk '{split($NF, who, "\""); print $5, who[2]}' | sort"#);
    assert!(
        listening.contains("d.sock minidockerd") && listening.contains("ctl.sock minishim"),
        "{listening}"
    );
    // The daemon's connections to the shim: the attach it relays, and its
    // monitor's wait. (Any other, a status asked at the start, has closed
    // on the daemon's side: the shim's side follows.)
    s.wait_until(
        r#"[ "$(ss -xH state connected src $d/run/shims/${id:0:12}/ctl.sock | wc -l)" = 2 ]"#,
    );
    s.ok("ss -xH state connected src $d/run/shims/${id:0:12}/ctl.sock | wc -l");
    let answer = s.ok(r#"echo '{"op":"status"}' | socat - UNIX-CONNECT:$d/run/shims/${id:0:12}/ctl.sock | jq -c '.status | {status, started_at}'"#);
    assert!(answer.contains("\"running\""), "{answer}");
    s.check("step-4-shim.txt");

    // Hop 5: minirunc ran twice and exited; its state directory stays.
    let none = s.ok_pids("pgrep -P $(cat $d/minidockerd.pid) || echo 'no child'");
    assert_eq!(none, "no child\n");
    let children = s.ok_pids("pgrep -a -P $shim");
    assert_eq!(children.lines().count(), 1, "{children}");
    s.ok("ls -AF $d/run/runtime/minirunc $d/run/runtime/minirunc/$id");
    let state = s.ok_pids(
        "minirunc --root $d/run/runtime/minirunc state $id | jq -c '{status, pid, bundle}'",
    );
    assert!(state.contains("\"running\""), "{state}");
    s.ok_pids("jq '{pid, start_time, cgroup_path}' $d/run/runtime/minirunc/$id/state.json");
    s.ok("jq -c '{created_at, started_at}' $d/run/shims/${id:0:12}/status.json");
    s.check("step-5-runtime.txt");

    // Hop 6: the namespaces, from inside and from the host.
    t.command("hostname", "/ # ");
    t.command("echo $$", "/ # ");
    t.check("step-6-inside.txt", &s.names, false);
    s.ok("readlink /proc/$$/ns/{cgroup,ipc,mnt,net,pid,user,uts}");
    let theirs = s.ok("readlink /proc/$pid/ns/{cgroup,ipc,mnt,net,pid,user,uts}");
    assert_eq!(theirs.lines().count(), 7, "{theirs}");
    s.ok("stat -L -c 'net:[%i]' $d/run/netns/${id:0:12}");
    let nspid = s.ok_pids("grep NSpid /proc/$pid/status");
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");
    s.ok("nsenter --target $pid --uts hostname");
    s.check("step-6-namespaces.txt");

    // Hop 7: the cgroup, and a limit the daemon changes through the runtime.
    s.ok("cat /proc/$pid/cgroup");
    let (cgroup, transcript) = if cgroup_v2() {
        ("/sys/fs/cgroup/minidocker/$id", "step-7-cgroup-v2.txt")
    } else {
        ("/sys/fs/cgroup/pids/minidocker/$id", "step-7-cgroup-v1.txt")
    };
    s.ok(&format!("cg={cgroup}"));
    s.ok_pids("cat $cg/cgroup.procs");
    assert_eq!(s.ok("cat $cg/pids.max"), "max\n");
    s.ok("docker update --pids-limit 200 $id");
    assert_eq!(s.ok("cat $cg/pids.max"), "200\n");
    s.check(transcript);

    // Hop 8: the end.
    t.command("exit", "$ ");
    t.command("echo $?", "$ ");
    t.check("step-8-exit.txt", &s.names, false);
    // The two long requests end with the container; each one's line is
    // written once its last byte has gone.
    wait_for_text(&log, "/wait?condition=removed 200 ", 1);
    wait_for_text(&log, "&stream=1 101 ", 1);
    assert!(shim.wait_exit(HANG).unwrap(), "the shim did not exit");
    s.ok(
        r"grep -E '^c[0-9]+ POST \S+/(attach|wait)\?\S* [0-9]+ [0-9]+ms$' $d/daemon.log | sort -k3",
    );
    let listed = s.ok("docker ps -a");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let left = s.ok("ls $d/data/containers $d/data/snapshots $d/run/shims $d/run/netns");
    assert_eq!(
        left.lines()
            .filter(|l| !l.is_empty() && !l.ends_with(':'))
            .count(),
        0,
        "{left}"
    );
    let unmounted = s.ok("findmnt $d/data/containers/$id/rootfs || echo 'not mounted'");
    assert_eq!(unmounted, "not mounted\n");
    let reaped = s.ok("ps -o pid= -p $pid || echo 'no such process'");
    assert_eq!(reaped, "no such process\n");
    let gone = s.record(
        "minirunc --root $d/run/runtime/minirunc state $id",
        Shown::Plain,
        1,
    );
    assert!(gone.contains("does not exist"), "{gone}");
    assert_eq!(s.ok("find /sys/fs/cgroup -name $id | wc -l"), "0\n");
    let sockets = s.ok(r#"ss -xlH src "$d/*" | awk '{print $5}'"#);
    assert_eq!(sockets.lines().count(), 1, "{sockets}");
    s.check("step-8-gone.txt");

    // Once more, on the runtime that writes its calls down.
    t.command("docker run -it --rm --runtime logged busybox sh", "/ # ");
    wait_for_text(&log, &format!("/resize?h={ROWS}&w={COLUMNS} 200 "), 2);
    t.command("exit", "$ ");
    t.check("step-9-terminal.txt", &s.names, false);
    let calls = s.ok("cut -d' ' -f7- $d/calls.log");
    let verbs: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(verbs, ["create", "start", "delete"], "{calls}");
    s.ok("head -1 $d/calls.log | cut -d' ' -f1-6");
    s.check("step-9-calls.txt");
}
