//! Bundles from `minirunc spec` run under runc, the reference runtime: the
//! config.json we write is one runc understands, with Docker's defaults.

use std::fs;
use std::path::Path;
use std::process::Command;

mod common;

use common::{MINIRUNC, SpecBy, busybox_bundle, edit_config, require_root, require_runc};

/// A bundle: `minirunc spec`'s config.json, edited as a reader would, and
/// the offline busybox image's files in rootfs/.
fn bundle(dir: &Path, args: &[&str]) {
    busybox_bundle(dir, SpecBy::Minirunc, args);
    edit_config(dir, |config| config["hostname"] = "bundle".into());
}

#[test]
fn privileged_runc_runs_a_minirunc_spec_bundle() {
    require_root();
    require_runc();
    let dir = tempfile::tempdir().unwrap();
    bundle(
        dir.path(),
        &[
            "sh",
            "-c",
            "echo pid=$$; hostname; grep -E '^Cap(Eff|Bnd)' /proc/self/status; cat /proc/kcore | wc -c; ls /sys/fs/cgroup | head -1",
        ],
    );
    let id = format!("minirunc-interop-{}", std::process::id());
    let out = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(dir.path())
        .arg(&id)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "runc: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["pid=1", "bundle"], "{text}");
    // Docker's 14 capabilities, as chapter 03 sets them.
    assert!(text.contains("CapEff:\t00000000a80425fb"), "{text}");
    assert!(text.contains("CapBnd:\t00000000a80425fb"), "{text}");
    // runc applied the masks and mounted the cgroup filesystem.
    if Path::new("/proc/kcore").exists() {
        assert_eq!(lines[4].trim(), "0", "{text}");
    }
    assert!(
        !lines.last().unwrap().is_empty(),
        "/sys/fs/cgroup is empty: {text}"
    );
}

#[test]
fn spec_refuses_to_overwrite_a_config() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.json"), "{}").unwrap();
    let out = Command::new(MINIRUNC)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exists. Remove it first"), "{err}");
    assert_eq!(
        fs::read_to_string(dir.path().join("config.json")).unwrap(),
        "{}"
    );
}

#[test]
fn features_has_runcs_shape_and_names_what_minirunc_does() {
    let out = Command::new(MINIRUNC).arg("features").output().unwrap();
    assert!(out.status.success());
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
    ] {
        assert!(ours.get(key).is_some(), "no {key} in {ours:#}");
    }
    let has =
        |list: &serde_json::Value, name: &str| list.as_array().unwrap().iter().any(|v| v == name);
    assert!(has(&ours["hooks"], "createContainer"));
    assert!(has(&ours["mountOptions"], "rbind") && has(&ours["mountOptions"], "rslave"));
    assert!(has(&ours["linux"]["namespaces"], "cgroup"));
    assert!(has(&ours["linux"]["capabilities"], "CAP_SYS_ADMIN"));
    assert!(has(&ours["linux"]["seccomp"]["actions"], "SCMP_ACT_ERRNO"));
    assert_eq!(ours["linux"]["cgroup"]["systemd"], false);
    // runc answers the same question in the same shape.
    if let Ok(out) = Command::new("runc").arg("features").output() {
        if out.status.success() {
            let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for key in ["hooks", "mountOptions", "linux"] {
                assert!(theirs.get(key).is_some(), "runc has no {key}");
            }
        }
    }
}
