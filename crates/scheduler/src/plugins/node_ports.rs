//! NodePorts: host ports must be free (0.0.0.0 conflicts with every address).

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{FilterPlugin, State, Status};

pub struct NodePorts;

fn wildcard(ip: &str) -> bool {
    ip.is_empty() || ip == "0.0.0.0" || ip == "::"
}

/// Whether two (ip, protocol, port) host ports conflict.
pub fn conflicts(a: &(String, String, i32), b: &(String, String, i32)) -> bool {
    a.1 == b.1 && a.2 == b.2 && (wildcard(&a.0) || wildcard(&b.0) || a.0 == b.0)
}

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn filter(&self, _: &State, pod: &PodInfo, node: &NodeInfo) -> Status {
        let clash = pod
            .host_ports
            .iter()
            .any(|p| node.used_ports.iter().any(|u| conflicts(p, u)));
        if clash {
            Status::unschedulable("node(s) didn't have free ports for the requested pod ports")
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::*;
    use serde_json::json;

    fn with_port(name: &str, ip: &str, proto: &str, port: i32) -> k8s_openapi::api::core::v1::Pod {
        pod(
            name,
            "0",
            "0",
            json!({"containers": [{"name": "c", "image": "x",
            "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": proto}]}]}),
        )
    }

    #[test]
    fn host_port_conflicts() {
        let c = cluster(
            vec![node("n", "1", "1Gi", json!({}))],
            vec![(with_port("a", "10.0.0.1", "TCP", 8080), "n")],
        );
        let n = node_info(&c, "n");
        let same = info(with_port("b", "0.0.0.0", "TCP", 8080));
        let st = NodePorts.filter(&None, &same, &n);
        assert_eq!(st.code, Code::Unschedulable);
        assert_eq!(
            st.reasons,
            vec!["node(s) didn't have free ports for the requested pod ports"]
        );
        assert!(NodePorts
            .filter(&None, &info(with_port("b", "10.0.0.2", "TCP", 8080)), &n)
            .is_success());
        assert!(NodePorts
            .filter(&None, &info(with_port("b", "10.0.0.1", "UDP", 8080)), &n)
            .is_success());
        assert!(NodePorts
            .filter(&None, &info(with_port("b", "10.0.0.1", "TCP", 8081)), &n)
            .is_success());
        assert!(!NodePorts
            .filter(&None, &info(with_port("b", "10.0.0.1", "TCP", 8080)), &n)
            .is_success());
    }
}
