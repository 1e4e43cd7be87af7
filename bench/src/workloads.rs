//! Scheduling and controllers at scale: Deployments on simulated nodes (`sched1000`,
//! `sched10`), and the pod watch both these and `podstartup` time pods with.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, Namespace, Node, PodSpec, PodTemplateSpec, ResourceRequirements, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;

use crate::server::Server;
use crate::stats::{mb, ms, Section};
use crate::{say, Args, Target};

// ---------------------------------------------------------------- pod tracker

/// Only the pod fields the scenarios look at: parsing 40,000 full pods would cost the client
/// CPU the server (same host) then lacks.
#[derive(Clone, Deserialize)]
struct MiniPod {
    metadata: MiniMeta,
    #[serde(default)]
    spec: MiniSpec,
    #[serde(default)]
    status: MiniStatus,
}

#[derive(Clone, Default, Deserialize)]
struct MiniMeta {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
struct MiniSpec {
    #[serde(default, rename = "nodeName")]
    node_name: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
struct MiniStatus {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    conditions: Option<Vec<MiniCondition>>,
}

#[derive(Clone, Deserialize)]
struct MiniCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

#[derive(Deserialize)]
struct MiniList {
    #[serde(default)]
    metadata: MiniMeta,
    #[serde(default)]
    items: Vec<MiniPod>,
}

/// When the watch first saw a pod, and first saw it bound, Running and Ready.
#[derive(Clone, Copy)]
pub struct PodTimes {
    pub seen: Instant,
    pub bound: Option<Instant>,
    pub running: Option<Instant>,
    pub ready: Option<Instant>,
}

#[derive(Default)]
pub struct TrackState {
    pub pods: HashMap<String, PodTimes>,
    pub bound: usize,
    pub running: usize,
    pub ready: usize,
    /// The first LIST is done and the watch is open.
    pub synced: bool,
    pub last_error: Option<String>,
}

impl TrackState {
    fn record(&mut self, p: &MiniPod, now: Instant) {
        let t = self
            .pods
            .entry(p.metadata.name.clone())
            .or_insert(PodTimes {
                seen: now,
                bound: None,
                running: None,
                ready: None,
            });
        if t.bound.is_none() && p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) {
            t.bound = Some(now);
            self.bound += 1;
        }
        if t.running.is_none() && p.status.phase.as_deref() == Some("Running") {
            t.running = Some(now);
            self.running += 1;
        }
        let ready = p
            .status
            .conditions
            .as_ref()
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if t.ready.is_none() && ready {
            t.ready = Some(now);
            self.ready += 1;
        }
    }
}

/// Watches the pods of one namespace and stamps each change with the time it arrived.
pub struct PodTracker {
    pub state: Arc<Mutex<TrackState>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodTracker {
    /// Starts the watch and returns once it is open (so no event after this is missed).
    pub async fn start(client: &kube::Client, ns: &str) -> Result<PodTracker> {
        let state = Arc::new(Mutex::new(TrackState::default()));
        let task = tokio::spawn(track(client.clone(), ns.to_string(), state.clone()));
        let t = PodTracker { state, task };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if t.with(|s| s.synced) {
                return Ok(t);
            }
            if Instant::now() > deadline {
                let e = t.with(|s| s.last_error.clone());
                bail!("cannot watch pods in {ns}: {}", e.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&TrackState) -> T) -> T {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&s)
    }
}

impl Drop for PodTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<TrackState>) -> std::sync::MutexGuard<'_, TrackState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// LIST then WATCH from its resourceVersion; re-watch when a watch ends, re-list on errors.
async fn track(client: kube::Client, ns: String, state: Arc<Mutex<TrackState>>) {
    let req = kube::core::Request::new(format!("/api/v1/namespaces/{ns}/pods"));
    loop {
        let list = match req.list(&ListParams::default()) {
            Ok(r) => client.request::<MiniList>(r).await,
            Err(e) => {
                lock(&state).last_error = Some(e.to_string());
                return;
            }
        };
        let list = match list {
            Ok(l) => l,
            Err(e) => {
                lock(&state).last_error = Some(format!("list: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut rv = list.metadata.resource_version.unwrap_or_default();
        {
            let now = Instant::now();
            let mut s = lock(&state);
            for p in &list.items {
                s.record(p, now);
            }
        }
        'watch: loop {
            let wp = WatchParams::default().timeout(290);
            let stream = match req.watch(&wp, &rv) {
                Ok(r) => client.request_events::<MiniPod>(r).await,
                Err(e) => {
                    lock(&state).last_error = Some(e.to_string());
                    return;
                }
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    lock(&state).last_error = Some(format!("watch: {e}"));
                    break 'watch;
                }
            };
            lock(&state).synced = true;
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                let now = Instant::now();
                match ev {
                    Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => {
                        if let Some(v) = &p.metadata.resource_version {
                            rv.clone_from(v);
                        }
                        lock(&state).record(&p, now);
                    }
                    Ok(WatchEvent::Deleted(p)) => {
                        if let Some(v) = &p.metadata.resource_version {
                            rv.clone_from(v);
                        }
                    }
                    Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                    Ok(WatchEvent::Error(e)) => {
                        lock(&state).last_error = Some(format!("watch error: {}", e.message));
                        break 'watch;
                    }
                    Err(e) => {
                        lock(&state).last_error = Some(format!("watch stream: {e}"));
                        continue 'watch;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- helpers

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits until at least `want` nodes (named with `prefix`, if given) report Ready=True.
pub async fn wait_nodes_ready(
    client: &kube::Client,
    want: usize,
    prefix: Option<&str>,
    timeout: Duration,
) -> Result<Duration> {
    let api: Api<Node> = Api::all(client.clone());
    let start = Instant::now();
    let mut seen = 0;
    while start.elapsed() < timeout {
        if let Ok(list) = api.list(&ListParams::default()).await {
            seen = list
                .items
                .iter()
                .filter(|n| {
                    prefix.is_none_or(|p| n.metadata.name.as_deref().unwrap_or("").starts_with(p))
                })
                .filter(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        })
                })
                .count();
            if seen >= want {
                return Ok(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("only {seen} of {want} nodes became Ready within {timeout:?}")
}

/// Waits for the namespace's `default` ServiceAccount (admission refuses pods without it);
/// creates it after 10 s, as upstream's controller would (servers without that controller).
pub async fn wait_default_sa(client: &kube::Client, ns: &str) -> Result<()> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if api.get_opt("default").await.ok().flatten().is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    say(&format!(
        "  no ServiceAccount default in {ns} after 10 s; creating it"
    ));
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("default".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &sa).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create ServiceAccount default in {ns}")),
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    let sel = labels(&[("app", name)]);
    let mut meta_labels = sel.clone();
    meta_labels.insert("app.kubernetes.io/managed-by".into(), "minato-bench".into());
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(meta_labels),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(sel.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(sel),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "c".into(),
                        // Simulated nodes pull nothing; the name only has to be valid.
                        image: Some("registry.k8s.io/pause:3.10".into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([
                                ("cpu".to_string(), Quantity("10m".into())),
                                ("memory".to_string(), Quantity("16Mi".into())),
                            ])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    termination_grace_period_seconds: Some(0),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `minato simulate` against an external cluster, killed by PID on drop.
struct Simulator {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Simulator {
    fn start(bin: &Path, kubeconfig: &Path, nodes: u32, prefix: &str) -> Result<Simulator> {
        let log = tempfile::NamedTempFile::new()?;
        let child = Command::new(bin)
            .arg("simulate")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--nodes", &nodes.to_string(), "--node-name-prefix", prefix])
            .env("MINATO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen()?)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} simulate (give --simulator-bin PATH)",
                    bin.display()
                )
            })?;
        Ok(Simulator { child, log })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- sched scenarios

/// One scheduling workload: `deployments` × `replicas` pods on `nodes` simulated nodes.
pub struct SchedSize {
    pub name: &'static str,
    pub nodes: u32,
    pub deployments: usize,
    pub replicas: i32,
}

pub fn sched_size(name: &str, args: &Args) -> Option<SchedSize> {
    match name {
        "sched1000" => Some(SchedSize {
            name: "sched1000",
            nodes: args.sched_nodes,
            deployments: args.sched_deployments,
            replicas: args.sched_replicas,
        }),
        "sched10" => Some(SchedSize {
            name: "sched10",
            nodes: 10,
            deployments: 100,
            replicas: 1,
        }),
        _ => None,
    }
}

/// Runs a sched scenario on a server launched from `bin`, or else on `kubeconfig`'s cluster
/// with `minato simulate` (`--simulator-bin`) started here.
pub async fn sched(
    args: &Args,
    size: &SchedSize,
    bin: Option<&Path>,
    kubeconfig: Option<&Path>,
    label: &str,
) -> Result<Section> {
    let run = crate::scenarios::run_id();
    let (server, kubeconfig) = match (bin, kubeconfig) {
        (Some(bin), _) => {
            let extra = vec![
                "--simulated-nodes".to_string(),
                size.nodes.to_string(),
                "--no-agent".to_string(),
            ];
            let s = Server::launch_with(bin, None, &extra).await?;
            let kc = s.kubeconfig.clone();
            (Some(s), kc)
        }
        (None, Some(k)) => (None, k.to_path_buf()),
        (None, None) => bail!("give --kubeconfig FILE or --minato-bin PATH"),
    };
    let t = Target::open(label, &kubeconfig, args.allow_remote).await?;
    let prefix = format!("minato-bench-sim-{run}-");
    let sim = match &server {
        Some(_) => None,
        None => Some(Simulator::start(
            &args.simulator_bin,
            &kubeconfig,
            size.nodes,
            &prefix,
        )?),
    };
    let ns = format!("minato-bench-{}-{run}", size.name);
    let result = sched_body(args, size, &t, server.as_ref(), sim.as_ref(), &prefix, &ns).await;
    if let Some(s) = server {
        s.stop();
    } else if !args.keep {
        // External cluster: remove the namespace and the simulated nodes we registered.
        let nss: Api<Namespace> = Api::all(t.client.clone());
        let _ = nss.delete(&ns, &DeleteParams::default()).await;
        drop(sim);
        let nodes: Api<Node> = Api::all(t.client.clone());
        if let Ok(list) = nodes.list(&ListParams::default()).await {
            for n in list.items {
                let name = n.metadata.name.unwrap_or_default();
                if name.starts_with(&prefix) {
                    let _ = nodes.delete(&name, &DeleteParams::default()).await;
                }
            }
        }
    }
    result
}

async fn sched_body(
    args: &Args,
    size: &SchedSize,
    t: &Target,
    server: Option<&Server>,
    sim: Option<&Simulator>,
    prefix: &str,
    ns: &str,
) -> Result<Section> {
    let mut sec = Section::default();
    let total = size.deployments * size.replicas.max(0) as usize;
    let node_prefix = if sim.is_some() { Some(prefix) } else { None };
    let nodes_up = wait_nodes_ready(
        &t.client,
        size.nodes as usize,
        node_prefix,
        Duration::from_secs(300),
    )
    .await
    .with_context(|| match sim {
        Some(s) => format!("simulator log:\n{}", s.log_tail()),
        None => server.map(Server::log_tail).unwrap_or_default(),
    })?;
    say(&format!(
        "  {} simulated nodes Ready after {:.1} s",
        size.nodes,
        nodes_up.as_secs_f64()
    ));
    let nss: Api<Namespace> = Api::all(t.client.clone());
    let nso = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    nss.create(&PostParams::default(), &nso)
        .await
        .with_context(|| format!("cannot create namespace {ns}"))?;
    wait_default_sa(&t.client, ns).await?;
    // Let the node heartbeats of registration settle before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = server.and_then(|s| s.rss_bytes().ok());

    let tracker = PodTracker::start(&t.client, ns).await?;
    let api: Api<Deployment> = Api::namespaced(t.client.clone(), ns);
    let own_cpu0 = crate::server::cpu_time(std::process::id()).unwrap_or_default();
    let server_cpu0 = server.and_then(|s| crate::server::cpu_time(s.pid).ok());
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..size.deployments {
        let api = api.clone();
        let d = deployment(&format!("d-{i}"), size.replicas);
        set.spawn(async move { api.create(&PostParams::default(), &d).await.map(|_| ()) });
    }
    let mut create_errors = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => create_errors.push(e.to_string()),
            Err(e) => create_errors.push(e.to_string()),
        }
    }
    let created_all = t0.elapsed();
    if !create_errors.is_empty() {
        bail!(
            "{} of {} Deployment creates failed; first: {}",
            create_errors.len(),
            size.deployments,
            create_errors[0]
        );
    }

    let timeout = Duration::from_secs(args.sched_timeout_secs);
    let mut last_report = Instant::now();
    let mut timed_out = false;
    loop {
        let (seen, bound, running) = tracker.with(|s| (s.pods.len(), s.bound, s.running));
        if bound >= total && running >= total {
            break;
        }
        if t0.elapsed() > timeout {
            timed_out = true;
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            say(&format!(
                "  {:.0} s: {seen} pods seen, {bound} bound, {running} Running",
                t0.elapsed().as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall = t0.elapsed();
    let own_cpu = crate::server::cpu_time(std::process::id())
        .unwrap_or_default()
        .saturating_sub(own_cpu0);
    let server_cpu = server
        .and_then(|s| crate::server::cpu_time(s.pid).ok())
        .zip(server_cpu0)
        .map(|(a, b)| a.saturating_sub(b));
    let (peak, rss_after) = match server {
        Some(s) => (s.peak_rss_bytes().ok(), s.rss_bytes().ok()),
        None => (None, None),
    };
    let (times, bound, running, err) = tracker.with(|s| {
        (
            s.pods.values().copied().collect::<Vec<_>>(),
            s.bound,
            s.running,
            s.last_error.clone(),
        )
    });
    drop(tracker);
    let rel = |i: Instant| i.saturating_duration_since(t0);
    let last_seen = times.iter().map(|p| rel(p.seen)).max().unwrap_or_default();
    let mut bound_at: Vec<Duration> = times.iter().filter_map(|p| p.bound.map(rel)).collect();
    bound_at.sort();
    let last_running = times
        .iter()
        .filter_map(|p| p.running.map(rel))
        .max()
        .unwrap_or_default();
    let first_bound = bound_at.first().copied().unwrap_or_default();
    let last_bound = bound_at.last().copied().unwrap_or_default();
    let interval = last_bound.saturating_sub(first_bound);
    let rate = if interval.is_zero() {
        0.0
    } else {
        bound_at.len() as f64 / interval.as_secs_f64()
    };
    let e2e_rate = if last_bound.is_zero() {
        0.0
    } else {
        bound_at.len() as f64 / last_bound.as_secs_f64()
    };

    sec.line(format!(
        "{} Deployments x {} replicas = {total} pods on {} simulated nodes (all Ready {:.1} s after the server/simulator started)",
        size.deployments, size.replicas, size.nodes, nodes_up.as_secs_f64()
    ));
    if timed_out {
        sec.line(format!(
            "TIMED OUT after {:?}: {} pods seen, {bound} bound, {running} Running (watch error: {})",
            timeout,
            times.len(),
            err.as_deref().unwrap_or("none")
        ));
    }
    sec.line(format!(
        "all Deployments created {:.1} ms after the first create; all pods created by the ReplicaSets at {:.3} s",
        ms(created_all),
        last_seen.as_secs_f64()
    ));
    sec.line(format!(
        "first create -> all {bound} bound: {:.3} s (first bound at {:.3} s)",
        last_bound.as_secs_f64(),
        first_bound.as_secs_f64()
    ));
    sec.line(format!(
        "first create -> all {running} Running: {:.3} s (simulated start delay 1 s)",
        last_running.as_secs_f64()
    ));
    let rate_target = if size.name == "sched1000" {
        format!(
            "  [target >= 2,000 pods/s: {}]",
            if rate >= 2000.0 { "met" } else { "NOT met" }
        )
    } else {
        String::new()
    };
    sec.line(format!(
        "scheduling throughput: {rate:.0} pods/s over the binding interval ({:.3} s); {e2e_rate:.0} pods/s from the first create{rate_target}",
        interval.as_secs_f64()
    ));
    if size.name == "sched10" {
        let ok = !timed_out && last_bound <= Duration::from_millis(500);
        sec.line(format!(
            "[target: all bound <= 0.5 s: {}; upstream 4.0 s with raised client rate limits, 19.5 s with defaults]",
            if ok { "met" } else { "NOT met" }
        ));
    }
    sec.line(format!(
        "CPU over the {:.1} s run: server {}, this bench (client, same host) {:.1} s",
        wall.as_secs_f64(),
        server_cpu.map_or("not measured".to_string(), |c| format!(
            "{:.1} s",
            c.as_secs_f64()
        )),
        own_cpu.as_secs_f64()
    ));
    sec.set("bench_cpu_s", json!(own_cpu.as_secs_f64()));
    if let Some(c) = server_cpu {
        sec.set("server_cpu_s", json!(c.as_secs_f64()));
    }
    if let (Some(p), Some(r)) = (peak, rss_after) {
        let target = if size.name == "sched1000" {
            format!(
                "  [target: {total} simulated pods in <= 1 GiB: {}]",
                if p <= 1 << 30 { "met" } else { "NOT met" }
            )
        } else {
            String::new()
        };
        sec.line(format!(
            "server RSS: {} MB before the Deployments, {} MB after, peak (VmHWM) {} MB{target}",
            rss_before.map(mb).unwrap_or(0.0),
            mb(r),
            mb(p)
        ));
        sec.set("rss_peak_mb", json!(mb(p)));
        sec.set("rss_after_mb", json!(mb(r)));
        sec.figure("rss_peak_mb", mb(p), "MB");
    } else {
        sec.line("server RSS: not measured (the server was not started by the bench)");
    }
    sec.set(
        "pods",
        json!({"total": total, "bound": bound, "running": running, "timed_out": timed_out}),
    );
    sec.set("nodes", json!(size.nodes));
    sec.set("all_created_s", json!(last_seen.as_secs_f64()));
    sec.set("all_bound_s", json!(last_bound.as_secs_f64()));
    sec.set("all_running_s", json!(last_running.as_secs_f64()));
    sec.set("sched_pods_per_s", json!(rate.round()));
    sec.set("e2e_pods_per_s", json!(e2e_rate.round()));
    sec.figure("all_bound_s", last_bound.as_secs_f64(), "s");
    sec.figure("all_running_s", last_running.as_secs_f64(), "s");
    sec.figure("sched_pods_per_s", rate, "pods/s");
    if timed_out {
        sec.set("error", json!("timed out"));
    }
    Ok(sec)
}
