//! `version` and `info`: what the client and the daemon say about
//! themselves, as docker lays it out, or through `--format`.

use api::http::Client;
use api::table::human_size;
use clap::Args;
use serde_json::{Value, json};

use super::template::Template;

#[derive(Args, Debug)]
pub struct FormatArg {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Prints `data` through the user's template; `false` if there was none.
fn formatted(format: &Option<String>, data: &Value) -> anyhow::Result<bool> {
    let Some(format) = format else {
        return Ok(false);
    };
    println!("{}", Template::parse(format)?.render(data)?);
    Ok(true)
}

pub fn version(client: &Client, args: FormatArg) -> anyhow::Result<i32> {
    let server: Value = client.get_json("/version")?;
    let data = json!({
        "Client": {
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": client.version().to_string(),
            "Os": std::env::consts::OS,
            "Arch": std::env::consts::ARCH,
            "Host": client.host().to_string(),
        },
        "Server": server,
    });
    if formatted(&args.format, &data)? {
        return Ok(0);
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let client_info = &data["Client"];
    println!("Client:");
    println!(" Version:           {}", text(&client_info["Version"]));
    println!(" API version:       {}", text(&client_info["ApiVersion"]));
    println!(
        " OS/Arch:           {}/{}",
        text(&client_info["Os"]),
        text(&client_info["Arch"])
    );
    println!(" Host:              {}", text(&client_info["Host"]));
    println!();
    println!("Server: {}", text(&server["Platform"]["Name"]));
    for component in server["Components"].as_array().into_iter().flatten() {
        println!(" {}:", text(&component["Name"]));
        println!("  Version:          {}", text(&component["Version"]));
        let details = &component["Details"];
        for (key, label) in [
            ("ApiVersion", "API version"),
            ("Os", "OS"),
            ("Arch", "Arch"),
            ("KernelVersion", "Kernel"),
            ("GitCommit", "Git commit"),
        ] {
            if let Some(value) = details[key].as_str() {
                let shown = if key == "ApiVersion" {
                    format!(
                        "{value} (minimum version {})",
                        text(&details["MinAPIVersion"])
                    )
                } else {
                    value.to_string()
                };
                println!("  {:<17} {shown}", format!("{label}:"));
            }
        }
    }
    Ok(0)
}

pub fn info(client: &Client, args: FormatArg) -> anyhow::Result<i32> {
    let info: Value = client.get_json("/info")?;
    if formatted(&args.format, &info)? {
        return Ok(0);
    }
    let text = |key: &str| match &info[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    println!("Server:");
    println!(" Containers: {}", text("Containers"));
    println!("  Running: {}", text("ContainersRunning"));
    println!("  Paused: {}", text("ContainersPaused"));
    println!("  Stopped: {}", text("ContainersStopped"));
    println!(" Images: {}", text("Images"));
    println!(" Server Version: {}", text("ServerVersion"));
    println!(" Storage Driver: {}", text("Driver"));
    println!(" Logging Driver: {}", text("LoggingDriver"));
    println!(" Cgroup Driver: {}", text("CgroupDriver"));
    println!(" Cgroup Version: {}", text("CgroupVersion"));
    let runtimes: Vec<&String> = info["Runtimes"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    println!(
        " Runtimes: {}",
        runtimes
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(" Default Runtime: {}", text("DefaultRuntime"));
    println!(" Kernel Version: {}", text("KernelVersion"));
    println!(" Operating System: {}", text("OperatingSystem"));
    println!(" Architecture: {}", text("Architecture"));
    println!(" CPUs: {}", text("NCPU"));
    println!(
        " Total Memory: {}",
        human_size(info["MemTotal"].as_u64().unwrap_or(0))
    );
    println!(" Name: {}", text("Name"));
    println!(" Docker Root Dir: {}", text("DockerRootDir"));
    println!(" Live Restore Enabled: {}", text("LiveRestoreEnabled"));
    for warning in info["Warnings"].as_array().into_iter().flatten() {
        eprintln!("WARNING: {}", warning.as_str().unwrap_or_default());
    }
    Ok(0)
}
