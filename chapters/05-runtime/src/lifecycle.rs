//! create, start, kill, delete, run: runc's lifecycle on chapters 03 and 04.
//!
//! ```text
//!  minirunc create ID   clone into namespaces → cgroup → setup → waits at
//!                       <root>/ID/exec.fifo; state.json, pid file; exits
//!  minirunc start ID    opens the fifo: the container calls execve
//!  minirunc kill ID     a signal to the container's PID 1 (or --all)
//!  minirunc delete ID   cgroup and state directory removed
//! ```
//!
//! `create` exits while the container lives on: its init is re-parented to
//! whoever reaps orphans (PID 1, or a subreaper such as a shim). `run` does
//! it all in one process, which stays the container's parent and waits.

use std::cell::Cell;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cgroups::CgroupManager;
use cgroups::hierarchy::Hierarchy;
use namespaces::container::{
    self, Container, ContainerSpec, ProcessSpec, SetupSteps, SpawnOptions,
};
use namespaces::mount::{Mount, MountOptions};
use namespaces::namespace::NamespaceKind;
use namespaces::rootfs::{RootSwitch, RootfsPlan};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::RuntimeError;
use crate::process::{ProcessSteps, console, ensure_home, relay_console};
use crate::spec::{Device, Process, Spec};
use crate::state::{Saved, StateDir, Status, start_time};
use crate::{builder, devices, hooks, sysctl};
use namespaces::pidfd::PidFd;

/// `create`'s and `run`'s options.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// chroot instead of pivot_root (runc --no-pivot, for ramdisk roots).
    pub no_pivot: bool,
    /// Where the pty master goes when process.terminal is true.
    pub console_socket: Option<PathBuf>,
}

/// Reads and checks `bundle/config.json`.
pub fn load_spec(bundle: &Path) -> anyhow::Result<Spec> {
    let path = bundle.join("config.json");
    let text = fs::read(&path).with_context(|| format!("open {}", path.display()))?;
    let spec: Spec = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid config.json", path.display()))?;
    spec.unsupported()?;
    if spec.process.is_none() {
        bail!("config.json has no process to run");
    }
    if !spec.oci_version.starts_with("1.") {
        bail!(
            "config.json is for runtime-spec {}: minirunc reads 1.x",
            spec.oci_version
        );
    }
    let hooks = spec.hooks.clone().unwrap_or_default();
    for hook in hooks
        .prestart
        .iter()
        .chain(&hooks.create_runtime)
        .chain(&hooks.create_container)
        .chain(&hooks.start_container)
        .chain(&hooks.poststart)
        .chain(&hooks.poststop)
    {
        if !hook.path.starts_with('/') {
            bail!(
                "hook path {:?} must be absolute (runtime-spec, config.md#posix-platform-hooks)",
                hook.path
            );
        }
        if hook.timeout == Some(0) {
            bail!("hook {}: a timeout must be at least 1 second", hook.path);
        }
    }
    Ok(spec)
}

// ANCHOR: container_spec
/// config.json as chapter 03's container spec.
pub fn container_spec(
    spec: &Spec,
    bundle: &Path,
    options: &CreateOptions,
    cgroup_path: &str,
) -> anyhow::Result<ContainerSpec> {
    let process = spec.process.clone().context("no process")?;
    let root = spec.root.clone().context("config.json has no root")?;
    let rootfs = bundle.join(&root.path);
    let rootfs = fs::canonicalize(&rootfs)
        .with_context(|| format!("rootfs ({}) does not exist", rootfs.display()))?;
    let linux = spec.linux.clone().unwrap_or_default();
    let root_propagation = match linux.rootfs_propagation.as_deref() {
        None | Some("") => None,
        Some(name) => {
            let flags = MountOptions::parse(&[name.to_string()])
                .map_or(nix::mount::MsFlags::empty(), |o| o.propagation);
            if flags.is_empty() {
                bail!(
                    "linux.rootfsPropagation {name:?}: use private, slave, shared or unbindable, r… for recursive"
                );
            }
            Some(flags)
        }
    };
    let has = |kind| linux.namespaces.iter().any(|n| n.kind == kind);
    let user_ns = linux
        .namespaces
        .iter()
        .any(|n| n.kind == NamespaceKind::User && n.path.is_none());
    let mut mounts = Vec::new();
    for mount in &spec.mounts {
        if mount.kind == "cgroup" {
            mounts.extend(cgroup_mounts(
                mount,
                has(NamespaceKind::Cgroup),
                cgroup_path,
            )?);
        } else {
            mounts.push(mount.clone());
        }
    }
    Ok(ContainerSpec {
        namespaces: linux.namespaces.clone(),
        uid_mappings: linux.uid_mappings.clone(),
        gid_mappings: linux.gid_mappings.clone(),
        hostname: spec.hostname.clone().filter(|h| !h.is_empty()),
        process: process_spec(process, &rootfs),
        rootfs: RootfsPlan {
            rootfs,
            mounts,
            switch: if options.no_pivot {
                RootSwitch::Chroot
            } else {
                RootSwitch::PivotRoot
            },
            bind_devices: user_ns,
            masked_paths: linux.masked_paths.clone(),
            readonly_paths: linux.readonly_paths.clone(),
            readonly_rootfs: root.readonly,
            root_propagation,
        },
    })
}

/// config.json's process as chapter 03's, run in `rootfs`.
pub fn process_spec(process: Process, rootfs: &Path) -> ProcessSpec {
    let mut env = process.env;
    ensure_home(&mut env, rootfs, process.user.uid);
    ProcessSpec {
        args: process.args,
        env,
        cwd: process.cwd,
        user: process.user,
        capabilities: process.capabilities.unwrap_or_default(),
        no_new_privileges: process.no_new_privileges,
        rlimits: process.rlimits,
        terminal: process.terminal,
    }
}
// ANCHOR_END: container_spec

// ANCHOR: cgroup_mounts
/// A `cgroup` mount made concrete for this machine. With a cgroup
/// namespace, a fresh cgroup filesystem shows the container's own cgroup as
/// its root; without one it would show the host's whole tree, so the
/// container's cgroup directories are bound instead (what runc does).
fn cgroup_mounts(mount: &Mount, cgroup_ns: bool, cgroup_path: &str) -> anyhow::Result<Vec<Mount>> {
    let flags: Vec<String> = mount.options.clone();
    let entry = |destination: String, kind: &str, source: String, extra: &[&str]| {
        let mut options = flags.clone();
        options.extend(extra.iter().map(|o| o.to_string()));
        Mount {
            destination,
            kind: kind.into(),
            source,
            options,
        }
    };
    let relative = cgroup_path.trim_start_matches('/');
    Ok(match Hierarchy::detect()? {
        Hierarchy::V2 { root } => vec![if cgroup_ns {
            entry(mount.destination.clone(), "cgroup2", "cgroup2".into(), &[])
        } else {
            entry(
                mount.destination.clone(),
                "bind",
                root.join(relative).display().to_string(),
                &["rbind"],
            )
        }],
        Hierarchy::V1 { controllers, .. } => {
            // A tmpfs to hold one directory per hierarchy, made read-only
            // at the end like the hierarchies in it.
            let mut mounts = vec![Mount {
                destination: mount.destination.clone(),
                kind: "tmpfs".into(),
                source: "tmpfs".into(),
                options: ["nosuid", "nodev", "noexec", "mode=755"]
                    .map(String::from)
                    .to_vec(),
            }];
            let mut seen = Vec::new();
            for (controller, point) in &controllers {
                if seen.contains(point) {
                    continue;
                }
                seen.push(point.clone());
                // /sys/fs/cgroup/cpu,cpuacct mounted with "cpu,cpuacct".
                let name = point
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| controller.clone());
                let destination = format!("{}/{name}", mount.destination.trim_end_matches('/'));
                mounts.push(if cgroup_ns {
                    entry(destination, "cgroup", "cgroup".into(), &[name.as_str()])
                } else {
                    entry(
                        destination,
                        "bind",
                        point.join(relative).display().to_string(),
                        &["rbind"],
                    )
                });
            }
            if flags.iter().any(|f| f == "ro") {
                mounts.push(Mount {
                    destination: mount.destination.clone(),
                    kind: "tmpfs".into(),
                    source: "tmpfs".into(),
                    options: ["remount", "ro", "nosuid", "nodev", "noexec"]
                        .map(String::from)
                        .to_vec(),
                });
            }
            mounts
        }
    })
}
// ANCHOR_END: cgroup_mounts

/// A container being made: undone on every failure path.
struct Making {
    states: StateDir,
    saved: Saved,
    cgroup: Option<Box<dyn CgroupManager>>,
    container: Option<Container>,
    /// `run`'s end of the console socketpair, for the terminal's master.
    console: Option<UnixStream>,
}

impl Making {
    /// Kills and removes what was made. Once there was a container, the
    /// lifecycle goes on at "delete", poststop hooks included (the spec's
    /// rule for a failed create, and runc's).
    fn undo(&mut self) {
        let spawned = self.container.is_some();
        if let Some(container) = &mut self.container {
            container.kill();
        }
        if let Some(cgroup) = &mut self.cgroup {
            let _ = cgroup.kill_all();
            let _ = cgroup.destroy();
        }
        if spawned {
            let state = self.saved.oci_state(Status::Stopped);
            hooks::run_and_warn("poststop", &self.saved.hooks.poststop, &state);
        }
        let _ = self.states.remove(&self.saved.id);
    }
}

// ANCHOR: runtime_steps
/// What the container process does for minirunc at chapter 03's two points
/// ([`SetupSteps`]): the spec's steps that must run in its namespaces.
struct RuntimeSteps<'a> {
    saved: &'a Saved,
    process: ProcessSteps,
    devices: &'a [Device],
    bind_devices: bool,
    sysctls: Vec<(PathBuf, String)>,
    /// Our PID as the runtime sees it, for the hooks' state.
    pid: Cell<i32>,
}

impl RuntimeSteps<'_> {
    /// The saved state, with our PID.
    fn state(&self) -> Saved {
        Saved {
            pid: self.pid.get(),
            ..self.saved.clone()
        }
    }
}

impl SetupSteps for RuntimeSteps<'_> {
    fn before_root_switch(&self, plan: &RootfsPlan) -> anyhow::Result<()> {
        // The runtime's /proc is still mounted at /proc: its "self" is our
        // PID in the runtime's PID namespace, not the 1 getpid() returns.
        let own = fs::read_link("/proc/self").context("reading /proc/self")?;
        self.pid
            .set(own.to_string_lossy().parse().context("/proc/self")?);
        devices::create(&plan.rootfs, self.devices, self.bind_devices)?;
        sysctl::apply(&self.sysctls)?;
        let hooks = &self.saved.hooks.create_container;
        let state = self.state();
        hooks::run("createContainer", hooks, &state.oci_state(Status::Creating))
    }

    fn before_user_switch(&self) -> anyhow::Result<()> {
        self.process.before_user_switch()
    }

    fn before_exec(&self) -> anyhow::Result<()> {
        let hooks = &self.saved.hooks.start_container;
        let state = self.state();
        hooks::run("startContainer", hooks, &state.oci_state(Status::Created))?;
        self.process.before_exec()
    }
}

// ANCHOR_END: runtime_steps

/// Everything `create` and `run` share: the container waits at the barrier
/// (with an exec fifo) or has exec'd (without), its cgroup made and joined.
fn make(
    states: &StateDir,
    id: &str,
    options: &CreateOptions,
    with_fifo: bool,
) -> anyhow::Result<Making> {
    let began = api::trace::now();
    let spec = load_spec(&options.bundle)?;
    let linux = spec.linux.clone().unwrap_or_default();
    let cgroup_path = linux
        .cgroups_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or(format!("/{}/{id}", cgroups::parent()?));
    let container_spec = container_spec(&spec, &options.bundle, options, &cgroup_path)?;
    container_spec.validate()?;
    // Checked now, before anything is made.
    let own = |kind| linux.namespaces.iter().any(|n| n.kind == kind);
    let sysctls = linux
        .sysctl
        .iter()
        .map(|(name, value)| Ok((sysctl::path(name, own)?, value.clone())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    devices::check(&linux.devices)?;
    let fresh_dev = container_spec
        .rootfs
        .mounts
        .iter()
        .any(|m| m.destination == "/dev" && !m.is_bind());
    if !linux.devices.is_empty() && !fresh_dev {
        bail!("linux.devices needs a tmpfs mounted on /dev to create them in");
    }
    let oom_score_adj = spec.process.as_ref().and_then(|p| p.oom_score_adj);
    if oom_score_adj.is_some_and(|adj| !(-1000..=1000).contains(&adj)) {
        bail!("process.oomScoreAdj must be between -1000 and 1000");
    }
    let mut resources = builder::cgroup_resources(&linux.resources.clone().unwrap_or_default())?;
    // No swap in config.json is no swap limit (dockerd sends none for
    // --memory-swap -1, and applies the "as much swap again" default
    // itself): chapter 04's own default must not apply here.
    if resources.memory.is_some() && resources.memory_swap.is_none() {
        resources.memory_swap = Some(-1);
    }
    // The standard nodes minirunc creates in /dev must be usable whatever
    // the config's device rules say: runc appends the same allow rules.
    if !resources.devices.is_empty() {
        let standard = cgroups::resources::default_device_rules();
        resources
            .devices
            .extend(standard.into_iter().filter(|r| r.allow));
    }
    let (console_ours, console) = console(
        options.console_socket.as_deref(),
        container_spec.process.terminal,
        !with_fifo,
    )?;
    states.claim(id)?;
    api::trace::step(
        began,
        "ch05-runtime.md#from-configjson-to-chapter-03s-container",
        || {
            format!(
                "reads config.json: {} namespaces, {} mounts, cgroup {cgroup_path}",
                container_spec.namespaces.len(),
                container_spec.rootfs.mounts.len()
            )
        },
    );
    let mut making = Making {
        states: StateDir {
            root: states.root.clone(),
        },
        saved: Saved {
            id: id.to_string(),
            pid: 0,
            start_time: 0,
            bundle: fs::canonicalize(&options.bundle)?,
            rootfs: container_spec.rootfs.rootfs.clone(),
            created: api::timefmt::rfc3339_nanos(std::time::SystemTime::now()),
            cgroup_path: cgroup_path.clone(),
            owner: nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map_or("root".into(), |u| u.name),
            annotations: spec.annotations.clone(),
            hooks: spec.hooks.clone().unwrap_or_default(),
        },
        cgroup: None,
        container: None,
        console: console_ours,
    };
    // ANCHOR: create_sequence
    let result = (|| -> anyhow::Result<()> {
        let fifo = states.fifo(id);
        if with_fifo {
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
                .with_context(|| format!("mkfifo {}", fifo.display()))?;
            // Writable by the container's user, whoever it is: mkfifo's
            // mode went through the umask.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&fifo, fs::Permissions::from_mode(0o622))
                .with_context(|| format!("chmod {}", fifo.display()))?;
            api::trace::moment("ch05-runtime.md#create-and-start-what-waits-where", || {
                format!("mkfifo {}: the barrier start will open", fifo.display())
            });
        }
        let spawn_options = SpawnOptions {
            parent_death_signal: None,
            exec_fifo: with_fifo.then(|| fifo.clone()),
            console_socket: console.as_ref().map(|c| c.as_raw_fd()),
            ..SpawnOptions::default()
        };
        let steps = RuntimeSteps {
            saved: &making.saved,
            process: ProcessSteps::new(
                &spec,
                spec.process.as_ref().context("no process")?,
                &states.seccomp_cache(),
            )?,
            devices: &linux.devices,
            bind_devices: container_spec.rootfs.bind_devices,
            sysctls,
            pid: Cell::new(0),
        };
        let container = container::spawn_with(&container_spec, &spawn_options, &steps)?;
        let pid = container.pid();
        let container = making.container.insert(container);
        making.saved.pid = pid.as_raw();
        // Read while it waits for us: under `run`, a quick command may be a
        // zombie (no start time to read) by the time start_with returns.
        making.saved.start_time =
            start_time(pid.as_raw()).context("the container's init died during setup")?;
        if let Some(adj) = oom_score_adj {
            // Inherited by every process the container starts.
            let path = format!("/proc/{pid}/oom_score_adj");
            fs::write(&path, adj.to_string()).with_context(|| format!("writing {path}"))?;
        }
        let joined = api::trace::now();
        let mut cgroup = cgroups::manager_at(&cgroup_path)?;
        cgroup.create(&resources)?;
        let cgroup = making.cgroup.insert(cgroup);
        cgroup.add_process(pid)?;
        api::trace::step(joined, "ch04-cgroups.md#join-first-then-start", || {
            format!("cgroup {cgroup_path} made, its limits written, pid {pid} joined it")
        });
        let saved = &making.saved;
        let setup = api::trace::now();
        container.start_with(|| {
            let state = saved.oci_state(Status::Creating);
            hooks::run("prestart", &saved.hooks.prestart, &state)?;
            hooks::run("createRuntime", &saved.hooks.create_runtime, &state)
        })?;
        api::trace::step(
            setup,
            "ch03-namespaces.md#the-containers-side-setup",
            || "\"go\": the container sets itself up in its namespaces until \"ready\"".into(),
        );
        states.save(&making.saved)?;
        if let Some(pid_file) = &options.pid_file {
            images::atomic::write_file(pid_file, pid.to_string().as_bytes())
                .with_context(|| format!("writing the pid file {}", pid_file.display()))?;
        }
        api::trace::moment("ch05-runtime.md#the-state-directory", || {
            format!("state.json saved in {}; exits", states.dir(id).display())
        });
        Ok(())
    })();
    // ANCHOR_END: create_sequence
    match result {
        Ok(()) => Ok(making),
        Err(e) => {
            making.undo();
            Err(e)
        }
    }
}

/// `minirunc create`: set up, then leave the container waiting at its fifo.
pub fn create(states: &StateDir, id: &str, options: &CreateOptions) -> anyhow::Result<()> {
    make(states, id, options, true).map(drop)
}

// ANCHOR: start
/// `minirunc start`: open the exec fifo, which lets the waiting container's
/// open(O_WRONLY) return; it writes a byte and calls execve.
pub fn start(states: &StateDir, id: &str) -> anyhow::Result<()> {
    let saved = states.load(id)?;
    match states.status(&saved) {
        Status::Created => {}
        Status::Creating => {
            return Err(wrong_state(
                id,
                "cannot start a container that is still being created",
            ));
        }
        Status::Running | Status::Paused => {
            return Err(wrong_state(id, "cannot start an already running container"));
        }
        Status::Stopped => {
            return Err(wrong_state(id, "cannot start a container that has stopped"));
        }
    }
    let fifo_path = states.fifo(id);
    let began = api::trace::now();
    // O_NONBLOCK: opening for reading returns at once, writer or not; the
    // container, blocked opening for writing, goes on now.
    let mut fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_path)
        .with_context(|| format!("opening {}", fifo_path.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut byte = [0u8; 1];
    loop {
        match fifo.read(&mut byte) {
            Ok(1) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("reading the exec fifo"),
        }
        if start_time(saved.pid) != Some(saved.start_time) {
            // Its byte may have come just before it ran a short program
            // to its end: a byte in the fifo means it started.
            if matches!(fifo.read(&mut byte), Ok(1)) {
                break;
            }
            bail!("the container's init died before it could start");
        }
        if Instant::now() > deadline {
            bail!("the container did not take the start signal within 10 s");
        }
        let fd = fifo.as_fd();
        let mut poll = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(50u16));
    }
    // Gone already is fine: a process that exits at once may have been
    // reaped and deleted (its state dir with it) by its supervisor before
    // this line runs — it did start.
    match fs::remove_file(&fifo_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", fifo_path.display()));
        }
        _ => {}
    }
    api::trace::step(began, "ch05-runtime.md#start", || {
        format!(
            "opens {}: the container's byte arrives",
            fifo_path.display()
        )
    });
    let state = saved.oci_state(Status::Running);
    hooks::run_and_warn("poststart", &saved.hooks.poststart, &state);
    Ok(())
}
// ANCHOR_END: start

/// The container `id` is not in the state a command needs.
fn wrong_state(id: &str, why: &'static str) -> anyhow::Error {
    RuntimeError::WrongState { id: id.into(), why }.into()
}

/// `minirunc kill`.
pub fn kill(states: &StateDir, id: &str, signal: Signal, all: bool) -> anyhow::Result<()> {
    let saved = states.load(id)?;
    // With --all, a stopped init may have left processes behind (a
    // container without its own PID namespace): they are still signalled.
    if states.status(&saved) == Status::Stopped && !all {
        return Err(wrong_state(id, "container not running"));
    }
    if all {
        for pid in cgroups::manager_at(&saved.cgroup_path)?.pids()? {
            let _ = nix::sys::signal::kill(pid, signal);
        }
        return Ok(());
    }
    nix::sys::signal::kill(Pid::from_raw(saved.pid), signal)
        .with_context(|| format!("kill({}, {signal})", saved.pid))
}

// ANCHOR: update
/// `minirunc update --resources FILE ID`: new limits for a live container
/// (`docker update`), as `linux.resources` JSON; zeros leave a limit as is.
pub fn update(states: &StateDir, id: &str, json: &[u8]) -> anyhow::Result<()> {
    let saved = states.load(id)?;
    if states.status(&saved) == Status::Stopped {
        return Err(wrong_state(id, "container not running"));
    }
    let oci: crate::spec::Resources =
        serde_json::from_slice(json).context("the resources are not valid linux.resources JSON")?;
    let unsupported = Spec {
        linux: Some(crate::spec::Linux {
            resources: Some(oci.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    unsupported.unsupported()?;
    let resources = builder::cgroup_resources(&oci)?;
    cgroups::manager_at(&saved.cgroup_path)?.update(&resources)
}
// ANCHOR_END: update

// ANCHOR: pause
/// `minirunc pause`: every process of the container frozen by its cgroup
/// (chapter 04), where no signal but SIGKILL reaches it.
pub fn pause(states: &StateDir, id: &str) -> anyhow::Result<()> {
    let saved = states.load(id)?;
    if states.status(&saved) != Status::Running {
        return Err(wrong_state(id, "container not running"));
    }
    cgroups::manager_at(&saved.cgroup_path)?.freeze()
}

/// `minirunc resume`: thawed, the processes go on where they stopped.
pub fn resume(states: &StateDir, id: &str) -> anyhow::Result<()> {
    let saved = states.load(id)?;
    if states.status(&saved) != Status::Paused {
        return Err(wrong_state(id, "container not paused"));
    }
    cgroups::manager_at(&saved.cgroup_path)?.thaw()
}
// ANCHOR_END: pause

/// `minirunc delete`: a stopped container's cgroup and state go; with
/// `force`, a live one is killed first, and a missing one is no error.
pub fn delete(states: &StateDir, id: &str, force: bool) -> anyhow::Result<()> {
    let saved = match states.load(id) {
        Ok(saved) => saved,
        Err(_) if force && !states.dir(id).join("state.json").exists() => {
            // Also tidies a directory a crashed create left behind.
            return states.remove(id);
        }
        Err(e) => return Err(e),
    };
    let began = api::trace::now();
    let status = states.status(&saved);
    let mut cgroup = cgroups::manager_at(&saved.cgroup_path)?;
    if status != Status::Stopped {
        if !force {
            bail!("cannot delete container {id} that is not stopped: {status}");
        }
        let _ = nix::sys::signal::kill(Pid::from_raw(saved.pid), Signal::SIGKILL);
        // A frozen (paused) task dies of SIGKILL only once thawed on v1:
        // kill_all thaws the cgroup for the signals to land.
        if status == Status::Paused {
            cgroup.kill_all()?;
        }
        // The init is not our child (create exited): its pidfd tells us
        // when it has died. Opened, then checked to be the init still: a
        // PID that died before the open may have been given to another.
        let init = match PidFd::open(saved.pid) {
            Ok(init) => Some(init),
            // No such process: gone already.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => None,
            Err(e) => return Err(e).context("pidfd_open(2) for the container's init"),
        };
        if let Some(init) = init {
            if start_time(saved.pid) == Some(saved.start_time)
                && !init.wait_exit(Duration::from_secs(10))?
            {
                bail!("container {id} did not die of SIGKILL within 10 s");
            }
        }
    }
    cgroup.kill_all()?;
    cgroup.destroy()?;
    let state = saved.oci_state(Status::Stopped);
    hooks::run_and_warn("poststop", &saved.hooks.poststop, &state);
    states.remove(id)?;
    api::trace::step(began, "ch04-cgroups.md#stats-freeze-kill-remove", || {
        format!(
            "delete: cgroup {} removed, {} removed",
            saved.cgroup_path,
            states.dir(id).display()
        )
    });
    Ok(())
}

// ANCHOR: run
/// `minirunc run`: create and start in one process, which stays the
/// container's parent: its exit status is ours.
pub fn run(states: &StateDir, id: &str, options: &CreateOptions) -> anyhow::Result<i32> {
    let mut making = make(states, id, options, false)?;
    let state = making.saved.oci_state(Status::Running);
    hooks::run_and_warn("poststart", &making.saved.hooks.poststart, &state);
    let container = making.container.as_mut().context("no container")?;
    namespaces::sig_proxy::forward_signals(container.pid())?;
    if let Some(ours) = making.console.take() {
        if let Err(e) = relay_console(ours) {
            making.undo();
            return Err(e);
        }
    }
    let container = making.container.as_mut().context("no container")?;
    let code = container.wait();
    // Reaped: undo kills what is left in the cgroup, removes it and the
    // state, and runs the poststop hooks.
    making.undo();
    code
}
// ANCHOR_END: run
