//! Chapter 05: the runtime.
//!
//! An OCI runtime takes a *bundle* — a directory with a root filesystem and
//! a config.json that says everything about the container — and runs it.
//! [`spec`] is config.json as types; [`builder`] makes one with Docker's
//! defaults from a small request (what `minirunc spec` writes, and what the
//! engine will send for each `docker run`). [`lifecycle`] is runc's
//! create/start/kill/delete on chapters 03 and 04, with [`state`] kept
//! between its invocations; [`hooks`], [`sysctl`], [`devices`] and [`seccomp`] are the
//! parts of config.json chapter 03 knows nothing of.

pub mod apparmor;
pub mod builder;
pub mod devices;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod lifecycle;
pub mod process;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod state;
pub mod sysctl;

use std::sync::atomic::{AtomicBool, Ordering};

/// `minirunc --debug`: the few debug lines go to stderr.
pub static DEBUG: AtomicBool = AtomicBool::new(false);

/// One debug line, shown under `--debug` only.
pub fn debug(message: &str) {
    if DEBUG.load(Ordering::Relaxed) {
        eprintln!("minirunc: debug: {message}");
    }
}
