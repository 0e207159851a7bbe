//! `POST /containers/create`: a container is a directory and a record —
//! the image's layers mounted under a writable one, the files Docker
//! writes for every container, and the merged config. No process yet: the
//! shim and the runtime come at `/start`. (moby: `daemon/create.go`.)

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use api::ApiError;
use api::types::{ContainerConfig, ContainerCreateRequest};
use images::oci::{HealthConfig, RunConfig, RunOverrides};
use images::snapshot::{self, Snapshotter};
use namespaces::etc::{self, EtcOptions};

use super::container::{Container, Record, State};
use super::spec::{self, RunOptions};
use super::{Daemon, explain, image_error, netns};

impl Daemon {
    pub fn create(
        &self,
        name: Option<&str>,
        request: ContainerCreateRequest,
    ) -> Result<Arc<Container>, ApiError> {
        let id = api::names::random_id()?;
        self.create_as(&id, name, request, None)
    }

    /// A create with the ID given; with `snapshot_at`, the snapshot
    /// mounted there becomes the container's root filesystem instead of a
    /// new one of its image — a build's RUN step, kept for inspection.
    pub fn create_as(
        &self,
        id: &str,
        name: Option<&str>,
        request: ContainerCreateRequest,
        snapshot_at: Option<&std::path::Path>,
    ) -> Result<Arc<Container>, ApiError> {
        let mut config = request.config;
        let host_config = request.host_config.with_defaults();
        let options = RunOptions::of(&host_config)?;
        spec::check_supported(&config, &host_config, &options)?;
        spec::validate(&config, &options)?;
        spec::log_rotation(&host_config)?;
        spec::resources(&options).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        let runtime = if options.runtime.is_empty() {
            self.config.default_runtime.clone()
        } else {
            options.runtime.clone()
        };
        self.config
            .runtime(&runtime)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if config.image.is_empty() {
            return Err(ApiError::bad_request(
                "no image given: docker run IMAGE [COMMAND]",
            ));
        }
        let name = match name.filter(|n| !n.is_empty()) {
            Some(wanted) => {
                let wanted = api::names::validate_name(wanted).map_err(ApiError::bad_request)?;
                self.check_name_free(&wanted)?;
                Some(wanted)
            }
            None => None,
        };
        // A 404 here makes the CLI pull and retry: only for a missing image.
        let resolving = api::trace::now();
        let image = self.store.resolve(&config.image).map_err(image_error)?;
        merge_image_config(&mut config, &image.config.config)?;

        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        // ANCHOR: create_snapshot
        let dir = self.config.containers_dir().join(id);
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let trace = self.new_trace(&config, &dir, (resolving, &image));
        let made = (|| -> anyhow::Result<()> {
            let rootfs = dir.join("rootfs");
            let began = api::trace::now();
            let snapshot = match snapshot_at {
                None => snapshot::mount(&self.store, &image, &rootfs, Snapshotter::Overlay)?,
                Some(from) => snapshot::retarget(&self.store, from, &rootfs)?,
            };
            explain::step(trace.as_ref(), began, explain::OVERLAY, || {
                self.mounted(&snapshot)
            });
            super::faults::point("create:snapshot-mounted");
            let etc = EtcOptions {
                hostname: config.hostname.clone(),
                extra_hosts: extra_hosts(options.extra_hosts.as_deref().unwrap_or_default())?,
                dns_servers: options.dns.clone().unwrap_or_default(),
                dns_search: options.dns_search.clone().unwrap_or_default(),
                dns_options: options.dns_options.clone().unwrap_or_default(),
            };
            for (file, contents) in etc::files(&etc) {
                images::atomic::write_file(&dir.join(file), contents.as_bytes())?;
            }
            // The spec built once now, so what it refuses (an unknown
            // capability or user, a missing device) is refused at create.
            let place = spec::Placement {
                bundle: &dir,
                netns: None,
                init: self.config.init.as_deref(),
                cgroup_parent: super::start::CGROUP_PARENT,
            };
            let request = spec::request(id, &config, &host_config, &place)?;
            spec::build(&request, true)?;
            Ok(())
        })();
        if let Err(e) = made {
            self.remove_files(id, &dir, None);
            return Err(ApiError::bad_request(format!("{e:#}")));
        }
        // ANCHOR_END: create_snapshot

        let mut table = self.table();
        let name = match name {
            Some(name) => name,
            None => (0..)
                .map(|attempt| api::names::generated_name(id, attempt))
                .find(|n| table.values().all(|c| &c.record().name != n))
                .unwrap_or_default(),
        };
        // Checked again under the lock: two creates may race for one name.
        if let Some(holder) = table.values().find(|c| c.record().name == name) {
            let error = name_conflict(&name, &holder.id);
            drop(table);
            self.remove_files(id, &dir, None);
            return Err(error);
        }
        let recording = api::trace::now();
        let record = Record {
            id: id.to_string(),
            name,
            created: api::timefmt::rfc3339_nanos(SystemTime::now()),
            image_id: image.id.to_string(),
            config,
            host_config,
            state: State {
                status: "created".into(),
                pid: 0,
                exit_code: 0,
                oom_killed: false,
                error: String::new(),
                started_at: None,
                finished_at: None,
                starting: false,
                removing: false,
                health: None,
            },
            runtime,
            restart_count: 0,
            manually_stopped: false,
        };
        let container = Arc::new(Container::new(&dir, record.clone()));
        // The record last: a directory without one is a create that did not finish.
        if let Err(e) = container.update(|_| {}) {
            drop(table);
            self.remove_files(id, &dir, None);
            return Err(e.into());
        }
        table.insert(id.to_string(), Arc::clone(&container));
        drop(table);
        container.step(
            recording,
            "engine.md#create-a-directory-a-mount-a-record",
            || {
                format!(
                    "{} written: created, no process yet",
                    Container::config_path(&dir).display()
                )
            },
        );
        self.container_event(&record, "create", &[]);
        Ok(container)
    }

    pub fn check_name_free(&self, name: &str) -> Result<(), ApiError> {
        match self.name_holder(name) {
            Some(holder) => Err(name_conflict(name, &holder)),
            None => Ok(()),
        }
    }

    /// Everything of a container on disk and in the kernel: the snapshot's
    /// mount, its network namespace, its shim's directory, its directory.
    /// A traced container's trace is kept before its directory goes.
    pub fn remove_files(&self, id: &str, dir: &std::path::Path, traced: Option<&Container>) {
        let step = |at: u64, what: &dyn Fn() -> String| {
            if let Some(container) = traced {
                container.step(at, "engine.md#stop-and-rm", what);
            }
        };
        let began = api::trace::now();
        let rootfs = dir.join("rootfs");
        if let Err(e) = snapshot::unmount(&self.store, &rootfs) {
            self.debug(format!("unmounting {}: {e:#}", rootfs.display()));
        }
        step(began, &|| {
            format!(
                "umount2({}, MNT_DETACH): the overlay is gone, its upper too",
                rootfs.display()
            )
        });
        let began = api::trace::now();
        let netns = netns::path_for(&self.config.exec_root, id);
        netns::remove(&netns);
        step(began, &|| {
            format!("network namespace {} unmounted", netns.display())
        });
        let began = api::trace::now();
        let _ = fs::remove_dir_all(runtime::shim::shim_dir(&self.config.shim_root(), id));
        step(began, &|| "the shim's directory removed".into());
        super::faults::point("remove:files-removed");
        if let Some(container) = traced {
            container.moment("engine.md#stop-and-rm", || {
                format!("{} removed last: the container is gone", dir.display())
            });
            self.keep_trace(container);
        }
        // The record last: until it goes, a restart finds what is left.
        if let Err(e) = fs::remove_dir_all(dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("minidockerd: removing {}: {e}", dir.display());
            }
        }
    }
}

pub fn name_conflict(name: &str, holder: &str) -> ApiError {
    ApiError::conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    ))
}

// ANCHOR: merge
/// Config as inspect shows it: the image's config under the request's.
/// `--entrypoint` drops the image's CMD with its ENTRYPOINT (Docker's rule).
fn merge_image_config(config: &mut ContainerConfig, image: &RunConfig) -> Result<(), ApiError> {
    let overrides = RunOverrides {
        entrypoint: config.entrypoint.clone(),
        cmd: config.cmd.clone().unwrap_or_default(),
        env: config.env.clone().unwrap_or_default(),
        ..RunOverrides::default()
    };
    let process = image
        .merged(&overrides)
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    if config.entrypoint.is_none() {
        config.entrypoint = image.entrypoint.clone().filter(|e| !e.is_empty());
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            config.cmd = image.cmd.clone();
        }
    }
    config.env = Some(process.env);
    if config.working_dir.is_empty() {
        config.working_dir = image.working_dir.clone();
    }
    if config.user.is_empty() {
        config.user = image.user.clone();
    }
    if config.stop_signal.as_deref().is_none_or(str::is_empty) && !image.stop_signal.is_empty() {
        config.stop_signal = Some(image.stop_signal.clone());
    }
    let mut labels: BTreeMap<String, String> = image.labels.clone();
    labels.extend(config.labels.take().unwrap_or_default());
    config.labels = Some(labels);
    merge_health_check(config, image)?;
    if let Some(shell) = &image.shell {
        config
            .extra
            .entry("Shell")
            .or_insert_with(|| serde_json::json!(shell));
    }
    Ok(())
}

/// The image's HEALTHCHECK under `--health-*`, field by field, as moby's
/// `merge` does: what the request leaves empty, the image's fills.
fn merge_health_check(config: &mut ContainerConfig, image: &RunConfig) -> Result<(), ApiError> {
    let Some(from_image) = &image.healthcheck else {
        return Ok(());
    };
    let given = config.extra.get("Healthcheck").filter(|v| !v.is_null());
    let mut check: HealthConfig = match given {
        None => from_image.clone(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid Healthcheck: {e}")))?,
    };
    if check.test.is_empty() {
        check.test = from_image.test.clone();
    }
    for (mine, theirs) in [
        (&mut check.interval, from_image.interval),
        (&mut check.timeout, from_image.timeout),
        (&mut check.start_period, from_image.start_period),
        (&mut check.start_interval, from_image.start_interval),
        (&mut check.retries, from_image.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
    config
        .extra
        .insert("Healthcheck".into(), serde_json::json!(check));
    Ok(())
}
// ANCHOR_END: merge

/// `--add-host NAME:ADDRESS` (the CLI sends `NAME:ADDRESS`; IPv6
/// addresses have colons of their own, so the name is up to the first).
fn extra_hosts(entries: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    entries
        .iter()
        .map(|entry| {
            let (name, address) = entry
                .split_once([':', '='])
                .with_context(|| format!("--add-host {entry:?}: use NAME:ADDRESS"))?;
            let address = address.trim_start_matches('[').trim_end_matches(']');
            address.parse::<std::net::IpAddr>().with_context(|| {
                format!("--add-host {entry:?}: {address:?} is not an IP address")
            })?;
            Ok((name.to_string(), address.to_string()))
        })
        .collect()
}
