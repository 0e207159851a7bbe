//! How a daemon was started: dockerd's flags, where they exist, with the
//! workshop's defaults (`/var/lib/minidocker`, `/run/minidocker`,
//! `/run/minidocker.sock`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The runtime every container gets unless it asks for another.
pub const DEFAULT_RUNTIME: &str = "minirunc";

#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Images, containers, logs: what survives a reboot.
    pub data_root: PathBuf,
    /// Shims' sockets and status files, runtime state, network
    /// namespaces: what a reboot clears.
    pub exec_root: PathBuf,
    /// Runtime names (`HostConfig.Runtime`) and their binaries.
    pub runtimes: BTreeMap<String, PathBuf>,
    pub default_runtime: String,
    /// The supervisor binary: one process of it per running container.
    pub shim: PathBuf,
    /// minidocker-init, bound into `--init` containers (when built).
    pub init: Option<PathBuf>,
    pub debug: bool,
    /// A clean stop leaves the containers running (`--live-restore`).
    pub live_restore: bool,
    /// Every container traced, and its trace logged (`--explain`).
    pub explain: bool,
}

impl DaemonConfig {
    /// Where the shims of this daemon keep their directories.
    pub fn shim_root(&self) -> PathBuf {
        self.exec_root.join("shims")
    }

    /// The `--root` of runtime `name`: its state directory, one per daemon.
    pub fn runtime_root(&self, name: &str) -> PathBuf {
        self.exec_root.join("runtime").join(name)
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }

    /// The binary of runtime `name`, or an error that lists the known ones.
    pub fn runtime(&self, name: &str) -> anyhow::Result<&Path> {
        match self.runtimes.get(name) {
            Some(path) => Ok(path),
            None => bail!(
                "unknown runtime specified {name}: known runtimes are {} (add one with --add-runtime NAME=PATH)",
                self.runtimes.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A binary of the workspace: beside this executable (cargo puts every
/// package's binaries in one target directory), else on PATH.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the running executable")?;
    if let Some(dir) = exe.parent() {
        let beside = dir.join(name);
        if beside.is_file() {
            return Ok(beside);
        }
    }
    on_path(name).with_context(|| {
        format!(
            "{name} is neither beside {} nor on PATH: build the workspace (cargo build --workspace, or scripts/build.sh)",
            exe.display()
        )
    })
}

/// `name` found on PATH, as a shell would.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}
