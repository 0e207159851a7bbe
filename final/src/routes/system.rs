//! `/_ping`, `/version`, `/info`, `/events`, and BuildKit's routes, which
//! answer with the way to the classic builder (`/build`, in `routes/build.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;

use api::ApiError;
use api::containers::Status;
use api::http::{Request, Response, Router};
use api::version::{API_VERSION, MIN_API_VERSION};
use serde_json::json;

use super::containers::route;
use crate::daemon::Daemon;
use crate::daemon::events::{self, Event};

/// What the daemon calls itself in `docker version` and `docker info`.
pub const PLATFORM_NAME: &str = "minidocker engine";

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    router.add("GET", "/_ping", |_| {
        Ok(Response::text(200, "text/plain; charset=utf-8", "OK")
            .header("Cache-Control", "no-cache, no-store, must-revalidate")
            .header("Pragma", "no-cache")
            .header("Builder-Version", "1")
            .header("Swarm", "inactive"))
    });
    route!(router, daemon, "GET", "/version", version);
    route!(router, daemon, "GET", "/info", info);
    route!(router, daemon, "GET", "/events", events);
    // BuildKit: the docker CLI calls these instead of /build where buildx
    // is installed (Docker's own packages, Ubuntu's docker-buildx).
    for path in ["/session", "/grpc"] {
        router.add("POST", path, |_| {
            Err(ApiError::bad_request(
                "minidockerd has the classic builder only, not BuildKit: build with \
                 DOCKER_BUILDKIT=0 docker build … (or minidocker build)",
            ))
        });
    }
}

fn uname_field(f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr) -> String {
    nix::sys::utsname::uname()
        .map(|u| f(&u).to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Docker names architectures as Go does.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The runtime's own `--version` line (runc prints "runc version 1.1.5").
fn runtime_version(binary: &std::path::Path) -> String {
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn version(d: &Arc<Daemon>, _req: &mut Request) -> Result<Response, ApiError> {
    let kernel = uname_field(|u| u.release());
    let engine = env!("CARGO_PKG_VERSION");
    let runtime = d.config.runtime(&d.config.default_runtime)?;
    Ok(Response::json(
        200,
        &json!({
            "Platform": {"Name": PLATFORM_NAME},
            "Components": [
                {"Name": "Engine", "Version": engine, "Details": {
                    "ApiVersion": API_VERSION.to_string(),
                    "MinAPIVersion": MIN_API_VERSION.to_string(),
                    "Os": "linux", "Arch": docker_arch(), "KernelVersion": kernel,
                    "GitCommit": "workshop", "GoVersion": "none (Rust)", "Experimental": "false",
                    "BuildTime": "",
                }},
                {"Name": d.config.default_runtime, "Version": runtime_version(runtime),
                 "Details": {"Path": runtime.display().to_string()}},
                {"Name": "minishim", "Version": engine,
                 "Details": {"Path": d.config.shim.display().to_string()}},
            ],
            "Version": engine,
            "ApiVersion": API_VERSION.to_string(),
            "MinAPIVersion": MIN_API_VERSION.to_string(),
            "GitCommit": "workshop",
            "GoVersion": "none (Rust)",
            "Os": "linux",
            "Arch": docker_arch(),
            "KernelVersion": kernel,
            "BuildTime": "",
        }),
    ))
}

/// cgroup v2 when the unified hierarchy is at /sys/fs/cgroup itself.
fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

/// What `docker info` says about the daemon's own stop and crash.
fn lifecycle_warnings(d: &Daemon) -> Vec<&'static str> {
    if d.config.live_restore {
        return Vec::new();
    }
    vec![
        "WARNING: live restore is off: a clean stop of minidockerd stops its containers first. \
         After a crash they keep running and the next daemon reattaches to them (dockerd would \
         stop them)",
    ]
}

fn info(d: &Arc<Daemon>, _req: &mut Request) -> Result<Response, ApiError> {
    let states: Vec<Status> = d.containers().iter().map(|c| c.state().status()).collect();
    let count = |s: Status| states.iter().filter(|x| **x == s).count();
    let runtimes: BTreeMap<&String, serde_json::Value> = d
        .config
        .runtimes
        .iter()
        .map(|(name, path)| (name, json!({"path": path})))
        .collect();
    Ok(Response::json(
        200,
        &json!({
            "ID": "minidocker",
            "Containers": states.len(),
            "ContainersRunning": count(Status::Running),
            "ContainersPaused": count(Status::Paused),
            "ContainersStopped": count(Status::Exited) + count(Status::Created),
            "Images": d.store.images()?.len(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "overlayfs snapshots (chapter 02)"]],
            "Plugins": {"Volume": [], "Network": ["host", "null"], "Log": ["json-file"]},
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": ""},
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version(),
            "Runtimes": runtimes,
            "DefaultRuntime": d.config.default_runtime,
            "KernelVersion": uname_field(|u| u.release()),
            "OperatingSystem": operating_system(),
            "OSType": "linux",
            "Architecture": uname_field(|u| u.machine()),
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem_total(),
            "Name": uname_field(|u| u.nodename()),
            "DockerRootDir": d.config.data_root,
            "LoggingDriver": "json-file",
            "LiveRestoreEnabled": d.config.live_restore,
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}},
            "Warnings": lifecycle_warnings(d),
        }),
    ))
}

// ANCHOR: events
/// `docker events`: the kept events since `since`, then the new ones as
/// they happen, until `until` or until the client goes; one JSON object a
/// line. (An `until` in the past: the kept ones, and the end.)
fn events(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let since = events::parse_time(req.query("since"), "since")?;
    let until = events::parse_time(req.query("until"), "until")?;
    let filters = api::query::parse_filters(req.query("filters"))?;
    events::check_filters(&filters)?;
    let (past, live) = d.events.subscribe(since);
    let d = Arc::clone(d);
    Ok(Response::stream(200, "application/json", move |out| {
        let before_until = |e: &Event| until.is_none_or(|until| e.time_nano <= until);
        let mut send = |e: &Event| -> std::io::Result<()> {
            if events::matches(&filters, e) {
                out.write_all((serde_json::to_string(e)? + "\n").as_bytes())?;
                out.flush()?;
            }
            Ok(())
        };
        for event in past.iter().take_while(|e| before_until(e)) {
            send(event)?;
        }
        loop {
            let now = events::now_nanos();
            let wait = match until {
                Some(until) if until <= now => return Ok(()),
                Some(until) => std::time::Duration::from_nanos((until - now) as u64),
                // Woken now and then to notice a daemon that stops.
                None => std::time::Duration::from_secs(1),
            };
            match live.recv_timeout(wait) {
                Ok(event) if before_until(&event) => send(&event)?,
                Ok(_) => return Ok(()),
                Err(RecvTimeoutError::Timeout) if d.is_shutting_down() => return Ok(()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }))
}
// ANCHOR_END: events
