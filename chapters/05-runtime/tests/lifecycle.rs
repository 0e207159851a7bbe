//! minirunc's lifecycle on bundles made by `runc spec` — the reference
//! runtime's own config.json — and what it refuses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MINIRUNC: &str = env!("CARGO_BIN_EXE_minirunc");

fn require_root_and_runc() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run sudo scripts/test.sh"
    );
    let found = Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "runc is not installed: sudo scripts/provision.sh --test"
    );
}

/// A state root and a bundle (`runc spec` + busybox) in a temp dir.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(args: &[&str]) -> Fixture {
        require_root_and_runc();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        let out = Command::new("runc")
            .arg("spec")
            .current_dir(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success());
        let busybox = images::rootfs::busybox_path().expect("busybox-static is installed");
        let mut layer = Vec::new();
        images::rootfs::write_busybox_layer(&busybox, &mut layer).unwrap();
        let mut archive = tar::Archive::new(layer.as_slice());
        archive.set_preserve_permissions(true);
        archive.unpack(bundle.join("rootfs")).unwrap();
        let f = Fixture { dir };
        f.edit(|config| {
            config["process"]["terminal"] = false.into();
            config["process"]["args"] = args.into();
        });
        f
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn edit(&self, change: impl FnOnce(&mut serde_json::Value)) {
        let path = self.bundle().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        change(&mut config);
        fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// `minirunc --root STATE ARGS`. Its stdout and stderr are files, not
    /// pipes: a created container inherits them (as runc's does) and lives
    /// on, so reading a pipe to its end would wait for the container.
    fn minirunc(&self, args: &[&str]) -> Output {
        let stdout_path = self.dir.path().join("minirunc.out");
        let stderr_path = self.dir.path().join("minirunc.err");
        let status = Command::new("timeout")
            .args(["--kill-after=5", "60", MINIRUNC, "--root"])
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: fs::read(&stdout_path).unwrap(),
            stderr: fs::read(&stderr_path).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.minirunc(args);
        assert!(
            out.status.success(),
            "minirunc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn err(&self, args: &[&str]) -> String {
        let out = self.minirunc(args);
        assert!(!out.status.success(), "minirunc {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    }

    fn status(&self, id: &str) -> String {
        let state: serde_json::Value = serde_json::from_str(&self.ok(&["state", id])).unwrap();
        state["status"].as_str().unwrap().to_string()
    }

    fn assert_nothing_left(&self, id: &str) {
        assert!(
            !self.root().join(id).exists(),
            "state directory of {id} left behind"
        );
        let memory = Path::new("/sys/fs/cgroup/memory/minidocker").join(id);
        let v2 = Path::new("/sys/fs/cgroup/minidocker").join(id);
        assert!(
            !memory.exists() && !v2.exists(),
            "cgroup of {id} left behind"
        );
    }
}

#[test]
fn privileged_create_start_kill_delete() {
    let f = Fixture::new(&["sleep", "30"]);
    let bundle = f.bundle();
    let pid_file = f.dir.path().join("pid");
    let id = format!("lifecycle-{}", std::process::id());
    f.ok(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    // Created: set up, waiting at the fifo, before execve.
    assert_eq!(f.status(&id), "created");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let state: serde_json::Value = serde_json::from_str(&f.ok(&["state", &id])).unwrap();
    assert_eq!(state["pid"], pid);
    assert_eq!(state["bundle"], bundle.to_str().unwrap());
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep", "the command ran before start");
    assert!(f.ok(&["list"]).contains(&id));

    f.ok(&["start", &id]);
    assert_eq!(f.status(&id), "running");
    let ps = f.ok(&["ps", &id]);
    assert!(ps.contains("sleep 30"), "{ps}");
    assert_eq!(
        f.err(&["start", &id]),
        "minirunc: cannot start an already running container"
    );
    assert_eq!(
        f.err(&["delete", &id]),
        format!("minirunc: cannot delete container {id} that is not stopped: running")
    );
    assert_eq!(
        f.err(&["kill", &id, "SIGFLY"]),
        "minirunc: invalid signal: SIGFLY"
    );
    f.ok(&["kill", &id, "KILL"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.status(&id) != "stopped" {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGKILL did not stop it"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        f.err(&["kill", &id, "9"]),
        "minirunc: container not running"
    );
    assert_eq!(
        f.err(&["start", &id]),
        "minirunc: cannot start a container that has stopped"
    );
    f.ok(&["delete", &id]);
    f.assert_nothing_left(&id);
    assert_eq!(f.err(&["state", &id]), "minirunc: container does not exist");
    // --force on what is already gone succeeds, as runc's does.
    f.ok(&["delete", "--force", &id]);
}

#[test]
fn privileged_delete_force_kills_a_running_container() {
    let f = Fixture::new(&["sleep", "30"]);
    let id = format!("force-{}", std::process::id());
    f.ok(&["create", "--bundle", f.bundle().to_str().unwrap(), &id]);
    f.ok(&["start", &id]);
    f.ok(&["delete", "--force", &id]);
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_run_passes_the_exit_status_through() {
    let f = Fixture::new(&["sh", "-c", "echo hello from $(hostname); exit 7"]);
    let id = format!("run-{}", std::process::id());
    let out = f.minirunc(&["run", "--bundle", f.bundle().to_str().unwrap(), &id]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from runc\n");
    f.assert_nothing_left(&id);

    // Killed by a signal: 128 + 9.
    f.edit(|config| config["process"]["args"] = ["sleep", "30"].into());
    let mut run = Command::new(MINIRUNC)
        .arg("--root")
        .arg(f.root())
        .args(["run", "--bundle", f.bundle().to_str().unwrap(), &id])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !f.root().join(&id).join("state.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "run never saved its state"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f.ok(&["kill", &id, "SIGKILL"]);
    assert_eq!(run.wait().unwrap().code(), Some(137));
    f.assert_nothing_left(&id);
}

#[test]
fn privileged_bad_bundles_and_ids_are_refused_and_leave_nothing() {
    let f = Fixture::new(&["true"]);
    let bundle = f.bundle();
    let b = bundle.to_str().unwrap();
    for bad_id in ["a/b", "..", "x y"] {
        let err = f.err(&["create", "--bundle", b, bad_id]);
        assert!(err.contains("invalid id format"), "{err}");
    }
    let id = format!("bad-{}", std::process::id());
    f.ok(&["create", "--bundle", b, &id]);
    assert_eq!(
        f.err(&["create", "--bundle", b, &id]),
        format!("minirunc: container with id exists: {id}")
    );
    f.ok(&["delete", "--force", &id]);

    fs::rename(bundle.join("rootfs"), bundle.join("elsewhere")).unwrap();
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(
        err.contains("rootfs") && err.contains("does not exist"),
        "{err}"
    );
    f.assert_nothing_left(&id);
    fs::rename(bundle.join("elsewhere"), bundle.join("rootfs")).unwrap();

    f.edit(|config| config["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"}));
    let err = f.err(&["create", "--bundle", b, &id]);
    assert_eq!(
        err,
        "minirunc: config.json asks for linux.sysctl, which minirunc does not support"
    );
    f.assert_nothing_left(&id);

    fs::write(bundle.join("config.json"), "{ not json").unwrap();
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(err.contains("is not a valid config.json"), "{err}");
    fs::remove_file(bundle.join("config.json")).unwrap();
    let err = f.err(&["create", "--bundle", b, &id]);
    assert!(err.contains("config.json"), "{err}");
    f.assert_nothing_left(&id);

    // Errors go to --log as runc writes them, JSON for containerd's shim.
    let log = f.dir.path().join("log.json");
    f.err(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    let line: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(
        (line["level"].as_str(), line["msg"].as_str()),
        (Some("error"), Some("container does not exist"))
    );
    let err = f.err(&["--systemd-cgroup", "list"]);
    assert!(err.contains("not supported"), "{err}");
}
