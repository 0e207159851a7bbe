//! `minidocker events`: the daemon's events as they happen, one line each,
//! as docker prints them — `TIME TYPE ACTION ID (key=value, …)` — or
//! through `--format`. (docker/cli: `cli/command/system/events.go`.)

use std::io::{BufRead, BufReader, Write};

use anyhow::Context;
use api::http::Client;
use clap::Args;
use serde_json::Value;

use super::containers::{filters, unix_time};
use super::escape;
use super::template::Template;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show events created since a timestamp (Unix seconds, RFC 3339, or 10m ago).
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output (type=container, event=die, container=NAME, image=…, label=k=v).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template ('{{json .}}' for the whole event).
    #[arg(long)]
    pub format: Option<String>,
}

pub fn events(client: &Client, args: EventsArgs) -> anyhow::Result<i32> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let mut query = vec![format!(
        "filters={}",
        escape(&filters(&args.filter)?.to_string())
    )];
    for (name, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(value) = value {
            query.push(format!("{name}={}", unix_time(value)?));
        }
    }
    let response = client
        .send("GET", &format!("/events?{}", query.join("&")), None)?
        .check()?;
    let mut stdout = std::io::stdout();
    for line in BufReader::new(response).lines() {
        let event: Value =
            serde_json::from_str(&line.context("reading the events")?).context("an odd event")?;
        let text = match &template {
            Some(template) => template.render(&event)?,
            None => plain(&event),
        };
        writeln!(stdout, "{text}")?;
        stdout.flush()?;
    }
    Ok(0)
}

/// docker's line: the time in nanoseconds, the type, the action, the
/// actor's ID and its attributes in key order.
fn plain(event: &Value) -> String {
    let nanos = event["timeNano"].as_i64().unwrap_or_default();
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    let attributes: Vec<String> = event["Actor"]["Attributes"]
        .as_object()
        .map(|a| {
            a.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{} {} {} {} ({})",
        api::timefmt::rfc3339_nanos(time),
        event["Type"].as_str().unwrap_or_default(),
        event["Action"].as_str().unwrap_or_default(),
        event["Actor"]["ID"].as_str().unwrap_or_default(),
        attributes.join(", ")
    )
}
