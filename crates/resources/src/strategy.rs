//! Per-kind behaviour behind the generic resource path.

use serde_json::Value;

use crate::field::FieldError;

/// The result of checking that an object decodes as its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The object as the kind's type would re-encode it: fields the kind does not have are gone.
    pub object: Value,
    /// Paths of fields the kind does not have (`spec.foo`, `spec.containers[0].bar`), for
    /// `fieldValidation=Strict|Warn`.
    pub unknown_fields: Vec<String>,
}

/// The body could not be handled as the kind (upstream: 400 "cannot be handled as a <Kind>").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// What a kind does differently from the generic path. Every method has the generic default,
/// so a kind overrides only what it needs (like upstream's RESTCreateStrategy and friends).
pub trait Strategy: Send + Sync {
    /// Checks the body decodes as the kind; drops and reports unknown fields.
    fn decode(&self, obj: Value) -> Result<Decoded, DecodeError> {
        Ok(Decoded {
            object: obj,
            unknown_fields: Vec::new(),
        })
    }

    /// Fills defaults (upstream's SetDefaults_*), on create and on every update.
    fn apply_defaults(&self, _obj: &mut Value) {}

    /// Clears what a client may not set on create (e.g. `status` where it is a subresource).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Carries over what a client may not change on update.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Validates a new object.
    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Validates an update (immutable fields and the like); by default the new object alone.
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate(new)
    }

    /// Validates a write to the `status` subresource, beyond the metadata rules every update
    /// is checked against (the API server applies those).
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Warnings for the `Warning` response header (deprecated annotations and the like).
    fn warnings(&self, _obj: &Value) -> Vec<String> {
        Vec::new()
    }

    /// The `metadata` fields a write to the `status` subresource may change; everything else
    /// but the status (and managedFields) stays as stored. Upstream's status strategies differ
    /// by kind: most reset only the spec, so labels, annotations, finalizers and
    /// ownerReferences pass (the default here); Deployments also reset labels, Pods
    /// ownerReferences; FlowSchemas, PriorityLevelConfigurations, VolumeAttachments and custom
    /// resources reset all metadata.
    fn status_writable_metadata(&self) -> &'static [&'static str] {
        STATUS_WRITABLE_METADATA
    }

    /// Whether `metadata.generation` is kept and bumped on spec changes.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// `additionalPrinterColumns` for kinds that print by them (custom resources); `None`
    /// means the built-in printer for the kind.
    fn printer_columns(&self) -> Option<Value> {
        None
    }

    /// Converts a stored object to another served version of the same resource (e.g.
    /// autoscaling/v2 HorizontalPodAutoscaler to autoscaling/v1). The default only rewrites
    /// `apiVersion`.
    fn convert(&self, mut obj: Value, api_version: &str) -> Value {
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(api_version.to_string()));
        }
        obj
    }
}

/// What most kinds' status writes may change in `metadata` (see
/// [`Strategy::status_writable_metadata`]).
pub const STATUS_WRITABLE_METADATA: &[&str] =
    &["labels", "annotations", "finalizers", "ownerReferences"];

/// A strategy with only the generic behaviour, optionally tracking generation.
#[derive(Clone, Debug, Default)]
pub struct GenericStrategy {
    pub generation: bool,
}

impl Strategy for GenericStrategy {
    fn tracks_generation(&self) -> bool {
        self.generation
    }
}
