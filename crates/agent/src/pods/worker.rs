//! One pod's worker: the kubelet's syncPod loop for a single pod. It owns the pod's sandbox,
//! volumes and containers on this node, starts what should run (init containers in order, then
//! the app containers), restarts what exited per the restart policy with back-off, acts on
//! probe verdicts, reports status, and on deletion stops everything gracefully and confirms
//! the deletion to the API server.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use minato_controllers::events::EventType;
use minato_runtime::{
    ContainerRecord, ContainerSpec, ContainerState, Mount, MountKind, Namespaces,
};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use crate::pods::env::{self, EnvContext};
use crate::pods::probes::{self, Kind, Outcome, Verdicts};
use crate::pods::status::{self, Attempts, ContainerTrack, StatusInput};
use crate::pods::{hooks, pid_namespace, resources, sysctls, volumes, ExecFn};
use crate::Ctx;

const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
const VOLUME_REFRESH: Duration = Duration::from_secs(30);
const RETRY: Duration = Duration::from_secs(2);
const SIGTERM: i32 = nix::sys::signal::Signal::SIGTERM as i32;
const SIGKILL: i32 = nix::sys::signal::Signal::SIGKILL as i32;

/// Upstream's flowcontrol.Backoff for one key: starts at 10 s, doubles to 5 min, forgets after
/// twice the maximum without a failure.
#[derive(Clone, Debug, Default)]
struct Backoff {
    delay: Option<Duration>,
    last: Option<Instant>,
}

impl Backoff {
    fn in_backoff_since(&self, event: Instant, now: Instant) -> bool {
        match self.delay {
            Some(d) => now.saturating_duration_since(event) < d,
            None => false,
        }
    }
    fn next(&mut self, now: Instant) {
        let expired = self
            .last
            .is_none_or(|l| now.saturating_duration_since(l) > BACKOFF_MAX * 2);
        self.delay = Some(match (self.delay, expired) {
            (Some(d), false) => (d * 2).min(BACKOFF_MAX),
            _ => BACKOFF_INITIAL,
        });
        self.last = Some(now);
    }
}

#[derive(Default)]
struct Track {
    status: ContainerTrack,
    crash: Backoff,
    image: Backoff,
    image_failed_at: Option<Instant>,
    /// The last pull error, repeated in the ImagePullBackOff message (as kubelets since 1.30).
    image_error: String,
    probes: Option<ProbeHandle>,
}

struct ProbeHandle {
    container_id: String,
    verdicts: Arc<Mutex<Verdicts>>,
    stop: Arc<Notify>,
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.stop.notify_waiters();
        self.stop.notify_one();
    }
}

pub struct Worker {
    ctx: Arc<Ctx>,
    uid: String,
    pod: Arc<Pod>,
    rx: watch::Receiver<Option<Arc<Pod>>>,
    sandbox: Option<minato_podnet::Sandbox>,
    /// The shared PID namespace's path (`shareProcessNamespace`), set by `ensure_sandbox`.
    pid_namespace: Option<PathBuf>,
    volumes: BTreeMap<String, volumes::HostVolume>,
    volumes_at: Option<Instant>,
    tracks: BTreeMap<String, Track>,
    image_ids: BTreeMap<String, String>,
    last_status: Option<Value>,
    wake: Arc<Notify>,
    /// The pod reached a terminal phase: nothing is started any more.
    finished: bool,
    last_grace: Option<i64>,
    /// The pod cgroup exists with its limits (set once: pod resources are immutable).
    cgroup_ready: bool,
    /// Phase, reason and message of a pod the node ended itself (eviction, rejection).
    terminal: Option<(String, String, String)>,
    /// The pod passed the node's admission checks (sysctls).
    admitted: bool,
}

fn container_ref(pod: &Pod, name: &str, init: bool) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: Some(if init {
            format!("spec.initContainers{{{name}}}")
        } else {
            format!("spec.containers{{{name}}}")
        }),
    }
}

fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The start of every runtime ID of a pod's containers.
pub fn id_prefix(uid: &str) -> String {
    let short: String = uid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect();
    format!("{short}-")
}

/// The runtime ID of a container attempt: readable, unique per pod/name/attempt, ≤ 64 chars.
pub fn runtime_id(uid: &str, name: &str, attempt: u32) -> String {
    let mut n: String = name.chars().take(40).collect();
    n.make_ascii_lowercase();
    format!("{}{n}-{attempt}", id_prefix(uid))
}

impl Worker {
    pub fn new(
        ctx: Arc<Ctx>,
        uid: String,
        rx: watch::Receiver<Option<Arc<Pod>>>,
    ) -> Option<Worker> {
        let pod = rx.borrow().clone()?;
        Some(Worker {
            ctx,
            uid,
            pod,
            rx,
            sandbox: None,
            pid_namespace: None,
            volumes: BTreeMap::new(),
            volumes_at: None,
            tracks: BTreeMap::new(),
            image_ids: BTreeMap::new(),
            last_status: None,
            wake: Arc::new(Notify::new()),
            finished: false,
            last_grace: None,
            cgroup_ready: false,
            terminal: None,
            admitted: false,
        })
    }

    fn name(&self) -> String {
        format!(
            "{}/{}",
            self.pod.metadata.namespace.as_deref().unwrap_or(""),
            self.pod.metadata.name.as_deref().unwrap_or("")
        )
    }

    fn pod_dir(&self) -> PathBuf {
        self.ctx.pod_dir(&self.uid)
    }

    fn event(&self, obj: ObjectReference, t: EventType, reason: &str, message: impl Into<String>) {
        self.ctx.events.record_ref(obj, t, reason, message);
    }

    fn spec(&self) -> k8s_openapi::api::core::v1::PodSpec {
        self.pod.spec.clone().unwrap_or_default()
    }

    /// Runs until the pod is gone from this node.
    pub async fn run(mut self) {
        loop {
            let current = self.rx.borrow_and_update().clone();
            match current {
                None => {
                    // Deleted from the API without our confirmation (force deletion).
                    let grace = self.last_grace.unwrap_or(2).min(2);
                    self.stop_all(grace).await;
                    self.cleanup().await;
                    self.ctx.forget(&self.uid);
                    return;
                }
                Some(p) => self.pod = p,
            }
            self.last_grace = self
                .pod
                .metadata
                .deletion_grace_period_seconds
                .or(self.spec().termination_grace_period_seconds);
            if self.pod.metadata.deletion_timestamp.is_some() {
                self.terminate().await;
                self.ctx.forget(&self.uid);
                return;
            }
            let next = match self.sync().await {
                Ok(d) => d,
                Err(e) => {
                    warn!(pod = %self.name(), error = %e, "sync failed");
                    RETRY
                }
            };
            let wake = self.wake.clone();
            tokio::select! {
                r = self.rx.changed() => {
                    if r.is_err() {
                        // The manager is gone (agent shutting down): leave containers running.
                        return;
                    }
                }
                _ = wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
            }
        }
    }

    fn attempts(&self) -> Result<BTreeMap<String, Attempts>, String> {
        // Runtime ids start with the pod's uid prefix: read only this pod's records.
        let records = self
            .ctx
            .runtime
            .containers_with_prefix(&id_prefix(&self.uid))
            .map_err(|e| e.to_string())?;
        Ok(group_attempts(
            records.into_iter().filter(|r| r.pod_uid == self.uid),
        ))
    }

    /// The pod's namespaces: network, IPC and UTS (the podnet sandbox), and the shared PID
    /// namespace when the pod asks for one.
    async fn ensure_sandbox(&mut self) -> Result<(), String> {
        self.ensure_podnet_sandbox().await?;
        self.pid_namespace = if pid_namespace::wanted(&self.spec()) {
            Some(pid_namespace::ensure(&self.ctx.runtime, &self.pod_dir()).await?)
        } else {
            None
        };
        Ok(())
    }

    async fn ensure_podnet_sandbox(&mut self) -> Result<(), String> {
        if self.sandbox.is_some() {
            return Ok(());
        }
        let existing = self
            .ctx
            .network
            .sandboxes()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| s.pod_uid == self.uid);
        if let Some(s) = existing {
            if s.is_live() {
                self.sandbox = Some(s);
                return Ok(());
            }
            // After a reboot the record outlives its namespaces: make it anew.
            let _ = self.ctx.network.remove_sandbox(&self.uid).await;
        }
        let spec = self.spec();
        let sandbox_spec = crate::pods::sandbox_spec(&self.ctx, &self.pod, &spec).await;
        let t0 = Instant::now();
        let s = self
            .ctx
            .network
            .create_sandbox(&sandbox_spec)
            .await
            .map_err(|e| e.to_string())?;
        info!(pod = %self.name(), ip = ?s.ip, took_ms = t0.elapsed().as_millis() as u64, "sandbox created");
        self.sandbox = Some(s);
        Ok(())
    }

    fn pod_ip(&self) -> Option<String> {
        if self.spec().host_network == Some(true) {
            return Some(self.ctx.config.node_ip.to_string());
        }
        self.sandbox
            .as_ref()
            .and_then(|s| s.ip)
            .map(|ip| ip.to_string())
    }

    async fn ensure_volumes(&mut self) -> Result<(), volumes::MountError> {
        let fresh = self
            .volumes_at
            .is_some_and(|t| t.elapsed() < VOLUME_REFRESH);
        if fresh {
            return Ok(());
        }
        let pod_dir = self.pod_dir();
        let pod_ip = self.pod_ip();
        let host_ip = self.ctx.config.node_ip.to_string();
        let ctx = volumes::VolumeContext {
            client: &self.ctx.client,
            pod_dir: &pod_dir,
            pod_ip: pod_ip.as_deref(),
            host_ip: &host_ip,
            node_cpu_milli: self.ctx.host.cpus as i64 * 1000,
            node_memory: self.ctx.host.memory_bytes as i64,
        };
        for v in self.spec().volumes.iter().flatten() {
            let first = !self.volumes.contains_key(&v.name);
            if !first && !self.volumes[&v.name].refreshable {
                continue;
            }
            match volumes::setup(&self.pod, v, &ctx).await {
                Ok(hv) => {
                    self.volumes.insert(v.name.clone(), hv);
                }
                Err(e) if first => return Err(e),
                Err(e) => debug!(pod = %self.name(), error = %e, "volume refresh failed"),
            }
        }
        self.volumes_at = Some(Instant::now());
        Ok(())
    }

    /// One pass of the pod's sync; returns how soon to look again.
    async fn sync(&mut self) -> Result<Duration, String> {
        let mut attempts = self.attempts()?;
        let spec = self.spec();
        let mut next = Duration::from_secs(1);
        if !self.finished {
            let phase = self
                .pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                self.finished = true;
            }
        }
        if !self.finished {
            if let Some(message) = self.ctx.eviction(&self.uid) {
                self.evict(message).await;
                let attempts = self.attempts()?;
                self.report(&attempts, false).await;
                return Ok(Duration::from_secs(10));
            }
            if !self.admitted {
                if let Err(message) = sysctls::admit(&spec, &self.ctx.config.allowed_unsafe_sysctls)
                {
                    // As the kubelet rejects a pod: a Warning event and phase Failed.
                    self.event(
                        pod_ref(&self.pod),
                        EventType::Warning,
                        sysctls::FORBIDDEN_REASON,
                        message.clone(),
                    );
                    self.finished = true;
                    self.terminal = Some((
                        "Failed".into(),
                        sysctls::FORBIDDEN_REASON.into(),
                        format!("Pod was rejected: {message}"),
                    ));
                    self.report(&attempts, false).await;
                    return Ok(Duration::from_secs(10));
                }
                self.admitted = true;
            }
            if let Err(e) = self.ensure_sandbox().await {
                self.event(
                    pod_ref(&self.pod),
                    EventType::Warning,
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {e}"),
                );
                self.report(&attempts, false).await;
                return Ok(Duration::from_secs(5));
            }
            let cgroup = resources::pod_cgroup(&self.ctx.config.cgroup_root, &spec, &self.uid);
            if !self.cgroup_ready {
                match self
                    .ctx
                    .runtime
                    .ensure_pod_cgroup(&cgroup, &resources::pod_resources(&spec))
                {
                    Ok(()) => self.cgroup_ready = true,
                    Err(e) => warn!(pod = %self.name(), error = %e, "cannot set up the pod cgroup"),
                }
            }
            if let Err(e) = self.ensure_volumes().await {
                self.event(
                    pod_ref(&self.pod),
                    EventType::Warning,
                    "FailedMount",
                    e.to_string(),
                );
                self.report(&attempts, true).await;
                return Ok(Duration::from_secs(5));
            }
            // Liveness/startup failures: stop the container; the restart logic below runs it again.
            let restarts: Vec<(String, String, String)> = self
                .tracks
                .iter()
                .filter_map(|(name, t)| {
                    let p = t.probes.as_ref()?;
                    let v = p.verdicts.lock().unwrap_or_else(|e| e.into_inner());
                    v.restart
                        .clone()
                        .map(|m| (name.clone(), p.container_id.clone(), m))
                })
                .collect();
            let restarted = !restarts.is_empty();
            for (name, id, message) in restarts {
                if let Some(t) = self.tracks.get_mut(&name) {
                    t.probes = None;
                }
                let init = spec
                    .init_containers
                    .iter()
                    .flatten()
                    .any(|c| c.name == name);
                self.event(
                    container_ref(&self.pod, &name, init),
                    EventType::Normal,
                    "Killing",
                    message,
                );
                let grace = spec.termination_grace_period_seconds.unwrap_or(30);
                self.stop_container(&id, &name, grace).await;
            }
            if restarted {
                attempts = self.attempts()?;
            }
            let wait = self.run_containers(&spec, &attempts).await;
            next = next.min(wait);
            attempts = self.attempts()?;
        }
        // Probe verdicts into the tracks.
        for (name, t) in self.tracks.iter_mut() {
            let running_id = attempts
                .get(name)
                .and_then(|a| a.current.as_ref())
                .filter(|r| matches!(r.state, ContainerState::Running { .. }))
                .map(|r| r.id.clone());
            match (&t.probes, running_id) {
                (Some(p), Some(id)) if p.container_id == id => {
                    let v = p.verdicts.lock().unwrap_or_else(|e| e.into_inner());
                    t.status.ready = v.ready;
                    t.status.started = v.started;
                }
                (_, Some(_)) => {}
                _ => {
                    t.probes = None;
                    t.status.ready = false;
                    t.status.started = false;
                }
            }
        }
        self.report(&attempts, true).await;
        let phase = self
            .last_status
            .as_ref()
            .and_then(|s| s["phase"].as_str().map(str::to_string));
        if matches!(phase.as_deref(), Some("Succeeded") | Some("Failed")) && !self.finished {
            self.finished = true;
            self.tracks.values_mut().for_each(|t| t.probes = None);
        }
        Ok(next)
    }

    /// Starts/restarts containers as the spec and restart policy say. Returns how soon to look again.
    async fn run_containers(
        &mut self,
        spec: &k8s_openapi::api::core::v1::PodSpec,
        attempts: &BTreeMap<String, Attempts>,
    ) -> Duration {
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let mut next = Duration::from_secs(1);
        // Init containers, in order.
        for c in spec.init_containers.iter().flatten() {
            let a = attempts.get(&c.name).cloned().unwrap_or_default();
            let sidecar = status::is_sidecar(c);
            match a.current.as_ref().map(|r| &r.state) {
                None => {
                    next = next.min(self.start(c, true, 0, None).await);
                    return next;
                }
                Some(ContainerState::Running { .. }) | Some(ContainerState::Created) => {
                    if sidecar {
                        self.ensure_probes(c, a.current.as_ref());
                        let started = self.tracks.get(&c.name).is_some_and(|t| t.status.started);
                        if started || (c.startup_probe.is_none()) {
                            continue;
                        }
                    }
                    return next;
                }
                Some(ContainerState::Exited { exit_code, .. }) => {
                    if *exit_code == 0 && !sidecar {
                        continue;
                    }
                    let restart = sidecar || policy != "Never";
                    if !restart {
                        return Duration::from_secs(10);
                    }
                    let cur = a.current.clone();
                    let attempt = cur.as_ref().map(|r| r.attempt + 1).unwrap_or(0);
                    next = next.min(self.start(c, true, attempt, cur.as_ref()).await);
                    return next;
                }
            }
        }
        for c in &spec.containers {
            let a = attempts.get(&c.name).cloned().unwrap_or_default();
            match a.current.as_ref().map(|r| &r.state) {
                None => {
                    next = next.min(self.start(c, false, 0, None).await);
                }
                Some(ContainerState::Running { .. }) | Some(ContainerState::Created) => {
                    self.ensure_probes(c, a.current.as_ref());
                }
                Some(ContainerState::Exited { exit_code, .. }) => {
                    if status::will_restart(&policy, *exit_code) {
                        let cur = a.current.clone();
                        let attempt = cur.as_ref().map(|r| r.attempt + 1).unwrap_or(0);
                        next = next.min(self.start(c, false, attempt, cur.as_ref()).await);
                    } else if let Some(t) = self.tracks.get_mut(&c.name) {
                        t.status.waiting = None;
                        t.probes = None;
                    }
                }
            }
        }
        next
    }

    fn exec_fn(&self, id: &str) -> ExecFn {
        crate::pods::exec_fn(self.ctx.runtime.clone(), id.to_string())
    }

    fn ensure_probes(&mut self, c: &Container, record: Option<&ContainerRecord>) {
        let Some(r) = record else { return };
        if !matches!(r.state, ContainerState::Running { .. }) {
            return;
        }
        let t = self.tracks.entry(c.name.clone()).or_default();
        if t.probes.as_ref().is_some_and(|p| p.container_id == r.id) {
            return;
        }
        let has_startup = c.startup_probe.is_some();
        let has_readiness = c.readiness_probe.is_some();
        let verdicts = Arc::new(Mutex::new(Verdicts {
            started: !has_startup,
            ready: !has_readiness,
            restart: None,
        }));
        t.status.started = !has_startup;
        t.status.ready = !has_readiness;
        let stop = Arc::new(Notify::new());
        t.probes = Some(ProbeHandle {
            container_id: r.id.clone(),
            verdicts: verdicts.clone(),
            stop: stop.clone(),
        });
        if c.startup_probe.is_none() && c.liveness_probe.is_none() && c.readiness_probe.is_none() {
            return;
        }
        let Some(ip) = self.pod_ip().and_then(|s| s.parse::<IpAddr>().ok()) else {
            return;
        };
        let target = hooks::target(ip, c, self.exec_fn(&r.id));
        let events = self.ctx.events.clone();
        let obj = container_ref(&self.pod, &c.name, false);
        let report: probes::Report = Arc::new(move |kind: Kind, outcome: &Outcome| {
            if let Outcome::Failure(m) = outcome {
                events.record_ref(
                    obj.clone(),
                    EventType::Warning,
                    "Unhealthy",
                    format!("{} probe failed: {m}", kind.name()),
                );
            }
        });
        tokio::spawn(probes::run(
            c.clone(),
            target,
            verdicts,
            self.wake.clone(),
            report,
            stop,
        ));
    }

    fn waiting(&mut self, name: &str, reason: &str, message: impl Into<String>) {
        self.tracks
            .entry(name.to_string())
            .or_default()
            .status
            .waiting = Some((reason.to_string(), message.into()));
    }

    /// Starts attempt `attempt` of container `c` (after back-off when it crashed before).
    async fn start(
        &mut self,
        c: &Container,
        init: bool,
        attempt: u32,
        previous: Option<&ContainerRecord>,
    ) -> Duration {
        let now = Instant::now();
        let obj = container_ref(&self.pod, &c.name, init);
        let pod_name = self.pod.metadata.name.clone().unwrap_or_default();
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        // Crash back-off, keyed by the container; the event time is when it last exited.
        if let Some(prev) = previous {
            let finished = match prev.state {
                ContainerState::Exited { finished_at, .. } => finished_at,
                _ => SystemTime::now(),
            };
            let since = SystemTime::now()
                .duration_since(finished)
                .unwrap_or_default();
            let event = now.checked_sub(since).unwrap_or(now);
            let t = self.tracks.entry(c.name.clone()).or_default();
            if t.crash.in_backoff_since(event, now) {
                let delay = t.crash.delay.unwrap_or(BACKOFF_INITIAL);
                let msg = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    go_duration(delay),
                    c.name,
                    pod_name,
                    ns,
                    self.uid
                );
                self.waiting(&c.name, "CrashLoopBackOff", msg.clone());
                self.event(
                    obj,
                    EventType::Warning,
                    "BackOff",
                    "Back-off restarting failed container ".to_string()
                        + &c.name
                        + " in pod "
                        + &pod_name
                        + "_"
                        + &ns
                        + "("
                        + &self.uid
                        + ")",
                );
                let remaining = delay.saturating_sub(now.saturating_duration_since(event));
                return remaining.max(Duration::from_millis(100));
            }
            t.crash.next(now);
        }
        // Image.
        let image = match self.ensure_image(c, &obj).await {
            Ok(img) => img,
            Err(wait) => return wait,
        };
        self.image_ids.insert(
            c.name.clone(),
            image
                .repo_digests
                .first()
                .cloned()
                .unwrap_or_else(|| image.id.clone()),
        );
        // Environment and command line.
        let pod_ip = self.pod_ip();
        let host_ip = self.ctx.config.node_ip.to_string();
        let sources = match crate::pods::fetch_sources(&self.ctx.client, &self.pod, c).await {
            Ok(s) => s,
            Err(e) => {
                self.waiting(&c.name, "CreateContainerConfigError", e.clone());
                self.event(obj, EventType::Warning, "Failed", format!("Error: {e}"));
                return Duration::from_secs(5);
            }
        };
        let env_ctx = EnvContext {
            pod: &self.pod,
            pod_ip: pod_ip.as_deref(),
            host_ip: &host_ip,
            node_cpu_milli: self.ctx.host.cpus as i64 * 1000,
            node_memory: self.ctx.host.memory_bytes as i64,
        };
        let mut envs = match env::build_env(c, &env_ctx, &sources) {
            Ok(e) => e,
            Err(e) => {
                self.waiting(&c.name, "CreateContainerConfigError", e.0.clone());
                self.event(obj, EventType::Warning, "Failed", format!("Error: {}", e.0));
                return Duration::from_secs(5);
            }
        };
        let argv = match env::argv(c, &image.config.entrypoint, &image.config.cmd, &envs) {
            Ok(a) => a,
            Err(e) => {
                self.waiting(&c.name, "CreateContainerError", e.0.clone());
                self.event(obj, EventType::Warning, "Failed", format!("Error: {}", e.0));
                return Duration::from_secs(5);
            }
        };
        // Image env first, pod env overrides; HOSTNAME as Docker sets it.
        let mut full_env: Vec<(String, String)> = image
            .config
            .env
            .iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let hostname = crate::pods::pod_hostname(&self.pod);
        full_env.retain(|(k, _)| k != "HOSTNAME");
        full_env.push(("HOSTNAME".into(), hostname));
        for (k, v) in envs.drain(..) {
            full_env.retain(|(n, _)| *n != k);
            full_env.push((k, v));
        }
        let mounts = match self.mounts(c, attempt, &full_env) {
            Ok(m) => m,
            Err(e) => {
                self.waiting(&c.name, "CreateContainerConfigError", e.clone());
                self.event(obj, EventType::Warning, "Failed", format!("Error: {e}"));
                return Duration::from_secs(5);
            }
        };
        let layers = match self.ctx.images.layers(&image) {
            Ok(l) => l,
            Err(e) => {
                self.waiting(&c.name, "CreateContainerError", e.to_string());
                return Duration::from_secs(5);
            }
        };
        let spec = self.spec();
        let id = runtime_id(&self.uid, &c.name, attempt);
        let sc = c.security_context.clone().unwrap_or_default();
        let psc = spec.security_context.clone().unwrap_or_default();
        let uid = sc
            .run_as_user
            .or(psc.run_as_user)
            .or_else(|| numeric_user(image.config.user.as_deref()).map(|u| u.0));
        let gid = sc
            .run_as_group
            .or(psc.run_as_group)
            .or_else(|| numeric_user(image.config.user.as_deref()).and_then(|u| u.1));
        let mut groups: Vec<u32> = psc
            .supplemental_groups
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g as u32)
            .collect();
        if let Some(fs) = psc.fs_group {
            groups.push(fs as u32);
        }
        let user = uid.map(|u| minato_runtime::User {
            uid: u as u32,
            gid: gid.unwrap_or(0) as u32,
            additional_gids: groups.clone(),
        });
        let caps = sc.capabilities.clone().unwrap_or_default();
        let cgroup_parent = resources::pod_cgroup(&self.ctx.config.cgroup_root, &spec, &self.uid);
        let sandbox = self.sandbox.clone();
        let host_network = spec.host_network == Some(true);
        let namespaces = Namespaces {
            network: if host_network {
                None
            } else {
                sandbox.as_ref().and_then(|s| s.netns.clone())
            },
            ipc: sandbox.as_ref().map(|s| s.ipc_ns.clone()),
            uts: sandbox.as_ref().and_then(|s| s.uts_ns.clone()),
            pid: self.pid_namespace.clone(),
            host_network,
            host_ipc: spec.host_ipc == Some(true),
            host_pid: spec.host_pid == Some(true),
        };
        let log_path = self.ctx.log_path(&self.pod, &c.name, attempt);
        if let Some(parent) = log_path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let labels = BTreeMap::from([
            ("io.kubernetes.pod.name".to_string(), pod_name.clone()),
            ("io.kubernetes.pod.namespace".to_string(), ns.clone()),
            ("io.kubernetes.pod.uid".to_string(), self.uid.clone()),
            ("io.kubernetes.container.name".to_string(), c.name.clone()),
        ]);
        let cspec = ContainerSpec {
            id: id.clone(),
            pod_uid: self.uid.clone(),
            container_name: c.name.clone(),
            attempt,
            image: c.image.clone().unwrap_or_default(),
            image_id: image.id.clone(),
            labels,
            layers,
            args: argv,
            env: full_env,
            cwd: c
                .working_dir
                .clone()
                .or(image.config.working_dir.clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user,
            tty: c.tty == Some(true),
            stdin: c.stdin == Some(true),
            stdin_once: c.stdin_once == Some(true),
            hostname: None,
            namespaces,
            mounts,
            resources: resources::container_resources(c),
            cgroup_path: format!("{cgroup_parent}/{id}"),
            log_path,
            privileged: sc.privileged == Some(true),
            capabilities_add: caps.add.unwrap_or_default(),
            capabilities_drop: caps.drop.unwrap_or_default(),
            readonly_rootfs: sc.read_only_root_filesystem == Some(true),
            seccomp: seccomp_of(
                sc.seccomp_profile.as_ref().or(psc.seccomp_profile.as_ref()),
                &self.ctx.config.data_dir,
            ),
            sysctls: sysctls::for_runtime(&spec),
            stop_signal: image.config.stop_signal.as_deref().and_then(|s| {
                let sig = parse_signal(s);
                if sig.is_none() {
                    warn!(image = %image.id, signal = s, "unknown STOPSIGNAL in the image; SIGTERM stops it");
                }
                sig
            }),
        };
        // An earlier record with this id (a failed create) must go first.
        if let Ok(Some(old)) = self.ctx.runtime.container(&id) {
            if !matches!(old.state, ContainerState::Running { .. }) {
                let _ = self.ctx.runtime.remove_container(&id).await;
            }
        }
        let t0 = Instant::now();
        let created = self.ctx.runtime.create_container(cspec).await;
        debug!(pod = %self.name(), container = %c.name, took_ms = t0.elapsed().as_millis() as u64, ok = created.is_ok(), "container create + start");
        match created {
            Ok(record) => {
                self.event(
                    obj.clone(),
                    EventType::Normal,
                    "Created",
                    format!("Created container: {}", c.name),
                );
                self.event(
                    obj.clone(),
                    EventType::Normal,
                    "Started",
                    format!("Started container {}", c.name),
                );
                if let Some(t) = self.tracks.get_mut(&c.name) {
                    t.status.waiting = None;
                }
                // Keep only the previous attempt (for `logs --previous`).
                self.prune_attempts(&c.name, attempt).await;
                if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
                    if let Some(ip) = self.pod_ip().and_then(|s| s.parse::<IpAddr>().ok()) {
                        let target = hooks::target(ip, c, self.exec_fn(&record.id));
                        if let Err(m) = hooks::run(h, &target, Duration::from_secs(30)).await {
                            self.event(obj.clone(), EventType::Warning, "FailedPostStartHook", m);
                            let grace = spec.termination_grace_period_seconds.unwrap_or(30);
                            self.stop_container(&record.id, &c.name, grace).await;
                        }
                    }
                }
                self.ensure_probes(c, Some(&record));
                Duration::from_millis(500)
            }
            Err(e) => {
                let msg = e.to_string();
                self.waiting(&c.name, "CreateContainerError", msg.clone());
                self.event(obj, EventType::Warning, "Failed", format!("Error: {msg}"));
                Duration::from_secs(5)
            }
        }
    }

    async fn prune_attempts(&self, name: &str, current: u32) {
        let Ok(records) = self
            .ctx
            .runtime
            .containers_with_prefix(&id_prefix(&self.uid))
        else {
            return;
        };
        for r in records {
            if r.pod_uid == self.uid
                && r.container_name == name
                && r.attempt + 1 < current
                && !matches!(r.state, ContainerState::Running { .. })
            {
                let _ = self.ctx.runtime.remove_container(&r.id).await;
                let _ = std::fs::remove_file(&r.log_path);
            }
        }
    }

    /// Pulls (or finds) the container's image per its pull policy, with the kubelet's events
    /// and ErrImagePull → ImagePullBackOff back-off. Err: how long to wait.
    async fn ensure_image(
        &mut self,
        c: &Container,
        obj: &ObjectReference,
    ) -> Result<minato_images::Image, Duration> {
        let image = c.image.clone().unwrap_or_default();
        let policy = c.image_pull_policy.clone().unwrap_or_else(|| {
            if image.ends_with(":latest") || !image.rsplit('/').next().unwrap_or("").contains(':') {
                "Always".into()
            } else {
                "IfNotPresent".into()
            }
        });
        let present = self.ctx.images.get(&image).ok().flatten();
        match (policy.as_str(), present) {
            ("Never", Some(img)) | ("IfNotPresent", Some(img)) => {
                self.event(
                    obj.clone(),
                    EventType::Normal,
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                );
                return Ok(img);
            }
            ("Never", None) => {
                let msg =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.waiting(&c.name, "ErrImageNeverPull", msg.clone());
                self.event(obj.clone(), EventType::Warning, "ErrImageNeverPull", msg);
                return Err(Duration::from_secs(10));
            }
            _ => {}
        }
        let now = Instant::now();
        {
            let t = self.tracks.entry(c.name.clone()).or_default();
            if let Some(failed) = t.image_failed_at {
                if t.image.in_backoff_since(failed, now) {
                    let msg = format!("Back-off pulling image \"{image}\"");
                    t.status.waiting = Some((
                        "ImagePullBackOff".into(),
                        format!("{msg}: ErrImagePull: {}", t.image_error),
                    ));
                    let remaining = t
                        .image
                        .delay
                        .unwrap_or(BACKOFF_INITIAL)
                        .saturating_sub(now.saturating_duration_since(failed));
                    self.event(obj.clone(), EventType::Normal, "BackOff", msg);
                    self.event(
                        obj.clone(),
                        EventType::Warning,
                        "Failed",
                        "Error: ImagePullBackOff",
                    );
                    return Err(remaining.max(Duration::from_millis(200)));
                }
            }
        }
        self.event(
            obj.clone(),
            EventType::Normal,
            "Pulling",
            format!("Pulling image \"{image}\""),
        );
        let creds = crate::pods::pull_credentials(&self.ctx.client, &self.pod).await;
        let started = Instant::now();
        match self.ctx.images.pull(&image, &creds, None).await {
            Ok(img) => {
                let took = started.elapsed();
                self.event(
                    obj.clone(),
                    EventType::Normal,
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {} bytes.",
                        go_duration(took), go_duration(took), img.size
                    ),
                );
                if let Some(t) = self.tracks.get_mut(&c.name) {
                    t.image = Backoff::default();
                    t.image_failed_at = None;
                }
                Ok(img)
            }
            Err(e) => {
                let msg = e.to_string();
                self.event(
                    obj.clone(),
                    EventType::Warning,
                    "Failed",
                    format!("Failed to pull image \"{image}\": {msg}"),
                );
                self.event(
                    obj.clone(),
                    EventType::Warning,
                    "Failed",
                    "Error: ErrImagePull",
                );
                let t = self.tracks.entry(c.name.clone()).or_default();
                t.image.next(Instant::now());
                t.image_failed_at = Some(Instant::now());
                t.image_error = msg.clone();
                t.status.waiting = Some(("ErrImagePull".into(), msg));
                Err(Duration::from_secs(1))
            }
        }
    }

    /// The container's mounts: its volumeMounts (with subPath), /etc/hosts, resolv.conf,
    /// hostname, and the termination-log file.
    fn mounts(
        &self,
        c: &Container,
        attempt: u32,
        envs: &[(String, String)],
    ) -> Result<Vec<Mount>, String> {
        let mut out = Vec::new();
        let lookup: HashMap<&str, &str> =
            envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for vm in c.volume_mounts.iter().flatten() {
            let Some(v) = self.volumes.get(&vm.name) else {
                return Err(format!("volume {:?} not found", vm.name));
            };
            let mut source = v.path.clone();
            let sub = match (&vm.sub_path, &vm.sub_path_expr) {
                (Some(s), _) if !s.is_empty() => Some(s.clone()),
                (_, Some(e)) if !e.is_empty() => {
                    Some(env::expand(e, &|n| lookup.get(n).map(|v| v.to_string())))
                }
                _ => None,
            };
            if let Some(sub) = sub {
                if sub.split('/').any(|p| p == "..") || sub.starts_with('/') {
                    return Err(format!(
                        "subPath {sub:?} must be a relative path without '..'"
                    ));
                }
                source = source.join(&sub);
                // Resolve through the atomic writer's symlinks, and refuse escapes.
                let resolved = std::fs::canonicalize(&source).unwrap_or_else(|_| {
                    let _ = std::fs::create_dir_all(&source);
                    source.clone()
                });
                let base = std::fs::canonicalize(&v.path).unwrap_or(v.path.clone());
                if !resolved.starts_with(&base) {
                    return Err(format!("subPath {sub:?} resolves outside the volume"));
                }
                source = resolved;
            }
            out.push(Mount {
                source,
                destination: vm.mount_path.clone(),
                readonly: vm.read_only == Some(true),
                kind: MountKind::Bind,
            });
        }
        fn has(out: &[Mount], d: &str) -> bool {
            out.iter().any(|m| m.destination == d)
        }
        if let Some(s) = &self.sandbox {
            let host_network = self.spec().host_network == Some(true);
            if !has(&out, "/etc/hosts") {
                out.push(Mount {
                    source: s.hosts_file.clone(),
                    destination: "/etc/hosts".into(),
                    readonly: false,
                    kind: MountKind::Bind,
                });
            }
            if !has(&out, "/etc/resolv.conf") {
                out.push(Mount {
                    source: s.resolv_conf.clone(),
                    destination: "/etc/resolv.conf".into(),
                    readonly: false,
                    kind: MountKind::Bind,
                });
            }
            if !has(&out, "/etc/hostname") && !host_network {
                out.push(Mount {
                    source: s.hostname_file.clone(),
                    destination: "/etc/hostname".into(),
                    readonly: false,
                    kind: MountKind::Bind,
                });
            }
        }
        let term_path = c
            .termination_message_path
            .clone()
            .unwrap_or_else(|| "/dev/termination-log".into());
        let term_file = self.termination_file(&c.name, attempt);
        if let Some(parent) = term_file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&term_file, b"").map_err(|e| e.to_string())?;
        if !has(&out, &term_path) {
            out.push(Mount {
                source: term_file,
                destination: term_path,
                readonly: false,
                kind: MountKind::Bind,
            });
        }
        Ok(out)
    }

    fn termination_file(&self, name: &str, attempt: u32) -> PathBuf {
        self.pod_dir()
            .join("containers")
            .join(name)
            .join(format!("{attempt}-termination-log"))
    }

    /// Stops one container: preStop hook, then the image's STOPSIGNAL (SIGTERM if it names
    /// none, as containerd does), SIGKILL after the grace period.
    async fn stop_container(&self, id: &str, name: &str, grace: i64) {
        let deadline = Instant::now() + Duration::from_secs(grace.max(0) as u64);
        let spec = self.spec();
        let c = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == name)
            .cloned();
        if let Some(c) = &c {
            if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
                if let Some(ip) = self.pod_ip().and_then(|s| s.parse::<IpAddr>().ok()) {
                    let target = hooks::target(ip, c, self.exec_fn(id));
                    let budget = deadline.saturating_duration_since(Instant::now());
                    if let Err(m) = tokio::time::timeout(budget, hooks::run(h, &target, budget))
                        .await
                        .unwrap_or(Ok(()))
                    {
                        let init = spec
                            .init_containers
                            .iter()
                            .flatten()
                            .any(|x| x.name == name);
                        self.event(
                            container_ref(&self.pod, name, init),
                            EventType::Warning,
                            "FailedPreStopHook",
                            format!("PreStopHook failed: {m}"),
                        );
                    }
                }
            }
        }
        let stop = self
            .ctx
            .runtime
            .container(id)
            .ok()
            .flatten()
            .and_then(|r| r.stop_signal)
            .unwrap_or(SIGTERM);
        let _ = self.ctx.runtime.kill(id, stop);
        loop {
            match self.ctx.runtime.container(id) {
                Ok(Some(r))
                    if matches!(
                        r.state,
                        ContainerState::Running { .. } | ContainerState::Created
                    ) => {}
                _ => return,
            }
            if Instant::now() >= deadline {
                let _ = self.ctx.runtime.kill(id, SIGKILL);
                // Give the kernel a moment to reap it.
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if !matches!(self.ctx.runtime.container(id), Ok(Some(ref r)) if matches!(r.state, ContainerState::Running { .. }))
                    {
                        return;
                    }
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every running container of the pod at once.
    async fn stop_all(&self, grace: i64) {
        let Ok(attempts) = self.attempts() else {
            return;
        };
        let mut stops = Vec::new();
        for (name, a) in attempts {
            if let Some(r) = a.current {
                if matches!(
                    r.state,
                    ContainerState::Running { .. } | ContainerState::Created
                ) {
                    let init = self
                        .spec()
                        .init_containers
                        .iter()
                        .flatten()
                        .any(|c| c.name == name);
                    self.event(
                        container_ref(&self.pod, &name, init),
                        EventType::Normal,
                        "Killing",
                        format!("Stopping container {name}"),
                    );
                    stops.push((r.id.clone(), name.clone()));
                }
            }
        }
        futures::future::join_all(
            stops
                .iter()
                .map(|(id, name)| self.stop_container(id, name, grace)),
        )
        .await;
    }

    /// Hard eviction: the containers are stopped at once, the sandbox goes (its IP is freed),
    /// and the pod ends Failed/Evicted; the records stay for `kubectl logs`.
    async fn evict(&mut self, message: String) {
        self.event(
            pod_ref(&self.pod),
            EventType::Warning,
            "Evicted",
            message.clone(),
        );
        self.tracks.values_mut().for_each(|t| t.probes = None);
        self.stop_all(0).await;
        pid_namespace::stop(&self.pod_dir());
        self.pid_namespace = None;
        if let Err(e) = self.ctx.network.remove_sandbox(&self.uid).await {
            warn!(pod = %self.name(), error = %e, "cannot remove the sandbox");
        }
        self.sandbox = None;
        self.finished = true;
        self.terminal = Some(("Failed".into(), "Evicted".into(), message));
    }

    /// Removes everything the pod had on the node.
    async fn cleanup(&mut self) {
        self.tracks.values_mut().for_each(|t| t.probes = None);
        if let Ok(records) = self
            .ctx
            .runtime
            .containers_with_prefix(&id_prefix(&self.uid))
        {
            for r in records.into_iter().filter(|r| r.pod_uid == self.uid) {
                if matches!(r.state, ContainerState::Running { .. }) {
                    let _ = self.ctx.runtime.kill(&r.id, SIGKILL);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                if let Err(e) = self.ctx.runtime.remove_container(&r.id).await {
                    warn!(container = %r.id, error = %e, "cannot remove container");
                }
            }
        }
        pid_namespace::stop(&self.pod_dir());
        self.pid_namespace = None;
        if let Err(e) = self.ctx.network.remove_sandbox(&self.uid).await {
            warn!(pod = %self.name(), error = %e, "cannot remove the sandbox");
        }
        self.sandbox = None;
        let spec = self.spec();
        let cgroup = resources::pod_cgroup(&self.ctx.config.cgroup_root, &spec, &self.uid);
        let _ = self.ctx.runtime.remove_pod_cgroup(&cgroup);
        volumes::teardown(&self.pod_dir());
        let _ = std::fs::remove_dir_all(self.pod_dir());
        let _ = std::fs::remove_dir_all(self.ctx.pod_log_dir(&self.pod));
    }

    /// Graceful deletion: stop the containers within the grace period, report the final
    /// status, clean up, and confirm the deletion (DELETE with grace 0 and the pod's UID).
    async fn terminate(&mut self) {
        let grace = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or(self.spec().termination_grace_period_seconds)
            .unwrap_or(30);
        info!(pod = %self.name(), grace, "stopping pod");
        self.stop_all(grace).await;
        if let Ok(attempts) = self.attempts() {
            self.finished = true;
            self.report(&attempts, self.sandbox.is_some()).await;
        }
        self.cleanup().await;
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        for _ in 0..5 {
            match api.delete(&name, &dp).await {
                Ok(_) => return,
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return,
                Err(e) => {
                    warn!(pod = %self.name(), error = %e, "cannot confirm the deletion; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    fn termination_message(&self, r: &ContainerRecord) -> Option<String> {
        let path = self.termination_file(&r.container_name, r.attempt);
        let text = std::fs::read(&path)
            .ok()
            .filter(|b| !b.is_empty())
            .map(|b| {
                let b = &b[..b.len().min(4096)];
                String::from_utf8_lossy(b).into_owned()
            });
        if text.is_some() {
            return text;
        }
        let spec = self.spec();
        let policy = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == r.container_name)
            .and_then(|c| c.termination_message_policy.clone());
        let failed = matches!(r.state, ContainerState::Exited { exit_code, .. } if exit_code != 0);
        if policy.as_deref() == Some("FallbackToLogsOnError") && failed {
            return crate::logs::tail_text(&r.log_path, 80, 2048);
        }
        None
    }

    /// Computes the status and writes it when it changed.
    async fn report(&mut self, attempts: &BTreeMap<String, Attempts>, sandbox_ready: bool) {
        let tracks: BTreeMap<String, ContainerTrack> = self
            .tracks
            .iter()
            .map(|(k, v)| (k.clone(), v.status.clone()))
            .collect();
        let input = StatusInput {
            pod: &self.pod,
            host_ip: &self.ctx.config.node_ip.to_string(),
            pod_ip: self.pod_ip(),
            sandbox_ready: sandbox_ready && self.sandbox.is_some(),
            attempts,
            tracks: &tracks,
            image_ids: &self.image_ids,
            terminal: self.terminal.clone(),
            now: Timestamp::now(),
        };
        let st = status::pod_status(&input, |r| self.termination_message(r));
        let Ok(value) = serde_json::to_value(&st) else {
            return;
        };
        if self.last_status.as_ref() == Some(&value) {
            return;
        }
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        match api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": value })),
            )
            .await
        {
            Ok(p) => {
                debug!(pod = %self.name(), phase = ?st.phase, "status written");
                self.last_status = Some(value);
                // Keep our copy current so conditions' transition times carry over.
                if p.metadata.uid.as_deref() == Some(self.uid.as_str()) {
                    self.pod = Arc::new(p);
                }
            }
            Err(e) => warn!(pod = %self.name(), error = %e, "cannot write pod status"),
        }
    }
}

/// Groups runtime records per container name: the newest attempt and the one before.
pub fn group_attempts(
    records: impl Iterator<Item = ContainerRecord>,
) -> BTreeMap<String, Attempts> {
    let mut by_name: BTreeMap<String, Vec<ContainerRecord>> = BTreeMap::new();
    for r in records {
        by_name.entry(r.container_name.clone()).or_default().push(r);
    }
    by_name
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by_key(|r| std::cmp::Reverse(r.attempt));
            let mut it = v.into_iter();
            let current = it.next();
            let previous = it.next();
            (name, Attempts { current, previous })
        })
        .collect()
}

fn numeric_user(user: Option<&str>) -> Option<(i64, Option<i64>)> {
    let u = user?.trim();
    if u.is_empty() {
        return None;
    }
    let (a, b) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = a.parse().ok()?;
    Some((uid, b.and_then(|g| g.parse().ok())))
}

/// A duration as Go prints it (10s, 1m20s, 1.234s).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        let m = secs / 60;
        let s = secs % 60;
        return format!("{m}m{s}s");
    }
    if d.subsec_millis() == 0 {
        return format!("{secs}s");
    }
    format!("{:.3}s", d.as_secs_f64())
}

/// An image's STOPSIGNAL: "SIGQUIT", "QUIT", "3" or "SIGRTMIN+3", as Docker accepts it.
fn parse_signal(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('+')?.parse().ok()?
        };
        let n = libc::SIGRTMIN() + off;
        return (n <= libc::SIGRTMAX()).then_some(n);
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|sig| sig as i32)
}

/// The container's seccomp profile (its own, else the pod's). Localhost profiles live under
/// `<data-dir>/seccomp/`, as the kubelet's under `<root-dir>/seccomp/`; a path that would
/// leave that dir names a file that cannot exist, so creating the container fails clearly.
fn seccomp_of(
    p: Option<&k8s_openapi::api::core::v1::SeccompProfile>,
    data_dir: &std::path::Path,
) -> minato_runtime::seccomp::Seccomp {
    use minato_runtime::seccomp::Seccomp;
    match p.map(|p| p.type_.as_str()) {
        Some("RuntimeDefault") => Seccomp::RuntimeDefault,
        Some("Localhost") => {
            let rel = p
                .and_then(|p| p.localhost_profile.clone())
                .unwrap_or_default();
            let safe = std::path::Path::new(&rel)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            let dir = data_dir.join("seccomp");
            Seccomp::Localhost(if safe && !rel.is_empty() {
                dir.join(rel)
            } else {
                // One path component, whatever it held, so it cannot lead elsewhere.
                dir.join(format!(
                    "invalid localhostProfile {:?}",
                    rel.replace('/', "%2F")
                ))
            })
        }
        _ => Seccomp::Unconfined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert!(!b.in_backoff_since(t0, t0));
        b.next(t0);
        assert_eq!(b.delay, Some(Duration::from_secs(10)));
        assert!(b.in_backoff_since(t0, t0 + Duration::from_secs(5)));
        assert!(!b.in_backoff_since(t0, t0 + Duration::from_secs(11)));
        for _ in 0..10 {
            b.next(t0);
        }
        assert_eq!(b.delay, Some(BACKOFF_MAX));
    }

    #[test]
    fn runtime_ids_are_short_and_unique() {
        let id = runtime_id("0b3c1f2e-aaaa-bbbb-cccc-1234567890ab", "nginx", 3);
        assert_eq!(id, "0b3c1f2eaaaa-nginx-3");
        assert!(runtime_id("u", &"x".repeat(63), 100).len() <= 64);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(1234)), "1.234s");
    }

    #[test]
    fn seccomp_localhost_profiles_stay_in_their_dir() {
        use k8s_openapi::api::core::v1::SeccompProfile;
        use minato_runtime::seccomp::Seccomp;
        let dir = std::path::Path::new("/var/lib/minato/agent");
        let p = |t: &str, l: Option<&str>| SeccompProfile {
            type_: t.into(),
            localhost_profile: l.map(str::to_string),
        };
        assert_eq!(seccomp_of(None, dir), Seccomp::Unconfined);
        assert_eq!(
            seccomp_of(Some(&p("RuntimeDefault", None)), dir),
            Seccomp::RuntimeDefault
        );
        assert_eq!(
            seccomp_of(Some(&p("Localhost", Some("prof/a.json"))), dir),
            Seccomp::Localhost(dir.join("seccomp/prof/a.json"))
        );
        let Seccomp::Localhost(escaped) =
            seccomp_of(Some(&p("Localhost", Some("../../etc/x"))), dir)
        else {
            panic!("not a localhost profile")
        };
        assert_eq!(escaped.parent(), Some(dir.join("seccomp").as_path()));
        assert!(!escaped.exists());
    }

    #[test]
    fn stop_signals_parse_as_docker_writes_them() {
        assert_eq!(parse_signal("SIGQUIT"), Some(libc::SIGQUIT));
        assert_eq!(parse_signal("quit"), Some(libc::SIGQUIT));
        assert_eq!(parse_signal("3"), Some(3));
        assert_eq!(parse_signal("SIGRTMIN+3"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }
}
