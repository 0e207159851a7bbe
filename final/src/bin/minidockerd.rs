//! `minidockerd`: the engine's daemon. Flags as dockerd's, where dockerd
//! has them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use api::http::{Host, Listener, ServerTls};
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
    /// Where to listen: unix:///path.sock, or tcp://HOST:PORT: a loopback
    /// address, or with --tlsverify any (tcp://0.0.0.0:2376). Repeatable.
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
    /// Trace every container through every layer, and log each trace
    /// when its run ends (`minidocker explain CONTAINER` shows one).
    #[arg(long)]
    explain: bool,
    /// TCP over TLS (implied by --tlsverify): encrypted, but open to
    /// anyone who reaches the port, so on loopback addresses only.
    #[arg(long)]
    tls: bool,
    /// TCP over TLS, and only for clients with a certificate signed by
    /// --tlscacert (mutual TLS): what a network address needs.
    #[arg(long)]
    tlsverify: bool,
    /// The CA of the clients let in [default: ca.pem in $DOCKER_CERT_PATH,
    /// else ~/.docker].
    #[arg(long, value_name = "PATH")]
    tlscacert: Option<PathBuf>,
    /// The daemon's certificate [default: cert.pem, there].
    #[arg(long, value_name = "PATH")]
    tlscert: Option<PathBuf>,
    /// The daemon's private key [default: key.pem, there].
    #[arg(long, value_name = "PATH")]
    tlskey: Option<PathBuf>,
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

// ANCHOR: parse_host
/// Parses `-H`. TCP on a network address only with `--tlsverify`: the
/// Engine API runs containers as root, with any mount, so whoever can
/// send it a request is root on this host. Encryption alone (`--tls`)
/// does not say who is asking; a client certificate signed by our CA does.
fn parse_host(text: &str, tlsverify: bool) -> anyhow::Result<Host> {
    let host = Host::parse(text)?;
    if let Host::Tcp(addr) = &host {
        let ip: IpAddr = addr
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .with_context(|| format!("-H {text}: use tcp://IP:PORT, e.g. tcp://127.0.0.1:2375"))?;
        if !ip.is_loopback() && !tlsverify {
            bail!(
                "-H {text}: without --tlsverify, anyone who reaches this port could run containers \
                 as root on this host; listen on 127.0.0.1, or require client certificates \
                 (mutual TLS): --tlsverify --tlscacert ca.pem --tlscert server-cert.pem \
                 --tlskey server-key.pem (scripts/make-certs.sh DIR makes them)"
            );
        }
    }
    Ok(host)
}
// ANCHOR_END: parse_host

/// The TLS settings, when `--tls` or `--tlsverify` asks for them: the
/// files the flags name, else dockerd's defaults (ca.pem, cert.pem and
/// key.pem in `$DOCKER_CERT_PATH`, else `~/.docker`).
fn server_tls(cli: &Cli) -> anyhow::Result<Option<ServerTls>> {
    if !cli.tls && !cli.tlsverify {
        return Ok(None);
    }
    let dir = match std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    };
    let file = |flag: &Option<PathBuf>, name: &str| flag.clone().unwrap_or_else(|| dir.join(name));
    let ca = cli.tlsverify.then(|| file(&cli.tlscacert, "ca.pem"));
    let tls = ServerTls::new(
        &file(&cli.tlscert, "cert.pem"),
        &file(&cli.tlskey, "key.pem"),
        ca.as_deref(),
    )?;
    Ok(Some(tls))
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
        .map(|h| parse_host(h, cli.tlsverify))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tls = server_tls(&cli)?;
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
        explain: cli.explain,
    };
    let daemon = Daemon::open(config)?;
    if !cli.no_default_images {
        daemon.create_default_images()?;
    }
    let server = Arc::new(minidocker::routes::server(&daemon, cli.debug));
    // Every socket is bound before the first "API listen on" line: a
    // client that waits for it finds them all accepting.
    let mut sockets = Vec::new();
    let mut listeners = Vec::new();
    for host in &hosts {
        let listener = match (host, &tls) {
            (Host::Tcp(_), Some(tls)) => Listener::bind_tls(host, tls.clone())?,
            _ => Listener::bind(host)?,
        };
        if let Host::Unix(path) = host {
            share_socket(path)?;
            sockets.push(path.clone());
        }
        listeners.push(listener);
    }
    for listener in listeners {
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
