//! `POST /containers/{id}/start`, and the monitor that sees the container
//! exit. The daemon writes config.json, starts one `minishim`, which
//! creates the container with the runtime and waits; the attaches that
//! came first are connected; then the shim starts the process. A thread
//! per container waits on the shim and records the exit. (moby:
//! `daemon/start.go`, `daemon/monitor.go`.)

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use anyhow::Context;
use api::ApiError;
use runtime::shim::ShimStatus;
use runtime::shim::client::ShimClient;

use super::container::{Container, State, parse_time};
use super::explain::describe_spec;
use super::spec::{self, Placement};
use super::{Daemon, netns};

/// How a start ended.
pub enum Started {
    Now,
    AlreadyRunning,
}

/// The cgroup parent of every container of this daemon: `/minidocker/ID`,
/// as Docker's `/docker/ID`.
pub const CGROUP_PARENT: &str = "/minidocker";

impl Daemon {
    pub fn shim_client(&self, id: &str) -> ShimClient {
        ShimClient::new(&self.config.shim_root(), id)
    }

    /// A user's start (`docker start`, `restart`): a new restart loop,
    /// its count back to 0, as dockerd's `containerStart` with
    /// `resetRestartManager`.
    pub fn start(self: &Arc<Self>, container: &Arc<Container>) -> Result<Started, ApiError> {
        if !container.state().has_process() {
            container.restarts.reset();
            container.update(|r| {
                r.restart_count = 0;
                r.manually_stopped = false;
            })?;
        }
        self.start_run(container, false)
    }

    /// The restart policy's start: the loop and its count go on.
    pub fn start_again(self: &Arc<Self>, container: &Arc<Container>) -> Result<(), ApiError> {
        self.start_run(container, true).map(|_| ())
    }

    // ANCHOR: start
    /// Starts a container. With `--rm` (AutoRemove) a container that fails
    /// to start is removed too, or `docker run --rm badcmd` would wait for
    /// ever on `condition=removed`.
    fn start_run(
        self: &Arc<Self>,
        container: &Arc<Container>,
        by_policy: bool,
    ) -> Result<Started, ApiError> {
        let operation = container
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // A stop or kill came while the policy's start waited for the lock.
        if by_policy && container.restarts.cancelled() {
            return Err(ApiError::conflict(
                "the restart was cancelled by a stop or kill",
            ));
        }
        if container.is_removed() {
            return Err(ApiError::not_found(format!(
                "No such container: {}",
                container.id
            )));
        }
        if container.state().has_process() {
            return Ok(Started::AlreadyRunning);
        }
        // Written down first: a daemon that dies from here on leaves a
        // record that says a start was under way (see `restore`).
        container.update(|r| r.state.starting = true)?;
        let result = self.start_shim(container);
        drop(operation);
        if let Err(error) = &result {
            container.end_pending_attaches();
            let auto_remove = container.record().host_config.auto_remove;
            let _ = container.update(|r| {
                r.state.starting = false;
                r.state.error = error.message.clone();
                r.state.exit_code = api::exit_code::for_start_error(&error.message) as i64;
            });
            if auto_remove {
                let _ = self.remove(container, true);
            }
        }
        result.map(|()| Started::Now)
    }
    // ANCHOR_END: start

    fn start_shim(self: &Arc<Self>, container: &Arc<Container>) -> Result<(), ApiError> {
        let record = container.snapshot();
        let id = &container.id;
        // A run's trace is its own: a container started again starts anew.
        if let Some(trace) = &container.trace {
            if record.state.started_at.is_some() {
                trace.clear();
            }
        }
        let began = api::trace::now();
        // ANCHOR: start_spec
        // The namespace first (none with --network host): the runtime joins it.
        let host_network = record.host_config.network_mode == "host";
        let netns_path = netns::path_for(&self.config.exec_root, id);
        if !host_network && !netns_path.exists() {
            if record.host_config.network_mode != "none" {
                self.network_notice.call_once(|| {
                    eprintln!(
                        "minidockerd: containers on the default network get only a loopback \
                         interface until chapter 07 (network) brings the bridge"
                    )
                });
            }
            netns::create(&netns_path)?;
            container.step(began, NETNS_PAGE, || {
                format!("netns {}", netns_path.display())
            });
        }
        let began = api::trace::now();
        let place = Placement {
            bundle: &container.dir,
            netns: (!host_network).then_some(netns_path.as_path()),
            init: self.config.init.as_deref(),
            cgroup_parent: CGROUP_PARENT,
        };
        let bad = |e: anyhow::Error| ApiError::bad_request(format!("{e:#}"));
        let request =
            spec::request(id, &record.config, &record.host_config, &place).map_err(bad)?;
        let mut config_json = spec::build(&request, host_network).map_err(bad)?;
        spec::set_console_size(&mut config_json, &record.host_config);
        images::atomic::write_file(
            &container.dir.join("config.json"),
            &serde_json::to_vec_pretty(&config_json).context("config.json")?,
        )?;
        container.step(began, "ch05-runtime.md#the-bundle", || {
            describe_spec(&config_json)
        });
        // ANCHOR_END: start_spec

        // A shim of an earlier run left its status file: this run's shim
        // starts from an empty directory.
        let shim_dir = runtime::shim::shim_dir(&self.config.shim_root(), id);
        match fs::remove_dir_all(&shim_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ApiError::internal(format!(
                    "removing {}: {e}",
                    shim_dir.display()
                )));
            }
            _ => {}
        }
        let runtime = self.config.runtime(&record.runtime)?;
        let mut shim = Command::new(&self.config.shim);
        shim.arg("--bundle")
            .arg(&container.dir)
            .arg("--id")
            .arg(id)
            .arg("--exec-root")
            .arg(self.config.shim_root())
            .arg("--runtime")
            .arg(runtime)
            .arg("--runtime-root")
            .arg(self.config.runtime_root(&record.runtime))
            .arg("--log-file")
            .arg(log_path(container));
        let rotation = spec::log_rotation(&record.host_config)?;
        if let Some(bytes) = rotation.max_size {
            shim.arg("--log-max-size").arg(bytes.to_string());
        }
        if let Some(files) = rotation.max_files {
            shim.arg("--log-max-files").arg(files.to_string());
        }
        if record.config.tty {
            shim.arg("--tty");
        }
        if record.config.open_stdin {
            shim.arg("--stdin");
        }
        // The shim, and the runtime it runs, add their steps to the trace.
        if container.trace.is_some() {
            shim.env(
                api::trace::TRACE_ENV,
                container.dir.join(super::explain::TRACE_FILE),
            );
        }
        let began = api::trace::now();
        self.debug(format!("starting {shim:?}"));
        // ANCHOR: start_shim_spawn
        // The shim's first process exits once the container is created (or
        // not): its output is the socket's path, or the runtime's error.
        let output = shim
            .output()
            .with_context(|| format!("running {}", self.config.shim.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = stderr.trim().trim_start_matches("minishim: ");
            return Err(ApiError::bad_request(format!(
                "failed to create task for container: {message}"
            )));
        }
        // ANCHOR_END: start_shim_spawn
        container.step(began, runtime::shim::MINISHIM_PAGE, || {
            "runs minishim: its first process returns once the container is created".into()
        });
        super::faults::point("start:shim-spawned");

        // ANCHOR: start_attach_then_start
        let shim = self.shim_client(id);
        let began = api::trace::now();
        // Attaches that came before the process get its first byte.
        let pending: Vec<_> = container
            .pending_attaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        let attaches = pending.len();
        for attach in pending {
            let stdin_once = record.config.stdin_once;
            match shim.attach(attach.stdin, attach.stdout, attach.stderr, stdin_once) {
                Ok(attached) => {
                    let _ = attach.deliver.send(attached);
                }
                Err(e) => eprintln!("minidockerd: attaching to {id}: {e:#}"),
            }
        }
        container.step(began, "engine.md#attach", || {
            format!("attach streams joined: {attaches}")
        });
        let began = api::trace::now();
        shim.start().context("starting the container's process")?;
        container.step(began, START_PAGE, || {
            "asks the shim to start the process".into()
        });
        super::faults::point("start:process-started");
        let status = shim.status().context("asking the shim for the status")?;
        self.adopt(container, &status)?;
        self.container_event(&container.snapshot(), "start", &[]);
        Ok(())
        // ANCHOR_END: start_attach_then_start
    }

    /// Records a run the shim has started (now, or before a crash), and
    /// watches it.
    fn adopt(
        self: &Arc<Self>,
        container: &Arc<Container>,
        status: &ShimStatus,
    ) -> anyhow::Result<()> {
        let exits_before = container.exits();
        container.update(|r| {
            // Each run starts `starting`, with the last results kept.
            let health = super::health::check_of(&r.config).map(|_| super::health::Health {
                status: "starting".into(),
                failing_streak: 0,
                log: r.state.health.take().map(|h| h.log).unwrap_or_default(),
            });
            r.state = State {
                status: "running".into(),
                pid: status.pid as i64,
                exit_code: 0,
                oom_killed: false,
                error: String::new(),
                started_at: status.started_at.clone(),
                finished_at: r.state.finished_at.clone(),
                starting: false,
                removing: false,
                health,
            };
        })?;
        container.moment("engine.md#the-monitor", || {
            format!(
                "running: pid {} on the host, in container.json; a thread waits on the shim",
                status.pid
            )
        });
        self.monitor(container, exits_before, status.shim_pid);
        self.watch_health(container);
        Ok(())
    }

    // ANCHOR: monitor
    /// Waits, on a thread of its own, for the container to exit, then
    /// records how; with `--rm`, removes it.
    fn monitor(self: &Arc<Self>, container: &Arc<Container>, exits_before: u64, shim_pid: i32) {
        let (daemon, container) = (Arc::clone(self), Arc::clone(container));
        // Traced, the run ends when the shim is gone: its pidfd says when.
        // Opened now, while the shim answers, so the PID is still its own.
        let shim = container
            .trace
            .as_ref()
            .and_then(|_| namespaces::pidfd::PidFd::open(shim_pid).ok());
        std::thread::spawn(move || {
            let status = daemon.shim_client(&container.id).wait();
            if container.exits() != exits_before {
                return; // recorded already (a restore found it first)
            }
            match status {
                Ok(status) => {
                    if let Some(shim) = shim {
                        let began = api::trace::now();
                        let gone = shim.wait_exit(std::time::Duration::from_secs(10));
                        container.step(began, runtime::shim::MINISHIM_PAGE, || match gone {
                            Ok(true) => {
                                format!("the shim answered the wait; pid {shim_pid} exited")
                            }
                            _ => "the shim answered the wait, and still runs".into(),
                        });
                    }
                    daemon.record_exit(&container, &status);
                }
                Err(e) => daemon.end_orphan(&container, &format!("{e:#}")),
            }
        });
    }
    // ANCHOR_END: monitor

    // ANCHOR: end_orphan
    /// A running container whose shim died (killed, crashed): nobody holds
    /// its output or will collect its status any more. The runtime ends it
    /// and removes its cgroup (`delete --force`), as containerd does after
    /// a dead shim; it is recorded as killed.
    pub fn end_orphan(self: &Arc<Self>, container: &Arc<Container>, why: &str) {
        eprintln!(
            "minidockerd: the shim of container {} is gone while it ran: ending the container \
             (runtime delete --force)",
            container.id
        );
        self.debug(format!("{}: {why}", container.id));
        if let Err(e) = self.runtime_command(container, &["delete", "--force", &container.id]) {
            eprintln!("minidockerd: {e:#}");
        }
        let status = ShimStatus {
            exit_code: Some(137),
            signal: Some("SIGKILL".into()),
            finished_at: Some(api::timefmt::rfc3339_nanos(std::time::SystemTime::now())),
            ..ShimStatus::default()
        };
        let _ = container
            .update(|r| r.state.error = "its shim died while it ran: the runtime ended it".into());
        self.record_exit(container, &status);
    }
    // ANCHOR_END: end_orphan

    // ANCHOR: record_exit
    fn record_exit(self: &Arc<Self>, container: &Arc<Container>, status: &ShimStatus) {
        // Once per run: the monitor and a restore, or a stop that found
        // the shim gone, may both get here.
        if !container.state().has_process() {
            return;
        }
        container.health.stop();
        let exit_code = status.exit_code.unwrap_or(-1) as i64;
        let restart = self.restart_delay(container, exit_code, status.finished_at.as_deref());
        let began = api::trace::now();
        let result = container.update(|r| {
            r.state.status = if restart.is_some() {
                "restarting"
            } else {
                "exited"
            }
            .into();
            r.restart_count += restart.is_some() as i64;
            r.state.pid = 0;
            r.state.exit_code = exit_code;
            r.state.oom_killed = status.oom_killed;
            r.state.finished_at = status.finished_at.clone();
        });
        if let Err(e) = result {
            eprintln!("minidockerd: recording the exit of {}: {e:#}", container.id);
        }
        container.exit_recorded(began, status.oom_killed);
        let record = container.snapshot();
        if status.oom_killed {
            self.container_event(&record, "oom", &[]);
        }
        self.container_event(&record, "die", &[("exitCode", exit_code.to_string())]);
        container.note_exit();
        if let Some(delay) = restart {
            return self.restart_later(container, delay);
        }
        if container.record().host_config.auto_remove {
            if let Err(e) = self.remove(container, true) {
                eprintln!(
                    "minidockerd: removing {} (--rm): {}",
                    container.id, e.message
                );
            }
        }
        self.log_trace(&container.id);
    }
    // ANCHOR_END: record_exit

    // ANCHOR: restore
    /// A container found at daemon start: one that ran has either exited
    /// meanwhile (its shim's status file says how), runs on under its
    /// shim (watched again), or lost its shim too (ended).
    pub fn restore(self: &Arc<Self>, container: &Arc<Container>) {
        let state = container.state();
        if state.starting {
            return self.finish_start(container);
        }
        if state.status() == api::containers::Status::Restarting {
            // The last daemon died between two runs: exited, and
            // `restart_at_boot` decides.
            let _ = container.update(|r| r.state.status = "exited".into());
            return;
        }
        if !state.is_running() {
            return;
        }
        let shim = self.shim_client(&container.id);
        match shim.status() {
            Ok(status) if status.status != "exited" => {
                self.monitor(container, container.exits(), status.shim_pid);
                self.watch_health(container);
            }
            Ok(status) => self.record_exit(container, &status),
            Err(e) => self.end_orphan(container, &format!("{e:#}")),
        }
    }
    // ANCHOR_END: restore

    // ANCHOR: finish_start
    /// A start the previous daemon did not finish. Its shim tells how far
    /// it got: none, or a container created and not started, is undone
    /// (the runtime deletes it; the container stays `created`); a process
    /// that runs, or ran, is adopted as if the start had ended normally.
    fn finish_start(self: &Arc<Self>, container: &Arc<Container>) {
        let shim = self.shim_client(&container.id);
        match shim.status().or_else(|_| shim.saved_status()) {
            Ok(status) if status.status == "running" || status.status == "exited" => {
                if let Err(e) = self.adopt(container, &status) {
                    eprintln!("minidockerd: {}: {e:#}", container.id);
                }
            }
            _ => {
                eprintln!(
                    "minidockerd: container {} was being started when the daemon stopped: undoing it",
                    container.id
                );
                let _ = self.runtime_command(container, &["delete", "--force", &container.id]);
                // Its shim sees the container go, writes that down and
                // exits: only then is its directory ours to remove.
                let _ = shim.wait();
                let shim_dir = runtime::shim::shim_dir(&self.config.shim_root(), &container.id);
                let _ = fs::remove_dir_all(shim_dir);
                let _ = container.update(|r| r.state.starting = false);
            }
        }
    }
    // ANCHOR_END: finish_start
}

/// The container's json-file log, kept with its record (a restart appends).
pub fn log_path(container: &Container) -> PathBuf {
    container.dir.join(format!("{}-json.log", container.id))
}

/// When the container started and ended, for `docker ps`'s STATUS.
pub fn times(state: &State) -> (Option<std::time::SystemTime>, Option<std::time::SystemTime>) {
    (
        parse_time(state.started_at.as_deref()),
        parse_time(state.finished_at.as_deref()),
    )
}

/// The book's page on what `create` and `start` each leave done.
const START_PAGE: &str = "ch05-runtime.md#create-and-start-what-waits-where";

/// The book's page on the container's network namespace (a bind mount of
/// its nsfs file keeps it while nothing runs in it).
const NETNS_PAGE: &str = "engine.md#start-namespace-configjson-shim";
