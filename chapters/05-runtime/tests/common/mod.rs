//! What chapter 05's integration tests share: the root check, a busybox
//! bundle, the cleanup of a state root, and an isolated dockerd. Each test
//! file uses a part of it.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use namespaces::pidfd::PidFd;
use nix::poll::{PollFd, PollFlags, PollTimeout};

pub const MINIRUNC: &str = env!("CARGO_BIN_EXE_minirunc");

/// How long a test waits for an event that must come (a line, an exit)
/// before it calls it a hang: a guard, not how long the event takes.
pub const HANG: Duration = Duration::from_secs(60);

/// Whether `fd` has something to read (or its end) within `limit`.
pub fn readable(fd: impl AsFd, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(ready) => return ready > 0,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// What a process prints, line by line as it comes, from a pipe whose
/// write end it holds (a container inherits it from `minirunc create`).
pub struct Lines {
    pipe: fs::File,
    pending: Vec<u8>,
}

impl Lines {
    pub fn new(pipe: impl Into<OwnedFd>) -> Lines {
        Lines {
            pipe: fs::File::from(pipe.into()),
            pending: Vec::new(),
        }
    }

    /// The next line, with its newline: the process has printed it.
    pub fn next(&mut self) -> String {
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            let so_far = String::from_utf8_lossy(&self.pending).into_owned();
            assert!(
                readable(&self.pipe, HANG),
                "no line within {HANG:?}; so far: {so_far:?}"
            );
            let mut buffer = [0u8; 4096];
            let read = self.pipe.read(&mut buffer).unwrap();
            assert!(read > 0, "the pipe ended before a line; so far: {so_far:?}");
            self.pending.extend_from_slice(&buffer[..read]);
        }
    }

    /// Whether nothing is there to read now: no line was printed since.
    pub fn nothing_yet(&self) -> bool {
        self.pending.is_empty() && !readable(&self.pipe, Duration::ZERO)
    }
}

/// A process's pidfd, opened while the caller knows `pid` is the process
/// meant (its child not yet reaped, or checked after opening).
pub fn pidfd(pid: i32) -> PidFd {
    PidFd::open(pid).unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"))
}

/// Waits for the process behind `pidfd` to exit (to be a zombie, or gone).
pub fn wait_exit(pidfd: &PidFd, what: &str) {
    assert!(
        pidfd.wait_exit(HANG).unwrap(),
        "{what} did not exit within {HANG:?}"
    );
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run sudo scripts/test.sh"
    );
}

pub fn require_runc() {
    let found = Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "runc is not installed: sudo scripts/provision.sh --test"
    );
}

/// Whose `spec` writes the bundle's config.json.
pub enum SpecBy {
    Runc,
    Minirunc,
}

/// A bundle in `bundle` (made): a config.json from `runc spec` or
/// `minirunc spec`, without a terminal, running `args`, and the offline
/// busybox image's files in rootfs/.
pub fn busybox_bundle(bundle: &Path, spec_by: SpecBy, args: &[&str]) {
    fs::create_dir_all(bundle).unwrap();
    let out = match spec_by {
        SpecBy::Runc => Command::new("runc")
            .arg("spec")
            .current_dir(bundle)
            .output(),
        SpecBy::Minirunc => Command::new(MINIRUNC)
            .args(["spec", "--bundle"])
            .arg(bundle)
            .output(),
    }
    .expect("runc is installed: sudo scripts/provision.sh --test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let busybox = images::rootfs::busybox_path().expect("busybox-static is installed");
    let mut layer = Vec::new();
    images::rootfs::write_busybox_layer(&busybox, &mut layer).unwrap();
    let mut archive = tar::Archive::new(layer.as_slice());
    archive.set_preserve_permissions(true);
    archive.unpack(bundle.join("rootfs")).unwrap();
    edit_config(bundle, |config| {
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.into();
    });
}

/// Changes the bundle's config.json.
pub fn edit_config(bundle: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    change(&mut config);
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// Force-deletes every container minirunc still has under `root`: a test
/// that failed halfway leaves no process, cgroup or state behind.
pub fn delete_all(root: &Path) {
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let _ = Command::new(MINIRUNC)
            .arg("--root")
            .arg(root)
            .args(["delete", "--force"])
            .arg(entry.file_name())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Directories dockerd and containerd make outside the roots they are
/// given (the shims' sockets, the plugins', the trust key's).
const DOCKERD_OUTSIDE: [&str; 5] = [
    "/run/containerd/s",
    "/run/containerd",
    "/run/docker/plugins",
    "/run/docker",
    "/etc/docker",
];

/// The daemon's trust key: dockerd 20.10 makes one at start.
const DOCKERD_KEY: &str = "/etc/docker/key.json";

/// A dockerd of our own, isolated: its data root, exec root and socket in
/// a temp dir; no iptables, no bridge, no IP forwarding; the cgroupfs
/// driver under `/CGROUP_PARENT`; minirunc (or a wrapper of it) added as
/// the runtime `minirunc`. Stopped, and what it made removed, when dropped.
pub struct Dockerd {
    pub dir: tempfile::TempDir,
    daemon: Child,
    /// The daemon's pidfd: our child, not reaped until dropped.
    exit: PidFd,
    cgroup_parent: String,
    /// Those of [`DOCKERD_OUTSIDE`] that were not there before: ours.
    made_outside: Vec<&'static str>,
    made_key: bool,
}

impl Dockerd {
    pub fn start(runtime: &Path, cgroup_parent: &str) -> Dockerd {
        require_root();
        let found = Command::new("dockerd").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "dockerd is not installed: sudo scripts/provision.sh --test"
        );
        // A short path: the socket's must fit in sun_path (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("mdd")
            .tempdir_in("/tmp")
            .unwrap();
        let path = dir.path();
        fs::write(path.join("daemon.json"), "{}").unwrap();
        let made_outside = DOCKERD_OUTSIDE
            .into_iter()
            .filter(|dir| !Path::new(dir).exists())
            .collect();
        let made_key = !Path::new(DOCKERD_KEY).exists();
        let log = fs::File::create(path.join("dockerd.log")).unwrap();
        let mut daemon = Command::new("dockerd")
            .arg("--config-file")
            .arg(path.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", path.join("docker.sock").display()))
            .arg("--data-root")
            .arg(path.join("data"))
            .arg("--exec-root")
            .arg(path.join("exec"))
            .arg("--pidfile")
            .arg(path.join("dockerd.pid"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .arg(format!("--cgroup-parent=/{cgroup_parent}"))
            .arg(format!("--add-runtime=minirunc={}", runtime.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // dockerd logs to stderr, each line copied to dockerd.log by a
        // thread that tells when the API is served: "API listen on SOCKET"
        // is logged as the server starts serving, after the daemon's
        // initialisation (the socket exists earlier, unanswered). The
        // channel closes if dockerd's stderr ends first: it died.
        let stderr = daemon.stderr.take().unwrap();
        let serving_line = format!("API listen on {}", path.join("docker.sock").display());
        let (serving, served) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if line.contains(&serving_line) {
                    let _ = serving.send(());
                }
            }
        });
        let exit = pidfd(daemon.id() as i32);
        let dockerd = Dockerd {
            dir,
            daemon,
            exit,
            cgroup_parent: cgroup_parent.to_string(),
            made_outside,
            made_key,
        };
        let came_up = served.recv_timeout(Duration::from_secs(120));
        assert!(
            came_up.is_ok(),
            "dockerd did not serve its API ({}): {}",
            match came_up {
                Err(mpsc::RecvTimeoutError::Disconnected) => "it exited".to_string(),
                _ => "for 120 s".to_string(),
            },
            fs::read_to_string(dockerd.dir.path().join("dockerd.log")).unwrap_or_default()
        );
        let version = dockerd.docker(&["version"]);
        assert!(
            version.status.success(),
            "dockerd serves its API but `docker version` failed: {}",
            String::from_utf8_lossy(&version.stderr)
        );
        dockerd
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// The docker CLI's own config (contexts, auth): in the temp dir too.
    pub fn cli_config(&self) -> PathBuf {
        self.dir.path().join("cli")
    }

    /// `docker ARGS` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["--kill-after=5", "120", "docker", "-H"])
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .env("DOCKER_CONFIG", self.cli_config())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `docker ARGS` against this daemon, to spawn (`logs -f`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .env("DOCKER_CONFIG", self.cli_config())
            .stdin(Stdio::null());
        command
    }
}

impl Dockerd {
    /// `docker ARGS`, which must succeed: its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker run --runtime minirunc --network none ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "--runtime", "minirunc", "--network", "none"];
        all.extend_from_slice(args);
        self.docker(&all)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // SIGTERM: dockerd stops its containerd and exits.
        let pid = nix::unistd::Pid::from_raw(self.daemon.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if !self
            .exit
            .wait_exit(Duration::from_secs(30))
            .unwrap_or(false)
        {
            let _ = self.daemon.kill();
        }
        let _ = self.daemon.wait();
        // What dockerd leaves mounted under its roots (a netns, overlays),
        // deepest first.
        let root = self.dir.path().display().to_string();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| point.starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for point in mounts {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
        // The cgroup parent, in every hierarchy (only if empty).
        for hierarchy in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(hierarchy.path().join(&self.cgroup_parent));
        }
        let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.cgroup_parent));
        if self.made_key {
            let _ = fs::remove_file(DOCKERD_KEY);
        }
        // Only if empty: a shim of anybody else's would still be there.
        for dir in &self.made_outside {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A script that logs each command line it is given to `log`, then runs
/// minirunc with it: what the shim asks of the runtime, call by call.
pub fn logging_minirunc(script: &Path, log: &Path) {
    fs::write(
        script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{MINIRUNC}' \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(script, fs::Permissions::from_mode(0o755)).unwrap();
}
