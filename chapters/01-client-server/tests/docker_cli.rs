//! The real docker CLI against the chapter 01 daemon.

mod common;

use common::{Daemon, docker, eventually, stderr, stdout};

fn code(output: &std::process::Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn docker_version_shows_our_server() {
    let daemon = Daemon::start();
    let out = daemon.docker(&["version"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Server: minidocker chapter 01"), "{text}");
    assert!(
        text.contains("API version:      1.50 (minimum version 1.24)"),
        "{text}"
    );
    let info = daemon.docker(&["info", "--format", "{{.OSType}} {{.Swarm.LocalNodeState}}"]);
    assert_eq!(stdout(&info).trim(), "linux inactive", "{}", stderr(&info));
}

#[test]
fn docker_run_prints_output_and_passes_exit_codes() {
    let daemon = Daemon::start();
    let out = daemon.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "hi\n"),
        "{}",
        stderr(&out)
    );

    let out = daemon.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    let out = daemon.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]);
    assert_eq!(stdout(&out), "to-out\n");
    assert!(
        stderr(&out).contains("to-err"),
        "stderr must stay stderr: {}",
        stderr(&out)
    );

    // --rm: the daemon removed every one of them.
    let ps = daemon.docker(&["ps", "-aq"]);
    assert_eq!(stdout(&ps), "", "{}", stderr(&ps));
}

#[test]
fn docker_run_missing_command_exits_127_and_is_removed() {
    let daemon = Daemon::start();
    let out = daemon.docker(&["run", "--rm", "busybox", "no-such-command-here"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&daemon.docker(&["ps", "-aq"])), "");
}

#[test]
fn docker_run_interactive_sends_stdin_and_its_eof() {
    let daemon = Daemon::start();
    let out = docker(
        &daemon.host,
        &["run", "-i", "--rm", "busybox", "cat"],
        Some(b"line one\nline two\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "line one\nline two\n");
}

#[test]
fn detached_container_ps_logs_stop_rm() {
    let daemon = Daemon::start();
    let out = daemon.docker(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 30",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");

    let ps = stdout(&daemon.docker(&["ps"]));
    assert!(
        ps.contains(&id[..12]) && ps.contains("ticker") && ps.contains("Up "),
        "{ps}"
    );
    eventually("the log has the first line", || {
        stdout(&daemon.docker(&["logs", "ticker"])) == "started\n"
    });

    // A unique id prefix works wherever a name does.
    let inspect = daemon.docker(&["inspect", "-f", "{{.State.Status}} {{.Name}}", &id[..8]]);
    assert_eq!(
        stdout(&inspect).trim(),
        "running /ticker",
        "{}",
        stderr(&inspect)
    );

    let out = daemon.docker(&["rm", "ticker"]);
    assert_eq!(
        code(&out),
        1,
        "rm of a running container must fail without -f"
    );
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );

    // SIGTERM ends `sleep`, so stop does not need its 10 s timeout; exit 143 = 128 + TERM.
    let out = daemon.docker(&["stop", "ticker"]);
    assert_eq!(
        (code(&out), stdout(&out).trim()),
        (0, "ticker"),
        "{}",
        stderr(&out)
    );
    let state = daemon.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "ticker",
    ]);
    assert_eq!(stdout(&state).trim(), "exited 143");
    assert!(stdout(&daemon.docker(&["ps", "-a"])).contains("Exited (143)"));
    assert_eq!(
        stdout(&daemon.docker(&["ps", "-q"])),
        "",
        "stopped containers are not listed without -a"
    );

    // Stop again: 304, which the CLI counts as success.
    assert_eq!(code(&daemon.docker(&["stop", "ticker"])), 0);
    let out = daemon.docker(&["rm", "-f", "ticker"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&daemon.docker(&["ps", "-aq"])), "");
    // rm -f of a missing container is silently fine, as with dockerd.
    assert_eq!(code(&daemon.docker(&["rm", "-f", "ticker"])), 0);
}

#[test]
fn logs_follow_streams_until_exit() {
    let daemon = Daemon::start();
    let out = daemon.docker(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = daemon.docker(&["logs", "-f", "counter"]);
    assert_eq!(stdout(&out), "1\n2\n3\n", "{}", stderr(&out));
    let tail = daemon.docker(&["logs", "--tail", "1", "counter"]);
    assert_eq!(stdout(&tail), "3\n");
}

#[test]
fn kill_and_stop_signals() {
    let daemon = Daemon::start();
    assert_eq!(
        code(&daemon.docker(&["run", "-d", "--name", "victim", "busybox", "sleep", "60"])),
        0
    );
    let out = daemon.docker(&["kill", "victim"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eventually("SIGKILL gives 137", || {
        stdout(&daemon.docker(&["inspect", "-f", "{{.State.ExitCode}}", "victim"])).trim() == "137"
    });
    let again = daemon.docker(&["kill", "victim"]);
    assert_eq!(code(&again), 1);
    assert!(
        stderr(&again).contains("is not running"),
        "{}",
        stderr(&again)
    );

    // A process that ignores SIGTERM is killed after the timeout, children included.
    let script = "trap '' TERM; sleep 60 & wait";
    assert_eq!(
        code(&daemon.docker(&[
            "run", "-d", "--name", "stubborn", "busybox", "sh", "-c", script
        ])),
        0
    );
    let out = daemon.docker(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let state = daemon.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "stubborn",
    ]);
    assert_eq!(stdout(&state).trim(), "exited 137");
}

#[test]
fn name_conflicts_and_unknown_objects() {
    let daemon = Daemon::start();
    assert_eq!(
        code(&daemon.docker(&["run", "-d", "--name", "web", "busybox", "sleep", "30"])),
        0
    );
    let out = daemon.docker(&["run", "-d", "--name", "web", "busybox", "sleep", "30"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );
    let out = daemon.docker(&["inspect", "nothing-here"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("No such object: nothing-here"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&daemon.docker(&["rm", "-f", "web"])), 0);
}

#[test]
fn docker_over_tcp_on_loopback() {
    let daemon = Daemon::start_with(&["-H", "tcp://127.0.0.1:0"]);
    let tcp = daemon
        .tcp_host()
        .expect("the daemon prints its TCP address");
    assert!(tcp.starts_with("tcp://127.0.0.1:"), "{tcp}");
    let out = docker(&tcp, &["run", "--rm", "busybox", "echo", "over tcp"], None);
    assert_eq!(stdout(&out), "over tcp\n", "{}", stderr(&out));
}

#[test]
fn daemon_stops_its_containers_on_sigterm() {
    let daemon = Daemon::start();
    assert_eq!(
        code(&daemon.docker(&["run", "-d", "--name", "longrun", "busybox", "sleep", "600"])),
        0
    );
    let pid = stdout(&daemon.docker(&["inspect", "-f", "{{.State.Pid}}", "longrun"]))
        .trim()
        .parse::<i32>()
        .unwrap();
    assert!(pid > 0);
    let socket = daemon.socket.clone();
    assert!(daemon.stop().success());
    assert!(!socket.exists(), "the daemon removes its socket");
    // Our own child's pid; signal 0 only asks whether it still exists.
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(!alive, "the container process must be gone");
}

#[test]
fn main_process_exit_ends_the_whole_container() {
    // A background child keeps the output pipe open. Docker's PID namespace
    // kills it when PID 1 exits; chapter 01 kills the process group instead.
    let daemon = Daemon::start();
    let out = daemon.docker(&[
        "run",
        "-d",
        "--name",
        "parent",
        "busybox",
        "sh",
        "-c",
        "sleep 300 & echo $!",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eventually("the container exits although its child slept on", || {
        stdout(&daemon.docker(&["inspect", "-f", "{{.State.Status}}", "parent"])).trim() == "exited"
    });
    let child: i32 = stdout(&daemon.docker(&["logs", "parent"]))
        .trim()
        .parse()
        .expect("the child's pid");
    // Gone, or a zombie waiting for whoever adopted it to reap it.
    let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
    let alive = stat
        .rsplit(") ")
        .next()
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('Z'));
    assert!(
        !alive,
        "the background sleep (pid {child}) must be killed with its container"
    );
}
