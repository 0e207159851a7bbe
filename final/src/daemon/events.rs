//! `docker events`: what happened to containers and images, as it
//! happens. Every event goes to a bounded ring in memory (what `--since`
//! replays), is appended to `DATA_ROOT/events.jsonl` (so the ring survives
//! a daemon restart), and is sent to each client that is listening.
//! (moby: `daemon/events/events.go`, `daemon/events/filter.go`.)

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use api::ApiError;
use api::query::Filters;
use serde::{Deserialize, Serialize};

/// Events kept for `--since`; dockerd keeps 256, and so do we.
const KEEP: usize = 256;

/// One event, in the Engine API's shape. `status`, `id` and `from` are the
/// old fields, still sent for containers and images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let nanos = now_nanos();
        let legacy = matches!(kind, "container" | "image");
        Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: attributes
                .get("image")
                .filter(|_| kind == "container")
                .cloned(),
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        }
    }
}

/// Now, in nanoseconds since the Unix epoch, as events count time.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

pub struct Events {
    state: Mutex<Ring>,
    path: PathBuf,
}

struct Ring {
    kept: VecDeque<Event>,
    file: Option<File>,
    /// Lines in the file: past twice the ring, it is rewritten.
    lines: usize,
    listeners: Vec<Sender<Event>>,
}

impl Events {
    /// The ring as the last daemon left it.
    pub fn open(path: PathBuf) -> Events {
        let mut kept = VecDeque::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                // A line cut short by a crash is skipped.
                if let Ok(event) = serde_json::from_str::<Event>(&line) {
                    kept.push_back(event);
                    if kept.len() > KEEP {
                        kept.pop_front();
                    }
                }
            }
        }
        let events = Events {
            state: Mutex::new(Ring {
                kept,
                file: None,
                lines: 0,
                listeners: Vec::new(),
            }),
            path,
        };
        events.rewrite(&mut events.ring());
        events
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ANCHOR: publish
    /// Records an event and sends it to every listener; a listener that
    /// has gone is dropped.
    pub fn publish(&self, event: Event) {
        let mut ring = self.ring();
        ring.kept.push_back(event.clone());
        if ring.kept.len() > KEEP {
            ring.kept.pop_front();
        }
        // Appended whole lines (O_APPEND): a crash loses at most the last.
        let line = serde_json::to_string(&event).unwrap_or_default() + "\n";
        let appended = ring.file.as_mut().map(|f| f.write_all(line.as_bytes()));
        if let Some(Err(e)) = appended {
            eprintln!("minidockerd: {}: {e}", self.path.display());
        }
        ring.lines += 1;
        if ring.lines > 2 * KEEP {
            self.rewrite(&mut ring);
        }
        ring.listeners.retain(|l| l.send(event.clone()).is_ok());
    }
    // ANCHOR_END: publish

    /// The file holds the ring again, written atomically; appends go on.
    fn rewrite(&self, ring: &mut Ring) {
        let text: String = ring
            .kept
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
            .collect();
        ring.file = None;
        if let Err(e) = images::atomic::write_file(&self.path, text.as_bytes()) {
            eprintln!("minidockerd: {}: {e:#}", self.path.display());
        }
        ring.file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .ok();
        ring.lines = ring.kept.len();
    }

    /// The kept events since `since`, and a receiver for those to come:
    /// taken under one lock, so none falls between the two.
    pub fn subscribe(&self, since: Option<i64>) -> (Vec<Event>, Receiver<Event>) {
        let mut ring = self.ring();
        let past = match since {
            Some(since) => ring
                .kept
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let (tx, rx) = channel();
        ring.listeners.push(tx);
        (past, rx)
    }
}

/// `since` and `until` as the CLI sends them: Unix seconds, with or
/// without a fraction (`1733612345.123456789`); in nanoseconds.
pub fn parse_time(text: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(format!(
            "invalid {name} {text:?}: Unix seconds, as the docker CLI sends them"
        ))
    };
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let seconds: i64 = seconds.parse().map_err(|_| bad())?;
    let digits = fraction.get(..9.min(fraction.len())).ok_or_else(bad)?;
    let nanos: i64 = format!("{digits:0<9}").parse().map_err(|_| bad())?;
    Ok(Some(seconds * 1_000_000_000 + nanos))
}

// ANCHOR: matches
/// The filters of `docker events` (type, container, image, event, label):
/// values of one filter are alternatives, different filters all hold.
pub fn matches(filters: &Filters, event: &Event) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        filters
            .get(key)
            .is_none_or(|values| values.iter().any(|v| test(v)))
    };
    let attribute = |name: &str| event.actor.attributes.get(name).map(String::as_str);
    any("type", &|t| t == event.kind)
        // `health_status`, `exec_start` … match `health_status: healthy`.
        && any("event", &|e| event.action == e || event.action.starts_with(&format!("{e}:")))
        && any("container", &|c| {
            event.kind == "container"
                && (event.actor.id.starts_with(c) || attribute("name") == Some(c))
        })
        && any("image", &|i| {
            let named = |n: Option<&str>| {
                n.is_some_and(|n| n == i || n.strip_suffix(":latest") == Some(i))
            };
            event.actor.id == i || named(attribute("image")) || named(attribute("name"))
        })
        && any("label", &|l| match l.split_once('=') {
            Some((key, value)) => attribute(key) == Some(value),
            None => attribute(l).is_some(),
        })
}
// ANCHOR_END: matches

pub fn check_filters(filters: &Filters) -> Result<(), ApiError> {
    const KNOWN: [&str; 5] = ["type", "container", "image", "event", "label"];
    match filters.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::bad_request(format!(
            "invalid filter '{unknown}' (use {})",
            KNOWN.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Where the daemon keeps them.
pub fn path(data_root: &std::path::Path) -> PathBuf {
    data_root.join("events.jsonl")
}

impl super::Daemon {
    // ANCHOR: container_event
    /// A container's event, with the attributes dockerd gives it: its
    /// labels, its image as the user named it, its name, and `extra`
    /// (`exitCode` for `die`, `signal` for `kill` …).
    pub fn container_event(
        &self,
        record: &super::container::Record,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attributes = record.config.labels.clone().unwrap_or_default();
        attributes.insert("image".into(), record.config.image.clone());
        attributes.insert("name".into(), record.name.clone());
        for (key, value) in extra {
            attributes.insert(key.to_string(), value.clone());
        }
        self.events
            .publish(Event::new("container", action, &record.id, attributes));
    }
    // ANCHOR_END: container_event

    /// `exec_create: CMD`, `exec_start: CMD`, `exec_die` (with its exit
    /// code), as events of the exec's container.
    pub fn exec_event(&self, exec: &super::exec::Exec, action: &str) {
        let Some(container) = self.table().get(&exec.container_id).cloned() else {
            return;
        };
        let mut extra = vec![("execID", exec.id.clone())];
        let action = match action {
            "exec_die" => {
                let code = exec.state().exit_code.unwrap_or(-1);
                extra.push(("exitCode", code.to_string()));
                action.to_string()
            }
            _ => {
                let command = exec.config.cmd.clone().unwrap_or_default().join(" ");
                format!("{action}: {command}")
            }
        };
        self.container_event(&container.snapshot(), &action, &extra);
    }

    /// An image's event: its ID, and the name it concerns.
    pub fn image_event(&self, action: &str, id: &str, name: &str) {
        let attributes = BTreeMap::from([("name".to_string(), name.to_string())]);
        self.events
            .publish(Event::new("image", action, id, attributes));
    }
}
