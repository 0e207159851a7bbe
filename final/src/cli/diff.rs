//! `diff` and `port`: two small reads of a container (docker/cli:
//! `cli/command/container/diff.go`, `port.go`). `diff` prints the daemon's
//! changes as they come, one `KIND PATH` line each; `port` reads inspect's
//! `NetworkSettings.Ports`, the map chapter 07 fills when it publishes.

use std::cmp::Ordering;

use api::http::Client;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use super::escape;

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO] (tcp unless told).
    pub port: Option<String>,
}

/// One item of `GET /containers/{id}/changes`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    path: String,
    kind: u8,
}

// ANCHOR: diff
pub fn diff(client: &Client, args: DiffArgs) -> anyhow::Result<i32> {
    let changes: Option<Vec<Change>> =
        client.get_json(&format!("/containers/{}/changes", escape(&args.container)))?;
    // A daemon may answer null for none, as moby does: nothing to print.
    for change in changes.unwrap_or_default() {
        let kind = match change.kind {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        println!("{kind} {}", change.path);
    }
    Ok(0)
}
// ANCHOR_END: diff

// ANCHOR: port
pub fn port(client: &Client, args: PortArgs) -> anyhow::Result<i32> {
    let inspect: Value =
        client.get_json(&format!("/containers/{}/json", escape(&args.container)))?;
    let ports = &inspect["NetworkSettings"]["Ports"];
    let mut out = Vec::new();
    match &args.port {
        Some(wanted) => {
            let (number, proto) = wanted.split_once('/').unwrap_or((wanted, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if let Err(why) = port_number(number) {
                eprintln!("Error: invalid port ({number}): {why}");
                return Ok(1);
            }
            // A port exposed but not published is there, as null.
            let Some(bindings) = ports[format!("{number}/{proto}")].as_array() else {
                eprintln!(
                    "Error: No public port '{wanted}' published for {}",
                    args.container
                );
                return Ok(1);
            };
            out.extend(bindings.iter().map(host_port));
        }
        None => {
            for (from, bindings) in ports.as_object().into_iter().flatten() {
                for binding in bindings.as_array().into_iter().flatten() {
                    out.push(format!("{from} -> {}", host_port(binding)));
                }
            }
        }
    }
    out.sort_by(|a, b| natural_order(a, b));
    for line in out {
        println!("{line}");
    }
    Ok(0)
}
// ANCHOR_END: port

/// docker's check of the private port, with Go's `strconv.ParseUint`
/// words: digits only, at most 65535.
fn port_number(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseUint: parsing {text:?}: invalid syntax"
        ));
    }
    text.parse()
        .map_err(|_| format!("strconv.ParseUint: parsing {text:?}: value out of range"))
}

/// `HOST:PORT`, an IPv6 host in brackets (Go's `net.JoinHostPort`).
fn host_port(binding: &Value) -> String {
    let host = binding["HostIp"].as_str().unwrap_or_default();
    let port = binding["HostPort"].as_str().unwrap_or_default();
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The order docker sorts its lines in (`sortorder.NaturalLess`): runs of
/// digits compare as numbers, so 8080 comes after 443; the rest bytewise.
fn natural_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            // Digits before anything else.
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        let skip_zeros = |s: &[u8], mut k: usize| {
            while k < s.len() && s[k] == b'0' {
                k += 1;
            }
            k
        };
        let run_end = |s: &[u8], mut k: usize| {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            k
        };
        let (za, zb) = (skip_zeros(a, i), skip_zeros(b, j));
        let (ea, eb) = (run_end(a, za), run_end(b, zb));
        // Fewer significant digits is smaller; then the digits; then
        // fewer leading zeros first.
        let order = (ea - za)
            .cmp(&(eb - zb))
            .then_with(|| a[za..ea].cmp(&b[zb..eb]))
            .then_with(|| za.cmp(&zb));
        if order != Ordering::Equal {
            return order;
        }
        i = ea;
        j = eb;
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_sort_as_numbers() {
        let mut lines = vec![
            "8080/tcp -> 0.0.0.0:8080",
            "443/tcp -> 0.0.0.0:443",
            "80/tcp -> [::]:80",
            "80/tcp -> 0.0.0.0:80",
        ];
        lines.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            lines,
            [
                "80/tcp -> 0.0.0.0:80",
                "80/tcp -> [::]:80",
                "443/tcp -> 0.0.0.0:443",
                "8080/tcp -> 0.0.0.0:8080"
            ]
        );
        assert_eq!(natural_order("a01", "a1"), Ordering::Greater);
        assert_eq!(natural_order("a", "a1"), Ordering::Less);
    }

    #[test]
    fn private_ports_are_checked_as_docker_does() {
        assert_eq!(port_number("80"), Ok(80));
        assert_eq!(
            port_number("abc").unwrap_err(),
            r#"strconv.ParseUint: parsing "abc": invalid syntax"#
        );
        assert_eq!(
            port_number("70000").unwrap_err(),
            r#"strconv.ParseUint: parsing "70000": value out of range"#
        );
        assert!(port_number("").is_err() && port_number("-1").is_err());
    }

    #[test]
    fn hosts_join_with_their_ports() {
        let v4 = serde_json::json!({"HostIp": "0.0.0.0", "HostPort": "8080"});
        let v6 = serde_json::json!({"HostIp": "::", "HostPort": "8080"});
        assert_eq!(host_port(&v4), "0.0.0.0:8080");
        assert_eq!(host_port(&v6), "[::]:8080");
    }
}
