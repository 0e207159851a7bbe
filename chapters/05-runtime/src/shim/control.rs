//! The control socket's wire format: one JSON request per line, one JSON
//! answer per line (`{"ok":true,…}` or `{"ok":false,"error":"…"}`). After
//! a successful `attach` the connection carries the container's streams.

use std::io::Write;

use serde::{Deserialize, Serialize};

// ANCHOR: request
/// What a client (the engine) asks the shim.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Run the created container's process (`runtime start`).
    Start,
    /// `{"ok":true,"status":{…}}`: the status file's contents.
    Status,
    /// Blocks until the container has exited; answers with the status.
    Wait,
    /// A signal to the container's init (`runtime kill ID SIGNAL`).
    Signal { signal: i32 },
    /// A terminal's new size: the container's (with `--tty`), or that of
    /// the exec named `exec` (one started with that `id` and a terminal).
    Resize {
        height: u16,
        width: u16,
        #[serde(default)]
        exec: Option<String>,
    },
    /// After `{"ok":true,"tty":…}`, the connection is the container's:
    /// what the client writes goes to its stdin (if `stdin`); its output
    /// comes back — raw with a terminal, otherwise in Docker's frames
    /// (1 byte stream: 1 stdout, 2 stderr; 3 zero bytes; 4 bytes length,
    /// big-endian; the bytes). With `stdin_once`, the client's end of input
    /// closes the container's stdin (`echo hi | docker run -i … cat`).
    /// One more process in the container (`runtime exec`): `process` is
    /// config.json's process object (args, env, cwd, user, terminal).
    /// After `{"ok":true}` the connection carries it, in frames whatever
    /// the terminal: what the client writes is its stdin; stream 1 is its
    /// stdout (or its terminal), 2 its stderr, and a last frame of stream
    /// 4 ([`api::stdcopy::StreamType::Exit`]) holds its exit status in
    /// decimal.
    /// `id` names the exec for a later `resize`.
    Exec {
        process: serde_json::Value,
        #[serde(default)]
        id: Option<String>,
    },
    /// `{"ok":true,"pid":N}`: the host PID of the running exec `exec` (one
    /// started with that `id`), as `docker exec` inspect shows it.
    ExecPid { exec: String },
    /// A signal to the running exec `exec`'s process: a health check's
    /// probe that outlived its timeout gets SIGKILL.
    SignalExec { exec: String, signal: i32 },
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
        #[serde(default)]
        stdin_once: bool,
    },
}
// ANCHOR_END: request

/// Writes one answer line.
pub fn answer(out: &mut impl Write, value: serde_json::Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(&value)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// `{"ok":false,"error":…}`.
pub fn refuse(out: &mut impl Write, error: &str) -> std::io::Result<()> {
    answer(out, serde_json::json!({"ok": false, "error": error}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let parse = |text: &str| serde_json::from_str::<Request>(text);
        assert_eq!(parse(r#"{"op":"start"}"#).unwrap(), Request::Start);
        assert_eq!(
            parse(r#"{"op":"signal","signal":15}"#).unwrap(),
            Request::Signal { signal: 15 }
        );
        assert_eq!(
            parse(r#"{"op":"attach","stdout":true}"#).unwrap(),
            Request::Attach {
                stdin: false,
                stdout: true,
                stderr: false,
                stdin_once: false
            }
        );
        assert!(parse(r#"{"op":"explode"}"#).is_err());
        assert!(parse("garbage").is_err());
    }
}
