//! A mount as config.json describes it, and its options as mount(2) takes them.
//!
//! config.json says `"options": ["nosuid", "noexec", "mode=755"]`; mount(2)
//! wants flags (`MS_NOSUID|MS_NOEXEC`) and a data string (`mode=755`) that
//! only the filesystem reads. Propagation (`rprivate`, `rslave`, …) is a
//! third kind: the kernel refuses it in the same call as anything else, so it
//! is applied by a mount call of its own. (runc: `parseMountOptions` in
//! libcontainer/specconv/spec_linux.go.)

use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};

/// One entry of config.json's `mounts` (OCI runtime spec, "Mounts").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub options: Vec<String>,
}

impl Mount {
    /// A bind mount of a host path (`type: bind` or an `rbind`/`bind` option).
    pub fn bind(source: &str, destination: &str, read_only: bool) -> Mount {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if read_only {
            options.push("ro".into());
        }
        Mount {
            destination: destination.into(),
            kind: "bind".into(),
            source: source.into(),
            options,
        }
    }

    pub fn options(&self) -> anyhow::Result<MountOptions> {
        MountOptions::parse(&self.options)
    }

    pub fn is_bind(&self) -> bool {
        self.kind == "bind" || self.options.iter().any(|o| o == "bind" || o == "rbind")
    }
}

/// What `options` become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// For the mount call itself.
    pub flags: MsFlags,
    /// `MS_PRIVATE`, `MS_SLAVE|MS_REC`, …: for a second call, if any.
    pub propagation: MsFlags,
    /// Options the filesystem reads (`mode=755`, `size=65536k`, `gid=5`).
    pub data: String,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> anyhow::Result<MountOptions> {
        let mut parsed = MountOptions {
            flags: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: String::new(),
        };
        let mut data = Vec::new();
        for option in options {
            if let Some(flag) = propagation(option) {
                parsed.propagation |= flag;
                continue;
            }
            match flag(option) {
                Some((flag, true)) => parsed.flags.remove(flag),
                Some((flag, false)) => parsed.flags.insert(flag),
                // Anything else is the filesystem's business, but an option
                // with a space or a comma in it would corrupt the data string.
                None if option.contains([',', ' ']) || option.is_empty() => {
                    anyhow::bail!("mount option {option:?} is not valid");
                }
                None => data.push(option.as_str()),
            }
        }
        parsed.data = data.join(",");
        Ok(parsed)
    }
}

/// Flag options: the flag, and whether the option clears it (`rw` clears
/// `MS_RDONLY`).
pub const FLAG_OPTIONS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, false),
    ("rw", MsFlags::MS_RDONLY, true),
    ("nosuid", MsFlags::MS_NOSUID, false),
    ("suid", MsFlags::MS_NOSUID, true),
    ("nodev", MsFlags::MS_NODEV, false),
    ("dev", MsFlags::MS_NODEV, true),
    ("noexec", MsFlags::MS_NOEXEC, false),
    ("exec", MsFlags::MS_NOEXEC, true),
    ("sync", MsFlags::MS_SYNCHRONOUS, false),
    ("async", MsFlags::MS_SYNCHRONOUS, true),
    ("dirsync", MsFlags::MS_DIRSYNC, false),
    ("remount", MsFlags::MS_REMOUNT, false),
    ("mand", MsFlags::MS_MANDLOCK, false),
    ("nomand", MsFlags::MS_MANDLOCK, true),
    ("atime", MsFlags::MS_NOATIME, true),
    ("noatime", MsFlags::MS_NOATIME, false),
    ("diratime", MsFlags::MS_NODIRATIME, true),
    ("nodiratime", MsFlags::MS_NODIRATIME, false),
    ("relatime", MsFlags::MS_RELATIME, false),
    ("norelatime", MsFlags::MS_RELATIME, true),
    ("strictatime", MsFlags::MS_STRICTATIME, false),
    ("nostrictatime", MsFlags::MS_STRICTATIME, true),
    ("bind", MsFlags::MS_BIND, false),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC), false),
];

/// Propagation options, applied by a mount call of their own.
pub const PROPAGATION_OPTIONS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

fn flag(option: &str) -> Option<(MsFlags, bool)> {
    FLAG_OPTIONS
        .iter()
        .find(|(name, _, _)| *name == option)
        .map(|&(_, flag, clears)| (flag, clears))
}

fn propagation(option: &str) -> Option<MsFlags> {
    PROPAGATION_OPTIONS
        .iter()
        .find(|(name, _)| *name == option)
        .map(|&(_, flags)| flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        MountOptions::parse(&options).unwrap()
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let parsed = parse(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(parsed.data, "mode=755,size=65536k");
        assert_eq!(parsed.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
    }

    #[test]
    fn later_options_win() {
        assert_eq!(parse(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(parse(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
        assert_eq!(parse(&["rbind"]).flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }

    #[test]
    fn options_that_would_corrupt_the_data_string_are_refused() {
        let err = MountOptions::parse(&["mode=755,uid=0".to_string()]).unwrap_err();
        assert!(err.to_string().contains("not valid"), "{err}");
        assert!(MountOptions::parse(&[String::new()]).is_err());
    }

    #[test]
    fn oci_json_round_trips() {
        let text = r#"{"destination":"/proc","type":"proc","source":"proc","options":["nosuid"]}"#;
        let mount: Mount = serde_json::from_str(text).unwrap();
        assert_eq!(mount.kind, "proc");
        assert_eq!(serde_json::to_string(&mount).unwrap(), text);
        assert!(Mount::bind("/a", "/b", true).is_bind());
    }
}
