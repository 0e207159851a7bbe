//! One container as the daemon knows it: what it was created with, its
//! state, and the file that keeps both (`DATA_ROOT/containers/ID/container.json`,
//! replaced atomically on every change, so a killed daemon loses nothing).
//! (moby: `container/container.go`, `container/state.go`.)

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use api::containers::{Status, WaitCondition};
use api::types::{ContainerConfig, HostConfig};
use runtime::shim::client::Attached;
use serde::{Deserialize, Serialize};

/// The state: `State` in inspect.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// created, running, paused or exited.
    pub status: String,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// Why the last start failed.
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// A start or a removal under way, written down before its first step:
    /// a daemon that died in the middle finds it, and finishes or undoes it
    /// ([`super::Daemon::restore`]).
    #[serde(default)]
    pub starting: bool,
    #[serde(default)]
    pub removing: bool,
    /// With a health check: the probes' verdict and last results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

impl State {
    pub fn status(&self) -> Status {
        match self.status.as_str() {
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "exited" => Status::Exited,
            _ => Status::Created,
        }
    }

    /// Running or paused — or restarting, which Docker counts as running
    /// too (`rm` refuses it, `wait` waits, `stop` ends it).
    pub fn is_running(&self) -> bool {
        matches!(
            self.status(),
            Status::Running | Status::Paused | Status::Restarting
        )
    }

    /// A process is there: running or paused.
    pub fn has_process(&self) -> bool {
        matches!(self.status(), Status::Running | Status::Paused)
    }
}

/// Everything about a container that outlives the daemon.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    pub image_id: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: State,
    pub runtime: String,
    pub restart_count: i64,
    /// Stopped or killed by a user since its last start: an
    /// `unless-stopped` container stays down at the next daemon start.
    #[serde(default)]
    pub manually_stopped: bool,
}

/// An attach that came before the container's process: `/start` connects
/// it to the shim just before the process runs, so no output is missed.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub deliver: Sender<Attached>,
}

pub struct Container {
    pub id: String,
    /// `DATA_ROOT/containers/ID`.
    pub dir: PathBuf,
    record: Mutex<Record>,
    /// Signalled on every state change, and on removal.
    changed: Condvar,
    /// Exits seen by this daemon (for `wait?condition=next-exit`), and
    /// whether the container is gone.
    progress: Mutex<Progress>,
    /// One lifecycle operation at a time: start, stop, remove.
    pub operation: Mutex<()>,
    pub pending_attaches: Mutex<Vec<PendingAttach>>,
    /// False while a restarted daemon reattaches to it: requests for this
    /// container wait for that, requests for others do not.
    restored: Mutex<bool>,
    restored_changed: Condvar,
    pub restarts: super::restart::RestartManager,
    pub health: super::health::HealthMonitor,
    /// Its trace file, when it is traced (`--explain`).
    pub trace: Option<api::trace::TraceFile>,
}

#[derive(Default, Clone, Copy)]
struct Progress {
    exits: u64,
    removed: bool,
}

impl Container {
    pub fn new(dir: &Path, record: Record) -> Container {
        Container {
            id: record.id.clone(),
            dir: dir.to_path_buf(),
            record: Mutex::new(record),
            changed: Condvar::new(),
            progress: Mutex::new(Progress::default()),
            operation: Mutex::new(()),
            pending_attaches: Mutex::new(Vec::new()),
            restored: Mutex::new(true),
            restored_changed: Condvar::new(),
            restarts: Default::default(),
            health: Default::default(),
            trace: super::explain::open(dir),
        }
    }

    /// A container found on disk, to be reattached before it is used.
    pub fn found(dir: &Path, record: Record) -> Container {
        let container = Container::new(dir, record);
        *container.restored.lock().unwrap_or_else(|e| e.into_inner()) = false;
        container
    }

    pub fn mark_restored(&self) {
        *self.restored.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.restored_changed.notify_all();
    }

    /// Waits until a restarted daemon has reattached to this container.
    pub fn wait_restored(&self) {
        let mut restored = self.restored.lock().unwrap_or_else(|e| e.into_inner());
        while !*restored {
            restored = self
                .restored_changed
                .wait(restored)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the record, for readers that take their time.
    pub fn snapshot(&self) -> Record {
        self.record().clone()
    }

    pub fn name(&self) -> String {
        self.record().name.clone()
    }

    pub fn state(&self) -> State {
        self.record().state.clone()
    }

    pub fn config_path(dir: &Path) -> PathBuf {
        dir.join("container.json")
    }

    // ANCHOR: update
    /// Changes the record and writes it down before anyone sees the change.
    pub fn update(&self, change: impl FnOnce(&mut Record)) -> anyhow::Result<()> {
        let mut record = self.record();
        let mut next = record.clone();
        change(&mut next);
        images::atomic::write_file(
            &Container::config_path(&self.dir),
            &serde_json::to_vec_pretty(&next)?,
        )?;
        *record = next;
        drop(record);
        self.changed.notify_all();
        Ok(())
    }
    // ANCHOR_END: update

    /// Records an exit (after the state says so): `next-exit` waiters wake.
    pub fn note_exit(&self) {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.exits += 1;
        drop(progress);
        self.notify();
    }

    pub fn note_removed(&self) {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.removed = true;
        drop(progress);
        self.end_pending_attaches();
        self.notify();
    }

    /// Attaches that waited for a start that will not come (it failed, or
    /// the container went) end now: their senders go, their relays return.
    pub fn end_pending_attaches(&self) {
        self.pending_attaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn is_removed(&self) -> bool {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .removed
    }

    fn notify(&self) {
        // Taken so a waiter between its check and its wait cannot miss it.
        let _record = self.record();
        self.changed.notify_all();
    }

    /// The number of exits so far: a `next-exit` wait waits for more.
    pub fn exits(&self) -> u64 {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .exits
    }

    // ANCHOR: wait
    /// Blocks until `condition` holds (or `limit` passes: `None`), and
    /// returns the exit code then. `exits_before` is [`Container::exits`]
    /// when the wait was asked for.
    pub fn wait(
        &self,
        condition: WaitCondition,
        exits_before: u64,
        limit: Option<Duration>,
    ) -> Option<i64> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut record = self.record();
        loop {
            let progress = *self.progress.lock().unwrap_or_else(|e| e.into_inner());
            let done = match condition {
                WaitCondition::NotRunning => !record.state.is_running() || progress.removed,
                WaitCondition::NextExit => progress.exits > exits_before || progress.removed,
                WaitCondition::Removed => progress.removed,
            };
            if done {
                return Some(record.state.exit_code);
            }
            record = match deadline {
                None => self.changed.wait(record).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(record, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
    // ANCHOR_END: wait
}

/// An RFC 3339 time, as the records keep them.
pub fn parse_time(text: Option<&str>) -> Option<SystemTime> {
    text.and_then(|t| humantime::parse_rfc3339(t).ok())
}
