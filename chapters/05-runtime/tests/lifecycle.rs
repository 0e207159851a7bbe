//! minirunc's lifecycle on bundles made by `runc spec` — the reference
//! runtime's own config.json — and what it refuses.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Output, Stdio};

mod common;

use common::{Lines, MINIRUNC, SpecBy, busybox_bundle, delete_all, edit_config, wait_exit};
use namespaces::pidfd::PidFd;

/// A state root and a bundle (`runc spec` + busybox) in a temp dir.
struct Fixture {
    dir: tempfile::TempDir,
}

/// A test that failed halfway leaves no container behind.
impl Drop for Fixture {
    fn drop(&mut self) {
        delete_all(&self.root());
    }
}

impl Fixture {
    fn new(args: &[&str]) -> Fixture {
        common::require_root();
        common::require_runc();
        let dir = tempfile::tempdir().unwrap();
        busybox_bundle(&dir.path().join("bundle"), SpecBy::Runc, args);
        Fixture { dir }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn edit(&self, change: impl FnOnce(&mut serde_json::Value)) {
        edit_config(&self.bundle(), change);
    }

    /// `minirunc --root STATE ARGS`. Its stdout and stderr are files, not
    /// pipes: a created container inherits them (as runc's does) and lives
    /// on, so reading a pipe to its end would wait for the container.
    fn minirunc(&self, args: &[&str]) -> Output {
        let stdout_path = self.dir.path().join("minirunc.out");
        let stderr_path = self.dir.path().join("minirunc.err");
        let status = Command::new("timeout")
            .args(["--kill-after=5", "60", MINIRUNC, "--root"])
            .arg(self.root())
            .args(args)
            // Relative paths (a bare --pid-file) land in the temp dir.
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: fs::read(&stdout_path).unwrap(),
            stderr: fs::read(&stderr_path).unwrap(),
        }
    }

    /// `minirunc --root STATE ARGS` with pipes for its stdin and stdout,
    /// which a container it creates (or a process `exec -d` starts)
    /// inherits, as runc's does without a terminal: what the test writes
    /// the process reads, and what it prints comes to the test as it comes.
    fn minirunc_with_pipes(&self, args: &[&str]) -> (ChildStdin, Lines) {
        let stderr_path = self.dir.path().join("minirunc.err");
        let mut child = Command::new("timeout")
            .args(["--kill-after=5", "60", MINIRUNC, "--root"])
            .arg(self.root())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = Lines::new(child.stdout.take().unwrap());
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "minirunc {args:?}: {}",
            fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        (input, output)
    }

    /// The container's init, by pidfd: the PID `state` gives, opened, then
    /// checked to be the init still (`state` compares its start time).
    fn init(&self, id: &str) -> PidFd {
        let state =
            || -> serde_json::Value { serde_json::from_str(&self.ok(&["state", id])).unwrap() };
        let pid = state()["pid"].as_i64().unwrap();
        assert!(pid > 0, "{id} has no init: {}", state());
        let init = common::pidfd(pid as i32);
        let after = state();
        assert!(
            after["pid"] == pid && after["status"] != "stopped",
            "{after}"
        );
        init
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.minirunc(args);
        assert!(
            out.status.success(),
            "minirunc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn err(&self, args: &[&str]) -> String {
        let out = self.minirunc(args);
        assert!(!out.status.success(), "minirunc {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    }

    fn status(&self, id: &str) -> String {
        let state: serde_json::Value = serde_json::from_str(&self.ok(&["state", id])).unwrap();
        state["status"].as_str().unwrap().to_string()
    }

    fn assert_nothing_left(&self, id: &str) {
        assert!(
            !self.root().join(id).exists(),
            "state directory of {id} left behind"
        );
        let memory = Path::new("/sys/fs/cgroup/memory/minidocker").join(id);
        let v2 = Path::new("/sys/fs/cgroup/minidocker").join(id);
        assert!(
            !memory.exists() && !v2.exists(),
            "cgroup of {id} left behind"
        );
    }
}

#[test]
fn privileged_create_start_kill_delete() {
    // It says when its command runs: `start` returns before the execve.
    let f = Fixture::new(&["sh", "-c", "echo started; exec sleep 30"]);
    let bundle = f.bundle();
    let pid_file = f.dir.path().join("pid");
    let id = format!("lifecycle-{}", std::process::id());
    // A bare file name: in the current directory.
    let (_input, mut output) = f.minirunc_with_pipes(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        "pid",
        &id,
    ]);
    // Created: set up, waiting at the fifo, before execve.
    assert_eq!(f.status(&id), "created");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let init = f.init(&id);
    let state: serde_json::Value = serde_json::from_str(&f.ok(&["state", &id])).unwrap();
    assert_eq!(state["pid"], pid);
    assert_eq!(state["bundle"], bundle.to_str().unwrap());
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert!(
        !["sh", "sleep"].contains(&comm.trim()),
        "the command ran before start: {comm}"
    );
    assert!(output.nothing_yet(), "the command ran before start");
    assert!(f.ok(&["list"]).contains(&id));

    f.ok(&["start", &id]);
    assert_eq!(output.next(), "started\n");
    assert_eq!(f.status(&id), "running");
    // sh's command line, or sleep's once sh has exec'd it: both say it.
    let ps = f.ok(&["ps", &id]);
    assert!(ps.contains("sleep 30"), "{ps}");
    // containerd's shim asks `ps --format json` for `docker top`.
    assert_eq!(f.ok(&["ps", "--format", "json", &id]), format!("[{pid}]\n"));
    assert_eq!(
        f.err(&["start", &id]),
        "minirunc: cannot start an already running container"
    );
    assert_eq!(
        f.err(&["delete", &id]),
        format!("minirunc: cannot delete container {id} that is not stopped: running")
    );
    assert_eq!(
        f.err(&["kill", &id, "SIGFLY"]),
        "minirunc: invalid signal: SIGFLY"
    );
    f.ok(&["kill", &id, "KILL"]);
    wait_exit(&init, "the init, SIGKILLed,");
    assert_eq!(f.status(&id), "stopped");
    assert_eq!(
        f.err(&["kill", &id, "9"]),
        "minirunc: container not running"
    );
    assert_eq!(
        f.err(&["start", &id]),
        "minirunc: cannot start a container that has stopped"
    );
    f.ok(&["delete", &id]);
    f.assert_nothing_left(&id);
    assert_eq!(f.err(&["state", &id]), "minirunc: container does not exist");
    // --force on what is already gone succeeds, as runc's does.
    f.ok(&["delete", "--force", &id]);
}

#[test]
fn privileged_delete_force_kills_a_running_container() {
    let f = Fixture::new(&["sleep", "30"]);
    let id = format!("force-{}", std::process::id());
    f.ok(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    f.ok(&["start", &id]);
    f.ok(&["delete", "--force", &id]);
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_run_passes_the_exit_status_through() {
    let f = Fixture::new(&["sh", "-c", "echo hello from $(hostname); exit 7"]);
    let id = format!("run-{}", std::process::id());
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from runc\n");
    f.assert_nothing_left(&id);

    // Killed by a signal: 128 + 9. `kill` reads the state `run` saves; a
    // poststart hook, which `run` runs once it has saved it, says so
    // through a fifo opened here first (the hook's open finds a reader).
    let saved = f.dir.path().join("saved.fifo");
    nix::unistd::mkfifo(&saved, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&saved)
        .unwrap();
    let mut said = Lines::new(fifo);
    let hook = format!("echo saved > '{}'", saved.display());
    f.edit(|config| {
        config["process"]["args"] = ["sleep", "30"].into();
        config["hooks"] = serde_json::json!({
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]
        });
    });
    let mut run = Command::new(MINIRUNC)
        .arg("--root")
        .arg(f.root())
        .args(["run", "--bundle", f.bundle().to_str().unwrap(), &id])
        .spawn()
        .unwrap();
    assert_eq!(said.next(), "saved\n");
    f.ok(&["kill", &id, "SIGKILL"]);
    assert_eq!(run.wait().unwrap().code(), Some(137));
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_bad_bundles_and_ids_are_refused_and_leave_nothing() {
    let f = Fixture::new(&["true"]);
    let bundle = f.bundle();
    let b = bundle.to_str().unwrap();
    for bad_id in ["a/b", "..", "x y"] {
        let err = f.err(&["create", "--bundle", b, bad_id]);
        assert!(err.contains("invalid id format"), "{err}");
    }
    let id = format!("bad-{}", std::process::id());
    f.ok(&["create", "--bundle", b, &id]);
    assert_eq!(
        f.err(&["create", "--bundle", b, &id]),
        format!("minirunc: container with id exists: {id}")
    );
    f.ok(&["delete", "--force", &id]);

    fs::rename(bundle.join("rootfs"), bundle.join("elsewhere")).unwrap();
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(
        err.contains("rootfs") && err.contains("does not exist"),
        "{err}"
    );
    f.assert_nothing_left(&id);
    fs::rename(bundle.join("elsewhere"), bundle.join("rootfs")).unwrap();

    // What minirunc cannot honour is an error, never dropped.
    f.edit(|config| config["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"}));
    let err = f.err(&["create", "--bundle", b, &id]);
    assert_eq!(
        err,
        "minirunc: sysctl \"vm.swappiness\" is not in a separate kernel namespace: it would change the host"
    );
    f.assert_nothing_left(&id);
    f.edit(|config| {
        config["linux"]["sysctl"] = serde_json::json!({});
        config["linux"]["rootfsPropagation"] = "sideways".into();
    });
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(
        err.contains("linux.rootfsPropagation \"sideways\""),
        "{err}"
    );
    f.edit(|config| {
        config["linux"]["rootfsPropagation"] = "rprivate".into();
        config["hooks"] = serde_json::json!({"prestart": [{"path": "hook.sh"}]});
    });
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(err.contains("must be absolute"), "{err}");
    f.assert_nothing_left(&id);
    f.edit(|config| config["hooks"] = serde_json::json!({}));

    fs::write(bundle.join("config.json"), "{ not json").unwrap();
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(err.contains("is not a valid config.json"), "{err}");
    fs::remove_file(bundle.join("config.json")).unwrap();
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(err.contains("config.json"), "{err}");
    f.assert_nothing_left(&id);

    // Errors go to --log as runc writes them, JSON for containerd's shim.
    let log = f.dir.path().join("log.json");
    f.err(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    let line: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(
        (line["level"].as_str(), line["msg"].as_str()),
        (Some("error"), Some("container does not exist"))
    );
    let err = f.err(&["--systemd-cgroup", "list"]);
    assert!(err.contains("not supported"), "{err}");
}

/// A hook that appends "NAME ENV STATE" to LOG: `sh -c SCRIPT NAME`, so
/// that NAME is its $0 (args[0] is argv[0], as with execv).
fn logging_hook(name: &str, log: &str) -> serde_json::Value {
    serde_json::json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo \"$0 $GREETING $(cat)\" >> {log}"), name],
        "env": ["GREETING=hello"],
    })
}

/// The hook lines in `log`: (name, greeting, state).
fn hook_lines(log: &Path) -> Vec<(String, String, serde_json::Value)> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let name = parts.next().unwrap().to_string();
            let greeting = parts.next().unwrap().to_string();
            (
                name,
                greeting,
                serde_json::from_str(parts.next().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn privileged_hooks_run_in_order_with_the_state_on_stdin() {
    let f = Fixture::new(&["true"]);
    // The startContainer hook runs inside the container, where the log is
    // /hooks.log: the rootfs must be writable.
    let log = f.bundle().join("rootfs/hooks.log");
    let host_log = log.to_str().unwrap().to_string();
    f.edit(|config| {
        config["root"]["readonly"] = false.into();
        config["annotations"] = serde_json::json!({"org.example.lab": "hooks"});
        config["hooks"] = serde_json::json!({
            "prestart": [logging_hook("prestart", &host_log)],
            "createRuntime": [logging_hook("createRuntime", &host_log)],
            "createContainer": [logging_hook("createContainer", &host_log)],
            "startContainer": [logging_hook("startContainer", "/hooks.log")],
            "poststart": [logging_hook("poststart", &host_log)],
            "poststop": [logging_hook("poststop", &host_log)],
        });
    });
    let id = format!("hooks-{}", std::process::id());
    let pid_file = f.dir.path().join("pid");
    f.ok(&[
        "create",
        "--bundle",
        f.bundle().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid: i64 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let init = f.init(&id);
    let lines = hook_lines(&log);
    let names: Vec<&str> = lines.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["prestart", "createRuntime", "createContainer"]);
    for (name, greeting, state) in &lines {
        assert_eq!(greeting, "hello", "{name}: the hook's env");
        assert_eq!(state["id"], id.as_str(), "{name}");
        assert_eq!(state["status"], "creating", "{name}");
        // The container's PID as the runtime sees it, even for the hook
        // that runs in the container's namespaces.
        assert_eq!(state["pid"], pid, "{name}");
        assert_eq!(state["bundle"], f.bundle().to_str().unwrap(), "{name}");
        assert_eq!(state["annotations"]["org.example.lab"], "hooks", "{name}");
    }
    f.ok(&["start", &id]);
    wait_exit(&init, "`true`");
    assert_eq!(f.status(&id), "stopped");
    f.ok(&["delete", &id]);
    f.assert_nothing_left(&id);
    let lines = hook_lines(&log);
    let names: Vec<&str> = lines.iter().map(|(n, _, _)| n.as_str()).collect();
    // startContainer (in the container) and poststart (in `start`) run at
    // the same time: either order is right.
    let mut middle = names[3..5].to_vec();
    middle.sort();
    assert_eq!(middle, ["poststart", "startContainer"], "{names:?}");
    assert_eq!(names.len(), 6, "{names:?}");
    let status = |name: &str| {
        let (_, _, state) = lines.iter().find(|(n, _, _)| n == name).unwrap();
        state["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status("startContainer"), "created");
    assert_eq!(status("poststart"), "running");
    assert_eq!(status("poststop"), "stopped");
}

#[test]
fn privileged_a_failing_or_slow_hook_fails_create_and_leaves_nothing() {
    let f = Fixture::new(&["true"]);
    let b = f.bundle();
    let b = b.to_str().unwrap();
    let log = f.dir.path().join("poststop.log");
    let poststop = logging_hook("poststop", log.to_str().unwrap());
    let id = format!("hookfail-{}", std::process::id());
    for (stage, hook, expected) in [
        (
            "prestart",
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo no network for you >&2; exit 3"]}),
            "prestart hook #0 (/bin/sh): exit status: 3: no network for you",
        ),
        (
            "createContainer",
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}),
            "createContainer hook #0 (/bin/sh): exit status: 4",
        ),
        (
            "createRuntime",
            serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}),
            "createRuntime hook #0 (/bin/sleep): timed out after 1 s, and was killed",
        ),
    ] {
        f.edit(|config| {
            config["hooks"] = serde_json::json!({stage: [hook], "poststop": [poststop.clone()]});
        });
        let err = f.err(&["create", "--bundle", b, &id]);
        assert!(err.ends_with(expected), "{stage}: {err}");
        f.assert_nothing_left(&id);
        // The spec: a failed create goes on to "delete", poststop included.
        let lines = hook_lines(&log);
        assert_eq!(
            lines.last().map(|(n, _, _)| n.as_str()),
            Some("poststop"),
            "{stage}"
        );
        fs::remove_file(&log).unwrap();
    }
}

#[test]
fn privileged_sysctls_oom_score_devices_and_root_propagation() {
    let script = "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj; \
        stat -c '%F %t:%T %a %u:%g' /dev/mynull; \
        echo x > /dev/mynull && echo written; \
        awk '$5 == \"/\"' /proc/self/mountinfo | grep -o 'shared:'";
    let f = Fixture::new(&["sh", "-c", script]);
    let host_shmmax = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let host_forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    f.edit(|config| {
        config["linux"]["sysctl"] =
            serde_json::json!({"kernel.shmmax": "123456789", "net/ipv4/ip_forward": "1"});
        config["process"]["oomScoreAdj"] = 123.into();
        config["linux"]["devices"] = serde_json::json!([{
            "path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
            "fileMode": 0o660, "uid": 1000, "gid": 0
        }]);
        config["linux"]["rootfsPropagation"] = "rshared".into();
    });
    let id = format!("extras-{}", std::process::id());
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "123456789\n1\n123\ncharacter special file 1:3 660 1000:0\nwritten\nshared:\n"
    );
    f.assert_nothing_left(&id);
    // The container's own values, not the host's.
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward
    );
}

#[test]
fn privileged_a_namespace_joined_by_path_and_additional_gids() {
    let f = Fixture::new(&["sleep", "30"]);
    let first = format!("owner-{}", std::process::id());
    let pid_file = f.dir.path().join("pid");
    f.ok(&[
        "create",
        "--bundle",
        f.bundle().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &first,
    ]);
    let pid = fs::read_to_string(&pid_file).unwrap();
    // A created container's namespaces exist already: what `docker run
    // --network container:NAME` joins.
    let net = fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    f.edit(|config| {
        config["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "readlink /proc/self/ns/net; grep -E '^(Uid|Gid|Groups)' /proc/self/status"
        ]);
        config["process"]["user"] =
            serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
        for ns in config["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = format!("/proc/{pid}/ns/net").into();
            }
        }
    });
    let second = format!("joiner-{}", std::process::id());
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &second]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            net.to_str().unwrap(),
            "Uid: 1000 1000 1000 1000",
            "Gid: 1000 1000 1000 1000",
            "Groups: 10 20",
        ]
    );
    f.ok(&["delete", "--force", &first]);
    f.assert_nothing_left(&first);
    f.assert_nothing_left(&second);
}

#[test]
fn privileged_exec_joins_the_running_container() {
    // It says when its command runs, and then waits for input: its command
    // line stays the same.
    let f = Fixture::new(&["sh", "-c", "echo ready; read line"]);
    let profile = default_seccomp_profile(f.dir.path());
    f.edit(|config| {
        config["process"]["env"] = serde_json::json!(["PATH=/bin", "FOO=from-config"]);
        config["linux"]["seccomp"] = profile;
    });
    let id = format!("exec-{}", std::process::id());
    let (_input, mut output) =
        f.minirunc_with_pipes(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert_eq!(
        f.err(&["exec", &id]),
        "minirunc: exec needs a command: minirunc exec ID COMMAND [ARG...], or --process FILE"
    );
    f.ok(&["start", &id]);
    assert_eq!(output.next(), "ready\n");
    // Same hostname and PID namespace (PID 1 is the container's sh), the
    // container's environment, and the exit status passed through.
    let out = f.minirunc(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $FOO; id -u; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "runc\nsh -c echo ready; read line \nfrom-config\n0\n"
    );
    let out = f.ok(&[
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g",
    ]);
    assert_eq!(out, "bar\n/tmp\n1000\n1000\n");
    // The container's seccomp filter applies to what is exec'd in it.
    assert_eq!(
        f.ok(&["exec", &id, "grep", "Seccomp:", "/proc/self/status"]),
        "Seccomp:\t2\n"
    );
    // Detached: it lives on in the container's cgroup, where `ps` finds it
    // (and so tells that the PID is still that process). It says when it
    // runs, and would wait for its input for ever.
    let pid_file = f.dir.path().join("exec.pid");
    let (detached_input, mut detached) = f.minirunc_with_pipes(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "echo detached; read line",
    ]);
    let pid = fs::read_to_string(&pid_file).unwrap();
    let exec_d = common::pidfd(pid.trim().parse().unwrap());
    assert_eq!(detached.next(), "detached\n");
    let ps = f.ok(&["ps", &id]);
    assert!(
        ps.contains("echo detached; read line") && ps.contains(pid.trim()),
        "{ps}"
    );
    let out = f.minirunc(&["exec", &id, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    f.ok(&["delete", "--force", &id]);
    f.assert_nothing_left(&id);
    // Its input still open: only the container's end could end it.
    wait_exit(&exec_d, "the exec'd process outlived its container: it");
    drop(detached_input);
    assert_eq!(
        f.err(&["exec", &id, "true"]),
        "minirunc: container does not exist"
    );
}

#[test]
fn privileged_pause_freezes_and_resume_thaws() {
    // An echo: each line written to its stdin comes back.
    let f = Fixture::new(&["sh", "-c", "while read line; do echo \"got $line\"; done"]);
    let id = format!("pause-{}", std::process::id());
    let (mut input, mut output) =
        f.minirunc_with_pipes(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert_eq!(f.err(&["pause", &id]), "minirunc: container not running");
    f.ok(&["start", &id]);
    writeln!(input, "1").unwrap();
    assert_eq!(output.next(), "got 1\n");
    // pause returns once the kernel has frozen every task (the freezer
    // says FROZEN), the shell blocked in read(2) on its stdin or about to
    // be. The line written now would wake it; frozen, it takes none of it.
    f.ok(&["pause", &id]);
    writeln!(input, "2").unwrap();
    assert_eq!(f.status(&id), "paused");
    assert_eq!(f.err(&["pause", &id]), "minirunc: container not running");
    assert_eq!(
        f.err(&["exec", &id, "true"]),
        "minirunc: cannot exec in a paused container: minirunc resume it first"
    );
    assert_eq!(
        unread(&input),
        2,
        "a paused container ran: it read its input"
    );
    assert!(output.nothing_yet(), "a paused container ran: it answered");
    f.ok(&["resume", &id]);
    assert_eq!(f.status(&id), "running");
    assert_eq!(f.err(&["resume", &id]), "minirunc: container not paused");
    // Resumed, it goes on where it stopped: the line is read and answered.
    assert_eq!(output.next(), "got 2\n", "a resumed container did not run");
    // A paused container can be deleted: kill_all thaws to deliver SIGKILL.
    f.ok(&["pause", &id]);
    f.ok(&["delete", "--force", &id]);
    f.assert_nothing_left(&id);
}

/// How many bytes wait in the pipe `input` writes to, unread (FIONREAD).
fn unread(input: &ChildStdin) -> i32 {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, the pipe's unread byte count.
    let done = unsafe { libc::ioctl(input.as_raw_fd(), libc::FIONREAD, &mut bytes) };
    assert_eq!(done, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    bytes
}

#[test]
fn privileged_no_descriptor_of_the_caller_reaches_the_container() {
    let f = Fixture::new(&["ls", "/proc/self/fd"]);
    let id = format!("fds-{}", std::process::id());
    // The caller holds fd 7 open without close-on-exec, as a shell can.
    let out = Command::new("sh")
        .args([
            "-c",
            "exec 7</etc/hostname; exec \"$0\" \"$@\"",
            MINIRUNC,
            "--root",
        ])
        .arg(f.root())
        .args(["run", "--bundle", f.bundle().to_str().unwrap(), &id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 0, 1, 2, and the directory ls itself opened to list them.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n2\n3\n");
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_run_relays_a_terminal_and_create_needs_a_console_socket() {
    let f = Fixture::new(&["sh", "-c", "tty; [ -t 0 ] && echo stdin is a terminal"]);
    f.edit(|config| config["process"]["terminal"] = true.into());
    let id = format!("tty-{}", std::process::id());
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The container's side is a pty of its own devpts; its line discipline
    // turns "\n" into "\r\n" on the way out.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/dev/pts/0\r\nstdin is a terminal\r\n"
    );
    f.assert_nothing_left(&id);
    // create detaches: nobody would hold the master.
    assert_eq!(
        f.err(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]),
        "minirunc: cannot allocate tty if minirunc will detach without setting console socket"
    );
    f.assert_nothing_left(&id);
}

/// `minirunc spec`'s seccomp profile: the default one, Docker's in effect.
fn default_seccomp_profile(dir: &Path) -> serde_json::Value {
    let bundle = dir.join("spec-bundle");
    fs::create_dir_all(&bundle).unwrap();
    let out = Command::new(MINIRUNC)
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success());
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    config["linux"]["seccomp"].clone()
}

#[test]
fn privileged_the_default_seccomp_profile_blocks_what_docker_blocks() {
    // Each call with its errno (busybox prints strerror); CAP_SYS_ADMIN is
    // granted, so without the filter unshare and mount would succeed.
    let script = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '; \
        (unshare -U true && echo unshared) 2>&1 | sed 's/.*: //'; \
        (mount -t tmpfs none /dev/shm && echo mounted) 2>&1 | sed 's/.*: //'; \
        insmod /bin/busybox 2>&1 | sed 's/.*: //'; \
        echo fine > /dev/shm/x && cat /dev/shm/x";
    let f = Fixture::new(&["sh", "-c", script]);
    let profile = default_seccomp_profile(f.dir.path());
    f.edit(|config| {
        config["linux"]["seccomp"] = profile.clone();
        // runc's spec sets it; Docker leaves it off.
        config["process"]["noNewPrivileges"] = false.into();
        for set in ["bounding", "effective", "permitted"] {
            let caps = config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap();
            caps.push("CAP_SYS_ADMIN".into());
        }
    });
    let run = |id: &str| {
        let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), id]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let id = format!("seccomp-{}", std::process::id());
    assert_eq!(
        run(&id),
        "NoNewPrivs: 0\nSeccomp: 2\nOperation not permitted\n\
         permission denied (are you root?)\nOperation not permitted\nfine\n"
    );
    // No filter: the same calls reach the kernel. A kernel built without
    // module loading (this CI machine's) answers insmod with ENOSYS, worded
    // so by busybox; one with modules refuses it for want of CAP_SYS_MODULE.
    f.edit(|config| config["linux"]["seccomp"] = serde_json::Value::Null);
    let insmod = if Path::new("/proc/modules").exists() {
        "Operation not permitted"
    } else {
        "kernel does not support requested operation"
    };
    assert_eq!(
        run(&id),
        format!("NoNewPrivs: 0\nSeccomp: 0\nunshared\nmounted\n{insmod}\nfine\n")
    );
    // With no_new_privs the filter is loaded last, just before execve.
    f.edit(|config| {
        config["linux"]["seccomp"] = profile.clone();
        config["process"]["noNewPrivileges"] = true.into();
    });
    assert!(run(&id).starts_with("NoNewPrivs: 1\nSeccomp: 2\nOperation not permitted\n"));
    // reboot(2), with CAP_SYS_BOOT held: in a PID namespace it would end
    // the container's init; the filter refuses it first.
    f.edit(|config| {
        config["process"]["args"] = serde_json::json!(["sh", "-c", "reboot -f; echo still here"]);
        for set in ["bounding", "effective", "permitted"] {
            let caps = config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap();
            caps.push("CAP_SYS_BOOT".into());
        }
    });
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "still here\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_the_console_socket_gets_the_terminal_of_the_given_size() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let f = Fixture::new(&["sh", "-c", "tty; stty size"]);
    f.edit(|config| {
        config["process"]["terminal"] = true.into();
        config["process"]["consoleSize"] = serde_json::json!({"height": 30, "width": 100});
    });
    // What containerd's shim does: listen, pass the path, receive the master.
    let socket = f.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let id = format!("console-{}", std::process::id());
    f.ok(&[
        "create",
        "--bundle",
        f.bundle().to_str().unwrap(),
        "--console-socket",
        socket.to_str().unwrap(),
        &id,
    ]);
    let (connection, _) = listener.accept().unwrap();
    let master = namespaces::terminal::receive_master(connection.as_raw_fd()).unwrap();
    f.ok(&["start", &id]);
    let mut output = String::new();
    let mut master = fs::File::from(master);
    // EIO once the container's side is closed: the end of the output.
    let _ = master.read_to_string(&mut output);
    assert_eq!(output, "/dev/pts/0\r\n30 100\r\n");
    f.ok(&["delete", "--force", &id]);
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_an_apparmor_profile_is_applied_or_ignored_as_runc_does() {
    let f = Fixture::new(&["cat", "/proc/self/attr/current"]);
    // "unconfined" exists wherever AppArmor does.
    f.edit(|config| config["process"]["apparmorProfile"] = "unconfined".into());
    let id = format!("apparmor-{}", std::process::id());
    let out = f.minirunc(&[
        "--debug",
        "run",
        "--bundle",
        f.bundle().to_str().unwrap(),
        &id,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let enabled = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    if enabled {
        assert!(out.status.success(), "{stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("unconfined"));
    } else {
        assert!(
            stderr.contains("minirunc: debug: AppArmor is not enabled on this host: apparmorProfile \"unconfined\" ignored"),
            "{stderr}"
        );
    }
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_a_user_namespace_maps_root_to_an_unprivileged_range() {
    let f = Fixture::new(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u",
    ]);
    f.edit(|config| {
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        config["linux"]["uidMappings"] = map.clone();
        config["linux"]["gidMappings"] = map;
    });
    let id = format!("userns-{}", std::process::id());
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0 100000 65536", "0 100000 65536", "0"]);
    f.assert_nothing_left(&id);
}

/// What Docker's engine relies on and runc does: found by running dockerd
/// on minirunc (see the book).
#[test]
fn privileged_signals_home_swap_ptmx_and_repeated_terminals_as_runc_does() {
    let script = "grep -E '^Sig(Blk|Ign)' /proc/self/status | tr -s '\\t' ' '; echo HOME=$HOME; \
        cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null \
        || cat /sys/fs/cgroup/memory.swap.max; sleep 30";
    let f = Fixture::new(&["sh", "-c", script]);
    f.edit(|config| {
        // A limit on memory and none on swap: dockerd's `--memory-swap -1`.
        config["linux"]["resources"]["memory"] = serde_json::json!({"limit": 33554432});
        // `docker run --privileged` lists every host device, /dev/ptmx too.
        config["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 438}
        ]);
    });
    let id = format!("dockerish-{}", std::process::id());
    // The container writes to the stdout it inherited from create.
    let (_input, mut output) =
        f.minirunc_with_pipes(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    f.ok(&["start", &id]);
    let seen: Vec<String> = (0..4).map(|_| output.next()).collect();
    assert_eq!(
        seen.iter().map(|l| l.trim_end()).collect::<Vec<_>>(),
        [
            "SigBlk: 0000000000000000",
            "SigIgn: 0000000000000000",
            "HOME=/root",
            // Unlimited: no swap limit of its own.
            if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                "max"
            } else {
                "9223372036854771712"
            },
        ]
    );
    // A terminal for every exec: /dev/console is the first process's only.
    for _ in 0..2 {
        let out = f.minirunc(&["exec", "-t", &id, "tty"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("/dev/pts/"));
    }
    // --all after the init is gone is not an error (containerd sends it).
    let init = f.init(&id);
    f.ok(&["kill", &id, "KILL"]);
    wait_exit(&init, "the init, SIGKILLed,");
    assert_eq!(f.status(&id), "stopped");
    f.ok(&["kill", "--all", &id, "KILL"]);
    f.ok(&["delete", &id]);
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_update_changes_the_limits_of_a_running_container() {
    let f = Fixture::new(&["sleep", "30"]);
    f.edit(|config| {
        config["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 33554432, "swap": 67108864});
    });
    let id = format!("update-{}", std::process::id());
    f.ok(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    f.ok(&["start", &id]);
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let read = |controller: &str, file: &str| {
        let dir = if v2 {
            format!("/sys/fs/cgroup/minidocker/{id}")
        } else {
            format!("/sys/fs/cgroup/{controller}/minidocker/{id}")
        };
        fs::read_to_string(format!("{dir}/{file}"))
            .unwrap()
            .trim()
            .to_string()
    };
    let update = |json: &str| {
        let path = f.dir.path().join("resources.json");
        fs::write(&path, json).unwrap();
        f.ok(&["update", "--resources", path.to_str().unwrap(), &id]);
    };
    // What containerd sends for `docker update --memory 128m --memory-swap
    // 256m --pids-limit 50`: raising memory above the old memory+swap.
    update(
        r#"{"memory":{"limit":134217728,"reservation":0,"swap":268435456,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0},"pids":{"limit":50}}"#,
    );
    if v2 {
        assert_eq!(read("memory", "memory.max"), "134217728");
        assert_eq!(read("memory", "memory.swap.max"), "134217728");
    } else {
        assert_eq!(read("memory", "memory.limit_in_bytes"), "134217728");
        if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            assert_eq!(read("memory", "memory.memsw.limit_in_bytes"), "268435456");
        }
    }
    assert_eq!(read("pids", "pids.max"), "50");
    // And down again, below the old memory limit.
    update(r#"{"memory":{"limit":16777216,"swap":33554432}}"#);
    let file = if v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read("memory", file), "16777216");
    let path = f.dir.path().join("bad.json");
    fs::write(&path, r#"{"blockIO":{"weight":500}}"#).unwrap();
    let err = f.err(&["update", "--resources", path.to_str().unwrap(), &id]);
    assert_eq!(
        err,
        "minirunc: config.json asks for linux.resources.blockIO, which minirunc does not support"
    );
    f.ok(&["delete", "--force", &id]);
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_an_init_that_dies_without_a_word_fails_create() {
    // The filter kills the process at its first sendto(2): the "ready" it
    // would have sent the runtime.
    let f = Fixture::new(&["true"]);
    f.edit(|config| {
        config["process"]["noNewPrivileges"] = false.into();
        config["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sendto"], "action": "SCMP_ACT_KILL_PROCESS"}]
        });
    });
    let id = format!("silent-{}", std::process::id());
    let err = f.err(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert_eq!(
        err,
        "minirunc: the container process died during setup (killed by SIGSYS), before it could say why"
    );
    f.assert_nothing_left(&id);
}
