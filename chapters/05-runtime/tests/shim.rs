//! minishim against minirunc: the report, the control socket, the log,
//! the status file, and a shim that outlives whoever started it.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{MINIRUNC, SpecBy, busybox_bundle, delete_all, edit_config};

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
    let out = f.spawn(&id, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(socket, f.shim_dir(&id).join("ctl.sock"));
    // Created, not started: nothing has run yet.
    assert_eq!(f.status(&id)["status"], "created");
    assert!(f.log(&id).is_empty());
    let status = ask(&socket, r#"{"op":"status"}"#);
    assert_eq!(status["status"]["status"], "created");
    assert_eq!(
        ask(&socket, r#"{"op":"start"}"#),
        serde_json::json!({"ok": true})
    );
    let waited = ask(&socket, r#"{"op":"wait"}"#);
    assert_eq!(waited["status"]["exit_code"], 3, "{waited}");
    assert_eq!(waited["status"]["status"], "exited");
    assert_eq!(waited["status"]["oom_killed"], false);
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
    // The shim is gone, its socket too; the status stays, the runtime's
    // state was deleted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.exists() {
        assert!(Instant::now() < deadline, "the shim did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let out = f.spawn(&id, &["--stdin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = f.shim_dir(&id).join("ctl.sock");
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
    let waited = ask_until_gone(&socket);
    assert_eq!(waited["exit_code"], 0);
}

/// The status once the shim has exited.
fn ask_until_gone(socket: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.exists() {
        assert!(Instant::now() < deadline, "the shim did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    serde_json::from_slice(&fs::read(socket.with_file_name("status.json")).unwrap()).unwrap()
}

#[test]
fn privileged_the_container_outlives_whoever_started_the_shim() {
    let f = Fixture::new(&[
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.1; done",
    ]);
    let id = format!("orphan-{}", std::process::id());
    // The "engine": a shell that starts the shim, then is SIGKILLed.
    let command = format!(
        "'{MINISHIM}' --bundle '{}' --id {id} --exec-root '{}' --runtime '{MINIRUNC}' --runtime-root '{}' >/dev/null && sleep 30",
        f.dir.path().join("bundle").display(),
        f.exec_root().display(),
        f.dir.path().join("r").display()
    );
    let mut engine = Command::new("sh").args(["-c", &command]).spawn().unwrap();
    let socket = f.shim_dir(&id).join("ctl.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the shim did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    engine.kill().unwrap();
    engine.wait().unwrap();
    // The log keeps growing without the engine, and the exit is recorded.
    std::thread::sleep(Duration::from_millis(300));
    let early = f.log(&id).len();
    assert!(early > 0, "nothing logged");
    let status = ask_until_gone(&socket);
    assert_eq!(status["exit_code"], 0);
    let log = f.log(&id);
    assert!(log.len() > early, "the log stopped growing");
    assert_eq!(log.last().unwrap()["log"], "tick 10\n");
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
    let out = f.spawn(&id, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = f.shim_dir(&id).join("ctl.sock");
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
    assert_eq!(ask(&socket, r#"{"op":"signal","signal":9}"#)["ok"], true);
    let status = ask_until_gone(&socket);
    assert_eq!(
        (status["exit_code"].clone(), status["signal"].clone()),
        (137.into(), "SIGKILL".into())
    );
}

#[test]
fn privileged_garbage_on_the_control_socket_gets_an_error_line() {
    // PID 1 of a PID namespace gets only the signals it handles.
    let f = Fixture::new(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = format!("garbage-{}", std::process::id());
    assert!(f.spawn(&id, &[]).status.success());
    let socket = f.shim_dir(&id).join("ctl.sock");
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
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    assert_eq!(ask(&socket, r#"{"op":"signal","signal":15}"#)["ok"], true);
    let status = ask_until_gone(&socket);
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
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    assert_eq!(ask_until_gone(&socket)["exit_code"], 6);
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
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{shim}")).exists() {
        assert!(Instant::now() < deadline, "the shim did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
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
    // 200 lines of 1000 bytes, a pause, one more line, then success.
    let f = Fixture::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do head -c 999 /dev/zero | tr '\\0' x; echo; i=$((i+1)); done; sleep 1; echo after",
    ]);
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
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    // The disk fills; then space comes back while the container sleeps.
    std::thread::sleep(Duration::from_millis(600));
    fs::write(&log, "").unwrap();
    let status = ask_until_gone(&socket);
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
    let f = Fixture::new(&["sh", "-c", "sleep 0.5; stty size; tty"]);
    f.edit(|config| config["process"]["terminal"] = true.into());
    let id = format!("shimtty-{}", std::process::id());
    let out = f.spawn(&id, &["--tty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = f.shim_dir(&id).join("ctl.sock");
    let mut attach = UnixStream::connect(&socket).unwrap();
    attach
        .write_all(b"{\"op\":\"attach\",\"stdout\":true}\n")
        .unwrap();
    let mut reader = BufReader::new(attach);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"ok\":true,\"tty\":true}\n");
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    assert_eq!(
        ask(&socket, r#"{"op":"resize","height":30,"width":100}"#),
        serde_json::json!({"ok": true})
    );
    // Raw bytes, no frames: the terminal's own "\r\n".
    let mut text = String::new();
    let _ = reader.read_to_string(&mut text);
    assert!(text.starts_with("30 100\r\n/dev/pts/0\r\n"), "{text:?}");
    assert_eq!(ask_until_gone(&socket)["exit_code"], 0);
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
    assert!(f.spawn(&id, &[]).status.success());
    let socket = f.shim_dir(&id).join("ctl.sock");
    assert_eq!(ask(&socket, r#"{"op":"start"}"#)["ok"], true);
    let status = ask_until_gone(&socket);
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
