//! `ch04`: `ch03 run` with a cgroup around the container — limits while it
//! runs, what it used when it ends.

use std::path::PathBuf;

use anyhow::Context;
use cgroups::hierarchy::Hierarchy;
use cgroups::resources::{self, DeviceRule, Resources};
use cgroups::{CgroupManager, manager};
use clap::{Parser, Subcommand};
use images::store::WORKSHOP_ROOT;
use namespaces::cli::{self, ParentSteps, RunArgs};
use namespaces::container::ContainerError;
use nix::unistd::Pid;

#[derive(Parser, Debug)]
#[command(
    name = "ch04",
    version,
    about = "Chapter 04: cgroups — limits, accounting, OOM, devices"
)]
struct Cli {
    /// The image store's root directory (chapter 02), also where runs keep
    /// their files.
    #[arg(long, global = true, default_value = WORKSHOP_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// `ch03 run` in a cgroup of its own: limits, then the stats at exit.
    Run(Box<Run>),
    /// Which cgroup version this machine has, and where.
    Info,
}

#[derive(clap::Args, Debug)]
struct Run {
    #[command(flatten)]
    limits: Limits,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Debug)]
struct Limits {
    /// Memory limit (b, k, m, g): past it, the kernel reclaims, then OOM-kills.
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory plus swap (-1: unlimited swap). Default: twice --memory.
    #[arg(long)]
    memory_swap: Option<String>,
    /// The soft limit reclaim aims for when the host runs short.
    #[arg(long)]
    memory_reservation: Option<String>,
    /// CPUs' worth of time, e.g. 0.5: a quota per 100 ms period.
    #[arg(long)]
    cpus: Option<String>,
    /// Relative CPU weight under contention (1024 is normal).
    #[arg(long)]
    cpu_shares: Option<u64>,
    /// CPUs to run on, e.g. 0 or 0-1.
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes to allocate from, e.g. 0.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// At most this many tasks (processes and threads).
    #[arg(long)]
    pids_limit: Option<u64>,
    /// A device rule to deny on top of Docker's, e.g. "c 1:9 r" (/dev/urandom, read).
    #[arg(long = "device-deny")]
    device_deny: Vec<String>,
}

fn main() {
    let cli: Cli = api::exit_code::parse_args();
    let code = match cli.command {
        Command::Run(run) => {
            let Run { limits, run } = *run;
            match resources(&limits).and_then(|resources| {
                let mut steps = CgroupSteps {
                    resources,
                    cgroup: None,
                };
                cli::run(&cli.root, run, &mut steps)
            }) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("ch04: {e:#}");
                    e.downcast_ref::<ContainerError>()
                        .map_or(125, |e| e.exit_code)
                }
            }
        }
        Command::Info => match info() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("ch04: {e:#}");
                1
            }
        },
    };
    std::process::exit(code);
}

// ANCHOR: resources
/// The flags as limits, checked against this machine before anything exists.
fn resources(limits: &Limits) -> anyhow::Result<Resources> {
    let bytes = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<u64>> {
        value
            .as_deref()
            .map(|v| resources::parse_bytes(v).with_context(|| format!("--{flag}")))
            .transpose()
    };
    let memory_swap = match limits.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        other => bytes("memory-swap", &other.map(String::from))?.map(|b| b as i64),
    };
    let (cpu_quota, cpu_period) = match &limits.cpus {
        Some(cpus) => {
            let (quota, period) = resources::parse_cpus(cpus, resources::online_cpus())?;
            (Some(quota), Some(period))
        }
        None => (None, None),
    };
    let hierarchy = Hierarchy::detect()?;
    for (flag, value, file) in [
        ("--cpuset-cpus", &limits.cpuset_cpus, "cpuset.cpus"),
        ("--cpuset-mems", &limits.cpuset_mems, "cpuset.mems"),
    ] {
        if let Some(value) = value {
            let available = match &hierarchy {
                Hierarchy::V1 { controllers, .. } => controllers
                    .get("cpuset")
                    .context("the v1 cpuset controller is not mounted")?
                    .join(file),
                Hierarchy::V2 { root } => root.join(format!("{file}.effective")),
            };
            resources::check_cpuset(value, &resources::read_trimmed(&available)?, flag)?;
        }
    }
    let mut devices = resources::default_device_rules();
    for rule in &limits.device_deny {
        devices.push(DeviceRule::parse(rule, false)?);
    }
    let resources = Resources {
        memory: bytes("memory", &limits.memory)?,
        memory_swap,
        memory_reservation: bytes("memory-reservation", &limits.memory_reservation)?,
        cpu_quota,
        cpu_period,
        cpu_shares: limits.cpu_shares,
        cpuset_cpus: limits.cpuset_cpus.clone(),
        cpuset_mems: limits.cpuset_mems.clone(),
        pids_limit: limits.pids_limit,
        devices,
    };
    resources.validate()?;
    Ok(resources)
}
// ANCHOR_END: resources

// ANCHOR: steps
/// The cgroup around the container: made and joined before it starts,
/// read and removed after it ends.
struct CgroupSteps {
    resources: Resources,
    cgroup: Option<Box<dyn CgroupManager>>,
}

impl ParentSteps for CgroupSteps {
    fn before_start(&mut self, id: &str, pid: Pid) -> anyhow::Result<()> {
        let mut cgroup = manager(id)?;
        cgroup.create(&self.resources)?;
        // Kept before it is joined: on v1 joining is one write per
        // hierarchy, and if one fails the container is already in others,
        // where rmdir says EBUSY. after_exit removes it once the container
        // is killed.
        let cgroup = self.cgroup.insert(cgroup);
        // Joined before the container unshares its cgroup namespace and
        // before it execs: the command and all its children are inside.
        cgroup.add_process(pid)?;
        eprintln!("cgroup: {}", cgroup.path());
        Ok(())
    }

    fn after_exit(&mut self, exit_code: Option<i32>) {
        let Some(mut cgroup) = self.cgroup.take() else {
            return;
        };
        // No exit code: the start failed, and there is nothing to report.
        let stats = exit_code.map(|_| cgroup.stats());
        // PID 1 is gone, so the kernel killed the rest of its PID namespace;
        // kill_all makes sure, and waits until the cgroup is empty.
        let removed = cgroup.kill_all().and_then(|()| cgroup.destroy());
        match stats {
            None => {}
            Some(Ok(stats)) => {
                eprintln!("{stats}");
                if stats.oom_kills > 0 && exit_code == Some(137) {
                    eprintln!("the container was OOM-killed: it reached its memory limit");
                }
            }
            Some(Err(e)) => eprintln!("ch04: reading the stats: {e:#}"),
        }
        if let Err(e) = removed {
            eprintln!(
                "ch04: removing cgroup {}: {e:#} (scripts/reset.sh retries)",
                cgroup.path()
            );
        }
    }
}
// ANCHOR_END: steps

fn info() -> anyhow::Result<()> {
    match Hierarchy::detect()? {
        Hierarchy::V1 {
            controllers,
            unified,
        } => {
            println!("cgroup v1: one hierarchy per controller");
            for (controller, mount) in controllers {
                println!("  {controller:<8} {}", mount.display());
            }
            if let Some(unified) = unified {
                let controllers =
                    std::fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
                println!(
                    "  (hybrid: a cgroup2 mount at {} with controllers [{}]: device programs only)",
                    unified.display(),
                    controllers.trim()
                );
            }
        }
        Hierarchy::V2 { root } => {
            let controllers =
                std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            println!("cgroup v2: one hierarchy at {}", root.display());
            println!("  controllers: {}", controllers.trim());
        }
    }
    Ok(())
}
