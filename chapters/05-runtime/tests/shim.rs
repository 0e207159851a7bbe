//! minishim against minirunc: the report, the control socket, the log,
//! the status file, and a shim that outlives whoever started it.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::{HANG, Lines, MINIRUNC, SpecBy, busybox_bundle, delete_all, edit_config, wait_exit};
use namespaces::pidfd::PidFd;

const MINISHIM: &str = env!("CARGO_BIN_EXE_minishim");

/// A bundle (`runc spec` + busybox), a runtime root and an exec root.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(args: &[&str]) -> Fixture {
        common::require_root();
        // Short: the control socket's path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("mds")
            .tempdir_in("/tmp")
            .unwrap();
        busybox_bundle(&dir.path().join("bundle"), SpecBy::Runc, args);
        Fixture { dir }
    }

    fn edit(&self, change: impl FnOnce(&mut serde_json::Value)) {
        edit_config(&self.dir.path().join("bundle"), change);
    }

    fn exec_root(&self) -> PathBuf {
        self.dir.path().join("e")
    }

    /// `minishim … ID EXTRA`: its output once the first process exits. The
    /// bundle's path is relative, as a user may give it.
    fn spawn(&self, id: &str, extra: &[&str]) -> Output {
        Command::new("timeout")
            .args(["--kill-after=5", "60", MINISHIM, "--bundle", "bundle"])
            .current_dir(self.dir.path())
            .args(["--id", id, "--exec-root"])
            .arg(self.exec_root())
            .args(["--runtime", MINIRUNC, "--runtime-root"])
            .arg(self.dir.path().join("r"))
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// [`Fixture::spawn`] that must succeed: the control socket's path.
    fn started(&self, id: &str, extra: &[&str]) -> PathBuf {
        let out = self.spawn(id, extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert_eq!(socket, self.shim_dir(id).join("ctl.sock"));
        socket
    }

    /// A fifo at `/go` in the container's root: `read line < /go` waits
    /// there until the test says [`Go::go`].
    fn go(&self) -> Go {
        let path = self.dir.path().join("bundle/rootfs/go");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        Go(path, None)
    }

    fn shim_dir(&self, id: &str) -> PathBuf {
        self.exec_root().join(&id[..id.len().min(12)])
    }

    fn status(&self, id: &str) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.shim_dir(id).join("status.json")).unwrap()).unwrap()
    }

    fn log(&self, id: &str) -> Vec<serde_json::Value> {
        fs::read_to_string(self.shim_dir(id).join(format!("{id}-json.log")))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Whatever a failed test left: force-deleted by the runtime.
impl Drop for Fixture {
    fn drop(&mut self) {
        delete_all(&self.dir.path().join("r"));
    }
}

/// The fifo of [`Fixture::go`].
struct Go(PathBuf, Option<fs::File>);

impl Go {
    /// A line for the container's `read`. Opened for reading and writing, so
    /// that the open does not wait for the container to be at its read; and
    /// held open until dropped: a fifo's bytes go when its last descriptor
    /// closes.
    fn go(&mut self) {
        let mut fifo = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0)
            .unwrap();
        fifo.write_all(b"go\n").unwrap();
        self.1 = Some(fifo);
    }
}

/// A `wait` on a connection of its own, and the shim's pidfd: the answer
/// comes once the container has exited and the status is final, then the
/// shim exits. Made before what ends the container (a start, a signal):
/// once gone, a shim takes no request.
struct Waiter {
    connection: BufReader<UnixStream>,
    shim: PidFd,
    socket: PathBuf,
}

impl Waiter {
    fn new(socket: &Path) -> Waiter {
        let mut stream = UnixStream::connect(socket).unwrap();
        // The peer of a connection to a listening socket is whoever listens
        // (SO_PEERCRED): the shim. Its pidfd is opened before the request,
        // and the answer says the shim was alive then: the PID was its own.
        let credentials =
            nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
                .unwrap();
        let shim = common::pidfd(credentials.pid());
        stream.write_all(b"{\"op\":\"wait\"}\n").unwrap();
        Waiter {
            connection: BufReader::new(stream),
            shim,
            socket: socket.to_path_buf(),
        }
    }

    /// The status once the shim has gone: the wait's answer, the same as
    /// the status file it left; the shim exited, its socket went with it.
    fn gone(mut self) -> serde_json::Value {
        assert!(
            common::readable(self.connection.get_ref(), HANG),
            "the wait was not answered within {HANG:?}"
        );
        let mut line = String::new();
        self.connection.read_line(&mut line).unwrap();
        let answer: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(answer["ok"], true, "{answer}");
        wait_exit(&self.shim, "the shim");
        assert!(!self.socket.exists(), "the shim left its socket");
        let status: serde_json::Value =
            serde_json::from_slice(&fs::read(self.socket.with_file_name("status.json")).unwrap())
                .unwrap();
        assert_eq!(answer["status"], status, "the wait said otherwise");
        status
    }
}

/// One request on a new connection, and its answer.
fn ask(socket: &Path, request: &str) -> serde_json::Value {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[test]
fn privileged_create_start_wait_log_and_status() {
    let f = Fixture::new(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let id = format!("shim-{}", std::process::id());
    let socket = f.started(&id, &[]);
    // Created, not started: nothing has run yet.
    assert_eq!(f.status(&id)["status"], "created");
    assert!(f.log(&id).is_empty());
    let status = ask(&socket, r#"{"op":"status"}"#);
    assert_eq!(status["status"]["status"], "created");
    // Waiting before the start, as Docker does: the container may be gone
    // as soon as it has started.
    let waiter = Waiter::new(&socket);
    assert_eq!(
        ask(&socket, r#"{"op":"start"}"#),
        serde_json::json!({"ok": true})
    );
    // The shim is gone, its socket too; the status stays.
    let waited = waiter.gone();
    assert_eq!(waited["exit_code"], 3, "{waited}");
    assert_eq!(waited["status"], "exited");
    assert_eq!(waited["oom_killed"], false);
    // The log: Docker's json-file lines.
    let log = f.log(&id);
    let mut seen: Vec<(String, String)> = log
        .iter()
        .map(|e| {
            assert!(e["time"].as_str().unwrap().ends_with('Z'));
            (
                e["stream"].as_str().unwrap().into(),
                e["log"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("stderr".into(), "err\n".into()),
            ("stdout".into(), "out\n".into())
        ]
    );
    // The runtime's state was deleted.
    let status = f.status(&id);
    assert_eq!(status["exit_code"], 3);
    assert!(status["finished_at"].as_str().is_some());
    assert!(!f.dir.path().join("r").join(&id).exists());
}

#[test]
fn privileged_a_command_that_does_not_exist_is_reported_with_127() {
    let f = Fixture::new(&["no-such-command"]);
    let id = format!("shim127-{}", std::process::id());
    let out = f.spawn(&id, &[]);
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("minishim: ") && stderr.contains("no-such-command"),
        "{stderr}"
    );
    assert!(
        !f.shim_dir(&id).exists(),
        "the failed shim left its directory"
    );
    assert!(!f.dir.path().join("r").join(&id).exists());
}

#[test]
fn privileged_attach_streams_in_frames_and_feeds_stdin() {
    let f = Fixture::new(&["sh", "-c", "read line; echo got $line; echo done >&2"]);
    let id = format!("attach-{}", std::process::id());
    let socket = f.started(&id, &["--stdin"]);
    // Attached before the start, as the docker CLI does.
    let mut attach = UnixStream::connect(&socket).unwrap();
    attach
        .write_all(b"{\"op\":\"attach\",\"stdin\":true,\"stdout\":true,\"stderr\":true,\"stdin_once\":true}\n")
        .unwrap();
    let mut reader = BufReader::new(attach.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"ok\":true,\"tty\":false}\n");
    // Input before the start waits in the pipe.
    attach.write_all(b"hello\n").unwrap();
    attach.shutdown(std::net::Shutdown::Write).unwrap();
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    let mut frames = Vec::new();
    reader.read_to_end(&mut frames).unwrap();
    let mut streams = Vec::new();
    let mut rest = frames.as_slice();
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        streams.push((
            rest[0],
            String::from_utf8_lossy(&rest[8..8 + len]).into_owned(),
        ));
        rest = &rest[8 + len..];
    }
    // Two streams, two copying threads: their order across streams is not
    // kept (nor is it by Docker).
    streams.sort();
    assert_eq!(streams, [(1, "got hello\n".into()), (2, "done\n".into())]);
    assert_eq!(waiter.gone()["exit_code"], 0);
}

#[test]
fn privileged_the_container_outlives_whoever_started_the_shim() {
    // One line, then it waits to be told, then one more.
    let f = Fixture::new(&["sh", "-c", "echo before; read line < /go; echo after"]);
    let mut go = f.go();
    let id = format!("orphan-{}", std::process::id());
    // The "engine": a shell that starts the shim, then is SIGKILLed. The
    // shim's first process prints the socket once the shim serves it.
    let command = format!(
        "'{MINISHIM}' --bundle '{}' --id {id} --exec-root '{}' --runtime '{MINIRUNC}' --runtime-root '{}' && exec sleep 30",
        f.dir.path().join("bundle").display(),
        f.exec_root().display(),
        f.dir.path().join("r").display()
    );
    let mut engine = Command::new("sh")
        .args(["-c", &command])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = PathBuf::from(Lines::new(engine.stdout.take().unwrap()).next().trim_end());
    assert_eq!(socket, f.shim_dir(&id).join("ctl.sock"));
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    engine.kill().unwrap();
    engine.wait().unwrap();
    // The engine dead, the container goes on, the shim logs what it says
    // from now on and records the exit.
    go.go();
    let status = waiter.gone();
    assert_eq!(status["exit_code"], 0);
    let log: Vec<String> = f
        .log(&id)
        .iter()
        .map(|e| e["log"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(log, ["before\n", "after\n"]);
}

/// A connection that sent `request` (an attach) and got `{"ok":true,…}`.
fn attach(socket: &Path, request: &str) -> UnixStream {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: what follows the answer line is the container's.
    while !answer.ends_with(b"\n") {
        stream.read_exact(&mut byte).unwrap();
        answer.push(byte[0]);
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    stream
}

/// One frame: its stream and its bytes.
fn read_frame(reader: &mut impl Read) -> (u8, Vec<u8>) {
    let mut header = [0u8; 8];
    reader.read_exact(&mut header).unwrap();
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut bytes = vec![0u8; len];
    reader.read_exact(&mut bytes).unwrap();
    (header[0], bytes)
}

/// Reads frames until the exit frame: (stream, text) pairs and the status.
fn read_exec(stream: UnixStream) -> (Vec<(u8, String)>, i32) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"ok\":true}\n");
    let mut frames = Vec::new();
    loop {
        let mut header = [0u8; 8];
        reader.read_exact(&mut header).unwrap();
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut bytes = vec![0u8; len];
        reader.read_exact(&mut bytes).unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if header[0] == 4 {
            return (frames, text.parse().unwrap());
        }
        frames.push((header[0], text));
    }
}

#[test]
fn privileged_exec_runs_a_process_with_its_own_streams() {
    let f = Fixture::new(&["sleep", "30"]);
    let id = format!("shimexec-{}", std::process::id());
    let socket = f.started(&id, &[]);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    let exec = |process: serde_json::Value, input: &[u8]| {
        let mut stream = UnixStream::connect(&socket).unwrap();
        let request = serde_json::json!({"op": "exec", "process": process});
        stream.write_all(format!("{request}\n").as_bytes()).unwrap();
        stream.write_all(input).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        read_exec(stream)
    };
    let process = |args: &[&str], terminal: bool| {
        serde_json::json!({
            "args": args, "terminal": terminal, "cwd": "/",
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "user": {"uid": 0, "gid": 0}
        })
    };
    // stdin in, stdout and stderr out, the exit status last.
    let (mut frames, code) = exec(
        process(&["sh", "-c", "cat; echo err >&2; exit 4"], false),
        b"from the client\n",
    );
    frames.sort();
    assert_eq!(code, 4);
    assert_eq!(
        frames,
        [(1, "from the client\n".into()), (2, "err\n".into())]
    );
    // With a terminal: the pty's output, as stream 1.
    let (frames, code) = exec(process(&["tty"], true), b"");
    assert_eq!(code, 0);
    let text: String = frames.iter().map(|(_, t)| t.as_str()).collect();
    assert!(text.starts_with("/dev/pts/"), "{text}");
    // A command that is not there: 127, and why.
    let (frames, code) = exec(process(&["no-such-command"], false), b"");
    assert_eq!(code, 127);
    assert!(
        frames
            .iter()
            .any(|(s, t)| *s == 2 && t.contains("no-such-command")),
        "{frames:?}"
    );
    // A client that keeps its side open and sends nothing: the exec ends
    // when its process does all the same (no splice(2) from the socket
    // holding the stdin pipe's lock while the runtime exits).
    let open = UnixStream::connect(&socket).unwrap();
    let request = serde_json::json!({"op": "exec", "process": process(&["true"], false)});
    (&open)
        .write_all(format!("{request}\n").as_bytes())
        .unwrap();
    assert_eq!(read_exec(open.try_clone().unwrap()).1, 0);
    // A named exec: its PID while it runs (the runtime writes it before
    // the process runs), and a signal to it.
    let named = UnixStream::connect(&socket).unwrap();
    let request = serde_json::json!({
        "op": "exec", "id": "probe",
        "process": process(&["sh", "-c", "echo started; exec sleep 30"], false)
    });
    (&named)
        .write_all(format!("{request}\n").as_bytes())
        .unwrap();
    named.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reader = BufReader::new(named);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(read_frame(&mut reader), (1, b"started\n".to_vec()));
    let pid = ask(&socket, r#"{"op":"execpid","exec":"probe"}"#)["pid"]
        .as_i64()
        .unwrap();
    // The exec's own process: `sh`, or `sleep` once it has exec'd (busybox
    // runs its applets as /proc/self/exe, so its arguments tell, not comm).
    // Caught in the middle of `sh`'s execve of `sleep`, the kernel shows
    // an empty command line: read it again once the exec is through.
    let cmdline = loop {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        if !cmdline.is_empty() {
            break cmdline;
        }
        std::thread::yield_now();
    };
    assert!(
        cmdline.starts_with(b"sh\0-c\0echo started") || cmdline == b"sleep\x0030\0",
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    let killed = ask(&socket, r#"{"op":"signalexec","exec":"probe","signal":9}"#);
    assert_eq!(killed["ok"], true, "{killed}");
    assert_eq!(read_frame(&mut reader), (4, b"137".to_vec()));
    let gone = ask(&socket, r#"{"op":"execpid","exec":"probe"}"#);
    assert_eq!(gone["ok"], false, "{gone}");

    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"signal","signal":9}"#)["ok"], true);
    let status = waiter.gone();
    assert_eq!(
        (status["exit_code"].clone(), status["signal"].clone()),
        (137.into(), "SIGKILL".into())
    );
}

#[test]
fn privileged_garbage_on_the_control_socket_gets_an_error_line() {
    // PID 1 of a PID namespace gets only the signals it handles: it says
    // when its handler is there.
    let f = Fixture::new(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo trapped; while true; do sleep 0.1; done",
    ]);
    let id = format!("garbage-{}", std::process::id());
    let socket = f.started(&id, &[]);
    let answer = ask(&socket, "this is not json");
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("not a request"),
        "{answer}"
    );
    let answer = ask(&socket, r#"{"op":"resize","height":1,"width":1}"#);
    assert_eq!(
        answer["error"],
        "no terminal: the shim was started without --tty"
    );
    // The shim goes on: the container can still be started and stopped.
    let mut attached = attach(&socket, r#"{"op":"attach","stdout":true}"#);
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    // `start` returns before the container's execve: SIGTERM before the
    // trap would be dropped.
    let mut said = Vec::new();
    while !said.ends_with(b"trapped\n") {
        let (stream, bytes) = read_frame(&mut attached);
        assert_eq!(stream, 1);
        said.extend_from_slice(&bytes);
    }
    drop(attached);
    assert_eq!(ask(&socket, r#"{"op":"signal","signal":15}"#)["ok"], true);
    let status = waiter.gone();
    assert_eq!(
        (status["exit_code"].clone(), status["signal"].clone()),
        (0.into(), serde_json::Value::Null)
    );
}

#[test]
fn privileged_runc_works_under_the_shim_too() {
    let f = Fixture::new(&["sh", "-c", "echo from runc; exit 6"]);
    let id = format!("shimrunc-{}", std::process::id());
    let out = Command::new("timeout")
        .args(["--kill-after=5", "60", MINISHIM, "--bundle"])
        .arg(f.dir.path().join("bundle"))
        .args(["--id", &id, "--exec-root"])
        .arg(f.exec_root())
        .args(["--runtime", "runc", "--runtime-root"])
        .arg(f.dir.path().join("runc"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = f.shim_dir(&id).join("ctl.sock");
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    assert_eq!(waiter.gone()["exit_code"], 6);
    assert_eq!(f.log(&id)[0]["log"], "from runc\n");
    // runc deleted its container: nothing in its root.
    let left = fs::read_dir(f.dir.path().join("runc")).map_or(0, |d| d.count());
    assert_eq!(left, 0, "runc's state left behind");
}

#[test]
fn privileged_an_engine_finds_live_shims_and_a_killed_shim_leaves_the_container() {
    let f = Fixture::new(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = format!("found-{}", std::process::id());
    assert!(f.spawn(&id, &[]).status.success());
    // An engine that restarts: every directory of the exec root with a
    // control socket that answers is a live shim.
    let live: Vec<String> = fs::read_dir(f.exec_root())
        .unwrap()
        .flatten()
        .filter(|entry| UnixStream::connect(entry.path().join("ctl.sock")).is_ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(live, [id[..id.len().min(12)].to_string()]);
    let socket = f.shim_dir(&id).join("ctl.sock");
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    // SIGKILL the shim (the init's parent). The container lives on,
    // adopted by PID 1; the socket refuses; the status file still says
    // running: the engine learns the truth from the runtime.
    let init = f.status(&id)["pid"].as_i64().unwrap();
    let stat = fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let shim: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // Its pidfd, then the init's parent again: still the shim, so the PID
    // was its own.
    let shim_exit = common::pidfd(shim);
    assert!(
        fs::read_to_string(format!("/proc/{init}/stat"))
            .unwrap()
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            == Some(shim.to_string().as_str()),
        "the init's parent is no longer {shim}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Exited: its descriptors, the listening socket's too, are closed.
    wait_exit(&shim_exit, "the shim, SIGKILLed,");
    assert!(
        UnixStream::connect(&socket).is_err(),
        "a dead shim's socket answered"
    );
    assert_eq!(f.status(&id)["status"], "running");
    let state = Command::new(MINIRUNC)
        .arg("--root")
        .arg(f.dir.path().join("r"))
        .args(["state", &id])
        .output()
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(state["status"], "running");
    // What an engine does then: the runtime ends it; nothing is left.
    let out = Command::new(MINIRUNC)
        .arg("--root")
        .arg(f.dir.path().join("r"))
        .args(["delete", "--force", &id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Dead (a zombie, maybe, until PID 1 reaps it).
    assert_eq!(runtime::state::start_time(init as i32), None);
}

#[test]
fn privileged_a_full_disk_loses_output_not_the_container() {
    // 200 lines of 1000 bytes, one to say so; then it waits to be told,
    // and one more line, then success.
    let f = Fixture::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do head -c 999 /dev/zero | tr '\\0' x; echo; i=$((i+1)); done; echo filled; read line < /go; echo after",
    ]);
    let mut go = f.go();
    let logs = f.dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &logs,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=64k"),
    )
    .unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _unmount = Unmount(logs.clone());
    let id = format!("fulldisk-{}", std::process::id());
    let log = logs.join("c-json.log");
    let out = f.spawn(
        &id,
        &["--log-file", log.to_str().unwrap(), "--log-max-size", "0"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = f.shim_dir(&id).join("ctl.sock");
    // Attached before the start: each piece of output comes to us after the
    // shim has written it to the log, or failed to.
    let mut attach = BufReader::new(attach(&socket, "{\"op\":\"attach\",\"stdout\":true}"));
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    // The disk fills: 200 kB of lines into 64 kB. "filled" here, every line
    // has been tried; then space comes back while the container waits.
    let mut stdout = Vec::new();
    while !stdout.ends_with(b"filled\n") {
        let (stream, bytes) = read_frame(&mut attach);
        assert_eq!(stream, 1);
        stdout.extend_from_slice(&bytes);
    }
    drop(attach);
    fs::write(&log, "").unwrap();
    go.go();
    let status = waiter.gone();
    assert_eq!(status["exit_code"], 0, "the container did not survive");
    let text = fs::read_to_string(&log).unwrap();
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let note = entries[0]["log"].as_str().unwrap();
    assert!(
        note.starts_with("minishim: ")
            && note.contains("bytes of output lost")
            && note.contains("No space left"),
        "{note}"
    );
    assert_eq!(entries.last().unwrap()["log"], "after\n");
}

#[test]
fn privileged_a_terminal_is_attached_raw_and_resized() {
    // It looks once told: after the resize.
    let f = Fixture::new(&["sh", "-c", "read line < /go; stty size; tty"]);
    let mut go = f.go();
    f.edit(|config| config["process"]["terminal"] = true.into());
    let id = format!("shimtty-{}", std::process::id());
    let socket = f.started(&id, &["--tty"]);
    let mut attach = UnixStream::connect(&socket).unwrap();
    attach
        .write_all(b"{\"op\":\"attach\",\"stdout\":true}\n")
        .unwrap();
    let mut reader = BufReader::new(attach);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"ok\":true,\"tty\":true}\n");
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    assert_eq!(
        ask(&socket, r#"{"op":"resize","height":30,"width":100}"#),
        serde_json::json!({"ok": true})
    );
    go.go();
    // Raw bytes, no frames: the terminal's own "\r\n". The end comes when
    // the shim exits.
    let mut text = String::new();
    let _ = reader.read_to_string(&mut text);
    assert!(text.starts_with("30 100\r\n/dev/pts/0\r\n"), "{text:?}");
    assert_eq!(waiter.gone()["exit_code"], 0);
    assert!(f.log(&id).iter().any(|e| e["log"] == "30 100\r\n"));
}

#[test]
fn privileged_an_oom_kill_is_recorded() {
    let f = Fixture::new(&["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"]);
    f.edit(|config| {
        config["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 33554432, "swap": 33554432});
    });
    let id = format!("shimoom-{}", std::process::id());
    let socket = f.started(&id, &[]);
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    let status = waiter.gone();
    assert_eq!(status["oom_killed"], true, "{status}");
}

#[test]
fn privileged_a_socket_path_too_long_is_reported_by_the_first_process() {
    let f = Fixture::new(&["true"]);
    // sun_path holds 108 bytes: this exec root leaves no room for ctl.sock.
    let deep = f.dir.path().join("x".repeat(100));
    let out = Command::new(MINISHIM)
        .args(["--bundle", "bundle", "--id", "deep", "--exec-root"])
        .arg(&deep)
        .args(["--runtime", MINIRUNC, "--runtime-root"])
        .arg(f.dir.path().join("r"))
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("minishim: binding ") && stderr.contains("ctl.sock"),
        "{stderr}"
    );
    assert!(!deep.join("deep").exists());
}

#[test]
fn privileged_a_client_that_stops_reading_holds_up_nobody() {
    // 8 MiB without a newline (the log cuts it into 16 KiB lines), then
    // a last line: far more than a socket buffer and a client's queue.
    const SIZE: usize = 8 << 20;
    let script = format!("read line < /go; head -c {SIZE} /dev/zero | tr '\\0' x; echo; echo done");
    let f = Fixture::new(&["sh", "-c", &script]);
    let mut go = f.go();
    let id = format!("shimslow-{}", std::process::id());
    let socket = f.started(&id, &[]);
    // One client never reads; another reads everything.
    let stalled = attach(&socket, r#"{"op":"attach","stdout":true}"#);
    let mut reading = attach(&socket, r#"{"op":"attach","stdout":true}"#);
    let reader = std::thread::spawn(move || {
        let mut got = 0usize;
        let mut last = Vec::new();
        loop {
            let mut header = [0u8; 8];
            if reading.read_exact(&mut header).is_err() {
                return (got, last); // the end of the stream
            }
            let (stream, bytes) = read_frame(&mut (&header[..]).chain(&mut reading));
            assert_eq!(stream, 1);
            got += bytes.len();
            last = bytes;
        }
    });
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    go.go();
    // The container ends, its status is written and its log is whole,
    // although one client took nothing.
    assert_eq!(waiter.gone()["exit_code"], 0);
    let log = f.log(&id);
    let logged: usize = log.iter().map(|e| e["log"].as_str().unwrap().len()).sum();
    assert_eq!(logged, SIZE + "\n".len() + "done\n".len());
    assert_eq!(log.last().unwrap()["log"], "done\n");
    // The reader got all of it, the stalled client was cut off.
    let (got, last) = reader.join().unwrap();
    assert_eq!(got, SIZE + "\ndone\n".len());
    assert!(String::from_utf8_lossy(&last).ends_with("done\n"));
    let mut left = Vec::new();
    let _ = (&stalled).read_to_end(&mut left);
    assert!(left.len() < SIZE, "the stalled client was not cut off");
}

#[test]
fn privileged_an_exec_terminal_is_resized_by_its_id() {
    let f = Fixture::new(&["sleep", "30"]);
    let mut go = f.go();
    let id = format!("shimexect-{}", std::process::id());
    let socket = f.started(&id, &[]);
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    let process = serde_json::json!({
        "args": ["sh", "-c", "read line < /go; stty size"], "terminal": true, "cwd": "/",
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "user": {"uid": 0, "gid": 0}
    });
    let mut stream = UnixStream::connect(&socket).unwrap();
    let request = serde_json::json!({"op": "exec", "id": "e1", "process": process});
    stream.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"ok\":true}\n");
    // Its terminal is known by then: resized, the process goes on.
    let resize = r#"{"op":"resize","height":30,"width":100,"exec":"e1"}"#;
    assert_eq!(ask(&socket, resize), serde_json::json!({"ok": true}));
    let unknown = ask(
        &socket,
        r#"{"op":"resize","height":1,"width":1,"exec":"e2"}"#,
    );
    assert!(
        unknown["error"].as_str().unwrap().contains("e2"),
        "{unknown}"
    );
    go.go();
    let mut text = Vec::new();
    let code = loop {
        let (stream, bytes) = read_frame(&mut reader);
        if stream == 4 {
            break String::from_utf8_lossy(&bytes).parse::<i32>().unwrap();
        }
        text.extend(bytes);
    };
    assert_eq!(code, 0);
    assert_eq!(String::from_utf8_lossy(&text), "30 100\r\n");
    let waiter = Waiter::new(&socket);
    assert_eq!(ask(&socket, r#"{"op":"signal","signal":9}"#)["ok"], true);
    waiter.gone();
}

#[test]
fn privileged_the_client_answers_for_a_shim_that_has_gone() {
    use runtime::shim::client::{Attached, ShimClient};
    let f = Fixture::new(&["sh", "-c", "echo hi; exit 5"]);
    let id = format!("shimgone-{}", std::process::id());
    let socket = f.started(&id, &[]);
    let client = ShimClient::new(&f.exec_root(), &id);
    assert_eq!(client.status().unwrap().status, "created");
    let waiter = Waiter::new(&socket);
    client.start().unwrap();
    waiter.gone();
    // Gone: the answers come from the status file it left.
    let status = client.wait().unwrap();
    assert_eq!(
        (status.status.as_str(), status.exit_code),
        ("exited", Some(5))
    );
    assert_eq!(client.status().unwrap(), status);
    match client.attach(false, true, true, false).unwrap() {
        Attached::Exited(exited) => assert_eq!(exited, status),
        Attached::Live { .. } => panic!("a live attach to a shim that has gone"),
    }
    let error = client.signal(9).unwrap_err().to_string();
    assert!(error.contains("has exited"), "{error}");
}
