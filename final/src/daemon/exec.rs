//! `docker exec`: one more process in a running container. The daemon
//! keeps the exec's config (in memory, as dockerd does); at start it takes
//! the container's own process from config.json — capabilities, rlimits,
//! no_new_privileges stay the container's — puts the exec's command, env,
//! user and directory in, and asks the shim to run it with the runtime.
//! (moby: `daemon/exec.go`.)

use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use api::ApiError;
use api::stdcopy::{self, StreamType};
use serde::Deserialize;

use super::Daemon;
use super::attach::InputEnd;
use super::container::Container;

/// `POST /containers/{id}/exec`'s body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: String,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub cmd: Option<Vec<String>>,
    pub console_size: Option<[u32; 2]>,
}

#[derive(Clone, Debug, Default)]
pub struct ExecState {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    state: Mutex<ExecState>,
}

impl Exec {
    pub fn state(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Daemon {
    pub fn create_exec(
        &self,
        container: &Container,
        config: ExecConfig,
    ) -> Result<Arc<Exec>, ApiError> {
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(ApiError::bad_request("No exec command specified"));
        }
        for entry in config.env.iter().flatten() {
            if !entry.contains('=') {
                return Err(ApiError::bad_request(format!(
                    "invalid environment variable {entry:?}: use KEY=VALUE"
                )));
            }
        }
        self.check_running(container)?;
        let exec = Arc::new(Exec {
            id: api::names::random_id()?,
            container_id: container.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
        });
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(exec.id.clone(), Arc::clone(&exec));
        Ok(exec)
    }

    pub fn resolve_exec(&self, id: &str) -> Result<Arc<Exec>, ApiError> {
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    fn check_running(&self, container: &Container) -> Result<(), ApiError> {
        let state = container.state();
        if !state.has_process() {
            return Err(ApiError::conflict(format!(
                "container {} is not running",
                container.id
            )));
        }
        if state.status == "paused" {
            return Err(ApiError::conflict(format!(
                "container {} is paused, unpause the container before exec",
                container.id
            )));
        }
        Ok(())
    }

    // ANCHOR: start_exec
    /// Starts the exec in the shim; the returned connection carries its
    /// frames (stream 4 last, with the exit status).
    pub fn start_exec(&self, exec: &Exec) -> Result<BufReader<UnixStream>, ApiError> {
        let container = self.resolve(&exec.container_id)?;
        self.check_running(&container)?;
        {
            let mut state = exec.state();
            if state.running || state.exit_code.is_some() {
                return Err(ApiError::conflict(format!(
                    "exec {} has already started",
                    exec.id
                )));
            }
            state.running = true;
        }
        let process = self
            .exec_process(&container, &exec.config)
            .inspect_err(|_| {
                exec.state().running = false;
            })?;
        let stream = self
            .shim_client(&container.id)
            .exec(process, Some(&exec.id))
            .inspect_err(|_| exec.state().running = false)?;
        Ok(stream)
    }
    // ANCHOR_END: start_exec

    // ANCHOR: exec_process
    /// The container's process (config.json) with the exec's changes.
    fn exec_process(
        &self,
        container: &Container,
        config: &ExecConfig,
    ) -> Result<serde_json::Value, ApiError> {
        let path = container.dir.join("config.json");
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let spec: runtime::spec::Spec = serde_json::from_slice(&text)
            .with_context(|| format!("{} is corrupt", path.display()))?;
        let mut process = spec.process.context("config.json has no process")?;
        process.args = config.cmd.clone().unwrap_or_default();
        process.terminal = config.tty;
        process.console_size = config
            .console_size
            .filter(|s| s[0] > 0)
            .map(|[height, width]| runtime::spec::ConsoleSize { height, width });
        for entry in config.env.iter().flatten() {
            let key = entry.split('=').next().unwrap_or_default();
            process.env.retain(|e| e.split('=').next() != Some(key));
            process.env.push(entry.clone());
        }
        if !config.working_dir.is_empty() {
            process.cwd = config.working_dir.clone();
        }
        if !config.user.is_empty() {
            let resolved = namespaces::user::resolve(&container.dir.join("rootfs"), &config.user)
                .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
            process.user = resolved.user;
        }
        Ok(serde_json::to_value(&process).context("encoding the exec's process")?)
    }
    // ANCHOR_END: exec_process
}

// ANCHOR: relay_exec
/// Copies the exec's frames to the client (raw bytes for a terminal) and
/// the client's input to it; records the exit status from the last frame.
pub fn relay(exec: &Exec, stream: BufReader<UnixStream>, client: Option<api::http::Hijacked>) {
    let mut stream = stream;
    let mut writer = match client {
        Some(api::http::Hijacked { mut reader, writer }) => {
            if exec.config.attach_stdin {
                let keys = super::attach::detach_keys(Some(&exec.config.detach_keys))
                    .unwrap_or_else(|_| api::detach::DEFAULT.to_vec());
                if let (Ok(mut to_exec), Ok(client)) =
                    (stream.get_ref().try_clone(), writer.try_clone())
                {
                    std::thread::spawn(move || {
                        match super::attach::copy_input(&mut reader, &mut to_exec, keys) {
                            InputEnd::Closed => {
                                let _ = to_exec.shutdown(Shutdown::Write);
                            }
                            // The client goes; the exec runs on, and its
                            // status is still read below.
                            InputEnd::Detached => {
                                let _ = client.shutdown(Shutdown::Both);
                            }
                        }
                    });
                }
            } else {
                let _ = stream.get_ref().shutdown(Shutdown::Write);
            }
            Some(writer)
        }
        None => {
            let _ = stream.get_ref().shutdown(Shutdown::Write);
            None
        }
    };
    // ANCHOR: exec_frames
    let mut exit_code = None;
    loop {
        match stdcopy::read_frame_with_exit(&mut stream) {
            Ok(Some((StreamType::Exit, payload))) => {
                exit_code = String::from_utf8_lossy(&payload).trim().parse().ok();
                break;
            }
            Ok(Some((kind, payload))) => {
                let wanted = match kind {
                    StreamType::Stderr => exec.config.attach_stderr,
                    _ => exec.config.attach_stdout,
                };
                if let (Some(out), true) = (writer.as_mut(), wanted) {
                    let written = if exec.config.tty {
                        out.write_all(&payload).and_then(|()| out.flush())
                    } else {
                        stdcopy::write_frame(out, kind, &payload)
                    };
                    if written.is_err() {
                        writer = None; // the client left; the exec runs on
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    {
        let mut state = exec.state();
        state.running = false;
        // No status frame: the shim went away with the container.
        state.exit_code = Some(exit_code.unwrap_or(137));
    }
    // ANCHOR_END: exec_frames
    if let Some(out) = writer {
        let _ = out.shutdown(Shutdown::Both);
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}
// ANCHOR_END: relay_exec
