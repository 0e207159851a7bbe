//! One writer at a time per store root: `ch02` and a running daemon may
//! share `/var/lib/minidocker-workshop`. flock(2) locks are released by the
//! kernel when the holder exits, so a crashed writer never leaves the store
//! locked.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};

pub struct StoreLock {
    _lock: Flock<File>,
}

impl StoreLock {
    /// Blocks until this process is the only writer of `root`.
    pub fn exclusive(root: &Path) -> anyhow::Result<StoreLock> {
        let path = root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("flock {}", path.display()))?;
        Ok(StoreLock { _lock: lock })
    }
}
