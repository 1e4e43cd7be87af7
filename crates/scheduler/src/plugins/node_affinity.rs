//! NodeAffinity: nodeSelector and required node affinity filter; preferred terms score.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

use crate::cache::{Labels, NodeInfo, PodInfo};
use crate::framework::{default_normalize, FilterPlugin, ScorePlugin, State, Status};

pub struct NodeAffinity;

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A node selector term: all expressions and fields must match; an empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, labels: &Labels, node_name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(node_name)))
}

/// nodeSelector and required node affinity (what PodTopologySpread's Honor policy uses too).
pub fn pod_matches_node(pod: &PodInfo, labels: &Labels, node_name: &str) -> bool {
    let Some(spec) = pod.pod.spec.as_ref() else {
        return true;
    };
    if let Some(sel) = spec.node_selector.as_ref() {
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(ns) => ns
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, labels, node_name)),
    }
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod_matches_node(pod, &node.labels, &node.name) {
            Status::success()
        } else {
            Status::unresolvable("node(s) didn't match Pod's node affinity/selector")
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn score(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> i64 {
        pod.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|p| p.weight != 0 && term_matches(&p.preference, &node.labels, &node.name))
            .map(|p| p.weight as i64)
            .sum()
    }

    fn normalize(&self, _: &State, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    fn ni(labels: serde_json::Value) -> NodeInfo {
        NodeInfo::from_node(node("n1", "1", "1Gi", labels))
    }

    fn required(exprs: serde_json::Value, fields: serde_json::Value) -> PodInfo {
        info(pod(
            "p",
            "0",
            "0",
            json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": exprs, "matchFields": fields}]}}}}),
        ))
    }

    #[test]
    fn node_selector() {
        let n = ni(json!({"disk": "ssd"}));
        let ok = info(pod("p", "0", "0", json!({"nodeSelector": {"disk": "ssd"}})));
        let bad = info(pod("p", "0", "0", json!({"nodeSelector": {"disk": "hdd"}})));
        assert!(FilterPlugin::filter(&NodeAffinity, &None, &ok, &n).is_success());
        assert_eq!(
            FilterPlugin::filter(&NodeAffinity, &None, &bad, &n).reasons,
            vec!["node(s) didn't match Pod's node affinity/selector"]
        );
    }

    #[test]
    fn operators() {
        let n = ni(json!({"zone": "a", "gen": "5"}));
        let cases = [
            (
                json!([{"key": "zone", "operator": "In", "values": ["a", "b"]}]),
                true,
            ),
            (
                json!([{"key": "zone", "operator": "In", "values": ["b"]}]),
                false,
            ),
            (
                json!([{"key": "zone", "operator": "NotIn", "values": ["b"]}]),
                true,
            ),
            (
                json!([{"key": "missing", "operator": "NotIn", "values": ["b"]}]),
                true,
            ),
            (json!([{"key": "zone", "operator": "Exists"}]), true),
            (json!([{"key": "zone", "operator": "DoesNotExist"}]), false),
            (
                json!([{"key": "missing", "operator": "DoesNotExist"}]),
                true,
            ),
            (
                json!([{"key": "gen", "operator": "Gt", "values": ["4"]}]),
                true,
            ),
            (
                json!([{"key": "gen", "operator": "Gt", "values": ["5"]}]),
                false,
            ),
            (
                json!([{"key": "gen", "operator": "Lt", "values": ["6"]}]),
                true,
            ),
            (
                json!([{"key": "zone", "operator": "Lt", "values": ["6"]}]),
                false,
            ),
        ];
        for (exprs, want) in cases {
            let p = required(exprs.clone(), json!([]));
            assert_eq!(
                FilterPlugin::filter(&NodeAffinity, &None, &p, &n).is_success(),
                want,
                "{exprs}"
            );
        }
        let by_name = required(
            json!([]),
            json!([{"key": "metadata.name", "operator": "In", "values": ["n1"]}]),
        );
        assert!(FilterPlugin::filter(&NodeAffinity, &None, &by_name, &n).is_success());
        let other = required(
            json!([]),
            json!([{"key": "metadata.name", "operator": "In", "values": ["n2"]}]),
        );
        assert!(!FilterPlugin::filter(&NodeAffinity, &None, &other, &n).is_success());
        let empty = required(json!([]), json!([]));
        assert!(!FilterPlugin::filter(&NodeAffinity, &None, &empty, &n).is_success());
    }

    #[test]
    fn preferred_scores() {
        let p = info(pod(
            "p",
            "0",
            "0",
            json!({"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                {"weight": 30, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
            ]}}}),
        ));
        let a = ni(json!({"zone": "a"}));
        let both = ni(json!({"zone": "a", "disk": "ssd"}));
        let none = ni(json!({}));
        let mut s: Vec<i64> = [&a, &both, &none]
            .iter()
            .map(|n| ScorePlugin::score(&NodeAffinity, &None, &p, n))
            .collect();
        assert_eq!(s, vec![10, 40, 0]);
        ScorePlugin::normalize(&NodeAffinity, &None, &mut s);
        assert_eq!(s, vec![25, 100, 0]);
    }
}
