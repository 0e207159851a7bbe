//! Shared by chapter 03's integration tests. They run the `ch03` binary:
//! forking inside this multi-threaded test process could deadlock.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const CH03: &str = env!("CARGO_BIN_EXE_ch03");

/// Namespaces, mounts and pivot_root need root. Without it these tests fail
/// — and say how to run them — rather than pass without testing anything.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run sudo scripts/test.sh"
    );
}

/// `target/static/`, where scripts/build.sh puts minidocker-init and
/// chroot-escape (scripts/test.sh builds them before the tests).
pub fn static_dir() -> PathBuf {
    let dir = Path::new(CH03)
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("static");
    for name in ["minidocker-init", "chroot-escape"] {
        assert!(
            dir.join(name).is_file(),
            "no static {name} in {}: run scripts/build.sh --static-only",
            dir.display()
        );
    }
    dir
}

/// A command for `ch03 --root ROOT ARGS`, under `timeout` so a container
/// that never exits fails the test instead of hanging it.
pub fn ch03_command(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=5", "60", CH03, "--root"])
        .arg(root)
        .args(args)
        .env("MINIDOCKER_STATIC_DIR", static_dir());
    command
}

pub fn ch03(root: &Path, args: &[&str]) -> Output {
    ch03_command(root, args).output().expect("running ch03")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a zero exit status and returns stdout.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {}",
        output.status.code(),
        stderr(&output),
        stdout(&output)
    );
    stdout(&output)
}

/// A store under `root` with the offline busybox image, as `ch02
/// create-offline-images` makes it.
pub fn busybox_store(root: &Path) {
    let store = images::store::ImageStore::open(root).unwrap();
    images::rootfs::import_busybox(&store).unwrap();
}

/// A plain directory with busybox in it, owned by root.
pub fn busybox_rootfs(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let busybox = images::rootfs::busybox_path().expect("busybox-static is installed");
    let mut layer = Vec::new();
    images::rootfs::write_busybox_layer(&busybox, &mut layer).unwrap();
    let mut archive = tar::Archive::new(layer.as_slice());
    archive.set_preserve_permissions(true);
    archive.unpack(dir).unwrap();
}

/// The mount points of this process's mount namespace (the host's).
pub fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}
