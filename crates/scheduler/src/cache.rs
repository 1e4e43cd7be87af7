//! The scheduler's model of the cluster: pods and nodes as plain structs, with what the plugins
//! need precomputed (requests, ports, parsed affinity terms).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, Taint};
use minato_selectors::LabelSelector;

use crate::resources::{self, Resources};

pub type Labels = BTreeMap<String, String>;

/// Converts a typed `metav1.LabelSelector` (`None` selects nothing, as upstream).
pub fn label_selector(
    sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> LabelSelector {
    match sel {
        None => LabelSelector::nothing(),
        Some(s) => serde_json::to_value(s)
            .ok()
            .and_then(|v| LabelSelector::from_label_selector_object(&v).ok())
            .unwrap_or_else(LabelSelector::nothing),
    }
}

/// A pod affinity term with its selectors parsed.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub selector: LabelSelector,
    /// Explicit namespaces plus, when neither list nor selector is given, the pod's own.
    pub namespaces: HashSet<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: String,
    pub weight: i64,
}

impl AffinityTerm {
    pub fn new(term: &PodAffinityTerm, pod_namespace: &str, weight: i64) -> AffinityTerm {
        let mut namespaces: HashSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let namespace_selector = term
            .namespace_selector
            .as_ref()
            .map(|s| label_selector(Some(s)));
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(pod_namespace.to_string());
        }
        let selector = label_selector(term.label_selector.as_ref());
        AffinityTerm {
            selector,
            namespaces,
            namespace_selector,
            topology_key: term.topology_key.clone(),
            weight,
        }
    }

    /// Whether `pod` is selected by this term (namespace and labels).
    pub fn matches(&self, pod: &PodInfo, namespaces: &HashMap<String, Labels>) -> bool {
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                namespaces
                    .get(&pod.namespace)
                    .is_some_and(|labels| s.matches(labels))
                    || (s.is_empty() && !namespaces.contains_key(&pod.namespace))
            });
        ns_ok && self.selector.matches(&pod.labels)
    }
}

/// A pod as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub priority: i32,
    pub requests: Resources,
    /// (milli cpu, memory) with upstream's defaults for unset requests, for scoring.
    pub non_zero: (i64, i64),
    /// (hostIP, protocol, hostPort) of every container port with a hostPort.
    pub host_ports: Vec<(String, String, i32)>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
    pub terminating: bool,
    /// uid of the controlling owner (ReplicaSet, StatefulSet, ...), for default spreading.
    pub controller: Option<(String, String)>,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        for c in spec.iter().flat_map(|s| s.containers.iter()) {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                    host_ports.push((
                        p.host_ip.clone().unwrap_or_default(),
                        p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        hp,
                    ));
                }
            }
        }
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let terms = |t: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            t.into_iter()
                .flatten()
                .map(|t| Self::term_with_keys(t, &namespace, &labels, 1))
                .collect()
        };
        let weighted = |t: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| {
            t.into_iter()
                .flatten()
                .map(|w| {
                    Self::term_with_keys(&w.pod_affinity_term, &namespace, &labels, w.weight as i64)
                })
                .collect::<Vec<_>>()
        };
        let required_affinity = terms(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = terms(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = weighted(pa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_anti_affinity = weighted(paa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| (o.kind.clone(), o.uid.clone()));
        PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            requests: resources::pod_requests(&pod),
            non_zero: resources::pod_non_zero_requests(&pod),
            terminating: meta.deletion_timestamp.is_some(),
            host_ports,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            controller,
            namespace,
            labels,
            pod,
        }
    }

    /// Parses a term and merges matchLabelKeys (In) / mismatchLabelKeys (NotIn) with our labels.
    fn term_with_keys(
        t: &PodAffinityTerm,
        namespace: &str,
        labels: &Labels,
        weight: i64,
    ) -> AffinityTerm {
        let mut term = t.clone();
        let extra: Vec<_> = t
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| labels.get(k).map(|v| (k, "In", v)))
            .chain(
                t.mismatch_label_keys
                    .iter()
                    .flatten()
                    .filter_map(|k| labels.get(k).map(|v| (k, "NotIn", v))),
            )
            .map(|(k, op, v)| {
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: k.clone(),
                    operator: op.into(),
                    values: Some(vec![v.clone()]),
                }
            })
            .collect();
        if !extra.is_empty() {
            if let Some(sel) = term.label_selector.as_mut() {
                sel.match_expressions
                    .get_or_insert_with(Vec::new)
                    .extend(extra);
            }
        }
        AffinityTerm::new(&term, namespace, weight)
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }
}

/// A node with the pods on it and their aggregate requests.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub node: Option<Arc<Node>>,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub requested: Resources,
    pub non_zero_requested: (i64, i64),
    pub pods: Vec<Arc<PodInfo>>,
    pub used_ports: Vec<(String, String, i32)>,
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn new(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            node: None,
            labels: Labels::new(),
            taints: Vec::new(),
            allocatable: Resources::default(),
            allowed_pods: 0,
            requested: Resources::default(),
            non_zero_requested: (0, 0),
            pods: Vec::new(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
        }
    }

    /// A node info built from a Node object, with no pods.
    pub fn from_node(node: Node) -> NodeInfo {
        let mut info = NodeInfo::new(node.metadata.name.as_deref().unwrap_or_default());
        info.set_node(Arc::new(node));
        info
    }

    pub fn set_node(&mut self, node: Arc<Node>) {
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        self.taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let alloc = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
        self.allocatable = Resources::from_list(alloc);
        self.allowed_pods = alloc
            .and_then(|a| a.get("pods"))
            .map(|q| resources::value(&q.0))
            .unwrap_or(0);
        self.node = Some(node);
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.0 += pod.non_zero.0;
        self.non_zero_requested.1 += pod.non_zero.1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Removes the pod with this uid; returns it if it was here.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let idx = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(idx);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.0 -= pod.non_zero.0;
        self.non_zero_requested.1 -= pod.non_zero.1;
        for hp in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(i);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        Some(pod)
    }

    pub fn spec_unschedulable(&self) -> bool {
        self.node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    }

    /// Ready condition True (nodes without conditions are treated as not ready).
    pub fn ready(&self) -> bool {
        self.node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True")
    }
}

/// A pod nominated to a node by preemption (its space is reserved for it).
#[derive(Debug, Clone)]
pub struct Nominated {
    pub node: String,
    pub pod: Arc<PodInfo>,
}

/// Nodes (in a stable order), the pods on them, namespaces' labels, nominations.
#[derive(Debug, Default, Clone)]
pub struct Cluster {
    nodes: HashMap<String, NodeInfo>,
    /// Names of nodes that exist (have a Node object), in insertion order.
    order: Vec<String>,
    /// pod uid → node name, for every pod counted on a node.
    pod_node: HashMap<String, String>,
    /// uids of pods that were assumed (bound by us, not yet seen bound by the watch).
    assumed: HashSet<String>,
    pub namespaces: HashMap<String, Labels>,
    /// pod uid → nomination.
    pub nominated: HashMap<String, Nominated>,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster::default()
    }

    /// Adds or replaces a node object; returns whether something scheduling-relevant changed.
    pub fn upsert_node(&mut self, node: Node) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let existed = self.nodes.get(&name).and_then(|n| n.node.clone());
        let info = self
            .nodes
            .entry(name.clone())
            .or_insert_with(|| NodeInfo::new(&name));
        let changed = match &existed {
            None => true,
            Some(old) => node_relevant_change(old, &node),
        };
        info.set_node(Arc::new(node));
        if existed.is_none() {
            self.order.push(name);
        }
        changed
    }

    pub fn remove_node(&mut self, name: &str) {
        if let Some(info) = self.nodes.get_mut(name) {
            info.node = None;
            if info.pods.is_empty() {
                self.nodes.remove(name);
            }
        }
        self.order.retain(|n| n != name);
    }

    /// Adds or updates a pod bound to `node` (confirming an assumed pod).
    pub fn upsert_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove_pod(&pod.uid);
        self.nominated.remove(&pod.uid);
        self.pod_node.insert(pod.uid.clone(), node.to_string());
        self.nodes
            .entry(node.to_string())
            .or_insert_with(|| NodeInfo::new(node))
            .add_pod(pod);
    }

    /// Counts a pod on a node before the API confirms the binding.
    pub fn assume_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.assumed.insert(pod.uid.clone());
        self.upsert_pod(pod, node);
    }

    /// The watch saw the pod bound: it is no longer only assumed.
    pub fn confirm(&mut self, uid: &str) {
        self.assumed.remove(uid);
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.assumed.contains(uid)
    }

    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        self.assumed.remove(uid);
        let node = self.pod_node.remove(uid)?;
        let info = self.nodes.get_mut(&node)?;
        let pod = info.remove_pod(uid);
        if info.node.is_none() && info.pods.is_empty() {
            self.nodes.remove(&node);
        }
        pod
    }

    pub fn pod_node(&self, uid: &str) -> Option<&str> {
        self.pod_node.get(uid).map(String::as_str)
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name).filter(|n| n.node.is_some())
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        self.nodes.get_mut(name).filter(|n| n.node.is_some())
    }

    /// Nodes that exist, in stable order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.order.iter().filter_map(|n| self.nodes.get(n))
    }

    pub fn node_at(&self, i: usize) -> Option<&NodeInfo> {
        self.order.get(i).and_then(|n| self.nodes.get(n))
    }

    pub fn num_nodes(&self) -> usize {
        self.order.len()
    }

    /// Pods nominated to `node` other than `uid`.
    pub fn nominated_on<'a>(
        &'a self,
        node: &'a str,
        uid: &'a str,
    ) -> impl Iterator<Item = &'a Arc<PodInfo>> + 'a {
        self.nominated
            .iter()
            .filter(move |(u, n)| n.node == node && u.as_str() != uid)
            .map(|(_, n)| &n.pod)
    }
}

/// Whether a node update can change scheduling decisions (heartbeats alone don't).
fn node_relevant_change(old: &Node, new: &Node) -> bool {
    let ready = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone())
    };
    old.metadata.labels != new.metadata.labels
        || old.spec != new.spec
        || old.status.as_ref().map(|s| &s.allocatable)
            != new.status.as_ref().map(|s| &s.allocatable)
        || ready(old) != ready(new)
}

impl Cluster {
    /// Drops pods for which `keep(uid, assumed)` is false (after a re-list).
    pub fn retain_pods(&mut self, mut keep: impl FnMut(&str, bool) -> bool) {
        let drop: Vec<String> = self
            .pod_node
            .keys()
            .filter(|uid| !keep(uid, self.assumed.contains(*uid)))
            .cloned()
            .collect();
        for uid in drop {
            self.remove_pod(&uid);
        }
    }
}
