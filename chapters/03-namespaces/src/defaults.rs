//! Docker's defaults for a container, defined once.
//!
//! These are the values `docker run` puts into every container's config.json
//! unless a flag changes them (moby: `oci/defaults.go`, `oci/caps/defaults.go`;
//! runc: `libcontainer/specconv/example.go`). `ch03 run` applies them, and
//! chapter 05's spec builder writes them into config.json from here.

use crate::mount::Mount;

// ANCHOR: capabilities
/// The capabilities a container keeps. Everything else — CAP_SYS_ADMIN
/// (mount, most of the kernel's knobs), CAP_NET_ADMIN, CAP_SYS_PTRACE,
/// CAP_SYS_MODULE, … — is dropped from every set, bounding set included, so
/// no program the container runs can get it back.
pub const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];
// ANCHOR_END: capabilities

// ANCHOR: masked_paths
/// Hidden from the container: a directory gets an empty read-only tmpfs on
/// top, a file gets /dev/null bound onto it. They leak host information
/// (kernel memory, keys, timers of every process) or let a process poke at
/// hardware.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Visible, but bound read-only: /proc/sys holds the kernel's global knobs
/// (most are not namespaced: writing one would change the host).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
// ANCHOR_END: masked_paths

// ANCHOR: devices
/// The standard nodes as (path, major, minor): character devices, all mode
/// 0666 and owned by the container's root. A container gets these and
/// nothing else: no disks, no /dev/mem, no /dev/kmsg.
pub const DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Symlinks in /dev that programs expect (bash's `<(…)` uses /dev/fd).
pub const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    // The devpts mounted with newinstance has its own ptmx: /dev/ptmx must
    // lead to it, or new terminals would come from the host's devpts.
    ("pts/ptmx", "/dev/ptmx"),
];
// ANCHOR_END: devices

// ANCHOR: mounts
/// The filesystems every container gets, in the order they are mounted (a
/// mount on /dev/pts needs /dev first). The options are config.json's.
pub fn mounts() -> Vec<Mount> {
    let m = |destination: &str, kind: &str, source: &str, options: &[&str]| Mount {
        destination: destination.into(),
        kind: kind.into(),
        source: source.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
    };
    vec![
        // A proc for the new PID namespace: it lists the container's
        // processes only, because procfs shows the PID namespace of whoever
        // mounted it.
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        // A fresh tmpfs, not the host's /dev: the device nodes are created
        // in it one by one.
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        // newinstance: the container's own pty numbering, not the host's.
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        // sysfs shows the network devices of the mounter's network namespace.
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        // POSIX message queues of the container's IPC namespace.
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}
// ANCHOR_END: mounts

/// Where `--init` binds minidocker-init in the container (Docker binds
/// tini at /sbin/docker-init).
pub const INIT_PATH: &str = "/sbin/minidocker-init";
