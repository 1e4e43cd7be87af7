//! Label and field selectors as the API server parses, validates, matches and prints them
//! (apimachinery `pkg/labels`, `pkg/fields` and `metav1.LabelSelectorAsSelector`).

mod error;
pub mod fields;
pub mod labels;
pub mod validation;

pub use error::SelectorError;
pub use fields::{FieldOperator, FieldRequirement, FieldSelector};
pub use labels::{format_label_selector, parse, LabelSelector, Labels, Operator, Requirement};
