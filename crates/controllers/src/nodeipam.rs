//! Node IPAM controller (upstream's `nodeipam` with the range allocator): every Node gets a
//! pod range (`spec.podCIDR`, `spec.podCIDRs`) carved from the cluster CIDR, a /24 per node
//! from 10.244.0.0/16 by default. Ranges nodes already have are respected (a node agent or the
//! simulator may bring its own), and a deleted node's range becomes free again.
//!
//! The allocation is a pure function ([`allocate`]); the controller watches Nodes and patches
//! the ones without a range.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::Client;
use serde_json::json;

use crate::Error;

/// The cluster's pod range and the size of each node's share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIpamConfig {
    pub cluster_cidr: String,
    pub node_mask: u8,
}

impl Default for NodeIpamConfig {
    fn default() -> Self {
        Self {
            cluster_cidr: "10.244.0.0/16".into(),
            node_mask: 24,
        }
    }
}

fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

/// The first free node range of `cfg` not in `used` (ranges as "a.b.c.d/len").
pub fn allocate(cfg: &NodeIpamConfig, used: &BTreeSet<String>) -> Option<String> {
    let (base, len) = parse_cidr(&cfg.cluster_cidr)?;
    if cfg.node_mask < len || cfg.node_mask > 30 {
        return None;
    }
    let count: u64 = 1u64 << (cfg.node_mask - len);
    let size: u64 = 1u64 << (32 - cfg.node_mask);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let start = u64::from(base & mask);
    let used: BTreeSet<u32> = used
        .iter()
        .filter_map(|c| parse_cidr(c))
        .map(|(ip, _)| ip)
        .collect();
    (0..count)
        .map(|i| (start + i * size) as u32)
        .find(|ip| !used.contains(ip))
        .map(|ip| format!("{}/{}", Ipv4Addr::from(ip), cfg.node_mask))
}

fn node_cidr(n: &Node) -> Option<String> {
    n.spec.as_ref()?.pod_cidr.clone().filter(|c| !c.is_empty())
}

/// Watches Nodes and gives each one without a pod range the next free one.
pub async fn run_node_ipam_controller(client: Client, cfg: NodeIpamConfig) -> Result<(), Error> {
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    let mut known: std::collections::HashMap<String, Option<String>> = Default::default();
    let mut pending: BTreeSet<String> = BTreeSet::new();
    let mut ready = false;
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "node watch failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        match ev {
            Event::Init => {
                known.clear();
                ready = false;
            }
            Event::InitApply(n) | Event::Apply(n) => {
                let name = n.metadata.name.clone().unwrap_or_default();
                let cidr = node_cidr(&n);
                if cidr.is_none() {
                    pending.insert(name.clone());
                }
                known.insert(name, cidr);
            }
            Event::Delete(n) => {
                known.remove(n.metadata.name.as_deref().unwrap_or_default());
            }
            Event::InitDone => ready = true,
        }
        if !ready {
            continue;
        }
        // Only after the initial list: every existing range is known before allocating.
        for name in std::mem::take(&mut pending) {
            if !matches!(known.get(&name), Some(None)) {
                continue;
            }
            let used: BTreeSet<String> = known.values().flatten().cloned().collect();
            let Some(cidr) = allocate(&cfg, &used) else {
                tracing::warn!(node = %name, cluster_cidr = %cfg.cluster_cidr, "no pod range left for the node");
                continue;
            };
            let patch = json!({ "spec": { "podCIDR": cidr, "podCIDRs": [cidr] } });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => {
                    tracing::info!(node = %name, %cidr, "pod range assigned");
                    known.insert(name, Some(cidr));
                }
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "cannot assign the pod range");
                    pending.insert(name);
                }
            }
        }
    }
    Err(Error::WatchEnded("nodes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_first_free_range() {
        let cfg = NodeIpamConfig::default();
        let mut used = BTreeSet::new();
        assert_eq!(allocate(&cfg, &used).as_deref(), Some("10.244.0.0/24"));
        used.insert("10.244.0.0/24".to_string());
        used.insert("10.244.2.0/24".to_string());
        assert_eq!(allocate(&cfg, &used).as_deref(), Some("10.244.1.0/24"));
    }

    #[test]
    fn exhausted_range_gives_none() {
        let cfg = NodeIpamConfig {
            cluster_cidr: "10.0.0.0/23".into(),
            node_mask: 24,
        };
        let used: BTreeSet<String> = ["10.0.0.0/24", "10.0.1.0/24"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(allocate(&cfg, &used), None);
    }
}
