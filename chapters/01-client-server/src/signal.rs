//! Signal names as Docker accepts them: `TERM`, `SIGTERM`, `15` all mean
//! the same signal (`docker kill -s`, `--stop-signal`, the CLI's sig-proxy).

use nix::sys::signal::Signal;

pub fn parse(text: &str) -> Result<Signal, String> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("invalid signal: {text}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| format!("invalid signal: {text}"))
}

/// Blocks SIGINT and SIGTERM in the calling thread, for a daemon to
/// `wait()` for them on the returned set. Called before any thread exists:
/// threads inherit the mask, so no other thread is ever interrupted by
/// them, and the daemon's shutdown runs in one place.
pub fn block_shutdown_signals() -> nix::Result<nix::sys::signal::SigSet> {
    let mut signals = nix::sys::signal::SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    Ok(signals)
}

/// The exit status Docker reports for a process killed by `signal`: 128 + N
/// (137 for SIGKILL, 143 for SIGTERM), as a shell does.
pub fn exit_status_for(signal: i32) -> i64 {
    128 + signal as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("WINCH").unwrap(), Signal::SIGWINCH);
        assert!(parse("NOPE").is_err());
        assert!(parse("999").is_err());
        assert_eq!(exit_status_for(9), 137);
    }
}
