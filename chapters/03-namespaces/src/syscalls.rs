//! Every system call the root filesystem setup makes, behind one trait.
//!
//! The mount plan (which mounts, in which order, with which flags) is the part
//! of a container runtime that is easiest to get subtly wrong and hardest to
//! test: on the real kernel it needs root and leaves nothing to inspect after
//! the container is gone. So `rootfs.rs` talks to the kernel only through
//! [`Syscalls`]: [`Linux`] makes the calls, [`Recorder`] writes them down, and
//! the unit tests compare the plan with what runc does — without root.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

/// What is at a path, as far as mounting is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    /// A regular file, a device, a socket…: anything a file can be bound onto.
    File,
}

pub trait Syscalls {
    /// mount(2). `source` and `fstype` are `None` for a remount or a
    /// propagation change, which the kernel reads only from `flags`.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> anyhow::Result<()>;
    /// umount2(target, MNT_DETACH): gone from the tree now, freed when unused.
    fn umount_detach(&mut self, target: &Path) -> anyhow::Result<()>;
    /// pivot_root(".", ".") in `new_root`: see `rootfs::pivot_root`.
    fn pivot_root(&mut self, new_root: &Path) -> anyhow::Result<()>;
    fn chroot(&mut self, path: &Path) -> anyhow::Result<()>;
    fn chdir(&mut self, path: &Path) -> anyhow::Result<()>;
    fn mknod_char(&mut self, path: &Path, mode: u32, major: u64, minor: u64) -> anyhow::Result<()>;
    fn mkdir_all(&mut self, path: &Path, mode: u32) -> anyhow::Result<()>;
    /// Creates an empty file, if nothing is there: a mount point for a file.
    fn touch(&mut self, path: &Path) -> anyhow::Result<()>;
    fn symlink(&mut self, target: &str, link: &Path) -> anyhow::Result<()>;
    fn sethostname(&mut self, name: &str) -> anyhow::Result<()>;
    /// What is at `path` (following symlinks), or `None` if nothing is.
    fn kind(&self, path: &Path) -> Option<FileKind>;
    /// `path` (absolute, inside the container) resolved inside `root` the way
    /// the container would see it: symlinks and `..` never lead out of `root`.
    fn resolve(&self, root: &Path, path: &str) -> anyhow::Result<PathBuf>;
    /// The statvfs flags of the mount `path` is on, as mount flags: a
    /// read-only remount must keep nosuid, nodev and noexec where they are
    /// set, or the kernel refuses it in a user namespace (they are "locked").
    fn locked_flags(&self, path: &Path) -> anyhow::Result<MsFlags>;
}

/// The real kernel.
pub struct Linux;

impl Syscalls for Linux {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> anyhow::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).with_context(|| {
            format!(
                "mount({}, {}, {}, {flags:?}, {:?})",
                source.map_or("none".into(), |s| s.display().to_string()),
                target.display(),
                fstype.unwrap_or("none"),
                data.unwrap_or("")
            )
        })
    }

    fn umount_detach(&mut self, target: &Path) -> anyhow::Result<()> {
        nix::mount::umount2(target, MntFlags::MNT_DETACH)
            .with_context(|| format!("umount2({}, MNT_DETACH)", target.display()))
    }

    fn pivot_root(&mut self, new_root: &Path) -> anyhow::Result<()> {
        nix::unistd::chdir(new_root).with_context(|| format!("chdir({})", new_root.display()))?;
        nix::unistd::pivot_root(".", ".")
            .with_context(|| format!("pivot_root(\".\", \".\") in {}", new_root.display()))
    }

    fn chroot(&mut self, path: &Path) -> anyhow::Result<()> {
        nix::unistd::chroot(path).with_context(|| format!("chroot({})", path.display()))
    }

    fn chdir(&mut self, path: &Path) -> anyhow::Result<()> {
        nix::unistd::chdir(path).with_context(|| format!("chdir({})", path.display()))
    }

    fn mknod_char(&mut self, path: &Path, mode: u32, major: u64, minor: u64) -> anyhow::Result<()> {
        let dev = nix::sys::stat::makedev(major, minor);
        nix::sys::stat::mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(mode), dev)
            .with_context(|| format!("mknod({}, c {major}:{minor})", path.display()))?;
        // mknod's mode is filtered by the umask: set it exactly.
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", path.display()))
    }

    fn mkdir_all(&mut self, path: &Path, mode: u32) -> anyhow::Result<()> {
        if path.is_dir() {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .with_context(|| format!("mkdir -p {}", path.display()))
    }

    fn touch(&mut self, path: &Path) -> anyhow::Result<()> {
        if path.exists() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            self.mkdir_all(parent, 0o755)?;
        }
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(drop)
            .with_context(|| format!("creating {}", path.display()))
    }

    fn symlink(&mut self, target: &str, link: &Path) -> anyhow::Result<()> {
        match std::os::unix::fs::symlink(target, link) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other.with_context(|| format!("symlink {} -> {target}", link.display())),
        }
    }

    fn sethostname(&mut self, name: &str) -> anyhow::Result<()> {
        nix::unistd::sethostname(name).with_context(|| format!("sethostname({name:?})"))
    }

    fn kind(&self, path: &Path) -> Option<FileKind> {
        let meta = fs::metadata(path).ok()?;
        Some(if meta.is_dir() {
            FileKind::Directory
        } else {
            FileKind::File
        })
    }

    fn resolve(&self, root: &Path, path: &str) -> anyhow::Result<PathBuf> {
        images::securejoin::resolve_in_root(root, path)
    }

    fn locked_flags(&self, path: &Path) -> anyhow::Result<MsFlags> {
        use nix::sys::statvfs::FsFlags;
        let stat = nix::sys::statvfs::statvfs(path)
            .with_context(|| format!("statvfs({})", path.display()))?;
        let mut flags = MsFlags::empty();
        for (fs_flag, ms_flag) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        ] {
            if stat.flags().contains(fs_flag) {
                flags |= ms_flag;
            }
        }
        Ok(flags)
    }
}

/// Writes every call down, one line each, and makes none: for unit tests of
/// the mount plan. Paths listed in `files` and `dirs` exist; nothing else does.
#[derive(Default)]
pub struct Recorder {
    pub calls: Vec<String>,
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

impl Recorder {
    fn record(&mut self, call: String) -> anyhow::Result<()> {
        self.calls.push(call);
        Ok(())
    }
}

impl Syscalls for Recorder {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut call = format!(
            "mount {} on {}",
            source.map_or("none".into(), |s| s.display().to_string()),
            target.display()
        );
        if let Some(fstype) = fstype {
            call += &format!(" type {fstype}");
        }
        call += &format!(" flags {}", flag_names(flags));
        if let Some(data) = data.filter(|d| !d.is_empty()) {
            call += &format!(" data {data}");
        }
        self.record(call)
    }
    fn umount_detach(&mut self, target: &Path) -> anyhow::Result<()> {
        self.record(format!("umount -l {}", target.display()))
    }
    fn pivot_root(&mut self, new_root: &Path) -> anyhow::Result<()> {
        self.record(format!("pivot_root {}", new_root.display()))
    }
    fn chroot(&mut self, path: &Path) -> anyhow::Result<()> {
        self.record(format!("chroot {}", path.display()))
    }
    fn chdir(&mut self, path: &Path) -> anyhow::Result<()> {
        self.record(format!("chdir {}", path.display()))
    }
    fn mknod_char(&mut self, path: &Path, mode: u32, major: u64, minor: u64) -> anyhow::Result<()> {
        self.record(format!(
            "mknod {} c {major}:{minor} {mode:o}",
            path.display()
        ))
    }
    fn mkdir_all(&mut self, path: &Path, _mode: u32) -> anyhow::Result<()> {
        if self.dirs.iter().any(|d| d == path) {
            return Ok(());
        }
        self.dirs.push(path.to_path_buf());
        self.record(format!("mkdir -p {}", path.display()))
    }
    fn touch(&mut self, path: &Path) -> anyhow::Result<()> {
        if self.files.iter().any(|f| f == path) {
            return Ok(());
        }
        self.files.push(path.to_path_buf());
        self.record(format!("touch {}", path.display()))
    }
    fn symlink(&mut self, target: &str, link: &Path) -> anyhow::Result<()> {
        self.record(format!("ln -s {target} {}", link.display()))
    }
    fn sethostname(&mut self, name: &str) -> anyhow::Result<()> {
        self.record(format!("sethostname {name}"))
    }
    fn kind(&self, path: &Path) -> Option<FileKind> {
        if self.dirs.iter().any(|d| d == path) {
            Some(FileKind::Directory)
        } else if self.files.iter().any(|f| f == path) {
            Some(FileKind::File)
        } else {
            None
        }
    }
    fn resolve(&self, root: &Path, path: &str) -> anyhow::Result<PathBuf> {
        Ok(root.join(path.trim_start_matches('/')))
    }
    fn locked_flags(&self, _path: &Path) -> anyhow::Result<MsFlags> {
        Ok(MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC)
    }
}

/// `MS_BIND|MS_REC` as `bind,rec`: the recorder's notation, short enough to
/// read a whole plan at a glance.
pub fn flag_names(flags: MsFlags) -> String {
    const NAMES: &[(MsFlags, &str)] = &[
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_REMOUNT, "remount"),
        (MsFlags::MS_BIND, "bind"),
        (MsFlags::MS_MOVE, "move"),
        (MsFlags::MS_REC, "rec"),
        (MsFlags::MS_PRIVATE, "private"),
        (MsFlags::MS_SLAVE, "slave"),
        (MsFlags::MS_SHARED, "shared"),
        (MsFlags::MS_UNBINDABLE, "unbindable"),
        (MsFlags::MS_STRICTATIME, "strictatime"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_RELATIME, "relatime"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join(",")
    }
}
