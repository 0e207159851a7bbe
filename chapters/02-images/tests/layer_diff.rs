//! `layer::diff`: the tar of an upper directory, and GNU tar as the peer
//! that reads what we write and writes what we read.
//!
//! Tests named `privileged_…` need root (mknod, trusted.* xattrs, chown):
//! run `sudo scripts/test.sh`.

mod common;
use common::require_root;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use images::digest::Digest;
use images::layer::{self, UnpackOptions};

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let c_name = CString::new(name).unwrap();
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "lsetxattr {name} on {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn set_mtime(path: &Path, seconds: i64) {
    let t = nix::sys::time::TimeSpec::new(seconds, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

struct Entry {
    name: String,
    kind: char,
    link: String,
    size: u64,
    mode: u32,
    uid: u64,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn entries(tar: &[u8]) -> Vec<Entry> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().unwrap() {
            for extension in extensions {
                let extension = extension.unwrap();
                if let Some(name) = extension.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), extension.value_bytes().to_vec()));
                }
            }
        }
        out.push(Entry {
            name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            kind: header.entry_type().as_byte() as char,
            link: entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            size: entry.size(),
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            mtime: header.mtime().unwrap(),
            xattrs,
        });
    }
    out
}

fn diff_of(upper: &Path) -> Vec<u8> {
    let mut tar = Vec::new();
    let (digest, size) = layer::diff(upper, &mut tar).unwrap();
    assert_eq!((digest, size), (Digest::of_bytes(&tar), tar.len() as u64));
    tar
}

/// A tree with one of each ordinary kind, no privilege needed.
fn ordinary_tree(root: &Path) {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(
        root.join("usr/bin/tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    fs::write(root.join("a.txt"), b"a").unwrap();
    fs::hard_link(root.join("a.txt"), root.join("usr/a-again")).unwrap();
    std::os::unix::fs::symlink("../a.txt", root.join("usr/link")).unwrap();
    nix::unistd::mkfifo(
        &root.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    for path in ["usr/bin/tool", "a.txt", "usr/bin", "usr", "fifo"] {
        set_mtime(&root.join(path), 1_500_000_000);
    }
    set_mtime(&root.join("usr/link"), 1_500_000_001);
}

#[test]
fn names_are_relative_sorted_and_directories_end_with_a_slash() {
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    ordinary_tree(&upper);
    let tar = diff_of(&upper);
    let listed: Vec<(String, char, String)> = entries(&tar)
        .into_iter()
        .map(|e| (e.name, e.kind, e.link))
        .collect();
    let expected = [
        ("a.txt", '0', ""),
        ("fifo", '6', ""),
        // The socket is left out: tar has no type for it.
        ("usr/", '5', ""),
        ("usr/a-again", '1', "a.txt"),
        ("usr/bin/", '5', ""),
        ("usr/bin/tool", '0', ""),
        ("usr/link", '2', "../a.txt"),
    ];
    let expected: Vec<(String, char, String)> = expected
        .iter()
        .map(|(n, k, l)| (n.to_string(), *k, l.to_string()))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn modes_times_and_sizes_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    ordinary_tree(&upper);
    let tar = diff_of(&upper);
    let all = entries(&tar);
    let tool = all.iter().find(|e| e.name == "usr/bin/tool").unwrap();
    assert_eq!(
        (tool.mode, tool.size, tool.mtime),
        (0o4755, 10, 1_500_000_000)
    );
    let link = all.iter().find(|e| e.name == "usr/link").unwrap();
    assert_eq!(link.mtime, 1_500_000_001);
    let uid = u64::from(nix::unistd::geteuid().as_raw());
    assert!(all.iter().all(|e| e.uid == uid));
}

#[test]
fn the_same_tree_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    ordinary_tree(&one);
    ordinary_tree(&two);
    // Reading changes atimes; the tar must not care.
    let first = diff_of(&one);
    assert_eq!(diff_of(&one), first);
    assert_eq!(diff_of(&two), first);
}

#[test]
fn long_names_and_link_targets_go_in_pax_records() {
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    let deep = ["a-rather-long-directory-name"; 6].join("/");
    fs::create_dir_all(upper.join(&deep)).unwrap();
    fs::write(upper.join(&deep).join("file"), b"x").unwrap();
    let target = format!("/{deep}/file/{}", "t".repeat(80));
    std::os::unix::fs::symlink(&target, upper.join("link")).unwrap();
    let tar = diff_of(&upper);
    let all = entries(&tar);
    assert!(
        all.iter()
            .any(|e| e.name == format!("{deep}/file") && e.size == 1)
    );
    assert!(all.iter().any(|e| e.name == format!("{deep}/")));
    assert!(all.iter().any(|e| e.name == "link" && e.link == target));
}

#[test]
fn xattrs_are_kept_except_overlayfs_own() {
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    fs::create_dir(&upper).unwrap();
    fs::write(upper.join("f"), b"").unwrap();
    set_xattr(&upper.join("f"), "user.b", b"2");
    set_xattr(&upper.join("f"), "user.a", b"\x001");
    let tar = diff_of(&upper);
    let f = entries(&tar).into_iter().find(|e| e.name == "f").unwrap();
    assert_eq!(
        f.xattrs,
        [
            ("user.a".to_string(), b"\x001".to_vec()),
            ("user.b".to_string(), b"2".to_vec())
        ]
    );
}

#[test]
fn privileged_overlay_xattrs_stay_out_and_ids_are_kept() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    fs::create_dir_all(upper.join("d")).unwrap();
    set_xattr(&upper.join("d"), "trusted.overlay.origin", b"\x00");
    set_xattr(&upper.join("d"), "trusted.overlay.opaque", b"y");
    set_xattr(&upper.join("d"), "trusted.keep", b"k");
    fs::write(upper.join("big"), b"").unwrap();
    nix::unistd::chown(
        &upper.join("big"),
        Some(nix::unistd::Uid::from_raw(5_000_000)),
        None,
    )
    .unwrap();
    let tar = diff_of(&upper);
    let all = entries(&tar);
    let d = all.iter().find(|e| e.name == "d/").unwrap();
    assert_eq!(d.xattrs, [("trusted.keep".to_string(), b"k".to_vec())]);
    let marker = all.iter().find(|e| e.name == "d/.wh..wh..opq").unwrap();
    assert_eq!((marker.kind, marker.size), ('0', 0));
    // Past ustar's 7 octal digits: a PAX uid record, which the reader applies.
    assert_eq!(all.iter().find(|e| e.name == "big").unwrap().uid, 5_000_000);
}

#[test]
fn privileged_whiteouts_become_markers_with_their_owner() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    fs::create_dir_all(upper.join("etc")).unwrap();
    let whiteout = upper.join("etc/shadow");
    nix::sys::stat::mknod(
        &whiteout,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    nix::unistd::chown(&whiteout, Some(nix::unistd::Uid::from_raw(42)), None).unwrap();
    set_mtime(&whiteout, 1_234_567_890);
    // A real device is no whiteout.
    nix::sys::stat::mknod(
        &upper.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        libc::makedev(1, 3),
    )
    .unwrap();
    let tar = diff_of(&upper);
    let all = entries(&tar);
    let marker = all.iter().find(|e| e.name == "etc/.wh.shadow").unwrap();
    assert_eq!(
        (
            marker.kind,
            marker.size,
            marker.mode,
            marker.uid,
            marker.mtime
        ),
        ('0', 0, 0o600, 42, 1_234_567_890)
    );
    assert!(all.iter().all(|e| e.name != "etc/shadow"));
    assert_eq!(all.iter().find(|e| e.name == "null").unwrap().kind, '3');
}

#[test]
fn a_missing_upper_is_an_error_naming_it() {
    let err = layer::diff(Path::new("/nonexistent/upper"), Vec::new()).unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/upper"), "{err:#}");
}

// ------------------------------------------------------ GNU tar, the peer

fn gnu_tar(args: &[&str]) -> Vec<u8> {
    let out = Command::new("tar")
        .args(args)
        .output()
        .expect("GNU tar (Debian's `tar` package)");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn gnu_tar_reads_our_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    ordinary_tree(&upper);
    let deep = ["long-directory-name"; 8].join("/");
    fs::create_dir_all(upper.join(&deep)).unwrap();
    fs::write(upper.join(&deep).join("f"), b"deep").unwrap();
    let tar_path = tmp.path().join("layer.tar");
    fs::write(&tar_path, diff_of(&upper)).unwrap();
    let listing = String::from_utf8(gnu_tar(&["-tf", tar_path.to_str().unwrap()])).unwrap();
    assert!(
        listing.lines().any(|l| l == format!("{deep}/f")),
        "{listing}"
    );
    assert!(listing.lines().any(|l| l == "usr/bin/tool"), "{listing}");
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    gnu_tar(&[
        "-xf",
        tar_path.to_str().unwrap(),
        "-C",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(out.join(&deep).join("f")).unwrap(), b"deep");
    assert_eq!(
        out.join("usr/a-again").metadata().unwrap().ino(),
        out.join("a.txt").metadata().unwrap().ino()
    );
}

#[test]
fn we_read_what_gnu_tar_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    ordinary_tree(&src);
    fs::remove_file(src.join("sock")).unwrap();
    let deep = ["long-directory-name"; 8].join("/");
    fs::create_dir_all(src.join(&deep)).unwrap();
    fs::write(src.join(&deep).join("f"), b"deep").unwrap();
    // GNU format, names starting with ./, gzip: what `tar -czf` makes.
    let gz = gnu_tar(&[
        "--format=gnu",
        "-czf",
        "-",
        "-C",
        src.to_str().unwrap(),
        ".",
    ]);
    let target = tmp.path().join("layer");
    let unpacked = layer::unpack(&gz[..], &target, &UnpackOptions::for_current_user()).unwrap();
    assert_eq!(unpacked.digest, Digest::of_bytes(&gz));
    assert_eq!(fs::read(target.join(&deep).join("f")).unwrap(), b"deep");
    assert_eq!(
        target
            .join("usr/bin/tool")
            .metadata()
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        target.join("usr/bin/tool").metadata().unwrap().mtime(),
        1_500_000_000
    );
    assert_eq!(
        fs::read_link(target.join("usr/link")).unwrap(),
        Path::new("../a.txt")
    );
    assert_eq!(
        target.join("usr/a-again").metadata().unwrap().ino(),
        target.join("a.txt").metadata().unwrap().ino()
    );
}
