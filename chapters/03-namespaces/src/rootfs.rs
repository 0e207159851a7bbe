//! The container's root filesystem: from a directory on the host to `/`.
//!
//! Runs in the container process, inside its new mount namespace, in three
//! steps (runc: `prepareRootfs` in libcontainer/rootfs_linux.go):
//!
//! 1. [`prepare`] — while the host's tree is still visible: stop mount
//!    events from travelling to the host, turn the rootfs directory into a
//!    mount point, mount every entry of the mount list under it, fill /dev.
//! 2. [`switch_root`] — make the rootfs `/`: `pivot_root` and detach the old
//!    root (nothing of the host is reachable any more), or the naive
//!    `chroot`, which only changes where path lookups start.
//! 3. [`finish`] — inside: mask and write-protect parts of /proc and /sys,
//!    and make `/` read-only if asked.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::mount::MsFlags;

use crate::defaults;
use crate::mount::Mount;
use crate::syscalls::{FileKind, Syscalls};

/// How the process's root becomes the rootfs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootSwitch {
    /// pivot_root(2), then the old root is unmounted: the host is gone.
    #[default]
    PivotRoot,
    /// chroot(2): the host's mounts are all still there, one `..` away from
    /// anyone who can call chroot again (see `chroot-escape`).
    Chroot,
}

impl std::str::FromStr for RootSwitch {
    type Err = String;
    fn from_str(text: &str) -> Result<RootSwitch, String> {
        match text {
            "pivot-root" => Ok(RootSwitch::PivotRoot),
            "chroot" => Ok(RootSwitch::Chroot),
            other => Err(format!(
                "unknown root switch {other:?}: use pivot-root or chroot"
            )),
        }
    }
}

/// Everything the root filesystem setup needs to know.
#[derive(Clone, Debug, Default)]
pub struct RootfsPlan {
    /// An absolute path on the host.
    pub rootfs: PathBuf,
    pub mounts: Vec<Mount>,
    pub switch: RootSwitch,
    /// In a user namespace mknod(2) is refused (a device node would give
    /// access to any device), so the host's nodes are bind-mounted instead.
    pub bind_devices: bool,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub readonly_rootfs: bool,
    /// The propagation `/` gets after the switch (config.json's
    /// `rootfsPropagation`); `None` leaves it private.
    pub root_propagation: Option<MsFlags>,
}

// ANCHOR: prepare
/// Step 1: everything that needs the host's paths.
pub fn prepare(sys: &mut dyn Syscalls, plan: &RootfsPlan) -> anyhow::Result<()> {
    // The new mount namespace starts as a copy of the host's, and a copy of
    // a *shared* mount stays in the host's peer group: a mount made here would
    // appear on the host too. MS_PRIVATE|MS_REC cuts every mount off its
    // peers before anything is mounted (see `ch03 propagation-demo`).
    // A container that asked for slave or shared propagation is made a
    // slave instead: the host's new mounts still reach it, none of its own
    // reach the host (runc does the same), and pivot_root accepts it.
    let wants_propagation = plan
        .root_propagation
        .is_some_and(|flags| flags.intersects(MsFlags::MS_SLAVE | MsFlags::MS_SHARED));
    let cut_off = if wants_propagation {
        MsFlags::MS_SLAVE
    } else {
        MsFlags::MS_PRIVATE
    };
    sys.mount(None, Path::new("/"), None, cut_off | MsFlags::MS_REC, None)?;
    // pivot_root needs the new root to be a mount point, and a plain
    // directory is not one: binding it onto itself makes it one.
    let rootfs = plan.rootfs.as_path();
    sys.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    for mount in &plan.mounts {
        mount_entry(sys, rootfs, mount)
            .with_context(|| format!("mounting {} ({})", mount.destination, mount.kind))?;
    }
    // Devices go into the /dev tmpfs; a /dev bound from the host (docker
    // run --privileged does that) already has them.
    let dev_is_fresh = plan
        .mounts
        .iter()
        .any(|m| m.destination == "/dev" && !m.is_bind());
    if dev_is_fresh {
        create_devices(sys, plan)?;
    }
    Ok(())
}
// ANCHOR_END: prepare

// ANCHOR: mount_entry
fn mount_entry(sys: &mut dyn Syscalls, rootfs: &Path, mount: &Mount) -> anyhow::Result<()> {
    if !mount.destination.starts_with('/') {
        bail!("the destination must be an absolute path");
    }
    // Resolved inside the rootfs: an image with /proc -> /etc would
    // otherwise get proc mounted on the host's /etc.
    let target = sys.resolve(rootfs, &mount.destination)?;
    let options = mount.options()?;
    if mount.is_bind() {
        let source = Path::new(&mount.source);
        // A file can only be bound onto a file, a directory onto a directory.
        match sys.kind(source) {
            Some(FileKind::Directory) => sys.mkdir_all(&target, 0o755)?,
            Some(FileKind::File) => sys.touch(&target)?,
            None => bail!("bind source {} does not exist", source.display()),
        }
        let bind = MsFlags::MS_BIND | (options.flags & MsFlags::MS_REC);
        sys.mount(Some(source), &target, None, bind, None)?;
        // A bind mount ignores every flag but MS_BIND and MS_REC: read-only
        // and friends take a second call, a remount of the bind.
        let extra = options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            let locked = sys.locked_flags(&target)?;
            let remount = extra | locked | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
            sys.mount(None, &target, None, remount, None)?;
        }
    } else {
        sys.mkdir_all(&target, 0o755)?;
        let data = Some(options.data.as_str()).filter(|d| !d.is_empty());
        let source = Path::new(&mount.source);
        sys.mount(
            Some(source),
            &target,
            Some(&mount.kind),
            options.flags,
            data,
        )?;
    }
    if !options.propagation.is_empty() {
        sys.mount(None, &target, None, options.propagation, None)?;
    }
    Ok(())
}
// ANCHOR_END: mount_entry

// ANCHOR: devices
fn create_devices(sys: &mut dyn Syscalls, plan: &RootfsPlan) -> anyhow::Result<()> {
    let rootfs = plan.rootfs.as_path();
    for &(path, major, minor) in defaults::DEVICES {
        let target = sys.resolve(rootfs, path)?;
        if plan.bind_devices {
            sys.touch(&target)?;
            sys.mount(Some(Path::new(path)), &target, None, MsFlags::MS_BIND, None)?;
        } else {
            sys.mknod_char(&target, 0o666, major, minor)?;
        }
    }
    for &(target, link) in defaults::DEV_SYMLINKS {
        sys.symlink(target, &sys.resolve(rootfs, link)?)?;
    }
    Ok(())
}
// ANCHOR_END: devices

/// Binds the terminal's pty slave (a path in the container's own devpts,
/// after the switch) onto /dev/console, where programs look for "the"
/// console (runc: `mountConsole`).
pub fn mount_console(sys: &mut dyn Syscalls, slave: &Path) -> anyhow::Result<()> {
    let console = Path::new("/dev/console");
    sys.touch(console)?;
    sys.mount(Some(slave), console, None, MsFlags::MS_BIND, None)
}

// ANCHOR: switch_root
/// Step 2: the rootfs becomes `/`.
pub fn switch_root(sys: &mut dyn Syscalls, plan: &RootfsPlan) -> anyhow::Result<()> {
    match plan.switch {
        RootSwitch::PivotRoot => {
            // pivot_root(".", ".") with the rootfs as working directory
            // stacks the old root on top of the new one, both at "/". The
            // lookup of "." then climbs that stack to the old root, so one
            // lazy unmount detaches the whole host tree (pivot_root(2),
            // NOTES). Propagation is private since `prepare`: the unmount
            // stays in this namespace.
            sys.pivot_root(&plan.rootfs)?;
            sys.umount_detach(Path::new("."))?;
        }
        RootSwitch::Chroot => sys.chroot(&plan.rootfs)?,
    }
    sys.chdir(Path::new("/"))
}
// ANCHOR_END: switch_root

// ANCHOR: finish
/// Step 3: inside the new root.
pub fn finish(sys: &mut dyn Syscalls, plan: &RootfsPlan) -> anyhow::Result<()> {
    // Read-only first, then the masks, as runc does: a mask inside a
    // read-only path (none in Docker's lists) still gets mounted.
    for path in &plan.readonly_paths {
        let path = Path::new(path);
        if sys.kind(path).is_none() {
            continue;
        }
        sys.mount(
            Some(path),
            path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        remount_readonly(sys, path)?;
    }
    for path in &plan.masked_paths {
        let path = Path::new(path);
        match sys.kind(path) {
            // What this kernel does not have needs no mask.
            None => {}
            Some(FileKind::Directory) => {
                let tmpfs = Some(Path::new("tmpfs"));
                sys.mount(tmpfs, path, Some("tmpfs"), MsFlags::MS_RDONLY, None)?;
            }
            Some(FileKind::File) => {
                let null = Some(Path::new("/dev/null"));
                sys.mount(null, path, None, MsFlags::MS_BIND, None)?;
            }
        }
    }
    if plan.readonly_rootfs {
        remount_readonly(sys, Path::new("/"))?;
    }
    if let Some(propagation) = plan.root_propagation {
        sys.mount(None, Path::new("/"), None, propagation, None)?;
    }
    Ok(())
}
// ANCHOR_END: finish

fn remount_readonly(sys: &mut dyn Syscalls, path: &Path) -> anyhow::Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let locked = sys.locked_flags(path)?;
    sys.mount(None, path, None, flags | locked, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::Recorder;

    fn plan(switch: RootSwitch) -> RootfsPlan {
        RootfsPlan {
            rootfs: "/r".into(),
            mounts: defaults::mounts(),
            switch,
            masked_paths: vec!["/proc/kcore".into(), "/sys/firmware".into()],
            readonly_paths: vec!["/proc/sys".into()],
            ..Default::default()
        }
    }

    fn run(plan: &RootfsPlan, sys: &mut Recorder) -> Vec<String> {
        prepare(sys, plan).unwrap();
        switch_root(sys, plan).unwrap();
        finish(sys, plan).unwrap();
        sys.calls.clone()
    }

    fn position(calls: &[String], prefix: &str) -> usize {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call starting with {prefix:?} in {calls:#?}"))
    }

    // ANCHOR: plan_test
    #[test]
    fn the_plan_follows_runc() {
        let mut sys = Recorder::default();
        sys.dirs.push("/sys/firmware".into());
        sys.files.push("/proc/kcore".into());
        sys.dirs.push("/proc/sys".into());
        let calls = run(&plan(RootSwitch::PivotRoot), &mut sys);
        // First of all, before any mount: nothing may propagate to the host.
        assert_eq!(calls[0], "mount none on / flags rec,private");
        assert_eq!(calls[1], "mount /r on /r flags bind,rec");
        let proc = position(
            &calls,
            "mount proc on /r/proc type proc flags nosuid,nodev,noexec",
        );
        let dev = position(
            &calls,
            "mount tmpfs on /r/dev type tmpfs flags nosuid,strictatime",
        );
        let pts = position(&calls, "mount devpts on /r/dev/pts type devpts");
        let null = position(&calls, "mknod /r/dev/null c 1:3 666");
        let pivot = position(&calls, "pivot_root /r");
        assert!(
            proc < dev && dev < pts && pts < null && null < pivot,
            "{calls:#?}"
        );
        assert!(
            calls.contains(&"mount sysfs on /r/sys type sysfs flags ro,nosuid,nodev,noexec".into())
        );
        assert!(calls.contains(&"ln -s pts/ptmx /r/dev/ptmx".into()));
        // The old root goes right after the pivot; then everything is inside.
        assert_eq!(calls[pivot + 1], "umount -l .");
        assert_eq!(calls[pivot + 2], "chdir /");
        let inside = &calls[pivot + 3..];
        assert_eq!(
            inside,
            [
                "mount /proc/sys on /proc/sys flags bind,rec",
                "mount none on /proc/sys flags ro,nosuid,nodev,noexec,remount,bind",
                "mount /dev/null on /proc/kcore flags bind",
                "mount tmpfs on /sys/firmware type tmpfs flags ro",
            ]
        );
    }
    // ANCHOR_END: plan_test

    #[test]
    fn chroot_keeps_the_host_mounted_and_masks_skip_what_is_missing() {
        let mut sys = Recorder::default();
        let calls = run(&plan(RootSwitch::Chroot), &mut sys);
        let chroot = position(&calls, "chroot /r");
        assert_eq!(calls[chroot + 1], "chdir /");
        assert!(!calls.iter().any(|c| c.starts_with("umount")), "{calls:#?}");
        // Nothing of /proc/kcore, /sys/firmware, /proc/sys exists here.
        assert_eq!(calls.len(), chroot + 2, "{calls:#?}");
    }

    #[test]
    fn a_shared_root_is_a_slave_until_the_switch() {
        let mut sys = Recorder::default();
        let mut plan = plan(RootSwitch::PivotRoot);
        plan.root_propagation = Some(MsFlags::MS_SHARED | MsFlags::MS_REC);
        let calls = run(&plan, &mut sys);
        assert_eq!(calls[0], "mount none on / flags rec,slave");
        assert_eq!(calls.last().unwrap(), "mount none on / flags rec,shared");
    }

    #[test]
    fn user_namespaces_bind_devices_and_binds_remount_for_flags() {
        let mut sys = Recorder::default();
        sys.files.push("/host/hosts".into());
        let mut plan = plan(RootSwitch::PivotRoot);
        plan.bind_devices = true;
        plan.mounts
            .push(Mount::bind("/host/hosts", "/etc/hosts", true));
        plan.readonly_rootfs = true;
        let calls = run(&plan, &mut sys);
        assert!(!calls.iter().any(|c| c.starts_with("mknod")), "{calls:#?}");
        let touch = position(&calls, "touch /r/dev/null");
        assert_eq!(
            calls[touch + 1],
            "mount /dev/null on /r/dev/null flags bind"
        );
        let bind = position(&calls, "mount /host/hosts on /r/etc/hosts flags bind,rec");
        assert_eq!(calls[bind - 1], "touch /r/etc/hosts");
        assert_eq!(
            calls[bind + 1..bind + 3],
            [
                "mount none on /r/etc/hosts flags ro,nosuid,nodev,noexec,remount,bind",
                "mount none on /r/etc/hosts flags rec,private",
            ]
        );
        assert_eq!(
            calls.last().unwrap(),
            "mount none on / flags ro,nosuid,nodev,noexec,remount,bind"
        );
    }

    #[test]
    fn the_console_is_the_pty_slave() {
        let mut sys = Recorder::default();
        mount_console(&mut sys, Path::new("/dev/pts/0")).unwrap();
        assert_eq!(
            sys.calls,
            [
                "touch /dev/console",
                "mount /dev/pts/0 on /dev/console flags bind"
            ]
        );
    }

    #[test]
    fn relative_destinations_and_missing_bind_sources_are_errors() {
        let mut sys = Recorder::default();
        let mut plan = plan(RootSwitch::PivotRoot);
        plan.mounts = vec![Mount::bind("/nope", "/data", false)];
        let err = prepare(&mut sys, &plan).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "mounting /data (bind): bind source /nope does not exist"
        );
        plan.mounts[0].destination = "data".into();
        let err = prepare(&mut sys, &plan).unwrap_err();
        assert!(format!("{err:#}").contains("absolute"), "{err:#}");
    }
}
