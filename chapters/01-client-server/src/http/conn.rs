//! Where the Engine API listens: a Unix socket (the default, guarded by file
//! permissions), TCP (no authentication at all — keep it on 127.0.0.1), or
//! TCP with mutual TLS (`tls.rs`: only clients with a certificate signed by
//! the daemon's CA get in).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::tls::{ClientTls, ServerTls, TlsStream};

/// A daemon address in Docker's `-H` / `DOCKER_HOST` syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
    /// `tcp://` with TLS: the address, and the CA and certificate the
    /// client uses there. Never parsed: `-H` says where, the `--tls*` flags
    /// say how (`Client::from_flags` builds it).
    Tls(String, ClientTls),
}

impl Host {
    /// Parses `unix:///run/x.sock`, `tcp://127.0.0.1:2375` or a bare socket path.
    pub fn parse(text: &str) -> anyhow::Result<Host> {
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                bail!(
                    "invalid host {text:?}: unix:// needs a socket path, e.g. unix:///run/minidocker-ch01.sock"
                );
            }
            // sockaddr_un.sun_path is 108 bytes including the final NUL.
            if path.len() > 107 {
                bail!(
                    "socket path {path:?} is {} bytes; Unix socket paths are limited to 107: choose a shorter one",
                    path.len()
                );
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            if !addr.contains(':') {
                bail!("invalid host {text:?}: tcp:// needs HOST:PORT, e.g. tcp://127.0.0.1:2375");
            }
            return Ok(Host::Tcp(addr.to_string()));
        }
        if text.starts_with('/') {
            return Host::parse(&format!("unix://{text}"));
        }
        bail!("invalid host {text:?}: use unix:///path/to.sock or tcp://127.0.0.1:PORT")
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp(addr) | Host::Tls(addr, _) => write!(f, "tcp://{addr}"),
        }
    }
}

/// One accepted or dialled connection, whichever transport carries it.
#[derive(Debug)]
pub enum Connection {
    Unix(UnixStream),
    Tcp(TcpStream),
    /// The plaintext side of a TLS connection (see `tls.rs`).
    Tls(TlsStream),
}

impl Connection {
    pub fn connect(host: &Host) -> anyhow::Result<Connection> {
        match host {
            Host::Unix(path) => UnixStream::connect(path).map(Connection::Unix).with_context(|| {
                format!(
                    "cannot connect to {host}: is the daemon running? (start it with `ch01 daemon -H {host}`; \
                     a root-owned socket needs sudo)"
                )
            }),
            Host::Tcp(addr) => TcpStream::connect(addr.as_str())
                .map(Connection::Tcp)
                .with_context(|| format!("cannot connect to {host}: is the daemon running?")),
            Host::Tls(addr, tls) => {
                let tcp = TcpStream::connect(addr.as_str())
                    .with_context(|| format!("cannot connect to {host}: is the daemon running?"))?;
                tls.connect(tcp, addr)
                    .map(Connection::Tls)
                    .with_context(|| format!("starting TLS with {host}"))
            }
        }
    }

    pub fn try_clone(&self) -> io::Result<Connection> {
        match self {
            Connection::Unix(s) => s.try_clone().map(Connection::Unix),
            Connection::Tcp(s) => s.try_clone().map(Connection::Tcp),
            Connection::Tls(s) => s.try_clone().map(Connection::Tls),
        }
    }

    /// Half-closes or closes the connection. `Shutdown::Write` sends EOF to the
    /// peer while we keep reading: how a hijacked stream says "stdin is done".
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Connection::Unix(s) => s.shutdown(how),
            Connection::Tcp(s) => s.shutdown(how),
            Connection::Tls(s) => s.shutdown(how),
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Connection::Unix(s) => s.set_read_timeout(timeout),
            Connection::Tcp(s) => s.set_read_timeout(timeout),
            Connection::Tls(s) => s.set_read_timeout(timeout),
        }
    }

    /// Who is on the other end, for the daemon's log.
    pub fn peer(&self) -> String {
        match self {
            Connection::Unix(_) => "unix".to_string(),
            Connection::Tcp(s) => s
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Connection::Tls(s) => s.peer().to_string(),
        }
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Unix(s) => s.read(buf),
            Connection::Tcp(s) => s.read(buf),
            Connection::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Unix(s) => s.write(buf),
            Connection::Tcp(s) => s.write(buf),
            Connection::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Unix(s) => s.flush(),
            Connection::Tcp(s) => s.flush(),
            Connection::Tls(s) => s.flush(),
        }
    }
}

/// A bound listening socket.
pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
    Tls(TcpListener, ServerTls),
}

impl Listener {
    /// Binds `host`. A stale Unix socket file (left by a daemon that was killed)
    /// is replaced, but only when nobody answers on it: two daemons must never
    /// share one socket.
    pub fn bind(host: &Host) -> anyhow::Result<Listener> {
        match host {
            Host::Unix(path) => {
                if path.exists() {
                    if UnixStream::connect(path).is_ok() {
                        bail!(
                            "{host} is in use by a running daemon: stop it first or choose another -H"
                        );
                    }
                    std::fs::remove_file(path)
                        .with_context(|| format!("removing stale socket {}", path.display()))?;
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let listener = UnixListener::bind(path)
                    .with_context(|| format!("binding {}", path.display()))?;
                // Whoever can write to the socket controls the daemon, as with
                // /run/docker.sock (root:docker 0660). Ours: owner only.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("chmod 0600 {}", path.display()))?;
                Ok(Listener::Unix(listener, path.clone()))
            }
            Host::Tcp(addr) => {
                let listener = TcpListener::bind(addr.as_str())
                    .with_context(|| format!("binding tcp://{addr}"))?;
                Ok(Listener::Tcp(listener))
            }
            Host::Tls(..) => {
                bail!(
                    "{host} carries a client's TLS settings: a daemon listens with Listener::bind_tls"
                )
            }
        }
    }

    /// Binds a `tcp://` host whose connections must speak TLS first.
    pub fn bind_tls(host: &Host, tls: ServerTls) -> anyhow::Result<Listener> {
        let Host::Tcp(addr) = host else {
            bail!(
                "TLS is for tcp:// hosts, not {host} (a Unix socket is guarded by its permissions)"
            );
        };
        let listener =
            TcpListener::bind(addr.as_str()).with_context(|| format!("binding tcp://{addr}"))?;
        Ok(Listener::Tls(listener, tls))
    }

    pub fn accept(&self) -> io::Result<Connection> {
        match self {
            Listener::Unix(l, _) => l.accept().map(|(s, _)| Connection::Unix(s)),
            Listener::Tcp(l) => l.accept().map(|(s, _)| Connection::Tcp(s)),
            // Only the pump thread is started here: the handshake is its
            // first job, so a slow client does not hold up the accept loop.
            Listener::Tls(l, tls) => l
                .accept()
                .and_then(|(s, _)| tls.accept(s))
                .map(Connection::Tls),
        }
    }

    /// The address actually bound (`tcp://127.0.0.1:0` resolves to a real port).
    pub fn host(&self) -> Host {
        match self {
            Listener::Unix(_, path) => Host::Unix(path.clone()),
            Listener::Tcp(l) | Listener::Tls(l, _) => {
                Host::Tcp(l.local_addr().map(|a| a.to_string()).unwrap_or_default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_host_syntax() {
        assert_eq!(
            Host::parse("unix:///run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("/run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert!(Host::parse("tcp://nohost").is_err());
        assert!(Host::parse("http://x").is_err());
        assert!(Host::parse(&format!("unix:///{}", "a".repeat(120))).is_err());
    }
}
