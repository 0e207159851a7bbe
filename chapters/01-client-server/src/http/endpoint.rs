//! Which daemon a client talks to, and how: the docker CLI's rules for
//! `-H`, `DOCKER_HOST`, `--tls`, `--tlsverify` and the certificate files
//! (docker/cli's `cli/flags/options.go`).

use std::path::{Path, PathBuf};

use super::client::Client;
use super::conn::Host;
use super::tls::ClientTls;

/// The Engine API's port over TCP with TLS, and without (IANA's docker ports).
pub const TLS_PORT: u16 = 2376;
pub const PLAIN_PORT: u16 = 2375;

/// The client's connection flags, as the docker CLI takes them.
#[derive(Clone, Debug, Default)]
pub struct ClientFlags {
    pub host: Option<String>,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// What the flags and the environment settle on, before a file is read.
#[derive(Debug, PartialEq)]
struct Endpoint {
    host: String,
    tls: Option<TlsFiles>,
}

#[derive(Debug, PartialEq)]
struct TlsFiles {
    /// The CA the daemon's certificate must be signed by; `None`: `--tls`
    /// without `--tlsverify`, the daemon is not checked.
    ca: Option<PathBuf>,
    /// The client's certificate and key, if it has one.
    identity: Option<(PathBuf, PathBuf)>,
}

// ANCHOR: resolve
/// docker's rules. The host: `-H`, else `$DOCKER_HOST`, else the default.
/// TLS: `--tls`, `--tlsverify`, `$DOCKER_TLS_VERIFY` or `$DOCKER_TLS`;
/// the daemon's certificate is checked with `--tlsverify` or
/// `$DOCKER_TLS_VERIFY` only. The files: those the flags name, else
/// ca.pem, cert.pem and key.pem in `$DOCKER_CERT_PATH`, else `~/.docker`.
/// Default cert.pem and key.pem that do not exist mean no client
/// certificate; a missing file a flag names is an error, later, at load.
fn resolve(
    flags: &ClientFlags,
    default_host: &str,
    env: &dyn Fn(&str) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
) -> Endpoint {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let verify = flags.tlsverify || set("DOCKER_TLS_VERIFY").is_some();
    let tls = flags.tls || verify || set("DOCKER_TLS").is_some();
    let host = flags.host.clone().or_else(|| set("DOCKER_HOST"));
    let host = with_default_port(&host.unwrap_or_else(|| default_host.to_string()), tls);
    if !tls {
        return Endpoint { host, tls: None };
    }
    let dir = set("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&set("HOME").unwrap_or_default()).join(".docker"));
    let file = |flag: &Option<PathBuf>, name: &str| flag.clone().unwrap_or_else(|| dir.join(name));
    let (cert, key) = (
        file(&flags.tlscert, "cert.pem"),
        file(&flags.tlskey, "key.pem"),
    );
    let named = flags.tlscert.is_some() || flags.tlskey.is_some();
    let identity = (named || exists(&cert) || exists(&key)).then_some((cert, key));
    let ca = verify.then(|| file(&flags.tlscacert, "ca.pem"));
    Endpoint {
        host,
        tls: Some(TlsFiles { ca, identity }),
    }
}
// ANCHOR_END: resolve

/// `tcp://HOST` without a port gets docker's: 2376 with TLS, 2375 without.
fn with_default_port(host: &str, tls: bool) -> String {
    let Some(addr) = host.strip_prefix("tcp://") else {
        return host.to_string();
    };
    let addr = addr.trim_end_matches('/');
    // An IPv6 address has colons of its own: its port follows the `]`.
    let has_port = match addr.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => addr.contains(':'),
    };
    if has_port || addr.is_empty() {
        return host.to_string();
    }
    let port = if tls { TLS_PORT } else { PLAIN_PORT };
    format!("tcp://{addr}:{port}")
}

impl Client {
    /// A client for the daemon the flags and the environment name, with
    /// TLS as they say (docker's rules: see `resolve`). TLS applies to
    /// `tcp://` hosts; a Unix socket is guarded by its permissions.
    pub fn from_flags(flags: &ClientFlags, default_host: &str) -> anyhow::Result<Client> {
        let endpoint = resolve(
            flags,
            default_host,
            &|name| std::env::var(name).ok(),
            &|path| path.exists(),
        );
        let host = match (Host::parse(&endpoint.host)?, endpoint.tls) {
            (Host::Tcp(addr), Some(files)) => {
                let identity = files
                    .identity
                    .as_ref()
                    .map(|(cert, key)| (cert.as_path(), key.as_path()));
                Host::Tls(addr, ClientTls::new(files.ca.as_deref(), identity)?)
            }
            (host, _) => host,
        };
        Ok(Client::new(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "unix:///run/minidocker.sock";

    fn resolve_with(flags: &ClientFlags, env: &[(&str, &str)], files: &[&str]) -> Endpoint {
        let env = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let exists = |path: &Path| files.iter().any(|f| Path::new(f) == path);
        resolve(flags, DEFAULT, &env, &exists)
    }

    #[test]
    fn the_host_is_the_flag_then_docker_host_then_the_default() {
        let none = ClientFlags::default();
        assert_eq!(resolve_with(&none, &[], &[]).host, DEFAULT);
        let env = [("DOCKER_HOST", "tcp://10.0.0.1:2375")];
        assert_eq!(resolve_with(&none, &env, &[]).host, "tcp://10.0.0.1:2375");
        // Set but empty is unset, as in the docker CLI.
        assert_eq!(
            resolve_with(&none, &[("DOCKER_HOST", "")], &[]).host,
            DEFAULT
        );
        let flag = ClientFlags {
            host: Some("unix:///x.sock".into()),
            ..ClientFlags::default()
        };
        assert_eq!(resolve_with(&flag, &env, &[]).host, "unix:///x.sock");
    }

    #[test]
    fn a_tcp_host_without_a_port_gets_2376_with_tls_2375_without() {
        assert_eq!(
            with_default_port("tcp://example", true),
            "tcp://example:2376"
        );
        assert_eq!(
            with_default_port("tcp://example/", false),
            "tcp://example:2375"
        );
        assert_eq!(with_default_port("tcp://[::1]", true), "tcp://[::1]:2376");
        assert_eq!(with_default_port("tcp://[::1]:99", true), "tcp://[::1]:99");
        assert_eq!(with_default_port("tcp://h:99", true), "tcp://h:99");
        assert_eq!(with_default_port("unix:///x.sock", true), "unix:///x.sock");
        let env = [("DOCKER_HOST", "tcp://example"), ("DOCKER_TLS_VERIFY", "1")];
        let endpoint = resolve_with(&ClientFlags::default(), &env, &[]);
        assert_eq!(endpoint.host, "tcp://example:2376");
    }

    #[test]
    fn tls_is_on_with_a_flag_or_docker_tls_verify_and_verifies_only_with_tlsverify() {
        assert_eq!(resolve_with(&ClientFlags::default(), &[], &[]).tls, None);
        let env = [("HOME", "/home/u")];
        let tls = ClientFlags {
            tls: true,
            ..ClientFlags::default()
        };
        let files = resolve_with(&tls, &env, &[]).tls.unwrap();
        assert_eq!(files.ca, None, "--tls alone does not check the daemon");
        let verify = resolve_with(
            &ClientFlags::default(),
            &[("DOCKER_TLS_VERIFY", "1"), env[0]],
            &[],
        );
        assert_eq!(
            verify.tls.unwrap().ca,
            Some("/home/u/.docker/ca.pem".into())
        );
        let flag = ClientFlags {
            tlsverify: true,
            tlscacert: Some("/etc/ca.pem".into()),
            ..ClientFlags::default()
        };
        assert_eq!(
            resolve_with(&flag, &env, &[]).tls.unwrap().ca,
            Some("/etc/ca.pem".into())
        );
    }

    #[test]
    fn the_client_certificate_comes_from_docker_cert_path_when_it_is_there() {
        let env = [("DOCKER_CERT_PATH", "/certs"), ("DOCKER_TLS_VERIFY", "1")];
        let none = ClientFlags::default();
        let files = resolve_with(&none, &env, &["/certs/ca.pem"]).tls.unwrap();
        assert_eq!(files.ca, Some("/certs/ca.pem".into()));
        assert_eq!(files.identity, None, "no cert.pem: no client certificate");
        let present = ["/certs/cert.pem", "/certs/key.pem"];
        let files = resolve_with(&none, &env, &present).tls.unwrap();
        assert_eq!(
            files.identity,
            Some(("/certs/cert.pem".into(), "/certs/key.pem".into()))
        );
        // A file a flag names is used even if missing: loading it says so.
        let named = ClientFlags {
            tlscert: Some("/mine/c.pem".into()),
            ..ClientFlags::default()
        };
        let files = resolve_with(&named, &env, &[]).tls.unwrap();
        assert_eq!(
            files.identity,
            Some(("/mine/c.pem".into(), "/certs/key.pem".into()))
        );
    }

    #[test]
    fn a_missing_file_is_one_line_naming_it_and_the_fix() {
        let flags = ClientFlags {
            host: Some("tcp://127.0.0.1:1".into()),
            tlsverify: true,
            tlscacert: Some("/nonexistent/ca.pem".into()),
            ..ClientFlags::default()
        };
        let Err(error) = Client::from_flags(&flags, DEFAULT) else {
            panic!("a missing CA file must be an error");
        };
        let message = format!("{error:#}");
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("/nonexistent/ca.pem"), "{message}");
        assert!(message.contains("make-certs.sh"), "{message}");
    }
}
