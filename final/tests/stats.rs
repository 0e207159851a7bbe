//! `docker stats` against minidockerd (issue 21): the real CLI's table
//! (CPU % of a busy loop, a 64 MB allocation, pids, a stopped container, an
//! unknown one), our own CLI's, and the raw `ContainerStats` objects, one
//! at a time and as a stream. Every wait is for an event: a line the
//! container printed, a line of the stream, the stream's end.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use common::{Daemon, HANG, require_root, stderr, stdout};
use serde_json::Value;

/// "64.63MiB" (go-units' binary units, as `docker stats` prints memory).
fn bytes(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other:?} in {text:?}"),
    };
    number.parse::<f64>().unwrap() * scale
}

/// `docker stats --no-stream --format` rows: name → (cpu %, mem used, pids).
fn rows(text: &str) -> Vec<(String, f64, f64, String)> {
    text.lines()
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            let used = cells[2].split(" / ").next().unwrap();
            (
                cells[0].to_string(),
                cells[1].trim_end_matches('%').parse().unwrap(),
                bytes(used),
                cells[3].to_string(),
            )
        })
        .collect()
}

const ROW: &str = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}";

#[test]
fn privileged_stats_no_stream_shows_a_busy_loop_and_an_allocation() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "spin",
        "busybox",
        "sh",
        "-c",
        "echo spinning; while :; do :; done",
    ]);
    // /dev/shm is a tmpfs of the container's: its pages are shmem, charged
    // to the container's memory cgroup, and never inactive_file.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hog",
        "--shm-size",
        "128m",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/x bs=1M count=64 && echo ready && sleep 1000",
    ]);
    d.wait_for_output_line("spin", "spinning");
    d.wait_for_output_line("hog", "ready");

    let table = d.ok(&["stats", "--no-stream", "--format", ROW, "spin", "hog"]);
    let parsed = rows(&table);
    assert_eq!(parsed.len(), 2, "{table}");
    let (spin, hog) = (&parsed[0], &parsed[1]);
    assert_eq!(
        (spin.0.as_str(), hog.0.as_str()),
        ("spin", "hog"),
        "{table}"
    );
    // A loop that never sleeps keeps one CPU busy: about 100 %.
    assert!(spin.1 > 50.0, "the busy loop's CPU %: {table}");
    assert!(
        hog.2 >= 64.0 * 1024.0 * 1024.0,
        "64 MiB in /dev/shm: {table}"
    );
    assert!(spin.2 < hog.2, "{table}");

    // The default table: docker's columns, one row per running container.
    let table = d.ok(&["stats", "--no-stream"]);
    let header = table.lines().next().unwrap();
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");

    // Our own CLI computes the same columns from the same objects.
    let out = d.minidocker(&["stats", "--no-stream", "--format", ROW, "spin", "hog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ours = rows(&stdout(&out));
    assert!(ours[0].1 > 50.0, "minidocker stats: {:?}", stdout(&out));
    assert!(ours[1].2 >= 64.0 * 1024.0 * 1024.0, "{:?}", stdout(&out));

    d.ok(&["rm", "-f", "spin", "hog"]);
}

#[test]
fn privileged_stats_counts_pids_and_shows_stopped_and_unknown_containers() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "three",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & echo ready; wait",
    ]);
    d.wait_for_output_line("three", "ready");
    // The shell and its two sleeps.
    let pids = d.ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "three"]);
    assert_eq!(pids, "3\n");

    // A container that ran and exited: dockerd's empty sample, all zeros.
    d.ok(&["run", "--name", "done", "busybox", "true"]);
    let row = d.ok(&["stats", "--no-stream", "--format", ROW, "done"]);
    assert_eq!(row, "done|0.00%|0B / 0B|0\n");

    let out = d.docker(&["stats", "--no-stream", "nosuch"]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: No such container: nosuch"
    );
    d.ok(&["rm", "-f", "three", "done"]);
}

/// The JSON objects of a raw response's chunked body, as they come.
fn objects(reader: impl BufRead) -> impl Iterator<Item = Value> {
    reader
        .lines()
        .map_while(Result::ok)
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(&line).unwrap())
}

fn request(d: &Daemon, path: &str) -> BufReader<UnixStream> {
    let mut stream = UnixStream::connect(&d.socket).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    BufReader::new(stream)
}

#[test]
fn privileged_stats_one_shot_has_the_engine_api_fields() {
    require_root();
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "--name", "one", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let path = format!("/containers/{id}/stats?stream=false&one-shot=true");
    let mut answer = request(&d, &path);
    let mut status = String::new();
    answer.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let objects: Vec<Value> = objects(answer).collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let s = &objects[0];
    assert_eq!(s["name"], "/one");
    assert_eq!(s["id"], id);
    assert_ne!(s["read"], "0001-01-01T00:00:00Z");
    // One-shot: no sample before this one.
    assert_eq!(s["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(s["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert!(s["precpu_stats"].get("system_cpu_usage").is_none(), "{s}");
    let cpu = &s["cpu_stats"];
    assert!(cpu["cpu_usage"]["total_usage"].as_u64().unwrap() > 0, "{s}");
    for field in ["usage_in_kernelmode", "usage_in_usermode"] {
        assert!(cpu["cpu_usage"][field].is_u64(), "{field}: {s}");
    }
    assert!(cpu["system_cpu_usage"].as_u64().unwrap() > 0, "{s}");
    assert!(cpu["online_cpus"].as_u64().unwrap() >= 1, "{s}");
    assert!(cpu["throttling_data"]["periods"].is_u64(), "{s}");
    let memory = &s["memory_stats"];
    assert!(memory["usage"].as_u64().unwrap() > 0, "{s}");
    assert!(memory["limit"].as_u64().unwrap() > 0, "{s}");
    // memory.stat as the kernel wrote it: v1's or v2's keys.
    let stats = memory["stats"].as_object().unwrap();
    assert!(
        stats.contains_key("total_inactive_file") || stats.contains_key("inactive_file"),
        "{s}"
    );
    assert_eq!(s["pids_stats"]["current"], 1);
    assert!(s["blkio_stats"].get("io_service_bytes_recursive").is_some());
    assert_eq!(s["num_procs"], 0);
    assert_eq!(s["storage_stats"], serde_json::json!({}));
    // No network interface of its own: no `networks`, as dockerd for
    // --network none.
    assert!(s.get("networks").is_none(), "{s}");

    let both = d.raw_request(
        format!(
            "GET /containers/{id}/stats?stream=true&one-shot=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(both.starts_with("HTTP/1.1 400"), "{both}");
    assert!(both.contains("cannot have stream=true and one-shot=true"));
    d.ok(&["rm", "-f", "one"]);
}

#[test]
fn privileged_stats_stream_chains_samples_and_ends_with_the_container() {
    require_root();
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let mut answer = request(&d, &format!("/containers/{id}/stats"));
    let mut next = || loop {
        let mut line = String::new();
        match answer.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) if line.starts_with('{') => {
                return Some(serde_json::from_str::<Value>(&line).unwrap());
            }
            Ok(_) => {}
            Err(e) => panic!("the stream neither went on nor ended within {HANG:?}: {e}"),
        }
    };
    let first = next().expect("a first sample");
    let second = next().expect("a second sample");
    // Each sample carries the one before it, for the CLI's CPU delta.
    assert_eq!(second["preread"], first["read"]);
    assert_eq!(second["precpu_stats"], first["cpu_stats"]);
    assert_eq!(first["preread"], "0001-01-01T00:00:00Z");
    // Removing the container ends the stream: the body ends (EOF), where
    // a stream that went on would hit the read timeout, HANG.
    d.ok(&["rm", "-f", id]);
    while next().is_some() {}
}
