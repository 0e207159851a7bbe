//! `ch02`: the image store by hand — import, load, save, list, inspect,
//! tag, remove, and mount an image as a root filesystem.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use images::reference::Reference;
use images::snapshot::{self, Snapshotter};
use images::store::{ImageStore, WORKSHOP_ROOT};

#[derive(Parser, Debug)]
#[command(
    name = "ch02",
    version,
    about = "Chapter 02: images — a content-addressed store, layers and snapshots"
)]
struct Cli {
    /// The store's root directory.
    #[arg(long, global = true, default_value = WORKSHOP_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a one-layer image from a root filesystem tarball ("-" reads stdin).
    Import { file: PathBuf, name: String },
    /// Load images from a `docker save` or OCI archive ("-" reads stdin).
    Load { file: PathBuf },
    /// Write images to an archive that is both a `docker save` and an OCI layout.
    Save {
        #[arg(required = true)]
        names: Vec<String>,
        /// The archive to write ("-" writes stdout).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// List images.
    Images,
    /// Show an image's manifest, config and layers as JSON.
    Inspect { name: String },
    /// Show how an image was made, layer by layer.
    History { name: String },
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Remove names; an image with no names left is deleted.
    Rmi {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Make TARGET the root filesystem of an image (needs root).
    Mount {
        name: String,
        target: PathBuf,
        /// overlay (layers stacked, copy-up on write) or copy (the naive way).
        #[arg(long, default_value = "overlay")]
        snapshotter: Snapshotter,
    },
    /// Undo `mount`.
    Umount { target: PathBuf },
    /// Build an image from a Dockerfile (RUN needs a runtime: see chapter 05).
    Build {
        /// Name the result.
        #[arg(short, long)]
        tag: Option<String>,
        /// The Dockerfile (default: CONTEXT/Dockerfile).
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// KEY=VALUE for an ARG.
        #[arg(long = "build-arg")]
        build_args: Vec<String>,
        /// Make every layer again.
        #[arg(long)]
        no_cache: bool,
        context: PathBuf,
    },
    /// Build the offline images `hello` and `busybox` (no network needed).
    CreateOfflineImages,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("ch02: {e:#}");
        std::process::exit(1);
    }
}

fn open_input(file: &Path) -> anyhow::Result<Box<dyn Read>> {
    if file == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Ok(Box::new(BufReader::new(f)))
}

fn parse_reference(name: &str) -> anyhow::Result<Reference> {
    Reference::parse(name).map_err(anyhow::Error::msg)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let store = ImageStore::open(&cli.root).with_context(|| {
        format!(
            "opening the image store at {} (as root, or choose --root)",
            cli.root.display()
        )
    })?;
    match cli.command {
        Command::Import { file, name } => {
            let image = store.import(open_input(&file)?, &parse_reference(&name)?, None)?;
            println!("{}", image.id);
        }
        Command::Load { file } => {
            // Progress and "Loaded image: …" lines, on stdout as docker prints them.
            images::archive::load(&store, open_input(&file)?, &mut |line| println!("{line}"))?;
        }
        Command::Save { names, output } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            if output == Path::new("-") {
                images::archive::save(&store, &names, std::io::stdout().lock())?;
            } else {
                let temp = images::atomic::temp_path_beside(&output);
                let file =
                    File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
                let result = images::archive::save(&store, &names, std::io::BufWriter::new(file));
                match result {
                    Ok(()) => std::fs::rename(&temp, &output)
                        .with_context(|| format!("writing {}", output.display()))?,
                    Err(e) => {
                        let _ = std::fs::remove_file(&temp);
                        return Err(e);
                    }
                }
            }
        }
        Command::Images => print_images(&store)?,
        Command::Inspect { name } => {
            let image = store.resolve(&name)?;
            let view = serde_json::json!({
                "Id": image.id,
                "RepoTags": image.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
                "ManifestDigest": image.manifest_digest,
                "Created": image.config.created,
                "Architecture": image.config.architecture,
                "Os": image.config.os,
                "Size": image.size(),
                "Config": image.config.config,
                "RootFS": {"Type": "layers", "Layers": image.config.rootfs.diff_ids},
                "Layers": store.layer_dirs(&image)?,
            });
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        Command::History { name } => print_history(&store, &name)?,
        Command::Tag { source, target } => {
            let image = store.resolve(&source)?;
            store.tag(&image, &parse_reference(&target)?)?;
        }
        Command::Rmi { names } => {
            let mut failed = false;
            for name in names {
                match store.remove(&name) {
                    Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                    Err(e) => {
                        eprintln!("ch02: {e:#}");
                        failed = true;
                    }
                }
            }
            if failed {
                std::process::exit(1);
            }
        }
        Command::Mount {
            name,
            target,
            snapshotter,
        } => {
            let image = store.resolve(&name)?;
            let record = snapshot::mount(&store, &image, &target, snapshotter)?;
            match record.kind {
                Snapshotter::Overlay => println!(
                    "mounted {} at {} (overlay: {} read-only layer(s), writes go to {})",
                    record.image,
                    record.target.display(),
                    image.config.rootfs.diff_ids.len(),
                    record.upper(&store).display()
                ),
                Snapshotter::Copy => {
                    println!("copied {} into {}", record.image, record.target.display())
                }
            }
        }
        Command::Umount { target } => {
            let record = snapshot::unmount(&store, &target)?;
            println!(
                "removed the {} snapshot of {} at {}",
                record.kind,
                record.image,
                record.target.display()
            );
        }
        Command::CreateOfflineImages => create_offline_images(&store)?,
        Command::Build {
            tag,
            file,
            build_args,
            no_cache,
            context,
        } => {
            let dockerfile = file.unwrap_or_else(|| context.join("Dockerfile"));
            let text = std::fs::read_to_string(&dockerfile)
                .with_context(|| format!("reading {}", dockerfile.display()))?;
            let mut args = std::collections::BTreeMap::new();
            for pair in build_args {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("--build-arg {pair}: expected KEY=VALUE"))?;
                args.insert(k.to_string(), v.to_string());
            }
            let options = images::build::BuildOptions {
                tag: tag.as_deref().map(parse_reference).transpose()?,
                build_args: args,
                no_cache,
                ..Default::default()
            };
            let runner = images::build::NoRuntime;
            images::build::build(&store, &context, &text, &options, &runner, &mut |line| {
                println!("{line}")
            })?;
        }
    }
    Ok(())
}

fn print_images(store: &ImageStore) -> anyhow::Result<()> {
    let mut rows = vec![
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
            .map(String::from)
            .to_vec(),
    ];
    for image in store.images()? {
        let created = image.config.created.clone().unwrap_or_default();
        let created = created.split('T').next().unwrap_or("").to_string();
        let size = api::table::human_size(image.size());
        if image.tags.is_empty() {
            rows.push(vec![
                "<none>".into(),
                "<none>".into(),
                image.id.short().into(),
                created.clone(),
                size.clone(),
            ]);
        }
        for tag in &image.tags {
            let repository = tag.familiar_repository();
            let tag_name = tag.tag.clone().unwrap_or_else(|| "<none>".into());
            rows.push(vec![
                repository,
                tag_name,
                image.id.short().into(),
                created.clone(),
                size.clone(),
            ]);
        }
    }
    print!("{}", api::table::format_table(&rows));
    Ok(())
}

fn print_history(store: &ImageStore, name: &str) -> anyhow::Result<()> {
    let image = store.resolve(name)?;
    let mut layers = image.manifest.layers.iter();
    let mut rows = vec![
        ["CREATED", "CREATED BY", "SIZE", "COMMENT"]
            .map(String::from)
            .to_vec(),
    ];
    // Newest first, as `docker history`; empty_layer steps changed only the config.
    let mut entries: Vec<Vec<String>> = Vec::new();
    for step in &image.config.history {
        let size = if step.empty_layer {
            0
        } else {
            layers.next().map(|l| l.size).unwrap_or(0)
        };
        let created = step
            .created
            .clone()
            .unwrap_or_default()
            .split('T')
            .next()
            .unwrap_or("")
            .to_string();
        let by: String = step
            .created_by
            .clone()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
        entries.push(vec![
            created,
            by,
            api::table::human_size(size),
            step.comment.clone().unwrap_or_default(),
        ]);
    }
    entries.reverse();
    rows.extend(entries);
    print!("{}", api::table::format_table(&rows));
    Ok(())
}

// ANCHOR: offline
/// `hello` from the static binary built in this workspace, `busybox` from
/// the host's static busybox: two real images with no network at all.
fn create_offline_images(store: &ImageStore) -> anyhow::Result<()> {
    let (image, hello) = images::rootfs::import_hello(store)?;
    println!(
        "hello:latest    {}  (from {})",
        image.id.short(),
        hello.display()
    );
    let (image, busybox) = images::rootfs::import_busybox(store)?;
    println!(
        "busybox:latest  {}  (from {})",
        image.id.short(),
        busybox.display()
    );
    Ok(())
}
// ANCHOR_END: offline
