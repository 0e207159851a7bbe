//! Chapter 04: cgroups — what a container may use, and what it used.
//!
//! Namespaces decide what a process can *see*; control groups decide how
//! much it can *use*: memory, CPU time, CPUs, tasks, devices. A cgroup is a
//! directory in a cgroup filesystem; a process joins it by writing its PID to
//! `cgroup.procs`, and every limit and counter is a file beside it.
//!
//! [`CgroupManager`] is what a runtime needs from them, with a v1 and a v2
//! implementation chosen at run time from what is mounted
//! ([`hierarchy::Hierarchy`]): runc's `cgroups/fs` and `cgroups/fs2`.

use nix::unistd::Pid;

pub mod bpf;
pub mod hierarchy;
pub mod resources;
pub mod stats;
pub mod v1;
pub mod v2;

use hierarchy::Hierarchy;
use resources::Resources;
use stats::Stats;

/// The parent of every cgroup the workshop makes (scripts/reset.sh knows it).
pub const PARENT: &str = "minidocker";

/// [`PARENT`], or MINIDOCKER_CGROUP_PARENT: the tests use a parent of their
/// own, and so does scripts/reset.sh when told the same.
pub fn parent() -> anyhow::Result<String> {
    let parent = std::env::var("MINIDOCKER_CGROUP_PARENT").unwrap_or_else(|_| PARENT.to_string());
    check_name(&parent)?;
    Ok(parent)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        anyhow::bail!("cgroup name {name:?}: one path component, please");
    }
    Ok(())
}

// ANCHOR: manager
/// One container's cgroup, on whichever cgroup version the machine has.
pub trait CgroupManager {
    /// The cgroup's path inside the hierarchy, e.g. `/minidocker/<id>`.
    fn path(&self) -> &str;
    /// Makes the cgroup and writes its limits. Nothing has joined it yet.
    fn create(&mut self, resources: &Resources) -> anyhow::Result<()>;
    /// Moves a process in. Its children are born inside.
    fn add_process(&self, pid: Pid) -> anyhow::Result<()>;
    /// Usage, peaks, throttling, task count, OOM kills.
    fn stats(&self) -> anyhow::Result<Stats>;
    /// Stops every task in the cgroup (they stay in memory, unscheduled).
    fn freeze(&self) -> anyhow::Result<()>;
    fn thaw(&self) -> anyhow::Result<()>;
    /// New limits for an existing cgroup (`docker update`); the device
    /// rules cannot change.
    fn update(&mut self, resources: &Resources) -> anyhow::Result<()>;
    /// Whether the cgroup is frozen (`docker pause`d).
    fn frozen(&self) -> anyhow::Result<bool>;
    /// SIGKILL to every task, until none is left.
    fn kill_all(&self) -> anyhow::Result<()>;
    /// The processes in the cgroup.
    fn pids(&self) -> anyhow::Result<Vec<Pid>>;
    /// Removes the cgroup at this path, if there is one (it must be empty:
    /// kill_all first). A manager made for an existing cgroup removes it too.
    fn destroy(&mut self) -> anyhow::Result<()>;
}
// ANCHOR_END: manager

// ANCHOR: choose
/// The manager for this machine's cgroups, for the cgroup `PARENT/name`.
pub fn manager(name: &str) -> anyhow::Result<Box<dyn CgroupManager>> {
    check_name(name)?;
    manager_at(&format!("/{}/{name}", parent()?))
}

/// The manager for the cgroup at `path` (from a hierarchy's root, as
/// config.json's `cgroupsPath`: `/PARENT/NAME`, exactly two levels — the
/// parent only ever holds cgroups, as v2's "no internal processes" wants).
pub fn manager_at(path: &str) -> anyhow::Result<Box<dyn CgroupManager>> {
    let parts: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    if !path.starts_with('/') || parts.len() != 2 {
        anyhow::bail!("cgroup path {path:?}: use /PARENT/NAME");
    }
    for part in &parts {
        check_name(part)?;
    }
    Ok(match Hierarchy::detect()? {
        Hierarchy::V1 { controllers, .. } => Box::new(v1::V1Manager::new(controllers, path)),
        Hierarchy::V2 { root } => Box::new(v2::V2Manager::new(root, path)),
    })
}
// ANCHOR_END: choose

/// Reads a cgroup file as a number (`max` is `u64::MAX`).
pub(crate) fn read_u64(path: &std::path::Path) -> anyhow::Result<u64> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = text.trim();
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse()
        .with_context(|| format!("{}: {text:?} is not a number", path.display()))
}

/// Writes one value to a cgroup file, naming the file and value on error.
pub(crate) fn write(path: &std::path::Path, value: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::write(path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control): one value.
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
