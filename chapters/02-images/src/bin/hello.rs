//! `hello` — the only file of the offline `hello` image, and the probe the
//! later chapters' end-to-end tests run inside containers.
//!
//! With no arguments it greets you, like Docker's hello-world, and explains
//! what just happened. With a subcommand it reports what it sees from inside,
//! one `key: value` line per fact, so a test can parse it.
//!
//! It uses std only and is linked statically (scripts/build.sh), because the
//! image holds nothing else: no libc, no loader, no /lib. For the same reason
//! it reads every fact from /proc, which the runtime mounts (or does not).

use std::env;
use std::fs;
use std::io::{self, ErrorKind, Write};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

const USAGE: &str = "\
usage: hello [SUBCOMMAND]

Without a subcommand: a greeting that explains how it reached you.
Subcommands print `key: value` lines, one per fact:
  pid             this process's pid and its parent's
  hostname        the hostname of this UTS namespace
  user            uid, euid, gid, egid and supplementary groups
  caps            capability sets, in hex and by name
  cgroup          this process's cgroups (/proc/self/cgroup)
  mounts          mount points and filesystem types (/proc/self/mountinfo)
  env             the environment, sorted
  all             everything above
  sleep SECONDS   sleep, then exit 0 (SECONDS may be fractional)
  exit CODE       exit with CODE (0-255)
  help            this text";

fn main() -> ExitCode {
    // args_os: env::args would panic on an argument that is not UTF-8.
    let args: Vec<String> = env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = match args.as_slice() {
        [] => greeting(),
        ["pid"] => pid(),
        ["hostname"] => hostname(),
        ["user"] => user(),
        ["caps"] => caps(),
        ["cgroup"] => cgroup(),
        ["mounts"] => mounts(),
        ["env"] => environment(),
        ["all"] => [
            pid(),
            hostname(),
            user(),
            caps(),
            cgroup(),
            mounts(),
            environment(),
        ]
        .concat(),
        ["sleep", seconds] => return sleep(seconds),
        ["exit", code] => return exit(code),
        ["help" | "--help" | "-h"] => format!("{USAGE}\n"),
        _ => return usage_error(&format!("unknown arguments: {}", args.join(" "))),
    };
    // A closed stdout (`hello all | head -1`) is not worth a panic.
    match io::stdout().lock().write_all(report.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn usage_error(problem: &str) -> ExitCode {
    eprintln!("hello: {problem}\n{USAGE}");
    ExitCode::from(2)
}

// ANCHOR: greeting
fn greeting() -> String {
    let pid = std::process::id();
    // What it can see of its world: read from /proc, if the runtime mounted one.
    let what_it_sees = match (read_hostname(), read_proc("/proc/self/mountinfo")) {
        (Ok(hostname), Ok(mountinfo)) => match mountinfo.lines().count() {
            1 => format!("the hostname \"{hostname}\" and 1 mount"),
            count => format!("the hostname \"{hostname}\" and {count} mounts"),
        },
        _ if !proc_is_mounted() => {
            "but, with no /proc mounted, neither its\n    hostname nor its mounts".to_string()
        }
        (Err(problem), _) | (_, Err(problem)) => {
            format!("but its hostname or mounts are {problem}")
        }
    };
    let mut text = format!(
        "\
Hello from minidocker!
This message shows that your installation appears to be working correctly.

To generate this message, minidocker took the following steps:
 1. The minidocker client contacted the minidocker daemon over its Unix socket.
 2. The daemon found the image \"hello\" in its store (or a runtime was given
    a bundle: a root filesystem and a config.json).
 3. A runtime created namespaces and cgroups for a new process and pivoted
    into the image's root filesystem, which holds nothing but this program.
 4. This program is now PID {pid} in a world of its own: it sees only the
    processes of its PID namespace, {what_it_sees}.
 5. The daemon streamed this output back to the client, to your terminal.
"
    );
    // In a new PID namespace the first process is PID 1; anything else means
    // this program was started some other way, so step 4 is not the whole story.
    if pid != 1 {
        text.push_str(&format!(
            "\nPID {pid}, not 1: this program is not the first process of its PID \
             namespace\n(started by `exec`, with --pid=host, or directly on the host).\n"
        ));
    }
    text.push_str(
        "\nTo try something more ambitious, run a shell:\n \
         $ minidocker run -it busybox sh\n\
         `hello help` lists what this program reports about the world it runs in.\n",
    );
    text
}
// ANCHOR_END: greeting

fn pid() -> String {
    // The parent of a container's PID 1 lives outside its PID namespace, so
    // the kernel reports it as 0.
    let ppid = std::os::unix::process::parent_id();
    format!("pid: {}\nppid: {ppid}\n", std::process::id())
}

fn hostname() -> String {
    match read_hostname() {
        Ok(name) => format!("hostname: {name}\n"),
        Err(problem) => format!("hostname: {problem}\n"),
    }
}

fn read_hostname() -> Result<String, String> {
    // The hostname belongs to the UTS namespace; /proc/sys/kernel/hostname
    // shows the one of the namespace the reader is in (std has no uname).
    read_proc("/proc/sys/kernel/hostname").map(|text| text.trim_end().to_string())
}

fn user() -> String {
    let status = match read_proc("/proc/self/status") {
        Ok(status) => status,
        Err(problem) => return format!("user: {problem}\n"),
    };
    // "Uid:" and "Gid:" list the real, effective, saved and filesystem ids,
    // as seen from this process's user namespace.
    let ids = |key: &str| -> Vec<&str> { status_field(&status, key).split_whitespace().collect() };
    let (uids, gids) = (ids("Uid"), ids("Gid"));
    fn nth<'a>(ids: &[&'a str], index: usize) -> &'a str {
        ids.get(index).copied().unwrap_or("unknown")
    }
    let groups = status_field(&status, "Groups")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "uid: {}\neuid: {}\ngid: {}\negid: {}\ngroups: {}\n",
        nth(&uids, 0),
        nth(&uids, 1),
        nth(&gids, 0),
        nth(&gids, 1),
        if groups.is_empty() { "none" } else { &groups },
    )
}

// ANCHOR: caps
/// Capability names by bit number, as in <linux/capability.h> (0 to 40,
/// CAP_LAST_CAP since Linux 5.9).
const CAPABILITY_NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

fn caps() -> String {
    let status = match read_proc("/proc/self/status") {
        Ok(status) => status,
        Err(problem) => return format!("caps: {problem}\n"),
    };
    // Inheritable, permitted, effective, bounding and ambient sets, each a
    // 64-bit mask in hex: bit N set means capability N is in the set.
    let mut report = String::new();
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let hex = status_field(&status, key).trim();
        report.push_str(&format!("{key}: {hex}\n"));
        let names = match u64::from_str_radix(hex, 16) {
            Ok(mask) => capability_names(mask),
            Err(_) => format!("unknown (no {key} line in /proc/self/status)"),
        };
        report.push_str(&format!("{key}.names: {names}\n"));
    }
    report
}

fn capability_names(mask: u64) -> String {
    let names: Vec<String> = (0..64)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| match CAPABILITY_NAMES.get(bit) {
            Some(name) => name.to_string(),
            // A kernel newer than this table: name the bit rather than hide it.
            None => format!("cap_{bit}"),
        })
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    }
}
// ANCHOR_END: caps

fn cgroup() -> String {
    match read_proc("/proc/self/cgroup") {
        // Each line is `hierarchy-ID:controllers:path`; cgroup v2 has the
        // single line `0::/path`, v1 one line per hierarchy.
        Ok(text) => text
            .lines()
            .map(|line| format!("cgroup: {line}\n"))
            .collect(),
        Err(problem) => format!("cgroup: {problem}\n"),
    }
}

fn mounts() -> String {
    let text = match read_proc("/proc/self/mountinfo") {
        Ok(text) => text,
        Err(problem) => return format!("mounts: {problem}\n"),
    };
    // mountinfo(5): `id parent major:minor root MOUNT-POINT options
    // [optional fields...] - FSTYPE source super-options`. The optional
    // fields vary in number, so the fs type is found after the lone "-".
    // Mount points keep the kernel's octal escapes (a space is \040), which
    // keeps each line splittable on spaces.
    let mut report = String::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let mount_point = fields.get(4).copied().unwrap_or("?");
        let fs_type = fields
            .iter()
            .position(|field| *field == "-")
            .and_then(|dash| fields.get(dash + 1))
            .copied()
            .unwrap_or("?");
        report.push_str(&format!("mount: {mount_point} {fs_type}\n"));
    }
    report
}

fn environment() -> String {
    let mut variables: Vec<(String, String)> = env::vars_os()
        .map(|(key, value)| {
            (
                key.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        })
        .collect();
    variables.sort();
    variables
        .iter()
        // A newline inside a value would split the fact over two lines.
        .map(|(key, value)| format!("env: {key}={}\n", value.replace('\n', "\\n")))
        .collect()
}

fn sleep(seconds: &str) -> ExitCode {
    let duration = match seconds
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
    {
        Some(duration) => duration,
        None => return usage_error(&format!("sleep: {seconds:?} is not a number of seconds")),
    };
    // No signal handler on purpose: as PID 1 of a PID namespace, the kernel
    // drops every signal this process does not handle (SIGTERM included),
    // except SIGKILL and SIGSTOP from an ancestor namespace. `stop` then waits
    // for its timeout and kills — the problem `minidocker-init` solves.
    thread::sleep(duration);
    ExitCode::SUCCESS
}

fn exit(code: &str) -> ExitCode {
    // An exit status is one byte (wait(2) keeps the low 8 bits).
    match code.parse::<u8>() {
        Ok(code) => ExitCode::from(code),
        Err(_) => usage_error(&format!("exit: {code:?} is not an exit code (0-255)")),
    }
}

/// The value after `Key:` in /proc/self/status, or "" when the line is
/// missing (an older kernel lacks CapAmb, for one).
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or("")
}

/// Reads a /proc file, turning failure into the text reported as the value:
/// a container may have no /proc at all, which is a fact, not a crash.
fn read_proc(path: &str) -> Result<String, String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == ErrorKind::NotFound && !proc_is_mounted() => {
            Err("unavailable (no /proc mounted)".to_string())
        }
        Err(error) => Err(format!("unavailable ({path}: {error})")),
    }
}

/// /proc/self exists in every mounted procfs; without one, /proc is at most
/// an empty directory of the image.
fn proc_is_mounted() -> bool {
    fs::metadata("/proc/self").is_ok()
}
