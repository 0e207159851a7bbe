//! The daemon's state and its managers, one module per verb as in moby's
//! `daemon/`: [`create`], [`start`] (and the monitor that sees a
//! container exit), [`stop`] (stop, kill, remove), [`attach`], [`exec`],
//! [`logs`], [`spec`] (a create request onto chapter 05's spec builder),
//! [`images`].

pub mod archive;
pub mod attach;
pub mod build;
pub mod changes;
pub mod commit;
pub mod container;
pub mod create;
pub mod df;
pub mod events;
pub mod exec;
pub mod explain;
pub mod faults;
pub mod health;
pub mod images;
pub mod logs;
pub mod netns;
pub mod restart;
pub mod spec;
pub mod start;
pub mod stats;
pub mod stop;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Once};

use ::images::error::StoreError;
use ::images::store::ImageStore;
use anyhow::Context;
use api::ApiError;

use crate::config::DaemonConfig;
use container::{Container, Record};
use exec::Exec;

pub struct Daemon {
    pub config: DaemonConfig,
    pub store: ImageStore,
    /// By ID.
    containers: Mutex<BTreeMap<String, Arc<Container>>>,
    /// Exec sessions by ID (in memory, as dockerd keeps them).
    pub execs: Mutex<HashMap<String, Arc<Exec>>>,
    /// The "no network yet" notice goes to the log once.
    pub network_notice: Once,
    /// Set by [`Daemon::shutdown`]: the exits it causes restart nothing.
    pub shutting_down: AtomicBool,
    pub events: events::Events,
    /// The traces of removed containers (`--explain`).
    pub kept_traces: explain::KeptTraces,
}

impl Daemon {
    /// Opens the data root and finds the containers a previous daemon left.
    pub fn open(config: DaemonConfig) -> anyhow::Result<Arc<Daemon>> {
        for dir in [&config.data_root, &config.exec_root] {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let store = ImageStore::open(&config.data_root)?;
        let containers_dir = config.containers_dir();
        fs::create_dir_all(&containers_dir)
            .with_context(|| format!("creating {}", containers_dir.display()))?;
        let config_data_root = config.data_root.clone();
        let daemon = Arc::new(Daemon {
            config,
            store,
            containers: Mutex::new(BTreeMap::new()),
            execs: Mutex::new(HashMap::new()),
            network_notice: Once::new(),
            shutting_down: AtomicBool::new(false),
            events: events::Events::open(events::path(&config_data_root)),
            kept_traces: Default::default(),
        });
        // ANCHOR: find_containers
        let mut found = Vec::new();
        for entry in fs::read_dir(&containers_dir)? {
            let dir = entry?.path();
            let path = Container::config_path(&dir);
            let Ok(bytes) = fs::read(&path) else {
                // A create that died before its record was written.
                eprintln!(
                    "minidockerd: {} has no container.json: a create interrupted by a crash; removing it",
                    dir.display()
                );
                // Unmounted first: its snapshot may still be mounted there.
                let id = dir.file_name().unwrap_or_default().to_string_lossy();
                daemon.remove_files(&id, &dir, None);
                continue;
            };
            let record: Record = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is corrupt", path.display()))?;
            if record.state.removing {
                // A removal the previous daemon did not finish.
                daemon.remove_files(&record.id, &dir, None);
                continue;
            }
            let container = Arc::new(Container::found(&dir, record));
            daemon
                .table()
                .insert(container.id.clone(), Arc::clone(&container));
            found.push(container);
        }
        // ANCHOR_END: find_containers
        // ANCHOR: reattach
        // Reattached in the background, one thread each: the daemon serves
        // at once, and a request for a container waits for its own only.
        for container in found {
            let daemon = Arc::clone(&daemon);
            std::thread::spawn(move || {
                daemon.restore(&container);
                container.mark_restored();
                daemon.restart_at_boot(&container);
            });
        }
        // ANCHOR_END: reattach
        Ok(daemon)
    }

    pub fn table(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Container>>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every container, oldest first.
    pub fn containers(&self) -> Vec<Arc<Container>> {
        let mut all: Vec<_> = self.table().values().cloned().collect();
        all.sort_by_key(|c| c.record().created.clone());
        all
    }

    // ANCHOR: resolve
    /// Finds a container by full ID, name or unique ID prefix
    /// (chapter 01's rule, `api::containers::resolve`).
    pub fn resolve(&self, reference: &str) -> Result<Arc<Container>, ApiError> {
        let table = self.table();
        let candidates = table
            .values()
            .map(|c| (c.id.clone(), c.record().name.clone(), Arc::clone(c)));
        let container = api::containers::resolve(reference, candidates.collect())?;
        drop(table);
        container.wait_restored();
        Ok(container)
    }
    // ANCHOR_END: resolve

    /// The container that holds `name`, if any.
    pub fn name_holder(&self, name: &str) -> Option<String> {
        self.table()
            .values()
            .find(|c| c.record().name == name)
            .map(|c| c.id.clone())
    }

    pub fn debug(&self, message: impl AsRef<str>) {
        if self.config.debug {
            eprintln!("minidockerd: debug: {}", message.as_ref());
        }
    }
}

/// The store's failures as the Engine API answers them.
pub fn image_error(error: anyhow::Error) -> ApiError {
    match error.downcast_ref::<StoreError>() {
        Some(StoreError::NotFound { name, .. }) => {
            ApiError::not_found(format!("No such image: {name}"))
        }
        Some(e @ StoreError::Ambiguous { .. }) => ApiError::bad_request(e.to_string()),
        Some(e @ StoreError::InUse { .. }) => ApiError::conflict(e.to_string()),
        None => ApiError::from(error),
    }
}
