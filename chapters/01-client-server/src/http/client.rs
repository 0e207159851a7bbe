//! The client half: one connection per request, the API version negotiated
//! once with `/_ping`, JSON in and out, chunked streams read as they arrive,
//! and hijacked connections for attach.

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::conn::{Connection, Host};
use super::message::{BodyReader, Framing, HeadError, read_head};
use super::server::{Hijacked, MAX_HEAD_BYTES, MAX_HEADERS};
use crate::trace::Laps;
use crate::version::{self, API_VERSION, ApiVersion};

/// An error the daemon answered with: its status and `message`. Shown the
/// way the docker CLI shows it.
#[derive(Debug, Clone)]
pub struct DaemonError {
    pub status: u16,
    pub message: String,
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for DaemonError {}

/// A response whose body has not been read yet.
pub struct ClientResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: BodyReader<BufReader<Connection>>,
}

impl ClientResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Turns a 4xx/5xx answer into a [`DaemonError`] carrying its message.
    pub fn check(mut self) -> anyhow::Result<ClientResponse> {
        if self.status < 400 {
            return Ok(self);
        }
        let mut body = String::new();
        let _ = (&mut self.body).take(64 * 1024).read_to_string(&mut body);
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| format!("status {} with body {:?}", self.status, body.trim()));
        Err(DaemonError {
            status: self.status,
            message,
        }
        .into())
    }

    pub fn json<T: DeserializeOwned>(self) -> anyhow::Result<T> {
        let mut checked = self.check()?;
        let mut bytes = Vec::new();
        checked
            .body
            .read_to_end(&mut bytes)
            .context("reading response body")?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "daemon sent invalid JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }
}

impl Read for ClientResponse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.body.read(buf)
    }
}

/// What follows a request's head.
enum RequestBody<'a> {
    /// `Content-Length` bytes (none for a bodyless request).
    Bytes(Option<(&'a str, Vec<u8>)>),
    /// Read as it is sent, in chunks (`Transfer-Encoding: chunked`).
    Stream(&'a str, &'a mut dyn Read),
}

/// A response head, and the connection positioned at its body.
struct Exchange {
    reader: BufReader<Connection>,
    status: u16,
    headers: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct Client {
    host: Host,
    version: ApiVersion,
    /// `--explain`: each request is a lap of the command's run.
    laps: Option<Arc<Laps>>,
}

impl Client {
    /// A client that speaks our newest version until [`Client::negotiate`].
    pub fn new(host: Host) -> Client {
        Client {
            host,
            version: API_VERSION,
            laps: None,
        }
    }

    /// The laps its requests are timed in, if any.
    pub fn laps(&self) -> Option<&Arc<Laps>> {
        self.laps.as_ref()
    }

    /// A client whose every request, up to its answer's head, is a lap.
    pub fn with_laps(self, laps: Arc<Laps>) -> Client {
        Client {
            laps: Some(laps),
            ..self
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn version(&self) -> ApiVersion {
        self.version
    }

    // ANCHOR: ping
    /// Pings the daemon and settles on an API version, as the docker CLI
    /// does: `HEAD /_ping`, falling back to `GET` when HEAD is refused.
    pub fn negotiate(&mut self) -> anyhow::Result<ApiVersion> {
        let mut response = self.send("HEAD", "/_ping", None)?;
        if response.status == 404 || response.status == 405 {
            response = self.send("GET", "/_ping", None)?;
        }
        self.version = version::negotiate(API_VERSION, response.header("Api-Version"));
        Ok(self.version)
    }
    // ANCHOR_END: ping

    /// Sends one request on a new connection; returns once the response head
    /// is in. `path` has no version prefix: it is added here.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<ClientResponse> {
        let Exchange {
            reader,
            status,
            headers,
        } = self.exchange(method, path, RequestBody::Bytes(body), false)?;
        let framing = response_framing(method, status, &headers)?;
        Ok(ClientResponse {
            status,
            headers,
            body: BodyReader::new(reader, framing),
        })
    }

    // ANCHOR: send_stream
    /// Sends a request whose body is read from `body` while it goes out, in
    /// HTTP/1.1 chunks: a `load` of a 1 GB archive never sits in memory.
    pub fn send_stream(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &mut dyn Read,
    ) -> anyhow::Result<ClientResponse> {
        let Exchange {
            reader,
            status,
            headers,
        } = self.exchange(method, path, RequestBody::Stream(content_type, body), false)?;
        let framing = response_framing(method, status, &headers)?;
        Ok(ClientResponse {
            status,
            headers,
            body: BodyReader::new(reader, framing),
        })
    }
    // ANCHOR_END: send_stream

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send("GET", path, None)?.json()
    }

    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let bytes = serde_json::to_vec(body)?;
        self.send("POST", path, Some(("application/json", bytes)))?
            .json()
    }

    /// A POST with no body whose answer has no body either (start, stop, ...).
    pub fn post(&self, path: &str) -> anyhow::Result<ClientResponse> {
        self.send("POST", path, None)?.check()
    }

    /// Asks to take over the connection (`Upgrade: tcp`) and expects `101`.
    pub fn hijack(&self, path: &str) -> anyhow::Result<Hijacked> {
        self.upgrade(path, RequestBody::Bytes(None))
    }

    /// A hijack whose request carries a JSON body (`/exec/ID/start`).
    pub fn hijack_json<B: Serialize>(&self, path: &str, body: &B) -> anyhow::Result<Hijacked> {
        let bytes = serde_json::to_vec(body)?;
        self.upgrade(path, RequestBody::Bytes(Some(("application/json", bytes))))
    }

    fn upgrade(&self, path: &str, body: RequestBody<'_>) -> anyhow::Result<Hijacked> {
        let Exchange {
            reader,
            status,
            headers,
        } = self.exchange("POST", path, body, true)?;
        if status != 101 {
            let framing = response_framing("POST", status, &headers)?;
            ClientResponse {
                status,
                headers,
                body: BodyReader::new(reader, framing),
            }
            .check()?;
            bail!("unable to upgrade to tcp, received {status}");
        }
        let writer = reader
            .get_ref()
            .try_clone()
            .context("cloning the hijacked connection")?;
        Ok(Hijacked { reader, writer })
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: RequestBody<'_>,
        upgrade: bool,
    ) -> anyhow::Result<Exchange> {
        let mut conn = Connection::connect(&self.host)?;
        let versioned = if path == "/_ping" {
            path.to_string()
        } else {
            format!("/v{}{path}", self.version)
        };
        let mut head = format!(
            "{method} {versioned} HTTP/1.1\r\nHost: minidocker\r\nUser-Agent: minidocker-client/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if upgrade {
            head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
        } else {
            head.push_str("Connection: close\r\n");
        }
        let io_context = || format!("talking to the daemon at {}", self.host);
        // A daemon may answer (an error) before it has read the whole body,
        // and close: its answer says more than our EPIPE.
        let mut unsent = None;
        let mut sent = None;
        match body {
            RequestBody::Bytes(body) => {
                let (content_type, bytes) = body.unwrap_or(("", Vec::new()));
                sent = Some(bytes.len());
                if !content_type.is_empty() {
                    head.push_str(&format!("Content-Type: {content_type}\r\n"));
                }
                head.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
                conn.write_all(head.as_bytes()).with_context(io_context)?;
                conn.write_all(&bytes).with_context(io_context)?;
            }
            RequestBody::Stream(content_type, body) => {
                head.push_str(&format!(
                    "Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
                ));
                conn.write_all(head.as_bytes()).with_context(io_context)?;
                unsent = write_chunked(body, &mut conn).err();
            }
        }
        let mut reader = BufReader::new(conn);
        let head = match read_head(&mut reader, MAX_HEAD_BYTES) {
            Ok(Some(head)) => head,
            Ok(None) | Err(HeadError::Truncated) => match unsent {
                Some(e) => return Err(e).with_context(io_context),
                None => bail!("the daemon at {} closed the connection", self.host),
            },
            Err(HeadError::TooLarge) => bail!(
                "the daemon at {} sent an oversized response head",
                self.host
            ),
            Err(HeadError::Io(e)) => return Err(e).with_context(io_context),
        };
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        parsed
            .parse(&head)
            .map_err(|e| anyhow!("malformed response from {}: {e}", self.host))?;
        let status = parsed.code.unwrap_or(0);
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        if let Some(laps) = &self.laps {
            laps.lap(
                HTTP_PAGE,
                describe(method, &versioned, status, sent, &headers),
            );
        }
        Ok(Exchange {
            reader,
            status,
            headers,
        })
    }
}

/// The book's page on the API's requests.
const HTTP_PAGE: &str = "ch01-client-server.md#the-api-is-http-with-two-twists";

/// A request as `--explain` shows it: `POST /v1.50/containers/create →
/// 201 Created, sent 1.2 kB, got 88 B`.
fn describe(
    method: &str,
    path: &str,
    status: u16,
    sent: Option<usize>,
    headers: &[(String, String)],
) -> String {
    let reason = super::message::reason_phrase(status);
    let sent = match sent {
        Some(0) => String::new(),
        Some(n) => format!(", sent {n} B"),
        None => ", sent a stream".to_string(),
    };
    let got = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, length)| format!(", got {length} B"));
    let got = match got {
        _ if status == 204 || status == 304 => String::new(),
        Some(got) => got,
        None if status == 101 => ": the connection now carries the streams".to_string(),
        None => ": the body follows as it comes".to_string(),
    };
    format!("{method} {path} → {status} {reason}{sent}{got}")
}

/// RFC 9112 §7.1: each chunk is its size in hex, CRLF, the bytes, CRLF;
/// a chunk of size 0 ends the body.
fn write_chunked(body: &mut dyn Read, out: &mut impl Write) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write!(out, "{n:x}\r\n")?;
        out.write_all(&buffer[..n])?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"0\r\n\r\n")
}

/// RFC 9112 §6.3: no body after HEAD, 1xx, 204 or 304; otherwise chunked,
/// Content-Length, or everything until the server closes.
fn response_framing(
    method: &str,
    status: u16,
    headers: &[(String, String)],
) -> anyhow::Result<Framing> {
    if method == "HEAD" || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("content-length") && !has("transfer-encoding") {
        return Ok(Framing::UntilClose);
    }
    Framing::from_headers(headers).map_err(|e| anyhow!("malformed response: {e}"))
}
