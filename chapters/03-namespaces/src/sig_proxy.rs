//! The signal proxy: a CLI that runs a container in the foreground passes
//! on the signals it receives (Ctrl-C, `kill`, a closed terminal), as
//! `docker run` does with `--sig-proxy` (on by default without `-t`).
//! Whether a signal does anything is up to the container's PID 1.

use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::Context;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::Pid;

// ANCHOR: forwarded_signals
/// The signals a foreground CLI passes on to its container, as `docker run`
/// proxies them: Ctrl-C, Ctrl-\\, `kill`, a closed terminal, and the two
/// left to programs.
pub const FORWARDED_SIGNALS: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// [`FORWARDED_SIGNALS`] as a set, for sigprocmask(2).
pub fn forwarded_signal_set() -> SigSet {
    FORWARDED_SIGNALS.into_iter().collect()
}
// ANCHOR_END: forwarded_signals

/// The container's PID, for the signal handler that forwards signals to it.
static CONTAINER_PID: AtomicI32 = AtomicI32::new(0);

// ANCHOR: forward_signals
/// Holds the forwarded signals (blocks them) until [`forward_signals`] knows
/// where to send them: a Ctrl-C that comes before the container exists
/// waits instead of killing the CLI with its mounts still in place.
pub fn hold_signals() -> anyhow::Result<()> {
    let held = forwarded_signal_set();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&held), None).context("sigprocmask")
}

/// A foreground container gets the signals sent to the CLI (Ctrl-C included),
/// as `docker run` proxies them. Whether they do anything is up to PID 1.
/// Signals held until now are delivered, and forwarded, on return.
pub fn forward_signals(container: Pid) -> anyhow::Result<()> {
    CONTAINER_PID.store(container.as_raw(), Ordering::SeqCst);
    extern "C" fn forward(signal: libc::c_int) {
        let pid = CONTAINER_PID.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) is async-signal-safe.
            unsafe { libc::kill(pid, signal) };
        }
    }
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in FORWARDED_SIGNALS {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        unsafe { nix::sys::signal::sigaction(signal, &action) }
            .with_context(|| format!("sigaction({signal})"))?;
    }
    let held = forwarded_signal_set();
    sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&held), None).context("sigprocmask")
}
// ANCHOR_END: forward_signals
