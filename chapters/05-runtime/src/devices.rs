//! `linux.devices`: device nodes beyond the standard ones (chapter 03's
//! null, zero, full, random, urandom, tty), made in the container's /dev —
//! what `docker run --device /dev/fuse` asks for.
//!
//! A node is only a name for a (type, major, minor) triple: whether it can
//! be opened is the device cgroup's decision (`linux.resources.devices`),
//! which is why Docker sends both.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use namespaces::syscalls::{Linux, Syscalls};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::spec::Device;

/// Checks what can be checked before anything is made.
pub fn check(devices: &[Device]) -> anyhow::Result<()> {
    for device in devices {
        if !device.path.starts_with("/dev/") {
            bail!(
                "linux.devices: {:?} is not under /dev/ (the container's device directory)",
                device.path
            );
        }
        file_type(&device.kind).with_context(|| format!("linux.devices: {}", device.path))?;
    }
    Ok(())
}

fn file_type(kind: &str) -> anyhow::Result<SFlag> {
    Ok(match kind {
        // "u" is an unbuffered character device: the same node.
        "c" | "u" => SFlag::S_IFCHR,
        "b" => SFlag::S_IFBLK,
        "p" => SFlag::S_IFIFO,
        other => bail!("unknown device type {other:?}: use c, b, u or p"),
    })
}

// ANCHOR: create_devices
/// Makes the nodes in `rootfs`'s /dev, a fresh tmpfs by now. In a user
/// namespace mknod(2) is refused, so the host's nodes are bound instead.
pub fn create(rootfs: &Path, devices: &[Device], bind: bool) -> anyhow::Result<()> {
    let mut sys = Linux;
    // /dev/ptmx is chapter 03's symlink to the container's own pts/ptmx:
    // `docker run --privileged` lists the host's, which must not replace it.
    for device in devices.iter().filter(|d| d.path != "/dev/ptmx") {
        // Resolved inside the rootfs: a symlink in /dev cannot point out.
        let target = sys.resolve(rootfs, &device.path)?;
        if let Some(parent) = target.parent() {
            sys.mkdir_all(parent, 0o755)?;
        }
        // A config may redefine a standard node (/dev/null).
        let _ = std::fs::remove_file(&target);
        if bind {
            sys.touch(&target)?;
            sys.mount(
                Some(Path::new(&device.path)),
                &target,
                None,
                nix::mount::MsFlags::MS_BIND,
                None,
            )?;
            continue;
        }
        let dev = makedev(device.major as u64, device.minor as u64);
        mknod(&target, file_type(&device.kind)?, Mode::empty(), dev).with_context(|| {
            format!(
                "mknod {} ({}:{})",
                target.display(),
                device.major,
                device.minor
            )
        })?;
        // Set after mknod, which the umask would have trimmed.
        let mode = device.file_mode.unwrap_or(0o666) & 0o7777;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", target.display()))?;
        nix::unistd::chown(
            &target,
            Some(device.uid.unwrap_or(0).into()),
            Some(device.gid.unwrap_or(0).into()),
        )
        .with_context(|| format!("chown {}", target.display()))?;
    }
    Ok(())
}
// ANCHOR_END: create_devices
