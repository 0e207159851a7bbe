//! The exit codes `docker run` gives, and the words that carry them.
//!
//! When the command ran, `docker run` exits with its status; killed by
//! signal N, with 128 + N ([`crate::signal::exit_status_for`]). When it
//! could not run, the daemon answers with an error *message*, and the
//! docker CLI turns words of it back into a code, as a shell does: 127 for
//! "command not found", 126 for "found but cannot be executed", 125 for
//! anything else (an error of the daemon or the CLI itself). Every layer
//! here says it in dockerd's words, so the real CLI gives the right code
//! whichever layer found the problem.

use std::io;

/// The daemon (or the CLI) failed: the command never ran.
pub const DAEMON_ERROR: i32 = 125;
/// The command was found but cannot be executed.
pub const CANNOT_EXECUTE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;

/// Parses the command line; a usage error exits with 125, as `docker run`'s
/// own errors do (clap's default, 2, would look like the command's status).
pub fn parse_args<T: clap::Parser>() -> T {
    T::try_parse().unwrap_or_else(|error| {
        let _ = error.print();
        // --help and --version are "errors" that go to stdout, with success.
        std::process::exit(if error.use_stderr() { DAEMON_ERROR } else { 0 })
    })
}

// ANCHOR: start_failure
/// Why a container's command could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFailure {
    /// A bare name that no directory of PATH holds.
    NotInPath,
    /// A path (it has a slash) where nothing is.
    NoSuchFile,
    /// Something is there, but not executable: the errno's text
    /// ("permission denied", "is a directory").
    NotExecutable(&'static str),
}

impl StartFailure {
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::NotInPath | StartFailure::NoSuchFile => NOT_FOUND,
            StartFailure::NotExecutable(_) => CANNOT_EXECUTE,
        }
    }

    /// dockerd's words (Go's %q quotes the name as `{:?}` does).
    pub fn message(self, program: &str) -> String {
        match self {
            StartFailure::NotInPath => {
                format!("exec: {program:?}: executable file not found in $PATH")
            }
            StartFailure::NoSuchFile => format!("exec: {program:?}: no such file or directory"),
            StartFailure::NotExecutable(why) => format!("exec: {program:?}: {why}"),
        }
    }

    /// What a failed spawn or execve(2) of `program` means, if it is one
    /// of these (ENOENT, EACCES, EISDIR).
    pub fn from_io(program: &str, error: &io::Error) -> Option<StartFailure> {
        match error.raw_os_error() {
            Some(libc::ENOENT) if program.contains('/') => Some(StartFailure::NoSuchFile),
            Some(libc::ENOENT) => Some(StartFailure::NotInPath),
            Some(libc::EACCES) => Some(StartFailure::NotExecutable("permission denied")),
            Some(libc::EISDIR) => Some(StartFailure::NotExecutable("is a directory")),
            _ => None,
        }
    }
}
// ANCHOR_END: start_failure

// ANCHOR: for_start_error
/// The docker CLI's side: the exit code for the daemon's message about a
/// container that did not start (docker/cli, `runStartContainerErr`).
pub fn for_start_error(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        NOT_FOUND
    } else if message.contains("permission denied") || message.contains("is a directory") {
        CANNOT_EXECUTE
    } else {
        DAEMON_ERROR
    }
}
// ANCHOR_END: for_start_error

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_reads_back_as_its_own_code() {
        for failure in [
            StartFailure::NotInPath,
            StartFailure::NoSuchFile,
            StartFailure::NotExecutable("permission denied"),
            StartFailure::NotExecutable("is a directory"),
        ] {
            let message = format!("failed to create task: {}: unknown", failure.message("x"));
            assert_eq!(for_start_error(&message), failure.exit_code(), "{message}");
        }
        assert_eq!(for_start_error("no space left on device"), DAEMON_ERROR);
    }

    #[test]
    fn io_errors_map_like_execvp() {
        let error = |errno| io::Error::from_raw_os_error(errno);
        assert_eq!(
            StartFailure::from_io("ls", &error(libc::ENOENT)),
            Some(StartFailure::NotInPath)
        );
        assert_eq!(
            StartFailure::from_io("/bin/nope", &error(libc::ENOENT)),
            Some(StartFailure::NoSuchFile)
        );
        assert_eq!(
            StartFailure::NotInPath.message("ls"),
            "exec: \"ls\": executable file not found in $PATH"
        );
        assert_eq!(StartFailure::from_io("x", &error(libc::EIO)), None);
    }
}
