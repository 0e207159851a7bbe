//! `docker stats`: what a container's cgroup counted, as the Engine API's
//! `ContainerStats` object (moby: `daemon/stats.go`, `daemon/stats_unix.go`,
//! `daemon/stats/collector_unix.go`).
//!
//! The daemon sends raw counters; the client does the arithmetic. CPU %
//! needs two samples (this one and `precpu_stats`, the one before) and the
//! whole machine's CPU time at both (`system_cpu_usage`); memory % needs the
//! usage, the limit and memory.stat, from which the CLI takes away the
//! page cache nobody is using (`inactive_file`). No network counters: a
//! container here has a loopback-only network namespace or the host's, and
//! dockerd leaves `networks` out for `--network none` too (chapter 07 gives
//! containers an eth0, and its counters).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use api::ApiError;
use api::timefmt::{ZERO_TIME, rfc3339_nanos};
use cgroups::stats::{IoEntry, Stats};
use serde::Serialize;

use super::Daemon;
use super::container::Container;
use super::start::CGROUP_PARENT;

/// How often a stream sends a sample: dockerd's collector ticks each second.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// `GET /containers/{id}/stats`'s query.
#[derive(Clone, Copy, Debug)]
pub struct StatsQuery {
    /// One object per [`INTERVAL`] (the default), or one in all.
    pub stream: bool,
    /// With `stream=false`: the one object at once, with no `precpu_stats`.
    pub one_shot: bool,
}

/// One `ContainerStats` object, field for field as the Engine API's
/// swagger and moby's `container.StatsResponse` (Go's `omitempty` is
/// `skip_serializing_if` here).
#[derive(Debug, Default, Serialize)]
pub struct StatsResponse {
    pub name: String,
    pub id: String,
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    /// Windows only: always 0 on Linux.
    pub num_procs: u32,
    /// Windows only: always empty on Linux.
    pub storage_stats: BTreeMap<String, u64>,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
}

#[derive(Debug, Default, Serialize)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// Left out when there is no limit (pids.max says `max`).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Entries per device and operation: bytes, and operations where there
/// were some (v1's `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`;
/// v2's io.stat `read` and `write`). io.stat has no queue or time
/// counters, and this reads none on v1 either: those stay `null`.
#[derive(Debug, Default, Serialize)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<IoEntry>>,
    pub io_serviced_recursive: Option<Vec<IoEntry>>,
    pub io_queue_recursive: Option<Vec<IoEntry>>,
    pub io_service_time_recursive: Option<Vec<IoEntry>>,
    pub io_wait_time_recursive: Option<Vec<IoEntry>>,
    pub io_merged_recursive: Option<Vec<IoEntry>>,
    pub io_time_recursive: Option<Vec<IoEntry>>,
    pub sectors_recursive: Option<Vec<IoEntry>>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// The machine's CPU time, all CPUs, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub online_cpus: u64,
    pub throttling_data: ThrottlingData,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuUsage {
    pub total_usage: u64,
    /// v1 only: v2 has no per-CPU counter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// v1's memory.max_usage_in_bytes. dockerd sends none on v2; this
    /// sends v2's memory.peak (Linux 5.19 and later) where there is one.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

// ANCHOR: system
/// The machine's CPU time and online CPUs, from /proc/stat: the `cpu` line
/// is user, nice, system, idle, iowait, irq, softirq, ... in clock ticks
/// (dockerd sums those seven), and there is one `cpuN` line per online CPU.
pub fn system_cpu() -> anyhow::Result<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let mut total = None;
    let mut online = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks: Vec<u64> = fields.take(7).filter_map(|f| f.parse().ok()).collect();
                if ticks.len() < 7 {
                    anyhow::bail!("/proc/stat: a cpu line of fewer than 7 numbers: {line:?}");
                }
                total = Some(cgroups::stats::ticks_to_ns(ticks.iter().sum()));
            }
            Some(cpu) if cpu.starts_with("cpu") => online += 1,
            _ => {}
        }
    }
    let total = total.context("/proc/stat has no cpu line")?;
    Ok((total, online))
}
// ANCHOR_END: system

/// MemTotal from /proc/meminfo, in bytes (it says kB, meaning KiB).
fn machine_memory() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// ANCHOR: collect
/// One sample of a running container's cgroup, with the machine's CPU
/// time read right after it, so the two deltas cover the same interval.
pub fn collect(id: &str) -> anyhow::Result<StatsResponse> {
    let path = format!("{CGROUP_PARENT}/{id}");
    let cgroup = cgroups::manager_at(&path)?;
    let s: Stats = cgroup
        .stats()
        .with_context(|| format!("reading the stats of cgroup {path}"))?;
    let (system_cpu_usage, online_cpus) = system_cpu()?;
    // No limit (v1's huge number, v2's `max`): the machine's memory is.
    let machine = machine_memory().unwrap_or(u64::MAX);
    let cpu_stats = cpu_stats(&s, system_cpu_usage, online_cpus);
    let some = |entries: Vec<IoEntry>| (!entries.is_empty()).then_some(entries);
    Ok(StatsResponse {
        read: rfc3339_nanos(SystemTime::now()),
        pids_stats: PidsStats {
            current: s.pids_current,
            limit: if s.pids_limit == u64::MAX {
                0
            } else {
                s.pids_limit
            },
        },
        blkio_stats: BlkioStats {
            io_service_bytes_recursive: Some(s.io_bytes),
            io_serviced_recursive: some(s.io_ops),
            ..Default::default()
        },
        cpu_stats,
        // The raw usage: the client subtracts inactive_file itself.
        memory_stats: MemoryStats {
            usage: s.memory_usage,
            max_usage: s.memory_peak,
            stats: s.memory_stat,
            limit: s.memory_limit.min(machine),
        },
        ..Default::default()
    })
}
// ANCHOR_END: collect

/// cgroup CPU counters, all in nanoseconds, with the machine's.
fn cpu_stats(s: &Stats, system_cpu_usage: u64, online_cpus: u64) -> CpuStats {
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: s.cpu_usage_ns,
            percpu_usage: s.cpu_percpu_ns.clone(),
            usage_in_kernelmode: s.cpu_system_ns,
            usage_in_usermode: s.cpu_user_ns,
        },
        system_cpu_usage,
        online_cpus,
        throttling_data: ThrottlingData {
            periods: s.cpu_nr_periods,
            throttled_periods: s.cpu_nr_throttled,
            throttled_time: s.cpu_throttled_ns,
        },
    }
}

impl Daemon {
    /// A sample of `container`, or dockerd's empty one (name and ID, zero
    /// times) when it has no process: not started, exited, or exiting
    /// under our feet (its cgroup already gone).
    pub fn sample(&self, container: &Container) -> StatsResponse {
        let running = container.state().is_running();
        let mut sample = running
            .then(|| collect(&container.id))
            .and_then(|result| {
                result
                    .map_err(|e| self.debug(format!("stats of {}: {e:#}", container.id)))
                    .ok()
            })
            .unwrap_or_else(|| StatsResponse {
                read: ZERO_TIME.into(),
                ..Default::default()
            });
        sample.name = format!("/{}", container.name());
        sample.id = container.id.clone();
        sample
    }

    // ANCHOR: stream
    /// Writes `query`'s samples to `out`: one JSON object a line. Each
    /// carries the one before as `precpu_stats`/`preread`; a stream goes on
    /// until the client goes (a write fails) or the container is removed.
    pub fn write_stats(
        &self,
        container: &Container,
        query: StatsQuery,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let mut previous: Option<StatsResponse> = None;
        // Without one-shot, a single answer waits for a second sample, so
        // the CLI's `--no-stream` has a CPU delta to show.
        // A container with no process answers at once (all zeros), as dockerd.
        let mut skip_first = !query.stream && !query.one_shot && container.state().is_running();
        loop {
            let mut sample = self.sample(container);
            if let Some(before) = previous.take() {
                sample.precpu_stats = before.cpu_stats;
                sample.preread = before.read;
            } else {
                sample.preread = ZERO_TIME.into();
            }
            if !skip_first {
                let mut line = serde_json::to_vec(&sample)?;
                line.push(b'\n');
                out.write_all(&line)?;
                out.flush()?;
                if !query.stream {
                    return Ok(());
                }
            }
            skip_first = false;
            previous = Some(sample);
            std::thread::sleep(INTERVAL);
            if container.is_removed() {
                return Ok(());
            }
        }
    }
    // ANCHOR_END: stream
}

impl StatsQuery {
    /// `stream` defaults to true, `one-shot` to false; both at once is
    /// dockerd's 400.
    pub fn parse(stream: Option<&str>, one_shot: Option<&str>) -> Result<StatsQuery, ApiError> {
        let query = StatsQuery {
            stream: stream.is_none_or(api::query::is_true),
            one_shot: one_shot.is_some_and(api::query::is_true),
        };
        if query.stream && query.one_shot {
            return Err(ApiError::bad_request(
                "cannot have stream=true and one-shot=true",
            ));
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_and_the_one_bad_pair() {
        let q = StatsQuery::parse(None, None).unwrap();
        assert!(q.stream && !q.one_shot);
        let q = StatsQuery::parse(Some("0"), Some("1")).unwrap();
        assert!(!q.stream && q.one_shot);
        let err = StatsQuery::parse(Some("1"), Some("true")).unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn system_cpu_counts_cpus() {
        let (total, online) = system_cpu().unwrap();
        assert!(total > 0 && online > 0);
    }

    #[test]
    fn empty_sample_has_dockerd_shape() {
        let json = serde_json::to_value(StatsResponse::default()).unwrap();
        assert_eq!(
            json["blkio_stats"]["io_service_bytes_recursive"],
            serde_json::Value::Null
        );
        assert_eq!(json["memory_stats"], serde_json::json!({}));
        assert!(json.get("networks").is_none());
    }
}
