//! cgroup v1: one tree per controller, the same path in each.
//!
//! The container's cgroup is `/minidocker/<id>` in every tree: memory
//! limits are files in /sys/fs/cgroup/memory/minidocker/<id>, CPU ones in
//! /sys/fs/cgroup/cpu/minidocker/<id>, and the process joins each tree
//! separately. (runc: libcontainer/cgroups/fs.)

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::unistd::Pid;

use crate::resources::Resources;
use crate::stats::{Stats, key_values, ticks_to_ns, v1_io};
use crate::{CgroupManager, keyed, read_u64, write};

pub struct V1Manager {
    /// controller → its hierarchy's mount point.
    controllers: BTreeMap<String, PathBuf>,
    path: String,
    /// The directories `create` made, to remove them in `destroy`.
    made: Vec<PathBuf>,
}

impl V1Manager {
    pub fn new(controllers: BTreeMap<String, PathBuf>, path: &str) -> V1Manager {
        V1Manager {
            controllers,
            path: path.to_string(),
            made: Vec::new(),
        }
    }

    /// The cgroup's directory in `controller`'s tree, if it is mounted.
    pub fn dir(&self, controller: &str) -> Option<PathBuf> {
        Some(
            self.controllers
                .get(controller)?
                .join(self.path.trim_start_matches('/')),
        )
    }

    fn need(&self, controller: &str) -> anyhow::Result<PathBuf> {
        self.dir(controller).with_context(|| {
            format!("the v1 {controller} controller is not mounted (see /proc/self/mountinfo)")
        })
    }

    /// Each mounted tree once (cpu and cpuacct are often one mount).
    fn trees(&self) -> Vec<(String, PathBuf)> {
        let mut seen: Vec<PathBuf> = Vec::new();
        let mut trees = Vec::new();
        for (controller, mount) in &self.controllers {
            if !seen.contains(mount) {
                seen.push(mount.clone());
                trees.push((
                    controller.clone(),
                    mount.join(self.path.trim_start_matches('/')),
                ));
            }
        }
        trees
    }

    // ANCHOR: v1_create
    fn create_and_limit(&mut self, resources: &Resources) -> anyhow::Result<()> {
        for (controller, dir) in self.trees() {
            let parent = dir
                .parent()
                .context("a cgroup path has a parent")?
                .to_path_buf();
            for level in [&parent, &dir] {
                if level.is_dir() {
                    if *level == dir {
                        bail!("cgroup {} exists already", dir.display());
                    }
                    continue;
                }
                fs::create_dir(level).with_context(|| format!("mkdir {}", level.display()))?;
                if *level == dir {
                    self.made.push(dir.clone());
                }
                if controller == "cpuset" {
                    inherit_cpuset(level)?;
                }
            }
        }
        self.apply(resources)
    }

    /// Writes the limits `r` sets into the cgroup's files: at creation, and
    /// again for `docker update`.
    fn apply(&self, r: &Resources) -> anyhow::Result<()> {
        if let Some(memory) = r.memory {
            let dir = self.need("memory")?;
            let limit = dir.join("memory.limit_in_bytes");
            // memory+swap: Docker's default with --memory alone is as much
            // swap again. The file exists only with swap accounting on.
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            let swap = r.memory_swap.unwrap_or(2 * memory as i64);
            // The kernel keeps memory ≤ memory+swap at every write: a memory
            // limit above the current memory+swap one (an update that
            // raises both) must wait until that one is raised.
            let current_memsw = fs::read_to_string(&memsw)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            let memsw_first = current_memsw.is_some_and(|current| memory > current);
            if !memsw_first {
                write(&limit, &memory.to_string())?;
            }
            if memsw.exists() {
                write(&memsw, &swap.to_string())?;
            } else if r.memory_swap.is_some_and(|swap| swap != -1) {
                bail!(
                    "--memory-swap: swap accounting is off in this kernel (boot with swapaccount=1)"
                );
            }
            if memsw_first {
                write(&limit, &memory.to_string())?;
            }
        }
        if let Some(reservation) = r.memory_reservation {
            write(
                &self.need("memory")?.join("memory.soft_limit_in_bytes"),
                &reservation.to_string(),
            )?;
        }
        if let (Some(quota), Some(period)) = (r.cpu_quota, r.cpu_period) {
            let dir = self.need("cpu")?;
            write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
            write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        if let Some(shares) = r.cpu_shares {
            write(&self.need("cpu")?.join("cpu.shares"), &shares.to_string())?;
        }
        if let Some(cpus) = &r.cpuset_cpus {
            write(&self.need("cpuset")?.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = &r.cpuset_mems {
            write(&self.need("cpuset")?.join("cpuset.mems"), mems)?;
        }
        if let Some(pids) = r.pids_limit {
            write(&self.need("pids")?.join("pids.max"), &pids.to_string())?;
        }
        if !r.devices.is_empty() {
            // An exception list: "a" in devices.deny empties it, then each
            // rule adds (allow) or takes away (deny) access.
            let dir = self.need("devices")?;
            for rule in &r.devices {
                let file = if rule.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write(&dir.join(file), &rule.to_line())?;
            }
        }
        Ok(())
    }
    // ANCHOR_END: v1_create
}

// ANCHOR: inherit_cpuset
/// A new v1 cpuset cgroup has empty cpuset.cpus and cpuset.mems, and a
/// process cannot join it until both are set: copy the parent's.
fn inherit_cpuset(dir: &Path) -> anyhow::Result<()> {
    let parent = dir.parent().context("cpuset cgroup without a parent")?;
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = fs::read_to_string(dir.join(file)).unwrap_or_default();
        if mine.trim().is_empty() {
            let theirs = fs::read_to_string(parent.join(file))
                .with_context(|| format!("reading {}", parent.join(file).display()))?;
            write(&dir.join(file), theirs.trim())?;
        }
    }
    Ok(())
}
// ANCHOR_END: inherit_cpuset

impl CgroupManager for V1Manager {
    fn path(&self) -> &str {
        &self.path
    }

    fn create(&mut self, resources: &Resources) -> anyhow::Result<()> {
        resources.validate()?;
        let result = self.create_and_limit(resources);
        if result.is_err() {
            // A half-made cgroup is removed: a failed start leaves nothing.
            for dir in std::mem::take(&mut self.made) {
                let _ = remove_dir(&dir);
            }
        }
        result
    }

    fn add_process(&self, pid: Pid) -> anyhow::Result<()> {
        for (_, dir) in self.trees() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn stats(&self) -> anyhow::Result<Stats> {
        let mut stats = Stats::default();
        let optional = |dir: &Path, file: &str| fs::read_to_string(dir.join(file)).ok();
        if let Some(dir) = self.dir("memory") {
            stats.memory_usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
            stats.memory_peak = read_u64(&dir.join("memory.max_usage_in_bytes"))?;
            stats.memory_limit = read_u64(&dir.join("memory.limit_in_bytes"))?;
            stats.memory_stat = key_values(&optional(&dir, "memory.stat").unwrap_or_default());
            let oom = optional(&dir, "memory.oom_control").unwrap_or_default();
            stats.oom_kills = keyed(&oom, "oom_kill").unwrap_or(0);
        }
        if let Some(dir) = self.dir("cpuacct") {
            stats.cpu_usage_ns = read_u64(&dir.join("cpuacct.usage"))?;
            // cpuacct.stat counts in clock ticks, usage_percpu in ns.
            let modes = key_values(&optional(&dir, "cpuacct.stat").unwrap_or_default());
            stats.cpu_user_ns = ticks_to_ns(modes.get("user").copied().unwrap_or(0));
            stats.cpu_system_ns = ticks_to_ns(modes.get("system").copied().unwrap_or(0));
            let percpu = optional(&dir, "cpuacct.usage_percpu").unwrap_or_default();
            stats.cpu_percpu_ns = percpu
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
        }
        if let Some(dir) = self.dir("cpu") {
            let text = optional(&dir, "cpu.stat").unwrap_or_default();
            stats.cpu_nr_periods = keyed(&text, "nr_periods").unwrap_or(0);
            stats.cpu_nr_throttled = keyed(&text, "nr_throttled").unwrap_or(0);
            stats.cpu_throttled_ns = keyed(&text, "throttled_time").unwrap_or(0);
        }
        if let Some(dir) = self.dir("pids") {
            stats.pids_current = read_u64(&dir.join("pids.current"))?;
            stats.pids_limit = read_u64(&dir.join("pids.max")).unwrap_or(u64::MAX);
            let events = optional(&dir, "pids.events").unwrap_or_default();
            stats.pids_limit_hits = keyed(&events, "max").unwrap_or(0);
        }
        if let Some(dir) = self.dir("blkio") {
            // The CFQ/BFQ scheduler's files, when the disk uses one; else the
            // throttle layer's, which count every bio (as runc does).
            let io = |file: &str| {
                let entries = v1_io(&optional(&dir, &format!("blkio.{file}")).unwrap_or_default());
                if entries.is_empty() {
                    v1_io(&optional(&dir, &format!("blkio.throttle.{file}")).unwrap_or_default())
                } else {
                    entries
                }
            };
            stats.io_bytes = io("io_service_bytes_recursive");
            stats.io_ops = io("io_serviced_recursive");
        }
        Ok(stats)
    }

    fn freeze(&self) -> anyhow::Result<()> {
        set_freezer(&self.need("freezer")?, "FROZEN")
    }

    fn thaw(&self) -> anyhow::Result<()> {
        set_freezer(&self.need("freezer")?, "THAWED")
    }

    fn update(&mut self, resources: &Resources) -> anyhow::Result<()> {
        resources.validate()?;
        if !resources.devices.is_empty() {
            bail!("device rules are set when a container is created, not updated");
        }
        self.apply(resources)
    }

    fn frozen(&self) -> anyhow::Result<bool> {
        let path = self.need("freezer")?.join("freezer.state");
        let state =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        // FREEZING counts: the kernel is on its way there.
        Ok(state.trim() != "THAWED")
    }

    // ANCHOR: v1_kill_all
    fn kill_all(&self) -> anyhow::Result<()> {
        // Frozen, nobody can fork a new task between the listing and the
        // kill; thawed, the SIGKILLs are delivered.
        let procs = self
            .need("pids")
            .or_else(|_| self.need("memory"))?
            .join("cgroup.procs");
        let frozen = self.freeze().is_ok();
        for pid in read_pids(&procs)? {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        if frozen {
            self.thaw()?;
        }
        wait_until(&format!("{} empty", procs.display()), || {
            Ok(read_pids(&procs)?.is_empty())
        })
    }
    // ANCHOR_END: v1_kill_all

    fn pids(&self) -> anyhow::Result<Vec<Pid>> {
        let dir = self.need("pids").or_else(|_| self.need("memory"))?;
        read_pids(&dir.join("cgroup.procs"))
    }

    fn destroy(&mut self) -> anyhow::Result<()> {
        self.made.clear();
        // Every tree is tried, whatever one says: a failure leaves only
        // what failed. The first error is the one reported.
        let mut result = Ok(());
        for (_, dir) in self.trees() {
            let removed = remove_dir(&dir);
            if result.is_ok() {
                result = removed;
            }
        }
        result
    }
}

fn set_freezer(dir: &Path, state: &str) -> anyhow::Result<()> {
    let file = dir.join("freezer.state");
    write(&file, state)?;
    // FREEZING until every task has stopped.
    wait_until(&format!("{} {state}", file.display()), || {
        Ok(fs::read_to_string(&file)?.trim() == state)
    })
}

/// The PIDs in a cgroup.procs file.
pub(crate) fn read_pids(procs: &Path) -> anyhow::Result<Vec<Pid>> {
    let text = fs::read_to_string(procs).with_context(|| format!("reading {}", procs.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(Pid::from_raw)
        .collect())
}

/// Polls `done` for up to 5 s: the kernel finishes some cgroup work
/// (freezing, exiting tasks) asynchronously.
pub(crate) fn wait_until(
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done()? {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// rmdir, retried while the last tasks are still leaving (EBUSY). Never
/// `rm -r`: in cgroupfs only rmdir removes a cgroup.
pub(crate) fn remove_dir(dir: &Path) -> anyhow::Result<()> {
    let mut result = Ok(());
    wait_until(
        &format!("rmdir {}", dir.display()),
        || match fs::remove_dir(dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
            Err(e) => {
                result = Err(e).with_context(|| format!("rmdir {}", dir.display()));
                Ok(true)
            }
        },
    )?;
    result
}
