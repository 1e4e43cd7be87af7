//! Strategies of every built-in kind that is not a workload.

use std::sync::Arc;

use crate::info::ResourceInfo;
use crate::strategy::{GenericStrategy, Strategy};

/// The strategy for a kind, or `None` for the generic one.
pub fn strategy_for(info: &ResourceInfo) -> Option<Arc<dyn Strategy>> {
    let generation = matches!(
        info.kind.as_str(),
        "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "NetworkPolicy"
            | "Ingress"
            | "CustomResourceDefinition"
    );
    Some(Arc::new(GenericStrategy { generation }))
}
