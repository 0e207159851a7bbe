//! Unpacking a layer into the directory overlayfs will stack as a lower
//! layer: moby's `daemon/graphdriver/overlay2` `ApplyDiff`, which is
//! `pkg/archive.UnpackLayer` with the overlay whiteout converter.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;

use super::compression::{Compression, MAGIC_LEN};
use super::path::EntryPath;
use super::root::{Missing, Root};
use super::whiteout::{self, Marker, OVERLAY_XATTR_PREFIX};
use super::xattr;
use crate::digest::{Digest, HashingReader};

/// What to do with character and block device entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePolicy {
    /// mknod them (needs CAP_MKNOD, so root).
    Create,
    /// Leave them out, counted in [`Unpacked::skipped_devices`]: what an
    /// unprivileged user can do. (Fifos need no privilege and are always made.)
    Skip,
}

#[derive(Clone, Debug)]
pub struct UnpackOptions {
    pub devices: DevicePolicy,
    /// lchown every entry to the tar's uid/gid. Without it the files belong
    /// to whoever unpacks, as with `tar -x` run by a normal user.
    pub preserve_ownership: bool,
}

impl UnpackOptions {
    /// Everything root can do, or what a normal user can.
    pub fn for_current_user() -> UnpackOptions {
        if nix::unistd::geteuid().is_root() {
            UnpackOptions {
                devices: DevicePolicy::Create,
                preserve_ownership: true,
            }
        } else {
            UnpackOptions {
                devices: DevicePolicy::Skip,
                preserve_ownership: false,
            }
        }
    }
}

/// What unpacking found, besides the files.
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar: the image config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// sha256 of the bytes as given: the manifest's layer digest.
    pub digest: Digest,
    pub compression: Compression,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Char and block devices left out under [`DevicePolicy::Skip`].
    pub skipped_devices: usize,
    /// xattrs not set, one line each (`path: name (why)`): the kernel
    /// refused them (EPERM, ENOTSUP, as Docker tolerates), or they were
    /// overlayfs's own `trusted.overlay.*`, which only `.wh.` entries may set.
    pub skipped_xattrs: Vec<String>,
}

// ANCHOR: unpack
/// Unpacks a layer (plain, gzip or zstd tar) into `target`, made if missing.
///
/// One pass over the input: the bytes are hashed as they arrive, then
/// decompressed, hashed again and written out. Whiteout markers become
/// overlayfs whiteouts. Nothing is ever written outside `target`. On error
/// `target` holds part of the layer: the caller unpacks into a staging
/// directory and removes it.
pub fn unpack(
    input: impl Read,
    target: &Path,
    options: &UnpackOptions,
) -> anyhow::Result<Unpacked> {
    let mut compressed = HashingReader::new(input);
    let head = read_head(&mut compressed).context("reading the start of the layer")?;
    if head.is_empty() {
        bail!("the layer is empty (0 bytes): not a tar stream");
    }
    let compression = Compression::detect(&head)?;
    let mut extraction = Extraction::new(Root::open(target)?, options);

    let (diff_id, uncompressed_size) = {
        let decompressed = compression.decoder(Cursor::new(head).chain(&mut compressed));
        let mut uncompressed = HashingReader::new(decompressed);
        extraction.read_tar(&mut uncompressed)?;
        // A tar ends with two zero blocks, padded with zeros to the record
        // size (10 KiB for GNU tar), and a gzip stream with its CRC: read it
        // all, so the digests cover every byte and the CRC gets checked.
        io::copy(&mut uncompressed, &mut io::sink())
            .context("reading the end of the layer after its tar")?;
        uncompressed.finish()
    };
    // Whatever the decompressor did not need (nothing, for a well-formed layer).
    io::copy(&mut compressed, &mut io::sink()).context("reading the end of the layer")?;
    let (digest, compressed_size) = compressed.finish();

    extraction.stamp_directories()?;
    Ok(Unpacked {
        diff_id,
        digest,
        compression,
        compressed_size,
        uncompressed_size,
        skipped_devices: extraction.skipped_devices,
        skipped_xattrs: extraction.skipped_xattrs,
    })
}
// ANCHOR_END: unpack

/// The first bytes, enough to tell the compression (fewer only at the end).
fn read_head(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(MAGIC_LEN);
    input.take(MAGIC_LEN as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// One layer being written.
struct Extraction<'o> {
    root: Root,
    options: &'o UnpackOptions,
    /// Final mode and mtime of each directory, set once its contents are
    /// written: creating a file in a directory updates the directory's
    /// mtime, and a read-only mode would stop a normal user writing into it.
    directories: BTreeMap<EntryPath, Stamp>,
    skipped_devices: usize,
    skipped_xattrs: Vec<String>,
}

#[derive(Clone, Copy)]
struct Stamp {
    mode: u32,
    mtime: TimeSpec,
}

/// An entry's metadata, as the tar gives it.
struct Attributes {
    uid: u32,
    gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    mode: u32,
    mtime: TimeSpec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What kind of file metadata is being applied to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    Symlink,
    Special,
}

impl<'o> Extraction<'o> {
    fn new(root: Root, options: &'o UnpackOptions) -> Extraction<'o> {
        Extraction {
            root,
            options,
            directories: BTreeMap::new(),
            skipped_devices: 0,
            skipped_xattrs: Vec::new(),
        }
    }

    fn read_tar(&mut self, tar: impl Read) -> anyhow::Result<()> {
        let mut archive = tar::Archive::new(tar);
        let mut previous: Option<String> = None;
        let context = |previous: &Option<String>| match previous {
            Some(name) => format!("reading the layer's tar stream after entry '{name}'"),
            None => "reading the layer's tar stream".to_string(),
        };
        for entry in archive.entries().with_context(|| context(&previous))? {
            let mut entry = entry.with_context(|| context(&previous))?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            self.entry(&mut entry, &raw)
                .with_context(|| format!("layer entry '{shown}'"))?;
            previous = Some(shown);
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>, raw: &[u8]) -> anyhow::Result<()> {
        let header = entry.header();
        let mut kind = header.entry_type();
        if kind == EntryType::XGlobalHeader {
            // PAX global headers set defaults nobody relies on in layers; Docker ignores them too.
            return Ok(());
        }
        // Pre-POSIX tar marked directories only by a trailing slash on a
        // type '\0' entry (Go's archive/tar reads them the same way).
        if header.as_old().linkflag[0] == 0 && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        let path = EntryPath::parse(raw)?;
        let attributes = Attributes::of(entry)?;

        if let Some(first) = path.parent_components().first() {
            if Marker::of(first) == Some(Marker::AufsMeta) {
                return Ok(());
            }
        }
        if let Some(name) = path.name() {
            match Marker::of(name) {
                Some(Marker::Opaque) => return self.opaque(&path.parent()),
                Some(Marker::Whiteout(hidden)) => return self.whiteout(&path, hidden, &attributes),
                Some(Marker::AufsMeta) => return Ok(()),
                None => {}
            }
        }
        let Some(name) = path.name() else {
            if kind != EntryType::Directory {
                bail!("names the layer root but is a {kind:?}, not a directory");
            }
            // `./` in a tar: the layer root's own metadata.
            let root = self.root.dir(&[], Missing::Fail)?;
            return self.apply(
                root.as_fd(),
                OsStr::new("."),
                &path,
                Kind::Directory,
                &attributes,
            );
        };
        let parent = self.root.dir(path.parent_components(), Missing::Create)?;
        let parent = parent.as_fd();

        match kind {
            // GNU sparse files: the tar crate fills the holes with zeros as it reads.
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.clear(parent, name, &path, false)?;
                let flags = OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                // O_EXCL: the name was just cleared, and O_CREAT|O_EXCL never follows a symlink.
                let fd = openat(
                    Some(parent.as_raw_fd()),
                    name,
                    flags,
                    Mode::from_bits_truncate(0o600),
                )
                .context("creating the file")?;
                // SAFETY: openat returned a new descriptor that nothing else owns.
                let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
                io::copy(entry, &mut file).context("writing the file's contents")?;
                drop(file);
                self.apply(parent, name, &path, Kind::File, &attributes)
            }
            EntryType::Directory => {
                // A directory listed again (in this layer, or already in the
                // target) is merged: its contents stay, its metadata is updated.
                if !self.clear(parent, name, &path, true)? {
                    // 0700 until the end: the final mode may not let us write into it.
                    mkdirat(
                        Some(parent.as_raw_fd()),
                        name,
                        Mode::from_bits_truncate(0o700),
                    )
                    .context("creating the directory")?;
                }
                self.apply(parent, name, &path, Kind::Directory, &attributes)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| anyhow!("symlink without a target"))?;
                if target.is_empty() || target.contains(&0) {
                    bail!(
                        "symlink target {:?} is empty or has a NUL byte",
                        String::from_utf8_lossy(&target)
                    );
                }
                // A symlink may point anywhere, even outside: it is only
                // resolved inside the container, where `/` is the image root.
                // What matters is that nothing here is written through it.
                self.clear(parent, name, &path, false)?;
                symlinkat(OsStr::from_bytes(&target), Some(parent.as_raw_fd()), name)
                    .context("creating the symlink")?;
                self.apply(parent, name, &path, Kind::Symlink, &attributes)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| anyhow!("hardlink without a target"))?;
                self.hardlink(parent, name, &path, &target)
            }
            EntryType::Char | EntryType::Block => {
                if self.options.devices == DevicePolicy::Skip {
                    self.skipped_devices += 1;
                    return Ok(());
                }
                let header = entry.header();
                let major = header
                    .device_major()?
                    .ok_or_else(|| anyhow!("device entry without a major number"))?;
                let minor = header
                    .device_minor()?
                    .ok_or_else(|| anyhow!("device entry without a minor number"))?;
                let kind = if kind == EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                self.clear(parent, name, &path, false)?;
                match mknodat(
                    Some(parent.as_raw_fd()),
                    name,
                    kind,
                    Mode::from_bits_truncate(0o600),
                    makedev(major.into(), minor.into()),
                ) {
                    Ok(()) => {}
                    Err(Errno::EPERM) => bail!(
                        "creating device {major}:{minor} needs CAP_MKNOD: run as root, or unpack with DevicePolicy::Skip"
                    ),
                    Err(e) => return Err(e).context("creating the device node"),
                }
                self.apply(parent, name, &path, Kind::Special, &attributes)
            }
            EntryType::Fifo => {
                self.clear(parent, name, &path, false)?;
                mknodat(
                    Some(parent.as_raw_fd()),
                    name,
                    SFlag::S_IFIFO,
                    Mode::from_bits_truncate(0o600),
                    0,
                )
                .context("creating the fifo")?;
                self.apply(parent, name, &path, Kind::Special, &attributes)
            }
            other => bail!(
                "unsupported tar entry type {other:?} (type flag {:?})",
                other.as_byte() as char
            ),
        }
    }

    // ANCHOR: whiteout
    /// `dir/.wh.NAME`: NAME existed in a layer below and is deleted here.
    fn whiteout(
        &mut self,
        marker: &EntryPath,
        hidden: &OsStr,
        attributes: &Attributes,
    ) -> anyhow::Result<()> {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            bail!(
                "malformed whiteout: {:?} is not a file name",
                hidden.to_string_lossy()
            );
        }
        let path = marker.parent().join(hidden);
        let parent = self.root.dir(marker.parent_components(), Missing::Create)?;
        let parent = parent.as_fd();
        // Whatever this layer put there before is gone too.
        self.clear(parent, hidden, &path, false)?;
        whiteout::create_whiteout(parent, hidden)
            .with_context(|| format!("creating the overlay whiteout '{path}'"))?;
        // Docker gives the whiteout the marker's owner; its mtime too, so that
        // a diff of this directory writes the same marker back.
        if self.options.preserve_ownership {
            chown(parent, hidden, attributes)
                .with_context(|| format!("chown of the whiteout '{path}'"))?;
        }
        set_times(parent, hidden, attributes.mtime)
            .with_context(|| format!("setting the mtime of '{path}'"))
    }

    /// `dir/.wh..wh..opq`: the layers below contribute nothing to `dir`.
    fn opaque(&mut self, dir: &EntryPath) -> anyhow::Result<()> {
        let fd = self.root.dir(dir.components(), Missing::Create)?;
        whiteout::mark_opaque(fd.as_fd()).with_context(|| format!("marking '{dir}' opaque"))
    }
    // ANCHOR_END: whiteout

    // ANCHOR: hardlink
    fn hardlink(
        &mut self,
        parent: BorrowedFd,
        name: &OsStr,
        path: &EntryPath,
        raw: &[u8],
    ) -> anyhow::Result<()> {
        let shown = String::from_utf8_lossy(raw);
        // The target is a name in this layer, cleaned like any entry's name:
        // `/etc/passwd` is the layer's etc/passwd, `../x` is refused.
        let target =
            EntryPath::parse(raw).map_err(|e| anyhow!("hardlink target '{shown}': {e}"))?;
        let Some(target_name) = target.name() else {
            bail!("hardlink target '{shown}' is the layer root, a directory");
        };
        if &target == path {
            return Ok(());
        }
        let target_dir = self
            .root
            .dir(target.parent_components(), Missing::Fail)
            .with_context(|| format!("hardlink target '{shown}'"))?;
        match fstatat(
            Some(target_dir.as_raw_fd()),
            target_name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) if stat.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                bail!("hardlink target '{shown}' is a directory")
            }
            Ok(_) => {}
            Err(Errno::ENOENT) => bail!("hardlink target '{shown}' does not exist in the layer"),
            Err(e) => return Err(e).with_context(|| format!("hardlink target '{shown}'")),
        }
        self.clear(parent, name, path, false)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink
        // itself, never to what it points at.
        linkat(
            Some(target_dir.as_raw_fd()),
            target_name,
            Some(parent.as_raw_fd()),
            name,
            AtFlags::empty(),
        )
        .with_context(|| format!("linking to '{target}'"))
        // The inode's metadata is the target's: a link entry carries nothing new.
    }
    // ANCHOR_END: hardlink

    /// Makes room for a new entry: a later entry replaces an earlier one at
    /// the same path, unless both are directories (Docker: `RemoveAll`
    /// unless both are dirs). Returns whether a directory was kept.
    fn clear(
        &mut self,
        parent: BorrowedFd,
        name: &OsStr,
        path: &EntryPath,
        keep_dir: bool,
    ) -> anyhow::Result<bool> {
        let stat = match fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(e).context("looking at what is already there"),
        };
        if stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
            unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                .context("removing what was there before")?;
            return Ok(false);
        }
        if keep_dir {
            return Ok(true);
        }
        self.root
            .remove_tree(parent, name)
            .context("removing the directory that was there before")?;
        self.directories
            .retain(|dir, _| !dir.components().starts_with(path.components()));
        Ok(false)
    }

    /// Owner, mode, xattrs and mtime, in that order: chown clears setuid,
    /// setgid and file capabilities (security.capability), so it goes first.
    fn apply(
        &mut self,
        parent: BorrowedFd,
        name: &OsStr,
        path: &EntryPath,
        kind: Kind,
        attributes: &Attributes,
    ) -> anyhow::Result<()> {
        if self.options.preserve_ownership {
            chown(parent, name, attributes)?;
        }
        // Linux symlinks have no mode of their own (always 0777); a
        // directory's mode waits for the end, with its mtime.
        if kind == Kind::File || kind == Kind::Special {
            fchmodat(
                Some(parent.as_raw_fd()),
                name,
                mode(attributes.mode),
                FchmodatFlags::FollowSymlink,
            )
            .with_context(|| format!("chmod {:o}", attributes.mode))?;
        }
        for (key, value) in &attributes.xattrs {
            self.set_xattr(parent, name, path, key, value)?;
        }
        if kind == Kind::Directory {
            self.directories.insert(
                path.clone(),
                Stamp {
                    mode: attributes.mode,
                    mtime: attributes.mtime,
                },
            );
            return Ok(());
        }
        set_times(parent, name, attributes.mtime).context("setting the mtime")
    }

    fn set_xattr(
        &mut self,
        parent: BorrowedFd,
        name: &OsStr,
        path: &EntryPath,
        key: &[u8],
        value: &[u8],
    ) -> anyhow::Result<()> {
        let shown = String::from_utf8_lossy(key);
        // A tar could otherwise set trusted.overlay.redirect or .opaque and
        // steer overlayfs lookups in the layers below; whiteouts and opaque
        // directories come only from `.wh.` entries.
        if key.starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
            self.skipped_xattrs
                .push(format!("{path}: {shown} (reserved for overlayfs)"));
            return Ok(());
        }
        match xattr::set_beneath(parent, name, key, value) {
            Ok(()) => Ok(()),
            // Docker's choice too: a filesystem without xattrs (ENOTSUP), a
            // namespace we may not write (EPERM: trusted.* or
            // security.capability unprivileged, user.* on a symlink) does not
            // fail the layer; the caller gets the list.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::ENOTSUP)) => {
                self.skipped_xattrs.push(format!("{path}: {shown} ({e})"));
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("setting the xattr {shown}")),
        }
    }

    /// Directories' modes and mtimes, deepest first, so that a directory
    /// whose mode forbids entering it is closed last.
    fn stamp_directories(&mut self) -> anyhow::Result<()> {
        let directories = std::mem::take(&mut self.directories);
        for (path, stamp) in directories.iter().rev() {
            // Replaced by a non-directory after it was listed: nothing to stamp.
            let Some(dir) = self.root.existing_dir(path.components())? else {
                continue;
            };
            fchmod(dir.as_raw_fd(), mode(stamp.mode))
                .with_context(|| format!("layer directory '{path}': chmod"))?;
            futimens(dir.as_raw_fd(), &stamp.mtime, &stamp.mtime)
                .with_context(|| format!("layer directory '{path}': setting the mtime"))?;
        }
        Ok(())
    }
}

impl Attributes {
    fn of<R: Read>(entry: &mut tar::Entry<R>) -> anyhow::Result<Attributes> {
        let header = entry.header();
        let fields = header.as_old();
        // The tar crate already applied PAX uid/gid records to the header.
        let uid = numeric(header.uid(), &fields.uid).context("reading the uid")?;
        let gid = numeric(header.gid(), &fields.gid).context("reading the gid")?;
        let uid = u32::try_from(uid).map_err(|_| anyhow!("uid {uid} does not fit in 32 bits"))?;
        let gid = u32::try_from(gid).map_err(|_| anyhow!("gid {gid} does not fit in 32 bits"))?;
        let mode = numeric(header.mode().map(u64::from), &fields.mode)
            .context("reading the mode")? as u32
            & 0o7777;
        let seconds = numeric(header.mtime(), &fields.mtime).context("reading the mtime")?;
        let mut mtime = TimeSpec::new(i64::try_from(seconds).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().context("reading the PAX records")? {
            for extension in extensions {
                let extension = extension.context("reading a PAX record")?;
                let key = extension.key_bytes();
                if key == b"mtime" {
                    mtime = parse_pax_time(extension.value_bytes())?;
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    // GNU tar, Go and Docker keep xattrs as SCHILY.xattr.NAME=raw value.
                    xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
                }
            }
        }
        Ok(Attributes {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }
}

/// A numeric header field; a blank one (all NULs or spaces, as some
/// writers leave uid or mtime) is 0, as Go's archive/tar (Docker's) reads it.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

fn mode(bits: u32) -> Mode {
    Mode::from_bits_truncate(bits as libc::mode_t)
}

fn chown(parent: BorrowedFd, name: &OsStr, attributes: &Attributes) -> anyhow::Result<()> {
    let (uid, gid) = (attributes.uid, attributes.gid);
    // AT_SYMLINK_NOFOLLOW: lchown, the symlink itself and never its target.
    fchownat(
        Some(parent.as_raw_fd()),
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("chown to {uid}:{gid}"))
}

fn set_times(parent: BorrowedFd, name: &OsStr, mtime: TimeSpec) -> nix::Result<()> {
    // atime = mtime, as Docker does when the tar has none: the result does not
    // depend on when it was unpacked. NoFollow: a symlink's own times.
    utimensat(
        Some(parent.as_raw_fd()),
        name,
        &mtime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
}

/// A PAX time: decimal seconds since the epoch with an optional fraction,
/// possibly negative ("1700000000.25", "-1.5").
fn parse_pax_time(raw: &[u8]) -> anyhow::Result<TimeSpec> {
    let invalid = || anyhow!("invalid PAX time {:?}", String::from_utf8_lossy(raw));
    let text = std::str::from_utf8(raw).map_err(|_| invalid())?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let mut seconds: i64 = whole.parse().map_err(|_| invalid())?;
    // Nanoseconds: the first nine digits of the fraction, zero-padded.
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10
            + fraction
                .as_bytes()
                .get(i)
                .map_or(0, |b| i64::from(b - b'0'));
    }
    if negative {
        seconds = -seconds;
        if nanos > 0 {
            seconds -= 1;
            nanos = 1_000_000_000 - nanos;
        }
    }
    Ok(TimeSpec::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = |raw: &str| parse_pax_time(raw.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t("1700000000").unwrap(), (1_700_000_000, 0));
        assert_eq!(t("1700000000.25").unwrap(), (1_700_000_000, 250_000_000));
        assert_eq!(t("1.1234567891").unwrap(), (1, 123_456_789));
        assert_eq!(t("-1.5").unwrap(), (-2, 500_000_000));
        assert_eq!(t("0.").unwrap(), (0, 0));
        for bad in ["", "x", "1.2.3", "1e9", "--1", "."] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn root_unpacks_everything_and_a_user_what_it_can() {
        let options = UnpackOptions::for_current_user();
        if nix::unistd::geteuid().is_root() {
            assert_eq!(options.devices, DevicePolicy::Create);
            assert!(options.preserve_ownership);
        } else {
            assert_eq!(options.devices, DevicePolicy::Skip);
            assert!(!options.preserve_ownership);
        }
    }

    #[test]
    fn an_empty_input_is_not_a_layer() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(
            &b""[..],
            &dir.path().join("t"),
            &UnpackOptions::for_current_user(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("the layer is empty"), "{err:#}");
    }
}
