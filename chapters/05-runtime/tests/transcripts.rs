//! The terminal sessions chapter 05's book page shows, recorded from real
//! runs of `minirunc` in a root shell: a bundle made with `ch02 mount` and
//! `minirunc spec`, edited with `jq`, run whole and in its create/start
//! halves, with hooks, under runc; a running container exec'd into,
//! paused and updated; the default seccomp profile at work; the real
//! dockerd running containers on minirunc; and broken on purpose.
//!
//! Each test drives one long-lived `bash`, as the reader's root shell is:
//! variables and functions carry from one command to the next. The session
//! (`$ command` and its output, stderr merged as a terminal shows it) gets
//! placeholders for what changes from run to run — PIDs, times, temp paths —
//! and is compared with `book/src/transcripts/ch05-*.txt`
//! (`UPDATE_TRANSCRIPTS=1 cargo test -p runtime --test transcripts`
//! rewrites them).
//!
//! Nothing touches the machine's own state: `minirunc`, `runc` and `ch02`
//! on the shell's PATH are scripts that add `--root` with a temp dir, shown
//! as the defaults (`/run/minirunc`, `/run/runc`,
//! `/var/lib/minidocker-workshop`), and each session's cgroups go under a
//! parent of its own (MINIDOCKER_CGROUP_PARENT), shown as `minidocker`.
//! runc names its cgroup after the container, so its IDs get the test's
//! PID, shown without it. The dockerd session's daemon has its roots and
//! socket in a temp dir, shown as `$d`, and what it makes outside them is
//! removed with it ([`session_dockerd`]). A few commands are *hidden*: they
//! run in the same shell but are not shown, to wait for what a reader waits
//! for by typing slower, or to make the bundle an earlier session made.

mod common;

use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use cgroups::hierarchy::Hierarchy;
use common::MINIRUNC;
use images::store::WORKSHOP_ROOT;

/// What the temp dirs are shown as: the programs' defaults.
const MINIRUNC_ROOT: &str = "/run/minirunc";
const RUNC_ROOT: &str = "/run/runc";

/// `edit FILE [JQ OPTIONS] FILTER`: config.json changed in place with jq.
const EDIT: &str =
    r#"edit() { file=$1; shift; jq "$@" "$file" > "$file.new" && mv "$file.new" "$file"; }"#;

/// Shows the exit status of the command before it.
const AND_STATUS: &str = "echo \"exit $?\"";

/// One session at a time: the sessions start containers and read `ps`, and
/// a machine busy with another session's containers would be slower than
/// the waits below allow for.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn require_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run sudo scripts/test.sh"
    );
    let works = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        works("runc", "--version"),
        "runc is not installed: sudo scripts/provision.sh --test"
    );
    assert!(
        works("jq", "--version"),
        "jq is not installed: the sessions edit config.json with it (sudo apt-get install jq)"
    );
    assert!(
        ch02().is_file(),
        "no {}: build chapter 02 first (cargo build -p images): the sessions make root filesystems with it",
        ch02().display()
    );
}

fn ch02() -> PathBuf {
    Path::new(MINIRUNC).with_file_name("ch02")
}

fn runc_path() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v runc"])
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A root shell with `minirunc`, `runc` and `ch02` on its PATH, each with a
/// `--root` of its own.
struct Session {
    shell: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// chapter 02's store (`ch02 --root`), with the offline busybox image.
    store: tempfile::TempDir,
    /// `minirunc --root`.
    state: tempfile::TempDir,
    /// `runc --root`.
    runc_state: tempfile::TempDir,
    /// The shell's working directory: bundles, hook logs.
    scratch: tempfile::TempDir,
    _bin: tempfile::TempDir,
    /// This session's cgroup parent, shown as `minidocker`.
    parent: String,
    /// The session so far, as recorded (before placeholders).
    text: String,
    /// (literal, placeholder), applied before the generic rules.
    names: Vec<(String, String)>,
    /// Host PIDs, shown as `<pid>`.
    pids: Vec<String>,
    commands: usize,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Session {
    fn new(name: &str) -> Session {
        require_tools();
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let store = tempfile::tempdir().unwrap();
        let images = images::store::ImageStore::open(store.path()).unwrap();
        images::rootfs::import_busybox(&images).unwrap();
        let state = tempfile::tempdir().unwrap();
        let runc_state = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let runc = runc_path();
        for (name, binary, root) in [
            ("minirunc", MINIRUNC.to_string(), state.path()),
            ("runc", runc, runc_state.path()),
            ("ch02", ch02().display().to_string(), store.path()),
        ] {
            let script = bin.path().join(name);
            let text = format!(
                "#!/bin/sh\nexec '{binary}' --root '{}' \"$@\"\n",
                root.display()
            );
            std::fs::write(&script, text).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let scratch = tempfile::tempdir().unwrap();
        let parent = format!("minidocker-transcript-{}-{name}", std::process::id());
        let mut command = Command::new("timeout");
        command
            .args([
                "--kill-after=5",
                "120",
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
                    bin.path().display()
                ),
            )
            .env("HOME", "/root")
            .env("MINIDOCKER_CGROUP_PARENT", &parent)
            // Stable across hosts: C messages and sorting, times in UTC.
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // The shell starts with every signal at its default action, as a
        // root shell in a terminal does: the test harness spawns children
        // with posix_spawn, whose glibc leaves signals 32 and 33 ignored in
        // them, and an ignored signal is inherited by everything the shell
        // starts (the signals session shows what a container inherits).
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
            store,
            state,
            runc_state,
            scratch,
            _bin: bin,
            parent,
            text: String::new(),
            names: Vec::new(),
            pids: Vec::new(),
            commands: 0,
            _one_at_a_time: guard,
        };
        // The shell's own errors go where a terminal shows them: with the output.
        session.hidden("exec 2>&1");
        session
    }

    /// `minirunc --root`, as the commands type it (shown as /run/minirunc).
    fn state_root(&self) -> String {
        self.state.path().display().to_string()
    }

    /// The bundle the first session makes, made again without a word: the
    /// sessions after it start where the reader is, with `edit` defined and
    /// the terminal turned off.
    fn with_bundle(&mut self) {
        self.hidden(
            "mkdir bundle && ch02 mount busybox bundle/rootfs >/dev/null && minirunc spec --bundle bundle",
        );
        self.hidden(EDIT);
        self.hidden(r#"edit bundle/config.json '.process.terminal = false | .hostname = "box"'"#);
    }

    /// Runs `line` in the shell: its output (stdout and stderr) and status.
    fn execute(&mut self, line: &str) -> (String, i32) {
        self.commands += 1;
        api::transcript::run_in_shell(&mut self.input, &mut self.output, self.commands, line)
    }

    /// Runs `line` and records it with its output; returns both.
    fn run(&mut self, line: &str) -> (String, i32) {
        let (out, status) = self.execute(line);
        self.text.push_str(&format!("$ {line}\n{out}"));
        (out, status)
    }

    /// Like [`Session::run`]; the command must succeed.
    fn ok(&mut self, line: &str) -> String {
        let (out, status) = self.run(line);
        assert_eq!(status, 0, "{line} failed:\n{out}");
        out
    }

    /// Like [`Session::run`]; the command must exit with `code`.
    fn fails(&mut self, line: &str, code: i32) -> String {
        let (out, status) = self.run(line);
        assert_eq!(status, code, "{line}:\n{out}");
        out
    }

    /// Runs `line` without recording it; it must succeed.
    fn hidden(&mut self, line: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "(hidden) {line} failed:\n{out}");
        out
    }

    /// Waits (hidden) until the shell condition `condition` holds: for a
    /// state of the kernel or of a file that no event the shell can wait on
    /// announces. Up to 30 s: a guard against a hang, not a time it takes.
    /// The condition is judged once each time: one that held may not hold
    /// when asked again (a file the container rewrites is empty a moment).
    fn wait_until(&mut self, condition: &str) {
        let (out, status) = self.execute(&format!(
            "held=no; for _ in $(seq 300); do if {condition}; then held=yes; break; fi; sleep 0.1; done; [ $held = yes ]"
        ));
        assert_eq!(status, 0, "never happened: {condition}\n{out}");
    }

    /// Waits (hidden) until process `pid` (a shell word) runs `command`:
    /// `start` and `exec --detach` return before the process's execve, and
    /// another process's execve is announced to no one a shell could ask
    /// (the netlink proc connector is not for shells); its command line
    /// changes.
    fn wait_for_exec(&mut self, pid: &str, command: &str) {
        self.wait_until(&format!(
            "[ \"$(tr '\\0' ' ' < /proc/{pid}/cmdline)\" = '{command} ' ]"
        ));
    }

    /// Runs `command` (hidden) and shows every PID it prints as `<pid>`.
    fn name_pids(&mut self, command: &str) -> Vec<String> {
        let pids: Vec<String> = self
            .hidden(command)
            .split_whitespace()
            .map(String::from)
            .collect();
        assert!(!pids.is_empty(), "{command} printed no PID");
        for pid in &pids {
            assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{command}: {pid}");
        }
        self.pids.extend(pids.iter().cloned());
        pids
    }

    /// A container ID of runc's: runc names its cgroup after it, at the top
    /// of every hierarchy, so it must be unique on the machine; shown as `id`.
    fn runc_id(&mut self, id: &str) -> String {
        let unique = format!("{id}-{}", std::process::id());
        self.names.push((unique.clone(), id.to_string()));
        unique
    }

    /// The session with placeholders for what varies.
    fn show(&self) -> String {
        let mut text = self.text.clone();
        let state = self.state_root();
        // The container's init is a copy of `minirunc create` until execve:
        // `ps` shows the wrapper's command line.
        text = text.replace(&format!("{MINIRUNC} --root {state}"), "minirunc");
        text = text.replace(&state, MINIRUNC_ROOT);
        text = text.replace(&self.runc_state.path().display().to_string(), RUNC_ROOT);
        text = text.replace(&self.store.path().display().to_string(), WORKSHOP_ROOT);
        text = text.replace(&self.parent, cgroups::PARENT);
        for (literal, placeholder) in &self.names {
            text = text.replace(literal, placeholder);
        }
        let text = api::transcript::normalize(&text);
        let text = replace_pids(&text, &self.pids);
        let rules: &[(&str, &str)] = &[
            // chapter 02's snapshot IDs.
            (r"snapshots/<short-id>/", "snapshots/<snapshot>/"),
            // The temp files containerd's shim hands the runtime (go-runc's
            // `runc-process<random>`, `pty<random>/pty.sock`).
            (r"--process /tmp/<dir>", "--process /tmp/runc-process<n>"),
            (
                r"--console-socket /tmp/<dir>/pty.sock",
                "--console-socket /tmp/pty<n>/pty.sock",
            ),
            // PIDs in the state JSON: minirunc's and the hooks'.
            (r#"("pid":\s*)[1-9][0-9]*"#, "${1}<pid>"),
            // Clock ticks since boot, in state.json.
            (r#"("start_time":\s*)[0-9]+"#, "${1}<ticks>"),
            // `ps -f`'s C, the CPU share in percent: 0 but on a busy machine.
            (r"(?m)^(root +<pid> +[0-9]+) +[0-9]+ ", "${1}  0 "),
            // `ps -f`'s start time.
            (
                r"(?m)^(root +<pid> +[0-9]+ +[0-9]+ )[0-9]{2}:[0-9]{2} ",
                "${1}hh:mm ",
            ),
            // ps right-aligns its PID column to the widest PID: how many
            // spaces surround <pid> depends on whether the machine's PIDs
            // have 4 digits or 5 today. Shown as with 5.
            (r"(?m)^ *<pid> +1 S ", "<pid>     1 S "),
            (r"(?m)^root +<pid> +1  0 ", "root     <pid>     1  0 "),
        ];
        let text = api::transcript::replace(&text, rules);
        relayout_lists(&text)
    }

    /// Compares the session so far with `book/src/transcripts/NAME`, and
    /// starts the next transcript from here.
    fn check(&mut self, name: &str) {
        api::transcript::check(name, &self.show());
        self.text.clear();
    }
}

/// Whatever a test leaves running, mounted or made goes with its session:
/// a failed test must not leave a container, a mount or a cgroup behind.
impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"exit\n");
        let _ = self.input.flush();
        let _ = self.shell.wait();
        // Containers the session left, killed and removed by their runtime.
        if let Ok(entries) = std::fs::read_dir(self.state.path()) {
            for entry in entries.flatten() {
                let _ = Command::new(MINIRUNC)
                    .arg("--root")
                    .arg(self.state.path())
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .env("MINIDOCKER_CGROUP_PARENT", &self.parent)
                    .output();
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.runc_state.path()) {
            for entry in entries.flatten() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(self.runc_state.path())
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .output();
            }
        }
        if let Ok(store) = images::store::ImageStore::open(self.store.path()) {
            for snapshot in images::snapshot::list(&store).unwrap_or_default() {
                let _ = images::snapshot::unmount(&store, &snapshot.target);
            }
        }
        // The cgroup parent, empty by now, in every hierarchy.
        let dirs: Vec<PathBuf> = match Hierarchy::detect() {
            Ok(Hierarchy::V1 { controllers, .. }) => {
                let mut dirs: Vec<PathBuf> = controllers
                    .values()
                    .map(|mount| mount.join(&self.parent))
                    .collect();
                dirs.sort();
                dirs.dedup();
                dirs
            }
            Ok(Hierarchy::V2 { root }) => vec![root.join(&self.parent)],
            Err(_) => Vec::new(),
        };
        for dir in dirs {
            if let Ok(children) = std::fs::read_dir(&dir) {
                for child in children.flatten().filter(|c| c.path().is_dir()) {
                    let _ = std::fs::remove_dir(child.path());
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// Host PIDs as `<pid>` where they stand alone (not inside a longer
/// number), keeping columns aligned: the run of spaces after the PID, or
/// the one before it, takes up the difference in length.
fn replace_pids(text: &str, pids: &[String]) -> String {
    let mut text = text.to_string();
    for pid in pids {
        text = text
            .split_inclusive('\n')
            .map(|line| replace_pid_in_line(line, pid))
            .collect();
    }
    text
}

fn replace_pid_in_line(line: &str, pid: &str) -> String {
    const SHOWN: &str = "<pid>";
    let longer = SHOWN.len() as isize - pid.len() as isize;
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(pid) {
        let before = &rest[..at];
        let after = &rest[at + pid.len()..];
        let joined = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        let previous = before.chars().next_back().or(out.chars().next_back());
        if joined(previous) || joined(after.chars().next()) {
            out.push_str(&rest[..at + pid.len()]);
            rest = after;
            continue;
        }
        out.push_str(before);
        let spaces_after = after.len() - after.trim_start_matches(' ').len();
        let spaces_before = out.len() - out.trim_end_matches(' ').len();
        let at_line_start = out.trim_end_matches(' ').is_empty();
        if longer != 0 && spaces_after >= 2 {
            out.push_str(SHOWN);
            let keep = (spaces_after as isize - longer).max(1) as usize;
            out.push_str(&" ".repeat(keep));
            rest = &after[spaces_after..];
        } else {
            if longer != 0 && (spaces_before >= 2 || (at_line_start && spaces_before > 0)) {
                let minimum = if at_line_start { 0 } else { 1 };
                let keep = (spaces_before as isize - longer).max(minimum) as usize;
                out.truncate(out.len() - spaces_before);
                out.push_str(&" ".repeat(keep));
            }
            out.push_str(SHOWN);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `minirunc list` lays out fixed-width columns; placeholders change the
/// widths of cells, so its tables are laid out again as it does.
fn relayout_lists(text: &str) -> String {
    let mut out = String::new();
    let mut in_list = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("$ ") {
            in_list = line.starts_with("$ minirunc list");
            out.push_str(line);
        } else if in_list && fields.len() == 6 {
            let row = format!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
            );
            out.push_str(&row);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// From an image to a bundle, and config.json section by section.
#[test]
fn privileged_transcript_bundle_and_run() {
    let mut s = Session::new("bundle");
    s.ok("mkdir bundle");
    let mounted = s.ok("ch02 mount busybox bundle/rootfs");
    assert!(
        mounted.starts_with("mounted busybox:latest at "),
        "{mounted}"
    );
    s.ok("minirunc spec --bundle bundle");
    assert_eq!(s.ok("ls bundle"), "config.json\nrootfs\n");
    let keys = s.ok("jq -c 'keys_unsorted' bundle/config.json");
    assert_eq!(
        keys,
        "[\"ociVersion\",\"process\",\"root\",\"mounts\",\"linux\"]\n"
    );
    let process = s.ok("jq '.process | del(.capabilities)' bundle/config.json");
    assert!(process.contains("\"terminal\": true"), "{process}");
    let caps = s.ok("jq -c '.process.capabilities | map_values(length)' bundle/config.json");
    assert!(caps.contains("\"bounding\":14"), "{caps}");
    s.ok("jq -c .root bundle/config.json");
    let mounts = s.ok(
        r#"jq -r '.mounts[] | "\(.destination) \(.type) \(.options | join(","))"' bundle/config.json"#,
    );
    assert_eq!(mounts.lines().count(), 7, "{mounts}");
    let namespaces = s.ok("jq -c '[.linux.namespaces[].type]' bundle/config.json");
    assert_eq!(
        namespaces,
        "[\"pid\",\"network\",\"ipc\",\"uts\",\"mount\",\"cgroup\"]\n"
    );
    let linux = s.ok("jq -c '.linux | map_values(length)' bundle/config.json");
    assert!(linux.contains("\"maskedPaths\""), "{linux}");
    let devices = s.ok("jq -c '.linux.resources.devices[]' bundle/config.json");
    assert!(
        devices.starts_with("{\"allow\":false,\"access\":\"rwm\"}\n"),
        "{devices}"
    );
    let again = s.fails("minirunc spec --bundle bundle", 1);
    assert!(again.contains("exists. Remove it first"), "{again}");
    s.check("ch05-bundle.txt");

    s.ok(EDIT);
    s.ok(r#"edit bundle/config.json '.process.terminal = false | .hostname = "box"'"#);
    s.ok(
        r#"edit bundle/config.json '.process.args = ["sh", "-c", "echo hello from $(hostname), PID $$; exit 3"]'"#,
    );
    let out = s.ok(&format!("minirunc run --bundle bundle first; {AND_STATUS}"));
    assert_eq!(out, "hello from box, PID 1\nexit 3\n");
    let state = s.state_root();
    // No container left; the compiled seccomp filters stay (a cache).
    assert_eq!(s.ok(&format!("ls -A {state}")), "#seccomp\n");
    s.check("ch05-run.txt");
}

/// create, then look: the init waits at the exec fifo; start, kill, delete.
#[test]
fn privileged_transcript_create_start() {
    let mut s = Session::new("create");
    s.with_bundle();
    let state = s.state_root();
    s.ok(r#"edit bundle/config.json '.process.args = ["sleep", "1000"]'"#);
    s.ok("minirunc create --bundle bundle --pid-file \"$PWD/web.pid\" web");
    let shown = s.ok("minirunc state web");
    assert!(shown.contains("\"status\": \"created\""), "{shown}");
    let listed = s.ok("minirunc list");
    assert!(listed.contains(" created "), "{listed}");
    assert_eq!(
        s.ok(&format!("ls -F {state}/web")),
        "exec.fifo|\nstate.json\n"
    );
    let saved = s.ok(&format!("cat {state}/web/state.json"));
    assert!(
        saved.contains("\"cgroup_path\": \"/minidocker-transcript-"),
        "{saved}"
    );
    let pid = s.name_pids("cat web.pid")[0].parse().unwrap();
    // Opened before `ps` below shows this PID waiting at the fifo: the PID
    // was the init's.
    let init = common::pidfd(pid);
    s.ok("pid=$(cat web.pid)");
    // Between "ready" and the fifo's open(2) the init runs for a moment;
    // that it sleeps there is the kernel's state, announced by no event.
    s.wait_until("[ \"$(cat /proc/$pid/wchan)\" = wait_for_partner ]");
    let waiting = s.ok("ps -ww -o pid,ppid,stat,wchan:20,args -p $pid");
    assert!(
        waiting.contains("wait_for_partner") && waiting.contains(" create --bundle bundle"),
        "not yet execve'd: {waiting}"
    );
    s.ok("minirunc start web");
    s.wait_for_exec("$pid", "sleep 1000");
    assert_eq!(s.ok(&format!("ls -F {state}/web")), "state.json\n");
    assert!(s.ok("minirunc state web | grep status").contains("running"));
    let running = s.ok("ps -o pid,ppid,stat,args -p $pid");
    assert!(running.contains("sleep 1000"), "{running}");
    let ps = s.ok("minirunc ps web");
    assert!(ps.contains("sleep 1000"), "{ps}");
    let twice = s.fails("minirunc start web", 1);
    assert_eq!(
        twice,
        "minirunc: cannot start an already running container\n"
    );
    // sleep is PID 1 and has no handler: SIGTERM is dropped (chapter 03).
    s.ok("minirunc kill web");
    // The kernel drops a signal PID 1 has no handler for as it is sent:
    // kill(2) returned and nothing is pending.
    assert_eq!(
        s.hidden("grep -E '^(SigPnd|ShdPnd):' /proc/$pid/status"),
        "SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
    );
    assert!(s.ok("minirunc state web | grep status").contains("running"));
    let refused = s.fails("minirunc delete web", 1);
    assert!(
        refused.contains("that is not stopped: running"),
        "{refused}"
    );
    s.ok("minirunc kill web KILL");
    common::wait_exit(&init, "the init, SIGKILLed,");
    let listed = s.ok("minirunc list");
    assert!(listed.contains(" stopped "), "{listed}");
    s.ok("minirunc delete web");
    // No container left; the compiled seccomp filters stay (a cache).
    assert_eq!(s.ok(&format!("ls -A {state}")), "#seccomp\n");
    assert_eq!(
        s.fails("minirunc state web", 1),
        "minirunc: container does not exist\n"
    );
    s.check("ch05-create-start.txt");
}

/// Every hook of the spec, each logging the state it was given on stdin.
#[test]
fn privileged_transcript_hooks() {
    let mut s = Session::new("hooks");
    s.with_bundle();
    s.ok(r#"printf '#!/bin/sh\n# An OCI hook: the state of the container comes on stdin.\necho "$1: $(cat)" >> %s\n' "$PWD/hooks.log" > log-hook"#);
    s.ok("chmod +x log-hook; cat log-hook");
    s.ok(r#"for stage in prestart createRuntime createContainer poststart poststop; do edit bundle/config.json --arg stage $stage --arg hook "$PWD/log-hook" '.hooks[$stage] = [{path: $hook, args: ["log-hook", $stage]}]'; done"#);
    s.ok(r#"edit bundle/config.json '.hooks.startContainer = [{path: "/bin/sh", args: ["sh", "-c", "cat > /started.json"]}]'"#);
    s.ok(r#"edit bundle/config.json '.process.args = ["echo", "the container ran"]'"#);
    assert_eq!(
        s.ok("minirunc run --bundle bundle hooked"),
        "the container ran\n"
    );
    let log = s.ok("cat hooks.log");
    let stages: Vec<&str> = log.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        stages,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ],
        "{log}"
    );
    let statuses: Vec<String> = log
        .lines()
        .map(|l| {
            let json: serde_json::Value = serde_json::from_str(l.split_once(": ").unwrap().1)
                .unwrap_or_else(|e| panic!("{l}: {e}"));
            json["status"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        statuses,
        ["creating", "creating", "creating", "running", "stopped"]
    );
    let started = s.ok("cat bundle/rootfs/started.json; echo");
    assert!(started.contains("\"status\":\"created\""), "{started}");
    s.check("ch05-hooks.txt");
}

/// runc runs minirunc's bundle, and minirunc runs runc's.
#[test]
fn privileged_transcript_interop() {
    let mut s = Session::new("interop");
    s.with_bundle();
    let probe = r#"["sh", "-c", "hostname; grep CapEff /proc/self/status"]"#;
    s.ok(&format!(
        "edit bundle/config.json '.process.args = {probe}'"
    ));
    let id = s.runc_id("from-minirunc-spec");
    let out = s.ok(&format!("runc run --bundle bundle {id}"));
    assert_eq!(out, "box\nCapEff:\t00000000a80425fb\n");
    s.ok("mkdir runc-bundle");
    s.ok("ch02 mount busybox runc-bundle/rootfs");
    s.ok("runc spec --bundle runc-bundle");
    let differs = s.ok(
        "jq -c '{terminal: .process.terminal, hostname, root, bounding: .process.capabilities.bounding}' runc-bundle/config.json",
    );
    assert!(differs.contains("\"hostname\":\"runc\""), "{differs}");
    s.ok(&format!(
        "edit runc-bundle/config.json '.process.terminal = false | .process.args = {probe}'"
    ));
    let out = s.ok("minirunc run --bundle runc-bundle from-runc-spec");
    assert_eq!(out, "runc\nCapEff:\t0000000020000420\n");
    s.check("ch05-interop.txt");
}

/// A hook that fails, a rootfs that is missing, a sysctl that would change
/// the host, a field minirunc does not implement.
#[test]
fn privileged_transcript_break_it() {
    let mut s = Session::new("break");
    s.with_bundle();
    let state = s.state_root();
    s.ok(r#"edit bundle/config.json '.process.args = ["true"] | .hooks.prestart = [{path: "/bin/sh", args: ["sh", "-c", "echo no network for you >&2; exit 3"]}]'"#);
    s.ok(r#"edit bundle/config.json --arg log "$PWD/poststop.json" '.hooks.poststop = [{path: "/bin/sh", args: ["sh", "-c", "cat > \($log)"]}]'"#);
    let out = s.ok(&format!(
        "minirunc create --bundle bundle broken; {AND_STATUS}"
    ));
    assert_eq!(
        out,
        "minirunc: prestart hook #0 (/bin/sh): exit status: 3: no network for you\nexit 1\n"
    );
    // No container left; the compiled seccomp filters stay (a cache).
    assert_eq!(s.ok(&format!("ls -A {state}")), "#seccomp\n");
    assert_eq!(
        s.fails("minirunc state broken", 1),
        "minirunc: container does not exist\n"
    );
    let poststop = s.ok("cat poststop.json; echo");
    assert!(poststop.contains("\"status\":\"stopped\""), "{poststop}");

    s.ok(r#"edit bundle/config.json 'del(.hooks) | .root.path = "rootfz"'"#);
    let out = s.fails("minirunc run --bundle bundle broken", 1);
    assert!(
        out.contains("rootfz) does not exist: No such file or directory"),
        "{out}"
    );

    s.ok(r#"edit bundle/config.json '.root.path = "rootfs" | .linux.sysctl = {"vm.swappiness": "10"}'"#);
    let out = s.fails("minirunc run --bundle bundle broken", 1);
    assert_eq!(
        out,
        "minirunc: sysctl \"vm.swappiness\" is not in a separate kernel namespace: it would change the host\n"
    );
    s.ok(r#"edit bundle/config.json '.linux.sysctl = {"net.ipv4.ip_forward": "1"} | .process.args = ["cat", "/proc/sys/net/ipv4/ip_forward"]'"#);
    assert_eq!(s.ok("minirunc run --bundle bundle broken"), "1\n");

    s.ok(r#"edit bundle/config.json 'del(.linux.sysctl) | .process.ioPriority = {class: "IOPRIO_CLASS_IDLE", priority: 7}'"#);
    let out = s.fails("minirunc run --bundle bundle broken", 1);
    assert_eq!(
        out,
        "minirunc: config.json asks for process.ioPriority, which minirunc does not support\n"
    );
    // No container left; the compiled seccomp filters stay (a cache).
    assert_eq!(s.ok(&format!("ls -A {state}")), "#seccomp\n");
    s.check("ch05-break.txt");
}

/// One more process in a running container: `minirunc exec`, in the
/// foreground, detached, with options, with a terminal.
#[test]
fn privileged_transcript_exec() {
    let mut s = Session::new("exec");
    s.with_bundle();
    s.ok(r#"edit bundle/config.json '.process.args = ["sleep", "1000"]'"#);
    s.ok("minirunc create --bundle bundle web && minirunc start web");
    s.wait_for_exec("$(minirunc state web | jq .pid)", "sleep 1000");
    assert_eq!(s.ok("minirunc exec web hostname"), "box\n");
    // PID 2 was hostname: the namespace numbers its processes in order.
    let ps = s.ok("minirunc exec web ps -o pid,ppid,comm");
    let rows: Vec<Vec<&str>> = ps.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        [
            ["PID", "PPID", "COMMAND"],
            ["1", "0", "sleep"],
            ["3", "0", "ps"]
        ],
        "{ps}"
    );
    s.ok("minirunc exec --detach --pid-file \"$PWD/exec.pid\" web sleep 999");
    s.wait_for_exec("$(cat exec.pid)", "sleep 999");
    let pid = s.hidden("cat exec.pid");
    s.name_pids(&format!(
        "echo {} $(minirunc state web | jq .pid)",
        pid.trim()
    ));
    let ps = s.ok("minirunc ps web");
    assert!(
        ps.contains("sleep 1000") && ps.contains("sleep 999"),
        "{ps}"
    );
    let inside = s.ok("minirunc exec web ps");
    assert!(
        inside.contains("    1 root") && inside.contains("sleep 999"),
        "{inside}"
    );
    let out = s.ok(&format!(
        r#"minirunc exec --env GREETING=hello --cwd /tmp --user 1000:1000 web sh -c 'echo "$GREETING from $(pwd), uid $(id -u), gid $(id -g)"; exit 3'; {AND_STATUS}"#
    ));
    assert_eq!(out, "hello from /tmp, uid 1000, gid 1000\nexit 3\n");
    let out = s.ok(&format!("minirunc exec web no-such-command; {AND_STATUS}"));
    assert!(out.ends_with("exit 127\n"), "{out}");
    assert_eq!(
        s.ok("minirunc exec web grep Seccomp: /proc/self/status"),
        "Seccomp:\t2\n"
    );
    // Twice: /dev/console is the first process's alone, the pty is new.
    for _ in 0..2 {
        assert_eq!(
            s.ok("minirunc exec --tty web tty | cat -A"),
            "/dev/pts/0^M$\n"
        );
    }
    s.ok("minirunc delete --force web");
    s.check("ch05-exec.txt");
}

/// pause and resume: the cgroup freezer stops a counter, and `update`
/// changes a limit of the running container.
#[test]
fn privileged_transcript_pause_resume_update() {
    let mut s = Session::new("pause");
    s.with_bundle();
    s.ok(
        r#"edit bundle/config.json '.process.args = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.1; done"]'"#,
    );
    s.ok("minirunc create --bundle bundle counter");
    assert_eq!(
        s.fails("minirunc pause counter", 1),
        "minirunc: container not running\n"
    );
    s.ok("minirunc start counter");
    // The counter's file, which the container writes: `counting` reads it.
    s.wait_until("[ -s bundle/rootfs/count ]");
    s.ok(
        r#"counting() { a=$(cat bundle/rootfs/count); for _ in $(seq 10); do sleep 0.5; [ "$(cat bundle/rootfs/count)" != "$a" ] && { echo counting; return; }; done; echo "stood still"; }"#,
    );
    assert_eq!(s.ok("counting"), "counting\n");
    s.ok("minirunc pause counter");
    assert!(
        s.ok("minirunc state counter | grep status")
            .contains("paused")
    );
    assert_eq!(s.ok("counting"), "stood still\n");
    assert_eq!(
        s.fails("minirunc exec counter true", 1),
        "minirunc: cannot exec in a paused container: minirunc resume it first\n"
    );
    s.ok("minirunc resume counter");
    assert!(
        s.ok("minirunc state counter | grep status")
            .contains("running")
    );
    assert_eq!(s.ok("counting"), "counting\n");
    s.ok(r#"echo '{"pids": {"limit": 20}}' | minirunc update --resources - counter"#);
    // pids.max of the container's cgroup: in the pids hierarchy on v1,
    // in the one tree on v2.
    let parent = s.parent.clone();
    assert_eq!(
        s.ok(&format!(
            "cat /sys/fs/cgroup/pids/{parent}/counter/pids.max 2>/dev/null || cat /sys/fs/cgroup/{parent}/counter/pids.max"
        )),
        "20\n"
    );
    s.ok("minirunc delete --force counter");
    s.check("ch05-pause.txt");
}

/// What the runtime says it supports, and the default seccomp profile:
/// unshare and mount refused by the filter even with CAP_SYS_ADMIN, and
/// reaching the kernel without it.
#[test]
fn privileged_transcript_seccomp() {
    let mut s = Session::new("seccomp");
    s.with_bundle();
    let out = s.ok("minirunc features | jq -c '{ociVersionMin, ociVersionMax, hooks}'");
    assert!(out.contains("\"startContainer\""), "{out}");
    let out = s.ok("minirunc features | jq -c '.linux | {namespaces, cgroup}'");
    assert!(out.contains("\"systemd\":false"), "{out}");
    let out = s.ok("minirunc features | jq -c '.linux.seccomp | {enabled, actions, operators}'");
    assert!(out.contains("\"SCMP_ACT_ERRNO\""), "{out}");
    assert_eq!(s.ok("grep ^Seccomp: /proc/self/status"), "Seccomp:\t0\n");
    let out = s.ok(
        "jq -c '.linux.seccomp | {defaultAction, defaultErrnoRet, architectures, rules: (.syscalls | length)}' bundle/config.json",
    );
    assert!(
        out.contains("\"defaultAction\":\"SCMP_ACT_ERRNO\""),
        "{out}"
    );
    let count = s.ok(
        "jq '.linux.seccomp.syscalls[0] | {action, names: (.names | length)}' bundle/config.json",
    );
    assert!(count.contains("SCMP_ACT_ALLOW"), "{count}");
    let rules = s.ok("jq -c '.linux.seccomp.syscalls[1:][]' bundle/config.json");
    assert!(rules.contains("\"clone3\""), "{rules}");
    s.ok(r#"edit bundle/config.json '(.process.capabilities | .bounding, .effective, .permitted) += ["CAP_SYS_ADMIN"]'"#);
    s.ok(
        r#"edit bundle/config.json '.process.args = ["sh", "-c", "grep ^Seccomp: /proc/self/status; unshare -U true && echo unshared; mount -t tmpfs none /tmp && echo mounted"]'"#,
    );
    let out = s.fails("minirunc run --bundle bundle filtered", 1);
    assert_eq!(
        out,
        "Seccomp:\t2\nunshare: unshare(0x10000000): Operation not permitted\n\
         mount: permission denied (are you root?)\n"
    );
    s.ok("edit bundle/config.json 'del(.linux.seccomp)'");
    let out = s.ok("minirunc run --bundle bundle unfiltered");
    assert_eq!(out, "Seccomp:\t0\nunshared\nmounted\n");
    s.check("ch05-seccomp.txt");
}

/// A profile that refuses write(2): the container dies at the exec fifo,
/// before its program, and cannot say why; loaded last (no_new_privs), it
/// is the program's writes that fail.
#[test]
fn privileged_transcript_break_seccomp() {
    let mut s = Session::new("break-seccomp");
    s.with_bundle();
    s.ok(
        r#"edit bundle/config.json '.process.args = ["sh", "-c", "echo hello || exit 42"] | .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["write"], action: "SCMP_ACT_ERRNO"}]}'"#,
    );
    assert_eq!(
        s.ok(&format!(
            "minirunc create --bundle bundle mute; {AND_STATUS}"
        )),
        "exit 0\n"
    );
    assert_eq!(
        s.ok(&format!("minirunc start mute; {AND_STATUS}")),
        "minirunc: the container's init died before it could start\nexit 1\n"
    );
    assert!(
        s.ok("minirunc state mute | grep status")
            .contains("stopped")
    );
    s.ok("minirunc delete mute");
    s.ok("edit bundle/config.json '.process.noNewPrivileges = true'");
    assert_eq!(
        s.ok(&format!("minirunc run --bundle bundle mute; {AND_STATUS}")),
        "exit 42\n"
    );
    s.check("ch05-break-seccomp.txt");
}

/// What the container would inherit without `reset_signals`: the init
/// waiting at the fifo still ignores what minirunc ignored; after execve,
/// nothing is ignored.
#[test]
fn privileged_transcript_break_signals() {
    let mut s = Session::new("break-signals");
    s.with_bundle();
    assert_eq!(
        s.ok("(trap '' HUP; grep -E '^Sig(Blk|Ign)' /proc/self/status)"),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000001\n"
    );
    s.ok(r#"edit bundle/config.json '.process.args = ["sleep", "1000"]'"#);
    s.ok("(trap '' HUP; minirunc create --bundle bundle --pid-file \"$PWD/sig.pid\" sig)");
    s.name_pids("cat sig.pid");
    s.ok("pid=$(cat sig.pid)");
    assert_eq!(
        s.ok("grep -E '^Sig(Blk|Ign)' /proc/$pid/status"),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\n"
    );
    s.ok("minirunc start sig");
    s.wait_for_exec("$pid", "sleep 1000");
    assert_eq!(
        s.ok("grep -E '^Sig(Blk|Ign)' /proc/$pid/status"),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
    s.ok("minirunc delete --force sig");
    // What it is for: a shell's trap, and a pipe's writer.
    s.ok(
        r#"edit bundle/config.json '.process.args = ["sh", "-c", "trap \"echo got HUP\" HUP; kill -HUP $$; echo done"]'"#,
    );
    assert_eq!(
        s.ok("(trap '' HUP; minirunc run --bundle bundle trapped)"),
        "got HUP\ndone\n"
    );
    s.ok(r#"edit bundle/config.json '.process.args = ["sh", "-c", "yes | head -1"]'"#);
    assert_eq!(s.ok("minirunc run --bundle bundle piped"), "y\n");
    s.check("ch05-break-signals.txt");
}

/// A dockerd of the session's (tests/common: isolated, its own roots and
/// socket in a temp dir), with minirunc registered through a wrapper that
/// appends each command line it is given to `calls.log` in the session's
/// directory, and the session's shell pointed at it. Dropped before the
/// session, which removes the cgroup parent dockerd was given.
fn session_dockerd(s: &mut Session) -> common::Dockerd {
    let wrapper = s.scratch.path().join(".minirunc-logged");
    common::logging_minirunc(&wrapper, &s.scratch.path().join("calls.log"));
    let parent = s.parent.clone();
    let dockerd = common::Dockerd::start(&wrapper, &parent);
    // The reader's `export DOCKER_HOST=unix://$d/docker.sock`.
    s.hidden(&format!(
        "export DOCKER_HOST=unix://{} DOCKER_CONFIG={}",
        dockerd.socket().display(),
        dockerd.cli_config().display()
    ));
    s.names
        .push((dockerd.dir.path().display().to_string(), "$d".into()));
    dockerd
}

#[test]
fn privileged_transcript_dockerd() {
    let mut s = Session::new("dockerd");
    let d = session_dockerd(&mut s);
    assert_eq!(
        s.ok("ch02 save busybox -o busybox.tar >/dev/null && docker load -i busybox.tar"),
        "Loaded image: busybox:latest\n"
    );
    let out = s.ok(&format!(
        "docker run --rm --runtime minirunc --network none busybox sh -c 'echo hello from $(hostname); exit 3'; {AND_STATUS}"
    ));
    assert!(
        out.starts_with("hello from ") && out.ends_with("exit 3\n"),
        "{out}"
    );
    s.ok(r#"docker run -d --name sleeper --runtime minirunc --network none busybox sh -c "trap 'exit 0' TERM; sleep 1000 & wait""#);
    // Its init forks the sleep after `docker run -d` has returned.
    s.wait_until("pgrep -x -P \"$(docker inspect -f '{{.State.Pid}}' sleeper)\" sleep >/dev/null");
    let ps = s.ok("docker exec sleeper ps");
    assert!(ps.contains("sleep 1000"), "{ps}");
    let top = s.ok("docker top sleeper -o pid,args");
    assert_eq!(top.lines().count(), 3, "{top}");
    // The same two PIDs, found without asking the runtime (which would
    // add a call to the log): the init and its child, the sleep.
    s.name_pids("p=$(docker inspect -f '{{.State.Pid}}' sleeper); echo $p $(pgrep -x -P $p sleep)");
    let tty = s.ok("docker exec -t sleeper tty | cat -A");
    assert_eq!(tty, "/dev/pts/0^M$\n");
    assert_eq!(
        s.ok("docker pause sleeper && docker inspect -f '{{.State.Status}}' sleeper && docker unpause sleeper"),
        "sleeper\npaused\nsleeper\n"
    );
    let out = s.ok("docker update --pids-limit 20 sleeper");
    // dockerd warns on every update: it was started with --ip-forward=false.
    assert!(out.starts_with("sleeper\n"), "{out}");
    assert_eq!(
        s.ok("docker stop sleeper && docker inspect -f '{{.State.ExitCode}}' sleeper && docker rm sleeper"),
        "sleeper\n0\nsleeper\n"
    );
    let first = s.ok("head -1 calls.log");
    assert!(first.starts_with("--root "), "{first}");
    let calls = s.ok("cut -d' ' -f7- calls.log");
    let verbs: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(verbs.first(), Some(&"create"), "{calls}");
    assert!(
        verbs.contains(&"exec") && verbs.contains(&"pause"),
        "{calls}"
    );
    drop(d);
    s.check("ch05-dockerd.txt");
}

const MINISHIM: &str = env!("CARGO_BIN_EXE_minishim");

/// A session for minishim: the bundle, `minishim` on the PATH, and the
/// `minirunc` wrapper leaving alone a `--root` it is given (the shim gives
/// its `--runtime-root`, shown as /run/minirunc, the same directory).
fn shim_session(name: &str) -> Session {
    let mut s = Session::new(name);
    s.with_bundle();
    let bin = s._bin.path().display().to_string();
    let state = s.state_root();
    s.hidden(&format!("ln -s '{MINISHIM}' '{bin}/minishim'"));
    s.hidden(&format!(
        r#"printf '#!/bin/sh\ncase "$1" in --root) exec %s "$@";; esac\nexec %s --root %s "$@"\n' '{MINIRUNC}' '{MINIRUNC}' '{state}' > '{bin}/minirunc'"#
    ));
    s
}

/// [`Session::check`], with two more placeholders: socat's date, time and
/// PID before its error messages, and `ps`'s rows laid out again with the
/// PID columns 5 wide (`<pid>` stands for 4 digits or 5).
fn check_shim(s: &mut Session, name: &str) {
    let text = api::transcript::replace(
        &s.show(),
        &[(
            r"(?m)^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} socat\[[0-9]+\] ",
            "yyyy/mm/dd hh:mm:ss socat[<pid>] ",
        )],
    );
    let text: String = text
        .lines()
        .map(|line| format!("{}\n", realign_ps_row(line)))
        .collect();
    api::transcript::check(name, &text);
    s.text.clear();
}

/// A `ps` row (two numbers or more, then a command) with each number
/// right-aligned in 5 columns; any other line as it is.
fn realign_ps_row(line: &str) -> String {
    let mut numbers = Vec::new();
    let mut rest = line.trim_start();
    while let Some(word) = rest.split_whitespace().next() {
        if word != "<pid>" && !word.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        numbers.push(format!("{word:>5}"));
        rest = rest[word.len()..].trim_start();
    }
    if numbers.len() < 2 || rest.is_empty() {
        return line.to_string();
    }
    format!("{} {rest}", numbers.join(" "))
}

/// A connection to the shim at `socket`, attached to the container's
/// stdout (before the start: nothing is missed).
fn shim_attach(socket: &Path) -> std::os::unix::net::UnixStream {
    use std::io::Read;
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream
        .write_all(b"{\"op\":\"attach\",\"stdout\":true}\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\n") {
        stream.read_exact(&mut byte).unwrap();
        answer.push(byte[0]);
    }
    assert_eq!(answer, b"{\"ok\":true,\"tty\":false}\n");
    stream
}

/// The bytes of the next frame from an attached shim, a stdout frame.
fn read_stdout_frame(stream: &mut impl std::io::Read) -> Vec<u8> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header[0], 1, "not stdout: {header:?}");
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).unwrap();
    bytes
}

/// The shim's command line in the sessions.
fn shim_command(s: &Session) -> String {
    format!(
        "minishim --bundle \"$PWD/bundle\" --id web --exec-root \"$PWD/e\" --runtime \"$(command -v minirunc)\" --runtime-root {}",
        s.state_root()
    )
}

/// minishim: create through the shim, its directory and status file, the
/// control socket's requests, the shim as the init's parent, the log.
#[test]
fn privileged_transcript_shim() {
    let mut s = shim_session("shim");
    s.ok(
        r#"edit bundle/config.json '.process.args = ["sh", "-c", "trap \"echo got TERM >&2; exit 3\" TERM; echo hello from web; sleep 1000 & wait"]'"#,
    );
    let socket = s.ok(&shim_command(&s));
    assert!(socket.ends_with("/e/web/ctl.sock\n"), "{socket}");
    s.ok("ls -F e/web");
    let status = s.ok("cat e/web/status.json");
    assert!(status.contains("\"status\": \"created\""), "{status}");
    assert_eq!(s.ok("cat e/web/web-json.log"), "");
    // Attached (hidden) before the start: the container's output comes to
    // us once the shim has logged it.
    let mut attached = shim_attach(&s.scratch.path().join("e/web/ctl.sock"));
    assert_eq!(
        s.ok(r#"echo '{"op":"start"}' | socat - UNIX-CONNECT:e/web/ctl.sock"#),
        "{\"ok\":true}\n"
    );
    let mut said = Vec::new();
    while !said.ends_with(b"hello from web\n") {
        said.extend_from_slice(&read_stdout_frame(&mut attached));
    }
    drop(attached);
    let pids = s.name_pids("pid=$(jq .pid e/web/status.json); echo $pid $(ps -o ppid= -p $pid)");
    // Opened before `ps` below shows the shim with this PID.
    let shim = common::pidfd(pids[1].parse().unwrap());
    s.ok("pid=$(jq .pid e/web/status.json); shim=$(ps -o ppid= -p $pid)");
    let forest = s.ok("ps --forest -o pid,ppid,sid,comm -p $shim,$pid");
    assert!(
        forest.contains("minishim") && forest.contains("\\_ sh"),
        "{forest}"
    );
    let status =
        s.ok(r#"echo '{"op":"status"}' | socat - UNIX-CONNECT:e/web/ctl.sock | jq -c .status"#);
    assert!(status.contains("\"status\":\"running\""), "{status}");
    let log = s.ok("cat e/web/web-json.log");
    assert_eq!(log.lines().count(), 1, "{log}");
    s.ok(r#"echo '{"op":"wait"}' | socat -t 30 - UNIX-CONNECT:e/web/ctl.sock > waited.json &"#);
    // The waiter's request is in the shim's socket before the signal: a
    // reader types slower. socat's 14 bytes written (/proc/PID/io), since
    // nothing announces another program's write; the shim answers every
    // request sent before it stops taking connections.
    s.wait_until(r#"[ "$(awk '$1 == "wchar:" {print $2}' /proc/$!/io)" -ge 14 ]"#);
    assert_eq!(
        s.ok(r#"echo '{"op":"signal","signal":15}' | socat - UNIX-CONNECT:e/web/ctl.sock"#),
        "{\"ok\":true}\n"
    );
    let waited = s.ok("wait; jq . waited.json");
    assert!(
        waited.contains("\"status\": \"exited\"") && waited.contains("\"exit_code\": 3"),
        "{waited}"
    );
    // The waiter answered, the shim removes its socket and exits.
    common::wait_exit(&shim, "the shim");
    let log = s.ok("cat e/web/web-json.log");
    assert!(log.contains("got TERM"), "{log}");
    s.ok("ls -F e/web");
    let status = s.ok("cat e/web/status.json");
    assert!(status.contains("\"status\": \"exited\""), "{status}");
    assert_eq!(
        s.fails("minirunc state web", 1),
        "minirunc: container does not exist\n"
    );
    check_shim(&mut s, "ch05-shim.txt");
}

/// A killed shim: the container lives on, adopted by PID 1, and the
/// runtime ends it.
#[test]
fn privileged_transcript_shim_killed() {
    let mut s = shim_session("shim-killed");
    s.ok(r#"edit bundle/config.json '.process.args = ["sleep", "1000"]'"#);
    s.ok(&shim_command(&s));
    s.ok(r#"echo '{"op":"start"}' | socat - UNIX-CONNECT:e/web/ctl.sock"#);
    s.wait_for_exec("$(jq .pid e/web/status.json)", "sleep 1000");
    let pids = s.name_pids("pid=$(jq .pid e/web/status.json); echo $pid $(ps -o ppid= -p $pid)");
    // Opened before `ps` below shows the shim with this PID.
    let shim = common::pidfd(pids[1].parse().unwrap());
    s.ok("pid=$(jq .pid e/web/status.json); shim=$(ps -o ppid= -p $pid)");
    s.ok("ps -o pid,ppid,comm -p $shim,$pid");
    s.ok("kill -KILL $shim");
    // Exited: its orphan re-parented, its descriptors closed.
    common::wait_exit(&shim, "the shim, SIGKILLed,");
    let orphan = s.ok("ps -o pid,ppid,comm -p $pid");
    assert!(orphan.contains("sleep"), "{orphan}");
    s.ok(&format!(
        r#"echo '{{"op":"status"}}' | socat - UNIX-CONNECT:e/web/ctl.sock; {AND_STATUS}"#
    ));
    s.ok("ls -F e/web");
    assert_eq!(s.ok("jq -r .status e/web/status.json"), "running\n");
    assert_eq!(s.ok("minirunc state web | jq -r .status"), "running\n");
    s.ok("minirunc delete --force web");
    assert_eq!(
        s.fails("minirunc state web", 1),
        "minirunc: container does not exist\n"
    );
    check_shim(&mut s, "ch05-shim-killed.txt");
}
