//! A synchronous HTTP/1.1 server: one thread per connection, many requests
//! per connection (keep-alive), and three kinds of response body — a whole
//! body, a chunked stream written while it happens, and a hijacked
//! connection that stops being HTTP after the `101` (attach, exec).

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::conn::{Connection, Listener};
use super::message::{BodyReader, ChunkedWriter, Framing, HeadError, read_head, reason_phrase};
use super::router::{Match, Router};
use crate::error::ApiError;
use crate::query;
use crate::version::ApiVersion;

/// The largest request head we read. Larger heads get 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields in one head.
pub const MAX_HEADERS: usize = 100;
/// The largest JSON body a handler will parse. Larger ones get 413.
pub const MAX_JSON_BODY: u64 = 4 * 1024 * 1024;
/// How much of a body a handler left unread we discard to keep the
/// connection usable; beyond that, we close the connection instead.
const MAX_DRAIN: u64 = 1024 * 1024;
/// How much of a JSON body `--trace` prints.
const TRACE_BODY_CHARS: usize = 400;
/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// One request, its body still on the wire.
pub struct Request<'c> {
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// Path parameters from the route, e.g. `id` in `/containers/{id}/start`.
    pub params: HashMap<String, String>,
    /// The `/vX.Y` prefix of the path, if there was one.
    pub api_version: Option<ApiVersion>,
    /// Which connection this came on (c1, c2, ...), for logs.
    pub connection: u64,
    body: BodyReader<&'c mut BufReader<Connection>>,
    trace: bool,
}

impl Request<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, URL-decoded; the last one wins when repeated.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter by moby's rule: absent, "", 0, no, false and
    /// none are false; anything else is true (the CLI sends 1, docker-py True).
    pub fn query_bool(&self, name: &str) -> bool {
        self.query(name).is_some_and(query::is_true)
    }

    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body, streamed: for tar archives and other large uploads.
    pub fn body(&mut self) -> &mut impl Read {
        &mut self.body
    }

    /// Reads the whole body (at most [`MAX_JSON_BODY`]) and parses it as JSON.
    /// An empty body parses as `null`, so optional bodies work.
    pub fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let mut bytes = Vec::new();
        (&mut self.body)
            .take(MAX_JSON_BODY + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        if bytes.len() as u64 > MAX_JSON_BODY {
            return Err(ApiError::new(
                413,
                format!("request body is larger than {MAX_JSON_BODY} bytes"),
            ));
        }
        if self.trace {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end();
            let shown: String = text.chars().take(TRACE_BODY_CHARS).collect();
            let more = if shown.len() < text.len() {
                format!(" … ({} bytes)", text.len())
            } else {
                String::new()
            };
            eprintln!("c{} >   {shown}{more}", self.connection);
        }
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        crate::types::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A hijacked connection, handed to the handler after the `101` head: from
/// here on the bytes are the application's own protocol.
pub struct Hijacked {
    /// May already hold bytes the client sent right after its request
    /// (stdin can arrive before we have even answered).
    pub reader: BufReader<Connection>,
    pub writer: Connection,
}

type StreamBody = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;
type UpgradeBody = Box<dyn FnOnce(Hijacked) + Send>;

pub enum Body {
    Empty,
    Full(Vec<u8>),
    /// Written as chunks while the function runs; each write is flushed.
    Stream(StreamBody),
    /// Switch protocols: after the head the function owns the connection.
    Upgrade(UpgradeBody),
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                Response {
                    status,
                    headers: Vec::new(),
                    body: Body::Full(bytes),
                }
                .header("Content-Type", "application/json")
            }
            Err(e) => Response::error(&ApiError::internal(format!("encoding response: {e}"))),
        }
    }

    pub fn text(status: u16, content_type: &str, text: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Full(text.into()),
        }
        .header("Content-Type", content_type)
    }

    pub fn error(error: &ApiError) -> Response {
        Response::json(
            error.status,
            &serde_json::json!({ "message": error.message }),
        )
    }

    /// A body streamed with chunked transfer encoding. The head is sent and
    /// flushed before `write_body` runs, so a client blocked on the headers
    /// (the CLI's `/wait`) goes on at once.
    pub fn stream<F>(status: u16, content_type: &str, write_body: F) -> Response
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Stream(Box::new(write_body)),
        }
        .header("Content-Type", content_type)
    }

    /// Takes over the connection. Sent as `101 UPGRADED` when the client asked
    /// for `Upgrade: tcp`, as a plain `200` to older clients that did not.
    pub fn upgrade<F>(content_type: &str, take_over: F) -> Response
    where
        F: FnOnce(Hijacked) + Send + 'static,
    {
        Response {
            status: 101,
            headers: Vec::new(),
            body: Body::Upgrade(Box::new(take_over)),
        }
        .header("Content-Type", content_type)
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// An HTTP server around a router.
pub struct Server {
    router: Router,
    /// Headers added to every response (Docker's `Api-Version`, `Server`, ...).
    default_headers: Vec<(String, String)>,
    /// Prints each request's head and JSON body, and each response head.
    trace: bool,
    connections: AtomicU64,
}

impl Server {
    pub fn new(router: Router) -> Server {
        Server {
            router,
            default_headers: Vec::new(),
            trace: false,
            connections: AtomicU64::new(0),
        }
    }

    pub fn default_header(mut self, name: &str, value: &str) -> Server {
        self.default_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// The headers dockerd puts on every answer (the CLI reads them from
    /// `/_ping`): the API version, `Ostype`, and `Server: PRODUCT (linux)`.
    pub fn engine_headers(self, product: &str) -> Server {
        self.default_header("Api-Version", &crate::version::API_VERSION.to_string())
            .default_header("Docker-Experimental", "false")
            .default_header("Ostype", "linux")
            .default_header("Server", &format!("{product} (linux)"))
    }

    pub fn trace(mut self, on: bool) -> Server {
        self.trace = on;
        self
    }

    /// Accepts connections for ever, a thread for each.
    pub fn serve(self: &Arc<Self>, listener: Listener) -> io::Result<()> {
        loop {
            let conn = match listener.accept() {
                Ok(conn) => conn,
                // EMFILE and friends: say so, breathe, and go on serving.
                Err(e) => {
                    eprintln!("accept on {}: {e}", listener.host());
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let number = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
            let server = Arc::clone(self);
            std::thread::Builder::new()
                .name(format!("c{number}"))
                .spawn(move || server.handle_connection(conn, number))?;
        }
    }

    // ANCHOR: connection_loop
    /// Serves one connection: read a head, route it, answer, and go round
    /// again while both sides want keep-alive.
    fn handle_connection(&self, conn: Connection, number: u64) {
        let Ok(write_half) = conn.try_clone() else {
            return;
        };
        let mut writer = write_half;
        let mut reader = BufReader::new(conn);
        loop {
            let _ = reader.get_ref().set_read_timeout(Some(IDLE_TIMEOUT));
            let head = match read_head(&mut reader, MAX_HEAD_BYTES) {
                Ok(Some(head)) => head,
                Ok(None) => return, // the client closed between requests
                Err(HeadError::TooLarge) => {
                    return self.refuse(
                        &mut writer,
                        number,
                        431,
                        "request head is larger than 64 KiB",
                    );
                }
                Err(HeadError::Truncated) => {
                    return eprintln!(
                        "c{number}: connection closed in the middle of a request head"
                    );
                }
                Err(HeadError::Io(e)) => return eprintln!("c{number}: reading request: {e}"),
            };
            let mut header_slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Request::new(&mut header_slots);
            match parsed.parse(&head) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => unreachable!("read_head returns whole heads"),
                Err(httparse::Error::TooManyHeaders) => {
                    return self.refuse(&mut writer, number, 431, "too many header fields");
                }
                Err(e) => {
                    return self.refuse(
                        &mut writer,
                        number,
                        400,
                        &format!("malformed request: {e}"),
                    );
                }
            }
            let method = parsed.method.unwrap_or_default().to_string();
            let target = parsed.path.unwrap_or_default().to_string();
            let http10 = parsed.version == Some(0);
            let mut headers = Vec::with_capacity(parsed.headers.len());
            for h in parsed.headers.iter() {
                let Ok(value) = std::str::from_utf8(h.value) else {
                    return self.refuse(
                        &mut writer,
                        number,
                        400,
                        &format!("header {} is not UTF-8", h.name),
                    );
                };
                headers.push((h.name.to_string(), value.to_string()));
            }
            let framing = match Framing::from_headers(&headers) {
                Ok(framing) => framing,
                Err(message) => return self.refuse(&mut writer, number, 400, &message),
            };
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_ascii_lowercase())
            };
            let connection_header = header("connection").unwrap_or_default();
            let mut keep_alive = if http10 {
                connection_header.contains("keep-alive")
            } else {
                !connection_header.contains("close")
            };
            let wants_upgrade = header("upgrade").is_some();
            if header("expect").as_deref() == Some("100-continue") && framing != Framing::None {
                // curl waits for this before it sends a large body.
                if writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                    return;
                }
            }
            if self.trace {
                eprintln!("c{number} > {method} {target}");
            }

            let started = Instant::now();
            let (path, query) = match target.split_once('?') {
                Some((path, query)) => (path.to_string(), query::parse(query)),
                None => (target.clone(), Vec::new()),
            };
            let mut request = Request {
                method: method.clone(),
                path,
                query,
                headers,
                params: HashMap::new(),
                api_version: None,
                connection: number,
                body: BodyReader::new(&mut reader, framing),
                trace: self.trace,
            };
            let response = self.dispatch(&mut request);
            // Whatever of the body the handler did not read must go, or it
            // would be taken for the next request on this connection.
            if !request.body.is_done() {
                let drained = io::copy(&mut (&mut request.body).take(MAX_DRAIN), &mut io::sink());
                if drained.is_err() || !request.body.is_done() {
                    keep_alive = false;
                }
            }
            drop(request);

            let status = response.status;
            let outcome = self.write_response(
                response,
                &method,
                http10,
                keep_alive,
                wants_upgrade,
                reader,
                writer,
                number,
            );
            eprintln!(
                "c{number} {method} {target} {status} {}ms",
                started.elapsed().as_millis()
            );
            match outcome {
                Some((r, w)) if keep_alive => (reader, writer) = (r, w),
                _ => return,
            }
        }
    }
    // ANCHOR_END: connection_loop

    fn dispatch(&self, request: &mut Request) -> Response {
        let result = match self.router.find(&request.method, &request.path) {
            Match::Found {
                handler,
                params,
                version,
            } => {
                request.params = params;
                request.api_version = version;
                // A bug in one handler must not take the daemon down.
                catch_unwind(AssertUnwindSafe(|| handler(request))).unwrap_or_else(|_| {
                    Err(ApiError::internal("internal error: the handler panicked"))
                })
            }
            Match::NotFound => Err(ApiError::not_found("page not found")),
            Match::WrongMethod { allowed } => {
                return Response::error(&ApiError::new(
                    405,
                    format!("method {} not allowed", request.method),
                ))
                .header("Allow", &allowed.join(", "));
            }
            Match::BadVersion(message) => Err(ApiError::bad_request(message)),
        };
        result.unwrap_or_else(|e| {
            if e.status >= 400 {
                eprintln!("c{} error {}: {}", request.connection, e.status, e.message);
            }
            Response::error(&e)
        })
    }

    /// Answers a request we could not even parse, then closes the connection.
    fn refuse(&self, writer: &mut Connection, number: u64, status: u16, message: &str) {
        eprintln!("c{number} bad request: {status} {message}");
        let body = serde_json::json!({ "message": message }).to_string();
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            reason_phrase(status),
            body.len()
        );
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(body.as_bytes()));
        let _ = writer.shutdown(Shutdown::Both);
    }

    /// Writes the response; gives the connection back if it can carry
    /// another request.
    #[allow(clippy::too_many_arguments)]
    fn write_response(
        &self,
        response: Response,
        method: &str,
        http10: bool,
        keep_alive: bool,
        wants_upgrade: bool,
        reader: BufReader<Connection>,
        mut writer: Connection,
        number: u64,
    ) -> Option<(BufReader<Connection>, Connection)> {
        let Response {
            mut status,
            mut headers,
            body,
        } = response;
        headers.extend(self.default_headers.iter().cloned());
        let no_body = method == "HEAD" || status == 204 || status == 304;
        match &body {
            Body::Empty | Body::Full(_) => {
                let len = match &body {
                    Body::Full(bytes) => bytes.len(),
                    _ => 0,
                };
                if !(no_body && len == 0) || method == "HEAD" {
                    headers.push(("Content-Length".into(), len.to_string()));
                }
            }
            Body::Stream(_) if http10 => {} // HTTP/1.0 has no chunks: the body ends at close
            Body::Stream(_) => headers.push(("Transfer-Encoding".into(), "chunked".into())),
            Body::Upgrade(_) if wants_upgrade => {
                headers.push(("Connection".into(), "Upgrade".into()));
                headers.push(("Upgrade".into(), "tcp".into()));
            }
            Body::Upgrade(_) => status = 200,
        }
        let closing = !keep_alive || (http10 && matches!(body, Body::Stream(_)));
        if closing && !matches!(body, Body::Upgrade(_)) {
            headers.push(("Connection".into(), "close".into()));
        }
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if self.trace {
            eprintln!(
                "c{number} < {}",
                head.trim_end()
                    .replace("\r\n", &format!("\nc{number} <   "))
            );
        }
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.flush())
            .is_err()
        {
            return None;
        }
        match body {
            Body::Empty => {}
            Body::Full(bytes) => {
                if method != "HEAD" && writer.write_all(&bytes).is_err() {
                    return None;
                }
            }
            Body::Stream(_) if method == "HEAD" => {}
            Body::Stream(write_body) => {
                let result = if http10 {
                    write_body(&mut writer)
                } else {
                    let mut chunked = ChunkedWriter::new(&mut writer);
                    write_body(&mut chunked).and_then(|_| chunked.finish().map(|_| ()))
                };
                if let Err(e) = result {
                    // The client went away mid-stream (`docker logs -f` and
                    // Ctrl-C), or hung up as soon as it had what it needed
                    // (the CLI closes its wait once it has read the status).
                    eprintln!("c{number}: client left before the end of the stream ({e})");
                    return None;
                }
            }
            Body::Upgrade(take_over) => {
                // The idle limit is for requests: a hijacked stream's input
                // may rest for hours (a shell nobody types in).
                let _ = reader.get_ref().set_read_timeout(None);
                take_over(Hijacked { reader, writer });
                return None;
            }
        }
        if closing {
            let _ = writer.shutdown(Shutdown::Both);
            return None;
        }
        Some((reader, writer))
    }
}
