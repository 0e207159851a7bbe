//! `minirunc`: an OCI runtime with runc's command line.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use runtime::builder::{self, SpecRequest};
use runtime::exec::{self, ExecOptions};
use runtime::features;
use runtime::lifecycle::{self, CreateOptions};
use runtime::state::StateDir;

#[derive(Parser, Debug)]
#[command(
    name = "minirunc",
    version,
    about = "An OCI runtime with runc's command line (chapter 05)"
)]
struct Cli {
    /// Where containers' state lives (a tmpfs: it goes with a reboot, as they do).
    #[arg(long, global = true, default_value = "/run/minirunc")]
    root: PathBuf,
    /// Also write errors to this file (containerd's shim reads it).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// The log file's format.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// A few more lines on stderr (what minirunc ignores, and why).
    #[arg(long, global = true)]
    debug: bool,
    /// The systemd cgroup driver (not supported: the cgroupfs driver is used).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// The bundle: config.json and the root filesystem.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's PID here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// chroot instead of pivot_root (for a root on a ramdisk).
    #[arg(long)]
    no_pivot: bool,
    /// A Unix socket to send the terminal's master to (process.terminal).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    id: String,
}

#[derive(clap::Args, Debug)]
struct ExecArgs {
    /// A process.json (config.json's `process` object) instead of a command.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// A terminal as stdin, stdout and stderr.
    #[arg(short, long)]
    tty: bool,
    /// A Unix socket to send the terminal's master to.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Do not wait for the process.
    #[arg(short, long)]
    detach: bool,
    /// Write the process's PID here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// KEY=VALUE to add to the environment (repeatable).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// The working directory, in the container.
    #[arg(long)]
    cwd: Option<String>,
    /// UID[:GID], numeric.
    #[arg(short, long)]
    user: Option<String>,
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a config.json with Docker's defaults into the bundle (runs `sh` in ./rootfs).
    Spec {
        /// The bundle directory (default: the current directory).
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Set a container up and leave it waiting for `start`.
    Create(CreateArgs),
    /// Let a created container run its process.
    Start { id: String },
    /// The container's state, as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init, or with --all to every process.
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Remove a stopped container (--force: any container).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create, start and wait: the exit status is the container's.
    Run(CreateArgs),
    /// New limits for a running container (`docker update`).
    Update {
        /// linux.resources as JSON, from this file (`-`: standard input).
        #[arg(short, long)]
        resources: PathBuf,
        id: String,
    },
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Run one more process in a running container.
    Exec(ExecArgs),
    /// What this runtime supports, as JSON (runtime-spec features.md).
    Features,
    /// The containers under --root.
    List,
    /// The processes in a container.
    Ps {
        /// `table` (ps -f) or `json` (the PIDs).
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
    },
}

fn main() {
    let cli: Cli = api::exit_code::parse_args();
    runtime::DEBUG.store(cli.debug, std::sync::atomic::Ordering::Relaxed);
    let states = StateDir {
        root: cli.root.clone(),
    };
    let result = if cli.systemd_cgroup {
        Err(anyhow::anyhow!(
            "--systemd-cgroup is not supported: minirunc uses the cgroupfs driver"
        ))
    } else {
        dispatch(&states, cli.command)
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("minirunc: {message}");
            if let Some(log) = &cli.log {
                log_error(log, &cli.log_format, &message);
            }
            // A command that is not there (127) or not executable (126)
            // exits as a shell would, for `run` and `exec`.
            let code = e
                .downcast_ref::<namespaces::container::ContainerError>()
                .map_or(1, |e| e.exit_code);
            std::process::exit(code);
        }
    }
}

fn create_options(args: &CreateArgs) -> CreateOptions {
    CreateOptions {
        bundle: args.bundle.clone(),
        pid_file: args.pid_file.clone(),
        no_pivot: args.no_pivot,
        console_socket: args.console_socket.clone(),
    }
}

fn dispatch(states: &StateDir, command: Command) -> anyhow::Result<i32> {
    // The lifecycle's own commands are traced for `minidocker run
    // --explain`; an exec (a health probe, say) would only add noise.
    if matches!(
        command,
        Command::Create(_) | Command::Start { .. } | Command::Delete { .. }
    ) {
        api::trace::init_from_env(api::trace::Layer::Minirunc);
    }
    match command {
        Command::Spec { bundle } => spec(&bundle)?,
        Command::Create(args) => lifecycle::create(states, &args.id, &create_options(&args))?,
        Command::Start { id } => lifecycle::start(states, &id)?,
        Command::State { id } => {
            let saved = states.load(&id)?;
            let state = saved.oci_state(states.status(&saved));
            output(&serde_json::to_string_pretty(&state)?)?;
        }
        Command::Kill { all, id, signal } => lifecycle::kill(
            states,
            &id,
            api::signal::parse(&signal).map_err(anyhow::Error::msg)?,
            all,
        )?,
        Command::Delete { force, id } => lifecycle::delete(states, &id, force)?,
        Command::Run(args) => return lifecycle::run(states, &args.id, &create_options(&args)),
        Command::Update { resources, id } => {
            let json = if resources.as_os_str() == "-" {
                let mut json = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut json)
                    .context("reading the resources from stdin")?;
                json
            } else {
                std::fs::read(&resources)
                    .with_context(|| format!("reading {}", resources.display()))?
            };
            lifecycle::update(states, &id, &json)?
        }
        Command::Pause { id } => lifecycle::pause(states, &id)?,
        Command::Resume { id } => lifecycle::resume(states, &id)?,
        Command::Exec(args) => {
            let options = ExecOptions {
                process_file: args.process,
                args: args.command,
                tty: args.tty,
                console_socket: args.console_socket,
                detach: args.detach,
                pid_file: args.pid_file,
                env: args.env,
                cwd: args.cwd,
                user: args.user,
            };
            return exec::exec(states, &args.id, &options);
        }
        Command::Features => output(&serde_json::to_string_pretty(&features::features())?)?,
        Command::List => list(states)?,
        Command::Ps { format, id } => ps(states, &id, &format)?,
    }
    Ok(0)
}

// ANCHOR: spec_command
fn spec(bundle: &Path) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    // As runc: never overwrite a config.json.
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = builder::build(&SpecRequest::default())?;
    let text = serde_json::to_string_pretty(&spec)? + "\n";
    // Written whole under another name, then renamed: never half a file.
    images::atomic::write_file(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
// ANCHOR_END: spec_command

/// Prints `text` and a newline. A reader that went away (`minirunc list |
/// head -1`) is not an error: the rest is simply not wanted.
fn output(text: &str) -> anyhow::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

fn list(states: &StateDir) -> anyhow::Result<()> {
    let mut table = format!(
        "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for id in states.ids()? {
        let saved = states.load(&id)?;
        let state = saved.oci_state(states.status(&saved));
        table += &format!(
            "\n{:<20} {:<8} {:<10} {:<40} {:<32} {}",
            state.id,
            state.pid,
            state.status,
            state.bundle.display(),
            state.created,
            state.owner
        );
    }
    output(&table)
}

fn ps(states: &StateDir, id: &str, format: &str) -> anyhow::Result<()> {
    let saved = states.load(id)?;
    let pids = cgroups::manager_at(&saved.cgroup_path)?.pids()?;
    // containerd's shim asks for JSON: the PIDs, for `docker top`.
    if format == "json" {
        let pids: Vec<i32> = pids.iter().map(|p| p.as_raw()).collect();
        return output(&serde_json::to_string(&pids)?);
    }
    if pids.is_empty() {
        return output("PID");
    }
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    let status = std::process::Command::new("ps")
        .args(["-f", "-p", &list.join(",")])
        .status()
        .context("running ps")?;
    if !status.success() {
        bail!("ps exited with {status}");
    }
    Ok(())
}

/// One error line in the log file, as runc (logrus) writes it.
fn log_error(log: &Path, format: &str, message: &str) {
    let time = api::timefmt::rfc3339_nanos(std::time::SystemTime::now());
    let line = if format == "json" {
        serde_json::json!({"level": "error", "msg": message, "time": time}).to_string()
    } else {
        format!("time=\"{time}\" level=error msg={message:?}")
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(file, "{line}");
    }
}
