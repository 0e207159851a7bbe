//! Snapshots: a container's root filesystem made from an image's layers.
//!
//! `Overlay` stacks the unpacked layer directories, read-only, under one
//! writable `upper` directory with overlayfs: nothing is copied, and a file
//! is copied up into `upper` only when the container first writes it. A
//! deleted file becomes a *whiteout* in `upper` (a 0:0 character device).
//!
//! `Copy` is the naive way, kept to learn from: every layer's files are
//! copied into the target, one layer after the other. It is slow and
//! wasteful, and that is the lesson. (moby: `daemon/graphdriver/overlay2`,
//! `daemon/graphdriver/vfs`; containerd: `snapshots/overlay`.)

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::digest::Digest;
use crate::layer::{is_opaque, is_whiteout};
use crate::store::{Image, ImageStore};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Snapshotter {
    Overlay,
    Copy,
}

impl std::fmt::Display for Snapshotter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Snapshotter::Overlay => "overlay",
            Snapshotter::Copy => "copy",
        })
    }
}

impl std::str::FromStr for Snapshotter {
    type Err = String;
    fn from_str(text: &str) -> Result<Snapshotter, String> {
        match text {
            "overlay" => Ok(Snapshotter::Overlay),
            "copy" => Ok(Snapshotter::Copy),
            other => Err(format!(
                "unknown snapshotter {other:?}: use overlay or copy"
            )),
        }
    }
}

/// What the store remembers of a snapshot (`snapshots/<id>/snapshot.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub id: String,
    pub kind: Snapshotter,
    /// The image it was made from; `None` for a build step's snapshot.
    #[serde(default)]
    pub image_id: Option<Digest>,
    pub image: String,
    /// Where it is mounted (overlay) or copied to (copy).
    pub target: PathBuf,
    /// The layers it stacks, bottom first: what a re-mount needs.
    #[serde(default)]
    pub layers: Vec<Digest>,
}

impl SnapshotRecord {
    /// The writable layer of an overlay snapshot.
    pub fn upper(&self, store: &ImageStore) -> PathBuf {
        store.root().join("snapshots").join(&self.id).join("upper")
    }
}

pub fn list(store: &ImageStore) -> anyhow::Result<Vec<SnapshotRecord>> {
    let dir = store.root().join("snapshots");
    let mut records = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path().join("snapshot.json");
        if let Ok(bytes) = fs::read(&path) {
            records.push(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is corrupt", path.display()))?,
            );
        }
    }
    Ok(records)
}

/// Makes `target` the root filesystem of `image`.
pub fn mount(
    store: &ImageStore,
    image: &Image,
    target: &Path,
    kind: Snapshotter,
) -> anyhow::Result<SnapshotRecord> {
    let layers = &image.config.rootfs.diff_ids;
    mount_layers(
        store,
        layers,
        &image.display_name(),
        Some(&image.id),
        target,
        kind,
    )
}

/// Makes `target` the root filesystem of a stack of layers (bottom first):
/// an image's, or a build's state between two steps.
pub fn mount_layers(
    store: &ImageStore,
    layers: &[Digest],
    label: &str,
    image_id: Option<&Digest>,
    target: &Path,
    kind: Snapshotter,
) -> anyhow::Result<SnapshotRecord> {
    fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    let target =
        fs::canonicalize(target).with_context(|| format!("resolving {}", target.display()))?;
    if fs::read_dir(&target)?.next().is_some() {
        bail!(
            "{} is not empty: a snapshot needs an empty directory",
            target.display()
        );
    }
    if list(store)?.iter().any(|s| s.target == target) {
        bail!(
            "a snapshot is already at {}: ch02 umount it first",
            target.display()
        );
    }
    let id = Digest::of_bytes(
        format!(
            "{}{:?}{}",
            target.display(),
            std::time::SystemTime::now(),
            std::process::id()
        )
        .as_bytes(),
    )
    .short()
    .to_string();
    let dir = store.root().join("snapshots").join(&id);
    let record = SnapshotRecord {
        id,
        kind,
        image_id: image_id.cloned(),
        image: label.to_string(),
        target: target.clone(),
        layers: layers.to_vec(),
    };
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Recorded before mounting: a crash in between leaves a record that
    // `umount` and scripts/reset.sh can clean up, never an unknown mount.
    atomic::write_file(
        &dir.join("snapshot.json"),
        &serde_json::to_vec_pretty(&record)?,
    )?;
    let result = match kind {
        Snapshotter::Overlay => mount_overlay(store, layers, &dir, &target)
            .with_context(|| format!("mounting overlay on {} for {label}", target.display())),
        Snapshotter::Copy => copy_layers(&store.unpacked_layers(layers)?, &target),
    };
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(record)
}

// ANCHOR: overlay
fn mount_overlay(
    store: &ImageStore,
    layers: &[Digest],
    dir: &Path,
    target: &Path,
) -> anyhow::Result<()> {
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&upper, &work] {
        // Kept when they exist: a re-mount finds the container's changes.
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // overlayfs lists lower dirs top first; an image's layers are bottom first.
    let mut lowers: Vec<String> = Vec::new();
    for diff_id in layers.iter().rev() {
        lowers.push(format!("l/{}", store.layer_link(diff_id)?));
    }
    if lowers.is_empty() {
        // An image with no layers (FROM scratch): overlay needs one lower dir.
        let empty = dir.join("empty");
        fs::create_dir_all(&empty)?;
        lowers.push(empty.display().to_string());
    }
    // Relative lower dirs ("l/ABC…"), resolved from the layers directory:
    // mount(2) copies at most one page of options, and 60 absolute paths
    // would not fit.
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    if options.len() >= 4096 {
        bail!(
            "overlay options for {} layers are {} bytes, over the one-page limit of mount(2)",
            lowers.len(),
            options.len()
        );
    }
    mount_from(&store.root().join("layers"), "overlay", target, &options)
}
// ANCHOR_END: overlay

/// mount(2) run with `dir` as the working directory, so relative paths in
/// `options` resolve there. The working directory belongs to the whole
/// process, so a child process changes it — as Docker's overlay2 does with
/// its `mountfrom` re-exec — rather than every thread of ours.
fn mount_from(dir: &Path, fstype: &str, target: &Path, options: &str) -> anyhow::Result<()> {
    let c = |s: &[u8]| CString::new(s).context("path contains a NUL byte");
    let (dir_c, fstype_c, target_c, options_c) = (
        c(dir.as_os_str().as_bytes())?,
        c(fstype.as_bytes())?,
        c(target.as_os_str().as_bytes())?,
        c(options.as_bytes())?,
    );
    // SAFETY: the child only calls chdir, mount and _exit — async-signal-safe
    // functions, as required after fork in a possibly multi-threaded process —
    // on strings prepared before the fork.
    match unsafe { nix::unistd::fork() }.context("fork for mount")? {
        nix::unistd::ForkResult::Child => unsafe {
            let code = if libc::chdir(dir_c.as_ptr()) != 0 {
                100
            } else if libc::mount(
                fstype_c.as_ptr(),
                target_c.as_ptr(),
                fstype_c.as_ptr(),
                0,
                options_c.as_ptr().cast(),
            ) != 0
            {
                *libc::__errno_location()
            } else {
                0
            };
            libc::_exit(code)
        },
        nix::unistd::ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None)? {
            nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
            nix::sys::wait::WaitStatus::Exited(_, 100) => bail!("chdir {}", dir.display()),
            nix::sys::wait::WaitStatus::Exited(_, errno) => {
                let errno = nix::errno::Errno::from_raw(errno);
                let hint = match errno {
                    nix::errno::Errno::EPERM => " (mounting needs root: sudo)",
                    nix::errno::Errno::EINVAL => {
                        " (is the target on overlayfs itself, or a layer dir missing?)"
                    }
                    _ => "",
                };
                bail!(
                    "mount({fstype}, {}, \"{options}\"): {errno}{hint}",
                    target.display()
                )
            }
            other => bail!("mount helper ended with {other:?}"),
        },
    }
}

// ANCHOR: remount
/// Mounts an overlay snapshot again after its mount went away (a reboot,
/// a daemon that lost its mount namespace), with the same `upper`: what
/// the container wrote is still there. A mounted or copied snapshot is
/// left as it is.
pub fn remount(store: &ImageStore, record: &SnapshotRecord) -> anyhow::Result<()> {
    if record.kind != Snapshotter::Overlay || is_mounted(&record.target)? {
        return Ok(());
    }
    let dir = store.root().join("snapshots").join(&record.id);
    // Records written before they named their layers name their image.
    let layers = match (&record.layers[..], &record.image_id) {
        ([], Some(image)) => store.resolve(image.hex())?.config.rootfs.diff_ids,
        _ => record.layers.clone(),
    };
    // overlayfs owns workdir/work while mounted and empties it at mount
    // time: the old one is reused as it is.
    mount_overlay(store, &layers, &dir, &record.target).with_context(|| {
        format!(
            "re-mounting the overlay at {} for {}",
            record.target.display(),
            record.image
        )
    })
}
// ANCHOR_END: remount

/// Whether something is mounted at `target` (in this mount namespace).
fn is_mounted(target: &Path) -> anyhow::Result<bool> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    // Field 5 is the mount point, with spaces and such escaped as octal.
    let wanted = target.to_string_lossy().replace(' ', "\\040");
    Ok(mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted.as_str())))
}

/// The snapshot mounted (or copied) at `target`, if any.
pub fn at(store: &ImageStore, target: &Path) -> anyhow::Result<Option<SnapshotRecord>> {
    let wanted = fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    Ok(list(store)?.into_iter().find(|s| s.target == wanted))
}

/// Unmounts (or, for a copy, deletes) the snapshot at `target` and forgets it.
pub fn unmount(store: &ImageStore, target: &Path) -> anyhow::Result<SnapshotRecord> {
    let record = at(store, target)?.with_context(|| {
        format!(
            "no snapshot at {}: `ch02 mount` made none there",
            target.display()
        )
    })?;
    match record.kind {
        Snapshotter::Overlay => unmount_overlay(&record.target)?,
        Snapshotter::Copy => {
            // Only what we copied: the target was empty before.
            for entry in fs::read_dir(&record.target)? {
                let path = entry?.path();
                remove_path(&path)?;
            }
        }
    }
    let dir = store.root().join("snapshots").join(&record.id);
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(record)
}

/// Detached, as moby's overlay2 driver unmounts (`Put`): a process forking
/// at this moment holds copies of every descriptor until its exec, and a
/// plain umount(2) would fail with EBUSY; detached, the mount leaves the
/// tree now and is freed when its last user goes.
fn unmount_overlay(target: &Path) -> anyhow::Result<()> {
    match nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => Ok(()), // EINVAL: not mounted (any more)
        Err(e) => Err(e).with_context(|| format!("umount {}", target.display())),
    }
}

// ANCHOR: retarget
/// Moves the overlay snapshot at `from` to `to`: unmounted there, mounted
/// again here on the same `upper`, so what was written in it comes along.
/// The engine keeps a failed RUN step's snapshot this way, as the root of
/// the container Docker leaves behind for inspection.
pub fn retarget(store: &ImageStore, from: &Path, to: &Path) -> anyhow::Result<SnapshotRecord> {
    let mut record =
        at(store, from)?.with_context(|| format!("no snapshot at {} to move", from.display()))?;
    if record.kind != Snapshotter::Overlay {
        bail!("only an overlay snapshot can move: a copy is its target");
    }
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    unmount_overlay(&record.target)?;
    record.target = fs::canonicalize(to)?;
    let path = store
        .root()
        .join("snapshots")
        .join(&record.id)
        .join("snapshot.json");
    atomic::write_file(&path, &serde_json::to_vec_pretty(&record)?)?;
    remount(store, &record)?;
    Ok(record)
}
// ANCHOR_END: retarget

// ANCHOR: copy
/// The naive snapshot: copies each layer over the previous ones, applying
/// its whiteouts (delete that path) and opaque directories (empty it first).
fn copy_layers(layers: &[PathBuf], target: &Path) -> anyhow::Result<()> {
    for layer in layers {
        copy_tree(layer, target).with_context(|| format!("copying layer {}", layer.display()))?;
    }
    Ok(())
}
// ANCHOR_END: copy

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let source = entry.path();
        let dest = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&source)?;
        let kind = meta.file_type();
        if is_whiteout(&meta) {
            remove_path(&dest)?;
            continue;
        }
        if kind.is_dir() {
            if fs::symlink_metadata(&dest).is_ok_and(|m| !m.is_dir()) {
                remove_path(&dest)?;
            }
            if is_opaque(&source)? {
                remove_path(&dest)?;
            }
            if !dest.exists() {
                fs::create_dir(&dest).with_context(|| format!("creating {}", dest.display()))?;
            }
            copy_tree(&source, &dest)?;
        } else {
            remove_path(&dest)?;
            if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&source)?, &dest)?;
            } else if kind.is_file() {
                fs::copy(&source, &dest)
                    .with_context(|| format!("copying {}", source.display()))?;
            } else {
                // Device nodes and fifos: make the same node.
                nix::sys::stat::mknod(
                    &dest,
                    file_kind(&kind),
                    nix::sys::stat::Mode::from_bits_truncate(meta.mode()),
                    meta.rdev(),
                )
                .with_context(|| format!("mknod {}", dest.display()))?;
            }
        }
        let _ = std::os::unix::fs::lchown(&dest, Some(meta.uid()), Some(meta.gid()));
        if !kind.is_symlink() {
            fs::set_permissions(&dest, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}

fn file_kind(kind: &fs::FileType) -> nix::sys::stat::SFlag {
    use nix::sys::stat::SFlag;
    if kind.is_char_device() {
        SFlag::S_IFCHR
    } else if kind.is_block_device() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFIFO
    }
}

fn remove_path(path: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("removing {}", path.display())),
        Err(_) => Ok(()),
    }
}
