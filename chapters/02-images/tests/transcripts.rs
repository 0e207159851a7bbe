//! The terminal sessions chapter 02's book page shows, recorded from real
//! runs: `ch02` against a store in a temp dir, and the ordinary tools
//! (`find`, `ls`, `findmnt`, `tar`, `skopeo`) looking at what it made.
//!
//! Each test builds a session text (`$ command` then its output), replaces
//! what changes from run to run or from host to host with placeholders, and
//! compares it with `book/src/transcripts/ch02-*.txt`
//! (`UPDATE_TRANSCRIPTS=1 cargo test -p images --test transcripts` rewrites
//! them). The store's temp root is shown as the real default,
//! /var/lib/minidocker-workshop, and the digests of the two offline images
//! get names (`<busybox-id>`, `<busybox-manifest>`, `<busybox-layer>`, …) so
//! the reader can see which blob is which.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{CH02, ok, require_root, static_dir};
use images::store::{ImageStore, WORKSHOP_ROOT};

/// A shell session against one store: commands run with `sh -c`, stdout and
/// stderr merged as a terminal shows them, and `ch02` is a shell function
/// that adds `--root` (unless the command gives its own).
struct Session {
    root: tempfile::TempDir,
    /// Scratch space: mount targets, archives, tar files.
    scratch: tempfile::TempDir,
    /// Shell variables the reader sets (`upper=…`), passed to every command.
    variables: Vec<(String, String)>,
    /// The working directory of every command.
    cwd: PathBuf,
    /// The session so far, in pieces: `true` where the digests of the
    /// offline images get their names, `false` where they stay `<id>` (a
    /// listing sorted by blob name would otherwise change order between runs).
    pieces: Vec<(String, bool)>,
    /// (literal text, placeholder), applied before the generic rules.
    names: Vec<(String, String)>,
}

const PRELUDE: &str = r#"ch02() {
    if [ "$1" = --root ]; then "$CH02_BIN" "$@"; else "$CH02_BIN" --root "$CH02_ROOT" "$@"; fi
}
"#;

impl Session {
    fn new() -> Session {
        let root = tempfile::tempdir().unwrap();
        let cwd = root.path().to_path_buf();
        Session {
            root,
            scratch: tempfile::tempdir().unwrap(),
            variables: Vec::new(),
            cwd,
            pieces: Vec::new(),
            names: Vec::new(),
        }
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Runs `line` and records it with its output; `line` is shown as the
    /// reader types it (see [`Session::show`] for the placeholders).
    fn run(&mut self, line: &str) -> String {
        self.exec(line, true).0
    }

    /// Runs `line`, records it, and returns its output and whether it
    /// succeeded. With `named` false, its output shows digests as `<id>`.
    fn exec(&mut self, line: &str, named: bool) -> (String, bool) {
        let output = Command::new("sh")
            .args(["-c", &format!("{PRELUDE}{{ {line}\n}} 2>&1")])
            .current_dir(&self.cwd)
            .env("CH02_BIN", CH02)
            .env("CH02_ROOT", self.root.path())
            .env("MINIDOCKER_STATIC_DIR", static_dir())
            // Stable across hosts: ls and sort in byte order, times in UTC
            // (the layers' files are dated 1970-01-01 00:00 UTC).
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
        self.pieces.push((format!("$ {line}\n"), true));
        self.pieces.push((text.clone(), named));
        (text, output.status.success())
    }

    /// Like [`Session::run`], but the command must succeed.
    fn ok(&mut self, line: &str) -> String {
        let (out, success) = self.exec(line, true);
        assert!(success, "{line} failed:\n{out}");
        out
    }

    /// Like [`Session::ok`], for a listing in blob-name order: its digests stay `<id>`.
    fn ok_unnamed(&mut self, line: &str) -> String {
        let (out, success) = self.exec(line, false);
        assert!(success, "{line} failed:\n{out}");
        out
    }

    /// Records a line the reader types that prints nothing (a variable
    /// assignment, a `cd`), and applies it to the later commands.
    fn set(&mut self, name: &str, value: &str) {
        self.pieces.push((format!("$ {name}={value}\n"), true));
        self.variables.push((name.to_string(), value.to_string()));
    }

    fn cd(&mut self, dir: &Path) {
        self.pieces
            .push((format!("$ cd {}\n", dir.display()), true));
        self.cwd = dir.to_path_buf();
    }

    /// Gives the offline images' digests names, and the host's sizes placeholders.
    fn name_offline_images(&mut self) {
        let store = ImageStore::open(self.root()).unwrap();
        for image in ["hello", "busybox"] {
            let found = store.resolve(image).unwrap();
            let layer = &found.manifest.layers[0];
            self.names
                .push((found.id.hex().to_string(), format!("<{image}-id>")));
            self.names.push((
                found.manifest_digest.hex().to_string(),
                format!("<{image}-manifest>"),
            ));
            self.names
                .push((layer.digest.hex().to_string(), format!("<{image}-layer>")));
            // The layer's size depends on the host's busybox, or on the
            // compiler that built hello.
            self.names
                .push((format!(" {}\n", layer.size), " <size>\n".into()));
            self.names
                .push((format!(" {},\n", layer.size), " <size>,\n".into()));
            self.names
                .push((format!(": {}\n", layer.size), ": <size>\n".into()));
            self.names
                .push((format!(" {} ", layer.size), " <size> ".into()));
        }
        for binary in [
            static_dir().join("hello"),
            images::rootfs::busybox_path().unwrap(),
        ] {
            let size = std::fs::metadata(&binary).unwrap().len();
            self.names.push((format!(" {size} "), " <size> ".into()));
        }
    }

    /// The session with placeholders for what varies.
    fn show(&self) -> String {
        let mut text = String::new();
        for (piece, named) in &self.pieces {
            let mut piece = piece.clone();
            for (literal, placeholder) in &self.names {
                if *named || !literal.bytes().all(|b| b.is_ascii_hexdigit()) {
                    piece = piece.replace(literal, placeholder);
                }
            }
            text.push_str(&piece);
        }
        text = text.replace(&self.root().display().to_string(), WORKSHOP_ROOT);
        text = text.replace(&static_dir().display().to_string(), "<target>/static");
        let text = api::transcript::normalize(&text);
        let text = api::transcript::replace(
            &text,
            &[
                // overlay2-style short link names: 26 of [A-Z2-7], random per layer.
                (r"\b[A-Z2-7]{26}\b", "<link>"),
                // Dates of things made now (`ls -l`, `tar -tv`, `ch02 images`);
                // files dated 1970 come from the layers and stay as they are.
                (r"\b[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d\b", "<date>"),
                (r"\b20\d\d-\d\d-\d\d( \d\d:\d\d)?\b", "<date>"),
                // Sizes as `ch02 images` and `du -h` print them.
                (r"\b\d+(\.\d+)?(B|kB|MB|GB)\b", "<size>"),
                (r"(?m)^\d+(\.\d+)?[KMG]?\t", "<size>\t"),
                (r"(?m)^total \d+$", "total <n>"),
            ],
        );
        api::transcript::realign_tables(&text, &["REPOSITORY ", "CREATED  "])
    }

    /// Names the snapshot directory `ch02 mount` just made `<snapshot>`.
    fn name_snapshots(&mut self) {
        for entry in std::fs::read_dir(self.root().join("snapshots")).unwrap() {
            let id = entry.unwrap().file_name().to_string_lossy().into_owned();
            if !self.names.iter().any(|(literal, _)| literal == &id) {
                self.names.push((id, "<snapshot>".into()));
            }
        }
    }

    fn check(&self, name: &str) {
        api::transcript::check(name, &self.show());
    }
}

/// A test that fails half-way must not leave a mount behind: the temp dirs
/// could not be removed, and the next run would trip over it.
impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(store) = ImageStore::open(self.root.path()) {
            for snapshot in images::snapshot::list(&store).unwrap_or_default() {
                let _ = images::snapshot::unmount(&store, &snapshot.target);
            }
        }
    }
}

/// A session whose store holds the two offline images.
fn offline_session() -> Session {
    let mut session = Session::new();
    let out = common::ch02(session.root(), &["create-offline-images"]);
    ok(out);
    session.name_offline_images();
    session
}

#[test]
fn privileged_transcript_offline_images() {
    require_root();
    let mut s = Session::new();
    let made = s.ok("ch02 create-offline-images");
    assert!(made.contains("hello:latest") && made.contains("busybox:latest"));
    s.name_offline_images();
    s.ok("ch02 images");
    s.ok("ch02 history busybox");
    let inspect = s.ok("ch02 inspect hello");
    assert!(inspect.contains(r#""/hello""#), "{inspect}");
    // The same image, named in full; and a name that is not there.
    s.ok("ch02 inspect docker.io/library/busybox:latest | grep -A2 RepoTags");
    let missing = s.run("ch02 inspect busyboxx");
    assert!(
        missing.contains("no such image 'busyboxx:latest'"),
        "{missing}"
    );
    s.check("ch02-offline-images.txt");
}

#[test]
fn privileged_transcript_store_layout() {
    require_root();
    let mut s = offline_session();
    let root = s.root().to_path_buf();
    s.cd(&root);
    // Blob names sort by their hex, which changes from run to run: the
    // listing shows them all as <id>, so its order is stable.
    let listing = s.ok_unnamed("find . -maxdepth 4 -not -path './layers/*/diff/*' | sort");
    assert_eq!(
        listing.matches("./images/blobs/sha256/").count(),
        6,
        "two images, three blobs each: {listing}"
    );
    s.ok("cat images/oci-layout");
    s.ok("cat images/index.json");
    let store = ImageStore::open(&root).unwrap();
    let busybox = store.resolve("busybox").unwrap();
    let manifest = busybox.manifest_digest.hex().to_string();
    let config = busybox.id.hex().to_string();
    let layer = busybox.manifest.layers[0].digest.hex().to_string();
    s.ok(&format!(
        "python3 -m json.tool images/blobs/sha256/{manifest}"
    ));
    s.ok(&format!(
        "python3 -m json.tool images/blobs/sha256/{config}"
    ));
    let sums = s.ok(&format!(
        "sha256sum images/blobs/sha256/{manifest} images/blobs/sha256/{config} images/blobs/sha256/{layer}"
    ));
    for hex in [&manifest, &config, &layer] {
        assert!(
            sums.contains(&format!("{hex}  images/blobs/sha256/{hex}")),
            "{sums}"
        );
    }
    let link = s.ok(&format!("cat layers/{layer}/link"));
    s.ok(&format!("readlink layers/l/{}", link.trim()));
    s.ok(&format!("ls -x layers/{layer}/diff"));
    s.cd(&root.join("layers").join(&layer).join("diff"));
    s.ok("ls -l bin/busybox bin/sh bin/ls");
    s.check("ch02-store-layout.txt");
}

#[test]
fn privileged_transcript_overlay_mount() {
    require_root();
    let mut s = offline_session();
    let rootfs = s.scratch().join("rootfs");
    s.set("rootfs", &rootfs.display().to_string());
    s.ok("ch02 mount busybox $rootfs");
    s.name_snapshots();
    let store = ImageStore::open(s.root()).unwrap();
    let snapshot = images::snapshot::list(&store).unwrap().remove(0);
    let upper = snapshot.upper(&store);
    let busybox = store.resolve("busybox").unwrap();
    let link = store
        .layer_link(&busybox.config.rootfs.diff_ids[0])
        .unwrap();
    let lower = s.root().join("layers/l").join(&link);

    assert_eq!(s.ok("stat -f -c %T $rootfs"), "overlayfs\n");
    let options = s.ok("findmnt -n -o OPTIONS $rootfs | tr , '\\n' | grep dir=");
    assert!(
        options.starts_with(&format!("lowerdir=l/{link}\n")),
        "{options}"
    );
    s.set("lower", &lower.display().to_string());
    s.set("upper", &upper.display().to_string());
    s.ok("ls -x $rootfs");
    assert_eq!(s.ok("ls -A $upper"), "", "nothing written yet");

    // A change to a file of the image: copied up, then changed.
    s.ok("echo 'guest:x:1000:1000::/home/guest:/bin/sh' >> $rootfs/etc/passwd");
    // A new file: written to upper directly.
    s.ok("echo 'hello from the container' > $rootfs/etc/motd");
    s.ok("find $upper | sort");
    let copied = s.ok("cat $upper/etc/passwd");
    assert!(copied.contains("root:x:0:0") && copied.contains("guest:x:1000"));
    let original = s.ok("cat $lower/etc/passwd");
    assert!(
        !original.contains("guest"),
        "the lower layer is never written"
    );

    // A deletion: a whiteout in upper; the lower layer keeps the file.
    s.ok("rm $rootfs/bin/vi");
    let whiteout = s.ok("ls -l $upper/bin");
    assert!(
        whiteout.contains("c--------- ") && whiteout.contains(" 0, 0 "),
        "{whiteout}"
    );
    s.ok("ls -l $lower/bin/vi");
    let gone = s.run("ls $rootfs/bin/vi");
    assert!(gone.contains("No such file or directory"), "{gone}");

    s.ok("ch02 umount $rootfs");
    let after = s.run("ls -A $rootfs $upper");
    assert!(after.contains("No such file or directory"), "{after}");
    s.check("ch02-overlay.txt");
}

#[test]
fn privileged_transcript_copy_snapshot() {
    require_root();
    let mut s = offline_session();
    let target = s.scratch().join("hello-copy");
    s.set("copy", &target.display().to_string());
    let out = s.ok("ch02 mount --snapshotter copy hello $copy");
    assert!(out.starts_with("copied hello:latest into"), "{out}");
    s.ok("ls -l $copy");
    let store = ImageStore::open(s.root()).unwrap();
    let hello = store.resolve("hello").unwrap();
    let layer = store.layer_dirs(&hello).unwrap().remove(0);
    s.ok(&format!("ls -l {}", layer.display()));
    s.ok(&format!(
        "cmp $copy/hello {}/hello && echo 'same bytes, two copies'",
        layer.display()
    ));
    let mounted = s.run("findmnt $copy || echo 'not a mount point'");
    assert_eq!(mounted, "not a mount point\n");
    s.ok("ch02 umount $copy");
    assert_eq!(s.ok("ls -A $copy"), "");
    s.check("ch02-copy-snapshot.txt");
}

#[test]
fn privileged_transcript_save_and_load() {
    require_root();
    let mut s = offline_session();
    let scratch = s.scratch().to_path_buf();
    s.cd(&scratch);
    s.ok("ch02 save busybox -o bb.tar");
    // Blob names are shown as <id> here: the listing's order is theirs.
    s.ok_unnamed("tar -tf bb.tar");
    s.ok("tar -xOf bb.tar manifest.json | python3 -m json.tool");
    let other = scratch.join("other");
    let loaded = s.ok(&format!("ch02 --root {} load bb.tar", other.display()));
    assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
    s.ok(&format!("ch02 --root {} images", other.display()));
    let ids = s.ok(&format!(
        "ch02 --root {} inspect busybox | grep -e '\"Id\"' -e ManifestDigest",
        other.display()
    ));
    let store = ImageStore::open(s.root()).unwrap();
    let busybox = store.resolve("busybox").unwrap();
    assert!(
        ids.contains(&busybox.id.to_string()) && ids.contains(&busybox.manifest_digest.to_string()),
        "the same digests on the other side: {ids}"
    );
    assert!(
        which("skopeo"),
        "skopeo is not installed: run scripts/provision.sh --test"
    );
    let oci = s.ok("skopeo inspect --format '{{.Digest}} {{.Layers}}' oci-archive:bb.tar");
    assert!(oci.contains(&busybox.manifest_digest.to_string()), "{oci}");
    s.ok("skopeo inspect --format '{{.Digest}} {{.Layers}}' docker-archive:bb.tar");
    s.check("ch02-save-load.txt");
}

#[test]
fn privileged_transcript_break_copy_up() {
    require_root();
    let mut s = offline_session();
    let rootfs = s.scratch().join("rootfs");
    s.set("rootfs", &rootfs.display().to_string());
    s.ok("ch02 mount busybox $rootfs");
    s.name_snapshots();
    let store = ImageStore::open(s.root()).unwrap();
    let upper = images::snapshot::list(&store)
        .unwrap()
        .remove(0)
        .upper(&store);
    let busybox = store.resolve("busybox").unwrap();
    let link = store
        .layer_link(&busybox.config.rootfs.diff_ids[0])
        .unwrap();
    s.set(
        "lower",
        &s.root().join("layers/l").join(&link).display().to_string(),
    );
    s.set("upper", &upper.display().to_string());
    // Only the modification time changes, yet the whole file is copied up.
    s.ok("touch $rootfs/bin/busybox");
    let listing = s.ok("ls -l $upper/bin");
    assert!(listing.contains(" busybox\n"), "{listing}");
    s.ok("cmp $upper/bin/busybox $lower/bin/busybox && echo 'same bytes, two copies'");
    s.ok("ch02 umount $rootfs");
    let gone = s.run("ls $upper");
    assert!(gone.contains("No such file or directory"), "{gone}");
    s.check("ch02-break-copy-up.txt");
}

#[test]
fn privileged_transcript_break_corrupt_blob() {
    require_root();
    let mut s = offline_session();
    let root = s.root().to_path_buf();
    s.cd(&root);
    let config = ImageStore::open(&root)
        .unwrap()
        .resolve("busybox")
        .unwrap()
        .id
        .hex()
        .to_string();
    let blob = format!("images/blobs/sha256/{config}");
    s.ok(&format!("grep -o '\"Cmd\":[^]]*]' {blob}"));
    s.ok(&format!(
        "sed -i 's/\"Cmd\":\\[\"sh\"\\]/\"Cmd\":[\"id\"]/' {blob}"
    ));
    let refused = s.run("ch02 inspect busybox");
    assert!(
        refused.contains("is corrupt: its bytes hash to"),
        "{refused}"
    );
    let listed = s.run("ch02 images");
    assert!(listed.contains("is corrupt"), "{listed}");
    s.ok(&format!(
        "sed -i 's/\"Cmd\":\\[\"id\"\\]/\"Cmd\":[\"sh\"]/' {blob}"
    ));
    let back = s.ok("ch02 inspect busybox | grep -A2 '\"Cmd\"'");
    assert!(back.contains("\"sh\""), "{back}");
    s.check("ch02-break-corrupt-blob.txt");
}

#[test]
fn privileged_transcript_break_tar_slip() {
    require_root();
    let mut s = offline_session();
    let scratch = s.scratch().to_path_buf();
    s.cd(&scratch);
    s.ok("echo pwned > pwned");
    s.ok("tar -cPf dotdot.tar --transform 's,^,../../../../../../../../etc/,' pwned");
    s.ok("tar -tPf dotdot.tar");
    let refused = s.run("ch02 import dotdot.tar evil");
    assert!(refused.contains("path escapes the layer root"), "{refused}");
    s.ok("ln -s /etc escape");
    s.ok("tar -cf symlink.tar --transform 's,^pwned,escape/pwned,' escape pwned");
    s.ok("tar -tvf symlink.tar");
    let refused = s.run("ch02 import symlink.tar evil");
    assert!(
        refused.contains("is a symlink: refusing to go through it"),
        "{refused}"
    );
    let nothing = s.run("ls /etc/pwned");
    assert!(nothing.contains("No such file or directory"), "{nothing}");
    s.ok("ch02 images");
    s.check("ch02-break-tar-slip.txt");
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
