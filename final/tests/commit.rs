//! `docker commit`, `export`, `import`, `system df` and the prunes
//! through the engine, with the real docker CLI, and the same verbs in
//! our own CLI.

mod common;

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use api::table::human_size_with_precision;
use common::{Daemon, require_root, stderr, stdout};
use serde_json::Value;

/// The JSON body of a `GET` on the daemon's socket.
fn get_json(d: &Daemon, path: &str) -> Value {
    let answer = d.raw_request(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    // A chunked body: the JSON is the one line that starts with `{`.
    let json = body.lines().find(|l| l.starts_with('{')).unwrap_or(body);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Bytes of the files under `dir`, each inode once, directories not
/// counted: what Docker calls a layer's size (moby `directory.Size`).
fn file_bytes(dir: &Path, seen: &mut HashSet<u64>) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let metadata = path.symlink_metadata().unwrap();
        if metadata.is_dir() {
            total += file_bytes(&path, seen);
        } else if seen.insert(metadata.ino()) {
            total += metadata.size();
        }
    }
    total
}

/// The names in a layer's unpacked directory, relative, sorted.
fn files_of_layer(d: &Daemon, diff_id: &str) -> Vec<String> {
    let dir = d
        .data_root()
        .join("layers")
        .join(diff_id.trim_start_matches("sha256:"))
        .join("diff");
    let out = std::process::Command::new("find")
        .arg(".")
        .arg("-mindepth")
        .arg("1")
        .current_dir(&dir)
        .output()
        .unwrap();
    let mut names: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    names.sort();
    names
}

#[test]
fn privileged_commit_then_run_the_new_image() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo hello > /note",
    ]);
    let id = d.ok(&[
        "commit",
        "--change",
        r#"CMD ["cat","/note"]"#,
        "--change",
        "ENV A=1",
        "-m",
        "msg",
        "-a",
        "me",
        "src",
        "snap:v1",
    ]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(d.ok(&["run", "--rm", "snap:v1"]), "hello\n");
    assert_eq!(
        d.ok(&["run", "--rm", "snap:v1", "sh", "-c", "echo $A"]),
        "1\n"
    );
    let inspect = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}|{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}",
        "snap:v1",
    ]);
    let base = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "busybox",
    ]);
    let layers: usize = base.trim().parse::<usize>().unwrap() + 1;
    assert_eq!(
        inspect,
        format!("{}|me|msg|[\"cat\",\"/note\"]|{layers}\n", id.trim())
    );
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "snap:v1",
    ]);
    assert_eq!(history.lines().next(), Some("sh -c echo hello > /note|msg"));
    // The new layer is /note alone: not /etc/hosts and the other mount
    // targets the engine made (what `docker diff` leaves out too).
    let last = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .RootFS.Layers}}",
        "snap:v1",
    ]);
    let last: Vec<String> = serde_json::from_str(&last).unwrap();
    assert_eq!(files_of_layer(&d, last.last().unwrap()), ["./note"]);

    // A line that is not a config change: dockerd's 400, nothing made.
    let bad = d.docker(&["commit", "--change", "RUN true", "src", "bad:1"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("RUN is not a valid change command"),
        "{}",
        stderr(&bad)
    );
    // Our CLI: the same commit, the same answer.
    let ours = d.minidocker(&["commit", "-c", "CMD [\"cat\",\"/note\"]", "src", "ours:1"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert!(stdout(&ours).starts_with("sha256:"), "{}", stdout(&ours));
    assert_eq!(d.ok(&["run", "--rm", "ours:1"]), "hello\n");
    d.ok(&["rm", "src"]);
    d.ok(&["rmi", "snap:v1", "ours:1"]);
}

#[test]
fn privileged_commit_pauses_the_container_unless_told_not_to() {
    require_root();
    let d = Daemon::start();
    let since = d.ok(&["version", "-f", "{{.Server.Version}}"]); // the daemon is up
    assert!(!since.is_empty());
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    d.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]);
    d.ok(&["commit", "busy", "paused:1"]);
    d.ok(&["commit", "--pause=false", "busy", "unpaused:1"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let events = d.ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &until,
        "--filter",
        "container=busy",
        "--filter",
        "event=pause",
        "--filter",
        "event=unpause",
        "--format",
        "{{.Action}}",
    ]);
    // One pause and one unpause: the first commit's; the second had none.
    assert_eq!(events, "pause\nunpause\n");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "busy"]),
        "running\n"
    );
    d.ok(&["rm", "-f", "busy"]);
    d.ok(&["rmi", "paused:1", "unpaused:1"]);
}

#[test]
fn privileged_export_then_import_round_trips() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "out",
        "busybox",
        "sh",
        "-c",
        "echo round > /note",
    ]);
    let tar = d.dir.path().join("out.tar");
    let tar_text = tar.to_str().unwrap();
    d.ok(&["export", "-o", tar_text, "out"]);
    let listing = std::process::Command::new("tar")
        .args(["-tvf", tar_text])
        .output()
        .unwrap();
    let listing = stdout(&listing);
    assert!(listing.lines().any(|l| l.ends_with(" note")), "{listing}");
    // The mount targets are empty files, as in Docker's init layer: no
    // host data leaks in through them.
    let hosts = listing.lines().find(|l| l.ends_with(" etc/hosts")).unwrap();
    assert!(hosts.split_whitespace().nth(2) == Some("0"), "{hosts}");
    // Symlinks stay links (busybox's applets point at /bin/busybox).
    let link = listing.lines().find(|l| l.starts_with('l')).unwrap();
    assert!(link.contains(" -> "), "{link}");

    let id = d.ok(&[
        "import",
        "--change",
        r#"CMD ["cat","/note"]"#,
        "-m",
        "from a tar",
        tar_text,
        "round:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(d.ok(&["run", "--rm", "round:1"]), "round\n");
    let history = d.ok(&["history", "--format", "{{.Comment}}", "round:1"]);
    assert_eq!(history, "from a tar\n");
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{len .RootFS.Layers}}",
            "round:1"
        ]),
        "1\n"
    );
    // From stdin, through our CLI.
    let bytes = std::fs::read(&tar).unwrap();
    let piped = d.docker_with_input(&["import", "-", "piped:1"], Some(&bytes));
    assert!(piped.status.success(), "{}", stderr(&piped));
    let ours = d.minidocker(&["export", "-o", tar_text, "out"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    let ours = d.minidocker(&[
        "import",
        "-c",
        "CMD [\"cat\",\"/note\"]",
        tar_text,
        "ours:1",
    ]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(d.ok(&["run", "--rm", "ours:1"]), "round\n");

    // Not a tar: one clear 400, no image.
    let junk = d.dir.path().join("junk");
    std::fs::write(&junk, vec![b'x'; 2000]).unwrap();
    let bad = d.docker(&["import", junk.to_str().unwrap(), "junk:1"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).starts_with("Error response from daemon:"),
        "{}",
        stderr(&bad)
    );
    assert!(!d.docker(&["image", "inspect", "junk:1"]).status.success());
    d.ok(&["rm", "out"]);
    d.ok(&["rmi", "round:1", "piped:1", "ours:1"]);
}

#[test]
fn privileged_system_df_counts_the_store() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 1000 /dev/zero > /blob",
    ]);
    let usage = get_json(&d, "/system/df");
    let mut seen = HashSet::new();
    let mut expected = 0;
    for layer in std::fs::read_dir(d.data_root().join("layers")).unwrap() {
        let diff = layer.unwrap().path().join("diff");
        if diff.is_dir() {
            expected += file_bytes(&diff, &mut seen);
        }
    }
    let layers_size = usage["LayersSize"].as_u64().unwrap();
    assert_eq!(layers_size, expected);
    // `du -sb` counts directories too: the files are less than it.
    let du = std::process::Command::new("du")
        .arg("-sb")
        .arg(d.data_root().join("layers"))
        .output()
        .unwrap();
    let du: u64 = stdout(&du)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        layers_size <= du && layers_size > 0,
        "{layers_size} vs du {du}"
    );
    let container = &usage["Containers"][0];
    assert_eq!(container["SizeRw"], 1000);

    let summary = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
    ]);
    let images = usage["Images"].as_array().unwrap().len();
    let size = human_size_with_precision(layers_size, 4);
    assert_eq!(
        summary,
        format!(
            "Images|{images}|1|{size}|{}\nContainers|1|0|1kB|1kB (100%)\n\
             Local Volumes|0|0|0B|0B\nBuild Cache|0|0|0B|0B\n",
            reclaimable(&usage, layers_size)
        )
    );
    let verbose = d.ok(&["system", "df", "-v"]);
    let row = verbose.lines().find(|l| l.ends_with(" writer")).unwrap();
    assert!(row.contains(" 1kB "), "{verbose}");
    // Ours prints the same table.
    let ours = d.minidocker(&["system", "df"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert!(stdout(&ours).contains("Containers"), "{}", stdout(&ours));
    d.ok(&["rm", "writer"]);
}

/// The CLI's RECLAIMABLE for images: all layers less what the images in
/// use hold alone (docker/cli `formatter/disk_usage.go`).
fn reclaimable(usage: &Value, total: u64) -> String {
    let used: u64 = usage["Images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["Containers"].as_i64() > Some(0))
        .map(|i| i["Size"].as_u64().unwrap() - i["SharedSize"].as_u64().unwrap())
        .sum();
    let free = total - used;
    format!(
        "{} ({}%)",
        human_size_with_precision(free, 4),
        free * 100 / total
    )
}

#[test]
fn privileged_image_prune_dangling_all_and_filters() {
    require_root();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "user",
        "busybox",
        "sh",
        "-c",
        "echo x > /x",
    ]);
    let dangling = d.ok(&["commit", "user"]);
    d.ok(&["commit", "--change", "LABEL keep=no", "user", "tagged:1"]);

    let pruned = d.ok(&["image", "prune", "-f"]);
    assert!(
        pruned.contains(&format!("deleted: {}", dangling.trim())),
        "{pruned}"
    );
    assert!(!pruned.contains("tagged:1"), "{pruned}");
    let bad = d.docker(&["image", "prune", "-f", "--filter", "bogus=1"]);
    assert!(
        stderr(&bad).contains("invalid filter 'bogus'"),
        "{}",
        stderr(&bad)
    );

    // -a, but the label or the age does not match: nothing goes.
    let none = "Total reclaimed space: 0B\n";
    assert_eq!(
        d.ok(&["image", "prune", "-a", "-f", "--filter", "label=keep=yes"]),
        none
    );
    assert_eq!(
        d.ok(&["image", "prune", "-a", "-f", "--filter", "until=1h"]),
        none
    );
    let pruned = d.ok(&["image", "prune", "-a", "-f", "--filter", "label=keep=no"]);
    assert!(pruned.contains("untagged: tagged:1"), "{pruned}");
    assert!(!d.docker(&["image", "inspect", "tagged:1"]).status.success());
    // busybox has a container: -a leaves it, and takes hello.
    let pruned = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("untagged: hello:latest"), "{pruned}");
    assert!(!pruned.contains("busybox"), "{pruned}");
    d.ok(&["rm", "user"]);
    let ours = d.minidocker(&["image", "prune", "-a", "-f"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert!(
        stdout(&ours).contains("untagged: busybox:latest"),
        "{}",
        stdout(&ours)
    );
    assert_eq!(d.ok(&["images", "-q"]), "");
    // What went took its layers with it.
    assert_eq!(get_json(&d, "/system/df")["LayersSize"], 0);
}

#[test]
fn privileged_container_and_system_prune() {
    require_root();
    let d = Daemon::start();
    let a = d.ok(&[
        "run", "-d", "--name", "pa", "--label", "x=1", "busybox", "true",
    ]);
    let b = d.ok(&["run", "-d", "--name", "pb", "busybox", "true"]);
    d.ok(&["wait", "pa", "pb"]);
    d.ok(&["run", "-d", "--name", "pr", "busybox", "sleep", "1000"]);

    let pruned = d.ok(&["container", "prune", "-f", "--filter", "label=x=1"]);
    assert_eq!(
        pruned,
        format!("Deleted Containers:\n{a}\nTotal reclaimed space: 0B\n")
    );
    assert_eq!(
        d.ok(&["container", "prune", "-f", "--filter", "until=1h"]),
        "Total reclaimed space: 0B\n"
    );
    let bad = d.docker(&["container", "prune", "-f", "--filter", "bogus=1"]);
    assert!(
        stderr(&bad).contains("invalid filter 'bogus'"),
        "{}",
        stderr(&bad)
    );

    let pruned = d.ok(&["system", "prune", "-f"]);
    assert!(
        pruned.contains(&format!("Deleted Containers:\n{b}")),
        "{pruned}"
    );
    assert_eq!(
        d.ok(&["ps", "-aq", "--no-trunc"]),
        d.ok(&["ps", "-q", "--no-trunc"])
    );
    d.ok(&["stop", "-t", "0", "pr"]);
    let ours = d.minidocker(&["container", "prune", "-f"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert!(
        stdout(&ours).starts_with("Deleted Containers:\n"),
        "{}",
        stdout(&ours)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let ours = d.minidocker(&["system", "prune", "-f"]);
    assert!(ours.status.success(), "{}", stderr(&ours));
}
