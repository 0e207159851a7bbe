//! Shared by chapter 04's integration tests, which run the `ch04` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
