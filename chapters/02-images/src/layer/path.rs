//! Entry paths: what a tar entry's name means inside the layer root.
//!
//! A tar name is untrusted bytes. Docker (`pkg/archive`, `UnpackLayer`)
//! cleans it, joins it to the target and refuses anything that lands
//! outside; we do the same, one component at a time, before any syscall.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The longest entry path we accept, in bytes: the kernel's PATH_MAX. A
/// longer name could not be used inside the container anyway, and the bound
/// keeps every walk over the unpacked tree shallow.
pub const MAX_PATH_LEN: usize = 4096;

/// A normalised path beneath the layer root: no `.`, no `..`, no empty or
/// leading `/` components. No components at all means the root itself.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryPath {
    components: Vec<OsString>,
}

/// Why an entry's path was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    Empty,
    Nul,
    TooLong(usize),
    Escapes,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => write!(f, "empty path"),
            PathError::Nul => write!(f, "path contains a NUL byte"),
            PathError::TooLong(len) => {
                write!(
                    f,
                    "path is {len} bytes, longer than PATH_MAX ({MAX_PATH_LEN})"
                )
            }
            PathError::Escapes => write!(f, "path escapes the layer root"),
        }
    }
}

impl std::error::Error for PathError {}

impl EntryPath {
    // ANCHOR: entry_path
    /// Reads a tar name. Leading `/` is dropped (an absolute name is taken
    /// relative to the layer root, as Docker does), `.` and empty components
    /// vanish, and `..` removes the previous component; a `..` with nothing
    /// left to remove would leave the root, and the whole entry is refused.
    pub fn parse(raw: &[u8]) -> Result<EntryPath, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        // The kernel reads paths as C strings: a NUL would silently cut the
        // name short, so the file would land somewhere else than it says.
        if raw.contains(&0) {
            return Err(PathError::Nul);
        }
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong(raw.len()));
        }
        let mut components: Vec<OsString> = Vec::new();
        for component in raw.split(|&b| b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    if components.pop().is_none() {
                        return Err(PathError::Escapes);
                    }
                }
                name => components.push(OsString::from_vec(name.to_vec())),
            }
        }
        Ok(EntryPath { components })
    }
    // ANCHOR_END: entry_path

    /// The layer root itself (`./` or `/` in a tar).
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The last component; `None` for the root.
    pub fn name(&self) -> Option<&OsStr> {
        self.components.last().map(OsString::as_os_str)
    }

    /// The directories leading to the last component.
    pub fn parent_components(&self) -> &[OsString] {
        match self.components.split_last() {
            Some((_, parent)) => parent,
            None => &[],
        }
    }

    pub fn components(&self) -> &[OsString] {
        &self.components
    }

    /// The path of the parent directory; the root's parent is the root.
    pub fn parent(&self) -> EntryPath {
        EntryPath {
            components: self.parent_components().to_vec(),
        }
    }

    /// This path with one more component.
    pub fn join(&self, name: &OsStr) -> EntryPath {
        let mut components = self.components.clone();
        components.push(name.to_os_string());
        EntryPath { components }
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.components.is_empty() {
            return write!(f, ".");
        }
        for (i, component) in self.components.iter().enumerate() {
            if i > 0 {
                write!(f, "/")?;
            }
            write!(f, "{}", String::from_utf8_lossy(component.as_bytes()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Result<String, PathError> {
        EntryPath::parse(raw.as_bytes()).map(|p| p.to_string())
    }

    #[test]
    fn plain_names_stay_as_they_are() {
        assert_eq!(parsed("bin/sh").unwrap(), "bin/sh");
        assert_eq!(parsed("bin/").unwrap(), "bin");
        assert_eq!(parsed("...").unwrap(), "...");
        assert_eq!(parsed("a/..b/c..").unwrap(), "a/..b/c..");
    }

    #[test]
    fn dots_and_slashes_are_cleaned() {
        assert_eq!(parsed("./a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(parsed("a/../b").unwrap(), "b");
        assert_eq!(parsed("a/b/../../c").unwrap(), "c");
    }

    #[test]
    fn absolute_names_are_taken_from_the_layer_root() {
        assert_eq!(parsed("/etc/x").unwrap(), "etc/x");
        assert_eq!(parsed("///etc//x").unwrap(), "etc/x");
    }

    #[test]
    fn the_root_has_no_components() {
        for raw in ["./", ".", "/", "a/..", "./a/../"] {
            let path = EntryPath::parse(raw.as_bytes()).unwrap();
            assert!(path.is_root(), "{raw}");
            assert_eq!(path.name(), None);
        }
    }

    #[test]
    fn escapes_are_refused() {
        for raw in [
            "..",
            "../x",
            "a/../../x",
            "./../x",
            "/../x",
            "a/b/../../../etc/passwd",
            "a/../..",
        ] {
            assert_eq!(parsed(raw), Err(PathError::Escapes), "{raw}");
        }
    }

    #[test]
    fn empty_nul_and_overlong_names_are_refused() {
        assert_eq!(parsed(""), Err(PathError::Empty));
        assert_eq!(EntryPath::parse(b"etc/pass\0wd"), Err(PathError::Nul));
        let long = "a/".repeat(MAX_PATH_LEN);
        assert_eq!(parsed(&long), Err(PathError::TooLong(long.len())));
    }

    #[test]
    fn the_error_reads_as_a_reason() {
        assert_eq!(
            PathError::Escapes.to_string(),
            "path escapes the layer root"
        );
    }

    #[test]
    fn parent_and_name() {
        let path = EntryPath::parse(b"usr/lib/libc.so").unwrap();
        assert_eq!(path.name(), Some(OsStr::new("libc.so")));
        assert_eq!(path.parent().to_string(), "usr/lib");
        assert_eq!(path.parent().join(OsStr::new("x")).to_string(), "usr/lib/x");
        assert_eq!(EntryPath::parse(b"a").unwrap().parent().to_string(), ".");
    }
}
