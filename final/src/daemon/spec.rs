//! A container's HostConfig and Config onto chapter 05's spec builder: the
//! engine says what this container wants, the builder adds Docker's
//! defaults (capabilities, masked paths, seccomp, devices). What this step
//! cannot honour yet is refused by name, never dropped. (moby:
//! `daemon/oci_linux.go`.)

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use api::ApiError;
use api::types::{ContainerConfig, HostConfig};
use cgroups::resources::{CPU_PERIOD, DeviceRule, Resources};
use namespaces::container::Rlimit;
use namespaces::mount::Mount;
use namespaces::namespace::NamespaceKind;
use runtime::builder::{self, SeccompChoice, SpecRequest};
use serde::Deserialize;

// ANCHOR: run_options
/// The HostConfig fields this step acts on (the rest stay in
/// `HostConfig.extra`, shown back by inspect). Wrong types are a 400.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunOptions {
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub pids_limit: Option<i64>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub devices: Option<Vec<DeviceMapping>>,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub shm_size: i64,
    pub oom_score_adj: i32,
    pub dns: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub init: Option<bool>,
    pub runtime: String,
    // Refused until their chapters: they must not be dropped silently.
    pub port_bindings: Option<BTreeMap<String, serde_json::Value>>,
    pub publish_all_ports: bool,
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<serde_json::Value>>,
    pub volumes_from: Option<Vec<String>>,
    pub links: Option<Vec<String>>,
}
// ANCHOR_END: run_options

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

impl RunOptions {
    pub fn of(host_config: &HostConfig) -> Result<RunOptions, ApiError> {
        let value = serde_json::Value::Object(host_config.extra.clone());
        api::types::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("invalid HostConfig.{e}")))
    }
}

/// Refuses what this step cannot do yet, naming what brings it.
pub fn check_supported(
    config: &ContainerConfig,
    host_config: &HostConfig,
    options: &RunOptions,
) -> Result<(), ApiError> {
    let refuse = |what: &str, when: &str| {
        Err(ApiError::bad_request(format!(
            "minidockerd does not support {what} yet: {when}"
        )))
    };
    let non_empty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if options
        .port_bindings
        .as_ref()
        .is_some_and(|p| !p.is_empty())
        || options.publish_all_ports
    {
        return refuse(
            "publishing ports (-p, -P)",
            "chapter 07 (network) brings it",
        );
    }
    if non_empty(&options.binds) || options.mounts.as_ref().is_some_and(|m| !m.is_empty()) {
        return refuse(
            "volumes and bind mounts (-v, --mount)",
            "chapter 08 (volumes) brings them",
        );
    }
    if non_empty(&options.volumes_from) {
        return refuse("--volumes-from", "chapter 08 (volumes) brings it");
    }
    if non_empty(&options.links) {
        return refuse(
            "--link",
            "chapter 07 (network) brings user networks instead",
        );
    }
    match host_config.network_mode.as_str() {
        "" | "default" | "bridge" | "none" | "host" => {}
        other => {
            return refuse(
                &format!("network {other:?}"),
                "chapter 07 (network) brings user networks; use none, host or the default",
            );
        }
    }
    super::restart::validate(&host_config.restart_policy, host_config.auto_remove)?;
    super::health::validate(config)
}

/// Docker's smallest memory limit: less would not hold the runtime itself.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Checks what dockerd checks at create, so that a bad value is a 400 now
/// rather than a failed start later.
pub fn validate(config: &ContainerConfig, options: &RunOptions) -> Result<(), ApiError> {
    let bad = |message: String| Err(ApiError::bad_request(message));
    // A C string ends at NUL: execve(2) would run something else.
    let strings = config
        .cmd
        .iter()
        .chain(config.entrypoint.iter())
        .chain(config.env.iter())
        .flatten()
        .chain([
            &config.working_dir,
            &config.user,
            &config.hostname,
            &config.image,
        ]);
    for text in strings {
        if text.contains('\0') {
            return bad(format!("{text:?} contains a NUL byte"));
        }
    }
    if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
        return bad(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.working_dir
        ));
    }
    if let Some(signal) = config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        api::signal::parse(signal)
            .map_err(|e| ApiError::bad_request(format!("Invalid signal: {e}")))?;
    }
    if options.memory != 0 && options.memory < MIN_MEMORY {
        return bad("Minimum memory limit allowed is 6MB".into());
    }
    let cpus = cgroups::resources::online_cpus() as i64;
    if options.nano_cpus != 0 && !(10_000_000..=cpus * 1_000_000_000).contains(&options.nano_cpus) {
        return bad(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        ));
    }
    for (name, value) in [
        ("CPU shares", options.cpu_shares),
        ("CPU quota", options.cpu_quota),
        ("CPU period", options.cpu_period),
        ("memory reservation", options.memory_reservation),
        ("SHM size", options.shm_size),
    ] {
        if value < 0 {
            return bad(format!("invalid {name} {value}: it cannot be negative"));
        }
    }
    for (name, list, online) in [
        (
            "--cpuset-cpus",
            &options.cpuset_cpus,
            "/sys/devices/system/cpu/online",
        ),
        (
            "--cpuset-mems",
            &options.cpuset_mems,
            "/sys/devices/system/node/online",
        ),
    ] {
        if !list.is_empty() {
            let available = std::fs::read_to_string(online).unwrap_or_else(|_| "0".into());
            cgroups::resources::check_cpuset(list, &available, name)
                .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        }
    }
    if !(-1000..=1000).contains(&options.oom_score_adj) {
        return bad(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            options.oom_score_adj
        ));
    }
    Ok(())
}

/// `--log-opt max-size=10m --log-opt max-file=3`: when the shim rotates
/// the json-file log. `None`: the shim's defaults.
pub struct LogRotation {
    pub max_size: Option<u64>,
    pub max_files: Option<u32>,
}

/// `--log-driver` and `--log-opt`: json-file is the one driver here.
pub fn log_rotation(host_config: &HostConfig) -> Result<LogRotation, ApiError> {
    let log = &host_config.log_config;
    if !matches!(log.kind.as_str(), "" | "json-file") {
        return Err(ApiError::bad_request(format!(
            "logging driver {:?} is not supported by minidockerd: json-file is its only driver",
            log.kind
        )));
    }
    let mut rotation = LogRotation {
        max_size: None,
        max_files: None,
    };
    for (key, value) in &log.config {
        let bad = |what: &str| ApiError::bad_request(format!("--log-opt {key}={value}: {what}"));
        match key.as_str() {
            "max-size" if value == "-1" => {}
            "max-size" => {
                rotation.max_size = Some(
                    cgroups::resources::parse_bytes(value)
                        .map_err(|_| bad("use a size like 10m"))?,
                )
            }
            "max-file" => {
                rotation.max_files = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("use a number of files, 1 or more"))?,
                )
            }
            _ => {
                return Err(bad(
                    "unknown log opt (json-file takes max-size and max-file)",
                ));
            }
        }
    }
    Ok(rotation)
}

/// What the spec needs besides the records: paths on this host.
pub struct Placement<'a> {
    /// The bundle: config.json goes here, the snapshot is `rootfs/`.
    pub bundle: &'a Path,
    /// The network namespace to join, or `None` for the host's.
    pub netns: Option<&'a Path>,
    pub init: Option<&'a Path>,
    pub cgroup_parent: &'a str,
}

/// `--user` (or USER) against the image's /etc/passwd and /etc/group:
/// root when empty, and the primary group a supplementary one too (`id`
/// lists it in groups=), as in the config.json dockerd writes.
pub fn resolve_user(rootfs: &Path, user: &str) -> anyhow::Result<namespaces::user::ResolvedUser> {
    let user = if user.is_empty() { "0" } else { user };
    let mut resolved = namespaces::user::resolve(rootfs, user)?;
    if resolved.user.additional_gids.is_empty() {
        resolved.user.additional_gids.push(resolved.user.gid);
    }
    Ok(resolved)
}

// ANCHOR: spec_request
/// The spec builder's request for a container: its process from the
/// (already merged) Config, its limits and privileges from HostConfig.
pub fn request(
    id: &str,
    config: &ContainerConfig,
    host_config: &HostConfig,
    place: &Placement,
) -> anyhow::Result<SpecRequest> {
    let options = RunOptions::of(host_config).map_err(|e| anyhow::anyhow!(e.message))?;
    let rootfs = place.bundle.join("rootfs");
    // ANCHOR: spec_paths
    let resolved = resolve_user(&rootfs, &config.user)?;
    // What Docker adds to every container's environment (moby:
    // `CreateDaemonEnvironment`): HOSTNAME, and HOME for the user.
    let mut env = config.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", config.hostname));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", resolved.home));
    }
    let mut mounts = Vec::new();
    for name in ["hostname", "hosts", "resolv.conf"] {
        let source = place.bundle.join(name);
        mounts.push(Mount::bind(
            &source.to_string_lossy(),
            &format!("/etc/{name}"),
            false,
        ));
    }
    let mut namespace_paths = BTreeMap::new();
    if let Some(netns) = place.netns {
        namespace_paths.insert(NamespaceKind::Network, netns.to_path_buf());
    }
    // ANCHOR_END: spec_paths
    let security = security_options(options.security_opt.as_deref().unwrap_or_default())?;
    Ok(SpecRequest {
        args: config
            .entrypoint
            .iter()
            .flatten()
            .chain(config.cmd.iter().flatten())
            .cloned()
            .collect(),
        env,
        cwd: if config.working_dir.is_empty() {
            "/".into()
        } else {
            config.working_dir.clone()
        },
        user: resolved.user,
        hostname: Some(config.hostname.clone()),
        terminal: config.tty,
        rootfs: "rootfs".into(),
        readonly_rootfs: options.readonly_rootfs,
        resources: resources(&options)?,
        mounts,
        namespace_paths,
        no_new_privileges: security.no_new_privileges,
        rlimits: rlimits(&options)?,
        cgroups_path: Some(format!("{}/{id}", place.cgroup_parent)),
        seccomp: security.seccomp,
        cap_add: options.cap_add.clone().unwrap_or_default(),
        cap_drop: options.cap_drop.clone().unwrap_or_default(),
        privileged: options.privileged,
        init: match options.init {
            Some(true) => Some(
                place
                    .init
                    .context("--init needs minidocker-init: build it with scripts/build.sh")?
                    .to_path_buf(),
            ),
            _ => None,
        },
        tmpfs: options
            .tmpfs
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        shm_size: (options.shm_size > 0).then_some(options.shm_size as u64),
        sysctls: options.sysctls.clone().unwrap_or_default(),
        oom_score_adj: (options.oom_score_adj != 0).then_some(options.oom_score_adj),
        devices: devices(&options)?,
    })
}
// ANCHOR_END: spec_request

// ANCHOR: console_size
/// The terminal's first size, from the create (`docker run -it` sends
/// `HostConfig.ConsoleSize`, [height, width]): the runtime sizes the pty
/// before the process starts, so even its first `stty size` is right,
/// before the CLI's resize arrives.
pub fn set_console_size(spec: &mut runtime::spec::Spec, host_config: &HostConfig) {
    if let (Some(process), Some([height, width])) =
        (spec.process.as_mut(), host_config.console_size)
    {
        if process.terminal && height > 0 && width > 0 {
            process.console_size = Some(runtime::spec::ConsoleSize { height, width });
        }
    }
}
// ANCHOR_END: console_size

/// Builds config.json's contents; `--network host` shares the host's
/// network namespace, so the spec has none of its own.
pub fn build(request: &SpecRequest, host_network: bool) -> anyhow::Result<runtime::spec::Spec> {
    let mut spec = builder::build(request)?;
    if host_network {
        if let Some(linux) = spec.linux.as_mut() {
            linux
                .namespaces
                .retain(|n| n.kind != NamespaceKind::Network);
        }
    }
    Ok(spec)
}

/// HostConfig's limits in chapter 04's terms (0 means "not set", as in
/// the API).
pub fn resources(options: &RunOptions) -> anyhow::Result<Resources> {
    let positive = |v: i64| (v > 0).then_some(v as u64);
    let (cpu_quota, cpu_period) = if options.nano_cpus > 0 {
        // --cpus 1.5: 150 ms of CPU time in every 100 ms period.
        (
            Some((options.nano_cpus as u128 * CPU_PERIOD as u128 / 1_000_000_000) as u64),
            Some(CPU_PERIOD),
        )
    } else {
        (positive(options.cpu_quota), positive(options.cpu_period))
    };
    let resources = Resources {
        memory: positive(options.memory),
        // -1: unlimited swap; 0: not set (Docker then gives as much swap
        // as memory, the runtime's default).
        memory_swap: (options.memory_swap != 0).then_some(options.memory_swap),
        memory_reservation: positive(options.memory_reservation),
        cpu_quota,
        cpu_period,
        cpu_shares: positive(options.cpu_shares),
        cpuset_cpus: Some(options.cpuset_cpus.clone()).filter(|s| !s.is_empty()),
        cpuset_mems: Some(options.cpuset_mems.clone()).filter(|s| !s.is_empty()),
        pids_limit: options.pids_limit.and_then(positive),
        devices: Vec::new(),
    };
    resources.validate()?;
    Ok(resources)
}

fn rlimits(options: &RunOptions) -> anyhow::Result<Vec<Rlimit>> {
    options
        .ulimits
        .iter()
        .flatten()
        .map(|u| {
            let kind = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
            if u.soft < 0 || u.hard < 0 || u.soft > u.hard {
                anyhow::bail!(
                    "--ulimit {}={}:{}: soft must not exceed hard",
                    u.name,
                    u.soft,
                    u.hard
                );
            }
            Ok(Rlimit {
                kind,
                soft: u.soft as u64,
                hard: u.hard as u64,
            })
        })
        .collect()
}

fn devices(options: &RunOptions) -> anyhow::Result<Vec<(runtime::spec::Device, DeviceRule)>> {
    options
        .devices
        .iter()
        .flatten()
        .map(|d| {
            let inside = if d.path_in_container.is_empty() {
                &d.path_on_host
            } else {
                &d.path_in_container
            };
            let permissions = if d.cgroup_permissions.is_empty() {
                "rwm"
            } else {
                &d.cgroup_permissions
            };
            builder::host_device(Path::new(&d.path_on_host), inside, permissions)
        })
        .collect()
}

struct Security {
    seccomp: SeccompChoice,
    no_new_privileges: bool,
}

/// `--security-opt`: `seccomp=unconfined`, `seccomp=<the profile's JSON>`
/// (the CLI reads the file and sends its contents), `no-new-privileges`.
fn security_options(options: &[String]) -> anyhow::Result<Security> {
    let mut security = Security {
        seccomp: SeccompChoice::Default,
        no_new_privileges: false,
    };
    for option in options {
        let (key, value) = option
            .split_once(['=', ':'])
            .unwrap_or((option.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => security.no_new_privileges = true,
            ("no-new-privileges", "false") => security.no_new_privileges = false,
            ("seccomp", "unconfined") => security.seccomp = SeccompChoice::Unconfined,
            ("seccomp", profile) if profile.trim_start().starts_with('{') => {
                // Rules the profile makes conditional on capabilities
                // (`includes.caps`) are left out: an inline profile is
                // applied for what it allows unconditionally.
                let profile = runtime::seccomp::from_docker_profile(profile, &[])
                    .context("--security-opt seccomp: the profile is not valid")?;
                security.seccomp = SeccompChoice::Profile(profile);
            }
            ("label" | "apparmor", _) => {} // no SELinux or AppArmor policy of ours to apply
            _ => anyhow::bail!(
                "--security-opt {option:?}: use seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges"
            ),
        }
    }
    Ok(security)
}
