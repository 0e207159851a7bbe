//! cgroup v2 device control: an eBPF program instead of files.
//!
//! v2 has no devices.allow. Instead, a program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE is attached to the cgroup, and the kernel runs
//! it on every open(2) or mknod(2) of a device node by a task inside: it
//! reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (access in the high 16 bits of access_type, device type in the low ones)
//! and returns 1 to allow, 0 to refuse with EPERM. runc generates the same
//! kind of program from the same rules (libcontainer/cgroups/devices/ebpf).
//!
//! The program is a few instructions per rule, written here by hand: each
//! rule compares type, access, major and minor, and on a match returns its
//! verdict. Rules are checked last to first, so the last matching rule
//! wins, as with v1's files; no match refuses.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};

use crate::resources::DeviceRule;

/// One eBPF instruction (linux/bpf.h `struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low 4 bits, src_reg in the high 4.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// The opcodes we need (linux/bpf_common.h, linux/bpf.h).
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND_K: u8 = 0x57; // dst &= imm            (64-bit ALU)
const RSH_K: u8 = 0x77; // dst >>= imm
const MOV_X: u8 = 0xbf; // dst = src
const MOV_K: u8 = 0xb7; // dst = imm
const JNE_K: u8 = 0x55; // if dst != imm: pc += off
const JEQ_K: u8 = 0x15; // if dst == imm: pc += off
const EXIT: u8 = 0x95; // return r0

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// bpf_cgroup_dev_ctx's values (linux/bpf.h).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

// ANCHOR: program
/// The program for `rules` (registers: r2 type, r3 access, r4 major, r5 minor).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut code = vec![
        insn(LDX_W, 2, 1, 0, 0),      // r2 = ctx->access_type
        insn(MOV_X, 3, 2, 0, 0),      // r3 = r2
        insn(AND_K, 2, 0, 0, 0xffff), // r2 = device type
        insn(RSH_K, 3, 0, 0, 16),     // r3 = access requested
        insn(LDX_W, 4, 1, 4, 0),      // r4 = ctx->major
        insn(LDX_W, 5, 1, 8, 0),      // r5 = ctx->minor
    ];
    for rule in rules.iter().rev() {
        // Each test jumps to the next rule when it does not match; the jump
        // length is what is left of this rule's block, known once it is built.
        let mut tests: Vec<Insn> = Vec::new();
        match rule.kind {
            'c' => tests.push(insn(JNE_K, 2, 0, 0, DEV_CHAR)),
            'b' => tests.push(insn(JNE_K, 2, 0, 0, DEV_BLOCK)),
            _ => {}
        }
        let access = access_bits(&rule.access);
        if access != ACC_MKNOD | ACC_READ | ACC_WRITE {
            tests.push(insn(MOV_X, 1, 3, 0, 0)); // r1 = requested
            if rule.allow {
                // An allow rule covers a request with nothing outside it.
                tests.push(insn(AND_K, 1, 0, 0, !access)); // r1 &= ~access
                tests.push(insn(JNE_K, 1, 0, 0, 0)); // r1 != 0: no match
            } else {
                // A deny rule refuses a request with anything inside it
                // (v1: "c 1:9 r" in devices.deny takes away read only).
                tests.push(insn(AND_K, 1, 0, 0, access)); // r1 &= access
                tests.push(insn(JEQ_K, 1, 0, 0, 0)); // r1 == 0: no match
            }
        }
        if let Some(major) = rule.major.filter(|_| rule.kind != 'a') {
            tests.push(insn(JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor.filter(|_| rule.kind != 'a') {
            tests.push(insn(JNE_K, 5, 0, 0, minor as i32));
        }
        let verdict = [
            insn(MOV_K, 0, 0, 0, rule.allow as i32),
            insn(EXIT, 0, 0, 0, 0),
        ];
        if tests.is_empty() {
            // Matches everything (`a`): the rules before it can never be
            // reached, and the verifier refuses unreachable instructions.
            code.extend(verdict);
            return code;
        }
        let block_len = tests.len() + verdict.len();
        for (i, mut test) in tests.into_iter().enumerate() {
            if test.code == JNE_K || test.code == JEQ_K {
                // From the instruction after this one to the block's end.
                test.off = (block_len - i - 1) as i16;
            }
            code.push(test);
        }
        code.extend(verdict);
    }
    code.push(insn(MOV_K, 0, 0, 0, 0)); // no rule matched: refuse
    code.push(insn(EXIT, 0, 0, 0, 0));
    code
}
// ANCHOR_END: program

/// Runs `program` on one device access, as the kernel would: for tests.
pub fn evaluate(program: &[Insn], kind: char, major: u32, minor: u32, access: &str) -> bool {
    let kind = if kind == 'b' { DEV_BLOCK } else { DEV_CHAR } as u64;
    let ctx = [
        (access_bits(access) as u64) << 16 | kind,
        major as u64,
        minor as u64,
    ];
    let mut r = [0u64; 11];
    let mut pc = 0;
    loop {
        let i = program[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm = i.imm as i64 as u64; // sign-extended, as the 64-bit ALU does
        pc += 1;
        match i.code {
            LDX_W => r[dst] = ctx[i.off as usize / 4],
            AND_K => r[dst] &= imm,
            RSH_K => r[dst] >>= imm,
            MOV_X => r[dst] = r[src],
            MOV_K => r[dst] = imm,
            JNE_K if r[dst] != imm => pc += i.off as usize,
            JNE_K => {}
            JEQ_K if r[dst] == imm => pc += i.off as usize,
            JEQ_K => {}
            EXIT => return r[0] != 0,
            other => panic!("opcode {other:#x} not interpreted"),
        }
    }
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Other programs (systemd's, a parent's) stay attached beside ours; the
/// kernel allows an access only if every one of them does.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr` for BPF_PROG_LOAD, up to the fields we use.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a repr(C) prefix of union bpf_attr; the kernel reads
    // `size_of::<T>()` bytes of it and treats the rest as zero.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>(),
        )
    };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

// ANCHOR: attach
/// Loads the program for `rules` and attaches it to the cgroup `dir`. It
/// stays attached (the cgroup holds it) until the cgroup is removed.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> anyhow::Result<()> {
    let code = program(rules);
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: code.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        // The verifier explains a rejection in this buffer.
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    let program = match bpf(BPF_PROG_LOAD, &mut load) {
        // SAFETY: BPF_PROG_LOAD returned a new descriptor that we now own.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
        Err(e) => {
            let verifier = String::from_utf8_lossy(&log);
            let verifier = verifier.trim_end_matches('\0').trim();
            bail!(
                "bpf(BPF_PROG_LOAD) of the device filter: {e}{}",
                if verifier.is_empty() {
                    String::new()
                } else {
                    format!("; verifier: {verifier}")
                }
            );
        }
    };
    let cgroup = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attach)
        .with_context(|| format!("bpf(BPF_PROG_ATTACH) to {}", dir.display()))?;
    Ok(())
}
// ANCHOR_END: attach

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::default_device_rules;

    #[test]
    fn the_default_rules_allow_the_standard_nodes_only() {
        let code = program(&default_device_rules());
        assert!(evaluate(&code, 'c', 1, 3, "rw"), "/dev/null");
        assert!(evaluate(&code, 'c', 1, 9, "r"), "/dev/urandom");
        assert!(evaluate(&code, 'c', 136, 7, "rw"), "/dev/pts/7");
        assert!(!evaluate(&code, 'c', 1, 1, "r"), "/dev/mem");
        assert!(!evaluate(&code, 'b', 8, 0, "r"), "/dev/sda");
        // mknod of anything, but not opening it.
        assert!(evaluate(&code, 'b', 8, 0, "m"));
        assert!(!evaluate(&code, 'b', 8, 0, "rm"));
    }

    #[test]
    fn the_last_matching_rule_wins() {
        let mut rules = default_device_rules();
        rules.push(DeviceRule::parse("c 1:9 r", false).unwrap());
        let code = program(&rules);
        assert!(!evaluate(&code, 'c', 1, 9, "r"), "read is denied now");
        assert!(!evaluate(&code, 'c', 1, 9, "rw"));
        assert!(evaluate(&code, 'c', 1, 9, "w"), "write is still allowed");
        assert!(
            evaluate(&code, 'c', 1, 8, "r"),
            "other devices are untouched"
        );
        rules.push(DeviceRule::parse("a", true).unwrap());
        let code = program(&rules);
        assert!(evaluate(&code, 'b', 8, 0, "rw"));
        assert_eq!(
            code.len(),
            8,
            "6 loads and the `a` verdict: nothing unreachable"
        );
    }

    #[test]
    fn jumps_land_on_the_next_rule() {
        let rules = [DeviceRule::parse("c 1:3 rw", true).unwrap()];
        let code = program(&rules);
        // 6 loads, 6 tests, 2 verdict, 2 default.
        assert_eq!(code.len(), 16);
        for (i, insn) in code.iter().enumerate().filter(|(_, i)| i.code == JNE_K) {
            assert_eq!(
                i + 1 + insn.off as usize,
                14,
                "jump at {i} skips to the default"
            );
        }
    }
}
