//! Shared by the integration tests: a `ch01 daemon` of their own on a
//! socket in a temp dir, stopped by PID when the test ends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CH01: &str = env!("CARGO_BIN_EXE_ch01");
/// How long one client command may take before `timeout` ends it (exit 124).
pub const COMMAND_TIMEOUT: &str = "60";

pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    /// `unix:///...` for DOCKER_HOST and `-H`.
    pub host: String,
    /// Everything the daemon printed on stderr so far.
    pub log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Starts `ch01 daemon` with extra arguments (e.g. `--trace`, or another
    /// `-H tcp://127.0.0.1:0`) and waits until its socket answers.
    pub fn start_with(extra: &[&str]) -> Daemon {
        // A short path: sun_path holds 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ch01-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let socket = dir.path().join("d.sock");
        let host = format!("unix://{}", socket.display());
        let mut child = Command::new(CH01)
            .args(["daemon", "-H", &host])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting ch01 daemon");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&socket).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(50)); // let the log reader finish
                panic!(
                    "ch01 daemon exited with {status}; its log:\n{}",
                    log.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not come up; its log:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            socket,
            host,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The `tcp://127.0.0.1:PORT` the daemon reported, when it has one.
    pub fn tcp_host(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self
                .log()
                .lines()
                .find(|l| l.contains("listening on tcp://"))
            {
                return line.split_whitespace().last().map(str::to_string);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        docker(&self.host, args, None)
    }

    /// Runs `ch01 -H <this daemon> ARGS`.
    pub fn ch01(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["--kill-after=5", COMMAND_TIMEOUT, CH01, "-H", &self.host])
            .args(args)
            .output()
            .expect("running ch01")
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .expect("signalling our daemon");
        self.child.wait().expect("waiting for the daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Our own child, by PID; nothing else is touched.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `docker ARGS` against `host`, with `stdin` if given. The CLI must be
/// installed: `scripts/provision.sh --test` does it.
pub fn docker(host: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    // coreutils' timeout: a protocol bug that deadlocks the CLI (a late
    // wait header, say) fails the test after a while instead of hanging CI.
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=5", COMMAND_TIMEOUT, "docker"])
        .args(args)
        .env("DOCKER_HOST", host)
        // Its own config dir: no user contexts, no credential helpers.
        .env(
            "DOCKER_CONFIG",
            std::env::temp_dir().join("ch01-tests-docker-config"),
        )
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!("cannot run the docker CLI ({e}): install it with `scripts/provision.sh --test`")
    });
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls `check` until it holds (at most 10 s): for state that settles
/// asynchronously, never as a timing assertion.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
