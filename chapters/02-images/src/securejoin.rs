//! Paths inside a root directory that no path can leave: a Dockerfile's
//! context, a container's rootfs before the switch. Named after Go's
//! filepath-securejoin, which runc and moby use for the same job.
//!
//! A path string that looks inside can still lead out: `..` climbs above
//! the root, and a symlink (`passwd -> /etc/passwd`, `up -> ../..`) is
//! followed by the kernel from the *host's* root. So the path is walked one
//! component at a time, each link read and followed as if the root were `/`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::bail;

// ANCHOR: resolve_in_root
/// Follows `relative` inside `root` the way a chroot would: `..` stops at
/// the root and a symlink's target is read as relative to the root, so no
/// path — a context file that links to /etc/passwd included — leads out.
pub fn resolve_in_root(root: &Path, relative: &str) -> anyhow::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<String> = relative.split('/').rev().map(str::to_string).collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&part);
        let meta = fs::symlink_metadata(root.join(&candidate));
        if meta.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
            links += 1;
            if links > 40 {
                bail!("{relative}: too many levels of symbolic links");
            }
            let target = fs::read_link(root.join(&candidate))?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                resolved = PathBuf::new();
            }
            pending.extend(target.split('/').rev().map(str::to_string));
        } else {
            resolved = candidate;
        }
    }
    Ok(root.join(resolved))
}
// ANCHOR_END: resolve_in_root

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn dot_dot_and_links_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("/etc/passwd", root.join("passwd")).unwrap();
        symlink("../..", root.join("a/b/up")).unwrap();
        symlink("/etc", root.join("a/etc")).unwrap();
        let inside = |relative: &str| resolve_in_root(root, relative).unwrap();
        assert_eq!(inside("../../../etc/passwd"), root.join("etc/passwd"));
        assert_eq!(inside("passwd"), root.join("etc/passwd"));
        assert_eq!(inside("a/b/up/../../etc"), root.join("etc"));
        assert_eq!(inside("a/etc/shadow"), root.join("etc/shadow"));
        assert_eq!(inside("./a//b/"), root.join("a/b"));
    }

    #[test]
    fn a_link_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        symlink("loop", dir.path().join("loop")).unwrap();
        let error = resolve_in_root(dir.path(), "loop/x").unwrap_err();
        assert!(error.to_string().contains("too many levels"), "{error}");
    }
}
