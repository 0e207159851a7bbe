//! The engine's side of the control socket. Each call is one connection:
//! a request line, an answer line. A shim that has already exited has no
//! socket any more, but its status file stays: `status`, `wait` and
//! `attach` answer from it, so an engine never has to tell "exited a
//! moment ago" from "exited long ago". A shim that was killed while its
//! container ran leaves `running` in that file and no socket: that is an
//! error naming what to do (the runtime knows the container's fate).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::ShimStatus;
use super::control::Request;

/// One container's shim, found by its directory.
pub struct ShimClient {
    dir: PathBuf,
}

/// What `attach` gets.
pub enum Attached {
    /// The container's streams: raw with a terminal, in Docker's frames
    /// otherwise; what is written (`stream.get_mut()`) goes to its stdin,
    /// if asked. Read through the reader: output may follow the answer in
    /// the same read.
    Live {
        tty: bool,
        stream: BufReader<UnixStream>,
    },
    /// The container has exited and its shim is gone: nothing more will come.
    Exited(ShimStatus),
}

impl ShimClient {
    pub fn new(exec_root: &Path, id: &str) -> ShimClient {
        ShimClient {
            dir: super::shim_dir(exec_root, id),
        }
    }

    /// The last status the shim wrote (`status.json`).
    pub fn saved_status(&self) -> anyhow::Result<ShimStatus> {
        let path = self.dir.join("status.json");
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("{} is corrupt", path.display()))
    }

    /// Sends `request`; `None` when no shim listens any more.
    fn ask(
        &self,
        request: &Request,
    ) -> anyhow::Result<Option<(serde_json::Value, BufReader<UnixStream>)>> {
        let path = self.dir.join("ctl.sock");
        let mut connection = match UnixStream::connect(&path) {
            Ok(connection) => connection,
            // No socket (removed at exit), or nobody behind it (killed).
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::NotFound)
                    || e.raw_os_error() == Some(libc::ECONNREFUSED) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e).with_context(|| format!("connecting to {}", path.display())),
        };
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        // A shim on its way out closes connections it has not read: the
        // request or the answer then meets a closed socket (EPIPE,
        // ECONNRESET), or the answer is an empty line. Its status file has
        // the last word by then.
        let gone = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            )
        };
        match connection.write_all(&line) {
            Err(e) if gone(&e) => return Ok(None),
            other => other.context("writing to the shim")?,
        }
        let mut reader = BufReader::new(connection);
        let mut answer = String::new();
        match reader.read_line(&mut answer) {
            Err(e) if gone(&e) => return Ok(None),
            other => other.context("reading the shim's answer")?,
        };
        if answer.is_empty() {
            return Ok(None);
        }
        let answer: serde_json::Value =
            serde_json::from_str(&answer).context("the shim's answer is not JSON")?;
        if answer["ok"] != true {
            bail!("{}", answer["error"].as_str().unwrap_or("the shim refused"));
        }
        Ok(Some((answer, reader)))
    }

    /// The status, from the shim, or from its file once it has exited.
    fn status_after(&self, request: Request) -> anyhow::Result<ShimStatus> {
        match self.ask(&request)? {
            Some((answer, _)) => Ok(serde_json::from_value(answer["status"].clone())?),
            None => self.exited_status(),
        }
    }

    /// The status file of a shim that no longer answers.
    fn exited_status(&self) -> anyhow::Result<ShimStatus> {
        let status = self.saved_status()?;
        if status.status != "exited" {
            bail!(
                "the shim in {} is gone while its container was {}: ask the runtime \
                 (`minirunc state {}`) and end it with `minirunc delete --force {}`",
                self.dir.display(),
                status.status,
                status.id,
                status.id
            );
        }
        Ok(status)
    }

    pub fn status(&self) -> anyhow::Result<ShimStatus> {
        self.status_after(Request::Status)
    }

    /// Blocks until the container has exited.
    pub fn wait(&self) -> anyhow::Result<ShimStatus> {
        self.status_after(Request::Wait)
    }

    pub fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stdin_once: bool,
    ) -> anyhow::Result<Attached> {
        let request = Request::Attach {
            stdin,
            stdout,
            stderr,
            stdin_once,
        };
        match self.ask(&request)? {
            Some((answer, stream)) => Ok(Attached::Live {
                tty: answer["tty"] == true,
                stream,
            }),
            None => Ok(Attached::Exited(self.exited_status()?)),
        }
    }

    /// One more process in the running container: `process` is
    /// config.json's process object. The connection then carries it in
    /// frames (stream 1 its stdout or terminal, 2 its stderr, a last frame
    /// of stream 4 with its exit status); what is written to it is its
    /// stdin, and shutting down the write side closes that stdin. `id`
    /// names it for [`ShimClient::resize`].
    pub fn exec(
        &self,
        process: serde_json::Value,
        id: Option<&str>,
    ) -> anyhow::Result<BufReader<UnixStream>> {
        let request = Request::Exec {
            process,
            id: id.map(str::to_string),
        };
        match self.ask(&request)? {
            Some((_, stream)) => Ok(stream),
            None => bail!(
                "the container has exited (its shim in {} is gone)",
                self.dir.display()
            ),
        }
    }

    /// The host PID of the running exec named `exec`.
    pub fn exec_pid(&self, exec: &str) -> anyhow::Result<i32> {
        let request = Request::ExecPid {
            exec: exec.to_string(),
        };
        match self.ask(&request)? {
            Some((answer, _)) => answer["pid"]
                .as_i64()
                .map(|pid| pid as i32)
                .context("the shim's answer has no pid"),
            None => bail!("the container has exited"),
        }
    }

    pub fn signal_exec(&self, exec: &str, signal: i32) -> anyhow::Result<()> {
        self.simple(Request::SignalExec {
            exec: exec.to_string(),
            signal,
        })
    }

    /// A request answered with `{"ok":true}` alone.
    fn simple(&self, request: Request) -> anyhow::Result<()> {
        match self.ask(&request)? {
            Some(_) => Ok(()),
            None => bail!(
                "the container has exited (its shim in {} is gone)",
                self.dir.display()
            ),
        }
    }

    pub fn start(&self) -> anyhow::Result<()> {
        self.simple(Request::Start)
    }

    pub fn signal(&self, signal: i32) -> anyhow::Result<()> {
        self.simple(Request::Signal { signal })
    }

    /// The container's terminal, or that of the exec named `exec`.
    pub fn resize(&self, height: u16, width: u16, exec: Option<&str>) -> anyhow::Result<()> {
        self.simple(Request::Resize {
            height,
            width,
            exec: exec.map(str::to_string),
        })
    }
}
