//! Per-kind strategies: decoding, defaulting and validation as upstream's.
//!
//! - `meta`, `decode`: shared by every kind (ObjectMeta and name rules; typed decode check).
//! - `pod`: PodSpec and PodTemplateSpec rules, shared by Pod and the workload kinds.
//! - `workloads`: Pod, PodTemplate, ReplicationController, apps/*, batch/*.
//! - `others`: every other built-in kind.

use std::sync::Arc;

use crate::info::ResourceInfo;
use crate::strategy::{GenericStrategy, Strategy};

pub mod decode;
pub mod meta;
pub mod others;
pub mod pod;
pub mod workloads;

/// The strategy for a built-in resource.
pub fn strategy_for(info: &ResourceInfo) -> Arc<dyn Strategy> {
    let workload = matches!(
        (info.group.as_str(), info.kind.as_str()),
        ("", "Pod")
            | ("", "PodTemplate")
            | ("", "ReplicationController")
            | ("apps", _)
            | ("batch", _)
    );
    let specific = if workload {
        workloads::strategy_for(info)
    } else {
        others::strategy_for(info)
    };
    specific.unwrap_or_else(|| Arc::new(GenericStrategy::default()))
}
