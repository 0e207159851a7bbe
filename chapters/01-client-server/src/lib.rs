//! Chapter 01 — the client talks to the daemon.
//!
//! The Docker Engine API is HTTP/1.1 with JSON bodies, usually over the
//! Unix socket `/run/docker.sock`. This crate is that protocol, for every
//! later layer to use: the server ([`http::Server`]), the client
//! ([`http::Client`]), the 8-byte stream frames ([`stdcopy`]), version
//! negotiation ([`version`]) and the request/response types ([`types`]).
//! [`toy`] is the chapter's daemon: the real API, but its "containers" are
//! plain host processes.

pub mod containers;
pub mod detach;
pub mod error;
pub mod exit_code;
pub mod http;
pub mod names;
pub mod query;
pub mod signal;
pub mod stdcopy;
pub mod table;
pub mod timefmt;
pub mod toy;
pub mod trace;
pub mod transcript;
pub mod types;
pub mod version;

pub use error::ApiError;
