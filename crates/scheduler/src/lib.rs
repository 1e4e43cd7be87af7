//! minato's scheduler: an API client (kube-rs reflectors/watches and `pods/binding`) that
//! places pending pods on nodes the way kube-scheduler does.
//!
//! The core is pure: [`cache::Cluster`] and [`cache::PodInfo`] in, a [`core::Placement`] or a
//! [`core::FitError`] (with upstream's FailedScheduling wording) out; filters and scores are
//! plugins ([`framework::FilterPlugin`], [`framework::ScorePlugin`]); preemption is
//! [`preemption::preempt`]. [`run`] wires them to the API server.

pub mod cache;
pub mod core;
mod error;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod resources;
mod runner;
#[cfg(test)]
mod scale_harness;
#[cfg(test)]
mod testutil;

pub use error::Error;
pub use runner::{run, SchedulerConfig};
