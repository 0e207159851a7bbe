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
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
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
    /// `--security-opt seccomp=…`.
    pub seccomp: SeccompChoice,
    /// `--cap-add` and `--cap-drop`: names with or without `CAP_`, any
    /// case, or `ALL`; applied to Docker's default set, drops first.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--privileged`: every capability and host device, no masked or
    /// read-only paths, no seccomp filter, /sys and cgroups writable.
    pub privileged: bool,
    /// `--init`: the host path of minidocker-init, bound at
    /// [`defaults::INIT_PATH`] and run as PID 1 in front of `args`.
    pub init: Option<PathBuf>,
    /// `--tmpfs PATH[:OPTIONS]`, as (path, options).
    pub tmpfs: Vec<(String, String)>,
    /// `--shm-size`, in bytes (Docker's default: 64 MiB).
    pub shm_size: Option<u64>,
    /// `--sysctl` (namespaced parameters only: minirunc checks).
    pub sysctls: BTreeMap<String, String>,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `--device`: nodes to create in the container, and who may use them
    /// (see [`host_device`]).
    pub devices: Vec<(spec::Device, DeviceRule)>,
}

/// What filters the container's system calls.
#[derive(Clone, Debug, Default)]
pub enum SeccompChoice {
    /// The default profile, derived from the container's capabilities.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A profile of the user's, in config.json's form
    /// ([`seccomp::from_docker_profile`] reads Docker's).
    Profile(spec::Seccomp),
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
            seccomp: SeccompChoice::Default,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            init: None,
            tmpfs: Vec::new(),
            shm_size: None,
            sysctls: BTreeMap::new(),
            oom_score_adj: None,
            devices: Vec::new(),
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

pub fn build(request: &SpecRequest) -> anyhow::Result<Spec> {
    let mut env = request.env.clone();
    images::oci::with_default_path(&mut env);
    if request.terminal && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut args = request.args.clone();
    let mut mounts = standard_mounts(request);
    if let Some(init) = &request.init {
        mounts.push(Mount::bind(
            &init.to_string_lossy(),
            defaults::INIT_PATH,
            true,
        ));
        args.splice(0..0, [defaults::INIT_PATH.to_string(), "--".to_string()]);
    }
    mounts.extend(request.mounts.iter().cloned());
    let namespaces = NAMESPACES
        .iter()
        .map(|&kind| Namespace {
            kind,
            path: request.namespace_paths.get(&kind).cloned(),
        })
        .collect();
    let names = capability_names(request)?;
    let capabilities = Capabilities::bounded(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let confined = !request.privileged;
    // ANCHOR: build_linux
    let mut device_rules = limits::default_device_rules();
    let mut devices: Vec<spec::Device> = request.devices.iter().map(|d| d.0.clone()).collect();
    device_rules.extend(request.devices.iter().map(|d| d.1.clone()));
    if request.privileged {
        devices = host_devices()?;
        device_rules = vec![DeviceRule::parse("a", true)?];
    }
    device_rules.extend(request.resources.devices.iter().cloned());
    let paths = |list: &[&str]| list.iter().map(|p| p.to_string()).collect();
    let linux = Linux {
        resources: Some(oci_resources(&request.resources, &device_rules)),
        cgroups_path: request.cgroups_path.clone(),
        namespaces,
        devices,
        sysctl: request.sysctls.clone(),
        masked_paths: if confined {
            paths(defaults::MASKED_PATHS)
        } else {
            Vec::new()
        },
        readonly_paths: if confined {
            paths(defaults::READONLY_PATHS)
        } else {
            Vec::new()
        },
        seccomp: match (&request.seccomp, confined) {
            (_, false) | (SeccompChoice::Unconfined, _) => None,
            // Docker's rule: the profile allows what the capabilities allow.
            (SeccompChoice::Default, true) => {
                Some(seccomp::default_profile(&capabilities.bounding))
            }
            (SeccompChoice::Profile(profile), true) => Some(profile.clone()),
        },
        ..Default::default()
    };
    // ANCHOR_END: build_linux
    Ok(Spec {
        oci_version: spec::OCI_VERSION.into(),
        process: Some(Process {
            terminal: request.terminal,
            user: request.user.clone(),
            args,
            env,
            cwd: request.cwd.clone(),
            capabilities: Some(capabilities),
            rlimits: request.rlimits.clone(),
            no_new_privileges: request.no_new_privileges,
            oom_score_adj: request.oom_score_adj,
            ..Default::default()
        }),
        root: Some(Root {
            path: request.rootfs.clone(),
            readonly: request.readonly_rootfs,
        }),
        hostname: request.hostname.clone(),
        mounts,
        linux: Some(linux),
        ..Default::default()
    })
}

/// Chapter 03's standard mounts, plus Docker's seventh (the container's
/// own cgroup), `--shm-size` and `--tmpfs`; writable /sys and cgroups for
/// `--privileged`.
fn standard_mounts(request: &SpecRequest) -> Vec<Mount> {
    let mut mounts = defaults::mounts();
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
    for mount in &mut mounts {
        if request.privileged && mount.destination.starts_with("/sys") {
            mount.options.retain(|o| o != "ro");
        }
        if let (Some(size), "/dev/shm") = (request.shm_size, mount.destination.as_str()) {
            mount.options.retain(|o| !o.starts_with("size="));
            mount.options.push(format!("size={size}"));
        }
    }
    for (destination, options) in &request.tmpfs {
        // Docker's defaults for --tmpfs, before the user's own options.
        let mut all: Vec<String> = ["noexec", "nosuid", "nodev"].map(String::from).to_vec();
        all.extend(
            options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from),
        );
        mounts.push(Mount {
            destination: destination.clone(),
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            options: all,
        });
    }
    mounts
}

/// Docker's 14 capabilities, less `cap_drop`, plus `cap_add`; every one
/// this host can grant for `--privileged`. `ALL` means every one.
fn capability_names(request: &SpecRequest) -> anyhow::Result<Vec<String>> {
    let known = namespaces::process::known_capabilities();
    if request.privileged {
        return Ok(namespaces::process::grantable_capabilities());
    }
    let canonical = |name: &String| -> anyhow::Result<String> {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        if full != "CAP_ALL" && !known.contains(&full) {
            bail!("unknown capability {name:?} (see capabilities(7), or ALL)");
        }
        Ok(full)
    };
    let drop = request
        .cap_drop
        .iter()
        .map(canonical)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let add = request
        .cap_add
        .iter()
        .map(canonical)
        .collect::<anyhow::Result<Vec<_>>>()?;
    // ANCHOR: capabilities
    let mut names: Vec<String> = if drop.iter().any(|d| d == "CAP_ALL") {
        Vec::new()
    } else {
        let kept = defaults::CAPABILITIES
            .iter()
            .filter(|c| !drop.iter().any(|d| d == *c));
        kept.map(|c| c.to_string()).collect()
    };
    if add.iter().any(|a| a == "CAP_ALL") {
        return Ok(namespaces::process::grantable_capabilities());
    }
    for cap in add {
        if !names.contains(&cap) {
            names.push(cap);
        }
    }
    // ANCHOR_END: capabilities
    Ok(names)
}

/// `--device HOST[:CONTAINER[:PERMISSIONS]]`: the node to create, with the
/// host's type, numbers and mode, and the cgroup rule that lets the
/// container use it with `permissions` (some of r, w, m).
pub fn host_device(
    host: &Path,
    in_container: &str,
    permissions: &str,
) -> anyhow::Result<(spec::Device, DeviceRule)> {
    let meta = fs::metadata(host).with_context(|| format!("--device {}", host.display()))?;
    let kind = match meta.file_type() {
        t if t.is_char_device() => 'c',
        t if t.is_block_device() => 'b',
        _ => bail!("--device {}: not a device node", host.display()),
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let rule = DeviceRule::parse(&format!("{kind} {major}:{minor} {permissions}"), true)
        .with_context(|| format!("--device {}:{in_container}:{permissions}", host.display()))?;
    let device = spec::Device {
        path: in_container.to_string(),
        kind: kind.to_string(),
        major: major.into(),
        minor: minor.into(),
        file_mode: Some(meta.mode() & 0o777),
        uid: Some(meta.uid()),
        gid: Some(meta.gid()),
    };
    Ok((device, rule))
}

/// Every device node under the host's /dev, for `--privileged` (moby's
/// `HostDevices`): not the container's own pts, shm and mqueue.
fn host_devices() -> anyhow::Result<Vec<spec::Device>> {
    let mut found = Vec::new();
    let mut dirs = vec![PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        if ["/dev/pts", "/dev/shm", "/dev/mqueue"]
            .iter()
            .any(|d| dir == Path::new(d))
        {
            continue;
        }
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry?.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue; // gone since the listing
            };
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.file_type().is_char_device() || meta.file_type().is_block_device() {
                let in_container = path.to_string_lossy().into_owned();
                found.push(host_device(&path, &in_container, "rwm")?.0);
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

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
        let spec = build(&SpecRequest::default()).unwrap();
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
    fn docker_run_options_reach_the_spec() {
        let null = host_device(Path::new("/dev/null"), "/dev/mynull", "rw").unwrap();
        let request = SpecRequest {
            args: vec!["sleep".into(), "1".into()],
            cap_drop: vec!["chown".into(), "CAP_KILL".into()],
            cap_add: vec!["sys_time".into(), "CAP_CHOWN".into()],
            init: Some(PathBuf::from("/usr/local/bin/minidocker-init")),
            tmpfs: vec![("/run".into(), "size=1m,mode=700".into())],
            shm_size: Some(1 << 20),
            sysctls: [("net.ipv4.ip_forward".into(), "1".into())].into(),
            oom_score_adj: Some(500),
            devices: vec![null.clone()],
            seccomp: SeccompChoice::Unconfined,
            ..Default::default()
        };
        let spec = build(&request).unwrap();
        spec.unsupported().unwrap();
        let process = spec.process.as_ref().unwrap();
        assert_eq!(process.args, ["/sbin/minidocker-init", "--", "sleep", "1"]);
        let bounding = &process.capabilities.as_ref().unwrap().bounding;
        assert!(bounding.contains(&"CAP_SYS_TIME".to_string()));
        assert!(
            bounding.contains(&"CAP_CHOWN".to_string()),
            "added back after the drop"
        );
        assert!(!bounding.contains(&"CAP_KILL".to_string()));
        assert_eq!(process.oom_score_adj, Some(500));
        let mount = |dest: &str| spec.mounts.iter().find(|m| m.destination == dest).unwrap();
        assert_eq!(
            mount("/run").options,
            ["noexec", "nosuid", "nodev", "size=1m", "mode=700"]
        );
        assert!(
            mount("/dev/shm")
                .options
                .contains(&"size=1048576".to_string())
        );
        assert_eq!(
            mount("/sbin/minidocker-init").source,
            "/usr/local/bin/minidocker-init"
        );
        let linux = spec.linux.as_ref().unwrap();
        assert!(linux.seccomp.is_none());
        assert_eq!(linux.sysctl["net.ipv4.ip_forward"], "1");
        assert_eq!(linux.devices, [null.0]);
        let (major, minor) = (Some(1), Some(3));
        assert!(
            linux
                .resources
                .as_ref()
                .unwrap()
                .devices
                .contains(&DeviceCgroup {
                    allow: true,
                    kind: Some("c".into()),
                    major,
                    minor,
                    access: Some("rw".into()),
                })
        );

        let wrong = SpecRequest {
            cap_add: vec!["CAP_FLY".into()],
            ..Default::default()
        };
        assert!(build(&wrong).unwrap_err().to_string().contains("CAP_FLY"));
        let none = SpecRequest {
            cap_drop: vec!["all".into()],
            cap_add: vec!["NET_BIND_SERVICE".into()],
            ..Default::default()
        };
        let spec = build(&none).unwrap();
        let caps = spec.process.unwrap().capabilities.unwrap();
        assert_eq!(caps.bounding, ["CAP_NET_BIND_SERVICE"]);
    }

    #[test]
    fn privileged_lifts_every_confinement() {
        let spec = build(&SpecRequest {
            privileged: true,
            ..Default::default()
        })
        .unwrap();
        let caps = spec.process.as_ref().unwrap().capabilities.clone().unwrap();
        // Every capability this process may pass on (all of them on most
        // hosts; a sandbox's root may lack some).
        assert_eq!(caps.bounding, namespaces::process::grantable_capabilities());
        assert!(caps.bounding.contains(&"CAP_SYS_ADMIN".to_string()));
        let linux = spec.linux.as_ref().unwrap();
        assert!(linux.masked_paths.is_empty() && linux.readonly_paths.is_empty());
        assert!(linux.seccomp.is_none());
        assert!(linux.devices.iter().any(|d| d.path == "/dev/null"));
        assert!(
            !linux
                .devices
                .iter()
                .any(|d| d.path.starts_with("/dev/pts/"))
        );
        let rules = &linux.resources.as_ref().unwrap().devices;
        assert_eq!(
            rules[0],
            DeviceCgroup {
                allow: true,
                access: Some("rwm".into()),
                ..Default::default()
            }
        );
        for mount in spec
            .mounts
            .iter()
            .filter(|m| m.destination.starts_with("/sys"))
        {
            assert!(!mount.options.contains(&"ro".to_string()), "{mount:?}");
        }
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
        let spec = build(&request).unwrap();
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
