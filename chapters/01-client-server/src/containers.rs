//! What every daemon's container endpoints share, whatever runs the
//! containers: the chapter's toy (host processes) and the engine (minishim
//! and minirunc). The states and their words, the wait conditions, the
//! stream formats of attach and logs, and the `docker ps` list query.
//! (moby: `container/state.go`, `api/server/router/container`.)

use std::collections::BTreeMap;
use std::io::Write;
use std::time::SystemTime;

use crate::error::ApiError;
use crate::http::Request;
use crate::query::{self, Filters};
use crate::stdcopy::{StreamType, write_frame};
use crate::timefmt;
use crate::types::ContainerCreateRequest;

/// A container's state, as `State.Status` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    /// Between two runs, under a restart policy.
    Restarting,
    Exited,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

// ANCHOR: status_text
/// The STATUS column of `docker ps`: "Up 5 seconds", "Up 2 minutes
/// (Paused)", "Exited (0) 3 seconds ago", "Created".
pub fn status_text(
    status: Status,
    exit_code: i64,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
) -> String {
    let ago = |t: Option<SystemTime>| {
        timefmt::human_duration(t.and_then(|t| t.elapsed().ok()).unwrap_or_default())
    };
    match status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", ago(started_at)),
        Status::Paused => format!("Up {} (Paused)", ago(started_at)),
        Status::Restarting => format!("Restarting ({exit_code}) {} ago", ago(finished_at)),
        Status::Exited => format!("Exited ({exit_code}) {} ago", ago(finished_at)),
    }
}
// ANCHOR_END: status_text

// ANCHOR: resolve
/// Finds a container as dockerd does: its full ID, then its exact name,
/// then a prefix of its ID that only it has. `containers` are (ID, name
/// without the slash, what to return).
pub fn resolve<T>(
    reference: &str,
    mut containers: Vec<(String, String, T)>,
) -> Result<T, ApiError> {
    let name = reference.strip_prefix('/').unwrap_or(reference);
    let exact = containers
        .iter()
        .position(|(id, _, _)| id == reference)
        .or_else(|| containers.iter().position(|(_, n, _)| n == name));
    if let Some(at) = exact {
        return Ok(containers.swap_remove(at).2);
    }
    let mut matches: Vec<T> = containers
        .into_iter()
        .filter(|(id, _, _)| !reference.is_empty() && id.starts_with(reference))
        .map(|(_, _, item)| item)
        .collect();
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(ApiError::not_found(format!(
            "No such container: {reference}"
        ))),
        _ => Err(ApiError::bad_request(format!(
            "multiple IDs found with provided prefix: {reference}"
        ))),
    }
}
// ANCHOR_END: resolve

/// The body of `POST /containers/create`; an empty one is a 400.
pub fn create_request(req: &mut Request) -> Result<ContainerCreateRequest, ApiError> {
    let body: Option<ContainerCreateRequest> = req.json()?;
    body.map(ContainerCreateRequest::normalize).ok_or_else(|| {
        ApiError::bad_request("config cannot be empty in order to create a container")
    })
}

/// What `POST /containers/{id}/wait?condition=` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once unless the container is running (`docker wait`).
    NotRunning,
    /// The next exit, even when the container has not started yet: the CLI
    /// sends its wait *before* `/start`.
    NextExit,
    /// Until the container is deleted (`docker run --rm`).
    Removed,
}

impl WaitCondition {
    pub fn parse(text: Option<&str>) -> Result<WaitCondition, ApiError> {
        match text.unwrap_or("") {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(ApiError::bad_request(format!(
                "invalid condition: {other:?} (use not-running, next-exit or removed)"
            ))),
        }
    }
}

/// A piece of output as the process wrote it.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub stream: StreamType,
    pub time: SystemTime,
    pub bytes: Vec<u8>,
}

/// The content type of a container's output stream: raw bytes from a
/// terminal (one stream, nothing to tell apart), 8-byte frames otherwise.
pub fn stream_media_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Writes one piece of output: framed, or raw for a terminal; with
/// `timestamps`, each piece starts with its RFC 3339 time (`logs -t`).
pub fn write_log_entry(
    w: &mut dyn Write,
    tty: bool,
    entry: &LogEntry,
    timestamps: bool,
) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    if timestamps {
        bytes.extend_from_slice(timefmt::rfc3339_nanos(entry.time).as_bytes());
        bytes.push(b' ');
    }
    bytes.extend_from_slice(&entry.bytes);
    if tty {
        w.write_all(&bytes)?;
        w.flush()
    } else {
        write_frame(w, entry.stream, &bytes)
    }
}

/// One entry per line, so `--tail` counts lines as Docker does.
pub fn split_lines(entry: LogEntry) -> Vec<LogEntry> {
    entry
        .bytes
        .split_inclusive(|b| *b == b'\n')
        .map(|line| LogEntry {
            stream: entry.stream,
            time: entry.time,
            bytes: line.to_vec(),
        })
        .collect()
}

/// `logs?tail=`: how many last lines, `None` for all.
pub fn parse_tail(text: Option<&str>) -> Result<Option<usize>, ApiError> {
    match text.unwrap_or("all") {
        "all" | "" => Ok(None),
        n => n
            .parse::<usize>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid tail value {n:?}"))),
    }
}

/// What the list query looks at in one container.
pub struct Listed<'a> {
    pub id: &'a str,
    /// Without the leading slash.
    pub name: &'a str,
    pub status: Status,
    pub exit_code: i64,
    /// The image as the user named it (`Config.Image`).
    pub image: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// `starting`, `healthy`, `unhealthy`, or `none` without a health check.
    pub health: &'a str,
}

/// `GET /containers/json`'s query: running containers, or all with
/// `all=1` (or any status filter); the newest `limit`; and the filters
/// `status`, `name`, `id`, `label`, `ancestor`, `exited` and `health`. Values of one
/// filter are alternatives; different filters must all hold.
pub struct ListQuery {
    pub all: bool,
    pub limit: Option<usize>,
    filters: Filters,
}

impl ListQuery {
    pub fn parse(req: &Request) -> Result<ListQuery, ApiError> {
        let filters = query::parse_filters(req.query("filters"))?;
        const KNOWN: [&str; 7] = [
            "status", "name", "id", "label", "ancestor", "exited", "health",
        ];
        if let Some(unknown) = filters.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "invalid filter '{unknown}' (use {})",
                KNOWN.join(", ")
            )));
        }
        Ok(ListQuery {
            all: req.query_bool("all") || filters.contains_key("status"),
            limit: req
                .query("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0),
            filters,
        })
    }

    // ANCHOR: list_query
    pub fn shows(&self, c: &Listed) -> bool {
        let accepts = |key: &str, test: &dyn Fn(&str) -> bool| {
            self.filters
                .get(key)
                .is_none_or(|values| values.iter().any(|v| test(v)))
        };
        // A restarting container counts as running, as in Docker's list.
        let running = matches!(
            c.status,
            Status::Running | Status::Paused | Status::Restarting
        );
        (self.all || running)
            && accepts("status", &|s| s == c.status.name())
            && accepts("name", &|n| c.name.contains(n.trim_start_matches('/')))
            && accepts("id", &|i| c.id.starts_with(i))
            && accepts("label", &|l| match l.split_once('=') {
                Some((key, value)) => c.labels.get(key).is_some_and(|v| v == value),
                None => c.labels.contains_key(l),
            })
            && accepts("ancestor", &|a| {
                c.image == a || c.image.strip_suffix(":latest") == Some(a)
            })
            && accepts("exited", &|code| {
                c.status == Status::Exited && code.parse() == Ok(c.exit_code)
            })
            && accepts("health", &|h| h == c.health)
    }
    // ANCHOR_END: list_query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_lines() {
        assert_eq!(parse_tail(None).unwrap(), None);
        assert_eq!(parse_tail(Some("3")).unwrap(), Some(3));
        assert!(parse_tail(Some("x")).is_err());
        let entry = LogEntry {
            stream: StreamType::Stdout,
            time: SystemTime::UNIX_EPOCH,
            bytes: b"a\nb\nc".to_vec(),
        };
        let lines: Vec<Vec<u8>> = split_lines(entry).into_iter().map(|e| e.bytes).collect();
        assert_eq!(lines, [b"a\n".to_vec(), b"b\n".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn statuses_read_like_docker_ps() {
        assert_eq!(status_text(Status::Created, 0, None, None), "Created");
        let now = Some(SystemTime::now());
        assert_eq!(
            status_text(Status::Exited, 3, now, now),
            "Exited (3) Less than a second ago"
        );
        assert!(status_text(Status::Paused, 0, now, None).ends_with("(Paused)"));
    }

    #[test]
    fn filters_narrow_the_list() {
        let query = |filters: &str, all: bool| ListQuery {
            all,
            limit: None,
            filters: query::parse_filters(Some(filters)).unwrap(),
        };
        let labels = BTreeMap::from([("tier".to_string(), "web".to_string())]);
        let listed = Listed {
            id: "abc123",
            name: "web1",
            status: Status::Exited,
            exit_code: 3,
            image: "busybox:latest",
            labels: &labels,
            health: "none",
        };
        assert!(!query("{}", false).shows(&listed), "exited needs all");
        assert!(query("{}", true).shows(&listed));
        for matching in [
            r#"{"label":["tier"]}"#,
            r#"{"label":["tier=web"]}"#,
            r#"{"ancestor":["busybox"]}"#,
            r#"{"exited":["3"]}"#,
            r#"{"status":["exited"],"name":["web"]}"#,
            r#"{"id":["abc"]}"#,
        ] {
            assert!(query(matching, true).shows(&listed), "{matching}");
        }
        for other in [
            r#"{"label":["tier=db"]}"#,
            r#"{"ancestor":["alpine"]}"#,
            r#"{"exited":["0"]}"#,
            r#"{"status":["running"]}"#,
        ] {
            assert!(!query(other, true).shows(&listed), "{other}");
        }
    }
}
