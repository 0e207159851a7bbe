//! The `minidocker` command line: docker's verbs, flags, tables and exit
//! codes, on chapter 01's client. Every command is the same sequence of
//! Engine API calls the real docker CLI makes (`../shared/engine-api.md`
//! §5 lists them), so `minidocker` and `docker` can be read side by side.
//! (docker/cli: `cli/command/container`, `cli/command/image`.)

pub mod build;
pub mod commit;
pub mod containers;
pub mod cp;
pub mod diff;
pub mod doctor;
pub mod events;
pub mod explain;
pub mod images;
pub mod options;
pub mod run;
pub mod stats;
pub mod system;
pub mod template;
pub mod terminal;

use std::path::PathBuf;

use anyhow::Context as _;
use api::http::{Client, ClientFlags, DaemonError};
use clap::{Args, Parser, Subcommand};

/// Where `minidockerd` listens unless told otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/minidocker.sock";

#[derive(Parser, Debug)]
#[command(
    name = "minidocker",
    version,
    about = "A self-sufficient runtime for containers — docker's CLI, on minidockerd"
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// docker's global flags: where the daemon is, and how to trust it.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnectionFlags {
    /// Daemon socket to connect to (default $DOCKER_HOST, else
    /// unix:///run/minidocker.sock).
    #[arg(short = 'H', long = "host", global = true)]
    pub host: Option<String>,
    /// Use TLS; implied by --tlsverify.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Use TLS and verify the daemon's certificate (also $DOCKER_TLS_VERIFY).
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default $DOCKER_CERT_PATH/ca.pem).
    #[arg(long, global = true)]
    pub tlscacert: Option<PathBuf>,
    /// Path to the TLS certificate file (default $DOCKER_CERT_PATH/cert.pem).
    #[arg(long, global = true)]
    pub tlscert: Option<PathBuf>,
    /// Path to the TLS key file (default $DOCKER_CERT_PATH/key.pem).
    #[arg(long, global = true)]
    pub tlskey: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image.
    // -h is --hostname here, as in docker: help is --help only.
    #[command(disable_help_flag = true)]
    Run(run::RunArgs),
    /// Create a new container.
    #[command(disable_help_flag = true)]
    Create(run::CreateArgs),
    /// Start one or more stopped containers.
    Start(run::StartArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(run::AttachArgs),
    /// Execute a command in a running container.
    Exec(run::ExecArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// Stop one or more running containers.
    Stop(containers::StopArgs),
    /// Kill one or more running containers.
    Kill(containers::KillArgs),
    /// Restart one or more containers.
    Restart(containers::StopArgs),
    /// Remove one or more containers.
    Rm(containers::RmArgs),
    /// Fetch the logs of a container.
    Logs(containers::LogsArgs),
    /// Return low-level information on containers or images.
    Inspect(containers::InspectArgs),
    /// Display the running processes of a container.
    Top(containers::TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// Get real time events from the server.
    Events(events::EventsArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::DiffArgs),
    /// Show a traced container's way through every layer, step by step.
    Explain(explain::ExplainArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::CpArgs),
    /// List port mappings or a specific mapping for the container.
    Port(diff::PortArgs),
    /// Pause all processes within one or more containers.
    Pause(containers::Names),
    /// Unpause all processes within one or more containers.
    Unpause(containers::Names),
    /// Rename a container.
    Rename(containers::RenameArgs),
    /// Update configuration of one or more containers.
    Update(containers::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(containers::Names),
    /// List images.
    Images(images::ImagesArgs),
    /// Remove one or more images.
    Rmi(images::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(images::TagArgs),
    /// Load an image from a tar archive or STDIN.
    Load(images::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(images::SaveArgs),
    /// Show the history of an image.
    History(images::HistoryArgs),
    /// Download an image from a registry.
    Pull(images::PullArgs),
    /// Build an image from a Dockerfile (the classic builder).
    Build(build::BuildArgs),
    /// Create a new image from a container's changes.
    Commit(commit::CommitArgs),
    /// Export a container's filesystem as a tar archive.
    Export(commit::ExportArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(commit::ImportArgs),
    /// Manage containers (prune).
    #[command(subcommand)]
    Container(commit::ContainerCommand),
    /// Manage images (prune).
    #[command(subcommand)]
    Image(commit::ImageCommand),
    /// Manage Docker (df, prune).
    #[command(subcommand)]
    System(commit::SystemCommand),
    /// Display system-wide information.
    Info(system::FormatArg),
    /// Show the minidocker version information.
    Version(system::FormatArg),
    /// Check that this machine has what the engine needs, each with its fix.
    Doctor(doctor::DoctorArgs),
}

// ANCHOR: main
/// The program: parses, runs, and turns an error into docker's words and
/// exit code. A usage error exits 125, as docker's own errors do.
pub fn main() -> i32 {
    // `run --explain` counts from here.
    let started = api::trace::now();
    let cli: Cli = api::exit_code::parse_args();
    let is_run = matches!(cli.command, Command::Run(_) | Command::Create(_));
    match run(cli, started) {
        Ok(code) => code,
        Err(error) => {
            report(&error);
            // docker run/create: 125 is "the daemon or the CLI failed".
            if is_run {
                api::exit_code::DAEMON_ERROR
            } else {
                1
            }
        }
    }
}
// ANCHOR_END: main

fn run(cli: Cli, started: u64) -> anyhow::Result<i32> {
    if let Command::Doctor(args) = &cli.command {
        return doctor::run(args, &cli.connection);
    }
    let explain = matches!(&cli.command, Command::Run(args) if args.explain);
    let client = connect(&cli.connection, explain.then_some(started))?;
    match cli.command {
        Command::Run(args) => run::run(&client, args),
        Command::Create(args) => run::create(&client, args),
        Command::Start(args) => run::start(&client, args),
        Command::Attach(args) => run::attach(&client, args),
        Command::Exec(args) => run::exec(&client, args),
        Command::Ps(args) => containers::ps(&client, args),
        Command::Stop(args) => containers::stop(&client, args, "stop"),
        Command::Restart(args) => containers::stop(&client, args, "restart"),
        Command::Kill(args) => containers::kill(&client, args),
        Command::Rm(args) => containers::rm(&client, args),
        Command::Logs(args) => containers::logs(&client, args),
        Command::Inspect(args) => containers::inspect(&client, args),
        Command::Top(args) => containers::top(&client, args),
        Command::Stats(args) => stats::stats(&client, args),
        Command::Events(args) => events::events(&client, args),
        Command::Diff(args) => diff::diff(&client, args),
        Command::Explain(args) => explain::explain(&client, args),
        Command::Cp(args) => cp::cp(&client, args),
        Command::Port(args) => diff::port(&client, args),
        Command::Pause(args) => containers::each(&client, &args.containers, "pause"),
        Command::Unpause(args) => containers::each(&client, &args.containers, "unpause"),
        Command::Rename(args) => containers::rename(&client, args),
        Command::Update(args) => containers::update(&client, args),
        Command::Wait(args) => containers::wait(&client, args),
        Command::Images(args) => images::images(&client, args),
        Command::Rmi(args) => images::rmi(&client, args),
        Command::Tag(args) => images::tag(&client, args),
        Command::Load(args) => images::load(&client, args),
        Command::Save(args) => images::save(&client, args),
        Command::History(args) => images::history(&client, args),
        Command::Pull(args) => images::pull(&client, args),
        Command::Build(args) => build::build(&client, args),
        Command::Commit(args) => commit::commit(&client, args),
        Command::Export(args) => commit::export(&client, args),
        Command::Import(args) => commit::import(&client, args),
        Command::Container(command) => commit::container(&client, command),
        Command::Image(command) => commit::image(&client, command),
        Command::System(command) => commit::system(&client, command),
        Command::Info(args) => system::info(&client, args),
        Command::Version(args) => system::version(&client, args),
        Command::Doctor(_) => unreachable!("handled above"),
    }
}

/// A client for the daemon the flags and the environment name, its API
/// version negotiated with `/_ping` as the docker CLI does first thing.
/// With `explain_from`, its requests are laps of a run traced from then.
pub fn connect(flags: &ConnectionFlags, explain_from: Option<u64>) -> anyhow::Result<Client> {
    let flags = ClientFlags {
        host: flags.host.clone(),
        tls: flags.tls,
        tlsverify: flags.tlsverify,
        tlscacert: flags.tlscacert.clone(),
        tlscert: flags.tlscert.clone(),
        tlskey: flags.tlskey.clone(),
    };
    // -H, else $DOCKER_HOST; TLS from the flags or $DOCKER_TLS_VERIFY and
    // $DOCKER_CERT_PATH, as the docker CLI reads them.
    let mut client = Client::from_flags(&flags, DEFAULT_HOST)?;
    let host = client.host().to_string();
    if let Some(started) = explain_from {
        client = client.with_laps(explain::starting(started, &host));
    }
    client.negotiate().map_err(|e| cannot_connect(&host, e))?;
    Ok(client)
}

/// docker's "Cannot connect" line, with our fix: start minidockerd.
fn cannot_connect(host: &str, error: anyhow::Error) -> anyhow::Error {
    let io = error
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>());
    match io.map(|e| e.kind()) {
        Some(std::io::ErrorKind::PermissionDenied) => anyhow::anyhow!(
            "permission denied connecting to the daemon at {host}: run as root, or join the \
             socket's group (usermod -aG minidocker $USER, then log in again)"
        ),
        Some(std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            anyhow::anyhow!(
                "Cannot connect to the minidocker daemon at {host}. Is the daemon running? \
                 Start it as root with `minidockerd &` (or point -H / DOCKER_HOST at it); \
                 `minidocker doctor` checks the machine"
            )
        }
        _ => error.context(format!("talking to the daemon at {host}")),
    }
}

/// One line on stderr: the daemon's message as docker prints it, or ours.
pub fn report(error: &anyhow::Error) {
    match error.downcast_ref::<DaemonError>() {
        Some(daemon) => eprintln!("{daemon}"),
        None => eprintln!("minidocker: {error:#}"),
    }
}

/// Percent-encodes a path segment or query value the user typed.
pub fn escape(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

// ANCHOR: for_each
/// Runs `action` for each name, printing the name on success as docker
/// does and each failure on its own line; 1 if any failed.
pub fn for_each(names: &[String], action: impl Fn(&str) -> anyhow::Result<()>) -> i32 {
    let mut status = 0;
    for name in names {
        match action(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                report(&e);
                status = 1;
            }
        }
    }
    status
}
// ANCHOR_END: for_each

/// The daemon's message, if `error` is one of its answers with `status`.
pub fn daemon_status(error: &anyhow::Error) -> Option<u16> {
    error.downcast_ref::<DaemonError>().map(|d| d.status)
}

/// Reads a whole file the user named, the error naming it.
pub fn read_user_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
