//! `/containers/…`: create, start, attach, wait, logs, list, inspect,
//! stop, kill, restart, rm, rename, top, pause, unpause, update, resize.

use std::collections::BTreeMap;
use std::sync::Arc;

use api::ApiError;
use api::containers::{self, ListQuery, Listed, WaitCondition};
use api::http::{Request, Response, Router};
use api::types::*;
use serde_json::json;

use crate::daemon::container::Container;
use crate::daemon::logs::{self, LogQuery, LogSource};
use crate::daemon::start::{self, Started};
use crate::daemon::{Daemon, attach};

/// Adds a route whose handler gets the daemon.
macro_rules! route {
    ($router:expr, $daemon:expr, $method:literal, $path:literal, $handler:expr) => {{
        let d = Arc::clone($daemon);
        $router.add($method, $path, move |req| $handler(&d, req));
    }};
}
pub(crate) use route;

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "POST", "/containers/create", create);
    route!(router, daemon, "GET", "/containers/json", list);
    route!(router, daemon, "GET", "/containers/{id}/json", inspect);
    route!(router, daemon, "POST", "/containers/{id}/start", start);
    route!(router, daemon, "POST", "/containers/{id}/attach", attach);
    route!(router, daemon, "POST", "/containers/{id}/wait", wait);
    route!(router, daemon, "GET", "/containers/{id}/logs", logs);
    route!(router, daemon, "POST", "/containers/{id}/stop", stop);
    route!(router, daemon, "POST", "/containers/{id}/restart", restart);
    route!(router, daemon, "POST", "/containers/{id}/kill", kill);
    route!(router, daemon, "POST", "/containers/{id}/resize", resize);
    route!(router, daemon, "DELETE", "/containers/{id}", remove);
    route!(router, daemon, "POST", "/containers/{id}/rename", rename);
    route!(router, daemon, "GET", "/containers/{id}/top", top);
    route!(
        router,
        daemon,
        "POST",
        "/containers/{id}/pause",
        |d: &Arc<Daemon>, req: &mut Request| {
            d.pause(&*d.resolve(req.param("id"))?, true)?;
            Ok(Response::empty(204))
        }
    );
    route!(
        router,
        daemon,
        "POST",
        "/containers/{id}/unpause",
        |d: &Arc<Daemon>, req: &mut Request| {
            d.pause(&*d.resolve(req.param("id"))?, false)?;
            Ok(Response::empty(204))
        }
    );
    route!(router, daemon, "POST", "/containers/{id}/update", update);
    route!(router, daemon, "POST", "/containers/prune", prune);
}

fn create(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let body = containers::create_request(req)?;
    let container = d.create(req.query("name"), body)?;
    Ok(Response::json(
        201,
        &ContainerCreateResponse {
            id: container.id.clone(),
            warnings: vec![],
        },
    ))
}

fn inspect(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    Ok(Response::json(200, &inspect_body(&container)))
}

fn inspect_body(container: &Container) -> ContainerInspect {
    let r = container.snapshot();
    let argv: Vec<String> = r
        .config
        .entrypoint
        .iter()
        .flatten()
        .chain(r.config.cmd.iter().flatten())
        .cloned()
        .collect();
    let mut host_config = r.host_config.clone();
    host_config
        .extra
        .entry("Runtime")
        .or_insert_with(|| json!(r.runtime));
    ContainerInspect {
        id: r.id.clone(),
        created: r.created.clone(),
        path: argv.first().cloned().unwrap_or_default(),
        args: argv.iter().skip(1).cloned().collect(),
        state: ContainerState {
            status: r.state.status.clone(),
            running: r.state.is_running(),
            paused: r.state.status == "paused",
            restarting: r.state.status == "restarting",
            oom_killed: r.state.oom_killed,
            dead: false,
            pid: r.state.pid,
            exit_code: r.state.exit_code,
            error: r.state.error.clone(),
            started_at: r
                .state
                .started_at
                .clone()
                .unwrap_or_else(|| api::timefmt::ZERO_TIME.into()),
            finished_at: r
                .state
                .finished_at
                .clone()
                .unwrap_or_else(|| api::timefmt::ZERO_TIME.into()),
            health: r.state.health.as_ref().map(|h| json!(h)),
        },
        image: r.image_id.clone(),
        name: format!("/{}", r.name),
        restart_count: r.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        log_path: start::log_path(container).display().to_string(),
        host_config,
        config: r.config.clone(),
        network_settings: network_settings(&r.host_config.network_mode),
        mounts: Vec::new(),
    }
}

/// What `docker ps` adds to a running container's status when it has a
/// health check: ` (healthy)`, ` (unhealthy)`, ` (health: starting)`.
fn health_suffix(state: &crate::daemon::container::State) -> String {
    match &state.health {
        Some(health) if state.has_process() => match health.status.as_str() {
            "starting" => " (health: starting)".into(),
            status => format!(" ({status})"),
        },
        _ => String::new(),
    }
}

/// `NetworkSettings`: the one network this step gives (no address until
/// chapter 07), so that `docker port` and `inspect` readers find objects.
fn network_settings(mode: &str) -> NetworkSettings {
    let mut networks = BTreeMap::new();
    networks.insert(
        mode.to_string(),
        json!({"NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}),
    );
    NetworkSettings {
        networks,
        ..NetworkSettings::default()
    }
}

/// `GET /containers/json`: newest first, narrowed by the query.
fn list(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let query = ListQuery::parse(req)?;
    let mut rows: Vec<ContainerSummary> = d
        .containers()
        .iter()
        .rev()
        .map(|c| c.snapshot())
        .filter(|r| {
            query.shows(&Listed {
                id: &r.id,
                name: &r.name,
                status: r.state.status(),
                exit_code: r.state.exit_code,
                image: &r.config.image,
                labels: r.config.labels.as_ref().unwrap_or(&BTreeMap::new()),
                health: r.state.health.as_ref().map_or("none", |h| h.status.as_str()),
            })
        })
        .map(|r| {
            let (started, finished) = start::times(&r.state);
            ContainerSummary {
                id: r.id.clone(),
                names: vec![format!("/{}", r.name)],
                image: r.config.image.clone(),
                image_id: r.image_id.clone(),
                command: r
                    .config
                    .entrypoint
                    .iter()
                    .flatten()
                    .chain(r.config.cmd.iter().flatten())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                created: humantime::parse_rfc3339(&r.created)
                    .map(api::timefmt::unix_seconds)
                    .unwrap_or(0),
                state: r.state.status.clone(),
                status: containers::status_text(
                    r.state.status(),
                    r.state.exit_code,
                    started,
                    finished,
                ) + &health_suffix(&r.state),
                labels: r.config.labels.clone().unwrap_or_default(),
                host_config: json!({ "NetworkMode": r.host_config.network_mode }),
                network_settings: json!({ "Networks": network_settings(&r.host_config.network_mode).networks }),
                ..Default::default()
            }
        })
        .collect();
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    Ok(Response::json(200, &rows))
}

fn start(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    match d.start(&container)? {
        Started::Now => Ok(Response::empty(204)),
        Started::AlreadyRunning => Ok(Response::empty(304)),
    }
}

fn attach(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let tty = container.record().config.tty;
    let stdin = req.query_bool("stdin") && container.record().config.open_stdin;
    let keys = attach::detach_keys(req.query("detachKeys"))?;
    let source = d.attach(
        &container,
        stdin,
        req.query_bool("stdout"),
        req.query_bool("stderr"),
    )?;
    Ok(Response::upgrade(
        containers::stream_media_type(tty),
        move |client| attach::relay(source, client, keys),
    ))
}

// ANCHOR: wait
/// `POST /containers/{id}/wait`: the headers go out at once — the CLI
/// sends `/start` only after it has them — and the body when the
/// condition holds.
fn wait(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let condition = WaitCondition::parse(req.query("condition"))?;
    let exits_before = container.exits();
    Ok(Response::stream(200, "application/json", move |body| {
        let status_code = container
            .wait(condition, exits_before, None)
            .unwrap_or_default();
        let error = Some(container.state().error)
            .filter(|e| !e.is_empty() && condition != WaitCondition::Removed)
            .map(|message| WaitError { message });
        let mut answer = serde_json::to_vec(&WaitResponse { status_code, error })?;
        answer.push(b'\n');
        body.write_all(&answer)
    }))
}
// ANCHOR_END: wait

fn logs(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let query = LogQuery::parse(req)?;
    let source = LogSource {
        path: start::log_path(&container),
        shim_dir: runtime::shim::shim_dir(&d.config.shim_root(), &container.id),
    };
    let tty = container.record().config.tty;
    Ok(Response::stream(
        200,
        containers::stream_media_type(tty),
        move |body| logs::write_logs(&container, &source, &query, body),
    ))
}

fn seconds(req: &Request) -> Result<Option<i64>, ApiError> {
    req.query("t")
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid value for t: expected seconds"))
}

fn stop(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let stopped = d.stop(&container, req.query("signal"), seconds(req)?)?;
    Ok(Response::empty(if stopped { 204 } else { 304 }))
}

fn restart(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    d.stop(&container, req.query("signal"), seconds(req)?)?;
    d.start(&container)?;
    d.container_event(&container.snapshot(), "restart", &[]);
    Ok(Response::empty(204))
}

fn kill(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let signal = api::signal::parse(
        req.query("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("KILL"),
    )
    .map_err(ApiError::bad_request)?;
    d.kill(&container, signal)?;
    Ok(Response::empty(204))
}

fn resize(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let (height, width) = size(req)?;
    if !container.state().has_process() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            container.id
        )));
    }
    if !container.record().config.tty {
        return Ok(Response::empty(200)); // no terminal to resize: nothing to do
    }
    d.shim_client(&container.id)
        .resize(height, width, None)
        .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    Ok(Response::empty(200))
}

/// `?h=&w=` of a resize.
pub fn size(req: &Request) -> Result<(u16, u16), ApiError> {
    let number = |name: &str| {
        req.query(name).unwrap_or("0").parse::<u16>().map_err(|_| {
            ApiError::bad_request(format!("invalid {name}: a number of cells is expected"))
        })
    };
    Ok((number("h")?, number("w")?))
}

fn remove(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    // `v=1` (anonymous volumes too): none exist before chapter 08.
    d.remove(&container, req.query_bool("force"))?;
    Ok(Response::empty(204))
}

fn rename(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let wanted = req.query("name").unwrap_or_default();
    let name = api::names::validate_name(wanted).map_err(ApiError::bad_request)?;
    let table = d.table();
    if let Some(holder) = table.values().find(|c| c.record().name == name) {
        if holder.id == container.id {
            return Err(ApiError::bad_request(
                "Renaming a container with the same name as its current name",
            ));
        }
        return Err(crate::daemon::create::name_conflict(&name, &holder.id));
    }
    let old_name = format!("/{}", container.name());
    container.update(|r| r.name = name)?;
    drop(table);
    d.container_event(&container.snapshot(), "rename", &[("oldName", old_name)]);
    Ok(Response::empty(204))
}

fn top(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let (titles, processes) = d.top(&container, req.query("ps_args").unwrap_or("-ef"))?;
    Ok(Response::json(
        200,
        &json!({"Titles": titles, "Processes": processes}),
    ))
}

/// `docker update`: the new limits go to the runtime (a running
/// container's cgroup) and into HostConfig (every later start).
fn update(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let body: serde_json::Map<String, serde_json::Value> =
        req.json::<Option<_>>()?.unwrap_or_default();
    let mut host_config = container.record().host_config.clone();
    // `docker update --restart`: the new policy, for the next exit.
    if let Some(policy) = body
        .get("RestartPolicy")
        .filter(|p| p["Name"].as_str().is_some_and(|n| !n.is_empty()))
    {
        host_config.restart_policy = serde_json::from_value(policy.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid RestartPolicy: {e}")))?;
        crate::daemon::restart::validate(&host_config.restart_policy, host_config.auto_remove)?;
    }
    for (key, value) in &body {
        let zero = value.as_i64() == Some(0) || value.as_str() == Some("") || value.is_null();
        if !zero && key != "RestartPolicy" {
            host_config.extra.insert(key.clone(), value.clone());
        }
    }
    d.update_resources(&container, &host_config)?;
    container.update(|r| r.host_config = host_config)?;
    Ok(Response::json(200, &json!({"Warnings": []})))
}

/// `docker container prune`: every stopped container (`until`, `label`).
fn prune(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let filters = api::query::parse_filters(req.query("filters"))?;
    Ok(Response::json(200, &d.prune_containers(&filters)?))
}
