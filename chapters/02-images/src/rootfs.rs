//! The root filesystems of the two offline images, `hello` and `busybox`,
//! each written as one uncompressed layer tar: what `docker pull` would have
//! fetched, made here from binaries already on the machine.
//!
//! The tars are deterministic — sorted entries, owner 0:0, one fixed mtime —
//! so the same inputs always give the same bytes, hence the same layer digest
//! (diff ID). The image ID still changes per import: the config records
//! when the image was created.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::reference::Reference;
use crate::static_binary;
use crate::store::{Image, ImageStore};

/// The modification time of every entry: the epoch. Using the files' real
/// times would make the layer digest change with every rebuild.
const LAYER_MTIME: u64 = 0;

/// Where Debian and Ubuntu's busybox-static installs busybox (/bin is a link
/// to /usr/bin on merged-/usr systems, where both paths work).
const BUSYBOX_PATHS: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// One entry of an image's root filesystem.
enum Node {
    Directory { mode: u32 },
    File { mode: u32, contents: Vec<u8> },
    Symlink { target: String },
}

/// A root filesystem, by path relative to its root ("bin/sh"). A BTreeMap
/// keeps the paths sorted, which also puts every directory before its
/// contents (a path sorts after its own prefix), as extraction needs.
type Tree = BTreeMap<String, Node>;

// ANCHOR: hello
/// The `hello` image's layer: `/hello` and nothing else, like Docker's
/// hello-world. The binary must be static to run there (the image has no libc
/// or loader); [`static_binary::find`] finds one that is.
pub fn write_hello_layer(hello_binary: &Path, out: impl Write) -> anyhow::Result<()> {
    let contents = fs::read(hello_binary)
        .with_context(|| format!("cannot read {}", hello_binary.display()))?;
    let mut tree = Tree::new();
    tree.insert(
        "hello".to_string(),
        Node::File {
            mode: 0o755,
            contents,
        },
    );
    write_layer(&tree, out)
}
// ANCHOR_END: hello

/// The host's busybox, or an error saying how to install it.
pub fn busybox_path() -> anyhow::Result<PathBuf> {
    BUSYBOX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "no busybox at {}: install the static one with `apt-get install busybox-static` \
                 (scripts/provision.sh does)",
                BUSYBOX_PATHS.join(" or ")
            )
        })
}

// ANCHOR: busybox
/// The `busybox` image's layer: the host's static busybox, a link for each
/// of its applets, the directories a Unix userland expects, and the two
/// account files.
pub fn write_busybox_layer(busybox: &Path, out: impl Write) -> anyhow::Result<()> {
    // In the image there is no libc and no loader: a dynamic busybox would
    // fail with ENOENT at exec, naming a binary that is plainly there.
    if !static_binary::is_static_elf(busybox)? {
        bail!(
            "{} is dynamically linked, so it cannot run in an image without libc: \
             install the static one with `apt-get install busybox-static`",
            busybox.display()
        );
    }
    let contents =
        fs::read(busybox).with_context(|| format!("cannot read {}", busybox.display()))?;

    let mut tree = Tree::new();
    let directories = [
        ("bin", 0o755),
        ("sbin", 0o755),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        // passwd and group below. hostname, hosts and resolv.conf are left
        // out: the runtime bind-mounts its own over them in every container.
        ("etc", 0o755),
        // Sticky and world-writable (1777): anyone may create files, only
        // their owner may delete them — what programs expect of /tmp.
        ("tmp", 0o1777),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        // root's home in etc/passwd; private, as on any Unix system.
        ("root", 0o700),
        ("home", 0o755),
        // Empty mount points for the runtime's proc, sysfs and /dev tmpfs,
        // and /run for its per-container files. Present in the image, they
        // need not be created at start, which a read-only root would refuse.
        ("proc", 0o755),
        ("sys", 0o755),
        ("dev", 0o755),
        ("run", 0o755),
    ];
    for (path, mode) in directories {
        tree.insert(path.to_string(), Node::Directory { mode });
    }
    tree.insert(
        "bin/busybox".to_string(),
        Node::File {
            mode: 0o755,
            contents,
        },
    );

    // Busybox picks the applet from the name it was run as (argv[0]), so each
    // command is a link to the one binary. An absolute target is resolved
    // inside the container's root, where /bin/busybox is this file.
    // Two names are skipped: bin/busybox is the binary itself, and linuxrc
    // (listed at the root) is the init of an initial RAM disk, with no role
    // in a container.
    for applet in applet_paths(busybox)? {
        if applet == "bin/busybox" || applet == "linuxrc" {
            continue;
        }
        add_parent_directories(&mut tree, &applet);
        tree.insert(
            applet,
            Node::Symlink {
                target: "/bin/busybox".to_string(),
            },
        );
    }

    // User and group names live in files, not in the kernel: `--user nobody`,
    // `id` and the shell prompt all read them from the image.
    let passwd =
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    let group = "root:x:0:\nnogroup:x:65534:\n";
    tree.insert(
        "etc/passwd".to_string(),
        Node::File {
            mode: 0o644,
            contents: passwd.into(),
        },
    );
    tree.insert(
        "etc/group".to_string(),
        Node::File {
            mode: 0o644,
            contents: group.into(),
        },
    );

    write_layer(&tree, out)
}
// ANCHOR_END: busybox

/// The applets' install paths, from `busybox --list-full` ("bin/sh",
/// "usr/bin/env", also "linuxrc" at the root), checked to be plain relative
/// paths before they become tar entries.
fn applet_paths(busybox: &Path) -> anyhow::Result<Vec<String>> {
    // A bare name ("busybox") would make Command search $PATH instead.
    let program = if busybox.components().count() == 1 {
        Path::new(".").join(busybox)
    } else {
        busybox.to_path_buf()
    };
    let output = Command::new(&program)
        .arg("--list-full")
        .output()
        .with_context(|| format!("cannot run {} --list-full", busybox.display()))?;
    if !output.status.success() {
        bail!(
            "{} --list-full failed ({}): {}",
            busybox.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let listing = String::from_utf8(output.stdout).with_context(|| {
        format!(
            "{} --list-full printed something that is not UTF-8",
            busybox.display()
        )
    })?;
    let mut applets = Vec::new();
    for line in listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let plain = Path::new(line)
            .components()
            .all(|component| matches!(component, Component::Normal(_)));
        if !plain {
            bail!(
                "{} --list-full printed {line:?}, which is not a plain relative path",
                busybox.display()
            );
        }
        applets.push(line.to_string());
    }
    if applets.is_empty() {
        bail!("{} --list-full listed no applets", busybox.display());
    }
    Ok(applets)
}

/// Adds, as 0755 directories, the parents of `path` the tree lacks, so an
/// applet in an unexpected directory still unpacks.
fn add_parent_directories(tree: &mut Tree, path: &str) {
    let mut parent = Path::new(path).parent();
    while let Some(directory) = parent
        .and_then(Path::to_str)
        .filter(|directory| !directory.is_empty())
    {
        tree.entry(directory.to_string())
            .or_insert(Node::Directory { mode: 0o755 });
        parent = Path::new(directory).parent();
    }
}

// ANCHOR: write_layer
/// Writes `tree` as a tar in the tree's (sorted) order.
fn write_layer(tree: &Tree, out: impl Write) -> anyhow::Result<()> {
    let mut builder = tar::Builder::new(out);
    for (path, node) in tree {
        // POSIX ustar headers, as Docker's Go archive/tar writes; every entry
        // owned by root, whoever builds the image.
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header
            .set_username("root")
            .context("tar header: user name")?;
        header
            .set_groupname("root")
            .context("tar header: group name")?;
        header.set_mtime(LAYER_MTIME);
        let written = match node {
            Node::Directory { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                // A trailing slash marks a directory for tools that look only
                // at names, as in the tars Docker writes.
                builder.append_data(&mut header, format!("{path}/"), std::io::empty())
            }
            Node::File { mode, contents } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(contents.len() as u64);
                builder.append_data(&mut header, path, contents.as_slice())
            }
            Node::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                // Symlink permissions are ignored on Linux; 0777 is what lstat shows.
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target)
            }
        };
        written.with_context(|| format!("cannot write layer entry {path}"))?;
    }
    // into_inner writes the end-of-archive marker: two zero blocks.
    let mut out = builder
        .into_inner()
        .context("cannot finish the layer tar")?;
    out.flush().context("cannot flush the layer tar")?;
    Ok(())
}
// ANCHOR_END: write_layer

/// Imports the offline `hello` image (`hello:latest`, CMD /hello) into `store`.
pub fn import_hello(store: &ImageStore) -> anyhow::Result<(Image, PathBuf)> {
    let hello = static_binary::find("hello")?;
    let mut layer = Vec::new();
    write_hello_layer(&hello, &mut layer)?;
    let name = Reference::parse("hello:latest").map_err(anyhow::Error::msg)?;
    let image = store.import(layer.as_slice(), &name, Some(vec!["/hello".into()]))?;
    Ok((image, hello))
}

/// Imports the offline `busybox` image (`busybox:latest`, CMD sh) into `store`.
pub fn import_busybox(store: &ImageStore) -> anyhow::Result<(Image, PathBuf)> {
    let busybox = busybox_path()?;
    let mut layer = Vec::new();
    write_busybox_layer(&busybox, &mut layer)?;
    let name = Reference::parse("busybox:latest").map_err(anyhow::Error::msg)?;
    let image = store.import(layer.as_slice(), &name, Some(vec!["sh".into()]))?;
    Ok((image, busybox))
}
