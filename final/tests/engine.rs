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

/// The file of cgroup `controller` for PID's cgroup, `file` named as on v1
/// (`memory.limit_in_bytes`) and v2 (`memory.max`): (v1 name, v2 name).
fn cgroup_file(pid: &str, controller: &str, file: (&str, &str)) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == controller) {
            return std::fs::read_to_string(format!(
                "/sys/fs/cgroup/{controller}/{path}/{}",
                file.0
            ))
            .unwrap();
        }
        if controllers.is_empty()
            && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        {
            return std::fs::read_to_string(format!("/sys/fs/cgroup/{path}/{}", file.1)).unwrap();
        }
    }
    panic!("no {controller} cgroup for {pid}:\n{cgroups}");
}

#[test]
fn privileged_update_changes_a_running_containers_limits() {
    let d = Daemon::start();
    d.ok(&[
        "run", "-d", "--name", "limited", "--memory", "64m", "busybox", "sleep", "1000",
    ]);
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "limited"]);
    let pid = pid.trim();
    let memory = ("memory.limit_in_bytes", "memory.max");
    assert_eq!(cgroup_file(pid, "memory", memory).trim(), "67108864");
    d.ok(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "50",
        "limited",
    ]);
    // The cgroup now, and HostConfig for the next start.
    assert_eq!(cgroup_file(pid, "memory", memory).trim(), "134217728");
    assert_eq!(
        cgroup_file(pid, "pids", ("pids.max", "pids.max")).trim(),
        "50"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "limited"
        ]),
        "134217728 50\n"
    );
    // What create refuses, update refuses too.
    let out = d.docker(&["update", "--memory", "1m", "limited"]);
    assert!(
        !out.status.success() && stderr(&out).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "limited"]);
}

#[test]
fn privileged_runc_runs_the_engines_containers_too() {
    let d = Daemon::start();
    let info = d.ok(&[
        "info",
        "--format",
        "{{range $name, $_ := .Runtimes}}{{$name}} {{end}}",
    ]);
    assert!(
        info.contains("runc"),
        "runc is not installed (sudo scripts/provision.sh --test), or not registered: {info}"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "echo via-runc; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "via-runc\n");
    let out = d.docker(&["run", "--rm", "--runtime", "nosuch", "busybox", "true"]);
    assert!(
        stderr(&out).contains("unknown runtime specified nosuch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn privileged_log_options_rotate_the_json_log() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 100); do echo line-$i; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The attached output had every line; the log keeps the newest files.
    assert_eq!(stdout(&out).lines().count(), 100);
    let logs = d.ok(&["logs", "chatty"]);
    let kept: Vec<&str> = logs.lines().collect();
    assert!(kept.len() < 100 && kept.len() > 5, "{logs}");
    assert_eq!(kept.last(), Some(&"line-100"));
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "chatty"]);
    let log = d
        .data_root()
        .join("containers")
        .join(id.trim())
        .join(format!("{}-json.log.1", id.trim()));
    assert!(log.is_file(), "no rotated file {}", log.display());
    let out = d.docker(&["run", "--rm", "--log-driver", "syslog", "busybox", "true"]);
    assert!(
        stderr(&out).contains("json-file is its only driver"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn privileged_a_detached_exec_runs_to_its_end() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "host", "busybox", "sleep", "1000"]);
    d.ok(&["exec", "host", "mkfifo", "/handoff"]);
    // Detached: the CLI returns at once; the exec writes into the fifo,
    // which the next exec reads (each open waits for the other side).
    d.ok(&[
        "exec",
        "-d",
        "host",
        "sh",
        "-c",
        "echo from-detached > /handoff",
    ]);
    assert_eq!(
        d.ok(&["exec", "host", "cat", "/handoff"]),
        "from-detached\n"
    );
    d.ok(&["rm", "-f", "host"]);
}
