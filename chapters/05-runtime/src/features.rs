//! `minirunc features`: what this runtime supports, in the JSON shape of
//! runtime-spec's features.md (runc 1.1 and later answer the same
//! question), so that an engine can ask instead of finding out by failing.

use namespaces::mount::{FLAG_OPTIONS, PROPAGATION_OPTIONS};
use serde_json::{Value, json};

use crate::{apparmor, seccomp};

// ANCHOR: features
pub fn features() -> Value {
    let mount_options: Vec<&str> = FLAG_OPTIONS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(PROPAGATION_OPTIONS.iter().map(|(name, _)| *name))
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": namespaces::process::known_capabilities(),
            // The cgroupfs driver on both versions; no systemd driver.
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": seccomp::ARCHITECTURES,
                "knownFlags": [],
                "supportedFlags": [],
            },
            "apparmor": {"enabled": apparmor::enabled()},
            "selinux": {"enabled": false},
        },
        "annotations": {
            "org.minidocker.minirunc.version": env!("CARGO_PKG_VERSION"),
            "org.minidocker.minirunc.libseccomp.version": libseccomp_version(),
        },
    })
}
// ANCHOR_END: features

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}
