//! `minidocker doctor`: one line per thing the engine needs from this
//! machine, each ✔ or ✘ with the fix. Each check asks the kernel itself
//! where it can (a namespace is made, an overlay is mounted, a pidfd is
//! opened), because a file that says a feature exists is not the feature.

use clap::Args;
use nix::sched::CloneFlags;

use super::ConnectionFlags;
use crate::config;

#[derive(Args, Debug)]
pub struct DoctorArgs {}

// ANCHOR: run
/// Each check: what was seen when all is well, the fix when not.
pub fn run(_args: &DoctorArgs, connection: &ConnectionFlags) -> anyhow::Result<i32> {
    let checks = [
        ("root", root()),
        ("namespaces", namespaces()),
        ("overlayfs", overlayfs()),
        ("cgroups", cgroups()),
        ("seccomp", seccomp()),
        ("pidfd", pidfd()),
        ("minirunc", binary("minirunc")),
        ("minishim", binary("minishim")),
        ("minidocker-init", init()),
        ("busybox-static", busybox()),
        ("socket group", socket_group()),
        ("daemon", daemon(connection)),
    ];
    let mut healthy = true;
    for (name, outcome) in &checks {
        match outcome {
            Ok(seen) => println!("✔ {name}: {seen}"),
            Err(fix) => {
                healthy = false;
                println!("✘ {name}: {fix}");
            }
        }
    }
    Ok(if healthy { 0 } else { 1 })
}
// ANCHOR_END: run

fn root() -> Result<String, String> {
    if nix::unistd::geteuid().is_root() {
        Ok("running as root".into())
    } else {
        Err(
            "not root: the engine mounts and makes namespaces and cgroups — run the checks \
             (and minidockerd) as root"
                .into(),
        )
    }
}

// ANCHOR: in_child
/// Runs `probe` in a forked child (unshare and mount change the caller
/// for good); its exit status 0 means the kernel allowed it.
fn in_child(probe: impl FnOnce() -> bool) -> bool {
    // SAFETY: doctor forks before any other thread exists; the child only
    // makes syscalls and exits.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let ok = probe();
            // SAFETY: _exit skips destructors the parent owns.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => matches!(
            nix::sys::wait::waitpid(child, None),
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
        ),
        Err(_) => false,
    }
}
// ANCHOR_END: in_child

// ANCHOR: namespaces
fn namespaces() -> Result<String, String> {
    let kinds = [
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("net", CloneFlags::CLONE_NEWNET),
        ("user", CloneFlags::CLONE_NEWUSER),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ];
    let refused: Vec<&str> = kinds
        .iter()
        .filter(|(_, flag)| !in_child(|| nix::sched::unshare(*flag).is_ok()))
        .map(|(name, _)| *name)
        .collect();
    if refused.is_empty() {
        Ok(kinds.map(|(name, _)| name).join(" ") + " (unshare(2) of each succeeded)")
    } else {
        Err(format!(
            "unshare(2) refused {}: run as root on a kernel with CONFIG_NAMESPACES \
             (user namespaces: sysctl kernel.unprivileged_userns_clone=1 where it exists)",
            refused.join(" ")
        ))
    }
}
// ANCHOR_END: namespaces

// ANCHOR: overlayfs
/// Mounts a real overlay (two layers, one upper) in a private mount
/// namespace of a child, in a temporary directory.
fn overlayfs() -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let base = dir.path();
    for sub in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(base.join(sub))
            .map_err(|e| format!("mkdir in {}: {e}", base.display()))?;
    }
    let options = format!(
        "lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work",
        base.display()
    );
    let mounted = in_child(|| {
        nix::sched::unshare(CloneFlags::CLONE_NEWNS).is_ok()
            && nix::mount::mount(
                Some("overlay"),
                &base.join("merged"),
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(options.as_str()),
            )
            .is_ok()
    });
    if mounted {
        Ok("an overlay mounted (lowerdir, upperdir, workdir)".into())
    } else {
        Err(
            "cannot mount overlay: load the module (modprobe overlay), and keep the data root \
             on ext4 or xfs, not on overlay or tmpfs"
                .into(),
        )
    }
}
// ANCHOR_END: overlayfs

fn cgroups() -> Result<String, String> {
    match cgroups::hierarchy::Hierarchy::detect() {
        Ok(cgroups::hierarchy::Hierarchy::V1 { controllers, .. }) => {
            let missing: Vec<&&str> = cgroups::hierarchy::V1_CONTROLLERS
                .iter()
                .filter(|c| !controllers.contains_key(**c))
                .collect();
            let names: Vec<&String> = controllers.keys().collect();
            if missing.is_empty() {
                Ok(format!("v1, cgroupfs driver, controllers {names:?}"))
            } else {
                Err(format!(
                    "v1 without {missing:?}: mount them (mount -t cgroup -o NAME cgroup /sys/fs/cgroup/NAME)"
                ))
            }
        }
        Ok(cgroups::hierarchy::Hierarchy::V2 { root }) => {
            let available =
                std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            let missing: Vec<&str> = ["cpu", "memory", "pids"]
                .into_iter()
                .filter(|c| !available.split_whitespace().any(|a| a == *c))
                .collect();
            if missing.is_empty() {
                Ok(format!(
                    "v2 at {}, cgroupfs driver, controllers {}",
                    root.display(),
                    available.trim()
                ))
            } else {
                Err(format!(
                    "v2 without {missing:?} in {}: boot with systemd.unified_cgroup_hierarchy=1 and enable them",
                    root.display()
                ))
            }
        }
        Err(e) => Err(format!("{e:#}")),
    }
}

fn seccomp() -> Result<String, String> {
    // Present when the kernel has CONFIG_SECCOMP_FILTER.
    let actions =
        std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").map_err(|_| {
            "the kernel has no seccomp filters (CONFIG_SECCOMP_FILTER): use a distribution kernel"
                .to_string()
        })?;
    let profile = runtime::seccomp::default_profile(&[]);
    runtime::seccomp::compile(&profile).map_err(|e| {
        format!("libseccomp cannot compile Docker's profile: {e:#} (apt-get install libseccomp2)")
    })?;
    Ok(format!(
        "the kernel filters syscalls ({} actions), Docker's default profile compiles",
        actions.split_whitespace().count()
    ))
}

fn pidfd() -> Result<String, String> {
    namespaces::pidfd::PidFd::open(std::process::id() as i32)
        .map(|_| "pidfd_open(2) works (Linux 5.3+)".to_string())
        .map_err(|e| format!("pidfd_open(2): {e}: the engine needs Linux 5.3 or newer"))
}

fn binary(name: &str) -> Result<String, String> {
    config::sibling_binary(name)
        .map(|path| path.display().to_string())
        .map_err(|_| "not beside minidocker nor on PATH: build it (scripts/build.sh, or cargo build --workspace)".to_string())
}

fn init() -> Result<String, String> {
    images::static_binary::find("minidocker-init")
        .map(|path| format!("{} (for --init)", path.display()))
        .map_err(|e| format!("{e:#}"))
}

fn busybox() -> Result<String, String> {
    let path = images::rootfs::busybox_path().map_err(|e| format!("{e:#}"))?;
    match images::static_binary::is_static_elf(&path) {
        Ok(true) => Ok(format!(
            "{} (static: the offline busybox image)",
            path.display()
        )),
        _ => Err(format!(
            "{} is not static: apt-get install busybox-static",
            path.display()
        )),
    }
}

fn socket_group() -> Result<String, String> {
    match nix::unistd::Group::from_name("minidocker") {
        Ok(Some(group)) => Ok(format!(
            "group minidocker ({} members) may use the socket",
            group.mem.len()
        )),
        _ => Err(
            "no group minidocker: only root may use the socket — groupadd --system minidocker, \
                  then usermod -aG minidocker $USER (scripts/provision.sh does both)"
                .into(),
        ),
    }
}

/// Not running is not a fault of the machine: the quickstart asks before
/// it starts the daemon. Running but unreachable (permissions) is.
fn daemon(connection: &ConnectionFlags) -> Result<String, String> {
    match super::connect(connection, None) {
        Ok(client) => Ok(format!(
            "minidockerd answers at {} (API {})",
            client.host(),
            client.version()
        )),
        Err(e) if e.to_string().starts_with("Cannot connect") => Ok(
            "not running yet: start it as root with `minidockerd &` (-H to choose the socket)"
                .into(),
        ),
        Err(e) => Err(format!("{e:#}")),
    }
}
