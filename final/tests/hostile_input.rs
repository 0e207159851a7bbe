//! Hostile Engine API input sent to a running minidockerd, byte by byte over
//! its socket: broken JSON, wrong types, bad names and ids, paths with `..`,
//! wrong methods, oversized and half-sent requests, broken framing, bad
//! query parameters, limits out of range, configs that cannot run, and the
//! features of chapters not written yet.
//!
//! For each case the daemon must answer with the exact 4xx a careful daemon
//! gives (dockerd's where dockerd is right, better where it is not), as
//! `Content-Type: application/json` with a `message` that says what was
//! wrong; and afterwards it must still serve: `/_ping` and a real
//! `POST /containers/create`. A test records every wrong answer and fails
//! once at the end with the whole list, so one run names every defect.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use common::{Daemon, HANG};

/// What the end of every test creates: the request the CLI's `docker
/// create busybox true` boils down to.
const GOOD_CREATE: &str = r#"{"Image":"busybox","Cmd":["true"]}"#;

/// One HTTP response, as read off the socket.
struct Answer {
    raw: String,
    /// 0 when there was no status line at all (the connection was dropped).
    status: u16,
    head: String,
    /// The body, de-chunked when it came chunked.
    body: String,
}

impl Answer {
    fn parse(raw: String) -> Answer {
        let (head, body) = match raw.split_once("\r\n\r\n") {
            Some((head, body)) => (head.to_string(), body.to_string()),
            None => (raw.clone(), String::new()),
        };
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let mut answer = Answer {
            raw,
            status,
            head,
            body,
        };
        if answer
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            answer.body = dechunk(&answer.body);
        }
        answer
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The start of the raw answer, for a failure report.
    fn shown(&self) -> String {
        if self.raw.is_empty() {
            return "no answer at all (connection closed without a response)".into();
        }
        let text: String = self.raw.chars().take(600).collect();
        if text.len() < self.raw.len() {
            format!("{text:?} … ({} bytes)", self.raw.len())
        } else {
            format!("{text:?}")
        }
    }
}

/// A chunked body's data (RFC 9112 §7.1), as far as it is well formed.
fn dechunk(mut wire: &str) -> String {
    let mut body = String::new();
    while let Some((size_line, rest)) = wire.split_once("\r\n") {
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        body.push_str(&rest[..size]);
        wire = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    body
}

/// A request as the docker CLI frames it, on a fresh connection that the
/// daemon closes after answering (`Connection: close`).
fn request_text(method: &str, target: &str, body: Option<&str>) -> String {
    let mut text = format!(
        "{method} {target} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: hostile-input-test\r\nConnection: close\r\n"
    );
    match body {
        Some(body) => text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        // The CLI sends `Content-Length: 0` on a POST without a body.
        None if method == "POST" => text.push_str("Content-Length: 0\r\n\r\n"),
        None => text.push_str("\r\n"),
    }
    text
}

fn send(daemon: &Daemon, method: &str, target: &str, body: Option<&str>) -> Answer {
    Answer::parse(daemon.raw_request(request_text(method, target, body).as_bytes()))
}

/// Sends bytes the daemon may refuse before it has read them all (a huge
/// head or body): a failed write is expected then, and the answer is read
/// anyway. Time-outs are hang guards only.
fn send_oversized(daemon: &Daemon, bytes: &[u8]) -> Answer {
    let mut stream = UnixStream::connect(&daemon.socket).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    stream.set_write_timeout(Some(HANG)).unwrap();
    // EPIPE once the daemon has answered and closed: what we want to see.
    let _ = stream.write_all(bytes);
    Answer::parse(read_all(&mut stream))
}

/// Everything the peer sends until it closes (or, after a refusal with our
/// bytes still unread on its side, until ECONNRESET follows the answer).
fn read_all(stream: &mut UnixStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `bytes` and reads one response (its head, then as much body as
/// its Content-Length says, or up to EOF without one): for requests that
/// leave the connection open.
fn one_response(daemon: &Daemon, bytes: &[u8]) -> Answer {
    let mut stream = UnixStream::connect(&daemon.socket).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return Answer::parse(String::from_utf8_lossy(&raw).into_owned()),
        }
    }
    let head = Answer::parse(String::from_utf8_lossy(&raw).into_owned());
    match head
        .header("content-length")
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(length) => {
            let _ = (&mut stream).take(length).read_to_end(&mut raw);
        }
        None => raw.extend_from_slice(read_all(&mut stream).as_bytes()),
    }
    Answer::parse(String::from_utf8_lossy(&raw).into_owned())
}

/// The request line of a request, for a report (bodies can be megabytes).
fn request_line(bytes: &[u8]) -> String {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(bytes.len())
        .min(160);
    let line = String::from_utf8_lossy(&bytes[..end]);
    if end < bytes.len() {
        format!("{line:?} … ({} bytes in all)", bytes.len())
    } else {
        format!("{line:?}")
    }
}

/// The wrong answers of one test, reported all together at its end.
struct Findings<'d> {
    daemon: &'d Daemon,
    defects: Vec<String>,
}

impl<'d> Findings<'d> {
    fn new(daemon: &'d Daemon) -> Findings<'d> {
        Findings {
            daemon,
            defects: Vec::new(),
        }
    }

    fn defect(&mut self, what: &str, expected: &str, got: String) {
        self.defects.push(format!(
            "{what}\n    expected: {expected}\n    got:      {got}"
        ));
    }

    /// `answer` must be `status` with a JSON body whose `message` contains
    /// one of `hints` (ignoring case; no hints: any non-empty message).
    fn error(&mut self, what: &str, answer: &Answer, status: u16, hints: &[&str]) {
        let expected = if hints.is_empty() {
            format!("{status} with a JSON {{\"message\"}}")
        } else {
            format!("{status} with a JSON message containing one of {hints:?}")
        };
        if answer.status != status {
            return self.defect(what, &expected, answer.shown());
        }
        if !answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            return self.defect(
                what,
                &format!("{expected}, as Content-Type: application/json"),
                answer.shown(),
            );
        }
        let message = answer
            .json()
            .and_then(|j| j.get("message").and_then(|m| m.as_str()).map(String::from));
        let Some(message) = message.filter(|m| !m.trim().is_empty()) else {
            return self.defect(what, &expected, answer.shown());
        };
        let lower = message.to_lowercase();
        if !hints.is_empty() && !hints.iter().any(|h| lower.contains(&h.to_lowercase())) {
            self.defect(what, &expected, format!("{status} {message:?}"));
        }
    }

    /// `answer` must be `status`, whatever its body.
    fn status(&mut self, what: &str, answer: &Answer, status: u16) {
        if answer.status != status {
            self.defect(what, &status.to_string(), answer.shown());
        }
    }

    fn check(&mut self, ok: bool, what: &str, expected: &str, got: String) {
        if !ok {
            self.defect(what, expected, got);
        }
    }

    /// A container by name or id, as `GET /containers/{x}/json` sees it.
    fn exists(&self, reference: &str) -> bool {
        send(
            self.daemon,
            "GET",
            &format!("/v1.50/containers/{reference}/json"),
            None,
        )
        .status
            == 200
    }

    /// The names of every container, from `docker ps -a`'s request.
    fn container_names(&mut self) -> Vec<String> {
        let answer = send(self.daemon, "GET", "/v1.50/containers/json?all=1", None);
        let Some(serde_json::Value::Array(list)) = answer.json() else {
            self.defect(
                "GET /v1.50/containers/json?all=1",
                "200 with a JSON array",
                answer.shown(),
            );
            return Vec::new();
        };
        list.iter()
            .flat_map(|c| c["Names"].as_array().cloned().unwrap_or_default())
            .filter_map(|n| n.as_str().map(|n| n.trim_start_matches('/').to_string()))
            .collect()
    }

    /// The daemon still serves (`/_ping`, then a real create), nothing
    /// panicked on the way, and every defect found is reported.
    fn finish(mut self) {
        if !self.daemon.answers_ping() {
            self.defect(
                "GET /_ping after the hostile requests",
                "200",
                "no 200: the daemon stopped serving".into(),
            );
        } else {
            let created = send(
                self.daemon,
                "POST",
                "/v1.50/containers/create",
                Some(GOOD_CREATE),
            );
            let id_ok = created.json().is_some_and(|j| {
                j["Id"]
                    .as_str()
                    .is_some_and(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            });
            if created.status != 201 || !id_ok {
                self.defect(
                    &format!(
                        "POST /v1.50/containers/create {GOOD_CREATE} after the hostile requests"
                    ),
                    "201 {\"Id\":\"<64 hex>\"}",
                    created.shown(),
                );
            }
        }
        // A handler panic becomes a 500 and a connection thread's panic a
        // dropped connection; either way the hook prints "panicked at".
        let log = self.daemon.log_text();
        let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked at")).collect();
        if !panics.is_empty() {
            self.defect(
                "the daemon's log",
                "no panic on input from the network (DESIGN.md, Errors and bad input)",
                panics.join("\n              "),
            );
        }
        if !self.defects.is_empty() {
            panic!(
                "{} wrong answer(s):\n\n{}\n\ndaemon log:\n{}",
                self.defects.len(),
                self.defects.join("\n\n"),
                log
            );
        }
    }
}

/// Creates a container that is never started; its id.
fn create_container(daemon: &Daemon, name: &str) -> String {
    let answer = send(
        daemon,
        "POST",
        &format!("/v1.50/containers/create?name={name}"),
        Some(GOOD_CREATE),
    );
    let id = answer
        .json()
        .and_then(|j| j["Id"].as_str().map(String::from));
    match (answer.status, id) {
        (201, Some(id)) => id,
        _ => panic!(
            "creating the container {name} for this test failed: {}\ndaemon log:\n{}",
            answer.shown(),
            daemon.log_text()
        ),
    }
}

#[test]
fn privileged_malformed_and_mistyped_create_bodies_get_400() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let create = |body: &str| send(&daemon, "POST", "/v1.50/containers/create", Some(body));

    // Not JSON at all, or JSON cut short, or followed by more.
    for body in [
        "{not json",
        r#"{"Image":"busybox","Cmd":["true"]"#,
        r#"{"Image":"busybox","Cmd":["true"],}"#,
        r#"{"Image":"busybox","Cmd":["true"]} {"Image":"x"}"#,
        "\u{1}\u{2}\u{3}",
    ] {
        findings.error(
            &format!("POST /containers/create {body:?}"),
            &create(body),
            400,
            &["json", "invalid", "syntax"],
        );
    }
    // Not UTF-8 inside a JSON string.
    let body = b"{\"Image\":\"busy\xff\xfebox\",\"Cmd\":[\"true\"]}";
    let mut bytes = format!(
        "POST /v1.50/containers/create HTTP/1.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    findings.error(
        "POST /containers/create with bytes 0xff 0xfe inside \"Image\"",
        &Answer::parse(daemon.raw_request(&bytes)),
        400,
        &["json", "utf", "unicode", "invalid"],
    );
    // 100 000 nested arrays: a parse must refuse the depth, not overflow
    // the stack (which would kill the whole daemon).
    let deep = format!(
        r#"{{"Image":"busybox","Cmd":["true"],"Labels":{{"deep":{}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    findings.error(
        "POST /containers/create with 100 000 nested arrays in Labels",
        &create(&deep),
        400,
        &["json", "recursion", "depth", "nest"],
    );

    // Valid JSON, wrong types: the message must name the field, as
    // dockerd's does ("cannot unmarshal number into Go struct field
    // Config.Cmd of type []string").
    for (body, field) in [
        (r#"{"Image":"busybox","Cmd":5}"#, "Cmd"),
        (
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":"x"}"#,
            "HostConfig",
        ),
        (
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":"lots"}}"#,
            "Memory",
        ),
        (r#"{"Image":"busybox","Cmd":["true"],"Env":"A=b"}"#, "Env"),
        (r#"{"Image":"busybox","Cmd":["true"],"Tty":"yes"}"#, "Tty"),
        (r#"{"Image":5,"Cmd":["true"]}"#, "Image"),
    ] {
        findings.error(
            &format!("POST /containers/create {body}"),
            &create(body),
            400,
            &[field],
        );
    }
    // A body that is JSON but not an object.
    for body in ["[]", "5", r#""busybox""#] {
        findings.error(
            &format!("POST /containers/create {body}"),
            &create(body),
            400,
            &["json", "invalid", "object", "map", "expected"],
        );
    }

    // No config at all: dockerd's "config cannot be empty in order to
    // create a container".
    findings.error(
        "POST /containers/create with Content-Length: 0",
        &send(&daemon, "POST", "/v1.50/containers/create", None),
        400,
        &["empty"],
    );
    findings.error(
        "POST /containers/create without any Content-Length",
        &Answer::parse(daemon.raw_request(
            b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )),
        400,
        &["empty"],
    );
    for body in ["null", " \r\n\t "] {
        findings.error(
            &format!("POST /containers/create {body:?}"),
            &create(body),
            400,
            &["empty"],
        );
    }

    // None of it may have left a container behind.
    let names = findings.container_names();
    findings.check(
        names.is_empty(),
        "GET /containers/json?all=1 after refused creates",
        "no container",
        format!("{names:?}"),
    );
    findings.finish();
}

#[test]
fn privileged_bad_container_names_get_400_and_a_taken_name_409() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let create_named = |query_value: &str| {
        send(
            &daemon,
            "POST",
            &format!("/v1.50/containers/create?name={query_value}"),
            Some(GOOD_CREATE),
        )
    };

    // Outside Docker's pattern ^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$: dockerd's
    // "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".
    for query_value in [
        "../x",
        "..%2Fx",
        "%2e%2e%2f%2e%2e%2fetc",
        "a",
        "/a",
        "-x",
        "_x",
        ".x",
        "x%2Fy",
        "x%20y",
        "x%00y",
        "%C3%A9t%C3%A9",
        "x%0Ay",
        "//x",
    ] {
        findings.error(
            &format!("POST /containers/create?name={query_value}"),
            &create_named(query_value),
            400,
            &["invalid container name"],
        );
    }

    // Valid names: a leading slash is allowed, and an empty name means
    // "make one up" (what the CLI sends without --name is no name at all).
    for query_value in ["%2Fslashed", "ok.name_1-2", ""] {
        findings.status(
            &format!("POST /containers/create?name={query_value}"),
            &create_named(query_value),
            201,
        );
    }

    // 10 000 characters inside the pattern: dockerd takes it. A daemon
    // that keeps names in file names may refuse it, cleanly; never a 500,
    // a dropped connection or a crash.
    let long = format!("a{}", "b".repeat(9_999));
    let answer = create_named(&long);
    match answer.status {
        201 => {
            findings.check(
                findings.exists(&long),
                "GET /containers/<the 10 000-character name>/json after its 201",
                "200",
                "not found".into(),
            );
        }
        400 => findings.error(
            "POST /containers/create?name=<10 000 characters>",
            &answer,
            400,
            &[],
        ),
        _ => findings.defect(
            "POST /containers/create?name=<10 000 valid characters>",
            "201, or a clean 400 with a JSON message",
            answer.shown(),
        ),
    }

    // A name in use: 409, with or without the leading slash.
    findings.status(
        "POST /containers/create?name=dup",
        &create_named("dup"),
        201,
    );
    for query_value in ["dup", "%2Fdup"] {
        findings.error(
            &format!("POST /containers/create?name={query_value} (the name is taken)"),
            &create_named(query_value),
            409,
            &["already in use"],
        );
    }

    // Only the valid names were created.
    let allowed = ["slashed", "ok.name_1-2", "dup", long.as_str()];
    let names = findings.container_names();
    let strays: Vec<&String> = names
        .iter()
        .filter(|n| !allowed.contains(&n.as_str()) && !n.contains('_'))
        .collect();
    findings.check(
        strays.is_empty() && names.len() == 4 + usize::from(answer.status == 201),
        "GET /containers/json?all=1 after the name checks",
        "the valid names and one generated name, nothing else",
        format!("{names:?}"),
    );
    findings.finish();
}

#[test]
fn privileged_paths_with_dot_dot_and_unknown_ids_get_404() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let sentinel = create_container(&daemon, "sentinel");

    // `..` in the path is not normalised into another route (Debian's
    // dockerd answers 301 to a cleaned path: we do better), and a decoded
    // `..` in an id reaches no file.
    for target in [
        "/containers/../../etc/passwd/json",
        "/v1.50/containers/../../../../etc/passwd/json",
        "/containers/%2e%2e%2f%2e%2e%2fetc%2fpasswd/json",
        "/containers/..%2F..%2F..%2Fetc%2Fpasswd/json",
        "/containers/%2e%2e/json",
        "/containers/../json",
        "/containers/sentinel/../../../etc/passwd",
    ] {
        let answer = send(&daemon, "GET", target, None);
        findings.error(&format!("GET {target}"), &answer, 404, &[]);
        findings.check(
            !answer.raw.contains("root:"),
            &format!("GET {target}"),
            "nothing of /etc/passwd",
            answer.shown(),
        );
    }
    // The same through the other container routes.
    for (method, target) in [
        ("POST", "/v1.50/containers/%2e%2e/start"),
        ("POST", "/v1.50/containers/%2e%2e%2f%2e%2e/kill"),
        (
            "GET",
            "/v1.50/containers/%2e%2e%2f%2e%2e%2fetc%2fpasswd/logs?stdout=1",
        ),
        ("DELETE", "/v1.50/containers/%2e%2e?force=1"),
        ("DELETE", "/v1.50/containers/.?force=1"),
        ("DELETE", "/v1.50/containers/%2e%2e%2fsentinel?force=1"),
    ] {
        findings.error(
            &format!("{method} {target}"),
            &send(&daemon, method, target, None),
            404,
            &["no such container"],
        );
    }
    // Removing ".." must not have removed anything else.
    findings.check(
        findings.exists(&sentinel),
        "GET /containers/<sentinel>/json after DELETE of .., ., ../sentinel",
        "200: the sentinel container still exists",
        "gone".into(),
    );

    // Ids that are not hex, or hex that is nobody's.
    for id in [
        "nope",
        "zzzzzzzzzzzz",
        "not-hex-at-all",
        &"g".repeat(64),
        &"0".repeat(64),
        "%20",
    ] {
        let shown = if id.len() > 20 { &id[..20] } else { id };
        findings.error(
            &format!("GET /containers/{shown}…/json"),
            &send(
                &daemon,
                "GET",
                &format!("/v1.50/containers/{id}/json"),
                None,
            ),
            404,
            &["no such container"],
        );
    }
    findings.error(
        "GET /containers/nope/json",
        &send(&daemon, "GET", "/containers/nope/json", None),
        404,
        &["No such container: nope"],
    );
    for (method, target) in [
        ("POST", "/v1.50/containers/nope/start"),
        ("POST", "/v1.50/containers/nope/stop"),
        ("POST", "/v1.50/containers/nope/kill"),
        ("POST", "/v1.50/containers/nope/wait"),
        ("GET", "/v1.50/containers/nope/logs?stdout=1"),
        ("DELETE", "/v1.50/containers/nope"),
    ] {
        findings.error(
            &format!("{method} {target}"),
            &send(&daemon, method, target, None),
            404,
            &["No such container: nope"],
        );
    }
    // An attach to nobody is refused before the 101. The CLI's attach says
    // `Connection: Upgrade`, not `close`: the daemon may keep the
    // connection, so this reads one response, not up to EOF.
    let answer = one_response(
        &daemon,
        b"POST /v1.50/containers/nope/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
    );
    findings.error(
        "POST /containers/nope/attach (Upgrade: tcp)",
        &answer,
        404,
        &["No such container: nope"],
    );

    // Images: unknown, and names that try to climb out of the store.
    findings.error(
        "GET /images/nosuch/json",
        &send(&daemon, "GET", "/v1.50/images/nosuch/json", None),
        404,
        &["No such image"],
    );
    findings.error(
        "DELETE /images/nosuch",
        &send(&daemon, "DELETE", "/v1.50/images/nosuch", None),
        404,
        &["No such image"],
    );
    for target in [
        "/v1.50/images/../../etc/passwd/json",
        "/v1.50/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/json",
        "/v1.50/images/sha256:..%2f..%2f..%2fetc%2fpasswd/json",
    ] {
        let answer = send(&daemon, "GET", target, None);
        // dockerd: 400 "invalid reference format"; "no such image" (404)
        // is as right. Not a 200, a 500 or a file's content.
        if answer.status == 400 {
            findings.error(&format!("GET {target}"), &answer, 400, &[]);
        } else {
            findings.error(&format!("GET {target}"), &answer, 404, &[]);
        }
        findings.check(
            !answer.raw.contains("root:"),
            &format!("GET {target}"),
            "nothing of /etc/passwd",
            answer.shown(),
        );
    }
    // A create naming such an image: 404 only for "no such image" (the
    // CLI then pulls), 400 for an invalid reference; never a container.
    let climbers = [
        ("climber1", "../../etc"),
        ("climber2", "busybox/../../../etc"),
        ("climber3", "sha256:../../../etc/passwd"),
    ];
    for (name, image) in climbers {
        let body = format!(r#"{{"Image":"{image}","Cmd":["true"]}}"#);
        let answer = send(
            &daemon,
            "POST",
            &format!("/v1.50/containers/create?name={name}"),
            Some(&body),
        );
        if answer.status == 400 {
            findings.error(
                &format!("POST /containers/create {body}"),
                &answer,
                400,
                &[],
            );
        } else {
            findings.error(
                &format!("POST /containers/create {body}"),
                &answer,
                404,
                &["No such image"],
            );
        }
    }
    for (name, image) in climbers {
        findings.check(
            !findings.exists(name),
            &format!("GET /containers/{name}/json"),
            &format!("404: no container from the image name {image:?}"),
            "it exists".into(),
        );
    }
    findings.finish();
}

#[test]
fn privileged_wrong_methods_get_405_and_unknown_routes_404() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    for (method, target, allowed) in [
        ("DELETE", "/_ping", "GET"),
        ("POST", "/v1.50/_ping", "GET"),
        ("GET", "/v1.50/containers/create", "POST"),
        ("PUT", "/v1.50/containers/json", "GET"),
    ] {
        let answer = send(&daemon, method, target, None);
        findings.error(
            &format!("{method} {target}"),
            &answer,
            405,
            &["not allowed"],
        );
        findings.check(
            answer.status != 405 || answer.header("allow").is_some_and(|a| a.contains(allowed)),
            &format!("{method} {target}"),
            &format!("an Allow header naming {allowed}"),
            answer.shown(),
        );
    }
    // Routes nobody serves: dockerd's 404 "page not found", in JSON (the
    // CLI's `inspect` probes /plugins/x/json and reads the 404 as "not
    // this kind of object").
    for target in [
        "/plugins/x/json",
        "/v1.50/nothing/here",
        "/v1.50/",
        "/",
        "*",
        "/v1.50/containers",
        "/v1.50/containers//json",
        "/_ping/../_ping/x",
    ] {
        findings.error(
            &format!("GET {target}"),
            &send(&daemon, "GET", target, None),
            404,
            &["page not found"],
        );
    }
    // Versions we do not serve.
    for (target, hint) in [
        ("/v1.99/_ping", "too new"),
        ("/v9.0/containers/json", "too new"),
        ("/v1.12/containers/json", "too old"),
        ("/v99999999999999999999.1/_ping", "version"),
        ("/v1.50.1/_ping", "version"),
    ] {
        findings.error(
            &format!("GET {target}"),
            &send(&daemon, "GET", target, None),
            400,
            &[hint],
        );
    }
    findings.finish();
}

#[test]
fn privileged_oversized_heads_and_bodies_are_refused() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);

    // A 1 MiB header line: chapter 01 refuses heads over 64 KiB with 431.
    let mut bytes = b"GET /v1.50/containers/json HTTP/1.1\r\nHost: x\r\nX-Huge: ".to_vec();
    bytes.extend(std::iter::repeat_n(b'h', 1024 * 1024));
    bytes.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    findings.error(
        "GET /containers/json with a 1 MiB header line",
        &send_oversized(&daemon, &bytes),
        431,
        &["larger than"],
    );
    // A 1 MiB request target.
    let mut bytes = b"GET /v1.50/containers/".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    bytes.extend_from_slice(b"/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    findings.error(
        &format!("GET {}", request_line(&bytes)),
        &send_oversized(&daemon, &bytes),
        431,
        &["larger than"],
    );
    // 1000 small header fields.
    let mut bytes = b"GET /_ping HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..1000 {
        bytes.extend_from_slice(format!("X-Field-{i}: v\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"Connection: close\r\n\r\n");
    findings.error(
        "GET /_ping with 1000 header fields",
        &send_oversized(&daemon, &bytes),
        431,
        &["too many header"],
    );

    // A 16 MiB create body: more than any create needs; 413.
    let big = format!(
        r#"{{"Image":"busybox","Cmd":["{}"]}}"#,
        "x".repeat(16 * 1024 * 1024)
    );
    let bytes = request_text("POST", "/v1.50/containers/create?name=huge", Some(&big));
    findings.error(
        "POST /containers/create with a 16 MiB JSON body (Content-Length)",
        &send_oversized(&daemon, bytes.as_bytes()),
        413,
        &["larger than"],
    );
    // The same, chunked (no Content-Length to judge it by in advance).
    let mut bytes = b"POST /v1.50/containers/create?name=hugechunks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in big.as_bytes().chunks(1024 * 1024) {
        bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        bytes.extend_from_slice(piece);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    findings.error(
        "POST /containers/create with a 16 MiB chunked JSON body",
        &send_oversized(&daemon, &bytes),
        413,
        &["larger than"],
    );
    for name in ["huge", "hugechunks"] {
        findings.check(
            !findings.exists(name),
            &format!("GET /containers/{name}/json"),
            "404: no container from a refused body",
            "it exists".into(),
        );
    }
    findings.finish();
}

#[test]
fn privileged_broken_framing_and_garbage_get_400() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let post_head = "POST /v1.50/containers/create?name=framed HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n";

    // Chunked bodies with a bad chunk size.
    for chunks in [
        "ZZ\r\n{}\r\n0\r\n\r\n",
        "-5\r\n{}\r\n0\r\n\r\n",
        "FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n",
        "0x22\r\n{\"Image\":\"busybox\",\"Cmd\":[\"true\"]}\r\n0\r\n\r\n",
        " \r\n{}\r\n0\r\n\r\n",
    ] {
        let bytes = format!("{post_head}Transfer-Encoding: chunked\r\n\r\n{chunks}");
        findings.error(
            &format!("POST /containers/create, chunked body {chunks:?}"),
            &Answer::parse(daemon.raw_request(bytes.as_bytes())),
            400,
            &["chunk"],
        );
    }
    // A chunk longer than its size says (the size is a lie).
    let bytes =
        format!("{post_head}Transfer-Encoding: chunked\r\n\r\n2\r\n{GOOD_CREATE}\r\n0\r\n\r\n");
    findings.error(
        "POST /containers/create, chunk size 2 followed by 34 bytes",
        &Answer::parse(daemon.raw_request(bytes.as_bytes())),
        400,
        &[],
    );

    // Content-Length that is not one non-negative number.
    for header in [
        "Content-Length: lots",
        "Content-Length: -1",
        "Content-Length: 3.5",
        "Content-Length: 0x22",
        "Content-Length: 99999999999999999999999",
        "Content-Length: 34\r\nContent-Length: 35",
        "Content-Length: 34, 34",
    ] {
        let bytes = format!("{post_head}{header}\r\n\r\n{GOOD_CREATE}");
        findings.error(
            &format!("POST /containers/create with {header:?}"),
            &Answer::parse(daemon.raw_request(bytes.as_bytes())),
            400,
            &["content-length"],
        );
    }
    // Both framings at once is request smuggling; an unknown coding can
    // not be read.
    for header in [
        "Content-Length: 34\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: chunked, gzip",
    ] {
        let bytes = format!("{post_head}{header}\r\n\r\n{GOOD_CREATE}");
        findings.error(
            &format!("POST /containers/create with {header:?}"),
            &Answer::parse(daemon.raw_request(bytes.as_bytes())),
            400,
            &["transfer-encoding", "content-length"],
        );
    }
    findings.check(
        !findings.exists("framed"),
        "GET /containers/framed/json",
        "404: no container from a badly framed request",
        "it exists".into(),
    );

    // Request lines and heads that are not HTTP.
    for bytes in [
        &b"GARBAGE\r\n\r\n"[..],
        b"\x00\x01\x02\xff\xfe\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /_ping\r\n\r\n",
        b"GET /_ping HTTP/9.9\r\n\r\n",
        b"GET /_ping FTP/1.1\r\n\r\n",
        b"GET  /_ping HTTP/1.1\r\n\r\n",
        b"GET /_p ing HTTP/1.1\r\n\r\n",
        b"G\x00T /_ping HTTP/1.1\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\n: no name\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    ] {
        findings.error(
            &format!("{:?}", String::from_utf8_lossy(bytes)),
            &Answer::parse(daemon.raw_request(bytes)),
            400,
            &["malformed", "invalid", "utf-8", "request"],
        );
    }

    // RFC 9112 §2.2: a server SHOULD ignore empty lines before the
    // request line (chapter 01's read_head says it does).
    findings.status(
        "\"\\r\\n\\r\\nGET /_ping HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n\"",
        &Answer::parse(
            daemon.raw_request(
                b"\r\n\r\nGET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
        ),
        200,
    );
    findings.finish();
}

#[test]
fn privileged_half_sent_and_silent_clients_do_not_block_others() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let connect = || {
        let stream = UnixStream::connect(&daemon.socket).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        stream
    };

    // A client that connects and says nothing.
    let silent = connect();
    // A head cut in the middle.
    let mut half_head = connect();
    half_head.write_all(b"POST /v1.50/containers/cre").unwrap();
    // A head announcing 1000 bytes of body, and 10 of them.
    let mut half_body = connect();
    half_body
        .write_all(b"POST /v1.50/containers/create?name=halfsent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Image\":\"")
        .unwrap();
    // A chunked body stopped after its first chunk.
    let mut half_chunked = connect();
    half_chunked
        .write_all(b"POST /v1.50/containers/create?name=halfchunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"Ima\r\n")
        .unwrap();

    // While all four wait on the daemon, other clients are served.
    findings.check(
        daemon.answers_ping(),
        "GET /_ping while 4 connections sit half-sent",
        "200",
        "no answer".into(),
    );
    findings.status(
        "POST /containers/create?name=meanwhile while 4 connections sit half-sent",
        &send(
            &daemon,
            "POST",
            "/v1.50/containers/create?name=meanwhile",
            Some(GOOD_CREATE),
        ),
        201,
    );
    findings.status(
        "GET /containers/meanwhile/json while 4 connections sit half-sent",
        &send(&daemon, "GET", "/v1.50/containers/meanwhile/json", None),
        200,
    );

    // Each half-sent client gives up (half-close: it still reads). The
    // daemon either answers 400 or drops the connection: the EOF (or the
    // answer) is what this waits for; the read time-out is a hang guard.
    for (what, mut stream) in [
        ("a head cut after \"POST /v1.50/containers/cre\"", half_head),
        (
            "Content-Length: 1000 with 10 bytes of body, then shutdown(Write)",
            half_body,
        ),
        ("a chunked body stopped after one chunk", half_chunked),
    ] {
        stream.shutdown(Shutdown::Write).unwrap();
        let answer = Answer::parse(read_all(&mut stream));
        if answer.raw.is_empty() {
            continue; // dropped: fine
        }
        findings.error(what, &answer, 400, &[]);
    }
    for name in ["halfsent", "halfchunked"] {
        findings.check(
            !findings.exists(name),
            &format!("GET /containers/{name}/json"),
            "404: no container from a body that never arrived",
            "it exists".into(),
        );
    }
    // The silent client is still connected, and the daemon still serves.
    findings.check(
        daemon.answers_ping(),
        "GET /_ping with a silent connection still open",
        "200",
        "no answer".into(),
    );
    // A silent client that leaves: nothing to answer.
    silent.shutdown(Shutdown::Write).unwrap();
    let mut silent = silent;
    let answer = read_all(&mut silent);
    findings.check(
        answer.is_empty(),
        "a connection that sent nothing, then shutdown(Write)",
        "EOF without an answer",
        format!("{answer:?}"),
    );
    findings.finish();
}

#[test]
fn privileged_unknown_query_parameters_pass_and_bad_filters_get_400() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);

    // Parameters nobody asked for are ignored, as dockerd does.
    for target in [
        "/_ping?whatever=1",
        "/v1.50/containers/json?all=1&bogus=yes&&=&x",
        "/v1.50/containers/json?all=%ZZ&%ZZ=1",
        "/v1.50/containers/json?filters=",
        "/v1.50/containers/json?filters=%7B%7D",
    ] {
        findings.status(
            &format!("GET {target}"),
            &send(&daemon, "GET", target, None),
            200,
        );
    }
    findings.status(
        "POST /containers/create?name=extra&nonsense=1",
        &send(
            &daemon,
            "POST",
            "/v1.50/containers/create?name=extra&nonsense=1&name2=x",
            Some(GOOD_CREATE),
        ),
        201,
    );

    // filters must be a JSON object of string lists or string→bool maps,
    // with keys the route knows (dockerd: "invalid filter 'nope'").
    for (filters, hints) in [
        ("%7Bbad", &["filter"][..]),
        ("not-json", &["filter"]),
        ("5", &["filter"]),
        ("%5B%22status%22%5D", &["filter"]),
        ("%7B%22status%22%3A5%7D", &["filter"]),
        ("%7B%22status%22%3A%5B1%5D%7D", &["filter"]),
        ("%7B%22nope%22%3A%5B%22x%22%5D%7D", &["nope"]),
    ] {
        findings.error(
            &format!("GET /containers/json?filters={filters}"),
            &send(
                &daemon,
                "GET",
                &format!("/v1.50/containers/json?all=1&filters={filters}"),
                None,
            ),
            400,
            hints,
        );
    }
    findings.finish();
}

#[test]
fn privileged_bad_actions_on_a_created_container() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let id = create_container(&daemon, "victim");

    // Signals: dockerd parses the signal first, so an unknown one is a
    // 400 even on a container that is not running.
    for signal in ["NOPE", "SIGNOPE", "999", "-9", "9x", "%00"] {
        findings.error(
            &format!("POST /containers/victim/kill?signal={signal}"),
            &send(
                &daemon,
                "POST",
                &format!("/v1.50/containers/{id}/kill?signal={signal}"),
                None,
            ),
            400,
            &["signal"],
        );
    }
    findings.error(
        "POST /containers/victim/kill?signal=NOPE (the message names it)",
        &send(
            &daemon,
            "POST",
            "/v1.50/containers/victim/kill?signal=NOPE",
            None,
        ),
        400,
        &["NOPE"],
    );
    // A good signal to a container that never ran: dockerd's 409
    // "Container <id> is not running".
    findings.error(
        "POST /containers/victim/kill (created, never started)",
        &send(&daemon, "POST", "/v1.50/containers/victim/kill", None),
        409,
        &["not running"],
    );
    // Other parameters of the wrong kind.
    for (target, hints) in [
        // dockerd answers this one 500 (a bare strconv error): we do better.
        (
            "/v1.50/containers/victim/stop?t=soon",
            &["soon", "for t", "\"t\"", "t="][..],
        ),
        (
            "/v1.50/containers/victim/wait?condition=whenever",
            &["condition", "whenever"],
        ),
        (
            "/v1.50/containers/victim/logs?tail=lots&stdout=1",
            &["tail", "lots"],
        ),
    ] {
        let method = if target.contains("/logs") {
            "GET"
        } else {
            "POST"
        };
        findings.error(
            &format!("{method} {target}"),
            &send(&daemon, method, target, None),
            400,
            hints,
        );
    }
    // Logs without a stream: dockerd's "You must choose at least one stream".
    findings.error(
        "GET /containers/victim/logs (no stdout, no stderr)",
        &send(&daemon, "GET", "/v1.50/containers/victim/logs", None),
        400,
        &["at least one stream"],
    );
    // Exec in a container that is not running: 409.
    findings.error(
        "POST /containers/victim/exec {\"Cmd\":[\"true\"]} (not running)",
        &send(
            &daemon,
            "POST",
            "/v1.50/containers/victim/exec",
            Some(r#"{"Cmd":["true"],"AttachStdout":true}"#),
        ),
        409,
        &["not running"],
    );
    // The victim is still there, still "created".
    let answer = send(&daemon, "GET", "/v1.50/containers/victim/json", None);
    let state = answer
        .json()
        .and_then(|j| j["State"]["Status"].as_str().map(String::from));
    findings.check(
        answer.status == 200 && state.as_deref() == Some("created"),
        "GET /containers/victim/json after the bad actions",
        "200 with State.Status \"created\"",
        answer.shown(),
    );
    findings.finish();
}

#[test]
fn privileged_pull_requests_do_not_crash_the_daemon() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    // No registry chapter yet, maybe no network: whatever the outcome, a
    // whole answer (an error as JSON, or a 200 stream whose errors carry
    // errorDetail, fact 10), and the daemon goes on.
    for target in [
        "/v1.50/images/create?fromImage=x&tag=latest",
        "/v1.50/images/create?fromImage=x",
        "/v1.50/images/create?fromImage=..%2F..%2Fetc%2Fpasswd&tag=latest",
        "/v1.50/images/create?fromImage=busybox&tag=..%2F..%2Fx",
        "/v1.50/images/create?fromImage=%00&tag=%00",
    ] {
        let what = format!("POST {target}");
        let answer = send(&daemon, "POST", target, None);
        match answer.status {
            200 => {
                for line in answer.body.lines().filter(|l| !l.trim().is_empty()) {
                    let message: Option<serde_json::Value> = serde_json::from_str(line).ok();
                    let ok = message.as_ref().is_some_and(|m| {
                        m.get("error").is_none() || m.get("errorDetail").is_some()
                    });
                    findings.check(
                        ok,
                        &what,
                        "a stream of JSON messages; an error with errorDetail",
                        format!("{line:?}"),
                    );
                }
            }
            400..=599 => findings.error(&what, &answer, answer.status, &[]),
            _ => findings.defect(&what, "a whole HTTP answer", answer.shown()),
        }
        findings.check(
            daemon.answers_ping(),
            &format!("GET /_ping after {what}"),
            "200",
            "no answer".into(),
        );
    }
    findings.finish();
}

#[test]
fn privileged_features_of_later_chapters_are_refused_with_400() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    let create_with = |name: &str, host_config: &str| {
        send(
            &daemon,
            "POST",
            &format!("/v1.50/containers/create?name={name}"),
            Some(&format!(
                r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{host_config}}}"#
            )),
        )
    };

    // Not a silent success that drops the flag: a 400 that says which
    // chapter brings it (07 network for ports, 08 volumes for mounts).
    for (name, host_config, hints) in [
        (
            "ports",
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}}"#,
            &["chapter 07", "chapter 7", "07-network"][..],
        ),
        (
            "anyport",
            r#"{"PortBindings":{"3000/tcp":[{"HostIp":"","HostPort":""}]}}"#,
            &["chapter 07", "chapter 7", "07-network"],
        ),
        (
            "binds",
            r#"{"Binds":["/tmp:/ctr:ro"]}"#,
            &["chapter 08", "chapter 8", "08-volumes"],
        ),
        (
            "namedvol",
            r#"{"Binds":["myvol:/data"]}"#,
            &["chapter 08", "chapter 8", "08-volumes"],
        ),
        (
            "mounts",
            r#"{"Mounts":[{"Type":"bind","Source":"/tmp","Target":"/b","ReadOnly":true}]}"#,
            &["chapter 08", "chapter 8", "08-volumes"],
        ),
        // Restart policies work; bad ones are refused as dockerd refuses them.
        (
            "restarts",
            r#"{"RestartPolicy":{"Name":"sometimes","MaximumRetryCount":0}}"#,
            &["invalid restart policy"],
        ),
        (
            "alwaysmax",
            r#"{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}"#,
            &["only be used with 'on-failure'"],
        ),
        (
            "negative",
            r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}"#,
            &["cannot be negative"],
        ),
        (
            "autoremove",
            r#"{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}"#,
            &["AutoRemove"],
        ),
    ] {
        findings.error(
            &format!("POST /containers/create HostConfig {host_config}"),
            &create_with(name, host_config),
            400,
            hints,
        );
        findings.check(
            !findings.exists(name),
            &format!("GET /containers/{name}/json"),
            "404: no container from a refused create",
            "it exists".into(),
        );
    }

    // The empty forms the CLI sends on every `docker run` must not trip
    // those refusals (CLI 28.2 sends "PortBindings":{}, "Binds":null,
    // "RestartPolicy":{"Name":"no"}, "LogConfig":{"Type":"","Config":{}}).
    for (name, host_config) in [
        (
            "cliempty",
            r#"{"PortBindings":{},"Binds":null,"Mounts":null,"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"LogConfig":{"Type":"","Config":{}},"NetworkMode":"default"}"#,
        ),
        (
            "emptylists",
            r#"{"PortBindings":null,"Binds":[],"Mounts":[],"RestartPolicy":{"Name":""}}"#,
        ),
    ] {
        findings.status(
            &format!("POST /containers/create HostConfig {host_config}"),
            &create_with(name, host_config),
            201,
        );
    }
    findings.finish();
}

#[test]
fn privileged_out_of_range_settings_get_400_at_create() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    // What dockerd checks before it creates anything (moby:
    // daemon/container.go verifyContainerSettings and
    // daemon_unix.go verifyPlatformContainerResources), each with the
    // words its message must have. A value that overflows must be a 400
    // too, not an arithmetic panic (a 500).
    let cases: [(&str, &str, &[&str]); 14] = [
        (
            "workdir",
            r#""WorkingDir":"rel/dir""#,
            &["working", "absolute"],
        ),
        ("stopsig", r#""StopSignal":"NOPE""#, &["signal"]),
        ("mem1", r#""HostConfig":{"Memory":1}"#, &["memory"]),
        ("memneg", r#""HostConfig":{"Memory":-5}"#, &["memory"]),
        (
            "swapsmall",
            r#""HostConfig":{"Memory":67108864,"MemorySwap":33554432}"#,
            &["swap"],
        ),
        ("cpusneg", r#""HostConfig":{"NanoCpus":-1}"#, &["cpu"]),
        (
            "cpusmillion",
            r#""HostConfig":{"NanoCpus":1000000000000000}"#,
            &["cpu"],
        ),
        (
            "cpusmax",
            r#""HostConfig":{"NanoCpus":9223372036854775807}"#,
            &["cpu"],
        ),
        ("sharesneg", r#""HostConfig":{"CpuShares":-5}"#, &["shares"]),
        (
            "cpuset",
            r#""HostConfig":{"CpusetCpus":"abc"}"#,
            &["cpuset", "abc"],
        ),
        (
            "capadd",
            r#""HostConfig":{"CapAdd":["CAP_NOSUCH"]}"#,
            &["nosuch"],
        ),
        ("shmneg", r#""HostConfig":{"ShmSize":-1}"#, &["shm"]),
        ("oomadj", r#""HostConfig":{"OomScoreAdj":5000}"#, &["oom"]),
        (
            "runtime",
            r#""HostConfig":{"Runtime":"nosuch"}"#,
            &["nosuch"],
        ),
    ];
    for (name, field, hints) in cases {
        let body = format!(r#"{{"Image":"busybox","Cmd":["true"],{field}}}"#);
        findings.error(
            &format!("POST /containers/create {body}"),
            &send(
                &daemon,
                "POST",
                &format!("/v1.50/containers/create?name={name}"),
                Some(&body),
            ),
            400,
            hints,
        );
        findings.check(
            !findings.exists(name),
            &format!("GET /containers/{name}/json"),
            "404: no container from a refused create",
            "it exists".into(),
        );
    }
    findings.finish();
}

#[test]
fn privileged_configs_that_cannot_run_fail_cleanly() {
    let daemon = Daemon::start();
    let mut findings = Findings::new(&daemon);
    // dockerd takes these at create and fails at start (runc's error).
    // Refusing them at create (400) is as good; what is not: a panic, a
    // 204 for a process that cannot be what was asked, or a daemon that
    // stops serving. Each failure says what was wrong.
    let long_hostname = "h".repeat(300);
    let cases = [
        (
            "nulcmd",
            r#""Cmd":["/bin/echo","a\u0000b"]"#.to_string(),
            "NUL",
        ),
        ("nulenv", r#""Env":["A=\u0000b"]"#.to_string(), "NUL"),
        ("nouser", r#""User":"nosuchuser""#.to_string(), "nosuchuser"),
        (
            "biguid",
            r#""User":"99999999999999999999:0""#.to_string(),
            "99999999999999999999",
        ),
        (
            "longhost",
            format!(r#""Hostname":"{long_hostname}""#),
            "hostname",
        ),
        (
            "ulimit",
            r#""HostConfig":{"Ulimits":[{"Name":"nosuch","Soft":1,"Hard":2}]}"#.to_string(),
            "nosuch",
        ),
    ];
    for (name, field, hint) in &cases {
        let body = if field.starts_with(r#""Cmd""#) {
            format!(r#"{{"Image":"busybox",{field}}}"#)
        } else {
            format!(r#"{{"Image":"busybox","Cmd":["true"],{field}}}"#)
        };
        let what = format!("POST /containers/create?name={name} {body:.120}");
        let created = send(
            &daemon,
            "POST",
            &format!("/v1.50/containers/create?name={name}"),
            Some(&body),
        );
        match created.status {
            400 => {
                findings.error(&what, &created, 400, &[hint]);
                continue;
            }
            201 => {}
            _ => {
                findings.defect(
                    &what,
                    "201 (then a start error) or 400 naming the problem",
                    created.shown(),
                );
                continue;
            }
        }
        let started = send(
            &daemon,
            "POST",
            &format!("/v1.50/containers/{name}/start"),
            None,
        );
        let what = format!("POST /containers/{name}/start after 201 for {body:.120}");
        if (400..=599).contains(&started.status) {
            findings.error(&what, &started, started.status, &[hint]);
        } else {
            findings.defect(
                &what,
                "a 4xx/5xx naming the problem (the container cannot run as asked)",
                started.shown(),
            );
        }
    }

    // A command that does not exist: 400 whose message the CLI maps to
    // exit 127 ("no such file or directory" / "executable file not
    // found", engine-api.md §3).
    let body = r#"{"Image":"busybox","Cmd":["/no/such/binary"]}"#;
    let created = send(
        &daemon,
        "POST",
        "/v1.50/containers/create?name=nobinary",
        Some(body),
    );
    findings.status(&format!("POST /containers/create {body}"), &created, 201);
    if created.status == 201 {
        findings.error(
            &format!("POST /containers/nobinary/start for {body}"),
            &send(&daemon, "POST", "/v1.50/containers/nobinary/start", None),
            400,
            &["no such file or directory", "executable file not found"],
        );
    }
    findings.finish();
}
