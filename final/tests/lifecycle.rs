//! The daemon's own lifecycle: a clean stop, `--live-restore`, a crash
//! (SIGKILL) at any point of an operation, and what 100 containers leave
//! behind (nothing).

mod common;

use std::path::Path;

use common::{Daemon, stderr};

fn pid_of(d: &Daemon, container: &str) -> i32 {
    d.ok(&["inspect", "-f", "{{.State.Pid}}", container])
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    // A zombie has exited: only a running (or sleeping) process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn status_and_code(d: &Daemon, container: &str) -> String {
    d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        container,
    ])
}

#[test]
fn privileged_a_clean_stop_stops_every_container_with_its_own_signal_and_timeout() {
    let mut d = Daemon::start();
    let trap = |signal: &str, code: u8| {
        format!("trap 'exit {code}' {signal}; echo ready; sleep 1000 & wait")
    };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "term",
        "busybox",
        "sh",
        "-c",
        &trap("TERM", 3),
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "int",
        "--stop-signal",
        "INT",
        "busybox",
        "sh",
        "-c",
        &trap("INT", 5),
    ]);
    // PID 1 without a handler ignores SIGTERM: SIGKILL after its 1 s.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "deaf",
        "--stop-timeout",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.wait_for_output_line("term", "ready");
    d.wait_for_output_line("int", "ready");
    let pids: Vec<i32> = ["term", "int", "deaf"]
        .iter()
        .map(|c| pid_of(&d, c))
        .collect();
    // SIGTERM, and the wait for the daemon's exit (the harness fails the
    // test if it takes longer than its guard).
    d.terminate();
    for pid in pids {
        assert!(!alive(pid), "pid {pid} outlived the daemon's clean stop");
    }
    assert!(
        d.log_text().contains("stopping containers"),
        "{}",
        d.log_text()
    );
    d.restart(&[]);
    assert_eq!(status_and_code(&d, "term"), "exited 3\n");
    assert_eq!(status_and_code(&d, "int"), "exited 5\n");
    assert_eq!(status_and_code(&d, "deaf"), "exited 137\n");
}

#[test]
fn privileged_live_restore_keeps_containers_across_a_clean_restart() {
    let mut d = Daemon::start_with(&["--live-restore"]);
    assert_eq!(
        d.ok(&["info", "--format", "{{.LiveRestoreEnabled}}"]),
        "true\n"
    );
    d.ok(&["run", "-d", "--name", "lives", "busybox", "sleep", "1000"]);
    let pid = pid_of(&d, "lives");
    d.restart(&["--live-restore"]);
    assert!(alive(pid));
    assert_eq!(pid_of(&d, "lives"), pid, "the same process, found again");
    assert_eq!(
        d.ok(&["exec", "lives", "echo", "reattached"]),
        "reattached\n"
    );
    d.ok(&["stop", "-t", "0", "lives"]);
    assert_eq!(status_and_code(&d, "lives"), "exited 137\n");
}

#[test]
fn privileged_a_killed_daemon_loses_no_output_and_no_exit() {
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "mkfifo /go; echo before; read word < /go; echo after; exit 7",
    ]);
    d.wait_for_output_line("talker", "before");
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    d.restart(&[]);
    assert_eq!(status_and_code(&d, "talker"), "running 0\n");
    // The container goes on once told to, while the new daemon watches.
    d.ok(&["exec", "talker", "sh", "-c", "echo go > /go"]);
    assert_eq!(d.ok(&["wait", "talker"]), "7\n");
    assert_eq!(d.ok(&["logs", "talker"]), "before\nafter\n");
}

/// What a daemon's data and exec roots hold: mounts, container
/// directories, shims, network namespaces.
#[derive(Debug, PartialEq)]
struct Footprint {
    mounts: usize,
    containers: usize,
    shims: usize,
    namespaces: usize,
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn footprint(d: &Daemon) -> Footprint {
    Footprint {
        mounts: common::mounts_under(d.dir.path()).len(),
        containers: entries(&d.data_root().join("containers")),
        shims: entries(&d.exec_root().join("shims")),
        namespaces: entries(&d.exec_root().join("netns")),
    }
}

/// The daemon's open descriptors and threads.
fn daemon_resources(d: &Daemon) -> (usize, usize) {
    let pid = d.child.id();
    (
        entries(Path::new(&format!("/proc/{pid}/fd"))),
        entries(Path::new(&format!("/proc/{pid}/task"))),
    )
}

/// Where container `id`'s cgroup would be (cgroup v1 memory, or v2).
fn cgroup_dir(id: &str) -> std::path::PathBuf {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Path::new("/sys/fs/cgroup/minidocker").join(id)
    } else {
        Path::new("/sys/fs/cgroup/memory/minidocker").join(id)
    }
}

#[test]
fn privileged_a_hundred_run_rm_cycles_leave_nothing_behind() {
    let d = Daemon::start();
    // One run first: what is made once (the store's dirs, the first
    // connection's thread) is not a leak.
    d.ok(&["run", "--rm", "busybox", "true"]);
    let before = footprint(&d);
    let (fds_before, threads_before) = daemon_resources(&d);
    let cidfile = d.dir.path().join("cid");
    let mut ids = Vec::new();
    for _ in 0..100 {
        let _ = std::fs::remove_file(&cidfile);
        d.ok(&[
            "run",
            "--rm",
            "--cidfile",
            cidfile.to_str().unwrap(),
            "busybox",
            "true",
        ]);
        ids.push(std::fs::read_to_string(&cidfile).unwrap());
    }
    assert_eq!(footprint(&d), before, "daemon log:\n{}", d.log_text());
    for id in &ids {
        assert!(
            !cgroup_dir(id).exists(),
            "{} is left",
            cgroup_dir(id).display()
        );
        let state = d.exec_root().join("runtime/minirunc").join(id);
        assert!(!state.exists(), "{} is left", state.display());
    }
    // A connection's thread ends a moment after its client: a margin for
    // those, far below one per cycle.
    let (fds, threads) = daemon_resources(&d);
    assert!(
        fds <= fds_before + 5,
        "descriptors: {fds_before} before, {fds} after"
    );
    assert!(
        threads <= threads_before + 5,
        "threads: {threads_before} before, {threads} after"
    );
}

/// The daemon dies (SIGKILL, from itself) at `point` while `action` runs;
/// a new daemon on the same roots then has to make sense of it.
fn crash_at(point: &str, setup: &[&[&str]], action: &[&str]) -> Daemon {
    let mut d = Daemon::start_with_env(&[], &[("MINIDOCKERD_FAULT", point)]);
    for args in setup {
        d.ok(args);
    }
    let out = d.docker(action);
    assert!(
        !out.status.success(),
        "docker {} should have lost its daemon at {point}: {}",
        action.join(" "),
        stderr(&out)
    );
    d.restart(&[]);
    assert!(
        d.log_text().contains("API listen on"),
        "the restarted daemon: {}",
        d.log_text()
    );
    d
}

#[test]
fn privileged_a_create_cut_in_half_is_rolled_back() {
    let d = crash_at(
        "create:snapshot-mounted",
        &[],
        &["create", "--name", "half", "busybox", "true"],
    );
    assert_eq!(d.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(
        footprint(&d),
        Footprint {
            mounts: 0,
            containers: 0,
            shims: 0,
            namespaces: 0
        }
    );
    // The name is free again.
    d.ok(&["create", "--name", "half", "busybox", "true"]);
}

#[test]
fn privileged_a_start_cut_before_the_process_is_undone() {
    let d = crash_at(
        "start:shim-spawned",
        &[&[
            "create",
            "--name",
            "half",
            "busybox",
            "echo",
            "started-later",
        ]],
        &["start", "half"],
    );
    assert_eq!(status_and_code(&d, "half"), "created 0\n");
    assert_eq!(footprint(&d).shims, 0, "the half-started shim is gone");
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "half"]);
    assert!(
        !d.exec_root()
            .join("runtime/minirunc")
            .join(id.trim())
            .exists()
    );
    assert_eq!(d.ok(&["start", "-a", "half"]), "started-later\n");
}

#[test]
fn privileged_a_start_cut_after_the_process_is_adopted() {
    let d = crash_at(
        "start:process-started",
        &[&["create", "--name", "half", "busybox", "sleep", "1000"]],
        &["start", "half"],
    );
    assert_eq!(status_and_code(&d, "half"), "running 0\n");
    let pid = pid_of(&d, "half");
    assert!(alive(pid));
    d.ok(&["stop", "-t", "0", "half"]);
    assert_eq!(status_and_code(&d, "half"), "exited 137\n");
}

#[test]
fn privileged_a_removal_cut_in_half_is_finished() {
    for point in ["remove:marked", "remove:files-removed"] {
        let d = crash_at(
            point,
            &[&["create", "--name", "going", "busybox", "true"]],
            &["rm", "going"],
        );
        assert_eq!(d.ok(&["ps", "-a", "-q"]), "", "after a crash at {point}");
        assert_eq!(
            footprint(&d),
            Footprint {
                mounts: 0,
                containers: 0,
                shims: 0,
                namespaces: 0
            },
            "after a crash at {point}"
        );
    }
}
