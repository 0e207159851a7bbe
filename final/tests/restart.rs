//! Restart policies with the real docker CLI: `on-failure:N` gives up
//! after N restarts, `always` comes back after a daemon restart (even
//! stopped by hand), `unless-stopped` only if it was not, and `docker stop`
//! ends a restart loop. Every wait is on an event: `docker wait` (it
//! returns at the last exit only: between two runs the state is
//! `restarting`), a line of the container's output, or the daemon's own
//! line when it starts a container again.

mod common;

use common::{Daemon, require_root, stderr};

fn inspect(d: &Daemon, container: &str, format: &str) -> String {
    d.ok(&["inspect", "-f", format, container])
        .trim()
        .to_string()
}

#[test]
fn privileged_on_failure_gives_up_after_its_retries() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    // The first run and three restarts, then the exit is for good.
    assert_eq!(d.ok(&["wait", "flaky"]), "1\n");
    assert_eq!(
        inspect(&d, "flaky", "{{.State.Status}} {{.RestartCount}}"),
        "exited 3"
    );
    assert_eq!(d.ok(&["logs", "flaky"]), "run\n".repeat(4));

    // A success is no failure: nothing restarts.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    assert_eq!(d.ok(&["wait", "fine"]), "0\n");
    assert_eq!(inspect(&d, "fine", "{{.RestartCount}}"), "0");

    // Refused as dockerd refuses them.
    let both = d.docker(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert!(!both.status.success(), "--rm with --restart");
    let bogus = d.docker(&["update", "--restart", "sometimes", "fine"]);
    assert!(
        stderr(&bogus).contains("invalid restart policy \"sometimes\""),
        "{}",
        stderr(&bogus)
    );
    d.ok(&["update", "--restart", "always", "fine"]);
    assert_eq!(
        inspect(&d, "fine", "{{.HostConfig.RestartPolicy.Name}}"),
        "always"
    );
}

#[test]
fn privileged_stop_ends_a_restart_loop() {
    require_root();
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ]);
    // The daemon says when it starts it again: the loop is on.
    d.wait_for_log_line(&format!("container {} exited (2)", id.trim()));
    d.ok(&["stop", "loop"]);
    assert_eq!(inspect(&d, "loop", "{{.State.Status}}"), "exited");
    // Stopped, it stays so: `wait` (not-running) returns at once.
    assert_eq!(d.ok(&["wait", "loop"]), "2\n");

    // `docker kill` of a running `always` container ends its loop too
    // (dockerd's ExitOnNext): the exit it causes is the last, so `wait`
    // returns instead of waiting through a restart.
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "killed",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo up; exec sleep 1000",
    ]);
    d.wait_for_output_line("killed", "up");
    d.ok(&["kill", "killed"]);
    assert_eq!(d.ok(&["wait", "killed"]), "137\n");
    assert_eq!(
        inspect(&d, "killed", "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );
    assert!(
        !d.log_text()
            .contains(&format!("container {} exited", id.trim())),
        "{}",
        d.log_text()
    );
}

#[test]
fn privileged_policies_across_a_daemon_restart() {
    require_root();
    let mut d = Daemon::start();
    let run = |name: &str, policy: &str| {
        let id = d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            // sleep as PID 1 ignores SIGTERM: the daemon's stop of it
            // waits this long before SIGKILL.
            "--stop-timeout",
            "1",
            "busybox",
            "sh",
            "-c",
            "echo up; exec sleep 1000",
        ]);
        d.wait_for_output_line(name, "up");
        id.trim().to_string()
    };
    let always = run("always", "always");
    let always_stopped = run("always-stopped", "always");
    let unless = run("unless", "unless-stopped");
    let unless_stopped = run("unless-stopped", "unless-stopped");
    let never = run("never", "no");
    for name in ["always-stopped", "unless-stopped"] {
        d.ok(&["stop", "-t", "0", name]);
    }

    // A clean stop stops them all; the next daemon starts again those
    // whose policy says so.
    d.restart(&[]);
    // The daemon's line comes once the start is through.
    for id in [&always, &always_stopped, &unless] {
        d.wait_for_log_line(&format!("container {id} started again with the daemon"));
    }
    let status = |name: &str| inspect(&d, name, "{{.State.Status}}");
    for name in ["always", "always-stopped", "unless"] {
        assert_eq!(status(name), "running", "{name}");
    }
    // Every container is restored before the daemon answers for it, so
    // these two have been decided on by now.
    assert_eq!(status("unless-stopped"), "exited");
    assert_eq!(status("never"), "exited");
    for id in [&unless_stopped, &never] {
        assert!(
            !d.log_text()
                .contains(&format!("container {id} started again")),
            "{}",
            d.log_text()
        );
    }
}
