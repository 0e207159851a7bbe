//! The real Docker engine on minirunc: Debian's dockerd, started isolated
//! (its own data root, exec root and socket in a temp dir; no iptables, no
//! bridge, no IP forwarding), told `--add-runtime minirunc=PATH`, and driven
//! by the docker CLI. containerd's runc shim calls minirunc exactly as it
//! calls runc: create, start, state, kill, delete, exec, ps, pause, resume,
//! update.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const MINIRUNC: &str = env!("CARGO_BIN_EXE_minirunc");

/// The cgroup parent dockerd is told to use: ours alone, easy to remove.
const CGROUP_PARENT: &str = "minidocker-dockerd-test";

/// Directories dockerd and containerd make outside the roots they are
/// given (the shims' sockets, the plugins' directory).
const OUTSIDE: [&str; 5] = [
    "/run/containerd/s",
    "/run/containerd",
    "/run/docker/plugins",
    "/run/docker",
    "/etc/docker",
];

/// The daemon's trust key: dockerd 20.10 makes one at start.
const DOCKERD_KEY: &str = "/etc/docker/key.json";

/// A dockerd of our own, stopped and cleaned up when dropped.
struct Dockerd {
    dir: tempfile::TempDir,
    daemon: Child,
    /// Those of [`OUTSIDE`] that were not there before: ours to remove.
    made_outside: Vec<&'static str>,
    /// Whether [`DOCKERD_KEY`] is ours to remove.
    made_key: bool,
}

impl Dockerd {
    fn start() -> Dockerd {
        assert!(
            nix::unistd::geteuid().is_root(),
            "needs root: run sudo scripts/test.sh"
        );
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
        let made_key = !Path::new(DOCKERD_KEY).exists();
        let made_outside = OUTSIDE
            .into_iter()
            .filter(|dir| !Path::new(dir).exists())
            .collect();
        let log = fs::File::create(path.join("dockerd.log")).unwrap();
        let daemon = Command::new("dockerd")
            .arg("--config-file")
            .arg(path.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", path.join("d.sock").display()))
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
            .arg(format!("--cgroup-parent=/{CGROUP_PARENT}"))
            .arg(format!("--add-runtime=minirunc={MINIRUNC}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let dockerd = Dockerd {
            dir,
            daemon,
            made_outside,
            made_key,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dockerd.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                fs::read_to_string(dockerd.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        dockerd
    }

    fn docker(&self, args: &[&str]) -> Output {
        let socket = format!("unix://{}", self.dir.path().join("d.sock").display());
        Command::new("timeout")
            .args(["--kill-after=5", "120", "docker", "-H", &socket])
            .args(args)
            // The CLI's own config (contexts, auth) in the temp dir too.
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `docker ARGS`, which must succeed: its stdout.
    fn ok(&self, args: &[&str]) -> String {
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
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "--runtime", "minirunc", "--network", "none"];
        all.extend_from_slice(args);
        self.docker(&all)
    }

    /// The config.json dockerd wrote for container `name` (through
    /// containerd, in the bundle it hands the runtime), as the book shows
    /// it: book/src/transcripts/ch05-dockerd-config.json.
    fn check_config(&self, name: &str) {
        let id = self.ok(&["inspect", "-f", "{{.Id}}", name]);
        let bundle = self
            .dir
            .path()
            .join("exec/containerd/daemon/io.containerd.runtime.v2.task/moby")
            .join(id.trim());
        let text = fs::read(bundle.join("config.json")).unwrap();
        let mut config: serde_json::Value = serde_json::from_slice(&text).unwrap();
        // The seccomp profile's rules, as their number: the list is long.
        let rules = &mut config["linux"]["seccomp"]["syscalls"];
        let count = rules.as_array().map_or(0, |r| r.len());
        *rules = format!("<{count} rules>").into();
        let text = serde_json::to_string_pretty(&config).unwrap();
        let root = self.dir.path().display().to_string();
        let text = text
            .replace(&format!("{root}/data"), "/var/lib/docker")
            .replace(&format!("{root}/exec"), "/var/run/docker");
        let text = api::transcript::replace(
            &api::transcript::normalize(&text),
            &[(r"/proc/[0-9]+/exe", "/proc/<dockerd-pid>/exe")],
        );
        api::transcript::check("ch05-dockerd-config.json", &(text + "\n"));
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("d.sock")
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.daemon.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
        for hierarchy in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(hierarchy.path().join(CGROUP_PARENT));
        }
        let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(CGROUP_PARENT));
        if self.made_key {
            let _ = fs::remove_file(DOCKERD_KEY);
        }
        // Only if empty: a shim of anybody else's would still be there.
        for dir in &self.made_outside {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[test]
fn privileged_dockerd_runs_containers_on_minirunc() {
    let d = Dockerd::start();
    // The workshop's busybox image, made offline by chapter 02 and loaded.
    let ch02 = Path::new(MINIRUNC).with_file_name("ch02");
    assert!(
        ch02.is_file(),
        "no {}: cargo build -p images",
        ch02.display()
    );
    let store = d.dir.path().join("store");
    let archive = d.dir.path().join("busybox.tar");
    for args in [
        vec!["create-offline-images"],
        vec!["save", "busybox", "-o", archive.to_str().unwrap()],
    ] {
        let out = Command::new(&ch02)
            .arg("--root")
            .arg(&store)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ch02 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    d.ok(&["load", "-i", archive.to_str().unwrap()]);

    // A command, its output and its exit status.
    let out = d.run(&["--rm", "busybox", "echo", "hi"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        d.run(&["--rm", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        d.run(&["--rm", "busybox", "no-such-command"]).status.code(),
        Some(127)
    );

    // --memory is enforced, and the OOM kill is seen by the engine.
    let out = d.run(&[
        "--name",
        "hog",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a)",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "hog"]),
        "true\n"
    );
    d.ok(&["rm", "hog"]);

    // Detached, then exec, top, pause, update and stop.
    let script = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    let out = d.run(&["-d", "--name", "sleeper", "busybox", "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.check_config("sleeper");
    assert_eq!(
        d.ok(&["exec", "sleeper", "echo", "from exec"]),
        "from exec\n"
    );
    assert_eq!(
        d.docker(&["exec", "sleeper", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    assert!(d.ok(&["top", "sleeper"]).contains("sleep"));
    d.ok(&["pause", "sleeper"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "sleeper"]),
        "paused\n"
    );
    d.ok(&["unpause", "sleeper"]);
    d.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "sleeper",
    ]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "sleeper"]),
        "67108864\n"
    );
    let started = Instant::now();
    d.ok(&["stop", "sleeper"]);
    // The trap answered SIGTERM: no 10 s wait for SIGKILL.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "docker stop took {:?}",
        started.elapsed()
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "sleeper"]),
        "0\n"
    );
    d.ok(&["rm", "sleeper"]);

    // -t: a terminal, through the console socket, relayed by the CLI. The
    // CLI wants a terminal of its own: script(1) gives it one.
    let command = format!(
        "docker -H unix://{} run -t --rm --runtime minirunc --network none busybox tty",
        d.socket().display()
    );
    let out = Command::new("timeout")
        .args(["120", "script", "-qec", &command, "/dev/null"])
        .env("DOCKER_CONFIG", d.dir.path().join("cli"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("/dev/pts/0"),
        "{text}"
    );
}
