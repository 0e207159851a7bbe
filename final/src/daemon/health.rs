//! Health checks: `HEALTHCHECK` in the image, `--health-cmd` and friends on
//! `docker run`. While a container runs, a thread of the daemon's runs the
//! probe in it every interval — an exec, as any `docker exec` — and keeps
//! the last five results in `State.Health`; its status is `starting` until
//! a probe passes, `healthy` after one, `unhealthy` after `retries` failures
//! in a row. A probe that outlives its timeout is killed. (moby:
//! `daemon/health.go`.)

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use api::ApiError;
use api::stdcopy::{self, StreamType};
use images::oci::HealthConfig;
use serde::{Deserialize, Serialize};

use super::Daemon;
use super::container::{Container, parse_time};
use super::exec::ExecConfig;

/// Docker's defaults, for a 0 in the config.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept, and the bytes of output kept of each.
const KEEP_RESULTS: usize = 5;
const MAX_OUTPUT: usize = 4096;

/// `State.Health` in inspect.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<ProbeResult>,
}

impl Health {
    // ANCHOR: judge
    /// Docker's rules for one probe's exit code: a pass makes it healthy;
    /// a failure counts, except in the start period before a first pass;
    /// `retries` failures in a row (3 by default) make it unhealthy.
    fn judge(&mut self, exit_code: i64, retries: i64, in_start_period: bool) {
        let retries = if retries > 0 {
            retries
        } else {
            DEFAULT_RETRIES
        };
        if exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !(self.status == "starting" && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = "unhealthy".into();
            }
        }
    }
    // ANCHOR_END: judge
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// The container's health check, if it has one that is not `NONE`: the
/// create request's, over the image's (merged at create).
pub fn check_of(config: &api::types::ContainerConfig) -> Option<HealthConfig> {
    let check: HealthConfig =
        serde_json::from_value(config.extra.get("Healthcheck")?.clone()).ok()?;
    match check.test.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") => Some(check),
        _ => None,
    }
}

/// What dockerd refuses in `Config.Healthcheck`.
pub fn validate(config: &api::types::ContainerConfig) -> Result<(), ApiError> {
    let Some(value) = config.extra.get("Healthcheck").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let bad = |m: String| ApiError::bad_request(m);
    let check: HealthConfig = serde_json::from_value(value.clone())
        .map_err(|e| bad(format!("invalid Healthcheck: {e}")))?;
    match check.test.first().map(String::as_str) {
        None | Some("NONE") | Some("CMD") | Some("CMD-SHELL") => {}
        Some(other) => {
            return Err(bad(format!(
                "invalid Healthcheck.Test {other:?}: use NONE, CMD or CMD-SHELL"
            )));
        }
    }
    for (name, value) in [
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("StartInterval", check.start_interval),
    ] {
        // Docker's container.MinimumDuration.
        if value != 0 && value < 1_000_000 {
            return Err(bad(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if check.retries < 0 {
        return Err(bad("Retries in Healthcheck cannot be negative".into()));
    }
    Ok(())
}

fn nanos_or(value: i64, default: Duration) -> Duration {
    if value > 0 {
        Duration::from_nanos(value as u64)
    } else {
        default
    }
}

/// Starts and stops a container's probe thread: each run of the container
/// gets a new generation; a thread whose generation is past ends.
#[derive(Default)]
pub struct HealthMonitor {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl HealthMonitor {
    fn begin(&self) -> u64 {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        self.changed.notify_all();
        *generation
    }

    /// The container stopped: its probe thread ends.
    pub fn stop(&self) {
        self.begin();
    }

    /// Sleeps `time`; false when the run ended meanwhile.
    fn sleep(&self, generation: u64, time: Duration) -> bool {
        let now = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let (now, _) = self
            .changed
            .wait_timeout_while(now, time, |now| *now == generation)
            .unwrap_or_else(|e| e.into_inner());
        *now == generation
    }

    fn current(&self, generation: u64) -> bool {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) == generation
    }
}

impl Daemon {
    // ANCHOR: watch
    /// Starts probing a container that has just started (or been found
    /// running by a new daemon), if it has a health check.
    pub fn watch_health(self: &Arc<Self>, container: &Arc<Container>) {
        let record = container.snapshot();
        let Some(check) = check_of(&record.config) else {
            return;
        };
        let generation = container.health.begin();
        let (daemon, container) = (Arc::clone(self), Arc::clone(container));
        std::thread::spawn(move || {
            let started = parse_time(record.state.started_at.as_deref());
            let start_period = Duration::from_nanos(check.start_period.max(0) as u64);
            loop {
                // In the start period, until a first success, Docker probes
                // every StartInterval instead.
                let starting = container
                    .state()
                    .health
                    .is_none_or(|h| h.status == "starting")
                    && started.and_then(|s| s.elapsed().ok()).unwrap_or_default() < start_period;
                let interval = if starting && check.start_interval > 0 {
                    nanos_or(check.start_interval, DEFAULT_START_INTERVAL)
                } else {
                    nanos_or(check.interval, DEFAULT_INTERVAL)
                };
                if !container.health.sleep(generation, interval) {
                    return;
                }
                let result = daemon.probe(&container, &record.config, &check);
                if !container.health.current(generation) {
                    return; // it stopped while the probe ran
                }
                daemon.record_probe(&container, &check, result, started);
            }
        });
    }
    // ANCHOR_END: watch

    /// Runs the probe once, as an exec, and times it.
    fn probe(
        &self,
        container: &Container,
        config: &api::types::ContainerConfig,
        check: &HealthConfig,
    ) -> ProbeResult {
        let start = SystemTime::now();
        let exec_config = ExecConfig {
            cmd: Some(probe_argv(config, check)),
            attach_stdout: true,
            attach_stderr: true,
            ..ExecConfig::default()
        };
        let timeout = nanos_or(check.timeout, DEFAULT_TIMEOUT);
        let (exit_code, output) = self
            .run_probe(container, exec_config, timeout)
            .unwrap_or_else(|e| (-1, e.message));
        ProbeResult {
            start: api::timefmt::rfc3339_nanos(start),
            end: api::timefmt::rfc3339_nanos(SystemTime::now()),
            exit_code,
            output,
        }
    }

    // ANCHOR: probe
    /// The exec's exit code and output; a probe still running at its
    /// timeout gets SIGKILL (the shim knows its PID) and counts as failed,
    /// with exit code -1.
    fn run_probe(
        &self,
        container: &Container,
        config: ExecConfig,
        timeout: Duration,
    ) -> Result<(i64, String), ApiError> {
        let exec = self.create_exec(container, config)?;
        let stream = self.start_exec(&exec);
        // Internal: not one of the container's execs for clients.
        let mut execs = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        execs.remove(&exec.id);
        drop(execs);
        let stream = stream?;
        // No input: the probe's stdin ends now.
        let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
        let finished = read_probe(stream);
        if let Ok(done) = finished.recv_timeout(timeout) {
            return Ok(done);
        }
        let kill = nix::sys::signal::Signal::SIGKILL as i32;
        let _ = self.shim_client(&container.id).signal_exec(&exec.id, kill);
        let _ = finished.recv_timeout(DEFAULT_TIMEOUT);
        let limit = go_duration(timeout);
        Ok((-1, format!("Health check exceeded timeout ({limit})")))
    }
    // ANCHOR_END: probe

    /// Records a probe's result, and says in the log when the verdict
    /// changes.
    fn record_probe(
        &self,
        container: &Container,
        check: &HealthConfig,
        result: ProbeResult,
        started: Option<SystemTime>,
    ) {
        let start_period = Duration::from_nanos(check.start_period.max(0) as u64);
        let in_start_period = match (started, parse_time(Some(&result.start))) {
            (Some(s), Some(p)) => p.duration_since(s).unwrap_or_default() < start_period,
            _ => false,
        };
        let mut change = None;
        let updated = container.update(|r| {
            let health = r.state.health.get_or_insert_with(Health::default);
            let before = health.status.clone();
            health.judge(result.exit_code, check.retries, in_start_period);
            if health.status != before {
                change = Some((health.status.clone(), result.exit_code));
            }
            health.log.push(result);
            let excess = health.log.len().saturating_sub(KEEP_RESULTS);
            health.log.drain(..excess);
        });
        if let Err(e) = updated {
            eprintln!(
                "minidockerd: recording a health probe of {}: {e:#}",
                container.id
            );
        }
        if let Some((status, code)) = change {
            let action = format!("health_status: {status}");
            self.container_event(&container.snapshot(), &action, &[]);
            eprintln!(
                "minidockerd: container {} is {status} (health check exit code {code})",
                container.id
            );
        }
    }
}

/// The probe's command: `CMD` words as they are, `CMD-SHELL` text in the
/// container's shell (the image's SHELL, or `/bin/sh -c`).
fn probe_argv(config: &api::types::ContainerConfig, check: &HealthConfig) -> Vec<String> {
    if check.test[0] == "CMD" {
        return check.test[1..].to_vec();
    }
    let mut shell: Vec<String> = config
        .extra
        .get("Shell")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    shell.extend(check.test.get(1).cloned());
    shell
}

/// A duration as Go prints one (`time.Duration.String`): `200ms`, `30s`,
/// `1m30s` — Docker's timeout message has it.
fn go_duration(time: Duration) -> String {
    let ms = time.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (minutes, seconds) = (time.as_secs() / 60, time.as_secs_f64() % 60.0);
    let seconds = format!("{seconds}").trim_end_matches(".0").to_string();
    match minutes {
        0 => format!("{seconds}s"),
        m => format!("{m}m{seconds}s"),
    }
}

/// Reads a probe's frames on a thread: its output (stdout and stderr, the
/// first 4 KiB) and exit code arrive on the channel when it ends.
fn read_probe(mut stream: BufReader<UnixStream>) -> mpsc::Receiver<(i64, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut output = Vec::new();
        let mut code = -1;
        loop {
            match stdcopy::read_frame_with_exit(&mut stream) {
                Ok(Some((StreamType::Exit, payload))) => {
                    code = String::from_utf8_lossy(&payload)
                        .trim()
                        .parse()
                        .unwrap_or(-1);
                    break;
                }
                Ok(Some((_, payload))) => {
                    let room = MAX_OUTPUT.saturating_sub(output.len());
                    output.extend_from_slice(&payload[..payload.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let _ = tx.send((code, String::from_utf8_lossy(&output).into_owned()));
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_dockers_rules() {
        let mut health = Health {
            status: "starting".into(),
            ..Health::default()
        };
        health.judge(1, 2, true);
        assert_eq!(
            (health.status.as_str(), health.failing_streak),
            ("starting", 0)
        );
        health.judge(1, 2, false);
        health.judge(1, 2, false);
        assert_eq!(
            (health.status.as_str(), health.failing_streak),
            ("unhealthy", 2)
        );
        health.judge(0, 2, false);
        assert_eq!(
            (health.status.as_str(), health.failing_streak),
            ("healthy", 0)
        );
        // Once healthy, the start period no longer excuses a failure.
        health.judge(1, 0, true);
        assert_eq!(
            (health.status.as_str(), health.failing_streak),
            ("healthy", 1)
        );
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn health_checks_are_checked_as_dockerd_checks_them() {
        let config = |check: serde_json::Value| {
            let mut config = api::types::ContainerConfig::default();
            config.extra.insert("Healthcheck".into(), check);
            config
        };
        let refused = |check| validate(&config(check)).unwrap_err().message;
        assert!(
            validate(&config(
                serde_json::json!({"Test": ["CMD", "true"], "Interval": 1_000_000})
            ))
            .is_ok()
        );
        assert!(validate(&config(serde_json::Value::Null)).is_ok());
        assert_eq!(
            refused(serde_json::json!({"Test": ["CMD", "true"], "Interval": 5})),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            refused(serde_json::json!({"Test": ["CMD", "true"], "Retries": -1})),
            "Retries in Healthcheck cannot be negative"
        );
        assert!(
            refused(serde_json::json!({"Test": ["RUN", "x"]})).contains("NONE, CMD or CMD-SHELL")
        );
        // NONE turns a check off: nothing to run.
        assert!(check_of(&config(serde_json::json!({"Test": ["NONE"]}))).is_none());
    }
}
