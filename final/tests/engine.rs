//! The daemon itself: its processes as `ps` shows them, its flags, its
//! state on disk, several daemons side by side.

mod common;

use std::process::Command;

use common::{Daemon, MINIDOCKERD, stderr, stdout};

/// The PID's parent and command line, from /proc.
fn parent_and_command(pid: i32) -> (i32, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let command = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    (ppid, command.trim().to_string())
}

#[test]
fn privileged_daemon_shim_and_container_are_separate_processes() {
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let pid: i32 = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", id])
        .trim()
        .parse()
        .unwrap();
    // The container's PID 1 is a child of its shim, which is not the daemon's
    // child: it left the daemon's session at start (it outlives a daemon).
    let (shim, command) = parent_and_command(pid);
    assert_eq!(command, "sleep 1000");
    let (shim_parent, shim_command) = parent_and_command(shim);
    assert!(
        shim_command.contains("minishim") && shim_command.contains(id),
        "the container's parent is {shim_command:?}, not its minishim"
    );
    assert_ne!(shim_parent, d.child.id() as i32);
    assert_ne!(shim, d.child.id() as i32);
    // Its config.json is the spec builder's: Docker's capabilities, our cgroup.
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            d.data_root()
                .join("containers")
                .join(id)
                .join("config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["linux"]["cgroupsPath"],
        format!("/minidocker/{id}").as_str()
    );
    assert_eq!(
        config["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    d.ok(&["rm", "-f", id]);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn privileged_offline_images_come_on_the_first_start_only() {
    let mut d = Daemon::start();
    let names = |d: &Daemon| d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(names(&d), "busybox:latest\nhello:latest\n");
    d.ok(&["rmi", "hello"]);
    // What the user removed stays removed across a restart.
    d.restart(&[]);
    assert_eq!(names(&d), "busybox:latest\n");
    // --no-default-images on a first start: none at all.
    let bare = Daemon::start_with(&["--no-default-images"]);
    assert_eq!(names(&bare), "");
}

#[test]
fn privileged_containers_and_their_logs_outlive_a_daemon_restart() {
    let mut d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "echo kept; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    d.ok(&["run", "-d", "--name", "runs", "busybox", "sleep", "1000"]);
    // SIGKILL: no chance to write anything down on the way out.
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    d.restart(&[]);
    assert_eq!(d.ok(&["logs", "done"]), "kept\n");
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "done"
        ]),
        "exited 3\n"
    );
    // The running one ran on under its shim and is found again.
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "runs"]),
        "running\n"
    );
    assert_eq!(
        d.ok(&["exec", "runs", "echo", "still-here"]),
        "still-here\n"
    );
    d.ok(&["stop", "-t", "0", "runs"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "runs"
        ]),
        "exited 137\n"
    );
}

#[test]
fn privileged_a_non_loopback_tcp_address_is_refused() {
    common::require_root();
    let out = Command::new(MINIDOCKERD)
        .args(["-H", "tcp://0.0.0.0:2375", "--data-root", "/nonexistent-md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("127.0.0.1") && message.contains("TLS"),
        "{message}"
    );
    assert!(!std::path::Path::new("/nonexistent-md").exists());
}

#[test]
fn privileged_two_daemons_run_side_by_side() {
    let (a, b) = (Daemon::start(), Daemon::start());
    a.ok(&["create", "--name", "only-in-a", "busybox", "true"]);
    assert!(
        a.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("only-in-a")
    );
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    // The same name is free in the other daemon.
    b.ok(&["create", "--name", "only-in-a", "busybox", "true"]);
    let out = a.docker(&["run", "--rm", "busybox", "echo", "from-a"]);
    assert_eq!(stdout(&out), "from-a\n", "{}", stderr(&out));
}
