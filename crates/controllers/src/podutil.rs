//! Pod helpers shared by the workload controllers, as upstream's `podutil` and
//! `controller_utils` define them: readiness, availability, pods from templates and the
//! order in which a controller deletes surplus pods.

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Annotation that lowers (or raises) a pod's priority for deletion on scale-down.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Now, truncated to whole seconds as the API serializes `metav1.Time`.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The controller ownerReference of an object, if any.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller ownerReference (`controller: true`, `blockOwnerDeletion: true`).
pub fn new_controller_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Upstream's `IsPodActive`: not terminal and not being deleted.
pub fn is_pod_active(pod: &Pod) -> bool {
    let p = phase(pod);
    p != "Succeeded" && p != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The pod's Ready condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When the pod last became ready (None if not ready or unknown).
pub fn pod_ready_time(pod: &Pod) -> Option<Timestamp> {
    let c = ready_condition(pod)?;
    if c.status != "True" {
        return None;
    }
    c.last_transition_time.as_ref().map(|t| t.0)
}

/// Ready for at least `min_ready_seconds` (upstream's `IsPodAvailable`).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match pod_ready_time(pod) {
        Some(t) => t + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now,
        None => false,
    }
}

/// The pod a controller creates from its template: generateName `<parent>-`, the template's
/// labels, annotations and finalizers, and the controller reference.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    parent_name: &str,
    controller: OwnerReference,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    // A prefix that would make an invalid name (too long) falls back to the bare name.
    let prefix = if parent_name.len() < 253 {
        format!("{parent_name}-")
    } else {
        parent_name.to_string()
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![controller]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// (regular, sidecar) max restart counts.
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = &pod.status else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(&c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let d = now.duration_since(t).as_nanos();
    if d > 0 {
        (d as f64).log2() as i64
    } else {
        -1
    }
}

/// `a` is "older-or-zero after" `b`: zero times sort first, then later times.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => a.is_none(),
        (Some(a), Some(b)) => a > b,
    }
}

/// Compares two timestamps as upstream's logarithmic scale-down does; `None` when equal.
fn time_less(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    now: Timestamp,
    ua: &str,
    ub: &str,
) -> Option<bool> {
    if a == b {
        return None;
    }
    match (a, b) {
        (Some(ta), Some(tb)) => {
            let diff = log_rank(ta, now) - log_rank(tb, now);
            if diff == 0 {
                Some(ua < ub)
            } else {
                Some(diff < 0)
            }
        }
        _ => Some(after_or_zero(a, b)),
    }
}

/// Upstream's `ActivePodsWithRanks.Less`: true when `a` should be deleted before `b`.
/// `rank_*` counts the active related pods on the same node.
pub fn delete_before(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: Timestamp) -> bool {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let (na, nb) = (node(a), node(b));
    // 1. Unassigned before assigned.
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    // 2. Pending < Unknown < Running.
    if phase_ordinal(a) != phase_ordinal(b) {
        return phase_ordinal(a) < phase_ordinal(b);
    }
    // 3. Not ready before ready.
    if is_pod_ready(a) != is_pod_ready(b) {
        return !is_pod_ready(a);
    }
    // 4. Lower deletion cost first.
    if deletion_cost(a) != deletion_cost(b) {
        return deletion_cost(a) < deletion_cost(b);
    }
    // 5. Doubled up (more related pods on the node) first.
    if rank_a != rank_b {
        return rank_a > rank_b;
    }
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    // 6. Ready for less time first.
    if is_pod_ready(a) && is_pod_ready(b) {
        if let Some(less) = time_less(pod_ready_time(a), pod_ready_time(b), now, &uid(a), &uid(b)) {
            return less;
        }
    }
    // 7. More restarts first.
    let (ra, rb) = (max_restarts(a), max_restarts(b));
    if ra.0 != rb.0 {
        return ra.0 > rb.0;
    }
    if ra.1 != rb.1 {
        return ra.1 > rb.1;
    }
    // 8. Newer first.
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    time_less(created(a), created(b), now, &uid(a), &uid(b)).unwrap_or(false)
}

/// Picks `count` pods to delete from `pods`, preferring those earliest in their lifecycle;
/// `related` are all pods of the same owner family (for the same-node rank).
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    count: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<String, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_pod_active(p)) {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        *on_node.entry(node).or_default() += 1;
    }
    let rank = |p: &Pod| {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        on_node.get(&node).copied().unwrap_or(0)
    };
    let mut ranked: Vec<(&'a Pod, usize)> = pods.iter().map(|p| (*p, rank(p))).collect();
    ranked.sort_by(|(a, ra), (b, rb)| {
        if delete_before(a, *ra, b, *rb, now) {
            Ordering::Less
        } else if delete_before(b, *rb, a, *ra, now) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    ranked.into_iter().take(count).map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests;

/// Drops an object's managedFields before it goes into an informer's cache: controllers never
/// read them, and they are often the largest part of an object (kube-controller-manager's
/// informers strip them too).
pub fn strip_managed_fields<K: kube::Resource>(o: &mut K) {
    o.meta_mut().managed_fields = None;
}

/// Keeps only what the Deployment controller reads of a pod (its identity, controller and
/// phase: Recreate waits until the old pods stop). It caches every pod in the cluster, so the
/// rest (spec, labels, conditions) would be most of its memory.
pub fn keep_owner_and_phase(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        owner_references: meta.owner_references,
        ..ObjectMeta::default()
    };
    pod.spec = None;
    let phase = pod.status.take().and_then(|s| s.phase);
    pod.status = phase.map(|phase| PodStatus {
        phase: Some(phase),
        ..PodStatus::default()
    });
}

/// Keeps what the ReplicaSet controller reads of a pod: all metadata but managedFields, the
/// node, sidecar init containers (name and restart policy), and the status's phase, conditions
/// and per-container restart counts. Its cache holds every pod in the cluster; the containers'
/// specs and states would be most of it.
pub fn keep_for_replicaset(pod: &mut Pod) {
    use k8s_openapi::api::core::v1::{Container, ContainerStatus, PodSpec};
    pod.metadata.managed_fields = None;
    if let Some(spec) = pod.spec.take() {
        let sidecars: Vec<Container> = spec
            .init_containers
            .into_iter()
            .flatten()
            .map(|c| Container {
                name: c.name,
                restart_policy: c.restart_policy,
                ..Container::default()
            })
            .collect();
        pod.spec = Some(PodSpec {
            node_name: spec.node_name,
            init_containers: (!sidecars.is_empty()).then_some(sidecars),
            ..PodSpec::default()
        });
    }
    if let Some(status) = pod.status.take() {
        let counts = |list: Option<Vec<ContainerStatus>>| {
            list.map(|l| {
                l.into_iter()
                    .map(|c| ContainerStatus {
                        name: c.name,
                        ready: c.ready,
                        restart_count: c.restart_count,
                        ..ContainerStatus::default()
                    })
                    .collect::<Vec<_>>()
            })
        };
        pod.status = Some(PodStatus {
            phase: status.phase,
            conditions: status.conditions,
            container_statuses: counts(status.container_statuses),
            init_container_statuses: counts(status.init_container_statuses),
            ..PodStatus::default()
        });
    }
}
