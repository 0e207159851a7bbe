//! The parts of config.json's `process` that chapter 03 does not do: where
//! the terminal goes, its size, the AppArmor profile and the seccomp filter.
//! `create`, `run` and `exec` share them.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, bail};
use namespaces::container::SetupSteps;

use crate::spec::{ConsoleSize, Process, Spec};
use crate::{apparmor, seccomp};

// ANCHOR: console
/// Where the pty master of a process with a terminal goes: to the
/// `--console-socket` the caller listens on (containerd's shim does), or,
/// for a process we wait for in the foreground, to us over a socketpair,
/// to relay it to our own stdin and stdout as `runc run` does. Returns our
/// end and the container's.
pub fn console(
    socket: Option<&Path>,
    terminal: bool,
    foreground: bool,
) -> anyhow::Result<(Option<UnixStream>, Option<UnixStream>)> {
    Ok(match (socket, terminal) {
        (Some(path), true) => {
            (
                None,
                Some(UnixStream::connect(path).with_context(|| {
                    format!("connecting to the console socket {}", path.display())
                })?),
            )
        }
        (None, true) if foreground => {
            let (ours, theirs) = UnixStream::pair().context("socketpair for the console")?;
            (Some(ours), Some(theirs))
        }
        (None, true) => {
            bail!("cannot allocate tty if minirunc will detach without setting console socket")
        }
        (Some(_), false) => bail!("--console-socket is for a process with a terminal"),
        (None, false) => (None, None),
    })
}

/// Receives the terminal's master and relays it until the process's side
/// closes.
pub fn relay_console(ours: UnixStream) -> anyhow::Result<()> {
    let master = namespaces::terminal::receive_master(ours.as_raw_fd())?;
    namespaces::terminal::relay(master)
}
// ANCHOR_END: console

// ANCHOR: process_steps
/// What the container process does for its `process` section that chapter
/// 03 does not: the terminal's size, the AppArmor profile, and the seccomp
/// filter (compiled by the runtime, loaded at the moment the docs of
/// [`crate::seccomp`] explain). `create` and `exec` both use it.
pub struct ProcessSteps {
    pub filter: Option<seccomp::Program>,
    pub no_new_privileges: bool,
    pub console_size: Option<ConsoleSize>,
    /// Only where AppArmor is enabled.
    pub apparmor_profile: Option<String>,
}

impl ProcessSteps {
    /// Compiles the config's seccomp profile, if it has one, for `process`
    /// (through the cache in `seccomp_cache`).
    pub fn new(
        spec: &Spec,
        process: &Process,
        seccomp_cache: &Path,
    ) -> anyhow::Result<ProcessSteps> {
        let profile = spec.linux.as_ref().and_then(|l| l.seccomp.as_ref());
        let mut apparmor_profile = process.apparmor_profile.clone().filter(|p| !p.is_empty());
        if let Some(name) = &apparmor_profile {
            if !apparmor::enabled() {
                crate::debug(&format!(
                    "AppArmor is not enabled on this host: apparmorProfile {name:?} ignored"
                ));
                apparmor_profile = None;
            }
        }
        Ok(ProcessSteps {
            filter: profile
                .map(|p| seccomp::program(p, seccomp_cache))
                .transpose()?,
            no_new_privileges: process.no_new_privileges,
            console_size: process.console_size.filter(|_| process.terminal),
            apparmor_profile,
        })
    }
}

impl SetupSteps for ProcessSteps {
    fn before_user_switch(&self) -> anyhow::Result<()> {
        if let Some(size) = self.console_size {
            // stdin is the pty's slave by now; either end takes the size.
            let winsize = libc::winsize {
                ws_row: size.height as u16,
                ws_col: size.width as u16,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ reads one struct winsize.
            if unsafe { libc::ioctl(0, libc::TIOCSWINSZ, &winsize) } < 0 {
                return Err(std::io::Error::last_os_error()).context("ioctl(TIOCSWINSZ)");
            }
        }
        if let Some(profile) = &self.apparmor_profile {
            apparmor::apply_on_exec(profile)?;
        }
        match &self.filter {
            Some(filter) if !self.no_new_privileges => seccomp::load(filter),
            _ => Ok(()),
        }
    }

    fn before_exec(&self) -> anyhow::Result<()> {
        match &self.filter {
            Some(filter) if self.no_new_privileges => seccomp::load(filter),
            _ => Ok(()),
        }
    }
}
// ANCHOR_END: process_steps

/// HOME, when the config's environment has none: the user's home in the
/// image's /etc/passwd, or `/`. dockerd leaves this to the runtime, and
/// runc does it.
pub fn ensure_home(env: &mut Vec<String>, rootfs: &Path, uid: u32) {
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return;
    }
    let home = namespaces::user::resolve(rootfs, &uid.to_string())
        .map_or_else(|_| "/".to_string(), |resolved| resolved.home);
    env.push(format!("HOME={home}"));
}
