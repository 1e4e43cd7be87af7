//! The kubelet's API part for one pod, as a pure function: the pod as the API server has it,
//! plus what the node knows (time, addresses, how long it has watched the pod), in; what to
//! write next, out. No I/O here.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus, ResourceRequirements, VolumeMountStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Pod annotation forcing the phase a started pod reports: `Failed`, `Succeeded` or `Pending`
/// (never started).
pub const ANNOTATION_SIMULATE_PHASE: &str = "minato.dev/simulate-phase";
/// Pod annotation (e.g. `5s`): with restartPolicy Never/OnFailure the containers exit that long
/// after the pod started, and the pod completes.
pub const ANNOTATION_EXIT_AFTER: &str = "minato.dev/simulate-exit-after";
/// Pod annotation: the exit code used with [`ANNOTATION_EXIT_AFTER`] (default 0; non-zero
/// makes the pod Failed).
pub const ANNOTATION_EXIT_CODE: &str = "minato.dev/simulate-exit-code";

/// The condition types the kubelet owns, in the order it writes them.
pub const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// What the node knows beyond the pod object.
#[derive(Clone, Debug)]
pub struct PodContext<'a> {
    /// Wall-clock now (truncated to seconds when written).
    pub now: Timestamp,
    /// The node's InternalIP.
    pub host_ip: &'a str,
    /// The address allocated for this pod (None: none available yet). Ignored for hostNetwork.
    pub pod_ip: Option<&'a str>,
    /// How long this node has seen the pod bound to it.
    pub since_seen: Duration,
    /// How long since this node first saw the pod's deletionTimestamp.
    pub since_deletion_seen: Option<Duration>,
    pub start_delay: Duration,
    /// Simulated container shutdown time (capped by the pod's grace period).
    pub shutdown_delay: Duration,
}

/// What to do next for a pod.
#[derive(Clone, Debug, PartialEq)]
pub enum PodAction {
    /// Nothing to write; nothing pending.
    Nothing,
    /// Look again after this long.
    Wait(Duration),
    /// No IP is free in the node's range: retry later.
    NoAddress,
    /// Write this status (a strategic merge patch of pods/status), then look again after
    /// `recheck` if set.
    WriteStatus {
        patch: Value,
        transition: Transition,
        recheck: Option<Duration>,
    },
    /// Confirm the deletion: optionally write the final status, then DELETE with grace 0 and
    /// a UID precondition.
    Delete { final_status: Option<Value> },
}

/// Which lifecycle step a status write is (for events and counting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Started,
    Completed,
    Update,
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn secs(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Parses durations as Go does: `500ms`, `5s`, `2m`, `1h`, `1m30s`, `1.5s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    minato_resources::duration::parse(s.trim())
}

/// The image reference as the runtime reports it (`nginx` → `docker.io/library/nginx:latest`).
pub fn normalize_image(image: &str) -> String {
    let (first, rest) = match image.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (image, None),
    };
    let named = match rest {
        Some(_) if first.contains('.') || first.contains(':') || first == "localhost" => {
            image.to_string()
        }
        Some(_) => format!("docker.io/{image}"),
        None => format!("docker.io/library/{image}"),
    };
    let last = named.rsplit('/').next().unwrap_or("");
    if named.contains('@') || last.contains(':') {
        named
    } else {
        format!("{named}:latest")
    }
}

fn sha_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// `repo@sha256:…` for an image, stable per reference.
pub fn image_id(image: &str) -> String {
    let normalized = normalize_image(image);
    let repo = match normalized.split_once('@') {
        Some((r, _)) => r.to_string(),
        None => {
            let slash = normalized.rfind('/').map_or(0, |i| i + 1);
            match normalized[slash..].rfind(':') {
                Some(c) => normalized[..slash + c].to_string(),
                None => normalized.clone(),
            }
        }
    };
    format!("{repo}@sha256:{}", sha_hex(&[&normalized]))
}

/// The simulated runtime's ID for a container of a pod (stable per pod UID and name).
pub fn container_id(pod_uid: &str, name: &str) -> String {
    format!("simulated://{}", sha_hex(&[pod_uid, name]))
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

fn volume_mounts(c: &Container) -> Option<Vec<VolumeMountStatus>> {
    let mounts = c.volume_mounts.as_ref()?;
    if mounts.is_empty() {
        return None;
    }
    Some(
        mounts
            .iter()
            .map(|m| VolumeMountStatus {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: m.read_only.filter(|r| *r),
                recursive_read_only: m.read_only.filter(|r| *r).map(|_| "Disabled".into()),
            })
            .collect(),
    )
}

fn resources(c: &Container) -> Option<ResourceRequirements> {
    let r = c.resources.as_ref()?;
    if r.requests.is_none() && r.limits.is_none() {
        return None;
    }
    Some(ResourceRequirements {
        requests: r.requests.clone(),
        limits: r.limits.clone(),
        claims: None,
    })
}

/// How a container looks in the status we write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Running,
    Exited(i32),
}

fn container_status(
    pod: &Pod,
    c: &Container,
    previous: Option<&ContainerStatus>,
    run: Run,
    now: Time,
) -> ContainerStatus {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let id = container_id(uid, &c.name);
    let image = c.image.clone().unwrap_or_default();
    // Keep the start time of a container that is already running (or ran) with this ID.
    let prev_state = previous
        .filter(|p| p.container_id.as_deref() == Some(id.as_str()))
        .and_then(|p| p.state.as_ref());
    let started_at = prev_state
        .and_then(|s| {
            s.running
                .as_ref()
                .and_then(|r| r.started_at.clone())
                .or_else(|| s.terminated.as_ref().and_then(|t| t.started_at.clone()))
        })
        .unwrap_or_else(|| now.clone());
    let state = match run {
        Run::Running => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(started_at),
            }),
            ..Default::default()
        },
        Run::Exited(code) => {
            let finished_at = prev_state
                .and_then(|s| s.terminated.as_ref())
                .filter(|t| t.exit_code == code)
                .and_then(|t| t.finished_at.clone())
                .unwrap_or(now);
            ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                    started_at: Some(started_at),
                    finished_at: Some(finished_at),
                    container_id: Some(id.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
    };
    ContainerStatus {
        name: c.name.clone(),
        image: normalize_image(&image),
        image_id: image_id(&image),
        container_id: Some(id),
        ready: run == Run::Running,
        started: Some(run == Run::Running),
        restart_count: 0,
        state: Some(state),
        last_state: Some(ContainerState::default()),
        volume_mounts: volume_mounts(c),
        resources: resources(c),
        ..Default::default()
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    previous: &[PodCondition],
    now: &Time,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let prev = previous.iter().find(|c| c.type_ == type_);
    let last_transition_time = match prev {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(now.clone()),
    };
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(Into::into),
        message,
        last_transition_time,
        ..Default::default()
    }
}

/// The pod phase the status reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Running,
    Succeeded,
    Failed,
}

/// The status the kubelet would report for a pod whose sandbox is up and whose containers are
/// in `phase` (Running: all running; Succeeded/Failed: all exited with `exit_code`).
pub fn desired_status(pod: &Pod, ctx: &PodContext<'_>, phase: Phase, exit_code: i32) -> PodStatus {
    let now = Time(secs(ctx.now));
    let spec = pod.spec.clone().unwrap_or_default();
    let current = pod.status.clone().unwrap_or_default();
    let prev_conditions = current.conditions.clone().unwrap_or_default();
    let prev_init = current.init_container_statuses.clone().unwrap_or_default();
    let prev_main = current.container_statuses.clone().unwrap_or_default();
    let find = |list: &[ContainerStatus], name: &str| list.iter().find(|s| s.name == name).cloned();

    let main_run = match phase {
        Phase::Running => Run::Running,
        Phase::Succeeded => Run::Exited(0),
        Phase::Failed => Run::Exited(if exit_code == 0 { 1 } else { exit_code }),
    };
    let init_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let prev = find(&prev_init, &c.name);
            if is_sidecar(c) {
                container_status(pod, c, prev.as_ref(), main_run, now.clone())
            } else {
                let mut s = container_status(pod, c, prev.as_ref(), Run::Exited(0), now.clone());
                // A completed init container counts as ready.
                s.ready = true;
                s
            }
        })
        .collect();
    let main_statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                pod,
                c,
                find(&prev_main, &c.name).as_ref(),
                main_run,
                now.clone(),
            )
        })
        .collect();

    // Conditions owned by others (readiness gates, DisruptionTarget …) stay, first.
    let mut conditions: Vec<PodCondition> = prev_conditions
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    let terminal = phase != Phase::Running;
    let (containers_ready, cr_reason): (bool, Option<&str>) = match phase {
        Phase::Running => (true, None),
        Phase::Succeeded => (false, Some("PodCompleted")),
        Phase::Failed => (false, Some("PodFailed")),
    };
    let (ready, ready_reason, ready_message) = if !containers_ready {
        (false, cr_reason, None)
    } else {
        let unready: Vec<String> = spec
            .readiness_gates
            .iter()
            .flatten()
            .filter_map(
                |g| match prev_conditions.iter().find(|c| c.type_ == g.condition_type) {
                    None => Some(format!(
                        "corresponding condition of pod readiness gate {:?} does not exist.",
                        g.condition_type
                    )),
                    Some(c) if c.status != "True" => Some(format!(
                        "the status of pod readiness gate {:?} is not \"True\", but {}",
                        g.condition_type, c.status
                    )),
                    Some(_) => None,
                },
            )
            .collect();
        if unready.is_empty() {
            (true, None, None)
        } else {
            (
                false,
                Some("ReadinessGatesNotReady"),
                Some(unready.join(", ")),
            )
        }
    };
    let init_reason = (phase == Phase::Succeeded).then_some("PodCompleted");
    conditions.push(condition(
        "PodReadyToStartContainers",
        !terminal,
        None,
        None,
        &prev_conditions,
        &now,
    ));
    conditions.push(condition(
        "Initialized",
        true,
        init_reason,
        None,
        &prev_conditions,
        &now,
    ));
    conditions.push(condition(
        "Ready",
        ready,
        ready_reason,
        ready_message,
        &prev_conditions,
        &now,
    ));
    conditions.push(condition(
        "ContainersReady",
        containers_ready,
        cr_reason,
        None,
        &prev_conditions,
        &now,
    ));
    // PodScheduled was set by the binding; keep its time.
    conditions.push(condition(
        "PodScheduled",
        true,
        None,
        None,
        &prev_conditions,
        &now,
    ));

    let pod_ip = if host_network(pod) {
        Some(ctx.host_ip.to_string())
    } else {
        ctx.pod_ip
            .map(str::to_string)
            .or_else(|| current.pod_ip.clone())
    };
    PodStatus {
        phase: Some(
            match phase {
                Phase::Running => "Running",
                Phase::Succeeded => "Succeeded",
                Phase::Failed => "Failed",
            }
            .into(),
        ),
        conditions: Some(conditions),
        host_ip: Some(ctx.host_ip.into()),
        host_ips: Some(vec![HostIP {
            ip: ctx.host_ip.into(),
        }]),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        start_time: current.start_time.clone().or(Some(now)),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(main_statuses),
        ..current
    }
}

/// True when `desired` differs from the pod's status in a field the kubelet owns.
pub fn status_differs(current: Option<&PodStatus>, desired: &PodStatus) -> bool {
    let Some(c) = current else { return true };
    c.phase != desired.phase
        || c.conditions != desired.conditions
        || c.host_ip != desired.host_ip
        || c.host_ips != desired.host_ips
        || c.pod_ip != desired.pod_ip
        || c.pod_ips != desired.pod_ips
        || c.start_time != desired.start_time
        || c.container_statuses != desired.container_statuses
        || c.init_container_statuses != desired.init_container_statuses
}

/// A strategic merge patch of pods/status that sets the kubelet-owned fields of `desired`,
/// keeps everyone else's conditions and puts the conditions in the kubelet's order. The UID
/// in the patch makes it fail if the name now belongs to another pod.
pub fn status_patch(pod: &Pod, desired: &PodStatus) -> Value {
    let order: Vec<Value> = desired
        .conditions
        .iter()
        .flatten()
        .map(|c| json!({"type": c.type_}))
        .collect();
    let mut status = json!({
        "$setElementOrder/conditions": order,
        "phase": desired.phase,
        "conditions": desired.conditions,
        "hostIP": desired.host_ip,
        "hostIPs": desired.host_ips,
        "podIP": desired.pod_ip,
        "podIPs": desired.pod_ips,
        "startTime": desired.start_time,
        "containerStatuses": desired.container_statuses,
    });
    if desired.init_container_statuses.is_some() {
        status["initContainerStatuses"] = json!(desired.init_container_statuses);
    }
    json!({"metadata": {"uid": pod.metadata.uid}, "status": status})
}

/// A hash of a patch without its times: two writes that differ only in timestamps are the
/// same. A hash rather than the stripped value, because one is kept per pod (at 10,000 pods
/// the values were tens of MB).
pub fn fingerprint(patch: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "startTime",
                    "startedAt",
                    "finishedAt",
                    "lastTransitionTime",
                    "lastProbeTime",
                ] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = patch.clone();
    strip(&mut v);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // Serialization is deterministic for equal values built the same way; a difference in
    // key order only costs a redundant write.
    serde_json::to_vec(&v).unwrap_or_default().hash(&mut h);
    h.finish()
}

fn current_phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// True once the node has reported the pod started (its containers have statuses).
fn started(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| {
        s.start_time.is_some() && s.container_statuses.as_ref().is_some_and(|c| !c.is_empty())
    })
}

fn write(
    pod: &Pod,
    desired: &PodStatus,
    transition: Transition,
    recheck: Option<Duration>,
) -> PodAction {
    if status_differs(pod.status.as_ref(), desired) {
        PodAction::WriteStatus {
            patch: status_patch(pod, desired),
            transition,
            recheck,
        }
    } else {
        recheck.map_or(PodAction::Nothing, PodAction::Wait)
    }
}

/// The next step for a pod bound to this node.
pub fn next_action(pod: &Pod, ctx: &PodContext<'_>) -> PodAction {
    let phase = current_phase(pod);
    let terminal = matches!(phase, Some("Succeeded" | "Failed"));

    if pod.metadata.deletion_timestamp.is_some() {
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(0)
            .max(0) as u64;
        let delay = ctx.shutdown_delay.min(Duration::from_secs(grace));
        let since = ctx.since_deletion_seen.unwrap_or_default();
        if since < delay {
            return PodAction::Wait(delay - since);
        }
        // Containers that ran stop on SIGTERM with exit 0: the pod ends Succeeded, as the
        // kubelet reports a terminal phase before confirming the deletion.
        let final_status = (started(pod) && !terminal).then(|| {
            let desired = desired_status(pod, ctx, Phase::Succeeded, 0);
            status_patch(pod, &desired)
        });
        return PodAction::Delete { final_status };
    }
    if terminal {
        return PodAction::Nothing;
    }
    let forced = annotation(pod, ANNOTATION_SIMULATE_PHASE);
    if !started(pod) {
        if forced == Some("Pending") {
            return PodAction::Nothing;
        }
        if ctx.since_seen < ctx.start_delay {
            return PodAction::Wait(ctx.start_delay - ctx.since_seen);
        }
        if ctx.pod_ip.is_none() && !host_network(pod) {
            return PodAction::NoAddress;
        }
    }
    match forced {
        Some("Failed") => {
            return write(
                pod,
                &desired_status(pod, ctx, Phase::Failed, 1),
                Transition::Completed,
                None,
            )
        }
        Some("Succeeded") => {
            return write(
                pod,
                &desired_status(pod, ctx, Phase::Succeeded, 0),
                Transition::Completed,
                None,
            )
        }
        _ => {}
    }
    let transition = if started(pod) {
        Transition::Update
    } else {
        Transition::Started
    };
    let exit_after = annotation(pod, ANNOTATION_EXIT_AFTER)
        .and_then(parse_duration)
        .filter(|_| restart_policy(pod) != "Always");
    if let Some(after) = exit_after {
        let started_at = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
            .unwrap_or(ctx.now);
        let elapsed = ctx.now.duration_since(started_at).unsigned_abs();
        if started(pod) && elapsed >= after {
            let code = annotation(pod, ANNOTATION_EXIT_CODE)
                .and_then(|c| c.trim().parse::<i32>().ok())
                .unwrap_or(0);
            let phase = if code == 0 {
                Phase::Succeeded
            } else {
                Phase::Failed
            };
            return write(
                pod,
                &desired_status(pod, ctx, phase, code),
                Transition::Completed,
                None,
            );
        }
        let remaining = after
            .saturating_sub(elapsed)
            .max(Duration::from_millis(100));
        return write(
            pod,
            &desired_status(pod, ctx, Phase::Running, 0),
            transition,
            Some(remaining),
        );
    }
    write(
        pod,
        &desired_status(pod, ctx, Phase::Running, 0),
        transition,
        None,
    )
}

#[cfg(test)]
mod tests;
