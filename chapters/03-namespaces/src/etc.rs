//! The three files Docker writes for every container and bind-mounts over
//! the image's: /etc/hostname, /etc/hosts and /etc/resolv.conf. They are
//! the container's own (a name and servers that fit its network namespace),
//! and an image cannot ship them: they depend on the host it runs on.

use std::fs;

/// What `docker run` can say about a container's names and servers.
#[derive(Clone, Debug, Default)]
pub struct EtcOptions {
    pub hostname: String,
    /// `--add-host NAME:ADDRESS`, as (name, address): extra /etc/hosts lines.
    pub extra_hosts: Vec<(String, String)>,
    /// `--dns`: these servers instead of the host's.
    pub dns_servers: Vec<String>,
    /// `--dns-search`: these search domains instead of the host's.
    pub dns_search: Vec<String>,
    /// `--dns-option`: these options instead of the host's.
    pub dns_options: Vec<String>,
}

// ANCHOR: etc_files
/// /etc/hostname, /etc/hosts and /etc/resolv.conf (names relative to /etc),
/// as Docker writes them.
pub fn files(options: &EtcOptions) -> Vec<(&'static str, String)> {
    let mut hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
        options.hostname
    );
    for (name, address) in &options.extra_hosts {
        hosts.push_str(&format!("{address}\t{name}\n"));
    }
    let host_resolv = container_resolv_conf(
        &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        || fs::read_to_string("/run/systemd/resolve/resolv.conf").ok(),
    );
    vec![
        ("hostname", format!("{}\n", options.hostname)),
        ("hosts", hosts),
        ("resolv.conf", with_overrides(&host_resolv, options)),
    ]
}
// ANCHOR_END: etc_files

/// `--dns`, `--dns-search` and `--dns-option` replace the lines of their
/// kind (search and domain count as one); the other lines stay.
fn with_overrides(resolv: &str, options: &EtcOptions) -> String {
    let replaced = |keyword: &str| match keyword {
        "nameserver" => !options.dns_servers.is_empty(),
        "search" | "domain" => !options.dns_search.is_empty(),
        "options" => !options.dns_options.is_empty(),
        _ => false,
    };
    let mut out: String = resolv
        .lines()
        .filter(|line| !replaced(line.split_whitespace().next().unwrap_or("")))
        .map(|line| format!("{line}\n"))
        .collect();
    for server in &options.dns_servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !options.dns_search.is_empty() {
        out.push_str(&format!("search {}\n", options.dns_search.join(" ")));
    }
    if !options.dns_options.is_empty() {
        out.push_str(&format!("options {}\n", options.dns_options.join(" ")));
    }
    out
}

// ANCHOR: resolv_conf
/// The container's resolv.conf, from the host's (`host`). Loopback
/// nameservers are dropped: 127.0.0.53 (systemd-resolved) listens on the
/// host's loopback, which a network namespace does not share. Behind such a
/// stub, systemd keeps the real servers in /run/systemd/resolve/resolv.conf
/// (`upstream`); with none left, Docker's fallback is Google's public DNS.
pub fn container_resolv_conf(host: &str, upstream: impl FnOnce() -> Option<String>) -> String {
    let is_loopback_server = |line: &str| {
        let mut words = line.split_whitespace();
        words.next() == Some("nameserver")
            && words
                .next()
                .is_some_and(|ip| ip.starts_with("127.") || ip == "::1")
    };
    let has_server = |text: &str| {
        text.lines()
            .any(|l| l.split_whitespace().next() == Some("nameserver") && !is_loopback_server(l))
    };
    let mut text = host.to_string();
    if !has_server(&text) {
        if let Some(upstream) = upstream().filter(|u| has_server(u)) {
            text = upstream;
        }
    }
    let mut resolv: String = text
        .lines()
        .filter(|line| !is_loopback_server(line))
        .map(|line| format!("{line}\n"))
        .collect();
    if !has_server(&resolv) {
        resolv.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    resolv
}
// ANCHOR_END: resolv_conf

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_skips_loopback_servers() {
        let host = "search example.org\nnameserver 127.0.0.53\noptions edns0\n";
        let upstream = "nameserver 192.0.2.1\nsearch example.org\n";
        assert_eq!(
            container_resolv_conf(host, || Some(upstream.into())),
            upstream
        );
        assert_eq!(
            container_resolv_conf(host, || None),
            "search example.org\noptions edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let plain = "nameserver 192.0.2.7\nnameserver ::1\n";
        assert_eq!(
            container_resolv_conf(plain, || panic!("not needed")),
            "nameserver 192.0.2.7\n"
        );
    }

    #[test]
    fn dns_flags_replace_their_lines_and_extra_hosts_are_added() {
        let host = "search example.org\nnameserver 192.0.2.1\noptions edns0\n";
        let mut options = EtcOptions {
            dns_servers: vec!["192.0.2.53".into(), "192.0.2.54".into()],
            ..EtcOptions::default()
        };
        assert_eq!(
            with_overrides(host, &options),
            "search example.org\noptions edns0\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
        );
        options.dns_search = vec!["a.test".into(), "b.test".into()];
        options.dns_options = vec!["ndots:2".into()];
        assert_eq!(
            with_overrides(host, &options),
            "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch a.test b.test\noptions ndots:2\n"
        );
        assert_eq!(with_overrides(host, &EtcOptions::default()), host);

        options.hostname = "web".into();
        options.extra_hosts = vec![("db".into(), "192.0.2.9".into())];
        let files = files(&options);
        assert_eq!(files[0], ("hostname", "web\n".to_string()));
        assert!(
            files[1].1.ends_with("127.0.1.1\tweb\n192.0.2.9\tdb\n"),
            "{}",
            files[1].1
        );
    }
}
