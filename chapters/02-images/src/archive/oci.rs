//! The OCI image layout (image-spec `image-layout.md`): `index.json` lists
//! manifests (or indexes of manifests, one per platform) by descriptor, and
//! every document and layer is a blob at `blobs/sha256/<hex>`, so each one
//! is checked against the digest it is named by. A manifest's name is an
//! annotation on its index entry: containerd's `io.containerd.image.name`
//! (a full name) or the spec's `org.opencontainers.image.ref.name` (often
//! only a tag).

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use super::{DOCKER_MANIFEST_FILE, Extracted, INDEX_FILE, add_loaded_image, blob_path, docker};
use crate::digest::Digest;
use crate::oci::{
    AnyManifest, Descriptor, ImageConfig, Index, Manifest, Platform, REF_NAME, media,
    select_platform,
};
use crate::reference::Reference;
use crate::store::{IMAGE_NAME, Image, ImageStore, StoredLayer};

/// Indexes may point at indexes; real ones nest once (a tag → a
/// multi-platform index → manifests). A few levels more are allowed, a
/// loop is not.
const MAX_INDEX_DEPTH: usize = 4;

/// An image to load: its manifest, found through the index, and its names.
struct Planned {
    manifest_digest: Digest,
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    names: Vec<Reference>,
}

pub(super) fn load(
    store: &ImageStore,
    extracted: &Extracted,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<Image>> {
    let index: Index = serde_json::from_slice(&extracted.read(INDEX_FILE)?)
        .context("index.json of the archive is not an OCI image index")?;
    if index.manifests.is_empty() {
        bail!("index.json of the archive lists no images");
    }
    let repo_tags = RepoTags::read(extracted)?;

    // Several entries may name one manifest (one per tag): load it once,
    // with all its names.
    let mut plans: Vec<Planned> = Vec::new();
    for (i, entry) in index.manifests.iter().enumerate() {
        let names =
            annotated_names(entry).with_context(|| format!("entry {} of index.json", i + 1))?;
        let label = names
            .first()
            .map(Reference::familiar)
            .unwrap_or_else(|| format!("entry {} of index.json", i + 1));
        let (manifest_digest, manifest_bytes, manifest) =
            find_manifest(extracted, entry, 0).with_context(|| label.clone())?;
        let names = if names.is_empty() {
            repo_tags.names_for(extracted, &manifest.config.digest)?
        } else {
            names
        };
        match plans
            .iter_mut()
            .find(|p| p.manifest_digest == manifest_digest)
        {
            Some(plan) => add_names(&mut plan.names, names),
            None => plans.push(Planned {
                manifest_digest,
                manifest_bytes,
                manifest,
                names,
            }),
        }
    }

    let mut loaded: BTreeMap<Digest, StoredLayer> = BTreeMap::new();
    let mut images = Vec::new();
    for plan in plans {
        let label = plan
            .names
            .first()
            .map(Reference::familiar)
            .unwrap_or_else(|| format!("image {}", plan.manifest_digest));
        let config_bytes = read_blob(extracted, &plan.manifest.config)
            .with_context(|| format!("config of {label}"))?;
        let config =
            ImageConfig::parse(&config_bytes).with_context(|| format!("config of {label}"))?;
        let diff_ids = &config.rootfs.diff_ids;
        if plan.manifest.layers.len() != diff_ids.len() {
            bail!(
                "{label}: the manifest lists {} layers but the config has {} diff_ids",
                plan.manifest.layers.len(),
                diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        for (n, (descriptor, diff_id)) in plan.manifest.layers.iter().zip(diff_ids).enumerate() {
            let which = format!("layer {} of {label}", n + 1);
            progress(&format!(
                "Loading layer {}/{} sha256:{}",
                n + 1,
                diff_ids.len(),
                diff_id.short()
            ));
            let layer = match loaded.get(&descriptor.digest) {
                Some(layer) => layer.clone(),
                None => {
                    let layer = add_layer(store, extracted, descriptor, diff_id)
                        .with_context(|| which.clone())?;
                    loaded.insert(descriptor.digest.clone(), layer.clone());
                    layer
                }
            };
            if &layer.diff_id != diff_id {
                bail!(
                    "{which}: diff_id mismatch: config says {diff_id}, the tar hashes to {}",
                    layer.diff_id
                );
            }
            layers.push(layer);
        }
        let image = add_loaded_image(
            store,
            &config_bytes,
            Some(&plan.manifest_bytes),
            &layers,
            &plan.names,
        )
        .with_context(|| format!("storing {label}"))?;
        images.push(image);
    }
    Ok(images)
}

/// The names an index entry gives its manifest. `ref.name` counts as a name
/// only when it is more than a tag (it has a `/` or a `:`): "latest" alone
/// says nothing about the repository.
fn annotated_names(entry: &Descriptor) -> anyhow::Result<Vec<Reference>> {
    let parse = |text: &str, what: &str| {
        Reference::parse(text)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("invalid image name in the {what} annotation"))
    };
    let name = if let Some(full) = entry.annotations.get(IMAGE_NAME) {
        Some(parse(full, IMAGE_NAME)?)
    } else if let Some(reference) = entry
        .annotations
        .get(REF_NAME)
        .filter(|r| r.contains(['/', ':']))
    {
        Some(parse(reference, REF_NAME)?)
    } else {
        None
    };
    // A tag is what the store names by; a digest-only name (containerd
    // keeps some) names nothing new.
    Ok(match name {
        Some(name) => match &name.tag {
            Some(tag) => vec![name.with_tag(tag)],
            None => Vec::new(),
        },
        None => Vec::new(),
    })
}

/// Follows an index entry down to the image manifest for this machine.
fn find_manifest(
    extracted: &Extracted,
    descriptor: &Descriptor,
    depth: usize,
) -> anyhow::Result<(Digest, Vec<u8>, Manifest)> {
    if depth > MAX_INDEX_DEPTH {
        bail!("indexes nested more than {MAX_INDEX_DEPTH} deep");
    }
    let bytes = read_blob(extracted, descriptor)?;
    match AnyManifest::parse(&bytes).with_context(|| format!("manifest {}", descriptor.digest))? {
        AnyManifest::Image(manifest) => Ok((descriptor.digest.clone(), bytes, manifest)),
        AnyManifest::Index(index) => {
            let host = Platform::host();
            let Some(chosen) = select_platform(&index, &host) else {
                let offered: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref())
                    .map(|p| {
                        format!(
                            "{}/{}{}",
                            p.os,
                            p.architecture,
                            p.variant
                                .as_ref()
                                .map(|v| format!("/{v}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                bail!(
                    "the archive has no image for {}/{} (it has: {})",
                    host.os,
                    host.architecture,
                    offered.join(", ")
                );
            };
            find_manifest(extracted, chosen, depth + 1)
        }
    }
}

/// Reads a small blob (an index, a manifest, a config) and checks it is
/// what its descriptor says.
fn read_blob(extracted: &Extracted, descriptor: &Descriptor) -> anyhow::Result<Vec<u8>> {
    let bytes = extracted.read(&blob_path(&descriptor.digest))?;
    let actual = Digest::of_bytes(&bytes);
    if actual != descriptor.digest {
        bail!(
            "blob {} in the archive is corrupt: its bytes hash to {actual}",
            descriptor.digest
        );
    }
    if bytes.len() as u64 != descriptor.size {
        bail!(
            "blob {} in the archive has {} bytes, its descriptor says {}",
            descriptor.digest,
            bytes.len(),
            descriptor.size
        );
    }
    Ok(bytes)
}

/// Stores one layer blob, checked against its descriptor's digest before
/// anything is committed. Docker's media types become the OCI ones (the
/// same bytes): the store keeps OCI manifests only.
fn add_layer(
    store: &ImageStore,
    extracted: &Extracted,
    descriptor: &Descriptor,
    diff_id: &Digest,
) -> anyhow::Result<StoredLayer> {
    let media_type = match descriptor.media_type.as_str() {
        media::OCI_LAYER | media::DOCKER_LAYER => media::OCI_LAYER,
        media::OCI_LAYER_GZIP | media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
        media::OCI_LAYER_ZSTD => media::OCI_LAYER_ZSTD,
        other => bail!("unsupported layer media type {other:?}"),
    };
    // An uncompressed layer's blob is the tar itself: its digest must be
    // the diff_id, which can be checked before reading a byte.
    if media_type == media::OCI_LAYER && &descriptor.digest != diff_id {
        bail!(
            "diff_id mismatch: config says {diff_id}, the uncompressed layer blob is {}",
            descriptor.digest
        );
    }
    let file = extracted.open(&blob_path(&descriptor.digest))?;
    store.add_layer(file, media_type, Some(&descriptor.digest))
}

/// A Docker 25+ archive's `manifest.json`, for the names its index.json
/// leaves out.
struct RepoTags {
    entries: Vec<docker::Entry>,
}

impl RepoTags {
    fn read(extracted: &Extracted) -> anyhow::Result<RepoTags> {
        if !extracted.is_file(DOCKER_MANIFEST_FILE) {
            return Ok(RepoTags {
                entries: Vec::new(),
            });
        }
        Ok(RepoTags {
            entries: docker::read_manifest(extracted)?,
        })
    }

    /// The RepoTags of the manifest.json entries whose config is `config`.
    fn names_for(&self, extracted: &Extracted, config: &Digest) -> anyhow::Result<Vec<Reference>> {
        let mut names = Vec::new();
        for entry in &self.entries {
            let Ok(bytes) = extracted.read(&entry.config) else {
                continue;
            };
            if &Digest::of_bytes(&bytes) == config {
                add_names(&mut names, docker::names(entry)?);
            }
        }
        Ok(names)
    }
}

/// Adds the names `names` lacks, keeping their order.
fn add_names(names: &mut Vec<Reference>, more: Vec<Reference>) {
    for name in more {
        if !names.contains(&name) {
            names.push(name);
        }
    }
}
