//! A container's network namespace, made by the daemon before the
//! container: Docker's libnetwork does the same (`/run/docker/netns/…`),
//! so that a network can be set up in it before the process runs. Until
//! chapter 07 brings bridges and veth pairs, the namespace has only its
//! loopback, brought up here: a new network namespace starts with `lo`
//! down, and the OCI runtime does not touch it.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

// ANCHOR: create
/// Creates a network namespace with `lo` up, kept alive by a bind mount at
/// `path` (a namespace lives while a process or a mount holds it).
pub fn create(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(path, b"").with_context(|| format!("creating {}", path.display()))?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) moves only the calling thread: a thread of our
    // own does it, sets it up and ends, and no other thread of the daemon
    // ever runs in that namespace.
    let result = std::thread::spawn(move || -> anyhow::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .context("unshare(CLONE_NEWNET)")?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting the namespace on {}", target.display()))?;
        loopback_up()
    })
    .join()
    .unwrap_or_else(|_| bail!("the network namespace thread panicked"));
    if result.is_err() {
        remove(path);
    }
    result
}
// ANCHOR_END: create

/// `ip link set lo up`: SIOCSIFFLAGS with IFF_UP on any socket of the namespace.
fn loopback_up() -> anyhow::Result<()> {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket(AF_INET) for SIOCSIFFLAGS")?;
    // SAFETY: ifreq is plain data; the name is NUL-terminated within its
    // 16 bytes and the ioctls read and write only the struct.
    unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        let name = CString::new("lo").expect("no NUL in lo");
        for (dst, src) in request.ifr_name.iter_mut().zip(name.as_bytes_with_nul()) {
            *dst = *src as libc::c_char;
        }
        use std::os::fd::AsRawFd;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) != 0 {
            return Err(std::io::Error::last_os_error()).context("SIOCGIFFLAGS lo");
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) != 0 {
            return Err(std::io::Error::last_os_error()).context("SIOCSIFFLAGS lo up");
        }
    }
    Ok(())
}

/// Unmounts and deletes the namespace file: the namespace ends with its
/// last process. Missing is fine (a crash between the steps).
pub fn remove(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    let _ = fs::remove_file(path);
}

/// Where a container's namespace file goes.
pub fn path_for(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join("netns").join(&id[..12.min(id.len())])
}
