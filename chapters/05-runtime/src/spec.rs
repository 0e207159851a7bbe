//! config.json: the OCI runtime-spec's container configuration, as serde types.
//!
//! Our own types rather than the `oci-spec` crate: they hold exactly the
//! fields this runtime implements, so reading them is reading what minirunc
//! does, and every field it does not implement is named below as
//! [`Unsupported`] — a config that asks for one gets a clear error instead of
//! being run without it. The leaf types (mounts, namespaces, ID maps, user,
//! rlimits) are chapter 03's, which already match the spec's JSON.
//! (opencontainers/runtime-spec: config.md, config-linux.md.)

use std::collections::BTreeMap;

use namespaces::container::Rlimit;
use namespaces::mount::Mount;
use namespaces::namespace::{IdMap, Namespace};
use namespaces::user::User;
use serde::{Deserialize, Serialize};

/// The spec version we write (and the oldest we read is 1.0.0).
pub const OCI_VERSION: &str = "1.0.2";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
    /// Every other field (`domainname`, `solaris`, …): see [`Spec::unsupported`].
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// Applied where AppArmor is enabled, ignored where it is not (runc's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
    /// Every other field (`ioPriority`, `scheduler`, …).
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSize {
    pub height: u32,
    pub width: u32,
}

/// The five capability sets: chapter 03's type, which matches the spec's JSON.
pub use namespaces::process::CapabilitySets as Capabilities;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// Relative to the bundle, or absolute.
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// Deprecated by the spec, still sent by dockerd (for networking).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

// ANCHOR: linux
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMap>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Seccomp>,
    /// Fields minirunc does not implement (yet): present and not empty,
    /// they are an error (see [`Spec::unsupported`]).
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}
// ANCHOR_END: linux

/// `linux.resources`, the fields chapter 04 implements.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceCgroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}

/// A device cgroup rule; `type`/`major`/`minor` absent mean "all".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCgroup {
    pub allow: bool,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    pub limit: i64,
}

/// `linux.seccomp`, libseccomp's model (see [`crate::seccomp`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<SyscallRule>,
    /// `listenerPath` and the like: refused when set.
    #[serde(flatten)]
    pub unsupported: BTreeMap<String, serde_json::Value>,
}

/// One rule: these calls get this action (if the conditions hold).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<SeccompArg>,
}

/// A condition on argument `index` (0-5) of the call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompArg {
    pub index: u32,
    pub value: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    pub op: String,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A device node to create in the container's /dev (`linux.devices`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// Why a config cannot be run as it is.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "config.json asks for {}, which minirunc does not support",
            self.0
        )
    }
}

impl std::error::Error for Unsupported {}

// ANCHOR: is_unset
/// JSON's "nothing": null, 0, false, "", [] or {} — what dockerd sends for
/// a setting it leaves alone (`"shares": 0`, `"weight": 0`).
fn is_unset(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(is_unset),
    }
}
// ANCHOR_END: is_unset

impl Spec {
    /// The first field this config sets that minirunc cannot honour.
    pub fn unsupported(&self) -> Result<(), Unsupported> {
        let refuse = |what: String| Err(Unsupported(what));
        if let Some(process) = &self.process {
            if process
                .selinux_label
                .as_deref()
                .is_some_and(|l| !l.is_empty())
            {
                return refuse("process.selinuxLabel (SELinux)".into());
            }
        }
        let mut checks: Vec<(&str, &BTreeMap<String, serde_json::Value>)> =
            vec![("", &self.unsupported)];
        if let Some(process) = &self.process {
            checks.push(("process.", &process.unsupported));
        }
        if let Some(linux) = &self.linux {
            checks.push(("linux.", &linux.unsupported));
            if let Some(seccomp) = &linux.seccomp {
                checks.push(("linux.seccomp.", &seccomp.unsupported));
            }
            if let Some(resources) = &linux.resources {
                checks.push(("linux.resources.", &resources.unsupported));
                if let Some(memory) = &resources.memory {
                    checks.push(("linux.resources.memory.", &memory.unsupported));
                }
                if let Some(cpu) = &resources.cpu {
                    checks.push(("linux.resources.cpu.", &cpu.unsupported));
                }
            }
        }
        for (section, fields) in checks {
            for (name, value) in fields {
                // Labels only matter with SELinux.
                if !is_unset(value) && name != "mountLabel" {
                    return refuse(format!("{section}{name}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runcs_own_spec_parses_and_round_trips() {
        let text = include_str!("../tests/data/runc-spec.json");
        let spec: Spec = serde_json::from_str(text).unwrap();
        let process = spec.process.as_ref().unwrap();
        assert_eq!(process.args, ["sh"]);
        assert_eq!(process.rlimits[0].kind, "RLIMIT_NOFILE");
        let linux = spec.linux.as_ref().unwrap();
        assert_eq!(linux.masked_paths[0], "/proc/acpi");
        assert_eq!(spec.mounts.len(), 7);
        spec.unsupported().unwrap();
        let again: Spec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn zero_values_are_unset_and_real_requests_are_refused() {
        let mut spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[],"resources":{"cpu":{"shares":0,"realtimeRuntime":0},"blockIO":{"weight":0},"memory":{"swappiness":0}}}}"#,
        )
        .unwrap();
        spec.unsupported().unwrap();
        let linux = spec.linux.as_mut().unwrap();
        linux
            .resources
            .as_mut()
            .unwrap()
            .unsupported
            .insert("blockIO".into(), serde_json::json!({"weight": 500}));
        assert_eq!(
            spec.unsupported().unwrap_err().to_string(),
            "config.json asks for linux.resources.blockIO, which minirunc does not support"
        );
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[],"intelRdt":{"closID":"x"}}}"#,
        )
        .unwrap();
        assert!(spec.unsupported().unwrap_err().0.contains("linux.intelRdt"));
        // Outside `linux` too: nothing is dropped without a word.
        for (json, field) in [
            (
                r#"{"ociVersion":"1.0.2","domainname":"example.org"}"#,
                "domainname",
            ),
            (
                r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","ioPriority":{"class":"IOPRIO_CLASS_IDLE"}}}"#,
                "process.ioPriority",
            ),
        ] {
            let spec: Spec = serde_json::from_str(json).unwrap();
            assert_eq!(spec.unsupported().unwrap_err().0, field);
        }
        let spec: Spec = serde_json::from_str(r#"{"ociVersion":"1.0.2","domainname":""}"#).unwrap();
        spec.unsupported().unwrap();
    }

    #[test]
    fn id_maps_use_the_specs_names() {
        let map: IdMap =
            serde_json::from_str(r#"{"containerID":0,"hostID":100000,"size":65536}"#).unwrap();
        assert_eq!(
            (map.container_id, map.host_id, map.size),
            (0, 100000, 65536)
        );
    }
}
