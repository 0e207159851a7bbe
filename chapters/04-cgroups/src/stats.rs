//! What a container used: the numbers `docker stats` shows.

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Bytes of memory in use now, and the most ever in use.
    pub memory_usage: u64,
    pub memory_peak: u64,
    /// CPU time, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// CFS periods in which the quota ran out, and the time spent waiting.
    pub cpu_nr_throttled: u64,
    pub cpu_throttled_ns: u64,
    /// Tasks now, and how many forks the pids limit refused.
    pub pids_current: u64,
    pub pids_limit_hits: u64,
    /// Processes the kernel's OOM killer killed in this cgroup.
    pub oom_kills: u64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        writeln!(
            f,
            "memory:  {:.1} MiB now, {:.1} MiB peak",
            mib(self.memory_usage),
            mib(self.memory_peak)
        )?;
        writeln!(
            f,
            "cpu:     {:.3} s used, throttled {} times ({:.3} s)",
            self.cpu_usage_ns as f64 / 1e9,
            self.cpu_nr_throttled,
            self.cpu_throttled_ns as f64 / 1e9
        )?;
        writeln!(
            f,
            "pids:    {} now, {} forks refused by the limit",
            self.pids_current, self.pids_limit_hits
        )?;
        write!(f, "oom:     {} killed by the OOM killer", self.oom_kills)
    }
}
