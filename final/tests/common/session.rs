//! A root shell's session, recorded for the book: what the engine's
//! transcript tests share (`transcripts.rs` for the engine page,
//! `step_by_step.rs` for "docker run, step by step", `cli_transcripts.rs`
//! for the page on `minidocker`).
//!
//! Each test drives one long-lived `bash`, as the reader's root shell is:
//! variables carry from one command to the next, and a `minidockerd` of its
//! own runs in `d=$(mktemp -d)` (data root, exec root and socket), found with
//! its siblings in the build directory, first on the shell's PATH. The
//! session (`$ command` and its output, stderr merged as a terminal shows
//! it) gets placeholders for what changes from run to run, and is compared
//! with `book/src/transcripts/NAME` (`UPDATE_TRANSCRIPTS=1 cargo test -p
//! minidocker --test TEST` rewrites them):
//!
//! - `$d` for the daemon's directory, `.` for the shell's working
//!   directory, `…/target` for cargo's target directory (`…/target/debug`,
//!   where `minidockerd` finds `minishim` and `minirunc`);
//! - texts learned during the session, by what they are
//!   ([`Session::name_text`]: an image's digest, a snapshot's name);
//! - namespace inodes (`net:[INODE]`, as `readlink /proc/PID/ns/net`
//!   prints them) by whose they are: `<host>` for the root shell's,
//!   `<container>` for any other;
//! - IDs, RFC 3339 times and `/tmp` paths as every transcript shows them
//!   (`api::transcript::normalize`);
//! - what a page's programs print that varies ([`Page::rules`]), such as
//!   docker's relative times and sizes ([`DOCKER_OUTPUT`]);
//! - the host PIDs of the processes a page talks about, by role
//!   ([`Session::name_pid`]: `<daemon>`, `<shim>`, `<init>` for the
//!   container's PID 1, ...): in every output on a page that says so, else
//!   only in the outputs recorded as having them, where a small PID (as
//!   under CI's PID namespace) cannot stand for a count or a limit. A PID
//!   of 0 or 1 is refused: it would stand for every such digit in the
//!   session. The daemon's session is its shell's, no process of the page:
//!   `<sid>`, by its column of a `ps` table, never by a number replaced
//!   (it is 0 where the session's leader lives outside our PID namespace,
//!   as under CI).
//!
//! docker's tables and ps's are laid out again after the placeholders, as
//! the programs lay them out ([`Session::table`], [`Session::ps`]).
//!
//! The sessions wait on exact events, never on a time: a line in a file
//! (inotify: the daemon's "API listen on", a container's log line), a
//! process's exit (a pidfd), `wait` for a job of the shell. A state of the
//! kernel that announces itself to no one a shell could ask (a forked
//! process's `execve`) is a condition asked until it holds
//! ([`Session::wait_until`]). Everything a session starts goes with it,
//! even when it fails: the processes whose PIDs it left in `$d/*.pid` (the
//! daemon last: it stops its containers), containers the daemon could not
//! stop, their mounts, the directory.

use std::io::{BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use namespaces::pidfd::PidFd;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::{HANG, MINIDOCKERD};

/// Shows the exit status of the command before it.
pub const AND_STATUS: &str = "echo \"exit $?\"";

/// What the docker CLI and `minidocker` print that varies, as
/// `(regex, replacement)` rules.
pub const DOCKER_OUTPUT: &[(&str, &str)] = &[
    // Go's default time format (ps's CreatedAt).
    (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", "<time>"),
    // docker's relative times (go-units' HumanDuration).
    (
        r"Less than a second|About an? (minute|hour)|\b\d+ (second|minute|hour)s?\b",
        "<duration>",
    ),
    // Image sizes (the host's busybox, the toolchain's hello); a
    // container's size without -s is always 0B, and stays.
    (r"\b[1-9][0-9]*(\.[0-9]+)?[kMG]?B\b", "<size>"),
    // The daemon's Server header, the client's User-Agent.
    (
        r"minidocker(-client)?/\d+\.\d+\.\d+",
        "minidocker${1}/<version>",
    ),
];

/// What one page's sessions need and show that the others' do not.
pub struct Page {
    /// Programs its sessions run besides the build's, `docker` and `jq`:
    /// (name, the flag that makes it answer, what for and how to install).
    pub tools: &'static [(&'static str, &'static str, &'static str)],
    /// Whether every output shows host PIDs by role, not only those
    /// recorded as having them ([`Session::ok_pids`], [`Session::ps`]).
    pub pids_in_every_output: bool,
    /// Placeholders for what its programs print that varies, applied in
    /// order after `api::transcript::normalize`, before the PIDs.
    pub rules: &'static [&'static [(&'static str, &'static str)]],
}

/// One session at a time: each starts a daemon and containers, and reads
/// `ps`; a machine busy with another session is slower than no wait allows
/// for, and the tables of one must not show the other's processes.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where cargo put `minidockerd`, and beside it `minidocker`, `minishim`
/// and `minirunc`.
pub fn target_dir() -> &'static Path {
    Path::new(MINIDOCKERD).parent().expect("a directory")
}

fn require_tools(page: &Page) {
    super::require_root();
    for name in ["minidocker", "minishim", "minirunc"] {
        let path = target_dir().join(name);
        assert!(
            path.is_file(),
            "{} is missing: build the workspace first (cargo build --workspace)",
            path.display()
        );
    }
    let everyone_needs = [
        (
            "docker",
            "--version",
            "the real CLI (sudo scripts/provision.sh --test)",
        ),
        (
            "jq",
            "--version",
            "the sessions read JSON with it (sudo apt-get install jq)",
        ),
    ];
    for (program, flag, why) in everyone_needs.iter().chain(page.tools) {
        let found = Command::new(program)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{program} is not installed: {why}");
    }
}

/// The environment a shell of the reader's starts with: the build
/// directory first on PATH; C messages and sorting, times in UTC, stable
/// across hosts.
pub fn shell_env(command: &mut Command) {
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

/// How a recorded command's output is shown once placeholders are in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As printed.
    Text,
    /// With host PIDs by role, on a page that does not show them in every
    /// output.
    TextWithPids,
    /// `ls`: lines sorted again once names are placeholders (a real ID
    /// sorts before or after `config.json` depending on its first digit).
    SortedLines,
    /// A table of docker's (see [`Session::table`]).
    DockerTable,
    /// A table of ps's, host PIDs by role (see [`Session::ps`]).
    PsTable,
}

/// A command and what it printed, as recorded.
struct Entry {
    command: String,
    output: String,
    layout: Layout,
}

/// A root shell on pipes, the build directory first on its PATH.
pub struct Session {
    page: &'static Page,
    shell: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// The shell's working directory.
    scratch: tempfile::TempDir,
    /// `$d`, once the shell has made it.
    dir: Option<PathBuf>,
    entries: Vec<Entry>,
    /// (exact text, placeholder), replaced before the generic rules.
    literals: Vec<(String, &'static str)>,
    /// (host PID, role).
    pids: Vec<(String, &'static str)>,
    /// The inode numbers of the root shell's namespaces.
    host_namespaces: Vec<String>,
    commands: usize,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Session {
    pub fn new(page: &'static Page) -> Session {
        require_tools(page);
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let scratch = tempfile::tempdir().unwrap();
        let mut command = Command::new("timeout");
        // Longer than any session takes: a guard against a hang.
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
        shell_env(&mut command);
        // Every signal at its default, as in a root shell in a terminal:
        // glibc's posix_spawn leaves signals 32 and 33 ignored in what the
        // test harness starts, and the daemon and the CLI would inherit that.
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
            page,
            shell,
            input,
            output,
            scratch,
            dir: None,
            entries: Vec::new(),
            literals: Vec::new(),
            pids: Vec::new(),
            host_namespaces: Vec::new(),
            commands: 0,
            _one_at_a_time: guard,
        };
        // The shell's own errors go where a terminal shows them: with the output.
        session.hidden("exec 2>&1");
        let namespaces = session.hidden("for ns in /proc/$$/ns/*; do stat -L -c %i $ns; done");
        session.host_namespaces = namespaces.lines().map(str::to_string).collect();
        session
    }

    /// A session that begins where a page's first one left off: `$d`, a
    /// daemon in it, and `DOCKER_HOST` pointing at its socket, none of it
    /// shown.
    pub fn with_daemon(page: &'static Page) -> Session {
        let mut s = Session::new(page);
        s.make_dir(false);
        s.start_daemon(false);
        s.hidden("export DOCKER_HOST=unix://$d/d.sock");
        s
    }

    /// `$d`.
    pub fn dir(&self) -> &Path {
        self.dir.as_deref().expect("the daemon's directory is made")
    }

    /// The shell's working directory.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// A file in the shell's working directory.
    pub fn scratch_file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// Runs `line` in the shell: its output (stdout and stderr) and status.
    pub fn execute(&mut self, line: &str) -> (String, i32) {
        self.commands += 1;
        api::transcript::run_in_shell(&mut self.input, &mut self.output, self.commands, line)
    }

    /// Runs `line` and records it with its output, whatever its status.
    pub fn record(&mut self, line: &str, layout: Layout) -> (String, i32) {
        let (output, status) = self.execute(line);
        self.entries.push(Entry {
            command: line.to_string(),
            output: output.clone(),
            layout,
        });
        (output, status)
    }

    /// Runs `line` and records it; it must exit with `code`.
    fn record_exiting(&mut self, line: &str, layout: Layout, code: i32) -> String {
        let (out, status) = self.record(line, layout);
        assert_eq!(status, code, "{line}:\n{out}\n{}", self.daemon_log());
        out
    }

    /// Runs `line`, records it with its output; it must succeed.
    pub fn ok(&mut self, line: &str) -> String {
        self.record_exiting(line, Layout::Text, 0)
    }

    /// Like [`Session::ok`], the output's lines shown sorted (see
    /// [`Layout::SortedLines`]).
    pub fn ok_sorted(&mut self, line: &str) -> String {
        self.record_exiting(line, Layout::SortedLines, 0)
    }

    /// Like [`Session::ok`], the output with host PIDs by role.
    pub fn ok_pids(&mut self, line: &str) -> String {
        self.record_exiting(line, Layout::TextWithPids, 0)
    }

    /// Like [`Session::ok`], for a command that prints a table of docker's
    /// (Go's tabwriter as docker sets it up: each column as wide as its
    /// widest cell plus 3, and at least 10; the last one unpadded): cut at
    /// the header's column starts, each cell normalized, laid out again.
    pub fn table(&mut self, line: &str) -> String {
        self.record_exiting(line, Layout::DockerTable, 0)
    }

    /// Like [`Session::ok`], for a `ps` that prints a table (numbers
    /// right-aligned, one space apart, then the command, with `--forest`'s
    /// indentation): each cell normalized, host PIDs by role, a number left
    /// in the SID column `<sid>`, the columns as wide as their widest cell.
    pub fn ps(&mut self, line: &str) -> String {
        self.record_exiting(line, Layout::PsTable, 0)
    }

    /// Runs `line` and records it; it must exit with `code`.
    pub fn fails(&mut self, line: &str, code: i32) -> String {
        self.record_exiting(line, Layout::Text, code)
    }

    /// Runs `line` without recording it; it must succeed.
    pub fn hidden(&mut self, line: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "(hidden) {line} failed:\n{out}");
        out
    }

    /// Runs `line`, recorded if `shown`, else hidden; it must succeed.
    pub fn ok_or_hidden(&mut self, line: &str, shown: bool) -> String {
        if shown {
            self.ok(line)
        } else {
            self.hidden(line)
        }
    }

    /// Shows host PID `pid` (a shell word, e.g. `$pid`) as `role`.
    pub fn name_pid(&mut self, pid: &str, role: &'static str) -> i32 {
        let value = self.hidden(&format!("echo {pid}")).trim().to_string();
        let number: i32 = value
            .parse()
            .unwrap_or_else(|_| panic!("{pid} is not a PID: {value:?}"));
        // 0 or 1 would stand for every such digit in the session.
        assert!(number > 1, "{pid} is {number}, not a process of ours");
        self.pids.push((value, role));
        number
    }

    /// Shows the output of shell command `command` as `placeholder`.
    pub fn name_text(&mut self, command: &str, placeholder: &'static str) -> String {
        let value = self.hidden(command).trim().to_string();
        assert!(
            value.len() >= 12,
            "{command}: {value:?} is too short to stand for anything"
        );
        self.literals.push((value.clone(), placeholder));
        value
    }

    /// `d=$(mktemp -d)`, shown or not; remembers the directory.
    pub fn make_dir(&mut self, shown: bool) {
        self.ok_or_hidden("d=$(mktemp -d)", shown);
        let dir = self.hidden("echo $d").trim().to_string();
        assert!(dir.starts_with("/tmp/"), "{dir}");
        self.dir = Some(PathBuf::from(dir));
        // The docker CLI's own config, not root's ~/.docker.
        self.hidden("mkdir $d/docker-config && export DOCKER_CONFIG=$d/docker-config");
    }

    /// Starts the daemon in `$d` (the command shown or not), its stderr in
    /// `$d/daemon.log`; see [`Session::start_daemon_with`].
    pub fn start_daemon(&mut self, shown: bool) {
        self.start_daemon_with(&[], "daemon.log", shown);
    }

    /// `minidockerd FLAGS` in the background, its roots and socket in `$d`,
    /// its stderr in `$d/LOG`, its PID in `$d/minidockerd.pid`, shown as
    /// `<daemon>`; returns once the daemon says its socket listens. The
    /// parentheses: the daemon is not a job of the reader's shell (which
    /// would report it "Killed" at some later prompt), and its parent is
    /// PID 1, as a daemon's.
    pub fn start_daemon_with(&mut self, flags: &[&str], log: &str, shown: bool) {
        let flags: String = flags.iter().map(|flag| format!("{flag} ")).collect();
        self.ok_or_hidden(
            &format!(
                "(minidockerd {flags}--data-root $d/data --exec-root $d/run -H unix://$d/d.sock 2>$d/{log} & echo $! >$d/minidockerd.pid)"
            ),
            shown,
        );
        wait_for_text(&self.dir().join(log), "API listen on");
        self.name_pid("$(cat $d/minidockerd.pid)", "<daemon>");
    }

    /// The daemon's log so far, for a failure message.
    pub fn daemon_log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("daemon.log")).ok())
            .map(|log| format!("daemon log:\n{log}"))
            .unwrap_or_default()
    }

    /// Waits (hidden) until the shell condition `condition` holds: for a
    /// state of the kernel that no event the shell can wait on announces (a
    /// forked process's execve, a connection's far end closed). Up to 30 s:
    /// a guard against a hang, not a time it takes.
    pub fn wait_until(&mut self, condition: &str) {
        let (out, status) = self.execute(&format!(
            "held=no; for _ in $(seq 300); do if {condition}; then held=yes; break; fi; sleep 0.1; done; [ $held = yes ]"
        ));
        assert_eq!(status, 0, "never happened: {condition}\n{out}");
    }

    /// `text` with the placeholders for what varies, host PIDs by role if
    /// the page shows them in every output.
    pub fn normalize(&self, text: &str) -> String {
        self.normalize_with(text, self.page.pids_in_every_output)
    }

    /// `text` with the placeholders, host PIDs by role if `pids`.
    fn normalize_with(&self, text: &str, pids: bool) -> String {
        let mut text = text.to_string();
        if let Some(dir) = &self.dir {
            text = text.replace(&dir.display().to_string(), "$d");
        }
        // target/debug, and target/static (doctor finds minidocker-init there).
        let target = target_dir().parent().expect("the target directory");
        text = text.replace(&target.display().to_string(), "…/target");
        text = text.replace(&self.scratch.path().display().to_string(), ".");
        for (literal, placeholder) in &self.literals {
            text = text.replace(literal, placeholder);
        }
        text = self.namespaces(&text);
        text = api::transcript::normalize(&text);
        for rules in self.page.rules {
            text = api::transcript::replace(&text, rules);
        }
        if pids {
            for (pid, role) in &self.pids {
                text = api::transcript::replace(&text, &[(&format!(r"\b{pid}\b"), role)]);
            }
        }
        text
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

    /// The session since the last check, with placeholders, tables laid
    /// out again.
    fn show(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&format!("$ {}\n", entry.command));
            let pids = self.page.pids_in_every_output
                || matches!(entry.layout, Layout::TextWithPids | Layout::PsTable);
            let shown = match entry.layout {
                Layout::Text | Layout::TextWithPids => self.normalize_with(&entry.output, pids),
                Layout::SortedLines => {
                    let normalized = self.normalize_with(&entry.output, pids);
                    let mut lines: Vec<&str> = normalized.lines().collect();
                    lines.sort();
                    lines.iter().map(|l| format!("{l}\n")).collect()
                }
                Layout::DockerTable => self.docker_table(&entry.output, pids),
                Layout::PsTable => self.ps_table(&entry.output),
            };
            text.push_str(&shown);
        }
        text
    }

    /// See [`Session::table`].
    fn docker_table(&self, output: &str, pids: bool) -> String {
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
                        self.normalize_with(cell.trim_end(), pids)
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

    /// See [`Session::ps`].
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
                let cell = self.normalize_with(&rest[..end], true);
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
            rows.push((cells, self.normalize_with(command, true)));
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
    pub fn check(&mut self, name: &str) {
        api::transcript::check(name, &self.show());
        self.entries.clear();
    }
}

/// Whatever a session started goes with it, even after a failure: the
/// processes whose PIDs it left in `$d/*.pid` (a session removes such a
/// file once its process has gone), the daemon last (SIGTERM: it stops its
/// containers); containers it could not stop (their runtime ends them);
/// mounts under `$d`; `$d` itself.
impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"exit\n");
        let _ = self.input.flush();
        let _ = self.shell.wait();
        let Some(dir) = self.dir.clone() else {
            return;
        };
        let mut pid_files: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".pid"))
            .collect();
        pid_files.sort_by_key(|name| name == "minidockerd.pid");
        for file in pid_files {
            let Some(pid) = pid_in(&dir, &file) else {
                continue;
            };
            let Ok(process) = PidFd::open(pid) else {
                continue;
            };
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if !process.wait_exit(Duration::from_secs(30)).unwrap_or(false) {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = process.wait_exit(HANG);
            }
        }
        // A root per runtime the daemon knows (`minirunc`, and any added
        // with --add-runtime): minirunc or a wrapper of it.
        let runtime_roots = std::fs::read_dir(dir.join("run/runtime"))
            .into_iter()
            .flatten()
            .flatten();
        for root in runtime_roots {
            let Ok(containers) = std::fs::read_dir(root.path()) else {
                continue;
            };
            for container in containers.flatten() {
                if container.file_name().to_string_lossy().starts_with('#') {
                    continue; // the seccomp cache
                }
                let _ = Command::new(target_dir().join("minirunc"))
                    .arg("--root")
                    .arg(root.path())
                    .args(["delete", "--force"])
                    .arg(container.file_name())
                    .output();
            }
        }
        super::unmount_under(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The PID in `DIR/NAME`, if the file is there.
pub fn pid_in(dir: &Path, name: &str) -> Option<i32> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
}

/// A pidfd for process `pid`, opened before whatever ends it: then its
/// exit is that process's, whatever the PID becomes.
pub fn pidfd(pid: i32) -> PidFd {
    PidFd::open(pid).unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"))
}

/// Waits for the exit of `process` (`what`, in the failure message).
pub fn wait_exit(process: &PidFd, what: &str) {
    assert!(
        process.wait_exit(HANG).unwrap(),
        "{what} did not exit within {HANG:?}"
    );
}

/// Waits until the file at `path` holds `text`: a line printed by a
/// daemon, by a container or by a helper such as socat.
pub fn wait_for_text(path: &Path, text: &str) {
    wait_for_count(path, text, 1);
}

/// Waits until the file at `path` holds `text` at least `count` times.
/// Watched (inotify, on its directory) before each read, so a write
/// between the read and the wait is not missed.
pub fn wait_for_count(path: &Path, text: &str, count: usize) {
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
