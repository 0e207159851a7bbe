//! The terminal sessions chapter 03's book page shows, recorded from real
//! runs of `ch03` (and `ch02`, for root filesystem copies) in a root shell,
//! with the ordinary tools (`ps`, `nsenter`, `ip`, `findmnt`) looking on.
//!
//! Each test drives one long-lived `bash`, as the reader's root shell is:
//! background jobs, `$!` and variables carry from one command to the next.
//! The session (`$ command` and its output, stderr merged as a terminal shows
//! it) gets placeholders for what changes from run to run — run IDs, PIDs,
//! namespace inode numbers, dates, temp paths — and is compared with
//! `book/src/transcripts/ch03-*.txt` (`UPDATE_TRANSCRIPTS=1 cargo test -p
//! namespaces --test transcripts` rewrites them). The store lives in a temp
//! dir and is shown as the real default, /var/lib/minidocker-workshop.
//!
//! A few commands are *hidden*: they run in the same shell but are not
//! shown, only to wait for what a reader waits for by typing slower (a
//! container that has started, an orphan that has exited).

mod common;

use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use common::{CH03, busybox_store, require_root, static_dir};
use images::store::WORKSHOP_ROOT;

/// One session at a time: the sessions start containers and read `ps`, and
/// a machine busy with another test's containers would make them slower
/// than the waits below allow for.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A root shell with `ch03` and `ch02` on its PATH, against a store of its own.
struct Session {
    shell: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// The store (`--root`), with the offline busybox image.
    root: tempfile::TempDir,
    /// The reader's scratch space: rootfs copies, markers, fifos.
    scratch: tempfile::TempDir,
    /// `ch03` and `ch02`: scripts that add `--root`.
    _bin: tempfile::TempDir,
    /// The session so far, as recorded (before placeholders).
    text: String,
    /// (literal, placeholder), applied before the generic rules.
    names: Vec<(String, String)>,
    /// (regex, replacement), applied after the generic rules.
    rules: Vec<(String, String)>,
    /// Host PIDs, shown as `<pid>`.
    pids: Vec<String>,
    /// Commands that undo what the session made on the host (a queue, a
    /// network namespace), run when it ends, failed or not.
    undo: Vec<String>,
    commands: usize,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Session {
    fn new() -> Session {
        require_root();
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let root = tempfile::tempdir().unwrap();
        busybox_store(root.path());
        let bin = tempfile::tempdir().unwrap();
        let ch02 = Path::new(CH03).with_file_name("ch02");
        assert!(
            ch02.is_file(),
            "no {}: build chapter 02 first (cargo build -p images): the sessions copy root filesystems with it",
            ch02.display()
        );
        for (name, binary) in [("ch03", Path::new(CH03)), ("ch02", ch02.as_path())] {
            let script = bin.path().join(name);
            let text = format!(
                "#!/bin/sh\nexec '{}' --root '{}' \"$@\"\n",
                binary.display(),
                root.path().display()
            );
            std::fs::write(&script, text).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let target = static_dir().parent().unwrap().to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut shell = Command::new("timeout")
            .args([
                "--kill-after=5",
                "300",
                "bash",
                "--norc",
                "--noprofile",
                "-s",
            ])
            .current_dir(&workspace)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    bin.path().display()
                ),
            )
            .env("HOME", "/root")
            .env("CARGO_TARGET_DIR", &target)
            .env("MINIDOCKER_STATIC_DIR", static_dir())
            // Stable across hosts: C messages and sorting, times in UTC.
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting bash");
        let input = shell.stdin.take().unwrap();
        let output = BufReader::new(shell.stdout.take().unwrap());
        let mut session = Session {
            shell,
            input,
            output,
            root,
            scratch: tempfile::tempdir().unwrap(),
            _bin: bin,
            text: String::new(),
            names: Vec::new(),
            rules: Vec::new(),
            pids: Vec::new(),
            undo: Vec::new(),
            commands: 0,
            _one_at_a_time: guard,
        };
        // The shell's own errors go where a terminal shows them: with the output.
        session.hidden("exec 2>&1");
        session
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn scratch(&self) -> PathBuf {
        self.scratch.path().to_path_buf()
    }

    /// Runs `line` in the shell: its output (stdout and stderr) and status.
    fn execute(&mut self, line: &str) -> (String, i32) {
        self.commands += 1;
        api::transcript::run_in_shell(&mut self.input, &mut self.output, self.commands, line)
    }

    /// Runs `line` and records it with its output; returns both.
    fn run(&mut self, line: &str) -> (String, i32) {
        let (out, status) = self.execute(line);
        self.text.push_str(&format!("$ {line}\n{out}"));
        (out, status)
    }

    /// Like [`Session::run`]; the command must succeed.
    fn ok(&mut self, line: &str) -> String {
        let (out, status) = self.run(line);
        assert_eq!(status, 0, "{line} failed:\n{out}");
        out
    }

    /// Like [`Session::run`]; the command must exit with `code`.
    fn fails(&mut self, line: &str, code: i32) -> String {
        let (out, status) = self.run(line);
        assert_eq!(status, code, "{line}:\n{out}");
        out
    }

    /// Records `line` with `shown` for its output: for output that is the
    /// host's own (its hostname), where a rule could replace too much.
    fn ok_shown_as(&mut self, line: &str, shown: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "{line} failed:\n{out}");
        self.text.push_str(&format!("$ {line}\n{shown}"));
        out
    }

    /// Runs `line` without recording it; it must succeed.
    fn hidden(&mut self, line: &str) -> String {
        let (out, status) = self.execute(line);
        assert_eq!(status, 0, "(hidden) {line} failed:\n{out}");
        out
    }

    /// Waits (hidden, up to 20 s) until the shell condition `condition` holds.
    fn wait_until(&mut self, condition: &str) {
        let (out, status) = self.execute(&format!(
            "for _ in $(seq 200); do {condition} && break; sleep 0.1; done; {condition}"
        ));
        assert_eq!(status, 0, "never happened: {condition}\n{out}");
    }

    /// Runs `command` (hidden) and shows every PID it prints as `<pid>`
    /// (see [`replace_pids`]); returns them.
    fn name_pids(&mut self, command: &str) -> Vec<String> {
        let pids: Vec<String> = self
            .hidden(command)
            .split_whitespace()
            .map(String::from)
            .collect();
        assert!(!pids.is_empty(), "{command} printed no PID");
        for pid in &pids {
            assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{command}: {pid}");
        }
        self.pids.extend(pids.iter().cloned());
        pids
    }

    /// The session with placeholders for what varies.
    fn show(&self) -> String {
        let mut text = self.text.clone();
        let root = self.root().display().to_string();
        let ch02 = Path::new(CH03).with_file_name("ch02");
        // What the wrapper scripts add: the reader runs the plain commands.
        text = text.replace(&format!("{CH03} --root {root}"), "ch03");
        text = text.replace(&format!("{} --root {root}", ch02.display()), "ch02");
        text = text.replace(&root, WORKSHOP_ROOT);
        for (literal, placeholder) in &self.names {
            text = text.replace(literal, placeholder);
        }
        let text = api::transcript::normalize(&text);
        let mut rules: Vec<(String, String)> = vec![
            // The snapshot under a run: ch02's snapshot IDs.
            (
                r"snapshots/<short-id>/".into(),
                "snapshots/<snapshot>/".into(),
            ),
            // overlay2-style short link names: 26 of [A-Z2-7], random per layer.
            (r"\b[A-Z2-7]{26}\b".into(), "<link>".into()),
            // Dates of files made now (`ls -l`); busybox and coreutils.
            (
                r"\b[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d\b".into(),
                "<date>".into(),
            ),
            // A PID that ch03 prints.
            (r"\(pid \d+\)".into(), "(pid <pid>)".into()),
            // The host's device and filesystem under the bind-mounted /etc files.
            (
                r"(?m)^\S+ on (/etc/(?:hostname|hosts|resolv\.conf)) type \S+ \(.*\)$".into(),
                "<device> on $1 type <fs> (<options>)".into(),
            ),
        ];
        // Namespace inodes: the host's, or a new one.
        for (kind, inode) in host_namespaces() {
            rules.push((format!(r"\b{kind}:\[{inode}\]"), format!("{kind}:[<host>]")));
            if kind == "pid" || kind == "time" {
                rules.push((
                    format!(r"\b{kind}_for_children:\[{inode}\]"),
                    format!("{kind}_for_children:[<host>]"),
                ));
            }
        }
        rules.push((r"\b(\w+):\[\d+\]".into(), "$1:[<new>]".into()));
        rules.extend(self.rules.iter().cloned());
        let pairs: Vec<(&str, &str)> = rules
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let text = api::transcript::replace(&text, &pairs);
        replace_pids(&text, &self.pids)
    }

    fn check(&self, name: &str) {
        api::transcript::check(name, &self.show());
    }
}

/// Whatever a test leaves running or mounted goes with its session: a
/// failed test must not leave a container or a mount behind.
impl Drop for Session {
    fn drop(&mut self) {
        let mut script = String::from("kill -KILL $(jobs -p) 2>/dev/null; wait\n");
        for command in &self.undo {
            script.push_str(&format!("{command} >/dev/null 2>&1\n"));
        }
        script.push_str("exit\n");
        let _ = self.input.write_all(script.as_bytes());
        let _ = self.input.flush();
        let _ = self.shell.wait();
        if let Ok(store) = images::store::ImageStore::open(self.root.path()) {
            for snapshot in images::snapshot::list(&store).unwrap_or_default() {
                let _ = images::snapshot::unmount(&store, &snapshot.target);
            }
        }
    }
}

/// (kind, inode) of this process's namespaces: the host's.
fn host_namespaces() -> Vec<(String, String)> {
    ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
        .iter()
        .filter_map(|kind| {
            let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).ok()?;
            let link = link.to_string_lossy().into_owned();
            let inode = link.split_once(":[")?.1.trim_end_matches(']').to_string();
            Some((kind.to_string(), inode))
        })
        .collect()
}

/// Host PIDs as `<pid>`, where the sessions print them: first on a line
/// (the PID column of `ps`) or on a line of numbers only (`echo $pid`).
/// Elsewhere a number is left alone, even if it equals a PID (`sleep 1000`
/// when PID 1000 exists). In the `ps` column, the placeholder is
/// right-aligned as `ps` aligns its 5-wide column, so a 4-digit and a
/// 5-digit PID show the same.
fn replace_pids(text: &str, pids: &[String]) -> String {
    let is_pid = |word: &str| pids.iter().any(|p| p == word);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let words: Vec<&str> = body.split_whitespace().collect();
        if !words.is_empty() && words.iter().all(|w| w.bytes().all(|b| b.is_ascii_digit())) {
            let shown: Vec<&str> = words
                .iter()
                .map(|w| if is_pid(w) { "<pid>" } else { w })
                .collect();
            out.push_str(&shown.join(" "));
        } else if let Some(first) = words.first().filter(|w| is_pid(w)) {
            let start = body.find(first).unwrap_or(0);
            let width = start + first.len();
            out.push_str(&" ".repeat(width.saturating_sub(5)));
            out.push_str("<pid>");
            out.push_str(&body[width..]);
        } else {
            out.push_str(body);
        }
        out.push_str(end);
    }
    out
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Shows the exit status of the command (or job) before it.
const AND_STATUS: &str = "echo \"exit $?\"";

#[test]
fn privileged_transcript_first_run() {
    let mut s = Session::new();
    let out = s.ok("ch03 run --image busybox -- sh -c 'echo $$; hostname; ps; ip link'");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the shell is PID 1: {out}");
    assert_eq!(lines[1].len(), 12, "the run ID's first 12 digits: {out}");
    assert_ne!(lines[1], host_name());
    let processes: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(" root "))
        .collect();
    assert_eq!(processes.len(), 2, "sh and ps, nothing of the host: {out}");
    assert!(processes[0].trim_start().starts_with("1 root"), "{out}");
    let links: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(": <"))
        .collect();
    assert_eq!(
        links,
        ["1: lo: <LOOPBACK> mtu 65536 qdisc noop qlen 1000"],
        "only a loopback, down: {out}"
    );
    let host = s.ok_shown_as("hostname", "<host>\n");
    assert_eq!(host.trim(), host_name());

    let mounts = s.ok("ch03 run --image busybox -- mount");
    let points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(" on ").nth(1)?.split(" type ").next())
        .collect();
    assert_eq!(
        points[..10],
        [
            "/",
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf"
        ],
        "{mounts}"
    );
    assert!(mounts.contains("sysfs on /sys type sysfs (ro,"), "{mounts}");
    assert!(
        mounts.contains("proc on /proc/sys type proc (ro,"),
        "{mounts}"
    );
    assert!(
        !mounts.contains(" on /home") && !mounts.contains(" on /boot"),
        "nothing else of the host: {mounts}"
    );

    let dev = s.ok("ch03 run --image busybox -- ls -l /dev");
    for node in ["1,   3", "1,   5", "1,   7", "1,   8", "1,   9", "5,   0"] {
        assert!(dev.contains(node), "no device {node}: {dev}");
    }
    assert!(dev.contains("ptmx -> pts/ptmx"), "{dev}");
    assert_eq!(
        dev.lines().filter(|l| l.starts_with('c')).count(),
        6,
        "{dev}"
    );
    let masked = s.fails(
        "ch03 run --image busybox -- sh -c 'wc -c < /proc/keys; ls /sys/firmware | wc -l; echo 3 > /proc/sys/vm/drop_caches'",
        1,
    );
    assert!(
        masked.starts_with("0\n0\n") && masked.contains("Read-only file system"),
        "{masked}"
    );
    s.check("ch03-first-run.txt");
}

#[test]
fn privileged_transcript_processes() {
    let mut s = Session::new();
    s.ok("ch03 run --image busybox --hostname box -- sh -c 'sleep 1000 & sleep 1000 & wait' &");
    // The container's PID 1 has started, and has its two children.
    s.wait_until("[ \"$(pgrep -x sleep -P \"$(pgrep -P $!)\" | wc -l)\" = 2 ]");
    // `$!` changes with every process substitution (`<(…)` below): keep it.
    s.ok("cli=$!; pid=$(pgrep -P $cli)");
    let cli = s.name_pids("echo $cli").remove(0);
    let pid = s.name_pids("echo $pid").remove(0);
    s.name_pids("pgrep -P $pid");
    s.ok("echo $cli $pid");
    let forest = s.ok("ps --forest -o pid,stat,args -p $cli --ppid $cli,$pid");
    let rows: Vec<&str> = forest.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{forest}");
    assert!(rows[0].trim_start().starts_with(&cli), "{forest}");
    assert!(
        rows[0].contains(" run --image busybox --hostname box -- sh -c"),
        "{forest}"
    );
    assert!(
        rows[1].trim_start().starts_with(&pid) && rows[1].contains("\\_ sh -c"),
        "{forest}"
    );
    assert!(
        rows[2].contains("\\_ sleep 1000") && rows[3].contains("\\_ sleep 1000"),
        "{forest}"
    );

    let ns = s.ok("paste <(readlink /proc/$$/ns/*) <(readlink /proc/$pid/ns/*)");
    for line in ns.lines() {
        let (host, container) = line.split_once('\t').unwrap();
        let kind = host.split(':').next().unwrap();
        let shared = matches!(kind, "user" | "time" | "time_for_children");
        assert_eq!(host == container, shared, "{kind}: {ns}");
    }
    let name = s.ok("nsenter --target $pid --all hostname");
    assert_eq!(name, "box\n");
    let inside = s.ok("nsenter --target $pid --all ps -o pid,ppid,comm");
    let inside: Vec<Vec<&str>> = inside
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        inside[..3],
        [
            vec!["1", "0", "sh"],
            vec!["2", "1", "sleep"],
            vec!["3", "1", "sleep"],
        ]
    );
    // ps's parent, nsenter, is outside the namespace: it shows as 0.
    assert_eq!(inside[3][1..], ["0", "ps"], "{inside:?}");
    let root = s.ok("ls -x /proc/$pid/root");
    let root: Vec<&str> = root.split_whitespace().collect();
    assert!(root.contains(&"bin") && !root.contains(&"boot"), "{root:?}");
    let points = s.ok("awk '{print $5}' /proc/$pid/mountinfo | head -8");
    assert!(points.starts_with("/\n/proc\n/dev\n"), "{points}");
    // The store's real path: shown as /var/lib/minidocker-workshop.
    let store = s.root().display().to_string();
    let host = s.ok(&format!("findmnt -rn -o TARGET | grep {store}"));
    let host: Vec<&str> = host.lines().collect();
    assert_eq!(host.len(), 1, "the rootfs only: {host:?}");
    assert!(host[0].ends_with("/rootfs"), "{host:?}");
    let out = s.ok(&format!("kill -KILL $pid; wait $cli; {AND_STATUS}"));
    assert_eq!(out, "exit 137\n");
    s.check("ch03-processes.txt");
}

#[test]
fn privileged_transcript_namespaces() {
    let mut s = Session::new();
    // uts
    let out = s.ok(
        "ch03 run --image busybox --hostname box -- sh -c 'hostname; cat /etc/hostname /etc/hosts'",
    );
    assert!(out.starts_with("box\nbox\n127.0.0.1\tlocalhost\n"), "{out}");
    assert!(out.ends_with("127.0.1.1\tbox\n"), "{out}");
    let host = s.ok_shown_as("hostname", "<host>\n");
    assert_eq!(host.trim(), host_name());
    // ipc: a queue made on the host is not in the container's namespace.
    let made = s.ok("ipcmk -Q");
    let id = made.trim().rsplit(' ').next().unwrap().to_string();
    s.undo.push(format!("ipcrm -q {id}"));
    s.rules.push((
        format!(r"Message queue id: {id}\b"),
        "Message queue id: <n>".into(),
    ));
    s.rules
        .push((format!(r"ipcrm -q {id}\b"), "ipcrm -q <n>".into()));
    let host_view = s.hidden(&format!("ipcs -q -i {id}"));
    assert!(host_view.contains(&format!("msqid={id}")), "{host_view}");
    let out = s.ok("ch03 run --image busybox -- cat /proc/sysvipc/msg");
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    assert!(out.contains("msqid"), "{out}");
    s.ok(&format!("ipcrm -q {id}"));
    // net: a loopback, down; or a namespace made beforehand, joined.
    let out = s.fails(
        "ch03 run --image busybox -- sh -c 'ip link; ping -c 1 127.0.0.1'",
        1,
    );
    assert!(
        out.contains("1: lo: <LOOPBACK>") && !out.contains("2: "),
        "{out}"
    );
    assert!(out.contains("Network is unreachable"), "{out}");
    let name = format!("ch03-book-{}", std::process::id());
    s.names.push((name.clone(), "demo".into()));
    // The veth pair's random MAC addresses.
    s.rules.push((
        r"link/ether ([0-9a-f]{2}:){5}[0-9a-f]{2}".into(),
        "link/ether <mac>".into(),
    ));
    s.ok(&format!("ip netns add {name}"));
    s.undo.push(format!("ip netns delete {name}"));
    let made = s.run(&format!(
        "ip -n {name} link add veth-a type veth peer name veth-b"
    ));
    let joined = s.run(&format!(
        "ch03 run --image busybox --join net=/run/netns/{name} -- ip link"
    ));
    let deleted = s.run(&format!("ip netns delete {name}"));
    assert_eq!(
        (made.1, joined.1, deleted.1),
        (0, 0, 0),
        "{made:?} {joined:?} {deleted:?}"
    );
    assert!(
        joined.0.contains("veth-a@veth-b") && joined.0.contains("veth-b@veth-a"),
        "{}",
        joined.0
    );
    // cgroup: the cgroup it started in is the root of what it sees.
    let inside = s.ok("ch03 run --image busybox -- cat /proc/self/cgroup");
    assert!(
        inside.lines().all(|l| l.ends_with(":/")),
        "every cgroup is the root inside: {inside}"
    );
    let host = s.ok("cat /proc/$$/cgroup");
    for line in host.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap();
        if path != "/" {
            s.names
                .push((format!(":{path}\n"), ":<the shell's cgroup>\n".into()));
        }
    }
    s.check("ch03-namespaces.txt");
}

#[test]
fn privileged_transcript_capabilities_and_users() {
    let mut s = Session::new();
    let out = s.ok("ch03 run --image busybox -- grep Cap /proc/self/status");
    for (set, value) in [
        ("CapInh", "0000000000000000"),
        ("CapPrm", "00000000a80425fb"),
        ("CapEff", "00000000a80425fb"),
        ("CapBnd", "00000000a80425fb"),
        ("CapAmb", "0000000000000000"),
    ] {
        assert!(out.contains(&format!("{set}:\t{value}\n")), "{set}: {out}");
    }
    let out = s.ok(
        "ch03 run --image busybox -- sh -c 'hostname other; mount -t tmpfs none /tmp; ip link set lo up; id'",
    );
    assert!(
        out.contains("sethostname: Operation not permitted"),
        "{out}"
    );
    assert!(out.contains("mount: permission denied"), "{out}");
    assert!(
        out.contains("ip: SIOCSIFFLAGS: Operation not permitted"),
        "{out}"
    );
    assert!(out.contains("uid=0(root) gid=0(root)"), "{out}");
    let out = s.ok(
        "ch03 run --image busybox --user nobody -- sh -c 'id; grep -E \"^Cap(Prm|Eff|Bnd)\" /proc/self/status'",
    );
    assert!(out.starts_with("uid=65534(nobody) gid=65534"), "{out}");
    assert!(out.contains("CapPrm:\t0000000000000000"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    let out = s.ok("ch03 run --image busybox -- grep nobody /etc/passwd");
    assert!(out.starts_with("nobody:x:65534:65534:"), "{out}");
    let out = s.ok("ch03 run --image busybox --user 1000:1000 -- id");
    assert_eq!(out, "uid=1000 gid=1000\n");
    let out = s.fails("ch03 run --image busybox --user alice -- id", 125);
    assert_eq!(
        out,
        "ch03: --user alice: no user \"alice\" in the image's /etc/passwd\n"
    );
    let out =
        s.ok("ch03 run --image busybox --no-new-privileges -- grep NoNewPrivs /proc/self/status");
    assert_eq!(out, "NoNewPrivs:\t1\n");
    s.check("ch03-capabilities.txt");
}

#[test]
fn privileged_transcript_user_namespace() {
    let mut s = Session::new();
    let rootfs = s.scratch().join("rootfs");
    s.ok(&format!("rootfs={}", rootfs.display()));
    s.ok("ch02 mount --snapshotter copy busybox $rootfs");
    s.ok("chown -R 100000:100000 $rootfs");
    let out = s.ok(
        "ch03 run --rootfs $rootfs --userns -- sh -c 'id; cat /proc/self/uid_map /proc/self/gid_map; grep CapEff /proc/self/status; touch /made-by-root; ls -ln /made-by-root /dev/null'",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("uid=0(root) gid=0(root)"), "{out}");
    for map in &lines[1..3] {
        assert_eq!(
            map.split_whitespace().collect::<Vec<_>>(),
            ["0", "100000", "65536"]
        );
    }
    assert_eq!(lines[3], "CapEff:\t00000000a80425fb", "{out}");
    // The host's /dev/null, bound: its owner, host root, is not mapped.
    let owners = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .skip(2)
            .take(2)
            .map(String::from)
            .collect()
    };
    assert!(lines[4].ends_with("/dev/null"), "{out}");
    assert_eq!(owners(lines[4]), ["65534", "65534"], "{out}");
    assert!(lines[5].ends_with("/made-by-root"), "{out}");
    assert_eq!(owners(lines[5]), ["0", "0"], "{out}");
    let out = s.ok("ls -ln $rootfs/made-by-root");
    assert_eq!(owners(&out), ["100000", "100000"], "{out}");
    let out = s.fails(
        "ch03 run --rootfs $rootfs --userns -- mknod /dev/mine c 1 3",
        1,
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    s.ok("ch03 run --rootfs $rootfs --userns -- sleep 1000 &");
    s.wait_until("[ \"$(cat /proc/$(pgrep -P $!)/comm 2>/dev/null)\" = sleep ]");
    s.name_pids("echo $!; pgrep -P $!");
    let out = s.ok("ps -o pid,user,args -p $(pgrep -P $!)");
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[1..], ["100000", "sleep", "1000"], "{out}");
    let out = s.ok(&format!("kill -KILL $(pgrep -P $!); wait $!; {AND_STATUS}"));
    assert_eq!(out, "exit 137\n");
    let out = s.fails("ch03 run --image busybox --userns -- id", 125);
    assert!(out.starts_with("ch03: --userns needs --rootfs"), "{out}");
    s.ok("ch02 umount $rootfs");
    s.check("ch03-userns.txt");
}

#[test]
fn privileged_transcript_chroot_escape() {
    let mut s = Session::new();
    let jail = s.scratch().join("jail");
    let marker = s.scratch().join("only-on-the-host");
    s.ok(&format!("jail={}", jail.display()));
    s.ok("ch02 mount --snapshotter copy busybox $jail");
    s.ok("cp \"${CARGO_TARGET_DIR:-target}\"/static/chroot-escape $jail/bin/");
    s.ok(&format!("marker={}", marker.display()));
    s.ok("echo 'a file of the host' > $marker");
    let out = s.fails("ch03 run --rootfs $jail -- ls $marker", 1);
    assert!(out.contains("No such file or directory"), "{out}");
    let out = s.ok("ch03 run --rootfs $jail --switch chroot -- chroot-escape $marker");
    assert!(out.starts_with("escaped: "), "{out}");
    let out = s.fails("ch03 run --rootfs $jail -- chroot-escape $marker", 1);
    assert!(out.starts_with("contained: "), "{out}");
    s.ok("ch02 umount $jail");
    s.check("ch03-chroot-escape.txt");
}

#[test]
fn privileged_transcript_propagation() {
    let mut s = Session::new();
    let before = common::mount_points();
    let out = s.ok("ch03 propagation-demo");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("without MS_PRIVATE") && lines[0].ends_with("LEAKED"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("with MS_PRIVATE") && lines[1].ends_with("contained"),
        "{out}"
    );
    assert_eq!(
        common::mount_points(),
        before,
        "the real host's mounts changed"
    );
    s.rules
        .push((r"propagation-\d+".into(), "propagation-<pid>".into()));
    s.check("ch03-propagation.txt");
}

#[test]
fn privileged_transcript_pid_1() {
    let mut s = Session::new();
    // Signals: no handler, no delivery.
    s.ok("ch03 run --image busybox -- sleep 1000 &");
    s.wait_until("[ \"$(cat /proc/$(pgrep -P $!)/comm 2>/dev/null)\" = sleep ]");
    s.ok("pid=$(pgrep -P $!)");
    s.name_pids("echo $pid");
    let out = s.ok("grep -E '^Sig(Blk|Cgt)' /proc/$pid/status");
    assert_eq!(
        out,
        "SigBlk:\t0000000000000000\nSigCgt:\t0000000000000000\n"
    );
    // The kernel drops the signal when it is sent: right after kill(1),
    // sleep is still there, and SIGKILL (137), not SIGTERM (143), ends it.
    s.ok("kill -TERM $pid");
    let out = s.ok("ps -o pid,stat,args -p $pid");
    assert!(out.contains("sleep 1000"), "still there: {out}");
    let out = s.ok(&format!("kill -KILL $pid; wait $!; {AND_STATUS}"));
    assert_eq!(out, "exit 137\n");
    let out = s.ok("ch03 run --image busybox -- sh -c 'kill -KILL $$; echo still here'");
    assert_eq!(out, "still here\n");

    // With --init: minidocker-init blocks every signal and takes them with
    // sigwait (a blocked signal is queued, never dropped), and forwards them.
    s.ok("ch03 run --image busybox --init -- sleep 1000 &");
    s.wait_until("pgrep -x sleep -P \"$(pgrep -P $!)\" >/dev/null");
    s.ok("pid=$(pgrep -P $!)");
    s.name_pids("echo $pid; pgrep -P $pid");
    let out = s.ok("ps --forest -o pid,stat,args -p $pid --ppid $pid");
    assert!(
        out.contains("/sbin/minidocker-init -- sleep 1000") && out.contains("\\_ sleep 1000"),
        "{out}"
    );
    let out = s.ok(&format!("kill -TERM $!; wait $!; {AND_STATUS}"));
    assert_eq!(out, "exit 143\n");

    // Zombies: an orphan re-parented to a PID 1 that never waits. The
    // subshell starts `sleep 1` and exits; the shell execs `sleep 1000`
    // within milliseconds, long before the orphan ends. (An orphan that
    // ended before the exec could be reaped by the shell's own wait.) The
    // waits are exact: for the zombie, or, under --init, for sleep 1000 to
    // be PID 1's only child — the orphan was its child before sleep ran.
    let script = "'(sleep 1 &); exec sleep 1000'";
    s.ok(&format!("ch03 run --image busybox -- sh -c {script} &"));
    s.wait_until("ps -o stat= --ppid \"$(pgrep -x sleep -P $!)\" | grep -q Z");
    s.ok("pid=$(pgrep -P $!)");
    s.name_pids("echo $pid; pgrep -P $pid");
    let out = s.ok("ps --forest -o pid,stat,args -p $pid --ppid $pid");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].contains(" S    sleep 1000"), "{out}");
    assert!(rows[1].contains(" Z     \\_ [sleep] <defunct>"), "{out}");
    let out = s.ok(&format!("kill -KILL $pid; wait $!; {AND_STATUS}"));
    assert_eq!(out, "exit 137\n");
    // The same under minidocker-init: the orphan is re-parented to it, and reaped.
    s.ok(&format!(
        "ch03 run --image busybox --init -- sh -c {script} &"
    ));
    s.wait_until("[ \"$(ps -o comm= --ppid \"$(pgrep -P $!)\")\" = sleep ]");
    s.ok("pid=$(pgrep -P $!)");
    let out = s.ok("ps --forest -o pid,stat,args -p $pid --ppid $pid");
    s.name_pids("echo $pid; pgrep -P $pid");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "the orphan was reaped: {out}");
    assert!(rows[0].contains("/sbin/minidocker-init -- sh -c"), "{out}");
    assert!(rows[1].contains(" S     \\_ sleep 1000"), "{out}");
    let out = s.ok(&format!("kill -TERM $!; wait $!; {AND_STATUS}"));
    assert_eq!(out, "exit 143\n");
    s.check("ch03-pid-1.txt");
}

#[test]
fn privileged_transcript_exit_codes() {
    let mut s = Session::new();
    let out = s.ok(&format!(
        "ch03 run --image busybox -- sh -c 'exit 3'; {AND_STATUS}"
    ));
    assert_eq!(out, "exit 3\n");
    let out = s.ok(&format!(
        "ch03 run --image busybox -- no-such-command; {AND_STATUS}"
    ));
    assert_eq!(
        out,
        "ch03: exec: \"no-such-command\": executable file not found in $PATH\nexit 127\n"
    );
    let out = s.ok(&format!(
        "ch03 run --image busybox -- /etc/passwd; {AND_STATUS}"
    ));
    assert_eq!(
        out,
        "ch03: exec: \"/etc/passwd\": permission denied\nexit 126\n"
    );
    let out = s.ok(&format!(
        "ch03 run --image busybox --init -- sh -c 'kill -KILL $$'; {AND_STATUS}"
    ));
    assert_eq!(out, "exit 137\n");
    let out = s.ok(&format!(
        "ch03 run --image nosuchimage -- true; {AND_STATUS}"
    ));
    assert!(
        out.starts_with("ch03: ") && out.ends_with("\nexit 125\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = s.ok(&format!(
        "ch03 run --image busybox --ulimit nofile=lots -- true; {AND_STATUS}"
    ));
    assert!(
        out.contains("use NAME=SOFT[:HARD]") && out.ends_with("\nexit 125\n"),
        "{out}"
    );
    s.check("ch03-exit-codes.txt");
}

#[test]
fn privileged_transcript_exec_fifo() {
    let mut s = Session::new();
    let fifo = s.scratch().join("exec.fifo");
    s.ok(&format!("fifo={}", fifo.display()));
    // The message comes from the background job: wait for it before the
    // next command, as a reader would see it before typing one.
    let line =
        "ch03 run --image busybox --exec-fifo $fifo -- echo 'hello from after the barrier' &";
    let (out, status) = s.execute(line);
    assert_eq!(status, 0, "{out}");
    let mut shown = out;
    for _ in 0..200 {
        if shown.contains("waits before execve") {
            break;
        }
        let (more, _) = s.execute("sleep 0.1");
        shown.push_str(&more);
    }
    assert!(shown.contains("waits before execve"), "{shown}");
    s.text.push_str(&format!("$ {line}\n{shown}"));
    s.name_pids("echo $!; pgrep -P $!");
    let out = s.ok("ps -o pid,args -p $(pgrep -P $!)");
    assert!(
        out.contains(" run --image busybox --exec-fifo"),
        "not yet execve'd: {out}"
    );
    let out = s.ok("said=$(cat $fifo); wait $!; echo \"the fifo said: $said\"");
    assert_eq!(out, "hello from after the barrier\nthe fifo said: 0\n");
    let out = s.ok("ls $fifo 2>&1 || true");
    assert!(out.contains("No such file or directory"), "{out}");
    s.check("ch03-exec-fifo.txt");
}
