//! The engine's own CLI, `minidocker`, against minidockerd. It must be
//! docker's CLI in what a user sees: so most checks here run the same
//! command through the real `docker` CLI (28.2) and through `minidocker`
//! against the same daemon, and compare exit codes and stdout (relative
//! times, which may tick between the two, made placeholders). Then what
//! only a terminal shows — raw mode, window size, ctrl-c, the detach keys —
//! in a pseudo-terminal the test opens, and signals proxied without one;
//! and a load that streams.
//!
//! Tests wait on events: a line in the terminal, a process's exit.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use common::{Daemon, HANG, require_root, stderr, stdout};

const MINIDOCKER: &str = env!("CARGO_BIN_EXE_minidocker");

/// `minidocker ARGS` against `d`, without stdin.
fn minidocker_command(d: &Daemon, args: &[&str]) -> Command {
    let mut command = Command::new(MINIDOCKER);
    command
        .args(args)
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn minidocker(d: &Daemon, args: &[&str]) -> Output {
    let child = minidocker_command(d, args)
        .spawn()
        .expect("running minidocker");
    common::wait_output(child, &format!("minidocker {}", args.join(" ")), d)
}

/// What varies between two runs a moment apart: docker's relative times,
/// and so the width of a table's column of them ("Less than a second ago"
/// then "1 second ago"): in a table with times, column gaps are compared
/// as gaps. Tables without times are compared space for space.
fn normalize(text: &str) -> String {
    let times = regex::Regex::new(
        r"Less than a second|About an? (minute|hour)|\b\d+ (second|minute|hour)s?\b",
    )
    .unwrap();
    let text = times.replace_all(text, "<duration>").into_owned();
    if !text.contains("<duration>") {
        return text;
    }
    let gaps = regex::Regex::new(r" {2,}").unwrap();
    gaps.replace_all(&text, "   ").into_owned()
}

/// The same command through both CLIs: same exit code, same stdout.
fn same(d: &Daemon, args: &[&str]) -> String {
    let theirs = d.docker(args);
    let ours = minidocker(d, args);
    let (want, got) = (normalize(&stdout(&theirs)), normalize(&stdout(&ours)));
    assert!(
        theirs.status.code() == ours.status.code() && want == got,
        "`{0}` differs:\n--- docker (exit {1:?})\n{want}{2}\n--- minidocker (exit {3:?})\n{got}{4}",
        args.join(" "),
        theirs.status.code(),
        stderr(&theirs),
        ours.status.code(),
        stderr(&ours),
    );
    got
}

/// Both CLIs fail with the same code and the daemon's same message.
fn same_failure(d: &Daemon, args: &[&str]) {
    let theirs = d.docker(args);
    let ours = minidocker(d, args);
    assert!(
        !ours.status.success()
            && theirs.status.code() == ours.status.code()
            && stderr(&theirs) == stderr(&ours),
        "`{}`: docker exit {:?} {:?}, minidocker exit {:?} {:?}",
        args.join(" "),
        theirs.status.code(),
        stderr(&theirs),
        ours.status.code(),
        stderr(&ours),
    );
}

#[test]
fn privileged_tables_templates_and_inspect_match_docker() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started; sleep 1000 & wait",
    ]);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    assert_eq!(
        d.docker(&["run", "--name", "done", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );

    for args in [
        &["ps"][..],
        &["ps", "-a"],
        &["ps", "-q"],
        &["ps", "-aq"],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-l"],
        &["ps", "-n", "2"],
        &["ps", "-a", "-f", "status=exited"],
        &["ps", "-a", "-f", "name=idle", "-q"],
        &["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Labels}}"],
        &[
            "ps",
            "-a",
            "--format",
            "table {{.ID}}\t{{.Names}}\t{{.State}}",
        ],
        &["ps", "--format", "{{json .}}"],
        &["images"],
        &["images", "-q"],
        &["images", "--no-trunc"],
        &["images", "busybox"],
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        &["images", "--format", "table {{.Repository}}\t{{.Size}}"],
        &["history", "busybox"],
        &["history", "-q", "hello"],
        &["inspect", "web"],
        &["inspect", "busybox"],
        &[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Cmd}} {{json .Config.Labels}}",
            "web",
        ],
        &["inspect", "-f", "{{index .Config.Labels \"tier\"}}", "web"],
        &["inspect", "-f", "{{range .Config.Env}}{{.}};{{end}}", "web"],
        &["inspect", "-f", "{{.Name}}", "web", "idle", "done"],
        &["inspect", "--type", "image", "-f", "{{.Id}}", "busybox"],
        &["inspect", "nosuch"],
        &["logs", "web"],
        &["logs", "--tail", "1", "web"],
        &["wait", "done"],
        &["top", "web"],
        &[
            "version",
            "--format",
            "{{.Server.Version}} {{.Server.Os}} {{.Server.Arch}}",
        ],
        &[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.Images}}",
        ],
    ] {
        same(&d, args);
    }
    // The daemon's errors, word for word, with docker's exit codes.
    for args in [
        &["rm", "nosuch"][..],
        &["stop", "nosuch"],
        &["kill", "done"],
        &["start", "nosuch"],
        &["rmi", "nosuch"],
        &["tag", "nosuch", "x"],
        &["logs", "nosuch"],
        &["exec", "done", "true"],
    ] {
        same_failure(&d, args);
    }
}

#[test]
fn privileged_lifecycle_verbs_and_exit_codes() {
    require_root();
    let d = Daemon::start();
    let ok = |args: &[&str]| {
        let out = minidocker(&d, args);
        assert!(
            out.status.success(),
            "minidocker {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    let code = |args: &[&str]| minidocker(&d, args).status.code();

    assert_eq!(ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]),
        Some(3)
    );
    // docker run's own codes: 127 not found, 126 not executable, 125 the daemon.
    assert_eq!(code(&["run", "--rm", "busybox", "nosuch"]), Some(127));
    assert_eq!(code(&["run", "--rm", "busybox", "/etc"]), Some(126));
    assert_eq!(
        code(&["run", "--rm", "--memory", "lots", "busybox", "true"]),
        Some(125)
    );
    assert_eq!(
        code(&["run", "--rm", "--no-such-flag", "busybox"]),
        Some(125)
    );
    // -i: our stdin to the container, EOF closes its stdin.
    let mut child = minidocker_command(&d, &["run", "-i", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through stdin\n")
        .unwrap();
    let out = common::wait_output(child, "minidocker run -i cat", &d);
    assert_eq!(stdout(&out), "through stdin\n");

    let id = ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-e",
        "WHO=env",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started; sleep 1000 & wait",
    ]);
    assert_eq!(id.trim().len(), 64, "run -d prints the full ID: {id:?}");
    assert_eq!(
        ok(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $WHO $X $PWD"
        ]),
        "env 1 /tmp\n"
    );
    assert_eq!(code(&["exec", "web", "sh", "-c", "exit 4"]), Some(4));
    assert_eq!(ok(&["exec", "-d", "web", "true"]), "");
    assert_eq!(ok(&["rename", "web", "site"]), "");
    assert_eq!(ok(&["pause", "site"]), "site\n");
    assert_eq!(
        ok(&["inspect", "-f", "{{.State.Status}}", "site"]),
        "paused\n"
    );
    assert_eq!(ok(&["unpause", "site"]), "site\n");
    assert_eq!(ok(&["update", "--memory", "64m", "site"]), "site\n");
    assert_eq!(
        ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "site"]),
        "67108864\n"
    );
    assert_eq!(ok(&["stop", "-t", "5", "site"]), "site\n");
    assert_eq!(ok(&["wait", "site"]), "0\n");
    assert_eq!(ok(&["start", "site"]), "site\n");
    assert_eq!(ok(&["restart", "-t", "1", "site"]), "site\n");
    assert_eq!(ok(&["kill", "-s", "KILL", "site"]), "site\n");
    assert_eq!(ok(&["wait", "site"]), "137\n");
    // rm of several: what can be done is done, then exit 1.
    let out = minidocker(&d, &["rm", "site", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "site\n");
    assert_eq!(
        stderr(&out),
        "Error response from daemon: No such container: nosuch\n"
    );
    // start -a: the output, and the container's exit code.
    ok(&[
        "create",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "echo from later; exit 6",
    ]);
    let out = minidocker(&d, &["start", "-a", "later"]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(6), "from later\n".to_string())
    );
    ok(&["rm", "later"]);

    // Images: tag, save, rmi, load, through files and pipes.
    ok(&["tag", "busybox", "mybox:1"]);
    assert_eq!(
        ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", "mybox"]),
        "mybox:1\n"
    );
    assert_eq!(ok(&["rmi", "mybox:1"]), "Untagged: mybox:1\n");
    let archive = d.dir.path().join("hello.tar");
    ok(&["save", "-o", archive.to_str().unwrap(), "hello"]);
    assert!(ok(&["rmi", "hello"]).contains("Untagged: hello:latest"));
    assert_eq!(
        ok(&["load", "-i", archive.to_str().unwrap()]),
        "Loaded image: hello:latest\n"
    );
    assert!(ok(&["run", "--rm", "hello"]).contains("Hello from minidocker!"));

    // No daemon there: docker's exit code 1 and the fix.
    let out = Command::new(MINIDOCKER)
        .args(["-H", "unix:///nonexistent/minidocker.sock", "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Is the daemon running?") && stderr(&out).contains("minidockerd"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn privileged_signals_are_proxied_without_a_terminal() {
    require_root();
    let d = Daemon::start();
    let mut child = minidocker_command(
        &d,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    )
    .spawn()
    .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    read_until(&mut out, &mut seen, b"ready\n");
    // Ours, by PID: the CLI forwards it as POST /containers/ID/kill?signal=15.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    read_until(&mut out, &mut seen, b"got TERM\n");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{}", String::from_utf8_lossy(&seen));
}

/// Reads `from` into `seen` until it ends with `token`; a hang or an early
/// end fails the test.
fn read_until(from: &mut impl Read, seen: &mut Vec<u8>, token: &[u8]) {
    let mut byte = [0u8; 1];
    while !seen.ends_with(token) {
        match from.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!("ended before {token:?}: {}", String::from_utf8_lossy(seen)),
        }
    }
}

/// `minidocker ARGS` on a pseudo-terminal of the test's own, 40 rows by
/// 120 columns, as its controlling terminal: what `-it` needs.
struct Terminal {
    master: std::fs::File,
    child: std::process::Child,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Terminal {
    fn start(d: &Daemon, args: &[&str]) -> Terminal {
        Terminal::spawn(minidocker_command(d, args))
    }

    fn spawn(mut command: Command) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        command
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // A session of its own, the pty its controlling terminal:
                // then the kernel sends it SIGWINCH when the size changes.
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("running minidocker on a pty");
        drop(slave);
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // EIO once every slave fd is closed: the CLI has exited.
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                if tx.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal {
            master,
            child,
            output,
            seen: Vec::new(),
        }
    }

    /// Waits until the terminal has shown `token` (since the last wait).
    fn expect(&mut self, token: &str) {
        loop {
            if let Some(at) = find(&self.seen, token.as_bytes()) {
                self.seen.drain(..at + token.len());
                return;
            }
            match self.output.recv_timeout(HANG) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(_) => panic!(
                    "the terminal never showed {token:?}; it shows {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize; the kernel then signals
        // SIGWINCH to the terminal's foreground process group.
        assert_eq!(
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) },
            0
        );
    }

    /// The exit code, once the process has exited: a hang fails the test
    /// (the process, ours, is killed by PID first).
    fn exit_code(self) -> Option<i32> {
        let Terminal {
            master,
            child,
            seen,
            ..
        } = self;
        let pid = child.id() as i32;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut child = child;
            let _ = tx.send(child.wait().map(|s| s.code()));
        });
        match rx.recv_timeout(HANG) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                drop(master);
                panic!(
                    "the command on the terminal did not exit; it shows {:?}",
                    String::from_utf8_lossy(&seen)
                );
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn privileged_a_terminal_in_raw_mode_sized_and_resized() {
    require_root();
    let d = Daemon::start();
    // The create carries the size (HostConfig.ConsoleSize): the pty has
    // it before the program's first instruction, not after a resize.
    let mut t = Terminal::start(&d, &["run", "-it", "--rm", "busybox", "stty", "size"]);
    t.expect("40 120");
    assert_eq!(t.exit_code(), Some(0));
    // The container's terminal has our size at once, and again on SIGWINCH.
    let mut t = Terminal::start(
        &d,
        &[
            "run",
            "-it",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'echo size $(stty size)' WINCH; echo size $(stty size); while :; do sleep 0.1; done",
        ],
    );
    t.expect("size 40 120");
    t.resize(33, 99);
    t.expect("size 33 99");
    // Raw mode: ctrl-c is a byte for the container's terminal, whose line
    // discipline sends SIGINT to the shell there (exit 130), not to us.
    t.type_keys(b"\x03");
    assert_eq!(t.exit_code(), Some(130));

    // An interactive shell: keystrokes in, its exit status out.
    let mut t = Terminal::start(&d, &["run", "-it", "--rm", "busybox", "sh"]);
    t.expect("/ # ");
    t.type_keys(b"echo hello-$((6*7))\r");
    t.expect("hello-42");
    t.type_keys(b"exit 5\r");
    assert_eq!(t.exit_code(), Some(5));
}

#[test]
fn privileged_detach_keys_leave_the_container_running() {
    require_root();
    let d = Daemon::start();
    let mut t = Terminal::start(
        &d,
        &[
            "run",
            "-it",
            "--name",
            "bg",
            "busybox",
            "sh",
            "-c",
            "echo ready; exec cat",
        ],
    );
    t.expect("ready");
    // A lone ctrl-p still reaches the container, then the sequence detaches.
    t.type_keys(b"a\x10b\r");
    t.expect("a\x10b"); // the echo of cat's terminal: the ctrl-p went through
    t.type_keys(b"\x10\x11");
    assert_eq!(t.exit_code(), Some(0));
    // The daemon watches the attach's input too, as dockerd does (the
    // docker CLI passes keys it reads in one chunk on to it): the keys end
    // the stream, and the container runs on.
    let host = api::http::Host::parse(&d.host()).unwrap();
    let attached = api::http::Client::new(host)
        .hijack("/containers/bg/attach?stream=1&stdin=1&stdout=1&stderr=1")
        .unwrap();
    let (mut reader, mut writer) = (attached.reader, attached.writer);
    reader.get_ref().set_read_timeout(Some(HANG)).unwrap();
    writer.write_all(b"by hand\r").unwrap();
    let mut seen = Vec::new();
    read_until(&mut reader, &mut seen, b"by hand\r\n");
    writer.write_all(b"\x10\x11").unwrap();
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .expect("the daemon ends the stream at the detach keys");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "bg"]),
        "true\n"
    );

    // attach, and detach with keys of our choosing.
    let mut t = Terminal::start(&d, &["attach", "--detach-keys", "ctrl-a,x", "bg"]);
    t.type_keys(b"again\r");
    t.expect("again");
    t.type_keys(b"\x01x");
    t.expect("read escape sequence");
    assert_eq!(t.exit_code(), Some(1));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "bg"]),
        "true\n"
    );

    // exec -it: a terminal of its own, sized like ours.
    let mut t = Terminal::start(&d, &["exec", "-it", "bg", "sh"]);
    t.expect("/ # ");
    t.type_keys(b"stty size; exit 3\r");
    t.expect("40 120");
    assert_eq!(t.exit_code(), Some(3));
    d.ok(&["rm", "-f", "bg"]);

    // -t needs a terminal on stdin, as docker says.
    let out = minidocker(&d, &["run", "-it", "--rm", "busybox", "true"]);
    assert!(stderr(&out).contains("not a TTY"), "{}", stderr(&out));
}

/// Peak resident memory of a process, from /proc/PID/status (kB).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn privileged_a_large_load_streams_through_client_and_daemon() {
    require_root();
    let d = Daemon::start();
    // A docker-archive with one 256 MiB layer (zeros: quick to write).
    let dir = d.dir.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    let layer_dir = dir.join("rootfs");
    std::fs::create_dir(&layer_dir).unwrap();
    let big = std::fs::File::create(layer_dir.join("big.bin")).unwrap();
    big.set_len(256 << 20).unwrap();
    let run = |cmd: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        stdout(&out)
    };
    run("tar -C rootfs -cf layer.tar big.bin");
    let diff_id = run("sha256sum layer.tar | cut -d' ' -f1");
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["true"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#,
        diff_id.trim()
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"[{"Config":"config.json","RepoTags":["big:latest"],"Layers":["layer.tar"]}]"#,
    )
    .unwrap();
    run("tar -cf big.tar manifest.json config.json layer.tar");

    let daemon_before = peak_rss_kb(d.child.id());
    let archive = dir.join("big.tar");
    // Reaped below by wait4(2), not by std: hence no wait() here.
    #[allow(clippy::zombie_processes)]
    let mut child = minidocker_command(&d, &["load", "-i", archive.to_str().unwrap()])
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    // wait4(2) reaps it and says its peak resident size (kB), exactly.
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as i32;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert_eq!(printed, "Loaded image: big:latest\n");
    let peak = usage.ru_maxrss;
    assert!(
        peak < 64 * 1024,
        "minidocker load peaked at {peak} kB for a 256 MiB archive: it must stream"
    );
    let daemon_after = peak_rss_kb(d.child.id());
    assert!(
        daemon_after < daemon_before + 64 * 1024,
        "minidockerd's peak went from {daemon_before} kB to {daemon_after} kB for a 256 MiB load"
    );
}

#[test]
fn privileged_doctor_checks_the_machine_line_by_line() {
    require_root();
    let d = Daemon::start();
    let out = minidocker(&d, &["doctor"]);
    let text = stdout(&out);
    for thing in [
        "namespaces",
        "overlayfs",
        "cgroups",
        "seccomp",
        "pidfd",
        "minirunc",
        "minishim",
        "busybox-static",
        "socket group",
        "daemon",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("✔ {thing}:"))
                    || l.starts_with(&format!("✘ {thing}:"))),
            "no line for {thing}:\n{text}"
        );
    }
    // Every line is a verdict; the exit status is whether all are ✔.
    assert!(
        text.lines()
            .all(|l| l.starts_with("✔ ") || l.starts_with("✘ ")),
        "{text}"
    );
    let failed = text.lines().any(|l| l.starts_with("✘ "));
    assert_eq!(out.status.success(), !failed, "{text}");
    // This machine runs containers (the other tests prove it): these hold.
    for thing in [
        "namespaces",
        "overlayfs",
        "cgroups",
        "pidfd",
        "minirunc",
        "minishim",
        "daemon",
    ] {
        assert!(
            text.contains(&format!("✔ {thing}:")),
            "{thing} should pass here:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("minidockerd answers at {}", d.host())),
        "{text}"
    );
}
