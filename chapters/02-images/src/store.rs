//! The image store: what `docker images` lists. On disk, under one root:
//!
//! ```text
//! images/                 an OCI image layout: oci-layout, index.json, blobs/sha256/…
//! layers/<diff-id>/diff   each layer unpacked once, shared by every image that has it
//! layers/l/<short>        short links to those dirs, to keep overlay mount options small
//! snapshots/<id>/         container root filesystems (see `snapshot`)
//! lock                    one writer at a time
//! ```
//!
//! An image is a manifest in `index.json`; its name is an annotation on that
//! entry, its ID the digest of its config. (moby: `image/`, `layer/`,
//! `reference/`; containerd: `images/`, `content/`.)

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::atomic;
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Removed, StoreError};
use crate::lock::StoreLock;
use crate::oci::{self, AnyManifest, Descriptor, ImageConfig, Index, Manifest, media};
use crate::reference::Reference;

/// Where the chapter binaries keep images unless told otherwise.
pub const WORKSHOP_ROOT: &str = "/var/lib/minidocker-workshop";
/// containerd's annotation for an image's full name, which Docker's OCI
/// archives carry too.
pub const IMAGE_NAME: &str = "io.containerd.image.name";

/// An image in the store.
#[derive(Clone, Debug)]
pub struct Image {
    /// The digest of the config: what `docker images` shows as IMAGE ID.
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    pub config: ImageConfig,
    pub tags: Vec<Reference>,
}

impl Image {
    /// The name to show: the first tag, or the short ID.
    pub fn display_name(&self) -> String {
        self.tags
            .first()
            .map(Reference::familiar)
            .unwrap_or_else(|| self.id.short().to_string())
    }

    /// The total size of the layer blobs.
    pub fn size(&self) -> u64 {
        self.manifest.layers.iter().map(|l| l.size).sum()
    }
}

/// A layer that is in the store: its blob and its unpacked directory.
#[derive(Clone, Debug)]
pub struct StoredLayer {
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar: the layer's identity in the config.
    pub diff_id: Digest,
}

pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
}

impl ImageStore {
    pub fn open(root: &Path) -> anyhow::Result<ImageStore> {
        for dir in ["layers/l", "snapshots", "tmp"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        }
        let content = ContentStore::open(&root.join("images"))?;
        Ok(ImageStore {
            root: root.to_path_buf(),
            content,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// Waits until no other process writes to this store.
    pub fn lock(&self) -> anyhow::Result<StoreLock> {
        StoreLock::exclusive(&self.root)
    }

    /// A scratch directory on the store's filesystem, removed on drop.
    pub fn temp_dir(&self) -> anyhow::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(self.root.join("tmp"))
            .context("creating a temp dir in the store")
    }

    fn index_path(&self) -> PathBuf {
        self.content.dir().join("index.json")
    }

    fn read_index(&self) -> anyhow::Result<Index> {
        match fs::read(self.index_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is corrupt", self.index_path().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.index_path().display())),
        }
    }

    fn write_index(&self, index: &Index) -> anyhow::Result<()> {
        atomic::write_file(&self.index_path(), &serde_json::to_vec_pretty(index)?)
    }

    /// Every image, one per manifest, with all its tags; newest first.
    pub fn images(&self) -> anyhow::Result<Vec<Image>> {
        let index = self.read_index()?;
        let mut by_manifest: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for entry in &index.manifests {
            let tags = by_manifest.entry(entry.digest.clone()).or_default();
            if let Some(name) = entry.annotations.get(IMAGE_NAME) {
                if let Ok(reference) = Reference::parse(name) {
                    tags.push(reference);
                }
            }
        }
        let mut images = Vec::new();
        for (digest, tags) in by_manifest {
            let mut image = self.load_image(&digest)?;
            image.tags = tags;
            images.push(image);
        }
        images.sort_by(|a, b| {
            b.config
                .created
                .cmp(&a.config.created)
                .then(a.id.cmp(&b.id))
        });
        Ok(images)
    }

    fn load_image(&self, manifest_digest: &Digest) -> anyhow::Result<Image> {
        let manifest = match AnyManifest::parse(&self.content.read(manifest_digest)?)? {
            AnyManifest::Image(manifest) => manifest,
            AnyManifest::Index(_) => {
                bail!("{manifest_digest} is an index; the store keeps one manifest per image")
            }
        };
        let config = ImageConfig::parse(&self.content.read(&manifest.config.digest)?)
            .with_context(|| format!("config of image {}", manifest.config.digest))?;
        Ok(Image {
            id: manifest.config.digest.clone(),
            manifest_digest: manifest_digest.clone(),
            manifest,
            config,
            tags: Vec::new(),
        })
    }

    // ANCHOR: resolve
    /// Finds an image by name (`busybox`, `busybox:1.36`), by ID or a unique
    /// ID prefix (`3f2a`, `sha256:3f2a…`), or by manifest digest
    /// (`busybox@sha256:…`).
    pub fn resolve(&self, name: &str) -> anyhow::Result<Image> {
        let images = self.images()?;
        if let Ok(reference) = Reference::parse(name) {
            let found = images.iter().find(|image| {
                image.tags.iter().any(|tag| {
                    tag.repository() == reference.repository()
                        && (reference.tag.is_none() || tag.tag == reference.tag)
                        && reference.digest.is_none()
                }) || reference.digest.as_ref() == Some(&image.manifest_digest)
                    && image
                        .tags
                        .iter()
                        .any(|t| t.repository() == reference.repository())
            });
            if let Some(image) = found {
                return Ok(image.clone());
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut matches: Vec<&Image> = images
                .iter()
                .filter(|i| i.id.hex().starts_with(hex))
                .collect();
            // One config may sit under two manifests (the same image with its
            // layers compressed differently): that is still one image ID.
            matches.dedup_by(|a, b| a.id == b.id);
            match matches.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => {
                    return Err(StoreError::Ambiguous {
                        prefix: name.to_string(),
                    }
                    .into());
                }
            }
        }
        let shown = Reference::parse(name)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| name.to_string());
        let here: Vec<String> = images
            .iter()
            .flat_map(|i| i.tags.iter().map(Reference::familiar))
            .collect();
        let hint = if here.is_empty() {
            format!(
                "the store at {} is empty (try `ch02 create-offline-images`)",
                self.root.display()
            )
        } else {
            format!("images here: {}", here.join(", "))
        };
        Err(StoreError::NotFound { name: shown, hint }.into())
    }
    // ANCHOR_END: resolve

    /// Points `reference` at `image`, moving the name if another image had it.
    pub fn tag(&self, image: &Image, reference: &Reference) -> anyhow::Result<()> {
        if reference.digest.is_some() {
            bail!(
                "cannot tag with a digest reference ({reference}): a digest names content, a tag names a choice"
            );
        }
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let name = reference.to_string();
        let displaced: Vec<Descriptor> = index
            .manifests
            .iter()
            .filter(|d| d.annotations.get(IMAGE_NAME) == Some(&name))
            .cloned()
            .collect();
        index
            .manifests
            .retain(|d| d.annotations.get(IMAGE_NAME) != Some(&name));
        // The image that had the name stays, without it, when it has no
        // other (Docker's `<none>:<none>`): a dangling image, for `image
        // prune` to remove, not one deleted behind the user's back.
        for old in displaced {
            let still_listed = index.manifests.iter().any(|d| d.digest == old.digest);
            if old.digest != image.manifest_digest && !still_listed {
                index
                    .manifests
                    .push(Descriptor::new(media::OCI_MANIFEST, old.digest, old.size));
            }
        }
        let mut descriptor = Descriptor::new(
            media::OCI_MANIFEST,
            image.manifest_digest.clone(),
            self.content.size(&image.manifest_digest)?,
        );
        descriptor.annotations.insert(IMAGE_NAME.into(), name);
        descriptor.annotations.insert(
            oci::REF_NAME.into(),
            reference.tag.clone().unwrap_or_default(),
        );
        index.manifests.push(descriptor);
        self.write_index(&index)
    }

    /// Keeps an image that has no name (a build's intermediate step, an
    /// archive's unnamed image): an index entry without a name, so garbage
    /// collection does not take it.
    pub fn keep_unnamed(&self, image: &Image) -> anyhow::Result<()> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        if !index
            .manifests
            .iter()
            .any(|d| d.digest == image.manifest_digest)
        {
            let size = self.content.size(&image.manifest_digest)?;
            let entry = Descriptor::new(media::OCI_MANIFEST, image.manifest_digest.clone(), size);
            index.manifests.push(entry);
            self.write_index(&index)?;
        }
        Ok(())
    }

    /// `rmi`: removes a name; when an image has no names left, removes the
    /// image and every blob and layer no other image uses. Returns what it
    /// did, as Docker's `rmi` reports it. An image a snapshot is made of
    /// stays (the snapshot's mount needs its layers).
    pub fn remove(&self, name: &str) -> anyhow::Result<Vec<Removed>> {
        self.remove_with(name, false)
    }

    /// [`ImageStore::remove`]; with `force`, an image a snapshot is made of
    /// goes too, as `docker rmi -f` does with an image that only stopped
    /// containers use: the snapshots keep their layers, collected with the
    /// last snapshot ([`ImageStore::collect_unused_layers`]).
    pub fn remove_with(&self, name: &str, force: bool) -> anyhow::Result<Vec<Removed>> {
        let image = self.resolve(name)?;
        let by_name = Reference::parse(name).ok().and_then(|r| {
            image
                .tags
                .iter()
                .find(|t| t.repository() == r.repository() && t.tag == r.tag)
                .cloned()
        });
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let mut report = Vec::new();
        match &by_name {
            // By name: drop that name only.
            Some(tag) => {
                index
                    .manifests
                    .retain(|d| d.annotations.get(IMAGE_NAME) != Some(&tag.to_string()));
                report.push(Removed::Untagged(tag.familiar()));
            }
            // By ID: drop every name, as `docker rmi <id>` does.
            None => {
                index
                    .manifests
                    .retain(|d| d.digest != image.manifest_digest);
                report.extend(image.tags.iter().map(|t| Removed::Untagged(t.familiar())));
            }
        }
        if !index
            .manifests
            .iter()
            .any(|d| d.digest == image.manifest_digest)
        {
            if let Some(user) = self.snapshots_using(&image)?.first().filter(|_| !force) {
                return Err(StoreError::InUse {
                    image: image.display_name(),
                    user: format!(
                        "the snapshot mounted at {}: unmount it first (ch02 umount)",
                        user.display()
                    ),
                }
                .into());
            }
            index
                .manifests
                .retain(|d| d.digest != image.manifest_digest);
            self.write_index(&index)?;
            self.collect_garbage(&index)?;
            report.push(Removed::Deleted(image.id.to_string()));
        } else {
            self.write_index(&index)?;
        }
        Ok(report)
    }

    /// Deletes the layers that neither an image nor a snapshot needs any
    /// more: after the last container of a force-removed image.
    pub fn collect_unused_layers(&self) -> anyhow::Result<()> {
        let _lock = self.lock()?;
        let index = self.read_index()?;
        self.collect_garbage(&index)
    }

    /// Deletes blobs and layer dirs that no manifest in `index` refers to,
    /// and no snapshot stacks.
    fn collect_garbage(&self, index: &Index) -> anyhow::Result<()> {
        let mut blobs = BTreeSet::new();
        let mut diff_ids: BTreeSet<Digest> = crate::snapshot::list(self)?
            .into_iter()
            .flat_map(|s| s.layers)
            .collect();
        for entry in &index.manifests {
            let image = self.load_image(&entry.digest)?;
            blobs.insert(entry.digest.clone());
            blobs.insert(image.id.clone());
            blobs.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
            diff_ids.extend(image.config.rootfs.diff_ids.iter().cloned());
        }
        for digest in self.content.blobs()? {
            if !blobs.contains(&digest) {
                self.content.delete(&digest)?;
            }
        }
        for entry in fs::read_dir(self.root.join("layers"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(diff_id) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            if !diff_ids.contains(&diff_id) {
                self.remove_layer_dir(&diff_id)?;
            }
        }
        Ok(())
    }

    /// The unpacked directory of a layer.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    /// The short link name of a layer (`layers/l/<name>` points at its diff dir).
    pub fn layer_link(&self, diff_id: &Digest) -> anyhow::Result<String> {
        let path = self.layer_dir(diff_id).join("link");
        fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .with_context(|| format!("layer {diff_id} is not unpacked ({})", path.display()))
    }

    fn remove_layer_dir(&self, diff_id: &Digest) -> anyhow::Result<()> {
        if let Ok(link) = self.layer_link(diff_id) {
            let _ = fs::remove_file(self.root.join("layers/l").join(link));
        }
        let dir = self.layer_dir(diff_id);
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
    }

    // ANCHOR: add_layer
    /// Stores a layer blob and unpacks it, in one pass over the bytes: they
    /// go to the blob's temp file and through the unpacker at the same time.
    /// With `expected`, a blob whose bytes do not match is refused.
    pub fn add_layer(
        &self,
        input: impl Read,
        media_type: &str,
        expected: Option<&Digest>,
    ) -> anyhow::Result<StoredLayer> {
        let mut blob = self.content.writer()?;
        let staging = self.temp_dir()?;
        let unpacked = {
            let tee = Tee {
                input,
                copy: &mut blob,
            };
            crate::layer::unpack(
                tee,
                &staging.path().join("diff"),
                &crate::layer::UnpackOptions::for_current_user(),
            )
            .context("unpacking layer")?
        };
        let (digest, size) = blob.commit(expected)?;
        let diff_id = unpacked.diff_id;
        let _lock = self.lock()?;
        let dir = self.layer_dir(&diff_id);
        if !dir.join("link").exists() {
            // Another image may have brought the same layer: keep the first copy.
            let _ = fs::remove_dir_all(&dir);
            let link = short_link_name(&diff_id);
            atomic::write_file(&staging.path().join("link"), link.as_bytes())?;
            fs::rename(staging.path(), &dir)
                .with_context(|| format!("moving the unpacked layer to {}", dir.display()))?;
            let symlink = self.root.join("layers/l").join(&link);
            let _ = fs::remove_file(&symlink);
            std::os::unix::fs::symlink(format!("../{}/diff", diff_id.hex()), &symlink)
                .with_context(|| format!("linking {}", symlink.display()))?;
        }
        Ok(StoredLayer {
            descriptor: Descriptor::new(media_type, digest, size),
            diff_id,
        })
    }
    // ANCHOR_END: add_layer

    // ANCHOR: add_image
    /// Writes an image's config and manifest and names it.
    pub fn add_image(
        &self,
        config: &ImageConfig,
        layers: &[StoredLayer],
        name: Option<&Reference>,
    ) -> anyhow::Result<Image> {
        let diff_ids: Vec<&Digest> = layers.iter().map(|l| &l.diff_id).collect();
        if config.rootfs.diff_ids.iter().collect::<Vec<_>>() != diff_ids {
            bail!(
                "image config lists {} layers that do not match the {} layers given",
                config.rootfs.diff_ids.len(),
                layers.len()
            );
        }
        let config_bytes = serde_json::to_vec(config)?;
        let config_digest = self.content.write_bytes(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor::new(
                media::OCI_CONFIG,
                config_digest.clone(),
                config_bytes.len() as u64,
            ),
            layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
            annotations: BTreeMap::new(),
        };
        let manifest_digest = self.content.write_bytes(&serde_json::to_vec(&manifest)?)?;
        let image = Image {
            id: config_digest,
            manifest_digest,
            manifest,
            config: config.clone(),
            tags: Vec::new(),
        };
        match name {
            Some(reference) => self.tag(&image, reference)?,
            None => self.keep_unnamed(&image)?,
        }
        self.resolve(&image.id.to_string())
    }
    // ANCHOR_END: add_image

    /// `import`: a root filesystem tarball becomes a one-layer image.
    pub fn import(
        &self,
        tarball: impl Read,
        name: &Reference,
        command: Option<Vec<String>>,
    ) -> anyhow::Result<Image> {
        let layer = self.add_layer(tarball, media::OCI_LAYER, None)?;
        let platform = oci::Platform::host();
        let now = api::timefmt::rfc3339_nanos(std::time::SystemTime::now());
        let config = ImageConfig {
            created: Some(now.clone()),
            architecture: platform.architecture,
            os: platform.os,
            variant: platform.variant,
            config: oci::RunConfig {
                env: vec![api::types::DEFAULT_PATH.to_string()],
                cmd: command,
                ..Default::default()
            },
            rootfs: oci::RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![oci::History {
                created: Some(now),
                created_by: Some("ch02 import".into()),
                comment: Some("Imported from tarball".into()),
                empty_layer: false,
            }],
        };
        self.add_image(&config, &[layer], Some(name))
    }

    /// The unpacked layer directories of an image, bottom layer first.
    pub fn layer_dirs(&self, image: &Image) -> anyhow::Result<Vec<PathBuf>> {
        self.unpacked_layers(&image.config.rootfs.diff_ids)
            .with_context(|| format!("image {}", image.display_name()))
    }

    /// The unpacked directories of these layers, in the same order.
    pub fn unpacked_layers(&self, diff_ids: &[Digest]) -> anyhow::Result<Vec<PathBuf>> {
        diff_ids
            .iter()
            .map(|diff_id| {
                let dir = self.layer_dir(diff_id).join("diff");
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    bail!("layer {diff_id} is not unpacked at {}", dir.display())
                }
            })
            .collect()
    }

    /// Mount points of snapshots made from `image`.
    fn snapshots_using(&self, image: &Image) -> anyhow::Result<Vec<PathBuf>> {
        Ok(crate::snapshot::list(self)?
            .into_iter()
            .filter(|s| s.image_id.as_ref() == Some(&image.id))
            .map(|s| s.target)
            .collect())
    }
}

/// Copies what is read into `copy`: one read feeds two consumers.
struct Tee<'w, R, W> {
    input: R,
    copy: &'w mut W,
}

impl<R: Read, W: std::io::Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

// ANCHOR: short_link
/// Docker's overlay2 gives each layer a 26-character link name, so 60+
/// lower dirs fit in the one page a mount(2) option string may use.
fn short_link_name(diff_id: &Digest) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let salt = Digest::of_bytes(format!("{diff_id}{:?}", std::time::SystemTime::now()).as_bytes());
    // Each pair of hex digits is a byte; its low 5 bits pick a letter.
    let hex = salt.hex().as_bytes();
    (0..26)
        .map(|i| {
            let byte = u8::from_str_radix(
                std::str::from_utf8(&hex[2 * i..2 * i + 2]).unwrap_or("00"),
                16,
            );
            ALPHABET[byte.unwrap_or(0) as usize % ALPHABET.len()] as char
        })
        .collect()
}
// ANCHOR_END: short_link
