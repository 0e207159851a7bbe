//! `--explain`: a container's way through every layer, each step timed by
//! the process that took it.
//!
//! The golden trace is `book/src/transcripts/explain-run.txt`, the book's
//! live trace too: a real run with its real times, the temp directory, IDs
//! and PIDs as placeholders. The comparison leaves the times out, and the
//! few numbers that depend on the machine (the size of a BPF program, of a
//! trace's JSON); `UPDATE_TRANSCRIPTS=1` records it again.
//!
//! The run is `run -i --rm --explain busybox head -n1`: the container
//! waits for its line, and the test sends it only once minidocker has
//! printed what the start did (the `GET …/explain` line), so the exit's
//! steps come after, every time.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Daemon, stderr, stdout};
use regex::{Captures, Regex};

/// The run's lines on stderr: those printed once it started, then the rest.
fn traced_run(d: &Daemon, args: &[&str], input: &[u8]) -> (String, String, i32, f64) {
    let began = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_minidocker"))
        .args(args)
        .env("DOCKER_HOST", d.host())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running minidocker");
    // A bound, not a wait: a run that never prints its line would wait
    // for its input for ever. Through a pidfd, the signal reaches this
    // child only, even once its PID is free again.
    let pidfd = namespaces::pidfd::PidFd::open(child.id() as i32).unwrap();
    std::thread::spawn(move || {
        if let Ok(false) = pidfd.wait_exit(std::time::Duration::from_secs(120)) {
            use std::os::fd::{AsFd, AsRawFd};
            // SAFETY: pidfd_send_signal(2) on a descriptor we hold.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_fd().as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
        }
    });
    let mut errors = BufReader::new(child.stderr.take().unwrap());
    let mut trace = String::new();
    loop {
        let mut line = String::new();
        let read = errors.read_line(&mut line).unwrap();
        assert!(
            read > 0,
            "minidocker ended before the start's lines:\n{trace}"
        );
        trace.push_str(&line);
        if line.contains("… the container runs: the rest once it has ended") {
            break;
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    errors.read_to_string(&mut trace).unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let wall = began.elapsed().as_secs_f64() * 1000.0;
    (trace, out, status.code().unwrap_or(-1), wall)
}

/// IDs, PIDs and the temp directory as placeholders.
fn placeholders(trace: &str, d: &Daemon) -> String {
    let text = trace.replace(&d.dir.path().display().to_string(), "$d");
    let rules = [
        (r"\b[0-9a-f]{12}\b", "<short-id>"),
        (r"\bpid \d+", "pid <pid>"),
    ];
    rules.iter().fold(text, |text, (pattern, with)| {
        Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *with)
            .into_owned()
    })
}

/// What differs from run to run besides: times, and a few sizes.
fn shape(trace: &str) -> String {
    let times = Regex::new(r"(?m)^ *\d+\.\d\dms +(\d+\.\d\dms|·)  ").unwrap();
    let text = times.replace_all(trace, |c: &Captures| match &c[1] {
        "·" => "<at> ·  ".to_string(),
        _ => "<at> <took>  ".to_string(),
    });
    let rules = [
        (r"(?m)^ +\d+\.\d\dms  end to end", "<total>  end to end"),
        (r"(/explain → 200 OK, got )\d+", "${1}<n>"),
        (
            r"BPF program of \d+ instructions, [a-z ]+",
            "BPF program of <n> instructions",
        ),
    ];
    rules
        .iter()
        .fold(text.into_owned(), |text, (pattern, with)| {
            Regex::new(pattern)
                .unwrap()
                .replace_all(&text, *with)
                .into_owned()
        })
}

/// mdbook's id of a heading: lower case, spaces as dashes, only letters,
/// digits, `-` and `_` kept.
fn heading_id(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every `[page#anchor]` a trace names is a heading of the book.
fn assert_pages_exist(trace: &str) {
    let book = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src");
    let page = Regex::new(r"\[([a-z0-9-]+\.md)(?:#([a-z0-9_-]+))?\]$").unwrap();
    let mut checked = 0;
    for line in trace.lines() {
        let Some(c) = page.captures(line) else {
            continue;
        };
        let text = std::fs::read_to_string(book.join(&c[1]))
            .unwrap_or_else(|e| panic!("{line}: the book has no page {}: {e}", &c[1]));
        if let Some(anchor) = c.get(2) {
            let found = text
                .lines()
                .filter_map(|l| l.strip_prefix('#'))
                .any(|h| heading_id(h.trim_start_matches('#')) == anchor.as_str());
            assert!(
                found,
                "{line}: {} has no heading #{}",
                &c[1],
                anchor.as_str()
            );
        }
        checked += 1;
    }
    assert!(checked > 20, "too few pages named:\n{trace}");
}

/// The lines of the layer `who`.
fn lines_of<'a>(trace: &'a str, who: &str) -> Vec<&'a str> {
    let column = Regex::new(&format!(r"^ *\S+ +\S+  +{who} ")).unwrap();
    trace.lines().filter(|l| column.is_match(l)).collect()
}

fn millis(text: &str) -> f64 {
    text.trim_end_matches("ms").parse().unwrap()
}

#[test]
fn privileged_run_explain_tells_each_layers_steps_in_order() {
    let d = Daemon::start();
    let args = ["run", "-i", "--rm", "--explain", "busybox", "head", "-n1"];
    let (trace, out, code, wall) = traced_run(&d, &args, b"hello\n");
    assert_eq!((code, out.as_str()), (0, "hello\n"), "{trace}");
    let recorded = placeholders(&trace, &d);
    let path = api::transcript::dir().join("explain-run.txt");
    if std::env::var_os("UPDATE_TRANSCRIPTS").is_some_and(|v| v != "0") {
        std::fs::write(&path, &recorded).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("book/src/transcripts/explain-run.txt");
    assert_eq!(
        shape(&recorded),
        shape(&golden),
        "the trace's shape changed (UPDATE_TRANSCRIPTS=1 records it):\n{trace}"
    );
    assert_pages_exist(&trace);

    // minidocker's own lines are laps: they add up to the run's time as
    // it measured it, which is within what the test measured around it.
    let ours = lines_of(&trace, "minidocker");
    let sum: f64 = ours
        .iter()
        .map(|l| millis(l.split_whitespace().nth(1).unwrap()))
        .sum();
    let total_line = trace.lines().find(|l| l.contains("end to end")).unwrap();
    let total = millis(total_line.split_whitespace().next().unwrap());
    assert!(
        (sum - total).abs() < 0.01 * ours.len() as f64,
        "{sum} vs {total}:\n{trace}"
    );
    assert!(
        total < wall,
        "minidocker's {total} ms, the test's {wall} ms"
    );
    // Each layer below took its steps inside the request that caused them.
    for who in ["minidockerd", "minishim", "minirunc", "container"] {
        assert!(
            !lines_of(&trace, who).is_empty(),
            "no {who} lines:\n{trace}"
        );
    }
}

#[test]
fn privileged_an_oom_killed_container_says_so_at_each_layer() {
    let d = Daemon::start();
    let args = [
        "run",
        "--rm",
        "--explain",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        // The string doubles until the cgroup's limit stops it.
        "x=a; while true; do x=$x$x; done",
    ];
    let (trace, _, code, _) = traced_run(&d, &args, b"");
    assert_eq!(code, 137, "{trace}");
    for step in [
        "waitpid(2): pid",
        "was killed by SIGKILL",
        "OOM check: the cgroup's oom_kill count says killed by the kernel: true",
        "container.json says exited (137), OOM-killed: true",
        "exits with the container's status, 137",
    ] {
        assert!(trace.contains(step), "no {step:?} in:\n{trace}");
    }
}

#[test]
fn privileged_a_trace_after_the_fact_and_in_the_daemons_log() {
    let mut d = Daemon::start();
    // The docker CLI asks with the label; an unlabelled container has none.
    let id = d.ok(&[
        "run",
        "-d",
        "--label",
        "minidocker.explain=1",
        "busybox",
        "true",
    ]);
    d.ok(&["wait", id.trim()]);
    let shown = d.minidocker(&["explain", id.trim()]);
    let text = stdout(&shown);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(text.starts_with("       at     took  who"), "{text}");
    for step in [
        "runs `minirunc create`",
        "pivot_root(2)",
        "as PID 1 of its PID namespace",
        "waitpid(2): pid",
    ] {
        assert!(text.contains(step), "no {step:?} in:\n{text}");
    }
    assert!(lines_of(&text, "minidocker").is_empty(), "{text}");
    d.ok(&["run", "--name", "plain", "busybox", "true"]);
    let refused = d.minidocker(&["explain", "plain"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused)
            .contains("container plain was not traced: run it with `minidocker run --explain`"),
        "{}",
        stderr(&refused)
    );
    let unknown = d.minidocker(&["explain", "nosuch"]);
    assert!(
        stderr(&unknown).contains("No such container: nosuch"),
        "{}",
        stderr(&unknown)
    );

    // minidockerd --explain: every container, its trace logged at its end,
    // and kept once it is removed.
    d.restart(&["--explain"]);
    let id = d.ok(&["run", "-d", "--rm", "busybox", "true"]);
    let id = id.trim();
    d.wait_for_log_line(&format!("the trace of container {id}"));
    d.wait_for_log_line("removed last: the container is gone");
    let kept = d.minidocker(&["explain", &id[..12]]);
    assert!(
        stdout(&kept).contains("removed last: the container is gone"),
        "{}",
        stderr(&kept)
    );
}
