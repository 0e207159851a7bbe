//! HTTP/1.1 on Unix sockets, TCP and TCP with TLS, written for the Engine API.

pub mod client;
pub mod conn;
pub mod endpoint;
pub mod message;
pub mod router;
pub mod server;
pub mod tls;

pub use client::{Client, ClientResponse, DaemonError};
pub use conn::{Connection, Host, Listener};
pub use endpoint::ClientFlags;
pub use router::Router;
pub use server::{Hijacked, Request, Response, Server};
pub use tls::{ClientTls, ServerTls};
