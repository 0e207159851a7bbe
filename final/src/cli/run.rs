//! `run`, `create`, `start`, `attach` and `exec`: the commands that join
//! the user's terminal to a container's streams. `run` is the docker CLI's
//! sequence — create (pull on a 404), attach until the 101, wait until its
//! headers, start, resize — then the streams until the daemon closes them,
//! and the exit code from the wait. (docker/cli: `container/run.go`,
//! `container/hijack.go`.)

use std::io::{IsTerminal, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use api::detach::{self, Scanned, Scanner};
use api::exit_code;
use api::http::{Client, ClientResponse, Connection, DaemonError, Hijacked};
use api::stdcopy;
use api::types::{ContainerCreateResponse, ContainerInspect, WaitResponse};
use clap::Args;
use serde_json::{Value, json};

use super::explain::Live;
use super::options::CreateFlags;
use super::terminal::{self, RawMode};
use super::{daemon_status, escape};

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image to run.
    pub image: String,
    /// The command and its arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process (without -t).
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Print each step of every layer, with its time (minidocker's own).
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Username or UID.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `docker create`: prints the new container's ID.
pub fn create(client: &Client, args: CreateArgs) -> anyhow::Result<i32> {
    let body = args.flags.body(&args.image, &args.command, false)?;
    let id = create_container(client, &args.flags, &args.image, &body)?;
    println!("{id}");
    Ok(0)
}

// ANCHOR: create_container
/// `POST /containers/create`; on a 404 the image is missing: docker says
/// so, pulls, and tries once more (engine-api.md §0.7).
fn create_container(
    client: &Client,
    flags: &CreateFlags,
    image: &str,
    body: &Value,
) -> anyhow::Result<String> {
    let path = match &flags.name {
        Some(name) => format!("/containers/create?name={}", escape(name)),
        None => "/containers/create".to_string(),
    };
    let created: ContainerCreateResponse = match client.post_json(&path, body) {
        Err(e) if daemon_status(&e) == Some(404) => {
            eprintln!(
                "Unable to find image '{}' locally",
                super::images::with_tag(image)
            );
            super::images::pull_image(client, image)?;
            client.post_json(&path, body)?
        }
        other => other?,
    };
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    Ok(created.id)
}
// ANCHOR_END: create_container

// ANCHOR: run
/// `docker run`: create, attach, wait, start, then the streams.
pub fn run(client: &Client, args: RunArgs) -> anyhow::Result<i32> {
    let flags = &args.create.flags;
    if flags.tty && !args.detach && flags.interactive && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY: drop -t, or run from a terminal");
    }
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let attach = !args.detach;
    let mut body = flags.body(&args.create.image, &args.create.command, attach)?;
    let mut live = client.laps().map(|laps| Live::new(Arc::clone(laps)));
    if live.is_some() {
        // The label asks the daemon to trace this container.
        body["Labels"][crate::explain::LABEL] = json!("true");
    }
    let id = create_container(client, flags, &args.create.image, &body)?;
    if args.detach {
        start_container(client, &id)?;
        if let Some(mut live) = live {
            live.print(client, &id, None)?;
            live.finish(format!("prints the ID and exits: {id}"));
        }
        println!("{id}");
        return Ok(0);
    }
    // Before any thread: the signals go to the watcher thread only.
    watch(client, &id, None, args.sig_proxy && !flags.tty);
    let stream = attach_stream(client, &id, flags.interactive, args.detach_keys.as_deref())?;
    let wait = wait_for(client, &id, if flags.rm { "removed" } else { "next-exit" })?;
    if let Err(code) = start_or_exit_code(client, &id) {
        return Ok(code);
    }
    resize(client, &id, None);
    if let Some(live) = &mut live {
        live.print_start(client, &id)?;
    }
    let ended = pump(stream, flags.interactive, flags.tty, keys)?;
    if ended == Ended::Detached {
        return Ok(0); // the container runs on; its exit is not ours
    }
    let status: WaitResponse = wait.json()?;
    if let Some(error) = status.error.filter(|e| !e.message.is_empty()) {
        eprintln!("minidocker: {}", error.message);
    }
    let code = status.status_code as i32;
    if let Some(mut live) = live {
        live.lap(format!(
            "the container ran; its output came until the wait's body: {{\"StatusCode\":{code}}}"
        ));
        live.print(client, &id, None)?;
        live.finish(format!("exits with the container's status, {code}"));
    }
    Ok(code)
}
// ANCHOR_END: run

/// `docker start [-a] [-i] NAME…`.
pub fn start(client: &Client, args: StartArgs) -> anyhow::Result<i32> {
    if !args.attach && !args.interactive {
        let mut failed = Vec::new();
        for name in &args.containers {
            match start_container(client, name) {
                Ok(()) => println!("{name}"),
                Err(e) => {
                    super::report(&e);
                    failed.push(name.as_str());
                }
            }
        }
        if failed.is_empty() {
            return Ok(0);
        }
        eprintln!("Error: failed to start containers: {}", failed.join(", "));
        return Ok(1);
    }
    let [name] = args.containers.as_slice() else {
        bail!("you cannot start and attach multiple containers at once: name one");
    };
    let inspect = inspect(client, name)?;
    let tty = inspect.config.tty;
    let stdin = args.interactive && inspect.config.open_stdin;
    let keys = detach_keys(args.detach_keys.as_deref())?;
    watch(client, &inspect.id, None, !tty);
    let stream = attach_stream(client, &inspect.id, stdin, args.detach_keys.as_deref())?;
    let wait = wait_for(client, &inspect.id, "next-exit")?;
    start_container(client, &inspect.id)?;
    resize(client, &inspect.id, None);
    if pump(stream, stdin, tty, keys)? == Ended::Detached {
        return Ok(0);
    }
    Ok(wait.json::<WaitResponse>()?.status_code as i32)
}

/// `docker attach NAME`: the streams of a running container; the exit
/// code is the container's, once its output ends.
pub fn attach(client: &Client, args: AttachArgs) -> anyhow::Result<i32> {
    let inspect = inspect(client, &args.container)?;
    if !inspect.state.running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if inspect.state.paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let tty = inspect.config.tty;
    let stdin = !args.no_stdin && inspect.config.open_stdin;
    let keys = detach_keys(args.detach_keys.as_deref())?;
    watch(client, &inspect.id, None, args.sig_proxy && !tty);
    let stream = attach_stream(client, &inspect.id, stdin, args.detach_keys.as_deref())?;
    resize(client, &inspect.id, None);
    if pump(stream, stdin, tty, keys)? == Ended::Detached {
        return Ok(detached());
    }
    let after = self::inspect(client, &inspect.id)?;
    Ok(after.state.exit_code as i32)
}

/// `docker exec`: create the exec, start it hijacked, and its exit code
/// from the exec's inspect.
pub fn exec(client: &Client, args: ExecArgs) -> anyhow::Result<i32> {
    if args.tty && args.interactive && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY: drop -t, or run from a terminal");
    }
    let attach = !args.detach;
    let console = args.tty.then(terminal::window_size).flatten();
    let body = json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": attach && args.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Detach": args.detach,
        "DetachKeys": args.detach_keys.clone().unwrap_or_default(),
        "Env": args.env,
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": args.command,
        "ConsoleSize": console.map(|(h, w)| [h, w]),
    });
    let created: Value = client.post_json(
        &format!("/containers/{}/exec", escape(&args.container)),
        &body,
    )?;
    let exec_id = created["Id"]
        .as_str()
        .context("the daemon's exec create answer has no Id")?
        .to_string();
    let start = json!({"Detach": args.detach, "Tty": args.tty,
                       "ConsoleSize": console.map(|(h, w)| [h, w])});
    if args.detach {
        client
            .send(
                "POST",
                &format!("/exec/{exec_id}/start"),
                Some(("application/json", serde_json::to_vec(&start)?)),
            )?
            .check()?;
        return Ok(0);
    }
    let keys = detach_keys(args.detach_keys.as_deref())?;
    watch(client, &args.container, Some(&exec_id), false);
    let stream = client.hijack_json(&format!("/exec/{exec_id}/start"), &start)?;
    resize(client, &args.container, Some(&exec_id));
    if pump(stream, args.interactive, args.tty, keys)? == Ended::Detached {
        return Ok(detached());
    }
    let state: Value = client.get_json(&format!("/exec/{exec_id}/json"))?;
    Ok(state["ExitCode"]
        .as_i64()
        .unwrap_or(exit_code::DAEMON_ERROR as i64) as i32)
}

/// `POST /containers/ID/attach`, hijacked: the streams, stdin if asked.
fn attach_stream(
    client: &Client,
    id: &str,
    stdin: bool,
    detach_keys: Option<&str>,
) -> anyhow::Result<Hijacked> {
    let stdin = if stdin { "&stdin=1" } else { "" };
    // The daemon watches for the keys too: tell it ours, as docker does.
    let keys = detach_keys
        .map(|k| format!("&detachKeys={}", escape(k)))
        .unwrap_or_default();
    client.hijack(&format!(
        "/containers/{id}/attach?stream=1&stdout=1&stderr=1{stdin}{keys}"
    ))
}

/// `POST /containers/ID/wait`, returned once its head is in: the body,
/// `{"StatusCode":N}`, comes when the condition is met.
fn wait_for(client: &Client, id: &str, condition: &str) -> anyhow::Result<ClientResponse> {
    let path = format!("/containers/{id}/wait?condition={condition}");
    client.send("POST", &path, None)?.check()
}

/// Starts the container; when it cannot, prints why and gives docker's
/// exit code for it (127 not found, 126 not executable, else 125).
fn start_or_exit_code(client: &Client, id: &str) -> Result<(), i32> {
    start_container(client, id).map_err(|e| {
        super::report(&e);
        let message = e
            .downcast_ref::<DaemonError>()
            .map_or("", |d| d.message.as_str());
        exit_code::for_start_error(message)
    })
}

/// What `docker attach` and `docker exec` do when the keys let go: say
/// so, and exit 1 (`docker run` exits 0 without a word).
fn detached() -> i32 {
    eprintln!("read escape sequence");
    1
}

fn start_container(client: &Client, id: &str) -> anyhow::Result<()> {
    client
        .post(&format!("/containers/{}/start", escape(id)))
        .map(drop)
}

fn inspect(client: &Client, name: &str) -> anyhow::Result<ContainerInspect> {
    client.get_json(&format!("/containers/{}/json", escape(name)))
}

fn detach_keys(flag: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match flag {
        None => Ok(detach::DEFAULT.to_vec()),
        Some(text) => detach::parse(text).map_err(anyhow::Error::msg),
    }
}

/// Sends the terminal's size to the container's (or the exec's) pty.
fn resize(client: &Client, id: &str, exec: Option<&str>) {
    let Some((rows, cols)) = terminal::window_size() else {
        return;
    };
    let path = match exec {
        Some(exec) => format!("/exec/{exec}/resize?h={rows}&w={cols}"),
        None => format!("/containers/{}/resize?h={rows}&w={cols}", escape(id)),
    };
    // A container that has already exited has no terminal to resize.
    let _ = client.send("POST", &path, None);
}

// ANCHOR: watch
/// SIGWINCH resizes; with `proxy`, the user's signals go to the container
/// (`POST /containers/ID/kill?signal=N`), as `--sig-proxy` does.
fn watch(client: &Client, id: &str, exec: Option<&str>, proxy: bool) {
    let client = Client::clone(client);
    let (id, exec) = (id.to_string(), exec.map(str::to_string));
    terminal::watch_signals(proxy, move |signal| {
        if signal == nix::sys::signal::Signal::SIGWINCH {
            resize(&client, &id, exec.as_deref());
        } else {
            let path = format!("/containers/{}/kill?signal={}", escape(&id), signal as i32);
            let _ = client.send("POST", &path, None);
        }
    });
}
// ANCHOR_END: watch

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The daemon closed the stream: the process's output is all out.
    Output,
    /// The user typed the detach keys.
    Detached,
}

// ANCHOR: pump
/// Joins the terminal to a hijacked stream: stdin to the container (raw
/// keystrokes, watched for the detach keys), its output to ours — raw
/// bytes with a terminal, 8-byte frames without (engine-api.md §4.3).
fn pump(stream: Hijacked, stdin: bool, tty: bool, keys: Vec<u8>) -> anyhow::Result<Ended> {
    let Hijacked { reader, writer } = stream;
    let raw_mode = if tty && stdin {
        RawMode::enter()?
    } else {
        None
    };
    let detached = Arc::new(AtomicBool::new(false));
    if stdin {
        let detached = Arc::clone(&detached);
        std::thread::spawn(move || copy_input(writer, tty.then_some(keys), &detached));
    } else {
        // No input: "no more stdin" at once; the output still comes.
        let _ = writer.shutdown(Shutdown::Write);
    }
    let mut reader = reader;
    let result = if tty {
        copy_raw(&mut reader, &mut std::io::stdout())
    } else {
        stdcopy::demultiplex(&mut reader, &mut std::io::stdout(), &mut std::io::stderr()).map(drop)
    };
    drop(raw_mode);
    if detached.load(Ordering::SeqCst) {
        return Ok(Ended::Detached);
    }
    result.context("reading the container's output")?;
    Ok(Ended::Output)
}
// ANCHOR_END: pump

// ANCHOR: copy_input
/// Our stdin to the container until EOF (then half-close: "no more
/// input") or, with a terminal, until the detach keys (then close all).
fn copy_input(mut to: Connection, keys: Option<Vec<u8>>, detached: &AtomicBool) {
    let mut scanner = keys.map(Scanner::new);
    let mut buffer = [0u8; 4096];
    let mut stdin = std::io::stdin().lock();
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let scanned = match scanner.as_mut() {
            Some(scanner) => scanner.feed(&buffer[..n]),
            None => Scanned::Forward(buffer[..n].to_vec()),
        };
        match scanned {
            Scanned::Forward(bytes) => {
                if to.write_all(&bytes).is_err() {
                    return;
                }
            }
            Scanned::Detach(before) => {
                let _ = to.write_all(&before);
                detached.store(true, Ordering::SeqCst);
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
// ANCHOR_END: copy_input

fn copy_raw(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buffer = [0u8; 32 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                to.write_all(&buffer[..n])?;
                to.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
