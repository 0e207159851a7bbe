//! `GET /containers/{id}/changes`: what `docker diff` prints (moby:
//! `api/server/router/container` `getContainersChanges`). Engine API
//! `ContainerChanges`: an array of `{"Path", "Kind"}`, Kind 0 modified,
//! 1 added, 2 deleted.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};
use serde::Serialize;

use super::containers::route;
use crate::daemon::Daemon;

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "GET", "/containers/{id}/changes", changes);
}

/// One item, its fields in moby's order (`container.FilesystemChange`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    path: String,
    kind: u8,
}

// ANCHOR: route
fn changes(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let container = d.resolve(req.param("id"))?;
    let items: Vec<Item> = d
        .changes(&container)?
        .iter()
        .map(|c| Item {
            path: c.path.to_string_lossy().into_owned(),
            kind: c.kind.code(),
        })
        .collect();
    // No changes is `[]`, never null: clients iterate it.
    Ok(Response::json(200, &items))
}
// ANCHOR_END: route
