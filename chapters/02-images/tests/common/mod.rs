//! Shared by chapter 02's integration tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const CH02: &str = env!("CARGO_BIN_EXE_ch02");

/// Tests that mount, mknod or chown need root. Without it they fail — and
/// say how to run them — rather than pass without testing anything.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run sudo scripts/test.sh"
    );
}

/// Runs `ch02 --root ROOT ARGS`, with the static binaries from
/// `target/static` (scripts/build.sh makes them; the tests build them too).
pub fn ch02(root: &Path, args: &[&str]) -> Output {
    Command::new(CH02)
        .arg("--root")
        .arg(root)
        .args(args)
        .env("MINIDOCKER_STATIC_DIR", static_dir())
        .output()
        .expect("running ch02")
}

pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\nstdout: {}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `target/static/`, where scripts/build.sh puts the static `hello`
/// (scripts/test.sh runs it before the tests).
pub fn static_dir() -> std::path::PathBuf {
    let exe = Path::new(CH02);
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("static");
    assert!(
        dir.join("hello").is_file(),
        "no static hello in {}: run scripts/build.sh --static-only",
        dir.display()
    );
    dir
}

/// A layer tar with regular files (`path`, contents) and, for a path
/// ending in `/`, directories.
pub fn layer_tar(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in entries {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder
                .append_data(&mut header, path, std::io::empty())
                .unwrap();
        } else {
            header.set_mode(0o644);
            header.set_size(contents.len() as u64);
            builder
                .append_data(&mut header, path, contents.as_bytes())
                .unwrap();
        }
    }
    builder.into_inner().unwrap()
}
