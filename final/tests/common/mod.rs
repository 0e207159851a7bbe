//! What the engine's tests share: a `minidockerd` of their own (temporary
//! data root, exec root and socket, so several run side by side and none
//! touches /var/lib/minidocker), and the real `docker` CLI pointed at it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub mod session;

pub const MINIDOCKERD: &str = env!("CARGO_BIN_EXE_minidockerd");

/// How long a test waits for an event that must come (a line, an exit)
/// before it calls it a hang: a guard, not how long the event takes.
pub const HANG: Duration = Duration::from_secs(60);

/// Privileged tests need root: without it they fail saying so.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs containers: it needs root (sudo scripts/test.sh)"
    );
}

/// The daemon's siblings (minishim, minirunc, ch binaries) are built by
/// `cargo build --workspace`, not by `cargo test -p minidocker` alone.
fn require_siblings() {
    let dir = Path::new(MINIDOCKERD).parent().unwrap();
    for name in ["minishim", "minirunc"] {
        assert!(
            dir.join(name).is_file(),
            "{} is missing: build the workspace first (cargo build --workspace; scripts/test.sh does)",
            dir.join(name).display()
        );
    }
}

/// The daemon's stderr, line by line, and a condition variable signalled
/// at each new line: a test waits for the line it needs, not for a time.
#[derive(Default)]
pub struct Log {
    lines: Mutex<Vec<String>>,
    added: Condvar,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.added.notify_all();
    }
}

/// A running minidockerd, stopped (SIGTERM, then waited for) when dropped.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    /// Everything the daemon wrote to stderr so far.
    pub log: Arc<Log>,
    /// Where `docker` keeps its config (not the user's ~/.docker).
    pub docker_config: PathBuf,
}

impl Daemon {
    /// A daemon with the offline images (hello, busybox).
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// A daemon started with more flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        Daemon::start_with_env(extra, &[])
    }

    /// A daemon started with more flags and environment variables.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        require_root();
        require_siblings();
        // Short: a Unix socket path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("md")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("d.sock");
        let docker_config = dir.path().join("docker-config");
        std::fs::create_dir(&docker_config).unwrap();
        let (child, log) = spawn(dir.path(), &socket, extra, env);
        Daemon {
            child,
            dir,
            socket,
            log,
            docker_config,
        }
    }

    /// Stops the daemon (SIGTERM: it stops its containers) and starts it
    /// again on the same roots, with `extra` flags.
    pub fn restart(&mut self, extra: &[&str]) {
        self.terminate();
        let (child, log) = spawn(self.dir.path(), &self.socket, extra, &[]);
        self.child = child;
        self.log = log;
    }

    /// SIGTERM, and the wait for the daemon's exit; a daemon that hangs
    /// on its way out is SIGKILLed after [`HANG`] (and the test says so).
    pub fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // ended already (a test killed it)
        }
        let pid = self.child.id() as i32;
        // Our child, not reaped yet: the PID is still its own.
        let pidfd = namespaces::pidfd::PidFd::open(pid);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        let exited = pidfd.and_then(|fd| fd.wait_exit(HANG)).unwrap_or(false);
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        assert!(
            exited || std::thread::panicking(),
            "minidockerd did not exit within {HANG:?} of SIGTERM; its log:\n{}",
            self.log_text()
        );
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The daemon's log so far, for a failure message.
    pub fn log_text(&self) -> String {
        self.log.lines.lock().unwrap().join("\n")
    }

    /// `docker ARGS` against this daemon, without stdin.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        command
    }

    /// `docker ARGS`, its output; a hang (over [`HANG`]) fails the test.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_with_input(args, None)
    }

    /// `docker ARGS` with `input` on its stdin.
    pub fn docker_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut command = self.docker_command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        if input.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().expect("running docker");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().unwrap();
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        wait_output(child, &format!("docker {}", args.join(" ")), self)
    }

    /// `docker ARGS` that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One raw HTTP request on a fresh connection; the whole response
    /// (the daemon closes after it: `Connection: close`).
    pub fn raw_request(&self, request: &[u8]) -> String {
        let mut stream = UnixStream::connect(&self.socket).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Whether the daemon is still alive and answering `/_ping`.
    /// Waits until `container` has printed `line` (`docker logs -f`, read
    /// as it comes): the container got that far.
    pub fn wait_for_output_line(&self, container: &str, line: &str) {
        let mut logs = self
            .docker_command(&["logs", "-f", container])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = logs.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let wanted = line.to_string();
        std::thread::spawn(move || {
            for got in BufReader::new(out).lines().map_while(Result::ok) {
                if got == wanted {
                    let _ = tx.send(());
                    return;
                }
            }
        });
        let seen = rx.recv_timeout(HANG).is_ok();
        let _ = logs.kill();
        let _ = logs.wait();
        assert!(
            seen,
            "{container} never printed {line:?}; daemon log:\n{}",
            self.log_text()
        );
    }

    /// `minidocker ARGS`, our own CLI, against this daemon; its output,
    /// waited for as [`wait_output`] waits.
    pub fn minidocker(&self, args: &[&str]) -> Output {
        let child = Command::new(env!("CARGO_BIN_EXE_minidocker"))
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env_remove("DOCKER_TLS_VERIFY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running minidocker");
        wait_output(child, &format!("minidocker {}", args.join(" ")), self)
    }

    pub fn answers_ping(&self) -> bool {
        self.raw_request(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .starts_with("HTTP/1.1 200")
    }
}

/// Waits for `child` (with its output piped), failing the test on a hang.
pub fn wait_output(child: Child, what: &str, daemon: &Daemon) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(output) => output.expect("waiting for a command"),
        Err(_) => {
            // Ours: we started it, and it has not been reaped (the thread
            // still waits on it), so the PID is still its own.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{what} hung; daemon log:\n{}", daemon.log_text());
        }
    }
}

/// Starts minidockerd on the roots under `dir`; returns once it listens.
fn spawn(dir: &Path, socket: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, Arc<Log>) {
    let mut child = Command::new(MINIDOCKERD)
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("run"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting minidockerd");
    let log = Arc::new(Log::default());
    let (ready_tx, ready_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let ready = line.contains("API listen on");
            lines.push(line);
            if ready {
                let _ = ready_tx.send(());
            }
        }
    });
    // The daemon says it listens once the socket accepts connections.
    if ready_rx.recv_timeout(HANG).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "minidockerd did not start; its log:\n{}",
            log.lines.lock().unwrap().join("\n")
        );
    }
    (child, log)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM: the daemon stops its containers and exits.
        self.terminate();
        // What it mounted under its temp dir (snapshots, network
        // namespaces) must not outlive the test, even after a failure.
        unmount_under(self.dir.path());
    }
}

/// The mount points under `base` in this mount namespace, deepest first.
pub fn mounts_under(base: &Path) -> Vec<String> {
    let base = base.to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Field 5 is the mount point.
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&base))
        .map(str::to_string)
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts
}

/// Unmounts everything under `base` (lazily: a process still inside does
/// not block it), so that nothing a test mounted outlives it.
pub fn unmount_under(base: &Path) {
    for mount in mounts_under(base) {
        let _ = nix::mount::umount2(mount.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

impl Daemon {
    /// Waits until a line of the daemon's log contains `needle`, and
    /// returns that line. The log is filled from the daemon's stderr by
    /// another thread, so a line the daemon has written may not be in it
    /// yet when the client that caused it returns: this waits for the
    /// reader's signal of each new line, and fails the test after [`HANG`].
    pub fn wait_for_log_line(&self, needle: &str) -> String {
        let lines = self.log.lines.lock().unwrap();
        let (lines, timeout) = self
            .log
            .added
            .wait_timeout_while(lines, HANG, |lines| {
                !lines.iter().any(|l| l.contains(needle))
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "no line with {needle:?} in minidockerd's log within {HANG:?}:\n{}",
            lines.join("\n")
        );
        lines.iter().find(|l| l.contains(needle)).unwrap().clone()
    }
}
