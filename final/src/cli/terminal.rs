//! The user's terminal, handled as the docker CLI handles it for `-it`:
//! raw mode while attached (every key, ctrl-c included, goes to the
//! container's terminal, whose line discipline does what the user's would),
//! the window size sent on start and on every SIGWINCH, and signals proxied
//! to the container when there is no terminal to carry them.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

/// The terminal's rows and columns (TIOCGWINSZ on stdout, else stdin).
pub fn window_size() -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_row > 0 {
            return Some((size.ws_row, size.ws_col));
        }
    }
    None
}

// ANCHOR: raw_mode
/// Raw mode on stdin until dropped: no echo, no line editing, no signals
/// from ctrl-c/ctrl-z — the container's pty does all of that.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal (nothing to change).
    pub fn enter() -> anyhow::Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
// ANCHOR_END: raw_mode

// ANCHOR: signals
/// Calls `on_signal` on a thread of its own for each SIGWINCH and, with
/// `proxy`, each signal a user sends to the CLI. Blocked in the calling
/// thread first, before any other thread is spawned, so that only this
/// thread's sigwait(2) takes them: a handler would interrupt any thread.
pub fn watch_signals(proxy: bool, on_signal: impl Fn(Signal) + Send + 'static) {
    // The signals a user sends (chapter 03's list), and the window's.
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    if proxy {
        for signal in namespaces::sig_proxy::FORWARDED_SIGNALS {
            set.add(signal);
        }
    }
    if set.thread_block().is_err() {
        return; // signals keep their default actions
    }
    std::thread::spawn(move || {
        while let Ok(signal) = set.wait() {
            on_signal(signal);
        }
    });
}
// ANCHOR_END: signals
