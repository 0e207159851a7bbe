//! The chapter 01 daemon: the Engine API served for "containers" that are
//! plain host processes. Every route the docker CLI needs for `run`, `ps`,
//! `logs`, `stop`, `kill` and `rm` is real; only the isolation is missing.

pub mod cli;
pub mod container;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;

use crate::containers::{
    self, ListQuery, Listed, LogEntry, Status, WaitCondition, stream_media_type, write_log_entry,
};
use crate::error::ApiError;
use crate::http::{Hijacked, Request, Response, Router, Server};
use crate::stdcopy::StreamType;
use crate::types::*;
use crate::version::{API_VERSION, MIN_API_VERSION};
use crate::{signal, timefmt};
use container::{Container, Started};

/// What the daemon calls itself in `docker version`.
pub const PLATFORM_NAME: &str = "minidocker chapter 01 (host processes, no isolation)";

#[derive(Default)]
pub struct Daemon {
    containers: Mutex<Vec<Arc<Container>>>,
}

impl Daemon {
    fn table(&self) -> MutexGuard<'_, Vec<Arc<Container>>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn resolve(&self, reference: &str) -> Result<Arc<Container>, ApiError> {
        let table = self.table();
        let candidates = table
            .iter()
            .map(|c| (c.id.clone(), c.name.clone(), Arc::clone(c)));
        containers::resolve(reference, candidates.collect())
    }

    fn create(
        &self,
        name: Option<&str>,
        request: ContainerCreateRequest,
    ) -> Result<Arc<Container>, ApiError> {
        let mut config = request.config;
        if !config.user.trim().is_empty() {
            return Err(ApiError::bad_request(
                "--user is not supported by the chapter 01 daemon: containers are plain host processes \
                 (chapter 03 adds users and namespaces)",
            ));
        }
        if config.cmd.as_ref().is_none_or(Vec::is_empty)
            && config.entrypoint.as_ref().is_none_or(Vec::is_empty)
        {
            return Err(ApiError::bad_request("no command specified"));
        }
        let id = crate::names::random_id()?;
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        let mut env = vec![DEFAULT_PATH.to_string()];
        env.extend(
            config
                .env
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| !e.starts_with("PATH=")),
        );
        config.env = Some(env);
        if config.labels.is_none() {
            config.labels = Some(BTreeMap::new());
        }

        let mut table = self.table();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(wanted) => {
                let wanted = crate::names::validate_name(wanted).map_err(ApiError::bad_request)?;
                if let Some(holder) = table.iter().find(|c| c.name == wanted) {
                    return Err(ApiError::conflict(format!(
                        "Conflict. The container name \"/{wanted}\" is already in use by container \"{}\". \
                         You have to remove (or rename) that container to be able to reuse that name.",
                        holder.id
                    )));
                }
                wanted
            }
            None => (0..)
                .map(|attempt| crate::names::generated_name(&id, attempt))
                .find(|n| table.iter().all(|c| &c.name != n))
                .unwrap_or_default(),
        };
        let container = Arc::new(Container::new(
            id,
            name,
            config,
            request.host_config.with_defaults(),
        ));
        table.push(Arc::clone(&container));
        Ok(container)
    }

    // ANCHOR: daemon_start
    /// Starts a container. With `--rm` (AutoRemove) the daemon removes it
    /// once it exits — and also when it fails to start, or
    /// `docker run --rm badcmd` would wait for ever on `condition=removed`.
    fn start(self: &Arc<Self>, container: &Arc<Container>) -> Result<Started, ApiError> {
        let daemon = Arc::clone(self);
        let exited = Arc::clone(container);
        let result = container.start(move || {
            if exited.host_config.auto_remove {
                daemon.remove_from_table(&exited);
            }
        });
        if result.is_err() && container.host_config.auto_remove {
            self.remove_from_table(container);
        }
        result
    }
    // ANCHOR_END: daemon_start

    fn remove_from_table(&self, container: &Arc<Container>) {
        self.table().retain(|c| !Arc::ptr_eq(c, container));
        container.mark_removed();
    }

    /// Sends the stop signal, waits up to `timeout`, then SIGKILL.
    fn stop(
        &self,
        container: &Container,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<bool, ApiError> {
        if container.state().status != Status::Running {
            return Ok(false);
        }
        let signal = signal
            .or(container.config.stop_signal.as_deref())
            .map(signal::parse)
            .transpose()
            .map_err(ApiError::bad_request)?
            .unwrap_or(nix::sys::signal::Signal::SIGTERM);
        let seconds = timeout.or(container.config.stop_timeout).unwrap_or(10);
        // It may exit between our check and the signal: that is a stop too.
        let _ = container.signal(signal);
        let grace = (seconds >= 0).then(|| Duration::from_secs(seconds as u64));
        if container.wait(WaitCondition::NotRunning, grace).is_none() {
            let _ = container.signal(nix::sys::signal::Signal::SIGKILL);
            container.wait(WaitCondition::NotRunning, None);
        }
        Ok(true)
    }

    /// Stops every running container: the daemon is shutting down.
    pub fn shutdown(&self) {
        let running: Vec<_> = self
            .table()
            .iter()
            .filter(|c| c.state().status == Status::Running)
            .cloned()
            .collect();
        for container in running {
            let _ = self.stop(&container, None, Some(2));
        }
    }
}

/// The server: the router with every route, and Docker's response headers.
pub fn server(daemon: Arc<Daemon>, trace: bool) -> Server {
    let mut router = Router::new();
    router.add("GET", "/_ping", |_| {
        Ok(Response::text(200, "text/plain; charset=utf-8", "OK")
            .header("Cache-Control", "no-cache, no-store, must-revalidate")
            .header("Pragma", "no-cache")
            .header("Swarm", "inactive"))
    });
    router.add("GET", "/version", |_| Ok(Response::json(200, &version())));
    let d = Arc::clone(&daemon);
    router.add("GET", "/info", move |_| Ok(Response::json(200, &info(&d))));
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/create", move |req| {
        let body = containers::create_request(req)?;
        let container = d.create(req.query("name"), body)?;
        Ok(Response::json(
            201,
            &ContainerCreateResponse {
                id: container.id.clone(),
                warnings: vec![],
            },
        ))
    });
    let d = Arc::clone(&daemon);
    router.add("GET", "/containers/json", move |req| list(&d, req));
    let d = Arc::clone(&daemon);
    router.add("GET", "/containers/{id}/json", move |req| {
        let container = d.resolve(req.param("id"))?;
        Ok(Response::json(200, &inspect(&container)))
    });
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/start", move |req| {
        let container = d.resolve(req.param("id"))?;
        match d.start(&container)? {
            Started::Now => Ok(Response::empty(204)),
            Started::AlreadyRunning => Ok(Response::empty(304)),
        }
    });
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/attach", move |req| {
        attach(&d, req)
    });
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/wait", move |req| wait(&d, req));
    let d = Arc::clone(&daemon);
    router.add("GET", "/containers/{id}/logs", move |req| logs(&d, req));
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/stop", move |req| {
        let container = d.resolve(req.param("id"))?;
        let timeout = req.query("t").map(|t| t.parse::<i64>()).transpose();
        let timeout =
            timeout.map_err(|_| ApiError::bad_request("invalid value for t: expected seconds"))?;
        let stopped = d.stop(&container, req.query("signal"), timeout)?;
        Ok(Response::empty(if stopped { 204 } else { 304 }))
    });
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/restart", move |req| {
        let container = d.resolve(req.param("id"))?;
        let timeout = req.query("t").and_then(|t| t.parse::<i64>().ok());
        d.stop(&container, req.query("signal"), timeout)?;
        d.start(&container)?;
        Ok(Response::empty(204))
    });
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/kill", move |req| {
        let container = d.resolve(req.param("id"))?;
        let sig =
            signal::parse(req.query("signal").unwrap_or("KILL")).map_err(ApiError::bad_request)?;
        container.signal(sig)?;
        Ok(Response::empty(204))
    });
    let d = Arc::clone(&daemon);
    router.add("POST", "/containers/{id}/resize", move |req| {
        // No terminal in chapter 01: accepted so the CLI's resize calls succeed.
        d.resolve(req.param("id"))?;
        Ok(Response::empty(200))
    });
    let d = Arc::clone(&daemon);
    router.add("DELETE", "/containers/{id}", move |req| {
        let container = d.resolve(req.param("id"))?;
        if container.state().status == Status::Running {
            if !req.query_bool("force") {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    container.name
                )));
            }
            let _ = container.signal(nix::sys::signal::Signal::SIGKILL);
            container.wait(WaitCondition::NotRunning, None);
        }
        d.remove_from_table(&container);
        Ok(Response::empty(204))
    });

    Server::new(router)
        .engine_headers(&format!("minidocker-ch01/{}", env!("CARGO_PKG_VERSION")))
        .trace(trace)
}

fn version() -> VersionResponse {
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let arch = docker_arch();
    let mut details = BTreeMap::new();
    details.insert("ApiVersion".to_string(), API_VERSION.to_string());
    details.insert("MinAPIVersion".to_string(), MIN_API_VERSION.to_string());
    details.insert("Os".to_string(), "linux".to_string());
    details.insert("Arch".to_string(), arch.to_string());
    details.insert("KernelVersion".to_string(), kernel.clone());
    details.insert("GitCommit".to_string(), "workshop".to_string());
    details.insert("GoVersion".to_string(), "none (Rust)".to_string());
    details.insert("BuildTime".to_string(), String::new());
    details.insert("Experimental".to_string(), "false".to_string());
    VersionResponse {
        platform: Platform {
            name: PLATFORM_NAME.to_string(),
        },
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            details,
        }],
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: "workshop".into(),
        go_version: "none (Rust)".into(),
        os: "linux".into(),
        arch: arch.into(),
        kernel_version: kernel,
        build_time: String::new(),
    }
}

/// Docker names architectures as Go does.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn info(daemon: &Daemon) -> serde_json::Value {
    let table = daemon.table();
    let count = |s: Status| table.iter().filter(|c| c.state().status == s).count();
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname
            .as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    json!({
        "ID": "minidocker-ch01",
        "Containers": table.len(),
        "ContainersRunning": count(Status::Running),
        "ContainersPaused": 0,
        "ContainersStopped": count(Status::Exited) + count(Status::Created),
        "Images": 0,
        "Driver": "none",
        "DriverStatus": [["Isolation", "none: containers are host processes until chapter 03"]],
        "Plugins": {"Volume": [], "Network": [], "Log": ["json-file"]},
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": ""},
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "KernelVersion": field(|u| u.release()),
        "OperatingSystem": PLATFORM_NAME,
        "OSType": "linux",
        "Architecture": field(|u| u.machine()),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": 0,
        "Name": field(|u| u.nodename()),
        "DockerRootDir": "",
        "SecurityOptions": [],
        "Warnings": ["WARNING: the chapter 01 daemon runs containers as plain host processes, with no isolation"],
    })
}

fn inspect(container: &Container) -> ContainerInspect {
    let state = container.state();
    let argv = container.argv();
    ContainerInspect {
        id: container.id.clone(),
        created: timefmt::rfc3339_nanos(container.created),
        path: argv.first().cloned().unwrap_or_default(),
        args: argv.iter().skip(1).cloned().collect(),
        state: ContainerState {
            status: state.status.name().into(),
            running: state.status == Status::Running,
            pid: state.pid.unwrap_or(0) as i64,
            exit_code: state.exit_code,
            error: state.error.clone(),
            started_at: timefmt::rfc3339_or_zero(state.started_at),
            finished_at: timefmt::rfc3339_or_zero(state.finished_at),
            ..Default::default()
        },
        image: container.config.image.clone(),
        name: format!("/{}", container.name),
        driver: "none".into(),
        platform: "linux".into(),
        host_config: container.host_config.clone(),
        config: container.config.clone(),
        network_settings: NetworkSettings::default(),
        ..Default::default()
    }
}

fn summary(container: &Container) -> ContainerSummary {
    let state = container.state();
    let status = containers::status_text(
        state.status,
        state.exit_code,
        state.started_at,
        state.finished_at,
    );
    ContainerSummary {
        id: container.id.clone(),
        names: vec![format!("/{}", container.name)],
        image: container.config.image.clone(),
        command: container.argv().join(" "),
        created: timefmt::unix_seconds(container.created),
        state: state.status.name().into(),
        status,
        labels: container.config.labels.clone().unwrap_or_default(),
        host_config: json!({ "NetworkMode": container.host_config.network_mode }),
        network_settings: json!({ "Networks": {} }),
        ..Default::default()
    }
}

/// `GET /containers/json`: newest first, as `docker ps` shows them (the
/// table is in creation order), narrowed by the query.
fn list(daemon: &Daemon, req: &mut Request) -> Result<Response, ApiError> {
    let query = ListQuery::parse(req)?;
    let no_labels = BTreeMap::new();
    let mut rows: Vec<ContainerSummary> = daemon
        .table()
        .iter()
        .rev()
        .filter(|c| {
            let state = c.state();
            query.shows(&Listed {
                id: &c.id,
                name: &c.name,
                status: state.status,
                exit_code: state.exit_code,
                image: &c.config.image,
                labels: c.config.labels.as_ref().unwrap_or(&no_labels),
                health: "none",
            })
        })
        .map(|c| summary(c))
        .collect();
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    Ok(Response::json(200, &rows))
}

// ANCHOR: attach
/// `POST /containers/{id}/attach`: takes over the connection. The output
/// subscription is made *before* the 101 goes out, because the CLI sends
/// `/start` as soon as it reads the 101, and the first bytes must not be lost.
fn attach(daemon: &Daemon, req: &mut Request) -> Result<Response, ApiError> {
    let container = daemon.resolve(req.param("id"))?;
    let (want_out, want_err) = (req.query_bool("stdout"), req.query_bool("stderr"));
    let want_in = req.query_bool("stdin") && container.config.open_stdin;
    let (history, live) = container.follow();
    let history = if req.query_bool("logs") {
        history
    } else {
        Vec::new()
    };
    let live = if req.query_bool("stream") { live } else { None };
    let tty = container.config.tty;
    Ok(Response::upgrade(
        stream_media_type(container.config.tty),
        move |Hijacked {
                  mut reader,
                  mut writer,
              }| {
            if want_in {
                // Client → container. EOF means "stdin is finished", not "client
                // gone": the CLI half-closes as soon as it has nothing to send.
                let container = Arc::clone(&container);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 32 * 1024];
                    loop {
                        match reader.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => container.write_stdin(&buf[..n]),
                        }
                    }
                    if container.config.stdin_once {
                        container.close_stdin();
                    }
                });
            }
            // Container → client, until the process exits and its output is drained.
            let wanted = |e: &LogEntry| {
                (e.stream == StreamType::Stdout && want_out)
                    || (e.stream == StreamType::Stderr && want_err)
            };
            let entries = history.into_iter().chain(live.into_iter().flatten());
            for entry in entries.filter(wanted) {
                if write_log_entry(&mut writer, tty, &entry, false).is_err() {
                    return; // the client went away
                }
            }
            let _ = writer.shutdown(Shutdown::Both);
        },
    ))
}
// ANCHOR_END: attach

// ANCHOR: wait
/// `POST /containers/{id}/wait`: the headers go out at once — the CLI
/// sends `/start` only after it has them — and the body when the condition
/// holds.
fn wait(daemon: &Daemon, req: &mut Request) -> Result<Response, ApiError> {
    let container = daemon.resolve(req.param("id"))?;
    let condition = WaitCondition::parse(req.query("condition"))?;
    Ok(Response::stream(200, "application/json", move |body| {
        let status_code = container.wait(condition, None).unwrap_or(0);
        let wait = WaitResponse {
            status_code,
            error: None,
        };
        let mut answer = serde_json::to_vec(&wait)?;
        answer.push(b'\n');
        body.write_all(&answer)
    }))
}
// ANCHOR_END: wait

/// `GET /containers/{id}/logs`: what the process wrote, framed like attach;
/// with `follow=1` the stream goes on until the process exits.
fn logs(daemon: &Daemon, req: &mut Request) -> Result<Response, ApiError> {
    let container = daemon.resolve(req.param("id"))?;
    let (want_out, want_err) = (req.query_bool("stdout"), req.query_bool("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request("You must choose at least one stream"));
    }
    let tail = containers::parse_tail(req.query("tail"))?;
    let timestamps = req.query_bool("timestamps");
    let (history, live) = container.follow();
    let live = if req.query_bool("follow") { live } else { None };
    let tty = container.config.tty;
    let wanted = move |e: &LogEntry| {
        (e.stream == StreamType::Stdout && want_out) || (e.stream == StreamType::Stderr && want_err)
    };
    let mut history: Vec<LogEntry> = history
        .into_iter()
        .filter(wanted)
        .flat_map(containers::split_lines)
        .collect();
    if let Some(n) = tail {
        history.drain(..history.len().saturating_sub(n));
    }
    Ok(Response::stream(
        200,
        stream_media_type(container.config.tty),
        move |body| {
            for entry in &history {
                write_log_entry(body, tty, entry, timestamps)?;
            }
            for entry in live.into_iter().flatten().filter(wanted) {
                write_log_entry(body, tty, &entry, timestamps)?;
            }
            Ok(())
        },
    ))
}
