//! Fault injection: the daemon dies where a test says, to check that the
//! next daemon finishes or undoes what was cut in half. `MINIDOCKERD_FAULT`
//! names one point; when the daemon reaches it, it SIGKILLs itself — a
//! crash, with nothing cleaned up and nothing flushed but what was already
//! written. Unset (always, outside the tests), a point costs one lookup.

/// Every point, in the order a container meets them.
pub const POINTS: [&str; 5] = [
    "create:snapshot-mounted",
    "start:shim-spawned",
    "start:process-started",
    "remove:marked",
    "remove:files-removed",
];

// ANCHOR: point
/// Dies here if the test asked for it.
pub fn point(name: &str) {
    debug_assert!(POINTS.contains(&name), "unknown fault point {name}");
    if std::env::var("MINIDOCKERD_FAULT").is_ok_and(|wanted| wanted == name) {
        eprintln!("minidockerd: fault injection: dying at {name}");
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
        // SIGKILL cannot be caught: nothing runs after it is delivered.
        std::process::abort();
    }
}
// ANCHOR_END: point
