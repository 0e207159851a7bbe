//! The `hello` probe's command line, run on the host: the `key: value`
//! format later chapters parse, exit codes, and usage errors. (The debug
//! build Cargo gives tests is dynamic; scripts/build.sh makes the static one.)

use std::process::{Command, Output, Stdio};

const HELLO: &str = env!("CARGO_BIN_EXE_hello");

fn hello(args: &[&str]) -> Output {
    Command::new(HELLO).args(args).output().expect("run hello")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("hello prints UTF-8")
}

/// The value of the first `key: value` line with this key.
fn value<'a>(report: &'a str, key: &str) -> Option<&'a str> {
    report
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
}

#[test]
fn pid_reports_its_own_pid_and_its_parent() {
    let child = Command::new(HELLO)
        .arg("pid")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        format!("pid: {pid}\nppid: {}\n", std::process::id())
    );
}

#[test]
fn hostname_is_the_uts_namespace_hostname() {
    let expected = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        stdout(&hello(&["hostname"])),
        format!("hostname: {}\n", expected.trim_end())
    );
}

#[test]
fn all_prints_one_key_value_line_per_fact() {
    let output = hello(&["all"]);
    assert!(output.status.success());
    let report = stdout(&output);
    for line in report.lines() {
        let (key, _) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("not a `key: value` line: {line:?}"));
        assert!(!key.is_empty() && !key.contains(' '), "bad key in {line:?}");
    }
    for key in [
        "pid", "ppid", "hostname", "uid", "euid", "gid", "egid", "groups", "CapInh", "CapPrm",
        "CapEff", "CapBnd", "CapAmb", "cgroup", "mount",
    ] {
        assert!(value(&report, key).is_some(), "no {key} in:\n{report}");
    }
    assert!(value(&report, "mount").unwrap().starts_with('/'));
}

#[test]
fn caps_are_decoded_into_names() {
    let report = stdout(&hello(&["caps"]));
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let mask = u64::from_str_radix(value(&report, set).unwrap(), 16).unwrap();
        let names = value(&report, &format!("{set}.names")).unwrap();
        if mask == 0 {
            assert_eq!(names, "none");
        } else {
            assert_eq!(names.split(',').count() as u32, mask.count_ones(), "{set}");
        }
        if mask & 1 << 21 != 0 {
            assert!(names.split(',').any(|name| name == "cap_sys_admin"));
        }
    }
}

#[test]
fn user_matches_proc_self_status() {
    let report = stdout(&hello(&["user"]));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    // "Uid:\treal\teffective\tsaved\tfilesystem"
    let real_uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .unwrap();
    assert_eq!(value(&report, "uid"), Some(real_uid));
    assert!(value(&report, "groups").is_some());
}

#[test]
fn env_is_sorted_one_variable_per_line() {
    let output = Command::new(HELLO)
        .arg("env")
        .env_clear()
        .env("ZED", "last")
        .env("ALPHA", "two\nlines")
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "env: ALPHA=two\\nlines\nenv: ZED=last\n");
}

#[test]
fn greeting_names_its_pid() {
    let child = Command::new(HELLO).stdout(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let greeting = stdout(&child.wait_with_output().unwrap());
    assert!(
        greeting.starts_with("Hello from minidocker!\n"),
        "{greeting}"
    );
    assert!(greeting.contains(&format!("PID {pid} ")), "{greeting}");
}

#[test]
fn exit_exits_with_the_code() {
    assert_eq!(hello(&["exit", "3"]).status.code(), Some(3));
    assert_eq!(hello(&["exit", "0"]).status.code(), Some(0));
    assert_eq!(hello(&["exit", "256"]).status.code(), Some(2));
}

#[test]
fn sleep_sleeps_then_exits_zero() {
    assert!(hello(&["sleep", "0.05"]).status.success());
    assert_eq!(hello(&["sleep", "soon"]).status.code(), Some(2));
}

#[test]
fn unknown_subcommands_get_usage_on_stderr_and_exit_2() {
    let output = hello(&["nonsense"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown arguments: nonsense"), "{stderr}");
    assert!(stderr.contains("usage: hello"), "{stderr}");

    let help = hello(&["help"]);
    assert!(help.status.success());
    assert!(stdout(&help).starts_with("usage: hello"));
}
