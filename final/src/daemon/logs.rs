//! `docker logs`: the shim's json-file log, read back. The shim writes
//! every line as it comes, whoever is attached, so the log holds all the
//! output since the first start (docker-py's `containers.run` relies on
//! that: it reads logs, not attach). With `follow`, new lines are read as
//! the file grows (inotify) until the container stops. (moby:
//! `daemon/logger/jsonfilelog/read.go`.)

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::ApiError;
use api::containers::{self, LogEntry};
use api::http::Request;
use api::stdcopy::StreamType;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::Deserialize;

use super::container::Container;

/// What `GET /containers/{id}/logs` asks for.
pub struct LogQuery {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl LogQuery {
    pub fn parse(req: &Request) -> Result<LogQuery, ApiError> {
        let (stdout, stderr) = (req.query_bool("stdout"), req.query_bool("stderr"));
        if !stdout && !stderr {
            return Err(ApiError::bad_request("You must choose at least one stream"));
        }
        Ok(LogQuery {
            stdout,
            stderr,
            follow: req.query_bool("follow"),
            timestamps: req.query_bool("timestamps"),
            tail: containers::parse_tail(req.query("tail"))?,
            since: unix_time(req.query("since"), "since")?,
            until: unix_time(req.query("until"), "until")?,
        })
    }

    fn wants(&self, entry: &LogEntry) -> bool {
        let stream = match entry.stream {
            StreamType::Stderr => self.stderr,
            _ => self.stdout,
        };
        stream
            && self.since.is_none_or(|since| entry.time >= since)
            && self.until.is_none_or(|until| entry.time <= until)
    }
}

/// `since`/`until`: Unix seconds, with an optional fraction ("0" is unset).
fn unix_time(text: Option<&str>, what: &str) -> Result<Option<SystemTime>, ApiError> {
    match text.filter(|t| !t.is_empty() && *t != "0") {
        None => Ok(None),
        Some(text) => {
            let seconds: f64 = text.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid {what} {text:?}: use Unix seconds"))
            })?;
            if !(0.0..1e12).contains(&seconds) {
                return Err(ApiError::bad_request(format!(
                    "{what} {text:?} is out of range"
                )));
            }
            Ok(Some(UNIX_EPOCH + Duration::from_secs_f64(seconds)))
        }
    }
}

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
}

fn parse_line(line: &str) -> Option<LogEntry> {
    let line: Line = serde_json::from_str(line).ok()?;
    Some(LogEntry {
        stream: if line.stream == "stderr" {
            StreamType::Stderr
        } else {
            StreamType::Stdout
        },
        time: humantime::parse_rfc3339(&line.time).ok()?,
        bytes: line.log.into_bytes(),
    })
}

/// The rotated files, oldest first (`F.2`, `F.1`), then `F` itself.
fn rotated(path: &Path) -> Vec<PathBuf> {
    let mut older: Vec<PathBuf> = (1..100)
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .take_while(|p| p.exists())
        .collect();
    older.reverse();
    older
}

/// Reads whole lines from `reader` into `out`; a line still being written
/// (no newline yet) is left for the next read.
fn read_lines(reader: &mut BufReader<File>, out: &mut Vec<LogEntry>) -> io::Result<()> {
    let mut line = String::new();
    loop {
        let start = reader.stream_position()?;
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') {
            reader.seek(SeekFrom::Start(start))?;
            return Ok(());
        }
        out.extend(parse_line(line.trim_end()));
    }
}

/// Where a container's output is: its log, and its shim's directory
/// (whose status file says when the output has ended).
pub struct LogSource {
    pub path: PathBuf,
    pub shim_dir: PathBuf,
}

// ANCHOR: write_logs
/// Writes the log as `query` asks: framed, or raw for a terminal.
pub fn write_logs(
    container: &Arc<Container>,
    source: &LogSource,
    query: &LogQuery,
    out: &mut dyn Write,
) -> io::Result<()> {
    let path = source.path.as_path();
    let tty = container.record().config.tty;
    // ANCHOR: log_watch
    // Watched before reading, so no write between the read and the watch
    // is missed: the log's directory (writes, rotation) and the shim's
    // (its status file, replaced when the container exits).
    let watch = if query.follow {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
        let changes =
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO;
        for dir in [path.parent(), Some(source.shim_dir.as_path())]
            .into_iter()
            .flatten()
        {
            let _ = inotify.add_watch(dir, changes);
        }
        Some(inotify)
    } else {
        None
    };
    let mut history = Vec::new();
    for older in rotated(path) {
        if let Ok(file) = File::open(&older) {
            read_lines(&mut BufReader::new(file), &mut history)?;
        }
    }
    let mut current = File::open(path).ok().map(BufReader::new);
    if let Some(reader) = current.as_mut() {
        read_lines(reader, &mut history)?;
    }
    let mut history: Vec<LogEntry> = history.into_iter().filter(|e| query.wants(e)).collect();
    if let Some(n) = query.tail {
        history.drain(..history.len().saturating_sub(n));
    }
    for entry in &history {
        containers::write_log_entry(out, tty, entry, query.timestamps)?;
    }
    let Some(watch) = watch else {
        return Ok(());
    };
    follow(container, source, query, current, &watch, out)
    // ANCHOR_END: log_watch
}
// ANCHOR_END: write_logs

/// New lines as they are written, until the container is not running
/// and the file has been read to its end.
fn follow(
    container: &Arc<Container>,
    source: &LogSource,
    query: &LogQuery,
    mut current: Option<BufReader<File>>,
    watch: &Inotify,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (path, tty) = (source.path.as_path(), container.record().config.tty);
    let shim_status = source.shim_dir.join("status.json");
    loop {
        // Checked before reading: the shim writes every line before it
        // writes "exited" in its status file, so a read after that is the last.
        let shim_exited = std::fs::read(&shim_status)
            .ok()
            .and_then(|b| serde_json::from_slice::<runtime::shim::ShimStatus>(&b).ok())
            .is_none_or(|s| s.status == "exited");
        let running = container.state().is_running() && !container.is_removed() && !shim_exited;
        // The file was rotated (or created): finish the old one, go on with the new.
        let inode = |f: &BufReader<File>| f.get_ref().metadata().map(|m| m.ino()).ok();
        let on_disk = std::fs::metadata(path).map(|m| m.ino()).ok();
        let mut fresh = Vec::new();
        if let Some(reader) = current.as_mut() {
            read_lines(reader, &mut fresh)?;
        }
        if on_disk.is_some() && current.as_ref().and_then(inode) != on_disk {
            current = File::open(path).ok().map(BufReader::new);
            if let Some(reader) = current.as_mut() {
                read_lines(reader, &mut fresh)?;
            }
        }
        for entry in fresh.iter().filter(|e| query.wants(e)) {
            containers::write_log_entry(out, tty, entry, query.timestamps)?;
        }
        if !running {
            return Ok(());
        }
        // A write, a rotation, the exit; at worst a second (a removal).
        let fd = std::os::fd::AsFd::as_fd(watch);
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16)) {
            Ok(n) if n > 0 => {
                let _ = watch.read_events();
            }
            _ => {}
        }
    }
}
