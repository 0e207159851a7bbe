//! The manager's own operations on the real kernel: freeze and thaw, kill
//! every task, remove — on whichever cgroup version this machine has.

mod common;

use std::process::Command;

use cgroups::resources::Resources;
use common::{cgroup_exists, require_root};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

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
    let start = |cgroup: &dyn cgroups::CgroupManager| {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        cgroup.add_process(pid).unwrap();
        pid
    };
    let pid = start(cgroup.as_ref());
    assert_eq!(cgroup.stats().unwrap().pids_current, 1);

    // Frozen, a task handles no signal (SIGKILL aside): SIGTERM waits.
    cgroup.freeze().unwrap();
    kill(pid, Signal::SIGTERM).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap(),
        WaitStatus::StillAlive
    );
    // Thawed, it is delivered.
    cgroup.thaw().unwrap();
    assert!(matches!(
        waitpid(pid, None).unwrap(),
        WaitStatus::Signaled(_, Signal::SIGTERM, _)
    ));

    let pids = [start(cgroup.as_ref()), start(cgroup.as_ref())];
    cgroup.kill_all().unwrap();
    for pid in pids {
        let status = waitpid(pid, None).unwrap();
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
            "{status:?}"
        );
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
