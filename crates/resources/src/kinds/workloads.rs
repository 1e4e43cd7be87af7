//! Pod, PodTemplate, ReplicationController, apps/* and batch/* strategies.

use std::sync::Arc;

use crate::info::ResourceInfo;
use crate::strategy::{GenericStrategy, Strategy};

/// The strategy for a workload kind, or `None` for the generic one.
pub fn strategy_for(info: &ResourceInfo) -> Option<Arc<dyn Strategy>> {
    let generation =
        info.kind != "Pod" && info.kind != "PodTemplate" && info.kind != "ControllerRevision";
    Some(Arc::new(GenericStrategy { generation }))
}
