//! `docker events` with the real docker CLI: a client that listens sees
//! what another client does, in order; filters; image events; and
//! `--since` reaching back across a daemon restart. A listener started
//! with `--since` gets the kept events first and then the new ones, with
//! none lost in between, so no test waits for it to be ready.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use common::{Daemon, HANG, require_root};

/// Now, as `--since` and `--until` take it (Unix seconds, a fraction).
fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

fn events(d: &Daemon, args: &[&str]) -> Vec<String> {
    let out = d.ok(&[&["events"], args].concat());
    out.lines().map(str::to_string).collect()
}

#[test]
fn privileged_a_listener_sees_what_another_client_does() {
    require_root();
    let d = Daemon::start();
    let since = now();
    let mut listener = d
        .docker_command(&[
            "events",
            "--since",
            &since,
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = listener.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // Another client runs a container.
    let ran = d.docker(&[
        "run", "--name", "other", "--label", "team=a", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(ran.status.code(), Some(3));
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("die")) {
        seen.push(rx.recv_timeout(HANG).expect("the listener saw no die"));
    }
    let _ = listener.kill();
    let _ = listener.wait();
    // docker run attaches before it starts: create, start, die.
    assert_eq!(
        seen,
        [
            "create other <no value>",
            "start other <no value>",
            "die other 3"
        ]
    );

    // Filters: by event, by label, by container; `--until` ends the stream.
    let until = now();
    let die = |filter: &str| {
        events(
            &d,
            &[
                "--since",
                &since,
                "--until",
                &until,
                "--filter",
                filter,
                "--format",
                "{{.Action}}",
            ],
        )
    };
    assert_eq!(die("event=die"), ["die"]);
    assert_eq!(die("label=team=a").len(), 3);
    assert_eq!(die("label=team=b").len(), 0);
    assert_eq!(die("container=other").len(), 3);

    // Images have events too.
    d.ok(&["tag", "busybox", "tagged:1"]);
    d.ok(&["rmi", "tagged:1"]);
    let images = events(
        &d,
        &[
            "--since",
            &until,
            "--until",
            &now(),
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    assert_eq!(images, ["tag tagged:1", "untag tagged:1"]);

    // `minidocker events` prints what `docker events` prints.
    let window = ["--since", since.as_str(), "--until", until.as_str()];
    let ours = d.minidocker(&[&["events"][..], &window].concat());
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        d.ok(&[&["events"][..], &window].concat())
    );

    // A filter dockerd does not know is refused.
    let bad = d.docker(&["events", "--filter", "colour=red", "--until", "0s"]);
    assert!(!bad.status.success());
}

#[test]
fn privileged_since_reaches_back_across_a_daemon_restart() {
    require_root();
    let mut d = Daemon::start();
    let since = now();
    d.ok(&["run", "--name", "before", "busybox", "true"]);
    d.ok(&["rm", "before"]);
    d.restart(&[]);
    let seen = events(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &now(),
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    assert_eq!(
        seen,
        [
            "create before",
            "start before",
            "die before",
            "destroy before"
        ]
    );
}

#[test]
fn privileged_health_and_exec_have_events() {
    require_root();
    let d = Daemon::start();
    let since = now();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "checked",
        "--health-cmd",
        "true",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.wait_for_log_line(&format!("container {} is healthy", id.trim()));
    d.ok(&["exec", "checked", "true"]);
    d.ok(&["rm", "-f", "checked"]);
    let seen = events(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &now(),
            "--filter",
            "event=health_status",
            "--filter",
            "event=exec_die",
            "--filter",
            "event=kill",
            "--format",
            "{{.Action}}",
        ],
    );
    assert_eq!(seen, ["health_status: healthy", "exec_die", "kill"]);
}
