//! Stop, kill, remove, and what the runtime does for a running container
//! (pause, unpause, update, top). Signals go through the shim, which holds
//! the container's init; the rest is the runtime's command line, as
//! containerd's shim runs runc. (moby: `daemon/stop.go`, `kill.go`,
//! `delete.go`, `pause.go`, `update.go`, `top_unix.go`.)

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use api::ApiError;
use api::containers::{Status, WaitCondition};
use nix::sys::signal::Signal;

use super::container::Container;
use super::{Daemon, spec};

/// Docker's grace period before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Daemon {
    /// Sends `signal` to the container's init. 409 when nothing runs.
    pub fn kill(
        self: &Arc<Self>,
        container: &Arc<Container>,
        signal: Signal,
    ) -> Result<(), ApiError> {
        // Any kill ends a restart loop, as dockerd's `ExitOnNext`; between
        // two runs there is no process to signal. (No operation lock here:
        // `rm -f` holds it while it kills.)
        if container.state().status() == Status::Restarting {
            self.cancel_restarts(container);
            self.end_restarting(container);
            return Ok(());
        }
        if !container.state().is_running() {
            return Err(ApiError::conflict(format!(
                "cannot kill container: {}: container {} is not running",
                container.name(),
                container.id
            )));
        }
        let shim = self.shim_client(&container.id);
        self.cancel_restarts(container);
        let signal_number = (signal as i32).to_string();
        self.container_event(&container.snapshot(), "kill", &[("signal", signal_number)]);
        match shim.signal(signal as i32) {
            Ok(()) => Ok(()),
            // It exited between the check and the signal (the monitor may
            // not have written it down yet: the shim's status file has).
            Err(_) if shim.saved_status().is_ok_and(|s| s.status == "exited") => {
                Err(ApiError::conflict(format!(
                    "cannot kill container: {}: container {} is not running",
                    container.name(),
                    container.id
                )))
            }
            // Its shim is gone while it ran: ended by the runtime instead.
            Err(e) => {
                self.end_orphan(container, &format!("{e:#}"));
                Ok(())
            }
        }
    }

    // ANCHOR: stop
    /// `docker stop`: the stop signal (the request's, the container's, or
    /// SIGTERM), up to `timeout` seconds (-1: for ever) to exit, then
    /// SIGKILL. Returns false when it was not running (304).
    pub fn stop(
        self: &Arc<Self>,
        container: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<bool, ApiError> {
        if !container.state().is_running() {
            return Ok(false);
        }
        // No restart after this exit (and none between two runs).
        self.note_stopped_by_hand(container);
        let record = container.snapshot();
        if !record.state.has_process() {
            return Ok(true);
        }
        // ANCHOR: stop_grace
        let signal = signal
            .filter(|s| !s.is_empty())
            .or(record
                .config
                .stop_signal
                .as_deref()
                .filter(|s| !s.is_empty()))
            .map(api::signal::parse)
            .transpose()
            .map_err(ApiError::bad_request)?
            .unwrap_or(Signal::SIGTERM);
        let seconds = timeout
            .or(record.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        if record.state.status() == Status::Paused {
            // A frozen process cannot take a signal: thaw it first.
            let _ = self.runtime_command(container, &["resume", &container.id]);
        }
        let exits = container.exits();
        let _ = self.kill(container, signal);
        let grace = (seconds >= 0).then(|| Duration::from_secs(seconds as u64));
        if container
            .wait(WaitCondition::NextExit, exits, grace)
            .is_none()
        {
            self.kill_and_wait(container, exits)?;
        }
        self.container_event(&container.snapshot(), "stop", &[]);
        Ok(true)
        // ANCHOR_END: stop_grace
    }
    // ANCHOR_END: stop

    /// `docker rm`: 409 for a running container unless `force` (then
    /// SIGKILL first). Everything goes: snapshot, namespace, shim
    /// directory, record; `wait?condition=removed` waiters wake.
    // ANCHOR: remove
    pub fn remove(
        self: &Arc<Self>,
        container: &Arc<Container>,
        force: bool,
    ) -> Result<(), ApiError> {
        let _operation = container
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if container.is_removed() {
            return Ok(());
        }
        if container.state().is_running() {
            if !force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container \
                     before removing or force remove",
                    container.name()
                )));
            }
            let exits = container.exits();
            match container.state().status() {
                // The operation lock is ours already.
                Status::Restarting => {
                    self.cancel_restarts(container);
                    self.end_restarting(container);
                }
                Status::Paused => {
                    let _ = self.runtime_command(container, &["resume", &container.id]);
                    self.kill_and_wait(container, exits)?;
                }
                _ => self.kill_and_wait(container, exits)?,
            }
        }
        // Written down first: a daemon that dies from here on leaves a
        // record that says to finish the removal (see `Daemon::open`).
        container.update(|r| r.state.removing = true)?;
        super::faults::point("remove:marked");
        self.table().remove(&container.id);
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, exec| exec.container_id != container.id);
        self.remove_files(&container.id, &container.dir, Some(container));
        self.collect_layers_of_removed_image(&container.record().image_id);
        self.container_event(&container.snapshot(), "destroy", &[]);
        container.note_removed();
        Ok(())
    }
    // ANCHOR_END: remove

    /// SIGKILL, and the wait for the exit it causes; the wait only when
    /// the signal reached the container (nothing else would end it).
    fn kill_and_wait(
        self: &Arc<Self>,
        container: &Arc<Container>,
        exits: u64,
    ) -> Result<(), ApiError> {
        match self.kill(container, Signal::SIGKILL) {
            Ok(()) => {
                container.wait(WaitCondition::NextExit, exits, None);
                Ok(())
            }
            Err(e) if e.status == 409 => Ok(()), // it exited meanwhile
            Err(e) => Err(e),
        }
    }

    /// The last container of an image that `rmi -f` removed held its
    /// layers: they go with it.
    fn collect_layers_of_removed_image(&self, image_id: &str) {
        if self.store.resolve(image_id).is_err() {
            if let Err(e) = self.store.collect_unused_layers() {
                eprintln!("minidockerd: removing the layers of {image_id}: {e:#}");
            }
        }
    }

    // ANCHOR: shutdown
    /// The daemon is stopping: every running container gets its stop
    /// signal, all at once, each with its own timeout.
    pub fn shutdown(self: &Arc<Self>) {
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let running: Vec<_> = self
            .containers()
            .into_iter()
            .filter(|c| c.state().is_running())
            .collect();
        std::thread::scope(|scope| {
            for container in &running {
                scope.spawn(move || {
                    if let Err(e) = self.stop(container, None, None) {
                        eprintln!("minidockerd: stopping {}: {}", container.id, e.message);
                    }
                });
            }
        });
    }
    // ANCHOR_END: shutdown

    pub fn pause(&self, container: &Container, pause: bool) -> Result<(), ApiError> {
        let state = container.state();
        if !state.has_process() {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                container.id
            )));
        }
        let paused = state.status() == Status::Paused;
        if paused == pause {
            return Err(ApiError::conflict(format!(
                "Container {} is {}",
                container.id,
                if paused {
                    "already paused"
                } else {
                    "not paused"
                }
            )));
        }
        let verb = if pause { "pause" } else { "resume" };
        self.runtime_command(container, &[verb, &container.id])?;
        container.update(|r| {
            r.state.status = if pause { "paused" } else { "running" }.into();
        })?;
        let action = if pause { "pause" } else { "unpause" };
        self.container_event(&container.snapshot(), action, &[]);
        Ok(())
    }

    /// `docker update`: checks the new HostConfig as create would, and
    /// gives a running container's cgroup its new limits — the runtime's
    /// `update --resources FILE`, config.json's `linux.resources` (what
    /// containerd's shim hands runc).
    pub fn update_resources(
        &self,
        container: &Container,
        host_config: &api::types::HostConfig,
    ) -> Result<(), ApiError> {
        let record = container.snapshot();
        let options = spec::RunOptions::of(host_config)?;
        spec::validate(&record.config, &options)?;
        spec::resources(&options).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        if !record.state.has_process() {
            return Ok(()); // the next start builds its spec from the new HostConfig
        }
        let place = spec::Placement {
            bundle: &container.dir,
            netns: None,
            init: self.config.init.as_deref(),
            cgroup_parent: super::start::CGROUP_PARENT,
        };
        let request = spec::request(&container.id, &record.config, host_config, &place)
            .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        let built =
            spec::build(&request, true).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        let mut resources = serde_json::to_value(built.linux.and_then(|l| l.resources))
            .context("encoding the resources")?;
        // The device rules stay as the container started with them.
        if let Some(fields) = resources.as_object_mut() {
            fields.remove("devices");
        }
        let file = container.dir.join("resources.json");
        images::atomic::write_file(&file, &serde_json::to_vec(&resources).context("resources")?)?;
        let file = file.to_string_lossy();
        self.runtime_command(container, &["update", "--resources", &file, &container.id])
            .map_err(|e| {
                ApiError::bad_request(format!("Cannot update container {}: {e:#}", container.id))
            })?;
        Ok(())
    }

    /// The runtime's command line for this container's runtime and root.
    pub fn runtime_command(&self, container: &Container, args: &[&str]) -> anyhow::Result<String> {
        let name = container.record().runtime.clone();
        let binary = self.config.runtime(&name)?;
        let output = Command::new(binary)
            .arg("--root")
            .arg(self.config.runtime_root(&name))
            .args(args)
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        if !output.status.success() {
            bail!(
                "{name} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `docker top`: the host's `ps` (with the client's options), narrowed
    /// to the container's processes, which the runtime lists.
    pub fn top(
        &self,
        container: &Container,
        ps_args: &str,
    ) -> Result<(Vec<String>, Vec<Vec<String>>), ApiError> {
        if !container.state().has_process() {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                container.id
            )));
        }
        let listed = self.runtime_command(container, &["ps", "--format", "json", &container.id])?;
        let pids: Vec<i64> = serde_json::from_str(&listed)
            .context("the runtime's `ps --format json` is not a list of PIDs")?;
        let args: Vec<&str> = ps_args.split_whitespace().collect();
        let output = Command::new("ps")
            .args(if args.is_empty() { vec!["-ef"] } else { args })
            .output()
            .context("running ps")?;
        if !output.status.success() {
            return Err(ApiError::internal(format!(
                "ps {ps_args}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let pid_column = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| ApiError::bad_request("Couldn't find PID field in ps output"))?;
        let processes = lines
            .map(|line| {
                // The last column (the command) may hold spaces.
                let mut fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
                if fields.len() > titles.len() && !titles.is_empty() {
                    let command = fields.split_off(titles.len() - 1).join(" ");
                    fields.push(command);
                }
                fields
            })
            .filter(|fields| {
                fields
                    .get(pid_column)
                    .and_then(|p| p.trim().parse::<i64>().ok())
                    .is_some_and(|pid| pids.contains(&pid))
            })
            .collect();
        Ok((titles, processes))
    }
}
