//! File operations that cannot leave a root directory, even while someone
//! inside it swaps a path component for a symlink: what `docker cp` needs
//! (moby: `pkg/chrootarchive`, which does it in a chrooted child instead).
//!
//! [`securejoin`](crate::securejoin) resolves a path as a string and hands
//! it to the kernel later: between the two, a directory can become a
//! symlink to `/` (CVE-2018-15664). Here the kernel resolves every path
//! itself, `openat2(2)` with `RESOLVE_IN_ROOT` (Linux 5.6): `..` stops at
//! the root and absolute symlinks start from it, at the moment of the open.
//! Below the first open, every name is one component relative to a
//! directory fd we hold, with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{
    FileStat, Mode, SFlag, UtimensatFlags, fchmod, fstat, fstatat, futimens, mkdirat, mknodat,
    utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};

/// An archive that tries to leave its directory, or that we cannot apply:
/// the client's fault, a 400 (moby's `breakoutError`).
#[derive(Debug)]
pub struct BadArchive(pub String);

impl std::fmt::Display for BadArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadArchive {}

/// The errno under an error's context, if a syscall failed.
pub fn errno(error: &anyhow::Error) -> Option<Errno> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Errno>().copied())
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is ours alone.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A directory that paths are resolved in as if it were `/`.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    pub fn open(path: &Path) -> anyhow::Result<Root> {
        let fd = openat(
            None,
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open({}, O_PATH|O_DIRECTORY)", path.display()))?;
        Ok(Root {
            fd: owned(fd),
            path: path.to_path_buf(),
        })
    }

    // ANCHOR: open_in_root
    /// Opens `path` (absolute or not, it is read from the root) with the
    /// kernel doing the whole resolution inside the root.
    pub fn open_at(&self, path: &str, flags: OFlag) -> anyhow::Result<OwnedFd> {
        let path = if path.trim_matches('/').is_empty() {
            "."
        } else {
            path
        };
        // RESOLVE_IN_ROOT: `..` and absolute symlinks resolve as if this fd
        // were `/`, checked by the kernel at each step of this very open.
        // RESOLVE_NO_MAGICLINKS: no /proc/self/fd/N jumps to another file.
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(self.fd.as_raw_fd(), path, how) {
                Ok(fd) => return Ok(owned(fd)),
                // EAGAIN: a rename elsewhere raced the lookup; the kernel
                // asks us to try again rather than risk a wrong answer.
                Err(Errno::EAGAIN) => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("openat2({path}) in root {}", self.path.display())
                    });
                }
            }
        }
    }
    // ANCHOR_END: open_in_root

    /// The directory holding `path`'s last component, opened in the root,
    /// and that component (`None` for the root itself). The last component
    /// is not followed: a symlink there is the symlink.
    pub fn parent_of(&self, path: &str) -> anyhow::Result<(OwnedFd, Option<String>)> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.split_last() {
            // "/a/b/": the trailing `/` asks for the directory b leads to,
            // symlink followed (moby's `ResolvePath` splits it the same way).
            Some(_) if path.ends_with('/') => {
                let dir = self.open_at(path, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                Ok((dir, None))
            }
            None => Ok((self.open_at(".", OFlag::O_PATH | OFlag::O_DIRECTORY)?, None)),
            Some((last, _)) if *last == "." || *last == ".." => {
                // "/a/." and "/a/..": the directory they name, as the root.
                let dir = self.open_at(path, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                Ok((dir, None))
            }
            Some((last, dirs)) => {
                let dir = self.open_at(&dirs.join("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                Ok((dir, Some(last.to_string())))
            }
        }
    }

    /// lstat(2) of `path` inside the root.
    pub fn lstat(&self, path: &str) -> anyhow::Result<FileStat> {
        let (dir, name) = self.parent_of(path)?;
        stat_entry(&dir, name.as_deref()).with_context(|| format!("lstat({path})"))
    }

    /// Where `path` leads, every symlink followed, as a path from the root
    /// (what `docker cp -L` copies).
    pub fn resolve(&self, path: &str) -> anyhow::Result<String> {
        let fd = self.open_at(path, OFlag::O_PATH)?;
        let root = std::fs::read_link(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))?;
        let found = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let inside = found.strip_prefix(&root).unwrap_or(Path::new(""));
        Ok(format!("/{}", inside.display()))
    }
}

fn stat_entry(dir: &OwnedFd, name: Option<&str>) -> nix::Result<FileStat> {
    match name {
        None => fstat(dir.as_raw_fd()),
        Some(name) => fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW),
    }
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Writes `path` (a file, or a directory and all below it) to `out` as a
/// tar, its top entry named `top`. Nothing is followed: each entry is
/// opened relative to its directory's fd with `O_NOFOLLOW`, so a component
/// swapped for a symlink mid-walk fails that entry (ELOOP) instead of
/// leading out of the root.
pub fn tar_path<W: Write>(root: &Root, path: &str, top: &str, out: W) -> anyhow::Result<W> {
    let (dir, name) = root.parent_of(path)?;
    let mut builder = tar::Builder::new(out);
    match name {
        Some(name) => append(&mut builder, &dir, &name, top)?,
        None => {
            let st = fstat(dir.as_raw_fd()).context("fstat")?;
            let dir = openat(
                Some(dir.as_raw_fd()),
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .context("openat(., O_DIRECTORY)")?;
            append_dir(&mut builder, owned(dir), &st, top)?;
        }
    }
    Ok(builder.into_inner()?)
}

fn append<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &OwnedFd,
    name: &str,
    tar_name: &str,
) -> anyhow::Result<()> {
    let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .with_context(|| format!("fstatat({tar_name})"))?;
    // ANCHOR: tar_walk
    let open = |flags: OFlag| {
        // O_NOFOLLOW: a symlink put here since the fstatat is not followed.
        // O_NONBLOCK: a FIFO put here does not hang the open.
        openat(
            Some(dir.as_raw_fd()),
            name,
            flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(owned)
        .with_context(|| format!("openat({tar_name}, O_NOFOLLOW)"))
    };
    let mut header = header_for(&st);
    match kind(&st) {
        SFlag::S_IFDIR => append_dir(
            b,
            open(OFlag::O_RDONLY | OFlag::O_DIRECTORY)?,
            &st,
            tar_name,
        )?,
        SFlag::S_IFREG => {
            let file = File::from(open(OFlag::O_RDONLY)?);
            let now = fstat(file.as_raw_fd())?;
            if kind(&now) != SFlag::S_IFREG {
                bail!("{tar_name} changed while it was copied");
            }
            header.set_size(now.st_size as u64);
            // A file that shrinks while read is padded, one that grows cut:
            // the header's size is what the reader expects.
            let body = file.take(now.st_size as u64).chain(io::repeat(0));
            b.append_data(&mut header, tar_name, body.take(now.st_size as u64))?;
        }
        // ANCHOR_END: tar_walk
        SFlag::S_IFLNK => {
            let target = readlinkat(Some(dir.as_raw_fd()), name)?;
            header.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut header, tar_name, Path::new(&target))?;
        }
        SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
            let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
            header.set_device_major(major)?;
            header.set_device_minor(minor)?;
            b.append_data(&mut header, tar_name, io::empty())?;
        }
        _ => {} // sockets have no tar form: skipped, as moby does
    }
    Ok(())
}

fn append_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: OwnedFd,
    st: &FileStat,
    tar_name: &str,
) -> anyhow::Result<()> {
    let mut header = header_for(st);
    b.append_data(&mut header, format!("{tar_name}/"), io::empty())?;
    let mut names: Vec<String> = Vec::new();
    // A dup for the listing: closedir(3) closes the fd it was given.
    let copy = nix::unistd::dup(dir.as_raw_fd()).context("dup")?;
    let mut listing = Dir::from_fd(copy).context("fdopendir")?;
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(String::from_utf8_lossy(&name).into_owned());
        }
    }
    names.sort();
    for name in names {
        append(b, &dir, &name, &format!("{tar_name}/{name}"))?;
    }
    Ok(())
}

fn header_for(st: &FileStat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h.set_entry_type(match kind(st) {
        SFlag::S_IFDIR => tar::EntryType::Directory,
        SFlag::S_IFLNK => tar::EntryType::Symlink,
        SFlag::S_IFCHR => tar::EntryType::Char,
        SFlag::S_IFBLK => tar::EntryType::Block,
        SFlag::S_IFIFO => tar::EntryType::Fifo,
        _ => tar::EntryType::Regular,
    });
    h
}

/// How [`untar`] writes.
#[derive(Default, Clone, Copy)]
pub struct UntarOptions {
    /// Refuse to replace a directory by a non-directory and the reverse
    /// (what `docker cp` asks for, moby's `NoOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
    /// Every entry owned by these, not the archive's ids (`cp -a`).
    pub chown: Option<(u32, u32)>,
}

/// An entry's name as components below the target, or a [`BadArchive`]
/// when `..` climbs above it. A leading `/` is dropped, as tar does.
fn entry_components(name: &[u8]) -> anyhow::Result<Vec<String>> {
    let text = String::from_utf8_lossy(name);
    let mut parts: Vec<String> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(
                        BadArchive(format!("{text:?} is outside of the target directory")).into(),
                    );
                }
            }
            p => parts.push(p.to_string()),
        }
    }
    Ok(parts)
}

// ANCHOR: untar
/// Extracts `input` into `dir`, a directory in `root`. The target is a
/// root of its own for every entry: each parent is opened with
/// `RESOLVE_IN_ROOT` from the target's fd, so `..`, `/etc/passwd`, and a
/// symlink the archive made (`l -> /`, then `l/etc/passwd`) all land
/// inside the target, and the last component is created with `*at` calls
/// that never follow it.
pub fn untar(root: &Root, dir: &str, input: impl Read, opts: UntarOptions) -> anyhow::Result<()> {
    let target = Root {
        fd: root.open_at(dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?,
        path: root.path.join(dir.trim_start_matches('/')),
    };
    let mut archive = tar::Archive::new(input);
    let mut dir_times: Vec<(Vec<String>, i64)> = Vec::new();
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let parts = entry_components(&entry.path_bytes())?;
        let Some((name, parents)) = parts.split_last() else {
            continue; // "./": the target itself, left as it is
        };
        let parent = target.mkdir_all(parents)?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_pax_global_extensions() || kind.is_gnu_longname() {
            continue;
        }
        let shown = parts.join("/");
        replace_old(&parent, name, kind.is_dir(), opts, &shown)?;
        // ANCHOR_END: untar
        let mode = Mode::from_bits_truncate(header.mode().unwrap_or(0o644) & 0o7777);
        let (uid, gid) = opts.chown.unwrap_or((
            header.uid().unwrap_or(0) as u32,
            header.gid().unwrap_or(0) as u32,
        ));
        let mtime = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
        let p = Some(parent.as_raw_fd());
        match kind {
            tar::EntryType::Directory => {
                if let Err(e) = mkdirat(p, name.as_str(), Mode::S_IRWXU) {
                    if e != Errno::EEXIST {
                        return Err(e).with_context(|| format!("mkdirat({shown})"));
                    }
                }
                // O_NOFOLLOW|O_DIRECTORY: the directory, not a symlink
                // someone put in its place since the mkdirat.
                let fd = openat(p, name.as_str(), read_dir_flags(), Mode::empty())
                    .map(owned)
                    .with_context(|| format!("openat({shown}, O_DIRECTORY|O_NOFOLLOW)"))?;
                set_owner_mode(&fd, uid, gid, mode, &shown)?;
                dir_times.push((parts.clone(), mtime.tv_sec()));
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry.link_name_bytes().unwrap_or_default().to_vec();
                if kind == tar::EntryType::Symlink {
                    // A symlink's target is only text: it is followed later
                    // by whoever opens it, inside the container's root.
                    symlinkat(OsStr::from_bytes(&link), p, name.as_str())
                        .with_context(|| format!("symlinkat({shown})"))?;
                } else {
                    let old = entry_components(&link)?;
                    let (old_name, old_dirs) = old
                        .split_last()
                        .ok_or_else(|| BadArchive(format!("{shown}: hard link to nothing")))?;
                    let old_dir =
                        target.open_at(&old_dirs.join("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                    // linkat without AT_SYMLINK_FOLLOW links the entry itself.
                    linkat(
                        Some(old_dir.as_raw_fd()),
                        old_name.as_str(),
                        p,
                        name.as_str(),
                        AtFlags::empty(),
                    )
                    .with_context(|| format!("linkat({shown})"))?;
                    continue;
                }
                fchownat(
                    p,
                    name.as_str(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .with_context(|| format!("fchownat({shown})"))?;
                utimensat(
                    p,
                    name.as_str(),
                    &mtime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .with_context(|| format!("utimensat({shown})"))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = libc::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                mknodat(p, name.as_str(), sflag, mode, dev)
                    .with_context(|| format!("mknodat({shown})"))?;
                fchownat(
                    p,
                    name.as_str(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .with_context(|| format!("fchownat({shown})"))?;
            }
            _ => {
                // O_EXCL|O_NOFOLLOW: a new file, never whatever (or wherever)
                // a symlink that appeared under this name points to.
                let fd = openat(
                    p,
                    name.as_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                )
                .map(owned)
                .with_context(|| format!("openat({shown}, O_CREAT|O_EXCL|O_NOFOLLOW)"))?;
                let mut file = File::from(fd);
                io::copy(&mut entry, &mut file).with_context(|| format!("writing {shown}"))?;
                let fd = OwnedFd::from(file);
                set_owner_mode(&fd, uid, gid, mode, &shown)?;
                futimens(fd.as_raw_fd(), &mtime, &mtime)
                    .with_context(|| format!("futimens({shown})"))?;
            }
        }
    }
    // Directory times last: writing into a directory changes its mtime.
    for (parts, secs) in dir_times.iter().rev() {
        if let Ok(fd) = target.open_at(&parts.join("/"), read_dir_flags()) {
            let t = TimeSpec::new(*secs, 0);
            futimens(fd.as_raw_fd(), &t, &t)
                .with_context(|| format!("futimens({})", parts.join("/")))?;
        }
    }
    Ok(())
}

fn read_dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn set_owner_mode(fd: &OwnedFd, uid: u32, gid: u32, mode: Mode, shown: &str) -> anyhow::Result<()> {
    // chown before chmod: chown(2) clears set-user-ID and set-group-ID.
    fchown(
        fd.as_raw_fd(),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    )
    .with_context(|| format!("fchown({shown})"))?;
    fchmod(fd.as_raw_fd(), mode).with_context(|| format!("fchmod({shown})"))
}

/// Makes room for a new entry `name` in `parent`: a directory stays for a
/// directory, anything else goes (a directory only if empty).
fn replace_old(
    parent: &OwnedFd,
    name: &str,
    new_is_dir: bool,
    opts: UntarOptions,
    shown: &str,
) -> anyhow::Result<()> {
    let old = match fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("fstatat({shown})")),
    };
    let old_is_dir = kind(&old) == SFlag::S_IFDIR;
    if old_is_dir && new_is_dir {
        return Ok(());
    }
    if opts.no_overwrite_dir_non_dir && old_is_dir != new_is_dir {
        let message = if old_is_dir {
            format!("cannot overwrite directory \"/{shown}\" with non-directory")
        } else {
            format!("cannot overwrite non-directory \"/{shown}\" with directory")
        };
        return Err(BadArchive(message).into());
    }
    let flag = if old_is_dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    unlinkat(Some(parent.as_raw_fd()), name, flag).with_context(|| format!("unlinkat({shown})"))
}

impl Root {
    /// Opens (creating as needed) the directory `parts` below this root,
    /// one component at a time, each resolved in the root.
    fn mkdir_all(&self, parts: &[String]) -> anyhow::Result<OwnedFd> {
        let mut dir = self.open_at(".", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        for (i, part) in parts.iter().enumerate() {
            let sofar = parts[..=i].join("/");
            match self.open_at(&sofar, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Ok(next) => dir = next,
                Err(e) if errno(&e) == Some(Errno::ENOENT) => {
                    let mode = Mode::from_bits_truncate(0o755);
                    match mkdirat(Some(dir.as_raw_fd()), part.as_str(), mode) {
                        // EEXIST after ENOENT: a symlink to nothing in the
                        // root (or gone since). Refused, never followed out.
                        Err(Errno::EEXIST) => return Err(not_a_dir(&sofar)),
                        r => r.with_context(|| format!("mkdirat({sofar})"))?,
                    }
                    dir = self.open_at(&sofar, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                }
                Err(e) if errno(&e) == Some(Errno::ENOTDIR) => return Err(not_a_dir(&sofar)),
                Err(e) => return Err(e),
            }
        }
        Ok(dir)
    }
}

fn not_a_dir(path: &str) -> anyhow::Error {
    BadArchive(format!("cannot extract below {path:?}: not a directory")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            } else {
                h.set_size(data.len() as u64);
                // set_path refuses "..": write the raw name as an attacker would.
                h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_symlink_out_of_the_root_leads_back_into_it() {
        let host = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host").unwrap();
        std::os::unix::fs::symlink(host.path(), root_dir.path().join("evil")).unwrap();
        let root = Root::open(root_dir.path()).unwrap();
        // The host's directory does not exist inside the root: ENOENT.
        let err = root.lstat("/evil/secret").unwrap_err();
        assert_eq!(errno(&err), Some(Errno::ENOENT), "{err:#}");
        assert!(tar_path(&root, "/evil/secret", "secret", Vec::new()).is_err());
    }

    #[test]
    fn bad_entries_never_leave_the_target() {
        let outside = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(root_dir.path().join("dst")).unwrap();
        let root = Root::open(root_dir.path()).unwrap();
        let climbing = tar_of(&[("../escaped", tar::EntryType::Regular, "x")]);
        let err = untar(&root, "/dst", &climbing[..], UntarOptions::default()).unwrap_err();
        assert!(err.downcast_ref::<BadArchive>().is_some(), "{err:#}");
        assert!(!root_dir.path().join("escaped").exists());
        // A symlink to the host's directory is followed inside the root,
        // where that directory does not exist: refused, nothing written.
        let dangling = tar_of(&[
            (
                "l",
                tar::EntryType::Symlink,
                outside.path().to_str().unwrap(),
            ),
            ("l/written", tar::EntryType::Regular, "x"),
        ]);
        let err = untar(&root, "/dst", &dangling[..], UntarOptions::default()).unwrap_err();
        assert!(err.downcast_ref::<BadArchive>().is_some(), "{err:#}");
        // A symlink to `/` leads to the target, not to the host's root.
        let through_link = tar_of(&[
            ("up", tar::EntryType::Symlink, "/"),
            ("up/written", tar::EntryType::Regular, "x"),
            ("/abs", tar::EntryType::Regular, "y"),
        ]);
        untar(&root, "/dst", &through_link[..], UntarOptions::default()).unwrap();
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert!(!Path::new("/written").exists());
        let dst = root_dir.path().join("dst");
        assert_eq!(std::fs::read_to_string(dst.join("written")).unwrap(), "x");
        assert_eq!(std::fs::read_to_string(dst.join("abs")).unwrap(), "y");
    }

    #[test]
    fn a_tree_goes_out_and_comes_back() {
        let root_dir = tempfile::tempdir().unwrap();
        let src = root_dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "hello").unwrap();
        std::os::unix::fs::symlink("/nowhere", src.join("link")).unwrap();
        std::fs::create_dir(root_dir.path().join("dst")).unwrap();
        let root = Root::open(root_dir.path()).unwrap();
        let tar = tar_path(&root, "/src", "copy", Vec::new()).unwrap();
        untar(&root, "/dst", &tar[..], UntarOptions::default()).unwrap();
        let copy = root_dir.path().join("dst/copy");
        assert_eq!(
            std::fs::read_to_string(copy.join("sub/f")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::read_link(copy.join("link")).unwrap(),
            Path::new("/nowhere")
        );
        assert_eq!(root.resolve("/src/sub/../sub").unwrap(), "/src/sub");
    }
}
