//! `POST /commit`, `GET /containers/{id}/export`, import (the `fromSrc`
//! branch of `POST /images/create`), `GET /system/df` and
//! `POST /build/prune` (moby: `api/server/router/image`,
//! `router/container`, `router/system`, `router/build`).

use std::fs::File;
use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};
use serde_json::json;

use super::containers::route;
use crate::daemon::Daemon;
use crate::daemon::commit::{CommitOptions, reference};

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "POST", "/commit", commit);
    route!(router, daemon, "GET", "/containers/{id}/export", export);
    route!(router, daemon, "GET", "/system/df", df);
    route!(router, daemon, "POST", "/build/prune", build_prune);
}

/// Every value of a repeated query parameter (`changes=…&changes=…`).
fn all(req: &Request, name: &str) -> Vec<String> {
    req.query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `docker commit`: 201 with the new image's ID. The body may carry a
/// container config (docker-py sends `null` or `{}`): the container's own
/// is what gets committed, `changes` on top.
fn commit(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.query("container").unwrap_or_default())?;
    let options = CommitOptions {
        reference: reference(req.query("repo"), req.query("tag"))?,
        comment: req.query("comment").unwrap_or_default().to_string(),
        author: req.query("author").unwrap_or_default().to_string(),
        // Absent means true, as in dockerd.
        pause: req.query("pause").is_none_or(|_| req.query_bool("pause")),
        changes: all(req, "changes"),
    };
    let image = d.commit(&container, &options)?;
    Ok(Response::json(201, &json!({"Id": image.id.to_string()})))
}

/// `docker export`: the root filesystem, taken into a file of the store
/// first (see `Daemon::export`), then streamed.
fn export(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let work = d.store.temp_dir()?;
    let path = work.path().join("export.tar");
    d.export(&container, &path)?;
    let mut file = File::open(&path).map_err(anyhow::Error::from)?;
    Ok(Response::stream(200, "application/x-tar", move |out| {
        // The temp dir lives as long as the stream.
        let _work = &work;
        std::io::copy(&mut file, out).map(|_| ())
    }))
}

/// `docker import`: `POST /images/create?fromSrc=-`, the tar as the body;
/// the answer is a progress stream whose last status is the image ID.
pub fn import(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    if req.query("fromSrc") != Some("-") {
        return Err(ApiError::bad_request(
            "import from a URL is not supported by minidockerd: download it, then import the file",
        ));
    }
    let name = reference(req.query("repo"), req.query("tag"))?;
    let changes = all(req, "changes");
    let message = req.query("message").unwrap_or_default().to_string();
    let image = d.import(req.body(), name.as_ref(), &changes, &message)?;
    let mut body = json!({"status": image.id.to_string()})
        .to_string()
        .into_bytes();
    body.extend(b"\r\n");
    Ok(Response::text(200, "application/json", body))
}

/// `docker system df`: `type=` (repeated) limits what is counted.
fn df(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let types = all(req, "type");
    for kind in &types {
        if !["container", "image", "volume", "build-cache"].contains(&kind.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown object type: {kind}"
            )));
        }
    }
    Ok(Response::json(200, &d.disk_usage(&types)?))
}

/// `docker builder prune` (and `system prune`'s last step): the classic
/// builder's cache is the images' own layers, so there is nothing apart.
fn build_prune(_d: &Arc<Daemon>, _req: &mut Request) -> Result<Response, ApiError> {
    Ok(Response::json(
        200,
        &json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
    ))
}
