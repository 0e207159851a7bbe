//! `ch03 run` against the real kernel: namespaces, mounts, users,
//! capabilities, exit codes, PID 1, and nothing left behind.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use namespaces::pidfd::PidFd;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

impl Fixture {
    /// A store with busybox in a temp dir.
    fn new() -> Fixture {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        busybox_store(&root);
        Fixture { _dir: dir, root }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        ch03(&self.root, &all)
    }

    fn sh(&self, script: &str) -> String {
        ok(self.run(&["--image", "busybox", "--", "sh", "-c", script]))
    }

    /// Nothing of any run is left: no run directory, no snapshot.
    fn assert_clean(&self) {
        let runs: Vec<_> = fs::read_dir(self.root.join("ch03"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(runs.is_empty(), "left behind: {runs:?}");
        let snapshots = fs::read_dir(self.root.join("snapshots")).unwrap().count();
        assert_eq!(snapshots, 0, "a snapshot was left behind");
        let root = self.root.to_string_lossy().into_owned();
        assert!(
            !mount_points().iter().any(|p| p.starts_with(&root)),
            "a mount under {root} was left behind"
        );
    }
}

fn host_namespaces() -> Vec<(String, String)> {
    let mut inodes = Vec::new();
    for name in ["pid", "mnt", "uts", "ipc", "net", "cgroup", "user"] {
        let link = fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        inodes.push((name.to_string(), link.to_string_lossy().into_owned()));
    }
    inodes
}

#[test]
fn privileged_every_namespace_is_new_but_user() {
    let f = Fixture::new();
    let out = f.sh(
        "for ns in pid mnt uts ipc net cgroup user; do echo $ns $(readlink /proc/self/ns/$ns); done",
    );
    for (name, host) in host_namespaces() {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {out}"));
        let inside = line.split(' ').nth(1).unwrap();
        if name == "user" {
            assert_eq!(inside, host, "no --userns: the host's user namespace");
        } else {
            assert_ne!(inside, host, "{name} namespace is the host's");
        }
    }
    f.assert_clean();
}

#[test]
fn privileged_pid_1_hostname_network_and_mounts() {
    let f = Fixture::new();
    let out = f.sh("echo pid=$$; hostname; cat /etc/hostname; ip -o link; mount");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    // Default hostname: the first 12 hex digits of the run's ID, as Docker.
    assert_eq!(lines[1].len(), 12, "{out}");
    assert_eq!(lines[1], lines[2], "/etc/hostname matches: {out}");
    // ps sees only the container's processes: sh (PID 1) and ps itself.
    let ps = f.sh("ps -o pid,comm; true"); // `; true`: sh must not exec ps
    let ps: Vec<Vec<&str>> = ps
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert_eq!(ps[0], ["1", "sh"], "{ps:?}");
    assert_eq!(ps[1][1], "ps", "{ps:?}");
    // A new network namespace has only a loopback device.
    let links: Vec<&str> = out.lines().filter(|l| l.contains(": <")).collect();
    assert_eq!(links.len(), 1, "{out}");
    assert!(links[0].starts_with("1: lo:"), "{out}");
    for expected in [
        "proc on /proc type proc (rw,nosuid,nodev,noexec",
        "tmpfs on /dev type tmpfs (rw,nosuid",
        "devpts on /dev/pts type devpts",
        "sysfs on /sys type sysfs (ro,",
        "mqueue on /dev/mqueue type mqueue",
        "shm on /dev/shm type tmpfs",
        "proc on /proc/sys type proc (ro,",
        "on /etc/hosts ",
        "on /etc/resolv.conf ",
    ] {
        assert!(out.contains(expected), "no {expected:?} in\n{out}");
    }
    f.assert_clean();
}

#[test]
fn privileged_devices_masks_and_capabilities_are_dockers() {
    let f = Fixture::new();
    let out = f.sh(
        "ls /dev | tr '\\n' ' '; echo; stat -c '%t:%T %a %n' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; \
         echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-writable; \
         grep -E '^Cap(Prm|Eff|Bnd|Inh|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status",
    );
    let dev: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    let expected = [
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ];
    // Nothing else: no console without a terminal, no disks, no /dev/mem.
    assert_eq!(dev, expected, "{out}");
    for device in [
        "1:3 666 /dev/null",
        "1:5 666 /dev/zero",
        "1:7 666 /dev/full",
        "1:8 666 /dev/random",
        "1:9 666 /dev/urandom",
        "5:0 666 /dev/tty",
    ] {
        assert!(out.contains(device), "no {device} in {out}");
    }
    assert!(
        !out.contains("sysrq-writable") && !out.contains("sys-writable"),
        "{out}"
    );
    // Docker's 14 capabilities, in every set but inheritable and ambient.
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(
            out.contains(&format!("{set}:\t00000000a80425fb")),
            "{set}: {out}"
        );
    }
    for set in ["CapInh", "CapAmb"] {
        assert!(
            out.contains(&format!("{set}:\t0000000000000000")),
            "{set}: {out}"
        );
    }
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");

    // Every masked path this kernel has reads as empty inside: a file is
    // /dev/null, a directory an empty tmpfs.
    let present: Vec<&str> = namespaces::defaults::MASKED_PATHS
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect();
    assert!(!present.is_empty(), "no masked path exists on this kernel");
    let script: String = present
        .iter()
        .map(|p| {
            format!("echo {p} $(if [ -d {p} ]; then ls -A {p} | wc -l; else wc -c < {p}; fi);")
        })
        .collect();
    let out = f.sh(&script);
    for path in present {
        assert!(
            out.contains(&format!("{path} 0\n")),
            "{path} is not masked: {out}"
        );
    }
    f.assert_clean();
}

#[test]
fn privileged_user_workdir_env_and_no_new_privileges() {
    let f = Fixture::new();
    let out = ok(f.run(&[
        "--image", "busybox", "--user", "nobody", "-w", "/made/here", "-e", "GREETING=hi",
        "--no-new-privileges", "--hostname", "box", "--ulimit", "nofile=256:512", "--",
        "sh", "-c",
        "id -u; id -g; pwd; echo $GREETING $HOSTNAME $HOME; grep -E '^Cap(Prm|Eff|Bnd)|NoNewPrivs' /proc/self/status; ulimit -n; ulimit -Hn",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        ["65534", "65534", "/made/here", "hi box /nonexistent"],
        "{out}"
    );
    // A non-root user keeps only the bounding set: execve cleared the rest.
    assert!(out.contains("CapPrm:\t0000000000000000"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert_eq!(lines[lines.len() - 2..], ["256", "512"], "{out}");

    let out = f.run(&["--image", "busybox", "--user", "alice", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("no user \"alice\" in the image's /etc/passwd"),
        "{}",
        stderr(&out)
    );

    let out = f.sh("touch /etc/written && echo ok");
    assert_eq!(out.trim(), "ok");
    let out = f.run(&[
        "--image",
        "busybox",
        "--read-only",
        "--",
        "touch",
        "/etc/written",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    f.assert_clean();
}

#[test]
fn privileged_exit_codes_are_dockers() {
    let f = Fixture::new();
    let code = |args: &[&str]| f.run(args).status.code();
    assert_eq!(
        code(&["--image", "busybox", "--", "sh", "-c", "exit 3"]),
        Some(3)
    );
    let out = f.run(&["--image", "busybox", "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out).trim(),
        "ch03: exec: \"no-such-command\": executable file not found in $PATH"
    );
    let out = f.run(&["--image", "busybox", "--", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126));
    assert_eq!(
        stderr(&out).trim(),
        "ch03: exec: \"/etc/passwd\": permission denied"
    );
    // Killed by SIGKILL: 128 + 9. (Under --init, sh is PID 2: PID 1 itself
    // cannot be sent SIGKILL from inside its namespace.)
    assert_eq!(
        code(&[
            "--image",
            "busybox",
            "--init",
            "--",
            "sh",
            "-c",
            "kill -9 $$"
        ]),
        Some(137)
    );
    // The engine's own errors: 125, one line, before anything is created.
    for (args, message) in [
        (
            vec!["--rootfs", "/no/such/rootfs", "--", "true"],
            "ch03: --rootfs /no/such/rootfs: no such directory",
        ),
        (
            vec![
                "--image",
                "busybox",
                "--hostname",
                &"h".repeat(65),
                "--",
                "true",
            ],
            "must be 1 to 64 bytes long",
        ),
        (vec!["--image", "nosuchimage", "--", "true"], "nosuchimage"),
        (
            vec!["--image", "busybox", "--userns", "--", "true"],
            "--userns needs --rootfs",
        ),
        (
            vec!["--image", "busybox", "--ulimit", "nofile=x", "--", "true"],
            "use NAME=SOFT[:HARD]",
        ),
        (
            vec![
                "--image",
                "busybox",
                "--join",
                "net=/no/such/ns",
                "--",
                "true",
            ],
            "no such file",
        ),
    ] {
        let out = f.run(&args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    f.assert_clean();
}

#[test]
fn privileged_user_namespace_maps_root_to_an_unprivileged_range() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    busybox_rootfs(&rootfs);
    // Container root is host 100000: the rootfs must belong to it.
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(status.success());
    let out = ok(f.run(&[
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--userns",
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /root-can-write && echo wrote; \
         stat -c '%t:%T' /dev/null; mknod /dev/mine c 1 3 2>&1 || echo mknod refused; \
         grep CapEff /proc/self/status; readlink /proc/self/ns/user",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(fields, ["0", "100000", "65536"], "{out}");
    assert!(out.contains("wrote"), "{out}");
    // /dev/null is the host's node, bound: mknod is refused in a user namespace.
    assert!(out.contains("1:3"), "{out}");
    assert!(out.contains("mknod refused"), "{out}");
    // Full capabilities inside — over the container's namespaces only.
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    let host_user = fs::read_link("/proc/self/ns/user").unwrap();
    assert!(!out.contains(&*host_user.to_string_lossy()), "{out}");
    // On the host, what container root made belongs to 100000.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(rootfs.join("root-can-write")).unwrap().uid(),
        100000
    );

    // A --user outside the mapped range does not fit.
    let out = f.run(&[
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--userns",
        "--user",
        "70000",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("uid 70000 is not mapped"),
        "{}",
        stderr(&out)
    );
    f.assert_clean();
}

#[test]
fn privileged_chroot_can_be_escaped_and_pivot_root_cannot() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    busybox_rootfs(&rootfs);
    fs::copy(
        static_dir().join("chroot-escape"),
        rootfs.join("bin/chroot-escape"),
    )
    .unwrap();
    // Exists on the host only: visible from inside means escaped.
    let marker = dir.path().join("host-only-marker");
    fs::write(&marker, "").unwrap();
    let escape = |switch: &str| {
        f.run(&[
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--switch",
            switch,
            "--",
            "chroot-escape",
            marker.to_str().unwrap(),
        ])
    };
    let out = escape("chroot");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).starts_with("escaped"), "{}", stdout(&out));
    let out = escape("pivot-root");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).starts_with("contained"), "{}", stdout(&out));
    f.assert_clean();
}

/// The children of `pid` (from /proc/PID/task/*/children) with their state.
fn children(pid: u32) -> Vec<(u32, char)> {
    let mut found = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let text = fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        for child in text.split_whitespace() {
            let child: u32 = child.parse().unwrap();
            if let Some(state) = process_state(child) {
                found.push((child, state));
            }
        }
    }
    found
}

/// The state letter of /proc/PID/stat ("pid (comm) S ..."): it follows
/// the last ')'.
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// Every descendant of `pid` with its command name.
fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut all = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for (child, _) in children(p) {
            let comm = fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            all.push((child, comm.trim().to_string()));
            queue.push(child);
        }
    }
    all
}

/// A `ch03 run` held at its exec fifo: the container is set up, its
/// process waits before execve, and ch03 has said which PID it has.
struct Held {
    ch03: std::process::Child,
    /// The container's first process, as ch03 printed it.
    pid: u32,
    fifo: std::path::PathBuf,
    stdout: BufReader<std::process::ChildStdout>,
    _dir: tempfile::TempDir,
}

/// Starts `ch03 run --exec-fifo F ARGS` (stdin and stdout piped) and reads
/// the line ch03 prints once the container waits at the barrier, signal
/// forwarding in place: "container ID (pid N) waits before execve: …".
fn start_held(f: &Fixture, args: &[&str]) -> Held {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("exec.fifo");
    let mut all = vec!["run", "--exec-fifo", fifo.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut ch03 = ch03_command(&f.root, &all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(ch03.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line
        .split_once("(pid ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(pid, _)| pid.parse().ok())
        .unwrap_or_else(|| panic!("ch03 did not report a held container: {line}"));
    let stdout = BufReader::new(ch03.stdout.take().unwrap());
    Held {
        ch03,
        pid,
        fifo,
        stdout,
        _dir: dir,
    }
}

impl Held {
    /// Opens the fifo: the container goes on to execve.
    fn release(&self) {
        let mut released = String::new();
        fs::File::open(&self.fifo)
            .unwrap()
            .read_to_string(&mut released)
            .unwrap();
        assert_eq!(released, "0");
    }

    /// The next line the container prints.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }

    /// ch03 itself: `timeout`'s one and only child.
    fn ch03_pid(&self) -> Pid {
        let under_timeout = children(self.ch03.id());
        assert_eq!(under_timeout.len(), 1, "{under_timeout:?}");
        Pid::from_raw(under_timeout[0].0 as i32)
    }

    fn signal(&self, signal: Signal) {
        nix::sys::signal::kill(Pid::from_raw(self.pid as i32), signal).unwrap();
    }

    fn exit_code(mut self) -> Option<i32> {
        drop(self.ch03.stdin.take());
        self.ch03.wait().unwrap().code()
    }
}

/// A pidfd on `pid`, a process that need not be our child.
fn pidfd(pid: u32) -> PidFd {
    PidFd::open(pid as i32).unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"))
}

/// Blocks until the process behind `pidfd` has exited (a zombie or gone).
fn wait_exited(pidfd: &PidFd) {
    let exited = pidfd.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(exited, "the process did not exit within 20 s");
}

// The orphan: a background subshell of a subshell that exits at once, so
// it is re-parented to PID 1. It waits until PID 1's shell has become
// `sleep` (`$$` in a subshell is the shell's PID), says "orphaned", and
// becomes `head`, which exits when the test writes a byte to the
// container's stdin (fd 3: a background job's own stdin is /dev/null).
const ORPHAN_SCRIPT: &str = "exec 3<&0; \
    ( (until grep -qx sleep /proc/$$/comm; do :; done; echo orphaned; exec head -c 1 <&3 >/dev/null) & ); \
    exec sleep 30 3<&-";

/// Releases `held`, lets its orphan exit, and returns a pidfd on it.
fn orphan_exits(held: &mut Held) -> PidFd {
    held.release();
    assert_eq!(held.line(), "orphaned\n");
    let others: Vec<_> = descendants(held.pid)
        .into_iter()
        .filter(|(_, comm)| comm != "sleep")
        .collect();
    assert_eq!(others.len(), 1, "the orphan alone: {others:?}");
    let orphan = pidfd(others[0].0);
    held.ch03.stdin.as_mut().unwrap().write_all(b"x").unwrap();
    wait_exited(&orphan);
    orphan
}

// ANCHOR: zombie_test
#[test]
fn privileged_init_reaps_the_zombies_pid_1_leaves() {
    let f = Fixture::new();
    // `sleep` is PID 1 and never calls wait(): the orphan stays a zombie.
    let mut held = start_held(&f, &["--image", "busybox", "--", "sh", "-c", ORPHAN_SCRIPT]);
    let orphan = orphan_exits(&mut held);
    assert!(!orphan.reaped().unwrap(), "nobody may reap it but PID 1");
    held.signal(Signal::SIGKILL);
    assert_eq!(held.exit_code(), Some(137));

    // With --init, minidocker-init is PID 1: it reaps the orphan, and
    // leaves `sleep` alone. No event tells an outsider that a process was
    // reaped, so the test looks until it is (20 s at most).
    let args = [
        "--image",
        "busybox",
        "--init",
        "--",
        "sh",
        "-c",
        ORPHAN_SCRIPT,
    ];
    let mut held = start_held(&f, &args);
    let orphan = orphan_exits(&mut held);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !orphan.reaped().unwrap() {
        assert!(Instant::now() < deadline, "the zombie was never reaped");
        std::thread::yield_now();
    }
    let left: Vec<String> = descendants(held.pid).into_iter().map(|d| d.1).collect();
    assert_eq!(left, ["sleep"]);
    held.signal(Signal::SIGKILL);
    assert_eq!(held.exit_code(), Some(137));
    f.assert_clean();
}
// ANCHOR_END: zombie_test

#[test]
fn privileged_pid_1_ignores_sigterm_unless_it_handles_it() {
    let f = Fixture::new();
    // `sleep` as PID 1 has no handler for SIGTERM: the kernel drops it when
    // it is sent. Had it been delivered, the status would be 143, not 137.
    let script = "echo running; exec sleep 30";
    let mut held = start_held(&f, &["--image", "busybox", "--", "sh", "-c", script]);
    held.release();
    assert_eq!(held.line(), "running\n");
    held.signal(Signal::SIGTERM);
    held.signal(Signal::SIGKILL);
    assert_eq!(held.exit_code(), Some(137));

    // minidocker-init handles SIGTERM and forwards it to sleep, which dies:
    // 128 + 15. The signal goes to ch03, which proxies it, as docker run
    // does — here before minidocker-init even runs: the container process
    // holds the signal blocked until the init takes it.
    let held = start_held(&f, &["--image", "busybox", "--init", "--", "sleep", "30"]);
    nix::sys::signal::kill(held.ch03_pid(), Signal::SIGTERM).unwrap();
    held.release();
    assert_eq!(held.exit_code(), Some(143));
    f.assert_clean();
}

#[test]
fn privileged_the_command_starts_with_no_signal_blocked_or_ignored() {
    let f = Fixture::new();
    // grep itself (no shell between: ash ignores SIGQUIT in its children).
    let masks = ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"];
    // ch03 holds the forwarded signals, and under --init the container's
    // init starts with them blocked: neither may reach the command.
    for init in [&[][..], &["--init"]] {
        let mut args = vec!["--image", "busybox"];
        args.extend_from_slice(init);
        args.push("--");
        args.extend_from_slice(&masks);
        let out = ok(f.run(&args));
        assert_eq!(
            out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
            "{init:?}"
        );
    }
    f.assert_clean();
}

#[test]
fn privileged_exec_fifo_holds_the_container_before_execve() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let fifo = dir.path().join("exec.fifo");
    let mut child = ch03_command(
        &f.root,
        &[
            "run",
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--exec-fifo",
            fifo.to_str().unwrap(),
            "--",
            "touch",
            "/started",
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("waits before execve"), "{line}");
    // Set up, stopped at the barrier: the command has not run.
    assert!(!rootfs.join("started").exists());
    assert!(child.try_wait().unwrap().is_none());
    // Another process opens the fifo: the container goes on to execve.
    let mut released = String::new();
    fs::File::open(&fifo)
        .unwrap()
        .read_to_string(&mut released)
        .unwrap();
    assert_eq!(released, "0");
    assert!(child.wait().unwrap().success());
    assert!(rootfs.join("started").exists());
    assert!(!fifo.exists(), "ch03 removes the fifo it made");
    f.assert_clean();
}

#[test]
fn privileged_joins_a_network_namespace_by_path() {
    let f = Fixture::new();
    let name = format!("mdtest-ch03-{}", std::process::id());
    let ip = |args: &[&str]| {
        let status = std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ip {args:?}");
    };
    ip(&["netns", "add", &name]);
    let result = std::panic::catch_unwind(|| {
        ip(&[
            "-n", &name, "link", "add", "mdtest0", "type", "veth", "peer", "name", "mdtest1",
        ]);
        let path = format!("net=/run/netns/{name}");
        let out = ok(f.run(&[
            "--image", "busybox", "--join", &path, "--", "ip", "-o", "link",
        ]));
        assert!(out.contains("mdtest0") && out.contains("mdtest1"), "{out}");
        // The other namespaces are still new: the hostname is not the host's.
        let out = ok(f.run(&["--image", "busybox", "--join", &path, "--", "hostname"]));
        assert_ne!(
            out.trim(),
            nix::unistd::gethostname().unwrap().to_string_lossy()
        );
    });
    ip(&["netns", "delete", &name]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    f.assert_clean();
}

#[test]
fn privileged_the_propagation_trap() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    // Other tests mount and unmount in parallel, each under a temp dir of
    // its own: compare what is not theirs — the host's mounts, and ours.
    let others = std::env::temp_dir().join(".tmp");
    let ours = dir.path().to_string_lossy().into_owned();
    let relevant = || -> Vec<String> {
        mount_points()
            .into_iter()
            .filter(|p| p.starts_with(&ours) || !p.starts_with(&*others.to_string_lossy()))
            // `ip netns add` (the join test) mounts /run/netns the first time.
            .filter(|p| !p.starts_with("/run/netns"))
            .collect()
    };
    let before = relevant();
    let out = ok(ch03(dir.path(), &["propagation-demo"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("without MS_PRIVATE") && lines[0].ends_with("LEAKED"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("with MS_PRIVATE") && lines[1].ends_with("contained"),
        "{out}"
    );
    assert_eq!(relevant(), before, "the real host's mounts changed");
}

#[test]
fn privileged_no_mount_is_left_after_a_crash_once_reset_runs() {
    require_root();
    let prefix = tempfile::tempdir().unwrap();
    let root = prefix.path().join("var/lib/minidocker-workshop");
    busybox_store(&root);
    let f = Fixture {
        _dir: tempfile::tempdir().unwrap(),
        root: root.clone(),
    };
    // --user: the parent-death signal must survive the switch to nobody.
    let args = [
        "--image", "busybox", "--user", "nobody", "--", "sleep", "30",
    ];
    let mut held = start_held(&f, &args);
    held.release();
    let container = pidfd(held.pid);
    // ch03 dies without cleaning up; its container dies with it (PDEATHSIG).
    nix::sys::signal::kill(held.ch03_pid(), Signal::SIGKILL).unwrap();
    held.ch03.wait().unwrap();
    wait_exited(&container);
    let root_text = root.to_string_lossy().into_owned();
    assert!(
        mount_points().iter().any(|p| p.starts_with(&root_text)),
        "the snapshot stays mounted"
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reset.sh");
    let out = std::process::Command::new(&script)
        .env("MINIDOCKER_RESET_PREFIX", prefix.path())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("removed ch03 run"), "{text}");
    f.assert_clean();
}

#[test]
fn privileged_tty_gives_the_container_a_terminal_of_its_own() {
    let f = Fixture::new();
    let out = ok(f.run(&[
        "--image", "busybox", "-t", "--",
        "sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; stat -c '%t:%T' /dev/console /dev/pts/0; echo $TERM",
    ]));
    // Through a terminal, lines end in \r\n (the line discipline's ONLCR).
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(
        lines[..5],
        ["/dev/pts/0", "both-ttys", "88:0", "88:0", "xterm"],
        "{out:?}"
    );
    // Without -t: no terminal, no console.
    let out = f.sh("[ -t 1 ] && echo tty; ls /dev/console 2>&1; true");
    assert!(
        !out.contains("tty\n") && out.contains("No such file"),
        "{out}"
    );
    f.assert_clean();
}
