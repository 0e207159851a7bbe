//! cgroup v2: one tree, controllers switched on level by level.
//!
//! A controller works in a cgroup only if its parent lists it in
//! `cgroup.subtree_control`, and (the "no internal processes" rule) a cgroup
//! that hands controllers down may not hold processes itself: writing
//! subtree_control of a cgroup with processes fails with EBUSY. So the
//! container's cgroup `/minidocker/<id>` sits under a `minidocker` that only
//! ever holds cgroups. (runc: libcontainer/cgroups/fs2.)

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::unistd::Pid;

use crate::resources::{Resources, shares_to_weight};
use crate::stats::{Stats, key_values, v2_io};
use crate::v1::{read_pids, remove_dir, wait_until};
use crate::{CgroupManager, bpf, keyed, read_u64, write};

/// The controllers a container's limits need.
const CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids"];

pub struct V2Manager {
    root: PathBuf,
    path: String,
    dir: PathBuf,
    made: bool,
}

impl V2Manager {
    pub fn new(root: PathBuf, path: &str) -> V2Manager {
        let dir = root.join(path.trim_start_matches('/'));
        V2Manager {
            root,
            path: path.to_string(),
            dir,
            made: false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    // ANCHOR: v2_create
    fn create_and_limit(&mut self, r: &Resources) -> anyhow::Result<()> {
        let parent = self
            .dir
            .parent()
            .context("a cgroup path has a parent")?
            .to_path_buf();
        // Hand the controllers down: root → minidocker → the container.
        let available =
            fs::read_to_string(self.root.join("cgroup.controllers")).unwrap_or_default();
        let wanted: Vec<&str> = CONTROLLERS
            .iter()
            .copied()
            .filter(|c| available.split_whitespace().any(|a| a == *c))
            .collect();
        if !parent.is_dir() {
            fs::create_dir(&parent).with_context(|| format!("mkdir {}", parent.display()))?;
        }
        for level in [&self.root, &parent] {
            enable_controllers(level, &wanted)?;
        }
        if self.dir.exists() {
            bail!("cgroup {} exists already", self.dir.display());
        }
        fs::create_dir(&self.dir).with_context(|| format!("mkdir {}", self.dir.display()))?;
        self.made = true;
        self.apply(r, &wanted)
    }

    /// Writes the limits `r` sets into the cgroup's files, for the
    /// `available` controllers: at creation, and again for `docker update`.
    fn apply(&self, r: &Resources, available: &[&str]) -> anyhow::Result<()> {
        let dir = &self.dir;
        let need = |controller: &str| -> anyhow::Result<()> {
            if available.contains(&controller) {
                Ok(())
            } else {
                bail!(
                    "the {controller} controller is not available in {}",
                    self.root.display()
                )
            }
        };
        if let Some(memory) = r.memory {
            need("memory")?;
            write(&dir.join("memory.max"), &memory.to_string())?;
            // v2 limits swap on its own, not memory+swap: the difference.
            let swap = match r.memory_swap {
                Some(-1) => "max".to_string(),
                Some(total) => (total as u64 - memory).to_string(),
                None => memory.to_string(), // Docker's default: as much swap again
            };
            if dir.join("memory.swap.max").exists() {
                write(&dir.join("memory.swap.max"), &swap)?;
            } else if r.memory_swap.is_some_and(|swap| swap != -1) {
                bail!("--memory-swap: this kernel has no swap controller (memory.swap.max)");
            }
        }
        if let Some(reservation) = r.memory_reservation {
            need("memory")?;
            write(&dir.join("memory.low"), &reservation.to_string())?;
        }
        if let (Some(quota), Some(period)) = (r.cpu_quota, r.cpu_period) {
            need("cpu")?;
            write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(shares) = r.cpu_shares {
            need("cpu")?;
            write(
                &dir.join("cpu.weight"),
                &shares_to_weight(shares).to_string(),
            )?;
        }
        if let Some(cpus) = &r.cpuset_cpus {
            need("cpuset")?;
            write(&dir.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = &r.cpuset_mems {
            need("cpuset")?;
            write(&dir.join("cpuset.mems"), mems)?;
        }
        if let Some(pids) = r.pids_limit {
            need("pids")?;
            write(&dir.join("pids.max"), &pids.to_string())?;
        }
        if !r.devices.is_empty() {
            bpf::attach(dir, &r.devices)?;
        }
        Ok(())
    }
    // ANCHOR_END: v2_create
}

// ANCHOR: enable_controllers
/// Adds `wanted` to `dir`'s cgroup.subtree_control, those not there yet.
fn enable_controllers(dir: &Path, wanted: &[&str]) -> anyhow::Result<()> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&file).unwrap_or_default();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    match fs::write(&file, missing.join(" ")) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => bail!(
            "writing {} to {}: EBUSY — the cgroup holds processes, and v2 forbids a cgroup \
             with processes to hand controllers down (the \"no internal processes\" rule)",
            missing.join(" "),
            file.display()
        ),
        Err(e) => {
            Err(e).with_context(|| format!("writing {} to {}", missing.join(" "), file.display()))
        }
    }
}
// ANCHOR_END: enable_controllers

impl CgroupManager for V2Manager {
    fn path(&self) -> &str {
        &self.path
    }

    fn create(&mut self, resources: &Resources) -> anyhow::Result<()> {
        resources.validate()?;
        let result = self.create_and_limit(resources);
        if result.is_err() && std::mem::take(&mut self.made) {
            // A half-made cgroup is removed: a failed start leaves nothing.
            let _ = remove_dir(&self.dir);
        }
        result
    }

    fn add_process(&self, pid: Pid) -> anyhow::Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    // ANCHOR: v2_stats
    fn stats(&self) -> anyhow::Result<Stats> {
        let dir = &self.dir;
        let optional = |file: &str| read_u64(&dir.join(file)).ok();
        let text = |file: &str| fs::read_to_string(dir.join(file)).unwrap_or_default();
        let cpu = text("cpu.stat");
        let events = text("memory.events");
        let pids_events = text("pids.events");
        // io.stat lists only the devices this cgroup did I/O on.
        let (io_bytes, io_ops) = v2_io(&text("io.stat"));
        // cpu.stat is always there (the core's accounting), in microseconds.
        let usec = |key: &str| keyed(&cpu, key).unwrap_or(0) * 1000;
        Ok(Stats {
            memory_usage: optional("memory.current").unwrap_or(0),
            // memory.peak: Linux 5.19 and later.
            memory_peak: optional("memory.peak").unwrap_or(0),
            memory_limit: optional("memory.max").unwrap_or(u64::MAX),
            memory_stat: key_values(&text("memory.stat")),
            cpu_usage_ns: usec("usage_usec"),
            cpu_user_ns: usec("user_usec"),
            cpu_system_ns: usec("system_usec"),
            cpu_percpu_ns: Vec::new(),
            cpu_nr_periods: keyed(&cpu, "nr_periods").unwrap_or(0),
            cpu_nr_throttled: keyed(&cpu, "nr_throttled").unwrap_or(0),
            cpu_throttled_ns: usec("throttled_usec"),
            pids_current: optional("pids.current").unwrap_or(0),
            pids_limit: optional("pids.max").unwrap_or(u64::MAX),
            pids_limit_hits: keyed(&pids_events, "max").unwrap_or(0),
            oom_kills: keyed(&events, "oom_kill").unwrap_or(0),
            io_bytes,
            io_ops,
        })
    }
    // ANCHOR_END: v2_stats

    fn freeze(&self) -> anyhow::Result<()> {
        set_frozen(&self.dir, true)
    }

    fn thaw(&self) -> anyhow::Result<()> {
        set_frozen(&self.dir, false)
    }

    fn update(&mut self, resources: &Resources) -> anyhow::Result<()> {
        resources.validate()?;
        if !resources.devices.is_empty() {
            bail!("device rules are set when a container is created, not updated");
        }
        // What the parent handed down is what this cgroup's files control.
        let path = self.dir.join("cgroup.controllers");
        let available =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        self.apply(resources, &available.split_whitespace().collect::<Vec<_>>())
    }

    fn frozen(&self) -> anyhow::Result<bool> {
        let path = self.dir.join("cgroup.freeze");
        let state =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(state.trim() == "1")
    }

    // ANCHOR: v2_kill_all
    fn kill_all(&self) -> anyhow::Result<()> {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() {
            // Linux 5.14: the kernel kills every task, forks included.
            write(&kill, "1")?;
        } else {
            for pid in read_pids(&self.dir.join("cgroup.procs"))? {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let procs = self.dir.join("cgroup.procs");
        wait_until(&format!("{} empty", procs.display()), || {
            Ok(read_pids(&procs)?.is_empty())
        })
    }
    // ANCHOR_END: v2_kill_all

    fn pids(&self) -> anyhow::Result<Vec<Pid>> {
        read_pids(&self.dir.join("cgroup.procs"))
    }

    fn destroy(&mut self) -> anyhow::Result<()> {
        self.made = false;
        remove_dir(&self.dir)
    }
}

// ANCHOR: set_frozen
fn set_frozen(dir: &Path, frozen: bool) -> anyhow::Result<()> {
    write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    // cgroup.events says "frozen 1" once every task has stopped.
    let events = dir.join("cgroup.events");
    wait_until(
        &format!("{} frozen {}", events.display(), frozen as u8),
        || Ok(keyed(&fs::read_to_string(&events)?, "frozen") == Some(frozen as u64)),
    )
}
// ANCHOR_END: set_frozen

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cgroup2 tree: plain files where the kernel would have its own.
    fn fixture() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.path().join("cgroup.subtree_control"), "memory\n").unwrap();
        root
    }

    #[test]
    fn limits_are_written_to_v2_files() {
        let root = fixture();
        let mut manager = V2Manager::new(root.path().into(), "/minidocker/c1");
        // A real cgroupfs makes these on mkdir; the fixture has the parent's.
        let resources = Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpu_shares: Some(1024),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(100),
            ..Default::default()
        };
        manager.create(&resources).unwrap();
        let read = |file: &str| fs::read_to_string(root.path().join(file)).unwrap();
        // Controllers handed down at both levels, without repeating memory.
        assert_eq!(read("cgroup.subtree_control"), "+cpu +cpuset +pids");
        assert_eq!(
            read("minidocker/cgroup.subtree_control"),
            "+cpu +cpuset +memory +pids"
        );
        assert_eq!(read("minidocker/c1/memory.max"), "67108864");
        assert_eq!(read("minidocker/c1/memory.low"), "33554432");
        assert_eq!(read("minidocker/c1/cpu.max"), "50000 100000");
        assert_eq!(read("minidocker/c1/cpu.weight"), "39");
        assert_eq!(read("minidocker/c1/cpuset.cpus"), "0");
        assert_eq!(read("minidocker/c1/pids.max"), "100");
        // No memory.swap.max in the fixture: --memory alone does not need it.
        assert!(!root.path().join("minidocker/c1/memory.swap.max").exists());
    }

    #[test]
    fn stats_come_from_v2_files() {
        let root = fixture();
        let manager = V2Manager::new(root.path().into(), "/minidocker/c2");
        let dir = root.path().join("minidocker/c2");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("memory.current"), "1048576\n").unwrap();
        fs::write(dir.join("memory.peak"), "2097152\n").unwrap();
        fs::write(dir.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 2000\n").unwrap();
        fs::write(dir.join("pids.current"), "3\n").unwrap();
        fs::write(dir.join("pids.events"), "max 12\n").unwrap();
        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
        )
        .unwrap();
        fs::write(dir.join("memory.max"), "max\n").unwrap();
        fs::write(dir.join("memory.stat"), "anon 4096\ninactive_file 8192\n").unwrap();
        fs::write(dir.join("pids.max"), "64\n").unwrap();
        fs::write(
            dir.join("io.stat"),
            "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
        )
        .unwrap();
        let stats = manager.stats().unwrap();
        let io = |op: &str, value| crate::stats::IoEntry {
            major: 8,
            minor: 0,
            op: op.into(),
            value,
        };
        assert_eq!(
            stats,
            Stats {
                memory_usage: 1 << 20,
                memory_peak: 2 << 20,
                memory_limit: u64::MAX,
                memory_stat: [("anon".into(), 4096), ("inactive_file".into(), 8192)].into(),
                cpu_usage_ns: 1_500_000,
                cpu_user_ns: 1_000_000,
                cpu_system_ns: 500_000,
                cpu_percpu_ns: vec![],
                cpu_nr_periods: 10,
                cpu_nr_throttled: 4,
                cpu_throttled_ns: 2_000_000,
                pids_current: 3,
                pids_limit: 64,
                pids_limit_hits: 12,
                oom_kills: 1,
                io_bytes: vec![io("read", 512), io("write", 1024)],
                io_ops: vec![io("read", 1), io("write", 2)],
            }
        );
    }

    #[test]
    fn missing_controllers_and_existing_cgroups_are_errors_that_leave_nothing() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), "memory\n").unwrap();
        let mut manager = V2Manager::new(root.path().into(), "/minidocker/c3");
        let err = manager
            .create(&Resources {
                pids_limit: Some(5),
                ..Default::default()
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the pids controller is not available"),
            "{err}"
        );
        assert!(
            !root.path().join("minidocker/c3").exists(),
            "the half-made cgroup is removed"
        );
        fs::create_dir_all(root.path().join("minidocker/c3")).unwrap();
        let err = manager.create(&Resources::default()).unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        assert!(
            root.path().join("minidocker/c3").exists(),
            "someone else's cgroup stays"
        );
    }
}
