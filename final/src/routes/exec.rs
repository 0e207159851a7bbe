//! `/containers/{id}/exec` and `/exec/{id}/…`.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};
use serde::Deserialize;
use serde_json::json;

use super::containers::{route, size};
use crate::daemon::exec::{self, ExecConfig};
use crate::daemon::{Daemon, attach};

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "POST", "/containers/{id}/exec", create);
    route!(router, daemon, "POST", "/exec/{id}/start", start);
    route!(router, daemon, "POST", "/exec/{id}/resize", resize);
    route!(router, daemon, "GET", "/exec/{id}/json", inspect);
}

fn create(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let config: Option<ExecConfig> = req.json()?;
    let config = config.ok_or_else(|| ApiError::bad_request("No exec command specified"))?;
    attach::detach_keys(Some(&config.detach_keys))?;
    let exec = d.create_exec(&container, config)?;
    d.exec_event(&exec, "exec_create");
    Ok(Response::json(201, &json!({"Id": exec.id})))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartRequest {
    detach: bool,
}

// ANCHOR: start
/// Attached: the connection is hijacked and carries the exec's streams;
/// detached: 200 at once, and the daemon keeps reading for the exit status.
fn start(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let exec = d.resolve_exec(req.param("id"))?;
    let body: Option<StartRequest> = req.json()?;
    let detach = body.unwrap_or_default().detach;
    let stream = d.start_exec(&exec)?;
    d.exec_event(&exec, "exec_start");
    let tty = exec.config.tty;
    let d = Arc::clone(d);
    let relay = move |client| {
        exec::relay(&exec, stream, client);
        d.exec_event(&exec, "exec_die");
    };
    if detach {
        std::thread::spawn(move || relay(None));
        return Ok(Response::json(200, &json!({})));
    }
    Ok(Response::upgrade(
        api::containers::stream_media_type(tty),
        move |client| relay(Some(client)),
    ))
}
// ANCHOR_END: start

fn resize(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let exec = d.resolve_exec(req.param("id"))?;
    let (height, width) = size(req)?;
    if !exec.state().running {
        return Err(ApiError::conflict(format!(
            "exec {} is not running",
            exec.id
        )));
    }
    if exec.config.tty {
        d.shim_client(&exec.container_id)
            .resize(height, width, Some(&exec.id))
            .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    }
    Ok(Response::empty(200))
}

fn inspect(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let exec = d.resolve_exec(req.param("id"))?;
    if exec.state().running && exec.state().pid == 0 {
        // The shim knows it once the runtime has started the process.
        if let Ok(pid) = d.shim_client(&exec.container_id).exec_pid(&exec.id) {
            exec.state().pid = pid.into();
        }
    }
    let state = exec.state().clone();
    let c = &exec.config;
    let args = c.cmd.clone().unwrap_or_default();
    Ok(Response::json(
        200,
        &json!({
            "ID": exec.id,
            "ContainerID": exec.container_id,
            "Running": state.running,
            "ExitCode": state.exit_code,
            "Pid": state.pid,
            "OpenStdin": c.attach_stdin,
            "OpenStdout": c.attach_stdout,
            "OpenStderr": c.attach_stderr,
            "CanRemove": false,
            "DetachKeys": c.detach_keys,
            "ProcessConfig": {
                "tty": c.tty,
                "entrypoint": args.first(),
                "arguments": args.iter().skip(1).collect::<Vec<_>>(),
                "privileged": c.privileged,
                "user": c.user,
            },
        }),
    ))
}
