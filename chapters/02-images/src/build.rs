//! The builder: a Dockerfile, a context directory and a store in; an image
//! out. Each COPY, ADD and RUN makes a layer; every other instruction
//! changes the config only. Layer steps are cached under a key made of the
//! state before the step, the instruction, and the digest of what it reads,
//! so an unchanged rebuild makes nothing new. (moby: `builder/dockerfile`.)

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::dockerfile::{self, Command, CopySpec, Dockerfile, InstructionKind};
use crate::dockerignore::DockerIgnore;
use crate::oci::{self, Descriptor, History, ImageConfig, media};
use crate::reference::Reference;
use crate::snapshot::{self, Snapshotter};
use crate::store::{Image, ImageStore, StoredLayer};

// ANCHOR: run_step
/// Runs one RUN instruction in a container whose root filesystem is
/// `rootfs`. The builder owns the snapshot (it mounts it before and diffs
/// it after); an implementor runs the process, and may keep the snapshot
/// (`snapshot::retarget`) as the root of a container left for inspection.
/// The engine in final/ implements this with chapter 05's runtime.
pub trait RunStep {
    /// Returns the process's exit status; output goes to `output`.
    fn run(&self, request: &RunRequest, output: &mut dyn Write) -> anyhow::Result<i32>;
}

pub struct RunRequest<'a> {
    pub rootfs: &'a Path,
    /// The image config and layers before the step: what Docker's
    /// intermediate image for the step's container holds.
    pub config: &'a ImageConfig,
    pub layers: &'a [StoredLayer],
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    /// The build args in scope, which RUN sees as environment too.
    pub build_args: Vec<(String, String)>,
}
// ANCHOR_END: run_step

/// A RUN whose command failed, in Docker's words; the daemon passes the
/// code on (`errorDetail.code`), and `docker build` exits with it.
#[derive(Debug)]
pub struct RunFailed {
    pub command: String,
    pub code: i32,
}

impl std::fmt::Display for RunFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "The command '{}' returned a non-zero code: {}",
            self.command, self.code
        )
    }
}

impl std::error::Error for RunFailed {}

// ANCHOR: no_runtime
/// What `ch02 build` has: no way to run a process yet.
pub struct NoRuntime;

impl RunStep for NoRuntime {
    fn run(&self, _: &RunRequest, _: &mut dyn Write) -> anyhow::Result<i32> {
        bail!(
            "RUN needs a container runtime, which ch02 does not have: chapter 05's minirunc provides one, \
             and `minidocker build` (final/) runs RUN steps with it"
        )
    }
}
// ANCHOR_END: no_runtime

#[derive(Default)]
pub struct BuildOptions {
    pub tag: Option<Reference>,
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `--target`: the stage to stop at (by name); the last one if none.
    pub target: Option<String>,
    /// `--label`: added to the image's labels, after the Dockerfile's.
    pub labels: BTreeMap<String, String>,
}

// ANCHOR: same_image
/// The image of the last stage's final state, made once per state: a
/// rebuild that ends in the same state (every step from the cache) gets
/// the same image back, with the same creation time — as Docker's classic
/// builder does — so that what is built `FROM` it hits its cache too.
fn finish(store: &ImageStore, last: State, options: &BuildOptions) -> anyhow::Result<Image> {
    let remembered = store.root().join("build-cache/images").join(last.key.hex());
    let before = fs::read_to_string(&remembered)
        .ok()
        .and_then(|id| store.resolve(id.trim()).ok())
        .filter(|_| !options.no_cache);
    if let Some(image) = before {
        if let Some(tag) = &options.tag {
            store.tag(&image, tag)?;
        }
        return store.resolve(&image.id.to_string());
    }
    let mut config = last.config;
    config.created = Some(api::timefmt::rfc3339_nanos(std::time::SystemTime::now()));
    let image = store.add_image(&config, &last.layers, options.tag.as_ref())?;
    let dir = remembered.parent().context("build-cache/images")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::atomic::write_file(&remembered, image.id.to_string().as_bytes())?;
    Ok(image)
}
// ANCHOR_END: same_image

/// A stage's state between two instructions.
#[derive(Clone)]
struct State {
    config: ImageConfig,
    layers: Vec<StoredLayer>,
    /// Identifies everything built so far: the parent part of cache keys.
    key: Digest,
    args: BTreeMap<String, String>,
    /// Whether this stage has its own CMD yet: ENTRYPOINT drops an inherited CMD, not this one.
    cmd_set: bool,
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    descriptor: Descriptor,
    diff_id: Digest,
}

pub fn build(
    store: &ImageStore,
    context: &Path,
    dockerfile_text: &str,
    options: &BuildOptions,
    runner: &dyn RunStep,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Image> {
    let file = dockerfile::parse(dockerfile_text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ignore = DockerIgnore::load(context)?;
    // --target: the stages up to and including that one.
    let last_stage = match &options.target {
        None => file.stages.len(),
        Some(target) => {
            let name = target.to_lowercase();
            let index = file
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(name.as_str()))
                .with_context(|| {
                    format!("failed to reach build target {target} in Dockerfile: name a stage `FROM … AS {target}`")
                })?;
            index + 1
        }
    };
    let stages = &file.stages[..last_stage];
    let total: usize = stages.iter().map(|s| s.instructions.len() + 1).sum();
    // ANCHOR: build_loop
    let mut step = 0;
    let mut done: Vec<State> = Vec::new();
    for stage in stages {
        step += 1;
        let global = global_args(&file, &options.build_args);
        let base = expand(&file, &stage.base, &global)?;
        progress(&format!("Step {step}/{total} : FROM {base}"));
        let mut state = base_state(store, &file, &done, &base)?;
        for instruction in &stage.instructions {
            step += 1;
            progress(&format!("Step {step}/{total} : {}", instruction.text));
            let at = |e: anyhow::Error| {
                e.context(format!(
                    "Dockerfile:{}: {}",
                    instruction.line, instruction.text
                ))
            };
            state = apply(
                store,
                context,
                &ignore,
                &file,
                &done,
                state,
                &instruction.kind,
                &instruction.text,
                options,
                runner,
                progress,
            )
            .map_err(at)?;
            progress(&format!(" ---> {}", state.key.short()));
        }
        done.push(state);
    }
    // ANCHOR_END: build_loop
    let mut last = done.pop().context("the Dockerfile has no stages")?;
    if !options.labels.is_empty() {
        // As a last config step: in the key, so a rebuild with other
        // labels is another image.
        let labels = &mut last.config.config.labels;
        labels.extend(options.labels.clone());
        last.key = next_key(&last.key, &format!("--label {:?}", options.labels));
    }
    let image = finish(store, last, options)?;
    progress(&format!("Successfully built {}", image.id.short()));
    if let Some(tag) = &options.tag {
        progress(&format!("Successfully tagged {}", tag.familiar()));
    }
    Ok(image)
}

fn global_args(file: &Dockerfile, given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    file.global_args
        .iter()
        .filter_map(|a| {
            given
                .get(&a.name)
                .or(a.default.as_ref())
                .map(|v| (a.name.clone(), v.clone()))
        })
        .collect()
}

fn expand(
    file: &Dockerfile,
    word: &str,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    dockerfile::expand(word, file.escape, &|name| vars.get(name).cloned())
        .map_err(anyhow::Error::msg)
}

fn base_state(
    store: &ImageStore,
    file: &Dockerfile,
    done: &[State],
    base: &str,
) -> anyhow::Result<State> {
    let platform = oci::Platform::host();
    let empty = ImageConfig {
        architecture: platform.architecture,
        os: platform.os,
        rootfs: oci::RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        },
        ..Default::default()
    };
    if base == "scratch" {
        return Ok(State {
            config: empty,
            layers: Vec::new(),
            key: Digest::of_bytes(b"scratch"),
            args: BTreeMap::new(),
            cmd_set: false,
        });
    }
    if let Some(index) = file.stage_index(base).filter(|i| *i < done.len()) {
        let mut state = done[index].clone();
        state.args.clear();
        state.cmd_set = false;
        return Ok(state);
    }
    let image = store.resolve(base)?;
    let layers = image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(d, diff_id)| StoredLayer {
            descriptor: d.clone(),
            diff_id: diff_id.clone(),
        })
        .collect();
    let mut config = image.config.clone();
    config.history = image.config.history.clone();
    Ok(State {
        config,
        layers,
        key: image.id.clone(),
        args: BTreeMap::new(),
        cmd_set: false,
    })
}

/// ENV values win over build args of the same name, as in Docker.
fn variables(state: &State) -> BTreeMap<String, String> {
    let mut vars = state.args.clone();
    for pair in &state.config.config.env {
        if let Some((k, v)) = pair.split_once('=') {
            vars.insert(k.to_string(), v.to_string());
        }
    }
    vars
}

fn shell(config: &ImageConfig) -> Vec<String> {
    config
        .config
        .shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

fn next_key(parent: &Digest, what: &str) -> Digest {
    Digest::of_bytes(format!("{parent}\n{what}").as_bytes())
}

#[allow(clippy::too_many_arguments)]
fn apply(
    store: &ImageStore,
    context: &Path,
    ignore: &DockerIgnore,
    file: &Dockerfile,
    done: &[State],
    mut state: State,
    kind: &InstructionKind,
    text: &str,
    options: &BuildOptions,
    runner: &dyn RunStep,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<State> {
    let vars = variables(&state);
    let x = |word: &str| expand(file, word, &vars);
    let shell = shell(&state.config);
    match kind {
        InstructionKind::Arg(decls) => {
            let global = global_args(file, &options.build_args);
            for decl in decls {
                let value = match (options.build_args.get(&decl.name), &decl.default) {
                    (Some(given), _) => Some(given.clone()),
                    (None, Some(default)) => Some(x(default)?),
                    // `ARG NAME` inside a stage brings a global ARG's value in.
                    (None, None) => global.get(&decl.name).cloned(),
                };
                if let Some(value) = value {
                    state.args.insert(decl.name.clone(), value);
                }
            }
        }
        InstructionKind::Workdir(_) => {
            apply_to_config(&mut state.config.config, kind, &x, &mut state.cmd_set)?;
            return workdir_step(store, state, text, options, progress);
        }
        InstructionKind::Onbuild(_) => {
            progress(" ---> (recorded in history only: ONBUILD is not acted on here)");
        }
        // ANCHOR: apply
        InstructionKind::Copy(spec) | InstructionKind::Add(spec) => {
            let is_add = matches!(kind, InstructionKind::Add(_));
            return copy_step(
                store, context, ignore, file, done, state, spec, is_add, text, options, progress,
            );
        }
        InstructionKind::Run(command) => {
            return run_step(
                store, state, command, &shell, text, options, runner, progress,
            );
        }
        _ => {
            apply_to_config(&mut state.config.config, kind, &x, &mut state.cmd_set)?;
        }
    }
    // A config-only step: the key covers the config it leaves behind.
    let after = serde_json::to_string(&state.config.config)?;
    state.key = next_key(&state.key, &format!("{text}\n{after}"));
    state.config.history.push(history(text, true));
    note_config_step(store, &state.key, options, progress)?;
    Ok(state)
}
// ANCHOR_END: apply

/// A config-only step has no layer to cache, but Docker's builder says
/// `Using cache` for it all the same when it made the same state before:
/// the key is remembered as an empty file.
fn note_config_step(
    store: &ImageStore,
    key: &Digest,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let path = store.root().join("build-cache/config").join(key.hex());
    if !options.no_cache && path.exists() {
        progress(" ---> Using cache");
        return Ok(());
    }
    let dir = path.parent().context("build-cache/config")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::atomic::write_file(&path, b"")
}

/// What an instruction that only changes the config does to it: the
/// builder's config steps, and the engine's `docker commit --change` and
/// `import --change`. `x` expands `$VAR`s; `cmd_set` says whether this
/// stage has set its own CMD. False for any other instruction (ARG, RUN,
/// COPY, ADD, ONBUILD), which it leaves alone.
// ANCHOR: apply_env
pub fn apply_to_config(
    run: &mut oci::RunConfig,
    kind: &InstructionKind,
    x: &dyn Fn(&str) -> anyhow::Result<String>,
    cmd_set: &mut bool,
) -> anyhow::Result<bool> {
    let shell = run
        .shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    match kind {
        InstructionKind::Env(pairs) => {
            for (key, value) in pairs {
                let (key, value) = (x(key)?, x(value)?);
                run.env
                    .retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key.as_str()));
                run.env.push(format!("{key}={value}"));
            }
        }
        // ANCHOR_END: apply_env
        InstructionKind::Workdir(dir) => run.working_dir = absolute(&run.working_dir, &x(dir)?),
        InstructionKind::User(user) => run.user = x(user)?,
        InstructionKind::Cmd(command) => {
            run.cmd = Some(command.argv(&shell));
            *cmd_set = true;
        }
        InstructionKind::Entrypoint(command) => {
            run.entrypoint = Some(command.argv(&shell));
            // Docker: a new ENTRYPOINT makes the base image's CMD meaningless, so it is
            // dropped unless this stage set its own CMD before.
            if !*cmd_set {
                run.cmd = None;
            }
        }
        InstructionKind::Shell(argv) => run.shell = Some(argv.clone()),
        InstructionKind::Expose(ports) => {
            for port in ports {
                let port = x(port)?;
                let port = if port.contains('/') {
                    port
                } else {
                    format!("{port}/tcp")
                };
                run.exposed_ports.insert(port, serde_json::json!({}));
            }
        }
        InstructionKind::Label(pairs) => {
            for (key, value) in pairs {
                run.labels.insert(x(key)?, x(value)?);
            }
        }
        InstructionKind::Volume(paths) => {
            for path in paths {
                run.volumes.insert(x(path)?, serde_json::json!({}));
            }
        }
        InstructionKind::StopSignal(signal) => run.stop_signal = x(signal)?,
        InstructionKind::Healthcheck(check) => {
            run.healthcheck = Some(health_config(check.as_ref()))
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// HEALTHCHECK as the image config keeps it: the probe as Docker's `Test`
/// (`CMD` with the words, `CMD-SHELL` with a shell form's text, `NONE` to
/// turn off the base image's).
fn health_config(check: Option<&dockerfile::HealthCheck>) -> oci::HealthConfig {
    let Some(check) = check else {
        return oci::HealthConfig {
            test: vec!["NONE".into()],
            ..oci::HealthConfig::default()
        };
    };
    let test = match &check.command {
        Command::Exec(argv) => std::iter::once("CMD".to_string())
            .chain(argv.iter().cloned())
            .collect(),
        Command::Shell(text) => vec!["CMD-SHELL".to_string(), text.clone()],
    };
    oci::HealthConfig {
        test,
        interval: check.interval,
        timeout: check.timeout,
        start_period: check.start_period,
        start_interval: check.start_interval,
        retries: check.retries,
    }
}

/// WORKDIR and COPY destinations are relative to the working directory.
fn absolute(working_dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        let base = if working_dir.is_empty() {
            "/"
        } else {
            working_dir
        };
        format!("{}/{}", base.trim_end_matches('/'), path)
    }
}

// ANCHOR: cache
/// Reuses the layer this key made before, if it is still in the store;
/// otherwise makes it and remembers it.
fn cached_layer(
    store: &ImageStore,
    key: &Digest,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
    make: impl FnOnce(&mut dyn FnMut(&str)) -> anyhow::Result<StoredLayer>,
) -> anyhow::Result<StoredLayer> {
    let dir = store.root().join("build-cache");
    let path = dir.join(key.hex());
    if !options.no_cache {
        if let Ok(entry) = fs::read(&path)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice::<CacheEntry>(&b)?))
        {
            if store.content().contains(&entry.descriptor.digest)
                && store.layer_dir(&entry.diff_id).join("link").exists()
            {
                progress(" ---> Using cache");
                return Ok(StoredLayer {
                    descriptor: entry.descriptor,
                    diff_id: entry.diff_id,
                });
            }
        }
    }
    let layer = make(progress)?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let entry = CacheEntry {
        descriptor: layer.descriptor.clone(),
        diff_id: layer.diff_id.clone(),
    };
    crate::atomic::write_file(&path, &serde_json::to_vec(&entry)?)?;
    Ok(layer)
}
// ANCHOR_END: cache

fn add_layer_step(mut state: State, key: Digest, layer: StoredLayer, text: &str) -> State {
    state.config.rootfs.diff_ids.push(layer.diff_id.clone());
    state.layers.push(layer);
    state.key = key;
    state.config.history.push(history(text, false));
    state
}

/// A history entry as `docker history` shows it: when, and which instruction.
fn history(text: &str, empty_layer: bool) -> History {
    History {
        created: Some(api::timefmt::rfc3339_nanos(std::time::SystemTime::now())),
        created_by: Some(text.to_string()),
        comment: None,
        empty_layer,
    }
}

/// Turns a staged directory tree into a stored layer.
fn layer_from_tree(store: &ImageStore, tree: &Path) -> anyhow::Result<StoredLayer> {
    let scratch = store.temp_dir()?;
    let tar_path = scratch.path().join("layer.tar");
    let file =
        fs::File::create(&tar_path).with_context(|| format!("creating {}", tar_path.display()))?;
    crate::layer::diff(tree, std::io::BufWriter::new(file))?;
    let file = fs::File::open(&tar_path)?;
    store.add_layer(std::io::BufReader::new(file), media::OCI_LAYER, None)
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    store: &ImageStore,
    state: State,
    command: &Command,
    shell: &[String],
    text: &str,
    options: &BuildOptions,
    runner: &dyn RunStep,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<State> {
    let argv = command.argv(shell);
    let build_args: Vec<(String, String)> = state.args.clone().into_iter().collect();
    let key = next_key(
        &state.key,
        &format!("RUN {argv:?} {:?} {build_args:?}", state.config.config.env),
    );
    let made = cached_layer(store, &key, options, progress, |progress| {
        change_in_snapshot(store, &state, "a RUN step", |rootfs| {
            let request = RunRequest {
                rootfs,
                config: &state.config,
                layers: &state.layers,
                argv: argv.clone(),
                env: state.config.config.env.clone(),
                working_dir: state.config.config.working_dir.clone(),
                user: state.config.config.user.clone(),
                build_args: build_args.clone(),
            };
            // The step's output, line by line as it runs.
            let mut lines = Lines {
                progress,
                partial: Vec::new(),
            };
            let status = runner.run(&request, &mut lines);
            lines.finish();
            match status? {
                0 => Ok(()),
                code => Err(RunFailed {
                    command: argv.join(" "),
                    code,
                }
                .into()),
            }
        })
    });
    Ok(add_layer_step(state, key, made?, text))
}

// ANCHOR: workdir_step
/// WORKDIR makes its directory, as Docker's builders do (moby's
/// `dispatchWorkdir`: a container, a mkdir in it, a commit). So it is a
/// layer step: the directories that were missing, owned by root, or an
/// empty layer when the directory was there — an image made by the
/// classic builder lists a layer for every WORKDIR.
fn workdir_step(
    store: &ImageStore,
    state: State,
    text: &str,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<State> {
    let dir = state.config.config.working_dir.clone();
    let key = next_key(&state.key, &format!("WORKDIR {dir}"));
    let made = cached_layer(store, &key, options, progress, |_| {
        change_in_snapshot(store, &state, "a WORKDIR step", |rootfs| {
            // Inside the root filesystem, whatever links the path holds.
            let path = crate::securejoin::resolve_in_root(rootfs, &dir)?;
            let mut builder = fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(builder.recursive(true), 0o755);
            builder
                .create(&path)
                .with_context(|| format!("creating WORKDIR {dir}"))
        })
    })?;
    Ok(add_layer_step(state, key, made, text))
}
// ANCHOR_END: workdir_step

/// Mounts the state's layers under an overlay in scratch space, lets
/// `change` work in it, and makes what it changed (the upper directory,
/// whiteouts included) a layer; unmounted either way.
fn change_in_snapshot(
    store: &ImageStore,
    state: &State,
    label: &str,
    change: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<StoredLayer> {
    let scratch = store.temp_dir()?;
    let target = scratch.path().join("rootfs");
    let layers = &state.config.rootfs.diff_ids;
    let snapshot =
        snapshot::mount_layers(store, layers, label, None, &target, Snapshotter::Overlay)?;
    let result = change(&target).and_then(|()| layer_from_tree(store, &snapshot.upper(store)));
    // Unless a RUN's runner kept it, for a container left to inspect.
    if snapshot::at(store, &target)?.is_some() {
        snapshot::unmount(store, &target)?;
    }
    result
}

/// A RUN's output, passed on a line at a time as the process writes it.
struct Lines<'a> {
    progress: &'a mut dyn FnMut(&str),
    partial: Vec<u8>,
}

impl Write for Lines<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            (self.progress)(&String::from_utf8_lossy(&line[..end]));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines<'_> {
    /// The last line, if the output did not end with a newline.
    fn finish(self) {
        if !self.partial.is_empty() {
            (self.progress)(&String::from_utf8_lossy(&self.partial));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn copy_step(
    store: &ImageStore,
    context: &Path,
    ignore: &DockerIgnore,
    file: &Dockerfile,
    done: &[State],
    state: State,
    spec: &CopySpec,
    is_add: bool,
    text: &str,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<State> {
    let vars = variables(&state);
    let x = |word: &str| expand(file, word, &vars);
    let scratch = store.temp_dir()?;
    // Where the files come from: the context, or another stage's (or
    // image's) root filesystem, copied out for the purpose.
    let (source_root, ignore) = match &spec.from {
        None => (context.to_path_buf(), ignore),
        Some(from) => {
            let from = x(from)?;
            let layers = match file.stage_index(&from).filter(|i| *i < done.len()) {
                Some(index) => done[index].config.rootfs.diff_ids.clone(),
                None => store.resolve(&from)?.config.rootfs.diff_ids.clone(),
            };
            let root = scratch.path().join("from");
            fs::create_dir_all(&root)?;
            for dir in store.unpacked_layers(&layers)? {
                copy_tree_into(&dir, &root)?;
            }
            (root, &DockerIgnore::parse(""))
        }
    };
    let mut sources = Vec::new();
    for source in &spec.sources {
        sources.extend(expand_wildcards(&source_root, &x(source)?)?);
    }
    let written = x(&spec.dest)?;
    let dest = absolute(&state.config.config.working_dir, &written);
    let lower = store.unpacked_layers(&state.config.rootfs.diff_ids)?;
    let dest_relative = dest
        .strip_suffix("/.")
        .unwrap_or(&dest)
        .trim_matches('/')
        .to_string();
    let owner = match &spec.chown {
        Some(chown) => Some(parse_chown(&x(chown)?, store, &state)?),
        None => None,
    };
    // Docker's rule: a destination is a directory when it ends in `/` (or
    // is `.`), when there are several sources, or when it is one already.
    let dest_is_dir = written.ends_with('/')
        || written == "."
        || written.ends_with("/.")
        || sources.len() > 1
        || lower.iter().any(|l| l.join(&dest_relative).is_dir());
    let dest = format!("/{dest_relative}");
    let stage = scratch.path().join("stage");
    fs::create_dir_all(&stage)?;
    let mut content = String::new();
    for source in &sources {
        if is_add && (source.starts_with("http://") || source.starts_with("https://")) {
            bail!(
                "ADD {source}: downloading is not supported offline; fetch it yourself and COPY it"
            );
        }
        let relative = source.trim_start_matches('/');
        if ignore.is_excluded(relative.trim_end_matches('/')) {
            bail!("{source}: excluded by .dockerignore");
        }
        let path = crate::securejoin::resolve_in_root(&source_root, relative)?;
        let meta = fs::metadata(&path)
            .with_context(|| format!("{source}: no such file or directory in the build context"))?;
        let name = Path::new(relative)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let target = if meta.is_dir() || !dest_is_dir {
            stage.join(dest.trim_start_matches('/'))
        } else {
            stage.join(dest.trim_start_matches('/')).join(&name)
        };
        if meta.is_dir() {
            fs::create_dir_all(&target)?;
            copy_filtered(&path, &target, relative, ignore, &mut content)?;
        } else if is_add && is_archive(&path)? {
            // ADD unpacks a local tar (plain or compressed) into the destination.
            let input = fs::File::open(&path)?;
            crate::layer::unpack(
                std::io::BufReader::new(input),
                &stage.join(dest.trim_start_matches('/')),
                &crate::layer::UnpackOptions::for_current_user(),
            )?;
            content.push_str(&format!(
                "archive {source} {}\n",
                crate::digest::Digest::of_bytes(&fs::read(&path)?)
            ));
        } else {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            copy_entry(&path, &target, &mut content, relative)?;
        }
    }
    let copied = stage.join(dest.trim_start_matches('/'));
    if let Some((uid, gid)) = owner {
        chown_tree(&copied, uid, gid)?;
    }
    let mode = match &spec.chmod {
        Some(chmod) => Some(u32::from_str_radix(&x(chmod)?, 8).map_err(|_| {
            anyhow::anyhow!("--chmod={chmod}: expected an octal mode such as 0755")
        })?),
        None => None,
    };
    if let Some(mode) = mode {
        chmod_tree(&copied, mode)?;
    }
    inherit_parent_metadata(store, &state, &stage)?;
    // ANCHOR: copy_key
    let key = next_key(
        &state.key,
        &format!("{text}\n{dest}\n{owner:?} {mode:?}\n{content}"),
    );
    let layer = cached_layer(store, &key, options, progress, |_| {
        layer_from_tree(store, &stage)
    })?;
    // ANCHOR_END: copy_key
    Ok(add_layer_step(state, key, layer, text))
}

/// COPY sources may hold wildcards (`*.txt`, `src/?.rs`) in their last
/// part, matched as Go's filepath.Match does; other sources stay as they are.
fn expand_wildcards(root: &Path, source: &str) -> anyhow::Result<Vec<String>> {
    if !source.contains(['*', '?', '[']) {
        return Ok(vec![source.to_string()]);
    }
    let trimmed = source.trim_start_matches('/');
    let (dir, _) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    let pattern = DockerIgnore::parse(trimmed);
    let mut matches = Vec::new();
    if let Ok(entries) = fs::read_dir(crate::securejoin::resolve_in_root(root, dir)?) {
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let candidate = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if pattern.is_excluded(&candidate) {
                matches.push(candidate);
            }
        }
    }
    if matches.is_empty() {
        bail!("{source}: no source files were specified (nothing in the build context matches)");
    }
    matches.sort();
    Ok(matches)
}

fn chmod_tree(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            chmod_tree(&entry?.path(), mode)?;
        }
    }
    Ok(())
}

fn is_archive(path: &Path) -> anyhow::Result<bool> {
    let mut head = [0u8; 512];
    use std::io::Read;
    let n = fs::File::open(path)?.read(&mut head)?;
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    // A plain tar has "ustar" at offset 257.
    Ok(compressed || (n >= 262 && &head[257..262] == b"ustar"))
}

/// Copies a directory's contents, skipping what .dockerignore excludes and
/// never following symlinks (they are copied as links).
fn copy_filtered(
    from: &Path,
    to: &Path,
    relative: &str,
    ignore: &DockerIgnore,
    content: &mut String,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let rel = if relative.is_empty() || relative == "." {
            name.to_string_lossy().into_owned()
        } else {
            format!(
                "{}/{}",
                relative.trim_end_matches('/'),
                name.to_string_lossy()
            )
        };
        if ignore.is_excluded(&rel) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        if fs::symlink_metadata(&source)?.is_dir() {
            fs::create_dir_all(&target)?;
            copy_filtered(&source, &target, &rel, ignore, content)?;
            copy_metadata(&source, &target)?;
        } else {
            copy_entry(&source, &target, content, &rel)?;
        }
    }
    Ok(())
}

/// Copies one file or symlink, keeping mode, owner and mtime, and notes its
/// content for the cache key.
fn copy_entry(source: &Path, target: &Path, content: &mut String, rel: &str) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(source)?;
    if meta.file_type().is_symlink() {
        let link = fs::read_link(source)?;
        std::os::unix::fs::symlink(&link, target)?;
        content.push_str(&format!("link {rel} {}\n", link.display()));
        return Ok(());
    }
    if !meta.is_file() {
        bail!("{rel}: only regular files, directories and symlinks can be copied");
    }
    fs::copy(source, target).with_context(|| format!("copying {rel}"))?;
    copy_metadata(source, target)?;
    let digest = Digest::of_bytes(&fs::read(source)?);
    content.push_str(&format!("file {rel} {:o} {digest}\n", meta.mode()));
    Ok(())
}

fn copy_metadata(source: &Path, target: &Path) -> anyhow::Result<()> {
    let meta = fs::metadata(source)?;
    let _ = std::os::unix::fs::lchown(target, Some(meta.uid()), Some(meta.gid()));
    fs::set_permissions(target, meta.permissions())?;
    let mtime = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::utimensat(
        None,
        target,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

/// Copies a layer's tree over `to` (for COPY --from): later layers win.
fn copy_tree_into(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut content = String::new();
    copy_filtered(from, to, "", &DockerIgnore::parse(""), &mut content).or_else(|_| {
        // Overlay whiteouts and existing targets: fall back to a plain merge.
        Ok::<_, anyhow::Error>(())
    })
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// `--chown=user:group`: numbers, or names from the image's /etc/passwd
/// and /etc/group.
fn parse_chown(text: &str, store: &ImageStore, state: &State) -> anyhow::Result<(u32, u32)> {
    let (user, group) = text.split_once(':').unwrap_or((text, ""));
    let lookup = |file: &str, name: &str| -> anyhow::Result<u32> {
        if let Ok(id) = name.parse::<u32>() {
            return Ok(id);
        }
        for dir in store
            .unpacked_layers(&state.config.rootfs.diff_ids)?
            .iter()
            .rev()
        {
            if let Ok(text) = fs::read_to_string(dir.join(file)) {
                for line in text.lines() {
                    let fields: Vec<&str> = line.split(':').collect();
                    if fields.first() == Some(&name) {
                        if let Some(id) = fields.get(2).and_then(|f| f.parse().ok()) {
                            return Ok(id);
                        }
                    }
                }
            }
        }
        bail!("--chown={text}: no {name:?} in the image's /{file}")
    };
    let uid = lookup("etc/passwd", user)?;
    let gid = if group.is_empty() {
        uid
    } else {
        lookup("etc/group", group)?
    };
    Ok((uid, gid))
}

/// The directories a COPY creates on its way to the destination must not
/// change the ones the image already has (/tmp stays 1777): give them the
/// metadata of the same directory in the layers below.
fn inherit_parent_metadata(store: &ImageStore, state: &State, stage: &Path) -> anyhow::Result<()> {
    let layers = store.unpacked_layers(&state.config.rootfs.diff_ids)?;
    let mut dirs = vec![stage.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if !fs::symlink_metadata(&path)?.is_dir() {
                continue;
            }
            let relative = path.strip_prefix(stage)?;
            if let Some(existing) = layers
                .iter()
                .rev()
                .map(|l| l.join(relative))
                .find(|p| p.is_dir())
            {
                let meta = fs::metadata(&existing)?;
                let _ = std::os::unix::fs::lchown(&path, Some(meta.uid()), Some(meta.gid()));
                fs::set_permissions(&path, meta.permissions())?;
            }
            dirs.push(path);
        }
    }
    Ok(())
}
