//! A process's exit as an event: a pidfd (pidfd_open(2), Linux 5.3) is a
//! descriptor for one process that poll(2) reports readable once the
//! process has exited — a zombie or reaped — whoever its parent is. Unlike a
//! PID, which the kernel gives to another process once this one is reaped,
//! the descriptor names one process for good: only its opening reads a PID.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// One process, by pidfd.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// The pidfd of whoever has PID `pid` now. A PID read from a file may
    /// name another process by now: the caller checks, after opening, that
    /// `pid` is still the process meant (its start time, a parent that
    /// still has it), and then holds the process itself.
    pub fn open(pid: i32) -> std::io::Result<PidFd> {
        // SAFETY: pidfd_open(2) takes a PID and flags and returns a new
        // descriptor, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just made for us; nothing else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Whether the process exits within `limit` (at once if it has).
    /// `limit` bounds a wait for an event, it is not how long the event takes.
    pub fn wait_exit(&self, limit: Duration) -> std::io::Result<bool> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, timeout) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether the process has exited already.
    pub fn exited(&self) -> std::io::Result<bool> {
        self.wait_exit(Duration::ZERO)
    }

    /// Whether the process is gone for good: reaped by its parent. A
    /// zombie still has its PID, and signal 0 "reaches" it; once reaped,
    /// pidfd_send_signal(2) fails with ESRCH. (No event says so to anyone
    /// but the parent: this is a look, not a wait.)
    pub fn reaped(&self) -> std::io::Result<bool> {
        // SAFETY: pidfd_send_signal with signal 0 checks and sends nothing.
        let sent =
            unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.0.as_raw_fd(), 0, 0, 0) };
        match sent {
            0 => Ok(false),
            _ if Errno::last() == Errno::ESRCH => Ok(true),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_becomes_readable_when_the_process_exits() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read line"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pidfd = PidFd::open(child.id() as i32).unwrap();
        assert!(!pidfd.exited().unwrap());
        // Its stdin closed, `read` fails and the shell exits.
        drop(child.stdin.take());
        assert!(pidfd.wait_exit(Duration::from_secs(60)).unwrap());
        // A zombie still: the event comes before the reaping.
        assert!(!pidfd.reaped().unwrap());
        assert!(child.try_wait().unwrap().is_some());
        assert!(pidfd.reaped().unwrap());
    }
}
