//! The manager's own operations on the real kernel: freeze and thaw, kill
//! every task, remove — on whichever cgroup version this machine has.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use cgroups::resources::Resources;
use common::{cgroup_dir, cgroup_exists, is_v2, require_root};
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
    let start = |cgroup: &dyn cgroups::CgroupManager, command: &mut Command| {
        let child = command.spawn().unwrap();
        cgroup
            .add_process(Pid::from_raw(child.id() as i32))
            .unwrap();
        child
    };
    // What the kernel says of the freezer: freezer.state on v1 (THAWED,
    // FREEZING, FROZEN), cgroup.freeze on v2 (0, 1).
    let state_file = if is_v2() {
        cgroup_dir(cgroup.path(), "freezer").join("cgroup.freeze")
    } else {
        cgroup_dir(cgroup.path(), "freezer").join("freezer.state")
    };
    let requests = tempfile::tempdir().unwrap();
    let request = requests.path().join("request");
    std::fs::write(&request, "0\n").unwrap();
    // A busy loop (its CPU time grows all the time, unless it is frozen)
    // that answers each new request, written to a file, with the state of
    // its cgroup's freezer as it reads it then. One shell, builtins only:
    // it never forks.
    let script = r#"
        last=0
        while :; do
            read -r request < "$1"
            if [ "$request" != "$last" ]; then
                read -r state < "$2"
                echo "$request $state"
                last=$request
            fi
        done"#;
    let mut busy = start(
        cgroup.as_ref(),
        Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&request)
            .arg(&state_file)
            .stdout(Stdio::piped()),
    );
    assert_eq!(cgroup.stats().unwrap().pids_current, 1);
    let mut answers = BufReader::new(busy.stdout.take().unwrap());
    // Written whole (a rename), so the loop never reads half a request.
    let ask = |n: u32| {
        let next = requests.path().join("next");
        std::fs::write(&next, format!("{n}\n")).unwrap();
        std::fs::rename(&next, &request).unwrap();
    };
    let mut answer = || {
        let mut line = String::new();
        answers.read_line(&mut line).unwrap();
        line
    };
    let thawed = std::fs::read_to_string(&state_file).unwrap();
    let thawed = thawed.trim();
    // It runs, in the cgroup, and sees the freezer thawed.
    ask(1);
    assert_eq!(answer(), format!("1 {thawed}\n"));
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
    // freeze() returns once the kernel reports every task frozen.
    assert!(!cgroup.frozen().unwrap());
    cgroup.freeze().unwrap();
    assert!(cgroup.frozen().unwrap());
    assert_eq!(cgroup.pids().unwrap(), [Pid::from_raw(busy.id() as i32)]);
    let frozen_at = cpu_ticks();
    // A request while it is frozen: a loop that ran now would answer it
    // with the frozen state. It answers only once thawed, and says so.
    ask(2);
    assert!(cgroup.frozen().unwrap());
    assert_eq!(cpu_ticks(), frozen_at, "a frozen task ran");
    cgroup.thaw().unwrap();
    assert!(!cgroup.frozen().unwrap());
    assert_eq!(
        answer(),
        format!("2 {thawed}\n"),
        "a frozen task ran, or a thawed one did not"
    );
    busy.kill().unwrap();
    busy.wait().unwrap();

    // Started without a shell: nothing forks before it is in the cgroup.
    let mut children = [
        start(cgroup.as_ref(), Command::new("sleep").arg("1000")),
        start(cgroup.as_ref(), Command::new("sleep").arg("1000")),
    ];
    let mut inside: Vec<i32> = cgroup.pids().unwrap().iter().map(|p| p.as_raw()).collect();
    inside.sort();
    let mut started: Vec<i32> = children.iter().map(|c| c.id() as i32).collect();
    started.sort();
    assert_eq!(inside, started);
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
