//! Engine API request and response bodies, named and shaped as in the API
//! reference (moby: `api/types`). Fields the daemon does not act on yet are
//! kept in `extra`, so inspect shows the client what it sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `Cmd` and `Entrypoint` may be a JSON array or a single string.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a string or a list of strings")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// Deserializes `value`, naming the field that is wrong
/// (`HostConfig.Memory: invalid type: string "lots", expected i64`).
/// serde loses the path inside `#[serde(flatten)]`, which these types use
/// to keep unknown fields: then each top-level field is tried alone.
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    let error = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(parsed) => return Ok(parsed),
        Err(e) if e.path().to_string() != "." => return Err(e.to_string()),
        Err(e) => e.into_inner().to_string(),
    };
    if let Value::Object(fields) = value {
        for (key, field) in fields {
            let alone = Value::Object(Map::from_iter([(key.clone(), field)]));
            if let Err(e) = serde_path_to_error::deserialize::<_, T>(alone) {
                let path = e.path().to_string();
                let path = if path == "." { key } else { path };
                return Err(format!("{path}: {}", e.into_inner()));
            }
        }
    }
    Err(error)
}

/// The PATH a container gets when neither its image nor its config sets
/// one: Docker's default (moby's `oci.DefaultPathEnv`), for every layer.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The container's configuration: the top level of a create request, and
/// `Config` in inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "string_or_list")]
    pub cmd: Option<Vec<String>>,
    #[serde(deserialize_with = "string_or_list")]
    pub entrypoint: Option<Vec<String>>,
    pub image: String,
    pub working_dir: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// How the container runs on the host: limits, mounts, networks, ...
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub auto_remove: bool,
    pub network_mode: String,
    pub log_config: LogConfig,
    pub restart_policy: RestartPolicy,
    /// [height, width] of the terminal, when `Tty` is set.
    pub console_size: Option<[u32; 2]>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HostConfig {
    /// Fills in what dockerd stores when the client left it empty; readers of
    /// inspect (the CLI, docker-py) rely on these being present.
    pub fn with_defaults(mut self) -> HostConfig {
        if self.network_mode.is_empty() || self.network_mode == "default" {
            self.network_mode = "bridge".into();
        }
        if self.log_config.kind.is_empty() {
            self.log_config.kind = "json-file".into();
        }
        if self.restart_policy.name.is_empty() {
            self.restart_policy.name = "no".into();
        }
        self
    }
}

/// `POST /containers/create`: the config at the top level plus `HostConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub networking_config: Option<Value>,
}

// `flatten` of `config` would also swallow HostConfig into `config.extra`:
// these keys are read by their own fields, so drop the copies.
impl ContainerCreateRequest {
    pub fn normalize(mut self) -> ContainerCreateRequest {
        self.config.extra.remove("HostConfig");
        self.config.extra.remove("NetworkingConfig");
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// created, running, paused, restarting, removing, exited or dead.
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// With a health check: `{"Status", "FailingStreak", "Log"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub ports: BTreeMap<String, Option<Vec<Value>>>,
    pub networks: BTreeMap<String, Value>,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
}

/// `GET /containers/{id}/json`. `Config`, `State` and `NetworkSettings` must
/// always be objects: the CLI dereferences them without checking.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub log_path: String,
    pub host_config: HostConfig,
    pub config: ContainerConfig,
    pub network_settings: NetworkSettings,
    pub mounts: Vec<Value>,
}

/// One row of `GET /containers/json` (`docker ps`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub state: String,
    /// "Up 5 seconds", "Exited (0) 3 seconds ago", "Created".
    pub status: String,
    pub ports: Vec<Value>,
    pub labels: BTreeMap<String, String>,
    pub host_config: Value,
    pub network_settings: Value,
    pub mounts: Vec<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    pub status_code: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<WaitError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    pub details: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VersionResponse {
    pub platform: Platform,
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}
