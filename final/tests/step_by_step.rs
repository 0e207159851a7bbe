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
//! arrives). The other terminal is the root shell on pipes of
//! `common::session`: each hop's commands are typed there while the
//! container runs, with their output.
//!
//! Every wait is on an exact event: a prompt or a line on the terminal, a
//! line in the daemon's log (inotify), a process's exit (a pidfd). The
//! sessions get the placeholders of `common::session` (`$d`, IDs, times,
//! the host PIDs by role where a command is recorded with them, namespace
//! inodes by whose they are), and this page's own: minirunc's clock ticks
//! and the host's busybox version. They are compared with
//! `book/src/transcripts/step-*.txt` (`UPDATE_TRANSCRIPTS=1 cargo test -p
//! minidocker --test step_by_step` rewrites them). Everything the test
//! starts goes with it, even when it fails: the terminal (its hangup ends
//! the CLI), the daemon, the containers, their mounts, the directory.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use common::HANG;
use common::session::{Page, Session, pidfd, shell_env, wait_exit, wait_for_count, wait_for_text};
use namespaces::pidfd::PidFd;

/// The container's terminal: 24 rows of 80 columns, the size the CLI
/// sends the daemon in its resize.
const ROWS: u16 = 24;
const COLUMNS: u16 = 80;

static STEP_BY_STEP_PAGE: Page = Page {
    tools: &[
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
    ],
    pids_in_every_output: false,
    rules: &[&[
        // Clock ticks since boot (minirunc's state.json), before any PID.
        (r#""start_time": \d+"#, r#""start_time": <ticks>"#),
        // The host's busybox-static, whichever version it is.
        (
            r"BusyBox v\S+ \([^)]*\) built-in shell",
            "BusyBox <version> built-in shell",
        ),
    ]],
};

/// Whether this machine has the unified hierarchy (cgroup v2) only.
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
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
            .current_dir(session.scratch())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        shell_env(&mut command);
        command
            .env("TERM", "xterm")
            .env("PS1", "$ ")
            .env("HISTFILE", session.scratch_file("terminal-history"))
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
    fn check(&mut self, name: &str, session: &Session, with_prompt: bool) {
        let lines = render(&self.screen.state.lock().unwrap().0);
        let last = lines.len() - 1;
        let end = if with_prompt { last + 1 } else { last };
        let mut text = String::new();
        for line in &lines[self.line_mark..end] {
            text.push_str(&session.normalize(line));
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

/// One `docker run -it --rm busybox sh`, hop by hop, while it runs; then
/// its end, and a second run with every call of the runtime written down.
#[test]
fn privileged_docker_run_step_by_step() {
    let mut s = Session::new(&STEP_BY_STEP_PAGE);

    // A daemon of its own, with -D, and a second runtime: minirunc behind
    // a wrapper that writes down its command lines (used at the end).
    s.make_dir(true);
    s.ok(r#"printf '#!/bin/sh\necho "$*" >> %s/calls.log\nexec %s "$@"\n' $d "$(command -v minirunc)" > $d/minirunc-logged"#);
    s.ok("chmod +x $d/minirunc-logged");
    s.start_daemon_with(
        &["-D", "--add-runtime", "logged=$d/minirunc-logged"],
        "daemon.log",
        true,
    );
    let log = s.dir().join("daemon.log");
    s.ok("export DOCKER_HOST=unix://$d/d.sock");
    s.check("step-0-daemon.txt");

    // The container's terminal.
    let mut t = Terminal::open(&s);
    t.wait_for("$ ");
    t.command("export DOCKER_HOST=unix://$d/d.sock", "$ ");
    t.command("docker run -it --rm busybox sh", "/ # ");
    // The CLI sends the window's size once the start is answered; the
    // shell redraws its prompt when it gets it (SIGWINCH).
    wait_for_text(&log, &format!("/resize?h={ROWS}&w={COLUMNS} 200 "));
    t.check("step-0-run.txt", &s, true);

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
    let shim = pidfd(shim_pid);
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
    t.check("step-6-inside.txt", &s, false);
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
    t.check("step-8-exit.txt", &s, false);
    // The two long requests end with the container; each one's line is
    // written once its last byte has gone.
    wait_for_text(&log, "/wait?condition=removed 200 ");
    wait_for_text(&log, "&stream=1 101 ");
    wait_exit(&shim, "the shim");
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
    let gone = s.fails("minirunc --root $d/run/runtime/minirunc state $id", 1);
    assert!(gone.contains("does not exist"), "{gone}");
    assert_eq!(s.ok("find /sys/fs/cgroup -name $id | wc -l"), "0\n");
    let sockets = s.ok(r#"ss -xlH src "$d/*" | awk '{print $5}'"#);
    assert_eq!(sockets.lines().count(), 1, "{sockets}");
    s.check("step-8-gone.txt");

    // Once more, on the runtime that writes its calls down.
    t.command("docker run -it --rm --runtime logged busybox sh", "/ # ");
    wait_for_count(&log, &format!("/resize?h={ROWS}&w={COLUMNS} 200 "), 2);
    t.command("exit", "$ ");
    t.check("step-9-terminal.txt", &s, false);
    let calls = s.ok("cut -d' ' -f7- $d/calls.log");
    let verbs: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(verbs, ["create", "start", "delete"], "{calls}");
    s.ok("head -1 $d/calls.log | cut -d' ' -f1-6");
    s.check("step-9-calls.txt");
}
