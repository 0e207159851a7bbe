//! `docker cp`'s three requests (moby: `api/server/router/container`
//! `copy.go`): `HEAD /containers/{id}/archive?path=P` answers the path's
//! stat in the `X-Docker-Container-Path-Stat` header; `GET` sends the same
//! header and a tar of P; `PUT ?path=DIR` extracts a tar into DIR.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};

use super::containers::route;
use crate::daemon::Daemon;
use crate::daemon::archive::{PathStat, base64_encode};

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    // Before GET: a GET route also answers HEAD, and the first match wins.
    route!(router, daemon, "HEAD", "/containers/{id}/archive", head);
    route!(router, daemon, "GET", "/containers/{id}/archive", get);
    route!(router, daemon, "PUT", "/containers/{id}/archive", put);
}

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn stat_header(stat: &PathStat) -> Result<String, ApiError> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(base64_encode(&json))
}

fn path(req: &Request) -> Result<String, ApiError> {
    match req.query("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("Path cannot be empty")),
    }
}

fn head(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let reference = req.param("id").to_string();
    let container = d.resolve(&reference)?;
    let stat = d.stat_path(&container, &reference, &path(req)?)?;
    Ok(Response::empty(200).header(STAT_HEADER, &stat_header(&stat)?))
}

// ANCHOR: route
fn get(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let reference = req.param("id").to_string();
    let container = d.resolve(&reference)?;
    let (stat, write_tar) = d.archive_path(&container, &reference, &path(req)?)?;
    let connection = req.connection;
    let response = Response::stream(200, "application/x-tar", move |out| {
        // The head is gone already: a failure now can only cut the stream,
        // which the client sees as a truncated tar. The log says why.
        write_tar(out).map_err(|e| {
            eprintln!("c{connection}: cp from {reference}: {e:#}");
            std::io::Error::other(format!("{e:#}"))
        })
    });
    Ok(response.header(STAT_HEADER, &stat_header(&stat)?))
}

fn put(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let reference = req.param("id").to_string();
    let container = d.resolve(&reference)?;
    let path = path(req)?;
    let no_overwrite = req.query_bool("noOverwriteDirNonDir");
    let copy_ids = req.query_bool("copyUIDGID");
    d.extract_to(
        &container,
        &reference,
        &path,
        no_overwrite,
        copy_ids,
        req.body(),
    )?;
    Ok(Response::empty(200))
}
// ANCHOR_END: route
