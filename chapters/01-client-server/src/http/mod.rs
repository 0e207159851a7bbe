//! HTTP/1.1 on Unix sockets and TCP, written for the Engine API.

pub mod client;
pub mod conn;
pub mod message;
pub mod router;
pub mod server;

pub use client::{Client, ClientResponse, DaemonError};
pub use conn::{Connection, Host, Listener};
pub use router::Router;
pub use server::{Hijacked, Request, Response, Server};
