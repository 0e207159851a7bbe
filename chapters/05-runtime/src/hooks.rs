//! OCI hooks: programs the runtime runs at fixed points of a container's
//! life, each given the container's state as JSON on its stdin.
//!
//! ```text
//!  hook             run by              where                 when
//!  prestart         minirunc create     runtime namespaces    mounts made, before pivot_root
//!  createRuntime    minirunc create     runtime namespaces    same point, after prestart
//!  createContainer  the container init  container namespaces  same point, host paths
//!  startContainer   the container init  inside the container  after start, before execve
//!  poststart        minirunc start      runtime namespaces    after the process started
//!  poststop         minirunc delete     runtime namespaces    after the container is gone
//! ```
//!
//! prestart is deprecated by the spec but dockerd still uses it: its
//! `libnetwork-setkey` hook wires up the container's network. A failing
//! hook before the start fails `create` and the container is removed; a
//! failing poststart or poststop hook is only a warning (the spec's rules).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::spec::Hook;
use crate::state::OciState;

// ANCHOR: run_hooks
/// Runs `hooks` in order, each with `state` on stdin; the first failure
/// ends the list.
pub fn run(stage: &str, hooks: &[Hook], state: &OciState) -> anyhow::Result<()> {
    let json = serde_json::to_vec(state).context("the state for the hooks")?;
    for (number, hook) in hooks.iter().enumerate() {
        run_one(hook, &json).with_context(|| format!("{stage} hook #{number} ({})", hook.path))?;
    }
    Ok(())
}

/// [`run`] for the hooks whose failure is only worth a warning.
pub fn run_and_warn(stage: &str, hooks: &[Hook], state: &OciState) {
    if let Err(e) = run(stage, hooks, state) {
        eprintln!("minirunc: warning: {e:#}");
    }
}

fn run_one(hook: &Hook, state: &[u8]) -> anyhow::Result<()> {
    // Its output is kept to explain a failure: in a memory file rather than
    // a pipe, which a chatty hook could fill while we wait for it to exit.
    let output = memory_file(c"hook-output")?;
    let mut command = Command::new(&hook.path);
    // args[0] is argv[0], as with execv(3); env is the whole environment.
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in &hook.env {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        command.env(key, value);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(output.try_clone()?)
        .stderr(output.try_clone()?)
        .spawn()
        .with_context(|| format!("starting {}", hook.path))?;
    // The state is a few hundred bytes, well within a pipe's buffer: the
    // write does not wait for the hook. A hook that does not read it is fine.
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(state) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(e).context("writing the state to the hook's stdin");
            }
            _ => {}
        }
    }
    let status = match hook.timeout {
        None => child.wait()?,
        Some(seconds) => {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("timed out after {seconds} s, and was killed");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    if !status.success() {
        let mut said = String::new();
        let mut output = output;
        output.rewind()?;
        output.take(4096).read_to_string(&mut said)?;
        let said = said.trim();
        if said.is_empty() {
            bail!("{status}");
        }
        bail!("{status}: {said}");
    }
    Ok(())
}
// ANCHOR_END: run_hooks

/// An anonymous file in memory (memfd_create(2)), named `name` in
/// /proc/PID/fd: gone when closed.
pub(crate) fn memory_file(name: &std::ffi::CStr) -> anyhow::Result<File> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .context("memfd_create")?;
    Ok(File::from(fd))
}
