//! The scheduling algorithm as a pure function of (pod, cluster): filter, score, select; and the
//! FailedScheduling message, worded as upstream's FitError.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;

use crate::cache::{Cluster, NodeInfo, PodInfo};
use crate::framework::{Framework, State, Status};

/// Upstream's floor for the number of feasible nodes to look for.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// How many feasible nodes to find before scoring (upstream's percentageOfNodesToScore;
/// 0 = adaptive: 50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
pub fn num_feasible_nodes_to_find(all: usize, percentage: u32) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return all;
    }
    let pct = if percentage == 0 {
        50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE)
    } else {
        percentage as usize
    };
    (all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why a pod fits nowhere: per-node statuses (or a PreFilter message) and what preemption said.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub pre_filter_msg: Option<String>,
    /// node name → failing status
    pub node_statuses: BTreeMap<String, Status>,
    pub post_filter_msg: Option<String>,
}

impl FitError {
    /// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.
    /// preemption: ...` exactly as upstream's FitError.Error().
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 && self.pre_filter_msg.is_none() {
            return "no nodes available to schedule pods".to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        match &self.pre_filter_msg {
            Some(pre) => msg.push_str(&format!(" {pre}.")),
            None => {
                let hist = histogram(self.node_statuses.values().flat_map(|s| s.reasons.iter()));
                if !hist.is_empty() {
                    msg.push_str(&format!(" {}.", hist));
                }
            }
        }
        if let Some(post) = self.post_filter_msg.as_ref().filter(|p| !p.is_empty()) {
            msg.push(' ');
            msg.push_str(post);
            if !post.ends_with('.') {
                msg.push('.');
            }
        }
        msg
    }
}

/// `"<count> <reason>"` per distinct reason, sorted as strings, joined by ", ".
pub fn histogram<'a>(reasons: impl Iterator<Item = &'a String>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// A successful placement.
#[derive(Debug, Clone)]
pub struct Placement {
    pub node: String,
    pub evaluated: usize,
    pub feasible: usize,
}

/// The filter/score pipeline with its round-robin start index.
pub struct Algorithm {
    pub framework: Framework,
    pub percentage_of_nodes_to_score: u32,
    next_start: usize,
}

/// Filters with the pods nominated to this node at equal or higher priority counted in.
pub fn filter_with_nominated(
    fw: &Framework,
    states: &[State],
    pod: &PodInfo,
    node: &NodeInfo,
    cluster: &Cluster,
) -> Status {
    if !cluster.nominated.is_empty() {
        let mut extra = cluster
            .nominated_on(&node.name, &pod.uid)
            .filter(|p| p.priority >= pod.priority)
            .peekable();
        if extra.peek().is_some() {
            let mut with = node.clone();
            for p in extra {
                with.add_pod(Arc::clone(p));
            }
            let st = fw.filter(states, pod, &with);
            if !st.is_success() {
                return st;
            }
        }
    }
    fw.filter(states, pod, node)
}

impl Algorithm {
    pub fn new(framework: Framework, percentage_of_nodes_to_score: u32) -> Algorithm {
        Algorithm {
            framework,
            percentage_of_nodes_to_score,
            next_start: 0,
        }
    }

    /// Picks a node for the pod, or says why none fits.
    pub fn schedule(
        &mut self,
        pod: &PodInfo,
        cluster: &Cluster,
        rng: &mut impl Rng,
    ) -> Result<Placement, FitError> {
        let all = cluster.num_nodes();
        let mut err = FitError {
            num_all_nodes: all,
            ..Default::default()
        };
        if all == 0 {
            return Err(err);
        }
        let fw = &self.framework;
        let states = match fw.pre_filter(pod, cluster) {
            Ok(s) => s,
            Err(st) => {
                err.pre_filter_msg = Some(st.reasons.join(", "));
                for n in cluster.nodes() {
                    err.node_statuses.insert(n.name.clone(), st.clone());
                }
                return Err(err);
            }
        };
        // a node nominated by an earlier preemption is tried first
        let nominated = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .and_then(|n| cluster.node(n));
        if let Some(node) = nominated {
            if filter_with_nominated(fw, &states, pod, node, cluster).is_success() {
                return Ok(Placement {
                    node: node.name.clone(),
                    evaluated: 1,
                    feasible: 1,
                });
            }
        }
        let want = num_feasible_nodes_to_find(all, self.percentage_of_nodes_to_score);
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(all));
        let mut processed = 0;
        for i in 0..all {
            let Some(node) = cluster.node_at((self.next_start + i) % all) else {
                continue;
            };
            processed += 1;
            let st = filter_with_nominated(fw, &states, pod, node, cluster);
            if st.is_success() {
                feasible.push(node);
                if feasible.len() >= want {
                    break;
                }
            } else {
                err.node_statuses.insert(node.name.clone(), st);
            }
        }
        self.next_start = (self.next_start + processed) % all;
        if feasible.is_empty() {
            return Err(err);
        }
        let node = if feasible.len() == 1 {
            feasible[0].name.clone()
        } else {
            let scores = score(fw, pod, cluster, &feasible);
            select_host(&feasible, &scores, rng)
        };
        Ok(Placement {
            node,
            evaluated: processed,
            feasible: feasible.len(),
        })
    }
}

/// Weighted sum of the normalized plugin scores, per feasible node.
pub fn score(fw: &Framework, pod: &PodInfo, cluster: &Cluster, feasible: &[&NodeInfo]) -> Vec<i64> {
    let mut total = vec![0i64; feasible.len()];
    for plugin in &fw.scores {
        let (st, mut s) = plugin.score_all(pod, cluster, feasible);
        plugin.normalize(&st, &mut s);
        for (t, v) in total.iter_mut().zip(s) {
            *t += v * plugin.weight();
        }
    }
    total
}

/// The highest score; ties broken uniformly at random (reservoir sampling, as upstream).
pub fn select_host(nodes: &[&NodeInfo], scores: &[i64], rng: &mut impl Rng) -> String {
    let mut best = 0;
    let mut ties = 0u32;
    for (i, s) in scores.iter().enumerate() {
        if i == 0 || *s > scores[best] {
            best = i;
            ties = 1;
        } else if *s == scores[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    nodes[best].name.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn fit_error(statuses: Vec<(&str, Status)>, post: Option<&str>) -> FitError {
        FitError {
            num_all_nodes: 3,
            pre_filter_msg: None,
            node_statuses: statuses
                .into_iter()
                .map(|(n, s)| (n.to_string(), s))
                .collect(),
            post_filter_msg: post.map(str::to_string),
        }
    }

    #[test]
    fn message_matches_upstream_wording() {
        let taint = Status::unresolvable(
            "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
        );
        let e = fit_error(
            vec![
                ("a", Status::unresolvable("Insufficient cpu")),
                ("b", taint.clone()),
                ("c", taint),
            ],
            Some("preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling"),
        );
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
             {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: \
             3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn message_counts_every_reason_and_sorts_as_strings() {
        let both = Status {
            code: Code::Unschedulable,
            reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
        };
        let e = fit_error(
            vec![
                ("a", both.clone()),
                ("b", both),
                ("c", Status::unresolvable("node(s) were unschedulable")),
            ],
            None,
        );
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu, 2 Insufficient memory."
        );
        let pre = FitError {
            num_all_nodes: 2,
            pre_filter_msg: Some("boom".into()),
            ..Default::default()
        };
        assert_eq!(pre.message(), "0/2 nodes are available: boom.");
        assert_eq!(
            FitError::default().message(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn nodes_to_find() {
        assert_eq!(num_feasible_nodes_to_find(50, 0), 50);
        assert_eq!(num_feasible_nodes_to_find(100, 0), 100);
        // 1000 nodes: 50 - 8 = 42%
        assert_eq!(num_feasible_nodes_to_find(1000, 0), 420);
        // 5000 nodes: 50 - 40 = 10%
        assert_eq!(num_feasible_nodes_to_find(5000, 0), 500);
        // 10000 nodes: floor 5%
        assert_eq!(num_feasible_nodes_to_find(10000, 0), 500);
        assert_eq!(num_feasible_nodes_to_find(1000, 1), 100);
        assert_eq!(num_feasible_nodes_to_find(1000, 100), 1000);
    }

    #[test]
    fn schedules_to_least_allocated_and_reports_failures() {
        let c = cluster(
            vec![
                node("a", "2", "4Gi", json!({})),
                node("b", "2", "4Gi", json!({})),
            ],
            vec![(pod("x", "1", "1Gi", json!({})), "a")],
        );
        let mut alg = Algorithm::new(Framework::default_profile(), 0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = info(pod("p", "500m", "512Mi", json!({})));
        assert_eq!(alg.schedule(&p, &c, &mut rng).unwrap().node, "b");
        let big = info(pod("big", "1500m", "1Gi", json!({})));
        assert_eq!(alg.schedule(&big, &c, &mut rng).unwrap().node, "b");
        let huge = info(pod("huge", "3", "1Gi", json!({})));
        let e = alg.schedule(&huge, &c, &mut rng).unwrap_err();
        assert_eq!(e.message(), "0/2 nodes are available: 2 Insufficient cpu.");
    }

    #[test]
    fn ties_are_broken_randomly() {
        let c = cluster(
            vec![
                node("a", "2", "4Gi", json!({})),
                node("b", "2", "4Gi", json!({})),
                node("c", "2", "4Gi", json!({})),
            ],
            vec![],
        );
        let mut alg = Algorithm::new(Framework::default_profile(), 0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let p = info(pod("p", "100m", "100Mi", json!({})));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            seen.insert(alg.schedule(&p, &c, &mut rng).unwrap().node);
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn nominated_pods_reserve_space() {
        let mut c = cluster(vec![node("a", "2", "4Gi", json!({}))], vec![]);
        let mut hi = pod("hi", "1500m", "1Gi", json!({"priority": 100}));
        hi.metadata.uid = Some("hi".into());
        c.nominated.insert(
            "hi".into(),
            crate::cache::Nominated {
                node: "a".into(),
                pod: Arc::new(info(hi)),
            },
        );
        let mut alg = Algorithm::new(Framework::default_profile(), 0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let low = info(pod("low", "1", "1Gi", json!({"priority": 1})));
        assert!(alg.schedule(&low, &c, &mut rng).is_err());
        let higher = info(pod("higher", "1", "1Gi", json!({"priority": 1000})));
        assert!(alg.schedule(&higher, &c, &mut rng).is_ok());
    }
}

#[cfg(test)]
mod perf {
    use super::*;
    use crate::testutil::*;
    use rand::SeedableRng;
    use serde_json::json;

    /// The pure core alone: schedule and assume pods one after another.
    fn run(nodes: usize, pods: usize) -> f64 {
        let ns = (0..nodes)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    "32",
                    "64Gi",
                    json!({"topology.kubernetes.io/zone": format!("z{}", i % 3)}),
                )
            })
            .collect();
        let mut c = cluster(ns, vec![]);
        let mut alg = Algorithm::new(Framework::default_profile(), 0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let t = std::time::Instant::now();
        for i in 0..pods {
            let p = Arc::new(info(pod(&format!("p{i}"), "10m", "10Mi", json!({}))));
            let placed = alg.schedule(&p, &c, &mut rng).expect("fits");
            c.assume_pod(p, &placed.node);
        }
        pods as f64 / t.elapsed().as_secs_f64()
    }

    #[test]
    fn core_throughput() {
        let rate = run(100, 1000);
        eprintln!("core: 100 nodes × 1000 pods: {rate:.0} pods/s");
        assert!(rate > 100.0);
        if std::env::var("SCHED_CORE_BIG").is_ok() {
            let rate = run(1000, 2000);
            eprintln!("core: 1000 nodes × 2000 pods: {rate:.0} pods/s");
        }
    }
}
