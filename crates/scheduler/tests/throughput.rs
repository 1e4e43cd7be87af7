//! Scheduling throughput against a real server: N nodes, M pods created before the scheduler
//! starts, timed until the last pod is seen bound. 100×1,000 runs by default; set
//! SCHED_BENCH_NODES / SCHED_BENCH_PODS for bigger runs (`--ignored` runs 1,000×10,000).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use minato_scheduler::SchedulerConfig;
use serde_json::json;

async fn bench(nodes: usize, pods: usize) -> f64 {
    let server = start().await;
    let c = &server.client;
    futures::stream::iter(0..nodes)
        .map(|i| async move {
            let zone = format!("zone-{}", i % 3);
            create_node(
                c,
                &format!("node-{i:05}"),
                "32",
                json!({"topology.kubernetes.io/zone": zone}),
                json!([]),
            )
            .await
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let t_create = Instant::now();
    futures::stream::iter(0..pods)
        .map(|i| async move {
            create_pod(
                c,
                "default",
                simple_pod(&format!("p-{i:06}"), "10m", json!({})),
            )
            .await;
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    eprintln!(
        "created {nodes} nodes, {pods} pods in {:.1}s",
        t_create.elapsed().as_secs_f64()
    );

    let api: Api<Pod> = Api::namespaced(c.clone(), "default");
    let mut bound: HashMap<String, String> = HashMap::new();
    let start = Instant::now();
    let config = SchedulerConfig {
        record_scheduled_events: env("SCHED_BENCH_EVENTS", 1) == 1,
        parallel_binds: env("SCHED_BENCH_BINDS", 64),
        ..SchedulerConfig::default()
    };
    let _sched = spawn_scheduler(c, config);
    let mut first_bound = None;
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
    while bound.len() < pods {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(120), stream.try_next())
            .await
            .expect("no progress for 120 s")
            .expect("watch")
            .expect("watch ended");
        let objs = match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => vec![p],
            _ => vec![],
        };
        for p in objs {
            if let Some(n) = p.spec.and_then(|s| s.node_name) {
                first_bound.get_or_insert_with(Instant::now);
                bound.insert(p.metadata.name.unwrap_or_default(), n);
            }
        }
    }
    let total = start.elapsed().as_secs_f64();
    let steady = first_bound
        .map(|t| t.elapsed().as_secs_f64())
        .unwrap_or(total);
    let used: HashSet<&String> = bound.values().collect();
    let rate = pods as f64 / total;
    eprintln!(
        "scheduled {pods} pods on {nodes} nodes in {total:.2}s: {rate:.0} pods/s \
         ({:.0} pods/s from the first binding); {} nodes used",
        pods as f64 / steady,
        used.len()
    );
    // 10m each on 32-cpu nodes: spread by LeastAllocated over every node
    assert_eq!(used.len(), nodes.min(pods));
    let mut per: HashMap<&String, usize> = HashMap::new();
    for n in bound.values() {
        *per.entry(n).or_default() += 1;
    }
    let (min, max) = (
        per.values().min().copied().unwrap_or(0),
        per.values().max().copied().unwrap_or(0),
    );
    assert!(
        max - min <= 2 + pods / nodes / 2,
        "balanced spread: min {min} max {max}"
    );
    rate
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every pod of a 100-node, 1,000-pod cluster gets bound and spread evenly. The rate it prints
/// is informative only: speed targets live in the benchmark harness, not in tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_1000_pods_on_100_nodes_evenly() {
    let rate = bench(env("SCHED_BENCH_NODES", 100), env("SCHED_BENCH_PODS", 1000)).await;
    eprintln!("scheduled at {rate:.0} pods/s");
}
