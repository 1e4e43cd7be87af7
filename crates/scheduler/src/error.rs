//! Errors of the scheduler runtime.

/// Why the scheduler stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the {0} watch stopped")]
    WatchEnded(&'static str),
}
