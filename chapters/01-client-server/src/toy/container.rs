//! A chapter 01 "container": a plain host process started with pipes for its
//! standard streams. Nothing is isolated — it sees the host's files,
//! processes, network and users. What it has already is the *lifecycle* of
//! a Docker container: created → running → exited → removed, output kept
//! for `logs` and copied live to every attached client, and waits that
//! block until a condition holds. Chapter 03 puts the process in
//! namespaces, chapter 04 in cgroups, chapter 05 hands it to a runtime.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use nix::sys::signal::{SigSet, Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use crate::containers::{LogEntry, Status, WaitCondition};
use crate::error::ApiError;
use crate::exit_code::StartFailure;
use crate::stdcopy::StreamType;
use crate::types::{ContainerConfig, DEFAULT_PATH, HostConfig};

/// The in-memory log keeps at most this much output per container
/// (chapter 05's shim writes Docker's json-file log to disk instead).
const MAX_LOG_BYTES: usize = 16 * 1024 * 1024;

pub struct State {
    pub status: Status,
    pub pid: Option<u32>,
    pub exit_code: i64,
    pub error: String,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    /// How many times the process has exited; `next-exit` waits for a change.
    pub exits: u64,
    pub removed: bool,
    log: VecDeque<LogEntry>,
    log_bytes: usize,
    /// Everyone following the output live: attach streams and `logs -f`.
    /// Dropping the senders at exit ends their streams.
    followers: Vec<Sender<LogEntry>>,
}

/// Standard input: bytes that arrive before the process exists are kept, and
/// so is an early EOF (the CLI may send both before `/start`).
struct Stdin {
    pipe: Option<ChildStdin>,
    pending: Vec<u8>,
    closed: bool,
}

pub struct Container {
    pub id: String,
    pub name: String,
    pub created: SystemTime,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    state: Mutex<State>,
    changed: Condvar,
    stdin: Mutex<Stdin>,
}

/// What `start` found.
pub enum Started {
    Now,
    AlreadyRunning,
}

impl Container {
    pub fn new(
        id: String,
        name: String,
        config: ContainerConfig,
        host_config: HostConfig,
    ) -> Container {
        Container {
            id,
            name,
            created: SystemTime::now(),
            config,
            host_config,
            state: Mutex::new(State {
                status: Status::Created,
                pid: None,
                exit_code: 0,
                error: String::new(),
                started_at: None,
                finished_at: None,
                exits: 0,
                removed: false,
                log: VecDeque::new(),
                log_bytes: 0,
                followers: Vec::new(),
            }),
            changed: Condvar::new(),
            stdin: Mutex::new(Stdin {
                pipe: None,
                pending: Vec::new(),
                closed: false,
            }),
        }
    }

    /// The state, locked. A poisoned lock (a panic while holding it) still
    /// holds consistent data here, so go on with it.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The command line: the entrypoint followed by the command.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.config.entrypoint.clone().unwrap_or_default();
        argv.extend(self.config.cmd.clone().unwrap_or_default());
        argv
    }

    // ANCHOR: start
    /// Starts the process. `on_exit` runs on the reaper thread once the
    /// process has exited and its output is drained (the daemon uses it for
    /// `--rm`).
    pub fn start(
        self: &Arc<Self>,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> Result<Started, ApiError> {
        let mut state = self.state();
        if state.status == Status::Running {
            return Ok(Started::AlreadyRunning);
        }
        let argv = self.argv();
        let Some((program, args)) = argv.split_first() else {
            return Err(ApiError::bad_request("no command specified"));
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", &DEFAULT_PATH["PATH=".len()..])
            .current_dir(if self.config.working_dir.is_empty() {
                "/"
            } else {
                &self.config.working_dir
            })
            .stdin(if self.config.open_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C meant for the daemon's
            // terminal does not reach the containers, and the whole
            // "container" can be signalled at once.
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls are
        // allowed; sigprocmask is one.
        unsafe {
            // A child inherits the signal mask, and the daemon blocks SIGTERM
            // and SIGINT (it takes them with sigwait). Unblock them, or
            // `docker stop` could only ever end in SIGKILL.
            command.pre_exec(|| SigSet::empty().thread_set_mask().map_err(io::Error::from));
        }
        for pair in self.config.env.iter().flatten() {
            match pair.split_once('=') {
                Some((key, value)) => command.env(key, value),
                None => command.env(pair, std::env::var_os(pair).unwrap_or_default()),
            };
        }
        let mut child = command.spawn().map_err(|e| start_error(program, &e))?;
        state.status = Status::Running;
        state.pid = Some(child.id());
        state.started_at = Some(SystemTime::now());
        state.finished_at = None;
        state.error.clear();
        drop(state);
        self.changed.notify_all();

        if let Some(pipe) = child.stdin.take() {
            self.connect_stdin(pipe);
        }
        let container = Arc::clone(self);
        let pumps: Vec<_> = [(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            StreamType::Stdout,
        )]
        .into_iter()
        .chain([(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            StreamType::Stderr,
        )])
        .filter_map(|(pipe, stream)| pipe.map(|p| (p, stream)))
        .map(|(pipe, stream)| {
            let container = container.clone();
            std::thread::spawn(move || container.pump(pipe, stream))
        })
        .collect();
        // The reaper: waits for the process, then for its output to drain.
        let group = Pid::from_raw(child.id() as i32);
        std::thread::spawn(move || {
            // Wait for the exit without reaping it (WNOWAIT): until it is
            // reaped the pid cannot be reused, so clearing `pid` and reaping
            // under the state lock means `signal` never hits a stranger.
            let _ = waitid(Id::Pid(group), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT);
            let status = {
                let mut state = container.state();
                state.pid = None;
                child.wait()
            };
            // When a container's PID 1 exits, the kernel kills every other
            // process in its PID namespace (chapter 03). Our stand-in: kill
            // the process group, or a leftover child holding the output pipe
            // would keep the container "running".
            let _ = killpg(group, Signal::SIGKILL);
            for pump in pumps {
                let _ = pump.join();
            }
            let code = match status {
                Ok(status) => match status.signal() {
                    Some(signal) => crate::signal::exit_status_for(signal),
                    None => status.code().unwrap_or(255) as i64,
                },
                Err(_) => 255,
            };
            container.finish(code);
            on_exit();
        });
        Ok(Started::Now)
    }
    // ANCHOR_END: start

    fn pump(&self, mut pipe: Box<dyn Read + Send>, stream: StreamType) {
        let mut buf = [0u8; 32 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.record(stream, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Keeps output for `logs` and hands it to every follower.
    fn record(&self, stream: StreamType, bytes: &[u8]) {
        let entry = LogEntry {
            stream,
            time: SystemTime::now(),
            bytes: bytes.to_vec(),
        };
        let mut state = self.state();
        state.followers.retain(|f| f.send(entry.clone()).is_ok());
        state.log_bytes += entry.bytes.len();
        state.log.push_back(entry);
        while state.log_bytes > MAX_LOG_BYTES {
            match state.log.pop_front() {
                Some(old) => state.log_bytes -= old.bytes.len(),
                None => break,
            }
        }
    }

    fn finish(&self, exit_code: i64) {
        let mut state = self.state();
        state.status = Status::Exited;
        state.exit_code = exit_code;
        state.pid = None;
        state.finished_at = Some(SystemTime::now());
        state.exits += 1;
        // Ends every attach and `logs -f` stream.
        state.followers.clear();
        drop(state);
        self.stdin().pipe = None;
        self.changed.notify_all();
    }

    /// Marks the container deleted: wakes `wait?condition=removed` and ends
    /// any stream still following it.
    pub fn mark_removed(&self) {
        let mut state = self.state();
        state.removed = true;
        state.followers.clear();
        drop(state);
        self.changed.notify_all();
    }

    // ANCHOR: follow
    /// The output so far and, while the process runs, a channel that gets
    /// everything it writes from now on. Taken under one lock, so no byte
    /// falls between the history and the live stream.
    pub fn follow(&self) -> (Vec<LogEntry>, Option<Receiver<LogEntry>>) {
        let mut state = self.state();
        let history = state.log.iter().cloned().collect();
        if state.status == Status::Exited || state.removed {
            return (history, None);
        }
        let (sender, receiver) = channel();
        state.followers.push(sender);
        (history, Some(receiver))
    }
    // ANCHOR_END: follow

    fn stdin(&self) -> MutexGuard<'_, Stdin> {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connect_stdin(&self, mut pipe: ChildStdin) {
        let mut stdin = self.stdin();
        let pending = std::mem::take(&mut stdin.pending);
        // The process may already be gone (EPIPE): its input is lost, as with a pipe.
        let _ = pipe.write_all(&pending);
        if !stdin.closed {
            stdin.pipe = Some(pipe);
        }
    }

    /// Input from an attached client, buffered until the process exists.
    pub fn write_stdin(&self, bytes: &[u8]) {
        let mut stdin = self.stdin();
        if stdin.closed {
            return;
        }
        match stdin.pipe.as_mut() {
            Some(pipe) => {
                if pipe.write_all(bytes).is_err() {
                    stdin.pipe = None;
                }
            }
            None => stdin.pending.extend_from_slice(bytes),
        }
    }

    /// The client's stdin reached EOF: with `StdinOnce` the process gets EOF too.
    pub fn close_stdin(&self) {
        let mut stdin = self.stdin();
        stdin.closed = true;
        stdin.pipe = None;
    }

    pub fn signal(&self, signal: Signal) -> Result<(), ApiError> {
        let state = self.state();
        let Some(pid) = state.pid.filter(|_| state.status == Status::Running) else {
            return Err(ApiError::conflict(format!(
                "cannot kill container: {}: container {} is not running",
                self.name, self.id
            )));
        };
        // The pid is still ours: the reaper clears it under this lock
        // before it reaps the process.
        let pid = Pid::from_raw(pid as i32);
        // SIGKILL ends the whole container; other signals go to its main
        // process only, which may handle them, as Docker does.
        let result = if signal == Signal::SIGKILL {
            killpg(pid, signal)
        } else {
            kill(pid, signal)
        };
        result.map_err(|e| ApiError::internal(format!("kill({pid}, {signal}): {e}")))
    }

    /// Blocks until `condition` holds, or `timeout` passes (`None`: no limit).
    /// Returns the exit code, or `None` on timeout.
    pub fn wait(&self, condition: WaitCondition, timeout: Option<Duration>) -> Option<i64> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut state = self.state();
        let exits_before = state.exits;
        loop {
            let done = match condition {
                WaitCondition::NotRunning => state.status != Status::Running,
                WaitCondition::NextExit => state.exits > exits_before || state.removed,
                WaitCondition::Removed => state.removed,
            };
            if done {
                return Some(state.exit_code);
            }
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// The error dockerd gives when a process cannot start, in the words the
/// docker CLI turns into 127 or 126 ([`crate::exit_code`]).
fn start_error(program: &str, e: &io::Error) -> ApiError {
    let why = match StartFailure::from_io(program, e) {
        Some(failure) => failure.message(program),
        None => format!("exec: {program:?}: {e}"),
    };
    ApiError::bad_request(format!(
        "failed to create task for container: {why}: unknown"
    ))
}
