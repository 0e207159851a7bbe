//! `chroot-escape MARKER` — the classic way out of a chroot, for the book and
//! the tests. Std only, linked statically: it runs inside containers.
//!
//! chroot(2) changes where path lookups start, and nothing else: the working
//! directory stays where it was. So a process that may call chroot (root,
//! with CAP_SYS_CHROOT) chroots into a subdirectory *without* entering it;
//! its working directory is now outside its root, where `..` is not stopped
//! by the root any more, and enough `..` reach the real `/`. A chroot to `.`
//! there, and the process is back on the host.
//!
//! After pivot_root and the old root's unmount, the real `/` of the mount
//! namespace *is* the container's root: `..` at `/` is `/`, and the climb
//! gets nowhere.
//!
//! Exit status: 0 if MARKER (a path that exists only on the host) became
//! visible — escaped; 1 if not — contained; 2 on an error.

use std::fs;
use std::os::unix::fs::chroot;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(marker) = std::env::args_os().nth(1) else {
        eprintln!("usage: chroot-escape MARKER (a path that exists only outside)");
        return ExitCode::from(2);
    };
    let marker = Path::new(&marker);
    if marker.exists() {
        eprintln!(
            "chroot-escape: {} is visible before trying: nothing to prove",
            marker.display()
        );
        return ExitCode::from(2);
    }
    match escape() {
        Ok(()) if marker.exists() => {
            println!("escaped: {} is visible", marker.display());
            ExitCode::SUCCESS
        }
        Ok(()) => {
            println!("contained: {} is not visible", marker.display());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("chroot-escape: {e}");
            ExitCode::from(2)
        }
    }
}

// ANCHOR: escape
fn escape() -> std::io::Result<()> {
    let jail = Path::new("/.chroot-escape");
    fs::create_dir_all(jail)?;
    // Root moves into the subdirectory; the working directory (/) does not.
    chroot(jail)?;
    // Climb: each `..` from outside the root goes up one real level, and
    // stops only at the mount namespace's root.
    for _ in 0..64 {
        std::env::set_current_dir("..")?;
    }
    chroot(".")?;
    std::env::set_current_dir("/")
}
// ANCHOR_END: escape
