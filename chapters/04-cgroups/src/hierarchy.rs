//! Which cgroup filesystems are mounted, and where.
//!
//! cgroup v1 mounts one filesystem per controller (or a few together):
//! /sys/fs/cgroup/memory, /sys/fs/cgroup/cpu, … each a tree of its own, and
//! a process is in one cgroup of every tree. cgroup v2 mounts one tree for
//! all controllers. A "hybrid" machine (this one, and systemd's default for
//! years) has the v1 trees *and* a cgroup2 mount at /sys/fs/cgroup/unified
//! with no controllers in it: limits live in v1, so for limits it is v1.
//! /proc/self/mountinfo tells them apart by filesystem type, `cgroup` or
//! `cgroup2`, and lists a v1 mount's controllers in its super options.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};

/// What this machine has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// One mount point per v1 controller (`memory` → /sys/fs/cgroup/memory),
    /// and the cgroup2 mount of a hybrid setup, if any (for device programs).
    V1 {
        controllers: BTreeMap<String, PathBuf>,
        unified: Option<PathBuf>,
    },
    /// The single v2 tree.
    V2 { root: PathBuf },
}

/// The v1 controllers the workshop uses.
pub const V1_CONTROLLERS: &[&str] = &[
    "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer",
];

impl Hierarchy {
    /// Reads this process's mount table.
    pub fn detect() -> anyhow::Result<Hierarchy> {
        let text = std::fs::read_to_string("/proc/self/mountinfo")
            .context("reading /proc/self/mountinfo")?;
        Hierarchy::from_mountinfo(&text)
    }

    // ANCHOR: detect
    pub fn from_mountinfo(text: &str) -> anyhow::Result<Hierarchy> {
        let mut controllers = BTreeMap::new();
        let mut cgroup2 = Vec::new();
        for line in text.lines() {
            // "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices"
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(separator) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(point), Some(fstype), Some(options)) = (
                fields.get(4),
                fields.get(separator + 1),
                fields.get(separator + 3),
            ) else {
                continue;
            };
            let point = PathBuf::from(unescape(point));
            match *fstype {
                "cgroup2" => cgroup2.push(point),
                "cgroup" => {
                    for option in options.split(',') {
                        if V1_CONTROLLERS.contains(&option) {
                            controllers
                                .entry(option.to_string())
                                .or_insert_with(|| point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if !controllers.is_empty() {
            return Ok(Hierarchy::V1 {
                controllers,
                unified: cgroup2.into_iter().next(),
            });
        }
        match cgroup2.into_iter().next() {
            Some(root) => Ok(Hierarchy::V2 { root }),
            None => bail!("no cgroup filesystem is mounted (mount -t cgroup2 none /sys/fs/cgroup)"),
        }
    }
    // ANCHOR_END: detect
}

/// mountinfo escapes space, tab, newline and backslash as \NNN (octal).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_is_v1_with_a_unified_mount() {
        let Hierarchy::V1 {
            controllers,
            unified,
        } = Hierarchy::from_mountinfo(HYBRID).unwrap()
        else {
            panic!("not v1");
        };
        assert_eq!(controllers["cpu"], PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(
            controllers["cpuacct"],
            PathBuf::from("/sys/fs/cgroup/cpuacct")
        );
        assert!(
            !controllers.contains_key("systemd"),
            "name=systemd is not a controller"
        );
        assert_eq!(unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn co_mounted_controllers_and_pure_v2() {
        let text = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let Hierarchy::V1 { controllers, .. } = Hierarchy::from_mountinfo(text).unwrap() else {
            panic!("not v1");
        };
        assert_eq!(controllers["cpu"], controllers["cpuacct"]);
        let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Hierarchy::from_mountinfo(text).unwrap(),
            Hierarchy::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
        let text = "30 23 0:26 / /my\\040cgroups rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::from_mountinfo(text).unwrap(),
            Hierarchy::V2 {
                root: "/my cgroups".into()
            }
        );
        assert!(Hierarchy::from_mountinfo("").is_err());
    }
}
