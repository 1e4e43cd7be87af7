//! Built-in controllers of minato: namespace lifecycle and the garbage collector.
//!
//! Every controller here is an ordinary API client built on the `kube` crate, so it can run
//! inside `minato server` or alone against any kubeconfig. Each keeps a pure decision core
//! (plain values in, actions out) that is unit-tested without a server; the async wrappers
//! only read the world, call the core and carry out what it returns.

pub mod deployment;
pub mod discovery;
pub mod events;
pub mod gc;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod ownwrites;
pub mod podindex;
pub mod podutil;
pub mod refmanager;
pub mod replicaset;
pub mod rootca;
pub mod serviceaccount;
pub mod workload;

pub use gc::run_garbage_collector;
pub use namespace::run_namespace_controller;

/// Errors a controller loop can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// An object from the server lacked a field the controller needs.
    #[error("object is missing {0}")]
    MissingField(&'static str),
    /// A controller task ended abnormally.
    #[error("controller task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// A watch stream ended (the controller is restarted by its supervisor).
    #[error("the {0} watch ended")]
    WatchEnded(String),
}

/// Concurrent syncs per workload controller (upstream's default `--concurrent-*-syncs`).
pub const WORKLOAD_WORKERS: u16 = 5;

/// Runs the namespace, ServiceAccount, ReplicaSet and Deployment controllers, the garbage
/// collector and the others until one of them fails (the root CA publisher only with
/// [`ControllerConfig::root_ca`]).
pub async fn run_all(client: kube::Client) -> Result<(), Error> {
    run_all_with(client, ControllerConfig::default()).await
}

/// Settings of the controllers that have any (upstream's controller-manager flags).
#[derive(Clone, Debug, Default)]
pub struct ControllerConfig {
    pub node_lifecycle: nodelifecycle::NodeLifecycleConfig,
    /// The cluster CA bundle (PEM) the root CA publisher puts in every namespace's
    /// `kube-root-ca.crt` (upstream's `--root-ca-file`); see [`rootca::ca_bundle_from_config`].
    /// `None`: the publisher does not run.
    pub root_ca: Option<String>,
    /// The cluster's pod range, from which each node gets its own (`--cluster-cidr`).
    pub node_ipam: nodeipam::NodeIpamConfig,
}

/// [`run_all`] with explicit settings.
pub async fn run_all_with(client: kube::Client, config: ControllerConfig) -> Result<(), Error> {
    let root_ca = {
        let client = client.clone();
        let ca = config.root_ca.clone();
        async move {
            match ca {
                Some(ca) => rootca::run_root_ca_publisher(client, ca).await,
                None => {
                    tracing::warn!("no cluster CA configured: kube-root-ca.crt ConfigMaps are not published (set ControllerConfig::root_ca)");
                    std::future::pending().await
                }
            }
        }
    };
    tokio::select! {
        r = serviceaccount::run_service_account_controller(client.clone()) => r,
        r = root_ca => r,
        r = run_namespace_controller(client.clone()) => r,
        r = run_garbage_collector(client.clone()) => r,
        r = replicaset::run_replicaset_controller(client.clone(), WORKLOAD_WORKERS) => r,
        r = deployment::run_deployment_controller(client.clone(), WORKLOAD_WORKERS) => r,
        r = nodeipam::run_node_ipam_controller(client.clone(), config.node_ipam) => r,
        r = nodelifecycle::run_node_lifecycle_controller_with(client, config.node_lifecycle) => r,
    }
}
