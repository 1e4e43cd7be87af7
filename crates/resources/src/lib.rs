//! The kind registry.
//!
//! Every resource the API server serves is described by a [`ResourceInfo`] (names, scope,
//! verbs, subresources) and handled by a [`Strategy`] (decoding check, defaulting,
//! validation, spec/status split, warnings). The API server runs one generic path for every
//! kind and asks the registry for the per-kind parts, as upstream's generic registry does.
//!
//! Objects travel as `serde_json::Value`: the generic path never needs the concrete type, while
//! strategies use the `k8s-openapi` structs where typed access helps.

pub mod builtin;
pub mod duration;
pub mod field;
pub mod info;
pub mod kinds;
pub mod registry;
pub mod strategy;

pub use field::{ErrorType, FieldError, FieldPath};
pub use info::{ResourceInfo, ScaleInfo, SubresourceInfo};
pub use registry::Registry;
pub use strategy::{DecodeError, GenericStrategy, Strategy};
