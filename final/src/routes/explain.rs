//! `GET /containers/{id}/explain`: a traced container's trace, every step
//! of every layer (an endpoint of ours; Docker has none like it). JSON:
//! `{"Id", "Name", "Steps": [{"At", "Took", "Who", "What", "Page"}]}`,
//! times in nanoseconds of `CLOCK_MONOTONIC`, steps in order of time.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};

use super::containers::route;
use crate::daemon::Daemon;

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "GET", "/containers/{id}/explain", explain);
}

fn explain(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    Ok(Response::json(200, &d.explain(req.param("id"))?))
}
