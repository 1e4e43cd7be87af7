//! A timing harness for the pure scheduling path at `sched1000` scale, without a server:
//! 1,000 nodes shaped like the simulator's, 10,000 pods of 100 ReplicaSets already placed,
//! then 500 more pods scheduled and assumed one after another exactly as the runner does
//! (PodInfo from the pod, `Algorithm::schedule`, `Cluster::assume_pod`).
//!
//! `cargo test --release -p minato-scheduler --lib scale_harness -- --ignored --nocapture`
//!
//! Each round schedules the 500 pods and then removes them again. Printed: the best and the
//! median round by wall time, and the thread's CPU time per pod over all rounds (from
//! /proc/thread-self/schedstat: not inflated by other processes taking the CPU, which on a
//! shared 2-core machine moves wall times by tens of percent); and a digest of the first
//! round's placements: with the fixed seed, an unchanged digest means unchanged decisions
//! (ties are broken by the same random draws).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use rand::SeedableRng;
use serde_json::json;

use crate::cache::{Cluster, PodInfo};
use crate::core::Algorithm;
use crate::framework::Framework;

const NODES: usize = 1000;
const OWNERS: usize = 100;
const REPLICAS: usize = 100;
const NEW_PODS: usize = 500;
const ROUNDS: usize = 7;

/// A Ready simulated node: the simulator's labels and conditions, 4 cpu, 16Gi, 110 pods.
fn sim_node(i: usize, zones: usize) -> Node {
    let name = format!("sim-node-{i}");
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name, "minato.dev/type": "simulated",
    });
    if zones > 0 {
        labels["topology.kubernetes.io/zone"] = json!(format!("zone-{}", i % zones));
    }
    let cond =
        |t: &str, s: &str| json!({"type": t, "status": s, "reason": "Kubelet", "message": "ok"});
    let res = json!({"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {
            "allocatable": res, "capacity": res,
            "conditions": [cond("MemoryPressure", "False"), cond("DiskPressure", "False"),
                cond("PIDPressure", "False"), cond("Ready", "True")],
        }
    }))
    .expect("node json")
}

/// Replica `r` of Deployment `d-<owner>`, as its ReplicaSet controller would create it.
fn replica(owner: usize, r: usize) -> Pod {
    let app = format!("d-{owner}");
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("{app}-h{owner}-{r}"), "namespace": "bench",
            "uid": format!("pod-{owner}-{r}"),
            "labels": {"app": app, "pod-template-hash": format!("h{owner}")},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{app}-h{owner}"), "uid": format!("rs-{owner}"),
                "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 0,
            "priority": 0,
            "preemptionPolicy": "PreemptLowerPriority",
            // what the API server's admission adds to every pod
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
        }
    }))
    .expect("pod json")
}

/// Nanoseconds this thread has run on a CPU (Linux; tick resolution, fine over many rounds).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

struct Timing {
    best: f64,
    median: f64,
    cpu: Option<f64>,
    digest: u64,
}

/// Builds the cluster, schedules the new pods `ROUNDS` times.
fn run(zones: usize) -> Timing {
    let mut c = Cluster::new();
    for i in 0..NODES {
        c.upsert_node(sim_node(i, zones));
    }
    for owner in 0..OWNERS {
        for r in 0..REPLICAS {
            let node = format!("sim-node-{}", (owner * REPLICAS + r) % NODES);
            c.upsert_pod(Arc::new(PodInfo::new(Arc::new(replica(owner, r)))), &node);
        }
    }
    // built the way the runner receives them: owners interleaved
    let pending: Vec<Arc<Pod>> = (0..NEW_PODS)
        .map(|i| Arc::new(replica(i % OWNERS, REPLICAS + i / OWNERS)))
        .collect();
    let mut alg = Algorithm::new(Framework::default_profile(), 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut digest = DefaultHasher::new();
    let mut times = Vec::with_capacity(ROUNDS);
    let mut cpu_ns = 0;
    for round in 0..ROUNDS {
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        for p in &pending {
            let info = PodInfo::new(Arc::clone(p));
            let placed = alg.schedule(&info, &c, &mut rng).expect("fits");
            if round == 0 {
                placed.node.hash(&mut digest);
            }
            c.assume_pod(Arc::new(info), &placed.node);
        }
        times.push(t.elapsed().as_secs_f64() * 1e6 / NEW_PODS as f64);
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
            cpu_ns += b - a;
        }
        for p in &pending {
            c.remove_pod(p.metadata.uid.as_deref().unwrap_or_default());
        }
    }
    times.sort_by(f64::total_cmp);
    Timing {
        best: times[0],
        median: times[ROUNDS / 2],
        cpu: (cpu_ns > 0).then(|| cpu_ns as f64 / 1e3 / (ROUNDS * NEW_PODS) as f64),
        digest: digest.finish(),
    }
}

#[test]
#[ignore = "timing harness; run in release with --ignored --nocapture"]
fn scale_harness() {
    for zones in [0, 3] {
        let t = run(zones);
        let cpu = t.cpu.map_or("n/a".to_string(), |c| format!("{c:.0}"));
        eprintln!(
            "{NODES} nodes, {} pods of {OWNERS} owners, zones={zones}: wall {:.0} µs/pod best, \
             {:.0} median of {ROUNDS} rounds of {NEW_PODS} pods; cpu {cpu} µs/pod \
             (placements {:016x})",
            OWNERS * REPLICAS,
            t.best,
            t.median,
            t.digest
        );
    }
}
