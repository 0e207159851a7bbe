//! The engine: `minidockerd`, the daemon the real docker CLI talks to, and
//! `minidocker`, a CLI that speaks to it as the docker CLI does.
//!
//! Every hop of `docker run` is a chapter's library: the Engine API server
//! (chapter 01), the image store and its overlay snapshots (02), the spec
//! builder that writes config.json (05), one `minishim` per container (05),
//! which runs `minirunc` (05) over namespaces (03) and cgroups (04). What
//! lives here is wiring plus the daemon's own state: containers, their
//! names, their exec sessions. (moby: `daemon/`, one manager per verb.)

pub mod cli;
pub mod config;
pub mod daemon;
pub mod explain;
pub mod routes;
