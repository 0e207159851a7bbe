//! Restart policies: `--restart no|always|unless-stopped|on-failure[:N]`.
//! When a container exits, the monitor asks the container's restart
//! manager whether to start it again, and after how long: Docker's
//! back-off starts at 100 ms and doubles up to a minute, and goes back to
//! 100 ms once a run has lasted 10 s. `docker stop` or `kill` cancels the
//! loop; a user's `docker start` begins a new one. (moby:
//! `restartmanager/restartmanager.go`, `daemon/monitor.go`.)

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use api::ApiError;
use api::types::RestartPolicy;

use super::Daemon;
use super::container::Container;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long counts as a success for the back-off: it starts over.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A container's restart loop, in memory: a new daemon starts afresh (the
/// count, `RestartCount`, is in the record).
#[derive(Default)]
pub struct RestartManager {
    state: Mutex<Loop>,
    cancelled_changed: Condvar,
}

#[derive(Default)]
struct Loop {
    /// The last delay; zero before the first restart.
    delay: Duration,
    /// By `docker stop` or `kill`: no more restarts until a user's start.
    cancelled: bool,
}

// ANCHOR: should_restart
/// Docker's rule: whether a container that exited with `exit_code` after
/// `restart_count` restarts comes back. `stopped_by_hand` is a stop or
/// kill of the user's, or the daemon's own shutdown.
pub fn policy_says_restart(
    policy: &RestartPolicy,
    exit_code: i64,
    stopped_by_hand: bool,
    restart_count: i64,
) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !stopped_by_hand,
        "on-failure" => {
            let max = policy.maximum_retry_count;
            exit_code != 0 && (max == 0 || restart_count < max)
        }
        _ => false, // "no", or none given
    }
}
// ANCHOR_END: should_restart

impl RestartManager {
    // ANCHOR: backoff
    /// After an exit: the delay before the next start, if there is one.
    pub fn next_delay(
        &self,
        policy: &RestartPolicy,
        exit_code: i64,
        stopped_by_hand: bool,
        ran_for: Duration,
        restart_count: i64,
    ) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.cancelled
            || !policy_says_restart(policy, exit_code, stopped_by_hand, restart_count)
        {
            return None;
        }
        state.delay = if ran_for >= RESET_AFTER || state.delay.is_zero() {
            FIRST_DELAY
        } else {
            (state.delay * 2).min(MAX_DELAY)
        };
        Some(state.delay)
    }
    // ANCHOR_END: backoff

    /// Waits out the delay; false when the loop was cancelled meanwhile.
    fn wait(&self, delay: Duration) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = self
            .cancelled_changed
            .wait_timeout_while(state, delay, |s| !s.cancelled)
            .unwrap_or_else(|e| e.into_inner());
        !state.cancelled
    }

    pub fn cancel(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancelled = true;
        self.cancelled_changed.notify_all();
    }

    pub fn cancelled(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancelled
    }

    /// A user's start: a new loop, from the first delay.
    pub fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Loop::default();
    }
}

/// `HostConfig.RestartPolicy` as dockerd checks it at create and update.
pub fn validate(policy: &RestartPolicy, auto_remove: bool) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::bad_request(m));
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => {
            return bad(format!(
                "invalid restart policy {other:?}: use no, always, unless-stopped or on-failure[:max-retries]"
            ));
        }
    }
    if policy.maximum_retry_count < 0 {
        return bad("invalid restart policy: maximum retry count cannot be negative".into());
    }
    if policy.maximum_retry_count > 0 && policy.name != "on-failure" {
        return bad(format!(
            "invalid restart policy: maximum retry count can only be used with 'on-failure' (not {:?})",
            policy.name
        ));
    }
    if auto_remove && !matches!(policy.name.as_str(), "" | "no") {
        return bad("can't create 'AutoRemove' container with restart policy: --rm removes it at its exit, --restart starts it again: choose one".into());
    }
    Ok(())
}

impl Daemon {
    // ANCHOR: restart_after_exit
    /// The monitor asks, before it records an exit: whether the policy
    /// starts the container again, and after how long. Then the record
    /// says `restarting` rather than `exited`, so `docker wait` waits on.
    pub fn restart_delay(
        &self,
        container: &Container,
        exit_code: i64,
        finished_at: Option<&str>,
    ) -> Option<Duration> {
        let record = container.snapshot();
        let started = super::container::parse_time(record.state.started_at.as_deref());
        let finished = super::container::parse_time(finished_at);
        let ran_for = match (started, finished) {
            (Some(s), Some(f)) => f.duration_since(s).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        container.restarts.next_delay(
            &record.host_config.restart_policy,
            exit_code,
            record.manually_stopped || self.is_shutting_down(),
            ran_for,
            record.restart_count,
        )
    }
    // ANCHOR_END: restart_after_exit

    /// Starts the container again once `delay` has passed, on a thread of
    /// its own, unless a stop or kill cancels the loop meanwhile.
    pub fn restart_later(self: &Arc<Self>, container: &Arc<Container>, delay: Duration) {
        let record = container.snapshot();
        eprintln!(
            "minidockerd: container {} exited ({}): starting it again in {delay:?} (--restart {}, restart {})",
            container.id,
            record.state.exit_code,
            record.host_config.restart_policy.name,
            record.restart_count
        );
        let (daemon, container) = (Arc::clone(self), Arc::clone(container));
        std::thread::spawn(move || {
            let started = container.restarts.wait(delay)
                && match daemon.start_again(&container) {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!("minidockerd: restarting {}: {}", container.id, e.message);
                        false
                    }
                };
            if !started {
                let _ = container.update(|r| r.state.status = "exited".into());
            }
        });
    }

    /// At daemon start, for a container that is not running: `always`
    /// ones start again even if they were stopped by hand, `unless-stopped`
    /// ones unless they were, `on-failure` ones if they failed and have
    /// retries left (moby: `daemon.restore`, `container.ShouldRestart`).
    pub fn restart_at_boot(self: &Arc<Self>, container: &Arc<Container>) {
        let record = container.snapshot();
        if record.state.is_running()
            || record.state.status == "created"
            || !policy_says_restart(
                &record.host_config.restart_policy,
                record.state.exit_code,
                record.manually_stopped,
                record.restart_count,
            )
        {
            return;
        }
        let policy = &record.host_config.restart_policy.name;
        match self.start_again(container) {
            Ok(()) => eprintln!(
                "minidockerd: container {} started again with the daemon (--restart {policy})",
                container.id
            ),
            Err(e) => eprintln!(
                "minidockerd: starting {} again (--restart {policy}): {}",
                container.id, e.message
            ),
        }
    }

    /// A stop or kill of the user's: the loop ends, and `unless-stopped`
    /// remembers it across a daemon restart (not when the daemon itself
    /// is stopping its containers).
    pub fn note_stopped_by_hand(&self, container: &Container) {
        self.cancel_restarts(container);
        // A start of the policy's under way finishes first (it holds the
        // operation lock); one not begun yet sees the cancellation.
        let _operation = container
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.end_restarting(container);
    }

    /// The loop ends, as dockerd's `ExitOnNext` (for the caller that holds
    /// the operation lock already).
    pub fn cancel_restarts(&self, container: &Container) {
        container.restarts.cancel();
        if !self.is_shutting_down() {
            let _ = container.update(|r| r.manually_stopped = true);
        }
    }

    /// A container between two runs has no process to signal: it ends
    /// here.
    pub fn end_restarting(&self, container: &Container) {
        if container.state().status == "restarting" {
            let _ = container.update(|r| r.state.status = "exited".into());
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_decide_as_dockers_do() {
        assert!(!policy_says_restart(&policy("no", 0), 1, false, 0));
        assert!(policy_says_restart(&policy("always", 0), 0, true, 9));
        assert!(policy_says_restart(
            &policy("unless-stopped", 0),
            0,
            false,
            0
        ));
        assert!(!policy_says_restart(
            &policy("unless-stopped", 0),
            0,
            true,
            0
        ));
        assert!(policy_says_restart(&policy("on-failure", 3), 1, false, 2));
        assert!(!policy_says_restart(&policy("on-failure", 3), 1, false, 3));
        assert!(!policy_says_restart(&policy("on-failure", 0), 0, false, 0));
    }

    #[test]
    fn the_delay_doubles_to_a_minute_and_starts_over_after_a_long_run() {
        let manager = RestartManager::default();
        let always = policy("always", 0);
        let next = |ran_for| manager.next_delay(&always, 0, false, ran_for, 0);
        let quick = Duration::from_millis(5);
        assert_eq!(next(quick), Some(FIRST_DELAY));
        assert_eq!(next(quick), Some(FIRST_DELAY * 2));
        for _ in 0..20 {
            next(quick);
        }
        assert_eq!(next(quick), Some(MAX_DELAY));
        assert_eq!(next(RESET_AFTER), Some(FIRST_DELAY));
        manager.cancel();
        assert_eq!(next(quick), None, "a stop ends the loop");
        manager.reset();
        assert_eq!(next(quick), Some(FIRST_DELAY));
    }
}
