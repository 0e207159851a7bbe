//! `docker system df` and the prunes: what the store's bytes are spent
//! on, and taking back what nothing uses (moby: `daemon/disk_usage.go`,
//! `daemon/images/image_prune.go`, `daemon/prune.go`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use ::images::digest::Digest;
use ::images::error::Removed;
use ::images::store::Image;
use api::ApiError;
use api::query::Filters;
use serde_json::{Value, json};

use super::Daemon;

// ANCHOR: directory_size
/// The bytes of the files under `dir`, as Docker counts a layer's or a
/// container's size (moby: `pkg/directory` `Size`): each inode once (a
/// hard link is not a second copy), directories and holes not at all:
/// `st_size`, not the blocks `du` would count.
pub fn directory_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(entries) = fs::read_dir(dir) else {
            return 0;
        };
        let mut size = 0;
        for entry in entries.flatten() {
            // lstat: a symlink counts its own size, and is not followed.
            let Ok(metadata) = entry.path().symlink_metadata() else {
                continue;
            };
            if metadata.is_dir() {
                size += walk(&entry.path(), seen);
            } else if seen.insert((metadata.dev(), metadata.ino())) {
                size += metadata.size();
            }
        }
        size
    }
    walk(dir, &mut HashSet::new())
}
// ANCHOR_END: directory_size

/// The unpacked size of each layer in the store, by diff_id.
fn layer_sizes(d: &Daemon) -> BTreeMap<String, u64> {
    let layers = d.store.root().join("layers");
    let mut sizes = BTreeMap::new();
    for entry in fs::read_dir(&layers).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 64 {
            sizes.insert(name, directory_size(&entry.path().join("diff")));
        }
    }
    sizes
}

fn created_unix(created: Option<&str>) -> i64 {
    created
        .and_then(|c| humantime::parse_rfc3339_weak(c.trim_end_matches('Z')).ok())
        .map(api::timefmt::unix_seconds)
        .unwrap_or(0)
}

impl Daemon {
    // ANCHOR: disk_usage
    /// `GET /system/df`: every layer once (`LayersSize`), each image with
    /// its layers' total and the part other images share, each container
    /// with the size of its upper directory (`SizeRw`).
    pub fn disk_usage(&self, types: &[String]) -> Result<Value, ApiError> {
        let wants = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        let mut usage = json!({});
        let containers = self.containers();
        let sizes = layer_sizes(self);
        let size_of = |d: &Digest| sizes.get(d.hex()).copied().unwrap_or(0);
        let mut image_sizes: HashMap<String, u64> = HashMap::new();
        let images = self.store.images()?;
        // How many images stack each layer: a layer of two is shared.
        let mut stacked: HashMap<&Digest, usize> = HashMap::new();
        for image in &images {
            for diff_id in &image.config.rootfs.diff_ids {
                *stacked.entry(diff_id).or_default() += 1;
            }
            let size = image.config.rootfs.diff_ids.iter().map(size_of).sum();
            image_sizes.insert(image.id.to_string(), size);
        }
        // ANCHOR_END: disk_usage
        if wants("image") {
            let rows: Vec<Value> = images
                .iter()
                .map(|image| {
                    let shared: u64 = image
                        .config
                        .rootfs
                        .diff_ids
                        .iter()
                        .filter(|d| stacked[d] > 1)
                        .map(size_of)
                        .sum();
                    let id = image.id.to_string();
                    let users = containers
                        .iter()
                        .filter(|c| c.record().image_id == id)
                        .count();
                    let mut row = super::images::summary(image, users as i64);
                    row["Size"] = json!(image_sizes[&id]);
                    row["SharedSize"] = json!(shared);
                    row
                })
                .collect();
            usage["LayersSize"] = json!(sizes.values().sum::<u64>());
            usage["Images"] = json!(rows);
        }
        if wants("container") {
            let rows: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let record = c.snapshot();
                    let size_rw = self.size_rw(c);
                    let image = image_sizes.get(&record.image_id).copied().unwrap_or(0);
                    json!({
                        "Id": record.id,
                        "Names": [format!("/{}", record.name)],
                        "Image": record.config.image,
                        "ImageID": record.image_id,
                        "Command": record.config.entrypoint.iter().chain(record.config.cmd.iter())
                            .flatten().cloned().collect::<Vec<_>>().join(" "),
                        "Created": created_unix(Some(&record.created)),
                        "State": record.state.status,
                        "Status": record.state.status,
                        "SizeRw": size_rw,
                        "SizeRootFs": size_rw + image,
                        "Labels": record.config.labels.clone().unwrap_or_default(),
                        "Mounts": [],
                    })
                })
                .collect();
            usage["Containers"] = json!(rows);
        }
        if wants("volume") {
            usage["Volumes"] = json!([]);
        }
        if wants("build-cache") {
            usage["BuildCache"] = json!([]);
        }
        Ok(usage)
    }

    /// The bytes in a container's upper directory: what it wrote.
    pub fn size_rw(&self, container: &super::container::Container) -> u64 {
        let rootfs = container.dir.join("rootfs");
        match ::images::snapshot::at(&self.store, &rootfs) {
            Ok(Some(record)) => directory_size(&record.upper(&self.store)),
            _ => 0,
        }
    }

    // ANCHOR: prune_containers
    /// `docker container prune`: every stopped container the filters
    /// (`until`, `label`, `label!`) accept.
    pub fn prune_containers(
        self: &std::sync::Arc<Self>,
        filters: &Filters,
    ) -> Result<Value, ApiError> {
        check(filters, &["until", "label", "label!"])?;
        let until = until(filters)?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for container in self.containers() {
            let record = container.snapshot();
            let labels = record.config.labels.clone().unwrap_or_default();
            let created = created_unix(Some(&record.created));
            if record.state.is_running()
                || until.is_some_and(|u| created >= u)
                || !labels_match(filters, &labels)
            {
                continue;
            }
            let size = self.size_rw(&container);
            if self.remove(&container, false).is_ok() {
                deleted.push(container.id.clone());
                reclaimed += size;
            }
        }
        Ok(json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}))
    }
    // ANCHOR_END: prune_containers

    // ANCHOR: prune_images
    /// `docker image prune`: the unnamed images no container uses, or with
    /// `dangling=false` (`-a`) every image no container uses; `until` and
    /// `label` narrow it. The space is that of the layers that went.
    pub fn prune_images(&self, filters: &Filters) -> Result<Value, ApiError> {
        check(filters, &["dangling", "until", "label", "label!"])?;
        let dangling_only = match filters.get("dangling").map(Vec::as_slice) {
            None | Some([]) => true,
            Some(values) => values.iter().any(|v| matches!(v.as_str(), "true" | "1")),
        };
        let until = until(filters)?;
        let before = layer_sizes(self);
        let images = self.store.images()?;
        let mut deleted = Vec::new();
        for image in &images {
            if (dangling_only && !image.tags.is_empty())
                || until.is_some_and(|u| created_unix(image.config.created.as_deref()) >= u)
                || !labels_match(filters, &image.config.config.labels)
                || !self.image_users(image).is_empty()
            {
                continue;
            }
            deleted.extend(self.prune_image(image));
        }
        let after = layer_sizes(self);
        let reclaimed: u64 = before
            .iter()
            .filter(|(id, _)| !after.contains_key(*id))
            .map(|(_, size)| size)
            .sum();
        Ok(json!({"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed}))
    }
    // ANCHOR_END: prune_images

    /// Removes an image by ID (every name of it), as `rmi` reports it.
    fn prune_image(&self, image: &Image) -> Vec<Value> {
        let id = image.id.to_string();
        let Ok(removed) = self.store.remove(&id) else {
            return Vec::new();
        };
        removed
            .iter()
            .map(|r| match r {
                Removed::Untagged(name) => {
                    self.image_event("untag", &id, name);
                    json!({"Untagged": name})
                }
                Removed::Deleted(deleted) => {
                    self.image_event("delete", deleted, &id);
                    json!({"Deleted": deleted})
                }
            })
            .collect()
    }
}

/// dockerd's answer to a filter a prune does not know.
fn check(filters: &Filters, known: &[&str]) -> Result<(), ApiError> {
    match filters.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(ApiError::bad_request(format!("invalid filter '{key}'"))),
        None => Ok(()),
    }
}

/// `label=k`, `label=k=v` must all hold; `label!=…` must all fail.
fn labels_match(filters: &Filters, labels: &BTreeMap<String, String>) -> bool {
    let has = |l: &String| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(l),
    };
    let all = |key: &str| filters.get(key).into_iter().flatten();
    all("label").all(has) && !all("label!").any(has)
}

// ANCHOR: until
/// `until=`: a duration before now (`24h`, `10m`), a Unix time
/// (`1733612345.5`) or an RFC 3339 date, as Go's `timetypes.GetTimestamp`
/// reads it; in Unix seconds.
fn until(filters: &Filters) -> Result<Option<i64>, ApiError> {
    let Some(text) = filters.get("until").and_then(|v| v.first()) else {
        return Ok(None);
    };
    let now = SystemTime::now();
    if let Ok(duration) = humantime::parse_duration(text) {
        let then = now.checked_sub(duration).unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok(Some(api::timefmt::unix_seconds(then)));
    }
    if let Ok(Some(time)) = parse_time_seconds(text) {
        return Ok(Some(time));
    }
    match humantime::parse_rfc3339_weak(text.trim_end_matches('Z')) {
        Ok(time) => Ok(Some(api::timefmt::unix_seconds(time))),
        Err(_) => Err(ApiError::bad_request(format!(
            "invalid until filter {text:?}: a duration (24h), a Unix time or an RFC 3339 date"
        ))),
    }
}
// ANCHOR_END: until

fn parse_time_seconds(text: &str) -> Result<Option<i64>, ApiError> {
    super::events::parse_time(Some(text), "until").map(|t| t.map(|n| n.div_euclid(1_000_000_000)))
}
