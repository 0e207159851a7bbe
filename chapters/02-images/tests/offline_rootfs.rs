//! The offline images' layers: what they hold, that they are the same bytes
//! every time, and that the busybox in them still runs once unpacked.
//! No root needed: nothing here chroots.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use images::rootfs::{busybox_path, write_busybox_layer, write_hello_layer};

/// One tar entry, as a test wants to see it.
#[derive(Debug)]
struct Entry {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    link_target: Option<String>,
    contents: Vec<u8>,
}

fn entries(layer: &[u8]) -> Vec<Entry> {
    let mut archive = tar::Archive::new(layer);
    let mut entries = Vec::new();
    for entry in archive.entries().expect("read the layer tar") {
        let mut entry = entry.expect("read a tar entry");
        let header = entry.header();
        assert_eq!(header.uid().unwrap(), 0, "uid of {:?}", header.path());
        assert_eq!(header.gid().unwrap(), 0, "gid of {:?}", header.path());
        assert_eq!(header.mtime().unwrap(), 0, "mtime of {:?}", header.path());
        let path = String::from_utf8(header.path_bytes().into_owned()).unwrap();
        let kind = header.entry_type();
        let mode = header.mode().unwrap();
        let link_target = entry
            .link_name()
            .unwrap()
            .map(|target| target.to_string_lossy().into_owned());
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        entries.push(Entry {
            path,
            kind,
            mode,
            link_target,
            contents,
        });
    }
    entries
}

fn entry<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    entries
        .iter()
        .find(|entry| entry.path == path)
        .unwrap_or_else(|| panic!("no {path} in the layer"))
}

fn hello_layer() -> Vec<u8> {
    let mut layer = Vec::new();
    write_hello_layer(Path::new(env!("CARGO_BIN_EXE_hello")), &mut layer).unwrap();
    layer
}

fn busybox_layer() -> Vec<u8> {
    let busybox = busybox_path().expect("busybox-static is installed");
    let mut layer = Vec::new();
    write_busybox_layer(&busybox, &mut layer).unwrap();
    layer
}

#[test]
fn hello_layer_holds_only_hello() {
    let entries = entries(&hello_layer());
    let paths: Vec<&str> = entries.iter().map(|entry| entry.path.as_str()).collect();
    assert_eq!(paths, ["hello"]);
    let hello = &entries[0];
    assert_eq!(hello.kind, tar::EntryType::Regular);
    assert_eq!(hello.mode, 0o755);
    assert_eq!(
        hello.contents,
        std::fs::read(env!("CARGO_BIN_EXE_hello")).unwrap()
    );
}

#[test]
fn hello_layer_is_deterministic() {
    assert!(hello_layer() == hello_layer());
}

#[test]
fn busybox_layer_holds_busybox_its_applets_and_a_userland_skeleton() {
    let entries = entries(&busybox_layer());

    let busybox = entry(&entries, "bin/busybox");
    assert_eq!(busybox.kind, tar::EntryType::Regular);
    assert_eq!(busybox.mode, 0o755);
    assert_eq!(
        busybox.contents,
        std::fs::read(busybox_path().unwrap()).unwrap()
    );

    for applet in ["bin/sh", "bin/ls", "usr/bin/env", "sbin/ifconfig"] {
        let link = entry(&entries, applet);
        assert_eq!(link.kind, tar::EntryType::Symlink, "{applet}");
        assert_eq!(
            link.link_target.as_deref(),
            Some("/bin/busybox"),
            "{applet}"
        );
    }

    for (directory, mode) in [
        ("bin/", 0o755),
        ("sbin/", 0o755),
        ("usr/", 0o755),
        ("usr/bin/", 0o755),
        ("usr/sbin/", 0o755),
        ("etc/", 0o755),
        ("tmp/", 0o1777),
        ("var/", 0o755),
        ("var/tmp/", 0o1777),
        ("root/", 0o700),
        ("home/", 0o755),
        ("proc/", 0o755),
        ("sys/", 0o755),
        ("dev/", 0o755),
        ("run/", 0o755),
    ] {
        let entry = entry(&entries, directory);
        assert_eq!(entry.kind, tar::EntryType::Directory, "{directory}");
        assert_eq!(entry.mode, mode, "{directory} mode {:o}", entry.mode);
    }

    let passwd = entry(&entries, "etc/passwd");
    assert_eq!(passwd.mode, 0o644);
    assert_eq!(
        String::from_utf8_lossy(&passwd.contents),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&entry(&entries, "etc/group").contents),
        "root:x:0:\nnogroup:x:65534:\n"
    );
    // The runtime provides the first three; the last is an initrd's init.
    for left_out in ["etc/hostname", "etc/hosts", "etc/resolv.conf", "linuxrc"] {
        assert!(
            entries.iter().all(|entry| entry.path != left_out),
            "{left_out}"
        );
    }

    // Sorted, no duplicates, and so every directory before its contents.
    let paths: Vec<&str> = entries.iter().map(|entry| entry.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(paths, sorted);
}

#[test]
fn busybox_layer_is_deterministic() {
    assert!(busybox_layer() == busybox_layer());
}

#[test]
fn unpacked_busybox_still_runs() {
    let root = tempfile::tempdir().unwrap();
    tar::Archive::new(busybox_layer().as_slice())
        .unpack(root.path())
        .unwrap();
    let output = Command::new(root.path().join("bin/busybox"))
        .args(["echo", "ok"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"ok\n");
    // The applet links point into the container's root, not this tempdir.
    assert_eq!(
        std::fs::read_link(root.path().join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
}

#[test]
fn a_dynamic_busybox_is_refused_with_the_package_to_install() {
    let mut layer = Vec::new();
    let error = write_busybox_layer(Path::new("/bin/ls"), &mut layer)
        .unwrap_err()
        .to_string();
    assert!(error.contains("/bin/ls is dynamically linked"), "{error}");
    assert!(error.contains("apt-get install busybox-static"), "{error}");
}

#[test]
fn busybox_path_finds_the_host_busybox() {
    let path = busybox_path().unwrap();
    assert!(
        path == Path::new("/bin/busybox") || path == Path::new("/usr/bin/busybox"),
        "{path:?}"
    );
}
