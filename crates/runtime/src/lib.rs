//! Container runtime driver for the minato node agent (plays containerd + shim).
//!
//! Each container gets a bundle directory `<state_dir>/containers/<id>/` holding:
//! - `record.json`  static metadata written at create (the [`ContainerRecord`] without state),
//! - `config.json`  the OCI runtime config, `rootfs/` (overlay mount point),
//! - `shim.json`    what the shim needs, `shim.pid`, `shim.log` (the shim's own diagnostics),
//! - `started.json` written by the shim after `runc start` (pid + its /proc start time),
//! - `status.json`  written atomically by the shim when the init process was reaped,
//! - `stdin`        a fifo when the container has `stdin: true` (open it for writing to attach).
//!
//! What a container writes (the overlay's `upper/` and `work/`, or a copied rootfs) lives in
//! `<state_dir>/layers/<id>/`, apart from the bundle, so the agent can keep bundles on tmpfs.
//!
//! Everything is re-read from disk on every query, so a restarted agent sees the same
//! containers (see [`Runtime::containers`] for how state is derived).
//!
//! The shim entry point ([`shim::main`]) forks at its very start: call it before any
//! threads or async runtime exist in the process.

pub mod bundle;
pub mod cgroups;
pub mod exec;
pub mod logs;
pub mod pid_holder;
pub mod records;
pub mod rootfs;
pub mod runc;
pub mod seccomp;
pub mod shim;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use cgroups::{CgroupMode, Usage};
pub use exec::{ExecProcess, ExecSpec};
pub use pid_holder::PidHolder;

/// Errors of the runtime driver. Messages say what failed and, where possible, what to do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no OCI runtime found: {0}")]
    NoRuntime(String),
    #[error("OCI runtime {binary} failed ({what}): {stderr}")]
    Runc {
        binary: String,
        what: String,
        stderr: String,
    },
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("container {0} is still running; kill it and wait for it to exit first")]
    StillRunning(String),
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    #[error("container {id} failed to start: {message}")]
    StartFailed { id: String, message: String },
    #[error("cgroup error: {0}")]
    Cgroup(String),
    #[error("OCI spec error: {0}")]
    Oci(String),
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}

pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, RuntimeError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, RuntimeError> {
        self.map_err(|e| RuntimeError::io(context(), e))
    }
}

/// Configuration of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// e.g. `<data-dir>/agent/runtime`: container records, bundles, rootfs mounts, runc state.
    pub state_dir: PathBuf,
    /// A path, or `runc`/`crun` looked up on PATH. `None`: crun when it is usable on this
    /// host, else runc.
    pub runtime_binary: Option<PathBuf>,
    /// Absolute cgroup path prefix, e.g. `/minato`.
    pub cgroup_root: String,
    /// The minato binary; the shim runs as `<shim_binary> shim --bundle <dir>`.
    pub shim_binary: PathBuf,
}

/// What [`Runtime::info`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub name: String,
    pub version: String,
    pub cgroup_mode: CgroupMode,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Namespaces of a container. PID and mount namespaces are always new unless `host_pid`.
///
/// Paths are namespaces to JOIN (e.g. the pod's `/var/run/netns/<name>`, or a
/// [`PidHolder`]'s PID namespace); `None` means a new private namespace. `host_network` / `host_ipc` / `host_pid` share the host's namespace
/// (the one the agent runs in) instead; `host_network` also shares the host's UTS namespace,
/// as the kubelet does for `hostNetwork` pods. A host flag wins over a path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    pub network: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// The pod's shared PID namespace (`shareProcessNamespace`).
    #[serde(default)]
    pub pid: Option<PathBuf>,
    pub host_network: bool,
    pub host_ipc: bool,
    pub host_pid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountKind {
    Bind,
    Tmpfs { size: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
    pub kind: MountKind,
}

/// cgroup limits. CPU values use the cgroup v1 units (shares, quota/period in µs);
/// they are converted for cgroup v2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub memory_limit: Option<i64>,
    pub pids_limit: Option<i64>,
}

/// Everything needed to create a container. Derives `Default` so callers can write
/// `ContainerSpec { id, args, ..Default::default() }`.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Unique, `[a-z0-9-]`, at most 64 characters.
    pub id: String,
    pub pod_uid: String,
    pub container_name: String,
    pub attempt: u32,
    pub image: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    /// Image layer directories, lowest first, overlay-ready.
    pub layers: Vec<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `/` when empty.
    pub cwd: String,
    pub user: Option<User>,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    /// Only used when the UTS namespace is private.
    pub hostname: Option<String>,
    pub namespaces: Namespaces,
    /// A mount with destination `/dev/shm` replaces the default private one.
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    /// Absolute, e.g. `/minato/burstable/pod<uid>/<id>`.
    pub cgroup_path: String,
    pub log_path: PathBuf,
    pub privileged: bool,
    /// `NET_ADMIN` style (the `CAP_` prefix is optional); `ALL` is understood.
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    pub readonly_rootfs: bool,
    pub seccomp: seccomp::Seccomp,
    /// The signal that asks the container to stop (the image's STOPSIGNAL); None: SIGTERM.
    pub stop_signal: Option<i32>,
    /// Written under /proc/sys in the container's namespaces (the pod's sysctls).
    pub sysctls: std::collections::HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Created,
    Running {
        pid: u32,
        started_at: SystemTime,
    },
    Exited {
        exit_code: i32,
        signal: Option<i32>,
        started_at: Option<SystemTime>,
        finished_at: SystemTime,
        oom_killed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub pod_uid: String,
    pub container_name: String,
    pub attempt: u32,
    pub image: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub created_at: SystemTime,
    pub log_path: PathBuf,
    pub cgroup_path: String,
    /// The signal that asks the container to stop; None: SIGTERM.
    pub stop_signal: Option<i32>,
    pub state: ContainerState,
    /// Why the state is what it is when that is not obvious (e.g. "shim died: exit status
    /// unknown", a start failure). `None` normally.
    pub message: Option<String>,
}

struct Inner {
    cfg: RuntimeConfig,
    runc: runc::Runc,
    cgroups: cgroups::Cgroups,
}

/// The runtime driver. Cheap to clone; all state lives on disk.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("state_dir", &self.inner.cfg.state_dir)
            .field("runtime", &self.inner.runc.binary)
            .finish()
    }
}

/// How long `create_container` waits for the shim to report the container started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Runtime {
    /// Detects the OCI runtime binary and the cgroup mode.
    pub fn new(cfg: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        if !cfg.cgroup_root.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "cgroup_root {:?} must be an absolute cgroup path such as /minato",
                cfg.cgroup_root
            )));
        }
        let cgroups = cgroups::Cgroups::detect()?;
        std::fs::create_dir_all(cfg.state_dir.join("containers"))
            .ctx(|| format!("creating state dir {}", cfg.state_dir.display()))?;
        let runc = runc::Runc::detect(cfg.runtime_binary.as_deref(), &cfg.state_dir, &cgroups)?;
        let rt = Runtime {
            inner: Arc::new(Inner { cfg, runc, cgroups }),
        };
        rt.remove_orphan_layers();
        Ok(rt)
    }

    pub fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            name: self.inner.runc.name.clone(),
            version: self.inner.runc.version.clone(),
            cgroup_mode: self.inner.cgroups.mode,
        }
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.cfg
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.inner.cfg.state_dir.join("containers").join(id)
    }

    /// What the container writes (overlay upper/work, or a copied rootfs): kept apart from
    /// the bundle so that the bundle can live on tmpfs while this stays on disk.
    fn rw_dir(&self, id: &str) -> PathBuf {
        self.inner.cfg.state_dir.join("layers").join(id)
    }

    /// Writable layers whose bundle is gone (a reboot emptied the bundles' tmpfs): nothing
    /// runs from them any more.
    fn remove_orphan_layers(&self) {
        let Ok(rd) = std::fs::read_dir(self.inner.cfg.state_dir.join("layers")) else {
            return;
        };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !self.bundle_dir(&id).exists() && !rootfs::is_mounted(&e.path().join("rootfs")) {
                tracing::info!(container = %id, "removing the writable layer of a container that is gone");
                if let Err(err) = std::fs::remove_dir_all(e.path()) {
                    tracing::warn!(container = %id, error = %err, "cannot remove an orphan writable layer");
                }
            }
        }
    }

    /// The runtime that created container `id` (recorded in its shim config), so that
    /// containers outlive a change of the configured runtime.
    fn runc_for(&self, id: &str) -> runc::Runc {
        let cfg = std::fs::read(self.bundle_dir(id).join(shim::SHIM_CONFIG))
            .ok()
            .and_then(|b| serde_json::from_slice::<shim::ShimConfig>(&b).ok());
        match cfg {
            Some(c) => self.inner.runc.for_container(c.runtime, c.runtime_root),
            None => self.inner.runc.clone(),
        }
    }

    /// The directory holding what a container wrote to its root filesystem: the overlay's
    /// upper layer, or the copied rootfs where overlay is not available (the eviction
    /// manager measures it against ephemeral-storage limits).
    pub fn writable_layer_dir(&self, id: &str) -> PathBuf {
        let (rw, bundle) = (self.rw_dir(id), self.bundle_dir(id));
        // Containers of older agents keep their layer in the bundle.
        [rw.join("upper"), rw.join("rootfs"), bundle.join("upper")]
            .into_iter()
            .find(|d| d.exists())
            .unwrap_or_else(|| bundle.join("rootfs"))
    }

    /// Starts the init process of a shared PID namespace for a pod (see [`pid_holder`]).
    pub async fn start_pid_holder(&self) -> Result<PidHolder, RuntimeError> {
        let empty = self.inner.cfg.state_dir.join("empty-root");
        pid_holder::start(&self.inner.cfg.shim_binary, &empty).await
    }

    /// Creates the pod-level cgroup (e.g. `/minato/burstable/pod<uid>`) with optional limits.
    pub fn ensure_pod_cgroup(&self, path: &str, res: &Resources) -> Result<(), RuntimeError> {
        self.inner.cgroups.ensure(path, res)
    }

    /// Removes a cgroup and everything below it in every hierarchy (retries while busy).
    pub fn remove_pod_cgroup(&self, path: &str) -> Result<(), RuntimeError> {
        self.inner.cgroups.remove(path)
    }

    pub fn cgroup_usage(&self, cgroup_path: &str) -> Result<Usage, RuntimeError> {
        self.inner.cgroups.usage(cgroup_path)
    }

    pub fn node_usage(&self) -> Result<Usage, RuntimeError> {
        cgroups::node_usage()
    }

    /// Creates and starts a container under a detached shim that outlives the caller.
    pub async fn create_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<ContainerRecord, RuntimeError> {
        if !valid_id(&spec.id) {
            return Err(RuntimeError::InvalidSpec(format!(
                "container id {:?} must be 1-64 characters of [a-z0-9-]",
                spec.id
            )));
        }
        if spec.args.is_empty() {
            return Err(RuntimeError::InvalidSpec(format!(
                "container {}: no command (args is empty)",
                spec.id
            )));
        }
        if !spec.cgroup_path.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "container {}: cgroup_path {:?} must be absolute",
                spec.id, spec.cgroup_path
            )));
        }
        let bundle = self.bundle_dir(&spec.id);
        match std::fs::create_dir(&bundle) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::AlreadyExists(spec.id.clone()))
            }
            Err(e) => {
                return Err(RuntimeError::io(
                    format!("creating {}", bundle.display()),
                    e,
                ))
            }
        }
        let this = self.clone();
        let id = spec.id.clone();
        let res = this.create_inner(spec, &bundle).await;
        if let Err(e) = &res {
            tracing::warn!(container = %id, error = %e, "container create failed; cleaning up");
            let this = self.clone();
            let id2 = id.clone();
            let _ = tokio::task::spawn_blocking(move || this.cleanup_bundle(&id2, true)).await;
        }
        res
    }

    async fn create_inner(
        &self,
        spec: ContainerSpec,
        bundle: &Path,
    ) -> Result<ContainerRecord, RuntimeError> {
        let t0 = std::time::Instant::now();
        let static_rec = records::StaticRecord::from_spec(&spec, SystemTime::now());
        records::write_json_atomic(&bundle.join(records::RECORD_FILE), &static_rec)?;

        // rootfs (overlay or copy) can take a while: keep it off the async threads.
        let layers = spec.layers.clone();
        let b = bundle.to_path_buf();
        let rw = self.rw_dir(&spec.id);
        let root = tokio::task::spawn_blocking(move || rootfs::prepare(&layers, &b, &rw))
            .await
            .map_err(|e| RuntimeError::Other(format!("rootfs task failed: {e}")))??;
        let rootfs_took = t0.elapsed();

        let config = bundle::build_spec(&spec, &root)?;
        config
            .save(bundle.join("config.json"))
            .map_err(|e| RuntimeError::Oci(format!("writing config.json: {e}")))?;

        if let Some(dir) = spec.log_path.parent() {
            std::fs::create_dir_all(dir).ctx(|| format!("creating log dir {}", dir.display()))?;
        }
        let shim_cfg = shim::ShimConfig {
            id: spec.id.clone(),
            bundle: bundle.to_path_buf(),
            runtime: self.inner.runc.binary.clone(),
            runtime_root: self.inner.runc.root.clone(),
            log_path: spec.log_path.clone(),
            tty: spec.tty,
            stdin: spec.stdin,
            stdin_once: spec.stdin_once,
            cgroup_path: spec.cgroup_path.clone(),
            oom_files: self.inner.cgroups.oom_files(&spec.cgroup_path),
        };
        records::write_json_atomic(&bundle.join(shim::SHIM_CONFIG), &shim_cfg)?;
        shim::spawn(&self.inner.cfg.shim_binary, bundle).await?;
        let shim_at = t0.elapsed();

        // Wait for the shim to report either a started container or a failure.
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let mut delay = Duration::from_millis(2);
        loop {
            let st = records::read_dynamic(bundle)?;
            if let Some(status) = &st.status {
                if let Some(err) = &status.error {
                    return Err(RuntimeError::StartFailed {
                        id: spec.id.clone(),
                        message: err.clone(),
                    });
                }
            }
            if st.started.is_some() || st.status.is_some() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(RuntimeError::StartFailed {
                    id: spec.id.clone(),
                    message: format!(
                        "the shim did not report within {START_TIMEOUT:?}; see {}",
                        bundle.join("shim.log").display()
                    ),
                });
            }
            if !st.shim_alive() && st.started.is_none() && st.status.is_none() {
                // Re-read once: the shim may have written its file just before exiting.
                let st = records::read_dynamic(bundle)?;
                if st.started.is_none() && st.status.is_none() {
                    let log = std::fs::read_to_string(bundle.join("shim.log")).unwrap_or_default();
                    return Err(RuntimeError::StartFailed {
                        id: spec.id.clone(),
                        message: format!("the shim exited without starting it: {}", log.trim()),
                    });
                }
                continue;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
        // Start-up latency split by phase (the runtime's own run is the last one).
        tracing::debug!(
            container = %spec.id,
            rootfs_ms = rootfs_took.as_millis() as u64,
            shim_spawned_ms = shim_at.as_millis() as u64,
            started_ms = t0.elapsed().as_millis() as u64,
            "container started"
        );
        self.container(&spec.id)?
            .ok_or_else(|| RuntimeError::NotFound(spec.id.clone()))
    }

    /// Every known container with its current state.
    ///
    /// State: `status.json` present → Exited as the shim recorded it. Else `started.json`
    /// present → Running while that pid lives and is the same process (its /proc start time
    /// matches the one saved at start). If the process is gone and the shim is gone too
    /// (killed before writing the status), the container is reported Exited with exit code
    /// 255 and a `message` saying the status is unknown. Neither file: Created while the
    /// shim lives, else Exited 255 ("shim died before the container started").
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, RuntimeError> {
        self.containers_with_prefix("")
    }

    /// As [`Runtime::containers`], only for container ids starting with `prefix` (callers
    /// that put an owner's key first in their ids read only their own records).
    pub fn containers_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<ContainerRecord>, RuntimeError> {
        let dir = self.inner.cfg.state_dir.join("containers");
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&dir).ctx(|| format!("reading {}", dir.display()))?;
        for e in entries {
            let e = e.ctx(|| format!("reading {}", dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) {
                continue;
            }
            match records::load(&e.path()) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(container = %name, error = %err, "unreadable container record")
                }
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>, RuntimeError> {
        if !valid_id(id) {
            return Ok(None);
        }
        records::load(&self.bundle_dir(id))
    }

    /// Waits (polling) until the container has exited and returns its final record.
    pub async fn wait_exited(&self, id: &str) -> Result<ContainerRecord, RuntimeError> {
        loop {
            match self.container(id)? {
                None => return Err(RuntimeError::NotFound(id.to_string())),
                Some(r) if matches!(r.state, ContainerState::Exited { .. }) => return Ok(r),
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Sends `signal` to the container's init. No error if it already exited.
    pub fn kill(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let rec = self
            .container(id)?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        match rec.state {
            ContainerState::Exited { .. } => Ok(()),
            ContainerState::Running { .. } => {
                let st = records::read_dynamic(&self.bundle_dir(id))?;
                if let Some(started) = st.started {
                    if records::same_process(started.pid, started.pid_start_time) {
                        let sig = nix::sys::signal::Signal::try_from(signal).map_err(|_| {
                            RuntimeError::InvalidSpec(format!("invalid signal {signal}"))
                        })?;
                        match nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(started.pid as i32),
                            sig,
                        ) {
                            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                            Err(e) => {
                                return Err(RuntimeError::Other(format!(
                                    "kill {} (pid {}): {e}",
                                    id, started.pid
                                )))
                            }
                        }
                    }
                }
                Ok(())
            }
            ContainerState::Created => {
                // Not started yet: only runc knows the init pid for sure.
                let _ = self.runc_for(id).kill(id, signal);
                Ok(())
            }
        }
    }

    /// Removes an exited container: runtime delete, cgroup, rootfs unmount, bundle. Keeps the log.
    pub async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let rec = self
            .container(id)?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        if !matches!(rec.state, ContainerState::Exited { .. }) {
            return Err(RuntimeError::StillRunning(id.to_string()));
        }
        let this = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || this.cleanup_bundle(&id, false))
            .await
            .map_err(|e| RuntimeError::Other(format!("remove task failed: {e}")))?
    }

    fn cleanup_bundle(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let bundle = self.bundle_dir(id);
        let cgroup_path = records::read_static(&bundle).ok().map(|r| r.cgroup_path);
        if let Err(e) = self.runc_for(id).delete(id, force) {
            // A container runc never created (or already deleted) is fine; anything else is
            // logged but does not block cleanup: force delete on the next try would hit it again.
            tracing::debug!(container = %id, error = %e, "runtime delete");
        }
        if let Some(cg) = cgroup_path {
            if cg.starts_with('/') && cg.len() > 1 {
                self.inner.cgroups.remove(&cg)?;
            }
        }
        rootfs::teardown(&bundle)?;
        for dir in [self.rw_dir(id), bundle] {
            rootfs::remove_any(&dir).ctx(|| format!("removing {}", dir.display()))?;
        }
        Ok(())
    }

    /// Runs a process in a running container (`runc exec`).
    pub async fn exec(&self, id: &str, spec: ExecSpec) -> Result<ExecProcess, RuntimeError> {
        let rec = self
            .container(id)?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        if !matches!(rec.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Other(format!(
                "container {id} is not running; exec needs a running container"
            )));
        }
        exec::spawn(
            &self.runc_for(id),
            &self.inner.cfg.shim_binary,
            &self.bundle_dir(id),
            id,
            spec,
        )
        .await
    }

    /// Path of the stdin fifo of a container created with `stdin: true` (open it for
    /// writing to attach; with `stdin_once` closing it closes the container's stdin).
    pub fn stdin_path(&self, id: &str) -> Option<PathBuf> {
        let p = self.bundle_dir(id).join(shim::STDIN_FIFO);
        p.exists().then_some(p)
    }
}
