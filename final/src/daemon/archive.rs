//! `docker cp`: a container's files as a tar, both ways, running or
//! stopped (moby: `daemon/archive.go`). The root is the container's
//! snapshot mount, `containers/ID/rootfs`, there in both states. Every
//! path is resolved by the kernel inside that root (chapter 02's
//! [`images::inroot`], `openat2(RESOLVE_IN_ROOT)`), so a symlink the
//! container made, or swaps in while we copy, cannot lead to the host.
//!
//! The files the runtime bind-mounts over /etc/hosts, /etc/hostname and
//! /etc/resolv.conf are not followed: cp sees the root's own (empty)
//! placeholders, as it sees the root's /proc and /sys directories.

use std::io::{Read, Write};
use std::time::{Duration, UNIX_EPOCH};

use ::images::inroot::{self, BadArchive, Root, UntarOptions};
use api::ApiError;
use base64::Engine;
use nix::errno::Errno;
use nix::sys::stat::{FileStat, SFlag};
use serde::{Deserialize, Serialize};

use super::Daemon;
use super::container::Container;

// ANCHOR: path_stat
/// What `X-Docker-Container-Path-Stat` carries, base64 of this as JSON
/// (moby: `container.PathStat`); `mode` is Go's `os.FileMode`.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    pub link_target: String,
}

/// Go's `os.FileMode` type bits: the kind in the high bits, not `S_IFMT`.
pub const MODE_DIR: u32 = 1 << 31;
pub const MODE_SYMLINK: u32 = 1 << 27;
const MODE_DEVICE: u32 = 1 << 26;
const MODE_NAMED_PIPE: u32 = 1 << 25;
const MODE_SOCKET: u32 = 1 << 24;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_CHAR_DEVICE: u32 = 1 << 21;
const MODE_STICKY: u32 = 1 << 20;

// ANCHOR_END: path_stat
fn go_file_mode(st: &FileStat) -> u32 {
    let kind = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => MODE_DIR,
        SFlag::S_IFLNK => MODE_SYMLINK,
        SFlag::S_IFBLK => MODE_DEVICE,
        SFlag::S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        SFlag::S_IFIFO => MODE_NAMED_PIPE,
        SFlag::S_IFSOCK => MODE_SOCKET,
        _ => 0,
    };
    let special = [
        (libc::S_ISUID, MODE_SETUID),
        (libc::S_ISGID, MODE_SETGID),
        (libc::S_ISVTX, MODE_STICKY),
    ];
    let extra = special
        .iter()
        .filter(|(bit, _)| st.st_mode & bit != 0)
        .fold(0, |acc, (_, go)| acc | go);
    kind | extra | (st.st_mode & 0o777)
}

/// The header's value: standard base64 with padding, as Go's
/// `base64.StdEncoding` writes it.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// The error dockerd gives for a path that is not there (404).
fn not_found(path: &str, container: &str) -> ApiError {
    ApiError::not_found(format!(
        "Could not find the file {path} in container {container}"
    ))
}

/// A failure from chapter 02 as the Engine API answers it.
fn api_error(error: anyhow::Error, path: &str, container: &str) -> ApiError {
    if let Some(bad) = error.downcast_ref::<BadArchive>() {
        return ApiError::bad_request(bad.to_string());
    }
    match inroot::errno(&error) {
        Some(Errno::ENOENT) => not_found(path, container),
        Some(Errno::ENOTDIR) => ApiError::bad_request(format!("{path}: not a directory")),
        Some(Errno::ELOOP) => ApiError::bad_request(format!(
            "{path}: a symbolic link appeared while copying, or too many levels of them"
        )),
        _ => ApiError::internal(format!("{error:#}")),
    }
}

/// The path the client gave, as an absolute path in the container,
/// keeping a trailing `/` or `/.` (moby: `PreserveTrailingDotOrSeparator`).
fn absolute(path: &str) -> Result<String, ApiError> {
    if path.is_empty() {
        return Err(ApiError::bad_request("Path cannot be empty"));
    }
    Ok(if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    })
}

/// Writes a path's tar once the response head is out.
pub type TarWriter = Box<dyn FnOnce(&mut dyn Write) -> anyhow::Result<()> + Send>;

impl Daemon {
    fn container_root(&self, container: &Container, reference: &str) -> Result<Root, ApiError> {
        let rootfs = container.dir.join("rootfs");
        Root::open(&rootfs).map_err(|e| {
            if container.is_removed() {
                ApiError::not_found(format!("No such container: {reference}"))
            } else {
                ApiError::internal(format!("{e:#}"))
            }
        })
    }

    // ANCHOR: stat
    /// `HEAD /containers/{id}/archive`: the path's lstat inside the root,
    /// its directories resolved there and its last component not followed.
    pub fn stat_path(
        &self,
        container: &Container,
        reference: &str,
        path: &str,
    ) -> Result<PathStat, ApiError> {
        let path = absolute(path)?;
        let root = self.container_root(container, reference)?;
        let st = root
            .lstat(&path)
            .map_err(|e| api_error(e, &path, reference))?;
        let mode = go_file_mode(&st);
        let link_target = if mode & MODE_SYMLINK != 0 {
            // Where `cp -L` goes: every link followed, in the root.
            root.resolve(&path)
                .map_err(|e| api_error(e, &path, reference))?
        } else {
            String::new()
        };
        let trimmed = path.trim_end_matches('/');
        let name = match trimmed.rsplit('/').next() {
            Some("") | None => "/".to_string(),
            Some(base) => base.to_string(),
        };
        let mtime =
            UNIX_EPOCH + Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec.max(0) as u32);
        Ok(PathStat {
            name,
            size: st.st_size,
            mode,
            mtime: api::timefmt::rfc3339_nanos(mtime),
            link_target,
        })
    }
    // ANCHOR_END: stat

    // ANCHOR: get_archive
    /// `GET /containers/{id}/archive`: the stat, and a function that
    /// writes the tar. A directory's entries go under its base name
    /// (`dir/`, `dir/a`); a path ending in `/.` sends the contents only.
    pub fn archive_path(
        &self,
        container: &Container,
        reference: &str,
        path: &str,
    ) -> Result<(PathStat, TarWriter), ApiError> {
        let stat = self.stat_path(container, reference, path)?;
        let root = self.container_root(container, reference)?;
        let path = absolute(path)?;
        let top = if path.ends_with("/.") {
            ".".to_string()
        } else {
            stat.name.trim_start_matches('/').to_string()
        };
        let top = if top.is_empty() { ".".to_string() } else { top };
        let write = move |out: &mut dyn Write| -> anyhow::Result<()> {
            inroot::tar_path(&root, &path, &top, out)?;
            Ok(())
        };
        Ok((stat, Box::new(write)))
    }
    // ANCHOR_END: get_archive

    // ANCHOR: put_archive
    /// `PUT /containers/{id}/archive`: extracts `body` into the directory
    /// `path`, which must exist. The container may be running: its writes
    /// and ours meet in the same overlay upper directory.
    pub fn extract_to(
        &self,
        container: &Container,
        reference: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        body: &mut dyn Read,
    ) -> Result<(), ApiError> {
        let stat = self.stat_path(container, reference, path)?;
        let record = container.snapshot();
        // `--read-only` is in the HostConfig fields kept as sent.
        let read_only = record.host_config.extra.get("ReadonlyRootfs");
        if read_only.and_then(|v| v.as_bool()) == Some(true) {
            return Err(ApiError::new(403, "container rootfs is marked read-only"));
        }
        if stat.mode & MODE_DIR == 0 {
            return Err(ApiError::bad_request("extraction point is not a directory"));
        }
        let root = self.container_root(container, reference)?;
        let chown = if copy_uid_gid {
            container_user(&root, &record.config.user)
        } else {
            None
        };
        let options = UntarOptions {
            no_overwrite_dir_non_dir,
            chown,
        };
        let path = absolute(path)?;
        inroot::untar(&root, &path, body, options).map_err(|e| api_error(e, &path, reference))
    }
    // ANCHOR_END: put_archive
}

/// The container's `User` as numeric ids (`cp -a`), names looked up in
/// the container's own /etc/passwd and /etc/group, read in its root.
/// No user: root's ids, which is what the archive says anyway.
fn container_user(root: &Root, user: &str) -> Option<(u32, u32)> {
    if user.is_empty() {
        return None;
    }
    let (user, group) = user.split_once(':').unwrap_or((user, ""));
    let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
        if let Ok(id) = name.parse() {
            return Some((id, id));
        }
        let fd = root.open_at(file, nix::fcntl::OFlag::O_RDONLY).ok()?;
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).ok()?;
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            // passwd: name:x:uid:gid:...; group: name:x:gid:members.
            if fields.first() != Some(&name) || fields.len() < 3 {
                return None;
            }
            let id: u32 = fields[2].parse().ok()?;
            Some((id, fields.get(3).and_then(|g| g.parse().ok()).unwrap_or(id)))
        })
    };
    let (uid, primary) = lookup("/etc/passwd", user)?;
    let gid = match group {
        "" => primary,
        group => lookup("/etc/group", group)?.0,
    };
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_both_ways() {
        for text in ["", "a", "ab", "abc", "{\"name\":\"x\"}"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).unwrap(), text.as_bytes());
        }
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}
