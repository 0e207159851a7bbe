//! `GET /containers/{id}/stats`: `docker stats` (issue 21). The samples
//! come from [`crate::daemon::stats`]; this is the HTTP side.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};

use crate::daemon::Daemon;
use crate::daemon::stats::StatsQuery;
use crate::routes::containers::route;

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "GET", "/containers/{id}/stats", stats);
}

// ANCHOR: route
fn stats(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    // An unknown container is a 404 before any of the stream is sent.
    let container = d.resolve(req.param("id"))?;
    let query = StatsQuery::parse(req.query("stream"), req.query("one-shot"))?;
    let d = Arc::clone(d);
    // Chunked: each object goes out as it is made (the head first).
    Ok(Response::stream(200, "application/json", move |out| {
        d.write_stats(&container, query, out)
    }))
}
// ANCHOR_END: route
