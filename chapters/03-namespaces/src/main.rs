//! `ch03`: run a command as PID 1 of new namespaces, in an image's root
//! filesystem or a directory — a container without cgroups yet.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use images::store::WORKSHOP_ROOT;
use namespaces::cli::{self, NoParentSteps, RunArgs};
use namespaces::container::ContainerError;
use namespaces::propagation;

#[derive(Parser, Debug)]
#[command(
    name = "ch03",
    version,
    about = "Chapter 03: namespaces — a process that sees its own world"
)]
struct Cli {
    /// The image store's root directory (chapter 02), also where runs keep
    /// their files.
    #[arg(long, global = true, default_value = WORKSHOP_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run CMD as PID 1 of new PID, mount, UTS, IPC, network and cgroup namespaces.
    Run(Box<RunArgs>),
    /// Show a mount leaking to a (throw-away) host without MS_PRIVATE, and the fix.
    PropagationDemo,
}

fn main() {
    let cli: Cli = api::exit_code::parse_args();
    let code = match cli.command {
        Command::Run(args) => match cli::run(&cli.root, *args, &mut NoParentSteps) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("ch03: {e:#}");
                // 125, as `docker run` when the engine itself fails; a
                // command that cannot start gets 126 or 127.
                e.downcast_ref::<ContainerError>()
                    .map_or(125, |e| e.exit_code)
            }
        },
        Command::PropagationDemo => match propagation_demo(&cli.root) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("ch03: {e:#}");
                1
            }
        },
    };
    std::process::exit(code);
}

// ANCHOR: propagation_demo
fn propagation_demo(root: &Path) -> anyhow::Result<()> {
    let dir = root
        .join("ch03")
        .join(format!("propagation-{}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let before = fs::read_to_string("/proc/self/mountinfo")?;
    let result = (|| -> anyhow::Result<()> {
        for (make_private, how) in [
            (false, "without MS_PRIVATE"),
            (true, "with MS_PRIVATE|MS_REC first"),
        ] {
            let outcome = propagation::demonstrate(&dir, make_private)?;
            let verdict = match outcome {
                propagation::Outcome::Leaked => "the host namespace sees it: LEAKED",
                propagation::Outcome::Contained => "the host namespace does not see it: contained",
            };
            println!(
                "{how:<30} container mounts a tmpfs on {}: {verdict}",
                dir.display()
            );
        }
        Ok(())
    })();
    let after = fs::read_to_string("/proc/self/mountinfo")?;
    let _ = fs::remove_dir(&dir);
    result?;
    // What the demonstration could leak: its tmpfs, or the "host's" shared
    // `/` (the root's line carries its propagation). Other mounts may come
    // and go meanwhile (other containers): they are not compared.
    let root_line = |table: &str| {
        let line = table.lines().find(|l| l.split(' ').nth(4) == Some("/"));
        line.map(str::to_string)
    };
    if propagation::has_mount(&after, &dir) || root_line(&before) != root_line(&after) {
        bail!("this namespace's mount table changed: the demonstration leaked for real");
    }
    println!(
        "this (real) host's mount table: unchanged — the shared \"host\" was a throw-away namespace"
    );
    Ok(())
}
// ANCHOR_END: propagation_demo
