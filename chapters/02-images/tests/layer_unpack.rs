//! Layer unpacking against hostile and ordinary tars, built in memory.
//!
//! Tests named `privileged_…` need root (mknod, chown, trusted.* xattrs,
//! mount) and fail without it: run `sudo scripts/test.sh`.

mod common;
use common::require_root;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use images::digest::Digest;
use images::layer::{self, Compression, DevicePolicy, UnpackOptions, Unpacked};
use tar::{EntryType, Header};
use tempfile::TempDir;

/// A layer tar under construction. Names and link names are written into
/// the header raw (PAX records past 100 bytes), so a test can say `../x`,
/// which `tar::Builder::append_data` refuses to write.
struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

const MTIME: u64 = 1_600_000_000;

impl Layer {
    fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn entry(
        &mut self,
        kind: EntryType,
        name: &str,
        link: &str,
        data: &[u8],
        edit: impl FnOnce(&mut Header),
    ) -> &mut Self {
        let mut records: Vec<(&str, &[u8])> = Vec::new();
        if name.len() > 100 {
            records.push(("path", name.as_bytes()));
        }
        if link.len() > 100 {
            records.push(("linkpath", link.as_bytes()));
        }
        if !records.is_empty() {
            self.builder.append_pax_extensions(records).unwrap();
        }
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        let fields = header.as_old_mut();
        let name = &name.as_bytes()[..name.len().min(100)];
        fields.name[..name.len()].copy_from_slice(name);
        let link = &link.as_bytes()[..link.len().min(100)];
        fields.linkname[..link.len()].copy_from_slice(link);
        edit(&mut header);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(EntryType::Regular, name, "", data, |_| {})
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(EntryType::Directory, name, "", b"", |_| {})
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Symlink, name, target, b"", |_| {})
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Link, name, target, b"", |_| {})
    }

    /// PAX records for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.builder
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A temp dir with the layer target inside it: anything a hostile entry
/// manages to write outside the target would show up next to it.
struct Scene {
    tmp: TempDir,
}

impl Scene {
    fn new() -> Scene {
        Scene {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn target(&self) -> PathBuf {
        self.tmp.path().join("layer")
    }

    fn outside(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn unpack(&self, layer: &[u8]) -> anyhow::Result<Unpacked> {
        layer::unpack(layer, &self.target(), &UnpackOptions::for_current_user())
    }

    fn unpack_with(&self, layer: &[u8], options: &UnpackOptions) -> anyhow::Result<Unpacked> {
        layer::unpack(layer, &self.target(), options)
    }

    /// The names next to the target.
    fn beside_target(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn error_of<T: std::fmt::Debug>(result: anyhow::Result<T>) -> String {
    format!("{:#}", result.unwrap_err())
}

fn unprivileged() -> UnpackOptions {
    UnpackOptions {
        devices: DevicePolicy::Skip,
        preserve_ownership: false,
    }
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let c_name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

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

fn mknod_whiteout(path: &Path) {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
}

// ---------------------------------------------------------------- escapes

#[test]
fn dotdot_entry_is_refused() {
    let scene = Scene::new();
    let tar = Layer::new().file("../x", b"escaped").finish();
    let err = error_of(scene.unpack(&tar));
    assert!(
        err.contains("layer entry '../x': path escapes the layer root"),
        "{err}"
    );
    assert!(!scene.outside("x").exists());
    assert_eq!(scene.beside_target(), ["layer"]);
}

#[test]
fn dotdot_inside_a_path_is_refused() {
    let scene = Scene::new();
    let tar = Layer::new()
        .dir("a/")
        .file("a/../../x", b"escaped")
        .finish();
    let err = error_of(scene.unpack(&tar));
    assert!(
        err.contains("layer entry 'a/../../x': path escapes the layer root"),
        "{err}"
    );
    assert_eq!(scene.beside_target(), ["layer"]);
}

#[test]
fn dotdot_that_stays_inside_is_cleaned() {
    let scene = Scene::new();
    let tar = Layer::new().file("a/../b", b"fine").finish();
    scene.unpack(&tar).unwrap();
    assert_eq!(fs::read(scene.target().join("b")).unwrap(), b"fine");
    assert!(!scene.target().join("a").exists());
}

#[test]
fn absolute_paths_land_inside_the_target() {
    let scene = Scene::new();
    let outside = scene.outside("abs");
    let tar = Layer::new()
        .file("/etc/x", b"etc")
        .file(outside.to_str().unwrap(), b"abs")
        .finish();
    scene.unpack(&tar).unwrap();
    assert_eq!(fs::read(scene.target().join("etc/x")).unwrap(), b"etc");
    let relative = outside.strip_prefix("/").unwrap();
    assert_eq!(fs::read(scene.target().join(relative)).unwrap(), b"abs");
    assert!(!outside.exists());
    assert_eq!(scene.beside_target(), ["layer"]);
}

#[test]
fn writing_through_a_symlink_to_an_outside_dir_is_refused() {
    let scene = Scene::new();
    let victim = scene.outside("victim");
    fs::create_dir(&victim).unwrap();
    for (link, target) in [("evil", victim.to_str().unwrap()), ("evil2", "../victim")] {
        let tar = Layer::new()
            .symlink(link, target)
            .file(&format!("{link}/passwd"), b"owned")
            .finish();
        let err = error_of(scene.unpack(&tar));
        assert!(
            err.contains(&format!(
                "layer entry '{link}/passwd': '{link}' is a symlink: refusing to go through it"
            )),
            "{err}"
        );
    }
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
}

#[test]
fn writing_through_a_symlink_to_a_parent_is_refused() {
    let scene = Scene::new();
    let tar = Layer::new()
        .symlink("up", "..")
        .file("up/x", b"escaped")
        .finish();
    let err = error_of(scene.unpack(&tar));
    assert!(err.contains("'up' is a symlink"), "{err}");
    // Deeper: a/up -> ../.. and a/up/x, and a directory made through it.
    let tar = Layer::new()
        .dir("a/")
        .symlink("a/up", "../..")
        .dir("a/up/d/")
        .file("a/up/d/x", b"escaped")
        .finish();
    let err = error_of(scene.unpack(&tar));
    assert!(
        err.contains("layer entry 'a/up/d/': 'a/up' is a symlink"),
        "{err}"
    );
    assert_eq!(scene.beside_target(), ["layer"]);
}

#[test]
fn writing_through_a_symlink_to_root_is_refused() {
    let scene = Scene::new();
    let tar = Layer::new()
        .symlink("r", "/")
        .file("r/tmp/x", b"escaped")
        .finish();
    let err = error_of(scene.unpack(&tar));
    assert!(err.contains("'r' is a symlink"), "{err}");
}

#[test]
fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
    let scene = Scene::new();
    let victim = scene.outside("victim");
    fs::write(&victim, b"original").unwrap();
    let tar = Layer::new()
        .symlink("s", victim.to_str().unwrap())
        .file("s", b"new")
        .finish();
    scene.unpack(&tar).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"original");
    let s = scene.target().join("s");
    assert!(s.symlink_metadata().unwrap().is_file());
    assert_eq!(fs::read(s).unwrap(), b"new");
}

#[test]
fn hardlinks_out_of_the_layer_are_refused() {
    let scene = Scene::new();
    let secret = scene.outside("secret");
    fs::write(&secret, b"secret").unwrap();

    let tar = Layer::new().hardlink("l", "../../secret").finish();
    let err = error_of(scene.unpack(&tar));
    assert!(
        err.contains(
            "layer entry 'l': hardlink target '../../secret': path escapes the layer root"
        ),
        "{err}"
    );

    // An absolute target is a name in the layer, like any absolute name.
    let tar = Layer::new()
        .hardlink("l", secret.to_str().unwrap())
        .finish();
    let err = error_of(scene.unpack(&tar));
    assert!(err.contains("does not exist"), "{err}");

    // Through a symlink in the layer.
    let tar = Layer::new()
        .symlink("s", scene.tmp.path().to_str().unwrap())
        .hardlink("l", "s/secret")
        .finish();
    let err = error_of(scene.unpack(&tar));
    assert!(
        err.contains("layer entry 'l': hardlink target 's/secret': 's' is a symlink"),
        "{err}"
    );

    assert_eq!(secret.metadata().unwrap().nlink(), 1);
    assert!(!scene.target().join("l").exists());
}

#[test]
fn a_hardlink_to_a_symlink_links_the_symlink_itself() {
    let scene = Scene::new();
    let secret = scene.outside("secret");
    fs::write(&secret, b"secret").unwrap();
    let tar = Layer::new()
        .symlink("s", secret.to_str().unwrap())
        .hardlink("l", "s")
        .finish();
    scene.unpack(&tar).unwrap();
    let l = scene.target().join("l").symlink_metadata().unwrap();
    assert!(l.file_type().is_symlink());
    assert_eq!(l.nlink(), 2);
    assert_eq!(secret.metadata().unwrap().nlink(), 1);
}

#[test]
fn hardlinks_inside_the_layer_work_and_directories_are_refused() {
    let scene = Scene::new();
    let tar = Layer::new()
        .file("bin/busybox", b"elf")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("ls", "/bin/busybox")
        .finish();
    scene.unpack(&tar).unwrap();
    let busybox = scene.target().join("bin/busybox").metadata().unwrap();
    assert_eq!(busybox.nlink(), 3);
    assert_eq!(
        scene.target().join("bin/sh").metadata().unwrap().ino(),
        busybox.ino()
    );

    let tar = Layer::new().dir("d/").hardlink("l", "d").finish();
    let err = error_of(Scene::new().unpack(&tar));
    assert!(err.contains("hardlink target 'd' is a directory"), "{err}");
}

#[test]
fn an_entry_under_a_file_is_refused() {
    let scene = Scene::new();
    let tar = Layer::new().file("f", b"").file("f/x", b"").finish();
    let err = error_of(scene.unpack(&tar));
    assert!(
        err.contains("layer entry 'f/x': 'f' is not a directory"),
        "{err}"
    );
}

#[test]
fn nul_and_empty_names_are_refused() {
    let tar = Layer::new()
        .pax(&[("path", b"a\0b")])
        .file("ignored", b"")
        .finish();
    let err = error_of(Scene::new().unpack(&tar));
    assert!(err.contains("path contains a NUL byte"), "{err}");
}

// ---------------------------------------------------------- whiteouts

#[test]
fn privileged_whiteout_becomes_a_0_0_character_device() {
    require_root();
    let scene = Scene::new();
    let tar = Layer::new()
        .dir("etc/")
        .entry(EntryType::Regular, "etc/.wh.passwd", "", b"", |h| {
            h.set_uid(7);
            h.set_gid(8);
        })
        .file("etc/.wh..profile", b"")
        // Whiteout in a directory the tar does not list.
        .file("usr/lib/.wh.libfoo.so", b"")
        .finish();
    scene.unpack(&tar).unwrap();
    for (path, uid) in [
        ("etc/passwd", 7),
        ("etc/.profile", 0),
        ("usr/lib/libfoo.so", 0),
    ] {
        let metadata = scene.target().join(path).symlink_metadata().unwrap();
        assert!(metadata.file_type().is_char_device(), "{path}");
        assert_eq!(metadata.rdev(), 0, "{path}");
        assert_eq!(metadata.uid(), uid, "{path}");
        assert!(layer::is_whiteout(&metadata));
    }
    for marker in [
        "etc/.wh.passwd",
        "etc/.wh..profile",
        "usr/lib/.wh.libfoo.so",
    ] {
        assert!(
            !scene.target().join(marker).exists(),
            "{marker} was written"
        );
    }
}

#[test]
fn privileged_opaque_marker_sets_the_overlay_xattr() {
    require_root();
    let scene = Scene::new();
    let tar = Layer::new()
        .dir("var/")
        .file("var/.wh..wh..opq", b"")
        .file("var/keep", b"k")
        .dir("other/")
        .finish();
    scene.unpack(&tar).unwrap();
    assert_eq!(
        get_xattr(&scene.target().join("var"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(layer::is_opaque(&scene.target().join("var")).unwrap());
    assert!(!layer::is_opaque(&scene.target().join("other")).unwrap());
    assert!(!scene.target().join("var/.wh..wh..opq").exists());
    assert_eq!(fs::read(scene.target().join("var/keep")).unwrap(), b"k");
}

#[test]
fn privileged_a_whiteout_replaces_what_this_layer_put_there() {
    require_root();
    let scene = Scene::new();
    let tar = Layer::new()
        .dir("d/")
        .file("d/f", b"")
        .file(".wh.d", b"")
        .finish();
    scene.unpack(&tar).unwrap();
    assert!(layer::is_whiteout(
        &scene.target().join("d").symlink_metadata().unwrap()
    ));
}

#[test]
fn whiteouts_cannot_escape_or_be_empty() {
    let tar = Layer::new().file("../.wh.x", b"").finish();
    assert!(error_of(Scene::new().unpack(&tar)).contains("path escapes the layer root"));
    let tar = Layer::new().file("a/.wh.", b"").finish();
    assert!(error_of(Scene::new().unpack(&tar)).contains("malformed whiteout"));
    let tar = Layer::new().file("a/.wh...", b"").finish();
    assert!(error_of(Scene::new().unpack(&tar)).contains("malformed whiteout"));
}

#[test]
fn aufs_metadata_is_skipped() {
    let scene = Scene::new();
    let tar = Layer::new()
        .dir(".wh..wh.plnk/")
        .file(".wh..wh.plnk/123.456", b"")
        .file(".wh..wh.aufs", b"")
        .file("x", b"")
        .finish();
    scene.unpack(&tar).unwrap();
    let names: Vec<_> = fs::read_dir(scene.target())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["x"]);
}

// ------------------------------------------------------------ metadata

#[test]
fn modes_setuid_and_mtimes_are_kept() {
    let scene = Scene::new();
    let tar = Layer::new()
        .entry(EntryType::Directory, "ro/", "", b"", |h| {
            h.set_mode(0o555);
            h.set_mtime(1_000_000_000);
        })
        // Written after its directory's entry: the directory's mtime must still be the tar's.
        .entry(EntryType::Regular, "ro/suid", "", b"#!", |h| {
            h.set_mode(0o4755);
            h.set_mtime(1_100_000_000);
        })
        .entry(EntryType::Directory, "tmp/", "", b"", |h| {
            h.set_mode(0o1777)
        })
        .entry(EntryType::Symlink, "link", "ro/suid", b"", |h| {
            h.set_mtime(1_200_000_000)
        })
        .pax(&[("mtime", b"1300000000.5")])
        .file("precise", b"")
        .finish();
    scene.unpack_with(&tar, &unprivileged()).unwrap();
    let target = scene.target();
    let ro = target.join("ro").metadata().unwrap();
    assert_eq!(ro.permissions().mode() & 0o7777, 0o555);
    assert_eq!(ro.mtime(), 1_000_000_000);
    let suid = target.join("ro/suid").metadata().unwrap();
    assert_eq!(suid.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(suid.mtime(), 1_100_000_000);
    assert_eq!(
        target.join("tmp").metadata().unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        target.join("link").symlink_metadata().unwrap().mtime(),
        1_200_000_000
    );
    let precise = target.join("precise").metadata().unwrap();
    assert_eq!(
        (precise.mtime(), precise.mtime_nsec()),
        (1_300_000_000, 500_000_000)
    );
    assert_eq!(
        target.join("precise").metadata().unwrap().atime(),
        1_300_000_000
    );
}

#[test]
fn privileged_ownership_setuid_and_xattrs_are_kept() {
    require_root();
    let scene = Scene::new();
    let tar = Layer::new()
        .entry(EntryType::Directory, "home/", "", b"", |h| {
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mode(0o700);
        })
        .pax(&[
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.test", b"\x00\x01binary"),
        ])
        .entry(EntryType::Regular, "home/ping", "", b"elf", |h| {
            h.set_uid(1000);
            h.set_gid(2000);
            // chown clears setuid: the mode must be applied after it.
            h.set_mode(0o6755);
        })
        .entry(EntryType::Symlink, "home/link", "/nowhere", b"", |h| {
            h.set_uid(3000);
            h.set_gid(3001);
        })
        .pax(&[("uid", b"4000000"), ("gid", b"4000001")])
        .file("big-ids", b"")
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .dir("sneaky/")
        .finish();
    let unpacked = scene.unpack(&tar).unwrap();
    let target = scene.target();
    let home = target.join("home").metadata().unwrap();
    assert_eq!(
        (home.uid(), home.gid(), home.permissions().mode() & 0o7777),
        (1000, 1000, 0o700)
    );
    let ping = target.join("home/ping");
    let metadata = ping.metadata().unwrap();
    assert_eq!(
        (
            metadata.uid(),
            metadata.gid(),
            metadata.permissions().mode() & 0o7777
        ),
        (1000, 2000, 0o6755)
    );
    assert_eq!(
        get_xattr(&ping, "user.note").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        get_xattr(&ping, "trusted.test").as_deref(),
        Some(&b"\x00\x01binary"[..])
    );
    let link = target.join("home/link").symlink_metadata().unwrap();
    assert_eq!((link.uid(), link.gid()), (3000, 3001));
    let big = target.join("big-ids").metadata().unwrap();
    assert_eq!((big.uid(), big.gid()), (4_000_000, 4_000_001));
    // overlayfs's own xattrs never come from a tar.
    assert_eq!(
        get_xattr(&target.join("sneaky"), "trusted.overlay.redirect"),
        None
    );
    assert_eq!(
        unpacked.skipped_xattrs,
        ["sneaky: trusted.overlay.redirect (reserved for overlayfs)"]
    );
}

#[test]
fn xattrs_the_kernel_refuses_are_listed_not_fatal() {
    let scene = Scene::new();
    // user.* xattrs are not allowed on symlinks (EPERM).
    let tar = Layer::new()
        .pax(&[("SCHILY.xattr.user.x", b"1")])
        .symlink("s", "t")
        .finish();
    let unpacked = scene.unpack(&tar).unwrap();
    assert_eq!(
        unpacked.skipped_xattrs.len(),
        1,
        "{:?}",
        unpacked.skipped_xattrs
    );
    assert!(
        unpacked.skipped_xattrs[0].starts_with("s: user.x ("),
        "{:?}",
        unpacked.skipped_xattrs
    );
}

#[test]
fn the_root_entry_sets_the_target_metadata() {
    let scene = Scene::new();
    let tar = Layer::new()
        .entry(EntryType::Directory, "./", "", b"", |h| {
            h.set_mode(0o751);
            h.set_mtime(1_000_000_001);
        })
        .file("./a", b"")
        .finish();
    scene.unpack_with(&tar, &unprivileged()).unwrap();
    let root = scene.target().metadata().unwrap();
    assert_eq!(
        (root.permissions().mode() & 0o7777, root.mtime()),
        (0o751, 1_000_000_001)
    );

    let tar = Layer::new().file("./", b"").finish();
    let err = error_of(Scene::new().unpack(&tar));
    assert!(
        err.contains("names the layer root but is a Regular, not a directory"),
        "{err}"
    );
}

// -------------------------------------------------------- file types

#[test]
fn devices_are_skipped_and_counted_without_privilege() {
    let scene = Scene::new();
    let tar = Layer::new()
        .entry(EntryType::Char, "dev/null", "", b"", |h| {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        })
        .entry(EntryType::Block, "dev/sda", "", b"", |h| {
            h.set_device_major(8).unwrap();
            h.set_device_minor(0).unwrap();
        })
        .entry(EntryType::Fifo, "run/pipe", "", b"", |h| h.set_mode(0o620))
        .finish();
    let unpacked = scene.unpack_with(&tar, &unprivileged()).unwrap();
    assert_eq!(unpacked.skipped_devices, 2);
    assert!(!scene.target().join("dev/null").exists());
    let pipe = scene.target().join("run/pipe").symlink_metadata().unwrap();
    assert!(pipe.file_type().is_fifo());
    assert_eq!(pipe.permissions().mode() & 0o7777, 0o620);
}

#[test]
fn privileged_devices_are_created() {
    require_root();
    let scene = Scene::new();
    let tar = Layer::new()
        .entry(EntryType::Char, "dev/null", "", b"", |h| {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            h.set_mode(0o666);
        })
        .entry(EntryType::Block, "dev/loop7", "", b"", |h| {
            h.set_device_major(7).unwrap();
            h.set_device_minor(7).unwrap();
        })
        .finish();
    let unpacked = scene.unpack(&tar).unwrap();
    assert_eq!(unpacked.skipped_devices, 0);
    let null = scene.target().join("dev/null").symlink_metadata().unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o7777, 0o666);
    let lo = scene.target().join("dev/loop7").symlink_metadata().unwrap();
    assert!(lo.file_type().is_block_device());
    assert_eq!(lo.rdev(), libc::makedev(7, 7));
}

#[test]
fn long_names_from_gnu_and_pax_records() {
    let scene = Scene::new();
    let deep = format!("{}/file", ["directory"; 20].join("/"));
    let mut layer = Layer::new();
    // PAX path and linkpath records (written by the helper past 100 bytes).
    layer.file(&deep, b"pax").symlink("short", &deep);
    // GNU long name ('L') entries: what tar::Builder writes for a GNU header.
    // Its uid, gid and mtime fields stay blank: read as 0, as Go reads them.
    let gnu = format!("{}/gnu", ["long"; 40].join("/"));
    let mut header = Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    layer
        .builder
        .append_data(&mut header, &gnu, &b"gnu"[..])
        .unwrap();
    let tar = layer.finish();
    scene.unpack(&tar).unwrap();
    assert_eq!(fs::read(scene.target().join(&deep)).unwrap(), b"pax");
    assert_eq!(
        fs::read_link(scene.target().join("short")).unwrap(),
        Path::new(&deep)
    );
    assert_eq!(fs::read(scene.target().join(&gnu)).unwrap(), b"gnu");
}

#[test]
fn old_style_directories_are_told_by_their_slash() {
    let scene = Scene::new();
    let tar = Layer::new()
        .entry(EntryType::Regular, "olddir/", "", b"", |h| {
            h.as_old_mut().linkflag[0] = 0
        })
        .file("olddir/f", b"")
        .finish();
    scene.unpack(&tar).unwrap();
    assert!(
        scene
            .target()
            .join("olddir")
            .symlink_metadata()
            .unwrap()
            .is_dir()
    );
}

#[test]
fn unknown_entry_types_are_an_error() {
    let tar = Layer::new()
        .entry(EntryType::new(b'V'), "label", "", b"", |_| {})
        .finish();
    let err = error_of(Scene::new().unpack(&tar));
    assert!(
        err.contains("layer entry 'label': unsupported tar entry type"),
        "{err}"
    );
}

// ---------------------------------------------------------- replacing

#[test]
fn later_entries_replace_earlier_ones() {
    let scene = Scene::new();
    let tar = Layer::new()
        // file, then directory
        .file("a", b"file")
        .dir("a/")
        .file("a/inside", b"")
        // directory with contents, then file
        .dir("b/")
        .file("b/inside", b"")
        .dir("b/sub/")
        .file("b", b"file now")
        // file, then symlink, then file again
        .file("c", b"1")
        .symlink("c", "a")
        // directory, then symlink
        .dir("d/")
        .file("d/x", b"")
        .symlink("d", "a")
        // file, then file
        .file("e", b"old")
        .file("e", b"new")
        .finish();
    scene.unpack(&tar).unwrap();
    let t = scene.target();
    assert!(t.join("a").symlink_metadata().unwrap().is_dir());
    assert!(t.join("a/inside").exists());
    assert_eq!(fs::read(t.join("b")).unwrap(), b"file now");
    assert_eq!(fs::read_link(t.join("c")).unwrap(), Path::new("a"));
    assert_eq!(fs::read_link(t.join("d")).unwrap(), Path::new("a"));
    assert_eq!(fs::read(t.join("e")).unwrap(), b"new");
}

#[test]
fn a_directory_listed_twice_is_merged_with_the_new_metadata() {
    let scene = Scene::new();
    let tar = Layer::new()
        .dir("d/")
        .file("d/kept", b"kept")
        .entry(EntryType::Directory, "d/", "", b"", |h| {
            h.set_mode(0o711);
            h.set_mtime(1_000_000_002);
        })
        .finish();
    scene.unpack_with(&tar, &unprivileged()).unwrap();
    let d = scene.target().join("d");
    assert_eq!(fs::read(d.join("kept")).unwrap(), b"kept");
    let metadata = d.metadata().unwrap();
    assert_eq!(
        (metadata.permissions().mode() & 0o7777, metadata.mtime()),
        (0o711, 1_000_000_002)
    );
}

#[test]
fn unpacking_over_an_existing_tree_replaces_and_merges() {
    let scene = Scene::new();
    let target = scene.target();
    fs::create_dir_all(target.join("dir")).unwrap();
    fs::write(target.join("dir/old"), b"").unwrap();
    fs::write(target.join("file"), b"old").unwrap();
    let tar = Layer::new()
        .dir("dir/")
        .file("dir/new", b"")
        .file("file", b"new")
        .finish();
    scene.unpack(&tar).unwrap();
    assert!(target.join("dir/old").exists() && target.join("dir/new").exists());
    assert_eq!(fs::read(target.join("file")).unwrap(), b"new");
}

// ----------------------------------------------------- streams, digests

fn sample_tar() -> Vec<u8> {
    let mut layer = Layer::new();
    layer
        .dir("bin/")
        .file("bin/sh", b"#!/bin/busybox")
        .dir("etc/");
    for i in 0..50 {
        layer.file(&format!("etc/file{i}"), &vec![i as u8; 1000 * i]);
    }
    layer.finish()
}

#[test]
fn digests_cover_the_compressed_and_the_uncompressed_bytes() {
    let tar = sample_tar();
    let gz = gzip(&tar);
    let scene = Scene::new();
    let unpacked = scene.unpack(&gz).unwrap();
    assert_eq!(unpacked.compression, Compression::Gzip);
    assert_eq!(unpacked.diff_id, Digest::of_bytes(&tar));
    assert_eq!(unpacked.digest, Digest::of_bytes(&gz));
    assert_eq!(unpacked.uncompressed_size, tar.len() as u64);
    assert_eq!(unpacked.compressed_size, gz.len() as u64);
    assert_eq!(
        fs::read(scene.target().join("etc/file49")).unwrap(),
        vec![49u8; 49_000]
    );
}

#[test]
fn the_padding_after_the_end_of_the_tar_is_hashed() {
    // GNU tar pads the archive with zeros to a 10 KiB record.
    let mut tar = sample_tar();
    tar.resize(tar.len().div_ceil(10240) * 10240 + 10240, 0);
    let scene = Scene::new();
    let unpacked = scene.unpack(&tar).unwrap();
    assert_eq!(unpacked.compression, Compression::None);
    assert_eq!(unpacked.diff_id, Digest::of_bytes(&tar));
    assert_eq!(unpacked.digest, unpacked.diff_id);
    assert_eq!(unpacked.uncompressed_size, tar.len() as u64);
}

#[test]
fn zstd_layers_unpack() {
    let tar = sample_tar();
    let zst =
        ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
    let scene = Scene::new();
    let unpacked = scene.unpack(&zst).unwrap();
    assert_eq!(unpacked.compression, Compression::Zstd);
    assert_eq!(unpacked.diff_id, Digest::of_bytes(&tar));
    assert_eq!(unpacked.digest, Digest::of_bytes(&zst));
    assert_eq!(
        fs::read(scene.target().join("bin/sh")).unwrap(),
        b"#!/bin/busybox"
    );
}

#[test]
fn truncated_gzip_is_an_error() {
    let gz = gzip(&sample_tar());
    for cut in [gz.len() - 4, gz.len() / 2, 30] {
        let scene = Scene::new();
        let err = error_of(scene.unpack(&gz[..cut]));
        assert!(
            err.contains("corrupt gzip stream in layer"),
            "cut at {cut}: {err}"
        );
        assert_eq!(scene.beside_target(), ["layer"]);
    }
}

#[test]
fn flipped_gzip_bytes_are_an_error() {
    let gz = gzip(&sample_tar());
    for at in [gz.len() / 3, gz.len() / 2, gz.len() - 6] {
        let mut bad = gz.clone();
        bad[at] ^= 0x55;
        let scene = Scene::new();
        let err = error_of(scene.unpack(&bad));
        // A flipped bit may still inflate to bytes: then the tar reader
        // fails first, or the gzip CRC at the end does.
        assert!(
            err.contains("corrupt gzip stream in layer")
                || err.contains("reading the layer's tar stream"),
            "flipped at {at}: {err}"
        );
        assert_eq!(scene.beside_target(), ["layer"]);
    }
}

#[test]
fn garbage_is_not_a_layer() {
    let err = error_of(Scene::new().unpack(&[0x42u8; 2000]));
    assert!(err.contains("reading the layer's tar stream"), "{err}");
    let err = error_of(Scene::new().unpack(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2]));
    assert!(
        err.contains("xz-compressed layers are not supported"),
        "{err}"
    );
}

// ------------------------------------------------------------- diff

/// What a tar holds: (name, type flag, link name, size), in order.
fn listing(tar: &[u8]) -> Vec<(String, char, String, u64)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (
                name,
                e.header().entry_type().as_byte() as char,
                link,
                e.size(),
            )
        })
        .collect()
}

#[test]
fn privileged_diff_round_trip_keeps_whiteouts() {
    require_root();
    // A base layer, then an upper dir changed the way overlayfs changes it.
    let base = Scene::new();
    base.unpack(
        &Layer::new()
            .dir("etc/")
            .file("etc/passwd", b"root")
            .dir("var/")
            .file("var/old", b"")
            .finish(),
    )
    .unwrap();
    let upper = base.outside("upper");
    fs::create_dir_all(upper.join("etc")).unwrap();
    mknod_whiteout(&upper.join("etc/passwd"));
    fs::create_dir(upper.join("var")).unwrap();
    set_xattr(&upper.join("var"), "trusted.overlay.opaque", b"y");
    fs::write(upper.join("var/new"), b"new").unwrap();
    fs::write(upper.join("new.txt"), b"hello").unwrap();
    fs::hard_link(upper.join("new.txt"), upper.join("var/again")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", upper.join("pw")).unwrap();

    let mut tar = Vec::new();
    let (diff_id, size) = layer::diff(&upper, &mut tar).unwrap();
    assert_eq!(
        (diff_id.clone(), size),
        (Digest::of_bytes(&tar), tar.len() as u64)
    );
    let names: Vec<(String, char, String)> = listing(&tar)
        .into_iter()
        .map(|(n, t, l, _)| (n, t, l))
        .collect();
    let expected = [
        ("etc/", '5', ""),
        ("etc/.wh.passwd", '0', ""),
        ("new.txt", '0', ""),
        ("pw", '2', "/etc/passwd"),
        ("var/", '5', ""),
        ("var/.wh..wh..opq", '0', ""),
        ("var/again", '1', "new.txt"),
        ("var/new", '0', ""),
    ];
    let expected: Vec<(String, char, String)> = expected
        .iter()
        .map(|(n, t, l)| (n.to_string(), *t, l.to_string()))
        .collect();
    assert_eq!(names, expected);

    // The same upper, the same bytes.
    let mut again = Vec::new();
    layer::diff(&upper, &mut again).unwrap();
    assert_eq!(again, tar);

    // Unpacked into a fresh directory, the markers are overlay forms again...
    let fresh = Scene::new();
    let unpacked = fresh.unpack(&gzip(&tar)).unwrap();
    assert_eq!(unpacked.diff_id, diff_id);
    let t = fresh.target();
    assert!(layer::is_whiteout(
        &t.join("etc/passwd").symlink_metadata().unwrap()
    ));
    assert!(layer::is_opaque(&t.join("var")).unwrap());
    assert!(!t.join("etc/.wh.passwd").exists() && !t.join("var/.wh..wh..opq").exists());
    assert_eq!(
        t.join("var/again").metadata().unwrap().ino(),
        t.join("new.txt").metadata().unwrap().ino()
    );
    // ...and a diff of it gives back the very same layer.
    let mut round = Vec::new();
    assert_eq!(layer::diff(&t, &mut round).unwrap().0, diff_id);
}

#[test]
fn privileged_overlayfs_hides_what_the_whiteouts_say() {
    require_root();
    let scene = Scene::new();
    let lower = scene.outside("lower");
    let top = scene.outside("top");
    let options = UnpackOptions::for_current_user();
    let base = Layer::new()
        .dir("etc/")
        .file("etc/passwd", b"root")
        .file("etc/hosts", b"")
        .dir("var/")
        .file("var/old", b"")
        .finish();
    layer::unpack(&base[..], &lower, &options).unwrap();
    let change = Layer::new()
        .file("etc/.wh.passwd", b"")
        .dir("var/")
        .file("var/.wh..wh..opq", b"")
        .file("var/new", b"")
        .finish();
    layer::unpack(&change[..], &top, &options).unwrap();

    let (work, upper, merged) = (
        scene.outside("work"),
        scene.outside("upper"),
        scene.outside("merged"),
    );
    for dir in [&work, &upper, &merged] {
        fs::create_dir(dir).unwrap();
    }
    // overlayfs lists lower dirs top first.
    let data = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        top.display(),
        lower.display(),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .expect("mount overlay");
    let seen = |dir: &str| {
        let mut names: Vec<String> = fs::read_dir(merged.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (etc, var) = (seen("etc"), seen("var"));
    nix::mount::umount(&merged).unwrap();
    assert_eq!(etc, ["hosts"]);
    assert_eq!(var, ["new"]);
}
