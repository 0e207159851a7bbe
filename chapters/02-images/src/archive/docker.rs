//! The docker-archive format: `manifest.json` lists each image's config
//! file, its names and its layer files, bottom layer first. The files may
//! be anywhere in the tar (`<id>.json` and `<id>/layer.tar` before Docker
//! 25, `blobs/sha256/<hex>` since); a layer used twice may be a symlink to
//! another layer's tar. Layers carry no digest of their own here: the
//! config's `rootfs.diff_ids` are what each tar must hash to.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::{DOCKER_MANIFEST_FILE, Extracted, add_loaded_image, sniff_layer_media_type};
use crate::digest::{Digest, HashingReader};
use crate::oci::{ImageConfig, media};
use crate::reference::Reference;
use crate::store::{Image, ImageStore, StoredLayer};

/// One entry of `manifest.json`. Docker writes `"RepoTags": null` for an
/// image saved by ID.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Entry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

pub(super) fn read_manifest(extracted: &Extracted) -> anyhow::Result<Vec<Entry>> {
    let bytes = extracted.read(DOCKER_MANIFEST_FILE)?;
    serde_json::from_slice(&bytes)
        .context("manifest.json of the archive is not a list of {Config, RepoTags, Layers}")
}

/// The names `RepoTags` gives, in the full form the store keeps.
pub(super) fn names(entry: &Entry) -> anyhow::Result<Vec<Reference>> {
    let mut names = Vec::new();
    for tag in entry.repo_tags.iter().flatten() {
        let name = Reference::parse(tag)
            .map_err(anyhow::Error::msg)
            .context("manifest.json: invalid RepoTag")?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

pub(super) fn load(
    store: &ImageStore,
    extracted: &Extracted,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<Image>> {
    let entries = read_manifest(extracted)?;
    if entries.is_empty() {
        bail!("manifest.json of the archive lists no images");
    }
    // A layer shared by several images in the archive is stored once.
    let mut loaded: BTreeMap<PathBuf, StoredLayer> = BTreeMap::new();
    let mut images = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let names = names(entry)?;
        let label = match names.first() {
            Some(name) => name.familiar(),
            None => format!("image {} of manifest.json", i + 1),
        };
        let config_bytes = extracted
            .read(&entry.config)
            .with_context(|| format!("config of {label}"))?;
        let config = ImageConfig::parse(&config_bytes)
            .with_context(|| format!("config of {label} ({})", entry.config))?;
        let diff_ids = &config.rootfs.diff_ids;
        if entry.layers.len() != diff_ids.len() {
            bail!(
                "{label}: manifest.json lists {} layers but its config has {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        for (n, (path, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
            let which = format!("layer {} of {label}", n + 1);
            progress(&format!(
                "Loading layer {}/{} sha256:{}",
                n + 1,
                diff_ids.len(),
                diff_id.short()
            ));
            let on_disk = extracted
                .resolve(path)
                .with_context(|| format!("{which}: manifest.json names {path:?}"))?;
            let layer = match loaded.get(&on_disk) {
                Some(layer) => layer.clone(),
                None => {
                    let layer = add_layer(store, extracted, path, diff_id, &which)?;
                    loaded.insert(on_disk, layer.clone());
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
        let image = add_loaded_image(store, &config_bytes, None, &layers, &names)
            .with_context(|| format!("storing {label}"))?;
        images.push(image);
    }
    Ok(images)
}

/// Stores one layer file. An uncompressed layer's blob digest is its
/// diff_id, so the store checks it before anything is committed; a
/// compressed one is checked after unpacking (and an unmatched one is left
/// for the next garbage collection).
fn add_layer(
    store: &ImageStore,
    extracted: &Extracted,
    path: &str,
    diff_id: &Digest,
    which: &str,
) -> anyhow::Result<StoredLayer> {
    let mut file = extracted.open(path).with_context(|| which.to_string())?;
    let media_type =
        sniff_layer_media_type(&mut file).with_context(|| format!("{which}: reading {path}"))?;
    let plain = media_type == media::OCI_LAYER;
    let mut reader = HashingReader::new(file);
    match store.add_layer(&mut reader, media_type, plain.then_some(diff_id)) {
        Ok(layer) => Ok(layer),
        Err(error) if plain => {
            // Hash what the unpacker left unread, to say what the tar
            // really is: that is the mismatch the user needs to see.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            let (actual, _) = reader.finish();
            if &actual != diff_id {
                return Err(error.context(format!(
                    "{which}: diff_id mismatch: config says {diff_id}, the tar hashes to {actual}"
                )));
            }
            Err(error.context(format!("{which} ({path})")))
        }
        Err(error) => Err(error.context(format!("{which} ({path})"))),
    }
}
