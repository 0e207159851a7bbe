//! `linux.sysctl`: kernel parameters set for the container alone.
//!
//! Most of /proc/sys is one value for the whole machine; only the
//! parameters a namespace carries can be given a container without changing
//! them for everyone. runc's rule, kept here: `net.*` needs a network
//! namespace of its own, the System V IPC and POSIX queue limits an IPC
//! namespace, `kernel.hostname`/`kernel.domainname` a UTS namespace; any
//! other name is refused.

use std::path::PathBuf;

use anyhow::{Context, bail};
use namespaces::namespace::NamespaceKind;

/// Parameters an IPC namespace carries (ipc_namespaces(7)).
const IPC: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

// ANCHOR: sysctl_path
/// The file under /proc/sys for `name`, if the container's namespaces
/// (`has` tells which it has of its own) carry it.
pub fn path(name: &str, has: impl Fn(NamespaceKind) -> bool) -> anyhow::Result<PathBuf> {
    // Both spellings work for sysctl(8): net.ipv4.ip_forward, net/ipv4/ip_forward.
    let relative = name.replace('.', "/");
    let dotted = relative.replace('/', ".");
    if relative
        .split('/')
        .any(|part| part.is_empty() || part == "..")
    {
        bail!("sysctl {name:?} is not a valid name");
    }
    let needs = if dotted.starts_with("net.") {
        NamespaceKind::Network
    } else if IPC.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
        NamespaceKind::Ipc
    } else if dotted == "kernel.hostname" || dotted == "kernel.domainname" {
        NamespaceKind::Uts
    } else {
        bail!("sysctl {name:?} is not in a separate kernel namespace: it would change the host");
    };
    if !has(needs) {
        bail!(
            "sysctl {name:?} needs a {} namespace of the container's own",
            needs.proc_name()
        );
    }
    Ok(PathBuf::from("/proc/sys").join(relative))
}
// ANCHOR_END: sysctl_path

/// Writes the values. Run by the container process in its namespaces:
/// /proc/sys/net shows the network namespace of whoever opens it, and so
/// do the IPC and UTS parameters.
pub fn apply(entries: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for (path, value) in entries {
        std::fs::write(path, value)
            .with_context(|| format!("writing {value:?} to {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_parameters_are_accepted() {
        let all = |_| true;
        assert_eq!(
            path("net.ipv4.ip_forward", all).unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            path("kernel/shmmax", all).unwrap(),
            PathBuf::from("/proc/sys/kernel/shmmax")
        );
        assert!(path("fs.mqueue.msg_max", all).is_ok());
        let err = path("vm.swappiness", all).unwrap_err().to_string();
        assert!(err.contains("would change the host"), "{err}");
        let no_net = |kind| kind != NamespaceKind::Network;
        let err = path("net.core.somaxconn", no_net).unwrap_err().to_string();
        assert!(err.contains("needs a net namespace"), "{err}");
        assert!(path("net..x", all).is_err());
        assert!(path("net/../../etc", all).is_err());
    }
}
