//! The `ch02 build` sessions of chapter 02's book page, recorded from real
//! runs: a store made by `ch02 create-offline-images` in a temp dir, and a
//! build context written by the session itself, so the reader sees every
//! file the build reads.
//!
//! `ch02 build` has no container runtime, so these Dockerfiles have no RUN
//! (but for the one that shows the refusal). The sessions are compared with
//! `book/src/transcripts/ch02-build-*.txt`;
//! `UPDATE_TRANSCRIPTS=1 cargo test -p images --test transcripts_build`
//! rewrites them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{CH02, ok, require_root, static_dir};
use images::store::WORKSHOP_ROOT;

const PRELUDE: &str = r#"ch02() { "$CH02_BIN" --root "$CH02_ROOT" "$@"; }
"#;

/// A shell session: one store, one home directory (shown as `~`), commands
/// run with `sh -c`, stdout and stderr merged as a terminal shows them.
struct Session {
    root: tempfile::TempDir,
    home: tempfile::TempDir,
    cwd: PathBuf,
    variables: Vec<(String, String)>,
    text: String,
}

impl Session {
    fn new() -> Session {
        let root = tempfile::tempdir().unwrap();
        ok(common::ch02(root.path(), &["create-offline-images"]));
        let home = tempfile::tempdir().unwrap();
        let cwd = home.path().to_path_buf();
        Session {
            root,
            home,
            cwd,
            variables: Vec::new(),
            text: String::new(),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs `line`, records it with its output; returns the output and
    /// whether it succeeded.
    fn exec(&mut self, line: &str) -> (String, bool) {
        let output = Command::new("sh")
            .args(["-c", &format!("{PRELUDE}{{ {line}\n}} 2>&1")])
            .current_dir(&self.cwd)
            .env("CH02_BIN", CH02)
            .env("CH02_ROOT", self.root.path())
            .env("MINIDOCKER_STATIC_DIR", static_dir())
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .envs(self.variables.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("running sh");
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        self.text.push_str(&format!("$ {line}\n{text}"));
        (text, output.status.success())
    }

    fn ok(&mut self, line: &str) -> String {
        let (out, success) = self.exec(line);
        assert!(success, "{line} failed:\n{out}");
        out
    }

    fn fails(&mut self, line: &str) -> String {
        let (out, success) = self.exec(line);
        assert!(!success, "{line} should have failed:\n{out}");
        out
    }

    /// `mkdir NAME && cd NAME`, in the home directory.
    fn new_dir(&mut self, name: &str) {
        let dir = self.home().join(name);
        std::fs::create_dir(&dir).unwrap();
        self.text
            .push_str(&format!("$ mkdir ~/{name} && cd ~/{name}\n"));
        self.cwd = dir;
    }

    fn set(&mut self, name: &str, value: &Path) {
        let shown = value
            .display()
            .to_string()
            .replace(&self.home().display().to_string(), "~");
        self.text.push_str(&format!("$ {name}={shown}\n"));
        self.variables
            .push((name.to_string(), value.display().to_string()));
    }

    /// The session with placeholders for what varies.
    fn show(&self) -> String {
        let text = self
            .text
            .replace(&self.root.path().display().to_string(), WORKSHOP_ROOT)
            .replace(&self.home().display().to_string(), "~");
        let text = api::transcript::normalize(&text);
        let text = api::transcript::replace(
            &text,
            &[
                (r"snapshots/[^/\s]+/", "snapshots/<snapshot>/"),
                (r"\b20\d\d-\d\d-\d\d\b", "<date>"),
                // busybox's size depends on the host's busybox; the layers
                // the builds make are the same everywhere.
                (r"\b\d+(\.\d+)?MB\b", "<size>"),
            ],
        );
        api::transcript::realign_tables(&text, &["CREATED  ", "REPOSITORY "])
    }
}

/// Counts the lines of a build's output that say a layer came from the cache.
fn cache_hits(build_output: &str) -> usize {
    build_output.matches(" ---> Using cache").count()
}

fn write_app_sources(s: &mut Session) {
    s.ok("mkdir src && echo 'fn main() { println!(\"v1\"); }' > src/main.rs");
    s.ok("echo 'serde = \"1\"' > deps.txt");
    s.ok("mkdir target && echo 'a build output' > target/app && echo debug > build.log");
    s.ok("printf 'target\\n*.log\\n' > .dockerignore");
}

#[test]
fn privileged_transcript_build_cache() {
    require_root();
    let mut s = Session::new();
    s.new_dir("app");
    write_app_sources(&mut s);
    s.ok("cat > Dockerfile <<'EOF'
FROM busybox
ARG VERSION=1.0
ENV APP_VERSION=$VERSION
WORKDIR /app
COPY deps.txt ./
COPY . .
CMD [\"/bin/sh\", \"-c\", \"cat /app/deps.txt\"]
EOF");
    let first = s.ok("ch02 build -t app:1 .");
    assert_eq!(cache_hits(&first), 0, "{first}");
    assert!(first.contains("Successfully tagged app:1"), "{first}");
    // Every step but FROM: the layer steps reuse their layers, and the
    // config-only ones say so too, as Docker's do.
    let again = s.ok("ch02 build -t app:1 .");
    assert_eq!(cache_hits(&again), 6, "{again}");
    // The cache key is the content, not the date.
    s.ok("touch src/main.rs");
    let touched = s.ok("ch02 build -t app:1 .");
    assert_eq!(cache_hits(&touched), 6, "{touched}");
    // ARG, ENV, WORKDIR and COPY deps.txt hit; COPY . . and CMD after it miss.
    s.ok("echo '// a change' >> src/main.rs");
    let edited = s.ok("ch02 build -t app:1 .");
    assert_eq!(cache_hits(&edited), 4, "{edited}");
    s.ok("ch02 history app:1");
    let config = s.ok("ch02 inspect app:1 | sed -n '/\"Config\"/,/^  }/p'");
    assert!(
        config.contains("APP_VERSION=1.0") && config.contains("\"/app\""),
        "{config}"
    );
    let rootfs = s.home().join("rootfs");
    s.set("rootfs", &rootfs);
    s.ok("ch02 mount app:1 $rootfs");
    let files = s.ok("find $rootfs/app | sort");
    assert!(files.contains("/app/src/main.rs"), "{files}");
    assert!(
        !files.contains("build.log") && !files.contains("target"),
        ".dockerignore: {files}"
    );
    s.ok("ch02 umount $rootfs");
    api::transcript::check("ch02-build-cache.txt", &s.show());
}

#[test]
fn privileged_transcript_build_break_order() {
    require_root();
    let mut s = Session::new();
    s.new_dir("app");
    write_app_sources(&mut s);
    s.ok("cat > Dockerfile <<'EOF'
FROM busybox
WORKDIR /app
COPY . .
COPY deps.txt /deps/
CMD [\"/bin/sh\", \"-c\", \"cat /deps/deps.txt\"]
EOF");
    let first = s.ok("ch02 build -t app:1 .");
    assert_eq!(cache_hits(&first), 0, "{first}");
    s.ok("echo '// a change' >> src/main.rs");
    let edited = s.ok("ch02 build -t app:1 .");
    assert_eq!(
        cache_hits(&edited),
        1,
        "WORKDIR hits; deps.txt did not change, but its step comes after the one that did: {edited}"
    );
    api::transcript::check("ch02-build-break-order.txt", &s.show());
}

#[test]
fn privileged_transcript_build_stages() {
    require_root();
    let mut s = Session::new();
    s.new_dir("stages");
    s.ok("mkdir -p conf/etc && echo 'hello from a tar' > conf/etc/greeting");
    s.ok("tar -czf conf.tgz -C conf etc && rm -r conf");
    s.ok("cat > Dockerfile <<'EOF'
FROM busybox AS tools
WORKDIR /out
ADD conf.tgz .
COPY Dockerfile notes/

FROM scratch
COPY --from=tools /bin/busybox /bin/
COPY --from=tools /out/ /
ENTRYPOINT [\"/bin/busybox\", \"echo\", \"hello\"]
CMD [\"world\"]
EOF");
    s.ok("ch02 build -t tiny:1 .");
    s.ok("ch02 history tiny:1");
    let config = s.ok("ch02 inspect tiny:1 | sed -n '/\"Config\"/,/^  }/p'");
    assert!(
        config.contains("\"world\"") && config.contains("\"/bin/busybox\""),
        "{config}"
    );
    let rootfs = s.home().join("rootfs");
    s.set("rootfs", &rootfs);
    s.ok("ch02 mount tiny:1 $rootfs");
    let files = s.ok("find $rootfs | sort");
    assert!(
        files.contains("/etc/greeting") && files.contains("/notes/Dockerfile"),
        "{files}"
    );
    assert!(
        !files.contains("/bin/sh"),
        "only what COPY --from picked: {files}"
    );
    s.ok("ch02 umount $rootfs");
    // The shell form wraps the command in /bin/sh -c.
    s.ok("printf 'FROM busybox\\nENTRYPOINT echo hello\\nCMD [\"world\"]\\n' > Dockerfile.shell");
    s.ok("ch02 build -f Dockerfile.shell -t shellform:1 .");
    let config = s.ok("ch02 inspect shellform:1 | sed -n '/\"Config\"/,/^  }/p'");
    assert!(config.contains("\"echo hello\""), "{config}");
    api::transcript::check("ch02-build-stages.txt", &s.show());
}

#[test]
fn privileged_transcript_build_refused() {
    require_root();
    let mut s = Session::new();
    s.new_dir("refused");
    s.ok("printf 'FROM busybox\\nRUN echo hi > /greeting\\n' > Dockerfile.run");
    let out = s.fails("ch02 build -f Dockerfile.run .");
    assert!(out.contains("RUN needs a container runtime"), "{out}");
    s.ok("printf 'FROM busybox\\nADD https://example.com/app.tar.gz /\\n' > Dockerfile.url");
    let out = s.fails("ch02 build -f Dockerfile.url .");
    assert!(out.contains("not supported offline"), "{out}");
    s.ok("printf 'FROM busybox\\nCOPY ../../../etc/passwd /stolen\\n' > Dockerfile.escape");
    let out = s.fails("ch02 build -f Dockerfile.escape .");
    assert!(
        out.contains("no such file or directory in the build context"),
        "{out}"
    );
    s.ok("echo 's3cr3t' > .env && echo .env > .dockerignore");
    s.ok("printf 'FROM busybox\\nCOPY .env /\\n' > Dockerfile.ignored");
    let out = s.fails("ch02 build -f Dockerfile.ignored .");
    assert!(out.contains("excluded by .dockerignore"), "{out}");
    api::transcript::check("ch02-build-refused.txt", &s.show());
}
