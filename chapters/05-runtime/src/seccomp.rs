//! `linux.seccomp`: which system calls the container may make.
//!
//! seccomp(2) attaches a small BPF program to a process; the kernel runs it
//! on every system call, with the call's number and arguments, and the
//! program's answer decides: allow, fail with an errno, kill, trap, log.
//! The filter is inherited by every child and survives execve, and it can
//! only ever be narrowed. The OCI spec describes it the way libseccomp does
//! — a default action, then rules per syscall name with optional argument
//! conditions — so libseccomp (through the `libseccomp` crate) compiles it
//! to BPF here, as in runc, crun and youki.
//!
//! When to load it matters. Loading a filter needs CAP_SYS_ADMIN or
//! no_new_privs (so that a filter cannot fool a setuid program). Without
//! no_new_privs (Docker's default) it is loaded while the container process
//! is still root with every capability, just before it switches user; with
//! no_new_privs, as late as possible, just before execve, so that the
//! runtime's own last system calls need not be in the profile. runc does
//! the same.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};

use crate::spec::{Seccomp, SeccompArg, SyscallRule};

/// EPERM: what a refused call returns unless the profile says otherwise.
const EPERM: u32 = 1;

/// The actions [`compile`] understands (`minirunc features` lists them).
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
];

/// The argument comparisons [`compile`] understands.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// The architectures libseccomp 2.5 knows by these names.
pub const ARCHITECTURES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

fn action(name: &str, errno: Option<u32>) -> anyhow::Result<ScmpAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(EPERM) as i32),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno.unwrap_or(EPERM) as u16),
        "SCMP_ACT_NOTIFY" => {
            bail!("seccomp action SCMP_ACT_NOTIFY needs a listener: not supported")
        }
        other => bail!("unknown seccomp action {other:?}"),
    })
}

fn condition(arg: &SeccompArg) -> anyhow::Result<ScmpArgCompare> {
    let op = match arg.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        // (argument & value) == valueTwo
        "SCMP_CMP_MASKED_EQ" => ScmpCompareOp::MaskedEqual(arg.value),
        other => bail!("unknown seccomp comparison {other:?}"),
    };
    let datum = if arg.op == "SCMP_CMP_MASKED_EQ" {
        arg.value_two
    } else {
        arg.value
    };
    Ok(ScmpArgCompare::new(arg.index, op, datum))
}

/// The argument conditions of one rule, as libseccomp can take them: all
/// in one rule (they must all hold), unless two test the same argument,
/// which libseccomp refuses — then one rule each (any may hold), as runc
/// does.
fn condition_sets(rule: &SyscallRule) -> anyhow::Result<Vec<Vec<ScmpArgCompare>>> {
    let conditions = rule
        .args
        .iter()
        .map(condition)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let indexes: HashSet<u32> = rule.args.iter().map(|a| a.index).collect();
    Ok(if indexes.len() == rule.args.len() {
        vec![conditions]
    } else {
        conditions.into_iter().map(|c| vec![c]).collect()
    })
}

// ANCHOR: compile
/// The profile as a libseccomp filter, ready to load. Compiled by the
/// runtime before the container process exists, so a bad profile is an
/// error of `create`.
pub fn compile(profile: &Seccomp) -> anyhow::Result<ScmpFilterContext> {
    let default = action(&profile.default_action, profile.default_errno_ret)?;
    let mut filter = ScmpFilterContext::new(default).context("seccomp_init")?;
    // libseccomp sets no_new_privs on load unless told not to: whether the
    // container gets it is process.noNewPrivileges's decision, not ours.
    filter.set_ctl_nnp(false)?;
    for name in &profile.architectures {
        let arch: ScmpArch = name
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown seccomp architecture {name:?}"))?;
        filter
            .add_arch(arch)
            .with_context(|| format!("seccomp architecture {name}"))?;
    }
    if let Some(flag) = profile.flags.first() {
        bail!("seccomp flag {flag} is not supported");
    }
    for rule in &profile.syscalls {
        let action = action(&rule.action, rule.errno_ret)?;
        // libseccomp refuses a rule that says what the default says.
        if action == default {
            continue;
        }
        for name in &rule.names {
            // A name this kernel's architecture (or libseccomp) does not
            // know is skipped, as runc does: profiles list calls of every
            // architecture (arch_prctl, set_tls, …).
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            for conditions in condition_sets(rule)? {
                filter
                    .add_rule_conditional(action, syscall, &conditions)
                    .with_context(|| format!("seccomp rule for {name}"))?;
            }
        }
    }
    Ok(filter)
}
// ANCHOR_END: compile

// ANCHOR: program
/// A filter as the kernel takes it: classic BPF instructions.
pub struct Program(Vec<libc::sock_filter>);

/// [`compile`]d and exported as BPF, through a cache in `cache_dir` keyed
/// by the profile's hash. libseccomp needs some 10 ms of CPU for Docker's
/// profile (three architectures, 350 calls), more than everything else a
/// `run` does; the BPF it makes of a profile never changes, so it is made
/// once per profile and read back afterwards (crun does the same).
pub fn program(profile: &Seccomp, cache_dir: &Path) -> anyhow::Result<Program> {
    use sha2::Digest;
    let began = api::trace::now();
    let mut hasher = sha2::Sha256::new();
    hasher.update(serde_json::to_vec(profile)?);
    // Another libseccomp or machine could compile the same profile otherwise.
    let version = ScmpVersion::current()?;
    hasher.update(format!(
        "{}.{}.{} {}",
        version.major,
        version.minor,
        version.micro,
        std::env::consts::ARCH
    ));
    let key: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = cache_dir.join(format!("{key}.bpf"));
    let cached = fs::read(&path);
    let how = if cached.is_ok() {
        "read from the cache"
    } else {
        "compiled by libseccomp"
    };
    let bytes = match cached {
        Ok(bytes) => bytes,
        Err(_) => {
            // libseccomp writes the program to a descriptor: a memory file.
            let mut file = crate::hooks::memory_file(c"seccomp-bpf")?;
            compile(profile)?
                .export_bpf(&file)
                .context("exporting the seccomp filter as BPF")?;
            let mut bytes = Vec::new();
            std::io::Seek::rewind(&mut file)?;
            std::io::Read::read_to_end(&mut file, &mut bytes)?;
            // A cache that cannot be written only costs time.
            if fs::create_dir_all(cache_dir).is_ok() {
                let _ = images::atomic::write_file(&path, &bytes);
            }
            bytes
        }
    };
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    api::trace::step(began, "ch05-runtime.md#seccomp", || {
        format!(
            "the seccomp profile as a BPF program of {} instructions, {how}",
            bytes.len() / SIZE
        )
    });
    if bytes.is_empty() || bytes.len() % SIZE != 0 || bytes.len() / SIZE > u16::MAX as usize {
        let _ = fs::remove_file(&path);
        bail!(
            "the seccomp filter in {} was damaged: removed, run again",
            path.display()
        );
    }
    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, native order.
    let instructions = bytes
        .chunks_exact(SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(Program(instructions))
}

/// Loads the filter into this process: from now on the kernel checks each
/// of its system calls, and its children's. Needs CAP_SYS_ADMIN or
/// no_new_privs, as the module docs explain.
pub fn load(program: &Program) -> anyhow::Result<()> {
    let fprog = libc::sock_fprog {
        len: program.0.len() as u16,
        filter: program.0.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the kernel copies `len` instructions from `filter`, which
    // points into a live Vec.
    let done = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error())
            .context("loading the seccomp filter (seccomp(2))");
    }
    Ok(())
}
// ANCHOR_END: program

// ANCHOR: default_profile
/// What a program in a container needs, and nothing that reaches past the
/// container: files, memory, processes and threads, signals, time, sockets,
/// System V and POSIX IPC, scheduling, identity. Everything else fails with
/// EPERM: mount, unshare and setns (new namespaces), reboot, kernel modules,
/// kexec, the clock, keyrings, bpf, perf, swap, quotas, raw I/O ports.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    // files and directories
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range",
    "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
    "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64",
    "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "mkdir", "mkdirat", "mknod",
    "mknodat", "name_to_handle_at", "newfstatat", "open", "openat", "openat2", "pread64",
    "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2", "rmdir",
    "sendfile", "sendfile64", "setxattr", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate",
    "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64",
    "utimes", "vmsplice", "write", "writev",
    // asynchronous I/O and waiting on descriptors
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "io_cancel",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
    "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl", "pipe",
    "pipe2", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select", "_newselect", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64",
    // memory
    "brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock",
    "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
    // processes and threads (clone: see the rule below)
    "arch_prctl", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list",
    "get_thread_area", "getpgid", "getpgrp", "getpid", "getppid", "getrlimit", "getrusage",
    "getsid", "gettid", "modify_ldt", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64",
    "process_mrelease", "rseq", "seccomp", "set_robust_list", "set_thread_area",
    "set_tid_address", "setpgid", "setrlimit", "setsid", "ugetrlimit", "vfork", "wait4",
    "waitid", "waitpid", "futex", "futex_time64", "futex_waitv", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "ptrace", "process_vm_readv",
    "process_vm_writev",
    // signals
    "alarm", "kill", "pause", "restart_syscall", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn",
    "tgkill", "tkill",
    // time (reading it; setting the clock needs CAP_SYS_TIME)
    "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
    "getitimer", "gettimeofday", "nanosleep", "setitimer", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "times",
    // sockets (socket: see the rule below)
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
    "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg",
    "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
    // System V and POSIX IPC (the container's own IPC namespace)
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget",
    // scheduling and the machine's description
    "getcpu", "getpriority", "getrandom", "ioprio_get", "ioprio_set", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "setpriority", "sysinfo", "uname",
    // identity (what the capabilities allow still decides)
    "capget", "capset", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getuid", "getuid32", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
];

/// Calls a capability makes safe: allowed when the container holds it.
#[rustfmt::skip]
const WITH_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_ADMIN", &[
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
        "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
        "syslog", "umount", "umount2", "unshare",
    ]),
];

/// The CLONE_NEW* flags (namespaces, 0x7E020000): a clone that asks for
/// none of them is an ordinary fork or thread.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The default profile for a container with `capabilities` (its bounding
/// set), in the spirit of Docker's: the same calls allowed and refused.
pub fn default_profile(capabilities: &[String]) -> Seccomp {
    let has = |cap: &str| capabilities.iter().any(|c| c == cap);
    let rule = |names: &[&str], action: &str| SyscallRule {
        names: names.iter().map(|n| n.to_string()).collect(),
        action: action.into(),
        ..Default::default()
    };
    let mut syscalls = vec![rule(ALLOWED, "SCMP_ACT_ALLOW")];
    for (cap, names) in WITH_CAPABILITY {
        if has(cap) {
            syscalls.push(rule(names, "SCMP_ACT_ALLOW"));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        // clone without namespace flags: fork and threads, not namespaces.
        syscalls.push(SyscallRule {
            args: vec![SeccompArg {
                index: 0,
                value: CLONE_NAMESPACE_FLAGS,
                value_two: 0,
                op: "SCMP_CMP_MASKED_EQ".into(),
            }],
            ..rule(&["clone"], "SCMP_ACT_ALLOW")
        });
        // clone3 passes its flags in memory, where a filter cannot look:
        // ENOSYS makes the C library fall back to clone.
        syscalls.push(SyscallRule {
            errno_ret: Some(libc::ENOSYS as u32),
            ..rule(&["clone3"], "SCMP_ACT_ERRNO")
        });
    }
    // socket: any family but AF_VSOCK (40), to the host's hypervisor.
    syscalls.push(SyscallRule {
        args: vec![SeccompArg {
            index: 0,
            value: 40,
            value_two: 0,
            op: "SCMP_CMP_NE".into(),
        }],
        ..rule(&["socket"], "SCMP_ACT_ALLOW")
    });
    // personality: only the harmless personas (Linux, 32-bit, and "query").
    for persona in [0, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(SyscallRule {
            args: vec![SeccompArg {
                index: 0,
                value: persona,
                value_two: 0,
                op: "SCMP_CMP_EQ".into(),
            }],
            ..rule(&["personality"], "SCMP_ACT_ALLOW")
        });
    }
    Seccomp {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(EPERM),
        architectures: native_architectures(),
        flags: Vec::new(),
        syscalls,
        unsupported: Default::default(),
    }
}
// ANCHOR_END: default_profile

/// A profile in Docker's format (`docker run --security-opt seccomp=FILE`:
/// the CLI reads the file and sends its JSON) as config.json's
/// `linux.seccomp`, for a container with `capabilities`. Docker's format
/// adds to the OCI one: `archMap` (an architecture with its
/// sub-architectures), and per rule `includes`/`excludes` by capability or
/// architecture, which are decided here, once, as moby's `setupSeccomp` does.
pub fn from_docker_profile(json: &str, capabilities: &[String]) -> anyhow::Result<Seccomp> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Profile {
        default_action: String,
        default_errno_ret: Option<u32>,
        #[serde(default)]
        architectures: Vec<String>,
        #[serde(default)]
        arch_map: Vec<ArchMap>,
        #[serde(default)]
        flags: Vec<String>,
        #[serde(default)]
        syscalls: Vec<Rule>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ArchMap {
        architecture: String,
        #[serde(default)]
        sub_architectures: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rule {
        #[serde(default)]
        names: Vec<String>,
        name: Option<String>,
        action: String,
        errno_ret: Option<u32>,
        #[serde(default)]
        args: Vec<SeccompArg>,
        #[serde(default)]
        includes: Filter,
        #[serde(default)]
        excludes: Filter,
    }
    #[derive(Default, serde::Deserialize)]
    #[serde(default)]
    struct Filter {
        caps: Vec<String>,
        arches: Vec<String>,
        #[serde(rename = "minKernel")]
        _min_kernel: Option<String>,
    }
    let profile: Profile = serde_json::from_str(json)
        .map_err(|e| anyhow::anyhow!("the seccomp profile is not Docker's JSON format: {e}"))?;
    let native = native_architectures();
    let mut architectures = profile.architectures;
    for map in profile.arch_map {
        // Only this machine's entry counts (moby: the one for runtime.GOARCH).
        if native.first() == Some(&map.architecture) {
            architectures.push(map.architecture);
            architectures.extend(map.sub_architectures);
        }
    }
    // ANCHOR: docker_profile
    let arch = native_arch_name();
    let has_cap = |cap: &String| capabilities.contains(cap);
    let mut syscalls = Vec::new();
    for rule in profile.syscalls {
        let included = rule.includes.caps.iter().all(has_cap)
            && (rule.includes.arches.is_empty() || rule.includes.arches.iter().any(|a| a == arch));
        let excluded = rule.excludes.caps.iter().any(has_cap)
            || rule.excludes.arches.iter().any(|a| a == arch);
        if !included || excluded {
            continue;
        }
        let mut names = rule.names;
        names.extend(rule.name);
        syscalls.push(SyscallRule {
            names,
            action: rule.action,
            errno_ret: rule.errno_ret,
            args: rule.args,
        });
    }
    // ANCHOR_END: docker_profile
    Ok(Seccomp {
        default_action: profile.default_action,
        default_errno_ret: profile.default_errno_ret,
        architectures,
        flags: profile.flags,
        syscalls,
        unsupported: Default::default(),
    })
}

/// This machine's architecture in Docker's profile words (Go's GOARCH).
fn native_arch_name() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        std::env::consts::ARCH
    }
}

/// The machine's architecture and the ones it also runs (32-bit x86 on
/// x86_64): a filter must cover each, or their calls get the default.
fn native_architectures() -> Vec<String> {
    let names: &[&str] = if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else if cfg!(target_arch = "aarch64") {
        &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    } else {
        &[]
    };
    names.iter().map(|n| n.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_profile_is_read_for_this_machine_and_these_capabilities() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
                {"names": ["chown"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}}
            ]
        }"#;
        let caps = vec!["CAP_CHOWN".to_string()];
        let profile = from_docker_profile(json, &caps).unwrap();
        assert_eq!(profile.architectures, native_architectures());
        let names: Vec<&str> = profile
            .syscalls
            .iter()
            .flat_map(|r| r.names.iter().map(String::as_str))
            .collect();
        let on_x86 = cfg!(target_arch = "x86_64");
        let expected: &[&str] = if on_x86 {
            &["read", "write", "exit_group", "arch_prctl"]
        } else {
            &["read", "write", "exit_group"]
        };
        assert_eq!(names, expected);
        compile(&profile).unwrap();
        let error = from_docker_profile("{\"syscalls\": 3}", &caps).unwrap_err();
        assert!(
            error.to_string().contains("Docker's JSON format"),
            "{error}"
        );
    }

    #[test]
    fn the_default_profile_compiles_and_is_cap_aware() {
        let caps: Vec<String> = namespaces::defaults::CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect();
        let profile = default_profile(&caps);
        compile(&profile).unwrap();
        let allowed = |name: &str| {
            profile
                .syscalls
                .iter()
                .any(|r| r.action == "SCMP_ACT_ALLOW" && r.names.iter().any(|n| n == name))
        };
        // Docker's default capabilities include CAP_SYS_CHROOT, not CAP_SYS_ADMIN.
        assert!(allowed("chroot") && allowed("read"));
        assert!(!allowed("mount") && !allowed("unshare") && !allowed("reboot"));
        let mut admin = caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        assert!(
            default_profile(&admin)
                .syscalls
                .iter()
                .any(|r| r.names.iter().any(|n| n == "mount"))
        );
    }

    #[test]
    fn what_features_lists_is_what_compile_takes() {
        for name in ACTIONS {
            action(name, None).unwrap();
        }
        for op in OPERATORS {
            let arg = SeccompArg {
                op: op.to_string(),
                ..Default::default()
            };
            condition(&arg).unwrap();
        }
        for arch in ARCHITECTURES {
            arch.parse::<ScmpArch>().unwrap();
        }
    }

    #[test]
    fn programs_are_cached_and_a_damaged_cache_is_an_error_that_heals() {
        let cache = tempfile::tempdir().unwrap();
        let profile = default_profile(&["CAP_CHOWN".to_string()]);
        let first = program(&profile, cache.path()).unwrap();
        let files: Vec<_> = fs::read_dir(cache.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let again = program(&profile, cache.path()).unwrap();
        assert_eq!(first.0.len(), again.0.len());
        assert!(first.0.len() > 300, "{} instructions", first.0.len());
        fs::write(files[0].path(), b"12345").unwrap();
        let err = program(&profile, cache.path()).err().unwrap().to_string();
        assert!(err.contains("was damaged"), "{err}");
        assert_eq!(
            program(&profile, cache.path()).unwrap().0.len(),
            first.0.len()
        );
    }

    #[test]
    fn bad_profiles_are_errors() {
        let mut profile = Seccomp {
            default_action: "SCMP_ACT_SOMETIMES".into(),
            ..Default::default()
        };
        let err = compile(&profile).err().unwrap().to_string();
        assert!(err.contains("unknown seccomp action"), "{err}");
        profile.default_action = "SCMP_ACT_ERRNO".into();
        profile.architectures = vec!["SCMP_ARCH_Z80".into()];
        let err = compile(&profile).err().unwrap().to_string();
        assert!(err.contains("unknown seccomp architecture"), "{err}");
    }
}
