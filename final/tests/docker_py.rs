//! The Python docker SDK (the `docker` package, 7.x) against minidockerd:
//! the engine's second real client, after the docker CLI. Each test starts
//! a daemon of its own and runs one script of tests/docker_py/ with the
//! SDK's venv, which `scripts/provision.sh --test` makes. A script prints
//! one line per check (`ok   …` or `FAIL …: expected …, got …`) and exits
//! non-zero at the first failure; the test shows that output.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Daemon, stderr, stdout};

/// Where provision.sh installs the SDK: Debian's pip installs nothing into
/// the system Python, so it has a venv of its own.
const VENV_PYTHON: &str = "/opt/minidocker/docker-py/bin/python";

/// The venv's python; a test fails, saying how to get it, where it is missing.
fn python() -> &'static Path {
    let python = Path::new(VENV_PYTHON);
    assert!(
        python.is_file(),
        "{VENV_PYTHON} is missing: the docker SDK is not installed; run scripts/provision.sh --test"
    );
    python
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/docker_py")
        .join(name)
}

/// Runs tests/docker_py/NAME against `daemon`; a failed check or a hang
/// fails the test with the script's output and the daemon's log.
fn run_script(daemon: &Daemon, name: &str) {
    let child = Command::new(python())
        .arg(script(name))
        // DOCKER_HOST is all docker.from_env() needs; TLS variables from the
        // caller's shell would make it speak TLS to a Unix socket.
        .env("DOCKER_HOST", daemon.host())
        .env("DOCKER_CONFIG", &daemon.docker_config)
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the venv's python");
    let out = common::wait_output(child, &format!("docker_py/{name}"), daemon);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "docker_py/{name} failed ({}):\n{text}\nstderr:\n{}\ndaemon log:\n{}",
        out.status,
        stderr(&out),
        daemon.log_text()
    );
    // The script's own last line: it ran to the end, not just exited 0.
    let last = text.lines().last().unwrap_or("");
    assert!(
        last.ends_with("all checks passed"),
        "docker_py/{name} exited 0 without finishing its checks:\n{text}"
    );
}

/// ping, version (API negotiation), images.get and images.list.
#[test]
fn privileged_docker_py_asks_about_the_engine_and_images() {
    python();
    let daemon = Daemon::start();
    run_script(&daemon, "system.py");
}

/// containers.run (output, ContainerError, environment, working_dir,
/// hostname), detach, list, logs, exec_run, stats, stop, wait, remove.
#[test]
fn privileged_docker_py_runs_containers() {
    python();
    let daemon = Daemon::start();
    run_script(&daemon, "containers.py");
}
