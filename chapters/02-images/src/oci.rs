//! The JSON documents of an image, as the OCI image spec and Docker's
//! schema 2 define them. The two are the same shapes under different media
//! types: a *descriptor* points at a blob (type, digest, size); a
//! *manifest* lists an image's config and layers; an *index* (Docker: a
//! manifest list) lists manifests, one per platform.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker schema 1: signed, long deprecated; refused with a clear error.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
}

/// The annotation an OCI layout's `index.json` uses to name a manifest.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// This machine, in Go's names (amd64, arm64, …), as images use them.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            other => (other, None),
        };
        Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: variant.map(String::from),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    pub fn new() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }
}

impl Default for Index {
    fn default() -> Index {
        Index::new()
    }
}

/// A manifest of either kind, told apart by its media type (or, when a
/// document omits it, by its fields).
#[derive(Clone, Debug)]
pub enum AnyManifest {
    Image(Manifest),
    Index(Index),
}

impl AnyManifest {
    pub fn parse(bytes: &[u8]) -> anyhow::Result<AnyManifest> {
        let value: Value = serde_json::from_slice(bytes).context("manifest is not valid JSON")?;
        let media_type = value.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let schema = value.get("schemaVersion").and_then(Value::as_u64);
        if schema == Some(1) || media_type == media::DOCKER_SCHEMA1 {
            bail!(
                "Docker schema 1 manifests are not supported (deprecated since 2017): push the image again with a current Docker"
            );
        }
        if schema != Some(2) {
            bail!("unsupported manifest: schemaVersion must be 2");
        }
        let is_index = match media_type {
            media::OCI_INDEX | media::DOCKER_LIST => true,
            media::OCI_MANIFEST | media::DOCKER_MANIFEST => false,
            "" => value.get("manifests").is_some(),
            other => bail!("unsupported manifest media type {other:?}"),
        };
        if is_index {
            Ok(AnyManifest::Index(
                serde_json::from_value(value).context("invalid image index")?,
            ))
        } else {
            Ok(AnyManifest::Image(
                serde_json::from_value(value).context("invalid image manifest")?,
            ))
        }
    }
}

// ANCHOR: select_platform
/// Picks the manifest for `wanted` from an index, as Docker does: the same
/// OS and architecture, and the same variant when both name one.
pub fn select_platform<'i>(index: &'i Index, wanted: &Platform) -> Option<&'i Descriptor> {
    let matches = |d: &&Descriptor| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == wanted.os
                && p.architecture == wanted.architecture
                && (p.variant.is_none() || wanted.variant.is_none() || p.variant == wanted.variant)
        })
    };
    index
        .manifests
        .iter()
        .find(|d| {
            matches(d)
                && d.platform.as_ref().and_then(|p| p.variant.as_ref()) == wanted.variant.as_ref()
        })
        .or_else(|| index.manifests.iter().find(matches))
}
// ANCHOR_END: select_platform

/// The runtime part of an image config (what `docker run` starts with).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
}

/// `Healthcheck` in an image or container config: `Test` is `["NONE"]`,
/// `["CMD", arg…]` or `["CMD-SHELL", command]`; durations in nanoseconds,
/// 0 (left out) for Docker's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// What `docker run` says over the image's config: each field, when set,
/// wins over the image's.
#[derive(Clone, Debug, Default)]
pub struct RunOverrides {
    /// `--entrypoint`: replaces the image's, and drops the image's CMD with
    /// it (Docker's rule); `Some(vec![])` is `--entrypoint ""`.
    pub entrypoint: Option<Vec<String>>,
    /// The command after the image name; empty keeps the image's CMD.
    pub cmd: Vec<String>,
    /// `-e KEY=VALUE`: replaces the image's KEY, or is added.
    pub env: Vec<String>,
    /// `-u`, `-w`, `--stop-signal`.
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub stop_signal: Option<String>,
}

/// The process a container runs, from image config and overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessConfig {
    pub args: Vec<String>,
    /// PATH is always there (Docker's default when neither sets it).
    pub env: Vec<String>,
    /// USER[:GROUP] as written, to be looked up in the rootfs ("0": root).
    pub user: String,
    pub working_dir: String,
    pub stop_signal: String,
}

impl RunConfig {
    /// `docker run`'s merge of the image's config and the run's overrides
    /// (moby: `daemon/create.go`, the CLI's `--entrypoint` handling).
    pub fn merged(&self, run: &RunOverrides) -> anyhow::Result<ProcessConfig> {
        // ANCHOR: merge
        let (entrypoint, image_cmd) = match &run.entrypoint {
            Some(entrypoint) => (entrypoint.clone(), Vec::new()),
            None => (
                self.entrypoint.clone().unwrap_or_default(),
                self.cmd.clone().unwrap_or_default(),
            ),
        };
        let cmd = if run.cmd.is_empty() {
            image_cmd
        } else {
            run.cmd.clone()
        };
        let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if args.is_empty() {
            bail!(
                "no command specified: the image has no ENTRYPOINT or CMD; give one after the image name"
            );
        }
        let mut env = self.env.clone();
        for pair in &run.env {
            let Some((key, _)) = pair.split_once('=') else {
                bail!("environment variable {pair:?}: use KEY=VALUE");
            };
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(pair.clone());
        }
        with_default_path(&mut env);
        // ANCHOR_END: merge
        let or = |set: &Option<String>, image: &str, default: &str| {
            let chosen = set.as_deref().unwrap_or(image);
            if chosen.is_empty() { default } else { chosen }.to_string()
        };
        Ok(ProcessConfig {
            args,
            env,
            user: or(&run.user, &self.user, "0"),
            working_dir: or(&run.working_dir, &self.working_dir, "/"),
            stop_signal: or(&run.stop_signal, &self.stop_signal, "SIGTERM"),
        })
    }
}

/// Adds Docker's default PATH to `env` unless it has one.
pub fn with_default_path(env: &mut Vec<String>) {
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, api::types::DEFAULT_PATH.to_string());
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The image config blob; its digest is the image ID.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub config: RunConfig,
    pub rootfs: RootFs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> anyhow::Result<ImageConfig> {
        let config: ImageConfig = serde_json::from_slice(bytes).context("invalid image config")?;
        if config.rootfs.kind != "layers" {
            bail!(
                "invalid image config: rootfs.type must be \"layers\", found {:?}",
                config.rootfs.kind
            );
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_overrides_merge_like_docker_run() {
        let image = RunConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into()]),
            env: vec!["A=1".into(), "B=2".into()],
            user: "app".into(),
            ..RunConfig::default()
        };
        let merged = image.merged(&RunOverrides::default()).unwrap();
        assert_eq!(
            RunConfig::default()
                .merged(&RunOverrides {
                    cmd: vec!["true".into()],
                    ..RunOverrides::default()
                })
                .unwrap()
                .user,
            "0"
        );
        assert_eq!(merged.args, ["/entry", "serve"]);
        assert_eq!(merged.env[0], api::types::DEFAULT_PATH);
        assert_eq!(
            (
                merged.user.as_str(),
                merged.working_dir.as_str(),
                merged.stop_signal.as_str()
            ),
            ("app", "/", "SIGTERM")
        );
        // A command replaces CMD only; -e replaces its key and keeps the rest.
        let run = RunOverrides {
            cmd: vec!["check".into()],
            env: vec!["B=3".into(), "PATH=/x".into()],
            user: Some("0".into()),
            working_dir: Some("/srv".into()),
            ..RunOverrides::default()
        };
        let merged = image.merged(&run).unwrap();
        assert_eq!(merged.args, ["/entry", "check"]);
        assert_eq!(merged.env, ["A=1", "B=3", "PATH=/x"]);
        assert_eq!(
            (merged.user.as_str(), merged.working_dir.as_str()),
            ("0", "/srv")
        );
        // --entrypoint drops the image's CMD; --entrypoint "" with nothing else leaves nothing.
        let run = RunOverrides {
            entrypoint: Some(vec!["sh".into()]),
            ..RunOverrides::default()
        };
        assert_eq!(image.merged(&run).unwrap().args, ["sh"]);
        let run = RunOverrides {
            entrypoint: Some(vec![]),
            ..RunOverrides::default()
        };
        assert!(
            image
                .merged(&run)
                .unwrap_err()
                .to_string()
                .contains("no command")
        );
        let run = RunOverrides {
            env: vec!["NOEQUALS".into()],
            ..RunOverrides::default()
        };
        assert!(image.merged(&run).is_err());
    }

    fn d(n: u8) -> Digest {
        Digest::of_bytes(&[n])
    }

    #[test]
    fn tells_manifests_from_indexes() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":1}},"layers":[]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            d(1)
        );
        assert!(matches!(
            AnyManifest::parse(manifest.as_bytes()).unwrap(),
            AnyManifest::Image(_)
        ));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":3}}]}}"#,
            media::OCI_MANIFEST,
            d(2)
        );
        assert!(matches!(
            AnyManifest::parse(index.as_bytes()).unwrap(),
            AnyManifest::Index(_)
        ));
        assert!(
            AnyManifest::parse(br#"{"schemaVersion":1}"#)
                .unwrap_err()
                .to_string()
                .contains("schema 1")
        );
        assert!(AnyManifest::parse(br#"{"schemaVersion":2,"mediaType":"text/html"}"#).is_err());
        assert!(AnyManifest::parse(b"<html>").is_err());
        let bad_digest = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}"#;
        assert!(AnyManifest::parse(bad_digest.as_bytes()).is_err());
    }

    #[test]
    fn platform_selection() {
        let entry = |arch: &str, variant: Option<&str>, n| Descriptor {
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(String::from),
            }),
            ..Descriptor::new(media::OCI_MANIFEST, d(n), 1)
        };
        let mut index = Index::new();
        index.manifests = vec![
            entry("arm", Some("v6"), 1),
            entry("arm", Some("v7"), 2),
            entry("amd64", None, 3),
            entry("arm64", Some("v8"), 4),
        ];
        let want = |arch: &str, variant: Option<&str>| Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(String::from),
        };
        assert_eq!(
            select_platform(&index, &want("amd64", None))
                .unwrap()
                .digest,
            d(3)
        );
        assert_eq!(
            select_platform(&index, &want("arm", Some("v7")))
                .unwrap()
                .digest,
            d(2)
        );
        assert_eq!(
            select_platform(&index, &want("arm64", Some("v8")))
                .unwrap()
                .digest,
            d(4)
        );
        assert!(select_platform(&index, &want("s390x", None)).is_none());
    }

    #[test]
    fn config_round_trip_keeps_docker_names() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let config = ImageConfig::parse(json.as_bytes()).unwrap();
        assert_eq!(config.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        let again = serde_json::to_string(&config).unwrap();
        assert!(
            again.contains(r#""Cmd":["sh"]"#) && again.contains(r#""empty_layer":true"#),
            "{again}"
        );
        assert!(ImageConfig::parse(br#"{"rootfs":{"type":"x","diff_ids":[]}}"#).is_err());
    }
}
