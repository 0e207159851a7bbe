//! The `ch01` command line: `ch01 daemon` serves the API; every other
//! subcommand is a small client that makes the same calls, in the same
//! order, as the docker CLI.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use serde_json::json;

use crate::http::{Client, DaemonError, Host, Listener};
use crate::stdcopy;
use crate::timefmt;
use crate::types::{
    ContainerCreateResponse, ContainerInspect, ContainerSummary, VersionResponse, WaitResponse,
};
use crate::version::API_VERSION;

/// Where the chapter 01 daemon listens unless told otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/minidocker-ch01.sock";

#[derive(Parser, Debug)]
#[command(
    name = "ch01",
    version,
    about = "Chapter 01: a toy Docker daemon (host processes, no isolation) and its client"
)]
pub struct Cli {
    /// Daemon address: unix:///path.sock or tcp://127.0.0.1:PORT. The daemon
    /// accepts several; the client uses one. Default: $DOCKER_HOST, else
    /// unix:///run/minidocker-ch01.sock.
    #[arg(short = 'H', long = "host", global = true)]
    pub hosts: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the Engine API.
    Daemon {
        /// Print every request and response head, and JSON bodies.
        #[arg(long)]
        trace: bool,
    },
    /// Show the client's and the daemon's versions.
    Version,
    /// List containers.
    Ps {
        /// All containers, not only running ones.
        #[arg(short, long)]
        all: bool,
    },
    /// Create and start a container, attached unless -d.
    Run {
        /// Remove the container when it exits.
        #[arg(long)]
        rm: bool,
        /// Run in the background and print the container id.
        #[arg(short, long)]
        detach: bool,
        /// Keep stdin open and send ours to the container.
        #[arg(short, long)]
        interactive: bool,
        #[arg(long)]
        name: Option<String>,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print a container's output.
    Logs {
        /// Keep following the output.
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Stop containers: the stop signal, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short, long)]
        time: Option<i64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Wait for containers to stop and print their exit codes.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Print a container's details as JSON.
    Inspect { container: String },
}

/// Runs one command; returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let mut hosts = cli
        .hosts
        .iter()
        .map(|h| Host::parse(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if hosts.is_empty() {
        let default = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_HOST.to_string());
        hosts.push(Host::parse(&default)?);
    }
    if let Command::Daemon { trace } = cli.command {
        return serve(hosts, trace);
    }
    if hosts.len() > 1 {
        bail!("the client talks to one daemon: give -H once");
    }
    let mut client = Client::new(hosts.remove(0));
    client.negotiate()?;
    match cli.command {
        Command::Daemon { .. } => unreachable!("handled above"),
        Command::Version => version(&client),
        Command::Ps { all } => ps(&client, all),
        Command::Run {
            rm,
            detach,
            interactive,
            name,
            command,
        } => run_container(&client, rm, detach, interactive, name.as_deref(), &command),
        Command::Logs { follow, container } => logs(&client, &container, follow),
        Command::Stop { time, containers } => for_each(&containers, |c| {
            let t = time.map(|t| format!("?t={t}")).unwrap_or_default();
            client
                .post(&format!("/containers/{}/stop{t}", escape(c)))
                .map(|_| ())
        }),
        Command::Rm { force, containers } => for_each(&containers, |c| {
            client
                .send(
                    "DELETE",
                    &format!("/containers/{}?force={}", escape(c), force as u8),
                    None,
                )?
                .check()
                .map(|_| ())
        }),
        Command::Wait { containers } => {
            let mut failed = false;
            for c in &containers {
                match client
                    .send("POST", &format!("/containers/{}/wait", escape(c)), None)
                    .and_then(|r| r.json::<WaitResponse>())
                {
                    Ok(w) => println!("{}", w.status_code),
                    Err(e) => {
                        eprintln!("{e:#}");
                        failed = true;
                    }
                }
            }
            Ok(failed as i32)
        }
        Command::Inspect { container } => {
            let value: serde_json::Value =
                client.get_json(&format!("/containers/{}/json", escape(&container)))?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(0)
        }
    }
}

/// Percent-encodes a path segment the user typed.
fn escape(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// Runs `action` for each name, printing it on success as docker does.
fn for_each(names: &[String], action: impl Fn(&str) -> anyhow::Result<()>) -> anyhow::Result<i32> {
    let mut status = 0;
    for name in names {
        match action(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e:#}");
                status = 1;
            }
        }
    }
    Ok(status)
}

// ANCHOR: serve
/// `ch01 daemon`: binds every -H, serves each on its own thread, and on
/// SIGINT or SIGTERM stops the containers and removes its sockets.
fn serve(hosts: Vec<Host>, trace: bool) -> anyhow::Result<i32> {
    // Blocked before any thread exists, so only `wait()` below sees them.
    // Child processes inherit the mask too: `Container::start` unblocks
    // them again in each container.
    let signals = crate::signal::block_shutdown_signals().context("blocking SIGINT and SIGTERM")?;

    let daemon = Arc::new(super::Daemon::default());
    let server = Arc::new(super::server(Arc::clone(&daemon), trace));
    let mut sockets = Vec::new();
    for host in &hosts {
        let listener = Listener::bind(host)?;
        eprintln!("ch01 daemon: API listening on {}", listener.host());
        if let Host::Unix(path) = host {
            sockets.push(path.clone());
        }
        let server = Arc::clone(&server);
        std::thread::spawn(move || server.serve(listener));
    }
    let signal = signals.wait().context("waiting for a signal")?;
    eprintln!("ch01 daemon: {signal}: stopping containers");
    daemon.shutdown();
    for path in sockets {
        let _ = std::fs::remove_file(path);
    }
    Ok(0)
}
// ANCHOR_END: serve

fn version(client: &Client) -> anyhow::Result<i32> {
    println!("Client:");
    println!(" Version:      {}", env!("CARGO_PKG_VERSION"));
    println!(
        " API version:  {}{}",
        client.version(),
        if client.version() < API_VERSION {
            format!(" (downgraded from {API_VERSION})")
        } else {
            String::new()
        }
    );
    println!(" Daemon:       {}", client.host());
    let server: VersionResponse = client.get_json("/version")?;
    println!();
    println!("Server: {}", server.platform.name);
    println!(" Version:      {}", server.version);
    println!(
        " API version:  {} (minimum version {})",
        server.api_version, server.min_api_version
    );
    println!(" OS/Arch:      {}/{}", server.os, server.arch);
    println!(" Kernel:       {}", server.kernel_version);
    Ok(0)
}

fn ps(client: &Client, all: bool) -> anyhow::Result<i32> {
    let rows: Vec<ContainerSummary> =
        client.get_json(&format!("/containers/json?all={}", all as u8))?;
    let header = ["CONTAINER ID", "COMMAND", "CREATED", "STATUS", "NAMES"];
    let mut table = vec![header.map(String::from).to_vec()];
    for row in rows {
        let created = UNIX_EPOCH + Duration::from_secs(row.created.max(0) as u64);
        let age = timefmt::human_duration(created.elapsed().unwrap_or_default());
        table.push(vec![
            row.id.chars().take(12).collect(),
            format!("\"{}\"", row.command).chars().take(30).collect(),
            format!("{age} ago"),
            row.status,
            row.names.join(",").trim_start_matches('/').to_string(),
        ]);
    }
    print!("{}", crate::table::format_table(&table));
    Ok(0)
}

/// `ch01 run`: the docker CLI's sequence — create, attach (until the 101),
/// wait (until its headers), start; then copy the output until the daemon
/// closes the stream, and exit with the code from the wait.
fn run_container(
    client: &Client,
    remove: bool,
    detach: bool,
    interactive: bool,
    name: Option<&str>,
    command: &[String],
) -> anyhow::Result<i32> {
    let body = json!({
        "Cmd": command,
        "AttachStdin": interactive, "OpenStdin": interactive, "StdinOnce": interactive,
        "AttachStdout": !detach, "AttachStderr": !detach, "Tty": false,
        "HostConfig": { "AutoRemove": remove },
    });
    let query = name
        .map(|n| format!("?name={}", escape(n)))
        .unwrap_or_default();
    let created: ContainerCreateResponse =
        client.post_json(&format!("/containers/create{query}"), &body)?;
    let id = created.id;
    if detach {
        if let Err(code) = start_or_explain(client, &id) {
            return Ok(code);
        }
        println!("{id}");
        return Ok(0);
    }
    // ANCHOR: run
    let stdin = if interactive { "&stdin=1" } else { "" };
    let attached = client.hijack(&format!(
        "/containers/{id}/attach?stream=1&stdout=1&stderr=1{stdin}"
    ))?;
    let condition = if remove { "removed" } else { "next-exit" };
    let wait = client
        .send(
            "POST",
            &format!("/containers/{id}/wait?condition={condition}"),
            None,
        )?
        .check()?;
    if let Err(code) = start_or_explain(client, &id) {
        return Ok(code);
    }
    let mut output = attached.reader;
    let input = attached.writer;
    if interactive {
        std::thread::spawn(move || {
            let mut input = input;
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
            // Half-close: "no more stdin", while we go on reading output.
            let _ = input.shutdown(Shutdown::Write);
        });
    } else {
        let _ = input.shutdown(Shutdown::Write);
    }
    stdcopy::demultiplex(&mut output, &mut std::io::stdout(), &mut std::io::stderr())
        .context("reading the container's output")?;
    let status: WaitResponse = wait.json()?;
    Ok(status.status_code as i32)
}
// ANCHOR_END: run

/// Starts the container; on failure prints the daemon's message and gives
/// the exit code the docker CLI would ([`crate::exit_code::for_start_error`]).
fn start_or_explain(client: &Client, id: &str) -> Result<(), i32> {
    client
        .post(&format!("/containers/{id}/start"))
        .map(drop)
        .map_err(|e| {
            eprintln!("ch01: {e:#}");
            let message = e
                .downcast_ref::<DaemonError>()
                .map_or("", |d| d.message.as_str());
            crate::exit_code::for_start_error(message)
        })
}

fn logs(client: &Client, container: &str, follow: bool) -> anyhow::Result<i32> {
    // Framed or raw depends on the container's Tty setting, as in the CLI.
    let inspect: ContainerInspect =
        client.get_json(&format!("/containers/{}/json", escape(container)))?;
    let path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&follow={}",
        escape(container),
        follow as u8
    );
    let mut stream = client.send("GET", &path, None)?.check()?;
    if inspect.config.tty {
        let mut out = std::io::stdout();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    } else {
        stdcopy::demultiplex(&mut stream, &mut std::io::stdout(), &mut std::io::stderr())?;
    }
    Ok(0)
}
