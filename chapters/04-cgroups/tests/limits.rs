//! `ch04 run` against the real kernel: each limit does what it says, the
//! stats see it, and no cgroup outlives its container. These run on the
//! machine's own cgroup version (v1 here; v2 in the VM: scripts/vm-test.sh).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;

// ANCHOR: oom_test
#[test]
fn privileged_a_memory_hog_is_oom_killed() {
    let store = Store::new();
    // 100 MB of 'a's held in a shell variable, under a 32 MiB limit and no swap.
    let out = store.run(&[
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "--image",
        "busybox",
        "--",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(137), "{err}");
    assert!(!stdout(&out).contains("survived"));
    assert!(stat(&err, "oom:") >= 1, "{err}");
    assert!(err.contains("the container was OOM-killed"), "{err}");
    assert!(
        !cgroup_exists(&cgroup_path(&err)),
        "the cgroup outlived the container"
    );
}
// ANCHOR_END: oom_test

#[test]
fn privileged_a_fork_bomb_is_held_by_the_pids_limit() {
    let store = Store::new();
    // PID 1 forks twice, before the bomb exists: mkfifo, and the subshell
    // that starts the bomb. A fork refused to PID 1 would end it (a
    // non-interactive shell exits on "can't fork"), so once the bomb runs
    // it uses builtins only: it reads the bomb's complaints from the fifo
    // (blocking until a whole line is there) until one is a refused fork
    // (under load, another complaint can come first), passes it on to
    // stderr, and answers.
    let out = store.run(&[
        "--pids-limit",
        "20",
        "--image",
        "busybox",
        "--",
        "sh",
        "-c",
        "bomb() { bomb | bomb & }; mkfifo /tmp/refused; exec 3<>/tmp/refused; \
         (bomb 2>&3); while read -r refused <&3; do case \"$refused\" in *\"can't fork\"*) break;; esac; done; \
         echo \"$refused\" >&2; echo the host is fine",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(stdout(&out).contains("the host is fine"));
    assert!(err.contains("can't fork"), "{err}");
    let refused = err
        .lines()
        .find(|l| l.starts_with("pids:"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no refused count in {err}"));
    assert!(refused > 0, "{err}");
    assert!(!cgroup_exists(&cgroup_path(&err)));
}

#[test]
fn privileged_cpus_sets_quota_and_period_and_a_busy_loop_is_throttled() {
    let store = Store::new();
    // A busy loop with half a CPU, in the background of PID 1 (PID 1 would
    // ignore the SIGTERM), until the test closes the container's stdin.
    let mut child = store
        .command(&[
            "--cpus",
            "0.5",
            "--image",
            "busybox",
            "--",
            "sh",
            "-c",
            "while :; do :; done & read -r line; kill $!",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let path = cgroup_path(&first);
    // Read from the host while the container runs: it cannot end before
    // its stdin is closed.
    let dir = cgroup_dir(&path, "cpu");
    let limit = if is_v2() {
        std::fs::read_to_string(dir.join("cpu.max"))
            .unwrap()
            .trim()
            .to_string()
    } else {
        let quota = std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).unwrap();
        let period = std::fs::read_to_string(dir.join("cpu.cfs_period_us")).unwrap();
        format!("{} {}", quota.trim(), period.trim())
    };
    assert_eq!(limit, "50000 100000");
    // The loop is throttled once it has used up a period's quota. cpu.stat
    // announces no change, so it is polled, until the counter moves.
    let throttled = poll_until(|| {
        let text = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
        let line = text.lines().find_map(|l| l.strip_prefix("nr_throttled "))?;
        line.trim().parse::<u64>().ok().filter(|n| *n > 0)
    });
    assert!(throttled.is_some(), "the busy loop was never throttled");
    // EOF on stdin: PID 1's `read` returns, it kills the loop and exits.
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    let throttled = rest
        .lines()
        .find_map(|l| l.split("throttled ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no throttled count in {rest}"));
    assert!(
        throttled > 0,
        "a busy loop under --cpus 0.5 was never throttled: {rest}"
    );
    assert!(!cgroup_exists(&path));
}

#[test]
fn privileged_a_denied_device_cannot_be_opened() {
    let store = Store::new();
    let out = store.run(&[
        "--device-deny", "c 1:9 r", "--image", "busybox", "--",
        "sh", "-c", "head -c1 /dev/urandom >/dev/null; head -c1 /dev/random >/dev/null && echo random-ok; echo x > /dev/urandom && echo write-ok",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("/dev/urandom: Operation not permitted"),
        "{err}"
    );
    let out = stdout(&out);
    assert!(
        out.contains("random-ok") && out.contains("write-ok"),
        "{out}"
    );
    assert!(!cgroup_exists(&cgroup_path(&err)));
}

#[test]
fn privileged_bad_limits_fail_before_anything_is_made() {
    let store = Store::new();
    for (args, message) in [
        (vec!["--memory", "32q"], "not a size"),
        (vec!["--memory=-5m"], "not a size"),
        (vec!["--memory", "0"], "must be positive"),
        (vec!["--cpus", "0"], "must be more than 0"),
        (vec!["--cpus", "4096"], "this machine has only"),
        (vec!["--cpuset-cpus", "4095"], "does not exist here"),
        (vec!["--pids-limit", "0"], "at least 1"),
        (
            vec!["--memory", "32m", "--memory-swap", "16m"],
            "at least --memory",
        ),
        (vec!["--device-deny", "c one:9 r"], "device rule"),
    ] {
        let mut all = args.clone();
        all.extend(["--image", "busybox", "--", "true"]);
        let out = store.run(&all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("cgroup:"), "a cgroup was made for {args:?}");
    }
    // A command that cannot start: the cgroup was made, and is gone again.
    let out = store.run(&[
        "--memory",
        "32m",
        "--image",
        "busybox",
        "--",
        "no-such-command",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(127), "{err}");
    assert!(!cgroup_exists(&cgroup_path(&err)), "{err}");
    let runs = std::fs::read_dir(store.root.join("ch03"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(runs, 0, "run directories left behind");
}

#[test]
fn privileged_reset_removes_the_cgroup_of_a_crashed_ch04() {
    // The store where reset.sh looks for it, under a prefix: the snapshot
    // the crash leaves mounted is found and unmounted too.
    let store = Store::under("var/lib/minidocker-workshop");
    // A parent of this test's own, so reset.sh touches nothing else.
    let parent = format!("minidocker-test-{}", std::process::id());
    // The container says when it runs (its setup is over, its parent-death
    // signal is set), then waits on its stdin, held open by the test: it
    // never ends on its own.
    let mut child = store
        .command(&[
            "--memory",
            "32m",
            "--image",
            "busybox",
            "--",
            "sh",
            "-c",
            "echo ready; exec cat",
        ])
        .env("MINIDOCKER_CGROUP_PARENT", &parent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let path = cgroup_path(&line);
    assert!(path.starts_with(&format!("/{parent}/")), "{path}");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");
    // The container's one process, and its parent: ch04, the child of
    // `timeout`.
    let procs = procs(&cgroup_dir(&path, "pids"));
    assert_eq!(procs.len(), 1, "{procs:?}");
    let container = procs[0];
    let ch04 = parent_of(container);
    assert_eq!(
        parent_of(ch04),
        child.id() as i32,
        "ch04 is not the child of timeout"
    );
    let container_exit = pidfd(container);
    // SIGKILL to ch04: no clean-up runs. Its container dies with it
    // (PR_SET_PDEATHSIG); the cgroup stays, empty once the container has
    // exited.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ch04),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    wait_for_exit(&container_exit, "the container of the killed ch04");
    assert!(cgroup_exists(&path), "the cgroup should outlive a crash");

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reset.sh");
    let out = std::process::Command::new(&script)
        .env("MINIDOCKER_RESET_PREFIX", store.dir())
        .env("MINIDOCKER_RESET_CGROUP_ROOT", "/sys/fs/cgroup")
        .env("MINIDOCKER_CGROUP_PARENT", &parent)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !cgroup_exists(&path) && !cgroup_exists(&format!("/{parent}")),
        "reset.sh left {path}: {}",
        stdout(&out)
    );
    let root = store.root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&root),
        "reset.sh left a mount under {root}"
    );
}
