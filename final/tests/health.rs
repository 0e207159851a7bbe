//! Health checks with the real docker CLI: `--health-*` flags and an
//! image's HEALTHCHECK, a check turning unhealthy and healthy again, a
//! probe that hangs killed at its timeout, `--no-healthcheck`. The tests
//! wait for the daemon's line when a container's health changes — the
//! moment it is recorded — never for a while.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Daemon, require_root, stderr, stdout};

fn inspect(d: &Daemon, container: &str, format: &str) -> String {
    d.ok(&["inspect", "-f", format, container])
        .trim()
        .to_string()
}

/// The STATUS column of `docker ps` for one container (name or ID).
fn status(d: &Daemon, container: &str) -> String {
    let rows = d.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}}|{{.Status}}",
    ]);
    rows.lines()
        .find_map(|row| {
            let (who, status) = row.split_once('|')?;
            who.split(' ')
                .any(|w| w == container)
                .then(|| status.to_string())
        })
        .unwrap_or_else(|| panic!("{container} is not in docker ps:\n{rows}"))
}

#[test]
fn privileged_a_check_turns_unhealthy_then_healthy_again() {
    require_root();
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "cat /tmp/ready",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    d.wait_for_log_line(&format!("container {id} is unhealthy"));
    assert!(
        status(&d, "web").ends_with("(unhealthy)"),
        "{}",
        status(&d, "web")
    );
    assert_eq!(inspect(&d, "web", "{{.State.Health.Status}}"), "unhealthy");
    let listed = d.ok(&["ps", "-q", "--no-trunc", "--filter", "health=unhealthy"]);
    assert_eq!(listed.trim(), id);
    let failing: i64 = inspect(&d, "web", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(failing >= 2, "{failing}");
    // Each result keeps the probe's output and exit code.
    let last = inspect(
        &d,
        "web",
        "{{with index .State.Health.Log 0}}{{.ExitCode}} {{.Output}}{{end}}",
    );
    assert!(last.starts_with("1 cat: can't open '/tmp/ready'"), "{last}");

    d.ok(&["exec", "web", "sh", "-c", "echo ready > /tmp/ready"]);
    d.wait_for_log_line(&format!("container {id} is healthy"));
    assert!(
        status(&d, "web").ends_with("(healthy)"),
        "{}",
        status(&d, "web")
    );
    assert_eq!(inspect(&d, "web", "{{.State.Health.FailingStreak}}"), "0");
    // At most the last five results are kept.
    let kept: usize = inspect(&d, "web", "{{len .State.Health.Log}}")
        .parse()
        .unwrap();
    assert!((1..=5).contains(&kept), "{kept}");
    d.ok(&["rm", "-f", "web"]);
}

#[test]
fn privileged_a_probe_that_hangs_is_killed_at_its_timeout() {
    require_root();
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "stuck",
        "--health-cmd",
        // Each probe writes down its PID (the container's numbering).
        "echo $$ >> /tmp/probes; exec sleep 600",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.wait_for_log_line(&format!("container {} is unhealthy", id.trim()));
    assert_eq!(
        inspect(
            &d,
            "stuck",
            "{{with index .State.Health.Log 0}}{{.ExitCode}} {{.Output}}{{end}}"
        ),
        "-1 Health check exceeded timeout (200ms)"
    );
    // The probe was killed before its result was recorded: the first
    // probe's process is gone (a later probe may be running by now).
    let first_gone = d.docker(&[
        "exec",
        "stuck",
        "sh",
        "-c",
        "kill -0 $(head -n 1 /tmp/probes)",
    ]);
    assert_eq!(first_gone.status.code(), Some(1), "{}", stderr(&first_gone));
    d.ok(&["rm", "-f", "stuck"]);
}

#[test]
fn privileged_an_images_healthcheck_runs_unless_turned_off() {
    require_root();
    let d = Daemon::start();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD [\"false\"]\n",
    )
    .unwrap();
    build(&d, context.path(), "checked");
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Healthcheck}}",
            "checked"
        ])
        .trim(),
        r#"{"Test":["CMD","false"],"Interval":100000000,"Retries":1}"#
    );
    let id = d.ok(&["run", "-d", "checked", "sleep", "1000"]);
    d.wait_for_log_line(&format!("container {} is unhealthy", id.trim()));

    // --no-healthcheck: none, and none in inspect.
    let off = d.ok(&["run", "-d", "--no-healthcheck", "checked", "sleep", "1000"]);
    let off = off.trim();
    assert_eq!(inspect(&d, off, "{{json .State.Health}}"), "null");
    assert_eq!(
        inspect(&d, off, "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    assert!(!status(&d, off).contains("health"), "{}", status(&d, off));

    // A check dockerd refuses is refused here too.
    let bad = d.docker(&[
        "run",
        "--health-cmd",
        "true",
        "--health-interval",
        "1ns",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&bad).contains("Interval in Healthcheck cannot be less than 1ms"),
        "{}",
        stderr(&bad)
    );
    d.ok(&["rm", "-f", id.trim(), off]);
}

fn build(d: &Daemon, context: &Path, tag: &str) {
    let child = d
        .docker_command(&["build", "-q", "-t", tag, "."])
        .current_dir(context)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_output(child, "docker build", d);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
