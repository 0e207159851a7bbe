//! Who the container's process runs as: `--user` resolved in the image.
//!
//! `docker run --user nobody` names a user of the *container*, so the name
//! is looked up in the rootfs's /etc/passwd and /etc/group, never the
//! host's. Numbers need no lookup: `--user 1000:1000` works in an image
//! without /etc/passwd. (moby: `daemon/oci_linux.go` getUser, which uses
//! runc's libcontainer/user.)

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// config.json's `process.user`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// A resolved `--user`, and the HOME that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub user: User,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// Resolves `USER[:GROUP]` (names or numbers) in the root filesystem `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> anyhow::Result<ResolvedUser> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if user_part.is_empty() || group_part == Some("") {
        bail!("--user {spec:?}: use USER, USER:GROUP, UID or UID:GID");
    }
    let passwd = read_passwd(rootfs)?;
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd
            .into_iter()
            .find(|e| e.uid == uid)
            .unwrap_or(PasswdEntry {
                name: String::new(),
                uid,
                gid: 0,
                home: "/".into(),
            }),
        Err(_) => passwd
            .into_iter()
            .find(|e| e.name == user_part)
            .with_context(|| {
                format!("--user {spec}: no user {user_part:?} in the image's /etc/passwd")
            })?,
    };
    let groups = read_group(rootfs)?;
    let gid = match group_part {
        None => entry.gid,
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|(name, _, _)| name == group)
                .map(|(_, gid, _)| *gid)
                .with_context(|| {
                    format!("--user {spec}: no group {group:?} in the image's /etc/group")
                })?,
        },
    };
    // Supplementary groups: every group that lists the user by name, as
    // initgroups(3) would do at a login.
    let mut additional_gids: Vec<u32> = groups
        .iter()
        .filter(|(_, g, members)| {
            *g != gid && !entry.name.is_empty() && members.contains(&entry.name)
        })
        .map(|(_, gid, _)| *gid)
        .collect();
    additional_gids.dedup();
    Ok(ResolvedUser {
        user: User {
            uid: entry.uid,
            gid,
            additional_gids,
        },
        home: entry.home,
    })
}

/// The image's /etc/passwd, read the way the container would see it.
fn read_passwd(rootfs: &Path) -> anyhow::Result<Vec<PasswdEntry>> {
    Ok(read_colon_file(rootfs, "/etc/passwd")?
        .into_iter()
        .filter_map(|fields| {
            // name:password:uid:gid:gecos:home:shell
            Some(PasswdEntry {
                name: fields.first()?.clone(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields.get(5).cloned().unwrap_or_else(|| "/".into()),
            })
        })
        .collect())
}

/// (name, gid, members) of the image's /etc/group.
fn read_group(rootfs: &Path) -> anyhow::Result<Vec<(String, u32, Vec<String>)>> {
    Ok(read_colon_file(rootfs, "/etc/group")?
        .into_iter()
        .filter_map(|fields| {
            // name:password:gid:member,member
            let members = fields.get(3).map_or(Vec::new(), |m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            });
            Some((
                fields.first()?.clone(),
                fields.get(2)?.parse().ok()?,
                members,
            ))
        })
        .collect())
}

fn read_colon_file(rootfs: &Path, path: &str) -> anyhow::Result<Vec<Vec<String>>> {
    // Resolved inside the rootfs: an image whose /etc/passwd is a symlink to
    // /etc/shadow must not make us read the host's.
    let file = images::securejoin::resolve_in_root(rootfs, path)?;
    let text = match fs::read(&file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').map(String::from).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:app,root\napp:x:1000:\nvideo:x:44:app\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn names_and_numbers() {
        let dir = rootfs();
        let app = resolve(dir.path(), "app").unwrap();
        assert_eq!(
            app.user,
            User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10, 44]
            }
        );
        assert_eq!(app.home, "/home/app");
        let root = resolve(dir.path(), "0").unwrap();
        assert_eq!(
            root.user,
            User {
                uid: 0,
                gid: 0,
                additional_gids: vec![10]
            }
        );
        // A number the image does not know is fine: gid 0 and HOME=/.
        let unknown = resolve(dir.path(), "4242").unwrap();
        assert_eq!(
            (unknown.user.uid, unknown.user.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
        let mixed = resolve(dir.path(), "nobody:video").unwrap();
        assert_eq!((mixed.user.uid, mixed.user.gid), (65534, 44));
    }

    #[test]
    fn unknown_names_say_where_they_were_looked_up() {
        let dir = rootfs();
        let err = resolve(dir.path(), "alice").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--user alice: no user \"alice\" in the image's /etc/passwd"
        );
        let err = resolve(dir.path(), "app:staff").unwrap_err();
        assert!(err.to_string().contains("no group \"staff\""), "{err}");
        assert!(resolve(dir.path(), "app:").is_err());
    }

    #[test]
    fn an_image_without_passwd_takes_numbers_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(dir.path(), "7:8").unwrap().user.gid, 8);
        assert!(resolve(dir.path(), "root").is_err());
    }
}
