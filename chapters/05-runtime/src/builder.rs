//! The spec builder: a complete config.json from a few choices.
//!
//! `docker run busybox echo hi` says almost nothing; the config.json the
//! engine hands to runc says everything: 14 capabilities, 7 mounts, a dozen
//! masked paths, device rules. The defaults come from chapter 03's
//! `defaults` (mounts, masked and read-only paths, capabilities) and
//! chapter 04's `default_device_rules` — used here, never copied — and the
//! request adds what this container wants. (moby: `oci/defaults.go`,
//! `daemon/oci_linux.go`.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use cgroups::resources::{self as limits, DeviceRule};
use namespaces::container::Rlimit;
use namespaces::defaults;
use namespaces::mount::Mount;
use namespaces::namespace::{Namespace, NamespaceKind};
use namespaces::user::User;

use crate::seccomp;
use crate::spec::{self, Capabilities, DeviceCgroup, Linux, Process, Root, Spec};

/// What one container wants; everything else is Docker's default.
#[derive(Clone, Debug)]
pub struct SpecRequest {
    pub args: Vec<String>,
    /// `KEY=value`; PATH is added if missing.
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub hostname: Option<String>,
    pub terminal: bool,
    /// The root filesystem, relative to the bundle.
    pub rootfs: String,
    pub readonly_rootfs: bool,
    /// Limits (chapter 04's types; the device rules are added to Docker's).
    pub resources: limits::Resources,
    /// More mounts after the standard ones: volumes, /etc/hosts and friends.
    pub mounts: Vec<Mount>,
    /// Namespaces to join (`net` → /run/netns/NAME) instead of making new.
    pub namespace_paths: BTreeMap<NamespaceKind, PathBuf>,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    /// Where the container's cgroup goes, e.g. `/minidocker/<id>`.
    pub cgroups_path: Option<String>,
    /// No seccomp filter (`docker run --security-opt seccomp=unconfined`).
    pub seccomp_unconfined: bool,
}

impl Default for SpecRequest {
    /// What `runc spec` and `minirunc spec` start from: `sh` in `rootfs/`.
    fn default() -> SpecRequest {
        SpecRequest {
            args: vec!["sh".into()],
            env: Vec::new(),
            cwd: "/".into(),
            user: User::default(),
            hostname: None,
            terminal: true,
            rootfs: "rootfs".into(),
            readonly_rootfs: false,
            resources: limits::Resources::default(),
            mounts: Vec::new(),
            namespace_paths: BTreeMap::new(),
            no_new_privileges: false,
            rlimits: Vec::new(),
            cgroups_path: None,
            seccomp_unconfined: false,
        }
    }
}

/// Docker's namespaces: all but the user namespace (cgroup: private, as
/// Docker does on cgroup v2 and chapter 04 on both).
const NAMESPACES: [NamespaceKind; 6] = [
    NamespaceKind::Pid,
    NamespaceKind::Network,
    NamespaceKind::Ipc,
    NamespaceKind::Uts,
    NamespaceKind::Mount,
    NamespaceKind::Cgroup,
];

// ANCHOR: build
pub fn build(request: &SpecRequest) -> Spec {
    let mut env = request.env.clone();
    images::oci::with_default_path(&mut env);
    if request.terminal && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut mounts = defaults::mounts();
    // Docker's seventh standard mount: the container's own cgroup, read-only.
    mounts.insert(
        4,
        Mount {
            destination: "/sys/fs/cgroup".into(),
            kind: "cgroup".into(),
            source: "cgroup".into(),
            options: ["ro", "nosuid", "noexec", "nodev"]
                .map(String::from)
                .to_vec(),
        },
    );
    mounts.extend(request.mounts.iter().cloned());
    let namespaces = NAMESPACES
        .iter()
        .map(|&kind| Namespace {
            kind,
            path: request.namespace_paths.get(&kind).cloned(),
        })
        .collect();
    let capabilities = Capabilities::bounded(defaults::CAPABILITIES);
    let mut device_rules = limits::default_device_rules();
    device_rules.extend(request.resources.devices.iter().cloned());
    Spec {
        oci_version: spec::OCI_VERSION.into(),
        process: Some(Process {
            terminal: request.terminal,
            user: request.user.clone(),
            args: request.args.clone(),
            env,
            cwd: request.cwd.clone(),
            capabilities: Some(capabilities.clone()),
            rlimits: request.rlimits.clone(),
            no_new_privileges: request.no_new_privileges,
            ..Default::default()
        }),
        root: Some(Root {
            path: request.rootfs.clone(),
            readonly: request.readonly_rootfs,
        }),
        hostname: request.hostname.clone(),
        mounts,
        linux: Some(Linux {
            resources: Some(oci_resources(&request.resources, &device_rules)),
            cgroups_path: request.cgroups_path.clone(),
            namespaces,
            masked_paths: defaults::MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            readonly_paths: defaults::READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            // Docker's rule: the profile allows what the capabilities allow.
            seccomp: (!request.seccomp_unconfined)
                .then(|| seccomp::default_profile(&capabilities.bounding)),
            ..Default::default()
        }),
        ..Default::default()
    }
}
// ANCHOR_END: build

/// Chapter 04's limits as `linux.resources`.
fn oci_resources(r: &limits::Resources, devices: &[DeviceRule]) -> spec::Resources {
    let memory = (r.memory.is_some() || r.memory_reservation.is_some() || r.memory_swap.is_some())
        .then(|| spec::Memory {
            limit: r.memory.map(|m| m as i64),
            reservation: r.memory_reservation.map(|m| m as i64),
            swap: r.memory_swap,
            ..Default::default()
        });
    let cpu = (r.cpu_quota.is_some()
        || r.cpu_shares.is_some()
        || r.cpuset_cpus.is_some()
        || r.cpuset_mems.is_some())
    .then(|| spec::Cpu {
        shares: r.cpu_shares,
        quota: r.cpu_quota.map(|q| q as i64),
        period: r.cpu_period,
        cpus: r.cpuset_cpus.clone(),
        mems: r.cpuset_mems.clone(),
        ..Default::default()
    });
    spec::Resources {
        devices: devices
            .iter()
            .map(|rule| DeviceCgroup {
                allow: rule.allow,
                kind: (rule.kind != 'a').then(|| rule.kind.to_string()),
                major: rule.major.map(i64::from),
                minor: rule.minor.map(i64::from),
                access: Some(rule.access.clone()),
            })
            .collect(),
        memory,
        cpu,
        pids: r.pids_limit.map(|limit| spec::Pids {
            limit: limit as i64,
        }),
        ..Default::default()
    }
}

// ANCHOR: to_cgroup
/// `linux.resources` as chapter 04's limits. Zero means "unset" (dockerd
/// sends `"shares": 0`), as do a negative quota and a pids limit of 0 or -1.
pub fn cgroup_resources(resources: &spec::Resources) -> anyhow::Result<limits::Resources> {
    let positive = |v: Option<i64>| v.filter(|v| *v > 0).map(|v| v as u64);
    let memory = resources.memory.clone().unwrap_or_default();
    let cpu = resources.cpu.clone().unwrap_or_default();
    let mut devices = Vec::new();
    for rule in &resources.devices {
        let kind = match rule.kind.as_deref() {
            None | Some("a") => 'a',
            Some("c") => 'c',
            Some("b") => 'b',
            Some(other) => bail!("device cgroup rule of type {other:?}: use a, b or c"),
        };
        let number = |n: Option<i64>| -> anyhow::Result<Option<u32>> {
            match n {
                None | Some(-1) => Ok(None),
                Some(n) => Ok(Some(
                    u32::try_from(n).map_err(|_| anyhow::anyhow!("device number {n}"))?,
                )),
            }
        };
        let access = rule.access.clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            bail!("device cgroup access {access:?}: use some of r, w, m");
        }
        devices.push(DeviceRule {
            allow: rule.allow,
            kind,
            major: if kind == 'a' {
                None
            } else {
                number(rule.major)?
            },
            minor: if kind == 'a' {
                None
            } else {
                number(rule.minor)?
            },
            access,
        });
    }
    let memory_limit = positive(memory.limit);
    let resources = limits::Resources {
        memory: memory_limit,
        // No swap in config.json is no swap limit (dockerd sends none for
        // --memory-swap -1, and the "as much swap again" default itself):
        // chapter 04's own default must not apply here.
        memory_swap: memory.swap.filter(|s| *s != 0).or(memory_limit.map(|_| -1)),
        memory_reservation: positive(memory.reservation),
        cpu_quota: positive(cpu.quota),
        cpu_period: cpu
            .period
            .filter(|p| *p > 0)
            .or(positive(cpu.quota).map(|_| limits::CPU_PERIOD)),
        cpu_shares: cpu.shares.filter(|s| *s > 0),
        cpuset_cpus: cpu.cpus.filter(|c| !c.is_empty()),
        cpuset_mems: cpu.mems.filter(|m| !m.is_empty()),
        pids_limit: positive(resources.pids.as_ref().map(|p| p.limit)),
        devices,
    };
    resources.validate()?;
    Ok(resources)
}
// ANCHOR_END: to_cgroup

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_has_dockers_defaults() {
        let spec = build(&SpecRequest::default());
        let process = spec.process.as_ref().unwrap();
        assert_eq!(process.args, ["sh"]);
        assert_eq!(process.env, [api::types::DEFAULT_PATH, "TERM=xterm"]);
        let caps = process.capabilities.as_ref().unwrap();
        assert_eq!(caps.bounding.len(), 14);
        assert_eq!(caps.bounding, caps.permitted);
        assert!(caps.inheritable.is_empty() && caps.ambient.is_empty());
        let destinations: Vec<&str> = spec.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(
            destinations,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let linux = spec.linux.as_ref().unwrap();
        assert_eq!(linux.namespaces.len(), 6);
        assert!(linux.namespaces.iter().all(|n| n.path.is_none()));
        assert!(linux.masked_paths.contains(&"/proc/kcore".to_string()));
        let devices = &linux.resources.as_ref().unwrap().devices;
        assert_eq!(
            devices[0],
            DeviceCgroup {
                allow: false,
                access: Some("rwm".into()),
                ..Default::default()
            }
        );
        assert!(devices.contains(&DeviceCgroup {
            allow: true,
            kind: Some("c".into()),
            major: Some(136),
            minor: None,
            access: Some("rwm".into()),
        }));
        spec.unsupported().unwrap();
    }

    #[test]
    fn limits_survive_the_round_trip_through_config_json() {
        let request = SpecRequest {
            resources: limits::Resources {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                pids_limit: Some(100),
                devices: vec![DeviceRule::parse("c 1:9 r", false).unwrap()],
                ..Default::default()
            },
            namespace_paths: [(NamespaceKind::Network, PathBuf::from("/run/netns/x"))].into(),
            ..Default::default()
        };
        let spec = build(&request);
        let text = serde_json::to_string_pretty(&spec).unwrap();
        let spec: Spec = serde_json::from_str(&text).unwrap();
        let linux = spec.linux.unwrap();
        let back = cgroup_resources(linux.resources.as_ref().unwrap()).unwrap();
        assert_eq!(back.memory, Some(64 << 20));
        assert_eq!(back.memory_swap, Some(128 << 20));
        assert_eq!(
            (back.cpu_quota, back.cpu_period),
            (Some(50_000), Some(100_000))
        );
        assert_eq!(back.pids_limit, Some(100));
        assert_eq!(back.devices.len(), limits::default_device_rules().len() + 1);
        assert_eq!(back.devices.last().unwrap().to_line(), "c 1:9 r");
        let net = linux
            .namespaces
            .iter()
            .find(|n| n.kind == NamespaceKind::Network)
            .unwrap();
        assert_eq!(net.path, Some(PathBuf::from("/run/netns/x")));
    }

    #[test]
    fn dockerds_zero_values_mean_unset() {
        let resources: spec::Resources = serde_json::from_str(
            r#"{"memory":{"limit":0,"reservation":0,"swap":0},"cpu":{"shares":0,"quota":0,"period":0,"cpus":"","mems":""},"pids":{"limit":0}}"#,
        )
        .unwrap();
        assert_eq!(
            cgroup_resources(&resources).unwrap(),
            limits::Resources::default()
        );
        let bad: spec::Resources =
            serde_json::from_str(r#"{"devices":[{"allow":true,"type":"x"}]}"#).unwrap();
        assert!(
            cgroup_resources(&bad)
                .unwrap_err()
                .to_string()
                .contains("type \"x\"")
        );
    }
}
