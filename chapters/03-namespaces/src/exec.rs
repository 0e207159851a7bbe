//! Finding the program and running it, with Docker's exit codes.
//!
//! A shell reports 127 for "command not found" and 126 for "found but not
//! executable"; Docker (and runc) do the same for a container whose command
//! fails to start, so scripts can tell a missing program from a program that
//! ran and failed.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use api::exit_code::StartFailure;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::{AccessFlags, access};

use crate::container::ContainerError;

/// A command that cannot start, with Docker's exit code and words.
fn start_failure(failure: StartFailure, program: &str) -> anyhow::Error {
    ContainerError {
        exit_code: failure.exit_code(),
        message: failure.message(program),
    }
    .into()
}

// ANCHOR: find_program
/// `name` as execvp(3) would find it: a path if it has a slash, else the
/// first executable `name` in the container's PATH.
pub fn find_program(name: &str, env: &[String]) -> anyhow::Result<PathBuf> {
    if name.contains('/') {
        let path = Path::new(name);
        return match check(path) {
            Some(Ok(())) => Ok(path.to_path_buf()),
            Some(Err(why)) => Err(start_failure(StartFailure::NotExecutable(why), name)),
            None => Err(start_failure(StartFailure::NoSuchFile, name)),
        };
    }
    let path_var = env
        .iter()
        .chain(std::iter::once(&api::types::DEFAULT_PATH.to_string()))
        .find_map(|pair| pair.strip_prefix("PATH="))
        .unwrap_or_default()
        .to_string();
    let mut denied = None;
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        match check(&candidate) {
            Some(Ok(())) => return Ok(candidate),
            Some(Err(why)) => denied.get_or_insert((why, candidate.display().to_string())),
            None => continue,
        };
    }
    Err(match denied {
        Some((why, candidate)) => start_failure(StartFailure::NotExecutable(why), &candidate),
        None => start_failure(StartFailure::NotInPath, name),
    })
}
// ANCHOR_END: find_program

/// `None` if nothing is there; `Some(Err)` if it cannot be executed.
fn check(path: &Path) -> Option<Result<(), &'static str>> {
    let meta = std::fs::metadata(path).ok()?;
    Some(if meta.is_dir() {
        Err("is a directory")
    } else if meta.permissions().mode() & 0o111 == 0 || access(path, AccessFlags::X_OK).is_err() {
        Err("permission denied")
    } else {
        Ok(())
    })
}

/// execve(2): returns only on failure.
pub fn exec(program: &Path, args: &[String], env: &[String]) -> anyhow::Error {
    let cstrings = |items: &[String]| -> Result<Vec<CString>, anyhow::Error> {
        items
            .iter()
            .map(|s| {
                CString::new(s.as_bytes()).map_err(|_| anyhow::anyhow!("{s:?} contains a NUL byte"))
            })
            .collect()
    };
    let (args, env) = match (cstrings(args), cstrings(env)) {
        (Ok(args), Ok(env)) => (args, env),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let Ok(program_c) = CString::new(program.as_os_str().as_bytes()) else {
        return anyhow::anyhow!("{} contains a NUL byte", program.display());
    };
    let errno = match nix::unistd::execve(&program_c, &args, &env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    let program = program.display().to_string();
    match StartFailure::from_io(&program, &std::io::Error::from(errno)) {
        Some(failure) => start_failure(failure, &program),
        None => ContainerError {
            exit_code: api::exit_code::CANNOT_EXECUTE,
            message: format!("exec: {program:?}: {}", errno.desc()),
        }
        .into(),
    }
}

// ANCHOR: close_on_exec
/// Marks every descriptor from `first` up close-on-exec. Whatever the
/// runtime's caller left open (a shell's fd 255, an engine's pipe, a
/// directory) must not reach the container: CVE-2024-21626 let a container
/// escape through a leaked directory descriptor of runc's. runc's answer,
/// and ours: the descriptors a container gets are 0, 1 and 2.
pub fn close_on_exec_from(first: i32) -> anyhow::Result<()> {
    // close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11): one call.
    // SAFETY: the call only changes descriptor flags.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if done == 0 {
        return Ok(());
    }
    // Older kernels: one fcntl per descriptor /proc/self/fd lists.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .context("listing /proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD only sets the flag; a descriptor that was
        // read_dir's own is closed by now, and EBADF is harmless.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}
// ANCHOR_END: close_on_exec

// ANCHOR: reset_signals
/// Every signal back to its default action, and none blocked. An ignored
/// signal stays ignored across execve(2), and the signal mask stays too:
/// without this the container's program would inherit ours — Rust ignores
/// SIGPIPE at startup, and a runtime started under `nohup` (containerd's
/// shim is) ignores SIGHUP — and `yes | head -1` would not end with
/// SIGPIPE, nor `docker kill -s HUP` reach a shell's trap.
pub fn reset_signals() -> anyhow::Result<()> {
    reset_signals_keeping_blocked(&SigSet::empty())
}

/// [`reset_signals`], but `blocked` stays blocked across execve(2): what
/// arrives before the program can take it waits in the queue.
pub fn reset_signals_keeping_blocked(blocked: &SigSet) -> anyhow::Result<()> {
    // The kernel's struct sigaction (x86_64 and arm64 alike). The raw call,
    // because the C library refuses the two real-time signals it keeps for
    // itself (32, 33), and glibc's posix_spawn — which Rust's Command uses —
    // leaves exactly those ignored in every program it starts.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads one struct of the kernel's layout and
        // installs no handler (SIG_DFL); 8 is the kernel's sigset size.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(blocked), None)
        .context("sigprocmask")?;
    Ok(())
}
// ANCHOR_END: reset_signals

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn code(err: anyhow::Error) -> (i32, String) {
        let e = err.downcast::<ContainerError>().unwrap();
        (e.exit_code, e.message)
    }

    #[test]
    fn lookup_follows_path_and_reports_docker_codes() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(bin.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(bin.join("data"), "").unwrap();
        let env = vec![format!("PATH=/nonexistent:{}", bin.display())];
        assert_eq!(find_program("tool", &env).unwrap(), bin.join("tool"));
        let (code_, message) = code(find_program("missing", &env).unwrap_err());
        assert_eq!(
            (code_, message.as_str()),
            (127, "exec: \"missing\": executable file not found in $PATH")
        );
        let (code_, message) = code(find_program("data", &env).unwrap_err());
        assert_eq!(code_, 126, "{message}");
        assert!(message.ends_with("permission denied"), "{message}");
        let (code_, _) = code(find_program(&bin.display().to_string(), &env).unwrap_err());
        assert_eq!(code_, 126);
        let (code_, message) = code(find_program("/no/such/file", &env).unwrap_err());
        assert_eq!(
            (code_, message.as_str()),
            (127, "exec: \"/no/such/file\": no such file or directory")
        );
    }
}
