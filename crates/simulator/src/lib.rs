//! Simulated nodes for tests and benchmarks, like kwok: never a stand-in for the real agent.
//!
//! [`run`] registers `nodes` Nodes and then behaves as their kubelets do towards the API
//! server, and only there: it renews each node's Lease in `kube-node-lease`, reports node
//! status, and takes pods bound to its nodes to Running (addresses from the node's pod CIDR,
//! conditions, container statuses), then confirms their graceful deletion. Nothing runs.
//! Everything goes through the API with the `kube` crate, so the simulator can run inside
//! `minato server` or as a separate process against any cluster.
//!
//! Dropping the future (or the [`SimHandle`]) stops every node at once: leases and heartbeats
//! simply stop, which the control plane sees as dead nodes. [`SimHandle::stop_node`] does
//! the same for one node.
//!
//! The decisions are pure functions ([`pod::next_action`], [`node::node_object`],
//! [`ipam::IpAllocator`]), unit-tested without a server.

pub mod cli;
pub mod events;
pub mod ipam;
pub mod node;
pub mod pod;
mod pods;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Taint};
use kube::api::{Api, PostParams};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinSet;
use tracing::{debug, info};

pub use ipam::Ipv4Cidr;
pub use node::NodeState;

/// Errors the simulator can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work (e.g. more nodes than node ranges in the pod CIDR).
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Registering a node (or its lease) failed.
    #[error("registering node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    /// A request to the API server failed.
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// The pod watch stream ended.
    #[error("the pod watch ended")]
    WatchEnded,
    /// A simulator task ended abnormally.
    #[error("simulator task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes, named `{name_prefix}{i}` for i in 0..nodes.
    pub nodes: u32,
    pub name_prefix: String,
    /// Capacity (= allocatable) per node, as Kubernetes quantities.
    pub cpu: String,
    pub memory: String,
    pub ephemeral_storage: String,
    pub pods: u32,
    /// How long a bound pod stays Pending before it reports Running.
    pub start_delay: Duration,
    /// Simulated container shutdown on deletion (capped by the pod's grace period).
    pub shutdown_delay: Duration,
    pub lease_duration_seconds: i32,
    /// Lease renewal period (upstream: a quarter of the lease duration).
    pub renew_interval: Duration,
    /// Node status heartbeat when nothing changes (upstream nodeStatusReportFrequency).
    pub node_status_report_interval: Duration,
    /// Extra node labels (on top of hostname/os/arch and `type=simulated`).
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Node i gets the i-th `/node_cidr_mask` range of this network as spec.podCIDR.
    pub pod_cidr: Ipv4Cidr,
    pub node_cidr_mask: u8,
    /// Node i's InternalIP is this address + i + 1. The default is in 198.18.0.0/15 (RFC 2544,
    /// benchmarking; never routed): data only, nothing connects to it.
    pub node_ip_base: Ipv4Addr,
    /// Record the kubelet's Events (node start, container Pulled/Created/Started/Killing).
    pub events: bool,
    /// API requests in flight at most, over all nodes and pods.
    pub max_concurrent_requests: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 1,
            name_prefix: "sim-node-".into(),
            cpu: "4".into(),
            memory: "16Gi".into(),
            ephemeral_storage: "100Gi".into(),
            pods: 110,
            start_delay: Duration::from_secs(1),
            shutdown_delay: Duration::from_millis(500),
            lease_duration_seconds: 40,
            renew_interval: Duration::from_secs(10),
            node_status_report_interval: Duration::from_secs(300),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            pod_cidr: Ipv4Cidr::new(Ipv4Addr::new(10, 244, 0, 0), 16)
                .unwrap_or_else(|_| unreachable!("constant CIDR")),
            node_cidr_mask: 24,
            node_ip_base: Ipv4Addr::new(198, 18, 0, 0),
            events: true,
            max_concurrent_requests: 32,
        }
    }
}

impl SimConfig {
    /// A default configuration for `nodes` nodes, with the pod CIDR widened from
    /// 10.244.0.0/16 when that many /24 ranges do not fit (1,000 nodes → 10.244.0.0/14).
    pub fn with_nodes(nodes: u32) -> Self {
        let mut c = Self {
            nodes,
            ..Self::default()
        };
        if let Ok(w) = c.pod_cidr.widened_for(c.node_cidr_mask, nodes) {
            c.pod_cidr = w;
        }
        c
    }

    pub fn node_name(&self, i: u32) -> String {
        format!("{}{}", self.name_prefix, i)
    }

    /// Checks the configuration and lays out the nodes.
    pub fn plan_nodes(&self) -> Result<Vec<NodeState>, Error> {
        if self.nodes == 0 {
            return Err(Error::Config("nodes must be at least 1".into()));
        }
        if self.renew_interval.is_zero() || self.node_status_report_interval.is_zero() {
            return Err(Error::Config(
                "renew and report intervals must be positive".into(),
            ));
        }
        if self.lease_duration_seconds <= 0 {
            return Err(Error::Config("lease duration must be positive".into()));
        }
        if self.max_concurrent_requests == 0 {
            return Err(Error::Config(
                "max_concurrent_requests must be at least 1".into(),
            ));
        }
        let base = u32::from(self.node_ip_base);
        if u64::from(base) + u64::from(self.nodes) >= u64::from(u32::MAX) {
            return Err(Error::Config("node IPs overflow IPv4".into()));
        }
        (0..self.nodes)
            .map(|i| {
                let cidr = self.pod_cidr.subnet(self.node_cidr_mask, i)?;
                Ok(NodeState::new(
                    self.node_name(i),
                    i,
                    Ipv4Addr::from(base + i + 1),
                    cidr,
                ))
            })
            .collect()
    }
}

/// Counters of what the simulator did (all since start).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub nodes_registered: AtomicU64,
    pub lease_renewals: AtomicU64,
    pub node_status_updates: AtomicU64,
    pub pod_status_writes: AtomicU64,
    pub pods_started: AtomicU64,
    pub pods_deleted: AtomicU64,
    pub events: AtomicU64,
    pub api_errors: AtomicU64,
}

/// A snapshot of the simulator's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub nodes_registered: u64,
    pub lease_renewals: u64,
    pub node_status_updates: u64,
    pub pod_status_writes: u64,
    pub pods_started: u64,
    pub pods_deleted: u64,
    pub events: u64,
    pub api_errors: u64,
}

/// What all simulator tasks share.
pub(crate) struct Shared {
    pub client: kube::Client,
    pub config: SimConfig,
    pub nodes: HashMap<String, Arc<NodeState>>,
    pub stats: Stats,
    sem: Semaphore,
}

impl Shared {
    /// A slot for one API request (bounded concurrency; never closed).
    pub(crate) async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.acquire().await.ok()
    }

    /// Records an Event in the background; failures are only logged, as in client-go.
    pub(crate) fn post_event(self: &Arc<Self>, ev: Event) {
        let shared = self.clone();
        tokio::spawn(async move {
            let ns = ev
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let api: Api<Event> = Api::namespaced(shared.client.clone(), &ns);
            let _permit = shared.permit().await;
            match api.create(&PostParams::default(), &ev).await {
                Ok(_) => {
                    shared.stats.events.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => debug!(error = %e, "event not recorded"),
            }
        });
    }
}

/// A running simulator. Dropping it stops every node (tasks are aborted).
pub struct SimHandle {
    shared: Arc<Shared>,
    tasks: JoinSet<Result<(), Error>>,
    registered_in: Duration,
}

impl SimHandle {
    /// Names of the simulated nodes.
    pub fn node_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared.nodes.keys().cloned().collect();
        v.sort_by_key(|n| self.shared.nodes.get(n).map(|s| s.index));
        v
    }

    /// The node's state (pod CIDR, InternalIP), if it is one of ours.
    pub fn node(&self, name: &str) -> Option<Arc<NodeState>> {
        self.shared.nodes.get(name).cloned()
    }

    /// Stops one node as if its kubelet died: no more lease renewals, heartbeats or pod
    /// handling. Returns false if the node is not ours.
    pub fn stop_node(&self, name: &str) -> bool {
        match self.shared.nodes.get(name) {
            Some(n) => {
                n.stop();
                info!(node = name, "simulated node stopped");
                true
            }
            None => false,
        }
    }

    /// How long registering all nodes took.
    pub fn registration_time(&self) -> Duration {
        self.registered_in
    }

    pub fn stats(&self) -> SimStats {
        let s = &self.shared.stats;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            nodes_registered: g(&s.nodes_registered),
            lease_renewals: g(&s.lease_renewals),
            node_status_updates: g(&s.node_status_updates),
            pod_status_writes: g(&s.pod_status_writes),
            pods_started: g(&s.pods_started),
            pods_deleted: g(&s.pods_deleted),
            events: g(&s.events),
            api_errors: g(&s.api_errors),
        }
    }

    /// Runs until a task fails (the pod loop never ends on its own); stopped nodes end quietly.
    pub async fn wait(mut self) -> Result<(), Error> {
        while let Some(r) = self.tasks.join_next().await {
            r??;
        }
        Ok(())
    }
}

/// Registers all nodes (with bounded concurrency), then starts their heartbeats and the pod
/// handling in the background.
pub async fn start(client: kube::Client, config: SimConfig) -> Result<SimHandle, Error> {
    let planned = config.plan_nodes()?;
    let concurrency = config.max_concurrent_requests;
    let began = Instant::now();
    let shared = Arc::new(Shared {
        client,
        nodes: planned
            .into_iter()
            .map(|s| (s.name.clone(), Arc::new(s)))
            .collect(),
        stats: Stats::default(),
        sem: Semaphore::new(concurrency),
        config,
    });
    let registered: Vec<(Arc<NodeState>, String, Lease)> =
        futures::stream::iter(shared.nodes.values().cloned())
            .map(|n| {
                let sh = shared.clone();
                async move {
                    let (uid, lease) = node::register(&sh, &n).await?;
                    Ok::<_, Error>((n, uid, lease))
                }
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
    let registered_in = began.elapsed();
    info!(
        nodes = registered.len(),
        seconds = registered_in.as_secs_f64(),
        "simulated nodes registered"
    );
    let mut tasks = JoinSet::new();
    for (n, uid, lease) in registered {
        let sh = shared.clone();
        tasks.spawn(async move {
            node::run_node(sh, n, uid, lease).await;
            Ok(())
        });
    }
    tasks.spawn(pods::run_pods(shared.clone()));
    Ok(SimHandle {
        shared,
        tasks,
        registered_in,
    })
}

/// Registers and runs all nodes until cancelled (drop the future to kill them all).
pub async fn run(client: kube::Client, config: SimConfig) -> Result<(), Error> {
    start(client, config).await?.wait().await
}
