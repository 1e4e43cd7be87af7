//! The node agent: the kubelet's job in minato. It registers this machine as a Node (capacity,
//! addresses, nodeInfo, conditions) and keeps its Lease fresh, runs the pods bound to it as
//! real Linux containers (images from [`minato_images`], containers by runc/crun through
//! [`minato_runtime`], sandboxes and the pod network by [`minato_podnet`]), reports their
//! status, and serves logs, exec, attach and port-forward to the API server
//! ([`server`]). Like every other component it is only an API client (the `kube` crate).
//!
//! Containers run under their own shims, so stopping the agent (even `kill -9`) leaves them
//! running; on start the agent re-adopts them from the runtime's records.

pub mod eviction;
pub mod host;
pub mod logs;
pub mod netns;
pub mod node;
pub mod pods;
pub mod server;
pub mod statefs;
pub mod stats;
pub mod thresholds;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use tracing::info;

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("container runtime: {0}")]
    Runtime(#[from] minato_runtime::RuntimeError),
    #[error("image store: {0}")]
    Images(#[from] minato_images::ImageError),
    #[error("pod network: {0}")]
    Network(#[from] minato_podnet::NetError),
    #[error("node agent server: {0}")]
    Server(String),
    #[error("the node has no pod CIDR (spec.podCIDR); is the controller manager running? {0}")]
    NoPodCidr(String),
    #[error("the pod watch ended")]
    WatchEnded,
}

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub node_name: String,
    pub node_ip: IpAddr,
    pub node_labels: BTreeMap<String, String>,
    /// Where images, container state, pod volumes and logs live (e.g. /var/lib/minato/agent).
    pub data_dir: PathBuf,
    /// Port of the agent's HTTPS server (logs, exec, port-forward); 0 picks a free one.
    pub kubelet_port: u16,
    pub max_pods: u32,
    /// This node's pod CIDR when set by configuration; otherwise the one the controller
    /// manager assigns (spec.podCIDR).
    pub pod_cidr: Option<String>,
    pub cluster_cidr: String,
    pub service_cidr: Option<String>,
    pub cluster_dns: Option<IpAddr>,
    pub cluster_domain: String,
    /// Absolute cgroup path under which pods' cgroups are made.
    pub cgroup_root: String,
    pub bridge: String,
    /// The minato binary (started as `minato shim` for each container).
    pub shim_binary: PathBuf,
    /// The OCI runtime: a path, or `crun`/`runc` on PATH; `None` picks crun when it is
    /// usable on this host, else runc.
    pub container_runtime: Option<PathBuf>,
    /// The cluster CA (PEM): client certificates it signed may call the agent's server.
    pub client_ca_pem: String,
    /// Serving certificate and key (PEM) for the agent's server.
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub registries: minato_images::RegistriesConfig,
    /// Hard eviction thresholds (the kubelet's --eviction-hard).
    pub eviction_hard: thresholds::Thresholds,
    /// Unsafe sysctls (or patterns ending in `*`) pods may set (the kubelet's
    /// --allowed-unsafe-sysctls).
    pub allowed_unsafe_sysctls: Vec<String>,
}

impl AgentConfig {
    /// Where the node's images live (the kubelet's imagefs).
    pub fn images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }
}

/// A pod as the server side needs to find it.
#[derive(Clone, Debug)]
pub struct PodEntry {
    pub uid: String,
    pub pod: Arc<Pod>,
}

/// Everything the agent's parts share.
pub struct Ctx {
    pub client: kube::Client,
    pub config: Arc<AgentConfig>,
    pub host: host::HostInfo,
    pub runtime: minato_runtime::Runtime,
    pub images: minato_images::ImageStore,
    pub network: minato_podnet::PodNetwork,
    pub events: minato_controllers::events::EventRecorder,
    pods: Mutex<HashMap<(String, String), PodEntry>>,
    /// Pods the eviction manager chose, with the message their status gets.
    evictions: Mutex<HashMap<String, String>>,
}

impl Ctx {
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.config.data_dir.join("pods").join(uid)
    }

    pub fn pod_log_dir(&self, pod: &Pod) -> PathBuf {
        self.config.data_dir.join("logs").join(format!(
            "{}_{}_{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or(""),
            pod.metadata.uid.as_deref().unwrap_or("")
        ))
    }

    /// The log file of one container attempt (the kubelet's /var/log/pods layout).
    pub fn log_path(&self, pod: &Pod, container: &str, attempt: u32) -> PathBuf {
        self.pod_log_dir(pod)
            .join(container)
            .join(format!("{attempt}.log"))
    }

    /// Ids of the images some container on this node (running or not) was made from: what
    /// image garbage collection must keep. An error when the container records cannot be
    /// listed, so that no caller mistakes "unknown" for "none in use".
    pub fn images_in_use(
        &self,
    ) -> Result<std::collections::HashSet<String>, minato_runtime::RuntimeError> {
        Ok(self
            .runtime
            .containers()?
            .into_iter()
            .map(|r| r.image_id)
            .collect())
    }

    fn remember(&self, pod: &Arc<Pod>) {
        let key = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        let entry = PodEntry {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            pod: pod.clone(),
        };
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry);
    }

    fn forget(&self, uid: &str) {
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.uid != uid);
    }

    /// Every pod this node currently runs.
    pub fn running_pods(&self) -> Vec<PodEntry> {
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| {
                let phase = e.pod.status.as_ref().and_then(|s| s.phase.as_deref());
                e.pod.metadata.deletion_timestamp.is_none()
                    && !matches!(phase, Some("Succeeded") | Some("Failed"))
            })
            .cloned()
            .collect()
    }

    /// Marks a pod for eviction (its worker acts on it).
    pub fn evict(&self, uid: &str, message: String) {
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_string(), message);
    }

    pub fn is_evicted(&self, uid: &str) -> bool {
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(uid)
    }

    /// The eviction message of a pod marked for eviction.
    pub fn eviction(&self, uid: &str) -> Option<String> {
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .cloned()
    }

    /// The pod this node runs under namespace/name.
    pub fn find_pod(&self, namespace: &str, name: &str) -> Option<PodEntry> {
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
}

/// Waits for the Node's spec.podCIDR (assigned by the node IPAM controller) unless configured.
async fn pod_cidr(client: &kube::Client, config: &AgentConfig) -> Result<String, Error> {
    if let Some(c) = &config.pod_cidr {
        return Ok(c.clone());
    }
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    for i in 0..600 {
        if let Some(n) = nodes.get_opt(&config.node_name).await? {
            if let Some(c) = n.spec.and_then(|s| s.pod_cidr).filter(|c| !c.is_empty()) {
                return Ok(c);
            }
        }
        if i == 10 {
            info!("waiting for the node's pod CIDR to be assigned");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(Error::NoPodCidr(format!(
        "node {} still has none after 2 minutes",
        config.node_name
    )))
}

/// Runs the agent until it fails; dropping the future stops it (containers keep running).
pub async fn run(client: kube::Client, config: AgentConfig) -> Result<(), Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Server(
            "the node agent makes namespaces, cgroups and mounts, so it must run as root (run minato as root, or start the server with --no-agent)".into(),
        ));
    }
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::Server(format!("cannot create {}: {e}", config.data_dir.display())))?;
    // Volatile state on tmpfs (see `statefs::TMPFS_DIRS`).
    for (dir, size) in statefs::TMPFS_DIRS {
        statefs::mount_tmpfs(&config.data_dir.join(dir), size)?;
    }
    let runtime = minato_runtime::Runtime::new(minato_runtime::RuntimeConfig {
        state_dir: config.data_dir.join("runtime"),
        runtime_binary: config.container_runtime.clone(),
        cgroup_root: config.cgroup_root.clone(),
        shim_binary: config.shim_binary.clone(),
    })?;
    let info = runtime.info();
    let runtime_version = format!("{}://{}", info.name, info.version);
    let images = minato_images::ImageStore::open(config.images_dir(), config.registries.clone())?;
    let host = host::HostInfo::read(&config.data_dir);

    // The server first: the Node advertises its port.
    let mut config_with_port = (*config).clone();
    let listener = server::bind(&config).await?;
    config_with_port.kubelet_port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(config.kubelet_port);
    let config = Arc::new(config_with_port);

    let node = node::register(&client, &config, &host, &runtime_version).await?;
    let node_uid = node.metadata.uid.clone().unwrap_or_default();
    let cidr = pod_cidr(&client, &config).await?;
    let network = minato_podnet::PodNetwork::new(minato_podnet::NetworkConfig {
        state_dir: config.data_dir.join("network"),
        cni_bin_dirs: vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()],
        bridge: config.bridge.clone(),
        pod_cidr: cidr.clone(),
        cluster_cidr: config.cluster_cidr.clone(),
        service_cidr: config.service_cidr.clone(),
        mtu: None,
    })?;
    info!(node = %config.node_name, pod_cidr = %cidr, runtime = %runtime_version, port = config.kubelet_port, "node agent running");
    let events = minato_controllers::events::EventRecorder::with_instance(
        client.clone(),
        "kubelet",
        &config.node_name,
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        config: config.clone(),
        host: host.clone(),
        runtime,
        images,
        network,
        events,
        pods: Mutex::new(HashMap::new()),
        evictions: Mutex::new(HashMap::new()),
    });
    let (pressure_tx, _pressure_rx) = tokio::sync::watch::channel(node::Pressure::default());
    let heartbeat = node::heartbeat(
        client.clone(),
        config.clone(),
        host,
        runtime_version,
        node_uid,
        pressure_tx,
    );
    let serve = server::serve(ctx.clone(), listener);
    tokio::select! {
        _ = eviction::run(ctx.clone()) => Err(Error::Server("eviction manager stopped".into())),
        _ = image_gc(ctx.clone()) => Err(Error::Server("image garbage collection stopped".into())),
        _ = heartbeat => Err(Error::Server("heartbeat stopped".into())),
        r = serve => r,
        r = pods::run(ctx.clone()) => r,
        _ = stats::sampler(ctx.clone()) => Err(Error::Server("stats sampler stopped".into())),
    }
}

/// The kubelet's image garbage collection: every 5 minutes, when the image filesystem is
/// more than 85% full, images no container uses are removed (least recently used first) until
/// it is below 80% (imageGCHighThresholdPercent / imageGCLowThresholdPercent).
async fn image_gc(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        let ctx = ctx.clone();
        let result = tokio::task::spawn_blocking(move || {
            let in_use = ctx.images_in_use().map_err(|e| e.to_string())?;
            ctx.images
                .garbage_collect(&in_use, 85, 80)
                .map_err(|e| e.to_string())
        })
        .await;
        match result {
            Ok(Ok(report)) if !report.removed.is_empty() => {
                info!(removed = ?report.removed, bytes = report.bytes_freed, "image garbage collection")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "image garbage collection failed"),
            _ => {}
        }
    }
}

/// What [`reset`] removes: the node agent's state under `data_dir` and its host setup.
#[derive(Clone, Debug)]
pub struct ResetConfig {
    pub data_dir: PathBuf,
    pub bridge: String,
    pub cgroup_root: String,
    pub cluster_cidr: String,
    pub service_cidr: Option<String>,
}

/// Stops and removes every container the agent started from `data_dir`, its pods'
/// sandboxes and volumes, the pod network (bridge, routes, firewall rules) and its cgroups
/// (`minato reset`, and what the tests call after stopping a server).
pub async fn reset(cfg: &ResetConfig, shim_binary: PathBuf) -> Result<(), Error> {
    // Every step runs even when an earlier one failed, so that one stuck container does not
    // leave the network, mounts and pod dirs behind; the first error is returned at the end.
    let mut first_error: Option<Error> = None;
    let runtime_dir = cfg.data_dir.join("runtime");
    if runtime_dir.exists() {
        if let Err(e) = reset_containers(cfg, runtime_dir, shim_binary).await {
            tracing::warn!(error = %e, "cannot remove every container");
            first_error.get_or_insert(e);
        }
    }
    let network_dir = cfg.data_dir.join("network");
    let net = minato_podnet::PodNetwork::open(minato_podnet::NetworkConfig {
        state_dir: network_dir,
        bridge: cfg.bridge.clone(),
        // Teardown needs no node range; any one inside the cluster range passes validation.
        pod_cidr: minato_controllers::nodeipam::allocate(
            &minato_controllers::nodeipam::NodeIpamConfig {
                cluster_cidr: cfg.cluster_cidr.clone(),
                node_mask: 24,
            },
            &Default::default(),
        )
        .unwrap_or_else(|| cfg.cluster_cidr.clone()),
        cluster_cidr: cfg.cluster_cidr.clone(),
        service_cidr: cfg.service_cidr.clone(),
        ..Default::default()
    })?;
    if let Err(e) = net.teardown_host() {
        tracing::warn!(error = %e, "cannot remove the pod network");
        first_error.get_or_insert(e.into());
    }
    for (dir, _) in statefs::TMPFS_DIRS {
        if let Err(e) = statefs::unmount_tmpfs(&cfg.data_dir.join(dir)) {
            first_error.get_or_insert(e);
        }
    }
    if let Ok(pods) = std::fs::read_dir(cfg.data_dir.join("pods")) {
        for p in pods.flatten() {
            pods::pid_namespace::stop(&p.path());
            pods::volumes::teardown(&p.path());
        }
    }
    let _ = std::fs::remove_dir_all(cfg.data_dir.join("pods"));
    first_error.map_or(Ok(()), Err)
}

/// Kills and removes every container. A container whose shim was still starting it when
/// the agent stopped comes up a moment later, so containers are killed until none is left
/// running (for at most 20 s) before they are removed.
async fn reset_containers(
    cfg: &ResetConfig,
    runtime_dir: PathBuf,
    shim_binary: PathBuf,
) -> Result<(), Error> {
    let runtime = minato_runtime::Runtime::new(minato_runtime::RuntimeConfig {
        state_dir: runtime_dir,
        runtime_binary: None,
        cgroup_root: cfg.cgroup_root.clone(),
        shim_binary,
    })?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let live: Vec<_> = runtime
            .containers()?
            .into_iter()
            .filter(|r| !matches!(r.state, minato_runtime::ContainerState::Exited { .. }))
            .collect();
        if live.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        for r in &live {
            let _ = runtime.kill(&r.id, 9);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for r in runtime.containers()? {
        if let Err(e) = runtime.remove_container(&r.id).await {
            tracing::warn!(container = %r.id, error = %e, "cannot remove container");
        }
    }
    runtime.remove_pod_cgroup(&cfg.cgroup_root)?;
    Ok(())
}
