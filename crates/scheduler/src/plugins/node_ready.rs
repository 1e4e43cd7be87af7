//! NodeReady: nodes whose Ready condition is not True are not candidates, unless the pod
//! tolerates `node.kubernetes.io/not-ready` (the taint a node lifecycle controller would add;
//! when it does, TaintToleration reports it with the same message).

use std::sync::LazyLock;

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::{pod_tolerations, tolerated, untolerated_reason};
use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{FilterPlugin, State, Status};

pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

pub struct NodeReady;

/// The taint the pod must tolerate on a node that is not ready, built once.
static NOT_READY: LazyLock<Taint> = LazyLock::new(|| Taint {
    key: NOT_READY_TAINT.into(),
    effect: "NoSchedule".into(),
    ..Default::default()
});

impl FilterPlugin for NodeReady {
    fn name(&self) -> &'static str {
        "NodeReady"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        // readiness is read once per node update (NodeInfo::set_node), not per filter call
        if node.ready() {
            return Status::success();
        }
        if tolerated(pod_tolerations(pod), &NOT_READY) {
            Status::success()
        } else {
            Status::unresolvable(untolerated_reason(&NOT_READY))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    #[test]
    fn not_ready_nodes_are_filtered_unless_tolerated() {
        let mut n = node("n", "1", "1Gi", json!({}));
        let ready = NodeInfo::from_node(n.clone());
        n.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        let not_ready = NodeInfo::from_node(n);
        let p = info(pod("p", "0", "0", json!({})));
        assert!(NodeReady.filter(&None, &p, &ready).is_success());
        assert_eq!(
            NodeReady.filter(&None, &p, &not_ready).reasons,
            vec!["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        );
        let tol = info(pod(
            "p",
            "0",
            "0",
            json!({"tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}),
        ));
        assert!(NodeReady.filter(&None, &tol, &not_ready).is_success());
    }
}
