//! InterPodAffinity: required affinity / anti-affinity (filter) and preferred terms (score),
//! counted per topology domain (`topologyKey` value).

use std::collections::{HashMap, HashSet};

use crate::cache::{Cluster, Labels, NodeInfo, PodInfo};
use crate::framework::{state, FilterPlugin, ScorePlugin, State, Status, MAX_NODE_SCORE};

pub struct InterPodAffinity;

/// Weight given to existing pods' required affinity terms matching the incoming pod.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

type Pair = (String, String);

struct FilterState {
    /// Domains where an existing pod's required anti-affinity matches the incoming pod.
    existing_anti: HashSet<Pair>,
    /// Domains with pods matching all of the incoming pod's required affinity terms.
    affinity: HashMap<Pair, i64>,
    /// Domains with pods matching one of the incoming pod's required anti-affinity terms.
    anti: HashMap<Pair, i64>,
    /// No pod matches and the pod matches its own terms: the first of a group may go anywhere.
    self_affine: bool,
}

fn pair(labels: &Labels, key: &str) -> Option<Pair> {
    labels.get(key).map(|v| (key.to_string(), v.clone()))
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn pre_filter(&self, pod: &PodInfo, cluster: &Cluster) -> Result<State, Status> {
        let ns = &cluster.namespaces;
        let mut st = FilterState {
            existing_anti: HashSet::new(),
            affinity: HashMap::new(),
            anti: HashMap::new(),
            self_affine: false,
        };
        let own = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        for node in cluster.nodes() {
            if !own && node.pods_with_required_anti_affinity == 0 {
                continue;
            }
            for existing in &node.pods {
                for t in &existing.required_anti_affinity {
                    if t.matches(pod, ns) {
                        if let Some(p) = pair(&node.labels, &t.topology_key) {
                            st.existing_anti.insert(p);
                        }
                    }
                }
                if !pod.required_affinity.is_empty()
                    && pod
                        .required_affinity
                        .iter()
                        .all(|t| t.matches(existing, ns))
                {
                    for t in &pod.required_affinity {
                        if let Some(p) = pair(&node.labels, &t.topology_key) {
                            *st.affinity.entry(p).or_default() += 1;
                        }
                    }
                }
                for t in &pod.required_anti_affinity {
                    if t.matches(existing, ns) {
                        if let Some(p) = pair(&node.labels, &t.topology_key) {
                            *st.anti.entry(p).or_default() += 1;
                        }
                    }
                }
            }
        }
        st.self_affine =
            st.affinity.is_empty() && pod.required_affinity.iter().all(|t| t.matches(pod, ns));
        Ok(Some(Box::new(st)))
    }

    fn filter(&self, s: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(st) = state::<FilterState>(s) else {
            return Status::success();
        };
        // every required affinity term needs a matching pod in the node's domain
        let mut exist = true;
        for t in &pod.required_affinity {
            match pair(&node.labels, &t.topology_key) {
                None => return Status::unresolvable("node(s) didn't match pod affinity rules"),
                Some(p) => {
                    if st.affinity.get(&p).copied().unwrap_or(0) <= 0 {
                        exist = false;
                    }
                }
            }
        }
        if !exist && !st.self_affine {
            return Status::unresolvable("node(s) didn't match pod affinity rules");
        }
        let anti_hit = pod.required_anti_affinity.iter().any(|t| {
            pair(&node.labels, &t.topology_key)
                .is_some_and(|p| st.anti.get(&p).copied().unwrap_or(0) > 0)
        });
        if anti_hit {
            return Status::unschedulable("node(s) didn't match pod anti-affinity rules");
        }
        let existing_hit = node.labels.iter().any(|(k, v)| {
            !st.existing_anti.is_empty() && st.existing_anti.contains(&(k.clone(), v.clone()))
        });
        if existing_hit {
            return Status::unschedulable(
                "node(s) didn't satisfy existing pods anti-affinity rules",
            );
        }
        Status::success()
    }
}

/// Topology key → value → score.
struct ScoreState(HashMap<String, HashMap<String, i64>>);

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn pre_score(&self, pod: &PodInfo, cluster: &Cluster, _feasible: &[&NodeInfo]) -> State {
        let ns = &cluster.namespaces;
        let own = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let mut scores: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let mut add = |labels: &Labels, key: &str, w: i64| {
            if let Some(v) = labels.get(key) {
                *scores
                    .entry(key.to_string())
                    .or_default()
                    .entry(v.clone())
                    .or_default() += w;
            }
        };
        for node in cluster.nodes() {
            if !own && node.pods_with_affinity == 0 {
                continue;
            }
            for ex in &node.pods {
                for t in &pod.preferred_affinity {
                    if t.matches(ex, ns) {
                        add(&node.labels, &t.topology_key, t.weight);
                    }
                }
                for t in &pod.preferred_anti_affinity {
                    if t.matches(ex, ns) {
                        add(&node.labels, &t.topology_key, -t.weight);
                    }
                }
                for t in &ex.required_affinity {
                    if t.matches(pod, ns) {
                        add(&node.labels, &t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                    }
                }
                for t in &ex.preferred_affinity {
                    if t.matches(pod, ns) {
                        add(&node.labels, &t.topology_key, t.weight);
                    }
                }
                for t in &ex.preferred_anti_affinity {
                    if t.matches(pod, ns) {
                        add(&node.labels, &t.topology_key, -t.weight);
                    }
                }
            }
        }
        if scores.is_empty() {
            return None;
        }
        Some(Box::new(ScoreState(scores)))
    }

    fn score(&self, s: &State, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(ScoreState(scores)) = state::<ScoreState>(s) else {
            return 0;
        };
        scores
            .iter()
            .filter_map(|(k, vals)| node.labels.get(k).and_then(|v| vals.get(v)))
            .sum()
    }

    /// Min-max scaling to 0..=100.
    fn normalize(&self, s: &State, scores: &mut [i64]) {
        if s.is_none() {
            return;
        }
        let max = scores.iter().copied().max().unwrap_or(0);
        let min = scores.iter().copied().min().unwrap_or(0);
        for v in scores.iter_mut() {
            *v = if max > min {
                MAX_NODE_SCORE * (*v - min) / (max - min)
            } else {
                0
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

    fn term(key: &str, app: &str) -> Value {
        json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
    }

    fn run_filter(c: &Cluster, p: &PodInfo, node: &str) -> Status {
        let st = InterPodAffinity.pre_filter(p, c).unwrap();
        InterPodAffinity.filter(&st, p, &node_info(c, node))
    }

    fn three_zones() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            node("a", "4", "8Gi", json!({"zone": "z1"})),
            node("b", "4", "8Gi", json!({"zone": "z1"})),
            node("c", "4", "8Gi", json!({"zone": "z2"})),
        ]
    }

    #[test]
    fn required_affinity_by_zone() {
        let db = labeled(pod("db", "0", "0", json!({})), json!({"app": "db"}));
        let c = cluster(three_zones(), vec![(db, "a")]);
        let p = info(pod(
            "web",
            "0",
            "0",
            json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "db")]}}}),
        ));
        assert!(run_filter(&c, &p, "a").is_success());
        assert!(run_filter(&c, &p, "b").is_success());
        let st = run_filter(&c, &p, "c");
        assert_eq!(st.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(st.reasons, vec!["node(s) didn't match pod affinity rules"]);
        // first pod of a self-affine group may go anywhere
        let first = info(labeled(
            pod(
                "w",
                "0",
                "0",
                json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}}),
            ),
            json!({"app": "web"}),
        ));
        assert!(run_filter(&c, &first, "c").is_success());
        // other namespaces don't count unless listed
        let other_ns = info(pod(
            "web",
            "0",
            "0",
            json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone", "namespaces": ["prod"]}]}}}),
        ));
        assert!(!run_filter(&c, &other_ns, "a").is_success());
        let any_ns = info(pod(
            "web",
            "0",
            "0",
            json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone", "namespaceSelector": {}}]}}}),
        ));
        assert!(run_filter(&c, &any_ns, "a").is_success());
    }

    #[test]
    fn namespace_selector_uses_namespace_labels() {
        let db = labeled(pod("db", "0", "0", json!({})), json!({"app": "db"}));
        let mut c = cluster(three_zones(), vec![(db, "a")]);
        let p = info(pod(
            "web",
            "0",
            "0",
            json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone",
                 "namespaceSelector": {"matchLabels": {"team": "x"}}}]}}}),
        ));
        c.namespaces.insert(
            "default".into(),
            [("team".to_string(), "y".to_string())].into(),
        );
        assert!(!run_filter(&c, &p, "a").is_success());
        c.namespaces.insert(
            "default".into(),
            [("team".to_string(), "x".to_string())].into(),
        );
        assert!(run_filter(&c, &p, "a").is_success());
    }

    #[test]
    fn required_anti_affinity_both_directions() {
        let web = labeled(pod("w1", "0", "0", json!({})), json!({"app": "web"}));
        let c = cluster(three_zones(), vec![(web, "a")]);
        let p = info(pod(
            "w2",
            "0",
            "0",
            json!({"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname", "web")]}}}),
        ));
        let st = run_filter(&c, &p, "a");
        assert_eq!(st.code, Code::Unschedulable);
        assert_eq!(
            st.reasons,
            vec!["node(s) didn't match pod anti-affinity rules"]
        );
        assert!(run_filter(&c, &p, "b").is_success());
        // an existing pod's anti-affinity repels a matching newcomer from its zone
        let guard = pod(
            "g",
            "0",
            "0",
            json!({"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}}),
        );
        let c = cluster(three_zones(), vec![(guard, "a")]);
        let newcomer = info(labeled(
            pod("w", "0", "0", json!({})),
            json!({"app": "web"}),
        ));
        assert_eq!(
            run_filter(&c, &newcomer, "b").reasons,
            vec!["node(s) didn't satisfy existing pods anti-affinity rules"]
        );
        assert!(run_filter(&c, &newcomer, "c").is_success());
    }

    #[test]
    fn preferred_anti_affinity_spreads() {
        // seed 004: preferred anti-affinity, weight 100, on hostname
        let spec = json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": term("kubernetes.io/hostname", "web")}]}}});
        let w1 = labeled(pod("w1", "0", "0", spec.clone()), json!({"app": "web"}));
        let c = cluster(three_zones(), vec![(w1, "a")]);
        let p = info(labeled(pod("w2", "0", "0", spec), json!({"app": "web"})));
        let nodes: Vec<NodeInfo> = ["a", "b", "c"].iter().map(|n| node_info(&c, n)).collect();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let st = InterPodAffinity.pre_score(&p, &c, &refs);
        let mut s: Vec<i64> = nodes
            .iter()
            .map(|n| InterPodAffinity.score(&st, &p, n))
            .collect();
        // both directions: the incoming pod's term and the existing pod's term
        assert_eq!(s, vec![-200, 0, 0]);
        InterPodAffinity.normalize(&st, &mut s);
        assert_eq!(s, vec![0, 100, 100]);
    }
}
