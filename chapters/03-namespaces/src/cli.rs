//! `run`, shared by the chapters' binaries: `ch03 run` starts a container in
//! namespaces, and `ch04 run` is the same run with a cgroup around it —
//! through [`ParentSteps`], the steps a later chapter adds while the
//! container waits to start.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use images::snapshot::{self, Snapshotter};
use images::store::ImageStore;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::container::{self, ContainerSpec, ProcessSpec, Rlimit, SpawnOptions};
use crate::mount::Mount;
use crate::namespace::{IdMap, Namespace, NamespaceKind};
use crate::process::CapabilitySets;
use crate::rootfs::{RootSwitch, RootfsPlan};
use crate::{defaults, etc, sig_proxy, terminal, user};

// ANCHOR: parent_steps
/// What a later chapter does around the start, in the parent.
pub trait ParentSteps {
    /// After spawn, before start: the container process exists in its
    /// namespaces and waits. `id` names the run (and its cgroup).
    fn before_start(&mut self, id: &str, pid: Pid) -> anyhow::Result<()>;
    /// After the container exited (`Some(code)`) or failed to start (`None`).
    fn after_exit(&mut self, exit_code: Option<i32>);
}
// ANCHOR_END: parent_steps

/// Chapter 03 has none.
pub struct NoParentSteps;

impl ParentSteps for NoParentSteps {
    fn before_start(&mut self, _id: &str, _pid: Pid) -> anyhow::Result<()> {
        Ok(())
    }
    fn after_exit(&mut self, _exit_code: Option<i32>) {}
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A root filesystem directory.
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    pub rootfs: Option<PathBuf>,
    /// An image of the store: an overlay snapshot of it, removed afterwards.
    #[arg(long)]
    pub image: Option<String>,
    /// How the rootfs becomes `/`: pivot-root, or the naive chroot.
    #[arg(long = "switch", default_value = "pivot-root")]
    pub switch: RootSwitch,
    /// The container's hostname (default: the run's ID).
    #[arg(long)]
    pub hostname: Option<String>,
    /// USER[:GROUP], names or numbers, looked up in the rootfs.
    #[arg(short, long)]
    pub user: Option<String>,
    /// A user namespace: container root is host uid/gid 100000 (65536 IDs).
    /// Needs --rootfs owned by 100000 (image layers belong to host root).
    #[arg(long)]
    pub userns: bool,
    /// With --userns: the first host ID of the mapped range.
    #[arg(long, default_value_t = 100000, requires = "userns")]
    pub userns_base: u32,
    /// Run CMD under minidocker-init, which forwards signals and reaps zombies.
    #[arg(long)]
    pub init: bool,
    /// Give the container a terminal (a pty), relayed to ours.
    #[arg(short, long)]
    pub tty: bool,
    /// KEY=VALUE for the environment.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// The working directory (created if missing).
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Mount / read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Set no_new_privs: setuid binaries and file capabilities grant nothing.
    #[arg(long)]
    pub no_new_privileges: bool,
    /// NAME=SOFT[:HARD], e.g. nofile=1024:2048.
    #[arg(long = "ulimit")]
    pub ulimits: Vec<String>,
    /// NS=PATH: join an existing namespace instead of a new one (net=/run/netns/x).
    #[arg(long = "join")]
    pub joins: Vec<String>,
    /// Stop before execve until another process opens this fifo (created) for reading.
    #[arg(long)]
    pub exec_fifo: Option<PathBuf>,
    /// The command (default: the image's ENTRYPOINT and CMD).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// A run's own directory: the snapshot's mount point and the /etc files.
struct RunDir {
    path: PathBuf,
    snapshot: Option<(ImageStore, PathBuf)>,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Some((store, target)) = &self.snapshot {
            if let Err(e) = snapshot::unmount(store, target) {
                eprintln!("removing the snapshot at {}: {e:#}", target.display());
                return; // leave the directory: something is still mounted
            }
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Runs a container in the foreground: its exit code, or an error (a
/// [`container::ContainerError`] carries the code Docker would give it).
pub fn run(root: &Path, args: RunArgs, steps: &mut dyn ParentSteps) -> anyhow::Result<i32> {
    sig_proxy::hold_signals()?;
    if args.userns && args.image.is_some() {
        bail!(
            "--userns needs --rootfs: image layers belong to host root, which the container's \
             root is not (make a copy owned by {0}: cp -a ROOTFS R && chown -R {0}:{0} R)",
            args.userns_base
        );
    }
    let rlimits = args
        .ulimits
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut namespaces: Vec<Namespace> = [
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
        NamespaceKind::Network,
        NamespaceKind::Cgroup,
    ]
    .into_iter()
    .map(Namespace::new)
    .collect();
    if args.userns {
        namespaces.push(Namespace::new(NamespaceKind::User));
    }
    for join in &args.joins {
        let (kind, path) = join
            .split_once('=')
            .with_context(|| format!("--join {join}: use NS=PATH, e.g. net=/run/netns/NAME"))?;
        let kind: NamespaceKind = kind.parse().map_err(anyhow::Error::msg)?;
        let slot = namespaces
            .iter_mut()
            .find(|n| n.kind == kind)
            .context("cannot join that one")?;
        slot.path = Some(PathBuf::from(path));
    }
    let id = api::names::random_id().context("reading /dev/urandom for an ID")?;
    if let Some(path) = &args.rootfs {
        if !path.is_dir() {
            bail!("--rootfs {}: no such directory", path.display());
        }
    }
    let store = match &args.image {
        Some(_) => Some(ImageStore::open(root)?),
        None => None,
    };
    let image = match (&store, &args.image) {
        (Some(store), Some(name)) => Some(store.resolve(name)?),
        _ => None,
    };
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    if hostname.is_empty() || hostname.len() > 64 {
        bail!("--hostname {hostname:?}: must be 1 to 64 bytes long");
    }

    // From here on, files are created: RunDir removes them on every path.
    let dir = root.join("ch03").join(&id);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut run_dir = RunDir {
        path: dir.clone(),
        snapshot: None,
    };
    let rootfs = match (&args.rootfs, &image, store) {
        (Some(path), _, _) => fs::canonicalize(path)?,
        (None, Some(image), Some(store)) => {
            let target = dir.join("rootfs");
            snapshot::mount(&store, image, &target, Snapshotter::Overlay)?;
            run_dir.snapshot = Some((store, target.clone()));
            target
        }
        _ => unreachable!("clap requires --rootfs or --image"),
    };
    let config = image
        .as_ref()
        .map(|i| i.config.config.clone())
        .unwrap_or_default();
    let process = config.merged(&images::oci::RunOverrides {
        cmd: args.command.clone(),
        env: args.env.clone(),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        ..Default::default()
    })?;
    let resolved = user::resolve(&rootfs, &process.user)?;
    let mut command = process.args;
    let mut mounts = defaults::mounts();
    let etc_options = etc::EtcOptions {
        hostname: hostname.clone(),
        ..etc::EtcOptions::default()
    };
    for (name, content) in etc::files(&etc_options) {
        let path = dir.join(name);
        fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        mounts.push(Mount::bind(
            &path.to_string_lossy(),
            &format!("/etc/{name}"),
            false,
        ));
    }
    if args.init {
        let init = images::static_binary::find("minidocker-init")?;
        mounts.push(Mount::bind(
            &init.to_string_lossy(),
            defaults::INIT_PATH,
            true,
        ));
        command.splice(0..0, [defaults::INIT_PATH.to_string(), "--".to_string()]);
    }

    let mut env = process.env;
    let mut add_unless_set = |key: &str, value: &str| {
        if !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(format!("{key}={value}"));
        }
    };
    add_unless_set("HOSTNAME", &hostname);
    if args.tty {
        add_unless_set("TERM", "xterm"); // as docker run -t
    }
    add_unless_set("HOME", &resolved.home);
    let cwd = process.working_dir;
    if !cwd.starts_with('/') {
        bail!("-w {cwd}: the working directory must be an absolute path");
    }
    let id_map = |size| {
        vec![IdMap {
            container_id: 0,
            host_id: args.userns_base,
            size,
        }]
    };
    let (uid_mappings, gid_mappings) = if args.userns {
        (id_map(65536), id_map(65536))
    } else {
        (Vec::new(), Vec::new())
    };
    let spec = ContainerSpec {
        namespaces,
        uid_mappings,
        gid_mappings,
        hostname: Some(hostname),
        rootfs: RootfsPlan {
            rootfs,
            mounts,
            switch: args.switch,
            bind_devices: args.userns,
            masked_paths: defaults::MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            readonly_paths: defaults::READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            readonly_rootfs: args.read_only,
            root_propagation: None,
        },
        process: ProcessSpec {
            args: command,
            env,
            cwd,
            user: resolved.user,
            capabilities: CapabilitySets::bounded(defaults::CAPABILITIES),
            no_new_privileges: args.no_new_privileges,
            rlimits,
            terminal: args.tty,
        },
    };
    let fifo = match &args.exec_fifo {
        Some(path) => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .with_context(|| format!("mkfifo {}", path.display()))?;
            Some(FifoGuard(path.clone()))
        }
        None => None,
    };
    // (ours, the container's): the pty master comes back over it.
    let console = match args.tty {
        true => Some(UnixStream::pair().context("socketpair for the console")?),
        false => None,
    };
    let options = SpawnOptions {
        // The container runs in the foreground: if its CLI dies, so does it.
        parent_death_signal: Some(Signal::SIGKILL),
        exec_fifo: args.exec_fifo.clone(),
        console_socket: console.as_ref().map(|(_, theirs)| theirs.as_raw_fd()),
        // minidocker-init takes signals itself: those sent before it runs wait.
        hold_forwarded_signals: args.init,
    };
    let mut container = container::spawn(&spec, &options)?;
    // The parent-side steps, while the container waits: chapter 04 puts it
    // in its cgroup here.
    let started = steps.before_start(&id, container.pid()).and_then(|()| {
        sig_proxy::forward_signals(container.pid())?;
        container.start()
    });
    if let Err(e) = started {
        container.kill();
        steps.after_exit(None);
        return Err(e);
    }
    if let Some(fifo) = &fifo {
        eprintln!(
            "container {id} (pid {}) waits before execve: `cat {}` starts it",
            container.pid(),
            fifo.0.display()
        );
    }
    if let Some((ours, _)) = &console {
        let relayed = terminal::receive_master(ours.as_raw_fd()).and_then(terminal::relay);
        if let Err(e) = relayed {
            container.kill();
            steps.after_exit(None);
            return Err(e);
        }
    }
    let code = container.wait();
    steps.after_exit(code.as_ref().ok().copied());
    drop(run_dir);
    code
}

struct FifoGuard(PathBuf);

impl Drop for FifoGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// `nofile=1024:2048` → RLIMIT_NOFILE 1024/2048 (`nofile=1024`: both 1024).
fn parse_ulimit(text: &str) -> anyhow::Result<Rlimit> {
    let usage = || format!("--ulimit {text}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048");
    let (name, limits) = text.split_once('=').with_context(usage)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let rlimit = Rlimit {
        kind: format!("RLIMIT_{}", name.to_uppercase()),
        soft: soft.parse().with_context(usage)?,
        hard: hard.parse().with_context(usage)?,
    };
    crate::process::resource(&rlimit.kind)?;
    Ok(rlimit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_are_named_like_docker_run_ulimit() {
        let nofile = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!(
            (nofile.kind.as_str(), nofile.soft, nofile.hard),
            ("RLIMIT_NOFILE", 1024, 2048)
        );
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("nofile").is_err());
        assert!(parse_ulimit("wings=1").is_err());
    }
}
