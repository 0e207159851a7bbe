//! Chapter 05: the runtime.
//!
//! An OCI runtime takes a *bundle* — a directory with a root filesystem and
//! a config.json that says everything about the container — and runs it.
//! [`spec`] is config.json as types; [`builder`] makes one with Docker's
//! defaults from a small request (what `minirunc spec` writes, and what the
//! engine will send for each `docker run`).

pub mod builder;
pub mod lifecycle;
pub mod spec;
pub mod state;
