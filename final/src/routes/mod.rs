//! The Engine API's routes onto the daemon: chapter 01's router and
//! server, one module per group of endpoints (moby: `api/server/router/`).

mod archive;
mod build;
mod changes;
mod commit;
mod containers;
mod exec;
mod explain;
mod images;
mod networks;
mod stats;
mod system;
mod volumes;

use std::sync::Arc;

use api::http::{Router, Server};

use crate::daemon::Daemon;

/// The server: every route, and the headers dockerd puts on every answer.
pub fn server(daemon: &Arc<Daemon>, trace: bool) -> Server {
    let mut router = Router::new();
    system::add(&mut router, daemon);
    containers::add(&mut router, daemon);
    exec::add(&mut router, daemon);
    images::add(&mut router, daemon);
    build::add(&mut router, daemon);
    stats::add(&mut router, daemon);
    changes::add(&mut router, daemon);
    explain::add(&mut router, daemon);
    archive::add(&mut router, daemon);
    commit::add(&mut router, daemon);
    networks::add(&mut router, daemon);
    volumes::add(&mut router);
    Server::new(router)
        .engine_headers(&format!("minidocker/{}", env!("CARGO_PKG_VERSION")))
        .trace(trace)
}
