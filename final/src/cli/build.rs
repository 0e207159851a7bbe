//! `minidocker build`: the context directory streamed to the daemon as a
//! tar while it is read (what `.dockerignore` excludes left out, the
//! Dockerfile and `.dockerignore` always in, as docker sends them), then
//! the build's progress printed as it comes. (docker/cli:
//! `cli/command/image/build.go`, the classic builder's side.)

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use api::http::Client;
use clap::Args;
use images::dockerignore::DockerIgnore;

use super::escape;
use super::images::StreamFailed;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); repeatable.
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile).
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables (NAME=value, or NAME to take ours).
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Suppress the build output and print image ID on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// The network for RUN instructions: none (default) or host.
    #[arg(long)]
    pub network: Option<String>,
    /// The build stage to stop at.
    #[arg(long)]
    pub target: Option<String>,
    /// Set metadata for an image (key=value).
    #[arg(long)]
    pub label: Vec<String>,
    /// Remove a RUN step's container after it succeeds (--rm=false keeps them).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Always remove a RUN step's container, a failed one too.
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// The build context: a directory.
    pub context: PathBuf,
}

pub fn build(client: &Client, args: BuildArgs) -> anyhow::Result<i32> {
    let context = args.context.clone();
    if !context.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found (give a directory)",
            context
        );
    }
    let dockerfile = args.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let mut query = vec![format!("dockerfile={}", escape(&dockerfile))];
    query.extend(args.tag.iter().map(|t| format!("t={}", escape(t))));
    query.push(format!(
        "buildargs={}",
        escape(&build_args(&args.build_arg)?.to_string())
    ));
    query.push(format!("nocache={}", args.no_cache as u8));
    query.push(format!("q={}", args.quiet as u8));
    query.push(format!("rm={}", args.rm as u8));
    query.push(format!("forcerm={}", args.force_rm as u8));
    if let Some(network) = &args.network {
        query.push(format!("networkmode={}", escape(network)));
    }
    if let Some(target) = &args.target {
        query.push(format!("target={}", escape(target)));
    }
    if !args.label.is_empty() {
        let labels: serde_json::Map<String, serde_json::Value> = args
            .label
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                (k.to_string(), v.into())
            })
            .collect();
        query.push(format!(
            "labels={}",
            escape(&serde_json::Value::Object(labels).to_string())
        ));
    }
    // ANCHOR: build
    // The tar is written by a thread into a pipe while the request reads
    // it: the context never sits whole in memory.
    let (reader, writer) = nix::unistd::pipe().context("pipe(2) for the build context")?;
    let writer = std::fs::File::from(writer);
    let sender = std::thread::spawn(move || write_context(&context, &dockerfile, writer));
    let response = client.send_stream(
        "POST",
        &format!("/build?{}", query.join("&")),
        "application/x-tar",
        &mut std::fs::File::from(reader),
    );
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the context writer panicked"))??;
    match super::images::print_json_stream(response?.check()?) {
        Ok(()) => Ok(0),
        // A failed RUN's code is the build's, as with docker build.
        Err(e) => {
            super::report(&e);
            Ok(e.downcast_ref::<StreamFailed>().map_or(1, |f| f.code))
        }
    }
    // ANCHOR_END: build
}

/// `--build-arg NAME=value` (or `NAME`, our value) as the query's JSON.
fn build_args(items: &[String]) -> anyhow::Result<serde_json::Value> {
    let mut map = serde_json::Map::new();
    for item in items {
        let (name, value) = match item.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (item.clone(), std::env::var(item).ok()),
        };
        if name.is_empty() {
            bail!("invalid --build-arg {item:?}: use NAME=value");
        }
        map.insert(name, value.map_or(serde_json::Value::Null, Into::into));
    }
    Ok(serde_json::Value::Object(map))
}

/// The context as a tar: every file `.dockerignore` does not exclude, in
/// a stable order, owned by root as docker sends them.
fn write_context(context: &Path, dockerfile: &str, out: impl Write) -> anyhow::Result<()> {
    let ignore = DockerIgnore::load(context)?;
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = context.join(&relative);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = relative.join(entry.file_name());
            let name = path.to_string_lossy().into_owned();
            // docker's rule: the Dockerfile and .dockerignore always go.
            let kept = name == dockerfile || name == ".dockerignore";
            if !kept && ignore.is_excluded(&name) && !ignore.has_exceptions() {
                continue;
            }
            let full = entry.path();
            let is_dir = entry.file_type()?.is_dir();
            if !kept && ignore.is_excluded(&name) && !is_dir {
                continue;
            }
            tar.append_path_with_name(&full, &path)
                .with_context(|| format!("adding {} to the context", full.display()))?;
            if is_dir {
                pending.push(path);
            }
        }
    }
    tar.finish().context("sending the build context")?;
    Ok(())
}
