//! NodeResourcesFit (filter + LeastAllocated score) and NodeResourcesBalancedAllocation.

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{Code, FilterPlugin, ScorePlugin, State, Status, MAX_NODE_SCORE};

pub struct Fit;

pub struct BalancedAllocation;

/// The reasons a pod does not fit a node's resources, and whether any request exceeds the
/// node's whole allocatable (then preemption cannot help).
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> (Vec<String>, bool) {
    let mut reasons = Vec::new();
    let mut unresolvable = false;
    if node.pods.len() as i64 + 1 > node.allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    let req = &pod.requests;
    if req.is_zero() {
        return (reasons, false);
    }
    let alloc = &node.allocatable;
    let used = &node.requested;
    let mut check = |name: &str, want: i64, used: i64, have: i64| {
        if want > 0 && have < want + used {
            reasons.push(format!("Insufficient {name}"));
            unresolvable |= want > have;
        }
    };
    check("cpu", req.milli_cpu, used.milli_cpu, alloc.milli_cpu);
    check("memory", req.memory, used.memory, alloc.memory);
    check(
        "ephemeral-storage",
        req.ephemeral_storage,
        used.ephemeral_storage,
        alloc.ephemeral_storage,
    );
    for (name, want) in &req.scalar {
        check(name, *want, used.scalar(name), alloc.scalar(name));
    }
    (reasons, unresolvable)
}

impl FilterPlugin for Fit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        let (reasons, unresolvable) = insufficient(pod, node);
        if reasons.is_empty() {
            return Status::success();
        }
        Status {
            code: if unresolvable {
                Code::UnschedulableAndUnresolvable
            } else {
                Code::Unschedulable
            },
            reasons,
        }
    }
}

fn least_allocated(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

impl ScorePlugin for Fit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn weight(&self) -> i64 {
        1
    }

    /// LeastAllocated over cpu and memory (weight 1 each), with non-zero requests.
    fn score(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let cpu = least_allocated(
            node.non_zero_requested.0 + pod.non_zero.0,
            node.allocatable.milli_cpu,
        );
        let mem = least_allocated(
            node.non_zero_requested.1 + pod.non_zero.1,
            node.allocatable.memory,
        );
        (cpu + mem) / 2
    }
}

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }

    fn weight(&self) -> i64 {
        1
    }

    /// 1 - standard deviation of the cpu and memory fractions, on actual requests.
    fn score(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let frac = |req: i64, cap: i64| {
            if cap <= 0 {
                0.0
            } else {
                (req as f64 / cap as f64).min(1.0)
            }
        };
        let cpu = frac(
            node.requested.milli_cpu + pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        );
        let mem = frac(
            node.requested.memory + pod.requests.memory,
            node.allocatable.memory,
        );
        let std = (cpu - mem).abs() / 2.0;
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    #[test]
    fn fits_and_reasons() {
        let c = cluster(
            vec![node("n", "2", "4Gi", json!({}))],
            vec![(pod("a", "1500m", "1Gi", json!({})), "n")],
        );
        let n = node_info(&c, "n");
        assert!(Fit
            .filter(&None, &info(pod("p", "500m", "3Gi", json!({}))), &n)
            .is_success());
        let st = Fit.filter(&None, &info(pod("p", "600m", "3Gi", json!({}))), &n);
        assert_eq!(st.code, Code::Unschedulable);
        assert_eq!(st.reasons, vec!["Insufficient cpu"]);
        let st = Fit.filter(&None, &info(pod("p", "600m", "4Gi", json!({}))), &n);
        assert_eq!(st.reasons, vec!["Insufficient cpu", "Insufficient memory"]);
        // more than the node has at all: preemption cannot help
        let st = Fit.filter(&None, &info(pod("p", "3", "1Mi", json!({}))), &n);
        assert_eq!(st.code, Code::UnschedulableAndUnresolvable);
    }

    #[test]
    fn extended_ephemeral_and_pod_count() {
        let mut nd = node("n", "2", "4Gi", json!({}));
        let alloc = nd.status.as_mut().unwrap().allocatable.as_mut().unwrap();
        alloc.insert(
            "pods".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
        );
        alloc.insert(
            "example.com/gpu".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
        );
        alloc.insert(
            "ephemeral-storage".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("1Gi".into()),
        );
        let empty = NodeInfo::from_node(nd.clone());
        let gpu2 = pod(
            "p",
            "0",
            "0",
            json!({"containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"example.com/gpu": "2", "ephemeral-storage": "2Gi"}}}]}),
        );
        let st = Fit.filter(&None, &info(gpu2), &empty);
        assert_eq!(
            st.reasons,
            vec![
                "Insufficient ephemeral-storage",
                "Insufficient example.com/gpu"
            ]
        );
        let c = cluster(vec![nd], vec![(pod("a", "0", "0", json!({})), "n")]);
        let st = Fit.filter(
            &None,
            &info(pod("p", "0", "0", json!({}))),
            &node_info(&c, "n"),
        );
        assert_eq!(st.reasons, vec!["Too many pods"]);
        assert_eq!(st.code, Code::Unschedulable);
    }

    #[test]
    fn least_allocated_and_balanced_scores() {
        let c = cluster(
            vec![node("n", "4", "8Gi", json!({}))],
            vec![(pod("a", "1", "2Gi", json!({})), "n")],
        );
        let n = node_info(&c, "n");
        let p = info(pod("p", "1", "2Gi", json!({})));
        // cpu (4-2)/4 = 50, memory (8-4)/8 = 50
        assert_eq!(ScorePlugin::score(&Fit, &None, &p, &n), 50);
        assert_eq!(ScorePlugin::score(&BalancedAllocation, &None, &p, &n), 100);
        let skewed = info(pod("p", "2", "0", json!({})));
        // cpu 3/4=0.75, mem 2/8=0.25: std 0.25 → 75
        assert_eq!(
            ScorePlugin::score(&BalancedAllocation, &None, &skewed, &n),
            75
        );
        // zero-request pod counts the defaults (100m, 200Mi) for LeastAllocated
        let be = info(pod("p", "0", "0", json!({})));
        let cpu = (4000 - 1100) * 100 / 4000;
        let mem_cap = 8i64 << 30;
        let mem = (mem_cap - (2i64 << 30) - (200 << 20)) * 100 / mem_cap;
        assert_eq!(ScorePlugin::score(&Fit, &None, &be, &n), (cpu + mem) / 2);
    }
}
