//! `minidocker cp`: the client's half of `docker cp` (docker/cli:
//! `cli/command/container/cp.go`). Stat first (`HEAD .../archive`), then
//! a tar either way; the names in the tar are fixed up here, on the host,
//! as the docker CLI does, so the daemon only ever copies a path as it is.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use api::http::{Client, DaemonError};
use clap::Args;

use super::escape;
use crate::daemon::archive::{MODE_DIR, MODE_SYMLINK, PathStat, base64_decode};

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH, or a local SRC_PATH (`-`: a tar on stdin).
    pub source: String,
    /// A local DEST_PATH (`-`: a tar on stdout), or CONTAINER:DEST_PATH.
    pub destination: String,
}

/// docker's `splitCpArg`: `NAME:PATH` is in a container unless it looks
/// like a local path (absolute, `./x`, or `-`).
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg == "-" || arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) => (Some(container), path),
        None => (None, arg),
    }
}

pub fn cp(client: &Client, args: CpArgs) -> anyhow::Result<i32> {
    match (split(&args.source), split(&args.destination)) {
        ((Some(c), src), (None, dst)) => copy_from(client, &args, c, src, dst)?,
        ((None, src), (Some(c), dst)) => copy_to(client, &args, src, c, dst)?,
        ((Some(_), _), (Some(_), _)) => bail!("copying between containers is not supported"),
        _ => bail!("must specify at least one container source"),
    }
    Ok(0)
}

// ANCHOR: stat
/// `HEAD /containers/{id}/archive`: `None` when the path is not there.
fn stat(client: &Client, container: &str, path: &str) -> anyhow::Result<Option<PathStat>> {
    let query = format!(
        "/containers/{}/archive?path={}",
        escape(container),
        escape(path)
    );
    let response = client.send("HEAD", &query, None)?;
    match response.status {
        // A HEAD answer has no body to carry the daemon's message.
        404 if response.header("X-Docker-Container-Path-Stat").is_none() => {
            // Is it the container or the path that is missing?
            client
                .send(
                    "GET",
                    &format!("/containers/{}/json", escape(container)),
                    None,
                )?
                .check()?;
            return Ok(None);
        }
        s if s >= 400 => {
            return Err(DaemonError {
                status: s,
                message: format!("HEAD {query}: status {s}"),
            }
            .into());
        }
        _ => {}
    }
    let header = response
        .header("X-Docker-Container-Path-Stat")
        .context("the daemon sent no X-Docker-Container-Path-Stat header")?;
    let json = base64_decode(header).context("the path stat header is not base64")?;
    Ok(Some(
        serde_json::from_slice(&json).context("the path stat header is not JSON")?,
    ))
}
// ANCHOR_END: stat

fn copy_from(
    client: &Client,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> anyhow::Result<()> {
    let missing = || anyhow::anyhow!("Error: No such container:path: {container}:{src}");
    let mut info = stat(client, container, src)?.ok_or_else(missing)?;
    let mut src = src.to_string();
    if args.follow_link && info.mode & MODE_SYMLINK != 0 {
        src = info.link_target.clone();
        info = stat(client, container, &src)?.ok_or_else(missing)?;
    }
    let query = format!(
        "/containers/{}/archive?path={}",
        escape(container),
        escape(&src)
    );
    let mut archive = client.send("GET", &query, None)?.check()?;
    if dst == "-" {
        let mut out = io::stdout().lock();
        io::copy(&mut archive, &mut out).context("writing the archive to stdout")?;
        return Ok(out.flush()?);
    }
    let dst = Path::new(dst);
    let is_dir = info.mode & MODE_DIR != 0;
    let contents_only = src.ends_with("/.");
    // Where the top entry goes: into an existing directory under its own
    // name, else it becomes `dst` itself.
    let (into, rename) = match fs::metadata(dst) {
        Ok(m) if m.is_dir() && !contents_only => (dst.to_path_buf(), None),
        Ok(m) if m.is_dir() => (dst.to_path_buf(), None),
        Ok(_) if is_dir => bail!("cannot copy a directory to a file: {}", dst.display()),
        _ if contents_only => {
            fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
            (dst.to_path_buf(), None)
        }
        _ => {
            let parent = dst
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = dst
                .file_name()
                .context("the destination has no file name")?;
            (parent.to_path_buf(), Some(PathBuf::from(name)))
        }
    };
    let mut tar = tar::Archive::new(archive);
    tar.set_preserve_permissions(true);
    for entry in tar.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let path = entry.path()?.into_owned();
        let parts: Vec<Component> = path
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        let Some((first, rest)) = parts.split_first() else {
            continue;
        };
        let rest: PathBuf = rest.iter().collect();
        let top = match &rename {
            Some(name) => name.clone(),
            None => PathBuf::from(first.as_os_str()),
        };
        // join("") would add a trailing `/`, which a file's path must not have.
        let relative = if rest.as_os_str().is_empty() {
            top
        } else {
            top.join(rest)
        };
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            bail!(
                "the archive has an entry outside the destination: {}",
                path.display()
            );
        }
        let target = into.join(&relative);
        if entry.header().entry_type().is_dir() && target.is_dir() {
            continue;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

fn copy_to(
    client: &Client,
    args: &CpArgs,
    src: &str,
    container: &str,
    dst: &str,
) -> anyhow::Result<()> {
    let put = |dir: &str, body: &mut dyn Read| -> anyhow::Result<()> {
        let query = format!(
            "/containers/{}/archive?path={}&noOverwriteDirNonDir=true&copyUIDGID={}",
            escape(container),
            escape(dir),
            args.archive as u8
        );
        client
            .send_stream("PUT", &query, "application/x-tar", body)?
            .check()?;
        Ok(())
    };
    let target = stat(client, container, dst)?;
    if src == "-" {
        match target {
            Some(t) if t.mode & MODE_DIR != 0 => return put(dst, &mut io::stdin().lock()),
            Some(_) => bail!("destination \"{container}:{dst}\" must be a directory"),
            None => bail!("Error: No such container:path: {container}:{dst}"),
        }
    }
    let mut local = PathBuf::from(src);
    let meta = fs::symlink_metadata(&local).with_context(|| format!("lstat {src}"))?;
    if args.follow_link && meta.file_type().is_symlink() {
        local = fs::canonicalize(&local).with_context(|| format!("following {src}"))?;
    }
    let src_is_dir = fs::symlink_metadata(&local)?.is_dir();
    let base = |p: &Path| {
        p.file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    };
    let (dir, name) = match target {
        Some(t) if t.mode & MODE_DIR != 0 => (dst.to_string(), base(&local)),
        Some(_) if src_is_dir => bail!("cannot copy a directory to a file: {container}:{dst}"),
        _ => {
            let trimmed = dst.trim_end_matches('/');
            let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
            (
                if parent.is_empty() {
                    "/".into()
                } else {
                    parent.into()
                },
                PathBuf::from(name),
            )
        }
    };
    // The tar is written by a thread into a pipe while the request reads
    // the other end: a large directory is never held in memory.
    let (reader, writer) = nix::unistd::pipe().context("pipe(2)")?;
    let (mut reader, writer) = (fs::File::from(reader), fs::File::from(writer));
    let builder = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut tar = tar::Builder::new(writer);
        tar.follow_symlinks(false);
        if src_is_dir {
            tar.append_dir_all(&name, &local)?;
        } else {
            tar.append_path_with_name(&local, &name)?;
        }
        tar.finish()?;
        Ok(())
    });
    let sent = put(&dir, &mut reader);
    drop(reader);
    let built = builder
        .join()
        .unwrap_or_else(|_| bail!("the tar thread panicked"));
    sent?;
    built.with_context(|| format!("archiving {src}"))
}
