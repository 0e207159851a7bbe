//! `docker cp` through minidockerd: both ways, running and stopped
//! containers, and the container-escape attempts of CVE-2018-15664 —
//! a symlink to a host directory, and one swapped in while copies run.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use common::{Daemon, require_root, stderr, stdout};

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cp-host")
        .tempdir_in("/tmp")
        .unwrap()
}

/// One request on its own connection; the whole answer, head and body.
fn request(d: &Daemon, head: &str, body: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(&d.socket).unwrap();
    let head = format!(
        "{head}\r\nHost: docker\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    answer
}

fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    // Raw name: set_path refuses "..", an attacker's tar does not.
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn privileged_cp_both_ways_running_and_stopped() {
    require_root();
    let d = Daemon::start();
    let host = temp_dir();
    let script = "mkdir -p /data/sub && echo inside > /data/sub/f && echo ready && sleep 1000";
    d.ok(&["run", "-d", "--name", "box", "busybox", "sh", "-c", script]);
    d.wait_for_output_line("box", "ready");
    let local = host.path().join("local.txt");
    std::fs::write(&local, "from the host\n").unwrap();

    for state in ["running", "stopped"] {
        let out = host.path().join(state);
        // Out of the container: a directory, under its own name.
        d.ok(&["cp", "box:/data", out.to_str().unwrap()]);
        let got = std::fs::read_to_string(out.join("sub/f")).unwrap();
        assert_eq!(got, "inside\n", "{state}");
        // Into it, then back out to check what landed.
        let dest = format!("box:/data/{state}.txt");
        d.ok(&["cp", local.to_str().unwrap(), &dest]);
        let back = host.path().join(format!("{state}-back.txt"));
        d.ok(&["cp", &dest, back.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the host\n");
        // A missing path: the CLI's own words over our 404.
        let missing = d.docker(&["cp", "box:/nope", host.path().to_str().unwrap()]);
        assert!(!missing.status.success());
        assert!(
            stderr(&missing).contains("Could not find the file /nope in container box")
                || stderr(&missing).contains("No such container:path: box:/nope"),
            "{}",
            stderr(&missing)
        );
        if state == "running" {
            assert_eq!(
                d.ok(&["exec", "box", "cat", "/data/running.txt"]),
                "from the host\n"
            );
            d.ok(&["kill", "box"]);
            d.ok(&["wait", "box"]);
        }
    }
    // Our CLI: a tar on stdout, and the same copy both ways.
    let tar = d.minidocker(&["cp", "box:/data/sub/f", "-"]);
    assert!(tar.status.success(), "{}", stderr(&tar));
    let mut archive = tar::Archive::new(&tar.stdout[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["f"]);
    let ours = host.path().join("ours.txt");
    let got = d.minidocker(&["cp", "box:/data/sub/f", ours.to_str().unwrap()]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(std::fs::read_to_string(&ours).unwrap(), "inside\n");
    let put = d.minidocker(&["cp", local.to_str().unwrap(), "box:/data/sub/mine.txt"]);
    assert!(put.status.success(), "{}", stderr(&put));
    let check = d.docker(&["cp", "box:/data/sub/mine.txt", "-"]);
    assert!(contains(&check.stdout, "from the host"));
    // The header itself: base64 JSON with Go's FileMode dir bit.
    let head = String::from_utf8_lossy(&request(
        &d,
        "HEAD /containers/box/archive?path=/data HTTP/1.1",
        b"",
    ))
    .into_owned();
    let value = head
        .lines()
        .find_map(|l| l.strip_prefix("X-Docker-Container-Path-Stat: "))
        .unwrap_or_else(|| panic!("no stat header in {head}"));
    let json = minidocker::daemon::archive::base64_decode(value.trim()).unwrap();
    let stat: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(stat["name"], "data");
    assert_ne!(stat["mode"].as_u64().unwrap() & (1 << 31), 0, "{stat}");
}

#[test]
fn privileged_cp_refuses_read_only_roots_and_files_as_targets() {
    require_root();
    let d = Daemon::start();
    d.ok(&["create", "--name", "ro", "--read-only", "busybox", "true"]);
    let host = temp_dir();
    let local = host.path().join("f");
    std::fs::write(&local, "x").unwrap();
    let out = d.docker(&["cp", local.to_str().unwrap(), "ro:/tmp/"]);
    assert!(
        stderr(&out).contains("container rootfs is marked read-only"),
        "{}",
        stderr(&out)
    );
    let answer = request(
        &d,
        "PUT /containers/ro/archive?path=/bin/sh HTTP/1.1",
        &tar_with("f", b"x"),
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    d.ok(&["create", "--name", "rw", "busybox", "true"]);
    let answer = request(
        &d,
        "PUT /containers/rw/archive?path=/bin/sh HTTP/1.1",
        &tar_with("f", b"x"),
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains("extraction point is not a directory"),
        "{text}"
    );
}

// ANCHOR: symlink_test
#[test]
fn privileged_cp_through_a_symlink_to_a_host_dir_stays_inside() {
    require_root();
    let d = Daemon::start();
    let host = temp_dir();
    let sentinel = host.path().join("secret");
    std::fs::write(&sentinel, "host-sentinel\n").unwrap();
    let target = host.path().to_str().unwrap();
    let script = format!("ln -s {target} /evil && echo ready && sleep 1000");
    d.ok(&["run", "-d", "--name", "box", "busybox", "sh", "-c", &script]);
    d.wait_for_output_line("box", "ready");
    let out = host.path().join("out");
    // Reading: the host's file is not there, seen from the root.
    let read = d.docker(&["cp", "box:/evil/secret", out.to_str().unwrap()]);
    assert!(!read.status.success());
    assert!(!out.exists());
    let read = d.docker(&["cp", "-L", "box:/evil", out.to_str().unwrap()]);
    assert!(!read.status.success(), "{}", stdout(&read));
    // Writing: through the link, and with an archive that climbs.
    let local = host.path().join("payload");
    std::fs::write(&local, "payload").unwrap();
    let write = d.docker(&["cp", local.to_str().unwrap(), "box:/evil/"]);
    assert!(!write.status.success());
    for name in ["../../../../../../../../payload", "/evil/payload"] {
        let _ = request(
            &d,
            "PUT /containers/box/archive?path=/evil HTTP/1.1",
            &tar_with(name, b"payload"),
        );
        let answer = request(
            &d,
            "PUT /containers/box/archive?path=/ HTTP/1.1",
            &tar_with(name, b"payload"),
        );
        let status = String::from_utf8_lossy(&answer[..12]).into_owned();
        assert!(
            status.contains(" 200") || status.contains(" 400"),
            "{status}"
        );
    }
    let files: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}"); // secret and payload only
    assert!(!Path::new("/payload").exists() && !Path::new("/evil").exists());
    assert_eq!(
        std::fs::read_to_string(&sentinel).unwrap(),
        "host-sentinel\n"
    );
}
// ANCHOR_END: symlink_test

/// CVE-2018-15664's race: the container swaps `/race/d` between a real
/// directory and a symlink to the host's directory as fast as it can,
/// while we copy from and into `/race/d` a thousand times.
#[test]
fn privileged_cp_races_a_symlink_swap_and_never_reaches_the_host() {
    require_root();
    let d = Daemon::start();
    let host = temp_dir();
    let sentinel = host.path().join("secret");
    std::fs::write(&sentinel, "host-sentinel\n").unwrap();
    let target = host.path().to_str().unwrap();
    let script = format!(
        "mkdir -p /race/d && echo container > /race/d/secret && echo swapping && \
         while true; do mv /race/d /race/real; ln -s {target} /race/d; \
         rm /race/d; mv /race/real /race/d; done"
    );
    d.ok(&[
        "run", "-d", "--name", "racer", "busybox", "sh", "-c", &script,
    ]);
    d.wait_for_output_line("racer", "swapping");
    // ANCHOR: race_test
    let payload = tar_with("secret", b"overwritten-by-cp\n");
    let (mut read, mut written) = (0, 0);
    for i in 0..1000 {
        if i % 2 == 0 {
            let answer = request(
                &d,
                "GET /containers/racer/archive?path=/race/d/secret HTTP/1.1",
                b"",
            );
            assert!(!contains(&answer, "host-sentinel"), "read the host's file");
            read += contains(&answer, "container\n") as u32;
        } else {
            let answer = request(
                &d,
                "PUT /containers/racer/archive?path=/race/d HTTP/1.1",
                &payload,
            );
            written += answer.starts_with(b"HTTP/1.1 200") as u32;
        }
    }
    assert_eq!(
        std::fs::read_to_string(&sentinel).unwrap(),
        "host-sentinel\n"
    );
    let files: Vec<_> = std::fs::read_dir(host.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "something was written on the host");
    // The race was real: some copies met the directory, some the link.
    eprintln!("{read} reads and {written} writes got through of 1000");
    assert!(
        read + written > 0 && read + written < 1000,
        "{read} {written}"
    );
    // ANCHOR_END: race_test
}
