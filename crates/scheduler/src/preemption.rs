//! Default preemption as a pure function: find the node where evicting the fewest,
//! lowest-priority pods lets the pod fit.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::{Cluster, PodInfo};
use crate::core::{filter_with_nominated, FitError};
use crate::framework::{Code, Framework, Status};

/// Nodes dry-run at least (upstream: 10% of nodes, at least 100).
const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;
const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;

/// A node and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
}

/// What preemption decided.
#[derive(Debug, Clone)]
pub enum Outcome {
    Preempt(Candidate),
    /// The pod may not preempt; message as upstream (`preemption: not eligible ...`).
    NotEligible(String),
    /// Preemption cannot help: `preemption: 0/N nodes are available: ...`.
    NoCandidate(String),
}

fn policy_never(pod: &PodInfo) -> bool {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        == Some("Never")
}

/// Runs preemption for a pod that failed with `fit` on `cluster`.
pub fn preempt(fw: &Framework, pod: &PodInfo, cluster: &Cluster, fit: &FitError) -> Outcome {
    if policy_never(pod) {
        return Outcome::NotEligible(
            "preemption: not eligible due to preemptionPolicy=Never.".to_string(),
        );
    }
    // still waiting for victims to go on the nominated node
    let nominated = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .and_then(|n| cluster.node(n));
    if let Some(node) = nominated {
        if node
            .pods
            .iter()
            .any(|p| p.terminating && p.priority < pod.priority)
        {
            return Outcome::NotEligible(
                "preemption: not eligible due to a terminating pod on the nominated node."
                    .to_string(),
            );
        }
    }
    let all = cluster.num_nodes();
    let not_helpful = Status::unresolvable("Preemption is not helpful for scheduling");
    let mut statuses: BTreeMap<String, Status> = BTreeMap::new();
    let states = fw.pre_filter(pod, cluster).unwrap_or_default();
    let mut candidates: Vec<Candidate> = Vec::new();
    let want = (all * MIN_CANDIDATE_NODES_PERCENTAGE / 100).max(MIN_CANDIDATE_NODES_ABSOLUTE);
    if !states.is_empty() {
        for node in cluster.nodes() {
            // only nodes that failed for a reason preemption may resolve
            let helpful = fit
                .node_statuses
                .get(&node.name)
                .is_some_and(|s| s.code == Code::Unschedulable);
            if !helpful {
                continue;
            }
            let mut trial = node.clone();
            let mut victims: Vec<Arc<PodInfo>> = node
                .pods
                .iter()
                .filter(|p| p.priority < pod.priority)
                .cloned()
                .collect();
            if victims.is_empty() {
                statuses.insert(
                    node.name.clone(),
                    Status::unresolvable("No preemption victims found for incoming pod"),
                );
                continue;
            }
            for v in &victims {
                trial.remove_pod(&v.uid);
            }
            let st = filter_with_nominated(fw, &states, pod, &trial, cluster);
            if !st.is_success() {
                statuses.insert(node.name.clone(), st);
                continue;
            }
            // reprieve as many as possible, highest priority first
            victims.sort_by_key(|v| std::cmp::Reverse(v.priority));
            let mut evict = Vec::new();
            for v in victims {
                trial.add_pod(Arc::clone(&v));
                if !filter_with_nominated(fw, &states, pod, &trial, cluster).is_success() {
                    trial.remove_pod(&v.uid);
                    evict.push(v);
                }
            }
            if evict.is_empty() {
                continue;
            }
            candidates.push(Candidate {
                node: node.name.clone(),
                victims: evict,
            });
            if candidates.len() >= want {
                break;
            }
        }
    }
    if candidates.is_empty() {
        let mut fe = FitError {
            num_all_nodes: all,
            ..Default::default()
        };
        for node in cluster.nodes() {
            let st = statuses
                .remove(&node.name)
                .unwrap_or_else(|| not_helpful.clone());
            fe.node_statuses.insert(node.name.clone(), st);
        }
        return Outcome::NoCandidate(format!("preemption: {}", fe.message()));
    }
    Outcome::Preempt(pick(candidates))
}

/// Upstream's order: lowest highest-priority victim, lowest priority sum, fewest victims.
fn pick(mut candidates: Vec<Candidate>) -> Candidate {
    candidates.sort_by_key(|c| {
        let max = c
            .victims
            .iter()
            .map(|v| v.priority)
            .max()
            .unwrap_or(i32::MIN);
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| v.priority as i64 + i32::MAX as i64 + 1)
            .sum();
        (max, sum, c.victims.len())
    });
    candidates.swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Algorithm;
    use crate::testutil::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn fail(c: &Cluster, p: &PodInfo) -> FitError {
        let mut alg = Algorithm::new(Framework::default_profile(), 0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        alg.schedule(p, c, &mut rng).unwrap_err()
    }

    #[test]
    fn evicts_fewest_lowest_priority() {
        let nodes = || {
            vec![
                node("a", "2", "4Gi", json!({})),
                node("b", "2", "4Gi", json!({})),
            ]
        };
        let p = info(pod("p", "2", "1Gi", json!({"priority": 100})));
        // same top priority: fewer victims (lower sum) wins
        let c = cluster(
            nodes(),
            vec![
                (pod("a1", "1", "1Gi", json!({"priority": 5})), "a"),
                (pod("a2", "1", "1Gi", json!({"priority": 5})), "a"),
                (pod("b1", "2", "1Gi", json!({"priority": 5})), "b"),
            ],
        );
        let fe = fail(&c, &p);
        assert_eq!(fe.message(), "0/2 nodes are available: 2 Insufficient cpu.");
        match preempt(&Framework::default_profile(), &p, &c, &fe) {
            Outcome::Preempt(cand) => {
                assert_eq!(cand.node, "b");
                assert_eq!(cand.victims.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        // lower highest victim priority beats fewer victims; higher priority pods stay
        let c = cluster(
            nodes(),
            vec![
                (pod("a1", "1", "1Gi", json!({"priority": 1})), "a"),
                (pod("a2", "1", "1Gi", json!({"priority": 2})), "a"),
                (pod("b1", "2", "1Gi", json!({"priority": 50})), "b"),
            ],
        );
        match preempt(&Framework::default_profile(), &p, &c, &fail(&c, &p)) {
            Outcome::Preempt(cand) => {
                assert_eq!(cand.node, "a");
                assert_eq!(cand.victims.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        // only the victims needed are evicted (reprieve)
        let c = cluster(
            nodes(),
            vec![
                (pod("a1", "1", "1Gi", json!({"priority": 1})), "a"),
                (pod("a2", "1", "1Gi", json!({"priority": 2})), "a"),
            ],
        );
        let small = info(pod("s", "1", "1Gi", json!({"priority": 100})));
        let mut c2 = c.clone();
        c2.remove_node("b");
        match preempt(
            &Framework::default_profile(),
            &small,
            &c2,
            &fail(&c2, &small),
        ) {
            Outcome::Preempt(cand) => {
                assert_eq!(cand.victims.len(), 1);
                assert_eq!(cand.victims[0].name, "a1", "the lowest priority goes");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_and_no_victims_and_not_helpful() {
        let c = cluster(
            vec![node("a", "2", "4Gi", json!({}))],
            vec![(pod("a1", "2", "1Gi", json!({"priority": 100})), "a")],
        );
        let never = info(pod(
            "p",
            "1",
            "1Gi",
            json!({"priority": 1000, "preemptionPolicy": "Never"}),
        ));
        match preempt(&Framework::default_profile(), &never, &c, &fail(&c, &never)) {
            Outcome::NotEligible(m) => {
                assert_eq!(m, "preemption: not eligible due to preemptionPolicy=Never.")
            }
            other => panic!("{other:?}"),
        }
        let same = info(pod("p", "1", "1Gi", json!({"priority": 100})));
        match preempt(&Framework::default_profile(), &same, &c, &fail(&c, &same)) {
            Outcome::NoCandidate(m) => assert_eq!(
                m,
                "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
            ),
            other => panic!("{other:?}"),
        }
        let huge = info(pod("p", "8", "1Gi", json!({"priority": 1000})));
        let fe = fail(&c, &huge);
        match preempt(&Framework::default_profile(), &huge, &c, &fe) {
            Outcome::NoCandidate(m) => {
                let mut fe = fe;
                fe.post_filter_msg = Some(m);
                assert_eq!(
                    fe.message(),
                    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are \
                     available: 1 Preemption is not helpful for scheduling."
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
