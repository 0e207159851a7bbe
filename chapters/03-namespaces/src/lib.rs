//! Chapter 03: namespaces — a process that sees its own world.
//!
//! A container is a process. What makes it look like a machine of its own is
//! a set of namespaces (its own PIDs, mounts, hostname, IPC, network devices,
//! cgroup root, and optionally user IDs) and a root filesystem it cannot see
//! out of. This library starts such a process in stages, because a runtime
//! has work to do between them (the stages are drawn in [`container`]):
//!
//! 1. [`container::spawn`] — the parent clones the child into its new
//!    namespaces (or, by path, existing ones: the network chapter joins
//!    `/run/netns/NAME`) and writes its uid/gid maps. The child waits.
//! 2. The caller's parent-side steps, with [`container::Container::pid`]:
//!    place the child in its cgroup (chapter 04), run hooks (chapter 05).
//! 3. [`container::Container::start`] — the child joins namespaces given by
//!    path, unshares the cgroup namespace (now that its cgroup is right),
//!    builds its mounts from a mount list (config.json's), pivots into the
//!    rootfs, sets the hostname, applies rlimits, then user and capabilities
//!    in the order the kernel requires ([`process`]), finds the program, and
//!    stops at a barrier that another process can release (the exec fifo:
//!    runc's create/start split).
//! 4. execve, and [`container::Container::wait`] for the exit code.
//!
//! Every mount-related system call goes through [`syscalls::Syscalls`], so
//! the mount plan in [`rootfs`] is unit-tested without root; the privileged
//! tests run the `ch03` binary against the real kernel. Docker's defaults
//! (capabilities, masked paths, mounts, devices) live in [`defaults`], once.

pub mod cli;
pub mod container;
pub mod defaults;
pub mod etc;
pub mod exec;
pub mod mount;
pub mod namespace;
pub mod pidfd;
pub mod process;
pub mod propagation;
pub mod rootfs;
pub mod sig_proxy;
pub mod syscalls;
pub mod terminal;
pub mod user;
