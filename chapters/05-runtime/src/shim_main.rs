//! `minishim`: the supervisor between the engine and the runtime (see the
//! contract in the `runtime::shim` module docs).

use std::path::PathBuf;

use clap::Parser;
use runtime::shim::{self, ShimOptions};

#[derive(Parser, Debug)]
#[command(
    name = "minishim",
    version,
    about = "Creates a container with an OCI runtime and stays with it (chapter 05)"
)]
struct Cli {
    /// The bundle: config.json and the root filesystem.
    #[arg(long)]
    bundle: PathBuf,
    /// The container's ID.
    #[arg(long)]
    id: String,
    /// Where the shim keeps its socket and status (EXEC_ROOT/ID[..12]/).
    #[arg(long, default_value = "/run/minishim")]
    exec_root: PathBuf,
    /// The OCI runtime: minirunc, or runc.
    #[arg(long, default_value = "minirunc")]
    runtime: PathBuf,
    /// The runtime's --root.
    #[arg(long, default_value = "/run/minirunc")]
    runtime_root: PathBuf,
    /// The json-file log (default: EXEC_ROOT/ID[..12]/ID-json.log).
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Rotate the log at this many bytes (0: never).
    #[arg(long, default_value_t = 10 << 20)]
    log_max_size: u64,
    /// Keep this many log files.
    #[arg(long, default_value_t = 3)]
    log_max_files: u32,
    /// A terminal for the container (process.terminal must be true).
    #[arg(long)]
    tty: bool,
    /// Keep the container's stdin open for attach (docker run -i).
    #[arg(long)]
    stdin: bool,
}

fn main() {
    let cli: Cli = api::exit_code::parse_args();
    let options = ShimOptions {
        bundle: cli.bundle,
        id: cli.id,
        exec_root: cli.exec_root,
        runtime: cli.runtime,
        runtime_root: cli.runtime_root,
        log_file: cli.log_file,
        log_max_size: cli.log_max_size,
        log_max_files: cli.log_max_files,
        tty: cli.tty,
        stdin: cli.stdin,
    };
    api::trace::init_from_env(api::trace::Layer::Minishim);
    match shim::spawn(&options) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("minishim: {e:#}");
            std::process::exit(1);
        }
    }
}
