//! The daemon's side of `--explain`: which containers are traced, the
//! steps the daemon takes for them, and their traces, kept after the
//! container is gone.
//!
//! A traced container has a trace file beside its record,
//! `DATA_ROOT/containers/ID/trace.jsonl`. The daemon appends its own
//! steps; the shim and the runtime append theirs, told where by
//! `MINIDOCKER_TRACE` (chapter 01's `api::trace`). Reading the file is
//! reading the whole trace. A removed container's directory goes, so its
//! trace is read first and kept in memory, the last 64, as dockerd keeps
//! its last events.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use api::ApiError;
use api::trace::{Layer, Step, TraceFile};
use api::types::ContainerConfig;
use images::snapshot::SnapshotRecord;
use images::store::Image;
use serde::{Deserialize, Serialize};

use super::Daemon;
use super::container::Container;

pub const TRACE_FILE: &str = "trace.jsonl";

/// The book's page on the overlay mount.
pub const OVERLAY: &str = "ch02-images.md#one-image-many-containers-overlayfs";

/// Removed containers' traces kept.
const KEPT: usize = 64;

/// `GET /containers/{id}/explain`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Explained {
    pub id: String,
    pub name: String,
    pub steps: Vec<Step>,
}

/// The traces of removed containers, newest last.
#[derive(Default)]
pub struct KeptTraces(Mutex<VecDeque<Explained>>);

/// Records a step of the daemon's on `trace`, if there is one.
pub fn step(trace: Option<&TraceFile>, at: u64, page: &str, what: impl FnOnce() -> String) {
    if let Some(trace) = trace {
        trace.step(Layer::Minidockerd, at, page, what);
    }
}

/// Opens the trace file of a container's directory, if it has one.
pub fn open(dir: &Path) -> Option<TraceFile> {
    let path = dir.join(TRACE_FILE);
    path.exists().then(|| TraceFile::open(&path).ok()).flatten()
}

impl Container {
    /// Records a step of the daemon's that began at `at`, if traced.
    pub fn step(&self, at: u64, page: &str, what: impl FnOnce() -> String) {
        step(self.trace.as_ref(), at, page, what);
    }

    /// Records a moment of the daemon's, if traced.
    pub fn moment(&self, page: &str, what: impl FnOnce() -> String) {
        if let Some(trace) = &self.trace {
            trace.moment(Layer::Minidockerd, page, what);
        }
    }

    /// The step of recording an exit, begun at `at`.
    pub fn exit_recorded(&self, at: u64, oom_killed: bool) {
        self.step(at, "engine.md#the-monitor", || {
            let state = self.state();
            format!(
                "container.json says {} ({}), OOM-killed: {oom_killed}",
                state.status, state.exit_code
            )
        });
    }

    fn explained(&self) -> Explained {
        Explained {
            id: self.id.clone(),
            name: self.name(),
            steps: api::trace::read(&self.dir.join(TRACE_FILE)).unwrap_or_default(),
        }
    }
}

impl Daemon {
    /// Whether a new container is traced: every one under `minidockerd
    /// --explain`, else those labelled `minidocker.explain`.
    pub fn traced(&self, config: &ContainerConfig) -> bool {
        self.config.explain
            || config
                .labels
                .as_ref()
                .is_some_and(|labels| labels.contains_key(crate::explain::LABEL))
    }

    /// A new container's trace file, if it is traced.
    /// Its first step: the image, resolved from `at` on. (A trace that
    /// cannot be made never fails the create.)
    pub fn new_trace(
        &self,
        config: &ContainerConfig,
        dir: &Path,
        (at, image): (u64, &Image),
    ) -> Option<TraceFile> {
        if !self.traced(config) {
            return None;
        }
        let file = TraceFile::open(&dir.join(TRACE_FILE)).ok()?;
        file.step(
            Layer::Minidockerd,
            at,
            "ch02-images.md#names-are-normalised",
            || {
                let layers = image.config.rootfs.diff_ids.len();
                format!("image {} → {}, layers: {layers}", config.image, image.id)
            },
        );
        Some(file)
    }

    /// The overlay snapshot a create mounted, in a trace's words.
    pub fn mounted(&self, snapshot: &SnapshotRecord) -> String {
        format!(
            "mount(\"overlay\") on {}: lower layers {}, writable {}",
            snapshot.target.display(),
            snapshot.layers.len(),
            snapshot.upper(&self.store).display()
        )
    }

    // ANCHOR: explain
    /// A container's trace: a live one's from its file, a removed one's
    /// from memory.
    pub fn explain(&self, reference: &str) -> Result<Explained, ApiError> {
        let container = match self.resolve(reference) {
            Ok(container) => container,
            Err(not_found) => {
                let kept = self.kept_traces.0.lock().unwrap_or_else(|e| e.into_inner());
                return kept
                    .iter()
                    .rev()
                    .find(|t| t.id.starts_with(reference) || t.name == reference)
                    .cloned()
                    .ok_or(not_found);
            }
        };
        if container.trace.is_none() {
            return Err(ApiError::not_found(format!(
                "container {reference} was not traced: run it with `minidocker run --explain`, \
                 label it (docker run --label {}), or start minidockerd with --explain",
                crate::explain::LABEL
            )));
        }
        Ok(container.explained())
    }
    // ANCHOR_END: explain

    /// Keeps a traced container's trace before its directory goes.
    pub fn keep_trace(&self, container: &Container) {
        if container.trace.is_none() {
            return;
        }
        let mut kept = self.kept_traces.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(container.explained());
    }

    /// With `minidockerd --explain`: a container's whole trace in the log,
    /// once its run is over.
    pub fn log_trace(&self, id: &str) {
        if !self.config.explain {
            return;
        }
        let Ok(trace) = self.explain(id) else {
            return;
        };
        let origin = trace.steps.first().map_or(0, |s| s.at);
        let mut text = format!(
            "minidockerd: the trace of container {} ({}):\n{}\n",
            trace.id,
            trace.name,
            crate::explain::heading()
        );
        for line in crate::explain::render(&trace.steps, origin) {
            text.push_str(&line);
            text.push('\n');
        }
        eprint!("{text}");
    }
}

/// What config.json asks of the runtime, in one line: `config.json
/// written: namespaces pid
/// ipc uts mount net (joined); cgroup /minidocker/ID; 14 capabilities;
/// seccomp: 363 calls allowed; 17 mounts`.
pub fn describe_spec(spec: &runtime::spec::Spec) -> String {
    let linux = spec.linux.clone().unwrap_or_default();
    let namespaces: Vec<String> = linux
        .namespaces
        .iter()
        .map(|ns| match ns.path {
            Some(_) => format!("{} (joined)", ns.kind.proc_name()),
            None => ns.kind.proc_name().to_string(),
        })
        .collect();
    let capabilities = spec
        .process
        .as_ref()
        .and_then(|p| p.capabilities.as_ref())
        .map_or(0, |c| c.bounding.len());
    let seccomp = match &linux.seccomp {
        Some(profile) => {
            let allowed: usize = profile
                .syscalls
                .iter()
                .filter(|rule| rule.action == "SCMP_ACT_ALLOW")
                .map(|rule| rule.names.len())
                .sum();
            format!("seccomp allows {allowed} calls by name")
        }
        None => "no seccomp".to_string(),
    };
    format!(
        "config.json written: namespaces {}; cgroup {}; {capabilities} capabilities; {seccomp}; \
         {} mounts, {} paths masked",
        namespaces.join(" "),
        linux.cgroups_path.as_deref().unwrap_or("(the runtime's)"),
        spec.mounts.len(),
        linux.masked_paths.len()
    )
}
