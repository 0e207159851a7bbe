//! The propagation trap, shown safely.
//!
//! A new mount namespace starts as a copy of its parent's mount table, and a
//! copy of a *shared* mount joins the original's peer group: whatever is
//! mounted below it on one side appears on the other. systemd makes `/`
//! shared on most distributions, so a runtime that forgot MS_PRIVATE would
//! leak every container mount (its /proc, its /dev) onto the host.
//!
//! Here every mount is already private, so the demonstration builds its own
//! host: a throw-away mount namespace where `/` is made shared, and a
//! "container" namespace cloned from it. The real host never sees a thing.

use std::path::Path;

use anyhow::Context;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// What happened to a mount made inside the "container".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It appeared in the "host" namespace too.
    Leaked,
    /// It stayed inside.
    Contained,
}

const LEAKED: i32 = 10;
const CONTAINED: i32 = 11;

// ANCHOR: demonstrate
/// Mounts a tmpfs on `mount_point` inside a "container" namespace whose
/// parent "host" namespace has a shared `/`, with or without making `/`
/// private first, and reports whether the "host" saw the mount.
/// Forks: call it from a single-threaded process.
pub fn demonstrate(mount_point: &Path, make_private: bool) -> anyhow::Result<Outcome> {
    // SAFETY: single-threaded caller (see above); the children only make
    // system calls and exit.
    let code = match unsafe { fork() }.context("fork")? {
        ForkResult::Child => std::process::exit(fake_host(mount_point, make_private)),
        ForkResult::Parent { child } => exit_code(child)?,
    };
    match code {
        LEAKED => Ok(Outcome::Leaked),
        CONTAINED => Ok(Outcome::Contained),
        other => anyhow::bail!("the demonstration failed (exit code {other}): see the lines above"),
    }
}

/// The throw-away "host": its own mount namespace, `/` shared like systemd
/// leaves it.
fn fake_host(mount_point: &Path, make_private: bool) -> i32 {
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    let result = nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .context("unshare(CLONE_NEWNS)")
        .and_then(|()| {
            nix::mount::mount(None::<&str>, "/", None::<&str>, shared, None::<&str>)
                .context("mount --make-rshared /")
        });
    if let Err(e) = result {
        eprintln!("propagation demo: {e:#}");
        return 1;
    }
    // SAFETY: this process is single-threaded (a fork of one).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => std::process::exit(container(mount_point, make_private)),
        Ok(ForkResult::Parent { child }) => exit_code(child).unwrap_or(1),
        Err(e) => {
            eprintln!("propagation demo: fork: {e}");
            1
        }
    }
}

/// The "container": a mount namespace cloned from the "host", a tmpfs
/// mounted, and a look at the host's mount table from here.
fn container(mount_point: &Path, make_private: bool) -> i32 {
    let run = || -> anyhow::Result<i32> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
        if make_private {
            let private = MsFlags::MS_PRIVATE | MsFlags::MS_REC;
            nix::mount::mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
                .context("mount --make-rprivate /")?;
        }
        nix::mount::mount(
            Some("ch03-demo"),
            mount_point,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .with_context(|| format!("mounting a tmpfs on {}", mount_point.display()))?;
        // The parent's mount table, read while this namespace still exists.
        let host = format!("/proc/{}/mountinfo", nix::unistd::getppid());
        let table = std::fs::read_to_string(&host).with_context(|| format!("reading {host}"))?;
        Ok(if has_mount(&table, mount_point) {
            LEAKED
        } else {
            CONTAINED
        })
    };
    run().unwrap_or_else(|e| {
        eprintln!("propagation demo: {e:#}");
        1
    })
}
// ANCHOR_END: demonstrate

/// Whether a /proc/PID/mountinfo text has a mount on `point` (field 5).
pub fn has_mount(mountinfo: &str, point: &Path) -> bool {
    let point = point.to_string_lossy();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(point.as_ref()))
}

fn exit_code(child: nix::unistd::Pid) -> anyhow::Result<i32> {
    loop {
        match waitpid(child, None).context("waitpid")? {
            WaitStatus::Exited(_, code) => return Ok(code),
            WaitStatus::Signaled(_, signal, _) => {
                return Ok(api::signal::exit_status_for(signal as i32) as i32);
            }
            _ => continue,
        }
    }
}
