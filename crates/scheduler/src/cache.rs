//! The scheduler's model of the cluster: pods and nodes as plain structs, with what the plugins
//! need precomputed (requests, ports, parsed affinity terms).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, Taint};
use minato_selectors::{LabelSelector, Operator};

use crate::resources::{self, Resources};

pub type Labels = BTreeMap<String, String>;

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

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
        self.namespace_matches(&pod.namespace, namespaces) && self.selector.matches(&pod.labels)
    }

    /// Whether pods of `namespace` may be selected by this term.
    pub fn namespace_matches(&self, namespace: &str, namespaces: &HashMap<String, Labels>) -> bool {
        self.namespaces.contains(namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                namespaces
                    .get(namespace)
                    .is_some_and(|labels| s.matches(labels))
                    || (s.is_empty() && !namespaces.contains_key(namespace))
            })
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
    /// Ready condition True; kept with the node object because every filter pass asks.
    pub ready: bool,
    /// spec.unschedulable, likewise.
    pub unschedulable: bool,
    /// Normalized image name → size, from node.status.images.
    pub images: HashMap<String, i64>,
    /// The hostname and zone labels, which topology spreading reads for every feasible node
    /// of every pod: kept apart from `labels` to spare that many map walks.
    hostname: Option<String>,
    zone: Option<String>,
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
            ready: false,
            unschedulable: false,
            images: HashMap::new(),
            hostname: None,
            zone: None,
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
        self.hostname = self.labels.get(LABEL_HOSTNAME).cloned();
        self.zone = self.labels.get(LABEL_ZONE).cloned();
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
        self.ready = node_ready(&node);
        self.unschedulable = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        self.images.clear();
        let images = node.status.as_ref().and_then(|s| s.images.as_ref());
        for img in images.into_iter().flatten() {
            let size = img.size_bytes.unwrap_or(0);
            for name in img.names.iter().flatten() {
                self.images
                    .entry(crate::plugins::image_locality::normalize_image(name))
                    .or_insert(size);
            }
        }
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

    /// The value of label `key` (the hostname and zone without a map walk).
    pub fn label(&self, key: &str) -> Option<&str> {
        match key {
            LABEL_HOSTNAME => self.hostname.as_deref(),
            LABEL_ZONE => self.zone.as_deref(),
            _ => self.labels.get(key).map(String::as_str),
        }
    }

    pub fn spec_unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// Ready condition True (nodes without conditions are treated as not ready).
    pub fn ready(&self) -> bool {
        self.ready
    }
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// A pod in a posting list with the slot of its node, hashed and compared by uid so a set can
/// be probed with a `&str`. `terminating` is copied here so that the common checks do not
/// have to load every candidate's `PodInfo`.
#[derive(Debug, Clone)]
struct Entry {
    pod: Arc<PodInfo>,
    slot: usize,
    terminating: bool,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.pod.uid == other.pod.uid
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pod.uid.hash(state)
    }
}

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        &self.pod.uid
    }
}

/// One posting list of the pod index.
type PodSet = HashSet<Entry>;

/// Removes `uid` from the set under `key`, dropping the set once empty (pod churn must not
/// leave every label value ever seen behind).
fn set_remove(map: &mut HashMap<String, PodSet>, key: &str, uid: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(uid);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

#[derive(Debug, Default, Clone)]
struct NamespacePods {
    all: PodSet,
    /// label key → value → pods
    by_label: HashMap<String, HashMap<String, PodSet>>,
    /// controller uid → pods (the system default spreading counts these)
    by_controller: HashMap<String, PodSet>,
}

/// The pods counted on nodes, indexed so that plugins counting the pods a selector matches
/// (PodTopologySpread, InterPodAffinity) visit candidates only instead of every pod of the
/// cluster for every pod they schedule.
#[derive(Debug, Default, Clone)]
struct PodIndex {
    namespaces: HashMap<String, NamespacePods>,
    with_affinity: PodSet,
    with_required_anti_affinity: PodSet,
}

impl PodIndex {
    fn insert(&mut self, pod: &Arc<PodInfo>, slot: usize) {
        let entry = || Entry {
            pod: Arc::clone(pod),
            slot,
            terminating: pod.terminating,
        };
        // every pod update re-inserts the pod: copy a key only when it is new
        macro_rules! at {
            ($map:expr, $key:expr) => {
                match $map.get_mut($key.as_str()) {
                    Some(v) => v,
                    None => $map.entry($key.clone()).or_default(),
                }
            };
        }
        let ns = at!(self.namespaces, pod.namespace);
        ns.all.replace(entry());
        for (k, v) in &pod.labels {
            let values = at!(ns.by_label, k);
            at!(values, v).replace(entry());
        }
        if let Some((_, uid)) = &pod.controller {
            at!(ns.by_controller, uid).replace(entry());
        }
        if pod.has_affinity() {
            self.with_affinity.replace(entry());
        }
        if !pod.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity.replace(entry());
        }
    }

    fn remove(&mut self, pod: &PodInfo) {
        let uid = pod.uid.as_str();
        if let Some(ns) = self.namespaces.get_mut(&pod.namespace) {
            ns.all.remove(uid);
            for (k, v) in &pod.labels {
                if let Some(values) = ns.by_label.get_mut(k) {
                    set_remove(values, v, uid);
                    if values.is_empty() {
                        ns.by_label.remove(k);
                    }
                }
            }
            if let Some((_, c)) = &pod.controller {
                set_remove(&mut ns.by_controller, c, uid);
            }
            if ns.all.is_empty() {
                self.namespaces.remove(&pod.namespace);
            }
        }
        self.with_affinity.remove(uid);
        self.with_required_anti_affinity.remove(uid);
    }

    /// The posting lists whose union holds every pod of `namespace` that `selector` may match:
    /// those of the `=`/`in` requirement with the fewest pods, else the whole namespace. The
    /// lists are disjoint (one value per key per pod), so no pod comes twice. True when every
    /// pod in them matches (that requirement is the selector's only one).
    fn candidates(&self, namespace: &str, selector: &LabelSelector) -> (Vec<&PodSet>, bool) {
        let Some(ns) = self.namespaces.get(namespace) else {
            return (Vec::new(), true);
        };
        if selector.is_nothing() {
            return (Vec::new(), true);
        }
        let mut best: Option<(usize, Vec<&PodSet>)> = None;
        for r in selector.requirements() {
            if !matches!(
                r.operator(),
                Operator::In | Operator::Equals | Operator::DoubleEquals
            ) {
                continue;
            }
            let values = ns.by_label.get(r.key());
            let mut sets: Vec<&PodSet> = Vec::new();
            for (i, v) in r.values().iter().enumerate() {
                // a value listed twice must not bring its pods twice
                if r.values()[..i].contains(v) {
                    continue;
                }
                if let Some(set) = values.and_then(|m| m.get(v)) {
                    sets.push(set);
                }
            }
            let size = sets.iter().map(|s| s.len()).sum();
            if best.as_ref().is_none_or(|(n, _)| size < *n) {
                best = Some((size, sets));
            }
        }
        match best {
            Some((_, sets)) => (sets, selector.requirements().len() == 1),
            None => (vec![&ns.all], selector.is_empty()),
        }
    }
}

/// A counted pod and its node (one with a Node object), as the pod index yields them.
#[derive(Debug, Clone, Copy)]
pub struct IndexedPod<'a> {
    pub pod: &'a Arc<PodInfo>,
    pub node: &'a NodeInfo,
    /// `pod.terminating`, without loading the pod.
    pub terminating: bool,
}

/// A pod nominated to a node by preemption (its space is reserved for it).
#[derive(Debug, Clone)]
pub struct Nominated {
    pub node: String,
    pub pod: Arc<PodInfo>,
}

/// Nodes (in a stable order), the pods on them, namespaces' labels, nominations.
///
/// Node infos live in slots so that the per-node loops and the pod index reach a node by
/// position rather than by hashing its name.
#[derive(Debug, Default, Clone)]
pub struct Cluster {
    /// Node infos; a slot is `None` (and in `free`) once its node and pods are gone.
    slots: Vec<Option<NodeInfo>>,
    free: Vec<usize>,
    by_name: HashMap<String, usize>,
    /// Slots of nodes that exist (have a Node object), in insertion order.
    order: Vec<usize>,
    /// pod uid → slot of its node, for every pod counted on a node.
    pod_node: HashMap<String, usize>,
    /// uids of pods that were assumed (bound by us, not yet seen bound by the watch).
    assumed: HashSet<String>,
    pub namespaces: HashMap<String, Labels>,
    /// pod uid → nomination.
    pub nominated: HashMap<String, Nominated>,
    /// Every pod in `pod_node`, by namespace, label and controller.
    index: PodIndex,
    /// Normalized image name → number of nodes (with a Node object) that have it.
    image_nodes: HashMap<String, usize>,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster::default()
    }

    fn slot(&self, slot: usize) -> Option<&NodeInfo> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The node in `slot` if it has a Node object (what `nodes()` yields).
    fn existing(&self, slot: usize) -> Option<&NodeInfo> {
        self.slot(slot).filter(|n| n.node.is_some())
    }

    /// The slot of `name`, made (empty, without a Node object) if there is none.
    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(s) = self.by_name.get(name) {
            return *s;
        }
        let info = Some(NodeInfo::new(name));
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s] = info;
                s
            }
            None => {
                self.slots.push(info);
                self.slots.len() - 1
            }
        };
        self.by_name.insert(name.to_string(), s);
        s
    }

    /// Frees `slot` once it has neither a Node object nor pods.
    fn release_if_empty(&mut self, slot: usize) {
        let Some(info) = self.slots.get_mut(slot) else {
            return;
        };
        if info
            .as_ref()
            .is_some_and(|i| i.node.is_none() && i.pods.is_empty())
        {
            if let Some(i) = info.take() {
                self.by_name.remove(&i.name);
            }
            self.free.push(slot);
        }
    }

    /// Adds or replaces a node object; returns whether something scheduling-relevant changed.
    pub fn upsert_node(&mut self, node: Node) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let slot = self.slot_for(&name);
        let Some(info) = self.slots[slot].as_mut() else {
            return false;
        };
        let existed = info.node.clone();
        let changed = match &existed {
            None => true,
            Some(old) => node_relevant_change(old, &node),
        };
        if existed.is_some() {
            forget_images(&mut self.image_nodes, &info.images);
        }
        info.set_node(Arc::new(node));
        for image in info.images.keys() {
            *self.image_nodes.entry(image.clone()).or_default() += 1;
        }
        if existed.is_none() {
            self.order.push(slot);
        }
        changed
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&slot) = self.by_name.get(name) else {
            return;
        };
        if let Some(info) = self.slots[slot].as_mut() {
            if info.node.is_some() {
                forget_images(&mut self.image_nodes, &info.images);
            }
            info.images.clear();
            info.node = None;
        }
        self.order.retain(|s| *s != slot);
        self.release_if_empty(slot);
    }

    /// The informer saw the pod bound to `node`: counts it there, replacing any earlier
    /// placement. An assumed pod is confirmed: it is a real pod from now on.
    pub fn upsert_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.assumed.remove(&pod.uid);
        self.place_pod(pod, node);
    }

    /// Counts a pod on a node before the API confirms the binding (upstream's AssumePod): it
    /// stays counted until the informer confirms it ([`Cluster::upsert_pod`]), the bind fails
    /// ([`Cluster::forget_pod`]) or the pod is deleted ([`Cluster::remove_pod`]).
    pub fn assume_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        let uid = pod.uid.clone();
        self.place_pod(pod, node);
        self.assumed.insert(uid);
    }

    /// Whether the pod is counted only because we assumed it (bind not yet seen by the watch).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.assumed.contains(uid)
    }

    /// The bind of an assumed pod failed: it no longer counts anywhere. Returns the pod when
    /// it was assumed; a confirmed or unknown pod is left alone.
    pub fn forget_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        if !self.assumed.remove(uid) {
            return None;
        }
        self.unplace_pod(uid)
    }

    /// The pod is gone (deleted or finished), assumed or not.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        self.assumed.remove(uid);
        self.unplace_pod(uid)
    }

    /// Counts `pod` on `node`, replacing any earlier placement; the assumed mark is the
    /// caller's business.
    fn place_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.unplace_pod(&pod.uid);
        self.nominated.remove(&pod.uid);
        let slot = self.slot_for(node);
        self.pod_node.insert(pod.uid.clone(), slot);
        self.index.insert(&pod, slot);
        if let Some(info) = self.slots[slot].as_mut() {
            info.add_pod(pod);
        }
    }

    fn unplace_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let slot = self.pod_node.remove(uid)?;
        let pod = self.slots.get_mut(slot)?.as_mut()?.remove_pod(uid);
        self.release_if_empty(slot);
        if let Some(p) = &pod {
            self.index.remove(p);
        }
        pod
    }

    pub fn pod_node(&self, uid: &str) -> Option<&str> {
        let slot = self.pod_node.get(uid)?;
        self.slot(*slot).map(|n| n.name.as_str())
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.existing(*self.by_name.get(name)?)
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        let slot = *self.by_name.get(name)?;
        self.slots[slot].as_mut().filter(|n| n.node.is_some())
    }

    /// Nodes that exist, in stable order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.order.iter().filter_map(|s| self.slot(*s))
    }

    pub fn node_at(&self, i: usize) -> Option<&NodeInfo> {
        self.order.get(i).and_then(|s| self.slot(*s))
    }

    pub fn num_nodes(&self) -> usize {
        self.order.len()
    }

    /// Resolves index entries, skipping pods whose node has no Node object (as a walk over
    /// `nodes()` would).
    fn resolve<'a>(
        &'a self,
        entries: impl Iterator<Item = &'a Entry> + 'a,
    ) -> impl Iterator<Item = IndexedPod<'a>> + 'a {
        entries.filter_map(|e| {
            Some(IndexedPod {
                pod: &e.pod,
                node: self.existing(e.slot)?,
                terminating: e.terminating,
            })
        })
    }

    /// Counted pods of `namespace` that `selector` may match, drawn from the smallest posting
    /// list of the selector's `=`/`in` requirements. The flag says whether they all match;
    /// when false they are a superset and callers match each.
    pub fn candidate_pods<'a>(
        &'a self,
        namespace: &str,
        selector: &LabelSelector,
    ) -> (bool, impl Iterator<Item = IndexedPod<'a>> + 'a) {
        let (sets, exact) = self.index.candidates(namespace, selector);
        (exact, self.resolve(sets.into_iter().flatten()))
    }

    /// Namespaces that have counted pods.
    pub fn pod_namespaces(&self) -> impl Iterator<Item = &str> {
        self.index.namespaces.keys().map(String::as_str)
    }

    /// Counted pods of `namespace` whose controlling owner has this uid.
    pub fn controlled_pods<'a>(
        &'a self,
        namespace: &str,
        controller_uid: &str,
    ) -> impl Iterator<Item = IndexedPod<'a>> + 'a {
        let set = self
            .index
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.by_controller.get(controller_uid));
        self.resolve(set.into_iter().flatten())
    }

    /// Counted pods with any pod affinity or anti-affinity term.
    pub fn pods_with_affinity(&self) -> impl Iterator<Item = IndexedPod<'_>> {
        self.resolve(self.index.with_affinity.iter())
    }

    /// Counted pods with required pod anti-affinity.
    pub fn pods_with_required_anti_affinity(&self) -> impl Iterator<Item = IndexedPod<'_>> {
        self.resolve(self.index.with_required_anti_affinity.iter())
    }

    /// How many nodes (with a Node object) have this normalized image.
    pub fn image_nodes(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
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

fn forget_images(counts: &mut HashMap<String, usize>, images: &HashMap<String, i64>) {
    for image in images.keys() {
        if let Some(n) = counts.get_mut(image) {
            *n -= 1;
            if *n == 0 {
                counts.remove(image);
            }
        }
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
    /// Drops pods for which `keep(uid)` is false (after a re-list). Assumed pods are dropped
    /// too: a pod missing from a re-list was deleted, bound or not.
    pub fn retain_pods(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let drop: Vec<String> = self
            .pod_node
            .keys()
            .filter(|uid| !keep(uid))
            .cloned()
            .collect();
        for uid in drop {
            self.remove_pod(&uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use serde_json::json;

    type Found = std::collections::BTreeSet<(String, String)>;

    /// What a walk over every node's pods finds (the scan the index replaces).
    fn brute(c: &Cluster, keep: impl Fn(&PodInfo) -> bool) -> Found {
        c.nodes()
            .flat_map(|n| n.pods.iter().map(move |p| (p, n)))
            .filter(|(p, _)| keep(p))
            .map(|(p, n)| (p.uid.clone(), n.name.clone()))
            .collect()
    }

    fn found<'a>(pods: impl Iterator<Item = IndexedPod<'a>>) -> Found {
        let mut out = Found::new();
        for e in pods {
            assert_eq!(e.terminating, e.pod.terminating);
            assert!(
                out.insert((e.pod.uid.clone(), e.node.name.clone())),
                "yielded twice"
            );
        }
        out
    }

    fn selector(v: serde_json::Value) -> LabelSelector {
        LabelSelector::from_label_selector_object(&v).expect("selector")
    }

    #[test]
    fn index_finds_what_a_scan_finds() {
        let selectors = [
            selector(json!({"matchLabels": {"app": "a"}})),
            selector(json!({"matchLabels": {"app": "b", "tier": "web"}})),
            selector(json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["a", "c", "a"]}]})),
            selector(json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["a", "b"]},
                {"key": "tier", "operator": "In", "values": ["db"]}]})),
            selector(json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]})),
            selector(json!({"matchExpressions": [
                {"key": "app", "operator": "NotIn", "values": ["a"]}]})),
            selector(json!({"matchLabels": {"app": "zzz"}})),
            selector(json!({"matchLabels": {"nope": "a"}})),
            LabelSelector::everything(),
            LabelSelector::nothing(),
        ];
        let mut total = 0;
        for seed in 0..5 {
            let c = random_cluster(seed);
            for ns in ["default", "other", "absent"] {
                for sel in &selectors {
                    let want = brute(&c, |p| p.namespace == ns && sel.matches(&p.labels));
                    let (exact, pods) = c.candidate_pods(ns, sel);
                    let pods: Vec<IndexedPod> = pods.collect();
                    if exact {
                        assert!(pods.iter().all(|e| sel.matches(&e.pod.labels)), "{sel}");
                    }
                    let got = found(
                        pods.into_iter()
                            .filter(|e| e.pod.namespace == ns && sel.matches(&e.pod.labels)),
                    );
                    assert_eq!(got, want, "seed {seed} ns {ns} selector {sel}");
                    total += want.len();
                }
                for owner in ["owner-0", "owner-3", "none"] {
                    let want = brute(&c, |p| {
                        p.namespace == ns && p.controller.as_ref().is_some_and(|o| o.1 == owner)
                    });
                    assert_eq!(found(c.controlled_pods(ns, owner)), want);
                }
            }
            let with_affinity = brute(&c, PodInfo::has_affinity);
            assert_eq!(found(c.pods_with_affinity()), with_affinity);
            let anti = brute(&c, |p| !p.required_anti_affinity.is_empty());
            assert_eq!(found(c.pods_with_required_anti_affinity()), anti);
        }
        // the comparison had something to compare
        assert!(total > 2000, "{total}");
    }

    #[test]
    fn index_forgets_removed_pods_and_empty_lists() {
        let mut c = cluster(
            vec![node("a", "1", "1Gi", json!({}))],
            vec![(
                labeled(pod("p", "0", "0", json!({})), json!({"app": "x"})),
                "a",
            )],
        );
        c.remove_pod("uid-p");
        assert!(c.index.namespaces.is_empty());
        assert_eq!(c.pod_namespaces().count(), 0);
        // moved: found on its new node only
        let p = Arc::new(info(labeled(
            pod("q", "0", "0", json!({})),
            json!({"app": "x"}),
        )));
        c.upsert_node(node("b", "1", "1Gi", json!({})));
        c.upsert_pod(Arc::clone(&p), "a");
        c.upsert_pod(p, "b");
        let (_, pods) =
            c.candidate_pods("default", &selector(json!({"matchLabels": {"app": "x"}})));
        let nodes: Vec<&str> = pods.map(|e| e.node.name.as_str()).collect();
        assert_eq!(nodes, vec!["b"]);
    }

    #[test]
    fn node_slots_survive_removal_and_reuse() {
        let mut c = cluster(
            vec![
                node("a", "1", "1Gi", json!({})),
                node("b", "1", "1Gi", json!({})),
            ],
            vec![(pod("p", "0", "0", json!({})), "a")],
        );
        // a node removed while a pod is still counted on it keeps its slot, unlisted
        c.remove_node("a");
        assert!(c.node("a").is_none());
        assert_eq!(c.pod_node("uid-p"), Some("a"));
        assert_eq!(c.num_nodes(), 1);
        assert_eq!(c.node_at(0).map(|n| n.name.as_str()), Some("b"));
        // its pod is not yielded (as a walk over nodes() would not find it)
        assert_eq!(
            c.candidate_pods("default", &LabelSelector::everything())
                .1
                .count(),
            0
        );
        c.upsert_node(node("a", "1", "1Gi", json!({})));
        assert_eq!(c.node("a").map(|n| n.pods.len()), Some(1));
        assert_eq!(
            c.candidate_pods("default", &LabelSelector::everything())
                .1
                .count(),
            1
        );
        // freed slots are reused; names resolve to the right node
        c.remove_pod("uid-p");
        c.remove_node("a");
        c.remove_node("b");
        assert_eq!(c.num_nodes(), 0);
        assert!(c.by_name.is_empty());
        c.upsert_node(node("c", "1", "1Gi", json!({})));
        c.upsert_pod(Arc::new(info(pod("r", "0", "0", json!({})))), "d");
        assert_eq!(c.slots.len(), 2);
        assert_eq!(c.node("c").map(|n| n.name.as_str()), Some("c"));
        assert!(c.node("d").is_none());
        assert_eq!(c.pod_node("uid-r"), Some("d"));
        assert_eq!(c.nodes().count(), 1);
    }

    #[test]
    fn node_flags_and_image_counts_follow_updates() {
        let mut n = node("a", "1", "1Gi", json!({}));
        n.status.as_mut().unwrap().images = serde_json::from_value(json!([
            {"names": ["docker.io/library/big:1", "big"], "sizeBytes": 100},
        ]))
        .ok();
        let mut c = cluster(vec![n.clone(), node("b", "1", "1Gi", json!({}))], vec![]);
        assert_eq!(c.image_nodes("docker.io/library/big:1"), 1);
        assert_eq!(c.image_nodes("big:latest"), 1);
        assert!(c.node("a").is_some_and(|n| n.ready && !n.unschedulable));
        // heartbeat with the same images: counted once
        c.upsert_node(n.clone());
        assert_eq!(c.image_nodes("big:latest"), 1);
        // not ready, cordoned, image gone
        n.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        n.status.as_mut().unwrap().images = None;
        n.spec.as_mut().unwrap().unschedulable = Some(true);
        c.upsert_node(n);
        assert!(c.node("a").is_some_and(|n| !n.ready && n.unschedulable));
        assert_eq!(c.image_nodes("big:latest"), 0);
        assert!(c.image_nodes.is_empty());
        let mut m = node("b", "1", "1Gi", json!({}));
        m.status.as_mut().unwrap().images = serde_json::from_value(json!([
            {"names": ["big:latest"], "sizeBytes": 100},
        ]))
        .ok();
        c.upsert_node(m);
        assert_eq!(c.image_nodes("big:latest"), 1);
        c.remove_node("b");
        assert_eq!(c.image_nodes("big:latest"), 0);
    }

    fn cpu_on(c: &Cluster, node: &str) -> i64 {
        node_info(c, node).requested.milli_cpu
    }

    #[test]
    fn assumed_pod_counts_until_confirmed() {
        let mut c = cluster(vec![node("a", "4", "8Gi", json!({}))], vec![]);
        let p = pod("p", "1500m", "1Gi", json!({}));
        c.assume_pod(Arc::new(info(p.clone())), "a");
        assert!(c.is_assumed("uid-p"));
        assert_eq!(c.pod_node("uid-p"), Some("a"));
        assert_eq!(cpu_on(&c, "a"), 1500);
        assert_eq!(node_info(&c, "a").pods.len(), 1);

        // the informer sees it bound: a real pod now, counted once
        let mut bound = p;
        bound.spec.as_mut().expect("spec").node_name = Some("a".into());
        c.upsert_pod(Arc::new(info(bound)), "a");
        assert!(!c.is_assumed("uid-p"));
        assert_eq!(cpu_on(&c, "a"), 1500);
        assert_eq!(node_info(&c, "a").pods.len(), 1);
        // a confirmed pod is not forgotten by a late bind failure
        assert!(c.forget_pod("uid-p").is_none());
        assert_eq!(cpu_on(&c, "a"), 1500);
    }

    #[test]
    fn forgetting_an_assumed_pod_frees_its_node() {
        let mut c = cluster(vec![node("a", "4", "8Gi", json!({}))], vec![]);
        let p = labeled(pod("p", "2", "1Gi", json!({})), json!({"app": "x"}));
        c.assume_pod(Arc::new(info(p)), "a");
        assert_eq!(cpu_on(&c, "a"), 2000);
        let sel = selector(json!({"matchLabels": {"app": "x"}}));
        assert_eq!(c.candidate_pods("default", &sel).1.count(), 1);

        let forgotten = c.forget_pod("uid-p").expect("was assumed");
        assert_eq!(forgotten.uid, "uid-p");
        assert!(!c.is_assumed("uid-p"));
        assert_eq!(c.pod_node("uid-p"), None);
        assert_eq!(cpu_on(&c, "a"), 0);
        assert!(node_info(&c, "a").pods.is_empty());
        assert_eq!(c.candidate_pods("default", &sel).1.count(), 0);
        assert!(c.forget_pod("uid-p").is_none());
    }

    #[test]
    fn assumed_pod_confirmed_elsewhere_moves() {
        let mut c = cluster(
            vec![
                node("a", "4", "8Gi", json!({})),
                node("b", "4", "8Gi", json!({})),
            ],
            vec![],
        );
        let p = pod("p", "1", "1Gi", json!({}));
        c.assume_pod(Arc::new(info(p.clone())), "a");
        c.upsert_pod(Arc::new(info(p)), "b");
        assert!(!c.is_assumed("uid-p"));
        assert_eq!((cpu_on(&c, "a"), cpu_on(&c, "b")), (0, 1000));
    }

    #[test]
    fn removing_an_assumed_pod_unassumes_it() {
        let mut c = cluster(vec![node("a", "4", "8Gi", json!({}))], vec![]);
        c.assume_pod(Arc::new(info(pod("p", "1", "1Gi", json!({})))), "a");
        assert!(c.remove_pod("uid-p").is_some());
        assert!(!c.is_assumed("uid-p"));
        assert_eq!(cpu_on(&c, "a"), 0);
    }

    #[test]
    fn relist_drops_pods_it_does_not_list_assumed_or_not() {
        let mut c = cluster(
            vec![node("a", "4", "8Gi", json!({}))],
            vec![(pod("kept", "1", "1Gi", json!({})), "a")],
        );
        c.upsert_pod(Arc::new(info(pod("gone", "1", "1Gi", json!({})))), "a");
        c.assume_pod(Arc::new(info(pod("pending", "1", "1Gi", json!({})))), "a");
        c.assume_pod(Arc::new(info(pod("deleted", "1", "1Gi", json!({})))), "a");
        c.retain_pods(|uid| uid == "uid-kept" || uid == "uid-pending");
        assert!(c.is_assumed("uid-pending"));
        assert!(!c.is_assumed("uid-deleted"));
        assert_eq!(c.pod_node("uid-deleted"), None);
        assert_eq!(c.pod_node("uid-gone"), None);
        assert_eq!(cpu_on(&c, "a"), 2000);
    }
}
