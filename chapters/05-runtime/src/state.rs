//! What minirunc remembers between its invocations.
//!
//! runc is not a daemon: `create`, `start`, `kill` and `delete` are separate
//! processes, so everything one of them learns the next needs is written to
//! the state directory, `<root>/<id>/` (`/run/minirunc/<id>`, on a tmpfs:
//! gone at reboot, like the containers). The exec fifo lives there too while
//! the container waits to start.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::RuntimeError;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::spec::{Hooks, OCI_VERSION};

/// The container's lifecycle, as `minirunc state` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up (what the hooks before the start are told).
    Creating,
    /// Set up and waiting at the exec fifo.
    Created,
    Running,
    /// Frozen by `minirunc pause` (the cgroup freezer).
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // pad, not write_str: `{:<10}` in a table must work.
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// `<root>/<id>/state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// The process's start time (field 22 of /proc/PID/stat): a PID the
    /// kernel has given to another process since is not ours.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339.
    pub created: String,
    pub cgroup_path: String,
    pub owner: String,
    /// config.json's annotations, for the state.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The hooks `start` and `delete` still run: the bundle may be gone by then.
    #[serde(default)]
    pub hooks: Hooks,
}

/// runtime-spec's state, plus what runc adds (rootfs, created, owner).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

/// runc's rule for IDs: letters, digits, `_`, `+`, `-`, `.`; not `.` or `..`.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+-.".contains(c);
    if id.is_empty() || id == "." || id == ".." || !id.chars().all(allowed) {
        bail!("invalid id format: {id:?}");
    }
    Ok(())
}

pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Compiled seccomp filters, by profile (see [`crate::seccomp::program`]).
    /// `#` is in no container ID; `list` and `ids` skip what has no state.json.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.root.join("#seccomp")
    }

    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Claims `id`: mkdir is atomic, so two creates of one ID cannot both win.
    pub fn claim(&self, id: &str) -> anyhow::Result<PathBuf> {
        check_id(id)?;
        fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RuntimeError::Exists { id: id.into() }.into())
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }

    pub fn save(&self, saved: &Saved) -> anyhow::Result<()> {
        let path = self.dir(&saved.id).join("state.json");
        images::atomic::write_file(&path, &serde_json::to_vec_pretty(saved)?)
    }

    pub fn load(&self, id: &str) -> anyhow::Result<Saved> {
        check_id(id)?;
        let path = self.dir(id).join("state.json");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound { id: id.into() }.into());
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_slice(&bytes).with_context(|| format!("{} is corrupt", path.display()))
    }

    /// Every container's ID, sorted.
    pub fn ids(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).with_context(|| format!("listing {}", self.root.display())),
        };
        for entry in entries {
            let entry = entry?;
            if entry.path().join("state.json").exists() {
                ids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    // ANCHOR: status
    pub fn status(&self, saved: &Saved) -> Status {
        if start_time(saved.pid) != Some(saved.start_time) {
            Status::Stopped
        } else if self.fifo(&saved.id).exists() {
            Status::Created
        } else if cgroups::manager_at(&saved.cgroup_path)
            .and_then(|cgroup| cgroup.frozen())
            .unwrap_or(false)
        {
            Status::Paused
        } else {
            Status::Running
        }
    }
    // ANCHOR_END: status

    pub fn remove(&self, id: &str) -> anyhow::Result<()> {
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", dir.display()))
            }
            _ => Ok(()),
        }
    }
}

// ANCHOR: start_time
/// When `pid` started (clock ticks since boot), if it is alive: not a
/// zombie, nor being reaped.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid …": the fields after the last ')' start at field 3.
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    // Z: exited, not yet reaped. X (EXIT_DEAD): being reaped, still in
    // /proc for a moment after its parent's wait(2) took the status.
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}
// ANCHOR_END: start_time

impl Saved {
    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            // As runc: a stopped container has no PID.
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runcs_rule() {
        for good in ["web", "a.b-c_d+1", "0"] {
            check_id(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claims_are_exclusive_and_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir {
            root: dir.path().join("root"),
        };
        states.claim("c1").unwrap();
        assert_eq!(
            states.claim("c1").unwrap_err().to_string(),
            "container with id exists: c1"
        );
        let saved = Saved {
            id: "c1".into(),
            pid: std::process::id() as i32,
            start_time: start_time(std::process::id() as i32).unwrap(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            cgroup_path: "/minidocker/c1".into(),
            owner: "root".into(),
            annotations: [("org.example.owner".to_string(), "ch05".to_string())].into(),
            hooks: Default::default(),
        };
        states.save(&saved).unwrap();
        let state = serde_json::to_value(saved.oci_state(Status::Creating)).unwrap();
        assert_eq!(state["status"], "creating");
        assert_eq!(state["annotations"]["org.example.owner"], "ch05");
        let loaded = states.load("c1").unwrap();
        // This process is alive and has no fifo: "running".
        assert_eq!(states.status(&loaded), Status::Running);
        assert_eq!(states.ids().unwrap(), ["c1"]);
        let mut old = loaded.clone();
        old.start_time += 1;
        assert_eq!(
            states.status(&old),
            Status::Stopped,
            "a reused PID is not ours"
        );
        assert_eq!(
            states.load("c2").unwrap_err().to_string(),
            "container does not exist"
        );
        states.remove("c1").unwrap();
        assert!(states.ids().unwrap().is_empty());
    }
}
