//! minishim: the process that stays with a container.
//!
//! A runtime exits as soon as the container is created (chapter 05's first
//! part), so somebody else must hold the container's stdio, collect its
//! exit status and outlive the engine's restarts. containerd starts one
//! shim per container for that; the engine (final/) starts one minishim.
//!
//! # The contract
//!
//! **Start.** `minishim --bundle DIR --id ID --exec-root DIR [--runtime
//! PATH] [--runtime-root DIR] [--log-file FILE] [--log-max-size BYTES]
//! [--log-max-files N] [--tty] [--stdin]`. The process forks; the child
//! starts a session of its own, becomes a child subreaper and runs
//! `RUNTIME create` for the bundle (the container is created, not started:
//! an engine can attach before there is any output). The first process
//! waits for the child's report on a pipe, then exits: 0 with the control
//! socket's path on stdout, or the failure on stderr (`minishim: MESSAGE`)
//! with Docker's exit code for it (127: command not found, 126: not
//! executable, 1 otherwise). The shim lives on, detached.
//!
//! **Where.** Everything is in `EXEC_ROOT/SHORT/`, SHORT the first 12
//! characters of the ID (a Unix socket's path must fit in 108 bytes):
//! `ctl.sock` (the control socket), `status.json`, `init.pid`,
//! `runtime.log` (the runtime's errors, JSON), and the log,
//! `ID-json.log`, unless `--log-file` says otherwise.
//!
//! **Control socket.** One JSON request per line, one JSON answer per line:
//! see [`control::Request`]. Any number of clients, at any time.
//!
//! **Status file.** `status.json`, replaced atomically on every change:
//! `{"id","pid","status":"created|running|exited","exit_code","signal",
//! "oom_killed","created_at","started_at","finished_at","shim_pid"}` (RFC 3339
//! times; `shim_pid` is the shim's own).
//! When the container has exited, the shim has run `RUNTIME delete`,
//! answered its waiters (every request sent before it stopped taking
//! connections, even one it had not read yet), removed its socket and
//! exited, the status file stays for the engine to collect. An engine that
//! restarts finds the live shims by listing EXEC_ROOT and connecting to
//! each `ctl.sock`.
//!
//! **Attached clients** each get the output through a queue of their own:
//! one that falls 2 MiB behind is cut off, and never holds up the
//! container, its log or the other clients.
//!
//! **A killed shim.** The container lives on, adopted by PID 1; `ctl.sock`
//! refuses connections and `status.json` still says `running`. Its output
//! has no reader any more: its next write fails (SIGPIPE, or EPIPE). The
//! engine asks the runtime (`RUNTIME state ID`) and ends it with `RUNTIME
//! delete --force ID`, which removes its cgroup too.

pub mod client;
pub mod control;
pub mod log;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use api::stdcopy::{StreamType, frame_header, write_frame};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};
use serde::{Deserialize, Serialize};

use control::Request;
use log::{JsonFileLog, LineSplitter};

use namespaces::pidfd::PidFd;

/// How the shim was started.
#[derive(Clone, Debug)]
pub struct ShimOptions {
    pub bundle: PathBuf,
    pub id: String,
    pub exec_root: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    pub log_file: Option<PathBuf>,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub tty: bool,
    pub stdin: bool,
}

impl ShimOptions {
    /// `EXEC_ROOT/SHORT`.
    pub fn dir(&self) -> PathBuf {
        shim_dir(&self.exec_root, &self.id)
    }
}

/// Where the shim of container `id` keeps its files: `EXEC_ROOT/SHORT`,
/// SHORT the first 12 characters of the ID.
pub fn shim_dir(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join(id.chars().take(12).collect::<String>())
}

// ANCHOR: status
/// `status.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimStatus {
    pub id: String,
    pub pid: i32,
    /// created, running or exited.
    pub status: String,
    pub exit_code: Option<i32>,
    /// The signal that ended it (`SIGKILL`), if one did.
    pub signal: Option<String>,
    pub oom_killed: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The shim's own PID: an engine that traces the container waits for
    /// the shim to be gone (its pidfd) before it calls the run ended.
    #[serde(default)]
    pub shim_pid: i32,
}
// ANCHOR_END: status

fn now() -> String {
    api::timefmt::rfc3339_nanos(SystemTime::now())
}

// ANCHOR: spawn
/// The first process: forks the shim and waits for its report. Returns the
/// exit code (0, or Docker's code for the failure).
pub fn spawn(options: &ShimOptions) -> anyhow::Result<i32> {
    crate::state::check_id(&options.id)?;
    let config = options.bundle.join("config.json");
    if !config.is_file() {
        bail!("{} does not exist", config.display());
    }
    // The runtime runs in the bundle directory: a relative path would not
    // be found again from there.
    let options = &ShimOptions {
        bundle: fs::canonicalize(&options.bundle)
            .with_context(|| format!("resolving {}", options.bundle.display()))?,
        ..options.clone()
    };
    let dir = options.dir();
    fs::create_dir_all(&options.exec_root)
        .with_context(|| format!("creating {}", options.exec_root.display()))?;
    match fs::create_dir(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} exists: a shim for this ID (or its first 12 characters) ran here",
                dir.display()
            )
        }
        other => other.with_context(|| format!("creating {}", dir.display()))?,
    }
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    // SAFETY: this process is single-threaded here (main calls us first),
    // so the child's copy of memory has no lock held by a vanished thread.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        ForkResult::Child => {
            drop(report_read);
            let mut report = Some(File::from(report_write));
            let code = match serve(options, &mut report) {
                Ok(()) => 0,
                Err(e) => {
                    let message = format!("{e:#}").replace('\n', " ");
                    // Before the report: the first process says it. After:
                    // only shim.log can.
                    match report.as_mut() {
                        Some(report) => {
                            let _ = writeln!(report, "error 1 {message}");
                        }
                        None => {
                            let _ = fs::write(dir.join("shim.log"), format!("{message}\n"));
                        }
                    }
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { .. } => {
            drop(report_write);
            let mut report = String::new();
            File::from(report_read)
                .read_to_string(&mut report)
                .context("reading the shim's report")?;
            let report = report.trim_end();
            if report == "ok" {
                println!("{}", dir.join("ctl.sock").display());
                return Ok(0);
            }
            let (code, message) = report
                .strip_prefix("error ")
                .and_then(|rest| rest.split_once(' '))
                .map(|(code, message)| (code.parse().unwrap_or(1), message.to_string()))
                .unwrap_or((1, format!("the shim died before reporting ({report:?})")));
            // Nothing lives on: the directory goes too.
            let _ = fs::remove_dir_all(&dir);
            eprintln!("minishim: {message}");
            Ok(code)
        }
    }
}
// ANCHOR_END: spawn

/// What the connection threads share with the main one.
struct Shared {
    options: ShimOptions,
    status: Mutex<ShimStatus>,
    exited: Condvar,
    /// Where the output goes besides the log.
    subscribers: Mutex<Vec<Subscriber>>,
    /// How many subscribers' writer threads are still writing.
    writers: Mutex<usize>,
    writer_ended: Condvar,
    /// Set once the container's output has ended: a client that attaches
    /// later gets its end at once.
    output_ended: AtomicBool,
    /// The container's stdin (with `--stdin`), until closed.
    stdin: Mutex<Option<File>>,
    /// The masters of running execs' terminals, by exec ID, for resize.
    exec_terminals: Mutex<HashMap<String, File>>,
    /// The pid files of running execs (the runtime's `--pid-file`), by exec ID.
    exec_pid_files: Mutex<HashMap<String, PathBuf>>,
    /// The terminal's master (with `--tty`), for resize.
    master: Option<File>,
    /// The connections being served, by number: the shim ends them when it
    /// goes, after their requests are answered.
    connections: Mutex<HashMap<u64, UnixStream>>,
    /// Told each time a connection's handler is done.
    connection_ended: Condvar,
    /// Set when the shim stops taking connections.
    closing: AtomicBool,
}

// ANCHOR: subscriber
/// An attached client. Its own thread writes to it from a bounded queue,
/// so a client that reads slowly, or not at all, holds up nobody else.
struct Subscriber {
    queue: mpsc::SyncSender<Arc<[u8]>>,
    /// The client's connection, to cut it off (the writer then stops).
    connection: UnixStream,
    stdout: bool,
    stderr: bool,
}

/// Chunks (of 32 KiB at most) a client may fall behind before it is cut
/// off: 2 MiB.
const SUBSCRIBER_QUEUE: usize = 64;
// ANCHOR_END: subscriber

impl Subscriber {
    /// Starts the client's writer thread, counted in `shared.writers` so
    /// that the exiting shim can let every writer finish what is queued.
    fn start(
        shared: &Arc<Shared>,
        connection: &UnixStream,
        stdout: bool,
        stderr: bool,
    ) -> std::io::Result<Subscriber> {
        let (queue, chunks) = mpsc::sync_channel::<Arc<[u8]>>(SUBSCRIBER_QUEUE);
        let mut out = connection.try_clone()?;
        *shared.writers.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let shared = shared.clone();
        std::thread::spawn(move || {
            for chunk in chunks {
                if out.write_all(&chunk).is_err() {
                    break; // the client went away, or was cut off
                }
            }
            // Every sender gone: the output has ended, and the client
            // reads its end.
            let _ = out.shutdown(std::net::Shutdown::Write);
            *shared.writers.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
            shared.writer_ended.notify_all();
        });
        Ok(Subscriber {
            queue,
            connection: connection.try_clone()?,
            stdout,
            stderr,
        })
    }

    // ANCHOR: offer
    /// Queues `chunk` for the client; false if the client is gone or was
    /// too far behind (then it is cut off).
    fn offer(&self, chunk: Arc<[u8]>) -> bool {
        match self.queue.try_send(chunk) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(_)) => {
                let _ = self.connection.shutdown(std::net::Shutdown::Both);
                false
            }
            Err(mpsc::TrySendError::Disconnected(_)) => false,
        }
    }
    // ANCHOR_END: offer
}

impl Shared {
    fn save(&self, status: &ShimStatus) {
        let path = self.options.dir().join("status.json");
        if let Ok(text) = serde_json::to_vec_pretty(status) {
            let _ = images::atomic::write_file(&path, &text);
        }
    }

    /// Runs `runtime ARGS`; its error message if it fails.
    fn run_runtime(&self, args: &[&str]) -> anyhow::Result<()> {
        let began = api::trace::now();
        let out = runtime_command(&self.options)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {}", self.options.runtime.display()))?;
        api::trace::step(began, RUNTIME_PAGE, || {
            let args: Vec<&str> = args
                .iter()
                .copied()
                .filter(|a| *a != self.options.id)
                .collect();
            let name = runtime_name(&self.options);
            format!("runs `{name} {}`: {}", args.join(" "), out.status)
        });
        if !out.status.success() {
            bail!("{}", runtime_error(&out.stderr));
        }
        Ok(())
    }
}

/// `RUNTIME --root … --log DIR/runtime.log --log-format json`, in the
/// bundle: how containerd's shim calls runc, too.
fn runtime_command(options: &ShimOptions) -> Command {
    let mut command = Command::new(&options.runtime);
    command
        .arg("--root")
        .arg(&options.runtime_root)
        .arg("--log")
        .arg(options.dir().join("runtime.log"))
        .args(["--log-format", "json"])
        .current_dir(&options.bundle);
    command
}

/// The runtime's error line, without its "minirunc: " prefix.
fn runtime_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().last().unwrap_or("the runtime failed").trim();
    line.split_once(": ")
        .filter(|(program, _)| !program.contains(' '))
        .map_or(line, |(_, message)| message)
        .to_string()
}

// ANCHOR: serve
/// The shim itself, in the forked child.
/// `report` is the pipe to the first process, until the report is made.
fn serve(options: &ShimOptions, report: &mut Option<File>) -> anyhow::Result<()> {
    let began = api::trace::now();
    // A session of its own: no terminal, no signal meant for the engine's
    // process group. A subreaper: the container's init, orphaned when
    // `runtime create` exits, is re-parented to us rather than to PID 1.
    nix::unistd::setsid().context("setsid")?;
    nix::sys::prctl::set_child_subreaper(true).context("prctl(PR_SET_CHILD_SUBREAPER)")?;
    let dir = options.dir();
    // Our own stdio goes nowhere: the caller's terminal or pipe is not ours.
    let null = File::options().read(true).write(true).open("/dev/null")?;
    for fd in 0..=2 {
        nix::unistd::dup2(null.as_raw_fd(), fd).context("dup2(/dev/null)")?;
    }
    let listener = UnixListener::bind(dir.join("ctl.sock"))
        .with_context(|| format!("binding {}", dir.join("ctl.sock").display()))?;
    api::trace::step(began, MINISHIM_PAGE, || {
        format!(
            "pid {}: setsid, child subreaper, listens on {}",
            nix::unistd::getpid(),
            dir.join("ctl.sock").display()
        )
    });
    let created = create(options);
    let (init, stdout, stderr, stdin, master) = match created {
        Ok(created) => created,
        Err((code, message)) => {
            if let Some(report) = report.as_mut() {
                let _ = writeln!(report, "error {code} {}", message.replace('\n', " "));
            }
            std::process::exit(code);
        }
    };
    let status = ShimStatus {
        id: options.id.clone(),
        pid: init.as_raw(),
        status: "created".into(),
        created_at: now(),
        shim_pid: nix::unistd::getpid().as_raw(),
        ..Default::default()
    };
    let shared = Arc::new(Shared {
        options: options.clone(),
        status: Mutex::new(status.clone()),
        exited: Condvar::new(),
        subscribers: Mutex::new(Vec::new()),
        writers: Mutex::new(0),
        writer_ended: Condvar::new(),
        output_ended: AtomicBool::new(false),
        stdin: Mutex::new(stdin),
        master: master.as_ref().map(|m| m.try_clone()).transpose()?,
        exec_terminals: Mutex::new(HashMap::new()),
        exec_pid_files: Mutex::new(HashMap::new()),
        connections: Mutex::new(HashMap::new()),
        connection_ended: Condvar::new(),
        closing: AtomicBool::new(false),
    });
    shared.save(&status);
    let log_path = options
        .log_file
        .clone()
        .unwrap_or_else(|| dir.join(format!("{}-json.log", options.id)));
    let log = Arc::new(Mutex::new(JsonFileLog::open(
        &log_path,
        options.log_max_size,
        options.log_max_files,
    )?));
    let mut copiers = Vec::new();
    for (stream, source) in [(StreamType::Stdout, stdout), (StreamType::Stderr, stderr)] {
        if let Some(source) = source {
            let (shared, log) = (shared.clone(), log.clone());
            copiers.push(std::thread::spawn(move || {
                copy_output(&shared, &log, stream, source)
            }));
        }
    }
    // A second descriptor of the listening socket: shutdown(2) through it
    // ends the accepting thread's accept(2) (see `close_connections`).
    let listening = listener.try_clone().context("dup of the control socket")?;
    let acceptor = {
        let shared = shared.clone();
        std::thread::spawn(move || accept_clients(&shared, &listener))
    };
    // Closing the pipe lets the first process exit.
    api::trace::moment("ch05-runtime.md#minishims-contract", || {
        "reports \"ok\": its first process exits, the engine's call returns".into()
    });
    if let Some(mut pipe) = report.take() {
        writeln!(pipe, "ok").context("reporting to the first process")?;
    }

    // The container's init is ours now: wait for it (only for it, so that
    // the runtime commands the client threads run are theirs to wait for).
    let ended = loop {
        match waitpid(init, None) {
            Ok(WaitStatus::Exited(_, code)) => break (code, None),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                let code = api::signal::exit_status_for(signal as i32) as i32;
                break (code, Some(signal.as_str().to_string()));
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waitpid(init)"),
        }
    };
    api::trace::moment(MINISHIM_PAGE, || match &ended.1 {
        None => format!("waitpid(2): pid {init} exited with status {}", ended.0),
        Some(signal) => format!("waitpid(2): pid {init} was killed by {signal}"),
    });
    // The output ends when the last process holding the pipes is gone.
    let began = api::trace::now();
    for copier in copiers {
        let _ = copier.join();
    }
    api::trace::step(began, "ch05-runtime.md#minishim", || {
        "the output's pipes closed: all of it is in the log".into()
    });
    let began = api::trace::now();
    let oom_killed = oom_killed(options).unwrap_or(false);
    api::trace::step(began, "ch04-cgroups.md#what-happens-at-a-limit", || {
        format!("OOM check: the cgroup's oom_kill count says killed by the kernel: {oom_killed}")
    });
    let _ = shared.run_runtime(&["delete", "--force", &options.id]);
    let mut status = shared.status.lock().unwrap_or_else(|e| e.into_inner());
    status.status = "exited".into();
    status.exit_code = Some(ended.0);
    status.signal = ended.1;
    status.oom_killed = oom_killed;
    status.finished_at = Some(now());
    shared.save(&status);
    // Its last line: after it, the engine's wait is answered.
    api::trace::moment("ch05-runtime.md#minishims-contract", || {
        "status.json says exited; answers the waiters, closes ctl.sock, exits".into()
    });
    shared.exited.notify_all();
    drop(status);
    finish_subscribers(&shared);
    // The waiters answer before we go; the socket goes, the status stays.
    close_connections(&shared, &listening, acceptor);
    let _ = fs::remove_file(dir.join("ctl.sock"));
    Ok(())
}
// ANCHOR_END: serve

/// The output has ended: every attached client gets what is queued for
/// it, then its end of the stream. One that reads nothing for 10 s is cut
/// off (a bound for a stalled client, not a wait for an event).
fn finish_subscribers(shared: &Shared) {
    let subscribers = {
        let mut list = shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        shared.output_ended.store(true, Ordering::SeqCst);
        std::mem::take(&mut *list)
    };
    // Dropping the queues' senders ends each writer's loop after the last
    // queued chunk.
    let connections: Vec<UnixStream> = subscribers.into_iter().map(|s| s.connection).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut writing = shared.writers.lock().unwrap_or_else(|e| e.into_inner());
    while *writing > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            for connection in &connections {
                let _ = connection.shutdown(std::net::Shutdown::Both);
            }
            break;
        }
        writing = shared
            .writer_ended
            .wait_timeout(writing, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The waiters answer before the shim goes: no connection is taken any
/// more, and every connection is served to the end of what its client sent.
fn close_connections(
    shared: &Shared,
    listening: &UnixListener,
    acceptor: std::thread::JoinHandle<()>,
) {
    shared.closing.store(true, Ordering::SeqCst);
    // shutdown(SHUT_RD) on a listening Unix socket: connect(2) is refused
    // from now on, and accept(2) hands over the connections already queued,
    // then fails (EINVAL) instead of blocking: the accepting thread ends
    // with every connection made before this point being served.
    let _ = nix::sys::socket::shutdown(listening.as_raw_fd(), nix::sys::socket::Shutdown::Read);
    let _ = acceptor.join();
    let mut connections = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
    // The read side shut, a handler still reads what its client had sent
    // (a `wait` is answered at once: the status is final), then the end of
    // it; an attached client's input ends too.
    for connection in connections.values() {
        let _ = connection.shutdown(std::net::Shutdown::Read);
    }
    // A bound for a client that reads no answer (a handler stuck writing
    // to it), not a wait for an answer: those come first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !connections.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        connections = shared
            .connection_ended
            .wait_timeout(connections, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

type Created = (Pid, Option<File>, Option<File>, Option<File>, Option<File>);

/// `runtime create`, with pipes (or a terminal) for the container's stdio.
fn create(options: &ShimOptions) -> Result<Created, (i32, String)> {
    let fail = |e: anyhow::Error| (1, format!("{e:#}"));
    let dir = options.dir();
    let pid_file = dir.join("init.pid");
    let mut command = runtime_command(options);
    command
        .args(["create", "--bundle"])
        .arg(&options.bundle)
        .arg("--pid-file")
        .arg(&pid_file);
    let mut ours = (None, None, None, None);
    let console = if options.tty {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("binding {}", path.display()))
            .map_err(fail)?;
        command.arg("--console-socket").arg(&path);
        command.stdin(Stdio::null()).stdout(Stdio::null());
        Some((listener, path))
    } else {
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2");
        let (out_read, out_write) = pipe().map_err(fail)?;
        let (err_read, err_write) = pipe().map_err(fail)?;
        command.stdout(Stdio::from(out_write));
        ours.1 = Some(File::from(out_read));
        ours.2 = Some(File::from(err_read));
        if options.stdin {
            let (in_read, in_write) = pipe().map_err(fail)?;
            command.stdin(Stdio::from(in_read));
            ours.0 = Some(File::from(in_write));
        } else {
            command.stdin(Stdio::null());
        }
        // The runtime's own error goes to its log; the container's stderr
        // is the pipe. A failure is read from runtime.log below.
        command.stderr(Stdio::from(err_write));
        None
    };
    command.arg(&options.id);
    let began = api::trace::now();
    let status = command
        .status()
        .with_context(|| format!("running {}", options.runtime.display()))
        .map_err(fail)?;
    api::trace::step(began, RUNTIME_PAGE, || {
        format!("runs `{} create`: {status}", runtime_name(options))
    });
    if !status.success() {
        let message = last_log_error(&dir.join("runtime.log")).unwrap_or_else(|| {
            format!("{} create exited with {status}", options.runtime.display())
        });
        // The runtime's 126 and 127 are Docker's, for the command.
        let code = status
            .code()
            .filter(|c| *c == 126 || *c == 127)
            .unwrap_or(1);
        return Err((code, message));
    }
    if let Some((listener, path)) = console {
        // The runtime connected during create; the container sent the
        // terminal's master over it before create returned.
        listener.set_nonblocking(true).map_err(|e| fail(e.into()))?;
        let (connection, _) = listener
            .accept()
            .context("the runtime did not connect to the console socket")
            .map_err(fail)?;
        connection
            .set_nonblocking(false)
            .map_err(|e| fail(e.into()))?;
        let master = namespaces::terminal::receive_master(connection.as_raw_fd()).map_err(fail)?;
        let _ = fs::remove_file(path);
        let master = File::from(master);
        let reader = master.try_clone().map_err(|e| fail(e.into()))?;
        let writer = master.try_clone().map_err(|e| fail(e.into()))?;
        ours = (Some(writer), Some(reader), None, Some(master));
    }
    let pid: i32 = fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            (
                1,
                format!("the runtime wrote no PID to {}", pid_file.display()),
            )
        })?;
    Ok((Pid::from_raw(pid), ours.1, ours.2, ours.0, ours.3))
}

/// The book's page on the shim.
pub const MINISHIM_PAGE: &str = "ch05-runtime.md#minishim-the-process-that-stays";

/// The book's page on a runtime's commands.
const RUNTIME_PAGE: &str = "ch05-runtime.md#why-runc-is-a-short-lived-binary";

/// `minirunc`, for the trace.
fn runtime_name(options: &ShimOptions) -> String {
    options
        .runtime
        .file_name()
        .map_or("the runtime".into(), |n| n.to_string_lossy().into_owned())
}

/// The last `msg` of a runtime's JSON log (runc's and minirunc's format).
fn last_log_error(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        value["msg"].as_str().map(String::from)
    })
}

/// Whether the kernel OOM-killed anything in the container's cgroup.
fn oom_killed(options: &ShimOptions) -> anyhow::Result<bool> {
    // minirunc's state names the cgroup; with another runtime (runc), the
    // bundle's cgroupsPath does.
    let saved = crate::state::StateDir {
        root: options.runtime_root.clone(),
    }
    .load(&options.id);
    let path = match saved {
        Ok(saved) => saved.cgroup_path,
        Err(_) => crate::lifecycle::load_spec(&options.bundle)?
            .linux
            .and_then(|l| l.cgroups_path)
            .context("no cgroupsPath in config.json")?,
    };
    Ok(cgroups::manager_at(&path)?.stats()?.oom_kills > 0)
}

// ANCHOR: copy_output
/// One output stream: to the log, and to every attached client.
fn copy_output(shared: &Shared, log: &Mutex<JsonFileLog>, stream: StreamType, mut source: File) {
    let name = stream.name();
    let mut split = LineSplitter::default();
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let read = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the terminal's last slave descriptor closed.
            Err(_) => break,
        };
        let bytes = &buffer[..read];
        let time = SystemTime::now();
        {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            for entry in split.push(bytes) {
                log.write(name, &entry, time);
            }
        }
        // Framed once, queued for each client that wants this stream. A
        // queue that is full belongs to a client that stopped reading: it
        // is cut off, and the container and its log never wait for it.
        let chunk: Arc<[u8]> = if shared.options.tty {
            bytes.into()
        } else {
            // read ≤ 32 KiB: the buffer's size fits a frame's u32.
            [&frame_header(stream, read as u32)[..], bytes]
                .concat()
                .into()
        };
        let mut subscribers = shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers.retain(|s| {
            let wanted = match stream {
                StreamType::Stdout => s.stdout,
                _ => s.stderr,
            };
            !wanted || s.offer(chunk.clone())
        });
    }
    if let Some(rest) = split.finish() {
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.write(name, &rest, SystemTime::now());
    }
}
// ANCHOR_END: copy_output

fn accept_clients(shared: &Arc<Shared>, listener: &UnixListener) {
    let mut next = 0u64;
    loop {
        let connection = match listener.accept() {
            Ok((connection, _)) => connection,
            // Shut down (see `close_connections`): every queued connection
            // has been taken.
            Err(_) if shared.closing.load(Ordering::SeqCst) => return,
            Err(_) => continue,
        };
        // Registered here, before the next accept: the closing shim waits
        // for every connection this thread took.
        let Ok(ours) = connection.try_clone() else {
            continue;
        };
        let number = next;
        next += 1;
        shared
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(number, ours);
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = handle_client(&shared, connection);
            shared
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&number);
            shared.connection_ended.notify_all();
        });
    }
}

// ANCHOR: handle_client
fn handle_client(shared: &Arc<Shared>, connection: UnixStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(connection.try_clone()?);
    let mut out = connection.try_clone()?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        let request: Request = match serde_json::from_str(line.trim()) {
            Ok(request) => request,
            Err(e) => {
                control::refuse(
                    &mut out,
                    &format!("not a request ({e}): see minishim's docs"),
                )?;
                line.clear();
                continue;
            }
        };
        line.clear();
        let id = shared.options.id.as_str();
        match request {
            Request::Start => match shared.run_runtime(&["start", id]) {
                Ok(()) => {
                    let mut status = shared.status.lock().unwrap_or_else(|e| e.into_inner());
                    if status.status == "created" {
                        status.status = "running".into();
                        status.started_at = Some(now());
                        shared.save(&status);
                    }
                    control::answer(&mut out, serde_json::json!({"ok": true}))?;
                }
                Err(e) => control::refuse(&mut out, &format!("{e:#}"))?,
            },
            Request::Status => {
                let status = shared
                    .status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                control::answer(&mut out, serde_json::json!({"ok": true, "status": status}))?;
            }
            Request::Wait => {
                let mut status = shared.status.lock().unwrap_or_else(|e| e.into_inner());
                while status.status != "exited" {
                    status = shared
                        .exited
                        .wait(status)
                        .unwrap_or_else(|e| e.into_inner());
                }
                let status = status.clone();
                control::answer(&mut out, serde_json::json!({"ok": true, "status": status}))?;
            }
            Request::Signal { signal } => {
                match shared.run_runtime(&["kill", id, &signal.to_string()]) {
                    Ok(()) => control::answer(&mut out, serde_json::json!({"ok": true}))?,
                    Err(e) => control::refuse(&mut out, &format!("{e:#}"))?,
                }
            }
            Request::Resize {
                height,
                width,
                exec,
            } => {
                let execs = shared
                    .exec_terminals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let terminal = match &exec {
                    None => shared
                        .master
                        .as_ref()
                        .ok_or("no terminal: the shim was started without --tty".to_string()),
                    Some(name) => execs
                        .get(name)
                        .ok_or(format!("no exec {name:?} with a terminal is running")),
                };
                match terminal.map(|t| resize(t, height, width)) {
                    Ok(Ok(())) => control::answer(&mut out, serde_json::json!({"ok": true}))?,
                    Ok(Err(e)) => control::refuse(&mut out, &format!("ioctl(TIOCSWINSZ): {e}"))?,
                    Err(why) => control::refuse(&mut out, &why)?,
                }
            }
            Request::ExecPid { exec } => match exec_pid(shared, &exec) {
                Ok(pid) => control::answer(&mut out, serde_json::json!({"ok": true, "pid": pid}))?,
                Err(e) => control::refuse(&mut out, &format!("{e:#}"))?,
            },
            Request::SignalExec { exec, signal } => {
                let sent = exec_pid(shared, &exec).and_then(|pid| {
                    let signal = nix::sys::signal::Signal::try_from(signal)?;
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
                        .with_context(|| format!("kill({pid}, {signal})"))
                });
                match sent {
                    Ok(()) => control::answer(&mut out, serde_json::json!({"ok": true}))?,
                    Err(e) => control::refuse(&mut out, &format!("{e:#}"))?,
                }
            }
            Request::Exec { process, id } => {
                // What the client sent after the request line is input.
                let early = reader.buffer().to_vec();
                match run_exec(shared, &process, id.as_deref(), &connection, &early) {
                    Ok(()) => {}
                    Err(e) => control::refuse(&mut out, &format!("{e:#}"))?,
                }
                return Ok(());
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
                stdin_once,
            } => {
                // The answer goes out under the subscribers' lock, and the
                // subscription is made before it is released: an engine
                // that starts the container as soon as it reads the answer
                // must not lose the first output, and no output may come
                // before the answer line.
                let mut subscribers = shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
                control::answer(
                    &mut out,
                    serde_json::json!({"ok": true, "tty": shared.options.tty}),
                )?;
                if shared.output_ended.load(Ordering::SeqCst) {
                    // Nothing more will come: the end, at once.
                    let _ = connection.shutdown(std::net::Shutdown::Write);
                } else {
                    subscribers.push(Subscriber::start(shared, &connection, stdout, stderr)?);
                }
                drop(subscribers);
                if stdin {
                    // The rest of the connection is the container's input.
                    let mut input = Vec::new();
                    input.extend_from_slice(reader.buffer());
                    copy_input(shared, &input, reader.into_inner(), stdin_once);
                }
                return Ok(());
            }
        }
    }
    Ok(())
}
// ANCHOR_END: handle_client

/// The host PID of the running exec named `id`, from its pid file.
fn exec_pid(shared: &Shared, id: &str) -> anyhow::Result<i32> {
    let pid_files = shared
        .exec_pid_files
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let path = pid_files
        .get(id)
        .with_context(|| format!("no exec {id:?} is running"))?;
    let text = fs::read_to_string(path)
        .with_context(|| format!("exec {id:?} has no PID yet ({})", path.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("{} holds no PID", path.display()))
}

/// TIOCSWINSZ on a terminal's master: the process on its slave gets
/// SIGWINCH and reads the new size.
fn resize(master: &File, height: u16, width: u16) -> std::io::Result<()> {
    let size = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one struct winsize.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A client's input to the container's stdin, until the client's end.
fn copy_input(shared: &Shared, already: &[u8], mut from: UnixStream, close_at_end: bool) {
    let write = |bytes: &[u8]| -> bool {
        let mut stdin = shared.stdin.lock().unwrap_or_else(|e| e.into_inner());
        match stdin.as_mut() {
            Some(file) => file.write_all(bytes).is_ok(),
            None => false,
        }
    };
    if !already.is_empty() && !write(already) {
        return;
    }
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !write(&buffer[..n]) {
                    return;
                }
            }
        }
    }
    if close_at_end && !shared.options.tty {
        // The container reads EOF: `cat` ends.
        shared
            .stdin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

// ANCHOR: exec
/// `runtime exec --process FILE ID` with its stdio on this connection.
fn run_exec(
    shared: &Shared,
    process: &serde_json::Value,
    id: Option<&str>,
    connection: &UnixStream,
    early_input: &[u8],
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = shared.options.dir();
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let process_file = dir.join(format!("exec-{number}.json"));
    images::atomic::write_file(&process_file, &serde_json::to_vec(process)?)?;
    let tty = process["terminal"].as_bool().unwrap_or(false);
    let mut command = runtime_command(&shared.options);
    command.arg("exec").arg("--process").arg(&process_file);
    // The runtime writes the process's PID there once it runs: a named
    // exec can be asked for its PID, or signalled, while it runs.
    let pid_file = dir.join(format!("exec-{number}.pid"));
    if let Some(id) = id {
        command.arg("--pid-file").arg(&pid_file);
        shared
            .exec_pid_files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), pid_file.clone());
    }
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2");
    let (mut stdin, mut outputs) = (None, Vec::new());
    let console = if tty {
        let path = dir.join(format!("exec-{number}.sock"));
        let listener = UnixListener::bind(&path)?;
        command.arg("--console-socket").arg(&path);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Some(listener)
    } else {
        let (in_read, in_write) = pipe()?;
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        command
            .stdin(Stdio::from(in_read))
            .stdout(Stdio::from(out_write))
            .stderr(Stdio::from(err_write));
        stdin = Some(File::from(in_write));
        outputs.push((StreamType::Stdout, File::from(out_read)));
        outputs.push((StreamType::Stderr, File::from(err_read)));
        None
    };
    let mut child = command.arg(&shared.options.id).spawn()?;
    drop(command); // our copies of the container's pipe ends
    if let Some(listener) = console {
        // The runtime connects while it sets the process up; if it fails
        // first, it never does. Whichever comes first: a connection, or the
        // runtime's exit (its pidfd: our child, not reaped yet, so the PID
        // is its own). A runtime that connected and then exited has its
        // connection queued: it is accepted all the same.
        let runtime = PidFd::open(child.id() as i32)?;
        let mut ready = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(runtime.as_fd(), PollFlags::POLLIN),
        ];
        loop {
            match nix::poll::poll(&mut ready, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll(2) for the console socket"),
                Ok(_) => break,
            }
        }
        listener.set_nonblocking(true)?;
        let connected = match listener.accept() {
            Ok((connection, _)) => Some(connection),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => return Err(e.into()),
        };
        let _ = fs::remove_file(dir.join(format!("exec-{number}.sock")));
        if let Some(socket) = connected {
            socket.set_nonblocking(false)?;
            let master = File::from(namespaces::terminal::receive_master(socket.as_raw_fd())?);
            stdin = Some(master.try_clone()?);
            if let Some(id) = id {
                let mut execs = shared
                    .exec_terminals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                execs.insert(id.to_string(), master.try_clone()?);
            }
            outputs.push((StreamType::Stdout, master));
        }
    }
    control::answer(
        &mut connection.try_clone()?,
        serde_json::json!({"ok": true}),
    )?;
    // Input: the client's bytes, until its end (then the process's stdin
    // closes: `echo hi | docker exec -i c cat` ends).
    if let Some(mut stdin) = stdin {
        let mut from = connection.try_clone()?;
        let early_input = early_input.to_vec();
        std::thread::spawn(move || {
            if stdin.write_all(&early_input).is_ok() {
                // read(2) and write(2), not std::io::copy: into a pipe it
                // splices, and splice(2) from a socket holds the pipe's
                // lock while it waits for the socket — the runtime, exiting
                // with the process, then hangs closing its end of the pipe
                // (pipe_release) until the client sends something. An exec
                // ends when its process does, input or not.
                let mut buffer = vec![0u8; 32 * 1024];
                while let Ok(n) = from.read(&mut buffer) {
                    if n == 0 || stdin.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        });
    }
    let sink = Arc::new(Mutex::new(connection.try_clone()?));
    let copiers: Vec<_> = outputs
        .into_iter()
        .map(|(stream, mut source)| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 32 * 1024];
                // EIO ends a terminal's output.
                while let Ok(n) = source.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
                    // n ≤ 32 KiB: the buffer's size fits a frame's u32.
                    let header = frame_header(stream, n as u32);
                    if sink
                        .write_all(&header)
                        .and_then(|()| sink.write_all(&buffer[..n]))
                        .is_err()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    let status = child.wait()?;
    for copier in copiers {
        let _ = copier.join();
    }
    if let Some(id) = id {
        let mut execs = shared
            .exec_terminals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        execs.remove(id);
        // Gone before the status goes out: nobody signals a PID that
        // may be someone else's by now.
        let mut pid_files = shared
            .exec_pid_files
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pid_files.remove(id);
        let _ = fs::remove_file(&pid_file);
    }
    let _ = fs::remove_file(&process_file);
    let code = status.code().unwrap_or_else(|| {
        let signal = std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0);
        api::signal::exit_status_for(signal) as i32
    });
    let text = code.to_string();
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    if tty && code != 0 {
        // A terminal's process has no stderr of its own: the runtime's
        // error, if it failed, goes to stream 2.
        if let Some(message) = last_log_error(&dir.join("runtime.log")) {
            write_frame(
                &mut *sink,
                StreamType::Stderr,
                format!("{message}\n").as_bytes(),
            )?;
        }
    }
    write_frame(&mut *sink, StreamType::Exit, text.as_bytes())?;
    Ok(())
}
// ANCHOR_END: exec
