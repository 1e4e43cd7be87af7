//! Deployment controller: rolls a Deployment's pod template out through ReplicaSets named
//! `<deployment>-<pod-template-hash>`, as upstream's `pkg/controller/deployment` does.
//!
//! The core ([`plan_deployment`]) is pure: the Deployment, its ReplicaSets and (for
//! Recreate) their pods in, an ordered list of [`Step`]s out. It follows upstream's sync
//! step by step (paused and scaling syncs, rolling update, recreate, revision bookkeeping,
//! proportional scaling, history cleanup, progress and availability conditions); the
//! runtime carries the steps out in order and stops at the first failure.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use crate::events::{EventRecorder, EventType};
use crate::ownwrites::OwnWrites;
use crate::podutil::{controller_ref, new_controller_ref, now};
use crate::refmanager::{adopt, claim, release, Claim};
use crate::workload::{api_code, api_message, selector_of, SyncError};
use crate::Error;

/// Component name on the events this controller writes.
pub const COMPONENT: &str = "deployment-controller";
/// The rollout sequence number of a ReplicaSet (and of its Deployment).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a reused ReplicaSet served.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when the ReplicaSet was last sized.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when the ReplicaSet was last sized.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The label that keeps the ReplicaSets of one Deployment apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
const MAX_REV_HISTORY_CHARS: usize = 2000;
const ERROR_RETRY: Duration = Duration::from_secs(2);

// Condition reasons, as upstream names them.
pub const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
pub const REASON_RS_CREATE_ERROR: &str = "ReplicaSetCreateError";
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const REASON_PAUSED: &str = "DeploymentPaused";
pub const REASON_RESUMED: &str = "DeploymentResumed";
pub const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

// ---------------------------------------------------------------------------------------
// pod-template-hash

/// 32-bit FNV-1a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Upstream's `rand.SafeEncodeString`: maps each character onto consonants and digits
/// that cannot spell words.
pub fn safe_encode_string(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// Drops nulls, empty lists and empty maps, so templates that differ only in how an empty
/// value is spelled compare (and hash) equal, like upstream's semantic equality.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(items) => {
            for i in items.iter_mut() {
                prune(i);
            }
            !items.is_empty()
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let keep = map.get_mut(&k).is_some_and(prune);
                if !keep {
                    map.remove(&k);
                }
            }
            !map.is_empty()
        }
        _ => true,
    }
}

/// The template as compared and hashed: without the pod-template-hash label, pruned.
fn template_value(t: &PodTemplateSpec) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(labels) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    prune(&mut v);
    v
}

/// Upstream's `ComputeHash`: FNV-1a of the template, then of the collision count (as 8
/// little-endian bytes), rendered in decimal through [`safe_encode_string`].
///
/// The template is fed to the hash as canonical JSON; upstream feeds Go's `%#v` dump of its
/// structs, so values differ from upstream's while the shape (`web-6d4cf56db6`) is the same.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(&template_value(template)).unwrap_or_default();
    let mut data = bytes;
    if let Some(c) = collision_count {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(c as u32).to_le_bytes());
        data.extend_from_slice(&buf);
    }
    safe_encode_string(&fnv32a(&data).to_string())
}

/// Templates equal apart from the pod-template-hash label (upstream's `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    template_value(a) == template_value(b)
}

// ---------------------------------------------------------------------------------------
// sizes

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_status(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.clone().unwrap_or_default();
    (
        s.replicas,
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

fn is_rolling(d: &Deployment) -> bool {
    let t = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref());
    matches!(t, None | Some("RollingUpdate"))
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// An int-or-percent against `total`: percentages round up or down as asked.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = pct * f64::from(total) / 100.0;
            (if round_up { x.ceil() } else { x.floor() }) as i32
        }
    }
}

/// Upstream's `ResolveFenceposts`: surge rounds up, unavailable down; if both end up 0,
/// one pod may be unavailable.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true);
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

fn rolling_params(d: &Deployment) -> (Option<IntOrString>, Option<IntOrString>) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    (
        ru.and_then(|r| r.max_surge.clone()),
        ru.and_then(|r| r.max_unavailable.clone()),
    )
}

/// The most pods over `spec.replicas` a rolling update may run.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(s.as_ref(), u.as_ref(), replicas(d)).0
}

/// The most pods under `spec.replicas` that may be unavailable during a rolling update.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(s.as_ref(), u.as_ref(), replicas(d))
        .1
        .min(replicas(d))
}

/// Upstream's `NewRSNewReplicas`: how far the new ReplicaSet may grow now, given the sum
/// of `spec.replicas` over all ReplicaSets.
pub fn new_rs_new_replicas(d: &Deployment, all_replicas: i32, new_replicas: i32) -> i32 {
    if is_recreate(d) {
        return replicas(d);
    }
    let (s, _) = rolling_params(d);
    let surge = scaled_value(&s.unwrap_or(IntOrString::Int(0)), replicas(d), true);
    let max_total = replicas(d) + surge;
    if all_replicas >= max_total {
        return new_replicas;
    }
    let up = (max_total - all_replicas).min(replicas(d) - new_replicas);
    new_replicas + up
}

// ---------------------------------------------------------------------------------------
// annotations

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision of a ReplicaSet: 0 when unset, None when unparsable.
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match annotation(&rs.metadata, REVISION) {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED
            | REVISION
            | REVISION_HISTORY
            | DESIRED_REPLICAS
            | MAX_REPLICAS
            | DEPRECATED_ROLLBACK_TO
    )
}

fn copy_annotations_to_rs(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let anns = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || anns.get(k) == Some(v) {
            continue;
        }
        anns.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let anns = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    anns.insert(DESIRED_REPLICAS.into(), desired.to_string());
    anns.insert(MAX_REPLICAS.into(), max.to_string());
    true
}

/// Upstream's `SetNewReplicaSetAnnotations`: copy the Deployment's annotations, raise the
/// revision to `new_revision` (recording the old one in `revision-history` on reuse), and
/// size annotations for a ReplicaSet about to be created. True when anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations_to_rs(d, rs);
    let anns = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old_str = anns.get(REVISION).cloned();
    let old = match &old_str {
        None => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    if old < new_revision {
        anns.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old_str) = old_str {
            let history = anns.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if history.is_empty() {
                anns.insert(REVISION_HISTORY.into(), old_str);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old_str.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old_str);
                    let joined = parts.join(",");
                    anns.insert(REVISION_HISTORY.into(), joined);
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

// ---------------------------------------------------------------------------------------
// conditions

fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream's `SetDeploymentCondition`: no-op for the same status and reason; keeps the
/// transition time when only the reason changes; the condition moves to the end.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = condition(status, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    let list = status.conditions.get_or_insert_with(Vec::new);
    list.retain(|x| x.type_ != c.type_);
    list.push(c);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(list) = status.conditions.as_mut() {
        list.retain(|x| x.type_ != type_);
        if list.is_empty() {
            status.conditions = None;
        }
    }
}

fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|v| v != i32::MAX)
}

fn has_revision_history_limit(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .is_some_and(|v| v != i32::MAX)
}

fn nz(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// All desired replicas updated and available, nothing old left, generation observed.
pub fn deployment_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let r = replicas(d);
    count(s.updated_replicas) == r
        && count(s.replicas) == r
        && count(s.available_replicas) == r
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Progress between the old and the new status (upstream's `DeploymentProgressing`).
pub fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// Whether the Progressing condition is older than the deadline.
pub fn deployment_timed_out(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = condition(new, "Progressing") else {
        return false;
    };
    match c.reason.as_deref() {
        Some(REASON_NEW_RS_AVAILABLE) => return false,
        Some(REASON_TIMED_OUT) => return true,
        _ => {}
    }
    let secs = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    match &c.last_update_time {
        Some(t) => t.0 + SignedDuration::from_secs(i64::from(secs)) < now,
        None => false,
    }
}

// ---------------------------------------------------------------------------------------
// the plan

/// One thing the runtime does, in order; the first failure ends the sync.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    CreateReplicaSet(ReplicaSet),
    /// Replace the ReplicaSet (size, annotations, minReadySeconds).
    UpdateReplicaSet(ReplicaSet),
    DeleteReplicaSet {
        name: String,
        uid: Option<String>,
        resource_version: Option<String>,
    },
    /// Set the Deployment's `deployment.kubernetes.io/revision` annotation.
    SetRevision(String),
    UpdateStatus(DeploymentStatus),
    Event {
        type_: EventType,
        reason: String,
        message: String,
    },
}

/// The outcome of planning one sync.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Look again after this long (progress deadline checks).
    pub requeue_after: Option<Duration>,
    /// The sync stopped early and must run again (hash collision recorded).
    pub retry: bool,
}

struct Planner<'a> {
    d: Deployment,
    orig_status: DeploymentStatus,
    rss: Vec<ReplicaSet>,
    existing: &'a [ReplicaSet],
    pods_by_rs: &'a HashMap<String, Vec<Pod>>,
    now: Timestamp,
    plan: Plan,
}

struct Stop;

/// Plans one sync of `d`. `owned` are the ReplicaSets it controls (already claimed),
/// `existing` every ReplicaSet in its namespace (to spot name collisions), `pods_by_rs`
/// the pods of each owned ReplicaSet by UID (Recreate waits for old pods to go).
pub fn plan_deployment(
    d: &Deployment,
    owned: Vec<ReplicaSet>,
    existing: &[ReplicaSet],
    pods_by_rs: &HashMap<String, Vec<Pod>>,
    now: Timestamp,
) -> Plan {
    let mut p = Planner {
        d: d.clone(),
        orig_status: d.status.clone().unwrap_or_default(),
        rss: owned,
        existing,
        pods_by_rs,
        now,
        plan: Plan::default(),
    };
    let _ = p.sync();
    p.plan
}

fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ta.cmp(&tb).then_with(|| a.name_any().cmp(&b.name_any()))
}

impl Planner<'_> {
    fn status(&mut self) -> &mut DeploymentStatus {
        self.d.status.get_or_insert_with(Default::default)
    }

    fn cur_status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn event(&mut self, type_: EventType, reason: &str, message: String) {
        self.plan.steps.push(Step::Event {
            type_,
            reason: reason.into(),
            message,
        });
    }

    fn sync(&mut self) -> Result<(), Stop> {
        let selector_empty = self.d.spec.as_ref().is_none_or(|s| {
            s.selector
                .match_labels
                .as_ref()
                .is_none_or(|m| m.is_empty())
                && s.selector
                    .match_expressions
                    .as_ref()
                    .is_none_or(|m| m.is_empty())
        });
        if selector_empty {
            self.event(
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let mut st = self.cur_status();
            if st.observed_generation < self.d.metadata.generation {
                st.observed_generation = self.d.metadata.generation;
                self.plan.steps.push(Step::UpdateStatus(st));
            }
            return Ok(());
        }
        if self.d.metadata.deletion_timestamp.is_some() {
            let (new, old) = self.get_all(false)?;
            self.sync_deployment_status(new, &old);
            return Ok(());
        }
        self.check_paused_conditions();
        if self.paused() {
            return self.scaling_sync();
        }
        if self.is_scaling_event()? {
            return self.scaling_sync();
        }
        if is_recreate(&self.d) {
            self.rollout_recreate()
        } else {
            self.rollout_rolling()
        }
    }

    fn paused(&self) -> bool {
        self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
    }

    fn check_paused_conditions(&mut self) {
        if !has_progress_deadline(&self.d) {
            return;
        }
        let st = self.cur_status();
        let cond = condition(&st, "Progressing");
        if cond.is_some_and(|c| c.reason.as_deref() == Some(REASON_TIMED_OUT)) {
            return;
        }
        let paused_exists = cond.is_some_and(|c| c.reason.as_deref() == Some(REASON_PAUSED));
        let now = self.now;
        if self.paused() && !paused_exists {
            let c = new_condition(
                "Progressing",
                "Unknown",
                REASON_PAUSED,
                "Deployment is paused".into(),
                now,
            );
            set_condition(self.status(), c);
        } else if !self.paused() && paused_exists {
            let c = new_condition(
                "Progressing",
                "Unknown",
                REASON_RESUMED,
                "Deployment is resumed".into(),
                now,
            );
            set_condition(self.status(), c);
        }
    }

    /// Index of the new ReplicaSet: the oldest whose template matches the Deployment's.
    fn find_new(&self) -> Option<usize> {
        let template = self.d.spec.as_ref().map(|s| s.template.clone())?;
        let mut idx: Vec<usize> = (0..self.rss.len()).collect();
        idx.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        idx.into_iter().find(|i| {
            self.rss[*i]
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, &template))
        })
    }

    fn set_deployment_revision(&mut self, rev: &str) {
        let anns = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        if anns.get(REVISION).map(String::as_str) != Some(rev) {
            anns.insert(REVISION.into(), rev.to_string());
            self.plan.steps.push(Step::SetRevision(rev.to_string()));
        }
    }

    /// Upstream's `getAllReplicaSetsAndSyncRevision`: (new, all old) with the new
    /// ReplicaSet's revision brought up to date, created if asked and missing.
    fn get_all(&mut self, create: bool) -> Result<(Option<usize>, Vec<usize>), Stop> {
        let new = self.find_new();
        let old: Vec<usize> = (0..self.rss.len()).filter(|i| Some(*i) != new).collect();
        let max_old = old
            .iter()
            .filter_map(|i| revision(&self.rss[*i]))
            .max()
            .unwrap_or(0);
        let new_revision = max_old + 1;

        if let Some(i) = new {
            let mut copy = self.rss[i].clone();
            let anns_changed = set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let want_mrs = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let mrs_changed = copy
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
                != want_mrs.unwrap_or(0);
            if anns_changed || mrs_changed {
                if let Some(spec) = copy.spec.as_mut() {
                    spec.min_ready_seconds = want_mrs;
                }
                self.rss[i] = copy.clone();
                self.plan.steps.push(Step::UpdateReplicaSet(copy));
                return Ok((Some(i), old));
            }
            let rev = annotation(&self.rss[i].metadata, REVISION)
                .unwrap_or_default()
                .to_string();
            self.set_deployment_revision(&rev);
            let st = self.cur_status();
            if has_progress_deadline(&self.d) && condition(&st, "Progressing").is_none() {
                let c = new_condition(
                    "Progressing",
                    "True",
                    REASON_FOUND_NEW_RS,
                    format!("Found new replica set {:?}", self.rss[i].name_any()),
                    self.now,
                );
                set_condition(self.status(), c);
            }
            return Ok((Some(i), old));
        }
        if !create {
            return Ok((None, old));
        }

        let spec = self.d.spec.clone().unwrap_or_default();
        let collision = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&spec.template, collision);
        let name = format!("{}-{}", self.d.name_any(), hash);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = template.metadata.as_ref().and_then(|m| m.labels.clone());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.namespace(),
                owner_references: Some(vec![new_controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all_replicas: i32 = old.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        let count = new_rs_new_replicas(&self.d, all_replicas, 0);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        set_new_rs_annotations(&self.d, &mut rs, new_revision, false);

        if let Some(existing) = self.existing.iter().find(|x| x.name_any() == name) {
            let ours = controller_ref(&existing.metadata)
                .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
            let same = existing
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, &spec.template));
            if ours && same {
                // Created by an earlier sync whose result the cache has not shown yet.
                self.rss.push(existing.clone());
                self.set_deployment_revision(&new_revision.to_string());
                return Ok((Some(self.rss.len() - 1), old));
            }
            // A different ReplicaSet holds the name: bump collisionCount and try again.
            let st = self.status();
            st.collision_count = Some(st.collision_count.unwrap_or(0) + 1);
            let st = self.cur_status();
            self.plan.steps.push(Step::UpdateStatus(st));
            self.plan.retry = true;
            return Err(Stop);
        }

        self.plan.steps.push(Step::CreateReplicaSet(rs.clone()));
        self.rss.push(rs);
        if count > 0 {
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {count}"),
            );
        }
        self.set_deployment_revision(&new_revision.to_string());
        if has_progress_deadline(&self.d) {
            let c = new_condition(
                "Progressing",
                "True",
                REASON_NEW_RS_CREATED,
                format!("Created new replica set {name:?}"),
                self.now,
            );
            set_condition(self.status(), c);
        }
        Ok((Some(self.rss.len() - 1), old))
    }

    fn is_scaling_event(&mut self) -> Result<bool, Stop> {
        let (new, old) = self.get_all(false)?;
        let want = replicas(&self.d);
        Ok(old
            .iter()
            .copied()
            .chain(new)
            .filter(|i| rs_replicas(&self.rss[*i]) > 0)
            .any(|i| {
                annotation(&self.rss[i].metadata, DESIRED_REPLICAS)
                    .and_then(|v| v.parse::<i32>().ok())
                    .is_some_and(|v| v != want)
            }))
    }

    /// Upstream's `sync`: scaling (or a paused Deployment) without rolling anything out.
    fn scaling_sync(&mut self) -> Result<(), Stop> {
        let (new, old) = self.get_all(false)?;
        self.scale(new, &old);
        if self.paused() {
            self.cleanup(&old);
        }
        self.sync_deployment_status(new, &old);
        Ok(())
    }

    fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|i| rs_replicas(&self.rss[*i]) > 0)
            .collect()
    }

    fn scale_rs(&mut self, i: usize, new_scale: i32, op: &str) -> bool {
        let d_replicas = replicas(&self.d);
        let max = d_replicas + max_surge(&self.d);
        let old_scale = rs_replicas(&self.rss[i]);
        let size_changed = old_scale != new_scale;
        if !size_changed && !replicas_annotations_need_update(&self.rss[i], d_replicas, max) {
            return false;
        }
        let mut copy = self.rss[i].clone();
        if let Some(s) = copy.spec.as_mut() {
            s.replicas = Some(new_scale);
        }
        set_replicas_annotations(&mut copy, d_replicas, max);
        self.rss[i] = copy.clone();
        self.plan.steps.push(Step::UpdateReplicaSet(copy));
        if size_changed {
            let name = self.rss[i].name_any();
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled {op} replica set {name} from {old_scale} to {new_scale}"),
            );
        }
        size_changed
    }

    fn scale_and_record(&mut self, i: usize, new_scale: i32) -> bool {
        let cur = rs_replicas(&self.rss[i]);
        if cur == new_scale {
            return false;
        }
        let op = if cur < new_scale { "up" } else { "down" };
        self.scale_rs(i, new_scale, op)
    }

    fn is_saturated(&self, new: Option<usize>) -> bool {
        let Some(i) = new else { return false };
        let rs = &self.rss[i];
        let want = replicas(&self.d);
        let desired =
            annotation(&rs.metadata, DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok());
        rs_replicas(rs) == want && desired == Some(want) && rs_status(rs).2 == want
    }

    /// Upstream's `scale`: size the one active ReplicaSet, or spread a change over all
    /// active ones in proportion to their size.
    fn scale(&mut self, new: Option<usize>, old: &[usize]) {
        let want = replicas(&self.d);
        // FindActiveOrLatest.
        if new.is_some() || !old.is_empty() {
            let mut old_sorted = old.to_vec();
            old_sorted.sort_by(|a, b| by_creation(&self.rss[*b], &self.rss[*a]));
            let mut all = old_sorted.clone();
            all.extend(new);
            let active = self.active(&all);
            let pick = match active.len() {
                0 => new.or_else(|| old_sorted.first().copied()),
                1 => Some(active[0]),
                _ => None,
            };
            if let Some(i) = pick {
                if rs_replicas(&self.rss[i]) != want {
                    self.scale_and_record(i, want);
                }
                return;
            }
        } else {
            return;
        }
        if self.is_saturated(new) {
            for i in self.active(old) {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !is_rolling(&self.d) {
            return;
        }
        let mut all: Vec<usize> = old.to_vec();
        all.extend(new);
        let mut all = self.active(&all);
        let total: i32 = all.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        let allowed = if want > 0 {
            want + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        let op = match to_add.cmp(&0) {
            std::cmp::Ordering::Greater => {
                // Larger first; newer first among equals.
                all.sort_by(|a, b| {
                    let (ra, rb) = (rs_replicas(&self.rss[*a]), rs_replicas(&self.rss[*b]));
                    rb.cmp(&ra)
                        .then_with(|| by_creation(&self.rss[*b], &self.rss[*a]))
                });
                "up"
            }
            std::cmp::Ordering::Less => {
                // Larger first; older first among equals.
                all.sort_by(|a, b| {
                    let (ra, rb) = (rs_replicas(&self.rss[*a]), rs_replicas(&self.rss[*b]));
                    rb.cmp(&ra)
                        .then_with(|| by_creation(&self.rss[*a], &self.rss[*b]))
                });
                "down"
            }
            std::cmp::Ordering::Equal => "",
        };
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for i in &all {
            let cur = rs_replicas(&self.rss[*i]);
            if to_add != 0 {
                let p = proportion(&self.rss[*i], &self.d, to_add, added);
                sizes.push(cur + p);
                added += p;
            } else {
                sizes.push(cur);
            }
        }
        for (n, i) in all.iter().enumerate() {
            if n == 0 && to_add != 0 {
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale_rs(*i, sizes[n], op);
        }
    }

    fn rollout_rolling(&mut self) -> Result<(), Stop> {
        let (new, old) = self.get_all(true)?;
        let Some(new_i) = new else {
            return Ok(());
        };
        if self.reconcile_new(new_i, &old) {
            self.sync_rollout_status(new, &old);
            return Ok(());
        }
        let active_old = self.active(&old);
        if self.reconcile_old(new_i, &old, active_old) {
            self.sync_rollout_status(new, &old);
            return Ok(());
        }
        if deployment_complete(&self.d, &self.cur_status()) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(new, &old);
        Ok(())
    }

    fn reconcile_new(&mut self, new: usize, old: &[usize]) -> bool {
        let want = replicas(&self.d);
        let cur = rs_replicas(&self.rss[new]);
        if cur == want {
            return false;
        }
        if cur > want {
            return self.scale_and_record(new, want);
        }
        let all: i32 = old
            .iter()
            .chain(std::iter::once(&new))
            .map(|i| rs_replicas(&self.rss[*i]))
            .sum();
        let n = new_rs_new_replicas(&self.d, all, cur);
        self.scale_and_record(new, n)
    }

    fn reconcile_old(&mut self, new: usize, old_all: &[usize], old_active: Vec<usize>) -> bool {
        let old_pods: i32 = old_active.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods: i32 = old_all
            .iter()
            .chain(std::iter::once(&new))
            .map(|i| rs_replicas(&self.rss[*i]))
            .sum();
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable = rs_replicas(&self.rss[new]) - rs_status(&self.rss[new]).2;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy(&old_active, max_scaled_down);
        let mut all = old_active.clone();
        all.push(new);
        let scaled = self.scale_down_old_for_rolling(&all, &old_active);
        cleaned + scaled > 0
    }

    fn cleanup_unhealthy(&mut self, old: &[usize], max_cleanup: i32) -> i32 {
        let mut sorted = old.to_vec();
        sorted.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let mut total = 0;
        for i in sorted {
            if total >= max_cleanup {
                break;
            }
            let cur = rs_replicas(&self.rss[i]);
            let available = rs_status(&self.rss[i]).2;
            if cur == 0 || cur == available {
                continue;
            }
            let n = (max_cleanup - total).min(cur - available);
            self.scale_and_record(i, cur - n);
            total += n;
        }
        total
    }

    fn scale_down_old_for_rolling(&mut self, all: &[usize], old: &[usize]) -> i32 {
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = all.iter().map(|i| rs_status(&self.rss[*i]).2).sum();
        if available <= min_available {
            return 0;
        }
        let mut sorted = old.to_vec();
        sorted.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let target = available - min_available;
        let mut total = 0;
        for i in sorted {
            if total >= target {
                break;
            }
            let cur = rs_replicas(&self.rss[i]);
            if cur == 0 {
                continue;
            }
            let n = cur.min(target - total);
            self.scale_and_record(i, cur - n);
            total += n;
        }
        total
    }

    fn old_pods_running(&self, new: Option<usize>, old: &[usize]) -> bool {
        if old.iter().map(|i| rs_status(&self.rss[*i]).0).sum::<i32>() > 0 {
            return true;
        }
        let new_uid = new.and_then(|i| self.rss[i].metadata.uid.clone());
        self.pods_by_rs.iter().any(|(uid, pods)| {
            Some(uid) != new_uid.as_ref()
                && pods.iter().any(|p| {
                    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                    !matches!(phase, Some("Failed") | Some("Succeeded"))
                })
        })
    }

    fn rollout_recreate(&mut self) -> Result<(), Stop> {
        let (mut new, mut old) = self.get_all(false)?;
        let mut scaled_down = false;
        for i in self.active(&old) {
            scaled_down |= self.scale_and_record(i, 0);
        }
        if scaled_down {
            self.sync_rollout_status(new, &old);
            return Ok(());
        }
        if self.old_pods_running(new, &old) {
            self.sync_rollout_status(new, &old);
            return Ok(());
        }
        if new.is_none() {
            (new, old) = self.get_all(true)?;
        }
        if let Some(i) = new {
            let want = replicas(&self.d);
            self.scale_and_record(i, want);
        }
        if deployment_complete(&self.d, &self.cur_status()) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(new, &old);
        Ok(())
    }

    /// Deletes the oldest zero-sized ReplicaSets beyond `revisionHistoryLimit`.
    fn cleanup(&mut self, old: &[usize]) {
        if !has_revision_history_limit(&self.d) {
            return;
        }
        let limit = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        let mut cleanable: Vec<usize> = old
            .iter()
            .copied()
            .filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| {
            let (ra, rb) = (revision(&self.rss[*a]), revision(&self.rss[*b]));
            match (ra, rb) {
                (Some(x), Some(y)) if x != y => x.cmp(&y),
                _ => by_creation(&self.rss[*a], &self.rss[*b]),
            }
        });
        for i in cleanable.into_iter().take(diff as usize) {
            let rs = &self.rss[i];
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
            if rs_status(rs).0 != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed.unwrap_or(0)
            {
                continue;
            }
            self.plan.steps.push(Step::DeleteReplicaSet {
                name: rs.name_any(),
                uid: rs.metadata.uid.clone(),
                resource_version: rs.metadata.resource_version.clone(),
            });
        }
    }

    /// Upstream's `calculateStatus`.
    fn calculate_status(&self, new: Option<usize>, old: &[usize]) -> DeploymentStatus {
        let mut all: Vec<&ReplicaSet> = old.iter().map(|i| &self.rss[*i]).collect();
        all.extend(new.map(|i| &self.rss[i]));
        let available: i32 = all.iter().map(|rs| rs_status(rs).2).sum();
        let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
        let current = self.cur_status();
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: nz(all.iter().map(|rs| rs_status(rs).0).sum()),
            updated_replicas: nz(new.map(|i| rs_status(&self.rss[i]).0).unwrap_or(0)),
            ready_replicas: nz(all.iter().map(|rs| rs_status(rs).1).sum()),
            available_replicas: nz(available),
            unavailable_replicas: nz((total - available).max(0)),
            collision_count: current.collision_count,
            conditions: current.conditions.clone(),
            terminating_replicas: None,
        };
        let c = if available >= replicas(&self.d) - max_unavailable(&self.d) {
            new_condition(
                "Available",
                "True",
                REASON_MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
                self.now,
            )
        } else {
            new_condition(
                "Available",
                "False",
                REASON_MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                self.now,
            )
        };
        set_condition(&mut status, c);
        status
    }

    fn write_status(&mut self, status: DeploymentStatus) {
        self.d.status = Some(status.clone());
        if status != self.orig_status {
            self.plan.steps.push(Step::UpdateStatus(status));
        }
    }

    fn sync_deployment_status(&mut self, new: Option<usize>, old: &[usize]) {
        let status = self.calculate_status(new, old);
        self.write_status(status);
    }

    /// Upstream's `syncRolloutStatus`: counters, Available, Progressing (progress, done
    /// or timed out) and the ReplicaFailure condition of the ReplicaSets.
    fn sync_rollout_status(&mut self, new: Option<usize>, old: &[usize]) {
        let mut status = self.calculate_status(new, old);
        if !has_progress_deadline(&self.d) {
            remove_condition(&mut status, "Progressing");
        }
        let current = self.cur_status();
        let cur_cond = condition(&current, "Progressing").cloned();
        let complete_before = count(status.replicas) == count(status.updated_replicas)
            && cur_cond
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(REASON_NEW_RS_AVAILABLE));
        let new_name = new.map(|i| self.rss[i].name_any());
        let dname = self.d.name_any();
        if has_progress_deadline(&self.d) && !complete_before {
            if deployment_complete(&self.d, &status) {
                let msg = match &new_name {
                    Some(n) => format!("ReplicaSet {n:?} has successfully progressed."),
                    None => format!("Deployment {dname:?} has successfully progressed."),
                };
                let c = new_condition(
                    "Progressing",
                    "True",
                    REASON_NEW_RS_AVAILABLE,
                    msg,
                    self.now,
                );
                set_condition(&mut status, c);
            } else if deployment_progressing(&current, &status) {
                let msg = match &new_name {
                    Some(n) => format!("ReplicaSet {n:?} is progressing."),
                    None => format!("Deployment {dname:?} is progressing."),
                };
                let mut c = new_condition("Progressing", "True", REASON_RS_UPDATED, msg, self.now);
                if let Some(cur) = &cur_cond {
                    if cur.status == "True" {
                        c.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, c);
            } else if deployment_timed_out(&self.d, &status, self.now) {
                let msg = match &new_name {
                    Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
                    None => format!("Deployment {dname:?} has timed out progressing."),
                };
                let c = new_condition("Progressing", "False", REASON_TIMED_OUT, msg, self.now);
                set_condition(&mut status, c);
            }
        }
        match self.replica_failure(new, old) {
            Some(c) => set_condition(&mut status, c),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        if status == current {
            self.plan.requeue_after = self.requeue_stuck(&status);
        }
        self.write_status(status);
    }

    fn replica_failure(&self, new: Option<usize>, old: &[usize]) -> Option<DeploymentCondition> {
        let from = |rs: &ReplicaSet| {
            rs.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "ReplicaFailure"))
                .map(|c| DeploymentCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_update_time: c.last_transition_time.clone(),
                    last_transition_time: c.last_transition_time.clone(),
                })
        };
        if let Some(c) = new.and_then(|i| from(&self.rss[i])) {
            return Some(c);
        }
        old.iter()
            .chain(new.iter())
            .find_map(|i| from(&self.rss[*i]))
    }

    /// When to look again for a stuck rollout (upstream's `requeueStuckDeployment`).
    fn requeue_stuck(&self, new: &DeploymentStatus) -> Option<Duration> {
        let current = self.cur_status();
        let cond = condition(&current, "Progressing")?;
        if !has_progress_deadline(&self.d)
            || deployment_complete(&self.d, new)
            || cond.reason.as_deref() == Some(REASON_TIMED_OUT)
        {
            return None;
        }
        let secs = self.d.spec.as_ref()?.progress_deadline_seconds?;
        let last = cond.last_update_time.as_ref()?.0;
        let after = (last + SignedDuration::from_secs(i64::from(secs))).duration_since(self.now);
        if after < SignedDuration::from_secs(1) {
            return Some(Duration::from_secs(1));
        }
        Some(Duration::from_secs(after.as_secs() as u64 + 1))
    }
}

/// Upstream's `GetReplicaSetProportion`: this ReplicaSet's share of `to_add`, given how
/// much has been handed out already.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = rs_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn rs_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let deployment_max = replicas(d) + max_surge(d);
    let mut before = annotation(&rs.metadata, MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    if before == 0 {
        before = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        if before == 0 {
            return 0;
        }
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_max) / f64::from(before);
    size.round() as i32 - rs_replicas(rs)
}

/// The status and event to record when creating the new ReplicaSet failed (upstream sets
/// Progressing=False, reason ReplicaSetCreateError, when a deadline is set).
pub fn create_failure(
    d: &Deployment,
    rs_name: &str,
    message: &str,
    now: Timestamp,
) -> (Option<DeploymentStatus>, Step) {
    let msg = format!("Failed to create new replica set {rs_name:?}: {message}");
    let status = has_progress_deadline(d).then(|| {
        let mut st = d.status.clone().unwrap_or_default();
        set_condition(
            &mut st,
            new_condition(
                "Progressing",
                "False",
                REASON_RS_CREATE_ERROR,
                msg.clone(),
                now,
            ),
        );
        st
    });
    let event = Step::Event {
        type_: EventType::Warning,
        reason: REASON_RS_CREATE_ERROR.into(),
        message: msg,
    };
    (status, event)
}

// ---------------------------------------------------------------------------------------
// runtime

struct Ctx {
    client: Client,
    rss: Store<ReplicaSet>,
    pods: Store<Pod>,
    recorder: EventRecorder,
    own_writes: OwnWrites,
}

/// Runs the Deployment controller with at most `workers` concurrent syncs until its watch
/// ends.
pub async fn run_deployment_controller(client: Client, workers: u16) -> Result<(), Error> {
    let d_api: Api<Deployment> = Api::all(client.clone());
    let (rss, rs_writer) = reflector::store();
    let rs_stream = reflector::reflector(
        rs_writer,
        watcher(
            Api::<ReplicaSet>::all(client.clone()),
            watcher::Config::default(),
        )
        .modify(crate::podutil::strip_managed_fields),
    )
    .default_backoff()
    .touched_objects();
    let (pods, pod_writer) = reflector::store();
    let pod_stream = reflector::reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .modify(crate::podutil::keep_owner_and_phase),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(d_api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(workers.max(1)));
    let deployments = controller.store();
    let ctx = Arc::new(Ctx {
        recorder: EventRecorder::new(client.clone(), COMPONENT),
        client,
        rss: rss.clone(),
        pods,
        own_writes: OwnWrites::default(),
    });
    let d_for_rs = deployments.clone();
    let d_for_pods = deployments;
    let rs_for_pods = rss;
    controller
        .watches_stream(rs_stream, move |rs: ReplicaSet| {
            rs_to_deployments(&d_for_rs, &rs)
        })
        .watches_stream(pod_stream, move |pod: Pod| {
            pod_to_deployment(&d_for_pods, &rs_for_pods, &pod)
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "deployment reconcile failed");
            }
        })
        .await;
    Ok(())
}

fn rs_to_deployments(ds: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.namespace().unwrap_or_default();
    if let Some(r) = controller_ref(&rs.metadata) {
        if r.kind == "Deployment" && r.api_version.starts_with("apps/") {
            return vec![ObjectRef::new(&r.name).within(&ns)];
        }
        return Vec::new();
    }
    ds.state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(ns.as_str()))
        .filter(|d| {
            d.spec
                .as_ref()
                .and_then(|s| selector_of(&s.selector).ok())
                .is_some_and(|s| !s.is_empty() && s.matches(rs.labels()))
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// Pods matter to a Deployment only under Recreate (it waits for old pods to go).
fn pod_to_deployment(
    ds: &Store<Deployment>,
    rss: &Store<ReplicaSet>,
    pod: &Pod,
) -> Option<ObjectRef<Deployment>> {
    let ns = pod.namespace().unwrap_or_default();
    let r = controller_ref(&pod.metadata).filter(|r| r.kind == "ReplicaSet")?;
    let rs = rss.get(&ObjectRef::new(&r.name).within(&ns))?;
    let dr = controller_ref(&rs.metadata).filter(|r| r.kind == "Deployment")?;
    let oref = ObjectRef::new(&dr.name).within(&ns);
    let d = ds.get(&oref)?;
    is_recreate(&d).then_some(oref)
}

fn error_policy(d: Arc<Deployment>, err: &SyncError, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(deployment = %d.name_any(), error = %err, "deployment sync failed");
    Action::requeue(ERROR_RETRY)
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, SyncError> {
    let _ = ctx.rss.wait_until_ready().await;
    let _ = ctx.pods.wait_until_ready().await;
    if ctx.own_writes.cache_is_behind(&d.metadata) {
        // Our last write of the Deployment is on its way through the watch and will sync again.
        return Ok(Action::await_change());
    }
    let ns = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let Some(spec) = d.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let selector = match selector_of(&spec.selector) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(deployment = %name, error = %e, "invalid selector");
            return Ok(Action::await_change());
        }
    };
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let d_api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    // Only ReplicaSets this sync can act on are copied: its own, orphans it may adopt, and
    // those named like its ReplicaSets (a name collision). One controlled by another owner
    // is ignored by the claim and cannot collide with a name unless it has our prefix.
    // Copying every ReplicaSet of the namespace made each sync cost O(ReplicaSets).
    let d_uid = d.metadata.uid.clone().unwrap_or_default();
    let prefix = format!("{name}-");
    let existing: Vec<ReplicaSet> = ctx
        .rss
        .state()
        .into_iter()
        .filter(|rs| rs.metadata.namespace.as_deref() == Some(ns.as_str()))
        .filter(|rs| match controller_ref(&rs.metadata) {
            None => true,
            Some(r) => {
                r.uid == d_uid
                    || rs
                        .metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&prefix))
            }
        })
        .map(|rs| rs.as_ref().clone())
        .collect();

    // Claim ReplicaSets: ours, matching orphans (adopted), no longer matching (released).
    let owner = new_controller_ref("apps/v1", "Deployment", &d.metadata);
    let mut owned = Vec::new();
    let mut rechecked = None;
    for rs in &existing {
        let selected = !selector.is_empty() && selector.matches(rs.labels());
        match claim(&d.metadata, selected, &rs.metadata) {
            Claim::Owned => owned.push(rs.clone()),
            Claim::Ignore => {}
            Claim::Adopt => {
                if rechecked.is_none() {
                    let fresh = d_api.get_opt(&name).await?;
                    rechecked = Some(fresh.is_some_and(|f| {
                        f.metadata.uid.as_deref() == Some(d_uid.as_str())
                            && f.metadata.deletion_timestamp.is_none()
                    }));
                }
                if rechecked == Some(true) {
                    match adopt(&rs_api, &rs.metadata, &owner).await {
                        Ok(adopted) => owned.push(adopted),
                        Err(e) if api_code(&e) == Some(404) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Claim::Release => match release(&rs_api, &rs.metadata, &d_uid).await {
                Ok(_) => {}
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e.into()),
            },
        }
    }

    let mut pods_by_rs: HashMap<String, Vec<Pod>> = HashMap::new();
    if is_recreate(&d) {
        let uids: Vec<String> = owned
            .iter()
            .filter_map(|rs| rs.metadata.uid.clone())
            .collect();
        for pod in ctx.pods.state() {
            if pod.namespace().as_deref() != Some(ns.as_str()) {
                continue;
            }
            if let Some(r) = controller_ref(&pod.metadata).filter(|r| uids.contains(&r.uid)) {
                pods_by_rs
                    .entry(r.uid.clone())
                    .or_default()
                    .push(pod.as_ref().clone());
            }
        }
    }

    let plan = plan_deployment(&d, owned, &existing, &pods_by_rs, now());
    execute(&ctx, &d, &rs_api, &d_api, plan.steps).await?;
    if plan.retry {
        return Err(SyncError::Retry(format!(
            "deployment {ns}/{name}: replica set name collision recorded; retrying"
        )));
    }
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

async fn execute(
    ctx: &Ctx,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    d_api: &Api<Deployment>,
    steps: Vec<Step>,
) -> Result<(), SyncError> {
    let name = d.name_any();
    let mut d_rv = d.metadata.resource_version.clone();
    let mut rs_rv: HashMap<String, Option<String>> = HashMap::new();
    // As upstream, a revision annotation followed by a status write goes out with that write
    // (a Deployment's status strategy keeps annotation changes): one write instead of two.
    let last_status = steps
        .iter()
        .rposition(|s| matches!(s, Step::UpdateStatus(_)));
    let mut revision: Option<String> = None;
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::SetRevision(rev) if last_status.is_some_and(|j| j > i) => revision = Some(rev),
            Step::CreateReplicaSet(rs) => match rs_api.create(&PostParams::default(), &rs).await {
                Ok(created) => {
                    rs_rv.insert(created.name_any(), created.metadata.resource_version);
                }
                Err(e) if api_code(&e) == Some(409) => return Err(e.into()),
                Err(e) => {
                    let msg = api_message(&e);
                    let (status, event) = create_failure(d, &rs.name_any(), &msg, now());
                    if let Some(st) = status {
                        let mut obj = d.clone();
                        obj.metadata.resource_version = d_rv.clone();
                        obj.status = Some(st);
                        let _ = d_api
                            .replace_status(&name, &PostParams::default(), &obj)
                            .await;
                    }
                    if let Step::Event {
                        type_,
                        reason,
                        message,
                    } = event
                    {
                        ctx.recorder.record(d, type_, &reason, message);
                    }
                    return Err(e.into());
                }
            },
            Step::UpdateReplicaSet(mut rs) => {
                if let Some(rv) = rs_rv.get(&rs.name_any()) {
                    rs.metadata.resource_version = rv.clone();
                }
                let updated = rs_api
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await?;
                rs_rv.insert(updated.name_any(), updated.metadata.resource_version);
            }
            Step::DeleteReplicaSet {
                name,
                uid,
                resource_version,
            } => {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid,
                        resource_version,
                    }),
                    ..Default::default()
                };
                match rs_api.delete(&name, &dp).await {
                    Ok(_) => {}
                    Err(e) if matches!(api_code(&e), Some(404) | Some(409)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Step::SetRevision(rev) => {
                let patch = json!({"metadata": {"annotations": {REVISION: rev}}});
                let updated = d_api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
                ctx.own_writes.record(&updated.metadata);
                d_rv = updated.metadata.resource_version;
            }
            Step::UpdateStatus(status) => {
                let mut obj = d.clone();
                obj.metadata.resource_version = d_rv.clone();
                obj.status = Some(status);
                if let Some(rev) = revision.take() {
                    obj.metadata
                        .annotations
                        .get_or_insert_with(Default::default)
                        .insert(REVISION.to_string(), rev);
                }
                let updated = d_api
                    .replace_status(&name, &PostParams::default(), &obj)
                    .await?;
                ctx.own_writes.record(&updated.metadata);
                d_rv = updated.metadata.resource_version;
            }
            Step::Event {
                type_,
                reason,
                message,
            } => ctx.recorder.record(d, type_, &reason, message),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
