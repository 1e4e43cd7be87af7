//! The runtime: watches (nodes, pods, namespaces) feed one scheduling loop that owns the cache
//! and the queue; binds, events and status patches run as bounded concurrent tasks.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn};

use crate::cache::{Cluster, Nominated, PodInfo};
use crate::core::Algorithm;
use crate::framework::Framework;
use crate::preemption::{self, Outcome};
use crate::queue::{pod_key, QueueConfig, SchedulingQueue};
use crate::Error;

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Pods with this `spec.schedulerName` are ours.
    pub scheduler_name: String,
    /// 0 = upstream's adaptive percentage.
    pub percentage_of_nodes_to_score: u32,
    /// Concurrent `pods/binding` calls.
    pub parallel_binds: usize,
    pub queue: QueueConfig,
    /// Emit a `Scheduled` event per bound pod (as upstream).
    pub record_scheduled_events: bool,
    /// `reportingInstance` of our events.
    pub instance: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: "default-scheduler".into(),
            percentage_of_nodes_to_score: 0,
            parallel_binds: 64,
            queue: QueueConfig::default(),
            record_scheduled_events: true,
            instance: "default-scheduler".into(),
        }
    }
}

const COMPONENT: &str = "default-scheduler";

enum BindOutcome {
    Bound,
    AlreadyBound,
    Failed(String),
}

enum Input {
    Node(Box<Event<Node>>),
    Pod(Box<Event<Pod>>),
    Namespace(Box<Event<Namespace>>),
    Bound {
        uid: String,
        pod: Arc<Pod>,
        outcome: BindOutcome,
    },
}

fn spawn_watch<K>(api: Api<K>, tx: mpsc::UnboundedSender<Input>, wrap: fn(Event<K>) -> Input)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher::watcher(api, watcher::Config::default())
            .modify(strip_managed_fields)
            .default_backoff());
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if tx.send(wrap(ev)).is_err() {
                        return;
                    }
                }
                Err(e) => warn!(error = %e, "watch error (retrying)"),
            }
        }
    });
}

/// Drops an object's managedFields before the scheduler keeps it: nothing here reads them,
/// they are often the largest part of an object, and the scheduler never writes a cached
/// object back whole (it binds through pods/binding and patches status), so nothing stripped
/// reaches the server.
fn strip_managed_fields<K: Resource>(o: &mut K) {
    o.meta_mut().managed_fields = None;
}

/// Buffers a re-list (Init … InitDone) so it replaces the previous view at once.
struct Relist<K> {
    buffer: Option<Vec<K>>,
    synced: bool,
}

impl<K> Relist<K> {
    fn new() -> Self {
        Relist {
            buffer: None,
            synced: false,
        }
    }

    /// Returns the complete list when a re-list finishes.
    fn feed(&mut self, ev: Event<K>, apply: &mut impl FnMut(K, bool)) -> Option<Vec<K>> {
        match ev {
            Event::Init => {
                self.buffer = Some(Vec::new());
                None
            }
            Event::InitApply(k) => {
                self.buffer.get_or_insert_with(Vec::new).push(k);
                None
            }
            Event::InitDone => {
                self.synced = true;
                self.buffer.take()
            }
            Event::Apply(k) => {
                apply(k, false);
                None
            }
            Event::Delete(k) => {
                apply(k, true);
                None
            }
        }
    }
}

struct Scheduler {
    config: SchedulerConfig,
    client: Client,
    cluster: Cluster,
    queue: SchedulingQueue,
    algorithm: Algorithm,
    rng: StdRng,
    binds: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Input>,
    nodes: Relist<Node>,
    pods: Relist<Pod>,
    namespaces: Relist<Namespace>,
    /// pod uid → (event name, message, count) of its last FailedScheduling event.
    failures: HashMap<String, (String, String, i32)>,
    scheduled: u64,
}

/// Runs the scheduler until a watch channel closes.
pub async fn run(client: Client, config: SchedulerConfig) -> Result<(), Error> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn_watch(Api::<Node>::all(client.clone()), tx.clone(), |e| {
        Input::Node(Box::new(e))
    });
    spawn_watch(Api::<Pod>::all(client.clone()), tx.clone(), |e| {
        Input::Pod(Box::new(e))
    });
    spawn_watch(Api::<Namespace>::all(client.clone()), tx.clone(), |e| {
        Input::Namespace(Box::new(e))
    });
    let mut s = Scheduler::new(client, config, tx);
    info!(name = %s.config.scheduler_name, "scheduler started");
    let mut last_unsched_flush = Instant::now();
    let mut since_yield = 0u32;
    loop {
        // take in everything the watches and binds reported
        loop {
            match rx.try_recv() {
                Ok(input) => s.handle(input),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return Err(Error::WatchEnded("input"))
                }
            }
        }
        let now = Instant::now();
        if now.duration_since(last_unsched_flush) >= Duration::from_secs(1) {
            s.queue.flush_unschedulable(now);
            last_unsched_flush = now;
        }
        let synced = s.nodes.synced && s.pods.synced && s.namespaces.synced;
        if synced {
            if let Some(q) = s.queue.pop(now) {
                s.schedule_one(q);
                since_yield += 1;
                if since_yield >= 32 {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                continue;
            }
        }
        let wake = s
            .queue
            .next_wakeup()
            .map(|t| t.min(now + Duration::from_secs(1)))
            .unwrap_or(now + Duration::from_secs(1));
        tokio::select! {
            input = rx.recv() => match input {
                Some(input) => s.handle(input),
                None => return Err(Error::WatchEnded("input")),
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

impl Scheduler {
    fn new(client: Client, config: SchedulerConfig, tx: mpsc::UnboundedSender<Input>) -> Self {
        Scheduler {
            algorithm: Algorithm::new(
                Framework::default_profile(),
                config.percentage_of_nodes_to_score,
            ),
            queue: SchedulingQueue::new(config.queue.clone()),
            binds: Arc::new(Semaphore::new(config.parallel_binds.max(1))),
            rng: StdRng::from_os_rng(),
            cluster: Cluster::new(),
            nodes: Relist::new(),
            pods: Relist::new(),
            namespaces: Relist::new(),
            failures: HashMap::new(),
            scheduled: 0,
            config,
            client,
            tx,
        }
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Node(ev) => {
                let mut changed = false;
                let cluster = &mut self.cluster;
                let full = self.nodes.feed(*ev, &mut |n: Node, deleted| {
                    if deleted {
                        cluster.remove_node(n.metadata.name.as_deref().unwrap_or_default());
                    } else {
                        changed |= cluster.upsert_node(n);
                    }
                });
                if let Some(list) = full {
                    let names: HashSet<String> = list
                        .iter()
                        .filter_map(|n| n.metadata.name.clone())
                        .collect();
                    let gone: Vec<String> = self
                        .cluster
                        .nodes()
                        .map(|n| n.name.clone())
                        .filter(|n| !names.contains(n))
                        .collect();
                    for n in gone {
                        self.cluster.remove_node(&n);
                    }
                    for n in list {
                        changed |= self.cluster.upsert_node(n);
                    }
                }
                if changed {
                    self.queue.move_all_to_active_or_backoff(now);
                }
            }
            Input::Namespace(ev) => {
                let cluster = &mut self.cluster;
                let full = self.namespaces.feed(*ev, &mut |ns: Namespace, deleted| {
                    let name = ns.metadata.name.clone().unwrap_or_default();
                    if deleted {
                        cluster.namespaces.remove(&name);
                    } else {
                        cluster
                            .namespaces
                            .insert(name, ns.metadata.labels.unwrap_or_default());
                    }
                });
                if let Some(list) = full {
                    self.cluster.namespaces = list
                        .into_iter()
                        .map(|ns| {
                            (
                                ns.metadata.name.unwrap_or_default(),
                                ns.metadata.labels.unwrap_or_default(),
                            )
                        })
                        .collect();
                }
            }
            Input::Pod(ev) => {
                let mut updates = Vec::new();
                let full = self
                    .pods
                    .feed(*ev, &mut |p: Pod, deleted| updates.push((p, deleted)));
                for (p, deleted) in updates {
                    self.pod_event(p, deleted, now);
                }
                if let Some(list) = full {
                    let uids: HashSet<String> =
                        list.iter().filter_map(|p| p.metadata.uid.clone()).collect();
                    let keys: HashSet<String> = list.iter().map(pod_key).collect();
                    for p in list {
                        self.pod_event(p, false, now);
                    }
                    self.cluster.retain_pods(|uid| uids.contains(uid));
                    self.queue.retain(|k| keys.contains(k));
                }
            }
            Input::Bound { uid, pod, outcome } => match outcome {
                BindOutcome::Bound => {
                    self.scheduled += 1;
                    if self.scheduled.is_multiple_of(1000) {
                        info!(scheduled = self.scheduled, "pods bound");
                    }
                }
                BindOutcome::AlreadyBound => {
                    // someone else bound it: the watch tells where it went
                    if self.cluster.forget_pod(&uid).is_some() {
                        self.queue.move_all_to_active_or_backoff(now);
                    }
                }
                BindOutcome::Failed(e) => {
                    warn!(pod = %pod_key(&pod), error = %e, "binding failed; retrying");
                    // a pod the watch saw bound or deleted meanwhile is not ours to retry
                    if self.cluster.forget_pod(&uid).is_some() {
                        // its node has room again for pods that did not fit
                        self.queue.move_all_to_active_or_backoff(now);
                        self.queue.add_backoff(pod, now);
                    }
                }
            },
        }
    }

    fn pod_event(&mut self, pod: Pod, deleted: bool, now: Instant) {
        let key = pod_key(&pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let finished = matches!(phase, Some("Succeeded") | Some("Failed"));
        if deleted || finished {
            self.queue.remove(&key);
            self.cluster.nominated.remove(&uid);
            self.failures.remove(&uid);
            if self.cluster.remove_pod(&uid).is_some() {
                // freed resources
                self.queue.move_all_to_active_or_backoff(now);
            }
            return;
        }
        if let Some(node) = node {
            self.queue.remove(&key);
            self.failures.remove(&uid);
            // an assumed pod is confirmed by upsert_pod below, taking the informer's copy
            let same = self.cluster.pod_node(&uid) == Some(node.as_str());
            let old_labels = if same {
                self.cluster
                    .node(&node)
                    .and_then(|n| n.pods.iter().find(|p| p.uid == uid))
                    .map(|p| p.labels.clone())
            } else {
                None
            };
            let info = Arc::new(PodInfo::new(Arc::new(pod)));
            let labels_changed = old_labels.as_ref() != Some(&info.labels);
            self.cluster.upsert_pod(info, &node);
            if labels_changed && !same {
                // a new pod elsewhere may satisfy affinity of waiting pods
                self.queue.move_all_to_active_or_backoff(now);
            }
            return;
        }
        let ours = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref())
            == Some(self.config.scheduler_name.as_str());
        // an assumed pod's bind is in flight: an update of the still unbound pod (a status
        // patch) must not queue it again
        if !ours || self.cluster.is_assumed(&uid) {
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            self.queue.remove(&key);
            return;
        }
        self.queue.add_or_update(Arc::new(pod), now);
    }

    fn schedule_one(&mut self, q: crate::queue::QueuedPod) {
        let now = Instant::now();
        let info = PodInfo::new(Arc::clone(&q.pod));
        match self.algorithm.schedule(&info, &self.cluster, &mut self.rng) {
            Ok(placement) => {
                debug!(pod = %q.key, node = %placement.node, evaluated = placement.evaluated,
                    feasible = placement.feasible, "scheduled");
                self.queue.done(&q.key);
                self.failures.remove(&info.uid);
                let uid = info.uid.clone();
                self.cluster.assume_pod(Arc::new(info), &placement.node);
                self.spawn_bind(q.pod, uid, placement.node);
            }
            Err(mut fit) => {
                match preemption::preempt(&self.algorithm.framework, &info, &self.cluster, &fit) {
                    Outcome::Preempt(c) => {
                        info!(pod = %q.key, node = %c.node, victims = c.victims.len(), "preempting");
                        self.cluster.nominated.insert(
                            info.uid.clone(),
                            Nominated {
                                node: c.node.clone(),
                                pod: Arc::new(info.clone()),
                            },
                        );
                        self.spawn_preemption(&info, c);
                    }
                    Outcome::NotEligible(m) | Outcome::NoCandidate(m) => {
                        fit.post_filter_msg = Some(m)
                    }
                }
                let message = fit.message();
                debug!(pod = %q.key, %message, "unschedulable");
                self.queue.failed(&q.key, now, true);
                self.record_failure(&info, message);
            }
        }
    }

    fn spawn_bind(&self, pod: Arc<Pod>, uid: String, node: String) {
        let client = self.client.clone();
        let sem = Arc::clone(&self.binds);
        let tx = self.tx.clone();
        let events = self.config.record_scheduled_events;
        let instance = self.config.instance.clone();
        tokio::spawn(async move {
            let Ok(_permit) = sem.acquire_owned().await else {
                return;
            };
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}
            });
            let res: Result<serde_json::Value, kube::Error> = api
                .create_subresource("binding", &name, &PostParams::default(), &binding)
                .await;
            let outcome = match res {
                Ok(_) => BindOutcome::Bound,
                Err(kube::Error::Api(s)) if s.code == 409 => BindOutcome::AlreadyBound,
                Err(e) => BindOutcome::Failed(e.to_string()),
            };
            let bound = matches!(outcome, BindOutcome::Bound);
            let _ = tx.send(Input::Bound {
                uid,
                pod: Arc::clone(&pod),
                outcome,
            });
            if bound && events {
                let msg = format!("Successfully assigned {ns}/{name} to {node}");
                let ev = event_body(&pod, "Normal", "Scheduled", "Binding", &msg, &instance);
                create_event(&client, &ns, ev).await;
            }
        });
    }

    /// FailedScheduling event (aggregated: same message bumps count) and PodScheduled=False.
    fn record_failure(&mut self, info: &PodInfo, message: String) {
        let client = self.client.clone();
        let ns = info.namespace.clone();
        let pod = Arc::clone(&info.pod);
        let instance = self.config.instance.clone();
        let previous = self.failures.get(&info.uid).cloned();
        let update = match previous {
            Some((name, msg, count)) if msg == message => Some((name, count + 1)),
            _ => None,
        };
        let event_name = match &update {
            Some((name, count)) => {
                self.failures
                    .insert(info.uid.clone(), (name.clone(), message.clone(), *count));
                name.clone()
            }
            None => {
                let name = event_name(&info.name);
                self.failures
                    .insert(info.uid.clone(), (name.clone(), message.clone(), 1));
                name
            }
        };
        let condition_current = info
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
            .is_some_and(|c| {
                c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
                    && c.message.as_deref() == Some(message.as_str())
            });
        tokio::spawn(async move {
            let events: Api<k8s_openapi::api::core::v1::Event> =
                Api::namespaced(client.clone(), &ns);
            match update {
                Some((name, count)) => {
                    let patch =
                        json!({"count": count, "lastTimestamp": Timestamp::now().to_string()});
                    if let Err(e) = events
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        debug!(error = %e, "updating FailedScheduling event");
                    }
                }
                None => {
                    let mut ev = event_body(
                        &pod,
                        "Warning",
                        "FailedScheduling",
                        "Scheduling",
                        &message,
                        &instance,
                    );
                    ev["metadata"]["name"] = json!(event_name);
                    create_event(&client, &ns, ev).await;
                }
            }
            if !condition_current {
                let pods: Api<Pod> = Api::namespaced(client, &ns);
                let name = pod.metadata.name.clone().unwrap_or_default();
                let patch = json!({"status": {"conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": message, "lastProbeTime": null,
                    "lastTransitionTime": Timestamp::now().to_string()
                }]}});
                if let Err(e) = pods
                    .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                    .await
                {
                    debug!(error = %e, "setting PodScheduled=False");
                }
            }
        });
    }

    /// Sets nominatedNodeName, marks and deletes the victims.
    fn spawn_preemption(&self, preemptor: &PodInfo, c: preemption::Candidate) {
        let client = self.client.clone();
        let ns = preemptor.namespace.clone();
        let name = preemptor.name.clone();
        let puid = preemptor.uid.clone();
        let instance = self.config.instance.clone();
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let patch = json!({"status": {"nominatedNodeName": c.node}});
            if let Err(e) = pods
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                warn!(error = %e, pod = %name, "setting nominatedNodeName");
            }
            for v in c.victims {
                let vapi: Api<Pod> = Api::namespaced(client.clone(), &v.namespace);
                let cond = json!({"status": {"conditions": [{
                    "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": format!("{COMPONENT}: preempting to accommodate a higher priority pod"),
                    "lastTransitionTime": Timestamp::now().to_string()
                }]}});
                let _ = vapi
                    .patch_status(&v.name, &PatchParams::default(), &Patch::Strategic(&cond))
                    .await;
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(v.uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match vapi.delete(&v.name, &dp).await {
                    Ok(_) => {
                        let msg = format!("Preempted by pod {puid} on node {}", c.node);
                        let ev = event_body(
                            &v.pod,
                            "Normal",
                            "Preempted",
                            "Preempting",
                            &msg,
                            &instance,
                        );
                        create_event(&client, &v.namespace, ev).await;
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => warn!(error = %e, victim = %v.name, "deleting preemption victim"),
                }
            }
        });
    }
}

fn event_name(pod: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{pod}.{nanos:x}")
}

/// A core/v1 Event about a pod.
fn event_body(
    pod: &Pod,
    type_: &str,
    reason: &str,
    action: &str,
    message: &str,
    instance: &str,
) -> serde_json::Value {
    let now = Timestamp::now().to_string();
    let name = pod.metadata.name.clone().unwrap_or_default();
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event_name(&name), "namespace": pod.metadata.namespace},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "name": name,
            "namespace": pod.metadata.namespace, "uid": pod.metadata.uid,
            "resourceVersion": pod.metadata.resource_version
        },
        "reason": reason, "message": message, "type": type_,
        "source": {"component": COMPONENT},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "action": action,
        "reportingComponent": COMPONENT, "reportingInstance": instance
    })
}

async fn create_event(client: &Client, ns: &str, body: serde_json::Value) {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    let ev: k8s_openapi::api::core::v1::Event = match serde_json::from_value(body) {
        Ok(ev) => ev,
        Err(e) => {
            warn!(error = %e, "building event");
            return;
        }
    };
    if let Err(e) = api.create(&PostParams::default(), &ev).await {
        debug!(error = %e, "creating event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node, pod};
    use kube::client::Body;

    /// A client whose every request answers `status` (a Status body for errors); watch
    /// requests hang as an idle watch would. `objects` is the body of list requests.
    fn stub_client(status: u16, objects: serde_json::Value) -> Client {
        let svc = tower::service_fn(move |req: http::Request<Body>| {
            let objects = objects.clone();
            async move {
                let query = req.uri().query().unwrap_or_default().to_string();
                if query.contains("watch=true") {
                    std::future::pending::<()>().await;
                }
                let body = if req.method() == http::Method::GET {
                    json!({"apiVersion": "v1", "kind": "List",
                        "metadata": {"resourceVersion": "1"}, "items": objects})
                } else if status >= 400 {
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                        "message": "stub", "reason": "Stub", "code": status})
                } else {
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Success"})
                };
                let status = if req.method() == http::Method::GET {
                    200
                } else {
                    status
                };
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string().into_bytes()))
            }
        });
        Client::new(svc, "default")
    }

    fn scheduler(bind_status: u16) -> (Scheduler, mpsc::UnboundedReceiver<Input>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let config = SchedulerConfig {
            record_scheduled_events: false,
            ..SchedulerConfig::default()
        };
        let s = Scheduler::new(stub_client(bind_status, json!([])), config, tx);
        (s, rx)
    }

    fn cpu_on(s: &Scheduler, node: &str) -> i64 {
        s.cluster.node(node).expect("node").requested.milli_cpu
    }

    /// Node `a` (4 cpu) and pending pod `p` (3 cpu), then one scheduling cycle: `p` is
    /// assumed on `a` and its bind is under way.
    fn schedule_p(s: &mut Scheduler) -> Pod {
        s.handle(Input::Node(Box::new(Event::Apply(node(
            "a",
            "4",
            "8Gi",
            json!({}),
        )))));
        let p = pod("p", "3", "1Gi", json!({}));
        s.handle(Input::Pod(Box::new(Event::Apply(p.clone()))));
        let q = s.queue.pop(Instant::now()).expect("p queued");
        s.schedule_one(q);
        assert!(s.cluster.is_assumed("uid-p"));
        assert_eq!(s.cluster.pod_node("uid-p"), Some("a"));
        assert_eq!(cpu_on(s, "a"), 3000);
        assert!(!s.queue.contains("default/p"));
        p
    }

    async fn bind_outcome(rx: &mut mpsc::UnboundedReceiver<Input>) -> Input {
        let input = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("bind finished in time")
            .expect("channel open");
        assert!(matches!(input, Input::Bound { .. }), "a bind outcome");
        input
    }

    #[tokio::test]
    async fn failed_bind_forgets_and_requeues() {
        let (mut s, mut rx) = scheduler(500);
        schedule_p(&mut s);
        let outcome = bind_outcome(&mut rx).await;
        assert!(matches!(
            &outcome,
            Input::Bound {
                outcome: BindOutcome::Failed(_),
                ..
            }
        ));
        s.handle(outcome);
        assert!(!s.cluster.is_assumed("uid-p"));
        assert_eq!(s.cluster.pod_node("uid-p"), None);
        assert_eq!(cpu_on(&s, "a"), 0);
        assert!(s.queue.contains("default/p"), "requeued");
        // after its backoff it is scheduled again
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            s.queue.pop(later).map(|q| q.key).as_deref(),
            Some("default/p")
        );
    }

    #[tokio::test]
    async fn conflicting_bind_forgets_without_requeue() {
        let (mut s, mut rx) = scheduler(409);
        schedule_p(&mut s);
        s.handle(bind_outcome(&mut rx).await);
        assert!(!s.cluster.is_assumed("uid-p"));
        assert_eq!(cpu_on(&s, "a"), 0);
        assert!(
            !s.queue.contains("default/p"),
            "the watch says where it went"
        );
    }

    #[tokio::test]
    async fn watch_confirms_an_assumed_pod() {
        let (mut s, mut rx) = scheduler(201);
        let p = schedule_p(&mut s);
        // an update of the still unbound pod (say our status patch) does not queue it again
        let mut unbound = p.clone();
        unbound.metadata.resource_version = Some("2".into());
        s.handle(Input::Pod(Box::new(Event::Apply(unbound))));
        assert!(!s.queue.contains("default/p"));
        assert!(s.cluster.is_assumed("uid-p"));
        // the watch sees it bound: confirmed, counted once
        let mut bound = p;
        bound.spec.as_mut().expect("spec").node_name = Some("a".into());
        s.handle(Input::Pod(Box::new(Event::Apply(bound))));
        assert!(!s.cluster.is_assumed("uid-p"));
        assert_eq!(cpu_on(&s, "a"), 3000);
        assert_eq!(s.cluster.node("a").expect("a").pods.len(), 1);
        let outcome = bind_outcome(&mut rx).await;
        assert!(matches!(
            &outcome,
            Input::Bound {
                outcome: BindOutcome::Bound,
                ..
            }
        ));
        s.handle(outcome);
        assert_eq!(cpu_on(&s, "a"), 3000);
        assert!(!s.queue.contains("default/p"));
    }

    #[tokio::test]
    async fn failed_bind_after_confirmation_changes_nothing() {
        let (mut s, mut rx) = scheduler(500);
        let mut bound = schedule_p(&mut s);
        bound.spec.as_mut().expect("spec").node_name = Some("a".into());
        s.handle(Input::Pod(Box::new(Event::Apply(bound))));
        s.handle(bind_outcome(&mut rx).await);
        assert_eq!(cpu_on(&s, "a"), 3000);
        assert!(!s.queue.contains("default/p"));
    }

    #[tokio::test]
    async fn deleted_assumed_pod_is_dropped_by_a_relist() {
        let (mut s, _rx) = scheduler(201);
        schedule_p(&mut s);
        for ev in [Event::Init, Event::InitDone] {
            s.handle(Input::Pod(Box::new(ev)));
        }
        assert!(!s.cluster.is_assumed("uid-p"));
        assert_eq!(cpu_on(&s, "a"), 0);
    }

    #[tokio::test]
    async fn watches_drop_managed_fields() {
        let mut p = serde_json::to_value(pod("p", "1", "1Gi", json!({}))).expect("pod json");
        p["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
            "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
        let client = stub_client(200, json!([p]));
        let (tx, mut rx) = mpsc::unbounded_channel();
        spawn_watch(Api::<Pod>::all(client), tx, |e| Input::Pod(Box::new(e)));
        loop {
            let input = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("list arrives")
                .expect("channel open");
            if let Input::Pod(ev) = input {
                if let Event::InitApply(p) = *ev {
                    assert_eq!(p.metadata.name.as_deref(), Some("p"));
                    assert!(p.metadata.managed_fields.is_none());
                    return;
                }
            }
        }
    }
}
