//! Chapter 01's HTTP over mutual TLS, in one process: a `Server` on a TLS
//! listener, our `Client` with and without the right certificate, and a
//! hijacked stream's half-close through both pump threads. The certificates
//! come from scripts/make-certs.sh (it needs openssl).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use api::http::{
    Client, ClientFlags, ClientTls, Host, Listener, Response, Router, Server, ServerTls,
};

/// One set of certificates for the whole test run.
fn certs() -> &'static Path {
    static CERTS: OnceLock<tempfile::TempDir> = OnceLock::new();
    CERTS
        .get_or_init(|| {
            // In cargo's target/tmp: kept after the run (a static is
            // never dropped), and gone with `cargo clean`.
            let dir = tempfile::Builder::new()
                .prefix("tls-certs")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-certs.sh");
            let out = Command::new(script).arg(dir.path()).output().unwrap();
            assert!(
                out.status.success(),
                "make-certs.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            dir
        })
        .path()
}

fn cert(name: &str) -> PathBuf {
    certs().join(name)
}

/// A TLS daemon in a thread: `/_ping`, and `/shout`, a hijacked stream
/// that answers what it reads, upper-cased, once the client has finished.
fn serve(client_ca: Option<&Path>) -> String {
    let tls = ServerTls::new(&cert("server-cert.pem"), &cert("server-key.pem"), client_ca).unwrap();
    let listener = Listener::bind_tls(&Host::Tcp("127.0.0.1:0".into()), tls).unwrap();
    let Host::Tcp(addr) = listener.host() else {
        unreachable!("a TCP listener")
    };
    let mut router = Router::new();
    router.add("GET", "/_ping", |_| {
        Ok(Response::text(200, "text/plain", "OK"))
    });
    router.add("POST", "/shout", |_| {
        Ok(Response::upgrade(
            "application/vnd.docker.raw-stream",
            |mut stream| {
                let mut said = String::new();
                // Until the client's half-close: its close_notify, through both pumps.
                stream.reader.read_to_string(&mut said).unwrap();
                stream
                    .writer
                    .write_all(said.to_uppercase().as_bytes())
                    .unwrap();
                let _ = stream.writer.shutdown(Shutdown::Both);
            },
        ))
    });
    let server = Arc::new(Server::new(router));
    std::thread::spawn(move || server.serve(listener));
    addr
}

fn client(addr: &str, ca: Option<&Path>, identity: Option<(&str, &str)>) -> Client {
    let identity = identity.map(|(c, k)| (cert(c), cert(k)));
    let identity = identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
    Client::new(Host::Tls(
        addr.to_string(),
        ClientTls::new(ca, identity).unwrap(),
    ))
}

fn error_of(client: &mut Client) -> String {
    match client.negotiate() {
        Ok(v) => panic!("the handshake should fail, but the daemon answered (API {v})"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn from_flags_pings_a_tls_daemon_and_a_hijacked_stream_half_closes() {
    let addr = serve(Some(&cert("ca.pem")));
    let flags = ClientFlags {
        host: Some(format!("tcp://{addr}")),
        tlsverify: true,
        tlscacert: Some(cert("ca.pem")),
        tlscert: Some(cert("cert.pem")),
        tlskey: Some(cert("key.pem")),
        ..ClientFlags::default()
    };
    let mut client = Client::from_flags(&flags, "unix:///nonexistent.sock").unwrap();
    assert!(
        matches!(client.host(), Host::Tls(..)),
        "{:?}",
        client.host()
    );
    client.negotiate().unwrap();

    let mut stream = client.hijack("/shout").unwrap();
    stream.writer.write_all(b"hello over tls\n").unwrap();
    stream.writer.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.reader.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "HELLO OVER TLS\n");
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let addr = serve(Some(&cert("ca.pem")));
    let message = error_of(&mut client(&addr, Some(&cert("ca.pem")), None));
    assert!(
        message.contains("requires a client certificate"),
        "{message}"
    );
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let addr = serve(Some(&cert("ca.pem")));
    let stranger = Some(("other-ca/cert.pem", "other-ca/key.pem"));
    let message = error_of(&mut client(&addr, Some(&cert("ca.pem")), stranger));
    assert!(
        message.contains("does not accept our certificate"),
        "{message}"
    );
}

#[test]
fn the_client_refuses_a_daemon_its_ca_did_not_sign() {
    let addr = serve(Some(&cert("ca.pem")));
    let mine = Some(("cert.pem", "key.pem"));
    let message = error_of(&mut client(&addr, Some(&cert("other-ca/signer.pem")), mine));
    assert!(message.contains("not signed by our CA"), "{message}");
}

#[test]
fn tls_without_verify_trusts_any_daemon_and_tls_alone_lets_anyone_in() {
    // docker --tls: encrypted, the daemon's certificate not checked.
    let addr = serve(Some(&cert("ca.pem")));
    client(&addr, None, Some(("cert.pem", "key.pem")))
        .negotiate()
        .unwrap();
    // dockerd --tls without --tlsverify: no client certificate asked for.
    let open = serve(None);
    client(&open, Some(&cert("ca.pem")), None)
        .negotiate()
        .unwrap();
}

#[test]
fn a_server_certificate_cannot_log_in_as_a_client() {
    // Signed by the right CA, but its extendedKeyUsage is serverAuth only.
    let addr = serve(Some(&cert("ca.pem")));
    let server_cert = Some(("server-cert.pem", "server-key.pem"));
    let message = error_of(&mut client(&addr, Some(&cert("ca.pem")), server_cert));
    assert!(
        message.contains("does not accept our certificate"),
        "{message}"
    );
}
