//! PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway constraints (or the
//! system default spreading of a workload's pods over hostnames and zones) score.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use minato_selectors::LabelSelector;

use super::node_affinity::pod_matches_node;
use super::taint_toleration::{pod_tolerations, tolerated};
use crate::cache::{label_selector, Cluster, NodeInfo, PodInfo};
use crate::framework::{state, FilterPlugin, ScorePlugin, State, Status, MAX_NODE_SCORE};

pub struct PodTopologySpread;

pub use crate::cache::{LABEL_HOSTNAME as HOSTNAME, LABEL_ZONE as ZONE};

/// Which pods a constraint counts.
#[derive(Debug, Clone, PartialEq)]
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

/// The node of every pod a constraint counts. Candidates come from the cluster's pod index
/// (the controller's pods, or the selector's smallest posting list), so this costs the pods
/// that may match rather than every pod in the cluster.
///
/// Same as `Constraint::counts`: the index yields pods of the pod's namespace only, with the
/// controller or selector already matched where it says so.
fn matching_nodes<'a>(c: &Constraint, pod: &PodInfo, cluster: &'a Cluster) -> Vec<&'a NodeInfo> {
    match &c.selects {
        Selects::Labels(sel) => {
            let (exact, candidates) = cluster.candidate_pods(&pod.namespace, sel);
            candidates
                .filter(|e| !e.terminating && (exact || sel.matches(&e.pod.labels)))
                .map(|e| e.node)
                .collect()
        }
        Selects::Controller(uid) => cluster
            .controlled_pods(&pod.namespace, uid)
            .filter(|e| !e.terminating)
            .map(|e| e.node)
            .collect(),
    }
}

/// `matching_nodes` per constraint, computed once per distinct selector (the system defaults
/// and most users' constraints share one), and only where `wanted`.
fn matching_nodes_per_constraint<'a>(
    cs: &[Constraint],
    pod: &PodInfo,
    cluster: &'a Cluster,
    wanted: impl Fn(usize) -> bool,
) -> Vec<Rc<Vec<&'a NodeInfo>>> {
    let mut out: Vec<Rc<Vec<&'a NodeInfo>>> = Vec::with_capacity(cs.len());
    for (i, c) in cs.iter().enumerate() {
        let shared = (0..i).find(|j| wanted(*j) && cs[*j].selects == c.selects);
        out.push(match shared {
            Some(j) => Rc::clone(&out[j]),
            None if wanted(i) => Rc::new(matching_nodes(c, pod, cluster)),
            None => Rc::default(),
        });
    }
    out
}

/// Adds one to the count of `value`, allocating the key only the first time.
fn bump(counts: &mut HashMap<String, i64>, value: &str) {
    match counts.get_mut(value) {
        Some(n) => *n += 1,
        None => {
            counts.insert(value.to_string(), 1);
        }
    }
}

struct FilterState {
    constraints: Vec<Constraint>,
    /// per constraint: domain value → matching pods
    counts: Vec<HashMap<String, i64>>,
    /// per constraint: the global minimum (0 below minDomains), computed once rather than
    /// for every node filtered
    mins: Vec<i64>,
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
        // nodes must carry every constraint's key
        let eligible = |c: &Constraint, node: &NodeInfo| {
            cs.iter().all(|c| node.label(&c.key).is_some()) && node_included(c, pod, node)
        };
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); cs.len()];
        // every eligible node's domain exists, matching pods or not (minimum, minDomains)
        for node in cluster.nodes() {
            for (i, c) in cs.iter().enumerate() {
                if eligible(c, node) {
                    if let Some(v) = node.label(&c.key) {
                        if !counts[i].contains_key(v) {
                            counts[i].insert(v.to_string(), 0);
                        }
                    }
                }
            }
        }
        let matching = matching_nodes_per_constraint(&cs, pod, cluster, |_| true);
        for (i, c) in cs.iter().enumerate() {
            for node in matching[i].iter() {
                if eligible(c, node) {
                    if let Some(v) = node.label(&c.key) {
                        bump(&mut counts[i], v);
                    }
                }
            }
        }
        let mins = cs
            .iter()
            .zip(&counts)
            .map(|(c, counts)| {
                if (counts.len() as i64) < c.min_domains {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                }
            })
            .collect();
        Ok(Some(Box::new(FilterState {
            constraints: cs,
            counts,
            mins,
        })))
    }

    fn filter(&self, s: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(st) = state::<FilterState>(s) else {
            return Status::success();
        };
        for ((c, counts), min) in st.constraints.iter().zip(&st.counts).zip(&st.mins) {
            let Some(value) = node.label(&c.key) else {
                return Status::unresolvable(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                );
            };
            let self_match = i64::from(c.counts(pod, pod));
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

/// The ScheduleAnyway constraints, else the system defaults; and whether a node must carry
/// every key (own constraints) or may miss some (defaults). None when nothing applies.
fn score_constraints(pod: &PodInfo) -> Option<(Vec<Constraint>, bool)> {
    let cs = constraints(pod, "ScheduleAnyway");
    if !cs.is_empty() {
        return Some((cs, true));
    }
    let cs = default_constraints(pod);
    (!cs.is_empty()).then_some((cs, false))
}

/// A constraint's weight from the number of its domains among the feasible nodes.
fn weight(domains: usize) -> f64 {
    ((domains + 2) as f64).ln()
}

/// Per constraint (where `wanted`): domain value → pods it counts there. Domains without
/// matching pods stay absent, which score reads as 0.
fn score_counts<'a>(
    cs: &[Constraint],
    pod: &PodInfo,
    cluster: &'a Cluster,
    wanted: impl Fn(usize) -> bool,
) -> Vec<HashMap<&'a str, i64>> {
    let matching = matching_nodes_per_constraint(cs, pod, cluster, &wanted);
    let mut counts: Vec<HashMap<&str, i64>> = vec![HashMap::new(); cs.len()];
    for (i, c) in cs.iter().enumerate() {
        for node in matching[i].iter() {
            if let Some(v) = node.label(&c.key) {
                if node_included(c, pod, node) {
                    *counts[i].entry(v).or_default() += 1;
                }
            }
        }
    }
    counts
}

/// What `score_all` leaves for `normalize`, which only needs to know that the plugin scored.
struct Scored;

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
        let (cs, require_all) = score_constraints(pod)?;
        let mut domains: HashSet<&str> = HashSet::with_capacity(feasible.len());
        let weights = cs
            .iter()
            .map(|c| {
                domains.clear();
                domains.extend(feasible.iter().filter_map(|n| n.label(&c.key)));
                weight(domains.len())
            })
            .collect();
        let counts = score_counts(&cs, pod, cluster, |_| true)
            .into_iter()
            .map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            .collect();
        Some(Box::new(ScoreState {
            constraints: cs,
            counts,
            weights,
            require_all,
        }))
    }

    /// `pre_score` and `score` in one pass, for the algorithm: each feasible node's domain is
    /// read and looked up once, domains are counted by borrowed name, and constraints no
    /// feasible node has a domain for count no pods (their counts would never be read). Same
    /// scores as the two steps; the state it returns is only for `normalize`.
    fn score_all(
        &self,
        pod: &PodInfo,
        cluster: &Cluster,
        feasible: &[&NodeInfo],
    ) -> (State, Vec<i64>) {
        let Some((cs, require_all)) = score_constraints(pod) else {
            return (None, vec![0; feasible.len()]);
        };
        let has_domain: Vec<bool> = cs
            .iter()
            .map(|c| feasible.iter().any(|n| n.label(&c.key).is_some()))
            .collect();
        let counts = score_counts(&cs, pod, cluster, |i| has_domain[i]);
        let mut totals = vec![0.0f64; feasible.len()];
        let mut missing = vec![false; feasible.len()];
        let mut here: Vec<Option<i64>> = vec![None; feasible.len()];
        let mut domains: HashMap<&str, i64> = HashMap::with_capacity(feasible.len());
        for (c, counts) in cs.iter().zip(&counts) {
            // each feasible node's count; `domains` ends up holding the distinct domains
            domains.clear();
            for (h, n) in here.iter_mut().zip(feasible) {
                *h = n.label(&c.key).map(|v| {
                    *domains
                        .entry(v)
                        .or_insert_with(|| counts.get(v).copied().unwrap_or(0))
                });
            }
            let w = weight(domains.len());
            for ((t, m), h) in totals.iter_mut().zip(&mut missing).zip(&here) {
                match h {
                    Some(cnt) => *t += *cnt as f64 * w + (c.max_skew - 1) as f64,
                    None => *m |= require_all,
                }
            }
        }
        let scores = totals
            .iter()
            .zip(&missing)
            .map(|(t, m)| if *m { -1 } else { t.round() as i64 })
            .collect();
        (Some(Box::new(Scored)), scores)
    }

    /// Lower is better before normalizing; -1 marks nodes missing a required label.
    fn score(&self, s: &State, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state::<ScoreState>(s) else {
            return 0;
        };
        let mut total = 0.0;
        for ((c, counts), w) in st.constraints.iter().zip(&st.counts).zip(&st.weights) {
            let Some(v) = node.label(&c.key) else {
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

    type Counts = std::collections::BTreeMap<String, i64>;

    /// The per-domain counts as computed before the pod index: every node's every pod.
    fn scan_counts(
        pod: &PodInfo,
        cluster: &Cluster,
        cs: &[Constraint],
        filter: bool,
    ) -> Vec<Counts> {
        let mut counts = vec![Counts::new(); cs.len()];
        for node in cluster.nodes() {
            if filter && !cs.iter().all(|c| node.labels.contains_key(&c.key)) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                let Some(v) = node.labels.get(&c.key) else {
                    continue;
                };
                if !node_included(c, pod, node) {
                    continue;
                }
                let n = node.pods.iter().filter(|p| c.counts(p, pod)).count() as i64;
                *counts[i].entry(v.clone()).or_insert(0) += n;
            }
        }
        if !filter {
            // score reads absent domains as 0
            counts.iter_mut().for_each(|m| m.retain(|_, n| *n != 0));
        }
        counts
    }

    fn sorted(m: &HashMap<String, i64>) -> Counts {
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Incoming pods covering every kind of constraint the plugin handles.
    fn incoming() -> Vec<PodInfo> {
        let owner = |kind: &str, uid: &str| {
            json!([{"apiVersion": "apps/v1", "kind": kind, "name": "o", "uid": uid,
                "controller": true}])
        };
        let c = |key: &str, skew: i32, when: &str, sel: Value, extra: Value| {
            let mut c = json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
                "labelSelector": sel});
            for (k, v) in extra.as_object().cloned().unwrap_or_default() {
                c[k] = v;
            }
            c
        };
        let app_a = json!({"matchLabels": {"app": "a"}});
        let mut out = Vec::new();
        for when in ["DoNotSchedule", "ScheduleAnyway"] {
            let specs = [
                vec![c("zone", 1, when, app_a.clone(), json!({}))],
                vec![c(HOSTNAME, 2, when, app_a.clone(), json!({}))],
                vec![
                    c("zone", 1, when, app_a.clone(), json!({})),
                    c(HOSTNAME, 1, when, app_a.clone(), json!({})),
                ],
                vec![c(
                    "zone",
                    1,
                    when,
                    app_a.clone(),
                    json!({"matchLabelKeys": ["tier"]}),
                )],
                vec![c("zone", 1, when, app_a.clone(), json!({"minDomains": 5}))],
                vec![c(
                    "zone",
                    1,
                    when,
                    app_a.clone(),
                    json!({"nodeAffinityPolicy": "Ignore"}),
                )],
                vec![c(
                    "disk",
                    1,
                    when,
                    app_a.clone(),
                    json!({"nodeTaintsPolicy": "Honor"}),
                )],
                vec![c(
                    "zone",
                    1,
                    when,
                    json!({"matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["a", "b", "a"]}]}),
                    json!({}),
                )],
                vec![c(
                    "zone",
                    1,
                    when,
                    json!({"matchExpressions": [
                    {"key": "app", "operator": "NotIn", "values": ["a"]}]}),
                    json!({}),
                )],
                vec![c("zone", 1, when, json!({}), json!({}))],
                vec![c(
                    ZONE,
                    3,
                    when,
                    json!({"matchLabels": {"app": "b", "tier": "db"}}),
                    json!({}),
                )],
            ];
            for cs in specs {
                let mut spec = json!({"topologySpreadConstraints": cs});
                let mut p = labeled(
                    pod("in", "0", "0", spec.clone()),
                    json!({"app": "a", "tier": "web"}),
                );
                out.push(info(p.clone()));
                p.metadata.namespace = Some("other".into());
                out.push(info(p));
                spec["nodeSelector"] = json!({"disk": "ssd"});
                out.push(info(labeled(
                    pod("in", "0", "0", spec),
                    json!({"app": "a"}),
                )));
            }
        }
        for (kind, uid, ns) in [
            ("ReplicaSet", "owner-0", "default"),
            ("ReplicaSet", "owner-1", "other"),
            ("StatefulSet", "owner-2", "default"),
            ("Job", "owner-3", "default"),
        ] {
            let mut p = labeled(pod("in", "0", "0", json!({})), json!({"app": "c"}));
            p.metadata.owner_references = serde_json::from_value(owner(kind, uid)).ok();
            p.metadata.namespace = Some(ns.into());
            out.push(info(p));
        }
        out
    }

    #[test]
    fn indexed_counts_match_a_scan_of_every_pod() {
        let mut scored = 0;
        for seed in 0..4 {
            let c = random_cluster(seed);
            let all: Vec<&NodeInfo> = c.nodes().collect();
            let some: Vec<&NodeInfo> = c.nodes().step_by(2).collect();
            for p in incoming() {
                // filter: counts, then every node's verdict
                let st = PodTopologySpread.pre_filter(&p, &c).unwrap();
                if let Some(fs) = state::<FilterState>(&st) {
                    let got: Vec<Counts> = fs.counts.iter().map(sorted).collect();
                    assert_eq!(got, scan_counts(&p, &c, &fs.constraints, true));
                    for n in c.nodes() {
                        let want = scan_filter(&p, n, &fs.constraints, &got);
                        assert_eq!(PodTopologySpread.filter(&st, &p, n), want);
                    }
                }
                // score: counts, the one-pass path against the two steps and the old formula
                for feasible in [&all, &some] {
                    let st = ScorePlugin::pre_score(&PodTopologySpread, &p, &c, feasible);
                    let (st_all, all_scores) = PodTopologySpread.score_all(&p, &c, feasible);
                    assert_eq!(st.is_some(), st_all.is_some());
                    let two_step: Vec<i64> = feasible
                        .iter()
                        .map(|n| ScorePlugin::score(&PodTopologySpread, &st, &p, n))
                        .collect();
                    assert_eq!(all_scores, two_step);
                    let Some(ss) = state::<ScoreState>(&st) else {
                        assert!(all_scores.iter().all(|s| *s == 0));
                        continue;
                    };
                    let want = scan_counts(&p, &c, &ss.constraints, false);
                    assert_eq!(ss.counts.iter().map(sorted).collect::<Vec<_>>(), want);
                    assert_eq!(all_scores, scan_scores(feasible, ss, &want));
                    scored += 1;
                }
            }
        }
        assert!(scored > 100, "{scored}");
    }

    /// The filter verdict as computed before (minimum over the domains per node).
    fn scan_filter(p: &PodInfo, node: &NodeInfo, cs: &[Constraint], counts: &[Counts]) -> Status {
        for (c, counts) in cs.iter().zip(counts) {
            let Some(value) = node.labels.get(&c.key) else {
                return Status::unresolvable(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                );
            };
            let min = if (counts.len() as i64) < c.min_domains {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let here = counts.get(value).copied().unwrap_or(0);
            if here + i64::from(c.counts(p, p)) - min > c.max_skew {
                return Status::unschedulable(
                    "node(s) didn't match pod topology spread constraints",
                );
            }
        }
        Status::success()
    }

    /// The raw scores as computed before (weights from sorted, deduplicated domains).
    fn scan_scores(feasible: &[&NodeInfo], st: &ScoreState, counts: &[Counts]) -> Vec<i64> {
        let weights: Vec<f64> = st
            .constraints
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
        assert_eq!(weights, st.weights);
        feasible
            .iter()
            .map(|n| {
                let mut total = 0.0;
                for ((c, counts), w) in st.constraints.iter().zip(counts).zip(&weights) {
                    let Some(v) = n.labels.get(&c.key) else {
                        if st.require_all {
                            return -1;
                        }
                        continue;
                    };
                    let cnt = counts.get(v).copied().unwrap_or(0);
                    total += cnt as f64 * w + (c.max_skew - 1) as f64;
                }
                total.round() as i64
            })
            .collect()
    }
}
