//! The terminal sessions chapter 04's book page shows, recorded from real
//! runs: `ch04` against a store in a temp dir, and the ordinary tools (`ls`,
//! `cat`, `echo >`) on the cgroup files it makes.
//!
//! Each test drives one shell, kept open from the first command to the last
//! as a terminal is, so that variables and background jobs carry over
//! (`ch04 run … &`, then `cat` its cgroup files, then `wait $!`). It records
//! `$ command` and the output, replaces what varies with placeholders, and
//! compares the text with `book/src/transcripts/ch04-*.txt`
//! (`UPDATE_TRANSCRIPTS=1 cargo test -p cgroups --test transcripts` rewrites
//! them).
//!
//! What the files look like depends on the cgroup version, so the sessions
//! that show cgroup files are recorded once per version: `ch04-NAME-v1.txt`
//! on a v1 or hybrid machine (CI), `ch04-NAME-v2.txt` on a v2 one (the
//! learners' VM). The others (`ch04-oom.txt`, `ch04-pids.txt`,
//! `ch04-devices.txt`) print the same on both and are checked on both. The
//! v2 files come from the throw-away VM of scripts/vm-test.sh, which keeps
//! nothing, so the test binary runs there with UPDATE_TRANSCRIPTS=1 and the
//! files are printed to the console and copied out:
//!
//! ```text
//! bin=$(cargo test -p cgroups --test transcripts --no-run --message-format=json \
//!     | grep -o '"executable":"[^"]*transcripts-[^"]*"' | cut -d'"' -f4)
//! t=$PWD/book/src/transcripts
//! sudo scripts/vm-test.sh --file "$bin" --file target/debug/ch04 --file "$t" \
//!     --file /usr/bin/ls --file /usr/bin/stat --file /usr/bin/echo \
//!     --env UPDATE_TRANSCRIPTS=1 -- /bin/sh -c \
//!     "$bin privileged_transcript --test-threads=1 && cd $t && \
//!      for f in ch04-*-v2.txt; do echo \"=== \$f\"; cat \$f; done"
//! ```
//!
//! and each file's text is copied from the console output. coreutils' `ls`,
//! `stat` and `echo` go in, and the host's `/bin/sh` (the program itself),
//! because the VM's own are busybox's, whose messages and layout are not
//! what the learners' Ubuntu prints (and whose `sh` prefers its own
//! applets to those files). To check them there instead, run `/bin/sh -c
//! "$bin privileged_transcript"` with `--env CI=true` and one more `--file
//! chapters/01-client-server/Cargo.toml`: the transcripts' directory is
//! found through that package's directory.
//!
//! Each session has a cgroup parent of its own (MINIDOCKER_CGROUP_PARENT),
//! shown as the default `minidocker`: sessions run side by side, and a
//! listing of the parent shows only its own containers.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use cgroups::hierarchy::Hierarchy;
use common::{CH04, Store, cgroup_dir, cgroup_exists, is_v2, require_root, stat};
use images::store::WORKSHOP_ROOT;

/// `ch04` as the reader types it: the store's temp root added.
const PRELUDE: &str = r#"ch04() { "$CH04_BIN" --root "$CH04_ROOT" "$@"; }"#;

/// What the stats lines hold that changes from run to run.
const NOW: (&str, &str) = (r"(memory:  )[0-9.]+ MiB now", "${1}<n> MiB now");
const PEAK: (&str, &str) = (r"[0-9.]+ MiB peak", "<n> MiB peak");
const SECONDS: (&str, &str) = (r"\b[0-9]+\.[0-9]{3} s\b", "<n> s");

/// One command and its output, with the placeholders it alone needs.
struct Piece {
    text: String,
    rules: Vec<(String, String)>,
}

/// A shell session: one `sh`, fed one command at a time.
struct Session {
    store: Store,
    /// The shell's working directory, where the logs of background runs go.
    scratch: tempfile::TempDir,
    /// Each command's output, captured here (out of the reader's sight).
    work: tempfile::TempDir,
    /// This session's cgroup parent, shown as `minidocker`.
    parent: String,
    shell: Child,
    stdin: ChildStdin,
    done: BufReader<ChildStdout>,
    pieces: Vec<Piece>,
    /// The placeholders of the stats lines, for the commands to come.
    stat_rules: Vec<(&'static str, &'static str)>,
}

impl Session {
    fn new(name: &str) -> Session {
        require_root();
        let store = Store::new();
        let scratch = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let parent = format!("minidocker-transcript-{}-{name}", std::process::id());
        let mut shell = Command::new("sh")
            .current_dir(scratch.path())
            .env("CH04_BIN", CH04)
            .env("CH04_ROOT", &store.root)
            .env("MINIDOCKER_CGROUP_PARENT", &parent)
            // Stable across hosts: byte order, UTC, `ls -x` 80 columns wide
            // and aligned with spaces (a terminal shows its tabs as spaces).
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("COLUMNS", "80")
            .env("TABSIZE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting sh");
        let mut stdin = shell.stdin.take().unwrap();
        let done = BufReader::new(shell.stdout.take().unwrap());
        writeln!(stdin, "{PRELUDE}").unwrap();
        Session {
            store,
            scratch,
            work,
            parent,
            shell,
            stdin,
            done,
            pieces: Vec::new(),
            stat_rules: vec![NOW, PEAK, SECONDS],
        }
    }

    /// Runs `line` in the shell, records it, and returns its output (stdout
    /// and stderr together, as a terminal shows them) and exit status.
    fn exec(&mut self, line: &str, rules: &[(&str, &str)]) -> (String, i32) {
        let out = self.work.path().join("out");
        // A group, not a subshell: `cd`, variables and jobs stay. `$?` is
        // set again afterwards, so that a later `echo $?` sees this command's.
        writeln!(
            self.stdin,
            "{{ {line}\n}} >{out} 2>&1 </dev/null; __status=$?; echo \"__done $__status\"; (exit $__status)",
            out = out.display()
        )
        .unwrap();
        self.stdin.flush().unwrap();
        let mut status = String::new();
        self.done.read_line(&mut status).unwrap();
        let status: i32 = status
            .strip_prefix("__done ")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("the shell stopped at {line:?} (a syntax error?)"));
        let mut text = std::fs::read_to_string(&out).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let mut all: Vec<(String, String)> = rules
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        all.extend(
            self.stat_rules
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string())),
        );
        self.pieces.push(Piece {
            text: format!("$ {line}\n{text}"),
            rules: all,
        });
        (text, status)
    }

    /// Runs `line`, which must succeed.
    fn ok(&mut self, line: &str) -> String {
        let (text, status) = self.exec(line, &[]);
        assert_eq!(status, 0, "{line} failed:\n{text}");
        text
    }

    /// Runs `line`, whatever its exit status.
    fn run(&mut self, line: &str) -> (String, i32) {
        self.exec(line, &[])
    }

    /// Waits (unrecorded: the reader types slower) until `file`, the log of
    /// a background run, has the line `ch04 run` prints once the container
    /// is in its cgroup; returns the container's ID. Each write to the log
    /// wakes the wait (inotify); an error from ch04 ends it at once.
    fn wait_for_cgroup(&self, file: &str) -> String {
        let path = self.scratch.path().join(file);
        let prefix = format!("cgroup: /{}/", self.parent);
        let mut text = String::new();
        let found = common::watch_until(&[self.scratch.path().to_path_buf()], || {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(id) = text.lines().find_map(|l| l.strip_prefix(&prefix)) {
                return Some(Some(id.to_string()));
            }
            // ch04 stopped before the container started: no line is coming.
            text.lines().any(|l| l.starts_with("ch04:")).then_some(None)
        });
        found
            .flatten()
            .unwrap_or_else(|| panic!("no cgroup line in {file}: {text}"))
    }

    /// The stats lines of the commands to come keep their peak memory.
    fn keep_peak(&mut self) {
        self.stat_rules.retain(|rule| *rule != PEAK);
    }

    /// The session so far, with placeholders for what varies.
    fn show(&self) -> String {
        let mut text = String::new();
        for piece in &self.pieces {
            let rules: Vec<(&str, &str)> = piece
                .rules
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            text.push_str(&api::transcript::replace(&piece.text, &rules));
        }
        let text = text
            .replace(&self.parent, cgroups::PARENT)
            .replace(&self.store.root.display().to_string(), WORKSHOP_ROOT);
        api::transcript::normalize(&text)
    }

    /// Compares the session so far with `book/src/transcripts/NAME`, and
    /// starts the next transcript from here.
    fn check(&mut self, name: &str) {
        api::transcript::check(name, &self.show());
        self.pieces.clear();
    }

    /// The parent's directory in each hierarchy.
    fn parent_dirs(&self) -> Vec<PathBuf> {
        match Hierarchy::detect().unwrap() {
            Hierarchy::V1 { controllers, .. } => {
                let mut dirs: Vec<PathBuf> = controllers
                    .values()
                    .map(|mount| mount.join(&self.parent))
                    .collect();
                dirs.dedup();
                dirs
            }
            Hierarchy::V2 { root } => vec![root.join(&self.parent)],
        }
    }
}

/// A test that fails half-way must leave nothing running and no cgroup
/// behind: every task in the session's cgroups is killed, `ch04` then
/// removes its container's cgroup, and the parent goes last.
impl Drop for Session {
    fn drop(&mut self) {
        let dirs = self.parent_dirs();
        let children = |dirs: &[PathBuf]| -> Vec<PathBuf> {
            dirs.iter()
                .filter_map(|d| std::fs::read_dir(d).ok())
                .flatten()
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        };
        // SIGKILL to every task listed: each container's PID 1 among them,
        // and the kernel ends the rest of its PID namespace with it. Its
        // ch04 then removes the cgroup: an rmdir in a watched parent wakes
        // the wait, which kills again whatever is still listed. The
        // deadline only bounds a failure (no panic here: this may run
        // while a test panics).
        let _ = common::watch_until(&dirs, || {
            let left = children(&dirs);
            for child in &left {
                for pid in common::procs(child) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            left.is_empty().then_some(())
        });
        for child in children(&dirs) {
            let _ = std::fs::remove_dir(child);
        }
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
        let _ = writeln!(self.stdin, "exit 0");
        let _ = self.shell.wait();
    }
}

/// The numbers `stat` finds after a label of ch04's stats, e.g. the CPU
/// seconds in "cpu:     1.002 s used, throttled 19 times (0.973 s)".
fn numbers(text: &str, label: &str) -> Vec<f64> {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in {text}"));
    line[label.len()..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn privileged_transcript_info() {
    let mut s = Session::new("info");
    let info = s.ok("ch04 info");
    match Hierarchy::detect().unwrap() {
        Hierarchy::V1 {
            controllers,
            unified,
        } => {
            assert!(info.starts_with("cgroup v1: one hierarchy per controller\n"));
            for controller in controllers.keys() {
                assert!(info.contains(&format!("  {controller:<8} /")), "{info}");
            }
            // The classic test: what filesystem is /sys/fs/cgroup itself?
            let mut paths = vec![PathBuf::from("/sys/fs/cgroup")];
            paths.push(controllers["memory"].clone());
            paths.extend(unified);
            let line = format!(
                "stat -f -c %T {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let types = s.ok(&line);
            let mut expected = vec!["tmpfs", "cgroupfs"];
            if paths.len() == 3 {
                assert!(info.contains("(hybrid: a cgroup2 mount at"), "{info}");
                expected.push("cgroup2fs");
            }
            assert_eq!(types.lines().collect::<Vec<_>>(), expected);
            s.check("ch04-info-v1.txt");
        }
        Hierarchy::V2 { root } => {
            assert!(info.starts_with("cgroup v2: one hierarchy at "), "{info}");
            assert_eq!(
                s.ok(&format!("stat -f -c %T {}", root.display())),
                "cgroup2fs\n"
            );
            let enabled = s.ok(&format!("cat {}/cgroup.subtree_control", root.display()));
            assert!(enabled.contains("memory"), "{enabled}");
            s.check("ch04-info-v2.txt");
        }
    }
}

/// A container that sleeps, looked at from the host while it runs; then
/// frozen, thawed, killed, and its cgroup gone.
#[test]
fn privileged_transcript_a_running_container() {
    let mut s = Session::new("running");
    let v2 = is_v2();
    s.ok("cg=/sys/fs/cgroup");
    let glob = if v2 {
        "$cg/minidocker/*/"
    } else {
        "$cg/*/minidocker/*/"
    };
    let glob = glob.replace("minidocker", &s.parent);
    let (before, _) = s.run(&format!("ls -d {glob}"));
    assert!(before.contains("No such file or directory"), "{before}");
    s.ok("ch04 run --memory 64m --cpus 0.5 --pids-limit 100 --image busybox -- sleep 1000 > run.log 2>&1 &");
    let id = s.wait_for_cgroup("run.log");
    s.ok("cat run.log");
    let parent = s.parent.clone();
    s.ok(&format!("id=$(sed -n 's,^cgroup: /{parent}/,,p' run.log)"));
    let pid: String;
    if v2 {
        let dir = format!("$cg/{parent}/$id");
        let files = s.ok(&format!("ls -x {dir}"));
        for file in [
            "memory.max",
            "cpu.max",
            "pids.max",
            "cgroup.freeze",
            "cgroup.kill",
        ] {
            assert!(files.contains(file), "{files}");
        }
        let memory = s.ok(&format!("cat {dir}/memory.max {dir}/memory.swap.max"));
        // --memory alone: as much swap again (v2 limits swap on its own).
        assert_eq!(memory, "67108864\n67108864\n");
        assert_eq!(s.ok(&format!("cat {dir}/cpu.max")), "50000 100000\n");
        assert_eq!(s.ok(&format!("cat {dir}/pids.max")), "100\n");
        let controllers = s.ok(&format!(
            "cat $cg/cgroup.subtree_control $cg/{parent}/cgroup.subtree_control {dir}/cgroup.controllers"
        ));
        assert!(
            controllers
                .lines()
                .skip(1)
                .all(|l| l == "cpuset cpu memory pids"),
            "{controllers}"
        );
        pid = s
            .exec(
                &format!("cat {dir}/cgroup.procs"),
                &[(r"(?m)^[0-9]+$", "<pid>")],
            )
            .0;
        s.ok(&format!("pid=$(cat {dir}/cgroup.procs)"));
        // The parent hands controllers down: it may hold no process.
        // (/bin/echo: its error names the errno; shells' builtins vary.)
        let (refused, status) = s.run(&format!("/bin/echo $pid > $cg/{parent}/cgroup.procs"));
        assert_ne!(status, 0, "{refused}");
        assert!(refused.contains("Device or resource busy"), "{refused}");
        let host_view = s.ok("cat /proc/$pid/cgroup");
        assert_eq!(host_view, format!("0::/{parent}/{id}\n"));
    } else {
        let listing = s.ok(&format!("ls -d $cg/*/{parent}/$id"));
        for controller in [
            "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
        ] {
            assert!(
                listing.contains(&format!("/{controller}/{parent}/{id}\n")),
                "{listing}"
            );
        }
        let files = s.ok(&format!("ls -x $cg/pids/{parent}/$id"));
        assert!(
            files.contains("pids.max") && files.contains("cgroup.procs"),
            "{files}"
        );
        let memory = s.ok(&format!(
            "cat $cg/memory/{parent}/$id/memory.limit_in_bytes $cg/memory/{parent}/$id/memory.memsw.limit_in_bytes"
        ));
        // --memory alone: memory+swap is twice as much (as much swap again).
        assert_eq!(memory, "67108864\n134217728\n");
        let cpu = s.ok(&format!(
            "cat $cg/cpu/{parent}/$id/cpu.cfs_quota_us $cg/cpu/{parent}/$id/cpu.cfs_period_us"
        ));
        assert_eq!(cpu, "50000\n100000\n");
        assert_eq!(
            s.ok(&format!("cat $cg/pids/{parent}/$id/pids.max")),
            "100\n"
        );
        let devices = s.ok(&format!("cat $cg/devices/{parent}/$id/devices.list"));
        assert!(
            devices.contains("c 1:3 rwm") && !devices.contains("a *:* rwm"),
            "{devices}"
        );
        pid = s
            .exec(
                &format!("cat $cg/memory/{parent}/$id/cgroup.procs"),
                &[(r"(?m)^[0-9]+$", "<pid>")],
            )
            .0;
        s.ok(&format!("pid=$(cat $cg/memory/{parent}/$id/cgroup.procs)"));
        let host_view = s.ok("cat /proc/$pid/cgroup");
        for controller in ["memory", "pids", "cpu", "freezer"] {
            assert!(
                host_view.contains(&format!(":{controller}:/{parent}/{id}\n")),
                "{host_view}"
            );
        }
    }
    assert_eq!(pid.lines().count(), 1, "one process: {pid}");
    // The same question asked from inside a container: its cgroup
    // namespace makes its own cgroup look like the root.
    let inside = s.ok("ch04 run --image busybox -- cat /proc/self/cgroup");
    // "N:controllers:path" lines, apart from ch04's own.
    let lines: Vec<&str> = inside
        .lines()
        .filter(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.ends_with(":/")),
        "{inside}"
    );
    s.check(if v2 {
        "ch04-running-v2.txt"
    } else {
        "ch04-running-v1.txt"
    });

    // docker pause / unpause, then docker kill.
    if v2 {
        let dir = format!("$cg/{parent}/$id");
        s.ok(&format!("echo 1 > {dir}/cgroup.freeze"));
        // Freezing takes a moment: each task stops when it next runs, and
        // cgroup.events says "frozen 1" after the last one. The kernel
        // announces that change (inotify on cgroup.events); the reader's
        // `cat` comes after it (thawing, below, is done when the write
        // returns).
        let events = cgroup_dir(&format!("/{parent}/{id}"), "freezer").join("cgroup.events");
        let frozen = common::watch_until(std::slice::from_ref(&events), || {
            let text = std::fs::read_to_string(&events).ok()?;
            text.lines().any(|l| l == "frozen 1").then_some(())
        });
        assert!(frozen.is_some(), "{} never said frozen 1", events.display());
        assert_eq!(
            s.ok(&format!("cat {dir}/cgroup.events")),
            "populated 1\nfrozen 1\n"
        );
        s.ok(&format!("echo 0 > {dir}/cgroup.freeze"));
        assert_eq!(
            s.ok(&format!("cat {dir}/cgroup.events")),
            "populated 1\nfrozen 0\n"
        );
        s.ok(&format!("echo 1 > {dir}/cgroup.kill"));
    } else {
        let state = format!("$cg/freezer/{parent}/$id/freezer.state");
        s.ok(&format!("echo FROZEN > {state}"));
        // FREEZING until every task has stopped, then FROZEN. The v1
        // freezer announces no change: its state is polled before the
        // reader's `cat` (THAWED, below, holds when the write returns).
        let file = cgroup_dir(&format!("/{parent}/{id}"), "freezer").join("freezer.state");
        let frozen = common::poll_until(|| {
            let text = std::fs::read_to_string(&file).ok()?;
            (text.trim() == "FROZEN").then_some(())
        });
        assert!(frozen.is_some(), "{} never said FROZEN", file.display());
        assert_eq!(s.ok(&format!("cat {state}")), "FROZEN\n");
        s.ok(&format!("echo THAWED > {state}"));
        assert_eq!(s.ok(&format!("cat {state}")), "THAWED\n");
        s.ok(&format!(
            "kill -KILL $(cat $cg/pids/{parent}/$id/cgroup.procs)"
        ));
    }
    let (_, status) = s.run("wait $!");
    assert_eq!(status, 137, "SIGKILL: 128 + 9");
    assert_eq!(s.ok("echo $?"), "137\n");
    // Half a CPU: starting even `sleep` may use up a period's quota.
    let (log, _) = s.exec(
        "cat run.log",
        &[(r"throttled [0-9]+ times", "throttled <n> times")],
    );
    assert_eq!(stat(&log, "oom:"), 0, "{log}");
    let (after, _) = s.run(&format!("ls -d {glob}"));
    assert!(after.contains("No such file or directory"), "{after}");
    assert!(!cgroup_exists(&format!("/{parent}/{id}")));
    s.check(if v2 {
        "ch04-freeze-kill-v2.txt"
    } else {
        "ch04-freeze-kill-v1.txt"
    });
}

/// A shell that doubles a string until it holds 32 MiB: fine without a
/// limit, OOM-killed under 32 MiB of memory and no swap.
#[test]
fn privileged_transcript_oom() {
    let mut s = Session::new("oom");
    s.ok(r#"hog='x=a; while [ ${#x} -lt 33554432 ]; do x=$x$x; [ ${#x} -ge 1048576 ] && echo "$((${#x} >> 20)) MiB"; done'"#);
    let free = s.ok(r#"ch04 run --image busybox -- sh -c "$hog""#);
    assert!(free.contains("\n32 MiB\n"), "{free}");
    assert_eq!(stat(&free, "oom:"), 0, "{free}");
    s.keep_peak();
    let (limited, status) =
        s.run(r#"ch04 run --memory 32m --memory-swap 32m --image busybox -- sh -c "$hog""#);
    assert_eq!(status, 137, "{limited}");
    assert!(!limited.contains("16 MiB"), "{limited}");
    assert_eq!(stat(&limited, "oom:"), 1, "{limited}");
    assert!(
        limited.contains("the container was OOM-killed: it reached its memory limit"),
        "{limited}"
    );
    // The peak is the limit, to the page.
    assert_eq!(numbers(&limited, "memory:")[1], 32.0, "{limited}");
    assert_eq!(s.ok("echo $?"), "137\n");
    s.check("ch04-oom.txt");
}

/// 20 tasks at most: a loop that forks until refused, then a fork bomb.
#[test]
fn privileged_transcript_pids() {
    let mut s = Session::new("pids");
    // PID 1, the subshell, and 18 sleeps make 20: the 19th sleep is refused
    // and its subshell gives up; PID 1 then counts what is left.
    let counted = s.ok(
        r#"ch04 run --pids-limit 20 --image busybox -- sh -c '(while :; do sleep 10 & done); set -- /proc/[0-9]*; echo "$# processes"'"#,
    );
    assert!(
        counted.contains("sh: can't fork: Resource temporarily unavailable\n19 processes\n"),
        "{counted}"
    );
    assert_eq!(numbers(&counted, "pids:"), vec![0.0, 1.0], "{counted}");
    // PID 1 forks once, for the subshell that starts the bomb, before the
    // bomb exists: a fork refused to PID 1 would end it (a non-interactive
    // shell exits on "can't fork"). Then, with builtins only, it waits for
    // the first complaint in the file (in its working directory, /): a
    // fork the limit refused.
    let (bomb, status) = s.exec(
        "ch04 run --pids-limit 20 --image busybox -- sh -c 'bomb() { bomb | bomb & }; (bomb 2>refused); until [ -s refused ]; do :; done; echo the host is fine'",
        &[(r"[0-9]+ forks refused", "<n> forks refused")],
    );
    assert_eq!(status, 0, "{bomb}");
    assert!(bomb.contains("\nthe host is fine\n"), "{bomb}");
    assert!(numbers(&bomb, "pids:")[1] >= 1.0, "{bomb}");
    s.check("ch04-pids.txt");
}

/// `--cpus 0.5` as the kernel sees it, and a busy loop held to it.
#[test]
fn privileged_transcript_cpus() {
    let mut s = Session::new("cpus");
    let v2 = is_v2();
    let parent = s.parent.clone();
    let started = Instant::now();
    // A busy loop (not PID 1: PID 1 would ignore the SIGTERM) until a line
    // comes on the container's stdin, a fifo. Opened read-write (`<>`),
    // it lets ch04 start without waiting for a writer, and `echo` write
    // without waiting for a reader.
    s.ok("mkfifo stop");
    s.ok("ch04 run --cpus 0.5 --image busybox -- sh -c 'while :; do :; done & read -r line; kill $!' <>stop >cpu.log 2>&1 &");
    let id = s.wait_for_cgroup("cpu.log");
    s.ok(&format!("id=$(sed -n 's,^cgroup: /{parent}/,,p' cpu.log)"));
    let numbered = [(r"(?m)^([a-z_]+) [0-9]+$", "${1} <n>")];
    // Unrecorded: the loop is throttled once it has used up a period's
    // quota, which takes longer on a busy machine. cpu.stat announces no
    // change, so it is polled until the counter moves; the reader's `cat`
    // comes after.
    let cpu_stat = cgroup_dir(&format!("/{parent}/{id}"), "cpu").join("cpu.stat");
    let nr_throttled = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("nr_throttled "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    let wait_for_throttling = || {
        let throttled = common::poll_until(|| {
            let text = std::fs::read_to_string(&cpu_stat).ok()?;
            nr_throttled(&text).filter(|n| *n > 0)
        });
        assert!(throttled.is_some(), "the busy loop was never throttled");
    };
    let dir = if v2 {
        let dir = format!("/sys/fs/cgroup/{parent}/$id");
        assert_eq!(s.ok(&format!("cat {dir}/cpu.max")), "50000 100000\n");
        dir
    } else {
        let dir = format!("/sys/fs/cgroup/cpu/{parent}/$id");
        let limit = s.ok(&format!(
            "cat {dir}/cpu.cfs_quota_us {dir}/cpu.cfs_period_us"
        ));
        assert_eq!(limit, "50000\n100000\n");
        dir
    };
    wait_for_throttling();
    let (stat_file, _) = s.exec(&format!("cat {dir}/cpu.stat"), &numbered);
    assert!(
        nr_throttled(&stat_file).is_some_and(|n| n > 0),
        "{stat_file}"
    );
    s.ok("echo stop >stop");
    assert_eq!(s.run("wait $!").1, 0);
    let wall = started.elapsed().as_secs_f64();
    let (log, _) = s.exec(
        "cat cpu.log",
        &[(r"throttled [0-9]+ times", "throttled <n> times")],
    );
    let cpu = numbers(&log, "cpu:");
    let (used, throttled) = (cpu[0], cpu[1]);
    assert!(
        throttled > 0.0,
        "a busy loop under --cpus 0.5 was never throttled: {log}"
    );
    // Half a CPU: at most about half of the time it ran (with slack for
    // the start and the end, which are not throttled). `wall` is a bound,
    // not a wait: measured from before the run to after `wait $!`, it is
    // never shorter than the container's life, however slow the machine.
    assert!(
        used <= 0.5 * wall + 0.3,
        "{used} s of CPU in {wall} s: {log}"
    );
    s.check(if v2 {
        "ch04-cpus-v2.txt"
    } else {
        "ch04-cpus-v1.txt"
    });
}

/// What the device rules let a container open, and what they do not.
#[test]
fn privileged_transcript_devices() {
    let mut s = Session::new("devices");
    let (disk, status) = s.exec(
        "ch04 run --image busybox -- sh -c 'mknod /dev/sda b 8 0 && ls -l /dev/sda && head -c 512 /dev/sda'",
        &[(r"\b[A-Z][a-z]{2} [ 0-3][0-9] [0-9]{2}:[0-9]{2}\b", "<date>")],
    );
    assert_eq!(status, 1, "{disk}");
    assert!(disk.contains("brw-"), "mknod is allowed: {disk}");
    assert!(
        disk.contains("head: /dev/sda: Operation not permitted"),
        "{disk}"
    );
    let denied = s.ok("ch04 run --device-deny 'c 1:9 r' --image busybox -- sh -c 'head -c 4 /dev/random | wc -c; head -c 4 /dev/urandom | wc -c; echo hello > /dev/urandom && echo writing is still allowed'");
    assert!(
        denied.contains(
            "\n4\nhead: /dev/urandom: Operation not permitted\n0\nwriting is still allowed\n"
        ),
        "{denied}"
    );
    s.check("ch04-devices.txt");
}
