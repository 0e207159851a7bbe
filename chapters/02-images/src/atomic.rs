//! State that survives a crash: write a temp file in the same directory,
//! fsync it, rename it over the old one, fsync the directory. rename(2) is
//! atomic within a filesystem, so a reader sees the old file or the new
//! one, never half of either.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A unique temp name beside `path`, in the same directory (and so on the
/// same filesystem, which rename needs).
pub fn temp_path_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(".{name}.tmp-{}-{}", std::process::id(), unique_suffix());
    path.with_file_name(unique)
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (COUNTER.fetch_add(1, Ordering::Relaxed) << 32) | nanos as u64
}

pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = temp_path_beside(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", temp.display()))?;
        file.sync_all()
            .with_context(|| format!("fsync {}", temp.display()))?;
        commit(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Renames a finished temp file into place and makes the rename durable.
pub fn commit(temp: &Path, path: &Path) -> anyhow::Result<()> {
    fs::rename(temp, path)
        .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))?;
    // A bare name ("web.pid") has the parent "", which is the current directory.
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(parent)
}

/// fsync on a directory persists the entries in it (the rename itself).
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_file(&path, b"one").unwrap();
        write_file(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left behind"
        );
        assert!(write_file(&dir.path().join("missing/x"), b"").is_err());
    }
}
