//! A container's changes as a layer: the tar of an overlayfs upper
//! directory, whiteouts turned back into `.wh.` markers. moby:
//! `daemon/graphdriver/overlay2` `Diff` (the fast path, when the upper dir
//! is exactly the changes), `pkg/archive` `overlayWhiteoutConverter.ConvertWrite`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use tar::{EntryType, Header};

use super::whiteout::{self, OPAQUE_MARKER, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX};
use super::xattr;
use crate::digest::{Digest, HashingWriter};

/// A ustar header's name and linkname fields hold 100 bytes; longer names
/// go in PAX records.
const USTAR_NAME_LEN: usize = 100;
/// ustar's 8-byte octal uid/gid fields stop below 8^7.
const USTAR_ID_MAX: u64 = 0o7777777;
/// ustar's 12-byte octal size field stops below 8^11 (8 GiB).
const USTAR_SIZE_MAX: u64 = 0o77777777777;

/// Writes the layer tar of an overlayfs upper directory to `out` and
/// returns its diff_id and size.
///
/// Entries are in byte order of their names, with no atime and no ctime,
/// so the same tree always gives the same bytes (and the same diff_id).
/// Names are relative (`bin/sh`, directories `bin/`), as in Docker's layers.
pub fn diff(upper: &Path, out: impl Write) -> anyhow::Result<(Digest, u64)> {
    let metadata =
        fs::symlink_metadata(upper).with_context(|| format!("reading {}", upper.display()))?;
    if !metadata.is_dir() {
        bail!("{} is not a directory", upper.display());
    }
    let mut layer = LayerTar {
        builder: tar::Builder::new(HashingWriter::new(out)),
        links: HashMap::new(),
    };
    // The upper root itself has no entry, but it may be opaque.
    if whiteout::is_opaque(upper)? {
        layer.marker(OPAQUE_MARKER.as_bytes(), &metadata, metadata.mode() & 0o777)?;
    }
    layer.directory(upper, b"")?;
    let hashing = layer
        .builder
        .into_inner()
        .context("writing the end of the layer tar")?;
    let (_, digest, size) = hashing.finish();
    Ok((digest, size))
}

struct LayerTar<W: Write> {
    builder: tar::Builder<HashingWriter<W>>,
    /// First name of each multiply-linked inode, by (device, inode).
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> LayerTar<W> {
    /// The entries of `dir`, whose name in the tar is `prefix` (empty, or
    /// ending with `/`), sorted by name.
    fn directory(&mut self, dir: &Path, prefix: &[u8]) -> anyhow::Result<()> {
        let mut names = fs::read_dir(dir)
            .and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<Vec<OsString>>>()
            })
            .with_context(|| format!("listing {}", dir.display()))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let mut rel = prefix.to_vec();
            rel.extend_from_slice(name.as_bytes());
            // Recursion depth is bounded: past PATH_MAX (4096 bytes, so ~2000
            // levels) the kernel refuses the path with ENAMETOOLONG.
            self.file(&path, rel)
                .with_context(|| format!("adding {} to the layer", path.display()))?;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, mut rel: Vec<u8>) -> anyhow::Result<()> {
        let metadata = fs::symlink_metadata(path)?;
        let kind = metadata.file_type();
        if whiteout::is_whiteout(&metadata) {
            // overlayfs whiteout -> `.wh.NAME`, an empty regular file with the
            // whiteout's owner and mtime, mode 0600 as Docker writes it.
            let split = rel.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
            rel.splice(split..split, WHITEOUT_PREFIX.bytes());
            return self.marker(&rel, &metadata, 0o600);
        }
        let mut header = header_of(&metadata);
        let mut records = xattr_records(path)?;
        if kind.is_dir() {
            rel.push(b'/');
            header.set_entry_type(EntryType::Directory);
            self.append(header, &rel, None, records, io::empty())?;
            if whiteout::is_opaque(path)? {
                // An opaque directory -> its entry plus `dir/.wh..wh..opq`.
                let mut marker = rel.clone();
                marker.extend_from_slice(OPAQUE_MARKER.as_bytes());
                self.marker(&marker, &metadata, metadata.mode() & 0o777)?;
            }
            return self.directory(path, &rel);
        }
        if kind.is_file() {
            if metadata.nlink() > 1 {
                let key = (metadata.dev(), metadata.ino());
                if let Some(first) = self.links.get(&key).cloned() {
                    // Another name of an inode already in the tar: a link entry.
                    header.set_entry_type(EntryType::Link);
                    return self.append(header, &rel, Some(&first), Vec::new(), io::empty());
                }
                self.links.insert(key, rel.clone());
            }
            header.set_entry_type(EntryType::Regular);
            header.set_size(metadata.len());
            if metadata.len() > USTAR_SIZE_MAX {
                records.push(("size".into(), metadata.len().to_string().into_bytes()));
            }
            // O_NOFOLLOW: the container may still be changing its files; never
            // read through a symlink swapped in since the lstat.
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?;
            let contents = Exactly {
                inner: file,
                left: metadata.len(),
            };
            return self.append(header, &rel, None, records, contents);
        }
        if kind.is_symlink() {
            let target = fs::read_link(path)?;
            header.set_entry_type(EntryType::Symlink);
            return self.append(
                header,
                &rel,
                Some(target.as_os_str().as_bytes()),
                records,
                io::empty(),
            );
        }
        if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            let entry_type = if kind.is_char_device() {
                EntryType::Char
            } else if kind.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            header.set_entry_type(entry_type);
            if !kind.is_fifo() {
                let rdev = metadata.rdev();
                header.set_device_major(libc::major(rdev))?;
                header.set_device_minor(libc::minor(rdev))?;
            }
            return self.append(header, &rel, None, records, io::empty());
        }
        // Sockets: tar has no type for them, and Docker leaves them out too.
        Ok(())
    }

    /// A `.wh.` marker: an empty regular file.
    fn marker(&mut self, name: &[u8], of: &Metadata, mode: u32) -> anyhow::Result<()> {
        let mut header = header_of(of);
        header.set_entry_type(EntryType::Regular);
        header.set_mode(mode);
        self.append(header, name, None, Vec::new(), io::empty())
    }

    /// Writes one entry: PAX records first when needed, then the ustar
    /// header with the name (and link name) filled in raw.
    fn append(
        &mut self,
        mut header: Header,
        name: &[u8],
        link: Option<&[u8]>,
        mut records: Vec<(String, Vec<u8>)>,
        contents: impl Read,
    ) -> anyhow::Result<()> {
        // The header keeps a truncated name for readers without PAX support;
        // everyone else takes the record.
        if name.len() > USTAR_NAME_LEN {
            records.push(("path".into(), name.to_vec()));
        }
        let fields = header.as_old_mut();
        let shown = &name[..name.len().min(USTAR_NAME_LEN)];
        fields.name[..shown.len()].copy_from_slice(shown);
        if let Some(link) = link {
            if link.len() > USTAR_NAME_LEN {
                records.push(("linkpath".into(), link.to_vec()));
            }
            let shown = &link[..link.len().min(USTAR_NAME_LEN)];
            fields.linkname[..shown.len()].copy_from_slice(shown);
        }
        if !records.is_empty() {
            records.sort();
            self.builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .context("writing PAX records")?;
        }
        header.set_cksum();
        self.builder
            .append(&header, contents)
            .context("writing the tar entry")
    }
}

/// A ustar header with the owner, mode and mtime of `metadata`.
fn header_of(metadata: &Metadata) -> Header {
    let mut header = Header::new_ustar();
    header.set_mode(metadata.mode() & 0o7777);
    header.set_uid(u64::from(metadata.uid()));
    header.set_gid(u64::from(metadata.gid()));
    // Whole seconds, as Docker writes them; a time before 1970 becomes 0.
    header.set_mtime(u64::try_from(metadata.mtime()).unwrap_or(0));
    header.set_size(0);
    header
}

/// PAX records for the ids ustar cannot hold and for the xattrs of `path`,
/// except overlayfs's own (trusted.overlay.*), which describe this upper
/// dir, not the image.
fn xattr_records(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let metadata = fs::symlink_metadata(path)?;
    let mut records = Vec::new();
    for (key, id) in [("uid", metadata.uid()), ("gid", metadata.gid())] {
        if u64::from(id) > USTAR_ID_MAX {
            records.push((key.to_string(), id.to_string().into_bytes()));
        }
    }
    let mut names = xattr::llist(path).context("listing xattrs")?;
    names.sort();
    for name in names {
        if name.starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
            continue;
        }
        let Some(value) = xattr::lget(path, &name).context("reading an xattr")? else {
            continue;
        };
        let name = String::from_utf8(name).map_err(|e| {
            anyhow::anyhow!(
                "xattr name {:?} is not UTF-8",
                String::from_utf8_lossy(e.as_bytes())
            )
        })?;
        records.push((format!("SCHILY.xattr.{name}"), value));
    }
    Ok(records)
}

/// Reads exactly `left` bytes, or fails: the tar header already promised
/// that size, so a file that shrank while being read must not yield a
/// corrupt tar.
struct Exactly<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
