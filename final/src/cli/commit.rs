//! `commit`, `export`, `import`, `system df`, and the prunes (`container
//! prune`, `image prune`, `system prune`): the same requests the docker
//! CLI makes, its tables and its lines (docker/cli: `cli/command/container/
//! commit.go`, `export.go`, `image/import.go`, `system/df.go`,
//! `system/prune.go`).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use api::http::Client;
use api::table::{format_table, human_size, human_size_with_precision};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::escape;
use super::images::print_json_stream;

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG].
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// A file, or `-` for STDIN.
    pub file: String,
    /// REPOSITORY[:TAG].
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    #[command(flatten)]
    pub prune: PruneArgs,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Remove all stopped containers.
    Prune(PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Remove unused images.
    Prune(ImagePruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show docker disk usage.
    Df(DfArgs),
    /// Remove unused data.
    Prune(ImagePruneArgs),
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `repo` and `tag` query values of `REPOSITORY[:TAG]`.
fn repo_tag(reference: &Option<String>) -> String {
    let Some(reference) = reference else {
        return String::new();
    };
    // A colon after the last slash starts the tag (not a registry port).
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference.as_str(), ""),
    };
    format!("&repo={}&tag={}", escape(repo), escape(tag))
}

fn changes_query(changes: &[String]) -> String {
    changes
        .iter()
        .map(|c| format!("&changes={}", escape(c)))
        .collect()
}

/// `docker commit`: prints the new image's ID.
pub fn commit(client: &Client, args: CommitArgs) -> anyhow::Result<i32> {
    let path = format!(
        "/commit?container={}&comment={}&author={}&pause={}{}{}",
        escape(&args.container),
        escape(args.message.as_deref().unwrap_or("")),
        escape(args.author.as_deref().unwrap_or("")),
        args.pause as u8,
        repo_tag(&args.reference),
        changes_query(&args.changes)
    );
    let answer: Value = client.post_json(&path, &Value::Null)?;
    println!("{}", answer["Id"].as_str().unwrap_or_default());
    Ok(0)
}

/// `docker export`: the container's root as a tar, to a file or stdout.
pub fn export(client: &Client, args: ExportArgs) -> anyhow::Result<i32> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None if std::io::stdout().is_terminal() => {
            bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let path = format!("/containers/{}/export", escape(&args.container));
    let mut tar = client.send("GET", &path, None)?.check()?;
    std::io::copy(&mut tar, &mut out).context("writing the export")?;
    out.flush()?;
    Ok(0)
}

/// `docker import FILE|- [REPOSITORY[:TAG]]`: the tar as the body.
pub fn import(client: &Client, args: ImportArgs) -> anyhow::Result<i32> {
    let mut input: Box<dyn Read> = match args.file.as_str() {
        "-" => Box::new(std::io::stdin().lock()),
        path => Box::new(std::fs::File::open(path).with_context(|| format!("opening {path}"))?),
    };
    let path = format!(
        "/images/create?fromSrc=-&message={}{}{}",
        escape(args.message.as_deref().unwrap_or("")),
        repo_tag(&args.reference),
        changes_query(&args.changes)
    );
    let response = client
        .send_stream("POST", &path, "application/x-tar", &mut input)?
        .check()?;
    print_json_stream(response)?;
    Ok(0)
}

/// docker's `--filter k=v` flags as the `filters` query value.
fn filters_query(filters: &[String], extra: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut map = serde_json::Map::new();
    let pairs = filters.iter().map(|f| {
        f.split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))
    });
    for pair in pairs.chain(extra.iter().map(|p| Ok(*p))) {
        let (key, value) = pair?;
        let values = map.entry(key).or_insert_with(|| json!({}));
        values[value] = json!(true);
    }
    Ok(escape(&Value::Object(map).to_string()))
}

/// The prompt docker shows without `-f`.
fn confirm(warning: &str) -> anyhow::Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints what a container prune deleted; its reclaimed bytes.
fn container_prune(client: &Client, args: &PruneArgs) -> anyhow::Result<u64> {
    let path = format!(
        "/containers/prune?filters={}",
        filters_query(&args.filters, &[])?
    );
    let answer: Value = client.send("POST", &path, None)?.json()?;
    let deleted = answer["ContainersDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in deleted {
            println!("{}", id.as_str().unwrap_or_default());
        }
        println!();
    }
    Ok(answer["SpaceReclaimed"].as_u64().unwrap_or(0))
}

/// Prints what an image prune deleted; its reclaimed bytes.
fn image_prune(client: &Client, args: &ImagePruneArgs) -> anyhow::Result<u64> {
    let dangling = if args.all { "false" } else { "true" };
    let filters = filters_query(&args.prune.filters, &[("dangling", dangling)])?;
    let answer: Value = client
        .send("POST", &format!("/images/prune?filters={filters}"), None)?
        .json()?;
    let deleted = answer["ImagesDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for item in deleted {
            match (item["Untagged"].as_str(), item["Deleted"].as_str()) {
                (Some(name), _) => println!("untagged: {name}"),
                (_, Some(id)) => println!("deleted: {id}"),
                _ => {}
            }
        }
        println!();
    }
    Ok(answer["SpaceReclaimed"].as_u64().unwrap_or(0))
}

pub fn container(client: &Client, command: ContainerCommand) -> anyhow::Result<i32> {
    let ContainerCommand::Prune(args) = command;
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let reclaimed = container_prune(client, &args)?;
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

pub fn image(client: &Client, command: ImageCommand) -> anyhow::Result<i32> {
    let ImageCommand::Prune(args) = command;
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.prune.force && !confirm(warning)? {
        return Ok(0);
    }
    let reclaimed = image_prune(client, &args)?;
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

pub fn system(client: &Client, command: SystemCommand) -> anyhow::Result<i32> {
    match command {
        SystemCommand::Df(args) => df(client, args),
        SystemCommand::Prune(args) => {
            let images = if args.all {
                "all images without at least one container associated to them"
            } else {
                "all dangling images"
            };
            let warning = format!(
                "WARNING! This will remove:\n  - all stopped containers\n  - {images}\n  - unused build cache\n"
            );
            if !args.prune.force && !confirm(&warning)? {
                return Ok(0);
            }
            let mut reclaimed = container_prune(client, &args.prune)?;
            reclaimed += image_prune(client, &args)?;
            println!("Total reclaimed space: {}", human_size(reclaimed));
            Ok(0)
        }
    }
}

/// "1.504MB (40%)", as docker prints a reclaimable size.
fn share(part: u64, total: u64) -> String {
    match total {
        0 => human_size_with_precision(part, 4),
        _ => format!(
            "{} ({}%)",
            human_size_with_precision(part, 4),
            part * 100 / total
        ),
    }
}

/// `docker system df [-v]`: the daemon's counts, summed as the CLI sums
/// them (docker/cli `formatter/disk_usage.go`).
fn df(client: &Client, args: DfArgs) -> anyhow::Result<i32> {
    let usage: Value = client.get_json("/system/df")?;
    let list = |key: &str| usage[key].as_array().cloned().unwrap_or_default();
    let number = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let (images, containers) = (list("Images"), list("Containers"));
    let layers = number(&usage, "LayersSize");
    let in_use: Vec<&Value> = images
        .iter()
        .filter(|i| number(i, "Containers") > 0)
        .collect();
    // What an image in use holds alone cannot be reclaimed.
    let held: u64 = in_use
        .iter()
        .map(|i| number(i, "Size").saturating_sub(number(i, "SharedSize")))
        .sum();
    let running = |c: &&Value| c["State"] == "running" || c["State"] == "paused";
    let written: u64 = containers.iter().map(|c| number(c, "SizeRw")).sum();
    let stopped: u64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| number(c, "SizeRw"))
        .sum();
    if args.verbose {
        return df_verbose(&images, &containers);
    }
    let rows = vec![
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec(),
        vec![
            "Images".into(),
            images.len().to_string(),
            in_use.len().to_string(),
            human_size_with_precision(layers, 4),
            share(layers - held.min(layers), layers),
        ],
        vec![
            "Containers".into(),
            containers.len().to_string(),
            containers.iter().filter(running).count().to_string(),
            human_size_with_precision(written, 4),
            share(stopped, written),
        ],
        ["Local Volumes", "0", "0", "0B", "0B"]
            .map(String::from)
            .to_vec(),
        ["Build Cache", "0", "0", "0B", "0B"]
            .map(String::from)
            .to_vec(),
    ];
    print!("{}", format_table(&rows));
    Ok(0)
}

fn df_verbose(images: &[Value], containers: &[Value]) -> anyhow::Result<i32> {
    let number = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let mut rows = vec![
        [
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for image in images {
        let id = image["Id"].as_str().unwrap_or_default();
        let id = id.trim_start_matches("sha256:").get(..12).unwrap_or(id);
        let tag = image["RepoTags"][0].as_str().unwrap_or("<none>:<none>");
        let (repo, tag) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
        let (size, shared) = (number(image, "Size"), number(image, "SharedSize"));
        rows.push(vec![
            repo.into(),
            tag.into(),
            id.into(),
            human_size(size),
            human_size(shared),
            human_size(size - shared.min(size)),
            number(image, "Containers").to_string(),
        ]);
    }
    println!("Images space usage:\n");
    print!("{}", format_table(&rows));
    let mut rows = vec![
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "SIZE",
            "STATUS",
            "NAMES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for container in containers {
        let id = container["Id"].as_str().unwrap_or_default();
        let name = container["Names"][0].as_str().unwrap_or_default();
        rows.push(vec![
            id.get(..12).unwrap_or(id).into(),
            container["Image"].as_str().unwrap_or_default().into(),
            format!("{:?}", container["Command"].as_str().unwrap_or_default()),
            human_size(number(container, "SizeRw")),
            container["Status"].as_str().unwrap_or_default().into(),
            name.trim_start_matches('/').into(),
        ]);
    }
    println!("\nContainers space usage:\n");
    print!("{}", format_table(&rows));
    println!("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n");
    println!(
        "Build cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE   CREATED   LAST USED   USAGE     SHARED"
    );
    Ok(0)
}
