//! Shared by chapter 04's integration tests, which run the `ch04` binary.

#![allow(dead_code)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use namespaces::pidfd::PidFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cgroups::hierarchy::Hierarchy;

pub const CH04: &str = env!("CARGO_BIN_EXE_ch04");

/// cgroups need root. Without it these tests fail — and say how to run
/// them — rather than pass without testing anything.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run sudo scripts/test.sh"
    );
}

/// A store with the offline busybox image in a temp dir.
pub struct Store {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Store {
    pub fn new() -> Store {
        Store::under("root")
    }

    /// A store at `RELATIVE` in a temp dir: `var/lib/minidocker-workshop`
    /// makes the temp dir a MINIDOCKER_RESET_PREFIX for scripts/reset.sh.
    pub fn under(relative: &str) -> Store {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(relative);
        let store = images::store::ImageStore::open(&root).unwrap();
        images::rootfs::import_busybox(&store).unwrap();
        Store { _dir: dir, root }
    }

    /// The temp dir the store is in.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// `ch04 --root ROOT run ARGS` under `timeout` (a hung container fails
    /// the test instead of hanging it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("timeout");
        command
            .args(["--kill-after=5", "60", CH04, "--root"])
            .arg(&self.root)
            .arg("run")
            .args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running ch04")
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The cgroup path ch04 printed ("cgroup: /minidocker/<id>").
pub fn cgroup_path(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("cgroup: "))
        .unwrap_or_else(|| panic!("no cgroup line in {stderr}"))
        .to_string()
}

/// Where a cgroup's `controller` files are, on this machine's version.
pub fn cgroup_dir(path: &str, controller: &str) -> PathBuf {
    match Hierarchy::detect().unwrap() {
        Hierarchy::V1 { controllers, .. } => {
            controllers[controller].join(path.trim_start_matches('/'))
        }
        Hierarchy::V2 { root } => root.join(path.trim_start_matches('/')),
    }
}

/// Whether any hierarchy still has the cgroup `path`.
pub fn cgroup_exists(path: &str) -> bool {
    match Hierarchy::detect().unwrap() {
        Hierarchy::V1 { controllers, .. } => controllers
            .values()
            .any(|mount| mount.join(path.trim_start_matches('/')).exists()),
        Hierarchy::V2 { root } => root.join(path.trim_start_matches('/')).exists(),
    }
}

pub fn is_v2() -> bool {
    matches!(Hierarchy::detect().unwrap(), Hierarchy::V2 { .. })
}

/// The number after `label` in ch04's stats lines ("oom:     1 killed…").
pub fn stat(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in {stderr}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// How long a wait may take before the test fails. It bounds a failure
/// only: no wait here ends because time passed while things go right.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Whether `fd` becomes readable within `timeout`.
fn readable(fd: &OwnedFd, timeout: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: one pollfd, alive for the call.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            -1 if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            -1 => panic!("poll: {}", std::io::Error::last_os_error()),
            n => return n > 0,
        }
    }
}

/// Calls `check` now, and again after each change inotify reports in
/// `paths` (a file created, written, renamed in or removed in a watched
/// directory; a watched file written), until it returns `Some`. `None`
/// after [`DEADLINE`]. A path that does not exist is not watched (a
/// directory that is gone has nothing more to report).
///
/// The watches are set before the first check, so a change between the
/// check and the wait is not lost: it wakes the wait.
pub fn watch_until<T>(paths: &[PathBuf], mut check: impl FnMut() -> Option<T>) -> Option<T> {
    // SAFETY: plain syscalls; the new fd is owned at once.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    assert!(
        fd >= 0,
        "inotify_init1: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd was just returned by inotify_init1 and nothing else owns it.
    let inotify = unsafe { OwnedFd::from_raw_fd(fd) };
    let mask = libc::IN_CREATE
        | libc::IN_MODIFY
        | libc::IN_CLOSE_WRITE
        | libc::IN_MOVED_TO
        | libc::IN_DELETE
        | libc::IN_DELETE_SELF
        | libc::IN_ATTRIB;
    for path in paths {
        let path = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and our inotify fd.
        unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), mask) };
    }
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !readable(&inotify, left) {
            return check();
        }
        // What changed does not matter: `check` looks again. Drained, so
        // that the next poll waits for the next change.
        let mut events = [0u8; 4096];
        // SAFETY: a buffer of the length given, on our (non-blocking) fd.
        while unsafe {
            libc::read(
                inotify.as_raw_fd(),
                events.as_mut_ptr().cast(),
                events.len(),
            )
        } > 0
        {}
    }
}

/// Calls `check` until it returns `Some`, or [`DEADLINE`] passes (`None`).
/// Only for a kernel state that announces no change (a v1 counter, the v1
/// freezer's state): anything that has an event waits on the event.
pub fn poll_until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        // The interval between two looks, not a wait for anything.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pidfd for the process `pid`: it becomes readable when the process
/// exits, whoever its parent is.
pub fn pidfd(pid: i32) -> PidFd {
    PidFd::open(pid).unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"))
}

/// Waits until the process of `pidfd` has exited. It has left its cgroup
/// by then: do_exit() calls cgroup_exit() before exit_notify(), which
/// wakes the pidfd's pollers.
pub fn wait_for_exit(pidfd: &PidFd, what: &str) {
    assert!(
        pidfd.wait_exit(DEADLINE).unwrap(),
        "{what} still runs after {DEADLINE:?}"
    );
}

/// The PIDs listed in a cgroup's `cgroup.procs`.
pub fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The parent of process `pid` (`PPid:` in /proc/PID/status).
pub fn parent_of(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no PPid in /proc/{pid}/status"))
}
