//! What a container may use — config.json's `linux.resources`, and the
//! `docker run` flags that fill it in.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The limits of one cgroup. `None` leaves the kernel's default (no limit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Bytes of memory (`--memory`).
    pub memory: Option<u64>,
    /// Bytes of memory plus swap (`--memory-swap`); -1 is unlimited swap.
    pub memory_swap: Option<i64>,
    /// The soft limit reclaim aims for under pressure (`--memory-reservation`).
    pub memory_reservation: Option<u64>,
    /// CFS bandwidth: `quota` µs of CPU time every `period` µs (`--cpus`).
    pub cpu_quota: Option<u64>,
    pub cpu_period: Option<u64>,
    /// Relative weight under contention, v1 style: 2..=262144, 1024 normal.
    pub cpu_shares: Option<u64>,
    /// CPUs and memory nodes the container may run on ("0-1", "0,2").
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// At most this many tasks (processes and threads).
    pub pids_limit: Option<u64>,
    /// Device access rules, in order; the last matching rule wins.
    pub devices: Vec<DeviceRule>,
}

/// One rule of the device controller: `c 1:3 rwm`, allow or deny.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    /// 'c' (character), 'b' (block) or 'a' (all).
    pub kind: char,
    /// `None`: any (the `*` in `c 136:* rwm`).
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Some of "rwm": read, write, mknod.
    pub access: String,
}

impl DeviceRule {
    /// Parses `c 1:9 rwm`, `b *:* m`, `a` (the syntax of devices.allow and
    /// `docker run --device-cgroup-rule`).
    pub fn parse(text: &str, allow: bool) -> anyhow::Result<DeviceRule> {
        let usage =
            || format!("device rule {text:?}: use TYPE MAJOR:MINOR ACCESS, e.g. \"c 1:9 rwm\"");
        let mut words = text.split_whitespace();
        let kind = match words.next() {
            Some("a") => 'a',
            Some("c") => 'c',
            Some("b") => 'b',
            _ => bail!(usage()),
        };
        if kind == 'a' {
            if words.next().is_some() {
                bail!(usage());
            }
            return Ok(DeviceRule {
                allow,
                kind,
                major: None,
                minor: None,
                access: "rwm".into(),
            });
        }
        let (major, minor) = words
            .next()
            .and_then(|n| n.split_once(':'))
            .with_context(usage)?;
        let number = |n: &str| -> anyhow::Result<Option<u32>> {
            if n == "*" {
                Ok(None)
            } else {
                Ok(Some(n.parse().with_context(usage)?))
            }
        };
        let access = words.next().unwrap_or("rwm").to_string();
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) || words.next().is_some()
        {
            bail!(usage());
        }
        Ok(DeviceRule {
            allow,
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access,
        })
    }

    /// The devices.allow / devices.deny line.
    pub fn to_line(&self) -> String {
        if self.kind == 'a' {
            return "a".into();
        }
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

// ANCHOR: default_devices
/// Docker's device rules: nothing, then mknod of anything (a node without
/// read or write access is harmless), then the standard nodes and terminals.
pub fn default_device_rules() -> Vec<DeviceRule> {
    let mut rules = vec![DeviceRule::parse("a", false).unwrap()];
    for rule in [
        "c *:* m",
        "b *:* m",      // mknod, not open
        "c 1:3 rwm",    // null
        "c 1:5 rwm",    // zero
        "c 1:7 rwm",    // full
        "c 1:8 rwm",    // random
        "c 1:9 rwm",    // urandom
        "c 5:0 rwm",    // tty
        "c 5:1 rwm",    // console
        "c 5:2 rwm",    // ptmx
        "c 136:* rwm",  // pts/*
        "c 10:200 rwm", // net/tun
    ] {
        rules.push(DeviceRule::parse(rule, true).unwrap());
    }
    rules
}
// ANCHOR_END: default_devices

/// `32m` → 33554432. Docker's units: b, k, m, g (and kb, mb, gb), powers of 1024.
pub fn parse_bytes(text: &str) -> anyhow::Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => bail!("{text:?}: not a size; use a number with b, k, m or g (e.g. 32m)"),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .with_context(|| {
            format!("{text:?}: not a size; use a number with b, k, m or g (e.g. 32m)")
        })?;
    let bytes = value * multiplier as f64;
    if bytes < 1.0 || bytes > i64::MAX as f64 {
        bail!("{text:?}: a size must be positive");
    }
    Ok(bytes as u64)
}

// ANCHOR: parse_cpus
/// The CFS period Docker uses for `--cpus`: 100 ms.
pub const CPU_PERIOD: u64 = 100_000;

/// `--cpus 0.5` → (quota 50000, period 100000): half a CPU's time.
pub fn parse_cpus(text: &str, host_cpus: usize) -> anyhow::Result<(u64, u64)> {
    let cpus: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .with_context(|| format!("--cpus {text}: not a number of CPUs (e.g. 0.5)"))?;
    if cpus <= 0.0 {
        bail!("--cpus {text}: must be more than 0");
    }
    if cpus > host_cpus as f64 {
        bail!("--cpus {text}: this machine has only {host_cpus} CPUs");
    }
    // The kernel refuses a quota under 1 ms.
    let quota = ((cpus * CPU_PERIOD as f64).round() as u64).max(1000);
    Ok((quota, CPU_PERIOD))
}
// ANCHOR_END: parse_cpus

/// The CPUs (or memory nodes) of a list like `0-2,4`, checked against what
/// the host offers (a list in the same syntax, from the root cpuset).
pub fn check_cpuset(text: &str, available: &str, what: &str) -> anyhow::Result<()> {
    let wanted =
        parse_list(text).with_context(|| format!("{what} {text:?}: use a list like 0-2,4"))?;
    let have = parse_list(available).with_context(|| format!("reading the host's {what}"))?;
    if wanted.is_empty() {
        bail!("{what} {text:?}: empty");
    }
    if let Some(missing) = wanted.iter().find(|n| !have.contains(n)) {
        bail!(
            "{what} {text:?}: {missing} does not exist here (this machine has {})",
            available.trim()
        );
    }
    Ok(())
}

fn parse_list(text: &str) -> anyhow::Result<Vec<u32>> {
    let mut numbers = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse()?, b.parse()?);
                if a > b || b - a > 4096 {
                    bail!("bad range {part}");
                }
                numbers.extend(a..=b);
            }
            None => numbers.push(part.parse()?),
        }
    }
    Ok(numbers)
}

/// The number of CPUs the kernel has online.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The host's cpuset, from `path` (cpuset.cpus or cpuset.cpus.effective).
pub fn read_trimmed(path: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

impl Resources {
    /// Checks what can be checked without the cgroup: before anything is made.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let (Some(memory), Some(swap)) = (self.memory, self.memory_swap) {
            if swap != -1 && (swap as i128) < memory as i128 {
                bail!(
                    "--memory-swap ({swap}) must be at least --memory ({memory}): it is memory plus swap"
                );
            }
        }
        if self.memory_swap.is_some() && self.memory.is_none() {
            bail!("--memory-swap needs --memory");
        }
        if let (Some(memory), Some(reservation)) = (self.memory, self.memory_reservation) {
            if reservation > memory {
                bail!("--memory-reservation must be below --memory");
            }
        }
        if let Some(shares) = self.cpu_shares {
            if !(2..=262_144).contains(&shares) {
                bail!("--cpu-shares {shares}: use 2 to 262144 (1024 is normal)");
            }
        }
        if self.pids_limit == Some(0) {
            bail!("--pids-limit 0: must be at least 1");
        }
        Ok(())
    }
}

// ANCHOR: shares_to_weight
/// v1 shares (2..262144, default 1024) → v2 weight (1..10000, default 100)
/// along a straight line, as runc did until 2025. The line maps the default
/// 1024 to 39, not 100: the book shows the curve runc and crun use now.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}
// ANCHOR_END: shares_to_weight

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_dockers_units() {
        assert_eq!(parse_bytes("32m").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512K").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("1.5m").unwrap(), 3 << 19);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        for bad in ["32q", "-5m", "0", "", "m", "1e400"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus_become_a_quota_per_period() {
        assert_eq!(parse_cpus("0.5", 2).unwrap(), (50_000, 100_000));
        assert_eq!(parse_cpus("2", 2).unwrap(), (200_000, 100_000));
        assert_eq!(parse_cpus("0.001", 2).unwrap(), (1000, 100_000));
        assert!(
            parse_cpus("3", 2)
                .unwrap_err()
                .to_string()
                .contains("only 2 CPUs")
        );
        assert!(parse_cpus("0", 2).is_err());
        assert!(parse_cpus("-1", 2).is_err());
        assert!(parse_cpus("half", 2).is_err());
    }

    #[test]
    fn cpusets_must_exist() {
        check_cpuset("0-1", "0-1", "cpuset").unwrap();
        check_cpuset("1", "0-3", "cpuset").unwrap();
        let err = check_cpuset("0,7", "0-1", "cpuset").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cpuset \"0,7\": 7 does not exist here (this machine has 0-1)"
        );
        assert!(check_cpuset("2-1", "0-3", "cpuset").is_err());
        assert!(check_cpuset("x", "0-3", "cpuset").is_err());
    }

    #[test]
    fn device_rules_round_trip() {
        let rule = DeviceRule::parse("c 136:* rwm", true).unwrap();
        assert_eq!((rule.major, rule.minor), (Some(136), None));
        assert_eq!(rule.to_line(), "c 136:* rwm");
        assert_eq!(DeviceRule::parse("a", false).unwrap().to_line(), "a");
        for bad in ["x 1:3 r", "c 1 r", "c 1:3 rx", "c a:3 r", "a 1:2"] {
            assert!(DeviceRule::parse(bad, true).is_err(), "{bad}");
        }
        assert_eq!(default_device_rules().len(), 13);
    }

    #[test]
    fn limits_are_checked_together() {
        let ok = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Default::default()
        };
        ok.validate().unwrap();
        let bad = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(32 << 20),
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("at least --memory")
        );
        let bad = Resources {
            memory_swap: Some(32 << 20),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = Resources {
            pids_limit: Some(0),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = Resources {
            cpu_shares: Some(1),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
