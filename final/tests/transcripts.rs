//! The terminal sessions the book's engine page (`book/src/engine.md`)
//! shows, recorded from real runs (see `common::session` for how, and for
//! the placeholders): a `minidockerd` started in the background of a root
//! shell, driven by the real `docker` CLI; the daemon, the shim and the
//! container as three processes; what the daemon keeps on disk; the wait's
//! head on the wire; a shim killed under a running container, and the
//! daemon killed and started again. Compared with
//! `book/src/transcripts/engine-*.txt`; the PIDs the page talks about are
//! shown by role in every output: `<daemon>`, `<shim>`, `<init>` (the
//! container's PID 1), `<sleep>`.

mod common;

use std::path::PathBuf;

use common::session::{AND_STATUS, DOCKER_OUTPUT, Page, Session, pidfd, wait_exit, wait_for_text};

static ENGINE_PAGE: Page = Page {
    tools: &[(
        "curl",
        "--version",
        "a session reads the wait's head with it (sudo apt-get install curl)",
    )],
    pids_in_every_output: true,
    rules: &[DOCKER_OUTPUT],
};

/// The log file of container `name`, in the daemon's data root.
fn container_log(s: &mut Session, name: &str) -> PathBuf {
    let id = s
        .hidden(&format!("docker inspect -f '{{{{.Id}}}}' {name}"))
        .trim()
        .to_string();
    s.dir()
        .join("data/containers")
        .join(&id)
        .join(format!("{id}-json.log"))
}

/// The daemon started by hand, the offline images, and `docker run`: a
/// line printed, a hostname and a loopback of its own, an exit code, a
/// command that is not there; `--rm` leaves nothing behind.
#[test]
fn privileged_transcript_engine_first_run() {
    let mut s = Session::new(&ENGINE_PAGE);
    s.make_dir(true);
    s.start_daemon(true);
    let log = s.ok("cat $d/daemon.log");
    assert!(log.contains("created the offline image busybox"), "{log}");
    s.ok("export DOCKER_HOST=unix://$d/d.sock");
    let images = s.table("docker images");
    assert!(
        images.contains("busybox") && images.contains("hello"),
        "{images}"
    );
    s.check("engine-start.txt");

    assert_eq!(s.ok("docker run --rm busybox echo hi"), "hi\n");
    let out = s.ok(
        r#"docker run --rm busybox sh -c 'echo "I am $(hostname), PID $$, with: $(ls /sys/class/net)"'"#,
    );
    assert!(out.ends_with(", PID 1, with: lo\n"), "{out}");
    assert_eq!(
        s.ok(&format!(
            "docker run --rm busybox sh -c 'exit 3'; {AND_STATUS}"
        )),
        "exit 3\n"
    );
    let out = s.ok(&format!("docker run --rm busybox nosuchcmd; {AND_STATUS}"));
    assert!(
        out.contains("executable file not found") && out.ends_with("exit 127\n"),
        "{out}"
    );
    let listed = s.table("docker ps -a");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert_eq!(s.ok("ls $d/data/containers"), "");
    s.check("engine-run.txt");
}

/// A container in the background: ps, logs, exec, inspect; the processes
/// on the host; what the daemon keeps; stop and rm.
#[test]
fn privileged_transcript_engine_detached() {
    let mut s = Session::with_daemon(&ENGINE_PAGE);
    let id = s.ok(
        r#"docker run -d --name web busybox sh -c 'trap "echo got TERM; exit 0" TERM; echo started; sleep 1000 & wait'"#,
    );
    assert_eq!(id.trim().len(), 64, "{id}");
    // Its init forks the sleep after `docker run -d` has returned, and the
    // shim writes the line to the log when it has read it.
    s.wait_until(r#"pgrep -x -P "$(docker inspect -f '{{.State.Pid}}' web)" sleep >/dev/null"#);
    let log = container_log(&mut s, "web");
    wait_for_text(&log, "started");
    s.name_pid("$(docker inspect -f '{{.State.Pid}}' web)", "<init>");
    let listed = s.table("docker ps");
    assert!(
        listed.contains(" Up ") && listed.contains("web"),
        "{listed}"
    );
    assert_eq!(s.ok("docker logs web"), "started\n");
    let ps = s.ok("docker exec web ps");
    assert!(ps.contains("sleep 1000"), "{ps}");
    let out = s.ok(r#"docker exec -e WHO=exec web sh -c 'echo "$WHO in $(hostname), in $PWD"'"#);
    assert!(
        out.starts_with("exec in ") && out.ends_with(", in /\n"),
        "{out}"
    );
    let inspect = s.ok(
        "docker inspect web | jq '.[0] | {Id, Name, Path, Args, State: .State | {Status, Pid, StartedAt}, LogPath, Runtime: .HostConfig.Runtime}'",
    );
    assert!(inspect.contains("\"running\""), "{inspect}");
    s.check("engine-detached.txt");

    s.ok("pid=$(docker inspect -f '{{.State.Pid}}' web); shim=$(ps -o ppid= -p $pid | tr -d ' ')");
    s.name_pid("$shim", "<shim>");
    s.name_pid("$(pgrep -P $pid)", "<sleep>");
    // Two commands: with --forest, ps lists the roots of its trees in PID
    // order, and PIDs wrap around.
    let daemon = s.ps("ps -o pid,ppid,sid,comm -p $(cat $d/minidockerd.pid)");
    assert!(daemon.contains("minidockerd"), "{daemon}");
    let forest = s.ps("ps --forest -o pid,ppid,sid,comm -p $shim,$pid,$(pgrep -P $pid)");
    assert!(
        forest.contains("minishim") && forest.contains("\\_ sh") && forest.contains("\\_ sleep"),
        "{forest}"
    );
    let args = s.ok(r"tr '\0' '\n' < /proc/$shim/cmdline");
    assert!(args.contains("--runtime-root"), "{args}");
    s.check("engine-processes.txt");

    s.ok("id=$(docker inspect -f '{{.Id}}' web); echo ${id:0:12}");
    let files = s.ok_sorted("ls $d/data/containers/$id");
    assert!(
        files.contains("container.json") && files.contains("config.json"),
        "{files}"
    );
    let record = s.ok("jq '{name, runtime, state}' $d/data/containers/$id/container.json");
    assert!(record.contains("\"running\""), "{record}");
    s.ok("jq -c '.process.args, .root, .hostname, .linux.cgroupsPath, [.linux.namespaces[] | select(.path)]' $d/data/containers/$id/config.json");
    let line = s.ok("cat $d/data/containers/$id/$id-json.log");
    assert!(line.contains("started"), "{line}");
    let mounted = s.ok("findmnt -n -o FSTYPE,TARGET $d/data/containers/$id/rootfs");
    assert!(mounted.starts_with("overlay"), "{mounted}");
    s.ok("ls $d/run $d/run/netns $d/run/shims/${id:0:12}");
    let netns = s.ok("findmnt -n -o FSTYPE,TARGET $d/run/netns/${id:0:12}");
    assert!(netns.starts_with("nsfs"), "{netns}");
    s.ok("jq -c . $d/run/shims/${id:0:12}/status.json");
    s.check("engine-data-root.txt");

    assert_eq!(s.ok("docker stop web"), "web\n");
    assert_eq!(s.ok("docker logs web"), "started\ngot TERM\n");
    let state = s.ok("docker inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}, pid {{.State.Pid}}' web");
    assert_eq!(state, "exited, exit code 0, pid 0\n");
    let listed = s.table("docker ps -a");
    assert!(listed.contains("Exited (0)"), "{listed}");
    s.ok("ls $d/run/shims/${id:0:12}");
    assert_eq!(s.ok("docker rm web"), "web\n");
    assert_eq!(
        s.ok("ls $d/data/containers $d/run/netns $d/run/shims"),
        format!(
            "{d}/data/containers:\n\n{d}/run/netns:\n\n{d}/run/shims:\n",
            d = s.dir().display()
        )
    );
    s.check("engine-stop.txt");
}

/// The wait's head comes at once, its body when the condition holds: curl
/// shows the two apart.
#[test]
fn privileged_transcript_engine_wait() {
    let mut s = Session::with_daemon(&ENGINE_PAGE);
    s.ok("docker create --name later busybox sh -c 'exit 5'");
    s.ok("curl -s -N -D wait.head -o wait.body --unix-socket $d/d.sock -X POST 'http://docker/v1.50/containers/later/wait?condition=next-exit' &");
    // The head, as curl writes it when it arrives.
    let head = s.scratch_file("wait.head");
    wait_for_text(&head, "\r\n\r\n");
    let shown = s.ok(r"tr -d '\r' < wait.head");
    assert!(
        shown.starts_with("HTTP/1.1 200 OK\n") && shown.contains("Transfer-Encoding: chunked"),
        "{shown}"
    );
    s.fails("ls wait.body", 2);
    assert_eq!(s.ok("docker start later"), "later\n");
    assert_eq!(s.ok("wait; cat wait.body"), "{\"StatusCode\":5}\n");
    s.ok("docker rm later");
    s.check("engine-wait.txt");
}

/// A shim SIGKILLed under its running container, then the daemon: the
/// container lives on without either; the daemon, started again, finds its
/// containers in its data root and their shims in its exec root.
#[test]
fn privileged_transcript_engine_break() {
    let mut s = Session::with_daemon(&ENGINE_PAGE);
    s.ok("docker run -d --name victim busybox sleep 1000");
    s.wait_until(r#"[ "$(tr '\0' ' ' < /proc/$(docker inspect -f '{{.State.Pid}}' victim)/cmdline)" = 'sleep 1000 ' ]"#);
    s.ok(
        "pid=$(docker inspect -f '{{.State.Pid}}' victim); shim=$(ps -o ppid= -p $pid | tr -d ' ')",
    );
    s.name_pid("$pid", "<init>");
    let shim_pid = s.name_pid("$shim", "<shim>");
    // Opened before `ps` below shows the shim with this PID.
    let shim = pidfd(shim_pid);
    s.ps("ps --forest -o pid,ppid,sid,comm -p $shim,$pid");
    s.ok("kill -9 $shim");
    wait_exit(&shim, "the shim, SIGKILLed,");
    // The daemon's monitor thread notices when its connection ends, and
    // has the runtime end the container: `docker wait` returns then.
    assert_eq!(s.ok("docker wait victim"), "137\n");
    let said = s.ok("grep 'is gone' $d/daemon.log");
    assert!(said.contains("ending the container"), "{said}");
    let listed = s.table("docker ps -a");
    assert!(
        listed.contains("Exited (137)") && listed.contains("victim"),
        "{listed}"
    );
    assert_eq!(
        s.ok("docker inspect -f '{{.State.Error}}' victim"),
        "its shim died while it ran: the runtime ended it\n"
    );
    // The runtime has forgotten it: its state and cgroup are gone.
    let forgotten = s.fails(
        "minirunc --root $d/run/runtime/minirunc state $(docker inspect -f '{{.Id}}' victim)",
        1,
    );
    assert!(forgotten.contains("does not exist"), "{forgotten}");
    assert_eq!(s.ok("docker rm victim"), "victim\n");
    s.check("engine-shim-killed.txt");

    for (name, code) in [("survivor", 7), ("early", 8)] {
        s.ok(&format!(
            r#"docker run -d --name {name} busybox sh -c 'trap "echo got TERM; exit {code}" TERM; echo started; sleep 1000 & wait'"#
        ));
        let log = container_log(&mut s, name);
        wait_for_text(&log, "started");
    }
    s.ok("pid=$(docker inspect -f '{{.State.Pid}}' survivor); shim=$(ps -o ppid= -p $pid | tr -d ' ')");
    s.name_pid("$pid", "<init>");
    s.name_pid("$shim", "<shim>");
    s.ok("early=$(docker inspect -f '{{.Id}}' early)");
    let early_short = s.hidden("echo ${early:0:12}").trim().to_string();
    let early_status = s
        .dir()
        .join("run/shims")
        .join(early_short)
        .join("status.json");
    let daemon = pidfd(s.name_pid("$(cat $d/minidockerd.pid)", "<daemon>"));
    s.ok("kill -9 $(cat $d/minidockerd.pid)");
    wait_exit(&daemon, "the daemon, SIGKILLed,");
    let refused = s.fails("docker ps", 1);
    assert!(
        refused.contains("Cannot connect to the Docker daemon"),
        "{refused}"
    );
    let alive = s.ps("ps --forest -o pid,ppid,sid,comm -p $shim,$pid");
    assert_eq!(alive.lines().count(), 3, "{alive}");
    // One container ends while no daemon runs: its shim is all there is.
    s.ok("kill -TERM $(jq .pid $d/run/shims/${early:0:12}/status.json)");
    // The shim replaces its status file once it has reaped the container.
    wait_for_text(&early_status, "\"exited\"");
    let status =
        s.ok("jq -c '{status, exit_code, finished_at}' $d/run/shims/${early:0:12}/status.json");
    assert!(status.contains("\"exit_code\":8"), "{status}");
    s.start_daemon_with(&[], "daemon2.log", true);
    let listed = s.table("docker ps -a");
    assert!(
        listed.contains("Exited (8)") && listed.contains(" Up "),
        "{listed}"
    );
    assert_eq!(s.ok("docker logs early"), "started\ngot TERM\n");
    let state = s.ok("docker inspect -f '{{.State.Status}} {{.State.Pid}}' survivor; echo $pid");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines.len(), 2, "{state}");
    assert_eq!(lines[0], format!("running {}", lines[1]), "{state}");
    assert_eq!(s.ok("docker stop survivor"), "survivor\n");
    assert_eq!(s.ok("docker logs survivor"), "started\ngot TERM\n");
    assert_eq!(
        s.ok("docker inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}' survivor"),
        "exited, exit code 7\n"
    );
    assert_eq!(s.ok("docker rm early survivor"), "early\nsurvivor\n");
    s.check("engine-daemon-killed.txt");
}
