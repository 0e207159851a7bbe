//! The real Docker engine on minirunc: Debian's dockerd, started isolated
//! (its own data root, exec root and socket in a temp dir; no iptables, no
//! bridge, no IP forwarding), told `--add-runtime minirunc=PATH`, and driven
//! by the docker CLI. containerd's runc shim calls minirunc exactly as it
//! calls runc: create, start, state, kill, delete, exec, ps, pause, resume,
//! update.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Dockerd, Lines, MINIRUNC};

/// The cgroup parent dockerd is told to use: ours alone, easy to remove.
const CGROUP_PARENT: &str = "minidocker-dockerd-test";

/// The config.json dockerd wrote for container `name` (through
/// containerd, in the bundle it hands the runtime), as the book shows
/// it: book/src/transcripts/ch05-dockerd-config.json.
fn check_config(d: &Dockerd, name: &str) {
    let id = d.ok(&["inspect", "-f", "{{.Id}}", name]);
    let bundle = d
        .dir
        .path()
        .join("exec/containerd/daemon/io.containerd.runtime.v2.task/moby")
        .join(id.trim());
    let text = fs::read(bundle.join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&text).unwrap();
    // The seccomp profile's rules, as their number: the list is long.
    let rules = &mut config["linux"]["seccomp"]["syscalls"];
    let count = rules.as_array().map_or(0, |r| r.len());
    *rules = format!("<{count} rules>").into();
    let text = serde_json::to_string_pretty(&config).unwrap();
    let root = d.dir.path().display().to_string();
    let text = text
        .replace(&format!("{root}/data"), "/var/lib/docker")
        .replace(&format!("{root}/exec"), "/var/run/docker");
    let text = api::transcript::replace(
        &api::transcript::normalize(&text),
        &[(r"/proc/[0-9]+/exe", "/proc/<dockerd-pid>/exe")],
    );
    api::transcript::check("ch05-dockerd-config.json", &(text + "\n"));
}

#[test]
fn privileged_dockerd_runs_containers_on_minirunc() {
    let d = Dockerd::start(Path::new(MINIRUNC), CGROUP_PARENT);
    // The workshop's busybox image, made offline by chapter 02 and loaded.
    let ch02 = Path::new(MINIRUNC).with_file_name("ch02");
    assert!(
        ch02.is_file(),
        "no {}: cargo build -p images",
        ch02.display()
    );
    let store = d.dir.path().join("store");
    let archive = d.dir.path().join("busybox.tar");
    for args in [
        vec!["create-offline-images"],
        vec!["save", "busybox", "-o", archive.to_str().unwrap()],
    ] {
        let out = Command::new(&ch02)
            .arg("--root")
            .arg(&store)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ch02 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    d.ok(&["load", "-i", archive.to_str().unwrap()]);

    // A command, its output and its exit status.
    let out = d.run(&["--rm", "busybox", "echo", "hi"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        d.run(&["--rm", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        d.run(&["--rm", "busybox", "no-such-command"]).status.code(),
        Some(127)
    );

    // --memory is enforced, and the OOM kill is seen by the engine.
    let out = d.run(&[
        "--name",
        "hog",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a)",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "hog"]),
        "true\n"
    );
    d.ok(&["rm", "hog"]);

    // Detached, then exec, top, pause, update and stop.
    let script = "trap 'exit 0' TERM; echo trapped; while true; do sleep 0.1; done";
    let out = d.run(&["-d", "--name", "sleeper", "busybox", "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `run -d` returns before the container's execve; its trap is there
    // once it says so (SIGTERM before it would be dropped: PID 1 of its
    // namespace gets only the signals it handles).
    let mut logs = d
        .command(&["logs", "-f", "sleeper"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(Lines::new(logs.stdout.take().unwrap()).next(), "trapped\n");
    logs.kill().unwrap();
    logs.wait().unwrap();
    check_config(&d, "sleeper");
    assert_eq!(
        d.ok(&["exec", "sleeper", "echo", "from exec"]),
        "from exec\n"
    );
    assert_eq!(
        d.docker(&["exec", "sleeper", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    assert!(d.ok(&["top", "sleeper"]).contains("sleep"));
    d.ok(&["pause", "sleeper"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "sleeper"]),
        "paused\n"
    );
    d.ok(&["unpause", "sleeper"]);
    d.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "sleeper",
    ]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "sleeper"]),
        "67108864\n"
    );
    // SIGTERM, and SIGKILL only after a minute: far more than the trap
    // needs on any machine. Exit code 0, not 137: the trap answered SIGTERM.
    d.ok(&["stop", "-t", "60", "sleeper"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "sleeper"]),
        "0\n"
    );
    d.ok(&["rm", "sleeper"]);

    // -t: a terminal, through the console socket, relayed by the CLI. The
    // CLI wants a terminal of its own: script(1) gives it one.
    let command = format!(
        "docker -H unix://{} run -t --rm --runtime minirunc --network none busybox tty",
        d.socket().display()
    );
    let out = Command::new("timeout")
        .args(["120", "script", "-qec", &command, "/dev/null"])
        .env("DOCKER_CONFIG", d.cli_config())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("/dev/pts/0"),
        "{text}"
    );
}
