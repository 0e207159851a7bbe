//! The content store: blobs named by their digest, laid out as an OCI image
//! layout (`blobs/sha256/<hex>`), so `skopeo` and `umoci` can read the store
//! as it is. A blob is written to a temp file, checked against its digest,
//! fsynced and renamed: a blob whose bytes do not match its name is never
//! committed. (containerd: `content/local/store.go`.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::atomic;
use crate::digest::{Digest, HashingReader};

/// The marker file of an OCI image layout (image-spec `image-layout.md`).
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Clone, Debug)]
pub struct ContentStore {
    dir: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) an OCI image layout at `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<ContentStore> {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
        let layout = dir.join("oci-layout");
        if !layout.exists() {
            atomic::write_file(&layout, OCI_LAYOUT.as_bytes())?;
        }
        Ok(ContentStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    pub fn size(&self, digest: &Digest) -> anyhow::Result<u64> {
        let path = self.path(digest);
        Ok(fs::metadata(&path)
            .with_context(|| format!("blob {digest} is missing ({})", path.display()))?
            .len())
    }

    pub fn open_blob(&self, digest: &Digest) -> anyhow::Result<File> {
        let path = self.path(digest);
        File::open(&path).with_context(|| format!("blob {digest} is missing ({})", path.display()))
    }

    /// Reads a small blob (a manifest, a config) and checks its digest: a
    /// file changed on disk is caught here rather than trusted.
    pub fn read(&self, digest: &Digest) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading blob {digest}"))?;
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            bail!(
                "blob {digest} is corrupt: its bytes hash to {actual}; remove it and pull or load the image again"
            );
        }
        Ok(bytes)
    }

    pub fn write_bytes(&self, bytes: &[u8]) -> anyhow::Result<Digest> {
        let digest = Digest::of_bytes(bytes);
        if !self.contains(&digest) {
            atomic::write_file(&self.path(&digest), bytes)?;
        }
        Ok(digest)
    }

    // ANCHOR: ingest
    /// Streams a blob in. With `expected`, a mismatch is an error and nothing
    /// is stored; without, the blob is stored under the digest it hashes to.
    pub fn ingest(
        &self,
        input: impl Read,
        expected: Option<&Digest>,
    ) -> anyhow::Result<(Digest, u64)> {
        let mut writer = self.writer()?;
        io::copy(&mut HashingReader::new(input), &mut writer).context("reading blob")?;
        writer.commit(expected)
    }
    // ANCHOR_END: ingest

    /// A temp file that becomes a blob on [`BlobWriter::commit`]: for callers
    /// that produce a blob while doing something else with the same bytes.
    pub fn writer(&self) -> anyhow::Result<BlobWriter> {
        let temp = atomic::temp_path_beside(&self.dir.join("blobs/sha256/ingest"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        Ok(BlobWriter {
            store: self.clone(),
            temp,
            file: Some(crate::digest::HashingWriter::new(file)),
        })
    }

    pub fn delete(&self, digest: &Digest) -> anyhow::Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing blob {digest}"))
            }
            _ => Ok(()),
        }
    }

    /// Every blob in the store.
    pub fn blobs(&self) -> anyhow::Result<Vec<Digest>> {
        let dir = self.dir.join("blobs/sha256");
        let mut digests = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let name = entry?.file_name();
            if let Ok(digest) = format!("sha256:{}", name.to_string_lossy()).parse::<Digest>() {
                digests.push(digest);
            }
        }
        Ok(digests)
    }
}

/// A blob being written: hashed as it goes, removed if dropped uncommitted.
pub struct BlobWriter {
    store: ContentStore,
    temp: PathBuf,
    file: Option<crate::digest::HashingWriter<File>>,
}

impl BlobWriter {
    /// Checks the digest, fsyncs and renames into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> anyhow::Result<(Digest, u64)> {
        let (file, digest, size) = self.file.take().expect("not yet committed").finish();
        if let Some(expected) = expected {
            if expected != &digest {
                bail!(
                    "blob digest mismatch: expected {expected}, the bytes hash to {digest} ({size} bytes); nothing was stored"
                );
            }
        }
        file.sync_all()
            .with_context(|| format!("fsync {}", self.temp.display()))?;
        drop(file);
        if self.store.contains(&digest) {
            fs::remove_file(&self.temp).ok();
        } else {
            atomic::commit(&self.temp, &self.store.path(&digest))?;
        }
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not yet committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_verified_before_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let digest = store.write_bytes(b"config").unwrap();
        assert_eq!(store.read(&digest).unwrap(), b"config");
        assert!(dir.path().join("oci-layout").is_file());

        let liar = Digest::of_bytes(b"something else");
        let err = store.ingest(&b"payload"[..], Some(&liar)).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(!store.contains(&liar) && !store.contains(&Digest::of_bytes(b"payload")));
        assert_eq!(
            store.blobs().unwrap(),
            vec![digest.clone()],
            "no temp file or bad blob left"
        );

        // A blob changed on disk is caught on read.
        fs::write(store.path(&digest), b"tampered").unwrap();
        assert!(
            store
                .read(&digest)
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"half").unwrap();
        drop(w);
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }
}
