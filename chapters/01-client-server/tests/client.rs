//! The `ch01` client against the `ch01` daemon, and the transcripts the
//! book shows.

mod common;

use common::{Daemon, eventually, stderr, stdout};

#[test]
fn ch01_run_ps_logs_rm() {
    let daemon = Daemon::start();
    let out = daemon.ch01(&["run", "--rm", "--", "echo", "hello", "from", "ch01"]);
    assert_eq!(stdout(&out), "hello from ch01\n", "{}", stderr(&out));
    assert_eq!(
        daemon
            .ch01(&["run", "--rm", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    let missing = daemon.ch01(&["run", "--rm", "no-such-program"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        stderr(&missing).contains("executable file not found"),
        "{}",
        stderr(&missing)
    );

    let out = daemon.ch01(&[
        "run",
        "-d",
        "--name",
        "bg",
        "sh",
        "-c",
        "echo one; exec sleep 30",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim().len(), 64);
    let ps = stdout(&daemon.ch01(&["ps"]));
    assert!(ps.contains("bg") && ps.contains("Up "), "{ps}");
    eventually("logs show the first line", || {
        stdout(&daemon.ch01(&["logs", "bg"])) == "one\n"
    });
    let out = daemon.ch01(&["rm", "bg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    let out = daemon.ch01(&["stop", "-t", "5", "bg"]);
    assert_eq!(stdout(&out), "bg\n", "{}", stderr(&out));
    assert_eq!(stdout(&daemon.ch01(&["wait", "bg"])), "143\n");
    assert!(stdout(&daemon.ch01(&["ps", "-a"])).contains("Exited (143)"));
    assert!(daemon.ch01(&["rm", "bg"]).status.success());
    assert!(!stdout(&daemon.ch01(&["ps", "-a"])).contains("bg"));
}

#[test]
fn ch01_interactive_and_logs_follow() {
    let daemon = Daemon::start();
    let mut child = std::process::Command::new(common::CH01)
        .args(["-H", &daemon.host, "run", "-i", "--rm", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "SHOUT\n");

    assert!(
        daemon
            .ch01(&[
                "run",
                "-d",
                "--name",
                "slow",
                "sh",
                "-c",
                "echo a; sleep 0.3; echo b"
            ])
            .status
            .success()
    );
    assert_eq!(stdout(&daemon.ch01(&["logs", "-f", "slow"])), "a\nb\n");
}

#[test]
fn ch01_client_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("unix://{}/none.sock", dir.path().display());
    let out = std::process::Command::new(common::CH01)
        .args(["-H", &nowhere, "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is the daemon running?"),
        "{}",
        stderr(&out)
    );
    let out = std::process::Command::new(common::CH01)
        .args(["-H", "http://x", "ps"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("use unix:///path/to.sock or tcp://"),
        "{}",
        stderr(&out)
    );

    let daemon = Daemon::start();
    let out = daemon.ch01(&["logs", "ghost"]);
    assert_eq!(
        stderr(&out).trim(),
        "ch01: Error response from daemon: No such container: ghost"
    );
    // A second daemon on the same socket is refused, the first keeps serving.
    let second = daemon.ch01(&["daemon"]);
    assert!(
        stderr(&second).contains("in use by a running daemon"),
        "{}",
        stderr(&second)
    );
    assert!(daemon.ch01(&["version"]).status.success());
}

/// Keeps the lines `--trace` prints for each request and response head.
fn trace_lines(log: &str) -> String {
    let mut out = String::new();
    for line in log.lines() {
        let mut parts = line.splitn(2, ' ');
        let (conn, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if conn.starts_with('c') && (rest.starts_with('>') || rest.starts_with('<')) {
            out.push_str(line);
            out.push('\n');
        }
    }
    api::transcript::normalize(&out)
}

#[test]
fn transcript_http_exchange_of_docker_run() {
    let daemon = Daemon::start_with(&["--trace"]);
    let out = daemon.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(stdout(&out), "hi\n", "{}", stderr(&out));
    let trace = trace_lines(&daemon.log());
    // The order the CLI needs, whatever else changes: attach answered with
    // 101, then the wait's headers, and only then the start.
    let attach = trace.find("< HTTP/1.1 101 UPGRADED").expect("101 in trace");
    let wait_head = trace
        .find("/wait?condition=removed")
        .expect("wait in trace");
    let start = trace
        .find("/start HTTP")
        .unwrap_or_else(|| trace.find("/start").expect("start in trace"));
    assert!(attach < wait_head && wait_head < start, "{trace}");
    api::transcript::check(
        "ch01-docker-run-trace.txt",
        &format!(
            "$ DOCKER_HOST=unix:///tmp/<dir>/d.sock docker run --rm busybox echo hi\nhi\n\n# the daemon's --trace\n{trace}"
        ),
    );
}

#[test]
fn transcript_hands_on() {
    let daemon = Daemon::start();
    let mut session = String::new();
    let mut show = |args: &[&str]| {
        let out = daemon.ch01(args);
        let quoted: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains([' ', '$', '"']) {
                    format!("'{a}'")
                } else {
                    a.to_string()
                }
            })
            .collect();
        session.push_str(&format!(
            "$ ch01 {}\n{}{}",
            quoted.join(" "),
            stdout(&out),
            stderr(&out)
        ));
        out
    };
    show(&["version"]);
    show(&[
        "run",
        "--rm",
        "--",
        "sh",
        "-c",
        "echo hello from $(hostname); echo \"my pid is $$\" >&2",
    ]);
    let bg = show(&["run", "-d", "--name", "sleeper", "--", "sleep", "300"]);
    assert!(bg.status.success());
    show(&["ps"]);
    show(&["stop", "-t", "1", "sleeper"]);
    show(&["ps", "-a"]);
    show(&["rm", "sleeper"]);
    // Beyond the usual ids and times: the host name, the pid, the kernel.
    let session = api::transcript::replace(
        &api::transcript::normalize(&session),
        &[
            (r"(?m)^hello from \S+$", "hello from <host>"),
            (r"my pid is \d+", "my pid is <pid>"),
            (r"(Kernel: +)\S+", "${1}<kernel>"),
            (r"(OS/Arch: +linux/)\S+", "${1}<arch>"),
            (r"(Daemon: +)\S+", "${1}unix:///tmp/<dir>/d.sock"),
            (r"(Version: +)\d+\.\d+\.\d+", "${1}<version>"),
            (
                r"(Less than a second|\d+ seconds?|About a minute)",
                "<duration>",
            ),
        ],
    );
    api::transcript::check(
        "ch01-hands-on.txt",
        &api::transcript::realign_tables(&session, &["CONTAINER ID"]),
    );
}

/// Runs a shell command line (curl, docker context) with `$SOCK` set to the
/// daemon's socket, and records it for the book.
fn shell(daemon: &Daemon, session: &mut String, line: &str, env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new("sh")
        // One stream, in the order a terminal would show it.
        .args(["-c", &format!("{{ {line}\n}} 2>&1")])
        .env("SOCK", &daemon.socket)
        .envs(env.iter().copied())
        .output()
        .expect("running sh");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    session.push_str(&format!("$ {line}\n{text}"));
    if !text.ends_with('\n') && !text.is_empty() {
        session.push('\n');
    }
    assert!(out.status.success(), "{line}: {text}");
    text
}

#[test]
fn transcript_curl_experiments() {
    let daemon = Daemon::start();
    let mut s = String::new();
    let ping = shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK -i http://localhost/_ping",
        &[],
    );
    assert!(
        ping.contains("Api-Version: 1.50") && ping.ends_with("OK"),
        "{ping}"
    );
    let create = shell(
        &daemon,
        &mut s,
        r#"curl -s --unix-socket $SOCK -H 'Content-Type: application/json' -d '{"Cmd":["sh","-c","echo made by curl"]}' 'http://localhost/v1.50/containers/create?name=by-curl'"#,
        &[],
    );
    assert!(create.contains("\"Id\""), "{create}");
    shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK -X POST -w '%{http_code}\\n' http://localhost/containers/by-curl/start",
        &[],
    );
    let wait = shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK -X POST http://localhost/containers/by-curl/wait",
        &[],
    );
    assert_eq!(wait.trim(), r#"{"StatusCode":0}"#);
    // The 8-byte frame header, seen with od.
    let logs = shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK 'http://localhost/containers/by-curl/logs?stdout=1' | od -c | head -2",
        &[],
    );
    assert!(
        logs.contains("001  \\0  \\0  \\0  \\0  \\0  \\0  \\r"),
        "{logs}"
    );
    let status = shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK 'http://localhost/containers/by-curl/json' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"State\"][\"Status\"])'",
        &[],
    );
    assert_eq!(status.trim(), "exited");
    let missing = shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK -w ' %{http_code}\\n' http://localhost/containers/nope/json",
        &[],
    );
    assert!(
        missing.contains("No such container: nope") && missing.contains(" 404"),
        "{missing}"
    );
    let unknown = shell(
        &daemon,
        &mut s,
        "curl -s --unix-socket $SOCK -w ' %{http_code}\\n' http://localhost/v1.99/version",
        &[],
    );
    assert!(
        unknown.contains("too new") && unknown.contains(" 400"),
        "{unknown}"
    );
    let s = s.replace(&daemon.socket.display().to_string(), "/tmp/<dir>/d.sock");
    let s = api::transcript::replace(&s, &[(r"Content-Length: \d+", "Content-Length: <n>")]);
    api::transcript::check("ch01-curl.txt", &api::transcript::normalize(&s));
}

#[test]
fn transcript_docker_context() {
    let daemon = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().display().to_string();
    let env = [("DOCKER_CONFIG", config_dir.as_str())];
    let mut s = String::new();
    shell(
        &daemon,
        &mut s,
        "docker context create ch01 --docker host=unix://$SOCK",
        &env,
    );
    shell(&daemon, &mut s, "docker context use ch01", &env);
    let ls = shell(
        &daemon,
        &mut s,
        "docker context ls --format '{{.Name}} {{.DockerEndpoint}}'",
        &env,
    );
    assert!(ls.contains("ch01 unix://"), "{ls}");
    let out = shell(
        &daemon,
        &mut s,
        "docker run --rm busybox echo hello through a context",
        &env,
    );
    assert_eq!(out, "hello through a context\n");
    shell(
        &daemon,
        &mut s,
        "docker context use default && docker context rm ch01",
        &env,
    );
    let s = s.replace(&daemon.socket.display().to_string(), "/tmp/<dir>/d.sock");
    api::transcript::check("ch01-docker-context.txt", &api::transcript::normalize(&s));
}
