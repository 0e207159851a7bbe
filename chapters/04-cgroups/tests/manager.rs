//! The manager's own operations on the real kernel: freeze and thaw, kill
//! every task, remove — on whichever cgroup version this machine has.

mod common;

use std::process::Command;

use cgroups::resources::Resources;
use common::{cgroup_exists, require_root};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;

#[test]
fn privileged_freeze_thaw_kill_all_and_destroy() {
    require_root();
    // A parent of the test's own: nothing else is touched.
    let parent = format!("minidocker-test-manager-{}", std::process::id());
    // SAFETY: set before any thread of this test starts a process.
    unsafe { std::env::set_var("MINIDOCKER_CGROUP_PARENT", &parent) };
    let mut cgroup = cgroups::manager("c").unwrap();
    cgroup
        .create(&Resources {
            pids_limit: Some(10),
            memory: Some(64 << 20),
            ..Default::default()
        })
        .unwrap();
    let start = |cgroup: &dyn cgroups::CgroupManager, script: &str| {
        let child = Command::new("sh").args(["-c", script]).spawn().unwrap();
        cgroup
            .add_process(Pid::from_raw(child.id() as i32))
            .unwrap();
        child
    };
    // A busy loop: its CPU time grows all the time, unless it is frozen.
    let mut busy = start(cgroup.as_ref(), "while :; do :; done");
    assert_eq!(cgroup.stats().unwrap().pids_current, 1);
    let cpu_ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", busy.id())).unwrap();
        let fields: Vec<u64> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(11) // utime and stime are fields 14 and 15
            .take(2)
            .map(|f| f.parse().unwrap())
            .collect();
        fields[0] + fields[1]
    };
    let pause = || std::thread::sleep(std::time::Duration::from_millis(300));
    // freeze() returns once the kernel reports every task frozen.
    assert!(!cgroup.frozen().unwrap());
    cgroup.freeze().unwrap();
    assert!(cgroup.frozen().unwrap());
    let frozen_at = cpu_ticks();
    pause();
    assert_eq!(cpu_ticks(), frozen_at, "a frozen task ran");
    cgroup.thaw().unwrap();
    assert!(!cgroup.frozen().unwrap());
    pause();
    assert!(cpu_ticks() > frozen_at, "a thawed busy loop did not run");
    busy.kill().unwrap();
    busy.wait().unwrap();

    let mut children = [
        start(cgroup.as_ref(), "sleep 30"),
        start(cgroup.as_ref(), "sleep 30"),
    ];
    cgroup.kill_all().unwrap();
    for child in &mut children {
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }
    let path = cgroup.path().to_string();
    cgroup.destroy().unwrap();
    assert!(!cgroup_exists(&path));
    // The test's parent goes too (reset.sh does this for `minidocker`).
    for dir in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/cpuacct",
        "/sys/fs/cgroup/cpuset",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/devices",
        "/sys/fs/cgroup/freezer",
    ] {
        let _ = std::fs::remove_dir(format!("{dir}/{parent}"));
    }
    assert!(!cgroup_exists(&format!("/{parent}")));
}
