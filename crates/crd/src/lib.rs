//! CustomResourceDefinitions.
//!
//! - [`crd`]: the CRD kind itself — upstream's defaulting ([`crd_defaults`]), validation
//!   ([`validate_crd`], [`validate_crd_update`]), the status the naming/establishing
//!   controllers would write ([`crd_status`]) and [`CrdStrategy`].
//! - [`served`]: the resources a CRD serves ([`served_resources`]) and its printer columns.
//! - [`custom`]: [`CustomResourceStrategy`], which prunes, defaults and validates custom
//!   objects against their version's structural schema.
//! - [`schema`], [`structural`], [`validate`], [`formats`]: the OpenAPI v3 schema model, the
//!   structural-schema rules, the kube-openapi style value validator and string formats.
//!
//! CRDs and custom objects are user input: nothing here panics on them, and every recursion
//! is bounded ([`schema::MAX_DEPTH`]).

pub mod crd;
pub mod custom;
pub mod formats;
pub mod names;
pub mod schema;
pub mod served;
pub mod structural;
pub mod validate;

pub use crd::{
    crd_defaults, crd_status, validate_crd, validate_crd_status_update, validate_crd_update,
    CrdStrategy,
};
pub use custom::{CustomResourceStrategy, ScalePaths};
pub use served::{additional_printer_columns, json_path_to_pointer, served_resources};
