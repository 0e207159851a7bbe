//! The container verbs that do not attach: `ps`, `stop`, `kill`, `rm`,
//! `logs`, `inspect`, `top`, `pause`, `rename`, `update`, `wait`. Each is
//! one or two Engine API calls; what is docker's here is the output: the
//! `ps` table, `--format` templates, `-q`, and one line per failure with
//! exit status 1 after doing what could be done.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use api::http::Client;
use api::stdcopy;
use api::timefmt;
use api::types::{ContainerInspect, ContainerSummary, WaitResponse};
use clap::Args;
use serde_json::{Map, Value, json};

use api::table::human_size;

use super::options::{ResourceFlags, restart_policy};
use super::template::{self, Template};
use super::{escape, for_each, report};

#[derive(Args, Debug)]
pub struct Names {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last")]
    pub last: Option<i64>,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    pub latest: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    pub size: bool,
    /// Filter output based on conditions provided (status=exited, name=web, label=k=v).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template ('table', 'json', or a template).
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        allow_negative_numbers = true
    )]
    pub timeout: Option<i64>,
    /// Signal to send to the container.
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs.
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only container or image.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// ps options (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceFlags,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `docker ps`'s columns, by template field.
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

// ANCHOR: ps
/// `docker ps`: one row per container, as docker's formatter context
/// presents it (every field a string), through the table or the template.
pub fn ps(client: &Client, args: PsArgs) -> anyhow::Result<i32> {
    let mut query = vec![format!("all={}", args.all as u8)];
    if let Some(n) = args.last.or(args.latest.then_some(1)) {
        query.push(format!("limit={n}"));
    }
    if args.size {
        query.push("size=1".into());
    }
    if !args.filter.is_empty() {
        query.push(format!(
            "filters={}",
            escape(&filters(&args.filter)?.to_string())
        ));
    }
    let rows: Vec<Value> = client.get_json(&format!("/containers/json?{}", query.join("&")))?;
    let format = match (&args.format, args.quiet) {
        (Some(format), _) if format != "table" => format.clone(),
        (_, true) => "{{.ID}}".into(),
        _ if args.size => format!("{PS_TABLE}\\t{{{{.Size}}}}"),
        _ => PS_TABLE.into(),
    };
    let items = rows
        .into_iter()
        .map(|row| ps_row(row, !args.no_trunc))
        .collect::<anyhow::Result<Vec<Value>>>()?;
    print!("{}", template::format_list(&format, &items, PS_HEADERS)?);
    Ok(0)
}
// ANCHOR_END: ps

const PS_TABLE: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}";

/// One container as docker's `ps` formatter shows it.
fn ps_row(value: Value, truncate: bool) -> anyhow::Result<Value> {
    // SizeRw is there only when asked for (`-s`).
    let size = value.get("SizeRw").and_then(Value::as_u64);
    let row: ContainerSummary =
        serde_json::from_value(value).context("the daemon sent an odd container list")?;
    let created = UNIX_EPOCH + Duration::from_secs(row.created.max(0) as u64);
    let mut command = row.command.clone();
    let mut id = row.id.clone();
    if truncate {
        id.truncate(12);
        command = ellipsis(&command, 20);
    }
    let labels: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let networks: Vec<&String> = row
        .network_settings
        .get("Networks")
        .and_then(Value::as_object)
        .map(|n| n.keys().collect())
        .unwrap_or_default();
    // ANCHOR: ps_row
    Ok(json!({
        "ID": id,
        "Image": row.image,
        "Command": go_quote(&command),
        "CreatedAt": go_time(created),
        "RunningFor": format!("{} ago", timefmt::human_duration(created.elapsed().unwrap_or_default())),
        "Ports": "",
        "State": row.state,
        "Status": row.status,
        "Size": human_size(size.unwrap_or(0)),
        "Names": row.names.iter().map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
        "Labels": labels.join(","),
        "Mounts": "",
        "Networks": networks.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        "LocalVolumes": "0",
        // docker 28 shows the image platform; the engine keeps none.
        "Platform": null,
    }))
    // ANCHOR_END: ps_row
}

/// docker's `-f key=value` flags as the API's filters JSON: `{"key": {"value": true}}`.
pub fn filters(items: &[String]) -> anyhow::Result<Value> {
    let mut map = Map::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            bail!("bad format of filter {item:?}: use KEY=VALUE, e.g. status=exited");
        };
        let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
        entry[value] = json!(true);
    }
    Ok(Value::Object(map))
}

/// Go's `strconv.Quote`: double quotes, `"` and `\` escaped, control
/// characters as escapes.
pub fn go_quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `Ellipsis`: at most `width` characters, the last one `…`.
pub fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    kept + "…"
}

/// Go's default time format, in UTC: `2026-12-07 21:16:57 +0000 UTC`.
pub fn go_time(t: SystemTime) -> String {
    let text = timefmt::rfc3339_nanos(t);
    format!("{} {} +0000 UTC", &text[..10], &text[11..19])
}

pub fn stop(client: &Client, args: StopArgs, verb: &str) -> anyhow::Result<i32> {
    let mut query = Vec::new();
    if let Some(t) = args.timeout {
        query.push(format!("t={t}"));
    }
    if let Some(s) = &args.signal {
        query.push(format!("signal={}", escape(s)));
    }
    Ok(for_each(&args.containers, |c| {
        client
            .post(&format!(
                "/containers/{}/{verb}?{}",
                escape(c),
                query.join("&")
            ))
            .map(drop)
    }))
}

pub fn kill(client: &Client, args: KillArgs) -> anyhow::Result<i32> {
    let signal = args.signal.as_deref().unwrap_or("KILL");
    Ok(for_each(&args.containers, |c| {
        client
            .post(&format!(
                "/containers/{}/kill?signal={}",
                escape(c),
                escape(signal)
            ))
            .map(drop)
    }))
}

pub fn rm(client: &Client, args: RmArgs) -> anyhow::Result<i32> {
    Ok(for_each(&args.containers, |c| {
        let path = format!(
            "/containers/{}?force={}&v={}",
            escape(c),
            args.force as u8,
            args.volumes as u8
        );
        client.send("DELETE", &path, None)?.check().map(drop)
    }))
}

/// `pause`, `unpause`: one POST each.
pub fn each(client: &Client, containers: &[String], verb: &str) -> anyhow::Result<i32> {
    Ok(for_each(containers, |c| {
        client
            .post(&format!("/containers/{}/{verb}", escape(c)))
            .map(drop)
    }))
}

pub fn rename(client: &Client, args: RenameArgs) -> anyhow::Result<i32> {
    client.post(&format!(
        "/containers/{}/rename?name={}",
        escape(&args.container),
        escape(&args.new_name)
    ))?;
    Ok(0)
}

/// `docker wait`: each container's exit code on its own line.
pub fn wait(client: &Client, args: Names) -> anyhow::Result<i32> {
    let mut status = 0;
    for c in &args.containers {
        match client
            .send("POST", &format!("/containers/{}/wait", escape(c)), None)
            .and_then(|r| r.json::<WaitResponse>())
        {
            Ok(w) => println!("{}", w.status_code),
            Err(e) => {
                report(&e);
                status = 1;
            }
        }
    }
    Ok(status)
}

/// `docker logs`: framed or raw as the container's `Config.Tty` says.
pub fn logs(client: &Client, args: LogsArgs) -> anyhow::Result<i32> {
    let inspect: ContainerInspect =
        client.get_json(&format!("/containers/{}/json", escape(&args.container)))?;
    let mut query = format!(
        "stdout=1&stderr=1&follow={}&timestamps={}&tail={}",
        args.follow as u8,
        args.timestamps as u8,
        escape(args.tail.as_deref().unwrap_or("all"))
    );
    for (name, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(value) = value {
            query.push_str(&format!("&{name}={}", unix_time(value)?));
        }
    }
    let mut stream = client
        .send(
            "GET",
            &format!("/containers/{}/logs?{query}", inspect.id),
            None,
        )?
        .check()?;
    let mut stdout = std::io::stdout();
    if inspect.config.tty {
        std::io::copy(&mut stream, &mut stdout)?;
    } else {
        stdcopy::demultiplex(&mut stream, &mut stdout, &mut std::io::stderr())?;
    }
    stdout.flush()?;
    Ok(0)
}

/// `--since`/`--until`: Unix seconds, an RFC 3339 time, or a duration ago.
pub fn unix_time(text: &str) -> anyhow::Result<String> {
    if text.parse::<f64>().is_ok() {
        return Ok(text.to_string());
    }
    let time = match humantime::parse_duration(text) {
        Ok(ago) => SystemTime::now() - ago,
        Err(_) => humantime::parse_rfc3339_weak(text).with_context(|| {
            format!("invalid time {text:?}: use 2026-01-02T15:04:05Z, Unix seconds, or 10m")
        })?,
    };
    Ok(timefmt::unix_seconds(time).to_string())
}

/// `docker inspect`: containers first, then images, unless `--type`; the
/// JSON array (4-space indents, as Go's MarshalIndent) or `-f` per object.
pub fn inspect(client: &Client, args: InspectArgs) -> anyhow::Result<i32> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let kinds: &[&str] = match args.kind.as_deref() {
        None => &["containers", "images"],
        Some("container") => &["containers"],
        Some("image") => &["images"],
        Some(other) => bail!("{other:?} is not a valid value for --type: use container or image"),
    };
    // ANCHOR: inspect
    // The daemon's JSON as it sent it: docker prints the daemon's key
    // order, re-indented; its templates see the decoded object.
    let mut found: Vec<String> = Vec::new();
    let mut status = 0;
    for name in &args.names {
        let size = if args.size { "?size=1" } else { "" };
        let object = kinds.iter().find_map(|kind| {
            let path = format!("/{kind}/{}/json{size}", escape(name));
            let mut response = client.send("GET", &path, None).ok()?.check().ok()?;
            let mut text = String::new();
            response.read_to_string(&mut text).ok()?;
            Some(text)
        });
        match object {
            Some(object) => found.push(object),
            None => {
                eprintln!("Error: No such object: {name}");
                status = 1;
            }
        }
    }
    // ANCHOR_END: inspect
    let mut out = std::io::stdout().lock();
    match template {
        Some(template) => {
            for object in &found {
                let value: Value = serde_json::from_str(object)
                    .context("the daemon's inspect answer is not JSON")?;
                writeln!(out, "{}", template.render(&value)?)?;
            }
        }
        None => writeln!(out, "{}", indent_json(&format!("[{}]", found.join(","))))?,
    }
    Ok(status)
}

/// Go's `json.Indent` with four spaces: the text's own order and escapes
/// kept, a line per member, `[]` and `{}` left empty.
fn indent_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(chars.next().unwrap_or(close));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

pub fn top(client: &Client, args: TopArgs) -> anyhow::Result<i32> {
    let ps_args = if args.ps_args.is_empty() {
        String::new()
    } else {
        format!("?ps_args={}", escape(&args.ps_args.join(" ")))
    };
    let top: Value = client.get_json(&format!(
        "/containers/{}/top{ps_args}",
        escape(&args.container)
    ))?;
    let cells = |row: &Value| -> String {
        row.as_array()
            .map(|r| {
                r.iter()
                    .map(|c| c.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .join("\t")
    };
    let mut text = cells(&top["Titles"]) + "\n";
    for process in top["Processes"].as_array().into_iter().flatten() {
        text.push_str(&cells(process));
        text.push('\n');
    }
    // docker top's tabwriter: cells at least 20 wide.
    print!("{}", template::tabwrite_min(&text, 20));
    Ok(0)
}

pub fn update(client: &Client, args: UpdateArgs) -> anyhow::Result<i32> {
    let mut body = args.resources.host_config()?;
    if let Some(restart) = &args.restart {
        body.insert("RestartPolicy".into(), restart_policy(Some(restart))?);
    }
    let body = Value::Object(body);
    Ok(for_each(&args.containers, |c| {
        let answer: Value =
            client.post_json(&format!("/containers/{}/update", escape(c)), &body)?;
        for warning in answer["Warnings"].as_array().into_iter().flatten() {
            eprintln!("WARNING: {}", warning.as_str().unwrap_or_default());
        }
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_cut_then_quoted_as_docker_ps_shows_them() {
        let cut = ellipsis("sh -c trap \"echo got TERM; exit 0\" TERM", 20);
        assert_eq!(go_quote(&cut), r#""sh -c trap \"echo go…""#);
        assert_eq!(ellipsis("true", 20), "true");
        assert_eq!(go_quote("a\tb"), r#""a\tb""#);
    }

    #[test]
    fn json_is_indented_as_go_indents_it_keeping_its_order() {
        assert_eq!(
            indent_json(r#"[{"b":1,"a":[],"c":{"x":"q\"{,"},"d":[1,2]}]"#),
            "[\n    {\n        \"b\": 1,\n        \"a\": [],\n        \"c\": {\n            \"x\": \"q\\\"{,\"\n        },\n        \"d\": [\n            1,\n            2\n        ]\n    }\n]"
        );
        assert_eq!(indent_json("[]"), "[]");
    }

    #[test]
    fn filters_become_the_apis_json() {
        let f = filters(&[
            "status=exited".into(),
            "status=created".into(),
            "name=web".into(),
        ])
        .unwrap();
        assert_eq!(
            f,
            json!({"status": {"exited": true, "created": true}, "name": {"web": true}})
        );
        assert!(filters(&["exited".into()]).is_err());
    }

    #[test]
    fn times_are_gos_default_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_677_017);
        assert_eq!(go_time(t), "2026-12-07 20:56:57 +0000 UTC");
    }
}
