//! The plugin interfaces (filter and score, as upstream's framework) and their statuses.

use std::any::Any;

use crate::cache::{Cluster, NodeInfo, PodInfo};

/// Highest score a plugin gives a node after normalizing.
pub const MAX_NODE_SCORE: i64 = 100;

/// Outcome class of a filter, as upstream's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    /// The node may fit after preempting pods.
    Unschedulable,
    /// Preemption cannot help on this node.
    UnschedulableAndUnresolvable,
}

/// A filter's verdict for one node, with the reasons shown in FailedScheduling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Status {
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
        }
    }

    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
        }
    }

    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
}

/// Per-cycle state a plugin computes once per pod (PreFilter / PreScore).
pub type State = Option<Box<dyn Any + Send + Sync>>;

/// Downcasts a plugin's state.
pub fn state<T: 'static>(s: &State) -> Option<&T> {
    s.as_ref().and_then(|b| b.downcast_ref::<T>())
}

/// A filter: may the pod run on this node?
pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Computes cluster-wide state once per pod; an error status fails every node.
    fn pre_filter(&self, _pod: &PodInfo, _cluster: &Cluster) -> Result<State, Status> {
        Ok(None)
    }

    fn filter(&self, state: &State, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// A score: how good is this (feasible) node for the pod?
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Weight in the final sum (upstream's default plugin weights).
    fn weight(&self) -> i64;

    /// Computes state once per pod over the feasible nodes.
    fn pre_score(&self, _pod: &PodInfo, _cluster: &Cluster, _feasible: &[&NodeInfo]) -> State {
        None
    }

    fn score(&self, state: &State, pod: &PodInfo, node: &NodeInfo) -> i64;

    /// PreScore, then Score for every feasible node: what the algorithm calls. A plugin may
    /// override it to share work between the two; the results must be the same.
    fn score_all(
        &self,
        pod: &PodInfo,
        cluster: &Cluster,
        feasible: &[&NodeInfo],
    ) -> (State, Vec<i64>) {
        let st = self.pre_score(pod, cluster, feasible);
        let scores = feasible.iter().map(|n| self.score(&st, pod, n)).collect();
        (st, scores)
    }

    /// Maps raw scores to 0..=MAX_NODE_SCORE (default: already in range).
    fn normalize(&self, _state: &State, _scores: &mut [i64]) {}
}

/// Upstream's DefaultNormalizeScore: scale so the best is MAX_NODE_SCORE; `reverse` flips.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

/// The ordered filter and score plugins.
pub struct Framework {
    pub filters: Vec<Box<dyn FilterPlugin>>,
    pub scores: Vec<Box<dyn ScorePlugin>>,
}

impl Framework {
    /// The default profile, in upstream's order.
    pub fn default_profile() -> Framework {
        use crate::plugins::*;
        Framework {
            filters: vec![
                Box::new(node_ready::NodeReady),
                Box::new(node_unschedulable::NodeUnschedulable),
                Box::new(node_name::NodeName),
                Box::new(taint_toleration::TaintToleration),
                Box::new(node_affinity::NodeAffinity),
                Box::new(node_ports::NodePorts),
                Box::new(node_resources::Fit),
                Box::new(pod_topology_spread::PodTopologySpread),
                Box::new(inter_pod_affinity::InterPodAffinity),
            ],
            scores: vec![
                Box::new(taint_toleration::TaintToleration),
                Box::new(node_affinity::NodeAffinity),
                Box::new(node_resources::Fit),
                Box::new(node_resources::BalancedAllocation),
                Box::new(inter_pod_affinity::InterPodAffinity),
                Box::new(pod_topology_spread::PodTopologySpread),
                Box::new(image_locality::ImageLocality),
            ],
        }
    }

    /// Runs every PreFilter; the first failure fails the pod on all nodes.
    pub fn pre_filter(&self, pod: &PodInfo, cluster: &Cluster) -> Result<Vec<State>, Status> {
        self.filters
            .iter()
            .map(|f| f.pre_filter(pod, cluster))
            .collect()
    }

    /// Runs the filters in order and stops at the first failure, as upstream.
    pub fn filter(&self, states: &[State], pod: &PodInfo, node: &NodeInfo) -> Status {
        for (f, s) in self.filters.iter().zip(states) {
            let st = f.filter(s, pod, node);
            if !st.is_success() {
                return st;
            }
        }
        Status::success()
    }
}
