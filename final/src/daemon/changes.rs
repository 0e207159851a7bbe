//! `docker diff`: a container's changes to its image, from the upper
//! directory of its overlay snapshot (moby: `daemon/changes.go`, and the
//! overlay2 driver's `Changes`). The walk itself is chapter 02's
//! [`images::layer::changes`]; here the engine finds the snapshot and says
//! which mount points it made itself.

use std::path::Path;

use ::images::layer::{self, Change, InitLayer};
use ::images::snapshot::{self, Snapshotter};
use anyhow::{Context, bail};
use api::ApiError;

use super::Daemon;
use super::container::Container;

// ANCHOR: init_layer
/// What the runtime creates in every container's root as mount targets:
/// the three files bind-mounted over /etc (spec.rs), and /proc, /sys and
/// /dev when the image lacks them. Docker has them in its init layer, below
/// the container's own, so `docker diff` never lists them; neither do we.
pub const INIT_LAYER: InitLayer = InitLayer {
    paths: &[
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/dev",
    ],
};
// ANCHOR_END: init_layer

impl Daemon {
    // ANCHOR: changes
    /// The changes in `container`'s root filesystem, running or not: the
    /// upper directory keeps them either way, mounted or not.
    pub fn changes(&self, container: &Container) -> Result<Vec<Change>, ApiError> {
        let rootfs = container.dir.join("rootfs");
        let result = self.snapshot_changes(&rootfs);
        // Removed while we walked: its files went away under us.
        if result.is_err() && container.is_removed() {
            return Err(ApiError::not_found(format!(
                "No such container: {}",
                container.id
            )));
        }
        Ok(result?)
    }

    fn snapshot_changes(&self, rootfs: &Path) -> anyhow::Result<Vec<Change>> {
        let record = snapshot::at(&self.store, rootfs)?
            .with_context(|| format!("no snapshot at {}", rootfs.display()))?;
        if record.kind != Snapshotter::Overlay {
            bail!(
                "the root at {} is a copy, not an overlay: it has no upper directory to diff",
                rootfs.display()
            );
        }
        // Records written before they named their layers name their image.
        let diff_ids = match (&record.layers[..], &record.image_id) {
            ([], Some(image)) => self.store.resolve(image.hex())?.config.rootfs.diff_ids,
            _ => record.layers.clone(),
        };
        let layers = self.store.unpacked_layers(&diff_ids)?;
        layer::changes(&record.upper(&self.store), &layers, INIT_LAYER)
    }
    // ANCHOR_END: changes
}
