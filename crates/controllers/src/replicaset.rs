//! ReplicaSet controller: keeps `spec.replicas` pods running from the template, as
//! upstream's `replica_set.go` does: slow-start batch creation, deletion of the pods earliest
//! in their lifecycle, adoption and release of pods by selector, expectations so a lagging
//! watch never causes over-creation, and status counters with the ReplicaFailure condition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use minato_selectors::LabelSelector;

use crate::events::EventRecorder;
use crate::ownwrites::OwnWrites;
use crate::podindex::PodIndex;
use crate::podutil::{
    controller_ref, is_pod_active, is_pod_available, is_pod_ready, new_controller_ref, now,
    pod_from_template, pods_to_delete,
};
use crate::refmanager::{adopt, claim, release, Claim};
use crate::workload::{api_message, namespace_terminating, selector_of, SyncError};
use crate::Error;

/// Component name on the events this controller writes.
pub const COMPONENT: &str = "replicaset-controller";
/// Most pods created or deleted in one sync (upstream's `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// How long unmet expectations hold back a sync (upstream's `ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);
const ERROR_RETRY: Duration = Duration::from_secs(2);
const STATUS_RETRIES: usize = 1;

fn rs_selector(rs: &ReplicaSet) -> Result<LabelSelector, String> {
    match rs.spec.as_ref() {
        Some(spec) => selector_of(&spec.selector),
        None => Ok(LabelSelector::nothing()),
    }
}

fn desired(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn min_ready_seconds(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// Batch sizes of a slow-start creation of `count` pods: 1, 2, 4, … capped by what is left.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut remaining = count;
    let mut batch = remaining.min(1);
    while batch > 0 {
        out.push(batch);
        remaining -= batch;
        batch = (batch * 2).min(remaining);
    }
    out
}

/// What a sync should do about the pod count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaPlan {
    Nothing,
    /// Create this many pods.
    Create(usize),
    /// Delete these pods (names), best candidates first.
    Delete(Vec<String>),
}

/// Upstream's `manageReplicas` decision: too few pods → create (at most the burst), too
/// many → pick the ones to delete. `related` are the active pods of sibling ReplicaSets
/// (same controller), used to prefer deleting doubled-up pods.
pub fn replica_plan(
    rs: &ReplicaSet,
    active: &[&Pod],
    related: &[&Pod],
    now: Timestamp,
) -> ReplicaPlan {
    let want = desired(rs).max(0) as usize;
    let have = active.len();
    if have < want {
        ReplicaPlan::Create((want - have).min(BURST_REPLICAS))
    } else if have > want {
        let n = (have - want).min(BURST_REPLICAS);
        ReplicaPlan::Delete(
            pods_to_delete(active, related, n, now)
                .into_iter()
                .map(|p| p.name_any())
                .collect(),
        )
    } else {
        ReplicaPlan::Nothing
    }
}

/// Upstream's `calculateStatus`: counters over the owned active pods, and the
/// ReplicaFailure condition from the last manage error (`FailedCreate`/`FailedDelete`).
pub fn calculate_status(
    rs: &ReplicaSet,
    active: &[&Pod],
    manage_error: Option<&str>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let template_labels = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut fully = 0;
    let mut ready = 0;
    let mut available = 0;
    for pod in active {
        let labels = pod.labels();
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            fully += 1;
        }
        if is_pod_ready(pod) {
            ready += 1;
            if is_pod_available(pod, min_ready_seconds(rs), now) {
                available += 1;
            }
        }
    }
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_error {
        Some(msg) if !has_failure => {
            let diff = active.len() as i64 - i64::from(desired(rs));
            let reason = if diff < 0 {
                "FailedCreate"
            } else if diff > 0 {
                "FailedDelete"
            } else {
                ""
            };
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(msg.to_string()),
                last_transition_time: Some(Time(now)),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    if conditions.is_empty() {
        status.conditions = None;
    }
    status.replicas = active.len() as i32;
    status.fully_labeled_replicas = Some(fully);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status
}

/// Whether the computed status differs from what the server has (upstream's steady-state
/// check, including an unobserved generation).
pub fn status_needs_update(rs: &ReplicaSet, new: &ReplicaSetStatus) -> bool {
    let old = rs.status.clone().unwrap_or_default();
    old.replicas != new.replicas
        || old.fully_labeled_replicas.unwrap_or(0) != new.fully_labeled_replicas.unwrap_or(0)
        || old.ready_replicas.unwrap_or(0) != new.ready_replicas.unwrap_or(0)
        || old.available_replicas.unwrap_or(0) != new.available_replicas.unwrap_or(0)
        || rs.metadata.generation != old.observed_generation
        || old.conditions.unwrap_or_default() != new.conditions.clone().unwrap_or_default()
}

/// Pods a ReplicaSet created or deleted that the watch has not shown yet.
#[derive(Clone, Debug)]
pub struct Expectations {
    /// (name, uid) of created pods.
    pub creates: Vec<(String, String)>,
    /// (name, uid) of pods being deleted.
    pub deletes: Vec<(String, String)>,
    pub since: Instant,
}

impl Expectations {
    /// Met when every created pod is in the cache and every deleted pod is gone or
    /// terminating there; expired expectations count as met.
    pub fn satisfied(&self, lookup: impl Fn(&str) -> Option<Arc<Pod>>, now: Instant) -> bool {
        if now.duration_since(self.since) > EXPECTATIONS_TIMEOUT {
            return true;
        }
        let seen =
            |name: &str, uid: &str| lookup(name).filter(|p| p.metadata.uid.as_deref() == Some(uid));
        self.creates.iter().all(|(n, u)| seen(n, u).is_some())
            && self
                .deletes
                .iter()
                .all(|(n, u)| seen(n, u).is_none_or(|p| p.metadata.deletion_timestamp.is_some()))
    }
}

struct Ctx {
    client: Client,
    pods: PodIndex,
    rss: Store<ReplicaSet>,
    recorder: EventRecorder,
    expectations: Mutex<HashMap<String, Expectations>>,
    own_writes: OwnWrites,
}

/// Runs the ReplicaSet controller with at most `workers` concurrent syncs until its watch
/// ends.
pub async fn run_replicaset_controller(client: Client, workers: u16) -> Result<(), Error> {
    let rs_api: Api<ReplicaSet> = Api::all(client.clone());
    let pod_api: Api<Pod> = Api::all(client.clone());
    let pods = PodIndex::new();
    let index = pods.clone();
    let pod_stream = watcher(pod_api, watcher::Config::default())
        .modify(crate::podutil::keep_for_replicaset)
        .default_backoff()
        .inspect_ok(move |ev| index.apply(ev))
        .touched_objects();
    let controller = Controller::new(rs_api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(workers.max(1)));
    let rss = controller.store();
    let ctx = Arc::new(Ctx {
        recorder: EventRecorder::new(client.clone(), COMPONENT),
        client,
        pods,
        rss: rss.clone(),
        expectations: Mutex::new(HashMap::new()),
        own_writes: OwnWrites::default(),
    });
    controller
        .watches_stream(pod_stream, move |pod: Pod| pod_to_replicasets(&rss, &pod))
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "replicaset reconcile failed");
            }
        })
        .await;
    Ok(())
}

/// The ReplicaSets a pod event concerns: its controller, or for an orphan every
/// ReplicaSet in its namespace that selects it.
fn pod_to_replicasets(rss: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    let ns = pod.namespace().unwrap_or_default();
    if let Some(r) = controller_ref(&pod.metadata) {
        if r.kind == "ReplicaSet" && r.api_version.starts_with("apps/") {
            return vec![ObjectRef::new(&r.name).within(&ns)];
        }
        return Vec::new();
    }
    rss.state()
        .iter()
        .filter(|rs| rs.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rs| rs_selector(rs).is_ok_and(|s| s.matches(pod.labels())))
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

fn error_policy(rs: Arc<ReplicaSet>, err: &SyncError, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(replicaset = %rs.name_any(), error = %err, "replicaset sync failed");
    Action::requeue(ERROR_RETRY)
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action, SyncError> {
    let _ = ctx.pods.wait_until_ready().await;
    if ctx.own_writes.cache_is_behind(&rs.metadata) {
        // Our last status write is on its way through the watch and will sync again.
        return Ok(Action::await_change());
    }
    let ns = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let key = format!("{ns}/{name}");
    let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
    let selector = match rs_selector(&rs) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(replicaset = %key, error = %e, "invalid selector");
            return Ok(Action::await_change());
        }
    };
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    // Only our own pods and the namespace's orphans can be claimed: a pod another controller
    // owns is ignored by `claim` anyway.
    let mut candidates = ctx.pods.controlled_by(&rs_uid);
    candidates.extend(ctx.pods.orphans(&ns));

    // Claim: keep ours, adopt matching orphans, release pods no longer selected.
    let mut owned: Vec<Arc<Pod>> = Vec::new();
    let mut rechecked: Option<bool> = None;
    let mut claim_error: Option<kube::Error> = None;
    let owner_ref = new_controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
    for pod in candidates.iter().filter(|p| is_pod_active(p)) {
        match claim(&rs.metadata, selector.matches(pod.labels()), &pod.metadata) {
            Claim::Owned => owned.push(pod.clone()),
            Claim::Ignore => {}
            Claim::Adopt => {
                if rechecked.is_none() {
                    rechecked = Some(can_adopt(&ctx.client, &ns, &name, &rs_uid).await?);
                }
                if rechecked != Some(true) {
                    continue;
                }
                match adopt(&pod_api, &pod.metadata, &owner_ref).await {
                    Ok(p) => owned.push(Arc::new(p)),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => claim_error = Some(e),
                }
            }
            Claim::Release => match release(&pod_api, &pod.metadata, &rs_uid).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => claim_error = Some(e),
            },
        }
    }
    if let Some(e) = claim_error {
        return Err(e.into());
    }

    let satisfied = {
        let lookup = |pod: &str| ctx.pods.get(&ns, pod);
        let mut exp = ctx.expectations.lock().unwrap_or_else(|p| p.into_inner());
        match exp.get(&key) {
            Some(e) if e.satisfied(lookup, Instant::now()) => {
                exp.remove(&key);
                true
            }
            Some(_) => false,
            None => true,
        }
    };

    let mut manage_error: Option<String> = None;
    if satisfied && rs.metadata.deletion_timestamp.is_none() {
        let owned_refs: Vec<&Pod> = owned.iter().map(|p| p.as_ref()).collect();
        let related = related_pods(&ctx, &rs);
        let related_refs: Vec<&Pod> = related.iter().map(|p| p.as_ref()).collect();
        match replica_plan(&rs, &owned_refs, &related_refs, now()) {
            ReplicaPlan::Nothing => {}
            ReplicaPlan::Create(n) => {
                manage_error = create_pods(&ctx, &rs, &pod_api, &key, n).await;
            }
            ReplicaPlan::Delete(names) => {
                let uids: Vec<(String, String)> = names
                    .iter()
                    .map(|n| {
                        let uid = owned
                            .iter()
                            .find(|p| p.name_any() == *n)
                            .and_then(|p| p.metadata.uid.clone())
                            .unwrap_or_default();
                        (n.clone(), uid)
                    })
                    .collect();
                manage_error = delete_pods(&ctx, &rs, &pod_api, &key, uids).await;
            }
        }
    }

    let owned_refs: Vec<&Pod> = owned.iter().map(|p| p.as_ref()).collect();
    let ts = now();
    let status = calculate_status(&rs, &owned_refs, manage_error.as_deref(), ts);
    let updated = update_status(&ctx.client, &rs, status).await?;
    ctx.own_writes.record(&updated.metadata);

    if let Some(msg) = manage_error {
        return Err(SyncError::Replicas(msg));
    }
    if !satisfied {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    // Look again once pods can have become available.
    let st = updated.status.clone().unwrap_or_default();
    let mrs = min_ready_seconds(&updated);
    if mrs > 0
        && st.ready_replicas.unwrap_or(0) == desired(&updated)
        && st.available_replicas.unwrap_or(0) != desired(&updated)
    {
        return Ok(Action::requeue(Duration::from_secs(mrs as u64)));
    }
    Ok(Action::await_change())
}

/// Fresh read before adopting: the ReplicaSet must still be the same object and alive.
async fn can_adopt(client: &Client, ns: &str, name: &str, uid: &str) -> Result<bool, SyncError> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    Ok(match api.get_opt(name).await? {
        Some(fresh) => {
            fresh.metadata.uid.as_deref() == Some(uid)
                && fresh.metadata.deletion_timestamp.is_none()
        }
        None => false,
    })
}

/// Pods of every ReplicaSet with the same controller as `rs` (or of `rs` alone).
fn related_pods(ctx: &Ctx, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
    let mut uids: Vec<String> = rs.metadata.uid.clone().into_iter().collect();
    if let Some(owner) = controller_ref(&rs.metadata) {
        for sib in ctx.rss.state() {
            if sib.metadata.namespace == rs.metadata.namespace
                && controller_ref(&sib.metadata).is_some_and(|r| r.uid == owner.uid)
            {
                uids.extend(sib.metadata.uid.clone());
            }
        }
    }
    uids.iter()
        .flat_map(|uid| ctx.pods.controlled_by(uid))
        .collect()
}

/// Creates `count` pods in slow-start batches; returns the first error's message.
async fn create_pods(
    ctx: &Ctx,
    rs: &ReplicaSet,
    api: &Api<Pod>,
    key: &str,
    count: usize,
) -> Option<String> {
    let Some(template) = rs.spec.as_ref().and_then(|s| s.template.clone()) else {
        return Some("replica set has no pod template".into());
    };
    let has_labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .is_some_and(|l| !l.is_empty());
    if !has_labels {
        return Some("unable to create pods, no labels".into());
    }
    let pod = pod_from_template(
        &template,
        &rs.name_any(),
        new_controller_ref("apps/v1", "ReplicaSet", &rs.metadata),
    );
    tracing::debug!(replicaset = %key, creating = count, "too few replicas");
    let pp = PostParams::default();
    for batch in slow_start_batches(count) {
        let results = futures::future::join_all((0..batch).map(|_| api.create(&pp, &pod))).await;
        let mut first_error = None;
        let mut created = Vec::new();
        for r in results {
            match r {
                Ok(p) => {
                    ctx.recorder.normal(
                        rs,
                        "SuccessfulCreate",
                        format!("Created pod: {}", p.name_any()),
                    );
                    created.push((p.name_any(), p.metadata.uid.clone().unwrap_or_default()));
                }
                Err(e) if namespace_terminating(&e) => {}
                Err(e) => {
                    let msg = api_message(&e);
                    ctx.recorder
                        .warning(rs, "FailedCreate", format!("Error creating: {msg}"));
                    first_error.get_or_insert(msg);
                }
            }
        }
        if !created.is_empty() {
            let mut exp = ctx.expectations.lock().unwrap_or_else(|p| p.into_inner());
            let e = exp.entry(key.to_string()).or_insert_with(|| Expectations {
                creates: Vec::new(),
                deletes: Vec::new(),
                since: Instant::now(),
            });
            e.creates.extend(created);
            e.since = Instant::now();
        }
        if first_error.is_some() {
            // Skipped pods are retried on the next sync, slow-starting again.
            return first_error;
        }
    }
    None
}

/// Deletes the chosen pods concurrently; returns the first error's message.
async fn delete_pods(
    ctx: &Ctx,
    rs: &ReplicaSet,
    api: &Api<Pod>,
    key: &str,
    pods: Vec<(String, String)>,
) -> Option<String> {
    tracing::debug!(replicaset = %key, deleting = pods.len(), "too many replicas");
    {
        let mut exp = ctx.expectations.lock().unwrap_or_else(|p| p.into_inner());
        let e = exp.entry(key.to_string()).or_insert_with(|| Expectations {
            creates: Vec::new(),
            deletes: Vec::new(),
            since: Instant::now(),
        });
        e.deletes.extend(pods.iter().cloned());
        e.since = Instant::now();
    }
    let dp = DeleteParams::default();
    let results =
        futures::future::join_all(pods.iter().map(|(name, _)| api.delete(name, &dp))).await;
    let mut first_error = None;
    for ((name, uid), r) in pods.iter().zip(results) {
        match r {
            Ok(_) => ctx
                .recorder
                .normal(rs, "SuccessfulDelete", format!("Deleted pod: {name}")),
            Err(e) => {
                let mut exp = ctx.expectations.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(x) = exp.get_mut(key) {
                    x.deletes.retain(|(n, u)| !(n == name && u == uid));
                }
                drop(exp);
                if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
                    let msg = api_message(&e);
                    ctx.recorder
                        .warning(rs, "FailedDelete", format!("Error deleting: {msg}"));
                    first_error.get_or_insert(msg);
                }
            }
        }
    }
    first_error
}

/// Writes the status (with observedGeneration) unless nothing changed; one retry on a
/// conflict with a fresh read.
async fn update_status(
    client: &Client,
    rs: &ReplicaSet,
    mut status: ReplicaSetStatus,
) -> Result<ReplicaSet, SyncError> {
    if !status_needs_update(rs, &status) {
        return Ok(rs.clone());
    }
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &rs.namespace().unwrap_or_default());
    let mut current = rs.clone();
    for attempt in 0..=STATUS_RETRIES {
        status.observed_generation = current.metadata.generation;
        current.status = Some(status.clone());
        match api
            .replace_status(&current.name_any(), &PostParams::default(), &current)
            .await
        {
            Ok(updated) => return Ok(updated),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < STATUS_RETRIES => {
                match api.get_opt(&current.name_any()).await? {
                    // Another sync may have written this very status meanwhile.
                    Some(fresh) if !status_needs_update(&fresh, &status) => return Ok(fresh),
                    Some(fresh) => current = fresh,
                    None => return Ok(rs.clone()),
                }
            }
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(rs.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rs.clone())
}

#[cfg(test)]
mod tests;
