//! Layers: a tar of filesystem changes, turned into a directory overlayfs
//! can stack ([`unpack`]) and back ([`diff`]).
//!
//! A layer tar lists the files a step added or changed, and marks what it
//! deleted with `.wh.` files (OCI image-spec `layer.md`). overlayfs needs
//! deletions in its own form, so [`unpack`] writes a lower-layer directory
//! exactly as the kernel wants it, and [`diff`] reads a container's upper
//! directory back into a layer tar.
//!
//! The tar is untrusted: its names may try `../`, absolute paths, or a
//! symlink followed by a file "inside" it. Every entry is resolved beneath
//! the target one directory at a time, never through a symlink ([`root`]).
//!
//! Compare with the real thing: moby's `pkg/archive` (`archive.go`
//! `createTarFile`, `diff.go` `UnpackLayer`, `archive_linux.go` for the
//! overlay whiteouts) and `daemon/graphdriver/overlay2`.

mod changes;
mod compression;
mod diff;
mod path;
mod root;
mod unpack;
mod whiteout;
mod xattr;

pub use changes::{Change, ChangeKind, InitLayer, changes};
pub use compression::Compression;
pub use diff::diff;
pub use path::{EntryPath, MAX_PATH_LEN, PathError};
pub use unpack::{DevicePolicy, UnpackOptions, Unpacked, unpack};
pub use whiteout::{
    AUFS_META_PREFIX, OPAQUE_MARKER, OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX,
    is_opaque, is_whiteout,
};
