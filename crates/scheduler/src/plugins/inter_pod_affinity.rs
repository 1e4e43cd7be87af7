//! InterPodAffinity: required affinity / anti-affinity (filter) and preferred terms (score),
//! counted per topology domain (`topologyKey` value).

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::{AffinityTerm, Cluster, IndexedPod, Labels, NodeInfo, PodInfo};
use crate::framework::{state, FilterPlugin, ScorePlugin, State, Status, MAX_NODE_SCORE};

pub struct InterPodAffinity;

/// Weight given to existing pods' required affinity terms matching the incoming pod.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Topology key → value → count; nested so a node's domain is looked up without allocating.
#[derive(Default)]
struct Domains(HashMap<String, HashMap<String, i64>>);

impl Domains {
    /// Adds `n` to the node's domain for `key`, if the node has that label.
    fn add(&mut self, labels: &Labels, key: &str, n: i64) {
        let Some(v) = labels.get(key) else {
            return;
        };
        let values = match self.0.get_mut(key) {
            Some(values) => values,
            None => self.0.entry(key.to_string()).or_default(),
        };
        match values.get_mut(v) {
            Some(c) => *c += n,
            None => {
                values.insert(v.clone(), n);
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|values| values.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct FilterState {
    /// Domains where an existing pod's required anti-affinity matches the incoming pod.
    existing_anti: Domains,
    /// Domains with pods matching all of the incoming pod's required affinity terms.
    affinity: Domains,
    /// Domains with pods matching one of the incoming pod's required anti-affinity terms.
    anti: Domains,
    /// No pod matches and the pod matches its own terms: the first of a group may go anywhere.
    self_affine: bool,
}

/// The counted pods `t` selects (same as `t.matches`), from the pod index of every namespace
/// the term covers: a term costs its candidates, not the cluster.
fn term_matches<'a>(
    t: &'a AffinityTerm,
    cluster: &'a Cluster,
) -> impl Iterator<Item = (&'a Arc<PodInfo>, &'a NodeInfo)> + 'a {
    let namespaces: Vec<&str> = if t.namespace_selector.is_none() {
        t.namespaces.iter().map(String::as_str).collect()
    } else {
        cluster
            .pod_namespaces()
            .filter(|ns| t.namespace_matches(ns, &cluster.namespaces))
            .collect()
    };
    namespaces.into_iter().flat_map(move |ns| {
        let (exact, candidates) = cluster.candidate_pods(ns, &t.selector);
        candidates
            .filter(move |e| exact || t.selector.matches(&e.pod.labels))
            .map(|e: IndexedPod<'a>| (e.pod, e.node))
    })
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn pre_filter(&self, pod: &PodInfo, cluster: &Cluster) -> Result<State, Status> {
        let ns = &cluster.namespaces;
        let mut st = FilterState {
            existing_anti: Domains::default(),
            affinity: Domains::default(),
            anti: Domains::default(),
            self_affine: false,
        };
        for e in cluster.pods_with_required_anti_affinity() {
            for t in &e.pod.required_anti_affinity {
                if t.matches(pod, ns) {
                    st.existing_anti.add(&e.node.labels, &t.topology_key, 1);
                }
            }
        }
        let own = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !own && st.existing_anti.is_empty() {
            // nothing can fail a node
            return Ok(None);
        }
        // a pod counts for affinity when it matches every term: look among the first one's
        if let Some((first, rest)) = pod.required_affinity.split_first() {
            for (existing, node) in term_matches(first, cluster) {
                if !rest.iter().all(|t| t.matches(existing, ns)) {
                    continue;
                }
                for t in &pod.required_affinity {
                    st.affinity.add(&node.labels, &t.topology_key, 1);
                }
            }
        }
        for t in &pod.required_anti_affinity {
            for (_, node) in term_matches(t, cluster) {
                st.anti.add(&node.labels, &t.topology_key, 1);
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
            match node.labels.get(&t.topology_key) {
                None => return Status::unresolvable("node(s) didn't match pod affinity rules"),
                Some(v) => {
                    if st.affinity.get(&t.topology_key, v) <= 0 {
                        exist = false;
                    }
                }
            }
        }
        if !exist && !st.self_affine {
            return Status::unresolvable("node(s) didn't match pod affinity rules");
        }
        let anti_hit = pod.required_anti_affinity.iter().any(|t| {
            node.labels
                .get(&t.topology_key)
                .is_some_and(|v| st.anti.get(&t.topology_key, v) > 0)
        });
        if anti_hit {
            return Status::unschedulable("node(s) didn't match pod anti-affinity rules");
        }
        let existing_hit = !st.existing_anti.is_empty()
            && node
                .labels
                .iter()
                .any(|(k, v)| st.existing_anti.get(k, v) > 0);
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
        let mut scores = Domains::default();
        // the incoming pod's terms: their candidates only
        let own = [
            (&pod.preferred_affinity, 1),
            (&pod.preferred_anti_affinity, -1),
        ];
        for (terms, sign) in own {
            for t in terms {
                for (_, node) in term_matches(t, cluster) {
                    scores.add(&node.labels, &t.topology_key, sign * t.weight);
                }
            }
        }
        // existing pods' terms: only pods that have any
        for IndexedPod { pod: ex, node, .. } in cluster.pods_with_affinity() {
            for t in &ex.required_affinity {
                if t.matches(pod, ns) {
                    scores.add(&node.labels, &t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                }
            }
            for t in &ex.preferred_affinity {
                if t.matches(pod, ns) {
                    scores.add(&node.labels, &t.topology_key, t.weight);
                }
            }
            for t in &ex.preferred_anti_affinity {
                if t.matches(pod, ns) {
                    scores.add(&node.labels, &t.topology_key, -t.weight);
                }
            }
        }
        if scores.is_empty() {
            return None;
        }
        Some(Box::new(ScoreState(scores.0)))
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

    type Pair = (String, String);

    fn pair(labels: &Labels, key: &str) -> Option<Pair> {
        labels.get(key).map(|v| (key.to_string(), v.clone()))
    }

    /// The filter verdict as computed before the pod index: every node's every pod.
    fn scan_filter(pod: &PodInfo, cluster: &Cluster, node: &NodeInfo) -> Status {
        let ns = &cluster.namespaces;
        let mut existing_anti: std::collections::HashSet<Pair> = Default::default();
        let mut affinity: HashMap<Pair, i64> = HashMap::new();
        let mut anti: HashMap<Pair, i64> = HashMap::new();
        for n in cluster.nodes() {
            for ex in &n.pods {
                for t in &ex.required_anti_affinity {
                    if t.matches(pod, ns) {
                        existing_anti.extend(pair(&n.labels, &t.topology_key));
                    }
                }
                if !pod.required_affinity.is_empty()
                    && pod.required_affinity.iter().all(|t| t.matches(ex, ns))
                {
                    for t in &pod.required_affinity {
                        if let Some(p) = pair(&n.labels, &t.topology_key) {
                            *affinity.entry(p).or_default() += 1;
                        }
                    }
                }
                for t in &pod.required_anti_affinity {
                    if t.matches(ex, ns) {
                        if let Some(p) = pair(&n.labels, &t.topology_key) {
                            *anti.entry(p).or_default() += 1;
                        }
                    }
                }
            }
        }
        let self_affine =
            affinity.is_empty() && pod.required_affinity.iter().all(|t| t.matches(pod, ns));
        let mut exist = true;
        for t in &pod.required_affinity {
            match pair(&node.labels, &t.topology_key) {
                None => return Status::unresolvable("node(s) didn't match pod affinity rules"),
                Some(p) => exist &= affinity.get(&p).copied().unwrap_or(0) > 0,
            }
        }
        if !exist && !self_affine {
            return Status::unresolvable("node(s) didn't match pod affinity rules");
        }
        if pod.required_anti_affinity.iter().any(|t| {
            pair(&node.labels, &t.topology_key)
                .is_some_and(|p| anti.get(&p).copied().unwrap_or(0) > 0)
        }) {
            return Status::unschedulable("node(s) didn't match pod anti-affinity rules");
        }
        if node
            .labels
            .iter()
            .any(|(k, v)| existing_anti.contains(&(k.clone(), v.clone())))
        {
            return Status::unschedulable(
                "node(s) didn't satisfy existing pods anti-affinity rules",
            );
        }
        Status::success()
    }

    /// The raw scores as computed before the pod index (None: no term applied anywhere).
    fn scan_scores(pod: &PodInfo, cluster: &Cluster) -> Option<Vec<i64>> {
        let ns = &cluster.namespaces;
        let mut scores: HashMap<Pair, i64> = HashMap::new();
        for n in cluster.nodes() {
            let mut add = |key: &str, w: i64| {
                if let Some(p) = pair(&n.labels, key) {
                    *scores.entry(p).or_default() += w;
                }
            };
            for ex in &n.pods {
                for t in &pod.preferred_affinity {
                    if t.matches(ex, ns) {
                        add(&t.topology_key, t.weight);
                    }
                }
                for t in &pod.preferred_anti_affinity {
                    if t.matches(ex, ns) {
                        add(&t.topology_key, -t.weight);
                    }
                }
                for t in &ex.required_affinity {
                    if t.matches(pod, ns) {
                        add(&t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                    }
                }
                for t in &ex.preferred_affinity {
                    if t.matches(pod, ns) {
                        add(&t.topology_key, t.weight);
                    }
                }
                for t in &ex.preferred_anti_affinity {
                    if t.matches(pod, ns) {
                        add(&t.topology_key, -t.weight);
                    }
                }
            }
        }
        if scores.is_empty() {
            return None;
        }
        let per_node = cluster
            .nodes()
            .map(|n| {
                n.labels
                    .iter()
                    .filter_map(|(k, v)| scores.get(&(k.clone(), v.clone())))
                    .sum()
            })
            .collect();
        Some(per_node)
    }

    #[test]
    fn indexed_lookups_match_a_scan_of_every_pod() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut failed, mut scored) = (0, 0);
        for seed in 0..4 {
            let c = random_cluster(seed);
            for i in 0..60 {
                let mut aff = serde_json::Map::new();
                for kind in ["podAffinity", "podAntiAffinity"] {
                    let mut k = serde_json::Map::new();
                    if rng.random_bool(0.4) {
                        let terms: Vec<Value> = (0..rng.random_range(1..3))
                            .map(|_| random_term(&mut rng))
                            .collect();
                        k.insert(
                            "requiredDuringSchedulingIgnoredDuringExecution".into(),
                            json!(terms),
                        );
                    }
                    if rng.random_bool(0.4) {
                        let w = rng.random_range(1..100);
                        k.insert(
                            "preferredDuringSchedulingIgnoredDuringExecution".into(),
                            json!([{"weight": w, "podAffinityTerm": random_term(&mut rng)}]),
                        );
                    }
                    aff.insert(kind.into(), Value::Object(k));
                }
                let app = ["a", "b", "c", "d"][rng.random_range(0..4)];
                let mut p = labeled(
                    pod(&format!("in{i}"), "0", "0", json!({"affinity": aff})),
                    json!({"app": app, "tier": "web"}),
                );
                if i % 3 == 0 {
                    p.metadata.namespace = Some("other".into());
                }
                let p = info(p);
                let st = InterPodAffinity.pre_filter(&p, &c).unwrap();
                for n in c.nodes() {
                    let got = InterPodAffinity.filter(&st, &p, n);
                    assert_eq!(
                        got,
                        scan_filter(&p, &c, n),
                        "seed {seed} pod {i} node {}",
                        n.name
                    );
                    failed += usize::from(!got.is_success());
                }
                let nodes: Vec<&NodeInfo> = c.nodes().collect();
                let st = InterPodAffinity.pre_score(&p, &c, &nodes);
                let got = st.is_some().then(|| {
                    nodes
                        .iter()
                        .map(|n| InterPodAffinity.score(&st, &p, n))
                        .collect::<Vec<_>>()
                });
                assert_eq!(got, scan_scores(&p, &c), "seed {seed} pod {i}");
                scored += usize::from(got.is_some());
            }
        }
        // the comparison had something to compare
        assert!(failed > 500 && scored > 100, "{failed} {scored}");
    }
}
