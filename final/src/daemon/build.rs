//! `docker build` with the classic builder: chapter 02's builder, whose
//! RUN steps the engine runs for real. Each RUN is a container of its own —
//! the step's overlay snapshot as its root, config.json from chapter 05's
//! spec builder, namespaces and a cgroup — run by the runtime in the
//! foreground (`minirunc run`), without a network unless the build asks
//! for the host's, as the classic builder's RUN has no published ports.
//! What it changes in the snapshot becomes the next layer.
//! (moby: `builder/dockerfile`, `daemon/build.go`.)

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{Context, bail};
use api::ApiError;
use api::http::Request;
use api::types::{ContainerConfig, ContainerCreateRequest, HostConfig};
use images::build::{BuildOptions, RunRequest, RunStep};
use images::reference::Reference;
use images::store::Image;
use runtime::builder::SpecRequest;
use runtime::shim::log::{JsonFileLog, LineSplitter};

use super::Daemon;
use super::start::CGROUP_PARENT;

/// What `POST /build`'s query asks for.
pub struct BuildQuery {
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    /// `-t`, as many as given: the first names the image, the rest tag it.
    pub tags: Vec<Reference>,
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `-q`: no step output, only the image ID.
    pub quiet: bool,
    /// `--network host` for RUN; anything else is none.
    pub host_network: bool,
    /// `--target`: the stage to stop at.
    pub target: Option<String>,
    /// `--label`s for the image.
    pub labels: BTreeMap<String, String>,
    /// `--rm` (the default): a RUN step's container goes when it succeeds;
    /// a failed one stays for inspection, as Docker's do.
    pub remove: bool,
    /// `--force-rm`: it goes whatever happened.
    pub force_remove: bool,
}

impl BuildQuery {
    pub fn parse(req: &Request) -> Result<BuildQuery, ApiError> {
        let bad = ApiError::bad_request;
        let mut tags = Vec::new();
        for (_, tag) in req.query.iter().filter(|(k, _)| k == "t") {
            tags.push(Reference::parse(tag).map_err(|e| bad(format!("invalid tag {tag:?}: {e}")))?);
        }
        // buildargs: {"NAME": "value"}; a null value means "from the
        // client's environment", which the CLI has already filled in.
        let build_args: BTreeMap<String, Option<String>> = json_map(req, "buildargs")?;
        if req.query_bool("pull") {
            return Err(bad(
                "--pull needs a registry client: chapter 06 brings it; build from local images"
                    .to_string(),
            ));
        }
        let labels = json_map(req, "labels")?;
        Ok(BuildQuery {
            dockerfile: req
                .query("dockerfile")
                .filter(|d| !d.is_empty())
                .unwrap_or("Dockerfile")
                .to_string(),
            tags,
            build_args: build_args
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect(),
            no_cache: req.query_bool("nocache"),
            quiet: req.query_bool("q"),
            host_network: req.query("networkmode") == Some("host"),
            target: req
                .query("target")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            labels,
            // `rm` is true unless the client says otherwise.
            remove: req.query("rm").is_none_or(|_| req.query_bool("rm")),
            force_remove: req.query_bool("forcerm"),
        })
    }
}

/// A query parameter holding a JSON object (`buildargs`, `labels`);
/// absent or empty is an empty map.
fn json_map<V: serde::de::DeserializeOwned>(
    req: &Request,
    name: &str,
) -> Result<BTreeMap<String, V>, ApiError> {
    match req.query(name) {
        Some(json) if !json.is_empty() => serde_json::from_str(json)
            .map_err(|e| ApiError::bad_request(format!("invalid {name} {json:?}: {e}"))),
        _ => Ok(BTreeMap::new()),
    }
}

impl Daemon {
    // ANCHOR: receive_context
    /// Unpacks the build context the client sent (a tar, gzipped or not)
    /// into a directory of the store's scratch space. tar's `unpack`
    /// refuses entries that would land outside it (`..`, absolute paths,
    /// a path through a symlink). Names starting `.wh.` are ordinary files
    /// here: whiteouts mean something in a layer, not in a context.
    pub fn receive_context(&self, body: &mut dyn Read) -> Result<tempfile::TempDir, ApiError> {
        let dir = self.store.temp_dir()?;
        let mut body = std::io::BufReader::new(body);
        let gzipped = std::io::BufRead::fill_buf(&mut body)
            .map(|head| head.starts_with(&[0x1f, 0x8b]))
            .unwrap_or(false);
        let reader: Box<dyn Read> = if gzipped {
            Box::new(flate2::read::GzDecoder::new(body))
        } else {
            Box::new(body)
        };
        let mut archive = tar::Archive::new(reader);
        archive.set_preserve_permissions(true);
        archive.set_overwrite(true);
        // A context the CLI rewrote (a Dockerfile from stdin) may end
        // without tar's two zero blocks: the entries end at EOF all the same.
        archive.unpack(dir.path()).map_err(|e| {
            ApiError::bad_request(format!("the build context is not a valid tar: {e}"))
        })?;
        Ok(dir)
    }
    // ANCHOR_END: receive_context

    // ANCHOR: build
    /// Builds the Dockerfile in `context`; `progress` gets each line as the
    /// build goes (steps, their output, the result).
    pub fn build(
        &self,
        context: &Path,
        query: &BuildQuery,
        progress: &mut dyn FnMut(&str),
    ) -> anyhow::Result<Image> {
        // Inside the context, whatever `..` or links the name holds.
        let dockerfile = images::securejoin::resolve_in_root(context, &query.dockerfile)?;
        let text = std::fs::read_to_string(&dockerfile).with_context(|| {
            format!(
                "Cannot locate specified Dockerfile: {} (name it with -f, relative to the context)",
                query.dockerfile
            )
        })?;
        let options = BuildOptions {
            tag: query.tags.first().cloned(),
            build_args: query.build_args.clone(),
            no_cache: query.no_cache,
            target: query.target.clone(),
            labels: query.labels.clone(),
        };
        let runner = RunInContainer {
            daemon: self,
            query,
        };
        let image = images::build::build(&self.store, context, &text, &options, &runner, progress)?;
        for tag in query.tags.iter().skip(1) {
            self.store.tag(&image, tag)?;
            progress(&format!("Successfully tagged {}", tag.familiar()));
        }
        Ok(image)
    }
    // ANCHOR_END: build
}

/// Chapter 02's RUN, run by the engine's runtime.
struct RunInContainer<'a> {
    daemon: &'a Daemon,
    query: &'a BuildQuery,
}

impl RunStep for RunInContainer<'_> {
    // ANCHOR: run_step
    fn run(&self, request: &RunRequest, output: &mut dyn Write) -> anyhow::Result<i32> {
        let id = api::names::random_id().context("making an ID for the RUN step")?;
        writeln!(output, " ---> Running in {}", &id[..12])?;
        let bundle = self.daemon.store.temp_dir()?;
        let user = super::spec::resolve_user(request.rootfs, &request.user)
            .with_context(|| format!("USER {}", request.user))?;
        // Build args are environment for RUN, after ENV of the same name.
        let mut env = request.env.clone();
        for (name, value) in &request.build_args {
            if !env.iter().any(|e| e.split('=').next() == Some(name)) {
                env.push(format!("{name}={value}"));
            }
        }
        let spec_request = SpecRequest {
            args: request.argv.clone(),
            env: env.clone(),
            cwd: Some(request.working_dir.as_str())
                .filter(|w| !w.is_empty())
                .unwrap_or("/")
                .to_string(),
            user: user.user,
            hostname: Some(id[..12].to_string()),
            terminal: false,
            rootfs: request.rootfs.display().to_string(),
            cgroups_path: Some(format!("{CGROUP_PARENT}/build-{id}")),
            ..SpecRequest::default()
        };
        let spec = super::spec::build(&spec_request, self.query.host_network)?;
        images::atomic::write_file(
            &bundle.path().join("config.json"),
            &serde_json::to_vec_pretty(&spec).context("config.json")?,
        )?;
        let started = SystemTime::now();
        // The output goes to the build's stream and, for `docker logs` of
        // a container kept, to a json-file log.
        let log_path = bundle.path().join("json.log");
        let mut output = Tee {
            output,
            log: JsonFileLog::open(&log_path, 0, 1)?,
            lines: LineSplitter::default(),
        };
        let code = run_foreground(self.daemon, bundle.path(), &id, &mut output)?;
        output.finish()?;
        let query = self.query;
        if !query.force_remove && (code != 0 || !query.remove) {
            let kept = Kept {
                id: &id,
                env,
                code,
                started,
                log: &log_path,
            };
            self.keep(request, kept)
                .context("keeping the RUN step's container")?;
        } else if code == 0 {
            writeln!(
                output.output,
                "Removing intermediate container {}",
                &id[..12]
            )?;
        }
        Ok(code)
    }
    // ANCHOR_END: run_step
}

/// A RUN step's container that stays after the build, as `docker ps -a`
/// shows it.
struct Kept<'a> {
    id: &'a str,
    env: Vec<String>,
    code: i32,
    started: SystemTime,
    log: &'a Path,
}

impl RunInContainer<'_> {
    // ANCHOR: keep
    /// Makes a finished RUN step a container of the engine's, as Docker
    /// leaves a failed step's (or, with `--rm=false`, every step's): its
    /// image is the state the step started from (an intermediate image),
    /// its root is the step's own snapshot with what the command wrote,
    /// its log the command's output. `docker start` runs the command again.
    fn keep(&self, request: &RunRequest, kept: Kept) -> anyhow::Result<()> {
        let daemon = self.daemon;
        let image = daemon
            .store
            .add_image(request.config, request.layers, None)?;
        let network = if self.query.host_network {
            "host"
        } else {
            "none"
        };
        let create = ContainerCreateRequest {
            config: ContainerConfig {
                image: image.id.to_string(),
                cmd: Some(request.argv.clone()),
                entrypoint: Some(Vec::new()),
                env: Some(kept.env),
                working_dir: request.working_dir.clone(),
                user: request.user.clone(),
                ..ContainerConfig::default()
            },
            host_config: HostConfig {
                network_mode: network.to_string(),
                ..HostConfig::default()
            },
            networking_config: None,
        };
        let container = daemon
            .create_as(kept.id, None, create, Some(request.rootfs))
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let log = super::start::log_path(&container);
        std::fs::rename(kept.log, &log)
            .with_context(|| format!("moving the log to {}", log.display()))?;
        let now = api::timefmt::rfc3339_nanos(SystemTime::now());
        container.update(|record| {
            record.state.status = "exited".into();
            record.state.exit_code = kept.code.into();
            record.state.started_at = Some(api::timefmt::rfc3339_nanos(kept.started));
            record.state.finished_at = Some(now);
        })
    }
    // ANCHOR_END: keep
}

/// The RUN's output, passed on as it comes and logged a line at a time.
struct Tee<'a> {
    output: &'a mut dyn Write,
    log: JsonFileLog,
    lines: LineSplitter,
}

impl Write for Tee<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for line in self.lines.push(bytes) {
            self.log.write("stdout", &line, SystemTime::now());
        }
        self.output.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.output.flush()
    }
}

impl Tee<'_> {
    /// Logs a last line that had no newline, and ends it in the build's
    /// output, so what the engine says next starts a line of its own.
    fn finish(&mut self) -> std::io::Result<()> {
        if let Some(rest) = self.lines.finish() {
            self.log.write("stdout", &rest, SystemTime::now());
            self.output.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// `RUNTIME run`: create, start, wait and delete in one, the process's
/// stdout and stderr into one pipe, copied to `output` as they come.
fn run_foreground(
    daemon: &Daemon,
    bundle: &Path,
    id: &str,
    output: &mut dyn Write,
) -> anyhow::Result<i32> {
    let name = &daemon.config.default_runtime;
    let runtime = daemon.config.runtime(name)?;
    let (read_end, write_end) = nix::unistd::pipe().context("pipe(2) for the RUN step's output")?;
    let mut child = Command::new(runtime)
        .arg("--root")
        .arg(daemon.config.runtime_root(name))
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(write_end.try_clone()?)
        .stderr(write_end)
        .spawn()
        .with_context(|| format!("running {}", runtime.display()))?;
    // Ours closed (moved into the child): EOF when the container's last
    // process has gone.
    let mut read_end = std::fs::File::from(read_end);
    std::io::copy(&mut read_end, output).context("reading the RUN step's output")?;
    let status = child.wait().context("waiting for the runtime")?;
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => Ok(code),
        (None, Some(signal)) => Ok(128 + signal),
        _ => bail!("the runtime ended without a status"),
    }
}
