//! `archive::load` and `archive::save` against each other, against the
//! formats older Dockers and other tools write, against skopeo and umoci
//! (the real peers), and against archives built to break out of the store.
//!
//! Loading unpacks layers, which makes device nodes and sets owners: those
//! tests need root and are named `privileged_…`. The hostile archives that
//! are refused before any layer is unpacked run as any user.

mod common;
use common::require_root;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use images::archive;
use images::digest::Digest;
use images::oci::{self, ImageConfig, media};
use images::reference::Reference;
use images::store::{Image, ImageStore};
use serde_json::{Value, json};
use tar::EntryType;

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is not installed: run scripts/provision.sh --test"
    );
}

/// Runs a command and returns its stdout, failing the test with its stderr.
fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

/// A tar built entry by entry. Names are written as given, byte for byte:
/// the tar crate's own path setters refuse `..` and absolute names, which
/// is what the hostile archives need.
struct Tar {
    builder: Option<tar::Builder<Vec<u8>>>,
}

impl Tar {
    fn new() -> Tar {
        Tar {
            builder: Some(tar::Builder::new(Vec::new())),
        }
    }

    fn entry(mut self, kind: EntryType, path: &str, link: &str, data: &[u8]) -> Tar {
        let mut header = tar::Header::new_ustar();
        {
            let raw = header.as_old_mut();
            raw.name[..path.len()].copy_from_slice(path.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        self.builder
            .as_mut()
            .unwrap()
            .append(&header, data)
            .unwrap();
        self
    }

    fn dir(self, path: &str) -> Tar {
        self.entry(EntryType::Directory, path, "", b"")
    }

    fn file(self, path: &str, data: &[u8]) -> Tar {
        self.entry(EntryType::Regular, path, "", data)
    }

    fn symlink(self, path: &str, target: &str) -> Tar {
        self.entry(EntryType::Symlink, path, target, b"")
    }

    fn finish(mut self) -> Vec<u8> {
        self.builder.take().unwrap().into_inner().unwrap()
    }
}

/// A layer: paths ending in `/` are directories, the others files.
fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
    entries
        .iter()
        .fold(Tar::new(), |tar, (path, contents)| {
            if path.ends_with('/') {
                tar.dir(path)
            } else {
                tar.file(path, contents.as_bytes())
            }
        })
        .finish()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An image config for this machine with the given layers.
fn config_json(diff_ids: &[Digest]) -> Vec<u8> {
    let host = oci::Platform::host();
    let mut config = json!({
        "architecture": host.architecture,
        "os": host.os,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    if let Some(variant) = host.variant {
        config["variant"] = json!(variant);
    }
    serde_json::to_vec(&config).unwrap()
}

const MOTD: &str = "hello from layer 1\n";
const APP: &str = "layer 2\n";

/// A store holding `demo:1`: two layers, the second gzip-compressed as
/// pulled layers are, so both kinds travel through every format.
fn demo_store(root: &Path) -> (ImageStore, Image) {
    let store = ImageStore::open(root).unwrap();
    let base = store
        .add_layer(
            &layer(&[("etc/", ""), ("etc/motd", MOTD)])[..],
            media::OCI_LAYER,
            None,
        )
        .unwrap();
    let top = store
        .add_layer(
            &gzip(&layer(&[("srv/", ""), ("srv/app.txt", APP)]))[..],
            media::OCI_LAYER_GZIP,
            None,
        )
        .unwrap();
    let host = oci::Platform::host();
    let config = ImageConfig {
        created: Some("2024-01-01T00:00:00Z".into()),
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        config: oci::RunConfig {
            cmd: Some(vec!["/bin/sh".into()]),
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        },
        rootfs: oci::RootFs {
            kind: "layers".into(),
            diff_ids: vec![base.diff_id.clone(), top.diff_id.clone()],
        },
        history: Vec::new(),
    };
    let image = store
        .add_image(&config, &[base, top], Some(&reference("demo:1")))
        .unwrap();
    (store, image)
}

fn save(store: &ImageStore, names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    archive::save(store, names, &mut out).unwrap();
    out
}

/// Loads into `store`, returning the images and the progress lines.
fn load(store: &ImageStore, bytes: &[u8]) -> anyhow::Result<(Vec<Image>, Vec<String>)> {
    let mut lines = Vec::new();
    let images = archive::load(store, bytes, &mut |line| lines.push(line.to_string()))?;
    Ok((images, lines))
}

/// The files of an image as the store unpacked them, top layer last.
fn read_from_layers(store: &ImageStore, image: &Image, path: &str) -> String {
    let found = store
        .layer_dirs(image)
        .unwrap()
        .into_iter()
        .rev()
        .map(|dir| dir.join(path))
        .find(|p| p.exists());
    fs::read_to_string(
        found.unwrap_or_else(|| panic!("{path} is in no layer of {}", image.display_name())),
    )
    .unwrap()
}

/// Unpacks a tar we made ourselves (so trusted) into `dir`.
fn untar(bytes: &[u8], dir: &Path) {
    tar::Archive::new(bytes).unpack(dir).unwrap();
}

fn entry_names(bytes: &[u8]) -> Vec<(String, u64)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mtime().unwrap(),
            )
        })
        .collect()
}

fn digests(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn strings(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(Digest::to_string).collect()
}

#[test]
fn privileged_save_then_load_keeps_ids_and_tags() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (store, image) = demo_store(&dir.path().join("a"));
    store.tag(&image, &reference("demo:latest")).unwrap();
    let saved = save(&store, &["demo:1", "demo:latest"]);
    assert_eq!(
        saved,
        save(&store, &["demo:1", "demo:latest"]),
        "the same images must give the same bytes"
    );

    // Both layouts in one tar, in one fixed order, every mtime zero.
    let mut blobs: Vec<String> = [&image.manifest_digest, &image.id]
        .into_iter()
        .chain(image.manifest.layers.iter().map(|l| &l.digest))
        .map(|d| format!("blobs/sha256/{}", d.hex()))
        .collect();
    blobs.sort();
    let mut expected = vec!["blobs/".to_string(), "blobs/sha256/".to_string()];
    expected.extend(blobs);
    expected
        .extend(["index.json", "manifest.json", "oci-layout", "repositories"].map(String::from));
    let entries = entry_names(&saved);
    assert_eq!(
        entries.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(entries.iter().all(|(_, mtime)| *mtime == 0));

    let layout = dir.path().join("layout");
    untar(&saved, &layout);
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let annotations: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["annotations"])
        .collect();
    assert_eq!(
        annotations,
        [
            &json!({"io.containerd.image.name": "docker.io/library/demo:1", "org.opencontainers.image.ref.name": "1"}),
            &json!({"io.containerd.image.name": "docker.io/library/demo:latest", "org.opencontainers.image.ref.name": "latest"}),
        ]
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(layout.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest,
        json!([{
            "Config": format!("blobs/sha256/{}", image.id.hex()),
            "RepoTags": ["demo:1", "demo:latest"],
            "Layers": image.manifest.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
        }])
    );
    let repositories: Value =
        serde_json::from_slice(&fs::read(layout.join("repositories")).unwrap()).unwrap();
    assert_eq!(
        repositories,
        json!({"demo": {"1": image.id.hex(), "latest": image.id.hex()}})
    );

    let other = ImageStore::open(&dir.path().join("b")).unwrap();
    let (loaded, lines) = load(&other, &saved).unwrap();
    let diff_ids = &image.config.rootfs.diff_ids;
    assert_eq!(
        lines,
        [
            format!("Loading layer 1/2 sha256:{}", diff_ids[0].short()),
            format!("Loading layer 2/2 sha256:{}", diff_ids[1].short()),
            "Loaded image: demo:1".to_string(),
            "Loaded image: demo:latest".to_string(),
        ]
    );
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].id, image.id,
        "the config's bytes, hence the image ID, survive"
    );
    assert_eq!(
        loaded[0].manifest_digest, image.manifest_digest,
        "the manifest's bytes survive too"
    );
    assert_eq!(
        loaded[0].tags,
        [reference("demo:1"), reference("demo:latest")]
    );
    let found = other.resolve("demo:latest").unwrap();
    assert_eq!(
        (&found.id, &found.config.rootfs.diff_ids),
        (&image.id, diff_ids)
    );
    assert_eq!(
        found.manifest.layers, image.manifest.layers,
        "media types, digests and sizes"
    );
    assert_eq!(read_from_layers(&other, &found, "etc/motd"), MOTD);
    assert_eq!(read_from_layers(&other, &found, "srv/app.txt"), APP);
    assert_eq!(
        fs::read_dir(other.root().join("tmp")).unwrap().count(),
        0,
        "the scratch space is cleaned up"
    );

    // `docker save | gzip` loads the same.
    let third = ImageStore::open(&dir.path().join("c")).unwrap();
    let (loaded, _) = load(&third, &gzip(&saved)).unwrap();
    assert_eq!(
        (&loaded[0].id, &loaded[0].tags),
        (
            &image.id,
            &vec![reference("demo:1"), reference("demo:latest")]
        )
    );
}

#[test]
fn privileged_an_image_saved_by_id_loads_without_a_name() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (store, image) = demo_store(&dir.path().join("a"));
    let saved = save(&store, &[image.id.short()]);
    let names: Vec<String> = entry_names(&saved).into_iter().map(|(n, _)| n).collect();
    assert!(
        !names.contains(&"repositories".to_string()),
        "Docker writes `repositories` only for named images"
    );

    let other = ImageStore::open(&dir.path().join("b")).unwrap();
    let (loaded, lines) = load(&other, &saved).unwrap();
    assert_eq!(
        lines.last().unwrap(),
        &format!("Loaded image ID: {}", image.id)
    );
    assert_eq!((&loaded[0].id, loaded[0].tags.len()), (&image.id, 0));
    // Unnamed, it is still in the store (not garbage), found by its ID.
    let listed = other.images().unwrap();
    assert_eq!((listed.len(), &listed[0].id), (1, &image.id));
    assert_eq!(other.resolve(image.id.short()).unwrap().id, image.id);

    let missing = archive::save(&store, &["nope:1"], &mut Vec::new()).unwrap_err();
    assert!(
        missing.to_string().contains("no such image 'nope:1'"),
        "{missing}"
    );
}

/// The docker-archive of Docker before 25: `<id>/layer.tar` per layer, a
/// repeated layer as a symlink to the first one's tar, `<hex>.json` for the
/// config, and (from Docker with the containerd store) gzip layers.
#[test]
fn privileged_loads_docker_archives_of_older_dockers() {
    require_root();
    let plain = layer(&[("data/", ""), ("data/one", "1\n")]);
    let compressed_tar = layer(&[("data/", ""), ("data/two", "2\n")]);
    let d_plain = Digest::of_bytes(&plain);
    let d_compressed = Digest::of_bytes(&compressed_tar);
    let config_1 = config_json(&[d_plain.clone(), d_plain.clone()]);
    let config_2 = config_json(&[d_plain.clone(), d_compressed.clone()]);
    let (id_1, id_2) = (Digest::of_bytes(&config_1), Digest::of_bytes(&config_2));
    let manifest = json!([
        {"Config": format!("{}.json", id_1.hex()), "RepoTags": ["old:1", "docker.io/library/old:again"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]},
        {"Config": format!("{}.json", id_2.hex()), "RepoTags": null, "Layers": ["aaa/layer.tar", "ccc/layer.tar"]},
    ]);
    let bytes = Tar::new()
        .dir("aaa/")
        .file("aaa/VERSION", b"1.0")
        .file("aaa/json", b"{}")
        .file("aaa/layer.tar", &plain)
        .dir("bbb/")
        .file("bbb/VERSION", b"1.0")
        .symlink("bbb/layer.tar", "../aaa/layer.tar")
        .dir("ccc/")
        .file("ccc/layer.tar", &gzip(&compressed_tar))
        .file(&format!("{}.json", id_1.hex()), &config_1)
        .file(&format!("{}.json", id_2.hex()), &config_2)
        .file("manifest.json", manifest.to_string().as_bytes())
        .file("repositories", br#"{"old":{"1":"bbb"}}"#)
        .finish();

    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let (loaded, lines) = load(&store, &bytes).unwrap();
    assert_eq!(
        lines[lines.len() - 3..],
        [
            "Loaded image: old:1".to_string(),
            "Loaded image: old:again".to_string(),
            format!("Loaded image ID: {id_2}"),
        ]
    );
    assert_eq!(
        (&loaded[0].id, &loaded[0].tags),
        (&id_1, &vec![reference("old:1"), reference("old:again")])
    );
    assert_eq!(
        loaded[0].config.rootfs.diff_ids,
        [d_plain.clone(), d_plain.clone()]
    );
    assert_eq!(loaded[1].id, id_2);
    let media_types: Vec<&str> = loaded[1]
        .manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(media_types, [media::OCI_LAYER, media::OCI_LAYER_GZIP]);
    assert_eq!(
        loaded[1].manifest.layers[0].digest, d_plain,
        "an uncompressed layer's blob digest is its diff_id"
    );
    let second = store.resolve(id_2.short()).unwrap();
    assert_eq!(read_from_layers(&store, &second, "data/one"), "1\n");
    assert_eq!(read_from_layers(&store, &second, "data/two"), "2\n");
    assert_eq!(store.images().unwrap().len(), 2);
}

/// An OCI layout as containerd and buildkit write them: `index.json` names
/// an index of per-platform manifests; only this machine's is in the tar.
#[test]
fn privileged_loads_multi_platform_oci_layouts() {
    require_root();
    let tar = layer(&[("hello.txt", "hi\n")]);
    let diff_id = Digest::of_bytes(&tar);
    let config = config_json(std::slice::from_ref(&diff_id));
    let blob = |bytes: &[u8]| (Digest::of_bytes(bytes), bytes.len());
    let (config_digest, config_size) = blob(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": media::OCI_LAYER, "digest": diff_id, "size": tar.len()}],
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = blob(&manifest);
    let host = oci::Platform::host();
    let platforms = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [
            // Listed first and absent from the tar: it must not be read.
            {"mediaType": media::OCI_MANIFEST, "digest": Digest::of_bytes(b"elsewhere"), "size": 9,
             "platform": {"architecture": "s390x", "os": "linux"}},
            {"mediaType": media::OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size, "platform": host},
        ],
    }))
    .unwrap();
    let (platforms_digest, platforms_size) = blob(&platforms);
    let layout = |index: Value| {
        let mut tar_builder = Tar::new()
            .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .dir("blobs/")
            .dir("blobs/sha256/");
        for bytes in [&tar, &config, &manifest, &platforms] {
            tar_builder = tar_builder.file(
                &format!("blobs/sha256/{}", Digest::of_bytes(bytes).hex()),
                bytes,
            );
        }
        tar_builder
            .file("index.json", index.to_string().as_bytes())
            .finish()
    };

    // ref.name holding a full name (as skopeo and buildah write it) names the image.
    let named = layout(json!({"schemaVersion": 2, "manifests": [
        {"mediaType": media::OCI_INDEX, "digest": platforms_digest, "size": platforms_size,
         "annotations": {"org.opencontainers.image.ref.name": "localhost:5000/multi:2"}},
    ]}));
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("a")).unwrap();
    let (loaded, lines) = load(&store, &named).unwrap();
    assert_eq!(
        lines.last().unwrap(),
        "Loaded image: localhost:5000/multi:2"
    );
    assert_eq!(
        (&loaded[0].id, &loaded[0].manifest_digest),
        (&config_digest, &manifest_digest),
        "this machine's manifest, kept as it was"
    );
    assert_eq!(read_from_layers(&store, &loaded[0], "hello.txt"), "hi\n");

    // ref.name holding only a tag names nothing: Docker then prints the ID.
    let tag_only = layout(json!({"schemaVersion": 2, "manifests": [
        {"mediaType": media::OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}},
    ]}));
    let store = ImageStore::open(&dir.path().join("b")).unwrap();
    let (loaded, lines) = load(&store, &tag_only).unwrap();
    assert_eq!(
        lines.last().unwrap(),
        &format!("Loaded image ID: {config_digest}")
    );
    assert!(loaded[0].tags.is_empty());

    // Only other platforms: a clear refusal.
    let foreign = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [
        {"mediaType": media::OCI_MANIFEST, "digest": Digest::of_bytes(b"elsewhere"), "size": 9,
         "platform": {"architecture": "s390x", "os": "linux"}}]}),
    )
    .unwrap();
    let bytes = Tar::new()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file(&format!("blobs/sha256/{}", Digest::of_bytes(&foreign).hex()), &foreign)
        .file("index.json", json!({"schemaVersion": 2, "manifests": [
            {"mediaType": media::OCI_INDEX, "digest": Digest::of_bytes(&foreign), "size": foreign.len()}]}).to_string().as_bytes())
        .finish();
    let store = ImageStore::open(&dir.path().join("c")).unwrap();
    let err = load(&store, &bytes).unwrap_err();
    assert!(
        format!("{err:#}").contains("no image for linux/")
            && format!("{err:#}").contains("linux/s390x"),
        "{err:#}"
    );
}

fn skopeo_json(args: &[&str]) -> Value {
    serde_json::from_slice(&run(Command::new("skopeo").args(args))).unwrap()
}

#[test]
fn privileged_skopeo_reads_what_we_save() {
    require_root();
    require("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let (store, image) = demo_store(&dir.path().join("store"));
    let file = dir.path().join("demo.tar");
    archive::save(&store, &["demo:1"], File::create(&file).unwrap()).unwrap();
    let docker_archive = format!("docker-archive:{}", file.display());
    // The OCI view finds the manifest by ref.name, which holds the tag.
    let oci_archive = format!("oci-archive:{}:1", file.display());

    // skopeo presents a docker-archive's layers by diff_id (it decompresses
    // them on the way); an OCI layout's by blob digest.
    let docker = skopeo_json(&["inspect", &docker_archive]);
    assert_eq!(
        digests(&docker["Layers"]),
        strings(&image.config.rootfs.diff_ids)
    );
    let layout = skopeo_json(&["inspect", &oci_archive]);
    let blob_digests: Vec<Digest> = image
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    assert_eq!(digests(&layout["Layers"]), strings(&blob_digests));
    // The same image either way: the config, byte for byte.
    for source in [&docker_archive, &oci_archive] {
        let config = run(Command::new("skopeo").args(["inspect", "--raw", "--config", source]));
        assert_eq!(Digest::of_bytes(&config), image.id, "{source}");
    }
    let manifest = run(Command::new("skopeo").args(["inspect", "--raw", &oci_archive]));
    assert_eq!(Digest::of_bytes(&manifest), image.manifest_digest);
}

#[test]
fn privileged_what_skopeo_copies_loads_back() {
    require_root();
    require("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let (store, image) = demo_store(&dir.path().join("store"));
    let saved = save(&store, &["demo:1"]);
    let file = dir.path().join("demo.tar");
    fs::write(&file, &saved).unwrap();
    let skopeo_copy = |from: String, to: String| {
        // --insecure-policy: no /etc/containers/policy.json needed for local files.
        run(Command::new("skopeo").args(["--insecure-policy", "copy", "--quiet", &from, &to]));
    };

    // docker-archive → OCI archive: skopeo writes ref.name "demo", a bare
    // word, so the image loads without a name.
    let oci_out = dir.path().join("out-oci.tar");
    skopeo_copy(
        format!("docker-archive:{}", file.display()),
        format!("oci-archive:{}:demo", oci_out.display()),
    );
    let fresh = ImageStore::open(&dir.path().join("b")).unwrap();
    let (loaded, lines) = load(&fresh, &fs::read(&oci_out).unwrap()).unwrap();
    assert_eq!(
        loaded[0].config.rootfs.diff_ids,
        image.config.rootfs.diff_ids
    );
    assert!(loaded[0].tags.is_empty(), "{:?}", loaded[0].tags);
    assert_eq!(
        lines.last().unwrap(),
        &format!("Loaded image ID: {}", loaded[0].id)
    );
    // Observed with skopeo 1.9: the config is copied byte for byte, so the
    // image ID is the same. The layers are not: docker-archive hands them
    // out decompressed and the OCI side gzips them again, so the blobs and
    // hence the manifest are new ones.
    assert_eq!(loaded[0].id, image.id);
    assert!(
        loaded[0]
            .manifest
            .layers
            .iter()
            .all(|l| l.media_type == media::OCI_LAYER_GZIP),
        "{:?}",
        loaded[0].manifest.layers
    );
    assert_ne!(loaded[0].manifest_digest, image.manifest_digest);

    // Our OCI layout → docker-archive, named demo:1.
    let layout = dir.path().join("layout");
    untar(&saved, &layout);
    let docker_out = dir.path().join("out-docker.tar");
    skopeo_copy(
        format!("oci:{}:1", layout.display()),
        format!("docker-archive:{}:demo:1", docker_out.display()),
    );
    let fresh = ImageStore::open(&dir.path().join("c")).unwrap();
    let (loaded, lines) = load(&fresh, &fs::read(&docker_out).unwrap()).unwrap();
    assert_eq!(
        loaded[0].config.rootfs.diff_ids,
        image.config.rootfs.diff_ids
    );
    assert_eq!(loaded[0].tags, [reference("demo:1")]);
    assert_eq!(lines.last().unwrap(), "Loaded image: demo:1");
    // Observed with skopeo 1.9: the config is kept byte for byte (same
    // image ID); the layers are written uncompressed, as `<diff_id>.tar`
    // with `<v1 id>/layer.tar` symlinks to them, as Docker before 25 did.
    assert_eq!(loaded[0].id, image.id);
    let blobs: Vec<Digest> = loaded[0]
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    assert_eq!(blobs, image.config.rootfs.diff_ids);
    assert_eq!(read_from_layers(&fresh, &loaded[0], "srv/app.txt"), APP);

    // Loaded where the image already is, it stays one image: a
    // docker-archive has no manifest of its own to add.
    let (again, _) = load(&store, &fs::read(&docker_out).unwrap()).unwrap();
    assert_eq!(
        (&again[0].id, &again[0].manifest_digest),
        (&image.id, &image.manifest_digest)
    );
    assert_eq!(store.images().unwrap().len(), 1);
    assert_eq!(
        store.resolve(image.id.short()).unwrap().tags,
        [reference("demo:1")]
    );
}

#[test]
fn privileged_umoci_unpacks_what_we_save() {
    require_root();
    require("umoci");
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(&dir.path().join("store"));
    let layout = dir.path().join("layout");
    untar(&save(&store, &["demo:1"]), &layout);

    let tags = String::from_utf8(run(Command::new("umoci")
        .arg("ls")
        .arg("--layout")
        .arg(&layout)))
    .unwrap();
    assert_eq!(tags.lines().collect::<Vec<_>>(), ["1"]);
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:1", layout.display()))
        .arg(&bundle));
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap(),
        MOTD
    );
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/srv/app.txt")).unwrap(),
        APP
    );
    assert!(
        bundle.join("config.json").is_file(),
        "umoci writes an OCI runtime bundle"
    );
}

/// The offline busybox image (made with `import`, as `ch02` does): four
/// hundred links and a 2 MB binary, through save, load, skopeo and umoci.
#[test]
fn privileged_busybox_travels_through_every_peer() {
    require_root();
    require("skopeo");
    require("umoci");
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("a")).unwrap();
    let mut tar = Vec::new();
    images::rootfs::write_busybox_layer(&images::rootfs::busybox_path().unwrap(), &mut tar)
        .unwrap();
    let image = store
        .import(
            &tar[..],
            &reference("busybox:latest"),
            Some(vec!["sh".into()]),
        )
        .unwrap();
    let saved = dir.path().join("busybox.tar");
    archive::save(&store, &["busybox"], File::create(&saved).unwrap()).unwrap();

    let other = ImageStore::open(&dir.path().join("b")).unwrap();
    let (loaded, lines) = load(&other, &fs::read(&saved).unwrap()).unwrap();
    assert_eq!(lines.last().unwrap(), "Loaded image: busybox:latest");
    assert_eq!(
        (&loaded[0].id, &loaded[0].config.rootfs.diff_ids),
        (&image.id, &image.config.rootfs.diff_ids)
    );
    let sh = other.layer_dirs(&loaded[0]).unwrap()[0].join("bin/sh");
    assert_eq!(fs::read_link(sh).unwrap(), Path::new("/bin/busybox"));

    let config = run(Command::new("skopeo")
        .arg("inspect")
        .arg("--raw")
        .arg("--config")
        .arg(format!("docker-archive:{}", saved.display())));
    assert_eq!(Digest::of_bytes(&config), image.id);
    let layout = dir.path().join("layout");
    untar(&fs::read(&saved).unwrap(), &layout);
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle));
    assert_eq!(
        fs::read_link(bundle.join("rootfs/bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());
}

// ---- hostile archives ----

/// A test directory: the store, and beside it a sentinel directory that
/// an escaping archive would write into.
struct Victim {
    dir: tempfile::TempDir,
    store: ImageStore,
}

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("store")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/sentinel"), b"untouched").unwrap();
        Victim { dir, store }
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// Loads `bytes`, expects an error saying `why`, and checks that
    /// nothing was written outside the store's scratch space or kept in it.
    fn refuses(&self, bytes: &[u8], why: &str) {
        self.refuses_with(bytes, &[why]);
    }

    /// As [`refuses`](Self::refuses), with any of several reasons.
    fn refuses_with(&self, bytes: &[u8], reasons: &[&str]) {
        let err = match load(&self.store, bytes) {
            Ok((images, _)) => panic!(
                "loaded {} image(s); expected an error saying {reasons:?}",
                images.len()
            ),
            Err(err) => format!("{err:#}"),
        };
        assert!(
            reasons.iter().any(|why| err.contains(why)),
            "expected one of {reasons:?} in: {err}"
        );
        let outside: BTreeMap<String, Vec<u8>> = fs::read_dir(self.outside())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap_or_default(),
                )
            })
            .collect();
        let mut expected = self.planted();
        expected.insert("sentinel".to_string(), b"untouched".to_vec());
        assert_eq!(outside, expected, "the directory beside the store changed");
        let mut stray = Vec::new();
        walk(self.dir.path(), &mut stray);
        assert!(
            stray
                .iter()
                .all(|p| !p.file_name().unwrap().to_string_lossy().starts_with("evil")),
            "{stray:?}"
        );
        assert_eq!(
            fs::read_dir(self.store.root().join("tmp")).unwrap().count(),
            0,
            "scratch space left behind"
        );
        assert!(
            self.store.images().unwrap().is_empty(),
            "no image may be added"
        );
        assert!(
            self.store.content().blobs().unwrap().is_empty(),
            "no blob may be kept"
        );
    }

    /// Files a test planted in the sentinel directory on purpose.
    fn planted(&self) -> BTreeMap<String, Vec<u8>> {
        let secret = self.outside().join("secret.tar");
        match fs::read(&secret) {
            Ok(bytes) => BTreeMap::from([("secret.tar".to_string(), bytes)]),
            Err(_) => BTreeMap::new(),
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(&path, out);
        }
    }
}

/// A docker-archive of one image whose single layer is at `layer_path`,
/// with the entries `extra` adds.
fn docker_archive(layer_tar: &[u8], layer_path: &str, extra: impl FnOnce(Tar) -> Tar) -> Vec<u8> {
    let config = config_json(&[Digest::of_bytes(layer_tar)]);
    let manifest =
        json!([{"Config": "config.json", "RepoTags": ["bad:1"], "Layers": [layer_path]}]);
    extra(
        Tar::new()
            .file("config.json", &config)
            .file("manifest.json", manifest.to_string().as_bytes()),
    )
    .finish()
}

fn good_layer() -> Vec<u8> {
    layer(&[("evil-if-unpacked-outside", "x")])
}

#[test]
fn hostile_entry_names_are_refused() {
    let victim = Victim::new();
    let layer = good_layer();
    let dotdot = docker_archive(&layer, "layer.tar", |t| {
        t.file("layer.tar", &layer)
            .file("../../../outside/evil", b"x")
    });
    victim.refuses(&dotdot, "archive entry ../../../outside/evil contains `..`");
    let dotdot_inside = docker_archive(&layer, "layer.tar", |t| {
        t.file("layer.tar", &layer).file("a/../../evil", b"x")
    });
    victim.refuses(&dotdot_inside, "contains `..`");
    let absolute_path = format!("{}/evil", victim.outside().display());
    let absolute = docker_archive(&layer, "layer.tar", |t| {
        t.file("layer.tar", &layer).file(&absolute_path, b"x")
    });
    victim.refuses(&absolute, "is an absolute path");
    // A device node has no business in an image archive (layers are tars inside it).
    let device = docker_archive(&layer, "layer.tar", |t| {
        t.file("layer.tar", &layer)
            .entry(EntryType::Char, "evil-dev", "", b"")
    });
    victim.refuses(&device, "holds only files, directories and links");
}

#[test]
fn hostile_links_are_never_followed_outside() {
    let victim = Victim::new();
    let layer = good_layer();
    // The escape would work: a valid layer waits at the link's target.
    fs::write(victim.outside().join("secret.tar"), &layer).unwrap();
    let relative = docker_archive(&layer, "layer.tar", |t| {
        t.symlink("layer.tar", "../../../outside/secret.tar")
    });
    victim.refuses(
        &relative,
        "\"layer.tar\" leads above the archive's root, outside the archive",
    );
    let absolute_target = format!("{}/secret.tar", victim.outside().display());
    let absolute = docker_archive(&layer, "layer.tar", |t| {
        t.symlink("layer.tar", &absolute_target)
    });
    victim.refuses(
        &absolute,
        "is (or links to) an absolute path, outside the archive",
    );
    // Through a directory link, then a file link, then `..`: still caught.
    let chained = docker_archive(&layer, "d/layer.tar", |t| {
        t.dir("real/")
            .symlink("d", "real")
            .symlink("real/layer.tar", "../../outside/secret.tar")
    });
    victim.refuses(&chained, "leads above the archive's root");
    // An entry below a link would be written through it if links were on disk.
    let below = docker_archive(&layer, "layer.tar", |t| {
        t.file("layer.tar", &layer)
            .symlink("out", "../../../outside")
            .file("out/evil", b"x")
    });
    victim.refuses(&below, "archive entry out/evil is below the link out");
    let looping = docker_archive(&layer, "layer.tar", |t| {
        t.symlink("layer.tar", "loop").symlink("loop", "layer.tar")
    });
    victim.refuses(&looping, "too many levels of links");
    // Manifest paths are archive paths too.
    let named_outside = docker_archive(&layer, "../outside/secret.tar", |t| t);
    victim.refuses(&named_outside, "leads above the archive's root");
}

#[test]
fn hostile_missing_files_and_broken_compression_are_refused() {
    let victim = Victim::new();
    let layer = good_layer();
    let missing = docker_archive(&layer, "nothere/layer.tar", |t| t);
    victim.refuses(&missing, "layer 1 of bad:1: manifest.json names \"nothere/layer.tar\": the archive has no file \"nothere/layer.tar\"");
    victim.refuses(b"", "not an image archive");
    victim.refuses(
        &Tar::new().file("hello.txt", b"hi").finish(),
        "not an image archive",
    );
    victim.refuses(
        &docker_archive(&layer, "layer.tar", |t| {
            t.file("layer.tar", &layer).file("manifest.json", b"{")
        }),
        "manifest.json of the archive",
    );

    let whole = docker_archive(&layer, "layer.tar", |t| t.file("layer.tar", &layer));
    let mut corrupt = gzip(&whole);
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    // Damage inside the stream may first show as a garbled tar header.
    victim.refuses_with(
        &corrupt,
        &[
            "corrupt gzip stream in the archive",
            "reading the archive (is it a tar file",
        ],
    );
    let mut bad_checksum = gzip(&whole);
    let crc = bad_checksum.len() - 8;
    bad_checksum[crc] ^= 0xff;
    victim.refuses(&bad_checksum, "corrupt gzip stream in the archive");
    let truncated_gzip = gzip(&whole);
    victim.refuses(
        &truncated_gzip[..truncated_gzip.len() / 2],
        "corrupt gzip stream in the archive",
    );
    // A plain tar cut inside a file: the header's size gives it away.
    let cut = whole.len() - 1024 - 512 - 100;
    victim.refuses(&whole[..cut], "the archive is incomplete");
}

#[test]
fn privileged_hostile_layers_that_do_not_match_their_config_are_refused() {
    require_root();
    let victim = Victim::new();
    let layer = good_layer();
    let other = layer_with_other_bytes();
    // manifest.json and the config agree on one layer; the tar is another.
    let mismatch = docker_archive(&layer, "layer.tar", |t| t.file("layer.tar", &other));
    let expected = format!(
        "layer 1 of bad:1: diff_id mismatch: config says {}, the tar hashes to {}",
        Digest::of_bytes(&layer),
        Digest::of_bytes(&other)
    );
    victim.refuses(&mismatch, &expected);
    // Fewer layers than diff_ids.
    let config = config_json(&[Digest::of_bytes(&layer), Digest::of_bytes(&layer)]);
    let short = Tar::new()
        .file("config.json", &config)
        .file("layer.tar", &layer)
        .file(
            "manifest.json",
            json!([{"Config": "config.json", "RepoTags": ["bad:1"], "Layers": ["layer.tar"]}])
                .to_string()
                .as_bytes(),
        )
        .finish();
    victim.refuses(
        &short,
        "bad:1: manifest.json lists 1 layers but its config has 2 diff_ids",
    );
    // An OCI blob whose bytes are not its name.
    let config = config_json(&[Digest::of_bytes(&layer)]);
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": Digest::of_bytes(&config), "size": config.len()},
        "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": Digest::of_bytes(&gzip(&layer)), "size": 10}]}))
    .unwrap();
    let lying = Tar::new()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file(
            &format!("blobs/sha256/{}", Digest::of_bytes(&config).hex()),
            &config,
        )
        .file(
            &format!("blobs/sha256/{}", Digest::of_bytes(&manifest).hex()),
            &manifest,
        )
        .file(
            &format!("blobs/sha256/{}", Digest::of_bytes(&gzip(&layer)).hex()),
            &gzip(&other),
        )
        .file(
            "index.json",
            json!({"schemaVersion": 2, "manifests": [{"mediaType": media::OCI_MANIFEST,
            "digest": Digest::of_bytes(&manifest), "size": manifest.len(),
            "annotations": {"io.containerd.image.name": "docker.io/library/bad:1"}}]})
            .to_string()
            .as_bytes(),
        )
        .finish();
    victim.refuses(&lying, "digest mismatch");
}

fn layer_with_other_bytes() -> Vec<u8> {
    layer(&[("evil-if-unpacked-outside", "y")])
}
