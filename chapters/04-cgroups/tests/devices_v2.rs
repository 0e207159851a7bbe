//! The v2 device filter, live: an eBPF program attached to a cgroup2
//! cgroup refuses a device to the processes inside. On a hybrid machine the
//! cgroup2 mount at /sys/fs/cgroup/unified has no controllers, but it takes
//! device programs all the same; on pure v2 it is /sys/fs/cgroup.

mod common;

use std::process::Command;

use cgroups::CgroupManager;
use cgroups::hierarchy::Hierarchy;
use cgroups::resources::{DeviceRule, Resources, default_device_rules};
use cgroups::v2::V2Manager;
use common::{require_root, stderr, stdout};

#[test]
fn privileged_a_bpf_device_program_refuses_what_the_rules_deny() {
    require_root();
    let root = match Hierarchy::detect().unwrap() {
        Hierarchy::V2 { root } => root,
        Hierarchy::V1 {
            unified: Some(unified),
            ..
        } => unified,
        Hierarchy::V1 { unified: None, .. } => {
            panic!(
                "no cgroup2 mount to attach a device program to (mount -t cgroup2 none /sys/fs/cgroup/unified)"
            )
        }
    };
    let mut cgroup = V2Manager::new(
        root,
        &format!("/minidocker-test-bpf-{}/c", std::process::id()),
    );
    let mut devices = default_device_rules();
    devices.push(DeviceRule::parse("c 1:9 r", false).unwrap());
    cgroup
        .create(&Resources {
            devices,
            ..Default::default()
        })
        .unwrap();
    // The shell joins the cgroup first, then opens devices.
    let procs = cgroup.dir().join("cgroup.procs");
    let script = format!(
        "echo $$ > {}; head -c1 /dev/urandom >/dev/null; head -c1 /dev/zero >/dev/null && echo zero-ok; \
         head -c1 /dev/mem >/dev/null 2>&1 || echo mem-refused",
        procs.display()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    cgroup.kill_all().unwrap();
    cgroup.destroy().unwrap();
    let parent = cgroup.dir().parent().unwrap().to_path_buf();
    std::fs::remove_dir(&parent).unwrap();
    // coreutils says "head: cannot open '/dev/urandom' for reading: …".
    let err = stderr(&out);
    assert!(
        err.contains("/dev/urandom") && err.contains("Operation not permitted"),
        "{err}"
    );
    let text = stdout(&out);
    assert!(text.contains("zero-ok"), "{text}");
    assert!(text.contains("mem-refused"), "{text}");
}
