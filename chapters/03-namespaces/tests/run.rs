//! `ch03 run` against the real kernel: namespaces, mounts, users,
//! capabilities, exit codes, PID 1, and nothing left behind.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
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
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // "pid (comm) S ...": the state follows the last ')'.
            if let Some(state) = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.trim().chars().next())
            {
                found.push((child, state));
            }
        }
    }
    found
}

/// Starts `ch03 run ARGS` and returns it with the container's PID.
fn start(f: &Fixture, args: &[&str]) -> (std::process::Child, u32) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let mut child = ch03_command(&f.root, &all)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // timeout → ch03 → the container.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ch03 = children(child.id()).first().map(|c| c.0);
        if let Some(container) = ch03.and_then(|p| children(p).first().map(|c| c.0)) {
            return (child, container);
        }
        assert!(Instant::now() < deadline, "the container did not start");
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("ch03 ended early ({status}): {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 20 s) until `condition` holds.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every descendant of `pid`, with its state.
fn descendants(pid: u32) -> Vec<(u32, char)> {
    let mut all = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for (child, state) in children(p) {
            all.push((child, state));
            queue.push(child);
        }
    }
    all
}

// ANCHOR: zombie_test
#[test]
fn privileged_init_reaps_the_zombies_pid_1_leaves() {
    let f = Fixture::new();
    // The subshell starts `sleep 1` in the background and exits at once: the
    // orphan is re-parented to PID 1, which by then is `sleep 5` (exec) and
    // never calls wait(): when the orphan ends, it stays a zombie.
    let script = "(sleep 1 &); exec sleep 5";
    let (mut ch03, container) = start(&f, &["--image", "busybox", "--", "sh", "-c", script]);
    eventually("a zombie under PID 1", || {
        descendants(container)
            .iter()
            .any(|(_, state)| *state == 'Z')
    });
    nix::sys::signal::kill(Pid::from_raw(container as i32), Signal::SIGKILL).unwrap();
    ch03.wait().unwrap();

    // With --init, minidocker-init is PID 1: it reaps the orphan.
    let began = Instant::now();
    let (mut ch03, init) = start(
        &f,
        &["--image", "busybox", "--init", "--", "sh", "-c", script],
    );
    eventually("the orphan gone, sleep 5 left alone", || {
        let left = descendants(init);
        assert!(
            left.iter().all(|(_, state)| *state != 'Z'),
            "a zombie under --init: {left:?}"
        );
        left.len() == 1 && began.elapsed() > Duration::from_millis(1500)
    });
    nix::sys::signal::kill(Pid::from_raw(init as i32), Signal::SIGKILL).unwrap();
    ch03.wait().unwrap();
    f.assert_clean();
}
// ANCHOR_END: zombie_test

#[test]
fn privileged_pid_1_ignores_sigterm_unless_it_handles_it() {
    let f = Fixture::new();
    // `sleep` as PID 1 has no handler for SIGTERM: the kernel drops it.
    let (mut ch03, container) = start(&f, &["--image", "busybox", "--", "sleep", "30"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(container as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ch03.try_wait().unwrap().is_none(),
        "PID 1 died of an unhandled SIGTERM"
    );
    // SIGKILL from the parent namespace is always delivered.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(container as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(ch03.wait().unwrap().code(), Some(137));

    // minidocker-init handles SIGTERM and forwards it to sleep, which dies:
    // 128 + 15. The signal goes to ch03, which proxies it, as docker run does.
    let (mut ch03, _) = start(&f, &["--image", "busybox", "--init", "--", "sleep", "30"]);
    let timeout = ch03.id();
    let ch03_pid = children(timeout)[0].0;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ch03_pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(ch03.wait().unwrap().code(), Some(143));
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
    std::thread::sleep(Duration::from_millis(300));
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
    let before = mount_points();
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
    assert_eq!(mount_points(), before, "the real host's mounts changed");
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
    let (mut ch03, container) = start(
        &f,
        &[
            "--image", "busybox", "--user", "nobody", "--", "sleep", "30",
        ],
    );
    // ch03 dies without cleaning up; its container dies with it (PDEATHSIG).
    let ch03_pid = children(ch03.id())[0].0;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ch03_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    ch03.wait().unwrap();
    eventually("the container gone", || {
        !Path::new(&format!("/proc/{container}")).exists()
    });
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
