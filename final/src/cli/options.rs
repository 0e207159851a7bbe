//! `docker create`'s flags and the create request they become: the
//! container's `Config` at the top level, `HostConfig` beside it.
//! (docker/cli: `cli/command/container/opts.go`.) Flags the engine does not
//! serve yet (`-p`, `-v`) are sent as docker sends them: the daemon answers
//! with the chapter that brings them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value, json};

#[derive(Args, Debug, Clone, Default)]
pub struct CreateFlags {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container and its resources when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables (NAME=value, or NAME to copy ours).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Set metadata on a container (key=value).
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub resources: ResourceFlags,
    /// Connect a container to a network (none, host, bridge).
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Publish a container's port(s) to the host (chapter 07).
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports (chapter 07).
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Bind mount a volume (chapter 08).
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS]).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options (no-new-privileges, seccomp=unconfined).
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Ulimit options (nofile=1024:2048).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add a host device to the container (/dev/x[:/dev/y[:rwm]]).
    #[arg(long)]
    pub device: Vec<String>,
    /// Sysctl options (net.ipv4.ip_forward=1).
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm (e.g. 64m).
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_negative_numbers = true)]
    pub oom_score_adj: Option<i32>,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Runtime to use for this container.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    pub restart: Option<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout", allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    /// Logging driver for the container.
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3).
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    #[command(flatten)]
    pub health: HealthFlags,
}

/// `--health-*`: the container's health check, over the image's.
#[derive(Args, Debug, Clone, Default)]
pub struct HealthFlags {
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long = "health-interval")]
    pub interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h).
    #[arg(long = "health-timeout")]
    pub timeout: Option<String>,
    /// Start period for the container to initialize before failures count (ms|s|m|h).
    #[arg(long = "health-start-period")]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h).
    #[arg(long = "health-start-interval")]
    pub start_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", allow_negative_numbers = true)]
    pub retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub none: bool,
}

impl HealthFlags {
    /// `Config.Healthcheck` as the docker CLI sends it; null without flags.
    pub fn config(&self) -> anyhow::Result<Value> {
        let durations = [
            ("interval", &self.interval),
            ("timeout", &self.timeout),
            ("start-period", &self.start_period),
            ("start-interval", &self.start_interval),
        ];
        let given = self.cmd.is_some()
            || self.retries.is_some()
            || durations.iter().any(|(_, d)| d.is_some());
        if self.none {
            if given {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(json!({"Test": ["NONE"]}));
        }
        if !given {
            return Ok(Value::Null);
        }
        let mut nanoseconds = Vec::new();
        for (name, text) in durations {
            let value = match text {
                Some(text) => images::dockerfile::parse_duration(text)
                    .map_err(|e| anyhow::anyhow!("invalid --health-{name} {text:?}: {e}"))?,
                None => 0.0,
            };
            if value < 0.0 {
                bail!("--health-{name} cannot be negative");
            }
            nanoseconds.push(value as i64);
        }
        if self.retries.is_some_and(|r| r < 0) {
            bail!("--health-retries cannot be negative");
        }
        let test = match &self.cmd {
            Some(cmd) => json!(["CMD-SHELL", cmd]),
            None => json!([]),
        };
        Ok(json!({
            "Test": test,
            "Interval": nanoseconds[0],
            "Timeout": nanoseconds[1],
            "StartPeriod": nanoseconds[2],
            "StartInterval": nanoseconds[3],
            "Retries": self.retries.unwrap_or(0),
        }))
    }
}

/// The limits `create` (and `run`) and `update` share.
#[derive(Args, Debug, Clone, Default)]
pub struct ResourceFlags {
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 for unlimited swap.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs (e.g. 0.5).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS quota (microseconds).
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS period (microseconds).
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
}

impl ResourceFlags {
    /// `HostConfig`'s keys for the limits given on the command line (the
    /// daemon keeps what is not named: a create gets Docker's defaults,
    /// an update leaves the rest as it was).
    pub fn host_config(&self) -> anyhow::Result<Map<String, Value>> {
        let mut host = Map::new();
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                host.insert(key.to_string(), value);
            }
        };
        set(
            "Memory",
            size_flag(&self.memory, "--memory")?.map(Value::from),
        );
        set(
            "MemorySwap",
            size_flag(&self.memory_swap, "--memory-swap")?.map(Value::from),
        );
        set(
            "MemoryReservation",
            size_flag(&self.memory_reservation, "--memory-reservation")?.map(Value::from),
        );
        set(
            "NanoCpus",
            self.cpus.map(|c| json!((c * 1e9).round() as i64)),
        );
        set("CpuShares", self.cpu_shares.map(Value::from));
        set("CpuQuota", self.cpu_quota.map(Value::from));
        set("CpuPeriod", self.cpu_period.map(Value::from));
        set("CpusetCpus", self.cpuset_cpus.clone().map(Value::from));
        set("CpusetMems", self.cpuset_mems.clone().map(Value::from));
        set("PidsLimit", self.pids_limit.map(Value::from));
        Ok(host)
    }
}

impl CreateFlags {
    /// The body of `POST /containers/create` for `image` and `command`.
    pub fn body(&self, image: &str, command: &[String], attach: bool) -> anyhow::Result<Value> {
        let mut host = Map::new();
        let mut set = |key: &str, value: Value| {
            host.insert(key.to_string(), value);
        };
        set("AutoRemove", json!(self.rm));
        set(
            "NetworkMode",
            json!(self.network.as_deref().unwrap_or("default")),
        );
        set("Privileged", json!(self.privileged));
        set("ReadonlyRootfs", json!(self.read_only));
        set(
            "Init",
            self.init.then_some(json!(true)).unwrap_or(Value::Null),
        );
        set(
            "ShmSize",
            json!(size_flag(&self.shm_size, "--shm-size")?.unwrap_or(0)),
        );
        set("OomScoreAdj", json!(self.oom_score_adj.unwrap_or(0)));
        set("CapAdd", json!(self.cap_add));
        set("CapDrop", json!(self.cap_drop));
        set("SecurityOpt", json!(self.security_opt));
        set("Dns", json!(self.dns));
        set("DnsSearch", json!(self.dns_search));
        set("DnsOptions", json!(self.dns_option));
        set("ExtraHosts", json!(self.add_host));
        set("Binds", json!(self.volume));
        set("PublishAllPorts", json!(self.publish_all));
        set("PortBindings", port_bindings(&self.publish)?);
        set("Tmpfs", json!(pairs(&self.tmpfs, ':', "--tmpfs", true)?));
        set(
            "Sysctls",
            json!(pairs(&self.sysctl, '=', "--sysctl", false)?),
        );
        set("Ulimits", ulimits(&self.ulimit)?);
        set("Devices", devices(&self.device)?);
        set("RestartPolicy", restart_policy(self.restart.as_deref())?);
        set(
            "LogConfig",
            json!({"Type": self.log_driver.clone().unwrap_or_default(),
                   "Config": pairs(&self.log_opt, '=', "--log-opt", false)?}),
        );
        if let Some(runtime) = &self.runtime {
            set("Runtime", json!(runtime));
        }
        host.extend(self.resources.host_config()?);
        // ANCHOR: create_body
        let mut body = json!({
            "Image": image,
            "Cmd": if command.is_empty() { Value::Null } else { json!(command) },
            "Entrypoint": self.entrypoint.as_ref().map(|e| if e.is_empty() { json!([""]) } else { json!([e]) }),
            "Env": self.environment()?,
            "Labels": pairs(&self.label, '=', "--label", true)?,
            "User": self.user.clone().unwrap_or_default(),
            "WorkingDir": self.workdir.clone().unwrap_or_default(),
            "Hostname": self.hostname.clone().unwrap_or_default(),
            "Tty": self.tty,
            "OpenStdin": self.interactive,
            "StdinOnce": self.interactive && attach,
            "AttachStdin": self.interactive && attach,
            "AttachStdout": attach,
            "AttachStderr": attach,
            "StopSignal": self.stop_signal,
            "StopTimeout": self.stop_timeout,
            "Healthcheck": self.health.config()?,
            "HostConfig": Value::Object(host),
        });
        // ANCHOR_END: create_body
        if self.tty {
            // [height, width]: the first screen is the right size at once.
            if let Some((rows, cols)) = super::terminal::window_size() {
                body["HostConfig"]["ConsoleSize"] = json!([rows, cols]);
            }
        }
        Ok(body)
    }

    /// `-e` and `--env-file`, in docker's order: files first, then flags;
    /// a bare `NAME` takes our value, or is dropped when we have none.
    fn environment(&self) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        for file in &self.env_file {
            let text = super::read_user_file(file)?;
            lines.extend(
                text.lines()
                    .map(str::trim_start)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        lines.extend(self.env.iter().cloned());
        Ok(lines
            .into_iter()
            .filter_map(|line| match line.split_once('=') {
                Some(_) => Some(line),
                None => std::env::var(&line).ok().map(|v| format!("{line}={v}")),
            })
            .collect())
    }
}

/// Docker's RAMInBytes: a number with an optional b, k, m, g (binary units).
pub fn parse_size(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix('b')
        .filter(|r| !r.is_empty())
        .unwrap_or(&lower);
    let (digits, unit) = match lower.char_indices().last()? {
        (i, 'k') => (&lower[..i], 1i64 << 10),
        (i, 'm') => (&lower[..i], 1 << 20),
        (i, 'g') => (&lower[..i], 1 << 30),
        (i, 't') => (&lower[..i], 1 << 40),
        _ => (lower, 1),
    };
    let value: f64 = digits.parse().ok().filter(|v: &f64| *v >= 0.0)?;
    Some((value * unit as f64) as i64)
}

/// A size flag, if given; `-1` (unlimited) as docker takes it for swap.
fn size_flag(text: &Option<String>, flag: &str) -> anyhow::Result<Option<i64>> {
    let Some(text) = text else {
        return Ok(None);
    };
    if text == "-1" {
        return Ok(Some(-1));
    }
    parse_size(text)
        .map(Some)
        .with_context(|| format!("invalid {flag} {text:?}: use a size such as 64m or 1g"))
}

/// `KEY<sep>VALUE` flags as a map; with `bare_ok`, `KEY` alone maps to "".
fn pairs(
    items: &[String],
    separator: char,
    flag: &str,
    bare_ok: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once(separator) {
            Some((k, v)) if !k.is_empty() => map.insert(k.to_string(), v.to_string()),
            None if bare_ok && !item.is_empty() => map.insert(item.clone(), String::new()),
            _ => bail!("invalid {flag} {item:?}: use KEY{separator}VALUE"),
        };
    }
    Ok(map)
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn restart_policy(text: Option<&str>) -> anyhow::Result<Value> {
    let (name, count) = match text.unwrap_or("no").split_once(':') {
        Some(("on-failure", n)) => ("on-failure", n.parse::<i64>().ok()),
        Some(_) => (text.unwrap_or_default(), None),
        None => (text.unwrap_or("no"), Some(0)),
    };
    match (name, count) {
        ("no" | "always" | "unless-stopped" | "on-failure", Some(count)) => {
            Ok(json!({"Name": name, "MaximumRetryCount": count}))
        }
        _ => bail!(
            "invalid restart policy {:?}: use no, always, unless-stopped or on-failure[:N]",
            text.unwrap_or_default()
        ),
    }
}

/// `--ulimit nofile=1024:2048` (or one number for both).
fn ulimits(items: &[String]) -> anyhow::Result<Value> {
    let mut list = Vec::new();
    for item in items {
        let parsed = item.split_once('=').and_then(|(name, limits)| {
            let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
            Some((name, soft.parse::<i64>().ok()?, hard.parse::<i64>().ok()?))
        });
        let Some((name, soft, hard)) = parsed else {
            bail!("invalid --ulimit {item:?}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048");
        };
        list.push(json!({"Name": name, "Soft": soft, "Hard": hard}));
    }
    Ok(json!(list))
}

/// `--device /dev/x[:/dev/y][:rwm]`.
fn devices(items: &[String]) -> anyhow::Result<Value> {
    let mut list = Vec::new();
    for item in items {
        let parts: Vec<&str> = item.split(':').collect();
        let is_permissions = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
        let (host, container, permissions) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, p] if is_permissions(p) => (*h, *h, *p),
            [h, c] => (*h, *c, "rwm"),
            [h, c, p] if is_permissions(p) => (*h, *c, *p),
            _ => bail!("invalid --device {item:?}: use /dev/HOST[:/dev/CONTAINER][:rwm]"),
        };
        list.push(json!({"PathOnHost": host, "PathInContainer": container,
                         "CgroupPermissions": permissions}));
    }
    Ok(json!(list))
}

/// `-p [IP:][HOST:]CONTAINER[/PROTO]`: parsed as docker does, so that the
/// daemon can say which chapter brings it.
fn port_bindings(items: &[String]) -> anyhow::Result<Value> {
    let mut map = Map::new();
    for item in items {
        let (rest, proto) = item.rsplit_once('/').unwrap_or((item, "tcp"));
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let (container, host_port, host_ip) = match parts.as_slice() {
            [c] => (*c, "", ""),
            [c, h] => (*c, *h, ""),
            [c, h, ip] => (*c, *h, *ip),
            _ => unreachable!("rsplitn(3) gives one to three parts"),
        };
        if container.parse::<u16>().is_err() {
            bail!("invalid -p {item:?}: use [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]");
        }
        map.insert(
            format!("{container}/{proto}"),
            json!([{"HostIp": host_ip, "HostPort": host_port}]),
        );
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_units_as_docker_reads_them() {
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("10mb"), Some(10 << 20));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1m"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn a_create_body_carries_config_and_host_config() {
        let flags = CreateFlags {
            name: Some("web".into()),
            rm: true,
            env: vec!["A=1".into()],
            resources: ResourceFlags {
                memory: Some("64m".into()),
                ..Default::default()
            },
            restart: Some("on-failure:3".into()),
            publish: vec!["127.0.0.1:8080:80".into()],
            ..Default::default()
        };
        let body = flags.body("busybox", &["true".into()], true).unwrap();
        assert_eq!(body["Image"], "busybox");
        assert_eq!(body["Cmd"], json!(["true"]));
        assert_eq!(body["Env"], json!(["A=1"]));
        assert_eq!(body["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(body["HostConfig"]["AutoRemove"], true);
        assert_eq!(body["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
        assert_eq!(
            body["HostConfig"]["PortBindings"]["80/tcp"][0],
            json!({"HostIp": "127.0.0.1", "HostPort": "8080"})
        );
        assert!(restart_policy(Some("sometimes")).is_err());
        assert!(port_bindings(&["http".into()]).is_err());
        assert!(devices(&["/dev/a:/dev/b:rw:x".into()]).is_err());
        assert!(ulimits(&["nofile".into()]).is_err());
    }
}
