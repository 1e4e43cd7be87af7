//! PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway constraints (or the
//! system default spreading of a workload's pods over hostnames and zones) score.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use minato_selectors::LabelSelector;

use super::node_affinity::pod_matches_node;
use super::taint_toleration::{pod_tolerations, tolerated};
use crate::cache::{label_selector, Cluster, NodeInfo, PodInfo};
use crate::framework::{state, FilterPlugin, ScorePlugin, State, Status, MAX_NODE_SCORE};

pub struct PodTopologySpread;

pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const ZONE: &str = "topology.kubernetes.io/zone";

/// Which pods a constraint counts.
#[derive(Debug, Clone)]
enum Selects {
    Labels(LabelSelector),
    /// System defaults: pods of the same controller (ReplicaSet, StatefulSet, ...).
    Controller(String),
}

#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selects: Selects,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn from_spec(c: &TopologySpreadConstraint, pod: &PodInfo) -> Constraint {
        let mut sel = c.label_selector.clone();
        // matchLabelKeys: AND the pod's own values into the selector
        if let (Some(s), Some(keys)) = (sel.as_mut(), c.match_label_keys.as_ref()) {
            for k in keys {
                if let Some(v) = pod.labels.get(k) {
                    s.match_expressions.get_or_insert_with(Vec::new).push(
                        k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                            key: k.clone(),
                            operator: "In".into(),
                            values: Some(vec![v.clone()]),
                        },
                    );
                }
            }
        }
        Constraint {
            max_skew: c.max_skew as i64,
            key: c.topology_key.clone(),
            selects: Selects::Labels(label_selector(sel.as_ref())),
            min_domains: c.min_domains.unwrap_or(1) as i64,
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    fn counts(&self, candidate: &PodInfo, pod: &PodInfo) -> bool {
        if candidate.namespace != pod.namespace || candidate.terminating {
            return false;
        }
        match &self.selects {
            Selects::Labels(s) => s.matches(&candidate.labels),
            Selects::Controller(uid) => candidate.controller.as_ref().is_some_and(|c| &c.1 == uid),
        }
    }
}

fn constraints(pod: &PodInfo, when: &str) -> Vec<Constraint> {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| Constraint::from_spec(c, pod))
        .collect()
}

/// Upstream's system defaults (hostname maxSkew 3, zone maxSkew 5), for pods with a controller
/// and no constraints of their own.
fn default_constraints(pod: &PodInfo) -> Vec<Constraint> {
    let has_own = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .is_some_and(|c| !c.is_empty());
    let Some((kind, uid)) = pod.controller.as_ref() else {
        return Vec::new();
    };
    if has_own
        || !matches!(
            kind.as_str(),
            "ReplicaSet" | "StatefulSet" | "ReplicationController"
        )
    {
        return Vec::new();
    }
    [(HOSTNAME, 3), (ZONE, 5)]
        .into_iter()
        .map(|(key, skew)| Constraint {
            max_skew: skew,
            key: key.into(),
            selects: Selects::Controller(uid.clone()),
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
        })
        .collect()
}

/// Whether a node's pods count for the constraint (node inclusion policies).
fn node_included(c: &Constraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if c.honor_affinity && !pod_matches_node(pod, &node.labels, &node.name) {
        return false;
    }
    if c.honor_taints {
        let tols = pod_tolerations(pod);
        if node
            .taints
            .iter()
            .any(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tols, t))
        {
            return false;
        }
    }
    true
}

fn matching_on(c: &Constraint, pod: &PodInfo, node: &NodeInfo) -> i64 {
    node.pods.iter().filter(|p| c.counts(p, pod)).count() as i64
}

struct FilterState {
    constraints: Vec<Constraint>,
    /// per constraint: domain value → matching pods
    counts: Vec<HashMap<String, i64>>,
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn pre_filter(&self, pod: &PodInfo, cluster: &Cluster) -> Result<State, Status> {
        let cs = constraints(pod, "DoNotSchedule");
        if cs.is_empty() {
            return Ok(None);
        }
        let mut counts = vec![HashMap::new(); cs.len()];
        for node in cluster.nodes() {
            // nodes must carry every constraint's key
            if !cs.iter().all(|c| node.labels.contains_key(&c.key)) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if !node_included(c, pod, node) {
                    continue;
                }
                let v = node.labels[&c.key].clone();
                *counts[i].entry(v).or_insert(0) += matching_on(c, pod, node);
            }
        }
        Ok(Some(Box::new(FilterState {
            constraints: cs,
            counts,
        })))
    }

    fn filter(&self, s: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(st) = state::<FilterState>(s) else {
            return Status::success();
        };
        for (c, counts) in st.constraints.iter().zip(&st.counts) {
            let Some(value) = node.labels.get(&c.key) else {
                return Status::unresolvable(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                );
            };
            let self_match = i64::from(c.counts(pod, pod));
            let min = if (counts.len() as i64) < c.min_domains {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let here = counts.get(value).copied().unwrap_or(0);
            if here + self_match - min > c.max_skew {
                return Status::unschedulable(
                    "node(s) didn't match pod topology spread constraints",
                );
            }
        }
        Status::success()
    }
}

struct ScoreState {
    constraints: Vec<Constraint>,
    /// per constraint: domain value → matching pods (hostname counted per node)
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
    /// Own constraints need every key on the node; system defaults skip missing ones.
    require_all: bool,
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn pre_score(&self, pod: &PodInfo, cluster: &Cluster, feasible: &[&NodeInfo]) -> State {
        let mut cs = constraints(pod, "ScheduleAnyway");
        let require_all = !cs.is_empty();
        if cs.is_empty() {
            cs = default_constraints(pod);
        }
        if cs.is_empty() {
            return None;
        }
        // domains among the feasible nodes weigh each constraint (log(domains + 2))
        let weights = cs
            .iter()
            .map(|c| {
                let mut vals: Vec<&String> = feasible
                    .iter()
                    .filter_map(|n| n.labels.get(&c.key))
                    .collect();
                vals.sort();
                vals.dedup();
                ((vals.len() + 2) as f64).ln()
            })
            .collect();
        let mut counts = vec![HashMap::new(); cs.len()];
        for node in cluster.nodes() {
            for (i, c) in cs.iter().enumerate() {
                let Some(v) = node.labels.get(&c.key) else {
                    continue;
                };
                if !node_included(c, pod, node) {
                    continue;
                }
                *counts[i].entry(v.clone()).or_insert(0) += matching_on(c, pod, node);
            }
        }
        Some(Box::new(ScoreState {
            constraints: cs,
            counts,
            weights,
            require_all,
        }))
    }

    /// Lower is better before normalizing; -1 marks nodes missing a required label.
    fn score(&self, s: &State, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state::<ScoreState>(s) else {
            return 0;
        };
        let mut total = 0.0;
        for ((c, counts), w) in st.constraints.iter().zip(&st.counts).zip(&st.weights) {
            let Some(v) = node.labels.get(&c.key) else {
                if st.require_all {
                    return -1;
                }
                continue;
            };
            let cnt = counts.get(v).copied().unwrap_or(0);
            total += cnt as f64 * w + (c.max_skew - 1) as f64;
        }
        total.round() as i64
    }

    fn normalize(&self, s: &State, scores: &mut [i64]) {
        if s.is_none() {
            return;
        }
        let valid = || scores.iter().copied().filter(|v| *v >= 0);
        let max = valid().max().unwrap_or(0);
        let min = valid().min().unwrap_or(0);
        for v in scores.iter_mut() {
            *v = if *v < 0 {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *v) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::*;
    use serde_json::{json, Value};

    fn spread(key: &str, skew: i32, when: &str, extra: Value) -> Value {
        let mut c = json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            c[k] = v;
        }
        json!({"topologySpreadConstraints": [c]})
    }

    fn web(name: &str, spec: Value) -> k8s_openapi::api::core::v1::Pod {
        labeled(pod(name, "0", "0", spec), json!({"app": "web"}))
    }

    fn zones() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            node("a", "4", "8Gi", json!({"zone": "z1"})),
            node("b", "4", "8Gi", json!({"zone": "z2"})),
            node("c", "4", "8Gi", json!({})),
        ]
    }

    fn filter(c: &Cluster, p: &PodInfo, n: &str) -> Status {
        let st = PodTopologySpread.pre_filter(p, c).unwrap();
        PodTopologySpread.filter(&st, p, &node_info(c, n))
    }

    #[test]
    fn max_skew_and_missing_label() {
        let c = cluster(zones(), vec![(web("w1", json!({})), "a")]);
        let p = info(web("w2", spread("zone", 1, "DoNotSchedule", json!({}))));
        let st = filter(&c, &p, "a");
        assert_eq!(st.code, Code::Unschedulable);
        assert_eq!(
            st.reasons,
            vec!["node(s) didn't match pod topology spread constraints"]
        );
        assert!(filter(&c, &p, "b").is_success());
        let st = filter(&c, &p, "c");
        assert_eq!(st.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            st.reasons,
            vec!["node(s) didn't match pod topology spread constraints (missing required label)"]
        );
        let loose = info(web("w2", spread("zone", 2, "DoNotSchedule", json!({}))));
        assert!(filter(&c, &loose, "a").is_success());
    }

    #[test]
    fn min_domains_and_node_affinity_policy() {
        let c = cluster(zones(), vec![(web("w1", json!({})), "b")]);
        // two domains exist, minDomains 3: global minimum counts as 0
        let p = info(web(
            "w2",
            spread("zone", 1, "DoNotSchedule", json!({"minDomains": 3})),
        ));
        assert!(!filter(&c, &p, "b").is_success());
        let p = info(web(
            "w2",
            spread("zone", 1, "DoNotSchedule", json!({"minDomains": 2})),
        ));
        assert!(!filter(&c, &p, "b").is_success());
        assert!(filter(&c, &p, "a").is_success());
        // Honor (default): zone z1 is excluded by the pod's node selector, so z2 is the only
        // domain and its minimum is its own count
        let mut spec = spread("zone", 1, "DoNotSchedule", json!({}));
        spec["nodeSelector"] = json!({"zone": "z2"});
        assert!(filter(&c, &info(web("w2", spec.clone())), "b").is_success());
        spec["topologySpreadConstraints"][0]["nodeAffinityPolicy"] = json!("Ignore");
        assert!(!filter(&c, &info(web("w2", spec)), "b").is_success());
    }

    #[test]
    fn schedule_anyway_scores_and_defaults() {
        let owner = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1", "controller": true}]);
        let mut w1 = web("w1", json!({}));
        w1.metadata.owner_references = serde_json::from_value(owner.clone()).unwrap();
        let c = cluster(
            vec![
                node("a", "4", "8Gi", json!({})),
                node("b", "4", "8Gi", json!({})),
                node("c", "4", "8Gi", json!({})),
            ],
            vec![(w1, "a")],
        );
        let mut w2 = web("w2", json!({}));
        w2.metadata.owner_references = serde_json::from_value(owner).unwrap();
        let p = info(w2);
        let nodes: Vec<NodeInfo> = ["a", "b", "c"].iter().map(|n| node_info(&c, n)).collect();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let st = PodTopologySpread.pre_score(&p, &c, &refs);
        assert!(st.is_some(), "default constraints apply to controlled pods");
        let mut s: Vec<i64> = nodes
            .iter()
            .map(|n| PodTopologySpread.score(&st, &p, n))
            .collect();
        PodTopologySpread.normalize(&st, &mut s);
        assert!(s[0] < s[1] && s[1] == s[2], "{s:?}");
        // uncontrolled pod without constraints: no spreading score
        let bare = info(web("w3", json!({})));
        assert!(PodTopologySpread.pre_score(&bare, &c, &refs).is_none());
        // explicit ScheduleAnyway
        let p = info(web("w2", spread(HOSTNAME, 1, "ScheduleAnyway", json!({}))));
        let st = PodTopologySpread.pre_score(&p, &c, &refs);
        let mut s: Vec<i64> = nodes
            .iter()
            .map(|n| PodTopologySpread.score(&st, &p, n))
            .collect();
        PodTopologySpread.normalize(&st, &mut s);
        assert_eq!(s, vec![0, 100, 100]);
    }
}
