//! The layer root: a directory held open, beneath which every entry is
//! reached one component at a time, never through a symlink.
//!
//! Checking a path string and then using it is not enough: an earlier
//! entry may have made `evil -> /etc`, and `evil/passwd` would then be
//! written to the host. So no path is handed to the kernel whole: each
//! directory is opened from its parent's descriptor with O_NOFOLLOW, and
//! the file itself is created with the *at() calls relative to that
//! descriptor. (openat2 with RESOLVE_BENEATH does the same walk in the
//! kernel since Linux 5.6; the loop here shows what it does.)

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, bail};
use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fchmod, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Mode of directories a layer needs but does not list, as Docker makes them.
const IMPLIED_DIR_MODE: u32 = 0o755;

/// What to do when a directory on the way does not exist.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Make it (mode 0755), as Docker does for a file whose parent the tar omits.
    Create,
    /// Fail: the caller is looking for something that must already be there.
    Fail,
}

pub struct Root {
    fd: Rc<OwnedFd>,
    /// The directory the last entry went into: tars list a directory's
    /// files together, so most entries skip the walk.
    last: Option<(Vec<OsString>, Rc<OwnedFd>)>,
}

impl Root {
    /// Opens `path` (made if missing) as the root of a layer.
    pub fn open(path: &Path) -> anyhow::Result<Root> {
        fs::create_dir_all(path)
            .with_context(|| format!("creating the layer directory {}", path.display()))?;
        // The target itself may be reached through symlinks: the caller chose it.
        let fd = openat(
            None,
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening the layer directory {}", path.display()))?;
        // SAFETY: openat returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Root {
            fd: Rc::new(fd),
            last: None,
        })
    }

    // ANCHOR: walk
    /// The directory `components` beneath the root, opened without
    /// following any symlink on the way.
    pub fn dir(
        &mut self,
        components: &[OsString],
        missing: Missing,
    ) -> anyhow::Result<Rc<OwnedFd>> {
        if components.is_empty() {
            return Ok(self.fd.clone());
        }
        if let Some((cached, fd)) = &self.last {
            if cached.as_slice() == components {
                return Ok(fd.clone());
            }
        }
        let mut dir: Rc<OwnedFd> = self.fd.clone();
        for (i, name) in components.iter().enumerate() {
            let shown = || shown(&components[..=i]);
            let next = match open_dir(dir.as_fd(), name) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if missing == Missing::Create => {
                    match mkdirat(
                        Some(dir.as_raw_fd()),
                        name.as_os_str(),
                        Mode::from_bits_truncate(IMPLIED_DIR_MODE),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("creating directory '{}'", shown()));
                        }
                    }
                    let fd = open_dir(dir.as_fd(), name)
                        .with_context(|| format!("opening directory '{}'", shown()))?;
                    // mkdir's mode passes through the umask; the layer's tree must not depend on ours.
                    fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(IMPLIED_DIR_MODE))
                        .with_context(|| format!("chmod of directory '{}'", shown()))?;
                    fd
                }
                Err(Errno::ENOTDIR | Errno::ELOOP) if is_symlink(dir.as_fd(), name) => {
                    bail!("'{}' is a symlink: refusing to go through it", shown())
                }
                Err(Errno::ENOTDIR) => bail!("'{}' is not a directory", shown()),
                Err(Errno::ENOENT) => bail!("'{}' does not exist", shown()),
                Err(e) => {
                    return Err(e).with_context(|| format!("opening directory '{}'", shown()));
                }
            };
            dir = Rc::new(next);
        }
        self.last = Some((components.to_vec(), dir.clone()));
        Ok(dir)
    }
    // ANCHOR_END: walk

    /// The directory `components` if it is still there as a directory
    /// (reached without symlinks); `None` if something else replaced it.
    pub fn existing_dir(&mut self, components: &[OsString]) -> anyhow::Result<Option<Rc<OwnedFd>>> {
        let mut dir: Rc<OwnedFd> = self.fd.clone();
        for (i, name) in components.iter().enumerate() {
            dir = match open_dir(dir.as_fd(), name) {
                Ok(fd) => Rc::new(fd),
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(None),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("opening directory '{}'", shown(&components[..=i]))
                    });
                }
            };
        }
        Ok(Some(dir))
    }

    /// Removes the directory `name` in `parent` with everything in it, like
    /// `rm -rf` but without ever following a symlink.
    pub fn remove_tree(&mut self, parent: BorrowedFd, name: &OsStr) -> anyhow::Result<()> {
        // A cached descriptor might be inside the tree about to go.
        self.last = None;
        remove_tree(parent, name)
    }
}

// ANCHOR: open_dir
/// Opens the directory `name` in `parent`, refusing anything else.
/// O_NOFOLLOW|O_DIRECTORY: a symlink is not followed but refused, with
/// ENOTDIR (ELOOP without O_DIRECTORY); so is any other non-directory.
fn open_dir(parent: BorrowedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(Some(parent.as_raw_fd()), name, flags, Mode::empty())?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
// ANCHOR_END: open_dir

/// Whether `name` in `parent` is a symlink (not following it).
fn is_symlink(parent: BorrowedFd, name: &OsStr) -> bool {
    nix::sys::stat::fstatat(
        Some(parent.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

fn remove_tree(parent: BorrowedFd, name: &OsStr) -> anyhow::Result<()> {
    let dir = open_dir(parent, name)
        .with_context(|| format!("opening {} to remove it", name.to_string_lossy()))?;
    let mut children = Vec::new();
    {
        let mut listing =
            Dir::from(dir.try_clone()?).context("listing a directory to remove it")?;
        for entry in listing.iter() {
            let entry = entry.context("listing a directory to remove it")?;
            let child = OsStr::from_bytes(entry.file_name().to_bytes());
            if child != "." && child != ".." {
                children.push((child.to_os_string(), entry.file_type()));
            }
        }
    }
    for (child, kind) in children {
        let is_dir = match kind {
            Some(kind) => kind == Type::Directory,
            // Some filesystems leave d_type unknown: ask.
            None => nix::sys::stat::fstatat(
                Some(dir.as_raw_fd()),
                child.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(false),
        };
        if is_dir {
            // Depth is bounded: every directory here came from an entry path of
            // at most PATH_MAX bytes.
            remove_tree(dir.as_fd(), &child)?;
        } else {
            unlinkat(
                Some(dir.as_raw_fd()),
                child.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            )
            .with_context(|| format!("removing {}", child.to_string_lossy()))?;
        }
    }
    unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
        .with_context(|| format!("removing directory {}", name.to_string_lossy()))
}

/// `a/b/c` for error messages.
fn shown(components: &[OsString]) -> String {
    components
        .iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
