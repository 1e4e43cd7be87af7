//! Node lifecycle controller and NoExecute taint eviction, after upstream's
//! `pkg/controller/nodelifecycle` and `pkg/controller/tainteviction`.
//!
//! * **Health.** A node is healthy while its Lease in `kube-node-lease` (or its Ready
//!   condition's `lastHeartbeatTime`, whichever is newer) was renewed within
//!   [`NodeLifecycleConfig::grace_period`]. Past that, its Ready condition (and the pressure
//!   conditions it reports) become `Unknown` with reason `NodeStatusUnknown`. A node that never
//!   posted a Ready condition gets `Unknown`/`NodeStatusNeverUpdated` once
//!   [`NodeLifecycleConfig::startup_grace_period`] has passed since its creation.
//! * **Pods of a silent node.** When the controller marks a Ready node Unknown, every pod bound
//!   to it that is Ready gets Ready=False (and a `NodeNotReady` warning), so endpoints stop
//!   listing it ([`pods_to_mark_not_ready`]; upstream's MarkPodsNotReady). Failed
//!   updates are retried on later passes while the node stays not Ready.
//! * **Taints.** Ready=Unknown → `node.kubernetes.io/unreachable` NoExecute + NoSchedule;
//!   Ready=False → `node.kubernetes.io/not-ready` NoExecute + NoSchedule; Ready=True → both
//!   removed. NoExecute taints carry `timeAdded`.
//! * **Master disruption.** When every node is not Ready at once, the fault is more likely
//!   the control plane's own network than every node: the NoExecute taints are removed and no
//!   pod is evicted until a node is Ready again ([`fully_disrupted`]; upstream's "master
//!   disruption mode"). The NoSchedule taints stay.
//! * **Eviction rate.** NoExecute taints go on newly not-Ready nodes at a limited rate per
//!   zone (topology region and zone labels), as upstream's tainting queue: `eviction_rate`
//!   nodes per second (burst 1). A zone with more than two nodes not Ready that are at least
//!   `unhealthy_zone_threshold` of it is partially disrupted: its rate drops to
//!   `secondary_eviction_rate` if it has more than `large_cluster_size_threshold` nodes, else
//!   to nothing ([`zone_state`], [`zone_rate`]). A zone with no node Ready, while another
//!   zone has one, keeps the normal rate.
//! * **Eviction.** A pod bound to a node with a NoExecute taint it does not tolerate is
//!   deleted at once; one tolerating every such taint is deleted `tolerationSeconds` after the
//!   taint's `timeAdded` (the smallest deadline over the taints), never if no matching
//!   toleration has `tolerationSeconds`. Deletion is the ordinary graceful DELETE: on an
//!   unreachable node the pod stays Terminating until the node comes back or it is
//!   force-deleted, as upstream.
//!
//! The decisions are pure functions ([`node_health`], [`desired_taints`], [`pod_eviction`]);
//! [`run_node_lifecycle_controller`] only keeps watch caches, calls them on every change and
//! every [`NodeLifecycleConfig::monitor_period`], and carries out what they return.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodStatus, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::events::EventRecorder;
use crate::Error;

/// Event source component, as upstream's.
pub const COMPONENT: &str = "node-controller";
/// Component of the taint eviction events.
pub const EVICTION_COMPONENT: &str = "taint-eviction-controller";
/// Namespace of the node heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const NO_EXECUTE: &str = "NoExecute";
pub const NO_SCHEDULE: &str = "NoSchedule";
/// Reason and message of a condition this controller marks Unknown.
pub const REASON_UNKNOWN: &str = "NodeStatusUnknown";
pub const MESSAGE_UNKNOWN: &str = "Kubelet stopped posting node status.";
pub const REASON_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
pub const MESSAGE_NEVER_UPDATED: &str = "Kubelet never posted node status.";
/// Conditions besides Ready that upstream marks Unknown with it.
const PRESSURE_CONDITIONS: [&str; 3] = ["MemoryPressure", "DiskPressure", "PIDPressure"];

/// Timing of the controller; `Default` is upstream's.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeLifecycleConfig {
    /// How often every node is re-examined even without a change (`--node-monitor-period`).
    pub monitor_period: Duration,
    /// How long a node may go without a heartbeat before it is Unknown
    /// (`--node-monitor-grace-period`).
    pub grace_period: Duration,
    /// How long a new node may go without ever posting Ready (`--node-startup-grace-period`).
    pub startup_grace_period: Duration,
    /// Nodes per second that get NoExecute taints in a healthy zone (`--node-eviction-rate`).
    pub eviction_rate: f64,
    /// The same in a partially disrupted large zone (`--secondary-node-eviction-rate`).
    pub secondary_eviction_rate: f64,
    /// Zones of at most this many nodes stop tainting when partially disrupted
    /// (`--large-cluster-size-threshold`).
    pub large_cluster_size_threshold: usize,
    /// The share of not-Ready nodes (with more than two) that makes a zone partially
    /// disrupted (`--unhealthy-zone-threshold`).
    pub unhealthy_zone_threshold: f64,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        Self {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(40),
            startup_grace_period: Duration::from_secs(60),
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            large_cluster_size_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The node's Ready status (`True`, `False`, `Unknown`), if it has one.
pub fn ready_status(node: &Node) -> Option<&str> {
    ready_condition(node).map(|c| c.status.as_str())
}

/// The newest heartbeat: the Lease's renewTime or Ready's lastHeartbeatTime.
pub fn last_heartbeat(node: &Node, lease: Option<&Lease>) -> Option<Timestamp> {
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let beat = ready_condition(node)
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    renew.max(beat)
}

/// What the health check decided for a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    /// Heartbeats are recent (or the node is still in its startup grace): nothing to write.
    /// `recheck_at` is when it would go stale without a new heartbeat.
    Fresh { recheck_at: Option<Timestamp> },
    /// Stale, and already marked: nothing to write.
    AlreadyUnknown,
    /// Stale: write these conditions to `status.conditions`. `was_ready` tells whether
    /// Ready was True before (upstream then records `NodeNotReady`).
    MarkUnknown {
        conditions: Vec<NodeCondition>,
        was_ready: bool,
    },
}

/// Decides whether `node` has gone silent at `now`.
pub fn node_health(
    node: &Node,
    lease: Option<&Lease>,
    now: Timestamp,
    cfg: &NodeLifecycleConfig,
) -> Health {
    let ready = ready_condition(node);
    let (probe, grace) = match last_heartbeat(node, lease) {
        Some(beat) => (beat, cfg.grace_period),
        // Never heard from: count from creation with the startup grace.
        None => match node.metadata.creation_timestamp.as_ref() {
            Some(t) => (t.0, cfg.startup_grace_period),
            None => (now, cfg.startup_grace_period),
        },
    };
    let deadline = probe.checked_add(signed(grace)).ok();
    if deadline.is_some_and(|d| now <= d) {
        return Health::Fresh {
            recheck_at: deadline,
        };
    }
    let mut conditions: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut changed = false;
    let was_ready = ready.is_some_and(|c| c.status == "True");
    let mut saw_ready = false;
    for c in conditions.iter_mut() {
        if c.type_ != "Ready" && !PRESSURE_CONDITIONS.contains(&c.type_.as_str()) {
            continue;
        }
        saw_ready |= c.type_ == "Ready";
        if c.status != "Unknown" {
            c.status = "Unknown".into();
            c.reason = Some(REASON_UNKNOWN.into());
            c.message = Some(MESSAGE_UNKNOWN.into());
            c.last_transition_time = Some(Time(now));
            changed = true;
        }
    }
    if !saw_ready {
        conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: Some(REASON_NEVER_UPDATED.into()),
            message: Some(MESSAGE_NEVER_UPDATED.into()),
            last_heartbeat_time: Some(Time(probe)),
            last_transition_time: Some(Time(now)),
        });
        changed = true;
    }
    if changed {
        Health::MarkUnknown {
            conditions,
            was_ready,
        }
    } else {
        Health::AlreadyUnknown
    }
}

/// Upstream's TaintNodesByCondition: a condition that is True, and spec.unschedulable, put a
/// NoSchedule taint on the node (so only pods that tolerate it are scheduled there).
const CONDITION_TAINTS: [(&str, &str); 4] = [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
];
/// Taint of a cordoned node (spec.unschedulable).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

fn is_controller_taint(t: &Taint) -> bool {
    ((t.key == TAINT_UNREACHABLE || t.key == TAINT_NOT_READY)
        && (t.effect == NO_EXECUTE || t.effect == NO_SCHEDULE))
        || (t.effect == NO_SCHEDULE
            && (t.key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, k)| *k == t.key)))
}

/// The NoSchedule taints the node's conditions and spec.unschedulable call for.
fn condition_taint_keys(node: &Node) -> Vec<&'static str> {
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .cloned()
        .unwrap_or_default();
    let mut keys: Vec<&'static str> = CONDITION_TAINTS
        .iter()
        .filter(|(cond, _)| {
            conditions
                .iter()
                .any(|c| c.type_ == *cond && c.status == "True")
        })
        .map(|(_, key)| *key)
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        keys.push(TAINT_UNSCHEDULABLE);
    }
    keys
}

/// Whether every node is not Ready (upstream: every zone in full disruption, which is the
/// same thing), given each node's Ready status after this pass's health checks. No nodes is
/// not a disruption.
pub fn fully_disrupted<'a>(ready: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    let mut any = false;
    for r in ready {
        if r == Some("True") {
            return false;
        }
        any = true;
    }
    any
}

/// A node's zone as upstream keys it: its `topology.kubernetes.io/region` and `zone` labels
/// (empty for nodes without them, which then share one zone).
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |k: &str| {
        labels
            .and_then(|l| l.get(k))
            .map(String::as_str)
            .unwrap_or("")
    };
    let (region, zone) = (
        get("topology.kubernetes.io/region"),
        get("topology.kubernetes.io/zone"),
    );
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

/// Health of a zone (upstream's `ComputeZoneState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    Normal,
    /// More than two nodes, and at least the unhealthy share, not Ready.
    PartialDisruption,
    /// No node Ready.
    FullDisruption,
}

/// The state of a zone from its nodes' Ready statuses.
pub fn zone_state<'a>(
    ready: impl IntoIterator<Item = Option<&'a str>>,
    unhealthy_threshold: f64,
) -> ZoneState {
    let (mut ready_nodes, mut not_ready) = (0usize, 0usize);
    for r in ready {
        if r == Some("True") {
            ready_nodes += 1;
        } else {
            not_ready += 1;
        }
    }
    if ready_nodes == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2
        && not_ready as f64 / (not_ready + ready_nodes) as f64 >= unhealthy_threshold
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// Nodes per second a zone of `size` nodes in `state` may taint NoExecute.
pub fn zone_rate(state: ZoneState, size: usize, cfg: &NodeLifecycleConfig) -> f64 {
    match state {
        ZoneState::Normal | ZoneState::FullDisruption => cfg.eviction_rate,
        ZoneState::PartialDisruption if size > cfg.large_cluster_size_threshold => {
            cfg.secondary_eviction_rate
        }
        ZoneState::PartialDisruption => 0.0,
    }
}

/// A token bucket of burst 1: how fast a zone's nodes get NoExecute taints.
#[derive(Clone, Debug, PartialEq)]
pub struct TaintLimiter {
    qps: f64,
    tokens: f64,
    last: Timestamp,
}

impl TaintLimiter {
    /// A full bucket.
    pub fn new(qps: f64, now: Timestamp) -> Self {
        TaintLimiter {
            qps,
            tokens: 1.0,
            last: now,
        }
    }

    /// Changes the rate; a new rate starts with a full bucket, as upstream swaps limiters.
    pub fn set_rate(&mut self, qps: f64, now: Timestamp) {
        if qps != self.qps {
            *self = TaintLimiter::new(qps, now);
        }
    }

    /// Takes a token if one is there; else says when the next one comes (`None`: never, at
    /// a rate of zero).
    pub fn try_take(&mut self, now: Timestamp) -> Result<(), Option<Timestamp>> {
        if self.qps <= 0.0 {
            return Err(None);
        }
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * self.qps).min(1.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / self.qps;
        Err(now.checked_add(SignedDuration::from_secs_f64(wait)).ok())
    }
}

/// Whether `node` is to get a NoExecute taint it has none of yet (not Ready, and no
/// unreachable/not-ready NoExecute taint): the step the zone's rate limits.
pub fn needs_first_no_execute(node: &Node, disrupted: bool) -> bool {
    if disrupted || !matches!(ready_status(node), Some(s) if s != "True") {
        return false;
    }
    !node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| {
            ts.iter().any(|t| {
                t.effect == NO_EXECUTE && (t.key == TAINT_UNREACHABLE || t.key == TAINT_NOT_READY)
            })
        })
}

/// The taints `node` should carry given its Ready condition, or `None` when they are right
/// already. Other taints are kept as they are; a wanted taint already present keeps its
/// `timeAdded`; new NoExecute taints get `timeAdded = now`. A node without a Ready condition
/// is left alone (the health check marks it Unknown first). During a master disruption
/// (`disrupted`) the unreachable/not-ready NoExecute taints are removed instead. With
/// `no_execute_allowed` false (its zone's rate says not yet) a node without a NoExecute taint
/// of ours gets none; one that has one still swaps it when its Ready status changes.
pub fn desired_taints(
    node: &Node,
    now: Timestamp,
    disrupted: bool,
    no_execute_allowed: bool,
) -> Option<Vec<Taint>> {
    let withhold = !no_execute_allowed && needs_first_no_execute(node, disrupted);
    let want_key = match ready_status(node)? {
        "True" => None,
        "False" => Some(TAINT_NOT_READY),
        _ => Some(TAINT_UNREACHABLE),
    };
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let condition_keys = condition_taint_keys(node);
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            !is_controller_taint(t)
                || (Some(t.key.as_str()) == want_key && !(disrupted && t.effect == NO_EXECUTE))
                || (t.effect == NO_SCHEDULE && condition_keys.contains(&t.key.as_str()))
        })
        .cloned()
        .collect();
    for key in condition_keys {
        if !out.iter().any(|t| t.key == key && t.effect == NO_SCHEDULE) {
            out.push(Taint {
                key: key.into(),
                effect: NO_SCHEDULE.into(),
                value: None,
                time_added: None,
            });
        }
    }
    if let Some(key) = want_key {
        for effect in [NO_EXECUTE, NO_SCHEDULE] {
            if (disrupted || withhold) && effect == NO_EXECUTE {
                continue;
            }
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                out.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    value: None,
                    time_added: (effect == NO_EXECUTE).then_some(Time(now)),
                });
            }
        }
    }
    (out != current).then_some(out)
}

/// Whether `tol` tolerates `taint` (upstream's `Toleration.ToleratesTaint`).
pub fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = tol.effect.as_deref() {
        if !effect.is_empty() && effect != taint.effect {
            return false;
        }
    }
    let key = tol.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match tol.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            // An empty key only matches every key with Exists.
            !key.is_empty()
                && tol.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// What to do with a pod on a tainted node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// No NoExecute taint, or every one is tolerated forever.
    Keep,
    /// Delete now.
    Now,
    /// Delete at this time unless the taints go away first.
    At(Timestamp),
}

/// Pods bound to `node` whose Ready condition is True (upstream's MarkPodsNotReady touches
/// only those: the others keep their condition and its transition time).
pub fn pods_to_mark_not_ready<'a>(pods: &'a [Arc<Pod>], node: &str) -> Vec<&'a Pod> {
    pods.iter()
        .map(|p| &**p)
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .collect()
}

/// The status patch that turns a pod's Ready condition False (strategic merge by `type`,
/// so the other conditions stay).
pub fn not_ready_patch(now: Timestamp) -> serde_json::Value {
    json!({"status": {"conditions": [{
        "type": "Ready",
        "status": "False",
        "lastTransitionTime": Time(now),
    }]}})
}

/// Decides the fate of `pod` on a node carrying `taints` at `now`. A NoExecute taint without
/// `timeAdded` counts from `fallback_start` (when the controller first saw it).
pub fn pod_eviction(
    pod: &Pod,
    taints: &[Taint],
    now: Timestamp,
    fallback_start: Timestamp,
) -> Eviction {
    let tolerations: &[Toleration] = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let mut earliest: Option<Timestamp> = None;
    for taint in taints.iter().filter(|t| t.effect == NO_EXECUTE) {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Eviction::Now;
        }
        let Some(secs) = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .map(|s| s.max(0))
            .min()
        else {
            continue; // tolerated forever
        };
        let start = taint.time_added.as_ref().map_or(fallback_start, |t| t.0);
        let at = start
            .checked_add(SignedDuration::from_secs(secs))
            .unwrap_or(Timestamp::MAX);
        earliest = Some(earliest.map_or(at, |e| e.min(at)));
    }
    match earliest {
        None => Eviction::Keep,
        Some(at) if at <= now => Eviction::Now,
        Some(at) => Eviction::At(at),
    }
}

fn no_execute_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .filter(|t| t.effect == NO_EXECUTE)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

struct Ctx {
    client: Client,
    cfg: NodeLifecycleConfig,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    node_events: EventRecorder,
    pod_events: EventRecorder,
    /// First sight of NoExecute taints lacking `timeAdded`, per (node, key).
    first_seen: HashMap<(String, String), Timestamp>,
    /// UIDs of pods already deleted whose deletion the cache has not shown yet.
    evicted: HashSet<String>,
    /// Nodes this controller marked not Ready whose pods still need Ready=False (kept until
    /// every update succeeded, or the node is Ready again).
    mark_pods: HashSet<String>,
    /// Every node was not Ready at the last pass (master disruption mode).
    disrupted: bool,
    /// Each zone's state at the last pass, and its NoExecute tainting rate.
    zones: HashMap<String, (ZoneState, TaintLimiter)>,
}

/// Runs the node lifecycle controller with upstream's timing until a watch ends.
pub async fn run_node_lifecycle_controller(client: Client) -> Result<(), Error> {
    run_node_lifecycle_controller_with(client, NodeLifecycleConfig::default()).await
}

/// The shortest time between two passes (see the sync loop).
const MIN_PASS_INTERVAL: Duration = Duration::from_millis(250);

/// Drives one reflector stream, waking the sync loop on every change.
async fn drive<K, S>(stream: S, notify: Arc<Notify>)
where
    S: Stream<Item = Result<K, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            tracing::debug!(error = %e, "node lifecycle watch error");
        }
        notify.notify_one();
    }
}

/// Runs the node lifecycle controller with the given timing until a watch ends.
pub async fn run_node_lifecycle_controller_with(
    client: Client,
    cfg: NodeLifecycleConfig,
) -> Result<(), Error> {
    let notify = Arc::new(Notify::new());
    let (nodes, node_w) = reflector::store();
    let node_stream = reflector::reflector(
        node_w,
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
            .modify(crate::podutil::strip_managed_fields),
    )
    .default_backoff()
    .touched_objects();
    let (leases, lease_w) = reflector::store();
    let lease_stream = reflector::reflector(
        lease_w,
        watcher(
            Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let (pods, pod_w) = reflector::store();
    let pod_stream = reflector::reflector(
        pod_w,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()).modify(|p| {
            crate::podutil::strip_managed_fields(p);
            // Eviction needs only the pod's identity, node and tolerations; marking pods of
            // a silent node not ready needs their Ready condition.
            p.status = p.status.take().map(|s| PodStatus {
                conditions: s
                    .conditions
                    .map(|cs| cs.into_iter().filter(|c| c.type_ == "Ready").collect()),
                ..PodStatus::default()
            });
            if let Some(spec) = p.spec.as_mut() {
                spec.containers.clear();
                spec.init_containers = None;
                spec.volumes = None;
            }
        }),
    )
    .default_backoff()
    .touched_objects();
    let watches = futures::future::join3(
        drive(node_stream, notify.clone()),
        drive(lease_stream, notify.clone()),
        drive(pod_stream, notify.clone()),
    );
    let mut ctx = Ctx {
        node_events: EventRecorder::new(client.clone(), COMPONENT),
        pod_events: EventRecorder::new(client.clone(), EVICTION_COMPONENT),
        client,
        cfg,
        nodes,
        leases,
        pods,
        first_seen: HashMap::new(),
        evicted: HashSet::new(),
        mark_pods: HashSet::new(),
        disrupted: false,
        zones: HashMap::new(),
    };
    let work = async {
        let _ = ctx.nodes.wait_until_ready().await;
        let _ = ctx.leases.wait_until_ready().await;
        let _ = ctx.pods.wait_until_ready().await;
        // A pass looks at every node and bound pod; under a burst of pod or lease events
        // (a large rollout) running one per event is quadratic work. Passes are therefore at
        // least MIN_PASS_INTERVAL apart: events in between are handled together.
        let mut last_pass: Option<tokio::time::Instant> = None;
        loop {
            if let Some(last) = last_pass {
                let since = last.elapsed();
                if since < MIN_PASS_INTERVAL {
                    tokio::time::sleep(MIN_PASS_INTERVAL - since).await;
                }
            }
            last_pass = Some(tokio::time::Instant::now());
            let wake = ctx.pass().await;
            let sleep = wake.min(ctx.cfg.monitor_period);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = notify.notified() => {}
            }
        }
    };
    tokio::select! {
        _ = watches => {}
        _ = work => {}
    }
    Ok(())
}

impl Ctx {
    /// One pass over every node and every bound pod; returns how long until the next
    /// deadline it knows of.
    async fn pass(&mut self) -> Duration {
        let now = Timestamp::now();
        let mut next: Option<Timestamp> = None;
        let mut taints_by_node: HashMap<String, Vec<Taint>> = HashMap::new();
        let nodes = self.nodes.state();
        let leases: Vec<Option<Arc<Lease>>> = nodes
            .iter()
            .map(|n| {
                self.leases
                    .get(&reflector::ObjectRef::new(&n.name_any()).within(LEASE_NAMESPACE))
            })
            .collect();
        // Each node's Ready status once this pass has marked the silent ones Unknown.
        let statuses: Vec<Option<&str>> = nodes
            .iter()
            .zip(&leases)
            .map(
                |(n, l)| match node_health(n, l.as_deref(), now, &self.cfg) {
                    Health::MarkUnknown { .. } => Some("Unknown"),
                    _ => ready_status(n),
                },
            )
            .collect();
        let disrupted = fully_disrupted(statuses.iter().copied());
        self.update_zones(&nodes, &statuses, now);
        if disrupted != self.disrupted {
            if disrupted {
                tracing::warn!("every node is not Ready: entering master disruption mode (NoExecute taints removed, no evictions)");
            } else {
                tracing::info!("a node is Ready: leaving master disruption mode");
            }
            self.disrupted = disrupted;
        }
        for (node, lease) in nodes.iter().zip(&leases) {
            let name = node.name_any();
            let zone = zone_key(node);
            let node = match self
                .sync_node(node, lease.as_deref(), now, disrupted, &zone)
                .await
            {
                Ok((node, recheck, went_not_ready)) => {
                    if went_not_ready {
                        self.mark_pods.insert(name.clone());
                    }
                    if let Some(r) = recheck {
                        next = Some(next.map_or(r, |n| n.min(r)));
                    }
                    node
                }
                Err(e) => {
                    tracing::debug!(node = %name, error = %e, "node sync failed");
                    std::borrow::Cow::Borrowed(&**node)
                }
            };
            if ready_status(&node) == Some("True") {
                self.mark_pods.remove(&name);
            }
            taints_by_node.insert(name, no_execute_taints(&node));
        }
        self.mark_pods.retain(|n| taints_by_node.contains_key(n));
        if !self.mark_pods.is_empty() {
            self.mark_pods_not_ready(now).await;
        }
        self.first_seen.retain(|(n, k), _| {
            taints_by_node
                .get(n)
                .is_some_and(|ts| ts.iter().any(|t| &t.key == k && t.time_added.is_none()))
        });
        if taints_by_node.values().all(Vec::is_empty) {
            // No node has a NoExecute taint: no pod is to be evicted, so skip the walk over
            // every pod (this pass runs up to four times a second while pods change).
            return self.until(next);
        }
        let pods = self.pods.state();
        let live: HashSet<String> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.uid())
            .collect();
        self.evicted.retain(|uid| live.contains(uid));
        for pod in pods {
            if pod.metadata.deletion_timestamp.is_some()
                || pod.uid().is_some_and(|u| self.evicted.contains(&u))
            {
                continue;
            }
            let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            let Some(taints) = taints_by_node.get(&node_name) else {
                continue;
            };
            if taints.is_empty() {
                continue;
            }
            let fallback = taints
                .iter()
                .filter(|t| t.time_added.is_none())
                .map(|t| {
                    *self
                        .first_seen
                        .entry((node_name.clone(), t.key.clone()))
                        .or_insert(now)
                })
                .min()
                .unwrap_or(now);
            match pod_eviction(&pod, taints, now, fallback) {
                Eviction::Keep => {}
                Eviction::At(at) => next = Some(next.map_or(at, |n| n.min(at))),
                Eviction::Now => {
                    if self.evict(&pod).await {
                        if let Some(uid) = pod.uid() {
                            self.evicted.insert(uid);
                        }
                    }
                }
            }
        }
        self.until(next)
    }

    /// Recomputes each zone's state and sets its tainting rate (upstream's
    /// `handleDisruption`, for the zones that are not all down together).
    fn update_zones(&mut self, nodes: &[Arc<Node>], statuses: &[Option<&str>], now: Timestamp) {
        let mut by_zone: HashMap<String, Vec<Option<&str>>> = HashMap::new();
        for (n, st) in nodes.iter().zip(statuses) {
            by_zone.entry(zone_key(n)).or_default().push(*st);
        }
        self.zones.retain(|z, _| by_zone.contains_key(z));
        for (zone, sts) in by_zone {
            let state = zone_state(sts.iter().copied(), self.cfg.unhealthy_zone_threshold);
            let rate = zone_rate(state, sts.len(), &self.cfg);
            let entry = self
                .zones
                .entry(zone.clone())
                .or_insert_with(|| (state, TaintLimiter::new(rate, now)));
            if entry.0 != state {
                tracing::info!(zone = %zone.replace('\0', ""), from = ?entry.0, to = ?state, rate, "zone state changed");
                entry.0 = state;
            }
            entry.1.set_rate(rate, now);
        }
    }

    /// How long to sleep until `next`, or the monitor period when nothing is due.
    fn until(&self, next: Option<Timestamp>) -> Duration {
        next.and_then(|n| n.duration_since(Timestamp::now()).try_into().ok())
            .unwrap_or(self.cfg.monitor_period)
            .max(Duration::from_millis(10))
    }

    /// Marks the node Unknown if it went silent and sets its taints; returns the node as
    /// written and when its heartbeat would go stale.
    async fn sync_node<'a>(
        &mut self,
        node: &'a Node,
        lease: Option<&Lease>,
        now: Timestamp,
        disrupted: bool,
        zone: &str,
    ) -> Result<(std::borrow::Cow<'a, Node>, Option<Timestamp>, bool), Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = node.name_any();
        // Most passes change nothing: borrow, and own only what the API returns.
        let mut node = std::borrow::Cow::Borrowed(node);
        let mut recheck = None;
        let mut went_not_ready = false;
        match node_health(&node, lease, now, &self.cfg) {
            Health::Fresh { recheck_at } => recheck = recheck_at,
            Health::AlreadyUnknown => {}
            Health::MarkUnknown {
                conditions,
                was_ready,
            } => {
                // Optimistic concurrency: a kubelet posting meanwhile wins; we look again.
                let patch = json!({
                    "metadata": {"resourceVersion": node.resource_version()},
                    "status": {"conditions": conditions},
                });
                node = std::borrow::Cow::Owned(
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await?,
                );
                tracing::info!(node = %name, "node stopped posting status; marked Unknown");
                went_not_ready = was_ready;
                if was_ready {
                    self.node_events.normal(
                        &*node,
                        "NodeNotReady",
                        format!("Node {name} status is now: NodeNotReady"),
                    );
                }
            }
        }
        // The zone's rate decides when a node first gets a NoExecute taint; until then it
        // gets the NoSchedule one only, and is looked at again when the next token is due.
        let mut allowed = true;
        if needs_first_no_execute(&node, disrupted) {
            if let Some((_, limiter)) = self.zones.get_mut(zone) {
                if let Err(at) = limiter.try_take(now) {
                    allowed = false;
                    if let Some(at) = at {
                        recheck = Some(recheck.map_or(at, |r: Timestamp| r.min(at)));
                    }
                }
            }
        }
        if let Some(taints) = desired_taints(&node, now, disrupted, allowed) {
            let patch = json!({
                "metadata": {"resourceVersion": node.resource_version()},
                "spec": {"taints": taints},
            });
            node = std::borrow::Cow::Owned(
                api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?,
            );
            tracing::info!(node = %name, ready = ?ready_status(&node), "node taints updated");
        }
        Ok((node, recheck, went_not_ready))
    }

    /// Ready=False on the Ready pods of the nodes in `mark_pods`; a node leaves the set once
    /// all its updates went through.
    async fn mark_pods_not_ready(&mut self, now: Timestamp) {
        let pods = self.pods.state();
        let mut done = Vec::new();
        for node in &self.mark_pods {
            let mut ok = true;
            for pod in pods_to_mark_not_ready(&pods, node) {
                let ns = pod.namespace().unwrap_or_default();
                let name = pod.name_any();
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                match api
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Strategic(not_ready_patch(now)),
                    )
                    .await
                {
                    Ok(_) => {
                        tracing::info!(pod = %format!("{ns}/{name}"), node = %node, "pod marked not ready: its node is not ready");
                        self.node_events.record(
                            pod,
                            crate::events::EventType::Warning,
                            "NodeNotReady",
                            "Node is not ready",
                        );
                    }
                    // Already gone: nothing left to mark.
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => {
                        tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "cannot mark pod not ready");
                        ok = false;
                    }
                }
            }
            if ok {
                done.push(node.clone());
            }
        }
        for n in done {
            self.mark_pods.remove(&n);
        }
    }

    /// Deletes `pod`; true when it is gone or going.
    async fn evict(&self, pod: &Pod) -> bool {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        self.pod_events.normal(
            pod,
            "TaintManagerEviction",
            format!("Marking for deletion Pod {ns}/{name}"),
        );
        // Upstream adds the DisruptionTarget condition before deleting; best effort.
        let cond = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": Time(Timestamp::now()),
        }]}});
        if let Err(e) = api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(cond))
            .await
        {
            tracing::debug!(pod = %name, error = %e, "could not add DisruptionTarget");
        }
        let dp = DeleteParams {
            preconditions: pod.uid().map(|uid| kube::api::Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {
                tracing::info!(pod = %format!("{ns}/{name}"), "evicted for NoExecute taint");
                true
            }
            // Gone, or replaced by a pod of the same name (UID precondition).
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => true,
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "eviction failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn cfg() -> NodeLifecycleConfig {
        NodeLifecycleConfig {
            monitor_period: Duration::from_secs(1),
            grace_period: Duration::from_secs(40),
            startup_grace_period: Duration::from_secs(60),
            ..Default::default()
        }
    }

    fn node(ready: Option<(&str, i64)>, taints: Vec<Taint>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                creation_timestamp: Some(Time(ts(0))),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: (!taints.is_empty()).then_some(taints),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: ready.map(|(status, beat)| {
                    vec![
                        NodeCondition {
                            type_: "MemoryPressure".into(),
                            status: "False".into(),
                            ..Default::default()
                        },
                        NodeCondition {
                            type_: "Ready".into(),
                            status: status.into(),
                            reason: Some("KubeletReady".into()),
                            last_heartbeat_time: Some(Time(ts(beat))),
                            last_transition_time: Some(Time(ts(0))),
                            ..Default::default()
                        },
                    ]
                }),
                ..Default::default()
            }),
        }
    }

    fn lease(renew: i64) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(ts(renew))),
                ..Default::default()
            }),
        }
    }

    fn taint(key: &str, effect: &str, added: Option<i64>) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: added.map(|s| Time(ts(s))),
        }
    }

    fn tol(key: Option<&str>, op: &str, effect: Option<&str>, secs: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: Some(op.into()),
            effect: effect.map(Into::into),
            toleration_seconds: secs,
            value: None,
        }
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                tolerations: Some(tolerations),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn fresh_lease_keeps_node_healthy_even_with_old_heartbeat() {
        let n = node(Some(("True", 0)), vec![]);
        assert_eq!(
            node_health(&n, Some(&lease(100)), ts(130), &cfg()),
            Health::Fresh {
                recheck_at: Some(ts(140))
            }
        );
        // The newer of the two counts: an old lease does not override a fresh heartbeat.
        let n = node(Some(("True", 100)), vec![]);
        assert!(matches!(
            node_health(&n, Some(&lease(0)), ts(130), &cfg()),
            Health::Fresh { .. }
        ));
    }

    #[test]
    fn silent_node_goes_unknown_once() {
        let n = node(Some(("True", 0)), vec![]);
        let Health::MarkUnknown {
            conditions,
            was_ready,
        } = node_health(&n, Some(&lease(10)), ts(51), &cfg())
        else {
            panic!("a node silent past the grace period must be marked Unknown")
        };
        assert!(was_ready);
        let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some(REASON_UNKNOWN));
        assert_eq!(ready.message.as_deref(), Some(MESSAGE_UNKNOWN));
        assert_eq!(ready.last_transition_time, Some(Time(ts(51))));
        // The kubelet's last heartbeat is kept.
        assert_eq!(ready.last_heartbeat_time, Some(Time(ts(0))));
        let mem = conditions
            .iter()
            .find(|c| c.type_ == "MemoryPressure")
            .unwrap();
        assert_eq!(mem.status, "Unknown");
        // Exactly at the deadline is still fresh.
        assert!(matches!(
            node_health(&n, Some(&lease(10)), ts(50), &cfg()),
            Health::Fresh { .. }
        ));
        // Once written, nothing more to do.
        let mut marked = n.clone();
        marked.status.as_mut().unwrap().conditions = Some(conditions);
        assert_eq!(
            node_health(&marked, Some(&lease(10)), ts(90), &cfg()),
            Health::AlreadyUnknown
        );
    }

    #[test]
    fn node_that_never_posted_uses_startup_grace() {
        let n = node(None, vec![]);
        assert!(matches!(
            node_health(&n, None, ts(59), &cfg()),
            Health::Fresh { .. }
        ));
        let Health::MarkUnknown {
            conditions,
            was_ready,
        } = node_health(&n, None, ts(61), &cfg())
        else {
            panic!("never-posted node must be marked after the startup grace")
        };
        assert!(!was_ready);
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, "Unknown");
        assert_eq!(conditions[0].reason.as_deref(), Some(REASON_NEVER_UPDATED));
    }

    #[test]
    fn taints_follow_ready() {
        let other = taint("dedicated", NO_SCHEDULE, None);
        // Unknown: unreachable NoExecute (with timeAdded) and NoSchedule; others kept.
        let n = node(Some(("Unknown", 0)), vec![other.clone()]);
        let t = desired_taints(&n, ts(5), false, true).unwrap();
        assert_eq!(
            t,
            vec![
                other.clone(),
                taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(5)),
                taint(TAINT_UNREACHABLE, NO_SCHEDULE, None),
            ]
        );
        // Already right: no write, and timeAdded is not refreshed.
        let n = node(Some(("Unknown", 0)), t.clone());
        assert_eq!(desired_taints(&n, ts(99), false, true), None);
        // False: swap unreachable for not-ready.
        let n = node(Some(("False", 0)), t.clone());
        assert_eq!(
            desired_taints(&n, ts(7), false, true).unwrap(),
            vec![
                other.clone(),
                taint(TAINT_NOT_READY, NO_EXECUTE, Some(7)),
                taint(TAINT_NOT_READY, NO_SCHEDULE, None),
            ]
        );
        // True: both removed.
        let n = node(Some(("True", 0)), t);
        assert_eq!(
            desired_taints(&n, ts(9), false, true).unwrap(),
            vec![other.clone()]
        );
        let n = node(Some(("True", 0)), vec![other]);
        assert_eq!(desired_taints(&n, ts(9), false, true), None);
        // No Ready condition yet: left alone.
        assert_eq!(
            desired_taints(&node(None, vec![]), ts(9), false, true),
            None
        );
    }

    #[test]
    fn toleration_matching() {
        let t = taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(0));
        assert!(tolerates(
            &tol(Some(TAINT_UNREACHABLE), "Exists", Some(NO_EXECUTE), None),
            &t
        ));
        assert!(tolerates(&tol(None, "Exists", None, None), &t));
        assert!(!tolerates(
            &tol(Some(TAINT_UNREACHABLE), "Exists", Some(NO_SCHEDULE), None),
            &t
        ));
        assert!(!tolerates(
            &tol(Some(TAINT_NOT_READY), "Exists", None, None),
            &t
        ));
        // Equal with an empty value matches a taint without a value; empty key with Equal
        // matches nothing.
        assert!(tolerates(
            &tol(Some(TAINT_UNREACHABLE), "Equal", None, None),
            &t
        ));
        assert!(!tolerates(&tol(None, "Equal", None, None), &t));
    }

    #[test]
    fn eviction_timing() {
        let taints = vec![
            taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(100)),
            taint(TAINT_UNREACHABLE, NO_SCHEDULE, None),
        ];
        let fb = ts(0);
        // No toleration: at once.
        assert_eq!(
            pod_eviction(&pod(vec![]), &taints, ts(100), fb),
            Eviction::Now
        );
        // Tolerating only NoSchedule is not enough.
        let p = pod(vec![tol(
            Some(TAINT_UNREACHABLE),
            "Exists",
            Some(NO_SCHEDULE),
            None,
        )]);
        assert_eq!(pod_eviction(&p, &taints, ts(100), fb), Eviction::Now);
        // 300 s from timeAdded.
        let p = pod(vec![tol(
            Some(TAINT_UNREACHABLE),
            "Exists",
            Some(NO_EXECUTE),
            Some(300),
        )]);
        assert_eq!(
            pod_eviction(&p, &taints, ts(101), fb),
            Eviction::At(ts(400))
        );
        assert_eq!(pod_eviction(&p, &taints, ts(400), fb), Eviction::Now);
        // Forever.
        let p = pod(vec![tol(Some(TAINT_UNREACHABLE), "Exists", None, None)]);
        assert_eq!(pod_eviction(&p, &taints, ts(9999), fb), Eviction::Keep);
        // Forever plus a bounded one: the bounded one wins (upstream's minimum).
        let p = pod(vec![
            tol(None, "Exists", None, None),
            tol(Some(TAINT_UNREACHABLE), "Exists", None, Some(2)),
        ]);
        assert_eq!(
            pod_eviction(&p, &taints, ts(101), fb),
            Eviction::At(ts(102))
        );
        // Negative seconds mean zero.
        let p = pod(vec![tol(Some(TAINT_UNREACHABLE), "Exists", None, Some(-5))]);
        assert_eq!(pod_eviction(&p, &taints, ts(100), fb), Eviction::Now);
        // Two NoExecute taints: one untolerated evicts at once.
        let two = vec![
            taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(100)),
            taint("custom", NO_EXECUTE, Some(100)),
        ];
        let p = pod(vec![tol(Some(TAINT_UNREACHABLE), "Exists", None, None)]);
        assert_eq!(pod_eviction(&p, &two, ts(100), fb), Eviction::Now);
        // Missing timeAdded counts from the fallback.
        let bare = vec![taint(TAINT_UNREACHABLE, NO_EXECUTE, None)];
        let p = pod(vec![tol(Some(TAINT_UNREACHABLE), "Exists", None, Some(10))]);
        assert_eq!(pod_eviction(&p, &bare, ts(1), ts(5)), Eviction::At(ts(15)));
        // Only NoSchedule taints: nothing to do.
        let ns = vec![taint(TAINT_UNREACHABLE, NO_SCHEDULE, None)];
        assert_eq!(pod_eviction(&pod(vec![]), &ns, ts(1), fb), Eviction::Keep);
    }

    #[test]
    fn pressure_conditions_and_cordons_taint_no_schedule() {
        let mut n = node(Some(("True", 5)), vec![]);
        if let Some(c) = n
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
            .and_then(|cs| cs.iter_mut().find(|c| c.type_ == "MemoryPressure"))
        {
            c.status = "True".into();
        }
        n.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
        let taints = desired_taints(&n, ts(5), false, true).unwrap();
        let keys: Vec<(&str, &str)> = taints
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
                (TAINT_UNSCHEDULABLE, NO_SCHEDULE)
            ]
        );
        // Pressure over and uncordoned: both taints go.
        n.spec.as_mut().unwrap().taints = Some(taints);
        n.spec.as_mut().unwrap().unschedulable = None;
        if let Some(c) = n
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
            .and_then(|cs| cs.iter_mut().find(|c| c.type_ == "MemoryPressure"))
        {
            c.status = "False".into();
        }
        assert_eq!(desired_taints(&n, ts(6), false, true).unwrap(), vec![]);
    }

    #[test]
    fn only_ready_pods_of_the_node_are_marked_not_ready() {
        use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
        let mk = |name: &str, node: &str, ready: Option<&str>| {
            let mut p = pod(vec![]);
            p.metadata.name = Some(name.into());
            p.spec.as_mut().unwrap().node_name = Some(node.into());
            p.status = ready.map(|r| PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: r.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            });
            Arc::new(p)
        };
        let pods = vec![
            mk("a", "n1", Some("True")),
            mk("b", "n1", Some("False")),
            mk("c", "n1", None),
            mk("d", "n2", Some("True")),
            mk("e", "n1", Some("True")),
        ];
        let names: Vec<String> = pods_to_mark_not_ready(&pods, "n1")
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(names, ["a", "e"]);
        let patch = not_ready_patch(ts(0));
        assert_eq!(
            patch,
            json!({"status": {"conditions": [{
                "type": "Ready", "status": "False",
                "lastTransitionTime": "2023-11-14T22:13:20Z",
            }]}})
        );
    }

    #[test]
    fn when_every_node_is_down_no_execute_taints_go_and_no_schedule_stays() {
        assert!(fully_disrupted([Some("Unknown"), Some("False"), None]));
        assert!(!fully_disrupted([Some("Unknown"), Some("True")]));
        assert!(!fully_disrupted(std::iter::empty::<Option<&str>>()));
        let other = taint("dedicated", NO_SCHEDULE, None);
        // A node going Unknown during a disruption gets only the NoSchedule taint …
        let n = node(Some(("Unknown", 0)), vec![other.clone()]);
        assert_eq!(
            desired_taints(&n, ts(5), true, true).unwrap(),
            vec![other.clone(), taint(TAINT_UNREACHABLE, NO_SCHEDULE, None)]
        );
        // … and one already tainted loses its NoExecute taint.
        let tainted = vec![
            other.clone(),
            taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(1)),
            taint(TAINT_UNREACHABLE, NO_SCHEDULE, None),
        ];
        let n = node(Some(("Unknown", 0)), tainted.clone());
        assert_eq!(
            desired_taints(&n, ts(5), true, true).unwrap(),
            vec![other.clone(), taint(TAINT_UNREACHABLE, NO_SCHEDULE, None)]
        );
        // Out of the disruption, NoExecute comes back with a fresh timeAdded.
        let n = node(
            Some(("Unknown", 0)),
            vec![other.clone(), taint(TAINT_UNREACHABLE, NO_SCHEDULE, None)],
        );
        assert_eq!(
            desired_taints(&n, ts(30), false, true).unwrap(),
            vec![
                other,
                taint(TAINT_UNREACHABLE, NO_SCHEDULE, None),
                taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(30)),
            ]
        );
    }

    #[test]
    fn zones_are_partially_disrupted_past_two_nodes_and_the_threshold() {
        let st = |ready: usize, not: usize| {
            let v: Vec<Option<&str>> = std::iter::repeat_n(Some("True"), ready)
                .chain(std::iter::repeat_n(Some("Unknown"), not))
                .collect();
            zone_state(v, 0.55)
        };
        assert_eq!(st(3, 0), ZoneState::Normal);
        // Two down are never a disruption, whatever their share.
        assert_eq!(st(0, 2), ZoneState::FullDisruption);
        assert_eq!(st(1, 2), ZoneState::Normal);
        assert_eq!(st(2, 3), ZoneState::PartialDisruption);
        assert_eq!(st(3, 3), ZoneState::Normal);
        assert_eq!(st(0, 0), ZoneState::Normal);
        let cfg = NodeLifecycleConfig::default();
        assert_eq!(zone_rate(ZoneState::Normal, 5, &cfg), 0.1);
        assert_eq!(zone_rate(ZoneState::FullDisruption, 5, &cfg), 0.1);
        // Small zones stop tainting when partially disrupted; large ones slow down.
        assert_eq!(zone_rate(ZoneState::PartialDisruption, 50, &cfg), 0.0);
        assert_eq!(zone_rate(ZoneState::PartialDisruption, 51, &cfg), 0.01);
    }

    #[test]
    fn zone_keys_come_from_topology_labels() {
        let mut n = node(None, vec![]);
        assert_eq!(zone_key(&n), "");
        n.metadata.labels = Some(
            [
                (
                    "topology.kubernetes.io/region".to_string(),
                    "r1".to_string(),
                ),
                ("topology.kubernetes.io/zone".to_string(), "z1".to_string()),
            ]
            .into(),
        );
        assert_eq!(zone_key(&n), "r1:\x00:z1");
    }

    #[test]
    fn the_limiter_lets_one_node_through_per_period() {
        let mut l = TaintLimiter::new(0.1, ts(0));
        assert_eq!(l.try_take(ts(0)), Ok(()));
        assert_eq!(l.try_take(ts(1)), Err(Some(ts(10))));
        assert_eq!(l.try_take(ts(10)), Ok(()));
        // A new rate starts full; the same rate keeps the bucket.
        l.set_rate(0.1, ts(11));
        assert!(l.try_take(ts(11)).is_err());
        l.set_rate(0.5, ts(11));
        assert_eq!(l.try_take(ts(11)), Ok(()));
        l.set_rate(0.0, ts(12));
        assert_eq!(l.try_take(ts(100)), Err(None));
    }

    #[test]
    fn a_withheld_node_gets_no_schedule_only_and_swaps_taints_it_has() {
        let n = node(Some(("Unknown", 0)), vec![]);
        assert!(needs_first_no_execute(&n, false));
        assert!(!needs_first_no_execute(&n, true));
        assert_eq!(
            desired_taints(&n, ts(5), false, false).unwrap(),
            vec![taint(TAINT_UNREACHABLE, NO_SCHEDULE, None)]
        );
        // Tainted not-ready before, unreachable now: swapped at once, not rate limited.
        let n = node(
            Some(("Unknown", 0)),
            vec![taint(TAINT_NOT_READY, NO_EXECUTE, Some(1))],
        );
        assert!(!needs_first_no_execute(&n, false));
        let t = desired_taints(&n, ts(5), false, false).unwrap();
        assert!(
            t.contains(&taint(TAINT_UNREACHABLE, NO_EXECUTE, Some(5))),
            "{t:?}"
        );
        assert!(!needs_first_no_execute(
            &node(Some(("True", 0)), vec![]),
            false
        ));
    }
}
