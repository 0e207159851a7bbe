//! `docker load` and `docker save`: images in and out as one tar file.
//!
//! Two formats travel in such tars, and since Docker 25 one tar is both:
//!
//! ```text
//! manifest.json           docker-archive: [{"Config": …, "RepoTags": […], "Layers": […]}]
//! repositories            docker-archive, legacy: {"busybox": {"latest": …}}
//! <id>/layer.tar, <id>.json   docker-archive before Docker 25 (layers may be symlinks)
//! oci-layout              OCI image layout: {"imageLayoutVersion": "1.0.0"}
//! index.json              OCI image layout: the manifests, named by annotations
//! blobs/sha256/<hex>      OCI image layout (and Docker 25+'s manifest.json points here)
//! ```
//!
//! Loading extracts the tar into the store's scratch space (only files and
//! directories; links are kept as a table and followed by `Extracted`,
//! never on disk), then reads whichever index the tar has. Every byte that
//! reaches the store is checked: blobs against their digests, layers
//! against the config's `rootfs.diff_ids`, and the config is stored as
//! the bytes it came in, because its digest is the image ID. (moby:
//! `image/tarexport/`; containerd: `images/archive/`.)

mod docker;
mod oci;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::digest::{Digest, HashingReader};
use crate::oci::{Descriptor, ImageConfig, Index, Manifest, media};
use crate::reference::Reference;
use crate::store::{IMAGE_NAME, Image, ImageStore, StoredLayer};

/// The file that makes a directory an OCI image layout (image-spec
/// `image-layout.md`), and its content: 1.0.0 is the only version there is.
const OCI_LAYOUT_FILE: &str = "oci-layout";
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const INDEX_FILE: &str = "index.json";
const DOCKER_MANIFEST_FILE: &str = "manifest.json";
const REPOSITORIES_FILE: &str = "repositories";

/// How many links one path may pass through: Linux's own limit (MAXSYMLINKS).
const MAX_LINK_HOPS: usize = 40;

// ANCHOR: load
/// `docker load`: reads a docker-archive or OCI layout tar (plain or
/// gzip-compressed), stores its images and names them. Reports progress in
/// Docker's words ("Loading layer 1/3 …", "Loaded image: busybox:latest").
pub fn load(
    store: &ImageStore,
    archive: impl Read,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<Image>> {
    let scratch = store.temp_dir()?;
    let extracted = Extracted::unpack(archive, scratch.path())?;
    let has_index = extracted.is_file(INDEX_FILE);
    let has_docker_manifest = extracted.is_file(DOCKER_MANIFEST_FILE);
    // An OCI index keeps the manifests as they were (their digests are what
    // `name@sha256:…` means), so it wins when a Docker 25+ tar has both;
    // manifest.json then only lends its RepoTags to manifests without a name.
    let images = if has_index {
        oci::load(store, &extracted, progress)?
    } else if has_docker_manifest {
        docker::load(store, &extracted, progress)?
    } else if extracted.is_file(REPOSITORIES_FILE) {
        bail!(
            "this archive has a `repositories` file but no manifest.json: it is the format of Docker before 1.10 \
             (2016), which had no image configs; save it again with a current Docker"
        );
    } else {
        bail!(
            "not an image archive: it has neither manifest.json (docker save) nor index.json (OCI image layout)"
        );
    };
    for image in &images {
        if image.tags.is_empty() {
            progress(&format!("Loaded image ID: {}", image.id));
        }
        for tag in &image.tags {
            progress(&format!("Loaded image: {}", tag.familiar()));
        }
    }
    Ok(images)
}
// ANCHOR_END: load

// ANCHOR: save
/// `docker save`: writes the named images as one tar that is both a
/// docker-archive (`manifest.json`, `repositories`) and an OCI image layout
/// (`oci-layout`, `index.json`), sharing one `blobs/sha256/` — what Docker
/// 25+ writes. The blobs are copied from the store byte for byte, so every
/// digest (image ID, manifest, layers) is the same on the other side.
pub fn save(store: &ImageStore, names: &[&str], out: impl Write) -> anyhow::Result<()> {
    if names.is_empty() {
        bail!("nothing to save: name at least one image");
    }
    let selected = select_images(store, names)?;

    let mut index = Index::new();
    let mut docker_manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut blobs = BTreeSet::new();
    for (image, tags) in &selected {
        let media_type = image
            .manifest
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        let size = store.content().size(&image.manifest_digest)?;
        let descriptor = Descriptor::new(&media_type, image.manifest_digest.clone(), size);
        // One index entry per name: an OCI layout names a manifest with
        // annotations, and one entry carries one name.
        if tags.is_empty() {
            index.manifests.push(descriptor.clone());
        }
        for tag in tags {
            let mut named = descriptor.clone();
            named.annotations.insert(IMAGE_NAME.into(), tag.to_string());
            named.annotations.insert(
                crate::oci::REF_NAME.into(),
                tag.tag.clone().unwrap_or_default(),
            );
            index.manifests.push(named);
            if let Some(t) = &tag.tag {
                repositories
                    .entry(tag.familiar_repository())
                    .or_default()
                    .insert(t.clone(), image.id.hex().to_string());
            }
        }
        docker_manifest.push(DockerManifestEntry {
            config: blob_path(&image.id),
            repo_tags: tags.iter().map(Reference::familiar).collect(),
            layers: image
                .manifest
                .layers
                .iter()
                .map(|l| blob_path(&l.digest))
                .collect(),
        });
        blobs.insert(image.manifest_digest.clone());
        blobs.insert(image.id.clone());
        blobs.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
    }

    // Names sort "blobs/" < "index.json" < "manifest.json" < "oci-layout" <
    // "repositories": one fixed order, each directory before what it holds.
    let mut tar = tar::Builder::new(out);
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for digest in &blobs {
        append_blob(&mut tar, store, digest)?;
    }
    append_file(&mut tar, INDEX_FILE, &serde_json::to_vec(&index)?)?;
    append_file(
        &mut tar,
        DOCKER_MANIFEST_FILE,
        &serde_json::to_vec(&docker_manifest)?,
    )?;
    append_file(&mut tar, OCI_LAYOUT_FILE, OCI_LAYOUT.as_bytes())?;
    // Docker writes `repositories` only when some image has a name.
    if !repositories.is_empty() {
        append_file(
            &mut tar,
            REPOSITORIES_FILE,
            &serde_json::to_vec(&repositories)?,
        )?;
    }
    // into_inner writes the end-of-archive marker: two zero blocks.
    let mut out = tar.into_inner().context("finishing the archive")?;
    out.flush().context("writing the archive")?;
    Ok(())
}
// ANCHOR_END: save

/// One entry of a docker-archive's `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// The images to save, each once, with the names the caller asked for: an
/// image named by ID goes without names, as `docker save <id>` does.
fn select_images(
    store: &ImageStore,
    names: &[&str],
) -> anyhow::Result<Vec<(Image, Vec<Reference>)>> {
    let mut selected: Vec<(Image, Vec<Reference>)> = Vec::new();
    for name in names {
        let image = store.resolve(name)?;
        let tag = Reference::parse(name)
            .ok()
            .filter(|r| r.digest.is_none())
            .and_then(|wanted| {
                image
                    .tags
                    .iter()
                    .find(|t| t.repository() == wanted.repository() && t.tag == wanted.tag)
                    .cloned()
            });
        let position = match selected
            .iter()
            .position(|(s, _)| s.manifest_digest == image.manifest_digest)
        {
            Some(position) => position,
            None => {
                selected.push((image, Vec::new()));
                selected.len() - 1
            }
        };
        let tags = &mut selected[position].1;
        if let Some(tag) = tag.filter(|t| !tags.contains(t)) {
            tags.push(tag);
        }
    }
    Ok(selected)
}

/// Where a blob lives in an OCI layout, relative to its root.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// A tar header as Docker writes them in `docker save`: owner root, mtime
/// zero, so the same images always give the same archive bytes.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> anyhow::Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, 0);
    tar.append_data(&mut header, path, io::empty())
        .with_context(|| format!("writing {path} to the archive"))
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut header = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
    tar.append_data(&mut header, path, bytes)
        .with_context(|| format!("writing {path} to the archive"))
}

/// Streams a blob from the store into the tar, hashing it on the way: a
/// blob changed on disk fails the save instead of travelling under a
/// digest it no longer has.
fn append_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    store: &ImageStore,
    digest: &Digest,
) -> anyhow::Result<()> {
    let file = store.content().open_blob(digest)?;
    let size = file
        .metadata()
        .with_context(|| format!("blob {digest}"))?
        .len();
    let path = blob_path(digest);
    // The header promises `size` bytes; take() keeps a growing file from
    // writing more, and the count below catches one that shrank.
    let mut reader = HashingReader::new(file.take(size));
    let mut header = header(tar::EntryType::Regular, 0o644, size);
    tar.append_data(&mut header, &path, &mut reader)
        .with_context(|| format!("writing blob {digest} to the archive"))?;
    let (actual, copied) = reader.finish();
    if copied != size {
        bail!("blob {digest} changed while it was being saved ({copied} of {size} bytes)");
    }
    if &actual != digest {
        bail!(
            "blob {digest} in the store is corrupt: its bytes hash to {actual}; remove the image and load or pull it again"
        );
    }
    Ok(())
}

/// Stores an image whose config and manifest came from elsewhere, keeping
/// the config's bytes (their digest is the image ID) and, when it fits,
/// the original manifest's too; then names it.
fn add_loaded_image(
    store: &ImageStore,
    config_bytes: &[u8],
    original_manifest: Option<&[u8]>,
    layers: &[StoredLayer],
    names: &[Reference],
) -> anyhow::Result<Image> {
    let config = ImageConfig::parse(config_bytes)?;
    let diff_ids: Vec<&Digest> = layers.iter().map(|l| &l.diff_id).collect();
    if config.rootfs.diff_ids.iter().collect::<Vec<_>>() != diff_ids {
        bail!(
            "the config lists {} diff_ids that do not match the {} layers loaded",
            config.rootfs.diff_ids.len(),
            layers.len()
        );
    }
    let id = store.content().write_bytes(config_bytes)?;
    let built = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: Descriptor::new(media::OCI_CONFIG, id.clone(), config_bytes.len() as u64),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        annotations: BTreeMap::new(),
    };
    // The original manifest is kept when it is an OCI manifest for exactly
    // this config and these blobs: the store holds OCI manifests only.
    let kept = original_manifest.and_then(|bytes| {
        let manifest: Manifest = serde_json::from_slice(bytes).ok()?;
        let same_blobs = manifest
            .media_type
            .as_deref()
            .is_none_or(|m| m == media::OCI_MANIFEST)
            && manifest.config.media_type == media::OCI_CONFIG
            && manifest.config.digest == id
            && manifest.layers.len() == layers.len()
            && manifest.layers.iter().zip(layers).all(|(m, l)| {
                m.media_type == l.descriptor.media_type
                    && m.digest == l.descriptor.digest
                    && m.size == l.descriptor.size
            });
        same_blobs.then(|| (manifest, bytes.to_vec()))
    });
    let (manifest_digest, manifest) = match kept {
        Some((manifest, bytes)) => (store.content().write_bytes(&bytes)?, manifest),
        // Without a manifest of its own (a docker-archive), an image the
        // store already has under this ID keeps its manifest: one ID, one
        // image, as in Docker. (The blobs just stored then go to the next
        // garbage collection.)
        None => match store.images()?.into_iter().find(|i| i.id == id) {
            Some(existing) => (existing.manifest_digest, existing.manifest),
            None => (
                store.content().write_bytes(&serde_json::to_vec(&built)?)?,
                built,
            ),
        },
    };
    let image = Image {
        id,
        manifest_digest,
        manifest,
        config,
        tags: names.to_vec(),
    };
    if names.is_empty() {
        store.keep_unnamed(&image)?;
    }
    for name in names {
        store.tag(&image, name)?;
    }
    Ok(image)
}

/// Names a layer's compression from its first bytes, as Docker does for
/// docker-archive layers (which have no media type): gzip starts 1f 8b,
/// zstd 28 b5 2f fd; anything else is taken for a plain tar.
fn sniff_layer_media_type(file: &mut File) -> anyhow::Result<&'static str> {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 4];
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..])? {
            0 => break,
            n => read += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(match &magic[..read] {
        [0x1f, 0x8b, ..] => media::OCI_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => media::OCI_LAYER_ZSTD,
        _ => media::OCI_LAYER,
    })
}

/// Opens the archive stream, undoing gzip if its magic bytes say so.
fn decompressed<'a>(archive: impl Read + 'a) -> anyhow::Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::new(archive);
    let magic = input.fill_buf().context("reading the archive")?.to_vec();
    Ok(match magic.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(GzipErrors(flate2::read::MultiGzDecoder::new(input))),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            bail!("the archive is zstd-compressed: decompress it first (zstd -d)")
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            bail!("the archive is xz-compressed: decompress it first (xz -d)")
        }
        [b'B', b'Z', b'h', ..] => {
            bail!("the archive is bzip2-compressed: decompress it first (bzip2 -d)")
        }
        _ => Box::new(input),
    })
}

/// Says "gzip" in the decoder's errors: "incomplete deflate stream" alone
/// does not tell the user that the file they gave is damaged.
struct GzipErrors<R>(R);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            io::Error::new(e.kind(), format!("corrupt gzip stream in the archive: {e}"))
        })
    }
}

/// A link found in the archive, kept as data: extraction never creates a
/// link on disk, so nothing written or read later can be led outside.
#[derive(Clone, Debug)]
enum Link {
    /// Relative to the directory holding the link (absolute targets are
    /// refused when followed).
    Symbolic(PathBuf),
    /// Relative to the archive's root, as tar stores hard links.
    Hard(PathBuf),
}

/// An archive unpacked into a scratch directory: regular files and
/// directories on disk, links in a table.
struct Extracted {
    root: PathBuf,
    links: BTreeMap<PathBuf, Link>,
}

impl Extracted {
    /// Unpacks `archive` under `root`. Refused: absolute paths, `..`,
    /// devices, FIFOs, and entries below a link.
    fn unpack(archive: impl Read, root: &Path) -> anyhow::Result<Extracted> {
        let mut extracted = Extracted {
            root: root.to_path_buf(),
            links: BTreeMap::new(),
        };
        let mut tar = tar::Archive::new(decompressed(archive)?);
        for entry in tar.entries().context("reading the archive")? {
            let mut entry = entry
                .context("reading the archive (is it a tar file, complete and uncorrupted?)")?;
            let raw = entry
                .path()
                .context("reading an entry name in the archive")?
                .into_owned();
            let kind = entry.header().entry_type();
            // A pax global header describes the archive, not a file.
            if kind == tar::EntryType::XGlobalHeader {
                continue;
            }
            let path = entry_path(&raw)?;
            if path.as_os_str().is_empty() {
                continue; // "./", the archive's own root
            }
            extracted.check_not_below_link(&path)?;
            let target = root.join(&path);
            match kind {
                tar::EntryType::Directory => {
                    if extracted.links.contains_key(&path) {
                        bail!(
                            "archive entry {} is both a link and a directory",
                            raw.display()
                        );
                    }
                    fs::create_dir_all(&target)
                        .with_context(|| format!("extracting {}", raw.display()))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    extracted.links.remove(&path);
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent)
                            .with_context(|| format!("extracting {}", raw.display()))?;
                    }
                    // No links exist on disk, so this create cannot be
                    // redirected; a later entry of the same name replaces
                    // an earlier one, as tar does.
                    let mut file = File::create(&target)
                        .with_context(|| format!("extracting {}", raw.display()))?;
                    let copied = io::copy(&mut entry, &mut file).with_context(|| {
                        format!("extracting {} from the archive", raw.display())
                    })?;
                    // A tar reader sees the end of its input as the end of the
                    // entry: only the header's size tells a cut-off archive.
                    let size = entry.size();
                    if copied != size {
                        bail!(
                            "archive entry {} is cut off ({copied} of {size} bytes): the archive is incomplete",
                            raw.display()
                        );
                    }
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let name = entry
                        .link_name()
                        .with_context(|| format!("reading the link target of {}", raw.display()))?
                        .with_context(|| {
                            format!("archive entry {} is a link without a target", raw.display())
                        })?
                        .into_owned();
                    if target.is_dir() {
                        bail!(
                            "archive entry {} is both a directory and a link",
                            raw.display()
                        );
                    }
                    if target.is_file() {
                        fs::remove_file(&target)
                            .with_context(|| format!("extracting {}", raw.display()))?;
                    }
                    let link = if kind == tar::EntryType::Symlink {
                        Link::Symbolic(name)
                    } else {
                        Link::Hard(name)
                    };
                    extracted.links.insert(path, link);
                }
                other => bail!(
                    "archive entry {} is a {other:?}: an image archive holds only files, directories and links",
                    raw.display()
                ),
            }
        }
        // The tar ends at its zero blocks, before the end of a gzip stream:
        // reading on checks gzip's CRC, which would otherwise go unread.
        io::copy(&mut tar.into_inner(), &mut io::sink())
            .context("reading the end of the archive")?;
        Ok(extracted)
    }

    /// A file cannot be extracted below a link: the link is not on disk.
    fn check_not_below_link(&self, path: &Path) -> anyhow::Result<()> {
        let mut prefix = PathBuf::new();
        let mut components = path.components().peekable();
        while let Some(component) = components.next() {
            prefix.push(component);
            if components.peek().is_some() && self.links.contains_key(&prefix) {
                bail!(
                    "archive entry {} is below the link {}: refusing to follow links while extracting",
                    path.display(),
                    prefix.display()
                );
            }
        }
        Ok(())
    }

    /// Follows the archive's links to the regular file `name` names,
    /// staying inside the archive, and returns its path on disk.
    fn resolve(&self, name: &str) -> anyhow::Result<PathBuf> {
        let escape =
            |why: &str| anyhow::anyhow!("{name:?} {why}, outside the archive: refusing to read it");
        // The components still to walk, the next one on top; a link's
        // target is pushed in its place.
        let mut pending = Vec::new();
        push_components(&mut pending, Path::new(name));
        let mut walked: Vec<OsString> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == "." {
                continue;
            }
            if part == ".." {
                if walked.pop().is_none() {
                    return Err(escape("leads above the archive's root"));
                }
                continue;
            }
            if part == "/" {
                return Err(escape("is (or links to) an absolute path"));
            }
            walked.push(part);
            let Some(link) = self.links.get(&walked.iter().collect::<PathBuf>()) else {
                continue;
            };
            hops += 1;
            if hops > MAX_LINK_HOPS {
                bail!("{name:?}: too many levels of links in the archive");
            }
            walked.pop();
            match link {
                Link::Symbolic(target) => push_components(&mut pending, target),
                Link::Hard(target) => {
                    walked.clear();
                    push_components(&mut pending, target);
                }
            }
        }
        self.regular_file(name, &walked)
    }

    fn regular_file(&self, name: &str, walked: &[OsString]) -> anyhow::Result<PathBuf> {
        let path: PathBuf = self.root.join(walked.iter().collect::<PathBuf>());
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(path),
            Ok(_) => bail!("{name:?} in the archive is not a regular file"),
            Err(_) => bail!("the archive has no file {name:?}"),
        }
    }

    fn is_file(&self, name: &str) -> bool {
        self.resolve(name).is_ok()
    }

    fn open(&self, name: &str) -> anyhow::Result<File> {
        let path = self.resolve(name)?;
        File::open(&path).with_context(|| format!("opening {name} in the archive"))
    }

    /// Reads a small file (a manifest, a config).
    fn read(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(name)?
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name} in the archive"))?;
        Ok(bytes)
    }
}

/// Pushes `path`'s components so that the first is popped first. Each is
/// kept as its text: "/" (root), ".." and "." cannot be names of entries.
fn push_components(pending: &mut Vec<OsString>, path: &Path) {
    pending.extend(
        path.components()
            .rev()
            .map(|c| c.as_os_str().to_os_string()),
    );
}

// ANCHOR: archive_entry_path
/// An entry's name made relative and plain: `./a/b` → `a/b`; absolute
/// names and `..` are refused (the classic tar escape, "zip slip").
fn entry_path(raw: &Path) -> anyhow::Result<PathBuf> {
    let mut path = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => bail!(
                "archive entry {} contains `..`: refusing an entry that would land outside",
                raw.display()
            ),
            Component::RootDir | Component::Prefix(_) => {
                bail!(
                    "archive entry {} is an absolute path: refusing an entry that would land outside",
                    raw.display()
                )
            }
        }
    }
    Ok(path)
}
// ANCHOR_END: archive_entry_path
