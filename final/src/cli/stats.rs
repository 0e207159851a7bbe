//! `minidocker stats`: docker's `stats` table. The daemon sends raw cgroup
//! counters; the percentages are computed here, with docker/cli's formulas
//! (`cli/command/container/stats_helpers.go`).

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use api::http::Client;
use api::table::{binary_size, human_size};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use super::template;
use super::{escape, report};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE',
    /// 'json' or a Go template).
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

const TABLE: &str = "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}";

const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// The parts of a `ContainerStats` object the table needs.
#[derive(Deserialize, Default, Debug)]
struct Sample {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    cpu_stats: Cpu,
    #[serde(default)]
    precpu_stats: Cpu,
    #[serde(default)]
    memory_stats: Memory,
    #[serde(default)]
    pids_stats: Pids,
    #[serde(default)]
    blkio_stats: Blkio,
    #[serde(default)]
    networks: std::collections::BTreeMap<String, Net>,
}

#[derive(Deserialize, Default, Debug)]
struct Cpu {
    #[serde(default)]
    cpu_usage: CpuUsage,
    #[serde(default)]
    system_cpu_usage: u64,
    #[serde(default)]
    online_cpus: u64,
}

#[derive(Deserialize, Default, Debug)]
struct CpuUsage {
    #[serde(default)]
    total_usage: u64,
    #[serde(default)]
    percpu_usage: Vec<u64>,
}

#[derive(Deserialize, Default, Debug)]
struct Memory {
    #[serde(default)]
    usage: u64,
    #[serde(default)]
    limit: u64,
    #[serde(default)]
    stats: std::collections::BTreeMap<String, u64>,
}

#[derive(Deserialize, Default, Debug)]
struct Pids {
    #[serde(default)]
    current: u64,
}

#[derive(Deserialize, Default, Debug)]
struct Blkio {
    #[serde(default)]
    io_service_bytes_recursive: Option<Vec<IoEntry>>,
}

#[derive(Deserialize, Default, Debug)]
struct IoEntry {
    #[serde(default)]
    op: String,
    #[serde(default)]
    value: u64,
}

#[derive(Deserialize, Default, Debug)]
struct Net {
    #[serde(default)]
    rx_bytes: u64,
    #[serde(default)]
    tx_bytes: u64,
}

// ANCHOR: formulas
/// CPU %: the container's CPU time over the machine's in the same
/// interval, times the CPUs (so one busy CPU of four is 100 %, as docker).
fn cpu_percent(s: &Sample) -> f64 {
    let (now, before) = (&s.cpu_stats, &s.precpu_stats);
    let cpu = now.cpu_usage.total_usage as f64 - before.cpu_usage.total_usage as f64;
    let system = now.system_cpu_usage as f64 - before.system_cpu_usage as f64;
    let mut cpus = now.online_cpus as f64;
    if cpus == 0.0 {
        cpus = now.cpu_usage.percpu_usage.len() as f64;
    }
    if system > 0.0 && cpu > 0.0 {
        cpu / system * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache nobody is using: the daemon sends
/// the raw usage, the CLI takes away `total_inactive_file` (v1) or
/// `inactive_file` (v2), whichever memory.stat has.
fn memory_used(m: &Memory) -> u64 {
    // v1's memory.stat has both keys; the hierarchical total comes first.
    for key in ["total_inactive_file", "inactive_file"] {
        match m.stats.get(key) {
            Some(&inactive) if inactive < m.usage => return m.usage - inactive,
            _ => {}
        }
    }
    m.usage
}
// ANCHOR_END: formulas

/// Block I/O: every `r…`/`R…` entry is a read, every `w…`/`W…` a write
/// (v1 says Read/Write, v2 read/write; Total, Sync… are neither).
fn block_io(b: &Blkio) -> (u64, u64) {
    let mut io = (0, 0);
    for e in b.io_service_bytes_recursive.iter().flatten() {
        match e.op.chars().next() {
            Some('r' | 'R') => io.0 += e.value,
            Some('w' | 'W') => io.1 += e.value,
            _ => {}
        }
    }
    io
}

/// One table row, every field a string as docker's formatter has them;
/// `None` (no sample yet, or the stream broke) is docker's "--".
fn row(container: &str, sample: Option<&Sample>, truncate: bool) -> Value {
    let Some(s) = sample else {
        let id = if truncate && container.len() > 12 {
            &container[..12]
        } else {
            container
        };
        return json!({"Container": container, "ID": id, "Name": "--", "CPUPerc": "--",
            "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--"});
    };
    let id = if truncate && s.id.len() > 12 {
        &s.id[..12]
    } else {
        &s.id
    };
    let used = memory_used(&s.memory_stats);
    let limit = s.memory_stats.limit;
    let mem_percent = if limit != 0 {
        used as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (rx, tx) = s
        .networks
        .values()
        .fold((0, 0), |(r, t), n| (r + n.rx_bytes, t + n.tx_bytes));
    let (read, write) = block_io(&s.blkio_stats);
    json!({
        "Container": container,
        "ID": id,
        "Name": s.name.strip_prefix('/').unwrap_or(&s.name),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", binary_size(used as f64), binary_size(limit as f64)),
        "MemPerc": format!("{mem_percent:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(read), human_size(write)),
        "PIDs": s.pids_stats.current.to_string(),
    })
}

/// What one container's stream has given so far.
#[derive(Default)]
struct Slot {
    latest: Option<Sample>,
    error: Option<anyhow::Error>,
    ended: bool,
}

/// Reads `container`'s samples into `slot` until the stream ends.
fn follow(client: &Client, container: &str, stream: bool, slot: &Mutex<Slot>) {
    let path = format!(
        "/containers/{}/stats?stream={}",
        escape(container),
        stream as u8
    );
    let result = (|| -> anyhow::Result<()> {
        let response = client.send("GET", &path, None)?.check()?;
        for line in BufReader::new(response).lines() {
            let line = line.context("reading the stats stream")?;
            let sample: Sample =
                serde_json::from_str(&line).context("the daemon sent odd stats")?;
            slot.lock().unwrap_or_else(|e| e.into_inner()).latest = Some(sample);
            if !stream {
                break;
            }
        }
        Ok(())
    })();
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    slot.error = result.err();
    slot.ended = true;
}

/// `docker stats`: the named containers, or the running ones (all with
/// `-a`). Without `--no-stream`, the table is redrawn each second.
pub fn stats(client: &Client, args: StatsArgs) -> anyhow::Result<i32> {
    let mut names = args.containers.clone();
    if names.is_empty() {
        let list: Vec<Value> =
            client.get_json(&format!("/containers/json?all={}", args.all as u8))?;
        names = list
            .iter()
            .filter_map(|c| {
                c["Id"]
                    .as_str()
                    .map(|id| id[..12.min(id.len())].to_string())
            })
            .collect();
    }
    let stream = !args.no_stream;
    let slots: Vec<(String, Arc<Mutex<Slot>>)> = names
        .iter()
        .map(|n| (n.clone(), Arc::new(Mutex::new(Slot::default()))))
        .collect();
    let threads: Vec<_> = slots
        .iter()
        .map(|(name, slot)| {
            let (client, name, slot) = (client.clone(), name.clone(), Arc::clone(slot));
            std::thread::spawn(move || follow(&client, &name, stream, &slot))
        })
        .collect();
    let format = match &args.format {
        Some(f) if f != "table" => f.clone(),
        _ => TABLE.into(),
    };
    let mut out = std::io::stdout();
    if !stream {
        for thread in threads {
            let _ = thread.join();
        }
        // Named containers that failed (no such container): docker prints
        // their errors and no table.
        let mut status = 0;
        for (_, slot) in &slots {
            if let Some(e) = slot.lock().unwrap_or_else(|e| e.into_inner()).error.take() {
                report(&e);
                status = 1;
            }
        }
        if status == 0 {
            write!(out, "{}", render(&format, &slots, !args.no_trunc)?)?;
        }
        return Ok(status);
    }
    loop {
        let table = render(&format, &slots, !args.no_trunc)?;
        // Clear the screen and go home (ESC[2J, ESC[H), as docker does.
        write!(out, "\x1b[2J\x1b[H{table}")?;
        out.flush()?;
        let ended = slots
            .iter()
            .all(|(_, s)| s.lock().unwrap_or_else(|e| e.into_inner()).ended);
        if ended {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn render(
    format: &str,
    slots: &[(String, Arc<Mutex<Slot>>)],
    truncate: bool,
) -> anyhow::Result<String> {
    let rows: Vec<Value> = slots
        .iter()
        .map(|(name, slot)| {
            let slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = slot.error.is_none();
            row(name, slot.latest.as_ref().filter(|_| fresh), truncate)
        })
        .collect();
    template::format_list(format, &rows, HEADERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_formulas_as_docker() {
        assert_eq!(binary_size(0.0), "0B");
        assert_eq!(binary_size(196_608.0), "192KiB");
        assert_eq!(binary_size(1.5 * 1048576.0), "1.5MiB");
        assert_eq!(binary_size(67_770_000.0), "64.63MiB");
        let sample: Sample = serde_json::from_value(json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 10_000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 6_000},
            "memory_stats": {"usage": 100, "limit": 1000, "stats": {"inactive_file": 40}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 5},
                {"major": 8, "minor": 0, "op": "Total", "value": 5}]},
        }))
        .unwrap();
        assert_eq!(cpu_percent(&sample), 100.0);
        assert_eq!(memory_used(&sample.memory_stats), 60);
        assert_eq!(block_io(&sample.blkio_stats), (5, 0));
    }
}
