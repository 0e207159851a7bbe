//! scripts/reset.sh cleans up after a crash: here, a snapshot left mounted
//! and a stale socket, in a private tree (MINIDOCKER_RESET_PREFIX) so the
//! machine's own workshop state is never touched.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ch02, ok, require_root};

fn mounted(point: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(point.to_str().unwrap()))
}

#[test]
fn privileged_reset_unmounts_leftover_snapshots() {
    require_root();
    let prefix = tempfile::tempdir().unwrap();
    let root = prefix.path().join("var/lib/minidocker-workshop");
    ok(ch02(&root, &["create-offline-images"]));
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("rootfs");
    // As if ch02 had crashed after mounting: the mount and its record stay.
    ok(ch02(&root, &["mount", "busybox", target.to_str().unwrap()]));
    assert!(mounted(&target));
    let run = prefix.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let stale = run.join("minidocker-ch01.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap()); // the file stays, nobody listens

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reset.sh");
    let out = Command::new(&script)
        .env("MINIDOCKER_RESET_PREFIX", prefix.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("unmounted snapshot {}", target.display())),
        "{text}"
    );
    assert!(text.contains("removed snapshot record"), "{text}");
    assert!(text.contains("removed stale socket"), "{text}");
    assert!(!mounted(&target) && !stale.exists());
    assert_eq!(
        std::fs::read_dir(root.join("snapshots")).unwrap().count(),
        0
    );
    // The images themselves stay: only --all removes data.
    assert!(ok(ch02(&root, &["images"])).contains("busybox"));

    let again = Command::new(&script)
        .env("MINIDOCKER_RESET_PREFIX", prefix.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), "nothing to clean\n");
}
