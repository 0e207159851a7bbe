//! `minidocker-init -- CMD ARGS…` — a PID 1 that does PID 1's two jobs.
//!
//! The first process of a PID namespace is special in two ways, and most
//! programs are not written for either:
//!
//! 1. **Signals.** The kernel drops every signal PID 1 has left at its
//!    default action (SIGKILL from outside excepted): PID 1 gets only what it
//!    asked for, with a handler or — as here — by blocking the signal and
//!    taking it with sigwait. `sleep` as PID 1 asks for nothing, so it
//!    ignores SIGTERM, and `docker stop` waits 10 s and then kills it.
//! 2. **Orphans.** Every process whose parent exits is re-parented to PID 1,
//!    which must wait(2) for it, or it stays a zombie, holding a PID.
//!
//! This init starts CMD as its child, forwards every signal it receives to
//! it, reaps every child that exits, and when CMD exits, exits with CMD's
//! status (128 + signal if a signal killed it). Docker's `--init` does the
//! same with tini, bind-mounted into the container as /sbin/docker-init.
//!
//! Std and libc only, linked statically: it is bound into containers that
//! may have no libc at all.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    if command.is_empty() {
        eprintln!("usage: minidocker-init -- CMD [ARGS...]");
        return ExitCode::from(2);
    }
    match run(command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("minidocker-init: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(command: &[String]) -> std::io::Result<u8> {
    // Block every signal: they wait in the queue until sigwait takes them
    // one by one, so there are no handlers and no races. (The synchronous
    // ones, SIGSEGV and friends, are left alone: blocking them is undefined.)
    // SAFETY: plain libc calls on a sigset_t that lives on our stack.
    let mut signals: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut signals);
        for synchronous in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGSYS,
        ] {
            libc::sigdelset(&mut signals, synchronous);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &signals, std::ptr::null_mut());
    }
    // The signal mask is inherited across fork and execve: CMD must start
    // with nothing blocked, so the child unblocks everything before execve.
    let mut start = Command::new(&command[0]);
    start.args(&command[1..]);
    // SAFETY: sigprocmask is async-signal-safe, as pre_exec requires.
    unsafe {
        start.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = start
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("starting {}: {e}", command[0])))?;
    let child_pid = child.id() as libc::pid_t;
    // ANCHOR: loop
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: `signals` is initialised above; `signal` is a valid out pointer.
        if unsafe { libc::sigwait(&signals, &mut signal) } != 0 {
            continue;
        }
        if signal != libc::SIGCHLD {
            // SAFETY: kill(2) with a pid we started.
            unsafe { libc::kill(child_pid, signal) };
            continue;
        }
        // Reap everything that has exited: our child, and the orphans.
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child_pid {
                if libc::WIFEXITED(status) {
                    return Ok(libc::WEXITSTATUS(status) as u8);
                }
                if libc::WIFSIGNALED(status) {
                    return Ok(128 + libc::WTERMSIG(status) as u8);
                }
            }
        }
    }
    // ANCHOR_END: loop
}
