//! `minidockerd`: the engine's daemon. Flags as dockerd's, where dockerd
//! has them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use api::http::{Host, Listener};
use clap::Parser;
use minidocker::config::{self, DEFAULT_RUNTIME, DaemonConfig};
use minidocker::daemon::Daemon;

#[derive(Parser, Debug)]
#[command(
    name = "minidockerd",
    version,
    about = "The minidocker engine: serves the Docker Engine API and runs containers (minishim + minirunc)"
)]
struct Cli {
    /// Where to listen: unix:///path.sock, or tcp://127.0.0.1:PORT
    /// (loopback only until TLS comes). Repeatable.
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/minidocker.sock"
    )]
    hosts: Vec<String>,
    /// Images, containers and logs.
    #[arg(long, default_value = "/var/lib/minidocker")]
    data_root: PathBuf,
    /// Shims' sockets, runtime state, network namespaces.
    #[arg(long, default_value = "/run/minidocker")]
    exec_root: PathBuf,
    /// Another OCI runtime, NAME=PATH (e.g. crun=/usr/bin/crun). Repeatable.
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    add_runtime: Vec<String>,
    /// The runtime of containers that do not ask for one (--runtime).
    #[arg(long, default_value = DEFAULT_RUNTIME)]
    default_runtime: String,
    /// Do not create the offline images (hello, busybox) on the first start.
    #[arg(long)]
    no_default_images: bool,
    /// Leave the containers running when the daemon stops (SIGTERM,
    /// SIGINT); the next daemon reattaches to them. Without it a clean stop
    /// stops them first. After a crash the next daemon keeps the survivors
    /// either way (dockerd without live-restore would stop them): nothing
    /// a user started ends because the daemon died.
    #[arg(long)]
    live_restore: bool,
    /// Log every request and the shim's command lines.
    #[arg(short = 'D', long)]
    debug: bool,
}

fn main() {
    let cli: Cli = api::exit_code::parse_args();
    if let Err(e) = run(cli) {
        eprintln!("minidockerd: {e:#}");
        std::process::exit(1);
    }
}

/// The runtimes a daemon knows: ours, runc where it is installed (Docker
/// registers runc by default), and the `--add-runtime` ones.
fn runtimes(cli: &Cli) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut runtimes = BTreeMap::new();
    runtimes.insert(
        DEFAULT_RUNTIME.to_string(),
        config::sibling_binary("minirunc")?,
    );
    if let Some(runc) = config::on_path("runc") {
        runtimes.insert("runc".to_string(), runc);
    }
    for entry in &cli.add_runtime {
        let Some((name, path)) = entry.split_once('=') else {
            bail!("--add-runtime {entry:?}: use NAME=PATH");
        };
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("--add-runtime {entry:?}: {} is not a file", path.display());
        }
        runtimes.insert(name.to_string(), path);
    }
    if !runtimes.contains_key(&cli.default_runtime) {
        bail!(
            "--default-runtime {}: unknown runtime (known: {})",
            cli.default_runtime,
            runtimes.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(runtimes)
}

/// Parses `-H`; TCP only on a loopback address until step 4 brings TLS:
/// a plain TCP socket on the network gives root on this host to anyone.
fn parse_host(text: &str) -> anyhow::Result<Host> {
    let host = Host::parse(text)?;
    if let Host::Tcp(addr) = &host {
        let ip: IpAddr = addr
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .with_context(|| format!("-H {text}: use tcp://127.0.0.1:PORT"))?;
        if !ip.is_loopback() {
            bail!(
                "-H {text}: an unencrypted TCP socket on a network address would let anyone on it run \
                 containers as root; listen on 127.0.0.1, or wait for TLS (the engine's step 4)"
            );
        }
    }
    Ok(host)
}

/// The socket as /run/docker.sock is: mode 0660, group `minidocker` when
/// that group exists (its members may use the daemon), else root only.
fn share_socket(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("minidocker") {
        nix::unistd::chown(path, None, Some(group.gid))
            .with_context(|| format!("chown :minidocker {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .with_context(|| format!("chmod 0660 {}", path.display()))?;
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("minidockerd needs root: it mounts, makes namespaces and cgroups (sudo minidockerd)");
    }
    let hosts = cli
        .hosts
        .iter()
        .map(|h| parse_host(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Blocked before any thread exists, so only the wait below sees them.
    // (A container's process starts with none blocked: the runtime resets
    // them, chapter 03's `reset_signals`.)
    let signals = api::signal::block_shutdown_signals().context("blocking SIGINT and SIGTERM")?;

    let config = DaemonConfig {
        data_root: std::path::absolute(&cli.data_root)?,
        exec_root: std::path::absolute(&cli.exec_root)?,
        runtimes: runtimes(&cli)?,
        default_runtime: cli.default_runtime.clone(),
        shim: config::sibling_binary("minishim")?,
        init: images::static_binary::find("minidocker-init").ok(),
        debug: cli.debug,
        live_restore: cli.live_restore,
    };
    let daemon = Daemon::open(config)?;
    if !cli.no_default_images {
        daemon.create_default_images()?;
    }
    let server = Arc::new(minidocker::routes::server(&daemon, cli.debug));
    let mut sockets = Vec::new();
    for host in &hosts {
        let listener = Listener::bind(host)?;
        if let Host::Unix(path) = host {
            share_socket(path)?;
            sockets.push(path.clone());
        }
        let shown = match listener.host() {
            Host::Unix(path) => path.display().to_string(),
            tcp => tcp.to_string(),
        };
        let server = Arc::clone(&server);
        std::thread::spawn(move || server.serve(listener));
        // dockerd's words: scripts and tests wait for this line.
        eprintln!("minidockerd: API listen on {shown}");
    }
    let signal = signals.wait().context("waiting for a signal")?;
    if cli.live_restore {
        eprintln!("minidockerd: {signal}: leaving the containers running (--live-restore)");
    } else {
        eprintln!("minidockerd: {signal}: stopping containers");
        daemon.shutdown();
    }
    for path in sockets {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
