//! `POST /containers/{id}/attach`: the client's connection joined to the
//! container's streams in the shim. The shim already speaks Docker's
//! format (8-byte frames, or raw bytes for a terminal), so the daemon only
//! copies bytes both ways. (moby: `daemon/attach.go`.)

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;

use api::ApiError;
use api::detach::{self, Scanned, Scanner};
use api::http::Hijacked;
use runtime::shim::client::Attached;

use super::Daemon;
use super::container::{Container, PendingAttach};

/// Where an attach gets its streams from.
pub enum Source {
    /// The container runs: the shim's streams, now.
    Now(Attached),
    /// Not started yet: `/start` delivers them just before the process runs.
    AtStart(mpsc::Receiver<Attached>),
}

impl Daemon {
    // ANCHOR: attach
    /// Registers the attach *before* the 101 goes out: the CLI sends
    /// `/start` as soon as it reads the 101, and the first bytes must reach it.
    pub fn attach(
        &self,
        container: &Container,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<Source, ApiError> {
        // Under the start lock: a start cannot slip between the check and
        // the registration.
        let _operation = container
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let record = container.snapshot();
        if record.state.has_process() {
            let attached = self.shim_client(&container.id).attach(
                stdin,
                stdout,
                stderr,
                record.config.stdin_once,
            )?;
            return Ok(Source::Now(attached));
        }
        let (deliver, receive) = mpsc::channel();
        container
            .pending_attaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingAttach {
                stdin,
                stdout,
                stderr,
                deliver,
            });
        Ok(Source::AtStart(receive))
    }
    // ANCHOR_END: attach
}

/// The attach's detach keys: docker's syntax, ctrl-p ctrl-q when none.
pub fn detach_keys(text: Option<&str>) -> Result<Vec<u8>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(detach::DEFAULT.to_vec()),
        Some(text) => detach::parse(text).map_err(ApiError::bad_request),
    }
}

/// How the client's input ended.
pub enum InputEnd {
    /// EOF (or an error): "no more input".
    Closed,
    /// The detach keys: let the client go, the process runs on.
    Detached,
}

// ANCHOR: copy_input
/// Copies the client's input to the process, watching for the detach
/// keys as dockerd does: the docker CLI watches too, but only the daemon
/// can tell the end of input from a detach, and answer each as it should.
pub fn copy_input(from: &mut impl Read, to: &mut impl Write, keys: Vec<u8>) -> InputEnd {
    let mut scanner = Scanner::new(keys);
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => return InputEnd::Closed,
            Ok(n) => n,
        };
        match scanner.feed(&buffer[..n]) {
            Scanned::Forward(bytes) => {
                if to.write_all(&bytes).is_err() {
                    return InputEnd::Closed;
                }
            }
            Scanned::Detach(before) => {
                let _ = to.write_all(&before);
                return InputEnd::Detached;
            }
        }
    }
}
// ANCHOR_END: copy_input

// ANCHOR: relay
/// Copies the container's output to the client until it ends, and the
/// client's input to the container. The client's EOF means "no more
/// input", not "gone": the CLI half-closes at once when it has none.
pub fn relay(source: Source, client: Hijacked, keys: Vec<u8>) {
    let attached = match source {
        Source::Now(attached) => attached,
        Source::AtStart(receive) => match receive.recv() {
            Ok(attached) => attached,
            Err(_) => return, // removed, or its start failed
        },
    };
    let Hijacked {
        mut reader,
        mut writer,
    } = client;
    let Attached::Live { mut stream, .. } = attached else {
        let _ = writer.shutdown(Shutdown::Both);
        return;
    };
    if let (Ok(mut to_container), Ok(client)) = (stream.get_ref().try_clone(), writer.try_clone()) {
        std::thread::spawn(
            move || match copy_input(&mut reader, &mut to_container, keys) {
                // The shim closes the container's stdin (with StdinOnce).
                InputEnd::Closed => {
                    let _ = to_container.shutdown(Shutdown::Write);
                }
                // The client goes; the output loop below ends with the shim's
                // side. A terminal's stdin stays open; without one, StdinOnce
                // closes it, as dockerd does.
                InputEnd::Detached => {
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = to_container.shutdown(Shutdown::Both);
                }
            },
        );
    }
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if writer
                    .write_all(&buffer[..n])
                    .and_then(|()| writer.flush())
                    .is_err()
                {
                    break; // the client went away
                }
            }
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    let _ = stream.get_ref().shutdown(Shutdown::Both);
}
// ANCHOR_END: relay
