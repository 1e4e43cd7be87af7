//! The pod side of the simulated kubelets: one watch over all bound pods, filtered to this
//! simulator's nodes, feeding the pure core in [`crate::pod`]; writes go out with bounded
//! concurrency and their results come back to the loop.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::node::NodeState;
use crate::pod::{fingerprint, next_action, PodAction, PodContext, Transition};
use crate::{Error, Shared};

/// How long to wait before retrying a failed write, or a pod with no free address.
const RETRY: Duration = Duration::from_secs(1);
const NO_ADDRESS_RETRY: Duration = Duration::from_secs(5);

struct Entry {
    pod: Arc<Pod>,
    node: Arc<NodeState>,
    seen: Instant,
    deletion_seen: Option<Instant>,
    ip: Option<Ipv4Addr>,
    inflight: bool,
    dirty: bool,
    deleted: bool,
    /// The last write that succeeded, without times: a stale watch event asking for the same
    /// write again is ignored.
    last_applied: Option<u64>,
}

enum Outcome {
    Written {
        pod: Option<Box<Pod>>,
        fingerprint: u64,
    },
    Deleted,
    /// The pod is gone, or the name now belongs to another pod.
    Gone,
    Failed,
}

struct Done {
    uid: String,
    outcome: Outcome,
}

fn uid_of(pod: &Pod) -> Option<String> {
    pod.metadata.uid.clone()
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

struct PodLoop {
    shared: Arc<Shared>,
    entries: HashMap<String, Entry>,
    timers: BTreeSet<(Instant, String)>,
    done_tx: mpsc::UnboundedSender<Done>,
    init_seen: Option<HashSet<String>>,
}

impl PodLoop {
    fn schedule(&mut self, uid: &str, after: Duration) {
        self.timers
            .insert((Instant::now() + after, uid.to_string()));
    }

    fn release_ip(entry: &mut Entry, uid: &str) {
        if let Some(ip) = entry.ip.take() {
            if let Ok(mut ipam) = entry.node.ipam.lock() {
                ipam.release(ip, uid);
            }
        }
    }

    /// Records the latest version of a pod; returns its UID if it is ours.
    fn upsert(&mut self, mut pod: Pod) -> Option<String> {
        // Not needed for decisions; the bulk of a pod's size at scale.
        pod.metadata.managed_fields = None;
        let node_name = pod.spec.as_ref()?.node_name.as_deref()?;
        let node = self.shared.nodes.get(node_name)?.clone();
        let uid = uid_of(&pod)?;
        let now = Instant::now();
        let entry = self.entries.entry(uid.clone()).or_insert_with(|| Entry {
            pod: Arc::new(Pod::default()),
            node: node.clone(),
            seen: now,
            deletion_seen: None,
            ip: None,
            inflight: false,
            dirty: false,
            deleted: false,
            last_applied: None,
        });
        if pod.metadata.deletion_timestamp.is_some() && entry.deletion_seen.is_none() {
            entry.deletion_seen = Some(now);
            let running = pod
                .status
                .as_ref()
                .is_some_and(|s| s.phase.as_deref() == Some("Running"));
            if running && self.shared.config.events && !node.is_stopped() {
                for e in crate::events::pod_killing_events(&pod, &node.name, Timestamp::now()) {
                    self.shared.post_event(e);
                }
            }
        }
        if terminal(&pod) || pod.metadata.deletion_timestamp.is_some() {
            // The sandbox is gone: its address goes back to the range (status keeps it).
            Self::release_ip(entry, &uid);
        } else if entry.ip.is_none() && !host_network(&pod) {
            if let Ok(mut ipam) = node.ipam.lock() {
                let reported = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.as_deref())
                    .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
                entry.ip = match reported {
                    Some(ip) if ipam.reserve(ip, &uid) => Some(ip),
                    _ => ipam.allocate(&uid),
                };
            }
        }
        entry.pod = Arc::new(pod);
        Some(uid)
    }

    fn remove(&mut self, uid: &str) {
        if let Some(mut e) = self.entries.remove(uid) {
            Self::release_ip(&mut e, uid);
        }
    }

    fn evaluate(&mut self, uid: &str) {
        let Some(e) = self.entries.get_mut(uid) else {
            return;
        };
        if e.node.is_stopped() || e.deleted {
            return;
        }
        if e.inflight {
            e.dirty = true;
            return;
        }
        let now = Instant::now();
        let ip = e.ip.map(|ip| ip.to_string());
        let ctx = PodContext {
            now: Timestamp::now(),
            host_ip: &e.node.host_ip,
            pod_ip: ip.as_deref(),
            since_seen: now.duration_since(e.seen),
            since_deletion_seen: e.deletion_seen.map(|d| now.duration_since(d)),
            start_delay: self.shared.config.start_delay,
            shutdown_delay: self.shared.config.shutdown_delay,
        };
        let action = next_action(&e.pod, &ctx);
        let after = match action {
            PodAction::Nothing => {
                e.last_applied = None;
                None
            }
            PodAction::Wait(d) => {
                e.last_applied = None;
                Some(d)
            }
            PodAction::NoAddress => {
                warn!(pod = ?e.pod.metadata.name, node = %e.node.name, "no free pod address in the node's range");
                Some(NO_ADDRESS_RETRY)
            }
            PodAction::WriteStatus {
                patch,
                transition,
                recheck,
            } => {
                let fp = fingerprint(&patch);
                if e.last_applied.as_ref() != Some(&fp) {
                    e.inflight = true;
                    self.spawn_write(uid, patch, fp, transition);
                }
                recheck
            }
            PodAction::Delete { final_status } => {
                e.inflight = true;
                self.spawn_delete(uid, final_status);
                None
            }
        };
        if let Some(d) = after {
            self.schedule(uid, d);
        }
    }

    fn spawn_write(&self, uid: &str, patch: Value, fp: u64, transition: Transition) {
        let Some(e) = self.entries.get(uid) else {
            return;
        };
        let shared = self.shared.clone();
        let tx = self.done_tx.clone();
        let pod = e.pod.clone();
        let node = e.node.name.clone();
        let uid = uid.to_string();
        tokio::spawn(async move {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
            let res = {
                let _permit = shared.permit().await;
                api.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await
            };
            let outcome = match res {
                Ok(p) => {
                    shared
                        .stats
                        .pod_status_writes
                        .fetch_add(1, Ordering::Relaxed);
                    if transition == Transition::Started {
                        shared.stats.pods_started.fetch_add(1, Ordering::Relaxed);
                        if shared.config.events {
                            for ev in crate::events::pod_started_events(&p, &node, Timestamp::now())
                            {
                                shared.post_event(ev);
                            }
                        }
                    }
                    Outcome::Written {
                        pod: Some(Box::new(p)),
                        fingerprint: fp,
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Outcome::Gone,
                Err(err) => {
                    shared.stats.api_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(pod = name, namespace = ns, error = %err, "pod status write failed");
                    Outcome::Failed
                }
            };
            let _ = tx.send(Done { uid, outcome });
        });
    }

    fn spawn_delete(&self, uid: &str, final_status: Option<Value>) {
        let Some(e) = self.entries.get(uid) else {
            return;
        };
        let shared = self.shared.clone();
        let tx = self.done_tx.clone();
        let pod = e.pod.clone();
        let uid = uid.to_string();
        tokio::spawn(async move {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
            let _permit = shared.permit().await;
            if let Some(patch) = final_status {
                match api
                    .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await
                {
                    Ok(_) => {
                        shared
                            .stats
                            .pod_status_writes
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                        let _ = tx.send(Done {
                            uid,
                            outcome: Outcome::Gone,
                        });
                        return;
                    }
                    // The final status is a courtesy; the deletion still goes ahead.
                    Err(err) => debug!(pod = name, error = %err, "final status write failed"),
                }
            }
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            let outcome = match api.delete(name, &dp).await {
                Ok(_) => {
                    shared.stats.pods_deleted.fetch_add(1, Ordering::Relaxed);
                    Outcome::Deleted
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Outcome::Gone,
                Err(err) => {
                    shared.stats.api_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(pod = name, namespace = ns, error = %err, "pod delete failed");
                    Outcome::Failed
                }
            };
            let _ = tx.send(Done { uid, outcome });
        });
    }

    fn finish(&mut self, done: Done) {
        let Some(e) = self.entries.get_mut(&done.uid) else {
            return;
        };
        e.inflight = false;
        let dirty = std::mem::take(&mut e.dirty);
        match done.outcome {
            Outcome::Written {
                pod, fingerprint, ..
            } => {
                e.last_applied = Some(fingerprint);
                if let Some(mut p) = pod {
                    p.metadata.managed_fields = None;
                    e.pod = Arc::new(*p);
                }
                // Wait for the watch to bring the new version unless something else came in.
                if dirty {
                    self.evaluate(&done.uid);
                }
            }
            Outcome::Deleted | Outcome::Gone => {
                e.deleted = true;
            }
            Outcome::Failed => self.schedule(&done.uid, RETRY),
        }
    }

    fn on_event(&mut self, ev: Event<Pod>) {
        match ev {
            Event::Init => self.init_seen = Some(HashSet::new()),
            Event::InitApply(pod) => {
                if let Some(uid) = self.upsert(pod) {
                    if let Some(seen) = self.init_seen.as_mut() {
                        seen.insert(uid);
                    }
                }
            }
            Event::InitDone => {
                let seen = self.init_seen.take().unwrap_or_default();
                let gone: Vec<String> = self
                    .entries
                    .keys()
                    .filter(|k| !seen.contains(*k))
                    .cloned()
                    .collect();
                for uid in gone {
                    self.remove(&uid);
                }
                let all: Vec<String> = self.entries.keys().cloned().collect();
                for uid in all {
                    self.evaluate(&uid);
                }
            }
            Event::Apply(pod) => {
                if let Some(uid) = self.upsert(pod) {
                    self.evaluate(&uid);
                }
            }
            Event::Delete(pod) => {
                if let Some(uid) = uid_of(&pod) {
                    self.remove(&uid);
                }
            }
        }
    }

    fn due_timers(&mut self) {
        let now = Instant::now();
        while let Some(first) = self.timers.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, uid)) = self.timers.pop_first() {
                self.evaluate(&uid);
            }
        }
    }
}

/// Watches every bound pod and plays the kubelet's part for those on this simulator's nodes.
pub(crate) async fn run_pods(shared: Arc<Shared>) -> Result<(), Error> {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let cfg = watcher::Config::default().fields("spec.nodeName!=");
    // The simulator never reads managedFields; keeping them would double what it holds.
    let mut stream = watcher::watcher(api, cfg)
        .modify(|p| p.metadata.managed_fields = None)
        .default_backoff()
        .boxed();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut lp = PodLoop {
        shared,
        entries: HashMap::new(),
        timers: BTreeSet::new(),
        done_tx,
        init_seen: None,
    };
    loop {
        let next_timer = lp.timers.first().map(|(t, _)| *t);
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(ev)) => lp.on_event(ev),
                Some(Err(e)) => {
                    lp.shared.stats.api_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(error = %e, "pod watch failed; retrying with backoff");
                }
                None => return Err(Error::WatchEnded),
            },
            Some(done) = done_rx.recv() => lp.finish(done),
            _ = tokio::time::sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                lp.due_timers()
            }
        }
    }
}
