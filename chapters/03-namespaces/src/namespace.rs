//! The seven namespaces a container can have, new or joined.

use std::path::PathBuf;

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceKind {
    /// Process IDs: the container's first process is PID 1 and sees only its
    /// descendants.
    Pid,
    /// The mount table: mounts made inside stay inside.
    Mount,
    /// Hostname and NIS domain name.
    Uts,
    /// System V IPC objects and POSIX message queues.
    Ipc,
    /// Network devices, addresses, routes, ports, firewall rules.
    Network,
    /// The root of the cgroup tree as /proc/self/cgroup shows it.
    Cgroup,
    /// User and group IDs, and the capabilities that go with them.
    User,
}

impl NamespaceKind {
    pub const ALL: [NamespaceKind; 7] = [
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
        NamespaceKind::Network,
        NamespaceKind::Cgroup,
        NamespaceKind::User,
    ];

    pub fn clone_flag(self) -> CloneFlags {
        match self {
            NamespaceKind::Pid => CloneFlags::CLONE_NEWPID,
            NamespaceKind::Mount => CloneFlags::CLONE_NEWNS,
            NamespaceKind::Uts => CloneFlags::CLONE_NEWUTS,
            NamespaceKind::Ipc => CloneFlags::CLONE_NEWIPC,
            NamespaceKind::Network => CloneFlags::CLONE_NEWNET,
            NamespaceKind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            NamespaceKind::User => CloneFlags::CLONE_NEWUSER,
        }
    }

    /// Its name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            NamespaceKind::Pid => "pid",
            NamespaceKind::Mount => "mnt",
            NamespaceKind::Uts => "uts",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Network => "net",
            NamespaceKind::Cgroup => "cgroup",
            NamespaceKind::User => "user",
        }
    }
}

impl std::str::FromStr for NamespaceKind {
    type Err = String;
    fn from_str(text: &str) -> Result<NamespaceKind, String> {
        NamespaceKind::ALL
            .into_iter()
            .find(|k| k.proc_name() == text || format!("{k:?}").to_lowercase() == text)
            .ok_or_else(|| {
                format!("unknown namespace {text:?}: use pid, mnt, uts, ipc, net, cgroup or user")
            })
    }
}

/// config.json's `linux.namespaces` entry: a new namespace, or (with a
/// path such as /run/netns/NAME or /proc/PID/ns/net) an existing one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: NamespaceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl Namespace {
    pub fn new(kind: NamespaceKind) -> Namespace {
        Namespace { kind, path: None }
    }
}

/// One line of /proc/PID/uid_map: `size` IDs from `container_id` inside are
/// `host_id`… outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

impl IdMap {
    pub fn contains(&self, container_id: u32) -> bool {
        container_id >= self.container_id && container_id - self.container_id < self.size
    }
}
