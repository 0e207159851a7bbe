//! Extended attributes through libc, never following a symlink at the
//! last component: the `l*` calls on paths, the `f*` calls on open files.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// Sets `key` on `name` inside the directory `dir` holds open.
pub fn set_beneath(dir: BorrowedFd, name: &OsStr, key: &[u8], value: &[u8]) -> io::Result<()> {
    // Linux has no lsetxattr relative to a directory fd before 6.13
    // (setxattrat). /proc/self/fd/N is the directory we already hold open,
    // so only `name` is looked up, and lsetxattr does not follow it.
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.as_bytes());
    lset(Path::new(OsStr::from_bytes(&path)), key, value)
}

pub fn lset(path: &Path, key: &[u8], value: &[u8]) -> io::Result<()> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let key = c_string(key)?;
    // SAFETY: both strings are NUL-terminated and `value` is valid for its length.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn fset(fd: BorrowedFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let key = c_string(key)?;
    // SAFETY: `key` is NUL-terminated and `value` is valid for its length.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The value of `key`, or `None` if the file has no such attribute or the
/// filesystem keeps none at all.
pub fn lget(path: &Path, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let key = c_string(key)?;
    sized(|buf| {
        // SAFETY: the strings are NUL-terminated; `buf` is writable for its length
        // (a zero length only asks for the size).
        unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                key.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        }
    })
    .or_else(|e| match e.raw_os_error() {
        Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
        _ => Err(e),
    })
}

/// The names of all attributes of `path` (empty where the filesystem keeps none).
pub fn llist(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let list = sized(|buf| {
        // SAFETY: as in `lget`.
        unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    })
    .or_else(|e| {
        if e.raw_os_error() == Some(libc::ENOTSUP) {
            Ok(None)
        } else {
            Err(e)
        }
    })?;
    // The list is NUL-terminated names one after the other.
    Ok(list
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// Calls a size-then-fill xattr syscall until the value fits: it may grow
/// between the two calls, which is ERANGE.
fn sized(mut call: impl FnMut(&mut [u8]) -> libc::ssize_t) -> io::Result<Option<Vec<u8>>> {
    loop {
        let size = call(&mut []);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(&mut buf);
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}
