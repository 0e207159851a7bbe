//! Deletions in a layer, in the two forms they take.
//!
//! In a layer tar (OCI image-spec `layer.md`, inherited from AUFS) a
//! deletion is a marker file: `dir/.wh.NAME` says NAME was removed, and
//! `dir/.wh..wh..opq` says nothing below `dir` from earlier layers shows.
//! overlayfs knows neither: in its layers a removed name is a 0:0 character
//! device, and an opaque directory carries `trusted.overlay.opaque=y`
//! (kernel `Documentation/filesystems/overlayfs.rst`, "whiteouts and opaque
//! directories"). Unpacking turns markers into the overlay forms; a diff of
//! an upper directory turns them back.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};

use super::xattr;

/// `.wh.NAME`: NAME is deleted.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// `.wh..wh..opq`: the directory holding it is opaque.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// `.wh..wh.*` other than the opaque marker: AUFS's own bookkeeping
/// (`.wh..wh.plnk`, `.wh..wh.aufs`), never part of the image.
pub const AUFS_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads to stop merging lower directories.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// overlayfs's own xattrs (opaque, redirect, origin, metacopy...).
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// What a name in a layer tar means, if it is a marker.
#[derive(Debug, PartialEq, Eq)]
pub enum Marker<'a> {
    /// The directory holding the marker is opaque.
    Opaque,
    /// This name, in the same directory, is deleted.
    Whiteout(&'a OsStr),
    /// AUFS metadata: skipped, as Docker does.
    AufsMeta,
}

impl<'a> Marker<'a> {
    pub fn of(name: &'a OsStr) -> Option<Marker<'a>> {
        let bytes = name.as_bytes();
        if bytes == OPAQUE_MARKER.as_bytes() {
            Some(Marker::Opaque)
        } else if bytes.starts_with(AUFS_META_PREFIX.as_bytes()) {
            Some(Marker::AufsMeta)
        } else {
            let hidden = bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes())?;
            Some(Marker::Whiteout(OsStr::from_bytes(hidden)))
        }
    }
}

/// Whether `metadata` (from `symlink_metadata`) is an overlayfs whiteout.
pub fn is_whiteout(metadata: &Metadata) -> bool {
    // overlayfs: a whiteout is a character device with device number 0/0.
    metadata.file_type().is_char_device() && metadata.rdev() == 0
}

/// Whether the directory `dir` is an overlayfs opaque directory.
pub fn is_opaque(dir: &Path) -> anyhow::Result<bool> {
    let value = xattr::lget(dir, OPAQUE_XATTR.as_bytes())
        .with_context(|| format!("reading {OPAQUE_XATTR} of {}", dir.display()))?;
    // overlayfs: the directory is opaque when the value is exactly "y".
    Ok(value.as_deref() == Some(b"y"))
}

// ANCHOR: create_whiteout
/// Creates the overlayfs whiteout `name` in `parent`.
pub fn create_whiteout(parent: BorrowedFd, name: &OsStr) -> anyhow::Result<()> {
    // overlayfs rule: a 0:0 character device in a layer hides that name in
    // every layer below it. Mode 0, as overlayfs makes its own whiteouts.
    // Since Linux 5.8 anyone may mknod a 0:0 char device (it is a whiteout,
    // not a device); before, it needs CAP_MKNOD like any device node.
    match mknodat(
        Some(parent.as_raw_fd()),
        name,
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    ) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => bail!(
            "mknod of a 0:0 character device needs CAP_MKNOD before Linux 5.8: run as root \
             (an overlay lower layer can hide a file in no other way)"
        ),
        Err(e) => Err(e).context("mknod of a 0:0 character device"),
    }
}
// ANCHOR_END: create_whiteout

/// Marks the directory `dir` holds open as opaque.
pub fn mark_opaque(dir: BorrowedFd) -> anyhow::Result<()> {
    // overlayfs rule: a directory with trusted.overlay.opaque=y hides the
    // contents of the same directory in every layer below it.
    match xattr::fset(dir, OPAQUE_XATTR.as_bytes(), b"y") {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => bail!(
            "setting the xattr {OPAQUE_XATTR} needs CAP_SYS_ADMIN (trusted.* xattrs): run as root"
        ),
        Err(e) => Err(e).with_context(|| format!("setting the xattr {OPAQUE_XATTR}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_told_by_name() {
        assert_eq!(Marker::of(OsStr::new(".wh..wh..opq")), Some(Marker::Opaque));
        assert_eq!(
            Marker::of(OsStr::new(".wh.passwd")),
            Some(Marker::Whiteout(OsStr::new("passwd")))
        );
        assert_eq!(
            Marker::of(OsStr::new(".wh..profile")),
            Some(Marker::Whiteout(OsStr::new(".profile")))
        );
        assert_eq!(
            Marker::of(OsStr::new(".wh..wh.plnk")),
            Some(Marker::AufsMeta)
        );
        assert_eq!(
            Marker::of(OsStr::new(".wh.")),
            Some(Marker::Whiteout(OsStr::new("")))
        );
        assert_eq!(Marker::of(OsStr::new("wh.passwd")), None);
        assert_eq!(Marker::of(OsStr::new(".whatever")), None);
    }

    #[test]
    fn a_regular_file_is_no_whiteout() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(!is_whiteout(&file.path().symlink_metadata().unwrap()));
        assert!(!is_opaque(file.path().parent().unwrap()).unwrap());
    }
}
