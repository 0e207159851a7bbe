//! `minirunc exec`: one more process in a running container.
//!
//! Nothing new is created: the process is cloned into the container's PID
//! namespace, joins its other namespaces through `/proc/PID/ns/*` (setns(2)
//! into the mount namespace also puts it at the container's root), is
//! written into the container's cgroup before it may run, and then drops to
//! the container's user, capabilities and rlimits — chapter 03's setup with
//! every namespace given by path, so no mount is made.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use anyhow::{Context, bail};
use namespaces::container::{self, ContainerSpec, SpawnOptions};
use namespaces::namespace::{Namespace, NamespaceKind};
use namespaces::rootfs::RootfsPlan;

use crate::lifecycle::{load_spec, process_spec};
use crate::process::{ProcessSteps, console, relay_console};
use crate::spec::Process;
use crate::state::{StateDir, Status};

/// What `minirunc exec` was asked for.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// A process.json (config.json's `process` object) instead of ARGS.
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    /// KEY=VALUE, added to (or replacing in) the container's environment.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// `UID[:GID]`.
    pub user: Option<String>,
}

/// The process to run: the process file, or the container's own process
/// with the command and the options given.
fn process(container: Process, options: &ExecOptions) -> anyhow::Result<Process> {
    if let Some(path) = &options.process_file {
        let text = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a valid process.json", path.display()));
    }
    if options.args.is_empty() {
        bail!("exec needs a command: minirunc exec ID COMMAND [ARG...], or --process FILE");
    }
    let mut process = Process {
        args: options.args.clone(),
        terminal: options.tty,
        console_size: None,
        ..container
    };
    for entry in &options.env {
        let Some((key, _)) = entry.split_once('=') else {
            bail!("--env {entry:?}: use KEY=VALUE");
        };
        process
            .env
            .retain(|e| e.split_once('=').is_none_or(|(k, _)| k != key));
        process.env.push(entry.clone());
    }
    if let Some(cwd) = &options.cwd {
        process.cwd = cwd.clone();
    }
    if let Some(user) = &options.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let parse = |id: &str| {
            id.parse::<u32>()
                .map_err(|_| anyhow::anyhow!("--user {user:?}: use numeric UID[:GID]"))
        };
        process.user = namespaces::user::User {
            uid: parse(uid)?,
            gid: parse(gid)?,
            additional_gids: Vec::new(),
        };
    }
    Ok(process)
}

// ANCHOR: exec
/// Runs the process; its exit status (128 + signal if killed), or 0 at
/// once with `detach`.
pub fn exec(states: &StateDir, id: &str, options: &ExecOptions) -> anyhow::Result<i32> {
    let saved = states.load(id)?;
    match states.status(&saved) {
        Status::Stopped => bail!("cannot exec in a stopped container"),
        // Its cgroup is frozen, and the new process would join it.
        Status::Paused => bail!("cannot exec in a paused container: minirunc resume it first"),
        _ => {}
    }
    let spec = load_spec(&saved.bundle)?;
    let process = process(spec.process.clone().unwrap_or_default(), options)?;
    let steps = ProcessSteps::new(&spec, &process, &states.seccomp_cache())?;
    // Every namespace the container has, joined through its PID 1; the
    // user namespace first, since it owns the others.
    let mut kinds: Vec<NamespaceKind> = spec
        .linux
        .as_ref()
        .map(|l| l.namespaces.iter().map(|n| n.kind).collect())
        .unwrap_or_default();
    kinds.sort_by_key(|kind| *kind != NamespaceKind::User);
    let namespaces = kinds
        .into_iter()
        .map(|kind| Namespace {
            kind,
            path: Some(format!("/proc/{}/ns/{}", saved.pid, kind.proc_name()).into()),
        })
        .collect();
    let container_spec = ContainerSpec {
        namespaces,
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
        hostname: None,
        rootfs: RootfsPlan {
            rootfs: saved.rootfs.clone(),
            ..Default::default()
        },
        process: process_spec(process, &saved.rootfs),
    };
    let (console_ours, console_theirs) = console(
        options.console_socket.as_deref(),
        container_spec.process.terminal,
        !options.detach,
    )?;
    let spawn_options = SpawnOptions {
        parent_death_signal: None,
        exec_fifo: None,
        console_socket: console_theirs.as_ref().map(|s| s.as_raw_fd()),
        ..SpawnOptions::default()
    };
    // The container's seccomp profile applies to what runs in it.
    let mut process = container::spawn_with(&container_spec, &spawn_options, &steps)?;
    let pid = process.pid();
    // In the container's cgroup before it runs: its limits apply to this
    // process too, and `kill --all` reaches it.
    let joined = cgroups::manager_at(&saved.cgroup_path).and_then(|cgroup| cgroup.add_process(pid));
    // The pid file before the process runs: whoever sees its first output
    // can find it by its PID.
    let pid_written = joined.and_then(|()| match &options.pid_file {
        Some(pid_file) => images::atomic::write_file(pid_file, pid.to_string().as_bytes())
            .with_context(|| format!("writing the pid file {}", pid_file.display())),
        None => Ok(()),
    });
    if let Err(e) = pid_written.and_then(|()| process.start()) {
        process.kill();
        if let Some(pid_file) = &options.pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
        return Err(e);
    }
    drop(console_theirs);
    if options.detach {
        return Ok(0);
    }
    namespaces::sig_proxy::forward_signals(pid)?;
    if let Some(ours) = console_ours {
        if let Err(e) = relay_console(ours) {
            process.kill();
            return Err(e);
        }
    }
    process.wait()
}
// ANCHOR_END: exec
