//! The image verbs: `images`, `rmi`, `tag`, `load`, `save`, `history`,
//! `pull`. `load` and `save` stream: the archive goes through in chunks,
//! never whole in memory, on either side of the socket.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, bail};
use api::http::{Client, ClientResponse};
use api::table::human_size;
use api::timefmt;
use clap::Args;
use serde_json::{Value, json};

use super::containers::{ellipsis, filters, go_time};
use super::escape;
use super::template;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling=true, reference=busy*).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template ('table', 'json', or a template).
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag].
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    pub image: String,
}

const IMAGES_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// `docker images`: a row per tag (or `<none>`), newest first.
pub fn images(client: &Client, args: ImagesArgs) -> anyhow::Result<i32> {
    let mut filter = args.filter.clone();
    if let Some(reference) = &args.repository {
        filter.push(format!("reference={reference}"));
    }
    let mut path = format!("/images/json?all={}", args.all as u8);
    if !filter.is_empty() {
        path.push_str(&format!(
            "&filters={}",
            escape(&filters(&filter)?.to_string())
        ));
    }
    let list: Vec<Value> = client.get_json(&path)?;
    let mut rows = Vec::new();
    for image in &list {
        let id = image["Id"].as_str().unwrap_or_default();
        let shown_id = if args.no_trunc {
            id.to_string()
        } else {
            id.trim_start_matches("sha256:").chars().take(12).collect()
        };
        let created = UNIX_EPOCH + Duration::from_secs(image["Created"].as_u64().unwrap_or(0));
        let size = human_size(image["Size"].as_u64().unwrap_or(0));
        let digest = image["RepoDigests"][0]
            .as_str()
            .and_then(|d| d.split_once('@'))
            .map_or("<none>".to_string(), |(_, d)| d.to_string());
        let tags: Vec<&str> = image["RepoTags"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let names = if tags.is_empty() {
            vec!["<none>:<none>"]
        } else {
            tags
        };
        for name in names {
            let (repository, tag) = name.rsplit_once(':').unwrap_or((name, "<none>"));
            rows.push(json!({
                "Repository": repository, "Tag": tag, "Digest": digest, "ID": shown_id,
                "CreatedSince": format!("{} ago", timefmt::human_duration(created.elapsed().unwrap_or_default())),
                "CreatedAt": go_time(created), "Size": size, "VirtualSize": size,
                "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A",
            }));
        }
    }
    if args.quiet {
        // One line per image, not per tag.
        rows.dedup_by(|a, b| a["ID"] == b["ID"]);
    }
    let digest = if args.digests { "\\t{{.Digest}}" } else { "" };
    let format = match (&args.format, args.quiet) {
        (Some(format), _) if format != "table" => format.clone(),
        (_, true) => "{{.ID}}".into(),
        _ => format!(
            "table {{{{.Repository}}}}\\t{{{{.Tag}}}}{digest}\\t{{{{.ID}}}}\\t{{{{.CreatedSince}}}}\\t{{{{.Size}}}}"
        ),
    };
    print!("{}", template::format_list(&format, &rows, IMAGES_HEADERS)?);
    Ok(0)
}

/// `docker rmi`: what the daemon untagged and deleted, a line each.
pub fn rmi(client: &Client, args: RmiArgs) -> anyhow::Result<i32> {
    let mut status = 0;
    for image in &args.images {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            escape(image),
            args.force as u8,
            args.no_prune as u8
        );
        match client
            .send("DELETE", &path, None)
            .and_then(|r| r.json::<Vec<Value>>())
        {
            Ok(items) => {
                for item in items {
                    for key in ["Untagged", "Deleted"] {
                        if let Some(what) = item[key].as_str() {
                            println!("{key}: {what}");
                        }
                    }
                }
            }
            Err(e) => {
                super::report(&e);
                status = 1;
            }
        }
    }
    Ok(status)
}

pub fn tag(client: &Client, args: TagArgs) -> anyhow::Result<i32> {
    let (repo, tag) = split_reference(&args.target);
    client.post(&format!(
        "/images/{}/tag?repo={}&tag={}",
        escape(&args.source),
        escape(repo),
        escape(tag)
    ))?;
    Ok(0)
}

// ANCHOR: load
/// `docker load`: the archive streamed as the request body.
pub fn load(client: &Client, args: LoadArgs) -> anyhow::Result<i32> {
    let mut input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ),
        None if std::io::stdin().is_terminal() => {
            bail!("requested load from stdin, but stdin is a terminal: use -i FILE or redirect")
        }
        None => Box::new(std::io::stdin().lock()),
    };
    // As docker: progress only for a terminal to draw it on.
    let quiet = args.quiet || !std::io::stdout().is_terminal();
    let response = client
        .send_stream(
            "POST",
            &format!("/images/load?quiet={}", quiet as u8),
            "application/x-tar",
            &mut input,
        )?
        .check()?;
    print_json_stream(response)?;
    Ok(0)
}
// ANCHOR_END: load

/// `docker save`: the archive streamed from the daemon to a file or stdout.
pub fn save(client: &Client, args: SaveArgs) -> anyhow::Result<i32> {
    let names: Vec<String> = args
        .images
        .iter()
        .map(|n| format!("names={}", escape(n)))
        .collect();
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None if std::io::stdout().is_terminal() => {
            bail!("cowardly refusing to save to a terminal: use the -o flag or redirect")
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut archive = client
        .send("GET", &format!("/images/get?{}", names.join("&")), None)?
        .check()?;
    std::io::copy(&mut archive, &mut out).context("writing the archive")?;
    out.flush()?;
    Ok(0)
}

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub fn history(client: &Client, args: HistoryArgs) -> anyhow::Result<i32> {
    let layers: Vec<Value> =
        client.get_json(&format!("/images/{}/history", escape(&args.image)))?;
    let rows: Vec<Value> = layers
        .iter()
        .map(|layer| {
            let id = layer["Id"].as_str().unwrap_or("<missing>");
            let id = match (id, args.no_trunc) {
                ("<missing>", _) | (_, true) => id.to_string(),
                _ => id.trim_start_matches("sha256:").chars().take(12).collect(),
            };
            let created =
                UNIX_EPOCH + Duration::from_secs(layer["Created"].as_u64().unwrap_or(0));
            let by = layer["CreatedBy"].as_str().unwrap_or_default().replace('\t', " ");
            json!({
                "ID": id,
                "CreatedSince": format!("{} ago", timefmt::human_duration(created.elapsed().unwrap_or_default())),
                "CreatedAt": go_time(created),
                "CreatedBy": if args.no_trunc { by } else { ellipsis(&by, 45) },
                "Size": human_size(layer["Size"].as_u64().unwrap_or(0)),
                "Comment": layer["Comment"].as_str().unwrap_or_default(),
            })
        })
        .collect();
    let format = match (&args.format, args.quiet) {
        (Some(format), _) if format != "table" => format.clone(),
        (_, true) => "{{.ID}}".into(),
        _ => "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}".into(),
    };
    print!(
        "{}",
        template::format_list(&format, &rows, HISTORY_HEADERS)?
    );
    Ok(0)
}

pub fn pull(client: &Client, args: PullArgs) -> anyhow::Result<i32> {
    pull_image(client, &args.image)?;
    Ok(0)
}

/// `POST /images/create`, its progress printed as it comes.
pub fn pull_image(client: &Client, image: &str) -> anyhow::Result<()> {
    let (repo, tag) = split_reference(image);
    let response = client
        .send(
            "POST",
            &format!(
                "/images/create?fromImage={}&tag={}",
                escape(repo),
                escape(tag)
            ),
            None,
        )?
        .check()?;
    print_json_stream(response)
}

/// `busybox` → `busybox:latest`, as docker names what it looks for.
pub fn with_tag(image: &str) -> String {
    let (repo, tag) = split_reference(image);
    format!("{repo}:{tag}")
}

/// `repo[:tag]`, the tag `latest` when none (a `:` in a registry's
/// `host:port/` is not a tag).
fn split_reference(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// The error a progress stream ended with, and its code (`docker build`
/// exits with a failed RUN's).
#[derive(Debug)]
pub struct StreamFailed {
    pub message: String,
    pub code: i32,
}

impl std::fmt::Display for StreamFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StreamFailed {}

// ANCHOR: json_stream
/// The daemon's progress stream (pull, load): one JSON object per line,
/// printed as it arrives; an `error` ends it as the command's failure.
pub fn print_json_stream(response: ClientResponse) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    for line in BufReader::new(response).lines() {
        let line = line.context("reading the daemon's progress")?;
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = serde_json::from_str(&line)
            .with_context(|| format!("the daemon sent a line that is not JSON: {line:?}"))?;
        if let Some(error) = message["errorDetail"]["message"]
            .as_str()
            .or(message["error"].as_str())
        {
            let code = message["errorDetail"]["code"].as_i64().unwrap_or(1) as i32;
            return Err(StreamFailed {
                message: error.to_string(),
                code,
            }
            .into());
        }
        if let Some(text) = message["stream"].as_str() {
            write!(out, "{text}")?;
        } else if let Some(status) = message["status"].as_str() {
            let progress = message["progress"].as_str().unwrap_or_default();
            match message["id"].as_str() {
                Some(id) => writeln!(out, "{id}: {status} {progress}")?,
                None => writeln!(out, "{status}")?,
            }
        }
        out.flush()?;
    }
    Ok(())
}
// ANCHOR_END: json_stream

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/app:v2"),
            ("localhost:5000/app", "v2")
        );
        assert_eq!(with_tag("hello"), "hello:latest");
    }
}
