//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) unless the pod tolerates
//! `node.kubernetes.io/unschedulable:NoSchedule`.

use std::sync::LazyLock;

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::{pod_tolerations, tolerated};
use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{FilterPlugin, State, Status};

pub struct NodeUnschedulable;

/// The taint the pod must tolerate on a cordoned node, built once.
static UNSCHEDULABLE: LazyLock<Taint> = LazyLock::new(|| Taint {
    key: "node.kubernetes.io/unschedulable".into(),
    effect: "NoSchedule".into(),
    ..Default::default()
});

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.spec_unschedulable() {
            return Status::success();
        }
        if tolerated(pod_tolerations(pod), &UNSCHEDULABLE) {
            Status::success()
        } else {
            Status::unresolvable("node(s) were unschedulable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    #[test]
    fn cordoned_node() {
        let n = NodeInfo::from_node(node_with_spec("n", json!({"unschedulable": true})));
        let p = info(pod("p", "0", "0", json!({})));
        assert_eq!(
            NodeUnschedulable.filter(&None, &p, &n).reasons,
            vec!["node(s) were unschedulable"]
        );
        let tol = info(pod(
            "p",
            "0",
            "0",
            json!({"tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
        ));
        assert!(NodeUnschedulable.filter(&None, &tol, &n).is_success());
        let open = NodeInfo::from_node(node_with_spec("n", json!({})));
        assert!(NodeUnschedulable.filter(&None, &p, &open).is_success());
    }
}
