//! Starting a process in new namespaces, in the stages a runtime needs.
//!
//! ```text
//!  parent (ch03, minirunc)                 container process
//!  ───────────────────────                 ─────────────────
//!  spawn():  validate the spec
//!            clone(CLONE_NEW*)  ─────────▶ born in its namespaces, waits
//!            write uid_map/gid_map              for "go" on the socket
//!  (caller)  place it in a cgroup …
//!  start():  "go" ──────────────────────▶ join namespaces given by path,
//!                                          unshare the cgroup namespace,
//!                                          mounts in the new root
//!            ◀──────────────────────────── "mounted"
//!  (caller)  after_mounts (OCI prestart
//!            and createRuntime hooks)
//!            "resume" ──────────────────▶ steps.before_root_switch
//!                                          (createContainer hooks, sysctls)
//!                                          pivot_root, hostname, rlimits,
//!                                          steps.before_user_switch
//!                                          (seccomp without no_new_privs),
//!                                          user, capabilities,
//!                                          find the program
//!            ◀──────────────────────────── "ready" (or "error CODE TEXT")
//!                                          barrier: blocks on the exec fifo
//!  (anyone)  opens the exec fifo ────────▶ steps.before_exec
//!                                          (startContainer hooks, seccomp
//!                                          with no_new_privs)
//!                                          execve(program)
//!  wait():   waitpid → exit code
//! ```
//!
//! `after_mounts` and [`SetupSteps`] are where a runtime adds what the OCI
//! spec asks at those points; chapter 03's own `run` adds nothing.
//!
//! Why stages: a cgroup must be joined before the cgroup namespace is
//! unshared (or the container would see the host's cgroup as its root), and
//! uid maps must be written from outside, by a process that holds the IDs it
//! maps. The barrier is runc's create/start split: `runc create` leaves the
//! container stopped just before execve; `runc start`, a separate process,
//! releases it by opening the fifo.
//!
//! Every new namespace is created by the one clone(2) call: with
//! CLONE_NEWUSER among the flags, the kernel creates the user namespace
//! first, so it owns the others and the container's root has power over
//! them. That is why, with a new user namespace, the other namespaces must
//! be new too (joining one owned by the host's user namespace would need
//! privileges the container's root does not have there).
//!
//! `spawn` forks: call it from a single-threaded process (a fork copies only
//! the calling thread, and a lock another thread held stays locked forever).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{Context, bail};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::exec;
use crate::namespace::{IdMap, Namespace, NamespaceKind};
use crate::rootfs::{self, RootfsPlan};
use crate::sig_proxy;
use crate::syscalls::{Linux, Syscalls};
use crate::terminal;
use crate::user::User;

/// config.json's `process.rlimits` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// `RLIMIT_NOFILE`, `RLIMIT_NPROC`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

/// The process to run (config.json's `process`).
#[derive(Clone, Debug, Default)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    /// `KEY=value` pairs; PATH among them is where the program is looked up.
    pub env: Vec<String>,
    /// Created if missing, as Docker does for WORKDIR.
    pub cwd: String,
    pub user: User,
    /// The capability sets; every capability not named is dropped from all.
    pub capabilities: crate::process::CapabilitySets,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    /// A pty as stdin, stdout and stderr (see [`crate::terminal`]); its
    /// master is sent to [`SpawnOptions::console_socket`].
    pub terminal: bool,
}

/// Everything about one container.
#[derive(Clone, Debug, Default)]
pub struct ContainerSpec {
    pub namespaces: Vec<Namespace>,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub hostname: Option<String>,
    pub rootfs: RootfsPlan,
    pub process: ProcessSpec,
}

/// How the container process is supervised.
#[derive(Clone, Debug, Default)]
pub struct SpawnOptions {
    /// Sent to the container when its parent dies (PR_SET_PDEATHSIG): a CLI
    /// that runs a container in the foreground takes it down with it.
    pub parent_death_signal: Option<Signal>,
    /// The barrier: the container opens this fifo for writing after setup,
    /// which blocks until another process opens it for reading.
    pub exec_fifo: Option<PathBuf>,
    /// With `process.terminal`: a connected Unix socket the pty master is
    /// sent over (runc's --console-socket).
    pub console_socket: Option<RawFd>,
    /// The process is an init that takes signals itself (minidocker-init):
    /// it is born with the forwarded signals blocked and execs with them
    /// still blocked. The kernel drops a signal sent to a PID 1 that has
    /// left it at its default action; a blocked one waits in the queue
    /// until the init, handlers ready, takes it.
    pub hold_forwarded_signals: bool,
}

// ANCHOR: setup_steps
/// A runtime's own steps, run by the container process at fixed points of
/// its setup (the parent's are the `after_mounts` of [`Container::start_with`]).
/// Both do nothing unless a runtime says otherwise.
pub trait SetupSteps {
    /// In the container's namespaces, its mounts made, before the switch to
    /// the new root, still as root: host paths still resolve here.
    fn before_root_switch(&self, _plan: &RootfsPlan) -> anyhow::Result<()> {
        Ok(())
    }
    /// In the new root, rlimits set, still root with every capability, just
    /// before the switch to the process's user (a seccomp filter without
    /// no_new_privs must be loaded here, while CAP_SYS_ADMIN is held).
    fn before_user_switch(&self) -> anyhow::Result<()> {
        Ok(())
    }
    /// Released from the barrier, as the container's user, just before
    /// execve: an error here ends the container with it.
    fn before_exec(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// No steps of a runtime's own: chapter 03's `run`.
pub struct NoSteps;

impl SetupSteps for NoSteps {}
// ANCHOR_END: setup_steps

/// A setup failure, with the exit code Docker gives it (127: command not
/// found, 126: not executable, 1 otherwise).
#[derive(Debug)]
pub struct ContainerError {
    pub exit_code: i32,
    pub message: String,
}

impl std::fmt::Display for ContainerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ContainerError {}

/// The parent's handle on a container process.
pub struct Container {
    pid: Pid,
    channel: BufReader<UnixStream>,
    reaped: bool,
}

impl ContainerSpec {
    fn has_new(&self, kind: NamespaceKind) -> bool {
        self.namespaces
            .iter()
            .any(|n| n.kind == kind && n.path.is_none())
    }

    // ANCHOR: validate
    /// Everything that can be checked before anything is created.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut seen = Vec::new();
        for ns in &self.namespaces {
            if seen.contains(&ns.kind) {
                bail!("the {} namespace is listed twice", ns.kind.proc_name());
            }
            seen.push(ns.kind);
            if let Some(path) = &ns.path {
                if !path.exists() {
                    bail!(
                        "{} namespace {}: no such file (ip netns add NAME makes /run/netns/NAME)",
                        ns.kind.proc_name(),
                        path.display()
                    );
                }
                if self.has_new(NamespaceKind::User) {
                    bail!(
                        "joining the {} namespace {} with a new user namespace: the host's \
                         user namespace owns it, so the container's root has no power over it",
                        ns.kind.proc_name(),
                        path.display()
                    );
                }
            }
        }
        if !self.rootfs.rootfs.is_dir() {
            bail!("rootfs {}: no such directory", self.rootfs.rootfs.display());
        }
        if self.process.args.is_empty() {
            bail!("no command to run");
        }
        if let Some(hostname) = &self.hostname {
            if !self.has_new(NamespaceKind::Uts) {
                bail!("a hostname needs a new UTS namespace, or it would be the host's");
            }
            // HOST_NAME_MAX: sethostname(2) fails with EINVAL above it.
            if hostname.is_empty() || hostname.len() > 64 {
                bail!("hostname {hostname:?}: must be 1 to 64 bytes long");
            }
        }
        self.process.capabilities.parse()?;
        for rlimit in &self.process.rlimits {
            crate::process::resource(&rlimit.kind)?;
            if rlimit.soft > rlimit.hard {
                bail!(
                    "{}: soft limit {} above hard limit {}",
                    rlimit.kind,
                    rlimit.soft,
                    rlimit.hard
                );
            }
        }
        self.validate_id_maps()
    }
    // ANCHOR_END: validate

    fn validate_id_maps(&self) -> anyhow::Result<()> {
        let user_ns = self.has_new(NamespaceKind::User);
        if !user_ns {
            if !self.uid_mappings.is_empty() || !self.gid_mappings.is_empty() {
                bail!("uid/gid mappings need a new user namespace");
            }
            return Ok(());
        }
        let user = &self.process.user;
        for (what, maps, ids) in [
            ("uid", &self.uid_mappings, vec![user.uid]),
            ("gid", &self.gid_mappings, {
                let mut gids = vec![user.gid];
                gids.extend(&user.additional_gids);
                gids
            }),
        ] {
            if maps.is_empty() {
                bail!("a user namespace needs a {what} mapping");
            }
            // The kernel takes at most 340 lines (5 before Linux 4.15).
            if maps.len() > 340 {
                bail!(
                    "{} {what} mappings: the kernel takes at most 340",
                    maps.len()
                );
            }
            for (i, map) in maps.iter().enumerate() {
                let end = |start: u32| start.checked_add(map.size - 1);
                if map.size == 0 || end(map.container_id).is_none() || end(map.host_id).is_none() {
                    bail!(
                        "{what} mapping {}:{}:{} does not fit in 32-bit IDs",
                        map.container_id,
                        map.host_id,
                        map.size
                    );
                }
                for other in &maps[..i] {
                    let overlaps = |a: u32, b: u32, size_a: u32, size_b: u32| {
                        a < b.saturating_add(size_b) && b < a.saturating_add(size_a)
                    };
                    if overlaps(map.container_id, other.container_id, map.size, other.size)
                        || overlaps(map.host_id, other.host_id, map.size, other.size)
                    {
                        bail!("{what} mappings overlap");
                    }
                }
            }
            for id in ids {
                if !maps.iter().any(|m| m.contains(id)) {
                    bail!("{what} {id} is not mapped in the user namespace");
                }
            }
        }
        Ok(())
    }
}

// ANCHOR: spawn
/// Creates the container process in its namespaces. It waits for
/// [`Container::start`]; until then the caller may place it in a cgroup.
pub fn spawn(spec: &ContainerSpec, options: &SpawnOptions) -> anyhow::Result<Container> {
    spawn_with(spec, options, &NoSteps)
}

/// [`spawn`], with a runtime's own steps run by the container process.
pub fn spawn_with(
    spec: &ContainerSpec,
    options: &SpawnOptions,
    steps: &dyn SetupSteps,
) -> anyhow::Result<Container> {
    spec.validate()?;
    if spec.process.terminal != options.console_socket.is_some() {
        bail!("a terminal needs a console socket to send it over, and only a terminal uses one");
    }
    let (parent_end, child_end) = UnixStream::pair().context("socketpair")?;
    // Namespaces to join are opened here, where a bad path is still an
    // error for the caller; the child inherits the descriptors.
    let mut joins = Vec::new();
    for ns in &spec.namespaces {
        if let Some(path) = &ns.path {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            joins.push((ns.kind, OwnedFd::from(file)));
        }
    }
    let exec_fifo = match &options.exec_fifo {
        // O_PATH: a handle on the fifo that does not open it (opening blocks).
        Some(path) => Some(
            nix::fcntl::open(
                path,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .with_context(|| format!("opening the exec fifo {}", path.display()))?,
        ),
        None => None,
    };
    let mut flags = CloneFlags::empty();
    for ns in &spec.namespaces {
        // The cgroup namespace waits: see the module docs.
        if ns.path.is_none() && ns.kind != NamespaceKind::Cgroup {
            flags |= ns.kind.clone_flag();
        }
    }
    let child = ChildSetup {
        spec,
        options,
        channel: child_end.as_raw_fd(),
        parent_end: parent_end.as_raw_fd(),
        joins: joins.iter().map(|(k, fd)| (*k, fd.as_raw_fd())).collect(),
        exec_fifo,
        steps,
        ready: std::cell::Cell::new(false),
    };
    // A PID namespace cannot be entered by the process itself: setns on one
    // sets where the caller's *next* child is born. So join it here, around
    // the clone, and come back.
    let pid_join = joins.iter().find(|(kind, _)| *kind == NamespaceKind::Pid);
    let own_pid_ns = match pid_join {
        Some((_, fd)) => {
            let own = File::open("/proc/self/ns/pid").context("opening /proc/self/ns/pid")?;
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID).context("setns(pid)")?;
            Some(own)
        }
        None => None,
    };
    // The child runs on a stack of its own (clone(2) needs one), in a copy
    // of this process's memory: it is a fork with namespace flags.
    let mut stack = vec![0u8; 1 << 20];
    // ANCHOR: hold_signals
    // The signal mask is inherited at clone(2): blocked here, the signals
    // are blocked from the child's first instruction on.
    let held = sig_proxy::forwarded_signal_set();
    let mut mask_before = SigSet::empty();
    if options.hold_forwarded_signals {
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&held), Some(&mut mask_before))
            .context("sigprocmask")?;
    }
    // ANCHOR_END: hold_signals
    let clone_began = api::trace::now();
    // SAFETY: the child gets its own copy of the address space (no
    // CLONE_VM), as after fork(2); the caller is single-threaded (module docs).
    let cloned = unsafe {
        nix::sched::clone(
            Box::new(|| child.run()),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    };
    if options.hold_forwarded_signals {
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask_before), None).context("sigprocmask")?;
    }
    if let Some(own) = own_pid_ns {
        nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
            .context("setns back to our pid namespace")?;
    }
    let pid = cloned.with_context(|| format!("clone({flags:?})"))?;
    api::trace::step(clone_began, "ch03-namespaces.md#the-stages-spawn", || {
        describe_clone(spec, pid)
    });
    if let Some(fd) = exec_fifo {
        let _ = nix::unistd::close(fd);
    }
    drop(child_end);
    let mut container = Container {
        pid,
        channel: BufReader::new(parent_end),
        reaped: false,
    };
    if spec.has_new(NamespaceKind::User) {
        if let Err(e) = write_id_maps(pid, spec) {
            container.kill();
            return Err(e);
        }
    }
    Ok(container)
}
// ANCHOR_END: spawn

/// The book's page on the barrier, for the trace.
const BARRIER: &str = "ch03-namespaces.md#the-barrier-before-execve";

/// `clone(2) CLONE_NEWNS|CLONE_NEWPID → pid 4242 on the host; joins net
/// by path`, for the trace.
fn describe_clone(spec: &ContainerSpec, pid: Pid) -> String {
    let names = |by_path: bool| -> Vec<&str> {
        spec.namespaces
            .iter()
            .filter(|ns| ns.path.is_some() == by_path)
            .map(|ns| ns.kind.proc_name())
            .collect()
    };
    let mut line = format!(
        "clone(2) with new namespaces {} → pid {pid} on the host",
        names(false).join(" ")
    );
    if !names(true).is_empty() {
        line.push_str(&format!("; joins {} by path", names(true).join(" ")));
    }
    line
}

// ANCHOR: id_maps
/// Writes the child's uid_map and gid_map. Only once, all lines in one
/// write(2), and by a process with CAP_SETUID/CAP_SETGID over the parent
/// user namespace: the rules of user_namespaces(7).
fn write_id_maps(pid: Pid, spec: &ContainerSpec) -> anyhow::Result<()> {
    for (file, maps) in [
        ("uid_map", &spec.uid_mappings),
        ("gid_map", &spec.gid_mappings),
    ] {
        let text: String = maps
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text.as_bytes()).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
// ANCHOR_END: id_maps

impl Container {
    /// The container process, as this process's PID namespace numbers it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Lets the container set itself up, and waits until it is at the
    /// barrier (with an exec fifo) or has called execve (without one).
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.start_with(|| Ok(()))
    }

    /// [`Container::start`], running `after_mounts` here while the container
    /// waits with its mounts made, before it switches root. If it fails the
    /// container is killed.
    pub fn start_with(
        &mut self,
        after_mounts: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.channel
            .get_mut()
            .write_all(b"go\n")
            .context("telling the container to start")?;
        let mut line = self.read_line()?;
        if line == "mounted" {
            if let Err(e) = after_mounts() {
                self.kill();
                return Err(e);
            }
            self.channel
                .get_mut()
                .write_all(b"resume\n")
                .context("telling the container to resume")?;
            line = self.read_line()?;
        }
        // "ready" comes before the barrier and before execve, always; the
        // socket closes on execve (close-on-exec) after it.
        if line == "ready" {
            return Ok(());
        }
        if line.is_empty() {
            // Not a word: it died, too early or too hard to say why (a
            // signal, or a seccomp filter that forbids the write itself).
            let how = match self.wait()? {
                code if code > 128 => Signal::try_from(code - 128)
                    .map_or(format!("signal {}", code - 128), |s| {
                        format!("killed by {s}")
                    }),
                code => format!("exit status {code}"),
            };
            bail!("the container process died during setup ({how}), before it could say why");
        }
        let error = match line
            .strip_prefix("error ")
            .and_then(|rest| rest.split_once(' '))
        {
            Some((code, message)) => ContainerError {
                exit_code: code.parse().unwrap_or(1),
                message: message.to_string(),
            },
            None => ContainerError {
                exit_code: 1,
                message: format!("the container said {line:?}"),
            },
        };
        // It exits right after saying so.
        let _ = self.wait();
        Err(error.into())
    }

    fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        self.channel
            .read_line(&mut line)
            .context("reading from the container")?;
        Ok(line.trim_end().to_string())
    }

    /// Waits for the container to exit: its exit code, or 128 + the signal
    /// that killed it (137 for SIGKILL), as a shell and Docker report it.
    pub fn wait(&mut self) -> anyhow::Result<i32> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => {
                    self.reaped = true;
                    return Ok(code);
                }
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    self.reaped = true;
                    return Ok(api::signal::exit_status_for(signal as i32) as i32);
                }
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).with_context(|| format!("waitpid({})", self.pid)),
            }
        }
    }

    /// SIGKILL and reap: a container that failed halfway leaves nothing.
    pub fn kill(&mut self) {
        if !self.reaped {
            let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
            let _ = self.wait();
        }
    }
}

/// What the child needs, borrowed from the parent's copy of memory.
struct ChildSetup<'a> {
    spec: &'a ContainerSpec,
    options: &'a SpawnOptions,
    channel: RawFd,
    parent_end: RawFd,
    joins: Vec<(NamespaceKind, RawFd)>,
    exec_fifo: Option<RawFd>,
    steps: &'a dyn SetupSteps,
    /// Set once "ready" is sent: the parent no longer reads the socket.
    ready: std::cell::Cell<bool>,
}

impl ChildSetup<'_> {
    /// The container process's whole life before execve. Its return value is
    /// its exit code: it returns only on failure, after telling the parent.
    fn run(&self) -> isize {
        api::trace::become_layer(api::trace::Layer::Container);
        let _ = nix::unistd::close(self.parent_end);
        // SAFETY: the fd is ours (inherited from the socketpair) and used only here.
        let stream = unsafe { <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(self.channel) };
        let mut channel = BufReader::new(stream);
        let error = match self.setup(&mut channel) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let (code, message) = match error.downcast_ref::<ContainerError>() {
            Some(e) => (e.exit_code, e.message.clone()),
            None => (1, format!("{error:#}")),
        };
        let message = message.replace('\n', " ");
        if self.ready.get() {
            // Past the barrier nobody reads the socket: say it on stderr.
            eprintln!("{message}");
        } else {
            let _ = channel
                .get_mut()
                .write_all(format!("error {code} {message}\n").as_bytes());
        }
        code as isize
    }

    // ANCHOR: child_setup
    fn setup(
        &self,
        channel: &mut BufReader<UnixStream>,
    ) -> anyhow::Result<std::convert::Infallible> {
        let spec = self.spec;
        if let Some(signal) = self.options.parent_death_signal {
            nix::sys::prctl::set_pdeathsig(signal).context("prctl(PR_SET_PDEATHSIG)")?;
        }
        // 1. Wait for the parent: uid maps written, cgroup joined.
        let mut go = String::new();
        channel
            .read_line(&mut go)
            .context("waiting for the parent")?;
        if go.trim_end() != "go" {
            bail!("the parent went away before starting the container");
        }
        let began = api::trace::now();
        // 2. Namespaces given by path (the PID one was joined at clone).
        for (kind, fd) in &self.joins {
            if *kind != NamespaceKind::Pid {
                // SAFETY: the fd was opened by the parent and is still open.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
                nix::sched::setns(fd, kind.clone_flag())
                    .with_context(|| format!("setns({})", kind.proc_name()))?;
            }
        }
        if spec.has_new(NamespaceKind::User) {
            // Until now this process was the unmapped host root (it shows as
            // 65534 inside). Root of the new namespace it becomes.
            nix::unistd::setresgid(0.into(), 0.into(), 0.into()).context("setresgid(0)")?;
            nix::unistd::setresuid(0.into(), 0.into(), 0.into()).context("setresuid(0)")?;
        }
        // 3. Now that the parent placed us in our cgroup, that cgroup becomes
        //    the root of what /proc/self/cgroup shows.
        if spec.has_new(NamespaceKind::Cgroup) {
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
        }
        // 4. Mounts, made in the new root while host paths still resolve.
        //    A mount namespace joined by path has its mounts already (an
        //    exec into a running container): setns(2) put us at its root.
        let mut sys = Linux;
        let mounts = spec.has_new(NamespaceKind::Mount);
        if mounts {
            rootfs::prepare(&mut sys, &spec.rootfs)?;
            // The working directory is created while we are still root.
            let cwd = sys.resolve(&spec.rootfs.rootfs, &spec.process.cwd)?;
            sys.mkdir_all(&cwd, 0o755)?;
            api::trace::step(began, "ch03-namespaces.md#step-1-prepare", || {
                format!(
                    "told \"go\": {} mounts made under {} (the root bound to itself first)",
                    spec.rootfs.mounts.len(),
                    spec.rootfs.rootfs.display()
                )
            });
        }
        // 5. The parent's turn (OCI prestart hooks), then ours.
        channel
            .get_mut()
            .write_all(b"mounted\n")
            .context("telling the parent the mounts are made")?;
        let mut resume = String::new();
        channel
            .read_line(&mut resume)
            .context("waiting for the parent")?;
        if resume.trim_end() != "resume" {
            bail!("the parent went away before the root switch");
        }
        self.steps.before_root_switch(&spec.rootfs)?;
        if mounts {
            let began = api::trace::now();
            rootfs::switch_root(&mut sys, &spec.rootfs)?;
            api::trace::step(began, "ch03-namespaces.md#step-2-switch_root", || {
                "pivot_root(2): the root filesystem is /, the host's old root detached".into()
            });
        }
        // ANCHOR: terminal_in_setup
        // The terminal comes from the container's devpts: after the switch,
        // before /proc and / may turn read-only.
        if let Some(socket) = self
            .options
            .console_socket
            .filter(|_| spec.process.terminal)
        {
            // /dev/console is bound to the terminal of the container's first
            // process only: a process joining the container's mounts (an
            // exec) leaves it alone, as runc does.
            terminal::setup_in_container(socket, spec.process.user.uid, mounts)?;
        }
        // ANCHOR_END: terminal_in_setup
        if mounts {
            let began = api::trace::now();
            rootfs::finish(&mut sys, &spec.rootfs)?;
            api::trace::step(began, "ch03-namespaces.md#step-3-finish", || {
                format!(
                    "{} paths masked, {} made read-only",
                    spec.rootfs.masked_paths.len(),
                    spec.rootfs.readonly_paths.len()
                )
            });
        }
        if let Some(hostname) = &spec.hostname {
            sys.sethostname(hostname)?;
        }
        // 6. Limits, then who we are: rlimits can only be raised while we
        //    still have CAP_SYS_RESOURCE.
        let began = api::trace::now();
        crate::process::set_rlimits(&spec.process.rlimits)?;
        self.steps.before_user_switch()?;
        crate::process::switch_user(&spec.process)?;
        api::trace::step(
            began,
            "ch03-namespaces.md#who-the-process-is-switch_user",
            || {
                let user = &spec.process.user;
                format!(
                    "becomes uid {} gid {}, {} capabilities kept",
                    user.uid,
                    user.gid,
                    spec.process.capabilities.bounding.len()
                )
            },
        );
        // Changing credentials clears the parent-death signal (prctl(2)):
        // set it again, or a non-root container would outlive its parent.
        if let Some(signal) = self.options.parent_death_signal {
            nix::sys::prctl::set_pdeathsig(signal).context("prctl(PR_SET_PDEATHSIG)")?;
        }
        nix::unistd::chdir(spec.process.cwd.as_str()).with_context(|| {
            format!(
                "chdir({}) as uid {}",
                spec.process.cwd, spec.process.user.uid
            )
        })?;
        if spec.process.no_new_privileges {
            nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
        }
        // ANCHOR: barrier
        // 7. The program is looked up now, as the user, in the container's
        //    PATH: a typo is reported before the barrier, by `create`.
        let program = exec::find_program(&spec.process.args[0], &spec.process.env)?;
        exec::close_on_exec_from(3)?;
        api::trace::moment(BARRIER, || {
            format!(
                "ready, as PID {} of its PID namespace; waits at the exec fifo",
                nix::unistd::getpid()
            )
        });
        channel
            .get_mut()
            .write_all(b"ready\n")
            .context("telling the parent we are ready")?;
        self.ready.set(true);
        // 8. The barrier.
        if let Some(fd) = self.exec_fifo {
            let reopen = format!("/proc/self/fd/{fd}");
            let mut fifo = File::options()
                .write(true)
                .open(&reopen)
                .with_context(|| format!("opening the exec fifo through {reopen}"))?;
            // Traced before the byte: `start` returns only after it.
            api::trace::moment(BARRIER, || {
                format!("released: execve({})", program.display())
            });
            fifo.write_all(b"0").context("writing to the exec fifo")?;
        }
        // ANCHOR: hold_signals_at_exec
        if self.options.hold_forwarded_signals {
            exec::reset_signals_keeping_blocked(&sig_proxy::forwarded_signal_set())?;
        } else {
            exec::reset_signals()?;
        }
        // ANCHOR_END: hold_signals_at_exec
        self.steps.before_exec()?;
        // 9. execve: the socket closes with it (close-on-exec).
        Err(exec::exec(&program, &spec.process.args, &spec.process.env))
        // ANCHOR_END: barrier
    }
    // ANCHOR_END: child_setup
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user_ns: bool) -> ContainerSpec {
        let mut kinds = vec![NamespaceKind::Pid, NamespaceKind::Mount, NamespaceKind::Uts];
        if user_ns {
            kinds.push(NamespaceKind::User);
        }
        let map = IdMap {
            container_id: 0,
            host_id: 100000,
            size: 65536,
        };
        ContainerSpec {
            namespaces: kinds.into_iter().map(Namespace::new).collect(),
            uid_mappings: if user_ns { vec![map] } else { Vec::new() },
            gid_mappings: if user_ns { vec![map] } else { Vec::new() },
            hostname: Some("box".into()),
            rootfs: RootfsPlan {
                rootfs: "/".into(),
                ..Default::default()
            },
            process: ProcessSpec {
                args: vec!["true".into()],
                cwd: "/".into(),
                ..Default::default()
            },
        }
    }

    fn error(spec: &ContainerSpec) -> String {
        format!("{:#}", spec.validate().unwrap_err())
    }

    #[test]
    fn a_plain_spec_and_a_user_namespace_spec_are_valid() {
        spec(false).validate().unwrap();
        spec(true).validate().unwrap();
    }

    #[test]
    fn id_maps_must_fit_and_cover_the_user() {
        let mut s = spec(true);
        s.uid_mappings[0].host_id = u32::MAX - 10;
        assert!(
            error(&s).contains("does not fit in 32-bit IDs"),
            "{}",
            error(&s)
        );
        let mut s = spec(true);
        s.uid_mappings.push(IdMap {
            container_id: 100,
            host_id: 500000,
            size: 1,
        });
        assert_eq!(error(&s), "uid mappings overlap");
        let mut s = spec(true);
        s.process.user.uid = 70000;
        assert_eq!(error(&s), "uid 70000 is not mapped in the user namespace");
        let mut s = spec(true);
        s.process.user.additional_gids = vec![65536];
        assert_eq!(error(&s), "gid 65536 is not mapped in the user namespace");
        let mut s = spec(true);
        s.gid_mappings.clear();
        assert_eq!(error(&s), "a user namespace needs a gid mapping");
        let mut s = spec(false);
        s.uid_mappings = spec(true).uid_mappings;
        assert_eq!(error(&s), "uid/gid mappings need a new user namespace");
    }

    #[test]
    fn hostnames_capabilities_rlimits_and_namespaces_are_checked() {
        let mut s = spec(false);
        s.hostname = Some("h".repeat(65));
        assert!(error(&s).contains("1 to 64 bytes"));
        s.namespaces.retain(|n| n.kind != NamespaceKind::Uts);
        s.hostname = Some("box".into());
        assert!(error(&s).contains("needs a new UTS namespace"));
        let mut s = spec(false);
        s.process.capabilities.ambient = vec!["CAP_FLY".into()];
        assert!(error(&s).contains("unknown capability \"CAP_FLY\""));
        let mut s = spec(false);
        s.process.rlimits = vec![Rlimit {
            kind: "RLIMIT_NOFILE".into(),
            soft: 10,
            hard: 5,
        }];
        assert!(error(&s).contains("soft limit 10 above hard limit 5"));
        let mut s = spec(false);
        s.namespaces.push(Namespace::new(NamespaceKind::Pid));
        assert_eq!(error(&s), "the pid namespace is listed twice");
        let mut s = spec(true);
        s.namespaces.push(Namespace {
            kind: NamespaceKind::Network,
            path: Some("/proc/self/ns/net".into()),
        });
        assert!(
            error(&s).contains("with a new user namespace"),
            "{}",
            error(&s)
        );
        let mut s = spec(false);
        s.process.args.clear();
        assert_eq!(error(&s), "no command to run");
    }
}
