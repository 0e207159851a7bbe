//! What a container used: the numbers `docker stats` shows.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Bytes of memory in use now, and the most ever in use.
    pub memory_usage: u64,
    pub memory_peak: u64,
    /// The memory limit in bytes; `u64::MAX` when there is none (v2's
    /// `max`; v1 says "none" with a huge page-aligned number instead).
    pub memory_limit: u64,
    /// memory.stat as the kernel wrote it. The keys differ by version: v1
    /// has `cache`, `rss`, `total_inactive_file`…, v2 `anon`, `file`,
    /// `inactive_file`….
    pub memory_stat: BTreeMap<String, u64>,
    /// CPU time, in nanoseconds: in all, in user mode, in the kernel.
    pub cpu_usage_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    /// CPU time per CPU, in nanoseconds (v1's cpuacct.usage_percpu; v2
    /// has no such file, so it stays empty there).
    pub cpu_percpu_ns: Vec<u64>,
    /// CFS periods that ran, those in which the quota ran out, and the time
    /// spent waiting.
    pub cpu_nr_periods: u64,
    pub cpu_nr_throttled: u64,
    pub cpu_throttled_ns: u64,
    /// Tasks now, the limit (`u64::MAX`: none), and how many forks the
    /// limit refused.
    pub pids_current: u64,
    pub pids_limit: u64,
    pub pids_limit_hits: u64,
    /// Processes the kernel's OOM killer killed in this cgroup.
    pub oom_kills: u64,
    /// Block I/O per device: bytes moved, and operations.
    pub io_bytes: Vec<IoEntry>,
    pub io_ops: Vec<IoEntry>,
}

/// One device's count for one kind of operation: v1 names them `Read`,
/// `Write`, `Sync`, `Async`, `Discard`, `Total`; v2's io.stat has only
/// reads and writes, named here `read` and `write` as Docker names them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// `key value` lines (memory.stat, cpuacct.stat) as a map; lines that are
/// not a key and a number are skipped.
pub fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// v1's blkio files: `MAJOR:MINOR Op value` lines, then a `Total value`
/// line for all devices, which is left out.
pub fn v1_io(text: &str) -> Vec<IoEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            Some(IoEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: fields.next()?.to_string(),
                value: fields.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// v2's io.stat: one line per device, `MAJOR:MINOR rbytes=… wbytes=…
/// rios=… wios=… dbytes=… dios=…`. Returns (bytes, operations), each as a
/// `read` and a `write` entry per device.
pub fn v2_io(text: &str) -> (Vec<IoEntry>, Vec<IoEntry>) {
    let (mut bytes, mut ops) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        let counts: BTreeMap<&str, u64> = fields
            .filter_map(|f| {
                let (k, v) = f.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        let entry = |op: &str, key: &str| IoEntry {
            major,
            minor,
            op: op.to_string(),
            value: counts.get(key).copied().unwrap_or(0),
        };
        bytes.extend([entry("read", "rbytes"), entry("write", "wbytes")]);
        ops.extend([entry("read", "rios"), entry("write", "wios")]);
    }
    (bytes, ops)
}

/// Clock ticks (USER_HZ) to nanoseconds: cpuacct.stat and /proc/stat count
/// in ticks of 1/sysconf(_SC_CLK_TCK) seconds.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    // SAFETY: sysconf only reads a constant of the C library.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    ticks.saturating_mul(1_000_000_000) / hz
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_files_of_both_versions() {
        let v1 = "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n";
        let entries = v1_io(v1);
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!((entries[1].op.as_str(), entries[1].value), ("Write", 8192));
        let (bytes, ops) = v2_io("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            bytes
                .iter()
                .map(|e| (e.op.as_str(), e.value))
                .collect::<Vec<_>>(),
            [("read", 4096), ("write", 8192)]
        );
        assert_eq!(ops[1].value, 2);
        let map = key_values("cache 10\nrss 20\nbogus\n");
        assert_eq!(map.get("rss"), Some(&20));
        assert_eq!(map.len(), 2);
    }
}
