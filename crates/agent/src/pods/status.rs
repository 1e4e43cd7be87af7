//! Pod status as the kubelet computes it, as a pure function: the pod, what the runtime knows
//! about its containers and what the pod worker tracks (waiting reasons, probe results) in;
//! the PodStatus to report, out. No I/O here.

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{
    Container, ContainerState as KContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use minato_runtime::{ContainerRecord, ContainerState};

/// Condition types the kubelet owns (others, e.g. PodScheduled, are kept as they are).
pub const KUBELET_CONDITIONS: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
];

/// What the worker knows about one container beyond the runtime's records.
#[derive(Clone, Debug, Default)]
pub struct ContainerTrack {
    /// Why the container is not running now (ContainerCreating, CrashLoopBackOff, ErrImagePull …).
    pub waiting: Option<(String, String)>,
    /// The readiness probe's verdict for the current container (true when it has none).
    pub ready: bool,
    /// The startup probe passed (true when it has none).
    pub started: bool,
}

/// The runtime's records of one container: the newest attempt, and the one before it.
#[derive(Clone, Debug, Default)]
pub struct Attempts {
    pub current: Option<ContainerRecord>,
    pub previous: Option<ContainerRecord>,
}

/// Everything [`pod_status`] needs besides the pod.
pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    pub host_ip: &'a str,
    pub pod_ip: Option<String>,
    pub sandbox_ready: bool,
    pub attempts: &'a BTreeMap<String, Attempts>,
    pub tracks: &'a BTreeMap<String, ContainerTrack>,
    pub image_ids: &'a BTreeMap<String, String>,
    /// Set when the pod reached a terminal phase for a reason of its own (e.g. evicted).
    pub terminal: Option<(String, String, String)>,
    pub now: Timestamp,
}

pub fn to_time(t: SystemTime) -> Time {
    let ts = Timestamp::try_from(t).unwrap_or_else(|_| Timestamp::now());
    Time(Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

fn secs(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The ID the status reports for a runtime container.
pub fn container_id(id: &str) -> String {
    format!("minato://{id}")
}

fn terminated_state(r: &ContainerRecord, message: Option<String>) -> Option<KContainerState> {
    match &r.state {
        ContainerState::Exited {
            exit_code,
            signal,
            started_at,
            finished_at,
            oom_killed,
        } => {
            let reason = if *oom_killed {
                "OOMKilled"
            } else if *exit_code == 0 {
                "Completed"
            } else {
                "Error"
            };
            Some(KContainerState {
                terminated: Some(ContainerStateTerminated {
                    container_id: Some(container_id(&r.id)),
                    exit_code: *exit_code,
                    signal: *signal,
                    reason: Some(reason.into()),
                    message,
                    started_at: started_at.map(to_time),
                    finished_at: Some(to_time(*finished_at)),
                }),
                ..Default::default()
            })
        }
        _ => None,
    }
}

/// Whether a container that exited with `code` runs again under the pod's restart policy.
pub fn will_restart(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// Exit code of a record that has exited.
pub fn exit_code(r: &ContainerRecord) -> Option<i32> {
    match r.state {
        ContainerState::Exited { exit_code, .. } => Some(exit_code),
        _ => None,
    }
}

fn is_running(r: &ContainerRecord) -> bool {
    matches!(
        r.state,
        ContainerState::Running { .. } | ContainerState::Created
    )
}

/// Whether an init container has finished successfully.
pub fn init_done(a: Option<&Attempts>) -> bool {
    a.and_then(|a| a.current.as_ref())
        .and_then(exit_code)
        .is_some_and(|c| c == 0)
}

/// A sidecar: an init container with restartPolicy Always (runs alongside the app containers).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn container_status(
    c: &Container,
    attempts: Option<&Attempts>,
    track: Option<&ContainerTrack>,
    image_id: Option<&String>,
    default_waiting: (&str, Option<&str>),
    termination_message: impl Fn(&ContainerRecord) -> Option<String>,
) -> ContainerStatus {
    let current = attempts.and_then(|a| a.current.as_ref());
    let previous = attempts.and_then(|a| a.previous.as_ref());
    let restart_count = current.map(|r| r.attempt as i32).unwrap_or(0);
    let track = track.cloned().unwrap_or_default();
    let (state, ready, started) = match current {
        Some(r) if is_running(r) => {
            let started_at = match r.state {
                ContainerState::Running { started_at, .. } => Some(to_time(started_at)),
                _ => None,
            };
            (
                KContainerState {
                    running: Some(ContainerStateRunning { started_at }),
                    ..Default::default()
                },
                track.ready && track.started,
                track.started,
            )
        }
        Some(r) => match &track.waiting {
            // Exited and waiting to restart (back-off): Waiting now, the exit as lastState.
            Some((reason, message)) => (
                KContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.clone()),
                        message: Some(message.clone()).filter(|m| !m.is_empty()),
                    }),
                    ..Default::default()
                },
                false,
                false,
            ),
            None => (
                terminated_state(r, termination_message(r)).unwrap_or_default(),
                false,
                false,
            ),
        },
        None => {
            let (reason, message) = match &track.waiting {
                Some((r, m)) => (r.clone(), Some(m.clone()).filter(|m| !m.is_empty())),
                None => (
                    default_waiting.0.to_string(),
                    default_waiting.1.map(str::to_string),
                ),
            };
            (
                KContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason),
                        message,
                    }),
                    ..Default::default()
                },
                false,
                false,
            )
        }
    };
    // lastState: the previous attempt, or the current one when it exited and we wait to restart.
    let last = match current {
        Some(r) if !is_running(r) && track.waiting.is_some() => Some(r),
        _ => previous,
    };
    let last_state = last
        .and_then(|r| terminated_state(r, termination_message(r)))
        .unwrap_or_default();
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: image_id.cloned().unwrap_or_default(),
        container_id: current.map(|r| container_id(&r.id)),
        ready,
        started: Some(started),
        restart_count,
        state: Some(state),
        last_state: Some(last_state),
        ..Default::default()
    }
}

fn condition(
    previous: &[PodCondition],
    type_: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
    now: &Time,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = match previous.iter().find(|c| c.type_ == type_) {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(now.clone()),
    };
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: if ok { None } else { reason },
        message: if ok { None } else { message },
        last_transition_time,
        last_probe_time: None,
        observed_generation: None,
    }
}

/// The pod's status now. `termination_message` reads a container's termination-log file.
pub fn pod_status(
    input: &StatusInput<'_>,
    termination_message: impl Fn(&ContainerRecord) -> Option<String> + Copy,
) -> PodStatus {
    let pod = input.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.clone().unwrap_or_default();
    let previous_conditions = old.conditions.clone().unwrap_or_default();
    let now = secs(input.now);
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let init_containers = spec.init_containers.clone().unwrap_or_default();

    // Init containers, in order: the first that is not done holds the pod in initialization.
    let mut pending_init: Vec<String> = Vec::new();
    let mut init_failed = false;
    for c in &init_containers {
        let a = input.attempts.get(&c.name);
        if is_sidecar(c) {
            let running = a.and_then(|a| a.current.as_ref()).is_some_and(is_running);
            let started = input.tracks.get(&c.name).is_some_and(|t| t.started);
            if !(running && started) {
                pending_init.push(c.name.clone());
            }
            continue;
        }
        if !init_done(a) {
            pending_init.push(c.name.clone());
            if let Some(code) = a.and_then(|a| a.current.as_ref()).and_then(exit_code) {
                if code != 0 && policy == "Never" {
                    init_failed = true;
                }
            }
        }
    }
    let initialized = pending_init.is_empty();

    let mut init_statuses = Vec::new();
    for c in &init_containers {
        let default_waiting = ("PodInitializing", None);
        init_statuses.push(container_status(
            c,
            input.attempts.get(&c.name),
            input.tracks.get(&c.name),
            input.image_ids.get(&c.name),
            default_waiting,
            termination_message,
        ));
    }
    let app_waiting = if initialized {
        ("ContainerCreating", None)
    } else {
        ("PodInitializing", None)
    };
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                c,
                input.attempts.get(&c.name),
                input.tracks.get(&c.name),
                input.image_ids.get(&c.name),
                app_waiting,
                termination_message,
            )
        })
        .collect();

    // Phase (kubelet's getPhase).
    let mut running = 0;
    let mut waiting = 0;
    let mut stopped = 0;
    let mut succeeded = 0;
    for c in &spec.containers {
        let a = input.attempts.get(&c.name);
        match a.and_then(|a| a.current.as_ref()) {
            Some(r) if is_running(r) => running += 1,
            Some(r) => {
                let code = exit_code(r).unwrap_or(0);
                if will_restart(policy, code) {
                    waiting += 1;
                } else {
                    stopped += 1;
                    if code == 0 {
                        succeeded += 1;
                    }
                }
            }
            None => waiting += 1,
        }
    }
    let phase = if let Some((phase, _, _)) = &input.terminal {
        phase.clone()
    } else if init_failed {
        "Failed".to_string()
    } else if !initialized || (waiting > 0 && running == 0 && stopped == 0) {
        "Pending".to_string()
    } else if running > 0 || waiting > 0 {
        "Running".to_string()
    } else if stopped > 0 && succeeded == stopped {
        "Succeeded".to_string()
    } else if stopped > 0 {
        "Failed".to_string()
    } else {
        "Pending".to_string()
    };
    let terminal_phase = phase == "Succeeded" || phase == "Failed";

    let unready: Vec<String> = statuses
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.clone())
        .collect();
    let containers_ready = unready.is_empty() && initialized;
    let (cr_reason, cr_message) = if !initialized {
        (
            "ContainersNotInitialized",
            format!(
                "containers with incomplete status: [{}]",
                pending_init.join(" ")
            ),
        )
    } else {
        (
            "ContainersNotReady",
            format!("containers with unready status: [{}]", unready.join(" ")),
        )
    };
    let cr_reason = if terminal_phase {
        "PodCompleted"
    } else {
        cr_reason
    };
    // Readiness gates: each named condition must be True (set by someone else).
    let gates_unready: Vec<String> = spec
        .readiness_gates
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| {
            !previous_conditions
                .iter()
                .any(|c| c.type_ == g.condition_type && c.status == "True")
        })
        .map(|g| g.condition_type)
        .collect();
    let ready = containers_ready && gates_unready.is_empty() && !terminal_phase;
    let ready_message = if containers_ready && !gates_unready.is_empty() {
        format!(
            "corresponding condition of pod readiness gate \"{}\" does not exist.",
            gates_unready.join(", ")
        )
    } else {
        cr_message.clone()
    };
    let ready_reason = if containers_ready && !gates_unready.is_empty() {
        "ReadinessGatesNotReady"
    } else {
        cr_reason
    };

    let mut conditions: Vec<PodCondition> = vec![
        condition(
            &previous_conditions,
            "PodReadyToStartContainers",
            input.sandbox_ready,
            None,
            None,
            &now,
        ),
        condition(
            &previous_conditions,
            "Initialized",
            initialized,
            Some(
                if terminal_phase && !initialized {
                    "PodCompleted"
                } else {
                    "ContainersNotInitialized"
                }
                .into(),
            ),
            Some(format!(
                "containers with incomplete status: [{}]",
                pending_init.join(" ")
            )),
            &now,
        ),
        condition(
            &previous_conditions,
            "Ready",
            ready,
            Some(ready_reason.into()),
            Some(ready_message),
            &now,
        ),
        condition(
            &previous_conditions,
            "ContainersReady",
            containers_ready && !terminal_phase,
            Some(cr_reason.into()),
            Some(cr_message),
            &now,
        ),
    ];
    for c in previous_conditions {
        if !KUBELET_CONDITIONS.contains(&c.type_.as_str()) {
            conditions.push(c);
        }
    }

    let (pod_ip, pod_ips) = match &input.pod_ip {
        Some(ip) => (Some(ip.clone()), Some(vec![PodIP { ip: ip.clone() }])),
        None => (None, None),
    };
    let qos = crate::pods::resources::qos_class(&spec);
    PodStatus {
        phase: Some(phase),
        conditions: Some(conditions),
        host_ip: Some(input.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: input.host_ip.to_string(),
        }]),
        pod_ip,
        pod_ips,
        start_time: old.start_time.or_else(|| Some(now.clone())),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        qos_class: Some(qos.to_string()),
        reason: input.terminal.as_ref().map(|t| t.1.clone()),
        message: input.terminal.as_ref().map(|t| t.2.clone()),
        nominated_node_name: old.nominated_node_name,
        ..Default::default()
    }
}
