//! NodeName: a pod naming a node fits only there.

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{FilterPlugin, State, Status};

pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(n) if !n.is_empty() && n != node.name => {
                Status::unresolvable("node(s) didn't match the requested node name")
            }
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    #[test]
    fn node_name() {
        let a = NodeInfo::from_node(node("a", "1", "1Gi", json!({})));
        let b = NodeInfo::from_node(node("b", "1", "1Gi", json!({})));
        let p = info(pod("p", "0", "0", json!({"nodeName": "a"})));
        assert!(NodeName.filter(&None, &p, &a).is_success());
        assert_eq!(
            NodeName.filter(&None, &p, &b).reasons,
            vec!["node(s) didn't match the requested node name"]
        );
        let free = info(pod("p", "0", "0", json!({})));
        assert!(NodeName.filter(&None, &free, &b).is_success());
    }
}
