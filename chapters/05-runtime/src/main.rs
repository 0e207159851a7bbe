//! `minirunc`: an OCI runtime with runc's command line.
//!
//! This first part writes bundles' config.json (`spec`); the container
//! lifecycle (`create`, `start`, `state`, `kill`, `delete`, `run`) is the
//! next step of chapter 05.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use runtime::builder::{self, SpecRequest};

#[derive(Parser, Debug)]
#[command(
    name = "minirunc",
    version,
    about = "An OCI runtime with runc's command line (chapter 05)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a config.json with Docker's defaults into the bundle (runs `sh` in ./rootfs).
    Spec {
        /// The bundle directory (default: the current directory).
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

fn main() {
    let cli: Cli = namespaces::cli::parse_args();
    let result = match cli.command {
        Command::Spec { bundle } => spec(&bundle),
    };
    if let Err(e) = result {
        eprintln!("minirunc: {e:#}");
        std::process::exit(1);
    }
}

// ANCHOR: spec_command
fn spec(bundle: &std::path::Path) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    // As runc: never overwrite a config.json.
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = builder::build(&SpecRequest::default());
    let text = serde_json::to_string_pretty(&spec)? + "\n";
    // Written whole under another name, then renamed: never half a file.
    images::atomic::write_file(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
// ANCHOR_END: spec_command
