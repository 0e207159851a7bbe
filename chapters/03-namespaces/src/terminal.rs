//! `docker run -t`: a terminal for the container.
//!
//! A pseudo-terminal is a pair: the *slave* end looks like a real terminal
//! (a shell on it gets line editing, job control, Ctrl-C as SIGINT), and
//! whatever is written to the *master* end is what was "typed". The pair
//! must come from the container's own devpts (mounted with newinstance), or
//! the container's /dev/pts would not have its slave. So the container opens
//! /dev/ptmx itself, after the switch to its root, makes the slave its
//! controlling terminal and its stdin, stdout and stderr, and hands the
//! master out through a Unix socket (SCM_RIGHTS carries file descriptors
//! between processes). This is runc's `--console-socket` protocol; whoever
//! holds the master relays it to the user's terminal.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::{Context, bail};
use nix::fcntl::OFlag;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::sys::termios;

use crate::rootfs;
use crate::syscalls::Linux;

// ANCHOR: in_container
/// In the container, after the switch to its root: a new pty whose slave
/// becomes this process's terminal, and whose master goes to `socket`. With
/// `console`, the slave is also bound onto /dev/console.
pub fn setup_in_container(socket: RawFd, uid: u32, console: bool) -> anyhow::Result<()> {
    // /dev/ptmx is the symlink to pts/ptmx: the container's devpts instance.
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("opening /dev/ptmx")?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let slave_path = nix::pty::ptsname_r(&master).context("ptsname")?;
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("opening {slave_path}"))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    // The terminal belongs to the user who will type on it.
    nix::unistd::fchown(slave.as_raw_fd(), Some(uid.into()), None).context("fchown(pty)")?;
    if console {
        rootfs::mount_console(&mut Linux, Path::new(&slave_path))?;
    }
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket,
        &[IoSlice::new(b"pty")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("sending the pty master over the console socket")?;
    drop(master);
    // A new session, whose controlling terminal is the slave: Ctrl-C typed
    // on it now signals this session's foreground process group.
    nix::unistd::setsid().context("setsid")?;
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context("ioctl(TIOCSCTTY)");
    }
    for target in 0..=2 {
        nix::unistd::dup2(slave.as_raw_fd(), target).context("dup2(pty slave)")?;
    }
    Ok(())
}
// ANCHOR_END: in_container

/// The other end of the console socket: the pty master.
pub fn receive_master(socket: RawFd) -> anyhow::Result<OwnedFd> {
    let mut buffer = [0u8; 8];
    let mut iov = [IoSliceMut::new(&mut buffer)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receiving the pty master")?;
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    bail!("the container sent no pty master")
}

/// Puts our terminal back as it was, however the relay ends.
struct RawMode {
    saved: termios::Termios,
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, &self.saved);
    }
}

// ANCHOR: relay
/// Copies our stdin to the master and the master to our stdout until the
/// container's side of the terminal is closed. If our stdin is a terminal
/// it goes raw: every key, Ctrl-C included, goes to the container's
/// terminal, whose line discipline decides what it means.
pub fn relay(master: OwnedFd) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let _raw_mode = match termios::tcgetattr(stdin.as_fd()) {
        Ok(saved) => {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw)
                .context("making the terminal raw")?;
            copy_window_size(stdin.as_raw_fd(), master.as_raw_fd());
            Some(RawMode { saved })
        }
        Err(_) => None, // not a terminal: a pipe or a file is copied as is
    };
    let mut to_container = File::from(master.try_clone().context("dup(pty master)")?);
    std::thread::spawn(move || std::io::copy(&mut std::io::stdin().lock(), &mut to_container));
    let mut from_container = File::from(master);
    match std::io::copy(&mut from_container, &mut std::io::stdout().lock()) {
        // EIO: every slave descriptor is closed — the container is done.
        Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(()),
        other => other.map(drop).context("copying the container's terminal"),
    }
}
// ANCHOR_END: relay

fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write one struct winsize.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &size);
        }
    }
}
