//! Resource usage from cgroups: the kubelet's /stats/summary shape (node and pods, CPU in
//! nanocores, memory working set), which the API server turns into metrics.k8s.io
//! NodeMetrics/PodMetrics for `kubectl top`.
//!
//! CPU counters are cumulative, so a rate needs two readings. [`sampler`] reads every
//! [`SAMPLE_PERIOD`] and keeps the last two readings of the node and of each running
//! container; /stats/summary reports the rate over that window (like cAdvisor's housekeeping
//! and metrics-server's scrape window), with the window's length in `cpu.window`. A container
//! seen by the sampler only once so far gets the rate from that reading to now (at least
//! [`MIN_WINDOW`] apart); one never sampled yet has no `usageNanoCores`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::Ctx;

/// How often the sampler reads the counters (metrics-server's default resolution is 15 s; the
/// kubelet's cAdvisor housekeeping is 10 s).
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(10);
/// The shortest window a rate is computed over.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
/// The key of the node's own series.
const NODE_KEY: &str = "/node";

/// One reading of a cumulative CPU counter.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub at: Instant,
    pub wall: DateTime<Utc>,
    pub cpu_ns: u64,
}

/// A CPU rate over a window ending at `time`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub nano_cores: u64,
    pub window: Duration,
    pub time: DateTime<Utc>,
}

/// The last two readings of each series (node, containers by id).
#[derive(Debug, Default)]
pub struct Samples {
    series: BTreeMap<String, (Option<Reading>, Reading)>,
}

fn rate_between(a: &Reading, b: &Reading) -> Option<Rate> {
    let window = b.at.checked_duration_since(a.at)?;
    // A counter that went backwards was reset (a new cgroup under the same id): no rate.
    if window < MIN_WINDOW || b.cpu_ns < a.cpu_ns {
        return None;
    }
    let nano_cores = ((b.cpu_ns - a.cpu_ns) as f64 / window.as_secs_f64()) as u64;
    Some(Rate {
        nano_cores,
        window,
        time: b.wall,
    })
}

impl Samples {
    /// Records a reading, keeping the previous one.
    pub fn record(&mut self, key: &str, r: Reading) {
        let prev = self.series.get(key).map(|(_, last)| *last);
        self.series.insert(key.to_string(), (prev, r));
    }

    /// Drops the series whose keys are not in `live` (containers that ended).
    pub fn retain(&mut self, live: &BTreeSet<String>) {
        self.series
            .retain(|k, _| k.as_str() == NODE_KEY || live.contains(k));
    }

    /// The rate of `key`: over the last two sampled readings, or else from the only sampled
    /// reading to `now`.
    pub fn rate(&self, key: &str, now: &Reading) -> Option<Rate> {
        match self.series.get(key)? {
            (Some(prev), last) => rate_between(prev, last).or_else(|| rate_between(last, now)),
            (None, last) => rate_between(last, now),
        }
    }
}

static SAMPLES: Mutex<Samples> = Mutex::new(Samples {
    series: BTreeMap::new(),
});

fn samples() -> std::sync::MutexGuard<'static, Samples> {
    SAMPLES.lock().unwrap_or_else(|e| e.into_inner())
}

fn reading(cpu_ns: u64) -> Reading {
    Reading {
        at: Instant::now(),
        wall: Utc::now(),
        cpu_ns,
    }
}

fn running(ctx: &Ctx) -> Vec<minato_runtime::ContainerRecord> {
    ctx.runtime
        .containers()
        .map(|records| {
            records
                .into_iter()
                .filter(|r| matches!(r.state, minato_runtime::ContainerState::Running { .. }))
                .collect()
        })
        .unwrap_or_default()
}

/// Takes one sample of the node and of every running container.
fn sample_once(ctx: &Ctx) {
    let node = ctx.runtime.node_usage().ok();
    let containers: Vec<(String, u64)> = running(ctx)
        .into_iter()
        .filter_map(|r| {
            let u = ctx.runtime.cgroup_usage(&r.cgroup_path).ok()?;
            Some((r.id, u.cpu_usage_ns))
        })
        .collect();
    let mut s = samples();
    if let Some(n) = node {
        s.record(NODE_KEY, reading(n.cpu_usage_ns));
    }
    let live: BTreeSet<String> = containers.iter().map(|(id, _)| id.clone()).collect();
    for (id, cpu) in containers {
        s.record(&id, reading(cpu));
    }
    s.retain(&live);
}

/// Samples CPU counters every [`SAMPLE_PERIOD`], forever (the agent's `run` drops it on exit).
pub async fn sampler(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let c = ctx.clone();
        // cgroup and /proc reads are blocking file I/O.
        if let Err(e) = tokio::task::spawn_blocking(move || sample_once(&c)).await {
            tracing::warn!(error = %e, "stats sampler failed");
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The `cpu` block: cumulative usage, and the rate with its window when known.
fn cpu_json(key: &str, now: &Reading) -> Value {
    let mut cpu = json!({ "time": rfc3339(now.wall), "usageCoreNanoSeconds": now.cpu_ns });
    if let Some(r) = samples().rate(key, now) {
        cpu["time"] = json!(rfc3339(r.time));
        cpu["usageNanoCores"] = json!(r.nano_cores);
        cpu["window"] = json!(format!("{:.3}s", r.window.as_secs_f64()));
    }
    cpu
}

/// The summary document (blocking: reads cgroup files).
fn summary_json(ctx: &Ctx) -> Value {
    let now = Utc::now();
    let node = ctx.runtime.node_usage().ok();
    let node_json = json!({
        "nodeName": ctx.config.node_name,
        "cpu": node.as_ref().map(|u| cpu_json(NODE_KEY, &reading(u.cpu_usage_ns))).unwrap_or_else(|| json!({ "time": rfc3339(now) })),
        "memory": { "time": rfc3339(now), "workingSetBytes": node.as_ref().map(|u| u.memory_working_set_bytes).unwrap_or(0) },
    });
    let mut pods: HashMap<String, Value> = HashMap::new();
    for r in running(ctx) {
        let Ok(u) = ctx.runtime.cgroup_usage(&r.cgroup_path) else {
            continue;
        };
        let label = |k: &str| r.labels.get(k).cloned().unwrap_or_default();
        let entry = pods.entry(r.pod_uid.clone()).or_insert_with(|| {
            json!({
                "podRef": {
                    "name": label("io.kubernetes.pod.name"),
                    "namespace": label("io.kubernetes.pod.namespace"),
                    "uid": r.pod_uid,
                },
                "containers": [],
            })
        });
        let started: DateTime<Utc> = r.created_at.into();
        if let Some(list) = entry["containers"].as_array_mut() {
            list.push(json!({
                "name": r.container_name,
                "startTime": rfc3339(started),
                "cpu": cpu_json(&r.id, &reading(u.cpu_usage_ns)),
                "memory": { "time": rfc3339(now), "workingSetBytes": u.memory_working_set_bytes, "usageBytes": u.memory_usage_bytes },
            }));
        }
    }
    json!({ "node": node_json, "pods": pods.into_values().collect::<Vec<_>>() })
}

/// `GET /stats/summary`: usage of the node and of each running container, as JSON.
pub async fn summary(ctx: &Arc<Ctx>) -> crate::server::Response {
    let c = ctx.clone();
    let body = tokio::task::spawn_blocking(move || summary_json(&c))
        .await
        .unwrap_or_else(|e| json!({ "error": format!("stats collection failed: {e}") }));
    let status = if body.get("error").is_some() {
        http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        http::StatusCode::OK
    };
    crate::server::complete(status, "application/json", Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64, cpu_ns: u64) -> Reading {
        Reading {
            at: base + Duration::from_secs(secs),
            wall: Utc::now(),
            cpu_ns,
        }
    }

    #[test]
    fn rates_come_from_the_last_two_samples() {
        let base = Instant::now();
        let mut s = Samples::default();
        // Nothing sampled yet: no rate.
        assert_eq!(s.rate("c", &at(base, 0, 0)), None);
        s.record("c", at(base, 0, 0));
        // One sample: from it to now, if at least a second apart.
        assert_eq!(s.rate("c", &at(base, 0, 10)), None);
        let r = s.rate("c", &at(base, 2, 1_000_000_000)).expect("rate");
        assert_eq!(r.nano_cores, 500_000_000);
        assert_eq!(r.window, Duration::from_secs(2));
        // Two samples: their window, whatever now is.
        s.record("c", at(base, 10, 2_000_000_000));
        let r = s.rate("c", &at(base, 15, 9_000_000_000)).expect("rate");
        assert_eq!(r.nano_cores, 200_000_000);
        assert_eq!(r.window, Duration::from_secs(10));
        // A reset counter gives no rate from the pair; falls back to last..now.
        s.record("c", at(base, 20, 5));
        assert_eq!(s.rate("c", &at(base, 20, 5)), None);
        let r = s.rate("c", &at(base, 21, 100_000_005)).expect("rate");
        assert_eq!(r.nano_cores, 100_000_000);
        // Ended containers are forgotten; the node series stays.
        s.record(NODE_KEY, at(base, 0, 0));
        s.retain(&BTreeSet::new());
        assert!(s.rate("c", &at(base, 30, 0)).is_none());
        assert!(s.series.contains_key(NODE_KEY));
    }
}
