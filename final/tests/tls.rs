//! minidockerd over TCP with mutual TLS (`--tlsverify`): the real `docker`
//! CLI with `DOCKER_TLS_VERIFY=1` and a client certificate gets in, and runs
//! a container through a hijacked attach that crosses the TLS pump; a client
//! without a certificate, or with one from another CA, is refused, and the
//! daemon says why in one line; a network address without `--tlsverify` is
//! refused at start. Our own client (`Client::from_flags`) gets in too.
//!
//! The certificates come from scripts/make-certs.sh, once per test run.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use api::http::{Client, ClientFlags};
use common::{Daemon, MINIDOCKERD, stderr, stdout};

/// The certificates of this test run, in cargo's target/tmp: kept after
/// the run (a static is never dropped), and gone with `cargo clean`.
fn certs() -> &'static Path {
    static CERTS: OnceLock<tempfile::TempDir> = OnceLock::new();
    CERTS
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("tls-certs")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-certs.sh");
            let out = Command::new(script).arg(dir.path()).output().unwrap();
            assert!(out.status.success(), "make-certs.sh: {}", stderr(&out));
            dir
        })
        .path()
}

fn cert(name: &str) -> String {
    certs().join(name).display().to_string()
}

/// A port nobody listens on: the kernel picks one for a socket that is
/// closed again at once.
fn free_port() -> u16 {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// minidockerd on its Unix socket and on `tcp://ADDR:PORT` with mutual TLS.
/// It binds every socket before it prints its first "API listen on" line,
/// which `Daemon::start_with` waits for.
fn tls_daemon(addr: &str) -> (Daemon, u16) {
    let port = free_port();
    let host = format!("tcp://{addr}:{port}");
    let (ca, server_cert, server_key) = (
        cert("ca.pem"),
        cert("server-cert.pem"),
        cert("server-key.pem"),
    );
    let d = Daemon::start_with(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &server_cert,
        "--tlskey",
        &server_key,
    ]);
    (d, port)
}

/// The docker CLI over TLS, its certificates in `cert_path`, as a user
/// sets it up: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
fn docker_tls(d: &Daemon, port: u16, cert_path: &Path, args: &[&str]) -> Output {
    docker_tls_with_input(d, port, cert_path, args, None)
}

/// The same, with `input` on docker's stdin.
fn docker_tls_with_input(
    d: &Daemon,
    port: u16,
    cert_path: &Path,
    args: &[&str],
    input: Option<Vec<u8>>,
) -> Output {
    let mut child = d
        .docker_command(args)
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", cert_path)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running docker");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        // A thread: the output must be read while the input is written.
        std::thread::spawn(move || stdin.write_all(&input));
    }
    common::wait_output(child, &format!("docker {}", args.join(" ")), d)
}

#[test]
fn privileged_the_docker_cli_runs_a_container_over_mutual_tls() {
    let (d, port) = tls_daemon("127.0.0.1");
    let out = docker_tls(&d, port, certs(), &["version"]);
    assert!(
        out.status.success() && stdout(&out).contains("Server:"),
        "docker version over TLS: {}\n{}\ndaemon log:\n{}",
        stdout(&out),
        stderr(&out),
        d.log_text()
    );
    // create, attach (hijacked: both directions through the pump thread),
    // wait, start: `hi` comes back through TLS.
    let out = docker_tls(&d, port, certs(), &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(
        stdout(&out),
        "hi\n",
        "{}\ndaemon log:\n{}",
        stderr(&out),
        d.log_text()
    );
    assert!(out.status.success());
    // stdin too, and its end: the CLI's close_notify, passed on by the
    // pump as the end of `cat`'s input. 4 MiB, so that both directions
    // fill their buffers and wait on each other.
    let input: Vec<u8> = (0..4u32 << 20).map(|i| (i * 7 + i / 4099) as u8).collect();
    let out = docker_tls_with_input(
        &d,
        port,
        certs(),
        &["run", "-i", "--rm", "busybox", "cat"],
        Some(input.clone()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout == input,
        "cat gave back {} bytes of {}",
        out.stdout.len(),
        input.len()
    );
}

/// The engine's own CLI over TLS: as docker, from DOCKER_TLS_VERIFY and
/// DOCKER_CERT_PATH, or from the same flags on its command line.
#[test]
fn privileged_minidocker_runs_a_container_over_mutual_tls() {
    let (_daemon, port) = tls_daemon("127.0.0.1");
    let minidocker = env!("CARGO_BIN_EXE_minidocker");
    let out = Command::new(minidocker)
        .args(["run", "--rm", "busybox", "echo", "hi over tls"])
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", certs())
        .output()
        .unwrap();
    assert!(
        out.status.success() && stdout(&out) == "hi over tls\n",
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let (ca, cert_file, key) = (cert("ca.pem"), cert("cert.pem"), cert("key.pem"));
    let host = format!("tcp://127.0.0.1:{port}");
    let flags = [
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert_file,
        "--tlskey",
        &key,
    ];
    let out = Command::new(minidocker)
        .args(flags)
        .args(["version", "--format", "{{.Server.Platform.Name}}"])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success() && stdout(&out).contains("minidocker"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Without a certificate of its own: refused by the daemon.
    let out = Command::new(minidocker)
        .args(["-H", &host, "--tlsverify", "--tlscacert", &ca, "ps"])
        .env_remove("DOCKER_CERT_PATH")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn privileged_a_client_without_a_certificate_is_refused() {
    let (d, port) = tls_daemon("127.0.0.1");
    // DOCKER_CERT_PATH with ca.pem only: the CLI checks the daemon, but has
    // no certificate of its own to show.
    let only_ca = tempfile::tempdir().unwrap();
    std::fs::copy(cert("ca.pem"), only_ca.path().join("ca.pem")).unwrap();
    let out = docker_tls(&d, port, only_ca.path(), &["version"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("certificate required"),
        "{}",
        stderr(&out)
    );
    let line = d.wait_for_log_line("the client sent no certificate");
    assert!(line.contains("--tlscacert"), "{line}");
}

/// `curl https://127.0.0.1:PORT/_ping`, trusting our CA, showing the
/// certificate and key given.
fn curl_ping(d: &Daemon, port: u16, cert_and_key: (&str, &str)) -> Output {
    let child = Command::new("curl")
        .args(["-sS", "--max-time", "60", "--cacert", &cert("ca.pem")])
        .args([
            "--cert",
            &cert(cert_and_key.0),
            "--key",
            &cert(cert_and_key.1),
        ])
        .arg(format!("https://127.0.0.1:{port}/_ping"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running curl");
    common::wait_output(child, "curl", d)
}

#[test]
fn privileged_a_certificate_from_another_ca_is_refused() {
    let (d, port) = tls_daemon("127.0.0.1");
    // ca.pem is the daemon's CA; cert.pem is signed by another one. The
    // daemon's certificate request names the CAs it accepts, and Go's TLS
    // client (the docker CLI's) then does not even offer a certificate
    // none of them signed: refused for want of one.
    let out = docker_tls(&d, port, &certs().join("other-ca"), &["version"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("certificate required"),
        "{}",
        stderr(&out)
    );
    // curl (OpenSSL) shows the certificate it is given: the daemon checks it.
    let out = curl_ping(&d, port, ("other-ca/cert.pem", "other-ca/key.pem"));
    assert!(!out.status.success(), "{}", stdout(&out));
    d.wait_for_log_line("the client's certificate is not signed by the daemon's --tlscacert");
    // And with the right one, curl gets in.
    let out = curl_ping(&d, port, ("cert.pem", "key.pem"));
    assert_eq!(stdout(&out), "OK", "{}", stderr(&out));
}

#[test]
fn privileged_our_client_from_flags_over_tls_on_all_addresses() {
    // With --tlsverify, a network address is allowed.
    let (d, port) = tls_daemon("0.0.0.0");
    d.wait_for_log_line(&format!("API listen on tcp://0.0.0.0:{port}"));
    let mut flags = ClientFlags {
        host: Some(format!("tcp://127.0.0.1:{port}")),
        tlsverify: true,
        tlscacert: Some(PathBuf::from(cert("ca.pem"))),
        tlscert: Some(PathBuf::from(cert("cert.pem"))),
        tlskey: Some(PathBuf::from(cert("key.pem"))),
        ..ClientFlags::default()
    };
    let mut client = Client::from_flags(&flags, "unix:///nonexistent.sock").unwrap();
    client.negotiate().unwrap();
    let info: serde_json::Value = client.get_json("/info").unwrap();
    assert!(info["ID"].is_string(), "{info}");

    flags.tlscert = Some(PathBuf::from(cert("other-ca/cert.pem")));
    flags.tlskey = Some(PathBuf::from(cert("other-ca/key.pem")));
    let mut stranger = Client::from_flags(&flags, "unix:///nonexistent.sock").unwrap();
    let error = format!("{:#}", stranger.negotiate().unwrap_err());
    assert!(error.contains("does not accept our certificate"), "{error}");
}

/// `minidockerd ARGS` that must fail at once; its stderr.
fn refused(args: &[&str]) -> String {
    common::require_root();
    let out = Command::new(MINIDOCKERD)
        .args(args)
        .args(["--data-root", "/nonexistent-md-tls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!Path::new("/nonexistent-md-tls").exists());
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    message
}

#[test]
fn privileged_a_network_address_needs_tlsverify() {
    let message = refused(&["-H", "tcp://0.0.0.0:2376"]);
    assert!(
        message.contains("anyone who reaches this port could run containers as root")
            && message.contains("--tlsverify")
            && message.contains("make-certs.sh"),
        "{message}"
    );
    // Encryption alone says nothing of who is asking.
    let (server_cert, server_key) = (cert("server-cert.pem"), cert("server-key.pem"));
    let args = [
        "-H",
        "tcp://0.0.0.0:2376",
        "--tls",
        "--tlscert",
        &server_cert,
    ];
    let message = refused(&[&args[..], &["--tlskey", &server_key]].concat());
    assert!(message.contains("without --tlsverify"), "{message}");
    // A missing file: its path, and how to make one.
    let message = refused(&[
        "-H",
        "tcp://127.0.0.1:2376",
        "--tlsverify",
        "--tlscacert",
        "/nonexistent/ca.pem",
        "--tlscert",
        &server_cert,
        "--tlskey",
        &server_key,
    ]);
    assert!(
        message.contains("/nonexistent/ca.pem") && message.contains("make-certs.sh"),
        "{message}"
    );
}
