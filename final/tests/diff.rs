//! `docker diff` and `docker port` through the engine, and the same
//! commands in our own CLI: the exact lines docker prints.

mod common;

use common::{Daemon, require_root, stderr, stdout};

/// What the container below does to busybox's files, and what `docker
/// diff` says of it afterwards.
const CHANGES: &str = "echo new > /tmp/added; echo x >> /etc/passwd; rm /etc/group; \
     mkdir /tmp/gone; rmdir /tmp/gone; mkdir -p /made/sub; rmdir /made/sub; \
     rm -rf /usr/bin; mkdir /usr/bin; touch /usr/bin/own";

// /etc/group deleted: a whiteout, and /etc listed before it. /etc/hosts and
// the other mount points the engine made are not changes (Docker keeps them
// in its init layer). /tmp/gone and /made/sub came and went: nothing but
// their parents' mtimes. /usr/bin removed and made again: overlayfs made
// it opaque, and moby reports it deleted, then what it now holds.
const EXPECTED: &str = "\
C /etc
D /etc/group
C /etc/passwd
A /made
C /tmp
A /tmp/added
C /usr
D /usr/bin
A /usr/bin/own
";

#[test]
fn privileged_diff_lists_a_stopped_container_changes() {
    require_root();
    let d = Daemon::start();
    // Without -d: `docker run` returns once the container has exited.
    d.ok(&["run", "--name", "changed", "busybox", "sh", "-c", CHANGES]);
    assert_eq!(d.ok(&["diff", "changed"]), EXPECTED);
    let ours = d.minidocker(&["diff", "changed"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(stdout(&ours), EXPECTED);

    // The API's own form: Kind 0 modified, 1 added, 2 deleted.
    let answer = d.raw_request(
        b"GET /containers/changed/changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#"{"Path":"/etc/group","Kind":2}"#)
            && answer.contains(r#"{"Path":"/tmp/added","Kind":1}"#)
            && answer.contains(r#"{"Path":"/etc/passwd","Kind":0}"#),
        "{answer}"
    );
    d.ok(&["rm", "changed"]);
}

#[test]
fn privileged_diff_of_an_unchanged_container_is_empty() {
    require_root();
    let d = Daemon::start();
    d.ok(&["run", "--name", "clean", "busybox", "true"]);
    assert_eq!(d.ok(&["diff", "clean"]), "");
    let ours = d.minidocker(&["diff", "clean"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(stdout(&ours), "");
    let answer = d.raw_request(
        b"GET /containers/clean/changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim_end());
    assert_eq!(body, Some("[]"), "{answer}");
    d.ok(&["rm", "clean"]);
}

#[test]
fn privileged_diff_sees_a_running_container() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /root/work && echo a > /root/work/f && echo ready && exec sleep 600",
    ]);
    d.wait_for_output_line("live", "ready");
    let expected = "C /root\nA /root/work\nA /root/work/f\n";
    assert_eq!(d.ok(&["diff", "live"]), expected);
    assert_eq!(stdout(&d.minidocker(&["diff", "live"])), expected);
    d.ok(&["rm", "-f", "live"]);
}

#[test]
fn privileged_diff_of_an_unknown_container_says_so() {
    require_root();
    let d = Daemon::start();
    let out = d.docker(&["diff", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error response from daemon: No such container: nosuch\n"
    );
    let ours = d.minidocker(&["diff", "nosuch"]);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(
        stderr(&ours),
        "Error response from daemon: No such container: nosuch\n"
    );
}

#[test]
fn privileged_port_shows_no_port_until_chapter_07() {
    require_root();
    let d = Daemon::start();
    d.ok(&["run", "--name", "ports", "busybox", "true"]);
    // No published port: nothing listed, and success.
    assert_eq!(d.ok(&["port", "ports"]), "");
    let ours = d.minidocker(&["port", "ports"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(stdout(&ours), "");
    for (asked, says) in [
        ("80", "Error: No public port '80' published for ports\n"),
        (
            "53/udp",
            "Error: No public port '53/udp' published for ports\n",
        ),
        (
            "abc",
            "Error: invalid port (abc): strconv.ParseUint: parsing \"abc\": invalid syntax\n",
        ),
    ] {
        let theirs = d.docker(&["port", "ports", asked]);
        let ours = d.minidocker(&["port", "ports", asked]);
        for out in [&theirs, &ours] {
            assert_eq!(out.status.code(), Some(1), "{asked}");
            assert_eq!(stdout(out), "", "{asked}");
            assert_eq!(stderr(out), says, "{asked}");
        }
    }
    d.ok(&["rm", "ports"]);
}
