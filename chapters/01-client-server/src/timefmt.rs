//! Times as the Engine API writes them: RFC 3339 with nanoseconds in UTC
//! (`2025-11-28T01:08:30.691427000Z`), the zero time `0001-01-01T00:00:00Z`
//! for "never", Unix seconds in lists, and "5 seconds" for humans.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn rfc3339_nanos(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Go's zero `time.Time`, which Docker prints for a container never started.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn rfc3339_or_zero(t: Option<SystemTime>) -> String {
    t.map(rfc3339_nanos)
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Docker's `HumanDuration` (go-units): "Less than a second", "5 seconds",
/// "About a minute", "3 minutes", "About an hour", "2 hours", "3 days".
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    match seconds {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..60 => format!("{seconds} seconds"),
        60..120 => "About a minute".into(),
        120..3600 => format!("{} minutes", seconds / 60),
        3600..7200 => "About an hour".into(),
        7200..172800 => format!("{} hours", seconds / 3600),
        _ => format!("{} days", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::new(1764290910, 691427000);
        assert_eq!(rfc3339_nanos(t), "2025-11-28T00:48:30.691427000Z");
        assert_eq!(rfc3339_or_zero(None), ZERO_TIME);
        assert_eq!(unix_seconds(t), 1764290910);
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }
}
