//! A container's changes, as `docker diff` lists them: read from the upper
//! directory of its overlay snapshot.
//!
//! overlayfs writes every change a container makes into `upper`: a new
//! file is created there, a changed one is copied up first, a deleted one
//! leaves a whiteout. So the list of changes is a walk of `upper` alone;
//! the image's layers are only asked whether a path was there before (then
//! it is *C*hanged, else *A*dded). This is what Docker's overlay2 driver
//! does (moby: `pkg/archive/changes.go` `changes`, `changes_linux.go`
//! `OverlayChanges`), and its rules are kept here, order included:
//!
//! - the walk is depth first, each directory's names in byte order, a
//!   directory before its contents (Go's `filepath.Walk`);
//! - a whiteout (0:0 character device) is *D*eleted; so is an opaque
//!   directory that hides one of the image's (its new contents follow);
//! - a directory the image has, with the same size, mode and mtime, is not
//!   a change itself (overlayfs copied it up to hold a changed child, and
//!   copy-up keeps a directory's times);
//! - the parents of an added or deleted path are *C*hanged, before it.
//!
//! "Was it in the image" is a pure function of the layer directories
//! ([`Walk::in_image`]), as overlayfs would merge them, whiteouts and
//! opaque directories included: no mount, so it works for a stopped
//! container as for a running one, and needs nothing but reading.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use super::whiteout::{is_opaque, is_whiteout};

/// What happened to a path (moby's `archive.ChangeType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// The number the Engine API sends as `Kind`.
    pub fn code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }

    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One line of `docker diff`: an absolute path in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

/// The mount points an engine puts into every container's root before it
/// runs (`/etc/hosts`, `/proc`...). Docker keeps them in an "init layer"
/// between the image and the container's own layer (moby:
/// `daemon/initlayer`), so `docker diff` never shows them; an engine that
/// lets the runtime create them in `upper` names them here instead. They
/// are skipped, and their parent directories (`/etc`) count as changed
/// only if their mode is not what the container started with.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitLayer<'a> {
    pub paths: &'a [&'a str],
}

impl InitLayer<'_> {
    fn hides(&self, path: &Path) -> bool {
        self.paths.iter().any(|p| Path::new(p) == path)
    }

    /// Whether `path` is a parent directory of one of the mount points.
    fn holds(&self, path: &Path) -> bool {
        self.paths
            .iter()
            .any(|p| Path::new(p) != path && Path::new(p).starts_with(path))
    }
}

/// The changes in `upper` over the image whose unpacked layer directories
/// are `layers` (bottom first, as in the image's `rootfs.diff_ids`).
pub fn changes(upper: &Path, layers: &[PathBuf], init: InitLayer) -> anyhow::Result<Vec<Change>> {
    // The upper directory itself may be reached through symlinks: the
    // caller chose it. Nothing beneath it is.
    let root = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(upper)
        .with_context(|| format!("opening the upper directory {}", upper.display()))?;
    let mut walk = Walk {
        upper,
        // overlayfs looks a name up in the top layer first.
        layers: layers.iter().rev().map(PathBuf::as_path).collect(),
        init,
        changes: Vec::new(),
        changed_dirs: HashSet::new(),
    };
    walk.directory(&Dir(root.into()), Path::new("/"))?;
    Ok(walk.changes)
}

/// A directory of `upper`, held open. A running container can replace
/// any directory with a symlink at any moment, so entries are reached
/// from this descriptor (`/proc/self/fd/N/NAME`: the kernel resolves N to
/// the directory already open, then NAME alone), never by a whole path.
struct Dir(OwnedFd);

impl Dir {
    fn beneath(&self, name: &OsStr) -> PathBuf {
        Path::new(&format!("/proc/self/fd/{}", self.0.as_raw_fd())).join(name)
    }

    /// Its names in byte order, as Go's `filepath.Walk` visits them.
    fn names(&self) -> io::Result<Vec<OsString>> {
        let mut names = fs::read_dir(self.beneath(OsStr::new("")))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }

    fn open(&self, name: &OsStr) -> io::Result<Dir> {
        // O_NOFOLLOW: a symlink swapped in since the lstat fails (ELOOP)
        // instead of leading the walk out of `upper`.
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(self.beneath(name))?;
        Ok(Dir(file.into()))
    }
}

/// What a path of `upper` is compared with.
enum Below {
    /// A parent of the init layer's mount points, with the mode the
    /// container started with.
    Init { mode: u32 },
    /// The image's file.
    Image(Metadata),
}

struct Walk<'a> {
    upper: &'a Path,
    /// Top layer first.
    layers: Vec<&'a Path>,
    init: InitLayer<'a>,
    changes: Vec<Change>,
    /// Directories already listed (as a change, or as the parent of one).
    changed_dirs: HashSet<PathBuf>,
}

impl Walk<'_> {
    // ANCHOR: walk
    fn directory(&mut self, dir: &Dir, at: &Path) -> anyhow::Result<()> {
        let names = dir.names().with_context(|| {
            format!(
                "listing {at} in {}",
                self.upper.display(),
                at = at.display()
            )
        })?;
        for name in names {
            let path = at.join(&name);
            // Bounds the depth (one descriptor per level), where Docker's
            // walk of whole paths meets ENAMETOOLONG.
            if path.as_os_str().len() >= libc::PATH_MAX as usize {
                bail!("{} is deeper than PATH_MAX", path.display());
            }
            let metadata = match fs::symlink_metadata(dir.beneath(&name)) {
                Ok(metadata) => metadata,
                // Removed by the running container since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| self.reading(&path)),
            };
            self.entry(dir, &name, &path, &metadata)?;
            if metadata.is_dir() {
                match dir.open(&name) {
                    Ok(child) => self.directory(&child, &path)?,
                    // Gone, or no longer a directory: changed meanwhile.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR)
                        ) => {}
                    Err(e) => return Err(e).with_context(|| self.reading(&path)),
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: walk

    // ANCHOR: entry
    /// Classifies one entry of `upper` by moby's rules, or skips it.
    fn entry(
        &mut self,
        dir: &Dir,
        name: &OsStr,
        path: &Path,
        metadata: &Metadata,
    ) -> anyhow::Result<()> {
        if self.init.hides(path) {
            return Ok(());
        }
        let kind = if is_whiteout(metadata) {
            ChangeKind::Deleted
        } else if metadata.is_dir()
            && is_opaque(&dir.beneath(name)).with_context(|| self.reading(path))?
            && self.in_image(path)?.is_some()
        {
            // Removed and made again: overlayfs marked the new directory
            // opaque to hide the image's. moby reports it deleted.
            ChangeKind::Deleted
        } else {
            match self.below(path)? {
                None => ChangeKind::Added,
                Some(below) if metadata.is_dir() && below.same_directory(metadata) => return Ok(()),
                Some(_) => ChangeKind::Modified,
            }
        };
        if metadata.is_dir() {
            self.changed_dirs.insert(path.to_path_buf());
        }
        if kind != ChangeKind::Modified {
            self.parents(path);
        }
        self.changes.push(Change {
            path: path.to_path_buf(),
            kind,
        });
        Ok(())
    }
    // ANCHOR_END: entry

    // ANCHOR: parents
    /// Lists the parents of an added or deleted `path` as changed, top
    /// down, each once: a directory overlayfs copied up keeps its times,
    /// so its own entry may have been skipped.
    fn parents(&mut self, path: &Path) {
        let mut missing: Vec<PathBuf> = path
            .ancestors()
            .skip(1)
            .take_while(|p| *p != Path::new("/"))
            .filter(|p| self.changed_dirs.insert(p.to_path_buf()))
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        self.changes.extend(missing.into_iter().map(|path| Change {
            path,
            kind: ChangeKind::Modified,
        }));
    }
    // ANCHOR_END: parents

    fn below(&self, path: &Path) -> anyhow::Result<Option<Below>> {
        if self.init.holds(path) {
            // Docker's init layer makes its directories 0755.
            let mode = match self.in_image(path)? {
                Some(image) if image.is_dir() => image.mode(),
                _ => libc::S_IFDIR | 0o755,
            };
            return Ok(Some(Below::Init { mode }));
        }
        Ok(self.in_image(path)?.map(Below::Image))
    }

    // ANCHOR: in_image
    /// The image's file at `path` (absolute), if the image shows one: the
    /// layers are searched top first as overlayfs merges them, one
    /// component at a time with lstat, so no symlink is ever followed.
    fn in_image(&self, path: &Path) -> anyhow::Result<Option<Metadata>> {
        let names: Vec<&OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        'layers: for layer in &self.layers {
            let mut here = layer.to_path_buf();
            let mut opaque = false;
            for (i, name) in names.iter().enumerate() {
                here.push(name);
                let metadata = match fs::symlink_metadata(&here) {
                    Ok(metadata) => metadata,
                    // Below an opaque directory, lower layers are hidden.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && opaque => return Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue 'layers,
                    Err(e) => return Err(e).with_context(|| format!("reading {}", here.display())),
                };
                // overlayfs: a whiteout hides the name in every lower layer.
                if is_whiteout(&metadata) {
                    return Ok(None);
                }
                if i + 1 == names.len() {
                    return Ok(Some(metadata));
                }
                // overlayfs merges directories only: a file (or symlink)
                // here hides whatever lower layers have beneath this name.
                if !metadata.is_dir() {
                    return Ok(None);
                }
                opaque = opaque || is_opaque(&here)?;
            }
        }
        Ok(None)
    }
    // ANCHOR_END: in_image

    fn reading(&self, path: &Path) -> String {
        format!("reading {} in {}", path.display(), self.upper.display())
    }
}

impl Below {
    /// Whether a directory of `upper` is the one below, unchanged: moby
    /// compares size, mode and mtime (`changes` in `pkg/archive`).
    fn same_directory(&self, upper: &Metadata) -> bool {
        match self {
            Below::Init { mode } => upper.mode() == *mode,
            Below::Image(image) => {
                image.is_dir()
                    && image.size() == upper.size()
                    && image.mode() == upper.mode()
                    && same_time(image, upper)
            }
        }
    }
}

/// Go's tar keeps whole seconds only, so a time with no nanoseconds on
/// either side matches any in the same second (moby: `sameFsTime`).
fn same_time(a: &Metadata, b: &Metadata) -> bool {
    a.mtime() == b.mtime()
        && (a.mtime_nsec() == b.mtime_nsec() || a.mtime_nsec() == 0 || b.mtime_nsec() == 0)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::layer::whiteout::{create_whiteout, mark_opaque};

    fn lines(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path.display()))
            .collect()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn whiteout(root: &Path, rel: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let parent = File::open(path.parent().unwrap()).unwrap();
        create_whiteout(parent.as_fd(), path.file_name().unwrap()).unwrap();
    }

    /// Dates a layer's directories back, as unpacking does from the tar's
    /// times: a directory made later in `upper` then differs from them.
    fn age(root: &Path) {
        let t = nix::sys::time::TimeSpec::new(1_000_000, 0);
        for entry in fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                age(&path);
            }
        }
        nix::sys::stat::utimensat(
            None,
            root,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    /// Makes `dir`'s times those of `like`, as overlayfs's copy-up does.
    fn copy_times(like: &Path, dir: &Path) {
        let m = fs::symlink_metadata(like).unwrap();
        let t = nix::sys::time::TimeSpec::new(m.mtime(), m.mtime_nsec());
        nix::sys::stat::utimensat(
            None,
            dir,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    #[test]
    fn added_files_and_their_parents() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        write(&lower, "etc/passwd", "root");
        fs::create_dir_all(lower.join("tmp")).unwrap();
        age(&lower);
        write(&upper, "tmp/a/b", "new");
        write(&upper, "tmp/a-c", "new");
        write(&upper, "etc/passwd", "root2");
        copy_times(&lower.join("etc"), &upper.join("etc"));
        let changes = changes(&upper, &[lower], InitLayer::default()).unwrap();
        // /etc was only copied up (same times): not a change of its own.
        // Walk order: /tmp/a and what it holds before /tmp/a-c.
        assert_eq!(
            lines(&changes),
            [
                "C /etc/passwd",
                "C /tmp",
                "A /tmp/a",
                "A /tmp/a/b",
                "A /tmp/a-c"
            ]
        );
        assert_eq!(changes[0].kind.code(), 0);
        assert_eq!(changes[2].kind.code(), 1);
    }

    #[test]
    fn an_empty_upper_has_no_changes() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("upper")).unwrap();
        assert!(
            changes(&t.path().join("upper"), &[], InitLayer::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn whiteouts_are_deletions_with_the_parents_changed() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        write(&lower, "usr/share/x/motd", "hi");
        age(&lower);
        whiteout(&upper, "usr/share/x/motd");
        for dir in ["usr", "usr/share"] {
            copy_times(&lower.join(dir), &upper.join(dir));
        }
        let changes = changes(&upper, &[lower], InitLayer::default()).unwrap();
        // As moby's walk gives it: /usr/share/x changed (the whiteout
        // was made in it) and comes first; /usr and /usr/share, copied up
        // with their times, come as the deletion's parents.
        assert_eq!(
            lines(&changes),
            [
                "C /usr/share/x",
                "C /usr",
                "C /usr/share",
                "D /usr/share/x/motd"
            ]
        );
        assert_eq!(changes[3].kind.code(), 2);
    }

    #[test]
    fn the_image_own_whiteouts_and_non_directories_hide_lower_layers() {
        let t = tempfile::tempdir().unwrap();
        let (bottom, top, upper) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("upper"),
        );
        write(&bottom, "gone", "1");
        write(&bottom, "dir/f", "1");
        write(&bottom, "kept", "1");
        whiteout(&top, "gone");
        write(&top, "dir", "now a file");
        age(&bottom);
        age(&top);
        for name in ["gone", "dir/f", "kept"] {
            write(&upper, name, "2");
        }
        let changes = changes(&upper, &[bottom, top], InitLayer::default()).unwrap();
        assert_eq!(
            lines(&changes),
            ["C /dir", "A /dir/f", "A /gone", "C /kept"]
        );
    }

    #[test]
    fn symlinks_are_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        // The image's /bin is a symlink to the host's /usr/bin: /bin/sh is
        // not in the image, whatever the host has.
        fs::create_dir_all(&lower).unwrap();
        symlink("/usr/bin", lower.join("bin")).unwrap();
        write(&upper, "bin/sh", "x");
        // A symlink in upper is a change itself, never a way out.
        symlink("/", upper.join("escape")).unwrap();
        let changes = changes(&upper, &[lower], InitLayer::default()).unwrap();
        assert_eq!(lines(&changes), ["C /bin", "A /bin/sh", "A /escape"]);
    }

    #[test]
    fn the_engine_mount_points_are_not_changes() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        write(&lower, "etc/passwd", "root");
        for name in ["etc/hosts", "etc/hostname"] {
            write(&upper, name, "");
        }
        fs::create_dir_all(upper.join("proc")).unwrap();
        let init = InitLayer {
            paths: &["/etc/hosts", "/etc/hostname", "/proc"],
        };
        assert!(
            changes(&upper, std::slice::from_ref(&lower), init)
                .unwrap()
                .is_empty()
        );
        // A real change next to them is.
        write(&upper, "etc/new", "x");
        let found = changes(&upper, &[lower], init).unwrap();
        assert_eq!(lines(&found), ["C /etc", "A /etc/new"]);
    }

    #[test]
    fn privileged_an_opaque_directory_over_the_image_is_deleted() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test sets trusted.overlay.opaque: it needs root (sudo scripts/test.sh)"
        );
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        write(&lower, "etc/old/a", "1");
        write(&lower, "etc/old/b", "1");
        age(&lower);
        write(&upper, "etc/old/b", "2");
        write(&upper, "new/c", "3");
        for dir in ["etc/old", "new"] {
            mark_opaque(File::open(upper.join(dir)).unwrap().as_fd()).unwrap();
        }
        copy_times(&lower.join("etc"), &upper.join("etc"));
        let changes = changes(&upper, &[lower], InitLayer::default()).unwrap();
        // As moby: the hidden directory is deleted; what it holds now is
        // compared with the image path by path. An opaque directory the
        // image never had is only added.
        assert_eq!(
            lines(&changes),
            ["C /etc", "D /etc/old", "C /etc/old/b", "A /new", "A /new/c"]
        );
    }

    #[test]
    fn privileged_an_opaque_image_directory_hides_lower_layers() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test sets trusted.overlay.opaque: it needs root (sudo scripts/test.sh)"
        );
        let t = tempfile::tempdir().unwrap();
        let (bottom, top, upper) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("upper"),
        );
        write(&bottom, "d/old", "1");
        write(&bottom, "d/sub/deep", "1");
        write(&top, "d/sub/other", "1");
        mark_opaque(File::open(top.join("d")).unwrap().as_fd()).unwrap();
        age(&bottom);
        age(&top);
        for name in ["d/old", "d/sub/deep", "d/sub/other"] {
            write(&upper, name, "2");
        }
        let changes = changes(&upper, &[bottom, top], InitLayer::default()).unwrap();
        assert_eq!(
            lines(&changes),
            [
                "C /d",
                "A /d/old",
                "C /d/sub",
                "A /d/sub/deep",
                "C /d/sub/other"
            ]
        );
    }
}
