//! `process.apparmorProfile`: the AppArmor profile the process runs under.
//!
//! AppArmor is a Linux security module that confines a program to the
//! files, capabilities and network access its profile lists; Docker loads
//! a `docker-default` profile into the kernel and names it in every
//! config.json. The runtime only asks the kernel to switch to it at the
//! next execve, by writing `exec PROFILE` to the process's own
//! `attr/apparmor/exec` in /proc. On a kernel without AppArmor (Debian
//! enables it, but not every host) there is nothing to switch to: runc
//! then ignores the field, and so does minirunc, saying so under --debug.

use anyhow::Context;

/// Whether the kernel has AppArmor switched on.
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|value| value.starts_with('Y'))
}

/// Asks for `profile` at the next execve.
pub fn apply_on_exec(profile: &str) -> anyhow::Result<()> {
    // Linux 5.8 moved the file under attr/apparmor/; older kernels have
    // only attr/exec.
    let path = ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .context("no /proc/self/attr/exec: is /proc mounted?")?;
    std::fs::write(path, format!("exec {profile}"))
        .with_context(|| format!("switching to the AppArmor profile {profile:?} ({path})"))
}
