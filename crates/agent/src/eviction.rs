//! The kubelet's eviction manager, for memory: when the node's available memory falls below
//! the hard threshold (memory.available<100Mi by default), one pod at a time is evicted, picked
//! as upstream ranks them: pods using more than they requested first, then lower priority,
//! then the largest usage above the request. The evicted pod's containers are stopped at once
//! and it ends Failed with reason Evicted (its controller makes a replacement elsewhere).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use minato_scheduler::resources::value;
use tracing::{info, warn};

use crate::Ctx;

/// One pod as the ranking sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub uid: String,
    pub usage: i64,
    pub request: i64,
    pub priority: i32,
}

/// The pod's memory request (sum over its app containers).
pub fn memory_request(pod: &Pod) -> i64 {
    pod.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("memory"))
                .map(|q| value(&q.0))
                .sum()
        })
        .unwrap_or(0)
}

/// Upstream's order for memory: exceeds-requests first, then priority (low first), then usage
/// above request (large first). The first element is evicted.
pub fn rank(mut pods: Vec<Candidate>) -> Vec<Candidate> {
    pods.sort_by(|a, b| {
        let a_over = a.usage > a.request;
        let b_over = b.usage > b.request;
        b_over
            .cmp(&a_over)
            .then(a.priority.cmp(&b.priority))
            .then((b.usage - b.request).cmp(&(a.usage - a.request)))
    });
    pods
}

/// Watches available memory and evicts while below `threshold` bytes.
pub async fn run(ctx: Arc<Ctx>, threshold: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        let (_, available) = crate::host::meminfo();
        if available == 0 || available >= threshold {
            continue;
        }
        let pods = ctx.running_pods();
        let candidates: Vec<Candidate> = pods
            .iter()
            .filter(|p| !ctx.is_evicted(&p.uid))
            .map(|p| {
                let spec = p.pod.spec.clone().unwrap_or_default();
                let cgroup =
                    crate::pods::resources::pod_cgroup(&ctx.config.cgroup_root, &spec, &p.uid);
                let usage = ctx
                    .runtime
                    .cgroup_usage(&cgroup)
                    .map(|u| u.memory_working_set_bytes as i64)
                    .unwrap_or(0);
                Candidate {
                    uid: p.uid.clone(),
                    usage,
                    request: memory_request(&p.pod),
                    priority: spec.priority.unwrap_or(0),
                }
            })
            .collect();
        let Some(victim) = rank(candidates).into_iter().next() else {
            warn!(available, threshold, "memory pressure, but no pod to evict");
            continue;
        };
        let message = format!(
            "The node was low on resource: memory. Threshold quantity: {}Ki, available: {}Ki. Pod was using {}Ki, request is {}Ki.",
            threshold / 1024,
            available / 1024,
            victim.usage / 1024,
            victim.request / 1024
        );
        info!(pod_uid = %victim.uid, %message, "evicting pod");
        ctx.evict(&victim.uid, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(uid: &str, usage: i64, request: i64, priority: i32) -> Candidate {
        Candidate {
            uid: uid.into(),
            usage,
            request,
            priority,
        }
    }

    #[test]
    fn pods_over_their_request_go_first_then_low_priority_then_largest_excess() {
        let order: Vec<String> = rank(vec![
            c("within", 50, 100, 0),
            c("over-small", 120, 100, 0),
            c("over-big", 500, 100, 0),
            c("over-important", 900, 100, 1000),
        ])
        .into_iter()
        .map(|c| c.uid)
        .collect();
        assert_eq!(
            order,
            vec!["over-big", "over-small", "over-important", "within"]
        );
    }
}
