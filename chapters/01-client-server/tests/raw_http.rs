//! Bad input and protocol details, sent byte by byte over the raw socket.
//! After each bad request the daemon must still serve others.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::Daemon;

fn connect(daemon: &Daemon) -> UnixStream {
    let s = UnixStream::connect(&daemon.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends raw bytes, reads until the daemon closes, returns the text.
fn exchange(daemon: &Daemon, request: &[u8]) -> String {
    let mut s = connect(daemon);
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

/// The daemon still answers a normal request.
fn still_serving(daemon: &Daemon) {
    let answer = exchange(
        daemon,
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("OK"),
        "{answer}"
    );
}

fn assert_json_error(answer: &str, status: &str, message_part: &str) {
    assert!(
        status_line(answer).starts_with(&format!("HTTP/1.1 {status}")),
        "{answer}"
    );
    assert!(
        answer.contains("Content-Type: application/json"),
        "{answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains(message_part),
        "{message:?} should contain {message_part:?}"
    );
}

#[test]
fn malformed_request_lines_and_headers() {
    let daemon = Daemon::start();
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /_ping HTTP/9.9\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nBad Name: x\r\n\r\n",
    ] {
        let answer = exchange(&daemon, bad);
        assert_json_error(&answer, "400", "malformed request");
    }
    still_serving(&daemon);
}

#[test]
fn oversize_heads_and_too_many_headers_get_431() {
    let daemon = Daemon::start();
    let mut huge = b"GET /_ping HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 70 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    assert_json_error(&exchange(&daemon, &huge), "431", "larger than 64 KiB");

    let mut many = b"GET /_ping HTTP/1.1\r\n".to_vec();
    for i in 0..150 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_json_error(&exchange(&daemon, &many), "431", "too many header fields");
    still_serving(&daemon);
}

#[test]
fn bodies_bad_json_oversize_and_bad_framing() {
    let daemon = Daemon::start();
    let post = |body: &str| {
        format!(
            "POST /v1.50/containers/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    assert_json_error(
        &exchange(&daemon, post("{not json").as_bytes()),
        "400",
        "invalid JSON body",
    );
    assert_json_error(
        &exchange(&daemon, post(r#"{"Cmd": 5}"#).as_bytes()),
        "400",
        "invalid JSON body",
    );
    assert_json_error(
        &exchange(&daemon, post("").as_bytes()),
        "400",
        "config cannot be empty",
    );
    assert_json_error(
        &exchange(&daemon, post(r#"{"Image":"x"}"#).as_bytes()),
        "400",
        "no command specified",
    );

    // 5 MiB of JSON: more than a create request can need.
    let big = format!("{{\"Cmd\":[\"{}\"]}}", "a".repeat(5 * 1024 * 1024));
    assert_json_error(
        &exchange(&daemon, post(&big).as_bytes()),
        "413",
        "larger than",
    );

    for bad in [
        &b"POST /containers/create HTTP/1.1\r\nContent-Length: nope\r\n\r\n"[..],
        b"POST /containers/create HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let answer = exchange(&daemon, bad);
        assert!(status_line(&answer).starts_with("HTTP/1.1 400"), "{answer}");
    }
    let bad_chunks = b"POST /containers/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n";
    assert_json_error(&exchange(&daemon, bad_chunks), "400", "invalid chunk size");
    still_serving(&daemon);
}

#[test]
fn chunked_request_body_is_decoded() {
    let daemon = Daemon::start();
    let json = r#"{"Cmd":["true"],"Image":"busybox"}"#;
    let (a, b) = json.split_at(10);
    let request = format!(
        "POST /v1.50/containers/create?name=chunky HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let answer = exchange(&daemon, request.as_bytes());
    assert!(status_line(&answer).starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"Id\":"), "{answer}");
}

#[test]
fn unknown_routes_methods_and_versions() {
    let daemon = Daemon::start();
    assert_json_error(
        &exchange(
            &daemon,
            b"GET /plugins/x/json HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        "404",
        "page not found",
    );
    let answer = exchange(
        &daemon,
        b"DELETE /_ping HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_json_error(&answer, "405", "not allowed");
    assert!(answer.contains("Allow: GET"), "{answer}");
    assert_json_error(
        &exchange(
            &daemon,
            b"GET /v1.99/version HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        "400",
        "too new",
    );
    assert_json_error(
        &exchange(
            &daemon,
            b"GET /v1.12/version HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        "400",
        "too old",
    );
    assert_json_error(
        &exchange(
            &daemon,
            b"GET /v1.41/containers/nope/json HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        "404",
        "No such container: nope",
    );
    assert_json_error(
        &exchange(
            &daemon,
            b"GET /containers/json?filters=%7Bbad HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        "400",
        "invalid filter",
    );
    still_serving(&daemon);
}

#[test]
fn ping_headers_and_keep_alive() {
    let daemon = Daemon::start();
    let mut s = connect(&daemon);
    // Two requests on one connection, the second one pipelined after a HEAD.
    s.write_all(b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /v1.50/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let responses: Vec<&str> = answer
        .split("HTTP/1.1 ")
        .filter(|r| !r.is_empty())
        .collect();
    assert_eq!(responses.len(), 2, "{answer}");
    assert!(
        responses[0].starts_with("200 OK") && responses[0].contains("Api-Version: 1.50"),
        "{answer}"
    );
    assert!(
        responses[0].contains("Ostype: linux")
            && responses[0].contains("Docker-Experimental: false")
    );
    assert!(
        responses[0].ends_with("\r\n\r\n"),
        "HEAD has no body: {answer}"
    );
    assert!(responses[1].ends_with("\r\n\r\nOK"), "{answer}");
}

#[test]
fn http10_client_gets_a_closed_connection() {
    let daemon = Daemon::start();
    let answer = exchange(&daemon, b"GET /_ping HTTP/1.0\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 200 OK")
            && answer.contains("Connection: close")
            && answer.ends_with("OK")
    );
}

#[test]
fn truncated_request_and_mid_stream_disconnect() {
    let daemon = Daemon::start();
    // Half a head, then gone.
    let mut s = connect(&daemon);
    s.write_all(b"GET /_pi").unwrap();
    drop(s);
    // A body shorter than its Content-Length, then gone.
    let mut s = connect(&daemon);
    s.write_all(b"POST /containers/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"Cmd\"")
        .unwrap();
    drop(s);

    // A follower of a long-running container's logs that hangs up.
    let created = daemon.docker(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.05; done",
    ]);
    assert!(created.status.success());
    let mut s = connect(&daemon);
    s.write_all(b"GET /containers/chatty/logs?stdout=1&follow=1 HTTP/1.1\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 64];
    let n = s.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200 OK"));
    drop(s);
    common::eventually("the daemon notices the follower left", || {
        daemon
            .log()
            .contains("client left before the end of the stream")
    });
    still_serving(&daemon);
    assert!(daemon.docker(&["rm", "-f", "chatty"]).status.success());
}

#[test]
fn attach_hijack_is_101_with_frames() {
    let daemon = Daemon::start();
    let id = common::stdout(&daemon.docker(&[
        "create",
        "--name",
        "framed",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]));
    let id = id.trim();
    let mut s = connect(&daemon);
    let request = format!(
        "POST /v1.50/containers/{id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    assert!(
        !head.contains("Content-Length") && !head.contains("Transfer-Encoding"),
        "{head}"
    );
    assert!(daemon.docker(&["start", "framed"]).status.success());
    let mut stream = Vec::new();
    s.read_to_end(&mut stream).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    api::stdcopy::demultiplex(&mut stream.as_slice(), &mut out, &mut err).unwrap();
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"out\n"[..], &b"err\n"[..])
    );
}
