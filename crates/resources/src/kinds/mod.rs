//! Per-kind strategies: defaulting and validation as upstream's.

use std::sync::Arc;

use crate::info::ResourceInfo;
use crate::strategy::{GenericStrategy, Strategy};

/// The strategy for a built-in resource.
pub fn strategy_for(info: &ResourceInfo) -> Arc<dyn Strategy> {
    let generation = matches!(
        info.kind.as_str(),
        "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "NetworkPolicy"
            | "Ingress"
            | "CustomResourceDefinition"
            | "ReplicationController"
    );
    Arc::new(GenericStrategy { generation })
}
