//! TLS for the Engine API over TCP, as dockerd's `--tlsverify`: the daemon
//! shows a certificate signed by a CA, and lets in only clients that show
//! one signed by the same CA (mutual TLS).
//!
//! The rest of chapter 01 never sees TLS. A TLS connection reaches it as one
//! end of a Unix socket pair; a pump thread owns the TCP socket and the
//! rustls state, and copies plaintext between the pair's other end and the
//! TLS stream. Why: a hijacked connection (attach, `exec -it`) is used by two
//! threads at once, one reading stdin while the other writes stdout, so the
//! code clones it. A socket can be cloned (a second file descriptor on the
//! same socket); a rustls connection cannot: it is one state machine, and
//! its records must leave in order. Behind the pair, `try_clone`, half-close
//! (`shutdown(Write)`) and read timeouts work as on a plain socket.
//!
//! moby does the same job with Go's crypto/tls in `go-connections/tlsconfig`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, send};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore, ServerConfig};

/// The daemon's side: its certificate, and whom it lets in.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

/// The client's side: which CA it trusts, and the certificate it shows.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    verifies_server: bool,
}

/// The cryptography: ring's. rustls 0.23.48 marks it deprecated because
/// ring has no post-quantum key exchange (X25519MLKEM768); aws-lc-rs has
/// one, but building it needs cmake. Both ends then agree on X25519.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

// ANCHOR: server_config
impl ServerTls {
    /// dockerd's `--tlscert`, `--tlskey` and, with `--tlsverify`, `--tlscacert`:
    /// a client without a certificate signed by `client_ca` fails the
    /// handshake. `client_ca: None` is `--tls` alone: encrypted, and open to
    /// anyone who reaches the port.
    pub fn new(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<ServerTls> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match client_ca {
            Some(ca) => {
                let roots = Arc::new(load_roots(ca, "--tlscacert")?);
                // Checks the client's chain up to `roots`, its dates, and that
                // it may be used for client authentication (extendedKeyUsage
                // clientAuth): a server certificate cannot log in.
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                    .build()
                    .context("the client CA (--tlscacert)")?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(load_certs(cert, "--tlscert")?, load_key(key, "--tlskey")?)
            .with_context(|| {
                format!(
                    "{} and {} do not go together",
                    cert.display(),
                    key.display()
                )
            })?;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }
    // ANCHOR_END: server_config

    /// Takes over an accepted connection. The handshake happens in the
    /// connection's pump thread, so a slow or silent client holds up nobody
    /// else; if it fails, the first read on the returned stream says why.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        let tls =
            rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(io::Error::other)?;
        TlsStream::start(tcp, tls.into(), Side::Server)
    }
}

impl ClientTls {
    /// `ca: None` is docker's `--tls` without `--tlsverify`: the daemon's
    /// certificate is not checked, so the connection is encrypted but could
    /// be with anyone. `identity` is the client's certificate and key.
    pub fn new(ca: Option<&Path>, identity: Option<(&Path, &Path)>) -> anyhow::Result<ClientTls> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match ca {
            Some(ca) => builder.with_root_certificates(load_roots(ca, "--tlscacert")?),
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer(provider()))),
        };
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(load_certs(cert, "--tlscert")?, load_key(key, "--tlskey")?)
                .with_context(|| {
                    format!(
                        "{} and {} do not go together",
                        cert.display(),
                        key.display()
                    )
                })?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            verifies_server: ca.is_some(),
        })
    }

    /// Starts TLS on a dialled connection to `addr` (HOST:PORT). The
    /// daemon's certificate must name HOST: an IP address in its
    /// subjectAltName for `tcp://127.0.0.1:2376`, a DNS name otherwise.
    pub fn connect(&self, tcp: TcpStream, addr: &str) -> io::Result<TlsStream> {
        let host = match addr.rsplit_once(':') {
            Some((host, _port)) => host.trim_start_matches('[').trim_end_matches(']'),
            None => addr,
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?}: {e}")))?;
        let tls = rustls::ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(io::Error::other)?;
        TlsStream::start(tcp, tls.into(), Side::Client)
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("verifies_server", &self.verifies_server)
            .finish_non_exhaustive()
    }
}

/// Two settings are the same when they are the same loaded files.
impl PartialEq for ClientTls {
    fn eq(&self, other: &ClientTls) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ClientTls {}

/// Reads a PEM file, saying which flag named it and how to make one.
fn read_pem(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "{flag} {}: cannot read it: make a CA and certificates with scripts/make-certs.sh DIR, \
             then name them with {flag} (or, for the docker CLI, DOCKER_CERT_PATH=DIR)",
            path.display()
        )
    })
}

fn load_certs(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(&read_pem(path, flag)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}: not a PEM certificate", path.display()))?;
    if certs.is_empty() {
        bail!("{flag} {}: no CERTIFICATE block in it", path.display());
    }
    Ok(certs)
}

fn load_key(path: &Path, flag: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(&read_pem(path, flag)?)
        .with_context(|| format!("{flag} {}: no PEM private key in it", path.display()))
}

fn load_roots(path: &Path, flag: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, flag)? {
        roots
            .add(cert)
            .with_context(|| format!("{flag} {}: not a usable CA certificate", path.display()))?;
    }
    Ok(roots)
}

/// docker `--tls` without `--tlsverify`: any server certificate will do.
/// The handshake's signatures are still checked (the server must hold the
/// key of the certificate it shows); only who signed that certificate is not.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Client,
    Server,
}

/// The plaintext end of a TLS connection: a Unix socket whose other end
/// the pump thread joins to the TLS stream.
#[derive(Debug)]
pub struct TlsStream {
    plain: UnixStream,
    peer: SocketAddr,
    /// Why the pump stopped, if it failed: set before the pump closes its
    /// end, so a read that sees the end of the stream can say why.
    failure: Arc<OnceLock<String>>,
}

impl TlsStream {
    // ANCHOR: start
    fn start(tcp: TcpStream, mut tls: rustls::Connection, side: Side) -> io::Result<TlsStream> {
        let peer = tcp.peer_addr()?;
        let (plain, mut pump_end) = UnixStream::pair()?;
        // Both sockets nonblocking, for the pump alone: each end of a pair is
        // its own open file, so `plain` stays blocking for the code using it.
        tcp.set_nonblocking(true)?;
        pump_end.set_nonblocking(true)?;
        // The pump writes each TLS record as soon as it has it: Nagle's
        // algorithm would hold a keystroke's record back until the previous
        // one is acknowledged (Go, the docker CLI's language, turns it off too).
        tcp.set_nodelay(true)?;
        let failure = Arc::new(OnceLock::new());
        let failed = Arc::clone(&failure);
        let mut tcp = tcp;
        std::thread::Builder::new()
            .name(format!("tls {peer}"))
            .spawn(move || {
                if let Err(why) = pump(&mut tls, &mut tcp, &mut pump_end) {
                    let _ = failed.set(explain(&why, side, peer));
                }
                // Dropping `pump_end` now: the code on `plain` reads the end.
            })?;
        Ok(TlsStream {
            plain,
            peer,
            failure,
        })
    }
    // ANCHOR_END: start

    pub fn try_clone(&self) -> io::Result<TlsStream> {
        Ok(TlsStream {
            plain: self.plain.try_clone()?,
            peer: self.peer,
            failure: Arc::clone(&self.failure),
        })
    }

    /// `Shutdown::Write` becomes a TLS close_notify and a TCP FIN to the peer.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.plain.shutdown(how)
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.plain.set_read_timeout(timeout)
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The pump's failure, if it had one, in place of a plain end of stream
    /// or broken pipe.
    fn failed(&self) -> Option<io::Error> {
        let why = self.failure.get()?;
        Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            why.clone(),
        ))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.plain.read(buf) {
            Ok(0) if !buf.is_empty() => self.failed().map_or(Ok(0), Err),
            Err(e) => Err(self.failed().unwrap_or(e)),
            ok => ok,
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.plain
            .write(buf)
            .map_err(|e| self.failed().unwrap_or(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.plain.flush()
    }
}

/// Why a pump stopped.
enum PumpError {
    Tls(rustls::Error),
    Io(&'static str, io::Error),
    ClosedInHandshake,
}

/// What a pump moves at once: a TLS record holds at most 16 KiB.
const CHUNK: usize = 16 * 1024;

/// Copies plaintext between `plain` (the pump's end of the pair) and the
/// TLS stream on `tcp`, until both directions are closed.
struct Pump<'a> {
    tls: &'a mut rustls::Connection,
    tcp: &'a mut TcpStream,
    plain: &'a mut UnixStream,
    buf: Vec<u8>,
    /// From the peer, not yet written to `plain`.
    inbound: Vec<u8>,
    /// `plain`'s side wrote its last byte (EOF read): close_notify queued.
    plain_eof: bool,
    /// The peer wrote its last byte (close_notify, or a TCP FIN).
    peer_eof: bool,
    /// Nobody reads from the pair any more: what the peer sends is dropped.
    plain_gone: bool,
    /// Our write side of `tcp`, of `plain`, shut down.
    tcp_shut: bool,
    plain_shut: bool,
}

/// What one turn of the pump tries; each a nonblocking call.
struct Moves {
    read_tcp: bool,
    write_tcp: bool,
    read_plain: bool,
    write_plain: bool,
}

fn pump(
    tls: &mut rustls::Connection,
    tcp: &mut TcpStream,
    plain: &mut UnixStream,
) -> Result<(), PumpError> {
    Pump {
        tls,
        tcp,
        plain,
        buf: vec![0; CHUNK],
        inbound: Vec::new(),
        plain_eof: false,
        peer_eof: false,
        plain_gone: false,
        tcp_shut: false,
        plain_shut: false,
    }
    .run()
}

impl Pump<'_> {
    // ANCHOR: pump
    fn run(mut self) -> Result<(), PumpError> {
        loop {
            if self.tls.is_handshaking() && self.peer_eof {
                return Err(PumpError::ClosedInHandshake);
            }
            if self.tls.is_handshaking() && self.plain_gone {
                return Ok(()); // nobody waits for this connection any more
            }
            if self.pass_on_ends() {
                return Ok(());
            }
            let moves = Moves {
                read_tcp: !self.peer_eof && self.inbound.is_empty(),
                write_tcp: self.tls.wants_write() && !self.tcp_shut,
                // Plaintext only after the handshake, and one record at a
                // time: no more until the last one has gone out.
                read_plain: !self.plain_eof
                    && !self.tls.is_handshaking()
                    && !self.tls.wants_write(),
                write_plain: !self.inbound.is_empty(),
            };
            self.wait(&moves)?;
            if moves.write_tcp {
                self.send_records()?;
            }
            if moves.read_tcp {
                self.receive_records()?;
            }
            if moves.write_plain && !self.plain_gone {
                self.deliver();
            }
            if moves.read_plain {
                self.encrypt()?;
            }
        }
    }
    // ANCHOR_END: pump

    // ANCHOR: ends
    /// Passes each side's end on to the other once everything it sent
    /// before has gone through; true when both directions are closed.
    fn pass_on_ends(&mut self) -> bool {
        // The peer's last byte has reached `plain`: the code there reads
        // EOF (a hijacked stream's "stdin is done").
        if self.peer_eof && self.inbound.is_empty() && !self.plain_shut && !self.plain_gone {
            let _ = self.plain.shutdown(Shutdown::Write);
            self.plain_shut = true;
        }
        // `plain` has ended, and the close_notify queued then is sent: now
        // the TCP FIN. The peer may go on sending: TLS 1.3 closes each
        // direction on its own (RFC 8446, 6.1).
        if self.plain_eof && !self.tls.wants_write() && !self.tcp_shut {
            let _ = self.tcp.shutdown(Shutdown::Write);
            self.tcp_shut = true;
        }
        self.tcp_shut && (self.plain_shut || self.plain_gone)
    }
    // ANCHOR_END: ends

    /// Sleeps in poll(2) until one of the moves may go through.
    fn wait(&mut self, moves: &Moves) -> Result<(), PumpError> {
        let flags = |read: bool, write: bool| {
            let mut flags = PollFlags::empty();
            flags.set(PollFlags::POLLIN, read);
            flags.set(PollFlags::POLLOUT, write);
            flags
        };
        let mut fds = Vec::with_capacity(2);
        let tcp_events = flags(moves.read_tcp, moves.write_tcp);
        if !tcp_events.is_empty() {
            fds.push(PollFd::new(self.tcp.as_fd(), tcp_events));
        }
        // POLLHUP on a Unix stream socket: the other end has shut down both
        // directions (closed, or `shutdown(Both)`). poll reports it even
        // when asked for nothing, so `plain` stays in the set to notice it;
        // once noticed, only while there is still data to read from it.
        let watch_plain = !self.plain_gone || moves.read_plain;
        if watch_plain {
            let events = flags(moves.read_plain, moves.write_plain);
            fds.push(PollFd::new(self.plain.as_fd(), events));
        }
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(PumpError::Io("waiting", e.into())),
                Ok(_) => break,
            }
        }
        let plain_hup = watch_plain
            && fds
                .last()
                .and_then(|fd| fd.revents())
                .is_some_and(|r| r.contains(PollFlags::POLLHUP));
        drop(fds);
        if plain_hup {
            self.lose_plain();
        }
        Ok(())
    }

    fn lose_plain(&mut self) {
        self.plain_gone = true;
        self.inbound.clear();
    }

    /// Records rustls has ready (handshake, data, alerts) onto the wire.
    fn send_records(&mut self) -> Result<(), PumpError> {
        match self.tls.write_tls(self.tcp) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(PumpError::Io("sending", e)),
            _ => Ok(()),
        }
    }

    /// Records from the wire into rustls, and their plaintext into `inbound`.
    fn receive_records(&mut self) -> Result<(), PumpError> {
        match self.tls.read_tls(self.tcp) {
            Ok(0) => self.peer_eof = true, // TCP FIN
            Ok(_) => {
                if let Err(e) = self.tls.process_new_packets() {
                    // rustls has queued the alert that tells the peer why.
                    let _ = self.tls.write_tls(self.tcp);
                    return Err(PumpError::Tls(e));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(PumpError::Io("receiving", e)),
        }
        loop {
            match self.tls.reader().read(&mut self.buf) {
                // close_notify: the peer's last byte. The docker CLI sends it
                // when its input ends (Go's `tls.Conn.CloseWrite`).
                Ok(0) => break self.peer_eof = true,
                Ok(n) => self.inbound.extend_from_slice(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // A FIN without close_notify: the peer closed its socket
                // without ending TLS first, as many do; an end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break self.peer_eof = true,
                Err(e) => return Err(PumpError::Io("receiving", e)),
            }
        }
        if self.plain_gone {
            self.inbound.clear();
        }
        Ok(())
    }

    /// `inbound` to the code on the pair.
    fn deliver(&mut self) {
        // MSG_NOSIGNAL: a closed other end gives EPIPE, and not the SIGPIPE
        // that would end the whole process.
        match send(
            self.plain.as_raw_fd(),
            &self.inbound,
            MsgFlags::MSG_NOSIGNAL,
        ) {
            Ok(n) => drop(self.inbound.drain(..n)),
            Err(Errno::EAGAIN) => {}
            Err(_) => self.lose_plain(),
        }
    }

    /// What the code on the pair wrote, encrypted into records.
    fn encrypt(&mut self) -> Result<(), PumpError> {
        match self.plain.read(&mut self.buf) {
            // At most one CHUNK, into an empty send buffer: rustls takes it all.
            Ok(n) if n > 0 => self
                .tls
                .writer()
                .write_all(&self.buf[..n])
                .map_err(|e| PumpError::Io("encrypting", e)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            // EOF (or a reset): the last byte from this side.
            _ => {
                self.plain_eof = true;
                self.tls.send_close_notify();
                Ok(())
            }
        }
    }
}

/// One line for a failed connection: what happened, and what to do.
fn explain(why: &PumpError, side: Side, peer: SocketAddr) -> String {
    let them = match side {
        Side::Server => format!("TLS with client {peer}"),
        Side::Client => format!("TLS with the daemon at {peer}"),
    };
    match why {
        PumpError::ClosedInHandshake => {
            format!("{them}: the peer closed the connection during the handshake")
        }
        PumpError::Io(what, e) => format!("{them}: {what}: {e}"),
        PumpError::Tls(error) => match hint(error, side) {
            Some(hint) => format!("{them}: {error}: {hint}"),
            None => format!("{them}: {error}"),
        },
    }
}

/// The usual failures of mutual TLS, in words that point at the fix.
fn hint(error: &rustls::Error, side: Side) -> Option<&'static str> {
    use AlertDescription as Alert;
    use CertificateError::UnknownIssuer;
    use rustls::Error as E;
    Some(match (side, error) {
        (Side::Server, E::NoCertificatesPresented) => {
            "the client sent no certificate; the daemon (--tlsverify) lets in only clients \
             with one signed by its --tlscacert (the docker CLI sends none if its own is from another CA)"
        }
        (Side::Server, E::InvalidCertificate(UnknownIssuer)) => {
            "the client's certificate is not signed by the daemon's --tlscacert"
        }
        (Side::Server, E::AlertReceived(Alert::UnknownCA | Alert::BadCertificate)) => {
            "the client does not trust the daemon's certificate: its CA is not the client's ca.pem"
        }
        (Side::Server, E::InvalidMessage(_)) => {
            "not TLS: a plain HTTP client on the TLS port? (docker: DOCKER_TLS_VERIFY=1)"
        }
        (Side::Client, E::AlertReceived(Alert::CertificateRequired)) => {
            "the daemon requires a client certificate: cert.pem and key.pem in \
             DOCKER_CERT_PATH, or --tlscert and --tlskey"
        }
        (Side::Client, E::AlertReceived(Alert::UnknownCA | Alert::BadCertificate)) => {
            "the daemon does not accept our certificate: it is not signed by the daemon's --tlscacert"
        }
        (Side::Client, E::AlertReceived(Alert::UnsupportedCertificate)) => {
            "the daemon does not accept our certificate: it is not for client authentication \
             (extendedKeyUsage clientAuth)"
        }
        (Side::Client, E::InvalidCertificate(UnknownIssuer)) => {
            "the daemon's certificate is not signed by our CA (ca.pem, --tlscacert)"
        }
        (Side::Client, E::InvalidCertificate(_)) => {
            "the daemon's certificate is not valid for this address (see its subjectAltName)"
        }
        _ => return None,
    })
}
