//! TaintToleration: NoSchedule/NoExecute taints must be tolerated; PreferNoSchedule scores.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{default_normalize, FilterPlugin, ScorePlugin, State, Status};

pub struct TaintToleration;

/// Whether a toleration tolerates a taint (upstream's `ToleratesTaint`).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

pub fn pod_tolerations(pod: &PodInfo) -> &[Toleration] {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// Message for an untolerated taint, as upstream.
pub fn untolerated_reason(taint: &Taint) -> String {
    format!(
        "node(s) had untolerated taint {{{}: {}}}",
        taint.key,
        taint.value.as_deref().unwrap_or("")
    )
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        let tols = pod_tolerations(pod);
        match node
            .taints
            .iter()
            .find(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tols, t))
        {
            Some(t) => Status::unresolvable(untolerated_reason(t)),
            None => Status::success(),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn weight(&self) -> i64 {
        3
    }

    fn score(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> i64 {
        if node.taints.is_empty() {
            return 0;
        }
        // tolerations that can tolerate PreferNoSchedule, filtered in place: this runs for
        // every feasible node and should not allocate
        let tols = pod_tolerations(pod).iter().filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        });
        node.taints
            .iter()
            .filter(|t| {
                t.effect == "PreferNoSchedule" && !tols.clone().any(|tol| tolerates(tol, t))
            })
            .count() as i64
    }

    fn normalize(&self, _: &State, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::*;
    use serde_json::json;

    fn ni(taints: serde_json::Value) -> NodeInfo {
        NodeInfo::from_node(node_with_spec("n", json!({"taints": taints})))
    }

    #[test]
    fn untolerated_no_schedule_fails_with_upstream_text() {
        let node =
            ni(json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]));
        let p = info(pod("p", "1", "1", json!({})));
        let st = FilterPlugin::filter(&TaintToleration, &None, &p, &node);
        assert_eq!(st.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            st.reasons,
            vec!["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
        let tol = info(pod(
            "p",
            "1",
            "1",
            json!({"tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}),
        ));
        assert!(FilterPlugin::filter(&TaintToleration, &None, &tol, &node).is_success());
    }

    #[test]
    fn equal_operator_and_effects() {
        let node = ni(json!([{"key": "k", "value": "v", "effect": "NoExecute"},
                             {"key": "soft", "effect": "PreferNoSchedule"}]));
        let wrong = info(pod(
            "p",
            "1",
            "1",
            json!({"tolerations": [{"key": "k", "value": "x"}]}),
        ));
        let st = FilterPlugin::filter(&TaintToleration, &None, &wrong, &node);
        assert_eq!(st.reasons, vec!["node(s) had untolerated taint {k: v}"]);
        let right = info(pod(
            "p",
            "1",
            "1",
            json!({"tolerations": [{"key": "k", "value": "v"}]}),
        ));
        assert!(FilterPlugin::filter(&TaintToleration, &None, &right, &node).is_success());
        let wrong_effect = info(pod(
            "p",
            "1",
            "1",
            json!({"tolerations": [
            {"key": "k", "operator": "Exists", "effect": "NoSchedule"}]}),
        ));
        assert!(!FilterPlugin::filter(&TaintToleration, &None, &wrong_effect, &node).is_success());
        let all = info(pod(
            "p",
            "1",
            "1",
            json!({"tolerations": [{"operator": "Exists"}]}),
        ));
        assert!(FilterPlugin::filter(&TaintToleration, &None, &all, &node).is_success());
    }

    #[test]
    fn prefer_no_schedule_scores() {
        let soft = ni(
            json!([{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}]),
        );
        let clean = ni(json!([]));
        let p = info(pod("p", "1", "1", json!({})));
        let mut scores = vec![
            ScorePlugin::score(&TaintToleration, &None, &p, &soft),
            ScorePlugin::score(&TaintToleration, &None, &p, &clean),
        ];
        assert_eq!(scores, vec![2, 0]);
        ScorePlugin::normalize(&TaintToleration, &None, &mut scores);
        assert_eq!(scores, vec![0, 100]);
        let tol = info(pod(
            "p",
            "1",
            "1",
            json!({"tolerations": [{"key": "a", "operator": "Exists"}]}),
        ));
        assert_eq!(ScorePlugin::score(&TaintToleration, &None, &tol, &soft), 1);
    }
}
