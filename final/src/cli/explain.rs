//! `minidocker run --explain` and `minidocker explain CONTAINER`: the
//! trace of a container's run, every layer's steps with their real times
//! (see `crate::explain` and chapter 01's `api::trace`).
//!
//! `run --explain` adds its own steps: laps of its run, from its first
//! instruction to its exit, each request one of them (chapter 01's
//! client times them), so its lines add up to the run's whole time. The
//! daemon's, the shim's and the runtime's steps come from the daemon
//! (`GET /containers/ID/explain`) and fall inside the request that caused
//! them, indented below it. The times compare because every process reads
//! the same machine's `CLOCK_MONOTONIC`: with a daemon on another host
//! (`-H tcp://…`), the daemon's lines keep their own order and durations,
//! but not their place among minidocker's.

use std::sync::Arc;

use anyhow::Context;
use api::http::Client;
use api::trace::{Laps, Layer, Step};
use clap::Args;

use super::escape;
use crate::daemon::explain::Explained;
use crate::explain::{heading, millis, render};

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The container (traced: run with --explain, or under minidockerd --explain).
    pub container: String,
}

/// `minidocker explain CONTAINER`: a trace after the fact.
pub fn explain(client: &Client, args: ExplainArgs) -> anyhow::Result<i32> {
    let trace = fetch(client, &args.container)?;
    let origin = trace.steps.first().map_or(0, |s| s.at);
    println!("{}", heading());
    for line in render(&trace.steps, origin) {
        println!("{line}");
    }
    Ok(0)
}

fn fetch(client: &Client, container: &str) -> anyhow::Result<Explained> {
    client
        .get_json(&format!("/containers/{}/explain", escape(container)))
        .with_context(|| format!("reading the trace of {container}"))
}

/// The line between what the start did and the rest.
pub const RUNS: &str = "… the container runs: the rest once it has ended";

/// The trace of a `run --explain`, printed on stderr as it happens: the
/// steps up to the start's answer once the container runs, the rest when
/// it has ended.
pub struct Live {
    laps: Arc<Laps>,
    origin: u64,
    printed: Vec<Step>,
}

impl Live {
    pub fn new(laps: Arc<Laps>) -> Live {
        let origin = laps.steps().first().map_or(0, |s| s.at);
        eprintln!("{}", heading());
        Live {
            laps,
            origin,
            printed: Vec::new(),
        }
    }

    /// Prints the steps not printed yet that ended by `until` (all of
    /// them without): ours and the daemon's, in order of time.
    pub fn print(&mut self, client: &Client, id: &str, until: Option<u64>) -> anyhow::Result<()> {
        let mut steps = fetch(client, id)?.steps;
        steps.extend(self.laps.steps());
        api::trace::sort(&mut steps);
        let new: Vec<Step> = steps
            .into_iter()
            .filter(|s| until.is_none_or(|until| s.at + s.took <= until))
            .filter(|s| !self.printed.contains(s))
            .collect();
        for line in render(&new, self.origin) {
            eprintln!("{line}");
        }
        self.printed.extend(new);
        Ok(())
    }

    /// What the start did: the steps that ended by its answer, the last
    /// request so far. The rest comes once the container has ended.
    pub fn print_start(&mut self, client: &Client, id: &str) -> anyhow::Result<()> {
        let started = self
            .laps
            .steps()
            .last()
            .map_or(self.origin, |s| s.at + s.took);
        self.print(client, id, Some(started))?;
        eprintln!("{:>18}  {RUNS}", "");
        Ok(())
    }

    /// A lap of ours that is not a request.
    pub fn lap(&self, what: String) {
        self.laps.lap(
            "ch01-client-server.md#wait-the-head-now-the-body-later",
            what,
        );
    }

    /// Our last lap, and the whole run's time.
    pub fn finish(self, what: String) {
        self.laps.lap("cli.md", what);
        let laps = self.laps.steps();
        let last = laps.last().expect("a lap was just made");
        for line in render(std::slice::from_ref(last), self.origin) {
            eprintln!("{line}");
        }
        let total: u64 = laps.iter().map(|s| s.took).sum();
        eprintln!(
            "{:>9} {:>8}  end to end, as minidocker measured it: the sum of its {} lines",
            "",
            millis(total),
            laps.len()
        );
    }
}

/// The first lap: from minidocker's first instruction to its first request.
pub fn starting(started: u64, host: &str) -> Arc<Laps> {
    let laps = Arc::new(Laps::new(Layer::Minidocker, started));
    laps.lap(
        "cli.md",
        format!("starts: parses its command line; the daemon is at {host}"),
    );
    laps
}
