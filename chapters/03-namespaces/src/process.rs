//! The process's limits, identity and privileges, set in the order the
//! kernel requires.
//!
//! Order matters because each step can take away what the next one needs:
//! raising an rlimit needs CAP_SYS_RESOURCE, dropping from the bounding set
//! needs CAP_SETPCAP, changing IDs needs CAP_SETUID/CAP_SETGID — and a
//! setuid away from 0 empties the permitted set unless PR_SET_KEEPCAPS is
//! on. (runc: `finalizeNamespace` in libcontainer/init_linux.go.)

use anyhow::{Context, bail};
use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::resource::{Resource, setrlimit};
use nix::unistd::{Gid, Uid};

use crate::container::{ProcessSpec, Rlimit};

/// `RLIMIT_NOFILE` → the resource.
pub fn resource(name: &str) -> anyhow::Result<Resource> {
    Ok(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        other => bail!("unknown rlimit {other:?} (see getrlimit(2))"),
    })
}

pub fn set_rlimits(rlimits: &[Rlimit]) -> anyhow::Result<()> {
    for rlimit in rlimits {
        setrlimit(resource(&rlimit.kind)?, rlimit.soft, rlimit.hard).with_context(|| {
            format!(
                "setrlimit({}, {}, {})",
                rlimit.kind, rlimit.soft, rlimit.hard
            )
        })?;
    }
    Ok(())
}

/// The five capability sets, by name (`CAP_CHOWN`): config.json's
/// `process.capabilities`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapabilitySets {
    #[serde(default)]
    pub bounding: Vec<String>,
    #[serde(default)]
    pub effective: Vec<String>,
    #[serde(default)]
    pub inheritable: Vec<String>,
    #[serde(default)]
    pub permitted: Vec<String>,
    #[serde(default)]
    pub ambient: Vec<String>,
}

impl CapabilitySets {
    /// Docker's way: `names` bound, permitted and effective; inheritable and
    /// ambient empty, as in Docker since 20.10.14 (CVE-2022-24769), so
    /// nothing is handed to programs beyond what execve grants.
    pub fn bounded(names: &[&str]) -> CapabilitySets {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        CapabilitySets {
            bounding: names.clone(),
            effective: names.clone(),
            permitted: names,
            ..Default::default()
        }
    }

    /// Every name, each checked.
    pub fn parse(&self) -> anyhow::Result<[CapsHashSet; 5]> {
        let parse = |names: &[String]| -> anyhow::Result<CapsHashSet> {
            names
                .iter()
                .map(|name| {
                    name.parse::<Capability>().map_err(|_| {
                        anyhow::anyhow!("unknown capability {name:?} (see capabilities(7))")
                    })
                })
                .collect()
        };
        Ok([
            parse(&self.bounding)?,
            parse(&self.effective)?,
            parse(&self.inheritable)?,
            parse(&self.permitted)?,
            parse(&self.ambient)?,
        ])
    }
}

/// Every capability this kernel and the caps crate know, as `CAP_*` names.
pub fn known_capabilities() -> Vec<String> {
    let mut names: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    names.sort();
    names
}

/// The capabilities this process can still give: the known ones in its
/// bounding set. What `--privileged` and `--cap-add ALL` mean (moby's rule):
/// a host that keeps a capability from its root (a sandbox, a container
/// running Docker) has none to pass on, and asking for it makes capset(2)
/// fail with EPERM.
pub fn grantable_capabilities() -> Vec<String> {
    let bounding = caps::read(None, CapSet::Bounding).unwrap_or_default();
    let mut names: Vec<String> = caps::all()
        .iter()
        .filter(|c| bounding.contains(c))
        .map(|c| c.to_string())
        .collect();
    names.sort();
    names
}

// ANCHOR: switch_user
/// Becomes `process.user` with exactly `process.capabilities`.
pub fn switch_user(process: &ProcessSpec) -> anyhow::Result<()> {
    let [bounding, effective, mut inheritable, permitted, ambient] =
        process.capabilities.parse()?;
    // The kernel keeps an ambient capability only while it is permitted and
    // inheritable: an ambient one is made inheritable too (runc's own spec
    // lists ambient capabilities and no inheritable ones).
    if let Some(cap) = ambient.iter().find(|c| !permitted.contains(c)) {
        anyhow::bail!("ambient capability {cap} is not in the permitted set");
    }
    inheritable.extend(ambient.iter().copied());
    // 1. The bounding set caps what any later execve can grant, file
    //    capabilities and setuid-root binaries included. Dropping from it
    //    needs CAP_SETPCAP, which we still have.
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    // 2. The IDs. Groups first: after setuid we could not change them.
    //    KEEPCAPS keeps the permitted set across the setuid away from 0.
    nix::sys::prctl::set_keepcaps(true).context("prctl(PR_SET_KEEPCAPS)")?;
    let user = &process.user;
    let groups: Vec<Gid> = user
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).context("setgroups")?;
    let (uid, gid) = (Uid::from_raw(user.uid), Gid::from_raw(user.gid));
    nix::unistd::setresgid(gid, gid, gid).with_context(|| format!("setresgid({gid})"))?;
    nix::unistd::setresuid(uid, uid, uid).with_context(|| format!("setresuid({uid})"))?;
    nix::sys::prctl::set_keepcaps(false).context("prctl(PR_SET_KEEPCAPS)")?;
    // 3. The sets themselves. capset(2) insists that effective stays a
    //    subset of permitted at every call, so effective shrinks first (as
    //    root) — or grows back last (after a setuid away from 0 emptied it).
    //    An ambient capability must be permitted and inheritable, so ambient
    //    comes last. (For a non-root user without ambient capabilities,
    //    execve then clears permitted and effective: a container's non-root
    //    process has no capabilities, only the bounding set.)
    let current = caps::read(None, CapSet::Effective).context("capget")?;
    caps::set(None, CapSet::Effective, &(&current & &permitted)).context("capset(effective)")?;
    caps::set(None, CapSet::Permitted, &permitted).context("capset(permitted)")?;
    caps::set(None, CapSet::Inheritable, &inheritable).context("capset(inheritable)")?;
    caps::set(None, CapSet::Effective, &effective).context("capset(effective)")?;
    caps::clear(None, CapSet::Ambient).context("clearing the ambient set")?;
    for cap in ambient {
        caps::raise(None, CapSet::Ambient, cap)
            .with_context(|| format!("raising {cap} in the ambient set"))?;
    }
    Ok(())
}
// ANCHOR_END: switch_user
