//! The image store through `ch02`, as a learner uses it: offline images,
//! names, removal, and snapshots (overlay and copy) on a real kernel.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use common::{ch02, layer_tar, ok, require_root, stderr};
use images::error::{Removed, StoreError};
use images::reference::Reference;
use images::store::ImageStore;

fn offline_store() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    ok(ch02(root.path(), &["create-offline-images"]));
    root
}

#[test]
fn privileged_offline_images_names_and_removal() {
    require_root();
    let root = offline_store();
    let images = ok(ch02(root.path(), &["images"]));
    assert!(
        images.contains("busybox ") && images.contains("hello "),
        "{images}"
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&ok(ch02(root.path(), &["inspect", "hello"]))).unwrap();
    assert_eq!(inspect["RepoTags"][0], "hello:latest");
    assert_eq!(inspect["Config"]["Cmd"][0], "/hello");
    let layer = inspect["Layers"][0].as_str().unwrap();
    assert!(
        Path::new(layer).join("hello").is_file(),
        "the layer is unpacked in {layer}"
    );

    // The same image under two names is one image: rmi of one name untags.
    ok(ch02(
        root.path(),
        &["tag", "busybox", "localhost:5000/tools/bb:v1"],
    ));
    let listed = ok(ch02(root.path(), &["images"]));
    assert!(listed.contains("localhost:5000/tools/bb   v1"), "{listed}");
    assert_eq!(
        ok(ch02(root.path(), &["rmi", "localhost:5000/tools/bb:v1"])),
        "Untagged: localhost:5000/tools/bb:v1\n"
    );
    let busybox_layer = {
        let v: serde_json::Value =
            serde_json::from_str(&ok(ch02(root.path(), &["inspect", "busybox"]))).unwrap();
        v["Layers"][0].as_str().unwrap().to_string()
    };
    assert!(Path::new(&busybox_layer).is_dir());

    // The last name goes: the image, its blobs and its layer go too.
    let removed = ok(ch02(root.path(), &["rmi", "busybox"]));
    assert!(
        removed.starts_with("Untagged: busybox:latest\nDeleted: sha256:"),
        "{removed}"
    );
    assert!(
        !Path::new(&busybox_layer).exists(),
        "the unpacked layer is removed"
    );
    let store = ImageStore::open(root.path()).unwrap();
    assert_eq!(store.images().unwrap().len(), 1);
    assert_eq!(
        store.content().blobs().unwrap().len(),
        3,
        "hello's manifest, config and layer remain"
    );

    let missing = ch02(root.path(), &["inspect", "busyboxx"]);
    assert_eq!(
        stderr(&missing).trim(),
        "ch02: no such image 'busyboxx:latest'; images here: hello:latest"
    );
    let bad = ch02(root.path(), &["tag", "hello", "Not/Lower"]);
    assert!(
        stderr(&bad).contains("repository name must be lowercase"),
        "{}",
        stderr(&bad)
    );
    // The kinds an engine maps to status codes are values, not sentences.
    let error = store.resolve("busyboxx").unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<StoreError>(),
            Some(StoreError::NotFound { name, .. }) if name == "busyboxx:latest"
        ),
        "{error:#}"
    );
    let hello = store.resolve("hello").unwrap();
    assert_eq!(
        store.remove(hello.id.hex()).unwrap(),
        [
            Removed::Untagged("hello:latest".into()),
            Removed::Deleted(hello.id.to_string())
        ]
    );
}

#[test]
fn privileged_overlay_snapshot_copies_up_and_whites_out() {
    require_root();
    let root = offline_store();
    let mnt = tempfile::tempdir().unwrap();
    let target = mnt.path().join("rootfs");
    let out = ok(ch02(
        root.path(),
        &["mount", "busybox", target.to_str().unwrap()],
    ));
    assert!(out.contains("overlay: 1 read-only layer(s)"), "{out}");
    let store = ImageStore::open(root.path()).unwrap();
    let image = store.resolve("busybox").unwrap();
    let lower = store.layer_dirs(&image).unwrap().remove(0);
    let snapshot = images::snapshot::list(&store).unwrap().remove(0);
    let upper = snapshot.upper(&store);

    // Reading changes nothing; writing copies up into `upper`.
    assert!(target.join("bin/busybox").is_file());
    assert_eq!(fs::read_dir(&upper).unwrap().count(), 0);
    fs::write(target.join("etc/motd"), "hello from the upper dir\n").unwrap();
    fs::write(target.join("etc/passwd"), "changed\n").unwrap();
    assert_eq!(
        fs::read_to_string(upper.join("etc/motd")).unwrap(),
        "hello from the upper dir\n"
    );
    assert_eq!(
        fs::read_to_string(upper.join("etc/passwd")).unwrap(),
        "changed\n"
    );
    assert!(
        fs::read_to_string(lower.join("etc/passwd"))
            .unwrap()
            .starts_with("root:"),
        "the layer is untouched"
    );

    // Deleting a file from a lower layer leaves a whiteout: a 0:0 char device.
    fs::remove_file(target.join("bin/ls")).unwrap();
    let whiteout = fs::symlink_metadata(upper.join("bin/ls")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(lower.join("bin/ls").exists());

    // The upper dir diffs back into a layer: `.wh.ls` says "deleted".
    let mut tar = Vec::new();
    images::layer::diff(&upper, &mut tar).unwrap();
    let names: Vec<String> = tar::Archive::new(tar.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"bin/.wh.ls".to_string()) && names.contains(&"etc/motd".to_string()),
        "{names:?}"
    );

    // An image with a mounted snapshot cannot go.
    let refused = ch02(root.path(), &["rmi", "busybox"]);
    assert!(
        stderr(&refused).contains("in use by the snapshot"),
        "{}",
        stderr(&refused)
    );
    ok(ch02(root.path(), &["umount", target.to_str().unwrap()]));
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "unmounted: the directory is empty again"
    );
    assert!(images::snapshot::list(&store).unwrap().is_empty());
    assert!(!upper.exists());
}

/// Two layers: the second deletes a file and makes a directory opaque.
fn two_layer_image(store: &ImageStore) -> images::store::Image {
    use images::oci::{self, ImageConfig, media};
    let first = layer_tar(&[
        ("keep", "1"),
        ("gone", "2"),
        ("dir/", ""),
        ("dir/old", "3"),
        ("dir/sub/", ""),
    ]);
    let second = layer_tar(&[
        (".wh.gone", ""),
        ("dir/", ""),
        ("dir/.wh..wh..opq", ""),
        ("dir/new", "4"),
    ]);
    let layers = vec![
        store
            .add_layer(first.as_slice(), media::OCI_LAYER, None)
            .unwrap(),
        store
            .add_layer(second.as_slice(), media::OCI_LAYER, None)
            .unwrap(),
    ];
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: oci::RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        },
        ..Default::default()
    };
    store
        .add_image(
            &config,
            &layers,
            Some(&Reference::parse("two:layers").unwrap()),
        )
        .unwrap()
}

/// Every path under `dir` with its contents ("" for directories).
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path.clone());
                out.push((rel, String::new()));
            } else {
                out.push((rel, fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn privileged_copy_and_overlay_snapshots_show_the_same_files() {
    require_root();
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    two_layer_image(&store);
    let mnt = tempfile::tempdir().unwrap();
    let (overlay, copy) = (mnt.path().join("overlay"), mnt.path().join("copy"));
    ok(ch02(
        root.path(),
        &["mount", "two:layers", overlay.to_str().unwrap()],
    ));
    ok(ch02(
        root.path(),
        &[
            "mount",
            "--snapshotter",
            "copy",
            "two:layers",
            copy.to_str().unwrap(),
        ],
    ));
    let expected = vec![
        ("dir".to_string(), String::new()),
        ("dir/new".to_string(), "4".to_string()),
        ("keep".to_string(), "1".to_string()),
    ];
    assert_eq!(tree(&overlay), expected, "overlay view");
    assert_eq!(tree(&copy), expected, "copy view");
    ok(ch02(root.path(), &["umount", overlay.to_str().unwrap()]));
    ok(ch02(root.path(), &["umount", copy.to_str().unwrap()]));
    assert!(tree(&copy).is_empty() && tree(&overlay).is_empty());
}

#[test]
fn privileged_sixty_four_layers_mount_through_short_links() {
    require_root();
    use images::oci::{self, ImageConfig, media};
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let layers: Vec<_> = (0..64)
        .map(|i| {
            let tar = layer_tar(&[(&format!("file-{i:02}"), &format!("layer {i}"))]);
            store
                .add_layer(tar.as_slice(), media::OCI_LAYER, None)
                .unwrap()
        })
        .collect();
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: oci::RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        },
        ..Default::default()
    };
    store
        .add_image(&config, &layers, Some(&Reference::parse("tall").unwrap()))
        .unwrap();
    // 64 absolute lower dir paths would not fit in one page of mount options.
    let absolute: usize = layers
        .iter()
        .map(|l| store.layer_dir(&l.diff_id).join("diff").as_os_str().len() + 1)
        .sum();
    assert!(
        absolute > 4096,
        "the test must exceed the limit the short links avoid ({absolute})"
    );
    let mnt = tempfile::tempdir().unwrap();
    let out = ok(ch02(
        root.path(),
        &["mount", "tall", mnt.path().to_str().unwrap()],
    ));
    assert!(out.contains("64 read-only layer(s)"), "{out}");
    assert_eq!(fs::read_dir(mnt.path()).unwrap().count(), 64);
    assert_eq!(
        fs::read_to_string(mnt.path().join("file-63")).unwrap(),
        "layer 63"
    );
    ok(ch02(root.path(), &["umount", mnt.path().to_str().unwrap()]));
}

#[test]
fn privileged_concurrent_writers_keep_the_index_whole() {
    require_root();
    let root = offline_store();
    // Two processes tag at the same time; the store lock serialises them.
    let writers: Vec<_> = ["a", "b"]
        .iter()
        .map(|w| {
            let root = root.path().to_path_buf();
            let w = w.to_string();
            std::thread::spawn(move || {
                for i in 0..15 {
                    ok(ch02(&root, &["tag", "busybox", &format!("writer-{w}:{i}")]));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let store = ImageStore::open(root.path()).unwrap();
    let busybox = store.resolve("busybox").unwrap();
    assert_eq!(
        busybox.tags.len(),
        31,
        "busybox:latest plus 2 × 15 tags, none lost"
    );
}

#[test]
fn privileged_import_from_stdin() {
    require_root();
    let root = tempfile::tempdir().unwrap();
    let tar = layer_tar(&[("etc/", ""), ("etc/os-release", "NAME=imported\n")]);
    let mut child = std::process::Command::new(common::CH02)
        .args([
            "--root",
            root.path().to_str().unwrap(),
            "import",
            "-",
            "imported:v1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    let id = ok(child.wait_with_output().unwrap());
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let history = ok(ch02(root.path(), &["history", "imported:v1"]));
    assert!(
        history.contains("ch02 import") && history.contains("Imported from tarball"),
        "{history}"
    );
}

#[test]
fn privileged_an_overlay_snapshot_is_remounted_with_its_upper() {
    require_root();
    let root = offline_store();
    let mnt = tempfile::tempdir().unwrap();
    let target = mnt.path().join("rootfs");
    let store = ImageStore::open(root.path()).unwrap();
    let image = store.resolve("busybox").unwrap();
    let record = images::snapshot::mount(
        &store,
        &image,
        &target,
        images::snapshot::Snapshotter::Overlay,
    )
    .unwrap();
    fs::write(target.join("written-by-the-container"), "kept").unwrap();
    // What a reboot does to the mount: it is gone, the directories stay.
    // Detached (lazily): a child another test forks at this moment holds,
    // until its exec, a copy of every descriptor, which makes a plain
    // umount(2) fail with EBUSY.
    nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH).unwrap();
    assert!(!target.join("bin/busybox").exists());
    let record = images::snapshot::list(&store)
        .unwrap()
        .into_iter()
        .find(|r| r.id == record.id)
        .expect("the record survives");
    images::snapshot::remount(&store, &record).unwrap();
    assert!(target.join("bin/busybox").exists());
    assert_eq!(
        fs::read_to_string(target.join("written-by-the-container")).unwrap(),
        "kept"
    );
    // Mounted already: nothing to do, and no second mount on top.
    images::snapshot::remount(&store, &record).unwrap();
    images::snapshot::unmount(&store, &target).unwrap();
    assert!(!target.join("bin/busybox").exists(), "one mount, gone");
}
