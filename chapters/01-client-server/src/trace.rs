//! A trace of one container's way through every layer, for `minidocker
//! run --explain`: each process records the steps it takes itself, with
//! their real times, as one JSON line each in a shared file.
//!
//! The engine, the shim and the runtime are three programs, and the
//! runtime's setup half-runs in a fourth process, the container's init
//! before its execve. None of them can time another's work, so each
//! appends its own lines to the file the engine names in
//! `MINIDOCKER_TRACE` (the shim and the runtime inherit it; the
//! container's program never sees it: the runtime gives it the
//! environment of config.json). Lines from different processes can be put
//! in order because every time is read from `CLOCK_MONOTONIC`, one clock
//! for the whole machine. Off — no variable — a step costs one check.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

/// The variable that names the trace file, for a shim and its runtime.
pub const TRACE_ENV: &str = "MINIDOCKER_TRACE";

/// Who took a step: one layer of the stack, one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Layer {
    /// The command line (chapter 01, the engine's CLI).
    Minidocker,
    /// The engine's daemon.
    Minidockerd,
    /// The shim that stays with the container (chapter 05).
    Minishim,
    /// The runtime (chapter 05, on chapters 03 and 04).
    Minirunc,
    /// The container's first process, before its execve.
    Container,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Minidocker => "minidocker",
            Layer::Minidockerd => "minidockerd",
            Layer::Minishim => "minishim",
            Layer::Minirunc => "minirunc",
            Layer::Container => "container",
        }
    }
}

// ANCHOR: step
/// One step: who, what, when and for how long, and the book's page on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Step {
    /// When it began: `CLOCK_MONOTONIC`, in nanoseconds.
    pub at: u64,
    /// How long it took, in nanoseconds; 0 for a moment (an exit, a PID).
    pub took: u64,
    pub who: Layer,
    pub what: String,
    /// The page of the book that builds it: `ch05-runtime.md#start`.
    pub page: String,
}
// ANCHOR_END: step

/// Now, on the clock every process of the machine shares. (Rust's
/// `Instant` reads the same clock, but cannot say its value.)
pub fn now() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes only the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time) };
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}

/// A trace file, appended to a line at a time. `O_APPEND` makes each
/// write(2) land whole at the end, whichever process makes it; the file
/// is closed on execve, so no container program inherits it.
#[derive(Debug)]
pub struct TraceFile {
    file: File,
}

impl TraceFile {
    pub fn open(path: &Path) -> std::io::Result<TraceFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = File::options()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        Ok(TraceFile { file })
    }

    /// Empties the file: a new run of the container, a new trace.
    pub fn clear(&self) {
        let _ = self.file.set_len(0);
    }

    /// Records a step that began at `at` and ends now.
    pub fn step(&self, who: Layer, at: u64, page: &str, what: impl FnOnce() -> String) {
        self.record(&Step {
            at,
            took: now().saturating_sub(at),
            who,
            what: what(),
            page: page.to_string(),
        });
    }

    /// Records a moment: a step that takes no time.
    pub fn moment(&self, who: Layer, page: &str, what: impl FnOnce() -> String) {
        self.record(&Step {
            at: now(),
            took: 0,
            who,
            what: what(),
            page: page.to_string(),
        });
    }

    pub fn record(&self, step: &Step) {
        let mut line = serde_json::to_vec(step).expect("a step serializes");
        line.push(b'\n');
        // One write(2), no lock: it is safe in a child cloned from a
        // multi-threaded parent, and a failed trace never fails the work.
        let _ = (&self.file).write_all(&line);
    }
}

// ANCHOR: from_env
static FROM_ENV: OnceLock<Option<TraceFile>> = OnceLock::new();
static WHO: AtomicU8 = AtomicU8::new(Layer::Minirunc as u8);

/// This process's trace file: the one `MINIDOCKER_TRACE` names, if any.
/// `who` says which layer this process is.
pub fn init_from_env(who: Layer) {
    WHO.store(who as u8, Ordering::Relaxed);
    FROM_ENV.get_or_init(|| {
        let path = std::env::var_os(TRACE_ENV)?;
        TraceFile::open(Path::new(&path)).ok()
    });
}

/// Whether this process records steps: when it does not, a caller skips
/// the work of describing one.
pub fn on() -> bool {
    FROM_ENV.get().is_some_and(Option::is_some)
}

/// Records a step of this process that began at `at` and ends now.
pub fn step(at: u64, page: &str, what: impl FnOnce() -> String) {
    if let Some(Some(file)) = FROM_ENV.get() {
        file.step(whoami(), at, page, what);
    }
}
// ANCHOR_END: from_env

/// A moment: a step that takes no time.
pub fn moment(page: &str, what: impl FnOnce() -> String) {
    if let Some(Some(file)) = FROM_ENV.get() {
        file.moment(whoami(), page, what);
    }
}

/// A process cloned from this one that is another layer: the container's
/// init, cloned by the runtime, records its own steps as `container`.
pub fn become_layer(who: Layer) {
    WHO.store(who as u8, Ordering::Relaxed);
}

fn whoami() -> Layer {
    match WHO.load(Ordering::Relaxed) {
        0 => Layer::Minidocker,
        1 => Layer::Minidockerd,
        2 => Layer::Minishim,
        3 => Layer::Minirunc,
        _ => Layer::Container,
    }
}

// ANCHOR: laps
/// A program's own run cut into consecutive steps, for the command line:
/// each lap runs from the end of the one before to now, so together they
/// cover the whole run, and their times add up to it.
#[derive(Debug)]
pub struct Laps {
    who: Layer,
    steps: Mutex<(u64, Vec<Step>)>,
}

impl Laps {
    pub fn new(who: Layer, started: u64) -> Laps {
        Laps {
            who,
            steps: Mutex::new((started, Vec::new())),
        }
    }

    pub fn lap(&self, page: &str, what: String) {
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let (at, end) = (steps.0, now());
        steps.1.push(Step {
            at,
            took: end - at,
            who: self.who,
            what,
            page: page.to_string(),
        });
        steps.0 = end;
    }

    /// The laps so far.
    pub fn steps(&self) -> Vec<Step> {
        self.steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}
// ANCHOR_END: laps

/// The steps of a trace file, in order of time. A line cut short by a
/// process killed mid-write is skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<Step>> {
    let text = std::fs::read_to_string(path)?;
    let mut steps: Vec<Step> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    sort(&mut steps);
    Ok(steps)
}

/// In order of time; of two that began together, the outer layer first.
pub fn sort(steps: &mut [Step]) {
    steps.sort_by_key(|s| (s.at, s.who));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_of_several_writers_come_back_in_order_and_a_cut_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let daemon = TraceFile::open(&path).unwrap();
        let runtime = TraceFile::open(&path).unwrap();
        let first = now();
        let second = now();
        runtime.step(Layer::Minirunc, second, "ch05-runtime.md#create", || {
            "create".into()
        });
        daemon.step(Layer::Minidockerd, first, "engine.md#start", || {
            "start".into()
        });
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"At\":12,\"To")
            .unwrap();
        let steps = read(&path).unwrap();
        let whats: Vec<&str> = steps.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(whats, ["start", "create"]);
        assert!(steps[0].took >= steps[1].took);
        assert_eq!(steps[1].who, Layer::Minirunc);
    }

    #[test]
    fn the_clock_moves_forward() {
        let before = now();
        assert!(now() >= before);
    }
}
