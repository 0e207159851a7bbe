//! The container's output, in Docker's `json-file` log format: one JSON
//! object per line, `{"log":"hi\n","stream":"stdout","time":"…Z"}`, the
//! time in RFC 3339 with nanoseconds, UTC. `docker logs` reads exactly this
//! (`/var/lib/docker/containers/ID/ID-json.log`), so the engine can serve
//! the file as it is.
//!
//! A line is logged when its newline arrives; a line longer than 16 KiB is
//! cut into entries without one (Docker's buffer size), and what is left
//! when the stream ends is logged as it is. The file is rotated by size:
//! `F` → `F.1` → … → `F.N-1`, the oldest dropped.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use serde::Serialize;

/// Docker's limit on one log entry.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

/// A json-file log, rotated at `max_size` bytes into `max_files` files.
pub struct JsonFileLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    /// Bytes that could not be written (a full disk), said in the log as
    /// soon as it takes writes again.
    lost: u64,
    last_error: String,
}

impl JsonFileLog {
    /// `max_size` 0: no rotation.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> anyhow::Result<JsonFileLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the log {}", path.display()))?;
        let size = file.metadata()?.len();
        Ok(JsonFileLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            lost: 0,
            last_error: String::new(),
        })
    }

    /// Logs one entry. A write that fails (ENOSPC) loses the entry, not
    /// the container: the loss is counted and written down later.
    pub fn write(&mut self, stream: &str, bytes: &[u8], time: SystemTime) {
        if self.lost > 0 {
            let note = format!(
                "minishim: {} bytes of output lost ({})\n",
                self.lost, self.last_error
            );
            let lost = self.lost;
            self.lost = 0;
            if self.append("stderr", note.as_bytes(), time).is_err() {
                self.lost = lost;
            }
        }
        if let Err(e) = self.append(stream, bytes, time) {
            self.lost += bytes.len() as u64;
            self.last_error = format!("{e:#}");
        }
    }

    fn append(&mut self, stream: &str, bytes: &[u8], time: SystemTime) -> anyhow::Result<()> {
        let entry = Entry {
            log: &String::from_utf8_lossy(bytes),
            stream,
            time: api::timefmt::rfc3339_nanos(time),
        };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(&line)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> anyhow::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_files == 1 {
            self.file.set_len(0)?;
        } else {
            for n in (1..self.max_files - 1).rev() {
                let _ = fs::rename(numbered(n), numbered(n + 1));
            }
            fs::rename(&self.path, numbered(1))
                .with_context(|| format!("rotating {}", self.path.display()))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .with_context(|| format!("opening the log {}", self.path.display()))?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Cuts a stream of bytes into log entries: whole lines, with their
/// newline; [`MAX_LINE`]-byte pieces of longer ones.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// The entries `bytes` completes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        let mut entries = Vec::new();
        loop {
            match self.pending.iter().position(|&b| b == b'\n') {
                Some(at) if at < MAX_LINE => {
                    entries.push(self.pending.drain(..=at).collect());
                }
                _ if self.pending.len() >= MAX_LINE => {
                    entries.push(self.pending.drain(..MAX_LINE).collect());
                }
                _ => return entries,
            }
        }
    }

    /// What is left when the stream ends.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_entries_and_long_ones_are_cut() {
        let mut split = LineSplitter::default();
        assert_eq!(split.push(b"hel"), Vec::<Vec<u8>>::new());
        assert_eq!(split.push(b"lo\nwor"), vec![b"hello\n".to_vec()]);
        assert_eq!(
            split.push(b"ld\n\n"),
            vec![b"world\n".to_vec(), b"\n".to_vec()]
        );
        let long = vec![b'x'; MAX_LINE + 10];
        let entries = split.push(&long);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].len(), MAX_LINE);
        assert_eq!(split.finish(), Some(vec![b'x'; 10]));
        assert_eq!(split.finish(), None);
    }

    #[test]
    fn entries_are_docker_json_and_the_file_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonFileLog::open(&path, 200, 3).unwrap();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_500_000_001);
        log.write("stdout", b"hi \"there\"\n", time);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"log\":\"hi \\\"there\\\"\\n\",\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:01.500000001Z\"}\n"
        );
        for _ in 0..10 {
            log.write(
                "stderr",
                b"0123456789012345678901234567890123456789\n",
                time,
            );
        }
        assert!(dir.path().join("c-json.log.1").exists());
        assert!(dir.path().join("c-json.log.2").exists());
        assert!(!dir.path().join("c-json.log.3").exists(), "3 files at most");
        for name in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
            assert!(
                fs::metadata(dir.path().join(name)).unwrap().len() <= 200,
                "{name}"
            );
        }
    }
}
