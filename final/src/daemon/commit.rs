//! `docker commit`, `export` and `import`: a container's files as an
//! image or a tar, and a tar as an image (moby: `daemon/commit.go`,
//! `daemon/export.go`, `daemon/images/image_import.go`).
//!
//! A commit is chapter 02's layer diff applied to a running engine: the
//! container's overlay upper directory *is* its changes, so its tar is the
//! new layer, stacked on the image's layers. Export is the other view: the
//! merged root, every layer at once, as one flat tar.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ::images::digest::Digest;
use ::images::dockerfile;
use ::images::layer::{self, ChangeKind, Compression};
use ::images::oci::{self, Descriptor, ImageConfig, Manifest, RunConfig, media};
use ::images::reference::Reference;
use ::images::snapshot::{self, Snapshotter};
use ::images::store::{Image, StoredLayer};
use anyhow::{Context, bail};
use api::ApiError;
use api::containers::Status;
use api::types::ContainerConfig;
use serde_json::{Value, json};

use super::changes::INIT_LAYER;
use super::container::Container;
use super::{Daemon, image_error};

/// What `POST /commit` asks for besides the container.
#[derive(Debug, Default)]
pub struct CommitOptions {
    pub reference: Option<Reference>,
    pub comment: String,
    pub author: String,
    /// Freeze the container while its upper directory is read.
    pub pause: bool,
    /// Dockerfile lines (`CMD ["sh"]`, `ENV A=1`), one per `--change`.
    pub changes: Vec<String>,
}

/// `repo` and `tag` of `/commit` and `/images/create` as one name; none
/// when `repo` is empty (an unnamed image, as dockerd makes).
pub fn reference(repo: Option<&str>, tag: Option<&str>) -> Result<Option<Reference>, ApiError> {
    let Some(repo) = repo.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let text = match tag.filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    };
    let reference = Reference::parse(&text)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {e}")))?;
    Ok(Some(
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.with_tag("latest")
        } else {
            reference
        },
    ))
}

impl Daemon {
    // ANCHOR: commit
    /// `docker commit`: the container's upper directory becomes a layer on
    /// top of its image's, with the container's config (`--change`d).
    pub fn commit(
        &self,
        container: &Container,
        options: &CommitOptions,
    ) -> Result<Image, ApiError> {
        let record = container.snapshot();
        let base = self.store.resolve(&record.image_id).map_err(image_error)?;
        let mut config = base.config.clone();
        run_config_of(&record.config, &mut config.config);
        // Checked before the pause: a bad line leaves the container alone.
        apply_changes(&mut config.config, &options.changes)?;
        // A frozen cgroup's processes write nothing while the upper
        // directory is read, so the layer is one moment of the container.
        let pause = options.pause && record.state.status() == Status::Running;
        if pause {
            self.pause(container, true)?;
        }
        let layer = self.container_layer(container);
        if pause {
            self.pause(container, false)?;
        }
        let layer = layer.map_err(|e| ApiError::from(e.context("committing the container")))?;
        // ANCHOR_END: commit
        let now = api::timefmt::rfc3339_nanos(std::time::SystemTime::now());
        config.created = Some(now.clone());
        if let Some(layer) = &layer {
            config.rootfs.diff_ids.push(layer.diff_id.clone());
        }
        config.history.push(oci::History {
            created: Some(now),
            created_by: Some(record.config.cmd.clone().unwrap_or_default().join(" ")),
            comment: Some(options.comment.clone()).filter(|c| !c.is_empty()),
            empty_layer: layer.is_none(),
        });
        let mut layers = base_layers(&base);
        layers.extend(layer.map(|l| l.descriptor));
        // dockerd's own fields, beside the OCI ones: who, why, from what.
        let extra = json!({
            "author": options.author,
            "comment": options.comment,
            "container": container.id,
            "container_config": record.config,
        });
        let image = self.write_image(&config, extra, &layers, options.reference.as_ref())?;
        self.image_event("commit", &image.id.to_string(), &image.display_name());
        Ok(image)
    }

    // ANCHOR: container_layer
    /// The tar of the container's upper directory, less the mount targets
    /// the engine made (its "init layer"): `None` when nothing is left.
    fn container_layer(&self, container: &Container) -> anyhow::Result<Option<StoredLayer>> {
        let rootfs = container.dir.join("rootfs");
        let record = snapshot::at(&self.store, &rootfs)?
            .with_context(|| format!("no snapshot at {}", rootfs.display()))?;
        if record.kind != Snapshotter::Overlay {
            bail!("the root at {} is a copy, not an overlay", rootfs.display());
        }
        // `docker diff`'s list says which directories holding a mount
        // target (/etc for /etc/hosts) were changed for their own sake.
        let changed: BTreeSet<PathBuf> = self
            .changes(container)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .into_iter()
            .filter(|c| c.kind != ChangeKind::Deleted)
            .map(|c| c.path)
            .collect();
        let work = self.store.temp_dir()?;
        let whole = work.path().join("upper.tar");
        let file = File::create(&whole).with_context(|| format!("creating {}", whole.display()))?;
        layer::diff(&record.upper(&self.store), io::BufWriter::new(file))?;
        let kept = work.path().join("layer.tar");
        if filter_tar(&whole, &kept, |path, is_dir| keep(path, is_dir, &changed))? == 0 {
            return Ok(None);
        }
        let tar = File::open(&kept).with_context(|| format!("opening {}", kept.display()))?;
        Ok(Some(self.store.add_layer(tar, media::OCI_LAYER, None)?))
    }
    // ANCHOR_END: container_layer

    /// Stores a config (with dockerd's extra fields merged in) and its
    /// manifest, and names the image: chapter 02's `add_image`, with a
    /// config whose bytes are ours to choose.
    fn write_image(
        &self,
        config: &ImageConfig,
        extra: Value,
        layers: &[Descriptor],
        name: Option<&Reference>,
    ) -> Result<Image, ApiError> {
        let mut value = serde_json::to_value(config).map_err(anyhow::Error::from)?;
        if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), extra) {
            object.extend(extra.into_iter().filter(|(_, v)| v != ""));
        }
        let bytes = serde_json::to_vec(&value).map_err(anyhow::Error::from)?;
        let content = self.store.content();
        let id = content.write_bytes(&bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor::new(media::OCI_CONFIG, id.clone(), bytes.len() as u64),
            layers: layers.to_vec(),
            annotations: Default::default(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(anyhow::Error::from)?;
        let image = Image {
            id,
            manifest_digest: content.write_bytes(&manifest_bytes)?,
            manifest,
            config: config.clone(),
            tags: Vec::new(),
        };
        match name {
            Some(reference) => self.store.tag(&image, reference)?,
            None => self.store.keep_unnamed(&image)?,
        }
        self.store
            .resolve(&image.id.to_string())
            .map_err(image_error)
    }

    /// `docker import`: a root filesystem tar (plain, gzip or zstd) as a
    /// one-layer image; its config is only what `changes` says.
    pub fn import(
        &self,
        body: &mut dyn Read,
        name: Option<&Reference>,
        changes: &[String],
        message: &str,
    ) -> Result<Image, ApiError> {
        let mut run = RunConfig::default();
        apply_changes(&mut run, changes)?;
        // ANCHOR: import
        let mut input = BufReader::new(body);
        let head = input.fill_buf().map_err(anyhow::Error::from)?;
        let media_type = match Compression::detect(head).map_err(bad_tar)? {
            Compression::None => media::OCI_LAYER,
            Compression::Gzip => media::OCI_LAYER_GZIP,
            Compression::Zstd => media::OCI_LAYER_ZSTD,
        };
        let layer = self
            .store
            .add_layer(input, media_type, None)
            .map_err(bad_tar)?;
        // ANCHOR_END: import
        let message = if message.is_empty() {
            "Imported from -"
        } else {
            message
        };
        let now = api::timefmt::rfc3339_nanos(std::time::SystemTime::now());
        let platform = oci::Platform::host();
        let config = ImageConfig {
            created: Some(now.clone()),
            architecture: platform.architecture,
            os: platform.os,
            variant: platform.variant,
            config: run,
            rootfs: oci::RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![oci::History {
                created: Some(now),
                created_by: None,
                comment: Some(message.to_string()),
                empty_layer: false,
            }],
        };
        let extra = json!({"comment": message});
        let image = self.write_image(&config, extra, &[layer.descriptor], name)?;
        self.image_event("import", &image.id.to_string(), &image.display_name());
        Ok(image)
    }

    // ANCHOR: export
    /// `docker export`: the merged root filesystem as one tar, written to
    /// `out` (a file in the store: the container is frozen only while its
    /// root is read, not while a slow client downloads it).
    ///
    /// The tar is chapter 02's `diff` of the mounted root: it opens no
    /// symlink, and through the overlay mount whiteouts are already gone.
    /// A running container is frozen meanwhile: otherwise it could swap a
    /// directory for a symlink to the host's `/` under the walk.
    pub fn export(&self, container: &Container, out: &Path) -> Result<(), ApiError> {
        let rootfs = container.dir.join("rootfs");
        let freeze = container.state().status() == Status::Running;
        if freeze {
            self.runtime_command(container, &["pause", &container.id])?;
        }
        let written = File::create(out)
            .with_context(|| format!("creating {}", out.display()))
            .and_then(|file| layer::diff(&rootfs, io::BufWriter::new(file)));
        if freeze {
            self.runtime_command(container, &["resume", &container.id])?;
        }
        written.map_err(|e| ApiError::from(e.context(format!("exporting {}", container.id))))?;
        self.container_event(&container.snapshot(), "export", &[]);
        Ok(())
    }
    // ANCHOR_END: export
}

fn bad_tar(error: anyhow::Error) -> ApiError {
    ApiError::bad_request(format!("{error:#}"))
}

/// The image's layers as its manifest lists them.
fn base_layers(image: &Image) -> Vec<Descriptor> {
    image.manifest.layers.clone()
}

/// The image config of a container: its own config, which create merged
/// from the image's and the user's (moby commits `container.Config`).
fn run_config_of(container: &ContainerConfig, run: &mut RunConfig) {
    run.user = container.user.clone();
    run.env = container.env.clone().unwrap_or_default();
    run.cmd = container.cmd.clone();
    run.entrypoint = container.entrypoint.clone();
    run.working_dir = container.working_dir.clone();
    run.labels = container.labels.clone().unwrap_or_default();
    if let Some(signal) = &container.stop_signal {
        run.stop_signal = signal.clone();
    }
    let map = |key: &str| -> Option<std::collections::BTreeMap<String, Value>> {
        serde_json::from_value(container.extra.get(key)?.clone()).ok()
    };
    if let Some(ports) = map("ExposedPorts") {
        run.exposed_ports = ports;
    }
    if let Some(volumes) = map("Volumes") {
        run.volumes = volumes;
    }
}

// ANCHOR: changes
/// `--change` lines onto a config, as `docker commit` and `import` apply
/// them: each is a Dockerfile instruction, of the kinds that only change
/// the config (moby: `builder/dockerfile` `BuildFromConfig`).
pub fn apply_changes(run: &mut RunConfig, changes: &[String]) -> Result<(), ApiError> {
    if changes.is_empty() {
        return Ok(());
    }
    // A FROM makes the lines a stage; the parse errors' lines are shifted.
    let text = format!("FROM scratch\n{}\n", changes.join("\n"));
    let file = dockerfile::parse(&text).map_err(|e| {
        ApiError::bad_request(format!(
            "dockerfile parse error on line {}: {}",
            e.line.saturating_sub(1),
            e.message
        ))
    })?;
    // ANCHOR_END: changes
    let stage = file.stages.first().map(|s| s.instructions.as_slice());
    let mut cmd_set = false;
    for instruction in stage.unwrap_or_default() {
        let env = run.env.clone();
        let lookup = |name: &str| {
            env.iter()
                .find_map(|e| e.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
        };
        let x =
            |word: &str| dockerfile::expand(word, file.escape, &lookup).map_err(anyhow::Error::msg);
        // Chapter 02's builder applies config-only instructions the same way.
        let applied = ::images::build::apply_to_config(run, &instruction.kind, &x, &mut cmd_set)
            .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        if !applied {
            let keyword = instruction.text.split_whitespace().next().unwrap_or("");
            return Err(ApiError::bad_request(format!(
                "{} is not a valid change command",
                keyword.to_uppercase()
            )));
        }
    }
    Ok(())
}

// ANCHOR: keep
/// Whether an entry of the upper directory's tar belongs in the committed
/// layer: not the engine's mount targets nor what is beneath them, and a
/// directory that holds one (/etc) only if it changed for its own sake.
fn keep(path: &Path, is_dir: bool, changed: &BTreeSet<PathBuf>) -> bool {
    let inside = |target: &&str| path.starts_with(target);
    if INIT_LAYER.paths.iter().any(inside) {
        return false;
    }
    let holds = |target: &&str| Path::new(target).starts_with(path);
    !(is_dir && INIT_LAYER.paths.iter().any(holds) && !changed.contains(path))
}
// ANCHOR_END: keep

/// Copies the entries of the tar `from` that `keep` accepts to `to`,
/// byte for byte (their PAX headers, which carry long names and xattrs,
/// included), and returns how many it kept.
///
/// A tar is a run of 512-byte blocks: an entry's own blocks begin where
/// the previous entry's data (rounded up to a block) ends, and its data
/// ends `size` bytes, rounded up, after `raw_file_position`.
fn filter_tar(from: &Path, to: &Path, keep: impl Fn(&Path, bool) -> bool) -> anyhow::Result<usize> {
    const BLOCK: u64 = 512;
    let open = || File::open(from).with_context(|| format!("opening {}", from.display()));
    let mut archive = tar::Archive::new(open()?);
    let mut ranges = Vec::new();
    let mut end = 0;
    for entry in archive.entries().context("reading the layer tar")? {
        let entry = entry.context("reading the layer tar")?;
        let start = end;
        end = entry.raw_file_position() + entry.size().div_ceil(BLOCK) * BLOCK;
        let name = entry.path().context("a layer tar entry's name")?;
        let path = Path::new("/").join(&name);
        if keep(&path, entry.header().entry_type().is_dir()) {
            ranges.push((start, end));
        }
    }
    let mut input = open()?;
    let file = File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let mut output = io::BufWriter::new(file);
    for (start, end) in &ranges {
        input.seek(SeekFrom::Start(*start))?;
        io::copy(&mut (&mut input).take(end - start), &mut output)
            .with_context(|| format!("writing {}", to.display()))?;
    }
    // The end of an archive: two zero blocks.
    output.write_all(&[0; 2 * BLOCK as usize])?;
    output
        .flush()
        .with_context(|| format!("writing {}", to.display()))?;
    Ok(ranges.len())
}

/// dockerd's `Author`, `Comment` and `Container` of an image, which the
/// OCI config struct does not keep: read from the config's own bytes.
pub fn extra_fields(store: &::images::store::ImageStore, id: &Digest) -> Value {
    let config: Value = store
        .content()
        .read(id)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let text = |key: &str| config[key].as_str().unwrap_or_default().to_string();
    json!({
        "Author": text("author"),
        "Comment": text("comment"),
        "Container": text("container"),
        "ContainerConfig": config.get("container_config").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_a_dockerfile() {
        let mut run = RunConfig {
            cmd: Some(vec!["sh".into()]),
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        };
        let changes = [
            r#"CMD ["cat","/note"]"#,
            "ENV A=1 B=$PATH",
            "EXPOSE 80",
            "LABEL x=y",
            "USER nobody",
            "WORKDIR /srv",
        ];
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut run, &changes).unwrap();
        assert_eq!(run.cmd, Some(vec!["cat".into(), "/note".into()]));
        assert_eq!(run.env, ["PATH=/bin", "A=1", "B=/bin"]);
        assert!(run.exposed_ports.contains_key("80/tcp"));
        assert_eq!(run.labels["x"], "y");
        assert_eq!(
            (run.user.as_str(), run.working_dir.as_str()),
            ("nobody", "/srv")
        );
    }

    #[test]
    fn a_build_step_is_not_a_change() {
        let mut run = RunConfig::default();
        let error = apply_changes(&mut run, &["RUN true".into()]).unwrap_err();
        assert_eq!(error.message, "RUN is not a valid change command");
        let error = apply_changes(&mut run, &["BOGUS x".into()]).unwrap_err();
        assert_eq!(error.status, 400);
    }

    #[test]
    fn mount_targets_stay_out_of_the_layer() {
        let changed: BTreeSet<PathBuf> = [PathBuf::from("/note")].into();
        assert!(keep(Path::new("/note"), false, &changed));
        assert!(!keep(Path::new("/etc/hosts"), false, &changed));
        assert!(!keep(Path::new("/etc"), true, &changed));
        assert!(!keep(Path::new("/proc"), true, &changed));
        let changed: BTreeSet<PathBuf> = [PathBuf::from("/etc")].into();
        assert!(keep(Path::new("/etc"), true, &changed));
        assert!(keep(Path::new("/etc/passwd"), false, &changed));
    }
}
