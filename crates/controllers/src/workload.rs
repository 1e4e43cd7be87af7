//! Runtime pieces shared by the workload controllers (ReplicaSet, Deployment).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as LabelSelectorObject;
use minato_selectors::LabelSelector;

/// Why a workload sync failed; the controller requeues it.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A request to the API server failed.
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// Creating or deleting replicas failed (the API's message).
    #[error("{0}")]
    Replicas(String),
    /// The sync must run again (e.g. a hash collision was recorded).
    #[error("{0}")]
    Retry(String),
}

/// The label selector of a workload's `spec.selector` (upstream's `LabelSelectorAsSelector`).
pub fn selector_of(sel: &LabelSelectorObject) -> Result<LabelSelector, String> {
    let v = serde_json::to_value(sel).map_err(|e| e.to_string())?;
    LabelSelector::from_label_selector_object(&v).map_err(|e| e.to_string())
}

/// The message of an API error as upstream prints it (`err.Error()` of a StatusError).
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// A create refused because the namespace is terminating (nothing to report).
pub fn namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.message.contains("because it is being terminated"))
}

/// The status code of an API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
