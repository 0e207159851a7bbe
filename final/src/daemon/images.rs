//! Images as the Engine API shows them: chapter 02's store, in the shapes
//! of `docker images`, `image inspect` and `history`; the offline images a
//! new daemon starts with. (moby: `daemon/images/`.)

use std::collections::BTreeMap;

use anyhow::Context;
use api::ApiError;
use images::store::Image;
use serde_json::{Value, json};

use super::Daemon;

/// In the data root once the offline images were made: they are made on a
/// daemon's first start only, so an `rmi` is not undone by a restart.
const DEFAULT_IMAGES_MARKER: &str = "default-images-created";

impl Daemon {
    /// The offline `hello` and `busybox` images, on the first start.
    pub fn create_default_images(&self) -> anyhow::Result<()> {
        let marker = self.config.data_root.join(DEFAULT_IMAGES_MARKER);
        if marker.exists() {
            return Ok(());
        }
        match images::rootfs::import_hello(&self.store) {
            Ok((image, _)) => eprintln!(
                "minidockerd: created the offline image hello ({})",
                image.id.short()
            ),
            Err(e) => eprintln!("minidockerd: warning: no hello image: {e:#}"),
        }
        match images::rootfs::import_busybox(&self.store) {
            Ok((image, _)) => eprintln!(
                "minidockerd: created the offline image busybox ({})",
                image.id.short()
            ),
            Err(e) => eprintln!(
                "minidockerd: warning: no busybox image: {e:#} (install busybox-static, then `docker load` one)"
            ),
        }
        images::atomic::write_file(&marker, b"")
            .with_context(|| format!("writing {}", marker.display()))
    }

    /// The containers that use `image`, by name, for `rmi`'s 409.
    pub fn image_users(&self, image: &Image) -> Vec<(String, bool)> {
        let id = image.id.to_string();
        self.containers()
            .iter()
            .filter(|c| c.record().image_id == id)
            .map(|c| {
                let record = c.record();
                (record.id.clone(), record.state.is_running())
            })
            .collect()
    }
}

fn repo_digests(image: &Image) -> Vec<String> {
    let mut repositories: Vec<String> =
        image.tags.iter().map(|t| t.familiar_repository()).collect();
    repositories.dedup();
    repositories
        .into_iter()
        .map(|r| format!("{r}@{}", image.manifest_digest))
        .collect()
}

fn created_unix(image: &Image) -> i64 {
    image
        .config
        .created
        .as_deref()
        .and_then(|c| humantime::parse_rfc3339_weak(c.trim_end_matches('Z')).ok())
        .map(api::timefmt::unix_seconds)
        .unwrap_or(0)
}

/// One row of `GET /images/json`.
pub fn summary(image: &Image, containers: i64) -> Value {
    json!({
        "Id": image.id.to_string(),
        "ParentId": "",
        "RepoTags": image.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>(),
        "RepoDigests": repo_digests(image),
        "Created": created_unix(image),
        "Size": image.size(),
        "SharedSize": -1,
        "Labels": image.config.config.labels,
        "Containers": containers,
    })
}

/// `GET /images/{name}/json`.
pub fn inspect(image: &Image) -> Value {
    json!({
        "Id": image.id.to_string(),
        "RepoTags": image.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>(),
        "RepoDigests": repo_digests(image),
        "Parent": "",
        "Comment": "",
        "Created": image.config.created.clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": "",
        "Config": image.config.config,
        "Architecture": image.config.architecture,
        "Variant": image.config.variant,
        "Os": image.config.os,
        "Size": image.size(),
        "GraphDriver": {"Name": "overlay2", "Data": {}},
        "RootFS": {
            "Type": "layers",
            "Layers": image.config.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        },
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    })
}

/// `GET /images/{name}/history`: newest step first; a step with a layer
/// has its size, one that changed only the config has 0.
pub fn history(image: &Image) -> Value {
    let mut layers = image.manifest.layers.iter();
    let mut steps: Vec<Value> = image
        .config
        .history
        .iter()
        .map(|step| {
            let size = if step.empty_layer {
                0
            } else {
                layers.next().map(|l| l.size).unwrap_or(0)
            };
            json!({
                "Id": "<missing>",
                "Created": step.created.as_deref()
                    .and_then(|c| humantime::parse_rfc3339_weak(c.trim_end_matches('Z')).ok())
                    .map(api::timefmt::unix_seconds).unwrap_or(0),
                "CreatedBy": step.created_by.clone().unwrap_or_default(),
                "Tags": Value::Null,
                "Size": size,
                "Comment": step.comment.clone().unwrap_or_default(),
            })
        })
        .collect();
    if let Some(newest) = steps.last_mut() {
        newest["Id"] = json!(image.id.to_string());
        newest["Tags"] = json!(image.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>());
    }
    steps.reverse();
    Value::Array(steps)
}

/// The names of `image` that a `reference` filter's patterns match.
pub fn matching_tags(image: &Image, patterns: &[String]) -> Vec<String> {
    image
        .tags
        .iter()
        .filter(|t| patterns.iter().any(|p| reference_matches(p, t)))
        .map(|t| t.familiar())
        .collect()
}

fn reference_matches(pattern: &str, tag: &::images::reference::Reference) -> bool {
    glob(pattern, &tag.familiar())
        || glob(pattern, &tag.familiar_repository())
        || glob(pattern, &tag.to_string())
}

/// `GET /images/json`'s filters: `reference` (a name, `*` as a wildcard),
/// `dangling`, `label`.
pub fn matches(image: &Image, filters: &BTreeMap<String, Vec<String>>) -> Result<bool, ApiError> {
    for (key, values) in filters {
        let accepted = match key.as_str() {
            "reference" => !matching_tags(image, values).is_empty(),
            "dangling" => values.iter().any(|v| match v.as_str() {
                "true" | "1" => image.tags.is_empty(),
                _ => !image.tags.is_empty(),
            }),
            "label" => values.iter().any(|l| {
                let labels = &image.config.config.labels;
                match l.split_once('=') {
                    Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                    None => labels.contains_key(l),
                }
            }),
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{other}' (use reference, dangling or label)"
                )));
            }
        };
        if !accepted {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A shell-style pattern with `*` only (what `docker images 'bu*'` uses).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// Images without a name: what `image prune` removes.
pub fn dangling(images: &[Image]) -> Vec<&Image> {
    images.iter().filter(|i| i.tags.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_like_docker_images() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("bu*", "busybox"));
        assert!(glob("*box:latest", "busybox:latest"));
        assert!(!glob("bu*x", "busybox:latest"));
        assert!(!glob("hello", "busybox"));
    }
}
