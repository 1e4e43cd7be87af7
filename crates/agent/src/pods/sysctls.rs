//! Pod sysctls (`spec.securityContext.sysctls`): the kubelet's admission rule and the names
//! the runtime sets.
//!
//! Safe sysctls are namespaced and isolated between pods, so every pod may set them; others
//! must match the node's `--allowed-unsafe-sysctls` patterns and be known to be namespaced
//! (net.*, or IPC: kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*). A pod asking for
//! anything else is rejected: phase Failed, reason `SysctlForbidden`, as the kubelet does.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::PodSpec;

/// The kubelet's safe set (1.33).
const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

pub const FORBIDDEN_REASON: &str = "SysctlForbidden";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Namespace {
    Ipc,
    Net,
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
        })
    }
}

fn namespace_of(name: &str) -> Option<Namespace> {
    if name.starts_with("net.") {
        return Some(Namespace::Net);
    }
    let ipc = ["kernel.shm", "kernel.msg", "fs.mqueue."];
    if name == "kernel.sem" || ipc.iter().any(|p| name.starts_with(p)) {
        return Some(Namespace::Ipc);
    }
    None
}

/// `net/ipv4/ip_forward` → `net.ipv4.ip_forward`: a name whose first separator is a slash
/// uses slashes for levels and dots inside them, so the two swap.
pub fn dotted(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}

/// Checks the pod's sysctls against the safe set and the node's unsafe patterns (`*` at the
/// end matches a prefix). Err carries the kubelet's message.
pub fn admit(spec: &PodSpec, allowed_unsafe: &[String]) -> Result<(), String> {
    let sysctls = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_ref());
    for s in sysctls.into_iter().flatten() {
        let name = dotted(&s.name);
        let allowed = SAFE.contains(&name.as_str())
            || allowed_unsafe.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(&dotted(prefix)),
                None => dotted(p) == name,
            });
        let ns = namespace_of(&name);
        if !allowed || ns.is_none() {
            return Err(format!("forbidden sysctl: \"{name}\" not allowlisted"));
        }
        let host = match ns {
            Some(Namespace::Net) => spec.host_network == Some(true),
            Some(Namespace::Ipc) => spec.host_ipc == Some(true),
            None => false,
        };
        if let (true, Some(ns)) = (host, ns) {
            return Err(format!(
                "forbidden sysctl: \"{name}\" not allowed with host {ns} enabled"
            ));
        }
    }
    Ok(())
}

/// What the runtime writes under /proc/sys in the pod's namespaces.
pub fn for_runtime(spec: &PodSpec) -> HashMap<String, String> {
    spec.security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|s| (dotted(&s.name), s.value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSecurityContext, Sysctl};

    fn pod(names: &[&str], host_network: bool) -> PodSpec {
        PodSpec {
            host_network: Some(host_network),
            security_context: Some(PodSecurityContext {
                sysctls: Some(
                    names
                        .iter()
                        .map(|n| Sysctl {
                            name: n.to_string(),
                            value: "1".into(),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn safe_sysctls_pass_and_others_need_the_node_s_patterns() {
        assert_eq!(
            admit(&pod(&["net.ipv4.ip_unprivileged_port_start"], false), &[]),
            Ok(())
        );
        assert_eq!(
            admit(&pod(&["kernel.msgmax"], false), &[]),
            Err("forbidden sysctl: \"kernel.msgmax\" not allowlisted".into())
        );
        assert_eq!(
            admit(&pod(&["kernel.msgmax"], false), &["kernel.msg*".into()]),
            Ok(())
        );
        // Allowed, but not namespaced: still refused.
        assert!(admit(&pod(&["vm.swappiness"], false), &["vm.*".into()]).is_err());
        assert_eq!(
            admit(&pod(&["net.ipv4.tcp_syncookies"], true), &[]),
            Err(
                "forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host net enabled"
                    .into()
            )
        );
        assert_eq!(
            admit(&pod(&["net/ipv4/ip_local_port_range"], false), &[]),
            Ok(())
        );
    }

    #[test]
    fn slash_names_become_dotted() {
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(dotted("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
    }
}
