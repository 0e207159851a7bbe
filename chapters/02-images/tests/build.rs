//! The builder with a stub runtime: layers, cache hits and misses,
//! multi-stage COPY --from, .dockerignore, and a context that tries to leak.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{ch02, ok, require_root};
use images::build::{BuildOptions, RunRequest, RunStep, build};
use images::reference::Reference;
use images::store::ImageStore;

/// Stands in for a container runtime: "runs" a command by writing a file
/// named after it into the root filesystem, and counts its calls.
#[derive(Default)]
struct StubRuntime {
    calls: AtomicUsize,
}

impl RunStep for StubRuntime {
    fn run(&self, request: &RunRequest, output: &mut dyn Write) -> anyhow::Result<i32> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let script = request.argv.last().cloned().unwrap_or_default();
        if script.contains("exit 3") {
            writeln!(output, "failing on purpose")?;
            return Ok(3);
        }
        let name = script.replace(' ', "_");
        fs::write(
            request.rootfs.join("tmp").join(name),
            format!("{:?} in {}\n", request.argv, request.working_dir),
        )?;
        writeln!(output, "ran {script}")?;
        Ok(0)
    }
}

struct Fixture {
    root: tempfile::TempDir,
    context: tempfile::TempDir,
    store: ImageStore,
    runtime: StubRuntime,
}

impl Fixture {
    fn new() -> Fixture {
        require_root();
        let root = tempfile::tempdir().unwrap();
        ok(ch02(root.path(), &["create-offline-images"]));
        let store = ImageStore::open(root.path()).unwrap();
        Fixture {
            root,
            context: tempfile::tempdir().unwrap(),
            store,
            runtime: StubRuntime::default(),
        }
    }

    fn file(&self, path: &str, contents: &str) {
        let path = self.context.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Builds; returns the progress lines.
    fn build(
        &self,
        dockerfile: &str,
        tag: &str,
        args: &[(&str, &str)],
    ) -> anyhow::Result<Vec<String>> {
        self.build_with(dockerfile, tag, args, false)
    }

    fn build_with(
        &self,
        dockerfile: &str,
        tag: &str,
        args: &[(&str, &str)],
        no_cache: bool,
    ) -> anyhow::Result<Vec<String>> {
        let options = BuildOptions {
            tag: Some(Reference::parse(tag).unwrap()),
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            no_cache,
            ..Default::default()
        };
        let mut lines = Vec::new();
        build(
            &self.store,
            self.context.path(),
            dockerfile,
            &options,
            &self.runtime,
            &mut |l| lines.push(l.to_string()),
        )?;
        Ok(lines)
    }

    /// Whether `path` is a directory in the image's root filesystem.
    fn is_dir(&self, image: &str, path: &str) -> bool {
        let mnt = tempfile::tempdir().unwrap();
        let target = mnt.path().join("root");
        ok(ch02(
            self.root.path(),
            &["mount", image, target.to_str().unwrap()],
        ));
        let is_dir = target.join(path.trim_start_matches('/')).is_dir();
        ok(ch02(
            self.root.path(),
            &["umount", target.to_str().unwrap()],
        ));
        is_dir
    }

    /// The file at `path` in the image's root filesystem.
    fn read(&self, image: &str, path: &str) -> Option<String> {
        let mnt = tempfile::tempdir().unwrap();
        let target = mnt.path().join("root");
        ok(ch02(
            self.root.path(),
            &["mount", image, target.to_str().unwrap()],
        ));
        let text = fs::read_to_string(target.join(path.trim_start_matches('/'))).ok();
        ok(ch02(
            self.root.path(),
            &["umount", target.to_str().unwrap()],
        ));
        text
    }
}

fn cache_hits(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.contains("Using cache")).count()
}

const APP: &str = "FROM busybox\nWORKDIR /app\nCOPY deps.txt .\nRUN install deps\nCOPY src/ ./src/\nRUN compile\nCMD [\"./run\"]\n";

#[test]
fn privileged_layers_cache_and_precise_invalidation() {
    let f = Fixture::new();
    f.file("deps.txt", "serde\n");
    f.file("src/main.rs", "fn main() {}\n");
    let first = f.build(APP, "app:1", &[]).unwrap();
    assert_eq!(cache_hits(&first), 0);
    assert_eq!(f.runtime.calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        f.read("app:1", "app/src/main.rs").unwrap(),
        "fn main() {}\n"
    );
    assert!(
        f.read("app:1", "tmp/compile").unwrap().contains("in /app"),
        "RUN saw the working dir"
    );
    let image = f.store.resolve("app:1").unwrap();
    assert_eq!(
        image.config.rootfs.diff_ids.len(),
        6,
        "busybox + WORKDIR (it makes /app) + 4 layer steps"
    );
    assert_eq!(image.config.config.cmd, Some(vec!["./run".to_string()]));
    let history: Vec<_> = image
        .config
        .history
        .iter()
        .filter_map(|h| h.created_by.clone())
        .collect();
    assert!(
        history.contains(&"RUN install deps".to_string()),
        "{history:?}"
    );

    // Unchanged: every step comes from the cache (CMD, config only, says
    // so too, as Docker's builder does), nothing runs.
    let again = f.build(APP, "app:2", &[]).unwrap();
    assert_eq!(cache_hits(&again), 6, "{again:?}");
    assert_eq!(f.runtime.calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        f.store.resolve("app:2").unwrap().config.rootfs.diff_ids,
        image.config.rootfs.diff_ids
    );
    // ...and the same image back, as Docker's classic builder gives it:
    // the same ID, created when it first was, under both tags.
    let rebuilt = f.store.resolve("app:2").unwrap();
    assert_eq!(
        rebuilt.id, image.id,
        "an unchanged rebuild is the same image"
    );
    assert_eq!(rebuilt.config.created, image.config.created);
    assert!(f.store.resolve("app:1").is_ok());

    // A source file changes: the steps before it hit, it and the rest miss.
    f.file("src/main.rs", "fn main() { changed() }\n");
    let changed = f.build(APP, "app:3", &[]).unwrap();
    assert_eq!(
        cache_hits(&changed),
        3,
        "WORKDIR, COPY deps.txt and RUN install deps hit: {changed:?}"
    );
    assert_eq!(
        f.runtime.calls.load(Ordering::SeqCst),
        3,
        "only `RUN compile` ran again"
    );

    // --no-cache makes everything again: a new image, made now.
    let fresh = f.build_with(APP, "app:fresh", &[], true).unwrap();
    assert_eq!(cache_hits(&fresh), 0);
    assert_ne!(f.store.resolve("app:fresh").unwrap().id, image.id);
}

/// A tar of nothing but its two end blocks: the layer of a step that
/// changed nothing, the same digest as in images Docker's classic builder
/// makes.
const EMPTY_LAYER: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

#[test]
fn privileged_workdir_makes_its_directory_as_a_layer() {
    let f = Fixture::new();
    f.build(
        "FROM busybox\nWORKDIR /made/here\nWORKDIR /tmp\n",
        "wd:1",
        &[],
    )
    .unwrap();
    assert!(f.is_dir("wd:1", "/made/here"), "WORKDIR made its directory");
    let image = f.store.resolve("wd:1").unwrap();
    let diff_ids: Vec<String> = image
        .config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        diff_ids.len(),
        3,
        "busybox and one layer per WORKDIR: {diff_ids:?}"
    );
    assert_ne!(diff_ids[1], EMPTY_LAYER, "/made/here was made");
    assert_eq!(diff_ids[2], EMPTY_LAYER, "/tmp was there: an empty layer");
    assert_eq!(image.config.config.working_dir, "/tmp");
}

#[test]
fn privileged_args_env_and_failing_runs() {
    let f = Fixture::new();
    let file = "ARG BASE=busybox\nFROM $BASE\nARG WHO=world\nENV GREETING=\"hello ${WHO}\" EMPTY=${NOPE:-fallback}\nLABEL who=$WHO\nUSER 1000:1000\nEXPOSE 8080\nSTOPSIGNAL SIGINT\n";
    f.build(file, "args:1", &[("WHO", "builder")]).unwrap();
    let config = f.store.resolve("args:1").unwrap().config.config;
    assert!(
        config.env.contains(&"GREETING=hello builder".to_string()),
        "{:?}",
        config.env
    );
    assert!(config.env.contains(&"EMPTY=fallback".to_string()));
    assert_eq!(config.labels["who"], "builder");
    assert_eq!(
        (config.user.as_str(), config.stop_signal.as_str()),
        ("1000:1000", "SIGINT")
    );
    assert!(config.exposed_ports.contains_key("8080/tcp"));

    // CMD and ENTRYPOINT: exec form as written, shell form through SHELL.
    let file = "FROM busybox\nSHELL [\"/bin/ash\", \"-eu\", \"-c\"]\nENTRYPOINT [\"/bin/echo\"]\nCMD echo $HOME\nVOLUME /data\nWORKDIR sub\nWORKDIR deeper\n";
    f.build(file, "forms:1", &[]).unwrap();
    let config = f.store.resolve("forms:1").unwrap().config.config;
    assert_eq!(config.entrypoint, Some(vec!["/bin/echo".to_string()]));
    let shell_cmd: Vec<String> = ["/bin/ash", "-eu", "-c", "echo $HOME"]
        .map(String::from)
        .to_vec();
    assert_eq!(config.cmd, Some(shell_cmd));
    assert_eq!(config.working_dir, "/sub/deeper");
    assert!(config.volumes.contains_key("/data"), "{:?}", config.volumes);

    // An ENTRYPOINT drops the CMD inherited from busybox (["sh"]), but not a CMD
    // set earlier in the same stage.
    let file = "FROM busybox\nENTRYPOINT [\"/bin/echo\"]\n";
    f.build(file, "entry:1", &[]).unwrap();
    assert_eq!(f.store.resolve("entry:1").unwrap().config.config.cmd, None);
    let file = "FROM busybox\nCMD [\"hi\"]\nENTRYPOINT [\"/bin/echo\"]\n";
    f.build(file, "entry:2", &[]).unwrap();
    let cmd = f.store.resolve("entry:2").unwrap().config.config.cmd;
    assert_eq!(cmd, Some(vec!["hi".to_string()]));

    let err = f
        .build("FROM busybox\nRUN exit 3\n", "fails:1", &[])
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("returned a non-zero code: 3"),
        "{err:#}"
    );
    let err = f
        .build("FROM busybox\nCOPPY a b\n", "bad:1", &[])
        .unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:2: unknown instruction COPPY");
    let err = f
        .build(
            "FROM busybox\nADD http://example.invalid/x /x\n",
            "url:1",
            &[],
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("not supported offline"),
        "{err:#}"
    );
    let out = ch02(
        f.root.path(),
        &[
            "build",
            "-f",
            "/dev/stdin",
            f.context.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
}

#[test]
fn privileged_multi_stage_ignore_and_containment() {
    let f = Fixture::new();
    f.file("keep.txt", "kept\n");
    f.file("secret.key", "do not ship\n");
    f.file(".dockerignore", "*.key\n");
    std::os::unix::fs::symlink("/etc/hostname", f.context.path().join("leak")).unwrap();
    let file = "FROM busybox AS builder\nRUN make artifact\nCOPY . /ctx/\n\nFROM scratch\nCOPY --from=builder /tmp/make_artifact /artifact\nCOPY --from=builder /ctx/ /ctx/\n";
    f.build(file, "multi:1", &[]).unwrap();
    let image = f.store.resolve("multi:1").unwrap();
    assert_eq!(
        image.config.rootfs.diff_ids.len(),
        2,
        "scratch + two COPY layers"
    );
    assert!(
        f.read("multi:1", "artifact")
            .unwrap()
            .contains("make artifact")
    );
    assert_eq!(f.read("multi:1", "ctx/keep.txt").unwrap(), "kept\n");
    assert!(
        f.read("multi:1", "ctx/secret.key").is_none(),
        ".dockerignore keeps it out"
    );
    // The link is copied as a link; its target is never read from the host.
    let dirs = f.store.layer_dirs(&image).unwrap();
    let link = fs::read_link(dirs[1].join("ctx/leak")).unwrap();
    assert_eq!(link, Path::new("/etc/hostname"));
    // Named as a source, it resolves inside the context, where there is no /etc.
    let err = f
        .build("FROM busybox\nCOPY leak /x\n", "leak:1", &[])
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("no such file or directory in the build context"),
        "{err:#}"
    );
    let err = f
        .build("FROM busybox\nCOPY secret.key /\n", "ignored:1", &[])
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("excluded by .dockerignore"),
        "{err:#}"
    );
}

#[test]
fn privileged_add_unpacks_local_tars() {
    let f = Fixture::new();
    let tar = common::layer_tar(&[("inner/", ""), ("inner/file.txt", "from the tar\n")]);
    fs::write(f.context.path().join("bundle.tar"), tar).unwrap();
    f.build(
        "FROM busybox\nADD bundle.tar /opt/\nCOPY bundle.tar /copied/\n",
        "add:1",
        &[],
    )
    .unwrap();
    assert_eq!(
        f.read("add:1", "opt/inner/file.txt").unwrap(),
        "from the tar\n"
    );
    assert!(
        f.read("add:1", "copied/bundle.tar").is_some(),
        "COPY does not unpack"
    );
}

#[test]
fn privileged_wildcards_chown_and_chmod() {
    let f = Fixture::new();
    f.file("conf/a.txt", "a\n");
    f.file("conf/b.txt", "b\n");
    f.file("conf/c.md", "c\n");
    let file = "FROM busybox\nCOPY --chown=nobody:nogroup --chmod=0600 conf/*.txt /etc/app/\n";
    f.build(file, "wild:1", &[]).unwrap();
    let image = f.store.resolve("wild:1").unwrap();
    let top = f.store.layer_dirs(&image).unwrap().pop().unwrap();
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(top.join("etc/app/a.txt")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (65534, 65534, 0o600)
    );
    assert!(top.join("etc/app/b.txt").is_file() && !top.join("etc/app/c.md").exists());
    let err = f
        .build("FROM busybox\nCOPY *.nothing /\n", "none:1", &[])
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("no source files were specified"),
        "{err:#}"
    );
}
